/* The C side of the microbenchmarks (see shim.h): setup in handles, one
 * unit of work per call. Compiled as C17 with the project's warnings. */
#include "bench/micro/shim.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "consensus/pipeline.h"
#include "consensus/sequencer.h"
#include "dataplane/log.h"
#include "dataplane/log_writer.h"
#include "dataplane/ring.h"
#include "jute/jute.h"
#include "jute/records.h"
#include "jute/zk_constants.h"
#include "store/store.h"
#include "store/txnlog.h"

#define MICRO_WRITER_LIMIT_BYTES (1u << 20)
#define MICRO_DATA_BYTES 100u
#define MICRO_PATH_BYTES 32u
/* Reads between two quiescent points of the benchmark's reader, and
 * writes between two reclaims: what the server's loops do per batch. */
#define MICRO_READS_PER_QUIESCENT 256u
#define MICRO_WRITES_PER_RECLAIM 64u
#define MICRO_SESSION_ID 0x1000000000LL
#define MICRO_NOW_MS 1700000000000LL

/* Data for every znode and transaction (zeros): up to 16 x 100 bytes. */
static const uint8_t micro_data[MICRO_DATA_BYTES * 16];

static const struct jute_acl micro_open_acl_items[] = {
    {ZK_PERM_ALL, {{(const uint8_t *)"world", 5}, {(const uint8_t *)"anyone", 6}}}};
static const struct jute_acl_vector micro_open_acl = {1, (struct jute_acl *)micro_open_acl_items};
static const struct store_auth micro_super_auth = {.is_super = true, .id_count = 0};

/* xorshift64: a cheap, repeatable sequence of node indexes. */
static uint64_t micro_next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

void micro_logs_warnings_only(void)
{
    log_set_level(LOG_LEVEL_WARN);
}

/* ---- store ---------------------------------------------------------------- */

struct micro_tree {
    enum micro_tree_shape shape;
    struct store_tree *tree;
    struct store_reader *reader;
    size_t node_count;
    char *paths; /* node_count paths of MICRO_PATH_BYTES each, NUL-padded */
    int64_t zxid;
    uint64_t random_state;
    uint64_t reads;
    uint64_t writes;
    uint64_t created; /* nodes made by micro_tree_create_next */
    struct store_txn txn;
    struct jute_writer body;
    struct store_change_list changes;
    struct store_apply_result result;
};

static const char *micro_tree_path(const struct micro_tree *tree, size_t index)
{
    return tree->paths + index * MICRO_PATH_BYTES;
}

static void micro_tree_format(enum micro_tree_shape shape, char *out, const char *prefix,
                              size_t index)
{
    if (shape == MICRO_TREE_FLAT) {
        snprintf(out, MICRO_PATH_BYTES, "/p%02zu/%s%07zu", index % MICRO_TREE_PARENTS, prefix,
                 index);
    } else {
        snprintf(out, MICRO_PATH_BYTES, "/wide/%s%07zu", prefix, index);
    }
}

/* Prepares and applies the request in tree->body; true when it succeeded. */
static bool micro_tree_write(struct micro_tree *tree, int32_t opcode)
{
    struct store_prepare_input input = {
        .session_id = MICRO_SESSION_ID,
        .cxid = (int32_t)tree->writes,
        .opcode = opcode,
        .body = jute_bytes_of(tree->body.data, (int32_t)tree->body.size),
        .auth = &micro_super_auth,
        .zxid = tree->zxid + 1,
        .now_ms = MICRO_NOW_MS + (int64_t)tree->writes,
    };
    if (store_prepare(tree->tree, &input, &tree->txn) != ZK_OK) {
        return false;
    }
    tree->zxid++;
    store_change_list_clear(&tree->changes);
    int status = store_apply(tree->tree,
                             jute_bytes_of(tree->txn.bytes.data, (int32_t)tree->txn.bytes.size),
                             &tree->changes, &tree->result);
    tree->writes++;
    if (tree->writes % MICRO_WRITES_PER_RECLAIM == 0) {
        store_reader_quiescent(tree->tree, tree->reader);
        store_reclaim(tree->tree);
    }
    return status == ZK_OK && tree->result.err == ZK_OK;
}

static bool micro_tree_create_path(struct micro_tree *tree, const char *path)
{
    jute_writer_reset(&tree->body);
    struct jute_create_request request = {jute_bytes_cstr(path),
                                          jute_bytes_of(micro_data, MICRO_DATA_BYTES),
                                          micro_open_acl, 0};
    jute_create_request_encode(&tree->body, &request);
    return tree->body.ok && micro_tree_write(tree, ZK_OP_CREATE);
}

struct micro_tree *micro_tree_build(enum micro_tree_shape shape, size_t node_count)
{
    struct micro_tree *tree = calloc(1, sizeof(*tree));
    if (tree == NULL) {
        return NULL;
    }
    tree->shape = shape;
    tree->node_count = node_count;
    tree->random_state = 0x9E3779B97F4A7C15ull;
    store_txn_init(&tree->txn, JUTE_MAXBUFFER_DEFAULT_BYTES);
    jute_writer_init(&tree->body, MICRO_WRITER_LIMIT_BYTES);
    store_change_list_init(&tree->changes);
    store_apply_result_init(&tree->result);
    struct store_config config = {
        .jute_maxbuffer_bytes = JUTE_MAXBUFFER_DEFAULT_BYTES,
        .config_node_text = "",
    };
    tree->tree = store_tree_create(&config);
    tree->paths = calloc(node_count > 0 ? node_count : 1, MICRO_PATH_BYTES);
    if (tree->tree == NULL || tree->paths == NULL) {
        micro_tree_destroy(tree);
        return NULL;
    }
    tree->reader = store_reader_register(tree->tree);
    bool ok = tree->reader != NULL;
    char parent[MICRO_PATH_BYTES];
    size_t parents = shape == MICRO_TREE_FLAT ? MICRO_TREE_PARENTS : 1;
    for (size_t index = 0; ok && index < parents; index++) {
        if (shape == MICRO_TREE_FLAT) {
            snprintf(parent, sizeof(parent), "/p%02zu", index);
        } else {
            snprintf(parent, sizeof(parent), "/wide");
        }
        ok = micro_tree_create_path(tree, parent);
    }
    for (size_t index = 0; ok && index < node_count; index++) {
        char *path = tree->paths + index * MICRO_PATH_BYTES;
        micro_tree_format(shape, path, "k", index);
        ok = micro_tree_create_path(tree, path);
    }
    store_reader_quiescent(tree->tree, tree->reader);
    store_reclaim(tree->tree);
    if (!ok) {
        micro_tree_destroy(tree);
        return NULL;
    }
    return tree;
}

void micro_tree_destroy(struct micro_tree *tree)
{
    if (tree == NULL) {
        return;
    }
    if (tree->reader != NULL) {
        store_reader_offline(tree->reader);
    }
    if (tree->tree != NULL) {
        store_tree_destroy(tree->tree);
    }
    free(tree->paths);
    store_txn_free(&tree->txn);
    jute_writer_free(&tree->body);
    store_change_list_free(&tree->changes);
    store_apply_result_free(&tree->result);
    free(tree);
}

size_t micro_tree_node_count(const struct micro_tree *tree)
{
    return tree->node_count;
}

static size_t micro_tree_pick(struct micro_tree *tree)
{
    return (size_t)(micro_next_random(&tree->random_state) % tree->node_count);
}

bool micro_tree_lookup_next(struct micro_tree *tree)
{
    const char *path = micro_tree_path(tree, micro_tree_pick(tree));
    struct store_node_view view;
    int64_t visible_zxid = 0;
    int status = store_lookup(tree->tree, jute_bytes_cstr(path), &view, &visible_zxid, NULL);
    tree->reads++;
    if (tree->reads % MICRO_READS_PER_QUIESCENT == 0) {
        store_reader_quiescent(tree->tree, tree->reader);
    }
    return status == ZK_OK && view.stat.data_length == (int32_t)MICRO_DATA_BYTES;
}

bool micro_tree_set_data_next(struct micro_tree *tree)
{
    const char *path = micro_tree_path(tree, micro_tree_pick(tree));
    jute_writer_reset(&tree->body);
    struct jute_set_data_request request = {jute_bytes_cstr(path),
                                            jute_bytes_of(micro_data, MICRO_DATA_BYTES), -1};
    jute_set_data_request_encode(&tree->body, &request);
    return tree->body.ok && micro_tree_write(tree, ZK_OP_SET_DATA);
}

bool micro_tree_create_next(struct micro_tree *tree)
{
    char path[MICRO_PATH_BYTES];
    micro_tree_format(tree->shape, path, "n", (size_t)tree->created);
    tree->created++;
    return micro_tree_create_path(tree, path);
}

/* ---- the transaction log --------------------------------------------------- */

struct micro_txn {
    struct store_txn txn;
};

struct micro_txn *micro_txn_create(size_t data_bytes)
{
    if (data_bytes > sizeof(micro_data)) {
        return NULL;
    }
    struct micro_txn *txn = calloc(1, sizeof(*txn));
    if (txn == NULL) {
        return NULL;
    }
    store_txn_init(&txn->txn, JUTE_MAXBUFFER_DEFAULT_BYTES);
    /* A setData txn, made the way the server makes it: on a tree holding the node. */
    struct micro_tree *tree = micro_tree_build(MICRO_TREE_FLAT, 1);
    bool ok = tree != NULL;
    if (ok) {
        jute_writer_reset(&tree->body);
        struct jute_set_data_request request = {jute_bytes_cstr(micro_tree_path(tree, 0)),
                                                jute_bytes_of(micro_data, (int32_t)data_bytes),
                                                -1};
        jute_set_data_request_encode(&tree->body, &request);
        struct store_prepare_input input = {
            .session_id = MICRO_SESSION_ID,
            .opcode = ZK_OP_SET_DATA,
            .body = jute_bytes_of(tree->body.data, (int32_t)tree->body.size),
            .auth = &micro_super_auth,
            .zxid = tree->zxid + 1,
            .now_ms = MICRO_NOW_MS,
        };
        ok = store_prepare(tree->tree, &input, &txn->txn) == ZK_OK &&
             txn->txn.type == ZK_OP_SET_DATA;
        micro_tree_destroy(tree);
    }
    if (!ok) {
        micro_txn_destroy(txn);
        return NULL;
    }
    return txn;
}

void micro_txn_destroy(struct micro_txn *txn)
{
    if (txn == NULL) {
        return;
    }
    store_txn_free(&txn->txn);
    free(txn);
}

const uint8_t *micro_txn_data(const struct micro_txn *txn)
{
    return txn->txn.bytes.data;
}

size_t micro_txn_bytes(const struct micro_txn *txn)
{
    return txn->txn.bytes.size;
}

/* Records in flight at most: a slot is reused only once durable covers it.
 * The server's sequencer has at most SEQUENCER_PENDING_MAX transactions
 * pending, which is what keeps log_writer_append from finding its ring full. */
#define MICRO_LOG_POOL_RECORDS SEQUENCER_PENDING_MAX
_Static_assert(MICRO_LOG_POOL_RECORDS <= LOG_WRITER_RING_ENTRIES,
               "more records in flight than the log writer's ring holds");
#define MICRO_LOG_PREALLOC_BYTES (64 * 1024 * 1024)
#define MICRO_LOG_WAIT_MS_MAX 30000
/* The TxnHeader's zxid: after clientId (8 bytes) and cxid (4). */
#define MICRO_LOG_ZXID_OFFSET 12u

struct micro_log {
    char dir[64];
    struct log_writer *writer;
    struct log_record *pool[MICRO_LOG_POOL_RECORDS];
    int64_t last_zxid; /* appended */
    pthread_mutex_t lock;
    pthread_cond_t woken;
};

static void micro_log_wake(void *context)
{
    struct micro_log *log = context;
    pthread_mutex_lock(&log->lock);
    pthread_cond_broadcast(&log->woken);
    pthread_mutex_unlock(&log->lock);
}

static void micro_log_remove_dir(const char *dir_path)
{
    DIR *dir = opendir(dir_path);
    if (dir != NULL) {
        struct dirent *entry;
        char path[512];
        while ((entry = readdir(dir)) != NULL) {
            if (entry->d_name[0] != '.') {
                snprintf(path, sizeof(path), "%s/%s", dir_path, entry->d_name);
                unlink(path);
            }
        }
        closedir(dir);
    }
    rmdir(dir_path);
}

struct micro_log *micro_log_start(bool force_sync)
{
    struct micro_log *log = calloc(1, sizeof(*log));
    if (log == NULL) {
        return NULL;
    }
    pthread_mutex_init(&log->lock, NULL);
    pthread_cond_init(&log->woken, NULL);
    snprintf(log->dir, sizeof(log->dir), "/tmp/cheetah-micro-log-XXXXXX");
    if (mkdtemp(log->dir) == NULL) {
        log->dir[0] = '\0';
        micro_log_stop(log);
        return NULL;
    }
    /* One real transaction (createSession) as the template of every record. */
    struct store_txn txn;
    store_txn_init(&txn, JUTE_MAXBUFFER_DEFAULT_BYTES);
    bool ok = store_prepare_create_session(&txn, MICRO_SESSION_ID, 30000, 1, MICRO_NOW_MS) ==
              ZK_OK;
    for (size_t index = 0; ok && index < MICRO_LOG_POOL_RECORDS; index++) {
        struct log_record *record = malloc(sizeof(*record) + txn.bytes.size);
        log->pool[index] = record;
        ok = record != NULL;
        if (ok) {
            record->zxid = 0;
            record->roll_before = false;
            record->txn_bytes = (uint32_t)txn.bytes.size;
            memcpy(record->txn, txn.bytes.data, txn.bytes.size);
        }
    }
    store_txn_free(&txn);
    if (ok) {
        struct log_writer_config config = {
            .log_dir = log->dir,
            .force_sync = force_sync,
            .prealloc_bytes = MICRO_LOG_PREALLOC_BYTES,
            .jute_maxbuffer_bytes = JUTE_MAXBUFFER_DEFAULT_BYTES,
            .wake = micro_log_wake,
            .wake_context = log,
        };
        char error[512];
        log->writer = log_writer_create(&config, error, sizeof(error));
        ok = log->writer != NULL;
        if (!ok) {
            fprintf(stderr, "cheetah-micro: log writer: %s\n", error);
        }
    }
    if (!ok) {
        micro_log_stop(log);
        return NULL;
    }
    return log;
}

/* Waits until durable reaches `zxid`; false when the writer failed or the
 * wait exceeded MICRO_LOG_WAIT_MS_MAX. */
static bool micro_log_wait_zxid(struct micro_log *log, int64_t zxid)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += MICRO_LOG_WAIT_MS_MAX / 1000;
    bool ok = true;
    pthread_mutex_lock(&log->lock);
    while (log_writer_durable_zxid(log->writer) < zxid) {
        if (log_writer_failed(log->writer, NULL, 0)) {
            ok = false;
            break;
        }
        /* A bounded wait: a wake that raced ahead of this wait is caught
         * on the next round. */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec > deadline.tv_sec ||
            (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec)) {
            ok = false;
            break;
        }
        struct timespec until = now;
        until.tv_nsec += 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&log->woken, &log->lock, &until);
    }
    pthread_mutex_unlock(&log->lock);
    return ok;
}

bool micro_log_append(struct micro_log *log)
{
    int64_t zxid = log->last_zxid + 1;
    struct log_record *record = log->pool[(size_t)zxid % MICRO_LOG_POOL_RECORDS];
    if (record->zxid != 0 && log_writer_durable_zxid(log->writer) < record->zxid &&
        !micro_log_wait_zxid(log, record->zxid)) {
        return false;
    }
    record->zxid = zxid;
    uint8_t zxid_be[8];
    for (int index = 0; index < 8; index++) {
        zxid_be[index] = (uint8_t)((uint64_t)zxid >> (56 - 8 * index));
    }
    memcpy(record->txn + MICRO_LOG_ZXID_OFFSET, zxid_be, sizeof(zxid_be));
    log_writer_append(log->writer, record);
    log->last_zxid = zxid;
    return true;
}

bool micro_log_wait_durable(struct micro_log *log)
{
    return micro_log_wait_zxid(log, log->last_zxid);
}

void micro_log_stats_get(const struct micro_log *log, struct micro_log_stats *out)
{
    struct log_writer_stats stats;
    log_writer_stats_get(log->writer, &stats);
    out->transactions = stats.transactions;
    out->batches = stats.batches;
    out->batch_transactions_max = stats.batch_transactions_max;
    out->bytes = stats.bytes;
}

void micro_log_stop(struct micro_log *log)
{
    if (log == NULL) {
        return;
    }
    if (log->writer != NULL) {
        log_writer_destroy(log->writer);
    }
    for (size_t index = 0; index < MICRO_LOG_POOL_RECORDS; index++) {
        free(log->pool[index]);
    }
    if (log->dir[0] != '\0') {
        micro_log_remove_dir(log->dir);
    }
    pthread_mutex_destroy(&log->lock);
    pthread_cond_destroy(&log->woken);
    free(log);
}

/* ---- the SPSC ring ------------------------------------------------------------ */

struct micro_ring {
    struct spsc_ring ring;
};

struct micro_ring *micro_ring_create(size_t capacity)
{
    struct micro_ring *ring = calloc(1, sizeof(*ring));
    if (ring != NULL && !spsc_ring_init(&ring->ring, capacity)) {
        micro_ring_destroy(ring);
        return NULL;
    }
    return ring;
}

void micro_ring_destroy(struct micro_ring *ring)
{
    if (ring == NULL) {
        return;
    }
    spsc_ring_destroy(&ring->ring);
    free(ring);
}

bool micro_ring_push(struct micro_ring *ring, void *item)
{
    return spsc_ring_push(&ring->ring, item);
}

void *micro_ring_pop(struct micro_ring *ring)
{
    return spsc_ring_pop(&ring->ring);
}
