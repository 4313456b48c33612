// dataplane/ring.h: the SPSC ring between threads.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "bench/micro/shim.h"

namespace
{

constexpr size_t kRingCapacity = 4096;
// Never NULL (NULL means empty); the stop item ends a consumer.
void *item_of(uint64_t value)
{
    return reinterpret_cast<void *>(static_cast<uintptr_t>(value) + 1);
}
void *const kStopItem = reinterpret_cast<void *>(~static_cast<uintptr_t>(0));

// Spins a little, then yields: on a machine with fewer free cores than
// spinning threads, a pure spin would hold the core the other side needs
// until the scheduler's time slice ends.
constexpr unsigned kSpinsBeforeYield = 256;

struct backoff {
    unsigned spins = 0;
    void wait()
    {
        if (++spins < kSpinsBeforeYield) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else {
            spins = 0;
            std::this_thread::yield();
        }
    }
};

void push_waiting(micro_ring *ring, void *item)
{
    backoff idle;
    while (!micro_ring_push(ring, item)) {
        idle.wait();
    }
}

void *pop_waiting(micro_ring *ring)
{
    backoff idle;
    void *item = nullptr;
    while ((item = micro_ring_pop(ring)) == nullptr) {
        idle.wait();
    }
    return item;
}

// One thread pushes then pops: the cost of the two operations uncontended.
void run_push_pop_one_thread(benchmark::State &state)
{
    micro_ring *ring = micro_ring_create(kRingCapacity);
    if (ring == nullptr) {
        state.SkipWithError("cannot create the ring");
        return;
    }
    uint64_t value = 0;
    bool ok = true;
    for (auto _ : state) {
        ok = micro_ring_push(ring, item_of(value++)) && ok;
        benchmark::DoNotOptimize(micro_ring_pop(ring));
    }
    if (!ok) {
        state.SkipWithError("push failed");
    }
    state.SetItemsProcessed(state.iterations());
    micro_ring_destroy(ring);
}

// Producer (the benchmark thread) streams items to a consumer thread.
void run_stream_two_threads(benchmark::State &state)
{
    micro_ring *ring = micro_ring_create(kRingCapacity);
    if (ring == nullptr) {
        state.SkipWithError("cannot create the ring");
        return;
    }
    std::atomic<uint64_t> consumed{0};
    std::thread consumer([ring, &consumed] {
        uint64_t count = 0;
        for (;;) {
            void *item = pop_waiting(ring);
            if (item == kStopItem) {
                break;
            }
            count++;
        }
        consumed.store(count, std::memory_order_release);
    });
    uint64_t value = 0;
    for (auto _ : state) {
        push_waiting(ring, item_of(value));
        value++;
    }
    push_waiting(ring, kStopItem);
    consumer.join();
    if (consumed.load(std::memory_order_acquire) != value) {
        state.SkipWithError("items lost");
    }
    state.SetItemsProcessed(state.iterations());
    micro_ring_destroy(ring);
}

// Ping-pong: one item there and back per iteration (the hand-off latency).
void run_ping_pong_two_threads(benchmark::State &state)
{
    micro_ring *to_peer = micro_ring_create(kRingCapacity);
    micro_ring *from_peer = micro_ring_create(kRingCapacity);
    if (to_peer == nullptr || from_peer == nullptr) {
        micro_ring_destroy(to_peer);
        micro_ring_destroy(from_peer);
        state.SkipWithError("cannot create the rings");
        return;
    }
    std::thread peer([to_peer, from_peer] {
        for (;;) {
            void *item = pop_waiting(to_peer);
            push_waiting(from_peer, item);
            if (item == kStopItem) {
                break;
            }
        }
    });
    uint64_t value = 0;
    bool ok = true;
    for (auto _ : state) {
        void *sent = item_of(value++);
        push_waiting(to_peer, sent);
        void *back = pop_waiting(from_peer);
        ok = back == sent && ok;
    }
    push_waiting(to_peer, kStopItem);
    ok = pop_waiting(from_peer) == kStopItem && ok;
    peer.join();
    if (!ok) {
        state.SkipWithError("wrong item came back");
    }
    state.SetItemsProcessed(state.iterations());
    micro_ring_destroy(to_peer);
    micro_ring_destroy(from_peer);
}

} // namespace

BENCHMARK(run_push_pop_one_thread)->Name("ring/push_pop/one_thread");
BENCHMARK(run_stream_two_threads)->Name("ring/stream/two_threads")->UseRealTime();
BENCHMARK(run_ping_pong_two_threads)->Name("ring/ping_pong/two_threads")->UseRealTime();
