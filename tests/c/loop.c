/* printf in a loop: stdout through glibc's stdio (buffered, flushed at exit). */
#include <stdio.h>

int total;

void report(int i) {
    total += i;
    printf("step %d, total %d\n", i, total);
}

int main(void) {
    for (int i = 1; i <= 5; i++)
        report(i);
    return total % 7;
}
