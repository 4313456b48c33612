/* The transaction log file format of ZooKeeper 3.8 (see txnlog.h). */
#include "store/txnlog.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "jute/zk_constants.h"
#include "store/store_internal.h"

/* ---- Adler32 ------------------------------------------------------------ */

#define ADLER32_MODULUS 65521u
/* The most bytes that can be summed before the 32-bit sums must be reduced
 * (zlib's NMAX): 255 n (n + 1) / 2 + (n + 1)(MOD - 1) <= 2^32 - 1. */
#define ADLER32_BLOCK_BYTES_MAX 5552u

uint32_t store_adler32(uint32_t adler, const uint8_t *data, size_t size)
{
    uint32_t low = adler & 0xffffu;
    uint32_t high = adler >> 16;
    while (size > 0) {
        size_t block = size < ADLER32_BLOCK_BYTES_MAX ? size : ADLER32_BLOCK_BYTES_MAX;
        size -= block;
        for (size_t i = 0; i < block; i++) {
            low += data[i];
            high += low;
        }
        data += block;
        low %= ADLER32_MODULUS;
        high %= ADLER32_MODULUS;
    }
    return (high << 16) | low;
}

/* ---- Writing ------------------------------------------------------------ */

void store_txnlog_write_header(struct jute_writer *writer, int64_t dbid)
{
    struct jute_file_header header = {STORE_TXNLOG_MAGIC, STORE_TXNLOG_VERSION, dbid};
    jute_file_header_encode(writer, &header);
}

void store_txnlog_append(struct jute_writer *writer, struct jute_bytes txn_bytes)
{
    /* FileTxnLog.append refuses an empty buffer: it would read back as EOF. */
    assert(txn_bytes.len > 0);
    uint32_t checksum = store_adler32(1, txn_bytes.ptr, (size_t)txn_bytes.len);
    jute_write_long(writer, (int64_t)checksum);
    jute_write_bytes(writer, txn_bytes);
    const uint8_t marker = STORE_TXNLOG_END_OF_RECORD;
    jute_write_raw(writer, &marker, 1);
}

int64_t store_txnlog_padded_size(int64_t position_bytes, int64_t file_bytes,
                                 int64_t prealloc_bytes)
{
    if (prealloc_bytes <= 0 || position_bytes + STORE_TXNLOG_PAD_MARGIN_BYTES < file_bytes) {
        return file_bytes;
    }
    if (position_bytes > file_bytes) {
        int64_t size = position_bytes + prealloc_bytes;
        return size - size % prealloc_bytes;
    }
    return file_bytes + prealloc_bytes;
}

/* ---- Names --------------------------------------------------------------- */

int store_txnlog_name(char *out, size_t out_bytes, int64_t zxid)
{
    int written = snprintf(out, out_bytes, "log.%llx", (unsigned long long)(uint64_t)zxid);
    if (written < 0 || (size_t)written >= out_bytes) {
        return -1;
    }
    return written;
}

bool store_parse_java_long(const char *text, size_t len, int radix, int64_t *out)
{
    assert(radix == 10 || radix == 16);
    size_t at = 0;
    bool negative = false;
    if (len > 0 && (text[0] == '-' || text[0] == '+')) {
        negative = text[0] == '-';
        at = 1;
    }
    if (at == len) {
        return false;
    }
    /* Accumulate the magnitude; the limit is 2^63 for negatives. */
    const uint64_t limit = negative ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1;
    uint64_t magnitude = 0;
    for (; at < len; at++) {
        int digit = store_hex_digit_value(text[at]);
        if (digit < 0 || digit >= radix ||
            magnitude > (limit - (uint64_t)digit) / (uint64_t)radix) {
            return false;
        }
        magnitude = magnitude * (uint64_t)radix + (uint64_t)digit;
    }
    *out = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
    return true;
}

bool store_txnlog_parse_name(const char *name, int64_t *zxid_out)
{
    /* String.split("\\.") then nameParts[0].equals("log"): the first part
     * must be exactly "log" and a second part must exist. */
    const char *dot = strchr(name, '.');
    if (dot == NULL || (size_t)(dot - name) != 3 || memcmp(name, "log", 3) != 0) {
        return false;
    }
    const char *number = dot + 1;
    const char *number_end = strchr(number, '.');
    size_t number_len = number_end ? (size_t)(number_end - number) : strlen(number);
    return store_parse_java_long(number, number_len, 16, zxid_out);
}

/* ---- Records ------------------------------------------------------------- */

/* Each skip_* walks one record of zookeeper.jute without keeping it, so the
 * reader knows where the record ends and a TxnDigest may begin. */

static void skip_acl_vector(struct jute_reader *reader)
{
    /* ACL: int perms, ustring scheme, ustring id. */
    int32_t count = jute_read_vector_count(reader, 12);
    for (int32_t i = 0; i < count && reader->ok; i++) {
        (void)jute_read_int(reader);
        (void)jute_read_bytes(reader);
        (void)jute_read_bytes(reader);
    }
}

static void skip_string_vector(struct jute_reader *reader)
{
    int32_t count = jute_read_vector_count(reader, 4);
    for (int32_t i = 0; i < count && reader->ok; i++) {
        (void)jute_read_bytes(reader);
    }
}

/* Returns false for a type ZooKeeper's SerializeUtils.deserializeTxn does not
 * know. */
static bool skip_record(struct jute_reader *reader, int32_t type)
{
    switch (type) {
    case ZK_OP_CREATE_SESSION: /* CreateSessionTxn{int timeOut} */
    case ZK_OP_ERROR:          /* ErrorTxn{int err} */
        (void)jute_read_int(reader);
        return true;
    case ZK_OP_CLOSE_SESSION:
        /* CloseSessionTxn{vector<ustring> paths2Delete} (3.6+ with
         * closeSessionTxn.enabled, the default); older logs have no record. */
        if (jute_reader_remaining(reader) == 0 ||
            jute_reader_remaining(reader) == STORE_TXNLOG_DIGEST_BYTES) {
            struct jute_reader probe = *reader;
            skip_string_vector(&probe);
            if (!probe.ok) {
                return true;
            }
        }
        skip_string_vector(reader);
        return true;
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2: /* CreateTxn{path, data, acl, bool ephemeral, int parentCVersion} */
        (void)jute_read_bytes(reader);
        (void)jute_read_bytes(reader);
        skip_acl_vector(reader);
        (void)jute_read_bool(reader);
        (void)jute_read_int(reader);
        return true;
    case ZK_OP_CREATE_TTL: /* CreateTTLTxn{path, data, acl, int parentCVersion, long ttl} */
        (void)jute_read_bytes(reader);
        (void)jute_read_bytes(reader);
        skip_acl_vector(reader);
        (void)jute_read_int(reader);
        (void)jute_read_long(reader);
        return true;
    case ZK_OP_CREATE_CONTAINER: /* CreateContainerTxn{path, data, acl, int parentCVersion} */
        (void)jute_read_bytes(reader);
        (void)jute_read_bytes(reader);
        skip_acl_vector(reader);
        (void)jute_read_int(reader);
        return true;
    case ZK_OP_DELETE:
    case ZK_OP_DELETE_CONTAINER: /* DeleteTxn{path} */
        (void)jute_read_bytes(reader);
        return true;
    case ZK_OP_SET_DATA:
    case ZK_OP_RECONFIG: /* SetDataTxn{path, data, int version} */
        (void)jute_read_bytes(reader);
        (void)jute_read_bytes(reader);
        (void)jute_read_int(reader);
        return true;
    case ZK_OP_CHECK: /* CheckVersionTxn{path, int version} */
        (void)jute_read_bytes(reader);
        (void)jute_read_int(reader);
        return true;
    case ZK_OP_SET_ACL: /* SetACLTxn{path, acl, int version} */
        (void)jute_read_bytes(reader);
        skip_acl_vector(reader);
        (void)jute_read_int(reader);
        return true;
    case ZK_OP_MULTI: { /* MultiTxn{vector<Txn{int type, buffer data}>} */
        int32_t count = jute_read_vector_count(reader, 8);
        for (int32_t i = 0; i < count && reader->ok; i++) {
            (void)jute_read_int(reader);
            (void)jute_read_bytes(reader);
        }
        return true;
    }
    default:
        return false;
    }
}

int64_t store_txnlog_record_bytes(int32_t type, const uint8_t *record, size_t size)
{
    struct jute_reader reader;
    jute_reader_init(&reader, record, size);
    if (!skip_record(&reader, type) || !reader.ok) {
        return -1;
    }
    return (int64_t)reader.offset;
}

const char *store_txnlog_type_name(int32_t type)
{
    switch (type) {
    case ZK_OP_CREATE: return "create";
    case ZK_OP_DELETE: return "delete";
    case ZK_OP_SET_DATA: return "setData";
    case ZK_OP_SET_ACL: return "setACL";
    case ZK_OP_CHECK: return "check";
    case ZK_OP_MULTI: return "multi";
    case ZK_OP_CREATE2: return "create2";
    case ZK_OP_RECONFIG: return "reconfig";
    case ZK_OP_CREATE_CONTAINER: return "createContainer";
    case ZK_OP_DELETE_CONTAINER: return "deleteContainer";
    case ZK_OP_CREATE_TTL: return "createTtl"; /* sic: Request.op2String */
    case ZK_OP_CREATE_SESSION: return "createSession";
    case ZK_OP_CLOSE_SESSION: return "closeSession";
    case ZK_OP_ERROR: return "error";
    default: return "unknown";
    }
}

/* ---- Reading ------------------------------------------------------------- */

static bool all_zero(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (data[i] != 0) {
            return false;
        }
    }
    return true;
}

static enum store_txnlog_status reader_stop(struct store_txnlog_reader *reader,
                                            enum store_txnlog_status status,
                                            size_t offset, const char *reason)
{
    reader->status = status;
    reader->end_offset_bytes = offset;
    reader->reason = reason;
    return status;
}

enum store_txnlog_status store_txnlog_reader_init(struct store_txnlog_reader *reader,
                                                  const uint8_t *data, size_t size,
                                                  uint32_t jute_maxbuffer_bytes)
{
    memset(reader, 0, sizeof *reader);
    reader->data = data;
    reader->size = size;
    reader->buffer_bytes_max = (size_t)jute_maxbuffer_bytes + STORE_TXNLOG_EXTRA_BUFFER_BYTES;
    reader->status = STORE_TXNLOG_ENTRY;
    if (size == 0) {
        return reader_stop(reader, STORE_TXNLOG_END_CLEAN, 0, "empty file");
    }
    struct jute_reader header_reader;
    jute_reader_init(&header_reader, data, size);
    if (!jute_file_header_decode(&header_reader, NULL, &reader->file_header)) {
        return reader_stop(reader, STORE_TXNLOG_CORRUPT, 0, "file header incomplete");
    }
    if (reader->file_header.magic != STORE_TXNLOG_MAGIC) {
        return reader_stop(reader, STORE_TXNLOG_CORRUPT, 0, "invalid magic number (not ZKLG)");
    }
    reader->offset = STORE_TXNLOG_FILE_HEADER_BYTES;
    return STORE_TXNLOG_ENTRY;
}

/* A problem with the entry at `offset` whose bytes end just before `after`:
 * torn if it is the last thing written (only zeros follow), else corrupt. */
static enum store_txnlog_status reader_stop_torn_or_corrupt(struct store_txnlog_reader *reader,
                                                            size_t offset, size_t after,
                                                            const char *torn_reason,
                                                            const char *corrupt_reason)
{
    if (after >= reader->size || all_zero(reader->data + after, reader->size - after)) {
        return reader_stop(reader, STORE_TXNLOG_END_TORN, offset, torn_reason);
    }
    return reader_stop(reader, STORE_TXNLOG_CORRUPT, offset, corrupt_reason);
}

/* Splits a checked buffer into header, record and digest. */
static bool parse_buffer(struct store_txnlog_entry *entry)
{
    struct jute_reader reader;
    jute_reader_init(&reader, entry->buffer.ptr, (size_t)entry->buffer.len);
    if (!jute_txn_header_decode(&reader, NULL, &entry->header)) {
        return false;
    }
    int64_t record_bytes = store_txnlog_record_bytes(
        entry->header.type, reader.data + reader.offset, jute_reader_remaining(&reader));
    if (record_bytes < 0) {
        return false;
    }
    reader.offset += (size_t)record_bytes;
    entry->txn = jute_bytes_of(entry->buffer.ptr, (int32_t)reader.offset);
    /* SerializeUtils.deserializeTxn reads a TxnDigest when the bytes left
     * hold one; fewer bytes mean no digest. */
    entry->has_digest = false;
    if (jute_reader_remaining(&reader) >= STORE_TXNLOG_DIGEST_BYTES) {
        entry->has_digest = jute_txn_digest_decode(&reader, NULL, &entry->digest);
    }
    return true;
}

enum store_txnlog_status store_txnlog_next(struct store_txnlog_reader *reader,
                                           struct store_txnlog_entry *entry)
{
    if (reader->status != STORE_TXNLOG_ENTRY) {
        return reader->status;
    }
    const size_t start = reader->offset;
    const size_t remaining = reader->size - start;
    const uint8_t *at = reader->data + start;
    if (remaining < 12) { /* checksum and length not both there */
        if (all_zero(at, remaining)) {
            return reader_stop(reader, STORE_TXNLOG_END_CLEAN, start, "end of file");
        }
        return reader_stop(reader, STORE_TXNLOG_END_TORN, start,
                           "checksum or length cut short by the end of the file");
    }
    struct jute_reader prefix;
    jute_reader_init(&prefix, at, 12);
    int64_t stored_checksum = jute_read_long(&prefix);
    int32_t length = jute_read_int(&prefix);
    assert(prefix.ok);
    if (length == 0) {
        /* ZooKeeper's end of the log: the preallocated zeros. */
        if (all_zero(at, remaining)) {
            return reader_stop(reader, STORE_TXNLOG_END_CLEAN, start, "end of log (zero length)");
        }
        /* Non-zero bytes after a zero length are a record whose length was
         * never written, if they lie within the largest record that could
         * start here; beyond that, later records exist: the length was lost
         * mid-file (ZooKeeper would silently stop reading the file). */
        size_t record_extent = 12 + reader->buffer_bytes_max + 1;
        if (remaining <= record_extent ||
            all_zero(at + record_extent, remaining - record_extent)) {
            return reader_stop(reader, STORE_TXNLOG_END_TORN, start,
                               "zero length followed by non-zero bytes");
        }
        return reader_stop(reader, STORE_TXNLOG_CORRUPT, start,
                           "zero length with records after it");
    }
    if (length < 0 || (size_t)length > reader->buffer_bytes_max) {
        return reader_stop(reader, STORE_TXNLOG_CORRUPT, start, "unreasonable length");
    }
    size_t buffer_end = start + 12 + (size_t)length;
    if (buffer_end >= reader->size) {
        return reader_stop(reader, STORE_TXNLOG_END_TORN, start,
                           "record cut short by the end of the file");
    }
    if (reader->data[buffer_end] != STORE_TXNLOG_END_OF_RECORD) {
        return reader_stop_torn_or_corrupt(reader, start, buffer_end,
                                           "last transaction was partial (no 0x42 marker)",
                                           "record without its 0x42 marker, data follows");
    }
    memset(entry, 0, sizeof *entry);
    entry->offset_bytes = start;
    entry->next_offset_bytes = buffer_end + 1;
    entry->buffer = jute_bytes_of(at + 12, length);
    entry->checksum = store_adler32(1, entry->buffer.ptr, (size_t)length);
    if (stored_checksum != (int64_t)entry->checksum) {
        return reader_stop_torn_or_corrupt(reader, start, buffer_end + 1,
                                           "checksum mismatch in the last record",
                                           "checksum mismatch");
    }
    if (!parse_buffer(entry)) {
        return reader_stop(reader, STORE_TXNLOG_CORRUPT, start,
                           "transaction does not decode (checksum matches)");
    }
    reader->offset = buffer_end + 1;
    reader->entries_read++;
    return STORE_TXNLOG_ENTRY;
}
