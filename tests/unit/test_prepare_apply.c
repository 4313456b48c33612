/* store_prepare (PrepRequestProcessor) and store_apply (DataTree.processTxn):
 * each write op's success and error paths, error ordering, multi, pending
 * changes between prepare and apply, closeSession, containers and TTLs,
 * ACLs and the digest scheme. Expected values come from ZooKeeper 3.8.0
 * runs where noted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jute/records.h"
#include "store/store.h"

#define SESSION 0x100000001ll
#define OTHER_SESSION 0x200000002ll

static struct jute_bytes text(const char *value)
{
    return jute_bytes_cstr(value);
}

struct fixture {
    struct store_tree *tree;
    int64_t zxid;
    int64_t now_ms;
    struct store_txn txn;
    struct store_apply_result result;
    struct store_change_list changes;
    struct jute_writer body;
};

static struct fixture *fixture_new(bool extended, bool skip_acl)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    struct store_config config = {
        .extended_types_enabled = extended,
        .skip_acl = skip_acl,
        .jute_maxbuffer_bytes = JUTE_MAXBUFFER_DEFAULT_BYTES,
        .config_node_text = "",
    };
    fx->tree = store_tree_create(&config);
    fx->zxid = 1;
    fx->now_ms = 1000;
    store_txn_init(&fx->txn, JUTE_MAXBUFFER_DEFAULT_BYTES);
    store_apply_result_init(&fx->result);
    store_change_list_init(&fx->changes);
    jute_writer_init(&fx->body, 4u << 20);
    return fx;
}

static int setup_plain(void **state)
{
    *state = fixture_new(false, false);
    return 0;
}

static int setup_extended(void **state)
{
    *state = fixture_new(true, false);
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    store_txn_free(&fx->txn);
    store_apply_result_free(&fx->result);
    store_change_list_free(&fx->changes);
    jute_writer_free(&fx->body);
    store_tree_destroy(fx->tree);
    free(fx);
    return 0;
}

/* ---- request bodies ---------------------------------------------------- */

static const struct jute_acl open_acl_items[] = {
    {ZK_PERM_ALL, {{(const uint8_t *)"world", 5}, {(const uint8_t *)"anyone", 6}}}};
static const struct jute_acl_vector open_acl = {1, (struct jute_acl *)open_acl_items};

static struct jute_writer *body_create(struct fixture *fx, const char *path, const char *data,
                                       const struct jute_acl_vector *acl, int32_t flags)
{
    jute_writer_reset(&fx->body);
    struct jute_create_request request = {text(path), text(data), *acl, flags};
    jute_create_request_encode(&fx->body, &request);
    return &fx->body;
}

static struct jute_writer *body_create_ttl(struct fixture *fx, const char *path, int32_t flags,
                                           int64_t ttl)
{
    jute_writer_reset(&fx->body);
    struct jute_create_ttl_request request = {text(path), text(""), open_acl, flags, ttl};
    jute_create_ttl_request_encode(&fx->body, &request);
    return &fx->body;
}

static struct jute_writer *body_delete(struct fixture *fx, const char *path, int32_t version)
{
    jute_writer_reset(&fx->body);
    struct jute_delete_request request = {text(path), version};
    jute_delete_request_encode(&fx->body, &request);
    return &fx->body;
}

static struct jute_writer *body_set_data(struct fixture *fx, const char *path, const char *data,
                                         int32_t version)
{
    jute_writer_reset(&fx->body);
    struct jute_set_data_request request = {text(path), text(data), version};
    jute_set_data_request_encode(&fx->body, &request);
    return &fx->body;
}

static struct jute_writer *body_set_acl(struct fixture *fx, const char *path,
                                        const struct jute_acl_vector *acl, int32_t version)
{
    jute_writer_reset(&fx->body);
    struct jute_set_acl_request request = {text(path), *acl, version};
    jute_set_acl_request_encode(&fx->body, &request);
    return &fx->body;
}

static struct jute_writer *body_check(struct fixture *fx, const char *path, int32_t version)
{
    jute_writer_reset(&fx->body);
    struct jute_check_version_request request = {text(path), version};
    jute_check_version_request_encode(&fx->body, &request);
    return &fx->body;
}

static struct jute_writer *body_multi(struct fixture *fx, struct jute_multi_op *ops, int32_t count)
{
    jute_writer_reset(&fx->body);
    struct jute_multi_request request = {count, ops};
    jute_multi_request_encode(&fx->body, &request);
    return &fx->body;
}

static struct store_auth *auth_new(const char *scheme, const char *id)
{
    struct store_auth *auth = calloc(1, sizeof *auth + 2 * sizeof auth->ids[0]);
    auth->ids[0] = (struct store_auth_id){text("ip"), text("127.0.0.1")};
    auth->id_count = 1;
    if (scheme) {
        auth->ids[1] = (struct store_auth_id){text(scheme), text(id)};
        auth->id_count = 2;
    }
    return auth;
}

/* ---- prepare + apply --------------------------------------------------- */

static int prepare(struct fixture *fx, int64_t session, int32_t opcode, struct jute_writer *body,
                   const struct store_auth *auth)
{
    struct store_prepare_input input = {
        .session_id = session,
        .cxid = 9,
        .opcode = opcode,
        .body = jute_bytes_of(body ? body->data : NULL, body ? (int32_t)body->size : 0),
        .auth = auth,
        .zxid = fx->zxid + 1,
        .now_ms = fx->now_ms,
    };
    int rc = store_prepare(fx->tree, &input, &fx->txn);
    if (rc == ZK_OK) {
        fx->zxid++;
        assert_int_equal(fx->txn.zxid, fx->zxid);
    }
    return rc;
}

static void apply_txn(struct fixture *fx, const struct store_txn *txn)
{
    store_change_list_clear(&fx->changes);
    assert_int_equal(store_apply(fx->tree,
                                 jute_bytes_of(txn->bytes.data, (int32_t)txn->bytes.size),
                                 &fx->changes, &fx->result),
                     ZK_OK);
}

/* Prepares and applies; returns the request's error (result.err). */
static int write_op(struct fixture *fx, int64_t session, int32_t opcode,
                    struct jute_writer *body, const struct store_auth *auth)
{
    assert_int_equal(prepare(fx, session, opcode, body, auth), ZK_OK);
    apply_txn(fx, &fx->txn);
    assert_int_equal(fx->result.zxid, fx->zxid);
    return fx->result.err;
}

static int create(struct fixture *fx, const char *path, int32_t flags)
{
    return write_op(fx, SESSION, ZK_OP_CREATE, body_create(fx, path, "", &open_acl, flags), NULL);
}

static void txn_header_of(const struct store_txn *txn, struct jute_txn_header *header,
                          struct jute_reader *reader)
{
    jute_reader_init(reader, txn->bytes.data, txn->bytes.size);
    assert_true(jute_txn_header_decode(reader, NULL, header));
}

static int32_t error_txn_code(const struct store_txn *txn)
{
    struct jute_txn_header header;
    struct jute_reader reader;
    txn_header_of(txn, &header, &reader);
    assert_int_equal(header.type, ZK_OP_ERROR);
    struct jute_error_txn error;
    assert_true(jute_error_txn_decode(&reader, NULL, &error));
    return error.err;
}

static struct store_node_view view_of(struct fixture *fx, const char *path)
{
    struct store_node_view view;
    int64_t visible;
    assert_int_equal(store_lookup(fx->tree, text(path), &view, &visible, NULL), ZK_OK);
    return view;
}

static bool exists(struct fixture *fx, const char *path)
{
    struct store_node_view view;
    int64_t visible;
    return store_lookup(fx->tree, text(path), &view, &visible, NULL) == ZK_OK;
}

/* ---- create ------------------------------------------------------------ */

static void test_create_txn_bytes_and_result(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(prepare(fx, SESSION, ZK_OP_CREATE2,
                             body_create(fx, "/a", "data", &open_acl, ZK_CREATE_PERSISTENT), NULL),
                     ZK_OK);
    /* The txn is ZooKeeper's TxnHeader + CreateTxn. */
    struct jute_txn_header header;
    struct jute_reader reader;
    txn_header_of(&fx->txn, &header, &reader);
    assert_true(header.client_id == SESSION);
    assert_int_equal(header.cxid, 9);
    assert_int_equal(header.zxid, 2);
    assert_int_equal(header.time, 1000);
    assert_int_equal(header.type, ZK_OP_CREATE2);
    uint8_t arena_memory[1024];
    struct jute_arena arena;
    jute_arena_init(&arena, arena_memory, sizeof arena_memory);
    struct jute_create_txn txn;
    assert_true(jute_create_txn_decode(&reader, &arena, &txn));
    assert_true(jute_bytes_equal(txn.path, text("/a")));
    assert_true(jute_bytes_equal(txn.data, text("data")));
    assert_int_equal(txn.acl.count, 1);
    assert_int_equal(txn.acl.items[0].perms, ZK_PERM_ALL);
    assert_false(txn.ephemeral);
    assert_int_equal(txn.parent_c_version, 1);
    assert_int_equal(jute_reader_remaining(&reader), 0);
    /* The header's first bytes, big-endian: sessionId then cxid. */
    const uint8_t expected[] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9};
    assert_memory_equal(fx->txn.bytes.data, expected, sizeof expected);

    apply_txn(fx, &fx->txn);
    assert_int_equal(fx->result.err, ZK_OK);
    assert_int_equal(fx->result.single.type, ZK_OP_CREATE2);
    assert_true(jute_bytes_equal(fx->result.single.path, text("/a")));
    assert_int_equal(fx->result.single.stat.czxid, 2);
    assert_int_equal(fx->result.single.stat.ctime_ms, 1000);
    assert_int_equal(fx->result.single.stat.data_length, 4);
    assert_int_equal(atomic_load(&store_tree_counters(fx->tree)->last_zxid), 2);
}

static void test_create_errors(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(create(fx, "/a", 0), ZK_OK);
    assert_int_equal(create(fx, "/a", 0), ZK_NODEEXISTS);
    /* a failed write is an ErrorTxn and still takes a zxid */
    assert_int_equal(error_txn_code(&fx->txn), ZK_NODEEXISTS);
    assert_int_equal(fx->txn.zxid, 3);
    assert_int_equal(fx->changes.count, 0);
    assert_int_equal(create(fx, "/missing/child", 0), ZK_NONODE);
    assert_int_equal(create(fx, "/a/", 0), ZK_BADARGUMENTS);
    assert_int_equal(create(fx, "a", 0), ZK_BADARGUMENTS);
    assert_int_equal(create(fx, "/a//b", 0), ZK_NONODE); /* parent "/a/" is looked up first */
    assert_int_equal(create(fx, "/a/./b", 0), ZK_NONODE);
    assert_int_equal(create(fx, "/a/.", 0), ZK_BADARGUMENTS);
    assert_int_equal(create(fx, "/", 0), ZK_NODEEXISTS);
    assert_int_equal(create(fx, "/b", 9), ZK_BADARGUMENTS); /* unknown flags */
    struct jute_acl_vector empty = {0, NULL};
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CREATE, body_create(fx, "/c", "", &empty, 0), NULL),
                     ZK_INVALIDACL);
    /* a body that does not decode: ErrorTxn(MARSHALLINGERROR), as 3.8.0 logs */
    jute_writer_reset(&fx->body);
    jute_write_int(&fx->body, 77);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CREATE, &fx->body, NULL), ZK_MARSHALLINGERROR);
    assert_int_equal(error_txn_code(&fx->txn), ZK_MARSHALLINGERROR);
}

static void test_sequential_suffix_uses_create_count(void **state)
{
    struct fixture *fx = *state;
    /* ZooKeeper 3.8.0: create /a, /a/b, delete /a/b, create /a/b, then a
     * sequential /a/s gets /a/s0000000002 (cversion counts creations). */
    create(fx, "/a", 0);
    create(fx, "/a/b", 0);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_DELETE, body_delete(fx, "/a/b", -1), NULL),
                     ZK_OK);
    create(fx, "/a/b", 0);
    assert_int_equal(create(fx, "/a/s", ZK_CREATE_PERSISTENT_SEQUENTIAL), ZK_OK);
    assert_true(jute_bytes_equal(fx->result.single.path, text("/a/s0000000002")));
    assert_true(exists(fx, "/a/s0000000002"));
    /* a sequential create may end in '/' */
    assert_int_equal(create(fx, "/a/", ZK_CREATE_PERSISTENT_SEQUENTIAL), ZK_OK);
    assert_true(jute_bytes_equal(fx->result.single.path, text("/a/0000000003")));
    assert_int_equal(view_of(fx, "/a").stat.cversion, 2 * 4 - 3);
}

static void test_ephemerals(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(create(fx, "/e", ZK_CREATE_EPHEMERAL), ZK_OK);
    assert_true(view_of(fx, "/e").stat.ephemeral_owner == SESSION);
    assert_int_equal(create(fx, "/e/c", 0), ZK_NOCHILDRENFOREPHEMERALS);
    /* NODEEXISTS is checked before the ephemeral parent */
    assert_int_equal(create(fx, "/e", 0), ZK_NODEEXISTS);
}

static void test_ttl_disabled(void **state)
{
    struct fixture *fx = *state;
    /* 3.8.0 with extendedTypesEnabled=false: createTTL mode 5 -> -6; mode 0
     * with a ttl -> -8; mode 5 ttl 0 -> -6; create with flags 5 -> -6. */
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CREATE_TTL, body_create_ttl(fx, "/t", 5, 1000), NULL),
                     ZK_UNIMPLEMENTED);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CREATE_TTL, body_create_ttl(fx, "/t", 0, 1000), NULL),
                     ZK_BADARGUMENTS);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CREATE_TTL, body_create_ttl(fx, "/t", 5, 0), NULL),
                     ZK_UNIMPLEMENTED);
    assert_int_equal(create(fx, "/t", ZK_CREATE_PERSISTENT_WITH_TTL), ZK_UNIMPLEMENTED);
    assert_false(exists(fx, "/t"));
}

static void test_ttl_enabled_and_expiry(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CREATE_TTL, body_create_ttl(fx, "/t", 5, 1000), NULL),
                     ZK_OK);
    struct store_node_view view = view_of(fx, "/t");
    assert_int_equal(view.stat.ephemeral_owner, 0); /* clients see 0 */
    assert_true(view.persisted_ephemeral_owner == (int64_t)(0xFF00000000000000ull | 1000));
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CREATE_TTL, body_create_ttl(fx, "/t2", 5, 0), NULL),
                     ZK_BADARGUMENTS);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CREATE_TTL,
                              body_create_ttl(fx, "/t2", 6, ZK_TTL_MAX_MS + 1), NULL),
                     ZK_BADARGUMENTS);
    /* TTL via a plain create has no ttl: BADARGUMENTS when enabled */
    assert_int_equal(create(fx, "/t3", ZK_CREATE_PERSISTENT_WITH_TTL), ZK_BADARGUMENTS);
    struct store_change_list out;
    store_change_list_init(&out);
    assert_int_equal(store_collect_expired_containers(fx->tree, 1000 + 1000, &out, 10), 0);
    assert_int_equal(store_collect_expired_containers(fx->tree, 1000 + 1001, &out, 10), 1);
    assert_true(jute_bytes_equal(out.changes[0].path, text("/t")));
    /* delete it as ContainerManager does */
    assert_int_equal(store_prepare_delete_container(fx->tree, &fx->txn, text("/t"), ++fx->zxid,
                                                    5000),
                     ZK_OK);
    apply_txn(fx, &fx->txn);
    assert_int_equal(fx->result.err, ZK_OK);
    assert_false(exists(fx, "/t"));
    store_change_list_free(&out);
}

static void test_containers(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CREATE_CONTAINER,
                              body_create(fx, "/c", "", &open_acl, ZK_CREATE_CONTAINER), NULL),
                     ZK_OK);
    assert_int_equal(fx->result.single.type, ZK_OP_CREATE_CONTAINER);
    assert_int_equal(fx->result.single.stat.ephemeral_owner, 0);
    struct store_change_list out;
    store_change_list_init(&out);
    /* never used: not a candidate (maxNeverUsedIntervalMs = 0 in 3.8) */
    assert_int_equal(store_collect_expired_containers(fx->tree, 1 << 30, &out, 10), 0);
    assert_int_equal(create(fx, "/c/x", 0), ZK_OK);
    assert_int_equal(store_collect_expired_containers(fx->tree, 1 << 30, &out, 10), 0);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_DELETE, body_delete(fx, "/c/x", -1), NULL), ZK_OK);
    /* 3.8.0: after a child came and went, cversion 2, pzxid of the delete */
    assert_int_equal(view_of(fx, "/c").stat.cversion, 2);
    assert_int_equal(store_collect_expired_containers(fx->tree, 0, &out, 10), 1);
    assert_true(jute_bytes_equal(out.changes[0].path, text("/c")));
    /* deleteContainer refuses a session ephemeral (BADVERSION) */
    create(fx, "/eph", ZK_CREATE_EPHEMERAL);
    assert_int_equal(store_prepare_delete_container(fx->tree, &fx->txn, text("/eph"), ++fx->zxid, 1),
                     ZK_OK);
    assert_int_equal(error_txn_code(&fx->txn), ZK_BADVERSION);
    apply_txn(fx, &fx->txn);
    store_change_list_free(&out);
}

/* ---- delete, setData, setACL, check --------------------------------------- */

static void test_delete_errors_in_order(void **state)
{
    struct fixture *fx = *state;
    create(fx, "/d", 0);
    create(fx, "/d/c", 0);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_DELETE, body_delete(fx, "/d", -1), NULL),
                     ZK_NOTEMPTY);
    /* BADVERSION wins over NOTEMPTY */
    assert_int_equal(write_op(fx, SESSION, ZK_OP_DELETE, body_delete(fx, "/d", 5), NULL),
                     ZK_BADVERSION);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_DELETE, body_delete(fx, "/nope", -1), NULL),
                     ZK_NONODE);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_DELETE, body_delete(fx, "/zookeeper", -1), NULL),
                     ZK_BADARGUMENTS);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_DELETE, body_delete(fx, "nope", -1), NULL),
                     ZK_BADARGUMENTS);
    /* 3.8.0: delete "/" -> -8, "/zookeeper/config" -> -8, "/d/" -> -101 (no
     * path validation: the parent "/d" is found, the node "/d/" is not) */
    assert_int_equal(write_op(fx, SESSION, ZK_OP_DELETE, body_delete(fx, "/", -1), NULL),
                     ZK_BADARGUMENTS);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_DELETE,
                              body_delete(fx, "/zookeeper/config", -1), NULL),
                     ZK_BADARGUMENTS);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_DELETE, body_delete(fx, "/d/", -1), NULL),
                     ZK_NONODE);
    /* the parent's DELETE permission is checked before the node exists */
    struct jute_acl no_delete_items[] = {
        {ZK_PERM_ALL & ~ZK_PERM_DELETE, {text("world"), text("anyone")}}};
    struct jute_acl_vector no_delete = {1, no_delete_items};
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CREATE, body_create(fx, "/nd", "", &no_delete, 0),
                              NULL),
                     ZK_OK);
    create(fx, "/nd/c", 0);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_DELETE, body_delete(fx, "/nd/missing", -1), NULL),
                     ZK_NOAUTH);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_DELETE, body_delete(fx, "/nd/c", -1), NULL),
                     ZK_NOAUTH);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_DELETE, body_delete(fx, "/d/c", 0), NULL), ZK_OK);
    assert_int_equal(fx->changes.count, 2);
    assert_int_equal(fx->changes.changes[0].event_type, ZK_EVENT_NODE_DELETED);
    assert_int_equal(fx->changes.changes[1].event_type, ZK_EVENT_NODE_CHILDREN_CHANGED);
    assert_true(jute_bytes_equal(fx->changes.changes[1].path, text("/d")));
}

static void test_set_data(void **state)
{
    struct fixture *fx = *state;
    create(fx, "/s", 0);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_DATA, body_set_data(fx, "/s", "v1", 0), NULL),
                     ZK_OK);
    assert_int_equal(fx->result.single.stat.version, 1);
    assert_int_equal(fx->changes.count, 1);
    assert_int_equal(fx->changes.changes[0].event_type, ZK_EVENT_NODE_DATA_CHANGED);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_DATA, body_set_data(fx, "/s", "v2", 0), NULL),
                     ZK_BADVERSION);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_DATA, body_set_data(fx, "/s", "v2", -1), NULL),
                     ZK_OK);
    assert_int_equal(view_of(fx, "/s").stat.version, 2);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_DATA, body_set_data(fx, "/x", "", -1), NULL),
                     ZK_NONODE);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_DATA, body_set_data(fx, "/s/", "", -1), NULL),
                     ZK_BADARGUMENTS);
    /* /zookeeper/config is read-only for world */
    assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_DATA,
                              body_set_data(fx, "/zookeeper/config", "x", -1), NULL),
                     ZK_NOAUTH);
    /* a txn ZooKeeper could not read back is refused with no txn */
    char *big = malloc(JUTE_MAXBUFFER_DEFAULT_BYTES + 2048);
    memset(big, 'b', JUTE_MAXBUFFER_DEFAULT_BYTES + 2047);
    big[JUTE_MAXBUFFER_DEFAULT_BYTES + 2047] = '\0';
    int64_t zxid_before = fx->zxid;
    assert_int_equal(prepare(fx, SESSION, ZK_OP_SET_DATA, body_set_data(fx, "/s", big, -1), NULL),
                     ZK_MARSHALLINGERROR);
    assert_int_equal(fx->zxid, zxid_before);
    /* and leaves nothing pending: the next setData still sees version 2 */
    assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_DATA, body_set_data(fx, "/s", "ok", 2), NULL),
                     ZK_OK);
    /* a znode just under the limit is fine (3.8.0 takes 1048575-30 bytes) */
    big[JUTE_MAXBUFFER_DEFAULT_BYTES - 30] = '\0';
    assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_DATA, body_set_data(fx, "/s", big, -1), NULL),
                     ZK_OK);
    free(big);
}

static void test_set_acl_and_acl_checks(void **state)
{
    struct fixture *fx = *state;
    char digest[128];
    assert_int_equal(store_digest_id(text("u:p"), digest, sizeof digest), ZK_OK);
    struct store_auth *user = auth_new("digest", digest);
    struct store_auth *nobody = auth_new(NULL, NULL);
    /* "auth" expands to the session's digest ids (not ip); without any
     * it is INVALIDACL */
    struct jute_acl auth_items[] = {{ZK_PERM_ALL, {text("auth"), text("")}}};
    struct jute_acl_vector auth_acl = {1, auth_items};
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CREATE, body_create(fx, "/p", "", &auth_acl, 0),
                              nobody),
                     ZK_INVALIDACL);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CREATE, body_create(fx, "/p", "", &auth_acl, 0),
                              user),
                     ZK_OK);
    struct store_node_view view = view_of(fx, "/p");
    assert_int_equal(view.acl->count, 1);
    assert_true(jute_bytes_equal(view.acl->entries[0].scheme, text("digest")));
    assert_true(jute_bytes_equal(view.acl->entries[0].id, text("u:Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ=")));
    assert_true(view.acl->ref == 2); /* 1 is /zookeeper/config's READ_ACL_UNSAFE */
    /* others cannot write or read it */
    assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_DATA, body_set_data(fx, "/p", "x", -1), nobody),
                     ZK_NOAUTH);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CHECK, body_check(fx, "/p", -1), nobody),
                     ZK_NOAUTH);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_DATA, body_set_data(fx, "/p", "x", -1), user),
                     ZK_OK);
    /* the super user passes every check */
    struct store_auth *super = auth_new("super", "");
    assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_DATA, body_set_data(fx, "/p", "y", -1), super),
                     ZK_OK);
    /* setACL: validation first, then NONODE, NOAUTH (ADMIN), BADVERSION */
    struct jute_acl bad_items[][1] = {
        {{ZK_PERM_ALL, {text("world"), text("foo")}}},
        {{ZK_PERM_ALL, {text("digest"), text("nocolon")}}},
        {{ZK_PERM_ALL, {text("ip"), text("10.0.0.300")}}},
        {{ZK_PERM_ALL, {text("ip"), text("10.0.0.0/33")}}},
        {{ZK_PERM_ALL, {text("foo"), text("bar")}}},
    };
    for (size_t i = 0; i < sizeof bad_items / sizeof bad_items[0]; i++) {
        struct jute_acl_vector bad = {1, bad_items[i]};
        assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_ACL, body_set_acl(fx, "/missing", &bad, -1),
                                  user),
                         ZK_INVALIDACL);
    }
    assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_ACL, body_set_acl(fx, "/missing", &open_acl, -1),
                              user),
                     ZK_NONODE);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_ACL, body_set_acl(fx, "/p", &open_acl, -1),
                              nobody),
                     ZK_NOAUTH);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_ACL, body_set_acl(fx, "/p", &open_acl, 3), user),
                     ZK_BADVERSION);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_ACL, body_set_acl(fx, "/p", &open_acl, 0), user),
                     ZK_OK);
    assert_int_equal(fx->result.single.stat.aversion, 1);
    assert_int_equal(fx->changes.count, 0); /* setACL triggers no watch */
    view = view_of(fx, "/p");
    assert_true(view.acl->ref == 3); /* a client's OPEN_ACL_UNSAFE is interned, not -1 */
    /* DataTree.setACL releases before it interns: the sole user of a list
     * setting the same list again gets a fresh ref */
    assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_ACL, body_set_acl(fx, "/p", &open_acl, 1), user),
                     ZK_OK);
    assert_true(view_of(fx, "/p").acl->ref == 4);
    /* ip ACLs match address/bits */
    struct jute_acl ip_items[] = {{ZK_PERM_ALL, {text("ip"), text("127.0.0.0/8")}}};
    struct jute_acl_vector ip_acl = {1, ip_items};
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CREATE, body_create(fx, "/ip", "", &ip_acl, 0),
                              nobody),
                     ZK_OK);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_DATA, body_set_data(fx, "/ip", "x", -1), nobody),
                     ZK_OK);
    struct store_auth *remote = calloc(1, sizeof *remote + sizeof remote->ids[0]);
    remote->id_count = 1;
    remote->ids[0] = (struct store_auth_id){text("ip"), text("10.1.2.3")};
    assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_DATA, body_set_data(fx, "/ip", "x", -1), remote),
                     ZK_NOAUTH);
    free(remote);
    free(user);
    free(nobody);
    free(super);
}

static void test_acl_check_rules(void **state)
{
    (void)state;
    struct store_config skip = {.skip_acl = true, .jute_maxbuffer_bytes = 1 << 20};
    struct store_tree *tree = store_tree_create(&skip);
    struct store_acl_list *none = calloc(1, sizeof *none + sizeof none->entries[0]);
    none->count = 1;
    none->entries[0] = (struct store_acl){ZK_PERM_READ, text("digest"), text("a:b")};
    assert_int_equal(store_acl_check(tree, none, ZK_PERM_WRITE, NULL), ZK_OK);
    store_tree_destroy(tree);
    struct store_config normal = {.jute_maxbuffer_bytes = 1 << 20};
    tree = store_tree_create(&normal);
    assert_int_equal(store_acl_check(tree, none, ZK_PERM_WRITE, NULL), ZK_NOAUTH);
    struct store_auth *matching = auth_new("digest", "a:b");
    assert_int_equal(store_acl_check(tree, none, ZK_PERM_READ, matching), ZK_OK);
    assert_int_equal(store_acl_check(tree, none, ZK_PERM_WRITE, matching), ZK_NOAUTH);
    struct store_auth super = {.is_super = true};
    assert_int_equal(store_acl_check(tree, none, ZK_PERM_WRITE, &super), ZK_OK);
    none->count = 0; /* an empty list allows everything */
    assert_int_equal(store_acl_check(tree, none, ZK_PERM_WRITE, NULL), ZK_OK);
    free(matching);
    free(none);
    store_tree_destroy(tree);
}

static void test_check(void **state)
{
    struct fixture *fx = *state;
    create(fx, "/k", 0);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CHECK, body_check(fx, "/k", 1), NULL), ZK_BADVERSION);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CHECK, body_check(fx, "/k", 0), NULL), ZK_OK);
    /* the logged CheckVersionTxn holds version + 1, as ZooKeeper writes it */
    struct jute_txn_header header;
    struct jute_reader reader;
    txn_header_of(&fx->txn, &header, &reader);
    struct jute_check_version_txn txn;
    assert_true(jute_check_version_txn_decode(&reader, NULL, &txn));
    assert_int_equal(txn.version, 1);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CHECK, body_check(fx, "/q", 0), NULL), ZK_NONODE);
}

static void test_reconfig_disabled(void **state)
{
    struct fixture *fx = *state;
    jute_writer_reset(&fx->body);
    struct jute_reconfig_request request = {text(""), text(""), text("server.1=a:1:2"), -1};
    jute_reconfig_request_encode(&fx->body, &request);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_RECONFIG, &fx->body, NULL), ZK_RECONFIGDISABLED);
    assert_int_equal(error_txn_code(&fx->txn), ZK_RECONFIGDISABLED);
    /* a read opcode is not a write */
    assert_int_equal(prepare(fx, SESSION, ZK_OP_GET_DATA, NULL, NULL), ZK_UNIMPLEMENTED);
}

/* reconfigEnabled=true on a standalone server: ZooKeeper 3.8 logs an
 * ErrorTxn(UNIMPLEMENTED) (observed: the reply is -6 and takes a zxid). */
static void test_reconfig_enabled_standalone_is_unimplemented(void **state)
{
    struct fixture *fx = *state;
    store_tree_destroy(fx->tree);
    struct store_config config = {.reconfig_enabled = true,
                                  .jute_maxbuffer_bytes = JUTE_MAXBUFFER_DEFAULT_BYTES,
                                  .config_node_text = ""};
    fx->tree = store_tree_create(&config);
    jute_writer_reset(&fx->body);
    struct jute_reconfig_request request = {text(""), text(""), text("server.1=a:1:2"), -1};
    jute_reconfig_request_encode(&fx->body, &request);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_RECONFIG, &fx->body, NULL), ZK_UNIMPLEMENTED);
    assert_int_equal(error_txn_code(&fx->txn), ZK_UNIMPLEMENTED);
}

/* ---- multi ------------------------------------------------------------- */

static struct jute_multi_op op_create(const char *path)
{
    struct jute_multi_op op = {.type = ZK_OP_CREATE};
    op.u.create = (struct jute_create_request){text(path), text(""), open_acl, 0};
    return op;
}

static void test_multi_failure_results_and_txn(void **state)
{
    struct fixture *fx = *state;
    create(fx, "/x", 0);
    struct jute_multi_op ops[3] = {op_create("/m1"), op_create("/q/m2"), {.type = ZK_OP_DELETE}};
    ops[2].u.delete_ = (struct jute_delete_request){text("/x"), -1};
    assert_int_equal(prepare(fx, SESSION, ZK_OP_MULTI, body_multi(fx, ops, 3), NULL), ZK_OK);
    /* MultiTxn: the first op's real CreateTxn, ErrorTxn(NONODE), then
     * ErrorTxn(RUNTIMEINCONSISTENCY) */
    struct jute_txn_header header;
    struct jute_reader reader;
    txn_header_of(&fx->txn, &header, &reader);
    assert_int_equal(header.type, ZK_OP_MULTI);
    uint8_t arena_memory[4096];
    struct jute_arena arena;
    jute_arena_init(&arena, arena_memory, sizeof arena_memory);
    struct jute_multi_txn multi;
    assert_true(jute_multi_txn_decode(&reader, &arena, &multi));
    assert_int_equal(multi.txns.count, 3);
    assert_int_equal(multi.txns.items[0].type, ZK_OP_CREATE);
    assert_int_equal(multi.txns.items[1].type, ZK_OP_ERROR);
    assert_int_equal(multi.txns.items[2].type, ZK_OP_ERROR);
    struct jute_reader sub;
    struct jute_error_txn error;
    jute_reader_init(&sub, multi.txns.items[1].data.ptr, (size_t)multi.txns.items[1].data.len);
    assert_true(jute_error_txn_decode(&sub, NULL, &error));
    assert_int_equal(error.err, ZK_NONODE);
    jute_reader_init(&sub, multi.txns.items[2].data.ptr, (size_t)multi.txns.items[2].data.len);
    assert_true(jute_error_txn_decode(&sub, NULL, &error));
    assert_int_equal(error.err, ZK_RUNTIMEINCONSISTENCY);

    apply_txn(fx, &fx->txn);
    /* 3.8.0's reply: (-1, 0), (-1, -101), (-1, -2); header err 0 */
    assert_int_equal(fx->result.err, ZK_NONODE);
    assert_int_equal(fx->result.multi_count, 3);
    assert_int_equal(fx->result.multi[0].type, ZK_OP_ERROR);
    assert_int_equal(fx->result.multi[0].err, ZK_OK);
    assert_int_equal(fx->result.multi[1].type, ZK_OP_ERROR);
    assert_int_equal(fx->result.multi[1].err, ZK_NONODE);
    assert_int_equal(fx->result.multi[2].type, ZK_OP_ERROR);
    assert_int_equal(fx->result.multi[2].err, ZK_RUNTIMEINCONSISTENCY);
    assert_int_equal(fx->changes.count, 0);
    assert_false(exists(fx, "/m1"));
    assert_true(exists(fx, "/x"));
    /* the rolled-back pending create does not block a later one */
    assert_int_equal(create(fx, "/m1", 0), ZK_OK);
}

static void test_multi_ops_see_earlier_ops(void **state)
{
    struct fixture *fx = *state;
    struct jute_multi_op ops[4] = {op_create("/m"), op_create("/m/c"), {.type = ZK_OP_SET_DATA},
                                   {.type = ZK_OP_CHECK}};
    ops[2].u.set_data = (struct jute_set_data_request){text("/m/c"), text("d"), 0};
    ops[3].u.check = (struct jute_check_version_request){text("/m/c"), 1};
    assert_int_equal(write_op(fx, SESSION, ZK_OP_MULTI, body_multi(fx, ops, 4), NULL), ZK_OK);
    assert_int_equal(fx->result.multi_count, 4);
    assert_int_equal(fx->result.multi[0].type, ZK_OP_CREATE);
    assert_true(jute_bytes_equal(fx->result.multi[1].path, text("/m/c")));
    assert_int_equal(fx->result.multi[2].type, ZK_OP_SET_DATA);
    assert_int_equal(fx->result.multi[2].stat.version, 1);
    assert_int_equal(fx->result.multi[3].type, ZK_OP_CHECK);
    /* one zxid for all; changes in order */
    assert_int_equal(fx->changes.count, 5);
    assert_int_equal(fx->changes.changes[0].event_type, ZK_EVENT_NODE_CREATED);
    assert_int_equal(fx->changes.changes[2].event_type, ZK_EVENT_NODE_CREATED);
    assert_int_equal(fx->changes.changes[4].event_type, ZK_EVENT_NODE_DATA_CHANGED);
    assert_int_equal(view_of(fx, "/m/c").stat.mzxid, fx->zxid);
    /* a multi holding a read op fails as a whole (3.8.0: ErrorTxn -5) */
    /* an empty multi is a MultiTxn with no txns (3.8.0 answers it) */
    assert_int_equal(write_op(fx, SESSION, ZK_OP_MULTI, body_multi(fx, NULL, 0), NULL), ZK_OK);
    assert_int_equal(fx->result.multi_count, 0);
    struct jute_multi_op reads[1] = {{.type = ZK_OP_GET_DATA}};
    reads[0].u.get_data = (struct jute_get_data_request){text("/m"), false};
    assert_int_equal(write_op(fx, SESSION, ZK_OP_MULTI, body_multi(fx, reads, 1), NULL),
                     ZK_MARSHALLINGERROR);
    assert_int_equal(error_txn_code(&fx->txn), ZK_MARSHALLINGERROR);
}

/* ---- pending changes between prepare and apply ------------------------------ */

static void test_pipelined_prepares_see_pending_changes(void **state)
{
    struct fixture *fx = *state;
    struct store_txn first, second, third;
    store_txn_init(&first, JUTE_MAXBUFFER_DEFAULT_BYTES);
    store_txn_init(&second, JUTE_MAXBUFFER_DEFAULT_BYTES);
    store_txn_init(&third, JUTE_MAXBUFFER_DEFAULT_BYTES);
    assert_int_equal(prepare(fx, SESSION, ZK_OP_CREATE, body_create(fx, "/p", "", &open_acl, 0),
                             NULL), ZK_OK);
    jute_write_raw(&first.bytes, fx->txn.bytes.data, fx->txn.bytes.size);
    /* not applied yet: a second create of /p fails, a child of it works */
    assert_int_equal(prepare(fx, SESSION, ZK_OP_CREATE, body_create(fx, "/p", "", &open_acl, 0),
                             NULL), ZK_OK);
    assert_int_equal(error_txn_code(&fx->txn), ZK_NODEEXISTS);
    jute_write_raw(&second.bytes, fx->txn.bytes.data, fx->txn.bytes.size);
    assert_int_equal(prepare(fx, SESSION, ZK_OP_CREATE,
                             body_create(fx, "/p/s", "", &open_acl, ZK_CREATE_PERSISTENT_SEQUENTIAL),
                             NULL), ZK_OK);
    jute_write_raw(&third.bytes, fx->txn.bytes.data, fx->txn.bytes.size);
    apply_txn(fx, &first);
    assert_int_equal(fx->result.err, ZK_OK);
    apply_txn(fx, &second);
    assert_int_equal(fx->result.err, ZK_NODEEXISTS);
    apply_txn(fx, &third);
    assert_int_equal(fx->result.err, ZK_OK);
    assert_true(jute_bytes_equal(fx->result.single.path, text("/p/s0000000000")));
    /* a pending delete hides the node from the next prepare */
    assert_int_equal(prepare(fx, SESSION, ZK_OP_DELETE, body_delete(fx, "/p/s0000000000", -1), NULL),
                     ZK_OK);
    jute_writer_reset(&first.bytes);
    jute_write_raw(&first.bytes, fx->txn.bytes.data, fx->txn.bytes.size);
    assert_int_equal(prepare(fx, SESSION, ZK_OP_SET_DATA, body_set_data(fx, "/p/s0000000000", "", -1),
                             NULL), ZK_OK);
    assert_int_equal(error_txn_code(&fx->txn), ZK_NONODE);
    /* store_prepare_reset forgets what will never be applied */
    store_prepare_reset(fx->tree);
    assert_int_equal(prepare(fx, SESSION, ZK_OP_SET_DATA, body_set_data(fx, "/p/s0000000000", "", -1),
                             NULL), ZK_OK);
    apply_txn(fx, &fx->txn);
    assert_int_equal(fx->result.err, ZK_OK);
    store_txn_free(&first);
    store_txn_free(&second);
    store_txn_free(&third);
}

/* Two pending changes to one path, the older applied, then the rest
 * forgotten (the server stopping, leadership lost): the path falls back to
 * the tree, never to the applied (freed) record. ASan sees the old bug. */
static void test_reset_after_partial_apply_falls_back_to_the_tree(void **state)
{
    struct fixture *fx = *state;
    create(fx, "/hot", 0);
    struct store_txn first;
    store_txn_init(&first, JUTE_MAXBUFFER_DEFAULT_BYTES);
    assert_int_equal(prepare(fx, SESSION, ZK_OP_SET_DATA, body_set_data(fx, "/hot", "1", -1),
                             NULL), ZK_OK);
    jute_write_raw(&first.bytes, fx->txn.bytes.data, fx->txn.bytes.size);
    assert_int_equal(prepare(fx, SESSION, ZK_OP_SET_DATA, body_set_data(fx, "/hot", "2", -1),
                             NULL), ZK_OK);
    int64_t second_zxid = fx->zxid;
    apply_txn(fx, &first);
    assert_int_equal(fx->result.err, ZK_OK);
    store_prepare_reset(fx->tree);
    /* The tree holds version 1; the forgotten second change is gone. */
    assert_int_equal(view_of(fx, "/hot").stat.version, 1);
    fx->zxid = second_zxid - 1; /* the second txn's zxid is free again */
    assert_int_equal(prepare(fx, SESSION, ZK_OP_SET_DATA, body_set_data(fx, "/hot", "3", 1),
                             NULL), ZK_OK);
    assert_int_equal(fx->txn.type, ZK_OP_SET_DATA); /* version 1 matched: no ErrorTxn */
    apply_txn(fx, &fx->txn);
    assert_int_equal(fx->result.err, ZK_OK);
    assert_int_equal(view_of(fx, "/hot").stat.version, 2);
    store_txn_free(&first);
}

/* ---- sessions -------------------------------------------------------------- */

static void test_close_session_deletes_ephemerals(void **state)
{
    struct fixture *fx = *state;
    create(fx, "/dir", 0);
    create(fx, "/dir/e1", ZK_CREATE_EPHEMERAL);
    create(fx, "/e2", ZK_CREATE_EPHEMERAL_SEQUENTIAL);
    assert_int_equal(write_op(fx, OTHER_SESSION, ZK_OP_CREATE,
                              body_create(fx, "/other", "", &open_acl, ZK_CREATE_EPHEMERAL), NULL),
                     ZK_OK);
    assert_int_equal(atomic_load(&store_tree_counters(fx->tree)->ephemeral_count), 3);
    assert_int_equal(store_prepare_close_session(fx->tree, &fx->txn, SESSION, 12, ++fx->zxid, 2000),
                     ZK_OK);
    struct jute_txn_header header;
    struct jute_reader reader;
    txn_header_of(&fx->txn, &header, &reader);
    assert_int_equal(header.type, ZK_OP_CLOSE_SESSION);
    assert_true(header.client_id == SESSION);
    uint8_t arena_memory[1024];
    struct jute_arena arena;
    jute_arena_init(&arena, arena_memory, sizeof arena_memory);
    struct jute_close_session_txn txn;
    assert_true(jute_close_session_txn_decode(&reader, &arena, &txn));
    assert_int_equal(txn.paths2_delete.count, 2);
    apply_txn(fx, &fx->txn);
    assert_false(exists(fx, "/dir/e1"));
    assert_false(exists(fx, "/e20000000001"));
    assert_true(exists(fx, "/other"));
    assert_int_equal(fx->changes.count, 4);
    int deleted = 0;
    for (size_t i = 0; i < fx->changes.count; i += 2) {
        assert_int_equal(fx->changes.changes[i].event_type, ZK_EVENT_NODE_DELETED);
        assert_int_equal(fx->changes.changes[i + 1].event_type, ZK_EVENT_NODE_CHILDREN_CHANGED);
        deleted++;
    }
    assert_int_equal(deleted, 2);
    assert_int_equal(atomic_load(&store_tree_counters(fx->tree)->ephemeral_count), 1);
    assert_int_equal(view_of(fx, "/dir").stat.pzxid, fx->zxid);
    /* createSession makes a txn the tree ignores */
    assert_int_equal(store_prepare_create_session(&fx->txn, 0x77, 30000, ++fx->zxid, 3000), ZK_OK);
    apply_txn(fx, &fx->txn);
    assert_int_equal(fx->result.err, ZK_OK);
    assert_int_equal(atomic_load(&store_tree_counters(fx->tree)->last_zxid), fx->zxid);
}

static void test_replay_is_idempotent(void **state)
{
    struct fixture *fx = *state;
    create(fx, "/r", 0);
    assert_int_equal(prepare(fx, SESSION, ZK_OP_CREATE, body_create(fx, "/r/c", "", &open_acl, 0),
                             NULL), ZK_OK);
    struct store_txn copy;
    store_txn_init(&copy, JUTE_MAXBUFFER_DEFAULT_BYTES);
    jute_write_raw(&copy.bytes, fx->txn.bytes.data, fx->txn.bytes.size);
    apply_txn(fx, &copy);
    assert_int_equal(fx->result.err, ZK_OK);
    struct store_node_view before = view_of(fx, "/r");
    apply_txn(fx, &copy); /* the log tail after a fuzzy snapshot */
    assert_int_equal(fx->result.err, ZK_NODEEXISTS);
    struct store_node_view after = view_of(fx, "/r");
    assert_int_equal(after.stat.cversion, before.stat.cversion);
    assert_int_equal(after.stat.num_children, 1);
    assert_int_equal(fx->changes.count, 0);
    store_txn_free(&copy);
    /* garbage never crashes the tree */
    const uint8_t junk[] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
                            0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 14, 0xff};
    assert_int_equal(store_apply(fx->tree, jute_bytes_of(junk, sizeof junk), &fx->changes,
                                 &fx->result),
                     ZK_MARSHALLINGERROR);
}

static void expect_data(struct fixture *fx, const char *path, const char *expected)
{
    struct store_node_view view = view_of(fx, path);
    assert_int_equal(view.data.len, (int)strlen(expected));
    assert_memory_equal(view.data.ptr, expected, strlen(expected));
}

static void test_quota_stats_follow_the_subtree(void **state)
{
    struct fixture *fx = *state;
    /* The same sequence on ZooKeeper 3.8.0 gave these stats texts. */
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CREATE, body_create(fx, "/x", "ab", &open_acl, 0),
                              NULL), ZK_OK);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CREATE,
                              body_create(fx, "/x/y", "1234", &open_acl, 0), NULL), ZK_OK);
    create(fx, "/zookeeper/quota/x", 0);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CREATE,
                              body_create(fx, "/zookeeper/quota/x/zookeeper_limits",
                                          "count=10,bytes=-1", &open_acl, 0), NULL), ZK_OK);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CREATE2,
                              body_create(fx, "/zookeeper/quota/x/zookeeper_stats",
                                          "count=0,bytes=0", &open_acl, 0), NULL), ZK_OK);
    assert_int_equal(fx->result.single.stat.data_length, 15); /* taken before the recount */
    int64_t stats_zxid = fx->zxid;
    expect_data(fx, "/zookeeper/quota/x/zookeeper_stats", "count=2,bytes=6");
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CREATE, body_create(fx, "/x/c", "abc", &open_acl, 0),
                              NULL), ZK_OK);
    expect_data(fx, "/zookeeper/quota/x/zookeeper_stats", "count=3,bytes=9");
    assert_int_equal(write_op(fx, SESSION, ZK_OP_SET_DATA, body_set_data(fx, "/x/c", "abcdef", -1),
                              NULL), ZK_OK);
    expect_data(fx, "/zookeeper/quota/x/zookeeper_stats", "count=3,bytes=12");
    assert_int_equal(write_op(fx, SESSION, ZK_OP_DELETE, body_delete(fx, "/x/y", -1), NULL), ZK_OK);
    expect_data(fx, "/zookeeper/quota/x/zookeeper_stats", "count=2,bytes=8");
    struct store_node_view view = view_of(fx, "/zookeeper/quota/x/zookeeper_stats");
    assert_int_equal(view.stat.mzxid, stats_zxid); /* only the data changes */
    assert_int_equal(view.stat.version, 0);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_DELETE,
                              body_delete(fx, "/zookeeper/quota/x/zookeeper_limits", -1), NULL),
                     ZK_OK);
    assert_int_equal(write_op(fx, SESSION, ZK_OP_CREATE, body_create(fx, "/x/d", "zz", &open_acl, 0),
                              NULL), ZK_OK);
    expect_data(fx, "/zookeeper/quota/x/zookeeper_stats", "count=2,bytes=8");
}

/* ---- paths and digests ------------------------------------------------------ */

static void test_path_validation(void **state)
{
    (void)state;
    const char *good[] = {"/", "/a", "/a/b", "/a.b", "/..a", "/a..", "/...", "/\xc3\xa9"};
    const char *bad[] = {"", "a", "/a/", "//", "/a//b", "/.", "/..", "/a/./b", "/a/../b",
                         "/a\x01", "/\x7f", "/\xc2\x80", "/\xf0\x9f\x98\x80", "/\xc3", "/\xef\xbf\xbf"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(store_path_validate(text(good[i]), false), ZK_OK);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(store_path_validate(text(bad[i]), false), ZK_BADARGUMENTS);
    }
    assert_int_equal(store_path_validate(text("/a/"), true), ZK_OK);
    assert_int_equal(store_path_validate(text("/."), true), ZK_OK); /* "/.1" */
    assert_int_equal(store_path_validate(text("/a//"), true), ZK_BADARGUMENTS);
    /* ZooKeeper has no path length limit of its own */
    char *long_path = malloc(6001);
    long_path[0] = '/';
    memset(long_path + 1, 'x', 5999);
    long_path[6000] = '\0';
    assert_int_equal(store_path_validate(text(long_path), false), ZK_OK);
    free(long_path);
    const uint8_t with_nul[] = {'/', 'a', 0, 'b'};
    assert_int_equal(store_path_validate(jute_bytes_of(with_nul, 4), false), ZK_BADARGUMENTS);
}

static void test_digest_ids(void **state)
{
    (void)state;
    char out[128];
    assert_int_equal(store_digest_id(text("super:test"), out, sizeof out), ZK_OK);
    assert_string_equal(out, "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
    /* from ZooKeeper 3.8.0's getACL after addauth digest u:p */
    assert_int_equal(store_digest_id(text("u:p"), out, sizeof out), ZK_OK);
    assert_string_equal(out, "u:Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ=");
    assert_int_equal(store_digest_id(text("super:test"), out, 10), ZK_BADARGUMENTS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_txn_bytes_and_result, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_create_errors, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_reset_after_partial_apply_falls_back_to_the_tree,
                                        setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_sequential_suffix_uses_create_count, setup_plain,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ephemerals, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_ttl_disabled, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_ttl_enabled_and_expiry, setup_extended, teardown),
        cmocka_unit_test_setup_teardown(test_containers, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_delete_errors_in_order, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_set_data, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_set_acl_and_acl_checks, setup_plain, teardown),
        cmocka_unit_test(test_acl_check_rules),
        cmocka_unit_test_setup_teardown(test_check, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_reconfig_enabled_standalone_is_unimplemented,
                                        setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_reconfig_disabled, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_multi_failure_results_and_txn, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_multi_ops_see_earlier_ops, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_prepares_see_pending_changes, setup_plain,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_close_session_deletes_ephemerals, setup_plain,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replay_is_idempotent, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_quota_stats_follow_the_subtree, setup_plain,
                                        teardown),
        cmocka_unit_test(test_path_validation),
        cmocka_unit_test(test_digest_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
