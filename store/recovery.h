/* Crash recovery at startup, as ZooKeeper 3.8 does it (FileTxnSnapLog.restore,
 * fastForwardFromEdits, FileTxnLog.getLogFiles, FileSnap.deserialize,
 * ZooKeeperServer.loadData), but stricter about corruption: a damaged log
 * or a hole in the zxids stops startup with a message naming the file, the
 * byte offset, what is wrong and what to do, instead of silently dropping
 * transactions. Only a torn final record (a write the crash cut short) is
 * repaired, by truncating the file, with a log line.
 *
 * store/ is pure logic; this file reads directories and files with plain
 * POSIX calls (and truncates torn tails). No threads.
 */
#ifndef CHEETAH_STORE_RECOVERY_H
#define CHEETAH_STORE_RECOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/snapshot.h"
#include "store/store.h"

/* FileSnap.deserialize tries at most this many snapshots, newest first. */
#define STORE_RECOVERY_SNAPSHOTS_TRIED_MAX 100u
/* One log line, formatted. */
#define STORE_RECOVERY_LOG_LINE_BYTES 1024u

/* One complete line, no newline. */
typedef void store_recovery_log_fn(void *context, const char *line);

struct store_recovery_options {
    const char *snap_dir; /* <dataDir>/version-2 (exists) */
    const char *log_dir;  /* <dataLogDir>/version-2 (exists; may equal snap_dir) */
    uint32_t jute_maxbuffer_bytes; /* 0: JUTE_MAXBUFFER_DEFAULT_BYTES */
    store_recovery_log_fn *log;
    void *log_context; /* may be NULL */
};

struct store_recovery_result {
    /* zxid of the snapshot loaded; -1 when none was found (tree left empty) */
    int64_t snapshot_zxid;
    /* last transaction applied (snapshot_zxid if no log entry followed; 0
     * for an empty dir); the tree's last_zxid counter equals it */
    int64_t last_zxid;
    uint64_t transactions_replayed;
    uint64_t log_files_read;
    uint64_t node_count; /* after recovery */
    bool truncated_torn_tail;
    /* Sessions that owned ephemerals but were no longer open: their
     * ephemerals were deleted without a logged transaction (as ZooKeeper's
     * loadData), so only a snapshot records it: take one before serving. */
    uint64_t dead_sessions_removed;
    /* live sessions (id, timeout) after replay, malloc'd */
    struct store_snapshot_session *sessions;
    size_t session_count;
};

/* Loads the newest snapshot that parses and whose seals check (one that
 * does not is logged and the next older one tried, up to 100), then replays
 * every log entry with zxid > snapshot zxid from the log files that can hold
 * them (getLogFiles: the newest log whose start zxid <= snapshot zxid, and
 * every later one), in zxid order, with store_apply; createSession /
 * closeSession entries add / remove sessions. Afterwards deletes the
 * ephemerals of sessions not in the session table (ZooKeeperServer.loadData)
 * and sets the tree's last_zxid to result->last_zxid.
 *
 * A torn final record of a log file is truncated (ftruncate + fsync, after
 * everything else succeeded) and logged. Any corrupt record, a snapshot dir
 * where no snapshot can be read, a zxid that goes backwards or a gap inside
 * one epoch returns -1 with `error` naming the file, the offset and what to
 * do; the tree may then be partly loaded and must be destroyed. A dataDir
 * with log entries and no snapshot is replayed from an empty tree (ZooKeeper
 * refuses it); empty dirs give snapshot_zxid -1, last_zxid 0.
 * `tree` is fresh from store_tree_create with no reader registered. */
int store_recover(struct store_tree *tree, const struct store_recovery_options *options,
                  struct store_recovery_result *result, char *error, size_t error_bytes);
void store_recovery_result_free(struct store_recovery_result *result);

#endif
