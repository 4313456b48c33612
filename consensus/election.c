/*
 * Fast leader election (see election.h), after ZooKeeper 3.8's
 * FastLeaderElection.
 *
 * ZooKeeper runs it on three threads: WorkerReceiver turns messages into
 * notifications (answering some of them at once), lookForLeader takes them
 * out of recvqueue with a timeout, WorkerSender writes. Here one call does
 * what those threads do for one message:
 *
 * - election_receive is WorkerReceiver's immediate answers followed by
 *   lookForLeader handling the notification it dequeued;
 * - election_tick is recvqueue.poll timing out: either notTimeout (resend
 *   and back off) or the finalize wait (nothing better came: decide).
 *
 * recvqueue.poll(notTimeout) restarts on every dequeued notification, so the
 * resend is due notTimeout after the last notification handled or the last
 * resend. During the finalize wait, each dequeued notification that is not
 * better is dropped and the wait starts again, exactly as ZooKeeper's inner
 * poll loop does; a better one ends the wait and is handled normally.
 *
 * Deviations, all on the side of sending less:
 * - Notifications from ids that are not members are ignored (ZooKeeper's
 *   connection manager never accepts such peers).
 * - An observer never answers anyone: its answers to voters are ignored by
 *   them anyway (voters only answer non-voters), and an observer that
 *   answered a voter's answer could ping-pong with it for as long as the
 *   voter stays LOOKING.
 * - Nobody answers itself.
 * - A non-voter is answered with the vote we propose while LOOKING (the
 *   vote `election_current_vote` returns); ZooKeeper sends the previous
 *   round's vote, which lets an observer "learn" a leader that is gone.
 * - Notifications that arrive before the first election_start (or after
 *   election_set_current with LOOKING) are dropped rather than queued for
 *   the next round.
 */
#include "consensus/election.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* The notification format version ZooKeeper 3.8 sends
 * (Notification.CURRENTVERSION). */
#define ELECTION_NOTIFICATION_VERSION 2

/* ZooKeeper's "no server" id and zxid, proposed by observers
 * (getInitId / getInitLastLoggedZxid / getPeerEpoch). */
#define ELECTION_NOBODY INT64_MIN

/* A vote as one of the maps (recvset, outofelection) stores it: Vote.equals
 * depends on the state and on whether the format version is above 0. */
struct stored_vote {
    bool present;
    struct election_vote vote;
    int32_t version;
};

struct election {
    int64_t my_id;
    size_t my_index;
    bool my_voting;
    struct election_member *members;
    size_t member_count;
    size_t voting_count;
    int64_t finalize_wait_ms;
    int64_t interval_min_ms;
    int64_t interval_max_ms;
    struct election_output output;

    /* True from election_start until the round decides or is left. */
    bool round_running;
    enum peer_state state;
    int64_t logical_clock;
    /* This round's initial vote (getInitId, getInitLastLoggedZxid,
     * getPeerEpoch) and the vote we propose now (proposedLeader, ...). */
    int64_t initial_leader, initial_zxid, initial_peer_epoch;
    int64_t proposed_leader, proposed_zxid, proposed_peer_epoch;
    /* The vote answered with when not LOOKING (QuorumPeer.currentVote). */
    struct election_vote current;

    int64_t notification_timeout_ms; /* notTimeout */
    int64_t resend_due_ms;
    bool finalizing;
    int64_t finalize_due_ms;

    /* Indexed like `members`. */
    struct stored_vote *received;        /* recvset */
    struct stored_vote *out_of_election; /* outofelection */
    /* LOOKING notifications from voters that came while no round ran (the
     * newest per member), handled when our round starts. ZooKeeper drops
     * them: a server whose leader died a moment after the other's did then
     * misses that server's vote and both wait for a resend (hundreds of
     * ms); handling it late is the same as a slower delivery. */
    struct election_notification *early;
    bool *early_held;

    /* Set while the output's send runs: send must queue, not re-enter. */
    bool sending;
};

static int64_t add_saturating(int64_t time_ms, int64_t delta_ms)
{
    assert(delta_ms >= 0);
    return time_ms > INT64_MAX - delta_ms ? INT64_MAX : time_ms + delta_ms;
}

/* The index of member `id`, or member_count when it is not a member. */
static size_t member_index(const struct election *election, int64_t id)
{
    for (size_t i = 0; i < election->member_count; i++) {
        if (election->members[i].id == id) {
            return i;
        }
    }
    return election->member_count;
}

/* validVoter: a voting member (weight > 0). */
static bool is_voter(const struct election *election, int64_t id)
{
    size_t index = member_index(election, id);
    return index < election->member_count && election->members[index].voting;
}

/* totalOrderPredicate: does (leader, zxid, peer_epoch) beat the current
 * vote? A non-voter never does. */
static bool vote_beats(const struct election *election, int64_t leader, int64_t zxid,
                       int64_t peer_epoch, int64_t current_leader, int64_t current_zxid,
                       int64_t current_peer_epoch)
{
    if (!is_voter(election, leader)) {
        return false;
    }
    if (peer_epoch != current_peer_epoch) {
        return peer_epoch > current_peer_epoch;
    }
    if (zxid != current_zxid) {
        return zxid > current_zxid;
    }
    return leader > current_leader;
}

static bool notification_beats_proposal(const struct election *election,
                                        const struct election_notification *notification)
{
    return vote_beats(election, notification->leader, notification->zxid,
                      notification->peer_epoch, election->proposed_leader,
                      election->proposed_zxid, election->proposed_peer_epoch);
}

/* Vote.equals: LOOKING votes compare everything but the state; between
 * votes of servers out of election only the leader and its epoch count,
 * and only the leader when exactly one of them has a format version. */
static bool stored_votes_equal(const struct stored_vote *a, const struct stored_vote *b)
{
    if (a->vote.state == PEER_LOOKING || b->vote.state == PEER_LOOKING) {
        return a->vote.leader == b->vote.leader && a->vote.zxid == b->vote.zxid &&
               a->vote.election_epoch == b->vote.election_epoch &&
               a->vote.peer_epoch == b->vote.peer_epoch;
    }
    if ((a->version > 0) != (b->version > 0)) {
        return a->vote.leader == b->vote.leader;
    }
    return a->vote.leader == b->vote.leader && a->vote.peer_epoch == b->vote.peer_epoch;
}

/* getVoteTracker(...).hasAllQuorums(): more than half of the voting
 * members hold a vote equal to `target`. */
static bool votes_reach_quorum(const struct election *election, const struct stored_vote *votes,
                               const struct stored_vote *target)
{
    size_t acks = 0;
    for (size_t i = 0; i < election->member_count; i++) {
        if (election->members[i].voting && votes[i].present &&
            stored_votes_equal(&votes[i], target)) {
            acks++;
        }
    }
    return acks > election->voting_count / 2;
}

/* A Cheetah addition for joining an established leader: more than half of
 * the voters follow or lead `leader`, whatever epoch their votes name. A
 * follower that joined a leader's earlier term (its LEADING notification
 * was sent before it stepped down and won again) keeps that term's vote
 * while serving the new one, so the members' votes may disagree on the
 * epoch for good; ZooKeeper's Vote.equals then leaves a server that starts
 * or restarts looking forever (found by the simulation). Safe: whom a
 * server joins decides nothing for anybody else (ZAB's discovery does), the
 * leader must itself say LEADING, and one that is not leading refuses it. */
static bool voters_name_leader(const struct election *election, const struct stored_vote *votes,
                               int64_t leader)
{
    size_t acks = 0;
    for (size_t i = 0; i < election->member_count; i++) {
        if (election->members[i].voting && votes[i].present &&
            votes[i].vote.state != PEER_LOOKING && votes[i].vote.leader == leader) {
            acks++;
        }
    }
    return acks > election->voting_count / 2;
}

/* checkLeader: another leader must have said itself that it is LEADING;
 * we lead only when the votes are from our own round. */
static bool leader_confirmed(const struct election *election, const struct stored_vote *votes,
                             int64_t leader, int64_t election_epoch)
{
    if (leader != election->my_id) {
        size_t index = member_index(election, leader);
        return index < election->member_count && votes[index].present &&
               votes[index].vote.state == PEER_LEADING;
    }
    return election->logical_clock == election_epoch;
}

static void forget_votes(struct stored_vote *votes, size_t count)
{
    memset(votes, 0, count * sizeof *votes);
}

static struct stored_vote stored_from_notification(const struct election_notification *notification,
                                                   enum peer_state state, int32_t version)
{
    return (struct stored_vote){
        .present = true,
        .vote = {.leader = notification->leader,
                 .zxid = notification->zxid,
                 .election_epoch = notification->election_epoch,
                 .peer_epoch = notification->peer_epoch,
                 .state = state},
        .version = version,
    };
}

static void send_to(struct election *election, int64_t to_id, const struct election_vote *vote,
                    int64_t election_epoch, enum peer_state state)
{
    struct election_notification notification = {
        .state = state,
        .leader = vote->leader,
        .zxid = vote->zxid,
        .election_epoch = election_epoch,
        .peer_epoch = vote->peer_epoch,
        .version = ELECTION_NOTIFICATION_VERSION,
    };
    assert(!election->sending);
    election->sending = true;
    election->output.send(election->output.context, to_id, &notification);
    election->sending = false;
}

static struct election_vote proposed_vote(const struct election *election)
{
    return (struct election_vote){
        .leader = election->proposed_leader,
        .zxid = election->proposed_zxid,
        .election_epoch = election->logical_clock,
        .peer_epoch = election->proposed_peer_epoch,
        .state = PEER_LOOKING,
    };
}

/* sendNotifications: our proposal to every voting member, self included. */
static void send_notifications(struct election *election)
{
    struct election_vote vote = proposed_vote(election);
    for (size_t i = 0; i < election->member_count; i++) {
        if (election->members[i].voting) {
            send_to(election, election->members[i].id, &vote, election->logical_clock,
                    PEER_LOOKING);
        }
    }
}

static void update_proposal(struct election *election, int64_t leader, int64_t zxid,
                            int64_t peer_epoch)
{
    election->proposed_leader = leader;
    election->proposed_zxid = zxid;
    election->proposed_peer_epoch = peer_epoch;
}

/* setPeerState: the leader leads, the others learn. */
static enum peer_state state_for_leader(const struct election *election, int64_t leader)
{
    if (leader == election->my_id) {
        return PEER_LEADING;
    }
    return election->my_voting ? PEER_FOLLOWING : PEER_OBSERVING;
}

/* Ends the round (leaveInstance). The output comes last: it may start a new
 * round or set the current vote. */
static void decide(struct election *election, int64_t leader, int64_t zxid,
                   int64_t election_epoch, int64_t peer_epoch)
{
    assert(election->round_running);
    enum peer_state state = state_for_leader(election, leader);
    election->round_running = false;
    election->finalizing = false;
    election->state = state;
    election->current = (struct election_vote){
        .leader = leader,
        .zxid = zxid,
        .election_epoch = election_epoch,
        .peer_epoch = peer_epoch,
        .state = state,
    };
    forget_votes(election->received, election->member_count);
    forget_votes(election->out_of_election, election->member_count);
    struct election_vote vote = election->current;
    election->output.decided(election->output.context, &vote, state);
}

/* A majority proposes what we propose: wait finalize_wait_ms for a better
 * vote before deciding. */
static void begin_finalize(struct election *election, int64_t now_ms)
{
    if (election->finalize_wait_ms == 0) {
        decide(election, election->proposed_leader, election->proposed_zxid,
               election->logical_clock, election->proposed_peer_epoch);
        return;
    }
    election->finalizing = true;
    election->finalize_due_ms = add_saturating(now_ms, election->finalize_wait_ms);
}

/* lookForLeader's LOOKING case. */
static void handle_looking(struct election *election, size_t from_index,
                           const struct election_notification *notification, int64_t now_ms)
{
    /* -1 is the zxid of a server that cannot say what it has logged. */
    if (election->initial_zxid == -1 || notification->zxid == -1) {
        return;
    }
    if (notification->election_epoch > election->logical_clock) {
        /* A newer round: join it with the better of its vote and ours. */
        election->logical_clock = notification->election_epoch;
        forget_votes(election->received, election->member_count);
        if (vote_beats(election, notification->leader, notification->zxid,
                       notification->peer_epoch, election->initial_leader,
                       election->initial_zxid, election->initial_peer_epoch)) {
            update_proposal(election, notification->leader, notification->zxid,
                            notification->peer_epoch);
        } else {
            update_proposal(election, election->initial_leader, election->initial_zxid,
                            election->initial_peer_epoch);
        }
        send_notifications(election);
    } else if (notification->election_epoch < election->logical_clock) {
        return;
    } else if (notification_beats_proposal(election, notification)) {
        update_proposal(election, notification->leader, notification->zxid,
                        notification->peer_epoch);
        send_notifications(election);
    }

    election->received[from_index] = stored_from_notification(notification, PEER_LOOKING, 0);
    struct stored_vote target = {.present = true, .vote = proposed_vote(election), .version = 0};
    if (votes_reach_quorum(election, election->received, &target)) {
        begin_finalize(election, now_ms);
    }
}

/* lookForLeader's FOLLOWING / LEADING case: join an established leader. */
static void handle_established(struct election *election, size_t from_index,
                               const struct election_notification *notification)
{
    struct stored_vote target =
        stored_from_notification(notification, notification->state, notification->version);
    if (notification->election_epoch == election->logical_clock) {
        /* Stored without a version, as ZooKeeper's Vote constructor does. */
        election->received[from_index] =
            stored_from_notification(notification, notification->state, 0);
        if (votes_reach_quorum(election, election->received, &target) &&
            leader_confirmed(election, election->received, notification->leader,
                             notification->election_epoch)) {
            decide(election, notification->leader, notification->zxid,
                   notification->election_epoch, notification->peer_epoch);
            return;
        }
    }
    /* outofelection also keeps this round's votes (ZOOKEEPER-1732). */
    election->out_of_election[from_index] = target;
    if (voters_name_leader(election, election->out_of_election, notification->leader) &&
        leader_confirmed(election, election->out_of_election, notification->leader,
                         notification->election_epoch)) {
        election->logical_clock = notification->election_epoch;
        /* A Cheetah addition: the vote kept is the leader's own (its
         * LEADING notification), not the one that completed the quorum.
         * Followers that joined late otherwise keep whatever stale vote
         * a follower answered with, and once their votes disagree with the
         * leader's on the peer epoch, a server that needs them to find the
         * leader (one reconfigured out, then in) never gathers a quorum of
         * equal votes (found by the simulation with reconfigs). */
        struct election_vote joined = {.zxid = notification->zxid,
                                       .peer_epoch = notification->peer_epoch};
        size_t leader_index = member_index(election, notification->leader);
        if (notification->leader != election->my_id && leader_index < election->member_count) {
            joined = election->out_of_election[leader_index].vote;
        }
        decide(election, notification->leader, joined.zxid, notification->election_epoch,
               joined.peer_epoch);
    }
}

/* One notification out of recvqueue (a voter sent it, we are LOOKING). */
static void handle_dequeued(struct election *election, size_t from_index,
                            const struct election_notification *notification, int64_t now_ms)
{
    if (!is_voter(election, notification->leader)) {
        return;
    }
    switch (notification->state) {
    case PEER_LOOKING:
        handle_looking(election, from_index, notification, now_ms);
        break;
    case PEER_FOLLOWING:
    case PEER_LEADING:
        handle_established(election, from_index, notification);
        break;
    case PEER_OBSERVING:
        break;
    }
}

/* WorkerReceiver's immediate answers. */
static void answer(struct election *election, int64_t from_id, bool from_voting,
                   const struct election_notification *notification)
{
    if (!election->my_voting || from_id == election->my_id) {
        return;
    }
    if (!from_voting) {
        struct election_vote vote = election_current_vote(election);
        send_to(election, from_id, &vote, election->logical_clock, election->state);
        return;
    }
    if (notification->state != PEER_LOOKING) {
        return;
    }
    if (election->round_running) {
        /* A LOOKING voter behind us: tell it about our round. */
        if (notification->election_epoch < election->logical_clock) {
            struct election_vote vote = proposed_vote(election);
            send_to(election, from_id, &vote, election->logical_clock, PEER_LOOKING);
        }
    } else if (election->state != PEER_LOOKING) {
        send_to(election, from_id, &election->current, election->current.election_epoch,
                election->state);
    }
}

static bool state_is_valid(enum peer_state state)
{
    return state == PEER_LOOKING || state == PEER_FOLLOWING || state == PEER_LEADING ||
           state == PEER_OBSERVING;
}

static bool config_is_valid(const struct election_config *config)
{
    if (config->members == NULL || config->member_count == 0 ||
        config->member_count > ELECTION_MEMBERS_MAX || config->finalize_wait_ms < 0 ||
        config->notification_interval_min_ms <= 0 ||
        config->notification_interval_max_ms < config->notification_interval_min_ms) {
        return false;
    }
    bool found_self = false;
    size_t voting_count = 0;
    for (size_t i = 0; i < config->member_count; i++) {
        int64_t id = config->members[i].id;
        if (id == ELECTION_NOBODY) {
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (config->members[j].id == id) {
                return false;
            }
        }
        found_self = found_self || id == config->my_id;
        voting_count += config->members[i].voting ? 1 : 0;
    }
    return found_self && voting_count > 0;
}

struct election *election_create(const struct election_config *config,
                                  const struct election_output *output)
{
    if (config == NULL || output == NULL || output->send == NULL || output->decided == NULL ||
        !config_is_valid(config)) {
        return NULL;
    }
    struct election *election = calloc(1, sizeof *election);
    if (election == NULL) {
        return NULL;
    }
    election->members = calloc(config->member_count, sizeof *election->members);
    election->received = calloc(config->member_count, sizeof *election->received);
    election->out_of_election = calloc(config->member_count, sizeof *election->out_of_election);
    election->early = calloc(config->member_count, sizeof *election->early);
    election->early_held = calloc(config->member_count, sizeof *election->early_held);
    if (election->early == NULL || election->early_held == NULL ||
        election->members == NULL || election->received == NULL ||
        election->out_of_election == NULL) {
        election_destroy(election);
        return NULL;
    }
    memcpy(election->members, config->members, config->member_count * sizeof *config->members);
    election->member_count = config->member_count;
    for (size_t i = 0; i < config->member_count; i++) {
        election->voting_count += config->members[i].voting ? 1 : 0;
    }
    election->my_id = config->my_id;
    election->my_index = member_index(election, config->my_id);
    assert(election->my_index < election->member_count);
    election->my_voting = election->members[election->my_index].voting;
    election->finalize_wait_ms = config->finalize_wait_ms;
    election->interval_min_ms = config->notification_interval_min_ms;
    election->interval_max_ms = config->notification_interval_max_ms;
    election->output = *output;
    election->logical_clock = config->logical_clock;
    election->state = PEER_LOOKING;
    election->proposed_leader = -1;
    election->proposed_zxid = -1;
    election->proposed_peer_epoch = -1;
    election->current = (struct election_vote){
        .leader = -1, .zxid = -1, .election_epoch = -1, .peer_epoch = -1, .state = PEER_LOOKING};
    return election;
}

void election_destroy(struct election *election)
{
    if (election == NULL) {
        return;
    }
    free(election->members);
    free(election->received);
    free(election->out_of_election);
    free(election->early);
    free(election->early_held);
    free(election);
}

void election_receive(struct election *election, int64_t from_id,
                      const struct election_notification *notification, int64_t now_ms);

void election_start(struct election *election, int64_t last_zxid, int64_t current_epoch,
                    int64_t now_ms)
{
    assert(!election->sending);
    election->logical_clock++;
    election->round_running = true;
    election->state = PEER_LOOKING;
    election->finalizing = false;
    forget_votes(election->received, election->member_count);
    forget_votes(election->out_of_election, election->member_count);
    if (election->my_voting) {
        election->initial_leader = election->my_id;
        election->initial_zxid = last_zxid;
        election->initial_peer_epoch = current_epoch;
    } else {
        election->initial_leader = ELECTION_NOBODY;
        election->initial_zxid = ELECTION_NOBODY;
        election->initial_peer_epoch = ELECTION_NOBODY;
    }
    update_proposal(election, election->initial_leader, election->initial_zxid,
                    election->initial_peer_epoch);
    election->notification_timeout_ms = election->interval_min_ms;
    election->resend_due_ms = add_saturating(now_ms, election->notification_timeout_ms);
    send_notifications(election);
    for (size_t index = 0; index < election->member_count; index++) {
        if (election->early_held[index]) {
            election->early_held[index] = false;
            if (election->round_running) {
                election_receive(election, election->members[index].id,
                                 &election->early[index], now_ms);
            }
        }
    }
}

void election_receive(struct election *election, int64_t from_id,
                      const struct election_notification *notification, int64_t now_ms)
{
    assert(!election->sending);
    size_t from_index = member_index(election, from_id);
    if (!state_is_valid(notification->state)) {
        return;
    }
    if (from_index == election->member_count) {
        /* Not a member (reconfigured out, or about to join): ZooKeeper's
         * WorkerReceiver answers every non-voter with the vote it holds, so
         * that server can find the leader; its vote counts nowhere. */
        if (election->my_voting && (election->round_running || election->state != PEER_LOOKING)) {
            struct election_vote vote = election_current_vote(election);
            send_to(election, from_id, &vote, election->logical_clock, election->state);
        }
        return;
    }
    bool from_voting = election->members[from_index].voting;
    if (!election->round_running && from_voting && notification->state == PEER_LOOKING &&
        from_index != election->my_index) {
        election->early[from_index] = *notification;
        election->early_held[from_index] = true;
    }
    if (!election->round_running && election->state == PEER_LOOKING) {
        return; /* idle: no round to answer for */
    }
    answer(election, from_id, from_voting, notification);
    if (!election->round_running || !from_voting) {
        return; /* only a LOOKING server queues voters' notifications */
    }
    if (election->finalizing) {
        if (!notification_beats_proposal(election, notification)) {
            /* Dropped, and the finalize wait polls again. */
            election->finalize_due_ms = add_saturating(now_ms, election->finalize_wait_ms);
            return;
        }
        election->finalizing = false;
    }
    handle_dequeued(election, from_index, notification, now_ms);
    if (election->round_running && !election->finalizing) {
        election->resend_due_ms = add_saturating(now_ms, election->notification_timeout_ms);
    }
}

static int64_t next_due(const struct election *election)
{
    if (!election->round_running) {
        return INT64_MAX;
    }
    return election->finalizing ? election->finalize_due_ms : election->resend_due_ms;
}

int64_t election_tick(struct election *election, int64_t now_ms)
{
    assert(!election->sending);
    if (!election->round_running) {
        return INT64_MAX;
    }
    if (election->finalizing) {
        if (now_ms >= election->finalize_due_ms) {
            decide(election, election->proposed_leader, election->proposed_zxid,
                   election->logical_clock, election->proposed_peer_epoch);
        }
        return next_due(election);
    }
    if (now_ms >= election->resend_due_ms) {
        send_notifications(election);
        int64_t doubled_ms = election->notification_timeout_ms * 2;
        election->notification_timeout_ms =
            doubled_ms < election->interval_max_ms ? doubled_ms : election->interval_max_ms;
        election->resend_due_ms = add_saturating(now_ms, election->notification_timeout_ms);
    }
    return next_due(election);
}

void election_set_current(struct election *election, const struct election_vote *current)
{
    assert(!election->sending);
    assert(state_is_valid(current->state));
    election->current = *current;
    if (current->state == PEER_LOOKING) {
        /* Not a role: a running round goes on, an idle election stays idle
         * until election_start. */
        return;
    }
    election->round_running = false;
    election->finalizing = false;
    election->state = current->state;
}

enum peer_state election_state(const struct election *election)
{
    return election->state;
}

struct election_vote election_current_vote(const struct election *election)
{
    if (election->round_running) {
        return proposed_vote(election);
    }
    return election->current;
}

int64_t election_logical_clock(const struct election *election)
{
    return election->logical_clock;
}
