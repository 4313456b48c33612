/* One writer creating, updating and deleting nodes (through store_apply,
 * with store_reclaim after each txn) while two readers look nodes up and
 * iterate children without locks. Invariants the readers check:
 *  - a node's data is "v<version>" for the version in the same view;
 *  - a child listed under /c is named n<digits> and its count is bounded;
 *  - views never go backwards in version for a node that still exists
 *    with the same czxid.
 * Run under ThreadSanitizer by the test command (suite 'threads'); under
 * ASan a reader touching freed memory fails the run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jute/records.h"
#include "store/store.h"

#define WRITER_ROUNDS 100000
#define NODES_IN_PLAY 16
#define READERS 2
#define READER_ITERATIONS_MAX 50000000
#define QUIESCENT_EVERY 64
/* Every round the writer also adds one child under /g, and every
 * GROW_BURST rounds deletes them all: /g's table grows, fills with
 * tombstones, shrinks and is rebuilt while readers walk it. */
#define GROW_BURST 1500

struct shared {
    struct store_tree *tree;
    _Atomic bool writer_done;
    _Atomic int64_t reader_failures;
    _Atomic int64_t reader_hits;
    _Atomic int64_t writer_failures;
};

static const struct jute_acl open_acl_items[] = {
    {ZK_PERM_ALL, {{(const uint8_t *)"world", 5}, {(const uint8_t *)"anyone", 6}}}};

/* cmocka's asserts are not for other threads: failures are counted. */
static bool apply_ok(struct store_tree *tree, struct jute_writer *writer)
{
    struct store_apply_result result;
    store_apply_result_init(&result);
    int rc = store_apply(tree, jute_bytes_of(writer->data, (int32_t)writer->size), NULL, &result);
    bool ok = rc == ZK_OK && result.err == ZK_OK;
    store_apply_result_free(&result);
    store_reclaim(tree);
    return ok;
}

static void header(struct jute_writer *writer, int64_t zxid, int32_t type)
{
    jute_writer_reset(writer);
    struct jute_txn_header txn_header = {1, 1, zxid, zxid, type};
    jute_txn_header_encode(writer, &txn_header);
}

static void *writer_main(void *argument)
{
    struct shared *shared = argument;
    struct jute_writer writer;
    jute_writer_init(&writer, 1 << 16);
    int64_t zxid = 10;
    int versions[NODES_IN_PLAY] = {0};
    bool present[NODES_IN_PLAY] = {false};
    char path[64];
    char data[600];
    for (int round = 0; round < WRITER_ROUNDS; round++) {
        int index = (round * 7) % NODES_IN_PLAY;
        snprintf(path, sizeof path, "/c/n%d", index);
        if (!present[index]) {
            header(&writer, zxid++, ZK_OP_CREATE);
            struct jute_create_txn txn = {jute_bytes_cstr(path), jute_bytes_cstr("v0"),
                                          {1, (struct jute_acl *)open_acl_items}, false, -1};
            jute_create_txn_encode(&writer, &txn);
            present[index] = true;
            versions[index] = 0;
        } else if (versions[index] < 5 || round % 3 != 0) {
            versions[index]++;
            /* alternate small (inline) and large (shared block) data */
            int len = snprintf(data, sizeof data, "v%d", versions[index]);
            if (versions[index] % 2) {
                memset(data + len, '.', 400);
                data[len + 400] = '\0';
            }
            header(&writer, zxid++, ZK_OP_SET_DATA);
            struct jute_set_data_txn txn = {jute_bytes_cstr(path), jute_bytes_cstr(data),
                                            versions[index]};
            jute_set_data_txn_encode(&writer, &txn);
        } else {
            header(&writer, zxid++, ZK_OP_DELETE);
            struct jute_delete_txn txn = {jute_bytes_cstr(path)};
            jute_delete_txn_encode(&writer, &txn);
            present[index] = false;
        }
        if (!apply_ok(shared->tree, &writer)) {
            atomic_fetch_add(&shared->writer_failures, 1);
        }
        int burst_index = round % GROW_BURST;
        snprintf(path, sizeof path, "/g/k%d", burst_index);
        header(&writer, zxid++, ZK_OP_CREATE);
        struct jute_create_txn grow = {jute_bytes_cstr(path), jute_bytes_cstr("v0"),
                                       {1, (struct jute_acl *)open_acl_items}, false, -1};
        jute_create_txn_encode(&writer, &grow);
        if (!apply_ok(shared->tree, &writer)) {
            atomic_fetch_add(&shared->writer_failures, 1);
        }
        if (burst_index == GROW_BURST - 1) {
            for (int i = 0; i < GROW_BURST; i++) {
                snprintf(path, sizeof path, "/g/k%d", (i * 7) % GROW_BURST);
                header(&writer, zxid++, ZK_OP_DELETE);
                struct jute_delete_txn shrink = {jute_bytes_cstr(path)};
                jute_delete_txn_encode(&writer, &shrink);
                if (!apply_ok(shared->tree, &writer)) {
                    atomic_fetch_add(&shared->writer_failures, 1);
                }
            }
        }
    }
    jute_writer_free(&writer);
    atomic_store(&shared->writer_done, true);
    return NULL;
}

static bool data_matches_version(const struct store_node_view *view)
{
    char expected[16];
    int len = snprintf(expected, sizeof expected, "v%d", view->stat.version);
    if (view->data.len < len || memcmp(view->data.ptr, expected, (size_t)len) != 0) {
        return false;
    }
    /* odd versions carry 400 dots after the number */
    int dots = view->stat.version % 2 ? 400 : 0;
    if (view->data.len != len + dots) {
        return false;
    }
    for (int i = 0; i < dots; i++) {
        if (view->data.ptr[len + i] != '.') {
            return false;
        }
    }
    return true;
}

struct child_check {
    int count;
    bool bad_name;
};

static void check_child(void *context, struct jute_bytes name)
{
    struct child_check *check = context;
    check->count++;
    if (name.len < 2 || name.ptr[0] != 'n') {
        check->bad_name = true;
    }
}

static void *reader_main(void *argument)
{
    struct shared *shared = argument;
    struct store_reader *reader = store_reader_register(shared->tree);
    if (!reader) {
        atomic_fetch_add(&shared->reader_failures, 1);
        return NULL;
    }
    int64_t last_version[NODES_IN_PLAY];
    int64_t last_czxid[NODES_IN_PLAY];
    for (int i = 0; i < NODES_IN_PLAY; i++) {
        last_version[i] = -1;
        last_czxid[i] = -1;
    }
    char path[64];
    for (int iteration = 0; iteration < READER_ITERATIONS_MAX; iteration++) {
        if (atomic_load(&shared->writer_done) && iteration > 1000) {
            break;
        }
        int index = iteration % NODES_IN_PLAY;
        snprintf(path, sizeof path, "/c/n%d", index);
        struct store_node_view view;
        int64_t visible;
        if (store_lookup(shared->tree, jute_bytes_cstr(path), &view, &visible, NULL) == ZK_OK) {
            atomic_fetch_add(&shared->reader_hits, 1);
            if (!data_matches_version(&view)) {
                atomic_fetch_add(&shared->reader_failures, 1);
            }
            if (view.stat.czxid == last_czxid[index] && view.stat.version < last_version[index]) {
                atomic_fetch_add(&shared->reader_failures, 1);
            }
            last_czxid[index] = view.stat.czxid;
            last_version[index] = view.stat.version;
        }
        if (iteration % 8 == 0) {
            const struct store_node *parent = NULL;
            if (store_lookup(shared->tree, jute_bytes_cstr("/c"), &view, &visible, &parent) ==
                ZK_OK) {
                struct child_check check = {0};
                store_children_foreach(parent, check_child, &check);
                if (check.bad_name || check.count > NODES_IN_PLAY ||
                    view.stat.num_children > NODES_IN_PLAY) {
                    atomic_fetch_add(&shared->reader_failures, 1);
                }
            }
        }
        if (iteration % 16 == 3) {
            const struct store_node *grown = NULL;
            if (store_lookup(shared->tree, jute_bytes_cstr("/g"), &view, &visible, &grown) ==
                ZK_OK) {
                struct child_check check = {0};
                store_children_foreach(grown, check_child, &check);
                if (check.count > GROW_BURST) {
                    atomic_fetch_add(&shared->reader_failures, 1);
                }
            }
            snprintf(path, sizeof path, "/g/k%d", (iteration / 16) % GROW_BURST);
            if (store_lookup(shared->tree, jute_bytes_cstr(path), &view, &visible, NULL) ==
                    ZK_OK &&
                !data_matches_version(&view)) {
                atomic_fetch_add(&shared->reader_failures, 1);
            }
        }
        if (iteration % QUIESCENT_EVERY == 0) {
            store_reader_quiescent(shared->tree, reader);
        }
        if (iteration % 10007 == 0) {
            store_reader_offline(reader);
            store_reader_online(shared->tree, reader);
        }
    }
    store_reader_offline(reader);
    return NULL;
}

static void test_writer_and_readers(void **state)
{
    (void)state;
    struct store_config config = {.jute_maxbuffer_bytes = JUTE_MAXBUFFER_DEFAULT_BYTES,
                                  .config_node_text = ""};
    struct shared shared = {.tree = store_tree_create(&config)};
    atomic_init(&shared.writer_done, false);
    atomic_init(&shared.reader_failures, 0);
    atomic_init(&shared.reader_hits, 0);
    atomic_init(&shared.writer_failures, 0);
    struct jute_writer writer;
    jute_writer_init(&writer, 1 << 16);
    header(&writer, 2, ZK_OP_CREATE);
    struct jute_create_txn parent = {jute_bytes_cstr("/c"), jute_bytes_cstr(""),
                                     {1, (struct jute_acl *)open_acl_items}, false, -1};
    jute_create_txn_encode(&writer, &parent);
    assert_true(apply_ok(shared.tree, &writer));
    header(&writer, 3, ZK_OP_CREATE);
    struct jute_create_txn grow_parent = {jute_bytes_cstr("/g"), jute_bytes_cstr(""),
                                          {1, (struct jute_acl *)open_acl_items}, false, -1};
    jute_create_txn_encode(&writer, &grow_parent);
    assert_true(apply_ok(shared.tree, &writer));
    jute_writer_free(&writer);

    pthread_t readers[READERS];
    for (int i = 0; i < READERS; i++) {
        assert_int_equal(pthread_create(&readers[i], NULL, reader_main, &shared), 0);
    }
    pthread_t writer_thread;
    assert_int_equal(pthread_create(&writer_thread, NULL, writer_main, &shared), 0);
    pthread_join(writer_thread, NULL);
    for (int i = 0; i < READERS; i++) {
        pthread_join(readers[i], NULL);
    }
    print_message("reader hits %lld\n", (long long)atomic_load(&shared.reader_hits));
    assert_int_equal(atomic_load(&shared.reader_failures), 0);
    assert_int_equal(atomic_load(&shared.writer_failures), 0);
    assert_true(atomic_load(&shared.reader_hits) > 0);
    store_reclaim(shared.tree);
    store_tree_destroy(shared.tree);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_and_readers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
