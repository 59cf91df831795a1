/*
 * Timers of one thread: a binary min-heap of deadlines (monotonic ns),
 * each timer embedded in its owner with the function that fires it. One
 * timer per owner, re-armed in place; no allocation but the heap's array.
 * Used by the workers (a connection's state timer); not thread-safe: a
 * heap belongs to the thread that runs it.
 */
#ifndef VMESH_PROXY_TIMER_H
#define VMESH_PROXY_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct px_timer px_timer;
typedef void px_timer_fn(px_timer *t);
struct px_timer {
    uint64_t deadline;
    ssize_t idx; /* place in the heap; -1: not armed */
    px_timer_fn *fn;
};

typedef struct {
    px_timer **heap;
    size_t n, cap;
} px_timers;

/* A timer that is not armed; fn fires it. */
void px_timer_init(px_timer *t, px_timer_fn *fn);
/* Arms or re-arms t; false when memory for the heap is short (t is then
 * not armed). */
bool px_timer_set(px_timers *q, px_timer *t, uint64_t deadline);
void px_timer_del(px_timers *q, px_timer *t);
/* Milliseconds to wait for the first deadline (one more than the whole
 * milliseconds left, so a wait never ends short of it), 0 when one passed,
 * -1 when no timer is armed: the epoll_wait timeout. */
int px_timers_wait_ms(const px_timers *q, uint64_t now);
/* Fires every timer whose deadline is <= now, earliest first; a timer is
 * disarmed before its function runs (which may re-arm it). */
void px_timers_run(px_timers *q, uint64_t now);
void px_timers_free(px_timers *q);

#endif
