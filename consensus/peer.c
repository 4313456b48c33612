/* The quorum peer: election, the choice of role, leaving a role, and what
 * both roles share (the committed log, packet sending). See peer.h. */
#include "consensus/peer.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/peer_internal.h"
#include "jute/zk_constants.h"
#include "store/snapshot.h"
#include "store/txnlog.h"

/* Election timing: ZooKeeper's finalizeWait and maxNotificationInterval. */
#define PEER_FINALIZE_WAIT_MS 200
#define PEER_NOTIFICATION_INTERVAL_MAX_MS 60000
/* Slack for a QuorumPacket around its data (type, zxid, lengths). */
#define PEER_PACKET_OVERHEAD_BYTES 64u

/* ---- small shared pieces --------------------------------------------------- */

void peer_log(struct peer *peer, const char *format, ...)
{
    if (!peer->io.log_message) {
        return;
    }
    char line[512];
    va_list args;
    va_start(args, format);
    vsnprintf(line, sizeof(line), format, args);
    va_end(args);
    peer->io.log_message(peer->io.context, line);
}

void peer_fail(struct peer *peer, const char *why)
{
    if (peer->failed) {
        return;
    }
    peer->failed = true;
    peer_log(peer, "%s", why);
    if (peer->io.fatal) {
        peer->io.fatal(peer->io.context, why);
    }
}

int64_t peer_limit_ms(const struct peer *peer, int32_t ticks)
{
    return (int64_t)peer->config.tick_ms * ticks;
}

bool peer_send_packet(struct peer *peer, uint64_t connection_id, int32_t type, int64_t zxid,
                      const uint8_t *data, size_t data_bytes)
{
    jute_writer_reset(&peer->out);
    quorum_packet_encode(&peer->out, type, zxid, data, data_bytes);
    assert(peer->out.ok);
    return peer->io.quorum_send(peer->io.context, connection_id, peer->out.data, peer->out.size);
}

bool peer_is_voter(const struct peer *peer, int64_t id)
{
    return quorum_config_is_voter(peer->config_active, id);
}

bool peer_is_quorum(const struct peer *peer, const int64_t *ids, size_t id_count)
{
    if (peer->standalone) {
        return true;
    }
    return quorum_config_is_quorum(peer->config_active, ids, id_count);
}

/* ---- membership ------------------------------------------------------------------ */

/* TxnHeader: clientId (8), cxid (4), zxid (8), time (8), type (4). */
#define TXN_HEADER_TYPE_OFFSET 28u

bool peer_reconfig_txn_config(const uint8_t *bytes, size_t byte_count, struct quorum_config *out)
{
    /* Every transaction passes here: look at the type before decoding. */
    if (byte_count < TXN_HEADER_TYPE_OFFSET + 4u ||
        (int32_t)jute_load_be32(bytes + TXN_HEADER_TYPE_OFFSET) != ZK_OP_RECONFIG) {
        return false;
    }
    struct jute_reader reader;
    jute_reader_init(&reader, bytes, byte_count);
    struct jute_txn_header header;
    struct jute_set_data_txn txn;
    if (!jute_txn_header_decode(&reader, NULL, &header) || header.type != ZK_OP_RECONFIG ||
        !jute_set_data_txn_decode(&reader, NULL, &txn) || txn.data.len < 0) {
        return false;
    }
    return quorum_config_parse((const char *)txn.data.ptr, (size_t)txn.data.len, out, NULL, 0);
}

static void election_send_hook(void *context, int64_t to_id,
                               const struct election_notification *notification);
static void election_decided_hook(void *context, const struct election_vote *vote,
                                  enum peer_state state);

/* The election over the active configuration's members, going on from
 * `logical_clock`. A server that is not a member (reconfigured out) takes
 * part without a vote: it learns the leader from the voters' answers and
 * follows it, as ZooKeeper 3.8 does. */
static struct election *election_for(struct peer *peer, int64_t logical_clock)
{
    struct election_member members[ELECTION_MEMBERS_MAX + 1];
    size_t count = quorum_config_election_members(peer->config_active, members);
    if (!quorum_config_find(peer->config_active, peer->config.my_id)) {
        members[count++] = (struct election_member){.id = peer->config.my_id, .voting = false};
    }
    struct election_config election_config = {
        .my_id = peer->config.my_id,
        .members = members,
        .member_count = count,
        .finalize_wait_ms = PEER_FINALIZE_WAIT_MS,
        .notification_interval_min_ms = PEER_FINALIZE_WAIT_MS,
        .notification_interval_max_ms = PEER_NOTIFICATION_INTERVAL_MAX_MS,
        .logical_clock = logical_clock,
    };
    struct election_output election_output = {
        .send = election_send_hook,
        .decided = election_decided_hook,
        .context = peer,
    };
    return election_create(&election_config, &election_output);
}

void peer_activate_config(struct peer *peer, const struct quorum_config *next)
{
    if (peer->standalone || next->version <= peer->config_active->version) {
        return;
    }
    *peer->config_active = *next;
    if (peer->config_last_seen->version <= next->version) {
        *peer->config_last_seen = *next;
    }
    if (peer->reconfig_zxid != 0 && peer->reconfig_zxid <= next->version) {
        peer->reconfig_zxid = 0;
    }
    bool formatted = quorum_config_format(next, peer->config_text, QUORUM_CONFIG_TEXT_BYTES_MAX);
    assert(formatted);
    (void)formatted;
    peer_log(peer, "reconfig: configuration 0x%" PRIx64 " is active (%zu servers, %zu voting)%s",
             (uint64_t)next->version, next->server_count, quorum_config_voter_count(next),
             quorum_config_find(next, peer->config.my_id) ? ""
                                                          : "; this server is not in it");
    /* The election answers with the vote it holds; a new one over the new
     * members takes the same vote and goes on counting rounds. */
    struct election_vote current = election_current_vote(peer->election);
    int64_t clock = election_logical_clock(peer->election);
    struct election *replacement = election_for(peer, clock);
    if (replacement) {
        election_destroy(peer->election);
        peer->election = replacement;
        if (peer->state != PEER_LOOKING) {
            current.state = peer->state;
            election_set_current(peer->election, &current);
        }
    } else {
        peer_log(peer, "reconfig: the election keeps the previous members (too many servers)");
    }
    if (peer->io.config_activated) {
        peer->io.config_activated(peer->io.context, next, peer->config_text);
    }
}


/* ---- transaction queues ------------------------------------------------------ */

bool peer_txn_queue_init(struct peer_txn_queue *queue, size_t capacity)
{
    memset(queue, 0, sizeof(*queue));
    queue->items = calloc(capacity, sizeof(*queue->items));
    queue->capacity = capacity;
    return queue->items != NULL;
}

struct peer_txn *peer_txn_queue_at(struct peer_txn_queue *queue, size_t index)
{
    assert(index < queue->count);
    return &queue->items[(queue->head + index) % queue->capacity];
}

struct peer_txn *peer_txn_queue_push(struct peer_txn_queue *queue)
{
    assert(queue->count < queue->capacity);
    struct peer_txn *txn = &queue->items[(queue->head + queue->count) % queue->capacity];
    queue->count++;
    memset(txn, 0, sizeof(*txn));
    return txn;
}

void peer_txn_queue_pop(struct peer_txn_queue *queue)
{
    assert(queue->count > 0);
    struct peer_txn *txn = &queue->items[queue->head];
    queue->bytes -= txn->byte_count;
    free(txn->bytes);
    free(txn->record);
    memset(txn, 0, sizeof(*txn));
    queue->head = (queue->head + 1) % queue->capacity;
    queue->count--;
}

void peer_txn_queue_free(struct peer_txn_queue *queue)
{
    while (queue->items && queue->count > 0) {
        peer_txn_queue_pop(queue);
    }
    free(queue->items);
    queue->items = NULL;
}

/* Appends to the committed log, taking `owned_bytes` (malloc'd). */
void peer_committed_log_adopt(struct peer *peer, int64_t zxid, uint8_t *owned_bytes,
                              uint32_t byte_count)
{
    struct peer_txn_queue *log = &peer->committed_log;
    while (log->count > 0 && (log->count == log->capacity ||
                              log->bytes + byte_count > PEER_COMMITTED_LOG_BYTES_MAX)) {
        peer->committed_log_prev_zxid = peer_txn_queue_at(log, 0)->zxid;
        peer_txn_queue_pop(log);
    }
    if (byte_count > PEER_COMMITTED_LOG_BYTES_MAX) {
        peer->committed_log_prev_zxid = zxid; /* too big to keep: later syncs SNAP */
        free(owned_bytes);
        return;
    }
    struct peer_txn *txn = peer_txn_queue_push(log);
    txn->zxid = zxid;
    txn->bytes = owned_bytes;
    txn->byte_count = byte_count;
    log->bytes += byte_count;
}

void peer_committed_log_push(struct peer *peer, int64_t zxid, const uint8_t *bytes,
                             uint32_t byte_count)
{
    uint8_t *copy = malloc(byte_count ? byte_count : 1);
    assert(copy != NULL);
    memcpy(copy, bytes, byte_count);
    peer_committed_log_adopt(peer, zxid, copy, byte_count);
}

void peer_committed_log_take_head(struct peer *peer, struct peer_txn_queue *queue)
{
    struct peer_txn *head = peer_txn_queue_at(queue, 0);
    int64_t zxid = head->zxid;
    uint8_t *bytes = head->bytes;
    uint32_t byte_count = head->byte_count;
    head->bytes = NULL; /* moved: the pop below frees nothing of it */
    peer_txn_queue_pop(queue);
    peer_committed_log_adopt(peer, zxid, bytes, byte_count);
}

void peer_committed_log_clear(struct peer *peer, int64_t prev_zxid)
{
    while (peer->committed_log.count > 0) {
        peer_txn_queue_pop(&peer->committed_log);
    }
    peer->committed_log_prev_zxid = prev_zxid;
}

/* ---- sequencer hooks ---------------------------------------------------------- */

static void sequencer_log_hook(void *context, struct log_record *record)
{
    peer_leader_propose(context, record);
}

static void forward_hook(void *context, int64_t session_id, int32_t cxid, int32_t opcode,
                         const uint8_t *body, size_t body_bytes, const struct store_auth *auth)
{
    peer_learner_forward(context, session_id, cxid, opcode, body, body_bytes, auth);
}

static void revalidate_hook(void *context, int64_t session_id, int32_t timeout_ms)
{
    peer_learner_revalidate(context, session_id, timeout_ms);
}

static void learner_sync_hook(void *context, int64_t learner_id)
{
    peer_leader_sync_learner_id(context, learner_id);
}

/* ---- election ------------------------------------------------------------------ */

static void election_send_hook(void *context, int64_t to_id,
                               const struct election_notification *notification)
{
    struct peer *peer = context;
    peer->io.election_send(peer->io.context, to_id, notification);
}

static void election_decided_hook(void *context, const struct election_vote *vote,
                                  enum peer_state state)
{
    /* Called from inside election_receive / election_tick: remembered and
     * acted on once that call returns, so a role never starts re-entrantly. */
    struct peer *peer = context;
    peer->decision_made = true;
    peer->decision_vote = *vote;
    peer->decision_state = state;
}

static void start_role(struct peer *peer, int64_t now_elapsed_ms)
{
    peer->decision_made = false;
    peer->reconfig_zxid = 0; /* a new role decides what a seen reconfig becomes */
    peer->election_time_ms = now_elapsed_ms - peer->election_started_ms;
    peer->leader_id = peer->decision_vote.leader;
    peer->role_started_ms = now_elapsed_ms;
    if (peer->decision_state == PEER_LEADING) {
        peer_log(peer, "LEADING - LEADER ELECTION TOOK - %" PRId64 " MS", peer->election_time_ms);
        peer_lead(peer, now_elapsed_ms);
    } else {
        if (peer->decision_state == PEER_OBSERVING &&
            !quorum_config_find(peer->config_active, peer->config.my_id)) {
            /* Not a member: it follows without a vote (ZooKeeper's learner
             * type stays participant), it does not observe. */
            peer->decision_state = PEER_FOLLOWING;
        }
        peer_log(peer,
                 "%s - LEADER ELECTION TOOK - %" PRId64 " MS (leader %" PRId64
                 ", round %" PRId64 ", peer epoch %" PRId64 ")",
                 peer->decision_state == PEER_OBSERVING ? "OBSERVING" : "FOLLOWING",
                 peer->election_time_ms, peer->decision_vote.leader,
                 peer->decision_vote.election_epoch, peer->decision_vote.peer_epoch);
        peer->state = peer->decision_state;
        peer_follow(peer, peer->decision_vote.leader, now_elapsed_ms);
    }
}

/* Runs an election call and starts the role it decided, if any. */
#define WITH_DECISION(peer, now_elapsed_ms, call)                                        \
    do {                                                                                 \
        (peer)->decision_made = false;                                                   \
        call;                                                                            \
        if ((peer)->decision_made && !(peer)->failed) {                                  \
            start_role((peer), (now_elapsed_ms));                                        \
        }                                                                                \
    } while (0)

static void start_election(struct peer *peer, int64_t now_elapsed_ms)
{
    peer->state = PEER_LOOKING;
    peer->phase = PEER_PHASE_ELECTION;
    peer->leader_id = -1;
    peer->election_started_ms = now_elapsed_ms;
    peer_log(peer, "LOOKING (last zxid 0x%" PRIx64 ", epoch %" PRId64 ")",
             (uint64_t)peer->last_logged_zxid, peer->current_epoch);
    WITH_DECISION(peer, now_elapsed_ms,
                  election_start(peer->election, peer->last_logged_zxid, peer->current_epoch,
                                 now_elapsed_ms));
}

/* ---- leaving a role ------------------------------------------------------------------ */

/* The log caught up with everything handed to it: the tree takes what the
 * log holds (ZooKeeper's fastForwardDataBase) and a new election starts. */
static void finish_leaving(struct peer *peer, int64_t now_elapsed_ms)
{
    assert(peer->draining && peer->durable_zxid >= peer->last_logged_zxid);
    peer->draining = false;
    sequencer_stop_serving(peer->sequencer);
    peer_learner_fast_forward(peer);
    struct sequencer_counters counters;
    sequencer_counters_get(peer->sequencer, &counters);
    peer->last_committed_zxid = counters.last_zxid;
    assert(peer->last_committed_zxid == peer->last_logged_zxid);
    start_election(peer, now_elapsed_ms);
}

void peer_leave_role(struct peer *peer, const char *why, int64_t now_elapsed_ms)
{
    if (peer->failed || peer->draining || peer->standalone) {
        return;
    }
    peer_log(peer, "leaving %s: %s",
             peer->state == PEER_LEADING     ? "LEADING"
             : peer->state == PEER_FOLLOWING ? "FOLLOWING"
             : peer->state == PEER_OBSERVING ? "OBSERVING"
                                             : "LOOKING",
             why);
    if (peer->state == PEER_LEADING) {
        peer_leader_end(peer);
    } else if (peer->state == PEER_FOLLOWING || peer->state == PEER_OBSERVING) {
        peer_learner_end(peer);
    }
    sequencer_pause(peer->sequencer);
    peer->state = PEER_LOOKING;
    peer->phase = PEER_PHASE_ELECTION;
    peer->leader_id = -1;
    peer->draining = true;
    if (peer->durable_zxid >= peer->last_logged_zxid) {
        finish_leaving(peer, now_elapsed_ms);
    }
}

/* ---- inputs -------------------------------------------------------------------------- */

void peer_election_message(struct peer *peer, int64_t from_id,
                           const struct election_notification *notification,
                           const char *config_text, size_t config_text_bytes,
                           int64_t now_elapsed_ms)
{
    if (peer->standalone || peer->failed) {
        return;
    }
    if (config_text && config_text_bytes > 0 && peer->state == PEER_LOOKING && !peer->draining &&
        quorum_config_parse(config_text, config_text_bytes, peer->config_scratch, NULL, 0) &&
        peer->config_scratch->version > peer->config_active->version &&
        peer->config_scratch->server_count > 0) {
        /* A server reconfigured out (or one that was down) learns the
         * configuration from the servers that answer it: the election
         * starts over with the new members. */
        peer_log(peer,
                 "server %" PRId64 " has configuration 0x%" PRIx64 ", newer than ours (0x%" PRIx64
                 "): adopted, the election starts again",
                 from_id, (uint64_t)peer->config_scratch->version,
                 (uint64_t)peer->config_active->version);
        peer_activate_config(peer, peer->config_scratch);
        start_election(peer, now_elapsed_ms);
        return;
    }
    WITH_DECISION(peer, now_elapsed_ms,
                  election_receive(peer->election, from_id, notification, now_elapsed_ms));
    /* A quorum may have formed: the finalize wait can end before the next
     * tick the caller planned, so run the election's timers now. */
    if (peer->state == PEER_LOOKING && !peer->draining && !peer->failed) {
        WITH_DECISION(peer, now_elapsed_ms, election_tick(peer->election, now_elapsed_ms));
    }
}

void peer_quorum_accepted(struct peer *peer, uint64_t connection_id, int64_t now_elapsed_ms)
{
    if (peer->state != PEER_LEADING || peer->draining || peer->failed) {
        peer->io.quorum_close(peer->io.context, connection_id);
        return;
    }
    peer_leader_accepted(peer, connection_id, now_elapsed_ms);
}

void peer_quorum_connected(struct peer *peer, uint64_t connection_id, int64_t now_elapsed_ms)
{
    if (connection_id != peer->leader_connection || peer->failed) {
        peer->io.quorum_close(peer->io.context, connection_id);
        return;
    }
    peer_learner_connected(peer, now_elapsed_ms);
}

void peer_quorum_packet(struct peer *peer, uint64_t connection_id, const uint8_t *packet_bytes,
                        size_t packet_size, const uint8_t *stream, size_t stream_bytes,
                        int64_t now_ms, int64_t now_elapsed_ms)
{
    if (peer->failed) {
        return;
    }
    struct jute_reader reader;
    jute_reader_init(&reader, packet_bytes, packet_size);
    uint8_t arena_bytes[2048];
    struct jute_arena arena;
    jute_arena_init(&arena, arena_bytes, sizeof(arena_bytes));
    struct jute_quorum_packet packet;
    bool decoded = jute_quorum_packet_decode(&reader, &arena, &packet) &&
                   jute_reader_remaining(&reader) == 0;
    if (peer->state == PEER_LEADING && !peer->draining) {
        struct learner_link *learner = peer_leader_find(peer, connection_id);
        if (!learner) {
            return;
        }
        if (!decoded) {
            peer_leader_closed(peer, learner, "a packet that does not decode");
            return;
        }
        peer_leader_packet(peer, learner, &packet, now_ms, now_elapsed_ms);
        return;
    }
    if ((peer->state == PEER_FOLLOWING || peer->state == PEER_OBSERVING) && !peer->draining &&
        connection_id == peer->leader_connection) {
        if (!decoded) {
            peer_leave_role(peer, "the leader sent a packet that does not decode",
                            now_elapsed_ms);
            return;
        }
        peer_learner_packet(peer, &packet, stream, stream_bytes, now_elapsed_ms);
    }
}

void peer_quorum_closed(struct peer *peer, uint64_t connection_id, const char *why,
                        int64_t now_elapsed_ms)
{
    if (peer->failed) {
        return;
    }
    if (peer->state == PEER_LEADING && !peer->draining) {
        struct learner_link *learner = peer_leader_find(peer, connection_id);
        if (learner) {
            peer_leader_closed(peer, learner, why);
        }
        return;
    }
    if ((peer->state == PEER_FOLLOWING || peer->state == PEER_OBSERVING) && !peer->draining &&
        connection_id == peer->leader_connection) {
        peer->leader_connection = 0;
        if (peer_learner_retry_connect(peer, now_elapsed_ms)) {
            return; /* the leader may not listen yet: Learner.connectToLeader retries */
        }
        char line[256];
        snprintf(line, sizeof(line), "connection to leader %" PRId64 " lost: %s",
                 peer->leader_id, why ? why : "closed");
        peer_leave_role(peer, line, now_elapsed_ms);
    }
}

void peer_log_durable(struct peer *peer, int64_t zxid, int64_t now_elapsed_ms)
{
    if (zxid <= peer->durable_zxid || peer->failed) {
        return;
    }
    assert(zxid <= peer->last_logged_zxid);
    peer->durable_zxid = zxid;
    if (peer->draining) {
        if (peer->durable_zxid >= peer->last_logged_zxid) {
            finish_leaving(peer, now_elapsed_ms);
        }
        return;
    }
    if (peer->state == PEER_LEADING) {
        peer_leader_durable(peer, now_elapsed_ms);
    } else if (peer->state == PEER_FOLLOWING || peer->state == PEER_OBSERVING) {
        peer_learner_durable(peer);
    }
}

int64_t peer_tick(struct peer *peer, int64_t now_ms, int64_t now_elapsed_ms)
{
    (void)now_ms;
    int64_t next_ms = now_elapsed_ms + peer->config.tick_ms;
    if (peer->failed || peer->standalone) {
        return next_ms;
    }
    if (peer->state == PEER_LOOKING && !peer->draining) {
        int64_t election_next_ms = 0;
        WITH_DECISION(peer, now_elapsed_ms,
                      election_next_ms = election_tick(peer->election, now_elapsed_ms));
        if (election_next_ms < next_ms) {
            next_ms = election_next_ms;
        }
    } else if (peer->state == PEER_LEADING && !peer->draining) {
        int64_t role_next_ms = peer_leader_tick(peer, now_elapsed_ms);
        if (role_next_ms < next_ms) {
            next_ms = role_next_ms;
        }
    } else if (!peer->draining) {
        int64_t role_next_ms = peer_learner_tick(peer, now_elapsed_ms);
        if (role_next_ms < next_ms) {
            next_ms = role_next_ms;
        }
    }
    return next_ms;
}

bool peer_accepting(const struct peer *peer)
{
    return !peer->failed && sequencer_accepting(peer->sequencer);
}

void peer_status_get(const struct peer *peer, struct peer_status *out)
{
    memset(out, 0, sizeof(*out));
    out->state = peer->state;
    out->phase = peer->phase;
    out->standalone = peer->standalone;
    out->serving = peer->phase == PEER_PHASE_BROADCAST && !peer->draining;
    out->leader_id = peer->leader_id;
    out->epoch = peer->current_epoch;
    out->last_logged_zxid = peer->last_logged_zxid;
    out->last_committed_zxid = peer->last_committed_zxid;
    out->election_time_ms = peer->election_time_ms;
    if (peer->state == PEER_LEADING) {
        for (size_t index = 0; index < PEER_LEARNERS_MAX; index++) {
            const struct learner_link *learner = &peer->learners[index];
            if (!learner->used) {
                continue;
            }
            out->learners++;
            if (learner->stage == LEARNER_ACTIVE) {
                if (learner->observer) {
                    out->synced_observers++;
                } else {
                    out->synced_followers++;
                }
            } else if (learner->stage == LEARNER_SYNCING) {
                out->pending_syncs++;
            }
        }
        out->outstanding_proposals = (uint32_t)peer->outstanding.count;
    }
    if (out->serving) {
        out->leader_uptime_ms = peer->broadcast_started_ms;
    }
}

/* ---- life ------------------------------------------------------------------------------ */

/* The configuration text must name exactly the members given (with their
 * voting), so that the two views of the ensemble cannot disagree. */
static bool config_matches_members(const struct peer_config *config, struct quorum_config *out)
{
    if (config->member_count == 0) {
        memset(out, 0, sizeof(*out));
        return true;
    }
    const char *text = config->config_text ? config->config_text : "";
    if (!quorum_config_parse(text, strlen(text), out, NULL, 0) ||
        out->server_count != config->member_count || out->server_count == 0) {
        return false;
    }
    for (size_t index = 0; index < config->member_count; index++) {
        const struct quorum_server *server = quorum_config_find(out, config->members[index].id);
        if (!server || server->observer == config->members[index].voting) {
            return false;
        }
    }
    return true;
}

struct peer *peer_create(const struct peer_config *config, const struct peer_io *io,
                         struct sequencer *sequencer, int64_t last_logged_zxid)
{
    if (config->member_count > ELECTION_MEMBERS_MAX || config->tick_ms <= 0 || !sequencer) {
        return NULL;
    }
    struct peer *peer = calloc(1, sizeof(*peer));
    if (!peer) {
        return NULL;
    }
    peer->config = *config;
    peer->config.members = NULL; /* config_active holds them */
    peer->config.config_text = NULL;
    peer->config_active = calloc(1, sizeof(*peer->config_active));
    peer->config_last_seen = calloc(1, sizeof(*peer->config_last_seen));
    peer->config_scratch = calloc(1, sizeof(*peer->config_scratch));
    peer->config_text = calloc(1, QUORUM_CONFIG_TEXT_BYTES_MAX);
    if (!peer->config_active || !peer->config_last_seen || !peer->config_scratch ||
        !peer->config_text || !config_matches_members(config, peer->config_active)) {
        peer_destroy(peer);
        return NULL;
    }
    *peer->config_last_seen = *peer->config_active;
    const char *seen = config->last_seen_config_text;
    if (seen && config->member_count > 0 &&
        quorum_config_parse(seen, strlen(seen), peer->config_scratch, NULL, 0) &&
        peer->config_scratch->server_count > 0 &&
        peer->config_scratch->version > peer->config_active->version) {
        *peer->config_last_seen = *peer->config_scratch;
    }
    peer->config.last_seen_config_text = NULL;
    peer->io = *io;
    peer->sequencer = sequencer;
    peer->standalone = config->member_count == 0;
    peer->state = PEER_LOOKING;
    peer->leader_id = -1;
    peer->accepted_epoch = config->accepted_epoch;
    peer->current_epoch = config->current_epoch;
    peer->last_logged_zxid = last_logged_zxid;
    peer->durable_zxid = last_logged_zxid;
    peer->last_committed_zxid = last_logged_zxid;
    peer->committed_log_prev_zxid = last_logged_zxid;
    size_t packet_max = (size_t)config->packet_data_bytes_max + PEER_PACKET_OVERHEAD_BYTES;
    jute_writer_init(&peer->out, packet_max);
    jute_writer_init(&peer->payload, packet_max);
    bool ok = peer_txn_queue_init(&peer->committed_log, PEER_COMMITTED_LOG_MAX) &&
              peer_txn_queue_init(&peer->outstanding, PEER_OUTSTANDING_MAX) &&
              peer_txn_queue_init(&peer->logged, PEER_OUTSTANDING_MAX);
    if (ok && !peer->standalone) {
        peer->election = election_for(peer, 0);
        ok = peer->election != NULL;
    }
    if (!ok) {
        peer_destroy(peer);
        return NULL;
    }
    sequencer_set_log(sequencer, sequencer_log_hook, peer);
    struct sequencer_replication replication = {
        .forward = forward_hook,
        .revalidate = revalidate_hook,
        .learner_sync = learner_sync_hook,
        .reconfig = peer_leader_reconfig,
        .context = peer,
    };
    sequencer_set_replication(sequencer, &replication);
    if (!peer->standalone) {
        /* No client is served until a role reaches broadcast. */
        sequencer_stop_serving(sequencer);
    }
    return peer;
}

void peer_destroy(struct peer *peer)
{
    if (!peer) {
        return;
    }
    if (peer->election) {
        election_destroy(peer->election);
    }
    peer_txn_queue_free(&peer->committed_log);
    peer_txn_queue_free(&peer->outstanding);
    peer_txn_queue_free(&peer->logged);
    free(peer->config_active);
    free(peer->config_last_seen);
    free(peer->config_scratch);
    free(peer->config_text);
    jute_writer_free(&peer->out);
    jute_writer_free(&peer->payload);
    free(peer);
}

void peer_start(struct peer *peer, int64_t now_ms, int64_t now_elapsed_ms)
{
    (void)now_ms;
    if (peer->standalone) {
        peer->state = PEER_LEADING;
        peer->phase = PEER_PHASE_BROADCAST;
        peer->leader_id = 0;
        peer->role_started_ms = now_elapsed_ms;
        peer->broadcast_started_ms = now_elapsed_ms;
        sequencer_lead(peer->sequencer, 0, now_elapsed_ms);
        return;
    }
    start_election(peer, now_elapsed_ms);
}

/* ---- SNAP stream <-> snapshot file ------------------------------------------ */

bool peer_snapshot_file_from_stream(const uint8_t *stream, size_t stream_bytes,
                                    struct jute_writer *file)
{
    /* The stream ends with the jute string "BenWasHere" (4-byte length). */
    size_t signature_bytes = 4u + strlen(PEER_SNAP_SIGNATURE);
    if (stream_bytes < signature_bytes) {
        return false;
    }
    jute_writer_reset(file);
    jute_write_int(file, STORE_SNAPSHOT_MAGIC);
    jute_write_int(file, STORE_SNAPSHOT_VERSION);
    jute_write_long(file, STORE_SNAPSHOT_DBID);
    jute_write_raw(file, stream, stream_bytes - signature_bytes);
    uint32_t checksum = store_adler32(1, file->data, file->size);
    jute_write_long(file, (int64_t)checksum);
    jute_write_bytes(file, jute_bytes_cstr("/"));
    return file->ok;
}
