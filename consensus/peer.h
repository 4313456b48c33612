/* The quorum peer: ZooKeeper's QuorumPeer as a pure state machine. It runs
 * fast leader election (consensus/election.c) and then one ZAB role:
 *
 *  - leader (consensus/peer_leader.c): discovery (FOLLOWERINFO, LEADERINFO,
 *    ACKEPOCH: a new epoch above every accepted one of a quorum), sync of
 *    each learner (DIFF from the committed log, TRUNC of a tail the leader
 *    does not have, SNAP of the whole tree, then NEWLEADER and UPTODATE),
 *    and broadcast (PROPOSAL, ACK, COMMIT in zxid order once a quorum,
 *    itself included, has the transaction on disk; INFORM to observers);
 *  - follower and observer (consensus/peer_learner.c): the other side.
 *
 * Standalone is the ensemble of one: the peer leads at once, epoch 0, and
 * a transaction commits when it is on its own disk. There is no other
 * path.
 *
 * The peer sits between the sequencer (which prepares and applies
 * transactions, consensus/sequencer.c) and the outside world, reached only
 * through `struct peer_io`: messages to other servers, the log, the epoch
 * files, and the two ways of replacing the tree (truncation, snapshot).
 * Time arrives as arguments. The dataplane drives it on the consensus core
 * (dataplane/core.c with dataplane/peer_net.c); tests/sim drives whole
 * ensembles of it over a simulated network and disks.
 */
#ifndef CHEETAH_PEER_H
#define CHEETAH_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consensus/election.h"
#include "consensus/pipeline.h"
#include "consensus/quorum_config.h"
#include "consensus/sequencer.h"

/* QuorumPeer.ZabState, as mntr's zk_peer_state prints it. */
enum peer_phase {
    PEER_PHASE_ELECTION = 0,
    PEER_PHASE_DISCOVERY = 1,
    PEER_PHASE_SYNCHRONIZATION = 2,
    PEER_PHASE_BROADCAST = 3,
};

/* Committed transactions the leader keeps for DIFF (ZooKeeper's
 * commitLogCount is 500), and the bytes they may take. A learner further
 * behind gets a SNAP. */
#define PEER_COMMITTED_LOG_MAX 500u
#define PEER_COMMITTED_LOG_BYTES_MAX (64u * 1024u * 1024u)
/* Transactions proposed and not yet committed (leader), or logged and not
 * yet committed and durable (learner). */
#define PEER_OUTSTANDING_MAX SEQUENCER_PENDING_MAX
/* Learners one leader serves at once. */
#define PEER_LEARNERS_MAX 255u

struct peer_config {
    int64_t my_id;                         /* myid; 0 standalone */
    const struct election_member *members; /* every server.N; NULL/0: standalone */
    size_t member_count;
    int32_t tick_ms;
    int32_t init_limit_ticks;
    int32_t sync_limit_ticks;
    int64_t accepted_epoch;                /* acceptedEpoch file (0 when absent) */
    int64_t current_epoch;                 /* currentEpoch file (0 when absent) */
    uint32_t packet_data_bytes_max;        /* largest QuorumPacket data accepted */
    /* The configuration as text (quorum_config.h: server.N lines and
     * version): it names the same members as `members`, with their
     * addresses, and is what NEWLEADER and a reconfig start from. */
    const char *config_text;
    /* /zookeeper/config as recovery left it (may be NULL): when its
     * version is newer than `config_text`'s, a reconfig was logged and not
     * seen active; it is the last seen configuration (ZooKeeper keeps it
     * in zoo.cfg.dynamic.next). */
    const char *last_seen_config_text;
    /* zoo.cfg standaloneEnabled (ZooKeeper's default: true): a reconfig
     * must then leave at least 2 voters, else 1. */
    bool standalone_enabled;
    /* zoo.cfg reconfigEnabled: the first leader of an ensemble whose
     * configuration has version 0 gives it the new epoch's first zxid
     * (ZOOKEEPER-1783), as ZooKeeper 3.8 does. */
    bool reconfig_enabled;
};

struct peer_io {
    void *context;
    void (*election_send)(void *context, int64_t to_id,
                          const struct election_notification *notification);
    void (*quorum_listen)(void *context, bool listen);
    /* Returns a connection id; 0 when no connection can be opened now (the
     * peer tries again). */
    uint64_t (*quorum_connect)(void *context, int64_t leader_id);
    /* Whole packets. False: the connection is gone (the peer treats it as
     * closed). */
    bool (*quorum_send)(void *context, uint64_t connection_id, const uint8_t *bytes,
                        size_t byte_count);
    void (*quorum_close)(void *context, uint64_t connection_id);
    /* Hands a transaction to the log, in zxid order; peer_log_durable
     * reports progress. The record stays valid until then. */
    void (*log_append)(void *context, struct log_record *record);
    /* Writes acceptedEpoch (accepted true) or currentEpoch durably before
     * returning. False on failure. */
    bool (*epoch_write)(void *context, bool accepted, int64_t epoch);
    /* TRUNC: drops every logged transaction after `zxid` and rebuilds the
     * tree from disk (sequencer_replace_tree). Returns the last zxid the
     * rebuilt tree holds: `zxid`, or less when a snapshot already holds
     * transactions after `zxid` (a SNAP from a leader that then failed): the
     * caller then wipes its snapshots and logs and returns 0, and the next
     * sync brings the leader's whole tree. -1 on failure. */
    int64_t (*truncate)(void *context, int64_t zxid);
    /* SNAP: loads the leader's stream (quorum_wire.h) as the new tree
     * (sequencer_replace_tree) and saves it as snapshot.<zxid>. */
    bool (*install_snapshot)(void *context, const uint8_t *stream, size_t stream_bytes,
                             int64_t zxid);
    /* A reconfig became active (this server's membership changed): the
     * caller reaches the new members and persists `text`. May be NULL. */
    void (*config_activated)(void *context, const struct quorum_config *config,
                             const char *text);
    /* What happened, for the server log (one line, no newline). */
    void (*log_message)(void *context, const char *line);
    /* Something failed that the server cannot go on from (a disk write of
     * an epoch, a truncation): ZooKeeper exits; so should the caller. */
    void (*fatal)(void *context, const char *why);
};

/* What mntr / srvr / stat report. */
struct peer_status {
    enum peer_state state;     /* LOOKING, LEADING, FOLLOWING, OBSERVING */
    enum peer_phase phase;
    bool standalone;
    bool serving;              /* a role runs and has reached broadcast */
    int64_t leader_id;         /* -1 while looking */
    int64_t epoch;             /* current epoch */
    int64_t last_logged_zxid;
    int64_t last_committed_zxid;
    uint32_t learners;         /* leader: learners connected (zk_learners) */
    uint32_t synced_followers; /* leader: followers in broadcast (zk_synced_followers) */
    uint32_t synced_observers; /* leader */
    uint32_t pending_syncs;    /* leader: learners being synced */
    uint32_t outstanding_proposals;
    int64_t election_time_ms;  /* how long the last election took */
    int64_t leader_uptime_ms;  /* since this role reached broadcast */
};

struct peer;

/* `last_logged_zxid` is what recovery found (the tree holds everything
 * logged). NULL on invalid config or allocation failure. The peer takes
 * the sequencer's log and replication hooks. */
struct peer *peer_create(const struct peer_config *config, const struct peer_io *io,
                         struct sequencer *sequencer, int64_t last_logged_zxid);
void peer_destroy(struct peer *peer);

/* Standalone: leads at once. Ensemble: starts the first election. */
void peer_start(struct peer *peer, int64_t now_ms, int64_t now_elapsed_ms);

/* Inputs. now_ms is the wall clock (transaction times), now_elapsed_ms the
 * monotonic clock (every timeout). */
/* `config_text` (may be NULL) is the sender's configuration, as the
 * notification carries it: a LOOKING server adopts a newer one and starts
 * its election again (FastLeaderElection's WorkerReceiver). */
void peer_election_message(struct peer *peer, int64_t from_id,
                           const struct election_notification *notification,
                           const char *config_text, size_t config_text_bytes,
                           int64_t now_elapsed_ms);
void peer_quorum_accepted(struct peer *peer, uint64_t connection_id, int64_t now_elapsed_ms);
void peer_quorum_connected(struct peer *peer, uint64_t connection_id, int64_t now_elapsed_ms);
void peer_quorum_packet(struct peer *peer, uint64_t connection_id, const uint8_t *packet,
                        size_t packet_bytes, const uint8_t *stream, size_t stream_bytes,
                        int64_t now_ms, int64_t now_elapsed_ms);
void peer_quorum_closed(struct peer *peer, uint64_t connection_id, const char *why,
                        int64_t now_elapsed_ms);
/* The log is durable up to `zxid`. */
void peer_log_durable(struct peer *peer, int64_t zxid, int64_t now_elapsed_ms);
/* Timeouts, pings, quorum checks. Returns when the next tick is due
 * (monotonic ms). */
int64_t peer_tick(struct peer *peer, int64_t now_ms, int64_t now_elapsed_ms);

/* True when the core may hand the sequencer client requests. */
bool peer_accepting(const struct peer *peer);

/* The string that ends a SNAP stream (LearnerHandler). */
#define PEER_SNAP_SIGNATURE "BenWasHere"
/* Turns a SNAP stream (signature included) into a snapshot file (header,
 * body, seal) that store_snapshot_load reads. False when `file` ran past
 * its limit or the stream is too short. */
bool peer_snapshot_file_from_stream(const uint8_t *stream, size_t stream_bytes,
                                    struct jute_writer *file);
void peer_status_get(const struct peer *peer, struct peer_status *out);

#endif
