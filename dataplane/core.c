#include "dataplane/core.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/dynamic_config.h"
#include "dataplane/fourlw.h"
#include "dataplane/log.h"
#include "dataplane/log_writer.h"
#include "dataplane/snapshotter.h"
#include "consensus/quorum_config.h"
#include "consensus/quorum_wire.h"
#include "store/epoch.h"
#include "store/recovery.h"
#include "store/snapshot.h"
#include "store/truncate.h"
#include "dataplane/shard.h"
#include "dataplane/test_hooks.h"

/* Requests taken from one shard per turn, so one busy shard cannot starve
 * the others. */
#define CORE_REQUESTS_PER_SHARD_TURN_MAX 1024u
/* Longest sleep when nothing is due (ticks cut it shorter). */
#define CORE_IDLE_WAIT_MS_MAX 500
/* Four-letter words gathering from every shard at once; more wait. */
#define CORE_GATHERS_MAX 64
/* Old trees waiting for every shard to move to the new one (a TRUNC or SNAP
 * each); more replacements than this before the shards answer stop. */
#define CORE_RETIRING_TREES_MAX 8
/* A snapshot a leader sends is written to disk by the core (at most this
 * big) before the tree is built from it. */
#define CORE_SNAP_FILE_BYTES_MAX (4096ull * 1024u * 1024u)

struct retiring_tree {
    struct store_tree *tree;
    uint64_t generation;
    uint32_t shards_left;
};

/* A four-letter word collecting one part from every shard (the core is the
 * only thread every shard talks to, so it relays). */
struct gather {
    bool active;
    uint64_t id;
    uint32_t asker_shard;
    uint64_t connection_id;
    int32_t command;
    struct gather_part *parts; /* one per shard */
    uint32_t parts_received;
    struct session_dump *dump;
};

/* Messages a shard's ring had no room for, in order. */
struct delivery_backlog {
    struct shard_message **messages;
    size_t count;
    size_t capacity;
    bool needs_wake;
};

struct core {
    struct store_tree *tree;
    struct sequencer *sequencer;
    struct shard **shards;
    uint32_t shard_count;
    struct delivery_backlog *backlogs;
    int wake_fd;
    _Atomic bool sleeping;
    _Atomic bool stop_requested;
    _Atomic int64_t last_zxid;
    _Atomic int64_t session_count;
    /* The tree other threads read counters from. A replaced tree (TRUNC,
     * SNAP) is freed only once every shard has moved on, and shards are the
     * only threads that read through this pointer, so a pointer loaded
     * before the swap stays valid while the shard that loaded it uses it. */
    _Atomic(struct store_tree *) published_tree;
    int64_t next_tick_elapsed_ms;
    struct gather gathers[CORE_GATHERS_MAX];
    uint64_t next_gather_id;
    /* GATHER requests that found every slot taken, oldest first. */
    struct core_request **waiting_gathers;
    size_t waiting_gather_count;
    size_t waiting_gather_capacity;
    /* Storage: the log, snapshots, and what the core last heard from them. */
    struct core_storage storage;
    int64_t durable_seen_zxid;
    bool log_failed;
    int64_t logged_since_roll;
    int64_t roll_after; /* snapCount/2 + randRoll, as SyncRequestProcessor */
    uint64_t random_state;
    bool snapshot_wanted;
    /* The quorum peer and, in an ensemble, the connections to the others. */
    struct peer *peer;
    struct peer_net *net;
    struct core_ensemble ensemble; /* strings point into the buffers below */
    char snap_dir[4096];
    char log_dir[4096];
    char config_text[QUORUM_CONFIG_TEXT_BYTES_MAX]; /* the active configuration */
    char static_config_path[4096];
    struct election_member members[ELECTION_MEMBERS_MAX];
    struct peer_net_member *net_members;
    int64_t next_peer_tick_ms;
    int64_t nolog_durable_zxid; /* no log writer: durable once handed over */
    pthread_mutex_t status_lock;
    struct peer_status status;
    uint64_t tree_generation;
    struct retiring_tree retiring[CORE_RETIRING_TREES_MAX];
};

static int64_t clock_ms(clockid_t clock);

/* xorshift64*: the roll point needs spread, not quality. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static void choose_roll_point(struct core *core)
{
    int64_t snap_count = core->storage.snap_count < 2 ? 2 : core->storage.snap_count;
    int64_t half = snap_count / 2;
    core->roll_after = half + (int64_t)(next_random(&core->random_state) % (uint64_t)half);
}

/* The sequencer's log_append: into the log writer's ring. After about
 * snapCount transactions the next one starts a new file and a snapshot is
 * asked for (SyncRequestProcessor: roll always, snapshot unless one is still
 * running). */
static void append_to_log(void *context, struct log_record *record)
{
    struct core *core = context;
    if (!core->storage.log) {
        /* No disk (unit tests): durable once handed over, reported after
         * the request that made it, never from inside the peer's call. */
        core->nolog_durable_zxid = record->zxid;
        return;
    }
    if (core->storage.snapshotter && ++core->logged_since_roll > core->roll_after) {
        record->roll_before = true;
        core->logged_since_roll = 0;
        choose_roll_point(core);
        core->snapshot_wanted = true;
    }
    log_writer_append(core->storage.log, record);
}

/* The log writer's ring must hold every transaction the sequencer can have
 * pending, so handing one over never fails. */
_Static_assert(LOG_WRITER_RING_ENTRIES >= SEQUENCER_PENDING_MAX,
               "the log ring must hold the whole pending queue");

bool core_request_snapshot(struct core *core)
{
    if (!core->storage.snapshotter) {
        return false;
    }
    if (snapshotter_busy(core->storage.snapshotter)) {
        log_warn("Too busy to snap, skipping"); /* ZooKeeper's words */
        return false;
    }
    struct sequencer_counters counters;
    sequencer_counters_get(core->sequencer, &counters);
    size_t session_count = 0;
    struct store_snapshot_session *sessions =
        sequencer_sessions_copy(core->sequencer, &session_count);
    struct store_snapshot_job *job =
        store_snapshot_job_begin(core->tree, counters.last_zxid, sessions, session_count);
    free(sessions);
    if (!job) {
        log_warn("snapshot at zxid 0x%" PRIx64 " skipped: out of memory",
                 (uint64_t)counters.last_zxid);
        return false;
    }
    if (!snapshotter_request(core->storage.snapshotter, job)) {
        store_snapshot_job_free(job);
        return false;
    }
    return true;
}

static void take_wanted_snapshot(struct core *core)
{
    if (!core->snapshot_wanted) {
        return;
    }
    core->snapshot_wanted = false;
    core_request_snapshot(core); /* when busy, skipped; the log rolled anyway */
}

/* Commits what the log made durable; notices a failed log once. */
static void poll_log(struct core *core)
{
    if (!core->storage.log || core->log_failed) {
        return;
    }
    int64_t durable = log_writer_durable_zxid(core->storage.log);
    if (durable > core->durable_seen_zxid) {
        core->durable_seen_zxid = durable;
        peer_log_durable(core->peer, durable, clock_ms(CLOCK_MONOTONIC));
    }
    char why[512];
    if (log_writer_failed(core->storage.log, why, sizeof(why))) {
        core->log_failed = true;
        log_error("the transaction log failed (%s); Cheetah stops taking writes and shuts down, "
                  "as ZooKeeper does when its log fails: nothing after zxid 0x%" PRIx64
                  " was acknowledged. Fix the disk (free space, I/O errors in dmesg) and restart: "
                  "recovery keeps every acknowledged write", why, (uint64_t)durable);
        if (core->storage.fatal) {
            core->storage.fatal(core->storage.fatal_context, why);
        }
    }
}

static bool log_has_news(struct core *core)
{
    return core->storage.log && !core->log_failed &&
           (log_writer_durable_zxid(core->storage.log) > core->durable_seen_zxid ||
            log_writer_failed(core->storage.log, NULL, 0));
}

static int64_t clock_ms(clockid_t clock)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void backlog_push(struct delivery_backlog *backlog, struct shard_message *message)
{
    if (backlog->count == backlog->capacity) {
        size_t capacity = backlog->capacity ? backlog->capacity * 2 : 1024;
        struct shard_message **grown = realloc(backlog->messages, capacity * sizeof(*grown));
        assert(grown != NULL);
        backlog->messages = grown;
        backlog->capacity = capacity;
    }
    backlog->messages[backlog->count++] = message;
}

static void deliver_to_shard(void *context, uint32_t shard_index, struct shard_message *message)
{
    struct core *core = context;
    struct delivery_backlog *backlog = &core->backlogs[shard_index];
    backlog->needs_wake = true;
    uint32_t delay_us = test_hooks_get()->commit_delivery_delay_us;
    if (delay_us > 0 && message->kind == SHARD_MESSAGE_COMMIT && shard_index == 0) {
        usleep(delay_us);
    }
    /* Order per shard is commit order: once anything waits in the backlog,
     * everything after it waits too. */
    if (backlog->count == 0 && shard_deliver(core->shards[shard_index], message)) {
        return;
    }
    backlog_push(backlog, message);
}

/* Moves backlogged messages into the rings and wakes the shards that got any. */
static bool flush_deliveries(struct core *core)
{
    bool backlog_left = false;
    for (uint32_t index = 0; index < core->shard_count; index++) {
        struct delivery_backlog *backlog = &core->backlogs[index];
        size_t moved = 0;
        while (moved < backlog->count && shard_deliver(core->shards[index], backlog->messages[moved])) {
            moved++;
        }
        if (moved > 0) {
            memmove(backlog->messages, backlog->messages + moved,
                    (backlog->count - moved) * sizeof(*backlog->messages));
            backlog->count -= moved;
            backlog->needs_wake = true;
        }
        backlog_left |= backlog->count > 0;
        if (backlog->needs_wake) {
            backlog->needs_wake = false;
            shard_wake(core->shards[index]);
        }
    }
    return backlog_left;
}

static bool start_gather(struct core *core, struct core_request *request,
                         int64_t now_elapsed_ms)
{
    struct gather *gather = NULL;
    for (size_t index = 0; index < CORE_GATHERS_MAX && !gather; index++) {
        if (!core->gathers[index].active) {
            gather = &core->gathers[index];
        }
    }
    if (!gather) {
        return false;
    }
    gather->parts = calloc(core->shard_count, sizeof(*gather->parts));
    assert(gather->parts != NULL);
    gather->active = true;
    gather->id = ++core->next_gather_id;
    gather->asker_shard = request->shard_index;
    gather->connection_id = request->connection_id;
    gather->command = request->gather_command;
    gather->parts_received = 0;
    gather->dump = request->gather_command == FOURLW_DUMP
                       ? sequencer_session_dump(core->sequencer, now_elapsed_ms)
                       : NULL;
    for (uint32_t shard = 0; shard < core->shard_count; shard++) {
        struct shard_message *ask = calloc(1, sizeof(*ask));
        assert(ask != NULL);
        ask->kind = SHARD_MESSAGE_GATHER;
        ask->gather_id = gather->id;
        ask->gather_command = gather->command;
        deliver_to_shard(core, shard, ask);
    }
    return true;
}

static void finish_part(struct core *core, struct core_request *request)
{
    for (size_t index = 0; index < CORE_GATHERS_MAX; index++) {
        struct gather *gather = &core->gathers[index];
        if (!gather->active || gather->id != request->gather_id) {
            continue;
        }
        assert(request->shard_index < core->shard_count);
        gather->parts[request->shard_index] = request->part;
        request->part.data = NULL; /* moved */
        if (++gather->parts_received < core->shard_count) {
            return;
        }
        struct shard_message *answer = calloc(1, sizeof(*answer));
        assert(answer != NULL);
        answer->kind = SHARD_MESSAGE_GATHERED;
        answer->connection_id = gather->connection_id;
        answer->gather_command = gather->command;
        answer->parts = gather->parts;
        answer->part_count = core->shard_count;
        answer->dump = gather->dump;
        deliver_to_shard(core, gather->asker_shard, answer);
        memset(gather, 0, sizeof(*gather));
        return;
    }
}

static void tree_switched(struct core *core, uint64_t generation);

/* Gathers are relayed here; everything else goes to the sequencer. */
static void handle_request(struct core *core, struct core_request *request, int64_t now_ms,
                           int64_t now_elapsed_ms)
{
    switch (request->kind) {
    case CORE_REQUEST_GATHER:
        if (core->waiting_gather_count > 0 || !start_gather(core, request, now_elapsed_ms)) {
            if (core->waiting_gather_count == core->waiting_gather_capacity) {
                size_t capacity = core->waiting_gather_capacity ? core->waiting_gather_capacity * 2 : 16;
                struct core_request **grown =
                    realloc(core->waiting_gathers, capacity * sizeof(*grown));
                assert(grown != NULL);
                core->waiting_gathers = grown;
                core->waiting_gather_capacity = capacity;
            }
            core->waiting_gathers[core->waiting_gather_count++] = request;
            return;
        }
        core_request_free(request);
        return;
    case CORE_REQUEST_GATHER_PART:
        finish_part(core, request);
        core_request_free(request);
        /* A slot may be free now for a waiting gather. */
        while (core->waiting_gather_count > 0 &&
               start_gather(core, core->waiting_gathers[0], now_elapsed_ms)) {
            core_request_free(core->waiting_gathers[0]);
            memmove(core->waiting_gathers, core->waiting_gathers + 1,
                    (core->waiting_gather_count - 1) * sizeof(*core->waiting_gathers));
            core->waiting_gather_count--;
        }
        return;
    case CORE_REQUEST_TREE_SWITCHED:
        tree_switched(core, request->tree_generation);
        core_request_free(request);
        return;
    default:
        sequencer_handle(core->sequencer, request, now_ms, now_elapsed_ms);
        if (core->nolog_durable_zxid != 0) {
            int64_t durable = core->nolog_durable_zxid;
            core->nolog_durable_zxid = 0;
            peer_log_durable(core->peer, durable, now_elapsed_ms);
        }
    }
}

static size_t drain_requests(struct core *core)
{
    size_t handled = 0;
    int64_t now_ms = clock_ms(CLOCK_REALTIME);
    int64_t now_elapsed_ms = clock_ms(CLOCK_MONOTONIC);
    if (core->log_failed) {
        return 0; /* no more writes; the server is stopping */
    }
    for (uint32_t index = 0; index < core->shard_count; index++) {
        for (size_t taken = 0; taken < CORE_REQUESTS_PER_SHARD_TURN_MAX; taken++) {
            if (!peer_accepting(core->peer)) {
                return handled; /* the log is behind: requests wait in the rings */
            }
            struct core_request *request = shard_take_core_request(core->shards[index]);
            if (!request) {
                break;
            }
            handle_request(core, request, now_ms, now_elapsed_ms);
            handled++;
        }
    }
    return handled;
}

static bool any_request_waiting(struct core *core)
{
    for (uint32_t index = 0; index < core->shard_count; index++) {
        if (shard_has_core_requests(core->shards[index])) {
            return true;
        }
    }
    return false;
}

static int64_t run_tick_if_due(struct core *core)
{
    int64_t now_elapsed_ms = clock_ms(CLOCK_MONOTONIC);
    if (core->peer && now_elapsed_ms >= core->next_peer_tick_ms) {
        core->next_peer_tick_ms = peer_tick(core->peer, clock_ms(CLOCK_REALTIME), now_elapsed_ms);
    }
    if (now_elapsed_ms >= core->next_tick_elapsed_ms) {
        int64_t until_ms = sequencer_tick(core->sequencer, clock_ms(CLOCK_REALTIME), now_elapsed_ms);
        if (until_ms > CORE_IDLE_WAIT_MS_MAX) {
            until_ms = CORE_IDLE_WAIT_MS_MAX;
        }
        core->next_tick_elapsed_ms = now_elapsed_ms + (until_ms > 0 ? until_ms : 1);
    }
    int64_t wait_ms = core->next_tick_elapsed_ms - now_elapsed_ms;
    if (core->peer && core->next_peer_tick_ms - now_elapsed_ms < wait_ms) {
        wait_ms = core->next_peer_tick_ms - now_elapsed_ms;
    }
    return wait_ms < 0 ? 0 : wait_ms;
}

static void publish_counters(struct core *core)
{
    struct sequencer_counters counters;
    sequencer_counters_get(core->sequencer, &counters);
    atomic_store_explicit(&core->last_zxid, counters.last_zxid, memory_order_relaxed);
    atomic_store_explicit(&core->session_count, counters.session_count, memory_order_relaxed);
    if (core->peer) {
        struct peer_status status;
        peer_status_get(core->peer, &status);
        pthread_mutex_lock(&core->status_lock);
        core->status = status;
        pthread_mutex_unlock(&core->status_lock);
    }
}

/* Sleeps until a shard wakes us or the next tick. The flag is raised before
 * the rings are checked again, and a shard checks the flag after pushing,
 * so a request pushed in between is never left waiting. */
static void wait_for_work(struct core *core, int64_t wait_ms, bool backlog_left)
{
    if (backlog_left) {
        wait_ms = 1; /* a shard is behind; retry soon */
    }
    atomic_store(&core->sleeping, true);
    bool can_take = !core->log_failed && sequencer_accepting(core->sequencer);
    if (!(can_take && any_request_waiting(core)) && !log_has_news(core) &&
        !atomic_load(&core->stop_requested)) {
        struct pollfd poll_fds[2] = {{.fd = core->wake_fd, .events = POLLIN},
                                     {.fd = core->net ? peer_net_wait_fd(core->net) : -1,
                                      .events = POLLIN}};
        int ready = poll(poll_fds, core->net ? 2 : 1, (int)wait_ms);
        if (ready > 0 && (poll_fds[0].revents & POLLIN)) {
            uint64_t count;
            ssize_t got = read(core->wake_fd, &count, sizeof(count));
            (void)got; /* EAGAIN is fine: someone else consumed it */
        }
        if (ready > 0 && core->net && (poll_fds[1].revents & POLLIN)) {
            uint64_t count;
            ssize_t got = read(poll_fds[1].fd, &count, sizeof(count));
            (void)got;
        }
    }
    atomic_store(&core->sleeping, false);
}

/* ---- the quorum peer's I/O (consensus/peer.h: struct peer_io) -------------- */

static void io_election_send(void *context, int64_t to_id,
                             const struct election_notification *notification)
{
    struct core *core = context;
    /* The notification carries the whole configuration text. */
    struct jute_writer out;
    jute_writer_init(&out, QUORUM_CONFIG_TEXT_BYTES_MAX + 64u);
    quorum_notification_encode(&out, notification, core->config_text);
    if (out.ok && out.size > 4) {
        /* peer_net takes the body; the frame's length prefix is its job. */
        peer_net_election_send(core->net, to_id, out.data + 4, out.size - 4);
    }
    jute_writer_free(&out);
}

static void io_quorum_listen(void *context, bool listen)
{
    struct core *core = context;
    char error[512];
    if (peer_net_quorum_listen(core->net, listen, error, sizeof(error)) != 0) {
        log_error("%s", error);
    }
}

static uint64_t io_quorum_connect(void *context, int64_t leader_id)
{
    struct core *core = context;
    return peer_net_quorum_connect(core->net, leader_id);
}

static bool io_quorum_send(void *context, uint64_t connection_id, const uint8_t *bytes,
                           size_t byte_count)
{
    struct core *core = context;
    const char *hold = test_hooks_get()->hold_proposals_file;
    if (hold[0] && byte_count >= 4 && (int32_t)jute_load_be32(bytes) == QUORUM_PROPOSAL &&
        access(hold, F_OK) == 0) {
        return true; /* test hook: logged here, never sent */
    }
    return peer_net_quorum_send(core->net, connection_id, bytes, byte_count);
}

static void io_quorum_close(void *context, uint64_t connection_id)
{
    struct core *core = context;
    peer_net_quorum_close(core->net, connection_id);
}

static bool io_epoch_write(void *context, bool accepted, int64_t epoch)
{
    struct core *core = context;
    char error[512];
    const char *name = accepted ? STORE_EPOCH_ACCEPTED : STORE_EPOCH_CURRENT;
    if (store_epoch_write(core->snap_dir, name, epoch, error, sizeof(error)) != 0) {
        log_error("cannot write %s: %s", name, error);
        return false;
    }
    return true;
}

static void io_log_message(void *context, const char *line)
{
    (void)context;
    log_info("%s", line);
}

static bool copy_text(char *out, size_t out_bytes, const char *text)
{
    int written = snprintf(out, out_bytes, "%s", text ? text : "");
    return written >= 0 && (size_t)written < out_bytes;
}

/* A reconfig became active: election notifications carry the new text,
 * and peer_net learns the members' addresses (a joining server may be new
 * to it). Members that left stay known to peer_net: nothing is closed. */
static void io_config_activated(void *context, const struct quorum_config *config,
                                const char *text)
{
    struct core *core = context;
    pthread_mutex_lock(&core->status_lock); /* `conf` reads it from other threads */
    bool kept = copy_text(core->config_text, sizeof(core->config_text), text);
    pthread_mutex_unlock(&core->status_lock);
    if (!kept) {
        log_error("reconfig: the configuration text is too long to keep");
    }
    /* QuorumPeer.processReconfig -> initConfigInZKDatabase: a configuration
     * that did not come as a transaction (the first leader's, NEWLEADER's)
     * is written to /zookeeper/config here. */
    int rc = store_tree_set_config_node(core->tree, text, config->version,
                                        clock_ms(CLOCK_REALTIME));
    if (rc != ZK_OK) {
        log_error("reconfig: /zookeeper/config cannot take configuration 0x%" PRIx64 " (%d)",
                  (uint64_t)config->version, rc);
    }
    /* QuorumPeer.setQuorumVerifier(qv, writeToDisk): a restart comes back
     * with this configuration. ZooKeeper drops clientPort from zoo.cfg once
     * this server's own line carries its client address. */
    if (core->static_config_path[0] != '\0' && core->ensemble.store_config.reconfig_enabled) {
        const struct quorum_server *self = quorum_config_find(config, core->ensemble.my_id);
        char error[1024];
        if (dynamic_config_persist(core->static_config_path, text, config->version,
                                   self != NULL && self->has_client, error,
                                   sizeof(error)) != 0) {
            log_error("reconfig: configuration 0x%" PRIx64 " is active but not saved: %s",
                      (uint64_t)config->version, error);
        } else {
            log_info("reconfig: configuration 0x%" PRIx64 " saved in %s.dynamic.%" PRIx64,
                     (uint64_t)config->version, core->static_config_path,
                     (uint64_t)config->version);
        }
    }
    if (!core->net) {
        return;
    }
    struct peer_net_member *members = calloc(ELECTION_MEMBERS_MAX, sizeof(*members));
    assert(members != NULL);
    size_t count = 0;
    for (size_t index = 0; index < config->server_count; index++) {
        const struct quorum_server *server = &config->servers[index];
        members[count].id = server->id;
        snprintf(members[count].host, sizeof(members[count].host), "%s", server->host);
        members[count].quorum_port = server->quorum_port;
        members[count].election_port = server->election_port;
        count++;
    }
    char error[256];
    if (peer_net_update_members(core->net, members, count, error, sizeof(error)) != 0) {
        log_error("reconfig: the peer connections cannot take configuration 0x%" PRIx64
                  ": %s (servers it adds are not reached until a restart)",
                  (uint64_t)config->version, error);
    }
    free(members);
}

static void io_fatal(void *context, const char *why)
{
    struct core *core = context;
    log_error("%s", why);
    if (core->storage.fatal) {
        core->storage.fatal(core->storage.fatal_context, why);
    }
}

/* Stops the log writer and the snapshot thread (both idle: the peer only
 * replaces the tree between roles, once the log has caught up). */
static void storage_pause(struct core *core)
{
    if (core->storage.snapshotter) {
        snapshotter_wait_idle(core->storage.snapshotter, SNAPSHOTTER_IDLE_WAIT_MS * 60);
        snapshotter_destroy(core->storage.snapshotter);
        core->storage.snapshotter = NULL;
    }
    if (core->storage.log) {
        log_writer_destroy(core->storage.log);
        core->storage.log = NULL;
    }
}

/* A new log writer (its first record starts a new file) and snapshot
 * thread on `tree`. */
static bool storage_resume(struct core *core, struct store_tree *tree)
{
    char error[512];
    core->storage.log = log_writer_create(&core->ensemble.log_config, error, sizeof(error));
    if (!core->storage.log) {
        log_error("cannot restart the transaction log: %s", error);
        return false;
    }
    core->durable_seen_zxid = 0;
    struct snapshotter_config snapshotter_config = core->ensemble.snapshotter_config;
    snapshotter_config.tree = tree;
    core->storage.snapshotter = snapshotter_create(&snapshotter_config, error, sizeof(error));
    if (!core->storage.snapshotter) {
        log_error("cannot restart the snapshot thread: %s", error);
        return false;
    }
    return true;
}

/* Hands the shards `tree`; the old one is freed once they all moved. */
static void replace_tree(struct core *core, struct store_tree *tree,
                         const struct store_snapshot_session *sessions, size_t session_count)
{
    struct store_tree *old = core->tree;
    sequencer_replace_tree(core->sequencer, tree, sessions, session_count,
                           clock_ms(CLOCK_MONOTONIC));
    core->tree = tree;
    atomic_store_explicit(&core->published_tree, tree, memory_order_release);
    uint64_t generation = ++core->tree_generation;
    struct retiring_tree *slot = NULL;
    for (size_t index = 0; index < CORE_RETIRING_TREES_MAX && !slot; index++) {
        if (!core->retiring[index].tree) {
            slot = &core->retiring[index];
        }
    }
    assert(slot != NULL); /* each needs the shards to answer; they do within a turn */
    slot->tree = old;
    slot->generation = generation;
    slot->shards_left = core->shard_count;
    for (uint32_t shard = 0; shard < core->shard_count; shard++) {
        struct shard_message *message = calloc(1, sizeof(*message));
        assert(message != NULL);
        message->kind = SHARD_MESSAGE_TREE;
        message->tree = tree;
        message->tree_generation = generation;
        deliver_to_shard(core, shard, message);
    }
}

static void tree_switched(struct core *core, uint64_t generation)
{
    for (size_t index = 0; index < CORE_RETIRING_TREES_MAX; index++) {
        struct retiring_tree *slot = &core->retiring[index];
        if (slot->tree && slot->generation == generation) {
            assert(slot->shards_left > 0);
            if (--slot->shards_left == 0) {
                store_tree_destroy(slot->tree);
                memset(slot, 0, sizeof(*slot));
            }
            return;
        }
    }
}

/* Builds a tree from what the disk holds (the newest snapshot and the logs
 * after it). NULL with a log line on failure. */
static struct store_tree *tree_from_disk(struct core *core, struct store_recovery_result *result)
{
    struct store_tree *tree = store_tree_create(&core->ensemble.store_config);
    if (!tree) {
        return NULL;
    }
    struct store_recovery_options options = {
        .snap_dir = core->snap_dir,
        .log_dir = core->log_dir,
        .jute_maxbuffer_bytes = core->ensemble.store_config.jute_maxbuffer_bytes,
        .log = NULL,
    };
    char reason[1024];
    if (store_recover(tree, &options, result, reason, sizeof(reason)) != 0) {
        log_warn("rebuilding the tree from %s failed: %s", core->snap_dir, reason);
        store_tree_destroy(tree);
        return NULL;
    }
    return tree;
}

static bool wipe_data(struct core *core)
{
    char error[512];
    struct store_removed_files removed;
    if (store_snapshots_remove_after(core->snap_dir, -1, &removed, error, sizeof(error)) != 0 ||
        store_logs_remove_all(core->log_dir, &removed, error, sizeof(error)) != 0) {
        log_error("cannot clear the data directory: %s", error);
        return false;
    }
    return true;
}

static int64_t io_truncate(void *context, int64_t zxid)
{
    struct core *core = context;
    storage_pause(core);
    char error[512];
    struct store_removed_files removed;
    struct store_truncate_result truncated;
    if (store_log_truncate(core->log_dir, zxid, &truncated, error, sizeof(error)) != 0 ||
        store_snapshots_remove_after(core->snap_dir, zxid, &removed, error, sizeof(error)) != 0) {
        log_error("TRUNC to 0x%" PRIx64 ": %s", (uint64_t)zxid, error);
        return -1;
    }
    struct store_recovery_result recovered;
    memset(&recovered, 0, sizeof(recovered));
    struct store_tree *tree = tree_from_disk(core, &recovered);
    int64_t kept_zxid = tree ? recovered.last_zxid : -1;
    if (!tree || kept_zxid != zxid) {
        /* A snapshot held transactions after zxid, or the logs no longer
         * reach back: start over empty; the leader sends its whole tree. */
        if (tree) {
            store_tree_destroy(tree);
            store_recovery_result_free(&recovered);
        }
        log_warn("cannot truncate to 0x%" PRIx64 " (the data on disk reaches 0x%" PRIx64
                 "): clearing it and syncing again from the leader's snapshot",
                 (uint64_t)zxid, (uint64_t)kept_zxid);
        if (!wipe_data(core)) {
            return -1;
        }
        memset(&recovered, 0, sizeof(recovered));
        tree = tree_from_disk(core, &recovered);
        if (!tree) {
            return -1;
        }
        kept_zxid = recovered.last_zxid;
    }
    replace_tree(core, tree, recovered.sessions, recovered.session_count);
    store_recovery_result_free(&recovered);
    log_info("truncated the log to 0x%" PRIx64 " as the leader asked (TRUNC)", (uint64_t)kept_zxid);
    return storage_resume(core, tree) ? kept_zxid : -1;
}

/* Writes `bytes` to dir/name through a .tmp file, fsync'd, renamed, with
 * the directory fsync'd. */
static bool write_file_durably(const char *dir, const char *name, const uint8_t *bytes,
                               size_t byte_count)
{
    char path[4200];
    char temporary[4208];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(temporary, sizeof(temporary), "%s.tmp", path);
    int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_error("cannot create %s: %s", temporary, strerror(errno));
        return false;
    }
    size_t written = 0;
    while (written < byte_count) {
        ssize_t chunk = write(fd, bytes + written, byte_count - written);
        if (chunk < 0 && errno == EINTR) {
            continue;
        }
        if (chunk <= 0) {
            log_error("cannot write %s: %s", temporary, strerror(errno));
            close(fd);
            unlink(temporary);
            return false;
        }
        written += (size_t)chunk;
    }
    bool ok = fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    ok = ok && rename(temporary, path) == 0;
    if (!ok) {
        log_error("cannot save %s: %s", path, strerror(errno));
        unlink(temporary);
        return false;
    }
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        fsync(dir_fd);
        close(dir_fd);
    }
    return true;
}

static bool io_install_snapshot(void *context, const uint8_t *stream, size_t stream_bytes,
                                int64_t zxid)
{
    struct core *core = context;
    storage_pause(core);
    struct jute_writer file;
    jute_writer_init(&file, CORE_SNAP_FILE_BYTES_MAX);
    bool ok = peer_snapshot_file_from_stream(stream, stream_bytes, &file);
    char name[STORE_SNAPSHOT_NAME_BYTES];
    store_snapshot_name(zxid, name, sizeof(name));
    char error[512] = "the stream is too short";
    /* The logs belong to the history before the snapshot: a new log starts
     * after it, so a restart replays nothing from another history. */
    struct store_removed_files removed;
    /* The snapshot is durable before anything older goes: a crash in
     * between leaves a directory that still recovers. */
    ok = ok && write_file_durably(core->snap_dir, name, file.data, file.size) &&
         store_snapshots_remove_after(core->snap_dir, zxid, &removed, error, sizeof(error)) == 0 &&
         store_logs_remove_all(core->log_dir, &removed, error, sizeof(error)) == 0;
    if (!ok) {
        log_error("SNAP at 0x%" PRIx64 ": %s", (uint64_t)zxid, error);
    }
    struct store_tree *tree = ok ? store_tree_create(&core->ensemble.store_config) : NULL;
    struct store_snapshot_session *sessions = NULL;
    size_t session_count = 0;
    if (tree) {
        struct store_snapshot_error load_error;
        if (!store_snapshot_load(tree, file.data, file.size, &sessions, &session_count,
                                 &load_error)) {
            log_error("the leader's snapshot does not load at offset %zu: %s", load_error.offset,
                      load_error.message);
            store_tree_destroy(tree);
            tree = NULL;
        }
    }
    jute_writer_free(&file);
    if (!tree) {
        log_error("cannot install the leader's snapshot at 0x%" PRIx64, (uint64_t)zxid);
        return false;
    }
    store_tree_set_last_zxid(tree, zxid);
    replace_tree(core, tree, sessions, session_count);
    free(sessions);
    log_info("installed the leader's snapshot at 0x%" PRIx64 " (%zu bytes, SNAP)",
             (uint64_t)zxid, stream_bytes);
    return storage_resume(core, tree);
}

/* ---- peer_net events -> the peer ------------------------------------------- */

static void net_election_message(void *context, int64_t from_id, const uint8_t *body,
                                 size_t body_bytes)
{
    struct core *core = context;
    struct election_notification notification;
    struct jute_bytes config;
    if (!quorum_notification_decode(body, body_bytes, &notification, &config)) {
        log_warn("a notification from server %" PRId64 " does not decode: ignored", from_id);
        return;
    }
    peer_election_message(core->peer, from_id, &notification, (const char *)config.ptr,
                          config.len > 0 ? (size_t)config.len : 0, clock_ms(CLOCK_MONOTONIC));
}

static void net_quorum_accepted(void *context, uint64_t connection_id)
{
    struct core *core = context;
    peer_quorum_accepted(core->peer, connection_id, clock_ms(CLOCK_MONOTONIC));
}

static void net_quorum_connected(void *context, uint64_t connection_id)
{
    struct core *core = context;
    peer_quorum_connected(core->peer, connection_id, clock_ms(CLOCK_MONOTONIC));
}

static void net_quorum_packet(void *context, uint64_t connection_id, const uint8_t *packet,
                              size_t packet_bytes, const uint8_t *stream, size_t stream_bytes)
{
    struct core *core = context;
    peer_quorum_packet(core->peer, connection_id, packet, packet_bytes, stream, stream_bytes,
                       clock_ms(CLOCK_REALTIME), clock_ms(CLOCK_MONOTONIC));
}

static void net_quorum_closed(void *context, uint64_t connection_id, const char *why)
{
    struct core *core = context;
    peer_quorum_closed(core->peer, connection_id, why, clock_ms(CLOCK_MONOTONIC));
}

int core_start_peer(struct core *core, const struct core_ensemble *ensemble, char *error,
                    size_t error_bytes)
{
    assert(!core->peer);
    core->ensemble = *ensemble;
    if (ensemble->member_count > ELECTION_MEMBERS_MAX ||
        !copy_text(core->snap_dir, sizeof(core->snap_dir), ensemble->snap_dir) ||
        !copy_text(core->log_dir, sizeof(core->log_dir), ensemble->log_dir) ||
        !copy_text(core->config_text, sizeof(core->config_text), ensemble->config_text) ||
        !copy_text(core->static_config_path, sizeof(core->static_config_path),
                   ensemble->static_config_path)) {
        snprintf(error, error_bytes, "the ensemble configuration is too large");
        return -1;
    }
    core->ensemble.snap_dir = core->snap_dir;
    core->ensemble.log_dir = core->log_dir;
    core->ensemble.config_text = core->config_text;
    /* A tree rebuilt from disk (TRUNC, SNAP) starts from the active
     * configuration, as QuorumPeer.initConfigInZKDatabase. */
    core->ensemble.store_config.config_node_text = core->config_text;
    core->ensemble.log_config.log_dir = core->log_dir;
    core->ensemble.snapshotter_config.snap_dir = core->snap_dir;
    core->ensemble.snapshotter_config.log_dir = core->log_dir;
    if (ensemble->member_count > 0) {
        memcpy(core->members, ensemble->members, ensemble->member_count * sizeof(*core->members));
        core->net_members = calloc(ensemble->member_count, sizeof(*core->net_members));
        if (!core->net_members) {
            snprintf(error, error_bytes, "out of memory");
            return -1;
        }
        memcpy(core->net_members, ensemble->net_members,
               ensemble->member_count * sizeof(*core->net_members));
        struct peer_net_config net_config = {
            .my_id = ensemble->my_id,
            .members = core->net_members,
            .member_count = ensemble->member_count,
            .listen_on_all_ips = ensemble->listen_on_all_ips,
            .quorum_data_bytes_max =
                (size_t)ensemble->store_config.jute_maxbuffer_bytes * 2u + 4096u,
        };
        struct peer_net_events events = {
            .election_message = net_election_message,
            .quorum_accepted = net_quorum_accepted,
            .quorum_connected = net_quorum_connected,
            .quorum_packet = net_quorum_packet,
            .quorum_closed = net_quorum_closed,
            .context = core,
        };
        core->net = peer_net_create(&net_config, &events, error, error_bytes);
        if (!core->net) {
            return -1;
        }
    }
    /* What recovery left in /zookeeper/config: a logged reconfig that was
     * never seen active is the last seen configuration. */
    char *recovered_config = NULL;
    struct store_node_view config_view;
    int64_t visible_zxid = 0;
    if (store_lookup(core->tree, jute_bytes_cstr("/zookeeper/config"), &config_view,
                     &visible_zxid, NULL) == ZK_OK &&
        config_view.data.len > 0) {
        recovered_config = strndup((const char *)config_view.data.ptr,
                                   (size_t)config_view.data.len);
    }
    struct peer_config config = {
        .my_id = ensemble->my_id,
        .last_seen_config_text = recovered_config,
        .members = ensemble->member_count ? core->members : NULL,
        .member_count = ensemble->member_count,
        .tick_ms = ensemble->tick_ms,
        .init_limit_ticks = ensemble->init_limit_ticks,
        .sync_limit_ticks = ensemble->sync_limit_ticks,
        .accepted_epoch = ensemble->accepted_epoch,
        .current_epoch = ensemble->current_epoch,
        .packet_data_bytes_max = ensemble->store_config.jute_maxbuffer_bytes * 2u + 4096u,
        .config_text = core->config_text,
        .standalone_enabled = ensemble->standalone_enabled,
        .reconfig_enabled = ensemble->store_config.reconfig_enabled,
    };
    struct peer_io io = {
        .context = core,
        .election_send = io_election_send,
        .quorum_listen = io_quorum_listen,
        .quorum_connect = io_quorum_connect,
        .quorum_send = io_quorum_send,
        .quorum_close = io_quorum_close,
        .log_append = append_to_log,
        .epoch_write = io_epoch_write,
        .truncate = io_truncate,
        .install_snapshot = io_install_snapshot,
        .config_activated = io_config_activated,
        .log_message = io_log_message,
        .fatal = io_fatal,
    };
    core->peer = peer_create(&config, &io, core->sequencer, ensemble->last_logged_zxid);
    free(recovered_config);
    if (!core->peer) {
        snprintf(error, error_bytes, "cannot create the quorum peer (invalid ensemble config)");
        return -1;
    }
    publish_counters(core);
    return 0;
}

struct store_tree *core_tree(struct core *core)
{
    return core->tree;
}

struct log_writer *core_log_writer(struct core *core)
{
    return core->storage.log;
}

struct snapshotter *core_snapshotter(struct core *core)
{
    return core->storage.snapshotter;
}

void core_config_text(struct core *core, char *out, size_t out_bytes)
{
    pthread_mutex_lock(&core->status_lock);
    copy_text(out, out_bytes, core->config_text);
    pthread_mutex_unlock(&core->status_lock);
}

void core_peer_status(struct core *core, struct peer_status *out)
{
    pthread_mutex_lock(&core->status_lock);
    *out = core->status;
    pthread_mutex_unlock(&core->status_lock);
}

int core_run(struct core *core)
{
    if (core->peer) {
        peer_start(core->peer, clock_ms(CLOCK_REALTIME), clock_ms(CLOCK_MONOTONIC));
        core->next_peer_tick_ms = clock_ms(CLOCK_MONOTONIC);
    }
    while (!atomic_load_explicit(&core->stop_requested, memory_order_acquire)) {
        poll_log(core);
        size_t handled = core->net ? peer_net_poll(core->net, clock_ms(CLOCK_MONOTONIC)) : 0;
        handled += drain_requests(core);
        int64_t wait_ms = core->log_failed ? CORE_IDLE_WAIT_MS_MAX : run_tick_if_due(core);
        poll_log(core);
        take_wanted_snapshot(core);
        bool backlog_left = flush_deliveries(core);
        sequencer_end_batch(core->sequencer);
        publish_counters(core);
        if (handled == 0) {
            wait_for_work(core, wait_ms, backlog_left);
        }
    }
    return 0;
}

void core_stop(struct core *core)
{
    atomic_store_explicit(&core->stop_requested, true, memory_order_release);
    core_wake(core);
}

void core_wake(struct core *core)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&core->sleeping)) {
        uint64_t one = 1;
        ssize_t written = write(core->wake_fd, &one, sizeof(one));
        (void)written; /* a full counter already means "wake up" */
    }
}

int64_t core_last_zxid(const struct core *core)
{
    return atomic_load_explicit(&core->last_zxid, memory_order_relaxed);
}

void core_tree_counters(struct core *core, int64_t *node_count, int64_t *ephemeral_count,
                        int64_t *approximate_data_bytes)
{
    const struct store_counters *counters =
        store_tree_counters(atomic_load_explicit(&core->published_tree, memory_order_acquire));
    *node_count = atomic_load(&counters->node_count);
    *ephemeral_count = atomic_load(&counters->ephemeral_count);
    *approximate_data_bytes = atomic_load(&counters->approximate_data_bytes);
}

int64_t core_session_count(const struct core *core)
{
    return atomic_load_explicit(&core->session_count, memory_order_relaxed);
}

struct core *core_create(struct store_tree *tree, const struct sequencer_config *config,
                         struct shard **shards, uint32_t shard_count)
{
    struct core *core = calloc(1, sizeof(*core));
    if (!core) {
        return NULL;
    }
    core->tree = tree;
    atomic_init(&core->published_tree, tree);
    core->shards = shards;
    core->shard_count = shard_count;
    core->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&core->status_lock, NULL);
    core->backlogs = calloc(shard_count, sizeof(*core->backlogs));
    struct sequencer_output output = {.deliver = deliver_to_shard, .context = core};
    /* The log is attached by core_set_storage; until then (unit tests of
     * the core without a disk) transactions are durable at once. */
    int64_t now_elapsed_ms = clock_ms(CLOCK_MONOTONIC);
    core->sequencer = sequencer_create(tree, config, &output, now_elapsed_ms);
    if (core->wake_fd < 0 || !core->backlogs || !core->sequencer) {
        core_destroy(core);
        return NULL;
    }
    core->next_tick_elapsed_ms = now_elapsed_ms;
    publish_counters(core);
    return core;
}

void core_set_storage(struct core *core, const struct core_storage *storage)
{
    core->storage = *storage;
    core->random_state = storage->random_seed | 1u;
    choose_roll_point(core);
    core->durable_seen_zxid = core_last_zxid(core);
}

void core_restore_session(struct core *core, int64_t session_id, int32_t timeout_ms)
{
    sequencer_restore_session(core->sequencer, session_id, timeout_ms, clock_ms(CLOCK_MONOTONIC));
    publish_counters(core);
}

void core_destroy(struct core *core)
{
    if (!core) {
        return;
    }
    for (uint32_t index = 0; core->backlogs && index < core->shard_count; index++) {
        for (size_t message = 0; message < core->backlogs[index].count; message++) {
            shard_message_free(core->backlogs[index].messages[message]);
        }
        free(core->backlogs[index].messages);
    }
    free(core->backlogs);
    for (size_t index = 0; index < CORE_GATHERS_MAX; index++) {
        struct gather *gather = &core->gathers[index];
        for (uint32_t shard = 0; gather->active && shard < core->shard_count; shard++) {
            gather_part_free(&gather->parts[shard]);
        }
        free(gather->parts);
        session_dump_free(gather->dump);
    }
    for (size_t index = 0; index < core->waiting_gather_count; index++) {
        core_request_free(core->waiting_gathers[index]);
    }
    free(core->waiting_gathers);
    peer_destroy(core->peer);
    peer_net_destroy(core->net);
    free(core->net_members);
    for (size_t index = 0; index < CORE_RETIRING_TREES_MAX; index++) {
        if (core->retiring[index].tree) {
            store_tree_destroy(core->retiring[index].tree);
        }
    }
    sequencer_destroy(core->sequencer);
    pthread_mutex_destroy(&core->status_lock);
    if (core->wake_fd >= 0) {
        close(core->wake_fd);
    }
    free(core);
}
