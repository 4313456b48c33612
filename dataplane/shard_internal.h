/* The shard's own structs and helpers, shared by its two files: shard.c
 * (connections, requests, reads, watches) and shard_fourlw.c (the
 * four-letter words that look at connections and watches across shards).
 * Nothing outside dataplane/shard*.c includes this. */
#ifndef CHEETAH_SHARD_INTERNAL_H
#define CHEETAH_SHARD_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "consensus/pipeline.h"
#include "dataplane/ring.h"
#include "dataplane/shard.h"
#include "dataplane/transport.h"
#include "dataplane/watch.h"
#include "jute/jute.h"

enum connection_state {
    CONNECTION_NEW = 0,        /* waiting for ConnectRequest (or a 4lw) */
    CONNECTION_CONNECTING = 1, /* ConnectRequest sent to the core */
    CONNECTION_READY = 2,      /* session established */
    CONNECTION_CLOSING = 3,    /* closed or closing: ignore its input */
    CONNECTION_GATHERING = 4,  /* a four-letter word waiting for every shard's part */
};

enum pending_kind {
    PENDING_READ = 0,  /* answered here, when every earlier request is done */
    PENDING_WRITE = 1, /* answered by the core */
};

struct pending_request {
    struct pending_request *next;
    enum pending_kind kind;
    int32_t xid;
    int32_t opcode;
    bool sent_to_core;
    int64_t received_ms;
    uint8_t *payload; /* owned copy of the frame payload (reads only) */
    size_t payload_size;
};

struct connection {
    uint64_t id;
    uint32_t slot;
    struct transport_connection *handle;
    struct transport_peer peer;
    enum connection_state state;
    bool ip_counted;
    bool four_letter_word; /* the connection is answering a four-letter word */
    /* Bytes of an incomplete frame. */
    uint8_t *input;
    size_t input_size;
    size_t input_capacity;
    /* Session. */
    int64_t session_id;
    int32_t timeout_ms;
    bool client_sent_read_only;
    bool touched;
    int64_t last_heard_ms;
    int64_t established_ms;
    /* Auth ids, ip first (ZooKeeper adds the client address at connect). */
    struct store_auth *auth;
    /* Requests in arrival order. */
    struct pending_request *pending_head;
    struct pending_request *pending_tail;
    uint32_t pending_count;
    bool receive_paused;
    bool runnable_queued;
    struct connection *runnable_next;
    /* For cons. */
    int64_t packets_received;
    int64_t packets_sent;
    int32_t last_cxid;
    int64_t last_zxid;
    int32_t last_opcode;
    int64_t last_response_ms;
    int64_t latency_min_ms;
    int64_t latency_max_ms;
    int64_t latency_total_ms;
    int64_t latency_count;
};

struct shard {
    struct server *server;
    uint32_t index;
    struct shard_settings settings;
    /* The tree this shard reads and its reader there. SHARD_MESSAGE_TREE
     * replaces both (switch_tree); the old ones are never touched again. */
    struct store_tree *tree;
    struct store_reader *reader;
    uint64_t tree_generation; /* of the last SHARD_MESSAGE_TREE; 0 = the first tree */
    /* processed_zxid when the shard switched trees: commits up to it that
     * arrive after the switch were already in the new tree (see
     * process_commit). */
    int64_t tree_switch_zxid;
    /* SHARD_MESSAGE_SERVING: false while an ensemble member has no role.
     * Then no connection gets a session and four-letter words answer
     * "not currently serving" as ZooKeeper's do. */
    bool serving;
    uint64_t refused_not_serving_count; /* since the last log line about them */
    /* A read is using node pointers from `tree` (execute_read): the tree
     * must not change under it. */
    bool reading;
    struct transport *transport;
    struct watch_table *watches;
    struct spsc_ring inbound;  /* core -> shard: struct shard_message * */
    struct spsc_ring outbound; /* shard -> core: struct core_request * */
    /* Requests the outbound ring had no room for, in order. */
    struct core_request **overflow;
    size_t overflow_count;
    size_t overflow_capacity;
    int64_t processed_zxid;
    bool skip_watch_catch_up; /* test hook: see test_hooks.h */
    _Atomic bool stop_requested;
    /* Connections by slot; an id is (generation << 32 | slot). */
    struct connection **slots;
    uint32_t *generations;
    uint32_t slot_count;
    uint32_t *free_slots;
    uint32_t free_count;
    struct connection *runnable_head;
    int64_t next_touch_ms;
    int64_t next_idle_check_ms;
    /* Scratch. */
    uint8_t *arena_bytes;
    struct jute_writer reply;
    /* For frames made while processing inbound messages (watch events,
     * ConnectResponses): a read's catch-up runs in the middle of building
     * its reply in `reply`, so these must not share it. */
    struct jute_writer notify;
    struct shard_counters counters;
};

/* Helpers (shard.c). */
int64_t monotonic_ms(void);
void counter_add(_Atomic int64_t *counter, int64_t delta);
struct connection *connection_by_id(struct shard *shard, uint64_t id);
void frame_begin(struct jute_writer *out, int32_t xid, int64_t zxid, int32_t err);
void frame_end(struct jute_writer *out);
void send_bytes(struct shard *shard, struct connection *connection, const uint8_t *data,
                size_t size);
void close_connection(struct shard *shard, struct connection *connection, const char *why);
void push_core_request(struct shard *shard, struct core_request *request);

/* Four-letter words that gather from every shard (shard_fourlw.c). */
/* Starts one if `word` is such a word and allowed; returns false otherwise. */
bool shard_fourlw_start_gather(struct shard *shard, struct connection *connection,
                               const uint8_t word[4]);
/* SHARD_MESSAGE_GATHER: sends this shard's part to the core. */
void shard_fourlw_send_part(struct shard *shard, const struct shard_message *message);
/* SHARD_MESSAGE_GATHERED: answers the asking connection and closes it. */
void shard_fourlw_answer(struct shard *shard, const struct shard_message *message);
/* While the shard is not serving: writes what ZooKeeper answers `word`
 * with then (AbstractFourLetterCommand: "This ZooKeeper instance is not
 * currently serving requests", isro "null") and returns true; returns false
 * for the words that answer as always (ruok, envi, gtmk, stmk, telnet
 * close) and for words the whitelist refuses (the refusal comes first). */
bool shard_fourlw_write_not_serving(struct shard *shard, const uint8_t word[4],
                                    struct jute_writer *out);

#endif
