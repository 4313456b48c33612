/* The SPSC ring: full and empty edges, wrap-around of the slot index and of
 * the free-running counters, and two threads passing 1,000,000 items in
 * order with none lost or duplicated (run under ThreadSanitizer too). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "dataplane/ring.h"

#define ITEM(n) ((void *)(uintptr_t)(n))
#define THREAD_ITEMS 1000000u
/* Bound on spins without progress before the test calls it a hang: far more
 * than any scheduler delay, yet finite. */
#define SPINS_WITHOUT_PROGRESS_MAX 200000000u

static void test_init_rejects_bad_capacity(void **state)
{
    (void)state;
    struct spsc_ring ring;
    assert_false(spsc_ring_init(&ring, 0));
    spsc_ring_destroy(&ring);
    assert_false(spsc_ring_init(&ring, 1));
    spsc_ring_destroy(&ring);
    assert_false(spsc_ring_init(&ring, 6));
    spsc_ring_destroy(&ring);
    assert_false(spsc_ring_init(&ring, SPSC_RING_CAPACITY_MAX * 2));
    spsc_ring_destroy(&ring);
    assert_true(spsc_ring_init(&ring, 2));
    assert_int_equal(spsc_ring_capacity(&ring), 2);
    spsc_ring_destroy(&ring);
}

static void test_empty_and_full(void **state)
{
    (void)state;
    struct spsc_ring ring;
    assert_true(spsc_ring_init(&ring, 4));
    assert_null(spsc_ring_pop(&ring));
    assert_null(spsc_ring_peek(&ring));
    assert_true(spsc_ring_empty(&ring));
    for (uintptr_t n = 1; n <= 4; n++) {
        assert_true(spsc_ring_push(&ring, ITEM(n)));
        assert_int_equal(spsc_ring_count(&ring), n);
    }
    assert_false(spsc_ring_push(&ring, ITEM(5))); /* full */
    assert_int_equal(spsc_ring_count(&ring), 4);
    assert_ptr_equal(spsc_ring_peek(&ring), ITEM(1));
    assert_ptr_equal(spsc_ring_peek(&ring), ITEM(1)); /* peek does not consume */
    assert_ptr_equal(spsc_ring_pop(&ring), ITEM(1));
    assert_true(spsc_ring_push(&ring, ITEM(5))); /* room again */
    assert_false(spsc_ring_push(&ring, ITEM(6)));
    for (uintptr_t n = 2; n <= 5; n++) {
        assert_ptr_equal(spsc_ring_pop(&ring), ITEM(n));
    }
    assert_null(spsc_ring_pop(&ring));
    assert_null(spsc_ring_peek(&ring));
    assert_int_equal(spsc_ring_count(&ring), 0);
    spsc_ring_destroy(&ring);
}

/* Many laps around a small ring, single-threaded: the slot index wraps. */
static void test_wraps_around(void **state)
{
    (void)state;
    struct spsc_ring ring;
    assert_true(spsc_ring_init(&ring, 8));
    uintptr_t next_in = 1, next_out = 1;
    for (int lap = 0; lap < 1000; lap++) {
        int burst = 1 + lap % 8;
        for (int i = 0; i < burst; i++) {
            assert_true(spsc_ring_push(&ring, ITEM(next_in++)));
        }
        for (int i = 0; i < burst; i++) {
            assert_ptr_equal(spsc_ring_pop(&ring), ITEM(next_out++));
        }
        assert_null(spsc_ring_pop(&ring));
    }
    spsc_ring_destroy(&ring);
}

/* The free-running counters overflow size_t; full/empty must still hold. */
static void test_counter_overflow(void **state)
{
    (void)state;
    struct spsc_ring ring;
    assert_true(spsc_ring_init(&ring, 4));
    size_t start = SIZE_MAX - 2;
    atomic_store(&ring.head, start);
    atomic_store(&ring.tail, start);
    ring.producer_cached_head = start;
    ring.consumer_cached_tail = start;
    for (uintptr_t n = 1; n <= 4; n++) {
        assert_true(spsc_ring_push(&ring, ITEM(n)));
    }
    assert_false(spsc_ring_push(&ring, ITEM(9)));
    assert_int_equal(spsc_ring_count(&ring), 4);
    for (uintptr_t n = 1; n <= 4; n++) {
        assert_ptr_equal(spsc_ring_pop(&ring), ITEM(n));
    }
    assert_null(spsc_ring_pop(&ring));
    assert_true(atomic_load(&ring.head) < start); /* it did wrap */
    spsc_ring_destroy(&ring);
}

struct thread_run {
    struct spsc_ring ring;
    unsigned failures;
};

static void *producer_main(void *arg)
{
    struct thread_run *run = arg;
    unsigned spins = 0;
    for (uintptr_t n = 1; n <= THREAD_ITEMS;) {
        if (spsc_ring_push(&run->ring, ITEM(n))) {
            n++;
            spins = 0;
        } else if (++spins > SPINS_WITHOUT_PROGRESS_MAX) {
            return NULL; /* the consumer will report the shortfall */
        } else {
            sched_yield(); /* 2 shared cores: let the consumer run */
        }
    }
    return NULL;
}

static void *consumer_main(void *arg)
{
    struct thread_run *run = arg;
    unsigned spins = 0;
    for (uintptr_t expected = 1; expected <= THREAD_ITEMS;) {
        void *item = spsc_ring_pop(&run->ring);
        if (item == NULL) {
            if (++spins > SPINS_WITHOUT_PROGRESS_MAX) {
                run->failures++;
                return NULL;
            }
            sched_yield();
            continue;
        }
        spins = 0;
        if (item != ITEM(expected)) {
            run->failures++; /* out of order, lost or duplicated */
            return NULL;
        }
        expected++;
    }
    return NULL;
}

static void test_two_threads_pass_a_million_items_in_order(void **state)
{
    (void)state;
    /* Plain calloc: the ring needs no special alignment (see ring.h). */
    struct thread_run *run = calloc(1, sizeof(*run));
    assert_non_null(run);
    assert_true(spsc_ring_init(&run->ring, 256));
    pthread_t producer, consumer;
    assert_int_equal(pthread_create(&consumer, NULL, consumer_main, run), 0);
    assert_int_equal(pthread_create(&producer, NULL, producer_main, run), 0);
    assert_int_equal(pthread_join(producer, NULL), 0);
    assert_int_equal(pthread_join(consumer, NULL), 0);
    assert_int_equal(run->failures, 0);
    assert_null(spsc_ring_pop(&run->ring)); /* nothing extra */
    assert_int_equal(spsc_ring_count(&run->ring), 0);
    spsc_ring_destroy(&run->ring);
    free(run);
}

/* Items carry data: what the producer wrote before pushing is what the
 * consumer reads (the release/acquire pair; TSan checks it). */
struct payload {
    uint64_t value;
    uint64_t check;
};

#define PAYLOAD_ITEMS 100000u

static void *payload_producer(void *arg)
{
    struct spsc_ring *ring = arg;
    for (uint64_t n = 1; n <= PAYLOAD_ITEMS;) {
        struct payload *payload = malloc(sizeof(*payload));
        if (payload == NULL) {
            return NULL;
        }
        payload->value = n;
        payload->check = ~n;
        while (!spsc_ring_push(ring, payload)) {
            sched_yield();
        }
        n++;
    }
    return NULL;
}

static void test_payload_visible_to_consumer(void **state)
{
    (void)state;
    struct spsc_ring ring;
    assert_true(spsc_ring_init(&ring, 64));
    pthread_t producer;
    assert_int_equal(pthread_create(&producer, NULL, payload_producer, &ring), 0);
    unsigned spins = 0;
    for (uint64_t expected = 1; expected <= PAYLOAD_ITEMS;) {
        struct payload *payload = spsc_ring_pop(&ring);
        if (payload == NULL) {
            assert_true(++spins < SPINS_WITHOUT_PROGRESS_MAX);
            sched_yield();
            continue;
        }
        spins = 0;
        assert_true(payload->value == expected);
        assert_true(payload->check == ~expected);
        free(payload);
        expected++;
    }
    assert_int_equal(pthread_join(producer, NULL), 0);
    spsc_ring_destroy(&ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_rejects_bad_capacity),
        cmocka_unit_test(test_empty_and_full),
        cmocka_unit_test(test_wraps_around),
        cmocka_unit_test(test_counter_overflow),
        cmocka_unit_test(test_two_threads_pass_a_million_items_in_order),
        cmocka_unit_test(test_payload_visible_to_consumer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
