/* Cutting the on-disk history back when a follower syncs with a new leader
 * (ZAB's TRUNC and SNAP), in ZooKeeper's dataDir format.
 *
 * TRUNC(zxid) (ZooKeeper: Learner.syncWithLeader -> ZKDatabase.truncateLog
 * -> FileTxnSnapLog.truncateLog -> FileTxnLog.truncate): the follower logged
 * transactions the new leader never had; every logged transaction after
 * zxid must go, so that neither the next start nor a later DIFF replays it.
 * store_log_truncate does that to the log directory and
 * store_snapshots_remove_after to the snapshot directory: a snapshot holds
 * every transaction up to its zxid, so one above zxid holds dropped ones and
 * must not be loaded at the next start. (ZooKeeper 3.8's truncateLog leaves
 * such snapshots in place and reloads the database from the newest one;
 * Cheetah deletes them instead.)
 *
 * SNAP: the follower takes the leader's snapshot at zxid Z and writes it as
 * snapshot.<Z>. Its own logs may hold a different history after Z (and the
 * zxid checks of recovery cannot tell a new epoch's transactions from a
 * stale one's), so once that snapshot is durable, store_logs_remove_all
 * empties the log directory and the log starts afresh at log.<Z+1>.
 *
 * Crash safety: each function leaves, at every step, a directory recovery
 * reads as a consistent prefix of the old history, so running it again
 * after a crash finishes the job. store_log_truncate deletes the later log
 * files newest first and makes the deletions durable (directory fsync)
 * before it cuts the file holding zxid: a cut that reached the disk with
 * later files still present would leave a hole that recovery, across an
 * epoch boundary, could not see.
 *
 * The caller keeps the log writer and the snapshotter idle on these
 * directories while a function runs (a file written or renamed meanwhile
 * is not seen).
 *
 * store/ is pure logic; this file lists, reads, cuts and deletes files with
 * plain POSIX calls. No threads.
 */
#ifndef CHEETAH_STORE_TRUNCATE_H
#define CHEETAH_STORE_TRUNCATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A directory with more log or snapshot files than this is not a dataDir
 * ZooKeeper or Cheetah wrote: refuse it rather than grow without end. */
#define STORE_TRUNCATE_DIR_FILES_MAX 1000000u
/* Names kept in a result (the count goes on beyond). */
#define STORE_TRUNCATE_NAMES_LISTED_MAX 8u
/* "snapshot." + 16 hex digits + NUL fits, and so does any "log.*" name a
 * result lists (longer ones are shortened in the list, not on disk). */
#define STORE_TRUNCATE_NAME_BYTES 32u

/* Files a function deleted, newest (highest zxid) first. */
struct store_removed_files {
    uint64_t count;  /* how many were deleted */
    uint32_t listed; /* min(count, STORE_TRUNCATE_NAMES_LISTED_MAX) */
    char names[STORE_TRUNCATE_NAMES_LISTED_MAX][STORE_TRUNCATE_NAME_BYTES];
};

struct store_truncate_result {
    struct store_removed_files deleted; /* log files whose first zxid > zxid */
    /* The file that held zxid, when records after zxid were cut from it
     * (cut_name empty and cut false otherwise). */
    bool cut;
    char cut_name[STORE_TRUNCATE_NAME_BYTES];
    uint64_t cut_from_bytes; /* its size before (records + preallocated zeros) */
    uint64_t cut_to_bytes;   /* its size now: just after the record kept last */
    /* The zxid of the newest log record left in the directory: zxid itself
     * when the log held it, lower when the log ended before zxid, -1 when no
     * log record is left at all. */
    int64_t last_zxid_kept;
};

/* Drops every logged transaction with a zxid above `zxid` from `log_dir`
 * (<dataLogDir>/version-2, files log.<hex first zxid>):
 *  - every log file whose first zxid is above zxid is deleted;
 *  - the file that holds zxid (the newest one whose first zxid <= zxid) is
 *    cut right after its last record <= zxid (ftruncate, so the
 *    preallocated zeros after the cut go as well, as in ZooKeeper's
 *    FileTxnLog.truncate) and fsync'd; when it holds no record above zxid
 *    it is left as it is (with its padding);
 *  - older files are not touched; the directory is fsync'd.
 * A torn final record (a write a crash cut short) in the file being cut is
 * cut with the records after zxid. A corrupt record at or before the cut,
 * or a bad file header, fails before anything is changed. Log records are
 * walked with the largest length jute allows, so logs written under a
 * larger jute.maxbuffer are cut, not refused. A directory with no log file
 * (for example zxid 0 on a fresh server) succeeds with nothing to do.
 * Returns 0, or -1 with `error` naming the file, what failed (with the
 * errno text) and what to do; the directory is then still a prefix of the
 * old history (see crash safety above). */
int store_log_truncate(const char *log_dir, int64_t zxid, struct store_truncate_result *result,
                       char *error, size_t error_bytes);

/* Deletes every snapshot.<z> file of `snap_dir` (<dataDir>/version-2) with
 * z > zxid, newest first, then fsyncs the directory. Other files (older
 * snapshots, snapshot.<z>.tmp, logs) are left alone. Returns 0, or -1 with
 * `error` as above. */
int store_snapshots_remove_after(const char *snap_dir, int64_t zxid,
                                 struct store_removed_files *removed, char *error,
                                 size_t error_bytes);

/* Deletes every "log.*" file of `log_dir`, newest first, then fsyncs the
 * directory. For after a SNAP: call it only once the snapshot that holds
 * everything before the new log is durable. Returns 0, or -1 with `error`
 * as above. */
int store_logs_remove_all(const char *log_dir, struct store_removed_files *removed, char *error,
                          size_t error_bytes);

#endif
