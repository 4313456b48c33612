/* TCP: one shard's connection table and state machine (a server's passive
 * opens, and active opens for clients and tests).
 *
 * Below it, netstack.c parses frames into struct tcp_segment (checksums
 * already verified, the destination address already ours) and turns the
 * segments TCP emits into frames (struct tcp_output). Above it, the shard
 * sees netstack.h's callbacks and calls. Pure logic: segments and time in,
 * segments and callbacks out, so a test can script a connection segment by
 * segment (tests/unit/test_tcp.c, in the spirit of packetdrill).
 *
 * What it does (RFC 9293; active opens through SYN_SENT, SYN resent on the
 * RFC 6298 initial RTO doubling, tcp_syn_retries times): a bounded SYN queue
 * (syn_backlog_max, SYN-ACK retransmitted) and SYN cookies when it is full
 * (RFC 4987; see tcp.c), MSS and window scaling
 * (RFC 7323), in-order delivery with reassembly of out-of-order segments
 * (out_of_order_segments_max), retransmission with RFC 6298 timers
 * (Karn's rule, exponential backoff, retransmissions_max), fast retransmit
 * and NewReno congestion control (RFC 5681, RFC 6582), delayed ACKs
 * (every second full segment, or delayed_ack_ms), zero-window probes,
 * FIN/RST handling (RFC 5961's challenge ACK for an in-window RST or SYN),
 * TIME_WAIT (time_wait_ms, time_wait_max), keepalive, bounded send and
 * receive buffers per connection.
 */
#ifndef CHEETAH_NETSTACK_TCP_H
#define CHEETAH_NETSTACK_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/netstack/netstack.h"

enum tcp_flag {
    TCP_FLAG_FIN = 0x01,
    TCP_FLAG_SYN = 0x02,
    TCP_FLAG_RST = 0x04,
    TCP_FLAG_PSH = 0x08,
    TCP_FLAG_ACK = 0x10,
    TCP_FLAG_URG = 0x20,
};

/* One segment, in host byte order, as parsed from a frame or to be put in
 * one. `remote` is the peer, `local` is us, whichever way it travels. */
struct tcp_segment {
    uint32_t remote_ipv4;
    uint32_t local_ipv4;
    uint16_t remote_port;
    uint16_t local_port;
    uint32_t seq;
    uint32_t ack;
    uint8_t flags;            /* enum tcp_flag */
    uint16_t window;          /* the header's field, not yet scaled */
    /* Options (RFC 9293 MSS, RFC 7323 window scale and timestamps, SACK
     * permitted). Input: what the segment carried. Output: what to write;
     * netstack.c writes them in Linux's order and pads to 4 bytes. */
    uint16_t mss;             /* 0: no MSS option */
    bool has_window_scale;
    uint8_t window_scale;
    bool sack_permitted;
    bool has_timestamps;
    uint32_t timestamp_value;
    uint32_t timestamp_echo;
    /* Input only: the payload, pointing into the received frame. */
    const uint8_t *payload;
    uint32_t payload_bytes;
};

/* Output: a segment's header and its payload in up to two parts (the send
 * buffer is a ring). */
struct tcp_segment_out {
    struct tcp_segment header;  /* payload/payload_bytes unused */
    const uint8_t *parts[2];
    uint32_t part_bytes[2];
    /* Non-zero: the payload is larger than one MSS and the port cuts it into
     * pieces of this many bytes (TSO; only when config.tso_bytes_max > 0). */
    uint16_t tso_segment_bytes;
};

struct tcp_output {
    void *context;
    /* Builds and queues one frame for the segment. Returns false when there
     * was no frame buffer or no route (counted by netstack.c); TCP treats the
     * segment as lost (its timers resend it). */
    bool (*segment)(void *context, const struct tcp_segment_out *segment);
};

struct tcp_table;

/* Uses config's TCP fields (mtu gives our MSS: mtu - 40). Counters are the
 * netstack's, updated in place. */
struct tcp_table *tcp_create(const struct netstack_config *config,
                             const struct tcp_output *output,
                             const struct netstack_callbacks *callbacks, void *context,
                             struct netstack_counters *counters, char *error,
                             size_t error_bytes);
void tcp_destroy(struct tcp_table *table);

/* One received segment (checksum good, addressed to our IPv4 address). A
 * segment for no known connection gets a RST unless it is a SYN to
 * listen_port or an ACK returning a valid SYN cookie,
 * as RFC 9293 says (counted in frames_not_for_us). */
void tcp_input(struct tcp_table *table, const struct tcp_segment *segment, uint64_t now_us);
/* Timers, delivery of resumed receive buffers, deferred callbacks, and
 * transmission of what the windows allow. Returns the next timer's time or
 * UINT64_MAX. */
uint64_t tcp_poll(struct tcp_table *table, uint64_t now_us);

/* Active open (netstack_connect's contract): a SYN from the first free
 * ephemeral port to remote_ipv4:remote_port, now. NULL (counted in
 * tcp_connections_refused) when connections_max or the ports are used up.
 * The handle counts against connections_max from now on. */
struct netstack_connection *tcp_connect(struct tcp_table *table, uint32_t remote_ipv4,
                                        uint16_t remote_port, void *user, uint64_t now_us);

/* A neighbour's MAC became known: SYNs of active opens that could not leave
 * for want of it go now (instead of at their retransmission). */
void tcp_resend_unsent_syns(struct tcp_table *table, uint64_t now_us);

bool tcp_send(struct tcp_table *table, struct netstack_connection *connection, const void *data,
              size_t size);
void tcp_close(struct tcp_table *table, struct netstack_connection *connection);
void tcp_set_receive_paused(struct tcp_table *table, struct netstack_connection *connection,
                            bool paused);
size_t tcp_queued_bytes(const struct tcp_table *table,
                        const struct netstack_connection *connection);

#endif
