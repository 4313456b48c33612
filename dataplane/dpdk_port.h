/* The DPDK port the DPDK transport runs on: EAL, one Ethernet port, one
 * RX/TX queue pair and one mbuf pool per shard, the rings that carry frames
 * a shard received for another shard's connections, and the counters every
 * shard publishes for `mntr`.
 *
 * Made once per process, before the shards (server.c), destroyed after
 * they stopped. This header includes no DPDK header, so server.c and shard.c
 * build without DPDK's flags; the DPDK types are only named.
 *
 * Steering: a frame belongs to the shard netstack_steer names (Toeplitz
 * with NETSTACK_RSS_KEY over the TCP/IPv4 4-tuple, looked up in a
 * redirection table filled with i % shards). Where the port has RSS for
 * TCP/IPv4 it is programmed with that key and table, so frames mostly arrive
 * on their owner's queue; a frame that arrives elsewhere (a port without
 * RSS, such as net_tap here, or the kernel's own queue choice on a tap) goes
 * to its owner through a bounded single-producer single-consumer ring per
 * ordered pair of shards. ARP goes to every shard.
 */
#ifndef CHEETAH_DPDK_PORT_H
#define CHEETAH_DPDK_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/netstack/netstack.h"

struct dpdk_port;
struct rte_mempool;
struct rte_ring;

/* Frames one shard may hand another before that shard drains them (a
 * power of two: rte_ring's size). Beyond it frames are dropped and counted
 * (steer_ring_full); TCP resends them. */
#define DPDK_STEER_RING_FRAMES 1024u
/* Redirection table entries for software steering when the port has no
 * RSS (a power of two, as a port's table is). */
#define DPDK_SOFTWARE_RETA_ENTRIES 128u
/* Shards (queue pairs) one port serves: RTE_MAX_LCORE bounds the threads
 * DPDK can register. */
#define DPDK_QUEUES_MAX 64u

struct dpdk_port_settings {
    const char *eal_args;      /* space-separated EAL arguments (cheetah.dpdk.eal_args) */
    uint16_t port_index;       /* which port EAL found (cheetah.dpdk.port) */
    uint32_t queue_count;      /* one RX/TX queue pair per shard, 1..DPDK_QUEUES_MAX */
    uint16_t mtu;              /* IPv4 MTU */
    uint16_t rx_descriptors;   /* per queue (the port may round it) */
    uint16_t tx_descriptors;
    uint32_t mbuf_pool_size;   /* mbufs per shard */
    /* The netstack's addressing and knobs, handed to every shard's stack. */
    uint32_t ipv4_address;     /* host order */
    uint32_t ipv4_netmask;
    uint32_t ipv4_gateway;     /* 0 = none */
    uint32_t syn_backlog;      /* 0 = netstack default */
    int64_t keepalive_idle_ms; /* < 0 = netstack default */
};

/* Initialises EAL (once per process: a second port in one process is
 * refused), the port, its queues and pools, starts it and sets the link
 * up. NULL on failure with a message in `error` that says what EAL said and
 * what to try (not root; no hugepages: --no-huge; no port: --vdev=net_tap0). */
struct dpdk_port *dpdk_port_create(const struct dpdk_port_settings *settings, char *error,
                                   size_t error_bytes);
/* For a tool that runs the server and its clients in one process (the
 * in-memory benchmark, tools/cheetah-dpdk-loop.c): `hook` runs inside the
 * next dpdk_port_create, right after EAL started and before the port is
 * looked up, so it can make ports of its own (rte_eth_from_rings); it gets
 * the port being made (to read dpdk_port_metrics later). Returns 0, or
 * nonzero with a message in `error` (dpdk_port_create then fails). Set it
 * before the server is created; NULL (the default) = none. The server never
 * sets it. */
typedef int dpdk_port_after_eal_fn(void *context, struct dpdk_port *port, char *error,
                                   size_t error_bytes);
void dpdk_port_set_after_eal_hook(dpdk_port_after_eal_fn *hook, void *context);

/* Stops and closes the port, frees the rings, pools and EAL
 * (rte_eal_cleanup). Every transport on it must be destroyed first. */
void dpdk_port_destroy(struct dpdk_port *port);

/* ---- for the transports (one per queue) ---- */

/* Once in each shard thread, before its first DPDK call: registers the
 * thread with DPDK (an lcore id, for the mempool caches) and unblocks the
 * signals DPDK's drivers use there (dpdk_port_create blocked them in the
 * thread that made the port, which starts every other thread: net_tap has
 * each received frame signalled to the process, and only shard threads,
 * whose one blocking call is their idle sleep, may take those signals).
 * Returns 0 or a negative errno. */
int dpdk_port_thread_start(void);

uint16_t dpdk_port_id(const struct dpdk_port *port);
uint32_t dpdk_port_queue_count(const struct dpdk_port *port);
/* The redirection table size steering must use (the port's, with RSS). */
uint32_t dpdk_port_reta_entries(const struct dpdk_port *port);
struct rte_mempool *dpdk_port_pool(const struct dpdk_port *port, uint32_t queue);
/* The ring that carries frames from shard `from` to shard `to` (from != to). */
struct rte_ring *dpdk_port_steer_ring(const struct dpdk_port *port, uint32_t from, uint32_t to);
/* Bytes an mbuf of the pools holds from its data start (the largest frame
 * a transport can build in one mbuf). */
uint32_t dpdk_port_frame_bytes_max(const struct dpdk_port *port);
/* The checksum offloads the port does on received frames (the transport
 * translates ol_flags only when they are enabled). */
bool dpdk_port_rx_checksum_offload(const struct dpdk_port *port);
/* A netstack configuration for one shard: defaults, then the port's MAC,
 * the addresses, MTU, TX offloads and the settings' knobs. The caller sets
 * listen_port and the per-connection limits. */
void dpdk_port_netstack_config(const struct dpdk_port *port, struct netstack_config *config);

/* A shard that hands frames to shard `queue` kicks it: its transport's
 * `kick` ends an idle sleep. Set by the transport at create (NULL at
 * destroy), before the shard threads start and after they stopped. */
typedef void dpdk_port_kick_fn(void *context);
void dpdk_port_set_kick(struct dpdk_port *port, uint32_t queue, dpdk_port_kick_fn *kick,
                        void *context);
void dpdk_port_kick(const struct dpdk_port *port, uint32_t queue);

/* ---- counters (mntr's zk_dpdk_*) ---- */

/* The transport's own counters, one set per shard. */
enum dpdk_counter {
    DPDK_COUNTER_RX_BURSTS = 0,       /* rx_burst calls that returned frames */
    DPDK_COUNTER_RX_FRAMES,
    DPDK_COUNTER_RX_MULTI_SEGMENT,    /* frames in several mbufs: dropped (no scatter) */
    DPDK_COUNTER_TX_BURSTS,
    DPDK_COUNTER_TX_FRAMES,
    DPDK_COUNTER_TX_REFUSED,          /* frames the port would not take after retries: freed */
    DPDK_COUNTER_TX_NO_MBUF,          /* frame_begin found the pool empty */
    DPDK_COUNTER_STEERED_OUT,         /* frames handed to another shard */
    DPDK_COUNTER_STEERED_IN,          /* frames another shard handed us */
    DPDK_COUNTER_STEER_RING_FULL,     /* frames dropped: the owner's ring was full */
    DPDK_COUNTER_BROADCAST_COPIES,    /* ARP copies made for other shards (in steered_out) */
    DPDK_COUNTER_BROADCAST_COPY_FAILED, /* ARP copies for other shards not made (no mbuf) */
    DPDK_COUNTER_IDLE_SLEEPS,
    /* TSC cycles of the loop's turns that moved a frame or ran a wake:
     * receive, the netstack, the shard's callbacks (decode, reads, reply
     * encode) and transmit; empty polls and sleeps are not counted. */
    DPDK_COUNTER_BUSY_CYCLES,
    DPDK_COUNTER_COUNT
};

/* Called by the shard's thread: copies its counters where other threads
 * can read them (relaxed atomics). */
void dpdk_port_publish_counters(struct dpdk_port *port, uint32_t queue,
                                const uint64_t transport[DPDK_COUNTER_COUNT],
                                const struct netstack_counters *netstack);

/* One mntr line: "zk_<name>\t<value>". */
struct dpdk_metric {
    char name[64];
    int64_t value;
};
/* Lines the port can fill: the transport's and the netstack's counters
 * summed over the shards, plus each shard's connections opened. */
#define DPDK_METRICS_MAX (DPDK_COUNTER_COUNT + 48u + DPDK_QUEUES_MAX)
/* Fills up to `metrics_max` lines (any thread); returns how many. */
size_t dpdk_port_metrics(const struct dpdk_port *port, struct dpdk_metric *metrics,
                         size_t metrics_max);

#endif
