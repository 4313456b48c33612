/* ZooKeeper 3.8's snapshot format (FileSnap, SnapStream, SerializeUtils,
 * DataTree.serialize, ReferenceCountedACLCache), in memory and pure: the
 * caller reads and writes the files.
 *
 * A snapshot file, every integer big-endian (jute's binary archive, whose
 * tags never appear in the bytes):
 *
 *   FileHeader   int magic "ZKSN" (0x5A4B534E), int version 2, long dbid (-1)
 *   sessions     int count, then count x {long id, int timeout}
 *   ACL cache    int count, then count x {long ref, int n, n x ACL}
 *                (ACL = int perms, ustring scheme, ustring id)
 *   nodes        pre-order, each {ustring path, buffer data, long aclRef,
 *                StatPersisted}; the root's path is ""; ended by path "/"
 *   seal         long Adler32 of every byte before it, ustring "/"
 *   trailers     optional; 3.8 writes ZxidDigest {long zxid, int version,
 *                long digest} then a second seal whose Adler32 runs on over
 *                the whole file. A file without them loads in 3.8 (it reads
 *                the digest until EOF and then stops).
 *
 * Cheetah writes no trailer (tree digests are left out, as issue 3 allows);
 * it reads and checks any number of {long, int, long} + seal trailers.
 * ACL refs are written as the tree's cache numbers them (-1 is
 * OPEN_ACL_UNSAFE of the builtin nodes); on load every ref is mapped back to
 * its list, which the fresh tree interns again under its own numbers.
 */
#ifndef CHEETAH_STORE_SNAPSHOT_H
#define CHEETAH_STORE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jute/jute.h"
#include "jute/records.h"
#include "store/store.h"

#define STORE_SNAPSHOT_MAGIC 0x5A4B534E /* "ZKSN" */
#define STORE_SNAPSHOT_VERSION 2
#define STORE_SNAPSHOT_DBID (-1)
/* FileSnap's file name prefix; the suffix is the zxid in lower-case hex. */
#define STORE_SNAPSHOT_PREFIX "snapshot"
/* "snapshot." + 16 hex digits + NUL */
#define STORE_SNAPSHOT_NAME_BYTES 26u
/* Bounds on what a reader accepts, so a corrupt count cannot make it loop
 * or allocate without end. */
#define STORE_SNAPSHOT_ACLS_PER_LIST_MAX 65536
#define STORE_SNAPSHOT_TRAILERS_MAX 4u

struct store_snapshot_session {
    int64_t session_id;
    int32_t timeout_ms;
};

/* What went wrong while reading: `offset` is where in the file. */
struct store_snapshot_error {
    size_t offset;
    char message[160];
};

/* Writes the whole snapshot of `tree` (which must not change meanwhile:
 * call it from the writer thread) and `sessions` into `out`, which the
 * caller initialised with a limit large enough. Returns false when `out`
 * ran past its limit or out of memory. */
bool store_snapshot_write(struct store_tree *tree, const struct store_snapshot_session *sessions,
                          size_t session_count, struct jute_writer *out);

/* A streaming view of a snapshot, for tools: each callback returns true to
 * go on; false stops the parse with the message the callback put in
 * `error`. Strings point into the input. Any callback may be NULL. */
struct store_snapshot_visitor {
    void *context;
    bool (*header)(void *context, int32_t magic, int32_t version, int64_t dbid);
    bool (*session)(void *context, int64_t session_id, int32_t timeout_ms);
    /* The list is only valid during the call (its strings point into the
     * input). */
    bool (*acl)(void *context, int64_t ref, const struct store_acl_list *list,
                struct store_snapshot_error *error);
    bool (*node)(void *context, size_t offset, struct jute_bytes path, struct jute_bytes data,
                 int64_t acl_ref, const struct jute_stat_persisted *stat,
                 struct store_snapshot_error *error);
    bool (*seal)(void *context, size_t offset, uint32_t checksum);
    bool (*digest)(void *context, int64_t zxid, int32_t digest_version, int64_t digest);
};

/* Parses and checks a whole snapshot: header magic, every count, every
 * seal, nothing left over. Returns true when it is sound; otherwise false
 * with `error` naming the offset and what was wrong. `visitor` may be NULL
 * (check only). */
bool store_snapshot_parse(const uint8_t *data, size_t size,
                          const struct store_snapshot_visitor *visitor,
                          struct store_snapshot_error *error);

/* Loads a snapshot into `tree`, fresh from store_tree_create and with no
 * reader registered: every node with its data, ACL and StatPersisted
 * (numChildren and dataLength recomputed, ephemerals indexed by session,
 * containers and TTL nodes by path). Fills *sessions_out (malloc'd; the
 * caller frees it, NULL when there are none) and *session_count_out.
 * Returns false with `error` on any corruption; the tree is then partly
 * loaded and must be destroyed. */
bool store_snapshot_load(struct store_tree *tree, const uint8_t *data, size_t size,
                         struct store_snapshot_session **sessions_out,
                         size_t *session_count_out, struct store_snapshot_error *error);

/* Util.makeSnapshotName: "snapshot.<zxid in hex>". `out` holds at least
 * STORE_SNAPSHOT_NAME_BYTES. */
void store_snapshot_name(int64_t zxid, char *out, size_t out_bytes);
/* Util.getZxidFromName: true with *zxid_out for "snapshot.<hex>" (any case,
 * nothing after the hex); false otherwise. */
bool store_snapshot_name_parse(const char *name, int64_t *zxid_out);

/* ---- fuzzy snapshots, taken while the writer goes on ------------------------
 *
 * ZooKeeper's snapshots are fuzzy: SyncRequestProcessor starts one in a
 * background thread at the last logged zxid Z and goes on applying; nodes
 * may show changes made after Z. Replaying the log from Z + 1 over the
 * loaded snapshot makes the tree exact again (every transaction is
 * idempotent on replay). A job splits the work in two:
 *
 *  - store_snapshot_job_begin, on the writer thread: what another thread
 *    cannot read safely (the sessions, which the caller owns, and the ACL
 *    cache, which is writer-only) is captured as bytes: header, sessions,
 *    ACL section.
 *  - store_snapshot_job_next, on the snapshot thread, a registered store
 *    reader that stays ONLINE from the first call to the last (so every
 *    node, version and ACL list it can reach stays alive; this holds back
 *    the tree's memory reclamation for the length of the job): streams the
 *    pre-order node walk, the "/" end and the seal, chunk by chunk.
 *
 * Fuzzy rules: a node whose czxid > Z is left out with its subtree (its
 * create is replayed); a node whose ACL ref is not in the captured ACL
 * section (a setACL after Z, which replay redoes) is written with ref -1
 * (OPEN_ACL_UNSAFE), so the file always loads. */
struct store_snapshot_job;

/* Writer thread. `zxid` is the last transaction applied to the tree (the
 * snapshot's name). Sessions are copied. Returns NULL when out of memory. */
struct store_snapshot_job *store_snapshot_job_begin(struct store_tree *tree, int64_t zxid,
                                                    const struct store_snapshot_session *sessions,
                                                    size_t session_count);
int64_t store_snapshot_job_zxid(const struct store_snapshot_job *job);
/* Snapshot thread (see above): appends the next bytes of the file to `out`
 * (about `chunk_bytes` at a time, whole node records; the caller may write
 * and reset `out` between calls). Returns 1 when more follows, 0 when the
 * file is complete, -1 on error (out of memory, or `out` past its limit). */
int store_snapshot_job_next(struct store_snapshot_job *job, struct store_reader *reader,
                            struct jute_writer *out, size_t chunk_bytes);
/* Any thread, once no call to store_snapshot_job_next is running. */
void store_snapshot_job_free(struct store_snapshot_job *job);

/* The seals are Adler32 checksums: store_adler32 in store/txnlog.h. */

#endif
