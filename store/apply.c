/* ZooKeeper's DataTree.processTxn: applies a logged transaction to the tree
 * and reports the changes watches see, in DataTree's trigger order:
 *   create:  NodeCreated(path), NodeChildrenChanged(parent)
 *   delete:  NodeDeleted(path), NodeChildrenChanged(parent)
 *   setData: NodeDataChanged(path)          setACL, check, error: none
 *   closeSession: a delete's pair for each ephemeral removed.
 *
 * Replay (a fuzzy snapshot's log tail) is idempotent as in ZooKeeper: a
 * create that finds its node returns NODEEXISTS in the result and, for a
 * plain create, moves the parent's cversion/pzxid forward
 * (setCversionPzxid); a delete that finds no node still moves the parent's
 * pzxid forward. The multi reply's header err is 0 in ZooKeeper
 * (FinalRequestProcessor); result->err still carries the first failing op's
 * code, as processTxn's rc.err does.
 */
#include <stdlib.h>
#include <string.h>

#include "jute/records.h"
#include "store/store_internal.h"

/* Decoded vectors of one txn come from an arena sized from the txn. */
#define APPLY_ARENA_MIN_BYTES 4096u

struct apply {
    struct store_tree *tree;
    struct store_change_list *changes;
    struct store_apply_result *result;
    struct jute_txn_header header;
    struct jute_arena arena;
};

/* Copies a path into the result's backing store, fixing earlier pointers
 * when the store moves. */
static struct jute_bytes result_path(struct store_apply_result *result, struct jute_bytes path)
{
    struct jute_writer *writer = &result->path_bytes;
    size_t len = path.len > 0 ? (size_t)path.len : 0;
    uintptr_t old_base = (uintptr_t)writer->data;
    size_t offset = writer->size;
    jute_write_raw(writer, len ? path.ptr : (const uint8_t *)"", len);
    if (!writer->ok) {
        return jute_bytes_of(NULL, 0);
    }
    if ((uintptr_t)writer->data != old_base) {
        if (result->single.path.ptr) {
            result->single.path.ptr =
                writer->data + ((uintptr_t)result->single.path.ptr - old_base);
        }
        for (size_t i = 0; i < result->multi_count; i++) {
            if (result->multi[i].path.ptr) {
                result->multi[i].path.ptr =
                    writer->data + ((uintptr_t)result->multi[i].path.ptr - old_base);
            }
        }
    }
    return jute_bytes_of(writer->data + offset, (int32_t)len);
}

/* The ACL of the node at `path` now (NULL if there is none). The writer may
 * read the tree directly: nothing else changes it. */
static const struct store_acl_list *acl_at(struct apply *apply, const uint8_t *path, size_t len)
{
    struct store_node_view view;
    int64_t visible_zxid;
    if (store_lookup(apply->tree, jute_bytes_of(path, (int32_t)len), &view, &visible_zxid,
                     NULL) != ZK_OK) {
        return NULL;
    }
    return view.acl;
}

static void change(struct apply *apply, int32_t event_type, const uint8_t *path, size_t len,
                   const struct store_acl_list *acl)
{
    if (apply->changes) {
        store_change_list_add(apply->changes, event_type, path, len, acl);
    }
}

static void parent_of(const uint8_t *path, size_t len, const uint8_t **parent, size_t *parent_len)
{
    size_t at = len;
    while (at > 0 && path[at - 1] != '/') {
        at--;
    }
    size_t slash = at == 0 ? 0 : at - 1;
    if (slash == 0) {
        *parent = (const uint8_t *)"/"; /* the root's watch path */
        *parent_len = 1;
    } else {
        *parent = path;
        *parent_len = slash;
    }
}

static int create_node(struct apply *apply, struct jute_bytes path, struct jute_bytes data,
                       const struct jute_acl_vector *acl_vector, int64_t owner,
                       int32_t parent_cversion, struct store_stat *stat_out)
{
    if (path.len <= 0) {
        return ZK_NONODE;
    }
    struct store_acl_list *acl = store_acl_list_from_vector(acl_vector);
    int rc = store_tree_create_node(apply->tree, path.ptr, (size_t)path.len, data, acl, owner,
                                    parent_cversion, apply->header.zxid, apply->header.time,
                                    stat_out);
    free(acl);
    if (rc == ZK_OK) {
        const uint8_t *parent;
        size_t parent_len;
        parent_of(path.ptr, (size_t)path.len, &parent, &parent_len);
        change(apply, ZK_EVENT_NODE_CREATED, path.ptr, (size_t)path.len,
               acl_at(apply, path.ptr, (size_t)path.len));
        change(apply, ZK_EVENT_NODE_CHILDREN_CHANGED, parent, parent_len,
               acl_at(apply, parent, parent_len));
    }
    return rc;
}

static int delete_node(struct apply *apply, const uint8_t *path, size_t len)
{
    /* The ACL as it was before the delete; copied (if needed) before the
     * node's memory is retired. */
    struct store_acl_list *deleted_acl = NULL;
    const struct store_acl_list *acl = acl_at(apply, path, len);
    if (acl) {
        deleted_acl = store_acl_list_copy(acl);
    }
    int rc = store_tree_delete_node(apply->tree, path, len, apply->header.zxid);
    if (rc == ZK_OK) {
        const uint8_t *parent;
        size_t parent_len;
        parent_of(path, len, &parent, &parent_len);
        change(apply, ZK_EVENT_NODE_DELETED, path, len, deleted_acl);
        change(apply, ZK_EVENT_NODE_CHILDREN_CHANGED, parent, parent_len,
               acl_at(apply, parent, parent_len));
    }
    free(deleted_acl);
    return rc;
}

/* DataTree.killSession: the paths the txn lists, then any other ephemeral
 * the tree still has for the session. */
static void kill_session(struct apply *apply, int64_t session_id,
                         const struct jute_string_vector *listed)
{
    struct store_tree *tree = apply->tree;
    struct store_path_set *local = store_tree_take_ephemerals(tree, session_id);
    if (local) {
        atomic_fetch_sub_explicit(&tree->counters.ephemeral_count, (int64_t)local->count,
                                  memory_order_relaxed);
    }
    for (int32_t i = 0; listed && i < listed->count; i++) {
        struct jute_bytes path = listed->items[i];
        if (path.len <= 0) {
            continue;
        }
        delete_node(apply, path.ptr, (size_t)path.len);
        if (local) {
            store_path_set_remove(local, (const char *)path.ptr, (size_t)path.len);
        }
    }
    if (local) {
        for (uint32_t i = 0; i < local->capacity; i++) {
            if (store_path_set_slot_live(local, i)) {
                delete_node(apply, (const uint8_t *)local->slots[i], strlen(local->slots[i]));
            }
        }
        store_path_set_free(local);
        free(local);
    }
}

/* processTxn for one (sub)transaction; `op` receives type, err, path, stat. */
static int process(struct apply *apply, int32_t type, struct jute_reader *reader,
                   struct store_op_result *op, bool is_sub);

static int process_multi(struct apply *apply, struct jute_reader *reader,
                         struct store_op_result *op)
{
    struct jute_multi_txn multi;
    if (!jute_multi_txn_decode(reader, &apply->arena, &multi)) {
        return ZK_MARSHALLINGERROR;
    }
    int32_t count = multi.txns.count > 0 ? multi.txns.count : 0;
    bool failed = false;
    for (int32_t i = 0; i < count; i++) {
        switch (multi.txns.items[i].type) {
        case ZK_OP_CREATE:
        case ZK_OP_CREATE2:
        case ZK_OP_CREATE_TTL:
        case ZK_OP_CREATE_CONTAINER:
        case ZK_OP_DELETE:
        case ZK_OP_DELETE_CONTAINER:
        case ZK_OP_SET_DATA:
        case ZK_OP_CHECK:
            break;
        case ZK_OP_ERROR:
            failed = true;
            break;
        default:
            return ZK_MARSHALLINGERROR; /* "Invalid type of op", before any change */
        }
    }
    struct store_apply_result *result = apply->result;
    result->multi = calloc((size_t)(count ? count : 1), sizeof *result->multi);
    if (!result->multi) {
        abort();
    }
    result->multi_count = 0;
    bool post_failed = false;
    for (int32_t i = 0; i < count; i++) {
        const struct jute_txn *sub = &multi.txns.items[i];
        struct store_op_result *sub_result = &result->multi[i];
        result->multi_count = (size_t)i + 1;
        struct jute_reader sub_reader;
        jute_reader_init(&sub_reader, sub->data.ptr,
                         sub->data.len > 0 ? (size_t)sub->data.len : 0);
        if (sub->type == ZK_OP_ERROR) {
            post_failed = true;
        }
        int sub_rc;
        if (failed && sub->type != ZK_OP_ERROR) {
            /* Not applied: earlier ops report OK, later ones
             * RUNTIMEINCONSISTENCY. */
            sub_result->type = ZK_OP_ERROR;
            sub_result->err = post_failed ? ZK_RUNTIMEINCONSISTENCY : ZK_OK;
            sub_rc = ZK_OK;
        } else {
            sub_rc = process(apply, sub->type, &sub_reader, sub_result, true);
        }
        if (sub_rc == ZK_MARSHALLINGERROR) {
            return sub_rc;
        }
        if (sub_result->err != 0 && op->err == 0) {
            op->err = sub_result->err;
        }
    }
    return ZK_OK;
}

static int process(struct apply *apply, int32_t type, struct jute_reader *reader,
                   struct store_op_result *op, bool is_sub)
{
    struct store_tree *tree = apply->tree;
    struct store_apply_result *result = apply->result;
    op->type = type;
    op->err = ZK_OK;
    int rc = ZK_OK;
    switch (type) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2: {
        struct jute_create_txn txn;
        if (!jute_create_txn_decode(reader, &apply->arena, &txn)) {
            return ZK_MARSHALLINGERROR;
        }
        op->path = result_path(result, txn.path);
        int64_t owner = txn.ephemeral ? apply->header.client_id : 0;
        rc = create_node(apply, txn.path, txn.data, &txn.acl, owner, txn.parent_c_version,
                         &op->stat);
        if (type == ZK_OP_CREATE && rc == ZK_NODEEXISTS && txn.path.len > 0) {
            /* Replay: the node was re-created after the snapshot saw its
             * parent; bring the parent's cversion and pzxid forward. */
            const uint8_t *parent;
            size_t parent_len;
            parent_of(txn.path.ptr, (size_t)txn.path.len, &parent, &parent_len);
            int adjust = store_tree_set_cversion_pzxid(tree, parent, parent_len,
                                                       txn.parent_c_version,
                                                       apply->header.zxid);
            if (adjust != ZK_OK) {
                rc = adjust;
            }
        }
        break;
    }
    case ZK_OP_CREATE_TTL: {
        struct jute_create_ttl_txn txn;
        if (!jute_create_ttl_txn_decode(reader, &apply->arena, &txn)) {
            return ZK_MARSHALLINGERROR;
        }
        op->path = result_path(result, txn.path);
        if (txn.ttl <= 0 || txn.ttl > ZK_TTL_MAX_MS) {
            rc = ZK_BADARGUMENTS; /* ZooKeeper would throw here; never logged by us */
        } else {
            rc = create_node(apply, txn.path, txn.data, &txn.acl,
                             ZK_EPHEMERAL_OWNER_TTL_MASK | txn.ttl, txn.parent_c_version,
                             &op->stat);
        }
        break;
    }
    case ZK_OP_CREATE_CONTAINER: {
        struct jute_create_container_txn txn;
        if (!jute_create_container_txn_decode(reader, &apply->arena, &txn)) {
            return ZK_MARSHALLINGERROR;
        }
        op->path = result_path(result, txn.path);
        rc = create_node(apply, txn.path, txn.data, &txn.acl, ZK_EPHEMERAL_OWNER_CONTAINER,
                         txn.parent_c_version, &op->stat);
        break;
    }
    case ZK_OP_DELETE:
    case ZK_OP_DELETE_CONTAINER: {
        struct jute_delete_txn txn;
        if (!jute_delete_txn_decode(reader, &apply->arena, &txn)) {
            return ZK_MARSHALLINGERROR;
        }
        op->path = result_path(result, txn.path);
        rc = txn.path.len > 0 ? delete_node(apply, txn.path.ptr, (size_t)txn.path.len)
                              : ZK_NONODE;
        break;
    }
    case ZK_OP_RECONFIG:
    case ZK_OP_SET_DATA: {
        struct jute_set_data_txn txn;
        if (!jute_set_data_txn_decode(reader, &apply->arena, &txn)) {
            return ZK_MARSHALLINGERROR;
        }
        op->path = result_path(result, txn.path);
        rc = txn.path.len >= 0
                 ? store_tree_set_data(tree, txn.path.ptr, (size_t)txn.path.len, txn.data,
                                       txn.version, apply->header.zxid, apply->header.time,
                                       &op->stat)
                 : ZK_NONODE;
        if (rc == ZK_OK) {
            change(apply, ZK_EVENT_NODE_DATA_CHANGED, txn.path.ptr, (size_t)txn.path.len,
                   acl_at(apply, txn.path.ptr, (size_t)txn.path.len));
            op->data = txn.data;
        }
        break;
    }
    case ZK_OP_SET_ACL: {
        struct jute_set_acl_txn txn;
        if (!jute_set_acl_txn_decode(reader, &apply->arena, &txn)) {
            return ZK_MARSHALLINGERROR;
        }
        op->path = result_path(result, txn.path);
        if (txn.path.len < 0) {
            rc = ZK_NONODE;
        } else {
            struct store_acl_list *acl = store_acl_list_from_vector(&txn.acl);
            rc = store_tree_set_acl(tree, txn.path.ptr, (size_t)txn.path.len, acl, txn.version,
                                    apply->header.zxid, &op->stat);
            free(acl);
        }
        break;
    }
    case ZK_OP_CLOSE_SESSION: {
        if (jute_reader_remaining(reader) == 0) {
            kill_session(apply, apply->header.client_id, NULL); /* no CloseSessionTxn */
            break;
        }
        struct jute_close_session_txn txn;
        if (!jute_close_session_txn_decode(reader, &apply->arena, &txn)) {
            return ZK_MARSHALLINGERROR;
        }
        kill_session(apply, apply->header.client_id, &txn.paths2_delete);
        break;
    }
    case ZK_OP_CREATE_SESSION:
        /* Sessions live in the session tracker, not in the tree. */
        break;
    case ZK_OP_ERROR: {
        struct jute_error_txn txn;
        if (!jute_error_txn_decode(reader, &apply->arena, &txn)) {
            return ZK_MARSHALLINGERROR;
        }
        rc = txn.err;
        break;
    }
    case ZK_OP_CHECK: {
        struct jute_check_version_txn txn;
        if (!jute_check_version_txn_decode(reader, &apply->arena, &txn)) {
            return ZK_MARSHALLINGERROR;
        }
        op->path = result_path(result, txn.path);
        struct store_node *node =
            txn.path.len >= 0 ? store_find(tree, txn.path.ptr, (size_t)txn.path.len, NULL)
                              : NULL;
        if (node) {
            store_client_stat(store_node_version(node), &op->stat);
        }
        break;
    }
    case ZK_OP_MULTI:
        if (is_sub) {
            return ZK_MARSHALLINGERROR;
        }
        return process_multi(apply, reader, op);
    default:
        /* Unknown txn types are ignored by processTxn's switch. */
        break;
    }
    if (!reader->ok) {
        return ZK_MARSHALLINGERROR;
    }
    op->err = rc;
    return ZK_OK;
}

int store_apply(struct store_tree *tree, struct jute_bytes txn_bytes,
                struct store_change_list *changes, struct store_apply_result *result)
{
    struct apply apply = {.tree = tree, .changes = changes, .result = result};
    struct jute_reader reader;
    jute_reader_init(&reader, txn_bytes.ptr, txn_bytes.len > 0 ? (size_t)txn_bytes.len : 0);
    if (!jute_txn_header_decode(&reader, NULL, &apply.header)) {
        return ZK_MARSHALLINGERROR;
    }
    /* Every decoded vector element takes at most 8x its wire size. */
    size_t arena_bytes = jute_reader_remaining(&reader) * 8 + APPLY_ARENA_MIN_BYTES;
    uint8_t *arena_memory = malloc(arena_bytes);
    if (!arena_memory) {
        abort();
    }
    jute_arena_init(&apply.arena, arena_memory, arena_bytes);
    free(result->multi);
    result->multi = NULL;
    result->multi_count = 0;
    jute_writer_reset(&result->path_bytes);
    memset(&result->single, 0, sizeof result->single);
    result->zxid = apply.header.zxid;
    size_t changes_before = changes ? changes->count : 0;
    int rc = process(&apply, apply.header.type, &reader, &result->single, false);
    free(arena_memory);
    if (rc != ZK_OK) {
        if (changes) {
            changes->count = changes_before;
        }
        return rc;
    }
    result->err = result->single.err;
    int64_t last = atomic_load_explicit(&tree->counters.last_zxid, memory_order_relaxed);
    if (apply.header.zxid > last) {
        atomic_store_explicit(&tree->counters.last_zxid, apply.header.zxid,
                              memory_order_release);
    }
    store_pending_applied(tree, apply.header.zxid);
    return ZK_OK;
}
