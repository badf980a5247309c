/*
 * The bounded queue: a ring of `cap` items under one mutex with two
 * condition variables.
 */
#include "stor_queue.h"

#include <stdlib.h>
#include <string.h>

int stor_queue_init(struct stor_queue *q, size_t item_size, size_t cap)
{
    memset(q, 0, sizeof(*q));
    q->items = malloc(item_size * cap);
    if (!q->items)
        return -1;
    q->item_size = item_size;
    q->cap = cap;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    return 0;
}

void stor_queue_destroy(struct stor_queue *q)
{
    if (!q->items)
        return;
    free(q->items);
    q->items = NULL;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
}

int stor_queue_push(struct stor_queue *q, const void *item)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == q->cap && !q->cancelled)
        pthread_cond_wait(&q->not_full, &q->mu);
    if (q->cancelled) {
        pthread_mutex_unlock(&q->mu);
        return -1;
    }
    memcpy(q->items + ((q->head + q->count) % q->cap) * q->item_size, item, q->item_size);
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    if (q->on_push)
        q->on_push(q->on_push_ctx);
    return 0;
}

static void take(struct stor_queue *q, void *item)
{
    memcpy(item, q->items + q->head * q->item_size, q->item_size);
    q->head = (q->head + 1) % q->cap;
    q->count--;
    pthread_cond_signal(&q->not_full);
}

int stor_queue_pop(struct stor_queue *q, void *item)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->closed)
        pthread_cond_wait(&q->not_empty, &q->mu);
    int got = q->count > 0;
    if (got)
        take(q, item);
    pthread_mutex_unlock(&q->mu);
    return got;
}

int stor_queue_trypop(struct stor_queue *q, void *item)
{
    pthread_mutex_lock(&q->mu);
    int r = 0;
    if (q->count > 0) {
        take(q, item);
        r = 1;
    } else if (q->closed) {
        r = -1;
    }
    pthread_mutex_unlock(&q->mu);
    return r;
}

void stor_queue_close(struct stor_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    if (q->on_push)
        q->on_push(q->on_push_ctx);
}

void stor_queue_cancel(struct stor_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->cancelled = 1;
    q->closed = 1;
    pthread_cond_broadcast(&q->not_full);
    pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}
