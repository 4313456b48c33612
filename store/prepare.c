/* ZooKeeper's PrepRequestProcessor: client write requests become
 * transactions, validated against the tree plus the changes of transactions
 * prepared but not yet applied (outstandingChanges).
 *
 * What ZooKeeper 3.8 does and this mirrors (checked against a running
 * 3.8.0):
 *  - Every failed write still becomes a transaction: the header type turns
 *    into error (-1) and the record into ErrorTxn{err}, and it takes a zxid.
 *    That includes a body that does not decode (MARSHALLINGERROR), a bad
 *    path (BADARGUMENTS), TTL requests while extended types are off
 *    (UNIMPLEMENTED) and reconfig while reconfig is disabled
 *    (RECONFIGDISABLED) or refused (reconfig on a server that does not lead
 *    an ensemble: UNIMPLEMENTED; the leader's checks: BADVERSION,
 *    BADARGUMENTS, NEWCONFIGNOQUORUM, RECONFIGINPROGRESS; then NOAUTH).
 *  - store_prepare returns something other than ZK_OK (and no txn) only for
 *    an opcode that is not a write (ZK_UNIMPLEMENTED), a reconfig body that
 *    does not decode (ZooKeeper decodes it before making the header, so it
 *    logs nothing: ZK_MARSHALLINGERROR) and a transaction that would not fit
 *    in jute.maxbuffer plus ZooKeeper's read slack (ZK_MARSHALLINGERROR:
 *    such a request cannot have come through a ZooKeeper-sized frame).
 *  - Sub-transactions of a multi are validated against the effects of the
 *    earlier ops; on the first failure the pending changes of the multi are
 *    rolled back and the MultiTxn holds the earlier ops' real txns, then
 *    ErrorTxn{err}, then ErrorTxn{RUNTIMEINCONSISTENCY} for the rest.
 *  - Session checks (SESSIONEXPIRED, SESSIONMOVED) and quotas
 *    (enforceQuota=false by default) are not the store's business.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jute/records.h"
#include "store/store_internal.h"

/* Decoded vectors of one request come from a stack arena of this size, and
 * larger ones from the heap (bounded by the body's size). */
#define PREPARE_ARENA_BYTES 16384u
/* Java's "%010d" of an int: at most a sign and 10 digits. */
#define SEQUENCE_SUFFIX_BYTES 12u

/* ---- pending change records -------------------------------------------- */

static uint32_t pending_slot_hash(const char *path, size_t len)
{
    return store_hash_bytes(path, len);
}

static struct store_pending_entry *pending_find(struct store_pending_map *map, const char *path,
                                                size_t len)
{
    if (!map->capacity) {
        return NULL;
    }
    uint32_t mask = map->capacity - 1;
    uint32_t index = pending_slot_hash(path, len) & mask;
    for (uint32_t probes = 0; probes < map->capacity; probes++) {
        struct store_pending_entry *entry = &map->slots[index];
        if (!entry->record && !entry->path) {
            return NULL;
        }
        if (entry->record && entry->path_len == len && memcmp(entry->path, path, len) == 0) {
            return entry;
        }
        index = (index + 1) & mask;
    }
    return NULL;
}

/* A removed entry keeps path != NULL and record == NULL (a tombstone). */
static void pending_place(struct store_pending_map *map, struct store_change_record *record)
{
    uint32_t mask = map->capacity - 1;
    uint32_t index = pending_slot_hash(record->path, record->path_len) & mask;
    while (map->slots[index].record) {
        index = (index + 1) & mask;
    }
    if (!map->slots[index].path) {
        map->used++;
    }
    map->slots[index] = (struct store_pending_entry){record->path, record->path_len, record};
    map->count++;
}

static void pending_rehash(struct store_pending_map *map)
{
    uint32_t capacity = 16;
    while ((uint64_t)(map->count + 1) * 2 > capacity) {
        capacity *= 2;
    }
    struct store_pending_entry *old = map->slots;
    uint32_t old_capacity = map->capacity;
    map->slots = calloc(capacity, sizeof *map->slots);
    if (!map->slots) {
        abort();
    }
    map->capacity = capacity;
    map->count = 0;
    map->used = 0;
    for (uint32_t i = 0; i < old_capacity; i++) {
        if (old[i].record) {
            pending_place(map, old[i].record);
        }
    }
    free(old);
}

/* Makes `record` the latest for its path; returns the one it replaced. */
static struct store_change_record *pending_set(struct store_pending_map *map,
                                               struct store_change_record *record)
{
    struct store_pending_entry *entry = pending_find(map, record->path, record->path_len);
    if (entry) {
        struct store_change_record *previous = entry->record;
        entry->record = record;
        entry->path = record->path;
        return previous;
    }
    if ((uint64_t)(map->used + 1) * 4 > (uint64_t)map->capacity * 3) {
        pending_rehash(map);
    }
    pending_place(map, record);
    return NULL;
}

static void pending_unset(struct store_pending_map *map, struct store_change_record *record,
                          struct store_change_record *replacement)
{
    struct store_pending_entry *entry = pending_find(map, record->path, record->path_len);
    if (!entry || entry->record != record) {
        return;
    }
    if (replacement) {
        entry->record = replacement;
        entry->path = replacement->path;
    } else {
        entry->record = NULL; /* tombstone: path stays non-NULL */
        map->count--;
    }
}

static void record_free(struct store_change_record *record)
{
    free(record->path);
    free(record->acl);
    free(record);
}

/* A read-only view of the latest state of a path (getRecordForPath). */
struct record_view {
    struct store_stat stat; /* persisted form */
    int32_t child_count;
    const struct store_acl_list *acl; /* valid until the prepare call returns */
};

static int record_get(struct store_tree *tree, const uint8_t *path, size_t len,
                      struct record_view *out)
{
    struct store_pending_entry *entry = pending_find(&tree->pending, (const char *)path, len);
    if (entry) {
        if (!entry->record->exists) {
            return ZK_NONODE;
        }
        out->stat = entry->record->stat;
        out->child_count = entry->record->child_count;
        out->acl = entry->record->acl;
        return ZK_OK;
    }
    struct store_node *node = store_find(tree, path, len, NULL);
    if (!node) {
        return ZK_NONODE;
    }
    const struct store_version *version = store_node_version(node);
    out->stat = version->stat;
    out->child_count = version->stat.num_children;
    out->acl = version->acl;
    return ZK_OK;
}

/* addChangeRecord: appends to the FIFO and becomes the path's latest. */
static void record_add(struct store_tree *tree, int64_t zxid, const uint8_t *path, size_t len,
                       bool exists, const struct store_stat *stat, int32_t child_count,
                       const struct store_acl_list *acl)
{
    struct store_change_record *record = calloc(1, sizeof *record);
    if (!record) {
        abort();
    }
    record->zxid = zxid;
    record->path = malloc(len + 1);
    if (!record->path) {
        abort();
    }
    memcpy(record->path, path, len);
    record->path[len] = '\0';
    record->path_len = len;
    record->exists = exists;
    if (stat) {
        record->stat = *stat;
    }
    record->child_count = child_count;
    record->acl = acl ? store_acl_list_copy(acl) : NULL;
    record->prev_for_path = pending_set(&tree->pending, record);
    if (record->prev_for_path) {
        record->prev_for_path->next_for_path = record;
    }
    if (tree->pending_tail) {
        tree->pending_tail->next = record;
    } else {
        tree->pending_head = record;
    }
    tree->pending_tail = record;
}

/* Drops the records added after `keep_tail` (newest first), restoring
 * each path's previous latest record (rollbackPendingChanges). */
static void records_rollback(struct store_tree *tree, struct store_change_record *keep_tail)
{
    struct store_change_record *first = keep_tail ? keep_tail->next : tree->pending_head;
    /* Collect the tail into an array to unwind it newest first. */
    size_t count = 0;
    for (struct store_change_record *at = first; at; at = at->next) {
        count++;
    }
    if (!count) {
        return;
    }
    struct store_change_record **items = malloc(count * sizeof *items);
    if (!items) {
        abort();
    }
    size_t index = 0;
    for (struct store_change_record *at = first; at; at = at->next) {
        items[index++] = at;
    }
    for (size_t i = count; i-- > 0;) {
        pending_unset(&tree->pending, items[i], items[i]->prev_for_path);
        if (items[i]->prev_for_path) {
            items[i]->prev_for_path->next_for_path = NULL;
        }
        record_free(items[i]);
    }
    free(items);
    if (keep_tail) {
        keep_tail->next = NULL;
    } else {
        tree->pending_head = NULL;
    }
    tree->pending_tail = keep_tail;
}

/* Called by store_apply: the records of transactions up to `zxid` are in
 * the tree now. */
void store_pending_applied(struct store_tree *tree, int64_t zxid)
{
    while (tree->pending_head && tree->pending_head->zxid <= zxid) {
        struct store_change_record *record = tree->pending_head;
        tree->pending_head = record->next;
        pending_unset(&tree->pending, record, NULL);
        /* The oldest record of its path (FIFO): a later one for the path
         * now falls back to the tree, not to this record. */
        assert(record->prev_for_path == NULL);
        if (record->next_for_path) {
            record->next_for_path->prev_for_path = NULL;
        }
        record_free(record);
    }
    if (!tree->pending_head) {
        tree->pending_tail = NULL;
        /* Everything applied: start the map afresh so tombstones go. */
        free(tree->pending.slots);
        memset(&tree->pending, 0, sizeof tree->pending);
    }
}

void store_prepare_reset(struct store_tree *tree)
{
    records_rollback(tree, NULL);
    free(tree->pending.slots);
    memset(&tree->pending, 0, sizeof tree->pending);
}

/* ---- helpers --------------------------------------------------------------- */

struct prep {
    struct store_tree *tree;
    const struct store_prepare_input *input;
    int64_t zxid;
    int64_t time_ms;
    struct jute_arena arena;
    uint8_t *arena_heap;
};

static void prep_arena_init(struct prep *prep, uint8_t *stack, size_t body_bytes)
{
    /* A decoded vector element (a multi op, an ACL) takes at most 8 times
     * the bytes of its smallest wire form, so this bound always suffices. */
    size_t need = body_bytes * 8 + 1024;
    prep->arena_heap = NULL;
    if (need <= PREPARE_ARENA_BYTES) {
        jute_arena_init(&prep->arena, stack, PREPARE_ARENA_BYTES);
        return;
    }
    prep->arena_heap = malloc(need);
    if (!prep->arena_heap) {
        abort();
    }
    jute_arena_init(&prep->arena, prep->arena_heap, need);
}

static bool bytes_have_nul(struct jute_bytes bytes)
{
    return bytes.len > 0 && memchr(bytes.ptr, '\0', (size_t)bytes.len) != NULL;
}

/* lastIndexOf('/'); SIZE_MAX when there is none. */
static size_t path_last_slash(struct jute_bytes path)
{
    for (int32_t i = path.len; i-- > 0;) {
        if (path.ptr[i] == '/') {
            return (size_t)i;
        }
    }
    return SIZE_MAX;
}

static int check_and_inc_version(int32_t current, int32_t expected, int32_t *next)
{
    if (expected != -1 && expected != current) {
        return ZK_BADVERSION;
    }
    *next = (int32_t)((uint32_t)current + 1u);
    return ZK_OK;
}

static int acl_check(struct prep *prep, const struct store_acl_list *acl, int32_t perm)
{
    return store_acl_check(prep->tree, acl, perm, prep->input->auth);
}

/* CreateMode.fromFlag; false for an unknown flag. */
static bool create_mode_valid(int32_t flags)
{
    return flags >= ZK_CREATE_PERSISTENT && flags <= ZK_CREATE_PERSISTENT_SEQUENTIAL_WITH_TTL;
}
static bool mode_is_sequential(int32_t mode)
{
    return mode == ZK_CREATE_PERSISTENT_SEQUENTIAL || mode == ZK_CREATE_EPHEMERAL_SEQUENTIAL ||
           mode == ZK_CREATE_PERSISTENT_SEQUENTIAL_WITH_TTL;
}
static bool mode_is_ephemeral(int32_t mode)
{
    return mode == ZK_CREATE_EPHEMERAL || mode == ZK_CREATE_EPHEMERAL_SEQUENTIAL;
}
static bool mode_is_ttl(int32_t mode)
{
    return mode == ZK_CREATE_PERSISTENT_WITH_TTL ||
           mode == ZK_CREATE_PERSISTENT_SEQUENTIAL_WITH_TTL;
}

/* The txn record of one (sub)request, encoded into `record`. */
struct prepared {
    int32_t type;
    struct jute_writer *record;
};

/* ---- create ---------------------------------------------------------------- */

struct create_args {
    struct jute_bytes path;
    struct jute_bytes data;
    const struct jute_acl_vector *acl;
    int32_t flags;
    int64_t ttl; /* -1 when the request has none */
};

static int prep_create(struct prep *prep, int32_t type, const struct create_args *args,
                       struct jute_writer *record)
{
    struct store_tree *tree = prep->tree;
    if (!create_mode_valid(args->flags)) {
        return ZK_BADARGUMENTS;
    }
    int32_t mode = args->flags;
    /* validateCreateRequest */
    if (mode_is_ttl(mode) && !tree->config.extended_types_enabled) {
        return ZK_UNIMPLEMENTED;
    }
    if (mode_is_ttl(mode) ? (args->ttl > ZK_TTL_MAX_MS || args->ttl <= 0) : args->ttl >= 0) {
        return ZK_BADARGUMENTS;
    }
    /* validatePathForCreate */
    size_t slash = args->path.len >= 0 ? path_last_slash(args->path) : SIZE_MAX;
    if (slash == SIZE_MAX || bytes_have_nul(args->path)) {
        return ZK_BADARGUMENTS;
    }
    struct store_acl_list *acl = NULL;
    int rc = store_acl_fixup(args->acl, prep->input->auth, &acl);
    if (rc != ZK_OK) {
        return rc;
    }
    struct record_view parent;
    rc = record_get(tree, args->path.ptr, slash, &parent);
    if (rc == ZK_OK) {
        rc = acl_check(prep, parent.acl, ZK_PERM_CREATE);
    }
    /* The final path: sequential creates append the parent's cversion. */
    size_t path_len = (size_t)args->path.len;
    uint8_t *path = malloc(path_len + SEQUENCE_SUFFIX_BYTES);
    if (!path) {
        abort();
    }
    memcpy(path, args->path.ptr, path_len);
    if (rc == ZK_OK && mode_is_sequential(mode)) {
        char suffix[SEQUENCE_SUFFIX_BYTES];
        int written = snprintf(suffix, sizeof suffix, "%010d", parent.stat.cversion);
        assert(written > 0 && (size_t)written < sizeof suffix);
        memcpy(path + path_len, suffix, (size_t)written);
        path_len += (size_t)written;
    }
    if (rc == ZK_OK) {
        rc = store_path_validate(jute_bytes_of(path, (int32_t)path_len), false);
    }
    struct record_view existing;
    if (rc == ZK_OK && record_get(tree, path, path_len, &existing) == ZK_OK) {
        rc = ZK_NODEEXISTS;
    }
    if (rc == ZK_OK &&
        store_ephemeral_type(tree, parent.stat.ephemeral_owner) == STORE_EPHEMERAL_NORMAL) {
        rc = ZK_NOCHILDRENFOREPHEMERALS;
    }
    if (rc != ZK_OK) {
        free(path);
        free(acl);
        return rc;
    }
    int32_t new_cversion = (int32_t)((uint32_t)parent.stat.cversion + 1u);
    struct jute_acl *items = malloc(sizeof *items * (size_t)(acl->count ? acl->count : 1));
    if (!items) {
        abort();
    }
    store_acl_list_to_vector(acl, items);
    struct jute_acl_vector acl_vector = {acl->count, items};
    struct jute_bytes final_path = jute_bytes_of(path, (int32_t)path_len);
    if (type == ZK_OP_CREATE_CONTAINER) {
        struct jute_create_container_txn txn = {final_path, args->data, acl_vector,
                                                new_cversion};
        jute_create_container_txn_encode(record, &txn);
    } else if (type == ZK_OP_CREATE_TTL) {
        struct jute_create_ttl_txn txn = {final_path, args->data, acl_vector, new_cversion,
                                          args->ttl};
        jute_create_ttl_txn_encode(record, &txn);
    } else {
        struct jute_create_txn txn = {final_path, args->data, acl_vector,
                                      mode_is_ephemeral(mode), new_cversion};
        jute_create_txn_encode(record, &txn);
    }
    free(items);

    int64_t owner = 0;
    if (mode == ZK_CREATE_CONTAINER) {
        owner = ZK_EPHEMERAL_OWNER_CONTAINER;
    } else if (mode_is_ttl(mode)) {
        owner = ZK_EPHEMERAL_OWNER_TTL_MASK | args->ttl;
    } else if (mode_is_ephemeral(mode)) {
        owner = prep->input->session_id;
    }
    struct store_stat parent_stat = parent.stat;
    parent_stat.cversion = new_cversion;
    parent_stat.pzxid = prep->zxid;
    record_add(tree, prep->zxid, args->path.ptr, slash, true, &parent_stat,
               parent.child_count + 1, parent.acl);
    struct store_stat stat = {
        .czxid = prep->zxid,
        .mzxid = prep->zxid,
        .ctime_ms = prep->time_ms,
        .mtime_ms = prep->time_ms,
        .ephemeral_owner = owner,
        .pzxid = prep->zxid,
        .data_length = args->data.len > 0 ? args->data.len : 0,
    };
    record_add(tree, prep->zxid, path, path_len, true, &stat, 0, acl);
    free(path);
    free(acl);
    return ZK_OK;
}

/* ---- delete, setData, setACL, check ----------------------------------------- */

static int prep_delete(struct prep *prep, const struct jute_delete_request *request,
                       struct jute_writer *record)
{
    struct store_tree *tree = prep->tree;
    struct jute_bytes path = request->path;
    size_t slash = path.len >= 0 ? path_last_slash(path) : SIZE_MAX;
    if (slash == SIZE_MAX || bytes_have_nul(path) ||
        store_path_is_special(path.ptr, (size_t)path.len)) {
        return ZK_BADARGUMENTS;
    }
    struct record_view parent;
    int rc = record_get(tree, path.ptr, slash, &parent);
    if (rc != ZK_OK) {
        return rc;
    }
    rc = acl_check(prep, parent.acl, ZK_PERM_DELETE);
    if (rc != ZK_OK) {
        return rc;
    }
    struct record_view node;
    rc = record_get(tree, path.ptr, (size_t)path.len, &node);
    if (rc != ZK_OK) {
        return rc;
    }
    int32_t unused;
    rc = check_and_inc_version(node.stat.version, request->version, &unused);
    if (rc != ZK_OK) {
        return rc;
    }
    if (node.child_count > 0) {
        return ZK_NOTEMPTY;
    }
    struct jute_delete_txn txn = {path};
    jute_delete_txn_encode(record, &txn);
    struct store_stat parent_stat = parent.stat;
    parent_stat.pzxid = prep->zxid;
    record_add(tree, prep->zxid, path.ptr, slash, true, &parent_stat, parent.child_count - 1,
               parent.acl);
    record_add(tree, prep->zxid, path.ptr, (size_t)path.len, false, NULL, -1, NULL);
    return ZK_OK;
}

static int prep_set_data(struct prep *prep, const struct jute_set_data_request *request,
                         struct jute_writer *record)
{
    struct store_tree *tree = prep->tree;
    int rc = store_path_validate(request->path, false);
    if (rc != ZK_OK) {
        return rc;
    }
    struct record_view node;
    rc = record_get(tree, request->path.ptr, (size_t)request->path.len, &node);
    if (rc != ZK_OK) {
        return rc;
    }
    rc = acl_check(prep, node.acl, ZK_PERM_WRITE);
    if (rc != ZK_OK) {
        return rc;
    }
    int32_t new_version;
    rc = check_and_inc_version(node.stat.version, request->version, &new_version);
    if (rc != ZK_OK) {
        return rc;
    }
    struct jute_set_data_txn txn = {request->path, request->data, new_version};
    jute_set_data_txn_encode(record, &txn);
    struct store_stat stat = node.stat;
    stat.version = new_version;
    stat.mtime_ms = prep->time_ms;
    stat.mzxid = prep->zxid;
    stat.data_length = request->data.len > 0 ? request->data.len : 0;
    record_add(tree, prep->zxid, request->path.ptr, (size_t)request->path.len, true, &stat,
               node.child_count, node.acl);
    return ZK_OK;
}

/* The reconfig case of PrepRequestProcessor: the ensemble's leader (the
 * hook) checks the request against the configuration it last saw and
 * writes the new configuration's text; then, as ZooKeeper does last, the
 * writer needs WRITE on /zookeeper/config (read-only to everybody but
 * super). The transaction is a SetDataTxn of that text with version -1. */
static int prep_reconfig(struct prep *prep, const struct jute_reconfig_request *request,
                         struct jute_writer *record)
{
    struct store_tree *tree = prep->tree;
    char *text = malloc(STORE_CONFIG_TEXT_BYTES_MAX);
    if (!text) {
        abort();
    }
    int rc = prep->input->reconfig(prep->input->reconfig_context, request, prep->zxid, text,
                                   STORE_CONFIG_TEXT_BYTES_MAX);
    struct jute_bytes path = jute_bytes_cstr(STORE_CONFIG_PATH);
    struct record_view node;
    if (rc == ZK_OK) {
        rc = record_get(tree, path.ptr, (size_t)path.len, &node);
    }
    if (rc == ZK_OK) {
        rc = acl_check(prep, node.acl, ZK_PERM_WRITE);
    }
    if (rc == ZK_OK) {
        struct jute_bytes data = jute_bytes_cstr(text);
        struct jute_set_data_txn txn = {path, data, -1};
        jute_set_data_txn_encode(record, &txn);
        struct store_stat stat = node.stat;
        stat.version = -1;
        stat.mtime_ms = prep->time_ms;
        stat.mzxid = prep->zxid;
        stat.data_length = data.len;
        record_add(tree, prep->zxid, path.ptr, (size_t)path.len, true, &stat, node.child_count,
                   node.acl);
    }
    free(text);
    return rc;
}

static int prep_set_acl(struct prep *prep, const struct jute_set_acl_request *request,
                        struct jute_writer *record)
{
    struct store_tree *tree = prep->tree;
    int rc = store_path_validate(request->path, false);
    if (rc != ZK_OK) {
        return rc;
    }
    struct store_acl_list *acl = NULL;
    rc = store_acl_fixup(&request->acl, prep->input->auth, &acl);
    if (rc != ZK_OK) {
        return rc;
    }
    struct record_view node;
    rc = record_get(tree, request->path.ptr, (size_t)request->path.len, &node);
    if (rc == ZK_OK) {
        rc = acl_check(prep, node.acl, ZK_PERM_ADMIN);
    }
    int32_t new_version = 0;
    if (rc == ZK_OK) {
        rc = check_and_inc_version(node.stat.aversion, request->version, &new_version);
    }
    if (rc != ZK_OK) {
        free(acl);
        return rc;
    }
    struct jute_acl *items = malloc(sizeof *items * (size_t)(acl->count ? acl->count : 1));
    if (!items) {
        abort();
    }
    store_acl_list_to_vector(acl, items);
    struct jute_set_acl_txn txn = {request->path, {acl->count, items}, new_version};
    jute_set_acl_txn_encode(record, &txn);
    free(items);
    struct store_stat stat = node.stat;
    stat.aversion = new_version;
    record_add(tree, prep->zxid, request->path.ptr, (size_t)request->path.len, true, &stat,
               node.child_count, acl);
    free(acl);
    return ZK_OK;
}

static int prep_check(struct prep *prep, const struct jute_check_version_request *request,
                      struct jute_writer *record)
{
    int rc = store_path_validate(request->path, false);
    if (rc != ZK_OK) {
        return rc;
    }
    struct record_view node;
    rc = record_get(prep->tree, request->path.ptr, (size_t)request->path.len, &node);
    if (rc != ZK_OK) {
        return rc;
    }
    rc = acl_check(prep, node.acl, ZK_PERM_READ);
    if (rc != ZK_OK) {
        return rc;
    }
    int32_t next_version;
    rc = check_and_inc_version(node.stat.version, request->version, &next_version);
    if (rc != ZK_OK) {
        return rc;
    }
    /* ZooKeeper logs the version plus one. */
    struct jute_check_version_txn txn = {request->path, next_version};
    jute_check_version_txn_encode(record, &txn);
    return ZK_OK;
}

/* ---- multi --------------------------------------------------------------------- */

/* Op.create picks the op's type from its flags (MultiOperationRecord), so a
 * create2 inside a multi is a plain create. Returns the type and fills
 * `args`; ZK_OP_ERROR when ZooKeeper would fail the whole multi (a TTL mode
 * given through a CreateRequest: a ClassCastException there). */
static int32_t multi_create_args(const struct jute_multi_op *op, struct create_args *args)
{
    bool from_ttl_request = op->type == ZK_OP_CREATE_TTL;
    const struct jute_create_request *create = &op->u.create;
    if (from_ttl_request) {
        args->path = op->u.create_ttl.path;
        args->data = op->u.create_ttl.data;
        args->acl = &op->u.create_ttl.acl;
        args->flags = op->u.create_ttl.flags;
        args->ttl = op->u.create_ttl.ttl;
    } else {
        args->path = create->path;
        args->data = create->data;
        args->acl = &create->acl;
        args->flags = create->flags;
        args->ttl = -1;
    }
    int32_t mode = create_mode_valid(args->flags) ? args->flags : ZK_CREATE_PERSISTENT;
    if (mode_is_ttl(mode)) {
        return from_ttl_request ? ZK_OP_CREATE_TTL : ZK_OP_ERROR;
    }
    args->ttl = -1; /* Op.create without ttl */
    return mode == ZK_CREATE_CONTAINER ? ZK_OP_CREATE_CONTAINER : ZK_OP_CREATE;
}

static void multi_add(struct jute_txn *txns, int32_t index, int32_t type,
                      struct jute_writer *record)
{
    txns[index].type = type;
    txns[index].data = jute_bytes_of(record->data ? record->data : (const uint8_t *)"",
                                     (int32_t)record->size);
}

static void encode_error_into(struct jute_writer *writer, int32_t err)
{
    struct jute_error_txn error = {err};
    jute_error_txn_encode(writer, &error);
}

/* Returns ZK_OK with the MultiTxn in `record`, or MARSHALLINGERROR for a
 * multi ZooKeeper fails as a whole. */
static int prep_multi(struct prep *prep, const struct jute_multi_request *multi,
                      struct jute_writer *record)
{
    int32_t count = multi->count > 0 ? multi->count : 0;
    for (int32_t i = 0; i < count; i++) {
        int32_t type = multi->ops[i].type;
        if (type == ZK_OP_GET_DATA || type == ZK_OP_GET_CHILDREN) {
            return ZK_MARSHALLINGERROR; /* a read op: no txn to serialize */
        }
    }
    struct jute_writer *records = calloc((size_t)(count ? count : 1), sizeof *records);
    struct jute_txn *txns = calloc((size_t)(count ? count : 1), sizeof *txns);
    if (!records || !txns) {
        abort();
    }
    struct store_change_record *keep_tail = prep->tree->pending_tail;
    int failed = ZK_OK;
    int whole = ZK_OK;
    for (int32_t i = 0; i < count && whole == ZK_OK; i++) {
        const struct jute_multi_op *op = &multi->ops[i];
        jute_writer_init(&records[i], record->limit_bytes);
        if (failed != ZK_OK) {
            encode_error_into(&records[i], ZK_RUNTIMEINCONSISTENCY);
            multi_add(txns, i, ZK_OP_ERROR, &records[i]);
            continue;
        }
        int32_t type = op->type;
        int rc;
        switch (op->type) {
        case ZK_OP_CREATE:
        case ZK_OP_CREATE2:
        case ZK_OP_CREATE_CONTAINER:
        case ZK_OP_CREATE_TTL: {
            struct create_args args;
            type = multi_create_args(op, &args);
            if (type == ZK_OP_ERROR) {
                whole = ZK_MARSHALLINGERROR;
                continue;
            }
            rc = prep_create(prep, type, &args, &records[i]);
            break;
        }
        case ZK_OP_DELETE:
            rc = prep_delete(prep, &op->u.delete_, &records[i]);
            break;
        case ZK_OP_SET_DATA:
            rc = prep_set_data(prep, &op->u.set_data, &records[i]);
            break;
        case ZK_OP_CHECK:
            rc = prep_check(prep, &op->u.check, &records[i]);
            break;
        default:
            whole = ZK_MARSHALLINGERROR;
            continue;
        }
        if (rc != ZK_OK) {
            failed = rc;
            records_rollback(prep->tree, keep_tail);
            jute_writer_reset(&records[i]);
            encode_error_into(&records[i], rc);
            type = ZK_OP_ERROR;
        }
        multi_add(txns, i, type, &records[i]);
    }
    if (whole != ZK_OK) {
        records_rollback(prep->tree, keep_tail);
    } else {
        struct jute_multi_txn txn = {{count, txns}};
        jute_multi_txn_encode(record, &txn);
    }
    for (int32_t i = 0; i < count; i++) {
        jute_writer_free(&records[i]);
    }
    free(records);
    free(txns);
    return whole;
}

/* ---- entry points ------------------------------------------------------------- */

static bool opcode_is_write(int32_t opcode)
{
    switch (opcode) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATE_CONTAINER:
    case ZK_OP_CREATE_TTL:
    case ZK_OP_DELETE:
    case ZK_OP_SET_DATA:
    case ZK_OP_SET_ACL:
    case ZK_OP_CHECK:
    case ZK_OP_MULTI:
    case ZK_OP_RECONFIG:
        return true;
    default:
        return false;
    }
}

/* Decodes and prepares one request; returns its error (ZK_OK: `record`
 * holds the txn record). */
static int prepare_body(struct prep *prep, struct jute_writer *record)
{
    const struct store_prepare_input *input = prep->input;
    struct jute_reader reader;
    jute_reader_init(&reader, input->body.ptr, input->body.len > 0 ? (size_t)input->body.len : 0);
    switch (input->opcode) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATE_CONTAINER: {
        struct jute_create_request request;
        if (!jute_create_request_decode(&reader, &prep->arena, &request)) {
            return ZK_MARSHALLINGERROR;
        }
        struct create_args args = {request.path, request.data, &request.acl, request.flags, -1};
        return prep_create(prep, input->opcode, &args, record);
    }
    case ZK_OP_CREATE_TTL: {
        struct jute_create_ttl_request request;
        if (!jute_create_ttl_request_decode(&reader, &prep->arena, &request)) {
            return ZK_MARSHALLINGERROR;
        }
        struct create_args args = {request.path, request.data, &request.acl, request.flags,
                                   request.ttl};
        return prep_create(prep, input->opcode, &args, record);
    }
    case ZK_OP_DELETE: {
        struct jute_delete_request request;
        if (!jute_delete_request_decode(&reader, &prep->arena, &request)) {
            return ZK_MARSHALLINGERROR;
        }
        return prep_delete(prep, &request, record);
    }
    case ZK_OP_SET_DATA: {
        struct jute_set_data_request request;
        if (!jute_set_data_request_decode(&reader, &prep->arena, &request)) {
            return ZK_MARSHALLINGERROR;
        }
        return prep_set_data(prep, &request, record);
    }
    case ZK_OP_SET_ACL: {
        struct jute_set_acl_request request;
        if (!jute_set_acl_request_decode(&reader, &prep->arena, &request)) {
            return ZK_MARSHALLINGERROR;
        }
        return prep_set_acl(prep, &request, record);
    }
    case ZK_OP_CHECK: {
        struct jute_check_version_request request;
        if (!jute_check_version_request_decode(&reader, &prep->arena, &request)) {
            return ZK_MARSHALLINGERROR;
        }
        return prep_check(prep, &request, record);
    }
    case ZK_OP_MULTI: {
        struct jute_multi_request request;
        if (!jute_multi_request_decode(&reader, &prep->arena, &request)) {
            return ZK_MARSHALLINGERROR;
        }
        return prep_multi(prep, &request, record);
    }
    case ZK_OP_RECONFIG: {
        /* reconfigEnabled=false (ZooKeeper's default): refused before any
         * check. Enabled on a standalone server, ZooKeeper 3.8 fails it
         * with UNIMPLEMENTED (observed); both are logged as ErrorTxns. */
        if (!prep->tree->config.reconfig_enabled) {
            return ZK_RECONFIGDISABLED;
        }
        if (!input->reconfig) {
            return ZK_UNIMPLEMENTED;
        }
        struct jute_reconfig_request request;
        if (!jute_reconfig_request_decode(&reader, &prep->arena, &request)) {
            return ZK_MARSHALLINGERROR;
        }
        return prep_reconfig(prep, &request, record);
    }
    default:
        return ZK_UNIMPLEMENTED;
    }
}

static int finish_txn(struct store_txn *txn)
{
    return txn->bytes.ok ? ZK_OK : ZK_MARSHALLINGERROR;
}

static void write_error_txn(struct store_txn *txn, int64_t session_id, int32_t cxid,
                            int64_t zxid, int64_t time_ms, int32_t err)
{
    store_txn_write_header(txn, session_id, cxid, zxid, time_ms, ZK_OP_ERROR);
    encode_error_into(&txn->bytes, err);
}

int store_prepare(struct store_tree *tree, const struct store_prepare_input *input,
                  struct store_txn *txn_out)
{
    if (!opcode_is_write(input->opcode)) {
        return ZK_UNIMPLEMENTED;
    }
    if (input->opcode == ZK_OP_RECONFIG) {
        struct jute_reader reader;
        jute_reader_init(&reader, input->body.ptr,
                         input->body.len > 0 ? (size_t)input->body.len : 0);
        struct jute_reconfig_request request;
        if (!jute_reconfig_request_decode(&reader, NULL, &request)) {
            return ZK_MARSHALLINGERROR;
        }
    }
    uint8_t stack_arena[PREPARE_ARENA_BYTES];
    struct prep prep = {.tree = tree, .input = input, .zxid = input->zxid,
                        .time_ms = input->now_ms};
    prep_arena_init(&prep, stack_arena, input->body.len > 0 ? (size_t)input->body.len : 0);
    struct store_change_record *keep_tail = tree->pending_tail;
    struct jute_writer record;
    jute_writer_init(&record, txn_out->bytes.limit_bytes);
    int rc = prepare_body(&prep, &record);
    free(prep.arena_heap);
    if (rc == ZK_OK) {
        store_txn_write_header(txn_out, input->session_id, input->cxid, input->zxid,
                               input->now_ms, input->opcode);
        jute_write_raw(&txn_out->bytes, record.data ? record.data : (const uint8_t *)"",
                       record.size);
        if (!record.ok || !txn_out->bytes.ok) {
            /* Too large to be read back: nothing of it may stay pending. */
            records_rollback(tree, keep_tail);
            jute_writer_free(&record);
            jute_writer_reset(&txn_out->bytes);
            return ZK_MARSHALLINGERROR;
        }
    } else {
        write_error_txn(txn_out, input->session_id, input->cxid, input->zxid, input->now_ms,
                        rc);
    }
    jute_writer_free(&record);
    return finish_txn(txn_out);
}

int store_prepare_error(struct store_txn *txn_out, int64_t session_id, int32_t cxid,
                        int64_t zxid, int64_t now_ms, int32_t err)
{
    write_error_txn(txn_out, session_id, cxid, zxid, now_ms, err);
    return finish_txn(txn_out);
}

int store_prepare_create_session(struct store_txn *txn_out, int64_t session_id,
                                 int32_t timeout_ms, int64_t zxid, int64_t now_ms)
{
    store_txn_write_header(txn_out, session_id, 0, zxid, now_ms, ZK_OP_CREATE_SESSION);
    struct jute_create_session_txn txn = {timeout_ms};
    jute_create_session_txn_encode(&txn_out->bytes, &txn);
    return finish_txn(txn_out);
}

int store_prepare_close_session(struct store_tree *tree, struct store_txn *txn_out,
                                int64_t session_id, int32_t cxid, int64_t zxid, int64_t now_ms)
{
    /* The session's ephemerals as the tree has them, corrected by the
     * pending changes in order: a pending delete removes a path, a pending
     * node owned by the session adds it. */
    struct store_path_set paths = {0};
    const struct store_path_set *current = store_tree_ephemerals(tree, session_id);
    for (uint32_t i = 0; current && i < current->capacity; i++) {
        if (store_path_set_slot_live(current, i)) {
            store_path_set_add(&paths, current->slots[i], strlen(current->slots[i]));
        }
    }
    for (struct store_change_record *at = tree->pending_head; at; at = at->next) {
        if (!at->exists) {
            store_path_set_remove(&paths, at->path, at->path_len);
        } else if (at->stat.ephemeral_owner == session_id) {
            store_path_set_add(&paths, at->path, at->path_len);
        }
    }
    size_t count = paths.count;
    struct jute_bytes *items = malloc(sizeof *items * (count ? count : 1));
    struct store_child_entry *ordered = malloc(sizeof *ordered * (count ? count : 1));
    if (!items || !ordered) {
        abort();
    }
    size_t index = 0;
    for (uint32_t i = 0; i < paths.capacity; i++) {
        if (store_path_set_slot_live(&paths, i)) {
            struct jute_bytes path = jute_bytes_cstr(paths.slots[i]);
            struct record_view record;
            ordered[index].name = path;
            /* Ephemerals were added to the session's set in creation order;
             * one still pending was created after every applied one. */
            ordered[index].czxid = record_get(tree, path.ptr, (size_t)path.len, &record) == ZK_OK
                                       ? record.stat.czxid
                                       : zxid;
            index++;
        }
    }
    /* ZooKeeper lists them in the iteration order of a clone of the
     * session's HashSet (getEphemerals), which is also the order their
     * NodeDeleted events fire in. */
    store_java_hashset_order(ordered, count, current ? current->count_max : 0,
                             STORE_JAVA_HASHSET_DEFAULT_CAPACITY);
    store_java_hashset_clone_order(ordered, count);
    for (size_t i = 0; i < count; i++) {
        items[i] = ordered[i].name;
    }
    free(ordered);
    store_txn_write_header(txn_out, session_id, cxid, zxid, now_ms, ZK_OP_CLOSE_SESSION);
    struct jute_close_session_txn txn = {{(int32_t)count, items}};
    jute_close_session_txn_encode(&txn_out->bytes, &txn);
    if (!txn_out->bytes.ok) {
        /* Too many ephemerals to list (ZOOKEEPER-4306): an empty list still
         * deletes them, since applying a closeSession also deletes every
         * ephemeral the tree has for the session. */
        store_txn_write_header(txn_out, session_id, cxid, zxid, now_ms, ZK_OP_CLOSE_SESSION);
        struct jute_close_session_txn empty = {{0, NULL}};
        jute_close_session_txn_encode(&txn_out->bytes, &empty);
    }
    for (size_t i = 0; i < count; i++) {
        /* 3.8 with digests on: the parent's pending record gets the new
         * pzxid (its child count is left as it was, as ZooKeeper does). */
        const uint8_t *path = items[i].ptr;
        size_t len = (size_t)items[i].len;
        size_t slash = path_last_slash(items[i]);
        struct record_view parent;
        if (slash != SIZE_MAX && record_get(tree, path, slash, &parent) == ZK_OK) {
            struct store_stat parent_stat = parent.stat;
            parent_stat.pzxid = zxid;
            record_add(tree, zxid, path, slash, true, &parent_stat, parent.child_count,
                       parent.acl);
        }
        record_add(tree, zxid, path, len, false, NULL, 0, NULL);
    }
    free(items);
    store_path_set_free(&paths);
    return finish_txn(txn_out);
}

int store_prepare_delete_container(struct store_tree *tree, struct store_txn *txn_out,
                                   struct jute_bytes path, int64_t zxid, int64_t now_ms)
{
    int rc = ZK_OK;
    size_t slash = path.len >= 0 ? path_last_slash(path) : SIZE_MAX;
    if (slash == SIZE_MAX || bytes_have_nul(path) ||
        store_path_is_special(path.ptr, (size_t)path.len)) {
        rc = ZK_BADARGUMENTS;
    }
    struct record_view node;
    if (rc == ZK_OK) {
        rc = record_get(tree, path.ptr, (size_t)path.len, &node);
    }
    if (rc == ZK_OK && node.child_count > 0) {
        rc = ZK_NOTEMPTY;
    }
    /* Only session ephemerals are refused (a persistent node is not). */
    if (rc == ZK_OK &&
        store_ephemeral_type(tree, node.stat.ephemeral_owner) == STORE_EPHEMERAL_NORMAL) {
        rc = ZK_BADVERSION;
    }
    struct record_view parent;
    if (rc == ZK_OK) {
        rc = record_get(tree, path.ptr, slash, &parent);
    }
    if (rc != ZK_OK) {
        write_error_txn(txn_out, 0, 0, zxid, now_ms, rc);
        return finish_txn(txn_out);
    }
    store_txn_write_header(txn_out, 0, 0, zxid, now_ms, ZK_OP_DELETE_CONTAINER);
    struct jute_delete_txn txn = {path};
    jute_delete_txn_encode(&txn_out->bytes, &txn);
    struct store_stat parent_stat = parent.stat;
    parent_stat.pzxid = zxid;
    record_add(tree, zxid, path.ptr, slash, true, &parent_stat, parent.child_count - 1,
               parent.acl);
    record_add(tree, zxid, path.ptr, (size_t)path.len, false, NULL, -1, NULL);
    return finish_txn(txn_out);
}
