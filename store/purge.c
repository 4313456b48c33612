/* Autopurge (PurgeTxnLog): which snapshots and logs to delete. See purge.h
 * for the rule. Only lists and reads directories; the caller deletes. */
#include "store/purge.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SNAPSHOT_PREFIX "snapshot"
#define LOG_PREFIX "log"
/* SnapStream.isValidCheckedStream: a file shorter than this is no snapshot. */
#define SNAPSHOT_VALID_BYTES_MIN 10
/* ... and it ends in the seal's "/" (int 1, byte '/'). */
#define SNAPSHOT_TAIL_BYTES 5

int64_t store_purge_zxid_from_name(const char *name, const char *prefix)
{
    size_t prefix_len = strlen(prefix);
    if (strncmp(name, prefix, prefix_len) != 0 || name[prefix_len] != '.') {
        return -1;
    }
    const char *hex = name + prefix_len + 1;
    size_t digits = strlen(hex);
    /* Long.parseLong(part, 16): at most a positive signed 64-bit value. */
    if (digits == 0 || digits > 16) {
        return -1;
    }
    uint64_t value = 0;
    for (size_t i = 0; i < digits; i++) {
        char c = hex[i];
        int nibble = c >= '0' && c <= '9'   ? c - '0'
                     : c >= 'a' && c <= 'f' ? c - 'a' + 10
                     : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                            : -1;
        if (nibble < 0) {
            return -1; /* also "snapshot.1f.tmp": split(".") has three parts */
        }
        value = value << 4 | (uint64_t)nibble;
    }
    return value > (uint64_t)INT64_MAX ? -1 : (int64_t)value;
}

static bool has_prefix_dot(const char *name, const char *prefix)
{
    size_t prefix_len = strlen(prefix);
    return strncmp(name, prefix, prefix_len) == 0 && name[prefix_len] == '.';
}

static bool plan_add(struct store_purge_plan *plan, size_t *capacity, const char *dir,
                     const char *name)
{
    if (plan->delete_count == *capacity) {
        size_t grown_capacity = *capacity ? *capacity * 2 : 16;
        char **grown = realloc(plan->delete_paths, grown_capacity * sizeof *grown);
        if (!grown) {
            return false;
        }
        plan->delete_paths = grown;
        *capacity = grown_capacity;
    }
    size_t bytes = strlen(dir) + 1 + strlen(name) + 1;
    char *path = malloc(bytes);
    if (!path) {
        return false;
    }
    snprintf(path, bytes, "%s/%s", dir, name);
    plan->delete_paths[plan->delete_count++] = path;
    return true;
}

static int compare_zxid_descending(const void *a, const void *b)
{
    int64_t left = *(const int64_t *)a;
    int64_t right = *(const int64_t *)b;
    return left > right ? -1 : left < right;
}

/* FileSnap.findNValidSnapshots: the zxid of the oldest of the `retain_count`
 * newest valid snapshots (Util.sortDataDir: by zxid, newest first), -1 when
 * there is none, -2 when out of memory. */
static int64_t oldest_retained_zxid(const char *const *names, const bool *valid, size_t count,
                                    int32_t retain_count)
{
    int64_t *zxids = malloc(sizeof *zxids * (count ? count : 1));
    if (!zxids) {
        return -2;
    }
    size_t valid_count = 0;
    for (size_t i = 0; i < count; i++) {
        int64_t zxid = store_purge_zxid_from_name(names[i], SNAPSHOT_PREFIX);
        if (zxid >= 0 && (!valid || valid[i])) {
            zxids[valid_count++] = zxid;
        }
    }
    int64_t oldest = -1;
    if (valid_count > 0 && retain_count > 0) {
        qsort(zxids, valid_count, sizeof zxids[0], compare_zxid_descending);
        size_t kept = (size_t)retain_count < valid_count ? (size_t)retain_count : valid_count;
        oldest = zxids[kept - 1];
    }
    free(zxids);
    return oldest;
}

/* FileTxnLog.getLogFiles(files, snapshot_zxid)'s cut: the newest log zxid
 * <= snapshot_zxid (0 when none); logs from it on are needed. */
static int64_t needed_log_zxid(const char *const *names, size_t count, int64_t snapshot_zxid)
{
    int64_t cut = 0;
    for (size_t i = 0; i < count; i++) {
        int64_t zxid = store_purge_zxid_from_name(names[i], LOG_PREFIX);
        if (zxid <= snapshot_zxid && zxid > cut) {
            cut = zxid;
        }
    }
    return cut;
}

void store_purge_plan_free(struct store_purge_plan *plan)
{
    for (size_t i = 0; i < plan->delete_count; i++) {
        free(plan->delete_paths[i]);
    }
    free(plan->delete_paths);
    plan->delete_paths = NULL;
    plan->delete_count = 0;
}

bool store_purge_plan_from_names(const char *snap_dir, const char *const *snapshot_names,
                                 const bool *snapshot_valid, size_t snapshot_count,
                                 const char *log_dir, const char *const *log_names,
                                 size_t log_count, int32_t retain_count,
                                 struct store_purge_plan *plan)
{
    plan->delete_paths = NULL;
    plan->delete_count = 0;
    int64_t least =
        oldest_retained_zxid(snapshot_names, snapshot_valid, snapshot_count, retain_count);
    if (least == -2) {
        return false;
    }
    if (least < 0) {
        return true; /* no valid snapshot: PurgeTxnLog deletes nothing */
    }
    int64_t log_cut = needed_log_zxid(log_names, log_count, least);
    size_t capacity = 0;
    for (size_t i = 0; i < log_count; i++) {
        if (!has_prefix_dot(log_names[i], LOG_PREFIX)) {
            continue;
        }
        int64_t zxid = store_purge_zxid_from_name(log_names[i], LOG_PREFIX);
        bool needed = zxid >= least || (zxid >= 0 && zxid >= log_cut);
        if (!needed && !plan_add(plan, &capacity, log_dir, log_names[i])) {
            store_purge_plan_free(plan);
            return false;
        }
    }
    for (size_t i = 0; i < snapshot_count; i++) {
        if (!has_prefix_dot(snapshot_names[i], SNAPSHOT_PREFIX)) {
            continue;
        }
        int64_t zxid = store_purge_zxid_from_name(snapshot_names[i], SNAPSHOT_PREFIX);
        if (zxid < least && !plan_add(plan, &capacity, snap_dir, snapshot_names[i])) {
            store_purge_plan_free(plan);
            return false;
        }
    }
    return true;
}

/* ---- directories ------------------------------------------------------------ */

struct name_list {
    char **names;
    size_t count;
    size_t capacity;
};

static void name_list_free(struct name_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->names[i]);
    }
    free(list->names);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in `dir` that start with "<prefix>.", sorted. */
static bool list_dir(const char *dir, const char *prefix, struct name_list *list, char *error,
                     size_t error_bytes)
{
    DIR *handle = opendir(dir);
    if (!handle) {
        snprintf(error, error_bytes, "cannot list %s: %s", dir, strerror(errno));
        return false;
    }
    bool ok = true;
    struct dirent *entry;
    while (ok && (entry = readdir(handle)) != NULL) {
        if (!has_prefix_dot(entry->d_name, prefix)) {
            continue;
        }
        if (list->count == STORE_PURGE_FILES_MAX) {
            snprintf(error, error_bytes, "%s: more than %u %s files", dir,
                     STORE_PURGE_FILES_MAX, prefix);
            ok = false;
            break;
        }
        if (list->count == list->capacity) {
            size_t capacity = list->capacity ? list->capacity * 2 : 32;
            char **grown = realloc(list->names, capacity * sizeof *grown);
            if (!grown) {
                ok = false;
                break;
            }
            list->names = grown;
            list->capacity = capacity;
        }
        char *name = strdup(entry->d_name);
        if (!name) {
            ok = false;
            break;
        }
        list->names[list->count++] = name;
    }
    closedir(handle);
    if (!ok && error[0] == '\0') {
        snprintf(error, error_bytes, "out of memory listing %s", dir);
    }
    if (ok && list->count) {
        qsort(list->names, list->count, sizeof list->names[0], compare_names);
    }
    return ok;
}

/* SnapStream.isValidSnapshot for an unsuffixed (checked) stream. */
static bool snapshot_file_valid(const char *dir, const char *name)
{
    if (store_purge_zxid_from_name(name, SNAPSHOT_PREFIX) < 0) {
        return false;
    }
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        return false;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    bool valid = false;
    off_t size = lseek(fd, 0, SEEK_END);
    uint8_t tail[SNAPSHOT_TAIL_BYTES];
    if (size >= SNAPSHOT_VALID_BYTES_MIN &&
        pread(fd, tail, sizeof tail, size - SNAPSHOT_TAIL_BYTES) == (ssize_t)sizeof tail) {
        valid = tail[0] == 0 && tail[1] == 0 && tail[2] == 0 && tail[3] == 1 && tail[4] == '/';
    }
    close(fd);
    return valid;
}

bool store_purge_plan_make(const char *snap_dir, const char *log_dir, int32_t retain_count,
                           struct store_purge_plan *plan, char *error, size_t error_bytes)
{
    plan->delete_paths = NULL;
    plan->delete_count = 0;
    error[0] = '\0';
    struct name_list snapshots = {0};
    struct name_list logs = {0};
    bool *valid = NULL;
    bool ok = list_dir(snap_dir, SNAPSHOT_PREFIX, &snapshots, error, error_bytes) &&
              list_dir(log_dir, LOG_PREFIX, &logs, error, error_bytes);
    if (ok) {
        valid = malloc(sizeof *valid * (snapshots.count ? snapshots.count : 1));
        ok = valid != NULL;
    }
    if (ok) {
        for (size_t i = 0; i < snapshots.count; i++) {
            valid[i] = snapshot_file_valid(snap_dir, snapshots.names[i]);
        }
        ok = store_purge_plan_from_names(snap_dir, (const char *const *)snapshots.names, valid,
                                         snapshots.count, log_dir,
                                         (const char *const *)logs.names, logs.count,
                                         retain_count, plan);
    }
    if (!ok && error[0] == '\0') {
        snprintf(error, error_bytes, "out of memory planning the purge of %s", snap_dir);
    }
    free(valid);
    name_list_free(&snapshots);
    name_list_free(&logs);
    return ok;
}
