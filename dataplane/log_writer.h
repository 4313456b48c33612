/* The transaction log writer: one thread with its own io_uring.
 *
 * The consensus core hands it log_records (consensus/pipeline.h) through a
 * lock-free SPSC ring, in zxid order. The thread takes every record waiting
 * (up to a batch limit), appends them to the current log file in
 * ZooKeeper's format (store/txnlog.h) with ONE write linked to ONE
 * fdatasync (IOSQE_IO_LINK: group commit), and when both complete publishes
 * "durable up to zxid" and wakes the core. The core applies and
 * acknowledges a transaction only after that (guarantee 1). With
 * forceSync=no the sync is left out and a completed write counts.
 *
 * Files: <dataLogDir>/version-2/log.<hex zxid of the first record>, header
 * written with the first batch, preallocated in preAllocSize steps as
 * ZooKeeper's FilePadding does, a new file when a record says roll_before.
 *
 * A failed write or sync is never published: the writer stops, remembers
 * why, and wakes the core, which stops the server (as ZooKeeper's SyncThread
 * failure does). Records after the failure stay unacknowledged.
 */
#ifndef CHEETAH_LOG_WRITER_H
#define CHEETAH_LOG_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consensus/pipeline.h"
#include "dataplane/disk_faults.h"

/* Records in flight between the core and the writer. The sequencer never
 * has more transactions pending than this (SEQUENCER_PENDING_MAX), so a
 * push never finds the ring full. */
#define LOG_WRITER_RING_ENTRIES 65536u
/* Bytes of one batch (one write, one fdatasync). A single larger record
 * (up to jute.maxbuffer) still goes alone. */
#define LOG_WRITER_BATCH_BYTES_MAX (4u << 20)
/* Retries of a short write before the writer gives up. */
#define LOG_WRITER_SHORT_WRITES_MAX 16u
/* The writer sleeps at most this long when idle (a wake cuts it short). */
#define LOG_WRITER_IDLE_WAIT_MS 200

typedef void log_writer_wake_fn(void *context);

struct log_writer_config {
    const char *log_dir;       /* <dataLogDir>/version-2, exists */
    bool force_sync;           /* forceSync */
    int64_t prealloc_bytes;    /* preAllocSize in bytes */
    uint32_t jute_maxbuffer_bytes;
    struct disk_faults faults; /* tests only; inactive by default */
    log_writer_wake_fn *wake;  /* called after durable advances or the writer fails */
    void *wake_context;
};

struct log_writer_stats {
    uint64_t transactions;
    uint64_t batches;             /* writes (each with its fdatasync when forceSync) */
    uint64_t batch_transactions_max;
    uint64_t bytes;
    uint64_t files;
};

struct log_writer;

/* Starts the thread. NULL with `error` on failure. */
struct log_writer *log_writer_create(const struct log_writer_config *config, char *error,
                                     size_t error_bytes);
/* Core thread only. `record` must stay valid until durable covers it (or the
 * writer failed and was destroyed). Never fails: see LOG_WRITER_RING_ENTRIES. */
void log_writer_append(struct log_writer *writer, struct log_record *record);
/* Highest zxid whose record is on disk (acquire): every record up to it. */
int64_t log_writer_durable_zxid(const struct log_writer *writer);
/* True once a write or sync failed; `why` gets the message. */
bool log_writer_failed(const struct log_writer *writer, char *why, size_t why_bytes);
/* Counters, read after the thread stopped (or racy but harmless). */
void log_writer_stats_get(const struct log_writer *writer, struct log_writer_stats *out);
/* Writes what was appended (unless failed), stops and joins the thread,
 * logs the group-commit summary. The records are the caller's to free. */
void log_writer_destroy(struct log_writer *writer);

#endif
