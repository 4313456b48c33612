/* The sequencer: the consensus core's pure state machine for an ensemble of
 * one (standalone). It takes core_requests and ticks, and produces
 * shard_messages; it owns the session table and is the only writer of the
 * tree.
 *
 * A write: check the session, give the request the next zxid, turn it into a
 * transaction (store_prepare), hand it to the log (output.log_append), and
 * queue it. When the log reports it durable (sequencer_durable: a quorum of
 * one; issue 5 puts the ZAB quorum there) it is committed: applied
 * (store_apply), its reply encoded, and every shard handed the commit's
 * changes, the origin shard with the reply. Prepares run ahead of the disk:
 * they validate against the tree plus the transactions still pending (the
 * store's outstanding changes), as ZooKeeper's PrepRequestProcessor does.
 *
 * Everything the sequencer sends, with or without a transaction, leaves in
 * the order the requests came (one FIFO), so a connection's replies stay in
 * its request order and a read of the commit pipeline (sync, getEphemerals)
 * sees every write queued before it.
 *
 * No threads, sockets or clocks: time arrives as arguments, output leaves
 * through `deliver`, so a test drives it step by step.
 */
#ifndef CHEETAH_SEQUENCER_H
#define CHEETAH_SEQUENCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consensus/pipeline.h"
#include "store/store.h"

struct sequencer;

struct sequencer_config {
    int64_t server_id;        /* myid; 0 standalone (ZooKeeper's standalone sid) */
    int32_t tick_ms;          /* session expiry granularity */
    uint32_t shard_count;
    uint32_t jute_maxbuffer_bytes;
    int64_t container_check_interval_ms; /* znode.container.checkIntervalMs */
    int32_t container_max_per_minute;    /* znode.container.maxPerMinute */
    size_t sessions_max;
};

/* Transactions prepared but not yet committed, and the messages queued
 * behind them. When the queue is full the core stops taking requests. */
#define SEQUENCER_PENDING_MAX 65536u

struct sequencer_output {
    /* Takes ownership of `message`. Called in commit order per shard. */
    void (*deliver)(void *context, uint32_t shard_index, struct shard_message *message);
    /* Hands a prepared transaction to the log, in zxid order. The record
     * stays the sequencer's: it frees it after the commit. NULL: no log
     * (unit tests): every transaction is durable at once. */
    void (*log_append)(void *context, struct log_record *record);
    void *context;
};

struct sequencer_counters {
    int64_t last_zxid;       /* last committed (applied) */
    int64_t session_count;
    int64_t transactions_committed;
};

/* now_elapsed_ms is a monotonic clock (session ids are made from it, as
 * ZooKeeper's SessionTrackerImpl makes them). Returns NULL on allocation
 * failure or invalid config. */
struct sequencer *sequencer_create(struct store_tree *tree, const struct sequencer_config *config,
                                   const struct sequencer_output *output, int64_t now_elapsed_ms);
void sequencer_destroy(struct sequencer *sequencer);

/* Sessions that were open when the server stopped (recovery): tracked
 * again with their timeouts, from now on. Call before any request. */
void sequencer_restore_session(struct sequencer *sequencer, int64_t session_id,
                               int32_t timeout_ms, int64_t now_elapsed_ms);

/* Attaches the log (before any request): see sequencer_output.log_append;
 * it is called with the output's context. */
void sequencer_set_log(struct sequencer *sequencer,
                       void (*log_append)(void *context, struct log_record *record));

/* The log is durable up to `zxid`: commits every pending transaction up to
 * it, in order, with the messages queued behind them. */
void sequencer_durable(struct sequencer *sequencer, int64_t zxid);

/* False when the pending queue is too full to take another request. */
bool sequencer_accepting(const struct sequencer *sequencer);

/* The open sessions and their timeouts, for a snapshot (malloc'd; the caller
 * frees it). NULL with *count_out 0 when there are none. */
struct store_snapshot_session;
struct store_snapshot_session *sequencer_sessions_copy(const struct sequencer *sequencer,
                                                       size_t *count_out);

/* Takes ownership of `request`. now_ms is the wall clock (txn time),
 * now_elapsed_ms the monotonic clock (expiry). */
void sequencer_handle(struct sequencer *sequencer, struct core_request *request, int64_t now_ms,
                      int64_t now_elapsed_ms);

/* Expires sessions and removes containers and TTL nodes that are due.
 * Returns the number of milliseconds until the next tick is useful. */
int64_t sequencer_tick(struct sequencer *sequencer, int64_t now_ms, int64_t now_elapsed_ms);

/* Frees tree versions no reader can see; call after each batch of requests. */
void sequencer_end_batch(struct sequencer *sequencer);

/* What `dump` prints of the sessions (owned by the caller). */
struct session_dump *sequencer_session_dump(struct sequencer *sequencer, int64_t now_elapsed_ms);

void sequencer_counters_get(const struct sequencer *sequencer, struct sequencer_counters *out);

/* Encodes a reply frame (length prefix, ReplyHeader, body) into `out` for an
 * applied write. Exposed for tests. */
bool sequencer_encode_write_reply(struct jute_writer *out, int32_t xid, int32_t opcode,
                                  const struct store_apply_result *result);

#endif
