/* The transaction log writer thread: files in ZooKeeper's format, group
 * commit, rolls, preallocation, and failures that are never published. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/log_writer.h"
#include "store/store.h"
#include "store/txnlog.h"

#define WAIT_MS_MAX 10000
#define RECORDS_MAX 2000
#define PREALLOC_BYTES (64 * 1024)

static _Atomic int wakes;

static void count_wake(void *context)
{
    (void)context;
    atomic_fetch_add(&wakes, 1);
}

static void sleep_ms(int ms)
{
    struct timespec pause = {.tv_sec = 0, .tv_nsec = (long)ms * 1000000L};
    nanosleep(&pause, NULL);
}

/* A real transaction (createSession: TxnHeader + CreateSessionTxn). */
static struct log_record *make_record(int64_t zxid)
{
    struct store_txn txn;
    store_txn_init(&txn, 1 << 20);
    int status = store_prepare_create_session(&txn, 0x100000000 + zxid, 30000, zxid, 1000 + zxid);
    assert_int_equal(status, ZK_OK);
    struct log_record *record = malloc(sizeof(*record) + txn.bytes.size);
    assert_non_null(record);
    record->zxid = zxid;
    record->roll_before = false;
    record->txn_bytes = (uint32_t)txn.bytes.size;
    memcpy(record->txn, txn.bytes.data, txn.bytes.size);
    store_txn_free(&txn);
    return record;
}

struct fixture {
    char dir[64];
    struct log_writer *writer;
    struct log_record *records[RECORDS_MAX];
    size_t record_count;
};

static void fixture_start(struct fixture *fixture, bool force_sync, const char *fault)
{
    memset(fixture, 0, sizeof(*fixture));
    snprintf(fixture->dir, sizeof(fixture->dir), "/tmp/cheetah-log-writer-XXXXXX");
    assert_non_null(mkdtemp(fixture->dir));
    struct log_writer_config config = {
        .log_dir = fixture->dir,
        .force_sync = force_sync,
        .prealloc_bytes = PREALLOC_BYTES,
        .jute_maxbuffer_bytes = 1 << 20,
        .wake = count_wake,
    };
    if (fault) {
        char error[256];
        assert_true(disk_fault_plan_parse(fault, &config.faults.plan, error, sizeof(error)));
        config.faults.active = true;
    }
    char error[512];
    fixture->writer = log_writer_create(&config, error, sizeof(error));
    assert_non_null(fixture->writer);
}

static void append(struct fixture *fixture, int64_t zxid, bool roll_before)
{
    assert_true(fixture->record_count < RECORDS_MAX);
    struct log_record *record = make_record(zxid);
    record->roll_before = roll_before;
    fixture->records[fixture->record_count++] = record;
    log_writer_append(fixture->writer, record);
}

static bool wait_durable(struct fixture *fixture, int64_t zxid)
{
    for (int waited = 0; waited < WAIT_MS_MAX; waited++) {
        if (log_writer_durable_zxid(fixture->writer) >= zxid) {
            return true;
        }
        if (log_writer_failed(fixture->writer, NULL, 0)) {
            return false;
        }
        sleep_ms(1);
    }
    return false;
}

static bool wait_failed(struct fixture *fixture)
{
    for (int waited = 0; waited < WAIT_MS_MAX; waited++) {
        if (log_writer_failed(fixture->writer, NULL, 0)) {
            return true;
        }
        sleep_ms(1);
    }
    return false;
}

static void fixture_stop(struct fixture *fixture)
{
    log_writer_destroy(fixture->writer);
    for (size_t index = 0; index < fixture->record_count; index++) {
        free(fixture->records[index]);
    }
    DIR *dir = opendir(fixture->dir);
    if (dir) {
        struct dirent *entry;
        char path[512];
        while ((entry = readdir(dir)) != NULL) {
            if (entry->d_name[0] != '.') {
                snprintf(path, sizeof(path), "%s/%s", fixture->dir, entry->d_name);
                unlink(path);
            }
        }
        closedir(dir);
    }
    rmdir(fixture->dir);
}

static uint8_t *read_whole(const char *dir, const char *name, size_t *size)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return NULL;
    }
    struct stat info;
    assert_int_equal(fstat(fd, &info), 0);
    uint8_t *data = malloc((size_t)info.st_size + 1);
    assert_non_null(data);
    ssize_t got = read(fd, data, (size_t)info.st_size);
    assert_int_equal(got, info.st_size);
    close(fd);
    *size = (size_t)info.st_size;
    return data;
}

/* Reads `name` and checks it holds exactly the records [first, last]. */
static void expect_log_file(struct fixture *fixture, const char *name, int64_t first, int64_t last)
{
    size_t size = 0;
    uint8_t *data = read_whole(fixture->dir, name, &size);
    assert_non_null(data);
    struct store_txnlog_reader reader;
    assert_int_equal(store_txnlog_reader_init(&reader, data, size, 1 << 20), STORE_TXNLOG_ENTRY);
    for (int64_t zxid = first; zxid <= last; zxid++) {
        struct store_txnlog_entry entry;
        assert_int_equal(store_txnlog_next(&reader, &entry), STORE_TXNLOG_ENTRY);
        assert_int_equal(entry.header.zxid, zxid);
        const struct log_record *record = fixture->records[zxid - 1];
        assert_int_equal(entry.txn.len, record->txn_bytes);
        assert_memory_equal(entry.txn.ptr, record->txn, record->txn_bytes);
    }
    struct store_txnlog_entry entry;
    assert_int_equal(store_txnlog_next(&reader, &entry), STORE_TXNLOG_END_CLEAN);
    /* Preallocated in preAllocSize steps after the 16-byte header, as
     * ZooKeeper's FilePadding (a first record makes 16 + preAllocSize). */
    assert_true(size >= (size_t)PREALLOC_BYTES);
    assert_int_equal(size % PREALLOC_BYTES, STORE_TXNLOG_FILE_HEADER_BYTES);
    free(data);
}

static void test_records_reach_the_file_in_zookeeper_format(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_start(&fixture, true, NULL);
    for (int64_t zxid = 1; zxid <= 500; zxid++) {
        append(&fixture, zxid, false);
    }
    assert_true(wait_durable(&fixture, 500));
    struct log_writer_stats stats;
    log_writer_stats_get(fixture.writer, &stats);
    /* Group commit: never more syncs than transactions, all counted. */
    assert_int_equal(stats.transactions, 500);
    assert_true(stats.batches >= 1 && stats.batches <= 500);
    assert_true(stats.batch_transactions_max >= 1);
    expect_log_file(&fixture, "log.1", 1, 500);
    fixture_stop(&fixture);
}

static void test_roll_starts_a_new_file_named_after_its_first_zxid(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_start(&fixture, true, NULL);
    for (int64_t zxid = 1; zxid <= 30; zxid++) {
        append(&fixture, zxid, zxid == 11 || zxid == 26);
    }
    assert_true(wait_durable(&fixture, 30));
    struct log_writer_stats stats;
    log_writer_stats_get(fixture.writer, &stats);
    assert_int_equal(stats.files, 3);
    expect_log_file(&fixture, "log.1", 1, 10);
    expect_log_file(&fixture, "log.b", 11, 25);
    expect_log_file(&fixture, "log.1a", 26, 30);
    fixture_stop(&fixture);
}

static void test_force_sync_no_still_writes(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_start(&fixture, false, NULL);
    for (int64_t zxid = 1; zxid <= 20; zxid++) {
        append(&fixture, zxid, false);
    }
    assert_true(wait_durable(&fixture, 20));
    expect_log_file(&fixture, "log.1", 1, 20);
    fixture_stop(&fixture);
}

/* A failed operation: durable never covers the failed batch. */
static void expect_failure_not_published(const char *fault, const char *words)
{
    struct fixture fixture;
    fixture_start(&fixture, true, fault);
    append(&fixture, 1, false);
    assert_true(wait_durable(&fixture, 1)); /* batch 1 is fine */
    append(&fixture, 2, false);
    append(&fixture, 3, false);
    assert_true(wait_failed(&fixture));
    assert_true(log_writer_durable_zxid(fixture.writer) < 2);
    char why[512];
    assert_true(log_writer_failed(fixture.writer, why, sizeof(why)));
    assert_non_null(strstr(why, words));
    assert_non_null(strstr(why, "log.1"));
    /* Later records are never published either. */
    append(&fixture, 4, false);
    sleep_ms(20);
    assert_true(log_writer_durable_zxid(fixture.writer) < 2);
    fixture_stop(&fixture);
}

static void test_failed_write_is_never_published(void **state)
{
    (void)state;
    expect_failure_not_published("write:2:eio", "Input/output error");
}

static void test_full_disk_write_is_never_published(void **state)
{
    (void)state;
    expect_failure_not_published("write:2:enospc", "No space left on device");
}

static void test_failed_fsync_is_never_published(void **state)
{
    (void)state;
    expect_failure_not_published("fsync:2:eio", "fdatasync");
}

static void test_fault_plan_parsing(void **state)
{
    (void)state;
    struct disk_fault_plan plan;
    char error[256];
    assert_true(disk_fault_plan_parse("write:3:tear:100", &plan, error, sizeof(error)));
    assert_int_equal(plan.op, DISK_FAULT_OP_WRITE);
    assert_int_equal(plan.nth, 3);
    assert_int_equal(plan.action, DISK_FAULT_TEAR);
    assert_int_equal(plan.tear_bytes, 100);
    assert_true(disk_fault_plan_parse("fsync:1:enospc", &plan, error, sizeof(error)));
    assert_int_equal(plan.action, DISK_FAULT_ENOSPC);
    assert_false(disk_fault_plan_parse("fsync:1:tear:5", &plan, error, sizeof(error)));
    assert_false(disk_fault_plan_parse("write:0:eio", &plan, error, sizeof(error)));
    assert_false(disk_fault_plan_parse("read:1:eio", &plan, error, sizeof(error)));
    assert_non_null(strstr(error, "unknown operation"));
    assert_false(disk_fault_plan_parse("write:1", &plan, error, sizeof(error)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records_reach_the_file_in_zookeeper_format),
        cmocka_unit_test(test_roll_starts_a_new_file_named_after_its_first_zxid),
        cmocka_unit_test(test_force_sync_no_still_writes),
        cmocka_unit_test(test_failed_write_is_never_published),
        cmocka_unit_test(test_full_disk_write_is_never_published),
        cmocka_unit_test(test_failed_fsync_is_never_published),
        cmocka_unit_test(test_fault_plan_parsing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
