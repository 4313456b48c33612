/* Fault injection below the transaction log, for tests.
 *
 * A test sets CHEETAH_TEST_DISK_FAULT="<op>:<n>:<action>[:<bytes>]" and the
 * log writer consults the plan before each of its I/O operations:
 *
 *   op      write | fsync    which kind of log operation to break
 *   n       1, 2, ...        the n-th operation of that kind since start
 *                            (batches of the transaction log only)
 *   action  eio | enospc     the operation fails with that errno, nothing
 *                            reaches the disk (a write) or the sync is lost
 *           tear             (write only) the first <bytes> bytes of the
 *                            batch reach the file, then the process kills
 *                            itself with SIGKILL: a crash in mid-write
 *
 * Production never sets it; the server logs a warning when it is set.
 */
#ifndef CHEETAH_DISK_FAULTS_H
#define CHEETAH_DISK_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DISK_FAULT_ENV "CHEETAH_TEST_DISK_FAULT"

enum disk_fault_op {
    DISK_FAULT_OP_WRITE = 0,
    DISK_FAULT_OP_FSYNC = 1,
};

enum disk_fault_action {
    DISK_FAULT_NONE = 0,
    DISK_FAULT_EIO = 1,
    DISK_FAULT_ENOSPC = 2,
    DISK_FAULT_TEAR = 3,
};

struct disk_fault_plan {
    enum disk_fault_op op;
    uint64_t nth;
    enum disk_fault_action action;
    uint64_t tear_bytes;
};

/* Parses the variable's text. Returns false with a message naming what is
 * wrong. */
bool disk_fault_plan_parse(const char *text, struct disk_fault_plan *plan, char *error,
                           size_t error_bytes);

/* Counts operations and says which to break. One per log writer. */
struct disk_faults {
    bool active;
    struct disk_fault_plan plan;
    uint64_t counts[2]; /* by enum disk_fault_op */
};

/* Reads DISK_FAULT_ENV. Returns false (with error) when it is set but
 * invalid: the server refuses to start rather than test the wrong thing. */
bool disk_faults_from_environment(struct disk_faults *faults, char *error, size_t error_bytes);

/* Counts one operation of kind `op` and returns what to do with it. For
 * DISK_FAULT_TEAR, *tear_bytes is how many bytes to let through. */
enum disk_fault_action disk_faults_next(struct disk_faults *faults, enum disk_fault_op op,
                                        uint64_t *tear_bytes);

#endif
