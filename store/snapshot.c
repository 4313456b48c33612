/* ZooKeeper 3.8's snapshot format: writing a tree, parsing and checking a
 * file, loading one into a fresh tree. See snapshot.h for the layout. */
#include "store/snapshot.h"
#include "store/txnlog.h"

#include <assert.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

/* ---- names ---------------------------------------------------------------- */

void store_snapshot_name(int64_t zxid, char *out, size_t out_bytes)
{
    snprintf(out, out_bytes, STORE_SNAPSHOT_PREFIX ".%" PRIx64, (uint64_t)zxid);
}

bool store_snapshot_name_parse(const char *name, int64_t *zxid_out)
{
    size_t prefix_len = strlen(STORE_SNAPSHOT_PREFIX);
    if (strncmp(name, STORE_SNAPSHOT_PREFIX ".", prefix_len + 1) != 0) {
        return false;
    }
    const char *hex = name + prefix_len + 1;
    size_t digits = strlen(hex);
    /* Long.parseLong(s, 16) takes at most a signed 64-bit value. */
    if (digits == 0 || digits > 16) {
        return false;
    }
    uint64_t value = 0;
    for (size_t i = 0; i < digits; i++) {
        char c = hex[i];
        uint32_t nibble;
        if (c >= '0' && c <= '9') {
            nibble = (uint32_t)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            nibble = (uint32_t)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            nibble = (uint32_t)(c - 'A' + 10);
        } else {
            return false;
        }
        value = value << 4 | nibble;
    }
    if (value > (uint64_t)INT64_MAX) {
        return false;
    }
    *zxid_out = (int64_t)value;
    return true;
}

/* ---- writing --------------------------------------------------------------- */

/* SnapStream.sealStream: the Adler32 of everything written so far, then "/". */
static void write_seal(struct jute_writer *out)
{
    uint32_t checksum = out->ok ? store_adler32(1, out->data, out->size) : 0;
    jute_write_long(out, (int64_t)checksum);
    jute_write_bytes(out, jute_bytes_cstr("/"));
}

static int compare_acl_ref(const void *a, const void *b)
{
    int64_t left = (*(const struct store_acl_list *const *)a)->ref;
    int64_t right = (*(const struct store_acl_list *const *)b)->ref;
    return left < right ? -1 : left > right;
}

static void write_acl_list(struct jute_writer *out, const struct store_acl_list *list)
{
    jute_write_int(out, list->count);
    for (int32_t i = 0; i < list->count; i++) {
        jute_write_int(out, list->entries[i].perms);
        jute_write_bytes(out, list->entries[i].scheme);
        jute_write_bytes(out, list->entries[i].id);
    }
}

/* ReferenceCountedACLCache.serialize: every list some node uses (a list
 * whose last usage went is dropped, as removeUsage drops it), by ref. */
static bool write_acl_cache(struct store_tree *tree, struct jute_writer *out,
                            int64_t **refs_out, size_t *ref_count_out)
{
    const struct store_acl_cache *cache = &tree->acl_cache;
    const struct store_acl_list **lists =
        malloc(sizeof *lists * (cache->capacity ? cache->capacity : 1));
    if (!lists) {
        return false;
    }
    size_t count = 0;
    for (uint32_t i = 0; i < cache->capacity; i++) {
        /* A tombstone keeps its last usage count, which is <= 0. */
        if (cache->slots[i].list && cache->slots[i].usage > 0) {
            lists[count++] = cache->slots[i].list;
        }
    }
    qsort(lists, count, sizeof lists[0], compare_acl_ref);
    jute_write_int(out, (int32_t)count);
    for (size_t i = 0; i < count; i++) {
        jute_write_long(out, lists[i]->ref);
        write_acl_list(out, lists[i]);
    }
    if (refs_out) {
        /* The refs the section holds, ascending (for a fuzzy walk's lookups). */
        int64_t *refs = malloc(sizeof *refs * (count ? count : 1));
        if (!refs) {
            free(lists);
            return false;
        }
        for (size_t i = 0; i < count; i++) {
            refs[i] = lists[i]->ref;
        }
        *refs_out = refs;
        *ref_count_out = count;
    }
    free(lists);
    return true;
}

/* A growable path buffer for the walk. */
struct walk_path {
    char *bytes;
    size_t len;
    size_t capacity;
};

static bool path_append(struct walk_path *path, const void *bytes, size_t len)
{
    if (path->len + len > path->capacity) {
        size_t capacity = path->capacity ? path->capacity : 256;
        while (capacity < path->len + len) {
            capacity *= 2;
        }
        char *grown = realloc(path->bytes, capacity);
        if (!grown) {
            return false;
        }
        path->bytes = grown;
        path->capacity = capacity;
    }
    memcpy(path->bytes + path->len, bytes, len);
    path->len += len;
    return true;
}

struct child_collect {
    struct store_child_entry *entries;
    size_t count;
    size_t capacity;
    bool failed;
};

static void collect_child(void *context, struct jute_bytes name, int64_t czxid)
{
    struct child_collect *collect = context;
    if (collect->count == collect->capacity) {
        size_t capacity = collect->capacity ? collect->capacity * 2 : 8;
        struct store_child_entry *grown =
            realloc(collect->entries, capacity * sizeof *grown);
        if (!grown) {
            collect->failed = true;
            return;
        }
        collect->entries = grown;
        collect->capacity = capacity;
    }
    collect->entries[collect->count++] = (struct store_child_entry){name, czxid};
}

/* A node's children in the order ZooKeeper's HashSet iterates them (so a
 * snapshot of the same tree has the same bytes). False when out of memory. */
static bool collect_children_in_java_order(const struct store_node *node,
                                           struct child_collect *children)
{
    store_children_foreach_czxid(node, collect_child, children);
    if (children->failed) {
        free(children->entries);
        children->entries = NULL;
        return false;
    }
    store_children_sort_java(children->entries, children->count, store_children_max(node));
    return true;
}

static void write_node_record(struct jute_writer *out, const struct store_node *node,
                              struct jute_bytes path)
{
    const struct store_version *version = store_node_version(node);
    struct store_node_view view;
    store_node_view_get(node, &view);
    jute_write_bytes(out, path);
    jute_write_bytes(out, view.data);
    jute_write_long(out, version->acl == store_open_acl_unsafe ? -1 : version->acl->ref);
    const struct store_stat *stat = &version->stat;
    struct jute_stat_persisted persisted = {
        .czxid = stat->czxid,
        .mzxid = stat->mzxid,
        .ctime = stat->ctime_ms,
        .mtime = stat->mtime_ms,
        .version = stat->version,
        .cversion = stat->cversion,
        .aversion = stat->aversion,
        .ephemeral_owner = stat->ephemeral_owner,
        .pzxid = stat->pzxid,
    };
    jute_stat_persisted_encode(out, &persisted);
}

/* DataTree.serializeNode: the node, then each child's subtree, children in
 * the order ZooKeeper's HashSet iterates them (so a Cheetah snapshot of the
 * same tree has the same bytes). Depth is bounded by the path length. */
static bool write_subtree(struct store_tree *tree, struct jute_writer *out,
                          const struct store_node *node, struct walk_path *path)
{
    /* the root's path is "" (an empty string, not jute's null) */
    write_node_record(out, node,
                      jute_bytes_of(path->len ? path->bytes : "", (int32_t)path->len));
    struct child_collect children = {0};
    if (!collect_children_in_java_order(node, &children)) {
        return false;
    }
    size_t parent_len = path->len;
    bool ok = true;
    for (size_t i = 0; ok && out->ok && i < children.count; i++) {
        const struct store_child_entry *child = &children.entries[i];
        path->len = parent_len;
        ok = path_append(path, "/", 1) &&
             path_append(path, child->name.ptr, (size_t)child->name.len);
        if (!ok) {
            break;
        }
        const struct store_node *child_node =
            store_find(tree, (const uint8_t *)path->bytes, path->len, NULL);
        assert(child_node != NULL); /* the tree does not change during the write */
        ok = write_subtree(tree, out, child_node, path);
    }
    free(children.entries);
    path->len = parent_len;
    return ok;
}

/* FileHeader, then SerializeUtils.serializeSnapshot's sessions. */
static void write_header_and_sessions(struct jute_writer *out,
                                      const struct store_snapshot_session *sessions,
                                      size_t session_count)
{
    jute_write_int(out, STORE_SNAPSHOT_MAGIC);
    jute_write_int(out, STORE_SNAPSHOT_VERSION);
    jute_write_long(out, STORE_SNAPSHOT_DBID);
    jute_write_int(out, (int32_t)session_count);
    for (size_t i = 0; i < session_count; i++) {
        jute_write_long(out, sessions[i].session_id);
        jute_write_int(out, sessions[i].timeout_ms);
    }
}

bool store_snapshot_write(struct store_tree *tree, const struct store_snapshot_session *sessions,
                          size_t session_count, struct jute_writer *out)
{
    write_header_and_sessions(out, sessions, session_count);
    if (!write_acl_cache(tree, out, NULL, NULL)) {
        return false;
    }
    struct walk_path path = {0};
    bool ok = write_subtree(tree, out, tree->root, &path);
    free(path.bytes);
    if (!ok) {
        return false;
    }
    jute_write_bytes(out, jute_bytes_cstr("/"));
    write_seal(out);
    return out->ok;
}

/* ---- fuzzy snapshot jobs ---------------------------------------------------- */

/* The prefix (header, sessions, ACL section) has no fixed bound but memory:
 * its size is what the writer already holds in its ACL cache and session
 * table, so it gets the same generous bound as a whole snapshot. */
#define JOB_PREFIX_BYTES_MAX ((size_t)1 << 34)
/* A node's child table is collected into an array; the walk keeps one
 * array per level. Depth is bounded by the path length (a component takes
 * at least two bytes, "/x"). */
#define JOB_DEPTH_MAX (STORE_PATH_BYTES_MAX / 2u + 2u)

enum job_phase {
    JOB_PREFIX, /* the captured bytes are still to be appended */
    JOB_WALK,   /* nodes */
    JOB_DONE,   /* the seal is written */
};

/* One level of the pre-order walk: the children of the node whose path is
 * path[0 .. path_len), in HashSet order, and the next one to visit. The
 * names point into the child nodes, kept alive by the online reader. */
struct job_frame {
    struct store_child_entry *entries;
    size_t count;
    size_t next;
    size_t path_len;
};

struct store_snapshot_job {
    struct store_tree *tree;
    int64_t zxid;
    enum job_phase phase;
    struct jute_writer prefix;   /* header + sessions + ACL section */
    int64_t *acl_refs;           /* the refs of that section, ascending */
    size_t acl_ref_count;
    uint32_t adler;              /* running Adler32 of every byte streamed */
    struct job_frame *frames;    /* the walk's stack */
    size_t depth;
    size_t frame_capacity;
    struct walk_path path;
};

struct store_snapshot_job *store_snapshot_job_begin(struct store_tree *tree, int64_t zxid,
                                                    const struct store_snapshot_session *sessions,
                                                    size_t session_count)
{
    struct store_snapshot_job *job = calloc(1, sizeof *job);
    if (!job) {
        return NULL;
    }
    job->tree = tree;
    job->zxid = zxid;
    job->phase = JOB_PREFIX;
    job->adler = 1;
    jute_writer_init(&job->prefix, JOB_PREFIX_BYTES_MAX);
    write_header_and_sessions(&job->prefix, sessions, session_count);
    if (!write_acl_cache(tree, &job->prefix, &job->acl_refs, &job->acl_ref_count) ||
        !job->prefix.ok) {
        store_snapshot_job_free(job);
        return NULL;
    }
    return job;
}

int64_t store_snapshot_job_zxid(const struct store_snapshot_job *job)
{
    return job->zxid;
}

void store_snapshot_job_free(struct store_snapshot_job *job)
{
    if (!job) {
        return;
    }
    for (size_t i = 0; i < job->depth; i++) {
        free(job->frames[i].entries);
    }
    free(job->frames);
    free(job->path.bytes);
    free(job->acl_refs);
    jute_writer_free(&job->prefix);
    free(job);
}

static int compare_ref(const void *a, const void *b)
{
    int64_t left = *(const int64_t *)a;
    int64_t right = *(const int64_t *)b;
    return left < right ? -1 : left > right;
}

/* The ref the file stores for a list the node has now: its own when the
 * captured section holds it, else -1 (a list interned after the job began:
 * the setACL that made it is replayed from the log). */
static int64_t job_acl_ref(const struct store_snapshot_job *job, const struct store_acl_list *acl)
{
    if (acl == store_open_acl_unsafe || job->acl_ref_count == 0) {
        return -1;
    }
    int64_t ref = acl->ref; /* immutable once interned */
    return bsearch(&ref, job->acl_refs, job->acl_ref_count, sizeof ref, compare_ref) ? ref : -1;
}

/* DataTree.serializeNode's record, from one consistent version of the node
 * (a single load: data, ACL and stat belong together). */
static void job_write_record(const struct store_snapshot_job *job, struct jute_writer *out,
                             const struct store_node_view *view, struct jute_bytes path)
{
    jute_write_bytes(out, path);
    jute_write_bytes(out, view->data);
    jute_write_long(out, job_acl_ref(job, view->acl));
    struct jute_stat_persisted persisted = {
        .czxid = view->stat.czxid,
        .mzxid = view->stat.mzxid,
        .ctime = view->stat.ctime_ms,
        .mtime = view->stat.mtime_ms,
        .version = view->stat.version,
        .cversion = view->persisted_cversion,
        .aversion = view->stat.aversion,
        .ephemeral_owner = view->persisted_ephemeral_owner,
        .pzxid = view->stat.pzxid,
    };
    jute_stat_persisted_encode(out, &persisted);
}

/* Pushes a frame with the children `node` has now, in HashSet order. */
static bool job_push(struct store_snapshot_job *job, const struct store_node *node)
{
    if (job->depth == job->frame_capacity) {
        size_t capacity = job->frame_capacity ? job->frame_capacity * 2 : 16;
        assert(capacity <= JOB_DEPTH_MAX * 2);
        struct job_frame *grown = realloc(job->frames, capacity * sizeof *grown);
        if (!grown) {
            return false;
        }
        job->frames = grown;
        job->frame_capacity = capacity;
    }
    struct child_collect children = {0};
    if (!collect_children_in_java_order(node, &children)) {
        return false;
    }
    job->frames[job->depth++] = (struct job_frame){
        .entries = children.entries,
        .count = children.count,
        .next = 0,
        .path_len = job->path.len,
    };
    return true;
}

/* Visits the next node of the walk (writing its record and pushing its
 * children), or pops a finished level. Returns false when out of memory. */
static bool job_step(struct store_snapshot_job *job, struct jute_writer *out)
{
    struct job_frame *frame = &job->frames[job->depth - 1];
    if (frame->next == frame->count) {
        free(frame->entries);
        job->depth--;
        return true;
    }
    const struct store_child_entry *child = &frame->entries[frame->next++];
    job->path.len = frame->path_len;
    if (!path_append(&job->path, "/", 1) ||
        !path_append(&job->path, child->name.ptr, (size_t)child->name.len)) {
        return false;
    }
    /* Reader-safe lookup: NULL when the child was deleted since its parent's
     * table was read (its delete is in the log after Z, or it was created
     * after Z: either way replay restores it). */
    const struct store_node *node =
        store_find(job->tree, (const uint8_t *)job->path.bytes, job->path.len, NULL);
    if (!node) {
        return true;
    }
    struct store_node_view view;
    store_node_view_get(node, &view);
    if (view.stat.czxid > job->zxid) {
        return true; /* created after Z, with its whole subtree: replayed */
    }
    job_write_record(job, out, &view, jute_bytes_of(job->path.bytes, (int32_t)job->path.len));
    return job_push(job, node);
}

int store_snapshot_job_next(struct store_snapshot_job *job, struct store_reader *reader,
                            struct jute_writer *out, size_t chunk_bytes)
{
    /* The walk relies on the reader being online from the first call to the
     * last: nothing it reached may be freed meanwhile. */
    assert(atomic_load_explicit(&reader->observed_epoch, memory_order_relaxed) != UINT64_MAX);
    (void)reader;
    size_t start = out->size;
    if (job->phase == JOB_DONE) {
        return 0;
    }
    if (job->phase == JOB_PREFIX) {
        jute_write_raw(out, job->prefix.data, job->prefix.size);
        struct store_node_view view;
        store_node_view_get(job->tree->root, &view);
        job->path.len = 0;
        job_write_record(job, out, &view, jute_bytes_of("", 0));
        if (!job_push(job, job->tree->root)) {
            return -1;
        }
        job->phase = JOB_WALK;
    }
    while (out->ok && job->depth > 0 && out->size - start < chunk_bytes) {
        if (!job_step(job, out)) {
            return -1;
        }
    }
    if (!out->ok) {
        return -1;
    }
    if (job->depth == 0) {
        jute_write_bytes(out, jute_bytes_cstr("/"));
    }
    /* the seal covers every byte before it, across every chunk */
    job->adler = store_adler32(job->adler, out->data + start, out->size - start);
    if (job->depth > 0) {
        return 1;
    }
    jute_write_long(out, (int64_t)job->adler);
    jute_write_bytes(out, jute_bytes_cstr("/"));
    job->phase = JOB_DONE;
    return out->ok ? 0 : -1;
}

/* ---- parsing ------------------------------------------------------------------ */

static bool fail(struct store_snapshot_error *error, size_t offset, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static bool fail(struct store_snapshot_error *error, size_t offset, const char *format, ...)
{
    error->offset = offset;
    va_list args;
    va_start(args, format);
    vsnprintf(error->message, sizeof error->message, format, args);
    va_end(args);
    return false;
}

/* The reader's position for messages: where the failing read began. */
static bool truncated(struct store_snapshot_error *error, size_t offset, const char *what)
{
    return fail(error, offset, "truncated or malformed %s", what);
}

/* SnapStream.checkSealIntegrity at reader->offset. */
static bool read_seal(struct jute_reader *reader, const struct store_snapshot_visitor *visitor,
                      struct store_snapshot_error *error)
{
    size_t at = reader->offset;
    uint32_t expected = store_adler32(1, reader->data, at);
    int64_t stored = jute_read_long(reader);
    struct jute_bytes slash = jute_read_bytes(reader);
    if (!reader->ok) {
        return truncated(error, at, "seal");
    }
    if (stored != (int64_t)expected) {
        return fail(error, at,
                    "bad seal: checksum %" PRId64 " stored, Adler32 of the %zu bytes before is %" PRIu32,
                    stored, at, expected);
    }
    if (slash.len != 1 || slash.ptr[0] != '/') {
        return fail(error, at + 8, "bad seal: \"/\" expected after the checksum");
    }
    if (visitor->seal && !visitor->seal(visitor->context, at, expected)) {
        return fail(error, at, "stopped at the seal");
    }
    return true;
}

static bool read_sessions(struct jute_reader *reader,
                          const struct store_snapshot_visitor *visitor,
                          struct store_snapshot_error *error)
{
    size_t at = reader->offset;
    /* each session takes 12 bytes */
    int32_t count = jute_read_vector_count(reader, 12);
    if (!reader->ok || count < 0) {
        return fail(error, at, "bad session count");
    }
    for (int32_t i = 0; i < count; i++) {
        int64_t id = jute_read_long(reader);
        int32_t timeout = jute_read_int(reader);
        if (!reader->ok) {
            return truncated(error, at, "session");
        }
        if (visitor->session && !visitor->session(visitor->context, id, timeout)) {
            return fail(error, at, "stopped at a session");
        }
    }
    return true;
}

/* One ACL list, its strings pointing into the input. */
static struct store_acl_list *read_acl_list(struct jute_reader *reader,
                                            struct store_snapshot_error *error)
{
    size_t at = reader->offset;
    /* an ACL takes at least 12 bytes: perms and two string lengths */
    int32_t count = jute_read_vector_count(reader, 12);
    if (!reader->ok || count < 0 || count > STORE_SNAPSHOT_ACLS_PER_LIST_MAX) {
        /* ReferenceCountedACLCache.deserialize refuses a null vector */
        fail(error, at, "bad ACL list length");
        return NULL;
    }
    struct store_acl_list *list = store_acl_list_new(count);
    for (int32_t i = 0; i < count; i++) {
        list->entries[i].perms = jute_read_int(reader);
        list->entries[i].scheme = jute_read_bytes(reader);
        list->entries[i].id = jute_read_bytes(reader);
    }
    if (!reader->ok) {
        free(list);
        truncated(error, at, "ACL list");
        return NULL;
    }
    return list;
}

static bool read_acl_cache(struct jute_reader *reader,
                           const struct store_snapshot_visitor *visitor,
                           struct store_snapshot_error *error)
{
    size_t at = reader->offset;
    /* an entry takes at least 12 bytes: ref and list length */
    int32_t count = jute_read_vector_count(reader, 12);
    if (!reader->ok || count < 0) {
        return fail(error, at, "bad ACL cache size");
    }
    for (int32_t i = 0; i < count; i++) {
        size_t entry_at = reader->offset;
        int64_t ref = jute_read_long(reader);
        if (!reader->ok) {
            return truncated(error, entry_at, "ACL cache entry");
        }
        struct store_acl_list *list = read_acl_list(reader, error);
        if (!list) {
            return false;
        }
        list->ref = ref;
        bool ok = !visitor->acl || visitor->acl(visitor->context, ref, list, error);
        free(list);
        if (!ok) {
            error->offset = entry_at;
            return false;
        }
    }
    return true;
}

static bool path_is_slash(struct jute_bytes path)
{
    return path.len == 1 && path.ptr[0] == '/';
}

static bool read_nodes(struct jute_reader *reader, const struct store_snapshot_visitor *visitor,
                       struct store_snapshot_error *error)
{
    for (;;) {
        size_t at = reader->offset;
        struct jute_bytes path = jute_read_bytes(reader);
        if (!reader->ok || path.len < 0) {
            return truncated(error, at, "node path");
        }
        if (path_is_slash(path)) {
            return true;
        }
        struct jute_bytes data = jute_read_bytes(reader);
        int64_t acl_ref = jute_read_long(reader);
        struct jute_stat_persisted stat;
        jute_stat_persisted_decode(reader, NULL, &stat);
        if (!reader->ok) {
            return truncated(error, at, "node");
        }
        if (visitor->node &&
            !visitor->node(visitor->context, at, path, data, acl_ref, &stat, error)) {
            return false;
        }
    }
}

/* ZxidDigest and its seal, while bytes remain (3.8 reads one; a later
 * version adds more of the same shape). */
static bool read_trailers(struct jute_reader *reader,
                          const struct store_snapshot_visitor *visitor,
                          struct store_snapshot_error *error)
{
    for (uint32_t i = 0; jute_reader_remaining(reader) > 0; i++) {
        size_t at = reader->offset;
        if (i == STORE_SNAPSHOT_TRAILERS_MAX) {
            return fail(error, at, "unexpected bytes after the last seal");
        }
        int64_t zxid = jute_read_long(reader);
        int32_t digest_version = jute_read_int(reader);
        int64_t digest = jute_read_long(reader);
        if (!reader->ok) {
            return truncated(error, at, "digest trailer");
        }
        if (!read_seal(reader, visitor, error)) {
            return false;
        }
        if (visitor->digest &&
            !visitor->digest(visitor->context, zxid, digest_version, digest)) {
            return fail(error, at, "stopped at the digest");
        }
    }
    return true;
}

bool store_snapshot_parse(const uint8_t *data, size_t size,
                          const struct store_snapshot_visitor *visitor,
                          struct store_snapshot_error *error)
{
    static const struct store_snapshot_visitor check_only = {0};
    if (!visitor) {
        visitor = &check_only; /* only check the file */
    }
    struct jute_reader reader;
    jute_reader_init(&reader, data, size);
    int32_t magic = jute_read_int(&reader);
    int32_t version = jute_read_int(&reader);
    int64_t dbid = jute_read_long(&reader);
    if (!reader.ok) {
        return truncated(error, 0, "file header");
    }
    if (magic != STORE_SNAPSHOT_MAGIC) {
        return fail(error, 0, "mismatching magic header 0x%08" PRIx32 " (ZKSN expected)",
                    (uint32_t)magic);
    }
    if (visitor->header && !visitor->header(visitor->context, magic, version, dbid)) {
        return fail(error, 0, "stopped at the header");
    }
    return read_sessions(&reader, visitor, error) &&
           read_acl_cache(&reader, visitor, error) && read_nodes(&reader, visitor, error) &&
           read_seal(&reader, visitor, error) && read_trailers(&reader, visitor, error);
}

/* ---- loading ------------------------------------------------------------------ */

struct acl_ref_entry {
    int64_t ref;
    struct store_acl_list *list;          /* owned copy */
    const struct store_acl_list *interned; /* the tree's list, one usage held */
};

struct load_state {
    struct store_tree *tree;
    struct store_snapshot_session *sessions;
    size_t session_count;
    size_t session_capacity;
    struct acl_ref_entry *acls;
    size_t acl_count;
    size_t acl_capacity;
    bool acls_interned;
    bool root_seen;
};

static bool load_session(void *context, int64_t session_id, int32_t timeout_ms)
{
    struct load_state *state = context;
    if (state->session_count == state->session_capacity) {
        size_t capacity = state->session_capacity ? state->session_capacity * 2 : 16;
        struct store_snapshot_session *grown =
            realloc(state->sessions, capacity * sizeof *grown);
        if (!grown) {
            return false;
        }
        state->sessions = grown;
        state->session_capacity = capacity;
    }
    state->sessions[state->session_count++] =
        (struct store_snapshot_session){session_id, timeout_ms};
    return true;
}

static bool load_acl(void *context, int64_t ref, const struct store_acl_list *list,
                     struct store_snapshot_error *error)
{
    struct load_state *state = context;
    if (state->acl_count == state->acl_capacity) {
        size_t capacity = state->acl_capacity ? state->acl_capacity * 2 : 16;
        struct acl_ref_entry *grown = realloc(state->acls, capacity * sizeof *grown);
        if (!grown) {
            return fail(error, 0, "out of memory for the ACL cache");
        }
        state->acls = grown;
        state->acl_capacity = capacity;
    }
    state->acls[state->acl_count++] =
        (struct acl_ref_entry){ref, store_acl_list_copy(list), NULL};
    return true;
}

static int compare_acl_entry(const void *a, const void *b)
{
    int64_t left = ((const struct acl_ref_entry *)a)->ref;
    int64_t right = ((const struct acl_ref_entry *)b)->ref;
    return left < right ? -1 : left > right;
}

/* Interns the file's lists in the order of their refs, before any node,
 * so that a file whose refs are 1..n (as ZooKeeper numbers them) keeps its
 * numbers in the tree and a rewrite has the same bytes. Each holds one
 * usage until the load ends (then unused lists go, as purgeUnused drops
 * them); the builtin /zookeeper/config list thus survives its setACL. */
static void intern_acls(struct load_state *state)
{
    qsort(state->acls, state->acl_count, sizeof state->acls[0], compare_acl_entry);
    for (size_t i = 0; i < state->acl_count; i++) {
        state->acls[i].interned = store_acl_intern(state->tree, state->acls[i].list);
    }
    state->acls_interned = true;
}

static void release_acls(struct load_state *state)
{
    for (size_t i = 0; i < state->acl_count; i++) {
        if (state->acls[i].interned) {
            store_acl_release(state->tree, state->acls[i].interned);
        }
        free(state->acls[i].list);
    }
    free(state->acls);
}

/* ReferenceCountedACLCache.convertLong: -1 is OPEN_ACL_UNSAFE; a ref that
 * is not in the cache is an error. */
static const struct store_acl_list *acl_for_ref(struct load_state *state, int64_t ref)
{
    if (ref == -1) {
        return store_open_acl_unsafe;
    }
    if (!state->acls_interned) {
        intern_acls(state);
    }
    struct acl_ref_entry key = {ref, NULL, NULL};
    const struct acl_ref_entry *found = state->acl_count
        ? bsearch(&key, state->acls, state->acl_count, sizeof key, compare_acl_entry)
        : NULL;
    return found ? found->interned : NULL;
}

static size_t last_slash_of(struct jute_bytes path)
{
    size_t at = (size_t)path.len;
    while (at > 0 && path.ptr[at - 1] != '/') {
        at--;
    }
    return at == 0 ? SIZE_MAX : at - 1;
}

/* The loaded tree has no reader yet, so a node's current version may be
 * completed in place instead of published anew. */
static void set_persisted_stat(struct store_node *node, const struct jute_stat_persisted *stat)
{
    struct store_version *version = (struct store_version *)store_node_version(node);
    version->stat.czxid = stat->czxid;
    version->stat.mzxid = stat->mzxid;
    version->stat.ctime_ms = stat->ctime;
    version->stat.mtime_ms = stat->mtime;
    version->stat.version = stat->version;
    version->stat.cversion = stat->cversion;
    version->stat.aversion = stat->aversion;
    version->stat.ephemeral_owner = stat->ephemeral_owner;
    version->stat.pzxid = stat->pzxid;
    int64_t newest = stat->czxid;
    newest = stat->mzxid > newest ? stat->mzxid : newest;
    newest = stat->pzxid > newest ? stat->pzxid : newest;
    version->version_zxid = newest;
}

/* A node that the fresh tree has already (the root and ZooKeeper's builtin
 * nodes): the snapshot's data, ACL and stat replace the builtin ones. */
static void load_over_existing(struct store_tree *tree, struct store_node *node,
                               struct jute_bytes path, struct jute_bytes data,
                               const struct store_acl_list *acl,
                               const struct jute_stat_persisted *stat)
{
    const uint8_t *bytes = path.ptr;
    size_t len = (size_t)path.len;
    int rc = store_tree_set_data(tree, bytes, len, data, stat->version, stat->mzxid, stat->mtime,
                                 NULL);
    assert(rc == ZK_OK);
    rc = store_tree_set_acl(tree, bytes, len, acl, stat->aversion, stat->mzxid, NULL);
    assert(rc == ZK_OK);
    (void)rc;
    set_persisted_stat(node, stat);
}

static bool load_node(void *context, size_t offset, struct jute_bytes path,
                      struct jute_bytes data, int64_t acl_ref,
                      const struct jute_stat_persisted *stat, struct store_snapshot_error *error)
{
    struct load_state *state = context;
    struct store_tree *tree = state->tree;
    const struct store_acl_list *acl = acl_for_ref(state, acl_ref);
    if (!acl) {
        return fail(error, offset, "node %.*s: ACL ref %" PRId64 " is not in the ACL cache",
                    path.len, (const char *)path.ptr, acl_ref);
    }
    if (path.len == 0) {
        /* DataTree.deserialize: the node without a slash is the root */
        state->root_seen = true;
        load_over_existing(tree, tree->root, path, data, acl, stat);
        return true;
    }
    size_t slash = last_slash_of(path);
    if (slash == SIZE_MAX || !state->root_seen || store_path_validate(path, false) != ZK_OK) {
        return fail(error, offset, "invalid path \"%.*s\"", path.len, (const char *)path.ptr);
    }
    if (!store_find(tree, path.ptr, slash, NULL)) {
        return fail(error, offset, "invalid data tree: no parent \"%.*s\" for \"%.*s\"",
                    (int)slash, (const char *)path.ptr, path.len, (const char *)path.ptr);
    }
    struct store_node *node = store_find(tree, path.ptr, (size_t)path.len, NULL);
    if (node) {
        load_over_existing(tree, node, path, data, acl, stat);
        return true;
    }
    /* INT32_MIN: the parent's cversion and pzxid are the snapshot's. */
    int rc = store_tree_create_node(tree, path.ptr, (size_t)path.len, data, acl,
                                    stat->ephemeral_owner, INT32_MIN, stat->czxid, stat->ctime,
                                    NULL);
    if (rc != ZK_OK) {
        return fail(error, offset, "node \"%.*s\" cannot be created (error %d)", path.len,
                    (const char *)path.ptr, rc);
    }
    node = store_find(tree, path.ptr, (size_t)path.len, NULL);
    assert(node != NULL);
    set_persisted_stat(node, stat);
    return true;
}

bool store_snapshot_load(struct store_tree *tree, const uint8_t *data, size_t size,
                         struct store_snapshot_session **sessions_out,
                         size_t *session_count_out, struct store_snapshot_error *error)
{
    /* Nodes are completed in place (set_persisted_stat): no reader may see them. */
    assert(atomic_load_explicit(&tree->reader_count, memory_order_relaxed) == 0);
    struct load_state state = {.tree = tree};
    struct store_snapshot_visitor visitor = {
        .context = &state,
        .session = load_session,
        .acl = load_acl,
        .node = load_node,
    };
    bool ok = store_snapshot_parse(data, size, &visitor, error);
    release_acls(&state);
    /* Versions replaced while loading are freed now: there is no reader. */
    store_reclaim(tree);
    if (!ok) {
        free(state.sessions);
        *sessions_out = NULL;
        *session_count_out = 0;
        return false;
    }
    *sessions_out = state.sessions;
    *session_count_out = state.session_count;
    return true;
}
