#include "dataplane/log_writer.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataplane/log.h"
#include "dataplane/ring.h"
#include "store/txnlog.h"

/* A write and its linked fdatasync: the ring never needs more. */
#define LOG_WRITER_URING_ENTRIES 8u
#define LOG_WRITER_WHY_BYTES 512u
#define LOG_WRITER_PATH_BYTES 1280u

struct log_writer {
    struct log_writer_config config;
    struct spsc_ring ring;
    pthread_t thread;
    bool thread_started;
    struct io_uring uring;
    bool uring_ready;
    int wake_fd;
    _Atomic bool sleeping;
    _Atomic bool stop_requested;
    _Atomic int64_t durable_zxid;
    _Atomic bool failed;
    char why[LOG_WRITER_WHY_BYTES]; /* written before `failed` is raised */

    /* Writer thread only. */
    struct log_record *carried; /* popped, but belongs to the next batch */
    uint8_t *batch;
    size_t batch_capacity;
    size_t batch_size;
    size_t batch_records;
    int64_t batch_first_zxid;
    int64_t batch_last_zxid;
    bool batch_opens_file;
    /* FilePadding, record by record as the batch fills: the file size the
     * batch needs (its end position and the preallocated size). */
    int64_t batch_end_position;
    int64_t batch_padded_bytes;
    int fd;
    int dir_fd;
    char file_name[STORE_TXNLOG_NAME_BYTES_MAX];
    int64_t file_position; /* where the next record goes */
    int64_t file_bytes;    /* allocated size (preallocation) */
    struct log_writer_stats stats;
};

static void fail(struct log_writer *writer, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static void fail(struct log_writer *writer, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(writer->why, sizeof(writer->why), format, arguments);
    va_end(arguments);
    atomic_store_explicit(&writer->failed, true, memory_order_release);
}

/* ---- the batch ------------------------------------------------------------ */

static bool batch_fits(const struct log_writer *writer, const struct log_record *record)
{
    size_t entry = store_txnlog_entry_bytes(record->txn_bytes);
    return writer->batch_size + entry + STORE_TXNLOG_FILE_HEADER_BYTES <= writer->batch_capacity;
}

static void put_be32(uint8_t *at, uint32_t value)
{
    at[0] = (uint8_t)(value >> 24);
    at[1] = (uint8_t)(value >> 16);
    at[2] = (uint8_t)(value >> 8);
    at[3] = (uint8_t)value;
}

static void put_be64(uint8_t *at, uint64_t value)
{
    put_be32(at, (uint32_t)(value >> 32));
    put_be32(at + 4, (uint32_t)value);
}

/* Appends one record's entry (store/txnlog.h: Adler32 of the txn bytes as a
 * long, the length, the bytes, 0x42) to the batch; a batch that opens a new
 * file starts with the FileHeader (dbid 0, as ZooKeeper 3.8 writes it). */
static void batch_add(struct log_writer *writer, const struct log_record *record)
{
    if (writer->batch_records == 0) {
        writer->batch_first_zxid = record->zxid;
        writer->batch_opens_file = writer->fd < 0 || record->roll_before;
        writer->batch_end_position = writer->file_position;
        writer->batch_padded_bytes = writer->file_bytes;
        if (writer->batch_opens_file) {
            put_be32(writer->batch, STORE_TXNLOG_MAGIC);
            put_be32(writer->batch + 4, STORE_TXNLOG_VERSION);
            put_be64(writer->batch + 8, 0);
            writer->batch_size = STORE_TXNLOG_FILE_HEADER_BYTES;
            writer->batch_end_position = STORE_TXNLOG_FILE_HEADER_BYTES;
            writer->batch_padded_bytes = STORE_TXNLOG_FILE_HEADER_BYTES;
        }
    }
    writer->batch_padded_bytes = store_txnlog_padded_size(
        writer->batch_end_position, writer->batch_padded_bytes, writer->config.prealloc_bytes);
    writer->batch_end_position += (int64_t)store_txnlog_entry_bytes(record->txn_bytes);
    uint8_t *at = writer->batch + writer->batch_size;
    put_be64(at, store_adler32(1, record->txn, record->txn_bytes));
    put_be32(at + 8, record->txn_bytes);
    memcpy(at + 12, record->txn, record->txn_bytes);
    at[12 + record->txn_bytes] = STORE_TXNLOG_END_OF_RECORD;
    writer->batch_size += store_txnlog_entry_bytes(record->txn_bytes);
    writer->batch_records++;
    writer->batch_last_zxid = record->zxid;
}

/* Takes records from the ring until the batch is full or a record wants a
 * new file (it waits for the next batch). Returns the number taken. */
static size_t batch_collect(struct log_writer *writer)
{
    writer->batch_size = 0;
    writer->batch_records = 0;
    writer->batch_opens_file = false;
    while (true) {
        struct log_record *record = writer->carried;
        writer->carried = NULL;
        if (!record) {
            record = spsc_ring_pop(&writer->ring);
        }
        if (!record) {
            break;
        }
        bool starts_file = record->roll_before || (writer->fd < 0 && writer->batch_records == 0);
        if (writer->batch_records > 0 && (starts_file || !batch_fits(writer, record))) {
            writer->carried = record;
            break;
        }
        assert(batch_fits(writer, record)); /* the buffer holds the largest record */
        batch_add(writer, record);
    }
    return writer->batch_records;
}

/* ---- files ----------------------------------------------------------------- */

static void close_file(struct log_writer *writer)
{
    if (writer->fd >= 0) {
        close(writer->fd);
        writer->fd = -1;
    }
}

/* ZooKeeper starts a log file named after its first zxid. A file of that
 * name can exist only if recovery found nothing valid in it (a torn first
 * record), so it is replaced, as ZooKeeper's FileOutputStream replaces it. */
static bool open_file(struct log_writer *writer, int64_t first_zxid)
{
    close_file(writer);
    int length = store_txnlog_name(writer->file_name, sizeof(writer->file_name), first_zxid);
    assert(length > 0);
    (void)length;
    writer->fd = openat(writer->dir_fd, writer->file_name,
                        O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (writer->fd < 0) {
        fail(writer, "cannot create transaction log %s/%s: %s", writer->config.log_dir,
             writer->file_name, strerror(errno));
        return false;
    }
    /* The new name must survive a crash too. */
    if (writer->config.force_sync && fsync(writer->dir_fd) != 0) {
        fail(writer, "cannot sync directory %s after creating %s: %s", writer->config.log_dir,
             writer->file_name, strerror(errno));
        return false;
    }
    writer->file_position = 0;
    writer->file_bytes = STORE_TXNLOG_FILE_HEADER_BYTES;
    writer->stats.files++;
    return true;
}

/* Grows the file to the size batch_add worked out (FilePadding: preAllocSize
 * steps) before the batch is written, so the write does not change the file's size and the
 * fdatasync has no metadata to flush (except on the step itself). */
static bool preallocate(struct log_writer *writer)
{
    int64_t size = writer->batch_padded_bytes;
    if (size <= writer->file_bytes) {
        return true;
    }
    int status = fallocate(writer->fd, 0, writer->file_bytes, size - writer->file_bytes);
    if (status != 0 && (errno == EOPNOTSUPP || errno == ENOSYS)) {
        status = ftruncate(writer->fd, size);
    }
    if (status != 0) {
        fail(writer, "cannot preallocate transaction log %s/%s to %" PRId64 " bytes: %s%s",
             writer->config.log_dir, writer->file_name, size, strerror(errno),
             errno == ENOSPC ? " (the disk is full: free space, or lower preAllocSize)" : "");
        return false;
    }
    writer->file_bytes = size;
    return true;
}

/* ---- I/O -------------------------------------------------------------------- */

/* Submits a write of bytes [from, size) of the batch at `position`, linked to
 * an fdatasync when forceSync, and waits for both. Returns the write's
 * result (bytes or -errno) and the sync's in *sync_result (0 when none). */
static int submit_and_wait(struct log_writer *writer, size_t from, int64_t position, bool sync,
                           int *sync_result)
{
    struct io_uring_sqe *write_sqe = io_uring_get_sqe(&writer->uring);
    assert(write_sqe != NULL);
    io_uring_prep_write(write_sqe, writer->fd, writer->batch + from,
                        (unsigned)(writer->batch_size - from), (uint64_t)position);
    write_sqe->user_data = 1;
    unsigned expected = 1;
    if (sync) {
        write_sqe->flags |= IOSQE_IO_LINK;
        struct io_uring_sqe *sync_sqe = io_uring_get_sqe(&writer->uring);
        assert(sync_sqe != NULL);
        io_uring_prep_fsync(sync_sqe, writer->fd, IORING_FSYNC_DATASYNC);
        sync_sqe->user_data = 2;
        expected = 2;
    }
    *sync_result = 0;
    int write_result = -EIO;
    int submitted = io_uring_submit(&writer->uring);
    if (submitted < 0) {
        return submitted;
    }
    for (unsigned seen = 0; seen < expected; seen++) {
        struct io_uring_cqe *cqe;
        int waited;
        do {
            waited = io_uring_wait_cqe(&writer->uring, &cqe);
        } while (waited == -EINTR);
        if (waited < 0) {
            return waited;
        }
        if (cqe->user_data == 1) {
            write_result = cqe->res;
        } else {
            *sync_result = cqe->res;
        }
        io_uring_cqe_seen(&writer->uring, cqe);
    }
    return write_result;
}

/* Writes the batch and syncs it. False (with the reason recorded) on any
 * failure; nothing of the batch is then published. */
static bool write_batch(struct log_writer *writer)
{
    if (writer->batch_opens_file && !open_file(writer, writer->batch_first_zxid)) {
        return false;
    }
    if (!preallocate(writer)) {
        return false;
    }
    int64_t start = writer->file_position;
    size_t written = 0;
    /* The first attempt writes the whole batch; a short write (rare on a
     * file, but possible) cancels the linked sync, and the rest is written
     * again with its own sync. */
    for (unsigned attempt = 0; written < writer->batch_size; attempt++) {
        if (attempt > LOG_WRITER_SHORT_WRITES_MAX) {
            fail(writer, "transaction log write to %s/%s at offset %" PRId64 " stayed short "
                 "after %u retries (%zu of %zu bytes)", writer->config.log_dir,
                 writer->file_name, start, LOG_WRITER_SHORT_WRITES_MAX, written,
                 writer->batch_size);
            return false;
        }
        uint64_t tear_bytes = 0;
        enum disk_fault_action write_fault =
            attempt == 0 ? disk_faults_next(&writer->config.faults, DISK_FAULT_OP_WRITE,
                                            &tear_bytes)
                         : DISK_FAULT_NONE;
        if (write_fault == DISK_FAULT_TEAR) {
            /* A crash in mid-write: part of the batch is in the file. */
            size_t part = tear_bytes < writer->batch_size ? (size_t)tear_bytes : writer->batch_size;
            ssize_t done = pwrite(writer->fd, writer->batch, part, start);
            (void)done;
            log_warn("test fault: tore the write of %s at offset %" PRId64 " after %zu of %zu "
                     "bytes; killing the server", writer->file_name, start, part,
                     writer->batch_size);
            raise(SIGKILL);
        }
        if (write_fault == DISK_FAULT_EIO || write_fault == DISK_FAULT_ENOSPC) {
            int error = write_fault == DISK_FAULT_EIO ? EIO : ENOSPC;
            fail(writer, "transaction log write to %s/%s at offset %" PRId64 " failed: %s",
                 writer->config.log_dir, writer->file_name, start, strerror(error));
            return false;
        }
        enum disk_fault_action sync_fault = DISK_FAULT_NONE;
        if (writer->config.force_sync) {
            uint64_t unused;
            sync_fault = disk_faults_next(&writer->config.faults, DISK_FAULT_OP_FSYNC, &unused);
        }
        /* An injected sync failure: the write goes alone, the sync "fails". */
        bool want_sync = writer->config.force_sync && sync_fault == DISK_FAULT_NONE;
        int sync_result;
        int result = submit_and_wait(writer, written, start + (int64_t)written, want_sync,
                                     &sync_result);
        if (result < 0) {
            fail(writer, "transaction log write to %s/%s at offset %" PRId64 " failed: %s%s",
                 writer->config.log_dir, writer->file_name, start + (int64_t)written,
                 strerror(-result), result == -ENOSPC ? " (the disk is full)" : "");
            return false;
        }
        written += (size_t)result;
        if (written < writer->batch_size) {
            continue;
        }
        if (sync_fault != DISK_FAULT_NONE) {
            sync_result = sync_fault == DISK_FAULT_ENOSPC ? -ENOSPC : -EIO;
        }
        if (sync_result < 0) {
            fail(writer, "fdatasync of transaction log %s/%s failed: %s", writer->config.log_dir,
                 writer->file_name, strerror(-sync_result));
            return false;
        }
    }
    writer->file_position = start + (int64_t)writer->batch_size;
    return true;
}

/* ---- the thread --------------------------------------------------------------- */

static void wait_for_records(struct log_writer *writer)
{
    atomic_store(&writer->sleeping, true);
    if (!writer->carried && spsc_ring_empty(&writer->ring) &&
        !atomic_load(&writer->stop_requested)) {
        struct pollfd poll_fd = {.fd = writer->wake_fd, .events = POLLIN};
        if (poll(&poll_fd, 1, LOG_WRITER_IDLE_WAIT_MS) > 0) {
            uint64_t count;
            ssize_t got = read(writer->wake_fd, &count, sizeof(count));
            (void)got;
        }
    }
    atomic_store(&writer->sleeping, false);
}

static void *writer_main(void *argument)
{
    struct log_writer *writer = argument;
    while (true) {
        size_t taken = batch_collect(writer);
        if (taken == 0) {
            if (atomic_load_explicit(&writer->stop_requested, memory_order_acquire) &&
                spsc_ring_empty(&writer->ring) && !writer->carried) {
                break;
            }
            wait_for_records(writer);
            continue;
        }
        if (!write_batch(writer)) {
            log_error("%s; no transaction from zxid 0x%" PRIx64 " on was acknowledged",
                      writer->why, (uint64_t)writer->batch_first_zxid);
            writer->config.wake(writer->config.wake_context);
            break;
        }
        writer->stats.transactions += taken;
        writer->stats.batches++;
        writer->stats.bytes += writer->batch_size;
        if (taken > writer->stats.batch_transactions_max) {
            writer->stats.batch_transactions_max = taken;
        }
        atomic_store_explicit(&writer->durable_zxid, writer->batch_last_zxid,
                              memory_order_release);
        writer->config.wake(writer->config.wake_context);
    }
    close_file(writer);
    return NULL;
}

/* ---- the interface ------------------------------------------------------------- */

struct log_writer *log_writer_create(const struct log_writer_config *config, char *error,
                                     size_t error_bytes)
{
    struct log_writer *writer = calloc(1, sizeof(*writer));
    if (!writer) {
        snprintf(error, error_bytes, "out of memory");
        return NULL;
    }
    writer->config = *config;
    writer->fd = -1;
    writer->wake_fd = -1;
    writer->dir_fd = -1;
    atomic_init(&writer->durable_zxid, 0);
    /* The largest record: jute.maxbuffer plus the txn overhead. */
    size_t largest = (size_t)config->jute_maxbuffer_bytes + 64u * 1024u;
    writer->batch_capacity = largest > LOG_WRITER_BATCH_BYTES_MAX ? largest
                                                                  : LOG_WRITER_BATCH_BYTES_MAX;
    writer->batch = malloc(writer->batch_capacity);
    if (!writer->batch || !spsc_ring_init(&writer->ring, LOG_WRITER_RING_ENTRIES)) {
        snprintf(error, error_bytes, "out of memory");
        log_writer_destroy(writer);
        return NULL;
    }
    writer->dir_fd = open(config->log_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (writer->dir_fd < 0) {
        snprintf(error, error_bytes, "cannot open transaction log directory %s: %s",
                 config->log_dir, strerror(errno));
        log_writer_destroy(writer);
        return NULL;
    }
    writer->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int status = io_uring_queue_init(LOG_WRITER_URING_ENTRIES, &writer->uring, 0);
    if (writer->wake_fd < 0 || status < 0) {
        snprintf(error, error_bytes, "cannot set up the transaction log writer: %s",
                 strerror(status < 0 ? -status : errno));
        log_writer_destroy(writer);
        return NULL;
    }
    writer->uring_ready = true;
    if (pthread_create(&writer->thread, NULL, writer_main, writer) != 0) {
        snprintf(error, error_bytes, "cannot start the transaction log thread: %s",
                 strerror(errno));
        log_writer_destroy(writer);
        return NULL;
    }
    writer->thread_started = true;
    return writer;
}

void log_writer_append(struct log_writer *writer, struct log_record *record)
{
    bool pushed = spsc_ring_push(&writer->ring, record);
    assert(pushed); /* the sequencer keeps fewer pending than the ring holds */
    (void)pushed;
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&writer->sleeping)) {
        uint64_t one = 1;
        ssize_t written = write(writer->wake_fd, &one, sizeof(one));
        (void)written;
    }
}

int64_t log_writer_durable_zxid(const struct log_writer *writer)
{
    return atomic_load_explicit(&writer->durable_zxid, memory_order_acquire);
}

bool log_writer_failed(const struct log_writer *writer, char *why, size_t why_bytes)
{
    if (!atomic_load_explicit(&writer->failed, memory_order_acquire)) {
        return false;
    }
    if (why && why_bytes > 0) {
        snprintf(why, why_bytes, "%s", writer->why);
    }
    return true;
}

void log_writer_stats_get(const struct log_writer *writer, struct log_writer_stats *out)
{
    *out = writer->stats;
}

void log_writer_destroy(struct log_writer *writer)
{
    if (!writer) {
        return;
    }
    if (writer->thread_started) {
        atomic_store_explicit(&writer->stop_requested, true, memory_order_release);
        uint64_t one = 1;
        ssize_t written = write(writer->wake_fd, &one, sizeof(one));
        (void)written;
        pthread_join(writer->thread, NULL);
        const struct log_writer_stats *stats = &writer->stats;
        log_info("transaction log: %" PRIu64 " transactions in %" PRIu64 " %s (mean %.1f, max %"
                 PRIu64 " per %s)", stats->transactions, stats->batches,
                 writer->config.force_sync ? "fsyncs" : "writes (forceSync=no)",
                 stats->batches ? (double)stats->transactions / (double)stats->batches : 0.0,
                 stats->batch_transactions_max, writer->config.force_sync ? "fsync" : "write");
    }
    if (writer->uring_ready) {
        io_uring_queue_exit(&writer->uring);
    }
    if (writer->wake_fd >= 0) {
        close(writer->wake_fd);
    }
    if (writer->dir_fd >= 0) {
        close(writer->dir_fd);
    }
    close_file(writer);
    spsc_ring_destroy(&writer->ring);
    free(writer->batch);
    free(writer);
}
