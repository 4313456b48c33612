/* The io_uring transport: one ring, one SO_REUSEPORT listener and one
 * provided-buffer ring per shard (see transport.h for the contract).
 *
 * Operations in flight and their user_data (64 bits):
 *
 *     bits  0..7   op kind (enum uring_op)
 *     bits  8..31  connection slot index (0 for ACCEPT, ACCEPT_RETRY, WAKE)
 *     bits 32..63  slot generation (0 for those three)
 *
 * The generation makes a stale completion detectable; it cannot happen by
 * design, because a slot is freed only once every operation that names it
 * has completed (ops_in_flight == 0), so a mismatch is an assertion.
 *
 * A connection's life:
 *
 *     OPEN --transport_close--> CLOSING (queued bytes still going out)
 *       |                          | all sent: shutdown(SHUT_WR) = FIN
 *       | EOF / error / SEND_FULL  v   (an EOF that arrives while bytes are
 *       |                          |    held for a paused connection waits
 *       |                          |    until they have been delivered)
 *       +----------------------> DYING (cancel recv, cancel send if abortive;
 *                                       wait for every completion)
 *                                  | ops_in_flight == 0
 *                                  v
 *                                close(fd), `closed` callback, slot FREE
 *
 * Callbacks run only from run_once. Work that a callback causes (a close,
 * a resume, a re-arm after -ENOBUFS) is not done inside the API call that
 * caused it: the connection goes on the "attention" list, which run_once
 * processes outside any callback for that connection, so a callback may
 * close the very connection it is dispatching.
 *
 * The ring is created disabled (IORING_SETUP_R_DISABLED) and enabled by
 * the first run_once, so with SINGLE_ISSUER the owning shard thread, not
 * the thread that called transport_uring_create, is the ring's issuer.
 */
#include "dataplane/transport.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Submission queue entries per ring; the completion queue is
 * TRANSPORT_URING_CQ_FACTOR times larger because multishot operations post
 * many completions per submission (the kernel keeps overflowing completions
 * rather than dropping them, and terminates a multishot op, which we re-arm). */
#define TRANSPORT_URING_SQ_ENTRIES 1024u
#define TRANSPORT_URING_CQ_FACTOR 4u
/* Completions reaped per peek, and peeks per run_once (bounds one call). */
#define TRANSPORT_URING_CQE_BATCH_MAX 256u
#define TRANSPORT_URING_CQE_BATCHES_MAX 16u
/* Passes over the attention list per processing step; what is left waits
 * for the next run_once (which then does not block). */
#define TRANSPORT_URING_ATTENTION_ROUNDS_MAX 4u
/* Hard limits on the configuration (slot index has 24 bits; the kernel caps
 * a provided-buffer ring at 32768 entries). */
#define TRANSPORT_URING_CONNECTIONS_MAX (1u << 20)
#define TRANSPORT_URING_RECEIVE_BUFFERS_MAX 32768u
#define TRANSPORT_URING_RECEIVE_BUFFER_BYTES_MAX (1u << 20)
#define TRANSPORT_URING_LISTEN_BACKLOG 1024
/* After an accept error (EMFILE, ENFILE, ENOMEM...) the multishot accept
 * ends; it is re-armed after this pause rather than spinning. */
#define TRANSPORT_URING_ACCEPT_RETRY_MS 100
/* Send and held buffers start here, double up to their limit, and are
 * released when empty if they grew beyond the keep size. */
#define TRANSPORT_URING_BUFFER_INITIAL_BYTES 4096u
#define TRANSPORT_URING_BUFFER_KEEP_BYTES (64u * 1024u)
/* Closing connections keep their slot until their completions arrive, so
 * there are more slots than live connections: up to this many extra. */
#define TRANSPORT_URING_DYING_SLOTS_MAX 1024u
#define TRANSPORT_URING_BUFFER_GROUP 0
/* Before closing gracefully, unread input is drained (at most this many
 * reads of the scratch size) so close() does not answer it with a reset,
 * which would discard reply bytes still in the kernel's send queue. */
#define TRANSPORT_URING_CLOSE_DRAIN_READS_MAX 16
#define TRANSPORT_URING_CLOSE_DRAIN_BYTES 4096
/* Bytes held for a paused connection: what the multishot recv delivered
 * between the pause and its cancel, at most the buffer ring twice over
 * (recycled buffers can be reused once before the cancel lands). */
#define TRANSPORT_URING_HELD_RINGS_MAX 2

enum uring_op {
    URING_OP_ACCEPT = 1,
    URING_OP_WAKE = 2,   /* read on the eventfd */
    URING_OP_RECV = 3,   /* multishot recv into the buffer ring */
    URING_OP_SEND = 4,
    URING_OP_CANCEL_RECV = 5,
    URING_OP_CANCEL_SEND = 6,
    URING_OP_ACCEPT_RETRY = 7, /* timeout before re-arming a failed accept */
};

enum connection_state {
    CONNECTION_FREE = 0,
    CONNECTION_OPEN,
    CONNECTION_CLOSING, /* transport_close called: drain sends, then FIN */
    CONNECTION_DYING,   /* waiting for completions, then `closed` */
};

struct byte_buffer {
    uint8_t *data;
    size_t offset; /* first byte not yet consumed */
    size_t size;   /* bytes used, from 0 */
    size_t capacity;
};

struct connection_link {
    struct transport_connection *previous;
    struct transport_connection *next;
};

struct connection_list {
    struct transport_connection *head;
    struct transport_connection *tail;
};

struct transport_connection {
    struct transport_uring *owner;
    enum connection_state state;
    int fd;
    uint32_t slot;
    uint32_t generation;
    void *user;
    enum transport_close_reason close_reason;

    uint32_t ops_in_flight; /* SQEs naming this slot not yet completed */
    bool receive_armed;     /* a multishot recv is outstanding */
    bool receive_cancel_in_flight;
    bool receive_paused;
    bool send_in_flight; /* `sending` is owned by the kernel */
    bool send_cancel_in_flight;
    /* The peer's EOF (or an error) came while bytes were held: the close
     * waits until they are delivered, so nothing sent before EOF is lost. */
    bool receive_ended;
    enum transport_close_reason receive_end_reason;

    /* Bytes received while paused (or behind such bytes), delivered in
     * order on resume; at most the whole buffer ring's worth. */
    struct byte_buffer held;
    /* `sending` is what the send in flight reads from; `pending` collects
     * transport_send bytes meanwhile. They swap when a send completes, so
     * the kernel's buffer never moves. */
    struct byte_buffer sending;
    struct byte_buffer pending;

    bool in_flush_list;
    bool in_attention_list;
    struct connection_link flush_link;
    struct connection_link attention_link;
    uint32_t next_free; /* free-slot stack, UINT32_MAX = end */
};

struct transport_uring {
    struct transport base; /* first: the transport_ops table */
    struct io_uring ring;
    bool ring_enabled; /* the ring starts disabled; see enable_ring_once */
    bool dispatching;  /* inside run_once: no recursive run_once */
    struct transport_callbacks callbacks;
    void *shard;
    struct transport_config config;

    int listen_fd;
    bool accept_armed; /* or its retry timeout is pending */
    struct __kernel_timespec accept_retry_timeout;

    int wake_fd;
    bool wake_armed;
    uint64_t wake_value; /* the eventfd read lands here */
    atomic_bool wake_pending;

    struct io_uring_buf_ring *buffer_ring;
    size_t buffer_ring_bytes;
    uint8_t *receive_buffers;
    uint32_t receive_buffer_mask;

    struct transport_connection *slots;
    uint32_t slot_count;
    uint32_t free_head;
    uint32_t live_count; /* accepted and not yet closing: counts to connections_max */

    struct connection_list flush_list;
    struct connection_list attention_list;
};

/* ---- user_data ------------------------------------------------------- */

static uint64_t user_data_encode(enum uring_op op, uint32_t slot, uint32_t generation)
{
    assert(slot < (1u << 24));
    return (uint64_t)op | ((uint64_t)slot << 8) | ((uint64_t)generation << 32);
}

static enum uring_op user_data_op(uint64_t user_data) { return (enum uring_op)(user_data & 0xffu); }
static uint32_t user_data_slot(uint64_t user_data) { return (uint32_t)((user_data >> 8) & 0xffffffu); }
static uint32_t user_data_generation(uint64_t user_data) { return (uint32_t)(user_data >> 32); }

/* ---- intrusive lists --------------------------------------------------- */

static struct connection_link *link_of(struct transport_connection *c, bool flush)
{
    return flush ? &c->flush_link : &c->attention_link;
}

static void list_push(struct connection_list *list, struct transport_connection *c, bool flush)
{
    struct connection_link *link = link_of(c, flush);
    link->previous = list->tail;
    link->next = NULL;
    if (list->tail)
        link_of(list->tail, flush)->next = c;
    else
        list->head = c;
    list->tail = c;
}

static void list_remove(struct connection_list *list, struct transport_connection *c, bool flush)
{
    struct connection_link *link = link_of(c, flush);
    if (link->previous)
        link_of(link->previous, flush)->next = link->next;
    else
        list->head = link->next;
    if (link->next)
        link_of(link->next, flush)->previous = link->previous;
    else
        list->tail = link->previous;
    link->previous = link->next = NULL;
}

static struct transport_connection *list_pop(struct connection_list *list, bool flush)
{
    struct transport_connection *c = list->head;
    if (c)
        list_remove(list, c, flush);
    return c;
}

static void flush_list_add(struct transport_uring *t, struct transport_connection *c)
{
    if (!c->in_flush_list) {
        c->in_flush_list = true;
        list_push(&t->flush_list, c, true);
    }
}

static void attention_add(struct transport_uring *t, struct transport_connection *c)
{
    if (!c->in_attention_list) {
        c->in_attention_list = true;
        list_push(&t->attention_list, c, false);
    }
}

/* ---- byte buffers ------------------------------------------------------ */

static size_t byte_buffer_length(const struct byte_buffer *b) { return b->size - b->offset; }

/* Appends, growing by doubling up to capacity_max. The buffer must not be
 * owned by the kernel (it may move). */
static bool byte_buffer_append(struct byte_buffer *b, const void *data, size_t size,
                               size_t capacity_max)
{
    if (b->offset > 0 && b->offset == b->size)
        b->offset = b->size = 0;
    if (b->size + size > b->capacity && b->offset > 0) {
        memmove(b->data, b->data + b->offset, b->size - b->offset);
        b->size -= b->offset;
        b->offset = 0;
    }
    if (b->size + size > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : TRANSPORT_URING_BUFFER_INITIAL_BYTES;
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
    }
    memcpy(b->data + b->size, data, size);
    b->size += size;
    return true;
}

static void byte_buffer_reset(struct byte_buffer *b, size_t keep_bytes)
{
    b->offset = b->size = 0;
    if (b->capacity > keep_bytes) {
        free(b->data);
        b->data = NULL;
        b->capacity = 0;
    }
}

/* ---- submission helpers ------------------------------------------------ */

/* An SQE, submitting what is queued if the SQ is full. NULL only if the
 * kernel takes nothing; callers leave the work on a list to retry. */
static struct io_uring_sqe *get_sqe(struct transport_uring *t)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&t->ring);
    if (!sqe && t->ring_enabled) {
        io_uring_submit(&t->ring);
        sqe = io_uring_get_sqe(&t->ring);
    }
    return sqe;
}

static struct transport_connection *connection_of(struct transport_uring *t, uint64_t user_data)
{
    uint32_t slot = user_data_slot(user_data);
    assert(slot < t->slot_count);
    struct transport_connection *c = &t->slots[slot];
    assert(c->generation == user_data_generation(user_data));
    assert(c->state != CONNECTION_FREE);
    return c;
}

static bool arm_accept(struct transport_uring *t)
{
    struct io_uring_sqe *sqe = get_sqe(t);
    if (!sqe)
        return false;
    io_uring_prep_multishot_accept(sqe, t->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, user_data_encode(URING_OP_ACCEPT, 0, 0));
    t->accept_armed = true;
    return true;
}

static bool arm_accept_retry(struct transport_uring *t)
{
    struct io_uring_sqe *sqe = get_sqe(t);
    if (!sqe)
        return false;
    t->accept_retry_timeout.tv_sec = 0;
    t->accept_retry_timeout.tv_nsec = TRANSPORT_URING_ACCEPT_RETRY_MS * 1000000LL;
    io_uring_prep_timeout(sqe, &t->accept_retry_timeout, 0, 0);
    io_uring_sqe_set_data64(sqe, user_data_encode(URING_OP_ACCEPT_RETRY, 0, 0));
    t->accept_armed = true;
    return true;
}

static bool arm_wake(struct transport_uring *t)
{
    struct io_uring_sqe *sqe = get_sqe(t);
    if (!sqe)
        return false;
    io_uring_prep_read(sqe, t->wake_fd, &t->wake_value, sizeof t->wake_value, 0);
    io_uring_sqe_set_data64(sqe, user_data_encode(URING_OP_WAKE, 0, 0));
    t->wake_armed = true;
    return true;
}

static bool arm_receive(struct transport_uring *t, struct transport_connection *c)
{
    struct io_uring_sqe *sqe = get_sqe(t);
    if (!sqe)
        return false;
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = TRANSPORT_URING_BUFFER_GROUP;
    io_uring_sqe_set_data64(sqe, user_data_encode(URING_OP_RECV, c->slot, c->generation));
    c->receive_armed = true;
    c->ops_in_flight++;
    return true;
}

static bool submit_send(struct transport_uring *t, struct transport_connection *c)
{
    assert(!c->send_in_flight);
    struct io_uring_sqe *sqe = get_sqe(t);
    if (!sqe)
        return false;
    struct byte_buffer *b = &c->sending;
    io_uring_prep_send(sqe, c->fd, b->data + b->offset, byte_buffer_length(b), MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, user_data_encode(URING_OP_SEND, c->slot, c->generation));
    c->send_in_flight = true;
    c->ops_in_flight++;
    return true;
}

static bool submit_cancel(struct transport_uring *t, struct transport_connection *c,
                          enum uring_op target, enum uring_op op)
{
    struct io_uring_sqe *sqe = get_sqe(t);
    if (!sqe)
        return false;
    io_uring_prep_cancel64(sqe, user_data_encode(target, c->slot, c->generation), 0);
    io_uring_sqe_set_data64(sqe, user_data_encode(op, c->slot, c->generation));
    c->ops_in_flight++;
    return true;
}

/* ---- connection lifecycle ---------------------------------------------- */

static struct transport_connection *slot_allocate(struct transport_uring *t)
{
    if (t->free_head == UINT32_MAX)
        return NULL;
    struct transport_connection *c = &t->slots[t->free_head];
    assert(c->state == CONNECTION_FREE);
    t->free_head = c->next_free;
    uint32_t slot = c->slot, generation = c->generation;
    memset(c, 0, sizeof *c);
    c->owner = t;
    c->slot = slot;
    c->generation = generation;
    c->fd = -1;
    c->next_free = UINT32_MAX;
    return c;
}

static void slot_free(struct transport_uring *t, struct transport_connection *c)
{
    assert(c->ops_in_flight == 0 && !c->in_flush_list && !c->in_attention_list);
    free(c->held.data);
    free(c->sending.data);
    free(c->pending.data);
    memset(&c->held, 0, sizeof c->held);
    memset(&c->sending, 0, sizeof c->sending);
    memset(&c->pending, 0, sizeof c->pending);
    c->state = CONNECTION_FREE;
    c->user = NULL;
    c->generation++;
    c->next_free = t->free_head;
    t->free_head = c->slot;
}

/* Starts tearing a connection down; `closed` follows from run_once once
 * every completion for it has arrived. The first reason wins. */
static void connection_begin_close(struct transport_uring *t, struct transport_connection *c,
                                   enum transport_close_reason reason)
{
    if (c->state == CONNECTION_DYING)
        return;
    assert(c->state == CONNECTION_OPEN || c->state == CONNECTION_CLOSING);
    c->state = CONNECTION_DYING;
    c->close_reason = reason;
    assert(t->live_count > 0);
    t->live_count--;
    if (reason == TRANSPORT_CLOSE_LOCAL)
        shutdown(c->fd, SHUT_WR); /* every queued byte went out: FIN follows them */
    byte_buffer_reset(&c->held, 0);
    byte_buffer_reset(&c->pending, 0);
    if (c->in_flush_list) {
        list_remove(&t->flush_list, c, true);
        c->in_flush_list = false;
    }
    attention_add(t, c);
}

/* The connection's last step: every SQE naming it has completed. */
static void connection_finish(struct transport_uring *t, struct transport_connection *c)
{
    assert(c->state == CONNECTION_DYING && c->ops_in_flight == 0);
    if (c->close_reason == TRANSPORT_CLOSE_LOCAL) {
        uint8_t scratch[TRANSPORT_URING_CLOSE_DRAIN_BYTES];
        for (int i = 0; i < TRANSPORT_URING_CLOSE_DRAIN_READS_MAX; i++) {
            if (recv(c->fd, scratch, sizeof scratch, MSG_DONTWAIT) <= 0)
                break;
        }
    }
    close(c->fd);
    c->fd = -1;
    void *user = c->user;
    if (user)
        t->callbacks.closed(t->shard, user, c->close_reason);
    slot_free(t, c);
}

/* Hands bytes to the shard, or holds them if delivery is paused (or older
 * held bytes must go first). Returns false if the hold limit was hit. */
static bool connection_deliver(struct transport_uring *t, struct transport_connection *c,
                               const uint8_t *data, size_t size)
{
    if (c->state != CONNECTION_OPEN)
        return true; /* closing: the shard asked not to hear more */
    if (c->receive_paused || byte_buffer_length(&c->held) > 0) {
        size_t held_max = (size_t)t->config.receive_buffer_bytes * t->config.receive_buffer_count *
                          TRANSPORT_URING_HELD_RINGS_MAX;
        if (byte_buffer_length(&c->held) + size > held_max)
            return false;
        if (!byte_buffer_append(&c->held, data, size, held_max))
            return false;
        attention_add(t, c);
        return true;
    }
    t->callbacks.received(t->shard, c->user, data, size);
    return true;
}

/* Everything the attention list asks for one connection, outside any
 * callback for it. */
static void connection_attend(struct transport_uring *t, struct transport_connection *c)
{
    if (c->state == CONNECTION_DYING) {
        if (c->receive_armed && !c->receive_cancel_in_flight) {
            if (submit_cancel(t, c, URING_OP_RECV, URING_OP_CANCEL_RECV))
                c->receive_cancel_in_flight = true;
            else
                attention_add(t, c);
        }
        bool abortive = c->close_reason != TRANSPORT_CLOSE_LOCAL;
        if (abortive && c->send_in_flight && !c->send_cancel_in_flight) {
            if (submit_cancel(t, c, URING_OP_SEND, URING_OP_CANCEL_SEND))
                c->send_cancel_in_flight = true;
            else
                attention_add(t, c);
        }
        if (c->ops_in_flight == 0 && !c->in_attention_list)
            connection_finish(t, c);
        return;
    }
    if (c->state == CONNECTION_CLOSING) {
        if (!c->send_in_flight && byte_buffer_length(&c->sending) == 0 &&
            byte_buffer_length(&c->pending) == 0)
            connection_begin_close(t, c, TRANSPORT_CLOSE_LOCAL);
        return;
    }
    assert(c->state == CONNECTION_OPEN);
    if (c->receive_paused) {
        /* Stop the multishot recv; what it still delivers is held. */
        if (c->receive_armed && !c->receive_cancel_in_flight) {
            if (submit_cancel(t, c, URING_OP_RECV, URING_OP_CANCEL_RECV))
                c->receive_cancel_in_flight = true;
            else
                attention_add(t, c);
        }
        return;
    }
    if (byte_buffer_length(&c->held) > 0) {
        /* Deliver a copy's worth in one call; the shard may pause or close
         * again meanwhile, so take the bytes out of `held` first. */
        struct byte_buffer held = c->held;
        memset(&c->held, 0, sizeof c->held);
        t->callbacks.received(t->shard, c->user, held.data + held.offset, byte_buffer_length(&held));
        /* Nothing refills `held` during the call (recv completions are not
         * reaped inside callbacks): keep the allocation for next time. */
        assert(c->held.data == NULL);
        held.offset = held.size = 0;
        c->held = held;
        byte_buffer_reset(&c->held, TRANSPORT_URING_BUFFER_KEEP_BYTES);
        attention_add(t, c); /* re-check: maybe re-arm, or the deferred close */
        return;
    }
    if (c->receive_ended) {
        connection_begin_close(t, c, c->receive_end_reason);
        return;
    }
    if (!c->receive_armed && !c->receive_cancel_in_flight) {
        if (!arm_receive(t, c))
            attention_add(t, c);
    }
}

/* Processes the attention list in bounded passes; returns true if work is
 * left (run_once then does not block). */
static bool attention_process(struct transport_uring *t)
{
    for (uint32_t round = 0; round < TRANSPORT_URING_ATTENTION_ROUNDS_MAX; round++) {
        struct connection_list work = t->attention_list;
        t->attention_list.head = t->attention_list.tail = NULL;
        if (!work.head)
            return false;
        uint32_t bound = t->slot_count;
        struct transport_connection *c;
        while (bound-- > 0 && (c = list_pop(&work, false)) != NULL) {
            c->in_attention_list = false;
            connection_attend(t, c);
        }
        assert(work.head == NULL);
    }
    return t->attention_list.head != NULL;
}

/* ---- completion handlers ----------------------------------------------- */

static void peer_format(int fd, struct transport_peer *peer)
{
    struct sockaddr_storage address;
    socklen_t length = sizeof address;
    memset(peer, 0, sizeof *peer);
    if (getpeername(fd, (struct sockaddr *)&address, &length) != 0)
        return;
    if (address.ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)&address;
        inet_ntop(AF_INET, &v4->sin_addr, peer->address, sizeof peer->address);
        peer->port = ntohs(v4->sin_port);
    } else if (address.ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&address;
        if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) /* Java shows these as IPv4 */
            inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], peer->address, sizeof peer->address);
        else
            inet_ntop(AF_INET6, &v6->sin6_addr, peer->address, sizeof peer->address);
        peer->port = ntohs(v6->sin6_port);
    }
}

static void on_accept(struct transport_uring *t, const struct io_uring_cqe *cqe)
{
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        t->accept_armed = false;
        /* An error ended it (EMFILE...): wait a little before trying again.
         * If no SQE is free, run_once re-arms. */
        if (cqe->res < 0)
            arm_accept_retry(t);
        else
            arm_accept(t);
    }
    if (cqe->res < 0)
        return;
    int fd = cqe->res;
    struct transport_connection *c = NULL;
    if (t->live_count < t->config.connections_max)
        c = slot_allocate(t);
    if (!c) {
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct transport_peer peer;
    peer_format(fd, &peer);
    c->fd = fd;
    c->state = CONNECTION_OPEN;
    t->live_count++;
    c->user = t->callbacks.accepted(t->shard, c, &peer);
    if (!c->user) {
        /* Refused: close at once, no `closed` callback. The shard cannot
         * have queued anything that needs an SQE on a refused connection. */
        if (c->in_flush_list) {
            list_remove(&t->flush_list, c, true);
            c->in_flush_list = false;
        }
        if (c->in_attention_list) {
            list_remove(&t->attention_list, c, false);
            c->in_attention_list = false;
        }
        if (c->state != CONNECTION_DYING)
            t->live_count--;
        assert(c->ops_in_flight == 0);
        close(fd);
        slot_free(t, c);
        return;
    }
    /* The shard may have closed or paused it already: attention decides. */
    if (c->state != CONNECTION_OPEN || c->receive_paused || !arm_receive(t, c))
        attention_add(t, c);
}

static void on_wake(struct transport_uring *t, const struct io_uring_cqe *cqe)
{
    t->wake_armed = false;
    arm_wake(t);
    (void)cqe; /* the count does not matter: one `woken` covers all wakes */
    /* Clear before the callback, so a wake during it causes another one.
     * acq_rel pairs with transport_wake's exchange. */
    atomic_exchange_explicit(&t->wake_pending, false, memory_order_acq_rel);
    t->callbacks.woken(t->shard);
}

static void buffer_recycle(struct transport_uring *t, uint16_t buffer_id)
{
    uint8_t *address = t->receive_buffers + (size_t)buffer_id * t->config.receive_buffer_bytes;
    io_uring_buf_ring_add(t->buffer_ring, address, t->config.receive_buffer_bytes, buffer_id,
                          (int)t->receive_buffer_mask, 0);
    io_uring_buf_ring_advance(t->buffer_ring, 1);
}

static void on_receive(struct transport_uring *t, const struct io_uring_cqe *cqe)
{
    struct transport_connection *c = connection_of(t, cqe->user_data);
    bool terminated = !(cqe->flags & IORING_CQE_F_MORE);
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        uint16_t buffer_id = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        assert(buffer_id < t->config.receive_buffer_count);
        if (cqe->res > 0) {
            const uint8_t *data =
                t->receive_buffers + (size_t)buffer_id * t->config.receive_buffer_bytes;
            if (!connection_deliver(t, c, data, (size_t)cqe->res))
                connection_begin_close(t, c, TRANSPORT_CLOSE_ERROR);
        }
        buffer_recycle(t, buffer_id); /* right after the callback */
    }
    bool ended = cqe->res == 0 || (cqe->res < 0 && cqe->res != -ENOBUFS && cqe->res != -ECANCELED);
    if (ended && c->state != CONNECTION_DYING) {
        enum transport_close_reason reason =
            cqe->res == 0 ? TRANSPORT_CLOSE_PEER : TRANSPORT_CLOSE_ERROR;
        if (c->state == CONNECTION_OPEN && byte_buffer_length(&c->held) > 0) {
            c->receive_ended = true; /* after the held bytes: see connection_attend */
            c->receive_end_reason = reason;
        } else {
            connection_begin_close(t, c, reason);
        }
    }
    if (terminated) {
        /* -ENOBUFS, a cancel, or the CQ overflowed: the attention step
         * re-arms after this batch has recycled its buffers. */
        c->receive_armed = false;
        assert(c->ops_in_flight > 0);
        c->ops_in_flight--;
        attention_add(t, c);
    }
}

static void on_send(struct transport_uring *t, const struct io_uring_cqe *cqe)
{
    struct transport_connection *c = connection_of(t, cqe->user_data);
    assert(c->send_in_flight && c->ops_in_flight > 0);
    c->send_in_flight = false;
    c->ops_in_flight--;
    if (c->state == CONNECTION_DYING) {
        attention_add(t, c);
        return;
    }
    if (cqe->res < 0) {
        connection_begin_close(t, c, TRANSPORT_CLOSE_ERROR);
        return;
    }
    c->sending.offset += (size_t)cqe->res;
    assert(c->sending.offset <= c->sending.size);
    if (byte_buffer_length(&c->sending) == 0) {
        byte_buffer_reset(&c->sending, TRANSPORT_URING_BUFFER_KEEP_BYTES);
        if (byte_buffer_length(&c->pending) == 0) {
            if (c->state == CONNECTION_CLOSING)
                attention_add(t, c);
            return;
        }
    }
    flush_list_add(t, c); /* the rest of a partial send, or what queued meanwhile */
}

static void on_cancel(struct transport_uring *t, const struct io_uring_cqe *cqe, bool receive)
{
    struct transport_connection *c = connection_of(t, cqe->user_data);
    assert(c->ops_in_flight > 0);
    c->ops_in_flight--;
    if (receive)
        c->receive_cancel_in_flight = false;
    else
        c->send_cancel_in_flight = false;
    attention_add(t, c);
}

static void dispatch(struct transport_uring *t, const struct io_uring_cqe *cqe)
{
    switch (user_data_op(cqe->user_data)) {
    case URING_OP_ACCEPT: on_accept(t, cqe); break;
    case URING_OP_WAKE: on_wake(t, cqe); break;
    case URING_OP_RECV: on_receive(t, cqe); break;
    case URING_OP_SEND: on_send(t, cqe); break;
    case URING_OP_CANCEL_RECV: on_cancel(t, cqe, true); break;
    case URING_OP_CANCEL_SEND: on_cancel(t, cqe, false); break;
    case URING_OP_ACCEPT_RETRY:
        t->accept_armed = false;
        arm_accept(t);
        break;
    default: assert(!"unknown io_uring op in user_data");
    }
}

/* ---- transport_ops ------------------------------------------------------ */

static struct transport_uring *uring_of(struct transport *transport)
{
    return (struct transport_uring *)transport;
}

/* Preps one send per connection with queued bytes and none in flight. */
static void flush_prepare(struct transport_uring *t)
{
    uint32_t bound = t->slot_count;
    struct connection_list retry = {NULL, NULL};
    struct transport_connection *c;
    while (bound-- > 0 && (c = list_pop(&t->flush_list, true)) != NULL) {
        c->in_flush_list = false;
        if (c->state != CONNECTION_OPEN && c->state != CONNECTION_CLOSING)
            continue;
        if (c->send_in_flight)
            continue; /* its completion puts it back on the list */
        if (byte_buffer_length(&c->sending) == 0) {
            if (byte_buffer_length(&c->pending) == 0)
                continue;
            struct byte_buffer swap = c->sending;
            c->sending = c->pending;
            c->pending = swap;
            c->pending.offset = c->pending.size = 0;
        }
        if (!submit_send(t, c)) {
            c->in_flush_list = true;
            list_push(&retry, c, true);
        }
    }
    while ((c = list_pop(&retry, true)) != NULL) {
        c->in_flush_list = false;
        flush_list_add(t, c);
    }
}

static void enable_ring_once(struct transport_uring *t)
{
    if (!t->ring_enabled) {
        /* Created disabled so that the thread that first runs it (the
         * shard), not the one that created it, becomes the single issuer. */
        /* Raw syscall: Debian's liburing 2.3 declares
         * io_uring_enable_rings but its .so does not export it. */
        long rc = syscall(__NR_io_uring_register, t->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS,
                          NULL, 0);
        assert(rc == 0);
        (void)rc;
        t->ring_enabled = true;
    }
}

static void uring_flush(struct transport *transport)
{
    struct transport_uring *t = uring_of(transport);
    enable_ring_once(t);
    flush_prepare(t);
    io_uring_submit(&t->ring);
}

static int uring_run_once(struct transport *transport, int timeout_ms)
{
    struct transport_uring *t = uring_of(transport);
    assert(!t->dispatching);
    enable_ring_once(t);
    t->dispatching = true;
    bool work_left = attention_process(t);
    if (!t->accept_armed)
        arm_accept(t);
    if (!t->wake_armed)
        arm_wake(t);
    flush_prepare(t);

    struct io_uring_cqe *cqe = NULL;
    int rc;
    if (work_left || timeout_ms == 0) {
        rc = io_uring_submit_and_get_events(&t->ring);
    } else if (timeout_ms < 0) {
        rc = io_uring_submit_and_wait_timeout(&t->ring, &cqe, 1, NULL, NULL);
    } else {
        struct __kernel_timespec timeout = {
            .tv_sec = timeout_ms / 1000,
            .tv_nsec = (long long)(timeout_ms % 1000) * 1000000,
        };
        rc = io_uring_submit_and_wait_timeout(&t->ring, &cqe, 1, &timeout, NULL);
    }
    if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EAGAIN && rc != -EBUSY) {
        t->dispatching = false;
        return rc;
    }

    struct io_uring_cqe *cqes[TRANSPORT_URING_CQE_BATCH_MAX];
    for (uint32_t batch = 0; batch < TRANSPORT_URING_CQE_BATCHES_MAX; batch++) {
        unsigned count = io_uring_peek_batch_cqe(&t->ring, cqes, TRANSPORT_URING_CQE_BATCH_MAX);
        if (count == 0)
            break;
        for (unsigned i = 0; i < count; i++)
            dispatch(t, cqes[i]);
        io_uring_cq_advance(&t->ring, count);
    }
    attention_process(t);
    t->dispatching = false;
    return 0;
}

static bool uring_send(struct transport *transport, struct transport_connection *c,
                       const void *data, size_t size)
{
    struct transport_uring *t = uring_of(transport);
    assert(c->owner == t && c->state != CONNECTION_FREE);
    if (c->state != CONNECTION_OPEN)
        return false;
    if (size == 0)
        return true;
    size_t queued = byte_buffer_length(&c->sending) + byte_buffer_length(&c->pending);
    size_t max = t->config.send_buffer_bytes_max;
    if (queued + size > max || !byte_buffer_append(&c->pending, data, size, max)) {
        connection_begin_close(t, c, TRANSPORT_CLOSE_SEND_FULL);
        return false;
    }
    flush_list_add(t, c);
    return true;
}

static void uring_close(struct transport *transport, struct transport_connection *c)
{
    struct transport_uring *t = uring_of(transport);
    assert(c->owner == t && c->state != CONNECTION_FREE);
    if (c->state != CONNECTION_OPEN)
        return;
    c->state = CONNECTION_CLOSING;
    byte_buffer_reset(&c->held, 0);
    attention_add(t, c);
}

static void uring_set_receive_paused(struct transport *transport, struct transport_connection *c,
                                     bool paused)
{
    struct transport_uring *t = uring_of(transport);
    assert(c->owner == t && c->state != CONNECTION_FREE);
    if (c->receive_paused == paused)
        return;
    c->receive_paused = paused;
    attention_add(t, c);
}

static void uring_wake(struct transport *transport)
{
    struct transport_uring *t = uring_of(transport);
    /* One eventfd write per `woken`: later wakes see the flag and skip. */
    if (atomic_exchange_explicit(&t->wake_pending, true, memory_order_acq_rel))
        return;
    uint64_t one = 1;
    ssize_t written = write(t->wake_fd, &one, sizeof one);
    (void)written; /* EAGAIN means the counter is already non-zero: woken anyway */
}

static size_t uring_queued_bytes(struct transport *transport, struct transport_connection *c)
{
    (void)transport;
    return byte_buffer_length(&c->sending) + byte_buffer_length(&c->pending);
}

static void uring_destroy(struct transport *transport)
{
    struct transport_uring *t = uring_of(transport);
    if (!t)
        return;
    /* `closed` is not called for connections still open: the shard is
     * going away with its transport. Exiting the ring cancels every op, but
     * the kernel finishes that teardown later, on its own, and until then
     * the pending multishot accept keeps the listening socket alive (in
     * LISTEN), so a server restarted at once could not bind. shutdown()
     * takes the socket out of LISTEN now, whoever still holds it. */
    if (t->listen_fd >= 0)
        shutdown(t->listen_fd, SHUT_RDWR);
    io_uring_queue_exit(&t->ring);
    for (uint32_t i = 0; i < t->slot_count; i++) {
        struct transport_connection *c = &t->slots[i];
        if (c->state != CONNECTION_FREE && c->fd >= 0)
            close(c->fd);
        free(c->held.data);
        free(c->sending.data);
        free(c->pending.data);
    }
    free(t->slots);
    if (t->buffer_ring)
        munmap(t->buffer_ring, t->buffer_ring_bytes);
    free(t->receive_buffers);
    if (t->listen_fd >= 0)
        close(t->listen_fd);
    if (t->wake_fd >= 0)
        close(t->wake_fd);
    free(t);
}

static const struct transport_ops uring_ops = {
    .run_once = uring_run_once,
    .send = uring_send,
    .flush = uring_flush,
    .close = uring_close,
    .set_receive_paused = uring_set_receive_paused,
    .wake = uring_wake,
    .destroy = uring_destroy,
    .queued_bytes = uring_queued_bytes,
};

/* ---- creation ------------------------------------------------------------ */

static int listener_open(const struct transport_config *config, char *error, size_t error_bytes)
{
    struct sockaddr_storage address;
    socklen_t length;
    memset(&address, 0, sizeof address);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&address;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&address;
    if (inet_pton(AF_INET, config->listen_address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(config->listen_port);
        length = sizeof *v4;
    } else if (inet_pton(AF_INET6, config->listen_address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(config->listen_port);
        length = sizeof *v6;
    } else {
        snprintf(error, error_bytes, "listen address %s:%u: not a numeric IPv4 or IPv6 address",
                 config->listen_address, (unsigned)config->listen_port);
        return -1;
    }
    const char *step = "socket";
    int fd = socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) {
        step = "setsockopt SO_REUSEADDR";
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
            (step = "setsockopt SO_REUSEPORT",
             setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0) &&
            (step = "bind", bind(fd, (struct sockaddr *)&address, length) == 0) &&
            (step = "listen", listen(fd, TRANSPORT_URING_LISTEN_BACKLOG) == 0))
            return fd;
    }
    int saved = errno;
    snprintf(error, error_bytes, "listen on %s%s%s:%u: %s: %s",
             address.ss_family == AF_INET6 ? "[" : "", config->listen_address,
             address.ss_family == AF_INET6 ? "]" : "", (unsigned)config->listen_port, step,
             strerror(saved));
    if (fd >= 0)
        close(fd);
    return -1;
}

static int ring_setup(struct transport_uring *t)
{
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_R_DISABLED | IORING_SETUP_SINGLE_ISSUER |
                   IORING_SETUP_DEFER_TASKRUN;
    params.cq_entries = TRANSPORT_URING_SQ_ENTRIES * TRANSPORT_URING_CQ_FACTOR;
    int rc = io_uring_queue_init_params(TRANSPORT_URING_SQ_ENTRIES, &t->ring, &params);
    if (rc == -EINVAL) {
        /* Kernels before 6.1 refuse DEFER_TASKRUN (and before 6.0
         * SINGLE_ISSUER): run without them; completions are then processed
         * by task work at any kernel entry, which is correct, only slower. */
        memset(&params, 0, sizeof params);
        params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_R_DISABLED;
        params.cq_entries = TRANSPORT_URING_SQ_ENTRIES * TRANSPORT_URING_CQ_FACTOR;
        rc = io_uring_queue_init_params(TRANSPORT_URING_SQ_ENTRIES, &t->ring, &params);
    }
    return rc;
}

static int buffer_ring_setup(struct transport_uring *t)
{
    uint32_t count = t->config.receive_buffer_count;
    t->buffer_ring_bytes = (size_t)count * sizeof(struct io_uring_buf);
    void *memory = mmap(NULL, t->buffer_ring_bytes, PROT_READ | PROT_WRITE,
                        MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (memory == MAP_FAILED)
        return -errno;
    t->buffer_ring = memory;
    t->receive_buffers = malloc((size_t)count * t->config.receive_buffer_bytes);
    if (!t->receive_buffers)
        return -ENOMEM;
    struct io_uring_buf_reg registration;
    memset(&registration, 0, sizeof registration);
    registration.ring_addr = (uint64_t)(uintptr_t)t->buffer_ring;
    registration.ring_entries = count;
    registration.bgid = TRANSPORT_URING_BUFFER_GROUP;
    int rc = io_uring_register_buf_ring(&t->ring, &registration, 0);
    if (rc < 0)
        return rc;
    io_uring_buf_ring_init(t->buffer_ring);
    t->receive_buffer_mask = (uint32_t)io_uring_buf_ring_mask(count);
    for (uint32_t i = 0; i < count; i++)
        io_uring_buf_ring_add(t->buffer_ring, t->receive_buffers + (size_t)i * t->config.receive_buffer_bytes,
                              t->config.receive_buffer_bytes, (unsigned short)i,
                              (int)t->receive_buffer_mask, (int)i);
    io_uring_buf_ring_advance(t->buffer_ring, (int)count);
    return 0;
}

static bool config_check(const struct transport_config *config, char *error, size_t error_bytes)
{
    const char *problem = NULL;
    if (!config->listen_address)
        problem = "no listen address";
    else if (config->connections_max == 0 || config->connections_max > TRANSPORT_URING_CONNECTIONS_MAX)
        problem = "connections_max out of range";
    else if (config->send_buffer_bytes_max == 0)
        problem = "send_buffer_bytes_max is 0";
    else if (config->receive_buffer_bytes == 0 ||
             config->receive_buffer_bytes > TRANSPORT_URING_RECEIVE_BUFFER_BYTES_MAX)
        problem = "receive_buffer_bytes out of range";
    else if (config->receive_buffer_count == 0 ||
             config->receive_buffer_count > TRANSPORT_URING_RECEIVE_BUFFERS_MAX ||
             (config->receive_buffer_count & (config->receive_buffer_count - 1)) != 0)
        problem = "receive_buffer_count is not a power of two in 1..32768";
    if (problem)
        snprintf(error, error_bytes, "transport on %s:%u: %s",
                 config->listen_address ? config->listen_address : "?",
                 (unsigned)config->listen_port, problem);
    return problem == NULL;
}

struct transport *transport_uring_create(const struct transport_config *config,
                                         const struct transport_callbacks *callbacks,
                                         void *shard, char *error, size_t error_bytes)
{
    if (!config_check(config, error, error_bytes))
        return NULL;
    struct transport_uring *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(error, error_bytes, "transport on %s:%u: %s", config->listen_address,
                 (unsigned)config->listen_port, strerror(ENOMEM));
        return NULL;
    }
    t->base.ops = &uring_ops;
    t->callbacks = *callbacks;
    t->shard = shard;
    t->config = *config;
    t->listen_fd = -1;
    t->wake_fd = -1;
    t->ring.ring_fd = -1;
    atomic_init(&t->wake_pending, false);

    const char *step = "io_uring setup";
    int rc = ring_setup(t);
    if (rc < 0) {
        t->ring.ring_fd = -1;
        goto fail;
    }
    step = "provided buffer ring";
    rc = buffer_ring_setup(t);
    if (rc < 0)
        goto fail;
    step = "eventfd";
    t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (t->wake_fd < 0) {
        rc = -errno;
        goto fail;
    }
    uint32_t dying_slots = config->connections_max < TRANSPORT_URING_DYING_SLOTS_MAX
                               ? config->connections_max : TRANSPORT_URING_DYING_SLOTS_MAX;
    t->slot_count = config->connections_max + dying_slots;
    t->slots = calloc(t->slot_count, sizeof *t->slots);
    if (!t->slots) {
        rc = -ENOMEM;
        step = "connection table";
        goto fail;
    }
    t->free_head = UINT32_MAX;
    for (uint32_t i = t->slot_count; i-- > 0;) {
        t->slots[i].slot = i;
        t->slots[i].fd = -1;
        t->slots[i].next_free = t->free_head;
        t->free_head = i;
    }
    t->listen_fd = listener_open(config, error, error_bytes);
    if (t->listen_fd < 0) {
        uring_destroy(&t->base);
        return NULL;
    }
    /* Prepared now, submitted by the first run_once on the owning thread. */
    if (!arm_accept(t) || !arm_wake(t)) {
        rc = -EBUSY;
        step = "first submissions";
        goto fail;
    }
    return &t->base;

fail:
    snprintf(error, error_bytes, "transport on %s:%u: %s: %s", config->listen_address,
             (unsigned)config->listen_port, step, strerror(-rc));
    if (t->ring.ring_fd < 0) {
        /* io_uring_queue_exit must not run on a ring that never existed. */
        free(t->slots);
        if (t->wake_fd >= 0)
            close(t->wake_fd);
        free(t);
        return NULL;
    }
    uring_destroy(&t->base);
    return NULL;
}
