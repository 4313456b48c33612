/* A shard: one thread that owns its connections end to end (transport,
 * framing, handshake, the session's request queue, reads from the tree,
 * watches and replies). Shards share nothing mutable with each other; they
 * talk to the consensus core through two bounded rings each.
 */
#ifndef CHEETAH_SHARD_H
#define CHEETAH_SHARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consensus/pipeline.h"
#include "store/store.h"

struct shard;
struct server;
struct dpdk_port;

/* What a shard needs to know, filled from zoo.cfg by the server. */
struct shard_settings {
    const char *listen_address;
    uint16_t listen_port;
    int32_t tick_ms;
    int32_t min_session_timeout_ms;
    int32_t max_session_timeout_ms;
    uint32_t jute_maxbuffer_bytes;
    uint32_t connections_max;          /* per shard */
    uint32_t connection_pending_max;   /* requests queued per connection before pausing */
    uint32_t send_buffer_bytes_max;    /* per connection */
    uint32_t sessionless_timeout_ms;   /* close connections that never send ConnectRequest */
    size_t watches_max;                /* per shard */
    const char *super_digest;          /* "super:<base64 sha1>" or NULL */
    bool skip_acl;
    /* An ensemble member: take no clients until the core sends
     * SHARD_MESSAGE_SERVING true (a client accepted before the core's first
     * message must not get a session from a server that has no role yet).
     * False, the zero value, is standalone: serving from the start. */
    bool starts_not_serving;
    /* cheetah.dataplane=dpdk: the port whose queue pair `shard_index` this
     * shard polls (transport_dpdk.h); NULL: the io_uring transport. */
    struct dpdk_port *dpdk_port;
};

/* Counters that the four-letter words read from any thread. */
struct shard_counters {
    _Atomic int64_t packets_received;
    _Atomic int64_t packets_sent;
    _Atomic int64_t connections;
    _Atomic int64_t outstanding_requests;
    _Atomic int64_t latency_total_ms;
    _Atomic int64_t latency_count;
    _Atomic int64_t latency_min_ms;
    _Atomic int64_t latency_max_ms;
    _Atomic int64_t watch_count;
    _Atomic int64_t connections_refused;
    _Atomic int64_t connections_closed_bad_input;
};

struct shard *shard_create(struct server *server, uint32_t shard_index,
                           const struct shard_settings *settings, struct store_tree *tree,
                           char *error, size_t error_bytes);
void shard_destroy(struct shard *shard);
/* The thread body: runs until shard_stop. */
int shard_run(struct shard *shard);
/* Thread-safe. */
void shard_stop(struct shard *shard);

/* Core -> shard: hands a message over (thread-safe for the one core
 * thread). Returns false when the ring is full; the core keeps it and
 * retries. */
bool shard_deliver(struct shard *shard, struct shard_message *message);
/* Wakes the shard after one or more deliveries (thread-safe). */
void shard_wake(struct shard *shard);
/* Shard -> core: the next request the core should handle, or NULL. Only the
 * core thread calls it. */
struct core_request *shard_take_core_request(struct shard *shard);

const struct shard_counters *shard_counters(const struct shard *shard);
void shard_counters_reset(struct shard *shard);
/* The core's check before it sleeps (core thread only). */
bool shard_has_core_requests(struct shard *shard);

#endif
