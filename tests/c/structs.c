/* A struct passed by pointer, and a global array summed in a loop. */
#include <stdio.h>

struct point {
    int x, y;
    const char *name;
};

int squares[8];

int area(const struct point *p) {
    int a = p->x * p->y;
    return a;
}

int main(void) {
    struct point corner = {3, 4, "corner"};
    int sum = 0;
    for (int i = 0; i < 8; i++)
        squares[i] = i * i;
    for (int i = 0; i < 8; i++)
        sum += squares[i];
    printf("%s: area %d, sum of squares %d\n", corner.name, area(&corner), sum);
    return 0;
}
