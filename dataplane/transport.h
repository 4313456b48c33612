/* The per-shard transport: the only thing a shard knows about the network.
 *
 * One transport instance per shard thread, owned by that thread (every call
 * except transport_wake is made from the owning thread). The io_uring
 * transport (transport_uring.c) is the default; the DPDK transport of a
 * later issue implements the same table. Nothing above this header includes
 * liburing or socket headers.
 *
 * Flow: the shard calls transport_run_once(), which waits (blocking, up to
 * timeout_ms) for completions and calls back into the shard: a connection
 * was accepted, bytes arrived, a connection closed, another thread woke us.
 * Replies are queued with transport_send (copied into the connection's
 * bounded send buffer) and go out in one batch at transport_flush.
 */
#ifndef CHEETAH_TRANSPORT_H
#define CHEETAH_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct transport;
struct transport_connection; /* opaque handle, valid until the closed callback returns */

/* Why a connection closed (for logs and counters). */
enum transport_close_reason {
    TRANSPORT_CLOSE_PEER = 0,       /* the peer closed (EOF) */
    TRANSPORT_CLOSE_ERROR = 1,      /* socket error (reset, ...) */
    TRANSPORT_CLOSE_LOCAL = 2,      /* transport_close was called */
    TRANSPORT_CLOSE_SEND_FULL = 3,  /* the send buffer limit was reached */
};

struct transport_peer {
    char address[64]; /* numeric IPv4/IPv6 address, as ZooKeeper's ip scheme sees it */
    uint16_t port;
};

/* Callbacks into the shard. `user` is what `accepted` returned. */
struct transport_callbacks {
    /* Return the shard's per-connection pointer, or NULL to refuse (the
     * transport then closes the socket at once; `closed` is not called). */
    void *(*accepted)(void *shard, struct transport_connection *connection,
                      const struct transport_peer *peer);
    /* Bytes arrived, in order. The data is valid only during the call. */
    void (*received)(void *shard, void *user, const uint8_t *data, size_t size);
    /* The connection is gone; its handle is invalid after this returns. */
    void (*closed)(void *shard, void *user, enum transport_close_reason reason);
    /* Another thread called transport_wake. */
    void (*woken)(void *shard);
};

struct transport_config {
    const char *listen_address; /* numeric IPv4 or IPv6, e.g. "127.0.0.1" or "0.0.0.0" */
    uint16_t listen_port;
    uint32_t connections_max;      /* per shard; accepts beyond it are closed */
    uint32_t send_buffer_bytes_max; /* per connection; beyond it the connection closes */
    uint32_t receive_buffer_bytes;  /* size of each provided receive buffer */
    uint32_t receive_buffer_count;  /* provided buffers per shard (a power of two) */
};

/* Creates the shard's transport and its SO_REUSEPORT listener. On failure
 * returns NULL and writes a message (naming the address and the errno text)
 * into `error` (error_bytes long). */
struct transport *transport_uring_create(const struct transport_config *config,
                                         const struct transport_callbacks *callbacks,
                                         void *shard, char *error, size_t error_bytes);

struct transport_ops {
    /* Waits up to timeout_ms (0 = poll, -1 = until something happens) and
     * dispatches every completion; flushes queued sends before waiting.
     * Returns 0, or a negative errno on a fatal error. */
    int (*run_once)(struct transport *transport, int timeout_ms);
    /* Queues bytes on a connection; returns false (and closes the connection
     * with TRANSPORT_CLOSE_SEND_FULL, calling `closed` later) if the
     * connection's send buffer would exceed send_buffer_bytes_max. */
    bool (*send)(struct transport *transport, struct transport_connection *connection,
                 const void *data, size_t size);
    /* Submits every queued send (one batch). */
    void (*flush)(struct transport *transport);
    /* Closes after queued sends have gone out (ZooKeeper sends the reply to
     * closeSession, then closes). `closed` is called later. */
    void (*close)(struct transport *transport, struct transport_connection *connection);
    /* Stops or restarts delivering received bytes for one connection
     * (backpressure while its requests are pending). */
    void (*set_receive_paused)(struct transport *transport,
                               struct transport_connection *connection, bool paused);
    /* Thread-safe: makes the owner's run_once return soon (calls `woken`). */
    void (*wake)(struct transport *transport);
    void (*destroy)(struct transport *transport);
    /* Bytes queued but not yet sent on a connection (for cons / mntr). */
    size_t (*queued_bytes)(struct transport *transport, struct transport_connection *connection);
};

/* Every transport starts with its ops table. */
struct transport {
    const struct transport_ops *ops;
};

static inline int transport_run_once(struct transport *t, int timeout_ms)
{
    return t->ops->run_once(t, timeout_ms);
}
static inline bool transport_send(struct transport *t, struct transport_connection *c,
                                  const void *data, size_t size)
{
    return t->ops->send(t, c, data, size);
}
static inline void transport_flush(struct transport *t) { t->ops->flush(t); }
static inline void transport_close(struct transport *t, struct transport_connection *c)
{
    t->ops->close(t, c);
}
static inline void transport_set_receive_paused(struct transport *t,
                                                struct transport_connection *c, bool paused)
{
    t->ops->set_receive_paused(t, c, paused);
}
static inline void transport_wake(struct transport *t) { t->ops->wake(t); }
static inline void transport_destroy(struct transport *t) { t->ops->destroy(t); }
static inline size_t transport_queued_bytes(struct transport *t, struct transport_connection *c)
{
    return t->ops->queued_bytes(t, c);
}

#endif
