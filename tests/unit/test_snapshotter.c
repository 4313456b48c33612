/* The snapshot thread (dataplane/snapshotter.c) on real files in a mkdtemp
 * directory: a requested job becomes snapshot.<hex zxid> with exactly the
 * bytes store_snapshot_write gives, no .tmp is left; a second request while
 * one runs is refused; a directory that cannot be written reports where and
 * why and leaves nothing; the purge at start deletes what PurgeTxnLog
 * would; destroy never leaves a .tmp behind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/snapshotter.h"
#include "jute/records.h"
#include "store/snapshot.h"
#include "store/store.h"

#define SESSION 0x100000001ll
#define WAIT_MS 10000
#define NODES 200
#define BIG_NODES 12
#define BIG_DATA_BYTES 900000
#define FILE_BYTES_MAX (64u << 20)

static const struct jute_acl open_acl_items[] = {
    {ZK_PERM_ALL, {{(const uint8_t *)"world", 5}, {(const uint8_t *)"anyone", 6}}}};
static const struct jute_acl_vector open_acl = {1, (struct jute_acl *)open_acl_items};
static const struct store_auth super_auth = {.is_super = true, .id_count = 0};
static const struct store_snapshot_session sessions[] = {{SESSION, 30000}};

struct fixture {
    char dir[64];
    char snap_dir[128];
    struct store_tree *tree;
    int64_t zxid;
    /* what the callbacks saw (the thread writes, the test reads after a
     * synchronising wait) */
    pthread_mutex_t mutex;
    int done_count;
    int64_t done_zxid;
    bool done_ok;
    char done_message[9000];
    int purged_count;
    char purged[16][600];
    /* test_busy holds the first job's callback until it has tried again */
    _Atomic bool hold_callback;
    _Atomic bool in_callback;
    _Atomic bool release_callback;
};

static void create_node(struct fixture *fx, const char *path, struct jute_bytes data)
{
    struct jute_writer body;
    jute_writer_init(&body, 4u << 20);
    struct jute_create_request request = {jute_bytes_cstr(path), data, open_acl,
                                          ZK_CREATE_PERSISTENT};
    jute_create_request_encode(&body, &request);
    struct store_prepare_input input = {
        .session_id = SESSION,
        .cxid = 1,
        .opcode = ZK_OP_CREATE,
        .body = jute_bytes_of(body.data, (int32_t)body.size),
        .auth = &super_auth,
        .zxid = fx->zxid + 1,
        .now_ms = 1700000000000 + fx->zxid,
    };
    struct store_txn txn;
    store_txn_init(&txn, JUTE_MAXBUFFER_DEFAULT_BYTES + 4096);
    assert_int_equal(store_prepare(fx->tree, &input, &txn), ZK_OK);
    fx->zxid++;
    struct store_change_list changes;
    struct store_apply_result result;
    store_change_list_init(&changes);
    store_apply_result_init(&result);
    assert_int_equal(store_apply(fx->tree, jute_bytes_of(txn.bytes.data, (int32_t)txn.bytes.size),
                                 &changes, &result),
                     ZK_OK);
    assert_int_equal(result.err, ZK_OK);
    store_change_list_free(&changes);
    store_apply_result_free(&result);
    store_txn_free(&txn);
    jute_writer_free(&body);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/cheetah-snapshotter-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->snap_dir, sizeof fx->snap_dir, "%s/version-2", fx->dir);
    assert_int_equal(mkdir(fx->snap_dir, 0755), 0);
    struct store_config config = {
        .jute_maxbuffer_bytes = JUTE_MAXBUFFER_DEFAULT_BYTES,
        .config_node_text = "",
    };
    fx->tree = store_tree_create(&config);
    pthread_mutex_init(&fx->mutex, NULL);
    uint8_t *big = malloc(BIG_DATA_BYTES);
    memset(big, 'b', BIG_DATA_BYTES);
    for (int i = 0; i < NODES; i++) {
        char path[32];
        snprintf(path, sizeof path, "/node%d", i);
        create_node(fx, path, jute_bytes_cstr("some data"));
    }
    for (int i = 0; i < BIG_NODES; i++) {
        char path[32];
        snprintf(path, sizeof path, "/big%d", i);
        create_node(fx, path, jute_bytes_of(big, BIG_DATA_BYTES));
    }
    free(big);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    DIR *dir = opendir(fx->snap_dir);
    if (dir) {
        struct dirent *entry;
        while ((entry = readdir(dir)) != NULL) {
            if (entry->d_name[0] != '.') {
                char path[512];
                snprintf(path, sizeof path, "%s/%s", fx->snap_dir, entry->d_name);
                unlink(path);
            }
        }
        closedir(dir);
    }
    rmdir(fx->snap_dir);
    rmdir(fx->dir);
    store_tree_destroy(fx->tree);
    pthread_mutex_destroy(&fx->mutex);
    free(fx);
    return 0;
}

static void on_done(void *context, int64_t zxid, bool ok, const char *message)
{
    struct fixture *fx = context;
    if (atomic_load(&fx->hold_callback)) {
        atomic_store(&fx->in_callback, true);
        for (int i = 0; i < WAIT_MS && !atomic_load(&fx->release_callback); i++) {
            usleep(1000);
        }
    }
    pthread_mutex_lock(&fx->mutex);
    fx->done_count++;
    fx->done_zxid = zxid;
    fx->done_ok = ok;
    snprintf(fx->done_message, sizeof fx->done_message, "%s", message);
    pthread_mutex_unlock(&fx->mutex);
}

static void on_purged(void *context, const char *path, bool ok, const char *message)
{
    struct fixture *fx = context;
    (void)message;
    pthread_mutex_lock(&fx->mutex);
    if (ok && path && fx->purged_count < 16) {
        snprintf(fx->purged[fx->purged_count++], sizeof fx->purged[0], "%s", path);
    }
    pthread_mutex_unlock(&fx->mutex);
}

static struct snapshotter *start(struct fixture *fx, const char *snap_dir, int32_t interval)
{
    struct snapshotter_config config = {
        .tree = fx->tree,
        .snap_dir = snap_dir,
        .log_dir = snap_dir,
        .purge_retain_count = 3,
        .purge_interval_hours = interval,
        .done = on_done,
        .done_context = fx,
        .purged = on_purged,
        .purged_context = fx,
    };
    char error[256];
    struct snapshotter *snapshotter = snapshotter_create(&config, error, sizeof error);
    if (!snapshotter) {
        fail_msg("snapshotter_create: %s", error);
    }
    return snapshotter;
}

static bool file_exists(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static size_t count_tmp_files(const char *dir_path)
{
    DIR *dir = opendir(dir_path);
    assert_non_null(dir);
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        size_t len = strlen(entry->d_name);
        count += len > 4 && strcmp(entry->d_name + len - 4, ".tmp") == 0;
    }
    closedir(dir);
    return count;
}

static uint8_t *read_whole(const char *path, size_t *size_out)
{
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    uint8_t *data = malloc(FILE_BYTES_MAX);
    *size_out = fread(data, 1, FILE_BYTES_MAX, file);
    fclose(file);
    return data;
}

static void test_writes_the_snapshot(void **state)
{
    struct fixture *fx = *state;
    struct snapshotter *snapshotter = start(fx, fx->snap_dir, 0);
    assert_false(snapshotter_busy(snapshotter));
    struct store_snapshot_job *job = store_snapshot_job_begin(fx->tree, fx->zxid, sessions, 1);
    assert_non_null(job);
    assert_true(snapshotter_request(snapshotter, job));
    assert_true(snapshotter_wait_idle(snapshotter, WAIT_MS));
    assert_false(snapshotter_busy(snapshotter));
    assert_int_equal(fx->done_count, 1);
    assert_true(fx->done_ok);
    assert_int_equal(fx->done_zxid, fx->zxid);

    char name[STORE_SNAPSHOT_NAME_BYTES];
    store_snapshot_name(fx->zxid, name, sizeof name);
    assert_true(file_exists(fx->snap_dir, name));
    assert_int_equal(count_tmp_files(fx->snap_dir), 0);
    assert_non_null(strstr(fx->done_message, name));

    /* the file is the tree's snapshot, byte for byte (it did not change) */
    char path[512];
    snprintf(path, sizeof path, "%s/%s", fx->snap_dir, name);
    size_t size;
    uint8_t *data = read_whole(path, &size);
    struct jute_writer expected;
    jute_writer_init(&expected, FILE_BYTES_MAX);
    assert_true(store_snapshot_write(fx->tree, sessions, 1, &expected));
    assert_true(size > (size_t)BIG_NODES * BIG_DATA_BYTES); /* several chunks */
    assert_int_equal(size, expected.size);
    assert_memory_equal(data, expected.data, size);
    struct store_snapshot_error error = {0};
    struct store_snapshot_visitor visitor = {0};
    assert_true(store_snapshot_parse(data, size, &visitor, &error));
    free(data);
    jute_writer_free(&expected);
    snapshotter_destroy(snapshotter);
}

static void test_busy_refuses_a_second_job(void **state)
{
    struct fixture *fx = *state;
    struct snapshotter *snapshotter = start(fx, fx->snap_dir, 0);
    atomic_store(&fx->hold_callback, true);
    struct store_snapshot_job *first = store_snapshot_job_begin(fx->tree, fx->zxid, sessions, 1);
    assert_true(snapshotter_request(snapshotter, first));
    assert_true(snapshotter_busy(snapshotter));
    /* the first job is running (its callback is held): refused */
    for (int i = 0; i < WAIT_MS && !atomic_load(&fx->in_callback); i++) {
        usleep(1000);
    }
    assert_true(atomic_load(&fx->in_callback));
    struct store_snapshot_job *second =
        store_snapshot_job_begin(fx->tree, fx->zxid + 1, sessions, 1);
    assert_true(snapshotter_busy(snapshotter));
    assert_false(snapshotter_request(snapshotter, second));
    assert_false(snapshotter_wait_idle(snapshotter, 10));
    atomic_store(&fx->release_callback, true);
    assert_true(snapshotter_wait_idle(snapshotter, WAIT_MS));
    /* idle again: a request is taken */
    atomic_store(&fx->hold_callback, false);
    assert_true(snapshotter_request(snapshotter, second));
    assert_true(snapshotter_wait_idle(snapshotter, WAIT_MS));
    assert_int_equal(fx->done_count, 2);
    assert_int_equal(fx->done_zxid, fx->zxid + 1);
    snapshotter_destroy(snapshotter);
}

static void test_failure_reports_where(void **state)
{
    struct fixture *fx = *state;
    char missing[256];
    snprintf(missing, sizeof missing, "%s/no-such-dir", fx->dir);
    struct snapshotter *snapshotter = start(fx, missing, 0);
    struct store_snapshot_job *job = store_snapshot_job_begin(fx->tree, 0x1f, sessions, 1);
    assert_true(snapshotter_request(snapshotter, job));
    assert_true(snapshotter_wait_idle(snapshotter, WAIT_MS));
    assert_int_equal(fx->done_count, 1);
    assert_false(fx->done_ok);
    assert_int_equal(fx->done_zxid, 0x1f);
    assert_non_null(strstr(fx->done_message, "no-such-dir/snapshot.1f.tmp"));
    assert_non_null(strstr(fx->done_message, "No such file or directory"));
    snapshotter_destroy(snapshotter);
}

static void write_file(const char *dir, const char *name, const void *bytes, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, size), (ssize_t)size);
    close(fd);
}

static void test_purge_at_start(void **state)
{
    struct fixture *fx = *state;
    static const uint8_t valid[] = {'Z', 'K', 'S', 'N', 0, 0, 0, 2, 0, 0, 0, 1, '/'};
    write_file(fx->snap_dir, "snapshot.10", valid, sizeof valid);
    write_file(fx->snap_dir, "snapshot.20", valid, sizeof valid);
    write_file(fx->snap_dir, "snapshot.30", valid, sizeof valid);
    write_file(fx->snap_dir, "snapshot.40", valid, sizeof valid);
    write_file(fx->snap_dir, "log.5", "x", 1);
    write_file(fx->snap_dir, "log.15", "x", 1);
    write_file(fx->snap_dir, "log.25", "x", 1);
    write_file(fx->snap_dir, "acceptedEpoch", "0", 1);
    struct snapshotter *snapshotter = start(fx, fx->snap_dir, 1);
    /* the first purge runs at start (bounded wait for it) */
    int purged = 0;
    for (int i = 0; i < WAIT_MS && purged < 2; i++) {
        usleep(1000);
        pthread_mutex_lock(&fx->mutex);
        purged = fx->purged_count;
        pthread_mutex_unlock(&fx->mutex);
    }
    assert_int_equal(purged, 2);
    assert_false(file_exists(fx->snap_dir, "log.5"));
    assert_false(file_exists(fx->snap_dir, "snapshot.10"));
    assert_true(file_exists(fx->snap_dir, "log.15"));
    assert_true(file_exists(fx->snap_dir, "log.25"));
    assert_true(file_exists(fx->snap_dir, "snapshot.20"));
    assert_true(file_exists(fx->snap_dir, "snapshot.30"));
    assert_true(file_exists(fx->snap_dir, "snapshot.40"));
    assert_true(file_exists(fx->snap_dir, "acceptedEpoch"));
    pthread_mutex_lock(&fx->mutex);
    assert_non_null(strstr(fx->purged[0], "log.5"));
    assert_non_null(strstr(fx->purged[1], "snapshot.10"));
    pthread_mutex_unlock(&fx->mutex);
    snapshotter_destroy(snapshotter);
}

static void test_destroy_leaves_no_tmp(void **state)
{
    struct fixture *fx = *state;
    struct snapshotter *snapshotter = start(fx, fx->snap_dir, 0);
    struct store_snapshot_job *job = store_snapshot_job_begin(fx->tree, fx->zxid, sessions, 1);
    assert_true(snapshotter_request(snapshotter, job));
    /* finished or abandoned, either way nothing half-written remains */
    snapshotter_destroy(snapshotter);
    assert_int_equal(count_tmp_files(fx->snap_dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_writes_the_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_refuses_a_second_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_reports_where, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_at_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_leaves_no_tmp, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
