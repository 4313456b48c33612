/* Deterministic simulation of whole Cheetah ensembles: the real consensus
 * code (election, ZAB peer, sequencer) and the real store, over a simulated
 * network and simulated disks, driven by one seed.
 *
 *   sim_ensemble --seeds N [--first S] [--nodes K] [--verbose]
 *
 * Each seed runs an ensemble of 3 or 5 servers (sometimes with an observer)
 * for a chaos phase (crashes with a random part of the unsynced log kept or
 * torn off, restarts, network partitions, dropped connections, election
 * messages lost, duplicated, delayed and reordered, disk latency), while
 * clients write through any server that serves; then everything heals and
 * the ensemble must converge.
 *
 * Checked after every event: at most one leader per epoch; no two different
 * transactions ever carry the same zxid (in any log); every server applies
 * transactions in increasing zxid order. Checked at the end: every server
 * serves the same leader, every tree is identical (every node's path, data,
 * Stat and ACL), and every write a client was told succeeded is there.
 *
 * A failure prints the seed; `--first SEED --seeds 1 --verbose` replays it.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/peer.h"
#include "consensus/quorum_wire.h"
#include "jute/records.h"
#include "jute/zk_constants.h"
#include "store/snapshot.h"
#include "store/txnlog.h"

#define SIM_NODES_MAX 7
#define SIM_CLIENTS 4
#define SIM_EVENTS_MAX (1u << 18)
#define SIM_CONNECTIONS_MAX 4096u
#define SIM_LOG_MAX 200000u
#define SIM_ZXIDS_MAX (1u << 20) /* open-addressing table of zxid -> hash */
#define SIM_ACKED_MAX 100000u
#define SIM_TICK_MS 100            /* tickTime */
#define SIM_STEP_MS 10             /* how often every node's peer_tick runs */
#define SIM_CHAOS_MS 20000         /* faults and writes */
#define SIM_WRITES_STOP_MS 26000   /* clients stop writing */
#define SIM_END_MS 240000          /* must have converged by then */
#define SIM_WALL_BASE_MS 1700000000000LL
#define SIM_PACKET_DATA_MAX (2u * 1024u * 1024u)

static bool verbose;

/* ---- deterministic randomness -------------------------------------------- */

static uint64_t rng_state;
static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}
static int64_t rng_range(int64_t low, int64_t high) /* inclusive */
{
    return low + (int64_t)(rng_next() % (uint64_t)(high - low + 1));
}
static bool rng_chance(int percent)
{
    return (int)(rng_next() % 100) < percent;
}

/* ---- failures --------------------------------------------------------------- */

static uint64_t current_seed;
static int64_t now_ms;

static void fail(const char *format, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fprintf(stderr, "sim_ensemble: seed %" PRIu64 " at %" PRId64 " ms: ", current_seed, now_ms);
    vfprintf(stderr, format, args);
    va_end(args);
    fprintf(stderr, "\nreplay: sim_ensemble --first %" PRIu64 " --seeds 1 --verbose\n",
            current_seed);
    exit(1);
}

static void trace(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void trace(const char *format, ...)
{
    if (!verbose) {
        return;
    }
    va_list args;
    va_start(args, format);
    printf("%8" PRId64 " ", now_ms);
    vprintf(format, args);
    va_end(args);
    printf("\n");
}

/* ---- the world ---------------------------------------------------------------- */

struct sim_log_entry {
    int64_t zxid;
    uint8_t *bytes;
    uint32_t byte_count;
    int64_t durable_at_ms;
};

struct sim_node {
    int64_t id;
    bool observer;
    bool up;
    uint32_t generation; /* bumps at every crash: stale events are ignored */
    int group;           /* partition group */
    struct store_tree *tree;
    struct sequencer *sequencer;
    struct peer *peer;
    /* Disk. */
    struct sim_log_entry *log;
    size_t log_count;
    size_t durable_count;
    int64_t last_durable_at_ms;
    int64_t disk_latency_ms_max;
    uint8_t *snapshot;
    size_t snapshot_bytes;
    int64_t snapshot_zxid;
    int64_t accepted_epoch;
    int64_t current_epoch;
    bool listening;
    int64_t last_applied_zxid;
    int64_t restart_at_ms;
    /* The configuration it activated last, kept on its "disk" as ZooKeeper
     * keeps zoo.cfg.dynamic.<version>: a restart starts from it. */
    char config_text[4096];
    bool config_saved;
};

struct sim_conn {
    bool open;
    uint64_t id;
    int learner;      /* node index that connected */
    int leader;       /* node index it connected to */
    uint32_t generation[2]; /* [0] learner's, [1] leader's at open */
    bool accepted;    /* the leader side knows it */
    bool notified[2]; /* closed reported to each side */
    int64_t last_delivery_ms[2]; /* per direction: toward learner [0], toward leader [1] */
    uint8_t *buffer[2];          /* received, not yet framed, per receiving side */
    size_t buffer_bytes[2];
    size_t buffer_capacity[2];
    bool snap_expected[2];       /* a SNAP packet arrived: a stream follows */
    size_t snap_packet_bytes[2];
};

enum sim_event_kind {
    EV_START = 1,
    EV_STEP,
    EV_ELECTION,
    EV_CONN_OPEN,
    EV_CONN_DATA,
    EV_CONN_CLOSE,
    EV_DISK,
    EV_FAULT,
    EV_HEAL,
    EV_CLIENT,
};

struct sim_event {
    int64_t at_ms;
    uint64_t order;
    enum sim_event_kind kind;
    int node;
    int other;
    uint32_t generation;
    uint64_t conn;
    int side;
    struct election_notification notification;
    uint8_t *bytes;
    size_t byte_count;
};

struct sim_client {
    int node;              /* -1: not connected */
    uint64_t connection_id;
    uint32_t generation;
    int64_t session_id;
    bool connecting;
    int32_t next_xid;
    int32_t next_key;
    int32_t timeout_ms;
};

struct sim_acked {
    char path[48];
};

static struct sim_node nodes[SIM_NODES_MAX];
static int node_count;
static struct election_member members[SIM_NODES_MAX];
/* The same membership as configuration text (the peer checks they agree);
 * the addresses are placeholders: the simulated network routes by id. */
static char members_text[4096];
static struct sim_event *events;
static size_t event_count;
static uint64_t event_order;
static struct sim_conn *conns;
static uint64_t next_conn_id;
static struct sim_client clients[SIM_CLIENTS];
static uint64_t next_client_connection;
static struct sim_acked *acked;
static size_t acked_count;
static int64_t epoch_leaders[4096];
static int64_t *zxid_keys;
static uint64_t *zxid_hashes;
static bool chaos;
static int election_loss_percent;
/* This seed's clients also send reconfigs (members leave and come back). */
static bool with_reconfig;
static size_t reconfigs_sent;

/* ---- event heap ---------------------------------------------------------------- */

static bool event_before(const struct sim_event *a, const struct sim_event *b)
{
    return a->at_ms < b->at_ms || (a->at_ms == b->at_ms && a->order < b->order);
}

static void event_push(struct sim_event event)
{
    if (event_count == SIM_EVENTS_MAX) {
        fail("event queue full");
    }
    event.order = event_order++;
    size_t index = event_count++;
    events[index] = event;
    while (index > 0) {
        size_t parent = (index - 1) / 2;
        if (!event_before(&events[index], &events[parent])) {
            break;
        }
        struct sim_event swap = events[parent];
        events[parent] = events[index];
        events[index] = swap;
        index = parent;
    }
}

static struct sim_event event_pop(void)
{
    struct sim_event top = events[0];
    events[0] = events[--event_count];
    size_t index = 0;
    for (;;) {
        size_t left = 2 * index + 1;
        size_t smallest = index;
        if (left < event_count && event_before(&events[left], &events[smallest])) {
            smallest = left;
        }
        if (left + 1 < event_count && event_before(&events[left + 1], &events[smallest])) {
            smallest = left + 1;
        }
        if (smallest == index) {
            break;
        }
        struct sim_event swap = events[smallest];
        events[smallest] = events[index];
        events[index] = swap;
        index = smallest;
    }
    return top;
}

/* ---- checks ------------------------------------------------------------------------ */

static uint64_t hash_bytes(uint64_t hash, const void *data, size_t size)
{
    const uint8_t *bytes = data;
    for (size_t index = 0; index < size; index++) {
        hash = (hash ^ bytes[index]) * 1099511628211ULL;
    }
    return hash;
}

static void check_zxid_unique(int64_t zxid, const uint8_t *bytes, size_t size)
{
    uint64_t hash = hash_bytes(14695981039346656037ULL, bytes, size);
    size_t slot = (size_t)((uint64_t)zxid * 11400714819323198485ULL) & (SIM_ZXIDS_MAX - 1);
    for (size_t probe = 0; probe < SIM_ZXIDS_MAX; probe++) {
        size_t index = (slot + probe) & (SIM_ZXIDS_MAX - 1);
        if (zxid_keys[index] == 0) {
            zxid_keys[index] = zxid;
            zxid_hashes[index] = hash;
            return;
        }
        if (zxid_keys[index] == zxid) {
            if (zxid_hashes[index] != hash) {
                fail("two different transactions carry zxid 0x%" PRIx64, (uint64_t)zxid);
            }
            return;
        }
    }
    fail("zxid table full");
}

static void check_leaders(void)
{
    for (int index = 0; index < node_count; index++) {
        struct sim_node *node = &nodes[index];
        if (!node->up) {
            continue;
        }
        struct peer_status status;
        peer_status_get(node->peer, &status);
        if (status.state != PEER_LEADING || status.phase != PEER_PHASE_BROADCAST) {
            continue;
        }
        if (status.epoch <= 0 || status.epoch >= (int64_t)(sizeof(epoch_leaders) / 8)) {
            fail("leader %" PRId64 " in epoch %" PRId64 " out of range", node->id, status.epoch);
        }
        if (epoch_leaders[status.epoch] == 0) {
            epoch_leaders[status.epoch] = node->id;
            trace("server %" PRId64 " leads epoch %" PRId64, node->id, status.epoch);
        } else if (epoch_leaders[status.epoch] != node->id) {
            fail("two leaders in epoch %" PRId64 ": %" PRId64 " and %" PRId64, status.epoch,
                 epoch_leaders[status.epoch], node->id);
        }
    }
}

/* ---- clients ------------------------------------------------------------------------- */

static struct sim_client *client_by_connection(uint64_t connection_id)
{
    for (int index = 0; index < SIM_CLIENTS; index++) {
        if (clients[index].node >= 0 && clients[index].connection_id == connection_id) {
            return &clients[index];
        }
    }
    return NULL;
}

static void client_disconnect(struct sim_client *client)
{
    client->node = -1;
    client->connecting = false;
}

static void deliver_message(void *context, uint32_t shard_index, struct shard_message *message)
{
    (void)shard_index;
    struct sim_node *node = context;
    int node_index = (int)(node - nodes);
    if (message->kind == SHARD_MESSAGE_COMMIT) {
        int64_t zxid = message->commit->zxid;
        if (zxid <= node->last_applied_zxid) {
            fail("server %" PRId64 " applied 0x%" PRIx64 " after 0x%" PRIx64, node->id,
                 (uint64_t)zxid, (uint64_t)node->last_applied_zxid);
        }
        node->last_applied_zxid = zxid;
    }
    if (message->kind == SHARD_MESSAGE_SERVING && !message->serving) {
        for (int index = 0; index < SIM_CLIENTS; index++) {
            if (clients[index].node == node_index) {
                client_disconnect(&clients[index]);
            }
        }
    }
    struct sim_client *client = NULL;
    if (message->kind == SHARD_MESSAGE_CONNECTED || message->has_reply ||
        message->kind == SHARD_MESSAGE_REPLY || message->kind == SHARD_MESSAGE_CLOSE_CONNECTION) {
        client = client_by_connection(message->connection_id);
        if (client && client->node != node_index) {
            client = NULL;
        }
    }
    if (client) {
        if (message->kind == SHARD_MESSAGE_CONNECTED) {
            client->connecting = false;
            if (message->session_valid) {
                client->session_id = message->session_id;
            } else {
                client->session_id = 0;
                client_disconnect(client);
            }
        } else if (message->kind == SHARD_MESSAGE_CLOSE_CONNECTION) {
            client_disconnect(client);
        } else if ((message->has_reply || message->kind == SHARD_MESSAGE_REPLY) &&
                   message->opcode == ZK_OP_CREATE && message->err == ZK_OK) {
            if (acked_count == SIM_ACKED_MAX) {
                fail("too many acknowledged writes");
            }
            /* The reply carries the path created: /c<client>-<key>, with key
             * the xid we chose (unique per client). */
            int client_index = (int)(client - clients);
            snprintf(acked[acked_count].path, sizeof(acked[acked_count].path), "/c%d-%d",
                     client_index, message->xid);
            trace("[%" PRId64 "] acknowledges %s (zxid 0x%" PRIx64 ")", node->id,
                  acked[acked_count].path,
                  message->commit ? (uint64_t)message->commit->zxid : 0);
            acked_count++;
        }
    }
    shard_message_free(message);
}

/* A client's write request; takes `body`'s bytes. */
static struct core_request *write_request(struct sim_client *client, int32_t xid, int32_t opcode,
                                          struct jute_writer *body, bool super_user)
{
    struct core_request *request = calloc(1, sizeof(*request));
    assert(request != NULL);
    request->kind = CORE_REQUEST_WRITE;
    request->connection_id = client->connection_id;
    request->session_id = client->session_id;
    request->xid = xid;
    request->opcode = opcode;
    request->body = body->data;
    request->body_bytes = body->size;
    struct store_auth auth = {.is_super = super_user, .id_count = 0};
    request->auth = store_auth_copy(&auth);
    return request;
}

/* A super user's reconfig: one member (of the starting configuration)
 * leaves, or comes back with its starting line. Refusals (a reconfig in
 * progress, too few voters left, no synced quorum) are part of the test. */
static void send_reconfig(struct sim_client *client, struct sim_node *node)
{
    int member = (int)rng_range(0, node_count - 1);
    char leaving[32] = "";
    char joining[256] = "";
    if (rng_chance(50)) {
        snprintf(leaving, sizeof(leaving), "%" PRId64, nodes[member].id);
    } else {
        /* Its line in members_text, "server.N=spec". */
        char key[32];
        snprintf(key, sizeof(key), "server.%" PRId64 "=", nodes[member].id);
        const char *line = strstr(members_text, key);
        assert(line != NULL);
        size_t length = strcspn(line, "\n");
        snprintf(joining, sizeof(joining), "%.*s", (int)length, line);
    }
    struct jute_reconfig_request reconfig = {
        .joining_servers = joining[0] ? jute_bytes_cstr(joining) : jute_bytes_of(NULL, -1),
        .leaving_servers = leaving[0] ? jute_bytes_cstr(leaving) : jute_bytes_of(NULL, -1),
        .new_members = jute_bytes_of(NULL, -1),
        .cur_config_id = -1,
    };
    struct jute_writer body;
    jute_writer_init(&body, 4096);
    jute_reconfig_request_encode(&body, &reconfig);
    struct core_request *request = write_request(client, ++client->next_xid, ZK_OP_RECONFIG,
                                                 &body, true);
    trace("[%" PRId64 "] client reconfig: joining '%s' leaving '%s'", node->id, joining,
          leaving);
    reconfigs_sent++;
    sequencer_handle(node->sequencer, request, SIM_WALL_BASE_MS + now_ms, now_ms);
}

static void client_act(int client_index)
{
    struct sim_client *client = &clients[client_index];
    if (client->node >= 0 && !nodes[client->node].up) {
        client_disconnect(client);
    }
    if (client->node < 0) {
        int target = (int)rng_range(0, node_count - 1);
        struct sim_node *node = &nodes[target];
        if (!node->up || sequencer_mode(node->sequencer) == SEQUENCER_IDLE ||
            !peer_accepting(node->peer)) {
            return;
        }
        client->node = target;
        client->generation = node->generation;
        client->connection_id = ++next_client_connection;
        client->connecting = true;
        struct core_request *request = calloc(1, sizeof(*request));
        assert(request != NULL);
        request->kind = CORE_REQUEST_CONNECT;
        request->connection_id = client->connection_id;
        request->session_id = client->session_id;
        request->timeout_ms = client->timeout_ms;
        request->password_valid = true;
        sequencer_handle(node->sequencer, request, SIM_WALL_BASE_MS + now_ms, now_ms);
        return;
    }
    if (client->connecting || now_ms >= SIM_WRITES_STOP_MS) {
        return;
    }
    struct sim_node *node = &nodes[client->node];
    if (!peer_accepting(node->peer)) {
        return;
    }
    if (with_reconfig && rng_chance(2)) {
        send_reconfig(client, node);
        return;
    }
    int32_t xid = ++client->next_xid;
    char path[48];
    snprintf(path, sizeof(path), "/c%d-%d", client_index, xid);
    char data[16];
    snprintf(data, sizeof(data), "v%d", xid);
    struct jute_id anyone = {.scheme = jute_bytes_cstr("world"), .id = jute_bytes_cstr("anyone")};
    struct jute_acl acl = {.perms = 31, .id = anyone};
    struct jute_create_request create = {
        .path = jute_bytes_cstr(path),
        .data = jute_bytes_cstr(data),
        .acl = {.count = 1, .items = &acl},
        .flags = 0,
    };
    struct jute_writer body;
    jute_writer_init(&body, 4096);
    jute_create_request_encode(&body, &create);
    struct core_request *request = write_request(client, xid, ZK_OP_CREATE, &body, false);
    sequencer_handle(node->sequencer, request, SIM_WALL_BASE_MS + now_ms, now_ms);
    /* Touches reach the leader through learners' pings. */
    struct core_request *touch = calloc(1, sizeof(*touch));
    assert(touch != NULL);
    touch->kind = CORE_REQUEST_TOUCH;
    touch->session_ids = malloc(sizeof(int64_t));
    assert(touch->session_ids != NULL);
    touch->session_ids[0] = client->session_id;
    touch->session_count = 1;
    sequencer_handle(node->sequencer, touch, SIM_WALL_BASE_MS + now_ms, now_ms);
}

/* ---- network ------------------------------------------------------------------------- */

static bool reachable(int a, int b)
{
    return nodes[a].up && nodes[b].up && nodes[a].group == nodes[b].group;
}

static int node_index_of(int64_t id)
{
    for (int index = 0; index < node_count; index++) {
        if (nodes[index].id == id) {
            return index;
        }
    }
    return -1;
}

static void io_election_send(void *context, int64_t to_id,
                             const struct election_notification *notification)
{
    struct sim_node *node = context;
    int from = (int)(node - nodes);
    int to = node_index_of(to_id);
    if (to < 0) {
        return;
    }
    int copies = 1;
    if (to != from && chaos) {
        if (rng_chance(election_loss_percent)) {
            copies = 0;
        } else if (rng_chance(3)) {
            copies = 2;
        }
    }
    /* The sender's configuration travels with it, as in ZooKeeper's
     * notifications: the one it activated last, or the starting one. */
    const char *config_text = node->config_saved ? node->config_text : members_text;
    for (int copy = 0; copy < copies; copy++) {
        struct sim_event event = {
            .at_ms = now_ms + (to == from ? 0 : rng_range(1, chaos ? 40 : 5)),
            .kind = EV_ELECTION,
            .node = to,
            .other = from,
            .generation = nodes[to].generation,
            .notification = *notification,
            .bytes = (uint8_t *)strdup(config_text),
            .byte_count = strlen(config_text),
        };
        assert(event.bytes != NULL);
        event_push(event);
    }
}

static struct sim_conn *conn_find(uint64_t id)
{
    if (id == 0 || id > next_conn_id) {
        return NULL;
    }
    struct sim_conn *conn = &conns[(id - 1) % SIM_CONNECTIONS_MAX];
    return conn->id == id ? conn : NULL;
}

static void conn_close(struct sim_conn *conn, const char *why)
{
    if (!conn->open) {
        return;
    }
    conn->open = false;
    for (int side = 0; side < 2; side++) {
        int node = side == 0 ? conn->learner : conn->leader;
        if (side == 1 && !conn->accepted) {
            continue; /* the leader never heard of it */
        }
        struct sim_event event = {
            .at_ms = now_ms + rng_range(1, 5),
            .kind = EV_CONN_CLOSE,
            .node = node,
            .generation = conn->generation[side],
            .conn = conn->id,
            .side = side,
            .bytes = (uint8_t *)why,
        };
        event_push(event);
    }
}

static void io_quorum_listen(void *context, bool listen)
{
    struct sim_node *node = context;
    node->listening = listen;
}

static uint64_t io_quorum_connect(void *context, int64_t leader_id)
{
    struct sim_node *node = context;
    uint64_t id = ++next_conn_id;
    struct sim_conn *conn = &conns[(id - 1) % SIM_CONNECTIONS_MAX];
    for (int side = 0; side < 2; side++) {
        free(conn->buffer[side]);
    }
    memset(conn, 0, sizeof(*conn));
    conn->id = id;
    conn->open = true;
    conn->learner = (int)(node - nodes);
    conn->leader = node_index_of(leader_id);
    conn->generation[0] = node->generation;
    struct sim_event event = {
        .at_ms = now_ms + rng_range(1, 10),
        .kind = EV_CONN_OPEN,
        .node = conn->learner,
        .conn = id,
    };
    event_push(event);
    return id;
}

static bool io_quorum_send(void *context, uint64_t connection_id, const uint8_t *bytes,
                           size_t byte_count)
{
    struct sim_node *node = context;
    struct sim_conn *conn = conn_find(connection_id);
    if (!conn || !conn->open) {
        return true; /* closed: the close event tells the peer */
    }
    int from = (int)(node - nodes);
    int to_side = from == conn->learner ? 1 : 0; /* side that receives */
    int64_t at = now_ms + rng_range(1, chaos ? 15 : 3);
    if (at < conn->last_delivery_ms[to_side]) {
        at = conn->last_delivery_ms[to_side]; /* TCP: in order */
    }
    conn->last_delivery_ms[to_side] = at;
    uint8_t *copy = malloc(byte_count ? byte_count : 1);
    assert(copy != NULL);
    memcpy(copy, bytes, byte_count);
    struct sim_event event = {
        .at_ms = at,
        .kind = EV_CONN_DATA,
        .conn = connection_id,
        .side = to_side,
        .bytes = copy,
        .byte_count = byte_count,
    };
    event_push(event);
    return true;
}

static void io_quorum_close(void *context, uint64_t connection_id)
{
    (void)context;
    struct sim_conn *conn = conn_find(connection_id);
    if (conn) {
        /* The closing side is not told (peer_net does not report its own
         * closes); mark it so only the other side hears. */
        int side = (int)((struct sim_node *)context - nodes) == conn->learner ? 0 : 1;
        conn->notified[side] = true;
        conn_close(conn, "closed by the other side");
    }
}

/* Cuts whole packets (and a SNAP's stream) out of a side's buffer. */
static void conn_frame(struct sim_conn *conn, int side)
{
    int node_index = side == 0 ? conn->learner : conn->leader;
    for (;;) {
        if (!conn->open || !nodes[node_index].up ||
            nodes[node_index].generation != conn->generation[side]) {
            return;
        }
        uint8_t *buffer = conn->buffer[side];
        size_t size = conn->buffer_bytes[side];
        size_t packet_bytes = 0;
        if (quorum_packet_frame(buffer, size, SIM_PACKET_DATA_MAX, &packet_bytes) !=
            QUORUM_WIRE_DONE) {
            return;
        }
        size_t stream_bytes = 0;
        bool snap = (int32_t)jute_load_be32(buffer) == QUORUM_SNAP;
        if (snap) {
            enum quorum_wire_status status =
                quorum_snap_stream_frame(buffer + packet_bytes, size - packet_bytes,
                                         &stream_bytes);
            if (status == QUORUM_WIRE_NEED_MORE) {
                return;
            }
            if (status != QUORUM_WIRE_DONE) {
                fail("a SNAP stream that does not frame");
            }
        }
        struct sim_node *node = &nodes[node_index];
        size_t total = packet_bytes + stream_bytes;
        uint8_t *packet = malloc(total ? total : 1);
        assert(packet != NULL);
        memcpy(packet, buffer, total);
        memmove(buffer, buffer + total, size - total);
        conn->buffer_bytes[side] = size - total;
        peer_quorum_packet(node->peer, conn->id, packet, packet_bytes,
                           snap ? packet + packet_bytes : NULL, stream_bytes,
                           SIM_WALL_BASE_MS + now_ms, now_ms);
        free(packet);
    }
}

/* ---- disk --------------------------------------------------------------------------- */

static void io_log_append(void *context, struct log_record *record)
{
    struct sim_node *node = context;
    if (node->log_count == SIM_LOG_MAX) {
        fail("simulated log full");
    }
    check_zxid_unique(record->zxid, record->txn, record->txn_bytes);
    struct sim_log_entry *entry = &node->log[node->log_count++];
    entry->zxid = record->zxid;
    entry->bytes = malloc(record->txn_bytes ? record->txn_bytes : 1);
    assert(entry->bytes != NULL);
    memcpy(entry->bytes, record->txn, record->txn_bytes);
    entry->byte_count = record->txn_bytes;
    int64_t at = now_ms + rng_range(0, node->disk_latency_ms_max);
    if (at < node->last_durable_at_ms) {
        at = node->last_durable_at_ms;
    }
    node->last_durable_at_ms = at;
    entry->durable_at_ms = at;
    struct sim_event event = {
        .at_ms = at,
        .kind = EV_DISK,
        .node = (int)(node - nodes),
        .generation = node->generation,
    };
    event_push(event);
}

static bool io_epoch_write(void *context, bool accepted, int64_t epoch)
{
    struct sim_node *node = context;
    if (accepted) {
        node->accepted_epoch = epoch;
    } else {
        node->current_epoch = epoch;
    }
    return true;
}

static void io_config_activated(void *context, const struct quorum_config *config,
                                const char *text)
{
    struct sim_node *node = context;
    int written = snprintf(node->config_text, sizeof(node->config_text), "%s", text);
    assert(written > 0 && (size_t)written < sizeof(node->config_text));
    node->config_saved = true;
    trace("[%" PRId64 "] activates configuration 0x%" PRIx64 " (%zu servers)", node->id,
          (uint64_t)config->version, config->server_count);
}

static void io_log_message(void *context, const char *line)
{
    struct sim_node *node = context;
    trace("[%" PRId64 "] %s", node->id, line);
}

static void io_fatal(void *context, const char *why)
{
    struct sim_node *node = context;
    fail("server %" PRId64 " stopped: %s", node->id, why);
}

static struct store_config store_config_of(void)
{
    struct store_config config = {
        .jute_maxbuffer_bytes = 1048575,
        .reconfig_enabled = true,
        .config_node_text = "",
    };
    return config;
}

struct rebuilt {
    struct store_tree *tree;
    struct store_snapshot_session *sessions;
    size_t session_count;
};

static void session_set(struct rebuilt *state, int64_t session_id, int32_t timeout_ms, bool add)
{
    for (size_t index = 0; index < state->session_count; index++) {
        if (state->sessions[index].session_id == session_id) {
            if (!add) {
                state->sessions[index] = state->sessions[--state->session_count];
            }
            return;
        }
    }
    if (add) {
        state->sessions = realloc(state->sessions,
                                  (state->session_count + 1) * sizeof(*state->sessions));
        assert(state->sessions != NULL);
        state->sessions[state->session_count].session_id = session_id;
        state->sessions[state->session_count].timeout_ms = timeout_ms;
        state->session_count++;
    }
}

/* Recovery: the snapshot, then every log entry after it. */
static struct rebuilt rebuild(struct sim_node *node)
{
    struct store_config config = store_config_of();
    struct rebuilt state = {.tree = store_tree_create(&config)};
    assert(state.tree != NULL);
    int64_t last_zxid = 0;
    if (node->snapshot) {
        struct store_snapshot_error error;
        if (!store_snapshot_load(state.tree, node->snapshot, node->snapshot_bytes,
                                 &state.sessions, &state.session_count, &error)) {
            fail("server %" PRId64 ": its snapshot does not load: %s", node->id, error.message);
        }
        last_zxid = node->snapshot_zxid;
    }
    struct store_change_list changes;
    store_change_list_init(&changes);
    struct store_apply_result result;
    store_apply_result_init(&result);
    for (size_t index = 0; index < node->durable_count; index++) {
        struct sim_log_entry *entry = &node->log[index];
        if (entry->zxid <= last_zxid) {
            continue;
        }
        store_change_list_clear(&changes);
        store_apply_result_free(&result);
        store_apply_result_init(&result);
        int status = store_apply(state.tree, jute_bytes_of(entry->bytes, (int32_t)entry->byte_count),
                                 &changes, &result);
        if (status != ZK_OK) {
            fail("server %" PRId64 ": log entry 0x%" PRIx64 " does not apply", node->id,
                 (uint64_t)entry->zxid);
        }
        struct jute_reader reader;
        jute_reader_init(&reader, entry->bytes, entry->byte_count);
        uint8_t arena_bytes[64];
        struct jute_arena arena;
        jute_arena_init(&arena, arena_bytes, sizeof(arena_bytes));
        struct jute_txn_header header;
        bool decoded = jute_txn_header_decode(&reader, &arena, &header);
        assert(decoded);
        if (header.type == ZK_OP_CREATE_SESSION) {
            struct jute_create_session_txn create;
            if (jute_create_session_txn_decode(&reader, &arena, &create)) {
                session_set(&state, header.client_id, create.time_out, true);
            }
        } else if (header.type == ZK_OP_CLOSE_SESSION) {
            session_set(&state, header.client_id, 0, false);
        }
        last_zxid = entry->zxid;
    }
    store_change_list_free(&changes);
    store_apply_result_free(&result);
    store_tree_set_last_zxid(state.tree, last_zxid);
    return state;
}

static int64_t io_truncate(void *context, int64_t zxid)
{
    struct sim_node *node = context;
    assert(node->durable_count == node->log_count);
    if (node->snapshot && node->snapshot_zxid > zxid) {
        /* The snapshot holds transactions after zxid: start over empty. */
        trace("[%" PRId64 "] TRUNC to 0x%" PRIx64 " below its snapshot 0x%" PRIx64 ": wiped",
              node->id, (uint64_t)zxid, (uint64_t)node->snapshot_zxid);
        free(node->snapshot);
        node->snapshot = NULL;
        node->snapshot_bytes = 0;
        node->snapshot_zxid = 0;
        while (node->log_count > 0) {
            free(node->log[--node->log_count].bytes);
        }
    }
    while (node->log_count > 0 && node->log[node->log_count - 1].zxid > zxid) {
        free(node->log[--node->log_count].bytes);
    }
    node->durable_count = node->log_count;
    struct rebuilt state = rebuild(node);
    struct store_tree *old = node->tree;
    sequencer_replace_tree(node->sequencer, state.tree, state.sessions, state.session_count,
                           now_ms);
    node->tree = state.tree;
    store_tree_destroy(old);
    free(state.sessions);
    int64_t kept_zxid = store_tree_counters(node->tree)->last_zxid;
    node->last_applied_zxid = kept_zxid;
    trace("[%" PRId64 "] truncated to 0x%" PRIx64, node->id, (uint64_t)kept_zxid);
    return kept_zxid;
}

static bool io_install_snapshot(void *context, const uint8_t *stream, size_t stream_bytes,
                                int64_t zxid)
{
    struct sim_node *node = context;
    struct jute_writer file;
    jute_writer_init(&file, 1u << 30);
    if (!peer_snapshot_file_from_stream(stream, stream_bytes, &file)) {
        fail("server %" PRId64 ": SNAP stream too short", node->id);
    }
    struct store_config config = store_config_of();
    struct store_tree *tree = store_tree_create(&config);
    struct store_snapshot_session *sessions = NULL;
    size_t session_count = 0;
    struct store_snapshot_error error;
    if (!store_snapshot_load(tree, file.data, file.size, &sessions, &session_count, &error)) {
        fail("server %" PRId64 ": the leader's snapshot does not load: %s", node->id,
             error.message);
    }
    store_tree_set_last_zxid(tree, zxid);
    struct store_tree *old = node->tree;
    sequencer_replace_tree(node->sequencer, tree, sessions, session_count, now_ms);
    node->tree = tree;
    store_tree_destroy(old);
    free(sessions);
    free(node->snapshot);
    node->snapshot = malloc(file.size);
    assert(node->snapshot != NULL);
    memcpy(node->snapshot, file.data, file.size);
    node->snapshot_bytes = file.size;
    node->snapshot_zxid = zxid;
    jute_writer_free(&file);
    /* The log before the snapshot is history the snapshot replaces. */
    while (node->log_count > 0) {
        free(node->log[--node->log_count].bytes);
    }
    node->durable_count = 0;
    node->last_applied_zxid = zxid;
    return true;
}

/* ---- nodes ---------------------------------------------------------------------------- */

/* /zookeeper/config's data (malloc'd; "" when empty). */
static char *config_node_text(struct store_tree *tree)
{
    struct store_node_view view;
    int64_t visible_zxid = 0;
    int status = store_lookup(tree, jute_bytes_cstr("/zookeeper/config"), &view, &visible_zxid,
                              NULL);
    assert(status == ZK_OK);
    char *text = strndup((const char *)view.data.ptr, view.data.len > 0 ? (size_t)view.data.len : 0);
    assert(text != NULL);
    return text;
}

static void node_start(int index)
{
    struct sim_node *node = &nodes[index];
    assert(!node->up);
    struct rebuilt state = rebuild(node);
    node->tree = state.tree;
    struct sequencer_config sequencer_config = {
        .server_id = node->id,
        .tick_ms = SIM_TICK_MS,
        .shard_count = 1,
        .jute_maxbuffer_bytes = 1048575,
        .container_check_interval_ms = 60000,
        .container_max_per_minute = 10000,
        .sessions_max = 100000,
    };
    struct sequencer_output output = {.deliver = deliver_message, .context = node};
    node->sequencer = sequencer_create(node->tree, &sequencer_config, &output, now_ms);
    assert(node->sequencer != NULL);
    for (size_t session = 0; session < state.session_count; session++) {
        sequencer_restore_session(node->sequencer, state.sessions[session].session_id,
                                  state.sessions[session].timeout_ms, now_ms);
    }
    free(state.sessions);
    /* The configuration it last activated, or the starting one. */
    const char *text = node->config_saved ? node->config_text : members_text;
    struct quorum_config *membership = malloc(sizeof(*membership));
    assert(membership != NULL);
    bool parsed = quorum_config_parse(text, strlen(text), membership, NULL, 0);
    assert(parsed);
    (void)parsed;
    struct election_member node_members[ELECTION_MEMBERS_MAX];
    size_t member_count = quorum_config_election_members(membership, node_members);
    free(membership);
    char *recovered_config = config_node_text(node->tree);
    struct peer_config config = {
        .my_id = node->id,
        .last_seen_config_text = recovered_config,
        .members = node_members,
        .member_count = member_count,
        .standalone_enabled = true,
        .reconfig_enabled = true,
        .tick_ms = SIM_TICK_MS,
        .init_limit_ticks = 10,
        .sync_limit_ticks = 5,
        .accepted_epoch = node->accepted_epoch,
        .current_epoch = node->current_epoch,
        .packet_data_bytes_max = SIM_PACKET_DATA_MAX,
        .config_text = text,
    };
    struct peer_io io = {
        .context = node,
        .election_send = io_election_send,
        .quorum_listen = io_quorum_listen,
        .quorum_connect = io_quorum_connect,
        .quorum_send = io_quorum_send,
        .quorum_close = io_quorum_close,
        .log_append = io_log_append,
        .epoch_write = io_epoch_write,
        .truncate = io_truncate,
        .install_snapshot = io_install_snapshot,
        .config_activated = io_config_activated,
        .log_message = io_log_message,
        .fatal = io_fatal,
    };
    int64_t last_zxid = store_tree_counters(node->tree)->last_zxid;
    node->last_applied_zxid = last_zxid;
    node->peer = peer_create(&config, &io, node->sequencer, last_zxid);
    assert(node->peer != NULL);
    free(recovered_config);
    node->up = true;
    node->listening = false;
    node->last_durable_at_ms = now_ms;
    trace("[%" PRId64 "] starts (last zxid 0x%" PRIx64 ", epochs %" PRId64 "/%" PRId64 ")",
          node->id, (uint64_t)last_zxid, node->accepted_epoch, node->current_epoch);
    peer_start(node->peer, SIM_WALL_BASE_MS + now_ms, now_ms);
}

static void node_crash(int index)
{
    struct sim_node *node = &nodes[index];
    assert(node->up);
    /* What reached the disk but was not reported durable may survive, in
     * part: keep a random prefix of it (a torn tail is cut by recovery). */
    size_t keep = (size_t)rng_range((int64_t)node->durable_count, (int64_t)node->log_count);
    while (node->log_count > keep) {
        free(node->log[--node->log_count].bytes);
    }
    node->durable_count = node->log_count;
    trace("[%" PRId64 "] crashes (log kept to %zu entries)", node->id, keep);
    node->up = false;
    node->generation++;
    peer_destroy(node->peer);
    sequencer_destroy(node->sequencer);
    store_tree_destroy(node->tree);
    node->peer = NULL;
    node->sequencer = NULL;
    node->tree = NULL;
    node->listening = false;
    for (uint64_t id = next_conn_id > SIM_CONNECTIONS_MAX ? next_conn_id - SIM_CONNECTIONS_MAX : 0;
         id < next_conn_id; id++) {
        struct sim_conn *conn = conn_find(id + 1);
        if (conn && conn->open && (conn->learner == index || conn->leader == index)) {
            int side = conn->learner == index ? 0 : 1;
            conn->notified[side] = true;
            conn_close(conn, "peer crashed");
        }
    }
    for (int client = 0; client < SIM_CLIENTS; client++) {
        if (clients[client].node == index) {
            client_disconnect(&clients[client]);
        }
    }
}

static void break_partitioned_connections(void)
{
    for (uint64_t id = next_conn_id > SIM_CONNECTIONS_MAX ? next_conn_id - SIM_CONNECTIONS_MAX : 0;
         id < next_conn_id; id++) {
        struct sim_conn *conn = conn_find(id + 1);
        if (conn && conn->open && conn->leader >= 0 &&
            nodes[conn->learner].group != nodes[conn->leader].group) {
            conn_close(conn, "network partition");
        }
    }
}

static void fault(void)
{
    int kind = (int)rng_range(0, 9);
    int target = (int)rng_range(0, node_count - 1);
    if (kind <= 3) {
        if (nodes[target].up) {
            node_crash(target);
            nodes[target].restart_at_ms = now_ms + rng_range(200, 4000);
            struct sim_event event = {.at_ms = nodes[target].restart_at_ms, .kind = EV_START,
                                      .node = target, .generation = nodes[target].generation};
            event_push(event);
        }
    } else if (kind <= 5) {
        for (int index = 0; index < node_count; index++) {
            nodes[index].group = rng_chance(50) ? 1 : 0;
        }
        trace("partition");
        break_partitioned_connections();
        struct sim_event event = {.at_ms = now_ms + rng_range(500, 5000), .kind = EV_HEAL};
        event_push(event);
    } else if (kind <= 7) {
        uint64_t id = next_conn_id ? (uint64_t)rng_range(1, (int64_t)next_conn_id) : 0;
        struct sim_conn *conn = conn_find(id);
        if (conn && conn->open) {
            trace("connection %" PRIu64 " breaks", id);
            conn_close(conn, "connection reset");
        }
    } else {
        nodes[target].disk_latency_ms_max = rng_range(0, 50);
    }
}

/* ---- final checks ----------------------------------------------------------------------- */

struct digest {
    uint64_t sum;
    uint64_t acl_hashes[4096];
    int64_t acl_refs[4096];
    size_t acl_count;
    uint64_t nodes;
    bool listing; /* print every node (a failing comparison, --verbose) */
};

static bool digest_acl(void *context, int64_t ref, const struct store_acl_list *list,
                       struct store_snapshot_error *error)
{
    (void)error;
    struct digest *digest = context;
    uint64_t hash = 14695981039346656037ULL;
    for (int32_t index = 0; index < list->count; index++) {
        hash = hash_bytes(hash, &list->entries[index].perms, sizeof(int32_t));
        hash = hash_bytes(hash, list->entries[index].scheme.ptr,
                          (size_t)list->entries[index].scheme.len);
        hash = hash_bytes(hash, list->entries[index].id.ptr, (size_t)list->entries[index].id.len);
    }
    if (digest->acl_count < 4096) {
        digest->acl_refs[digest->acl_count] = ref;
        digest->acl_hashes[digest->acl_count++] = hash;
    }
    return true;
}

static bool digest_node(void *context, size_t offset, struct jute_bytes path,
                        struct jute_bytes data, int64_t acl_ref,
                        const struct jute_stat_persisted *stat,
                        struct store_snapshot_error *error)
{
    (void)offset;
    (void)error;
    struct digest *digest = context;
    uint64_t hash = hash_bytes(14695981039346656037ULL, path.ptr, (size_t)path.len);
    hash = hash_bytes(hash, "|", 1);
    if (data.len > 0) {
        hash = hash_bytes(hash, data.ptr, (size_t)data.len);
    }
    /* Field by field: the struct has padding. */
    int64_t fields[] = {stat->czxid, stat->mzxid, stat->ctime, stat->mtime, stat->version,
                        stat->cversion, stat->aversion, stat->ephemeral_owner, stat->pzxid};
    hash = hash_bytes(hash, fields, sizeof(fields));
    uint64_t acl_hash = (uint64_t)acl_ref;
    for (size_t index = 0; index < digest->acl_count; index++) {
        if (digest->acl_refs[index] == acl_ref) {
            acl_hash = digest->acl_hashes[index];
        }
    }
    hash = hash_bytes(hash, &acl_hash, sizeof(acl_hash));
    digest->sum += hash * 0x9E3779B97F4A7C15ULL;
    digest->nodes++;
    if (digest->listing) {
        fprintf(stderr, "  %.*s czxid=%" PRIx64 " mzxid=%" PRIx64 " pzxid=%" PRIx64
                        " v=%d cv=%d av=%d owner=%" PRIx64 " ctime=%" PRId64 " mtime=%" PRId64
                        " data=%d acl=%" PRIx64 "\n",
                (int)path.len, (const char *)path.ptr, (uint64_t)stat->czxid,
                (uint64_t)stat->mzxid, (uint64_t)stat->pzxid, stat->version, stat->cversion,
                stat->aversion, (uint64_t)stat->ephemeral_owner, stat->ctime, stat->mtime,
                data.len, acl_hash);
    }
    return true;
}

static struct digest tree_digest(struct sim_node *node, bool listing)
{
    static struct digest digest;
    memset(&digest, 0, sizeof(digest));
    digest.listing = listing;
    struct jute_writer file;
    jute_writer_init(&file, 1u << 30);
    bool written = sequencer_write_snapshot(node->sequencer, &file);
    assert(written);
    (void)written;
    struct store_snapshot_visitor visitor = {
        .context = &digest, .acl = digest_acl, .node = digest_node};
    struct store_snapshot_error error;
    if (!store_snapshot_parse(file.data, file.size, &visitor, &error)) {
        fail("server %" PRId64 ": its own snapshot does not parse: %s", node->id, error.message);
    }
    jute_writer_free(&file);
    return digest;
}

/* A leader must vote in the configuration it activated last. */
static bool leader_votes(const struct sim_node *node)
{
    const char *text = node->config_saved ? node->config_text : members_text;
    struct quorum_config *config = malloc(sizeof(*config));
    assert(config != NULL);
    bool parsed = quorum_config_parse(text, strlen(text), config, NULL, 0);
    assert(parsed);
    (void)parsed;
    bool votes = quorum_config_is_voter(config, node->id);
    free(config);
    return votes;
}

static bool converged(void)
{
    int leaders = 0;
    int64_t zxid = -1;
    for (int index = 0; index < node_count; index++) {
        struct sim_node *node = &nodes[index];
        if (!node->up) {
            return false;
        }
        struct peer_status status;
        peer_status_get(node->peer, &status);
        if (!status.serving) {
            return false;
        }
        leaders += status.state == PEER_LEADING;
        if (status.state == PEER_LEADING && !leader_votes(node)) {
            return false;
        }
        int64_t last = store_tree_counters(node->tree)->last_zxid;
        if (zxid >= 0 && last != zxid) {
            return false;
        }
        zxid = last;
    }
    return leaders == 1;
}

static void final_checks(void)
{
    struct digest first = tree_digest(&nodes[0], false);
    uint64_t first_sum = first.sum;
    uint64_t first_nodes = first.nodes;
    for (int index = 1; index < node_count; index++) {
        struct digest other = tree_digest(&nodes[index], false);
        if (other.sum != first_sum || other.nodes != first_nodes) {
            if (verbose) {
                fprintf(stderr, "server %" PRId64 ":\n", nodes[0].id);
                tree_digest(&nodes[0], true);
                fprintf(stderr, "server %" PRId64 ":\n", nodes[index].id);
                tree_digest(&nodes[index], true);
            }
            fail("servers %" PRId64 " and %" PRId64 " hold different trees (%" PRIu64
                 " and %" PRIu64 " nodes)",
                 nodes[0].id, nodes[index].id, first_nodes, other.nodes);
        }
    }
    /* One configuration everywhere, and it is the one the last committed
     * reconfig wrote to /zookeeper/config (if any ran). */
    char *committed = config_node_text(nodes[0].tree);
    for (int index = 0; index < node_count; index++) {
        const char *active = nodes[index].config_saved ? nodes[index].config_text : members_text;
        const char *of_first = nodes[0].config_saved ? nodes[0].config_text : members_text;
        if (strcmp(active, of_first) != 0) {
            fail("servers %" PRId64 " and %" PRId64 " have different configurations:\n%s\n--\n%s",
                 nodes[0].id, nodes[index].id, of_first, active);
        }
        if (committed[0] != '\0' && strcmp(active, committed) != 0) {
            fail("server %" PRId64 " has configuration\n%s\nbut /zookeeper/config holds\n%s",
                 nodes[index].id, active, committed);
        }
    }
    free(committed);
    for (size_t index = 0; index < acked_count; index++) {
        for (int node_index = 0; node_index < node_count; node_index++) {
            struct sim_node *node = &nodes[node_index];
            struct store_node_view view;
            int64_t visible_zxid = 0;
            int status = store_lookup(node->tree, jute_bytes_cstr(acked[index].path), &view,
                                      &visible_zxid, NULL);
            if (status != ZK_OK) {
                fail("acknowledged create %s is missing on server %" PRId64, acked[index].path,
                     node->id);
            }
        }
    }
}

/* ---- one seed ------------------------------------------------------------------------------ */

static void reset_world(int nodes_wanted, bool with_observer)
{
    for (int index = 0; index < node_count; index++) {
        struct sim_node *node = &nodes[index];
        if (node->up) {
            peer_destroy(node->peer);
            sequencer_destroy(node->sequencer);
            store_tree_destroy(node->tree);
        }
        for (size_t entry = 0; entry < node->log_count; entry++) {
            free(node->log[entry].bytes);
        }
        free(node->log);
        free(node->snapshot);
    }
    while (event_count > 0) {
        struct sim_event event = event_pop();
        if (event.kind == EV_CONN_DATA) {
            free(event.bytes);
        }
    }
    for (size_t index = 0; index < SIM_CONNECTIONS_MAX; index++) {
        free(conns[index].buffer[0]);
        free(conns[index].buffer[1]);
    }
    memset(conns, 0, SIM_CONNECTIONS_MAX * sizeof(*conns));
    memset(nodes, 0, sizeof(nodes));
    memset(zxid_keys, 0, SIM_ZXIDS_MAX * sizeof(*zxid_keys));
    memset(epoch_leaders, 0, sizeof(epoch_leaders));
    next_conn_id = 0;
    acked_count = 0;
    event_order = 0;
    now_ms = 0;
    node_count = nodes_wanted + (with_observer ? 1 : 0);
    for (int index = 0; index < node_count; index++) {
        struct sim_node *node = &nodes[index];
        node->id = index + 1;
        node->observer = with_observer && index == node_count - 1;
        node->log = calloc(SIM_LOG_MAX, sizeof(*node->log));
        assert(node->log != NULL);
        node->disk_latency_ms_max = rng_range(0, 20);
        members[index].id = node->id;
        members[index].voting = !node->observer;
    }
    struct quorum_config_member text_members[SIM_NODES_MAX];
    for (int index = 0; index < node_count; index++) {
        text_members[index] = (struct quorum_config_member){
            .id = members[index].id,
            .host = "127.0.0.1",
            .quorum_port = (uint16_t)(24000 + 2 * index),
            .election_port = (uint16_t)(24001 + 2 * index),
            .observer = !members[index].voting,
            .client_host = "127.0.0.1",
            .client_port = (uint16_t)(25000 + index),
        };
    }
    bool formatted = quorum_config_text(text_members, (size_t)node_count, 0, members_text,
                                        sizeof(members_text));
    assert(formatted);
    (void)formatted;
    for (int index = 0; index < SIM_CLIENTS; index++) {
        clients[index] = (struct sim_client){.node = -1, .timeout_ms = 4000};
    }
}

static void handle_event(const struct sim_event *event)
{
    switch (event->kind) {
    case EV_START:
        if (!nodes[event->node].up && nodes[event->node].generation == event->generation) {
            node_start(event->node);
        }
        break;
    case EV_STEP:
        for (int index = 0; index < node_count; index++) {
            struct sim_node *node = &nodes[index];
            if (node->up) {
                peer_tick(node->peer, SIM_WALL_BASE_MS + now_ms, now_ms);
                if (node->up && peer_accepting(node->peer)) {
                    sequencer_tick(node->sequencer, SIM_WALL_BASE_MS + now_ms, now_ms);
                }
                if (node->up) {
                    sequencer_end_batch(node->sequencer);
                }
            }
        }
        event_push((struct sim_event){.at_ms = now_ms + SIM_STEP_MS, .kind = EV_STEP});
        break;
    case EV_ELECTION: {
        struct sim_node *node = &nodes[event->node];
        if (node->up && node->generation == event->generation &&
            (event->node == event->other || reachable(event->node, event->other))) {
            trace("[%" PRId64 "] notification from %" PRId64 ": state %d leader %" PRId64
                  " zxid 0x%" PRIx64 " round %" PRId64 " epoch %" PRId64,
                  node->id, nodes[event->other].id, (int)event->notification.state,
                  event->notification.leader, (uint64_t)event->notification.zxid,
                  event->notification.election_epoch, event->notification.peer_epoch);
            peer_election_message(node->peer, nodes[event->other].id, &event->notification,
                                  (const char *)event->bytes, event->byte_count, now_ms);
        }
        free(event->bytes);
        break;
    }
    case EV_CONN_OPEN: {
        struct sim_conn *conn = conn_find(event->conn);
        if (!conn || !conn->open) {
            break;
        }
        struct sim_node *learner = &nodes[conn->learner];
        if (!learner->up || learner->generation != conn->generation[0]) {
            conn->open = false;
            break;
        }
        if (conn->leader < 0 || !reachable(conn->learner, conn->leader) ||
            !nodes[conn->leader].listening) {
            conn->notified[1] = true;
            conn_close(conn, "connection refused");
            break;
        }
        conn->accepted = true;
        conn->generation[1] = nodes[conn->leader].generation;
        peer_quorum_accepted(nodes[conn->leader].peer, conn->id, now_ms);
        if (conn->open && learner->up) {
            peer_quorum_connected(learner->peer, conn->id, now_ms);
        }
        break;
    }
    case EV_CONN_DATA: {
        struct sim_conn *conn = conn_find(event->conn);
        if (conn && conn->open) {
            int side = event->side;
            size_t need = conn->buffer_bytes[side] + event->byte_count;
            if (need > conn->buffer_capacity[side]) {
                size_t capacity = need * 2;
                conn->buffer[side] = realloc(conn->buffer[side], capacity);
                assert(conn->buffer[side] != NULL);
                conn->buffer_capacity[side] = capacity;
            }
            memcpy(conn->buffer[side] + conn->buffer_bytes[side], event->bytes,
                   event->byte_count);
            conn->buffer_bytes[side] = need;
            conn_frame(conn, side);
        }
        free(event->bytes);
        break;
    }
    case EV_CONN_CLOSE: {
        struct sim_conn *conn = conn_find(event->conn);
        struct sim_node *node = &nodes[event->node];
        if (conn && !conn->notified[event->side] && node->up &&
            node->generation == event->generation) {
            conn->notified[event->side] = true;
            peer_quorum_closed(node->peer, conn->id, (const char *)event->bytes, now_ms);
        }
        break;
    }
    case EV_DISK: {
        struct sim_node *node = &nodes[event->node];
        if (!node->up || node->generation != event->generation) {
            break;
        }
        while (node->durable_count < node->log_count &&
               node->log[node->durable_count].durable_at_ms <= now_ms) {
            node->durable_count++;
        }
        if (node->durable_count > 0) {
            peer_log_durable(node->peer, node->log[node->durable_count - 1].zxid, now_ms);
        }
        break;
    }
    case EV_FAULT:
        if (now_ms < SIM_CHAOS_MS) {
            fault();
            event_push((struct sim_event){.at_ms = now_ms + rng_range(300, 2500),
                                          .kind = EV_FAULT});
        }
        break;
    case EV_HEAL:
        for (int index = 0; index < node_count; index++) {
            nodes[index].group = 0;
        }
        trace("heal");
        break;
    case EV_CLIENT:
        client_act(event->node);
        if (now_ms < SIM_WRITES_STOP_MS) {
            event_push((struct sim_event){.at_ms = now_ms + rng_range(5, 60), .kind = EV_CLIENT,
                                          .node = event->node});
        }
        break;
    }
}

static void run_seed(uint64_t seed, int nodes_forced)
{
    current_seed = seed;
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
    int voters = nodes_forced ? nodes_forced : (rng_chance(70) ? 3 : 5);
    bool with_observer = rng_chance(25);
    reset_world(voters, with_observer);
    election_loss_percent = (int)rng_range(0, 10);
    with_reconfig = rng_chance(50);
    reconfigs_sent = 0;
    chaos = true;
    for (int index = 0; index < node_count; index++) {
        event_push((struct sim_event){.at_ms = rng_range(0, 1500), .kind = EV_START,
                                      .node = index});
    }
    event_push((struct sim_event){.at_ms = 0, .kind = EV_STEP});
    event_push((struct sim_event){.at_ms = rng_range(1000, 3000), .kind = EV_FAULT});
    for (int client = 0; client < SIM_CLIENTS; client++) {
        event_push((struct sim_event){.at_ms = rng_range(500, 2000), .kind = EV_CLIENT,
                                      .node = client});
    }
    bool healed = false;
    while (event_count > 0) {
        struct sim_event event = event_pop();
        now_ms = event.at_ms;
        if (!healed && now_ms >= SIM_CHAOS_MS) {
            healed = true;
            chaos = false;
            for (int index = 0; index < node_count; index++) {
                nodes[index].group = 0;
                if (!nodes[index].up) {
                    event_push((struct sim_event){.at_ms = now_ms + 1, .kind = EV_START,
                                                  .node = index,
                                                  .generation = nodes[index].generation});
                }
            }
            trace("chaos ends: everything heals");
        }
        handle_event(&event);
        check_leaders();
        if (now_ms > SIM_WRITES_STOP_MS + 2000 && converged()) {
            break;
        }
        if (now_ms > SIM_END_MS) {
            fail("the ensemble did not converge within %d ms after healing",
                 SIM_END_MS - SIM_CHAOS_MS);
        }
    }
    if (!converged()) {
        fail("ran out of events before converging");
    }
    final_checks();
    if (verbose) {
        printf("seed %" PRIu64 ": %d servers%s, %zu acknowledged creates, %zu reconfigs sent, "
               "converged at %" PRId64 " ms\n",
               seed, voters, with_observer ? " + observer" : "", acked_count, reconfigs_sent,
               now_ms);
    }
}

int main(int argc, char **argv)
{
    uint64_t first = 1;
    uint64_t seeds = 100;
    int nodes_forced = 0;
    for (int index = 1; index < argc; index++) {
        if (strcmp(argv[index], "--seeds") == 0 && index + 1 < argc) {
            seeds = strtoull(argv[++index], NULL, 10);
        } else if (strcmp(argv[index], "--first") == 0 && index + 1 < argc) {
            first = strtoull(argv[++index], NULL, 10);
        } else if (strcmp(argv[index], "--nodes") == 0 && index + 1 < argc) {
            nodes_forced = atoi(argv[++index]);
        } else if (strcmp(argv[index], "--verbose") == 0) {
            verbose = true;
        } else {
            fprintf(stderr, "usage: sim_ensemble [--seeds N] [--first SEED] [--nodes 3|5] "
                            "[--verbose]\n");
            return 2;
        }
    }
    events = calloc(SIM_EVENTS_MAX, sizeof(*events));
    conns = calloc(SIM_CONNECTIONS_MAX, sizeof(*conns));
    acked = calloc(SIM_ACKED_MAX, sizeof(*acked));
    zxid_keys = calloc(SIM_ZXIDS_MAX, sizeof(*zxid_keys));
    zxid_hashes = calloc(SIM_ZXIDS_MAX, sizeof(*zxid_hashes));
    if (!events || !conns || !acked || !zxid_keys || !zxid_hashes) {
        fprintf(stderr, "sim_ensemble: out of memory\n");
        return 1;
    }
    for (uint64_t seed = first; seed < first + seeds; seed++) {
        run_seed(seed, nodes_forced);
    }
    reset_world(0, false);
    free(events);
    free(conns);
    free(acked);
    free(zxid_keys);
    free(zxid_hashes);
    printf("sim_ensemble: %" PRIu64 " seeds from %" PRIu64 " passed\n", seeds, first);
    return 0;
}
