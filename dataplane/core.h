/* The consensus core thread: runs the sequencer (the only writer of the
 * tree), fed by the shards' rings, and blocks in the kernel when idle.
 */
#ifndef CHEETAH_CORE_H
#define CHEETAH_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "consensus/peer.h"
#include "consensus/sequencer.h"
#include "dataplane/log_writer.h"
#include "dataplane/peer_net.h"
#include "dataplane/snapshotter.h"

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
/* Before core_run, after core_set_storage: the quorum peer (consensus/peer.h)
 * that decides the server's role. Standalone (member_count 0) leads at once;
 * an ensemble gets its peer connections (dataplane/peer_net.c) on this
 * core's own io_uring. The configs are kept: after a TRUNC or a SNAP from
 * the leader the core rebuilds the tree from disk and starts a new log
 * writer and snapshot thread on it. */
struct core_ensemble {
    int64_t my_id;                          /* 0 standalone */
    const struct election_member *members;  /* member_count of them */
    const struct peer_net_member *net_members;
    size_t member_count;
    int32_t tick_ms;
    int32_t init_limit_ticks;
    int32_t sync_limit_ticks;
    int64_t accepted_epoch;
    int64_t current_epoch;
    int64_t last_logged_zxid;               /* what recovery found */
    const char *config_text;                /* quorum verifier text (NEWLEADER) */
    bool standalone_enabled;                /* zoo.cfg standaloneEnabled (reconfig's minimum) */
    /* zoo.cfg, where an activated configuration is persisted
     * (zoo.cfg.dynamic.<version>, dataplane/dynamic_config.h) when
     * reconfigEnabled; "" or NULL: not persisted. */
    const char *static_config_path;
    bool listen_on_all_ips;
    const char *snap_dir;                   /* <dataDir>/version-2 (epoch files too) */
    const char *log_dir;                    /* <dataLogDir>/version-2 */
    struct store_config store_config;       /* for trees rebuilt from disk */
    struct log_writer_config log_config;
    struct snapshotter_config snapshotter_config;
};
int core_start_peer(struct core *core, const struct core_ensemble *ensemble, char *error,
                    size_t error_bytes);
/* The log writer and snapshot thread in use (the core may have replaced
 * them): the server stops them at shutdown, after core_run returned. */
struct log_writer *core_log_writer(struct core *core);
struct snapshotter *core_snapshotter(struct core *core);
/* The tree the core writes now (after core_run returned). */
struct store_tree *core_tree(struct core *core);
/* Thread-safe: the peer's state as last published by the core. */
void core_peer_status(struct core *core, struct peer_status *out);
/* Thread-safe: the active configuration's text ("" standalone). */
void core_config_text(struct core *core, char *out, size_t out_bytes);

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
/* The tree's node count, ephemerals and data bytes as last published. */
void core_tree_counters(struct core *core, int64_t *node_count, int64_t *ephemeral_count,
                        int64_t *approximate_data_bytes);

#endif
