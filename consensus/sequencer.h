/* The sequencer: the consensus core's pure state machine for an ensemble of
 * one (standalone). It takes core_requests and ticks, and produces
 * shard_messages; it owns the session table and is the only writer of the
 * tree.
 *
 * A write: check the session, give the request the next zxid, turn it into a
 * transaction (store_prepare), commit it (a quorum of one: the commit step is
 * immediate until the durable log of issue 3 and the ZAB broadcast of issue 5
 * sit between prepare and apply), apply it (store_apply), encode the reply,
 * and hand every shard the commit's changes, the origin shard with the reply.
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

struct sequencer_output {
    /* Takes ownership of `message`. Called in commit order per shard. */
    void (*deliver)(void *context, uint32_t shard_index, struct shard_message *message);
    void *context;
};

struct sequencer_counters {
    int64_t last_zxid;
    int64_t session_count;
    int64_t transactions_committed;
};

/* now_elapsed_ms is a monotonic clock (session ids are made from it, as
 * ZooKeeper's SessionTrackerImpl makes them). Returns NULL on allocation
 * failure or invalid config. */
struct sequencer *sequencer_create(struct store_tree *tree, const struct sequencer_config *config,
                                   const struct sequencer_output *output, int64_t now_elapsed_ms);
void sequencer_destroy(struct sequencer *sequencer);

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
