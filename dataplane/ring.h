/*
 * A bounded single-producer single-consumer ring of pointers, for hand-offs
 * between two threads (shard -> core, core -> shard). Header-only.
 *
 * Exactly one thread pushes and exactly one thread pops/peeks; any thread may
 * call spsc_ring_count for an estimate. Lock-free and wait-free: push fails
 * when full, pop returns NULL when empty; what to do then (back off, block on
 * an eventfd, drop) is the caller's decision.
 *
 * Memory order: the producer writes the slot, then publishes it with a
 * release store of `tail`; the consumer's acquire load of `tail` makes the
 * slot (and everything the producer wrote before pushing, such as the item's
 * contents) visible. Symmetrically, the consumer's release store of `head`
 * after reading a slot lets the producer reuse that slot safely.
 *
 * Each side keeps its own index and a cached copy of the other side's on its
 * own cache line, so the two threads only touch each other's line when the
 * cache says the ring looks full (producer) or empty (consumer). The two
 * sides are kept apart by explicit padding, not by alignas, so the struct
 * needs no special alignment: it can sit inside anything calloc returns.
 * Whatever the base address, no cache line holds bytes of both sides, nor of
 * one side and the neighbours of the struct (padding before and after).
 */
#ifndef CHEETAH_DATAPLANE_RING_H
#define CHEETAH_DATAPLANE_RING_H

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define SPSC_RING_CACHE_LINE_BYTES 64
/* Largest capacity accepted (a power of two): 2^30 slots = 8 GiB of pointers. */
#define SPSC_RING_CAPACITY_MAX ((size_t)1 << 30)

struct spsc_ring {
    char pad_before[SPSC_RING_CACHE_LINE_BYTES];
    /* Written by the producer only. */
    _Atomic size_t tail; /* next slot to fill */
    size_t producer_cached_head;
    char pad_producer[SPSC_RING_CACHE_LINE_BYTES];
    /* Written by the consumer only. */
    _Atomic size_t head; /* next slot to read */
    size_t consumer_cached_tail;
    char pad_consumer[SPSC_RING_CACHE_LINE_BYTES];
    /* Read-only after init. */
    void **slots;
    size_t mask; /* capacity - 1 */
    char pad_after[SPSC_RING_CACHE_LINE_BYTES];
};
/* A full cache line between the last byte of one side and the first of the
 * next, so they never share a line at any base address. */
_Static_assert(offsetof(struct spsc_ring, head) - offsetof(struct spsc_ring, producer_cached_head) -
                       sizeof(size_t) >= SPSC_RING_CACHE_LINE_BYTES,
               "producer and consumer fields must be a cache line apart");
_Static_assert(offsetof(struct spsc_ring, slots) - offsetof(struct spsc_ring, consumer_cached_tail) -
                       sizeof(size_t) >= SPSC_RING_CACHE_LINE_BYTES,
               "consumer fields and read-only fields must be a cache line apart");

/* `capacity` must be a power of two, 2 <= capacity <= SPSC_RING_CAPACITY_MAX.
 * False on a bad capacity or allocation failure (the ring is then unusable
 * but safe to destroy). Not thread-safe: init before handing the ring out. */
static inline bool spsc_ring_init(struct spsc_ring *ring, size_t capacity)
{
    atomic_init(&ring->tail, 0);
    atomic_init(&ring->head, 0);
    ring->producer_cached_head = 0;
    ring->consumer_cached_tail = 0;
    ring->slots = NULL;
    ring->mask = 0;
    if (capacity < 2 || capacity > SPSC_RING_CAPACITY_MAX || (capacity & (capacity - 1)) != 0) {
        return false;
    }
    ring->slots = (void **)calloc(capacity, sizeof(*ring->slots));
    if (ring->slots == NULL) {
        return false;
    }
    ring->mask = capacity - 1;
    return true;
}

/* Frees the slots (not the items still in them). Both threads must be done. */
static inline void spsc_ring_destroy(struct spsc_ring *ring)
{
    free(ring->slots);
    ring->slots = NULL;
    ring->mask = 0;
}

static inline size_t spsc_ring_capacity(const struct spsc_ring *ring)
{
    return ring->mask + 1;
}

/* Producer only. `item` must not be NULL (NULL means "empty" to pop). False
 * when the ring is full. Indices are free-running size_t counters: their
 * difference is the fill level even after they wrap. */
static inline bool spsc_ring_push(struct spsc_ring *ring, void *item)
{
    assert(item != NULL);
    size_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    if (tail - ring->producer_cached_head > ring->mask) {
        ring->producer_cached_head = atomic_load_explicit(&ring->head, memory_order_acquire);
        if (tail - ring->producer_cached_head > ring->mask) {
            return false;
        }
    }
    ring->slots[tail & ring->mask] = item;
    atomic_store_explicit(&ring->tail, tail + 1, memory_order_release);
    return true;
}

/* Consumer only: the oldest item without removing it, or NULL when empty. */
static inline void *spsc_ring_peek(struct spsc_ring *ring)
{
    size_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    if (head == ring->consumer_cached_tail) {
        ring->consumer_cached_tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
        if (head == ring->consumer_cached_tail) {
            return NULL;
        }
    }
    return ring->slots[head & ring->mask];
}

/* Consumer only: removes and returns the oldest item, or NULL when empty. */
static inline void *spsc_ring_pop(struct spsc_ring *ring)
{
    void *item = spsc_ring_peek(ring);
    if (item != NULL) {
        size_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
        atomic_store_explicit(&ring->head, head + 1, memory_order_release);
    }
    return item;
}

/* Items in the ring. Exact when called by the producer or the consumer while
 * the other side is idle; otherwise a snapshot that may already be stale
 * (never more than the capacity). */
static inline size_t spsc_ring_count(struct spsc_ring *ring)
{
    size_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    size_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    size_t count = tail - head;
    /* Read by a third thread, head may have been loaded before a push and
     * tail after later pops: clamp what cannot be. */
    return count > ring->mask + 1 ? ring->mask + 1 : count;
}

static inline bool spsc_ring_empty(struct spsc_ring *ring)
{
    return spsc_ring_count(ring) == 0;
}

#endif
