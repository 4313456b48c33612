/* The netstack below TCP (dataplane/netstack/wire.c, arp.c, netstack.c):
 * frame formats and checksums against independently computed vectors,
 * every malformed-frame class counted and answered with nothing, ARP
 * (replies byte for byte, the cache's bounds and expiry, resolution of the
 * next hop), ICMP echo, Toeplitz against Microsoft's published RSS
 * verification values, steering, TX offloads, config validation, and a
 * handshake by frames through the real tcp.c.
 *
 * Input frames are built here by hand with this file's own checksum (not
 * wire.c's), so a wrong wire.c cannot agree with itself. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dataplane/netstack/arp.h"
#include "dataplane/netstack/netstack.h"
#include "dataplane/netstack/tcp.h"
#include "dataplane/netstack/wire.h"

/* ---- the test's own byte helpers and checksum --------------------------- */

static void put16(uint8_t *at, uint16_t value)
{
    at[0] = (uint8_t)(value >> 8);
    at[1] = (uint8_t)value;
}

static void put32(uint8_t *at, uint32_t value)
{
    put16(at, (uint16_t)(value >> 16));
    put16(at + 2, (uint16_t)value);
}

static uint16_t get16(const uint8_t *at)
{
    return (uint16_t)(at[0] << 8 | at[1]);
}

static uint32_t get32(const uint8_t *at)
{
    return (uint32_t)get16(at) << 16 | get16(at + 2);
}

/* RFC 1071, the obvious way: 32-bit sum, folded at the end. */
static uint32_t ref_sum(uint32_t sum, const uint8_t *bytes, size_t size)
{
    for (size_t index = 0; index < size; index += 2) {
        sum += (uint32_t)bytes[index] << 8;
        if (index + 1 < size) {
            sum += bytes[index + 1];
        }
    }
    return sum;
}

static uint16_t ref_fold(uint32_t sum)
{
    while (sum > 0xffffu) {
        sum = (sum & 0xffffu) + (sum >> 16);
    }
    return (uint16_t)sum;
}

static uint32_t ref_pseudo_sum(uint32_t source, uint32_t destination, uint16_t l4_bytes)
{
    return (source >> 16) + (source & 0xffffu) + (destination >> 16) + (destination & 0xffffu) +
           6u + l4_bytes;
}

static bool ref_tcp_checksum_ok(const uint8_t *ipv4_packet)
{
    size_t header_bytes = (size_t)(ipv4_packet[0] & 0x0fu) * 4u;
    uint16_t total = get16(ipv4_packet + 2);
    uint32_t sum = ref_pseudo_sum(get32(ipv4_packet + 12), get32(ipv4_packet + 16),
                                  (uint16_t)(total - header_bytes));
    return ref_fold(ref_sum(sum, ipv4_packet + header_bytes, total - header_bytes)) == 0xffffu;
}

static bool ref_ipv4_checksum_ok(const uint8_t *ipv4_packet)
{
    return ref_fold(ref_sum(0, ipv4_packet, (size_t)(ipv4_packet[0] & 0x0fu) * 4u)) == 0xffffu;
}

/* ---- addresses --------------------------------------------------------- */

#define IPV4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define OUR_IPV4 IPV4(10, 0, 0, 1)
#define OUR_NETMASK IPV4(255, 255, 255, 0)
#define GATEWAY_IPV4 IPV4(10, 0, 0, 254)
#define PEER_IPV4 IPV4(10, 0, 0, 2)
#define FAR_PEER_IPV4 IPV4(192, 0, 2, 7)
#define OUR_PORT 2181u
#define PEER_PORT 40000u

static const uint8_t our_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
static const uint8_t gateway_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0xfe};
static const uint8_t other_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x77};
static const uint8_t broadcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* ---- frames built by hand ---------------------------------------------- */

#define FRAME_BYTES 2048u

static size_t make_ethernet(uint8_t *frame, const uint8_t destination[6], const uint8_t source[6],
                            uint16_t ethertype)
{
    memcpy(frame, destination, 6);
    memcpy(frame + 6, source, 6);
    put16(frame + 12, ethertype);
    return 14;
}

/* Ethernet + a 20-byte IPv4 header (DF, TTL 64, checksum) + l4. */
static size_t make_ipv4_frame(uint8_t *frame, const uint8_t destination_mac[6],
                              const uint8_t source_mac[6], uint32_t source, uint32_t destination,
                              uint8_t protocol, const uint8_t *l4, size_t l4_bytes)
{
    size_t at = make_ethernet(frame, destination_mac, source_mac, 0x0800);
    uint8_t *ip = frame + at;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + l4_bytes));
    put16(ip + 4, 0x1234);
    put16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = protocol;
    put32(ip + 12, source);
    put32(ip + 16, destination);
    put16(ip + 10, (uint16_t)~ref_fold(ref_sum(0, ip, 20)));
    memcpy(ip + 20, l4, l4_bytes);
    return at + 20 + l4_bytes;
}

struct test_tcp {
    uint32_t source;
    uint32_t destination;
    uint16_t source_port;
    uint16_t destination_port;
    uint32_t seq;
    uint32_t ack;
    uint8_t flags;
    uint16_t window;
    const uint8_t *options; /* a multiple of 4 bytes */
    size_t options_bytes;
    const void *payload;
    size_t payload_bytes;
};

/* The TCP segment (checksummed) for `tcp`; returns its size. */
static size_t make_tcp_segment(uint8_t *segment, const struct test_tcp *tcp)
{
    size_t header_bytes = 20 + tcp->options_bytes;
    memset(segment, 0, 20);
    put16(segment, tcp->source_port);
    put16(segment + 2, tcp->destination_port);
    put32(segment + 4, tcp->seq);
    put32(segment + 8, tcp->ack);
    segment[12] = (uint8_t)(header_bytes / 4 << 4);
    segment[13] = tcp->flags;
    put16(segment + 14, tcp->window);
    if (tcp->options_bytes) {
        memcpy(segment + 20, tcp->options, tcp->options_bytes);
    }
    if (tcp->payload_bytes) {
        memcpy(segment + header_bytes, tcp->payload, tcp->payload_bytes);
    }
    size_t bytes = header_bytes + tcp->payload_bytes;
    uint32_t sum = ref_pseudo_sum(tcp->source, tcp->destination, (uint16_t)bytes);
    put16(segment + 16, (uint16_t)~ref_fold(ref_sum(sum, segment, bytes)));
    return bytes;
}

static size_t make_tcp_frame(uint8_t *frame, const uint8_t source_mac[6],
                             const struct test_tcp *tcp)
{
    uint8_t segment[FRAME_BYTES];
    size_t bytes = make_tcp_segment(segment, tcp);
    return make_ipv4_frame(frame, our_mac, source_mac, tcp->source, tcp->destination, 6, segment,
                           bytes);
}

static size_t make_arp_frame(uint8_t *frame, const uint8_t ethernet_destination[6],
                             uint16_t operation, const uint8_t sender_mac[6],
                             uint32_t sender_ipv4, const uint8_t target_mac[6],
                             uint32_t target_ipv4)
{
    size_t at = make_ethernet(frame, ethernet_destination, sender_mac, 0x0806);
    uint8_t *arp = frame + at;
    put16(arp, 1);
    put16(arp + 2, 0x0800);
    arp[4] = 6;
    arp[5] = 4;
    put16(arp + 6, operation);
    memcpy(arp + 8, sender_mac, 6);
    put32(arp + 14, sender_ipv4);
    memcpy(arp + 18, target_mac, 6);
    put32(arp + 24, target_ipv4);
    /* Padded to 60 like a real frame on the wire. */
    memset(frame + at + 28, 0, 60 - at - 28);
    return 60;
}

static size_t make_icmp_echo(uint8_t *icmp, uint16_t identifier, uint16_t sequence,
                             size_t data_bytes)
{
    icmp[0] = 8;
    icmp[1] = 0;
    put16(icmp + 2, 0);
    put16(icmp + 4, identifier);
    put16(icmp + 6, sequence);
    for (size_t index = 0; index < data_bytes; index++) {
        icmp[8 + index] = (uint8_t)(index * 7 + 3);
    }
    put16(icmp + 2, (uint16_t)~ref_fold(ref_sum(0, icmp, 8 + data_bytes)));
    return 8 + data_bytes;
}

/* ---- the harness: a netstack whose io captures frames ------------------ */

#define CAPTURED_FRAMES_MAX 64u
#define RECEIVED_BYTES_MAX 65536u

struct captured_frame {
    uint8_t *bytes;
    size_t size;
    size_t bytes_max;
    struct netstack_tx_offload offload;
};

struct harness {
    struct netstack_config config;
    struct netstack *stack;
    struct captured_frame frames[CAPTURED_FRAMES_MAX];
    size_t frame_count;
    uint8_t *pending; /* begun, not committed */
    size_t pending_bytes_max;
    bool buffers_exhausted;
    int accepted;
    struct netstack_connection *connection;
    uint32_t accepted_ipv4;
    uint16_t accepted_port;
    uint8_t received[RECEIVED_BYTES_MAX];
    size_t received_bytes;
    int closed;
    enum netstack_close_reason close_reason;
    uint64_t now_us;
};

static int user_token; /* the shard's pointer for an accepted connection */

static uint8_t *capture_begin(void *context, size_t bytes_max)
{
    struct harness *harness = context;
    assert_null(harness->pending); /* at most one frame begun at a time */
    if (harness->buffers_exhausted) {
        return NULL;
    }
    assert_true(bytes_max >= 60);
    harness->pending = malloc(bytes_max);
    assert_non_null(harness->pending);
    /* Garbage, so bytes the stack forgets to write are seen. */
    memset(harness->pending, 0xa5, bytes_max);
    harness->pending_bytes_max = bytes_max;
    return harness->pending;
}

static void capture_commit(void *context, size_t bytes, const struct netstack_tx_offload *offload)
{
    struct harness *harness = context;
    assert_non_null(harness->pending);
    assert_true(bytes <= harness->pending_bytes_max);
    assert_true(bytes >= 60);
    assert_true(harness->frame_count < CAPTURED_FRAMES_MAX);
    struct captured_frame *frame = &harness->frames[harness->frame_count++];
    frame->bytes = harness->pending;
    frame->size = bytes;
    frame->bytes_max = harness->pending_bytes_max;
    frame->offload = *offload;
    harness->pending = NULL;
}

static void *on_accepted(void *context, struct netstack_connection *connection,
                         uint32_t peer_ipv4, uint16_t peer_port)
{
    struct harness *harness = context;
    harness->accepted++;
    harness->connection = connection;
    harness->accepted_ipv4 = peer_ipv4;
    harness->accepted_port = peer_port;
    return &user_token;
}

static void on_received(void *context, void *user, const uint8_t *data, size_t size)
{
    struct harness *harness = context;
    assert_ptr_equal(user, &user_token);
    assert_true(harness->received_bytes + size <= RECEIVED_BYTES_MAX);
    memcpy(harness->received + harness->received_bytes, data, size);
    harness->received_bytes += size;
}

static void on_closed(void *context, void *user, enum netstack_close_reason reason)
{
    struct harness *harness = context;
    assert_ptr_equal(user, &user_token);
    harness->closed++;
    harness->close_reason = reason;
}

static void frames_clear(struct harness *harness)
{
    for (size_t index = 0; index < harness->frame_count; index++) {
        free(harness->frames[index].bytes);
    }
    harness->frame_count = 0;
}

static void base_config(struct netstack_config *config)
{
    netstack_config_defaults(config);
    memcpy(config->mac, our_mac, 6);
    config->ipv4_address = OUR_IPV4;
    config->ipv4_netmask = OUR_NETMASK;
    config->ipv4_gateway = GATEWAY_IPV4;
    config->listen_port = OUR_PORT;
    for (unsigned index = 0; index < sizeof(config->isn_secret); index++) {
        config->isn_secret[index] = (uint8_t)(index * 13 + 1);
    }
}

static const struct netstack_io capture_io = {
    .frame_begin = capture_begin,
    .frame_commit = capture_commit,
};
static const struct netstack_callbacks test_callbacks = {
    .accepted = on_accepted,
    .received = on_received,
    .closed = on_closed,
};

static void harness_start(struct harness *harness)
{
    struct netstack_io io = capture_io;
    io.context = harness;
    char error[256] = "";
    harness->stack =
        netstack_create(&harness->config, &io, &test_callbacks, harness, error, sizeof(error));
    if (harness->stack == NULL) {
        fail_msg("netstack_create: %s", error);
    }
    harness->now_us = 1000000;
}

static int harness_setup(void **state)
{
    struct harness *harness = calloc(1, sizeof(*harness));
    assert_non_null(harness);
    base_config(&harness->config);
    *state = harness;
    return 0;
}

static int harness_teardown(void **state)
{
    struct harness *harness = *state;
    netstack_destroy(harness->stack);
    frames_clear(harness);
    free(harness->pending);
    free(harness);
    return 0;
}

static struct harness *started(void **state)
{
    struct harness *harness = *state;
    harness_start(harness);
    return harness;
}

static void input(struct harness *harness, const uint8_t *frame, size_t size, uint32_t rx_flags)
{
    /* An exact-size heap copy: AddressSanitizer catches reads past it. */
    uint8_t *copy = malloc(size ? size : 1);
    assert_non_null(copy);
    memcpy(copy, frame, size);
    netstack_input(harness->stack, copy, size, rx_flags, harness->now_us);
    free(copy);
}

static const struct netstack_counters *counters(const struct harness *harness)
{
    return netstack_counters(harness->stack);
}

/* ---- checksum vectors --------------------------------------------------- */

static void test_checksum_vectors(void **state)
{
    (void)state;
    /* RFC 1071 section 3's example: the folded sum is 0xddf2. */
    static const uint8_t rfc1071[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    assert_int_equal(wire_checksum_fold(wire_checksum_add(0, rfc1071, sizeof(rfc1071))), 0xddf2);
    assert_int_equal(wire_checksum(rfc1071, sizeof(rfc1071)), 0x220d);
    /* A classic IPv4 header (checksum field zeroed): 0xb861. */
    uint8_t header[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                        0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    assert_int_equal(wire_checksum(header, sizeof(header)), 0xb861);
    put16(header + 10, 0xb861);
    assert_true(wire_ipv4_header_checksum_ok(header, sizeof(header)));
    header[15] ^= 1;
    assert_false(wire_ipv4_header_checksum_ok(header, sizeof(header)));
    /* An odd byte is padded with zero on the right. */
    static const uint8_t odd[] = {0x12, 0x34, 0x56};
    assert_int_equal(wire_checksum_fold(wire_checksum_add(0, odd, sizeof(odd))), 0x6834);
    /* A large sum folds more than once: 40000 words of 0xffff sum to 0xffff. */
    uint8_t *ones = malloc(80000);
    assert_non_null(ones);
    memset(ones, 0xff, 80000);
    assert_int_equal(wire_checksum_fold(wire_checksum_add(0, ones, 80000)), 0xffff);
    free(ones);
}

/* 192.168.1.2:40000 -> 192.168.1.10:2181, seq 0x01020304, ack 0x0a0b0c0d,
 * PSH|ACK, window 1024, 17 bytes "hello, zookeeper!": its checksum (0x3e4b)
 * and the pseudo-header sums a port doing offload wants (0x8388 with the
 * length 37, 0x8363 without it for TSO) were computed with a separate
 * Python implementation; the pseudo-header sums also agree with DPDK's
 * rte_ipv4_phdr_cksum. */
static void test_tcp_checksum_vector(void **state)
{
    (void)state;
    uint32_t source = IPV4(192, 168, 1, 2);
    uint32_t destination = IPV4(192, 168, 1, 10);
    static const char payload[] = "hello, zookeeper!";
    struct test_tcp tcp = {
        .source = source, .destination = destination, .source_port = 40000,
        .destination_port = 2181, .seq = 0x01020304, .ack = 0x0a0b0c0d, .flags = 0x18,
        .window = 1024, .payload = payload, .payload_bytes = 17,
    };
    uint8_t segment[64];
    size_t bytes = make_tcp_segment(segment, &tcp);
    assert_int_equal(bytes, 37);
    assert_int_equal(get16(segment + 16), 0x3e4b);
    assert_true(wire_tcp_checksum_ok(source, destination, segment, bytes));
    put16(segment + 16, 0);
    assert_int_equal(wire_tcp_checksum(source, destination, segment, bytes), 0x3e4b);
    put16(segment + 16, 0x3e4b);
    segment[36] ^= 0x40; /* one payload bit */
    assert_false(wire_tcp_checksum_ok(source, destination, segment, bytes));
    assert_int_equal(wire_tcp_offload_checksum(source, destination, 37), 0x8388);
    assert_int_equal(wire_tcp_offload_checksum(source, destination, 0), 0x8363);
}

/* ---- TCP options and frames: build, parse back -------------------------- */

static struct tcp_segment_out full_segment(void)
{
    struct tcp_segment_out out;
    memset(&out, 0, sizeof(out));
    out.header.remote_ipv4 = PEER_IPV4;
    out.header.local_ipv4 = OUR_IPV4;
    out.header.remote_port = PEER_PORT;
    out.header.local_port = OUR_PORT;
    out.header.seq = 0xfffffff0u;
    out.header.ack = 0x80000001u;
    out.header.flags = TCP_FLAG_SYN | TCP_FLAG_ACK;
    out.header.window = 64240;
    out.header.mss = 1460;
    out.header.sack_permitted = true;
    out.header.has_timestamps = true;
    out.header.timestamp_value = 0x11223344u;
    out.header.timestamp_echo = 0x55667788u;
    out.header.has_window_scale = true;
    out.header.window_scale = 7;
    return out;
}

static void test_tcp_options_linux_order(void **state)
{
    (void)state;
    struct tcp_segment_out out = full_segment();
    uint8_t options[40];
    /* Linux's SYN-ACK: MSS, SACK permitted + timestamps, NOP + window scale. */
    static const uint8_t all[] = {0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x11, 0x22,
                                  0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x01, 0x03, 0x03, 0x07};
    assert_int_equal(wire_tcp_options_write(options, &out.header), sizeof(all));
    assert_memory_equal(options, all, sizeof(all));
    /* Timestamps alone: NOP NOP first (Linux's data segments). */
    struct tcp_segment header = {.has_timestamps = true, .timestamp_value = 1, .timestamp_echo = 2};
    static const uint8_t timestamps[] = {0x01, 0x01, 0x08, 0x0a, 0, 0, 0, 1, 0, 0, 0, 2};
    assert_int_equal(wire_tcp_options_bytes(&header), sizeof(timestamps));
    assert_int_equal(wire_tcp_options_write(options, &header), sizeof(timestamps));
    assert_memory_equal(options, timestamps, sizeof(timestamps));
    /* SACK permitted without timestamps: NOP NOP SACK-permitted. */
    struct tcp_segment sack = {.mss = 536, .sack_permitted = true};
    static const uint8_t sack_bytes[] = {0x02, 0x04, 0x02, 0x18, 0x01, 0x01, 0x04, 0x02};
    assert_int_equal(wire_tcp_options_write(options, &sack), sizeof(sack_bytes));
    assert_memory_equal(options, sack_bytes, sizeof(sack_bytes));
    struct tcp_segment none = {.flags = TCP_FLAG_ACK};
    assert_int_equal(wire_tcp_options_bytes(&none), 0);
}

static void check_parsed_like(const struct tcp_segment *parsed, const struct tcp_segment *sent)
{
    assert_int_equal(parsed->remote_port, sent->local_port); /* seen from the other end */
    assert_int_equal(parsed->local_port, sent->remote_port);
    assert_int_equal(parsed->seq, sent->seq);
    assert_int_equal(parsed->ack, sent->ack);
    assert_int_equal(parsed->flags, sent->flags);
    assert_int_equal(parsed->window, sent->window);
    assert_int_equal(parsed->mss, sent->mss);
    assert_int_equal(parsed->sack_permitted, sent->sack_permitted);
    assert_int_equal(parsed->has_timestamps, sent->has_timestamps);
    assert_int_equal(parsed->timestamp_value, sent->timestamp_value);
    assert_int_equal(parsed->timestamp_echo, sent->timestamp_echo);
    assert_int_equal(parsed->has_window_scale, sent->has_window_scale);
    assert_int_equal(parsed->window_scale, sent->window_scale);
}

static void test_tcp_frame_round_trip(void **state)
{
    (void)state;
    struct tcp_segment_out out = full_segment();
    /* The payload in two parts, the first odd-sized (a ring's wrap). */
    static const uint8_t first[] = "abc";
    static const uint8_t second[] = "defghij";
    out.header.flags = TCP_FLAG_ACK | TCP_FLAG_PSH;
    out.parts[0] = first;
    out.part_bytes[0] = 3;
    out.parts[1] = second;
    out.part_bytes[1] = 7;
    uint8_t frame[256];
    memset(frame, 0xa5, sizeof(frame));
    struct wire_tcp_frame how = {.destination_mac = peer_mac, .source_mac = our_mac,
                                 .ipv4_identification = 0x4242};
    struct netstack_tx_offload offload;
    size_t bytes = wire_tcp_frame_write(frame, sizeof(frame), &how, &out, &offload);
    assert_int_equal(bytes, 14 + 20 + 40 + 10);
    assert_int_equal(wire_tcp_frame_bytes(&out), bytes);
    assert_int_equal(offload.flags, 0);
    assert_int_equal(offload.l2_bytes, 14);
    assert_int_equal(offload.l3_bytes, 20);
    assert_int_equal(offload.l4_bytes, 40);
    /* Checked with the test's own checksum. */
    assert_true(ref_ipv4_checksum_ok(frame + 14));
    assert_true(ref_tcp_checksum_ok(frame + 14));
    assert_memory_equal(frame, peer_mac, 6);
    assert_memory_equal(frame + 6, our_mac, 6);
    assert_int_equal(get16(frame + 12), 0x0800);
    assert_int_equal(frame[14], 0x45);
    assert_int_equal(get16(frame + 14 + 4), 0x4242);
    assert_int_equal(get16(frame + 14 + 6), 0x4000); /* DF */
    assert_int_equal(frame[14 + 8], 64);             /* TTL */

    struct wire_ethernet ethernet;
    assert_int_equal(wire_ethernet_parse(frame, bytes, &ethernet), WIRE_PARSE_OK);
    struct wire_ipv4 ipv4;
    assert_int_equal(wire_ipv4_parse(ethernet.payload, ethernet.payload_bytes, &ipv4),
                     WIRE_PARSE_OK);
    assert_int_equal(ipv4.source, OUR_IPV4);
    assert_int_equal(ipv4.destination, PEER_IPV4);
    assert_int_equal(ipv4.protocol, 6);
    assert_false(wire_ipv4_is_fragment(&ipv4));
    struct tcp_segment parsed;
    assert_int_equal(wire_tcp_parse(ipv4.payload, ipv4.payload_bytes, &parsed), WIRE_PARSE_OK);
    check_parsed_like(&parsed, &out.header);
    assert_int_equal(parsed.payload_bytes, 10);
    assert_memory_equal(parsed.payload, "abcdefghij", 10);

    /* A pure ACK is padded to the 60-byte minimum with zeros. */
    struct tcp_segment_out ack;
    memset(&ack, 0, sizeof(ack));
    ack.header = out.header;
    ack.header.mss = 0;
    ack.header.sack_permitted = false;
    ack.header.has_timestamps = false;
    ack.header.has_window_scale = false;
    memset(frame, 0xa5, sizeof(frame));
    bytes = wire_tcp_frame_write(frame, sizeof(frame), &how, &ack, &offload);
    assert_int_equal(bytes, 60);
    assert_int_equal(get16(frame + 14 + 2), 40);
    for (size_t index = 54; index < 60; index++) {
        assert_int_equal(frame[index], 0);
    }
    /* Too small a buffer: nothing. */
    assert_int_equal(wire_tcp_frame_write(frame, 59, &how, &ack, &offload), 0);
}

static void test_tcp_parse_options(void **state)
{
    (void)state;
    uint8_t segment[64];
    /* Linux's SYN: MSS, SACK-permitted, timestamps, NOP, window scale 7,
     * with an unknown option (kind 30, length 4) and EOL at the end. */
    static const uint8_t options[] = {0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a,
                                      0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00,
                                      0x01, 0x03, 0x03, 0x07, 0x1e, 0x04, 0xaa, 0xbb,
                                      0x00, 0x00, 0x00, 0x00};
    struct test_tcp tcp = {.source = PEER_IPV4, .destination = OUR_IPV4, .source_port = 1,
                           .destination_port = 2, .flags = 0xc2 /* CWR|ECE|SYN */,
                           .options = options, .options_bytes = sizeof(options)};
    size_t bytes = make_tcp_segment(segment, &tcp);
    struct tcp_segment parsed;
    assert_int_equal(wire_tcp_parse(segment, bytes, &parsed), WIRE_PARSE_OK);
    assert_int_equal(parsed.flags, TCP_FLAG_SYN); /* ECN bits not passed up */
    assert_int_equal(parsed.mss, 1460);
    assert_true(parsed.sack_permitted);
    assert_true(parsed.has_timestamps);
    assert_int_equal(parsed.timestamp_value, 9);
    assert_int_equal(parsed.timestamp_echo, 0);
    assert_true(parsed.has_window_scale);
    assert_int_equal(parsed.window_scale, 7);
    assert_int_equal(parsed.payload_bytes, 0);
    /* A window scale above 14 is taken as 14 (RFC 7323 2.3). */
    static const uint8_t big_scale[] = {0x01, 0x03, 0x03, 0x0f};
    tcp.options = big_scale;
    tcp.options_bytes = sizeof(big_scale);
    bytes = make_tcp_segment(segment, &tcp);
    assert_int_equal(wire_tcp_parse(segment, bytes, &parsed), WIRE_PARSE_OK);
    assert_int_equal(parsed.window_scale, 14);
    assert_int_equal(parsed.mss, 0);
    assert_false(parsed.has_timestamps);
}

static void test_tcp_parse_malformed(void **state)
{
    (void)state;
    static const uint8_t zero_length[] = {0x1e, 0x00, 0x01, 0x01};
    static const uint8_t one_length[] = {0x1e, 0x01, 0x01, 0x01};
    static const uint8_t past_end[] = {0x01, 0x1e, 0x04, 0x00};
    static const uint8_t mss_length[] = {0x02, 0x03, 0x05, 0x00};
    static const uint8_t timestamps_length[] = {0x08, 0x04, 0x00, 0x00};
    static const uint8_t window_scale_length[] = {0x03, 0x04, 0x07, 0x00};
    static const uint8_t sack_length[] = {0x04, 0x03, 0x00, 0x01};
    static const uint8_t kind_without_length[] = {0x01, 0x01, 0x01, 0x1e};
    const struct {
        const uint8_t *options;
    } cases[] = {{zero_length},  {one_length},         {past_end},
                 {mss_length},   {timestamps_length},  {window_scale_length},
                 {sack_length},  {kind_without_length}};
    uint8_t segment[64];
    struct tcp_segment parsed;
    for (size_t index = 0; index < sizeof(cases) / sizeof(cases[0]); index++) {
        struct test_tcp tcp = {.source = PEER_IPV4, .destination = OUR_IPV4,
                               .options = cases[index].options, .options_bytes = 4};
        size_t bytes = make_tcp_segment(segment, &tcp);
        if (wire_tcp_parse(segment, bytes, &parsed) != WIRE_PARSE_MALFORMED) {
            fail_msg("option case %zu parsed", index);
        }
    }
    struct test_tcp plain = {.source = PEER_IPV4, .destination = OUR_IPV4};
    size_t bytes = make_tcp_segment(segment, &plain);
    assert_int_equal(wire_tcp_parse(segment, 19, &parsed), WIRE_PARSE_MALFORMED);
    segment[12] = 4 << 4; /* data offset 4 */
    assert_int_equal(wire_tcp_parse(segment, bytes, &parsed), WIRE_PARSE_MALFORMED);
    segment[12] = 6 << 4; /* 24-byte header in 20 bytes */
    assert_int_equal(wire_tcp_parse(segment, bytes, &parsed), WIRE_PARSE_MALFORMED);
    segment[12] = 5 << 4;
    assert_int_equal(wire_tcp_parse(segment, bytes, &parsed), WIRE_PARSE_OK);
}

/* ---- TX offloads (the builder and the flags it reports) ----------------- */

static void test_tx_offload_flags(void **state)
{
    (void)state;
    struct tcp_segment_out out = full_segment();
    static uint8_t payload[3000];
    for (size_t index = 0; index < sizeof(payload); index++) {
        payload[index] = (uint8_t)index;
    }
    out.parts[0] = payload;
    out.part_bytes[0] = 1000;
    uint8_t *frame = malloc(4096);
    assert_non_null(frame);
    struct netstack_tx_offload offload;
    struct wire_tcp_frame how = {.destination_mac = peer_mac, .source_mac = our_mac};

    /* The IPv4 checksum left to the port: 0 in the header, TCP's in software. */
    how.tx_offload_flags = NETSTACK_TX_IPV4_CHECKSUM;
    size_t bytes = wire_tcp_frame_write(frame, 4096, &how, &out, &offload);
    assert_int_equal(offload.flags, NETSTACK_TX_IPV4_CHECKSUM);
    assert_int_equal(get16(frame + 14 + 10), 0);
    assert_true(ref_tcp_checksum_ok(frame + 14));

    /* The TCP checksum left to the port: the field holds the pseudo-header
     * sum, length included, not inverted. */
    how.tx_offload_flags = NETSTACK_TX_IPV4_CHECKSUM | NETSTACK_TX_TCP_CHECKSUM;
    bytes = wire_tcp_frame_write(frame, 4096, &how, &out, &offload);
    assert_int_equal(offload.flags, NETSTACK_TX_IPV4_CHECKSUM | NETSTACK_TX_TCP_CHECKSUM);
    uint16_t l4_bytes = (uint16_t)(bytes - 14 - 20);
    assert_int_equal(get16(frame + 14 + 20 + 16),
                     ref_fold(ref_pseudo_sum(OUR_IPV4, PEER_IPV4, l4_bytes)));
    /* What the port then does makes a valid checksum. */
    put16(frame + 14 + 20 + 16,
          (uint16_t)~ref_fold(ref_sum(0, frame + 14 + 20, l4_bytes)));
    assert_true(ref_tcp_checksum_ok(frame + 14));
    assert_int_equal(offload.segment_bytes, 0);

    /* The TCP checksum alone offloaded: the IPv4 header is complete. */
    how.tx_offload_flags = NETSTACK_TX_TCP_CHECKSUM;
    wire_tcp_frame_write(frame, 4096, &how, &out, &offload);
    assert_int_equal(offload.flags, NETSTACK_TX_TCP_CHECKSUM);
    assert_true(ref_ipv4_checksum_ok(frame + 14));

    /* TSO flags supported but this segment is not cut: no TSO asked. */
    how.tx_offload_flags = NETSTACK_TX_IPV4_CHECKSUM | NETSTACK_TX_TCP_CHECKSUM |
                           NETSTACK_TX_TCP_SEGMENT;
    wire_tcp_frame_write(frame, 4096, &how, &out, &offload);
    assert_int_equal(offload.flags, NETSTACK_TX_IPV4_CHECKSUM | NETSTACK_TX_TCP_CHECKSUM);

    /* TSO: the pseudo-header sum without the length, the MSS to cut at. */
    out.part_bytes[0] = 3000;
    out.tso_segment_bytes = 1448;
    bytes = wire_tcp_frame_write(frame, 4096, &how, &out, &offload);
    assert_int_equal(bytes, 14 + 20 + 40 + 3000);
    assert_int_equal(offload.flags, NETSTACK_TX_IPV4_CHECKSUM | NETSTACK_TX_TCP_CHECKSUM |
                                        NETSTACK_TX_TCP_SEGMENT);
    assert_int_equal(offload.segment_bytes, 1448);
    assert_int_equal(offload.l4_bytes, 40);
    assert_int_equal(get16(frame + 14 + 10), 0);
    assert_int_equal(get16(frame + 14 + 2), 20 + 40 + 3000);
    assert_int_equal(get16(frame + 14 + 20 + 16), ref_fold(ref_pseudo_sum(OUR_IPV4, PEER_IPV4, 0)));
    assert_memory_equal(frame + 14 + 20 + 40, payload, 3000);

    /* No offload: everything computed. */
    out.tso_segment_bytes = 0;
    out.part_bytes[0] = 1000;
    how.tx_offload_flags = 0;
    wire_tcp_frame_write(frame, 4096, &how, &out, &offload);
    assert_int_equal(offload.flags, 0);
    assert_true(ref_ipv4_checksum_ok(frame + 14));
    assert_true(ref_tcp_checksum_ok(frame + 14));
    free(frame);
}

/* ---- IPv4 parse --------------------------------------------------------- */

static void test_ipv4_parse(void **state)
{
    (void)state;
    uint8_t frame[128];
    uint8_t l4[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    size_t bytes = make_ipv4_frame(frame, our_mac, peer_mac, PEER_IPV4, OUR_IPV4, 17, l4, 8);
    uint8_t *ip = frame + 14;
    size_t ip_bytes = bytes - 14;
    struct wire_ipv4 parsed;
    assert_int_equal(wire_ipv4_parse(ip, ip_bytes, &parsed), WIRE_PARSE_OK);
    assert_int_equal(parsed.header_bytes, 20);
    assert_int_equal(parsed.total_bytes, 28);
    assert_int_equal(parsed.payload_bytes, 8);
    assert_int_equal(parsed.identification, 0x1234);
    assert_int_equal(parsed.source, PEER_IPV4);
    assert_int_equal(parsed.destination, OUR_IPV4);
    assert_int_equal(parsed.protocol, 17);
    assert_int_equal(parsed.ttl, 64);
    /* Trailing Ethernet padding is allowed: the payload ends at total. */
    assert_int_equal(wire_ipv4_parse(ip, ip_bytes + 18, &parsed), WIRE_PARSE_OK);
    assert_int_equal(parsed.payload_bytes, 8);
    assert_int_equal(wire_ipv4_parse(ip, 19, &parsed), WIRE_PARSE_MALFORMED);
    assert_int_equal(wire_ipv4_parse(ip, ip_bytes - 1, &parsed), WIRE_PARSE_MALFORMED);
    ip[0] = 0x44;
    assert_int_equal(wire_ipv4_parse(ip, ip_bytes, &parsed), WIRE_PARSE_MALFORMED);
    ip[0] = 0x65;
    assert_int_equal(wire_ipv4_parse(ip, ip_bytes, &parsed), WIRE_PARSE_MALFORMED);
    ip[0] = 0x48; /* 32-byte header in 28 bytes */
    assert_int_equal(wire_ipv4_parse(ip, ip_bytes, &parsed), WIRE_PARSE_MALFORMED);
    ip[0] = 0x46; /* 24-byte header (options) with total 28: OK, 4 payload bytes */
    assert_int_equal(wire_ipv4_parse(ip, ip_bytes, &parsed), WIRE_PARSE_OK);
    assert_int_equal(parsed.payload_bytes, 4);
    assert_ptr_equal(parsed.payload, ip + 24);
    ip[0] = 0x45;
    put16(ip + 2, 19); /* total below the header */
    assert_int_equal(wire_ipv4_parse(ip, ip_bytes, &parsed), WIRE_PARSE_MALFORMED);
    put16(ip + 2, 28);
    put16(ip + 6, 0x2000);
    assert_int_equal(wire_ipv4_parse(ip, ip_bytes, &parsed), WIRE_PARSE_OK);
    assert_true(wire_ipv4_is_fragment(&parsed));
    put16(ip + 6, 0x4001);
    assert_int_equal(wire_ipv4_parse(ip, ip_bytes, &parsed), WIRE_PARSE_OK);
    assert_true(wire_ipv4_is_fragment(&parsed));
    put16(ip + 6, 0x4000);
    assert_int_equal(wire_ipv4_parse(ip, ip_bytes, &parsed), WIRE_PARSE_OK);
    assert_false(wire_ipv4_is_fragment(&parsed));
}

/* ---- ARP cache ---------------------------------------------------------- */

static void test_arp_cache_bounds_and_expiry(void **state)
{
    (void)state;
    struct arp_cache cache;
    assert_true(arp_cache_init(&cache, 3, 10000)); /* 3 entries, 10 s */
    uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0};
    assert_int_equal(arp_cache_next_expiry(&cache), UINT64_MAX);
    for (uint32_t index = 0; index < 3; index++) {
        mac[5] = (uint8_t)index;
        assert_false(arp_cache_insert(&cache, 100 + index, mac, 1000000 + index * 1000000ull));
    }
    assert_int_equal(cache.count, 3);
    assert_int_equal(arp_cache_next_expiry(&cache), 1000000 + 10000000);
    /* Refreshing an entry is not an eviction and moves its expiry. */
    mac[5] = 0x40;
    assert_false(arp_cache_insert(&cache, 100, mac, 4000000));
    assert_int_equal(arp_cache_lookup(&cache, 100, 4000000)[5], 0x40);
    assert_int_equal(arp_cache_next_expiry(&cache), 2000000 + 10000000);
    /* Full: the entry learned longest ago (101) goes. */
    mac[5] = 0x50;
    assert_true(arp_cache_insert(&cache, 200, mac, 5000000));
    assert_int_equal(cache.count, 3);
    assert_null(arp_cache_lookup(&cache, 101, 5000000));
    assert_non_null(arp_cache_lookup(&cache, 100, 5000000));
    assert_non_null(arp_cache_lookup(&cache, 102, 5000000));
    assert_int_equal(arp_cache_lookup(&cache, 200, 5000000)[5], 0x50);
    /* Stale in the last quarter of its life (102: learned at 3 s, stale
     * from 10.5 s), gone at 13 s; lookups stop before expire runs. */
    assert_false(arp_cache_stale(&cache, 102, 10400000));
    assert_true(arp_cache_stale(&cache, 102, 10500000));
    assert_non_null(arp_cache_lookup(&cache, 102, 12999999));
    assert_null(arp_cache_lookup(&cache, 102, 13000000));
    assert_false(arp_cache_stale(&cache, 102, 13000000));
    assert_int_equal(arp_cache_expire(&cache, 13000000), 1);
    assert_int_equal(cache.count, 2);
    assert_int_equal(arp_cache_expire(&cache, 14000000), 1); /* 100, learned at 4 s */
    assert_int_equal(arp_cache_next_expiry(&cache), 15000000);
    assert_int_equal(arp_cache_expire(&cache, 15000000), 1);
    assert_int_equal(cache.count, 0);
    assert_int_equal(arp_cache_next_expiry(&cache), UINT64_MAX);
    arp_cache_free(&cache);
}

static void test_arp_request_rate_limit(void **state)
{
    (void)state;
    struct arp_cache cache;
    assert_true(arp_cache_init(&cache, 4, 10000));
    assert_true(arp_request_allowed(&cache, 7, 1000000));
    assert_false(arp_request_allowed(&cache, 7, 1000001));
    assert_false(arp_request_allowed(&cache, 7, 1999999));
    assert_true(arp_request_allowed(&cache, 8, 1500000)); /* per next hop */
    assert_true(arp_request_allowed(&cache, 7, 2000000));
    assert_false(arp_request_allowed(&cache, 7, 2500000));
    /* More next hops than remembered: the oldest is forgotten, never more
     * than ARP_REQUESTS_REMEMBERED_MAX slots used. */
    for (uint32_t index = 0; index < 2 * ARP_REQUESTS_REMEMBERED_MAX; index++) {
        assert_true(arp_request_allowed(&cache, 1000 + index, 3000000 + index));
        assert_true(cache.requests_count <= ARP_REQUESTS_REMEMBERED_MAX);
    }
    assert_false(arp_request_allowed(&cache, 1000 + 2 * ARP_REQUESTS_REMEMBERED_MAX - 1, 3500000));
    arp_cache_free(&cache);
}

/* ---- ARP through the stack ---------------------------------------------- */

static void test_arp_reply_exact_bytes(void **state)
{
    struct harness *harness = started(state);
    uint8_t frame[64];
    static const uint8_t zero_mac[6];
    size_t bytes = make_arp_frame(frame, broadcast_mac, 1, peer_mac, PEER_IPV4, zero_mac, OUR_IPV4);
    input(harness, frame, bytes, 0);
    assert_int_equal(harness->frame_count, 1);
    static const uint8_t expected[60] = {
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, /* to the asker */
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, /* from us */
        0x08, 0x06,                         /* ARP */
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, /* Ethernet, IPv4, 6, 4 */
        0x00, 0x02,                         /* reply */
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 0, 0, 1, /* sender: us */
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 10, 0, 0, 2, /* target: the asker */
        /* 18 bytes of zero padding */
    };
    assert_int_equal(harness->frames[0].size, 60);
    assert_memory_equal(harness->frames[0].bytes, expected, 60);
    assert_int_equal(harness->frames[0].offload.flags, 0);
    assert_int_equal(counters(harness)->arp_replies_sent, 1);
    assert_int_equal(counters(harness)->frames_sent, 1);
    assert_int_equal(counters(harness)->frames_received, 1);

    /* A request for another address: no reply. */
    bytes = make_arp_frame(frame, broadcast_mac, 1, peer_mac, PEER_IPV4, zero_mac,
                           IPV4(10, 0, 0, 3));
    input(harness, frame, bytes, 0);
    assert_int_equal(harness->frame_count, 1);
    assert_int_equal(counters(harness)->frames_not_for_us, 1);

    /* A probe (RFC 5227, sender 0.0.0.0) is answered to its MAC. */
    bytes = make_arp_frame(frame, broadcast_mac, 1, other_mac, 0, zero_mac, OUR_IPV4);
    input(harness, frame, bytes, 0);
    assert_int_equal(harness->frame_count, 2);
    assert_memory_equal(harness->frames[1].bytes, other_mac, 6);
    assert_int_equal(get32(harness->frames[1].bytes + 14 + 24), 0);

    /* Not Ethernet/IPv4 ARP: ignored; a short ARP: malformed. */
    bytes = make_arp_frame(frame, broadcast_mac, 1, peer_mac, PEER_IPV4, zero_mac, OUR_IPV4);
    frame[14 + 5] = 16; /* protocol address size */
    input(harness, frame, bytes, 0);
    assert_int_equal(counters(harness)->frames_not_for_us, 2);
    input(harness, frame, 14 + 27, 0);
    assert_int_equal(counters(harness)->frames_malformed, 1);
    /* A request whose sender MAC is broadcast: malformed, not answered. */
    bytes = make_arp_frame(frame, broadcast_mac, 1, broadcast_mac, PEER_IPV4, zero_mac, OUR_IPV4);
    input(harness, frame, bytes, 0);
    assert_int_equal(counters(harness)->frames_malformed, 2);
    assert_int_equal(harness->frame_count, 2);
    assert_int_equal(counters(harness)->arp_replies_sent, 2);
}

static void test_no_buffer_counted(void **state)
{
    struct harness *harness = started(state);
    harness->buffers_exhausted = true;
    uint8_t frame[64];
    static const uint8_t zero_mac[6];
    size_t bytes = make_arp_frame(frame, broadcast_mac, 1, peer_mac, PEER_IPV4, zero_mac, OUR_IPV4);
    input(harness, frame, bytes, 0);
    assert_int_equal(harness->frame_count, 0);
    assert_int_equal(counters(harness)->tx_frames_dropped_no_buffer, 1);
    assert_int_equal(counters(harness)->arp_replies_sent, 0);
    assert_int_equal(counters(harness)->frames_sent, 0);
}

/* ---- ICMP echo ---------------------------------------------------------- */

static void test_icmp_echo_reply(void **state)
{
    struct harness *harness = started(state);
    uint8_t icmp[128];
    size_t icmp_bytes = make_icmp_echo(icmp, 0x7777, 3, 56);
    uint8_t frame[256];
    size_t bytes = make_ipv4_frame(frame, our_mac, peer_mac, PEER_IPV4, OUR_IPV4, 1, icmp,
                                   icmp_bytes);
    input(harness, frame, bytes, 0);
    assert_int_equal(harness->frame_count, 1);
    const uint8_t *reply = harness->frames[0].bytes;
    assert_int_equal(harness->frames[0].size, 14 + 20 + 64);
    assert_memory_equal(reply, peer_mac, 6);
    assert_memory_equal(reply + 6, our_mac, 6);
    assert_int_equal(get16(reply + 12), 0x0800);
    assert_true(ref_ipv4_checksum_ok(reply + 14));
    assert_int_equal(get16(reply + 14 + 2), 84);
    assert_int_equal(reply[14 + 9], 1);
    assert_int_equal(get32(reply + 14 + 12), OUR_IPV4);
    assert_int_equal(get32(reply + 14 + 16), PEER_IPV4);
    const uint8_t *answer = reply + 34;
    assert_int_equal(answer[0], 0); /* echo reply */
    assert_int_equal(answer[1], 0);
    assert_int_equal(ref_fold(ref_sum(0, answer, 64)), 0xffff);
    assert_memory_equal(answer + 4, icmp + 4, 60); /* identifier, sequence, data */
    assert_int_equal(counters(harness)->icmp_echo_replies, 1);

    /* A small echo padded to 60 bytes on the wire: the reply carries the
     * ICMP message only, not the padding. */
    icmp_bytes = make_icmp_echo(icmp, 1, 1, 4);
    bytes = make_ipv4_frame(frame, our_mac, peer_mac, PEER_IPV4, OUR_IPV4, 1, icmp, icmp_bytes);
    memset(frame + bytes, 0xee, 60 - bytes);
    input(harness, frame, 60, 0);
    assert_int_equal(harness->frame_count, 2);
    assert_int_equal(get16(harness->frames[1].bytes + 14 + 2), 20 + 12);
    assert_int_equal(ref_fold(ref_sum(0, harness->frames[1].bytes + 34, 12)), 0xffff);

    /* A bad ICMP checksum, a truncated message, another type: no reply. */
    icmp_bytes = make_icmp_echo(icmp, 1, 2, 8);
    icmp[9] ^= 1;
    bytes = make_ipv4_frame(frame, our_mac, peer_mac, PEER_IPV4, OUR_IPV4, 1, icmp, icmp_bytes);
    input(harness, frame, bytes, 0);
    bytes = make_ipv4_frame(frame, our_mac, peer_mac, PEER_IPV4, OUR_IPV4, 1, icmp, 7);
    input(harness, frame, bytes, 0);
    assert_int_equal(counters(harness)->frames_malformed, 2);
    icmp_bytes = make_icmp_echo(icmp, 1, 2, 8);
    icmp[0] = 13; /* timestamp request */
    bytes = make_ipv4_frame(frame, our_mac, peer_mac, PEER_IPV4, OUR_IPV4, 1, icmp, icmp_bytes);
    input(harness, frame, bytes, 0);
    assert_int_equal(counters(harness)->frames_not_for_us, 1);
    assert_int_equal(harness->frame_count, 2);
    assert_int_equal(counters(harness)->icmp_echo_replies, 2);
}

/* ---- every malformed class: counted, nothing sent, nothing delivered --- */

struct malformed_case {
    const char *name;
    uint8_t frame[FRAME_BYTES];
    size_t size;
    uint32_t rx_flags;
};

static struct test_tcp syn_from_peer(void)
{
    static const uint8_t options[] = {0x02, 0x04, 0x05, 0xb4};
    struct test_tcp tcp = {.source = PEER_IPV4, .destination = OUR_IPV4,
                           .source_port = PEER_PORT, .destination_port = OUR_PORT,
                           .seq = 1000, .flags = TCP_FLAG_SYN, .window = 64240,
                           .options = options, .options_bytes = sizeof(options)};
    return tcp;
}

/* Re-checksums the IPv4 header after an edit. */
static void fix_ipv4_checksum(uint8_t *frame)
{
    uint8_t *ip = frame + 14;
    put16(ip + 10, 0);
    put16(ip + 10, (uint16_t)~ref_fold(ref_sum(0, ip, (size_t)(ip[0] & 0x0fu) * 4u)));
}

/* A SYN whose TCP header is replaced by `tcp_bytes` raw bytes (checksum
 * fixed so only the header's shape is wrong). */
static size_t make_raw_tcp_frame(uint8_t *frame, const uint8_t *tcp_bytes, size_t size)
{
    uint8_t segment[128];
    memcpy(segment, tcp_bytes, size);
    if (size >= 18) {
        put16(segment + 16, 0);
        uint32_t sum = ref_pseudo_sum(PEER_IPV4, OUR_IPV4, (uint16_t)size);
        put16(segment + 16, (uint16_t)~ref_fold(ref_sum(sum, segment, size)));
    }
    return make_ipv4_frame(frame, our_mac, peer_mac, PEER_IPV4, OUR_IPV4, 6, segment, size);
}

static void run_dropped(struct harness *harness, const char *name, const uint8_t *frame,
                        size_t size, uint32_t rx_flags, const uint64_t *counter, uint64_t before)
{
    size_t frames_before = harness->frame_count;
    input(harness, frame, size, rx_flags);
    netstack_poll(harness->stack, harness->now_us);
    if (*counter != before + 1) {
        fail_msg("%s: counter %llu, expected %llu", name, (unsigned long long)*counter,
                 (unsigned long long)before + 1);
    }
    if (harness->frame_count != frames_before) {
        fail_msg("%s: a frame was sent", name);
    }
    assert_int_equal(harness->accepted, 0);
}

#define EXPECT_DROPPED(harness, name, frame, size, flags, field)                               \
    run_dropped((harness), (name), (frame), (size), (flags), &counters(harness)->field,       \
                counters(harness)->field)

static void test_malformed_frames_counted(void **state)
{
    struct harness *harness = started(state);
    uint8_t frame[FRAME_BYTES];
    uint8_t good[FRAME_BYTES];
    struct test_tcp syn = syn_from_peer();
    size_t good_bytes = make_tcp_frame(good, peer_mac, &syn);

    for (size_t size = 0; size < 14; size++) {
        EXPECT_DROPPED(harness, "short ethernet", good, size, 0, frames_malformed);
    }
    memcpy(frame, good, good_bytes);
    memcpy(frame, other_mac, 6);
    EXPECT_DROPPED(harness, "other MAC", frame, good_bytes, 0, frames_not_for_us);
    memcpy(frame, broadcast_mac, 6);
    EXPECT_DROPPED(harness, "TCP to broadcast MAC", frame, good_bytes, 0, frames_not_for_us);
    memcpy(frame, good, good_bytes);
    put16(frame + 12, 0x86dd);
    EXPECT_DROPPED(harness, "IPv6", frame, good_bytes, 0, frames_not_for_us);

    /* IPv4 header. */
    EXPECT_DROPPED(harness, "short IPv4", good, 14 + 19, 0, frames_malformed);
    memcpy(frame, good, good_bytes);
    frame[14] = 0x65;
    fix_ipv4_checksum(frame);
    EXPECT_DROPPED(harness, "version 6", frame, good_bytes, 0, frames_malformed);
    frame[14] = 0x44;
    EXPECT_DROPPED(harness, "IHL 4", frame, good_bytes, 0, frames_malformed);
    memcpy(frame, good, good_bytes);
    frame[14] = 0x4f;
    EXPECT_DROPPED(harness, "IHL 15", frame, 14 + 40, 0, frames_malformed);
    memcpy(frame, good, good_bytes);
    put16(frame + 14 + 2, (uint16_t)(good_bytes - 14 + 1));
    fix_ipv4_checksum(frame);
    EXPECT_DROPPED(harness, "total beyond frame", frame, good_bytes, 0, frames_malformed);
    put16(frame + 14 + 2, 16);
    fix_ipv4_checksum(frame);
    EXPECT_DROPPED(harness, "total below header", frame, good_bytes, 0, frames_malformed);
    memcpy(frame, good, good_bytes);
    frame[14 + 10] ^= 0x01;
    EXPECT_DROPPED(harness, "IPv4 checksum", frame, good_bytes, 0, ipv4_checksum_bad);
    EXPECT_DROPPED(harness, "IPv4 checksum, port says bad", good, good_bytes,
                   NETSTACK_RX_IPV4_CHECKSUM_BAD, ipv4_checksum_bad);
    memcpy(frame, good, good_bytes);
    put32(frame + 14 + 16, IPV4(10, 0, 0, 9));
    fix_ipv4_checksum(frame);
    EXPECT_DROPPED(harness, "other IPv4 address", frame, good_bytes, 0, frames_not_for_us);
    memcpy(frame, good, good_bytes);
    put32(frame + 14 + 12, IPV4(127, 0, 0, 1));
    fix_ipv4_checksum(frame);
    EXPECT_DROPPED(harness, "loopback source", frame, good_bytes, NETSTACK_RX_L4_CHECKSUM_GOOD,
                   frames_malformed);
    put32(frame + 14 + 12, IPV4(10, 0, 0, 255));
    fix_ipv4_checksum(frame);
    EXPECT_DROPPED(harness, "subnet broadcast source", frame, good_bytes,
                   NETSTACK_RX_L4_CHECKSUM_GOOD, frames_malformed);
    put32(frame + 14 + 12, OUR_IPV4);
    fix_ipv4_checksum(frame);
    EXPECT_DROPPED(harness, "our own source", frame, good_bytes, NETSTACK_RX_L4_CHECKSUM_GOOD,
                   frames_malformed);
    memcpy(frame, good, good_bytes);
    put16(frame + 14 + 6, 0x2000);
    fix_ipv4_checksum(frame);
    EXPECT_DROPPED(harness, "first fragment", frame, good_bytes, 0, ipv4_fragments_dropped);
    put16(frame + 14 + 6, 0x0010);
    fix_ipv4_checksum(frame);
    EXPECT_DROPPED(harness, "later fragment", frame, good_bytes, 0, ipv4_fragments_dropped);
    memcpy(frame, good, good_bytes);
    frame[14 + 9] = 17;
    fix_ipv4_checksum(frame);
    EXPECT_DROPPED(harness, "UDP", frame, good_bytes, 0, frames_not_for_us);

    /* TCP header. */
    memcpy(frame, good, good_bytes);
    frame[good_bytes - 1] ^= 0x10;
    EXPECT_DROPPED(harness, "TCP checksum", frame, good_bytes, 0, tcp_checksum_bad);
    EXPECT_DROPPED(harness, "TCP checksum, port says bad", good, good_bytes,
                   NETSTACK_RX_L4_CHECKSUM_BAD, tcp_checksum_bad);
    uint8_t raw[64];
    make_tcp_segment(raw, &syn);
    size_t raw_bytes = make_raw_tcp_frame(frame, raw, 19);
    EXPECT_DROPPED(harness, "TCP shorter than a header", frame, raw_bytes, 0, frames_malformed);
    raw[12] = 4 << 4;
    raw_bytes = make_raw_tcp_frame(frame, raw, 24);
    EXPECT_DROPPED(harness, "TCP data offset 4", frame, raw_bytes, 0, frames_malformed);
    raw[12] = 15 << 4;
    raw_bytes = make_raw_tcp_frame(frame, raw, 24);
    EXPECT_DROPPED(harness, "TCP data offset beyond", frame, raw_bytes, 0, frames_malformed);
    static const uint8_t bad_options[][4] = {
        {0x02, 0x00, 0x05, 0xb4}, /* length 0 */
        {0x02, 0x01, 0x05, 0xb4}, /* length 1 */
        {0x02, 0x08, 0x05, 0xb4}, /* length past the header */
        {0x02, 0x03, 0x05, 0x01}, /* MSS of length 3 */
        {0x01, 0x01, 0x01, 0x08}, /* a kind with no length byte */
    };
    for (size_t index = 0; index < sizeof(bad_options) / sizeof(bad_options[0]); index++) {
        struct test_tcp bad = syn;
        bad.options = bad_options[index];
        bad.options_bytes = 4;
        size_t bytes = make_tcp_frame(frame, peer_mac, &bad);
        EXPECT_DROPPED(harness, "bad TCP option", frame, bytes, 0, frames_malformed);
    }

    /* The port's word on checksums is taken: a bad IPv4 checksum flagged
     * good goes on (then fails as TCP), a good one flagged bad is dropped
     * above. */
    memcpy(frame, good, good_bytes);
    frame[14 + 10] ^= 0x01;
    frame[good_bytes - 1] ^= 0x10;
    EXPECT_DROPPED(harness, "IPv4 flagged good, TCP bad", frame, good_bytes,
                   NETSTACK_RX_IPV4_CHECKSUM_GOOD, tcp_checksum_bad);
    assert_int_equal(counters(harness)->tcp_segments_received, 0);
}

/* ---- software RSS ------------------------------------------------------- */

/* Microsoft's "Verifying the RSS Hash Calculation" table, IPv4 with TCP;
 * the input order is source address, destination address, source port,
 * destination port. */
static const struct {
    uint32_t source;
    uint16_t source_port;
    uint32_t destination;
    uint16_t destination_port;
    uint32_t hash;
} rss_vectors[] = {
    {IPV4(66, 9, 149, 187), 2794, IPV4(161, 142, 100, 80), 1766, 0x51ccc178},
    {IPV4(199, 92, 111, 2), 14230, IPV4(65, 69, 140, 83), 4739, 0xc626b0ea},
    {IPV4(24, 19, 198, 95), 12898, IPV4(12, 22, 207, 184), 38024, 0x5c2b394a},
    {IPV4(38, 27, 205, 30), 48228, IPV4(209, 142, 163, 6), 2217, 0xafc7327f},
    {IPV4(153, 39, 163, 191), 44251, IPV4(202, 188, 127, 2), 1303, 0x10e828a2},
};

static void test_toeplitz_vectors(void **state)
{
    (void)state;
    static const uint8_t microsoft_key[40] = {
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
        0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
        0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};
    assert_memory_equal(NETSTACK_RSS_KEY, microsoft_key, 40);
    for (size_t index = 0; index < sizeof(rss_vectors) / sizeof(rss_vectors[0]); index++) {
        uint32_t hash = netstack_toeplitz_ipv4_tcp(
            NETSTACK_RSS_KEY, rss_vectors[index].source, rss_vectors[index].destination,
            rss_vectors[index].source_port, rss_vectors[index].destination_port);
        if (hash != rss_vectors[index].hash) {
            fail_msg("vector %zu: 0x%08x, expected 0x%08x", index, hash, rss_vectors[index].hash);
        }
    }
}

static void test_steering(void **state)
{
    (void)state;
    uint8_t frame[FRAME_BYTES];
    for (size_t index = 0; index < sizeof(rss_vectors) / sizeof(rss_vectors[0]); index++) {
        struct test_tcp tcp = {.source = rss_vectors[index].source,
                               .destination = rss_vectors[index].destination,
                               .source_port = rss_vectors[index].source_port,
                               .destination_port = rss_vectors[index].destination_port,
                               .flags = TCP_FLAG_SYN};
        size_t bytes = make_tcp_frame(frame, peer_mac, &tcp);
        uint32_t hash = rss_vectors[index].hash;
        for (uint32_t shards = 1; shards <= 6; shards++) {
            int expected = (int)((hash & 127u) % shards);
            assert_int_equal(netstack_steer(frame, bytes, shards, 128), expected);
            assert_int_equal(netstack_steer(frame, bytes, shards, 512),
                             (int)((hash & 511u) % shards));
        }
        /* A fragment is not hashed by ports: shard 0 (it is dropped). */
        put16(frame + 14 + 6, 0x2000);
        assert_int_equal(netstack_steer(frame, bytes, 4, 128), 0);
    }
    static const uint8_t zero_mac[6];
    size_t bytes = make_arp_frame(frame, broadcast_mac, 1, peer_mac, PEER_IPV4, zero_mac, OUR_IPV4);
    assert_int_equal(netstack_steer(frame, bytes, 4, 128), -1);
    uint8_t icmp[64];
    size_t icmp_bytes = make_icmp_echo(icmp, 1, 1, 8);
    bytes = make_ipv4_frame(frame, our_mac, peer_mac, PEER_IPV4, OUR_IPV4, 1, icmp, icmp_bytes);
    assert_int_equal(netstack_steer(frame, bytes, 4, 128), 0);
    /* Truncated and foreign frames: 0, never a crash. */
    for (size_t size = 0; size < bytes; size++) {
        int shard = netstack_steer(frame, size, 4, 128);
        assert_true(shard == 0);
    }
    put16(frame + 12, 0x86dd);
    assert_int_equal(netstack_steer(frame, bytes, 4, 128), 0);
}

/* ---- config ------------------------------------------------------------- */

static void test_config_defaults(void **state)
{
    (void)state;
    struct netstack_config config;
    memset(&config, 0x5a, sizeof(config));
    netstack_config_defaults(&config);
    assert_int_equal(config.mtu, 1500);
    assert_int_equal(config.connections_max, 1024);
    assert_int_equal(config.syn_backlog_max, 256);
    assert_int_equal(config.time_wait_max, 1024);
    assert_int_equal(config.send_buffer_bytes_max, 4u << 20);
    assert_int_equal(config.receive_buffer_bytes_max, 256u << 10);
    assert_int_equal(config.out_of_order_segments_max, 64);
    assert_int_equal(config.arp_entries_max, 64);
    assert_int_equal(config.arp_entry_lifetime_ms, 300000);
    assert_int_equal(config.time_wait_ms, 60000);
    assert_int_equal(config.keepalive_idle_ms, 7200000);
    assert_int_equal(config.keepalive_interval_ms, 75000);
    assert_int_equal(config.keepalive_probes_max, 9);
    assert_int_equal(config.delayed_ack_ms, 40);
    assert_int_equal(config.retransmissions_max, 15);
    assert_int_equal(config.tx_offload_flags, 0);
    assert_int_equal(config.tso_bytes_max, 0);
    assert_int_equal(config.ipv4_address, 0);
    assert_int_equal(config.listen_port, 0);
}

static void expect_config_refused(void (*edit)(struct netstack_config *), const char *why_part)
{
    struct netstack_config config;
    base_config(&config);
    edit(&config);
    struct netstack_io io = capture_io;
    char error[256] = "";
    struct netstack *stack = netstack_create(&config, &io, &test_callbacks, NULL, error,
                                             sizeof(error));
    if (stack != NULL) {
        netstack_destroy(stack);
        fail_msg("config accepted (expected \"%s\")", why_part);
    }
    if (strstr(error, why_part) == NULL) {
        fail_msg("error \"%s\" lacks \"%s\"", error, why_part);
    }
}

static void edit_mtu_small(struct netstack_config *c) { c->mtu = 575; }
static void edit_mtu_big(struct netstack_config *c) { c->mtu = 9001; }
static void edit_mac_multicast(struct netstack_config *c) { c->mac[0] = 0x01; }
static void edit_mac_zero(struct netstack_config *c) { memset(c->mac, 0, 6); }
static void edit_address_zero(struct netstack_config *c) { c->ipv4_address = 0; }
static void edit_address_multicast(struct netstack_config *c) { c->ipv4_address = IPV4(224, 0, 0, 1); }
static void edit_address_broadcast(struct netstack_config *c) { c->ipv4_address = IPV4(10, 0, 0, 255); }
static void edit_netmask(struct netstack_config *c) { c->ipv4_netmask = IPV4(255, 0, 255, 0); }
static void edit_gateway_off_link(struct netstack_config *c) { c->ipv4_gateway = IPV4(10, 0, 1, 1); }
static void edit_gateway_self(struct netstack_config *c) { c->ipv4_gateway = OUR_IPV4; }
static void edit_connections(struct netstack_config *c) { c->connections_max = 0; }
static void edit_send_buffer(struct netstack_config *c) { c->send_buffer_bytes_max = 100; }
static void edit_receive_buffer(struct netstack_config *c) { c->receive_buffer_bytes_max = 2u << 30; }
static void edit_arp_entries(struct netstack_config *c) { c->arp_entries_max = 0; }
static void edit_arp_lifetime(struct netstack_config *c) { c->arp_entry_lifetime_ms = 10; }
static void edit_delayed_ack(struct netstack_config *c) { c->delayed_ack_ms = 500; }
static void edit_keepalive(struct netstack_config *c) { c->keepalive_probes_max = 0; }
static void edit_retransmissions(struct netstack_config *c) { c->retransmissions_max = 0; }
static void edit_offload_unknown(struct netstack_config *c) { c->tx_offload_flags = 1u << 7; }
static void edit_tso_without_flag(struct netstack_config *c) { c->tso_bytes_max = 65000; }
static void edit_tso_too_big(struct netstack_config *c)
{
    c->tx_offload_flags = NETSTACK_TX_IPV4_CHECKSUM | NETSTACK_TX_TCP_CHECKSUM |
                          NETSTACK_TX_TCP_SEGMENT;
    c->tso_bytes_max = 65500;
}

static void test_config_validation(void **state)
{
    (void)state;
    /* listen_port 0 is a client-only stack: accepted. */
    struct netstack_config client_only;
    base_config(&client_only);
    client_only.listen_port = 0;
    struct netstack *stack = netstack_create(&client_only, &capture_io, &test_callbacks, NULL,
                                             NULL, 0);
    assert_non_null(stack);
    netstack_destroy(stack);
    expect_config_refused(edit_mtu_small, "mtu");
    expect_config_refused(edit_mtu_big, "mtu");
    expect_config_refused(edit_mac_multicast, "mac");
    expect_config_refused(edit_mac_zero, "mac");
    expect_config_refused(edit_address_zero, "ipv4_address");
    expect_config_refused(edit_address_multicast, "ipv4_address");
    expect_config_refused(edit_address_broadcast, "broadcast");
    expect_config_refused(edit_netmask, "ipv4_netmask");
    expect_config_refused(edit_gateway_off_link, "ipv4_gateway");
    expect_config_refused(edit_gateway_self, "ipv4_gateway");
    expect_config_refused(edit_connections, "connections_max");
    expect_config_refused(edit_send_buffer, "send_buffer_bytes_max");
    expect_config_refused(edit_receive_buffer, "receive_buffer_bytes_max");
    expect_config_refused(edit_arp_entries, "arp_entries_max");
    expect_config_refused(edit_arp_lifetime, "arp_entry_lifetime_ms");
    expect_config_refused(edit_delayed_ack, "delayed_ack_ms");
    expect_config_refused(edit_keepalive, "keepalive");
    expect_config_refused(edit_retransmissions, "retransmissions_max");
    expect_config_refused(edit_offload_unknown, "tx_offload_flags");
    expect_config_refused(edit_tso_without_flag, "tso_bytes_max");
    expect_config_refused(edit_tso_too_big, "tso_bytes_max");
}

/* ---- TCP by frames (through tcp.c) -------------------------------------- */

/* The TCP segment of a captured frame, its checksums verified with the
 * test's own code (IPv4 and TCP; with offload, as the port would). */
static void parse_sent_tcp(const struct captured_frame *frame, struct tcp_segment *segment)
{
    struct wire_ethernet ethernet;
    assert_int_equal(wire_ethernet_parse(frame->bytes, frame->size, &ethernet), WIRE_PARSE_OK);
    assert_int_equal(ethernet.ethertype, 0x0800);
    assert_memory_equal(ethernet.source, our_mac, 6);
    struct wire_ipv4 ipv4;
    assert_int_equal(wire_ipv4_parse(ethernet.payload, ethernet.payload_bytes, &ipv4),
                     WIRE_PARSE_OK);
    assert_int_equal(ipv4.protocol, 6);
    assert_int_equal(ipv4.source, OUR_IPV4);
    assert_int_equal(ipv4.fragment, 0x4000);
    assert_int_equal(ipv4.ttl, 64);
    if (!(frame->offload.flags & NETSTACK_TX_IPV4_CHECKSUM)) {
        assert_true(ref_ipv4_checksum_ok(ethernet.payload));
    }
    if (!(frame->offload.flags & NETSTACK_TX_TCP_CHECKSUM)) {
        assert_true(ref_tcp_checksum_ok(ethernet.payload));
    }
    assert_int_equal(wire_tcp_parse(ipv4.payload, ipv4.payload_bytes, segment), WIRE_PARSE_OK);
    segment->remote_ipv4 = ipv4.destination; /* seen from our side */
    segment->local_ipv4 = ipv4.source;
    /* The parse sees it as received: swap the ports back. */
    uint16_t port = segment->remote_port;
    segment->remote_port = segment->local_port;
    segment->local_port = port;
}

static void poll_now(struct harness *harness)
{
    netstack_poll(harness->stack, harness->now_us);
}

/* Frames until one is sent, advancing time in 100 ms steps (bounded). */
static void poll_until_frame(struct harness *harness, uint64_t limit_us)
{
    uint64_t end_us = harness->now_us + limit_us;
    while (harness->frame_count == 0 && harness->now_us < end_us) {
        harness->now_us += 100000;
        poll_now(harness);
    }
    assert_true(harness->frame_count > 0);
}

/* SYN in, SYN-ACK out: checks the SYN-ACK and returns its sequence number. */
static uint32_t handshake_syn(struct harness *harness, const uint8_t *source_mac,
                              uint32_t source_ipv4, const uint8_t *expected_mac)
{
    static const uint8_t options[] = {0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x07,
                                      0x01, 0x01, 0x04, 0x02};
    struct test_tcp syn = syn_from_peer();
    syn.source = source_ipv4;
    syn.options = options;
    syn.options_bytes = sizeof(options);
    uint8_t frame[FRAME_BYTES];
    size_t bytes = make_tcp_frame(frame, source_mac, &syn);
    input(harness, frame, bytes, 0);
    poll_now(harness);
    assert_int_equal(harness->frame_count, 1);
    const struct captured_frame *sent = &harness->frames[0];
    assert_memory_equal(sent->bytes, expected_mac, 6);
    struct tcp_segment synack;
    parse_sent_tcp(sent, &synack);
    assert_int_equal(synack.remote_ipv4, source_ipv4);
    assert_int_equal(synack.local_port, OUR_PORT);
    assert_int_equal(synack.remote_port, PEER_PORT);
    assert_int_equal(synack.flags, TCP_FLAG_SYN | TCP_FLAG_ACK);
    assert_int_equal(synack.ack, 1001);
    assert_int_equal(synack.mss, harness->config.mtu - 40);
    assert_int_equal(synack.payload_bytes, 0);
    return synack.seq;
}

static void send_peer_segment(struct harness *harness, uint32_t seq, uint32_t ack, uint8_t flags,
                              const void *payload, size_t payload_bytes)
{
    struct test_tcp tcp = syn_from_peer();
    tcp.options = NULL;
    tcp.options_bytes = 0;
    tcp.seq = seq;
    tcp.ack = ack;
    tcp.flags = flags;
    tcp.payload = payload;
    tcp.payload_bytes = payload_bytes;
    uint8_t frame[FRAME_BYTES];
    size_t bytes = make_tcp_frame(frame, peer_mac, &tcp);
    input(harness, frame, bytes, 0);
    poll_now(harness);
}

static void test_handshake_by_frames(void **state)
{
    struct harness *harness = started(state);
    /* The peer's MAC comes from its SYN: no ARP round trip. */
    uint32_t server_seq = handshake_syn(harness, peer_mac, PEER_IPV4, peer_mac);
    assert_int_equal(counters(harness)->arp_requests_sent, 0);
    assert_int_equal(counters(harness)->frames_sent, 1);
    assert_int_equal(harness->accepted, 0);
    frames_clear(harness);

    send_peer_segment(harness, 1001, server_seq + 1, TCP_FLAG_ACK, NULL, 0);
    assert_int_equal(harness->accepted, 1);
    assert_int_equal(harness->accepted_ipv4, PEER_IPV4);
    assert_int_equal(harness->accepted_port, PEER_PORT);
    assert_non_null(harness->connection);

    send_peer_segment(harness, 1001, server_seq + 1, TCP_FLAG_ACK | TCP_FLAG_PSH, "ruok", 4);
    assert_int_equal(harness->received_bytes, 4);
    assert_memory_equal(harness->received, "ruok", 4);

    /* An answer goes out as a frame with the payload. */
    frames_clear(harness);
    assert_true(netstack_send(harness->stack, harness->connection, "imok", 4));
    poll_until_frame(harness, 1000000);
    struct tcp_segment data;
    parse_sent_tcp(&harness->frames[0], &data);
    assert_int_equal(data.seq, server_seq + 1);
    assert_true(data.flags & TCP_FLAG_ACK);
    assert_int_equal(data.payload_bytes, 4);
    assert_memory_equal(data.payload, "imok", 4);
    assert_memory_equal(harness->frames[0].bytes, peer_mac, 6);
}

static void test_handshake_with_checksum_offload(void **state)
{
    struct harness *harness = *state;
    harness->config.tx_offload_flags = NETSTACK_TX_IPV4_CHECKSUM | NETSTACK_TX_TCP_CHECKSUM;
    harness_start(harness);
    handshake_syn(harness, peer_mac, PEER_IPV4, peer_mac);
    const struct captured_frame *sent = &harness->frames[0];
    assert_int_equal(sent->offload.flags, NETSTACK_TX_IPV4_CHECKSUM | NETSTACK_TX_TCP_CHECKSUM);
    assert_int_equal(sent->offload.l2_bytes, 14);
    assert_int_equal(sent->offload.l3_bytes, 20);
    const uint8_t *ip = sent->bytes + 14;
    assert_int_equal(get16(ip + 10), 0);
    uint16_t l4_bytes = (uint16_t)(get16(ip + 2) - 20);
    assert_int_equal(sent->offload.l4_bytes, l4_bytes); /* a SYN-ACK: header only */
    assert_int_equal(get16(ip + 20 + 16), ref_fold(ref_pseudo_sum(OUR_IPV4, PEER_IPV4, l4_bytes)));
}

/* TSO: a send larger than one segment leaves as one frame the port cuts
 * into MSS-sized pieces: checksum fields as DPDK wants them, the MSS named
 * in the offload. */
static void test_tso_frames(void **state)
{
    struct harness *harness = *state;
    harness->config.tx_offload_flags =
        NETSTACK_TX_IPV4_CHECKSUM | NETSTACK_TX_TCP_CHECKSUM | NETSTACK_TX_TCP_SEGMENT;
    harness->config.tso_bytes_max = 65000;
    harness_start(harness);
    uint32_t server_seq = handshake_syn(harness, peer_mac, PEER_IPV4, peer_mac);
    frames_clear(harness);
    send_peer_segment(harness, 1001, server_seq + 1, TCP_FLAG_ACK, NULL, 0);
    assert_int_equal(harness->accepted, 1);
    frames_clear(harness);
    static uint8_t payload[20000];
    for (size_t index = 0; index < sizeof(payload); index++) {
        payload[index] = (uint8_t)(index * 31 + 7);
    }
    assert_true(netstack_send(harness->stack, harness->connection, payload, sizeof(payload)));
    poll_until_frame(harness, 1000000);
    const struct captured_frame *sent = &harness->frames[0];
    assert_int_equal(sent->offload.flags, NETSTACK_TX_IPV4_CHECKSUM | NETSTACK_TX_TCP_CHECKSUM |
                                              NETSTACK_TX_TCP_SEGMENT);
    assert_int_equal(sent->offload.segment_bytes, 1460); /* the peer's MSS, no options */
    assert_int_equal(sent->offload.l4_bytes, 20);
    const uint8_t *ip = sent->bytes + 14;
    uint16_t total = get16(ip + 2);
    assert_int_equal(sent->size, 14u + total);
    size_t payload_bytes = total - 40u;
    assert_true(payload_bytes > 1460);
    assert_int_equal(get16(ip + 10), 0);
    assert_int_equal(get16(ip + 20 + 16), ref_fold(ref_pseudo_sum(OUR_IPV4, PEER_IPV4, 0)));
    assert_int_equal(get32(ip + 20 + 4), server_seq + 1);
    assert_memory_equal(ip + 40, payload, payload_bytes);
}

/* Linux's SYN options (MSS, SACK permitted, timestamps, window scale) are
 * answered in Linux's layout with what TCP supports: MSS first, then SACK
 * permitted and/or timestamps (NOP-padded), then NOP + window scale. */
static void test_syn_linux_options(void **state)
{
    struct harness *harness = started(state);
    static const uint8_t options[] = {0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a,
                                      0x1a, 0x2b, 0x3c, 0x4d, 0x00, 0x00, 0x00, 0x00,
                                      0x01, 0x03, 0x03, 0x07};
    struct test_tcp syn = syn_from_peer();
    syn.options = options;
    syn.options_bytes = sizeof(options);
    uint8_t frame[FRAME_BYTES];
    size_t bytes = make_tcp_frame(frame, peer_mac, &syn);
    input(harness, frame, bytes, 0);
    poll_now(harness);
    assert_int_equal(harness->frame_count, 1);
    struct tcp_segment synack;
    parse_sent_tcp(&harness->frames[0], &synack);
    assert_int_equal(synack.flags, TCP_FLAG_SYN | TCP_FLAG_ACK);
    assert_int_equal(synack.mss, 1460);
    assert_true(synack.has_window_scale); /* offered, so answered (RFC 7323) */
    if (synack.has_timestamps) {
        assert_int_equal(synack.timestamp_echo, 0x1a2b3c4d);
    }
    const uint8_t *tcp = harness->frames[0].bytes + 34;
    size_t options_bytes = (size_t)(tcp[12] >> 4) * 4u - 20u;
    size_t expected_bytes = 8u + (synack.has_timestamps ? 12u : synack.sack_permitted ? 4u : 0u);
    assert_int_equal(options_bytes, expected_bytes);
    static const uint8_t mss[] = {0x02, 0x04, 0x05, 0xb4};
    assert_memory_equal(tcp + 20, mss, sizeof(mss));
    const uint8_t *window_scale = tcp + 20 + options_bytes - 4;
    assert_int_equal(window_scale[0], 0x01);
    assert_int_equal(window_scale[1], 0x03);
    assert_int_equal(window_scale[2], 0x03);
    assert_int_equal(window_scale[3], synack.window_scale);
}

/* A peer beyond the gateway, whose MAC is not known yet: the SYN-ACK is
 * dropped (no route) and the gateway asked for, once; the gateway's reply
 * teaches its MAC and TCP's retransmission goes to it. */
static void test_gateway_resolution(void **state)
{
    struct harness *harness = started(state);
    static const uint8_t options[] = {0x02, 0x04, 0x05, 0xb4};
    struct test_tcp syn = syn_from_peer();
    syn.source = FAR_PEER_IPV4;
    syn.options = options;
    syn.options_bytes = sizeof(options);
    uint8_t frame[FRAME_BYTES];
    size_t bytes = make_tcp_frame(frame, gateway_mac, &syn);
    input(harness, frame, bytes, 0);
    poll_now(harness);
    assert_int_equal(harness->frame_count, 1);
    static const uint8_t request[42] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06,
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 0, 0, 1,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 0, 0, 254,
    };
    assert_int_equal(harness->frames[0].size, 60);
    assert_memory_equal(harness->frames[0].bytes, request, sizeof(request));
    assert_int_equal(counters(harness)->arp_requests_sent, 1);
    assert_true(counters(harness)->tx_frames_dropped_no_route >= 1);
    /* The SYN again within the second: no second request. */
    input(harness, frame, bytes, 0);
    poll_now(harness);
    assert_int_equal(counters(harness)->arp_requests_sent, 1);
    frames_clear(harness);

    uint8_t reply[64];
    size_t reply_bytes =
        make_arp_frame(reply, our_mac, 2, gateway_mac, GATEWAY_IPV4, our_mac, OUR_IPV4);
    input(harness, reply, reply_bytes, 0);
    assert_int_equal(harness->frame_count, 0); /* a reply is not answered */
    poll_until_frame(harness, 10000000);
    assert_memory_equal(harness->frames[0].bytes, gateway_mac, 6);
    struct tcp_segment synack;
    parse_sent_tcp(&harness->frames[0], &synack);
    assert_int_equal(synack.remote_ipv4, FAR_PEER_IPV4);
    assert_int_equal(synack.flags, TCP_FLAG_SYN | TCP_FLAG_ACK);
}

/* The cache's limits seen through the stack: evictions counted, entries
 * expire (the next hop is asked for again), an entry near its end is
 * refreshed by a request while still used, and netstack_poll names the
 * next expiry. */
static void test_arp_cache_through_stack(void **state)
{
    struct harness *harness = *state;
    harness->config.arp_entries_max = 2;
    harness->config.arp_entry_lifetime_ms = 4000;
    harness_start(harness);
    uint8_t frame[FRAME_BYTES];
    static const uint8_t zero_mac[6];
    uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x01, 0x00};
    for (uint8_t host = 2; host <= 4; host++) {
        mac[5] = host;
        size_t bytes = make_arp_frame(frame, broadcast_mac, 1, mac, IPV4(10, 0, 0, host),
                                      zero_mac, OUR_IPV4);
        input(harness, frame, bytes, 0);
        harness->now_us += 1000;
    }
    assert_int_equal(counters(harness)->arp_cache_evictions, 1);
    assert_int_equal(counters(harness)->arp_replies_sent, 3);
    frames_clear(harness);

    /* The gateway is learned from its request, at t0. */
    uint64_t t0_us = harness->now_us;
    size_t bytes = make_arp_frame(frame, broadcast_mac, 1, gateway_mac, GATEWAY_IPV4, zero_mac,
                                  OUR_IPV4);
    input(harness, frame, bytes, 0);
    assert_int_equal(counters(harness)->arp_cache_evictions, 2);
    uint64_t next_us = netstack_poll(harness->stack, harness->now_us);
    assert_true(next_us > harness->now_us && next_us <= t0_us + 4000000);
    frames_clear(harness);

    /* At 3.5 s (the last quarter) a SYN from beyond the gateway: the
     * SYN-ACK goes to the gateway, and the gateway is asked again first. */
    harness->now_us = t0_us + 3500000;
    struct test_tcp syn = syn_from_peer();
    syn.source = FAR_PEER_IPV4;
    bytes = make_tcp_frame(frame, gateway_mac, &syn);
    input(harness, frame, bytes, 0);
    poll_now(harness);
    assert_int_equal(harness->frame_count, 2);
    assert_int_equal(get16(harness->frames[0].bytes + 12), 0x0806);
    assert_int_equal(get32(harness->frames[0].bytes + 14 + 24), GATEWAY_IPV4);
    assert_memory_equal(harness->frames[1].bytes, gateway_mac, 6);
    assert_int_equal(counters(harness)->arp_requests_sent, 1);
    frames_clear(harness);

    /* Past its lifetime (no reply came) the entry is gone: a segment for
     * the peer is dropped and the gateway asked for again. */
    harness->now_us = t0_us + 4100000;
    poll_now(harness);
    uint64_t dropped = counters(harness)->tx_frames_dropped_no_route;
    poll_until_frame(harness, 10000000); /* TCP's retransmission of the SYN-ACK */
    assert_int_equal(get16(harness->frames[0].bytes + 12), 0x0806);
    assert_int_equal(counters(harness)->arp_requests_sent, 2);
    assert_true(counters(harness)->tx_frames_dropped_no_route > dropped);
}

/* No gateway: an off-link peer has no route and nothing is asked. */
static void test_no_route_without_gateway(void **state)
{
    struct harness *harness = *state;
    harness->config.ipv4_gateway = 0;
    harness_start(harness);
    struct test_tcp syn = syn_from_peer();
    syn.source = FAR_PEER_IPV4;
    uint8_t frame[FRAME_BYTES];
    size_t bytes = make_tcp_frame(frame, gateway_mac, &syn);
    input(harness, frame, bytes, 0);
    poll_now(harness);
    assert_int_equal(harness->frame_count, 0);
    assert_true(counters(harness)->tx_frames_dropped_no_route >= 1);
    assert_int_equal(counters(harness)->arp_requests_sent, 0);
}

/* A SYN to another port is TCP's to refuse (a RST), and counted. */
static void test_other_port_reset(void **state)
{
    struct harness *harness = started(state);
    struct test_tcp syn = syn_from_peer();
    syn.destination_port = 2182;
    uint8_t frame[FRAME_BYTES];
    size_t bytes = make_tcp_frame(frame, peer_mac, &syn);
    input(harness, frame, bytes, 0);
    poll_now(harness);
    assert_int_equal(counters(harness)->frames_not_for_us, 1);
    assert_int_equal(harness->frame_count, 1);
    struct tcp_segment reset;
    parse_sent_tcp(&harness->frames[0], &reset);
    assert_true(reset.flags & TCP_FLAG_RST);
    assert_int_equal(reset.local_port, 2182);
    assert_int_equal(harness->accepted, 0);
}

/* A client-only stack (listen_port 0) opens a connection by frames: the
 * first SYN waits for ARP (dropped, counted, request sent) and leaves as
 * soon as the reply teaches the MAC (not at the 1 s retransmission, which
 * then counts from there), and the peer's segments from its listening port
 * to our ephemeral port are ours. */
static void test_connect_by_frames_after_arp(void **state)
{
    struct harness *harness = *state;
    harness->config.listen_port = 0;
    harness_start(harness);
    assert_null(netstack_connect(harness->stack, OUR_IPV4, 2181, &user_token, harness->now_us));
    assert_null(netstack_connect(harness->stack, IPV4(10, 0, 0, 255), 2181, &user_token,
                                 harness->now_us));
    assert_null(netstack_connect(harness->stack, IPV4(127, 0, 0, 1), 2181, &user_token,
                                 harness->now_us));
    assert_int_equal(counters(harness)->tcp_connections_refused, 3);
    struct netstack_connection *connection =
        netstack_connect(harness->stack, PEER_IPV4, 2181, &user_token, harness->now_us);
    assert_non_null(connection);
    assert_int_equal(harness->frame_count, 1);
    assert_int_equal(get16(harness->frames[0].bytes + 12), 0x0806); /* who has 10.0.0.2 */
    assert_int_equal(get32(harness->frames[0].bytes + 14 + 24), PEER_IPV4);
    assert_int_equal(counters(harness)->tx_frames_dropped_no_route, 1);
    assert_int_equal(counters(harness)->tcp_segments_sent, 0);
    frames_clear(harness);
    /* An unrelated ARP frame does not help: still no route. */
    harness->now_us += 300000;
    uint8_t reply[64];
    size_t reply_bytes = make_arp_frame(reply, our_mac, 2, gateway_mac, GATEWAY_IPV4, our_mac,
                                        OUR_IPV4);
    input(harness, reply, reply_bytes, 0);
    assert_int_equal(harness->frame_count, 0);
    assert_int_equal(counters(harness)->tx_frames_dropped_no_route, 2);
    harness->now_us += 200000;
    reply_bytes = make_arp_frame(reply, our_mac, 2, peer_mac, PEER_IPV4, our_mac, OUR_IPV4);
    input(harness, reply, reply_bytes, 0);
    assert_int_equal(harness->frame_count, 1);
    assert_int_equal(counters(harness)->tcp_retransmissions, 0);
    uint64_t start_us = harness->now_us;
    assert_int_equal(netstack_poll(harness->stack, start_us + 999999), start_us + 1000000);
    assert_int_equal(harness->frame_count, 1);
    assert_memory_equal(harness->frames[0].bytes, peer_mac, 6);
    struct tcp_segment syn;
    parse_sent_tcp(&harness->frames[0], &syn);
    assert_int_equal(syn.flags, TCP_FLAG_SYN);
    assert_int_equal(syn.remote_ipv4, PEER_IPV4);
    assert_int_equal(syn.remote_port, 2181);
    assert_int_equal(syn.local_port, NETSTACK_EPHEMERAL_PORT_FIRST);
    assert_int_equal(syn.mss, 1460);
    assert_true(syn.has_window_scale);
    frames_clear(harness);

    /* The SYN-ACK from the peer's 2181 to our ephemeral port. */
    static const uint8_t options[] = {0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x07};
    struct test_tcp synack = {.source = PEER_IPV4, .destination = OUR_IPV4,
                              .source_port = 2181,
                              .destination_port = NETSTACK_EPHEMERAL_PORT_FIRST,
                              .seq = 9000, .ack = syn.seq + 1,
                              .flags = TCP_FLAG_SYN | TCP_FLAG_ACK, .window = 65535,
                              .options = options, .options_bytes = sizeof(options)};
    uint8_t frame[FRAME_BYTES];
    input(harness, frame, make_tcp_frame(frame, peer_mac, &synack), 0);
    assert_int_equal(harness->accepted, 1);
    assert_ptr_equal(harness->connection, connection);
    assert_int_equal(harness->accepted_ipv4, PEER_IPV4);
    assert_int_equal(harness->accepted_port, 2181);
    assert_int_equal(harness->frame_count, 1);
    struct tcp_segment ack;
    parse_sent_tcp(&harness->frames[0], &ack);
    assert_int_equal(ack.flags, TCP_FLAG_ACK);
    assert_int_equal(ack.seq, syn.seq + 1);
    assert_int_equal(ack.ack, 9001);
    frames_clear(harness);
    /* Data both ways. */
    assert_true(netstack_send(harness->stack, connection, "ruok", 4));
    poll_now(harness);
    assert_int_equal(harness->frame_count, 1);
    struct tcp_segment data;
    parse_sent_tcp(&harness->frames[0], &data);
    assert_int_equal(data.payload_bytes, 4);
    frames_clear(harness);
    struct test_tcp imok = synack;
    imok.seq = 9001;
    imok.ack = syn.seq + 5;
    imok.flags = TCP_FLAG_ACK | TCP_FLAG_PSH;
    imok.options = NULL;
    imok.options_bytes = 0;
    imok.window = 512;
    imok.payload = "imok";
    imok.payload_bytes = 4;
    input(harness, frame, make_tcp_frame(frame, peer_mac, &imok), 0);
    assert_int_equal(harness->received_bytes, 4);
    assert_memory_equal(harness->received, "imok", 4);
    assert_int_equal(counters(harness)->frames_not_for_us, 0);
    /* Another ephemeral port has no connection: a RST, counted. */
    imok.destination_port = NETSTACK_EPHEMERAL_PORT_FIRST + 1;
    size_t frames_before = harness->frame_count;
    input(harness, frame, make_tcp_frame(frame, peer_mac, &imok), 0);
    assert_int_equal(counters(harness)->frames_not_for_us, 1);
    assert_int_equal(harness->frame_count, frames_before + 1);
    struct tcp_segment reset;
    parse_sent_tcp(&harness->frames[frames_before], &reset);
    assert_int_equal(reset.flags, TCP_FLAG_RST);
    assert_int_equal(harness->closed, 0);
}

#define HARNESS_TEST(name) cmocka_unit_test_setup_teardown(name, harness_setup, harness_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checksum_vectors),
        cmocka_unit_test(test_tcp_checksum_vector),
        cmocka_unit_test(test_tcp_options_linux_order),
        cmocka_unit_test(test_tcp_frame_round_trip),
        cmocka_unit_test(test_tcp_parse_options),
        cmocka_unit_test(test_tcp_parse_malformed),
        cmocka_unit_test(test_tx_offload_flags),
        cmocka_unit_test(test_ipv4_parse),
        cmocka_unit_test(test_arp_cache_bounds_and_expiry),
        cmocka_unit_test(test_arp_request_rate_limit),
        cmocka_unit_test(test_toeplitz_vectors),
        cmocka_unit_test(test_steering),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_validation),
        HARNESS_TEST(test_arp_reply_exact_bytes),
        HARNESS_TEST(test_arp_cache_through_stack),
        HARNESS_TEST(test_no_buffer_counted),
        HARNESS_TEST(test_icmp_echo_reply),
        HARNESS_TEST(test_malformed_frames_counted),
        HARNESS_TEST(test_handshake_by_frames),
        HARNESS_TEST(test_handshake_with_checksum_offload),
        HARNESS_TEST(test_tso_frames),
        HARNESS_TEST(test_syn_linux_options),
        HARNESS_TEST(test_gateway_resolution),
        HARNESS_TEST(test_no_route_without_gateway),
        HARNESS_TEST(test_other_port_reset),
        HARNESS_TEST(test_connect_by_frames_after_arp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
