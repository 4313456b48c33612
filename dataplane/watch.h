/*
 * The watch table of one shard: which connection watches which path, and
 * what a change fires. Semantics are Apache ZooKeeper 3.8.0's (the Debian
 * 3.8.0-11+deb12u2 build used as the reference), read from
 * server/watch/WatchManager.java, WatcherModeManager.java,
 * PathParentIterator.java and DataTree.java:
 *
 * - Two managers, as ZooKeeper keeps them: WATCH_MANAGER_DATA (getData and
 *   exists, also on a missing node) and WATCH_MANAGER_CHILD (getChildren).
 *   addWatch (PERSISTENT or PERSISTENT_RECURSIVE) puts the watch in both.
 * - A (watcher, path) pair has one mode per manager, and the last add wins:
 *   a getData watch on a path that already holds a persistent watch turns
 *   the data manager's entry back into a one-shot watch (ZooKeeper 3.8.0's
 *   WatcherModeManager does exactly this; later versions changed it).
 * - A change fires, per manager, the watches on its path (one-shot ones are
 *   removed, persistent ones kept) and, only when the manager holds at least
 *   one recursive watch, the recursive watches on the path and every
 *   ancestor, except for NodeChildrenChanged, which recursive watches never
 *   receive. Each watcher gets at most one event per change (the "supress"
 *   set of DataTree.deleteNode).
 *
 * A watcher is a connection, named by a uint64_t the shard chooses. The table
 * copies every path it keeps. No locks, no I/O: the shard thread is its only
 * user. Memory is bounded by `watches_max` memberships (a persistent watch
 * counts twice, once per manager, as ZooKeeper's two managers count it).
 *
 * ACLs (CVE-2024-23944, patched into the reference build): ZooKeeper sends a
 * fired event to a connection only if that connection has READ under an ACL
 * DataTree passes along (checked against the connection's auth infos; an
 * empty ACL or a super user passes): the new node's ACL for NodeCreated, the
 * node's ACL (captured before removal) for NodeDataChanged and NodeDeleted,
 * the parent's ACL for the parent's NodeChildrenChanged. The watch is
 * consumed either way, and the connection still counts as fired for the
 * once-per-change rule. This table knows nothing about ACLs: the shard's emit
 * callback does that check and silently drops the event, which gives exactly
 * the same result. (Events sent at once by setWatches are not checked.)
 *
 * Memory: paths, entries and memberships are bounded by watches_max. Each
 * watcher also has one small record from its first watch until
 * watch_remove_watcher (ZooKeeper lists such a connection in wchs/wchc even
 * after all its watches fired), so call watch_remove_watcher when a
 * connection closes.
 */
#ifndef CHEETAH_DATAPLANE_WATCH_H
#define CHEETAH_DATAPLANE_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jute/jute.h"

struct watch_table;

/* What a request asks for; maps to managers and modes as DataTree does. */
enum watch_kind {
    WATCH_KIND_DATA = 0,                 /* getData / exists: data manager, one-shot */
    WATCH_KIND_CHILD = 1,                /* getChildren: child manager, one-shot */
    WATCH_KIND_PERSISTENT = 2,           /* addWatch mode 0: both managers */
    WATCH_KIND_PERSISTENT_RECURSIVE = 3, /* addWatch mode 1: both managers */
};

enum watch_manager {
    WATCH_MANAGER_DATA = 0,
    WATCH_MANAGER_CHILD = 1,
};
#define WATCH_MANAGER_COUNT 2

/* Errors returned (negated errno values). */
#define WATCH_ERR_FULL (-28)    /* -ENOSPC: watches_max would be exceeded */
#define WATCH_ERR_NOMEM (-12)   /* -ENOMEM: allocation failed */
#define WATCH_ERR_INVALID (-22) /* -EINVAL: empty path or bad kind */

/* Called once per watcher a change fires, with the event's type and path.
 * It must not call back into the table (queue the frame and return). */
typedef void (*watch_emit_fn)(void *ctx, uint64_t watcher_id, int32_t event_type,
                              struct jute_bytes path);

/* `watches_max` >= 1 bounds the memberships held. `hash_seed` keys the hash
 * of client-chosen paths (pass random bits so that no client can aim
 * collisions). NULL on allocation failure. */
struct watch_table *watch_table_create(size_t watches_max, uint64_t hash_seed);
void watch_table_destroy(struct watch_table *table);

/* Registers a watch as getData/exists (DATA), getChildren (CHILD), addWatch
 * or setWatches do. Adding a watch that is already there (same manager, path,
 * watcher) only sets its mode. Returns 0, WATCH_ERR_FULL when the new
 * memberships would exceed watches_max (the table is then unchanged),
 * WATCH_ERR_NOMEM or WATCH_ERR_INVALID. */
int watch_add(struct watch_table *table, struct jute_bytes path, enum watch_kind kind,
              uint64_t watcher_id);

/* Applies one change the store reports, as DataTree + WatchManager do:
 *   NodeCreated (1), NodeDataChanged (3) on `path`: the data manager fires.
 *   NodeDeleted (2) on `path`: the data manager, then the child manager (a
 *     watcher fired by the first is not sent a second event).
 *   NodeChildrenChanged (4) on `path` (the parent of a created or deleted
 *     node, "/" for a top-level node; the caller reports it as its own change
 *     after the created/deleted one): the child manager fires.
 * Other event types fire nothing. Calls `emit` once per watcher fired (the
 * order among watchers is unspecified, as ZooKeeper's HashSet order is) and
 * returns how many it called. Cost: one hash lookup for the path (plus one
 * per ancestor when the manager holds recursive watches) and the entries on
 * the paths visited; never a scan of the table. */
size_t watch_trigger(struct watch_table *table, int32_t event_type, struct jute_bytes path,
                     watch_emit_fn emit, void *ctx);

/* The connection closed: drops all its watches in both managers. */
void watch_remove_watcher(struct watch_table *table, uint64_t watcher_id);

/* checkWatches: DataTree.containsWatcher with WatcherType Children (1), Data
 * (2), Any (3). Any other type answers false here; but note that the real
 * ZooKeeper 3.8.0 never gets that far: the server's WatcherType.fromInt only
 * knows 1..3, so checkWatches and removeWatches with type 4, 5 (or anything
 * else) are answered MARSHALLINGERROR (-5) (observed). The request layer must
 * check the type before calling. ZooKeeper 3.8.0's quirk, kept here: at the
 * path itself any watcher in the manager counts, so a path that some
 * connection watches answers true for every connection (observed). */
bool watch_contains(const struct watch_table *table, struct jute_bytes path, uint64_t watcher_id,
                    int32_t watcher_type);

/* removeWatches: DataTree.removeWatch with the same WatcherType rules (Any
 * removes from both managers). True when something was removed. */
bool watch_remove(struct watch_table *table, struct jute_bytes path, uint64_t watcher_id,
                  int32_t watcher_type);

/* Counts, for wchs ("N connections watching M paths\nTotal watches:T", which
 * ZooKeeper prints for the data manager only) and mntr's zk_watch_count
 * (data + child watches). */
struct watch_summary {
    size_t connections; /* watchers that have added a watch to the manager and
                           not closed (ZooKeeper's watch2Paths keys) */
    size_t paths;       /* paths with at least one watch in the manager */
    size_t watches;     /* (path, watcher) memberships in the manager */
};
struct watch_summary watch_summary(const struct watch_table *table, enum watch_manager manager);
size_t watch_count_total(const struct watch_table *table);
/* How many paths `watcher_id` watches in `manager` (0 if none). */
size_t watch_count_of_watcher(const struct watch_table *table, uint64_t watcher_id,
                              enum watch_manager manager);
/* Number of recursive watches held by `manager` (what decides the walk). */
size_t watch_recursive_count(const struct watch_table *table, enum watch_manager manager);
/* Path lookups made by watch_trigger since creation (a cost metric: one per
 * manager fired, plus one per ancestor while recursive watches exist). */
uint64_t watch_trigger_lookups(const struct watch_table *table);

/* wchc: for every watcher listed in `manager`, its paths: `visit` is called
 * once per (watcher, path), all of one watcher's paths consecutively, `first`
 * true on the first path of each watcher. A watcher whose watches have all
 * fired or been removed is still listed by ZooKeeper ("0x<session>" with no
 * paths under it): it gets one call with an empty path (len 0, ptr NULL). */
typedef void (*watch_visit_fn)(void *ctx, uint64_t watcher_id, struct jute_bytes path, bool first);
void watch_foreach_by_watcher(const struct watch_table *table, enum watch_manager manager,
                              watch_visit_fn visit, void *ctx);
/* wchp: for every path with watches in `manager`, its watchers: one call per
 * (path, watcher), all of one path's watchers consecutively, `first` true on
 * the first watcher of each path. */
void watch_foreach_by_path(const struct watch_table *table, enum watch_manager manager,
                           watch_visit_fn visit, void *ctx);

#endif
