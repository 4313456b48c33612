/* The quorum peer's insides, shared by peer.c (election, roles, the
 * committed log), peer_leader.c and peer_learner.c. Not for other users. */
#ifndef CHEETAH_PEER_INTERNAL_H
#define CHEETAH_PEER_INTERNAL_H

#include "consensus/peer.h"
#include "consensus/quorum_config.h"
#include "consensus/quorum_wire.h"

/* A transaction with its bytes, kept by the peer: the leader's outstanding
 * proposals and committed log, the learner's logged proposals. */
struct peer_txn {
    int64_t zxid;
    struct log_record *record; /* learner: ours, handed to the log; leader: NULL */
    uint8_t *bytes;            /* leader: a copy (the sequencer frees its record) */
    uint32_t byte_count;
    bool committed;            /* learner: COMMIT (or INFORM) seen and applied */
};

/* A bounded FIFO of peer_txn. */
struct peer_txn_queue {
    struct peer_txn *items;
    size_t capacity;
    size_t head;
    size_t count;
    size_t bytes; /* sum of byte_count */
};

enum learner_stage {
    LEARNER_WAIT_INFO = 0,      /* connected, FOLLOWERINFO not yet read */
    LEARNER_WAIT_EPOCH_ACK = 1, /* LEADERINFO sent */
    LEARNER_WAIT_SYNC = 2,      /* ACKEPOCH read, sync waits for a quorum of them */
    LEARNER_SYNCING = 3,        /* sync and NEWLEADER sent, waiting for its ACK */
    LEARNER_WAIT_START = 4,     /* NEWLEADER acked, the leader has not started */
    LEARNER_ACTIVE = 5,         /* UPTODATE sent: broadcast */
};

/* The leader's view of one learner (LearnerHandler). */
struct learner_link {
    bool used;
    uint64_t connection_id;
    int64_t id;             /* from FOLLOWERINFO; 0 before */
    bool observer;
    enum learner_stage stage;
    int64_t accepted_epoch;
    int64_t last_zxid;      /* ACKEPOCH's zxid */
    int64_t acked_zxid;     /* highest proposal ACKed */
    int64_t deadline_ms;    /* dropped when nothing arrives by then */
};

struct peer {
    struct peer_config config;
    /* Membership (consensus/quorum_config.h). `config_active` decides votes
     * and quorums; `config_last_seen` is the newest one proposed (the
     * active one when no reconfig is in flight): while they differ, a
     * proposal commits only with a quorum of both (ZooKeeper's Leader). */
    struct quorum_config *config_active;
    struct quorum_config *config_last_seen;
    struct quorum_config *config_scratch;
    int64_t reconfig_zxid;       /* the reconfig proposed and not yet active; 0: none */
    /* A learner's role cannot go on under a configuration just activated
     * (removed, type changed, another leader designated): left once the
     * packet that activated it is handled. NULL: nothing to leave for. */
    const char *leave_for_reconfig;
    int64_t designated_leader;   /* learner: the leader a COMMITANDACTIVATE names */
    bool fast_forwarding;        /* applying the logged tail as a role ends */
    char *config_text;           /* QUORUM_CONFIG_TEXT_BYTES_MAX: scratch for texts */
    struct peer_io io;
    struct sequencer *sequencer;
    struct election *election; /* NULL standalone */
    bool standalone;

    enum peer_state state;
    enum peer_phase phase;
    int64_t leader_id;
    int64_t accepted_epoch;
    int64_t current_epoch;
    int64_t last_logged_zxid;    /* handed to the log */
    int64_t durable_zxid;        /* the log says durable */
    int64_t last_committed_zxid; /* applied */
    int64_t election_started_ms;
    int64_t election_time_ms;
    int64_t role_started_ms;
    int64_t broadcast_started_ms;
    bool failed;                 /* fatal reported: do nothing more */
    /* The election's decision, taken when the election call returns. */
    bool decision_made;
    struct election_vote decision_vote;
    enum peer_state decision_state;

    /* Leaving a role: the log must catch up before the tree is fast-
     * forwarded and the next election starts. */
    bool draining;

    /* Committed log, for DIFF: entries after `committed_log_prev_zxid`. */
    struct peer_txn_queue committed_log;
    int64_t committed_log_prev_zxid;

    /* Leader. */
    int64_t epoch;                /* the new epoch (decided or candidate) */
    bool epoch_decided;
    bool epoch_acked;             /* a quorum acked it: sync may start */
    int64_t role_deadline_ms;     /* discovery + sync must end by then */
    struct learner_link learners[PEER_LEARNERS_MAX];
    struct peer_txn_queue outstanding;
    int64_t next_ping_ms;

    /* Learner. */
    uint64_t leader_connection;   /* 0: none */
    int64_t reconnect_at_ms;      /* 0: no retry planned */
    bool leader_connected;
    int64_t leader_deadline_ms;
    int64_t new_epoch;
    bool newleader_pending;       /* NEWLEADER read, ACK waits for the disk */
    int64_t newleader_zxid;
    bool newleader_acked;
    int64_t acked_zxid;           /* highest ACK sent for a proposal */
    struct peer_txn_queue logged; /* proposals logged, until committed and durable */

    struct jute_writer out;       /* packet scratch */
    struct jute_writer payload;   /* payload scratch */
};

/* peer.c */
void peer_log(struct peer *peer, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
void peer_fail(struct peer *peer, const char *why);
void peer_leave_role(struct peer *peer, const char *why, int64_t now_elapsed_ms);
bool peer_send_packet(struct peer *peer, uint64_t connection_id, int32_t type, int64_t zxid,
                      const uint8_t *data, size_t data_bytes);
bool peer_is_quorum(const struct peer *peer, const int64_t *ids, size_t id_count);
bool peer_is_voter(const struct peer *peer, int64_t id);
void peer_committed_log_push(struct peer *peer, int64_t zxid, const uint8_t *bytes,
                             uint32_t byte_count);
void peer_committed_log_adopt(struct peer *peer, int64_t zxid, uint8_t *owned_bytes,
                              uint32_t byte_count);
/* Takes the head of `queue` (a leader's outstanding proposal) into the
 * committed log without copying its bytes. */
void peer_committed_log_take_head(struct peer *peer, struct peer_txn_queue *queue);
void peer_committed_log_clear(struct peer *peer, int64_t prev_zxid);
int64_t peer_limit_ms(const struct peer *peer, int32_t ticks);
/* The configuration a reconfig transaction (txn header + SetDataTxn) holds;
 * false when `bytes` are not a reconfig or the text does not parse. */
bool peer_reconfig_txn_config(const uint8_t *bytes, size_t byte_count, struct quorum_config *out);
/* Makes `next` the active configuration (and the last seen, unless a newer
 * one was seen): quorums, the election's members, io.config_activated. */
void peer_activate_config(struct peer *peer, const struct quorum_config *next);
/* The reconfig hook (store_reconfig_fn) for the leader's sequencer. */
int peer_leader_reconfig(void *context, const struct jute_reconfig_request *request,
                         int64_t zxid, char *text_out, size_t text_bytes);

bool peer_txn_queue_init(struct peer_txn_queue *queue, size_t capacity);
void peer_txn_queue_free(struct peer_txn_queue *queue);
struct peer_txn *peer_txn_queue_at(struct peer_txn_queue *queue, size_t index);
struct peer_txn *peer_txn_queue_push(struct peer_txn_queue *queue);
void peer_txn_queue_pop(struct peer_txn_queue *queue); /* frees the head's bytes and record */

/* peer_leader.c */
void peer_lead(struct peer *peer, int64_t now_elapsed_ms);
void peer_leader_accepted(struct peer *peer, uint64_t connection_id, int64_t now_elapsed_ms);
void peer_leader_packet(struct peer *peer, struct learner_link *learner,
                        const struct jute_quorum_packet *packet, int64_t now_ms,
                        int64_t now_elapsed_ms);
struct learner_link *peer_leader_find(struct peer *peer, uint64_t connection_id);
void peer_leader_closed(struct peer *peer, struct learner_link *learner, const char *why);
void peer_leader_durable(struct peer *peer, int64_t now_elapsed_ms);
int64_t peer_leader_tick(struct peer *peer, int64_t now_elapsed_ms);
void peer_leader_end(struct peer *peer);
void peer_leader_propose(struct peer *peer, struct log_record *record);
void peer_leader_sync_learner_id(struct peer *peer, int64_t learner_id);

/* peer_learner.c */
void peer_follow(struct peer *peer, int64_t leader_id, int64_t now_elapsed_ms);
void peer_learner_connected(struct peer *peer, int64_t now_elapsed_ms);
void peer_learner_packet(struct peer *peer, const struct jute_quorum_packet *packet,
                         const uint8_t *stream, size_t stream_bytes, int64_t now_elapsed_ms);
void peer_learner_durable(struct peer *peer);
int64_t peer_learner_tick(struct peer *peer, int64_t now_elapsed_ms);
void peer_learner_end(struct peer *peer);
/* A connect to the leader failed before it was up: plans another try
 * (false when the time for it, initLimit, is over). */
bool peer_learner_retry_connect(struct peer *peer, int64_t now_elapsed_ms);
/* Applies every logged proposal not yet applied (fast-forward). */
void peer_learner_fast_forward(struct peer *peer);
void peer_learner_forward(struct peer *peer, int64_t session_id, int32_t cxid, int32_t opcode,
                          const uint8_t *body, size_t body_bytes, const struct store_auth *auth);
void peer_learner_revalidate(struct peer *peer, int64_t session_id, int32_t timeout_ms);

#endif
