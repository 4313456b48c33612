/* Fast leader election (consensus/election.c) against FastLeaderElection's
 * rules: single elections fed notifications by hand, and ensembles of
 * elections joined by an in-test network (a message queue delivered in a
 * chosen or random order, with drops and delays) on a fake clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/election.h"

#define FINALIZE_WAIT_MS 200
#define INTERVAL_MIN_MS 200
#define INTERVAL_MAX_MS 60000

/* ---- one election, its output captured ---------------------------------- */

#define CAPTURE_SENDS_MAX 256

struct capture {
    int64_t to[CAPTURE_SENDS_MAX];
    struct election_notification sent[CAPTURE_SENDS_MAX];
    size_t sent_count;
    int decided_count;
    struct election_vote decided_vote;
    enum peer_state decided_state;
};

static void capture_send(void *context, int64_t to_id, const struct election_notification *n)
{
    struct capture *capture = context;
    assert_true(capture->sent_count < CAPTURE_SENDS_MAX);
    capture->to[capture->sent_count] = to_id;
    capture->sent[capture->sent_count] = *n;
    capture->sent_count++;
}

static void capture_decided(void *context, const struct election_vote *vote, enum peer_state state)
{
    struct capture *capture = context;
    capture->decided_count++;
    capture->decided_vote = *vote;
    capture->decided_state = state;
}

/* Members 1..4 vote, 5 observes. */
static const struct election_member five_members[] = {
    {1, true}, {2, true}, {3, true}, {4, true}, {5, false},
};

static struct election *capture_election_of(struct capture *capture, int64_t my_id,
                                            const struct election_member *members,
                                            size_t member_count)
{
    memset(capture, 0, sizeof *capture);
    struct election_config config = {
        .my_id = my_id,
        .members = members,
        .member_count = member_count,
        .finalize_wait_ms = FINALIZE_WAIT_MS,
        .notification_interval_min_ms = INTERVAL_MIN_MS,
        .notification_interval_max_ms = INTERVAL_MAX_MS,
    };
    struct election_output output = {capture_send, capture_decided, capture};
    struct election *election = election_create(&config, &output);
    assert_non_null(election);
    return election;
}

static struct election *capture_election(struct capture *capture, int64_t my_id)
{
    return capture_election_of(capture, my_id, five_members, 5);
}

static struct election_notification looking(int64_t leader, int64_t zxid, int64_t election_epoch,
                                            int64_t peer_epoch)
{
    return (struct election_notification){
        .state = PEER_LOOKING,
        .leader = leader,
        .zxid = zxid,
        .election_epoch = election_epoch,
        .peer_epoch = peer_epoch,
        .version = 2,
    };
}

static struct election_notification established(enum peer_state state, int64_t leader, int64_t zxid,
                                                int64_t election_epoch, int64_t peer_epoch)
{
    struct election_notification n = looking(leader, zxid, election_epoch, peer_epoch);
    n.state = state;
    return n;
}

static void test_config_validation(void **state)
{
    (void)state;
    struct capture capture = {0};
    struct election_output output = {capture_send, capture_decided, &capture};
    struct election_config config = {
        .my_id = 1,
        .members = five_members,
        .member_count = 5,
        .finalize_wait_ms = FINALIZE_WAIT_MS,
        .notification_interval_min_ms = INTERVAL_MIN_MS,
        .notification_interval_max_ms = INTERVAL_MAX_MS,
    };
    struct election *election = election_create(&config, &output);
    assert_non_null(election);
    assert_int_equal(election_state(election), PEER_LOOKING);
    assert_int_equal(election_logical_clock(election), 0);
    assert_true(election_tick(election, 1000) == INT64_MAX); /* idle */
    election_destroy(election);

    struct election_config bad = config;
    bad.my_id = 9;
    assert_null(election_create(&bad, &output));
    bad = config;
    bad.member_count = ELECTION_MEMBERS_MAX + 1;
    assert_null(election_create(&bad, &output));
    bad = config;
    bad.notification_interval_min_ms = 0;
    assert_null(election_create(&bad, &output));
    bad = config;
    bad.notification_interval_max_ms = 0;
    assert_null(election_create(&bad, &output));
    bad = config;
    bad.member_count = 0;
    assert_null(election_create(&bad, &output));
    static const struct election_member duplicated[] = {{1, true}, {1, true}};
    bad = config;
    bad.members = duplicated;
    bad.member_count = 2;
    assert_null(election_create(&bad, &output));
    static const struct election_member no_voter[] = {{1, false}};
    bad = config;
    bad.members = no_voter;
    bad.member_count = 1;
    assert_null(election_create(&bad, &output));
}

static void test_start_proposes_self_to_every_voter(void **state)
{
    (void)state;
    struct capture capture;
    struct election *election = capture_election(&capture, 2);
    election_start(election, 0x100000007, 1, 0);
    assert_int_equal(election_logical_clock(election), 1);
    assert_int_equal(election_state(election), PEER_LOOKING);
    /* Voters 1..4 (self included), never the observer 5. */
    assert_int_equal(capture.sent_count, 4);
    for (size_t i = 0; i < capture.sent_count; i++) {
        assert_int_equal(capture.to[i], (int64_t)i + 1);
        assert_int_equal(capture.sent[i].state, PEER_LOOKING);
        assert_int_equal(capture.sent[i].leader, 2);
        assert_true(capture.sent[i].zxid == 0x100000007);
        assert_int_equal(capture.sent[i].election_epoch, 1);
        assert_int_equal(capture.sent[i].peer_epoch, 1);
        assert_int_equal(capture.sent[i].version, 2);
    }
    struct election_vote vote = election_current_vote(election);
    assert_int_equal(vote.leader, 2);
    assert_int_equal(vote.state, PEER_LOOKING);
    assert_true(election_tick(election, 0) == INTERVAL_MIN_MS);
    election_destroy(election);
}

/* totalOrderPredicate, seen from outside: a LOOKING notification of this
 * round whose vote beats ours is adopted and broadcast; otherwise not. */
static bool adopts(int64_t leader, int64_t zxid, int64_t peer_epoch)
{
    struct capture capture;
    struct election *election = capture_election(&capture, 2);
    election_start(election, 0x500000005, 5, 0);
    capture.sent_count = 0;
    struct election_notification n = looking(leader, zxid, 1, peer_epoch);
    election_receive(election, 1, &n, 10);
    struct election_vote vote = election_current_vote(election);
    bool adopted = vote.leader == leader && vote.zxid == zxid && vote.peer_epoch == peer_epoch;
    /* A change of proposal goes to every voter; no change sends nothing. */
    assert_int_equal(capture.sent_count, adopted ? 4 : 0);
    if (!adopted) {
        assert_int_equal(vote.leader, 2);
    }
    election_destroy(election);
    return adopted;
}

static void test_total_order(void **state)
{
    (void)state;
    /* Our vote: leader 2, zxid 0x500000005, peer epoch 5. */
    assert_true(adopts(1, 0x400000001, 6));  /* higher epoch beats zxid and id */
    assert_true(adopts(1, 0x500000006, 5));  /* same epoch, higher zxid beats id */
    assert_true(adopts(3, 0x500000005, 5));  /* same epoch and zxid, higher id */
    assert_false(adopts(1, 0x500000005, 5)); /* lower id */
    assert_false(adopts(4, 0x500000004, 5)); /* lower zxid, higher id */
    assert_false(adopts(4, 0x600000009, 4)); /* lower epoch, higher zxid */
    /* An observer never wins, whatever its vote. */
    assert_false(adopts(5, 0x900000009, 9));
    /* Nor does a server that is not a member. */
    assert_false(adopts(7, 0x900000009, 9));
}

static void test_unknown_sender_and_observer_sender(void **state)
{
    (void)state;
    struct capture capture;
    struct election *election = capture_election(&capture, 2);
    election_start(election, 3, 0, 0);
    capture.sent_count = 0;
    /* An id outside the ensemble (reconfigured out, or joining): answered
     * with our vote as ZooKeeper's WorkerReceiver does, never adopted or
     * counted. */
    struct election_notification n = looking(4, 9, 1, 0);
    election_receive(election, 9, &n, 1);
    assert_int_equal(capture.sent_count, 1);
    assert_int_equal(capture.to[0], 9);
    assert_int_equal(capture.sent[0].leader, 2);
    assert_int_equal(capture.sent[0].state, PEER_LOOKING);
    assert_int_equal(election_current_vote(election).leader, 2);
    assert_int_equal(election_logical_clock(election), 1);
    capture.sent_count = 0;

    /* The observer (5) LOOKING: answered at once with our vote and state,
     * but neither adopted nor counted. */
    struct election_notification from_observer = looking(INT64_MIN, INT64_MIN, 1, INT64_MIN);
    election_receive(election, 5, &from_observer, 2);
    assert_int_equal(capture.sent_count, 1);
    assert_int_equal(capture.to[0], 5);
    assert_int_equal(capture.sent[0].state, PEER_LOOKING);
    assert_int_equal(capture.sent[0].leader, 2);
    assert_int_equal(capture.sent[0].zxid, 3);
    assert_int_equal(capture.sent[0].election_epoch, 1);

    /* Nor is an observer's better vote, or newer round, adopted. */
    capture.sent_count = 0;
    struct election_notification observer_better = looking(4, 9, 3, 0);
    election_receive(election, 5, &observer_better, 2);
    assert_int_equal(capture.sent_count, 1);
    assert_int_equal(capture.to[0], 5);
    assert_int_equal(election_current_vote(election).leader, 2);
    assert_int_equal(election_logical_clock(election), 1);

    /* The observer's notification naming 4 does not count toward 4: with
     * our own vote for 4 and 4's own, two of four voters is no quorum, and
     * the observer's would have made it three. */
    capture.sent_count = 0;
    struct election_notification for_four = looking(4, 9, 1, 0);
    election_receive(election, 4, &for_four, 3); /* adopt 4, broadcast */
    assert_int_equal(capture.sent_count, 4);
    election_receive(election, 2, &for_four, 3); /* our own, back */
    election_receive(election, 5, &for_four, 3);
    assert_true(election_tick(election, 3) == 3 + INTERVAL_MIN_MS); /* not finalizing */
    election_receive(election, 3, &for_four, 3);                     /* a third voter */
    assert_true(election_tick(election, 3) == 3 + FINALIZE_WAIT_MS);
    election_tick(election, 3 + FINALIZE_WAIT_MS);
    assert_int_equal(capture.decided_count, 1);
    assert_int_equal(capture.decided_vote.leader, 4);
    assert_int_equal(capture.decided_state, PEER_FOLLOWING);
    election_destroy(election);
}

/* WorkerReceiver: a LOOKING voter from an older round gets our vote, and
 * its vote is ignored even when better. */
static void test_older_round_is_answered_and_ignored(void **state)
{
    (void)state;
    struct capture capture;
    struct election *election = capture_election(&capture, 2);
    election_start(election, 3, 0, 0);
    election_start(election, 3, 0, 0);
    assert_int_equal(election_logical_clock(election), 2);
    capture.sent_count = 0;
    struct election_notification old = looking(4, 9, 1, 0);
    election_receive(election, 4, &old, 5);
    assert_int_equal(capture.sent_count, 1);
    assert_int_equal(capture.to[0], 4);
    assert_int_equal(capture.sent[0].state, PEER_LOOKING);
    assert_int_equal(capture.sent[0].leader, 2);
    assert_int_equal(capture.sent[0].election_epoch, 2);
    assert_int_equal(election_current_vote(election).leader, 2);
    assert_int_equal(election_logical_clock(election), 2);
    /* Old FOLLOWING/LEADING notifications are not answered. */
    struct election_notification old_follower = established(PEER_FOLLOWING, 4, 9, 1, 0);
    election_receive(election, 3, &old_follower, 6);
    assert_int_equal(capture.sent_count, 1);
    election_destroy(election);
}

/* A LOOKING notification from a newer round: adopt its epoch, forget the
 * votes of ours, propose the better of its vote and our initial one. */
static void test_newer_round_is_joined_single(void **state)
{
    (void)state;
    struct capture capture;
    struct election *election = capture_election(&capture, 3);
    election_start(election, 7, 0, 0);
    /* In round 1 we adopted 4, and 1 and 2 said they follow 4 (peer epoch
     * 1); 4 itself never said LEADING. */
    struct election_notification four = looking(4, 7, 1, 0);
    election_receive(election, 4, &four, 1);
    assert_int_equal(election_current_vote(election).leader, 4);
    struct election_notification follows_four = established(PEER_FOLLOWING, 4, 7, 1, 1);
    election_receive(election, 1, &follows_four, 1);
    election_receive(election, 2, &follows_four, 1);
    assert_int_equal(capture.decided_count, 0);
    capture.sent_count = 0;
    /* Round 5 from server 4 proposing itself with less logged: our
     * initial vote (3) is better. */
    struct election_notification newer = looking(4, 6, 5, 0);
    election_receive(election, 4, &newer, 2);
    assert_int_equal(election_logical_clock(election), 5);
    struct election_vote vote = election_current_vote(election);
    assert_int_equal(vote.leader, 3);
    assert_int_equal(vote.election_epoch, 5);
    assert_int_equal(capture.sent_count, 4);
    assert_int_equal(capture.sent[0].election_epoch, 5);
    assert_int_equal(capture.sent[0].leader, 3);
    /* Round 1's votes are forgotten in recvset: 4 saying LEADING in round 5
     * (peer epoch 2) is one vote there. Out of election they are kept, and
     * (Cheetah's rule, test_server_without_vote_joins_whatever_epoch)
     * voters that follow 4 count whatever epoch they name: 1 and 2
     * following 4 and 4 leading is three of four, so we follow 4. */
    struct election_notification leads = established(PEER_LEADING, 4, 7, 5, 2);
    election_receive(election, 4, &leads, 3);
    assert_int_equal(capture.decided_count, 1);
    assert_int_equal(capture.decided_vote.leader, 4);
    assert_int_equal(capture.decided_vote.peer_epoch, 2);
    assert_int_equal(election_state(election), PEER_FOLLOWING);
    election_destroy(election);

    /* With a newer round whose vote beats our initial vote, adopt it. */
    election = capture_election(&capture, 1);
    election_start(election, 7, 0, 0);
    struct election_notification better = looking(2, 8, 3, 0);
    election_receive(election, 2, &better, 1);
    assert_int_equal(election_logical_clock(election), 3);
    assert_int_equal(election_current_vote(election).leader, 2);
    assert_int_equal(election_current_vote(election).zxid, 8);
    election_destroy(election);
}

/* Servers whose zxid is -1 cannot vote: their LOOKING votes are ignored. */
static void test_minus_one_zxid_ignored(void **state)
{
    (void)state;
    struct capture capture;
    struct election *election = capture_election(&capture, 1);
    election_start(election, 5, 0, 0);
    capture.sent_count = 0;
    struct election_notification unknown = looking(4, -1, 1, 9);
    election_receive(election, 4, &unknown, 1);
    assert_int_equal(election_current_vote(election).leader, 1);
    assert_int_equal(capture.sent_count, 0);
    election_destroy(election);
}

/* ---- ensembles on an in-test network ------------------------------------ */

#define NODES_MAX 9
#define QUEUE_MAX 8192
#define RUN_STEPS_MAX 400000
#define EPOCHS_TRACKED 64

struct net;

struct node {
    struct net *net;
    int64_t id;
    bool voting;
    bool up;
    struct election *election;
    int64_t tick_due_ms;
    int starts;
    int decided_count;
    struct election_vote decided_vote;
    enum peer_state decided_state;
    int64_t decided_at_ms;
    /* When this node broadcast (sent to its own id): resends and changes. */
    int64_t self_send_times_ms[64];
    size_t self_send_count;
};

struct message {
    int64_t from, to;
    struct election_notification notification;
    int64_t deliver_at_ms;
};

struct net {
    struct node nodes[NODES_MAX];
    size_t node_count;
    struct election_member members[NODES_MAX];
    struct message queue[QUEUE_MAX];
    size_t queue_count;
    int64_t now_ms;
    uint64_t rng;
    bool random_order;
    int64_t delay_max_ms;
    /* Messages between different sides are dropped before this time. */
    int64_t partition_until_ms;
    int side[NODES_MAX];
    /* Per election epoch, the leader decided in it (0: none yet). */
    int64_t epoch_leader[EPOCHS_TRACKED];
    size_t messages_sent;
    /* QuorumCnxManager keeps the last message for a peer it cannot reach
     * (a send queue of one) and sends it once the peer connects: the last
     * notification to each server that is down, by sender and receiver. */
    bool held[NODES_MAX][NODES_MAX];
    struct election_notification held_notification[NODES_MAX][NODES_MAX];
    uint64_t seed; /* of a randomised run, for its failure messages */
    bool trace;    /* print every event (debugging a seed) */
};

static uint64_t next_random(struct net *net)
{
    /* splitmix64 */
    net->rng += 0x9e3779b97f4a7c15ULL;
    uint64_t z = net->rng;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int64_t random_below(struct net *net, int64_t bound)
{
    assert_true(bound > 0);
    return (int64_t)(next_random(net) % (uint64_t)bound);
}

static struct node *node_by_id(struct net *net, int64_t id)
{
    for (size_t i = 0; i < net->node_count; i++) {
        if (net->nodes[i].id == id) {
            return &net->nodes[i];
        }
    }
    return NULL;
}

static void enqueue(struct net *net, int64_t from_id, int64_t to_id,
                    const struct election_notification *n)
{
    assert_true(net->queue_count < QUEUE_MAX);
    int64_t delay_ms = net->delay_max_ms > 0 ? random_below(net, net->delay_max_ms + 1) : 0;
    net->queue[net->queue_count++] = (struct message){
        .from = from_id,
        .to = to_id,
        .notification = *n,
        .deliver_at_ms = net->now_ms + delay_ms,
    };
}

static void net_send(void *context, int64_t to_id, const struct election_notification *n)
{
    struct node *node = context;
    struct net *net = node->net;
    if (to_id == node->id && node->self_send_count < 64) {
        node->self_send_times_ms[node->self_send_count++] = net->now_ms;
    }
    net->messages_sent++;
    struct node *to = node_by_id(net, to_id);
    assert_non_null(to);
    if (net->now_ms < net->partition_until_ms &&
        net->side[node - net->nodes] != net->side[to - net->nodes]) {
        return;
    }
    enqueue(net, node->id, to_id, n);
}

static void net_decided(void *context, const struct election_vote *vote, enum peer_state state)
{
    struct node *node = context;
    struct net *net = node->net;
    node->decided_count++;
    /* Exactly once per election_start. */
    assert_true(node->decided_count <= node->starts);
    node->decided_vote = *vote;
    node->decided_state = state;
    node->decided_at_ms = net->now_ms;
    if (net->trace) {
        fprintf(stderr, "%6lld decided %lld: leader %lld state %d round %lld\n",
                (long long)net->now_ms, (long long)node->id, (long long)vote->leader, (int)state,
                (long long)vote->election_epoch);
    }
    assert_int_equal(vote->state, state);
    assert_int_equal(state, vote->leader == node->id
                                ? PEER_LEADING
                                : (node->voting ? PEER_FOLLOWING : PEER_OBSERVING));
    /* Never two leaders in one election epoch. */
    assert_true(vote->election_epoch >= 0 && vote->election_epoch < EPOCHS_TRACKED);
    int64_t *leader = &net->epoch_leader[vote->election_epoch];
    if (*leader == 0) {
        *leader = vote->leader;
    }
    if (*leader != vote->leader) {
        fail_msg("seed %llu: server %lld decided %lld in epoch %lld, where %lld was decided",
                 (unsigned long long)net->seed, (long long)node->id, (long long)vote->leader,
                 (long long)vote->election_epoch, (long long)*leader);
    }
}

/* Nodes 1..voters vote, the next `observers` observe. */
static void net_init(struct net *net, size_t voters, size_t observers, uint64_t seed)
{
    memset(net, 0, sizeof *net);
    net->rng = seed;
    net->node_count = voters + observers;
    assert_true(net->node_count <= NODES_MAX);
    for (size_t i = 0; i < net->node_count; i++) {
        net->members[i] = (struct election_member){.id = (int64_t)i + 1, .voting = i < voters};
    }
    for (size_t i = 0; i < net->node_count; i++) {
        struct node *node = &net->nodes[i];
        node->net = net;
        node->id = (int64_t)i + 1;
        node->voting = i < voters;
        node->tick_due_ms = INT64_MAX;
        struct election_config config = {
            .my_id = node->id,
            .members = net->members,
            .member_count = net->node_count,
            .finalize_wait_ms = FINALIZE_WAIT_MS,
            .notification_interval_min_ms = INTERVAL_MIN_MS,
            .notification_interval_max_ms = INTERVAL_MAX_MS,
        };
        struct election_output output = {net_send, net_decided, node};
        node->election = election_create(&config, &output);
        assert_non_null(node->election);
    }
}

static void net_destroy(struct net *net)
{
    for (size_t i = 0; i < net->node_count; i++) {
        election_destroy(net->nodes[i].election);
    }
}

static void node_start(struct net *net, int64_t id, int64_t last_zxid, int64_t current_epoch)
{
    struct node *node = node_by_id(net, id);
    node->up = true;
    node->starts++;
    election_start(node->election, last_zxid, current_epoch, net->now_ms);
    node->tick_due_ms = election_tick(node->election, net->now_ms);
    size_t to = (size_t)(id - 1);
    for (size_t from = 0; from < net->node_count; from++) {
        if (net->held[from][to]) {
            net->held[from][to] = false;
            enqueue(net, (int64_t)from + 1, id, &net->held_notification[from][to]);
        }
    }
}

/* The server is gone: it neither receives nor ticks. */
static void node_stop(struct net *net, int64_t id)
{
    struct node *node = node_by_id(net, id);
    node->up = false;
    node->tick_due_ms = INT64_MAX;
}

static void trace_message(const char *what, const struct net *net, const struct message *message)
{
    const struct election_notification *n = &message->notification;
    fprintf(stderr, "%6lld %s %lld->%lld state %d leader %lld zxid %llx round %lld epoch %lld\n",
            (long long)net->now_ms, what, (long long)message->from, (long long)message->to,
            (int)n->state, (long long)n->leader, (unsigned long long)n->zxid,
            (long long)n->election_epoch, (long long)n->peer_epoch);
}

static void deliver_one(struct net *net)
{
    size_t due[QUEUE_MAX];
    size_t due_count = 0;
    for (size_t i = 0; i < net->queue_count; i++) {
        if (net->queue[i].deliver_at_ms <= net->now_ms) {
            due[due_count++] = i;
            if (!net->random_order) {
                break; /* the oldest due message first */
            }
        }
    }
    assert_true(due_count > 0);
    size_t pick = due[net->random_order ? (size_t)random_below(net, (int64_t)due_count) : 0];
    struct message message = net->queue[pick];
    memmove(&net->queue[pick], &net->queue[pick + 1],
            (net->queue_count - pick - 1) * sizeof net->queue[0]);
    net->queue_count--;
    struct node *to = node_by_id(net, message.to);
    if (!to->up) {
        net->held[message.from - 1][message.to - 1] = true;
        net->held_notification[message.from - 1][message.to - 1] = message.notification;
        return;
    }
    if (net->trace) {
        trace_message("deliver", net, &message);
    }
    election_receive(to->election, message.from, &message.notification, net->now_ms);
    /* The peer asks when to tick next after every event. */
    to->tick_due_ms = election_tick(to->election, net->now_ms);
}

static bool has_due_message(const struct net *net)
{
    for (size_t i = 0; i < net->queue_count; i++) {
        if (net->queue[i].deliver_at_ms <= net->now_ms) {
            return true;
        }
    }
    return false;
}

static int64_t next_event_ms(const struct net *net)
{
    int64_t next_ms = INT64_MAX;
    for (size_t i = 0; i < net->queue_count; i++) {
        next_ms = net->queue[i].deliver_at_ms < next_ms ? net->queue[i].deliver_at_ms : next_ms;
    }
    for (size_t i = 0; i < net->node_count; i++) {
        if (net->nodes[i].up && net->nodes[i].tick_due_ms < next_ms) {
            next_ms = net->nodes[i].tick_due_ms;
        }
    }
    return next_ms;
}

/* Delivers and ticks until the clock reaches `end_ms` (messages due at
 * end_ms are delivered, ticks due at end_ms run). */
static void net_run_until(struct net *net, int64_t end_ms)
{
    for (int step = 0; step < RUN_STEPS_MAX; step++) {
        if (has_due_message(net)) {
            deliver_one(net);
            continue;
        }
        bool ticked = false;
        for (size_t i = 0; i < net->node_count; i++) {
            struct node *node = &net->nodes[i];
            if (node->up && node->tick_due_ms <= net->now_ms) {
                node->tick_due_ms = election_tick(node->election, net->now_ms);
                ticked = true;
            }
        }
        if (ticked) {
            continue;
        }
        int64_t next_ms = next_event_ms(net);
        if (next_ms > end_ms) {
            net->now_ms = end_ms;
            return;
        }
        assert_true(next_ms >= net->now_ms);
        net->now_ms = next_ms;
    }
    fail_msg("the network did not settle within %d steps", RUN_STEPS_MAX);
}

/* Runs until every up node decided (or fails after `limit_ms`). */
static void net_run_until_decided(struct net *net, int64_t limit_ms)
{
    for (;;) {
        bool all = true;
        for (size_t i = 0; i < net->node_count; i++) {
            const struct node *node = &net->nodes[i];
            all = all && (!node->up || node->decided_count == node->starts);
        }
        int64_t next_ms = next_event_ms(net);
        if (all || next_ms > limit_ms) {
            break;
        }
        net_run_until(net, next_ms);
    }
    for (size_t i = 0; i < net->node_count; i++) {
        const struct node *node = &net->nodes[i];
        if (node->up && node->decided_count != node->starts) {
            fail_msg("server %lld did not decide by %lld ms", (long long)node->id,
                     (long long)limit_ms);
        }
    }
}

static void assert_decided(const struct net *net, int64_t id, int64_t leader, enum peer_state state)
{
    const struct node *node = &net->nodes[id - 1];
    assert_int_equal(node->decided_count, node->starts);
    assert_int_equal(node->decided_vote.leader, leader);
    assert_int_equal(node->decided_state, state);
    assert_int_equal(election_state(node->election), state);
    assert_int_equal(election_current_vote(node->election).leader, leader);
}

static void assert_undecided(const struct net *net, int64_t id)
{
    const struct node *node = &net->nodes[id - 1];
    assert_int_equal(node->decided_count, node->starts - 1 < 0 ? 0 : node->starts - 1);
    assert_int_equal(election_state(node->election), PEER_LOOKING);
}

static void test_three_start_together(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 3, 0, 1);
    for (int64_t id = 1; id <= 3; id++) {
        node_start(&net, id, 0, 0);
    }
    net_run_until(&net, FINALIZE_WAIT_MS - 1);
    for (int64_t id = 1; id <= 3; id++) {
        assert_undecided(&net, id);
    }
    net_run_until(&net, 5000);
    assert_decided(&net, 1, 3, PEER_FOLLOWING);
    assert_decided(&net, 2, 3, PEER_FOLLOWING);
    assert_decided(&net, 3, 3, PEER_LEADING);
    for (int64_t id = 1; id <= 3; id++) {
        /* Quorum at t=0, then the finalize wait. */
        assert_int_equal(net.nodes[id - 1].decided_at_ms, FINALIZE_WAIT_MS);
        assert_int_equal(net.nodes[id - 1].decided_vote.election_epoch, 1);
        assert_true(net.nodes[id - 1].tick_due_ms == INT64_MAX);
    }
    net_destroy(&net);
}

/* The example: five servers started one after the other. */
static void test_five_started_one_after_the_other(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 5, 0, 2);
    node_start(&net, 1, 0, 0);
    net_run_until(&net, 10000);
    assert_undecided(&net, 1);
    node_start(&net, 2, 0, 0);
    net_run_until(&net, 20000);
    assert_undecided(&net, 1);
    assert_undecided(&net, 2);
    assert_int_equal(election_current_vote(net.nodes[0].election).leader, 2);

    /* 1, 2 and 3 are a majority of 5: 3 wins at once. */
    node_start(&net, 3, 0, 0);
    net_run_until(&net, 20000 + FINALIZE_WAIT_MS);
    assert_decided(&net, 1, 3, PEER_FOLLOWING);
    assert_decided(&net, 2, 3, PEER_FOLLOWING);
    assert_decided(&net, 3, 3, PEER_LEADING);
    assert_int_equal(net.nodes[2].decided_at_ms, 20000 + FINALIZE_WAIT_MS);

    /* 4 and 5 hear FOLLOWING / LEADING answers and follow 3 without a
     * finalize wait. */
    net_run_until(&net, 30000);
    node_start(&net, 4, 0, 0);
    net_run_until(&net, 30000);
    assert_decided(&net, 4, 3, PEER_FOLLOWING);
    assert_int_equal(net.nodes[3].decided_at_ms, 30000);
    node_start(&net, 5, 0, 0);
    net_run_until(&net, 40000);
    assert_decided(&net, 5, 3, PEER_FOLLOWING);
    assert_int_equal(net.nodes[4].decided_at_ms, 30000);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(net.nodes[i].decided_vote.election_epoch, 1);
    }
    net_destroy(&net);
}

static void test_higher_zxid_then_epoch_wins(void **state)
{
    (void)state;
    struct net net;
    /* Same epoch: the highest zxid beats higher ids. */
    net_init(&net, 3, 0, 3);
    node_start(&net, 1, 0x100000009, 1);
    node_start(&net, 2, 0x100000005, 1);
    node_start(&net, 3, 0x100000005, 1);
    net_run_until(&net, 5000);
    assert_decided(&net, 1, 1, PEER_LEADING);
    assert_decided(&net, 2, 1, PEER_FOLLOWING);
    assert_decided(&net, 3, 1, PEER_FOLLOWING);
    assert_true(net.nodes[2].decided_vote.zxid == 0x100000009);
    net_destroy(&net);

    /* A higher epoch beats a higher zxid. */
    net_init(&net, 3, 0, 4);
    node_start(&net, 1, 0x200000001, 2);
    node_start(&net, 2, 0x10000ffff, 1);
    node_start(&net, 3, 0x100000005, 1);
    net_run_until(&net, 5000);
    assert_decided(&net, 1, 1, PEER_LEADING);
    assert_decided(&net, 2, 1, PEER_FOLLOWING);
    assert_decided(&net, 3, 1, PEER_FOLLOWING);
    assert_int_equal(net.nodes[1].decided_vote.peer_epoch, 2);
    net_destroy(&net);
}

static void test_newer_election_epoch_is_joined(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 3, 0, 5);
    /* Cut off from each other, 2 runs three more rounds than the others. */
    for (int i = 0; i < 3; i++) {
        net.side[i] = i;
    }
    net.partition_until_ms = 50;
    node_start(&net, 1, 0, 0);
    node_start(&net, 3, 0, 0);
    for (int round = 0; round < 4; round++) {
        node_start(&net, 2, 0, 0);
        net.nodes[1].starts = 1; /* one decision expected for the last round */
    }
    assert_int_equal(election_logical_clock(net.nodes[1].election), 4);
    net_run_until(&net, 49);
    for (int64_t id = 1; id <= 3; id++) {
        assert_undecided(&net, id);
    }
    /* The resends at 200 meet: 1 and 3 join round 4. */
    net_run_until(&net, 5000);
    for (int64_t id = 1; id <= 3; id++) {
        assert_decided(&net, id, 3, id == 3 ? PEER_LEADING : PEER_FOLLOWING);
        assert_int_equal(net.nodes[id - 1].decided_vote.election_epoch, 4);
        assert_int_equal(election_logical_clock(net.nodes[id - 1].election), 4);
    }
    net_destroy(&net);
}

/* Alone, a server resends at the minimum interval, doubling up to the
 * maximum. */
static void test_resend_backoff_is_capped(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 3, 0, 6);
    struct election_config config = {
        .my_id = 1,
        .members = net.members,
        .member_count = 3,
        .finalize_wait_ms = FINALIZE_WAIT_MS,
        .notification_interval_min_ms = 200,
        .notification_interval_max_ms = 1000,
    };
    struct election_output output = {net_send, net_decided, &net.nodes[0]};
    election_destroy(net.nodes[0].election);
    net.nodes[0].election = election_create(&config, &output);
    assert_non_null(net.nodes[0].election);
    node_start(&net, 1, 0, 0);
    net_run_until(&net, 4000);
    /* 0, then +200, +400, +800, then +1000 (the cap) */
    const int64_t expected_ms[] = {0, 200, 600, 1400, 2400, 3400};
    assert_int_equal(net.nodes[0].self_send_count, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(net.nodes[0].self_send_times_ms[i], expected_ms[i]);
    }
    assert_undecided(&net, 1);
    assert_true(net.nodes[0].tick_due_ms == 4400);

    /* 2 comes up: its vote (2) wins, decided after the finalize wait. */
    node_start(&net, 2, 0, 0);
    net_run_until(&net, 10000);
    assert_decided(&net, 1, 2, PEER_FOLLOWING);
    assert_decided(&net, 2, 2, PEER_LEADING);
    assert_int_equal(net.nodes[0].decided_at_ms, 4000 + FINALIZE_WAIT_MS);
    net_destroy(&net);
}

/* A lost notification is recovered by the resend on timeout. */
static void test_lost_notifications_recovered_by_resend(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 3, 0, 7);
    /* 3 is down; every notification between 1 and 2 at t=0 is lost. */
    net.side[0] = 0;
    net.side[1] = 1;
    net.partition_until_ms = 1;
    node_start(&net, 1, 0, 0);
    node_start(&net, 2, 0, 0);
    net_run_until(&net, INTERVAL_MIN_MS - 1);
    assert_undecided(&net, 1);
    assert_undecided(&net, 2);
    net_run_until(&net, 10000);
    /* Resent at 200, quorum at 200, decided at 400. */
    assert_decided(&net, 1, 2, PEER_FOLLOWING);
    assert_decided(&net, 2, 2, PEER_LEADING);
    assert_int_equal(net.nodes[0].decided_at_ms, INTERVAL_MIN_MS + FINALIZE_WAIT_MS);
    assert_int_equal(net.nodes[1].decided_at_ms, INTERVAL_MIN_MS + FINALIZE_WAIT_MS);
    net_destroy(&net);
}

static void test_finalize_wait(void **state)
{
    (void)state;
    struct net net;
    /* Nothing better comes: decided at quorum + finalize_wait_ms. */
    net_init(&net, 3, 0, 8);
    net_run_until(&net, 1000);
    node_start(&net, 1, 5, 0);
    node_start(&net, 2, 5, 0);
    net_run_until(&net, 1000 + FINALIZE_WAIT_MS - 1);
    assert_undecided(&net, 1);
    assert_undecided(&net, 2);
    net_run_until(&net, 1000 + FINALIZE_WAIT_MS);
    assert_decided(&net, 1, 2, PEER_FOLLOWING);
    assert_decided(&net, 2, 2, PEER_LEADING);
    net_destroy(&net);

    /* A better vote within the wait changes the outcome. */
    net_init(&net, 3, 0, 9);
    node_start(&net, 1, 5, 0);
    node_start(&net, 2, 5, 0);
    net_run_until(&net, 150);
    node_start(&net, 3, 5, 0);
    net_run_until(&net, 150 + FINALIZE_WAIT_MS - 1);
    for (int64_t id = 1; id <= 3; id++) {
        assert_undecided(&net, id);
    }
    net_run_until(&net, 150 + FINALIZE_WAIT_MS);
    assert_decided(&net, 1, 3, PEER_FOLLOWING);
    assert_decided(&net, 2, 3, PEER_FOLLOWING);
    assert_decided(&net, 3, 3, PEER_LEADING);
    net_destroy(&net);

    /* A worse vote within the wait is dropped, and the wait starts again. */
    net_init(&net, 3, 0, 10);
    node_start(&net, 1, 5, 0);
    node_start(&net, 2, 5, 0);
    net_run_until(&net, 100);
    node_start(&net, 3, 1, 0);
    net_run_until(&net, 100 + FINALIZE_WAIT_MS - 1);
    for (int64_t id = 1; id <= 3; id++) {
        assert_undecided(&net, id);
    }
    net_run_until(&net, 100 + FINALIZE_WAIT_MS);
    assert_decided(&net, 1, 2, PEER_FOLLOWING);
    assert_decided(&net, 2, 2, PEER_LEADING);
    /* 3 learns the leader from the answers to its resend. */
    assert_decided(&net, 3, 2, PEER_FOLLOWING);
    net_destroy(&net);
}

static void test_observer_learns_and_never_counts(void **state)
{
    (void)state;
    struct net net;
    /* Voters 1..3, observers 4 and 5. */
    net_init(&net, 3, 2, 11);
    node_start(&net, 1, 0, 0);
    node_start(&net, 4, 0, 0);
    node_start(&net, 5, 0, 0);
    struct election_vote nobody = election_current_vote(net.nodes[3].election);
    assert_true(nobody.leader == INT64_MIN);
    assert_true(nobody.zxid == INT64_MIN);
    assert_true(nobody.peer_epoch == INT64_MIN);
    /* One voter and two observers: three servers, but one voter of three. */
    net_run_until(&net, 20000);
    assert_undecided(&net, 1);
    assert_undecided(&net, 4);
    assert_undecided(&net, 5);
    assert_int_equal(election_current_vote(net.nodes[0].election).leader, 1);

    node_start(&net, 2, 0, 0);
    net_run_until_decided(&net, 200000);
    assert_decided(&net, 1, 2, PEER_FOLLOWING);
    assert_decided(&net, 2, 2, PEER_LEADING);
    assert_decided(&net, 4, 2, PEER_OBSERVING);
    assert_decided(&net, 5, 2, PEER_OBSERVING);
    net_destroy(&net);

    /* Everyone together: the observers learn from the voters' LOOKING
     * quorum or their answers, never win, and still see the same leader. */
    net_init(&net, 3, 2, 12);
    for (int64_t id = 5; id >= 1; id--) {
        node_start(&net, id, 0, 0);
    }
    net_run_until_decided(&net, 200000);
    assert_decided(&net, 3, 3, PEER_LEADING);
    assert_decided(&net, 4, 3, PEER_OBSERVING);
    assert_decided(&net, 5, 3, PEER_OBSERVING);
    net_destroy(&net);
}

/* A joining server follows an established leader only once the leader
 * itself said LEADING (checkLeader). */
static void test_join_requires_leader_saying_leading(void **state)
{
    (void)state;
    struct capture capture;
    struct election *election = capture_election(&capture, 1);
    election_start(election, 0, 0, 0);
    /* Three of four voters say they follow 4 in round 7, but 4 itself has
     * not spoken: no decision. */
    struct election_notification following = established(PEER_FOLLOWING, 4, 0, 7, 1);
    election_receive(election, 2, &following, 1);
    election_receive(election, 3, &following, 1);
    struct election_notification observer_says = established(PEER_OBSERVING, 4, 0, 7, 1);
    election_receive(election, 5, &observer_says, 1);
    assert_int_equal(capture.decided_count, 0);
    /* A FOLLOWING notification from the leader itself is not enough. */
    election_receive(election, 4, &following, 1);
    assert_int_equal(capture.decided_count, 0);
    struct election_notification leading = established(PEER_LEADING, 4, 0, 7, 1);
    election_receive(election, 4, &leading, 2);
    assert_int_equal(capture.decided_count, 1);
    assert_int_equal(capture.decided_vote.leader, 4);
    assert_int_equal(capture.decided_vote.election_epoch, 7);
    assert_int_equal(capture.decided_state, PEER_FOLLOWING);
    assert_int_equal(election_logical_clock(election), 7);
    assert_int_equal(election_state(election), PEER_FOLLOWING);
    assert_true(election_tick(election, 1000000) == INT64_MAX);

    /* Decided: LOOKING voters get our vote with our state; others not. */
    capture.sent_count = 0;
    struct election_notification lost = looking(2, 0, 8, 1);
    election_receive(election, 3, &lost, 3);
    assert_int_equal(capture.sent_count, 1);
    assert_int_equal(capture.to[0], 3);
    assert_int_equal(capture.sent[0].state, PEER_FOLLOWING);
    assert_int_equal(capture.sent[0].leader, 4);
    assert_int_equal(capture.sent[0].election_epoch, 7);
    election_receive(election, 3, &following, 3);
    assert_int_equal(capture.sent_count, 1);
    /* Later votes do not make a second decision. */
    election_receive(election, 4, &leading, 4);
    assert_int_equal(capture.decided_count, 1);

    /* election_set_current: the peer's role changes what is answered. */
    struct election_vote leads = {.leader = 1, .zxid = 0x800000000, .election_epoch = 9,
                                  .peer_epoch = 8, .state = PEER_LEADING};
    election_set_current(election, &leads);
    assert_int_equal(election_state(election), PEER_LEADING);
    capture.sent_count = 0;
    election_receive(election, 2, &lost, 5);
    assert_int_equal(capture.sent_count, 1);
    assert_int_equal(capture.sent[0].state, PEER_LEADING);
    assert_int_equal(capture.sent[0].leader, 1);
    assert_int_equal(capture.sent[0].election_epoch, 9);

    /* And a new round starts from there. */
    election_start(election, 0x800000003, 8, 10);
    assert_int_equal(election_state(election), PEER_LOOKING);
    assert_int_equal(election_logical_clock(election), 8);
    assert_int_equal(election_current_vote(election).leader, 1);
    election_destroy(election);
}

/* The leader we are told about is us: only in our own round. */
/* Out of election, a voter keeps the leader's own vote (its LEADING
 * notification), not the follower's that completed the quorum. */
static void test_join_keeps_the_leaders_vote(void **state)
{
    (void)state;
    struct capture capture;
    struct election *election = capture_election(&capture, 1);
    election_start(election, 0, 0, 0);
    /* 4 leads with its vote of epoch 5; 2 and 3 joined it with votes that
     * differ in zxid but agree on leader and epoch (Vote.equals out of
     * election). */
    struct election_notification leading = established(PEER_LEADING, 4, 0x500000009, 7, 5);
    struct election_notification following = established(PEER_FOLLOWING, 4, 0x500000001, 7, 5);
    election_receive(election, 4, &leading, 1);
    election_receive(election, 2, &following, 1);
    assert_int_equal(capture.decided_count, 0); /* two of four voters */
    election_receive(election, 3, &following, 1);
    assert_int_equal(capture.decided_count, 1);
    assert_int_equal(capture.decided_vote.leader, 4);
    assert_int_equal(capture.decided_vote.zxid, 0x500000009);
    assert_int_equal(capture.decided_vote.peer_epoch, 5);
    election_destroy(election);
}

/* A server joins an established leader when a majority of voters follow
 * or lead it and it says LEADING itself, even when their votes disagree on
 * the epoch (a follower that joined the leader's earlier term keeps that
 * vote): a server without a vote (here not a member at all, as after a
 * reconfig took it out) and a voter alike. ZooKeeper's Vote.equals would
 * leave both looking. */
static void test_server_without_vote_joins_whatever_epoch(void **state)
{
    (void)state;
    static const struct election_member members[] = {{2, true}, {3, true}, {4, true},
                                                     {9, false}};
    struct capture capture;
    struct election *election = capture_election_of(&capture, 9, members, 4);
    election_start(election, 0, 0, 0);
    struct election_notification leading = established(PEER_LEADING, 4, 0x300000001, 3, 2);
    struct election_notification stale = established(PEER_FOLLOWING, 4, 0x100000044, 2, 1);
    election_receive(election, 4, &leading, 1);
    assert_int_equal(capture.decided_count, 0); /* one voter of three */
    election_receive(election, 2, &stale, 1);
    assert_int_equal(capture.decided_count, 1);
    assert_int_equal(capture.decided_vote.leader, 4);
    assert_int_equal(capture.decided_state, PEER_OBSERVING);
    election_destroy(election);

    /* Voter 1 of 1..4 in the same spot: 4 leading, 2 with the stale vote,
     * and 3 with the current one make three of four. */
    struct election *voter = capture_election(&capture, 1);
    election_start(voter, 0, 0, 0);
    election_receive(voter, 4, &leading, 1);
    election_receive(voter, 2, &stale, 1);
    assert_int_equal(capture.decided_count, 0);
    struct election_notification current = established(PEER_FOLLOWING, 4, 0x300000001, 3, 2);
    election_receive(voter, 3, &current, 1);
    assert_int_equal(capture.decided_count, 1);
    assert_int_equal(capture.decided_vote.leader, 4);
    assert_int_equal(capture.decided_state, PEER_FOLLOWING);
    election_destroy(voter);
}

static void test_join_as_leader_needs_our_round(void **state)
{
    (void)state;
    struct capture capture;
    struct election *election = capture_election(&capture, 1);
    election_start(election, 0, 0, 0);
    /* Round 3 says 2, 3, 4 follow 1, but our round is 1. */
    struct election_notification following_me = established(PEER_FOLLOWING, 1, 0, 3, 0);
    election_receive(election, 2, &following_me, 1);
    election_receive(election, 3, &following_me, 1);
    election_receive(election, 4, &following_me, 1);
    assert_int_equal(capture.decided_count, 0);
    election_destroy(election);

    election = capture_election(&capture, 1);
    election_start(election, 0, 0, 0);
    struct election_notification this_round = established(PEER_FOLLOWING, 1, 0, 1, 0);
    election_receive(election, 2, &this_round, 1);
    election_receive(election, 3, &this_round, 1);
    assert_int_equal(capture.decided_count, 0);
    election_receive(election, 4, &this_round, 1);
    assert_int_equal(capture.decided_count, 1);
    assert_int_equal(capture.decided_state, PEER_LEADING);
    election_destroy(election);
}

/* Standalone is an ensemble of one: its own notification is a quorum. */
static void test_ensemble_of_one(void **state)
{
    (void)state;
    static const struct election_member alone[] = {{7, true}};
    for (int64_t finalize_wait_ms = 0; finalize_wait_ms <= FINALIZE_WAIT_MS;
         finalize_wait_ms += FINALIZE_WAIT_MS) {
        struct capture capture = {0};
        struct election_config config = {
            .my_id = 7,
            .members = alone,
            .member_count = 1,
            .finalize_wait_ms = finalize_wait_ms,
            .notification_interval_min_ms = INTERVAL_MIN_MS,
            .notification_interval_max_ms = INTERVAL_MAX_MS,
        };
        struct election_output output = {capture_send, capture_decided, &capture};
        struct election *election = election_create(&config, &output);
        assert_non_null(election);
        election_start(election, 0x300000004, 3, 1000);
        assert_int_equal(capture.sent_count, 1);
        assert_int_equal(capture.to[0], 7);
        election_receive(election, 7, &capture.sent[0], 1000);
        if (finalize_wait_ms == 0) {
            /* No wait: decided on the quorum. */
            assert_int_equal(capture.decided_count, 1);
        } else {
            assert_int_equal(capture.decided_count, 0);
            assert_true(election_tick(election, 1000) == 1000 + FINALIZE_WAIT_MS);
            assert_true(election_tick(election, 1000 + FINALIZE_WAIT_MS - 1) ==
                        1000 + FINALIZE_WAIT_MS);
            assert_int_equal(capture.decided_count, 0);
            assert_true(election_tick(election, 1000 + FINALIZE_WAIT_MS) == INT64_MAX);
            assert_int_equal(capture.decided_count, 1);
        }
        assert_int_equal(capture.decided_state, PEER_LEADING);
        assert_int_equal(capture.decided_vote.leader, 7);
        assert_true(capture.decided_vote.zxid == 0x300000004);
        assert_int_equal(capture.decided_vote.peer_epoch, 3);
        assert_int_equal(capture.decided_vote.election_epoch, 1);
        assert_int_equal(election_state(election), PEER_LEADING);
        election_destroy(election);
    }
}


/* A voter's LOOKING notification that arrives before our round starts is
 * kept and counted once it does: with two others proposing 3, server 1
 * (of 4 voters) adopts 3 at its start and decides after the finalize wait,
 * without waiting for anyone to resend. */
static void test_early_notification_counts_when_the_round_starts(void **state)
{
    (void)state;
    struct capture capture;
    struct election *election = capture_election(&capture, 1);
    struct election_notification from_2 = looking(3, 0x100000005, 1, 1);
    struct election_notification from_3 = looking(3, 0x100000005, 1, 1);
    election_receive(election, 2, &from_2, 1000);
    election_receive(election, 3, &from_3, 1000);
    assert_int_equal(capture.decided_count, 0);
    election_start(election, 0x100000004, 1, 1010);
    assert_int_equal(election_current_vote(election).leader, 3);
    /* Our own (re-proposed) notification comes back to us. */
    for (size_t index = 0; index < capture.sent_count; index++) {
        if (capture.to[index] == 1 && capture.sent[index].leader == 3) {
            election_receive(election, 1, &capture.sent[index], 1010);
            break;
        }
    }
    assert_int_equal(capture.decided_count, 0);
    election_tick(election, 1010 + FINALIZE_WAIT_MS);
    assert_int_equal(capture.decided_count, 1);
    assert_int_equal(capture.decided_state, PEER_FOLLOWING);
    assert_int_equal(capture.decided_vote.leader, 3);
    election_destroy(election);
}

/* set_current with LOOKING is no role: the round goes on. */
static void test_set_current_looking_keeps_the_round(void **state)
{
    (void)state;
    struct capture capture;
    struct election *election = capture_election(&capture, 4);
    election_start(election, 0, 0, 0);
    struct election_vote previous = {.leader = 2, .zxid = 0, .election_epoch = 0,
                                     .peer_epoch = 0, .state = PEER_LOOKING};
    election_set_current(election, &previous);
    assert_int_equal(election_state(election), PEER_LOOKING);
    assert_int_equal(election_current_vote(election).leader, 4);
    struct election_notification four = looking(4, 0, 1, 0);
    election_receive(election, 4, &four, 1);
    election_receive(election, 1, &four, 1);
    election_receive(election, 2, &four, 1);
    assert_true(election_tick(election, 1) == 1 + FINALIZE_WAIT_MS);
    election_tick(election, 1 + FINALIZE_WAIT_MS);
    assert_int_equal(capture.decided_count, 1);
    assert_int_equal(capture.decided_state, PEER_LEADING);
    election_destroy(election);
}

/* The leader disappears; the others start new rounds with what they have
 * logged, and the highest zxid wins. */
static void test_reelection_after_leader_loss(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 5, 0, 13);
    for (int64_t id = 1; id <= 5; id++) {
        node_start(&net, id, 0, 0);
    }
    net_run_until(&net, 5000);
    assert_decided(&net, 5, 5, PEER_LEADING);
    node_stop(&net, 5);
    const int64_t logged[] = {0x100000007, 0x100000003, 0x100000009, 0x100000009};
    for (int64_t id = 1; id <= 4; id++) {
        node_start(&net, id, logged[id - 1], 1);
    }
    net_run_until_decided(&net, 100000);
    assert_decided(&net, 1, 4, PEER_FOLLOWING);
    assert_decided(&net, 2, 4, PEER_FOLLOWING);
    assert_decided(&net, 3, 4, PEER_FOLLOWING);
    assert_decided(&net, 4, 4, PEER_LEADING);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(net.nodes[i].decided_vote.election_epoch, 2);
        assert_true(net.nodes[i].decided_vote.zxid == 0x100000009);
    }

    /* Then 4 goes too; three of five remain, a majority, and 1 has now
     * logged the most. */
    node_stop(&net, 4);
    const int64_t logged_again[] = {0x10000000a, 0x100000003, 0x100000009};
    for (int64_t id = 1; id <= 3; id++) {
        node_start(&net, id, logged_again[id - 1], 1);
    }
    net_run_until_decided(&net, 200000);
    assert_decided(&net, 1, 1, PEER_LEADING);
    assert_decided(&net, 2, 1, PEER_FOLLOWING);
    assert_decided(&net, 3, 1, PEER_FOLLOWING);
    assert_int_equal(net.nodes[0].decided_vote.election_epoch, 3);

    /* 5 comes back in its first round (logicalclock 1): the others answer
     * it with FOLLOWING / LEADING of round 3, and it joins 1. */
    node_by_id(&net, 5)->up = true;
    election_destroy(net.nodes[4].election);
    struct election_config config = {
        .my_id = 5,
        .members = net.members,
        .member_count = 5,
        .finalize_wait_ms = FINALIZE_WAIT_MS,
        .notification_interval_min_ms = INTERVAL_MIN_MS,
        .notification_interval_max_ms = INTERVAL_MAX_MS,
    };
    struct election_output output = {net_send, net_decided, &net.nodes[4]};
    net.nodes[4].election = election_create(&config, &output);
    net.nodes[4].decided_count = 0;
    net.nodes[4].starts = 0;
    node_start(&net, 5, 0x100000001, 1);
    net_run_until_decided(&net, 300000);
    assert_decided(&net, 5, 1, PEER_FOLLOWING);
    assert_int_equal(election_logical_clock(net.nodes[4].election), 3);
    net_destroy(&net);
}

/* ---- randomised delivery ------------------------------------------------- */

#define RANDOM_RUNS 2000
/* Start times and delays small against the finalize wait, so that every
 * initial vote reaches everyone before anybody can decide. */
#define RANDOM_START_SPREAD_MS 100
#define RANDOM_DELAY_MAX_MS 40
#define RANDOM_OBSERVER_SPREAD_MS 300
#define RANDOM_HEAL_MS 2000

struct initial_vote {
    int64_t zxid, epoch;
};

static bool initial_beats(const struct initial_vote *votes, int64_t a, int64_t b)
{
    const struct initial_vote *va = &votes[a - 1], *vb = &votes[b - 1];
    if (va->epoch != vb->epoch) {
        return va->epoch > vb->epoch;
    }
    if (va->zxid != vb->zxid) {
        return va->zxid > vb->zxid;
    }
    return a > b;
}

/* What the randomised runs covered, printed so a green run shows it ran. */
struct random_totals {
    size_t runs, partitioned, observers, messages, leader_not_highest_id;
};

static void random_run(uint64_t seed, struct random_totals *totals)
{
    struct net net;
    memset(&net, 0, sizeof net);
    net.rng = seed * 0x2545f4914f6cdd1dULL + 1;
    size_t voters = 1 + (size_t)random_below(&net, 7);
    size_t observers = (size_t)random_below(&net, 3);
    uint64_t rng = net.rng;
    net_init(&net, voters, observers, rng);
    net.seed = seed;
    net.trace = getenv("ELECTION_TRACE_SEED") != NULL &&
                strtoull(getenv("ELECTION_TRACE_SEED"), NULL, 10) == seed;
    net.random_order = true;
    net.delay_max_ms = RANDOM_DELAY_MAX_MS;

    struct initial_vote votes[NODES_MAX];
    for (size_t i = 0; i < voters; i++) {
        votes[i].epoch = random_below(&net, 3);
        votes[i].zxid = (votes[i].epoch << 32) + random_below(&net, 4);
    }
    /* Half the runs: a partition whose one side holds a majority of the
     * voters, healed later; the other side cannot decide meanwhile. */
    bool partitioned = random_below(&net, 2) == 0 && voters > 1;
    size_t majority = voters / 2 + 1;
    if (partitioned) {
        size_t in_majority = majority + (size_t)random_below(&net, (int64_t)(voters - majority + 1));
        /* A random choice of in_majority voters on side 0. */
        size_t order[NODES_MAX];
        for (size_t i = 0; i < voters; i++) {
            order[i] = i;
        }
        for (size_t i = voters - 1; i > 0; i--) {
            size_t j = (size_t)random_below(&net, (int64_t)i + 1);
            size_t swap = order[i];
            order[i] = order[j];
            order[j] = swap;
        }
        for (size_t i = 0; i < voters; i++) {
            net.side[order[i]] = i < in_majority ? 0 : 1;
        }
        for (size_t i = voters; i < voters + observers; i++) {
            net.side[i] = (int)random_below(&net, 2);
        }
        net.partition_until_ms = RANDOM_HEAL_MS;
    }

    /* Voters start close together; observers any time until well after
     * the voters may have decided. */
    int64_t start_ms[NODES_MAX];
    for (size_t i = 0; i < net.node_count; i++) {
        start_ms[i] = random_below(&net, (i < voters ? RANDOM_START_SPREAD_MS
                                                     : RANDOM_START_SPREAD_MS +
                                                           RANDOM_OBSERVER_SPREAD_MS) +
                                             1);
    }
    for (int64_t t = 0; t <= RANDOM_START_SPREAD_MS + RANDOM_OBSERVER_SPREAD_MS; t++) {
        net_run_until(&net, t);
        for (size_t i = 0; i < net.node_count; i++) {
            if (start_ms[i] == t) {
                const struct initial_vote *vote = i < voters ? &votes[i] : &votes[0];
                node_start(&net, (int64_t)i + 1, vote->zxid, vote->epoch);
            }
        }
    }
    net_run_until_decided(&net, 1000000);

    /* The expected leader: the best initial vote (on the majority side). */
    int64_t expected = 0;
    for (size_t i = 0; i < voters; i++) {
        if (partitioned && net.side[i] != 0) {
            continue;
        }
        if (expected == 0 || initial_beats(votes, (int64_t)i + 1, expected)) {
            expected = (int64_t)i + 1;
        }
    }
    for (size_t i = 0; i < net.node_count; i++) {
        const struct node *node = &net.nodes[i];
        enum peer_state state = node->id == expected
                                    ? PEER_LEADING
                                    : (node->voting ? PEER_FOLLOWING : PEER_OBSERVING);
        if (node->decided_vote.leader != expected || node->decided_state != state) {
            fail_msg("seed %llu: server %lld decided %lld (state %d), expected %lld",
                     (unsigned long long)seed, (long long)node->id,
                     (long long)node->decided_vote.leader, (int)node->decided_state,
                     (long long)expected);
        }
        assert_int_equal(node->decided_count, 1);
        assert_int_equal(node->decided_vote.election_epoch, 1);
        assert_true(node->decided_vote.zxid == votes[expected - 1].zxid);
        assert_true(node->decided_vote.peer_epoch == votes[expected - 1].epoch);
    }
    totals->runs++;
    totals->partitioned += partitioned ? 1 : 0;
    totals->observers += observers;
    totals->messages += net.messages_sent;
    totals->leader_not_highest_id += expected != (int64_t)voters ? 1 : 0;
    net_destroy(&net);
}

static void test_randomised_delivery(void **state)
{
    (void)state;
    struct random_totals totals = {0};
    for (uint64_t seed = 1; seed <= RANDOM_RUNS; seed++) {
        random_run(seed, &totals);
    }
    print_message("%zu runs, %zu partitioned, %zu observers, %zu notifications, "
                  "%zu won by a lower id\n",
                  totals.runs, totals.partitioned, totals.observers, totals.messages,
                  totals.leader_not_highest_id);
    assert_int_equal(totals.runs, RANDOM_RUNS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_validation),
        cmocka_unit_test(test_start_proposes_self_to_every_voter),
        cmocka_unit_test(test_total_order),
        cmocka_unit_test(test_unknown_sender_and_observer_sender),
        cmocka_unit_test(test_older_round_is_answered_and_ignored),
        cmocka_unit_test(test_newer_round_is_joined_single),
        cmocka_unit_test(test_minus_one_zxid_ignored),
        cmocka_unit_test(test_join_requires_leader_saying_leading),
        cmocka_unit_test(test_join_keeps_the_leaders_vote),
        cmocka_unit_test(test_server_without_vote_joins_whatever_epoch),
        cmocka_unit_test(test_join_as_leader_needs_our_round),
        cmocka_unit_test(test_three_start_together),
        cmocka_unit_test(test_five_started_one_after_the_other),
        cmocka_unit_test(test_higher_zxid_then_epoch_wins),
        cmocka_unit_test(test_newer_election_epoch_is_joined),
        cmocka_unit_test(test_resend_backoff_is_capped),
        cmocka_unit_test(test_lost_notifications_recovered_by_resend),
        cmocka_unit_test(test_finalize_wait),
        cmocka_unit_test(test_observer_learns_and_never_counts),
        cmocka_unit_test(test_ensemble_of_one),
        cmocka_unit_test(test_early_notification_counts_when_the_round_starts),
        cmocka_unit_test(test_set_current_looking_keeps_the_round),
        cmocka_unit_test(test_reelection_after_leader_loss),
        cmocka_unit_test(test_randomised_delivery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
