/*
 * The watch table (see watch.h for the semantics and where they come from).
 *
 * Layout: three intrusive chained hash tables over three kinds of object.
 *   watch_path    one per watched path (owns a copy of the path bytes)
 *   watch_watcher one per connection that has watched something
 *   watch_entry   one per (path, watcher) pair, holding its membership and
 *                 mode in each of the two managers; linked into its path's
 *                 list and its watcher's list, and hashed by the pair.
 * So a lookup by path, by watcher or by pair is O(1) on average, a trigger
 * touches only the entries on the paths it visits, and dropping a connection
 * touches only its own entries.
 */
#include "dataplane/watch.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "jute/zk_constants.h"

enum watch_mode {
    WATCH_MODE_STANDARD = 0, /* one-shot: removed when it fires */
    WATCH_MODE_PERSISTENT = 1,
    WATCH_MODE_RECURSIVE = 2, /* persistent, and fires for descendants */
};

/* Chained hash tables start at this many buckets and double when the count
 * passes the bucket count (load factor <= 1). */
#define WATCH_HASH_BUCKETS_MIN 16u

struct hash_node {
    struct hash_node *next;
    uint64_t hash;
};

struct hash_table {
    struct hash_node **buckets;
    size_t mask; /* bucket count - 1 (a power of two minus one) */
    size_t count;
};

struct watch_entry;

struct watch_path {
    struct hash_node node; /* first: a hash_node * is a watch_path * */
    struct watch_entry *entries;
    size_t members[WATCH_MANAGER_COUNT];
    int32_t len;
    uint8_t bytes[];
};

struct watch_watcher {
    struct hash_node node; /* first */
    uint64_t id;
    struct watch_entry *entries;
    size_t members[WATCH_MANAGER_COUNT];
    /* ZooKeeper's watch2Paths keeps a connection's (possibly empty) path set
     * until the connection closes, and wchs/wchc count and list it: this
     * records that the watcher has such a set in each manager. */
    bool listed[WATCH_MANAGER_COUNT];
    uint64_t fired_epoch; /* == table epoch: already fired by this change */
};

struct watch_entry {
    struct hash_node node; /* first */
    struct watch_path *path;
    struct watch_watcher *watcher;
    struct watch_entry *path_prev, *path_next;
    struct watch_entry *watcher_prev, *watcher_next;
    bool member[WATCH_MANAGER_COUNT];
    uint8_t mode[WATCH_MANAGER_COUNT];
};

struct watch_table {
    struct hash_table paths;
    struct hash_table watchers;
    struct hash_table entries;
    size_t watches_max;
    size_t memberships[WATCH_MANAGER_COUNT];
    size_t paths_in[WATCH_MANAGER_COUNT];
    size_t listed_watchers[WATCH_MANAGER_COUNT];
    size_t recursive[WATCH_MANAGER_COUNT];
    uint64_t epoch;
    uint64_t trigger_lookups; /* path lookups made by triggers, ever */
    uint64_t key0, key1; /* SipHash key derived from the seed */
};

/* ---- hashing ---------------------------------------------------------- */

static inline uint64_t rotl64(uint64_t value, int bits)
{
    return (value << bits) | (value >> (64 - bits));
}

#define SIP_ROUND(v0, v1, v2, v3)                                                                  \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = rotl64(v1, 13);                                                                       \
        v1 ^= v0;                                                                                  \
        v0 = rotl64(v0, 32);                                                                       \
        v2 += v3;                                                                                  \
        v3 = rotl64(v3, 16);                                                                       \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = rotl64(v3, 21);                                                                       \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = rotl64(v1, 17);                                                                       \
        v1 ^= v2;                                                                                  \
        v2 = rotl64(v2, 32);                                                                       \
    } while (0)

/* SipHash-1-3 of the path bytes: paths are chosen by clients, so the hash is
 * keyed to keep anyone from aiming collisions at one chain. */
static uint64_t hash_bytes(const struct watch_table *table, const uint8_t *bytes, size_t len)
{
    uint64_t v0 = table->key0 ^ 0x736f6d6570736575ULL;
    uint64_t v1 = table->key1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = table->key0 ^ 0x6c7967656e657261ULL;
    uint64_t v3 = table->key1 ^ 0x7465646279746573ULL;
    size_t whole = len - (len % 8);
    for (size_t offset = 0; offset < whole; offset += 8) {
        uint64_t word;
        memcpy(&word, bytes + offset, 8); /* byte order does not matter here */
        v3 ^= word;
        SIP_ROUND(v0, v1, v2, v3);
        v0 ^= word;
    }
    uint64_t last = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++) {
        last |= (uint64_t)bytes[whole + i] << (8 * i);
    }
    v3 ^= last;
    SIP_ROUND(v0, v1, v2, v3);
    v0 ^= last;
    v2 ^= 0xff;
    SIP_ROUND(v0, v1, v2, v3);
    SIP_ROUND(v0, v1, v2, v3);
    SIP_ROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

/* MurmurHash3's finaliser: a good mix for ids the shard chooses. */
static uint64_t mix64(uint64_t value)
{
    value ^= value >> 33;
    value *= 0xff51afd7ed558ccdULL;
    value ^= value >> 33;
    value *= 0xc4ceb9fe1a85ec53ULL;
    value ^= value >> 33;
    return value;
}

static uint64_t hash_watcher(const struct watch_table *table, uint64_t watcher_id)
{
    return mix64(watcher_id ^ table->key0);
}

static uint64_t hash_pair(const struct watch_table *table, const struct watch_path *path,
                          uint64_t watcher_id)
{
    return mix64(path->node.hash ^ hash_watcher(table, watcher_id) * 0x9e3779b97f4a7c15ULL);
}

/* ---- chained hash table ----------------------------------------------- */

static bool hash_table_init(struct hash_table *hash)
{
    hash->buckets = calloc(WATCH_HASH_BUCKETS_MIN, sizeof(*hash->buckets));
    hash->mask = WATCH_HASH_BUCKETS_MIN - 1;
    hash->count = 0;
    return hash->buckets != NULL;
}

/* Doubling is best effort: if memory is short the chains just get longer. */
static void hash_table_grow(struct hash_table *hash)
{
    size_t buckets_new = (hash->mask + 1) * 2;
    struct hash_node **table_new = calloc(buckets_new, sizeof(*table_new));
    if (table_new == NULL) {
        return;
    }
    for (size_t i = 0; i <= hash->mask; i++) {
        struct hash_node *node = hash->buckets[i];
        while (node != NULL) {
            struct hash_node *next = node->next;
            size_t slot = node->hash & (buckets_new - 1);
            node->next = table_new[slot];
            table_new[slot] = node;
            node = next;
        }
    }
    free(hash->buckets);
    hash->buckets = table_new;
    hash->mask = buckets_new - 1;
}

static void hash_table_insert(struct hash_table *hash, struct hash_node *node)
{
    if (hash->count >= hash->mask + 1) {
        hash_table_grow(hash);
    }
    size_t slot = node->hash & hash->mask;
    node->next = hash->buckets[slot];
    hash->buckets[slot] = node;
    hash->count++;
}

static void hash_table_remove(struct hash_table *hash, struct hash_node *node)
{
    struct hash_node **link = &hash->buckets[node->hash & hash->mask];
    while (*link != node) {
        assert(*link != NULL);
        link = &(*link)->next;
    }
    *link = node->next;
    hash->count--;
}

static inline struct hash_node *hash_table_chain(const struct hash_table *hash, uint64_t hash_value)
{
    return hash->buckets[hash_value & hash->mask];
}

/* ---- lookups ------------------------------------------------------------ */

static struct watch_path *path_find(const struct watch_table *table, const uint8_t *bytes,
                                    int32_t len, uint64_t hash_value)
{
    for (struct hash_node *node = hash_table_chain(&table->paths, hash_value); node != NULL;
         node = node->next) {
        struct watch_path *path = (struct watch_path *)node;
        if (node->hash == hash_value && path->len == len &&
            memcmp(path->bytes, bytes, (size_t)len) == 0) {
            return path;
        }
    }
    return NULL;
}

static struct watch_path *path_lookup(const struct watch_table *table, struct jute_bytes path)
{
    if (path.len <= 0) {
        return NULL;
    }
    return path_find(table, path.ptr, path.len, hash_bytes(table, path.ptr, (size_t)path.len));
}

static struct watch_watcher *watcher_find(const struct watch_table *table, uint64_t watcher_id)
{
    uint64_t hash_value = hash_watcher(table, watcher_id);
    for (struct hash_node *node = hash_table_chain(&table->watchers, hash_value); node != NULL;
         node = node->next) {
        struct watch_watcher *watcher = (struct watch_watcher *)node;
        if (watcher->id == watcher_id) {
            return watcher;
        }
    }
    return NULL;
}

static struct watch_entry *entry_find(const struct watch_table *table,
                                      const struct watch_path *path, uint64_t watcher_id)
{
    uint64_t hash_value = hash_pair(table, path, watcher_id);
    for (struct hash_node *node = hash_table_chain(&table->entries, hash_value); node != NULL;
         node = node->next) {
        struct watch_entry *entry = (struct watch_entry *)node;
        if (entry->path == path && entry->watcher->id == watcher_id) {
            return entry;
        }
    }
    return NULL;
}

/* ---- object lifetimes -------------------------------------------------- */

static void path_free_if_unused(struct watch_table *table, struct watch_path *path)
{
    if (path->entries != NULL) {
        return;
    }
    assert(path->members[WATCH_MANAGER_DATA] == 0 && path->members[WATCH_MANAGER_CHILD] == 0);
    hash_table_remove(&table->paths, &path->node);
    free(path);
}

static void entry_unlink_and_free(struct watch_table *table, struct watch_entry *entry)
{
    assert(!entry->member[WATCH_MANAGER_DATA] && !entry->member[WATCH_MANAGER_CHILD]);
    hash_table_remove(&table->entries, &entry->node);
    if (entry->path_prev != NULL) {
        entry->path_prev->path_next = entry->path_next;
    } else {
        entry->path->entries = entry->path_next;
    }
    if (entry->path_next != NULL) {
        entry->path_next->path_prev = entry->path_prev;
    }
    if (entry->watcher_prev != NULL) {
        entry->watcher_prev->watcher_next = entry->watcher_next;
    } else {
        entry->watcher->entries = entry->watcher_next;
    }
    if (entry->watcher_next != NULL) {
        entry->watcher_next->watcher_prev = entry->watcher_prev;
    }
    struct watch_path *path = entry->path;
    free(entry);
    path_free_if_unused(table, path);
}

static void membership_set(struct watch_table *table, struct watch_entry *entry,
                           enum watch_manager manager, enum watch_mode mode)
{
    if (!entry->member[manager]) {
        entry->member[manager] = true;
        table->memberships[manager]++;
        if (entry->path->members[manager]++ == 0) {
            table->paths_in[manager]++;
        }
        entry->watcher->members[manager]++;
        if (!entry->watcher->listed[manager]) {
            entry->watcher->listed[manager] = true;
            table->listed_watchers[manager]++;
        }
    } else if (entry->mode[manager] == WATCH_MODE_RECURSIVE) {
        table->recursive[manager]--;
    }
    /* The last add wins, as WatcherModeManager.setWatcherMode does. */
    entry->mode[manager] = (uint8_t)mode;
    if (mode == WATCH_MODE_RECURSIVE) {
        table->recursive[manager]++;
    }
}

/* Removes one membership; frees the entry (and its path) when it was the
 * last. The watcher object stays until watch_remove_watcher. */
static void membership_clear(struct watch_table *table, struct watch_entry *entry,
                             enum watch_manager manager)
{
    assert(entry->member[manager]);
    if (entry->mode[manager] == WATCH_MODE_RECURSIVE) {
        assert(table->recursive[manager] > 0);
        table->recursive[manager]--;
    }
    entry->member[manager] = false;
    entry->mode[manager] = WATCH_MODE_STANDARD;
    assert(table->memberships[manager] > 0);
    table->memberships[manager]--;
    assert(entry->path->members[manager] > 0);
    if (--entry->path->members[manager] == 0) {
        table->paths_in[manager]--;
    }
    assert(entry->watcher->members[manager] > 0);
    entry->watcher->members[manager]--;
    if (!entry->member[WATCH_MANAGER_DATA] && !entry->member[WATCH_MANAGER_CHILD]) {
        entry_unlink_and_free(table, entry);
    }
}

/* ---- create / destroy -------------------------------------------------- */

struct watch_table *watch_table_create(size_t watches_max, uint64_t hash_seed)
{
    assert(watches_max >= 1);
    struct watch_table *table = calloc(1, sizeof(*table));
    if (table == NULL) {
        return NULL;
    }
    table->watches_max = watches_max;
    table->key0 = mix64(hash_seed ^ 0x243f6a8885a308d3ULL);
    table->key1 = mix64(hash_seed ^ 0x13198a2e03707344ULL);
    if (!hash_table_init(&table->paths) || !hash_table_init(&table->watchers) ||
        !hash_table_init(&table->entries)) {
        watch_table_destroy(table);
        return NULL;
    }
    return table;
}

static void hash_table_free_all(struct hash_table *hash)
{
    if (hash->buckets == NULL) {
        return;
    }
    for (size_t i = 0; i <= hash->mask; i++) {
        struct hash_node *node = hash->buckets[i];
        while (node != NULL) {
            struct hash_node *next = node->next;
            free(node); /* every node is the first member of its object */
            node = next;
        }
    }
    free(hash->buckets);
    hash->buckets = NULL;
}

void watch_table_destroy(struct watch_table *table)
{
    if (table == NULL) {
        return;
    }
    hash_table_free_all(&table->entries);
    hash_table_free_all(&table->paths);
    hash_table_free_all(&table->watchers);
    free(table);
}

/* ---- add --------------------------------------------------------------- */

static struct watch_path *path_get_or_create(struct watch_table *table, struct jute_bytes path)
{
    uint64_t hash_value = hash_bytes(table, path.ptr, (size_t)path.len);
    struct watch_path *found = path_find(table, path.ptr, path.len, hash_value);
    if (found != NULL) {
        return found;
    }
    struct watch_path *created = calloc(1, sizeof(*created) + (size_t)path.len);
    if (created == NULL) {
        return NULL;
    }
    created->node.hash = hash_value;
    created->len = path.len;
    memcpy(created->bytes, path.ptr, (size_t)path.len);
    hash_table_insert(&table->paths, &created->node);
    return created;
}

static struct watch_watcher *watcher_get_or_create(struct watch_table *table, uint64_t watcher_id)
{
    struct watch_watcher *found = watcher_find(table, watcher_id);
    if (found != NULL) {
        return found;
    }
    struct watch_watcher *created = calloc(1, sizeof(*created));
    if (created == NULL) {
        return NULL;
    }
    created->id = watcher_id;
    created->node.hash = hash_watcher(table, watcher_id);
    hash_table_insert(&table->watchers, &created->node);
    return created;
}

static struct watch_entry *entry_create(struct watch_table *table, struct watch_path *path,
                                        struct watch_watcher *watcher)
{
    struct watch_entry *entry = calloc(1, sizeof(*entry));
    if (entry == NULL) {
        return NULL;
    }
    entry->path = path;
    entry->watcher = watcher;
    entry->node.hash = hash_pair(table, path, watcher->id);
    entry->path_next = path->entries;
    if (path->entries != NULL) {
        path->entries->path_prev = entry;
    }
    path->entries = entry;
    entry->watcher_next = watcher->entries;
    if (watcher->entries != NULL) {
        watcher->entries->watcher_prev = entry;
    }
    watcher->entries = entry;
    hash_table_insert(&table->entries, &entry->node);
    return entry;
}

static void watcher_free(struct watch_table *table, struct watch_watcher *watcher)
{
    assert(watcher->entries == NULL);
    for (int manager = 0; manager < WATCH_MANAGER_COUNT; manager++) {
        if (watcher->listed[manager]) {
            table->listed_watchers[manager]--;
        }
    }
    hash_table_remove(&table->watchers, &watcher->node);
    free(watcher);
}

int watch_add(struct watch_table *table, struct jute_bytes path, enum watch_kind kind,
              uint64_t watcher_id)
{
    bool in_manager[WATCH_MANAGER_COUNT];
    enum watch_mode mode;
    switch (kind) {
    case WATCH_KIND_DATA:
        in_manager[WATCH_MANAGER_DATA] = true;
        in_manager[WATCH_MANAGER_CHILD] = false;
        mode = WATCH_MODE_STANDARD;
        break;
    case WATCH_KIND_CHILD:
        in_manager[WATCH_MANAGER_DATA] = false;
        in_manager[WATCH_MANAGER_CHILD] = true;
        mode = WATCH_MODE_STANDARD;
        break;
    case WATCH_KIND_PERSISTENT:
    case WATCH_KIND_PERSISTENT_RECURSIVE:
        in_manager[WATCH_MANAGER_DATA] = true;
        in_manager[WATCH_MANAGER_CHILD] = true;
        mode = kind == WATCH_KIND_PERSISTENT ? WATCH_MODE_PERSISTENT : WATCH_MODE_RECURSIVE;
        break;
    default:
        return WATCH_ERR_INVALID;
    }
    if (path.len <= 0 || path.ptr == NULL) {
        return WATCH_ERR_INVALID;
    }

    /* Check the bound before changing anything. */
    struct watch_path *existing_path = path_lookup(table, path);
    struct watch_entry *existing =
        existing_path != NULL ? entry_find(table, existing_path, watcher_id) : NULL;
    size_t added = 0;
    for (int manager = 0; manager < WATCH_MANAGER_COUNT; manager++) {
        if (in_manager[manager] && (existing == NULL || !existing->member[manager])) {
            added++;
        }
    }
    size_t held = table->memberships[WATCH_MANAGER_DATA] + table->memberships[WATCH_MANAGER_CHILD];
    if (added > table->watches_max - held) {
        return WATCH_ERR_FULL;
    }

    struct watch_entry *entry = existing;
    if (entry == NULL) {
        struct watch_watcher *watcher = watcher_get_or_create(table, watcher_id);
        if (watcher == NULL) {
            return WATCH_ERR_NOMEM;
        }
        struct watch_path *path_node = path_get_or_create(table, path);
        if (path_node == NULL) {
            if (watcher->entries == NULL && !watcher->listed[0] && !watcher->listed[1]) {
                watcher_free(table, watcher);
            }
            return WATCH_ERR_NOMEM;
        }
        entry = entry_create(table, path_node, watcher);
        if (entry == NULL) {
            path_free_if_unused(table, path_node);
            if (watcher->entries == NULL && !watcher->listed[0] && !watcher->listed[1]) {
                watcher_free(table, watcher);
            }
            return WATCH_ERR_NOMEM;
        }
    }
    for (int manager = 0; manager < WATCH_MANAGER_COUNT; manager++) {
        if (in_manager[manager]) {
            membership_set(table, entry, (enum watch_manager)manager, mode);
        }
    }
    return 0;
}

/* ---- trigger ------------------------------------------------------------ */

/* PathParentIterator: the path itself, then each ancestor up to "/". Returns
 * the length of the parent of path[0..len), or 0 when there is none. */
static int32_t parent_length(const uint8_t *path, int32_t len)
{
    if (len == 1 && path[0] == '/') {
        return 0;
    }
    int32_t slash = len - 1;
    while (slash >= 0 && path[slash] != '/') {
        slash--;
    }
    if (slash < 0) {
        return 0; /* not an absolute path: no parents (validated paths always have one) */
    }
    return slash == 0 ? 1 : slash;
}

struct trigger_run {
    struct watch_table *table;
    int32_t event_type;
    struct jute_bytes event_path;
    watch_emit_fn emit;
    void *ctx;
    size_t emitted;
};

static void fire(struct trigger_run *run, struct watch_watcher *watcher)
{
    if (watcher->fired_epoch == run->table->epoch) {
        return; /* already sent this change (the supress set) */
    }
    watcher->fired_epoch = run->table->epoch;
    run->emit(run->ctx, watcher->id, run->event_type, run->event_path);
    run->emitted++;
}

/* One WatchManager.triggerWatch. */
static void trigger_manager(struct trigger_run *run, enum watch_manager manager)
{
    struct watch_table *table = run->table;
    /* Without recursive watches only the path itself can match, so the walk
     * up the ancestors is skipped (WatchManager.getPathParentIterator). */
    bool walk_ancestors = table->recursive[manager] > 0;
    const uint8_t *bytes = run->event_path.ptr;
    int32_t len = run->event_path.len;
    for (int level = 0; len > 0; level++) {
        uint64_t hash_value = hash_bytes(table, bytes, (size_t)len);
        struct watch_path *path = path_find(table, bytes, len, hash_value);
        table->trigger_lookups++;
        if (path != NULL && path->members[manager] > 0) {
            struct watch_entry *next;
            for (struct watch_entry *entry = path->entries; entry != NULL; entry = next) {
                next = entry->path_next; /* entry (even path) may be freed below */
                if (!entry->member[manager]) {
                    continue;
                }
                if (entry->mode[manager] == WATCH_MODE_RECURSIVE) {
                    if (run->event_type != ZK_EVENT_NODE_CHILDREN_CHANGED) {
                        fire(run, entry->watcher);
                    }
                } else if (level == 0) {
                    fire(run, entry->watcher);
                    if (entry->mode[manager] != WATCH_MODE_PERSISTENT) {
                        membership_clear(table, entry, manager);
                    }
                }
            }
        }
        if (!walk_ancestors) {
            break;
        }
        len = parent_length(bytes, len);
    }
}

size_t watch_trigger(struct watch_table *table, int32_t event_type, struct jute_bytes path,
                     watch_emit_fn emit, void *ctx)
{
    if (path.len <= 0 || path.ptr == NULL) {
        return 0;
    }
    struct trigger_run run = {table, event_type, path, emit, ctx, 0};
    table->epoch++; /* a new change: nobody has been fired yet */
    switch (event_type) {
    case ZK_EVENT_NODE_CREATED:
    case ZK_EVENT_NODE_DATA_CHANGED:
        trigger_manager(&run, WATCH_MANAGER_DATA);
        break;
    case ZK_EVENT_NODE_DELETED:
        trigger_manager(&run, WATCH_MANAGER_DATA);
        trigger_manager(&run, WATCH_MANAGER_CHILD);
        break;
    case ZK_EVENT_NODE_CHILDREN_CHANGED:
        trigger_manager(&run, WATCH_MANAGER_CHILD);
        break;
    default:
        break;
    }
    return run.emitted;
}

/* ---- remove ------------------------------------------------------------ */

void watch_remove_watcher(struct watch_table *table, uint64_t watcher_id)
{
    struct watch_watcher *watcher = watcher_find(table, watcher_id);
    if (watcher == NULL) {
        return;
    }
    while (watcher->entries != NULL) {
        struct watch_entry *entry = watcher->entries;
        bool in_data = entry->member[WATCH_MANAGER_DATA];
        bool in_child = entry->member[WATCH_MANAGER_CHILD];
        /* Clearing the last membership frees the entry: clear that one last. */
        if (in_child) {
            membership_clear(table, entry, WATCH_MANAGER_CHILD);
        }
        if (in_data) {
            membership_clear(table, entry, WATCH_MANAGER_DATA);
        }
    }
    watcher_free(table, watcher);
}

/* WatchManager.containsWatcher of 3.8.0: at the path itself any watcher in
 * the manager counts; above it (when recursive watches exist) only this
 * watcher's own mode on `path` matters, which is recursive only if it is a
 * member at `path` anyway. */
static bool manager_contains(const struct watch_table *table, enum watch_manager manager,
                             struct jute_bytes path, uint64_t watcher_id)
{
    const struct watch_path *path_node = path_lookup(table, path);
    if (path_node == NULL) {
        return false;
    }
    if (path_node->members[manager] > 0) {
        return true;
    }
    const struct watch_entry *entry = entry_find(table, path_node, watcher_id);
    return entry != NULL && entry->member[manager] &&
           entry->mode[manager] == WATCH_MODE_RECURSIVE;
}

static bool manager_remove(struct watch_table *table, enum watch_manager manager,
                           struct jute_bytes path, uint64_t watcher_id)
{
    struct watch_path *path_node = path_lookup(table, path);
    if (path_node == NULL) {
        return false;
    }
    struct watch_entry *entry = entry_find(table, path_node, watcher_id);
    if (entry == NULL || !entry->member[manager]) {
        return false;
    }
    membership_clear(table, entry, manager);
    return true;
}

bool watch_contains(const struct watch_table *table, struct jute_bytes path, uint64_t watcher_id,
                    int32_t watcher_type)
{
    switch (watcher_type) {
    case ZK_WATCHER_CHILDREN:
        return manager_contains(table, WATCH_MANAGER_CHILD, path, watcher_id);
    case ZK_WATCHER_DATA:
        return manager_contains(table, WATCH_MANAGER_DATA, path, watcher_id);
    case ZK_WATCHER_ANY:
        return manager_contains(table, WATCH_MANAGER_CHILD, path, watcher_id) ||
               manager_contains(table, WATCH_MANAGER_DATA, path, watcher_id);
    default:
        return false; /* not in DataTree's switch */
    }
}

bool watch_remove(struct watch_table *table, struct jute_bytes path, uint64_t watcher_id,
                  int32_t watcher_type)
{
    switch (watcher_type) {
    case ZK_WATCHER_CHILDREN:
        return manager_remove(table, WATCH_MANAGER_CHILD, path, watcher_id);
    case ZK_WATCHER_DATA:
        return manager_remove(table, WATCH_MANAGER_DATA, path, watcher_id);
    case ZK_WATCHER_ANY: {
        bool removed_child = manager_remove(table, WATCH_MANAGER_CHILD, path, watcher_id);
        bool removed_data = manager_remove(table, WATCH_MANAGER_DATA, path, watcher_id);
        return removed_child || removed_data;
    }
    default:
        return false;
    }
}

/* ---- counts and iteration ---------------------------------------------- */

struct watch_summary watch_summary(const struct watch_table *table, enum watch_manager manager)
{
    struct watch_summary summary = {table->listed_watchers[manager], table->paths_in[manager],
                                    table->memberships[manager]};
    return summary;
}

size_t watch_count_total(const struct watch_table *table)
{
    return table->memberships[WATCH_MANAGER_DATA] + table->memberships[WATCH_MANAGER_CHILD];
}

size_t watch_count_of_watcher(const struct watch_table *table, uint64_t watcher_id,
                              enum watch_manager manager)
{
    const struct watch_watcher *watcher = watcher_find(table, watcher_id);
    return watcher != NULL ? watcher->members[manager] : 0;
}

size_t watch_recursive_count(const struct watch_table *table, enum watch_manager manager)
{
    return table->recursive[manager];
}

uint64_t watch_trigger_lookups(const struct watch_table *table)
{
    return table->trigger_lookups;
}

void watch_foreach_by_watcher(const struct watch_table *table, enum watch_manager manager,
                              watch_visit_fn visit, void *ctx)
{
    for (size_t i = 0; i <= table->watchers.mask; i++) {
        for (const struct hash_node *node = table->watchers.buckets[i]; node != NULL;
             node = node->next) {
            const struct watch_watcher *watcher = (const struct watch_watcher *)node;
            if (!watcher->listed[manager]) {
                continue;
            }
            bool first = true;
            for (const struct watch_entry *entry = watcher->entries; entry != NULL;
                 entry = entry->watcher_next) {
                if (entry->member[manager]) {
                    struct jute_bytes path = jute_bytes_of(entry->path->bytes, entry->path->len);
                    visit(ctx, watcher->id, path, first);
                    first = false;
                }
            }
            if (first) {
                /* ZooKeeper still lists a connection whose watches all fired. */
                visit(ctx, watcher->id, jute_bytes_of(NULL, 0), true);
            }
        }
    }
}

void watch_foreach_by_path(const struct watch_table *table, enum watch_manager manager,
                           watch_visit_fn visit, void *ctx)
{
    for (size_t i = 0; i <= table->paths.mask; i++) {
        for (const struct hash_node *node = table->paths.buckets[i]; node != NULL;
             node = node->next) {
            const struct watch_path *path = (const struct watch_path *)node;
            if (path->members[manager] == 0) {
                continue;
            }
            bool first = true;
            for (const struct watch_entry *entry = path->entries; entry != NULL;
                 entry = entry->path_next) {
                if (entry->member[manager]) {
                    visit(ctx, entry->watcher->id, jute_bytes_of(path->bytes, path->len), first);
                    first = false;
                }
            }
        }
    }
}
