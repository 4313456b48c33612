/* Frame formats and checksums for the netstack (see wire.h). Every length
 * read from a frame is checked against the bytes actually there before it
 * is used. */
#include "dataplane/netstack/wire.h"

#include <assert.h>
#include <string.h>

const uint8_t WIRE_MAC_BROADCAST[NETSTACK_MAC_BYTES] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* ARP fields: hardware type, protocol type, their sizes, the operation. */
#define ARP_OFFSET_HARDWARE 0u
#define ARP_OFFSET_PROTOCOL 2u
#define ARP_OFFSET_HARDWARE_BYTES 4u
#define ARP_OFFSET_PROTOCOL_BYTES 5u
#define ARP_OFFSET_OPERATION 6u
#define ARP_OFFSET_SENDER_MAC 8u
#define ARP_OFFSET_SENDER_IPV4 14u
#define ARP_OFFSET_TARGET_MAC 18u
#define ARP_OFFSET_TARGET_IPV4 24u
#define ARP_IPV4_BYTES 4u

#define IPV4_VERSION 4u
#define IPV4_OFFSET_TOTAL 2u
#define IPV4_OFFSET_ID 4u
#define IPV4_OFFSET_FRAGMENT 6u
#define IPV4_OFFSET_TTL 8u
#define IPV4_OFFSET_PROTOCOL 9u
#define IPV4_OFFSET_CHECKSUM 10u
#define IPV4_OFFSET_SOURCE 12u
#define IPV4_OFFSET_DESTINATION 16u

#define ICMP_OFFSET_CHECKSUM 2u

#define TCP_OFFSET_SOURCE_PORT 0u
#define TCP_OFFSET_DESTINATION_PORT 2u
#define TCP_OFFSET_SEQ 4u
#define TCP_OFFSET_ACK 8u
#define TCP_OFFSET_DATA_OFFSET 12u
#define TCP_OFFSET_FLAGS 13u
#define TCP_OFFSET_WINDOW 14u
#define TCP_OFFSET_CHECKSUM 16u
#define TCP_OFFSET_URGENT 18u

#define TCP_OPTION_EOL 0u
#define TCP_OPTION_NOP 1u
#define TCP_OPTION_MSS 2u
#define TCP_OPTION_WINDOW_SCALE 3u
#define TCP_OPTION_SACK_PERMITTED 4u
#define TCP_OPTION_TIMESTAMPS 8u
#define TCP_OPTION_MSS_BYTES 4u
#define TCP_OPTION_WINDOW_SCALE_BYTES 3u
#define TCP_OPTION_SACK_PERMITTED_BYTES 2u
#define TCP_OPTION_TIMESTAMPS_BYTES 10u
/* An option's kind and length bytes. */
#define TCP_OPTION_HEADER_BYTES 2u

/* ---- checksum ---- */

uint64_t wire_checksum_add(uint64_t sum, const uint8_t *bytes, size_t size)
{
    size_t index = 0;
    for (; index + 1 < size; index += 2) {
        sum += wire_load16(bytes + index);
    }
    if (index < size) {
        sum += (uint64_t)bytes[index] << 8;
    }
    return sum;
}

uint16_t wire_checksum_fold(uint64_t sum)
{
    /* At most four folds bring 64 bits down to 16. */
    while (sum >> 16) {
        sum = (sum & 0xffffu) + (sum >> 16);
    }
    return (uint16_t)sum;
}

uint16_t wire_checksum(const uint8_t *bytes, size_t size)
{
    return (uint16_t)~wire_checksum_fold(wire_checksum_add(0, bytes, size));
}

uint64_t wire_ipv4_pseudo_header_sum(uint32_t source_ipv4, uint32_t destination_ipv4,
                                     uint8_t protocol, uint16_t l4_bytes)
{
    return (uint64_t)(source_ipv4 >> 16) + (source_ipv4 & 0xffffu) + (destination_ipv4 >> 16) +
           (destination_ipv4 & 0xffffu) + protocol + l4_bytes;
}

uint16_t wire_tcp_offload_checksum(uint32_t source_ipv4, uint32_t destination_ipv4,
                                   uint16_t l4_bytes)
{
    return wire_checksum_fold(
        wire_ipv4_pseudo_header_sum(source_ipv4, destination_ipv4, WIRE_IP_PROTOCOL_TCP, l4_bytes));
}

static uint64_t tcp_sum(uint32_t source_ipv4, uint32_t destination_ipv4, const uint8_t *segment,
                        size_t segment_bytes)
{
    assert(segment_bytes <= WIRE_IPV4_TOTAL_BYTES_MAX);
    uint64_t sum = wire_ipv4_pseudo_header_sum(source_ipv4, destination_ipv4,
                                               WIRE_IP_PROTOCOL_TCP, (uint16_t)segment_bytes);
    return wire_checksum_add(sum, segment, segment_bytes);
}

uint16_t wire_tcp_checksum(uint32_t source_ipv4, uint32_t destination_ipv4,
                           const uint8_t *segment, size_t segment_bytes)
{
    return (uint16_t)~wire_checksum_fold(
        tcp_sum(source_ipv4, destination_ipv4, segment, segment_bytes));
}

bool wire_tcp_checksum_ok(uint32_t source_ipv4, uint32_t destination_ipv4,
                          const uint8_t *segment, size_t segment_bytes)
{
    return wire_checksum_fold(tcp_sum(source_ipv4, destination_ipv4, segment, segment_bytes)) ==
           0xffffu;
}

/* ---- Ethernet ---- */

enum wire_parse wire_ethernet_parse(const uint8_t *frame, size_t size, struct wire_ethernet *out)
{
    if (size < WIRE_ETHERNET_HEADER_BYTES) {
        return WIRE_PARSE_MALFORMED;
    }
    memcpy(out->destination, frame, NETSTACK_MAC_BYTES);
    memcpy(out->source, frame + NETSTACK_MAC_BYTES, NETSTACK_MAC_BYTES);
    out->ethertype = wire_load16(frame + 2 * NETSTACK_MAC_BYTES);
    out->payload = frame + WIRE_ETHERNET_HEADER_BYTES;
    out->payload_bytes = size - WIRE_ETHERNET_HEADER_BYTES;
    return WIRE_PARSE_OK;
}

void wire_ethernet_write(uint8_t *frame, const uint8_t destination[NETSTACK_MAC_BYTES],
                         const uint8_t source[NETSTACK_MAC_BYTES], uint16_t ethertype)
{
    memcpy(frame, destination, NETSTACK_MAC_BYTES);
    memcpy(frame + NETSTACK_MAC_BYTES, source, NETSTACK_MAC_BYTES);
    wire_store16(frame + 2 * NETSTACK_MAC_BYTES, ethertype);
}

bool wire_mac_is_broadcast(const uint8_t mac[NETSTACK_MAC_BYTES])
{
    return memcmp(mac, WIRE_MAC_BROADCAST, NETSTACK_MAC_BYTES) == 0;
}

bool wire_mac_is_multicast(const uint8_t mac[NETSTACK_MAC_BYTES])
{
    return (mac[0] & 0x01u) != 0;
}

bool wire_mac_is_zero(const uint8_t mac[NETSTACK_MAC_BYTES])
{
    static const uint8_t zero[NETSTACK_MAC_BYTES];
    return memcmp(mac, zero, NETSTACK_MAC_BYTES) == 0;
}

/* Zeros from `size` up to the minimum frame; returns the padded size. */
static size_t pad_frame(uint8_t *frame, size_t size)
{
    if (size >= WIRE_ETHERNET_FRAME_BYTES_MIN) {
        return size;
    }
    memset(frame + size, 0, WIRE_ETHERNET_FRAME_BYTES_MIN - size);
    return WIRE_ETHERNET_FRAME_BYTES_MIN;
}

/* ---- ARP ---- */

enum wire_parse wire_arp_parse(const uint8_t *packet, size_t size, struct wire_arp *out)
{
    if (size < WIRE_ARP_BYTES) {
        return WIRE_PARSE_MALFORMED;
    }
    if (wire_load16(packet + ARP_OFFSET_HARDWARE) != WIRE_ARP_HARDWARE_ETHERNET ||
        wire_load16(packet + ARP_OFFSET_PROTOCOL) != WIRE_ETHERTYPE_IPV4 ||
        packet[ARP_OFFSET_HARDWARE_BYTES] != NETSTACK_MAC_BYTES ||
        packet[ARP_OFFSET_PROTOCOL_BYTES] != ARP_IPV4_BYTES) {
        return WIRE_PARSE_UNSUPPORTED;
    }
    out->operation = wire_load16(packet + ARP_OFFSET_OPERATION);
    if (out->operation != WIRE_ARP_OPERATION_REQUEST &&
        out->operation != WIRE_ARP_OPERATION_REPLY) {
        return WIRE_PARSE_UNSUPPORTED;
    }
    memcpy(out->sender_mac, packet + ARP_OFFSET_SENDER_MAC, NETSTACK_MAC_BYTES);
    out->sender_ipv4 = wire_load32(packet + ARP_OFFSET_SENDER_IPV4);
    memcpy(out->target_mac, packet + ARP_OFFSET_TARGET_MAC, NETSTACK_MAC_BYTES);
    out->target_ipv4 = wire_load32(packet + ARP_OFFSET_TARGET_IPV4);
    return WIRE_PARSE_OK;
}

size_t wire_arp_frame_write(uint8_t *frame, size_t bytes_max,
                            const uint8_t ethernet_destination[NETSTACK_MAC_BYTES],
                            const struct wire_arp *arp)
{
    if (bytes_max < WIRE_ETHERNET_FRAME_BYTES_MIN) {
        return 0;
    }
    wire_ethernet_write(frame, ethernet_destination, arp->sender_mac, WIRE_ETHERTYPE_ARP);
    uint8_t *packet = frame + WIRE_ETHERNET_HEADER_BYTES;
    wire_store16(packet + ARP_OFFSET_HARDWARE, WIRE_ARP_HARDWARE_ETHERNET);
    wire_store16(packet + ARP_OFFSET_PROTOCOL, WIRE_ETHERTYPE_IPV4);
    packet[ARP_OFFSET_HARDWARE_BYTES] = NETSTACK_MAC_BYTES;
    packet[ARP_OFFSET_PROTOCOL_BYTES] = ARP_IPV4_BYTES;
    wire_store16(packet + ARP_OFFSET_OPERATION, arp->operation);
    memcpy(packet + ARP_OFFSET_SENDER_MAC, arp->sender_mac, NETSTACK_MAC_BYTES);
    wire_store32(packet + ARP_OFFSET_SENDER_IPV4, arp->sender_ipv4);
    memcpy(packet + ARP_OFFSET_TARGET_MAC, arp->target_mac, NETSTACK_MAC_BYTES);
    wire_store32(packet + ARP_OFFSET_TARGET_IPV4, arp->target_ipv4);
    return pad_frame(frame, WIRE_ETHERNET_HEADER_BYTES + WIRE_ARP_BYTES);
}

/* ---- IPv4 ---- */

enum wire_parse wire_ipv4_parse(const uint8_t *packet, size_t size, struct wire_ipv4 *out)
{
    if (size < WIRE_IPV4_HEADER_BYTES_MIN || packet[0] >> 4 != IPV4_VERSION) {
        return WIRE_PARSE_MALFORMED;
    }
    size_t header_bytes = (size_t)(packet[0] & 0x0fu) * 4u;
    uint16_t total_bytes = wire_load16(packet + IPV4_OFFSET_TOTAL);
    if (header_bytes < WIRE_IPV4_HEADER_BYTES_MIN || header_bytes > size ||
        total_bytes < header_bytes || total_bytes > size) {
        return WIRE_PARSE_MALFORMED;
    }
    out->header_bytes = (uint8_t)header_bytes;
    out->total_bytes = total_bytes;
    out->identification = wire_load16(packet + IPV4_OFFSET_ID);
    out->fragment = wire_load16(packet + IPV4_OFFSET_FRAGMENT);
    out->ttl = packet[IPV4_OFFSET_TTL];
    out->protocol = packet[IPV4_OFFSET_PROTOCOL];
    out->source = wire_load32(packet + IPV4_OFFSET_SOURCE);
    out->destination = wire_load32(packet + IPV4_OFFSET_DESTINATION);
    out->payload = packet + header_bytes;
    out->payload_bytes = (uint16_t)(total_bytes - header_bytes);
    return WIRE_PARSE_OK;
}

bool wire_ipv4_header_checksum_ok(const uint8_t *packet, size_t header_bytes)
{
    return wire_checksum_fold(wire_checksum_add(0, packet, header_bytes)) == 0xffffu;
}

bool wire_ipv4_is_fragment(const struct wire_ipv4 *ipv4)
{
    return (ipv4->fragment & (WIRE_IPV4_FLAG_MORE_FRAGMENTS | WIRE_IPV4_FRAGMENT_OFFSET_MASK)) !=
           0;
}

void wire_ipv4_write(uint8_t *packet, uint16_t total_bytes, uint16_t identification,
                     uint8_t protocol, uint32_t source, uint32_t destination,
                     bool checksum_offload)
{
    packet[0] = (uint8_t)(IPV4_VERSION << 4 | WIRE_IPV4_HEADER_BYTES_MIN / 4u);
    packet[1] = 0; /* DSCP/ECN: best effort, not ECN-capable */
    wire_store16(packet + IPV4_OFFSET_TOTAL, total_bytes);
    wire_store16(packet + IPV4_OFFSET_ID, identification);
    wire_store16(packet + IPV4_OFFSET_FRAGMENT, WIRE_IPV4_FLAG_DONT_FRAGMENT);
    packet[IPV4_OFFSET_TTL] = WIRE_IPV4_TTL;
    packet[IPV4_OFFSET_PROTOCOL] = protocol;
    wire_store16(packet + IPV4_OFFSET_CHECKSUM, 0);
    wire_store32(packet + IPV4_OFFSET_SOURCE, source);
    wire_store32(packet + IPV4_OFFSET_DESTINATION, destination);
    if (!checksum_offload) {
        wire_store16(packet + IPV4_OFFSET_CHECKSUM,
                     wire_checksum(packet, WIRE_IPV4_HEADER_BYTES_MIN));
    }
}

/* ---- ICMP ---- */

size_t wire_icmp_echo_reply_write(uint8_t *frame, size_t bytes_max,
                                  const uint8_t destination_mac[NETSTACK_MAC_BYTES],
                                  const uint8_t source_mac[NETSTACK_MAC_BYTES],
                                  uint16_t identification, uint32_t source_ipv4,
                                  uint32_t destination_ipv4, const uint8_t *request,
                                  size_t request_bytes)
{
    assert(request_bytes >= WIRE_ICMP_HEADER_BYTES);
    size_t total_bytes = WIRE_IPV4_HEADER_BYTES_MIN + request_bytes;
    size_t frame_bytes = WIRE_ETHERNET_HEADER_BYTES + total_bytes;
    if (total_bytes > WIRE_IPV4_TOTAL_BYTES_MAX || frame_bytes > bytes_max ||
        bytes_max < WIRE_ETHERNET_FRAME_BYTES_MIN) {
        return 0;
    }
    wire_ethernet_write(frame, destination_mac, source_mac, WIRE_ETHERTYPE_IPV4);
    uint8_t *packet = frame + WIRE_ETHERNET_HEADER_BYTES;
    wire_ipv4_write(packet, (uint16_t)total_bytes, identification, WIRE_IP_PROTOCOL_ICMP,
                    source_ipv4, destination_ipv4, false);
    uint8_t *icmp = packet + WIRE_IPV4_HEADER_BYTES_MIN;
    memcpy(icmp, request, request_bytes);
    icmp[0] = WIRE_ICMP_ECHO_REPLY;
    icmp[1] = 0;
    wire_store16(icmp + ICMP_OFFSET_CHECKSUM, 0);
    wire_store16(icmp + ICMP_OFFSET_CHECKSUM, wire_checksum(icmp, request_bytes));
    return pad_frame(frame, frame_bytes);
}

/* ---- TCP ---- */

/* One option of `kind` whose whole length (kind and length bytes included)
 * is `option_bytes`, its value at `value`. False when a known option has
 * the wrong length. Unknown options are skipped. */
static bool tcp_option_parse(uint8_t kind, const uint8_t *value, size_t option_bytes,
                             struct tcp_segment *out)
{
    switch (kind) {
    case TCP_OPTION_MSS:
        if (option_bytes != TCP_OPTION_MSS_BYTES) {
            return false;
        }
        out->mss = wire_load16(value);
        return true;
    case TCP_OPTION_WINDOW_SCALE:
        if (option_bytes != TCP_OPTION_WINDOW_SCALE_BYTES) {
            return false;
        }
        out->has_window_scale = true;
        out->window_scale =
            value[0] > WIRE_TCP_WINDOW_SCALE_MAX ? (uint8_t)WIRE_TCP_WINDOW_SCALE_MAX : value[0];
        return true;
    case TCP_OPTION_SACK_PERMITTED:
        if (option_bytes != TCP_OPTION_SACK_PERMITTED_BYTES) {
            return false;
        }
        out->sack_permitted = true;
        return true;
    case TCP_OPTION_TIMESTAMPS:
        if (option_bytes != TCP_OPTION_TIMESTAMPS_BYTES) {
            return false;
        }
        out->has_timestamps = true;
        out->timestamp_value = wire_load32(value);
        out->timestamp_echo = wire_load32(value + 4);
        return true;
    default:
        return true; /* SACK blocks, MD5, Fast Open...: not used, skipped */
    }
}

/* The option list of `options_bytes` (<= 40) bytes. */
static bool tcp_options_parse(const uint8_t *options, size_t options_bytes,
                              struct tcp_segment *out)
{
    size_t offset = 0;
    /* Every step consumes at least one byte: at most 40 steps. */
    while (offset < options_bytes) {
        uint8_t kind = options[offset];
        if (kind == TCP_OPTION_EOL) {
            return true;
        }
        if (kind == TCP_OPTION_NOP) {
            offset++;
            continue;
        }
        if (options_bytes - offset < TCP_OPTION_HEADER_BYTES) {
            return false;
        }
        size_t option_bytes = options[offset + 1];
        if (option_bytes < TCP_OPTION_HEADER_BYTES || option_bytes > options_bytes - offset) {
            return false;
        }
        if (!tcp_option_parse(kind, options + offset + TCP_OPTION_HEADER_BYTES, option_bytes,
                              out)) {
            return false;
        }
        offset += option_bytes;
    }
    return true;
}

enum wire_parse wire_tcp_parse(const uint8_t *segment, size_t segment_bytes,
                               struct tcp_segment *out)
{
    if (segment_bytes < WIRE_TCP_HEADER_BYTES_MIN) {
        return WIRE_PARSE_MALFORMED;
    }
    size_t header_bytes = (size_t)(segment[TCP_OFFSET_DATA_OFFSET] >> 4) * 4u;
    if (header_bytes < WIRE_TCP_HEADER_BYTES_MIN || header_bytes > segment_bytes) {
        return WIRE_PARSE_MALFORMED;
    }
    out->remote_port = wire_load16(segment + TCP_OFFSET_SOURCE_PORT);
    out->local_port = wire_load16(segment + TCP_OFFSET_DESTINATION_PORT);
    out->seq = wire_load32(segment + TCP_OFFSET_SEQ);
    out->ack = wire_load32(segment + TCP_OFFSET_ACK);
    out->flags = (uint8_t)(segment[TCP_OFFSET_FLAGS] & WIRE_TCP_FLAGS_MASK);
    out->window = wire_load16(segment + TCP_OFFSET_WINDOW);
    out->mss = 0;
    out->has_window_scale = false;
    out->window_scale = 0;
    out->sack_permitted = false;
    out->has_timestamps = false;
    out->timestamp_value = 0;
    out->timestamp_echo = 0;
    if (!tcp_options_parse(segment + WIRE_TCP_HEADER_BYTES_MIN,
                           header_bytes - WIRE_TCP_HEADER_BYTES_MIN, out)) {
        return WIRE_PARSE_MALFORMED;
    }
    out->payload = segment + header_bytes;
    out->payload_bytes = (uint32_t)(segment_bytes - header_bytes);
    return WIRE_PARSE_OK;
}

size_t wire_tcp_options_bytes(const struct tcp_segment *header)
{
    size_t bytes = 0;
    if (header->mss != 0) {
        bytes += 4;
    }
    if (header->has_timestamps) {
        bytes += 12; /* SACK permitted (or two NOPs) + timestamps */
    } else if (header->sack_permitted) {
        bytes += 4;
    }
    if (header->has_window_scale) {
        bytes += 4;
    }
    return bytes;
}

size_t wire_tcp_options_write(uint8_t *options, const struct tcp_segment *header)
{
    uint8_t *at = options;
    if (header->mss != 0) {
        at[0] = TCP_OPTION_MSS;
        at[1] = TCP_OPTION_MSS_BYTES;
        wire_store16(at + 2, header->mss);
        at += 4;
    }
    if (header->sack_permitted) {
        /* Linux puts SACK permitted where the timestamps' NOPs would go. */
        if (!header->has_timestamps) {
            *at++ = TCP_OPTION_NOP;
            *at++ = TCP_OPTION_NOP;
        }
        *at++ = TCP_OPTION_SACK_PERMITTED;
        *at++ = TCP_OPTION_SACK_PERMITTED_BYTES;
    } else if (header->has_timestamps) {
        *at++ = TCP_OPTION_NOP;
        *at++ = TCP_OPTION_NOP;
    }
    if (header->has_timestamps) {
        at[0] = TCP_OPTION_TIMESTAMPS;
        at[1] = TCP_OPTION_TIMESTAMPS_BYTES;
        wire_store32(at + 2, header->timestamp_value);
        wire_store32(at + 6, header->timestamp_echo);
        at += TCP_OPTION_TIMESTAMPS_BYTES;
    }
    if (header->has_window_scale) {
        at[0] = TCP_OPTION_NOP;
        at[1] = TCP_OPTION_WINDOW_SCALE;
        at[2] = TCP_OPTION_WINDOW_SCALE_BYTES;
        at[3] = header->window_scale;
        at += 4;
    }
    size_t bytes = (size_t)(at - options);
    assert(bytes == wire_tcp_options_bytes(header));
    assert(bytes % 4u == 0 && bytes <= WIRE_TCP_OPTIONS_BYTES_MAX);
    return bytes;
}

static size_t tcp_payload_bytes(const struct tcp_segment_out *segment)
{
    return (size_t)segment->part_bytes[0] + segment->part_bytes[1];
}

size_t wire_tcp_frame_bytes(const struct tcp_segment_out *segment)
{
    return WIRE_ETHERNET_HEADER_BYTES + WIRE_IPV4_HEADER_BYTES_MIN + WIRE_TCP_HEADER_BYTES_MIN +
           wire_tcp_options_bytes(&segment->header) + tcp_payload_bytes(segment);
}

/* The TCP header and options at `tcp`; returns the header's size. */
static size_t tcp_header_write(uint8_t *tcp, const struct tcp_segment *header)
{
    size_t header_bytes = WIRE_TCP_HEADER_BYTES_MIN +
                          wire_tcp_options_write(tcp + WIRE_TCP_HEADER_BYTES_MIN, header);
    wire_store16(tcp + TCP_OFFSET_SOURCE_PORT, header->local_port);
    wire_store16(tcp + TCP_OFFSET_DESTINATION_PORT, header->remote_port);
    wire_store32(tcp + TCP_OFFSET_SEQ, header->seq);
    wire_store32(tcp + TCP_OFFSET_ACK, header->ack);
    tcp[TCP_OFFSET_DATA_OFFSET] = (uint8_t)(header_bytes / 4u << 4);
    tcp[TCP_OFFSET_FLAGS] = (uint8_t)(header->flags & WIRE_TCP_FLAGS_MASK);
    wire_store16(tcp + TCP_OFFSET_WINDOW, header->window);
    wire_store16(tcp + TCP_OFFSET_CHECKSUM, 0);
    wire_store16(tcp + TCP_OFFSET_URGENT, 0);
    return header_bytes;
}

size_t wire_tcp_frame_write(uint8_t *frame, size_t bytes_max, const struct wire_tcp_frame *how,
                            const struct tcp_segment_out *segment,
                            struct netstack_tx_offload *offload)
{
    const struct tcp_segment *header = &segment->header;
    size_t frame_bytes = wire_tcp_frame_bytes(segment);
    size_t total_bytes = frame_bytes - WIRE_ETHERNET_HEADER_BYTES;
    if (total_bytes > WIRE_IPV4_TOTAL_BYTES_MAX || frame_bytes > bytes_max ||
        bytes_max < WIRE_ETHERNET_FRAME_BYTES_MIN) {
        return 0;
    }
    uint32_t flags = how->tx_offload_flags &
                     (NETSTACK_TX_IPV4_CHECKSUM | NETSTACK_TX_TCP_CHECKSUM);
    if (segment->tso_segment_bytes != 0) {
        /* A port cutting segments checksums each one (DPDK requires both
         * checksum flags with TSO). */
        assert(how->tx_offload_flags & NETSTACK_TX_TCP_SEGMENT);
        flags = NETSTACK_TX_IPV4_CHECKSUM | NETSTACK_TX_TCP_CHECKSUM | NETSTACK_TX_TCP_SEGMENT;
    }
    wire_ethernet_write(frame, how->destination_mac, how->source_mac, WIRE_ETHERTYPE_IPV4);
    uint8_t *packet = frame + WIRE_ETHERNET_HEADER_BYTES;
    wire_ipv4_write(packet, (uint16_t)total_bytes, how->ipv4_identification, WIRE_IP_PROTOCOL_TCP,
                    header->local_ipv4, header->remote_ipv4,
                    (flags & NETSTACK_TX_IPV4_CHECKSUM) != 0);
    uint8_t *tcp = packet + WIRE_IPV4_HEADER_BYTES_MIN;
    size_t header_bytes = tcp_header_write(tcp, header);
    uint8_t *payload = tcp + header_bytes;
    if (segment->part_bytes[0]) {
        memcpy(payload, segment->parts[0], segment->part_bytes[0]);
    }
    if (segment->part_bytes[1]) {
        memcpy(payload + segment->part_bytes[0], segment->parts[1], segment->part_bytes[1]);
    }
    size_t segment_bytes = total_bytes - WIRE_IPV4_HEADER_BYTES_MIN;
    uint16_t checksum;
    if (flags & NETSTACK_TX_TCP_SEGMENT) {
        checksum = wire_tcp_offload_checksum(header->local_ipv4, header->remote_ipv4, 0);
    } else if (flags & NETSTACK_TX_TCP_CHECKSUM) {
        checksum = wire_tcp_offload_checksum(header->local_ipv4, header->remote_ipv4,
                                             (uint16_t)segment_bytes);
    } else {
        checksum = wire_tcp_checksum(header->local_ipv4, header->remote_ipv4, tcp, segment_bytes);
    }
    wire_store16(tcp + TCP_OFFSET_CHECKSUM, checksum);
    offload->flags = flags;
    offload->l2_bytes = WIRE_ETHERNET_HEADER_BYTES;
    offload->l3_bytes = WIRE_IPV4_HEADER_BYTES_MIN;
    offload->l4_bytes = (uint16_t)header_bytes;
    offload->segment_bytes = (flags & NETSTACK_TX_TCP_SEGMENT) ? segment->tso_segment_bytes : 0;
    return pad_frame(frame, frame_bytes);
}
