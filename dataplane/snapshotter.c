/* The snapshot thread: fuzzy snapshots through io_uring, and autopurge.
 * See snapshotter.h. */
#include "dataplane/snapshotter.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/log.h"
#include "store/purge.h"

/* One write or fsync is in flight at a time: a small ring is enough. */
#define SNAPSHOTTER_URING_ENTRIES 4u
/* A chunk holds whole node records: SNAPSHOTTER_CHUNK_BYTES plus the last
 * record (a node's data is bounded by jute.maxbuffer) or the captured
 * header, sessions and ACL section. This only stops a runaway buffer. */
#define SNAPSHOTTER_BUFFER_BYTES_MAX ((size_t)1 << 32)
/* io_uring write lengths are unsigned; stay well inside. */
#define SNAPSHOTTER_WRITE_BYTES_MAX ((size_t)1 << 30)
#define SNAPSHOTTER_PATH_BYTES 4096u
/* room for two paths and an error text */
#define SNAPSHOTTER_MESSAGE_BYTES (2u * SNAPSHOTTER_PATH_BYTES + 256u)
#define MS_PER_HOUR (3600 * 1000ll)

struct snapshotter {
    struct store_tree *tree;
    char *snap_dir;
    char *log_dir;
    int32_t purge_retain_count;
    int32_t purge_interval_hours;
    snapshotter_done_fn *done;
    void *done_context;
    snapshotter_purge_fn *purged;
    void *purged_context;

    struct store_reader *reader; /* offline except while a job streams */
    struct io_uring uring;       /* the thread's only */
    struct jute_writer chunk;    /* the thread's only */
    pthread_t thread;

    pthread_mutex_t mutex;
    pthread_cond_t wake;  /* a job arrived, or stop */
    pthread_cond_t idle;  /* a job finished */
    struct store_snapshot_job *queued; /* under mutex */
    bool running;                      /* under mutex */
    bool stop;                         /* under mutex */
    _Atomic bool abandon;              /* read between chunks without the lock */
    int64_t next_purge_ms;             /* the thread's only; INT64_MAX: never */
};

static int64_t monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static struct timespec deadline_after_ms(int64_t ms)
{
    struct timespec at;
    clock_gettime(CLOCK_MONOTONIC, &at);
    at.tv_sec += (time_t)(ms / 1000);
    at.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (at.tv_nsec >= 1000000000L) {
        at.tv_sec++;
        at.tv_nsec -= 1000000000L;
    }
    return at;
}

/* ---- io_uring ------------------------------------------------------------ */

/* Submits the one prepared request and returns its result (-errno on
 * failure). */
static int uring_run(struct io_uring *uring)
{
    int submitted = io_uring_submit(uring);
    if (submitted < 0) {
        return submitted;
    }
    struct io_uring_cqe *cqe;
    int waited;
    do {
        waited = io_uring_wait_cqe(uring, &cqe);
    } while (waited == -EINTR);
    if (waited < 0) {
        return waited;
    }
    int result = cqe->res;
    io_uring_cqe_seen(uring, cqe);
    return result;
}

/* Writes all of `data` at `offset` (a short write goes on where it ended). */
static int uring_write_all(struct io_uring *uring, int fd, const uint8_t *data, size_t size,
                           uint64_t offset)
{
    while (size > 0) {
        size_t len = size < SNAPSHOTTER_WRITE_BYTES_MAX ? size : SNAPSHOTTER_WRITE_BYTES_MAX;
        struct io_uring_sqe *sqe = io_uring_get_sqe(uring);
        if (!sqe) {
            return -EBUSY;
        }
        io_uring_prep_write(sqe, fd, data, (unsigned)len, offset);
        int written = uring_run(uring);
        if (written < 0) {
            return written;
        }
        if (written == 0) {
            return -EIO;
        }
        data += written;
        size -= (size_t)written;
        offset += (uint64_t)written;
    }
    return 0;
}

static int uring_fsync(struct io_uring *uring, int fd)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(uring);
    if (!sqe) {
        return -EBUSY;
    }
    io_uring_prep_fsync(sqe, fd, 0);
    return uring_run(uring);
}

/* ---- one job -------------------------------------------------------------- */

struct job_paths {
    char tmp[SNAPSHOTTER_PATH_BYTES];
    char final[SNAPSHOTTER_PATH_BYTES];
};

static bool job_paths_make(const struct snapshotter *snapshotter, int64_t zxid,
                           struct job_paths *paths)
{
    char name[STORE_SNAPSHOT_NAME_BYTES];
    store_snapshot_name(zxid, name, sizeof name);
    int tmp = snprintf(paths->tmp, sizeof paths->tmp, "%s/%s.tmp", snapshotter->snap_dir, name);
    int final = snprintf(paths->final, sizeof paths->final, "%s/%s", snapshotter->snap_dir, name);
    return tmp > 0 && (size_t)tmp < sizeof paths->tmp && final > 0 &&
           (size_t)final < sizeof paths->final;
}

/* Streams the job into `fd`. The reader is online from the first chunk to
 * the last (the job's walk needs it) and offline when this returns.
 * Returns true, or false with `message`. */
static bool job_stream(struct snapshotter *snapshotter, struct store_snapshot_job *job, int fd,
                       const char *tmp_path, uint64_t *bytes_out, char *message,
                       size_t message_bytes)
{
    uint64_t offset = 0;
    bool ok = true;
    store_reader_online(snapshotter->tree, snapshotter->reader);
    for (;;) {
        jute_writer_reset(&snapshotter->chunk);
        int more = store_snapshot_job_next(job, snapshotter->reader, &snapshotter->chunk,
                                           SNAPSHOTTER_CHUNK_BYTES);
        if (more < 0) {
            snprintf(message, message_bytes, "cannot write %s: out of memory", tmp_path);
            ok = false;
            break;
        }
        int rc = uring_write_all(&snapshotter->uring, fd, snapshotter->chunk.data,
                                 snapshotter->chunk.size, offset);
        if (rc < 0) {
            snprintf(message, message_bytes, "cannot write %s: %s", tmp_path, strerror(-rc));
            ok = false;
            break;
        }
        offset += snapshotter->chunk.size;
        if (more == 0) {
            break;
        }
        if (atomic_load_explicit(&snapshotter->abandon, memory_order_relaxed)) {
            snprintf(message, message_bytes, "abandoned %s: shutting down", tmp_path);
            ok = false;
            break;
        }
    }
    /* Leave as soon as the walk is over: the fsync needs no tree. */
    store_reader_offline(snapshotter->reader);
    *bytes_out = offset;
    return ok;
}

/* fsyncs the directory so the rename survives a crash. */
static bool sync_directory(struct snapshotter *snapshotter, char *message, size_t message_bytes)
{
    int dir_fd = open(snapshotter->snap_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) {
        snprintf(message, message_bytes, "cannot open %s: %s", snapshotter->snap_dir,
                 strerror(errno));
        return false;
    }
    int rc = uring_fsync(&snapshotter->uring, dir_fd);
    close(dir_fd);
    if (rc < 0) {
        snprintf(message, message_bytes, "cannot fsync %s: %s", snapshotter->snap_dir,
                 strerror(-rc));
        return false;
    }
    return true;
}

/* Writes one snapshot file; returns true, or false with `message` (the
 * .tmp is then gone). */
static bool job_run(struct snapshotter *snapshotter, struct store_snapshot_job *job,
                    char *message, size_t message_bytes)
{
    int64_t zxid = store_snapshot_job_zxid(job);
    struct job_paths paths;
    if (!job_paths_make(snapshotter, zxid, &paths)) {
        snprintf(message, message_bytes, "snapshot path too long in %s", snapshotter->snap_dir);
        return false;
    }
    int fd = open(paths.tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(message, message_bytes, "cannot create %s: %s", paths.tmp, strerror(errno));
        return false;
    }
    uint64_t bytes = 0;
    bool ok = job_stream(snapshotter, job, fd, paths.tmp, &bytes, message, message_bytes);
    if (ok) {
        int rc = uring_fsync(&snapshotter->uring, fd);
        if (rc < 0) {
            snprintf(message, message_bytes, "cannot fsync %s: %s", paths.tmp, strerror(-rc));
            ok = false;
        }
    }
    if (close(fd) != 0 && ok) {
        snprintf(message, message_bytes, "cannot close %s: %s", paths.tmp, strerror(errno));
        ok = false;
    }
    if (ok && rename(paths.tmp, paths.final) != 0) {
        snprintf(message, message_bytes, "cannot rename %s to %s: %s", paths.tmp, paths.final,
                 strerror(errno));
        ok = false;
    }
    if (!ok) {
        unlink(paths.tmp); /* a failed snapshot leaves nothing behind */
        return false;
    }
    if (!sync_directory(snapshotter, message, message_bytes)) {
        return false; /* the file is complete; only its name may not last */
    }
    snprintf(message, message_bytes, "Snapshotting: 0x%" PRIx64 " to %s (%" PRIu64 " bytes)",
             (uint64_t)zxid, paths.final, bytes);
    return true;
}

static void job_finish(struct snapshotter *snapshotter, struct store_snapshot_job *job)
{
    char message[SNAPSHOTTER_MESSAGE_BYTES];
    int64_t zxid = store_snapshot_job_zxid(job);
    bool ok = job_run(snapshotter, job, message, sizeof message);
    store_snapshot_job_free(job);
    if (ok) {
        log_info("%s", message);
    } else {
        log_error("snapshot 0x%" PRIx64 " failed: %s", (uint64_t)zxid, message);
    }
    if (snapshotter->done) {
        snapshotter->done(snapshotter->done_context, zxid, ok, message);
    }
}

/* ---- autopurge ---------------------------------------------------------------- */

static void purge_report(struct snapshotter *snapshotter, const char *path, bool ok,
                         const char *message)
{
    if (snapshotter->purged) {
        snapshotter->purged(snapshotter->purged_context, path, ok, message);
    }
}

/* PurgeTxnLog.purge; a file that cannot be deleted is reported, and the
 * purge goes on. */
static void purge_run(struct snapshotter *snapshotter)
{
    struct store_purge_plan plan;
    char error[SNAPSHOTTER_MESSAGE_BYTES];
    if (!store_purge_plan_make(snapshotter->snap_dir, snapshotter->log_dir,
                               snapshotter->purge_retain_count, &plan, error, sizeof error)) {
        log_warn("autopurge: %s", error);
        purge_report(snapshotter, NULL, false, error);
        return;
    }
    for (size_t i = 0; i < plan.delete_count; i++) {
        const char *path = plan.delete_paths[i];
        char message[SNAPSHOTTER_MESSAGE_BYTES];
        if (unlink(path) == 0) {
            snprintf(message, sizeof message, "Removing file: %s", path);
            log_info("%s", message);
            purge_report(snapshotter, path, true, message);
        } else {
            snprintf(message, sizeof message, "Failed to remove %s: %s", path, strerror(errno));
            log_warn("%s", message);
            purge_report(snapshotter, path, false, message);
        }
    }
    store_purge_plan_free(&plan);
}

/* ---- the thread ------------------------------------------------------------------ */

static void *snapshotter_main(void *argument)
{
    struct snapshotter *snapshotter = argument;
    pthread_mutex_lock(&snapshotter->mutex);
    while (!snapshotter->stop) {
        if (snapshotter->queued) {
            struct store_snapshot_job *job = snapshotter->queued;
            snapshotter->queued = NULL;
            snapshotter->running = true;
            pthread_mutex_unlock(&snapshotter->mutex);
            job_finish(snapshotter, job);
            pthread_mutex_lock(&snapshotter->mutex);
            snapshotter->running = false;
            pthread_cond_broadcast(&snapshotter->idle);
            continue;
        }
        int64_t now_ms = monotonic_ms();
        if (now_ms >= snapshotter->next_purge_ms) {
            /* DatadirCleanupManager's timer: at a fixed rate from start */
            snapshotter->next_purge_ms += snapshotter->purge_interval_hours * MS_PER_HOUR;
            if (snapshotter->next_purge_ms <= now_ms) {
                snapshotter->next_purge_ms =
                    now_ms + snapshotter->purge_interval_hours * MS_PER_HOUR;
            }
            pthread_mutex_unlock(&snapshotter->mutex);
            purge_run(snapshotter);
            pthread_mutex_lock(&snapshotter->mutex);
            continue;
        }
        int64_t wait_ms = snapshotter->next_purge_ms - now_ms;
        if (wait_ms > SNAPSHOTTER_IDLE_WAIT_MS) {
            wait_ms = SNAPSHOTTER_IDLE_WAIT_MS;
        }
        struct timespec until = deadline_after_ms(wait_ms);
        pthread_cond_timedwait(&snapshotter->wake, &snapshotter->mutex, &until);
    }
    pthread_mutex_unlock(&snapshotter->mutex);
    return NULL;
}

/* ---- the API ---------------------------------------------------------------------- */

static bool cond_init_monotonic(pthread_cond_t *cond)
{
    pthread_condattr_t attributes;
    if (pthread_condattr_init(&attributes) != 0) {
        return false;
    }
    bool ok = pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC) == 0 &&
              pthread_cond_init(cond, &attributes) == 0;
    pthread_condattr_destroy(&attributes);
    return ok;
}

/* A crash in mid-snapshot leaves its snapshot.<zxid>.tmp behind (recovery
 * never reads it: the name does not parse); remove such leftovers at start
 * so they do not pile up. Bounded by the directory's size. */
static void remove_stale_tmp_files(const char *snap_dir)
{
    DIR *dir = opendir(snap_dir);
    if (!dir) {
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        size_t length = strlen(entry->d_name);
        if (length > 13 && strncmp(entry->d_name, "snapshot.", 9) == 0 &&
            strcmp(entry->d_name + length - 4, ".tmp") == 0) {
            if (unlinkat(dirfd(dir), entry->d_name, 0) == 0) {
                log_info("removed %s/%s, left by a snapshot that did not finish", snap_dir,
                         entry->d_name);
            }
        }
    }
    closedir(dir);
}

struct snapshotter *snapshotter_create(const struct snapshotter_config *config, char *error,
                                       size_t error_bytes)
{
    remove_stale_tmp_files(config->snap_dir);
    struct snapshotter *snapshotter = calloc(1, sizeof *snapshotter);
    if (!snapshotter) {
        snprintf(error, error_bytes, "out of memory for the snapshotter");
        return NULL;
    }
    snapshotter->tree = config->tree;
    snapshotter->snap_dir = strdup(config->snap_dir);
    snapshotter->log_dir = strdup(config->log_dir);
    /* DatadirCleanupManager raises a count below 3 to 3 */
    snapshotter->purge_retain_count = config->purge_retain_count < STORE_PURGE_RETAIN_COUNT_MIN
                                          ? STORE_PURGE_RETAIN_COUNT_MIN
                                          : config->purge_retain_count;
    snapshotter->purge_interval_hours = config->purge_interval_hours;
    snapshotter->done = config->done;
    snapshotter->done_context = config->done_context;
    snapshotter->purged = config->purged;
    snapshotter->purged_context = config->purged_context;
    snapshotter->next_purge_ms = config->purge_interval_hours > 0 ? monotonic_ms() : INT64_MAX;
    atomic_init(&snapshotter->abandon, false);
    jute_writer_init(&snapshotter->chunk, SNAPSHOTTER_BUFFER_BYTES_MAX);
    if (!snapshotter->snap_dir || !snapshotter->log_dir) {
        snprintf(error, error_bytes, "out of memory for the snapshotter");
        goto fail_strings;
    }
    int rc = io_uring_queue_init(SNAPSHOTTER_URING_ENTRIES, &snapshotter->uring, 0);
    if (rc < 0) {
        snprintf(error, error_bytes, "snapshotter: io_uring_queue_init: %s", strerror(-rc));
        goto fail_strings;
    }
    if (pthread_mutex_init(&snapshotter->mutex, NULL) != 0 ||
        !cond_init_monotonic(&snapshotter->wake) || !cond_init_monotonic(&snapshotter->idle)) {
        snprintf(error, error_bytes, "snapshotter: cannot initialise its lock");
        goto fail_uring;
    }
    snapshotter->reader = store_reader_register(config->tree);
    if (!snapshotter->reader) {
        snprintf(error, error_bytes, "snapshotter: no store reader left (%d registered)",
                 STORE_READERS_MAX);
        goto fail_uring;
    }
    /* A new reader starts online; it holds nothing back until a job runs. */
    store_reader_offline(snapshotter->reader);
    rc = pthread_create(&snapshotter->thread, NULL, snapshotter_main, snapshotter);
    if (rc != 0) {
        snprintf(error, error_bytes, "snapshotter: cannot start its thread: %s", strerror(rc));
        goto fail_uring;
    }
    return snapshotter;

fail_uring:
    io_uring_queue_exit(&snapshotter->uring);
fail_strings:
    jute_writer_free(&snapshotter->chunk);
    free(snapshotter->snap_dir);
    free(snapshotter->log_dir);
    free(snapshotter);
    return NULL;
}

bool snapshotter_busy(struct snapshotter *snapshotter)
{
    pthread_mutex_lock(&snapshotter->mutex);
    bool busy = snapshotter->queued != NULL || snapshotter->running;
    pthread_mutex_unlock(&snapshotter->mutex);
    return busy;
}

bool snapshotter_request(struct snapshotter *snapshotter, struct store_snapshot_job *job)
{
    pthread_mutex_lock(&snapshotter->mutex);
    bool accepted = snapshotter->queued == NULL && !snapshotter->running && !snapshotter->stop;
    if (accepted) {
        snapshotter->queued = job;
        pthread_cond_signal(&snapshotter->wake);
    }
    pthread_mutex_unlock(&snapshotter->mutex);
    if (!accepted) {
        log_warn("Too busy to snap, skipping");
    }
    return accepted;
}

bool snapshotter_wait_idle(struct snapshotter *snapshotter, int32_t timeout_ms)
{
    struct timespec until = deadline_after_ms(timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&snapshotter->mutex);
    int rc = 0;
    while ((snapshotter->queued || snapshotter->running) && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&snapshotter->idle, &snapshotter->mutex, &until);
    }
    bool idle = !snapshotter->queued && !snapshotter->running;
    pthread_mutex_unlock(&snapshotter->mutex);
    return idle;
}

void snapshotter_destroy(struct snapshotter *snapshotter)
{
    if (!snapshotter) {
        return;
    }
    atomic_store_explicit(&snapshotter->abandon, true, memory_order_relaxed);
    pthread_mutex_lock(&snapshotter->mutex);
    snapshotter->stop = true;
    struct store_snapshot_job *queued = snapshotter->queued;
    snapshotter->queued = NULL;
    pthread_cond_signal(&snapshotter->wake);
    pthread_mutex_unlock(&snapshotter->mutex);
    pthread_join(snapshotter->thread, NULL);
    store_snapshot_job_free(queued); /* never started: nothing on disk */
    pthread_cond_destroy(&snapshotter->wake);
    pthread_cond_destroy(&snapshotter->idle);
    pthread_mutex_destroy(&snapshotter->mutex);
    io_uring_queue_exit(&snapshotter->uring);
    jute_writer_free(&snapshotter->chunk);
    free(snapshotter->snap_dir);
    free(snapshotter->log_dir);
    free(snapshotter);
}
