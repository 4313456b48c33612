#include "dataplane/core.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/fourlw.h"
#include "dataplane/log.h"
#include "dataplane/log_writer.h"
#include "dataplane/snapshotter.h"
#include "store/snapshot.h"
#include "dataplane/shard.h"
#include "dataplane/test_hooks.h"

/* Requests taken from one shard per turn, so one busy shard cannot starve
 * the others. */
#define CORE_REQUESTS_PER_SHARD_TURN_MAX 1024u
/* Longest sleep when nothing is due (ticks cut it shorter). */
#define CORE_IDLE_WAIT_MS_MAX 500
/* Four-letter words gathering from every shard at once; more wait. */
#define CORE_GATHERS_MAX 64

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
};

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
        sequencer_durable(core->sequencer, durable);
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
    default:
        sequencer_handle(core->sequencer, request, now_ms, now_elapsed_ms);
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
            if (!sequencer_accepting(core->sequencer)) {
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
    if (now_elapsed_ms >= core->next_tick_elapsed_ms) {
        int64_t until_ms = sequencer_tick(core->sequencer, clock_ms(CLOCK_REALTIME), now_elapsed_ms);
        if (until_ms > CORE_IDLE_WAIT_MS_MAX) {
            until_ms = CORE_IDLE_WAIT_MS_MAX;
        }
        core->next_tick_elapsed_ms = now_elapsed_ms + (until_ms > 0 ? until_ms : 1);
    }
    int64_t wait_ms = core->next_tick_elapsed_ms - now_elapsed_ms;
    return wait_ms < 0 ? 0 : wait_ms;
}

static void publish_counters(struct core *core)
{
    struct sequencer_counters counters;
    sequencer_counters_get(core->sequencer, &counters);
    atomic_store_explicit(&core->last_zxid, counters.last_zxid, memory_order_relaxed);
    atomic_store_explicit(&core->session_count, counters.session_count, memory_order_relaxed);
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
        struct pollfd poll_fd = {.fd = core->wake_fd, .events = POLLIN};
        int ready = poll(&poll_fd, 1, (int)wait_ms);
        if (ready > 0) {
            uint64_t count;
            ssize_t got = read(core->wake_fd, &count, sizeof(count));
            (void)got; /* EAGAIN is fine: someone else consumed it */
        }
    }
    atomic_store(&core->sleeping, false);
}

int core_run(struct core *core)
{
    while (!atomic_load_explicit(&core->stop_requested, memory_order_acquire)) {
        poll_log(core);
        size_t handled = drain_requests(core);
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
    core->shards = shards;
    core->shard_count = shard_count;
    core->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
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
    sequencer_set_log(core->sequencer, storage->log ? append_to_log : NULL, core);
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
    sequencer_destroy(core->sequencer);
    if (core->wake_fd >= 0) {
        close(core->wake_fd);
    }
    free(core);
}
