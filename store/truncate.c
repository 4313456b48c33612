/* Cutting the log and snapshots back for ZAB's TRUNC and SNAP: see
 * store/truncate.h. */
#include "store/truncate.h"

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

#include "store/snapshot.h"
#include "store/txnlog.h"

/* "<dir>/<file name>" */
#define TRUNCATE_PATH_BYTES_MAX 4096u
/* The length limit the log walk uses: the largest a jute buffer can be
 * (its length is an int), so a log written under any jute.maxbuffer is cut,
 * never refused. The reader adds STORE_TXNLOG_EXTRA_BUFFER_BYTES. */
#define TRUNCATE_RECORD_BYTES_MAX ((uint32_t)INT32_MAX - STORE_TXNLOG_EXTRA_BUFFER_BYTES)

__attribute__((format(printf, 3, 4))) static int fail(char *error, size_t error_bytes,
                                                      const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(error, error_bytes, format, args);
    va_end(args);
    return -1;
}

/* ---- directory listing ------------------------------------------------- */

struct named_file {
    int64_t zxid; /* from the name; -1 when it does not parse */
    char *name;   /* owned */
};

struct file_list {
    struct named_file *files;
    size_t count;
    size_t capacity;
};

enum file_match {
    MATCH_LOG,        /* log.<hex>: store_txnlog_parse_name */
    MATCH_SNAPSHOT,   /* snapshot.<hex>: store_snapshot_name_parse */
    MATCH_LOG_PREFIX, /* any "log.*", parsed or not */
};

static void file_list_free(struct file_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->files[i].name);
    }
    free(list->files);
    list->files = NULL;
    list->count = list->capacity = 0;
}

static bool file_list_add(struct file_list *list, const char *name, int64_t zxid)
{
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 16;
        struct named_file *files = realloc(list->files, capacity * sizeof *files);
        if (!files) {
            return false;
        }
        list->files = files;
        list->capacity = capacity;
    }
    char *copy = strdup(name);
    if (!copy) {
        return false;
    }
    list->files[list->count++] = (struct named_file){zxid, copy};
    return true;
}

static int compare_zxid_ascending(const void *a, const void *b)
{
    const struct named_file *x = a, *y = b;
    if (x->zxid != y->zxid) {
        return x->zxid < y->zxid ? -1 : 1;
    }
    return strcmp(x->name, y->name);
}

/* Whether `name` is one of the files wanted, and its zxid. */
static bool name_matches(const char *name, enum file_match match, int64_t *zxid)
{
    *zxid = -1;
    switch (match) {
    case MATCH_LOG:
        return store_txnlog_parse_name(name, zxid);
    case MATCH_SNAPSHOT:
        return store_snapshot_name_parse(name, zxid);
    case MATCH_LOG_PREFIX:
        if (strncmp(name, "log.", 4) != 0) {
            return false;
        }
        if (!store_txnlog_parse_name(name, zxid)) {
            *zxid = -1;
        }
        return true;
    }
    return false;
}

/* The matching files of `dir`, sorted by zxid ascending (names that do not
 * parse first). */
static int list_dir(const char *dir, enum file_match match, struct file_list *list, char *error,
                    size_t error_bytes)
{
    DIR *handle = opendir(dir);
    if (!handle) {
        return fail(error, error_bytes,
                    "%s: cannot list the directory: %s; check that it exists and is readable",
                    dir, strerror(errno));
    }
    int rc = 0;
    struct dirent *entry;
    while ((entry = readdir(handle)) != NULL) {
        int64_t zxid;
        if (!name_matches(entry->d_name, match, &zxid)) {
            continue;
        }
        if (list->count >= STORE_TRUNCATE_DIR_FILES_MAX ||
            !file_list_add(list, entry->d_name, zxid)) {
            rc = fail(error, error_bytes,
                      "%s: more than %u files or out of memory; this is not a dataDir "
                      "ZooKeeper or Cheetah wrote",
                      dir, STORE_TRUNCATE_DIR_FILES_MAX);
            break;
        }
    }
    closedir(handle);
    if (rc == 0 && list->count > 1) {
        qsort(list->files, list->count, sizeof *list->files, compare_zxid_ascending);
    }
    return rc;
}

static int path_of(char *out, const char *dir, const char *name, char *error, size_t error_bytes)
{
    int written = snprintf(out, TRUNCATE_PATH_BYTES_MAX, "%s/%s", dir, name);
    if (written < 0 || (size_t)written >= TRUNCATE_PATH_BYTES_MAX) {
        return fail(error, error_bytes, "%s/%s: path longer than %u bytes", dir, name,
                    TRUNCATE_PATH_BYTES_MAX);
    }
    return 0;
}

/* Makes the deletions (and a cut file's new size) in `dir` durable. */
static int fsync_dir(const char *dir, char *error, size_t error_bytes)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return fail(error, error_bytes, "%s: cannot open the directory to fsync it: %s", dir,
                    strerror(errno));
    }
    int rc = 0;
    if (fsync(fd) != 0) {
        rc = fail(error, error_bytes,
                  "%s: cannot fsync the directory: %s; the deletions may not survive a crash: "
                  "check the disk and run the truncation again",
                  dir, strerror(errno));
    }
    close(fd);
    return rc;
}

static void note_removed(struct store_removed_files *removed, const char *name)
{
    if (removed->listed < STORE_TRUNCATE_NAMES_LISTED_MAX) {
        snprintf(removed->names[removed->listed], STORE_TRUNCATE_NAME_BYTES, "%s", name);
        removed->listed++;
    }
    removed->count++;
}

/* Deletes list->files[from..count) newest first (a crash half way leaves
 * the older ones: still a prefix of the history), then fsyncs the
 * directory if anything went. A file already gone counts as deleted. */
static int remove_newest_first(const char *dir, const struct file_list *list, size_t from,
                               struct store_removed_files *removed, char *error,
                               size_t error_bytes)
{
    for (size_t i = list->count; i-- > from;) {
        char path[TRUNCATE_PATH_BYTES_MAX];
        if (path_of(path, dir, list->files[i].name, error, error_bytes) != 0) {
            return -1;
        }
        if (unlink(path) != 0 && errno != ENOENT) {
            return fail(error, error_bytes,
                        "%s: cannot delete: %s; make %s writable and run the truncation again "
                        "(%zu older files of the set were not deleted yet)",
                        path, strerror(errno), dir, i - from);
        }
        note_removed(removed, list->files[i].name);
    }
    return list->count > from ? fsync_dir(dir, error, error_bytes) : 0;
}

/* ---- reading a log file -------------------------------------------------- */

struct mapped_file {
    uint8_t *data; /* NULL for an empty file */
    size_t size;
};

static int map_file(const char *path, struct mapped_file *file, char *error, size_t error_bytes)
{
    file->data = NULL;
    file->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return fail(error, error_bytes, "%s: cannot open: %s; check its permissions", path,
                    strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        return fail(error, error_bytes, "%s: cannot stat: %s", path, strerror(saved));
    }
    if (st.st_size == 0) {
        close(fd);
        return 0;
    }
    void *mapped = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int saved = errno;
    close(fd);
    if (mapped == MAP_FAILED) {
        return fail(error, error_bytes, "%s: cannot map %" PRIu64 " bytes: %s", path,
                    (uint64_t)st.st_size, strerror(saved));
    }
    /* A log is mostly preallocated zeros; only its front is read. */
    madvise(mapped, (size_t)st.st_size, MADV_SEQUENTIAL);
    file->data = mapped;
    file->size = (size_t)st.st_size;
    return 0;
}

static void unmap_file(struct mapped_file *file)
{
    if (file->data) {
        munmap(file->data, file->size);
    }
    file->data = NULL;
    file->size = 0;
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

/* What one log file holds up to `zxid`. */
struct log_scan {
    int64_t last_zxid_kept; /* last record <= zxid; -1: none */
    bool cut;               /* records (or a torn one) follow it */
    uint64_t cut_to_bytes;  /* where they start */
    uint64_t file_bytes;
};

/* Walks the records of `path` until the first one above `zxid` (all of
 * them with zxid INT64_MAX). Fails on a bad header or a corrupt record met
 * before that point; a torn final record is cut with what follows. A file
 * that is empty or all zeros (created, never written: recovery empties it)
 * holds nothing to cut. */
static int scan_log(const char *path, int64_t zxid, struct log_scan *scan, char *error,
                    size_t error_bytes)
{
    *scan = (struct log_scan){.last_zxid_kept = -1};
    struct mapped_file file;
    if (map_file(path, &file, error, error_bytes) != 0) {
        return -1;
    }
    scan->file_bytes = file.size;
    struct store_txnlog_reader reader;
    enum store_txnlog_status status =
        store_txnlog_reader_init(&reader, file.data, file.size, TRUNCATE_RECORD_BYTES_MAX);
    if (status == STORE_TXNLOG_CORRUPT && all_zero(file.data, file.size)) {
        unmap_file(&file);
        return 0;
    }
    struct store_txnlog_entry entry;
    while (status == STORE_TXNLOG_ENTRY) {
        status = store_txnlog_next(&reader, &entry);
        if (status != STORE_TXNLOG_ENTRY) {
            break;
        }
        if (entry.header.zxid > zxid) {
            scan->cut = true;
            scan->cut_to_bytes = entry.offset_bytes;
            break;
        }
        scan->last_zxid_kept = entry.header.zxid;
    }
    int rc = 0;
    if (status == STORE_TXNLOG_END_TORN) {
        /* Never fully written, so never acknowledged: recovery would cut it
         * too. */
        scan->cut = true;
        scan->cut_to_bytes = reader.end_offset_bytes;
    } else if (status == STORE_TXNLOG_CORRUPT) {
        rc = fail(error, error_bytes,
                  "%s: offset %" PRIu64 ": %s; the log is corrupt before the truncation point "
                  "0x%" PRIx64 ": nothing was changed; restore this dataDir from a backup or "
                  "let the follower fetch a snapshot (empty the log directory)",
                  path, reader.end_offset_bytes, reader.reason, (uint64_t)zxid);
    }
    unmap_file(&file);
    return rc;
}

/* The newest record of the files before index `before` (the newest file
 * that has one), for a holding file that keeps none; -1 when there is
 * none. Reads as far as each file reads: recovery reports damage there. */
static int64_t last_record_before(const char *dir, const struct file_list *logs, size_t before)
{
    for (size_t i = before; i-- > 0;) {
        char path[TRUNCATE_PATH_BYTES_MAX];
        char ignored[256];
        struct log_scan scan;
        if (path_of(path, dir, logs->files[i].name, ignored, sizeof ignored) == 0 &&
            scan_log(path, INT64_MAX, &scan, ignored, sizeof ignored) == 0 &&
            scan.last_zxid_kept >= 0) {
            return scan.last_zxid_kept;
        }
    }
    return -1;
}

static int cut_file(const char *path, uint64_t size_bytes, char *error, size_t error_bytes)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)size_bytes) != 0 || fsync(fd) != 0) {
        int saved = errno;
        if (fd >= 0) {
            close(fd);
        }
        return fail(error, error_bytes,
                    "%s: cannot cut the file to %" PRIu64 " bytes: %s; make it writable and run "
                    "the truncation again (the later log files are already deleted)",
                    path, size_bytes, strerror(saved));
    }
    close(fd);
    return 0;
}

/* ---- the three operations ------------------------------------------------ */

int store_log_truncate(const char *log_dir, int64_t zxid, struct store_truncate_result *result,
                       char *error, size_t error_bytes)
{
    assert(log_dir && result && error && error_bytes > 0);
    memset(result, 0, sizeof *result);
    result->last_zxid_kept = -1;
    error[0] = '\0';
    struct file_list logs = {0};
    if (list_dir(log_dir, MATCH_LOG, &logs, error, error_bytes) != 0) {
        file_list_free(&logs);
        return -1;
    }
    /* The file that holds zxid: the newest whose first zxid <= zxid. */
    size_t first_deleted = 0;
    while (first_deleted < logs.count && logs.files[first_deleted].zxid <= zxid) {
        first_deleted++;
    }
    /* Plan everything before changing anything. */
    struct log_scan scan = {.last_zxid_kept = -1};
    char holding_path[TRUNCATE_PATH_BYTES_MAX] = "";
    int rc = 0;
    if (first_deleted > 0) {
        size_t holding = first_deleted - 1;
        rc = path_of(holding_path, log_dir, logs.files[holding].name, error, error_bytes);
        if (rc == 0) {
            rc = scan_log(holding_path, zxid, &scan, error, error_bytes);
        }
        if (rc == 0) {
            result->last_zxid_kept = scan.last_zxid_kept >= 0
                                         ? scan.last_zxid_kept
                                         : last_record_before(log_dir, &logs, holding);
        }
    }
    /* Later files first: a cut that reached the disk before their deletion
     * would leave a hole recovery cannot always see. */
    if (rc == 0) {
        rc = remove_newest_first(log_dir, &logs, first_deleted, &result->deleted, error,
                                 error_bytes);
    }
    if (rc == 0 && scan.cut) {
        rc = cut_file(holding_path, scan.cut_to_bytes, error, error_bytes);
        if (rc == 0) {
            result->cut = true;
            snprintf(result->cut_name, sizeof result->cut_name, "%s",
                     logs.files[first_deleted - 1].name);
            result->cut_from_bytes = scan.file_bytes;
            result->cut_to_bytes = scan.cut_to_bytes;
        }
    }
    if (rc == 0) {
        rc = fsync_dir(log_dir, error, error_bytes);
    }
    file_list_free(&logs);
    return rc;
}

static void removed_init(struct store_removed_files *removed)
{
    memset(removed, 0, sizeof *removed);
}

int store_snapshots_remove_after(const char *snap_dir, int64_t zxid,
                                 struct store_removed_files *removed, char *error,
                                 size_t error_bytes)
{
    assert(snap_dir && removed && error && error_bytes > 0);
    removed_init(removed);
    error[0] = '\0';
    struct file_list snapshots = {0};
    int rc = list_dir(snap_dir, MATCH_SNAPSHOT, &snapshots, error, error_bytes);
    if (rc == 0) {
        size_t first_removed = 0;
        while (first_removed < snapshots.count && snapshots.files[first_removed].zxid <= zxid) {
            first_removed++;
        }
        rc = remove_newest_first(snap_dir, &snapshots, first_removed, removed, error,
                                 error_bytes);
    }
    file_list_free(&snapshots);
    return rc;
}

int store_logs_remove_all(const char *log_dir, struct store_removed_files *removed, char *error,
                          size_t error_bytes)
{
    assert(log_dir && removed && error && error_bytes > 0);
    removed_init(removed);
    error[0] = '\0';
    struct file_list logs = {0};
    int rc = list_dir(log_dir, MATCH_LOG_PREFIX, &logs, error, error_bytes);
    if (rc == 0) {
        rc = remove_newest_first(log_dir, &logs, 0, removed, error, error_bytes);
    }
    file_list_free(&logs);
    return rc;
}
