/* Autopurge's rule (store/purge.c, PurgeTxnLog.purge): which snapshots and
 * logs go, on sets of names, and on real directories (the snapshot tail
 * check, files with other names untouched). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/purge.h"

#define NAMES_MAX 32

/* Makes the plan and checks it deletes exactly `expected` (NULL-ended,
 * "<dir>/<name>"), in any order. */
static void assert_plan(const char *const *snapshots, const char *const *logs,
                        int32_t retain_count, const char *const *expected)
{
    size_t snapshot_count = 0, log_count = 0, expected_count = 0;
    while (snapshots[snapshot_count]) {
        snapshot_count++;
    }
    while (logs[log_count]) {
        log_count++;
    }
    while (expected[expected_count]) {
        expected_count++;
    }
    struct store_purge_plan plan;
    assert_true(store_purge_plan_from_names("S", snapshots, NULL, snapshot_count, "L", logs,
                                            log_count, retain_count, &plan));
    for (size_t i = 0; i < plan.delete_count; i++) {
        bool found = false;
        for (size_t j = 0; j < expected_count && !found; j++) {
            found = strcmp(plan.delete_paths[i], expected[j]) == 0;
        }
        if (!found) {
            fail_msg("the plan deletes %s, which it should keep", plan.delete_paths[i]);
        }
    }
    for (size_t j = 0; j < expected_count; j++) {
        bool found = false;
        for (size_t i = 0; i < plan.delete_count && !found; i++) {
            found = strcmp(plan.delete_paths[i], expected[j]) == 0;
        }
        if (!found) {
            fail_msg("the plan keeps %s, which it should delete", expected[j]);
        }
    }
    assert_int_equal(plan.delete_count, expected_count);
    store_purge_plan_free(&plan);
}

static void test_zxid_from_name(void **state)
{
    (void)state;
    assert_int_equal(store_purge_zxid_from_name("snapshot.1f", "snapshot"), 0x1f);
    assert_int_equal(store_purge_zxid_from_name("log.100000001", "log"), 0x100000001ll);
    assert_int_equal(store_purge_zxid_from_name("snapshot.1F", "snapshot"), 0x1f);
    assert_int_equal(store_purge_zxid_from_name("snapshot.1f.tmp", "snapshot"), -1);
    assert_int_equal(store_purge_zxid_from_name("snapshot.", "snapshot"), -1);
    assert_int_equal(store_purge_zxid_from_name("snapshot.xyz", "snapshot"), -1);
    assert_int_equal(store_purge_zxid_from_name("snapshots.1", "snapshot"), -1);
    assert_int_equal(store_purge_zxid_from_name("log.1", "snapshot"), -1);
    assert_int_equal(store_purge_zxid_from_name("snapshot.ffffffffffffffff", "snapshot"), -1);
}

static void test_keeps_the_newest_and_the_logs_they_need(void **state)
{
    (void)state;
    /* five snapshots, retain 3: the oldest kept is 0x300; the logs from the
     * newest one starting at or before 0x300 (log.250) on are needed */
    const char *snapshots[] = {"snapshot.100", "snapshot.200", "snapshot.300", "snapshot.400",
                               "snapshot.500", NULL};
    const char *logs[] = {"log.1", "log.150", "log.250", "log.350", "log.450", NULL};
    const char *expected[] = {"S/snapshot.100", "S/snapshot.200", "L/log.1", "L/log.150", NULL};
    assert_plan(snapshots, logs, 3, expected);
    /* retain 1: only 0x500 kept; log.450 holds 0x500's successors */
    const char *expected_one[] = {"S/snapshot.100", "S/snapshot.200", "S/snapshot.300",
                                  "S/snapshot.400", "L/log.1",        "L/log.150",
                                  "L/log.250",      "L/log.350",      NULL};
    assert_plan(snapshots, logs, 1, expected_one);
}

static void test_log_starting_at_the_snapshot_zxid(void **state)
{
    (void)state;
    /* a log named with the snapshot's own zxid is the one needed; the one
     * before it goes */
    const char *snapshots[] = {"snapshot.10", "snapshot.20", NULL};
    const char *logs[] = {"log.1", "log.10", "log.11", "log.20", NULL};
    const char *expected[] = {"L/log.1", NULL};
    assert_plan(snapshots, logs, 2, expected);
    const char *expected_one[] = {"S/snapshot.10", "L/log.1", "L/log.10", "L/log.11", NULL};
    assert_plan(snapshots, logs, 1, expected_one);
}

static void test_fewer_snapshots_than_retained(void **state)
{
    (void)state;
    /* two snapshots, retain 3: both kept, but logs before the older one's
     * needed log still go (PurgeTxnLog purges with what it found) */
    const char *snapshots[] = {"snapshot.200", "snapshot.300", NULL};
    const char *logs[] = {"log.1", "log.150", "log.250", NULL};
    const char *expected[] = {"L/log.1", NULL};
    assert_plan(snapshots, logs, 3, expected);
    /* no snapshot at all: nothing is deleted, logs included */
    const char *none[] = {NULL};
    const char *nothing[] = {NULL};
    assert_plan(none, logs, 3, nothing);
    /* only unparseable snapshot names: none valid, nothing deleted */
    const char *junk[] = {"snapshot.zz", "snapshot.1.tmp", NULL};
    assert_plan(junk, logs, 3, nothing);
}

static void test_unparseable_and_unrelated_names(void **state)
{
    (void)state;
    const char *snapshots[] = {"snapshot.100", "snapshot.200", "snapshot.300",
                               "snapshot.400", "snapshot.50.tmp", "snapshot.zz",
                               "snapshotx.1",  "acceptedEpoch",   "currentEpoch",
                               NULL};
    const char *logs[] = {"log.90", "log.350", "log.junk", "logs.1", "myid", NULL};
    /* retain 3: oldest kept 0x200; no log <= 0x200 but log.90 (the cut), so
     * log.90 stays; names with the prefix that do not parse go; names
     * without "snapshot." / "log." stay */
    const char *expected[] = {"S/snapshot.100", "S/snapshot.50.tmp", "S/snapshot.zz",
                              "L/log.junk", NULL};
    assert_plan(snapshots, logs, 3, expected);
}

static void test_invalid_snapshot_content_not_counted(void **state)
{
    (void)state;
    /* the newest snapshot is invalid (a crash mid-write): the three newest
     * valid ones are 0x300, 0x200, 0x100 */
    const char *snapshots[] = {"snapshot.100", "snapshot.200", "snapshot.300", "snapshot.400",
                               "snapshot.50"};
    const bool valid[] = {true, true, true, false, true};
    const char *logs[] = {"log.1", "log.60", "log.120"};
    struct store_purge_plan plan;
    assert_true(store_purge_plan_from_names("S", snapshots, valid, 5, "L", logs, 3, 3, &plan));
    /* least = 0x100: log.60 is the cut; log.1 and snapshot.50 go */
    assert_int_equal(plan.delete_count, 2);
    assert_string_equal(plan.delete_paths[0], "L/log.1");
    assert_string_equal(plan.delete_paths[1], "S/snapshot.50");
    store_purge_plan_free(&plan);
}

/* ---- on real directories ------------------------------------------------- */

static void write_file(const char *dir, const char *name, const void *bytes, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, size), (ssize_t)size);
    close(fd);
}

static void test_directories(void **state)
{
    (void)state;
    char snap_dir[] = "/tmp/cheetah-purge-snap-XXXXXX";
    char log_dir[] = "/tmp/cheetah-purge-log-XXXXXX";
    assert_non_null(mkdtemp(snap_dir));
    assert_non_null(mkdtemp(log_dir));
    /* a valid snapshot ends in int 1, '/' */
    static const uint8_t valid[] = {'Z', 'K', 'S', 'N', 0, 0, 0, 2, 0, 0, 0, 1, '/'};
    static const uint8_t truncated[] = {'Z', 'K', 'S', 'N', 0, 0, 0, 2, 0, 0, 0};
    write_file(snap_dir, "snapshot.10", valid, sizeof valid);
    write_file(snap_dir, "snapshot.20", valid, sizeof valid);
    write_file(snap_dir, "snapshot.30", valid, sizeof valid);
    write_file(snap_dir, "snapshot.40", valid, sizeof valid);
    write_file(snap_dir, "snapshot.50", truncated, sizeof truncated);
    write_file(snap_dir, "notes.txt", "x", 1);
    write_file(log_dir, "log.1", "x", 1);
    write_file(log_dir, "log.15", "x", 1);
    write_file(log_dir, "log.25", "x", 1);
    write_file(log_dir, "log.45", "x", 1);

    struct store_purge_plan plan;
    char error[256];
    assert_true(store_purge_plan_make(snap_dir, log_dir, 3, &plan, error, sizeof error));
    /* kept: 0x40, 0x30, 0x20 (0x50 is invalid, and newer: kept as well);
     * the log cut is log.15 */
    char want_log[600], want_snap[600];
    snprintf(want_log, sizeof want_log, "%s/log.1", log_dir);
    snprintf(want_snap, sizeof want_snap, "%s/snapshot.10", snap_dir);
    assert_int_equal(plan.delete_count, 2);
    assert_string_equal(plan.delete_paths[0], want_log);
    assert_string_equal(plan.delete_paths[1], want_snap);
    store_purge_plan_free(&plan);

    assert_false(store_purge_plan_make("/nonexistent/cheetah", log_dir, 3, &plan, error,
                                       sizeof error));
    assert_non_null(strstr(error, "/nonexistent/cheetah"));

    const char *snap_names[] = {"snapshot.10", "snapshot.20", "snapshot.30",
                                "snapshot.40", "snapshot.50", "notes.txt"};
    for (size_t i = 0; i < sizeof snap_names / sizeof snap_names[0]; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", snap_dir, snap_names[i]);
        unlink(path);
    }
    const char *log_names[] = {"log.1", "log.15", "log.25", "log.45"};
    for (size_t i = 0; i < sizeof log_names / sizeof log_names[0]; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", log_dir, log_names[i]);
        unlink(path);
    }
    assert_int_equal(rmdir(snap_dir), 0);
    assert_int_equal(rmdir(log_dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zxid_from_name),
        cmocka_unit_test(test_keeps_the_newest_and_the_logs_they_need),
        cmocka_unit_test(test_log_starting_at_the_snapshot_zxid),
        cmocka_unit_test(test_fewer_snapshots_than_retained),
        cmocka_unit_test(test_unparseable_and_unrelated_names),
        cmocka_unit_test(test_invalid_snapshot_content_not_counted),
        cmocka_unit_test(test_directories),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
