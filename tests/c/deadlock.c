/* A default mutex locked twice by the same thread waits for ever: a deadlock. Before it,
 * a timed lock gives up with ETIMEDOUT (a futex wait with an absolute deadline). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int main(void)
{
    struct timespec until;
    pthread_mutex_lock(&lock);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 50 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    int rc = pthread_mutex_timedlock(&lock, &until);
    printf("timedlock: %s\n", rc == ETIMEDOUT ? "ETIMEDOUT" : strerror(rc));
    fflush(stdout);
    pthread_mutex_lock(&lock); /* never returns */
    puts("unreachable");
    return 0;
}
