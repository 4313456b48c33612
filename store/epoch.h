/* QuorumPeer's acceptedEpoch and currentEpoch files, byte for byte as
 * ZooKeeper 3.8 keeps them (QuorumPeer.writeLongToFile / readLongFromFile,
 * AtomicFileWritingIdiom, AtomicFileOutputStream):
 *
 *   - they live in FileTxnSnapLog.getSnapDir(), that is <dataDir>/version-2,
 *     next to the snapshots: pass that directory as `data_dir`;
 *   - the content is Long.toString(value): decimal ASCII, a '-' for negative
 *     values, no newline, nothing else;
 *   - writing goes to "<name>.tmp" in the same directory, which is flushed,
 *     fsync'd and closed, then renamed over "<name>". Cheetah also fsyncs
 *     the directory afterwards so the rename itself is durable (ZooKeeper
 *     does not; it changes no byte);
 *   - reading takes the first line (BufferedReader.readLine: up to '\n',
 *     '\r' or the end) and parses it as Long.parseLong does (optional sign,
 *     decimal digits, within int64). Anything else is an error naming the
 *     file and what it holds ("Found <line> in <file>" in ZooKeeper).
 *
 * Pure POSIX file calls; no threads.
 */
#ifndef CHEETAH_STORE_EPOCH_H
#define CHEETAH_STORE_EPOCH_H

#include <stddef.h>
#include <stdint.h>

#define STORE_EPOCH_ACCEPTED "acceptedEpoch"
#define STORE_EPOCH_CURRENT "currentEpoch"
/* Longer content cannot be a number (20 digits and a sign at most); a
 * bigger file is reported as not a number without being read whole. */
#define STORE_EPOCH_FILE_BYTES_MAX 64u

/* 1 and *value when the file exists and holds a number, 0 when it does not
 * exist, -1 with error (naming file and content) when it is unreadable or
 * not a number. */
int store_epoch_read(const char *data_dir, const char *name, int64_t *value, char *error,
                     size_t error_bytes);
/* Writes as ZooKeeper does (atomically, fsync'd); 0 or -1 with error. */
int store_epoch_write(const char *data_dir, const char *name, int64_t value, char *error,
                      size_t error_bytes);

#endif
