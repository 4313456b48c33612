/* The tree: ZooKeeper 3.8's builtin nodes and their Stats, lookups, stats
 * after creates and deletes (checked against a running 3.8.0), sequence
 * suffixes, a million children under one parent, and epoch reclamation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jute/records.h"
#include "store/store.h"
#include "store/store_internal.h"

#define MILLION_CHILDREN 1000000
#define MILLION_SECONDS_MAX 60.0

static struct store_tree *new_tree(void)
{
    struct store_config config = {
        .extended_types_enabled = true,
        .skip_acl = false,
        .jute_maxbuffer_bytes = JUTE_MAXBUFFER_DEFAULT_BYTES,
        .config_node_text = "",
    };
    struct store_tree *tree = store_tree_create(&config);
    assert_non_null(tree);
    return tree;
}

static struct jute_bytes text(const char *value)
{
    return jute_bytes_cstr(value);
}

static int lookup(struct store_tree *tree, const char *path, struct store_node_view *view)
{
    int64_t visible;
    return store_lookup(tree, text(path), view, &visible, NULL);
}

static const struct jute_acl open_acl = {ZK_PERM_ALL, {{(const uint8_t *)"world", 5},
                                                        {(const uint8_t *)"anyone", 6}}};

/* Applies a create-family txn written by hand, as a log would hold it. */
static int apply_create(struct store_tree *tree, int32_t type, const char *path,
                        const char *data, bool ephemeral, int64_t session_id, int64_t zxid,
                        int64_t time_ms, struct store_apply_result *result,
                        struct store_change_list *changes)
{
    struct jute_writer writer;
    jute_writer_init(&writer, 1 << 20);
    struct jute_txn_header header = {session_id, 1, zxid, time_ms, type};
    jute_txn_header_encode(&writer, &header);
    struct jute_acl_vector acl = {1, (struct jute_acl *)&open_acl};
    struct jute_create_txn txn = {text(path), text(data), acl, ephemeral, -1};
    jute_create_txn_encode(&writer, &txn);
    assert_true(writer.ok);
    int rc = store_apply(tree, jute_bytes_of(writer.data, (int32_t)writer.size), changes, result);
    jute_writer_free(&writer);
    return rc;
}

static int apply_delete(struct store_tree *tree, const char *path, int64_t zxid,
                        struct store_apply_result *result, struct store_change_list *changes)
{
    struct jute_writer writer;
    jute_writer_init(&writer, 1 << 20);
    struct jute_txn_header header = {1, 2, zxid, 5, ZK_OP_DELETE};
    jute_txn_header_encode(&writer, &header);
    struct jute_delete_txn txn = {text(path)};
    jute_delete_txn_encode(&writer, &txn);
    int rc = store_apply(tree, jute_bytes_of(writer.data, (int32_t)writer.size), changes, result);
    jute_writer_free(&writer);
    return rc;
}

static int apply_set_data(struct store_tree *tree, const char *path, const char *data,
                          int32_t version, int64_t zxid, struct store_apply_result *result)
{
    struct jute_writer writer;
    jute_writer_init(&writer, 1 << 21);
    struct jute_txn_header header = {1, 3, zxid, 7, ZK_OP_SET_DATA};
    jute_txn_header_encode(&writer, &header);
    struct jute_set_data_txn txn = {text(path), text(data), version};
    jute_set_data_txn_encode(&writer, &txn);
    int rc = store_apply(tree, jute_bytes_of(writer.data, (int32_t)writer.size), NULL, result);
    jute_writer_free(&writer);
    return rc;
}

static void test_builtin_nodes_match_zookeeper(void **state)
{
    (void)state;
    struct store_tree *tree = new_tree();
    struct store_node_view view;
    /* From `stat` on a fresh ZooKeeper 3.8.0: the root shows cversion -1
     * and /zookeeper -2 (copyStat: 2 * 0 creates - children). */
    assert_int_equal(lookup(tree, "/", &view), ZK_OK);
    assert_int_equal(view.stat.cversion, -1);
    assert_int_equal(view.stat.num_children, 1);
    assert_int_equal(view.stat.aversion, 0);
    assert_true(view.acl->ref == -1);
    assert_int_equal(view.acl->entries[0].perms, ZK_PERM_ALL);
    assert_int_equal(lookup(tree, "/zookeeper", &view), ZK_OK);
    assert_int_equal(view.stat.cversion, -2);
    assert_int_equal(view.stat.num_children, 2);
    assert_int_equal(lookup(tree, "/zookeeper/quota", &view), ZK_OK);
    assert_int_equal(view.stat.cversion, 0);
    assert_int_equal(view.stat.num_children, 0);
    assert_int_equal(lookup(tree, "/zookeeper/config", &view), ZK_OK);
    assert_int_equal(view.stat.aversion, -1);
    assert_int_equal(view.stat.data_length, 0);
    assert_true(view.acl->ref == 1);
    assert_int_equal(view.acl->count, 1);
    assert_int_equal(view.acl->entries[0].perms, ZK_PERM_READ);
    assert_true(jute_bytes_equal(view.acl->entries[0].scheme, text("world")));
    assert_true(view.stat.czxid == 0 && view.stat.mzxid == 0 && view.stat.pzxid == 0);
    const struct store_counters *counters = store_tree_counters(tree);
    assert_int_equal(atomic_load(&counters->node_count), 5);
    assert_int_equal(atomic_load(&counters->approximate_data_bytes), 44);
    store_tree_destroy(tree);
}

static void test_config_node_text(void **state)
{
    (void)state;
    struct store_config config = {.jute_maxbuffer_bytes = JUTE_MAXBUFFER_DEFAULT_BYTES,
                                  .config_node_text = "server.1=a:1:2\nversion=0"};
    struct store_tree *tree = store_tree_create(&config);
    struct store_node_view view;
    assert_int_equal(lookup(tree, "/zookeeper/config", &view), ZK_OK);
    assert_int_equal(view.stat.data_length, (int)strlen(config.config_node_text));
    assert_memory_equal(view.data.ptr, config.config_node_text, strlen(config.config_node_text));
    store_tree_destroy(tree);
}

static void test_create_delete_stats_as_zookeeper(void **state)
{
    (void)state;
    struct store_tree *tree = new_tree();
    struct store_apply_result result;
    store_apply_result_init(&result);
    struct store_change_list changes;
    store_change_list_init(&changes);
    assert_int_equal(apply_create(tree, ZK_OP_CREATE2, "/a", "hello", false, 7, 2, 1000,
                                  &result, &changes), ZK_OK);
    assert_int_equal(result.err, ZK_OK);
    assert_int_equal(result.single.stat.czxid, 2);
    assert_int_equal(result.single.stat.data_length, 5);
    assert_true(jute_bytes_equal(result.single.path, text("/a")));
    assert_int_equal(changes.count, 2);
    assert_int_equal(changes.changes[0].event_type, ZK_EVENT_NODE_CREATED);
    assert_true(jute_bytes_equal(changes.changes[0].path, text("/a")));
    assert_int_equal(changes.changes[1].event_type, ZK_EVENT_NODE_CHILDREN_CHANGED);
    assert_true(jute_bytes_equal(changes.changes[1].path, text("/")));

    assert_int_equal(apply_create(tree, ZK_OP_CREATE, "/a/b", "", false, 7, 3, 1001, &result,
                                  &changes), ZK_OK);
    store_change_list_clear(&changes);
    assert_int_equal(apply_delete(tree, "/a/b", 4, &result, &changes), ZK_OK);
    assert_int_equal(result.err, ZK_OK);
    assert_int_equal(changes.count, 2);
    assert_int_equal(changes.changes[0].event_type, ZK_EVENT_NODE_DELETED);
    assert_true(jute_bytes_equal(changes.changes[0].path, text("/a/b")));
    assert_int_equal(changes.changes[1].event_type, ZK_EVENT_NODE_CHILDREN_CHANGED);
    assert_true(jute_bytes_equal(changes.changes[1].path, text("/a")));

    /* ZooKeeper 3.8.0 after create /a, create /a/b, delete /a/b:
     * cversion 2, pzxid 4, numChildren 0. */
    struct store_node_view view;
    assert_int_equal(lookup(tree, "/a", &view), ZK_OK);
    assert_int_equal(view.stat.cversion, 2);
    assert_int_equal(view.stat.pzxid, 4);
    assert_int_equal(view.stat.num_children, 0);
    assert_int_equal(view.stat.czxid, 2);
    assert_int_equal(view.stat.mzxid, 2);
    assert_int_equal(view.stat.ctime_ms, 1000);
    assert_int_equal(view.persisted_cversion, 1);
    assert_memory_equal(view.data.ptr, "hello", 5);
    assert_int_equal(view.version_zxid, 4);
    /* recreate: cversion 3, pzxid 5 */
    assert_int_equal(apply_create(tree, ZK_OP_CREATE, "/a/b", "", false, 7, 5, 1002, &result,
                                  NULL), ZK_OK);
    assert_int_equal(lookup(tree, "/a", &view), ZK_OK);
    assert_int_equal(view.stat.cversion, 3);
    assert_int_equal(view.stat.pzxid, 5);
    assert_int_equal(view.persisted_cversion, 2);

    /* a missing node reports its deepest ancestor's version zxid */
    int64_t visible = 0;
    assert_int_equal(store_lookup(tree, text("/a/b/c/d"), &view, &visible, NULL), ZK_NONODE);
    assert_int_equal(visible, 5);
    assert_int_equal(store_lookup(tree, text("/zz"), &view, &visible, NULL), ZK_NONODE);
    assert_int_equal(visible, 2); /* the root's children last changed at zxid 2 */
    store_apply_result_free(&result);
    store_change_list_free(&changes);
    store_tree_destroy(tree);
}

static void test_set_data_and_versions(void **state)
{
    (void)state;
    struct store_tree *tree = new_tree();
    struct store_apply_result result;
    store_apply_result_init(&result);
    assert_int_equal(apply_create(tree, ZK_OP_CREATE, "/d", "x", false, 7, 2, 100, &result, NULL),
                     ZK_OK);
    char big[4000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(apply_set_data(tree, "/d", big, 1, 3, &result), ZK_OK);
    assert_int_equal(result.single.stat.version, 1);
    assert_int_equal(result.single.stat.mzxid, 3);
    assert_int_equal(result.single.stat.mtime_ms, 7);
    assert_int_equal(result.single.stat.data_length, (int)strlen(big));
    /* a large data block is shared by later versions of the node */
    assert_int_equal(apply_create(tree, ZK_OP_CREATE, "/d/c", "", false, 7, 4, 100, &result,
                                  NULL), ZK_OK);
    struct store_node_view view;
    assert_int_equal(lookup(tree, "/d", &view), ZK_OK);
    assert_int_equal(view.stat.data_length, (int)strlen(big));
    assert_memory_equal(view.data.ptr, big, strlen(big));
    assert_int_equal(view.stat.num_children, 1);
    assert_int_equal(apply_set_data(tree, "/nope", "", 1, 5, &result), ZK_OK);
    assert_int_equal(result.err, ZK_NONODE);
    store_apply_result_free(&result);
    store_tree_destroy(tree);
}

struct names {
    int count;
    char seen[8][16];
};

static void collect(void *context, struct jute_bytes name)
{
    struct names *names = context;
    if (names->count < 8) {
        memcpy(names->seen[names->count], name.ptr, (size_t)name.len);
        names->seen[names->count][name.len] = '\0';
    }
    names->count++;
}

static void test_children_and_descendants(void **state)
{
    (void)state;
    struct store_tree *tree = new_tree();
    struct store_apply_result result;
    store_apply_result_init(&result);
    apply_create(tree, ZK_OP_CREATE, "/p", "", false, 0, 2, 1, &result, NULL);
    apply_create(tree, ZK_OP_CREATE, "/p/x", "", false, 0, 3, 1, &result, NULL);
    apply_create(tree, ZK_OP_CREATE, "/p/y", "", false, 0, 4, 1, &result, NULL);
    apply_create(tree, ZK_OP_CREATE, "/p/y/z", "", false, 0, 5, 1, &result, NULL);
    struct store_node_view view;
    const struct store_node *node = NULL;
    int64_t visible;
    assert_int_equal(store_lookup(tree, text("/p"), &view, &visible, &node), ZK_OK);
    struct names names = {0};
    assert_int_equal(store_children_foreach(node, collect, &names), 2);
    assert_int_equal(names.count, 2);
    assert_true((strcmp(names.seen[0], "x") == 0 && strcmp(names.seen[1], "y") == 0) ||
                (strcmp(names.seen[0], "y") == 0 && strcmp(names.seen[1], "x") == 0));
    assert_int_equal(store_descendant_count(node), 3);
    assert_int_equal(store_lookup(tree, text("/"), &view, &visible, &node), ZK_OK);
    assert_int_equal(store_descendant_count(node), 3 + 4); /* + /zookeeper, quota, config, /p */
    /* non-canonical paths never match */
    assert_int_equal(lookup(tree, "/p/", &view), ZK_NONODE);
    assert_int_equal(lookup(tree, "/p//x", &view), ZK_NONODE);
    assert_int_equal(lookup(tree, "p", &view), ZK_NONODE);
    store_apply_result_free(&result);
    store_tree_destroy(tree);
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void test_million_children_under_one_parent(void **state)
{
    (void)state;
    struct store_tree *tree = new_tree();
    struct store_apply_result result;
    store_apply_result_init(&result);
    apply_create(tree, ZK_OP_CREATE, "/big", "", false, 0, 2, 1, &result, NULL);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    char path[64];
    int64_t zxid = 3;
    for (int i = 0; i < MILLION_CHILDREN; i++) {
        snprintf(path, sizeof path, "/big/node-%07d", i);
        assert_int_equal(store_tree_create_node(tree, (const uint8_t *)path, strlen(path),
                                                text("0123456789"), store_open_acl_unsafe, 0,
                                                -1, zxid++, 1, NULL),
                         ZK_OK);
        if (i % 4096 == 0) {
            store_reclaim(tree);
        }
    }
    store_reclaim(tree);
    double create_seconds = seconds_since(&start);
    struct store_node_view view;
    assert_int_equal(lookup(tree, "/big", &view), ZK_OK);
    assert_int_equal(view.stat.num_children, MILLION_CHILDREN);
    assert_int_equal(view.persisted_cversion, MILLION_CHILDREN);
    assert_int_equal(lookup(tree, "/big/node-0999999", &view), ZK_OK);
    assert_int_equal(lookup(tree, "/big/node-0500000", &view), ZK_OK);
    assert_int_equal(lookup(tree, "/big/node-1000000", &view), ZK_NONODE);
    assert_int_equal(atomic_load(&store_tree_counters(tree)->node_count),
                     5 + 1 + MILLION_CHILDREN);
    for (int i = 0; i < MILLION_CHILDREN; i++) {
        snprintf(path, sizeof path, "/big/node-%07d", i);
        assert_int_equal(store_tree_delete_node(tree, (const uint8_t *)path, strlen(path),
                                                zxid++),
                         ZK_OK);
        if (i % 4096 == 0) {
            store_reclaim(tree);
        }
    }
    store_reclaim(tree);
    double total_seconds = seconds_since(&start);
    print_message("1M children: create %.2fs, create+delete %.2fs\n", create_seconds,
                  total_seconds);
    assert_true(total_seconds < MILLION_SECONDS_MAX);
    assert_int_equal(lookup(tree, "/big", &view), ZK_OK);
    assert_int_equal(view.stat.num_children, 0);
    /* cversion as clients see it: 2 * creates - children */
    assert_int_equal(view.stat.cversion, 2 * MILLION_CHILDREN);
    store_apply_result_free(&result);
    store_tree_destroy(tree);
}

static size_t retired_pending(const struct store_tree *tree)
{
    return tree->retired.count - tree->retired.head;
}

static void test_reclamation_waits_for_readers(void **state)
{
    (void)state;
    struct store_tree *tree = new_tree();
    struct store_apply_result result;
    store_apply_result_init(&result);
    struct store_reader *reader = store_reader_register(tree);
    struct store_reader *idle = store_reader_register(tree);
    assert_non_null(reader);
    assert_non_null(idle);
    store_reader_offline(idle); /* an offline reader never holds memory back */
    apply_create(tree, ZK_OP_CREATE, "/r", "first", false, 0, 2, 1, &result, NULL);
    store_reclaim(tree);
    store_reader_quiescent(tree, reader);

    struct store_node_view view;
    assert_int_equal(lookup(tree, "/r", &view), ZK_OK);
    const uint8_t *old_data = view.data.ptr;
    assert_int_equal(apply_set_data(tree, "/r", "second", 1, 3, &result), ZK_OK);
    store_reclaim(tree);
    /* The reader has not passed a quiescent point: the old version stays,
     * and reading it is valid (ASan would flag a use after free). */
    assert_true(retired_pending(tree) > 0);
    assert_memory_equal(old_data, "first", 5);
    store_reclaim(tree);
    assert_true(retired_pending(tree) > 0);
    store_reader_quiescent(tree, reader);
    store_reclaim(tree);
    assert_int_equal(retired_pending(tree), 0);

    /* offline readers hold nothing; coming back online sees the new data */
    store_reader_offline(reader);
    assert_int_equal(apply_set_data(tree, "/r", "third", 2, 4, &result), ZK_OK);
    store_reclaim(tree);
    assert_int_equal(retired_pending(tree), 0);
    store_reader_online(tree, reader);
    assert_int_equal(lookup(tree, "/r", &view), ZK_OK);
    assert_memory_equal(view.data.ptr, "third", 5);
    store_apply_result_free(&result);
    store_tree_destroy(tree);
}

static void test_reader_limit(void **state)
{
    (void)state;
    struct store_tree *tree = new_tree();
    for (int i = 0; i < STORE_READERS_MAX; i++) {
        assert_non_null(store_reader_register(tree));
    }
    assert_null(store_reader_register(tree));
    store_tree_destroy(tree);
}

static void test_ephemerals_and_containers(void **state)
{
    (void)state;
    struct store_tree *tree = new_tree();
    struct store_apply_result result;
    store_apply_result_init(&result);
    apply_create(tree, ZK_OP_CREATE, "/e1", "", true, 0x55, 2, 1, &result, NULL);
    apply_create(tree, ZK_OP_CREATE, "/e2", "", true, 0x55, 3, 1, &result, NULL);
    apply_create(tree, ZK_OP_CREATE, "/e3", "", true, 0x66, 4, 1, &result, NULL);
    struct store_node_view view;
    assert_int_equal(lookup(tree, "/e1", &view), ZK_OK);
    assert_int_equal(view.stat.ephemeral_owner, 0x55);
    assert_int_equal(atomic_load(&store_tree_counters(tree)->ephemeral_count), 3);
    struct store_change_list list;
    store_change_list_init(&list);
    assert_int_equal(store_session_ephemerals(tree, 0x55, text("/"), &list), 2);
    store_change_list_clear(&list);
    assert_int_equal(store_session_ephemerals(tree, 0x55, text("/e2"), &list), 1);
    assert_true(jute_bytes_equal(list.changes[0].path, text("/e2")));
    apply_delete(tree, "/e2", 5, &result, NULL);
    assert_int_equal(atomic_load(&store_tree_counters(tree)->ephemeral_count), 2);
    store_change_list_free(&list);
    store_apply_result_free(&result);
    store_tree_destroy(tree);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_nodes_match_zookeeper),
        cmocka_unit_test(test_config_node_text),
        cmocka_unit_test(test_create_delete_stats_as_zookeeper),
        cmocka_unit_test(test_set_data_and_versions),
        cmocka_unit_test(test_children_and_descendants),
        cmocka_unit_test(test_million_children_under_one_parent),
        cmocka_unit_test(test_reclamation_waits_for_readers),
        cmocka_unit_test(test_reader_limit),
        cmocka_unit_test(test_ephemerals_and_containers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
