/* Fast leader election (ZooKeeper 3.8's FastLeaderElection) as a pure state
 * machine.
 *
 * Notifications go in (election_receive), time goes in (election_tick), and
 * notifications to send plus the decision come out through
 * `election_output`. No sockets, clocks or threads: the caller owns the
 * connections (QuorumCnxManager's job: dataplane/peer_net.c) and the clock.
 *
 * The rules are ZooKeeper's:
 * - A vote is (leader, zxid, peer epoch); one vote beats another when its
 *   peer epoch is higher, then its zxid, then its leader id
 *   (totalOrderPredicate). A server whose weight is 0 (an observer) never
 *   wins.
 * - Every round has an election epoch (logicalclock). A LOOKING
 *   notification from a newer round makes us join that round (clear the
 *   votes received, re-propose); one from an older round is ignored (but
 *   answered with our vote, as WorkerReceiver does).
 * - When a majority of voters propose the same vote as ours, we wait
 *   `finalize_wait_ms` for a better one; if none comes, that vote wins.
 * - A server that starts late hears FOLLOWING / LEADING notifications: when
 *   a majority (counting the leader itself, which must say LEADING) agrees
 *   on a leader, it follows that leader (outofelection).
 * - A server that is not LOOKING answers every LOOKING notification with its
 *   current vote, so late starters learn the leader. A voter answers every
 *   notification of an observer or of a server that is not a member (one
 *   reconfigured out, or about to join) with the vote it holds.
 * - A LOOKING notification from a voter that arrives while no round runs is
 *   kept (the newest per server) and handled when our round starts (a
 *   Cheetah addition: ZooKeeper drops it and waits for a resend).
 * - Unanswered rounds resend notifications with a timeout that doubles from
 *   `notification_interval_min_ms` up to `notification_interval_max_ms`.
 */
#ifndef CHEETAH_ELECTION_H
#define CHEETAH_ELECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ZooKeeper's QuorumPeer.ServerState ordinals: they travel in notifications. */
enum peer_state {
    PEER_LOOKING = 0,
    PEER_FOLLOWING = 1,
    PEER_LEADING = 2,
    PEER_OBSERVING = 3,
};

/* The largest ensemble (server.N ids 1..255 in ZooKeeper with extended
 * types; we take the same bound for every configuration). */
#define ELECTION_MEMBERS_MAX 255u

/* What one notification carries (FastLeaderElection.Notification). The
 * `config` bytes (the sender's configuration as text) travel beside it: the
 * peer, not the election, adopts a newer one (peer_election_message). */
struct election_notification {
    enum peer_state state;   /* the sender's state */
    int64_t leader;          /* proposed leader id */
    int64_t zxid;            /* proposed leader's last zxid */
    int64_t election_epoch;  /* the sender's logicalclock */
    int64_t peer_epoch;      /* proposed leader's epoch */
    int32_t version;         /* notification format, 2 in ZooKeeper 3.8 */
};

/* A vote as the election holds it. */
struct election_vote {
    int64_t leader;
    int64_t zxid;
    int64_t election_epoch;
    int64_t peer_epoch;
    enum peer_state state;
};

struct election_member {
    int64_t id;
    bool voting; /* participant: true; observer: false */
};

struct election_config {
    int64_t my_id;
    const struct election_member *members; /* every server.N, self included */
    size_t member_count;                   /* <= ELECTION_MEMBERS_MAX */
    int64_t finalize_wait_ms;              /* 200 in ZooKeeper */
    int64_t notification_interval_min_ms;  /* 200 in ZooKeeper (finalizeWait) */
    int64_t notification_interval_max_ms;  /* 60000 in ZooKeeper */
    /* The round counter to go on from (a reconfig re-creates the election
     * with the new members; 0 at start). */
    int64_t logical_clock;
};

struct election_output {
    /* Queue a notification to server `to_id`. The election sends to every
     * voting member (self included: ZooKeeper delivers its own notification
     * through its queue; the caller must hand it back by election_receive
     * with from_id == my_id). It must queue, not call back into the
     * election (asserted). */
    void (*send)(void *context, int64_t to_id, const struct election_notification *notification);
    /* The round ended: `vote` names the leader; `state` is what this server
     * becomes (LEADING, FOLLOWING or OBSERVING). Called once per
     * election_start. */
    void (*decided)(void *context, const struct election_vote *vote, enum peer_state state);
    void *context;
};

struct election;

/* NULL when the configuration is invalid (my_id missing, too many members,
 * zero intervals) or allocation fails. The election starts idle, in state
 * LOOKING but with no round running. */
struct election *election_create(const struct election_config *config,
                                  const struct election_output *output);
void election_destroy(struct election *election);

/* Starts a round (lookForLeader): logicalclock + 1, propose ourselves with
 * our last logged zxid and current epoch (an observer proposes nobody),
 * send to every voter. */
void election_start(struct election *election, int64_t last_zxid, int64_t current_epoch,
                    int64_t now_ms);

/* A notification that arrived from server `from_id` (any state). Answers,
 * re-proposals and a decision may come out through the output. A
 * notification from a server that is not a member is only answered (with
 * the vote held), as ZooKeeper answers every non-voter. */
void election_receive(struct election *election, int64_t from_id,
                      const struct election_notification *notification, int64_t now_ms);

/* Resends on timeout and ends the finalize wait. Returns the time (ms, same
 * clock) at which the next tick is due; INT64_MAX when nothing is waiting.
 * A notification can bring the due time forward (a quorum starts the
 * finalize wait), so call it after election_start and election_receive too:
 * before the due time it only answers when it is due. */
int64_t election_tick(struct election *election, int64_t now_ms);

/* Leaves the round as ZooKeeper does when the peer stops LOOKING: the
 * election keeps answering LOOKING servers with `current` (the vote the
 * server follows, with its state). Called by the peer after `decided`, and
 * again with the same vote when a role ends and a new round starts.
 * With current->state LOOKING it only records the vote: a running round
 * goes on, an idle election waits for election_start. */
void election_set_current(struct election *election, const struct election_vote *current);

/* The current state: LOOKING while a round runs. */
enum peer_state election_state(const struct election *election);
/* The vote this server proposes (LOOKING) or follows (otherwise). */
struct election_vote election_current_vote(const struct election *election);
int64_t election_logical_clock(const struct election *election);

#endif
