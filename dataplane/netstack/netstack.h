/* A shard's own TCP/IP, for the DPDK transport: Ethernet II, ARP (reply,
 * resolve, a small cache), IPv4 (no fragments, no options honoured), ICMP
 * echo, and TCP for a server (tcp.h).
 *
 * Pure logic, one instance per shard, owned by that shard's thread: no DPDK,
 * no sockets, no clock, no threads. Frames come in through netstack_input,
 * time through the now_us arguments (any monotonic microsecond clock),
 * frames go out through struct netstack_io, and connection events go to
 * struct netstack_callbacks. A unit test drives it frame by frame.
 *
 * Callbacks are made only from netstack_input and netstack_poll, never from
 * inside netstack_send / netstack_close / netstack_set_receive_paused, so a
 * callback may close the very connection it is dispatching.
 *
 * Byte order: every IPv4 address and port in this interface is in host
 * byte order; only frames are in network byte order.
 */
#ifndef CHEETAH_NETSTACK_H
#define CHEETAH_NETSTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NETSTACK_MAC_BYTES 6u
/* Ethernet header (14) + the largest IPv4 MTU we accept (9000). */
#define NETSTACK_MTU_MAX 9000u
#define NETSTACK_MTU_MIN 576u
#define NETSTACK_FRAME_BYTES_MAX (14u + NETSTACK_MTU_MAX)

struct netstack;
struct netstack_connection; /* opaque; valid until `closed` returns */

/* Per-frame facts from the port (DPDK's mbuf ol_flags, translated). */
enum netstack_rx_flags {
    NETSTACK_RX_IPV4_CHECKSUM_GOOD = 1u << 0, /* the port checked it: skip */
    NETSTACK_RX_IPV4_CHECKSUM_BAD = 1u << 1,  /* the port found it bad: drop */
    NETSTACK_RX_L4_CHECKSUM_GOOD = 1u << 2,
    NETSTACK_RX_L4_CHECKSUM_BAD = 1u << 3,
};

/* What the port must do to a frame on its way out. With no flag set the
 * frame is complete (checksums computed in software). */
enum netstack_tx_flags {
    NETSTACK_TX_IPV4_CHECKSUM = 1u << 0, /* the header's checksum field is 0: port fills it */
    NETSTACK_TX_TCP_CHECKSUM = 1u << 1,  /* the TCP checksum holds the pseudo-header sum */
    NETSTACK_TX_TCP_SEGMENT = 1u << 2,   /* TSO: cut the payload into segment_bytes pieces */
};

struct netstack_tx_offload {
    uint32_t flags;         /* enum netstack_tx_flags */
    uint16_t l2_bytes;      /* 14 */
    uint16_t l3_bytes;      /* 20 */
    uint16_t l4_bytes;      /* TCP header with options */
    uint16_t segment_bytes; /* TSO payload bytes per segment (the MSS) */
};

/* The frame sink (the DPDK transport's TX queue, or a test's capture). */
struct netstack_io {
    void *context;
    /* A buffer for one outgoing frame of up to bytes_max bytes, or NULL when
     * none is free (the stack counts tx_frames_dropped_no_buffer and goes
     * on: TCP retransmits). At most one frame is begun at a time. With
     * config.tso_bytes_max > 0, bytes_max can reach 14 + 20 + 60 +
     * tso_bytes_max (a TSO frame, up to 65549 bytes): the port provides such
     * a buffer (chained mbufs) or returns NULL. */
    uint8_t *(*frame_begin)(void *context, size_t bytes_max);
    /* The frame begun last is complete: `bytes` long (<= bytes_max). */
    void (*frame_commit)(void *context, size_t bytes, const struct netstack_tx_offload *offload);
};

/* Why a connection's `closed` callback ran (mirrors transport.h). */
enum netstack_close_reason {
    NETSTACK_CLOSE_PEER = 0,      /* FIN from the peer (EOF) */
    NETSTACK_CLOSE_ERROR = 1,     /* RST, retransmissions or keepalive gave up */
    NETSTACK_CLOSE_LOCAL = 2,     /* netstack_close was called */
    NETSTACK_CLOSE_SEND_FULL = 3, /* netstack_send went over send_buffer_bytes_max */
};

struct netstack_callbacks {
    /* A connection is established (the handshake's last ACK arrived).
     * Return the shard's pointer for it, or NULL to refuse (the stack then
     * resets it; `closed` is not called). */
    void *(*accepted)(void *context, struct netstack_connection *connection,
                      uint32_t peer_ipv4, uint16_t peer_port);
    /* In-order bytes; valid only during the call (they may point into the
     * received frame: no copy). Not called while receive is paused. */
    void (*received)(void *context, void *user, const uint8_t *data, size_t size);
    /* The connection is gone for the shard; its handle is invalid after
     * this returns (the stack may keep its state for FIN/TIME_WAIT). */
    void (*closed)(void *context, void *user, enum netstack_close_reason reason);
};

struct netstack_config {
    uint8_t mac[NETSTACK_MAC_BYTES];
    uint32_t ipv4_address;  /* host order, not 0 */
    uint32_t ipv4_netmask;  /* host order, contiguous ones */
    uint32_t ipv4_gateway;  /* host order; 0 = none (only on-link peers) */
    uint16_t mtu;           /* IPv4 MTU, NETSTACK_MTU_MIN..NETSTACK_MTU_MAX */
    uint16_t listen_port;   /* the one TCP port served; 0 = none (a client-only stack) */
    uint32_t connections_max;          /* established + closing, per shard */
    uint32_t syn_backlog_max;          /* half-open (SYN_RECEIVED), per shard */
    uint32_t time_wait_max;            /* TIME_WAIT entries; the oldest is recycled */
    uint32_t send_buffer_bytes_max;    /* per connection: unacknowledged + queued */
    uint32_t receive_buffer_bytes_max; /* per connection: the advertised window */
    uint32_t out_of_order_segments_max; /* per connection, held for reassembly */
    uint32_t arp_entries_max;
    uint32_t arp_entry_lifetime_ms;
    uint32_t time_wait_ms;             /* 2 MSL */
    uint32_t keepalive_idle_ms;        /* 0 = no keepalive */
    uint32_t keepalive_interval_ms;
    uint32_t keepalive_probes_max;
    uint32_t delayed_ack_ms;           /* at most this long before an ACK goes out */
    uint32_t retransmissions_max;      /* then the connection is reset */
    uint32_t tx_offload_flags;         /* enum netstack_tx_flags the port supports */
    uint32_t tso_bytes_max;            /* largest TSO frame payload; 0 = no TSO */
    uint8_t isn_secret[16];            /* RFC 6528 initial sequence numbers */
};

/* Fills the defaults (limits, timers: Linux's where it has one). The
 * caller then sets mac, addresses and listen_port. */
void netstack_config_defaults(struct netstack_config *config);

/* Every limit has a counter; `mntr` sums them over the shards (dpdk_port.c
 * names them from this list). Plain integers: only the owning thread
 * writes them; the transport copies them out for other threads. */
#define NETSTACK_COUNTERS(X) \
    X(frames_received) \
    X(frames_sent) \
    X(frames_malformed)                  /* too short, bad lengths, bad version */ \
    X(frames_not_for_us)                 /* other MAC/IP, other EtherType, other port */ \
    X(ipv4_checksum_bad) \
    X(ipv4_fragments_dropped)            /* fragments are not reassembled */ \
    X(tcp_checksum_bad) \
    X(icmp_echo_replies) \
    X(arp_replies_sent) \
    X(arp_requests_sent) \
    X(arp_cache_evictions)               /* arp_entries_max reached */ \
    X(tx_frames_dropped_no_buffer) \
    X(tx_frames_dropped_no_route)        /* next hop's MAC unknown (ARP asked) */ \
    X(tcp_connections_opened) \
    X(tcp_connections_closed) \
    X(tcp_connections_refused)           /* connections_max, the shard said no, connect failed */ \
    X(tcp_syn_backlog_full)              /* syn_backlog_max reached: SYN answered with a cookie */ \
    X(tcp_syn_cookies_sent)              /* cookie SYN-ACKs that left (no route: not counted) */ \
    X(tcp_syn_cookies_accepted)          /* ACKs that returned a valid cookie */ \
    X(tcp_syn_cookies_rejected)          /* ACKs to no connection while cookies went out */ \
    X(tcp_resets_sent) \
    X(tcp_resets_received) \
    X(tcp_segments_received) \
    X(tcp_segments_sent) \
    X(tcp_segments_out_of_window) \
    X(tcp_segments_out_of_order)         /* held for reassembly */ \
    X(tcp_out_of_order_dropped)          /* out_of_order_segments_max reached */ \
    X(tcp_retransmissions)               /* every resent segment */ \
    X(tcp_fast_retransmissions) \
    X(tcp_retransmission_timeouts) \
    X(tcp_zero_window_probes) \
    X(tcp_keepalive_probes) \
    X(tcp_keepalive_timeouts) \
    X(tcp_send_buffer_full)              /* send_buffer_bytes_max reached */ \
    X(tcp_receive_buffer_full)           /* data beyond the window dropped */ \
    X(tcp_time_wait_recycled)            /* time_wait_max reached */ \
    X(tcp_challenge_acks_limited)        /* RFC 5961 7: over the per-second limit, not sent */ \
    X(tcp_out_of_window_acks_limited)    /* one per 500 ms per connection (ACK loops) */ \
    X(tcp_connections_established)       /* gauge: now */

struct netstack_counters {
#define NETSTACK_COUNTER_FIELD(name) uint64_t name;
    NETSTACK_COUNTERS(NETSTACK_COUNTER_FIELD)
#undef NETSTACK_COUNTER_FIELD
};

/* NULL on a bad config or out of memory; `error` says which. */
struct netstack *netstack_create(const struct netstack_config *config,
                                 const struct netstack_io *io,
                                 const struct netstack_callbacks *callbacks, void *context,
                                 char *error, size_t error_bytes);
/* Drops every connection without callbacks or frames. */
void netstack_destroy(struct netstack *stack);

/* One received Ethernet frame. Never keeps `frame`: in-order TCP payload
 * goes to `received` straight from it, the rest is copied. */
void netstack_input(struct netstack *stack, const uint8_t *frame, size_t size,
                    uint32_t rx_flags, uint64_t now_us);
/* Runs due timers (retransmission, delayed ACK, keepalive, TIME_WAIT, ARP)
 * and transmits what the windows allow. Returns the time (now_us clock) of
 * the next timer, or UINT64_MAX when none is armed. */
uint64_t netstack_poll(struct netstack *stack, uint64_t now_us);

/* Active open (the benchmark's client side and stack-to-stack tests; the
 * server never connects): sends a SYN from an ephemeral local port
 * (NETSTACK_EPHEMERAL_PORT_FIRST..LAST, the first free) to the peer. A
 * SYN to a neighbour not yet in the ARP cache leaves when the ARP reply
 * arrives (else at its retransmission, 1 s).
 * Returns the handle at once, or NULL when the connection table or the
 * ephemeral ports are exhausted (counted in tcp_connections_refused). When
 * the SYN-ACK arrives, `accepted` is called with that handle (its return
 * value becomes the user pointer; NULL resets the connection); a refused or
 * timed-out attempt calls `closed(context, user, NETSTACK_CLOSE_ERROR)`
 * with the `user` given here. Callbacks come from later input/poll calls. */
#define NETSTACK_EPHEMERAL_PORT_FIRST 32768u
#define NETSTACK_EPHEMERAL_PORT_LAST 60999u
struct netstack_connection *netstack_connect(struct netstack *stack, uint32_t remote_ipv4,
                                             uint16_t remote_port, void *user,
                                             uint64_t now_us);

/* Copies bytes into the connection's send buffer; they go out at the next
 * netstack_poll at the latest (bytes queued from inside a callback leave at
 * the end of the netstack_input that made it, with its ACK). Returns false when that would exceed
 * send_buffer_bytes_max: the connection is then reset, and `closed`
 * (NETSTACK_CLOSE_SEND_FULL) comes from the next netstack_poll. */
bool netstack_send(struct netstack *stack, struct netstack_connection *connection,
                   const void *data, size_t size);
/* Graceful close: FIN after the queued bytes. `closed` (LOCAL) comes from
 * the next netstack_poll; the handle is valid until then. */
void netstack_close(struct netstack *stack, struct netstack_connection *connection);
/* While paused, received bytes are kept in the connection's receive buffer
 * and the advertised window shrinks (the peer's flow control). Resuming
 * delivers what was kept at the next netstack_poll. */
void netstack_set_receive_paused(struct netstack *stack, struct netstack_connection *connection,
                                 bool paused);
/* Bytes queued and not yet acknowledged. */
size_t netstack_queued_bytes(const struct netstack *stack,
                             const struct netstack_connection *connection);

const struct netstack_counters *netstack_counters(const struct netstack *stack);

/* Which of `shard_count` shards owns the frame's TCP connection (software
 * RSS): the Toeplitz hash of the IPv4 4-tuple (source address, destination
 * address, source port, destination port, as received) with
 * NETSTACK_RSS_KEY, looked up as a port's redirection table of
 * `reta_entries` entries (a power of two) filled with i % shard_count:
 * (hash & (reta_entries - 1)) % shard_count. A port programmed with that key
 * and table delivers each frame to the queue this names, so hardware and
 * software steering agree. Returns -1 for frames every shard must see
 * (ARP), and 0 for anything else that is not TCP over IPv4. */
int netstack_steer(const uint8_t *frame, size_t size, uint32_t shard_count,
                   uint32_t reta_entries);
#define NETSTACK_RSS_KEY_BYTES 40u
extern const uint8_t NETSTACK_RSS_KEY[NETSTACK_RSS_KEY_BYTES];
uint32_t netstack_toeplitz_ipv4_tcp(const uint8_t key[NETSTACK_RSS_KEY_BYTES],
                                    uint32_t source_ipv4, uint32_t destination_ipv4,
                                    uint16_t source_port, uint16_t destination_port);

#endif
