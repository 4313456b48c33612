/* Fuzzy snapshots (store_snapshot_job_*): a job streamed by a reader thread
 * while the writer goes on applying creates, setData, setACL to new lists,
 * deletes, ephemerals and closeSession parses and loads, and loading it then replaying
 * every transaction after its zxid gives the writer's final tree. A job on
 * a tree that does not change writes exactly store_snapshot_write's bytes,
 * whatever the chunk size. Also run under ThreadSanitizer (suite threads).
 *
 * Why the concurrent test compares trees by content and not by raw
 * store_snapshot_write bytes: two things in the bytes are not in the log,
 * in ZooKeeper as in Cheetah. The ACL refs (a reloaded cache numbers lists
 * from what the file holds, and lists dropped before the snapshot leave
 * gaps the replay cannot know) and a parent's child order (a HashSet's
 * table never shrinks, so a reloaded parent iterates by its size in the
 * file, not by the most children it ever had). The comparison is exact on
 * everything else: every path, data, ACL list (by content), every
 * StatPersisted field, the sessions. The single-threaded tests compare
 * raw bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jute/records.h"
#include "store/snapshot.h"
#include "store/store.h"
#include "store_test_writes.h"

#define SESSION_A 0x100000001ll
#define SESSION_B 0x200000002ll
#define SNAPSHOT_BYTES_MAX (256u << 20)
/* Transactions before the job begins, and at most after it. */
#define WARMUP_TXNS 3000
#define AFTER_TXNS_MAX 40000
/* The reader streams small chunks and, after each, lets the writer apply a
 * few transactions, so the walk and the writes interleave for sure. */
#define FUZZY_CHUNK_BYTES 256u
#define TXNS_PER_CHUNK 3
#define HANDSHAKE_TIMEOUT_MS 20000
/* The model's bounds: paths are short, the tree stays small and deep. */
#define MODEL_NODES_MAX 4096
#define MODEL_DEPTH_MAX 4
#define MODEL_FANOUT_MAX 8
#define PATH_BYTES 128

static void check(bool condition, const char *what)
{
    /* cmocka's asserts longjmp and are only safe on the test's own thread */
    if (!condition) {
        fprintf(stderr, "check failed: %s\n", what);
        abort();
    }
}


static struct store_tree *tree_new(void)
{
    struct store_tree *tree = store_test_tree_new();
    check(tree != NULL, "tree");
    return tree;
}

/* ---- the writer: a model of the tree and a random valid workload ---------- */

struct model_node {
    char path[PATH_BYTES];
    int parent; /* -1 for the root */
    int depth;
    int children;
    bool ephemeral;
    int64_t owner;
    bool live;
};

struct recorded_txn {
    int64_t zxid;
    uint8_t *bytes;
    size_t size;
};

struct writer {
    struct store_tree *tree;
    int64_t zxid;
    int64_t now_ms;
    uint64_t random;
    int acl_serial;
    struct store_txn txn;
    struct store_apply_result result;
    struct store_change_list changes;
    struct jute_writer body;
    struct model_node nodes[MODEL_NODES_MAX];
    int node_count;
    struct recorded_txn *log;
    size_t log_count;
    size_t log_capacity;
};

static uint64_t next_random(struct writer *w)
{
    /* xorshift64: deterministic, so a failure reproduces */
    w->random ^= w->random << 13;
    w->random ^= w->random >> 7;
    w->random ^= w->random << 17;
    return w->random;
}

static void writer_init(struct writer *w, struct store_tree *tree, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    w->tree = tree;
    w->zxid = 0;
    w->now_ms = 1700000000000;
    w->random = seed;
    store_txn_init(&w->txn, JUTE_MAXBUFFER_DEFAULT_BYTES + 4096);
    store_apply_result_init(&w->result);
    store_change_list_init(&w->changes);
    jute_writer_init(&w->body, 1u << 20);
    w->nodes[0] = (struct model_node){.path = "", .parent = -1, .depth = 0, .live = true};
    w->node_count = 1;
}

static void writer_free(struct writer *w)
{
    store_txn_free(&w->txn);
    store_apply_result_free(&w->result);
    store_change_list_free(&w->changes);
    jute_writer_free(&w->body);
    for (size_t i = 0; i < w->log_count; i++) {
        free(w->log[i].bytes);
    }
    free(w->log);
}

static void record(struct writer *w)
{
    if (w->log_count == w->log_capacity) {
        w->log_capacity = w->log_capacity ? w->log_capacity * 2 : 1024;
        w->log = realloc(w->log, w->log_capacity * sizeof *w->log);
        check(w->log != NULL, "log memory");
    }
    uint8_t *copy = malloc(w->txn.bytes.size);
    check(copy != NULL, "txn memory");
    memcpy(copy, w->txn.bytes.data, w->txn.bytes.size);
    w->log[w->log_count++] = (struct recorded_txn){w->zxid, copy, w->txn.bytes.size};
}

/* Prepares, applies and records one request; the model picks only valid
 * ones, so each must succeed. */
static void write_op(struct writer *w, int64_t session, int32_t opcode)
{
    check(store_test_prepare(w->tree, &w->txn, &w->body, session, 1, opcode, w->zxid + 1,
                             w->now_ms) == ZK_OK,
          "prepare");
    w->zxid++;
    w->now_ms += 3;
    store_change_list_clear(&w->changes);
    check(store_apply(w->tree, jute_bytes_of(w->txn.bytes.data, (int32_t)w->txn.bytes.size),
                      &w->changes, &w->result) == ZK_OK,
          "apply");
    check(w->result.err == ZK_OK, "the model's request failed");
    record(w);
    /* frees what no reader can see: the concurrent reader must hold back
     * exactly what it may still read */
    store_reclaim(w->tree);
}

static int random_live(struct writer *w, bool (*fits)(const struct model_node *))
{
    for (int tries = 0; tries < 64; tries++) {
        int index = (int)(next_random(w) % (uint64_t)w->node_count);
        if (w->nodes[index].live && fits(&w->nodes[index])) {
            return index;
        }
    }
    return -1;
}

static bool can_parent(const struct model_node *node)
{
    return !node->ephemeral && node->depth < MODEL_DEPTH_MAX &&
           node->children < MODEL_FANOUT_MAX;
}

static bool is_leaf(const struct model_node *node)
{
    return node->parent >= 0 && node->children == 0;
}

static bool is_not_root(const struct model_node *node)
{
    return node->parent >= 0;
}

static void op_create(struct writer *w)
{
    int parent = random_live(w, can_parent);
    if (parent < 0) {
        return;
    }
    /* a new slot, or a dead one (a deleted node has no live children, so
     * no live node names it as its parent) */
    int slot = w->node_count;
    if (slot == MODEL_NODES_MAX) {
        for (slot = 1; slot < MODEL_NODES_MAX && w->nodes[slot].live; slot++) {
        }
        if (slot == MODEL_NODES_MAX) {
            return;
        }
    }
    uint64_t pick = next_random(w);
    /* a small pool of names, so paths are deleted and created again */
    char path[PATH_BYTES];
    bool sequential = pick % 7 == 0;
    snprintf(path, sizeof path, "%s/%s%u", w->nodes[parent].path, sequential ? "s-" : "n",
             sequential ? 0u : (unsigned)(pick >> 8) % 10u);
    if (sequential) {
        path[strlen(path) - 1] = '\0'; /* "…/s-" + the sequence suffix */
    } else {
        for (int i = 0; i < w->node_count; i++) {
            if (w->nodes[i].live && strcmp(w->nodes[i].path, path) == 0) {
                return; /* exists: choose something else next time */
            }
        }
    }
    bool ephemeral = pick % 5 == 0;
    int32_t flags = sequential ? (ephemeral ? ZK_CREATE_EPHEMERAL_SEQUENTIAL
                                            : ZK_CREATE_PERSISTENT_SEQUENTIAL)
                               : (ephemeral ? ZK_CREATE_EPHEMERAL : ZK_CREATE_PERSISTENT);
    char data[48];
    int data_len = snprintf(data, sizeof data, "created at %lld", (long long)w->zxid + 1);
    jute_writer_reset(&w->body);
    struct jute_create_request request = {jute_bytes_cstr(path), jute_bytes_of(data, data_len),
                                          store_test_open_acl, flags};
    jute_create_request_encode(&w->body, &request);
    int64_t session = pick % 2 ? SESSION_A : SESSION_B;
    write_op(w, session, ZK_OP_CREATE);
    if (slot == w->node_count) {
        w->node_count++;
    }
    struct model_node *node = &w->nodes[slot];
    check(w->result.single.path.len > 0 && w->result.single.path.len < PATH_BYTES,
          "created path");
    memcpy(node->path, w->result.single.path.ptr, (size_t)w->result.single.path.len);
    node->path[w->result.single.path.len] = '\0';
    node->parent = parent;
    node->depth = w->nodes[parent].depth + 1;
    node->children = 0;
    node->ephemeral = ephemeral;
    node->owner = ephemeral ? session : 0;
    node->live = true;
    w->nodes[parent].children++;
}

static void op_set_data(struct writer *w)
{
    int index = random_live(w, is_not_root);
    if (index < 0) {
        return;
    }
    char data[64];
    int data_len = snprintf(data, sizeof data, "data %llu at %lld",
                            (unsigned long long)(next_random(w) % 1000), (long long)w->zxid + 1);
    jute_writer_reset(&w->body);
    struct jute_set_data_request request = {jute_bytes_cstr(w->nodes[index].path),
                                            jute_bytes_of(data, data_len), -1};
    jute_set_data_request_encode(&w->body, &request);
    write_op(w, SESSION_A, ZK_OP_SET_DATA);
}

/* setACL to a list never seen before (a new cache entry each time). */
static void op_set_acl(struct writer *w)
{
    int index = random_live(w, is_not_root);
    if (index < 0) {
        return;
    }
    char id[64];
    int id_len = snprintf(id, sizeof id, "user%d:hash%d", w->acl_serial, w->acl_serial);
    w->acl_serial++;
    struct jute_acl items[2] = {
        {ZK_PERM_READ | ZK_PERM_ADMIN,
         {{(const uint8_t *)"digest", 6}, {(const uint8_t *)id, id_len}}},
        {ZK_PERM_ALL, {{(const uint8_t *)"world", 5}, {(const uint8_t *)"anyone", 6}}},
    };
    struct jute_acl_vector acl = {2, items};
    jute_writer_reset(&w->body);
    struct jute_set_acl_request request = {jute_bytes_cstr(w->nodes[index].path), acl, -1};
    jute_set_acl_request_encode(&w->body, &request);
    write_op(w, SESSION_A, ZK_OP_SET_ACL);
}

static void op_delete(struct writer *w)
{
    int index = random_live(w, is_leaf);
    if (index < 0) {
        return;
    }
    jute_writer_reset(&w->body);
    struct jute_delete_request request = {jute_bytes_cstr(w->nodes[index].path), -1};
    jute_delete_request_encode(&w->body, &request);
    write_op(w, SESSION_A, ZK_OP_DELETE);
    w->nodes[index].live = false;
    w->nodes[w->nodes[index].parent].children--;
}

/* closeSession: the server deletes the session's ephemerals (the session
 * id is used again afterwards, which the tree does not mind). */
static void op_close_session(struct writer *w)
{
    int64_t session = next_random(w) % 2 ? SESSION_A : SESSION_B;
    check(store_prepare_close_session(w->tree, &w->txn, session, 1, w->zxid + 1, w->now_ms) ==
              ZK_OK,
          "prepare closeSession");
    w->zxid++;
    w->now_ms += 3;
    store_change_list_clear(&w->changes);
    check(store_apply(w->tree, jute_bytes_of(w->txn.bytes.data, (int32_t)w->txn.bytes.size),
                      &w->changes, &w->result) == ZK_OK,
          "apply closeSession");
    record(w);
    store_reclaim(w->tree);
    for (int i = 0; i < w->node_count; i++) {
        struct model_node *node = &w->nodes[i];
        if (node->live && node->ephemeral && node->owner == session) {
            node->live = false;
            w->nodes[node->parent].children--;
        }
    }
}

static void writer_step(struct writer *w)
{
    int64_t before = w->zxid;
    /* bounded: every op but a refused pick makes a transaction */
    for (int tries = 0; tries < 64 && w->zxid == before; tries++) {
        uint64_t choice = next_random(w) % 100;
        if (choice < 40) {
            op_create(w);
        } else if (choice < 62) {
            op_set_data(w);
        } else if (choice < 77) {
            op_set_acl(w);
        } else if (choice < 79) {
            op_close_session(w);
        } else {
            op_delete(w);
        }
    }
    if (w->zxid == before) {
        fprintf(stderr, "at zxid %lld, %d model slots\n", (long long)w->zxid, w->node_count);
    }
    check(w->zxid > before, "the writer found no operation");
}

/* ---- streaming a job ------------------------------------------------------- */

static const struct store_snapshot_session job_sessions[] = {{SESSION_A, 30000},
                                                             {SESSION_B, 4000}};

/* Streams the whole job into `file` (one buffer, chunk after chunk). */
static int stream_job(struct store_snapshot_job *job, struct store_reader *reader,
                      struct jute_writer *file, size_t chunk_bytes, size_t *calls)
{
    int rc;
    *calls = 0;
    do {
        rc = store_snapshot_job_next(job, reader, file, chunk_bytes);
        (*calls)++;
    } while (rc == 1);
    return rc;
}

/* ---- comparing trees by content ---------------------------------------------- */

struct canonical_acl {
    int64_t ref;
    char *text; /* perms,scheme,id;… */
};

struct canonical_node {
    char *path;
    char *data; /* "<len>:" + bytes, or "null" */
    char *acl;
    struct jute_stat_persisted stat;
};

struct canonical {
    struct canonical_acl acls[4096];
    size_t acl_count;
    struct canonical_node *nodes;
    size_t node_count;
    size_t node_capacity;
    int64_t sessions[16];
    size_t session_count;
    int64_t zxid_limit;        /* for counting fuzzy records */
    size_t fuzzy_records;      /* records showing a change after zxid_limit */
    size_t open_ref_records;   /* records written with ref -1 */
};

static char *acl_text(const struct store_acl_list *list)
{
    size_t bytes = 16;
    for (int32_t i = 0; i < list->count; i++) {
        bytes += 16 + (size_t)list->entries[i].scheme.len + (size_t)list->entries[i].id.len;
    }
    char *text = malloc(bytes);
    size_t at = 0;
    text[0] = '\0';
    for (int32_t i = 0; i < list->count; i++) {
        at += (size_t)snprintf(text + at, bytes - at, "%d,%.*s,%.*s;", list->entries[i].perms,
                               list->entries[i].scheme.len,
                               (const char *)list->entries[i].scheme.ptr,
                               list->entries[i].id.len, (const char *)list->entries[i].id.ptr);
    }
    return text;
}

static bool canonical_session(void *context, int64_t session_id, int32_t timeout_ms)
{
    struct canonical *c = context;
    (void)timeout_ms;
    check(c->session_count < 16, "sessions");
    c->sessions[c->session_count++] = session_id;
    return true;
}

static bool canonical_acl(void *context, int64_t ref, const struct store_acl_list *list,
                          struct store_snapshot_error *error)
{
    struct canonical *c = context;
    (void)error;
    check(c->acl_count < 4096, "ACL lists");
    c->acls[c->acl_count++] = (struct canonical_acl){ref, acl_text(list)};
    return true;
}

static const char *ref_text(const struct canonical *c, int64_t ref)
{
    if (ref == -1) {
        return "31,world,anyone;";
    }
    for (size_t i = 0; i < c->acl_count; i++) {
        if (c->acls[i].ref == ref) {
            return c->acls[i].text;
        }
    }
    return NULL;
}

static bool canonical_node(void *context, size_t offset, struct jute_bytes path,
                           struct jute_bytes data, int64_t acl_ref,
                           const struct jute_stat_persisted *stat,
                           struct store_snapshot_error *error)
{
    struct canonical *c = context;
    (void)offset;
    (void)error;
    if (c->node_count == c->node_capacity) {
        c->node_capacity = c->node_capacity ? c->node_capacity * 2 : 256;
        c->nodes = realloc(c->nodes, c->node_capacity * sizeof *c->nodes);
    }
    const char *acl = ref_text(c, acl_ref);
    check(acl != NULL, "a node's ACL ref is in the ACL section");
    struct canonical_node *node = &c->nodes[c->node_count++];
    node->path = strndup((const char *)path.ptr, (size_t)path.len);
    if (data.len < 0) {
        node->data = strdup("null");
    } else {
        node->data = malloc((size_t)data.len + 16);
        int at = snprintf(node->data, 16, "%d:", data.len);
        memcpy(node->data + at, data.ptr, (size_t)data.len);
        node->data[at + data.len] = '\0';
    }
    node->acl = strdup(acl);
    node->stat = *stat;
    if (stat->mzxid > c->zxid_limit || stat->pzxid > c->zxid_limit) {
        c->fuzzy_records++;
    }
    c->open_ref_records += acl_ref == -1;
    return true;
}

static int compare_canonical_nodes(const void *a, const void *b)
{
    return strcmp(((const struct canonical_node *)a)->path,
                  ((const struct canonical_node *)b)->path);
}

static struct canonical *canonical_parse(const uint8_t *data, size_t size, int64_t zxid_limit)
{
    struct canonical *c = calloc(1, sizeof *c);
    c->zxid_limit = zxid_limit;
    struct store_snapshot_visitor visitor = {
        .context = c,
        .session = canonical_session,
        .acl = canonical_acl,
        .node = canonical_node,
    };
    struct store_snapshot_error error = {0};
    if (!store_snapshot_parse(data, size, &visitor, &error)) {
        fail_msg("parse failed at %zu: %s", error.offset, error.message);
    }
    qsort(c->nodes, c->node_count, sizeof c->nodes[0], compare_canonical_nodes);
    return c;
}

static void canonical_free(struct canonical *c)
{
    for (size_t i = 0; i < c->acl_count; i++) {
        free(c->acls[i].text);
    }
    for (size_t i = 0; i < c->node_count; i++) {
        free(c->nodes[i].path);
        free(c->nodes[i].data);
        free(c->nodes[i].acl);
    }
    free(c->nodes);
    free(c);
}

static void assert_canonical_equal(const struct canonical *a, const struct canonical *b)
{
    assert_int_equal(a->session_count, b->session_count);
    for (size_t i = 0; i < a->session_count; i++) {
        assert_int_equal(a->sessions[i], b->sessions[i]);
    }
    assert_int_equal(a->acl_count, b->acl_count);
    assert_int_equal(a->node_count, b->node_count);
    for (size_t i = 0; i < a->node_count; i++) {
        const struct canonical_node *x = &a->nodes[i];
        const struct canonical_node *y = &b->nodes[i];
        assert_string_equal(x->path, y->path);
        assert_string_equal(x->data, y->data);
        assert_string_equal(x->acl, y->acl);
        const struct jute_stat_persisted *p = &x->stat, *q = &y->stat;
        if (p->czxid != q->czxid || p->mzxid != q->mzxid || p->ctime != q->ctime ||
            p->mtime != q->mtime || p->version != q->version || p->cversion != q->cversion ||
            p->aversion != q->aversion || p->ephemeral_owner != q->ephemeral_owner ||
            p->pzxid != q->pzxid) {
            fail_msg("%s: stat differs: czxid %lld/%lld mzxid %lld/%lld pzxid %lld/%lld "
                     "version %d/%d cversion %d/%d aversion %d/%d owner %llx/%llx",
                     x->path, (long long)x->stat.czxid, (long long)y->stat.czxid,
                     (long long)x->stat.mzxid, (long long)y->stat.mzxid,
                     (long long)x->stat.pzxid, (long long)y->stat.pzxid, x->stat.version,
                     y->stat.version, x->stat.cversion, y->stat.cversion, x->stat.aversion,
                     y->stat.aversion, (unsigned long long)x->stat.ephemeral_owner,
                     (unsigned long long)y->stat.ephemeral_owner);
        }
    }
}

static void write_whole(struct store_tree *tree, struct jute_writer *out)
{
    jute_writer_init(out, SNAPSHOT_BYTES_MAX);
    assert_true(store_snapshot_write(tree, job_sessions, 2, out));
}

/* Loads `snapshot` into a fresh tree and replays the recorded transactions
 * after `zxid`; returns the tree. */
static struct store_tree *load_and_replay(const struct jute_writer *snapshot,
                                          const struct writer *w, int64_t zxid)
{
    struct store_tree *tree = tree_new();
    struct store_snapshot_session *sessions = NULL;
    size_t session_count = 0;
    struct store_snapshot_error error = {0};
    if (!store_snapshot_load(tree, snapshot->data, snapshot->size, &sessions, &session_count,
                             &error)) {
        fail_msg("load failed at %zu: %s", error.offset, error.message);
    }
    assert_int_equal(session_count, 2);
    free(sessions);
    struct store_change_list changes;
    struct store_apply_result result;
    store_change_list_init(&changes);
    store_apply_result_init(&result);
    for (size_t i = 0; i < w->log_count; i++) {
        if (w->log[i].zxid <= zxid) {
            continue;
        }
        store_change_list_clear(&changes);
        assert_int_equal(store_apply(tree,
                                     jute_bytes_of(w->log[i].bytes, (int32_t)w->log[i].size),
                                     &changes, &result),
                         ZK_OK);
        store_reclaim(tree);
    }
    store_change_list_free(&changes);
    store_apply_result_free(&result);
    return tree;
}

/* ---- the concurrent test --------------------------------------------------------- */

struct shared {
    struct writer *writer;
    struct store_tree *tree;
    _Atomic(struct store_snapshot_job *) job;
    _Atomic int64_t writer_zxid;
    _Atomic bool reader_started;
    _Atomic bool reader_done;
    _Atomic bool writer_done;
    struct jute_writer file;
    int stream_rc;
    size_t chunks;
    int64_t zxid_at_start;
    int64_t zxid_at_end;
};

static int64_t now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void *writer_main(void *argument)
{
    struct shared *shared = argument;
    struct writer *w = shared->writer;
    for (int i = 0; i < WARMUP_TXNS; i++) {
        writer_step(w);
    }
    struct store_snapshot_job *job =
        store_snapshot_job_begin(w->tree, w->zxid, job_sessions, 2);
    check(job != NULL, "job begin");
    atomic_store(&shared->writer_zxid, w->zxid);
    atomic_store(&shared->job, job);
    int64_t deadline = now_ms() + HANDSHAKE_TIMEOUT_MS;
    while (!atomic_load(&shared->reader_started) && now_ms() < deadline) {
        sched_yield();
    }
    check(atomic_load(&shared->reader_started), "the reader started");
    for (int i = 0; i < AFTER_TXNS_MAX && !atomic_load(&shared->reader_done); i++) {
        writer_step(w);
        atomic_store(&shared->writer_zxid, w->zxid);
    }
    /* a tail after the job, so replay covers more than the overlap */
    for (int i = 0; i < 200; i++) {
        writer_step(w);
    }
    atomic_store(&shared->writer_zxid, w->zxid);
    atomic_store(&shared->writer_done, true);
    return NULL;
}

static void *reader_main(void *argument)
{
    struct shared *shared = argument;
    struct store_reader *reader = store_reader_register(shared->tree);
    check(reader != NULL, "register");
    store_reader_offline(reader);
    int64_t deadline = now_ms() + HANDSHAKE_TIMEOUT_MS;
    struct store_snapshot_job *job;
    while ((job = atomic_load(&shared->job)) == NULL && now_ms() < deadline) {
        sched_yield();
    }
    check(job != NULL, "the job arrived");
    store_reader_online(shared->tree, reader);
    shared->zxid_at_start = atomic_load(&shared->writer_zxid);
    atomic_store(&shared->reader_started, true);
    jute_writer_init(&shared->file, SNAPSHOT_BYTES_MAX);
    int rc;
    do {
        rc = store_snapshot_job_next(job, reader, &shared->file, FUZZY_CHUNK_BYTES);
        shared->chunks++;
        /* let the writer move on before the next chunk (bounded wait) */
        int64_t target = atomic_load(&shared->writer_zxid) + TXNS_PER_CHUNK;
        int64_t wait_until = now_ms() + HANDSHAKE_TIMEOUT_MS;
        while (rc == 1 && atomic_load(&shared->writer_zxid) < target &&
               !atomic_load(&shared->writer_done) && now_ms() < wait_until) {
            sched_yield();
        }
    } while (rc == 1);
    shared->stream_rc = rc;
    shared->zxid_at_end = atomic_load(&shared->writer_zxid);
    store_reader_offline(reader);
    atomic_store(&shared->reader_done, true);
    return NULL;
}

static void fuzzy_run(uint64_t seed)
{
    struct writer *w = calloc(1, sizeof *w);
    struct store_tree *tree = tree_new();
    writer_init(w, tree, seed);
    struct shared shared = {.writer = w, .tree = tree};
    atomic_init(&shared.job, NULL);
    pthread_t writer_thread, reader_thread;
    assert_int_equal(pthread_create(&reader_thread, NULL, reader_main, &shared), 0);
    assert_int_equal(pthread_create(&writer_thread, NULL, writer_main, &shared), 0);
    pthread_join(writer_thread, NULL);
    pthread_join(reader_thread, NULL);
    struct store_snapshot_job *job = atomic_load(&shared.job);
    int64_t zxid = store_snapshot_job_zxid(job);
    store_snapshot_job_free(job);

    assert_int_equal(shared.stream_rc, 0);
    assert_true(shared.chunks > 10);
    /* the walk and the writes overlapped */
    assert_true(shared.zxid_at_end - shared.zxid_at_start >= (int64_t)shared.chunks);
    assert_true(w->zxid > zxid + 200);

    /* the file parses, and it is fuzzy: records newer than its zxid, and
     * nodes whose list came after the job written with ref -1 */
    struct canonical *fuzzy = canonical_parse(shared.file.data, shared.file.size, zxid);
    assert_true(fuzzy->fuzzy_records > 0);
    assert_true(fuzzy->open_ref_records > 0);
    canonical_free(fuzzy);

    /* load + replay from zxid + 1 = the writer's final tree */
    struct store_tree *replayed = load_and_replay(&shared.file, w, zxid);
    struct jute_writer expected, actual;
    write_whole(tree, &expected);
    write_whole(replayed, &actual);
    struct canonical *a = canonical_parse(expected.data, expected.size, INT64_MAX);
    struct canonical *b = canonical_parse(actual.data, actual.size, INT64_MAX);
    printf("fuzzy: zxid %lld, final %lld, %zu chunks while the writer went from %lld to %lld, "
           "%zu nodes\n",
           (long long)zxid, (long long)w->zxid, shared.chunks, (long long)shared.zxid_at_start,
           (long long)shared.zxid_at_end, a->node_count);
    assert_true(a->node_count > 50);
    assert_canonical_equal(a, b);
    canonical_free(a);
    canonical_free(b);

    /* and without the replay the tree is not the final one (the test
     * would not pass by accident) */
    struct store_tree *unreplayed = tree_new();
    struct store_snapshot_session *sessions = NULL;
    size_t session_count = 0;
    struct store_snapshot_error error = {0};
    assert_true(store_snapshot_load(unreplayed, shared.file.data, shared.file.size, &sessions,
                                    &session_count, &error));
    free(sessions);
    jute_writer_free(&actual);
    write_whole(unreplayed, &actual);
    assert_false(actual.size == expected.size &&
                 memcmp(actual.data, expected.data, actual.size) == 0);

    jute_writer_free(&expected);
    jute_writer_free(&actual);
    jute_writer_free(&shared.file);
    store_tree_destroy(unreplayed);
    store_tree_destroy(replayed);
    store_tree_destroy(tree);
    writer_free(w);
    free(w);
}

static void test_fuzzy_snapshot_replays_to_the_final_tree(void **state)
{
    (void)state;
    static const uint64_t seeds[] = {0x9E3779B97F4A7C15ull, 1, 0xC0FFEEull, 424242};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        fuzzy_run(seeds[i]);
    }
}

/* ---- single-threaded: an unchanging tree ---------------------------------------- */

static void test_job_on_unchanging_tree_is_store_snapshot_write(void **state)
{
    (void)state;
    struct writer *w = calloc(1, sizeof *w);
    struct store_tree *tree = tree_new();
    writer_init(w, tree, 12345);
    for (int i = 0; i < 2000; i++) {
        writer_step(w);
    }
    struct jute_writer expected;
    write_whole(tree, &expected);
    struct store_reader *reader = store_reader_register(tree);
    assert_non_null(reader);
    static const size_t chunk_sizes[] = {1, 100, 4096, 1u << 20};
    for (size_t c = 0; c < sizeof chunk_sizes / sizeof chunk_sizes[0]; c++) {
        struct store_snapshot_job *job = store_snapshot_job_begin(tree, w->zxid, job_sessions, 2);
        assert_non_null(job);
        assert_int_equal(store_snapshot_job_zxid(job), w->zxid);
        struct jute_writer file;
        jute_writer_init(&file, SNAPSHOT_BYTES_MAX);
        size_t calls;
        assert_int_equal(stream_job(job, reader, &file, chunk_sizes[c], &calls), 0);
        if (chunk_sizes[c] == 1) {
            assert_true(calls > 100); /* one record per call */
        }
        assert_int_equal(file.size, expected.size);
        assert_memory_equal(file.data, expected.data, expected.size);
        /* a finished job stays finished */
        assert_int_equal(store_snapshot_job_next(job, reader, &file, 1), 0);
        assert_int_equal(file.size, expected.size);
        store_snapshot_job_free(job);
        jute_writer_free(&file);
    }
    /* chunks written out and dropped one by one (as the snapshotter does)
     * join up to the same file */
    struct store_snapshot_job *job = store_snapshot_job_begin(tree, w->zxid, job_sessions, 2);
    struct jute_writer chunk, joined;
    jute_writer_init(&chunk, SNAPSHOT_BYTES_MAX);
    jute_writer_init(&joined, SNAPSHOT_BYTES_MAX);
    int rc;
    do {
        jute_writer_reset(&chunk);
        rc = store_snapshot_job_next(job, reader, &chunk, 777);
        jute_write_raw(&joined, chunk.data, chunk.size);
    } while (rc == 1);
    assert_int_equal(rc, 0);
    assert_int_equal(joined.size, expected.size);
    assert_memory_equal(joined.data, expected.data, expected.size);
    store_snapshot_job_free(job);
    jute_writer_free(&chunk);
    jute_writer_free(&joined);
    /* a job begun and freed unstreamed leaks nothing (ASan) */
    store_snapshot_job_free(store_snapshot_job_begin(tree, w->zxid, job_sessions, 2));
    store_reader_offline(reader);
    jute_writer_free(&expected);
    store_tree_destroy(tree);
    writer_free(w);
    free(w);
}

/* ---- single-threaded: the fuzzy rules, deterministically -------------------------- */

static void test_fuzzy_rules(void **state)
{
    (void)state;
    struct writer *w = calloc(1, sizeof *w);
    struct store_tree *tree = tree_new();
    writer_init(w, tree, 777);
    for (int i = 0; i < 300; i++) {
        writer_step(w);
    }
    int64_t zxid = w->zxid;
    struct store_snapshot_job *job = store_snapshot_job_begin(tree, zxid, job_sessions, 2);
    assert_non_null(job);
    struct jute_writer at_begin;
    write_whole(tree, &at_begin);
    /* after the job began: a new subtree, a new ACL on an old node */
    jute_writer_reset(&w->body);
    struct jute_create_request create = {jute_bytes_cstr("/late"), jute_bytes_cstr("x"),
                                         store_test_open_acl, ZK_CREATE_PERSISTENT};
    jute_create_request_encode(&w->body, &create);
    write_op(w, SESSION_A, ZK_OP_CREATE);
    jute_writer_reset(&w->body);
    create.path = jute_bytes_cstr("/late/child");
    jute_create_request_encode(&w->body, &create);
    write_op(w, SESSION_A, ZK_OP_CREATE);
    int old = 1;
    while (!w->nodes[old].live) {
        old++;
    }
    char id[] = "late:acl";
    struct jute_acl items[1] = {
        {ZK_PERM_READ, {{(const uint8_t *)"digest", 6}, {(const uint8_t *)id, 8}}}};
    struct jute_acl_vector acl = {1, items};
    jute_writer_reset(&w->body);
    struct jute_set_acl_request set_acl = {jute_bytes_cstr(w->nodes[old].path), acl, -1};
    jute_set_acl_request_encode(&w->body, &set_acl);
    write_op(w, SESSION_A, ZK_OP_SET_ACL);

    struct store_reader *reader = store_reader_register(tree);
    struct jute_writer file;
    jute_writer_init(&file, SNAPSHOT_BYTES_MAX);
    size_t calls;
    assert_int_equal(stream_job(job, reader, &file, 64, &calls), 0);
    store_reader_offline(reader);
    store_snapshot_job_free(job);

    struct canonical *c = canonical_parse(file.data, file.size, zxid);
    for (size_t i = 0; i < c->node_count; i++) {
        assert_true(strncmp(c->nodes[i].path, "/late", 5) != 0);
        if (strcmp(c->nodes[i].path, w->nodes[old].path) == 0) {
            /* the new list is not in the section: OPEN_ACL_UNSAFE */
            assert_string_equal(c->nodes[i].acl, "31,world,anyone;");
        }
    }
    /* the same sessions and ACL section as the tree had at the begin */
    struct canonical *b = canonical_parse(at_begin.data, at_begin.size, zxid);
    assert_int_equal(c->acl_count, b->acl_count);
    assert_int_equal(c->node_count, b->node_count);
    canonical_free(b);
    canonical_free(c);

    struct store_tree *replayed = load_and_replay(&file, w, zxid);
    struct jute_writer expected, actual;
    write_whole(tree, &expected);
    write_whole(replayed, &actual);
    struct canonical *x = canonical_parse(expected.data, expected.size, INT64_MAX);
    struct canonical *y = canonical_parse(actual.data, actual.size, INT64_MAX);
    assert_canonical_equal(x, y);
    canonical_free(x);
    canonical_free(y);
    jute_writer_free(&expected);
    jute_writer_free(&actual);
    jute_writer_free(&at_begin);
    jute_writer_free(&file);
    store_tree_destroy(replayed);
    store_tree_destroy(tree);
    writer_free(w);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_on_unchanging_tree_is_store_snapshot_write),
        cmocka_unit_test(test_fuzzy_rules),
        cmocka_unit_test(test_fuzzy_snapshot_replays_to_the_final_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
