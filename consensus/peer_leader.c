/* The leader's side of ZAB (ZooKeeper's Leader and LearnerHandler).
 *
 * Discovery: every learner sends FOLLOWERINFO with the epoch it accepted;
 * once a quorum (the leader included) has spoken, the new epoch is one
 * above every accepted epoch heard, written to acceptedEpoch, and sent in
 * LEADERINFO. Learners answer ACKEPOCH with their current epoch and last
 * zxid; none may be ahead of the leader. A quorum of ACKEPOCH makes the
 * epoch current (currentEpoch file) and sync starts.
 *
 * Sync: each learner gets DIFF (the committed transactions it lacks, as
 * PROPOSAL + COMMIT), TRUNC (it has a tail the leader never had: cut it,
 * then DIFF), or SNAP (the whole tree), then the proposals still
 * outstanding, then NEWLEADER. Its ACK of NEWLEADER means it has all that
 * on disk. A quorum of those and the leader starts: UPTODATE to each.
 *
 * Broadcast: a transaction is proposed to every follower; it commits, in
 * zxid order, once it is durable on the leader AND on a quorum counting the
 * leader. (ZooKeeper does not wait for the leader's own disk when followers
 * make the quorum; waiting keeps the rule that a log record lives until the
 * leader's log writer is done with it, and costs nothing when the disks are
 * alike.) Observers get INFORM after the commit.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/peer_internal.h"
#include "jute/zk_constants.h"

/* The snapshot a SNAP sends is built in memory (at most this big). */
#define PEER_SNAP_BYTES_MAX (2048ull * 1024u * 1024u)
/* FileHeader (magic, version, dbid) and the seal (Adler32 long, "/"). */
#define SNAPSHOT_FILE_HEADER_BYTES 16u
#define SNAPSHOT_FILE_SEAL_BYTES 13u

static const char *stage_name(enum learner_stage stage)
{
    static const char *const names[] = {"waiting for FOLLOWERINFO", "waiting for ACKEPOCH",
                                        "waiting for a quorum of ACKEPOCH",
                                        "syncing (waiting for the NEWLEADER ACK)",
                                        "waiting for the leader to start", "active"};
    return names[stage];
}

struct learner_link *peer_leader_find(struct peer *peer, uint64_t connection_id)
{
    for (size_t index = 0; index < PEER_LEARNERS_MAX; index++) {
        if (peer->learners[index].used && peer->learners[index].connection_id == connection_id) {
            return &peer->learners[index];
        }
    }
    return NULL;
}

static void drop_learner(struct peer *peer, struct learner_link *learner)
{
    peer->io.quorum_close(peer->io.context, learner->connection_id);
    memset(learner, 0, sizeof(*learner));
}

void peer_leader_closed(struct peer *peer, struct learner_link *learner, const char *why)
{
    peer_log(peer, "learner %" PRId64 " (%s) dropped: %s", learner->id, stage_name(learner->stage),
             why ? why : "closed");
    drop_learner(peer, learner);
}

static bool send_to(struct peer *peer, struct learner_link *learner, int32_t type, int64_t zxid,
                    const uint8_t *data, size_t data_bytes)
{
    if (peer_send_packet(peer, learner->connection_id, type, zxid, data, data_bytes)) {
        return true;
    }
    peer_log(peer, "learner %" PRId64 " dropped: its connection cannot take more", learner->id);
    drop_learner(peer, learner);
    return false;
}

/* Ids of the learners at `stage` or later (voters only) plus the leader. */
static size_t voters_at(const struct peer *peer, enum learner_stage stage, int64_t min_acked_zxid,
                        int64_t *ids)
{
    size_t count = 0;
    ids[count++] = peer->config.my_id;
    for (size_t index = 0; index < PEER_LEARNERS_MAX; index++) {
        const struct learner_link *learner = &peer->learners[index];
        if (learner->used && !learner->observer && learner->stage >= stage &&
            learner->acked_zxid >= min_acked_zxid) {
            ids[count++] = learner->id;
        }
    }
    return count;
}

/* ---- broadcast ------------------------------------------------------------------ */

void peer_leader_propose(struct peer *peer, struct log_record *record)
{
    assert(peer->state == PEER_LEADING && peer->phase == PEER_PHASE_BROADCAST);
    assert(record->zxid > peer->last_logged_zxid);
    struct peer_txn *txn = peer_txn_queue_push(&peer->outstanding);
    txn->zxid = record->zxid;
    txn->bytes = malloc(record->txn_bytes ? record->txn_bytes : 1);
    assert(txn->bytes != NULL);
    memcpy(txn->bytes, record->txn, record->txn_bytes);
    txn->byte_count = record->txn_bytes;
    peer->outstanding.bytes += record->txn_bytes;
    peer->last_logged_zxid = record->zxid;
    if (peer_reconfig_txn_config(record->txn, record->txn_bytes, peer->config_scratch)) {
        /* Leader.propose: from here on proposals need a quorum of both the
         * active and the proposed configuration. */
        *peer->config_last_seen = *peer->config_scratch;
        peer->reconfig_zxid = record->zxid;
        peer_log(peer, "reconfig 0x%" PRIx64 " proposed", (uint64_t)record->zxid);
    }
    peer->io.log_append(peer->io.context, record);
    for (size_t index = 0; index < PEER_LEARNERS_MAX; index++) {
        struct learner_link *learner = &peer->learners[index];
        if (learner->used && !learner->observer && learner->stage >= LEARNER_SYNCING) {
            send_to(peer, learner, QUORUM_PROPOSAL, record->zxid, record->txn, record->txn_bytes);
        }
    }
}

/* Leader.getDesignatedLeader: the leader stays if it votes in the new
 * configuration; otherwise the lowest id among the new voters that acked
 * the reconfig leads next. */
static int64_t designated_leader(const struct peer *peer, const int64_t *acked, size_t count)
{
    if (quorum_config_is_voter(peer->config_last_seen, peer->config.my_id)) {
        return peer->config.my_id;
    }
    int64_t chosen = -1;
    for (size_t index = 0; index < count; index++) {
        if (quorum_config_is_voter(peer->config_last_seen, acked[index]) &&
            (chosen == -1 || acked[index] < chosen)) {
            chosen = acked[index];
        }
    }
    return chosen;
}

/* The reconfig at the head commits: followers get COMMITANDACTIVATE and
 * observers INFORMANDACTIVATE, both naming the designated leader, and the
 * new configuration becomes active here. */
static int64_t commit_reconfig(struct peer *peer, struct peer_txn *head, const int64_t *acked,
                               size_t acked_count)
{
    int64_t designated = designated_leader(peer, acked, acked_count);
    size_t bytes = 8u + head->byte_count;
    uint8_t *data = malloc(bytes);
    assert(data != NULL);
    jute_store_be64(data, (uint64_t)designated);
    memcpy(data + 8, head->bytes, head->byte_count);
    for (size_t index = 0; index < PEER_LEARNERS_MAX; index++) {
        struct learner_link *learner = &peer->learners[index];
        if (!learner->used || learner->stage < LEARNER_SYNCING) {
            continue;
        }
        if (learner->observer) {
            send_to(peer, learner, QUORUM_INFORMANDACTIVATE, head->zxid, data, bytes);
        } else {
            send_to(peer, learner, QUORUM_COMMITANDACTIVATE, head->zxid, data, 8);
        }
    }
    free(data);
    bool parsed = peer_reconfig_txn_config(head->bytes, head->byte_count, peer->config_scratch);
    assert(parsed);
    (void)parsed;
    peer_activate_config(peer, peer->config_scratch);
    return designated;
}

/* Commits every outstanding proposal a quorum has, in order. While a
 * reconfig is in flight, the quorum must hold in both configurations. */
static void try_commit(struct peer *peer, int64_t now_elapsed_ms)
{
    int64_t ids[PEER_LEARNERS_MAX + 1];
    int64_t committed_zxid = 0;
    int64_t designated = peer->config.my_id;
    while (peer->outstanding.count > 0 && designated == peer->config.my_id) {
        struct peer_txn *head = peer_txn_queue_at(&peer->outstanding, 0);
        if (peer->durable_zxid < head->zxid) {
            break;
        }
        size_t count = voters_at(peer, LEARNER_WAIT_START, head->zxid, ids);
        if (!peer_is_quorum(peer, ids, count) ||
            (peer->reconfig_zxid != 0 && head->zxid >= peer->reconfig_zxid &&
             !quorum_config_is_quorum(peer->config_last_seen, ids, count))) {
            break;
        }
        committed_zxid = head->zxid;
        if (head->zxid == peer->reconfig_zxid) {
            designated = commit_reconfig(peer, head, ids, count);
            peer_committed_log_take_head(peer, &peer->outstanding);
            continue;
        }
        for (size_t index = 0; index < PEER_LEARNERS_MAX; index++) {
            struct learner_link *learner = &peer->learners[index];
            if (!learner->used || learner->stage < LEARNER_SYNCING) {
                continue;
            }
            if (learner->observer) {
                send_to(peer, learner, QUORUM_INFORM, head->zxid, head->bytes, head->byte_count);
            } else {
                send_to(peer, learner, QUORUM_COMMIT, head->zxid, NULL, 0);
            }
        }
        peer_committed_log_take_head(peer, &peer->outstanding);
    }
    if (committed_zxid != 0) {
        peer->last_committed_zxid = committed_zxid;
        sequencer_durable(peer->sequencer, committed_zxid);
    }
    if (designated != peer->config.my_id) {
        /* Leader.tryToCommit: a leader that is not in the new configuration
         * commits nothing more and hands over. */
        char why[160];
        snprintf(why, sizeof(why),
                 "reconfig 0x%" PRIx64 " leaves this server out of the voters (designated "
                 "leader: %" PRId64 ")",
                 (uint64_t)committed_zxid, designated);
        peer_leave_role(peer, why, now_elapsed_ms);
    }
}

void peer_leader_durable(struct peer *peer, int64_t now_elapsed_ms)
{
    try_commit(peer, now_elapsed_ms);
}

void peer_leader_sync_learner_id(struct peer *peer, int64_t learner_id)
{
    for (size_t index = 0; index < PEER_LEARNERS_MAX; index++) {
        struct learner_link *learner = &peer->learners[index];
        if (learner->used && learner->id == learner_id && learner->stage == LEARNER_ACTIVE) {
            send_to(peer, learner, QUORUM_SYNC, 0, NULL, 0);
            return;
        }
    }
}

/* A jute string as the reconfig rules take it: NULL for a null string. */
static const char *nullable_text(struct jute_bytes text, size_t *length_out)
{
    *length_out = text.len > 0 ? (size_t)text.len : 0;
    if (text.len < 0) {
        return NULL;
    }
    return text.len > 0 ? (const char *)text.ptr : "";
}

/* ZooKeeper's PrepRequestProcessor reconfig checks that need the ensemble:
 * no reconfig in flight, the version the client started from, the new
 * membership's rules, and a synced quorum of it connected now. */
int peer_leader_reconfig(void *context, const struct jute_reconfig_request *request,
                         int64_t zxid, char *text_out, size_t text_bytes)
{
    struct peer *peer = context;
    if (peer->standalone || peer->state != PEER_LEADING) {
        return ZK_UNIMPLEMENTED; /* standalone ZooKeeper answers the same */
    }
    if (peer->config_last_seen->version != peer->config_active->version) {
        peer_log(peer, "reconfig refused: reconfig 0x%" PRIx64 " is still in progress",
                 (uint64_t)peer->config_last_seen->version);
        return ZK_RECONFIGINPROGRESS;
    }
    if (request->cur_config_id != -1 &&
        request->cur_config_id != peer->config_last_seen->version) {
        peer_log(peer,
                 "Reconfiguration from version %" PRId64 " failed -- last seen version is %" PRId64,
                 request->cur_config_id, peer->config_last_seen->version);
        return ZK_BADVERSION;
    }
    struct quorum_reconfig_request parsed = {0};
    parsed.joining = nullable_text(request->joining_servers, &parsed.joining_len);
    parsed.leaving = nullable_text(request->leaving_servers, &parsed.leaving_len);
    parsed.new_members = nullable_text(request->new_members, &parsed.new_members_len);
    char why[256] = "";
    int rc = quorum_config_reconfig(peer->config_last_seen, &parsed, zxid,
                                    peer->config.standalone_enabled ? 2 : 1,
                                    peer->config_scratch, why, sizeof(why));
    if (rc != ZK_OK) {
        peer_log(peer, "reconfig refused: %s", why);
        return rc;
    }
    /* Leader.isQuorumSynced: the leader (if it votes in the new config)
     * and the followers in broadcast make a quorum of the new config. */
    int64_t ids[PEER_LEARNERS_MAX + 1];
    size_t count = voters_at(peer, LEARNER_ACTIVE, INT64_MIN, ids);
    if (!quorum_config_is_quorum(peer->config_scratch, ids, count)) {
        peer_log(peer, "Reconfig failed - there must be a connected and synced quorum in new "
                       "configuration");
        return ZK_NEWCONFIGNOQUORUM;
    }
    if (!quorum_config_format(peer->config_scratch, text_out, text_bytes)) {
        peer_log(peer, "reconfig refused: the new configuration's text is too long");
        return ZK_BADARGUMENTS;
    }
    return ZK_OK;
}

/* ---- sync ----------------------------------------------------------------------- */

/* The leader's database as a SNAP stream: the snapshot file without its
 * header and seal, then the signature. */
static bool send_snapshot(struct peer *peer, struct learner_link *learner, int64_t zxid)
{
    struct jute_writer file;
    jute_writer_init(&file, PEER_SNAP_BYTES_MAX);
    bool ok = sequencer_write_snapshot(peer->sequencer, &file) &&
              file.size >= SNAPSHOT_FILE_HEADER_BYTES + SNAPSHOT_FILE_SEAL_BYTES;
    if (ok) {
        /* The stream follows the SNAP packet on the same connection. */
        ok = send_to(peer, learner, QUORUM_SNAP, zxid, NULL, 0);
    } else {
        peer_log(peer, "learner %" PRId64 " dropped: the snapshot for it could not be built",
                 learner->id);
        drop_learner(peer, learner);
    }
    if (ok) {
        size_t body = file.size - SNAPSHOT_FILE_HEADER_BYTES - SNAPSHOT_FILE_SEAL_BYTES;
        ok = peer->io.quorum_send(peer->io.context, learner->connection_id,
                                  file.data + SNAPSHOT_FILE_HEADER_BYTES, body);
        jute_writer_reset(&peer->payload);
        jute_write_bytes(&peer->payload, jute_bytes_cstr(PEER_SNAP_SIGNATURE));
        ok = ok && peer->io.quorum_send(peer->io.context, learner->connection_id,
                                        peer->payload.data, peer->payload.size);
        if (!ok) {
            peer_log(peer, "learner %" PRId64 " dropped: its connection cannot take the snapshot",
                     learner->id);
            drop_learner(peer, learner);
        }
    }
    jute_writer_free(&file);
    return ok;
}

/* Where the learner's history leaves ours, within the committed log:
 * returns the index of the first entry to send, and sets *truncate_to when
 * the learner holds a zxid we never had (TRUNC to the zxid before it).
 * -1 when the committed log cannot tell (SNAP). */
static long diff_start(struct peer *peer, int64_t learner_zxid, int64_t last_zxid,
                       int64_t *truncate_to)
{
    *truncate_to = -1;
    struct peer_txn_queue *log = &peer->committed_log;
    if (learner_zxid == last_zxid) {
        return (long)log->count;
    }
    if (learner_zxid < peer->committed_log_prev_zxid) {
        return -1;
    }
    if (learner_zxid == peer->committed_log_prev_zxid) {
        return 0;
    }
    if (learner_zxid > last_zxid) {
        *truncate_to = last_zxid;
        return (long)log->count;
    }
    int64_t before = peer->committed_log_prev_zxid;
    for (size_t index = 0; index < log->count; index++) {
        int64_t zxid = peer_txn_queue_at(log, index)->zxid;
        if (zxid == learner_zxid) {
            return (long)index + 1;
        }
        if (zxid > learner_zxid) {
            *truncate_to = before;
            return (long)index;
        }
        before = zxid;
    }
    return -1;
}

static void sync_learner(struct peer *peer, struct learner_link *learner, int64_t now_elapsed_ms)
{
    struct sequencer_counters counters;
    sequencer_counters_get(peer->sequencer, &counters);
    int64_t last_zxid = counters.last_zxid;
    int64_t truncate_to = -1;
    long start = diff_start(peer, learner->last_zxid, last_zxid, &truncate_to);
    const char *how;
    if (start < 0) {
        how = "SNAP";
        if (!send_snapshot(peer, learner, last_zxid)) {
            return;
        }
        start = (long)peer->committed_log.count;
    } else if (truncate_to >= 0) {
        how = "TRUNC";
        if (!send_to(peer, learner, QUORUM_TRUNC, truncate_to, NULL, 0)) {
            return;
        }
    } else {
        how = "DIFF";
        if (!send_to(peer, learner, QUORUM_DIFF, last_zxid, NULL, 0)) {
            return;
        }
    }
    peer_log(peer,
             "syncing learner %" PRId64 " (last zxid 0x%" PRIx64 ") with %s to 0x%" PRIx64
             " (our last zxid 0x%" PRIx64 ")",
             learner->id, (uint64_t)learner->last_zxid, how,
             (uint64_t)(truncate_to >= 0 ? truncate_to : last_zxid), (uint64_t)last_zxid);
    for (size_t index = (size_t)start; index < peer->committed_log.count; index++) {
        struct peer_txn *txn = peer_txn_queue_at(&peer->committed_log, index);
        if (!send_to(peer, learner, QUORUM_PROPOSAL, txn->zxid, txn->bytes, txn->byte_count) ||
            !send_to(peer, learner, QUORUM_COMMIT, txn->zxid, NULL, 0)) {
            return;
        }
    }
    if (!learner->observer) {
        for (size_t index = 0; index < peer->outstanding.count; index++) {
            struct peer_txn *txn = peer_txn_queue_at(&peer->outstanding, index);
            if (!send_to(peer, learner, QUORUM_PROPOSAL, txn->zxid, txn->bytes,
                         txn->byte_count)) {
                return;
            }
        }
    }
    /* NEWLEADER carries the last configuration seen (LearnerHandler). */
    bool formatted = quorum_config_format(peer->config_last_seen, peer->config_text,
                                          QUORUM_CONFIG_TEXT_BYTES_MAX);
    assert(formatted);
    (void)formatted;
    if (!send_to(peer, learner, QUORUM_NEWLEADER, quorum_zxid_make(peer->epoch, 0),
                 (const uint8_t *)peer->config_text, strlen(peer->config_text))) {
        return;
    }
    learner->stage = LEARNER_SYNCING;
    learner->deadline_ms = now_elapsed_ms + peer_limit_ms(peer, peer->config.init_limit_ticks);
}

static void start_broadcast(struct peer *peer, int64_t now_elapsed_ms)
{
    peer->phase = PEER_PHASE_BROADCAST;
    peer->broadcast_started_ms = now_elapsed_ms;
    peer_log(peer, "leading epoch %" PRId64 ": a quorum has synced, serving", peer->epoch);
    sequencer_lead(peer->sequencer, peer->epoch, now_elapsed_ms);
    /* Leader.startZkServer: a reconfig in our log that the last leader did
     * not commit is committed by this sync: its configuration becomes
     * active (learners activate the one NEWLEADER carried at UPTODATE). */
    if (peer->config_last_seen->version > peer->config_active->version) {
        *peer->config_scratch = *peer->config_last_seen;
        peer_activate_config(peer, peer->config_scratch);
        if (!quorum_config_is_voter(peer->config_active, peer->config.my_id)) {
            /* Leader.startZkServer: not the designated leader, it commits
             * nothing; its learners see at UPTODATE that it does not vote
             * and elect another. */
            peer_leave_role(peer,
                            "the configuration this sync made active leaves this server out "
                            "of the voters",
                            now_elapsed_ms);
            return;
        }
    }
    for (size_t index = 0; index < PEER_LEARNERS_MAX; index++) {
        struct learner_link *learner = &peer->learners[index];
        if (learner->used && learner->stage == LEARNER_WAIT_START) {
            if (send_to(peer, learner, QUORUM_UPTODATE, -1, NULL, 0)) {
                learner->stage = LEARNER_ACTIVE;
                learner->deadline_ms =
                    now_elapsed_ms + peer_limit_ms(peer, peer->config.sync_limit_ticks);
            }
        }
    }
}

/* ---- discovery -------------------------------------------------------------------- */

/* Discovery's two quorums: learners that sent FOLLOWERINFO, and learners
 * that acked the epoch reporting one (ZooKeeper does not count -1). */
static bool has_spoken(const struct learner_link *learner)
{
    return learner->id != 0;
}

static bool has_acked_epoch(const struct learner_link *learner)
{
    return learner->stage >= LEARNER_WAIT_SYNC && learner->accepted_epoch != -1;
}

/* True when the leader and the voting learners `counts` accepts make a
 * quorum. */
static bool voters_are_quorum(const struct peer *peer,
                              bool (*counts)(const struct learner_link *learner))
{
    int64_t ids[PEER_LEARNERS_MAX + 1];
    size_t count = 0;
    ids[count++] = peer->config.my_id;
    for (size_t index = 0; index < PEER_LEARNERS_MAX; index++) {
        const struct learner_link *learner = &peer->learners[index];
        if (learner->used && !learner->observer && counts(learner)) {
            ids[count++] = learner->id;
        }
    }
    return peer_is_quorum(peer, ids, count);
}

static void check_epoch_quorum(struct peer *peer)
{
    if (peer->epoch_decided) {
        return;
    }
    if (!voters_are_quorum(peer, has_spoken)) {
        return;
    }
    peer->epoch_decided = true;
    peer->accepted_epoch = peer->epoch;
    if (peer->config.reconfig_enabled && peer->config_active->version == 0 &&
        peer->config_last_seen->version == 0) {
        /* Leader.lead (ZOOKEEPER-1783): the configuration zoo.cfg gave gets
         * a version, the new epoch's first zxid; NEWLEADER carries it and
         * it becomes active when broadcast starts. */
        peer->config_last_seen->version = quorum_zxid_make(peer->epoch, 0);
    }
    if (!peer->io.epoch_write(peer->io.context, true, peer->epoch)) {
        peer_fail(peer, "cannot write acceptedEpoch: the leader stops (check the data directory)");
        return;
    }
    uint8_t version[4];
    jute_store_be32(version, QUORUM_ZAB_PROTOCOL_VERSION);
    for (size_t index = 0; index < PEER_LEARNERS_MAX; index++) {
        struct learner_link *learner = &peer->learners[index];
        if (learner->used && learner->id != 0 && learner->stage == LEARNER_WAIT_INFO) {
            if (send_to(peer, learner, QUORUM_LEADERINFO, quorum_zxid_make(peer->epoch, 0),
                        version, sizeof(version))) {
                learner->stage = LEARNER_WAIT_EPOCH_ACK;
            }
        }
    }
}

static void check_epoch_ack_quorum(struct peer *peer, int64_t now_elapsed_ms)
{
    if (peer->epoch_acked) {
        return;
    }
    if (!voters_are_quorum(peer, has_acked_epoch)) {
        return;
    }
    peer->epoch_acked = true;
    peer->current_epoch = peer->epoch;
    if (!peer->io.epoch_write(peer->io.context, false, peer->epoch)) {
        peer_fail(peer, "cannot write currentEpoch: the leader stops (check the data directory)");
        return;
    }
    peer->phase = PEER_PHASE_SYNCHRONIZATION;
    for (size_t index = 0; index < PEER_LEARNERS_MAX; index++) {
        struct learner_link *learner = &peer->learners[index];
        if (learner->used && learner->stage == LEARNER_WAIT_SYNC) {
            sync_learner(peer, learner, now_elapsed_ms);
        }
    }
    /* A quorum may already have acked NEWLEADER (an ensemble of one voter). */
    int64_t acked[PEER_LEARNERS_MAX + 1];
    size_t acked_count = voters_at(peer, LEARNER_WAIT_START, INT64_MIN, acked);
    if (peer->phase != PEER_PHASE_BROADCAST && peer_is_quorum(peer, acked, acked_count)) {
        start_broadcast(peer, now_elapsed_ms);
    }
}

void peer_lead(struct peer *peer, int64_t now_elapsed_ms)
{
    assert(peer->outstanding.count == 0);
    peer->state = PEER_LEADING;
    peer->phase = PEER_PHASE_DISCOVERY;
    peer->epoch = peer->accepted_epoch + 1;
    peer->epoch_decided = false;
    peer->epoch_acked = false;
    memset(peer->learners, 0, sizeof(peer->learners));
    peer->role_deadline_ms = now_elapsed_ms + peer_limit_ms(peer, peer->config.init_limit_ticks);
    peer->next_ping_ms = now_elapsed_ms;
    peer->io.quorum_listen(peer->io.context, true);
    check_epoch_quorum(peer);
    check_epoch_ack_quorum(peer, now_elapsed_ms);
}

void peer_leader_accepted(struct peer *peer, uint64_t connection_id, int64_t now_elapsed_ms)
{
    for (size_t index = 0; index < PEER_LEARNERS_MAX; index++) {
        struct learner_link *learner = &peer->learners[index];
        if (!learner->used) {
            memset(learner, 0, sizeof(*learner));
            learner->used = true;
            learner->connection_id = connection_id;
            learner->stage = LEARNER_WAIT_INFO;
            learner->acked_zxid = -1;
            learner->deadline_ms =
                now_elapsed_ms + peer_limit_ms(peer, peer->config.init_limit_ticks);
            return;
        }
    }
    peer_log(peer, "a learner connection was refused: %u learners already connected",
             PEER_LEARNERS_MAX);
    peer->io.quorum_close(peer->io.context, connection_id);
}

static void on_learner_info(struct peer *peer, struct learner_link *learner,
                            const struct jute_quorum_packet *packet)
{
    struct jute_reader reader;
    jute_reader_init(&reader, packet->data.ptr, packet->data.len > 0 ? (size_t)packet->data.len : 0);
    struct jute_learner_info info;
    uint8_t arena_bytes[16];
    struct jute_arena arena;
    jute_arena_init(&arena, arena_bytes, sizeof(arena_bytes));
    if (!jute_learner_info_decode(&reader, &arena, &info)) {
        peer_leader_closed(peer, learner, "FOLLOWERINFO without a LearnerInfo");
        return;
    }
    bool observer = packet->type == QUORUM_OBSERVERINFO;
    const struct quorum_server *known = quorum_config_find(peer->config_active, info.serverid);
    if ((known && known->observer != observer) || info.serverid == peer->config.my_id) {
        char why[160];
        snprintf(why, sizeof(why), "server %" PRId64 " is not a%s in this ensemble's config",
                 info.serverid, observer ? "n observer" : " participant");
        peer_leader_closed(peer, learner, why);
        return;
    }
    if (!known) {
        /* As ZooKeeper's LearnerHandler: a server not in the configuration
         * (one about to join by reconfig) is synced and kept up to date,
         * and counts in no quorum until a reconfig makes it a member. */
        peer_log(peer,
                 "server %" PRId64 " is not in configuration 0x%" PRIx64
                 ": it is synced as a%s that does not vote",
                 info.serverid, (uint64_t)peer->config_active->version,
                 observer ? "n observer" : " follower");
    }
    for (size_t index = 0; index < PEER_LEARNERS_MAX; index++) {
        struct learner_link *other = &peer->learners[index];
        if (other != learner && other->used && other->id == info.serverid) {
            peer_leader_closed(peer, other, "the same server connected again");
        }
    }
    learner->id = info.serverid;
    learner->observer = observer;
    learner->accepted_epoch = quorum_zxid_epoch(packet->zxid);
    if (!peer->epoch_decided) {
        if (learner->accepted_epoch >= peer->epoch) {
            peer->epoch = learner->accepted_epoch + 1;
        }
        check_epoch_quorum(peer);
        return;
    }
    uint8_t version[4];
    jute_store_be32(version, QUORUM_ZAB_PROTOCOL_VERSION);
    if (send_to(peer, learner, QUORUM_LEADERINFO, quorum_zxid_make(peer->epoch, 0), version,
                sizeof(version))) {
        learner->stage = LEARNER_WAIT_EPOCH_ACK;
    }
}

static void on_ack_epoch(struct peer *peer, struct learner_link *learner,
                         const struct jute_quorum_packet *packet, int64_t now_elapsed_ms)
{
    int32_t learner_epoch = 0;
    if (!quorum_int32_decode(packet->data, &learner_epoch)) {
        peer_leader_closed(peer, learner, "ACKEPOCH without an epoch");
        return;
    }
    struct sequencer_counters counters;
    sequencer_counters_get(peer->sequencer, &counters);
    if (learner_epoch != -1 &&
        (learner_epoch > peer->current_epoch ||
         (learner_epoch == peer->current_epoch && packet->zxid > counters.last_zxid))) {
        char why[200];
        snprintf(why, sizeof(why),
                 "Follower is ahead of the leader (epoch %d, zxid 0x%" PRIx64
                 " against %" PRId64 ", 0x%" PRIx64 ")",
                 learner_epoch, (uint64_t)packet->zxid, peer->current_epoch,
                 (uint64_t)counters.last_zxid);
        peer_leader_closed(peer, learner, why);
        return;
    }
    learner->accepted_epoch = learner_epoch;
    learner->last_zxid = packet->zxid;
    learner->stage = LEARNER_WAIT_SYNC;
    if (peer->epoch_acked) {
        sync_learner(peer, learner, now_elapsed_ms);
        return;
    }
    check_epoch_ack_quorum(peer, now_elapsed_ms);
}

static void on_ack(struct peer *peer, struct learner_link *learner, int64_t zxid,
                   int64_t now_elapsed_ms)
{
    if (learner->stage == LEARNER_SYNCING) {
        if (zxid != quorum_zxid_make(peer->epoch, 0)) {
            peer_leader_closed(peer, learner, "the first ACK after sync is not for NEWLEADER");
            return;
        }
        learner->stage = LEARNER_WAIT_START;
        if (peer->phase == PEER_PHASE_BROADCAST) {
            if (send_to(peer, learner, QUORUM_UPTODATE, -1, NULL, 0)) {
                learner->stage = LEARNER_ACTIVE;
            }
            return;
        }
        int64_t ids[PEER_LEARNERS_MAX + 1];
        size_t count = voters_at(peer, LEARNER_WAIT_START, INT64_MIN, ids);
        if (peer_is_quorum(peer, ids, count)) {
            start_broadcast(peer, now_elapsed_ms);
        }
        return;
    }
    if (learner->stage < LEARNER_WAIT_START || quorum_zxid_counter(zxid) == 0) {
        return; /* the ACK of UPTODATE, or nothing to count yet */
    }
    if (zxid > learner->acked_zxid) {
        learner->acked_zxid = zxid;
    }
    try_commit(peer, now_elapsed_ms);
}

/* The learner's client ids (authinfo), as the sequencer checks ACLs. */
static struct store_auth *auth_from_packet(const struct jute_quorum_packet *packet)
{
    int32_t count = packet->authinfo.count > 0 ? packet->authinfo.count : 0;
    struct store_auth *auth =
        calloc(1, sizeof(*auth) + (size_t)count * sizeof(struct store_auth_id));
    assert(auth != NULL);
    for (int32_t index = 0; index < count; index++) {
        const struct jute_id *id = &packet->authinfo.items[index];
        if (jute_bytes_equal(id->scheme, jute_bytes_cstr("super"))) {
            auth->is_super = true;
        }
        auth->ids[auth->id_count].scheme = id->scheme;
        auth->ids[auth->id_count].id = id->id;
        auth->id_count++;
    }
    return auth;
}

static void on_request(struct peer *peer, struct learner_link *learner,
                       const struct jute_quorum_packet *packet, int64_t now_ms,
                       int64_t now_elapsed_ms)
{
    struct quorum_request request;
    if (!quorum_request_decode(packet->data, &request)) {
        peer_leader_closed(peer, learner, "a REQUEST that does not decode");
        return;
    }
    if (!sequencer_accepting(peer->sequencer)) {
        /* Bounded: a learner that outruns the leader reconnects. */
        peer_leader_closed(peer, learner, "the leader's queue of requests is full");
        return;
    }
    struct store_auth *auth = auth_from_packet(packet);
    sequencer_handle_learner_request(peer->sequencer, learner->id, request.session_id,
                                     request.cxid, request.opcode, request.body.ptr,
                                     request.body.len > 0 ? (size_t)request.body.len : 0, auth,
                                     now_ms, now_elapsed_ms);
    free(auth);
}

struct touch_context {
    struct peer *peer;
    int64_t now_elapsed_ms;
};

static void touch_visit(void *context, const struct quorum_session_touch *touch)
{
    struct touch_context *touch_context = context;
    sequencer_touch_session(touch_context->peer->sequencer, touch->session_id, touch->timeout_ms,
                            touch_context->now_elapsed_ms);
}

static void on_revalidate(struct peer *peer, struct learner_link *learner,
                          const struct jute_quorum_packet *packet, int64_t now_elapsed_ms)
{
    int64_t session_id = 0;
    int32_t timeout_ms = 0;
    if (!quorum_revalidate_request_decode(packet->data, &session_id, &timeout_ms)) {
        peer_leader_closed(peer, learner, "a REVALIDATE that does not decode");
        return;
    }
    bool valid = sequencer_revalidate_session(peer->sequencer, session_id, timeout_ms,
                                              now_elapsed_ms);
    jute_writer_reset(&peer->payload);
    quorum_revalidate_reply_encode(&peer->payload, session_id, valid);
    send_to(peer, learner, QUORUM_REVALIDATE, -1, peer->payload.data, peer->payload.size);
}

void peer_leader_packet(struct peer *peer, struct learner_link *learner,
                        const struct jute_quorum_packet *packet, int64_t now_ms,
                        int64_t now_elapsed_ms)
{
    int32_t limit_ticks = learner->stage == LEARNER_ACTIVE ? peer->config.sync_limit_ticks
                                                           : peer->config.init_limit_ticks;
    learner->deadline_ms = now_elapsed_ms + peer_limit_ms(peer, limit_ticks);
    switch (packet->type) {
    case QUORUM_FOLLOWERINFO:
    case QUORUM_OBSERVERINFO:
        if (learner->stage == LEARNER_WAIT_INFO && learner->id == 0) {
            on_learner_info(peer, learner, packet);
        } else {
            peer_leader_closed(peer, learner, "a second FOLLOWERINFO");
        }
        return;
    case QUORUM_ACKEPOCH:
        if (learner->stage == LEARNER_WAIT_EPOCH_ACK) {
            on_ack_epoch(peer, learner, packet, now_elapsed_ms);
        } else {
            peer_leader_closed(peer, learner, "ACKEPOCH out of turn");
        }
        return;
    case QUORUM_ACK:
        on_ack(peer, learner, packet->zxid, now_elapsed_ms);
        return;
    default:
        break;
    }
    if (learner->stage != LEARNER_ACTIVE) {
        char why[96];
        snprintf(why, sizeof(why), "packet type %d before the learner is up to date",
                 packet->type);
        peer_leader_closed(peer, learner, why);
        return;
    }
    switch (packet->type) {
    case QUORUM_REQUEST:
        on_request(peer, learner, packet, now_ms, now_elapsed_ms);
        break;
    case QUORUM_PING: {
        struct touch_context context = {.peer = peer, .now_elapsed_ms = now_elapsed_ms};
        if (!quorum_ping_decode(packet->data, touch_visit, &context)) {
            peer_leader_closed(peer, learner, "a PING that does not decode");
        }
        break;
    }
    case QUORUM_REVALIDATE:
        on_revalidate(peer, learner, packet, now_elapsed_ms);
        break;
    default: {
        char why[64];
        snprintf(why, sizeof(why), "unexpected packet type %d", packet->type);
        peer_leader_closed(peer, learner, why);
        break;
    }
    }
}

/* ---- time ------------------------------------------------------------------------- */

int64_t peer_leader_tick(struct peer *peer, int64_t now_elapsed_ms)
{
    for (size_t index = 0; index < PEER_LEARNERS_MAX; index++) {
        struct learner_link *learner = &peer->learners[index];
        if (learner->used && now_elapsed_ms > learner->deadline_ms) {
            peer_leader_closed(peer, learner, "nothing heard from it within the limit");
        }
    }
    if (peer->phase != PEER_PHASE_BROADCAST) {
        if (now_elapsed_ms >= peer->role_deadline_ms) {
            peer_leave_role(peer,
                            peer->epoch_acked
                                ? "Timeout while waiting for NEWLEADER ACKs from a quorum "
                                  "(initLimit)"
                                : "Timeout while waiting for epoch from quorum (initLimit)",
                            now_elapsed_ms);
        }
        return peer->role_deadline_ms;
    }
    if (now_elapsed_ms >= peer->next_ping_ms) {
        peer->next_ping_ms = now_elapsed_ms + peer->config.tick_ms / 2;
        struct sequencer_counters counters;
        sequencer_counters_get(peer->sequencer, &counters);
        for (size_t index = 0; index < PEER_LEARNERS_MAX; index++) {
            struct learner_link *learner = &peer->learners[index];
            if (learner->used && learner->stage == LEARNER_ACTIVE) {
                send_to(peer, learner, QUORUM_PING, peer->last_logged_zxid, NULL, 0);
            }
        }
        /* Leader.lead: a leader that no longer hears a quorum steps down. */
        int64_t ids[PEER_LEARNERS_MAX + 1];
        size_t count = voters_at(peer, LEARNER_ACTIVE, INT64_MIN, ids);
        if (!peer_is_quorum(peer, ids, count)) {
            char line[256];
            int used = snprintf(line, sizeof(line),
                                "Not sufficient followers synced, only synced with sids: [");
            for (size_t index = 0; index < count && used < (int)sizeof(line) - 24; index++) {
                used += snprintf(line + used, sizeof(line) - (size_t)used, "%s%" PRId64,
                                 index ? ", " : "", ids[index]);
            }
            snprintf(line + used, sizeof(line) - (size_t)used, "]");
            peer_leave_role(peer, line, now_elapsed_ms);
        }
    }
    return peer->next_ping_ms;
}

void peer_leader_end(struct peer *peer)
{
    peer->io.quorum_listen(peer->io.context, false);
    for (size_t index = 0; index < PEER_LEARNERS_MAX; index++) {
        if (peer->learners[index].used) {
            drop_learner(peer, &peer->learners[index]);
        }
    }
    /* What was proposed is in our log and will be in our tree once it is
     * fast-forwarded: keep the committed log in step with the tree. */
    while (peer->outstanding.count > 0) {
        peer_committed_log_take_head(peer, &peer->outstanding);
    }
}
