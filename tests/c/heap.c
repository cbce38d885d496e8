/* malloc/free: small blocks from brk, a large one from mmap, realloc that moves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char *small = malloc(32);
    strcpy(small, "on the heap");
    size_t n = 1 << 20; /* above the mmap threshold */
    int *big = malloc(n * sizeof(int));
    for (size_t i = 0; i < n; i++)
        big[i] = (int)i;
    long sum = 0;
    for (size_t i = 0; i < n; i += 4096)
        sum += big[i];
    big = realloc(big, 2 * n * sizeof(int));
    big[2 * n - 1] = 7;
    printf("%s, sum %ld, last %d\n", small, sum, big[2 * n - 1]);
    free(big);
    free(small);
    return 0;
}
