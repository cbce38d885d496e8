/* Threads that only a time slice can interleave: three workers add to a counter under a
 * mutex long enough to be preempted while holding it (the others then wait on its futex),
 * each sums doubles of its own (its FP/SIMD registers must survive every switch), and main
 * spins, making no system call, until the last worker says it is done. */
#include <pthread.h>
#include <stdio.h>

#define WORKERS 3
#define ROUNDS 40000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static volatile int finished;
static double sums[WORKERS];

static void *worker(void *arg)
{
    long id = (long)arg;
    double sum = 0.0;
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&lock);
        counter += id;
        pthread_mutex_unlock(&lock);
        sum += 0.5 * (double)id;
    }
    sums[id - 1] = sum;
    pthread_mutex_lock(&lock);
    finished++;
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(void)
{
    pthread_t t[WORKERS];
    for (long i = 0; i < WORKERS; i++)
        pthread_create(&t[i], NULL, worker, (void *)(i + 1));
    while (finished < WORKERS)
        ; /* no system call: only preemption lets the workers run */
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    printf("counter %ld, sums %.1f %.1f %.1f\n", counter, sums[0], sums[1], sums[2]);
    return 0;
}
