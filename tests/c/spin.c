/* A tight loop that polls a volatile flag: a load in every iteration. Run under the gdb
 * stub in short slices, it must not be stopped inside a load and resumed wrongly. */
#include <stdio.h>

volatile int flag;

int main(void)
{
    long n = 0;
    for (long i = 0; i < 3000000; i++) {
        if (flag)
            break;
        n++;
    }
    printf("n %ld\n", n);
    return 0;
}
