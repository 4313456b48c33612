/* The learner's side of ZAB (ZooKeeper's Learner, Follower, Observer).
 *
 * Connect to the leader, send FOLLOWERINFO (OBSERVERINFO) with the epoch we
 * accepted; LEADERINFO names the new epoch, which we accept (acceptedEpoch
 * file) and acknowledge with our current epoch and last zxid (ACKEPOCH).
 * Then the leader syncs us: DIFF, TRUNC (io.truncate) or SNAP
 * (io.install_snapshot), followed by PROPOSAL / COMMIT pairs; NEWLEADER
 * makes the epoch current (currentEpoch file) and is ACKed once every
 * proposal received so far is on our disk (ZOOKEEPER-3911); UPTODATE starts
 * serving. In broadcast each PROPOSAL is logged and ACKed once durable, each
 * COMMIT applied in order; observers get INFORM (the transaction, already
 * committed) and never ACK.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/peer_internal.h"
#include "jute/zk_constants.h"

/* Sessions reported in one PING. */
#define PEER_PING_TOUCHES_MAX 4096u
/* Between attempts to connect to a leader that does not listen yet
 * (ZooKeeper's leaderConnectDelayDuringRetryMs); they go on until initLimit. */
#define PEER_LEADER_CONNECT_RETRY_MS 100

static bool is_observer(const struct peer *peer)
{
    return peer->state == PEER_OBSERVING;
}

static bool send_to_leader(struct peer *peer, int32_t type, int64_t zxid, const uint8_t *data,
                           size_t data_bytes)
{
    if (peer->leader_connection == 0 || !peer->leader_connected) {
        return false;
    }
    return peer_send_packet(peer, peer->leader_connection, type, zxid, data, data_bytes);
}

void peer_follow(struct peer *peer, int64_t leader_id, int64_t now_elapsed_ms)
{
    assert(peer->logged.count == 0);
    peer->phase = PEER_PHASE_DISCOVERY;
    peer->leader_id = leader_id;
    peer->leader_connected = false;
    peer->reconnect_at_ms = 0;
    peer->newleader_pending = false;
    peer->newleader_acked = false;
    peer->acked_zxid = peer->last_logged_zxid;
    peer->leader_deadline_ms =
        now_elapsed_ms + peer_limit_ms(peer, peer->config.init_limit_ticks);
    peer->leader_connection = peer->io.quorum_connect(peer->io.context, leader_id);
    if (peer->leader_connection == 0) {
        /* No connection slot free now: try again shortly. */
        peer->reconnect_at_ms = now_elapsed_ms + PEER_LEADER_CONNECT_RETRY_MS;
    }
}

void peer_learner_connected(struct peer *peer, int64_t now_elapsed_ms)
{
    peer->leader_connected = true;
    peer->leader_deadline_ms =
        now_elapsed_ms + peer_limit_ms(peer, peer->config.init_limit_ticks);
    struct jute_learner_info info = {
        .serverid = peer->config.my_id,
        .protocol_version = QUORUM_ZAB_PROTOCOL_VERSION,
        .config_version = 0,
    };
    jute_writer_reset(&peer->payload);
    jute_learner_info_encode(&peer->payload, &info);
    int32_t type = is_observer(peer) ? QUORUM_OBSERVERINFO : QUORUM_FOLLOWERINFO;
    send_to_leader(peer, type, quorum_zxid_make(peer->accepted_epoch, 0), peer->payload.data,
                   peer->payload.size);
}

/* Frees logged proposals that are both applied and on disk. */
static void release_done(struct peer *peer)
{
    while (peer->logged.count > 0) {
        struct peer_txn *txn = peer_txn_queue_at(&peer->logged, 0);
        if (!txn->committed || txn->zxid > peer->durable_zxid) {
            return;
        }
        peer_txn_queue_pop(&peer->logged);
    }
}

static void send_acks(struct peer *peer)
{
    if (is_observer(peer) || !peer->newleader_acked) {
        return;
    }
    for (size_t index = 0; index < peer->logged.count; index++) {
        struct peer_txn *txn = peer_txn_queue_at(&peer->logged, index);
        if (txn->zxid > peer->durable_zxid) {
            break;
        }
        if (txn->zxid > peer->acked_zxid && !txn->committed) {
            send_to_leader(peer, QUORUM_ACK, txn->zxid, NULL, 0);
        }
    }
    if (peer->durable_zxid > peer->acked_zxid) {
        peer->acked_zxid = peer->durable_zxid;
    }
}

/* NEWLEADER: once every transaction the leader sent is on our disk, the new
 * epoch becomes current (currentEpoch file) and we ACK. The order matters:
 * a server whose currentEpoch is new wins elections over servers with
 * higher zxids of the old epoch, so it must already hold the leader's whole
 * history (found by the simulation: writing currentEpoch at NEWLEADER
 * before the DIFF was on disk let a crashed learner come back with the new
 * epoch and a short log, win, and TRUNC an acknowledged write away). */
static void maybe_ack_newleader(struct peer *peer)
{
    if (!peer->newleader_pending || peer->durable_zxid < peer->last_logged_zxid) {
        return;
    }
    peer->newleader_pending = false;
    peer->current_epoch = peer->new_epoch;
    if (!peer->io.epoch_write(peer->io.context, false, peer->new_epoch)) {
        peer_fail(peer, "cannot write currentEpoch: stopping (check the data directory)");
        return;
    }
    peer->newleader_acked = true;
    send_to_leader(peer, QUORUM_ACK, peer->newleader_zxid, NULL, 0);
    send_acks(peer);
}

void peer_learner_durable(struct peer *peer)
{
    maybe_ack_newleader(peer);
    send_acks(peer);
    release_done(peer);
}

static struct log_record *record_of(int64_t zxid, struct jute_bytes data)
{
    size_t size = data.len > 0 ? (size_t)data.len : 0;
    struct log_record *record = malloc(sizeof(*record) + size);
    assert(record != NULL);
    record->zxid = zxid;
    record->roll_before = false;
    record->txn_bytes = (uint32_t)size;
    if (size > 0) {
        memcpy(record->txn, data.ptr, size);
    }
    return record;
}

/* Logs a transaction the leader sent (PROPOSAL, or INFORM for observers). */
static struct peer_txn *log_txn(struct peer *peer, int64_t zxid, struct jute_bytes data,
                                int64_t now_elapsed_ms)
{
    if (zxid <= peer->last_logged_zxid || data.len <= 0) {
        char why[128];
        snprintf(why, sizeof(why), "the leader sent zxid 0x%" PRIx64 " after 0x%" PRIx64,
                 (uint64_t)zxid, (uint64_t)peer->last_logged_zxid);
        peer_leave_role(peer, why, now_elapsed_ms);
        return NULL;
    }
    if (peer->logged.count == peer->logged.capacity) {
        peer_leave_role(peer, "too many transactions logged and not yet committed",
                        now_elapsed_ms);
        return NULL;
    }
    struct peer_txn *txn = peer_txn_queue_push(&peer->logged);
    txn->zxid = zxid;
    txn->record = record_of(zxid, data);
    peer->last_logged_zxid = zxid;
    if (peer_reconfig_txn_config(txn->record->txn, txn->record->txn_bytes,
                                 peer->config_scratch) &&
        peer->config_scratch->version > peer->config_last_seen->version) {
        /* Follower.processPacket: a proposed reconfig is the last seen. */
        *peer->config_last_seen = *peer->config_scratch;
        peer->reconfig_zxid = zxid;
    }
    peer->io.log_append(peer->io.context, txn->record);
    return txn;
}

/* After a configuration became active: a role that cannot go on under it
 * is left once the current packet is handled (QuorumPeer.processReconfig:
 * a changed learner type, or another leader). */
static void check_role_after_reconfig(struct peer *peer, int64_t designated_leader)
{
    const struct quorum_server *self = quorum_config_find(peer->config_active, peer->config.my_id);
    if (peer->state != PEER_FOLLOWING && peer->state != PEER_OBSERVING) {
        return;
    }
    if (!self) {
        /* ZooKeeper 3.8 (observed): a server reconfigured out goes on
         * following as a learner that does not vote, until a reconfig
         * brings it back or it is stopped. */
        peer_log(peer, "this server is not in configuration 0x%" PRIx64
                       ": it goes on as a learner that does not vote",
                 (uint64_t)peer->config_active->version);
    } else if (self->observer != is_observer(peer)) {
        peer->leave_for_reconfig = self->observer ? "the new configuration makes this server an "
                                                    "observer"
                                                  : "the new configuration makes this server a "
                                                    "participant";
    } else if (designated_leader != peer->leader_id ||
               !quorum_config_is_voter(peer->config_active, peer->leader_id)) {
        peer->leave_for_reconfig = "the new configuration designates another leader";
    }
}

/* A committed reconfig transaction was applied: its configuration becomes
 * active. Not while fast-forwarding at the end of a role: what is applied
 * then was logged, not necessarily committed (the next leader's sync
 * decides; a leader activates its last seen configuration when it starts,
 * a learner the one NEWLEADER carries). */
static void activate_applied_reconfig(struct peer *peer, const struct log_record *record,
                                      int64_t designated_leader)
{
    if (peer->fast_forwarding ||
        !peer_reconfig_txn_config(record->txn, record->txn_bytes, peer->config_scratch) ||
        peer->config_scratch->version <= peer->config_active->version) {
        return;
    }
    peer_activate_config(peer, peer->config_scratch);
    check_role_after_reconfig(peer, designated_leader);
}

static void apply_txn(struct peer *peer, struct peer_txn *txn)
{
    const struct log_record *record = txn->record;
    int status = sequencer_apply_committed(peer->sequencer, record);
    if (status != ZK_OK) {
        peer_fail(peer, "a committed transaction from the leader does not decode: stopping");
        return;
    }
    txn->committed = true;
    peer->last_committed_zxid = txn->zxid;
    peer_committed_log_push(peer, txn->zxid, record->txn, record->txn_bytes);
    activate_applied_reconfig(peer, record, peer->designated_leader);
}

static void on_commit(struct peer *peer, int64_t zxid, int64_t now_elapsed_ms)
{
    struct peer_txn *next = NULL;
    for (size_t index = 0; index < peer->logged.count; index++) {
        struct peer_txn *txn = peer_txn_queue_at(&peer->logged, index);
        if (!txn->committed) {
            next = txn;
            break;
        }
    }
    if (!next || next->zxid != zxid) {
        char why[128];
        snprintf(why, sizeof(why), "Committing zxid 0x%" PRIx64 " but next pending txn 0x%" PRIx64,
                 (uint64_t)zxid, next ? (uint64_t)next->zxid : 0);
        peer_leave_role(peer, why, now_elapsed_ms);
        return;
    }
    apply_txn(peer, next);
    release_done(peer);
}

static void on_leader_info(struct peer *peer, const struct jute_quorum_packet *packet,
                           int64_t now_elapsed_ms)
{
    int64_t new_epoch = quorum_zxid_epoch(packet->zxid);
    int32_t epoch_to_send;
    if (new_epoch > peer->accepted_epoch) {
        epoch_to_send = (int32_t)peer->current_epoch;
        peer->accepted_epoch = new_epoch;
        if (!peer->io.epoch_write(peer->io.context, true, new_epoch)) {
            peer_fail(peer, "cannot write acceptedEpoch: stopping (check the data directory)");
            return;
        }
    } else if (new_epoch == peer->accepted_epoch) {
        epoch_to_send = -1; /* already acked this epoch (ZOOKEEPER-1192) */
    } else {
        char why[128];
        snprintf(why, sizeof(why), "Leaders epoch, %" PRId64 ", is less than accepted epoch, %" PRId64,
                 new_epoch, peer->accepted_epoch);
        peer_leave_role(peer, why, now_elapsed_ms);
        return;
    }
    peer->new_epoch = new_epoch;
    peer->phase = PEER_PHASE_SYNCHRONIZATION;
    jute_writer_reset(&peer->payload);
    quorum_int32_encode(&peer->payload, epoch_to_send);
    send_to_leader(peer, QUORUM_ACKEPOCH, peer->last_logged_zxid, peer->payload.data,
                   peer->payload.size);
}

static void on_reset(struct peer *peer, int64_t zxid)
{
    peer->last_logged_zxid = zxid;
    peer->durable_zxid = zxid;
    peer->last_committed_zxid = zxid;
    peer->acked_zxid = zxid;
    peer_committed_log_clear(peer, zxid);
}

static void on_sync_packet(struct peer *peer, const struct jute_quorum_packet *packet,
                           const uint8_t *stream, size_t stream_bytes, int64_t now_elapsed_ms)
{
    switch (packet->type) {
    case QUORUM_DIFF:
        peer_log(peer, "syncing with the leader by DIFF (leader at 0x%" PRIx64 ")",
                 (uint64_t)packet->zxid);
        return;
    case QUORUM_TRUNC:
        assert(peer->logged.count == 0);
        peer_log(peer, "syncing with the leader by TRUNC to 0x%" PRIx64, (uint64_t)packet->zxid);
    {
        int64_t kept_zxid = peer->io.truncate(peer->io.context, packet->zxid);
        if (kept_zxid < 0) {
            peer_fail(peer, "Not able to truncate the log to the leader's zxid: stopping");
            return;
        }
        on_reset(peer, kept_zxid);
        if (kept_zxid != packet->zxid) {
            /* Our snapshot held a tail the leader does not have: we started
             * over empty, and a new sync brings the leader's whole tree. */
            peer_leave_role(peer, "truncation below our snapshot: local data wiped, "
                                  "syncing again from the leader's snapshot",
                            now_elapsed_ms);
        }
        return;
    }
    case QUORUM_SNAP:
        assert(peer->logged.count == 0);
        peer_log(peer, "syncing with the leader by SNAP at 0x%" PRIx64 " (%zu bytes)",
                 (uint64_t)packet->zxid, stream_bytes);
        if (!peer->io.install_snapshot(peer->io.context, stream, stream_bytes, packet->zxid)) {
            peer_fail(peer, "cannot load the leader's snapshot: stopping");
            return;
        }
        on_reset(peer, packet->zxid);
        return;
    case QUORUM_NEWLEADER:
        if (packet->data.len > 1 &&
            quorum_config_parse((const char *)packet->data.ptr, (size_t)packet->data.len,
                                peer->config_scratch, NULL, 0) &&
            peer->config_scratch->version >= peer->config_active->version) {
            /* Learner.syncWithLeader: the leader's configuration, active
             * at UPTODATE (a newer one we had seen was not the leader's:
             * the sync cut it from our log). */
            *peer->config_last_seen = *peer->config_scratch;
        }
        peer->newleader_pending = true;
        peer->newleader_zxid = packet->zxid;
        maybe_ack_newleader(peer);
        return;
    case QUORUM_UPTODATE:
        if (!peer->newleader_acked) {
            peer_leave_role(peer, "UPTODATE before our NEWLEADER ACK", now_elapsed_ms);
            return;
        }
        peer->phase = PEER_PHASE_BROADCAST;
        peer->broadcast_started_ms = now_elapsed_ms;
        peer_log(peer, "%s leader %" PRId64 " in epoch %" PRId64 ": up to date, serving",
                 is_observer(peer) ? "observing" : "following", peer->leader_id,
                 peer->current_epoch);
        sequencer_follow(peer->sequencer);
        send_to_leader(peer, QUORUM_ACK, quorum_zxid_make(peer->new_epoch, 0), NULL, 0);
        send_acks(peer);
        if (peer->config_last_seen->version > peer->config_active->version) {
            *peer->config_scratch = *peer->config_last_seen;
            peer_activate_config(peer, peer->config_scratch);
            check_role_after_reconfig(peer, peer->leader_id);
        }
        return;
    default:
        break;
    }
    char why[96];
    snprintf(why, sizeof(why), "unexpected packet type %d while syncing", packet->type);
    peer_leave_role(peer, why, now_elapsed_ms);
}

static void on_ping(struct peer *peer, const struct jute_quorum_packet *packet)
{
    int64_t session_ids[PEER_PING_TOUCHES_MAX];
    int32_t timeouts_ms[PEER_PING_TOUCHES_MAX];
    size_t count = sequencer_take_touches(peer->sequencer, session_ids, timeouts_ms,
                                          PEER_PING_TOUCHES_MAX);
    struct quorum_session_touch touches[PEER_PING_TOUCHES_MAX];
    for (size_t index = 0; index < count; index++) {
        touches[index].session_id = session_ids[index];
        touches[index].timeout_ms = timeouts_ms[index];
    }
    jute_writer_reset(&peer->payload);
    quorum_ping_encode(&peer->payload, touches, count);
    send_to_leader(peer, QUORUM_PING, packet->zxid, peer->payload.data, peer->payload.size);
}

static void handle_packet(struct peer *peer, const struct jute_quorum_packet *packet,
                          const uint8_t *stream, size_t stream_bytes, int64_t now_elapsed_ms);

void peer_learner_packet(struct peer *peer, const struct jute_quorum_packet *packet,
                         const uint8_t *stream, size_t stream_bytes, int64_t now_elapsed_ms)
{
    peer->designated_leader = peer->leader_id;
    handle_packet(peer, packet, stream, stream_bytes, now_elapsed_ms);
    if (peer->leave_for_reconfig) {
        const char *why = peer->leave_for_reconfig;
        peer->leave_for_reconfig = NULL;
        peer_leave_role(peer, why, now_elapsed_ms);
    }
}

static void handle_packet(struct peer *peer, const struct jute_quorum_packet *packet,
                          const uint8_t *stream, size_t stream_bytes, int64_t now_elapsed_ms)
{
    int32_t limit_ticks = peer->phase == PEER_PHASE_BROADCAST ? peer->config.sync_limit_ticks
                                                              : peer->config.init_limit_ticks;
    peer->leader_deadline_ms = now_elapsed_ms + peer_limit_ms(peer, limit_ticks);
    if (packet->type == QUORUM_LEADERINFO) {
        if (peer->phase != PEER_PHASE_DISCOVERY) {
            peer_leave_role(peer, "a second LEADERINFO", now_elapsed_ms);
            return;
        }
        on_leader_info(peer, packet, now_elapsed_ms);
        return;
    }
    if (peer->phase == PEER_PHASE_DISCOVERY) {
        peer_leave_role(peer, "the leader sent a packet before LEADERINFO", now_elapsed_ms);
        return;
    }
    switch (packet->type) {
    /* Observers too get the DIFF of a sync as PROPOSAL + COMMIT pairs
     * (LearnerHandler queues them for every learner); in broadcast they
     * get INFORM instead. */
    case QUORUM_PROPOSAL:
        if (!is_observer(peer) || peer->phase == PEER_PHASE_SYNCHRONIZATION) {
            log_txn(peer, packet->zxid, packet->data, now_elapsed_ms);
            return;
        }
        break;
    case QUORUM_COMMIT:
        if (!is_observer(peer) || peer->phase == PEER_PHASE_SYNCHRONIZATION) {
            on_commit(peer, packet->zxid, now_elapsed_ms);
            return;
        }
        break;
    case QUORUM_INFORM:
        if (is_observer(peer)) {
            struct peer_txn *txn = log_txn(peer, packet->zxid, packet->data, now_elapsed_ms);
            if (txn) {
                apply_txn(peer, txn);
                release_done(peer);
            }
            return;
        }
        break;
    case QUORUM_COMMITANDACTIVATE:
    case QUORUM_INFORMANDACTIVATE: {
        /* A committed reconfig, with the leader it designates (8 bytes;
         * observers also get the transaction after them). */
        bool inform = packet->type == QUORUM_INFORMANDACTIVATE;
        if (inform != is_observer(peer) || packet->data.len < 8) {
            break;
        }
        peer->designated_leader = (int64_t)jute_load_be64(packet->data.ptr);
        if (inform) {
            struct jute_bytes txn_bytes = {packet->data.ptr + 8, packet->data.len - 8};
            struct peer_txn *txn = log_txn(peer, packet->zxid, txn_bytes, now_elapsed_ms);
            if (txn) {
                apply_txn(peer, txn);
                release_done(peer);
            }
        } else {
            on_commit(peer, packet->zxid, now_elapsed_ms);
        }
        return;
    }
    case QUORUM_PING:
        if (peer->phase == PEER_PHASE_BROADCAST) {
            on_ping(peer, packet);
        }
        return;
    case QUORUM_SYNC:
        sequencer_sync_reached(peer->sequencer);
        return;
    case QUORUM_REVALIDATE: {
        int64_t session_id = 0;
        bool valid = false;
        if (quorum_revalidate_reply_decode(packet->data, &session_id, &valid)) {
            sequencer_revalidated(peer->sequencer, session_id, valid);
            return;
        }
        peer_leave_role(peer, "a REVALIDATE answer that does not decode", now_elapsed_ms);
        return;
    }
    default:
        if (peer->phase == PEER_PHASE_SYNCHRONIZATION) {
            on_sync_packet(peer, packet, stream, stream_bytes, now_elapsed_ms);
            return;
        }
        break;
    }
    char why[96];
    snprintf(why, sizeof(why), "unexpected packet type %d from the leader", packet->type);
    peer_leave_role(peer, why, now_elapsed_ms);
}

bool peer_learner_retry_connect(struct peer *peer, int64_t now_elapsed_ms)
{
    if (peer->leader_connected || now_elapsed_ms + PEER_LEADER_CONNECT_RETRY_MS >=
                                      peer->leader_deadline_ms) {
        return false;
    }
    peer->reconnect_at_ms = now_elapsed_ms + PEER_LEADER_CONNECT_RETRY_MS;
    return true;
}

int64_t peer_learner_tick(struct peer *peer, int64_t now_elapsed_ms)
{
    if (peer->leader_connection == 0 && peer->reconnect_at_ms != 0) {
        if (now_elapsed_ms < peer->reconnect_at_ms) {
            return peer->reconnect_at_ms;
        }
        peer->reconnect_at_ms = 0;
        peer->leader_connection = peer->io.quorum_connect(peer->io.context, peer->leader_id);
        if (peer->leader_connection == 0 && !peer_learner_retry_connect(peer, now_elapsed_ms)) {
            peer_leave_role(peer, "cannot open a connection to the leader", now_elapsed_ms);
            return now_elapsed_ms + peer->config.tick_ms;
        }
    }
    if (now_elapsed_ms > peer->leader_deadline_ms) {
        peer_leave_role(peer,
                        peer->phase == PEER_PHASE_BROADCAST
                            ? "nothing from the leader within syncLimit"
                            : "the leader did not sync us within initLimit",
                        now_elapsed_ms);
        return now_elapsed_ms + peer->config.tick_ms;
    }
    return peer->leader_deadline_ms + 1;
}

void peer_learner_end(struct peer *peer)
{
    if (peer->leader_connection != 0) {
        peer->io.quorum_close(peer->io.context, peer->leader_connection);
    }
    peer->leader_connection = 0;
    peer->reconnect_at_ms = 0;
    peer->leader_connected = false;
    peer->newleader_pending = false;
    peer->newleader_acked = false;
}

void peer_learner_fast_forward(struct peer *peer)
{
    peer->fast_forwarding = true;
    while (peer->logged.count > 0) {
        struct peer_txn *txn = peer_txn_queue_at(&peer->logged, 0);
        assert(txn->zxid <= peer->durable_zxid);
        if (!txn->committed) {
            apply_txn(peer, txn);
        }
        peer_txn_queue_pop(&peer->logged);
    }
    peer->fast_forwarding = false;
}

void peer_learner_forward(struct peer *peer, int64_t session_id, int32_t cxid, int32_t opcode,
                          const uint8_t *body, size_t body_bytes, const struct store_auth *auth)
{
    jute_writer_reset(&peer->payload);
    quorum_request_encode(&peer->payload, session_id, cxid, opcode, body, body_bytes);
    struct jute_id ids[64];
    int32_t id_count = 0;
    for (int32_t index = 0; auth && index < auth->id_count && id_count < 63; index++) {
        ids[id_count].scheme = auth->ids[index].scheme;
        ids[id_count].id = auth->ids[index].id;
        id_count++;
    }
    if (auth && auth->is_super) {
        ids[id_count].scheme = jute_bytes_cstr("super");
        ids[id_count].id = jute_bytes_cstr("");
        id_count++;
    }
    struct jute_quorum_packet packet = {
        .type = QUORUM_REQUEST,
        .zxid = -1,
        .data = jute_bytes_of(peer->payload.data, (int32_t)peer->payload.size),
        .authinfo = {.count = id_count, .items = ids},
    };
    jute_writer_reset(&peer->out);
    jute_quorum_packet_encode(&peer->out, &packet);
    if (peer->leader_connection != 0 && peer->leader_connected) {
        peer->io.quorum_send(peer->io.context, peer->leader_connection, peer->out.data,
                             peer->out.size);
    }
}

void peer_learner_revalidate(struct peer *peer, int64_t session_id, int32_t timeout_ms)
{
    jute_writer_reset(&peer->payload);
    quorum_revalidate_request_encode(&peer->payload, session_id, timeout_ms);
    send_to_leader(peer, QUORUM_REVALIDATE, -1, peer->payload.data, peer->payload.size);
}
