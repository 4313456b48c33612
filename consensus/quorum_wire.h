/* The bytes servers exchange, exactly as ZooKeeper 3.8 writes them, so a
 * Cheetah server and a ZooKeeper server can talk: the election port's
 * connection handshake and notifications (QuorumCnxManager,
 * FastLeaderElection), and the payloads inside QuorumPackets on the quorum
 * port (Leader, Learner, LearnerHandler). QuorumPacket itself and
 * LearnerInfo are jute records (jute/records.h).
 *
 * Pure encoding and decoding: no sockets. Decoders are given what arrived
 * so far and say "need more", "done (this many bytes)" or "malformed".
 */
#ifndef CHEETAH_QUORUM_WIRE_H
#define CHEETAH_QUORUM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consensus/election.h"
#include "jute/jute.h"
#include "jute/records.h"

/* QuorumPacket types (Leader.java). */
enum quorum_packet_type {
    QUORUM_REQUEST = 1,
    QUORUM_PROPOSAL = 2,
    QUORUM_ACK = 3,
    QUORUM_COMMIT = 4,
    QUORUM_PING = 5,
    QUORUM_REVALIDATE = 6,
    QUORUM_SYNC = 7,
    QUORUM_INFORM = 8,
    QUORUM_COMMITANDACTIVATE = 9,
    QUORUM_NEWLEADER = 10,
    QUORUM_FOLLOWERINFO = 11,
    QUORUM_UPTODATE = 12,
    QUORUM_DIFF = 13,
    QUORUM_TRUNC = 14,
    QUORUM_SNAP = 15,
    QUORUM_OBSERVERINFO = 16,
    QUORUM_LEADERINFO = 17,
    QUORUM_ACKEPOCH = 18,
    QUORUM_INFORMANDACTIVATE = 19,
};

/* The ZAB protocol version a 3.8 learner and leader announce (0x10000). */
#define QUORUM_ZAB_PROTOCOL_VERSION 0x10000

/* Result of an incremental decoder. */
enum quorum_wire_status {
    QUORUM_WIRE_NEED_MORE = 0,
    QUORUM_WIRE_DONE = 1,
    QUORUM_WIRE_MALFORMED = -1,
};

/* ---- Election port ----------------------------------------------------- */

/* A notification frame on the election port is a 4-byte big-endian length
 * followed by the body. Bodies longer than this are refused (ZooKeeper's
 * limit is PACKETMAXSIZE, 512 KiB). */
#define QUORUM_ELECTION_FRAME_BYTES_MAX (512u * 1024u)

/* Finds the first notification frame in `bytes`: DONE with the body's length
 * in *body_bytes_out (the body starts 4 bytes in), NEED_MORE, or MALFORMED
 * for a length <= 0 or over QUORUM_ELECTION_FRAME_BYTES_MAX (RecvWorker
 * closes the connection then). */
enum quorum_wire_status quorum_election_frame(const uint8_t *bytes, size_t size,
                                              size_t *body_bytes_out);

/* The first long of a connection (QuorumCnxManager): V1 since 3.5.0 with one
 * address, V2 (3.6+, only with multiAddress.enabled) with several joined by
 * '|'. A 3.8 server sends V1 unless multiAddress.enabled=true. */
#define QUORUM_ELECTION_PROTOCOL_V1 (-65536LL)
#define QUORUM_ELECTION_PROTOCOL_V2 (-65535LL)
/* InitialMessage.parse refuses an address text of <= 0 or more bytes. */
#define QUORUM_ELECTION_ADDRESS_BYTES_MAX 2048u
/* The notification format a 3.8 server writes (buildMsg). */
#define QUORUM_NOTIFICATION_VERSION 2

/* The initiating side's first bytes (QuorumCnxManager.initiateConnection /
 * handleConnection): protocol version, server id, and (version 2) the
 * sender's election addresses. */
struct quorum_election_handshake {
    int64_t protocol_version; /* as sent; a positive value is an old peer's bare sid */
    int64_t server_id;
    char addresses[QUORUM_ELECTION_ADDRESS_BYTES_MAX + 1]; /* "host:port" (several joined
                                                             * by '|'); "" when absent */
};

/* Appends the handshake this server sends when it connects out: protocol V1,
 * `my_id`, then `election_address` ("host:port") with its length. */
void quorum_election_handshake_encode(struct jute_writer *out, int64_t my_id,
                                      const char *election_address);
/* Decodes a handshake from `bytes` (all that arrived so far). DONE sets
 * *consumed_out to its length. MALFORMED for an unknown protocol version or
 * an address longer than ZooKeeper accepts, or an address list that is not
 * '|'-separated host:port pairs (InitialMessage.parse's "Badly formed
 * address"). An old peer's bare sid (first long >= 0) is DONE after 8 bytes
 * with server_id = protocol_version and addresses "". */
enum quorum_wire_status quorum_election_handshake_decode(const uint8_t *bytes, size_t size,
                                                         struct quorum_election_handshake *out,
                                                         size_t *consumed_out);

/* Encodes one notification frame (length prefix included), with `config`
 * as the quorum verifier text (quorum_config_text). The format written is
 * always QUORUM_NOTIFICATION_VERSION (as buildMsg), whatever
 * notification->version holds. */
void quorum_notification_encode(struct jute_writer *out,
                                const struct election_notification *notification,
                                const char *config_text);
/* Decodes a notification BODY (after the length prefix), accepting the
 * older, shorter formats ZooKeeper accepts (28 bytes: no peer epoch, taken
 * from the zxid; 40 bytes: no version, 0). False where WorkerReceiver drops
 * the message: under 28 bytes, a field cut short, an unknown state, a config
 * length < 0 or over the body. The config text, if present (version > 1),
 * is returned in *config_out (pointing into `body`); otherwise config_out
 * gets {NULL, -1}. config_out may be NULL. */
bool quorum_notification_decode(const uint8_t *body, size_t body_size,
                                struct election_notification *out, struct jute_bytes *config_out);

/* ---- Quorum config text ------------------------------------------------ */

/* One server as QuorumServer.toString() prints it. */
struct quorum_config_member {
    int64_t id;
    const char *host;
    uint16_t quorum_port;
    uint16_t election_port;
    bool observer;
    const char *client_host; /* NULL: no client address */
    uint16_t client_port;
};

/* QuorumMaj.toString(): "server.1=host:2888:3888:participant;0.0.0.0:2181\n"
 * for each member, then "version=<hex>". NUL-terminated in `out`; false when
 * it does not fit. Members come in the order of Java's HashMap<Long, ...>
 * that ZooKeeper iterates: by (id & (table size - 1)), the table size
 * following the member count (16 up to 12 members, then doubling); that is
 * id order while every id is below the table size. Colliding ids (e.g. 1 and
 * 17 among 3 members) keep id order here, Java keeps insertion order. A
 * host containing ':' (IPv6) is printed in brackets. */
bool quorum_config_text(const struct quorum_config_member *members, size_t member_count,
                        int64_t version, char *out, size_t out_bytes);

/* ---- Quorum port ------------------------------------------------------- */

/* QuorumPackets travel back to back as jute records, without a frame
 * length. Finds the end of the first packet in `bytes`: DONE with its length
 * in *packet_bytes_out, NEED_MORE, or MALFORMED (negative lengths, a data
 * buffer or authinfo string over `data_bytes_max`, more than
 * QUORUM_PACKET_AUTH_IDS_MAX authinfo ids). */
#define QUORUM_PACKET_AUTH_IDS_MAX 1024
enum quorum_wire_status quorum_packet_frame(const uint8_t *bytes, size_t size,
                                            size_t data_bytes_max, size_t *packet_bytes_out);

/* Encodes a whole packet (no authinfo: null vector) into `out`. */
void quorum_packet_encode(struct jute_writer *out, int32_t type, int64_t zxid,
                          const uint8_t *data, size_t data_bytes);

/* After a SNAP packet the leader streams its database: the snapshot's
 * sessions and tree (SerializeUtils.serializeSnapshot, without the file
 * header and checksum) and the string "BenWasHere". Finds the end of that
 * stream: DONE with its length (signature included), NEED_MORE, or
 * MALFORMED (including a wrong signature). */
enum quorum_wire_status quorum_snap_stream_frame(const uint8_t *bytes, size_t size,
                                                 size_t *stream_bytes_out);

/* The same scan, resumable, so a large stream arriving piece by piece is
 * scanned once (quorum_snap_stream_frame rescans from the start). Feed it
 * the whole stream received so far (the same bytes, longer each time): it
 * continues where it stopped. Strings and buffers longer than
 * `string_bytes_max` are MALFORMED (ZooKeeper's BinaryInputArchive.checkLength
 * allows jute.maxbuffer + extrasize; QUORUM_SNAP_STRING_BYTES_MAX_DEFAULT is
 * that for the defaults). Negative counts are MALFORMED (ZooKeeper reads them
 * as empty, but never writes them). */
#define QUORUM_SNAP_STRING_BYTES_MAX_DEFAULT (2u * JUTE_MAXBUFFER_DEFAULT_BYTES)
/* Entries in one ACL list of the ACL cache. */
#define QUORUM_SNAP_ACLS_PER_LIST_MAX 65536
enum quorum_snap_phase {
    QUORUM_SNAP_SESSION_COUNT,
    QUORUM_SNAP_SESSIONS,
    QUORUM_SNAP_ACL_COUNT,
    QUORUM_SNAP_ACL_ENTRIES,
    QUORUM_SNAP_NODES,
    QUORUM_SNAP_SIGNATURE,
    QUORUM_SNAP_DONE,
};
struct quorum_snap_scan {
    size_t offset;            /* bytes scanned so far (whole items only) */
    enum quorum_snap_phase phase;
    int32_t items_left;       /* sessions or ACL cache entries still to come */
    size_t string_bytes_max;
    int64_t session_count;    /* what was scanned, for the caller's logs */
    int64_t acl_list_count;
    int64_t node_count;
};
void quorum_snap_scan_init(struct quorum_snap_scan *scan, size_t string_bytes_max);
/* DONE with the stream's length (signature included), NEED_MORE or
 * MALFORMED; after DONE or MALFORMED it keeps answering the same. */
enum quorum_wire_status quorum_snap_scan_feed(struct quorum_snap_scan *scan,
                                              const uint8_t *bytes, size_t size,
                                              size_t *stream_bytes_out);

/* REQUEST data (Learner.request): session id, cxid, opcode, then the
 * request body (what follows the RequestHeader). The auth ids travel in the
 * packet's authinfo. */
void quorum_request_encode(struct jute_writer *out, int64_t session_id, int32_t cxid,
                           int32_t opcode, const uint8_t *body, size_t body_bytes);
struct quorum_request {
    int64_t session_id;
    int32_t cxid;
    int32_t opcode;
    struct jute_bytes body; /* points into the decoded data */
};
bool quorum_request_decode(struct jute_bytes data, struct quorum_request *out);

/* A learner's PING data (Learner.ping): (session id, timeout) pairs of the
 * sessions touched since the last ping. */
struct quorum_session_touch {
    int64_t session_id;
    int32_t timeout_ms;
};
void quorum_ping_encode(struct jute_writer *out, const struct quorum_session_touch *touches,
                        size_t touch_count);
/* Calls `visit` for each pair; false when the data is not whole pairs. */
bool quorum_ping_decode(struct jute_bytes data,
                        void (*visit)(void *context, const struct quorum_session_touch *touch),
                        void *context);

/* REVALIDATE: learner -> leader carries (session id, timeout); leader ->
 * learner carries (session id, valid). */
void quorum_revalidate_request_encode(struct jute_writer *out, int64_t session_id,
                                      int32_t timeout_ms);
bool quorum_revalidate_request_decode(struct jute_bytes data, int64_t *session_id_out,
                                      int32_t *timeout_ms_out);
void quorum_revalidate_reply_encode(struct jute_writer *out, int64_t session_id, bool valid);
bool quorum_revalidate_reply_decode(struct jute_bytes data, int64_t *session_id_out,
                                    bool *valid_out);

/* LEADERINFO data: the leader's protocol version (4 bytes). ACKEPOCH data:
 * the learner's current epoch (4 bytes), or -1 when it had already accepted
 * the new epoch. */
void quorum_int32_encode(struct jute_writer *out, int32_t value);
bool quorum_int32_decode(struct jute_bytes data, int32_t *value_out);

/* zxid = epoch << 32 | counter (ZxidUtils). */
static inline int64_t quorum_zxid_make(int64_t epoch, int64_t counter)
{
    return (int64_t)(((uint64_t)epoch << 32) | ((uint64_t)counter & 0xffffffffu));
}
static inline int64_t quorum_zxid_epoch(int64_t zxid)
{
    return (int64_t)((uint64_t)zxid >> 32);
}
static inline int64_t quorum_zxid_counter(int64_t zxid)
{
    return (int64_t)((uint64_t)zxid & 0xffffffffu);
}

#endif
