/* Cutting the log and snapshots back for ZAB's TRUNC and SNAP
 * (store/truncate.c). Logs are real ZooKeeper-format files: transactions
 * made by store_prepare, written with store_txnlog_append into files
 * preallocated as the log writer leaves them (FilePadding steps, zeros
 * after the last record). After each truncation the txnlog reader must see
 * exactly the records <= zxid, and store_recover must give the tree those
 * records make, byte for byte, also once a new history is appended. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jute/records.h"
#include "store/recovery.h"
#include "store/snapshot.h"
#include "store/store.h"
#include "store/truncate.h"
#include "store/txnlog.h"
#include "store_test_writes.h"

#define SESSION_A 0x100000001ll
/* Transactions one test makes, over every history. */
#define HISTORY_TXNS_MAX 128
/* preAllocSize for the test logs: small, but several records per step. */
#define TEST_PREALLOC_BYTES (64 * 1024)
#define SNAPSHOT_BYTES_MAX (16u << 20)
#define LOG_BYTES_MAX (4u << 20)
#define ZXIDS_READ_MAX 256
#define ERROR_BYTES 2048

static int64_t zxid_of(uint32_t epoch, uint32_t counter)
{
    return (int64_t)((uint64_t)epoch << 32 | counter);
}

/* ---- histories: transactions kept in order ------------------------------ */

struct kept_txn {
    int64_t zxid;
    uint8_t *bytes;
    size_t size;
};

struct fixture {
    char dir[64];
    struct kept_txn txns[HISTORY_TXNS_MAX];
    size_t txn_count;
    struct store_txn txn;
    struct store_apply_result result;
    struct jute_writer body;
    int64_t now_ms;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/cheetah-truncate-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    store_txn_init(&fx->txn, JUTE_MAXBUFFER_DEFAULT_BYTES + 4096);
    store_apply_result_init(&fx->result);
    jute_writer_init(&fx->body, 1u << 20);
    fx->now_ms = 1700000000000;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    DIR *dir = opendir(fx->dir);
    struct dirent *entry;
    while (dir && (entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") && strcmp(entry->d_name, "..")) {
            char path[512];
            snprintf(path, sizeof path, "%s/%s", fx->dir, entry->d_name);
            unlink(path);
        }
    }
    if (dir) {
        closedir(dir);
    }
    rmdir(fx->dir);
    for (size_t i = 0; i < fx->txn_count; i++) {
        free(fx->txns[i].bytes);
    }
    store_txn_free(&fx->txn);
    store_apply_result_free(&fx->result);
    jute_writer_free(&fx->body);
    free(fx);
    return 0;
}

static struct store_tree *tree_new(void)
{
    struct store_tree *tree = store_test_tree_new();
    assert_non_null(tree);
    return tree;
}

static struct kept_txn *find_txn(struct fixture *fx, int64_t zxid)
{
    for (size_t i = 0; i < fx->txn_count; i++) {
        if (fx->txns[i].zxid == zxid) {
            return &fx->txns[i];
        }
    }
    fail_msg("no transaction 0x%" PRIx64 " was made", (uint64_t)zxid);
    return NULL;
}

static void apply_bytes(struct fixture *fx, struct store_tree *tree, const uint8_t *bytes,
                        size_t size)
{
    assert_int_equal(store_apply(tree, jute_bytes_of(bytes, (int32_t)size), NULL, &fx->result),
                     ZK_OK);
    assert_int_equal(fx->result.err, ZK_OK);
}

/* Prepares one request at `zxid` on `tree`, applies it and keeps it. */
static void write_op(struct fixture *fx, struct store_tree *tree, int32_t opcode, int64_t zxid)
{
    assert_int_equal(store_test_prepare(tree, &fx->txn, &fx->body, SESSION_A, 7, opcode, zxid,
                                        fx->now_ms),
                     ZK_OK);
    fx->now_ms += 13;
    apply_bytes(fx, tree, fx->txn.bytes.data, fx->txn.bytes.size);
    assert_true(fx->txn_count < HISTORY_TXNS_MAX);
    struct kept_txn *kept = &fx->txns[fx->txn_count++];
    kept->zxid = zxid;
    kept->size = fx->txn.bytes.size;
    kept->bytes = malloc(kept->size);
    assert_non_null(kept->bytes);
    memcpy(kept->bytes, fx->txn.bytes.data, kept->size);
}

/* `count` writes under /<prefix> on `tree`, zxids epoch:first.. */
static void make_history(struct fixture *fx, struct store_tree *tree, const char *prefix,
                         uint32_t epoch, uint32_t first, uint32_t count)
{
    char top[64];
    snprintf(top, sizeof top, "/%s", prefix);
    for (uint32_t i = 0; i < count; i++) {
        int64_t zxid = zxid_of(epoch, first + i);
        if (i == 0) {
            store_test_encode_create(&fx->body, top, jute_bytes_cstr("top"),
                                     &store_test_open_acl, ZK_CREATE_PERSISTENT);
            write_op(fx, tree, ZK_OP_CREATE, zxid);
        } else if (i % 3 == 0) {
            char data[32];
            snprintf(data, sizeof data, "v%u", i);
            store_test_encode_set_data(&fx->body, top, jute_bytes_cstr(data));
            write_op(fx, tree, ZK_OP_SET_DATA, zxid);
        } else {
            char child[96];
            snprintf(child, sizeof child, "%s/n%u", top, i);
            store_test_encode_create(&fx->body, child, jute_bytes_cstr("child"),
                                     &store_test_open_acl, ZK_CREATE_PERSISTENT);
            write_op(fx, tree, ZK_OP_CREATE, zxid);
        }
    }
}

/* A fresh tree with the kept transactions of each zxid range applied
 * (ranges[] = {first, last, first, last, ..., 0}; one range when last_zxid
 * matters). */
static struct store_tree *tree_of(struct fixture *fx, const int64_t *ranges)
{
    struct store_tree *tree = tree_new();
    for (size_t r = 0; ranges[r] != 0; r += 2) {
        for (int64_t zxid = ranges[r]; zxid <= ranges[r + 1]; zxid++) {
            struct kept_txn *kept = find_txn(fx, zxid);
            apply_bytes(fx, tree, kept->bytes, kept->size);
        }
    }
    store_tree_set_last_zxid(tree, ranges[0] ? ranges[1] : 0);
    return tree;
}

/* ---- files ------------------------------------------------------------- */

static void path_in(const struct fixture *fx, const char *name, char *out, size_t out_bytes)
{
    snprintf(out, out_bytes, "%s/%s", fx->dir, name);
}

static void write_file(const char *path, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, size), (ssize_t)size);
    close(fd);
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static bool file_exists(const struct fixture *fx, const char *name)
{
    char path[512];
    path_in(fx, name, path, sizeof path);
    struct stat st;
    return stat(path, &st) == 0;
}

static void log_name(int64_t zxid, char *out, size_t out_bytes)
{
    assert_true(store_txnlog_name(out, out_bytes, zxid) > 0);
}

/* Logs the kept transactions first..last (zxids, inclusive) into
 * log.<first>, grown in preAllocSize steps before each record as the log
 * writer does (store_txnlog_padded_size), so zeros follow the last record.
 * Returns the file size; ends[i] (when given) is where the i-th record
 * ends. */
static size_t write_log(struct fixture *fx, int64_t first, int64_t last, size_t *ends)
{
    struct jute_writer log;
    jute_writer_init(&log, LOG_BYTES_MAX);
    store_txnlog_write_header(&log, 0);
    int64_t file_bytes = STORE_TXNLOG_FILE_HEADER_BYTES;
    size_t n = 0;
    for (int64_t zxid = first; zxid <= last; zxid++) {
        struct kept_txn *kept = find_txn(fx, zxid);
        int64_t padded = store_txnlog_padded_size((int64_t)log.size, file_bytes,
                                                  TEST_PREALLOC_BYTES);
        if (padded > file_bytes) {
            file_bytes = padded;
        }
        store_txnlog_append(&log, jute_bytes_of(kept->bytes, (int32_t)kept->size));
        if (ends) {
            ends[n++] = log.size;
        }
    }
    assert_true(log.ok);
    assert_true((int64_t)log.size < file_bytes);
    size_t size = (size_t)file_bytes;
    uint8_t *bytes = calloc(1, size);
    assert_non_null(bytes);
    memcpy(bytes, log.data, log.size);
    char name[STORE_TXNLOG_NAME_BYTES_MAX];
    log_name(first, name, sizeof name);
    char path[512];
    path_in(fx, name, path, sizeof path);
    write_file(path, bytes, size);
    free(bytes);
    jute_writer_free(&log);
    return size;
}

static void write_snapshot(struct fixture *fx, struct store_tree *tree, int64_t zxid)
{
    struct jute_writer out;
    jute_writer_init(&out, SNAPSHOT_BYTES_MAX);
    assert_true(store_snapshot_write(tree, NULL, 0, &out));
    char name[STORE_SNAPSHOT_NAME_BYTES];
    store_snapshot_name(zxid, name, sizeof name);
    char path[512];
    path_in(fx, name, path, sizeof path);
    write_file(path, out.data, out.size);
    jute_writer_free(&out);
}

static int compare_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Every record of every log.* file, in file order (files by their zxid),
 * as the txnlog reader sees it; each file must end cleanly. */
static size_t read_all_zxids(struct fixture *fx, int64_t *zxids, size_t zxids_max)
{
    int64_t starts[64];
    size_t file_count = 0;
    DIR *dir = opendir(fx->dir);
    assert_non_null(dir);
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        int64_t zxid;
        if (store_txnlog_parse_name(entry->d_name, &zxid)) {
            assert_true(file_count < 64);
            starts[file_count++] = zxid;
        }
    }
    closedir(dir);
    qsort(starts, file_count, sizeof starts[0], compare_int64);
    size_t count = 0;
    for (size_t f = 0; f < file_count; f++) {
        char name[STORE_TXNLOG_NAME_BYTES_MAX];
        log_name(starts[f], name, sizeof name);
        char path[512];
        path_in(fx, name, path, sizeof path);
        size_t size = (size_t)file_size(path);
        uint8_t *data = malloc(size ? size : 1);
        int fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        assert_int_equal(read(fd, data, size), (ssize_t)size);
        close(fd);
        struct store_txnlog_reader reader;
        enum store_txnlog_status status =
            store_txnlog_reader_init(&reader, data, size, JUTE_MAXBUFFER_DEFAULT_BYTES);
        struct store_txnlog_entry log_entry;
        while (status == STORE_TXNLOG_ENTRY &&
               (status = store_txnlog_next(&reader, &log_entry)) == STORE_TXNLOG_ENTRY) {
            assert_true(count < zxids_max);
            zxids[count++] = log_entry.header.zxid;
        }
        if (status != STORE_TXNLOG_END_CLEAN) {
            fail_msg("%s: status %d at %" PRIu64 ": %s", path, (int)status,
                     reader.end_offset_bytes, reader.reason ? reader.reason : "");
        }
        free(data);
    }
    return count;
}

/* The logs hold exactly epoch-0 records 1..last (none when last is 0). */
static void assert_log_holds(struct fixture *fx, int64_t last)
{
    int64_t zxids[ZXIDS_READ_MAX];
    size_t count = read_all_zxids(fx, zxids, ZXIDS_READ_MAX);
    assert_int_equal(count, (size_t)last);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(zxids[i], (int64_t)i + 1);
    }
}

static int recover(struct fixture *fx, struct store_tree *tree,
                   struct store_recovery_result *result, char *error)
{
    struct store_recovery_options options = {
        .snap_dir = fx->dir,
        .log_dir = fx->dir,
        .jute_maxbuffer_bytes = JUTE_MAXBUFFER_DEFAULT_BYTES,
    };
    return store_recover(tree, &options, result, error, ERROR_BYTES);
}

static void assert_same_tree(struct store_tree *expected, struct store_tree *actual)
{
    struct jute_writer a, b;
    jute_writer_init(&a, SNAPSHOT_BYTES_MAX);
    jute_writer_init(&b, SNAPSHOT_BYTES_MAX);
    assert_true(store_snapshot_write(expected, NULL, 0, &a));
    assert_true(store_snapshot_write(actual, NULL, 0, &b));
    assert_int_equal(a.size, b.size);
    assert_memory_equal(a.data, b.data, a.size);
    jute_writer_free(&a);
    jute_writer_free(&b);
}

/* store_recover must give `expected` at `last_zxid`. */
static void assert_recovers_to(struct fixture *fx, struct store_tree *expected,
                               int64_t snapshot_zxid, int64_t last_zxid)
{
    struct store_tree *tree = tree_new();
    struct store_recovery_result result;
    char error[ERROR_BYTES];
    if (recover(fx, tree, &result, error) != 0) {
        fail_msg("recovery failed: %s", error);
    }
    assert_int_equal(result.snapshot_zxid, snapshot_zxid);
    assert_int_equal(result.last_zxid, last_zxid);
    assert_false(result.truncated_torn_tail);
    assert_same_tree(expected, tree);
    store_recovery_result_free(&result);
    store_tree_destroy(tree);
}

static int truncate_ok(struct fixture *fx, int64_t zxid, struct store_truncate_result *result)
{
    char error[ERROR_BYTES];
    int rc = store_log_truncate(fx->dir, zxid, result, error, sizeof error);
    if (rc != 0) {
        fail_msg("truncate to 0x%" PRIx64 " failed: %s", (uint64_t)zxid, error);
    }
    return rc;
}

/* ---- the standard layout: log.1 (1..10), log.b (11..20), log.15 (21..30) */

#define FILE_RECORDS 10
#define ALL_RECORDS 30

struct layout {
    size_t sizes[3];              /* file sizes, padding included */
    size_t ends[3][FILE_RECORDS]; /* where each record ends */
};

static void three_logs(struct fixture *fx, struct layout *layout)
{
    struct store_tree *tree = tree_new();
    make_history(fx, tree, "old", 0, 1, ALL_RECORDS);
    store_tree_destroy(tree);
    for (int f = 0; f < 3; f++) {
        layout->sizes[f] = write_log(fx, f * FILE_RECORDS + 1, (f + 1) * FILE_RECORDS,
                                     layout->ends[f]);
        assert_true(layout->sizes[f] >= TEST_PREALLOC_BYTES); /* padded */
    }
    assert_log_holds(fx, ALL_RECORDS);
}

static const char *const layout_names[3] = {"log.1", "log.b", "log.15"};

static off_t size_of(const struct fixture *fx, const char *name)
{
    char path[512];
    path_in(fx, name, path, sizeof path);
    return file_size(path);
}

/* After a truncation to `zxid` (epoch 0, within or beyond the layout):
 * the reader sees 1..min(zxid, 30), recovery gives that tree, and a new
 * epoch's log appended after it recovers in order. */
static void check_after_truncation(struct fixture *fx, int64_t zxid)
{
    int64_t kept = zxid < ALL_RECORDS ? zxid : ALL_RECORDS;
    assert_log_holds(fx, kept);
    const int64_t old_range[] = {1, kept, 0};
    struct store_tree *expected = tree_of(fx, kept ? old_range : old_range + 2);
    assert_recovers_to(fx, expected, -1, kept);
    /* The new leader's history goes on from there, in epoch 1, as the log
     * writer would write it: log.<first new zxid>. */
    make_history(fx, expected, "new", 1, 1, 5);
    write_log(fx, zxid_of(1, 1), zxid_of(1, 5), NULL);
    assert_recovers_to(fx, expected, -1, zxid_of(1, 5));
    int64_t zxids[ZXIDS_READ_MAX];
    size_t count = read_all_zxids(fx, zxids, ZXIDS_READ_MAX);
    assert_int_equal(count, (size_t)kept + 5);
    for (size_t i = 0; i < count; i++) {
        int64_t want = i < (size_t)kept ? (int64_t)i + 1 : zxid_of(1, (uint32_t)(i - kept + 1));
        assert_int_equal(zxids[i], want);
    }
    store_tree_destroy(expected);
}

/* ---- tests ------------------------------------------------------------- */

/* Truncating at the last record changes nothing: no file deleted, none cut
 * (the padding stays: ZooKeeper would keep writing after it). */
static void test_truncate_at_last_record(void **state)
{
    struct fixture *fx = *state;
    struct layout layout;
    three_logs(fx, &layout);
    struct store_truncate_result result;
    truncate_ok(fx, ALL_RECORDS, &result);
    assert_int_equal(result.deleted.count, 0);
    assert_false(result.cut);
    assert_string_equal(result.cut_name, "");
    assert_int_equal(result.last_zxid_kept, ALL_RECORDS);
    for (int f = 0; f < 3; f++) {
        assert_int_equal(size_of(fx, layout_names[f]), (off_t)layout.sizes[f]);
    }
    check_after_truncation(fx, ALL_RECORDS);
}

/* A middle record of the middle file: log.15 goes, log.b is cut right
 * after record 15, its padding with it. */
static void test_truncate_middle_of_middle_file(void **state)
{
    struct fixture *fx = *state;
    struct layout layout;
    three_logs(fx, &layout);
    struct store_truncate_result result;
    truncate_ok(fx, 15, &result);
    assert_int_equal(result.deleted.count, 1);
    assert_int_equal(result.deleted.listed, 1);
    assert_string_equal(result.deleted.names[0], "log.15");
    assert_true(result.cut);
    assert_string_equal(result.cut_name, "log.b");
    assert_int_equal(result.cut_from_bytes, layout.sizes[1]);
    assert_int_equal(result.cut_to_bytes, layout.ends[1][4]);
    assert_int_equal(result.last_zxid_kept, 15);
    assert_false(file_exists(fx, "log.15"));
    assert_int_equal(size_of(fx, "log.b"), (off_t)layout.ends[1][4]);
    assert_int_equal(size_of(fx, "log.1"), (off_t)layout.sizes[0]);
    check_after_truncation(fx, 15);
}

/* A middle record of the first file: both later files go. */
static void test_truncate_middle_of_first_file(void **state)
{
    struct fixture *fx = *state;
    struct layout layout;
    three_logs(fx, &layout);
    struct store_truncate_result result;
    truncate_ok(fx, 4, &result);
    assert_int_equal(result.deleted.count, 2);
    assert_string_equal(result.deleted.names[0], "log.15"); /* newest first */
    assert_string_equal(result.deleted.names[1], "log.b");
    assert_true(result.cut);
    assert_string_equal(result.cut_name, "log.1");
    assert_int_equal(size_of(fx, "log.1"), (off_t)layout.ends[0][3]);
    assert_int_equal(result.last_zxid_kept, 4);
    check_after_truncation(fx, 4);
}

/* The first record of a file: the file keeps its header and that record. */
static void test_truncate_at_first_record_of_file(void **state)
{
    struct fixture *fx = *state;
    struct layout layout;
    three_logs(fx, &layout);
    struct store_truncate_result result;
    truncate_ok(fx, 21, &result);
    assert_int_equal(result.deleted.count, 0);
    assert_true(result.cut);
    assert_string_equal(result.cut_name, "log.15");
    assert_int_equal(size_of(fx, "log.15"), (off_t)layout.ends[2][0]);
    assert_int_equal(result.last_zxid_kept, 21);
    check_after_truncation(fx, 21);
}

/* The zxid just before a file's first: that file and the later ones go,
 * the one before holds nothing after zxid and is left as it is. */
static void test_truncate_just_before_a_file(void **state)
{
    struct fixture *fx = *state;
    struct layout layout;
    three_logs(fx, &layout);
    struct store_truncate_result result;
    truncate_ok(fx, 10, &result);
    assert_int_equal(result.deleted.count, 2);
    assert_false(result.cut);
    assert_false(file_exists(fx, "log.b"));
    assert_false(file_exists(fx, "log.15"));
    assert_int_equal(size_of(fx, "log.1"), (off_t)layout.sizes[0]);
    assert_int_equal(result.last_zxid_kept, 10);
    check_after_truncation(fx, 10);
}

/* Below every file: every log goes. */
static void test_truncate_below_every_file(void **state)
{
    struct fixture *fx = *state;
    struct layout layout;
    three_logs(fx, &layout);
    struct store_truncate_result result;
    truncate_ok(fx, 0, &result);
    assert_int_equal(result.deleted.count, 3);
    assert_int_equal(result.deleted.listed, 3);
    assert_string_equal(result.deleted.names[2], "log.1");
    assert_false(result.cut);
    assert_int_equal(result.last_zxid_kept, -1);
    for (int f = 0; f < 3; f++) {
        assert_false(file_exists(fx, layout_names[f]));
    }
    check_after_truncation(fx, 0);
}

/* Beyond every file, and in a later epoch: nothing changes. */
static void test_truncate_beyond_every_file(void **state)
{
    struct fixture *fx = *state;
    struct layout layout;
    three_logs(fx, &layout);
    struct store_truncate_result result;
    truncate_ok(fx, zxid_of(0, 100), &result);
    assert_int_equal(result.deleted.count, 0);
    assert_false(result.cut);
    assert_int_equal(result.last_zxid_kept, ALL_RECORDS);
    truncate_ok(fx, zxid_of(3, 1), &result);
    assert_int_equal(result.deleted.count, 0);
    assert_false(result.cut);
    for (int f = 0; f < 3; f++) {
        assert_int_equal(size_of(fx, layout_names[f]), (off_t)layout.sizes[f]);
    }
    check_after_truncation(fx, ALL_RECORDS);
}

/* A zxid missing from the log (a gap in the name space: the file that
 * would hold it ends before it): the last kept record is below zxid. */
static void test_truncate_where_log_ends_before_zxid(void **state)
{
    struct fixture *fx = *state;
    struct store_tree *tree = tree_new();
    make_history(fx, tree, "old", 0, 1, 12);
    store_tree_destroy(tree);
    size_t size = write_log(fx, 1, 12, NULL);
    struct store_truncate_result result;
    truncate_ok(fx, 20, &result);
    assert_false(result.cut);
    assert_int_equal(result.deleted.count, 0);
    assert_int_equal(result.last_zxid_kept, 12);
    assert_int_equal(size_of(fx, "log.1"), (off_t)size);
    assert_log_holds(fx, 12);
}

/* The holding file keeps no record (its first record is above zxid, as
 * only a renamed file could be): last_zxid_kept comes from the file
 * before. */
static void test_last_kept_from_older_file(void **state)
{
    struct fixture *fx = *state;
    struct layout layout;
    three_logs(fx, &layout);
    /* log.b's records are 11..20; name a copy of it log.a (10). */
    char from[512], to[512];
    path_in(fx, "log.b", from, sizeof from);
    path_in(fx, "log.a", to, sizeof to);
    assert_int_equal(rename(from, to), 0);
    struct store_truncate_result result;
    truncate_ok(fx, 10, &result);
    assert_true(result.cut);
    assert_string_equal(result.cut_name, "log.a");
    assert_int_equal(result.cut_to_bytes, STORE_TXNLOG_FILE_HEADER_BYTES);
    assert_int_equal(result.last_zxid_kept, 10);
    assert_int_equal(result.deleted.count, 1);
    assert_log_holds(fx, 10);
}

/* No log file at all (a fresh follower told TRUNC 0). */
static void test_truncate_empty_dir(void **state)
{
    struct fixture *fx = *state;
    struct store_truncate_result result;
    truncate_ok(fx, 0, &result);
    assert_int_equal(result.deleted.count, 0);
    assert_false(result.cut);
    assert_int_equal(result.last_zxid_kept, -1);
    truncate_ok(fx, 5, &result);
    assert_int_equal(result.last_zxid_kept, -1);
}

/* A torn final record in the file being cut (a crash cut a write short)
 * goes with the records after zxid; a torn record before zxid in the last
 * file is cut too (it was never acknowledged). */
static void test_torn_tail_is_cut(void **state)
{
    struct fixture *fx = *state;
    struct store_tree *tree = tree_new();
    make_history(fx, tree, "old", 0, 1, 8);
    store_tree_destroy(tree);
    size_t ends[8];
    write_log(fx, 1, 8, ends);
    /* Tear record 8: zero its last 5 bytes (the end of the buffer and the
     * marker), as a write that stopped short leaves it. */
    char path[512];
    path_in(fx, "log.1", path, sizeof path);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    static const uint8_t zeros[5];
    assert_int_equal(pwrite(fd, zeros, sizeof zeros, (off_t)ends[7] - 5), 5);
    close(fd);
    struct store_truncate_result result;
    truncate_ok(fx, 20, &result);
    assert_true(result.cut);
    assert_int_equal(result.cut_to_bytes, ends[6]);
    assert_int_equal(result.last_zxid_kept, 7);
    assert_log_holds(fx, 7);
}

/* A corrupt record before the cut: an error naming the file, and nothing
 * changed (not even the later files deleted). */
static void test_corrupt_before_cut_changes_nothing(void **state)
{
    struct fixture *fx = *state;
    struct layout layout;
    three_logs(fx, &layout);
    char path[512];
    path_in(fx, "log.b", path, sizeof path);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    /* Flip a byte inside record 12's buffer: its checksum no longer matches
     * and records follow it. */
    uint8_t bad = 0xee;
    assert_int_equal(pwrite(fd, &bad, 1, (off_t)layout.ends[1][1] - 3), 1);
    close(fd);
    struct store_truncate_result result;
    char error[ERROR_BYTES];
    assert_int_equal(store_log_truncate(fx->dir, 15, &result, error, sizeof error), -1);
    assert_non_null(strstr(error, path));
    assert_non_null(strstr(error, "nothing was changed"));
    assert_true(file_exists(fx, "log.15"));
    assert_int_equal(size_of(fx, "log.b"), (off_t)layout.sizes[1]);
    assert_int_equal(result.deleted.count, 0);
    assert_false(result.cut);
}

static void test_missing_dir_is_an_error(void **state)
{
    struct fixture *fx = *state;
    char missing[128];
    snprintf(missing, sizeof missing, "%s/no-such-dir", fx->dir);
    struct store_truncate_result result;
    struct store_removed_files removed;
    char error[ERROR_BYTES];
    assert_int_equal(store_log_truncate(missing, 1, &result, error, sizeof error), -1);
    assert_non_null(strstr(error, missing));
    assert_non_null(strstr(error, "No such file"));
    assert_int_equal(store_snapshots_remove_after(missing, 1, &removed, error, sizeof error),
                     -1);
    assert_non_null(strstr(error, missing));
    assert_int_equal(store_logs_remove_all(missing, &removed, error, sizeof error), -1);
    assert_non_null(strstr(error, missing));
}

/* A log name that cannot be deleted (here a directory: unlink gives
 * EISDIR, even as root): the error names the file and the errno text, and
 * the file that holds zxid is not cut, so what is left is still a prefix
 * of the old history with the newer files deleted first. */
static void test_undeletable_file_is_an_error(void **state)
{
    struct fixture *fx = *state;
    struct layout layout;
    three_logs(fx, &layout);
    char blocker[512], inside[600];
    path_in(fx, "log.1f", blocker, sizeof blocker);
    assert_int_equal(mkdir(blocker, 0755), 0);
    snprintf(inside, sizeof inside, "%s/file", blocker);
    write_file(inside, "x", 1);
    struct store_truncate_result result;
    char error[ERROR_BYTES];
    int rc = store_log_truncate(fx->dir, 15, &result, error, sizeof error);
    assert_int_equal(unlink(inside), 0);
    assert_int_equal(rmdir(blocker), 0);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(error, blocker));
    assert_non_null(strstr(error, "cannot delete"));
    assert_non_null(strstr(error, strerror(EISDIR)));
    assert_true(file_exists(fx, "log.15")); /* older than the blocker: kept */
    assert_int_equal(size_of(fx, "log.b"), (off_t)layout.sizes[1]); /* not cut */
    assert_false(result.cut);
    /* Once the blocker is gone, running it again finishes the job. */
    truncate_ok(fx, 15, &result);
    assert_true(result.cut);
    check_after_truncation(fx, 15);
}

/* TRUNC with snapshots: snapshot.a (10) stays, snapshot.19 (25) holds
 * dropped transactions and goes; other files are left alone. Recovery then
 * loads snapshot.a and replays 11..15. */
static void test_trunc_with_snapshots(void **state)
{
    struct fixture *fx = *state;
    struct store_tree *tree = tree_new();
    make_history(fx, tree, "old", 0, 1, 10);
    write_snapshot(fx, tree, 10);
    make_history(fx, tree, "more", 0, 11, 15);
    write_snapshot(fx, tree, 25);
    store_tree_destroy(tree);
    write_log(fx, 1, 12, NULL);
    write_log(fx, 13, 25, NULL);
    char other[512];
    path_in(fx, "snapshot.30.tmp", other, sizeof other);
    write_file(other, "x", 1);
    struct store_removed_files removed;
    char error[ERROR_BYTES];
    assert_int_equal(store_snapshots_remove_after(fx->dir, 15, &removed, error, sizeof error), 0);
    assert_int_equal(removed.count, 1);
    assert_string_equal(removed.names[0], "snapshot.19");
    assert_true(file_exists(fx, "snapshot.a"));
    assert_true(file_exists(fx, "snapshot.30.tmp"));
    assert_true(file_exists(fx, "log.d"));
    struct store_truncate_result result;
    truncate_ok(fx, 15, &result);
    assert_string_equal(result.cut_name, "log.d");
    const int64_t range[] = {1, 15, 0};
    struct store_tree *expected = tree_of(fx, range);
    assert_recovers_to(fx, expected, 10, 15);
    /* Again: nothing more to remove. */
    assert_int_equal(store_snapshots_remove_after(fx->dir, 15, &removed, error, sizeof error), 0);
    assert_int_equal(removed.count, 0);
    /* The new leader's transactions follow. */
    make_history(fx, expected, "new", 2, 1, 4);
    write_log(fx, zxid_of(2, 1), zxid_of(2, 4), NULL);
    assert_recovers_to(fx, expected, 10, zxid_of(2, 4));
    store_tree_destroy(expected);
}

/* SNAP: the follower logged epoch-1 transactions 1:1..1:9 the leader never
 * had; the leader sends its snapshot at 1:5 (its own epoch-1 history, on the
 * same paths at other times). Without removing the follower's logs,
 * recovery would replay the stale 1:6..1:9 over the leader's snapshot.
 * After store_logs_remove_all the snapshot and the new log from 1:6
 * recover to exactly the leader's tree. */
static void mark_logged_only(struct fixture *fx, size_t from)
{
    /* Kept transactions are found by zxid; these are on disk only now, and
     * another history reuses their zxids. */
    for (size_t i = from; i < fx->txn_count; i++) {
        fx->txns[i].zxid = -1;
    }
}

static void test_snap_then_remove_all_logs(void **state)
{
    struct fixture *fx = *state;
    struct store_tree *follower = tree_new();
    make_history(fx, follower, "base", 0, 1, 6);
    write_snapshot(fx, follower, 6);
    size_t stale_from = fx->txn_count;
    make_history(fx, follower, "shared", 1, 1, 9);
    write_log(fx, 1, 6, NULL);
    write_log(fx, zxid_of(1, 1), zxid_of(1, 9), NULL);
    store_tree_destroy(follower);
    mark_logged_only(fx, stale_from);
    /* The leader's history: base 1..6, then its own 1:1..1:5. */
    const int64_t base[] = {1, 6, 0};
    struct store_tree *leader = tree_of(fx, base);
    size_t leader_from = fx->txn_count;
    make_history(fx, leader, "shared", 1, 1, 5);
    mark_logged_only(fx, leader_from);
    write_snapshot(fx, leader, zxid_of(1, 5));
    /* The hazard this guards against: with the stale log still there the
     * recovered tree is not the leader's. */
    {
        struct store_tree *tree = tree_new();
        struct store_recovery_result result;
        char error[ERROR_BYTES];
        assert_int_equal(recover(fx, tree, &result, error), 0);
        assert_int_equal(result.last_zxid, zxid_of(1, 9));
        struct jute_writer a, b;
        jute_writer_init(&a, SNAPSHOT_BYTES_MAX);
        jute_writer_init(&b, SNAPSHOT_BYTES_MAX);
        assert_true(store_snapshot_write(leader, NULL, 0, &a));
        assert_true(store_snapshot_write(tree, NULL, 0, &b));
        assert_false(a.size == b.size && memcmp(a.data, b.data, a.size) == 0);
        jute_writer_free(&a);
        jute_writer_free(&b);
        store_recovery_result_free(&result);
        store_tree_destroy(tree);
    }
    char other[512];
    path_in(fx, "acceptedEpoch", other, sizeof other);
    write_file(other, "1", 1);
    struct store_removed_files removed;
    char error[ERROR_BYTES];
    assert_int_equal(store_logs_remove_all(fx->dir, &removed, error, sizeof error), 0);
    assert_int_equal(removed.count, 2);
    assert_string_equal(removed.names[0], "log.100000001");
    assert_string_equal(removed.names[1], "log.1");
    assert_true(file_exists(fx, "snapshot.6"));
    assert_true(file_exists(fx, "snapshot.100000005"));
    assert_true(file_exists(fx, "acceptedEpoch"));
    assert_recovers_to(fx, leader, zxid_of(1, 5), zxid_of(1, 5));
    /* The log starts afresh at 1:6. */
    make_history(fx, leader, "after", 1, 6, 4);
    write_log(fx, zxid_of(1, 6), zxid_of(1, 9), NULL);
    assert_recovers_to(fx, leader, zxid_of(1, 5), zxid_of(1, 9));
    int64_t zxids[ZXIDS_READ_MAX];
    assert_int_equal(read_all_zxids(fx, zxids, ZXIDS_READ_MAX), 4);
    assert_int_equal(zxids[0], zxid_of(1, 6));
    /* Nothing left to remove is fine, and unparsable log.* names go too. */
    path_in(fx, "log.junk", other, sizeof other);
    write_file(other, "x", 1);
    assert_int_equal(store_logs_remove_all(fx->dir, &removed, error, sizeof error), 0);
    assert_int_equal(removed.count, 2);
    assert_string_equal(removed.names[1], "log.junk"); /* unparsed: oldest */
    assert_false(file_exists(fx, "log.junk"));
    assert_int_equal(store_logs_remove_all(fx->dir, &removed, error, sizeof error), 0);
    assert_int_equal(removed.count, 0);
    store_tree_destroy(leader);
}

/* More deletions than a result lists: the count goes on. */
static void test_many_files_listed_up_to_limit(void **state)
{
    struct fixture *fx = *state;
    struct store_tree *tree = tree_new();
    make_history(fx, tree, "old", 0, 1, 20);
    store_tree_destroy(tree);
    for (int64_t zxid = 1; zxid <= 20; zxid += 2) {
        write_log(fx, zxid, zxid + 1, NULL);
    }
    struct store_truncate_result result;
    truncate_ok(fx, 2, &result);
    assert_int_equal(result.deleted.count, 9);
    assert_int_equal(result.deleted.listed, STORE_TRUNCATE_NAMES_LISTED_MAX);
    assert_string_equal(result.deleted.names[0], "log.13");
    assert_false(result.cut);
    assert_int_equal(result.last_zxid_kept, 2);
    assert_log_holds(fx, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_truncate_at_last_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_middle_of_middle_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_middle_of_first_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_at_first_record_of_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_just_before_a_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_below_every_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_beyond_every_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_where_log_ends_before_zxid, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_last_kept_from_older_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_empty_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_is_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_before_cut_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_dir_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undeletable_file_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trunc_with_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snap_then_remove_all_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_files_listed_up_to_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
