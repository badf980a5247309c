/*
 * A bounded, blocking queue of fixed-size items between threads (listing
 * threads -> planner -> transfer engine). Bounded so that a fast producer
 * waits instead of growing memory; closable so that consumers see the end.
 */
#ifndef QSO_STOR_QUEUE_H
#define QSO_STOR_QUEUE_H

#include <pthread.h>
#include <stddef.h>

struct stor_queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    unsigned char *items;
    size_t item_size, cap, head, count;
    int closed;                 /* no more pushes: pops drain then return 0 */
    int cancelled;              /* the consumer gave up: pushes fail at once */
    void (*on_push)(void *ctx); /* e.g. wake a curl multi poll */
    void *on_push_ctx;
};

int stor_queue_init(struct stor_queue *q, size_t item_size, size_t cap);
void stor_queue_destroy(struct stor_queue *q);
/* Blocks while full; 0, or -1 when the queue was cancelled. */
int stor_queue_push(struct stor_queue *q, const void *item);
/* Blocks while empty and open; 1 got an item, 0 closed and drained. */
int stor_queue_pop(struct stor_queue *q, void *item);
/* Never blocks: 1 got an item, 0 empty (still open), -1 closed and drained. */
int stor_queue_trypop(struct stor_queue *q, void *item);
void stor_queue_close(struct stor_queue *q);
void stor_queue_cancel(struct stor_queue *q);

#endif
