/* A NULL dereference: a data abort from EL0, SIGSEGV. */
#include <stdio.h>

struct node {
    int value;
    struct node *next;
};

int length(struct node *n) {
    int count = 0;
    while (n->next != 0 || count == 0) { /* the second step reads through NULL */
        n = n->next;
        count++;
    }
    return count;
}

int main(void) {
    struct node only = {1, 0};
    printf("about to walk the list\n");
    fflush(stdout);
    return length(&only);
}
