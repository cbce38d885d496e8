/* Three workers take turns: main gives the turn to worker 1, 2, 3 in order and joins each
 * before giving the next one its turn, so whichever scheduler runs them, worker N reaches
 * add() N-th and the workers before it have ended by then. */
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
    pthread_mutex_unlock(&lock);
    return (void *)(id * 10);
}

int main(void)
{
    pthread_t t[WORKERS];
    for (long i = 0; i < WORKERS; i++)
        pthread_create(&t[i], NULL, worker, (void *)(i + 1));
    long sum = 0;
    for (int i = 0; i < WORKERS; i++) {
        void *ret;
        pthread_mutex_lock(&lock);
        turn = i + 1;
        pthread_cond_broadcast(&turn_changed);
        pthread_mutex_unlock(&lock);
        pthread_join(t[i], &ret);
        sum += (long)ret;
    }
    printf("counter %ld, joined %ld\n", counter, sum);
    return (int)(counter % 7);
}
