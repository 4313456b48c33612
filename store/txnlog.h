/* The transaction log file format, byte for byte as ZooKeeper 3.8's
 * FileTxnLog writes it (FileTxnLog.java, Util.java, FilePadding.java):
 *
 *   file   = FileHeader{int magic "ZKLG", int version 2, long dbid}
 *            entry* zero padding
 *   entry  = long checksum   Adler32 of `buffer`'s bytes only (not of its
 *                            length, not of the end marker)
 *            buffer          int length, then TxnHeader + record
 *                            [+ TxnDigest{int version, long treeDigest}]
 *            byte 0x42 ('B') the end-of-record marker
 *
 * The file is preallocated with zeros in preAllocSize steps, so a zero
 * length (or the end of the file) ends the log.
 *
 * Pure: everything works on bytes in memory; the I/O is the caller's.
 */
#ifndef CHEETAH_STORE_TXNLOG_H
#define CHEETAH_STORE_TXNLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jute/jute.h"
#include "jute/records.h"

#define STORE_TXNLOG_MAGIC 0x5A4B4C47 /* "ZKLG" */
#define STORE_TXNLOG_VERSION 2
#define STORE_TXNLOG_FILE_HEADER_BYTES 16u
/* checksum (8) + length (4) before the buffer, the marker (1) after it. */
#define STORE_TXNLOG_ENTRY_OVERHEAD_BYTES 13u
#define STORE_TXNLOG_END_OF_RECORD 0x42
/* TxnHeader: long clientId, int cxid, long zxid, long time, int type. */
#define STORE_TXNLOG_TXN_HEADER_BYTES 32u
/* TxnDigest: int version, long treeDigest. */
#define STORE_TXNLOG_DIGEST_BYTES 12u
/* zookeeper.preAllocSize's default: 64 MiB. */
#define STORE_TXNLOG_PREALLOC_BYTES_DEFAULT (64 * 1024 * 1024)
/* FilePadding grows the file when a write comes within this much of its end. */
#define STORE_TXNLOG_PAD_MARGIN_BYTES 4096
/* BinaryInputArchive refuses a buffer longer than jute.maxbuffer plus this
 * (zookeeper.jute.maxbuffer.extrasize's default). */
#define STORE_TXNLOG_EXTRA_BUFFER_BYTES 1024u
/* "log." + 16 hex digits + NUL. */
#define STORE_TXNLOG_NAME_BYTES_MAX 21u

/* zlib's adler32 (java.util.zip.Adler32): start with adler = 1. */
uint32_t store_adler32(uint32_t adler, const uint8_t *data, size_t size);

/* ---- Writing ----------------------------------------------------------- */

/* The 16-byte FileHeader ZooKeeper writes first (dbid is 0 in 3.8). */
void store_txnlog_write_header(struct jute_writer *writer, int64_t dbid);

/* One entry for `txn_bytes` (TxnHeader + record, as store_prepare makes
 * them; a TxnDigest may follow the record): checksum, length-prefixed
 * buffer, 0x42. Cheetah writes no TxnDigest (ZooKeeper reads entries
 * without one). Errors latch in writer->ok. */
void store_txnlog_append(struct jute_writer *writer, struct jute_bytes txn_bytes);

/* Bytes store_txnlog_append adds for `txn_bytes` of that size. */
static inline size_t store_txnlog_entry_bytes(size_t txn_bytes)
{
    return STORE_TXNLOG_ENTRY_OVERHEAD_BYTES + txn_bytes;
}

/* FilePadding.calculateFileSizeWithPadding: the size the file must be
 * preallocated to before writing at `position_bytes`, given its current
 * size. When the position comes within 4 KiB of the end, the file grows by
 * prealloc_bytes (or, once written past its end, up to the next multiple of
 * prealloc_bytes above position + prealloc_bytes). prealloc_bytes <= 0
 * disables padding. A first entry after the header makes a file of
 * 16 + prealloc_bytes bytes, as ZooKeeper's log.N files are. */
int64_t store_txnlog_padded_size(int64_t position_bytes, int64_t file_bytes,
                                 int64_t prealloc_bytes);

/* ---- Names --------------------------------------------------------------- */

/* Util.makeLogName: "log." + Long.toHexString(zxid) (lowercase, no leading
 * zeros, negative values as 64-bit two's complement). Returns the length
 * written, or -1 if out_bytes is too small. */
int store_txnlog_name(char *out, size_t out_bytes, int64_t zxid);

/* Util.getZxidFromName(name, "log"): the text between the first and second
 * '.' parsed as a signed hexadecimal long (Long.parseLong(s, 16)). Returns
 * false where ZooKeeper would return -1 (not a log name, bad number). */
bool store_txnlog_parse_name(const char *name, int64_t *zxid_out);

/* ---- Reading ------------------------------------------------------------- */

/* What store_txnlog_next found. How ZooKeeper 3.8 (FileTxnIterator.next,
 * Util.readTxnBytes) treats each case, and what Cheetah does:
 *
 *  - end of file or a zero length: ZooKeeper's "EOF" (the preallocated
 *    zeros). STORE_TXNLOG_END_CLEAN, provided all bytes from there on are
 *    zero.
 *  - a record cut short by the end of the file (checksum, length, buffer or
 *    marker missing), or a marker that is not 0x42: ZooKeeper takes it as the
 *    end of that file, silently or with "Last transaction was partial", and
 *    starts its next log in a new file. Cheetah: STORE_TXNLOG_END_TORN when
 *    only zeros follow the record (it is the last one written; a marker
 *    never written reads as a zero, so a marker byte that is neither 0 nor
 *    0x42 counts as data that follows: CORRUPT, the stricter reading), but
 *    STORE_TXNLOG_CORRUPT when non-zero bytes follow (ZooKeeper would
 *    silently drop every later entry of the file; issue 3 wants startup to
 *    stop instead). A zero length followed by non-zero bytes is TORN when
 *    they all lie within the largest record that could start there (its
 *    length never reached the disk), CORRUPT when non-zero bytes lie beyond
 *    (ZooKeeper ignores what follows in both cases).
 *  - a checksum mismatch: ZooKeeper throws "CRC check failed" wherever the
 *    entry is, the last one or not, and the server does not start. Cheetah:
 *    STORE_TXNLOG_END_TORN for the last entry (only zeros after its marker:
 *    a write torn inside, which issue 3 truncates with a log line) and
 *    STORE_TXNLOG_CORRUPT for any earlier entry.
 *  - a negative length, or one over jute.maxbuffer + 1024: ZooKeeper throws
 *    "Unreasonable length" (for -1 a NullPointerException): CORRUPT.
 *  - a buffer whose checksum matches but whose TxnHeader or record does not
 *    decode, or whose type ZooKeeper does not log: ZooKeeper fails ("Unsupported
 *    Txn") or, for a record cut short, stops reading the file: CORRUPT
 *    (a matching checksum means it was written so, not torn).
 *  - a bad file header (short, or magic not "ZKLG"): CORRUPT at offset 0;
 *    an empty file (0 bytes): END_CLEAN with no entries (ZooKeeper deletes
 *    an empty tail log). ZooKeeper does not check the version field. */
enum store_txnlog_status {
    STORE_TXNLOG_ENTRY = 0,    /* *entry holds the next transaction */
    STORE_TXNLOG_END_CLEAN = 1,
    STORE_TXNLOG_END_TORN = 2,
    STORE_TXNLOG_CORRUPT = 3,
};

struct store_txnlog_entry {
    uint64_t offset_bytes;      /* where the entry (its checksum) starts */
    uint64_t next_offset_bytes; /* just after its 0x42 */
    uint32_t checksum;
    struct jute_txn_header header;
    /* TxnHeader + record, without the digest: what store_apply takes. Points
     * into the reader's input. */
    struct jute_bytes txn;
    /* The whole buffer as stored (txn plus digest, if any). */
    struct jute_bytes buffer;
    /* 3.6+ logs carry a TxnDigest after the record when digest.enabled
     * (the default): ZooKeeper reads one when at least 12 bytes follow the
     * record. */
    bool has_digest;
    struct jute_txn_digest digest;
};

struct store_txnlog_reader {
    const uint8_t *data;
    size_t size;
    size_t offset;
    size_t buffer_bytes_max; /* jute.maxbuffer + 1024 */
    struct jute_file_header file_header;
    enum store_txnlog_status status; /* sticky once not ENTRY */
    /* For END_TORN and CORRUPT: the offset of the entry (or header) at
     * fault and why. For END_CLEAN: where the log ends. */
    uint64_t end_offset_bytes;
    const char *reason; /* static text */
    uint64_t entries_read;
};

/* Reads the file header of `data` (a whole log file). Returns
 * STORE_TXNLOG_ENTRY when entries may follow, END_CLEAN for an empty file,
 * CORRUPT for a bad header. jute_maxbuffer_bytes is the server's
 * jute.maxbuffer (JUTE_MAXBUFFER_DEFAULT_BYTES by default). */
enum store_txnlog_status store_txnlog_reader_init(struct store_txnlog_reader *reader,
                                                  const uint8_t *data, size_t size,
                                                  uint32_t jute_maxbuffer_bytes);

/* The next entry, or how the log ends (sticky: later calls return the same). */
enum store_txnlog_status store_txnlog_next(struct store_txnlog_reader *reader,
                                           struct store_txnlog_entry *entry);

/* Bytes of `txn` (TxnHeader + record [+ digest]) the record takes, after
 * the 32-byte header, for a transaction of `type`; -1 if it does not
 * decode or ZooKeeper does not log that type. */
int64_t store_txnlog_record_bytes(int32_t type, const uint8_t *record, size_t size);

/* ZooKeeper's Request.op2String for txn types ("create", "closeSession",
 * "error", "createTtl" (sic), ...); "unknown" for others. */
const char *store_txnlog_type_name(int32_t type);

#endif
