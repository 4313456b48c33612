/* The DPDK transport: one queue pair and one netstack per shard. See
 * transport_dpdk.h for the loop and dpdk_port.h for steering. */
#include "dataplane/transport_dpdk.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_random.h>
#include <rte_ring.h>

#include "dataplane/dpdk_port.h"
#include "dataplane/log.h"
#include "dataplane/netstack/netstack.h"

/* ThreadSanitizer does not see the synchronisation inside DPDK's
 * (uninstrumented) rings and mempools: a frame one shard hands another, or a
 * buffer one shard frees into another's pool and that shard reuses, would
 * look like a race. These say what the rings guarantee: everything done to
 * an mbuf before it is handed over (enqueued, freed, sent) happens before
 * whatever the next owner does after taking it (dequeued, allocated,
 * received). No code in other builds. */
#if defined(__SANITIZE_THREAD__)
#define TRANSPORT_DPDK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TRANSPORT_DPDK_TSAN 1
#endif
#endif
#ifdef TRANSPORT_DPDK_TSAN
void __tsan_acquire(void *address);
void __tsan_release(void *address);
static void frames_taken(struct rte_mbuf *const *frames, uint32_t count)
{
    for (uint32_t index = 0; index < count; index++) {
        __tsan_acquire(frames[index]);
    }
}
static void frames_handed_over(struct rte_mbuf *const *frames, uint32_t count)
{
    for (uint32_t index = 0; index < count; index++) {
        __tsan_release(frames[index]);
    }
}
#else
static void frames_taken(struct rte_mbuf *const *frames, uint32_t count)
{
    (void)frames;
    (void)count;
}
static void frames_handed_over(struct rte_mbuf *const *frames, uint32_t count)
{
    (void)frames;
    (void)count;
}
#endif

/* rte_pktmbuf_free and rte_pktmbuf_free_bulk, telling ThreadSanitizer. */
static void frame_free(struct rte_mbuf *frame)
{
    frames_handed_over(&frame, 1);
    rte_pktmbuf_free(frame);
}
static void frames_free(struct rte_mbuf **frames, uint32_t count)
{
    frames_handed_over(frames, count);
    rte_pktmbuf_free_bulk(frames, count);
}

/* Frames taken from the RX queue per rte_eth_rx_burst. */
#define DPDK_RX_BURST_FRAMES 32u
/* Frames taken from each other shard's steering ring per poll (bounded so
 * one busy neighbour cannot starve our own queue). */
#define DPDK_STEER_DRAIN_FRAMES_MAX 256u
/* Frames built before they go to the port in one burst. */
#define DPDK_TX_BATCH_FRAMES 64u
/* Times the rest of a burst the port did not take is offered again before
 * those frames are freed and counted (TCP resends them). */
#define DPDK_TX_RETRIES_MAX 8u
/* wake_bits: transport_wake was called (the shard's `woken` runs), or
 * another shard handed us frames (only the sleep ends). */
#define DPDK_WAKE_REQUESTED 1u
#define DPDK_WAKE_KICKED 2u
/* Empty polls in a row before the loop starts sleeping. */
#define DPDK_IDLE_POLLS_BEFORE_SLEEP 64u
/* The first sleep and the longest: each empty poll after the first sleep
 * doubles it. A sleep waits on a futex that transport_wake and other
 * shards' hand-overs end at once; the longest sleep bounds how late a frame
 * from the port is seen by an idle shard. */
#define DPDK_IDLE_SLEEP_FIRST_US 10u
#define DPDK_IDLE_SLEEP_MAX_US 1000u
/* Polls before the counters are copied out for mntr again (and always
 * before the loop sleeps or returns). */
#define DPDK_PUBLISH_POLLS_MAX 1024u
/* The shortest sleep worth the system call. */
#define DPDK_SLEEP_MIN_US 1u

struct transport_dpdk {
    struct transport base; /* first: transport_dpdk_of casts */
    struct transport_callbacks callbacks;
    void *shard;
    struct dpdk_port *port;
    uint16_t port_id;
    uint16_t queue;
    uint32_t queue_count;
    uint32_t reta_entries;
    bool rx_checksum_offload;
    uint32_t frame_bytes_max;
    struct rte_mempool *pool;
    struct netstack *stack;

    struct rte_mbuf *frame_open; /* the frame netstack began (frame_begin) */
    struct rte_mbuf *tx_frames[DPDK_TX_BATCH_FRAMES];
    uint32_t tx_count;

    _Atomic uint32_t wake_bits; /* DPDK_WAKE_*, the futex word */
    _Atomic uint32_t sleeping;  /* 1 while waiting on wake_bits */
    uint32_t kick_pending[DPDK_QUEUES_MAX]; /* frames handed to each shard this poll */
    bool thread_registered;
    bool delivered;        /* a callback reached the shard during this run_once */
    uint32_t idle_polls;   /* empty polls in a row */
    uint32_t sleep_us;     /* the next idle sleep (0: not sleeping yet) */
    uint32_t polls_since_publish;
    uint64_t next_timer_us; /* netstack_poll's answer */
    uint64_t counters[DPDK_COUNTER_COUNT];
};

static struct transport_dpdk *transport_dpdk_of(struct transport *transport)
{
    return (struct transport_dpdk *)transport;
}

/* The netstack's connection handle is the transport's handle: both are
 * opaque, and the shard only hands it back. */
static struct transport_connection *handle_of(struct netstack_connection *connection)
{
    return (struct transport_connection *)connection;
}

static struct netstack_connection *connection_of(struct transport_connection *handle)
{
    return (struct netstack_connection *)handle;
}

/* CLOCK_MONOTONIC through the vDSO: no system call. */
static uint64_t now_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
}

/* ---- waking ---- */

/* Sets bits in wake_bits; a sleeping owner is woken (the only system call
 * on this path, and only when it sleeps). Any thread. */
static void signal_bits(struct transport_dpdk *t, uint32_t bits)
{
    uint32_t before = atomic_fetch_or(&t->wake_bits, bits);
    if ((before & bits) != bits && atomic_load(&t->sleeping) != 0) {
        syscall(SYS_futex, &t->wake_bits, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
}

/* dpdk_port's kick for this queue: another shard handed us frames. */
static void kick(void *context)
{
    signal_bits(context, DPDK_WAKE_KICKED);
}

/* Waits up to step_us unless wake_bits is set (or gets set). */
static void sleep_on_wake_bits(struct transport_dpdk *t, uint64_t step_us)
{
    struct timespec pause = {
        .tv_sec = (time_t)(step_us / 1000000u),
        .tv_nsec = (long)(step_us % 1000000u) * 1000L,
    };
    atomic_store(&t->sleeping, 1u);
    /* A wake that came before `sleeping` was seen is in wake_bits: the
     * futex returns at once when the word is no longer 0. */
    if (atomic_load(&t->wake_bits) == 0) {
        syscall(SYS_futex, &t->wake_bits, FUTEX_WAIT_PRIVATE, 0u, &pause, NULL, 0);
    }
    atomic_store(&t->sleeping, 0u); /* EINTR, EAGAIN, ETIMEDOUT: look again */
}

/* ---- TX ---- */

static void tx_flush(struct transport_dpdk *t)
{
    if (t->tx_count == 0) {
        return;
    }
    uint16_t count = (uint16_t)t->tx_count;
    uint16_t ready = rte_eth_tx_prepare(t->port_id, t->queue, t->tx_frames, count);
    if (ready < count) {
        /* The port cannot send these as described: drop them (TCP resends). */
        t->counters[DPDK_COUNTER_TX_REFUSED] += (uint64_t)(count - ready);
        frames_free(&t->tx_frames[ready], (uint32_t)(count - ready));
        count = ready;
    }
    frames_handed_over(t->tx_frames, count); /* the PMD frees what it sent */
    uint16_t sent = 0;
    for (uint32_t attempt = 0; attempt <= DPDK_TX_RETRIES_MAX && sent < count; attempt++) {
        uint16_t now_sent = rte_eth_tx_burst(t->port_id, t->queue, &t->tx_frames[sent],
                                             (uint16_t)(count - sent));
        if (now_sent > 0) {
            t->counters[DPDK_COUNTER_TX_BURSTS]++;
        }
        sent = (uint16_t)(sent + now_sent);
    }
    t->counters[DPDK_COUNTER_TX_FRAMES] += sent;
    if (sent < count) {
        t->counters[DPDK_COUNTER_TX_REFUSED] += (uint64_t)(count - sent);
        rte_pktmbuf_free_bulk(&t->tx_frames[sent], (unsigned)(count - sent)); /* released above */
    }
    t->tx_count = 0;
}

static uint8_t *frame_begin(void *context, size_t bytes_max)
{
    struct transport_dpdk *t = context;
    assert(t->frame_open == NULL);
    /* The netstack asks for the frame it builds: at most Ethernet + MTU,
     * or a TSO frame within tso_bytes_max, both of which the port sized
     * its single-segment mbufs for. */
    assert(bytes_max <= t->frame_bytes_max);
    struct rte_mbuf *frame = rte_pktmbuf_alloc(t->pool);
    if (!frame) {
        t->counters[DPDK_COUNTER_TX_NO_MBUF]++;
        return NULL;
    }
    frames_taken(&frame, 1);
    assert(rte_pktmbuf_tailroom(frame) >= bytes_max);
    t->frame_open = frame;
    return rte_pktmbuf_mtod(frame, uint8_t *);
}

static void frame_commit(void *context, size_t bytes, const struct netstack_tx_offload *offload)
{
    struct transport_dpdk *t = context;
    struct rte_mbuf *frame = t->frame_open;
    assert(frame != NULL);
    assert(bytes <= t->frame_bytes_max);
    t->frame_open = NULL;
    frame->data_len = (uint16_t)bytes;
    frame->pkt_len = (uint32_t)bytes;
    uint64_t flags = 0;
    if (offload != NULL && offload->flags != 0) {
        flags |= RTE_MBUF_F_TX_IPV4;
        if (offload->flags & NETSTACK_TX_IPV4_CHECKSUM) {
            flags |= RTE_MBUF_F_TX_IP_CKSUM;
        }
        if (offload->flags & NETSTACK_TX_TCP_CHECKSUM) {
            flags |= RTE_MBUF_F_TX_TCP_CKSUM;
        }
        if (offload->flags & NETSTACK_TX_TCP_SEGMENT) {
            flags |= RTE_MBUF_F_TX_TCP_SEG;
            frame->tso_segsz = offload->segment_bytes;
        }
        frame->l2_len = offload->l2_bytes;
        frame->l3_len = offload->l3_bytes;
        frame->l4_len = offload->l4_bytes;
    }
    frame->ol_flags = flags;
    t->tx_frames[t->tx_count++] = frame;
    if (t->tx_count == DPDK_TX_BATCH_FRAMES) {
        tx_flush(t);
    }
}

/* ---- netstack callbacks -> the shard ---- */

static void *on_accepted(void *context, struct netstack_connection *connection,
                         uint32_t peer_ipv4, uint16_t peer_port)
{
    struct transport_dpdk *t = context;
    struct transport_peer peer;
    memset(&peer, 0, sizeof peer);
    snprintf(peer.address, sizeof peer.address, "%u.%u.%u.%u", (unsigned)(peer_ipv4 >> 24),
             (unsigned)(peer_ipv4 >> 16) & 0xffu, (unsigned)(peer_ipv4 >> 8) & 0xffu,
             (unsigned)peer_ipv4 & 0xffu);
    peer.port = peer_port;
    t->delivered = true;
    return t->callbacks.accepted(t->shard, handle_of(connection), &peer);
}

static void on_received(void *context, void *user, const uint8_t *data, size_t size)
{
    struct transport_dpdk *t = context;
    t->delivered = true;
    t->callbacks.received(t->shard, user, data, size);
}

static void on_closed(void *context, void *user, enum netstack_close_reason reason)
{
    struct transport_dpdk *t = context;
    static_assert((int)NETSTACK_CLOSE_PEER == (int)TRANSPORT_CLOSE_PEER &&
                      (int)NETSTACK_CLOSE_ERROR == (int)TRANSPORT_CLOSE_ERROR &&
                      (int)NETSTACK_CLOSE_LOCAL == (int)TRANSPORT_CLOSE_LOCAL &&
                      (int)NETSTACK_CLOSE_SEND_FULL == (int)TRANSPORT_CLOSE_SEND_FULL,
                  "netstack and transport close reasons are the same numbers");
    t->delivered = true;
    t->callbacks.closed(t->shard, user, (enum transport_close_reason)reason);
}

/* ---- RX ---- */

static uint32_t rx_flags_of(const struct transport_dpdk *t, const struct rte_mbuf *frame)
{
    if (!t->rx_checksum_offload) {
        return 0;
    }
    uint32_t flags = 0;
    uint64_t ip = frame->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    if (ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD) {
        flags |= NETSTACK_RX_IPV4_CHECKSUM_GOOD;
    } else if (ip == RTE_MBUF_F_RX_IP_CKSUM_BAD) {
        flags |= NETSTACK_RX_IPV4_CHECKSUM_BAD;
    }
    uint64_t l4 = frame->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
    if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD) {
        flags |= NETSTACK_RX_L4_CHECKSUM_GOOD;
    } else if (l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD) {
        flags |= NETSTACK_RX_L4_CHECKSUM_BAD;
    }
    return flags;
}

/* Gives one frame to our netstack and frees it (the netstack never keeps it). */
static void deliver_frame(struct transport_dpdk *t, struct rte_mbuf *frame, uint64_t now)
{
    if (frame->nb_segs != 1) {
        t->counters[DPDK_COUNTER_RX_MULTI_SEGMENT]++;
    } else {
        netstack_input(t->stack, rte_pktmbuf_mtod(frame, const uint8_t *), frame->data_len,
                       rx_flags_of(t, frame), now);
    }
    frame_free(frame);
}

static void steer_to(struct transport_dpdk *t, uint32_t owner, struct rte_mbuf *frame)
{
    struct rte_ring *ring = dpdk_port_steer_ring(t->port, t->queue, owner);
    frames_handed_over(&frame, 1);
    if (rte_ring_sp_enqueue(ring, frame) != 0) {
        t->counters[DPDK_COUNTER_STEER_RING_FULL]++;
        rte_pktmbuf_free(frame); /* released above */
        return;
    }
    t->counters[DPDK_COUNTER_STEERED_OUT]++;
    t->kick_pending[owner]++;
}

/* Once per burst: shards we handed frames to stop sleeping. */
static void kick_owners(struct transport_dpdk *t)
{
    for (uint32_t owner = 0; owner < t->queue_count; owner++) {
        if (t->kick_pending[owner] > 0) {
            t->kick_pending[owner] = 0;
            dpdk_port_kick(t->port, owner);
        }
    }
}

/* ARP (and whatever else every shard must see): a copy to each other shard. */
static void steer_to_all(struct transport_dpdk *t, const struct rte_mbuf *frame)
{
    for (uint32_t owner = 0; owner < t->queue_count; owner++) {
        if (owner == t->queue) {
            continue;
        }
        struct rte_mbuf *copy = rte_pktmbuf_copy(frame, t->pool, 0, UINT32_MAX);
        if (!copy) {
            t->counters[DPDK_COUNTER_BROADCAST_COPY_FAILED]++;
            continue;
        }
        frames_taken(&copy, 1);
        t->counters[DPDK_COUNTER_BROADCAST_COPIES]++;
        steer_to(t, owner, copy);
    }
}

static uint32_t receive_burst(struct transport_dpdk *t, uint64_t now)
{
    struct rte_mbuf *frames[DPDK_RX_BURST_FRAMES];
    uint16_t count = rte_eth_rx_burst(t->port_id, t->queue, frames, DPDK_RX_BURST_FRAMES);
    if (count == 0) {
        return 0;
    }
    frames_taken(frames, count);
    t->counters[DPDK_COUNTER_RX_BURSTS]++;
    t->counters[DPDK_COUNTER_RX_FRAMES] += count;
    for (uint16_t index = 0; index < count; index++) {
        struct rte_mbuf *frame = frames[index];
        if (t->queue_count > 1 && frame->nb_segs == 1) {
            int owner = netstack_steer(rte_pktmbuf_mtod(frame, const uint8_t *), frame->data_len,
                                       t->queue_count, t->reta_entries);
            if (owner < 0) {
                steer_to_all(t, frame);
            } else if ((uint32_t)owner != t->queue) {
                assert((uint32_t)owner < t->queue_count);
                steer_to(t, (uint32_t)owner, frame);
                continue;
            }
        }
        deliver_frame(t, frame, now);
    }
    if (t->queue_count > 1) {
        kick_owners(t);
    }
    return count;
}

static uint32_t drain_steered(struct transport_dpdk *t, uint64_t now)
{
    uint32_t total = 0;
    for (uint32_t from = 0; from < t->queue_count; from++) {
        if (from == t->queue) {
            continue;
        }
        struct rte_ring *ring = dpdk_port_steer_ring(t->port, from, t->queue);
        uint32_t taken = 0;
        while (taken < DPDK_STEER_DRAIN_FRAMES_MAX) {
            void *frames[DPDK_RX_BURST_FRAMES];
            unsigned count = rte_ring_sc_dequeue_burst(ring, frames, DPDK_RX_BURST_FRAMES, NULL);
            if (count == 0) {
                break;
            }
            frames_taken((struct rte_mbuf *const *)frames, count);
            for (unsigned index = 0; index < count; index++) {
                deliver_frame(t, frames[index], now);
            }
            taken += count;
        }
        total += taken;
    }
    t->counters[DPDK_COUNTER_STEERED_IN] += total;
    return total;
}

/* One turn of the loop: receive, hand over, feed the netstack, run its
 * timers, send. Returns true when any frame moved. */
static bool poll_once(struct transport_dpdk *t)
{
    uint64_t now = now_us();
    /* Frames other shards received for us first: they arrived before
     * anything our own queue holds now. A flow's frames change queue once
     * (the tap, or a NIC without our RSS, first picks a queue by its own
     * hash, then follows our replies), and a frame handed over must not be
     * overtaken by a later one that came straight to us (a RST that
     * overtakes the handshake's ACK is lost). */
    uint32_t received = t->queue_count > 1 ? drain_steered(t, now) : 0;
    received += receive_burst(t, now);
    uint64_t frames_before = t->counters[DPDK_COUNTER_TX_FRAMES] + t->tx_count;
    t->next_timer_us = netstack_poll(t->stack, now);
    bool sent = t->counters[DPDK_COUNTER_TX_FRAMES] + t->tx_count != frames_before;
    tx_flush(t);
    return received > 0 || sent;
}

static void publish_counters(struct transport_dpdk *t)
{
    dpdk_port_publish_counters(t->port, t->queue, t->counters, netstack_counters(t->stack));
    t->polls_since_publish = 0;
}

static void idle_sleep(struct transport_dpdk *t, uint64_t deadline_us)
{
    t->sleep_us = t->sleep_us == 0 ? DPDK_IDLE_SLEEP_FIRST_US
                  : t->sleep_us * 2u > DPDK_IDLE_SLEEP_MAX_US ? DPDK_IDLE_SLEEP_MAX_US
                                                               : t->sleep_us * 2u;
    uint64_t now = now_us();
    uint64_t step_us = t->sleep_us;
    uint64_t wake_at = deadline_us < t->next_timer_us ? deadline_us : t->next_timer_us;
    if (wake_at <= now) {
        return;
    }
    if (wake_at - now < step_us) {
        step_us = wake_at - now;
    }
    if (step_us < DPDK_SLEEP_MIN_US) {
        return;
    }
    if (t->polls_since_publish > 0) {
        publish_counters(t);
    }
    t->counters[DPDK_COUNTER_IDLE_SLEEPS]++;
    sleep_on_wake_bits(t, step_us);
}

static int dpdk_run_once(struct transport *transport, int timeout_ms)
{
    struct transport_dpdk *t = transport_dpdk_of(transport);
    if (!t->thread_registered) {
        int status = dpdk_port_thread_start();
        if (status != 0) {
            log_error("dpdk: shard %u cannot register its thread with DPDK: %s", t->queue,
                      rte_strerror(-status));
            return status;
        }
        t->thread_registered = true;
    }
    uint64_t deadline_us = timeout_ms < 0 ? UINT64_MAX : now_us() + (uint64_t)timeout_ms * 1000u;
    t->delivered = false;
    /* Bounded by the deadline (or, with -1, by the first delivery or wake). */
    for (;;) {
        uint64_t turn_start_cycles = rte_rdtsc();
        bool worked = poll_once(t);
        t->polls_since_publish++;
        uint32_t bits = atomic_load_explicit(&t->wake_bits, memory_order_relaxed) != 0
                            ? atomic_exchange(&t->wake_bits, 0u)
                            : 0u;
        if (bits & DPDK_WAKE_REQUESTED) {
            t->callbacks.woken(t->shard);
            t->delivered = true;
        }
        if (worked || bits != 0) {
            /* Only turns that did work: the cost per request, not the spin. */
            t->counters[DPDK_COUNTER_BUSY_CYCLES] += rte_rdtsc() - turn_start_cycles;
        }
        if (worked || (bits & DPDK_WAKE_KICKED)) {
            t->idle_polls = 0;
            t->sleep_us = 0;
        }
        if (t->polls_since_publish >= DPDK_PUBLISH_POLLS_MAX) {
            publish_counters(t);
        }
        if (t->delivered || timeout_ms == 0 || now_us() >= deadline_us) {
            break;
        }
        if (!worked && ++t->idle_polls >= DPDK_IDLE_POLLS_BEFORE_SLEEP) {
            idle_sleep(t, deadline_us);
        }
    }
    if (t->polls_since_publish > 0 && (t->delivered || timeout_ms != 0)) {
        publish_counters(t);
    }
    return 0;
}

/* ---- the rest of the table ---- */

static bool dpdk_send(struct transport *transport, struct transport_connection *connection,
                      const void *data, size_t size)
{
    struct transport_dpdk *t = transport_dpdk_of(transport);
    return netstack_send(t->stack, connection_of(connection), data, size);
}

/* Sends go out at the next poll of run_once, which the shard calls right
 * after; polling the netstack here could re-enter it from a callback. */
static void dpdk_flush(struct transport *transport)
{
    (void)transport;
}

static void dpdk_close(struct transport *transport, struct transport_connection *connection)
{
    struct transport_dpdk *t = transport_dpdk_of(transport);
    netstack_close(t->stack, connection_of(connection));
}

static void dpdk_set_receive_paused(struct transport *transport,
                                    struct transport_connection *connection, bool paused)
{
    struct transport_dpdk *t = transport_dpdk_of(transport);
    netstack_set_receive_paused(t->stack, connection_of(connection), paused);
}

static void dpdk_wake(struct transport *transport)
{
    signal_bits(transport_dpdk_of(transport), DPDK_WAKE_REQUESTED);
}

static size_t dpdk_queued_bytes(struct transport *transport,
                                struct transport_connection *connection)
{
    struct transport_dpdk *t = transport_dpdk_of(transport);
    return netstack_queued_bytes(t->stack, connection_of(connection));
}

/* Only once every shard thread of the port has stopped: a running shard
 * may still hand this one frames and wake it (server.c stops and joins
 * them all before destroying any). */
static void dpdk_destroy(struct transport *transport)
{
    struct transport_dpdk *t = transport_dpdk_of(transport);
    dpdk_port_set_kick(t->port, t->queue, NULL, NULL);
    if (t->stack) {
        publish_counters(t);
        netstack_destroy(t->stack);
    }
    if (t->frame_open) {
        frame_free(t->frame_open);
    }
    if (t->tx_count > 0) {
        frames_free(t->tx_frames, t->tx_count);
    }
    free(t);
}

static const struct transport_ops transport_dpdk_ops = {
    .run_once = dpdk_run_once,
    .send = dpdk_send,
    .flush = dpdk_flush,
    .close = dpdk_close,
    .set_receive_paused = dpdk_set_receive_paused,
    .wake = dpdk_wake,
    .destroy = dpdk_destroy,
    .queued_bytes = dpdk_queued_bytes,
};

struct transport *transport_dpdk_create(const struct transport_config *config,
                                        struct dpdk_port *port, uint32_t queue,
                                        const struct transport_callbacks *callbacks, void *shard,
                                        char *error, size_t error_bytes)
{
    if (queue >= dpdk_port_queue_count(port)) {
        snprintf(error, error_bytes, "shard %u has no DPDK queue pair (the port has %u)", queue,
                 dpdk_port_queue_count(port));
        return NULL;
    }
    struct transport_dpdk *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(error, error_bytes, "out of memory for shard %u's DPDK transport", queue);
        return NULL;
    }
    t->base.ops = &transport_dpdk_ops;
    t->callbacks = *callbacks;
    t->shard = shard;
    t->port = port;
    t->port_id = dpdk_port_id(port);
    t->queue = (uint16_t)queue;
    t->queue_count = dpdk_port_queue_count(port);
    t->reta_entries = dpdk_port_reta_entries(port);
    t->rx_checksum_offload = dpdk_port_rx_checksum_offload(port);
    t->frame_bytes_max = dpdk_port_frame_bytes_max(port);
    t->pool = dpdk_port_pool(port, queue);
    t->next_timer_us = UINT64_MAX;
    atomic_init(&t->wake_bits, 0u);
    atomic_init(&t->sleeping, 0u);

    struct netstack_config stack_config;
    dpdk_port_netstack_config(port, &stack_config);
    stack_config.listen_port = config->listen_port;
    stack_config.connections_max = config->connections_max;
    stack_config.send_buffer_bytes_max = config->send_buffer_bytes_max;
    /* Each shard's initial sequence numbers from its own secret. */
    for (size_t index = 0; index < sizeof stack_config.isn_secret; index++) {
        stack_config.isn_secret[index] = (uint8_t)rte_rand();
    }
    const struct netstack_io io = {
        .context = t,
        .frame_begin = frame_begin,
        .frame_commit = frame_commit,
    };
    const struct netstack_callbacks stack_callbacks = {
        .accepted = on_accepted,
        .received = on_received,
        .closed = on_closed,
    };
    char why[256] = "";
    t->stack = netstack_create(&stack_config, &io, &stack_callbacks, t, why, sizeof why);
    if (!t->stack) {
        snprintf(error, error_bytes, "shard %u: cannot make its TCP/IP stack: %s", queue, why);
        free(t);
        return NULL;
    }
    dpdk_port_set_kick(port, queue, kick, t);
    return &t->base;
}
