/* A shard: the request path of ZooKeeper's NIOServerCnxn, ZooKeeperServer
 * (processConnectRequest, processPacket) and FinalRequestProcessor's reads,
 * for the connections one thread owns.
 *
 * Per connection, requests complete in the order they arrived (guarantee 3):
 * reads run on this thread against the tree, writes go to the core, and a
 * read waits behind every earlier write of its session; a write is not
 * handed to the core before every earlier read has been answered, so a read
 * never sees a later write of its own session.
 *
 * Guarantee 4: the core hands this shard each commit's changes after
 * applying them. `processed_zxid` is the last commit whose watches this shard
 * has fired. Before answering from a node version newer than that, the shard
 * drains its inbound ring up to that version (shard_catch_up), so the watch
 * event always goes out before the reply that shows the change.
 */
#include "dataplane/shard.h"
#include "dataplane/shard_internal.h"

#include <assert.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "consensus/java_random.h"
#include "dataplane/fourlw.h"
#include "dataplane/log.h"
#include "dataplane/ring.h"
#include "dataplane/server.h"
#include "dataplane/test_hooks.h"
#include "dataplane/transport.h"
#ifdef CHEETAH_HAVE_DPDK
#include "dataplane/transport_dpdk.h"
#endif
#include "dataplane/watch.h"
#include "jute/frame.h"
#include "jute/records.h"
#include "jute/zk_constants.h"

#define SHARD_INBOUND_RING_CAPACITY 65536u
#define SHARD_OUTBOUND_RING_CAPACITY 65536u
/* Inbound messages handled per loop turn before the shard serves sockets again. */
#define SHARD_MESSAGES_PER_TURN_MAX 4096u
/* Decoding scratch: a frame is at most jute.maxbuffer bytes, and a vector
 * element takes at least 4 bytes of it, so this bounds every decode. */
#define SHARD_ARENA_BYTES (8u << 20)
/* A shard waits this long for a commit it has seen in the tree; the core
 * pushes it microseconds after publishing, so hitting this is a bug. */
#define SHARD_CATCH_UP_WAIT_MS_MAX 10000
/* getChildren re-reads when the parent changed under it; then answers. */
#define SHARD_CHILDREN_RETRIES_MAX 8
#define SHARD_REPLY_BYTES_MAX (64u << 20)
#define SHARD_AUTH_IDS_MAX 64
/* How often sessions heard from are reported to the core, at most. */
#define SHARD_TOUCH_INTERVAL_DIVISOR 4
#define SHARD_RECEIVE_BUFFER_BYTES 65536u
#define SHARD_RECEIVE_BUFFER_COUNT 256u
#define SHARD_WATCH_HASH_SEED 0x6368656574616821ull

/* The shard and connection structs are in dataplane/shard_internal.h. */

/* ---- small helpers -------------------------------------------------------- */

int64_t monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

void counter_add(_Atomic int64_t *counter, int64_t delta)
{
    atomic_fetch_add_explicit(counter, delta, memory_order_relaxed);
}

struct connection *connection_by_id(struct shard *shard, uint64_t id)
{
    uint32_t slot = (uint32_t)id;
    if (slot >= shard->slot_count) {
        return NULL;
    }
    struct connection *connection = shard->slots[slot];
    if (!connection || connection->id != id) {
        return NULL;
    }
    return connection;
}

void frame_begin(struct jute_writer *out, int32_t xid, int64_t zxid, int32_t err)
{
    jute_writer_reset(out);
    jute_write_int(out, 0);
    struct jute_reply_header header = {.xid = xid, .zxid = zxid, .err = err};
    jute_reply_header_encode(out, &header);
}

void frame_end(struct jute_writer *out)
{
    if (out->ok) {
        jute_writer_patch_int(out, 0, (int32_t)(out->size - 4));
    }
}

void send_bytes(struct shard *shard, struct connection *connection, const uint8_t *data,
                       size_t size)
{
    if (connection->state == CONNECTION_CLOSING) {
        return;
    }
    if (!transport_send(shard->transport, connection->handle, data, size)) {
        /* The transport closes it (send buffer full: a client that does not
         * read its replies); `closed` follows. */
        connection->state = CONNECTION_CLOSING;
        log_warn("closing connection from %s:%u (session 0x%llx): it does not read its replies "
                 "and its send buffer reached %u bytes",
                 connection->peer.address, connection->peer.port,
                 (unsigned long long)connection->session_id, shard->settings.send_buffer_bytes_max);
        return;
    }
    connection->packets_sent++;
    counter_add(&shard->counters.packets_sent, 1);
}

void close_connection(struct shard *shard, struct connection *connection, const char *why)
{
    if (connection->state == CONNECTION_CLOSING) {
        return;
    }
    if (why) {
        log_info("closing connection from %s:%u (session 0x%llx): %s", connection->peer.address,
                 connection->peer.port, (unsigned long long)connection->session_id, why);
    }
    connection->state = CONNECTION_CLOSING;
    transport_close(shard->transport, connection->handle);
}

static void close_bad_input(struct shard *shard, struct connection *connection, const char *why)
{
    counter_add(&shard->counters.connections_closed_bad_input, 1);
    log_warn("closing connection from %s:%u (session 0x%llx): %s", connection->peer.address,
             connection->peer.port, (unsigned long long)connection->session_id, why);
    if (connection->state != CONNECTION_CLOSING) {
        connection->state = CONNECTION_CLOSING;
        transport_close(shard->transport, connection->handle);
    }
}

/* ---- to the core ------------------------------------------------------------ */

void push_core_request(struct shard *shard, struct core_request *request)
{
    if (shard->overflow_count == 0 && spsc_ring_push(&shard->outbound, request)) {
        server_wake_core(shard->server);
        return;
    }
    /* The core is behind: keep order by queueing everything after the
     * first request that did not fit. Bounded in practice by
     * connection_pending_max per connection. */
    if (shard->overflow_count == shard->overflow_capacity) {
        size_t capacity = shard->overflow_capacity ? shard->overflow_capacity * 2 : 1024;
        struct core_request **grown = realloc(shard->overflow, capacity * sizeof(*grown));
        assert(grown != NULL);
        shard->overflow = grown;
        shard->overflow_capacity = capacity;
    }
    shard->overflow[shard->overflow_count++] = request;
    server_wake_core(shard->server);
}

static void flush_overflow(struct shard *shard)
{
    size_t pushed = 0;
    while (pushed < shard->overflow_count &&
           spsc_ring_push(&shard->outbound, shard->overflow[pushed])) {
        pushed++;
    }
    if (pushed > 0) {
        memmove(shard->overflow, shard->overflow + pushed,
                (shard->overflow_count - pushed) * sizeof(*shard->overflow));
        shard->overflow_count -= pushed;
        server_wake_core(shard->server);
    }
}

struct core_request *shard_take_core_request(struct shard *shard)
{
    return spsc_ring_pop(&shard->outbound);
}

bool shard_deliver(struct shard *shard, struct shard_message *message)
{
    return spsc_ring_push(&shard->inbound, message);
}

void shard_wake(struct shard *shard)
{
    transport_wake(shard->transport);
}

/* ---- watch events ------------------------------------------------------------ */

static void send_watch_event(struct shard *shard, struct connection *connection,
                             int32_t event_type, struct jute_bytes path)
{
    struct jute_writer *out = &shard->notify;
    /* NIOServerCnxn.process(WatchedEvent): xid -1, zxid -1, err 0. */
    frame_begin(out, ZK_XID_NOTIFICATION, -1, ZK_OK);
    struct jute_watcher_event event = {
        .type = event_type, .state = ZK_STATE_SYNC_CONNECTED, .path = path};
    jute_watcher_event_encode(out, &event);
    frame_end(out);
    if (out->ok) {
        send_bytes(shard, connection, out->data, out->size);
    }
}

struct watch_emit_context {
    struct shard *shard;
    const struct store_acl_list *acl; /* NULL: anyone may read the change */
};

/* A watcher that may not READ the node (or, for NodeChildrenChanged, its
 * parent) loses the watch without an event, as ZooKeeper 3.8 with the fix
 * for CVE-2024-23944 does. */
static void emit_watch_event(void *context, uint64_t watcher_id, int32_t event_type,
                             struct jute_bytes path)
{
    struct watch_emit_context *emit = context;
    struct connection *connection = connection_by_id(emit->shard, watcher_id);
    if (!connection) {
        return;
    }
    if (emit->acl &&
        store_acl_check(emit->shard->tree, emit->acl, ZK_PERM_READ, connection->auth) != ZK_OK) {
        return;
    }
    send_watch_event(emit->shard, connection, event_type, path);
}

/* ---- inbound messages (core -> shard) -------------------------------------- */

static void mark_runnable(struct shard *shard, struct connection *connection)
{
    if (!connection->runnable_queued) {
        connection->runnable_queued = true;
        connection->runnable_next = shard->runnable_head;
        shard->runnable_head = connection;
    }
}

static void record_latency(struct shard *shard, struct connection *connection,
                           int64_t received_ms)
{
    int64_t now_ms = monotonic_ms();
    int64_t latency_ms = now_ms - received_ms;
    connection->last_response_ms = now_ms;
    connection->latency_total_ms += latency_ms;
    connection->latency_count++;
    if (connection->latency_count == 1 || latency_ms < connection->latency_min_ms) {
        connection->latency_min_ms = latency_ms;
    }
    if (latency_ms > connection->latency_max_ms) {
        connection->latency_max_ms = latency_ms;
    }
    counter_add(&shard->counters.latency_total_ms, latency_ms);
    counter_add(&shard->counters.latency_count, 1);
    int64_t min_ms = atomic_load_explicit(&shard->counters.latency_min_ms, memory_order_relaxed);
    if (min_ms < 0 || latency_ms < min_ms) {
        atomic_store_explicit(&shard->counters.latency_min_ms, latency_ms, memory_order_relaxed);
    }
    if (latency_ms > atomic_load_explicit(&shard->counters.latency_max_ms, memory_order_relaxed)) {
        atomic_store_explicit(&shard->counters.latency_max_ms, latency_ms, memory_order_relaxed);
    }
}

static void pending_pop(struct shard *shard, struct connection *connection)
{
    struct pending_request *head = connection->pending_head;
    assert(head != NULL);
    connection->pending_head = head->next;
    if (!connection->pending_head) {
        connection->pending_tail = NULL;
    }
    connection->pending_count--;
    counter_add(&shard->counters.outstanding_requests, -1);
    free(head->payload);
    free(head);
    if (connection->receive_paused &&
        connection->pending_count <= shard->settings.connection_pending_max / 2) {
        connection->receive_paused = false;
        transport_set_receive_paused(shard->transport, connection->handle, false);
    }
}

static void close_session_connections(struct shard *shard, int64_t session_id, bool expired)
{
    for (uint32_t slot = 0; slot < shard->slot_count; slot++) {
        struct connection *connection = shard->slots[slot];
        if (connection && connection->session_id == session_id &&
            connection->state != CONNECTION_CLOSING) {
            close_connection(shard, connection,
                             expired ? "its session expired" : "its session was closed");
        }
    }
}

static void deliver_reply(struct shard *shard, struct shard_message *message)
{
    struct connection *connection = connection_by_id(shard, message->connection_id);
    if (!connection) {
        return; /* the client went away while its request was in flight */
    }
    struct pending_request *head = connection->pending_head;
    /* Writes reach the core in order and come back in order, and a write is
     * only sent when every earlier read was answered: it is at the head. */
    assert(head != NULL && head->kind == PENDING_WRITE && head->xid == message->xid);
    record_latency(shard, connection, head->received_ms);
    connection->last_cxid = message->xid;
    connection->last_opcode = message->opcode;
    if (message->commit) {
        connection->last_zxid = message->commit->zxid;
    }
    send_bytes(shard, connection, message->reply_bytes, message->reply_bytes_size);
    pending_pop(shard, connection);
    if (message->close_after_reply) {
        close_connection(shard, connection, NULL);
        return;
    }
    mark_runnable(shard, connection);
}

static void send_connect_response(struct shard *shard, struct connection *connection, bool valid,
                                  int64_t session_id, int32_t timeout_ms,
                                  const uint8_t *password);

static void handle_connected(struct shard *shard, struct shard_message *message)
{
    struct connection *connection = connection_by_id(shard, message->connection_id);
    if (!connection || connection->state != CONNECTION_CONNECTING) {
        return;
    }
    if (!message->session_valid) {
        send_connect_response(shard, connection, false, 0, 0, NULL);
        close_connection(shard, connection, "its session is expired or unknown");
        return;
    }
    connection->session_id = message->session_id;
    connection->timeout_ms = message->timeout_ms;
    connection->state = CONNECTION_READY;
    send_connect_response(shard, connection, true, message->session_id, message->timeout_ms,
                          message->password);
    mark_runnable(shard, connection);
}

static void process_commit(struct shard *shard, struct shard_message *message)
{
    struct commit_record *commit = message->commit;
    if (commit->zxid > shard->processed_zxid) {
        for (size_t index = 0; index < commit->changes.count; index++) {
            const struct store_change *change = &commit->changes.changes[index];
            struct watch_emit_context emit = {.shard = shard, .acl = change->acl};
            watch_trigger(shard->watches, change->event_type, change->path, emit_watch_event,
                          &emit);
        }
        shard->processed_zxid = commit->zxid;
    } else {
        /* The core applied this commit to the new tree before this shard
         * switched to it: the tree already showed it at the switch, so no
         * watch set since then can be older than it. Only then do zxids
         * go backwards. */
        assert(commit->zxid <= shard->tree_switch_zxid);
    }
    if (message->has_reply) {
        deliver_reply(shard, message);
    }
    if (commit->closed_session_id != 0) {
        close_session_connections(shard, commit->closed_session_id, !message->has_reply);
    }
}

/* SHARD_MESSAGE_SERVING. Stopping is ZooKeeper's closeAllConnections when a
 * server leaves its role: every client connection closes as if the server
 * had closed it (the client tries the next server; its session lives on in
 * the ensemble). A four-letter word being answered finishes. */
static void set_serving(struct shard *shard, bool serving)
{
    if (serving == shard->serving) {
        return;
    }
    shard->serving = serving;
    if (serving) {
        log_info("shard %u: serving clients", shard->index);
        return;
    }
    uint32_t closed_count = 0;
    for (uint32_t slot = 0; slot < shard->slot_count; slot++) {
        struct connection *connection = shard->slots[slot];
        if (connection && !connection->four_letter_word &&
            connection->state != CONNECTION_CLOSING) {
            close_connection(shard, connection, NULL); /* one line for all, below */
            closed_count++;
        }
    }
    log_info("shard %u: not serving clients until the server has a role again; closed %u "
             "client connection(s)",
             shard->index, closed_count);
}

/* SHARD_MESSAGE_TREE: read `message->tree` from now on. The core rebuilt
 * the tree (TRUNC or SNAP from a leader) while no shard served, so nothing
 * this shard holds points into the old tree: connections were closed by
 * SERVING false (their watches hold paths, not nodes), and no read is
 * running (the loop calls here between requests, and a read's catch-up
 * stops at the commit it waits for, which the old tree had). */
static void switch_tree(struct shard *shard, const struct shard_message *message)
{
    assert(!shard->serving);
    assert(!shard->reading);
    assert(message->tree != NULL && message->tree != shard->tree);
    struct store_reader *reader = store_reader_register(message->tree);
    if (!reader) {
        /* Every shard, the snapshotter and the core register on each tree;
         * STORE_READERS_MAX bounds the shard count well below this. */
        log_error("shard %u: cannot register a reader on the new tree (generation %llu): "
                  "all %d reader slots are taken; stopping",
                  shard->index, (unsigned long long)message->tree_generation,
                  STORE_READERS_MAX);
        abort();
    }
    /* The old tree is freed once every shard has answered below: leave it
     * for good. The new reader starts online, as the loop expects while it
     * handles messages. */
    store_reader_offline(shard->reader);
    shard->tree = message->tree;
    shard->reader = reader;
    shard->tree_generation = message->tree_generation;
    /* As at start (shard_create): what the tree holds has no watches to
     * fire here. */
    shard->processed_zxid = atomic_load(&store_tree_counters(shard->tree)->last_zxid);
    shard->tree_switch_zxid = shard->processed_zxid;
    log_info("shard %u: reading tree generation %llu (last zxid 0x%llx)", shard->index,
             (unsigned long long)shard->tree_generation,
             (unsigned long long)shard->processed_zxid);
    struct core_request *core = calloc(1, sizeof(*core));
    assert(core != NULL);
    core->kind = CORE_REQUEST_TREE_SWITCHED;
    core->shard_index = shard->index;
    core->tree_generation = shard->tree_generation;
    push_core_request(shard, core);
}

static void process_message(struct shard *shard, struct shard_message *message)
{
    switch (message->kind) {
    case SHARD_MESSAGE_COMMIT:
        process_commit(shard, message);
        break;
    case SHARD_MESSAGE_SERVING:
        set_serving(shard, message->serving);
        break;
    case SHARD_MESSAGE_TREE:
        switch_tree(shard, message);
        break;
    case SHARD_MESSAGE_REPLY:
        deliver_reply(shard, message);
        break;
    case SHARD_MESSAGE_CONNECTED:
        handle_connected(shard, message);
        break;
    case SHARD_MESSAGE_GATHER:
        shard_fourlw_send_part(shard, message);
        break;
    case SHARD_MESSAGE_GATHERED:
        shard_fourlw_answer(shard, message);
        break;
    case SHARD_MESSAGE_CLOSE_CONNECTION: {
        struct connection *connection = connection_by_id(shard, message->connection_id);
        if (connection) {
            close_connection(shard, connection, "its session reconnected on another connection");
        }
        break;
    }
    default:
        assert(!"unknown shard message kind");
    }
    shard_message_free(message);
}

static size_t process_inbound(struct shard *shard, size_t budget)
{
    size_t processed = 0;
    while (processed < budget) {
        struct shard_message *message = spsc_ring_pop(&shard->inbound);
        if (!message) {
            break;
        }
        process_message(shard, message);
        processed++;
    }
    return processed;
}

/* Guarantee 4: fire the watches of every commit up to `zxid` before using a
 * node version of that zxid. */
static void shard_catch_up(struct shard *shard, int64_t zxid)
{
    if (shard->skip_watch_catch_up) {
        return;
    }
    int64_t deadline_ms = 0;
    while (shard->processed_zxid < zxid) {
        struct shard_message *message = spsc_ring_pop(&shard->inbound);
        if (message) {
            process_message(shard, message);
            continue;
        }
        int64_t now_ms = monotonic_ms();
        if (deadline_ms == 0) {
            deadline_ms = now_ms + SHARD_CATCH_UP_WAIT_MS_MAX;
        }
        if (now_ms > deadline_ms) {
            log_error("shard %u: commit 0x%llx is in the tree but its changes never arrived "
                      "(processed up to 0x%llx); stopping to avoid breaking watch ordering",
                      shard->index, (unsigned long long)zxid,
                      (unsigned long long)shard->processed_zxid);
            abort();
        }
        sched_yield();
    }
}

/* ---- the handshake ------------------------------------------------------------ */

static void send_connect_response(struct shard *shard, struct connection *connection, bool valid,
                                  int64_t session_id, int32_t timeout_ms,
                                  const uint8_t *password)
{
    static const uint8_t zero_password[ZK_SESSION_PASSWORD_BYTES];
    struct jute_connect_response response = {
        .protocol_version = 0,
        .time_out = valid ? timeout_ms : 0,
        .session_id = valid ? session_id : 0,
        .passwd = jute_bytes_of(valid ? password : zero_password, ZK_SESSION_PASSWORD_BYTES),
        .read_only = false,
        .has_read_only = connection->client_sent_read_only,
    };
    struct jute_writer *out = &shard->notify;
    jute_writer_reset(out);
    jute_write_int(out, 0);
    jute_connect_response_encode(out, &response);
    frame_end(out);
    if (out->ok) {
        send_bytes(shard, connection, out->data, out->size);
    }
}

static int32_t negotiate_timeout(const struct shard_settings *settings, int32_t requested_ms)
{
    if (requested_ms < settings->min_session_timeout_ms) {
        return settings->min_session_timeout_ms;
    }
    if (requested_ms > settings->max_session_timeout_ms) {
        return settings->max_session_timeout_ms;
    }
    return requested_ms;
}

static void handle_connect_request(struct shard *shard, struct connection *connection,
                                   const uint8_t *payload, size_t size)
{
    struct jute_reader reader;
    jute_reader_init(&reader, payload, size);
    struct jute_arena arena;
    jute_arena_init(&arena, shard->arena_bytes, SHARD_ARENA_BYTES);
    struct jute_connect_request request;
    if (!jute_connect_request_decode(&reader, &arena, &request)) {
        close_bad_input(shard, connection, "its ConnectRequest does not decode");
        return;
    }
    connection->client_sent_read_only = request.has_read_only;
    int64_t last_zxid = store_tree_counters(shard->tree)->last_zxid;
    if (request.last_zxid_seen > last_zxid) {
        /* ZooKeeperServer.processConnectRequest: the client has seen a
         * newer state than this server holds. */
        char why[160];
        snprintf(why, sizeof(why),
                 "the client has seen zxid 0x%llx and this server's last zxid is 0x%llx; "
                 "it must reconnect to a server that is up to date",
                 (unsigned long long)request.last_zxid_seen, (unsigned long long)last_zxid);
        close_connection(shard, connection, why);
        return;
    }
    int32_t timeout_ms = negotiate_timeout(&shard->settings, request.time_out);
    struct core_request *core = calloc(1, sizeof(*core));
    assert(core != NULL);
    core->kind = CORE_REQUEST_CONNECT;
    core->shard_index = shard->index;
    core->connection_id = connection->id;
    core->timeout_ms = timeout_ms;
    if (request.session_id != 0) {
        uint8_t expected[ZK_SESSION_PASSWORD_BYTES];
        zk_session_password(request.session_id, expected);
        /* ZooKeeperServer.reopenSession: a wrong password is refused with an
         * invalid ConnectResponse (the core answers), after the session's
         * current connection has been closed. */
        core->password_valid = request.passwd.len == ZK_SESSION_PASSWORD_BYTES &&
                               memcmp(request.passwd.ptr, expected, sizeof(expected)) == 0;
        core->session_id = request.session_id;
    }
    connection->state = CONNECTION_CONNECTING;
    connection->timeout_ms = timeout_ms;
    push_core_request(shard, core);
}

/* ---- reads ------------------------------------------------------------------ */

/* Paths a read may look up: ZooKeeper's reads do not validate the path, they
 * just find no node, so anything that is not a canonical absolute path is
 * NONODE here. */
static bool path_is_canonical(struct jute_bytes path)
{
    if (path.len <= 0 || path.ptr[0] != '/') {
        return false;
    }
    if (path.len == 1) {
        return true;
    }
    if (path.ptr[path.len - 1] == '/') {
        return false;
    }
    for (int32_t index = 1; index < path.len; index++) {
        if (path.ptr[index] == '/' && path.ptr[index - 1] == '/') {
            return false;
        }
    }
    return true;
}

/* Looks a node up for a read and catches up to what it shows. */
static int read_lookup(struct shard *shard, struct jute_bytes path, struct store_node_view *view,
                       const struct store_node **node)
{
    if (path.len == 0) {
        /* DataTree keeps the root under "" as well as "/": reads of "" see it. */
        path = jute_bytes_cstr("/");
    }
    if (!path_is_canonical(path)) {
        if (node) {
            *node = NULL;
        }
        return ZK_NONODE;
    }
    int64_t visible_zxid = 0;
    int status = store_lookup(shard->tree, path, view, &visible_zxid, node);
    if (visible_zxid > shard->processed_zxid) {
        shard_catch_up(shard, visible_zxid);
    }
    return status;
}

static int check_acl(struct shard *shard, struct connection *connection,
                     const struct store_node_view *view, int32_t perm)
{
    return store_acl_check(shard->tree, view->acl, perm, connection->auth);
}

static struct jute_stat view_stat(const struct store_node_view *view)
{
    struct jute_stat out;
    store_stat_to_jute(&view->stat, &out);
    return out;
}

struct children_collector {
    struct store_child_entry *items;
    int32_t count;
    int32_t capacity;
    bool failed;
};

static void collect_child(void *context, struct jute_bytes name, int64_t czxid)
{
    struct children_collector *collector = context;
    if (collector->failed) {
        return;
    }
    if (collector->count == collector->capacity) {
        int32_t capacity = collector->capacity ? collector->capacity * 2 : 64;
        struct store_child_entry *grown =
            realloc(collector->items, (size_t)capacity * sizeof(*grown));
        if (!grown) {
            collector->failed = true;
            return;
        }
        collector->items = grown;
        collector->capacity = capacity;
    }
    collector->items[collector->count].name = name;
    collector->items[collector->count].czxid = czxid;
    collector->count++;
}

static void encode_children(struct jute_writer *out, const struct children_collector *collector)
{
    jute_write_int(out, collector->count);
    for (int32_t index = 0; index < collector->count; index++) {
        jute_write_bytes(out, collector->items[index].name);
    }
}

/* Reads the children of a node consistently with guarantee 4: if the node
 * changed while we listed its children, catch up and list again. */
static int read_children(struct shard *shard, struct connection *connection,
                         struct jute_bytes path, bool watch, struct store_node_view *view,
                         struct children_collector *collector)
{
    const struct store_node *node = NULL;
    int status = read_lookup(shard, path, view, &node);
    if (status != ZK_OK) {
        return status;
    }
    status = check_acl(shard, connection, view, ZK_PERM_READ);
    if (status != ZK_OK) {
        return status;
    }
    for (int attempt = 0; attempt < SHARD_CHILDREN_RETRIES_MAX; attempt++) {
        collector->count = 0;
        store_children_foreach_czxid(node, collect_child, collector);
        struct store_node_view after;
        store_node_view_get(node, &after);
        if (after.version_zxid > shard->processed_zxid) {
            shard_catch_up(shard, after.version_zxid);
        }
        bool unchanged = after.version_zxid == view->version_zxid;
        *view = after;
        if (unchanged) {
            break;
        }
    }
    if (collector->failed) {
        return ZK_SYSTEMERROR;
    }
    store_children_sort_java(collector->items, (size_t)collector->count,
                             store_children_max(node));
    if (watch) {
        watch_add(shard->watches, path, WATCH_KIND_CHILD, connection->id);
    }
    return ZK_OK;
}

static int read_get_data(struct shard *shard, struct connection *connection,
                         struct jute_bytes path, bool watch, struct store_node_view *view)
{
    int status = read_lookup(shard, path, view, NULL);
    if (status != ZK_OK) {
        return status;
    }
    status = check_acl(shard, connection, view, ZK_PERM_READ);
    if (status != ZK_OK) {
        return status;
    }
    if (watch) {
        watch_add(shard->watches, path, WATCH_KIND_DATA, connection->id);
    }
    return ZK_OK;
}

static bool path_has_nul(struct jute_bytes path)
{
    return path.len > 0 && memchr(path.ptr, '\0', (size_t)path.len) != NULL;
}

/* getACL: READ or ADMIN may read it; without ADMIN, digest ids are masked
 * (FinalRequestProcessor, ZOOKEEPER-1392). */
static void encode_acl_list(struct jute_writer *out, const struct store_acl_list *acl, bool mask)
{
    int32_t count = acl ? acl->count : 0;
    jute_write_int(out, count);
    for (int32_t index = 0; index < count; index++) {
        const struct store_acl *entry = &acl->entries[index];
        jute_write_int(out, entry->perms);
        jute_write_bytes(out, entry->scheme);
        bool is_digest = entry->scheme.len == 6 && memcmp(entry->scheme.ptr, "digest", 6) == 0;
        if (mask && is_digest) {
            const uint8_t *colon = entry->id.len > 0
                                       ? memchr(entry->id.ptr, ':', (size_t)entry->id.len)
                                       : NULL;
            if (colon) {
                int32_t user_len = (int32_t)(colon - entry->id.ptr);
                jute_write_int(out, user_len + 2);
                jute_write_raw(out, entry->id.ptr, (size_t)user_len);
                jute_write_raw(out, ":x", 2);
                continue;
            }
        }
        jute_write_bytes(out, entry->id);
    }
}

static bool multi_is_read_only(const struct jute_multi_request *multi)
{
    for (int32_t index = 0; index < multi->count; index++) {
        if (multi->ops[index].type != ZK_OP_GET_DATA &&
            multi->ops[index].type != ZK_OP_GET_CHILDREN) {
            return false;
        }
    }
    return true;
}

static void encode_multi_end(struct jute_writer *out)
{
    struct jute_multi_header end = {.type = -1, .done = true, .err = -1};
    jute_multi_header_encode(out, &end);
}

static void encode_multi_read(struct shard *shard, struct connection *connection,
                              const struct jute_multi_request *multi, struct jute_writer *out)
{
    for (int32_t index = 0; index < multi->count; index++) {
        const struct jute_multi_op *op = &multi->ops[index];
        struct store_node_view view;
        struct jute_multi_header header = {.type = op->type, .done = false, .err = 0};
        if (op->type == ZK_OP_GET_DATA) {
            int status = read_get_data(shard, connection, op->u.get_data.path, false, &view);
            if (status == ZK_OK) {
                jute_multi_header_encode(out, &header);
                struct jute_get_data_response body = {.data = view.data, .stat = view_stat(&view)};
                jute_get_data_response_encode(out, &body);
                continue;
            }
            header.type = ZK_OP_ERROR;
            header.err = status;
        } else {
            struct children_collector collector = {0};
            int status = read_children(shard, connection, op->u.get_children.path, false, &view,
                                       &collector);
            if (status == ZK_OK) {
                jute_multi_header_encode(out, &header);
                encode_children(out, &collector);
                free(collector.items);
                continue;
            }
            free(collector.items);
            header.type = ZK_OP_ERROR;
            header.err = status;
        }
        jute_multi_header_encode(out, &header);
        struct jute_error_response error = {.err = header.err};
        jute_error_response_encode(out, &error);
    }
    encode_multi_end(out);
}

/* DataTree.setWatches: fire what changed since relativeZxid, register the rest. */
static void set_watches(struct shard *shard, struct connection *connection, int64_t relative_zxid,
                        const struct jute_string_vector *data,
                        const struct jute_string_vector *exist,
                        const struct jute_string_vector *child,
                        const struct jute_string_vector *persistent,
                        const struct jute_string_vector *recursive)
{
    struct store_node_view view;
    for (int32_t index = 0; data && index < data->count; index++) {
        struct jute_bytes path = data->items[index];
        if (read_lookup(shard, path, &view, NULL) != ZK_OK) {
            send_watch_event(shard, connection, ZK_EVENT_NODE_DELETED, path);
        } else if (view.stat.mzxid > relative_zxid) {
            send_watch_event(shard, connection, ZK_EVENT_NODE_DATA_CHANGED, path);
        } else {
            watch_add(shard->watches, path, WATCH_KIND_DATA, connection->id);
        }
    }
    for (int32_t index = 0; exist && index < exist->count; index++) {
        struct jute_bytes path = exist->items[index];
        if (read_lookup(shard, path, &view, NULL) == ZK_OK) {
            send_watch_event(shard, connection, ZK_EVENT_NODE_CREATED, path);
        } else {
            watch_add(shard->watches, path, WATCH_KIND_DATA, connection->id);
        }
    }
    for (int32_t index = 0; child && index < child->count; index++) {
        struct jute_bytes path = child->items[index];
        if (read_lookup(shard, path, &view, NULL) != ZK_OK) {
            send_watch_event(shard, connection, ZK_EVENT_NODE_DELETED, path);
        } else if (view.stat.pzxid > relative_zxid) {
            send_watch_event(shard, connection, ZK_EVENT_NODE_CHILDREN_CHANGED, path);
        } else {
            watch_add(shard->watches, path, WATCH_KIND_CHILD, connection->id);
        }
    }
    for (int32_t index = 0; persistent && index < persistent->count; index++) {
        watch_add(shard->watches, persistent->items[index], WATCH_KIND_PERSISTENT, connection->id);
    }
    for (int32_t index = 0; recursive && index < recursive->count; index++) {
        watch_add(shard->watches, recursive->items[index], WATCH_KIND_PERSISTENT_RECURSIVE,
                  connection->id);
    }
}

/* WhoAmI: each auth id as ClientInfo; a digest id shows only its user
 * (DigestAuthenticationProvider.getUserName). */
static void encode_who_am_i(struct connection *connection, struct jute_writer *out)
{
    const struct store_auth *auth = connection->auth;
    jute_write_int(out, auth->id_count);
    for (int32_t index = 0; index < auth->id_count; index++) {
        struct jute_bytes scheme = auth->ids[index].scheme;
        struct jute_bytes user = auth->ids[index].id;
        if (jute_bytes_equal(scheme, jute_bytes_cstr("digest")) && user.len > 0) {
            const uint8_t *colon = memchr(user.ptr, ':', (size_t)user.len);
            if (colon) {
                user.len = (int32_t)(colon - user.ptr);
            }
        }
        jute_write_bytes(out, scheme);
        jute_write_bytes(out, user);
    }
}

/* Executes one read-side request and writes its whole reply frame into
 * shard->reply. Returns false when the connection must be closed instead. */
static bool execute_read_body(struct shard *shard, struct connection *connection,
                              const uint8_t *payload, size_t size)
{
    struct jute_arena arena;
    jute_arena_init(&arena, shard->arena_bytes, SHARD_ARENA_BYTES);
    struct jute_request request;
    int decoded = jute_request_decode(payload, size, &arena, &request);
    int32_t xid = request.header.xid;
    int32_t opcode = request.header.type;
    struct jute_writer *out = &shard->reply;
    if (opcode == ZK_OP_PING) {
        xid = ZK_XID_PING; /* FinalRequestProcessor answers every ping with xid -2 */
    }
    if (decoded != JUTE_DECODE_OK) {
        /* FinalRequestProcessor answers a body it cannot read with
         * MARSHALLINGERROR. */
        frame_begin(out, xid, shard->processed_zxid, ZK_MARSHALLINGERROR);
        frame_end(out);
        return true;
    }
    /* The reply header is written last: its zxid is what this shard has
     * processed once the read has caught up. Encode the body after a
     * placeholder header and patch it. */
    frame_begin(out, xid, 0, ZK_OK);
    size_t body_offset = out->size;
    int status = ZK_OK;
    struct store_node_view view;
    switch (opcode) {
    case ZK_OP_PING:
        break;
    case ZK_OP_EXISTS: {
        struct jute_bytes path = request.body.exists.path;
        if (path_has_nul(path)) {
            status = ZK_BADARGUMENTS;
            break;
        }
        /* DataTree.statNode adds the watch whether or not the node exists. */
        status = read_lookup(shard, path, &view, NULL);
        if (request.body.exists.watch) {
            watch_add(shard->watches, path, WATCH_KIND_DATA, connection->id);
        }
        if (status == ZK_OK) {
            struct jute_exists_response body = {.stat = view_stat(&view)};
            jute_exists_response_encode(out, &body);
        }
        break;
    }
    case ZK_OP_GET_DATA:
        status = read_get_data(shard, connection, request.body.get_data.path,
                               request.body.get_data.watch, &view);
        if (status == ZK_OK) {
            struct jute_get_data_response body = {.data = view.data, .stat = view_stat(&view)};
            jute_get_data_response_encode(out, &body);
        }
        break;
    case ZK_OP_GET_CHILDREN:
    case ZK_OP_GET_CHILDREN2: {
        bool is_v2 = opcode == ZK_OP_GET_CHILDREN2;
        struct jute_bytes path =
            is_v2 ? request.body.get_children2.path : request.body.get_children.path;
        bool watch = is_v2 ? request.body.get_children2.watch : request.body.get_children.watch;
        struct children_collector collector = {0};
        status = read_children(shard, connection, path, watch, &view, &collector);
        if (status == ZK_OK) {
            encode_children(out, &collector);
            if (is_v2) {
                struct jute_stat stat = view_stat(&view);
                jute_stat_encode(out, &stat);
            }
        }
        free(collector.items);
        break;
    }
    case ZK_OP_GET_ACL: {
        status = read_lookup(shard, request.body.get_acl.path, &view, NULL);
        if (status != ZK_OK) {
            break;
        }
        status = check_acl(shard, connection, &view, ZK_PERM_READ | ZK_PERM_ADMIN);
        if (status != ZK_OK) {
            break;
        }
        bool admin = check_acl(shard, connection, &view, ZK_PERM_ADMIN) == ZK_OK;
        encode_acl_list(out, view.acl, !admin);
        struct jute_stat stat = view_stat(&view);
        jute_stat_encode(out, &stat);
        break;
    }
    case ZK_OP_GET_ALL_CHILDREN_NUMBER: {
        const struct store_node *node = NULL;
        status = read_lookup(shard, request.body.get_all_children_number.path, &view, &node);
        if (status == ZK_OK) {
            status = check_acl(shard, connection, &view, ZK_PERM_READ);
        }
        if (status == ZK_OK) {
            jute_write_int(out, (int32_t)store_descendant_count(node));
        }
        break;
    }
    case ZK_OP_MULTI_READ:
        if (!multi_is_read_only(&request.body.multi)) {
            /* FinalRequestProcessor fails on the first write op with
             * MARSHALLINGERROR, after starting an empty MultiResponse. */
            encode_multi_end(out);
            status = ZK_MARSHALLINGERROR;
            break;
        }
        encode_multi_read(shard, connection, &request.body.multi, out);
        break;
    case ZK_OP_SET_WATCHES: {
        const struct jute_set_watches *set = &request.body.set_watches;
        set_watches(shard, connection, set->relative_zxid, &set->data_watches,
                    &set->exist_watches, &set->child_watches, NULL, NULL);
        break;
    }
    case ZK_OP_SET_WATCHES2: {
        const struct jute_set_watches2 *set = &request.body.set_watches2;
        set_watches(shard, connection, set->relative_zxid, &set->data_watches,
                    &set->exist_watches, &set->child_watches, &set->persistent_watches,
                    &set->persistent_recursive_watches);
        break;
    }
    case ZK_OP_ADD_WATCH: {
        const struct jute_add_watch_request *add = &request.body.add_watch;
        if (add->mode != ZK_ADD_WATCH_PERSISTENT &&
            add->mode != ZK_ADD_WATCH_PERSISTENT_RECURSIVE) {
            status = ZK_MARSHALLINGERROR; /* AddWatchMode.fromValue throws */
            break;
        }
        enum watch_kind kind = add->mode == ZK_ADD_WATCH_PERSISTENT_RECURSIVE
                                   ? WATCH_KIND_PERSISTENT_RECURSIVE
                                   : WATCH_KIND_PERSISTENT;
        watch_add(shard->watches, add->path, kind, connection->id);
        struct jute_error_response body = {.err = 0};
        jute_error_response_encode(out, &body);
        break;
    }
    case ZK_OP_CHECK_WATCHES:
        if (request.body.check_watches.type < ZK_WATCHER_CHILDREN ||
            request.body.check_watches.type > ZK_WATCHER_ANY) {
            /* WatcherType.fromInt throws for Persistent(4) and
             * PersistentRecursive(5) in 3.8: MARSHALLINGERROR. */
            status = ZK_MARSHALLINGERROR;
        } else if (!watch_contains(shard->watches, request.body.check_watches.path, connection->id,
                            request.body.check_watches.type)) {
            status = ZK_NOWATCHER;
        }
        break;
    case ZK_OP_REMOVE_WATCHES:
        if (request.body.remove_watches.type < ZK_WATCHER_CHILDREN ||
            request.body.remove_watches.type > ZK_WATCHER_ANY) {
            status = ZK_MARSHALLINGERROR;
        } else if (!watch_remove(shard->watches, request.body.remove_watches.path, connection->id,
                          request.body.remove_watches.type)) {
            status = ZK_NOWATCHER;
        }
        break;
    case ZK_OP_WHO_AM_I:
        encode_who_am_i(connection, out);
        break;
    default:
        assert(!"not a read opcode");
    }
    bool keeps_body = opcode == ZK_OP_MULTI_READ && status == ZK_MARSHALLINGERROR;
    if (status != ZK_OK && !keeps_body) {
        out->size = body_offset; /* an error reply has the header alone */
    }
    /* Patch the header: zxid (offset 8 = 4 length + 4 xid) and err. */
    int64_t zxid = shard->processed_zxid;
    if (out->ok) {
        jute_writer_patch_int(out, 8, (int32_t)((uint64_t)zxid >> 32));
        jute_writer_patch_int(out, 12, (int32_t)zxid);
        jute_writer_patch_int(out, 16, status);
    }
    frame_end(out);
    connection->last_cxid = xid;
    connection->last_zxid = zxid;
    connection->last_opcode = opcode;
    if (!out->ok) {
        /* Larger than any reply may be: answer with an error, as ZooKeeper
         * would fail to serialize it. */
        frame_begin(out, xid, zxid, ZK_MARSHALLINGERROR);
        frame_end(out);
    }
    return true;
}

/* A read holds node pointers of shard->tree until it returns: the tree must
 * not be switched under it (switch_tree asserts). */
static bool execute_read(struct shard *shard, struct connection *connection,
                         const uint8_t *payload, size_t size)
{
    assert(!shard->reading);
    shard->reading = true;
    bool keep = execute_read_body(shard, connection, payload, size);
    shard->reading = false;
    return keep;
}

/* ---- the per-connection request queue -------------------------------------- */

static bool opcode_is_read(int32_t opcode)
{
    switch (opcode) {
    case ZK_OP_EXISTS:
    case ZK_OP_GET_DATA:
    case ZK_OP_GET_ACL:
    case ZK_OP_GET_CHILDREN:
    case ZK_OP_GET_CHILDREN2:
    case ZK_OP_PING:
    case ZK_OP_CHECK_WATCHES:
    case ZK_OP_REMOVE_WATCHES:
    case ZK_OP_MULTI_READ:
    case ZK_OP_SET_WATCHES:
    case ZK_OP_GET_ALL_CHILDREN_NUMBER:
    case ZK_OP_SET_WATCHES2:
    case ZK_OP_ADD_WATCH:
    case ZK_OP_WHO_AM_I:
        return true;
    default:
        return false;
    }
}

static bool opcode_is_write(int32_t opcode)
{
    switch (opcode) {
    case ZK_OP_CREATE:
    case ZK_OP_DELETE:
    case ZK_OP_SET_DATA:
    case ZK_OP_SET_ACL:
    case ZK_OP_SYNC:
    case ZK_OP_CHECK:
    case ZK_OP_MULTI:
    case ZK_OP_CREATE2:
    case ZK_OP_RECONFIG:
    case ZK_OP_CREATE_CONTAINER:
    case ZK_OP_CREATE_TTL:
    case ZK_OP_GET_EPHEMERALS:
    case ZK_OP_CLOSE_SESSION:
    case ZK_OP_DELETE_CONTAINER: /* refused by the sequencer with an ErrorTxn */
    case ZK_OP_CREATE_SESSION:   /* likewise, after the handshake */
        return true;
    default:
        return false;
    }
}

/* Hands the write to the core. The pending entry's payload buffer moves
 * with it (the RequestHeader stripped in place): no second copy. */
static void send_write_to_core(struct shard *shard, struct connection *connection,
                               struct pending_request *pending)
{
    const size_t header_bytes = 8;
    assert(pending->payload_size >= header_bytes);
    struct core_request *core = calloc(1, sizeof(*core));
    assert(core != NULL);
    core->kind = CORE_REQUEST_WRITE;
    core->shard_index = shard->index;
    core->connection_id = connection->id;
    core->session_id = connection->session_id;
    core->xid = pending->xid;
    core->opcode = pending->opcode;
    core->auth = store_auth_copy(connection->auth);
    assert(core->auth != NULL);
    size_t body_size = pending->payload_size - header_bytes;
    memmove(pending->payload, pending->payload + header_bytes, body_size);
    core->body = pending->payload;
    core->body_bytes = body_size;
    pending->payload = NULL;
    pending->payload_size = 0;
    pending->sent_to_core = true;
    push_core_request(shard, core);
}

/* Runs what can run now: reads at the head (once every earlier request is
 * done) and writes up to the first read that still waits. */
static void connection_advance(struct shard *shard, struct connection *connection)
{
    if (connection->state != CONNECTION_READY) {
        return;
    }
    while (connection->state == CONNECTION_READY && connection->pending_head) {
        struct pending_request *head = connection->pending_head;
        if (head->kind == PENDING_WRITE) {
            break; /* waiting for the core */
        }
        execute_read(shard, connection, head->payload, head->payload_size);
        record_latency(shard, connection, head->received_ms);
        send_bytes(shard, connection, shard->reply.data, shard->reply.size);
        pending_pop(shard, connection);
    }
    /* Writes behind the head go to the core as long as no read sits
     * between them and the head. */
    for (struct pending_request *pending = connection->pending_head; pending;
         pending = pending->next) {
        if (pending->kind == PENDING_READ) {
            break;
        }
        if (!pending->sent_to_core) {
            send_write_to_core(shard, connection, pending);
        }
    }
}

static struct pending_request *enqueue(struct shard *shard, struct connection *connection,
                                       enum pending_kind kind, int32_t xid, int32_t opcode,
                                       const uint8_t *payload, size_t size)
{
    struct pending_request *pending = calloc(1, sizeof(*pending));
    assert(pending != NULL);
    pending->kind = kind;
    pending->xid = xid;
    pending->opcode = opcode;
    pending->received_ms = monotonic_ms();
    pending->payload = malloc(size);
    assert(pending->payload != NULL);
    memcpy(pending->payload, payload, size);
    pending->payload_size = size;
    if (connection->pending_tail) {
        connection->pending_tail->next = pending;
    } else {
        connection->pending_head = pending;
    }
    connection->pending_tail = pending;
    connection->pending_count++;
    counter_add(&shard->counters.outstanding_requests, 1);
    if (!connection->receive_paused &&
        connection->pending_count >= shard->settings.connection_pending_max) {
        connection->receive_paused = true;
        transport_set_receive_paused(shard->transport, connection->handle, true);
    }
    return pending;
}

/* ---- auth and sasl (answered at once, as ZooKeeperServer.processPacket) ---- */

static bool auth_add_id(struct connection *connection, const char *scheme, const char *id,
                        size_t id_len, bool is_super)
{
    const struct store_auth *old = connection->auth;
    for (int32_t index = 0; index < old->id_count; index++) {
        const struct store_auth_id *have = &old->ids[index];
        if ((size_t)have->scheme.len == strlen(scheme) &&
            memcmp(have->scheme.ptr, scheme, strlen(scheme)) == 0 &&
            (size_t)have->id.len == id_len && memcmp(have->id.ptr, id, id_len) == 0) {
            return true; /* authInfo is a set in effect: adding twice changes nothing */
        }
    }
    if (old->id_count >= SHARD_AUTH_IDS_MAX) {
        return false;
    }
    /* A flexible array member cannot sit inside another struct (clang
     * rejects it), so the scratch auth is built in a byte buffer. */
    _Alignas(max_align_t) uint8_t scratch_bytes[sizeof(struct store_auth) +
                                                SHARD_AUTH_IDS_MAX * sizeof(struct store_auth_id)];
    struct store_auth *scratch = (struct store_auth *)scratch_bytes;
    scratch->is_super = old->is_super || is_super;
    scratch->id_count = old->id_count + 1;
    memcpy(scratch->ids, old->ids, (size_t)old->id_count * sizeof(old->ids[0]));
    scratch->ids[old->id_count].scheme = jute_bytes_cstr(scheme);
    scratch->ids[old->id_count].id = jute_bytes_of(id, (int32_t)id_len);
    struct store_auth *copy = store_auth_copy(scratch);
    if (!copy) {
        return false;
    }
    free(connection->auth);
    connection->auth = copy;
    return true;
}

static void handle_auth(struct shard *shard, struct connection *connection,
                        const struct jute_auth_packet *auth)
{
    struct jute_writer *out = &shard->reply;
    bool ok = false;
    if (jute_bytes_equal(auth->scheme, jute_bytes_cstr("digest")) && auth->auth.len >= 0) {
        char digest[STORE_PATH_BYTES_MAX];
        if (store_digest_id(auth->auth, digest, sizeof(digest)) == ZK_OK) {
            bool is_super = shard->settings.super_digest &&
                            strcmp(digest, shard->settings.super_digest) == 0;
            ok = auth_add_id(connection, "digest", digest, strlen(digest), false);
            if (ok && is_super) {
                ok = auth_add_id(connection, "super", "", 0, true);
            }
        }
    } else if (jute_bytes_equal(auth->scheme, jute_bytes_cstr("ip"))) {
        ok = auth_add_id(connection, "ip", connection->peer.address,
                         strlen(connection->peer.address), false);
    }
    if (ok) {
        frame_begin(out, ZK_XID_AUTH, 0, ZK_OK);
        frame_end(out);
        send_bytes(shard, connection, out->data, out->size);
        return;
    }
    /* Unknown scheme or failed authentication: AUTHFAILED, then close. */
    frame_begin(out, ZK_XID_AUTH, 0, ZK_AUTHFAILED);
    frame_end(out);
    send_bytes(shard, connection, out->data, out->size);
    close_connection(shard, connection, "its authentication failed");
}

/* ---- frames ------------------------------------------------------------------ */

static void handle_request_frame(struct shard *shard, struct connection *connection,
                                 const uint8_t *payload, size_t size)
{
    if (size < 8) {
        close_bad_input(shard, connection, "its request is shorter than a RequestHeader");
        return;
    }
    int32_t xid = (int32_t)jute_load_be32(payload);
    int32_t opcode = (int32_t)jute_load_be32(payload + 4);
    connection->touched = true;
    connection->packets_received++;
    counter_add(&shard->counters.packets_received, 1);
    if (opcode == ZK_OP_AUTH) {
        struct jute_arena arena;
        jute_arena_init(&arena, shard->arena_bytes, SHARD_ARENA_BYTES);
        struct jute_request request;
        if (jute_request_decode(payload, size, &arena, &request) != JUTE_DECODE_OK) {
            close_bad_input(shard, connection, "its auth packet does not decode");
            return;
        }
        handle_auth(shard, connection, &request.body.auth);
        return;
    }
    if (opcode == ZK_OP_SASL) {
        /* SASL is not configured (no JAAS): ZooKeeper 3.8 answers with an
         * empty (null) token and keeps the connection. */
        struct jute_writer *out = &shard->reply;
        frame_begin(out, xid, 0, ZK_OK);
        struct jute_set_sasl_response body = {.token = jute_bytes_of(NULL, -1)};
        jute_set_sasl_response_encode(out, &body);
        frame_end(out);
        send_bytes(shard, connection, out->data, out->size);
        return;
    }
    enum pending_kind kind;
    if (opcode_is_read(opcode)) {
        kind = PENDING_READ;
    } else if (opcode_is_write(opcode)) {
        kind = PENDING_WRITE;
    } else {
        /* ZooKeeperServer.submitRequest: an unknown type is answered with
         * UNIMPLEMENTED (zxid -1), then the connection closes. */
        struct jute_writer *out = &shard->reply;
        frame_begin(out, xid, -1, ZK_UNIMPLEMENTED);
        frame_end(out);
        send_bytes(shard, connection, out->data, out->size);
        char why[96];
        snprintf(why, sizeof(why), "it sent unknown opcode %d", opcode);
        close_bad_input(shard, connection, why);
        return;
    }
    /* Fast path: a read with nothing queued before it runs straight from
     * the receive buffer. */
    if (kind == PENDING_READ && connection->pending_head == NULL &&
        connection->state == CONNECTION_READY) {
        int64_t received_ms = monotonic_ms();
        execute_read(shard, connection, payload, size);
        record_latency(shard, connection, received_ms);
        send_bytes(shard, connection, shard->reply.data, shard->reply.size);
        return;
    }
    enqueue(shard, connection, kind, xid, opcode, payload, size);
    connection_advance(shard, connection);
}

static void handle_frame(struct shard *shard, struct connection *connection,
                         const uint8_t *payload, size_t size)
{
    switch (connection->state) {
    case CONNECTION_NEW:
        handle_connect_request(shard, connection, payload, size);
        break;
    /* Requests sent before the ConnectResponse (auth, typically): auth is
     * handled at once as ZooKeeper does; the rest queue behind the session's
     * creation. */
    case CONNECTION_CONNECTING:
    case CONNECTION_READY:
        handle_request_frame(shard, connection, payload, size);
        break;
    case CONNECTION_CLOSING:
    case CONNECTION_GATHERING:
        break;
    }
}

static void handle_four_letter_word(struct shard *shard, struct connection *connection,
                                    const uint8_t word[4])
{
    if (shard->serving && shard_fourlw_start_gather(shard, connection, word)) {
        return; /* answered when every shard's part has arrived */
    }
    struct jute_writer out;
    jute_writer_init(&out, SHARD_REPLY_BYTES_MAX);
    bool answered = !shard->serving && shard_fourlw_write_not_serving(shard, word, &out);
    if (!answered) {
        server_four_letter_word(shard->server, word, &out);
    }
    if (out.ok && out.size > 0) {
        send_bytes(shard, connection, out.data, out.size);
    }
    jute_writer_free(&out);
    close_connection(shard, connection, NULL);
}

static bool input_append(struct connection *connection, const uint8_t *data, size_t size,
                         size_t limit_bytes)
{
    size_t needed = connection->input_size + size;
    if (needed > limit_bytes) {
        return false;
    }
    if (needed > connection->input_capacity) {
        size_t capacity = connection->input_capacity ? connection->input_capacity : 4096;
        while (capacity < needed) {
            capacity *= 2;
        }
        uint8_t *grown = realloc(connection->input, capacity);
        if (!grown) {
            return false;
        }
        connection->input = grown;
        connection->input_capacity = capacity;
    }
    memcpy(connection->input + connection->input_size, data, size);
    connection->input_size = needed;
    return true;
}

/* Splits `data` into frames; returns the number of bytes consumed. */
static size_t consume_frames(struct shard *shard, struct connection *connection,
                             const uint8_t *data, size_t size)
{
    size_t offset = 0;
    while (offset < size && connection->state != CONNECTION_CLOSING &&
           connection->state != CONNECTION_GATHERING) {
        const uint8_t *at = data + offset;
        size_t available = size - offset;
        if (connection->state == CONNECTION_NEW && connection->packets_received == 0 &&
            available >= ZK_FOUR_LETTER_WORD_BYTES) {
            /* NIOServerCnxn.checkFourLetterWord: the first 4 bytes of a new
             * connection may be a command instead of a frame length. */
            uint8_t word[4];
            memcpy(word, at, 4);
            if (fourlw_lookup(word) >= 0) {
                /* ZooKeeper counts the word as one packet received. */
                connection->four_letter_word = true;
                connection->packets_received++;
                counter_add(&shard->counters.packets_received, 1);
                handle_four_letter_word(shard, connection, word);
                return size;
            }
        }
        if (!shard->serving && available >= 4) {
            /* NIOServerCnxn.readLength: "ZooKeeperServer not running"
             * closes the connection once a frame length is read, with no
             * reply; the client tries the next server. Clients retry in a
             * loop during an election: counted, logged once a second. */
            close_connection(shard, connection, NULL);
            shard->refused_not_serving_count++;
            return size;
        }
        uint32_t payload_bytes = 0;
        enum jute_frame_status status =
            jute_frame_peek(at, available, shard->settings.jute_maxbuffer_bytes, &payload_bytes);
        if (status == JUTE_FRAME_BAD_LENGTH) {
            char why[128];
            snprintf(why, sizeof(why),
                     "it sent a frame length of %d bytes, outside 0..%u (jute.maxbuffer)",
                     (int32_t)jute_load_be32(at), shard->settings.jute_maxbuffer_bytes);
            close_bad_input(shard, connection, why);
            return size;
        }
        if (status == JUTE_FRAME_INCOMPLETE) {
            break;
        }
        if (connection->state == CONNECTION_NEW) {
            connection->packets_received++;
        }
        handle_frame(shard, connection, at + 4, payload_bytes);
        offset += 4 + (size_t)payload_bytes;
    }
    return offset;
}

/* ---- transport callbacks ------------------------------------------------------ */

static struct store_auth *auth_for_peer(const struct transport_peer *peer)
{
    _Alignas(max_align_t) uint8_t scratch_bytes[sizeof(struct store_auth) +
                                                sizeof(struct store_auth_id)];
    struct store_auth *scratch = (struct store_auth *)scratch_bytes;
    scratch->is_super = false;
    scratch->id_count = 1;
    scratch->ids[0].scheme = jute_bytes_cstr("ip");
    scratch->ids[0].id = jute_bytes_cstr(peer->address);
    return store_auth_copy(scratch);
}

static void *on_accepted(void *context, struct transport_connection *handle,
                         const struct transport_peer *peer)
{
    struct shard *shard = context;
    if (shard->free_count == 0) {
        counter_add(&shard->counters.connections_refused, 1);
        return NULL;
    }
    if (!server_ip_acquire(shard->server, peer->address)) {
        counter_add(&shard->counters.connections_refused, 1);
        log_warn("too many connections from %s (maxClientCnxns): refusing a new one",
                 peer->address);
        return NULL;
    }
    struct connection *connection = calloc(1, sizeof(*connection));
    struct store_auth *auth = auth_for_peer(peer);
    if (!connection || !auth) {
        free(connection);
        free(auth);
        server_ip_release(shard->server, peer->address);
        return NULL;
    }
    uint32_t slot = shard->free_slots[--shard->free_count];
    uint32_t generation = ++shard->generations[slot];
    connection->id = ((uint64_t)generation << 32) | slot;
    connection->slot = slot;
    connection->handle = handle;
    connection->peer = *peer;
    connection->ip_counted = true;
    connection->auth = auth;
    connection->last_heard_ms = monotonic_ms();
    connection->established_ms = connection->last_heard_ms;
    shard->slots[slot] = connection;
    counter_add(&shard->counters.connections, 1);
    return connection;
}

static void on_received(void *context, void *user, const uint8_t *data, size_t size)
{
    struct shard *shard = context;
    struct connection *connection = user;
    if (connection->state == CONNECTION_CLOSING) {
        return;
    }
    connection->last_heard_ms = monotonic_ms();
    size_t frame_limit = 4 + (size_t)shard->settings.jute_maxbuffer_bytes;
    if (connection->input_size == 0) {
        size_t consumed = consume_frames(shard, connection, data, size);
        if (consumed < size && connection->state != CONNECTION_CLOSING &&
            !input_append(connection, data + consumed, size - consumed, frame_limit)) {
            close_bad_input(shard, connection, "out of memory buffering its frame");
        }
        return;
    }
    if (!input_append(connection, data, size, frame_limit + size)) {
        close_bad_input(shard, connection, "out of memory buffering its frame");
        return;
    }
    size_t consumed = consume_frames(shard, connection, connection->input, connection->input_size);
    if (consumed > 0 && connection->state != CONNECTION_CLOSING) {
        memmove(connection->input, connection->input + consumed,
                connection->input_size - consumed);
        connection->input_size -= consumed;
    }
}

static void connection_free(struct shard *shard, struct connection *connection)
{
    while (connection->pending_head) {
        pending_pop(shard, connection);
    }
    free(connection->input);
    free(connection->auth);
    free(connection);
}

static void on_closed(void *context, void *user, enum transport_close_reason reason)
{
    struct shard *shard = context;
    struct connection *connection = user;
    (void)reason;
    watch_remove_watcher(shard->watches, connection->id);
    if (connection->session_id != 0) {
        struct core_request *core = calloc(1, sizeof(*core));
        assert(core != NULL);
        core->kind = CORE_REQUEST_DISCONNECTED;
        core->shard_index = shard->index;
        core->connection_id = connection->id;
        core->session_id = connection->session_id;
        push_core_request(shard, core);
    }
    if (connection->ip_counted) {
        server_ip_release(shard->server, connection->peer.address);
    }
    /* Remove it from the runnable list before freeing. */
    struct connection **link = &shard->runnable_head;
    while (*link) {
        if (*link == connection) {
            *link = connection->runnable_next;
            break;
        }
        link = &(*link)->runnable_next;
    }
    shard->slots[connection->slot] = NULL;
    shard->free_slots[shard->free_count++] = connection->slot;
    counter_add(&shard->counters.connections, -1);
    connection_free(shard, connection);
}

static void on_woken(void *context)
{
    (void)context; /* the loop drains the inbound ring after every turn */
}

/* ---- timers ------------------------------------------------------------------ */

static void send_touches(struct shard *shard)
{
    size_t count = 0;
    for (uint32_t slot = 0; slot < shard->slot_count; slot++) {
        struct connection *connection = shard->slots[slot];
        count += connection && connection->touched && connection->session_id != 0;
    }
    if (count == 0) {
        return;
    }
    struct core_request *core = calloc(1, sizeof(*core));
    assert(core != NULL);
    core->kind = CORE_REQUEST_TOUCH;
    core->shard_index = shard->index;
    core->session_ids = malloc(count * sizeof(*core->session_ids));
    assert(core->session_ids != NULL);
    for (uint32_t slot = 0; slot < shard->slot_count; slot++) {
        struct connection *connection = shard->slots[slot];
        if (connection && connection->touched && connection->session_id != 0) {
            core->session_ids[core->session_count++] = connection->session_id;
            connection->touched = false;
        }
    }
    push_core_request(shard, core);
}

/* NIOServerCnxnFactory's connection expiry: a connection without a session
 * closes after sessionlessCnxnTimeout; a connected one after its session
 * timeout without traffic. */
static void close_idle_connections(struct shard *shard, int64_t now_ms)
{
    for (uint32_t slot = 0; slot < shard->slot_count; slot++) {
        struct connection *connection = shard->slots[slot];
        if (!connection || connection->state == CONNECTION_CLOSING) {
            continue;
        }
        int64_t idle_ms = now_ms - connection->last_heard_ms;
        if (connection->state == CONNECTION_NEW &&
            idle_ms > (int64_t)shard->settings.sessionless_timeout_ms) {
            close_connection(shard, connection, "it sent no ConnectRequest in time");
        } else if (connection->state == CONNECTION_READY && idle_ms > connection->timeout_ms) {
            close_connection(shard, connection, "nothing heard within its session timeout");
        }
    }
}

static void run_timers(struct shard *shard)
{
    int64_t now_ms = monotonic_ms();
    if (now_ms >= shard->next_touch_ms) {
        send_touches(shard);
        shard->next_touch_ms =
            now_ms + shard->settings.tick_ms / SHARD_TOUCH_INTERVAL_DIVISOR;
    }
    if (now_ms >= shard->next_idle_check_ms) {
        if (shard->refused_not_serving_count > 0) {
            log_info("shard %u: closed %llu client connection(s) without a reply: this server "
                     "is not serving clients now (no role in the ensemble yet)",
                     shard->index, (unsigned long long)shard->refused_not_serving_count);
            shard->refused_not_serving_count = 0;
        }
        close_idle_connections(shard, now_ms);
        shard->next_idle_check_ms = now_ms + 1000;
    }
}

/* ---- the loop --------------------------------------------------------------- */

static void run_runnable(struct shard *shard)
{
    /* Bounded: each connection is taken off the list before it runs, and
     * running it can only re-add it through an inbound message, which is
     * not processed here. */
    while (shard->runnable_head) {
        struct connection *connection = shard->runnable_head;
        shard->runnable_head = connection->runnable_next;
        connection->runnable_queued = false;
        connection->runnable_next = NULL;
        connection_advance(shard, connection);
    }
}

int shard_run(struct shard *shard)
{
    store_reader_online(shard->tree, shard->reader);
    int result = 0;
    while (!atomic_load_explicit(&shard->stop_requested, memory_order_acquire)) {
        size_t handled = process_inbound(shard, SHARD_MESSAGES_PER_TURN_MAX);
        run_runnable(shard);
        flush_overflow(shard);
        run_timers(shard);
        /* For mntr and srvr on any shard. */
        atomic_store_explicit(&shard->counters.watch_count,
                              (int64_t)watch_count_total(shard->watches), memory_order_relaxed);
        /* Nothing this thread holds points into the tree now. */
        store_reader_quiescent(shard->tree, shard->reader);
        int timeout_ms = handled > 0 || shard->runnable_head ? 0 : 250;
        if (timeout_ms > 0) {
            /* Going to sleep: let the writer reclaim without waiting for us. */
            store_reader_offline(shard->reader);
            if (spsc_ring_count(&shard->inbound) > 0) {
                timeout_ms = 0;
            }
        }
        int status = transport_run_once(shard->transport, timeout_ms);
        if (timeout_ms > 0) {
            store_reader_online(shard->tree, shard->reader);
        }
        if (status < 0) {
            log_error("shard %u: transport failed: %s", shard->index, strerror(-status));
            result = status;
            break;
        }
    }
    store_reader_offline(shard->reader);
    return result;
}

void shard_stop(struct shard *shard)
{
    atomic_store_explicit(&shard->stop_requested, true, memory_order_release);
    transport_wake(shard->transport);
}

const struct shard_counters *shard_counters(const struct shard *shard)
{
    return &shard->counters;
}

void shard_counters_reset(struct shard *shard)
{
    atomic_store(&shard->counters.packets_received, 0);
    atomic_store(&shard->counters.packets_sent, 0);
    atomic_store(&shard->counters.latency_total_ms, 0);
    atomic_store(&shard->counters.latency_count, 0);
    atomic_store(&shard->counters.latency_min_ms, -1);
    atomic_store(&shard->counters.latency_max_ms, 0);
}

static const struct transport_callbacks shard_transport_callbacks = {
    .accepted = on_accepted,
    .received = on_received,
    .closed = on_closed,
    .woken = on_woken,
};

struct shard *shard_create(struct server *server, uint32_t shard_index,
                           const struct shard_settings *settings, struct store_tree *tree,
                           char *error, size_t error_bytes)
{
    struct shard *shard = calloc(1, sizeof(*shard));
    if (!shard) {
        snprintf(error, error_bytes, "out of memory creating shard %u", shard_index);
        return NULL;
    }
    shard->server = server;
    shard->index = shard_index;
    shard->settings = *settings;
    shard->tree = tree;
    /* Whatever recovery loaded before the shards existed has no watches to
     * fire: the shard starts from there. */
    shard->processed_zxid = atomic_load(&store_tree_counters(tree)->last_zxid);
    shard->tree_switch_zxid = -1; /* no switch yet: every commit is newer than the tree */
    shard->serving = !settings->starts_not_serving;
    shard->skip_watch_catch_up = test_hooks_get()->skip_watch_catch_up;
    shard->slot_count = settings->connections_max;
    shard->slots = calloc(shard->slot_count, sizeof(*shard->slots));
    shard->generations = calloc(shard->slot_count, sizeof(*shard->generations));
    shard->free_slots = calloc(shard->slot_count, sizeof(*shard->free_slots));
    shard->arena_bytes = malloc(SHARD_ARENA_BYTES);
    shard->watches = watch_table_create(settings->watches_max,
                                        SHARD_WATCH_HASH_SEED ^ shard_index);
    shard->reader = store_reader_register(tree);
    bool rings_ok = spsc_ring_init(&shard->inbound, SHARD_INBOUND_RING_CAPACITY) &&
                    spsc_ring_init(&shard->outbound, SHARD_OUTBOUND_RING_CAPACITY);
    if (!shard->slots || !shard->generations || !shard->free_slots || !shard->arena_bytes ||
        !shard->watches || !shard->reader || !rings_ok) {
        snprintf(error, error_bytes, "out of memory creating shard %u", shard_index);
        shard_destroy(shard);
        return NULL;
    }
    for (uint32_t slot = 0; slot < shard->slot_count; slot++) {
        shard->free_slots[slot] = shard->slot_count - 1 - slot;
    }
    shard->free_count = shard->slot_count;
    jute_writer_init(&shard->reply, SHARD_REPLY_BYTES_MAX);
    jute_writer_init(&shard->notify, SHARD_REPLY_BYTES_MAX);
    atomic_store(&shard->counters.latency_min_ms, -1);
    store_reader_offline(shard->reader);
    struct transport_config transport_config = {
        .listen_address = settings->listen_address,
        .listen_port = settings->listen_port,
        .connections_max = settings->connections_max,
        .send_buffer_bytes_max = settings->send_buffer_bytes_max,
        .receive_buffer_bytes = SHARD_RECEIVE_BUFFER_BYTES,
        .receive_buffer_count = SHARD_RECEIVE_BUFFER_COUNT,
    };
    if (settings->dpdk_port) {
#ifdef CHEETAH_HAVE_DPDK
        shard->transport = transport_dpdk_create(&transport_config, settings->dpdk_port,
                                                 shard_index, &shard_transport_callbacks, shard,
                                                 error, error_bytes);
#else
        snprintf(error, error_bytes, "this cheetah-server was built without DPDK");
#endif
    } else {
        shard->transport = transport_uring_create(&transport_config, &shard_transport_callbacks,
                                                  shard, error, error_bytes);
    }
    if (!shard->transport) {
        shard_destroy(shard);
        return NULL;
    }
    return shard;
}

void shard_destroy(struct shard *shard)
{
    if (!shard) {
        return;
    }
    if (shard->transport) {
        transport_destroy(shard->transport);
    }
    for (uint32_t slot = 0; shard->slots && slot < shard->slot_count; slot++) {
        if (shard->slots[slot]) {
            connection_free(shard, shard->slots[slot]);
        }
    }
    struct shard_message *message;
    while (shard->inbound.slots && (message = spsc_ring_pop(&shard->inbound)) != NULL) {
        shard_message_free(message);
    }
    struct core_request *request;
    while (shard->outbound.slots && (request = spsc_ring_pop(&shard->outbound)) != NULL) {
        core_request_free(request);
    }
    for (size_t index = 0; index < shard->overflow_count; index++) {
        core_request_free(shard->overflow[index]);
    }
    free(shard->overflow);
    spsc_ring_destroy(&shard->inbound);
    spsc_ring_destroy(&shard->outbound);
    if (shard->watches) {
        watch_table_destroy(shard->watches);
    }
    jute_writer_free(&shard->reply);
    jute_writer_free(&shard->notify);
    free(shard->arena_bytes);
    free(shard->slots);
    free(shard->generations);
    free(shard->free_slots);
    free(shard);
}

bool shard_has_core_requests(struct shard *shard)
{
    return spsc_ring_count(&shard->outbound) > 0;
}
