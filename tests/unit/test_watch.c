/* The watch table against ZooKeeper 3.8.0's rules. Cases marked "observed"
 * replay what the real ZooKeeper 3.8.0 (Debian 3.8.0-11+deb12u2) did when
 * driven through the raw protocol (tests/integration/jute_client.py). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/watch.h"
#include "jute/zk_constants.h"

#define EVENTS_MAX 4096
#define PATH_TEXT_MAX 64

struct event {
    uint64_t watcher_id;
    int32_t type;
    char path[PATH_TEXT_MAX];
};

struct recorder {
    struct event events[EVENTS_MAX];
    size_t count;
};

static void record(void *ctx, uint64_t watcher_id, int32_t event_type, struct jute_bytes path)
{
    struct recorder *recorder = ctx;
    assert_true(recorder->count < EVENTS_MAX);
    assert_true(path.len < PATH_TEXT_MAX);
    struct event *event = &recorder->events[recorder->count++];
    event->watcher_id = watcher_id;
    event->type = event_type;
    memcpy(event->path, path.ptr, (size_t)path.len);
    event->path[path.len] = '\0';
}

static struct jute_bytes P(const char *text)
{
    return jute_bytes_of(text, (int32_t)strlen(text));
}

/* Triggers and returns how many events were emitted; events land in *rec. */
static size_t fire(struct watch_table *table, struct recorder *rec, int32_t type, const char *path)
{
    rec->count = 0;
    size_t emitted = watch_trigger(table, type, P(path), record, rec);
    assert_int_equal(emitted, rec->count);
    return emitted;
}

static bool saw(const struct recorder *rec, uint64_t watcher_id, int32_t type, const char *path)
{
    for (size_t i = 0; i < rec->count; i++) {
        if (rec->events[i].watcher_id == watcher_id && rec->events[i].type == type &&
            strcmp(rec->events[i].path, path) == 0) {
            return true;
        }
    }
    return false;
}

static struct watch_table *new_table(size_t watches_max)
{
    struct watch_table *table = watch_table_create(watches_max, 0x1234567890abcdefULL);
    assert_non_null(table);
    return table;
}

enum { W1 = 101, W2 = 202, W3 = 303 };

static void test_data_watch_is_one_shot(void **state)
{
    (void)state;
    struct watch_table *table = new_table(100);
    struct recorder rec;
    assert_int_equal(watch_add(table, P("/a"), WATCH_KIND_DATA, W1), 0);
    assert_int_equal(watch_count_total(table), 1);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/a"), 1);
    assert_true(saw(&rec, W1, ZK_EVENT_NODE_DATA_CHANGED, "/a"));
    assert_int_equal(watch_count_total(table), 0);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/a"), 0);
    watch_table_destroy(table);
}

/* exists on a missing node registers a data watch: NodeCreated fires it;
 * NodeChildrenChanged on that path does not (child manager only). */
static void test_data_watch_events(void **state)
{
    (void)state;
    struct watch_table *table = new_table(100);
    struct recorder rec;
    watch_add(table, P("/a"), WATCH_KIND_DATA, W1);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CHILDREN_CHANGED, "/a"), 0);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CREATED, "/a"), 1);
    assert_true(saw(&rec, W1, ZK_EVENT_NODE_CREATED, "/a"));
    watch_add(table, P("/a"), WATCH_KIND_DATA, W1);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DELETED, "/a"), 1);
    assert_true(saw(&rec, W1, ZK_EVENT_NODE_DELETED, "/a"));
    assert_int_equal(watch_count_total(table), 0);
    /* Unknown or removal event types fire nothing. */
    watch_add(table, P("/a"), WATCH_KIND_DATA, W1);
    assert_int_equal(fire(table, &rec, ZK_EVENT_DATA_WATCH_REMOVED, "/a"), 0);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NONE, "/a"), 0);
    assert_int_equal(watch_count_total(table), 1);
    watch_table_destroy(table);
}

static void test_child_watch_events(void **state)
{
    (void)state;
    struct watch_table *table = new_table(100);
    struct recorder rec;
    watch_add(table, P("/a"), WATCH_KIND_CHILD, W1);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/a"), 0);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CREATED, "/a"), 0);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CREATED, "/a/b"), 0);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CHILDREN_CHANGED, "/a"), 1);
    assert_true(saw(&rec, W1, ZK_EVENT_NODE_CHILDREN_CHANGED, "/a"));
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CHILDREN_CHANGED, "/a"), 0);
    /* A child watch on a deleted node gets NodeDeleted (observed). */
    watch_add(table, P("/a"), WATCH_KIND_CHILD, W1);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DELETED, "/a"), 1);
    assert_true(saw(&rec, W1, ZK_EVENT_NODE_DELETED, "/a"));
    assert_int_equal(watch_count_total(table), 0);
    watch_table_destroy(table);
}

/* Observed S6: D had getData + getChildren on /a/b and getChildren on /a;
 * deleting /a/b sent D one NodeDeleted /a/b, then NodeChildrenChanged /a. */
static void test_delete_sends_one_event_per_watcher(void **state)
{
    (void)state;
    struct watch_table *table = new_table(100);
    struct recorder rec;
    watch_add(table, P("/a/b"), WATCH_KIND_DATA, W1);
    watch_add(table, P("/a/b"), WATCH_KIND_CHILD, W1);
    watch_add(table, P("/a"), WATCH_KIND_CHILD, W1);
    watch_add(table, P("/a/b"), WATCH_KIND_CHILD, W2);
    watch_add(table, P("/a/b"), WATCH_KIND_DATA, W3);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DELETED, "/a/b"), 3);
    assert_true(saw(&rec, W1, ZK_EVENT_NODE_DELETED, "/a/b"));
    assert_true(saw(&rec, W2, ZK_EVENT_NODE_DELETED, "/a/b"));
    assert_true(saw(&rec, W3, ZK_EVENT_NODE_DELETED, "/a/b"));
    /* Both of W1's watches on /a/b were consumed, the one on /a was not. */
    assert_int_equal(watch_count_total(table), 1);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CHILDREN_CHANGED, "/a"), 1);
    assert_true(saw(&rec, W1, ZK_EVENT_NODE_CHILDREN_CHANGED, "/a"));
    assert_int_equal(watch_count_total(table), 0);
    watch_table_destroy(table);
}

static void test_persistent_watch(void **state)
{
    (void)state;
    struct watch_table *table = new_table(100);
    struct recorder rec;
    assert_int_equal(watch_add(table, P("/p"), WATCH_KIND_PERSISTENT, W1), 0);
    assert_int_equal(watch_count_total(table), 2); /* one per manager */
    for (int round = 0; round < 3; round++) {
        assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CREATED, "/p"), 1);
        assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/p"), 1);
        assert_true(saw(&rec, W1, ZK_EVENT_NODE_DATA_CHANGED, "/p"));
        assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CHILDREN_CHANGED, "/p"), 1);
        assert_true(saw(&rec, W1, ZK_EVENT_NODE_CHILDREN_CHANGED, "/p"));
        assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DELETED, "/p"), 1);
        assert_true(saw(&rec, W1, ZK_EVENT_NODE_DELETED, "/p"));
    }
    /* Not recursive: changes below /p are not sent. */
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CREATED, "/p/c"), 0);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/p/c"), 0);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DELETED, "/p/c"), 0);
    assert_int_equal(watch_count_total(table), 2);
    assert_int_equal(watch_recursive_count(table, WATCH_MANAGER_DATA), 0);
    watch_table_destroy(table);
}

/* Observed S5: a recursive watch on "/" got NodeCreated /a, NodeDataChanged
 * /a, NodeCreated /a/b and NodeDeleted /a/b, never NodeChildrenChanged. */
static void test_recursive_watch(void **state)
{
    (void)state;
    struct watch_table *table = new_table(100);
    struct recorder rec;
    assert_int_equal(watch_add(table, P("/"), WATCH_KIND_PERSISTENT_RECURSIVE, W1), 0);
    assert_int_equal(watch_recursive_count(table, WATCH_MANAGER_DATA), 1);
    assert_int_equal(watch_recursive_count(table, WATCH_MANAGER_CHILD), 1);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CREATED, "/a"), 1);
    assert_true(saw(&rec, W1, ZK_EVENT_NODE_CREATED, "/a"));
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CHILDREN_CHANGED, "/"), 0);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/a"), 1);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CREATED, "/a/b/c/d"), 1);
    assert_true(saw(&rec, W1, ZK_EVENT_NODE_CREATED, "/a/b/c/d"));
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CHILDREN_CHANGED, "/a/b/c"), 0);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DELETED, "/a/b/c/d"), 1);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/"), 1);
    assert_int_equal(watch_count_total(table), 2);
    watch_table_destroy(table);
}

/* Ancestors are whole path components: /ab is not below /a. */
static void test_recursive_watch_respects_components(void **state)
{
    (void)state;
    struct watch_table *table = new_table(100);
    struct recorder rec;
    watch_add(table, P("/a"), WATCH_KIND_PERSISTENT_RECURSIVE, W1);
    watch_add(table, P("/a"), WATCH_KIND_DATA, W2);    /* one-shot on the ancestor */
    watch_add(table, P("/a"), WATCH_KIND_PERSISTENT, W3); /* persistent on the ancestor */
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CREATED, "/ab"), 0);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/b/a"), 0);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/a/x"), 1);
    assert_true(saw(&rec, W1, ZK_EVENT_NODE_DATA_CHANGED, "/a/x"));
    /* Non-recursive watches on ancestors neither fire nor get consumed. */
    assert_int_equal(watch_count_of_watcher(table, W2, WATCH_MANAGER_DATA), 1);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/a"), 3);
    assert_int_equal(watch_count_of_watcher(table, W2, WATCH_MANAGER_DATA), 0);
    watch_table_destroy(table);
}

/* A watcher matched at several levels and in both managers gets one event,
 * and its one-shot watch on the path is consumed. */
static void test_one_event_per_watcher_per_change(void **state)
{
    (void)state;
    struct watch_table *table = new_table(100);
    struct recorder rec;
    watch_add(table, P("/"), WATCH_KIND_PERSISTENT_RECURSIVE, W1);
    watch_add(table, P("/a"), WATCH_KIND_PERSISTENT_RECURSIVE, W1);
    watch_add(table, P("/a/b"), WATCH_KIND_DATA, W1);
    watch_add(table, P("/a/b"), WATCH_KIND_CHILD, W1);
    watch_add(table, P("/a/b"), WATCH_KIND_PERSISTENT_RECURSIVE, W2);
    watch_add(table, P("/a/b"), WATCH_KIND_DATA, W3);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/a/b"), 3);
    assert_true(saw(&rec, W1, ZK_EVENT_NODE_DATA_CHANGED, "/a/b"));
    assert_true(saw(&rec, W2, ZK_EVENT_NODE_DATA_CHANGED, "/a/b"));
    assert_true(saw(&rec, W3, ZK_EVENT_NODE_DATA_CHANGED, "/a/b"));
    /* W1's data watch on /a/b is gone, its child watch is not. */
    assert_int_equal(watch_count_of_watcher(table, W1, WATCH_MANAGER_DATA), 2);
    assert_int_equal(watch_count_of_watcher(table, W1, WATCH_MANAGER_CHILD), 3);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DELETED, "/a/b"), 2);
    assert_true(saw(&rec, W1, ZK_EVENT_NODE_DELETED, "/a/b"));
    assert_true(saw(&rec, W2, ZK_EVENT_NODE_DELETED, "/a/b"));
    assert_int_equal(watch_count_of_watcher(table, W1, WATCH_MANAGER_CHILD), 2);
    /* Each change is independent: the same watcher fires again next time. */
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CREATED, "/a/b"), 2);
    watch_table_destroy(table);
}

/* Observed S3: addWatch(/p, PERSISTENT) then getData(/p, watch): the data
 * manager's entry becomes one-shot (the last add wins); the child manager's
 * stays persistent. */
static void test_last_add_sets_mode(void **state)
{
    (void)state;
    struct watch_table *table = new_table(100);
    struct recorder rec;
    watch_add(table, P("/p"), WATCH_KIND_PERSISTENT, W1);
    watch_add(table, P("/p"), WATCH_KIND_DATA, W1);
    assert_int_equal(watch_count_total(table), 2);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/p"), 1);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/p"), 0);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CHILDREN_CHANGED, "/p"), 1);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CHILDREN_CHANGED, "/p"), 1);
    /* And the other way round: a persistent add upgrades a one-shot watch. */
    watch_add(table, P("/q"), WATCH_KIND_DATA, W1);
    watch_add(table, P("/q"), WATCH_KIND_PERSISTENT, W1);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/q"), 1);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/q"), 1);
    watch_table_destroy(table);
}

/* Observed S4: addWatch(/r, RECURSIVE) then getData(/r, watch): the data
 * manager has no recursive watch left, so creating or changing /r/x sends
 * nothing; deleting /r/x still reaches the child manager's recursive watch. */
static void test_recursive_overwritten_by_data_watch(void **state)
{
    (void)state;
    struct watch_table *table = new_table(100);
    struct recorder rec;
    watch_add(table, P("/r"), WATCH_KIND_PERSISTENT_RECURSIVE, W1);
    watch_add(table, P("/r"), WATCH_KIND_DATA, W1);
    assert_int_equal(watch_recursive_count(table, WATCH_MANAGER_DATA), 0);
    assert_int_equal(watch_recursive_count(table, WATCH_MANAGER_CHILD), 1);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CREATED, "/r/x"), 0);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CHILDREN_CHANGED, "/r"), 0);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/r/x"), 0);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DELETED, "/r/x"), 1);
    assert_true(saw(&rec, W1, ZK_EVENT_NODE_DELETED, "/r/x"));
    /* Observed: wchs then said 2 paths, 2 watches (/r and /q in that run);
     * here /r's data one-shot is still there. */
    struct watch_summary summary = watch_summary(table, WATCH_MANAGER_DATA);
    assert_int_equal(summary.watches, 1);
    watch_table_destroy(table);
}

static void test_remove_watcher(void **state)
{
    (void)state;
    struct watch_table *table = new_table(100);
    struct recorder rec;
    watch_add(table, P("/a"), WATCH_KIND_DATA, W1);
    watch_add(table, P("/a"), WATCH_KIND_CHILD, W1);
    watch_add(table, P("/"), WATCH_KIND_PERSISTENT_RECURSIVE, W1);
    watch_add(table, P("/b"), WATCH_KIND_PERSISTENT, W1);
    watch_add(table, P("/a"), WATCH_KIND_DATA, W2);
    assert_int_equal(watch_count_total(table), 7);
    watch_remove_watcher(table, W1);
    assert_int_equal(watch_count_total(table), 1);
    assert_int_equal(watch_recursive_count(table, WATCH_MANAGER_DATA), 0);
    assert_int_equal(watch_recursive_count(table, WATCH_MANAGER_CHILD), 0);
    assert_int_equal(watch_count_of_watcher(table, W1, WATCH_MANAGER_DATA), 0);
    struct watch_summary summary = watch_summary(table, WATCH_MANAGER_DATA);
    assert_int_equal(summary.connections, 1);
    assert_int_equal(summary.paths, 1);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DELETED, "/a"), 1);
    assert_true(saw(&rec, W2, ZK_EVENT_NODE_DELETED, "/a"));
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_CREATED, "/b"), 0);
    watch_remove_watcher(table, W1); /* unknown watcher: nothing happens */
    watch_remove_watcher(table, W2);
    summary = watch_summary(table, WATCH_MANAGER_DATA);
    assert_int_equal(summary.connections, 0);
    assert_int_equal(summary.paths, 0);
    assert_int_equal(summary.watches, 0);
    watch_table_destroy(table);
}

/* Observed S2: A had exists(/q, watch); B had no watch at all. checkWatches
 * answered OK to both for Data and Any, NOWATCHER for Children. (Types 4 and
 * 5 were answered MARSHALLINGERROR by the request layer, before DataTree.) */
static void test_contains_matches_zookeeper_3_8_0(void **state)
{
    (void)state;
    struct watch_table *table = new_table(100);
    watch_add(table, P("/q"), WATCH_KIND_DATA, W1);
    for (uint64_t who = W1; who <= W2; who += W2 - W1) {
        assert_false(watch_contains(table, P("/q"), who, ZK_WATCHER_CHILDREN));
        assert_true(watch_contains(table, P("/q"), who, ZK_WATCHER_DATA));
        assert_true(watch_contains(table, P("/q"), who, ZK_WATCHER_ANY));
        assert_false(watch_contains(table, P("/q"), who, ZK_WATCHER_PERSISTENT));
        assert_false(watch_contains(table, P("/q"), who, ZK_WATCHER_PERSISTENT_RECURSIVE));
        assert_false(watch_contains(table, P("/q"), who, 0));
    }
    assert_false(watch_contains(table, P("/nothing"), W1, ZK_WATCHER_ANY));
    /* A recursive watch on an ancestor does not make the child path "watched". */
    watch_add(table, P("/r"), WATCH_KIND_PERSISTENT_RECURSIVE, W1);
    assert_true(watch_contains(table, P("/r"), W2, ZK_WATCHER_CHILDREN));
    assert_false(watch_contains(table, P("/r/x"), W1, ZK_WATCHER_ANY));
    /* Observed S3: after addWatch(/p, PERSISTENT), Children, Data, Any: OK. */
    watch_add(table, P("/p"), WATCH_KIND_PERSISTENT, W1);
    assert_true(watch_contains(table, P("/p"), W1, ZK_WATCHER_CHILDREN));
    assert_true(watch_contains(table, P("/p"), W1, ZK_WATCHER_DATA));
    assert_true(watch_contains(table, P("/p"), W1, ZK_WATCHER_ANY));
    watch_table_destroy(table);
}

/* Observed S7: /p had W1's persistent child watch only (its data entry had
 * fired as one-shot). remove type 4, 5: not handled; Data: NOWATCHER; Any:
 * OK; then Children: NOWATCHER. */
static void test_remove_by_type(void **state)
{
    (void)state;
    struct watch_table *table = new_table(100);
    struct recorder rec;
    watch_add(table, P("/p"), WATCH_KIND_PERSISTENT, W1);
    watch_add(table, P("/p"), WATCH_KIND_DATA, W1);
    fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/p");
    assert_false(watch_remove(table, P("/p"), W1, ZK_WATCHER_PERSISTENT));
    assert_false(watch_remove(table, P("/p"), W1, ZK_WATCHER_PERSISTENT_RECURSIVE));
    assert_false(watch_remove(table, P("/p"), W1, ZK_WATCHER_DATA));
    assert_false(watch_remove(table, P("/p"), W2, ZK_WATCHER_ANY)); /* not W2's */
    assert_true(watch_remove(table, P("/p"), W1, ZK_WATCHER_ANY));
    assert_false(watch_remove(table, P("/p"), W1, ZK_WATCHER_CHILDREN));
    assert_int_equal(watch_count_total(table), 0);

    /* Data removes only the data manager's half of a persistent watch. */
    watch_add(table, P("/x"), WATCH_KIND_PERSISTENT_RECURSIVE, W1);
    assert_true(watch_remove(table, P("/x"), W1, ZK_WATCHER_DATA));
    assert_int_equal(watch_recursive_count(table, WATCH_MANAGER_DATA), 0);
    assert_int_equal(watch_recursive_count(table, WATCH_MANAGER_CHILD), 1);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/x/y"), 0);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DELETED, "/x/y"), 1);
    assert_true(watch_remove(table, P("/x"), W1, ZK_WATCHER_CHILDREN));
    assert_int_equal(watch_recursive_count(table, WATCH_MANAGER_CHILD), 0);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DELETED, "/x/y"), 0);
    assert_int_equal(watch_count_total(table), 0);
    watch_table_destroy(table);
}

static void test_watches_max(void **state)
{
    (void)state;
    struct watch_table *table = new_table(3);
    struct recorder rec;
    assert_int_equal(watch_add(table, P("/a"), WATCH_KIND_PERSISTENT, W1), 0);
    assert_int_equal(watch_add(table, P("/b"), WATCH_KIND_PERSISTENT, W1), WATCH_ERR_FULL);
    assert_int_equal(watch_count_total(table), 2);
    assert_int_equal(watch_summary(table, WATCH_MANAGER_DATA).paths, 1);
    /* Re-adding what is there costs nothing, even when full. */
    assert_int_equal(watch_add(table, P("/c"), WATCH_KIND_DATA, W1), 0);
    assert_int_equal(watch_add(table, P("/c"), WATCH_KIND_DATA, W2), WATCH_ERR_FULL);
    assert_int_equal(watch_add(table, P("/c"), WATCH_KIND_DATA, W1), 0);
    assert_int_equal(watch_add(table, P("/a"), WATCH_KIND_PERSISTENT_RECURSIVE, W1), 0);
    assert_int_equal(watch_count_total(table), 3);
    /* A refused add left no trace: W2 is not listed anywhere. */
    assert_int_equal(watch_summary(table, WATCH_MANAGER_DATA).connections, 1);
    /* Firing frees room. */
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/c"), 1);
    assert_int_equal(watch_add(table, P("/d"), WATCH_KIND_CHILD, W2), 0);
    assert_int_equal(watch_add(table, P(""), WATCH_KIND_CHILD, W2), WATCH_ERR_INVALID);
    assert_int_equal(watch_add(table, P("/e"), (enum watch_kind)9, W2), WATCH_ERR_INVALID);
    watch_table_destroy(table);
}

/* The table owns its copies of the paths. */
static void test_paths_are_copied(void **state)
{
    (void)state;
    struct watch_table *table = new_table(100);
    struct recorder rec;
    char buffer[16];
    strcpy(buffer, "/copied");
    watch_add(table, jute_bytes_of(buffer, 7), WATCH_KIND_DATA, W1);
    memset(buffer, 'x', sizeof buffer);
    assert_int_equal(fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/copied"), 1);
    watch_table_destroy(table);
}

/* Observed S1: after its only watch fired, the connection is still counted
 * ("1 connections watching 0 paths") and listed by wchc with no paths, until
 * it closes. */
struct listing {
    char text[4096];
    size_t len;
};

static void list_visit(void *ctx, uint64_t watcher_id, struct jute_bytes path, bool first)
{
    struct listing *listing = ctx;
    int written = snprintf(listing->text + listing->len, sizeof listing->text - listing->len,
                           "%s%llu:%.*s;", first ? "|" : "", (unsigned long long)watcher_id,
                           (int)path.len, path.len > 0 ? (const char *)path.ptr : "");
    assert_true(written > 0);
    listing->len += (size_t)written;
}

static void test_summary_and_listings(void **state)
{
    (void)state;
    struct watch_table *table = new_table(100);
    struct recorder rec;
    watch_add(table, P("/w"), WATCH_KIND_DATA, W1);
    struct watch_summary summary = watch_summary(table, WATCH_MANAGER_DATA);
    assert_int_equal(summary.connections, 1);
    assert_int_equal(summary.paths, 1);
    assert_int_equal(summary.watches, 1);
    fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/w");
    summary = watch_summary(table, WATCH_MANAGER_DATA);
    assert_int_equal(summary.connections, 1);
    assert_int_equal(summary.paths, 0);
    assert_int_equal(summary.watches, 0);
    struct listing listing = {.len = 0};
    watch_foreach_by_watcher(table, WATCH_MANAGER_DATA, list_visit, &listing);
    assert_string_equal(listing.text, "|101:;");
    /* Child-only watchers are not in the data manager's listings. */
    watch_add(table, P("/c"), WATCH_KIND_CHILD, W2);
    listing.len = 0;
    watch_foreach_by_watcher(table, WATCH_MANAGER_DATA, list_visit, &listing);
    assert_string_equal(listing.text, "|101:;");
    listing.len = 0;
    watch_foreach_by_path(table, WATCH_MANAGER_CHILD, list_visit, &listing);
    assert_string_equal(listing.text, "|202:/c;");

    watch_add(table, P("/a"), WATCH_KIND_DATA, W1);
    watch_add(table, P("/b"), WATCH_KIND_DATA, W1);
    watch_add(table, P("/a"), WATCH_KIND_DATA, W2);
    summary = watch_summary(table, WATCH_MANAGER_DATA);
    assert_int_equal(summary.connections, 2);
    assert_int_equal(summary.paths, 2);
    assert_int_equal(summary.watches, 3);
    assert_int_equal(watch_count_of_watcher(table, W1, WATCH_MANAGER_DATA), 2);
    /* By path: each path once, its watchers consecutively. */
    listing.len = 0;
    watch_foreach_by_path(table, WATCH_MANAGER_DATA, list_visit, &listing);
    assert_int_equal(listing.len, strlen("|101:/a;202:/a;|101:/b;"));
    assert_non_null(strstr(listing.text, "|101:/b;"));
    assert_true(strstr(listing.text, "|101:/a;202:/a;") != NULL ||
                strstr(listing.text, "|202:/a;101:/a;") != NULL);
    /* By watcher. */
    listing.len = 0;
    watch_foreach_by_watcher(table, WATCH_MANAGER_DATA, list_visit, &listing);
    assert_non_null(strstr(listing.text, "|202:/a;"));
    assert_true(strstr(listing.text, "|101:/a;101:/b;") != NULL ||
                strstr(listing.text, "|101:/b;101:/a;") != NULL);
    watch_table_destroy(table);
}

/* Many watchers on one path each get one event; many paths stay
 * independent; the hash tables grow and stay correct. */
static void test_scale(void **state)
{
    (void)state;
    enum { WATCHERS = 2000, PATHS = 20000 };
    struct watch_table *table = new_table(WATCHERS + 2 * PATHS);
    struct recorder *rec = calloc(1, sizeof(*rec));
    assert_non_null(rec);
    for (uint64_t id = 1000001; id <= 1000000 + WATCHERS; id++) {
        assert_int_equal(watch_add(table, P("/hot"), WATCH_KIND_DATA, id), 0);
    }
    char path[32];
    for (int i = 0; i < PATHS; i++) {
        snprintf(path, sizeof path, "/n/%d", i);
        /* ids 0..6, apart from the /hot watchers' 1000001.. */
        assert_int_equal(watch_add(table, P(path), WATCH_KIND_CHILD, (uint64_t)(i % 7)), 0);
        assert_int_equal(watch_add(table, P(path), WATCH_KIND_DATA, (uint64_t)(i % 5)), 0);
    }
    assert_int_equal(watch_count_total(table), WATCHERS + 2 * PATHS);
    rec->count = 0;
    assert_int_equal(watch_trigger(table, ZK_EVENT_NODE_DATA_CHANGED, P("/hot"), record, rec),
                     WATCHERS);
    for (uint64_t id = 1000001; id <= 1000000 + WATCHERS; id++) {
        assert_int_equal(watch_count_of_watcher(table, id, WATCH_MANAGER_DATA), 0);
    }
    assert_int_equal(watch_count_of_watcher(table, 1, WATCH_MANAGER_DATA), PATHS / 5);
    for (int i = 0; i < PATHS; i++) {
        snprintf(path, sizeof path, "/n/%d", i);
        rec->count = 0;
        assert_int_equal(watch_trigger(table, ZK_EVENT_NODE_DELETED, P(path), record, rec),
                         (i % 7) == (i % 5) ? 1 : 2);
    }
    assert_int_equal(watch_count_total(table), 0);
    assert_int_equal(watch_summary(table, WATCH_MANAGER_DATA).paths, 0);
    free(rec);
    watch_table_destroy(table);
}


/* Without recursive watches in a manager a change costs one lookup there,
 * however deep the path; with one, the walk visits every ancestor. */
static void test_ancestor_walk_only_with_recursive_watches(void **state)
{
    (void)state;
    struct watch_table *table = new_table(100);
    struct recorder rec;
    watch_add(table, P("/a/b/c/d"), WATCH_KIND_DATA, W1);
    watch_add(table, P("/a"), WATCH_KIND_CHILD, W1);
    uint64_t before = watch_trigger_lookups(table);
    fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/a/b/c/d/e");
    assert_int_equal(watch_trigger_lookups(table) - before, 1);
    before = watch_trigger_lookups(table);
    fire(table, &rec, ZK_EVENT_NODE_DELETED, "/a/b/c/d/e");
    assert_int_equal(watch_trigger_lookups(table) - before, 2); /* data + child */
    watch_add(table, P("/x"), WATCH_KIND_PERSISTENT_RECURSIVE, W2);
    before = watch_trigger_lookups(table);
    fire(table, &rec, ZK_EVENT_NODE_DATA_CHANGED, "/a/b/c/d/e");
    /* /a/b/c/d/e, /a/b/c/d, /a/b/c, /a/b, /a, / */
    assert_int_equal(watch_trigger_lookups(table) - before, 6);
    /* Removing the data half leaves only the child manager walking. */
    assert_true(watch_remove(table, P("/x"), W2, ZK_WATCHER_DATA));
    before = watch_trigger_lookups(table);
    fire(table, &rec, ZK_EVENT_NODE_DELETED, "/a/b");
    assert_int_equal(watch_trigger_lookups(table) - before, 1 + 3);
    watch_table_destroy(table);
}

/* ---- a literal model of ZooKeeper 3.8.0's two WatchManagers --------------
 * Written as directly as possible from WatchManager/WatcherModeManager/
 * DataTree (flat arrays, linear scans), then driven with the table through
 * the same random operations: every event set, count and answer must agree. */

#define MODEL_ENTRIES_MAX 256
#define MODEL_WATCHERS 3
static const char *const model_paths[] = {"/", "/a", "/a/b", "/a/b/c", "/b", "/ab", "/a/c"};
#define MODEL_PATH_COUNT (sizeof model_paths / sizeof model_paths[0])

enum { MODE_STANDARD, MODE_PERSISTENT, MODE_RECURSIVE };

struct model_entry {
    int path; /* index into model_paths */
    uint64_t watcher;
    int mode;
};

struct model_manager {
    struct model_entry entries[MODEL_ENTRIES_MAX];
    size_t count;
    bool listed[MODEL_WATCHERS + 1];
};

struct model {
    struct model_manager managers[WATCH_MANAGER_COUNT];
};

static int model_find(const struct model_manager *manager, int path, uint64_t watcher)
{
    for (size_t i = 0; i < manager->count; i++) {
        if (manager->entries[i].path == path && manager->entries[i].watcher == watcher) {
            return (int)i;
        }
    }
    return -1;
}

static void model_erase(struct model_manager *manager, int index)
{
    manager->entries[index] = manager->entries[--manager->count];
}

static void model_add_one(struct model_manager *manager, int path, uint64_t watcher, int mode)
{
    int index = model_find(manager, path, watcher);
    if (index < 0) {
        assert_true(manager->count < MODEL_ENTRIES_MAX);
        index = (int)manager->count++;
        manager->entries[index].path = path;
        manager->entries[index].watcher = watcher;
    }
    manager->entries[index].mode = mode;
    manager->listed[watcher] = true;
}

static void model_add(struct model *model, int path, enum watch_kind kind, uint64_t watcher)
{
    switch (kind) {
    case WATCH_KIND_DATA:
        model_add_one(&model->managers[WATCH_MANAGER_DATA], path, watcher, MODE_STANDARD);
        break;
    case WATCH_KIND_CHILD:
        model_add_one(&model->managers[WATCH_MANAGER_CHILD], path, watcher, MODE_STANDARD);
        break;
    default: {
        int mode = kind == WATCH_KIND_PERSISTENT ? MODE_PERSISTENT : MODE_RECURSIVE;
        model_add_one(&model->managers[WATCH_MANAGER_CHILD], path, watcher, mode);
        model_add_one(&model->managers[WATCH_MANAGER_DATA], path, watcher, mode);
        break;
    }
    }
}

static int model_path_index(const char *path)
{
    for (size_t i = 0; i < MODEL_PATH_COUNT; i++) {
        if (strcmp(model_paths[i], path) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* PathParentIterator on strings. */
static bool model_parent(char *path)
{
    if (strcmp(path, "/") == 0) {
        return false;
    }
    char *slash = strrchr(path, '/');
    if (slash == path) {
        path[1] = '\0';
    } else {
        *slash = '\0';
    }
    return true;
}

/* One WatchManager.triggerWatch; adds the watchers to fire to `fired`. */
static void model_trigger_manager(struct model_manager *manager, int32_t type,
                                  const char *event_path, bool fired[MODEL_WATCHERS + 1])
{
    bool any_recursive = false;
    for (size_t i = 0; i < manager->count; i++) {
        any_recursive |= manager->entries[i].mode == MODE_RECURSIVE;
    }
    char local[PATH_TEXT_MAX];
    strcpy(local, event_path);
    int level = 0;
    do {
        int path = model_path_index(local);
        for (size_t i = 0; path >= 0 && i < manager->count;) {
            struct model_entry *entry = &manager->entries[i];
            if (entry->path != path) {
                i++;
                continue;
            }
            if (entry->mode == MODE_RECURSIVE) {
                if (type != ZK_EVENT_NODE_CHILDREN_CHANGED) {
                    fired[entry->watcher] = true;
                }
            } else if (level == 0) {
                fired[entry->watcher] = true;
                if (entry->mode != MODE_PERSISTENT) {
                    model_erase(manager, (int)i);
                    continue;
                }
            }
            i++;
        }
        level++;
    } while (any_recursive && model_parent(local));
}

static void model_trigger(struct model *model, int32_t type, const char *path,
                          bool fired[MODEL_WATCHERS + 1])
{
    memset(fired, 0, sizeof(bool) * (MODEL_WATCHERS + 1));
    if (type == ZK_EVENT_NODE_CREATED || type == ZK_EVENT_NODE_DATA_CHANGED ||
        type == ZK_EVENT_NODE_DELETED) {
        model_trigger_manager(&model->managers[WATCH_MANAGER_DATA], type, path, fired);
    }
    if (type == ZK_EVENT_NODE_DELETED || type == ZK_EVENT_NODE_CHILDREN_CHANGED) {
        model_trigger_manager(&model->managers[WATCH_MANAGER_CHILD], type, path, fired);
    }
}

static bool model_contains_manager(const struct model_manager *manager, int path, uint64_t watcher)
{
    for (size_t i = 0; i < manager->count; i++) {
        if (manager->entries[i].path == path) {
            return true; /* "at the leaf node, all watcher types match" */
        }
    }
    int index = model_find(manager, path, watcher);
    return index >= 0 && manager->entries[index].mode == MODE_RECURSIVE;
}

static bool model_contains(const struct model *model, int path, uint64_t watcher, int32_t type)
{
    const struct model_manager *data = &model->managers[WATCH_MANAGER_DATA];
    const struct model_manager *child = &model->managers[WATCH_MANAGER_CHILD];
    switch (type) {
    case ZK_WATCHER_CHILDREN:
        return model_contains_manager(child, path, watcher);
    case ZK_WATCHER_DATA:
        return model_contains_manager(data, path, watcher);
    case ZK_WATCHER_ANY:
        return model_contains_manager(child, path, watcher) ||
               model_contains_manager(data, path, watcher);
    default:
        return false;
    }
}

static bool model_remove_manager(struct model_manager *manager, int path, uint64_t watcher)
{
    int index = model_find(manager, path, watcher);
    if (index < 0) {
        return false;
    }
    model_erase(manager, index);
    return true;
}

static bool model_remove(struct model *model, int path, uint64_t watcher, int32_t type)
{
    struct model_manager *data = &model->managers[WATCH_MANAGER_DATA];
    struct model_manager *child = &model->managers[WATCH_MANAGER_CHILD];
    switch (type) {
    case ZK_WATCHER_CHILDREN:
        return model_remove_manager(child, path, watcher);
    case ZK_WATCHER_DATA:
        return model_remove_manager(data, path, watcher);
    case ZK_WATCHER_ANY: {
        bool removed_child = model_remove_manager(child, path, watcher);
        bool removed_data = model_remove_manager(data, path, watcher);
        return removed_child || removed_data;
    }
    default:
        return false;
    }
}

static void model_remove_watcher(struct model *model, uint64_t watcher)
{
    for (int m = 0; m < WATCH_MANAGER_COUNT; m++) {
        struct model_manager *manager = &model->managers[m];
        for (size_t i = 0; i < manager->count;) {
            if (manager->entries[i].watcher == watcher) {
                model_erase(manager, (int)i);
            } else {
                i++;
            }
        }
        manager->listed[watcher] = false;
    }
}

static void model_compare_counts(const struct model *model, const struct watch_table *table)
{
    size_t total = 0;
    for (int m = 0; m < WATCH_MANAGER_COUNT; m++) {
        const struct model_manager *manager = &model->managers[m];
        struct watch_summary summary = watch_summary(table, (enum watch_manager)m);
        size_t listed = 0, paths = 0, recursive = 0;
        for (uint64_t w = 1; w <= MODEL_WATCHERS; w++) {
            listed += manager->listed[w];
            size_t mine = 0;
            for (size_t i = 0; i < manager->count; i++) {
                mine += manager->entries[i].watcher == w;
            }
            assert_int_equal(watch_count_of_watcher(table, w, (enum watch_manager)m), mine);
        }
        for (size_t p = 0; p < MODEL_PATH_COUNT; p++) {
            bool watched = false;
            for (size_t i = 0; i < manager->count; i++) {
                watched |= manager->entries[i].path == (int)p;
            }
            paths += watched;
        }
        for (size_t i = 0; i < manager->count; i++) {
            recursive += manager->entries[i].mode == MODE_RECURSIVE;
        }
        assert_int_equal(summary.connections, listed);
        assert_int_equal(summary.paths, paths);
        assert_int_equal(summary.watches, manager->count);
        assert_int_equal(watch_recursive_count(table, (enum watch_manager)m), recursive);
        total += manager->count;
    }
    assert_int_equal(watch_count_total(table), total);
}

static uint64_t model_random_state = 0x2545f4914f6cdd1dULL;

static uint32_t model_random(uint32_t bound)
{
    model_random_state = model_random_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(model_random_state >> 33) % bound;
}

static void test_matches_literal_model(void **state)
{
    (void)state;
    static struct model model;
    memset(&model, 0, sizeof model);
    struct watch_table *table = new_table(1000);
    struct recorder *rec = calloc(1, sizeof(*rec));
    assert_non_null(rec);
    static const int32_t event_types[] = {ZK_EVENT_NODE_CREATED, ZK_EVENT_NODE_DELETED,
                                          ZK_EVENT_NODE_DATA_CHANGED,
                                          ZK_EVENT_NODE_CHILDREN_CHANGED};
    for (int step = 0; step < 20000; step++) {
        int path = (int)model_random(MODEL_PATH_COUNT);
        uint64_t watcher = 1 + model_random(MODEL_WATCHERS);
        uint32_t op = model_random(100);
        if (op < 45) {
            /* Persistent kinds are rarer, as in real traffic. */
            uint32_t pick = model_random(10);
            enum watch_kind kind = pick < 4   ? WATCH_KIND_DATA
                                   : pick < 8 ? WATCH_KIND_CHILD
                                   : pick < 9 ? WATCH_KIND_PERSISTENT
                                              : WATCH_KIND_PERSISTENT_RECURSIVE;
            model_add(&model, path, kind, watcher);
            assert_int_equal(watch_add(table, P(model_paths[path]), kind, watcher), 0);
        } else if (op < 80) {
            int32_t type = event_types[model_random(4)];
            bool expected[MODEL_WATCHERS + 1];
            model_trigger(&model, type, model_paths[path], expected);
            fire(table, rec, type, model_paths[path]);
            bool got[MODEL_WATCHERS + 1] = {false};
            for (size_t i = 0; i < rec->count; i++) {
                uint64_t who = rec->events[i].watcher_id;
                assert_true(who >= 1 && who <= MODEL_WATCHERS);
                assert_false(got[who]); /* once per change */
                got[who] = true;
                assert_int_equal(rec->events[i].type, type);
                assert_string_equal(rec->events[i].path, model_paths[path]);
            }
            assert_memory_equal(got, expected, sizeof got);
        } else if (op < 90) {
            int32_t type = (int32_t)model_random(6);
            assert_int_equal(watch_remove(table, P(model_paths[path]), watcher, type),
                             model_remove(&model, path, watcher, type));
        } else if (op < 92) {
            model_remove_watcher(&model, watcher);
            watch_remove_watcher(table, watcher);
        } else {
            for (int32_t type = 0; type <= 5; type++) {
                assert_int_equal(watch_contains(table, P(model_paths[path]), watcher, type),
                                 model_contains(&model, path, watcher, type));
            }
        }
        model_compare_counts(&model, table);
    }
    free(rec);
    watch_table_destroy(table);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_watch_is_one_shot),
        cmocka_unit_test(test_data_watch_events),
        cmocka_unit_test(test_child_watch_events),
        cmocka_unit_test(test_delete_sends_one_event_per_watcher),
        cmocka_unit_test(test_persistent_watch),
        cmocka_unit_test(test_recursive_watch),
        cmocka_unit_test(test_recursive_watch_respects_components),
        cmocka_unit_test(test_one_event_per_watcher_per_change),
        cmocka_unit_test(test_last_add_sets_mode),
        cmocka_unit_test(test_recursive_overwritten_by_data_watch),
        cmocka_unit_test(test_remove_watcher),
        cmocka_unit_test(test_contains_matches_zookeeper_3_8_0),
        cmocka_unit_test(test_remove_by_type),
        cmocka_unit_test(test_watches_max),
        cmocka_unit_test(test_paths_are_copied),
        cmocka_unit_test(test_summary_and_listings),
        cmocka_unit_test(test_scale),
        cmocka_unit_test(test_matches_literal_model),
        cmocka_unit_test(test_ancestor_walk_only_with_recursive_watches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
