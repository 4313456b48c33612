/* The netstack put together (see netstack.h): frames in through Ethernet,
 * ARP, IPv4, ICMP echo and TCP (served on listen_port, and opened by
 * netstack_connect); TCP's segments out as frames with the next
 * hop's MAC from the ARP cache; software RSS. The TCP state machine itself
 * is tcp.c's. */
#include "dataplane/netstack/netstack.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/netstack/arp.h"
#include "dataplane/netstack/tcp.h"
#include "dataplane/netstack/wire.h"

/* Defaults: Linux's value where it has one. */
#define NETSTACK_DEFAULT_MTU 1500u
#define NETSTACK_DEFAULT_CONNECTIONS_MAX 1024u
#define NETSTACK_DEFAULT_SYN_BACKLOG_MAX 256u
#define NETSTACK_DEFAULT_TIME_WAIT_MAX 1024u
#define NETSTACK_DEFAULT_SEND_BUFFER_BYTES_MAX (4u * 1024u * 1024u)
/* Above 64 KiB: the window needs scaling (RFC 7323), which TCP offers. */
#define NETSTACK_DEFAULT_RECEIVE_BUFFER_BYTES_MAX (256u * 1024u)
#define NETSTACK_DEFAULT_OUT_OF_ORDER_SEGMENTS_MAX 64u
#define NETSTACK_DEFAULT_ARP_ENTRIES_MAX 64u
#define NETSTACK_DEFAULT_ARP_ENTRY_LIFETIME_MS (5u * 60u * 1000u)
#define NETSTACK_DEFAULT_TIME_WAIT_MS 60000u         /* Linux's TCP_TIMEWAIT_LEN */
#define NETSTACK_DEFAULT_KEEPALIVE_IDLE_MS 7200000u  /* tcp_keepalive_time, 2 h */
#define NETSTACK_DEFAULT_KEEPALIVE_INTERVAL_MS 75000u /* tcp_keepalive_intvl */
#define NETSTACK_DEFAULT_KEEPALIVE_PROBES_MAX 9u      /* tcp_keepalive_probes */
#define NETSTACK_DEFAULT_DELAYED_ACK_MS 40u           /* TCP_DELACK_MIN */
#define NETSTACK_DEFAULT_RETRANSMISSIONS_MAX 15u      /* tcp_retries2 */

/* Validation limits. */
#define NETSTACK_ARP_ENTRY_LIFETIME_MS_MIN 1000u
/* RFC 1122 4.2.3.2: an ACK may not be delayed 500 ms or more. */
#define NETSTACK_DELAYED_ACK_MS_MAX 499u
/* The largest window RFC 7323 can advertise: 65535 << 14. */
#define NETSTACK_RECEIVE_BUFFER_BYTES_LIMIT (65535u << 14)
#define NETSTACK_IPV4_TCP_HEADERS_BYTES 40u
#define NETSTACK_TX_FLAGS_KNOWN \
    (NETSTACK_TX_IPV4_CHECKSUM | NETSTACK_TX_TCP_CHECKSUM | NETSTACK_TX_TCP_SEGMENT)
/* A TSO frame's IPv4 total length (20 + up to 60 of TCP header + payload)
 * must fit in 16 bits. */
#define NETSTACK_TSO_BYTES_LIMIT \
    (WIRE_IPV4_TOTAL_BYTES_MAX - WIRE_IPV4_HEADER_BYTES_MIN - WIRE_TCP_HEADER_BYTES_MAX)

#define US_PER_MS 1000u

/* The Microsoft RSS verification key, the default of most NICs and of
 * DPDK's examples. */
const uint8_t NETSTACK_RSS_KEY[NETSTACK_RSS_KEY_BYTES] = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

struct netstack {
    struct netstack_config config;
    struct netstack_io io;
    struct netstack_callbacks callbacks;
    struct netstack_counters counters;
    struct arp_cache arp;
    struct tcp_table *tcp;
    uint16_t ipv4_identification; /* per stack, incremented per IPv4 packet sent */
    /* The latest now_us seen: the TX path (called by TCP, which passes no
     * time) rate-limits ARP requests with it. */
    uint64_t now_us;
};

void netstack_config_defaults(struct netstack_config *config)
{
    memset(config, 0, sizeof(*config));
    config->mtu = NETSTACK_DEFAULT_MTU;
    config->connections_max = NETSTACK_DEFAULT_CONNECTIONS_MAX;
    config->syn_backlog_max = NETSTACK_DEFAULT_SYN_BACKLOG_MAX;
    config->time_wait_max = NETSTACK_DEFAULT_TIME_WAIT_MAX;
    config->send_buffer_bytes_max = NETSTACK_DEFAULT_SEND_BUFFER_BYTES_MAX;
    config->receive_buffer_bytes_max = NETSTACK_DEFAULT_RECEIVE_BUFFER_BYTES_MAX;
    config->out_of_order_segments_max = NETSTACK_DEFAULT_OUT_OF_ORDER_SEGMENTS_MAX;
    config->arp_entries_max = NETSTACK_DEFAULT_ARP_ENTRIES_MAX;
    config->arp_entry_lifetime_ms = NETSTACK_DEFAULT_ARP_ENTRY_LIFETIME_MS;
    config->time_wait_ms = NETSTACK_DEFAULT_TIME_WAIT_MS;
    config->keepalive_idle_ms = NETSTACK_DEFAULT_KEEPALIVE_IDLE_MS;
    config->keepalive_interval_ms = NETSTACK_DEFAULT_KEEPALIVE_INTERVAL_MS;
    config->keepalive_probes_max = NETSTACK_DEFAULT_KEEPALIVE_PROBES_MAX;
    config->delayed_ack_ms = NETSTACK_DEFAULT_DELAYED_ACK_MS;
    config->retransmissions_max = NETSTACK_DEFAULT_RETRANSMISSIONS_MAX;
    config->tx_offload_flags = 0;
    config->tso_bytes_max = 0;
}

/* ---- addresses ---- */

/* Addresses no host may have (RFC 1122 3.2.1.3, RFC 6890): this network,
 * loopback, multicast, reserved and the limited broadcast. */
static bool ipv4_is_martian(uint32_t ipv4)
{
    uint32_t first_octet = ipv4 >> 24;
    return first_octet == 0 || first_octet == 127 || first_octet >= 224;
}

static bool netmask_is_contiguous(uint32_t netmask)
{
    uint32_t host_bits = ~netmask;
    return (host_bits & (host_bits + 1u)) == 0;
}

static bool ipv4_on_link(const struct netstack_config *config, uint32_t ipv4)
{
    return (ipv4 & config->ipv4_netmask) == (config->ipv4_address & config->ipv4_netmask);
}

/* The subnet's broadcast address (none for /31 and /32, RFC 3021). */
static bool ipv4_is_subnet_broadcast(const struct netstack_config *config, uint32_t ipv4)
{
    uint32_t host_bits = ~config->ipv4_netmask;
    return host_bits > 1u && ipv4_on_link(config, ipv4) && (ipv4 & host_bits) == host_bits;
}

/* A source a frame may come from: not a martian, not a broadcast, not us. */
static bool ipv4_source_valid(const struct netstack_config *config, uint32_t ipv4)
{
    return !ipv4_is_martian(ipv4) && !ipv4_is_subnet_broadcast(config, ipv4) &&
           ipv4 != config->ipv4_address;
}

/* ---- config validation ---- */

static bool fail(char *error, size_t error_bytes, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(char *error, size_t error_bytes, const char *format, ...)
{
    if (error != NULL && error_bytes > 0) {
        va_list arguments;
        va_start(arguments, format);
        vsnprintf(error, error_bytes, format, arguments);
        va_end(arguments);
    }
    return false;
}

static bool config_addresses_valid(const struct netstack_config *config, char *error,
                                   size_t error_bytes)
{
    if (wire_mac_is_multicast(config->mac) || wire_mac_is_zero(config->mac)) {
        return fail(error, error_bytes, "netstack: mac must be a unicast, non-zero address");
    }
    if (ipv4_is_martian(config->ipv4_address)) {
        return fail(error, error_bytes,
                    "netstack: ipv4_address must be a unicast host address (not 0/8, 127/8, "
                    "224/3)");
    }
    if (!netmask_is_contiguous(config->ipv4_netmask)) {
        return fail(error, error_bytes, "netstack: ipv4_netmask 0x%08x is not contiguous ones",
                    config->ipv4_netmask);
    }
    /* /31 and /32 have no network or broadcast address (RFC 3021). */
    uint32_t host_bits = ~config->ipv4_netmask;
    uint32_t host_part = config->ipv4_address & host_bits;
    if (host_bits > 1u && (host_part == 0 || host_part == host_bits)) {
        return fail(error, error_bytes,
                    "netstack: ipv4_address is its subnet's network or broadcast address");
    }
    if (config->ipv4_gateway != 0 &&
        (!ipv4_on_link(config, config->ipv4_gateway) ||
         config->ipv4_gateway == config->ipv4_address ||
         !ipv4_source_valid(config, config->ipv4_gateway))) {
        return fail(error, error_bytes,
                    "netstack: ipv4_gateway must be another host address on the subnet");
    }
    return true;
}

static bool config_tcp_valid(const struct netstack_config *config, char *error,
                             size_t error_bytes)
{
    uint32_t mss_bytes = (uint32_t)config->mtu - NETSTACK_IPV4_TCP_HEADERS_BYTES;
    /* listen_port 0: a client-only stack (netstack_connect), serving none. */
    if (config->connections_max == 0 || config->syn_backlog_max == 0 ||
        config->time_wait_max == 0) {
        return fail(error, error_bytes,
                    "netstack: connections_max, syn_backlog_max and time_wait_max must be >= 1");
    }
    if (config->send_buffer_bytes_max < mss_bytes) {
        return fail(error, error_bytes,
                    "netstack: send_buffer_bytes_max %u is below one segment (%u bytes)",
                    config->send_buffer_bytes_max, mss_bytes);
    }
    if (config->receive_buffer_bytes_max < mss_bytes ||
        config->receive_buffer_bytes_max > NETSTACK_RECEIVE_BUFFER_BYTES_LIMIT) {
        return fail(error, error_bytes,
                    "netstack: receive_buffer_bytes_max must be %u..%u (one segment .. the "
                    "largest scaled window)",
                    mss_bytes, NETSTACK_RECEIVE_BUFFER_BYTES_LIMIT);
    }
    if (config->keepalive_idle_ms != 0 &&
        (config->keepalive_interval_ms == 0 || config->keepalive_probes_max == 0)) {
        return fail(error, error_bytes,
                    "netstack: keepalive needs keepalive_interval_ms and keepalive_probes_max "
                    ">= 1");
    }
    if (config->delayed_ack_ms > NETSTACK_DELAYED_ACK_MS_MAX) {
        return fail(error, error_bytes, "netstack: delayed_ack_ms must be below 500 (RFC 1122)");
    }
    if (config->retransmissions_max == 0) {
        return fail(error, error_bytes, "netstack: retransmissions_max must be >= 1");
    }
    return true;
}

static bool config_offload_valid(const struct netstack_config *config, char *error,
                                 size_t error_bytes)
{
    uint32_t mss_bytes = (uint32_t)config->mtu - NETSTACK_IPV4_TCP_HEADERS_BYTES;
    if (config->tx_offload_flags & ~(uint32_t)NETSTACK_TX_FLAGS_KNOWN) {
        return fail(error, error_bytes, "netstack: unknown tx_offload_flags 0x%x",
                    config->tx_offload_flags & ~(uint32_t)NETSTACK_TX_FLAGS_KNOWN);
    }
    if (config->tso_bytes_max == 0) {
        return true;
    }
    if ((config->tx_offload_flags & NETSTACK_TX_FLAGS_KNOWN) != NETSTACK_TX_FLAGS_KNOWN) {
        return fail(error, error_bytes,
                    "netstack: tso_bytes_max needs the port's TSO and both checksum offloads "
                    "in tx_offload_flags");
    }
    if (config->tso_bytes_max < mss_bytes || config->tso_bytes_max > NETSTACK_TSO_BYTES_LIMIT) {
        return fail(error, error_bytes, "netstack: tso_bytes_max must be 0 or %u..%u", mss_bytes,
                    NETSTACK_TSO_BYTES_LIMIT);
    }
    return true;
}

static bool config_valid(const struct netstack_config *config, char *error, size_t error_bytes)
{
    if (config->mtu < NETSTACK_MTU_MIN || config->mtu > NETSTACK_MTU_MAX) {
        return fail(error, error_bytes, "netstack: mtu %u is outside %u..%u", config->mtu,
                    NETSTACK_MTU_MIN, NETSTACK_MTU_MAX);
    }
    if (config->arp_entries_max == 0 || config->arp_entries_max > ARP_ENTRIES_MAX_LIMIT) {
        return fail(error, error_bytes, "netstack: arp_entries_max must be 1..%u",
                    ARP_ENTRIES_MAX_LIMIT);
    }
    if (config->arp_entry_lifetime_ms < NETSTACK_ARP_ENTRY_LIFETIME_MS_MIN) {
        return fail(error, error_bytes, "netstack: arp_entry_lifetime_ms must be >= %u",
                    NETSTACK_ARP_ENTRY_LIFETIME_MS_MIN);
    }
    return config_addresses_valid(config, error, error_bytes) &&
           config_tcp_valid(config, error, error_bytes) &&
           config_offload_valid(config, error, error_bytes);
}

/* ---- TX ---- */

/* The frame begun with frame_begin is complete. */
static void frame_send(struct netstack *stack, size_t bytes,
                       const struct netstack_tx_offload *offload)
{
    stack->io.frame_commit(stack->io.context, bytes, offload);
    stack->counters.frames_sent++;
}

/* A frame of `bytes` as sent: padded to the Ethernet minimum. */
static size_t frame_bytes_padded(size_t bytes)
{
    return bytes < WIRE_ETHERNET_FRAME_BYTES_MIN ? WIRE_ETHERNET_FRAME_BYTES_MIN : bytes;
}

/* A buffer for a frame of bytes_max (already padded) bytes, or NULL
 * (counted). */
static uint8_t *frame_begin(struct netstack *stack, size_t bytes_max)
{
    assert(bytes_max >= WIRE_ETHERNET_FRAME_BYTES_MIN);
    uint8_t *frame = stack->io.frame_begin(stack->io.context, bytes_max);
    if (frame == NULL) {
        stack->counters.tx_frames_dropped_no_buffer++;
    }
    return frame;
}

static const struct netstack_tx_offload no_offload = {
    .flags = 0,
    .l2_bytes = WIRE_ETHERNET_HEADER_BYTES,
};

static void arp_send(struct netstack *stack, uint16_t operation,
                     const uint8_t ethernet_destination[NETSTACK_MAC_BYTES],
                     const uint8_t target_mac[NETSTACK_MAC_BYTES], uint32_t target_ipv4)
{
    uint8_t *frame = frame_begin(stack, WIRE_ETHERNET_FRAME_BYTES_MIN);
    if (frame == NULL) {
        return;
    }
    struct wire_arp arp = {
        .operation = operation,
        .sender_ipv4 = stack->config.ipv4_address,
        .target_ipv4 = target_ipv4,
    };
    memcpy(arp.sender_mac, stack->config.mac, NETSTACK_MAC_BYTES);
    memcpy(arp.target_mac, target_mac, NETSTACK_MAC_BYTES);
    size_t bytes = wire_arp_frame_write(frame, WIRE_ETHERNET_FRAME_BYTES_MIN,
                                        ethernet_destination, &arp);
    assert(bytes == WIRE_ETHERNET_FRAME_BYTES_MIN);
    frame_send(stack, bytes, &no_offload);
    if (operation == WIRE_ARP_OPERATION_REQUEST) {
        stack->counters.arp_requests_sent++;
    } else {
        stack->counters.arp_replies_sent++;
    }
}

/* Asks who has `next_hop`, at most once per ARP_REQUEST_INTERVAL_US. */
static void arp_resolve(struct netstack *stack, uint32_t next_hop)
{
    static const uint8_t unknown_mac[NETSTACK_MAC_BYTES];
    if (arp_request_allowed(&stack->arp, next_hop, stack->now_us)) {
        arp_send(stack, WIRE_ARP_OPERATION_REQUEST, WIRE_MAC_BROADCAST, unknown_mac, next_hop);
    }
}

/* The MAC to send to `destination` through: the peer's when on-link, else
 * the gateway's. NULL (an ARP request asked, counted) when unknown. */
static const uint8_t *next_hop_mac(struct netstack *stack, uint32_t destination)
{
    uint32_t next_hop = destination;
    if (!ipv4_on_link(&stack->config, destination)) {
        next_hop = stack->config.ipv4_gateway;
    }
    if (next_hop == 0) {
        stack->counters.tx_frames_dropped_no_route++;
        return NULL;
    }
    const uint8_t *mac = arp_cache_lookup(&stack->arp, next_hop, stack->now_us);
    if (mac == NULL) {
        arp_resolve(stack, next_hop);
        stack->counters.tx_frames_dropped_no_route++;
        return NULL;
    }
    if (arp_cache_stale(&stack->arp, next_hop, stack->now_us)) {
        /* Ask again before the entry lapses; the reply refreshes it. The
         * request's frame is committed before the segment's is begun. */
        arp_resolve(stack, next_hop);
        mac = arp_cache_lookup(&stack->arp, next_hop, stack->now_us);
        assert(mac != NULL);
    }
    return mac;
}

/* struct tcp_output.segment: one segment as one frame. */
static bool segment_output(void *context, const struct tcp_segment_out *segment)
{
    struct netstack *stack = context;
    assert(segment->header.local_ipv4 == stack->config.ipv4_address);
    size_t frame_bytes = wire_tcp_frame_bytes(segment);
    if (segment->tso_segment_bytes == 0) {
        assert(frame_bytes - WIRE_ETHERNET_HEADER_BYTES <= stack->config.mtu);
    } else {
        assert(stack->config.tso_bytes_max != 0);
    }
    frame_bytes = frame_bytes_padded(frame_bytes);
    const uint8_t *mac = next_hop_mac(stack, segment->header.remote_ipv4);
    if (mac == NULL) {
        return false;
    }
    uint8_t *frame = frame_begin(stack, frame_bytes);
    if (frame == NULL) {
        return false;
    }
    struct wire_tcp_frame how = {
        .destination_mac = mac,
        .source_mac = stack->config.mac,
        .ipv4_identification = stack->ipv4_identification++,
        .tx_offload_flags = stack->config.tx_offload_flags,
    };
    struct netstack_tx_offload offload;
    size_t bytes = wire_tcp_frame_write(frame, frame_bytes, &how, segment, &offload);
    assert(bytes == frame_bytes);
    frame_send(stack, bytes, &offload);
    return true;
}

/* ---- RX ---- */

/* Remembers the MAC an on-link host sent from, so replies need no ARP. */
static void neighbour_learn(struct netstack *stack, uint32_t ipv4,
                            const uint8_t mac[NETSTACK_MAC_BYTES], uint64_t now_us)
{
    if (!ipv4_on_link(&stack->config, ipv4) || !ipv4_source_valid(&stack->config, ipv4) ||
        wire_mac_is_multicast(mac) || wire_mac_is_zero(mac)) {
        return;
    }
    if (arp_cache_insert(&stack->arp, ipv4, mac, now_us)) {
        stack->counters.arp_cache_evictions++;
    }
}

static void arp_input(struct netstack *stack, const struct wire_ethernet *ethernet,
                      uint64_t now_us)
{
    struct wire_arp arp;
    enum wire_parse parsed = wire_arp_parse(ethernet->payload, ethernet->payload_bytes, &arp);
    if (parsed == WIRE_PARSE_MALFORMED) {
        stack->counters.frames_malformed++;
        return;
    }
    if (parsed == WIRE_PARSE_UNSUPPORTED || arp.target_ipv4 != stack->config.ipv4_address) {
        stack->counters.frames_not_for_us++;
        return;
    }
    if (wire_mac_is_multicast(arp.sender_mac) || wire_mac_is_zero(arp.sender_mac)) {
        stack->counters.frames_malformed++;
        return;
    }
    /* A probe (RFC 5227, sender 0.0.0.0) is answered but teaches nothing. */
    if (arp.sender_ipv4 != 0) {
        neighbour_learn(stack, arp.sender_ipv4, arp.sender_mac, now_us);
    }
    if (arp.operation == WIRE_ARP_OPERATION_REQUEST) {
        arp_send(stack, WIRE_ARP_OPERATION_REPLY, arp.sender_mac, arp.sender_mac,
                 arp.sender_ipv4);
    }
    /* A connect's SYN dropped while ARP asked leaves now, not an RTO (1 s)
     * later. */
    if (arp.sender_ipv4 != 0) {
        tcp_resend_unsent_syns(stack->tcp, now_us);
    }
}

static void icmp_input(struct netstack *stack, const struct wire_ethernet *ethernet,
                       const struct wire_ipv4 *ipv4)
{
    const uint8_t *icmp = ipv4->payload;
    size_t icmp_bytes = ipv4->payload_bytes;
    if (icmp_bytes < WIRE_ICMP_HEADER_BYTES) {
        stack->counters.frames_malformed++;
        return;
    }
    if (icmp[0] != WIRE_ICMP_ECHO_REQUEST || icmp[1] != 0) {
        stack->counters.frames_not_for_us++;
        return;
    }
    /* No counter of its own: a bad ICMP checksum is a malformed frame. An
     * echo too big to answer within our MTU is as well. */
    if (wire_checksum_fold(wire_checksum_add(0, icmp, icmp_bytes)) != 0xffffu ||
        WIRE_IPV4_HEADER_BYTES_MIN + icmp_bytes > stack->config.mtu) {
        stack->counters.frames_malformed++;
        return;
    }
    size_t frame_bytes =
        frame_bytes_padded(WIRE_ETHERNET_HEADER_BYTES + WIRE_IPV4_HEADER_BYTES_MIN + icmp_bytes);
    uint8_t *frame = frame_begin(stack, frame_bytes);
    if (frame == NULL) {
        return;
    }
    /* Back the way it came: to the MAC it came from. */
    size_t bytes = wire_icmp_echo_reply_write(
        frame, frame_bytes, ethernet->source, stack->config.mac, stack->ipv4_identification++,
        stack->config.ipv4_address, ipv4->source, icmp, icmp_bytes);
    assert(bytes == frame_bytes);
    struct netstack_tx_offload offload = no_offload;
    offload.l3_bytes = WIRE_IPV4_HEADER_BYTES_MIN;
    frame_send(stack, bytes, &offload);
    stack->counters.icmp_echo_replies++;
}

static void tcp_segment_input(struct netstack *stack, const struct wire_ethernet *ethernet,
                              const struct wire_ipv4 *ipv4, uint32_t rx_flags, uint64_t now_us)
{
    if ((rx_flags & NETSTACK_RX_L4_CHECKSUM_BAD) ||
        (!(rx_flags & NETSTACK_RX_L4_CHECKSUM_GOOD) &&
         !wire_tcp_checksum_ok(ipv4->source, ipv4->destination, ipv4->payload,
                               ipv4->payload_bytes))) {
        stack->counters.tcp_checksum_bad++;
        return;
    }
    struct tcp_segment segment;
    if (wire_tcp_parse(ipv4->payload, ipv4->payload_bytes, &segment) != WIRE_PARSE_OK) {
        stack->counters.frames_malformed++;
        return;
    }
    segment.remote_ipv4 = ipv4->source;
    segment.local_ipv4 = ipv4->destination;
    neighbour_learn(stack, ipv4->source, ethernet->source, now_us);
    /* TCP knows which ports are ours (listen_port and the ephemeral ports
     * of connections we opened); the rest it counts in frames_not_for_us
     * and answers with a RST (RFC 9293). */
    tcp_input(stack->tcp, &segment, now_us);
}

/* The IPv4 packet's checks in RFC 1122's order; false when it was dropped
 * (and counted). */
static bool ipv4_acceptable(struct netstack *stack, const struct wire_ethernet *ethernet,
                            struct wire_ipv4 *ipv4, uint32_t rx_flags)
{
    if (wire_ipv4_parse(ethernet->payload, ethernet->payload_bytes, ipv4) != WIRE_PARSE_OK) {
        stack->counters.frames_malformed++;
        return false;
    }
    if ((rx_flags & NETSTACK_RX_IPV4_CHECKSUM_BAD) ||
        (!(rx_flags & NETSTACK_RX_IPV4_CHECKSUM_GOOD) &&
         !wire_ipv4_header_checksum_ok(ethernet->payload, ipv4->header_bytes))) {
        stack->counters.ipv4_checksum_bad++;
        return false;
    }
    if (ipv4->destination != stack->config.ipv4_address ||
        memcmp(ethernet->destination, stack->config.mac, NETSTACK_MAC_BYTES) != 0) {
        stack->counters.frames_not_for_us++;
        return false;
    }
    if (!ipv4_source_valid(&stack->config, ipv4->source)) {
        stack->counters.frames_malformed++;
        return false;
    }
    if (wire_ipv4_is_fragment(ipv4)) {
        stack->counters.ipv4_fragments_dropped++;
        return false;
    }
    return true;
}

static void ipv4_input(struct netstack *stack, const struct wire_ethernet *ethernet,
                       uint32_t rx_flags, uint64_t now_us)
{
    struct wire_ipv4 ipv4;
    if (!ipv4_acceptable(stack, ethernet, &ipv4, rx_flags)) {
        return;
    }
    switch (ipv4.protocol) {
    case WIRE_IP_PROTOCOL_TCP:
        tcp_segment_input(stack, ethernet, &ipv4, rx_flags, now_us);
        break;
    case WIRE_IP_PROTOCOL_ICMP:
        neighbour_learn(stack, ipv4.source, ethernet->source, now_us);
        icmp_input(stack, ethernet, &ipv4);
        break;
    default:
        stack->counters.frames_not_for_us++;
        break;
    }
}

void netstack_input(struct netstack *stack, const uint8_t *frame, size_t size,
                    uint32_t rx_flags, uint64_t now_us)
{
    stack->now_us = now_us;
    stack->counters.frames_received++;
    struct wire_ethernet ethernet;
    if (wire_ethernet_parse(frame, size, &ethernet) != WIRE_PARSE_OK) {
        stack->counters.frames_malformed++;
        return;
    }
    if (memcmp(ethernet.destination, stack->config.mac, NETSTACK_MAC_BYTES) != 0 &&
        !wire_mac_is_broadcast(ethernet.destination)) {
        stack->counters.frames_not_for_us++;
        return;
    }
    switch (ethernet.ethertype) {
    case WIRE_ETHERTYPE_ARP:
        arp_input(stack, &ethernet, now_us);
        break;
    case WIRE_ETHERTYPE_IPV4:
        ipv4_input(stack, &ethernet, rx_flags, now_us);
        break;
    default:
        stack->counters.frames_not_for_us++;
        break;
    }
}

/* ---- lifecycle and TCP pass-through ---- */

struct netstack *netstack_create(const struct netstack_config *config,
                                 const struct netstack_io *io,
                                 const struct netstack_callbacks *callbacks, void *context,
                                 char *error, size_t error_bytes)
{
    assert(io != NULL && io->frame_begin != NULL && io->frame_commit != NULL);
    assert(callbacks != NULL);
    if (!config_valid(config, error, error_bytes)) {
        return NULL;
    }
    struct netstack *stack = calloc(1, sizeof(*stack));
    if (stack == NULL) {
        fail(error, error_bytes, "netstack: out of memory");
        return NULL;
    }
    stack->config = *config;
    stack->io = *io;
    stack->callbacks = *callbacks;
    if (!arp_cache_init(&stack->arp, config->arp_entries_max, config->arp_entry_lifetime_ms)) {
        free(stack);
        fail(error, error_bytes, "netstack: out of memory for the ARP cache");
        return NULL;
    }
    const struct tcp_output output = {.context = stack, .segment = segment_output};
    stack->tcp = tcp_create(&stack->config, &output, &stack->callbacks, context,
                            &stack->counters, error, error_bytes);
    if (stack->tcp == NULL) {
        arp_cache_free(&stack->arp);
        free(stack);
        return NULL;
    }
    return stack;
}

void netstack_destroy(struct netstack *stack)
{
    if (stack == NULL) {
        return;
    }
    tcp_destroy(stack->tcp);
    arp_cache_free(&stack->arp);
    free(stack);
}

uint64_t netstack_poll(struct netstack *stack, uint64_t now_us)
{
    stack->now_us = now_us;
    uint64_t next_us = tcp_poll(stack->tcp, now_us);
    arp_cache_expire(&stack->arp, now_us);
    uint64_t arp_next_us = arp_cache_next_expiry(&stack->arp);
    return arp_next_us < next_us ? arp_next_us : next_us;
}

struct netstack_connection *netstack_connect(struct netstack *stack, uint32_t remote_ipv4,
                                             uint16_t remote_port, void *user,
                                             uint64_t now_us)
{
    stack->now_us = now_us; /* the SYN's ARP request is rate-limited by it */
    /* Only a host we could hear from: not us, a broadcast or a martian. */
    if (!ipv4_source_valid(&stack->config, remote_ipv4)) {
        stack->counters.tcp_connections_refused++;
        return NULL;
    }
    /* The first SYN to a neighbour not yet in the ARP cache is dropped
     * (tx_frames_dropped_no_route) while ARP asks; it goes when the reply
     * comes (arp_input), or at its retransmission if none does. */
    return tcp_connect(stack->tcp, remote_ipv4, remote_port, user, now_us);
}

bool netstack_send(struct netstack *stack, struct netstack_connection *connection,
                   const void *data, size_t size)
{
    return tcp_send(stack->tcp, connection, data, size);
}

void netstack_close(struct netstack *stack, struct netstack_connection *connection)
{
    tcp_close(stack->tcp, connection);
}

void netstack_set_receive_paused(struct netstack *stack, struct netstack_connection *connection,
                                 bool paused)
{
    tcp_set_receive_paused(stack->tcp, connection, paused);
}

size_t netstack_queued_bytes(const struct netstack *stack,
                             const struct netstack_connection *connection)
{
    return tcp_queued_bytes(stack->tcp, connection);
}

const struct netstack_counters *netstack_counters(const struct netstack *stack)
{
    return &stack->counters;
}

/* ---- software RSS ---- */

#define TOEPLITZ_INPUT_BYTES 12u /* two IPv4 addresses and two ports */

static uint32_t toeplitz(const uint8_t key[NETSTACK_RSS_KEY_BYTES], const uint8_t *input,
                         size_t input_bytes)
{
    /* The key must cover 32 bits past the input's last bit. */
    assert(input_bytes + sizeof(uint32_t) <= NETSTACK_RSS_KEY_BYTES);
    uint32_t hash = 0;
    uint32_t window = wire_load32(key); /* the key's 32 bits at the input bit's position */
    for (size_t byte = 0; byte < input_bytes; byte++) {
        uint8_t next_key_byte = key[byte + sizeof(uint32_t)];
        for (unsigned bit = 0; bit < 8; bit++) {
            if (input[byte] & (0x80u >> bit)) {
                hash ^= window;
            }
            window = window << 1 | ((next_key_byte >> (7u - bit)) & 1u);
        }
    }
    return hash;
}

uint32_t netstack_toeplitz_ipv4_tcp(const uint8_t key[NETSTACK_RSS_KEY_BYTES],
                                    uint32_t source_ipv4, uint32_t destination_ipv4,
                                    uint16_t source_port, uint16_t destination_port)
{
    uint8_t input[TOEPLITZ_INPUT_BYTES];
    wire_store32(input, source_ipv4);
    wire_store32(input + 4, destination_ipv4);
    wire_store16(input + 8, source_port);
    wire_store16(input + 10, destination_port);
    return toeplitz(key, input, sizeof(input));
}

/* The TCP ports of a whole (unfragmented) TCP/IPv4 frame; false otherwise. */
static bool frame_tcp_tuple(const struct wire_ethernet *ethernet, struct wire_ipv4 *ipv4,
                            uint16_t *source_port, uint16_t *destination_port)
{
    if (ethernet->ethertype != WIRE_ETHERTYPE_IPV4 ||
        wire_ipv4_parse(ethernet->payload, ethernet->payload_bytes, ipv4) != WIRE_PARSE_OK ||
        ipv4->protocol != WIRE_IP_PROTOCOL_TCP || wire_ipv4_is_fragment(ipv4) ||
        ipv4->payload_bytes < 2 * sizeof(uint16_t)) {
        return false;
    }
    *source_port = wire_load16(ipv4->payload);
    *destination_port = wire_load16(ipv4->payload + 2);
    return true;
}

int netstack_steer(const uint8_t *frame, size_t size, uint32_t shard_count,
                   uint32_t reta_entries)
{
    assert(shard_count >= 1 && shard_count <= (uint32_t)INT32_MAX);
    assert(reta_entries >= 1 && (reta_entries & (reta_entries - 1)) == 0);
    struct wire_ethernet ethernet;
    if (wire_ethernet_parse(frame, size, &ethernet) != WIRE_PARSE_OK) {
        return 0;
    }
    if (ethernet.ethertype == WIRE_ETHERTYPE_ARP) {
        return -1;
    }
    struct wire_ipv4 ipv4;
    uint16_t source_port;
    uint16_t destination_port;
    if (!frame_tcp_tuple(&ethernet, &ipv4, &source_port, &destination_port)) {
        return 0;
    }
    uint32_t hash = netstack_toeplitz_ipv4_tcp(NETSTACK_RSS_KEY, ipv4.source, ipv4.destination,
                                               source_port, destination_port);
    return (int)((hash & (reta_entries - 1)) % shard_count);
}
