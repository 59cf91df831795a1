/* Unit tests for the workers' timer heap (src/proxy/timer.c): timers fire
 * in deadline order and only when due, re-arming moves a timer, deleting
 * one (armed or not) never fires it, and a random mix of operations agrees
 * with a plain list kept beside the heap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/timer.h"

#define N 500

typedef struct {
    px_timer t;
    int fired;
    size_t order;
} item;

static size_t fire_seq;
static px_timers *rearm_q; /* set by tests whose timers re-arm themselves */

static void on_fire(px_timer *t)
{
    item *it = (item *)(void *)((char *)t - offsetof(item, t));

    it->fired++;
    it->order = fire_seq++;
    if (rearm_q != NULL && it->fired == 1)
        assert_true(px_timer_set(rearm_q, t, t->deadline + 1000));
}

static void order_and_due(void **state)
{
    px_timers q = {0};
    item it[N];

    (void)state;
    fire_seq = 0;
    rearm_q = NULL;
    assert_int_equal(px_timers_wait_ms(&q, 0), -1);
    for (size_t i = 0; i < N; i++) {
        memset(&it[i], 0, sizeof(it[i]));
        px_timer_init(&it[i].t, on_fire);
        /* deadlines 1..N ms, inserted in a scrambled order */
        assert_true(px_timer_set(&q, &it[i].t, ((i * 7919) % N + 1) * 1000000u));
    }
    assert_int_equal(px_timers_wait_ms(&q, 0), 2); /* 1 ms away: waits past it, never short of it */
    assert_int_equal(px_timers_wait_ms(&q, 500000u), 1);
    assert_int_equal(px_timers_wait_ms(&q, 1500000u), 0);
    px_timers_run(&q, 250 * 1000000u);
    for (size_t i = 0; i < N; i++) {
        uint64_t d = it[i].t.deadline;
        assert_int_equal(it[i].fired, d <= 250 * 1000000u ? 1 : 0);
        if (it[i].fired)
            assert_int_equal(it[i].order, d / 1000000u - 1); /* earliest first */
    }
    assert_int_equal(q.n, N - 250);
    px_timers_run(&q, UINT64_MAX);
    assert_int_equal(q.n, 0);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(it[i].fired, 1);
    px_timers_free(&q);
}

static void rearm_and_delete(void **state)
{
    px_timers q = {0};
    item a, b, c;

    (void)state;
    fire_seq = 0;
    rearm_q = NULL;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
    px_timer_init(&a.t, on_fire);
    px_timer_init(&b.t, on_fire);
    px_timer_init(&c.t, on_fire);
    px_timer_del(&q, &a.t); /* not armed: nothing happens */
    assert_true(px_timer_set(&q, &a.t, 10));
    assert_true(px_timer_set(&q, &b.t, 20));
    assert_true(px_timer_set(&q, &c.t, 30));
    assert_true(px_timer_set(&q, &a.t, 40)); /* re-armed later, still one entry */
    assert_int_equal(q.n, 3);
    px_timer_del(&q, &b.t);
    px_timer_del(&q, &b.t);
    assert_int_equal(q.n, 2);
    px_timers_run(&q, 35);
    assert_int_equal(a.fired, 0);
    assert_int_equal(b.fired, 0);
    assert_int_equal(c.fired, 1);
    /* a timer that re-arms itself from its function fires again later, not in the same run */
    rearm_q = &q;
    px_timers_run(&q, 40);
    assert_int_equal(a.fired, 1);
    assert_int_equal(q.n, 1);
    px_timers_run(&q, 1040);
    assert_int_equal(a.fired, 2);
    assert_int_equal(q.n, 0);
    rearm_q = NULL;
    px_timers_free(&q);
}

static void random_against_model(void **state)
{
    px_timers q = {0};
    static item it[N];
    uint64_t now = 0;
    unsigned seed = 12345;

    (void)state;
    fire_seq = 0;
    rearm_q = NULL;
    for (size_t i = 0; i < N; i++) {
        memset(&it[i], 0, sizeof(it[i]));
        px_timer_init(&it[i].t, on_fire);
    }
    for (int step = 0; step < 20000; step++) {
        item *x = &it[rand_r(&seed) % N];
        int op = rand_r(&seed) % 10;
        if (op < 6) {
            assert_true(px_timer_set(&q, &x->t, now + (uint64_t)(rand_r(&seed) % 1000)));
        } else if (op < 8) {
            px_timer_del(&q, &x->t);
        } else {
            int before[N];
            uint64_t last = 0;
            now += (uint64_t)(rand_r(&seed) % 200);
            for (size_t i = 0; i < N; i++)
                before[i] = it[i].fired;
            fire_seq = 0;
            px_timers_run(&q, now);
            for (size_t i = 0; i < N; i++) {
                bool due = before[i] != it[i].fired;
                /* every due timer fired, nothing else did, and none is still armed when due */
                if (it[i].t.idx >= 0)
                    assert_true(it[i].t.deadline > now);
                if (due)
                    assert_true(it[i].t.deadline <= now);
            }
            /* firing order follows the deadlines */
            for (size_t k = 0; k < fire_seq; k++)
                for (size_t i = 0; i < N; i++)
                    if (before[i] != it[i].fired && it[i].order == k) {
                        assert_true(it[i].t.deadline >= last);
                        last = it[i].t.deadline;
                    }
        }
        /* the heap property and the back-pointers hold after every step */
        for (size_t i = 0; i < q.n; i++) {
            assert_int_equal(q.heap[i]->idx, (ssize_t)i);
            if (i > 0)
                assert_true(q.heap[(i - 1) / 2]->deadline <= q.heap[i]->deadline);
        }
    }
    px_timers_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(order_and_due),
        cmocka_unit_test(rearm_and_delete),
        cmocka_unit_test(random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
