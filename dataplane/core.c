#include "dataplane/core.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/log.h"
#include "dataplane/shard.h"
#include "dataplane/test_hooks.h"

/* Requests taken from one shard per turn, so one busy shard cannot starve
 * the others. */
#define CORE_REQUESTS_PER_SHARD_TURN_MAX 1024u
/* Longest sleep when nothing is due (ticks cut it shorter). */
#define CORE_IDLE_WAIT_MS_MAX 500

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
};

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

static size_t drain_requests(struct core *core)
{
    size_t handled = 0;
    int64_t now_ms = clock_ms(CLOCK_REALTIME);
    int64_t now_elapsed_ms = clock_ms(CLOCK_MONOTONIC);
    for (uint32_t index = 0; index < core->shard_count; index++) {
        for (size_t taken = 0; taken < CORE_REQUESTS_PER_SHARD_TURN_MAX; taken++) {
            struct core_request *request = shard_take_core_request(core->shards[index]);
            if (!request) {
                break;
            }
            sequencer_handle(core->sequencer, request, now_ms, now_elapsed_ms);
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
    if (!any_request_waiting(core) && !atomic_load(&core->stop_requested)) {
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
        size_t handled = drain_requests(core);
        int64_t wait_ms = run_tick_if_due(core);
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
    sequencer_destroy(core->sequencer);
    if (core->wake_fd >= 0) {
        close(core->wake_fd);
    }
    free(core);
}
