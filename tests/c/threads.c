/* Three workers take turns: each waits for its turn under a mutex and a condition
 * variable, adds to a shared counter, and hands the turn on, so the order in which they
 * reach the counter is the same under any scheduler. main joins them all. */
#include <pthread.h>
#include <stdio.h>

#define WORKERS 3

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_changed = PTHREAD_COND_INITIALIZER;
static int turn = 0; /* whose turn it is: 1..WORKERS, 0 = nobody's yet */
static long counter;

static void add(long id)
{
    counter += id * 100; /* a breakpoint here is hit by worker 1, 2, 3 in order */
}

static void *worker(void *arg)
{
    long id = (long)arg;
    pthread_mutex_lock(&lock);
    while (turn != id)
        pthread_cond_wait(&turn_changed, &lock);
    add(id);
    turn = id + 1;
    pthread_cond_broadcast(&turn_changed);
    pthread_mutex_unlock(&lock);
    return (void *)(id * 10);
}

int main(void)
{
    pthread_t t[WORKERS];
    for (long i = 0; i < WORKERS; i++)
        pthread_create(&t[i], NULL, worker, (void *)(i + 1));
    pthread_mutex_lock(&lock);
    turn = 1;
    pthread_cond_broadcast(&turn_changed);
    pthread_mutex_unlock(&lock);
    long sum = 0;
    for (int i = 0; i < WORKERS; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        sum += (long)ret;
    }
    printf("counter %ld, joined %ld\n", counter, sum);
    return (int)(counter % 7);
}
