/* The consensus core thread: runs the sequencer (the only writer of the
 * tree), fed by the shards' rings, and blocks in the kernel when idle.
 */
#ifndef CHEETAH_CORE_H
#define CHEETAH_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "consensus/sequencer.h"

struct core;
struct shard;
struct log_writer;
struct snapshotter;

/* Called once, on the core thread, when the log failed: the server must stop
 * (nothing after the failure was acknowledged). */
typedef void core_fatal_fn(void *context, const char *why);

struct core_storage {
    struct log_writer *log;         /* NULL: no log (writes commit at once) */
    struct snapshotter *snapshotter; /* NULL: no snapshots */
    int64_t snap_count;             /* snapCount: roll and snapshot after about this many */
    uint64_t random_seed;           /* for the roll point, as ZooKeeper's randRoll */
    core_fatal_fn *fatal;
    void *fatal_context;
};

struct core *core_create(struct store_tree *tree, const struct sequencer_config *config,
                         struct shard **shards, uint32_t shard_count);
/* Before core_run: where transactions go and snapshots are taken. The log
 * writer must wake the core through core_wake (log_writer_config.wake). */
void core_set_storage(struct core *core, const struct core_storage *storage);
/* Before core_run: a session that was open when the server stopped. */
void core_restore_session(struct core *core, int64_t session_id, int32_t timeout_ms);
/* Before core_run (or from the core thread): asks for a snapshot of the
 * committed tree (ZooKeeper takes one at startup). False when busy. */
bool core_request_snapshot(struct core *core);
void core_destroy(struct core *core);
/* The thread body: runs until core_stop. */
int core_run(struct core *core);
void core_stop(struct core *core);
/* Thread-safe and cheap: wakes the core if it sleeps. */
void core_wake(struct core *core);
/* Read by four-letter words from any thread. */
int64_t core_last_zxid(const struct core *core);
int64_t core_session_count(const struct core *core);

#endif
