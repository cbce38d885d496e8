/* Reads numbers from stdin until end of file and prints their sum. */
#include <stdio.h>

int main(void) {
    int value, sum = 0, count = 0;
    while (scanf("%d", &value) == 1) {
        sum += value;
        count++;
    }
    printf("read %d numbers, sum %d\n", count, sum);
    return count;
}
