/* The quorum wire codecs (see quorum_wire.h). Facts checked against the
 * ZooKeeper 3.8.0 bytecode installed here (/usr/share/java/zookeeper.jar)
 * and the stored apache/zookeeper sources: QuorumCnxManager
 * (startConnection, InitialMessage.parse, RecvWorker), FastLeaderElection
 * (buildMsg, WorkerReceiver), QuorumMaj / QuorumServer.toString, Learner
 * (request, ping, validateSession, syncWithLeader), LearnerHandler (SNAP:
 * ZKDatabase.serializeSnapshot then "BenWasHere"), SerializeUtils,
 * DataTree.serialize (in 3.8.0 only the ACL cache and the nodes: no digest on
 * this path) and ReferenceCountedACLCache.serialize.
 */
#include "consensus/quorum_wire.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- A bounds-checked cursor that tells "not yet" from "never" ---------- */

/* Unlike jute_reader, running out of bytes is NEED_MORE here, not an error:
 * the framers are given what arrived so far. */
struct cursor {
    const uint8_t *bytes;
    size_t size;
    size_t offset;
    enum quorum_wire_status status; /* DONE while nothing went wrong */
};

static void cursor_init(struct cursor *cursor, const uint8_t *bytes, size_t size, size_t offset)
{
    cursor->bytes = bytes;
    cursor->size = size;
    cursor->offset = offset;
    cursor->status = QUORUM_WIRE_DONE;
}

static bool cursor_ok(const struct cursor *cursor)
{
    return cursor->status == QUORUM_WIRE_DONE;
}

static void cursor_fail(struct cursor *cursor, enum quorum_wire_status status)
{
    if (cursor->status == QUORUM_WIRE_DONE) {
        cursor->status = status;
    }
}

/* Takes `count` bytes; NULL (NEED_MORE latched) when they have not arrived. */
static const uint8_t *cursor_take(struct cursor *cursor, size_t count)
{
    if (!cursor_ok(cursor)) {
        return NULL;
    }
    if (cursor->size - cursor->offset < count) {
        cursor_fail(cursor, QUORUM_WIRE_NEED_MORE);
        return NULL;
    }
    const uint8_t *at = cursor->bytes + cursor->offset;
    cursor->offset += count;
    return at;
}

static int32_t cursor_int(struct cursor *cursor)
{
    const uint8_t *at = cursor_take(cursor, 4);
    return at ? (int32_t)jute_load_be32(at) : 0;
}

static int64_t cursor_long(struct cursor *cursor)
{
    const uint8_t *at = cursor_take(cursor, 8);
    if (!at) {
        return 0;
    }
    uint64_t value = ((uint64_t)jute_load_be32(at) << 32) | jute_load_be32(at + 4);
    return (int64_t)value;
}

/* A jute ustring or buffer: int length (-1 = null) then bytes. A length
 * below -1 (BinaryInputArchive.checkLength's "Unreasonable length"), over
 * `bytes_max`, or -1 where null is not allowed is MALFORMED. */
static struct jute_bytes cursor_bytes(struct cursor *cursor, size_t bytes_max, bool null_allowed)
{
    struct jute_bytes value = {NULL, -1};
    int32_t len = cursor_int(cursor);
    if (!cursor_ok(cursor)) {
        return value;
    }
    if (len == -1 && null_allowed) {
        return value;
    }
    if (len < 0 || (size_t)len > bytes_max) {
        cursor_fail(cursor, QUORUM_WIRE_MALFORMED);
        return value;
    }
    value.ptr = cursor_take(cursor, (size_t)len);
    value.len = cursor_ok(cursor) ? len : -1;
    return value;
}

/* ---- Election port ----------------------------------------------------- */

enum quorum_wire_status quorum_election_frame(const uint8_t *bytes, size_t size,
                                              size_t *body_bytes_out)
{
    struct cursor cursor;
    cursor_init(&cursor, bytes, size, 0);
    int32_t length = cursor_int(&cursor);
    if (!cursor_ok(&cursor)) {
        return cursor.status;
    }
    if (length <= 0 || (uint32_t)length > QUORUM_ELECTION_FRAME_BYTES_MAX) {
        return QUORUM_WIRE_MALFORMED;
    }
    if (!cursor_take(&cursor, (size_t)length)) {
        return cursor.status;
    }
    *body_bytes_out = (size_t)length;
    return QUORUM_WIRE_DONE;
}

void quorum_election_handshake_encode(struct jute_writer *out, int64_t my_id,
                                      const char *election_address)
{
    size_t address_bytes = strlen(election_address);
    assert(address_bytes > 0 && address_bytes <= QUORUM_ELECTION_ADDRESS_BYTES_MAX);
    jute_write_long(out, QUORUM_ELECTION_PROTOCOL_V1);
    jute_write_long(out, my_id);
    jute_write_int(out, (int32_t)address_bytes);
    jute_write_raw(out, election_address, address_bytes);
}

#define PORT_MAX 65535u

/* Integer.parseInt (an optional '+', decimal digits) then InetSocketAddress
 * (0..65535). */
static bool is_decimal_port(const char *text, size_t len)
{
    if (len > 0 && text[0] == '+') {
        text++;
        len--;
    }
    if (len == 0) {
        return false;
    }
    uint32_t port = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        port = port * 10 + (uint32_t)(text[i] - '0');
        if (port > PORT_MAX) {
            return false;
        }
    }
    return true;
}

/* One "host:port" or "[v6]:port" (ConfigUtils.getHostAndPort then a check
 * for exactly two parts). Checked against InitialMessage.parse in 3.8.0: an
 * empty host is accepted (Java resolves it to loopback); "[v6]port" without
 * the colon, which Java misreads (dropping the port's first digit), is
 * refused here. */
static bool is_host_port(const char *text, size_t len)
{
    size_t port_at;
    if (len > 0 && text[0] == '[') {
        const char *close = memchr(text, ']', len);
        if (!close || close == text + 1) {
            return false;
        }
        port_at = (size_t)(close - text) + 1;
        if (port_at >= len || text[port_at] != ':') {
            return false;
        }
        port_at++;
    } else {
        const char *colon = memchr(text, ':', len);
        if (!colon) {
            return false;
        }
        port_at = (size_t)(colon - text) + 1;
    }
    return is_decimal_port(text + port_at, len - port_at);
}

/* '|'-separated host:port pairs. Java's String.split drops trailing empty
 * pieces, so trailing '|'s are accepted (all '|': no address at all). */
static bool is_address_list(const char *text, size_t len)
{
    while (len > 0 && text[len - 1] == '|') {
        len--;
    }
    if (len == 0) {
        return true;
    }
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || text[i] == '|') {
            if (!is_host_port(text + start, i - start)) {
                return false;
            }
            start = i + 1;
        }
    }
    return true;
}

enum quorum_wire_status quorum_election_handshake_decode(const uint8_t *bytes, size_t size,
                                                         struct quorum_election_handshake *out,
                                                         size_t *consumed_out)
{
    struct cursor cursor;
    cursor_init(&cursor, bytes, size, 0);
    int64_t protocol_version = cursor_long(&cursor);
    if (!cursor_ok(&cursor)) {
        return cursor.status;
    }
    if (protocol_version >= 0) {
        /* A peer older than 3.5 sends only its sid. */
        out->protocol_version = protocol_version;
        out->server_id = protocol_version;
        out->addresses[0] = '\0';
        *consumed_out = cursor.offset;
        return QUORUM_WIRE_DONE;
    }
    if (protocol_version != QUORUM_ELECTION_PROTOCOL_V1 &&
        protocol_version != QUORUM_ELECTION_PROTOCOL_V2) {
        return QUORUM_WIRE_MALFORMED;
    }
    int64_t server_id = cursor_long(&cursor);
    int32_t address_bytes = cursor_int(&cursor);
    if (!cursor_ok(&cursor)) {
        return cursor.status;
    }
    if (address_bytes <= 0 || (uint32_t)address_bytes > QUORUM_ELECTION_ADDRESS_BYTES_MAX) {
        return QUORUM_WIRE_MALFORMED;
    }
    const uint8_t *address = cursor_take(&cursor, (size_t)address_bytes);
    if (!address) {
        return cursor.status;
    }
    /* A NUL would cut the C string short of what the peer sent. */
    if (memchr(address, '\0', (size_t)address_bytes) ||
        !is_address_list((const char *)address, (size_t)address_bytes)) {
        return QUORUM_WIRE_MALFORMED;
    }
    out->protocol_version = protocol_version;
    out->server_id = server_id;
    memcpy(out->addresses, address, (size_t)address_bytes);
    out->addresses[address_bytes] = '\0';
    *consumed_out = cursor.offset;
    return QUORUM_WIRE_DONE;
}

/* buildMsg: state, leader, zxid, electionEpoch, peerEpoch, version, then the
 * config text with its length: 44 bytes before the config. */
#define NOTIFICATION_FIXED_BYTES 44u
/* WorkerReceiver's older formats. */
#define NOTIFICATION_BYTES_MIN 28u
#define NOTIFICATION_BYTES_NO_VERSION 40u

void quorum_notification_encode(struct jute_writer *out,
                                const struct election_notification *notification,
                                const char *config_text)
{
    size_t config_bytes = strlen(config_text);
    assert(NOTIFICATION_FIXED_BYTES + config_bytes <= QUORUM_ELECTION_FRAME_BYTES_MAX);
    jute_write_int(out, (int32_t)(NOTIFICATION_FIXED_BYTES + config_bytes));
    jute_write_int(out, (int32_t)notification->state);
    jute_write_long(out, notification->leader);
    jute_write_long(out, notification->zxid);
    jute_write_long(out, notification->election_epoch);
    jute_write_long(out, notification->peer_epoch);
    jute_write_int(out, QUORUM_NOTIFICATION_VERSION);
    jute_write_int(out, (int32_t)config_bytes);
    jute_write_raw(out, config_text, config_bytes);
}

static bool peer_state_from_wire(int32_t value, enum peer_state *state_out)
{
    switch (value) {
    case PEER_LOOKING:
    case PEER_FOLLOWING:
    case PEER_LEADING:
    case PEER_OBSERVING:
        *state_out = (enum peer_state)value;
        return true;
    default:
        return false; /* WorkerReceiver skips the message */
    }
}

bool quorum_notification_decode(const uint8_t *body, size_t body_size,
                                struct election_notification *out, struct jute_bytes *config_out)
{
    struct jute_bytes config = {NULL, -1};
    if (body_size < NOTIFICATION_BYTES_MIN) {
        return false;
    }
    struct cursor cursor;
    cursor_init(&cursor, body, body_size, 0);
    int32_t state = cursor_int(&cursor);
    out->leader = cursor_long(&cursor);
    out->zxid = cursor_long(&cursor);
    out->election_epoch = cursor_long(&cursor);
    out->version = 0;
    if (body_size == NOTIFICATION_BYTES_MIN) {
        out->peer_epoch = quorum_zxid_epoch(out->zxid);
    } else {
        out->peer_epoch = cursor_long(&cursor);
        if (body_size != NOTIFICATION_BYTES_NO_VERSION) {
            out->version = cursor_int(&cursor);
        }
    }
    if (out->version > 1) {
        int32_t config_bytes = cursor_int(&cursor);
        if (!cursor_ok(&cursor) || config_bytes < 0 || (size_t)config_bytes > body_size) {
            return false;
        }
        config.ptr = cursor_take(&cursor, (size_t)config_bytes);
        config.len = config_bytes;
    }
    /* A field cut short is Java's BufferUnderflowException: dropped. */
    if (!cursor_ok(&cursor) || !peer_state_from_wire(state, &out->state)) {
        return false;
    }
    if (config_out) {
        *config_out = config;
    }
    return true;
}

/* ---- Quorum config text ------------------------------------------------ */

/* HashMap's table size after `count` puts into a default HashMap (16, load
 * factor 0.75, doubling when the size passes 3/4 of the table). */
static uint64_t java_hashmap_table_size(size_t count)
{
    uint64_t table_size = 16;
    while ((uint64_t)count > table_size / 4 * 3) {
        table_size *= 2;
    }
    return table_size;
}

/* HashMap's bucket of a Long key: Long.hashCode spread by h ^ (h >>> 16). */
static uint64_t java_long_bucket(int64_t key, uint64_t table_size)
{
    uint64_t bits = (uint64_t)key;
    uint32_t hash = (uint32_t)(bits ^ (bits >> 32));
    hash ^= hash >> 16;
    return hash & (table_size - 1);
}

struct member_order {
    uint64_t bucket;
    int64_t id;
    size_t index;
};

static int compare_member_order(const void *a, const void *b)
{
    const struct member_order *left = a;
    const struct member_order *right = b;
    if (left->bucket != right->bucket) {
        return left->bucket < right->bucket ? -1 : 1;
    }
    if (left->id != right->id) {
        return left->id < right->id ? -1 : 1;
    }
    return 0;
}

/* Appends with snprintf semantics; false once the output is full. */
static bool append_text(char *out, size_t out_bytes, size_t *used, const char *format, ...)
    __attribute__((format(printf, 4, 5)));
static bool append_text(char *out, size_t out_bytes, size_t *used, const char *format, ...)
{
    assert(*used < out_bytes);
    va_list args;
    va_start(args, format);
    int written = vsnprintf(out + *used, out_bytes - *used, format, args);
    va_end(args);
    if (written < 0 || (size_t)written >= out_bytes - *used) {
        return false;
    }
    *used += (size_t)written;
    return true;
}

/* QuorumServer.delimitedHostString: IPv6 literals in brackets. */
static bool append_host(char *out, size_t out_bytes, size_t *used, const char *host)
{
    if (strchr(host, ':')) {
        return append_text(out, out_bytes, used, "[%s]", host);
    }
    return append_text(out, out_bytes, used, "%s", host);
}

static bool append_member(char *out, size_t out_bytes, size_t *used,
                          const struct quorum_config_member *member)
{
    bool ok = append_text(out, out_bytes, used, "server.%" PRId64 "=", member->id) &&
              append_host(out, out_bytes, used, member->host) &&
              append_text(out, out_bytes, used, ":%u:%u:%s", (unsigned)member->quorum_port,
                          (unsigned)member->election_port,
                          member->observer ? "observer" : "participant");
    if (ok && member->client_host) {
        ok = append_text(out, out_bytes, used, ";") &&
             append_host(out, out_bytes, used, member->client_host) &&
             append_text(out, out_bytes, used, ":%u", (unsigned)member->client_port);
    }
    return ok && append_text(out, out_bytes, used, "\n");
}

bool quorum_config_text(const struct quorum_config_member *members, size_t member_count,
                        int64_t version, char *out, size_t out_bytes)
{
    assert(member_count <= ELECTION_MEMBERS_MAX);
    if (out_bytes == 0) {
        return false;
    }
    struct member_order order[ELECTION_MEMBERS_MAX];
    uint64_t table_size = java_hashmap_table_size(member_count);
    for (size_t i = 0; i < member_count; i++) {
        order[i].bucket = java_long_bucket(members[i].id, table_size);
        order[i].id = members[i].id;
        order[i].index = i;
    }
    qsort(order, member_count, sizeof(order[0]), compare_member_order);
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < member_count; i++) {
        if (!append_member(out, out_bytes, &used, &members[order[i].index])) {
            return false;
        }
    }
    /* Long.toHexString: the two's complement bits, lower case. */
    return append_text(out, out_bytes, &used, "version=%" PRIx64, (uint64_t)version);
}

/* ---- Quorum port ------------------------------------------------------- */

enum quorum_wire_status quorum_packet_frame(const uint8_t *bytes, size_t size,
                                            size_t data_bytes_max, size_t *packet_bytes_out)
{
    struct cursor cursor;
    cursor_init(&cursor, bytes, size, 0);
    (void)cursor_int(&cursor);  /* type */
    (void)cursor_long(&cursor); /* zxid */
    (void)cursor_bytes(&cursor, data_bytes_max, true);
    int32_t id_count = cursor_int(&cursor);
    if (!cursor_ok(&cursor)) {
        return cursor.status;
    }
    if (id_count < -1 || id_count > QUORUM_PACKET_AUTH_IDS_MAX) {
        return QUORUM_WIRE_MALFORMED;
    }
    for (int32_t i = 0; i < id_count && cursor_ok(&cursor); i++) {
        (void)cursor_bytes(&cursor, data_bytes_max, true); /* scheme */
        (void)cursor_bytes(&cursor, data_bytes_max, true); /* id */
    }
    if (!cursor_ok(&cursor)) {
        return cursor.status;
    }
    *packet_bytes_out = cursor.offset;
    return QUORUM_WIRE_DONE;
}

void quorum_packet_encode(struct jute_writer *out, int32_t type, int64_t zxid,
                          const uint8_t *data, size_t data_bytes)
{
    assert(data || data_bytes == 0);
    assert(data_bytes <= INT32_MAX);
    jute_write_int(out, type);
    jute_write_long(out, zxid);
    /* NULL data is jute's null buffer, as `new QuorumPacket(type, zxid,
     * null, null)` writes it. */
    jute_write_bytes(out, jute_bytes_of(data, data ? (int32_t)data_bytes : -1));
    jute_write_int(out, -1); /* authinfo: null vector */
}

/* ---- SNAP stream ------------------------------------------------------- */

#define SNAP_SIGNATURE "BenWasHere"
#define SNAP_SIGNATURE_BYTES (sizeof(SNAP_SIGNATURE) - 1)
/* A session: long id, int timeout. */
#define SNAP_SESSION_BYTES 12u
/* StatPersisted: czxid, mzxid, ctime, mtime (longs), version, cversion,
 * aversion (ints), ephemeralOwner, pzxid (longs). */
#define SNAP_STAT_PERSISTED_BYTES 60u

void quorum_snap_scan_init(struct quorum_snap_scan *scan, size_t string_bytes_max)
{
    memset(scan, 0, sizeof(*scan));
    scan->phase = QUORUM_SNAP_SESSION_COUNT;
    scan->string_bytes_max = string_bytes_max;
}

/* A non-negative count (sessions, ACL cache entries). */
static bool scan_count(struct cursor *cursor, int32_t *count_out)
{
    int32_t count = cursor_int(cursor);
    if (cursor_ok(cursor) && count < 0) {
        cursor_fail(cursor, QUORUM_WIRE_MALFORMED);
    }
    *count_out = count;
    return cursor_ok(cursor);
}

/* One ACL cache entry: long ref, vector<ACL> (null refused, as
 * ReferenceCountedACLCache.deserialize does), each ACL int perms and an Id
 * of two ustrings. */
static void scan_acl_entry(struct cursor *cursor, size_t string_bytes_max)
{
    (void)cursor_long(cursor);
    int32_t acl_count = cursor_int(cursor);
    if (cursor_ok(cursor) && (acl_count < 0 || acl_count > QUORUM_SNAP_ACLS_PER_LIST_MAX)) {
        cursor_fail(cursor, QUORUM_WIRE_MALFORMED);
    }
    for (int32_t i = 0; i < acl_count && cursor_ok(cursor); i++) {
        (void)cursor_int(cursor);
        (void)cursor_bytes(cursor, string_bytes_max, true);
        (void)cursor_bytes(cursor, string_bytes_max, true);
    }
}

static bool is_slash(struct jute_bytes path)
{
    return path.len == 1 && path.ptr[0] == '/';
}

/* One node (path, DataNode) or the "/" that ends the tree; true for "/". A
 * null path would make DataTree.deserialize fail. */
static bool scan_node(struct cursor *cursor, size_t string_bytes_max)
{
    struct jute_bytes path = cursor_bytes(cursor, string_bytes_max, false);
    if (!cursor_ok(cursor) || is_slash(path)) {
        return cursor_ok(cursor);
    }
    (void)cursor_bytes(cursor, string_bytes_max, true); /* data */
    (void)cursor_long(cursor);                          /* ACL ref */
    (void)cursor_take(cursor, SNAP_STAT_PERSISTED_BYTES);
    return false;
}

static void scan_signature(struct cursor *cursor)
{
    int32_t len = cursor_int(cursor);
    if (cursor_ok(cursor) && len != (int32_t)SNAP_SIGNATURE_BYTES) {
        cursor_fail(cursor, QUORUM_WIRE_MALFORMED); /* "Missing signature" */
        return;
    }
    const uint8_t *text = cursor_take(cursor, SNAP_SIGNATURE_BYTES);
    if (text && memcmp(text, SNAP_SIGNATURE, SNAP_SIGNATURE_BYTES) != 0) {
        cursor_fail(cursor, QUORUM_WIRE_MALFORMED);
    }
}

/* Scans one item of the current phase; on success moves scan->offset past
 * it. Returns the cursor's status (NEED_MORE leaves the scan unchanged). */
static enum quorum_wire_status scan_step(struct quorum_snap_scan *scan, struct cursor *cursor)
{
    int32_t count = 0;
    switch (scan->phase) {
    case QUORUM_SNAP_SESSION_COUNT:
        if (scan_count(cursor, &count)) {
            scan->items_left = count;
            scan->phase = QUORUM_SNAP_SESSIONS;
        }
        break;
    case QUORUM_SNAP_SESSIONS:
        if (scan->items_left == 0) {
            scan->phase = QUORUM_SNAP_ACL_COUNT;
        } else if (cursor_take(cursor, SNAP_SESSION_BYTES)) {
            scan->items_left--;
            scan->session_count++;
        }
        break;
    case QUORUM_SNAP_ACL_COUNT:
        if (scan_count(cursor, &count)) {
            scan->items_left = count;
            scan->phase = QUORUM_SNAP_ACL_ENTRIES;
        }
        break;
    case QUORUM_SNAP_ACL_ENTRIES:
        if (scan->items_left == 0) {
            scan->phase = QUORUM_SNAP_NODES;
            break;
        }
        scan_acl_entry(cursor, scan->string_bytes_max);
        if (cursor_ok(cursor)) {
            scan->items_left--;
            scan->acl_list_count++;
        }
        break;
    case QUORUM_SNAP_NODES:
        if (scan_node(cursor, scan->string_bytes_max)) {
            scan->phase = QUORUM_SNAP_SIGNATURE;
        } else if (cursor_ok(cursor)) {
            scan->node_count++;
        }
        break;
    case QUORUM_SNAP_SIGNATURE:
        scan_signature(cursor);
        if (cursor_ok(cursor)) {
            scan->phase = QUORUM_SNAP_DONE;
        }
        break;
    case QUORUM_SNAP_DONE:
        break;
    }
    if (cursor_ok(cursor)) {
        scan->offset = cursor->offset;
    }
    return cursor->status;
}

enum quorum_wire_status quorum_snap_scan_feed(struct quorum_snap_scan *scan,
                                              const uint8_t *bytes, size_t size,
                                              size_t *stream_bytes_out)
{
    if (scan->offset == SIZE_MAX) {
        return QUORUM_WIRE_MALFORMED; /* latched by an earlier feed */
    }
    assert(size >= scan->offset); /* the same stream, never shorter */
    /* Each step consumes at least 4 bytes or changes phase (at most 6
     * changes), so the loop ends within size / 4 + 6 steps. */
    while (scan->phase != QUORUM_SNAP_DONE) {
        struct cursor cursor;
        cursor_init(&cursor, bytes, size, scan->offset);
        enum quorum_wire_status status = scan_step(scan, &cursor);
        if (status == QUORUM_WIRE_MALFORMED) {
            scan->offset = SIZE_MAX;
            return status;
        }
        if (status == QUORUM_WIRE_NEED_MORE) {
            return status;
        }
    }
    *stream_bytes_out = scan->offset;
    return QUORUM_WIRE_DONE;
}

enum quorum_wire_status quorum_snap_stream_frame(const uint8_t *bytes, size_t size,
                                                 size_t *stream_bytes_out)
{
    struct quorum_snap_scan scan;
    quorum_snap_scan_init(&scan, QUORUM_SNAP_STRING_BYTES_MAX_DEFAULT);
    return quorum_snap_scan_feed(&scan, bytes, size, stream_bytes_out);
}

/* ---- Packet payloads --------------------------------------------------- */

/* Learner.request: long sessionId, int cxid, int type, then the request. */
#define REQUEST_HEADER_BYTES 16u

void quorum_request_encode(struct jute_writer *out, int64_t session_id, int32_t cxid,
                           int32_t opcode, const uint8_t *body, size_t body_bytes)
{
    assert(body || body_bytes == 0);
    jute_write_long(out, session_id);
    jute_write_int(out, cxid);
    jute_write_int(out, opcode);
    if (body_bytes > 0) {
        jute_write_raw(out, body, body_bytes);
    }
}

/* The payload decoders read as Java's DataInputStream / ByteBuffer do:
 * fixed fields first, and trailing bytes are left alone. A null buffer has
 * no fields. */
static bool payload_cursor(struct jute_bytes data, size_t bytes_min, struct cursor *cursor)
{
    if (data.len < 0 || (size_t)data.len < bytes_min) {
        return false;
    }
    cursor_init(cursor, data.ptr, (size_t)data.len, 0);
    return true;
}

bool quorum_request_decode(struct jute_bytes data, struct quorum_request *out)
{
    struct cursor cursor;
    if (!payload_cursor(data, REQUEST_HEADER_BYTES, &cursor)) {
        return false;
    }
    out->session_id = cursor_long(&cursor);
    out->cxid = cursor_int(&cursor);
    out->opcode = cursor_int(&cursor);
    out->body = jute_bytes_of(data.ptr + cursor.offset, (int32_t)(cursor.size - cursor.offset));
    return cursor_ok(&cursor);
}

void quorum_ping_encode(struct jute_writer *out, const struct quorum_session_touch *touches,
                        size_t touch_count)
{
    for (size_t i = 0; i < touch_count; i++) {
        jute_write_long(out, touches[i].session_id);
        jute_write_int(out, touches[i].timeout_ms);
    }
}

bool quorum_ping_decode(struct jute_bytes data,
                        void (*visit)(void *context, const struct quorum_session_touch *touch),
                        void *context)
{
    /* The leader's own PINGs carry null data: no sessions. A learner's carry
     * whole pairs (LearnerHandler reads pairs while bytes remain and fails
     * on a cut one). */
    if (data.len < 0) {
        return true;
    }
    if ((size_t)data.len % SNAP_SESSION_BYTES != 0) {
        return false;
    }
    struct cursor cursor;
    cursor_init(&cursor, data.ptr, (size_t)data.len, 0);
    while (cursor.offset < cursor.size) {
        struct quorum_session_touch touch;
        touch.session_id = cursor_long(&cursor);
        touch.timeout_ms = cursor_int(&cursor);
        assert(cursor_ok(&cursor));
        visit(context, &touch);
    }
    return true;
}

void quorum_revalidate_request_encode(struct jute_writer *out, int64_t session_id,
                                      int32_t timeout_ms)
{
    jute_write_long(out, session_id);
    jute_write_int(out, timeout_ms);
}

bool quorum_revalidate_request_decode(struct jute_bytes data, int64_t *session_id_out,
                                      int32_t *timeout_ms_out)
{
    struct cursor cursor;
    if (!payload_cursor(data, 12, &cursor)) {
        return false;
    }
    *session_id_out = cursor_long(&cursor);
    *timeout_ms_out = cursor_int(&cursor);
    return cursor_ok(&cursor);
}

void quorum_revalidate_reply_encode(struct jute_writer *out, int64_t session_id, bool valid)
{
    jute_write_long(out, session_id);
    jute_write_bool(out, valid); /* DataOutputStream.writeBoolean: one byte */
}

bool quorum_revalidate_reply_decode(struct jute_bytes data, int64_t *session_id_out,
                                    bool *valid_out)
{
    struct cursor cursor;
    if (!payload_cursor(data, 9, &cursor)) {
        return false;
    }
    *session_id_out = cursor_long(&cursor);
    const uint8_t *valid = cursor_take(&cursor, 1);
    *valid_out = valid && *valid != 0; /* readBoolean: any non-zero byte */
    return cursor_ok(&cursor);
}

void quorum_int32_encode(struct jute_writer *out, int32_t value)
{
    jute_write_int(out, value);
}

bool quorum_int32_decode(struct jute_bytes data, int32_t *value_out)
{
    struct cursor cursor;
    if (!payload_cursor(data, 4, &cursor)) {
        return false;
    }
    *value_out = cursor_int(&cursor);
    return cursor_ok(&cursor);
}
