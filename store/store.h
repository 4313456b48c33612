/* The data tree: znodes, Stat, ACLs, ephemerals by session, sequence
 * counters, containers and TTL nodes, and the transactions that change them.
 *
 * Two sides, two kinds of thread:
 *
 *  - The writer (the consensus core, exactly one thread) turns client write
 *    requests into transactions (store_prepare: ZooKeeper's
 *    PrepRequestProcessor) and applies committed transactions
 *    (store_apply: ZooKeeper's DataTree.processTxn). Transactions are in
 *    ZooKeeper's own encoding (TxnHeader + record), so the log of issue 3
 *    writes them unchanged and recovery replays them with store_apply.
 *
 *  - Readers (the shards, any number of threads) look nodes up concurrently
 *    with the writer and never lock. The writer never changes memory a reader
 *    may be reading: it publishes new versions with release stores and retires
 *    the old ones; a retired object is freed only after every registered
 *    reader has passed a quiescent point (epoch-based reclamation, driven by
 *    store_reader_quiescent / store_reclaim). Pointers a reader gets are valid
 *    until its next quiescent point or offline call.
 *
 * Pure logic: no sockets, no threads, no clocks (time comes in as arguments).
 */
#ifndef CHEETAH_STORE_H
#define CHEETAH_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jute/jute.h"
#include "jute/zk_constants.h"

#define STORE_READERS_MAX 64
/* ZooKeeper's default limit on the bytes of one znode's data is
 * jute.maxbuffer; the transaction that carries it must also fit. */
#define STORE_PATH_BYTES_MAX 4096u

struct store_stat {
    int64_t czxid;
    int64_t mzxid;
    int64_t ctime_ms;
    int64_t mtime_ms;
    int32_t version;
    int32_t cversion;
    int32_t aversion;
    /* The data is null, not empty (a client may create or set null data;
     * getData then returns a null buffer). Sits in the padding before
     * ephemeral_owner, so it costs no memory. */
    bool data_is_null;
    int64_t ephemeral_owner;
    int32_t data_length;
    int32_t num_children;
    int64_t pzxid;
};

struct jute_stat;
/* The Stat record a reply carries. */
void store_stat_to_jute(const struct store_stat *stat, struct jute_stat *out);

struct store_acl {
    int32_t perms;
    struct jute_bytes scheme;
    struct jute_bytes id;
};

/* An immutable, interned ACL list (ZooKeeper's ReferenceCountedACLCache).
 * `ref` is the cache index the snapshot format stores (-1 = OPEN_ACL_UNSAFE). */
struct store_acl_list {
    int64_t ref;
    int32_t count;
    struct store_acl entries[];
};

/* Who a request comes from, for ACL checks: every Id the session has
 * authenticated as (ZooKeeper adds ("ip", client address) at connect), plus
 * whether one of them is the super user. Immutable once handed over. */
struct store_auth_id {
    struct jute_bytes scheme;
    struct jute_bytes id;
};
struct store_auth {
    bool is_super;
    int32_t id_count;
    struct store_auth_id ids[];
};

struct store_tree;
struct store_node; /* opaque; valid for a reader until its next quiescent point */

struct store_config {
    bool extended_types_enabled; /* TTL nodes (zoo.cfg extendedTypesEnabled) */
    bool skip_acl;               /* zoo.cfg skipACL=yes */
    bool reconfig_enabled;       /* zoo.cfg reconfigEnabled (standalone: UNIMPLEMENTED) */
    uint32_t jute_maxbuffer_bytes;
    /* The text of /zookeeper/config (server.N lines and version=...); empty
     * for standalone, as ZooKeeper 3.8 standalone has it. */
    const char *config_node_text;
    /* Its Stat when the text is not empty (QuorumPeer.initConfigInZKDatabase):
     * mzxid = the configuration's version, mtime = when the server started,
     * version -1. */
    int64_t config_node_zxid;
    int64_t config_node_mtime_ms;
};

struct store_tree *store_tree_create(const struct store_config *config);
void store_tree_destroy(struct store_tree *tree);

/* ---- Readers (any thread registered as a reader) ---------------------- */

struct store_reader {
    _Atomic uint64_t observed_epoch; /* UINT64_MAX while offline */
};

/* Returns NULL if STORE_READERS_MAX readers are registered already. */
struct store_reader *store_reader_register(struct store_tree *tree);
void store_reader_quiescent(struct store_tree *tree, struct store_reader *reader);
void store_reader_offline(struct store_reader *reader);
void store_reader_online(struct store_tree *tree, struct store_reader *reader);

/* What a reader sees of one node. */
struct store_node_view {
    struct store_stat stat;
    struct jute_bytes data;
    const struct store_acl_list *acl;
    /* The zxid of the transaction that produced this version of the node
     * (its own change or a change to its children). Guarantee 4: a shard
     * must have delivered the watch events of every commit up to this zxid
     * before it answers from this view. */
    int64_t version_zxid;
    /* `stat` is what clients see (DataNode.copyStat: cversion counts child
     * creations and deletions, container and TTL owners show as 0). The
     * snapshot stores StatPersisted, whose cversion counts creations only
     * and whose ephemeralOwner is the raw encoding: */
    int32_t persisted_cversion;
    int64_t persisted_ephemeral_owner;
};

/* Looks up an absolute path (already validated). On success fills *view and
 * returns ZK_OK. When the node does not exist, returns ZK_NONODE and sets
 * *visible_zxid to the version_zxid of the deepest existing ancestor (its
 * child set changed when the node was deleted); on success *visible_zxid is
 * view->version_zxid. `node_out` may be NULL. */
int store_lookup(struct store_tree *tree, struct jute_bytes path,
                 struct store_node_view *view, int64_t *visible_zxid,
                 const struct store_node **node_out);

/* Calls `visit` for each child name of `node`. Children created or deleted
 * concurrently may or may not be visited; every other child is visited once.
 * Returns the number visited. */
typedef void (*store_child_visit_fn)(void *context, struct jute_bytes name);
size_t store_children_foreach(const struct store_node *node, store_child_visit_fn visit,
                              void *context);
/* The same, with each child's czxid: children are created in zxid order,
 * so czxid is the order in which ZooKeeper inserted them. */
typedef void (*store_child_czxid_visit_fn)(void *context, struct jute_bytes name, int64_t czxid);
size_t store_children_foreach_czxid(const struct store_node *node,
                                    store_child_czxid_visit_fn visit, void *context);
/* The most children `node` ever had at once. */
uint32_t store_children_max(const struct store_node *node);

/* getChildren's order. ZooKeeper 3.8 returns a DataNode's children in the
 * iteration order of its java.util.HashSet (created with capacity 8, never
 * shrunk): by bucket (String.hashCode spread, masked by the table size the
 * largest child count forced), then by insertion within a bucket. Clients
 * such as cli_mt print that order, so Cheetah reproduces it. */
struct store_child_entry {
    struct jute_bytes name;
    int64_t czxid;
};
void store_children_sort_java(struct store_child_entry *entries, size_t count,
                              uint32_t children_max);
/* java.lang.String.hashCode of a name, decoded from UTF-8 as Java does. */
int32_t store_java_string_hash(struct jute_bytes utf8);

/* The node's current view (re-read; may be newer than an earlier view). */
void store_node_view_get(const struct store_node *node, struct store_node_view *view);
/* Number of descendants of `node`, not counting itself (getAllChildrenNumber). */
int64_t store_descendant_count(const struct store_node *node);

/* ACL check for one permission, as ZooKeeper's ZooKeeperServer.checkACL:
 * skip_acl, super, an empty list, "world:anyone", and per-scheme matching
 * (digest and auth ids compare exactly; ip compares address/bits). */
int store_acl_check(const struct store_tree *tree, const struct store_acl_list *acl,
                    int32_t perm, const struct store_auth *auth);

/* ---- Writer (the consensus core only) ---------------------------------- */

/* A transaction ready for the log: TxnHeader followed by the record, exactly
 * the bytes ZooKeeper's FileTxnLog stores between the checksum and the 0x42
 * end marker (without the TxnDigest). */
struct store_txn {
    int64_t session_id;
    int32_t cxid;
    int64_t zxid;
    int64_t time_ms;
    int32_t type; /* zk_opcode of the txn, ZK_OP_ERROR for a failed request */
    struct jute_writer bytes; /* header + record; owned */
};
void store_txn_init(struct store_txn *txn, uint32_t jute_maxbuffer_bytes);
void store_txn_free(struct store_txn *txn);

/* The request as the client sent it (opcode and body after RequestHeader). */
/* The largest configuration text a reconfig may write to /zookeeper/config. */
#define STORE_CONFIG_TEXT_BYTES_MAX (128u * 1024u)

struct jute_reconfig_request;
/* Reconfig on the leader of an ensemble: checks the request against the
 * configuration last seen and writes the new one's text (NUL-terminated,
 * version = zxid) into `text_out`. Returns ZK_OK or the error to log. */
typedef int (*store_reconfig_fn)(void *context, const struct jute_reconfig_request *request,
                                 int64_t zxid, char *text_out, size_t text_bytes);

struct store_prepare_input {
    int64_t session_id;
    int32_t cxid;
    int32_t opcode;
    struct jute_bytes body;
    const struct store_auth *auth;
    int64_t zxid;    /* the zxid this transaction will get */
    int64_t now_ms;  /* wall clock, for ctime/mtime */
    /* NULL where reconfig cannot run (standalone, as ZooKeeper: UNIMPLEMENTED). */
    store_reconfig_fn reconfig;
    void *reconfig_context;
};

/* ZooKeeper's PrepRequestProcessor: validates the request against the tree
 * (paths, versions, ACLs, ephemeral parents, TTL and container rules, sizes)
 * and writes the transaction into txn_out: the real txn, or an ErrorTxn
 * carrying the error code, exactly as ZooKeeper logs failed requests; for
 * multi, a MultiTxn as ZooKeeper builds it. Returns ZK_OK when txn_out holds
 * a transaction to log and apply (including ErrorTxn), or
 * ZK_MARSHALLINGERROR when the body does not decode (the caller closes the
 * connection, as ZooKeeper does), or ZK_BADARGUMENTS etc. for requests that
 * ZooKeeper refuses before making a txn. */
int store_prepare(struct store_tree *tree, const struct store_prepare_input *input,
                  struct store_txn *txn_out);

/* Forgets the pending changes of prepared transactions not yet applied
 * (ZooKeeper's outstandingChanges): call when those transactions will never
 * be applied (leadership lost). store_apply drops the ones it applies. */
void store_prepare_reset(struct store_tree *tree);

/* An ErrorTxn for a request the server refuses but still logs, as ZooKeeper
 * does for a client's deleteContainer (BADARGUMENTS) or createSession after
 * the handshake (MARSHALLINGERROR). */
int store_prepare_error(struct store_txn *txn_out, int64_t session_id, int32_t cxid,
                        int64_t zxid, int64_t now_ms, int32_t err);

/* Transactions made by the server itself. */
int store_prepare_create_session(struct store_txn *txn_out, int64_t session_id,
                                 int32_t timeout_ms, int64_t zxid, int64_t now_ms);
/* closeSession: lists the session's ephemerals in CloseSessionTxn as 3.8 does. */
int store_prepare_close_session(struct store_tree *tree, struct store_txn *txn_out,
                                int64_t session_id, int32_t cxid, int64_t zxid,
                                int64_t now_ms);
/* deleteContainer for a container or expired TTL node (ContainerManager). */
int store_prepare_delete_container(struct store_tree *tree, struct store_txn *txn_out,
                                   struct jute_bytes path, int64_t zxid, int64_t now_ms);

/* One change a transaction made, for watch delivery. */
struct store_change {
    int32_t event_type; /* ZK_EVENT_NODE_CREATED / DELETED / DATA_CHANGED / CHILDREN_CHANGED */
    struct jute_bytes path; /* owned by the change list */
    /* Who may see the event (ZooKeeper 3.8.4's fix for CVE-2024-23944, in
     * Debian's 3.8.0 too): the ACL of the node that changed (as it was
     * before a delete), or of the parent for NodeChildrenChanged. NULL when
     * world:anyone may read it; otherwise a copy owned by the change list,
     * so a shard can check it long after the tree moved on. */
    struct store_acl_list *acl;
};

/* Growable, owned list of changes (one transaction can make many). */
struct store_change_list {
    struct store_change *changes;
    size_t count;
    size_t capacity;
    struct jute_writer path_bytes; /* backing store for the paths */
};
void store_change_list_init(struct store_change_list *list);
void store_change_list_clear(struct store_change_list *list);
void store_change_list_free(struct store_change_list *list);

/* The result of one (sub)transaction, for the reply. */
struct store_op_result {
    int32_t type;  /* opcode of the (sub)request, ZK_OP_ERROR for errors */
    int32_t err;
    struct jute_bytes path; /* created path (create/create2/container/ttl) */
    struct store_stat stat; /* create2/container/ttl/setData/setACL/check results */
    struct jute_bytes data; /* reconfig: the configuration text (into the txn's bytes) */
};

struct store_apply_result {
    int32_t err;     /* the error of the request (first failing op for multi) */
    int64_t zxid;
    struct store_op_result single;
    struct store_op_result *multi; /* for multi: one per op, `multi_count` of them */
    size_t multi_count;
    struct jute_writer path_bytes; /* backing store for result paths; owned */
};
void store_apply_result_init(struct store_apply_result *result);
void store_apply_result_free(struct store_apply_result *result);

/* ZooKeeper's DataTree.processTxn. Applies `txn_bytes` (header + record),
 * appends the watch-visible changes to `changes` in the order ZooKeeper
 * triggers them, and fills `result`. Idempotent replay of a fuzzy snapshot's
 * log tail (issue 3) relies on the same function. Returns ZK_OK or
 * ZK_MARSHALLINGERROR for bytes that do not decode. */
int store_apply(struct store_tree *tree, struct jute_bytes txn_bytes,
                struct store_change_list *changes, struct store_apply_result *result);

/* Frees what readers can no longer see; call after each batch of applies. */
void store_reclaim(struct store_tree *tree);

/* Containers with no children that have had children (cversion > 0), and
 * TTL nodes with no children unmodified for their TTL, as of now_ms; fills
 * up to `paths_max` paths into `out` (owned by the caller's list). */
size_t store_collect_expired_containers(struct store_tree *tree, int64_t now_ms,
                                        struct store_change_list *out, size_t paths_max);

/* Paths of the ephemerals owned by `session_id` whose path starts with
 * `prefix` (getEphemerals); appended to `out` as ZK_EVENT_NONE changes. */
size_t store_session_ephemerals(struct store_tree *tree, int64_t session_id,
                                struct jute_bytes prefix, struct store_change_list *out);

/* Counters for mntr and srvr. Written by the writer; read by any thread. */
struct store_counters {
    _Atomic int64_t node_count;
    _Atomic int64_t ephemeral_count;
    _Atomic int64_t approximate_data_bytes;
    _Atomic int64_t last_zxid;
};
const struct store_counters *store_tree_counters(const struct store_tree *tree);
/* Sets the last applied zxid outright (recovery, a snapshot loaded from a
 * leader): store_apply only moves it forward. Writer only. */
void store_tree_set_last_zxid(struct store_tree *tree, int64_t zxid);
/* QuorumPeer.initConfigInZKDatabase: /zookeeper/config takes `text` as
 * configuration `zxid` (version -1, mzxid zxid, mtime time_ms), unless it
 * already holds that configuration or a newer one (applied from its
 * reconfig transaction). Writer thread only. */
int store_tree_set_config_node(struct store_tree *tree, const char *text, int64_t zxid,
                               int64_t time_ms);

/* Path validation as ZooKeeper's PathUtils.validatePath (returns
 * ZK_BADARGUMENTS for an invalid path). `allow_sequential_suffix` lets the
 * path end in '/' for sequential creates, as ZooKeeper does. */
int store_path_validate(struct jute_bytes path, bool allow_sequential_suffix);

/* digest scheme: "user:password" -> "user:base64(sha1(user:password))". */
int store_digest_id(struct jute_bytes user_password, char *out, size_t out_bytes);

#endif
