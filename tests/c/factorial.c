/* Recursion: a backtrace five frames deep at the bottom. */
#include <stdio.h>

long factorial(int n) {
    if (n <= 1)
        return 1;
    return n * factorial(n - 1);
}

int main(void) {
    long f = factorial(5);
    printf("5! = %ld\n", f);
    return f == 120 ? 0 : 1;
}
