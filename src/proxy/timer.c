/*
 * The timer heap (timer.h). Re-arming an armed timer sifts it in place, so
 * a connection's one timer moves between its states without a free and an
 * insert. It must never fire a timer before its deadline, never lose one,
 * and never touch a timer after it was deleted.
 */
#include "timer.h"

#include <stdlib.h>

static void swap(px_timers *q, size_t a, size_t b)
{
    px_timer *t = q->heap[a];

    q->heap[a] = q->heap[b];
    q->heap[b] = t;
    q->heap[a]->idx = (ssize_t)a;
    q->heap[b]->idx = (ssize_t)b;
}

static void sift_up(px_timers *q, size_t i)
{
    while (i > 0 && q->heap[(i - 1) / 2]->deadline > q->heap[i]->deadline) {
        swap(q, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void sift_down(px_timers *q, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < q->n && q->heap[l]->deadline < q->heap[m]->deadline)
            m = l;
        if (r < q->n && q->heap[r]->deadline < q->heap[m]->deadline)
            m = r;
        if (m == i)
            return;
        swap(q, i, m);
        i = m;
    }
}

void px_timer_init(px_timer *t, px_timer_fn *fn)
{
    t->deadline = 0;
    t->idx = -1;
    t->fn = fn;
}

void px_timer_del(px_timers *q, px_timer *t)
{
    size_t i;

    if (t->idx < 0)
        return;
    i = (size_t)t->idx;
    t->idx = -1;
    q->n--;
    if (i == q->n)
        return;
    q->heap[i] = q->heap[q->n];
    q->heap[i]->idx = (ssize_t)i;
    sift_up(q, i);
    sift_down(q, (size_t)q->heap[i]->idx);
}

bool px_timer_set(px_timers *q, px_timer *t, uint64_t deadline)
{
    t->deadline = deadline;
    if (t->idx >= 0) {
        sift_up(q, (size_t)t->idx);
        sift_down(q, (size_t)t->idx);
        return true;
    }
    if (q->n == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 1024;
        px_timer **nh = realloc(q->heap, ncap * sizeof(*nh));
        if (nh == NULL)
            return false;
        q->heap = nh;
        q->cap = ncap;
    }
    q->heap[q->n] = t;
    t->idx = (ssize_t)q->n;
    q->n++;
    sift_up(q, (size_t)t->idx);
    return true;
}

int px_timers_wait_ms(const px_timers *q, uint64_t now)
{
    if (q->n == 0)
        return -1;
    return q->heap[0]->deadline <= now ? 0 : (int)((q->heap[0]->deadline - now) / 1000000u + 1);
}

void px_timers_run(px_timers *q, uint64_t now)
{
    while (q->n > 0 && q->heap[0]->deadline <= now) {
        px_timer *t = q->heap[0];
        px_timer_del(q, t);
        t->fn(t);
    }
}

void px_timers_free(px_timers *q)
{
    free(q->heap);
    q->heap = NULL;
    q->n = q->cap = 0;
}
