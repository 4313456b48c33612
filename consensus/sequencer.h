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
struct store_snapshot_session;

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
 * it is called with `context`. In an ensemble the quorum peer sits here: it
 * logs the transaction and proposes it to the followers. */
void sequencer_set_log(struct sequencer *sequencer,
                       void (*log_append)(void *context, struct log_record *record),
                       void *context);

/* ---- replication (issue 5) ------------------------------------------------
 *
 * The sequencer runs in one of three modes. LEADER (standalone too, the
 * ensemble of one) prepares every write, as above; the log hook proposes it
 * and sequencer_durable is called once a quorum has it. LEARNER (follower,
 * observer) prepares nothing: a client's write goes to the leader through
 * `forward`, and the transactions the leader commits come back through
 * sequencer_apply_committed, which applies them and answers this server's
 * clients whose request they carry (matched by session and cxid, in the
 * order the requests came). IDLE (between roles) serves nobody: every
 * shard was told to close its clients (SHARD_MESSAGE_SERVING false). */
enum sequencer_mode {
    SEQUENCER_LEADER = 0,
    SEQUENCER_LEARNER = 1,
    SEQUENCER_IDLE = 2,
};

struct sequencer_replication {
    /* Learner: a client's request for the leader (REQUEST packet): session,
     * cxid, opcode, body after the RequestHeader, the client's auth ids. */
    void (*forward)(void *context, int64_t session_id, int32_t cxid, int32_t opcode,
                    const uint8_t *body, size_t body_bytes, const struct store_auth *auth);
    /* Learner: a reconnecting client's session, to check with the leader. */
    void (*revalidate)(void *context, int64_t session_id, int32_t timeout_ms);
    /* Leader: a learner's sync reached its turn (every write before it is
     * committed): send the learner SYNC. */
    void (*learner_sync)(void *context, int64_t learner_id);
    /* Leader: a client's reconfig (store_prepare_input.reconfig). */
    store_reconfig_fn reconfig;
    void *context;
};
void sequencer_set_replication(struct sequencer *sequencer,
                               const struct sequencer_replication *replication);

enum sequencer_mode sequencer_mode(const struct sequencer *sequencer);

/* Starts leading epoch `epoch` (0: standalone, zxids go on from the tree's):
 * the next transaction gets zxid (epoch, 1); every known session is tracked
 * again from now, as ZooKeeper's leader does with the sessions it loaded;
 * shards are told to serve. */
void sequencer_lead(struct sequencer *sequencer, int64_t epoch, int64_t now_elapsed_ms);

/* Starts serving as a learner (after UPTODATE). */
void sequencer_follow(struct sequencer *sequencer);

/* Ends the role: shards close their clients (SHARD_MESSAGE_SERVING false,
 * before anything else the role end sends), every pending transaction is
 * applied without a reply (ZooKeeper's fastForwardDataBase: what is in the
 * log is in the tree; the next leader truncates what it does not have), and
 * everything else pending is dropped. Call only once the log is durable up
 * to every transaction handed to it. */
void sequencer_stop_serving(struct sequencer *sequencer);
/* The first half of sequencer_stop_serving, at once when a role ends: the
 * shards close their clients and new requests are refused; what is
 * pending waits for the log (then sequencer_stop_serving). */
void sequencer_pause(struct sequencer *sequencer);

/* Leader: a request a learner forwarded (REQUEST). Its reply is the
 * learner's job; an error the leader would answer without a transaction is
 * logged as an ErrorTxn instead, so the learner sees its outcome. */
void sequencer_handle_learner_request(struct sequencer *sequencer, int64_t learner_id,
                                      int64_t session_id, int32_t cxid, int32_t opcode,
                                      const uint8_t *body, size_t body_bytes,
                                      const struct store_auth *auth, int64_t now_ms,
                                      int64_t now_elapsed_ms);
/* Leader: a learner reports a session alive (PING). */
void sequencer_touch_session(struct sequencer *sequencer, int64_t session_id, int32_t timeout_ms,
                             int64_t now_elapsed_ms);
/* Leader: REVALIDATE from a learner. True when the session lives. */
bool sequencer_revalidate_session(struct sequencer *sequencer, int64_t session_id,
                                  int32_t timeout_ms, int64_t now_elapsed_ms);

/* Learner: a transaction the leader committed, in zxid order: the record
 * the learner logged (TxnHeader + record; it stays the caller's). Returns
 * ZK_OK or ZK_MARSHALLINGERROR. */
int sequencer_apply_committed(struct sequencer *sequencer, const struct log_record *record);
/* Learner: the leader's SYNC for our oldest sync in flight. */
void sequencer_sync_reached(struct sequencer *sequencer);
/* Learner: the leader's answer to a revalidate. */
void sequencer_revalidated(struct sequencer *sequencer, int64_t session_id, bool valid);
/* Learner: sessions its clients touched since the last call (for PING),
 * at most `out_max`; returns how many. */
size_t sequencer_take_touches(struct sequencer *sequencer, int64_t *session_ids_out,
                              int32_t *timeouts_ms_out, size_t out_max);

/* Writes a snapshot file (store/snapshot.h format) of the committed tree
 * and the sessions into `out`, for a learner's SNAP. False when `out` ran
 * past its limit. */
bool sequencer_write_snapshot(struct sequencer *sequencer, struct jute_writer *out);

/* Replaces the tree (after a SNAP from the leader or a truncation reload):
 * the sequencer now writes `tree`, starts from its last zxid, and knows
 * exactly `sessions`. IDLE only. The old tree is the caller's to free once
 * no reader uses it. */
void sequencer_replace_tree(struct sequencer *sequencer, struct store_tree *tree,
                            const struct store_snapshot_session *sessions, size_t session_count,
                            int64_t now_elapsed_ms);

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
