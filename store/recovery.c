/* Crash recovery at startup: see store/recovery.h. */
#include "store/recovery.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_internal.h"
#include "store/txnlog.h"

/* "<dir>/<file name>" */
#define RECOVERY_PATH_BYTES_MAX 4096u
/* A path and what was wrong with it. */
#define RECOVERY_PROBLEM_BYTES (RECOVERY_PATH_BYTES_MAX + 512u)
/* A directory with more snapshot or log files than this is not a dataDir
 * ZooKeeper or Cheetah wrote; refuse it rather than grow without end. */
#define RECOVERY_DIR_FILES_MAX 1000000u
/* Session table: open addressing, load at most 1/2. */
#define RECOVERY_SESSION_SLOTS_MIN 64u

/* ---- small helpers ------------------------------------------------------ */

struct recovery {
    struct store_tree *tree;
    const struct store_recovery_options *options;
    struct store_recovery_result *result;
    char *error;
    size_t error_bytes;
};

__attribute__((format(printf, 2, 3))) static void log_line(struct recovery *recovery,
                                                           const char *format, ...)
{
    if (!recovery->options->log) {
        return;
    }
    char line[STORE_RECOVERY_LOG_LINE_BYTES];
    va_list args;
    va_start(args, format);
    vsnprintf(line, sizeof line, format, args);
    va_end(args);
    recovery->options->log(recovery->options->log_context, line);
}

__attribute__((format(printf, 2, 3))) static int fail(struct recovery *recovery,
                                                      const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(recovery->error, recovery->error_bytes, format, args);
    va_end(args);
    return -1;
}


static uint32_t zxid_epoch(int64_t zxid)
{
    return (uint32_t)((uint64_t)zxid >> 32);
}

/* Maps a whole file read-only (*data is NULL for an empty one); release it
 * with unmap_file. A log file is mostly preallocated zeros (64 MiB by
 * default), so mapping it costs far less than reading it into memory. */
static int read_file(const char *path, uint8_t **data, size_t *size, char *why, size_t why_bytes)
{
    *data = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_bytes, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(why, why_bytes, "cannot stat: %s", strerror(errno));
        close(fd);
        return -1;
    }
    size_t total = (size_t)st.st_size;
    if (total == 0) {
        close(fd);
        return 0;
    }
    void *mapped = mmap(NULL, total, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (mapped == MAP_FAILED) {
        snprintf(why, why_bytes, "cannot map %zu bytes: %s", total, strerror(errno));
        return -1;
    }
    madvise(mapped, total, MADV_SEQUENTIAL);
    *data = mapped;
    *size = total;
    return 0;
}

static void unmap_file(uint8_t *data, size_t size)
{
    if (data) {
        munmap(data, size);
    }
}

/* ---- directory listing ------------------------------------------------- */

struct data_file {
    int64_t zxid;
    char name[32];
};

struct file_list {
    struct data_file *files;
    size_t count;
    size_t capacity;
};

enum file_kind { FILE_SNAPSHOT, FILE_LOG };

static int file_list_add(struct file_list *list, const char *name, int64_t zxid)
{
    if (list->count == list->capacity) {
        if (list->capacity >= RECOVERY_DIR_FILES_MAX) {
            return -1;
        }
        size_t capacity = list->capacity ? list->capacity * 2 : 16;
        struct data_file *files = realloc(list->files, capacity * sizeof *files);
        if (!files) {
            return -1;
        }
        list->files = files;
        list->capacity = capacity;
    }
    struct data_file *file = &list->files[list->count++];
    file->zxid = zxid;
    snprintf(file->name, sizeof file->name, "%s", name);
    return 0;
}

static int compare_zxid_ascending(const void *a, const void *b)
{
    const struct data_file *x = a, *y = b;
    return x->zxid < y->zxid ? -1 : x->zxid > y->zxid;
}

/* The snapshot or log files of `dir`, sorted by zxid ascending. Names that
 * do not parse (ZooKeeper's Util.getZxidFromName gives -1) are left out. */
static int list_dir(struct recovery *recovery, const char *dir, enum file_kind kind,
                    struct file_list *list)
{
    DIR *handle = opendir(dir);
    if (!handle) {
        return fail(recovery, "%s: cannot list the directory: %s", dir, strerror(errno));
    }
    struct dirent *entry;
    int rc = 0;
    while ((entry = readdir(handle)) != NULL) {
        int64_t zxid;
        bool match = kind == FILE_SNAPSHOT ? store_snapshot_name_parse(entry->d_name, &zxid)
                                           : store_txnlog_parse_name(entry->d_name, &zxid);
        if (!match || strlen(entry->d_name) >= sizeof list->files[0].name) {
            continue;
        }
        if (file_list_add(list, entry->d_name, zxid) != 0) {
            rc = fail(recovery, "%s: too many %s files (more than %u) or out of memory", dir,
                      kind == FILE_SNAPSHOT ? "snapshot" : "log", RECOVERY_DIR_FILES_MAX);
            break;
        }
    }
    closedir(handle);
    if (rc == 0 && list->count > 1) {
        qsort(list->files, list->count, sizeof *list->files, compare_zxid_ascending);
    }
    return rc;
}

/* ---- the session table (FileTxnSnapLog's `sessions` map) ---------------- */

struct session_slot {
    int64_t session_id;
    int32_t timeout_ms;
    uint8_t state; /* 0 empty, 1 live, 2 removed */
};
struct session_table {
    struct session_slot *slots;
    uint32_t capacity; /* power of two */
    uint32_t live;
    uint32_t used; /* live + removed */
};

static uint32_t session_hash(int64_t session_id)
{
    uint64_t x = (uint64_t)session_id * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(x >> 32);
}

static struct session_slot *session_find(struct session_table *table, int64_t session_id,
                                         bool for_insert)
{
    uint32_t mask = table->capacity - 1;
    struct session_slot *reuse = NULL;
    for (uint32_t i = session_hash(session_id) & mask, probes = 0; probes < table->capacity;
         i = (i + 1) & mask, probes++) {
        struct session_slot *slot = &table->slots[i];
        if (slot->state == 0) {
            return for_insert ? (reuse ? reuse : slot) : NULL;
        }
        if (slot->state == 1 && slot->session_id == session_id) {
            return slot;
        }
        if (slot->state == 2 && !reuse) {
            reuse = slot;
        }
    }
    return for_insert ? reuse : NULL;
}

static void session_put(struct session_table *table, int64_t session_id, int32_t timeout_ms)
{
    if ((table->used + 1) * 2 > table->capacity) {
        struct session_table grown = {0};
        grown.capacity = table->capacity ? table->capacity * 2 : RECOVERY_SESSION_SLOTS_MIN;
        while (table->live * 4 > grown.capacity) {
            grown.capacity *= 2;
        }
        grown.slots = calloc(grown.capacity, sizeof *grown.slots);
        if (!grown.slots) {
            abort(); /* as the tree does on allocation failure */
        }
        for (uint32_t i = 0; i < table->capacity; i++) {
            if (table->slots[i].state == 1) {
                struct session_slot *slot = session_find(&grown, table->slots[i].session_id, true);
                *slot = table->slots[i];
                grown.live++;
                grown.used++;
            }
        }
        free(table->slots);
        *table = grown;
    }
    struct session_slot *slot = session_find(table, session_id, true);
    assert(slot);
    if (slot->state != 1) {
        if (slot->state == 0) {
            table->used++;
        }
        table->live++;
    }
    slot->session_id = session_id;
    slot->timeout_ms = timeout_ms;
    slot->state = 1;
}

static void session_remove(struct session_table *table, int64_t session_id)
{
    if (!table->capacity) {
        return;
    }
    struct session_slot *slot = session_find(table, session_id, false);
    if (slot) {
        slot->state = 2;
        table->live--;
    }
}

static bool session_contains(struct session_table *table, int64_t session_id)
{
    return table->capacity && session_find(table, session_id, false) != NULL;
}

/* ---- snapshots (FileSnap.deserialize) ----------------------------------- */

/* Loads the newest snapshot that parses. Returns 0 (result->snapshot_zxid
 * set, -1 when there is no snapshot file) or -1. */
static int load_snapshot(struct recovery *recovery, struct session_table *sessions)
{
    const char *dir = recovery->options->snap_dir;
    struct file_list list = {0};
    if (list_dir(recovery, dir, FILE_SNAPSHOT, &list) != 0) {
        free(list.files);
        return -1;
    }
    recovery->result->snapshot_zxid = -1;
    if (list.count == 0) {
        free(list.files);
        return 0;
    }
    char first_problem[RECOVERY_PROBLEM_BYTES] = "";
    size_t tried = 0;
    int rc = -1;
    for (size_t k = list.count; k-- > 0 && tried < STORE_RECOVERY_SNAPSHOTS_TRIED_MAX;) {
        const struct data_file *file = &list.files[k];
        tried++;
        char path[RECOVERY_PATH_BYTES_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, file->name);
        uint8_t *data;
        size_t size;
        char why[256];
        char problem[RECOVERY_PROBLEM_BYTES];
        if (read_file(path, &data, &size, why, sizeof why) != 0) {
            snprintf(problem, sizeof problem, "%s: %s", path, why);
        } else {
            struct store_snapshot_error parse_error = {0};
            const struct store_snapshot_visitor check_only = {0};
            if (store_snapshot_parse(data, size, &check_only, &parse_error)) {
                struct store_snapshot_session *loaded = NULL;
                size_t loaded_count = 0;
                struct store_snapshot_error load_error = {0};
                if (!store_snapshot_load(recovery->tree, data, size, &loaded, &loaded_count,
                                         &load_error)) {
                    /* The tree is partly loaded: no older snapshot can be
                     * tried in it. */
                    unmap_file(data, size);
                    free(loaded);
                    rc = fail(recovery,
                              "%s: offset %zu: %s; the snapshot is inconsistent: remove it so "
                              "an older snapshot is used, or restore this dataDir from a backup",
                              path, load_error.offset, load_error.message);
                    break;
                }
                unmap_file(data, size);
                for (size_t i = 0; i < loaded_count; i++) {
                    session_put(sessions, loaded[i].session_id, loaded[i].timeout_ms);
                }
                free(loaded);
                recovery->result->snapshot_zxid = file->zxid;
                log_line(recovery,
                         "loaded snapshot %s (zxid 0x%" PRIx64 ", %" PRId64 " nodes, %zu sessions)",
                         path, (uint64_t)file->zxid,
                         atomic_load(&store_tree_counters(recovery->tree)->node_count),
                         loaded_count);
                rc = 0;
                break;
            }
            unmap_file(data, size);
            snprintf(problem, sizeof problem, "%s: offset %zu: %s", path, parse_error.offset,
                     parse_error.message);
        }
        if (!first_problem[0]) {
            snprintf(first_problem, sizeof first_problem, "%s", problem);
        }
        log_line(recovery, "problem reading snapshot %s; trying an older snapshot", problem);
    }
    if (rc != 0 && !recovery->error[0]) {
        rc = fail(recovery,
                  "%s: none of the %zu newest snapshots can be read (newest: %s); restore this "
                  "dataDir from a backup",
                  dir, tried, first_problem);
    }
    free(list.files);
    return rc;
}

/* ---- logs (getLogFiles, FileTxnIterator, fastForwardFromEdits) --------- */

struct torn_tail {
    char path[RECOVERY_PATH_BYTES_MAX];
    uint64_t offset_bytes;
    uint64_t file_bytes;
    int64_t last_good_zxid; /* -1: none in that file */
    const char *reason;
};

struct replay {
    struct session_table *sessions;
    int64_t base_zxid;     /* entries above this are applied */
    int64_t previous_zxid; /* last entry read from any log; -1 before the first */
    int64_t last_zxid;     /* last applied (or the snapshot's) */
    bool applied_any;
    struct store_apply_result apply_result;
    struct torn_tail *torn;
    size_t torn_count;
};

/* FileTxnLog.getLogFiles: the newest log starting at or before the
 * snapshot, and every later one. Returns the index of the first. */
static size_t first_log_needed(const struct file_list *logs, int64_t snapshot_zxid)
{
    int64_t log_zxid = 0;
    for (size_t i = 0; i < logs->count; i++) {
        if (logs->files[i].zxid > snapshot_zxid) {
            break;
        }
        if (logs->files[i].zxid > log_zxid) {
            log_zxid = logs->files[i].zxid;
        }
    }
    size_t first = 0;
    while (first < logs->count && logs->files[first].zxid < log_zxid) {
        first++;
    }
    return first;
}

/* Zxids only go up; inside one epoch (upper 32 bits) they go up by one. An
 * entry the snapshot does not cover must follow the previous entry, or the
 * snapshot itself when the entries before it are older (a log the
 * snapshot made unnecessary may be gone). A new epoch may start anywhere. */
static int check_order(struct recovery *recovery, struct replay *replay, const char *path,
                       const struct store_txnlog_entry *entry)
{
    int64_t zxid = entry->header.zxid;
    int64_t previous = replay->previous_zxid;
    if (previous >= 0 && zxid <= previous) {
        return fail(recovery,
                    "%s: offset %" PRIu64 ": zxid 0x%" PRIx64 " does not follow 0x%" PRIx64
                    " (zxids must increase); the logs are inconsistent: restore this "
                    "dataDir from a backup",
                    path, entry->offset_bytes, (uint64_t)zxid, (uint64_t)previous);
    }
    int64_t expected_after = previous;
    bool after_snapshot = false;
    if (zxid > replay->base_zxid && previous < replay->base_zxid) {
        expected_after = replay->base_zxid;
        after_snapshot = recovery->result->snapshot_zxid >= 0;
    }
    if (expected_after < 0 || zxid_epoch(zxid) != zxid_epoch(expected_after) ||
        zxid == expected_after + 1) {
        return 0;
    }
    return fail(recovery,
                "%s: offset %" PRIu64 ": zxid 0x%" PRIx64 " follows %s0x%" PRIx64
                ": transactions 0x%" PRIx64 "..0x%" PRIx64
                " are missing from the logs; restore this dataDir from a backup (recovering "
                "without them would lose acknowledged writes)",
                path, entry->offset_bytes, (uint64_t)zxid,
                after_snapshot ? "the snapshot at " : "", (uint64_t)expected_after,
                (uint64_t)(expected_after + 1), (uint64_t)(zxid - 1));
}

/* FileTxnSnapLog.processTransaction for one entry. */
static int replay_entry(struct recovery *recovery, struct replay *replay, const char *path,
                        const struct store_txnlog_entry *entry)
{
    if (store_apply(recovery->tree, entry->txn, NULL, &replay->apply_result) != ZK_OK) {
        return fail(recovery,
                    "%s: offset %" PRIu64 ": transaction 0x%" PRIx64
                    " (%s) does not decode; the log is corrupt: restore this dataDir from a "
                    "backup",
                    path, entry->offset_bytes, (uint64_t)entry->header.zxid,
                    store_txnlog_type_name(entry->header.type));
    }
    int64_t session_id = entry->header.client_id;
    if (entry->header.type == ZK_OP_CREATE_SESSION) {
        struct jute_reader reader;
        size_t size = (size_t)entry->txn.len;
        jute_reader_init(&reader, entry->txn.ptr + STORE_TXNLOG_TXN_HEADER_BYTES,
                         size - STORE_TXNLOG_TXN_HEADER_BYTES);
        struct jute_create_session_txn txn;
        if (!jute_create_session_txn_decode(&reader, NULL, &txn)) {
            return fail(recovery,
                        "%s: offset %" PRIu64 ": createSession 0x%" PRIx64
                        " has no CreateSessionTxn; the log is corrupt: restore this dataDir "
                        "from a backup",
                        path, entry->offset_bytes, (uint64_t)entry->header.zxid);
        }
        session_put(replay->sessions, session_id, txn.time_out);
    } else if (entry->header.type == ZK_OP_CLOSE_SESSION) {
        session_remove(replay->sessions, session_id);
    }
    replay->applied_any = true;
    replay->last_zxid = entry->header.zxid;
    recovery->result->transactions_replayed++;
    return 0;
}

static void note_torn(struct replay *replay, const char *path, uint64_t offset_bytes,
                      uint64_t file_bytes, int64_t last_good_zxid, const char *reason)
{
    struct torn_tail *torn = &replay->torn[replay->torn_count++];
    snprintf(torn->path, sizeof torn->path, "%s", path);
    torn->offset_bytes = offset_bytes;
    torn->file_bytes = file_bytes;
    torn->last_good_zxid = last_good_zxid;
    torn->reason = reason;
}

static bool all_zero(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (data[i] != 0) {
            return false;
        }
    }
    return true;
}

static int replay_file(struct recovery *recovery, struct replay *replay, const char *path)
{
    uint8_t *data;
    size_t size;
    char why[256];
    if (read_file(path, &data, &size, why, sizeof why) != 0) {
        return fail(recovery, "%s: %s; fix the file's permissions or restore this dataDir",
                    path, why);
    }
    recovery->result->log_files_read++;
    uint32_t maxbuffer = recovery->options->jute_maxbuffer_bytes
                             ? recovery->options->jute_maxbuffer_bytes
                             : JUTE_MAXBUFFER_DEFAULT_BYTES;
    if (size > 0 && all_zero(data, size)) {
        /* Created and preallocated, but the crash came before its first
         * write (header and first entries) reached the disk: no data to
         * lose. Emptied like a torn tail; the zxid checks still catch a
         * later file that does not follow on. */
        note_torn(replay, path, 0, size, -1, "all zeros: created, never written");
        unmap_file(data, size);
        return 0;
    }
    struct store_txnlog_reader reader;
    enum store_txnlog_status status = store_txnlog_reader_init(&reader, data, size, maxbuffer);
    int64_t file_last_zxid = -1;
    int rc = 0;
    while (status == STORE_TXNLOG_ENTRY) {
        struct store_txnlog_entry entry;
        status = store_txnlog_next(&reader, &entry);
        if (status != STORE_TXNLOG_ENTRY) {
            break;
        }
        if (check_order(recovery, replay, path, &entry) != 0) {
            rc = -1;
            break;
        }
        replay->previous_zxid = entry.header.zxid;
        file_last_zxid = entry.header.zxid;
        if (entry.header.zxid > replay->base_zxid &&
            replay_entry(recovery, replay, path, &entry) != 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && status == STORE_TXNLOG_CORRUPT) {
        int64_t good = replay->previous_zxid;
        rc = fail(recovery,
                  "%s: offset %" PRIu64 ": %s; the log is corrupt: restore this dataDir from a "
                  "backup, or remove this file and every later log (transactions after zxid "
                  "0x%" PRIx64 " would be lost)",
                  path, reader.end_offset_bytes, reader.reason,
                  (uint64_t)(good >= 0 ? good : 0));
    }
    if (rc == 0 && status == STORE_TXNLOG_END_TORN) {
        note_torn(replay, path, reader.end_offset_bytes, size, file_last_zxid, reader.reason);
    }
    unmap_file(data, size);
    return rc;
}

/* Truncates the torn tails, once nothing else can fail the recovery. */
static int truncate_torn_tails(struct recovery *recovery, const struct replay *replay)
{
    for (size_t i = 0; i < replay->torn_count; i++) {
        const struct torn_tail *torn = &replay->torn[i];
        int fd = open(torn->path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ftruncate(fd, (off_t)torn->offset_bytes) != 0 || fsync(fd) != 0) {
            int saved = errno;
            if (fd >= 0) {
                close(fd);
            }
            return fail(recovery,
                        "%s: offset %" PRIu64 ": cannot truncate the torn final record: %s; "
                        "make the file writable",
                        torn->path, torn->offset_bytes, strerror(saved));
        }
        close(fd);
        char last_good[40];
        if (torn->last_good_zxid >= 0) {
            snprintf(last_good, sizeof last_good, "0x%" PRIx64, (uint64_t)torn->last_good_zxid);
        } else {
            snprintf(last_good, sizeof last_good, "none in this file");
        }
        log_line(recovery,
                 "%s: offset %" PRIu64 ": torn final record (%s) truncated (file was %" PRIu64
                 " bytes); last good transaction in the file: %s",
                 torn->path, torn->offset_bytes, torn->reason, torn->file_bytes, last_good);
        recovery->result->truncated_torn_tail = true;
    }
    return 0;
}

static int replay_logs(struct recovery *recovery, struct session_table *sessions)
{
    const char *dir = recovery->options->log_dir;
    struct file_list logs = {0};
    if (list_dir(recovery, dir, FILE_LOG, &logs) != 0) {
        free(logs.files);
        return -1;
    }
    int64_t snapshot_zxid = recovery->result->snapshot_zxid;
    struct replay replay = {
        .sessions = sessions,
        .base_zxid = snapshot_zxid >= 0 ? snapshot_zxid : 0,
        .previous_zxid = -1,
        .last_zxid = snapshot_zxid >= 0 ? snapshot_zxid : 0,
    };
    store_apply_result_init(&replay.apply_result);
    replay.torn = calloc(logs.count ? logs.count : 1, sizeof *replay.torn);
    if (!replay.torn) {
        abort();
    }
    int rc = 0;
    for (size_t i = first_log_needed(&logs, snapshot_zxid); i < logs.count; i++) {
        char path[RECOVERY_PATH_BYTES_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, logs.files[i].name);
        if (replay_file(recovery, &replay, path) != 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && snapshot_zxid < 0 && replay.applied_any) {
        log_line(recovery,
                 "no snapshot in %s but log entries up to zxid 0x%" PRIx64
                 ": replayed them from an empty tree (ZooKeeper 3.8 refuses to start here: "
                 "\"No snapshot found, but there are log entries\")",
                 recovery->options->snap_dir, (uint64_t)replay.last_zxid);
    }
    if (rc == 0) {
        rc = truncate_torn_tails(recovery, &replay);
    }
    if (rc == 0) {
        recovery->result->last_zxid = replay.last_zxid;
    }
    store_apply_result_free(&replay.apply_result);
    free(replay.torn);
    free(logs.files);
    return rc;
}

/* ---- ZooKeeperServer.loadData: dead sessions' ephemerals --------------- */

static int kill_dead_sessions(struct recovery *recovery, struct session_table *sessions)
{
    struct store_tree *tree = recovery->tree;
    /* Sessions that own ephemerals: live slots of the tree's map (a
     * tombstone's set pointer is not what a lookup of its id returns). */
    size_t dead_count = 0;
    int64_t *dead = calloc(tree->ephemerals.count ? tree->ephemerals.count : 1, sizeof *dead);
    if (!dead) {
        abort();
    }
    for (uint32_t i = 0; i < tree->ephemerals.capacity; i++) {
        const struct store_session_entry *entry = &tree->ephemerals.slots[i];
        if (!entry->paths || store_tree_ephemerals(tree, entry->session_id) != entry->paths) {
            continue;
        }
        if (!session_contains(sessions, entry->session_id) && dead_count < tree->ephemerals.count) {
            dead[dead_count++] = entry->session_id;
        }
    }
    int rc = 0;
    struct store_txn txn;
    store_txn_init(&txn, JUTE_MAXBUFFER_DEFAULT_BYTES);
    struct store_apply_result result;
    store_apply_result_init(&result);
    int64_t zxid = recovery->result->last_zxid;
    for (size_t i = 0; i < dead_count; i++) {
        /* DataTree.killSession(session, lastProcessedZxid): a closeSession
         * without a path list deletes every ephemeral the session owns. */
        jute_writer_reset(&txn.bytes);
        store_txn_write_header(&txn, dead[i], 0, zxid, 0, ZK_OP_CLOSE_SESSION);
        if (!txn.bytes.ok ||
            store_apply(tree, jute_bytes_of(txn.bytes.data, (int32_t)txn.bytes.size), NULL,
                        &result) != ZK_OK) {
            rc = fail(recovery, "cannot delete the ephemerals of dead session 0x%" PRIx64,
                      (uint64_t)dead[i]);
            break;
        }
        recovery->result->dead_sessions_removed++;
        log_line(recovery,
                 "session 0x%" PRIx64 " owns ephemerals but is not in the session table: "
                 "deleted them (zxid 0x%" PRIx64 ")",
                 (uint64_t)dead[i], (uint64_t)zxid);
    }
    store_apply_result_free(&result);
    store_txn_free(&txn);
    free(dead);
    return rc;
}

static int export_sessions(struct store_recovery_result *result, const struct session_table *table)
{
    result->sessions = NULL;
    result->session_count = 0;
    if (table->live == 0) {
        return 0;
    }
    result->sessions = calloc(table->live, sizeof *result->sessions);
    if (!result->sessions) {
        abort();
    }
    for (uint32_t i = 0; i < table->capacity; i++) {
        if (table->slots[i].state == 1) {
            struct store_snapshot_session *out = &result->sessions[result->session_count++];
            out->session_id = table->slots[i].session_id;
            out->timeout_ms = table->slots[i].timeout_ms;
        }
    }
    assert(result->session_count == table->live);
    return 0;
}

int store_recover(struct store_tree *tree, const struct store_recovery_options *options,
                  struct store_recovery_result *result, char *error, size_t error_bytes)
{
    assert(tree && options && options->snap_dir && options->log_dir && result);
    memset(result, 0, sizeof *result);
    result->snapshot_zxid = -1;
    char scratch[8];
    if (!error || error_bytes == 0) {
        error = scratch;
        error_bytes = sizeof scratch;
    }
    error[0] = '\0';
    struct recovery recovery = {tree, options, result, error, error_bytes};
    struct session_table sessions = {0};
    int rc = load_snapshot(&recovery, &sessions);
    if (rc == 0) {
        store_tree_set_last_zxid(tree, result->snapshot_zxid >= 0 ? result->snapshot_zxid : 0);
        rc = replay_logs(&recovery, &sessions);
    }
    if (rc == 0) {
        rc = kill_dead_sessions(&recovery, &sessions);
    }
    if (rc == 0) {
        store_tree_set_last_zxid(tree, result->last_zxid);
        store_reclaim(tree);
        result->node_count = (uint64_t)atomic_load(&store_tree_counters(tree)->node_count);
        export_sessions(result, &sessions);
        char snapshot[24] = "none";
        if (result->snapshot_zxid >= 0) {
            snprintf(snapshot, sizeof snapshot, "0x%" PRIx64, (uint64_t)result->snapshot_zxid);
        }
        log_line(&recovery,
                 "recovered to zxid 0x%" PRIx64 ": snapshot %s, %" PRIu64
                 " transactions replayed from %" PRIu64 " log files, %" PRIu64
                 " nodes, %zu sessions",
                 (uint64_t)result->last_zxid, snapshot, result->transactions_replayed,
                 result->log_files_read, result->node_count, result->session_count);
    }
    free(sessions.slots);
    return rc;
}

void store_recovery_result_free(struct store_recovery_result *result)
{
    if (!result) {
        return;
    }
    free(result->sessions);
    result->sessions = NULL;
    result->session_count = 0;
}
