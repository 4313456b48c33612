/* Autopurge: ZooKeeper's PurgeTxnLog.purge(dataDir, snapDir, num) as a
 * plan, so the rule can be tested on names alone and the caller deletes.
 *
 * The rule (PurgeTxnLog.purge, FileSnap.findNValidSnapshots,
 * FileTxnSnapLog.getSnapshotLogs, FileTxnLog.getLogFiles):
 *  - the `retain_count` newest valid snapshots are kept (newest by the zxid
 *    in the name; a name that does not parse as "snapshot.<hex>" is never
 *    one of them; the directory form also asks SnapStream.isValidSnapshot:
 *    at least 10 bytes, ending in the int 1 and '/');
 *  - with none kept nothing is deleted; otherwise let Z be the zxid of the
 *    oldest snapshot kept: every "log.*" file of the log directory whose
 *    name's zxid is >= the newest log zxid <= Z (0 if none) is kept, and so
 *    is every "snapshot.*" / "log.*" file whose name's zxid >= Z;
 *  - every other file named "snapshot.*" (snap dir) or "log.*" (log dir) is
 *    deleted, including names that do not parse (their zxid counts as -1).
 *  Files with other names are never touched. */
#ifndef CHEETAH_STORE_PURGE_H
#define CHEETAH_STORE_PURGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ZooKeeper's floor for autopurge.snapRetainCount. */
#define STORE_PURGE_RETAIN_COUNT_MIN 3
/* Bounds on a directory listing, so a directory full of junk cannot make
 * the purge allocate without end. */
#define STORE_PURGE_FILES_MAX 1000000u

struct store_purge_plan {
    char **delete_paths; /* owned; "<dir>/<name>", logs first, then snapshots */
    size_t delete_count;
};

/* The pure rule. `snapshot_valid[i]` says whether snapshot_names[i] passed
 * the content check (NULL: all did). Names are file names, not paths; the
 * plan's paths are "<snap_dir>/<name>" and "<log_dir>/<name>". Returns false
 * when out of memory (the plan is then empty). */
bool store_purge_plan_from_names(const char *snap_dir, const char *const *snapshot_names,
                                 const bool *snapshot_valid, size_t snapshot_count,
                                 const char *log_dir, const char *const *log_names,
                                 size_t log_count, int32_t retain_count,
                                 struct store_purge_plan *plan);

/* Lists `snap_dir` and `log_dir` (the version-2 directories), checks the
 * candidate snapshots' tails and makes the plan. Returns false with a
 * message in `error` when a directory cannot be read or memory runs out. */
bool store_purge_plan_make(const char *snap_dir, const char *log_dir, int32_t retain_count,
                           struct store_purge_plan *plan, char *error, size_t error_bytes);

void store_purge_plan_free(struct store_purge_plan *plan);

/* Util.getZxidFromName for any prefix: the zxid of "<prefix>.<hex>", or -1
 * when the name is not exactly that. */
int64_t store_purge_zxid_from_name(const char *name, const char *prefix);

#endif
