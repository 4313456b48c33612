/* The snapshot format (store/snapshot.c): a tree with every kind of node
 * written and read back into a fresh tree equals the original (every path,
 * data, Stat, StatPersisted field and ACL; ephemerals, containers and TTL
 * nodes indexed again); seals catch a flipped byte and name its offset;
 * truncated files are errors; ZooKeeper's digest trailer is read and
 * checked; snapshot file names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jute/records.h"
#include "store/snapshot.h"
#include "store/txnlog.h"
#include "store/store.h"
#include "store_test_writes.h"

#define SESSION 0x100000001ll
#define OTHER_SESSION 0x200000002ll
#define BIG_DATA_BYTES 1000000
#define SEQUENTIAL_NODES 40
#define SNAPSHOT_BYTES_MAX (64u << 20)

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

static struct store_tree *tree_new(void)
{
    struct store_tree *tree = store_test_tree_new();
    assert_non_null(tree);
    return tree;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    fx->tree = tree_new();
    fx->zxid = 1;
    fx->now_ms = 1700000000000;
    store_txn_init(&fx->txn, JUTE_MAXBUFFER_DEFAULT_BYTES + 4096);
    store_apply_result_init(&fx->result);
    store_change_list_init(&fx->changes);
    jute_writer_init(&fx->body, 4u << 20);
    *state = fx;
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

static const struct jute_acl digest_acl_items[] = {
    {ZK_PERM_READ | ZK_PERM_ADMIN,
     {{(const uint8_t *)"digest", 6}, {(const uint8_t *)"bob:S2+zLbWMZaTmPZ0k8cjM+3XGY/4=", 33}}},
    {ZK_PERM_READ, {{(const uint8_t *)"ip", 2}, {(const uint8_t *)"10.0.0.0/8", 10}}}};
static const struct jute_acl_vector digest_acl = {2, (struct jute_acl *)digest_acl_items};
static const struct jute_acl read_acl_items[] = {
    {ZK_PERM_READ, {{(const uint8_t *)"world", 5}, {(const uint8_t *)"anyone", 6}}}};
static const struct jute_acl_vector read_acl = {1, (struct jute_acl *)read_acl_items};

/* As the super user (store_test_prepare): it may change any node, and the
 * test sets read-only ACLs. */
static void write_op(struct fixture *fx, int64_t session, int32_t opcode)
{
    assert_int_equal(store_test_prepare(fx->tree, &fx->txn, &fx->body, session, 7, opcode,
                                        fx->zxid + 1, fx->now_ms),
                     ZK_OK);
    fx->zxid++;
    fx->now_ms += 17;
    store_change_list_clear(&fx->changes);
    assert_int_equal(store_apply(fx->tree,
                                 jute_bytes_of(fx->txn.bytes.data, (int32_t)fx->txn.bytes.size),
                                 &fx->changes, &fx->result),
                     ZK_OK);
    assert_int_equal(fx->result.err, ZK_OK);
}

static void create(struct fixture *fx, int64_t session, const char *path, struct jute_bytes data,
                   const struct jute_acl_vector *acl, int32_t flags)
{
    store_test_encode_create(&fx->body, path, data, acl, flags);
    write_op(fx, session, flags == ZK_CREATE_CONTAINER ? ZK_OP_CREATE_CONTAINER : ZK_OP_CREATE);
}

static void create_ttl(struct fixture *fx, const char *path, int32_t flags, int64_t ttl_ms)
{
    jute_writer_reset(&fx->body);
    struct jute_create_ttl_request request = {text(path), text("ttl"), store_test_open_acl, flags, ttl_ms};
    jute_create_ttl_request_encode(&fx->body, &request);
    write_op(fx, SESSION, ZK_OP_CREATE_TTL);
}

static void set_data(struct fixture *fx, const char *path, struct jute_bytes data)
{
    store_test_encode_set_data(&fx->body, path, data);
    write_op(fx, SESSION, ZK_OP_SET_DATA);
}

static void set_acl(struct fixture *fx, const char *path, const struct jute_acl_vector *acl)
{
    store_test_encode_set_acl(&fx->body, path, acl);
    write_op(fx, SESSION, ZK_OP_SET_ACL);
}

static void delete_node(struct fixture *fx, const char *path)
{
    store_test_encode_delete(&fx->body, path);
    write_op(fx, SESSION, ZK_OP_DELETE);
}

/* Every kind of node ZooKeeper stores. */
static void populate(struct fixture *fx)
{
    uint8_t *big = malloc(BIG_DATA_BYTES);
    for (size_t i = 0; i < BIG_DATA_BYTES; i++) {
        big[i] = (uint8_t)(i * 7 + 3);
    }
    create(fx, SESSION, "/app", text("application"), &store_test_open_acl, ZK_CREATE_PERSISTENT);
    create(fx, SESSION, "/app/null", jute_bytes_of(NULL, -1), &store_test_open_acl, ZK_CREATE_PERSISTENT);
    create(fx, SESSION, "/app/empty", text(""), &store_test_open_acl, ZK_CREATE_PERSISTENT);
    create(fx, SESSION, "/app/big", jute_bytes_of(big, BIG_DATA_BYTES), &store_test_open_acl,
           ZK_CREATE_PERSISTENT);
    create(fx, SESSION, "/app/secret", text("MARKER-secret-data"), &digest_acl,
           ZK_CREATE_PERSISTENT);
    create(fx, SESSION, "/app/secret2", text("shares the digest ACL"), &digest_acl,
           ZK_CREATE_PERSISTENT);
    create(fx, SESSION, "/app/readonly", text("r"), &read_acl, ZK_CREATE_PERSISTENT);
    create(fx, SESSION, "/app/eph", text("mine"), &store_test_open_acl, ZK_CREATE_EPHEMERAL);
    create(fx, OTHER_SESSION, "/app/other-eph", text("theirs"), &store_test_open_acl, ZK_CREATE_EPHEMERAL);
    create(fx, SESSION, "/queue", text(""), &store_test_open_acl, ZK_CREATE_PERSISTENT);
    for (int i = 0; i < SEQUENTIAL_NODES; i++) {
        create(fx, i % 2 ? SESSION : OTHER_SESSION, "/queue/item-", text("q"), &store_test_open_acl,
               i % 2 ? ZK_CREATE_EPHEMERAL_SEQUENTIAL : ZK_CREATE_PERSISTENT_SEQUENTIAL);
    }
    /* deletions make numChildren, cversion and pzxid differ */
    delete_node(fx, "/queue/item-0000000000");
    delete_node(fx, "/queue/item-0000000002");
    create(fx, SESSION, "/box", text(""), &store_test_open_acl, ZK_CREATE_CONTAINER);
    create(fx, SESSION, "/box/inner", text("x"), &store_test_open_acl, ZK_CREATE_PERSISTENT);
    create_ttl(fx, "/ttl", ZK_CREATE_PERSISTENT_WITH_TTL, 60000);
    create_ttl(fx, "/ttl-seq-", ZK_CREATE_PERSISTENT_SEQUENTIAL_WITH_TTL, 1234);
    set_data(fx, "/app", text("application v2"));
    set_data(fx, "/app", text("application v3"));
    set_data(fx, "/app/big", jute_bytes_of(big, BIG_DATA_BYTES - 1));
    set_acl(fx, "/app/readonly", &digest_acl);
    set_acl(fx, "/app/empty", &read_acl);
    /* a deep path */
    char deep[256] = "";
    for (int i = 0; i < 12; i++) {
        strcat(deep, "/d");
        create(fx, SESSION, deep, text("deep"), &store_test_open_acl, ZK_CREATE_PERSISTENT);
    }
    free(big);
}

static void write_snapshot(struct store_tree *tree, struct jute_writer *out)
{
    static const struct store_snapshot_session sessions[] = {{SESSION, 30000},
                                                             {OTHER_SESSION, 4000}};
    jute_writer_init(out, SNAPSHOT_BYTES_MAX);
    assert_true(store_snapshot_write(tree, sessions, 2, out));
}

/* ---- comparing trees ---------------------------------------------------- */

struct name_list {
    char *names[256];
    size_t count;
};

static void collect_name(void *context, struct jute_bytes name)
{
    struct name_list *list = context;
    assert_true(list->count < 256);
    list->names[list->count] = strndup((const char *)name.ptr, (size_t)name.len);
    list->count++;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void assert_bytes_equal(struct jute_bytes a, struct jute_bytes b)
{
    assert_int_equal(a.len, b.len);
    if (a.len > 0) {
        assert_memory_equal(a.ptr, b.ptr, (size_t)a.len);
    }
}

static void assert_acl_equal(const struct store_acl_list *a, const struct store_acl_list *b)
{
    assert_int_equal(a->count, b->count);
    for (int32_t i = 0; i < a->count; i++) {
        assert_int_equal(a->entries[i].perms, b->entries[i].perms);
        assert_bytes_equal(a->entries[i].scheme, b->entries[i].scheme);
        assert_bytes_equal(a->entries[i].id, b->entries[i].id);
    }
}

static void assert_stat_equal(const struct store_stat *a, const struct store_stat *b)
{
    assert_int_equal(a->czxid, b->czxid);
    assert_int_equal(a->mzxid, b->mzxid);
    assert_int_equal(a->ctime_ms, b->ctime_ms);
    assert_int_equal(a->mtime_ms, b->mtime_ms);
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->cversion, b->cversion);
    assert_int_equal(a->aversion, b->aversion);
    assert_int_equal(a->data_is_null, b->data_is_null);
    assert_int_equal(a->ephemeral_owner, b->ephemeral_owner);
    assert_int_equal(a->data_length, b->data_length);
    assert_int_equal(a->num_children, b->num_children);
    assert_int_equal(a->pzxid, b->pzxid);
}

/* Compares the subtree at `path` in both trees; returns its node count. */
static size_t assert_subtree_equal(struct store_tree *a, struct store_tree *b, const char *path)
{
    struct store_node_view va, vb;
    const struct store_node *na, *nb;
    int64_t visible;
    assert_int_equal(store_lookup(a, text(path), &va, &visible, &na), ZK_OK);
    if (store_lookup(b, text(path), &vb, &visible, &nb) != ZK_OK) {
        fail_msg("%s is missing after the load", path);
    }
    assert_stat_equal(&va.stat, &vb.stat);
    assert_int_equal(va.persisted_cversion, vb.persisted_cversion);
    assert_int_equal(va.persisted_ephemeral_owner, vb.persisted_ephemeral_owner);
    assert_bytes_equal(va.data, vb.data);
    assert_acl_equal(va.acl, vb.acl);
    struct name_list children_a = {0}, children_b = {0};
    store_children_foreach(na, collect_name, &children_a);
    store_children_foreach(nb, collect_name, &children_b);
    assert_int_equal(children_a.count, children_b.count);
    qsort(children_a.names, children_a.count, sizeof(char *), compare_names);
    qsort(children_b.names, children_b.count, sizeof(char *), compare_names);
    size_t nodes = 1;
    for (size_t i = 0; i < children_a.count; i++) {
        assert_string_equal(children_a.names[i], children_b.names[i]);
        char child[1024];
        snprintf(child, sizeof child, "%s/%s", strcmp(path, "/") == 0 ? "" : path,
                 children_a.names[i]);
        nodes += assert_subtree_equal(a, b, child);
        free(children_a.names[i]);
        free(children_b.names[i]);
    }
    return nodes;
}

static size_t count_ephemerals(struct store_tree *tree, int64_t session)
{
    struct store_change_list list;
    store_change_list_init(&list);
    size_t count = store_session_ephemerals(tree, session, text("/"), &list);
    store_change_list_free(&list);
    return count;
}

/* ---- tests -------------------------------------------------------------- */

static void test_round_trip(void **state)
{
    struct fixture *fx = *state;
    populate(fx);
    struct jute_writer out;
    write_snapshot(fx->tree, &out);

    struct store_tree *loaded = tree_new();
    struct store_snapshot_session *sessions;
    size_t session_count;
    struct store_snapshot_error error = {0};
    if (!store_snapshot_load(loaded, out.data, out.size, &sessions, &session_count, &error)) {
        fail_msg("load failed at %zu: %s", error.offset, error.message);
    }
    assert_int_equal(session_count, 2);
    assert_int_equal(sessions[0].session_id, SESSION);
    assert_int_equal(sessions[0].timeout_ms, 30000);
    assert_int_equal(sessions[1].session_id, OTHER_SESSION);
    assert_int_equal(sessions[1].timeout_ms, 4000);
    free(sessions);

    size_t nodes = assert_subtree_equal(fx->tree, loaded, "/");
    /* root, /zookeeper{,/quota,/config}, /app and its 8 children, the queue
     * and its 38 items, box and inner, two TTL nodes, 12 deep */
    assert_int_equal(nodes, 4 + 9 + 1 + 38 + 2 + 2 + 12);
    assert_int_equal(store_tree_counters(loaded)->node_count,
                     store_tree_counters(fx->tree)->node_count);
    assert_int_equal(store_tree_counters(loaded)->ephemeral_count,
                     store_tree_counters(fx->tree)->ephemeral_count);
    /* ephemerals are indexed by session again */
    assert_int_equal(count_ephemerals(loaded, SESSION), count_ephemerals(fx->tree, SESSION));
    assert_int_equal(count_ephemerals(loaded, SESSION), 1 + SEQUENTIAL_NODES / 2);
    assert_int_equal(count_ephemerals(loaded, OTHER_SESSION), 1);

    /* the container and the TTL nodes are known as such: once empty and
     * old, the container and both TTL nodes come up for deletion */
    struct store_change_list expired;
    store_change_list_init(&expired);
    int64_t far_future = fx->now_ms + 3600 * 1000;
    size_t original_expired = store_collect_expired_containers(fx->tree, far_future, &expired, 16);
    store_change_list_clear(&expired);
    size_t loaded_expired = store_collect_expired_containers(loaded, far_future, &expired, 16);
    assert_int_equal(loaded_expired, original_expired);
    assert_int_equal(loaded_expired, 2); /* /ttl and /ttl-seq-...; /box has a child */
    store_change_list_free(&expired);

    /* the loaded tree writes the same nodes again: same length (ACL refs
     * may be renumbered, but every record has a fixed shape) */
    struct jute_writer again;
    write_snapshot(loaded, &again);
    assert_int_equal(again.size, out.size);
    jute_writer_free(&again);
    store_tree_destroy(loaded);
    jute_writer_free(&out);
}

/* The layout, checked field by field on the smallest tree. */
static void test_layout_of_a_fresh_tree(void **state)
{
    struct fixture *fx = *state;
    struct jute_writer out;
    jute_writer_init(&out, SNAPSHOT_BYTES_MAX);
    assert_true(store_snapshot_write(fx->tree, NULL, 0, &out));
    struct jute_reader reader;
    jute_reader_init(&reader, out.data, out.size);
    assert_int_equal(jute_read_int(&reader), 0x5A4B534E);
    assert_int_equal(jute_read_int(&reader), 2);
    assert_int_equal(jute_read_long(&reader), -1);
    assert_int_equal(jute_read_int(&reader), 0); /* sessions */
    assert_int_equal(jute_read_int(&reader), 1); /* the ACL of /zookeeper/config */
    assert_int_equal(jute_read_long(&reader), 1);
    assert_int_equal(jute_read_int(&reader), 1);
    assert_int_equal(jute_read_int(&reader), ZK_PERM_READ);
    assert_true(jute_bytes_equal(jute_read_bytes(&reader), text("world")));
    assert_true(jute_bytes_equal(jute_read_bytes(&reader), text("anyone")));
    /* the root: path "", empty data, ACL -1, zero StatPersisted with
     * cversion 0 and pzxid 0 */
    assert_true(jute_bytes_equal(jute_read_bytes(&reader), text("")));
    assert_true(jute_bytes_equal(jute_read_bytes(&reader), text("")));
    assert_int_equal(jute_read_long(&reader), -1);
    struct jute_stat_persisted stat;
    assert_true(jute_stat_persisted_decode(&reader, NULL, &stat));
    assert_int_equal(stat.cversion, 0);
    assert_true(jute_bytes_equal(jute_read_bytes(&reader), text("/zookeeper")));
    /* the end: "/", then the seal: Adler32 of everything before, "/" */
    size_t seal_at = out.size - 13;
    jute_reader_init(&reader, out.data + seal_at - 5, 18);
    assert_true(jute_bytes_equal(jute_read_bytes(&reader), text("/")));
    assert_int_equal(jute_read_long(&reader),
                     (int64_t)store_adler32(1, out.data, seal_at));
    assert_true(jute_bytes_equal(jute_read_bytes(&reader), text("/")));
    assert_int_equal(reader.offset, 18);
    jute_writer_free(&out);
}

static void test_flipped_byte_breaks_the_seal(void **state)
{
    struct fixture *fx = *state;
    populate(fx);
    struct jute_writer out;
    write_snapshot(fx->tree, &out);
    const char *marker = "MARKER-secret-data";
    uint8_t *at = memmem(out.data, out.size, marker, strlen(marker));
    assert_non_null(at);
    at[3] ^= 0x20;
    struct store_snapshot_error error = {0};
    assert_false(store_snapshot_parse(out.data, out.size,
                                      &(struct store_snapshot_visitor){0}, &error));
    assert_int_equal(error.offset, out.size - 13);
    assert_non_null(strstr(error.message, "bad seal"));

    struct store_tree *loaded = tree_new();
    struct store_snapshot_session *sessions;
    size_t session_count;
    assert_false(store_snapshot_load(loaded, out.data, out.size, &sessions, &session_count,
                                     &error));
    assert_int_equal(error.offset, out.size - 13);
    assert_null(sessions);
    store_tree_destroy(loaded);
    jute_writer_free(&out);
}

static void test_truncated_files_are_errors(void **state)
{
    struct fixture *fx = *state;
    populate(fx);
    struct jute_writer out;
    write_snapshot(fx->tree, &out);
    const size_t cuts[] = {0, 3, 15, 16, 20, 40, 100, 1000, out.size / 2, out.size - 14,
                           out.size - 13, out.size - 6, out.size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        struct store_tree *loaded = tree_new();
        struct store_snapshot_session *sessions;
        size_t session_count;
        struct store_snapshot_error error = {0};
        if (store_snapshot_load(loaded, out.data, cuts[i], &sessions, &session_count, &error)) {
            fail_msg("a file cut at %zu of %zu loaded", cuts[i], out.size);
        }
        assert_true(error.offset <= cuts[i]);
        assert_true(strlen(error.message) > 0);
        store_tree_destroy(loaded);
    }
    jute_writer_free(&out);
}

struct digest_seen {
    int64_t zxid;
    int32_t version;
    int64_t digest;
    int seals;
    size_t nodes;
};

static bool see_digest(void *context, int64_t zxid, int32_t version, int64_t digest)
{
    struct digest_seen *seen = context;
    seen->zxid = zxid;
    seen->version = version;
    seen->digest = digest;
    return true;
}

static bool see_seal(void *context, size_t offset, uint32_t checksum)
{
    (void)offset;
    (void)checksum;
    ((struct digest_seen *)context)->seals++;
    return true;
}

static bool see_node(void *context, size_t offset, struct jute_bytes path, struct jute_bytes data,
                     int64_t acl_ref, const struct jute_stat_persisted *stat,
                     struct store_snapshot_error *error)
{
    (void)offset, (void)path, (void)data, (void)acl_ref, (void)stat, (void)error;
    ((struct digest_seen *)context)->nodes++;
    return true;
}

/* ZooKeeper 3.8 appends ZxidDigest and a second seal whose checksum runs on
 * over the whole file. */
static void test_digest_trailer(void **state)
{
    struct fixture *fx = *state;
    struct jute_writer out;
    jute_writer_init(&out, SNAPSHOT_BYTES_MAX);
    assert_true(store_snapshot_write(fx->tree, NULL, 0, &out));
    size_t trailer_at = out.size;
    jute_write_long(&out, 0x500000007ll);
    jute_write_int(&out, 2);
    jute_write_long(&out, 123456789012345ll);
    jute_write_long(&out, (int64_t)store_adler32(1, out.data, out.size));
    jute_write_bytes(&out, text("/"));

    struct digest_seen seen = {0};
    struct store_snapshot_visitor visitor = {
        .context = &seen, .digest = see_digest, .seal = see_seal, .node = see_node};
    struct store_snapshot_error error = {0};
    assert_true(store_snapshot_parse(out.data, out.size, &visitor, &error));
    assert_int_equal(seen.zxid, 0x500000007ll);
    assert_int_equal(seen.version, 2);
    assert_int_equal(seen.digest, 123456789012345ll);
    assert_int_equal(seen.seals, 2);
    assert_int_equal(seen.nodes, 4);

    out.data[trailer_at + 2] ^= 1;
    assert_false(store_snapshot_parse(out.data, out.size, &visitor, &error));
    assert_int_equal(error.offset, trailer_at + 20);
    /* stray bytes after the last seal */
    out.data[trailer_at + 2] ^= 1;
    jute_write_int(&out, 0);
    assert_false(store_snapshot_parse(out.data, out.size, &visitor, &error));
    jute_writer_free(&out);
}

/* Every single flipped byte of a small snapshot is caught (Adler32 sees
 * any one-byte change), and loading it never goes wrong on the way. */
static void test_every_flipped_byte_is_an_error(void **state)
{
    struct fixture *fx = *state;
    create(fx, SESSION, "/a", text("data-a"), &digest_acl, ZK_CREATE_PERSISTENT);
    create(fx, SESSION, "/a/e", text("e"), &store_test_open_acl, ZK_CREATE_EPHEMERAL);
    create(fx, SESSION, "/c", text(""), &store_test_open_acl, ZK_CREATE_CONTAINER);
    struct jute_writer out;
    write_snapshot(fx->tree, &out);
    for (size_t at = 0; at < out.size; at++) {
        out.data[at] ^= 0x41;
        struct store_tree *loaded = tree_new();
        struct store_snapshot_session *sessions;
        size_t session_count;
        struct store_snapshot_error error = {0};
        if (store_snapshot_load(loaded, out.data, out.size, &sessions, &session_count, &error)) {
            fail_msg("a flipped byte at %zu of %zu loaded", at, out.size);
        }
        assert_true(error.offset < out.size);
        store_tree_destroy(loaded);
        out.data[at] ^= 0x41;
    }
    jute_writer_free(&out);
}

static void test_bad_magic_and_acl_ref(void **state)
{
    struct fixture *fx = *state;
    struct jute_writer out;
    jute_writer_init(&out, SNAPSHOT_BYTES_MAX);
    assert_true(store_snapshot_write(fx->tree, NULL, 0, &out));
    out.data[0] = 'X';
    struct store_snapshot_error error = {0};
    assert_false(store_snapshot_parse(out.data, out.size, &(struct store_snapshot_visitor){0},
                                      &error));
    assert_int_equal(error.offset, 0);
    assert_non_null(strstr(error.message, "magic"));
    out.data[0] = 'Z';
    /* the ACL cache's only entry (ref 1, used by /zookeeper/config) gets
     * ref 9: the node's ref no longer resolves */
    out.data[16 + 4 + 4 + 7] = 9;
    struct store_tree *loaded = tree_new();
    struct store_snapshot_session *sessions;
    size_t session_count;
    assert_false(store_snapshot_load(loaded, out.data, out.size, &sessions, &session_count,
                                     &error));
    assert_non_null(strstr(error.message, "ACL ref 1"));
    store_tree_destroy(loaded);
    jute_writer_free(&out);
}

static void test_names(void **state)
{
    (void)state;
    char name[STORE_SNAPSHOT_NAME_BYTES];
    store_snapshot_name(0, name, sizeof name);
    assert_string_equal(name, "snapshot.0");
    store_snapshot_name(0x1000000a3ll, name, sizeof name);
    assert_string_equal(name, "snapshot.1000000a3");
    store_snapshot_name(INT64_MAX, name, sizeof name);
    assert_string_equal(name, "snapshot.7fffffffffffffff");
    int64_t zxid;
    assert_true(store_snapshot_name_parse("snapshot.1000000a3", &zxid));
    assert_int_equal(zxid, 0x1000000a3ll);
    assert_true(store_snapshot_name_parse("snapshot.1F", &zxid));
    assert_int_equal(zxid, 0x1f);
    assert_false(store_snapshot_name_parse("snapshot.", &zxid));
    assert_false(store_snapshot_name_parse("snapshot.12g", &zxid));
    assert_false(store_snapshot_name_parse("log.12", &zxid));
    assert_false(store_snapshot_name_parse("snapshot.12.snap", &zxid));
    assert_false(store_snapshot_name_parse("snapshot.8000000000000000", &zxid));
}

static void test_adler32(void **state)
{
    (void)state;
    /* known values (zlib) */
    assert_int_equal(store_adler32(1, (const uint8_t *)"", 0), 1);
    assert_int_equal(store_adler32(1, (const uint8_t *)"Wikipedia", 9), 0x11E60398);
    /* incremental equals one pass, across the reduction block */
    uint8_t *bytes = malloc(20000);
    for (size_t i = 0; i < 20000; i++) {
        bytes[i] = 0xff;
    }
    uint32_t whole = store_adler32(1, bytes, 20000);
    uint32_t split = store_adler32(store_adler32(1, bytes, 7777), bytes + 7777,
                                            20000 - 7777);
    assert_int_equal(whole, split);
    free(bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout_of_a_fresh_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_byte_breaks_the_seal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_files_are_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest_trailer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_flipped_byte_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_magic_and_acl_ref, setup, teardown),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_adler32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
