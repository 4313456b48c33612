/* cheetah-bench: a load generator that speaks the ZooKeeper client protocol
 * directly (jute codec), for Cheetah and Apache ZooKeeper alike.
 *
 *   cheetah-bench --server 127.0.0.1:2181 --op WORKLOAD [options]   (--help)
 *
 * Connections are spread over --threads threads; each thread drives its
 * nonblocking sockets with epoll. Closed loop (default): every connection
 * keeps --depth requests in flight. Open loop (--rate R): requests are due at
 * intended times, evenly spaced per connection, and a request's latency runs
 * from its INTENDED send time, so a stalled server shows up in the
 * percentiles instead of silently slowing the generator (coordinated
 * omission). Replies on one session come back in request order (ZooKeeper's
 * per-session FIFO guarantee), so each connection keeps a FIFO of its
 * in-flight requests and checks every reply's xid against it.
 *
 * Watch workload: --watchers sessions each hold a getData watch on the
 * benchmark node and re-arm it after every event, while the --connections
 * setData that node. Notification latency = event arrival at a watcher minus
 * the send time (intended send time in open loop) of the setData that
 * produced the data version the watch fired on. That version is exact: the
 * re-arming getData reply carries stat.version v, so the watch fires on the
 * write that makes version v + 1, and every writer records its send time by
 * the version its reply reports.
 *
 * Prints one human line and one JSON line (the last line of stdout).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "jute/frame.h"
#include "jute/jute.h"
#include "jute/records.h"
#include "jute/zk_constants.h"
#include "bench/bench.h"

/* Open loop: requests one connection may have in flight; past it a due
 * request waits (its latency still runs from its intended time). */
#define BENCH_OPEN_INFLIGHT_MAX 1024
/* A request sent more than this after its intended time counts as late. */
#define BENCH_LATE_NS 1000000ull
#define BENCH_FRAME_BYTES_MAX (JUTE_MAXBUFFER_DEFAULT_BYTES + 4)
#define BENCH_RECEIVE_CHUNK_BYTES 65536
#define BENCH_PATH_BYTES 128
#define BENCH_SETUP_WINDOW 256
#define BENCH_IO_TIMEOUT_S 10
#define BENCH_CONNECT_WAIT_NS (30ull * 1000000000ull)
#define BENCH_PING_IDLE_NS (5ull * 1000000000ull)
/* Watch mode: writers record send times by data version in this ring. */
#define BENCH_VERSION_RING 65536
#define BENCH_EVENTS_MAX 65536
#define BENCH_ERROR_KINDS 129 /* err 0..-127, then "other" */
#define BENCH_EVENTS_PER_WAKE 256
#define BENCH_READS_PER_WAKE 64


struct pending {
    int32_t xid;
    bool is_read; /* mixed: a getData */
    uint64_t start_ns;
};

struct watch_event {
    uint64_t arrival_ns;
    int32_t version;
};

struct connection {
    int fd;
    int index; /* among writers, or among watchers */
    bool watcher;
    bool exhausted; /* delete: nothing left to delete */
    uint8_t *in;
    size_t in_size, in_capacity;
    uint8_t *out;
    size_t out_size, out_sent, out_capacity;
    bool want_write;
    struct pending *ring;
    uint32_t ring_capacity, ring_head, ring_count;
    int32_t next_xid;
    uint64_t next_intended_ns;
    uint64_t rng;
    uint64_t key_cursor;
    uint64_t sequence; /* create: next name; delete: next index */
    uint64_t last_send_ns;
    int32_t armed_version; /* watcher: -1 until the first reply */
};

struct stats {
    uint64_t *histogram;
    uint64_t *notify_histogram;
    uint64_t ops, errors, late, notifications, notifications_unmatched;
    uint64_t max_ns, notify_max_ns;
    uint64_t error_kinds[BENCH_ERROR_KINDS];
};

struct worker {
    pthread_t thread;
    const struct bench_options *options;
    int index;
    struct connection *connections;
    int connection_count;
    int epoll_fd;
    struct jute_writer scratch;
    uint8_t *value;
    struct stats stats;
    struct watch_event *events;
    size_t event_count;
    _Atomic uint64_t progress_ops;
    _Atomic bool done;
    char failure[256];
};

struct version_slot {
    _Atomic int32_t version;
    _Atomic uint64_t send_ns;
};

static _Atomic bool bench_stop;
static _Atomic int bench_connected;
static _Atomic uint64_t traffic_start_ns;  /* 0 until every connection is up */
static _Atomic uint64_t measure_start_ns;  /* after the warmup */
static _Atomic uint64_t measure_end_ns;    /* UINT64_MAX until the run ends */
static struct version_slot *version_ring;
static char run_id[32];

static uint64_t now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

static uint64_t rng_next(uint64_t *state)
{
    /* xorshift64*: deterministic per connection, good enough for key picks. */
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static const char *error_name(int32_t err)
{
    switch (err) {
    case ZK_SYSTEMERROR: return "SYSTEMERROR";
    case ZK_CONNECTIONLOSS: return "CONNECTIONLOSS";
    case ZK_MARSHALLINGERROR: return "MARSHALLINGERROR";
    case ZK_UNIMPLEMENTED: return "UNIMPLEMENTED";
    case ZK_OPERATIONTIMEOUT: return "OPERATIONTIMEOUT";
    case ZK_BADARGUMENTS: return "BADARGUMENTS";
    case ZK_APIERROR: return "APIERROR";
    case ZK_NONODE: return "NONODE";
    case ZK_NOAUTH: return "NOAUTH";
    case ZK_BADVERSION: return "BADVERSION";
    case ZK_NOCHILDRENFOREPHEMERALS: return "NOCHILDRENFOREPHEMERALS";
    case ZK_NODEEXISTS: return "NODEEXISTS";
    case ZK_NOTEMPTY: return "NOTEMPTY";
    case ZK_SESSIONEXPIRED: return "SESSIONEXPIRED";
    case ZK_INVALIDACL: return "INVALIDACL";
    case ZK_SESSIONMOVED: return "SESSIONMOVED";
    case ZK_QUOTAEXCEEDED: return "QUOTAEXCEEDED";
    case ZK_THROTTLEDOP: return "THROTTLEDOP";
    default: return NULL;
    }
}

/* ---- blocking helpers for setup and handshakes ------------------------------------ */

static int connect_to(const struct bench_options *options, char *why, size_t why_bytes)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        snprintf(why, why_bytes, "socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(options->port)};
    if (inet_pton(AF_INET, options->host, &address.sin_addr) != 1) {
        snprintf(why, why_bytes, "'%s' is not an IPv4 address", options->host);
        close(fd);
        return -1;
    }
    struct timeval timeout = {.tv_sec = BENCH_IO_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    if (connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
        snprintf(why, why_bytes, "connect to %s:%u: %s", options->host, options->port,
                 strerror(errno));
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static bool write_all(int fd, const uint8_t *data, size_t size)
{
    for (int attempts = 0; size > 0 && attempts < 1 << 20; attempts++) {
        ssize_t sent = send(fd, data, size, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) {
            continue;
        }
        if (sent <= 0) {
            return false;
        }
        data += sent;
        size -= (size_t)sent;
    }
    return size == 0;
}

/* A blocking frame reader over a growable buffer (setup and handshakes). */
struct frame_reader {
    uint8_t *buffer;
    size_t capacity, buffered, start;
};

/* Returns the payload (and its size) of the next frame, or NULL. */
static const uint8_t *read_frame(int fd, struct frame_reader *reader, uint32_t *payload_bytes)
{
    for (int attempts = 0; attempts < 1 << 16; attempts++) {
        enum jute_frame_status status =
            jute_frame_peek(reader->buffer + reader->start, reader->buffered - reader->start,
                            JUTE_MAXBUFFER_DEFAULT_BYTES, payload_bytes);
        if (status == JUTE_FRAME_BAD_LENGTH) {
            return NULL;
        }
        if (status == JUTE_FRAME_READY) {
            const uint8_t *payload = reader->buffer + reader->start + 4;
            reader->start += 4 + *payload_bytes;
            return payload;
        }
        if (reader->start > 0) {
            memmove(reader->buffer, reader->buffer + reader->start,
                    reader->buffered - reader->start);
            reader->buffered -= reader->start;
            reader->start = 0;
        }
        if (reader->buffered == reader->capacity) {
            return NULL; /* capacity is BENCH_FRAME_BYTES_MAX: cannot happen */
        }
        ssize_t got = recv(fd, reader->buffer + reader->buffered,
                           reader->capacity - reader->buffered, 0);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            return NULL;
        }
        reader->buffered += (size_t)got;
    }
    return NULL;
}

static bool handshake(int fd, struct frame_reader *reader)
{
    struct jute_writer out;
    jute_writer_init(&out, 256);
    jute_write_int(&out, 0);
    uint8_t password[16] = {0};
    struct jute_connect_request request = {.time_out = 30000,
                                           .passwd = jute_bytes_of(password, 16),
                                           .has_read_only = true};
    jute_connect_request_encode(&out, &request);
    jute_writer_patch_int(&out, 0, (int32_t)(out.size - 4));
    bool ok = out.ok && write_all(fd, out.data, out.size);
    jute_writer_free(&out);
    uint32_t payload_bytes = 0;
    const uint8_t *payload = ok ? read_frame(fd, reader, &payload_bytes) : NULL;
    /* ConnectResponse: protocolVersion, timeOut (<= 0: session refused). */
    return payload && payload_bytes >= 8 && (int32_t)jute_load_be32(payload + 4) > 0;
}

/* ---- request encoding ------------------------------------------------------------- */

static void key_path(const struct bench_options *options, uint64_t key, char *path)
{
    if (options->keys <= 1) {
        snprintf(path, BENCH_PATH_BYTES, "%s", BENCH_PATH);
    } else {
        snprintf(path, BENCH_PATH_BYTES, "%s/k%llu", BENCH_PATH, (unsigned long long)key);
    }
}

static void delete_path(uint64_t index, char *path)
{
    snprintf(path, BENCH_PATH_BYTES, "%s/%s-k%llu", BENCH_DELETE_PARENT, run_id,
             (unsigned long long)index);
}

static void begin_request(struct jute_writer *out, int32_t xid, int32_t type)
{
    jute_writer_reset(out);
    jute_write_int(out, 0);
    struct jute_request_header header = {.xid = xid, .type = type};
    jute_request_header_encode(out, &header);
}

static void encode_create(struct jute_writer *out, int32_t xid, const char *path,
                          const uint8_t *value, int value_bytes, int32_t flags)
{
    begin_request(out, xid, ZK_OP_CREATE);
    struct jute_acl acl = {.perms = ZK_PERM_ALL,
                           .id = {.scheme = jute_bytes_cstr("world"),
                                  .id = jute_bytes_cstr("anyone")}};
    struct jute_create_request create = {.path = jute_bytes_cstr(path),
                                         .data = jute_bytes_of(value, value_bytes),
                                         .acl = {.count = 1, .items = &acl},
                                         .flags = flags};
    jute_create_request_encode(out, &create);
}

static void encode_get(struct jute_writer *out, int32_t xid, const char *path, bool watch)
{
    begin_request(out, xid, ZK_OP_GET_DATA);
    struct jute_get_data_request body = {.path = jute_bytes_cstr(path), .watch = watch};
    jute_get_data_request_encode(out, &body);
}

static void encode_set(struct jute_writer *out, int32_t xid, const char *path,
                       const uint8_t *value, int value_bytes)
{
    begin_request(out, xid, ZK_OP_SET_DATA);
    struct jute_set_data_request body = {.path = jute_bytes_cstr(path),
                                         .data = jute_bytes_of(value, value_bytes),
                                         .version = -1};
    jute_set_data_request_encode(out, &body);
}

static void finish_request(struct jute_writer *out)
{
    jute_writer_patch_int(out, 0, (int32_t)(out->size - 4));
}

/* ---- setup ------------------------------------------------------------------------ */

/* Creates every path (pipelined, BENCH_SETUP_WINDOW in flight), accepting
 * NODEEXISTS. path_of(i) names the i-th. */
typedef void path_namer(const struct bench_options *options, uint64_t index, char *path);

static bool create_all(int fd, struct frame_reader *reader, const struct bench_options *options,
                       uint64_t count, path_namer *path_of, char *why, size_t why_bytes)
{
    struct jute_writer out;
    jute_writer_init(&out, (size_t)options->value_bytes + 4096);
    uint8_t *value = calloc(1, (size_t)options->value_bytes + 1);
    bool ok = value != NULL;
    if (value) {
        memset(value, 'v', (size_t)options->value_bytes);
    }
    uint64_t sent = 0, answered = 0;
    while (ok && answered < count) {
        while (sent < count && sent - answered < BENCH_SETUP_WINDOW) {
            char path[BENCH_PATH_BYTES];
            path_of(options, sent, path);
            encode_create(&out, (int32_t)(sent % INT32_MAX) + 1, path, value,
                          options->value_bytes, ZK_CREATE_PERSISTENT);
            finish_request(&out);
            if (!out.ok || !write_all(fd, out.data, out.size)) {
                snprintf(why, why_bytes, "setup: sending a create failed: %s", strerror(errno));
                ok = false;
                break;
            }
            sent++;
        }
        uint32_t payload_bytes = 0;
        const uint8_t *payload = ok ? read_frame(fd, reader, &payload_bytes) : NULL;
        if (!payload || payload_bytes < 16) {
            if (ok) {
                snprintf(why, why_bytes, "setup: no reply to a create (connection lost)");
            }
            ok = false;
            break;
        }
        int32_t xid = (int32_t)jute_load_be32(payload);
        int32_t err = (int32_t)jute_load_be32(payload + 12);
        if (xid < 0) {
            continue;
        }
        if (err != 0 && err != ZK_NODEEXISTS) {
            const char *name = error_name(err);
            snprintf(why, why_bytes, "setup: create failed with %s (%d)", name ? name : "error",
                     err);
            ok = false;
        }
        answered++;
    }
    jute_writer_free(&out);
    free(value);
    return ok;
}

static void path_root(const struct bench_options *options, uint64_t index, char *path)
{
    (void)options;
    static const char *const roots[] = {BENCH_PATH, BENCH_CREATE_PARENT, BENCH_SEQ_PARENT,
                                        BENCH_DELETE_PARENT};
    snprintf(path, BENCH_PATH_BYTES, "%s", roots[index]);
}

static void path_parent(const struct bench_options *options, uint64_t index, char *path)
{
    path_root(options, options->op == OP_CREATE ? 1 : options->op == OP_CREATE_SEQ ? 2 : 3, path);
    (void)index;
}

static void path_key(const struct bench_options *options, uint64_t index, char *path)
{
    key_path(options, index, path);
}

static void path_delete(const struct bench_options *options, uint64_t index, char *path)
{
    (void)options;
    delete_path(index, path);
}

static bool setup(const struct bench_options *options, char *why, size_t why_bytes)
{
    struct frame_reader reader = {.buffer = malloc(BENCH_FRAME_BYTES_MAX),
                                  .capacity = BENCH_FRAME_BYTES_MAX};
    int fd = reader.buffer ? connect_to(options, why, why_bytes) : -1;
    bool ok = fd >= 0;
    if (ok && !handshake(fd, &reader)) {
        snprintf(why, why_bytes, "handshake with %s:%u failed", options->host, options->port);
        ok = false;
    }
    /* Only the parents this workload uses, so old workloads leave the tree as
     * they always did. */
    ok = ok && create_all(fd, &reader, options, 1, path_root, why, why_bytes);
    if (ok && (options->op == OP_CREATE || options->op == OP_CREATE_SEQ ||
               options->op == OP_DELETE)) {
        ok = create_all(fd, &reader, options, 1, path_parent, why, why_bytes);
    }
    if (ok && options->keys > 1 && options->op != OP_DELETE) {
        ok = create_all(fd, &reader, options, (uint64_t)options->keys, path_key, why, why_bytes);
    }
    if (ok && options->op == OP_DELETE) {
        ok = create_all(fd, &reader, options, (uint64_t)options->keys, path_delete, why,
                        why_bytes);
    }
    if (fd >= 0) {
        close(fd);
    }
    free(reader.buffer);
    return ok;
}

/* ---- the worker threads ----------------------------------------------------------- */

static bool fail(struct worker *worker, const struct connection *conn, const char *what)
{
    if (!worker->failure[0]) {
        snprintf(worker->failure, sizeof(worker->failure), "%s %d (%s:%u): %s",
                 conn->watcher ? "watcher" : "connection", conn->index,
                 worker->options->host, worker->options->port, what);
    }
    atomic_store(&bench_stop, true);
    return false;
}

static bool in_window(uint64_t at_ns)
{
    uint64_t start = atomic_load_explicit(&measure_start_ns, memory_order_relaxed);
    return start != 0 && at_ns >= start &&
           at_ns <= atomic_load_explicit(&measure_end_ns, memory_order_relaxed);
}

static bool append_out(struct worker *worker, struct connection *conn)
{
    struct jute_writer *scratch = &worker->scratch;
    if (!scratch->ok) {
        return fail(worker, conn, "request encoding overflowed");
    }
    if (conn->out_size + scratch->size > conn->out_capacity) {
        size_t capacity = (conn->out_size + scratch->size) * 2;
        uint8_t *grown = realloc(conn->out, capacity);
        if (!grown) {
            return fail(worker, conn, "out of memory for the send buffer");
        }
        conn->out = grown;
        conn->out_capacity = capacity;
    }
    memcpy(conn->out + conn->out_size, scratch->data, scratch->size);
    conn->out_size += scratch->size;
    return true;
}

static bool set_interest(struct worker *worker, struct connection *conn, bool want_write)
{
    if (conn->want_write == want_write) {
        return true;
    }
    struct epoll_event event = {.events = EPOLLIN | (want_write ? EPOLLOUT : 0),
                                .data.ptr = conn};
    if (epoll_ctl(worker->epoll_fd, EPOLL_CTL_MOD, conn->fd, &event) != 0) {
        return fail(worker, conn, "epoll_ctl failed");
    }
    conn->want_write = want_write;
    return true;
}

static bool flush_out(struct worker *worker, struct connection *conn)
{
    for (int attempts = 0; conn->out_sent < conn->out_size && attempts < 1024; attempts++) {
        ssize_t sent = send(conn->fd, conn->out + conn->out_sent, conn->out_size - conn->out_sent,
                            MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent < 0 && errno == EINTR) {
            continue;
        }
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        if (sent <= 0) {
            char what[128];
            snprintf(what, sizeof(what), "%s: %s",
                     errno == ECONNRESET || errno == EPIPE ? "the server closed the connection"
                                                           : "send failed",
                     strerror(errno));
            return fail(worker, conn, what);
        }
        conn->out_sent += (size_t)sent;
    }
    if (conn->out_sent == conn->out_size) {
        conn->out_sent = conn->out_size = 0;
    }
    return set_interest(worker, conn, conn->out_size > 0);
}

static uint64_t pick_key(const struct bench_options *options, struct connection *conn)
{
    if (options->keys <= 1) {
        return 0;
    }
    if (options->key_round_robin) {
        return conn->key_cursor++ % (uint64_t)options->keys;
    }
    return rng_next(&conn->rng) % (uint64_t)options->keys;
}

/* Encodes and queues one request; start_ns is when its latency starts. */
static bool issue(struct worker *worker, struct connection *conn, uint64_t start_ns)
{
    const struct bench_options *options = worker->options;
    struct jute_writer *out = &worker->scratch;
    int32_t xid = conn->next_xid;
    conn->next_xid = conn->next_xid == INT32_MAX ? 1 : conn->next_xid + 1;
    char path[BENCH_PATH_BYTES];
    bool is_read = false;
    if (conn->watcher) {
        key_path(options, 0, path);
        encode_get(out, xid, path, true);
    } else {
        switch (options->op) {
        case OP_GET:
            key_path(options, pick_key(options, conn), path);
            encode_get(out, xid, path, false);
            break;
        case OP_SET:
            key_path(options, pick_key(options, conn), path);
            encode_set(out, xid, path, worker->value, options->value_bytes);
            break;
        case OP_WATCH:
            key_path(options, 0, path);
            encode_set(out, xid, path, worker->value, options->value_bytes);
            break;
        case OP_MIXED:
            key_path(options, pick_key(options, conn), path);
            is_read = (int)(rng_next(&conn->rng) % 100) < options->read_percent;
            if (is_read) {
                encode_get(out, xid, path, false);
            } else {
                encode_set(out, xid, path, worker->value, options->value_bytes);
            }
            break;
        case OP_EXISTS: {
            key_path(options, pick_key(options, conn), path);
            begin_request(out, xid, ZK_OP_EXISTS);
            struct jute_exists_request body = {.path = jute_bytes_cstr(path)};
            jute_exists_request_encode(out, &body);
            break;
        }
        case OP_CHILDREN: {
            begin_request(out, xid, ZK_OP_GET_CHILDREN2);
            struct jute_get_children2_request body = {.path = jute_bytes_cstr(BENCH_PATH)};
            jute_get_children2_request_encode(out, &body);
            break;
        }
        case OP_CREATE:
            snprintf(path, sizeof(path), "%s/%s-c%d-%llu", BENCH_CREATE_PARENT, run_id,
                     conn->index, (unsigned long long)conn->sequence++);
            encode_create(out, xid, path, worker->value, options->value_bytes,
                          ZK_CREATE_PERSISTENT);
            break;
        case OP_CREATE_SEQ:
            snprintf(path, sizeof(path), "%s/n-", BENCH_SEQ_PARENT);
            encode_create(out, xid, path, worker->value, options->value_bytes,
                          ZK_CREATE_PERSISTENT_SEQUENTIAL);
            break;
        case OP_DELETE: {
            /* Connection c deletes indices c, c + N, c + 2N, ... */
            uint64_t index =
                conn->sequence * (uint64_t)options->connections + (uint64_t)conn->index;
            if (index >= (uint64_t)options->keys) {
                conn->exhausted = true;
                return true;
            }
            conn->sequence++;
            delete_path(index, path);
            begin_request(out, xid, ZK_OP_DELETE);
            struct jute_delete_request body = {.path = jute_bytes_cstr(path), .version = -1};
            jute_delete_request_encode(out, &body);
            break;
        }
        case OP_COUNT:
            assert(false);
            break;
        }
    }
    finish_request(out);
    if (conn->ring_count == conn->ring_capacity) {
        return fail(worker, conn, "in-flight ring full (internal limit)");
    }
    uint32_t slot = (conn->ring_head + conn->ring_count) % conn->ring_capacity;
    conn->ring[slot] = (struct pending){.xid = xid, .is_read = is_read, .start_ns = start_ns};
    conn->ring_count++;
    conn->last_send_ns = now_ns();
    return append_out(worker, conn);
}

static void count_error(struct stats *stats, int32_t err)
{
    stats->errors++;
    size_t kind = err < 0 && err > -(BENCH_ERROR_KINDS - 1) ? (size_t)(-err)
                                                            : BENCH_ERROR_KINDS - 1;
    stats->error_kinds[kind]++;
}

/* Reads stat.version from a Stat that starts at `stat` (czxid, mzxid, ctime,
 * mtime: 4 longs, then version). */
static bool stat_version(const uint8_t *payload, size_t payload_bytes, size_t stat_offset,
                         int32_t *version)
{
    if (stat_offset + 36 > payload_bytes) {
        return false;
    }
    *version = (int32_t)jute_load_be32(payload + stat_offset + 32);
    return true;
}

static bool on_watcher_frame(struct worker *worker, struct connection *conn,
                             const uint8_t *payload, size_t payload_bytes, uint64_t now)
{
    int32_t xid = (int32_t)jute_load_be32(payload);
    int32_t err = (int32_t)jute_load_be32(payload + 12);
    if (xid == ZK_XID_NOTIFICATION) {
        int32_t type = payload_bytes >= 20 ? (int32_t)jute_load_be32(payload + 16) : 0;
        if (type != ZK_EVENT_NODE_DATA_CHANGED) {
            return true;
        }
        if (in_window(now)) {
            worker->stats.notifications++;
            if (conn->armed_version >= 0 && worker->event_count < BENCH_EVENTS_MAX) {
                worker->events[worker->event_count++] =
                    (struct watch_event){.arrival_ns = now, .version = conn->armed_version + 1};
            } else {
                worker->stats.notifications_unmatched++;
            }
        }
        conn->armed_version = -1;
        return issue(worker, conn, now);
    }
    if (xid < 0) {
        return true;
    }
    if (conn->ring_count == 0 || conn->ring[conn->ring_head].xid != xid) {
        return fail(worker, conn, "reply with an unexpected xid");
    }
    conn->ring_head = (conn->ring_head + 1) % conn->ring_capacity;
    conn->ring_count--;
    if (err != 0) {
        count_error(&worker->stats, err);
        return true;
    }
    /* GetDataResponse: data (int length + bytes), then the Stat. */
    int32_t data_bytes = payload_bytes >= 20 ? (int32_t)jute_load_be32(payload + 16) : -1;
    size_t stat_offset = 20 + (size_t)(data_bytes > 0 ? data_bytes : 0);
    if (!stat_version(payload, payload_bytes, stat_offset, &conn->armed_version)) {
        return fail(worker, conn, "short getData reply");
    }
    return true;
}

static void record_latency(struct stats *stats, uint64_t latency_ns)
{
    stats->histogram[bench_bucket_of(latency_ns)]++;
    if (latency_ns > stats->max_ns) {
        stats->max_ns = latency_ns;
    }
}

static bool on_writer_frame(struct worker *worker, struct connection *conn,
                            const uint8_t *payload, size_t payload_bytes, uint64_t now)
{
    int32_t xid = (int32_t)jute_load_be32(payload);
    int32_t err = (int32_t)jute_load_be32(payload + 12);
    if (xid < 0) {
        return true; /* a ping reply or a notification: not a measured request */
    }
    if (conn->ring_count == 0 || conn->ring[conn->ring_head].xid != xid) {
        return fail(worker, conn, "reply with an unexpected xid");
    }
    struct pending request = conn->ring[conn->ring_head];
    conn->ring_head = (conn->ring_head + 1) % conn->ring_capacity;
    conn->ring_count--;
    uint64_t latency_ns = now > request.start_ns ? now - request.start_ns : 0;
    if (in_window(now)) {
        worker->stats.ops++;
        atomic_fetch_add_explicit(&worker->progress_ops, 1, memory_order_relaxed);
        record_latency(&worker->stats, latency_ns);
        if (err != 0) {
            count_error(&worker->stats, err);
        }
    }
    if (worker->options->op == OP_WATCH && err == 0) {
        int32_t version = 0;
        if (stat_version(payload, payload_bytes, 16, &version)) {
            struct version_slot *slot = &version_ring[(uint32_t)version % BENCH_VERSION_RING];
            atomic_store_explicit(&slot->send_ns, request.start_ns, memory_order_relaxed);
            atomic_store_explicit(&slot->version, version, memory_order_release);
        }
    }
    if (worker->options->rate == 0 && !atomic_load_explicit(&bench_stop, memory_order_relaxed)) {
        return issue(worker, conn, now_ns());
    }
    return true;
}

static bool read_ready(struct worker *worker, struct connection *conn)
{
    for (int reads = 0; reads < BENCH_READS_PER_WAKE; reads++) {
        if (conn->in_capacity - conn->in_size < BENCH_RECEIVE_CHUNK_BYTES / 4 &&
            conn->in_capacity < BENCH_FRAME_BYTES_MAX) {
            size_t capacity = conn->in_capacity * 2;
            capacity = capacity < BENCH_FRAME_BYTES_MAX ? capacity : BENCH_FRAME_BYTES_MAX;
            uint8_t *grown = realloc(conn->in, capacity);
            if (!grown) {
                return fail(worker, conn, "out of memory for the receive buffer");
            }
            conn->in = grown;
            conn->in_capacity = capacity;
        }
        ssize_t got = recv(conn->fd, conn->in + conn->in_size, conn->in_capacity - conn->in_size,
                           MSG_DONTWAIT);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return true;
        }
        if (got == 0) {
            return fail(worker, conn, "the server closed the connection");
        }
        if (got < 0) {
            char what[128];
            snprintf(what, sizeof(what), "%s: %s",
                     errno == ECONNRESET ? "the server closed the connection" : "recv failed",
                     strerror(errno));
            return fail(worker, conn, what);
        }
        conn->in_size += (size_t)got;
        uint64_t now = now_ns();
        size_t start = 0;
        for (;;) {
            uint32_t payload_bytes = 0;
            enum jute_frame_status status = jute_frame_peek(
                conn->in + start, conn->in_size - start, JUTE_MAXBUFFER_DEFAULT_BYTES,
                &payload_bytes);
            if (status == JUTE_FRAME_BAD_LENGTH) {
                return fail(worker, conn, "bad frame length from the server");
            }
            if (status == JUTE_FRAME_INCOMPLETE) {
                break;
            }
            const uint8_t *payload = conn->in + start + 4;
            start += 4 + payload_bytes;
            if (payload_bytes < 16) {
                return fail(worker, conn, "short reply header");
            }
            bool ok = conn->watcher
                          ? on_watcher_frame(worker, conn, payload, payload_bytes, now)
                          : on_writer_frame(worker, conn, payload, payload_bytes, now);
            if (!ok) {
                return false;
            }
        }
        memmove(conn->in, conn->in + start, conn->in_size - start);
        conn->in_size -= start;
    }
    return true;
}

/* Open loop: sends every request that is due; returns the next due time. */
static bool send_due(struct worker *worker, struct connection *conn, uint64_t now,
                     uint64_t interval_ns)
{
    for (int sent = 0; sent < BENCH_OPEN_INFLIGHT_MAX; sent++) {
        if (conn->exhausted || conn->next_intended_ns > now ||
            conn->ring_count >= BENCH_OPEN_INFLIGHT_MAX) {
            break;
        }
        uint64_t intended = conn->next_intended_ns;
        if (now - intended > BENCH_LATE_NS && in_window(intended)) {
            worker->stats.late++;
        }
        if (!issue(worker, conn, intended)) {
            return false;
        }
        if (!conn->exhausted) {
            conn->next_intended_ns += interval_ns;
        }
    }
    return true;
}

static bool send_ping(struct worker *worker, struct connection *conn)
{
    struct jute_writer *out = &worker->scratch;
    begin_request(out, ZK_XID_PING, ZK_OP_PING);
    finish_request(out);
    conn->last_send_ns = now_ns();
    return append_out(worker, conn);
}

/* Resolves watch events against the writers' version ring. */
static void resolve_events(struct worker *worker, bool final)
{
    size_t kept = 0;
    for (size_t index = 0; index < worker->event_count; index++) {
        struct watch_event event = worker->events[index];
        struct version_slot *slot = &version_ring[(uint32_t)event.version % BENCH_VERSION_RING];
        if (atomic_load_explicit(&slot->version, memory_order_acquire) == event.version) {
            uint64_t send_ns = atomic_load_explicit(&slot->send_ns, memory_order_relaxed);
            uint64_t latency_ns = event.arrival_ns > send_ns ? event.arrival_ns - send_ns : 0;
            worker->stats.notify_histogram[bench_bucket_of(latency_ns)]++;
            if (latency_ns > worker->stats.notify_max_ns) {
                worker->stats.notify_max_ns = latency_ns;
            }
        } else if (final) {
            worker->stats.notifications_unmatched++;
        } else {
            worker->events[kept++] = event;
        }
    }
    worker->event_count = final ? 0 : kept;
}

static bool connect_all(struct worker *worker)
{
    const struct bench_options *options = worker->options;
    struct frame_reader reader = {.buffer = malloc(4096), .capacity = 4096};
    bool ok = reader.buffer != NULL;
    for (int index = 0; ok && index < worker->connection_count; index++) {
        struct connection *conn = &worker->connections[index];
        char why[200];
        conn->fd = connect_to(options, why, sizeof(why));
        if (conn->fd < 0) {
            ok = fail(worker, conn, why);
            break;
        }
        reader.buffered = reader.start = 0;
        if (!handshake(conn->fd, &reader)) {
            ok = fail(worker, conn, "handshake failed (session refused or connection closed)");
            break;
        }
        fcntl(conn->fd, F_SETFL, fcntl(conn->fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event event = {.events = EPOLLIN, .data.ptr = conn};
        if (epoll_ctl(worker->epoll_fd, EPOLL_CTL_ADD, conn->fd, &event) != 0) {
            ok = fail(worker, conn, "epoll_ctl failed");
        }
        atomic_fetch_add(&bench_connected, 1);
    }
    free(reader.buffer);
    return ok;
}

/* Starts the traffic: closed loop fills the depth, watchers arm their watch,
 * open loop spreads the first intended times over one interval. */
static bool start_traffic(struct worker *worker, uint64_t start, uint64_t interval_ns)
{
    const struct bench_options *options = worker->options;
    for (int index = 0; index < worker->connection_count; index++) {
        struct connection *conn = &worker->connections[index];
        bool ok = true;
        if (conn->watcher) {
            ok = issue(worker, conn, start);
        } else if (options->rate > 0) {
            conn->next_intended_ns =
                start + interval_ns * (uint64_t)conn->index / (uint64_t)options->connections;
        } else {
            for (int slot = 0; ok && slot < options->depth && !conn->exhausted; slot++) {
                ok = issue(worker, conn, now_ns());
            }
        }
        if (!ok || !flush_out(worker, conn)) {
            return false;
        }
    }
    return true;
}

static bool all_exhausted(const struct worker *worker)
{
    for (int index = 0; index < worker->connection_count; index++) {
        const struct connection *conn = &worker->connections[index];
        if (!conn->watcher && (!conn->exhausted || conn->ring_count > 0)) {
            return false;
        }
    }
    return true;
}

static void drive(struct worker *worker)
{
    const struct bench_options *options = worker->options;
    uint64_t interval_ns =
        options->rate > 0 ? (uint64_t)(1e9 * (double)options->connections / options->rate) : 0;
    uint64_t start = 0;
    /* Bounded wait for the main thread to see every connection up. */
    for (uint64_t waited = now_ns(); start == 0; start = atomic_load(&traffic_start_ns)) {
        if (atomic_load(&bench_stop) || now_ns() - waited > BENCH_CONNECT_WAIT_NS + 1000000000ull) {
            return;
        }
        usleep(1000);
    }
    if (!start_traffic(worker, start, interval_ns)) {
        return;
    }
    struct epoll_event events[BENCH_EVENTS_PER_WAKE];
    uint64_t last_housekeeping_ns = now_ns();
    while (!atomic_load_explicit(&bench_stop, memory_order_relaxed)) {
        uint64_t now = now_ns();
        uint64_t next_due = now + 100000000ull; /* wake at least every 100 ms */
        if (options->rate > 0) {
            for (int index = 0; index < worker->connection_count; index++) {
                struct connection *conn = &worker->connections[index];
                if (conn->watcher) {
                    continue;
                }
                if (!send_due(worker, conn, now, interval_ns) || !flush_out(worker, conn)) {
                    return;
                }
                if (!conn->exhausted && conn->ring_count < BENCH_OPEN_INFLIGHT_MAX &&
                    conn->next_intended_ns < next_due) {
                    next_due = conn->next_intended_ns;
                }
            }
        }
        if (options->op == OP_DELETE && all_exhausted(worker)) {
            break;
        }
        uint64_t wait_ns = next_due > now ? next_due - now : 0;
        struct timespec timeout = {.tv_sec = (time_t)(wait_ns / 1000000000ull),
                                   .tv_nsec = (long)(wait_ns % 1000000000ull)};
        int ready = epoll_pwait2(worker->epoll_fd, events, BENCH_EVENTS_PER_WAKE, &timeout, NULL);
        if (ready < 0 && errno != EINTR) {
            snprintf(worker->failure, sizeof(worker->failure), "epoll_pwait2: %s",
                     strerror(errno));
            atomic_store(&bench_stop, true);
            return;
        }
        for (int index = 0; index < ready; index++) {
            struct connection *conn = events[index].data.ptr;
            if ((events[index].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
                !read_ready(worker, conn)) {
                return;
            }
            if (!flush_out(worker, conn)) {
                return;
            }
        }
        now = now_ns();
        if (now - last_housekeeping_ns > 200000000ull) {
            last_housekeeping_ns = now;
            resolve_events(worker, false);
            for (int index = 0; index < worker->connection_count; index++) {
                struct connection *conn = &worker->connections[index];
                if (now - conn->last_send_ns > BENCH_PING_IDLE_NS &&
                    (!send_ping(worker, conn) || !flush_out(worker, conn))) {
                    return;
                }
            }
        }
    }
}

static void *worker_main(void *argument)
{
    struct worker *worker = argument;
    if (connect_all(worker)) {
        drive(worker);
    }
    resolve_events(worker, true);
    atomic_store(&worker->done, true);
    return NULL;
}

/* ---- main ------------------------------------------------------------------------- */

static bool setup_workers(const struct bench_options *options, struct worker *workers)
{
    int total = options->connections + options->watchers;
    for (int index = 0; index < options->threads; index++) {
        struct worker *worker = &workers[index];
        worker->options = options;
        worker->index = index;
        worker->connections =
            calloc((size_t)(total / options->threads + 1), sizeof(struct connection));
        worker->stats.histogram = calloc(BENCH_HISTOGRAM_BUCKETS, sizeof(uint64_t));
        worker->stats.notify_histogram = calloc(BENCH_HISTOGRAM_BUCKETS, sizeof(uint64_t));
        worker->events = options->watchers ? calloc(BENCH_EVENTS_MAX, sizeof(struct watch_event))
                                           : NULL;
        worker->value = calloc(1, (size_t)options->value_bytes + 1);
        worker->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        jute_writer_init(&worker->scratch, (size_t)options->value_bytes + 4096);
        if (!worker->connections || !worker->stats.histogram || !worker->stats.notify_histogram ||
            (options->watchers && !worker->events) || !worker->value || worker->epoll_fd < 0) {
            return false;
        }
        memset(worker->value, 'v', (size_t)options->value_bytes);
    }
    uint32_t ring_capacity =
        options->rate > 0 ? BENCH_OPEN_INFLIGHT_MAX : (uint32_t)options->depth + 1;
    for (int index = 0; index < total; index++) {
        struct worker *worker = &workers[index % options->threads];
        struct connection *conn = &worker->connections[worker->connection_count++];
        conn->fd = -1;
        conn->watcher = index >= options->connections;
        conn->index = conn->watcher ? index - options->connections : index;
        conn->ring_capacity = conn->watcher ? 4 : ring_capacity;
        conn->ring = calloc(conn->ring_capacity, sizeof(struct pending));
        conn->in_capacity = BENCH_RECEIVE_CHUNK_BYTES;
        conn->in = malloc(conn->in_capacity);
        conn->next_xid = 1;
        conn->armed_version = -1;
        conn->rng = (options->seed + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)index + 1);
        conn->key_cursor = (uint64_t)index;
        if (!conn->ring || !conn->in) {
            return false;
        }
    }
    return true;
}

static uint64_t progress_ops(struct worker *workers, int threads)
{
    uint64_t total = 0;
    for (int index = 0; index < threads; index++) {
        total += atomic_load_explicit(&workers[index].progress_ops, memory_order_relaxed);
    }
    return total;
}

static bool all_done(struct worker *workers, int threads)
{
    for (int index = 0; index < threads; index++) {
        if (!atomic_load(&workers[index].done)) {
            return false;
        }
    }
    return true;
}

static void sleep_ns(uint64_t duration_ns)
{
    struct timespec pause = {.tv_sec = (time_t)(duration_ns / 1000000000ull),
                             .tv_nsec = (long)(duration_ns % 1000000000ull)};
    nanosleep(&pause, NULL);
}

/* Runs the warmup and the measured window; returns the measured ns. */
static uint64_t run_window(const struct bench_options *options, struct worker *workers,
                           double *cpu_before_us, double *cpu_after_us, bool *ran_out)
{
    uint64_t start = now_ns() + (uint64_t)options->warmup_seconds * 1000000000ull;
    uint64_t end = start + (uint64_t)options->seconds * 1000000000ull;
    atomic_store(&measure_end_ns, UINT64_MAX);
    atomic_store(&traffic_start_ns, now_ns());
    while (now_ns() < start && !atomic_load(&bench_stop) && !all_done(workers, options->threads)) {
        sleep_ns(10000000ull);
    }
    if (options->server_pid) {
        *cpu_before_us = bench_process_cpu_us(options->server_pid);
    }
    start = now_ns();
    atomic_store(&measure_start_ns, start);
    uint64_t next_progress = start + 1000000000ull;
    uint64_t last_ops = 0;
    while (now_ns() < end && !atomic_load(&bench_stop)) {
        if (all_done(workers, options->threads)) {
            *ran_out = true;
            break;
        }
        sleep_ns(5000000ull);
        uint64_t now = now_ns();
        if (options->seconds >= 10 && now >= next_progress) {
            uint64_t ops = progress_ops(workers, options->threads);
            fprintf(stderr, "cheetah-bench: %.0f s: %llu ops/s\n", (double)(now - start) / 1e9,
                    (unsigned long long)(ops - last_ops));
            last_ops = ops;
            next_progress += 1000000000ull;
        }
    }
    end = now_ns();
    atomic_store(&measure_end_ns, end);
    if (options->server_pid) {
        *cpu_after_us = bench_process_cpu_us(options->server_pid);
    }
    atomic_store(&bench_stop, true);
    return end - start;
}

static void merge(struct stats *into, const struct stats *from)
{
    into->ops += from->ops;
    into->errors += from->errors;
    into->late += from->late;
    into->notifications += from->notifications;
    into->notifications_unmatched += from->notifications_unmatched;
    into->max_ns = from->max_ns > into->max_ns ? from->max_ns : into->max_ns;
    into->notify_max_ns =
        from->notify_max_ns > into->notify_max_ns ? from->notify_max_ns : into->notify_max_ns;
    for (size_t bucket = 0; bucket < BENCH_HISTOGRAM_BUCKETS; bucket++) {
        into->histogram[bucket] += from->histogram[bucket];
        into->notify_histogram[bucket] += from->notify_histogram[bucket];
    }
    for (size_t kind = 0; kind < BENCH_ERROR_KINDS; kind++) {
        into->error_kinds[kind] += from->error_kinds[kind];
    }
}

static void print_error_kinds(const struct stats *stats)
{
    printf("{");
    bool first = true;
    for (size_t kind = 0; kind < BENCH_ERROR_KINDS; kind++) {
        if (stats->error_kinds[kind] == 0) {
            continue;
        }
        const char *name = kind == BENCH_ERROR_KINDS - 1 ? "other" : error_name(-(int32_t)kind);
        if (name) {
            printf("%s\"%s\":%llu", first ? "" : ",", name,
                   (unsigned long long)stats->error_kinds[kind]);
        } else {
            printf("%s\"%d\":%llu", first ? "" : ",", -(int)kind,
                   (unsigned long long)stats->error_kinds[kind]);
        }
        first = false;
    }
    printf("}");
}

static void report(const struct bench_options *options, const struct stats *stats,
                   uint64_t elapsed_ns, double cpu_us, bool ran_out)
{
    double seconds = (double)elapsed_ns / 1e9;
    double throughput = seconds > 0 ? (double)stats->ops / seconds : 0.0;
    double p50 = bench_percentile_us(stats->histogram, stats->ops, 0.50, stats->max_ns);
    double p90 = bench_percentile_us(stats->histogram, stats->ops, 0.90, stats->max_ns);
    double p99 = bench_percentile_us(stats->histogram, stats->ops, 0.99, stats->max_ns);
    double p999 = bench_percentile_us(stats->histogram, stats->ops, 0.999, stats->max_ns);
    double max_us = (double)(stats->max_ns / 1000);
    double cpu_per_op = cpu_us >= 0 && stats->ops > 0 ? cpu_us / (double)stats->ops : -1.0;
    double cpu_percent = cpu_us >= 0 && seconds > 0 ? cpu_us / (seconds * 1e6) * 100.0 : -1.0;
    uint64_t resolved = 0;
    for (size_t bucket = 0; bucket < BENCH_HISTOGRAM_BUCKETS; bucket++) {
        resolved += stats->notify_histogram[bucket];
    }
    double n50 = bench_percentile_us(stats->notify_histogram, resolved, 0.50, stats->notify_max_ns);
    double n90 = bench_percentile_us(stats->notify_histogram, resolved, 0.90, stats->notify_max_ns);
    double n99 = bench_percentile_us(stats->notify_histogram, resolved, 0.99, stats->notify_max_ns);
    double n999 =
        bench_percentile_us(stats->notify_histogram, resolved, 0.999, stats->notify_max_ns);
    double nmax = (double)(stats->notify_max_ns / 1000);

    printf("%s connections=%d %s%d threads=%d value=%dB keys=%d: %.0f ops/s over %.2f s, "
           "p50 %.0f us, p90 %.0f us, p99 %.0f us, p99.9 %.0f us, max %.0f us, errors %llu",
           op_human[options->op], options->connections, options->rate > 0 ? "rate=" : "depth=",
           options->rate > 0 ? (int)options->rate : options->depth, options->threads,
           options->value_bytes, options->keys, throughput, seconds, p50, p90, p99, p999, max_us,
           (unsigned long long)stats->errors);
    if (options->rate > 0) {
        printf(", late %llu", (unsigned long long)stats->late);
    }
    if (cpu_per_op >= 0) {
        printf(", server CPU %.1f us/op (%.0f%% of a core)", cpu_per_op, cpu_percent);
    }
    if (options->op == OP_WATCH) {
        printf(", %d watchers: %llu notifications (%.0f/s), notify p50 %.0f us, p99 %.0f us, "
               "max %.0f us",
               options->watchers, (unsigned long long)stats->notifications,
               seconds > 0 ? (double)stats->notifications / seconds : 0.0, n50, n99, nmax);
    }
    if (ran_out) {
        printf(" (ran out of nodes to delete)");
    }
    printf("\n");

    printf("{\"workload\":\"%s\",\"op\":\"%s\",\"connections\":%d,\"depth\":%d,\"threads\":%d,",
           op_names[options->op], op_names[options->op], options->connections, options->depth,
           options->threads);
    if (options->rate > 0) {
        printf("\"rate\":%.3f,\"achieved_rate\":%.1f,", options->rate, throughput);
    } else {
        printf("\"rate\":null,\"achieved_rate\":null,");
    }
    printf("\"seconds\":%.3f,\"warmup_seconds\":%d,\"value_bytes\":%d,\"keys\":%d,"
           "\"key_order\":\"%s\",",
           seconds, options->warmup_seconds, options->value_bytes, options->keys,
           options->key_round_robin ? "round-robin" : "random");
    if (options->op == OP_MIXED) {
        printf("\"read_percent\":%d,", options->read_percent);
    }
    printf("\"ops\":%llu,\"completed\":%llu,\"ops_per_second\":%.1f,\"p50_us\":%.0f,"
           "\"p90_us\":%.0f,\"p99_us\":%.0f,\"p999_us\":%.0f,\"max_us\":%.0f,"
           "\"errors\":%llu,\"errors_by_kind\":",
           (unsigned long long)stats->ops, (unsigned long long)stats->ops, throughput, p50, p90,
           p99, p999, max_us, (unsigned long long)stats->errors);
    print_error_kinds(stats);
    printf(",\"late\":%llu,\"ran_out\":%s,", (unsigned long long)stats->late,
           ran_out ? "true" : "false");
    if (cpu_per_op >= 0) {
        printf("\"server_cpu_us\":%.0f,\"server_cpu_us_per_op\":%.3f,\"server_cpu_percent\":%.1f",
               cpu_us, cpu_per_op, cpu_percent);
    } else {
        printf("\"server_cpu_us\":null,\"server_cpu_us_per_op\":null,\"server_cpu_percent\":null");
    }
    if (options->op == OP_WATCH) {
        printf(",\"watchers\":%d,\"notifications\":%llu,\"notifications_per_second\":%.1f,"
               "\"notifications_unmatched\":%llu,\"notify_p50_us\":%.0f,\"notify_p90_us\":%.0f,"
               "\"notify_p99_us\":%.0f,\"notify_p999_us\":%.0f,\"notify_max_us\":%.0f",
               options->watchers, (unsigned long long)stats->notifications,
               seconds > 0 ? (double)stats->notifications / seconds : 0.0,
               (unsigned long long)stats->notifications_unmatched, n50, n90, n99, n999, nmax);
    }
    printf("}\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct bench_options options;
    bench_parse_options(argc, argv, &options);
    snprintf(run_id, sizeof(run_id), "%lx%llx", (long)getpid(),
             (unsigned long long)(now_ns() % 1000000007ull));
    char why[256] = "";
    if (!setup(&options, why, sizeof(why))) {
        fprintf(stderr, "cheetah-bench: setup against %s:%u failed: %s (is the server running?)\n",
                options.host, options.port, why);
        return 1;
    }
    if (options.op == OP_WATCH) {
        version_ring = calloc(BENCH_VERSION_RING, sizeof(*version_ring));
        for (size_t slot = 0; version_ring && slot < BENCH_VERSION_RING; slot++) {
            atomic_store(&version_ring[slot].version, -1);
        }
    }
    struct worker *workers = calloc((size_t)options.threads, sizeof(*workers));
    if (!workers || !setup_workers(&options, workers) ||
        (options.op == OP_WATCH && !version_ring)) {
        fprintf(stderr, "cheetah-bench: out of memory\n");
        return 1;
    }
    for (int index = 0; index < options.threads; index++) {
        if (pthread_create(&workers[index].thread, NULL, worker_main, &workers[index]) != 0) {
            fprintf(stderr, "cheetah-bench: cannot start thread %d\n", index);
            return 1;
        }
    }
    int total = options.connections + options.watchers;
    uint64_t wait_start = now_ns();
    while (atomic_load(&bench_connected) < total && !atomic_load(&bench_stop) &&
           now_ns() - wait_start < BENCH_CONNECT_WAIT_NS) {
        sleep_ns(1000000ull);
    }
    bool connected = atomic_load(&bench_connected) == total;
    double cpu_before_us = -1.0, cpu_after_us = -1.0;
    bool ran_out = false;
    uint64_t elapsed_ns = 0;
    if (connected) {
        elapsed_ns = run_window(&options, workers, &cpu_before_us, &cpu_after_us, &ran_out);
    }
    atomic_store(&bench_stop, true);
    struct stats stats = {.histogram = calloc(BENCH_HISTOGRAM_BUCKETS, sizeof(uint64_t)),
                          .notify_histogram = calloc(BENCH_HISTOGRAM_BUCKETS, sizeof(uint64_t))};
    int failures = 0;
    for (int index = 0; index < options.threads; index++) {
        struct worker *worker = &workers[index];
        pthread_join(worker->thread, NULL);
        if (worker->failure[0]) {
            fprintf(stderr, "cheetah-bench: %s\n", worker->failure);
            failures++;
        }
        if (stats.histogram && stats.notify_histogram) {
            merge(&stats, &worker->stats);
        }
        for (int conn = 0; conn < worker->connection_count; conn++) {
            if (worker->connections[conn].fd >= 0) {
                close(worker->connections[conn].fd);
            }
            free(worker->connections[conn].in);
            free(worker->connections[conn].out);
            free(worker->connections[conn].ring);
        }
        free(worker->connections);
        free(worker->stats.histogram);
        free(worker->stats.notify_histogram);
        free(worker->events);
        free(worker->value);
        jute_writer_free(&worker->scratch);
        close(worker->epoll_fd);
    }
    if (!connected && failures == 0) {
        fprintf(stderr, "cheetah-bench: only %d of %d connections came up within %llu s\n",
                atomic_load(&bench_connected), total,
                (unsigned long long)(BENCH_CONNECT_WAIT_NS / 1000000000ull));
        failures++;
    }
    if (!stats.histogram || !stats.notify_histogram) {
        fprintf(stderr, "cheetah-bench: out of memory\n");
        return 1;
    }
    double cpu_us = cpu_before_us >= 0 && cpu_after_us >= 0 ? cpu_after_us - cpu_before_us : -1.0;
    if (options.server_pid && cpu_us < 0) {
        fprintf(stderr, "cheetah-bench: cannot read /proc/%ld/stat\n", options.server_pid);
    }
    if (connected) {
        report(&options, &stats, elapsed_ns, cpu_us, ran_out);
    }
    free(stats.histogram);
    free(stats.notify_histogram);
    free(workers);
    free(version_ring);
    if (failures > 0) {
        fprintf(stderr, "cheetah-bench: failed (%d thread(s) reported a failure)\n", failures);
        return 1;
    }
    if (stats.ops == 0) {
        fprintf(stderr, "cheetah-bench: no operation completed in the measured window%s\n",
                ran_out ? " (the warmup used up every node to delete)" : "");
        return 1;
    }
    return 0;
}
