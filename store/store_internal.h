/* Private to store/: the tree's memory layout, the writer-only indexes and
 * the helpers the .c files share. Nothing outside store/ includes this. */
#ifndef CHEETAH_STORE_INTERNAL_H
#define CHEETAH_STORE_INTERNAL_H

#include "jute/records.h"
#include "store/store.h"

/* Data up to this size is stored inside the version, so a stat-only change
 * (a child created under the node) copies it; larger data lives in its own
 * block shared by every version until setData replaces it. */
#define STORE_INLINE_DATA_BYTES_MAX 256u
/* A child table starts with this many slots and keeps its load (live plus
 * tombstones) at most 3/4 of its capacity. */
#define STORE_CHILD_TABLE_MIN_SLOTS 4u
/* ZooKeeper reads a log record up to jute.maxbuffer plus this slack
 * (zookeeper.jute.maxbuffer.extrasize); a txn larger than that could never
 * be read back, so it is refused before it reaches the log. */
#define STORE_TXN_EXTRA_BYTES 1024u
/* ZooKeeper's fixed special paths (DataTree). */
#define STORE_QUOTA_PATH "/zookeeper/quota"
#define STORE_CONFIG_PATH "/zookeeper/config"

/* One immutable version of a node. Its stat is ZooKeeper's StatPersisted
 * plus the counts: `cversion` counts child creations (what the snapshot
 * stores and what sequence suffixes use) and `ephemeral_owner` is the raw
 * owner (container and TTL encodings included). Readers see the client form
 * (DataNode.copyStat) through store_node_view. */
struct store_version {
    struct store_stat stat;
    int64_t version_zxid;
    const struct store_acl_list *acl;
    /* The data when data_length <= STORE_INLINE_DATA_BYTES_MAX; otherwise
     * a pointer to the node's data block, shared by its versions. */
    uint8_t inline_data[];
};

struct store_child_table {
    uint32_t capacity; /* a power of two; immutable */
    uint32_t live;     /* writer only */
    uint32_t used;     /* live + tombstones; writer only */
    _Atomic(struct store_node *) slots[];
};

struct store_node {
    _Atomic(struct store_version *) version;
    _Atomic(struct store_child_table *) children; /* NULL until the first child */
    uint32_t name_hash;
    uint32_t name_len;
    /* The most children the node ever had at once: ZooKeeper keeps children
     * in a java.util.HashSet whose table never shrinks, and its capacity
     * decides the order getChildren returns. Writer only; readers relaxed. */
    _Atomic uint32_t children_max;
    char name[]; /* not NUL-terminated; immutable */
};

/* ---- writer-only hash sets -------------------------------------------- */

/* A set of owned, NUL-terminated paths (open addressing). */
struct store_path_set {
    char **slots;
    uint32_t capacity;
    uint32_t count;
    uint32_t used;
    /* The most paths the set ever held: ZooKeeper's per-session ephemeral
     * HashSet never shrinks, and its size decides closeSession's order. */
    uint32_t count_max;
};
bool store_path_set_add(struct store_path_set *set, const char *path, size_t len);
bool store_path_set_remove(struct store_path_set *set, const char *path, size_t len);
bool store_path_set_contains(const struct store_path_set *set, const char *path, size_t len);
void store_path_set_free(struct store_path_set *set);
/* Iteration: slots that hold a path (not NULL, not the tombstone). */
bool store_path_set_slot_live(const struct store_path_set *set, uint32_t index);

/* session id -> the paths of its ephemerals */
struct store_session_entry {
    int64_t session_id;
    struct store_path_set *paths; /* NULL: empty slot; STORE_SESSION_DELETED: tombstone */
};
struct store_session_map {
    struct store_session_entry *slots;
    uint32_t capacity;
    uint32_t count;
    uint32_t used;
};

/* ---- interned ACL lists ----------------------------------------------- */

struct store_acl_cache_entry {
    struct store_acl_list *list;
    int64_t usage;
};
struct store_acl_cache {
    struct store_acl_cache_entry *slots; /* open addressing by content hash */
    uint32_t capacity;
    uint32_t count;
    uint32_t used;
    int64_t last_index;
};

/* ---- pending changes (PrepRequestProcessor's outstandingChanges) ------ */

struct store_change_record {
    int64_t zxid;
    char *path;
    size_t path_len;
    bool exists;               /* false: a pending delete (ChangeRecord.stat == null) */
    struct store_stat stat;    /* persisted form */
    int32_t child_count;
    struct store_acl_list *acl; /* owned copy */
    struct store_change_record *next;          /* FIFO by zxid */
    /* The path's previous and next pending records (NULL at either end):
     * a rollback (a failed multi, store_prepare_reset) restores the
     * previous one; applying a record unlinks it from the next one, so no
     * rollback ever restores a record already applied and freed. */
    struct store_change_record *prev_for_path;
    struct store_change_record *next_for_path;
};

struct store_pending_entry {
    char *path; /* borrowed from the record */
    size_t path_len;
    struct store_change_record *record;
};
struct store_pending_map {
    struct store_pending_entry *slots;
    uint32_t capacity;
    uint32_t count;
    uint32_t used;
};

/* ---- epoch-based reclamation ------------------------------------------ */

struct store_retired {
    void *pointer;
    uint64_t epoch;
};
struct store_retire_list {
    struct store_retired *items;
    size_t head;
    size_t count; /* items[head .. count) are pending */
    size_t capacity;
};

struct store_tree {
    struct store_config config;
    char *config_text; /* owned copy of config.config_node_text */
    struct store_node *root;

    /* Epochs: see tree.c "Reclamation" for the protocol and its proof. */
    _Atomic uint64_t global_epoch;
    _Atomic uint32_t reader_count;
    struct store_reader readers[STORE_READERS_MAX];
    struct store_retire_list retired;

    struct store_counters counters;
    struct store_acl_cache acl_cache;
    struct store_session_map ephemerals;
    struct store_path_set containers;
    struct store_path_set ttls;
    /* Paths with a quota (a zookeeper_limits node): ZooKeeper's pTrie. */
    struct store_path_set quota_roots;

    struct store_pending_map pending;
    struct store_change_record *pending_head;
    struct store_change_record *pending_tail;
};

/* The ACL list ZooKeeper stores as ref -1 (OPEN_ACL_UNSAFE). */
extern const struct store_acl_list *const store_open_acl_unsafe;

/* ---- tree.c (writer side) --------------------------------------------- */

uint32_t store_hash_bytes(const void *bytes, size_t len);
void store_retire(struct store_tree *tree, void *pointer);
/* Finds the node at a canonical path ("" and "/" are the root); NULL when
 * missing or the path is not canonical. Sets *deepest to the deepest
 * existing ancestor (or the node) when not NULL. */
struct store_node *store_find(struct store_tree *tree, const uint8_t *path, size_t len,
                              struct store_node **deepest);
const struct store_version *store_node_version(const struct store_node *node);
/* DataNode.copyStat: the Stat clients see. */
void store_client_stat(const struct store_version *version, struct store_stat *out);

/* DataTree.createNode. `acl` is interned here (convertAcls) once the
 * parent is found. Returns ZK_OK, ZK_NONODE or ZK_NODEEXISTS. */
int store_tree_create_node(struct store_tree *tree, const uint8_t *path, size_t len,
                           struct jute_bytes data, const struct store_acl_list *acl,
                           int64_t ephemeral_owner, int32_t parent_cversion, int64_t zxid,
                           int64_t time_ms, struct store_stat *client_stat_out);
/* DataTree.deleteNode. Returns ZK_OK or ZK_NONODE. */
int store_tree_delete_node(struct store_tree *tree, const uint8_t *path, size_t len,
                           int64_t zxid);
/* DataTree.setData. */
int store_tree_set_data(struct store_tree *tree, const uint8_t *path, size_t len,
                        struct jute_bytes data, int32_t version, int64_t zxid, int64_t time_ms,
                        struct store_stat *client_stat_out);
/* DataTree.setACL: releases the old list's usage, then interns `acl`. */
int store_tree_set_acl(struct store_tree *tree, const uint8_t *path, size_t len,
                       const struct store_acl_list *acl, int32_t version, int64_t zxid,
                       struct store_stat *client_stat_out);
/* DataTree.setCversionPzxid (replay of a create that finds its node). */
int store_tree_set_cversion_pzxid(struct store_tree *tree, const uint8_t *path, size_t len,
                                  int32_t cversion, int64_t zxid);
/* Removes and returns the session's ephemeral set (caller frees), or NULL. */
struct store_path_set *store_tree_take_ephemerals(struct store_tree *tree, int64_t session_id);
const struct store_path_set *store_tree_ephemerals(const struct store_tree *tree,
                                                   int64_t session_id);

/* EphemeralType.get, with the tree's extendedTypesEnabled. */
enum store_ephemeral_type {
    STORE_EPHEMERAL_VOID,
    STORE_EPHEMERAL_NORMAL,
    STORE_EPHEMERAL_CONTAINER,
    STORE_EPHEMERAL_TTL,
};
enum store_ephemeral_type store_ephemeral_type(const struct store_tree *tree, int64_t owner);

/* ---- acl.c -------------------------------------------------------------- */

/* A heap copy of a list (ref 0, not interned). */
struct store_acl_list *store_acl_list_new(int32_t count);
struct store_acl_list *store_acl_list_copy(const struct store_acl_list *list);
/* Builds an owned list from a decoded ACL vector (no validation). */
struct store_acl_list *store_acl_list_from_vector(const struct jute_acl_vector *vector);
void store_acl_list_to_vector(const struct store_acl_list *list, struct jute_acl *items);
bool store_acl_list_equal(const struct store_acl_list *a, const struct store_acl_list *b);
/* ReferenceCountedACLCache.convertAcls: returns the interned list with one
 * more usage (OPEN_ACL_UNSAFE from the builtin nodes is ref -1, uncounted). */
const struct store_acl_list *store_acl_intern(struct store_tree *tree,
                                              const struct store_acl_list *list);
/* removeUsage: the last usage drops the list (retired for readers). */
void store_acl_release(struct store_tree *tree, const struct store_acl_list *list);
void store_acl_cache_free(struct store_acl_cache *cache);
/* PrepRequestProcessor.fixupACL. Returns ZK_OK with *out (owned) or
 * ZK_INVALIDACL. */
int store_acl_fixup(const struct jute_acl_vector *acl, const struct store_auth *auth,
                    struct store_acl_list **out);

/* ---- prepare.c ---------------------------------------------------------- */

/* Drops the pending change records of transactions up to `zxid`. */
void store_pending_applied(struct store_tree *tree, int64_t zxid);

/* ---- path.c ------------------------------------------------------------- */

bool store_path_is_special(const uint8_t *path, size_t len);

/* ---- txn.c -------------------------------------------------------------- */

void store_txn_write_header(struct store_txn *txn, int64_t session_id, int32_t cxid,
                            int64_t zxid, int64_t time_ms, int32_t type);
bool store_change_list_add(struct store_change_list *list, int32_t event_type,
                           const uint8_t *path, size_t len, const struct store_acl_list *acl);

/* Long.parseLong(text[0..len), radix) for radix 10 or 16: optional sign, at
 * least one digit, the value within a signed 64-bit long (INT64_MIN too). */
bool store_parse_java_long(const char *text, size_t len, int radix, int64_t *out);

/* The value of one hex digit (either case), or -1. */
static inline int store_hex_digit_value(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Java HashSet iteration orders (java_order.c): a set of `initial_capacity`
 * that once held `size_max` entries, entries inserted in czxid order; and
 * the order of a clone of such an iteration (HashSet.clone). */
void store_java_hashset_order(struct store_child_entry *entries, size_t count,
                              uint32_t size_max, uint32_t initial_capacity);
void store_java_hashset_clone_order(struct store_child_entry *entries, size_t count);
/* java.util.HashSet() starts with a table of 16. */
#define STORE_JAVA_HASHSET_DEFAULT_CAPACITY 16u

#endif
