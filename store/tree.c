/* The tree: nodes, child tables, versions, epochs and the writer's
 * mutations (DataTree.createNode / deleteNode / setData / setACL).
 *
 * Readers never lock. Everything a reader can reach is either immutable
 * (a node's name, a version, a retired table) or an atomic pointer the
 * writer changes with release stores (a node's version, a node's child
 * table, a table's slots). Replaced objects are retired, and freed by
 * store_reclaim once every reader has passed a quiescent point.
 *
 * Reclamation. tree->global_epoch only grows (the writer bumps it in
 * store_reclaim). A reader publishes `observed_epoch = global_epoch` at each
 * quiescent point (UINT64_MAX while offline). The writer, after unlinking an
 * object X (release store of its replacement), issues a seq_cst fence, reads
 * E = global_epoch and retires X with E. store_reclaim does
 * fetch_add(global_epoch), a seq_cst fence, then reads every reader's
 * observed epoch O, and frees X only if O > E for every online reader.
 *  - O > E: the reader loaded a global epoch value written by an increment
 *    that follows (in the writer's program order) the unlink of X; the
 *    increment is a release and the reader's load an acquire, so the unlink
 *    happens-before every load the reader makes after that quiescent point:
 *    it can no longer reach X, and its earlier loads precede its release
 *    store of O, which the writer acquired.
 *  - O == UINT64_MAX (offline): going online is "load global, store O
 *    (seq_cst), seq_cst fence, then read the tree". If the writer read the
 *    offline marker, then by the seq_cst fences on both sides (the store
 *    buffering pattern: writer unlink; fence; read O || reader store O;
 *    fence; read tree) the reader's later tree reads see the unlink. Its
 *    reads before going offline precede its release store of UINT64_MAX.
 *  - O <= E: X is kept.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

/* A slot of a deleted child: probing continues past it. */
static struct store_node tombstone_node;
#define TOMBSTONE (&tombstone_node)

static const struct store_acl_list open_acl_unsafe_list = {
    .ref = -1,
    .count = 1,
    .entries = {{.perms = ZK_PERM_ALL,
                 .scheme = {(const uint8_t *)"world", 5},
                 .id = {(const uint8_t *)"anyone", 6}}},
};
const struct store_acl_list *const store_open_acl_unsafe = &open_acl_unsafe_list;

static void *checked_malloc(size_t bytes)
{
    void *memory = malloc(bytes);
    /* The tree cannot continue consistently without memory: no partial
     * state is ever half-published, so stopping here is the safe choice. */
    if (!memory) {
        abort();
    }
    return memory;
}

uint32_t store_hash_bytes(const void *bytes, size_t len)
{
    /* FNV-1a, then a final avalanche so low bits mix well for masking. */
    const uint8_t *at = bytes;
    uint32_t hash = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        hash = (hash ^ at[i]) * 16777619u;
    }
    hash ^= hash >> 16;
    hash *= 0x7feb352du;
    hash ^= hash >> 15;
    return hash;
}

/* ---- epochs ------------------------------------------------------------- */

void store_retire(struct store_tree *tree, void *pointer)
{
    if (!pointer) {
        return;
    }
    struct store_retire_list *list = &tree->retired;
    if (list->count == list->capacity) {
        if (list->head > 0) {
            memmove(list->items, list->items + list->head,
                    (list->count - list->head) * sizeof *list->items);
            list->count -= list->head;
            list->head = 0;
        }
        if (list->count == list->capacity) {
            size_t capacity = list->capacity ? list->capacity * 2 : 64;
            struct store_retired *items = realloc(list->items, capacity * sizeof *items);
            if (!items) {
                abort();
            }
            list->items = items;
            list->capacity = capacity;
        }
    }
    /* The unlink (a release store) must be ordered before reading the
     * epoch; see "Reclamation" above. */
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t epoch = atomic_load_explicit(&tree->global_epoch, memory_order_seq_cst);
    list->items[list->count++] = (struct store_retired){pointer, epoch};
}

void store_reclaim(struct store_tree *tree)
{
    struct store_retire_list *list = &tree->retired;
    atomic_fetch_add_explicit(&tree->global_epoch, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t oldest = UINT64_MAX;
    uint32_t readers = atomic_load_explicit(&tree->reader_count, memory_order_acquire);
    for (uint32_t i = 0; i < readers && i < STORE_READERS_MAX; i++) {
        uint64_t observed =
            atomic_load_explicit(&tree->readers[i].observed_epoch, memory_order_seq_cst);
        if (observed < oldest) {
            oldest = observed;
        }
    }
    /* Retire epochs are non-decreasing, so the freeable ones are a prefix. */
    while (list->head < list->count && list->items[list->head].epoch < oldest) {
        free(list->items[list->head].pointer);
        list->head++;
    }
    if (list->head == list->count) {
        list->head = 0;
        list->count = 0;
    }
}

struct store_reader *store_reader_register(struct store_tree *tree)
{
    uint32_t index = atomic_fetch_add_explicit(&tree->reader_count, 1, memory_order_acq_rel);
    if (index >= STORE_READERS_MAX) {
        atomic_fetch_sub_explicit(&tree->reader_count, 1, memory_order_acq_rel);
        return NULL;
    }
    struct store_reader *reader = &tree->readers[index];
    /* A new reader starts online. */
    store_reader_online(tree, reader);
    return reader;
}

void store_reader_quiescent(struct store_tree *tree, struct store_reader *reader)
{
    store_reader_online(tree, reader);
}

void store_reader_offline(struct store_reader *reader)
{
    atomic_store_explicit(&reader->observed_epoch, UINT64_MAX, memory_order_seq_cst);
}

void store_reader_online(struct store_tree *tree, struct store_reader *reader)
{
    uint64_t epoch = atomic_load_explicit(&tree->global_epoch, memory_order_seq_cst);
    atomic_store_explicit(&reader->observed_epoch, epoch, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
}

/* ---- versions ------------------------------------------------------------ */

const struct store_version *store_node_version(const struct store_node *node)
{
    return atomic_load_explicit(&((struct store_node *)node)->version, memory_order_acquire);
}

static bool version_data_inline(const struct store_version *version)
{
    return (uint32_t)version->stat.data_length <= STORE_INLINE_DATA_BYTES_MAX;
}

/* Inline data, or the shared block whose pointer is stored inline. */
static const uint8_t *version_data(const struct store_version *version)
{
    if (version_data_inline(version)) {
        return version->inline_data;
    }
    const uint8_t *block;
    memcpy(&block, version->inline_data, sizeof block);
    return block;
}

static size_t version_bytes(size_t data_len)
{
    return sizeof(struct store_version) +
           (data_len <= STORE_INLINE_DATA_BYTES_MAX ? data_len : sizeof(uint8_t *));
}

/* A version with new data (copied inline when small, else a new block). */
static struct store_version *version_new(const struct store_stat *stat, int64_t version_zxid,
                                         const struct store_acl_list *acl, struct jute_bytes data)
{
    size_t data_len = data.len > 0 ? (size_t)data.len : 0;
    struct store_version *version = checked_malloc(version_bytes(data_len));
    version->stat = *stat;
    version->stat.data_length = (int32_t)data_len;
    version->stat.data_is_null = data.len < 0;
    version->version_zxid = version_zxid;
    version->acl = acl;
    if (version_data_inline(version)) {
        if (data_len) {
            memcpy(version->inline_data, data.ptr, data_len);
        }
    } else {
        uint8_t *block = checked_malloc(data_len);
        memcpy(block, data.ptr, data_len);
        memcpy(version->inline_data, &block, sizeof block);
    }
    return version;
}

/* A copy of `old` with a new stat/acl, sharing or copying its data. */
static struct store_version *version_derive(const struct store_version *old,
                                            const struct store_stat *stat, int64_t version_zxid,
                                            const struct store_acl_list *acl)
{
    size_t data_len = (size_t)old->stat.data_length;
    size_t trailing = version_bytes(data_len) - sizeof(struct store_version);
    struct store_version *version = checked_malloc(version_bytes(data_len));
    version->stat = *stat;
    version->stat.data_length = old->stat.data_length;
    version->stat.data_is_null = old->stat.data_is_null;
    version->version_zxid = version_zxid;
    version->acl = acl;
    /* inline bytes, or the pointer to the block, which stays with the node */
    memcpy(version->inline_data, old->inline_data, trailing);
    return version;
}

static void node_publish(struct store_tree *tree, struct store_node *node,
                         struct store_version *version)
{
    struct store_version *old =
        atomic_load_explicit(&node->version, memory_order_relaxed);
    atomic_store_explicit(&node->version, version, memory_order_release);
    store_retire(tree, old);
}

void store_client_stat(const struct store_version *version, struct store_stat *out)
{
    *out = version->stat;
    /* DataNode.copyStat: clients see creations and deletions of children. */
    out->cversion = (int32_t)((uint32_t)version->stat.cversion * 2u -
                              (uint32_t)version->stat.num_children);
    int64_t owner = version->stat.ephemeral_owner;
    bool special = owner == ZK_EPHEMERAL_OWNER_CONTAINER ||
                   (owner & ZK_EPHEMERAL_OWNER_TTL_MASK) == ZK_EPHEMERAL_OWNER_TTL_MASK;
    /* getClientEphemeralOwner: anything but a session owner shows as 0. The
     * TTL test uses the tree's setting at the call sites that know it; a
     * TTL-encoded owner is never a real session id (session ids have a
     * server id < 255 in the top byte). */
    if (special) {
        out->ephemeral_owner = 0;
    }
}

enum store_ephemeral_type store_ephemeral_type(const struct store_tree *tree, int64_t owner)
{
    if (tree->config.extended_types_enabled &&
        (owner & ZK_EPHEMERAL_OWNER_TTL_MASK) == ZK_EPHEMERAL_OWNER_TTL_MASK &&
        owner != ZK_EPHEMERAL_OWNER_CONTAINER) {
        return STORE_EPHEMERAL_TTL;
    }
    if (owner == ZK_EPHEMERAL_OWNER_CONTAINER) {
        return STORE_EPHEMERAL_CONTAINER;
    }
    return owner == 0 ? STORE_EPHEMERAL_VOID : STORE_EPHEMERAL_NORMAL;
}

/* ---- nodes and child tables ---------------------------------------------- */

static struct store_node *node_new(const uint8_t *name, size_t len,
                                   struct store_version *version)
{
    struct store_node *node = checked_malloc(sizeof *node + len);
    atomic_init(&node->version, version);
    atomic_init(&node->children, NULL);
    node->name_len = (uint32_t)len;
    node->name_hash = store_hash_bytes(name, len);
    atomic_init(&node->children_max, 0);
    if (len) {
        memcpy(node->name, name, len);
    }
    return node;
}

static bool node_name_is(const struct store_node *node, uint32_t hash, const uint8_t *name,
                         size_t len)
{
    return node->name_hash == hash && node->name_len == len &&
           memcmp(node->name, name, len) == 0;
}

static struct store_child_table *table_new(uint32_t capacity)
{
    struct store_child_table *table =
        checked_malloc(sizeof *table + (size_t)capacity * sizeof table->slots[0]);
    table->capacity = capacity;
    table->live = 0;
    table->used = 0;
    for (uint32_t i = 0; i < capacity; i++) {
        atomic_init(&table->slots[i], NULL);
    }
    return table;
}

/* Reader-safe probe. Returns the child or NULL. */
static struct store_node *table_find(const struct store_child_table *table, const uint8_t *name,
                                     size_t len, uint32_t hash)
{
    uint32_t mask = table->capacity - 1;
    uint32_t index = hash & mask;
    for (uint32_t probes = 0; probes < table->capacity; probes++) {
        struct store_node *child = atomic_load_explicit(
            &((struct store_child_table *)table)->slots[index], memory_order_acquire);
        if (child == NULL) {
            return NULL;
        }
        if (child != TOMBSTONE && node_name_is(child, hash, name, len)) {
            return child;
        }
        index = (index + 1) & mask;
    }
    return NULL;
}

static struct store_node *node_child(const struct store_node *node, const uint8_t *name,
                                     size_t len)
{
    const struct store_child_table *table =
        atomic_load_explicit(&((struct store_node *)node)->children, memory_order_acquire);
    if (!table) {
        return NULL;
    }
    return table_find(table, name, len, store_hash_bytes(name, len));
}

/* Writer: places a node in a table known to have room (no publication
 * ordering needed for a table not yet published, release otherwise). */
static void table_place(struct store_child_table *table, struct store_node *child)
{
    uint32_t mask = table->capacity - 1;
    uint32_t index = child->name_hash & mask;
    for (;;) {
        struct store_node *at = atomic_load_explicit(&table->slots[index], memory_order_relaxed);
        if (at == NULL || at == TOMBSTONE) {
            if (at == NULL) {
                table->used++;
            }
            table->live++;
            atomic_store_explicit(&table->slots[index], child, memory_order_release);
            return;
        }
        index = (index + 1) & mask;
    }
}

/* Writer: a new table holding the live children, sized for `live + 1`. */
static struct store_child_table *table_rebuild(const struct store_child_table *old,
                                               uint32_t live)
{
    uint32_t capacity = STORE_CHILD_TABLE_MIN_SLOTS;
    while ((uint64_t)(live + 1) * 2 > capacity) { /* rebuilt tables are at most half full */
        capacity *= 2;
    }
    struct store_child_table *table = table_new(capacity);
    if (old) {
        for (uint32_t i = 0; i < old->capacity; i++) {
            struct store_node *child =
                atomic_load_explicit(&((struct store_child_table *)old)->slots[i],
                                     memory_order_relaxed);
            if (child && child != TOMBSTONE) {
                table_place(table, child);
            }
        }
    }
    return table;
}

static void node_add_child(struct store_tree *tree, struct store_node *parent,
                           struct store_node *child)
{
    struct store_child_table *table =
        atomic_load_explicit(&parent->children, memory_order_relaxed);
    if (!table || (uint64_t)(table->used + 1) * 4 > (uint64_t)table->capacity * 3) {
        struct store_child_table *grown = table_rebuild(table, table ? table->live : 0);
        atomic_store_explicit(&parent->children, grown, memory_order_release);
        store_retire(tree, table);
        table = grown;
    }
    table_place(table, child);
    if (table->live > atomic_load_explicit(&parent->children_max, memory_order_relaxed)) {
        atomic_store_explicit(&parent->children_max, table->live, memory_order_relaxed);
    }
}

static void node_remove_child(struct store_tree *tree, struct store_node *parent,
                              struct store_node *child)
{
    struct store_child_table *table =
        atomic_load_explicit(&parent->children, memory_order_relaxed);
    assert(table);
    uint32_t mask = table->capacity - 1;
    uint32_t index = child->name_hash & mask;
    for (uint32_t probes = 0; probes < table->capacity; probes++) {
        struct store_node *at = atomic_load_explicit(&table->slots[index], memory_order_relaxed);
        if (at == child) {
            atomic_store_explicit(&table->slots[index], TOMBSTONE, memory_order_release);
            table->live--;
            break;
        }
        assert(at != NULL);
        index = (index + 1) & mask;
    }
    if (table->live == 0) {
        /* No per-node table for a childless node. */
        atomic_store_explicit(&parent->children, NULL, memory_order_release);
        store_retire(tree, table);
    } else if (table->capacity > STORE_CHILD_TABLE_MIN_SLOTS &&
               (uint64_t)table->live * 8 < table->capacity) {
        struct store_child_table *shrunk = table_rebuild(table, table->live);
        atomic_store_explicit(&parent->children, shrunk, memory_order_release);
        store_retire(tree, table);
    }
}

/* ---- lookup ------------------------------------------------------------ */

struct store_node *store_find(struct store_tree *tree, const uint8_t *path, size_t len,
                              struct store_node **deepest)
{
    struct store_node *node = tree->root;
    if (deepest) {
        *deepest = node;
    }
    if (len == 0 || (len == 1 && path[0] == '/')) {
        return node;
    }
    if (path[0] != '/' || path[len - 1] == '/') {
        return NULL;
    }
    size_t at = 1;
    while (at <= len) {
        size_t end = at;
        while (end < len && path[end] != '/') {
            end++;
        }
        if (end == at) {
            return NULL; /* empty component */
        }
        node = node_child(node, path + at, end - at);
        if (!node) {
            return NULL;
        }
        if (deepest) {
            *deepest = node;
        }
        at = end + 1;
    }
    return node;
}

static void view_fill(const struct store_version *version, struct store_node_view *view)
{
    store_client_stat(version, &view->stat);
    view->data = jute_bytes_of(version_data(version),
                               version->stat.data_is_null ? -1 : version->stat.data_length);
    view->acl = version->acl;
    view->version_zxid = version->version_zxid;
    view->persisted_cversion = version->stat.cversion;
    view->persisted_ephemeral_owner = version->stat.ephemeral_owner;
}

int store_lookup(struct store_tree *tree, struct jute_bytes path, struct store_node_view *view,
                 int64_t *visible_zxid, const struct store_node **node_out)
{
    struct store_node *deepest = NULL;
    struct store_node *node =
        path.len >= 0 ? store_find(tree, path.ptr, (size_t)path.len, &deepest) : NULL;
    if (node_out) {
        *node_out = node;
    }
    if (!node) {
        const struct store_version *version = store_node_version(deepest ? deepest : tree->root);
        if (visible_zxid) {
            *visible_zxid = version->version_zxid;
        }
        return ZK_NONODE;
    }
    view_fill(store_node_version(node), view);
    if (visible_zxid) {
        *visible_zxid = view->version_zxid;
    }
    return ZK_OK;
}

void store_node_view_get(const struct store_node *node, struct store_node_view *view)
{
    view_fill(store_node_version(node), view);
}

struct plain_visit {
    store_child_visit_fn visit;
    void *context;
};

static void visit_without_czxid(void *context, struct jute_bytes name, int64_t czxid)
{
    struct plain_visit *plain = context;
    (void)czxid;
    plain->visit(plain->context, name);
}

size_t store_children_foreach(const struct store_node *node, store_child_visit_fn visit,
                              void *context)
{
    struct plain_visit plain = {visit, context};
    return store_children_foreach_czxid(node, visit_without_czxid, &plain);
}

size_t store_children_foreach_czxid(const struct store_node *node,
                                    store_child_czxid_visit_fn visit, void *context)
{
    const struct store_child_table *table =
        atomic_load_explicit(&((struct store_node *)node)->children, memory_order_acquire);
    if (!table) {
        return 0;
    }
    size_t visited = 0;
    for (uint32_t i = 0; i < table->capacity; i++) {
        struct store_node *child = atomic_load_explicit(
            &((struct store_child_table *)table)->slots[i], memory_order_acquire);
        if (child && child != TOMBSTONE) {
            const struct store_version *version = store_node_version(child);
            visit(context, jute_bytes_of(child->name, (int32_t)child->name_len),
                  version->stat.czxid);
            visited++;
        }
    }
    return visited;
}

uint32_t store_children_max(const struct store_node *node)
{
    return atomic_load_explicit(&((struct store_node *)node)->children_max,
                                memory_order_relaxed);
}

int64_t store_descendant_count(const struct store_node *node)
{
    const struct store_child_table *table =
        atomic_load_explicit(&((struct store_node *)node)->children, memory_order_acquire);
    if (!table) {
        return 0;
    }
    int64_t count = 0;
    for (uint32_t i = 0; i < table->capacity; i++) {
        struct store_node *child = atomic_load_explicit(
            &((struct store_child_table *)table)->slots[i], memory_order_acquire);
        if (child && child != TOMBSTONE) {
            count += 1 + store_descendant_count(child);
        }
    }
    return count;
}

const struct store_counters *store_tree_counters(const struct store_tree *tree)
{
    return &tree->counters;
}

void store_tree_set_last_zxid(struct store_tree *tree, int64_t zxid)
{
    atomic_store_explicit(&tree->counters.last_zxid, zxid, memory_order_release);
}

/* ---- writer-only sets ----------------------------------------------------- */

static char path_set_tombstone;
#define PATH_TOMBSTONE (&path_set_tombstone)

bool store_path_set_slot_live(const struct store_path_set *set, uint32_t index)
{
    return set->slots[index] != NULL && set->slots[index] != PATH_TOMBSTONE;
}

static int64_t path_set_find(const struct store_path_set *set, const char *path, size_t len)
{
    if (!set->capacity) {
        return -1;
    }
    uint32_t mask = set->capacity - 1;
    uint32_t index = store_hash_bytes(path, len) & mask;
    for (uint32_t probes = 0; probes < set->capacity; probes++) {
        char *at = set->slots[index];
        if (!at) {
            return -1;
        }
        if (at != PATH_TOMBSTONE && strlen(at) == len && memcmp(at, path, len) == 0) {
            return index;
        }
        index = (index + 1) & mask;
    }
    return -1;
}

static void path_set_place(struct store_path_set *set, char *owned)
{
    uint32_t mask = set->capacity - 1;
    uint32_t index = store_hash_bytes(owned, strlen(owned)) & mask;
    while (set->slots[index] && set->slots[index] != PATH_TOMBSTONE) {
        index = (index + 1) & mask;
    }
    if (!set->slots[index]) {
        set->used++;
    }
    set->slots[index] = owned;
    set->count++;
}

static void path_set_grow(struct store_path_set *set)
{
    uint32_t capacity = 8;
    while ((uint64_t)(set->count + 1) * 2 > capacity) {
        capacity *= 2;
    }
    char **old = set->slots;
    uint32_t old_capacity = set->capacity;
    set->slots = calloc(capacity, sizeof *set->slots);
    if (!set->slots) {
        abort();
    }
    set->capacity = capacity;
    set->count = 0;
    set->used = 0;
    for (uint32_t i = 0; i < old_capacity; i++) {
        if (old[i] && old[i] != PATH_TOMBSTONE) {
            path_set_place(set, old[i]);
        }
    }
    free(old);
}

bool store_path_set_add(struct store_path_set *set, const char *path, size_t len)
{
    if (path_set_find(set, path, len) >= 0) {
        return false;
    }
    if ((uint64_t)(set->used + 1) * 4 > (uint64_t)set->capacity * 3) {
        path_set_grow(set);
    }
    char *owned = checked_malloc(len + 1);
    memcpy(owned, path, len);
    owned[len] = '\0';
    path_set_place(set, owned);
    if (set->count > set->count_max) {
        set->count_max = set->count;
    }
    return true;
}

bool store_path_set_remove(struct store_path_set *set, const char *path, size_t len)
{
    int64_t index = path_set_find(set, path, len);
    if (index < 0) {
        return false;
    }
    free(set->slots[index]);
    set->slots[index] = PATH_TOMBSTONE;
    set->count--;
    return true;
}

bool store_path_set_contains(const struct store_path_set *set, const char *path, size_t len)
{
    return path_set_find(set, path, len) >= 0;
}

void store_path_set_free(struct store_path_set *set)
{
    for (uint32_t i = 0; i < set->capacity; i++) {
        if (store_path_set_slot_live(set, i)) {
            free(set->slots[i]);
        }
    }
    free(set->slots);
    memset(set, 0, sizeof *set);
}

static struct store_path_set session_deleted_marker;
#define SESSION_DELETED (&session_deleted_marker)

static uint32_t session_hash(int64_t session_id)
{
    uint64_t x = (uint64_t)session_id * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(x >> 32);
}

static int64_t session_find(const struct store_session_map *map, int64_t session_id)
{
    if (!map->capacity) {
        return -1;
    }
    uint32_t mask = map->capacity - 1;
    uint32_t index = session_hash(session_id) & mask;
    for (uint32_t probes = 0; probes < map->capacity; probes++) {
        const struct store_session_entry *entry = &map->slots[index];
        if (!entry->paths) {
            return -1;
        }
        if (entry->paths != SESSION_DELETED && entry->session_id == session_id) {
            return index;
        }
        index = (index + 1) & mask;
    }
    return -1;
}

static void session_place(struct store_session_map *map, int64_t session_id,
                          struct store_path_set *paths)
{
    uint32_t mask = map->capacity - 1;
    uint32_t index = session_hash(session_id) & mask;
    while (map->slots[index].paths && map->slots[index].paths != SESSION_DELETED) {
        index = (index + 1) & mask;
    }
    if (!map->slots[index].paths) {
        map->used++;
    }
    map->slots[index] = (struct store_session_entry){session_id, paths};
    map->count++;
}

static struct store_path_set *session_paths(struct store_session_map *map, int64_t session_id,
                                            bool create)
{
    int64_t index = session_find(map, session_id);
    if (index >= 0) {
        return map->slots[index].paths;
    }
    if (!create) {
        return NULL;
    }
    if ((uint64_t)(map->used + 1) * 4 > (uint64_t)map->capacity * 3) {
        uint32_t capacity = 8;
        while ((uint64_t)(map->count + 1) * 2 > capacity) {
            capacity *= 2;
        }
        struct store_session_entry *old = map->slots;
        uint32_t old_capacity = map->capacity;
        map->slots = calloc(capacity, sizeof *map->slots);
        if (!map->slots) {
            abort();
        }
        map->capacity = capacity;
        map->count = 0;
        map->used = 0;
        for (uint32_t i = 0; i < old_capacity; i++) {
            if (old[i].paths && old[i].paths != SESSION_DELETED) {
                session_place(map, old[i].session_id, old[i].paths);
            }
        }
        free(old);
    }
    struct store_path_set *paths = calloc(1, sizeof *paths);
    if (!paths) {
        abort();
    }
    session_place(map, session_id, paths);
    return paths;
}

struct store_path_set *store_tree_take_ephemerals(struct store_tree *tree, int64_t session_id)
{
    int64_t index = session_find(&tree->ephemerals, session_id);
    if (index < 0) {
        return NULL;
    }
    struct store_path_set *paths = tree->ephemerals.slots[index].paths;
    tree->ephemerals.slots[index].paths = SESSION_DELETED;
    tree->ephemerals.count--;
    return paths;
}

const struct store_path_set *store_tree_ephemerals(const struct store_tree *tree,
                                                   int64_t session_id)
{
    int64_t index = session_find(&tree->ephemerals, session_id);
    return index < 0 ? NULL : tree->ephemerals.slots[index].paths;
}

static void session_map_free(struct store_session_map *map)
{
    for (uint32_t i = 0; i < map->capacity; i++) {
        struct store_path_set *paths = map->slots[i].paths;
        if (paths && paths != SESSION_DELETED) {
            store_path_set_free(paths);
            free(paths);
        }
    }
    free(map->slots);
    memset(map, 0, sizeof *map);
}

/* ---- quotas (DataTree's pTrie, updateQuotaStat, updateQuotaForPath) ---- */

#define QUOTA_LIMIT_NODE "zookeeper_limits"
#define QUOTA_STAT_NODE "zookeeper_stats"
/* A stats node holds "count=N,bytes=M" plus perhaps a few limit fields. */
#define QUOTA_FIELDS_MAX 8u
#define QUOTA_KEY_BYTES_MAX 32u
#define QUOTA_TEXT_BYTES_MAX 512u

static bool bytes_start_with(const uint8_t *bytes, size_t len, const char *prefix)
{
    size_t prefix_len = strlen(prefix);
    return len >= prefix_len && memcmp(bytes, prefix, prefix_len) == 0;
}

/* Quotas.trimQuotaPath */
static void quota_trim(const uint8_t *path, size_t len, const uint8_t **out, size_t *out_len)
{
    size_t prefix_len = strlen(STORE_QUOTA_PATH);
    if (bytes_start_with(path, len, STORE_QUOTA_PATH)) {
        *out = path + prefix_len;
        *out_len = len - prefix_len;
    } else {
        *out = path;
        *out_len = len;
    }
}

/* getMaxPrefixWithQuota: the deepest quota root that is `path` or one of its
 * ancestors; false for none (the root never has a quota). */
static bool quota_max_prefix(const struct store_tree *tree, const uint8_t *path, size_t len,
                             size_t *prefix_len)
{
    if (tree->quota_roots.count == 0) {
        return false;
    }
    for (size_t end = len; end > 1; end--) {
        if (end != len && path[end] != '/') {
            continue;
        }
        if (store_path_set_contains(&tree->quota_roots, (const char *)path, end)) {
            *prefix_len = end;
            return true;
        }
    }
    return false;
}

struct quota_stats {
    size_t count;
    char keys[QUOTA_FIELDS_MAX][QUOTA_KEY_BYTES_MAX];
    long long values[QUOTA_FIELDS_MAX];
};

static long long *quota_field(struct quota_stats *stats, const char *key, bool create)
{
    for (size_t i = 0; i < stats->count; i++) {
        if (strcmp(stats->keys[i], key) == 0) {
            return &stats->values[i];
        }
    }
    if (!create || stats->count == QUOTA_FIELDS_MAX || strlen(key) >= QUOTA_KEY_BYTES_MAX) {
        return NULL;
    }
    snprintf(stats->keys[stats->count], QUOTA_KEY_BYTES_MAX, "%s", key);
    stats->values[stats->count] = -1;
    return &stats->values[stats->count++];
}

/* StatsTrack(String): pairs separated by ',' or ';', "key=value". Pairs
 * that do not parse are skipped (ZooKeeper would throw). */
static void quota_parse(struct quota_stats *stats, const uint8_t *data, size_t len)
{
    stats->count = 0;
    size_t at = 0;
    while (at < len) {
        size_t end = at;
        while (end < len && data[end] != ',' && data[end] != ';') {
            end++;
        }
        const uint8_t *equals = memchr(data + at, '=', end - at);
        if (equals && (size_t)(equals - (data + at)) < QUOTA_KEY_BYTES_MAX) {
            char key[QUOTA_KEY_BYTES_MAX];
            size_t key_len = (size_t)(equals - (data + at));
            memcpy(key, data + at, key_len);
            key[key_len] = '\0';
            char number[32];
            size_t number_len = 0;
            for (const uint8_t *c = equals + 1; c < data + end && *c != '=' &&
                                                number_len + 1 < sizeof number;
                 c++) {
                number[number_len++] = (char)*c;
            }
            number[number_len] = '\0';
            char *parsed_end;
            long long value = number_len ? strtoll(number, &parsed_end, 10) : -1;
            if (number_len == 0 || *parsed_end == '\0') {
                long long *field = quota_field(stats, key, true);
                if (field) {
                    *field = value;
                }
            }
        }
        at = end + 1;
    }
}

static int key_compare(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* StatsTrack.toString: count and bytes first, then "=" and the other
 * fields sorted, each after ';'. */
static size_t quota_format(struct quota_stats *stats, char *out, size_t out_bytes)
{
    long long *count = quota_field(stats, "count", false);
    long long *bytes = quota_field(stats, "bytes", false);
    int written = snprintf(out, out_bytes, "count=%lld,bytes=%lld", count ? *count : -1,
                           bytes ? *bytes : -1);
    const char *others[QUOTA_FIELDS_MAX];
    size_t other_count = 0;
    for (size_t i = 0; i < stats->count; i++) {
        if (strcmp(stats->keys[i], "count") != 0 && strcmp(stats->keys[i], "bytes") != 0) {
            others[other_count++] = stats->keys[i];
        }
    }
    if (other_count) {
        qsort(others, other_count, sizeof others[0], key_compare);
        if (written >= 0 && (size_t)written < out_bytes) {
            written += snprintf(out + written, out_bytes - (size_t)written, "=");
        }
        for (size_t i = 0; i < other_count; i++) {
            if (written < 0 || (size_t)written >= out_bytes) {
                break;
            }
            written += snprintf(out + written, out_bytes - (size_t)written, ";%s=%lld",
                                others[i], *quota_field(stats, others[i], false));
        }
    }
    if (written < 0) {
        return 0;
    }
    return (size_t)written < out_bytes ? (size_t)written : out_bytes - 1;
}

static struct store_node *quota_stat_node(struct store_tree *tree, const uint8_t *root,
                                          size_t root_len)
{
    size_t prefix_len = strlen(STORE_QUOTA_PATH);
    size_t suffix_len = strlen("/" QUOTA_STAT_NODE);
    char *path = checked_malloc(prefix_len + root_len + suffix_len);
    memcpy(path, STORE_QUOTA_PATH, prefix_len);
    memcpy(path + prefix_len, root, root_len);
    memcpy(path + prefix_len + root_len, "/" QUOTA_STAT_NODE, suffix_len);
    struct store_node *node =
        store_find(tree, (const uint8_t *)path, prefix_len + root_len + suffix_len, NULL);
    free(path);
    return node;
}

/* Replaces a stats node's data; ZooKeeper changes only the data (no
 * version, mzxid or mtime). */
static void quota_store(struct store_tree *tree, struct store_node *node,
                        struct quota_stats *stats, int64_t zxid)
{
    char text[QUOTA_TEXT_BYTES_MAX];
    size_t len = quota_format(stats, text, sizeof text);
    const struct store_version *old = store_node_version(node);
    int64_t version_zxid = zxid > old->version_zxid ? zxid : old->version_zxid;
    struct store_version *version =
        version_new(&old->stat, version_zxid, old->acl, jute_bytes_of(text, (int32_t)len));
    atomic_fetch_add_explicit(&tree->counters.approximate_data_bytes,
                              (int64_t)len - old->stat.data_length, memory_order_relaxed);
    if (!version_data_inline(old)) {
        store_retire(tree, (void *)version_data(old));
    }
    node_publish(tree, node, version);
}

/* updateQuotaStat */
static void quota_update(struct store_tree *tree, const uint8_t *path, size_t len,
                         int64_t bytes_diff, int64_t count_diff, int64_t zxid)
{
    size_t root_len;
    if (!quota_max_prefix(tree, path, len, &root_len)) {
        return;
    }
    struct store_node *node = quota_stat_node(tree, path, root_len);
    if (!node) {
        return;
    }
    const struct store_version *version = store_node_version(node);
    struct quota_stats stats;
    quota_parse(&stats, version_data(version), (size_t)version->stat.data_length);
    long long *count = quota_field(&stats, "count", true);
    long long *bytes = quota_field(&stats, "bytes", true);
    if (count) {
        *count += count_diff;
    }
    if (bytes) {
        *bytes += bytes_diff;
    }
    quota_store(tree, node, &stats, zxid);
}

static void subtree_counts(const struct store_node *node, long long *count, long long *bytes)
{
    *count += 1;
    *bytes += store_node_version(node)->stat.data_length;
    const struct store_child_table *table =
        atomic_load_explicit(&((struct store_node *)node)->children, memory_order_relaxed);
    for (uint32_t i = 0; table && i < table->capacity; i++) {
        struct store_node *child = atomic_load_explicit(
            &((struct store_child_table *)table)->slots[i], memory_order_relaxed);
        if (child && child != TOMBSTONE) {
            subtree_counts(child, count, bytes);
        }
    }
}

/* updateQuotaForPath: a new stats node gets the subtree's totals. */
static void quota_recount(struct store_tree *tree, const uint8_t *root, size_t root_len,
                          int64_t zxid)
{
    struct store_node *stat_node = quota_stat_node(tree, root, root_len);
    if (!stat_node) {
        return;
    }
    struct quota_stats stats = {0};
    long long *count = quota_field(&stats, "count", true);
    long long *bytes = quota_field(&stats, "bytes", true);
    *count = 0;
    *bytes = 0;
    struct store_node *node = root_len ? store_find(tree, root, root_len, NULL) : NULL;
    if (node) {
        subtree_counts(node, count, bytes);
    }
    quota_store(tree, stat_node, &stats, zxid);
}

static void quota_after_create(struct store_tree *tree, const uint8_t *path, size_t len,
                               size_t slash, int64_t data_len, int64_t zxid)
{
    if (bytes_start_with(path, slash, STORE_QUOTA_PATH)) {
        const uint8_t *name = path + slash + 1;
        size_t name_len = len - slash - 1;
        const uint8_t *root;
        size_t root_len;
        quota_trim(path, slash, &root, &root_len);
        if (name_len == strlen(QUOTA_LIMIT_NODE) &&
            memcmp(name, QUOTA_LIMIT_NODE, name_len) == 0 && root_len > 0) {
            store_path_set_add(&tree->quota_roots, (const char *)root, root_len);
        }
        if (name_len == strlen(QUOTA_STAT_NODE) && memcmp(name, QUOTA_STAT_NODE, name_len) == 0) {
            quota_recount(tree, root, root_len, zxid);
        }
    }
    quota_update(tree, path, len, data_len, 1, zxid);
}

static void quota_after_delete(struct store_tree *tree, const uint8_t *path, size_t len,
                               size_t slash, int64_t data_len, int64_t zxid)
{
    const uint8_t *name = path + slash + 1;
    size_t name_len = len - slash - 1;
    if (bytes_start_with(path, slash, "/zookeeper") && name_len == strlen(QUOTA_LIMIT_NODE) &&
        memcmp(name, QUOTA_LIMIT_NODE, name_len) == 0) {
        const uint8_t *root;
        size_t root_len;
        quota_trim(path, slash, &root, &root_len);
        store_path_set_remove(&tree->quota_roots, (const char *)root, root_len);
    }
    quota_update(tree, path, len, -data_len, -1, zxid);
}

/* ---- mutations (writer) -------------------------------------------------- */

static size_t last_slash(const uint8_t *path, size_t len)
{
    size_t at = len;
    while (at > 0 && path[at - 1] != '/') {
        at--;
    }
    return at == 0 ? SIZE_MAX : at - 1;
}

int store_tree_create_node(struct store_tree *tree, const uint8_t *path, size_t len,
                           struct jute_bytes data, const struct store_acl_list *acl,
                           int64_t ephemeral_owner, int32_t parent_cversion, int64_t zxid,
                           int64_t time_ms, struct store_stat *client_stat_out)
{
    size_t slash = last_slash(path, len);
    if (slash == SIZE_MAX || slash + 1 == len) {
        return ZK_NONODE; /* no parent or empty child name: cannot exist */
    }
    struct store_node *parent = store_find(tree, path, slash, NULL);
    if (!parent) {
        return ZK_NONODE;
    }
    const uint8_t *name = path + slash + 1;
    size_t name_len = len - slash - 1;
    /* DataTree interns the ACL before it checks for the child, so a
     * create that finds its node still holds a usage (replay only). */
    acl = store_acl_intern(tree, acl);
    if (node_child(parent, name, name_len)) {
        return ZK_NODEEXISTS;
    }
    const struct store_version *parent_version = store_node_version(parent);
    struct store_stat parent_stat = parent_version->stat;
    if (parent_cversion == -1) {
        parent_cversion = parent_stat.cversion + 1;
    }
    /* Replaying a fuzzy snapshot's tail must not move cversion/pzxid back. */
    if (parent_cversion > parent_stat.cversion) {
        parent_stat.cversion = parent_cversion;
        parent_stat.pzxid = zxid;
    }
    parent_stat.num_children++;

    struct store_stat stat = {
        .czxid = zxid,
        .mzxid = zxid,
        .ctime_ms = time_ms,
        .mtime_ms = time_ms,
        .ephemeral_owner = ephemeral_owner,
        .pzxid = zxid,
    };
    struct store_version *version = version_new(&stat, zxid, acl, data);
    struct store_node *child = node_new(name, name_len, version);
    int64_t version_zxid =
        zxid > parent_version->version_zxid ? zxid : parent_version->version_zxid;
    node_add_child(tree, parent, child);
    node_publish(tree, parent,
                 version_derive(parent_version, &parent_stat, version_zxid,
                                parent_version->acl));

    atomic_fetch_add_explicit(&tree->counters.node_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&tree->counters.approximate_data_bytes,
                              (int64_t)len + version->stat.data_length, memory_order_relaxed);
    switch (store_ephemeral_type(tree, ephemeral_owner)) {
    case STORE_EPHEMERAL_CONTAINER:
        store_path_set_add(&tree->containers, (const char *)path, len);
        break;
    case STORE_EPHEMERAL_TTL:
        store_path_set_add(&tree->ttls, (const char *)path, len);
        break;
    case STORE_EPHEMERAL_NORMAL:
        if (store_path_set_add(session_paths(&tree->ephemerals, ephemeral_owner, true),
                               (const char *)path, len)) {
            atomic_fetch_add_explicit(&tree->counters.ephemeral_count, 1,
                                      memory_order_relaxed);
        }
        break;
    case STORE_EPHEMERAL_VOID:
        break;
    }
    /* The reply's Stat is taken before quota accounting (as DataTree does),
     * which may rewrite a new zookeeper_stats node's data. */
    if (client_stat_out) {
        store_client_stat(version, client_stat_out);
    }
    quota_after_create(tree, path, len, slash, version->stat.data_length, zxid);
    return ZK_OK;
}

static void free_node_now_or_later(struct store_tree *tree, struct store_node *node)
{
    struct store_version *version = atomic_load_explicit(&node->version, memory_order_relaxed);
    if (!version_data_inline(version)) {
        store_retire(tree, (void *)version_data(version));
    }
    store_retire(tree, version);
    store_retire(tree, node);
}

int store_tree_delete_node(struct store_tree *tree, const uint8_t *path, size_t len,
                           int64_t zxid)
{
    size_t slash = last_slash(path, len);
    if (slash == SIZE_MAX) {
        return ZK_NONODE;
    }
    struct store_node *parent = store_find(tree, path, slash, NULL);
    if (!parent) {
        return ZK_NONODE;
    }
    struct store_node *node =
        slash + 1 < len ? node_child(parent, path + slash + 1, len - slash - 1) : NULL;
    const struct store_version *parent_version = store_node_version(parent);
    struct store_stat parent_stat = parent_version->stat;
    /* DataTree updates the parent's pzxid even when the child is already
     * gone (a fuzzy snapshot may have taken the delete), if it grows. */
    bool parent_changes = node != NULL || zxid > parent_stat.pzxid;
    if (zxid > parent_stat.pzxid) {
        parent_stat.pzxid = zxid;
    }
    if (node) {
        /* A node with children is never deleted by a valid txn; replayed
         * garbage must not orphan a subtree. */
        if (atomic_load_explicit(&node->children, memory_order_relaxed) != NULL) {
            return ZK_NOTEMPTY;
        }
        node_remove_child(tree, parent, node);
        parent_stat.num_children--;
    }
    if (parent_changes) {
        int64_t version_zxid =
            zxid > parent_version->version_zxid ? zxid : parent_version->version_zxid;
        node_publish(tree, parent,
                     version_derive(parent_version, &parent_stat, version_zxid,
                                    parent_version->acl));
    }
    if (!node) {
        return ZK_NONODE;
    }
    const struct store_version *version = store_node_version(node);
    store_acl_release(tree, version->acl);
    atomic_fetch_sub_explicit(&tree->counters.node_count, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&tree->counters.approximate_data_bytes,
                              (int64_t)len + version->stat.data_length, memory_order_relaxed);
    int64_t owner = version->stat.ephemeral_owner;
    switch (store_ephemeral_type(tree, owner)) {
    case STORE_EPHEMERAL_CONTAINER:
        store_path_set_remove(&tree->containers, (const char *)path, len);
        break;
    case STORE_EPHEMERAL_TTL:
        store_path_set_remove(&tree->ttls, (const char *)path, len);
        break;
    case STORE_EPHEMERAL_NORMAL: {
        struct store_path_set *paths = session_paths(&tree->ephemerals, owner, false);
        if (paths && store_path_set_remove(paths, (const char *)path, len)) {
            atomic_fetch_sub_explicit(&tree->counters.ephemeral_count, 1,
                                      memory_order_relaxed);
        }
        break;
    }
    case STORE_EPHEMERAL_VOID:
        break;
    }
    quota_after_delete(tree, path, len, slash, version->stat.data_length, zxid);
    free_node_now_or_later(tree, node);
    return ZK_OK;
}

int store_tree_set_data(struct store_tree *tree, const uint8_t *path, size_t len,
                        struct jute_bytes data, int32_t version_number, int64_t zxid,
                        int64_t time_ms, struct store_stat *client_stat_out)
{
    struct store_node *node = store_find(tree, path, len, NULL);
    if (!node) {
        return ZK_NONODE;
    }
    const struct store_version *old = store_node_version(node);
    struct store_stat stat = old->stat;
    stat.version = version_number;
    stat.mtime_ms = time_ms;
    stat.mzxid = zxid;
    int64_t version_zxid = zxid > old->version_zxid ? zxid : old->version_zxid;
    struct store_version *version = version_new(&stat, version_zxid, old->acl, data);
    atomic_fetch_add_explicit(&tree->counters.approximate_data_bytes,
                              (int64_t)version->stat.data_length - old->stat.data_length,
                              memory_order_relaxed);
    int64_t bytes_diff = (int64_t)version->stat.data_length - old->stat.data_length;
    if (!version_data_inline(old)) {
        store_retire(tree, (void *)version_data(old));
    }
    node_publish(tree, node, version);
    if (client_stat_out) {
        store_client_stat(version, client_stat_out);
    }
    quota_update(tree, path, len, bytes_diff, 0, zxid);
    return ZK_OK;
}

int store_tree_set_acl(struct store_tree *tree, const uint8_t *path, size_t len,
                       const struct store_acl_list *acl, int32_t version_number, int64_t zxid,
                       struct store_stat *client_stat_out)
{
    struct store_node *node = store_find(tree, path, len, NULL);
    if (!node) {
        return ZK_NONODE;
    }
    const struct store_version *old = store_node_version(node);
    struct store_stat stat = old->stat;
    stat.aversion = version_number;
    int64_t version_zxid = zxid > old->version_zxid ? zxid : old->version_zxid;
    /* DataTree.setACL drops the old usage before interning the new list, so
     * a node that was the only user of an identical list gets a new ref. */
    store_acl_release(tree, old->acl);
    const struct store_acl_list *interned = store_acl_intern(tree, acl);
    struct store_version *version = version_derive(old, &stat, version_zxid, interned);
    node_publish(tree, node, version);
    if (client_stat_out) {
        store_client_stat(version, client_stat_out);
    }
    return ZK_OK;
}

int store_tree_set_cversion_pzxid(struct store_tree *tree, const uint8_t *path, size_t len,
                                  int32_t cversion, int64_t zxid)
{
    if (len > 1 && path[len - 1] == '/') {
        len--;
    }
    struct store_node *node = store_find(tree, path, len, NULL);
    if (!node) {
        return ZK_NONODE;
    }
    const struct store_version *old = store_node_version(node);
    if (cversion == -1) {
        cversion = old->stat.cversion + 1;
    }
    if (cversion > old->stat.cversion) {
        struct store_stat stat = old->stat;
        stat.cversion = cversion;
        stat.pzxid = zxid;
        int64_t version_zxid = zxid > old->version_zxid ? zxid : old->version_zxid;
        node_publish(tree, node, version_derive(old, &stat, version_zxid, old->acl));
    }
    return ZK_OK;
}

/* ---- create / destroy ------------------------------------------------------ */

static struct store_node *builtin_child(struct store_node *parent, const char *name,
                                        struct store_version *version)
{
    struct store_node *child = node_new((const uint8_t *)name, strlen(name), version);
    struct store_child_table *table =
        atomic_load_explicit(&parent->children, memory_order_relaxed);
    if (!table) {
        table = table_new(STORE_CHILD_TABLE_MIN_SLOTS);
        atomic_store_explicit(&parent->children, table, memory_order_relaxed);
    }
    table_place(table, child);
    struct store_version *parent_version =
        atomic_load_explicit(&parent->version, memory_order_relaxed);
    parent_version->stat.num_children++; /* not yet visible to any reader */
    return child;
}

struct store_tree *store_tree_create(const struct store_config *config)
{
    struct store_tree *tree = calloc(1, sizeof *tree);
    if (!tree) {
        return NULL;
    }
    tree->config = *config;
    const char *text = config->config_node_text ? config->config_node_text : "";
    tree->config_text = strdup(text);
    if (!tree->config_text) {
        free(tree);
        return NULL;
    }
    tree->config.config_node_text = tree->config_text;
    atomic_init(&tree->global_epoch, 1);
    atomic_init(&tree->reader_count, 0);
    for (size_t i = 0; i < STORE_READERS_MAX; i++) {
        atomic_init(&tree->readers[i].observed_epoch, UINT64_MAX);
    }

    /* DataTree's constructor: "", "/zookeeper", "/zookeeper/quota" with a
     * zero StatPersisted and ACL ref -1, then addConfigNode: setACL of
     * READ_ACL_UNSAFE with version -1 (so aversion is -1). */
    struct store_stat zero = {0};
    struct jute_bytes empty = {(const uint8_t *)"", 0};
    tree->root = node_new((const uint8_t *)"", 0,
                          version_new(&zero, 0, store_open_acl_unsafe, empty));
    struct store_node *proc =
        builtin_child(tree->root, "zookeeper",
                      version_new(&zero, 0, store_open_acl_unsafe, empty));
    builtin_child(proc, "quota", version_new(&zero, 0, store_open_acl_unsafe, empty));
    struct store_acl_list *read_acl = store_acl_list_new(1);
    read_acl->entries[0].perms = ZK_PERM_READ;
    read_acl->entries[0].scheme = jute_bytes_cstr("world");
    read_acl->entries[0].id = jute_bytes_cstr("anyone");
    const struct store_acl_list *config_acl = store_acl_intern(tree, read_acl);
    free(read_acl);
    struct store_stat config_stat = {.aversion = -1};
    if (tree->config_text[0] != '\0') {
        config_stat.version = -1;
        config_stat.mzxid = config->config_node_zxid;
        config_stat.mtime_ms = config->config_node_mtime_ms;
        config_stat.data_length = (int32_t)strlen(tree->config_text);
    }
    builtin_child(proc, "config",
                  version_new(&config_stat, 0, config_acl,
                              jute_bytes_of(tree->config_text,
                                            (int32_t)strlen(tree->config_text))));
    /* ZooKeeper's map holds the root under both "" and "/". */
    atomic_init(&tree->counters.node_count, 5);
    atomic_init(&tree->counters.ephemeral_count, 0);
    /* approximateDataSize: the keys "", "/", "/zookeeper", "/zookeeper/quota",
     * "/zookeeper/config" (44 characters) plus the data. */
    atomic_init(&tree->counters.approximate_data_bytes,
                (int64_t)(44 + strlen(tree->config_text)));
    atomic_init(&tree->counters.last_zxid, 0);
    return tree;
}

static void destroy_subtree(struct store_node *node)
{
    struct store_child_table *table =
        atomic_load_explicit(&node->children, memory_order_relaxed);
    if (table) {
        for (uint32_t i = 0; i < table->capacity; i++) {
            struct store_node *child =
                atomic_load_explicit(&table->slots[i], memory_order_relaxed);
            if (child && child != TOMBSTONE) {
                destroy_subtree(child);
            }
        }
        free(table);
    }
    struct store_version *version = atomic_load_explicit(&node->version, memory_order_relaxed);
    if (!version_data_inline(version)) {
        free((void *)version_data(version));
    }
    free(version);
    free(node);
}


void store_tree_destroy(struct store_tree *tree)
{
    if (!tree) {
        return;
    }
    store_prepare_reset(tree);
    destroy_subtree(tree->root);
    for (size_t i = tree->retired.head; i < tree->retired.count; i++) {
        free(tree->retired.items[i].pointer);
    }
    free(tree->retired.items);
    store_acl_cache_free(&tree->acl_cache);
    session_map_free(&tree->ephemerals);
    store_path_set_free(&tree->containers);
    store_path_set_free(&tree->ttls);
    store_path_set_free(&tree->quota_roots);
    free(tree->pending.slots);
    free(tree->config_text);
    free(tree);
}

/* ---- containers, TTLs, ephemerals ----------------------------------------- */

size_t store_collect_expired_containers(struct store_tree *tree, int64_t now_ms,
                                        struct store_change_list *out, size_t paths_max)
{
    size_t found = 0;
    /* ContainerManager.getCandidates: containers that have had children
     * (cversion > 0) and have none now. maxNeverUsedIntervalMs is 0 in 3.8,
     * so never-used containers stay. */
    for (uint32_t i = 0; i < tree->containers.capacity && found < paths_max; i++) {
        if (!store_path_set_slot_live(&tree->containers, i)) {
            continue;
        }
        const char *path = tree->containers.slots[i];
        struct store_node *node = store_find(tree, (const uint8_t *)path, strlen(path), NULL);
        if (!node) {
            continue;
        }
        const struct store_version *version = store_node_version(node);
        if (version->stat.cversion > 0 && version->stat.num_children == 0) {
            store_change_list_add(out, ZK_EVENT_NONE, (const uint8_t *)path, strlen(path), NULL);
            found++;
        }
    }
    /* TTL nodes: no children and unmodified for longer than their TTL
     * (elapsed > ttl). */
    for (uint32_t i = 0; i < tree->ttls.capacity && found < paths_max; i++) {
        if (!store_path_set_slot_live(&tree->ttls, i)) {
            continue;
        }
        const char *path = tree->ttls.slots[i];
        struct store_node *node = store_find(tree, (const uint8_t *)path, strlen(path), NULL);
        if (!node) {
            continue;
        }
        const struct store_version *version = store_node_version(node);
        int64_t ttl_ms = version->stat.ephemeral_owner & ZK_TTL_MAX_MS;
        if (version->stat.num_children == 0 && ttl_ms != 0 &&
            now_ms - version->stat.mtime_ms > ttl_ms) {
            store_change_list_add(out, ZK_EVENT_NONE, (const uint8_t *)path, strlen(path), NULL);
            found++;
        }
    }
    return found;
}

size_t store_session_ephemerals(struct store_tree *tree, int64_t session_id,
                                struct jute_bytes prefix, struct store_change_list *out)
{
    const struct store_path_set *paths = store_tree_ephemerals(tree, session_id);
    if (!paths) {
        return 0;
    }
    size_t prefix_len = prefix.len > 0 ? (size_t)prefix.len : 0;
    size_t found = 0;
    for (uint32_t i = 0; i < paths->capacity; i++) {
        if (!store_path_set_slot_live(paths, i)) {
            continue;
        }
        const char *path = paths->slots[i];
        size_t len = strlen(path);
        if (len >= prefix_len && memcmp(path, prefix.ptr, prefix_len) == 0) {
            store_change_list_add(out, ZK_EVENT_NONE, (const uint8_t *)path, len, NULL);
            found++;
        }
    }
    return found;
}

int store_tree_set_config_node(struct store_tree *tree, const char *text, int64_t zxid,
                               int64_t time_ms)
{
    struct store_node_view view;
    int64_t visible_zxid = 0;
    struct jute_bytes path = jute_bytes_cstr(STORE_CONFIG_PATH);
    int rc = store_lookup(tree, path, &view, &visible_zxid, NULL);
    if (rc != ZK_OK) {
        return rc;
    }
    if (view.stat.mzxid >= zxid) {
        return ZK_OK;
    }
    return store_tree_set_data(tree, path.ptr, (size_t)path.len, jute_bytes_cstr(text), -1, zxid,
                               time_ms, NULL);
}
