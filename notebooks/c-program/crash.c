/* Lesson 6's C program: a list summed one node too far, into a NULL dereference.
 *
 * Built (from the notebooks folder) with Debian's cross compiler:
 *   aarch64-linux-gnu-gcc -static -g -O0 -fdebug-prefix-map=$PWD=. \
 *       -o c-program/crash.elf c-program/crash.c
 * The prefix map keeps the build folder out of the debug information, so the stored ELF
 * is the same wherever it is rebuilt with the same compiler.
 */
#include <stdio.h>

struct node {
    int value;
    struct node *next;
};

static int sum(struct node *list, int count)
{
    int total = 0;
    for (int i = 0; i < count; i++) {
        total += list->value; /* line 20: the line the lesson breaks on */
        list = list->next;
    }
    return total;
}

int main(void)
{
    struct node c = {3, 0}, b = {2, &c}, a = {1, &b};
    printf("sum of 3: %d\n", sum(&a, 3));
    printf("sum of 4: %d\n", sum(&a, 4)); /* one node too far: NULL->value */
    return 0;
}
