/* mprotect: a page made read-only, then a store to it (SIGSEGV, a permission fault). */
#include <stdio.h>
#include <sys/mman.h>

int main(void) {
    char *page = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    page[0] = 'a';
    if (mprotect(page, 4096, PROT_READ) != 0)
        return 2;
    printf("read back %c, now storing\n", page[0]);
    fflush(stdout);
    page[1] = 'b';
    return 3;
}
