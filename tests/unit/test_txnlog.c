/* The transaction log format (store/txnlog.h): Adler32, the file header,
 * entries byte for byte as ZooKeeper 3.8 writes them (a golden entry taken
 * from a real ZooKeeper 3.8.0 log), round trips, torn tails at every byte,
 * corruption with its offset, FilePadding sizes and log file names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jute/records.h"
#include "store/store.h"
#include "store/txnlog.h"

/* The first 77 bytes of a log.1 written by ZooKeeper 3.8.0: the FileHeader
 * and a createSession entry (session 0x100005977c70000, timeout 10000) with
 * its TxnDigest {version 2, digest 0x51c6d660}. */
static const uint8_t zookeeper_log_head[77] = {
    0x5a, 0x4b, 0x4c, 0x47, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x8b, 0x09, 0xd0,
    0x00, 0x00, 0x00, 0x30, 0x01, 0x00, 0x00, 0x59, 0x77, 0xc7, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x01, 0xa2, 0x10, 0x97, 0x59, 0x1a, 0xff, 0xff, 0xff, 0xf6,
    0x00, 0x00, 0x27, 0x10, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
    0x51, 0xc6, 0xd6, 0x60, 0x42};

#define ENTRY_COUNT 5

static uint32_t adler_of(const char *text)
{
    return store_adler32(1, (const uint8_t *)text, strlen(text));
}

static void test_adler32_golden(void **state)
{
    (void)state;
    assert_int_equal(adler_of(""), 1);
    assert_int_equal(adler_of("Wikipedia"), 0x11E60398);
    assert_int_equal(adler_of("a"), 0x00620062);
    assert_int_equal(adler_of("abc"), 0x024d0127);
    assert_int_equal(adler_of("The quick brown fox jumps over the lazy dog"), 0x5bdc0fda);
    /* Incremental updates equal one pass; long runs exercise the modulus
     * (zlib: adler32 of 100000 bytes of 0xff). */
    uint8_t *ones = malloc(100000);
    assert_non_null(ones);
    memset(ones, 0xff, 100000);
    uint32_t whole = store_adler32(1, ones, 100000);
    uint32_t split = store_adler32(store_adler32(1, ones, 12345), ones + 12345, 100000 - 12345);
    assert_int_equal(whole, split);
    /* By the definition: A = 1 + sum, B = sum of the A's, both mod 65521. */
    uint64_t a = 1, b = 0;
    for (int i = 0; i < 100000; i++) {
        a = (a + 0xff) % 65521;
        b = (b + a) % 65521;
    }
    assert_int_equal(whole, (uint32_t)((b << 16) | a));
    free(ones);
}

static void test_header_bytes(void **state)
{
    (void)state;
    struct jute_writer writer;
    jute_writer_init(&writer, 1024);
    store_txnlog_write_header(&writer, 0);
    assert_true(writer.ok);
    assert_int_equal(writer.size, STORE_TXNLOG_FILE_HEADER_BYTES);
    assert_memory_equal(writer.data, zookeeper_log_head, STORE_TXNLOG_FILE_HEADER_BYTES);
    jute_writer_free(&writer);
}

/* ZooKeeper's own entry reads back, and writing its buffer again gives the
 * same bytes (checksum over the buffer only, then 0x42). */
static void test_zookeeper_entry_golden(void **state)
{
    (void)state;
    struct store_txnlog_reader reader;
    assert_int_equal(store_txnlog_reader_init(&reader, zookeeper_log_head,
                                              sizeof zookeeper_log_head,
                                              JUTE_MAXBUFFER_DEFAULT_BYTES),
                     STORE_TXNLOG_ENTRY);
    assert_int_equal(reader.file_header.magic, STORE_TXNLOG_MAGIC);
    assert_int_equal(reader.file_header.version, 2);
    struct store_txnlog_entry entry;
    assert_int_equal(store_txnlog_next(&reader, &entry), STORE_TXNLOG_ENTRY);
    assert_int_equal(entry.offset_bytes, 16);
    assert_int_equal(entry.next_offset_bytes, 77);
    assert_int_equal(entry.header.client_id, 0x100005977c70000ll);
    assert_int_equal(entry.header.cxid, 0);
    assert_int_equal(entry.header.zxid, 1);
    assert_int_equal(entry.header.type, ZK_OP_CREATE_SESSION);
    assert_int_equal(entry.txn.len, 36); /* header 32 + CreateSessionTxn 4 */
    assert_true(entry.has_digest);
    assert_int_equal(entry.digest.version, 2);
    assert_int_equal(entry.digest.tree_digest, 0x51c6d660);
    assert_int_equal(entry.checksum, 0xc08b09d0u);
    assert_int_equal(store_txnlog_next(&reader, &entry), STORE_TXNLOG_END_CLEAN);

    struct jute_writer writer;
    jute_writer_init(&writer, 1024);
    store_txnlog_write_header(&writer, 0);
    store_txnlog_append(&writer, entry.buffer);
    assert_true(writer.ok);
    assert_int_equal(writer.size, sizeof zookeeper_log_head);
    assert_memory_equal(writer.data, zookeeper_log_head, sizeof zookeeper_log_head);
    jute_writer_free(&writer);
}

/* A log of ENTRY_COUNT transactions of several types, as the store makes
 * them. Returns the offsets of each entry in offsets[]. */
static void build_log(struct jute_writer *log, size_t offsets[ENTRY_COUNT + 1])
{
    jute_writer_init(log, 1 << 20);
    store_txnlog_write_header(log, 0);
    struct store_txn txn;
    store_txn_init(&txn, JUTE_MAXBUFFER_DEFAULT_BYTES);
    size_t at = 0;

    offsets[at++] = log->size;
    assert_int_equal(store_prepare_create_session(&txn, 0x1234, 30000, 1, 1000), ZK_OK);
    store_txnlog_append(log, jute_bytes_of(txn.bytes.data, (int32_t)txn.bytes.size));

    /* create /a "hello" world:anyone, by hand. */
    struct jute_writer bytes;
    jute_writer_init(&bytes, 4096);
    struct jute_txn_header header = {0x1234, 1, 2, 1001, ZK_OP_CREATE};
    jute_txn_header_encode(&bytes, &header);
    struct jute_acl acl = {31, {jute_bytes_cstr("world"), jute_bytes_cstr("anyone")}};
    struct jute_create_txn create = {jute_bytes_cstr("/a"), jute_bytes_cstr("hello"),
                                     {1, &acl}, false, 1};
    jute_create_txn_encode(&bytes, &create);
    offsets[at++] = log->size;
    store_txnlog_append(log, jute_bytes_of(bytes.data, (int32_t)bytes.size));

    jute_writer_reset(&bytes);
    struct jute_txn_header set_header = {0x1234, 2, 3, 1002, ZK_OP_SET_DATA};
    jute_txn_header_encode(&bytes, &set_header);
    struct jute_set_data_txn set = {jute_bytes_cstr("/a"), jute_bytes_cstr("world"), 1};
    jute_set_data_txn_encode(&bytes, &set);
    /* This one carries a TxnDigest, as ZooKeeper's do. */
    struct jute_txn_digest digest = {2, 0x1122334455667788ll};
    jute_txn_digest_encode(&bytes, &digest);
    offsets[at++] = log->size;
    store_txnlog_append(log, jute_bytes_of(bytes.data, (int32_t)bytes.size));

    offsets[at++] = log->size;
    assert_int_equal(store_prepare_error(&txn, 0x1234, 3, 4, 1003, ZK_NONODE), ZK_OK);
    store_txnlog_append(log, jute_bytes_of(txn.bytes.data, (int32_t)txn.bytes.size));

    jute_writer_reset(&bytes);
    struct jute_txn_header delete_header = {0x1234, 4, 5, 1004, ZK_OP_DELETE};
    jute_txn_header_encode(&bytes, &delete_header);
    struct jute_delete_txn delete_ = {jute_bytes_cstr("/a")};
    jute_delete_txn_encode(&bytes, &delete_);
    offsets[at++] = log->size;
    store_txnlog_append(log, jute_bytes_of(bytes.data, (int32_t)bytes.size));
    offsets[at] = log->size;
    assert_int_equal(at, ENTRY_COUNT);
    assert_true(log->ok);
    jute_writer_free(&bytes);
    store_txn_free(&txn);
}

/* Reads everything; returns the entry count and the final status. */
static enum store_txnlog_status read_all(const uint8_t *data, size_t size, int *count,
                                         struct store_txnlog_reader *reader)
{
    enum store_txnlog_status status =
        store_txnlog_reader_init(reader, data, size, JUTE_MAXBUFFER_DEFAULT_BYTES);
    *count = 0;
    struct store_txnlog_entry entry;
    for (int guard = 0; status == STORE_TXNLOG_ENTRY && guard < 1000; guard++) {
        status = store_txnlog_next(reader, &entry);
        if (status == STORE_TXNLOG_ENTRY) {
            (*count)++;
            assert_int_equal(entry.header.zxid, *count);
        }
    }
    return status;
}

static void test_round_trip(void **state)
{
    (void)state;
    struct jute_writer log;
    size_t offsets[ENTRY_COUNT + 1];
    build_log(&log, offsets);
    struct store_txnlog_reader reader;
    assert_int_equal(store_txnlog_reader_init(&reader, log.data, log.size,
                                              JUTE_MAXBUFFER_DEFAULT_BYTES),
                     STORE_TXNLOG_ENTRY);
    const int32_t types[ENTRY_COUNT] = {ZK_OP_CREATE_SESSION, ZK_OP_CREATE, ZK_OP_SET_DATA,
                                        ZK_OP_ERROR, ZK_OP_DELETE};
    struct store_txnlog_entry entry;
    for (int i = 0; i < ENTRY_COUNT; i++) {
        assert_int_equal(store_txnlog_next(&reader, &entry), STORE_TXNLOG_ENTRY);
        assert_int_equal(entry.offset_bytes, offsets[i]);
        assert_int_equal(entry.next_offset_bytes, offsets[i + 1]);
        assert_int_equal(entry.header.zxid, i + 1);
        assert_int_equal(entry.header.type, types[i]);
        assert_int_equal(entry.header.client_id, 0x1234);
        assert_int_equal(entry.has_digest, i == 2);
        /* The txn bytes stop at the record; the digest is after them. */
        assert_int_equal(entry.buffer.len, entry.txn.len + (i == 2 ? 12 : 0));
        if (i == 2) {
            assert_int_equal(entry.digest.version, 2);
            assert_int_equal(entry.digest.tree_digest, 0x1122334455667788ll);
        }
    }
    assert_int_equal(store_txnlog_next(&reader, &entry), STORE_TXNLOG_END_CLEAN);
    assert_int_equal(reader.end_offset_bytes, log.size);
    /* Sticky. */
    assert_int_equal(store_txnlog_next(&reader, &entry), STORE_TXNLOG_END_CLEAN);

    /* The same with preallocated zeros after it: still a clean end. */
    size_t padded_size = (size_t)store_txnlog_padded_size(16, 16, 65536);
    assert_int_equal(padded_size, 16 + 65536);
    uint8_t *padded = calloc(1, padded_size);
    memcpy(padded, log.data, log.size);
    int count;
    assert_int_equal(read_all(padded, padded_size, &count, &reader), STORE_TXNLOG_END_CLEAN);
    assert_int_equal(count, ENTRY_COUNT);
    assert_int_equal(reader.end_offset_bytes, log.size);
    free(padded);
    jute_writer_free(&log);
}

/* Every cut of the last record, at EOF and followed by preallocated zeros:
 * the earlier entries all read, and the end is torn (or clean when the
 * bytes kept are all zero, which cannot be told from padding). */
static void test_torn_tail_every_offset(void **state)
{
    (void)state;
    struct jute_writer log;
    size_t offsets[ENTRY_COUNT + 1];
    build_log(&log, offsets);
    const size_t last = offsets[ENTRY_COUNT - 1];
    const size_t pad_bytes = 4096;
    uint8_t *padded = malloc(log.size + pad_bytes);
    assert_non_null(padded);
    for (size_t cut = last; cut < log.size; cut++) {
        bool kept_zero = true;
        for (size_t i = last; i < cut; i++) {
            kept_zero = kept_zero && log.data[i] == 0;
        }
        const enum store_txnlog_status expected =
            kept_zero ? STORE_TXNLOG_END_CLEAN : STORE_TXNLOG_END_TORN;
        struct store_txnlog_reader reader;
        int count;
        assert_int_equal(read_all(log.data, cut, &count, &reader), expected);
        assert_int_equal(count, ENTRY_COUNT - 1);
        assert_int_equal(reader.end_offset_bytes, last);

        memcpy(padded, log.data, cut);
        memset(padded + cut, 0, log.size + pad_bytes - cut);
        assert_int_equal(read_all(padded, log.size + pad_bytes, &count, &reader), expected);
        assert_int_equal(count, ENTRY_COUNT - 1);
        assert_int_equal(reader.end_offset_bytes, last);
    }
    /* A whole last record whose checksum fails (a sector inside it never
     * written): torn, as it is last. */
    memcpy(padded, log.data, log.size);
    memset(padded + log.size, 0, pad_bytes);
    padded[log.size - 3] ^= 0x01;
    struct store_txnlog_reader reader;
    int count;
    assert_int_equal(read_all(padded, log.size + pad_bytes, &count, &reader),
                     STORE_TXNLOG_END_TORN);
    assert_int_equal(count, ENTRY_COUNT - 1);
    assert_int_equal(reader.end_offset_bytes, last);
    assert_string_equal(reader.reason, "checksum mismatch in the last record");
    free(padded);
    jute_writer_free(&log);
}

/* A flipped byte in any entry but the last is corruption at that entry. */
static void test_flipped_byte_mid_file(void **state)
{
    (void)state;
    struct jute_writer log;
    size_t offsets[ENTRY_COUNT + 1];
    build_log(&log, offsets);
    for (int victim = 0; victim < ENTRY_COUNT - 1; victim++) {
        /* Inside the buffer: the checksum fails. */
        size_t at = offsets[victim] + 12 + 20;
        log.data[at] ^= 0x40;
        struct store_txnlog_reader reader;
        int count;
        assert_int_equal(read_all(log.data, log.size, &count, &reader), STORE_TXNLOG_CORRUPT);
        assert_int_equal(count, victim);
        assert_int_equal(reader.end_offset_bytes, offsets[victim]);
        assert_string_equal(reader.reason, "checksum mismatch");
        log.data[at] ^= 0x40;

        /* The 0x42 marker: ZooKeeper would end the file here silently;
         * with data after it, it is corruption. */
        at = offsets[victim + 1] - 1;
        log.data[at] = 0x00;
        assert_int_equal(read_all(log.data, log.size, &count, &reader), STORE_TXNLOG_CORRUPT);
        assert_int_equal(count, victim);
        assert_int_equal(reader.end_offset_bytes, offsets[victim]);
        log.data[at] = STORE_TXNLOG_END_OF_RECORD;

        /* An unreasonable length (negative). */
        at = offsets[victim] + 8;
        log.data[at] ^= 0x80;
        assert_int_equal(read_all(log.data, log.size, &count, &reader), STORE_TXNLOG_CORRUPT);
        assert_int_equal(reader.end_offset_bytes, offsets[victim]);
        assert_string_equal(reader.reason, "unreasonable length");
        log.data[at] ^= 0x80;
    }
    struct store_txnlog_reader reader;
    int count;
    assert_int_equal(read_all(log.data, log.size, &count, &reader), STORE_TXNLOG_END_CLEAN);
    assert_int_equal(count, ENTRY_COUNT);

    /* A bad magic or a short header. */
    log.data[0] = 'X';
    assert_int_equal(read_all(log.data, log.size, &count, &reader), STORE_TXNLOG_CORRUPT);
    assert_int_equal(reader.end_offset_bytes, 0);
    log.data[0] = 'Z';
    assert_int_equal(read_all(log.data, 10, &count, &reader), STORE_TXNLOG_CORRUPT);
    assert_int_equal(read_all(log.data, 0, &count, &reader), STORE_TXNLOG_END_CLEAN);
    jute_writer_free(&log);
}

/* A length lost to zeros mid-file, with records after it beyond the
 * largest record that could start there, is corruption; within that reach
 * it is a torn record whose length never reached the disk. */
static void test_zero_length_mid_file(void **state)
{
    (void)state;
    struct jute_writer log, bytes;
    jute_writer_init(&log, 1 << 20);
    jute_writer_init(&bytes, 4096);
    store_txnlog_write_header(&log, 0);
    size_t second = 0;
    for (int zxid = 1; zxid <= 60; zxid++) {
        jute_writer_reset(&bytes);
        struct jute_txn_header header = {7, zxid, zxid, 1000 + zxid, ZK_OP_DELETE};
        jute_txn_header_encode(&bytes, &header);
        struct jute_delete_txn delete_ = {jute_bytes_cstr("/some/node")};
        jute_delete_txn_encode(&bytes, &delete_);
        if (zxid == 2) {
            second = log.size;
        }
        store_txnlog_append(&log, jute_bytes_of(bytes.data, (int32_t)bytes.size));
    }
    assert_true(log.ok);
    assert_true(log.size > 2 * 1024);
    memset(log.data + second + 8, 0, 4); /* the second entry's length */
    struct store_txnlog_reader reader;
    struct store_txnlog_entry entry;
    /* jute.maxbuffer 0: no record can reach past 1024 + 13 bytes. */
    assert_int_equal(store_txnlog_reader_init(&reader, log.data, log.size, 0),
                     STORE_TXNLOG_ENTRY);
    assert_int_equal(store_txnlog_next(&reader, &entry), STORE_TXNLOG_ENTRY);
    assert_int_equal(store_txnlog_next(&reader, &entry), STORE_TXNLOG_CORRUPT);
    assert_int_equal(reader.end_offset_bytes, second);
    /* Only the first 3 entries kept: what follows the zero length is within
     * reach, so it is a torn record. */
    size_t third_end = second + 2 * (log.size - 16) / 60;
    memset(log.data + third_end, 0, log.size - third_end);
    assert_int_equal(store_txnlog_reader_init(&reader, log.data, log.size, 0),
                     STORE_TXNLOG_ENTRY);
    assert_int_equal(store_txnlog_next(&reader, &entry), STORE_TXNLOG_ENTRY);
    assert_int_equal(store_txnlog_next(&reader, &entry), STORE_TXNLOG_END_TORN);
    assert_int_equal(reader.end_offset_bytes, second);
    jute_writer_free(&bytes);
    jute_writer_free(&log);
}

/* A checksum-valid buffer holding a type ZooKeeper does not log. */
static void test_unknown_type_is_corrupt(void **state)
{
    (void)state;
    struct jute_writer log, bytes;
    jute_writer_init(&log, 4096);
    jute_writer_init(&bytes, 4096);
    store_txnlog_write_header(&log, 0);
    struct jute_txn_header header = {1, 1, 1, 1, ZK_OP_GET_DATA};
    jute_txn_header_encode(&bytes, &header);
    jute_write_int(&bytes, 0);
    store_txnlog_append(&log, jute_bytes_of(bytes.data, (int32_t)bytes.size));
    struct store_txnlog_reader reader;
    int count;
    assert_int_equal(read_all(log.data, log.size, &count, &reader), STORE_TXNLOG_CORRUPT);
    assert_int_equal(reader.end_offset_bytes, 16);
    jute_writer_free(&bytes);
    jute_writer_free(&log);
}

static void test_padding_sizes(void **state)
{
    (void)state;
    const int64_t mib64 = 64 * 1024 * 1024;
    /* First entry after the header: 16 + 64 MiB, the size of ZooKeeper's files. */
    assert_int_equal(store_txnlog_padded_size(16, 16, mib64), 16 + mib64);
    /* Far from the end: unchanged. */
    assert_int_equal(store_txnlog_padded_size(1000, 16 + mib64, mib64), 16 + mib64);
    /* Within 4 KiB of the end (inclusive): grows by one step. */
    assert_int_equal(store_txnlog_padded_size(16 + mib64 - 4096, 16 + mib64, mib64),
                     16 + 2 * mib64);
    assert_int_equal(store_txnlog_padded_size(16 + mib64 - 4097, 16 + mib64, mib64),
                     16 + mib64);
    /* Written past the end: to a multiple of the step above position + step. */
    assert_int_equal(store_txnlog_padded_size(100, 50, 64), 128);
    assert_int_equal(store_txnlog_padded_size(200000, 100, 65536), 262144);
    /* Disabled. */
    assert_int_equal(store_txnlog_padded_size(5000, 100, 0), 100);
    assert_int_equal(store_txnlog_entry_bytes(36), 49);
}

static void test_names(void **state)
{
    (void)state;
    char name[STORE_TXNLOG_NAME_BYTES_MAX];
    assert_int_equal(store_txnlog_name(name, sizeof name, 1), 5);
    assert_string_equal(name, "log.1");
    store_txnlog_name(name, sizeof name, 0x100000abcll);
    assert_string_equal(name, "log.100000abc");
    store_txnlog_name(name, sizeof name, -1);
    assert_string_equal(name, "log.ffffffffffffffff");
    assert_int_equal(store_txnlog_name(name, 5, 0x10), -1);

    int64_t zxid = 0;
    assert_true(store_txnlog_parse_name("log.100000abc", &zxid));
    assert_int_equal(zxid, 0x100000abcll);
    assert_true(store_txnlog_parse_name("log.1A", &zxid));
    assert_int_equal(zxid, 0x1a);
    assert_true(store_txnlog_parse_name("log.7fffffffffffffff", &zxid));
    assert_int_equal(zxid, INT64_MAX);
    assert_true(store_txnlog_parse_name("log.5.old", &zxid)); /* split("\\.")[1] */
    assert_int_equal(zxid, 5);
    assert_true(store_txnlog_parse_name("log.-10", &zxid));
    assert_int_equal(zxid, -16);
    /* Long.parseLong fails on these: ZooKeeper's -1. */
    assert_false(store_txnlog_parse_name("log.ffffffffffffffff", &zxid));
    assert_false(store_txnlog_parse_name("log.", &zxid));
    assert_false(store_txnlog_parse_name("log.xyz", &zxid));
    assert_false(store_txnlog_parse_name("log..5", &zxid));
    assert_false(store_txnlog_parse_name("snapshot.5", &zxid));
    assert_false(store_txnlog_parse_name("logs.5", &zxid));
    assert_false(store_txnlog_parse_name("log", &zxid));
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(store_txnlog_type_name(ZK_OP_CREATE_TTL), "createTtl");
    assert_string_equal(store_txnlog_type_name(ZK_OP_CLOSE_SESSION), "closeSession");
    assert_string_equal(store_txnlog_type_name(ZK_OP_ERROR), "error");
    assert_string_equal(store_txnlog_type_name(12345), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adler32_golden),
        cmocka_unit_test(test_header_bytes),
        cmocka_unit_test(test_zookeeper_entry_golden),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_torn_tail_every_offset),
        cmocka_unit_test(test_flipped_byte_mid_file),
        cmocka_unit_test(test_zero_length_mid_file),
        cmocka_unit_test(test_unknown_type_is_corrupt),
        cmocka_unit_test(test_padding_sizes),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
