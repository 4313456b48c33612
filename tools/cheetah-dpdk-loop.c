/* cheetah-dpdk-loop: the whole DPDK stack in one process over an in-memory
 * port, for cycles per request without a NIC.
 *
 *   cheetah-dpdk-loop [--op get|exists|set] [--connections C] [--depth D]
 *                     [--seconds S] [--shards N] [--value-bytes B] ...   (--help)
 *
 * EAL starts through dpdk_port's own code path (the real server's), and its
 * after-EAL hook makes a crossed pair of ring ports (rte_eth_from_rings): the
 * server's port receives from rings A and transmits to rings B, the client's
 * the other way round, one ring pair per queue. The REAL server
 * (server_create / server_run with a generated zoo.cfg in a temporary
 * dataDir, cheetah.dataplane=dpdk on the server's ring port) runs on its own
 * threads; one client thread runs a client netstack (netstack_connect) over
 * the client's ring port, polling it in a busy loop, and drives C ZooKeeper
 * sessions with D requests each in flight (closed loop): ConnectRequest,
 * then getData / exists / setData on --keys nodes of --value-bytes, which
 * connection 0 creates first. Replies are checked by xid (ZooKeeper answers
 * a session in order) and by error code.
 *
 * The client hands each frame to the server queue whose shard owns its
 * connection (netstack_steer over the server's software redirection table),
 * as a NIC with RSS programmed by dpdk_port would; ARP goes to queue 0, whose
 * shard copies it to the others.
 *
 * Measured over the window (after a warmup), printed as one human line and
 * one JSON line (the last line of stdout):
 *   - ops/s, latency p50/p99/p99.9 (TSC);
 *   - CPU time of the server's threads (every thread but the main and the
 *     client thread) and of the shard threads alone (the threads DPDK
 *     registered, seen through an lcore callback), from
 *     /proc/self/task/<tid>/schedstat (nanoseconds), per op and in cycles at
 *     the TSC rate DPDK measured (rte_get_tsc_hz);
 *   - the DPDK transport's busy cycles per op (mntr's zk_dpdk_busy_cycles:
 *     TSC cycles of the shard loop's turns that moved frames or ran a wake);
 *   - the client thread's CPU cycles per op and its busy cycles per op (its
 *     turns that moved frames).
 * Both the shards and the client poll: their CPU time includes the spin
 * between requests, the busy cycles do not.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_random.h>
#include <rte_ring.h>

#include "bench/bench.h"
#include "dataplane/config.h"
#include "dataplane/dpdk_port.h"
#include "dataplane/log.h"
#include "dataplane/netstack/netstack.h"
#include "dataplane/server.h"
#include "jute/frame.h"
#include "jute/jute.h"
#include "jute/records.h"
#include "jute/zk_constants.h"

/* ---- limits ---- */
#define LOOP_CONNECTIONS_MAX 1024
#define LOOP_DEPTH_MAX 256
#define LOOP_SHARDS_MAX 16u
#define LOOP_SECONDS_MAX 3600
#define LOOP_KEYS_MAX 100000
#define LOOP_VALUE_BYTES_MAX 65536
/* Frames each in-memory ring holds (a power of two: rte_ring's size). A
 * full ring drops the frame (counted by the port), TCP resends it. */
#define LOOP_RING_FRAMES 4096u
/* The client's mbufs (2^n - 1: the mempool's best size) and their cache. */
#define LOOP_CLIENT_MBUFS 16383u
#define LOOP_CLIENT_MBUF_CACHE 256u
#define LOOP_RX_BURST_FRAMES 32u
#define LOOP_TX_BATCH_FRAMES 64u
/* Times the rest of a TX batch is offered again before it is dropped. */
#define LOOP_TX_RETRIES_MAX 8u
/* Creates connection 0 keeps in flight during setup. */
#define LOOP_SETUP_WINDOW 256u
/* Connecting and creating the nodes must finish within this. */
#define LOOP_SETUP_TIMEOUT_NS (60ull * 1000000000ull)
/* Turns of the client loop between looks at the clock and the stop flag. */
#define LOOP_TURNS_PER_CHECK 64u
#define LOOP_PATH_BYTES 64u
#define LOOP_ERROR_BYTES 1024u
#define LOOP_THREADS_MAX 256u
#define LOOP_TRANSPORT_COUNTER_NAME "dpdk_busy_cycles"
#define LOOP_SESSION_TIMEOUT_MS 30000
/* Addresses on the in-memory link (never on a kernel interface). */
#define LOOP_SERVER_IPV4 0x0a4fc802u /* 10.79.200.2 */
#define LOOP_CLIENT_IPV4 0x0a4fc801u /* 10.79.200.1 */
#define LOOP_NETMASK 0xffffff00u
#define LOOP_CLIENT_PORT_TCP 24601u   /* the server's clientPort on its netstack */
#define LOOP_NODE_PARENT "/cheetah-bench"

enum loop_op { LOOP_OP_GET, LOOP_OP_EXISTS, LOOP_OP_SET };
static const char *const LOOP_OP_NAMES[] = {"get", "exists", "set"};
static const char *const LOOP_OP_HUMAN[] = {"getData", "exists", "setData"};

struct loop_options {
    enum loop_op op;
    int connections;
    int depth;
    int seconds;
    int warmup_seconds;
    uint32_t shards;
    int value_bytes;
    int keys;
    bool force_sync;
    long timer_slack_ns; /* 0: the system's (50 us by default) */
    char eal_args[CONFIG_DPDK_EAL_ARGS_BYTES_MAX];
    bool verbose;
};

/* ---- the in-memory link, made in the after-EAL hook ---- */

struct loop_link {
    uint32_t queues;
    struct rte_ring *to_server[LOOP_SHARDS_MAX];
    struct rte_ring *to_client[LOOP_SHARDS_MAX];
    uint16_t server_port_id;
    uint16_t client_port_id;
    struct rte_mempool *client_pool;
    uint8_t client_mac[NETSTACK_MAC_BYTES];
    struct dpdk_port *server_port; /* dpdk_port's handle, for its metrics */
    bool client_started;
};

/* Threads DPDK registered (the shard threads and ours), recorded by the
 * lcore callback in each thread's own context. */
static _Atomic int32_t registered_tids[LOOP_THREADS_MAX];
static _Atomic uint32_t registered_count;

static int32_t current_tid(void)
{
    return (int32_t)gettid();
}

static int on_lcore_init(unsigned int lcore_id, void *context)
{
    (void)lcore_id;
    (void)context;
    uint32_t slot = atomic_fetch_add(&registered_count, 1u);
    if (slot < LOOP_THREADS_MAX) {
        atomic_store(&registered_tids[slot], current_tid());
    }
    return 0;
}

static void on_lcore_uninit(unsigned int lcore_id, void *context)
{
    (void)lcore_id;
    (void)context;
}

static int configure_client_port(struct loop_link *link, char *error, size_t error_bytes)
{
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof conf);
    int status = rte_eth_dev_configure(link->client_port_id, (uint16_t)link->queues,
                                       (uint16_t)link->queues, &conf);
    for (uint32_t queue = 0; status == 0 && queue < link->queues; queue++) {
        status = rte_eth_rx_queue_setup(link->client_port_id, (uint16_t)queue, LOOP_RING_FRAMES,
                                        (unsigned)SOCKET_ID_ANY, NULL, link->client_pool);
        if (status == 0) {
            status = rte_eth_tx_queue_setup(link->client_port_id, (uint16_t)queue,
                                            LOOP_RING_FRAMES, (unsigned)SOCKET_ID_ANY, NULL);
        }
    }
    if (status == 0) {
        status = rte_eth_dev_start(link->client_port_id);
    }
    if (status != 0) {
        snprintf(error, error_bytes, "cannot set up the client's ring port: %s",
                 rte_strerror(-status));
        return -1;
    }
    link->client_started = true;
    return 0;
}

/* dpdk_port's after-EAL hook: the server's ring port first (it is port 0,
 * cheetah.dpdk.port), then the client's, its pool, and the lcore callback. */
static int make_link(void *context, struct dpdk_port *port, char *error, size_t error_bytes)
{
    struct loop_link *link = context;
    link->server_port = port;
    if (!rte_lcore_callback_register("cheetah-dpdk-loop", on_lcore_init, on_lcore_uninit,
                                     NULL)) {
        snprintf(error, error_bytes, "cannot register the lcore callback");
        return -1;
    }
    for (uint32_t queue = 0; queue < link->queues; queue++) {
        char name[RTE_RING_NAMESIZE];
        snprintf(name, sizeof name, "chb_to_server_%u", queue);
        link->to_server[queue] = rte_ring_create(name, LOOP_RING_FRAMES, SOCKET_ID_ANY,
                                                 RING_F_SP_ENQ | RING_F_SC_DEQ);
        snprintf(name, sizeof name, "chb_to_client_%u", queue);
        link->to_client[queue] = rte_ring_create(name, LOOP_RING_FRAMES, SOCKET_ID_ANY,
                                                 RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (!link->to_server[queue] || !link->to_client[queue]) {
            snprintf(error, error_bytes, "cannot make ring %s: %s", name,
                     rte_strerror(rte_errno));
            return -1;
        }
    }
    int server_id = rte_eth_from_rings("net_ring_chbs", link->to_server, link->queues,
                                       link->to_client, link->queues, (unsigned)SOCKET_ID_ANY);
    int client_id = rte_eth_from_rings("net_ring_chbc", link->to_client, link->queues,
                                       link->to_server, link->queues, (unsigned)SOCKET_ID_ANY);
    if (server_id < 0 || client_id < 0) {
        snprintf(error, error_bytes, "rte_eth_from_rings failed: %s", rte_strerror(rte_errno));
        return -1;
    }
    link->server_port_id = (uint16_t)server_id;
    link->client_port_id = (uint16_t)client_id;
    uint16_t first = RTE_MAX_ETHPORTS;
    uint16_t candidate;
    RTE_ETH_FOREACH_DEV(candidate)
    {
        first = candidate;
        break;
    }
    if (first != link->server_port_id) {
        snprintf(error, error_bytes, "the server's ring port is not DPDK's first port (%u, not %u)",
                 link->server_port_id, first);
        return -1;
    }
    /* Ring ports have no address of their own (00:00:00:00:00:00, and no
     * way to set one) and take every frame: the server's stack keeps the
     * port's, the client's stack takes a locally administered one, so ARP
     * sees two hosts. */
    const uint8_t client_mac[NETSTACK_MAC_BYTES] = {0x02, 0x00, 0x0a, 0x4f, 0xc8, 0x01};
    memcpy(link->client_mac, client_mac, NETSTACK_MAC_BYTES);
    link->client_pool = rte_pktmbuf_pool_create("chb_client_pool", LOOP_CLIENT_MBUFS,
                                                LOOP_CLIENT_MBUF_CACHE, 0,
                                                RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (!link->client_pool) {
        snprintf(error, error_bytes, "cannot make the client's mbuf pool: %s",
                 rte_strerror(rte_errno));
        return -1;
    }
    return configure_client_port(link, error, error_bytes);
}

/* ---- the client ---- */

struct pending_request {
    int32_t xid;
    uint64_t start_tsc;
};

enum session_state { SESSION_CONNECTING, SESSION_HANDSHAKE, SESSION_OPEN };

struct client_session {
    struct netstack_connection *handle;
    uint32_t index;
    enum session_state state;
    uint8_t *in;
    size_t in_size;
    size_t in_capacity;
    struct pending_request *pending; /* FIFO of `depth` slots */
    uint32_t pending_head;
    uint32_t pending_count;
    int32_t next_xid;
    uint64_t key_cursor;
};

struct client {
    const struct loop_options *options;
    struct loop_link *link;
    struct netstack *stack;
    struct client_session *sessions;
    uint32_t session_count;
    /* Each session's FIFO of requests in flight: depth, or the setup window. */
    uint32_t fifo_capacity;
    uint32_t sessions_open;
    struct jute_writer scratch;
    uint8_t *value;
    uint64_t tsc_hz;
    struct rte_mbuf *frame_open;
    struct rte_mbuf *tx_frames[LOOP_SHARDS_MAX][LOOP_TX_BATCH_FRAMES];
    uint32_t tx_counts[LOOP_SHARDS_MAX];
    uint32_t reta_entries;
    /* setup (session 0): creates sent and answered */
    bool setting_up;
    uint32_t setup_sent;
    uint32_t setup_answered;
    bool traffic;
    /* results, in the window */
    uint64_t *histogram;
    uint64_t ops;
    uint64_t errors;
    uint64_t max_ns;
    uint64_t tx_dropped;
    struct netstack_counters stack_counters; /* copied when the stack goes */
    bool stack_counters_valid;
    char failure[256];
    /* shared with the main thread */
    int32_t tid;
    _Atomic bool ready;       /* sessions open, nodes made, traffic started */
    _Atomic bool failed;
    _Atomic bool stop;
    _Atomic uint64_t window_start_tsc; /* 0 until the main thread opens it */
    _Atomic uint64_t window_end_tsc;   /* UINT64_MAX until it closes */
    _Atomic uint64_t busy_cycles;      /* turns that moved frames */
};

static uint64_t now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

static void client_fail(struct client *client, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static void client_fail(struct client *client, const char *format, ...)
{
    if (!client->failure[0]) {
        va_list arguments;
        va_start(arguments, format);
        vsnprintf(client->failure, sizeof client->failure, format, arguments);
        va_end(arguments);
    }
    atomic_store(&client->failed, true);
}

/* -- frames out -- */

static void tx_flush_queue(struct client *client, uint32_t queue)
{
    uint32_t count = client->tx_counts[queue];
    uint32_t sent = 0;
    for (uint32_t attempt = 0; attempt <= LOOP_TX_RETRIES_MAX && sent < count; attempt++) {
        sent += rte_eth_tx_burst(client->link->client_port_id, (uint16_t)queue,
                                 &client->tx_frames[queue][sent], (uint16_t)(count - sent));
    }
    if (sent < count) {
        client->tx_dropped += count - sent;
        rte_pktmbuf_free_bulk(&client->tx_frames[queue][sent], count - sent);
    }
    client->tx_counts[queue] = 0;
}

static void tx_flush(struct client *client)
{
    for (uint32_t queue = 0; queue < client->link->queues; queue++) {
        if (client->tx_counts[queue] > 0) {
            tx_flush_queue(client, queue);
        }
    }
}

static uint8_t *frame_begin(void *context, size_t bytes_max)
{
    struct client *client = context;
    assert(client->frame_open == NULL);
    struct rte_mbuf *frame = rte_pktmbuf_alloc(client->link->client_pool);
    if (!frame || rte_pktmbuf_tailroom(frame) < bytes_max) {
        rte_pktmbuf_free(frame);
        return NULL;
    }
    client->frame_open = frame;
    return rte_pktmbuf_mtod(frame, uint8_t *);
}

/* The queue a NIC with dpdk_port's RSS key and table would put the frame
 * on: its owner shard; ARP (every shard's) to queue 0, which copies it. */
static uint32_t queue_of(const struct client *client, const struct rte_mbuf *frame)
{
    if (client->link->queues == 1) {
        return 0;
    }
    int owner = netstack_steer(rte_pktmbuf_mtod(frame, const uint8_t *), frame->data_len,
                               client->link->queues, client->reta_entries);
    return owner < 0 ? 0u : (uint32_t)owner;
}

static void frame_commit(void *context, size_t bytes, const struct netstack_tx_offload *offload)
{
    struct client *client = context;
    (void)offload; /* the client's stack computes checksums itself (no offload flags) */
    struct rte_mbuf *frame = client->frame_open;
    assert(frame != NULL);
    client->frame_open = NULL;
    frame->data_len = (uint16_t)bytes;
    frame->pkt_len = (uint32_t)bytes;
    uint32_t queue = queue_of(client, frame);
    client->tx_frames[queue][client->tx_counts[queue]++] = frame;
    if (client->tx_counts[queue] == LOOP_TX_BATCH_FRAMES) {
        tx_flush_queue(client, queue);
    }
}

/* -- requests -- */

static void key_path(uint64_t key, char *path)
{
    snprintf(path, LOOP_PATH_BYTES, "%s/k%" PRIu64, LOOP_NODE_PARENT, key);
}

static void begin_request(struct jute_writer *out, int32_t xid, int32_t type)
{
    jute_writer_reset(out);
    jute_write_int(out, 0);
    struct jute_request_header header = {.xid = xid, .type = type};
    jute_request_header_encode(out, &header);
}

static void encode_create(struct client *client, int32_t xid, const char *path)
{
    struct jute_writer *out = &client->scratch;
    begin_request(out, xid, ZK_OP_CREATE);
    struct jute_acl acl = {.perms = ZK_PERM_ALL,
                           .id = {.scheme = jute_bytes_cstr("world"),
                                  .id = jute_bytes_cstr("anyone")}};
    struct jute_create_request create = {
        .path = jute_bytes_cstr(path),
        .data = jute_bytes_of(client->value, client->options->value_bytes),
        .acl = {.count = 1, .items = &acl},
        .flags = ZK_CREATE_PERSISTENT};
    jute_create_request_encode(out, &create);
}

static void encode_workload(struct client *client, int32_t xid, const char *path)
{
    struct jute_writer *out = &client->scratch;
    switch (client->options->op) {
    case LOOP_OP_GET: {
        begin_request(out, xid, ZK_OP_GET_DATA);
        struct jute_get_data_request body = {.path = jute_bytes_cstr(path), .watch = false};
        jute_get_data_request_encode(out, &body);
        break;
    }
    case LOOP_OP_EXISTS: {
        begin_request(out, xid, ZK_OP_EXISTS);
        struct jute_exists_request body = {.path = jute_bytes_cstr(path), .watch = false};
        jute_exists_request_encode(out, &body);
        break;
    }
    case LOOP_OP_SET: {
        begin_request(out, xid, ZK_OP_SET_DATA);
        struct jute_set_data_request body = {
            .path = jute_bytes_cstr(path),
            .data = jute_bytes_of(client->value, client->options->value_bytes),
            .version = -1};
        jute_set_data_request_encode(out, &body);
        break;
    }
    }
}

/* Sends what `scratch` holds (its length prefix patched) on the session. */
static bool send_scratch(struct client *client, struct client_session *session)
{
    struct jute_writer *out = &client->scratch;
    jute_writer_patch_int(out, 0, (int32_t)(out->size - 4));
    if (!out->ok) {
        client_fail(client, "session %u: request encoding overflowed", session->index);
        return false;
    }
    if (!netstack_send(client->stack, session->handle, out->data, out->size)) {
        client_fail(client, "session %u: the send buffer is full (reset)", session->index);
        return false;
    }
    return true;
}

static bool push_pending(struct client *client, struct client_session *session, int32_t xid)
{
    uint32_t capacity = client->fifo_capacity;
    if (session->pending_count == capacity) {
        client_fail(client, "session %u: more requests in flight than its FIFO holds",
                    session->index);
        return false;
    }
    uint32_t slot = (session->pending_head + session->pending_count) % capacity;
    session->pending[slot] = (struct pending_request){.xid = xid, .start_tsc = rte_rdtsc()};
    session->pending_count++;
    return true;
}

static int32_t take_xid(struct client_session *session)
{
    int32_t xid = session->next_xid;
    session->next_xid = session->next_xid == INT32_MAX ? 1 : session->next_xid + 1;
    return xid;
}

static bool issue(struct client *client, struct client_session *session)
{
    int32_t xid = take_xid(session);
    char path[LOOP_PATH_BYTES];
    /* Connection c walks the keys from c: every key is touched. */
    uint64_t key = (session->index + session->key_cursor++ * client->session_count) %
                   (uint64_t)client->options->keys;
    key_path(key, path);
    encode_workload(client, xid, path);
    return push_pending(client, session, xid) && send_scratch(client, session);
}

/* Session 0 creates the parent, then every key, LOOP_SETUP_WINDOW at a time. */
static bool setup_send(struct client *client)
{
    struct client_session *session = &client->sessions[0];
    uint32_t total = 1u + (uint32_t)client->options->keys;
    while (client->setup_sent < total &&
           client->setup_sent - client->setup_answered < LOOP_SETUP_WINDOW) {
        char path[LOOP_PATH_BYTES];
        if (client->setup_sent == 0) {
            snprintf(path, sizeof path, "%s", LOOP_NODE_PARENT);
        } else {
            key_path(client->setup_sent - 1u, path);
        }
        int32_t xid = take_xid(session);
        encode_create(client, xid, path);
        if (!push_pending(client, session, xid) || !send_scratch(client, session)) {
            return false;
        }
        client->setup_sent++;
        /* The parent must exist before its children are created. */
        if (client->setup_sent == 1) {
            break;
        }
    }
    return true;
}

static bool start_traffic(struct client *client)
{
    for (uint32_t index = 0; index < client->session_count; index++) {
        for (int slot = 0; slot < client->options->depth; slot++) {
            if (!issue(client, &client->sessions[index])) {
                return false;
            }
        }
    }
    client->traffic = true;
    atomic_store(&client->ready, true);
    return true;
}

static void record(struct client *client, uint64_t start_tsc, uint64_t end_tsc, int32_t err)
{
    uint64_t window_start = atomic_load_explicit(&client->window_start_tsc, memory_order_relaxed);
    if (window_start == 0 || end_tsc < window_start ||
        end_tsc > atomic_load_explicit(&client->window_end_tsc, memory_order_relaxed)) {
        return;
    }
    uint64_t latency_ns =
        (uint64_t)((double)(end_tsc - start_tsc) * 1e9 / (double)client->tsc_hz);
    client->histogram[bench_bucket_of(latency_ns)]++;
    if (latency_ns > client->max_ns) {
        client->max_ns = latency_ns;
    }
    client->ops++;
    if (err != 0) {
        client->errors++;
    }
}

/* One reply (payload after the length): xid, zxid, err, body. */
static bool on_reply(struct client *client, struct client_session *session,
                     const uint8_t *payload, uint32_t payload_bytes)
{
    if (payload_bytes < 16) {
        client_fail(client, "session %u: short reply header", session->index);
        return false;
    }
    int32_t xid = (int32_t)jute_load_be32(payload);
    int32_t err = (int32_t)jute_load_be32(payload + 12);
    if (xid < 0) {
        return true; /* pings and notifications: none are asked for */
    }
    uint32_t capacity = client->fifo_capacity;
    if (session->pending_count == 0 || session->pending[session->pending_head].xid != xid) {
        client_fail(client, "session %u: reply with xid %d out of order", session->index, xid);
        return false;
    }
    struct pending_request request = session->pending[session->pending_head];
    session->pending_head = (session->pending_head + 1u) % capacity;
    session->pending_count--;
    if (client->setting_up) {
        if (err != 0 && err != ZK_NODEEXISTS) {
            client_fail(client, "setup: a create failed with error %d", err);
            return false;
        }
        client->setup_answered++;
        if (client->setup_answered == 1u + (uint32_t)client->options->keys) {
            client->setting_up = false;
            return start_traffic(client);
        }
        return setup_send(client);
    }
    record(client, request.start_tsc, rte_rdtsc(), err);
    if (atomic_load_explicit(&client->stop, memory_order_relaxed)) {
        return true;
    }
    return issue(client, session);
}

static bool on_handshake(struct client *client, struct client_session *session,
                         const uint8_t *payload, uint32_t payload_bytes)
{
    /* ConnectResponse: protocolVersion, timeOut (<= 0: refused), sessionId, passwd. */
    if (payload_bytes < 8 || (int32_t)jute_load_be32(payload + 4) <= 0) {
        client_fail(client, "session %u: the server refused the session", session->index);
        return false;
    }
    session->state = SESSION_OPEN;
    client->sessions_open++;
    if (client->sessions_open == client->session_count) {
        client->setting_up = true;
        return setup_send(client);
    }
    return true;
}

/* -- netstack callbacks -- */

static struct client_session *session_of_handle(struct client *client,
                                                const struct netstack_connection *handle)
{
    for (uint32_t index = 0; index < client->session_count; index++) {
        if (client->sessions[index].handle == handle) {
            return &client->sessions[index];
        }
    }
    return NULL;
}

static void *on_accepted(void *context, struct netstack_connection *connection,
                         uint32_t peer_ipv4, uint16_t peer_port)
{
    struct client *client = context;
    (void)peer_ipv4;
    (void)peer_port;
    struct client_session *session = session_of_handle(client, connection);
    if (!session || session->state != SESSION_CONNECTING) {
        client_fail(client, "an established connection the client did not open");
        return NULL;
    }
    session->state = SESSION_HANDSHAKE;
    struct jute_writer *out = &client->scratch;
    jute_writer_reset(out);
    jute_write_int(out, 0);
    uint8_t password[16] = {0};
    struct jute_connect_request request = {.time_out = LOOP_SESSION_TIMEOUT_MS,
                                           .passwd = jute_bytes_of(password, 16),
                                           .has_read_only = true};
    jute_connect_request_encode(out, &request);
    send_scratch(client, session);
    return session;
}

static void on_received(void *context, void *user, const uint8_t *data, size_t size)
{
    struct client *client = context;
    struct client_session *session = user;
    if (atomic_load_explicit(&client->failed, memory_order_relaxed)) {
        return;
    }
    if (session->in_size + size > session->in_capacity) {
        client_fail(client, "session %u: more reply bytes than its buffer holds (%zu)",
                    session->index, session->in_capacity);
        return;
    }
    memcpy(session->in + session->in_size, data, size);
    session->in_size += size;
    size_t start = 0;
    /* Bounded: each turn consumes a whole frame of the buffered bytes. */
    while (start < session->in_size) {
        uint32_t payload_bytes = 0;
        enum jute_frame_status status =
            jute_frame_peek(session->in + start, session->in_size - start,
                            (uint32_t)session->in_capacity, &payload_bytes);
        if (status == JUTE_FRAME_BAD_LENGTH) {
            client_fail(client, "session %u: bad frame length from the server", session->index);
            return;
        }
        if (status == JUTE_FRAME_INCOMPLETE) {
            break;
        }
        const uint8_t *payload = session->in + start + 4;
        start += 4u + payload_bytes;
        bool ok = session->state == SESSION_HANDSHAKE
                      ? on_handshake(client, session, payload, payload_bytes)
                      : on_reply(client, session, payload, payload_bytes);
        if (!ok) {
            return;
        }
    }
    memmove(session->in, session->in + start, session->in_size - start);
    session->in_size -= start;
}

static void on_closed(void *context, void *user, enum netstack_close_reason reason)
{
    struct client *client = context;
    struct client_session *session = user;
    if (!atomic_load(&client->stop)) {
        client_fail(client, "session %u: the connection closed (reason %d)",
                    session ? session->index : 0u, (int)reason);
    }
    if (session) {
        session->handle = NULL;
    }
}

/* -- the loop -- */

static uint64_t now_us(void)
{
    return now_ns() / 1000u;
}

/* One turn: every queue's frames into the stack, its timers, out. True when
 * a frame moved. */
static bool client_turn(struct client *client)
{
    uint64_t now = now_us();
    bool moved = false;
    for (uint32_t queue = 0; queue < client->link->queues; queue++) {
        struct rte_mbuf *frames[LOOP_RX_BURST_FRAMES];
        uint16_t count = rte_eth_rx_burst(client->link->client_port_id, (uint16_t)queue, frames,
                                          LOOP_RX_BURST_FRAMES);
        for (uint16_t index = 0; index < count; index++) {
            netstack_input(client->stack, rte_pktmbuf_mtod(frames[index], const uint8_t *),
                           frames[index]->data_len, 0, now);
            rte_pktmbuf_free(frames[index]);
        }
        moved = moved || count > 0;
    }
    netstack_poll(client->stack, now);
    for (uint32_t queue = 0; queue < client->link->queues; queue++) {
        moved = moved || client->tx_counts[queue] > 0;
    }
    tx_flush(client);
    return moved;
}

static bool client_connect_all(struct client *client)
{
    for (uint32_t index = 0; index < client->session_count; index++) {
        struct client_session *session = &client->sessions[index];
        session->handle = netstack_connect(client->stack, LOOP_SERVER_IPV4, LOOP_CLIENT_PORT_TCP,
                                           session, now_us());
        if (!session->handle) {
            client_fail(client, "netstack_connect refused connection %u", index);
            return false;
        }
    }
    return true;
}

static bool client_make_stack(struct client *client)
{
    struct netstack_config config;
    netstack_config_defaults(&config);
    memcpy(config.mac, client->link->client_mac, NETSTACK_MAC_BYTES);
    config.ipv4_address = LOOP_CLIENT_IPV4;
    config.ipv4_netmask = LOOP_NETMASK;
    config.mtu = CONFIG_DPDK_DEFAULT_MTU;
    config.listen_port = 0;
    config.connections_max = client->session_count;
    for (size_t index = 0; index < sizeof config.isn_secret; index++) {
        config.isn_secret[index] = (uint8_t)rte_rand();
    }
    const struct netstack_io io = {
        .context = client, .frame_begin = frame_begin, .frame_commit = frame_commit};
    const struct netstack_callbacks callbacks = {
        .accepted = on_accepted, .received = on_received, .closed = on_closed};
    char why[256] = "";
    client->stack = netstack_create(&config, &io, &callbacks, client, why, sizeof why);
    if (!client->stack) {
        client_fail(client, "cannot make the client's netstack: %s", why);
        return false;
    }
    return true;
}

static void *client_main(void *context)
{
    struct client *client = context;
    client->tid = current_tid();
    if (rte_thread_register() != 0) {
        client_fail(client, "cannot register the client thread with DPDK: %s",
                    rte_strerror(rte_errno));
        return NULL;
    }
    if (!client_make_stack(client) || !client_connect_all(client)) {
        return NULL;
    }
    uint64_t setup_deadline_ns = now_ns() + LOOP_SETUP_TIMEOUT_NS;
    uint64_t busy = 0;
    /* Bounded by the stop flag, a failure, or the setup deadline. */
    for (uint64_t turns = 0;; turns++) {
        uint64_t turn_start = rte_rdtsc();
        if (client_turn(client)) {
            busy += rte_rdtsc() - turn_start;
        }
        if (turns % LOOP_TURNS_PER_CHECK != 0) {
            continue;
        }
        atomic_store_explicit(&client->busy_cycles, busy, memory_order_relaxed);
        if (atomic_load_explicit(&client->stop, memory_order_relaxed) ||
            atomic_load_explicit(&client->failed, memory_order_relaxed)) {
            break;
        }
        if (!client->traffic && now_ns() > setup_deadline_ns) {
            client_fail(client, "setup did not finish in %llu s (%u of %u sessions open, %u of "
                        "%u creates answered)",
                        (unsigned long long)(LOOP_SETUP_TIMEOUT_NS / 1000000000ull),
                        client->sessions_open, client->session_count, client->setup_answered,
                        1u + (uint32_t)client->options->keys);
            break;
        }
    }
    client->stack_counters = *netstack_counters(client->stack);
    client->stack_counters_valid = true;
    netstack_destroy(client->stack);
    client->stack = NULL;
    if (client->frame_open) {
        rte_pktmbuf_free(client->frame_open);
        client->frame_open = NULL;
    }
    return NULL;
}

/* ---- CPU time of threads (/proc/self/task/<tid>/schedstat: ns on CPU) ---- */

struct thread_times {
    uint32_t count;
    int32_t tids[LOOP_THREADS_MAX];
    uint64_t cpu_ns[LOOP_THREADS_MAX];
};

static bool read_schedstat_ns(int32_t tid, uint64_t *cpu_ns)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", tid);
    FILE *file = fopen(path, "r");
    if (!file) {
        return false;
    }
    unsigned long long value = 0;
    bool ok = fscanf(file, "%llu", &value) == 1;
    fclose(file);
    *cpu_ns = value;
    return ok;
}

static void read_thread_times(struct thread_times *times)
{
    times->count = 0;
    DIR *tasks = opendir("/proc/self/task");
    if (!tasks) {
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(tasks)) != NULL && times->count < LOOP_THREADS_MAX) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') {
            continue;
        }
        int32_t tid = (int32_t)atoi(entry->d_name);
        uint64_t cpu_ns = 0;
        if (read_schedstat_ns(tid, &cpu_ns)) {
            times->tids[times->count] = tid;
            times->cpu_ns[times->count++] = cpu_ns;
        }
    }
    closedir(tasks);
}

static uint64_t thread_cpu_ns(const struct thread_times *times, int32_t tid)
{
    for (uint32_t index = 0; index < times->count; index++) {
        if (times->tids[index] == tid) {
            return times->cpu_ns[index];
        }
    }
    return 0;
}

static bool is_registered(int32_t tid)
{
    uint32_t count = atomic_load(&registered_count);
    for (uint32_t index = 0; index < count && index < LOOP_THREADS_MAX; index++) {
        if (atomic_load(&registered_tids[index]) == tid) {
            return true;
        }
    }
    return false;
}

struct cpu_split {
    uint64_t server_ns; /* every thread but main and client */
    uint64_t shard_ns;  /* the shard threads (registered with DPDK, not ours) */
    uint64_t client_ns;
    uint32_t shard_threads;
};

static struct cpu_split cpu_between(const struct thread_times *before,
                                    const struct thread_times *after, int32_t main_tid,
                                    int32_t client_tid)
{
    struct cpu_split split = {0};
    for (uint32_t index = 0; index < after->count; index++) {
        int32_t tid = after->tids[index];
        uint64_t then = thread_cpu_ns(before, tid);
        uint64_t used = after->cpu_ns[index] > then ? after->cpu_ns[index] - then : 0;
        if (tid == client_tid) {
            split.client_ns += used;
        } else if (tid != main_tid) {
            split.server_ns += used;
            if (is_registered(tid)) {
                split.shard_ns += used;
                split.shard_threads++;
            }
        }
    }
    return split;
}

static uint64_t transport_busy_cycles(const struct dpdk_port *port)
{
    struct dpdk_metric metrics[DPDK_METRICS_MAX];
    size_t count = dpdk_port_metrics(port, metrics, DPDK_METRICS_MAX);
    for (size_t index = 0; index < count; index++) {
        if (strcmp(metrics[index].name, LOOP_TRANSPORT_COUNTER_NAME) == 0) {
            return (uint64_t)metrics[index].value;
        }
    }
    return 0;
}

/* --verbose: the server's zk_dpdk_* counters and the client stack's, on
 * stderr (what a slow run looks like from the stacks). */
static void dump_metrics(const struct dpdk_port *port, const struct netstack_counters *client)
{
    struct dpdk_metric metrics[DPDK_METRICS_MAX];
    size_t count = dpdk_port_metrics(port, metrics, DPDK_METRICS_MAX);
    for (size_t index = 0; index < count; index++) {
        if (metrics[index].value != 0) {
            fprintf(stderr, "server %s %" PRId64 "\n", metrics[index].name, metrics[index].value);
        }
    }
    if (client) {
        fprintf(stderr,
                "client frames_received %" PRIu64 " frames_sent %" PRIu64
                " tcp_retransmissions %" PRIu64 " tcp_segments_out_of_window %" PRIu64
                " tx_frames_dropped_no_buffer %" PRIu64 "\n",
                client->frames_received, client->frames_sent, client->tcp_retransmissions,
                client->tcp_segments_out_of_window, client->tx_frames_dropped_no_buffer);
    }
}

/* ---- the server ---- */

struct runner {
    struct server *server;
    int status;
};

static void *runner_main(void *context)
{
    struct runner *runner = context;
    runner->status = server_run(runner->server);
    return NULL;
}

static int remove_entry(const char *path, const struct stat *status, int flag, struct FTW *ftw)
{
    (void)status;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The zoo.cfg text for the server on the ring port. */
static void write_config_text(const struct loop_options *options, const char *data_dir,
                              char *text, size_t text_bytes)
{
    snprintf(text, text_bytes,
             "tickTime=2000\n"
             "dataDir=%s\n"
             "clientPort=%u\n"
             "maxClientCnxns=0\n"
             "forceSync=%s\n"
             "4lw.commands.whitelist=*\n"
             "cheetah.dataplane=dpdk\n"
             "cheetah.shards=%u\n"
             "cheetah.dpdk.port=0\n"
             "cheetah.dpdk.eal_args=%s\n"
             "cheetah.dpdk.ipv4_address=10.79.200.2\n"
             "cheetah.dpdk.netmask=255.255.255.0\n",
             data_dir, LOOP_CLIENT_PORT_TCP, options->force_sync ? "yes" : "no",
             options->shards, options->eal_args);
}

static struct server *make_server(const struct loop_options *options, const char *data_dir,
                                  char *error, size_t error_bytes)
{
    static struct cheetah_config config; /* large: not on the stack */
    char text[CONFIG_DPDK_EAL_ARGS_BYTES_MAX + 1024];
    write_config_text(options, data_dir, text, sizeof text);
    config_defaults(&config);
    if (config_load_text(&config, "cheetah-dpdk-loop.cfg", text, strlen(text), error,
                         error_bytes, NULL, NULL) != 0 ||
        config_finish(&config, error, error_bytes) != 0) {
        return NULL;
    }
    return server_create(&config, error, error_bytes);
}

/* ---- options ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cheetah-dpdk-loop [options]\n"
            "  The whole DPDK stack (Cheetah's server and a client netstack) in one\n"
            "  process over in-memory ring ports; prints a human line and a JSON line.\n"
            "  --op get|exists|set     the request (default get)\n"
            "  --connections C         sessions (default 1, max %d)\n"
            "  --depth D               requests in flight per session (default 1, max %d)\n"
            "  --seconds S             measured window (default 3)\n"
            "  --warmup-seconds W      before the window (default 1)\n"
            "  --shards N              server shards = queue pairs (default 1, max %u)\n"
            "  --value-bytes B         node size (default 100)\n"
            "  --keys K                nodes (default 1000)\n"
            "  --force-sync yes|no     the server's forceSync (default yes)\n"
            "  --eal-args 'ARGS'       EAL arguments (default '--no-huge --no-pci -m 512 -l 0 "
            "--no-shconf')\n"
            "  --timer-slack-ns N      every thread's timer slack (default: the system's,\n"
            "                          50 us, by which an idle shard's 10 us sleep ends late)\n"
            "  --verbose               keep the server's info log on stderr\n",
            LOOP_CONNECTIONS_MAX, LOOP_DEPTH_MAX, LOOP_SHARDS_MAX);
}

static long parse_number(const char *text, const char *flag, long low, long high)
{
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < low || value > high) {
        fprintf(stderr, "cheetah-dpdk-loop: %s %s: expected %ld to %ld\n", flag, text, low, high);
        exit(2);
    }
    return value;
}

static void parse_options(int argc, char **argv, struct loop_options *options)
{
    *options = (struct loop_options){.op = LOOP_OP_GET, .connections = 1, .depth = 1,
                                     .seconds = 3, .warmup_seconds = 1, .shards = 1,
                                     .value_bytes = 100, .keys = 1000, .force_sync = true};
    snprintf(options->eal_args, sizeof options->eal_args,
             "--no-huge --no-pci -m 512 -l 0 --no-shconf");
    static const struct option long_options[] = {
        {"op", required_argument, NULL, 'o'},
        {"connections", required_argument, NULL, 'c'},
        {"depth", required_argument, NULL, 'd'},
        {"seconds", required_argument, NULL, 's'},
        {"warmup-seconds", required_argument, NULL, 'w'},
        {"shards", required_argument, NULL, 'n'},
        {"value-bytes", required_argument, NULL, 'v'},
        {"keys", required_argument, NULL, 'k'},
        {"force-sync", required_argument, NULL, 'f'},
        {"eal-args", required_argument, NULL, 'e'},
        {"timer-slack-ns", required_argument, NULL, 't'},
        {"verbose", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int option;
    while ((option = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (option) {
        case 'o':
            if (strcmp(optarg, "get") == 0) {
                options->op = LOOP_OP_GET;
            } else if (strcmp(optarg, "exists") == 0) {
                options->op = LOOP_OP_EXISTS;
            } else if (strcmp(optarg, "set") == 0) {
                options->op = LOOP_OP_SET;
            } else {
                fprintf(stderr, "cheetah-dpdk-loop: --op %s: expected get, exists or set\n",
                        optarg);
                exit(2);
            }
            break;
        case 'c':
            options->connections = (int)parse_number(optarg, "--connections", 1,
                                                      LOOP_CONNECTIONS_MAX);
            break;
        case 'd':
            options->depth = (int)parse_number(optarg, "--depth", 1, LOOP_DEPTH_MAX);
            break;
        case 's':
            options->seconds = (int)parse_number(optarg, "--seconds", 1, LOOP_SECONDS_MAX);
            break;
        case 'w':
            options->warmup_seconds = (int)parse_number(optarg, "--warmup-seconds", 0,
                                                         LOOP_SECONDS_MAX);
            break;
        case 'n':
            options->shards = (uint32_t)parse_number(optarg, "--shards", 1, LOOP_SHARDS_MAX);
            break;
        case 'v':
            options->value_bytes = (int)parse_number(optarg, "--value-bytes", 0,
                                                      LOOP_VALUE_BYTES_MAX);
            break;
        case 'k':
            options->keys = (int)parse_number(optarg, "--keys", 1, LOOP_KEYS_MAX);
            break;
        case 'f':
            if (strcmp(optarg, "yes") != 0 && strcmp(optarg, "no") != 0) {
                fprintf(stderr, "cheetah-dpdk-loop: --force-sync %s: expected yes or no\n",
                        optarg);
                exit(2);
            }
            options->force_sync = strcmp(optarg, "yes") == 0;
            break;
        case 'e':
            if (strlen(optarg) >= sizeof options->eal_args) {
                fprintf(stderr, "cheetah-dpdk-loop: --eal-args is too long\n");
                exit(2);
            }
            snprintf(options->eal_args, sizeof options->eal_args, "%s", optarg);
            break;
        case 't':
            options->timer_slack_ns = parse_number(optarg, "--timer-slack-ns", 1, 1000000000L);
            break;
        case 'V':
            options->verbose = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind != argc) {
        usage(stderr);
        exit(2);
    }
}

/* ---- the run ---- */

struct measurement {
    double seconds;
    struct cpu_split cpu;
    uint64_t transport_busy_cycles;
    uint64_t client_busy_cycles;
};

static void sleep_ns(uint64_t duration_ns)
{
    struct timespec pause = {.tv_sec = (time_t)(duration_ns / 1000000000ull),
                             .tv_nsec = (long)(duration_ns % 1000000000ull)};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
    }
}

/* Waits (bounded) for the client to start its traffic, then measures the
 * window. False when the client failed first. */
static bool measure(struct client *client, const struct loop_options *options,
                    int32_t main_tid, struct measurement *result)
{
    uint64_t deadline_ns = now_ns() + LOOP_SETUP_TIMEOUT_NS + 1000000000ull;
    while (!atomic_load(&client->ready)) {
        if (atomic_load(&client->failed) || now_ns() > deadline_ns) {
            return false;
        }
        sleep_ns(1000000ull);
    }
    sleep_ns((uint64_t)options->warmup_seconds * 1000000000ull);
    static struct thread_times before, after;
    read_thread_times(&before);
    uint64_t busy_before = transport_busy_cycles(client->link->server_port);
    uint64_t client_busy_before = atomic_load(&client->busy_cycles);
    uint64_t start_ns = now_ns();
    atomic_store(&client->window_start_tsc, rte_rdtsc());
    sleep_ns((uint64_t)options->seconds * 1000000000ull);
    atomic_store(&client->window_end_tsc, rte_rdtsc());
    uint64_t end_ns = now_ns();
    read_thread_times(&after);
    result->transport_busy_cycles = transport_busy_cycles(client->link->server_port) - busy_before;
    result->client_busy_cycles = atomic_load(&client->busy_cycles) - client_busy_before;
    result->seconds = (double)(end_ns - start_ns) / 1e9;
    result->cpu = cpu_between(&before, &after, main_tid, client->tid);
    return !atomic_load(&client->failed);
}

static void report(const struct loop_options *options, const struct client *client,
                   const struct measurement *m)
{
    double ops = (double)client->ops;
    double hz = (double)client->tsc_hz;
    double per_op = ops > 0 ? 1.0 / ops : 0.0;
    double throughput = m->seconds > 0 ? ops / m->seconds : 0.0;
    double p50 = bench_percentile_us(client->histogram, client->ops, 0.50, client->max_ns);
    double p99 = bench_percentile_us(client->histogram, client->ops, 0.99, client->max_ns);
    double p999 = bench_percentile_us(client->histogram, client->ops, 0.999, client->max_ns);
    double server_us = (double)m->cpu.server_ns / 1e3;
    double shard_us = (double)m->cpu.shard_ns / 1e3;
    double client_us = (double)m->cpu.client_ns / 1e3;
    double server_cycles_op = (double)m->cpu.server_ns / 1e9 * hz * per_op;
    double shard_cycles_op = (double)m->cpu.shard_ns / 1e9 * hz * per_op;
    double client_cycles_op = (double)m->cpu.client_ns / 1e9 * hz * per_op;
    double transport_busy_op = (double)m->transport_busy_cycles * per_op;
    double client_busy_op = (double)m->client_busy_cycles * per_op;
    /* Requests per second per core: operations per CPU-second of the server. */
    double per_server_core = server_us > 0 ? ops / (server_us / 1e6) : 0.0;
    double per_shard_core = shard_us > 0 ? ops / (shard_us / 1e6) : 0.0;
    printf("dpdk-loop %s connections=%d depth=%d shards=%u value=%dB keys=%d forceSync=%s: "
           "%.0f ops/s over %.2f s, p50 %.0f us, p99 %.0f us, p99.9 %.0f us; server CPU "
           "%.2f us/op (%.0f cycles), shards %.2f us/op (%.0f cycles, %.0f%% of %u core(s)), "
           "transport busy %.0f cycles/op; client %.0f cycles/op (busy %.0f); %.0f ops per "
           "server core-second; TSC %.3f GHz; %llu errors\n",
           LOOP_OP_HUMAN[options->op], options->connections, options->depth, options->shards,
           options->value_bytes, options->keys, options->force_sync ? "yes" : "no", throughput,
           m->seconds, p50, p99, p999, server_us * per_op, server_cycles_op, shard_us * per_op,
           shard_cycles_op, m->seconds > 0 ? shard_us / (m->seconds * 1e6) * 100.0 : 0.0,
           m->cpu.shard_threads, transport_busy_op, client_cycles_op, client_busy_op,
           per_server_core, hz / 1e9, (unsigned long long)client->errors);
    printf("{\"tool\":\"cheetah-dpdk-loop\",\"op\":\"%s\",\"connections\":%d,\"depth\":%d,"
           "\"shards\":%u,\"shard_threads_seen\":%u,\"value_bytes\":%d,\"keys\":%d,"
           "\"force_sync\":%s,\"timer_slack_ns\":%ld,\"seconds\":%.3f,\"ops\":%llu,\"errors\":%llu,"
           "\"ops_per_second\":%.1f,\"p50_us\":%.0f,\"p99_us\":%.0f,\"p999_us\":%.0f,"
           "\"max_us\":%.0f,\"tsc_hz\":%llu,"
           "\"server_cpu_us\":%.0f,\"server_cpu_us_per_op\":%.3f,\"server_cycles_per_op\":%.0f,"
           "\"server_cpu_percent\":%.1f,"
           "\"shard_cpu_us\":%.0f,\"shard_cpu_us_per_op\":%.3f,\"shard_cycles_per_op\":%.0f,"
           "\"shard_cpu_percent\":%.1f,"
           "\"transport_busy_cycles_per_op\":%.0f,"
           "\"client_cpu_us\":%.0f,\"client_cycles_per_op\":%.0f,"
           "\"client_busy_cycles_per_op\":%.0f,"
           "\"ops_per_server_core_second\":%.0f,\"ops_per_shard_core_second\":%.0f,"
           "\"client_tx_dropped\":%llu}\n",
           LOOP_OP_NAMES[options->op], options->connections, options->depth, options->shards,
           m->cpu.shard_threads, options->value_bytes, options->keys,
           options->force_sync ? "true" : "false", options->timer_slack_ns, m->seconds,
           (unsigned long long)client->ops, (unsigned long long)client->errors, throughput, p50,
           p99, p999, (double)client->max_ns / 1e3, (unsigned long long)client->tsc_hz,
           server_us, server_us * per_op, server_cycles_op,
           m->seconds > 0 ? server_us / (m->seconds * 1e6) * 100.0 : 0.0, shard_us,
           shard_us * per_op, shard_cycles_op,
           m->seconds > 0 ? shard_us / (m->seconds * 1e6) * 100.0 : 0.0, transport_busy_op,
           client_us, client_cycles_op, client_busy_op, per_server_core, per_shard_core,
           (unsigned long long)client->tx_dropped);
}

static bool client_init(struct client *client, const struct loop_options *options,
                        struct loop_link *link)
{
    memset(client, 0, sizeof *client);
    client->options = options;
    client->link = link;
    client->session_count = (uint32_t)options->connections;
    client->tsc_hz = rte_get_tsc_hz();
    client->reta_entries = dpdk_port_reta_entries(link->server_port);
    atomic_init(&client->window_end_tsc, UINT64_MAX);
    client->sessions = calloc(client->session_count, sizeof *client->sessions);
    client->histogram = calloc(BENCH_HISTOGRAM_BUCKETS, sizeof *client->histogram);
    client->value = malloc((size_t)options->value_bytes + 1u);
    if (!client->sessions || !client->histogram || !client->value) {
        return false;
    }
    memset(client->value, 'v', (size_t)options->value_bytes);
    jute_writer_init(&client->scratch, (size_t)options->value_bytes + 4096u);
    uint32_t fifo = (uint32_t)options->depth > LOOP_SETUP_WINDOW ? (uint32_t)options->depth
                                                                 : LOOP_SETUP_WINDOW;
    client->fifo_capacity = fifo;
    /* Replies of one session in flight at once, with room for a partial one. */
    size_t in_bytes = (size_t)fifo * ((size_t)options->value_bytes + 256u) + 65536u;
    for (uint32_t index = 0; index < client->session_count; index++) {
        struct client_session *session = &client->sessions[index];
        session->index = index;
        session->next_xid = 1;
        session->pending = calloc(fifo, sizeof *session->pending);
        session->in = malloc(in_bytes);
        session->in_capacity = in_bytes;
        if (!session->pending || !session->in) {
            return false;
        }
    }
    return true;
}

static void client_free(struct client *client)
{
    for (uint32_t index = 0; client->sessions && index < client->session_count; index++) {
        free(client->sessions[index].pending);
        free(client->sessions[index].in);
    }
    free(client->sessions);
    free(client->histogram);
    free(client->value);
    jute_writer_free(&client->scratch);
}

/* Frees the mbufs left in the client's receive rings (the server's). */
static void drain_client_rings(const struct loop_link *link)
{
    for (uint32_t queue = 0; queue < link->queues; queue++) {
        void *frames[LOOP_RX_BURST_FRAMES];
        unsigned got;
        for (uint32_t round = 0; round <= LOOP_RING_FRAMES / LOOP_RX_BURST_FRAMES &&
                                 (got = rte_ring_dequeue_burst(link->to_client[queue], frames,
                                                               LOOP_RX_BURST_FRAMES, NULL)) > 0;
             round++) {
            rte_pktmbuf_free_bulk((struct rte_mbuf **)frames, got);
        }
    }
}

int main(int argc, char **argv)
{
    static struct loop_options options;
    parse_options(argc, argv, &options);
    if (!options.verbose) {
        log_set_level(LOG_LEVEL_WARN);
    }
    /* Threads inherit their creator's timer slack: set before any is made. */
    if (options.timer_slack_ns > 0 &&
        prctl(PR_SET_TIMERSLACK, (unsigned long)options.timer_slack_ns, 0, 0, 0) != 0) {
        fprintf(stderr, "cheetah-dpdk-loop: PR_SET_TIMERSLACK: %s\n", strerror(errno));
        return 1;
    }
    char work_dir[] = "/tmp/cheetah-dpdk-loop-XXXXXX";
    if (!mkdtemp(work_dir)) {
        fprintf(stderr, "cheetah-dpdk-loop: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    char data_dir[sizeof work_dir + 16];
    snprintf(data_dir, sizeof data_dir, "%s/data", work_dir);
    static struct loop_link link;
    link.queues = options.shards;
    dpdk_port_set_after_eal_hook(make_link, &link);
    char error[LOOP_ERROR_BYTES] = "";
    int32_t main_tid = current_tid();
    struct server *server = make_server(&options, data_dir, error, sizeof error);
    dpdk_port_set_after_eal_hook(NULL, NULL);
    if (!server) {
        fprintf(stderr, "cheetah-dpdk-loop: cannot start the server: %s\n", error);
        nftw(work_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        return 1;
    }
    static struct client client;
    struct runner runner = {.server = server};
    pthread_t runner_thread = {0};
    pthread_t client_thread = {0};
    bool ok = client_init(&client, &options, &link);
    bool runner_started = ok && pthread_create(&runner_thread, NULL, runner_main, &runner) == 0;
    bool client_started =
        runner_started && pthread_create(&client_thread, NULL, client_main, &client) == 0;
    struct measurement measured = {0};
    ok = client_started && measure(&client, &options, main_tid, &measured);
    atomic_store(&client.stop, true);
    if (client_started) {
        pthread_join(client_thread, NULL);
    }
    if (runner_started) {
        server_request_stop(server);
        pthread_join(runner_thread, NULL);
    }
    if (ok && client.ops == 0) {
        snprintf(client.failure, sizeof client.failure, "no operation completed in the window");
        ok = false;
    }
    if (options.verbose && link.server_port) {
        dump_metrics(link.server_port, client.stack_counters_valid ? &client.stack_counters
                                                                   : NULL);
    }
    if (ok) {
        report(&options, &client, &measured);
    } else {
        fprintf(stderr, "cheetah-dpdk-loop: failed: %s\n",
                client.failure[0] ? client.failure : "could not start the threads");
    }
    /* The client's port stops before EAL goes (server_destroy ends it); its
     * rings and pool go with EAL's memory. */
    if (link.client_started) {
        drain_client_rings(&link);
        rte_eth_dev_stop(link.client_port_id);
    }
    server_destroy(server);
    client_free(&client);
    nftw(work_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    fflush(stdout);
    return ok ? 0 : 1;
}
