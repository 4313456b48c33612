/* The snapshot thread: writes fuzzy snapshots (store_snapshot_job_*) in the
 * background while the core goes on applying, and runs autopurge.
 *
 * The core begins a job on its own thread (store_snapshot_job_begin) and
 * hands it over with snapshotter_request, which never blocks: when a job is
 * still queued or running the request is refused, as ZooKeeper's
 * SyncRequestProcessor logs "Too busy to snap, skipping". The thread
 * streams the job into <snap_dir>/snapshot.<hex zxid>.tmp through io_uring,
 * fsyncs it, renames it to snapshot.<hex zxid> (AtomicFileOutputStream's
 * tmp + rename), fsyncs the directory and reports through `done`. On any
 * failure the .tmp is deleted and `done` says what failed and where.
 *
 * While a job streams, the thread is an ONLINE store reader: everything the
 * walk can reach stays alive, so the tree's memory reclamation is held back
 * for the length of the job. That is accepted: the job is bounded by the
 * tree's size, and the core never waits for it.
 *
 * Autopurge (DatadirCleanupManager): with purge_interval_hours > 0 the
 * thread runs store/purge's plan at start, then every interval, keeping
 * purge_retain_count (at least 3) snapshots and the logs they need. */
#ifndef CHEETAH_DATAPLANE_SNAPSHOTTER_H
#define CHEETAH_DATAPLANE_SNAPSHOTTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/snapshot.h"
#include "store/store.h"

/* Bytes the walk produces between two writes. */
#define SNAPSHOTTER_CHUNK_BYTES ((size_t)1 << 20)
/* The idle thread wakes at least this often (to notice a stop or a purge
 * that is due even if a wake-up were lost). */
#define SNAPSHOTTER_IDLE_WAIT_MS 1000

/* Called on the snapshot thread after each job. `message` is only valid
 * during the call. */
typedef void snapshotter_done_fn(void *context, int64_t zxid, bool ok, const char *message);
/* Called on the snapshot thread for each file autopurge deletes (ok) or
 * fails to delete, and once with path NULL when a purge cannot be planned
 * (message says why). */
typedef void snapshotter_purge_fn(void *context, const char *path, bool ok,
                                  const char *message);

struct snapshotter_config {
    struct store_tree *tree;
    const char *snap_dir;         /* <dataDir>/version-2 */
    const char *log_dir;          /* <dataLogDir>/version-2 */
    int32_t purge_retain_count;   /* autopurge.snapRetainCount (raised to 3) */
    int32_t purge_interval_hours; /* autopurge.purgeInterval, 0 = no purge */
    snapshotter_done_fn *done;    /* may be NULL */
    void *done_context;
    snapshotter_purge_fn *purged; /* may be NULL; every deletion is logged too */
    void *purged_context;
};

struct snapshotter;

/* Starts the thread and registers its store reader. NULL with `error` when
 * the reader, io_uring, memory or the thread cannot be had. */
struct snapshotter *snapshotter_create(const struct snapshotter_config *config, char *error,
                                       size_t error_bytes);
/* A job is queued or running. */
bool snapshotter_busy(struct snapshotter *snapshotter);
/* Takes ownership of `job` when true; false (job untouched) when busy. */
bool snapshotter_request(struct snapshotter *snapshotter, struct store_snapshot_job *job);
/* Waits until no job is queued or running; false on timeout. */
bool snapshotter_wait_idle(struct snapshotter *snapshotter, int32_t timeout_ms);
/* Abandons a running job (its .tmp is deleted) and a queued one, joins the
 * thread, frees everything. The reader stays registered, offline (the tree
 * has no way to unregister one). */
void snapshotter_destroy(struct snapshotter *snapshotter);

#endif
