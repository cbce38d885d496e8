/* abort(): glibc blocks signals, tgkill(SIGABRT) to itself; the default action kills. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    printf("aborting\n");
    fflush(stdout);
    abort();
}
