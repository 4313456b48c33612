/* Server-to-server connections on one io_uring (see peer_net.h).
 *
 * Operations in flight carry a user_data of 64 bits:
 *
 *     bits  0..7   op kind (enum peer_op)
 *     bits  8..31  connection slot (0 for listeners and the timer)
 *     bits 32..63  slot generation (listener generation for accepts)
 *
 * A slot is freed only when every operation naming it has completed
 * (ops_in_flight == 0), so a completion never finds a reused slot; the
 * generation is asserted to catch a bug, not to filter.
 *
 * A connection's life:
 *
 *     CONNECTING --connect done--> OPEN --peer_net_quorum_close / lower id
 *         |                         |      after its handshake--> CLOSING
 *         | connect failed          | EOF, error, malformed,     | queue sent: FIN
 *         v                         v replaced                   v (or linger over)
 *       DYING (cancel every op on the fd; wait for their completions)
 *         | ops_in_flight == 0
 *         v
 *       close(fd), quorum_closed (if it is owed), slot FREE
 *
 * Events are delivered only from peer_net_poll. API calls made from inside
 * an event only change state and queue submissions; a connection's buffers
 * are freed only when its slot is, so an event that closes the connection
 * it is being told about leaves the caller's bytes valid.
 */
#include "dataplane/peer_net.h"

#include "consensus/quorum_wire.h"
#include "dataplane/log.h"
#include "jute/jute.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <liburing.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Submission queue entries; the completion queue is larger because a
 * multishot accept posts many completions per submission. */
#define PEER_NET_URING_ENTRIES 256u
#define PEER_NET_URING_CQ_ENTRIES 2048u
/* Completions reaped per peek, and peeks per poll (bounds one poll). */
#define PEER_NET_CQE_BATCH_MAX 64u
#define PEER_NET_CQE_BATCHES_MAX 32u
/* Messages to ourselves waiting for the next poll (ZooKeeper's receive
 * queue holds 100 and drops the oldest; so do we). */
#define PEER_NET_SELF_QUEUE_MAX 100u
#define PEER_NET_LISTEN_BACKLOG 64
/* ZooKeeper's cnxTimeout: a connect that takes longer fails. */
#define PEER_NET_CONNECT_TIMEOUT_MS 5000
/* An accepted election connection must send its handshake within this. */
#define PEER_NET_HANDSHAKE_TIMEOUT_MS 5000
/* While anything waits on time (a reconnect, a linger, a handshake) a
 * timeout until the earliest such moment, at least 1 ms and at most this,
 * makes a completion (and so a poll) happen then. The cap bounds how late
 * a deadline set while a longer timeout is armed can be noticed. */
#define PEER_NET_TIMER_MAX_MS 1000
/* Receive buffers keep at least this much room for the next recv, and
 * shrink back to this when they empty after growing. */
#define PEER_NET_RECEIVE_CHUNK_BYTES (64u * 1024u)
#define PEER_NET_BUFFER_KEEP_BYTES (256u * 1024u)
/* The initiator's handshake: two longs, the address length and text. */
#define PEER_NET_HANDSHAKE_BYTES_MAX (8u + 8u + 4u + QUORUM_ELECTION_ADDRESS_BYTES_MAX)
/* A snapshot stream after SNAP is at most this long. */
#define PEER_NET_SNAP_STREAM_BYTES_MAX (64ull * 1024u * 1024u * 1024u)
/* What a graceful close reads off the socket so close() does not answer
 * unread input with a reset (which could discard our last bytes). */
#define PEER_NET_CLOSE_DRAIN_READS_MAX 16
#define PEER_NET_CLOSE_DRAIN_BYTES 4096
/* peer_net_destroy waits this long for cancelled operations. */
#define PEER_NET_DESTROY_WAIT_MS 500
#define PEER_NET_DESTROY_WAIT_ROUNDS_MAX 64
#define PEER_NET_WHY_BYTES 640
/* Election connections at once per member: the active one, one attempt,
 * one being replaced or closing, one handshake arriving. */
#define PEER_NET_ELECTION_SLOTS_PER_MEMBER 4u
#define PEER_NET_ELECTION_SLOTS_EXTRA 16u
/* The slot table is sized at create for the largest membership: slots are
 * named by index in the user_data of operations in flight, so the table
 * can never move (realloc) while the ring runs. Only the slots below the
 * highest one ever used are scanned, so the unused rest costs memory only
 * (see peer_net_update_members in peer_net.h for why members grow). */
#define PEER_NET_ELECTION_SLOTS_MAX \
    (PEER_NET_MEMBERS_MAX * PEER_NET_ELECTION_SLOTS_PER_MEMBER + PEER_NET_ELECTION_SLOTS_EXTRA)
#define PEER_NET_SLOTS_MAX (PEER_NET_ELECTION_SLOTS_MAX + PEER_NET_QUORUM_CONNECTIONS_MAX)
/* At most one log line per this interval about election connections
 * refused because the member table is full (a flood must not flood the log). */
#define PEER_NET_REFUSAL_LOG_INTERVAL_MS 10000
#define PEER_NET_NO_SLOT UINT32_MAX

enum peer_op {
    OP_ELECTION_ACCEPT = 1,
    OP_QUORUM_ACCEPT = 2,
    OP_CONNECT = 3,
    OP_CONNECT_TIMEOUT = 4, /* the linked timeout of a connect */
    OP_RECV = 5,
    OP_SEND = 6,
    OP_CANCEL = 7,
    OP_TIMER = 8,
    OP_LISTENER_CANCEL = 9, /* cancel of a stopped listener's accept */
};

enum conn_kind {
    KIND_ELECTION_OUT,
    KIND_ELECTION_IN,
    KIND_QUORUM_OUT,
    KIND_QUORUM_IN,
};

enum conn_state {
    STATE_FREE = 0,
    STATE_CONNECTING,
    STATE_OPEN,
    STATE_CLOSING, /* send what is queued, then FIN */
    STATE_DYING,   /* waiting for completions */
};

struct byte_buffer {
    uint8_t *data;
    size_t offset; /* first byte not yet consumed */
    size_t size;   /* bytes used, from 0 */
    size_t capacity;
};

struct conn {
    enum conn_state state;
    enum conn_kind kind;
    int fd;
    uint32_t slot;
    uint32_t generation;
    uint32_t next_free;
    uint32_t ops_in_flight;
    bool recv_in_flight;
    bool send_in_flight;
    bool cancel_in_flight;
    bool attention;
    bool graceful;        /* DYING after every byte went out: FIN, drain */
    bool report_close;    /* quorum_closed is owed */
    bool handshake_done;  /* election: the initiator's handshake was read */
    size_t member;        /* election: the remote server; quorum out: the leader */
    uint64_t quorum_id;
    int64_t deadline_ms;  /* CLOSING: linger end; ELECTION_IN: handshake end */
    char why[PEER_NET_WHY_BYTES];
    struct byte_buffer in;
    /* `sending` is what the send in flight reads; `pending` collects new
     * bytes meanwhile. They swap when a send completes. */
    struct byte_buffer sending;
    struct byte_buffer pending;
    struct sockaddr_in target;
    struct __kernel_timespec connect_timeout;
    bool snap_expected; /* a SNAP packet sits in `in`, its stream follows */
    size_t snap_packet_bytes;
    struct quorum_snap_scan scan;
};

struct message {
    uint8_t *body;
    size_t body_bytes;
};

struct member_state {
    struct peer_net_member config;
    struct sockaddr_in election_address;
    struct sockaddr_in quorum_address;
    struct message queue[PEER_NET_ELECTION_QUEUE_MAX];
    size_t queue_count;
    struct message last_sent; /* body NULL: nothing sent yet */
    uint32_t active_slot;     /* the connection messages travel on */
    uint32_t attempt_slot;    /* our connect in flight */
    bool attempted;
    int64_t last_attempt_ms;
};

struct peer_net {
    struct io_uring ring;
    bool ring_ready;
    bool ring_enabled; /* created disabled; see ring_enable_once */
    pid_t issuer_tid;  /* the thread that enabled it */
    int event_fd;
    bool dispatching;
    int64_t now_ms;
    size_t events_delivered;
    struct peer_net_events events;
    int64_t my_id;
    size_t my_index;
    bool listen_on_all_ips;
    size_t quorum_data_bytes_max;

    struct member_state *members; /* PEER_NET_MEMBERS_MAX; never moves, never shrinks */
    size_t member_count;
    int64_t refusal_logged_ms; /* INT64_MIN: never */

    int election_listen_fd;
    bool election_accept_armed;
    int quorum_listen_fd;
    bool quorum_accept_armed;
    uint32_t quorum_listen_generation;

    bool timer_armed;
    struct __kernel_timespec timer_timeout;

    struct conn *slots;
    uint32_t slot_count;
    uint32_t slot_used_end; /* 1 + the highest slot ever allocated: scans stop here */
    uint32_t free_head;
    uint32_t quorum_live_count;
    uint32_t election_live_count;
    uint32_t election_live_max;

    struct message self_queue[PEER_NET_SELF_QUEUE_MAX];
    size_t self_head;
    size_t self_count;
};

/* ---- small helpers -------------------------------------------------------- */

static uint64_t user_data_encode(enum peer_op op, uint32_t slot, uint32_t generation)
{
    assert(slot < (1u << 24));
    return (uint64_t)op | ((uint64_t)slot << 8) | ((uint64_t)generation << 32);
}

static enum peer_op user_data_op(uint64_t user_data) { return (enum peer_op)(user_data & 0xffu); }
static uint32_t user_data_slot(uint64_t user_data) { return (uint32_t)((user_data >> 8) & 0xffffffu); }
static uint32_t user_data_generation(uint64_t user_data) { return (uint32_t)(user_data >> 32); }

static int32_t load_be32(const uint8_t *bytes)
{
    return (int32_t)(((uint32_t)bytes[0] << 24) | ((uint32_t)bytes[1] << 16) |
                     ((uint32_t)bytes[2] << 8) | (uint32_t)bytes[3]);
}

static void store_be32(uint8_t *bytes, uint32_t value)
{
    for (int i = 3; i >= 0; i--) {
        bytes[i] = (uint8_t)value;
        value >>= 8;
    }
}

static size_t buffer_length(const struct byte_buffer *b) { return b->size - b->offset; }

/* Makes room for `size` more bytes at the end (compacting or doubling up
 * to capacity_max). The buffer must not be the target of an op in flight. */
static bool buffer_reserve(struct byte_buffer *b, size_t size, size_t capacity_max)
{
    if (b->offset > 0 && b->offset == b->size)
        b->offset = b->size = 0;
    if (b->size + size <= b->capacity)
        return true;
    if (b->offset > 0) {
        memmove(b->data, b->data + b->offset, b->size - b->offset);
        b->size -= b->offset;
        b->offset = 0;
        if (b->size + size <= b->capacity)
            return true;
    }
    size_t capacity = b->capacity ? b->capacity : PEER_NET_RECEIVE_CHUNK_BYTES;
    while (capacity < b->size + size)
        capacity *= 2;
    if (capacity > capacity_max)
        capacity = capacity_max;
    if (capacity < b->size + size)
        return false;
    uint8_t *grown = realloc(b->data, capacity);
    if (!grown)
        return false;
    b->data = grown;
    b->capacity = capacity;
    return true;
}

static bool buffer_append(struct byte_buffer *b, const void *data, size_t size,
                          size_t capacity_max)
{
    if (!buffer_reserve(b, size, capacity_max))
        return false;
    memcpy(b->data + b->size, data, size);
    b->size += size;
    return true;
}

static void buffer_release(struct byte_buffer *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Empty: drop a large allocation, keep a small one for reuse. */
static void buffer_trim(struct byte_buffer *b)
{
    if (b->offset == b->size) {
        b->offset = b->size = 0;
        if (b->capacity > PEER_NET_BUFFER_KEEP_BYTES)
            buffer_release(b);
    }
}

static void message_free(struct message *m)
{
    free(m->body);
    m->body = NULL;
    m->body_bytes = 0;
}

static bool message_copy(struct message *m, const uint8_t *body, size_t body_bytes)
{
    m->body = malloc(body_bytes ? body_bytes : 1);
    if (!m->body)
        return false;
    if (body_bytes)
        memcpy(m->body, body, body_bytes);
    m->body_bytes = body_bytes;
    return true;
}

static void net_wake(struct peer_net *net)
{
    uint64_t one = 1;
    ssize_t written = write(net->event_fd, &one, sizeof one);
    (void)written; /* EAGAIN: the counter is already non-zero, readable anyway */
}

/* The ring is created disabled so that the thread that first uses it (the
 * consensus core), not the one that created it, becomes its single issuer,
 * which DEFER_TASKRUN needs. */
static void ring_enable_once(struct peer_net *net)
{
    if (net->ring_enabled)
        return;
    /* Raw syscall: Debian's liburing 2.3 declares io_uring_enable_rings
     * but its .so does not export it. */
    long rc = syscall(__NR_io_uring_register, net->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS,
                      NULL, 0);
    assert(rc == 0);
    (void)rc;
    net->ring_enabled = true;
    net->issuer_tid = gettid();
}

/* Hands the prepared SQEs to the kernel. -EBUSY/-EAGAIN (completions
 * backing up) leave them queued for the next call; -EEXIST means a thread
 * other than the one that owns the ring called us: a bug. */
static void ring_submit(struct peer_net *net)
{
    int rc = io_uring_submit(&net->ring);
    assert(rc != -EEXIST && "peer_net used from a second thread");
    (void)rc;
}

static void submit_now(struct peer_net *net)
{
    /* Inside poll the submissions go out at its end. */
    if (!net->dispatching) {
        ring_enable_once(net);
        ring_submit(net);
    }
}

static struct io_uring_sqe *get_sqe(struct peer_net *net)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&net->ring);
    if (!sqe && net->ring_enabled) {
        ring_submit(net);
        sqe = io_uring_get_sqe(&net->ring);
    }
    return sqe;
}

static const char *member_address_text(const struct member_state *m, bool election, char *out,
                                       size_t out_bytes)
{
    snprintf(out, out_bytes, "%s:%u", m->config.host,
             (unsigned)(election ? m->config.election_port : m->config.quorum_port));
    return out;
}

/* ---- slots ---------------------------------------------------------------- */

static struct conn *slot_allocate(struct peer_net *net, enum conn_kind kind)
{
    bool election = kind == KIND_ELECTION_IN || kind == KIND_ELECTION_OUT;
    if (election && net->election_live_count >= net->election_live_max)
        return NULL;
    if (!election && net->quorum_live_count >= PEER_NET_QUORUM_CONNECTIONS_MAX)
        return NULL;
    if (net->free_head == PEER_NET_NO_SLOT)
        return NULL;
    struct conn *c = &net->slots[net->free_head];
    assert(c->state == STATE_FREE);
    net->free_head = c->next_free;
    uint32_t slot = c->slot, generation = c->generation;
    memset(c, 0, sizeof *c);
    c->slot = slot;
    c->generation = generation;
    c->next_free = PEER_NET_NO_SLOT;
    c->fd = -1;
    c->kind = kind;
    c->member = SIZE_MAX;
    if (c->slot >= net->slot_used_end)
        net->slot_used_end = c->slot + 1u;
    if (election)
        net->election_live_count++;
    else
        net->quorum_live_count++;
    return c;
}

static void slot_free(struct peer_net *net, struct conn *c)
{
    assert(c->ops_in_flight == 0 && c->fd < 0);
    buffer_release(&c->in);
    buffer_release(&c->sending);
    buffer_release(&c->pending);
    c->state = STATE_FREE;
    c->generation++;
    c->next_free = net->free_head;
    net->free_head = c->slot;
}

static bool is_election(const struct conn *c)
{
    return c->kind == KIND_ELECTION_IN || c->kind == KIND_ELECTION_OUT;
}

static struct conn *quorum_conn_of(const struct peer_net *net, uint64_t connection_id)
{
    uint64_t slot_plus_one = connection_id & 0xffffffffu;
    if (slot_plus_one == 0 || slot_plus_one > net->slot_count)
        return NULL;
    struct conn *c = &net->slots[slot_plus_one - 1];
    if (c->state == STATE_FREE || is_election(c) || c->quorum_id != connection_id)
        return NULL;
    return c;
}

static struct conn *conn_of(struct peer_net *net, uint64_t user_data)
{
    uint32_t slot = user_data_slot(user_data);
    assert(slot < net->slot_count);
    struct conn *c = &net->slots[slot];
    assert(c->generation == user_data_generation(user_data) && c->state != STATE_FREE);
    return c;
}

static void attention_mark(struct peer_net *net, struct conn *c)
{
    c->attention = true;
    if (!net->dispatching)
        net_wake(net); /* the core's poll() then calls peer_net_poll */
}

/* ---- submissions ------------------------------------------------------------ */

enum arm_result { ARM_OK, ARM_NO_SQE, ARM_FULL };

static enum arm_result arm_recv(struct peer_net *net, struct conn *c)
{
    assert(!c->recv_in_flight);
    size_t limit = is_election(c)
                       ? PEER_NET_HANDSHAKE_BYTES_MAX + 4u + QUORUM_ELECTION_FRAME_BYTES_MAX +
                             PEER_NET_RECEIVE_CHUNK_BYTES
                       : net->quorum_data_bytes_max + PEER_NET_SNAP_STREAM_BYTES_MAX;
    if (!buffer_reserve(&c->in, PEER_NET_RECEIVE_CHUNK_BYTES, limit))
        return ARM_FULL;
    struct io_uring_sqe *sqe = get_sqe(net);
    if (!sqe)
        return ARM_NO_SQE;
    size_t room = c->in.capacity - c->in.size;
    if (room > INT32_MAX)
        room = INT32_MAX;
    io_uring_prep_recv(sqe, c->fd, c->in.data + c->in.size, room, 0);
    io_uring_sqe_set_data64(sqe, user_data_encode(OP_RECV, c->slot, c->generation));
    c->recv_in_flight = true;
    c->ops_in_flight++;
    return ARM_OK;
}

/* Starts a send of what is queued, if none is in flight. */
static void conn_flush(struct peer_net *net, struct conn *c)
{
    if (c->send_in_flight || (c->state != STATE_OPEN && c->state != STATE_CLOSING))
        return;
    if (buffer_length(&c->sending) == 0) {
        if (buffer_length(&c->pending) == 0)
            return;
        struct byte_buffer swap = c->sending;
        c->sending = c->pending;
        c->pending = swap;
        c->pending.offset = c->pending.size = 0;
    }
    struct io_uring_sqe *sqe = get_sqe(net);
    if (!sqe) {
        attention_mark(net, c); /* retried from poll */
        return;
    }
    size_t length = buffer_length(&c->sending);
    if (length > INT32_MAX)
        length = INT32_MAX;
    io_uring_prep_send(sqe, c->fd, c->sending.data + c->sending.offset, length, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, user_data_encode(OP_SEND, c->slot, c->generation));
    c->send_in_flight = true;
    c->ops_in_flight++;
}

static size_t conn_queued_bytes(const struct conn *c)
{
    return buffer_length(&c->sending) + buffer_length(&c->pending);
}

/* ---- closing ------------------------------------------------------------------ */

/* Tears a connection down; its slot is freed from poll once every op has
 * completed. `why` NULL: a local close, nothing reported. */
static void conn_begin_close(struct peer_net *net, struct conn *c, bool graceful, const char *why)
{
    if (c->state == STATE_DYING || c->state == STATE_FREE)
        return;
    if (is_election(c) && c->member != SIZE_MAX) {
        struct member_state *m = &net->members[c->member];
        if (m->active_slot == c->slot)
            m->active_slot = PEER_NET_NO_SLOT;
        if (m->attempt_slot == c->slot)
            m->attempt_slot = PEER_NET_NO_SLOT;
    }
    /* A connection the core closed (CLOSING) is not reported, whatever
     * ends its linger. */
    bool report = why && !is_election(c) && c->state != STATE_CLOSING;
    c->state = STATE_DYING;
    c->graceful = graceful;
    if (why) /* kept for a debugger even when nobody is told */
        snprintf(c->why, sizeof c->why, "%s", why);
    c->report_close = report;
    if (c->fd >= 0)
        shutdown(c->fd, graceful ? SHUT_WR : SHUT_RDWR);
    attention_mark(net, c);
}

static void conn_finish(struct peer_net *net, struct conn *c)
{
    assert(c->state == STATE_DYING && c->ops_in_flight == 0);
    if (c->fd >= 0) {
        if (c->graceful) {
            uint8_t scratch[PEER_NET_CLOSE_DRAIN_BYTES];
            for (int i = 0; i < PEER_NET_CLOSE_DRAIN_READS_MAX; i++) {
                if (recv(c->fd, scratch, sizeof scratch, MSG_DONTWAIT) <= 0)
                    break;
            }
        }
        close(c->fd);
        c->fd = -1;
    }
    bool election = is_election(c);
    if (election)
        net->election_live_count--;
    else
        net->quorum_live_count--;
    bool report = c->report_close;
    uint64_t id = c->quorum_id;
    char why[PEER_NET_WHY_BYTES];
    memcpy(why, c->why, sizeof why);
    slot_free(net, c);
    if (report && net->events.quorum_closed) {
        net->events_delivered++;
        net->events.quorum_closed(net->events.context, id, why);
    }
}

/* ---- election: queues and connections ------------------------------------------ */

static size_t member_index_of(const struct peer_net *net, int64_t id)
{
    for (size_t i = 0; i < net->member_count; i++) {
        if (net->members[i].config.id == id)
            return i;
    }
    return SIZE_MAX;
}

/* Election connections allowed at once grow with the members known. */
static void election_limit_update(struct peer_net *net)
{
    assert(net->member_count <= PEER_NET_MEMBERS_MAX);
    net->election_live_max =
        (uint32_t)net->member_count * PEER_NET_ELECTION_SLOTS_PER_MEMBER + PEER_NET_ELECTION_SLOTS_EXTRA;
    assert(net->election_live_max <= PEER_NET_ELECTION_SLOTS_MAX);
}

/* A member's configuration and the addresses it resolved to (`resolved`
 * NULL: no address known). Its queue, last message and connections are
 * left as they are: a known member re-addressed keeps them. */
static void member_set_address(struct member_state *m, const struct peer_net_member *config,
                               const struct sockaddr_in *resolved)
{
    m->config = *config;
    memset(&m->election_address, 0, sizeof m->election_address);
    memset(&m->quorum_address, 0, sizeof m->quorum_address);
    if (resolved) {
        m->election_address = *resolved;
        m->quorum_address = *resolved;
    }
    m->election_address.sin_family = AF_INET;
    m->quorum_address.sin_family = AF_INET;
    m->election_address.sin_port = htons(config->election_port);
    m->quorum_address.sin_port = htons(config->quorum_port);
}

/* Appends a member never seen before; the table has room. */
static size_t member_append(struct peer_net *net, const struct peer_net_member *config,
                            const struct sockaddr_in *resolved)
{
    assert(net->member_count < PEER_NET_MEMBERS_MAX);
    size_t index = net->member_count++;
    struct member_state *m = &net->members[index];
    memset(m, 0, sizeof *m);
    m->active_slot = m->attempt_slot = PEER_NET_NO_SLOT;
    member_set_address(m, config, resolved);
    election_limit_update(net);
    return index;
}

/* The first "host:port" of a handshake's address list ('|'-separated), if
 * its host is an IPv4 literal and its port not 0. Literals only: a name
 * would need a DNS lookup on the core thread, for text that whoever
 * connected chose. ZooKeeper 3.8 sends literals (NetUtils.formatInetAddr
 * of its resolved election address), and so do we. */
static bool handshake_address_parse(const char *addresses, struct peer_net_member *out,
                                    struct sockaddr_in *resolved)
{
    size_t length = strcspn(addresses, "|");
    const char *colon = memrchr(addresses, ':', length);
    if (!colon)
        return false;
    size_t host_bytes = (size_t)(colon - addresses);
    const char *port_text = colon + 1;
    size_t port_digits = length - host_bytes - 1u;
    if (host_bytes == 0 || host_bytes >= sizeof out->host || port_digits == 0 || port_digits > 5)
        return false;
    uint32_t port = 0;
    for (size_t i = 0; i < port_digits; i++) {
        if (port_text[i] < '0' || port_text[i] > '9')
            return false;
        port = port * 10u + (uint32_t)(port_text[i] - '0');
    }
    if (port == 0 || port > UINT16_MAX)
        return false;
    memcpy(out->host, addresses, host_bytes);
    out->host[host_bytes] = '\0';
    memset(resolved, 0, sizeof *resolved);
    resolved->sin_family = AF_INET;
    if (inet_pton(AF_INET, out->host, &resolved->sin_addr) != 1)
        return false;
    out->election_port = (uint16_t)port; /* the quorum port it does not say */
    return true;
}

/* A server we do not know sent its handshake: it becomes a member with the
 * election address the handshake names (QuorumCnxManager.handleConnection
 * talks to any id and connects back to that address). Without a usable
 * address it is still learned if it has the higher id (it keeps the
 * connection and we answer on it), not if we would have to connect to it.
 * Returns its index, or SIZE_MAX with `why`. */
static size_t member_learn(struct peer_net *net, int64_t sid, const char *addresses, char *why,
                           size_t why_bytes)
{
    struct peer_net_member learned;
    memset(&learned, 0, sizeof learned);
    learned.id = sid; /* quorum port 0: unknown until a configuration names it */
    struct sockaddr_in resolved;
    bool usable = handshake_address_parse(addresses, &learned, &resolved);
    if (!usable) {
        memset(learned.host, 0, sizeof learned.host);
        learned.election_port = learned.quorum_port = 0;
    }
    if (!usable && sid < net->my_id) {
        snprintf(why, why_bytes,
                 "server.%lld is not in our configuration and its handshake names no IPv4 "
                 "host:port to connect back to ('%.200s')",
                 (long long)sid, addresses);
        return SIZE_MAX;
    }
    if (net->member_count >= PEER_NET_MEMBERS_MAX) {
        snprintf(why, why_bytes,
                 "server.%lld is not in our configuration and we already know %u servers "
                 "(PEER_NET_MEMBERS_MAX): its election connection is refused",
                 (long long)sid, PEER_NET_MEMBERS_MAX);
        if (net->refusal_logged_ms == INT64_MIN ||
            net->now_ms - net->refusal_logged_ms >= PEER_NET_REFUSAL_LOG_INTERVAL_MS) {
            net->refusal_logged_ms = net->now_ms;
            log_warn("%s", why);
        }
        return SIZE_MAX;
    }
    size_t index = member_append(net, &learned, usable ? &resolved : NULL);
    if (usable)
        log_info("server.%lld, not in our configuration, connected to our election port: "
                 "now known, election address %s:%u (quorum port unknown until a "
                 "configuration names it)",
                 (long long)sid, learned.host, (unsigned)learned.election_port);
    else
        log_info("server.%lld, not in our configuration, connected to our election port "
                 "without an IPv4 address ('%.200s'): we can answer it only while it is connected to us",
                 (long long)sid, addresses);
    return index;
}

static bool election_append_frame(struct conn *c, const struct message *m)
{
    uint8_t header[4];
    store_be32(header, (uint32_t)m->body_bytes);
    /* At most the handshake, the last message and the queued ones. */
    size_t limit = (size_t)(PEER_NET_ELECTION_QUEUE_MAX + 1u) * (QUORUM_ELECTION_FRAME_BYTES_MAX + 4u) +
                   PEER_NET_HANDSHAKE_BYTES_MAX;
    return buffer_append(&c->pending, header, sizeof header, limit) &&
           buffer_append(&c->pending, m->body, m->body_bytes, limit);
}

/* Moves the queued messages onto the active connection once it has sent
 * everything before them (as ZooKeeper's SendWorker takes one message at a
 * time): while the socket is busy the queue of PEER_NET_ELECTION_QUEUE_MAX
 * keeps only the newest. Each becomes the member's last message sent. */
static void election_member_flush(struct peer_net *net, struct member_state *m)
{
    if (m->active_slot == PEER_NET_NO_SLOT)
        return;
    struct conn *c = &net->slots[m->active_slot];
    assert(c->state == STATE_OPEN);
    if (c->send_in_flight || conn_queued_bytes(c) > 0)
        return; /* on_send calls again when the socket has taken it all */
    for (size_t i = 0; i < m->queue_count; i++) {
        if (!election_append_frame(c, &m->queue[i])) {
            conn_begin_close(net, c, false, NULL);
            return;
        }
        message_free(&m->last_sent);
        m->last_sent = m->queue[i];
        memset(&m->queue[i], 0, sizeof m->queue[i]);
    }
    m->queue_count = 0;
    conn_flush(net, c);
}

/* `c` becomes the connection to its member; the newer replaces the older
 * (ZooKeeper's SendWorker replacement). The last message goes first when
 * nothing newer is queued (SendWorker.run). */
static void election_activate(struct peer_net *net, struct conn *c)
{
    struct member_state *m = &net->members[c->member];
    if (m->active_slot != PEER_NET_NO_SLOT && m->active_slot != c->slot)
        conn_begin_close(net, &net->slots[m->active_slot], false, NULL);
    m->active_slot = c->slot;
    if (m->queue_count == 0 && m->last_sent.body) {
        if (!election_append_frame(c, &m->last_sent)) {
            conn_begin_close(net, c, false, NULL);
            return;
        }
    }
    election_member_flush(net, m);
}

/* False for a member learned without an election address (port 0): it
 * can reach us, we cannot reach it; its messages wait for it to connect. */
static bool member_election_reachable(const struct member_state *m)
{
    return m->config.election_port != 0;
}

/* A connect to the member's election port, unless one is in flight (or
 * the reconnect interval has not passed and `now` is not asked for). */
static void election_connect(struct peer_net *net, size_t member_index, bool now)
{
    struct member_state *m = &net->members[member_index];
    if (m->attempt_slot != PEER_NET_NO_SLOT || m->active_slot != PEER_NET_NO_SLOT ||
        !member_election_reachable(m))
        return;
    if (!now && m->attempted && net->now_ms - m->last_attempt_ms < PEER_NET_RECONNECT_INTERVAL_MS)
        return;
    struct conn *c = slot_allocate(net, KIND_ELECTION_OUT);
    if (!c)
        return; /* retried when a message is sent again, or from poll */
    m->attempted = true;
    m->last_attempt_ms = net->now_ms;
    c->member = member_index;
    c->target = m->election_address;
    c->state = STATE_CONNECTING;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct io_uring_sqe *connect_sqe = c->fd >= 0 ? get_sqe(net) : NULL;
    struct io_uring_sqe *timeout_sqe = connect_sqe ? io_uring_get_sqe(&net->ring) : NULL;
    if (!timeout_sqe) {
        /* No socket or no room in the SQ: give up this attempt; the next
         * send or poll after the interval tries again. */
        if (connect_sqe) {
            io_uring_prep_nop(connect_sqe);
            io_uring_sqe_set_data64(connect_sqe, user_data_encode(OP_CANCEL, c->slot, c->generation));
            c->ops_in_flight++;
        }
        c->state = STATE_DYING;
        attention_mark(net, c);
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    m->attempt_slot = c->slot;
    io_uring_prep_connect(connect_sqe, c->fd, (const struct sockaddr *)&c->target, sizeof c->target);
    io_uring_sqe_set_data64(connect_sqe, user_data_encode(OP_CONNECT, c->slot, c->generation));
    connect_sqe->flags |= IOSQE_IO_LINK;
    c->connect_timeout.tv_sec = PEER_NET_CONNECT_TIMEOUT_MS / 1000;
    c->connect_timeout.tv_nsec = (long long)(PEER_NET_CONNECT_TIMEOUT_MS % 1000) * 1000000LL;
    io_uring_prep_link_timeout(timeout_sqe, &c->connect_timeout, 0);
    io_uring_sqe_set_data64(timeout_sqe, user_data_encode(OP_CONNECT_TIMEOUT, c->slot, c->generation));
    c->ops_in_flight += 2;
    submit_now(net);
}

void peer_net_election_send(struct peer_net *net, int64_t to_id, const uint8_t *body,
                            size_t body_bytes)
{
    if (body_bytes == 0 || body_bytes > QUORUM_ELECTION_FRAME_BYTES_MAX)
        return; /* the receiver would refuse the frame and drop the connection */
    if (to_id == net->my_id) {
        if (net->self_count == PEER_NET_SELF_QUEUE_MAX) { /* drop the oldest */
            message_free(&net->self_queue[net->self_head]);
            net->self_head = (net->self_head + 1) % PEER_NET_SELF_QUEUE_MAX;
            net->self_count--;
        }
        struct message *slot =
            &net->self_queue[(net->self_head + net->self_count) % PEER_NET_SELF_QUEUE_MAX];
        if (message_copy(slot, body, body_bytes))
            net->self_count++;
        if (!net->dispatching)
            net_wake(net);
        return;
    }
    size_t index = member_index_of(net, to_id);
    if (index == SIZE_MAX)
        return;
    struct member_state *m = &net->members[index];
    struct message copy;
    if (!message_copy(&copy, body, body_bytes))
        return;
    if (m->queue_count == PEER_NET_ELECTION_QUEUE_MAX) { /* keep the newest */
        message_free(&m->queue[0]);
        memmove(&m->queue[0], &m->queue[1], (m->queue_count - 1) * sizeof m->queue[0]);
        m->queue_count--;
    }
    m->queue[m->queue_count++] = copy;
    if (m->active_slot != PEER_NET_NO_SLOT) {
        election_member_flush(net, m);
        submit_now(net);
    } else if (m->attempt_slot == PEER_NET_NO_SLOT && !net->dispatching) {
        /* The connect starts in the poll this wake causes, where the time
         * (for the reconnect interval) is the core's current one. */
        net_wake(net);
    }
}

/* Our connect to a member's election port completed. */
static void election_out_connected(struct peer_net *net, struct conn *c)
{
    struct member_state *m = &net->members[c->member];
    if (m->attempt_slot == c->slot)
        m->attempt_slot = PEER_NET_NO_SLOT;
    int64_t remote_id = m->config.id;
    if (remote_id > net->my_id && m->active_slot != PEER_NET_NO_SLOT) {
        /* It connected to us meanwhile: a handshake would only make it
         * drop that good connection. */
        conn_begin_close(net, c, false, NULL);
        return;
    }
    /* The literal we resolved, as ZooKeeper sends: a server that does not
     * know us yet learns us from it without a DNS lookup. */
    const struct member_state *me = &net->members[net->my_index];
    char host[INET_ADDRSTRLEN];
    char address[INET_ADDRSTRLEN + 8];
    inet_ntop(AF_INET, &me->election_address.sin_addr, host, sizeof host);
    snprintf(address, sizeof address, "%s:%u", host, (unsigned)me->config.election_port);
    struct jute_writer handshake;
    jute_writer_init(&handshake, PEER_NET_HANDSHAKE_BYTES_MAX);
    quorum_election_handshake_encode(&handshake, net->my_id, address);
    bool queued = handshake.ok && buffer_append(&c->pending, handshake.data, handshake.size,
                                                PEER_NET_HANDSHAKE_BYTES_MAX);
    jute_writer_free(&handshake);
    if (!queued) {
        conn_begin_close(net, c, false, NULL);
        return;
    }
    c->state = STATE_OPEN;
    c->handshake_done = true;
    if (remote_id > net->my_id) {
        /* Lower id: send the handshake and leave; it connects back. */
        c->state = STATE_CLOSING;
        c->deadline_ms = net->now_ms + PEER_NET_CLOSE_LINGER_MS;
        conn_flush(net, c);
        return;
    }
    election_activate(net, c);
    conn_flush(net, c);
}

/* The initiator's handshake arrived on an accepted election connection. */
static void election_in_handshake(struct peer_net *net, struct conn *c,
                                  const struct quorum_election_handshake *handshake)
{
    int64_t sid = handshake->server_id;
    if (sid == net->my_id) {
        conn_begin_close(net, c, false, "a server with our own id connected (a config error)");
        return;
    }
    size_t index = member_index_of(net, sid);
    if (index != SIZE_MAX && !member_election_reachable(&net->members[index])) {
        /* Learned before without an address: this handshake may give one. */
        struct peer_net_member config = net->members[index].config;
        struct sockaddr_in resolved;
        if (handshake_address_parse(handshake->addresses, &config, &resolved))
            member_set_address(&net->members[index], &config, &resolved);
    }
    if (index == SIZE_MAX) {
        char why[PEER_NET_WHY_BYTES];
        index = member_learn(net, sid, handshake->addresses, why, sizeof why);
        if (index == SIZE_MAX) {
            conn_begin_close(net, c, false, why);
            return;
        }
    }
    c->handshake_done = true;
    if (sid < net->my_id) {
        /* We win: drop it and connect ourselves. Like ZooKeeper, an existing
         * connection to it goes too: it would not have connected if that
         * one still worked on its side. */
        conn_begin_close(net, c, false, NULL);
        struct member_state *m = &net->members[index];
        if (m->active_slot != PEER_NET_NO_SLOT)
            conn_begin_close(net, &net->slots[m->active_slot], false, NULL);
        election_connect(net, index, true);
        return;
    }
    c->member = index;
    election_activate(net, c);
}

static void deliver_election(struct peer_net *net, int64_t from_id, const uint8_t *body,
                             size_t body_bytes)
{
    net->events_delivered++;
    if (net->events.election_message)
        net->events.election_message(net->events.context, from_id, body, body_bytes);
}

static void election_input(struct peer_net *net, struct conn *c)
{
    struct byte_buffer *in = &c->in;
    if (c->kind == KIND_ELECTION_IN && !c->handshake_done) {
        struct quorum_election_handshake handshake;
        size_t consumed = 0;
        enum quorum_wire_status status = quorum_election_handshake_decode(
            in->data + in->offset, buffer_length(in), &handshake, &consumed);
        if (status == QUORUM_WIRE_NEED_MORE && buffer_length(in) < PEER_NET_HANDSHAKE_BYTES_MAX)
            return;
        if (status != QUORUM_WIRE_DONE) {
            conn_begin_close(net, c, false, NULL); /* InitialMessage.parse would refuse it */
            return;
        }
        in->offset += consumed;
        election_in_handshake(net, c, &handshake);
    }
    /* Frames: only on the member's active connection. Each iteration
     * consumes a frame or stops. */
    while (c->state == STATE_OPEN && c->member != SIZE_MAX &&
           net->members[c->member].active_slot == c->slot) {
        size_t body_bytes = 0;
        enum quorum_wire_status status =
            quorum_election_frame(in->data + in->offset, buffer_length(in), &body_bytes);
        if (status == QUORUM_WIRE_NEED_MORE)
            break;
        if (status == QUORUM_WIRE_MALFORMED) {
            conn_begin_close(net, c, false, NULL); /* RecvWorker's "invalid packet" */
            return;
        }
        const uint8_t *body = in->data + in->offset + 4;
        in->offset += 4u + body_bytes;
        deliver_election(net, net->members[c->member].config.id, body, body_bytes);
    }
}

/* ---- quorum input ---------------------------------------------------------------- */

static void quorum_input(struct peer_net *net, struct conn *c)
{
    struct byte_buffer *in = &c->in;
    size_t string_bytes_max = net->quorum_data_bytes_max;
    /* Each iteration delivers a packet (or a SNAP with its stream), notes a
     * SNAP, or stops: bounded by the bytes received. */
    while (c->state == STATE_OPEN) {
        const uint8_t *bytes = in->data + in->offset;
        size_t available = buffer_length(in);
        if (c->snap_expected) {
            size_t stream_bytes = 0;
            enum quorum_wire_status status =
                quorum_snap_scan_feed(&c->scan, bytes + c->snap_packet_bytes,
                                      available - c->snap_packet_bytes, &stream_bytes);
            if (status == QUORUM_WIRE_NEED_MORE) {
                if (c->scan.offset > PEER_NET_SNAP_STREAM_BYTES_MAX)
                    conn_begin_close(net, c, false, "snapshot stream after SNAP too long");
                return;
            }
            if (status == QUORUM_WIRE_MALFORMED) {
                conn_begin_close(net, c, false, "malformed snapshot stream after a SNAP packet");
                return;
            }
            size_t packet_bytes = c->snap_packet_bytes;
            c->snap_expected = false;
            in->offset += packet_bytes + stream_bytes;
            net->events_delivered++;
            if (net->events.quorum_packet)
                net->events.quorum_packet(net->events.context, c->quorum_id, bytes, packet_bytes,
                                          bytes + packet_bytes, stream_bytes);
            continue;
        }
        size_t packet_bytes = 0;
        enum quorum_wire_status status =
            quorum_packet_frame(bytes, available, net->quorum_data_bytes_max, &packet_bytes);
        if (status == QUORUM_WIRE_NEED_MORE)
            return;
        if (status == QUORUM_WIRE_MALFORMED) {
            char why[PEER_NET_WHY_BYTES];
            snprintf(why, sizeof why,
                     "malformed QuorumPacket (type %d): a negative length, data over %zu bytes "
                     "or a bad authinfo",
                     available >= 4 ? load_be32(bytes) : 0, net->quorum_data_bytes_max);
            conn_begin_close(net, c, false, why);
            return;
        }
        if (load_be32(bytes) == QUORUM_SNAP) {
            c->snap_expected = true;
            c->snap_packet_bytes = packet_bytes;
            quorum_snap_scan_init(&c->scan, string_bytes_max);
            continue;
        }
        in->offset += packet_bytes;
        net->events_delivered++;
        if (net->events.quorum_packet)
            net->events.quorum_packet(net->events.context, c->quorum_id, bytes, packet_bytes, NULL, 0);
    }
}

/* ---- completions ------------------------------------------------------------------- */

static void op_done(struct conn *c)
{
    assert(c->ops_in_flight > 0);
    c->ops_in_flight--;
}

static void on_connect(struct peer_net *net, const struct io_uring_cqe *cqe)
{
    struct conn *c = conn_of(net, cqe->user_data);
    op_done(c);
    if (c->state != STATE_CONNECTING) { /* closed meanwhile */
        attention_mark(net, c);
        return;
    }
    if (cqe->res < 0) {
        char why[PEER_NET_WHY_BYTES];
        char address[PEER_NET_HOST_BYTES_MAX + 8];
        const struct member_state *m = &net->members[c->member];
        int error = cqe->res == -ECANCELED ? ETIMEDOUT : -cqe->res;
        snprintf(why, sizeof why, "connect to server.%lld %s port %s: %s",
                 (long long)m->config.id, is_election(c) ? "election" : "quorum",
                 member_address_text(m, is_election(c), address, sizeof address), strerror(error));
        conn_begin_close(net, c, false, why);
        return;
    }
    if (is_election(c)) {
        election_out_connected(net, c);
        attention_mark(net, c);
        return;
    }
    c->state = STATE_OPEN;
    net->events_delivered++;
    if (net->events.quorum_connected)
        net->events.quorum_connected(net->events.context, c->quorum_id);
    conn_flush(net, c);
    attention_mark(net, c); /* arms the recv */
}

static void on_recv(struct peer_net *net, const struct io_uring_cqe *cqe)
{
    struct conn *c = conn_of(net, cqe->user_data);
    op_done(c);
    c->recv_in_flight = false;
    attention_mark(net, c); /* re-arm, or finish a close */
    if (c->state != STATE_OPEN)
        return; /* closing: what arrives now is not delivered */
    if (cqe->res <= 0) {
        char why[PEER_NET_WHY_BYTES];
        if (cqe->res == 0)
            snprintf(why, sizeof why, "closed by the other server");
        else
            snprintf(why, sizeof why, "receive: %s", strerror(-cqe->res));
        conn_begin_close(net, c, false, why);
        return;
    }
    c->in.size += (size_t)cqe->res;
    assert(c->in.size <= c->in.capacity);
    if (is_election(c))
        election_input(net, c);
    else
        quorum_input(net, c);
}

static void on_send(struct peer_net *net, const struct io_uring_cqe *cqe)
{
    struct conn *c = conn_of(net, cqe->user_data);
    op_done(c);
    c->send_in_flight = false;
    attention_mark(net, c);
    if (c->state == STATE_DYING)
        return;
    if (cqe->res < 0) {
        char why[PEER_NET_WHY_BYTES];
        snprintf(why, sizeof why, "send: %s", strerror(-cqe->res));
        conn_begin_close(net, c, false, why);
        return;
    }
    c->sending.offset += (size_t)cqe->res;
    assert(c->sending.offset <= c->sending.size);
    buffer_trim(&c->sending);
    conn_flush(net, c);
    if (is_election(c) && c->member != SIZE_MAX && net->members[c->member].active_slot == c->slot)
        election_member_flush(net, &net->members[c->member]);
}

static void on_accept(struct peer_net *net, const struct io_uring_cqe *cqe, bool election)
{
    bool *armed = election ? &net->election_accept_armed : &net->quorum_accept_armed;
    bool current = election || user_data_generation(cqe->user_data) == net->quorum_listen_generation;
    if (!(cqe->flags & IORING_CQE_F_MORE) && current)
        *armed = false; /* re-armed from poll if the listener is still open */
    if (cqe->res < 0)
        return;
    int fd = cqe->res;
    struct conn *c = current ? slot_allocate(net, election ? KIND_ELECTION_IN : KIND_QUORUM_IN) : NULL;
    if (!c) {
        close(fd); /* a stopped listener's, or no room */
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->state = STATE_OPEN;
    if (election) {
        c->deadline_ms = net->now_ms + PEER_NET_HANDSHAKE_TIMEOUT_MS;
    } else {
        c->quorum_id = ((uint64_t)c->generation << 32) | ((uint64_t)c->slot + 1u);
        net->events_delivered++;
        if (net->events.quorum_accepted)
            net->events.quorum_accepted(net->events.context, c->quorum_id);
    }
    attention_mark(net, c);
}

static void dispatch(struct peer_net *net, const struct io_uring_cqe *cqe)
{
    switch (user_data_op(cqe->user_data)) {
    case OP_ELECTION_ACCEPT: on_accept(net, cqe, true); break;
    case OP_QUORUM_ACCEPT: on_accept(net, cqe, false); break;
    case OP_CONNECT: on_connect(net, cqe); break;
    case OP_CONNECT_TIMEOUT:
    case OP_CANCEL: {
        struct conn *c = conn_of(net, cqe->user_data);
        op_done(c);
        if (user_data_op(cqe->user_data) == OP_CANCEL)
            c->cancel_in_flight = false;
        attention_mark(net, c);
        break;
    }
    case OP_RECV: on_recv(net, cqe); break;
    case OP_SEND: on_send(net, cqe); break;
    case OP_TIMER: net->timer_armed = false; break;
    case OP_LISTENER_CANCEL: break;
    default: assert(!"unknown op in user_data");
    }
}

/* ---- attention: everything that is not a completion ---------------------------------- */

static void conn_attend(struct peer_net *net, struct conn *c)
{
    switch (c->state) {
    case STATE_FREE:
    case STATE_CONNECTING:
        return;
    case STATE_DYING:
        if (c->ops_in_flight > 0) {
            if (!c->cancel_in_flight) {
                struct io_uring_sqe *sqe = get_sqe(net);
                if (!sqe) {
                    c->attention = true;
                    return;
                }
                io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
                io_uring_sqe_set_data64(sqe, user_data_encode(OP_CANCEL, c->slot, c->generation));
                c->cancel_in_flight = true;
                c->ops_in_flight++;
            }
            return;
        }
        conn_finish(net, c);
        return;
    case STATE_CLOSING:
        if (c->deadline_ms == INT64_MAX)
            c->deadline_ms = net->now_ms + PEER_NET_CLOSE_LINGER_MS;
        if (!c->send_in_flight && conn_queued_bytes(c) == 0) {
            conn_begin_close(net, c, true, NULL);
            conn_attend(net, c);
        } else if (net->now_ms >= c->deadline_ms) {
            conn_begin_close(net, c, false, NULL); /* linger over: drop the rest */
            conn_attend(net, c);
        } else {
            conn_flush(net, c);
        }
        return;
    case STATE_OPEN:
        if (c->kind == KIND_ELECTION_IN && !c->handshake_done && net->now_ms >= c->deadline_ms) {
            conn_begin_close(net, c, false, NULL);
            conn_attend(net, c);
            return;
        }
        conn_flush(net, c);
        /* Election connections we initiate read only when active. */
        bool reads = !(c->kind == KIND_ELECTION_OUT &&
                       net->members[c->member].active_slot != c->slot);
        if (reads && !c->recv_in_flight) {
            enum arm_result armed = arm_recv(net, c);
            if (armed == ARM_FULL) {
                conn_begin_close(net, c, false, "receive buffer limit reached (or out of memory)");
                conn_attend(net, c);
            } else if (armed == ARM_NO_SQE) {
                c->attention = true; /* next poll */
            }
        }
        return;
    }
}

static bool conn_has_deadline(const struct conn *c)
{
    return c->state == STATE_CLOSING ||
           (c->state == STATE_OPEN && c->kind == KIND_ELECTION_IN && !c->handshake_done);
}

static int64_t earliest(int64_t a, int64_t b) { return a < b ? a : b; }

/* Attends the connections that asked for it or whose deadline has come,
 * and starts the reconnects that are due. Returns the next moment
 * something waits for (INT64_MAX: none). */
static int64_t attention_process(struct peer_net *net)
{
    int64_t next_ms = INT64_MAX;
    for (uint32_t i = 0; i < net->slot_used_end; i++) {
        struct conn *c = &net->slots[i];
        if (c->attention || (conn_has_deadline(c) && net->now_ms >= c->deadline_ms)) {
            c->attention = false;
            conn_attend(net, c);
        }
        if (conn_has_deadline(c))
            next_ms = earliest(next_ms, c->deadline_ms);
    }
    for (size_t i = 0; i < net->member_count; i++) {
        struct member_state *m = &net->members[i];
        if (m->queue_count > 0 && m->active_slot == PEER_NET_NO_SLOT &&
            m->attempt_slot == PEER_NET_NO_SLOT && member_election_reachable(m)) {
            election_connect(net, i, false);
            if (m->attempt_slot == PEER_NET_NO_SLOT)
                next_ms = earliest(next_ms, m->last_attempt_ms + PEER_NET_RECONNECT_INTERVAL_MS);
        }
    }
    return next_ms;
}

static void arm_listener(struct peer_net *net, bool election)
{
    int fd = election ? net->election_listen_fd : net->quorum_listen_fd;
    bool *armed = election ? &net->election_accept_armed : &net->quorum_accept_armed;
    if (fd < 0 || *armed)
        return;
    struct io_uring_sqe *sqe = get_sqe(net);
    if (!sqe)
        return;
    io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, election ? user_data_encode(OP_ELECTION_ACCEPT, 0, 0)
                                          : user_data_encode(OP_QUORUM_ACCEPT, 0,
                                                             net->quorum_listen_generation));
    *armed = true;
}

static void arm_timer(struct peer_net *net, int64_t at_ms)
{
    if (net->timer_armed || at_ms == INT64_MAX)
        return;
    struct io_uring_sqe *sqe = get_sqe(net);
    if (!sqe)
        return;
    int64_t wait_ms = at_ms - net->now_ms;
    if (wait_ms < 1)
        wait_ms = 1;
    if (wait_ms > PEER_NET_TIMER_MAX_MS)
        wait_ms = PEER_NET_TIMER_MAX_MS;
    net->timer_timeout.tv_sec = wait_ms / 1000;
    net->timer_timeout.tv_nsec = (long long)(wait_ms % 1000) * 1000000LL;
    io_uring_prep_timeout(sqe, &net->timer_timeout, 0, 0);
    io_uring_sqe_set_data64(sqe, user_data_encode(OP_TIMER, 0, 0));
    net->timer_armed = true;
}

size_t peer_net_poll(struct peer_net *net, int64_t now_ms)
{
    assert(!net->dispatching);
    ring_enable_once(net);
    net->dispatching = true;
    net->now_ms = now_ms;
    net->events_delivered = 0;
    /* Clear the eventfd FIRST, then run the deferred completion work
     * (DEFER_TASKRUN: it runs only when asked) and reap. Work queued after
     * the clear signals the eventfd again, so none waits unseen; the other
     * order lost the signal of work queued between the two, and the core
     * slept on it until its next timer (up to a tick: found as 100-500 ms
     * write stalls in an ensemble at low load). */
    uint64_t counter;
    ssize_t got = read(net->event_fd, &counter, sizeof counter);
    (void)got;
    io_uring_submit_and_get_events(&net->ring);

    /* Messages to ourselves sent before this poll; those sent during it
     * wait for the next one. */
    size_t self_due = net->self_count;
    for (size_t i = 0; i < self_due && net->self_count > 0; i++) {
        struct message m = net->self_queue[net->self_head];
        net->self_head = (net->self_head + 1) % PEER_NET_SELF_QUEUE_MAX;
        net->self_count--;
        deliver_election(net, net->my_id, m.body, m.body_bytes);
        message_free(&m);
    }

    struct io_uring_cqe *cqes[PEER_NET_CQE_BATCH_MAX];
    for (uint32_t batch = 0; batch < PEER_NET_CQE_BATCHES_MAX; batch++) {
        unsigned count = io_uring_peek_batch_cqe(&net->ring, cqes, PEER_NET_CQE_BATCH_MAX);
        if (count == 0)
            break;
        for (unsigned i = 0; i < count; i++)
            dispatch(net, cqes[i]);
        io_uring_cq_advance(&net->ring, count);
    }
    int64_t next_ms = attention_process(net);
    arm_listener(net, true);
    arm_listener(net, false);
    arm_timer(net, next_ms);
    ring_submit(net);

    bool work_left = net->self_count > 0 || io_uring_cq_ready(&net->ring) > 0;
    for (uint32_t i = 0; i < net->slot_used_end && !work_left; i++)
        work_left = net->slots[i].attention;
    if (work_left)
        net_wake(net);
    net->dispatching = false;
    return net->events_delivered;
}

int peer_net_wait_fd(const struct peer_net *net) { return net->event_fd; }

/* ---- quorum API -------------------------------------------------------------------- */

static int listener_open(const struct sockaddr_in *address, char *error, size_t error_bytes,
                         const char *what, const struct member_state *me)
{
    const char *step = "socket";
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0 &&
        (step = "setsockopt SO_REUSEADDR",
         setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0) &&
        (step = "bind", bind(fd, (const struct sockaddr *)address, sizeof *address) == 0) &&
        (step = "listen", listen(fd, PEER_NET_LISTEN_BACKLOG) == 0))
        return fd;
    int saved = errno;
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &address->sin_addr, host, sizeof host);
    char advice_text[160];
    if (saved == EADDRINUSE)
        snprintf(advice_text, sizeof advice_text,
                 "another process holds this port: stop it, or give server.%lld another port in "
                 "zoo.cfg", (long long)me->config.id);
    else
        snprintf(advice_text, sizeof advice_text, "check server.%lld's address in zoo.cfg",
                 (long long)me->config.id);
    snprintf(error, error_bytes,
             "cannot listen on %s:%u, the %s port of server.%lld in zoo.cfg (server.%lld=%s:%u:%u): "
             "%s: %s; %s",
             host, (unsigned)ntohs(address->sin_port), what, (long long)me->config.id,
             (long long)me->config.id, me->config.host, (unsigned)me->config.quorum_port,
             (unsigned)me->config.election_port, step, strerror(saved), advice_text);
    if (fd >= 0)
        close(fd);
    return -1;
}

static struct sockaddr_in listen_address_of(const struct peer_net *net, bool election)
{
    const struct member_state *me = &net->members[net->my_index];
    struct sockaddr_in address = election ? me->election_address : me->quorum_address;
    if (net->listen_on_all_ips)
        address.sin_addr.s_addr = htonl(INADDR_ANY);
    return address;
}

int peer_net_quorum_listen(struct peer_net *net, bool listen_on, char *error, size_t error_bytes)
{
    if (listen_on) {
        if (net->quorum_listen_fd >= 0)
            return 0;
        struct sockaddr_in address = listen_address_of(net, false);
        int fd = listener_open(&address, error, error_bytes, "quorum", &net->members[net->my_index]);
        if (fd < 0)
            return -1;
        net->quorum_listen_fd = fd;
        net->quorum_listen_generation++;
        net->quorum_accept_armed = false;
        arm_listener(net, false);
        ring_enable_once(net);
        ring_submit(net);
        return 0;
    }
    if (net->quorum_listen_fd < 0)
        return 0;
    if (net->quorum_accept_armed) {
        struct io_uring_sqe *sqe = get_sqe(net);
        if (sqe) {
            io_uring_prep_cancel64(sqe, user_data_encode(OP_QUORUM_ACCEPT, 0,
                                                         net->quorum_listen_generation), 0);
            io_uring_sqe_set_data64(sqe, user_data_encode(OP_LISTENER_CANCEL, 0, 0));
        }
    }
    /* The pending accept holds the socket; shutdown takes it out of LISTEN
     * now. Completions of the old generation are ignored. */
    shutdown(net->quorum_listen_fd, SHUT_RDWR);
    /* Submitted now, even inside poll, so no accept prepared for this fd
     * is submitted after the close below (the number could be reused). */
    ring_enable_once(net);
    ring_submit(net);
    close(net->quorum_listen_fd);
    net->quorum_listen_fd = -1;
    net->quorum_accept_armed = false;
    net->quorum_listen_generation++;
    return 0;
}

uint64_t peer_net_quorum_connect(struct peer_net *net, int64_t leader_id)
{
    size_t index = member_index_of(net, leader_id);
    struct conn *c = slot_allocate(net, KIND_QUORUM_OUT);
    if (!c)
        return 0; /* assumption: callers treat 0 as "no connection" */
    c->quorum_id = ((uint64_t)c->generation << 32) | ((uint64_t)c->slot + 1u);
    c->member = index;
    c->state = STATE_CONNECTING;
    if (index == SIZE_MAX || net->members[index].config.quorum_port == 0) {
        c->state = STATE_DYING;
        c->report_close = true;
        if (index == SIZE_MAX)
            snprintf(c->why, sizeof c->why, "server.%lld is not in the configuration",
                     (long long)leader_id);
        else
            snprintf(c->why, sizeof c->why,
                     "server.%lld's quorum port is unknown: we learned of it from its election "
                     "handshake, which names only its election address; a configuration "
                     "(reconfig) that names it gives the port",
                     (long long)leader_id);
        attention_mark(net, c);
        return c->quorum_id;
    }
    c->target = net->members[index].quorum_address;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct io_uring_sqe *connect_sqe = c->fd >= 0 ? get_sqe(net) : NULL;
    struct io_uring_sqe *timeout_sqe = connect_sqe ? io_uring_get_sqe(&net->ring) : NULL;
    if (!timeout_sqe) {
        if (connect_sqe) {
            io_uring_prep_nop(connect_sqe);
            io_uring_sqe_set_data64(connect_sqe, user_data_encode(OP_CANCEL, c->slot, c->generation));
            c->ops_in_flight++;
        }
        c->state = STATE_DYING;
        c->report_close = true;
        snprintf(c->why, sizeof c->why, "connect to server.%lld quorum port: %s",
                 (long long)leader_id, c->fd < 0 ? strerror(errno) : "submission queue full");
        attention_mark(net, c);
        submit_now(net);
        return c->quorum_id;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    io_uring_prep_connect(connect_sqe, c->fd, (const struct sockaddr *)&c->target, sizeof c->target);
    io_uring_sqe_set_data64(connect_sqe, user_data_encode(OP_CONNECT, c->slot, c->generation));
    connect_sqe->flags |= IOSQE_IO_LINK;
    c->connect_timeout.tv_sec = PEER_NET_CONNECT_TIMEOUT_MS / 1000;
    c->connect_timeout.tv_nsec = (long long)(PEER_NET_CONNECT_TIMEOUT_MS % 1000) * 1000000LL;
    io_uring_prep_link_timeout(timeout_sqe, &c->connect_timeout, 0);
    io_uring_sqe_set_data64(timeout_sqe, user_data_encode(OP_CONNECT_TIMEOUT, c->slot, c->generation));
    c->ops_in_flight += 2;
    submit_now(net);
    return c->quorum_id;
}

bool peer_net_quorum_send(struct peer_net *net, uint64_t connection_id, const uint8_t *bytes,
                          size_t byte_count)
{
    struct conn *c = quorum_conn_of(net, connection_id);
    if (!c || (c->state != STATE_OPEN && c->state != STATE_CONNECTING))
        return false;
    if (byte_count == 0)
        return true;
    if (conn_queued_bytes(c) + byte_count > PEER_NET_QUORUM_SEND_BYTES_MAX ||
        !buffer_append(&c->pending, bytes, byte_count, PEER_NET_QUORUM_SEND_BYTES_MAX)) {
        char why[PEER_NET_WHY_BYTES];
        snprintf(why, sizeof why, "send queue over %llu bytes (the other server reads too slowly)",
                 (unsigned long long)PEER_NET_QUORUM_SEND_BYTES_MAX);
        conn_begin_close(net, c, false, why);
        return false;
    }
    if (c->state == STATE_OPEN) {
        conn_flush(net, c);
        submit_now(net);
    }
    return true;
}

void peer_net_quorum_close(struct peer_net *net, uint64_t connection_id)
{
    struct conn *c = quorum_conn_of(net, connection_id);
    if (!c || c->state == STATE_DYING || c->state == STATE_CLOSING)
        return;
    c->report_close = false;
    if (c->state == STATE_CONNECTING) {
        conn_begin_close(net, c, false, NULL);
        return;
    }
    c->state = STATE_CLOSING;
    c->deadline_ms = INT64_MAX; /* set by the next poll, which knows the time */
    attention_mark(net, c);
}

size_t peer_net_quorum_queued_bytes(const struct peer_net *net, uint64_t connection_id)
{
    const struct conn *c = quorum_conn_of(net, connection_id);
    return c ? conn_queued_bytes(c) : 0;
}

size_t peer_net_election_connection_count(const struct peer_net *net)
{
    size_t count = 0;
    for (uint32_t i = 0; i < net->slot_used_end; i++) {
        if (net->slots[i].state != STATE_FREE && is_election(&net->slots[i]))
            count++;
    }
    return count;
}

/* ---- create and destroy ----------------------------------------------------------- */

/* The member's host as an IPv4 address (port 0). */
static bool resolve_host(const struct peer_net_member *member, struct sockaddr_in *out,
                         char *error, size_t error_bytes)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *result = NULL;
    int rc = getaddrinfo(member->host, NULL, &hints, &result);
    if (rc != 0 || !result) {
        snprintf(error, error_bytes,
                 "server.%lld's host '%s' (zoo.cfg) does not resolve to an IPv4 address: %s",
                 (long long)member->id, member->host, rc ? gai_strerror(rc) : "no address");
        if (result)
            freeaddrinfo(result);
        return false;
    }
    memcpy(out, result->ai_addr, sizeof *out);
    freeaddrinfo(result);
    out->sin_port = 0;
    return true;
}

static bool host_fits(const struct peer_net_member *member, char *error, size_t error_bytes)
{
    if (memchr(member->host, '\0', sizeof member->host) != NULL)
        return true;
    snprintf(error, error_bytes, "server.%lld: host name too long (at most %u bytes)",
             (long long)member->id, PEER_NET_HOST_BYTES_MAX - 1u);
    return false;
}

static bool config_check(const struct peer_net_config *config, size_t *my_index_out, char *error,
                         size_t error_bytes)
{
    if (config->member_count == 0 || config->member_count > PEER_NET_MEMBERS_MAX) {
        snprintf(error, error_bytes, "peer network: %zu servers (1..%u allowed)",
                 config->member_count, PEER_NET_MEMBERS_MAX);
        return false;
    }
    *my_index_out = SIZE_MAX;
    for (size_t i = 0; i < config->member_count; i++) {
        const struct peer_net_member *member = &config->members[i];
        if (!host_fits(member, error, error_bytes))
            return false;
        for (size_t j = 0; j < i; j++) {
            if (config->members[j].id == member->id) {
                snprintf(error, error_bytes, "server.%lld appears twice", (long long)member->id);
                return false;
            }
        }
        if (member->id == config->my_id)
            *my_index_out = i;
    }
    if (*my_index_out == SIZE_MAX) {
        snprintf(error, error_bytes, "my id %lld is not among the server.N lines of zoo.cfg",
                 (long long)config->my_id);
        return false;
    }
    return true;
}

/* DEFER_TASKRUN: completion work runs only inside peer_net_poll, so the
 * core thread's other system calls are never interrupted by it (without
 * it, a blocking connect() on this thread can fail with EINTR). The
 * registered eventfd is still signalled when work is queued. */
static int ring_setup(struct peer_net *net)
{
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_R_DISABLED | IORING_SETUP_SINGLE_ISSUER |
                   IORING_SETUP_DEFER_TASKRUN;
    params.cq_entries = PEER_NET_URING_CQ_ENTRIES;
    int rc = io_uring_queue_init_params(PEER_NET_URING_ENTRIES, &net->ring, &params);
    if (rc == -EINVAL) {
        /* Before 6.1: without them; correct, with task work at any kernel entry. */
        memset(&params, 0, sizeof params);
        params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_R_DISABLED;
        params.cq_entries = PEER_NET_URING_CQ_ENTRIES;
        rc = io_uring_queue_init_params(PEER_NET_URING_ENTRIES, &net->ring, &params);
    }
    return rc;
}

struct peer_net *peer_net_create(const struct peer_net_config *config,
                                 const struct peer_net_events *events, char *error,
                                 size_t error_bytes)
{
    size_t my_index;
    if (!config_check(config, &my_index, error, error_bytes))
        return NULL;
    struct peer_net *net = calloc(1, sizeof *net);
    if (!net) {
        snprintf(error, error_bytes, "peer network: out of memory");
        return NULL;
    }
    net->events = *events;
    net->my_id = config->my_id;
    net->my_index = my_index;
    net->listen_on_all_ips = config->listen_on_all_ips;
    net->quorum_data_bytes_max = config->quorum_data_bytes_max;
    net->refusal_logged_ms = INT64_MIN;
    net->event_fd = -1;
    net->election_listen_fd = -1;
    net->quorum_listen_fd = -1;
    net->free_head = PEER_NET_NO_SLOT;
    /* Room for the largest membership now: members are named by index in
     * connections and neither moves nor goes (peer_net_update_members). */
    net->members = calloc(PEER_NET_MEMBERS_MAX, sizeof *net->members);
    net->slot_count = PEER_NET_SLOTS_MAX;
    net->slots = calloc(net->slot_count, sizeof *net->slots);
    if (!net->members || !net->slots) {
        snprintf(error, error_bytes, "peer network: out of memory");
        peer_net_destroy(net);
        return NULL;
    }
    for (uint32_t i = net->slot_count; i-- > 0;) {
        net->slots[i].slot = i;
        net->slots[i].fd = -1;
        net->slots[i].next_free = net->free_head;
        net->free_head = i;
    }
    for (size_t i = 0; i < config->member_count; i++) {
        struct sockaddr_in resolved;
        if (!resolve_host(&config->members[i], &resolved, error, error_bytes)) {
            peer_net_destroy(net);
            return NULL;
        }
        member_append(net, &config->members[i], &resolved);
    }
    assert(net->member_count == config->member_count);
    int rc = ring_setup(net);
    if (rc < 0) {
        snprintf(error, error_bytes, "peer network: io_uring setup: %s", strerror(-rc));
        peer_net_destroy(net);
        return NULL;
    }
    net->ring_ready = true;
    net->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (net->event_fd < 0 || (rc = io_uring_register_eventfd(&net->ring, net->event_fd)) < 0) {
        snprintf(error, error_bytes, "peer network: eventfd: %s",
                 strerror(net->event_fd < 0 ? errno : -rc));
        peer_net_destroy(net);
        return NULL;
    }
    struct sockaddr_in address = listen_address_of(net, true);
    net->election_listen_fd =
        listener_open(&address, error, error_bytes, "election", &net->members[my_index]);
    if (net->election_listen_fd < 0) {
        peer_net_destroy(net);
        return NULL;
    }
    /* Prepared now, submitted by the first poll (or send) on the core thread. */
    arm_listener(net, true);
    return net;
}

int peer_net_update_members(struct peer_net *net, const struct peer_net_member *members,
                            size_t member_count, char *error, size_t error_bytes)
{
    /* Check everything first (cheap checks before the lookups), then apply:
     * a refused update changes nothing. */
    if (member_count > PEER_NET_MEMBERS_MAX) {
        snprintf(error, error_bytes, "peer network: %zu servers in the new configuration (at most %u)",
                 member_count, PEER_NET_MEMBERS_MAX);
        return -1;
    }
    size_t added = 0;
    for (size_t i = 0; i < member_count; i++) {
        if (!host_fits(&members[i], error, error_bytes))
            return -1;
        for (size_t j = 0; j < i; j++) {
            if (members[j].id == members[i].id) {
                snprintf(error, error_bytes, "server.%lld appears twice in the new configuration",
                         (long long)members[i].id);
                return -1;
            }
        }
        if (member_index_of(net, members[i].id) == SIZE_MAX)
            added++;
    }
    if (net->member_count + added > PEER_NET_MEMBERS_MAX) {
        snprintf(error, error_bytes,
                 "peer network: the new configuration adds %zu servers to the %zu known (removed "
                 "ones stay known): more than %u in all",
                 added, net->member_count, PEER_NET_MEMBERS_MAX);
        return -1;
    }
    struct sockaddr_in resolved[PEER_NET_MEMBERS_MAX];
    for (size_t i = 0; i < member_count; i++) {
        if (!resolve_host(&members[i], &resolved[i], error, error_bytes))
            return -1;
    }
    bool reachable_now = false;
    for (size_t i = 0; i < member_count; i++) {
        size_t index = member_index_of(net, members[i].id);
        if (index == SIZE_MAX) {
            member_append(net, &members[i], &resolved[i]);
            continue;
        }
        struct member_state *m = &net->members[index];
        reachable_now |= !member_election_reachable(m) && members[i].election_port != 0 &&
                         m->queue_count > 0;
        member_set_address(m, &members[i], &resolved[i]);
    }
    if (reachable_now && !net->dispatching)
        net_wake(net); /* its queued messages can go: the next poll connects */
    return 0;
}

/* Reaps completions without delivering events, until every connection's
 * ops are done or the wait is over (then the ring's exit cancels the rest). */
static void destroy_drain(struct peer_net *net)
{
    for (uint32_t i = 0; i < net->slot_count; i++) {
        struct conn *c = &net->slots[i];
        if (c->state != STATE_FREE && c->fd >= 0 && c->ops_in_flight > 0) {
            struct io_uring_sqe *sqe = get_sqe(net);
            if (sqe) {
                io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
                io_uring_sqe_set_data64(sqe, user_data_encode(OP_CANCEL, c->slot, c->generation));
                c->ops_in_flight++;
            }
        }
    }
    for (int round = 0; round < PEER_NET_DESTROY_WAIT_ROUNDS_MAX; round++) {
        bool busy = false;
        for (uint32_t i = 0; i < net->slot_count && !busy; i++)
            busy = net->slots[i].state != STATE_FREE && net->slots[i].ops_in_flight > 0;
        if (!busy)
            return;
        struct __kernel_timespec wait = {
            .tv_sec = 0,
            .tv_nsec = (long long)PEER_NET_DESTROY_WAIT_MS * 1000000LL / PEER_NET_DESTROY_WAIT_ROUNDS_MAX,
        };
        struct io_uring_cqe *cqe = NULL;
        io_uring_submit_and_wait_timeout(&net->ring, &cqe, 1, &wait, NULL);
        struct io_uring_cqe *cqes[PEER_NET_CQE_BATCH_MAX];
        unsigned count = io_uring_peek_batch_cqe(&net->ring, cqes, PEER_NET_CQE_BATCH_MAX);
        for (unsigned i = 0; i < count; i++) {
            uint64_t user_data = cqes[i]->user_data;
            enum peer_op op = user_data_op(user_data);
            if (op == OP_ELECTION_ACCEPT || op == OP_QUORUM_ACCEPT) {
                if (cqes[i]->res >= 0)
                    close(cqes[i]->res);
            } else if (op != OP_TIMER && op != OP_LISTENER_CANCEL) {
                struct conn *c = conn_of(net, user_data);
                op_done(c);
            }
        }
        io_uring_cq_advance(&net->ring, count);
    }
}

void peer_net_destroy(struct peer_net *net)
{
    if (!net)
        return;
    /* A pending multishot accept keeps its socket in LISTEN until the
     * ring is torn down: shutdown() frees the port now. */
    if (net->election_listen_fd >= 0)
        shutdown(net->election_listen_fd, SHUT_RDWR);
    if (net->quorum_listen_fd >= 0)
        shutdown(net->quorum_listen_fd, SHUT_RDWR);
    /* No more bytes in or out: operations still pending complete or are
     * cancelled without touching our buffers. */
    for (uint32_t i = 0; net->slots && i < net->slot_count; i++) {
        if (net->slots[i].state != STATE_FREE && net->slots[i].fd >= 0)
            shutdown(net->slots[i].fd, SHUT_RDWR);
    }
    if (net->ring_ready) {
        /* Only the owning thread can reap; from another, the ring's exit
         * cancels what is left (the sockets are shut down first). */
        if (net->ring_enabled && gettid() == net->issuer_tid)
            destroy_drain(net);
        io_uring_queue_exit(&net->ring);
    }
    for (uint32_t i = 0; net->slots && i < net->slot_count; i++) {
        struct conn *c = &net->slots[i];
        if (c->fd >= 0)
            close(c->fd);
        buffer_release(&c->in);
        buffer_release(&c->sending);
        buffer_release(&c->pending);
    }
    for (size_t i = 0; net->members && i < net->member_count; i++) {
        for (size_t j = 0; j < net->members[i].queue_count; j++)
            message_free(&net->members[i].queue[j]);
        message_free(&net->members[i].last_sent);
    }
    for (size_t i = 0; i < net->self_count; i++)
        message_free(&net->self_queue[(net->self_head + i) % PEER_NET_SELF_QUEUE_MAX]);
    if (net->election_listen_fd >= 0)
        close(net->election_listen_fd);
    if (net->quorum_listen_fd >= 0)
        close(net->quorum_listen_fd);
    if (net->event_fd >= 0)
        close(net->event_fd);
    free(net->slots);
    free(net->members);
    free(net);
}
