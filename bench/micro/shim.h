/* The C side of the microbenchmarks, as plain functions a C++ file can call.
 *
 * store/store.h (and so dataplane/log_writer.h and consensus/pipeline.h,
 * which include it) and dataplane/ring.h use _Atomic members, which g++
 * rejects ("'_Atomic' does not name a type"), so the Google Benchmark
 * harness (C++) does not include them: it calls these functions instead,
 * and shim.c (compiled as C) calls the real code. The jute headers and
 * store/txnlog.h are valid C++ and are included directly (extern "C").
 * Each function does one unit of work the benchmark times; the setup
 * (trees, transactions, log writers, rings) lives in opaque handles.
 */
#ifndef CHEETAH_BENCH_MICRO_SHIM_H
#define CHEETAH_BENCH_MICRO_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The log writer logs a summary at INFO when it stops: the benchmarks keep
 * stderr to warnings and errors. */
void micro_logs_warnings_only(void);

/* ---- store: the data tree --------------------------------------------- */

enum micro_tree_shape {
    MICRO_TREE_FLAT = 0, /* nodes spread over MICRO_TREE_PARENTS parents */
    MICRO_TREE_WIDE = 1, /* every node a child of one parent */
};
#define MICRO_TREE_PARENTS 16u
struct micro_tree;
/* Builds a tree of `node_count` znodes (/pNN/k0000000 or /wide/k0000000)
 * through store_prepare + store_apply. NULL on failure. */
struct micro_tree *micro_tree_build(enum micro_tree_shape shape, size_t node_count);
void micro_tree_destroy(struct micro_tree *tree);
size_t micro_tree_node_count(const struct micro_tree *tree);
/* store_lookup of the next pseudo-random existing node (paths precomputed);
 * false when it is not found. Passes a quiescent point now and then. */
bool micro_tree_lookup_next(struct micro_tree *tree);
/* setData (100 bytes) on the next pseudo-random node: body encode,
 * store_prepare, store_apply, store_reclaim every few ops. */
bool micro_tree_set_data_next(struct micro_tree *tree);
/* create of a new node next to the existing ones (same parents). */
bool micro_tree_create_next(struct micro_tree *tree);

/* ---- the transaction log ---------------------------------------------- */

struct micro_txn;
/* A real setData transaction with `data_bytes` of data. */
struct micro_txn *micro_txn_create(size_t data_bytes);
void micro_txn_destroy(struct micro_txn *txn);
/* TxnHeader + record, as store_prepare made them. */
const uint8_t *micro_txn_data(const struct micro_txn *txn);
size_t micro_txn_bytes(const struct micro_txn *txn);

struct micro_log;
/* A log writer thread on a fresh mkdtemp directory under /tmp. Records are
 * createSession transactions, in a pool reused once durable. */
struct micro_log *micro_log_start(bool force_sync);
/* Appends the next record (waits if its pool slot is not durable yet). */
bool micro_log_append(struct micro_log *log);
/* Waits until every appended record is durable; false on failure/timeout. */
bool micro_log_wait_durable(struct micro_log *log);
struct micro_log_stats {
    uint64_t transactions;
    uint64_t batches;
    uint64_t batch_transactions_max;
    uint64_t bytes;
};
void micro_log_stats_get(const struct micro_log *log, struct micro_log_stats *out);
/* Stops the thread, frees the records and removes the directory. */
void micro_log_stop(struct micro_log *log);

/* ---- dataplane/ring.h: the SPSC ring ----------------------------------- */

struct micro_ring;
/* `capacity` a power of two. */
struct micro_ring *micro_ring_create(size_t capacity);
void micro_ring_destroy(struct micro_ring *ring);
bool micro_ring_push(struct micro_ring *ring, void *item);
void *micro_ring_pop(struct micro_ring *ring);

#ifdef __cplusplus
}
#endif

#endif
