/* libFuzzer target for the DPDK transport's own TCP/IP (issue 6): whatever
 * bytes the wire brings, as Ethernet frames, to a netstack (wire.c, arp.c,
 * tcp.c, netstack.c compiled in, instrumented).
 *
 * The input is used three ways:
 *  1. as one raw frame, to a fresh stack, and to netstack_steer;
 *  2. the same frame with its IPv4, TCP and ICMP checksums made right, so
 *     the fuzzer gets past them into ARP, ICMP and TCP;
 *  3. as a conversation: records of [control][time step][length: 2 bytes,
 *     big-endian][frame], fed to one stack with netstack_poll between them.
 *     control: bits 0-3 the rx flags; bit 4 fix the checksums; bit 5 set
 *     the TCP acknowledgment number to the next sequence number the stack
 *     last sent (so a handshake completes without guessing the ISN); bit 6
 *     send bytes on the newest connection; bit 7 close it. The time step
 *     advances the clock by that many 10 ms.
 *  4. the same conversation to a client-only stack (listen_port 0) that
 *     first learns FUZZ_PEER_IPV4's MAC from an ARP reply and connects to
 *     FUZZ_PEER_IPV4:FUZZ_PORT (SYN_SENT: a record with bit 5 acknowledges
 *     its SYN).
 * Connections that are accepted echo what they receive (sending from
 * inside the callback) and one in two is refused.
 *
 * Every frame the stack sends is checked: it fits the buffer it asked for,
 * is at least the minimum Ethernet frame, comes from our MAC, and parses
 * back (ARP, or IPv4 within the MTU with valid IPv4, TCP and ICMP
 * checksums: this stack is configured without offloads). Frames are copied
 * to exact-size heap buffers so AddressSanitizer catches reads past them. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/netstack/netstack.h"
#include "dataplane/netstack/tcp.h"
#include "dataplane/netstack/wire.h"

/* Records looked at per conversation, and connections tracked. */
#define FUZZ_RECORDS_MAX 64u
#define FUZZ_CONNECTIONS_MAX 8u
#define FUZZ_RECORD_HEADER_BYTES 4u
#define FUZZ_TIME_STEP_US 10000u
#define FUZZ_ECHO_BYTES_MAX 512u
#define FUZZ_SEND_BYTES 1000u
#define FUZZ_START_US 1000000u

#define CONTROL_RX_FLAGS_MASK 0x0fu
#define CONTROL_FIX_CHECKSUMS 0x10u
#define CONTROL_PATCH_ACK 0x20u
#define CONTROL_SEND 0x40u
#define CONTROL_CLOSE 0x80u

/* The stack's identity; the seeds' frames are addressed to it. */
static const uint8_t fuzz_mac[NETSTACK_MAC_BYTES] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
#define FUZZ_IPV4 0x0a000001u    /* 10.0.0.1/24 */
#define FUZZ_NETMASK 0xffffff00u
#define FUZZ_GATEWAY 0x0a0000feu /* 10.0.0.254 */
#define FUZZ_PORT 2181u
/* The server a client-only stack connects to (the seeds' frames come from it). */
static const uint8_t fuzz_peer_mac[NETSTACK_MAC_BYTES] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
#define FUZZ_PEER_IPV4 0x0a000002u

/* A failed check names its line (the crash report shows only the caller). */
#define require(condition) require_at((condition), __LINE__)

static void require_at(bool condition, int line)
{
    if (!condition) {
        fprintf(stderr, "fuzz_packet.c:%d: check failed\n", line);
        abort();
    }
}

struct fuzz_connection {
    struct netstack_connection *connection; /* NULL: slot free */
    bool closing;                           /* netstack_close called or send failed */
};

struct fuzz_state {
    struct netstack *stack;
    uint8_t *pending;
    size_t pending_bytes_max;
    uint32_t next_seq; /* after the last TCP segment sent */
    bool have_next_seq;
    uint32_t accept_count;
    struct fuzz_connection connections[FUZZ_CONNECTIONS_MAX];
    struct fuzz_connection *newest;
    bool client; /* listen_port 0, one netstack_connect */
};

static struct fuzz_state fuzz;

/* ---- output checks ---- */

static void check_tcp(const struct wire_ipv4 *ipv4)
{
    require(wire_tcp_checksum_ok(ipv4->source, ipv4->destination, ipv4->payload,
                                 ipv4->payload_bytes));
    struct tcp_segment segment;
    require(wire_tcp_parse(ipv4->payload, ipv4->payload_bytes, &segment) == WIRE_PARSE_OK);
    /* Parsed as if received: "remote" is the sender, us. */
    bool from_our_port = fuzz.client
                             ? (segment.remote_port >= NETSTACK_EPHEMERAL_PORT_FIRST &&
                                segment.remote_port <= NETSTACK_EPHEMERAL_PORT_LAST)
                             : segment.remote_port == FUZZ_PORT;
    require(from_our_port || (segment.flags & TCP_FLAG_RST));
    uint32_t length = segment.payload_bytes;
    length += (segment.flags & TCP_FLAG_SYN) ? 1u : 0u;
    length += (segment.flags & TCP_FLAG_FIN) ? 1u : 0u;
    fuzz.next_seq = segment.seq + length;
    fuzz.have_next_seq = true;
}

static void check_ipv4(const struct wire_ethernet *ethernet)
{
    struct wire_ipv4 ipv4;
    require(wire_ipv4_parse(ethernet->payload, ethernet->payload_bytes, &ipv4) == WIRE_PARSE_OK);
    require(wire_ipv4_header_checksum_ok(ethernet->payload, ipv4.header_bytes));
    require(ipv4.source == FUZZ_IPV4);
    require(!wire_ipv4_is_fragment(&ipv4));
    require(ipv4.total_bytes <= 1500u);
    if (ipv4.protocol == WIRE_IP_PROTOCOL_TCP) {
        check_tcp(&ipv4);
    } else {
        require(ipv4.protocol == WIRE_IP_PROTOCOL_ICMP);
        require(ipv4.payload_bytes >= WIRE_ICMP_HEADER_BYTES);
        require(ipv4.payload[0] == WIRE_ICMP_ECHO_REPLY);
        require(wire_checksum_fold(wire_checksum_add(0, ipv4.payload, ipv4.payload_bytes)) ==
                0xffffu);
    }
}

static void check_frame(const uint8_t *frame, size_t size)
{
    struct wire_ethernet ethernet;
    require(wire_ethernet_parse(frame, size, &ethernet) == WIRE_PARSE_OK);
    require(memcmp(ethernet.source, fuzz_mac, NETSTACK_MAC_BYTES) == 0);
    if (ethernet.ethertype == WIRE_ETHERTYPE_ARP) {
        struct wire_arp arp;
        require(wire_arp_parse(ethernet.payload, ethernet.payload_bytes, &arp) == WIRE_PARSE_OK);
        require(arp.sender_ipv4 == FUZZ_IPV4);
        return;
    }
    require(ethernet.ethertype == WIRE_ETHERTYPE_IPV4);
    check_ipv4(&ethernet);
}

static uint8_t *fuzz_frame_begin(void *context, size_t bytes_max)
{
    (void)context;
    require(fuzz.pending == NULL);
    require(bytes_max >= WIRE_ETHERNET_FRAME_BYTES_MIN && bytes_max <= NETSTACK_FRAME_BYTES_MAX);
    fuzz.pending = malloc(bytes_max);
    require(fuzz.pending != NULL);
    fuzz.pending_bytes_max = bytes_max;
    return fuzz.pending;
}

static void fuzz_frame_commit(void *context, size_t bytes,
                              const struct netstack_tx_offload *offload)
{
    (void)context;
    require(fuzz.pending != NULL);
    require(bytes >= WIRE_ETHERNET_FRAME_BYTES_MIN && bytes <= fuzz.pending_bytes_max);
    require(offload->flags == 0);
    check_frame(fuzz.pending, bytes);
    free(fuzz.pending);
    fuzz.pending = NULL;
}

/* ---- callbacks ---- */

static void *fuzz_accepted(void *context, struct netstack_connection *connection,
                           uint32_t peer_ipv4, uint16_t peer_port)
{
    (void)context;
    (void)peer_ipv4;
    (void)peer_port;
    if (fuzz.accept_count++ % 2 == 1) {
        return NULL; /* refused: the stack resets it */
    }
    for (uint32_t index = 0; index < FUZZ_CONNECTIONS_MAX; index++) {
        if (fuzz.connections[index].connection == connection) {
            return &fuzz.connections[index]; /* ours, from netstack_connect */
        }
    }
    for (uint32_t index = 0; index < FUZZ_CONNECTIONS_MAX; index++) {
        struct fuzz_connection *slot = &fuzz.connections[index];
        if (slot->connection == NULL) {
            slot->connection = connection;
            slot->closing = false;
            fuzz.newest = slot;
            return slot;
        }
    }
    return NULL;
}

static void fuzz_received(void *context, void *user, const uint8_t *data, size_t size)
{
    (void)context;
    struct fuzz_connection *slot = user;
    require(slot != NULL && slot->connection != NULL);
    require(size > 0);
    /* Every byte handed up is readable (ASan checks). */
    uint8_t folded = 0;
    for (size_t index = 0; index < size; index++) {
        folded ^= data[index];
    }
    (void)folded;
    if (slot->closing) {
        return;
    }
    size_t echo_bytes = size < FUZZ_ECHO_BYTES_MAX ? size : FUZZ_ECHO_BYTES_MAX;
    if (!netstack_send(fuzz.stack, slot->connection, data, echo_bytes)) {
        slot->closing = true;
    }
}

static void fuzz_closed(void *context, void *user, enum netstack_close_reason reason)
{
    (void)context;
    struct fuzz_connection *slot = user;
    require(slot != NULL && slot->connection != NULL);
    require(reason <= NETSTACK_CLOSE_SEND_FULL);
    slot->connection = NULL;
    slot->closing = false;
    if (fuzz.newest == slot) {
        fuzz.newest = NULL;
    }
}

/* ---- the stack ---- */

static void stack_start(bool client)
{
    memset(&fuzz, 0, sizeof(fuzz));
    fuzz.client = client;
    struct netstack_config config;
    netstack_config_defaults(&config);
    memcpy(config.mac, fuzz_mac, NETSTACK_MAC_BYTES);
    config.ipv4_address = FUZZ_IPV4;
    config.ipv4_netmask = FUZZ_NETMASK;
    config.ipv4_gateway = FUZZ_GATEWAY;
    config.listen_port = client ? 0 : FUZZ_PORT;
    /* Small limits: the fuzzer reaches them. */
    config.connections_max = 4;
    config.syn_backlog_max = 4;
    config.time_wait_max = 2;
    config.send_buffer_bytes_max = 16384;
    config.receive_buffer_bytes_max = 8192;
    config.out_of_order_segments_max = 4;
    config.arp_entries_max = 4;
    static const struct netstack_io io = {
        .frame_begin = fuzz_frame_begin,
        .frame_commit = fuzz_frame_commit,
    };
    static const struct netstack_callbacks callbacks = {
        .accepted = fuzz_accepted,
        .received = fuzz_received,
        .closed = fuzz_closed,
    };
    char error[256];
    fuzz.stack = netstack_create(&config, &io, &callbacks, NULL, error, sizeof(error));
    require(fuzz.stack != NULL);
}

static void stack_stop(void)
{
    netstack_destroy(fuzz.stack);
    fuzz.stack = NULL;
    require(fuzz.pending == NULL);
}

/* ---- input shaping ---- */

/* Makes the IPv4 header checksum and the TCP or ICMP checksum right, where
 * the lengths allow; anything else is left as it is. */
static void fix_checksums(uint8_t *frame, size_t size)
{
    if (size < WIRE_ETHERNET_HEADER_BYTES + WIRE_IPV4_HEADER_BYTES_MIN ||
        wire_load16(frame + 12) != WIRE_ETHERTYPE_IPV4) {
        return;
    }
    uint8_t *ip = frame + WIRE_ETHERNET_HEADER_BYTES;
    size_t ip_bytes = size - WIRE_ETHERNET_HEADER_BYTES;
    size_t header_bytes = (size_t)(ip[0] & 0x0fu) * 4u;
    if (header_bytes < WIRE_IPV4_HEADER_BYTES_MIN || header_bytes > ip_bytes) {
        return;
    }
    wire_store16(ip + 10, 0);
    wire_store16(ip + 10, wire_checksum(ip, header_bytes));
    size_t total = wire_load16(ip + 2);
    if (total < header_bytes || total > ip_bytes) {
        return;
    }
    uint8_t *l4 = ip + header_bytes;
    size_t l4_bytes = total - header_bytes;
    if (ip[9] == WIRE_IP_PROTOCOL_TCP && l4_bytes >= WIRE_TCP_HEADER_BYTES_MIN) {
        wire_store16(l4 + 16, 0);
        wire_store16(l4 + 16, wire_tcp_checksum(wire_load32(ip + 12), wire_load32(ip + 16), l4,
                                                l4_bytes));
    } else if (ip[9] == WIRE_IP_PROTOCOL_ICMP && l4_bytes >= WIRE_ICMP_HEADER_BYTES) {
        wire_store16(l4 + 2, 0);
        wire_store16(l4 + 2, wire_checksum(l4, l4_bytes));
    }
}

/* The TCP acknowledgment number, for a TCP/IPv4 frame whose headers are
 * in place. */
static void patch_ack(uint8_t *frame, size_t size)
{
    if (!fuzz.have_next_seq ||
        size < WIRE_ETHERNET_HEADER_BYTES + WIRE_IPV4_HEADER_BYTES_MIN ||
        wire_load16(frame + 12) != WIRE_ETHERTYPE_IPV4) {
        return;
    }
    uint8_t *ip = frame + WIRE_ETHERNET_HEADER_BYTES;
    size_t header_bytes = (size_t)(ip[0] & 0x0fu) * 4u;
    if (ip[9] != WIRE_IP_PROTOCOL_TCP ||
        size < WIRE_ETHERNET_HEADER_BYTES + header_bytes + WIRE_TCP_HEADER_BYTES_MIN) {
        return;
    }
    wire_store32(ip + header_bytes + 8, fuzz.next_seq);
}

static void feed(const uint8_t *bytes, size_t size, uint32_t rx_flags, bool fix, bool ack,
                 uint64_t now_us)
{
    uint8_t *frame = malloc(size ? size : 1);
    require(frame != NULL);
    if (size) {
        memcpy(frame, bytes, size);
    }
    if (ack) {
        patch_ack(frame, size);
    }
    if (fix) {
        fix_checksums(frame, size);
    }
    for (uint32_t shards = 1; shards <= 4; shards++) {
        int shard = netstack_steer(frame, size, shards, 128);
        require(shard >= -1 && shard < (int)shards);
    }
    netstack_input(fuzz.stack, frame, size, rx_flags, now_us);
    free(frame);
}

static void one_frame(const uint8_t *data, size_t size, bool fix)
{
    stack_start(false);
    feed(data, size, 0, fix, false, FUZZ_START_US);
    netstack_poll(fuzz.stack, FUZZ_START_US);
    stack_stop();
}

static void act_on_newest(uint8_t control)
{
    struct fuzz_connection *slot = fuzz.newest;
    if (slot == NULL || slot->connection == NULL || slot->closing) {
        return;
    }
    if (control & CONTROL_SEND) {
        static uint8_t bytes[FUZZ_SEND_BYTES];
        if (!netstack_send(fuzz.stack, slot->connection, bytes, sizeof(bytes))) {
            slot->closing = true;
            return;
        }
        (void)netstack_queued_bytes(fuzz.stack, slot->connection);
    }
    if (control & CONTROL_CLOSE) {
        netstack_close(fuzz.stack, slot->connection);
        slot->closing = true;
    }
}

/* The client-only stack learns the peer's MAC (an ARP reply to us), so its
 * SYN leaves at once, and connects. */
static void client_connect(uint64_t now_us)
{
    struct wire_arp reply = {.operation = WIRE_ARP_OPERATION_REPLY,
                             .sender_ipv4 = FUZZ_PEER_IPV4,
                             .target_ipv4 = FUZZ_IPV4};
    memcpy(reply.sender_mac, fuzz_peer_mac, NETSTACK_MAC_BYTES);
    memcpy(reply.target_mac, fuzz_mac, NETSTACK_MAC_BYTES);
    uint8_t frame[WIRE_ETHERNET_FRAME_BYTES_MIN];
    size_t frame_bytes = wire_arp_frame_write(frame, sizeof(frame), fuzz_mac, &reply);
    require(frame_bytes == sizeof(frame));
    netstack_input(fuzz.stack, frame, frame_bytes, 0, now_us);
    struct fuzz_connection *slot = &fuzz.connections[0];
    slot->connection = netstack_connect(fuzz.stack, FUZZ_PEER_IPV4, FUZZ_PORT, slot, now_us);
    require(slot->connection != NULL);
    fuzz.newest = slot;
    netstack_poll(fuzz.stack, now_us);
    require(fuzz.have_next_seq); /* the SYN went out */
}

static void conversation(const uint8_t *data, size_t size, bool client)
{
    stack_start(client);
    uint64_t now_us = FUZZ_START_US;
    if (client) {
        client_connect(now_us);
    }
    size_t offset = 0;
    for (uint32_t record = 0; record < FUZZ_RECORDS_MAX; record++) {
        if (size - offset < FUZZ_RECORD_HEADER_BYTES) {
            break;
        }
        uint8_t control = data[offset];
        now_us += (uint64_t)data[offset + 1] * FUZZ_TIME_STEP_US;
        size_t frame_bytes = wire_load16(data + offset + 2);
        offset += FUZZ_RECORD_HEADER_BYTES;
        if (frame_bytes > size - offset) {
            frame_bytes = size - offset;
        }
        feed(data + offset, frame_bytes, control & CONTROL_RX_FLAGS_MASK,
             (control & CONTROL_FIX_CHECKSUMS) != 0, (control & CONTROL_PATCH_ACK) != 0, now_us);
        offset += frame_bytes;
        netstack_poll(fuzz.stack, now_us);
        act_on_newest(control);
        netstack_poll(fuzz.stack, now_us);
    }
    /* Let every timer run out (bounded: a few simulated minutes). */
    for (uint32_t step = 0; step < 16; step++) {
        now_us += 30000000u;
        netstack_poll(fuzz.stack, now_us);
    }
    stack_stop();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4u * NETSTACK_FRAME_BYTES_MAX) {
        return 0;
    }
    if (size <= NETSTACK_FRAME_BYTES_MAX) {
        one_frame(data, size, false);
        one_frame(data, size, true);
    }
    conversation(data, size, false);
    conversation(data, size, true);
    return 0;
}
