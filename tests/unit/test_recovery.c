/* Crash recovery (store/recovery.c) and the epoch files (store/epoch.c).
 * Data dirs are built with the store's own writers: transactions made by
 * store_prepare and applied to a reference tree, logged with
 * store_txnlog_append, snapshots written with store_snapshot_write. A
 * recovered tree must equal the reference byte for byte (both serialized
 * with store_snapshot_write). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jute/records.h"
#include "store/epoch.h"
#include "store/recovery.h"
#include "store/snapshot.h"
#include "store/store.h"
#include "store/txnlog.h"
#include "store_test_writes.h"

#define SESSION_A 0x100000001ll
#define SESSION_B 0x200000002ll
#define SESSION_GHOST 0x300000003ll
#define TXNS_MAX 256
#define SNAPSHOT_BYTES_MAX (16u << 20)
#define LOG_BYTES_MAX (16u << 20)
#define LOG_LINES_BYTES 65536
/* Zeros after the last entry, as FilePadding's preallocation leaves. */
#define LOG_PADDING_BYTES 512


struct fixture {
    char dir[64];
    struct store_tree *tree; /* the reference: every txn applied */
    int64_t zxid;            /* last zxid made */
    int64_t now_ms;
    struct store_txn txn;
    struct store_apply_result result;
    struct jute_writer body;
    uint8_t *txns[TXNS_MAX + 1]; /* by zxid (low 32 bits for epoch 0) */
    size_t txn_bytes[TXNS_MAX + 1];
    char log_lines[LOG_LINES_BYTES];
};

static struct store_tree *tree_new(void)
{
    struct store_tree *tree = store_test_tree_new();
    assert_non_null(tree);
    return tree;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/cheetah-recovery-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->tree = tree_new();
    fx->now_ms = 1700000000000;
    store_txn_init(&fx->txn, JUTE_MAXBUFFER_DEFAULT_BYTES + 4096);
    store_apply_result_init(&fx->result);
    jute_writer_init(&fx->body, 1u << 20);
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
    for (int i = 0; i <= TXNS_MAX; i++) {
        free(fx->txns[i]);
    }
    store_txn_free(&fx->txn);
    store_apply_result_free(&fx->result);
    jute_writer_free(&fx->body);
    store_tree_destroy(fx->tree);
    free(fx);
    return 0;
}

/* Applies fx->txn (zxid fx->zxid) to the reference tree and keeps its bytes. */
static void apply_and_keep(struct fixture *fx)
{
    assert_int_equal(store_apply(fx->tree,
                                 jute_bytes_of(fx->txn.bytes.data, (int32_t)fx->txn.bytes.size),
                                 NULL, &fx->result),
                     ZK_OK);
    int index = (int)(fx->zxid & 0xffffffff);
    assert_true(index <= TXNS_MAX);
    free(fx->txns[index]);
    fx->txns[index] = malloc(fx->txn.bytes.size);
    memcpy(fx->txns[index], fx->txn.bytes.data, fx->txn.bytes.size);
    fx->txn_bytes[index] = fx->txn.bytes.size;
}

static void write_op(struct fixture *fx, int64_t session, int32_t opcode)
{
    assert_int_equal(store_test_prepare(fx->tree, &fx->txn, &fx->body, session, 7, opcode,
                                        fx->zxid + 1, fx->now_ms),
                     ZK_OK);
    fx->zxid++;
    fx->now_ms += 17;
    apply_and_keep(fx);
    assert_int_equal(fx->result.err, ZK_OK);
}

static void create(struct fixture *fx, int64_t session, const char *path, const char *data,
                   int32_t flags)
{
    store_test_encode_create(&fx->body, path, jute_bytes_cstr(data), &store_test_open_acl, flags);
    write_op(fx, session, ZK_OP_CREATE);
}

static void set_data(struct fixture *fx, const char *path, const char *data)
{
    store_test_encode_set_data(&fx->body, path, jute_bytes_cstr(data));
    write_op(fx, SESSION_A, ZK_OP_SET_DATA);
}

static void delete_node(struct fixture *fx, const char *path)
{
    store_test_encode_delete(&fx->body, path);
    write_op(fx, SESSION_A, ZK_OP_DELETE);
}

static void create_session(struct fixture *fx, int64_t session, int32_t timeout_ms)
{
    fx->zxid++;
    assert_int_equal(store_prepare_create_session(&fx->txn, session, timeout_ms, fx->zxid,
                                                  fx->now_ms),
                     ZK_OK);
    apply_and_keep(fx);
}

static void close_session(struct fixture *fx, int64_t session)
{
    fx->zxid++;
    assert_int_equal(store_prepare_close_session(fx->tree, &fx->txn, session, 9, fx->zxid,
                                                 fx->now_ms),
                     ZK_OK);
    apply_and_keep(fx);
}

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

static size_t read_whole(const char *path, uint8_t *out, size_t out_bytes)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t got = read(fd, out, out_bytes);
    assert_true(got >= 0);
    close(fd);
    return (size_t)got;
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* Logs the kept txns first..last (low 32 bits; `epoch` on top) into
 * log.<first zxid>, skipping `skip` (0: none). Returns the entry offsets in
 * offsets[] (when not NULL; one past the last entry at [count]). */
static void write_log_range(struct fixture *fx, uint32_t epoch, int first, int last, int skip,
                            size_t *offsets, char *path_out, size_t path_bytes)
{
    struct jute_writer log;
    jute_writer_init(&log, LOG_BYTES_MAX);
    store_txnlog_write_header(&log, 0);
    size_t n = 0;
    for (int i = first; i <= last; i++) {
        if (i == skip) {
            continue;
        }
        assert_non_null(fx->txns[i]);
        if (offsets) {
            offsets[n++] = log.size;
        }
        store_txnlog_append(&log, jute_bytes_of(fx->txns[i], (int32_t)fx->txn_bytes[i]));
    }
    if (offsets) {
        offsets[n] = log.size;
    }
    static const uint8_t zeros[LOG_PADDING_BYTES];
    jute_write_raw(&log, zeros, sizeof zeros);
    assert_true(log.ok);
    char name[STORE_TXNLOG_NAME_BYTES_MAX];
    assert_true(store_txnlog_name(name, sizeof name, ((int64_t)epoch << 32) | first) > 0);
    char path[512];
    path_in(fx, name, path, sizeof path);
    write_file(path, log.data, log.size);
    if (path_out) {
        snprintf(path_out, path_bytes, "%s", path);
    }
    jute_writer_free(&log);
}

static void write_log(struct fixture *fx, int first, int last)
{
    write_log_range(fx, 0, first, last, 0, NULL, NULL, 0);
}

/* The reference tree's snapshot, named after `zxid`. */
static void write_snapshot(struct fixture *fx, int64_t zxid,
                           const struct store_snapshot_session *sessions, size_t session_count)
{
    struct jute_writer out;
    jute_writer_init(&out, SNAPSHOT_BYTES_MAX);
    assert_true(store_snapshot_write(fx->tree, sessions, session_count, &out));
    char name[STORE_SNAPSHOT_NAME_BYTES];
    store_snapshot_name(zxid, name, sizeof name);
    char path[512];
    path_in(fx, name, path, sizeof path);
    write_file(path, out.data, out.size);
    jute_writer_free(&out);
}

static void collect_line(void *context, const char *line)
{
    struct fixture *fx = context;
    size_t used = strlen(fx->log_lines);
    snprintf(fx->log_lines + used, sizeof fx->log_lines - used, "%s\n", line);
}

static int recover(struct fixture *fx, struct store_tree *tree,
                   struct store_recovery_result *result, char *error, size_t error_bytes)
{
    fx->log_lines[0] = '\0';
    struct store_recovery_options options = {
        .snap_dir = fx->dir,
        .log_dir = fx->dir,
        .jute_maxbuffer_bytes = JUTE_MAXBUFFER_DEFAULT_BYTES,
        .log = collect_line,
        .log_context = fx,
    };
    error[0] = '\0';
    return store_recover(tree, &options, result, error, error_bytes);
}

/* Both trees serialize to the same bytes (sessions left out). */
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

static bool exists(struct store_tree *tree, const char *path)
{
    struct store_node_view view;
    int64_t visible;
    return store_lookup(tree, jute_bytes_cstr(path), &view, &visible, NULL) == ZK_OK;
}

static struct store_node_view view_of(struct store_tree *tree, const char *path)
{
    struct store_node_view view;
    int64_t visible;
    assert_int_equal(store_lookup(tree, jute_bytes_cstr(path), &view, &visible, NULL), ZK_OK);
    return view;
}

/* A recovery expected to succeed into a fresh tree; returns that tree. */
static struct store_tree *recover_ok(struct fixture *fx, struct store_recovery_result *result)
{
    struct store_tree *tree = tree_new();
    char error[1024];
    int rc = recover(fx, tree, result, error, sizeof error);
    if (rc != 0) {
        fail_msg("recovery failed: %s", error);
    }
    assert_int_equal(store_tree_counters(tree)->last_zxid, result->last_zxid);
    assert_int_equal(result->node_count, store_tree_counters(tree)->node_count);
    return tree;
}

/* A recovery expected to fail; the error is left in `error`. */
static void recover_fails(struct fixture *fx, char *error, size_t error_bytes)
{
    struct store_tree *tree = tree_new();
    struct store_recovery_result result;
    assert_int_equal(recover(fx, tree, &result, error, error_bytes), -1);
    store_recovery_result_free(&result);
    store_tree_destroy(tree);
}

/* Some ordinary writes: zxids from fx->zxid + 1. */
static void some_writes(struct fixture *fx, const char *prefix, int count)
{
    char path[128];
    snprintf(path, sizeof path, "/%s", prefix);
    create(fx, SESSION_A, path, "top", ZK_CREATE_PERSISTENT);
    for (int i = 1; i < count; i++) {
        char child[160];
        snprintf(child, sizeof child, "%s/n%d", path, i % 4);
        switch (i % 4) {
        case 0:
        case 1:
            if (exists(fx->tree, child)) {
                set_data(fx, child, "changed");
            } else {
                create(fx, SESSION_A, child, "child", ZK_CREATE_PERSISTENT);
            }
            break;
        case 2:
            create(fx, SESSION_A, child, "seq", ZK_CREATE_PERSISTENT_SEQUENTIAL);
            break;
        default:
            set_data(fx, path, "top changed");
            break;
        }
    }
}

/* ---- tests ------------------------------------------------------------- */

static void test_empty_dir(void **state)
{
    struct fixture *fx = *state;
    struct store_recovery_result result;
    struct store_tree *tree = recover_ok(fx, &result);
    assert_int_equal(result.snapshot_zxid, -1);
    assert_int_equal(result.last_zxid, 0);
    assert_int_equal(result.transactions_replayed, 0);
    assert_int_equal(result.log_files_read, 0);
    assert_int_equal(result.session_count, 0);
    assert_false(result.truncated_torn_tail);
    assert_same_tree(fx->tree, tree);
    store_recovery_result_free(&result);
    store_tree_destroy(tree);
}

static void test_snapshot_only(void **state)
{
    struct fixture *fx = *state;
    create_session(fx, SESSION_A, 4000);
    some_writes(fx, "app", 20);
    const struct store_snapshot_session sessions[] = {{SESSION_A, 4000}};
    write_snapshot(fx, fx->zxid, sessions, 1);
    struct store_recovery_result result;
    struct store_tree *tree = recover_ok(fx, &result);
    assert_int_equal(result.snapshot_zxid, fx->zxid);
    assert_int_equal(result.last_zxid, fx->zxid);
    assert_int_equal(store_tree_counters(tree)->last_zxid, fx->zxid);
    assert_int_equal(result.transactions_replayed, 0);
    assert_int_equal(result.session_count, 1);
    assert_int_equal(result.sessions[0].session_id, SESSION_A);
    assert_int_equal(result.sessions[0].timeout_ms, 4000);
    assert_true(result.node_count > 4);
    assert_same_tree(fx->tree, tree);
    store_recovery_result_free(&result);
    store_tree_destroy(tree);
}

static void test_logs_only(void **state)
{
    struct fixture *fx = *state;
    create_session(fx, SESSION_A, 3000);
    some_writes(fx, "app", 30);
    write_log(fx, 1, (int)fx->zxid);
    struct store_recovery_result result;
    struct store_tree *tree = recover_ok(fx, &result);
    assert_int_equal(result.snapshot_zxid, -1);
    assert_int_equal(result.last_zxid, fx->zxid);
    assert_int_equal(result.transactions_replayed, (uint64_t)fx->zxid);
    assert_int_equal(result.log_files_read, 1);
    assert_int_equal(result.session_count, 1);
    assert_int_equal(result.sessions[0].timeout_ms, 3000);
    assert_non_null(strstr(fx->log_lines, "no snapshot"));
    assert_same_tree(fx->tree, tree);
    store_recovery_result_free(&result);
    store_tree_destroy(tree);
}

/* log.1 (1..10), log.b (11..20), snapshot.f, log.15 (21..30), log.1f
 * (31..40): getLogFiles picks log.b (it starts before the snapshot) and the
 * later ones; log.1 is not read at all (it is made unreadable garbage). */
static void test_snapshot_and_several_logs(void **state)
{
    struct fixture *fx = *state;
    create_session(fx, SESSION_A, 3000);
    some_writes(fx, "a", 14);
    assert_int_equal(fx->zxid, 15);
    const struct store_snapshot_session sessions[] = {{SESSION_A, 3000}};
    write_snapshot(fx, 15, sessions, 1);
    some_writes(fx, "b", 25);
    assert_int_equal(fx->zxid, 40);
    write_log(fx, 1, 10);
    write_log(fx, 11, 20);
    write_log(fx, 21, 30);
    write_log(fx, 31, 40);
    char log1[512];
    path_in(fx, "log.1", log1, sizeof log1);
    write_file(log1, "garbage, not a log", 18);
    struct store_recovery_result result;
    struct store_tree *tree = recover_ok(fx, &result);
    assert_int_equal(result.snapshot_zxid, 15);
    assert_int_equal(result.last_zxid, 40);
    assert_int_equal(result.transactions_replayed, 25);
    assert_int_equal(result.log_files_read, 3);
    assert_same_tree(fx->tree, tree);
    store_recovery_result_free(&result);
    store_tree_destroy(tree);
}

/* The snapshot's bytes are taken after txn 30 but it is named 0x14 (20),
 * as a fuzzy snapshot is: replaying 21..40 over it (creates of nodes that
 * exist, deletes of nodes that are gone, a node deleted and re-created,
 * ephemerals of a session closed later) gives exactly the straight tree. */
static void test_fuzzy_snapshot(void **state)
{
    struct fixture *fx = *state;
    create_session(fx, SESSION_A, 3000);
    create_session(fx, SESSION_B, 5000);
    some_writes(fx, "base", 18);
    assert_int_equal(fx->zxid, 20);
    /* 21..30, after the snapshot's name */
    create(fx, SESSION_A, "/fz", "p", ZK_CREATE_PERSISTENT);
    create(fx, SESSION_A, "/fz/x", "1", ZK_CREATE_PERSISTENT);
    delete_node(fx, "/fz/x");
    create(fx, SESSION_B, "/fz/x", "2", ZK_CREATE_EPHEMERAL);
    create(fx, SESSION_A, "/fz/s-", "", ZK_CREATE_PERSISTENT_SEQUENTIAL);
    create(fx, SESSION_B, "/fz/e-", "", ZK_CREATE_EPHEMERAL_SEQUENTIAL);
    set_data(fx, "/fz", "p2");
    delete_node(fx, "/base/n1");
    create(fx, SESSION_A, "/base/n1", "again", ZK_CREATE_PERSISTENT);
    set_data(fx, "/base/n1", "again2");
    assert_int_equal(fx->zxid, 30);
    const struct store_snapshot_session sessions[] = {{SESSION_A, 3000}, {SESSION_B, 5000}};
    write_snapshot(fx, 20, sessions, 2);
    /* 31..40 */
    close_session(fx, SESSION_B); /* removes /fz/x and /fz/e- */
    create(fx, SESSION_A, "/fz/x", "3", ZK_CREATE_PERSISTENT);
    delete_node(fx, "/fz/s-0000000002");
    create(fx, SESSION_A, "/fz/s-", "", ZK_CREATE_PERSISTENT_SEQUENTIAL);
    set_data(fx, "/fz/x", "4");
    delete_node(fx, "/base/n1");
    create(fx, SESSION_A, "/base/n1", "third", ZK_CREATE_PERSISTENT);
    create(fx, SESSION_A, "/fz/y", "", ZK_CREATE_PERSISTENT);
    delete_node(fx, "/fz/y");
    set_data(fx, "/fz", "p3");
    assert_int_equal(fx->zxid, 40);
    write_log(fx, 1, 25);
    write_log(fx, 26, 40);
    struct store_recovery_result result;
    struct store_tree *tree = recover_ok(fx, &result);
    assert_int_equal(result.snapshot_zxid, 20);
    assert_int_equal(result.last_zxid, 40);
    assert_int_equal(result.transactions_replayed, 20);
    assert_same_tree(fx->tree, tree);
    assert_int_equal(result.session_count, 1);
    assert_int_equal(result.sessions[0].session_id, SESSION_A);
    store_recovery_result_free(&result);
    store_tree_destroy(tree);
}

/* Where the node after `after_path` starts, and where the seal starts. */
struct splice_points {
    const char *after_path;
    bool seen;
    size_t next_node_offset;
    size_t seal_offset;
};

static bool find_node_after(void *context, size_t offset, struct jute_bytes path,
                            struct jute_bytes data, int64_t acl_ref,
                            const struct jute_stat_persisted *stat,
                            struct store_snapshot_error *error)
{
    (void)data, (void)acl_ref, (void)stat, (void)error;
    struct splice_points *points = context;
    if (points->seen && points->next_node_offset == 0) {
        points->next_node_offset = offset;
    }
    if (jute_bytes_equal(path, jute_bytes_cstr(points->after_path))) {
        points->seen = true;
    }
    return true;
}

static bool find_seal(void *context, size_t offset, uint32_t checksum)
{
    (void)checksum;
    struct splice_points *points = context;
    if (points->seal_offset == 0) {
        points->seal_offset = offset;
    }
    return true;
}

static struct splice_points splice_points_of(const struct jute_writer *snapshot, const char *path)
{
    struct splice_points points = {.after_path = path};
    struct store_snapshot_visitor visitor = {
        .context = &points, .node = find_node_after, .seal = find_seal};
    struct store_snapshot_error error;
    assert_true(store_snapshot_parse(snapshot->data, snapshot->size, &visitor, &error));
    assert_true(points.next_node_offset > 0 && points.seal_offset > points.next_node_offset);
    return points;
}

/* A truly fuzzy snapshot: /p serialized before txn 4 created /p/c, /p/c
 * serialized after it (its parent's stat in the file lacks the creation).
 * Replaying txn 4 finds /p/c (NODEEXISTS) and must move /p's cversion and
 * pzxid forward from CreateTxn.parentCVersion, as DataTree.processTxn's
 * setCversionPzxid fix-up does; otherwise /p's Stat differs. */
static void test_fuzzy_snapshot_parent_before_child(void **state)
{
    struct fixture *fx = *state;
    create(fx, SESSION_A, "/p", "parent", ZK_CREATE_PERSISTENT);
    create(fx, SESSION_A, "/p/a", "a", ZK_CREATE_PERSISTENT);
    create(fx, SESSION_A, "/q", "q", ZK_CREATE_PERSISTENT);
    struct jute_writer before, after;
    jute_writer_init(&before, SNAPSHOT_BYTES_MAX);
    jute_writer_init(&after, SNAPSHOT_BYTES_MAX);
    assert_true(store_snapshot_write(fx->tree, NULL, 0, &before));
    create(fx, SESSION_A, "/p/c", "c", ZK_CREATE_PERSISTENT);
    assert_true(store_snapshot_write(fx->tree, NULL, 0, &after));
    set_data(fx, "/q", "q2");
    struct splice_points a = splice_points_of(&before, "/p");
    struct splice_points b = splice_points_of(&after, "/p");
    struct jute_writer fuzzy;
    jute_writer_init(&fuzzy, SNAPSHOT_BYTES_MAX);
    jute_write_raw(&fuzzy, before.data, a.next_node_offset);
    jute_write_raw(&fuzzy, after.data + b.next_node_offset, b.seal_offset - b.next_node_offset);
    jute_write_long(&fuzzy, store_adler32(1, fuzzy.data, fuzzy.size));
    jute_write_bytes(&fuzzy, jute_bytes_cstr("/"));
    assert_true(fuzzy.ok);
    /* The file really is fuzzy: /p/c is there, /p's Stat predates it. */
    struct store_tree *loaded = tree_new();
    struct store_snapshot_session *no_sessions = NULL;
    size_t no_session_count = 0;
    struct store_snapshot_error load_error;
    assert_true(store_snapshot_load(loaded, fuzzy.data, fuzzy.size, &no_sessions,
                                    &no_session_count, &load_error));
    free(no_sessions);
    assert_true(exists(loaded, "/p/c"));
    assert_int_equal(view_of(loaded, "/p").persisted_cversion, 1);
    assert_int_equal(view_of(loaded, "/p").stat.pzxid, 2);
    store_tree_destroy(loaded);
    char name[STORE_SNAPSHOT_NAME_BYTES];
    store_snapshot_name(3, name, sizeof name);
    char path[512];
    path_in(fx, name, path, sizeof path);
    write_file(path, fuzzy.data, fuzzy.size);
    write_log(fx, 1, 5);
    struct store_recovery_result result;
    struct store_tree *tree = recover_ok(fx, &result);
    assert_int_equal(result.snapshot_zxid, 3);
    assert_int_equal(result.last_zxid, 5);
    assert_int_equal(view_of(tree, "/p").stat.pzxid, 4);
    assert_int_equal(view_of(tree, "/p").persisted_cversion, 2);
    assert_same_tree(fx->tree, tree);
    store_recovery_result_free(&result);
    store_tree_destroy(tree);
    jute_writer_free(&before);
    jute_writer_free(&after);
    jute_writer_free(&fuzzy);
}

/* createSession and an ephemeral survive; closeSession removes a session
 * and its ephemerals; an ephemeral whose owner never had a session (or is
 * missing from the table) is deleted at zxid last_zxid, as
 * ZooKeeperServer.loadData does. */
static void test_sessions_and_ephemerals(void **state)
{
    struct fixture *fx = *state;
    create_session(fx, SESSION_A, 6000);
    create_session(fx, SESSION_B, 8000);
    create(fx, SESSION_A, "/app", "", ZK_CREATE_PERSISTENT);
    create(fx, SESSION_A, "/app/a", "", ZK_CREATE_EPHEMERAL);
    create(fx, SESSION_B, "/app/b", "", ZK_CREATE_EPHEMERAL);
    create(fx, SESSION_GHOST, "/app/ghost", "", ZK_CREATE_EPHEMERAL);
    close_session(fx, SESSION_B);
    set_data(fx, "/app", "last");
    int64_t last = fx->zxid;
    write_log(fx, 1, (int)last);
    assert_true(exists(fx->tree, "/app/ghost"));
    struct store_recovery_result result;
    struct store_tree *tree = recover_ok(fx, &result);
    assert_int_equal(result.last_zxid, last);
    assert_int_equal(result.session_count, 1);
    assert_int_equal(result.sessions[0].session_id, SESSION_A);
    assert_int_equal(result.sessions[0].timeout_ms, 6000);
    assert_true(exists(tree, "/app/a"));
    assert_int_equal(view_of(tree, "/app/a").stat.ephemeral_owner, SESSION_A);
    assert_false(exists(tree, "/app/b"));
    assert_false(exists(tree, "/app/ghost"));
    assert_int_equal(view_of(tree, "/app").stat.pzxid, last);
    assert_int_equal(view_of(tree, "/app").stat.num_children, 1);
    assert_non_null(strstr(fx->log_lines, "session 0x300000003"));
    /* Told, so the server snapshots before serving (nothing logged it). */
    assert_int_equal(result.dead_sessions_removed, 1);
    store_recovery_result_free(&result);
    store_tree_destroy(tree);
}

/* The same from a snapshot whose session table lacks an owner. */
static void test_snapshot_ephemeral_without_session(void **state)
{
    struct fixture *fx = *state;
    create_session(fx, SESSION_A, 6000);
    create(fx, SESSION_A, "/a", "", ZK_CREATE_EPHEMERAL);
    create(fx, SESSION_B, "/b", "", ZK_CREATE_EPHEMERAL);
    const struct store_snapshot_session sessions[] = {{SESSION_A, 6000}};
    write_snapshot(fx, fx->zxid, sessions, 1);
    struct store_recovery_result result;
    struct store_tree *tree = recover_ok(fx, &result);
    assert_true(exists(tree, "/a"));
    assert_false(exists(tree, "/b"));
    assert_int_equal(store_tree_counters(tree)->ephemeral_count, 1);
    assert_int_equal(result.dead_sessions_removed, 1);
    store_recovery_result_free(&result);
    store_tree_destroy(tree);
}

/* Every cut inside the last record, and a byte flipped in it: the torn
 * record is truncated (the file ends where it began), logged with file,
 * offset and last good zxid, and recovery ends at the txn before it. */
static void test_torn_tail_every_cut(void **state)
{
    struct fixture *fx = *state;
    some_writes(fx, "t", 6);
    size_t offsets[8];
    char path[512];
    write_log_range(fx, 0, 1, 6, 0, offsets, path, sizeof path);
    static uint8_t whole[LOG_BYTES_MAX / 16];
    size_t whole_bytes = read_whole(path, whole, sizeof whole);
    size_t start = offsets[5], end = offsets[6];
    assert_true(end > start + 13);
    char expected[640];
    snprintf(expected, sizeof expected, "%s: offset %zu: torn final record", path, start);
    for (size_t cut = start + 1; cut <= end; cut++) {
        /* cut == end: every byte there but the record's 0x42 marker */
        uint8_t copy[4096];
        assert_true(whole_bytes <= sizeof copy);
        memcpy(copy, whole, whole_bytes);
        size_t size;
        if (cut == end) {
            copy[end - 1] = 0x00;
            size = whole_bytes;
        } else {
            memset(copy + cut, 0, whole_bytes - cut);
            size = cut % 2 ? cut : whole_bytes; /* with and without padding */
        }
        write_file(path, copy, size);
        struct store_recovery_result result;
        struct store_tree *tree = recover_ok(fx, &result);
        if (cut <= start + 4) {
            /* The checksum is a long holding an Adler32: its first four
             * bytes are zero, so such a cut is a clean end. */
            assert_false(result.truncated_torn_tail);
            assert_int_equal(result.last_zxid, 5);
            store_recovery_result_free(&result);
            store_tree_destroy(tree);
            continue;
        }
        if (!result.truncated_torn_tail || result.last_zxid != 5) {
            fail_msg("cut %zu of [%zu, %zu) (file %zu bytes): torn %d, last zxid %" PRId64
                     ", log: %s",
                     cut, start, end, size, result.truncated_torn_tail, result.last_zxid,
                     fx->log_lines);
        }
        assert_int_equal(result.transactions_replayed, 5);
        assert_int_equal(file_size(path), (off_t)start);
        if (!strstr(fx->log_lines, expected) || !strstr(fx->log_lines, "0x5")) {
            fail_msg("cut %zu: log was: %s", cut, fx->log_lines);
        }
        store_recovery_result_free(&result);
        store_tree_destroy(tree);
    }
    /* A checksum mismatch inside the last record is torn too. */
    uint8_t copy[4096];
    memcpy(copy, whole, whole_bytes);
    copy[start + 20] ^= 0x10;
    write_file(path, copy, whole_bytes);
    struct store_recovery_result result;
    struct store_tree *tree = recover_ok(fx, &result);
    assert_true(result.truncated_torn_tail);
    assert_int_equal(result.last_zxid, 5);
    assert_int_equal(file_size(path), (off_t)start);
    store_recovery_result_free(&result);
    store_tree_destroy(tree);
    /* The truncated file recovers cleanly, with nothing more to do. */
    tree = recover_ok(fx, &result);
    assert_false(result.truncated_torn_tail);
    assert_int_equal(result.last_zxid, 5);
    store_recovery_result_free(&result);
    store_tree_destroy(tree);
}

static void assert_error_names(const char *error, const char *path, size_t offset,
                               const char *what)
{
    char expected[640];
    snprintf(expected, sizeof expected, "%s: offset %zu: ", path, offset);
    if (!strstr(error, expected) || !strstr(error, what) || !strstr(error, "restore")) {
        fail_msg("error \"%s\" does not name \"%s\" and \"%s\"", error, expected, what);
    }
}

/* A log file created and preallocated whose first write never reached the
 * disk (all zeros, as FilePadding leaves it) holds nothing: it is emptied
 * and logged; a later log that does not follow on is still an error. */
static void test_all_zero_log_file(void **state)
{
    struct fixture *fx = *state;
    some_writes(fx, "z", 5);
    write_log(fx, 1, 5);
    static const uint8_t zeros[8192];
    char path[512];
    path_in(fx, "log.6", path, sizeof path);
    write_file(path, zeros, sizeof zeros);
    struct store_recovery_result result;
    struct store_tree *tree = recover_ok(fx, &result);
    assert_int_equal(result.last_zxid, 5);
    assert_true(result.truncated_torn_tail);
    assert_int_equal(file_size(path), 0);
    if (!strstr(fx->log_lines, path) || !strstr(fx->log_lines, "offset 0")) {
        fail_msg("log was: %s", fx->log_lines);
    }
    assert_same_tree(fx->tree, tree);
    store_recovery_result_free(&result);
    store_tree_destroy(tree);
    /* log.1 zeroed while log.6 holds 6..: 6 does not follow the empty tree. */
    some_writes(fx, "y", 3);
    write_log(fx, 6, 8);
    char log1[512];
    path_in(fx, "log.1", log1, sizeof log1);
    write_file(log1, zeros, sizeof zeros);
    char error[1024];
    recover_fails(fx, error, sizeof error);
    assert_error_names(error, path, STORE_TXNLOG_FILE_HEADER_BYTES, "0x1..0x5 are missing");
    assert_int_equal(file_size(log1), (off_t)sizeof zeros); /* untouched on failure */
}

static void test_corrupt_middle_record(void **state)
{
    struct fixture *fx = *state;
    some_writes(fx, "c", 6);
    size_t offsets[8];
    char path[512];
    write_log_range(fx, 0, 1, 6, 0, offsets, path, sizeof path);
    uint8_t bytes[4096];
    size_t size = read_whole(path, bytes, sizeof bytes);
    bytes[offsets[2] + 30] ^= 0x01;
    write_file(path, bytes, size);
    char error[1024];
    recover_fails(fx, error, sizeof error);
    assert_error_names(error, path, offsets[2], "checksum");
    assert_non_null(strstr(error, "0x2"));
    assert_int_equal(file_size(path), (off_t)size); /* nothing truncated */
}

/* log.1 (1..5) is followed by log.6 (6..10): a corrupt middle record of
 * log.1 stops recovery; so does a damaged last record of log.1 (it would be
 * torn if log.1 were the last log, but log.6 then has a gap). */
static void test_corrupt_non_last_file(void **state)
{
    struct fixture *fx = *state;
    some_writes(fx, "d", 10);
    size_t offsets[8];
    char path[512];
    write_log_range(fx, 0, 1, 5, 0, offsets, path, sizeof path);
    write_log(fx, 6, 10);
    uint8_t bytes[4096];
    size_t size = read_whole(path, bytes, sizeof bytes);
    uint8_t damaged[4096];
    memcpy(damaged, bytes, size);
    damaged[offsets[1] + 4] ^= 0x80; /* the checksum itself */
    write_file(path, damaged, size);
    char error[1024];
    recover_fails(fx, error, sizeof error);
    assert_error_names(error, path, offsets[1], "corrupt");

    memcpy(damaged, bytes, size);
    damaged[offsets[4] + 20] ^= 0x80;
    write_file(path, damaged, size);
    recover_fails(fx, error, sizeof error);
    char log6[512];
    path_in(fx, "log.6", log6, sizeof log6);
    assert_error_names(error, log6, STORE_TXNLOG_FILE_HEADER_BYTES, "missing");
    assert_int_equal(file_size(path), (off_t)size);
}

static void test_bad_header(void **state)
{
    struct fixture *fx = *state;
    some_writes(fx, "h", 4);
    char path[512];
    write_log_range(fx, 0, 1, 4, 0, NULL, path, sizeof path);
    uint8_t bytes[4096];
    size_t size = read_whole(path, bytes, sizeof bytes);
    memcpy(bytes, "ZKXX", 4);
    write_file(path, bytes, size);
    char error[1024];
    recover_fails(fx, error, sizeof error);
    assert_error_names(error, path, 0, "corrupt");
}

static void test_gap_in_zxids(void **state)
{
    struct fixture *fx = *state;
    some_writes(fx, "g", 8);
    size_t offsets[10];
    char path[512];
    write_log_range(fx, 0, 1, 8, 4, offsets, path, sizeof path);
    char error[1024];
    recover_fails(fx, error, sizeof error);
    /* entry 3 (0-based) of the file is zxid 5 */
    assert_error_names(error, path, offsets[3], "0x4..0x4 are missing");
}

/* A gap between the snapshot and the first log entry after it. */
static void test_gap_after_snapshot(void **state)
{
    struct fixture *fx = *state;
    some_writes(fx, "g", 8);
    write_snapshot(fx, 3, NULL, 0); /* bytes of 8, named 3: logs must hold 4.. */
    char path[512];
    write_log_range(fx, 0, 6, 8, 0, NULL, path, sizeof path);
    char error[1024];
    recover_fails(fx, error, sizeof error);
    assert_error_names(error, path, STORE_TXNLOG_FILE_HEADER_BYTES, "0x4..0x5 are missing");
}

/* Transactions the snapshot covers need not be in the logs: log.1 (1..5)
 * and log.9 (9..12) around snapshot.8 recover (6..8 are in the snapshot). */
static void test_snapshot_covers_missing_log(void **state)
{
    struct fixture *fx = *state;
    some_writes(fx, "m", 8);
    write_snapshot(fx, 8, NULL, 0);
    some_writes(fx, "n", 4);
    write_log(fx, 1, 5);
    write_log(fx, 9, 12);
    struct store_recovery_result result;
    struct store_tree *tree = recover_ok(fx, &result);
    assert_int_equal(result.snapshot_zxid, 8);
    assert_int_equal(result.last_zxid, 12);
    assert_int_equal(result.transactions_replayed, 4);
    assert_int_equal(result.log_files_read, 2);
    assert_same_tree(fx->tree, tree);
    store_recovery_result_free(&result);
    store_tree_destroy(tree);
}

static void test_zxid_backwards(void **state)
{
    struct fixture *fx = *state;
    some_writes(fx, "w", 8);
    write_log(fx, 1, 6);
    /* log.7 holds 5..8 under a later name: 5 after 6 */
    char path[512];
    write_log_range(fx, 0, 5, 8, 0, NULL, path, sizeof path);
    char renamed[512];
    path_in(fx, "log.7", renamed, sizeof renamed);
    assert_int_equal(rename(path, renamed), 0);
    char error[1024];
    recover_fails(fx, error, sizeof error);
    assert_error_names(error, renamed, STORE_TXNLOG_FILE_HEADER_BYTES, "does not follow 0x6");
}

/* A new epoch may start anywhere; inside it zxids go +1 again. */
static void test_new_epoch(void **state)
{
    struct fixture *fx = *state;
    some_writes(fx, "e", 5);
    write_log(fx, 1, 5);
    fx->zxid = ((int64_t)1 << 32) | 10; /* epoch 1 starts at counter 11 */
    some_writes(fx, "f", 4);
    write_log_range(fx, 1, 11, 14, 0, NULL, NULL, 0);
    struct store_recovery_result result;
    struct store_tree *tree = recover_ok(fx, &result);
    assert_int_equal(result.last_zxid, ((int64_t)1 << 32) | 14);
    assert_int_equal(result.transactions_replayed, 9);
    assert_same_tree(fx->tree, tree);
    store_recovery_result_free(&result);
    store_tree_destroy(tree);
}

static void flip_snapshot_byte(struct fixture *fx, int64_t zxid, size_t at_from_end)
{
    char name[STORE_SNAPSHOT_NAME_BYTES];
    store_snapshot_name(zxid, name, sizeof name);
    char path[512];
    path_in(fx, name, path, sizeof path);
    static uint8_t bytes[1u << 20];
    size_t size = read_whole(path, bytes, sizeof bytes);
    assert_true(size > at_from_end);
    bytes[size - at_from_end] ^= 0x04;
    write_file(path, bytes, size);
}

static void test_bad_newest_snapshot_uses_older(void **state)
{
    struct fixture *fx = *state;
    some_writes(fx, "s", 5);
    write_snapshot(fx, 5, NULL, 0);
    some_writes(fx, "u", 5);
    write_snapshot(fx, 10, NULL, 0);
    some_writes(fx, "v", 4);
    write_log(fx, 1, 14);
    flip_snapshot_byte(fx, 10, 40);
    struct store_recovery_result result;
    struct store_tree *tree = recover_ok(fx, &result);
    assert_int_equal(result.snapshot_zxid, 5);
    assert_int_equal(result.last_zxid, 14);
    assert_int_equal(result.transactions_replayed, 9);
    assert_non_null(strstr(fx->log_lines, "snapshot.a"));
    assert_same_tree(fx->tree, tree);
    store_recovery_result_free(&result);
    store_tree_destroy(tree);
}

/* With no readable snapshot, recovery does not start from an empty tree
 * when logs exist (their start would be missing). */
static void test_only_snapshot_bad_with_logs(void **state)
{
    struct fixture *fx = *state;
    some_writes(fx, "s", 5);
    write_snapshot(fx, 5, NULL, 0);
    some_writes(fx, "u", 5);
    write_log(fx, 6, 10);
    flip_snapshot_byte(fx, 5, 40);
    char error[1024];
    recover_fails(fx, error, sizeof error);
    assert_non_null(strstr(error, "snapshot.5"));
    assert_non_null(strstr(error, "offset"));
    assert_non_null(strstr(error, "restore"));
}

static void test_epoch_round_trip(void **state)
{
    struct fixture *fx = *state;
    char error[512];
    int64_t value = 99;
    assert_int_equal(store_epoch_read(fx->dir, STORE_EPOCH_CURRENT, &value, error, sizeof error),
                     0);
    assert_int_equal(value, 99);
    const int64_t values[] = {0, 7, 4294967296ll, -3, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        assert_int_equal(store_epoch_write(fx->dir, STORE_EPOCH_ACCEPTED, values[i], error,
                                           sizeof error),
                         0);
        assert_int_equal(store_epoch_read(fx->dir, STORE_EPOCH_ACCEPTED, &value, error,
                                          sizeof error),
                         1);
        assert_int_equal(value, values[i]);
    }
    /* No temporary file is left behind. */
    char tmp[512];
    path_in(fx, "acceptedEpoch.tmp", tmp, sizeof tmp);
    assert_int_equal(access(tmp, F_OK), -1);
}

/* QuorumPeer.writeLongToFile writes Long.toString(value): decimal ASCII, no
 * newline; readLongFromFile reads the first line with Long.parseLong. */
static void test_epoch_bytes_as_zookeeper(void **state)
{
    struct fixture *fx = *state;
    char error[512];
    assert_int_equal(store_epoch_write(fx->dir, STORE_EPOCH_CURRENT, 4294967297ll, error,
                                       sizeof error),
                     0);
    char path[512];
    path_in(fx, "currentEpoch", path, sizeof path);
    uint8_t bytes[64];
    size_t size = read_whole(path, bytes, sizeof bytes);
    assert_int_equal(size, 10);
    assert_memory_equal(bytes, "4294967297", 10);
    assert_int_equal(store_epoch_write(fx->dir, STORE_EPOCH_CURRENT, -1, error, sizeof error), 0);
    size = read_whole(path, bytes, sizeof bytes);
    assert_int_equal(size, 2);
    assert_memory_equal(bytes, "-1", 2);
    /* What a person might leave there: a trailing newline reads as ZooKeeper
     * reads it. */
    write_file(path, "12\n", 3);
    int64_t value = 0;
    assert_int_equal(store_epoch_read(fx->dir, STORE_EPOCH_CURRENT, &value, error, sizeof error),
                     1);
    assert_int_equal(value, 12);
    const char *bad[] = {"", "abc", "12 ", "9223372036854775808", "0x10", "-"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i], strlen(bad[i]));
        error[0] = '\0';
        assert_int_equal(store_epoch_read(fx->dir, STORE_EPOCH_CURRENT, &value, error,
                                          sizeof error),
                         -1);
        assert_non_null(strstr(error, path));
        char found[64];
        snprintf(found, sizeof found, "\"%s\"", bad[i]);
        if (!strstr(error, found)) {
            fail_msg("error \"%s\" does not show the content %s", error, found);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logs_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_and_several_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fuzzy_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fuzzy_snapshot_parent_before_child, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessions_and_ephemerals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_ephemeral_without_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_every_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_zero_log_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_middle_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_non_last_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_in_zxids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_after_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_covers_missing_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zxid_backwards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_newest_snapshot_uses_older, setup, teardown),
        cmocka_unit_test_setup_teardown(test_only_snapshot_bad_with_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_epoch_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_epoch_bytes_as_zookeeper, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
