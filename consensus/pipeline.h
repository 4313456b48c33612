/* The messages that travel between the shards and the consensus core.
 *
 * A shard hands the core everything that must be ordered with the writes:
 * write requests, session creation and revalidation, session activity, and
 * the few reads ZooKeeper answers from the commit pipeline (sync,
 * getEphemerals). The core answers with shard messages, in commit order.
 *
 * Guarantee 4 (watch before data) rests on one rule here: a shard message
 * for commit Z carries Z's changes, and the core pushes it to every shard
 * right after Z is applied to the tree. A shard that reads a node whose
 * version_zxid is newer than the last commit it has processed drains its
 * inbound ring up to that zxid (firing the watches) before it answers.
 *
 * Plain structs only: no I/O, no threads. Ownership is written per field.
 */
#ifndef CHEETAH_PIPELINE_H
#define CHEETAH_PIPELINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#include "consensus/java_random.h"

enum core_request_kind {
    CORE_REQUEST_WRITE = 1,       /* a request that goes through the sequencer */
    CORE_REQUEST_CONNECT = 2,     /* new session (session_id 0) or reconnect */
    CORE_REQUEST_TOUCH = 3,       /* sessions heard from since the last touch */
    CORE_REQUEST_DISCONNECTED = 4, /* a connection that owned session_id closed */
    CORE_REQUEST_GATHER = 5,      /* a four-letter word needs every shard's part */
    CORE_REQUEST_GATHER_PART = 6, /* one shard's part of a gather */
    /* The shard reads the tree of the SHARD_MESSAGE_TREE it was sent
     * (tree_generation) and no longer the one before. */
    CORE_REQUEST_TREE_SWITCHED = 7,
};

/* One shard's part of a four-letter word that looks across shards (cons,
 * wchc, dump, ...): opaque here, made and read by the shards. */
struct gather_part {
    void *data;
    void (*free_data)(void *data);
};

/* Shard -> core. Allocated by the shard; freed by the core. */
struct core_request {
    enum core_request_kind kind;
    uint32_t shard_index;
    uint64_t connection_id;
    int64_t session_id;
    /* WRITE */
    int32_t xid;
    int32_t opcode;
    struct store_auth *auth; /* owned copy of the session's ids */
    uint8_t *body;           /* owned copy of the request body (after the header) */
    size_t body_bytes;
    /* CONNECT */
    int32_t timeout_ms; /* already negotiated into [min, max] */
    bool password_valid; /* reconnect: the shard checked the password */
    /* TOUCH */
    int64_t *session_ids; /* owned */
    size_t session_count;
    /* GATHER (command: enum fourlw_command) and GATHER_PART (part: owned) */
    int32_t gather_command;
    uint64_t gather_id;
    struct gather_part part;
    /* TREE_SWITCHED */
    uint64_t tree_generation;
};

/* One commit, shared by every shard's message for it (refcounted). */
struct commit_record {
    _Atomic int32_t references;
    int64_t zxid;
    struct store_change_list changes;
    int64_t closed_session_id; /* != 0: this commit closed that session */
};

enum shard_message_kind {
    SHARD_MESSAGE_COMMIT = 1,     /* changes of a commit, maybe with a reply */
    SHARD_MESSAGE_REPLY = 2,      /* a reply that made no transaction */
    SHARD_MESSAGE_CONNECTED = 3,  /* answer to CORE_REQUEST_CONNECT */
    SHARD_MESSAGE_CLOSE_CONNECTION = 4, /* the session moved to another connection */
    SHARD_MESSAGE_GATHER = 5,     /* please send your part of gather_id */
    SHARD_MESSAGE_GATHERED = 6,   /* every shard's part, for the asking connection */
    /* The server starts (serving) or stops serving clients: an ensemble
     * member between roles closes every client connection, as ZooKeeper's
     * closeAllConnections, and takes none until a role begins again. */
    SHARD_MESSAGE_SERVING = 7,
    /* Read `tree` from now on (the tree was rebuilt after a TRUNC or a SNAP
     * from the leader, while not serving): move the shard's store reader to
     * it, then answer CORE_REQUEST_TREE_SWITCHED with tree_generation. The
     * old tree is freed once every shard has switched. */
    SHARD_MESSAGE_TREE = 8,
};

/* What `dump` prints of the sessions (SessionTracker and ephemerals), as
 * the core holds them. Times are the core's monotonic clock. */
struct session_dump {
    int64_t now_elapsed_ms;
    size_t bucket_count;
    int64_t *bucket_expiry_elapsed_ms; /* bucket_count of them, earliest first */
    size_t *bucket_session_counts;     /* bucket_count of them */
    int64_t *bucket_session_ids;       /* every session, bucket by bucket */
    size_t ephemeral_session_count;
    int64_t *ephemeral_session_ids;    /* sessions that own ephemerals */
    size_t *ephemeral_path_counts;
    struct store_change_list ephemeral_paths; /* every path, session by session */
};
void session_dump_free(struct session_dump *dump);

/* Core -> shard. Allocated by the core; freed by the shard. */
struct shard_message {
    enum shard_message_kind kind;
    struct commit_record *commit; /* COMMIT: one reference owned by this message */
    /* A reply for one of this shard's connections (has_reply). */
    bool has_reply;
    uint64_t connection_id;
    int32_t xid;
    int32_t opcode;
    int32_t err;
    uint8_t *reply_bytes; /* owned: the whole frame (length prefix included) */
    size_t reply_bytes_size;
    bool close_after_reply; /* closeSession */
    /* GATHER and GATHERED */
    uint64_t gather_id;
    int32_t gather_command;
    struct gather_part *parts; /* GATHERED: one per shard, owned */
    size_t part_count;
    struct session_dump *dump; /* GATHERED for dump: the sessions, owned */
    /* SERVING */
    bool serving;
    /* TREE */
    struct store_tree *tree;
    uint64_t tree_generation;
    /* CONNECTED */
    bool session_valid;
    int64_t session_id;
    int32_t timeout_ms;
    uint8_t password[ZK_SESSION_PASSWORD_BYTES];
};

/* One transaction on its way to the log (sequencer -> log writer). Made by
 * the sequencer when it prepares the transaction; the log writer reads it
 * and publishes "durable up to zxid"; the sequencer applies it and frees it
 * only after that, so the writer never sees it freed. Immutable once
 * handed over. */
struct log_record {
    int64_t zxid;
    /* Start a new log file with this transaction (ZooKeeper's rollLog,
     * after snapCount transactions). */
    bool roll_before;
    uint32_t txn_bytes;
    uint8_t txn[]; /* TxnHeader + record, as store_prepare made them */
};

void commit_record_release(struct commit_record *commit);
void shard_message_free(struct shard_message *message);
void gather_part_free(struct gather_part *part);
void core_request_free(struct core_request *request);
/* Copies `auth` (and every byte it points to) into one allocation. */
struct store_auth *store_auth_copy(const struct store_auth *auth);

#endif
