/* Frame formats for the netstack: Ethernet II, ARP for IPv4 over Ethernet,
 * IPv4, ICMP echo and TCP (with its options), parsed and built with an
 * explicit bounds check on every length field (the input is hostile), and
 * the Internet checksum (RFC 1071) with the TCP pseudo-header.
 *
 * Pure: no sockets, no clock, no allocation. Frames are in network byte
 * order; every value in the structs here is in host byte order. The
 * load/store helpers are the only byte-order conversions.
 */
#ifndef CHEETAH_NETSTACK_WIRE_H
#define CHEETAH_NETSTACK_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/netstack/netstack.h"
#include "dataplane/netstack/tcp.h"

#define WIRE_ETHERNET_HEADER_BYTES 14u
/* The shortest Ethernet frame without its FCS: shorter frames are padded
 * with zeros so that no port has to. */
#define WIRE_ETHERNET_FRAME_BYTES_MIN 60u
#define WIRE_ETHERTYPE_IPV4 0x0800u
#define WIRE_ETHERTYPE_ARP 0x0806u

#define WIRE_ARP_BYTES 28u
#define WIRE_ARP_HARDWARE_ETHERNET 1u
#define WIRE_ARP_OPERATION_REQUEST 1u
#define WIRE_ARP_OPERATION_REPLY 2u

#define WIRE_IPV4_HEADER_BYTES_MIN 20u
#define WIRE_IPV4_HEADER_BYTES_MAX 60u
#define WIRE_IPV4_TOTAL_BYTES_MAX 65535u
#define WIRE_IPV4_FLAG_DONT_FRAGMENT 0x4000u
#define WIRE_IPV4_FLAG_MORE_FRAGMENTS 0x2000u
#define WIRE_IPV4_FRAGMENT_OFFSET_MASK 0x1fffu
#define WIRE_IPV4_TTL 64u /* Linux's default */
#define WIRE_IP_PROTOCOL_ICMP 1u
#define WIRE_IP_PROTOCOL_TCP 6u

#define WIRE_ICMP_HEADER_BYTES 8u
#define WIRE_ICMP_ECHO_REPLY 0u
#define WIRE_ICMP_ECHO_REQUEST 8u

#define WIRE_TCP_HEADER_BYTES_MIN 20u
#define WIRE_TCP_HEADER_BYTES_MAX 60u
#define WIRE_TCP_OPTIONS_BYTES_MAX (WIRE_TCP_HEADER_BYTES_MAX - WIRE_TCP_HEADER_BYTES_MIN)
/* The flags TCP acts on (enum tcp_flag); ECE and CWR are not passed up: we
 * do not negotiate ECN, so answering as if they were absent is right. */
#define WIRE_TCP_FLAGS_MASK 0x3fu
/* RFC 7323: a shift above 14 is treated as 14. */
#define WIRE_TCP_WINDOW_SCALE_MAX 14u

enum wire_parse {
    WIRE_PARSE_OK = 0,
    WIRE_PARSE_MALFORMED,   /* a length or field that cannot be right */
    WIRE_PARSE_UNSUPPORTED, /* well formed, but nothing we speak */
};

/* Big-endian loads and stores: the one place byte order is converted. */
static inline uint16_t wire_load16(const uint8_t *bytes)
{
    return (uint16_t)((unsigned)bytes[0] << 8 | bytes[1]);
}

static inline uint32_t wire_load32(const uint8_t *bytes)
{
    return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 |
           bytes[3];
}

static inline void wire_store16(uint8_t *bytes, uint16_t value)
{
    bytes[0] = (uint8_t)(value >> 8);
    bytes[1] = (uint8_t)value;
}

static inline void wire_store32(uint8_t *bytes, uint32_t value)
{
    bytes[0] = (uint8_t)(value >> 24);
    bytes[1] = (uint8_t)(value >> 16);
    bytes[2] = (uint8_t)(value >> 8);
    bytes[3] = (uint8_t)value;
}

/* ---- The Internet checksum (RFC 1071) ---- */

/* Adds `size` bytes as big-endian 16-bit words to a running sum (a trailing
 * odd byte is padded with a zero). Only the last piece summed may have an
 * odd length. The sum is kept unfolded in 64 bits: no overflow for any
 * size a frame can have. */
uint64_t wire_checksum_add(uint64_t sum, const uint8_t *bytes, size_t size);
/* Folds the carries back in: the ones' complement sum, NOT inverted. */
uint16_t wire_checksum_fold(uint64_t sum);
/* The checksum to store in a header: the inverted folded sum of `bytes`
 * (whose checksum field must hold 0). */
uint16_t wire_checksum(const uint8_t *bytes, size_t size);
/* The unfolded sum of the IPv4 pseudo-header (RFC 9293 section 3.1). */
uint64_t wire_ipv4_pseudo_header_sum(uint32_t source_ipv4, uint32_t destination_ipv4,
                                     uint8_t protocol, uint16_t l4_bytes);
/* What a port doing TCP checksum offload wants in the TCP checksum field
 * (DPDK's rte_ipv4_phdr_cksum): the folded, not inverted, pseudo-header
 * sum; with TSO the L4 length is left out (l4_bytes = 0), since the port
 * puts each segment's length in. */
uint16_t wire_tcp_offload_checksum(uint32_t source_ipv4, uint32_t destination_ipv4,
                                   uint16_t l4_bytes);
/* The full software TCP checksum of a segment (header + payload, its
 * checksum field 0). */
uint16_t wire_tcp_checksum(uint32_t source_ipv4, uint32_t destination_ipv4,
                           const uint8_t *segment, size_t segment_bytes);
/* Whether a received segment's checksum verifies (the sum with the
 * checksum field in place is all ones). */
bool wire_tcp_checksum_ok(uint32_t source_ipv4, uint32_t destination_ipv4,
                          const uint8_t *segment, size_t segment_bytes);

/* ---- Ethernet II ---- */

struct wire_ethernet {
    uint8_t destination[NETSTACK_MAC_BYTES];
    uint8_t source[NETSTACK_MAC_BYTES];
    uint16_t ethertype;
    const uint8_t *payload; /* into the frame */
    size_t payload_bytes;   /* to the frame's end, padding included */
};

enum wire_parse wire_ethernet_parse(const uint8_t *frame, size_t size, struct wire_ethernet *out);
void wire_ethernet_write(uint8_t *frame, const uint8_t destination[NETSTACK_MAC_BYTES],
                         const uint8_t source[NETSTACK_MAC_BYTES], uint16_t ethertype);
bool wire_mac_is_broadcast(const uint8_t mac[NETSTACK_MAC_BYTES]);
/* Group bit set (broadcast included). */
bool wire_mac_is_multicast(const uint8_t mac[NETSTACK_MAC_BYTES]);
bool wire_mac_is_zero(const uint8_t mac[NETSTACK_MAC_BYTES]);
extern const uint8_t WIRE_MAC_BROADCAST[NETSTACK_MAC_BYTES];

/* ---- ARP (RFC 826), Ethernet hardware, IPv4 protocol ---- */

struct wire_arp {
    uint16_t operation;
    uint8_t sender_mac[NETSTACK_MAC_BYTES];
    uint32_t sender_ipv4;
    uint8_t target_mac[NETSTACK_MAC_BYTES];
    uint32_t target_ipv4;
};

/* MALFORMED: shorter than an ARP packet; UNSUPPORTED: not Ethernet/IPv4
 * address sizes and types, or an operation other than request/reply. */
enum wire_parse wire_arp_parse(const uint8_t *packet, size_t size, struct wire_arp *out);
/* A whole frame: Ethernet header + ARP, padded to the minimum frame. Returns
 * its size (WIRE_ETHERNET_FRAME_BYTES_MIN); bytes_max must allow that. */
size_t wire_arp_frame_write(uint8_t *frame, size_t bytes_max,
                            const uint8_t ethernet_destination[NETSTACK_MAC_BYTES],
                            const struct wire_arp *arp);

/* ---- IPv4 (RFC 791) ---- */

struct wire_ipv4 {
    uint8_t header_bytes;       /* IHL * 4, options included */
    uint16_t total_bytes;       /* header + payload; the frame may be longer (padding) */
    uint16_t identification;
    uint16_t fragment;          /* flags and offset as in the header */
    uint8_t ttl;
    uint8_t protocol;
    uint32_t source;
    uint32_t destination;
    const uint8_t *payload;     /* after the options */
    uint16_t payload_bytes;     /* total_bytes - header_bytes */
};

/* MALFORMED: shorter than a header, version not 4, IHL < 5, options beyond
 * the packet, total length below the header or beyond the packet. The
 * checksum is not checked here (wire_ipv4_header_checksum_ok). */
enum wire_parse wire_ipv4_parse(const uint8_t *packet, size_t size, struct wire_ipv4 *out);
bool wire_ipv4_header_checksum_ok(const uint8_t *packet, size_t header_bytes);
bool wire_ipv4_is_fragment(const struct wire_ipv4 *ipv4);
/* A 20-byte header without options, DF set, TTL 64. The checksum is
 * computed unless `checksum_offload` (then 0: the port fills it). */
void wire_ipv4_write(uint8_t *packet, uint16_t total_bytes, uint16_t identification,
                     uint8_t protocol, uint32_t source, uint32_t destination,
                     bool checksum_offload);

/* ---- ICMP echo (RFC 792) ---- */

/* The echo reply frame for an echo request: `request` is the whole ICMP
 * message (header + data, request_bytes >= 8, checksum already checked).
 * Returns the frame's size, or 0 when bytes_max is too small. */
size_t wire_icmp_echo_reply_write(uint8_t *frame, size_t bytes_max,
                                  const uint8_t destination_mac[NETSTACK_MAC_BYTES],
                                  const uint8_t source_mac[NETSTACK_MAC_BYTES],
                                  uint16_t identification, uint32_t source_ipv4,
                                  uint32_t destination_ipv4, const uint8_t *request,
                                  size_t request_bytes);

/* ---- TCP (RFC 9293) ---- */

/* Parses the TCP header and options of `segment_bytes` bytes (the IPv4
 * payload) into `out`: ports, numbers, flags (masked with
 * WIRE_TCP_FLAGS_MASK), window, options, payload (pointing into
 * `segment`). remote_ipv4/local_ipv4 are left for the caller. MALFORMED:
 * shorter than a header, data offset below 5 or beyond the segment, or an
 * option list that does not parse (a length below 2 or past the header, or
 * a known option with the wrong length). The checksum is not checked here. */
enum wire_parse wire_tcp_parse(const uint8_t *segment, size_t segment_bytes,
                               struct tcp_segment *out);
/* The options' size as written: a multiple of 4, at most 20. */
size_t wire_tcp_options_bytes(const struct tcp_segment *header);
/* Writes the options `header` asks for in Linux's order (MSS, SACK
 * permitted + timestamps, window scale), each aligned with NOPs. Returns
 * wire_tcp_options_bytes(header). */
size_t wire_tcp_options_write(uint8_t *options, const struct tcp_segment *header);

/* How a TCP frame is to be built. */
struct wire_tcp_frame {
    const uint8_t *destination_mac;
    const uint8_t *source_mac;
    uint16_t ipv4_identification;
    /* Subset of enum netstack_tx_flags: the port computes the IPv4 checksum
     * / the TCP checksum (the field gets the pseudo-header sum) / cuts the
     * payload (TSO, only with segment->tso_segment_bytes != 0). */
    uint32_t tx_offload_flags;
};

/* The frame's size before padding: Ethernet + IPv4 + TCP + payload. */
size_t wire_tcp_frame_bytes(const struct tcp_segment_out *segment);
/* Builds the whole frame for `segment` (header fields in host order,
 * payload from its parts), padded to WIRE_ETHERNET_FRAME_BYTES_MIN.
 * Returns the frame's size and fills `offload` (the flags actually asked of
 * the port and the header sizes), or 0 when bytes_max is too small or the
 * IPv4 total length would exceed 65535. */
size_t wire_tcp_frame_write(uint8_t *frame, size_t bytes_max, const struct wire_tcp_frame *how,
                            const struct tcp_segment_out *segment,
                            struct netstack_tx_offload *offload);

#endif
