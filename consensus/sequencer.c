#include "consensus/sequencer.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/java_random.h"
#include "consensus/session_tracker.h"
#include "jute/records.h"
#include "store/snapshot.h"

/* Expired sessions handled per tick; the rest wait for the next tick. */
#define SEQUENCER_EXPIRED_PER_TICK_MAX 1024u
/* Containers removed per check, before the per-minute limit applies. */
#define SEQUENCER_CONTAINERS_PER_CHECK_MAX 10000u
/* Which connection owns a session: open addressing, power of two. */
#define OWNER_TABLE_MIN_SLOTS 1024u

struct commit_origin {
    bool has_origin;
    uint32_t shard_index;
    uint64_t connection_id;
    int32_t xid;
    int32_t opcode;
};

enum pending_kind {
    PENDING_TXN = 1,        /* a transaction waiting to be durable */
    PENDING_MESSAGE = 2,    /* a ready message, sent in its turn */
    PENDING_ERROR_REPLY = 3, /* a refusal without a transaction */
    PENDING_PIPELINE_READ = 4, /* sync / getEphemerals, answered in its turn */
    /* Learner: a client's write sent to the leader, waiting for the commit
     * that carries it (session_id, cxid). `message` holds its reply once
     * that commit came while older entries still waited. */
    PENDING_FORWARDED = 5,
    /* Learner: a new session (createSession sent to the leader) or a
     * reconnect (revalidate sent); `message` is the CONNECTED to send. */
    PENDING_REMOTE_CONNECT = 6,
    /* Learner: a sync sent to the leader, answered when SYNC comes back. */
    PENDING_REMOTE_SYNC = 7,
    /* Leader: a learner's sync; sends it SYNC in its turn. */
    PENDING_LEARNER_SYNC = 8,
};

struct pending_entry {
    enum pending_kind kind;
    struct log_record *record;   /* TXN: owned */
    struct commit_origin origin; /* TXN (when a client asked) and ERROR_REPLY */
    int64_t closed_session_id;   /* TXN: closeSession or expiry of that session */
    /* TXN of createSession: CONNECTED, sent once the session is committed
     * (ZooKeeper answers the handshake from FinalRequestProcessor).
     * MESSAGE: the message. Owned. */
    struct shard_message *message;
    uint32_t message_shard;
    int32_t err;                   /* ERROR_REPLY */
    struct core_request *request;  /* PIPELINE_READ, REMOTE_SYNC: owned */
    /* FORWARDED, REMOTE_CONNECT, REMOTE_SYNC: what it waits for. */
    bool resolved;
    int64_t session_id;
    int32_t cxid;
    bool revalidating;             /* REMOTE_CONNECT of a reconnect */
    int64_t learner_id;            /* LEARNER_SYNC */
};

struct session_owner {
    int64_t session_id; /* 0 = empty slot; ids are never 0 */
    uint32_t shard_index;
    uint64_t connection_id;
    bool tombstone;
};

/* Sessions a learner's clients touched, reported to the leader in the next
 * PING; more touches than this between pings are dropped (the session is
 * touched again by its next request or ping). */
#define SEQUENCER_TOUCHES_MAX 65536u

struct sequencer {
    struct store_tree *tree;
    struct sequencer_config config;
    struct sequencer_output output;
    void *log_context;
    enum sequencer_mode mode;
    struct sequencer_replication replication;
    int64_t *touches;
    size_t touch_count;
    struct session_tracker *sessions;
    int64_t last_zxid;          /* last committed (applied to the tree) */
    int64_t last_prepared_zxid; /* last given to a transaction */
    int64_t durable_zxid;       /* what the log reported */
    int64_t transactions_committed;
    /* The FIFO of everything waiting for the log: a ring of entries. */
    struct pending_entry *pending;
    size_t pending_head;
    size_t pending_count;
    int64_t next_container_check_ms;
    /* Reused for every transaction, so the hot path does not allocate them. */
    struct store_txn txn;
    struct store_apply_result result;
    struct jute_writer reply;
    struct session_owner *owners;
    size_t owner_slots;
    size_t owner_used; /* live + tombstones */
};

/* ---- the session -> connection table ------------------------------------ */

static size_t owner_hash(int64_t session_id, size_t slots)
{
    uint64_t mixed = (uint64_t)session_id * 0x9E3779B97F4A7C15ull;
    return (size_t)(mixed >> 17) & (slots - 1);
}

static struct session_owner *owner_find(struct sequencer *sequencer, int64_t session_id)
{
    size_t slot = owner_hash(session_id, sequencer->owner_slots);
    for (size_t probe = 0; probe < sequencer->owner_slots; probe++) {
        struct session_owner *owner = &sequencer->owners[slot];
        if (owner->session_id == 0 && !owner->tombstone) {
            return NULL;
        }
        if (owner->session_id == session_id) {
            return owner;
        }
        slot = (slot + 1) & (sequencer->owner_slots - 1);
    }
    return NULL;
}

static bool owner_table_grow(struct sequencer *sequencer)
{
    size_t slots = sequencer->owner_slots * 2;
    struct session_owner *grown = calloc(slots, sizeof(*grown));
    if (!grown) {
        return false;
    }
    for (size_t index = 0; index < sequencer->owner_slots; index++) {
        struct session_owner *old = &sequencer->owners[index];
        if (old->session_id == 0) {
            continue;
        }
        size_t slot = owner_hash(old->session_id, slots);
        while (grown[slot].session_id != 0) {
            slot = (slot + 1) & (slots - 1);
        }
        grown[slot] = *old;
    }
    free(sequencer->owners);
    sequencer->owners = grown;
    sequencer->owner_slots = slots;
    sequencer->owner_used = 0;
    for (size_t index = 0; index < slots; index++) {
        sequencer->owner_used += grown[index].session_id != 0;
    }
    return true;
}

static void owner_set(struct sequencer *sequencer, int64_t session_id, uint32_t shard_index,
                      uint64_t connection_id)
{
    assert(session_id != 0);
    struct session_owner *owner = owner_find(sequencer, session_id);
    if (!owner) {
        if ((sequencer->owner_used + 1) * 4 > sequencer->owner_slots * 3 &&
            !owner_table_grow(sequencer)) {
            return; /* the table only routes "close the old connection"; best effort */
        }
        size_t slot = owner_hash(session_id, sequencer->owner_slots);
        while (sequencer->owners[slot].session_id != 0) {
            slot = (slot + 1) & (sequencer->owner_slots - 1);
        }
        owner = &sequencer->owners[slot];
        if (!owner->tombstone) {
            sequencer->owner_used++;
        }
    }
    owner->session_id = session_id;
    owner->tombstone = false;
    owner->shard_index = shard_index;
    owner->connection_id = connection_id;
}

static void owner_clear(struct sequencer *sequencer, int64_t session_id)
{
    struct session_owner *owner = owner_find(sequencer, session_id);
    if (owner) {
        owner->session_id = 0;
        owner->tombstone = true;
    }
}

/* ---- messages ------------------------------------------------------------ */

static struct shard_message *message_new(enum shard_message_kind kind)
{
    struct shard_message *message = calloc(1, sizeof(*message));
    if (message) {
        message->kind = kind;
    }
    return message;
}

static void deliver(struct sequencer *sequencer, uint32_t shard_index,
                    struct shard_message *message)
{
    assert(shard_index < sequencer->config.shard_count);
    sequencer->output.deliver(sequencer->output.context, shard_index, message);
}

/* Copies the reply frame the writer holds into the message. */
static bool message_take_reply(struct shard_message *message, const struct jute_writer *reply)
{
    if (!reply->ok) {
        return false;
    }
    message->reply_bytes = malloc(reply->size);
    if (!message->reply_bytes) {
        return false;
    }
    memcpy(message->reply_bytes, reply->data, reply->size);
    message->reply_bytes_size = reply->size;
    message->has_reply = true;
    return true;
}

static void frame_begin(struct jute_writer *out, int32_t xid, int64_t zxid, int32_t err)
{
    jute_writer_reset(out);
    jute_write_int(out, 0); /* length, patched by frame_end */
    struct jute_reply_header header = {.xid = xid, .zxid = zxid, .err = err};
    jute_reply_header_encode(out, &header);
}

static void frame_end(struct jute_writer *out)
{
    if (out->ok) {
        jute_writer_patch_int(out, 0, (int32_t)(out->size - 4));
    }
}

static struct jute_stat stat_to_jute(const struct store_stat *stat)
{
    struct jute_stat out;
    store_stat_to_jute(stat, &out);
    return out;
}

/* One sub-result of a multi, as MultiResponse serializes OpResults. */
static struct jute_multi_result multi_result_of(const struct store_op_result *op)
{
    struct jute_multi_result out;
    memset(&out, 0, sizeof(out));
    out.type = op->type;
    switch (op->type) {
    case ZK_OP_CREATE:
        out.u.create.path = op->path;
        break;
    case ZK_OP_CREATE2:
    case ZK_OP_CREATE_TTL:
    case ZK_OP_CREATE_CONTAINER:
        out.type = ZK_OP_CREATE2;
        out.u.create2.path = op->path;
        out.u.create2.stat = stat_to_jute(&op->stat);
        break;
    case ZK_OP_DELETE:
    case ZK_OP_DELETE_CONTAINER:
        out.type = ZK_OP_DELETE;
        break;
    case ZK_OP_SET_DATA:
        out.u.set_data.stat = stat_to_jute(&op->stat);
        break;
    case ZK_OP_CHECK:
        break;
    default:
        out.type = ZK_OP_ERROR;
        out.err = op->err;
        break;
    }
    return out;
}

bool sequencer_encode_write_reply(struct jute_writer *out, int32_t xid, int32_t opcode,
                                  const struct store_apply_result *result)
{
    /* FinalRequestProcessor: a failed single request (an ErrorTxn) gets the
     * header alone; a multi always gets its MultiResponse with header err 0. */
    bool is_multi = opcode == ZK_OP_MULTI && result->single.type != ZK_OP_ERROR;
    int32_t header_err = is_multi ? ZK_OK : result->err;
    frame_begin(out, xid, result->zxid, header_err);
    if (!is_multi && result->err != ZK_OK) {
        frame_end(out);
        return out->ok;
    }
    const struct store_op_result *single = &result->single;
    switch (opcode) {
    case ZK_OP_CREATE: {
        struct jute_create_response body = {.path = single->path};
        jute_create_response_encode(out, &body);
        break;
    }
    case ZK_OP_CREATE2:
    case ZK_OP_CREATE_TTL:
    case ZK_OP_CREATE_CONTAINER: {
        struct jute_create2_response body = {.path = single->path,
                                             .stat = stat_to_jute(&single->stat)};
        jute_create2_response_encode(out, &body);
        break;
    }
    case ZK_OP_SET_DATA:
    case ZK_OP_CHECK: {
        struct jute_set_data_response body = {.stat = stat_to_jute(&single->stat)};
        jute_set_data_response_encode(out, &body);
        break;
    }
    case ZK_OP_SET_ACL: {
        struct jute_set_acl_response body = {.stat = stat_to_jute(&single->stat)};
        jute_set_acl_response_encode(out, &body);
        break;
    }
    case ZK_OP_RECONFIG: {
        /* FinalRequestProcessor: the new configuration and the Stat of
         * /zookeeper/config. */
        struct jute_get_data_response body = {.data = single->data,
                                              .stat = stat_to_jute(&single->stat)};
        jute_get_data_response_encode(out, &body);
        break;
    }
    case ZK_OP_MULTI: {
        struct jute_multi_result *results = NULL;
        if (result->multi_count > 0) {
            results = calloc(result->multi_count, sizeof(*results));
            if (!results) {
                out->ok = false;
                return false;
            }
        }
        for (size_t index = 0; index < result->multi_count; index++) {
            results[index] = multi_result_of(&result->multi[index]);
        }
        struct jute_multi_response body = {.count = (int32_t)result->multi_count,
                                           .results = results};
        jute_multi_response_encode(out, &body);
        free(results);
        break;
    }
    default: /* delete, closeSession, deleteContainer: header only */
        break;
    }
    frame_end(out);
    return out->ok;
}

/* A reply with the header alone (errors decided before any transaction). */
static void encode_header_reply(struct jute_writer *out, int32_t xid, int64_t zxid, int32_t err)
{
    frame_begin(out, xid, zxid, err);
    frame_end(out);
}

/* ---- commit ------------------------------------------------------------- */

/* Apply a durable transaction, then hand every shard the commit. */
static void commit_and_apply(struct sequencer *sequencer, const struct log_record *record,
                             const struct commit_origin *origin, int64_t closed_session_id)
{
    struct commit_record *commit = calloc(1, sizeof(*commit));
    assert(commit != NULL);
    store_change_list_init(&commit->changes);
    commit->zxid = record->zxid;
    commit->closed_session_id = closed_session_id;

    struct store_apply_result *result = &sequencer->result;
    store_apply_result_free(result);
    store_apply_result_init(result);
    struct jute_bytes txn_bytes = jute_bytes_of(record->txn, (int32_t)record->txn_bytes);
    int status = store_apply(sequencer->tree, txn_bytes, &commit->changes, result);
    /* The sequencer made these bytes itself: failing to read them back is a
     * bug, not an input error. */
    assert(status == ZK_OK);
    (void)status;
    assert(commit->zxid == sequencer->last_zxid + 1 || sequencer->last_zxid == 0 ||
           (commit->zxid >> 32) != (sequencer->last_zxid >> 32));
    sequencer->last_zxid = commit->zxid;
    sequencer->transactions_committed++;

    uint32_t shard_count = sequencer->config.shard_count;
    atomic_store(&commit->references, (int32_t)shard_count);
    for (uint32_t shard = 0; shard < shard_count; shard++) {
        struct shard_message *message = message_new(SHARD_MESSAGE_COMMIT);
        assert(message != NULL);
        message->commit = commit;
        if (origin->has_origin && origin->shard_index == shard) {
            message->connection_id = origin->connection_id;
            message->xid = origin->xid;
            message->opcode = origin->opcode;
            message->err = result->err;
            message->close_after_reply = origin->opcode == ZK_OP_CLOSE_SESSION;
            bool encoded = sequencer_encode_write_reply(&sequencer->reply, origin->xid,
                                                        origin->opcode, result);
            if (!encoded) {
                encode_header_reply(&sequencer->reply, origin->xid, commit->zxid,
                                    ZK_MARSHALLINGERROR);
            }
            bool taken = message_take_reply(message, &sequencer->reply);
            assert(taken);
            (void)taken;
        }
        deliver(sequencer, shard, message);
    }
}

/* ---- the pending FIFO ---------------------------------------------------- */

static size_t pending_space(const struct sequencer *sequencer)
{
    return SEQUENCER_PENDING_MAX - sequencer->pending_count;
}

static struct pending_entry *pending_push(struct sequencer *sequencer, enum pending_kind kind)
{
    assert(sequencer->pending_count < SEQUENCER_PENDING_MAX);
    size_t slot = (sequencer->pending_head + sequencer->pending_count) % SEQUENCER_PENDING_MAX;
    sequencer->pending_count++;
    struct pending_entry *entry = &sequencer->pending[slot];
    memset(entry, 0, sizeof(*entry));
    entry->kind = kind;
    return entry;
}

static void handle_pipeline_read(struct sequencer *sequencer, const struct core_request *request);
static void reply_now(struct sequencer *sequencer, const struct commit_origin *origin, int32_t err);

/* Sends one entry whose turn has come. */
static void pending_run(struct sequencer *sequencer, struct pending_entry *entry)
{
    switch (entry->kind) {
    case PENDING_TXN:
        commit_and_apply(sequencer, entry->record, &entry->origin, entry->closed_session_id);
        if (entry->closed_session_id != 0) {
            session_tracker_remove(sequencer->sessions, entry->closed_session_id);
        }
        free(entry->record);
        if (entry->message) {
            deliver(sequencer, entry->message_shard, entry->message);
        }
        break;
    case PENDING_MESSAGE:
        deliver(sequencer, entry->message_shard, entry->message);
        break;
    case PENDING_ERROR_REPLY:
        reply_now(sequencer, &entry->origin, entry->err);
        break;
    case PENDING_PIPELINE_READ:
    case PENDING_REMOTE_SYNC:
        handle_pipeline_read(sequencer, entry->request);
        core_request_free(entry->request);
        break;
    case PENDING_FORWARDED:
        if (entry->message) { /* else the commit carried the reply */
            deliver(sequencer, entry->origin.shard_index, entry->message);
        }
        break;
    case PENDING_REMOTE_CONNECT:
        deliver(sequencer, entry->message_shard, entry->message);
        break;
    case PENDING_LEARNER_SYNC:
        if (sequencer->replication.learner_sync) {
            sequencer->replication.learner_sync(sequencer->replication.context,
                                                entry->learner_id);
        }
        break;
    }
}

static bool pending_waits(const struct sequencer *sequencer, const struct pending_entry *entry)
{
    switch (entry->kind) {
    case PENDING_TXN:
        return entry->record->zxid > sequencer->durable_zxid;
    case PENDING_FORWARDED:
    case PENDING_REMOTE_CONNECT:
    case PENDING_REMOTE_SYNC:
        return !entry->resolved;
    default:
        return false;
    }
}

/* Sends, in order, every entry that no longer waits for the log. */
static void pending_drain(struct sequencer *sequencer)
{
    while (sequencer->pending_count > 0) {
        struct pending_entry *entry = &sequencer->pending[sequencer->pending_head];
        if (pending_waits(sequencer, entry)) {
            return;
        }
        struct pending_entry taken = *entry;
        sequencer->pending_head = (sequencer->pending_head + 1) % SEQUENCER_PENDING_MAX;
        sequencer->pending_count--;
        pending_run(sequencer, &taken);
    }
}

/* Turns the prepared transaction (sequencer->txn) into a log record, hands
 * it to the log and queues it. */
static struct pending_entry *propose(struct sequencer *sequencer,
                                     const struct commit_origin *origin,
                                     int64_t closed_session_id)
{
    const struct store_txn *txn = &sequencer->txn;
    assert(txn->zxid == sequencer->last_prepared_zxid + 1);
    sequencer->last_prepared_zxid = txn->zxid;
    struct log_record *record = malloc(sizeof(*record) + txn->bytes.size);
    assert(record != NULL);
    record->zxid = txn->zxid;
    record->roll_before = false;
    record->txn_bytes = (uint32_t)txn->bytes.size;
    memcpy(record->txn, txn->bytes.data, txn->bytes.size);
    struct pending_entry *entry = pending_push(sequencer, PENDING_TXN);
    entry->record = record;
    entry->origin = *origin;
    entry->closed_session_id = closed_session_id;
    if (sequencer->output.log_append) {
        sequencer->output.log_append(sequencer->log_context, record);
    } else {
        sequencer->durable_zxid = record->zxid; /* no log: durable at once */
    }
    return entry;
}

void sequencer_set_log(struct sequencer *sequencer,
                       void (*log_append)(void *context, struct log_record *record),
                       void *context)
{
    assert(sequencer->pending_count == 0);
    sequencer->output.log_append = log_append;
    sequencer->log_context = context;
}

void sequencer_durable(struct sequencer *sequencer, int64_t zxid)
{
    if (zxid > sequencer->durable_zxid) {
        assert(zxid <= sequencer->last_prepared_zxid);
        sequencer->durable_zxid = zxid;
    }
    pending_drain(sequencer);
}

bool sequencer_accepting(const struct sequencer *sequencer)
{
    /* A request queues at most two entries (a reconnect: close + connected). */
    return pending_space(sequencer) > 2;
}

/* ---- requests ------------------------------------------------------------ */

static struct commit_origin origin_of(const struct core_request *request)
{
    return (struct commit_origin){
        .has_origin = true,
        .shard_index = request->shard_index,
        .connection_id = request->connection_id,
        .xid = request->xid,
        .opcode = request->opcode,
    };
}

/* A reply with the header alone, stamped with the last committed zxid. */
static void reply_now(struct sequencer *sequencer, const struct commit_origin *origin, int32_t err)
{
    struct shard_message *message = message_new(SHARD_MESSAGE_REPLY);
    assert(message != NULL);
    message->connection_id = origin->connection_id;
    message->xid = origin->xid;
    message->opcode = origin->opcode;
    message->err = err;
    message->close_after_reply = origin->opcode == ZK_OP_CLOSE_SESSION && err == ZK_OK;
    encode_header_reply(&sequencer->reply, origin->xid, sequencer->last_zxid, err);
    bool taken = message_take_reply(message, &sequencer->reply);
    assert(taken);
    (void)taken;
    deliver(sequencer, origin->shard_index, message);
}

static void reply_without_txn(struct sequencer *sequencer, const struct core_request *request,
                              int32_t err)
{
    struct pending_entry *entry = pending_push(sequencer, PENDING_ERROR_REPLY);
    entry->origin = origin_of(request);
    entry->err = err;
    pending_drain(sequencer);
}

/* sync and getEphemerals: reads that ZooKeeper answers in commit order. */
static void handle_pipeline_read(struct sequencer *sequencer, const struct core_request *request)
{
    struct jute_reader reader;
    jute_reader_init(&reader, request->body, request->body_bytes);
    uint8_t arena_bytes[256];
    struct jute_arena arena;
    jute_arena_init(&arena, arena_bytes, sizeof(arena_bytes));
    struct jute_writer *out = &sequencer->reply;
    struct commit_origin origin = origin_of(request);
    if (request->opcode == ZK_OP_SYNC) {
        struct jute_sync_request sync;
        if (!jute_sync_request_decode(&reader, &arena, &sync)) {
            reply_now(sequencer, &origin, ZK_MARSHALLINGERROR);
            return;
        }
        frame_begin(out, request->xid, sequencer->last_zxid, ZK_OK);
        struct jute_sync_response body = {.path = sync.path};
        jute_sync_response_encode(out, &body);
        frame_end(out);
    } else {
        assert(request->opcode == ZK_OP_GET_EPHEMERALS);
        struct jute_get_ephemerals_request get;
        if (!jute_get_ephemerals_request_decode(&reader, &arena, &get)) {
            reply_now(sequencer, &origin, ZK_MARSHALLINGERROR);
            return;
        }
        struct store_change_list paths;
        store_change_list_init(&paths);
        store_session_ephemerals(sequencer->tree, request->session_id, get.prefix_path, &paths);
        struct jute_bytes *items = calloc(paths.count ? paths.count : 1, sizeof(*items));
        assert(items != NULL);
        for (size_t index = 0; index < paths.count; index++) {
            items[index] = paths.changes[index].path;
        }
        struct jute_get_ephemerals_response body = {
            .ephemerals = {.count = (int32_t)paths.count, .items = items}};
        frame_begin(out, request->xid, sequencer->last_zxid, ZK_OK);
        jute_get_ephemerals_response_encode(out, &body);
        frame_end(out);
        free(items);
        store_change_list_free(&paths);
    }
    struct shard_message *message = message_new(SHARD_MESSAGE_REPLY);
    assert(message != NULL);
    message->connection_id = request->connection_id;
    message->xid = request->xid;
    message->opcode = request->opcode;
    if (!message_take_reply(message, out)) {
        encode_header_reply(out, request->xid, sequencer->last_zxid, ZK_MARSHALLINGERROR);
        bool taken = message_take_reply(message, out);
        assert(taken);
        (void)taken;
    }
    deliver(sequencer, request->shard_index, message);
}

/* Returns true when it took ownership of `request`. */
static bool handle_write(struct sequencer *sequencer, struct core_request *request,
                         int64_t now_ms, int64_t now_elapsed_ms)
{
    if (request->opcode == ZK_OP_SYNC || request->opcode == ZK_OP_GET_EPHEMERALS) {
        struct pending_entry *entry = pending_push(sequencer, PENDING_PIPELINE_READ);
        entry->request = request;
        pending_drain(sequencer);
        return true;
    }
    /* SessionTrackerImpl.checkSession: an unknown or closing session. */
    if (!session_tracker_touch(sequencer->sessions, request->session_id, now_elapsed_ms)) {
        reply_without_txn(sequencer, request, ZK_SESSIONEXPIRED);
        return false;
    }
    struct store_txn *txn = &sequencer->txn;
    jute_writer_reset(&txn->bytes);
    int64_t zxid = sequencer->last_prepared_zxid + 1;
    int status;
    int64_t closed_session_id = 0;
    if (request->opcode == ZK_OP_CLOSE_SESSION) {
        status = store_prepare_close_session(sequencer->tree, txn, request->session_id,
                                             request->xid, zxid, now_ms);
        session_tracker_set_closing(sequencer->sessions, request->session_id);
        closed_session_id = request->session_id;
    } else if (request->opcode == ZK_OP_DELETE_CONTAINER ||
               request->opcode == ZK_OP_CREATE_SESSION) {
        /* Opcodes only the server may issue: PrepRequestProcessor logs an
         * ErrorTxn for them (deleteContainer: BADARGUMENTS; createSession
         * after the handshake: its body does not decode). */
        int32_t err = request->opcode == ZK_OP_DELETE_CONTAINER ? ZK_BADARGUMENTS
                                                                : ZK_MARSHALLINGERROR;
        status = store_prepare_error(txn, request->session_id, request->xid, zxid, now_ms, err);
    } else {
        struct store_prepare_input input = {
            .session_id = request->session_id,
            .cxid = request->xid,
            .opcode = request->opcode,
            .body = jute_bytes_of(request->body, (int32_t)request->body_bytes),
            .auth = request->auth,
            .zxid = zxid,
            .now_ms = now_ms,
            .reconfig = sequencer->replication.reconfig,
            .reconfig_context = sequencer->replication.context,
        };
        status = store_prepare(sequencer->tree, &input, txn);
    }
    if (status != ZK_OK) {
        /* Refused before a transaction was made (ZooKeeper answers these
         * without logging anything): reply with the error alone. */
        reply_without_txn(sequencer, request, status);
        return false;
    }
    assert(txn->zxid == zxid);
    struct commit_origin origin = origin_of(request);
    propose(sequencer, &origin, closed_session_id);
    if (closed_session_id != 0) {
        owner_clear(sequencer, closed_session_id);
    }
    pending_drain(sequencer);
    return false;
}

static struct shard_message *connected_message(const struct core_request *request, bool valid,
                                               int64_t session_id)
{
    struct shard_message *message = message_new(SHARD_MESSAGE_CONNECTED);
    assert(message != NULL);
    message->connection_id = request->connection_id;
    message->session_valid = valid;
    if (valid) {
        message->session_id = session_id;
        message->timeout_ms = request->timeout_ms;
        zk_session_password(session_id, message->password);
    }
    return message;
}

static void queue_message(struct sequencer *sequencer, uint32_t shard_index,
                          struct shard_message *message)
{
    struct pending_entry *entry = pending_push(sequencer, PENDING_MESSAGE);
    entry->message = message;
    entry->message_shard = shard_index;
}

/* A session reconnecting on another connection: the old one is closed
 * first (in its turn), as ZooKeeper does. */
static void close_previous_connection(struct sequencer *sequencer,
                                      const struct core_request *request)
{
    struct session_owner *owner = owner_find(sequencer, request->session_id);
    if (owner && !(owner->shard_index == request->shard_index &&
                   owner->connection_id == request->connection_id)) {
        struct shard_message *close = message_new(SHARD_MESSAGE_CLOSE_CONNECTION);
        assert(close != NULL);
        close->connection_id = owner->connection_id;
        close->session_id = request->session_id;
        queue_message(sequencer, owner->shard_index, close);
        owner_clear(sequencer, request->session_id);
    }
}

static void handle_connect(struct sequencer *sequencer, const struct core_request *request,
                           int64_t now_ms, int64_t now_elapsed_ms)
{
    if (request->session_id != 0) {
        /* Reconnect: the shard checked the password already. ZooKeeper closes
         * any other connection of the session, then revalidates it. */
        close_previous_connection(sequencer, request);
        /* A wrong password is refused after the old connection closed; the
         * session itself lives on (ZooKeeperServer.reopenSession). */
        bool valid = request->password_valid &&
                     session_tracker_revalidate(sequencer->sessions, request->session_id,
                                                request->timeout_ms, now_elapsed_ms);
        if (valid) {
            owner_set(sequencer, request->session_id, request->shard_index,
                      request->connection_id);
        }
        queue_message(sequencer, request->shard_index,
                      connected_message(request, valid, request->session_id));
        pending_drain(sequencer);
        return;
    }
    int64_t session_id = session_tracker_create_session(sequencer->sessions, request->timeout_ms,
                                                        now_elapsed_ms);
    if (session_id == 0) {
        /* sessions_max reached: refuse as an invalid session would be. */
        queue_message(sequencer, request->shard_index, connected_message(request, false, 0));
        pending_drain(sequencer);
        return;
    }
    struct store_txn *txn = &sequencer->txn;
    jute_writer_reset(&txn->bytes);
    int status = store_prepare_create_session(txn, session_id, request->timeout_ms,
                                              sequencer->last_prepared_zxid + 1, now_ms);
    assert(status == ZK_OK);
    (void)status;
    struct commit_origin origin = {.has_origin = false};
    struct pending_entry *entry = propose(sequencer, &origin, 0);
    entry->message = connected_message(request, true, session_id);
    entry->message_shard = request->shard_index;
    owner_set(sequencer, session_id, request->shard_index, request->connection_id);
    pending_drain(sequencer);
}

struct dump_builder {
    struct session_dump *dump;
    size_t session_capacity;
    bool failed;
};

static void dump_visit_bucket(void *context, int64_t expiry_time_ms, size_t session_count)
{
    struct dump_builder *builder = context;
    struct session_dump *dump = builder->dump;
    size_t index = dump->bucket_count++;
    int64_t *expiry = realloc(dump->bucket_expiry_elapsed_ms, dump->bucket_count * sizeof(*expiry));
    size_t *counts = realloc(dump->bucket_session_counts, dump->bucket_count * sizeof(*counts));
    if (expiry) {
        dump->bucket_expiry_elapsed_ms = expiry;
    }
    if (counts) {
        dump->bucket_session_counts = counts;
    }
    if (!expiry || !counts) {
        builder->failed = true;
        dump->bucket_count--;
        return;
    }
    expiry[index] = expiry_time_ms;
    counts[index] = 0;
    (void)session_count;
}

static void dump_visit_session(void *context, int64_t session_id, int32_t timeout_ms)
{
    struct dump_builder *builder = context;
    struct session_dump *dump = builder->dump;
    (void)timeout_ms;
    if (builder->failed || dump->bucket_count == 0) {
        return;
    }
    size_t total = 0;
    for (size_t index = 0; index < dump->bucket_count; index++) {
        total += dump->bucket_session_counts[index];
    }
    if (total == builder->session_capacity) {
        size_t capacity = builder->session_capacity ? builder->session_capacity * 2 : 64;
        int64_t *grown = realloc(dump->bucket_session_ids, capacity * sizeof(*grown));
        if (!grown) {
            builder->failed = true;
            return;
        }
        dump->bucket_session_ids = grown;
        builder->session_capacity = capacity;
    }
    dump->bucket_session_ids[total] = session_id;
    dump->bucket_session_counts[dump->bucket_count - 1]++;
}

/* dump: the session tracker's buckets and each session's ephemerals. */
struct session_dump *sequencer_session_dump(struct sequencer *sequencer, int64_t now_elapsed_ms)
{
    struct session_dump *dump = calloc(1, sizeof(*dump));
    assert(dump != NULL);
    dump->now_elapsed_ms = now_elapsed_ms;
    store_change_list_init(&dump->ephemeral_paths);
    struct dump_builder builder = {.dump = dump};
    session_tracker_foreach_bucket(sequencer->sessions, dump_visit_bucket, dump_visit_session,
                                   &builder);
    size_t session_total = 0;
    for (size_t index = 0; index < dump->bucket_count; index++) {
        session_total += dump->bucket_session_counts[index];
    }
    dump->ephemeral_session_ids = calloc(session_total ? session_total : 1, sizeof(int64_t));
    dump->ephemeral_path_counts = calloc(session_total ? session_total : 1, sizeof(size_t));
    assert(dump->ephemeral_session_ids && dump->ephemeral_path_counts);
    for (size_t index = 0; index < session_total; index++) {
        int64_t session_id = dump->bucket_session_ids[index];
        size_t found = store_session_ephemerals(sequencer->tree, session_id, jute_bytes_of("", 0),
                                                &dump->ephemeral_paths);
        if (found > 0) {
            dump->ephemeral_session_ids[dump->ephemeral_session_count] = session_id;
            dump->ephemeral_path_counts[dump->ephemeral_session_count] = found;
            dump->ephemeral_session_count++;
        }
    }
    return dump;
}

void session_dump_free(struct session_dump *dump)
{
    if (!dump) {
        return;
    }
    free(dump->bucket_expiry_elapsed_ms);
    free(dump->bucket_session_counts);
    free(dump->bucket_session_ids);
    free(dump->ephemeral_session_ids);
    free(dump->ephemeral_path_counts);
    store_change_list_free(&dump->ephemeral_paths);
    free(dump);
}

/* ---- learner mode ---------------------------------------------------------- */

/* A client's request while no role runs: ZooKeeper has no server to hand
 * it to and closes the connection; the client reconnects elsewhere. */
static void refuse_while_idle(struct sequencer *sequencer, const struct core_request *request)
{
    struct shard_message *close = message_new(SHARD_MESSAGE_CLOSE_CONNECTION);
    assert(close != NULL);
    close->connection_id = request->connection_id;
    close->session_id = request->session_id;
    deliver(sequencer, request->shard_index, close);
}

static void forward(struct sequencer *sequencer, int64_t session_id, int32_t cxid,
                    int32_t opcode, const uint8_t *body, size_t body_bytes,
                    const struct store_auth *auth)
{
    assert(sequencer->replication.forward != NULL);
    sequencer->replication.forward(sequencer->replication.context, session_id, cxid, opcode,
                                   body, body_bytes, auth);
}

/* Returns true when it took ownership of `request`. */
static bool learner_handle_write(struct sequencer *sequencer, struct core_request *request)
{
    if (request->opcode == ZK_OP_GET_EPHEMERALS) {
        struct pending_entry *entry = pending_push(sequencer, PENDING_PIPELINE_READ);
        entry->request = request;
        pending_drain(sequencer);
        return true;
    }
    if (request->opcode == ZK_OP_SYNC) {
        /* FollowerRequestProcessor: sync goes to the leader, and the answer
         * waits for the leader's SYNC (every write before it committed). */
        struct pending_entry *entry = pending_push(sequencer, PENDING_REMOTE_SYNC);
        entry->request = request;
        forward(sequencer, request->session_id, request->xid, request->opcode, request->body,
                request->body_bytes, request->auth);
        return true;
    }
    struct pending_entry *entry = pending_push(sequencer, PENDING_FORWARDED);
    entry->origin = origin_of(request);
    entry->session_id = request->session_id;
    entry->cxid = request->xid;
    forward(sequencer, request->session_id, request->xid, request->opcode, request->body,
            request->body_bytes, request->auth);
    if (request->opcode == ZK_OP_CLOSE_SESSION) {
        owner_clear(sequencer, request->session_id);
    }
    return false;
}

static void learner_handle_connect(struct sequencer *sequencer, const struct core_request *request,
                                   int64_t now_elapsed_ms)
{
    if (request->session_id != 0) {
        close_previous_connection(sequencer, request);
        if (!request->password_valid) {
            queue_message(sequencer, request->shard_index,
                          connected_message(request, false, request->session_id));
            pending_drain(sequencer);
            return;
        }
        /* Learner.validateSession: the leader decides. */
        struct pending_entry *entry = pending_push(sequencer, PENDING_REMOTE_CONNECT);
        entry->session_id = request->session_id;
        entry->revalidating = true;
        entry->message = connected_message(request, true, request->session_id);
        entry->message_shard = request->shard_index;
        assert(sequencer->replication.revalidate != NULL);
        sequencer->replication.revalidate(sequencer->replication.context, request->session_id,
                                          request->timeout_ms);
        return;
    }
    /* The learner makes the id (its server id in the top byte, as
     * LearnerSessionTracker) and the leader logs createSession. */
    int64_t session_id = session_tracker_create_session(sequencer->sessions, request->timeout_ms,
                                                        now_elapsed_ms);
    if (session_id == 0) {
        queue_message(sequencer, request->shard_index, connected_message(request, false, 0));
        pending_drain(sequencer);
        return;
    }
    struct pending_entry *entry = pending_push(sequencer, PENDING_REMOTE_CONNECT);
    entry->session_id = session_id;
    entry->message = connected_message(request, true, session_id);
    entry->message_shard = request->shard_index;
    owner_set(sequencer, session_id, request->shard_index, request->connection_id);
    uint8_t timeout_bytes[4];
    jute_store_be32(timeout_bytes, (uint32_t)request->timeout_ms);
    forward(sequencer, session_id, 0, ZK_OP_CREATE_SESSION, timeout_bytes, sizeof(timeout_bytes),
            NULL);
}

static void learner_record_touches(struct sequencer *sequencer, const struct core_request *request)
{
    for (size_t index = 0; index < request->session_count; index++) {
        if (sequencer->touch_count == SEQUENCER_TOUCHES_MAX) {
            return;
        }
        sequencer->touches[sequencer->touch_count++] = request->session_ids[index];
    }
}

size_t sequencer_take_touches(struct sequencer *sequencer, int64_t *session_ids_out,
                              int32_t *timeouts_ms_out, size_t out_max)
{
    size_t taken = 0;
    size_t index = 0;
    for (; index < sequencer->touch_count && taken < out_max; index++) {
        int64_t session_id = sequencer->touches[index];
        int32_t timeout_ms = 0;
        if (!session_tracker_lookup(sequencer->sessions, session_id, &timeout_ms, NULL)) {
            continue; /* closed meanwhile */
        }
        session_ids_out[taken] = session_id;
        timeouts_ms_out[taken] = timeout_ms;
        taken++;
    }
    size_t left = sequencer->touch_count - index;
    memmove(sequencer->touches, sequencer->touches + index, left * sizeof(*sequencer->touches));
    sequencer->touch_count = left;
    return taken;
}

/* The oldest entry still waiting for a commit of `session_id` (and `cxid`
 * unless create_session), or NULL. */
static struct pending_entry *find_waiting(struct sequencer *sequencer, int64_t session_id,
                                          int32_t cxid, bool create_session,
                                          bool *at_head_out)
{
    for (size_t offset = 0; offset < sequencer->pending_count; offset++) {
        struct pending_entry *entry =
            &sequencer->pending[(sequencer->pending_head + offset) % SEQUENCER_PENDING_MAX];
        if (entry->resolved || entry->session_id != session_id) {
            continue;
        }
        bool match = create_session
                         ? entry->kind == PENDING_REMOTE_CONNECT && !entry->revalidating
                         : entry->kind == PENDING_FORWARDED && entry->cxid == cxid;
        if (match) {
            *at_head_out = offset == 0;
            return entry;
        }
    }
    return NULL;
}

int sequencer_apply_committed(struct sequencer *sequencer, const struct log_record *record)
{
    struct jute_reader reader;
    jute_reader_init(&reader, record->txn, record->txn_bytes);
    uint8_t arena_bytes[64];
    struct jute_arena arena;
    jute_arena_init(&arena, arena_bytes, sizeof(arena_bytes));
    struct jute_txn_header header;
    if (!jute_txn_header_decode(&reader, &arena, &header) || header.zxid != record->zxid) {
        return ZK_MARSHALLINGERROR;
    }
    int64_t closed_session_id = 0;
    if (header.type == ZK_OP_CREATE_SESSION) {
        struct jute_create_session_txn create;
        if (!jute_create_session_txn_decode(&reader, &arena, &create)) {
            return ZK_MARSHALLINGERROR;
        }
        session_tracker_track(sequencer->sessions, header.client_id, create.time_out,
                              0 /* a learner never expires sessions */);
    } else if (header.type == ZK_OP_CLOSE_SESSION) {
        closed_session_id = header.client_id;
    }
    bool at_head = false;
    struct pending_entry *waiting = NULL;
    if (sequencer->mode == SEQUENCER_LEARNER) {
        waiting = find_waiting(sequencer, header.client_id, header.cxid,
                               header.type == ZK_OP_CREATE_SESSION, &at_head);
    }
    struct commit_origin none = {.has_origin = false};
    if (waiting && waiting->kind == PENDING_FORWARDED && at_head) {
        /* The usual case: the reply rides with the commit. */
        commit_and_apply(sequencer, record, &waiting->origin, closed_session_id);
        waiting->origin.has_origin = false;
    } else {
        commit_and_apply(sequencer, record, &none, closed_session_id);
        if (waiting && waiting->kind == PENDING_FORWARDED) {
            /* Older entries still wait: keep the reply for its turn. */
            struct shard_message *message = message_new(SHARD_MESSAGE_REPLY);
            assert(message != NULL);
            message->connection_id = waiting->origin.connection_id;
            message->xid = waiting->origin.xid;
            message->opcode = waiting->origin.opcode;
            message->err = sequencer->result.err;
            message->close_after_reply = waiting->origin.opcode == ZK_OP_CLOSE_SESSION;
            if (!sequencer_encode_write_reply(&sequencer->reply, waiting->origin.xid,
                                              waiting->origin.opcode, &sequencer->result)) {
                encode_header_reply(&sequencer->reply, waiting->origin.xid, record->zxid,
                                    ZK_MARSHALLINGERROR);
            }
            bool taken = message_take_reply(message, &sequencer->reply);
            assert(taken);
            (void)taken;
            waiting->message = message;
        }
    }
    if (waiting) {
        waiting->resolved = true;
    }
    if (closed_session_id != 0) {
        session_tracker_remove(sequencer->sessions, closed_session_id);
        owner_clear(sequencer, closed_session_id);
    }
    sequencer->last_prepared_zxid = sequencer->last_zxid;
    sequencer->durable_zxid = sequencer->last_zxid;
    pending_drain(sequencer);
    return ZK_OK;
}

void sequencer_sync_reached(struct sequencer *sequencer)
{
    for (size_t offset = 0; offset < sequencer->pending_count; offset++) {
        struct pending_entry *entry =
            &sequencer->pending[(sequencer->pending_head + offset) % SEQUENCER_PENDING_MAX];
        if (entry->kind == PENDING_REMOTE_SYNC && !entry->resolved) {
            entry->resolved = true;
            break;
        }
    }
    pending_drain(sequencer);
}

void sequencer_revalidated(struct sequencer *sequencer, int64_t session_id, bool valid)
{
    for (size_t offset = 0; offset < sequencer->pending_count; offset++) {
        struct pending_entry *entry =
            &sequencer->pending[(sequencer->pending_head + offset) % SEQUENCER_PENDING_MAX];
        if (entry->kind != PENDING_REMOTE_CONNECT || !entry->revalidating || entry->resolved ||
            entry->session_id != session_id) {
            continue;
        }
        entry->resolved = true;
        struct shard_message *message = entry->message;
        if (valid) {
            owner_set(sequencer, session_id, entry->message_shard, message->connection_id);
        } else {
            message->session_valid = false;
            message->session_id = 0;
            message->timeout_ms = 0;
            memset(message->password, 0, sizeof(message->password));
        }
        break;
    }
    pending_drain(sequencer);
}

/* ---- leader: what learners send ------------------------------------------- */

/* An ErrorTxn for a learner's request the leader refuses, so the learner
 * still sees how it ended (it answers its client when the error commits). */
static void propose_learner_error(struct sequencer *sequencer, int64_t session_id, int32_t cxid,
                                  int32_t err, int64_t now_ms)
{
    struct store_txn *txn = &sequencer->txn;
    jute_writer_reset(&txn->bytes);
    int status = store_prepare_error(txn, session_id, cxid, sequencer->last_prepared_zxid + 1,
                                     now_ms, err);
    assert(status == ZK_OK);
    (void)status;
    struct commit_origin none = {.has_origin = false};
    propose(sequencer, &none, 0);
}

void sequencer_handle_learner_request(struct sequencer *sequencer, int64_t learner_id,
                                      int64_t session_id, int32_t cxid, int32_t opcode,
                                      const uint8_t *body, size_t body_bytes,
                                      const struct store_auth *auth, int64_t now_ms,
                                      int64_t now_elapsed_ms)
{
    assert(sequencer->mode == SEQUENCER_LEADER);
    assert(sequencer_accepting(sequencer));
    struct commit_origin none = {.has_origin = false};
    if (opcode == ZK_OP_SYNC) {
        struct pending_entry *entry = pending_push(sequencer, PENDING_LEARNER_SYNC);
        entry->learner_id = learner_id;
        pending_drain(sequencer);
        return;
    }
    struct store_txn *txn = &sequencer->txn;
    jute_writer_reset(&txn->bytes);
    int64_t zxid = sequencer->last_prepared_zxid + 1;
    if (opcode == ZK_OP_CREATE_SESSION) {
        int32_t timeout_ms = body_bytes == 4 ? (int32_t)jute_load_be32(body) : 0;
        if (timeout_ms <= 0 ||
            session_tracker_track(sequencer->sessions, session_id, timeout_ms, now_elapsed_ms) < 0) {
            propose_learner_error(sequencer, session_id, cxid, ZK_MARSHALLINGERROR, now_ms);
            pending_drain(sequencer);
            return;
        }
        int status = store_prepare_create_session(txn, session_id, timeout_ms, zxid, now_ms);
        assert(status == ZK_OK);
        (void)status;
        propose(sequencer, &none, 0);
        pending_drain(sequencer);
        return;
    }
    if (!session_tracker_touch(sequencer->sessions, session_id, now_elapsed_ms)) {
        propose_learner_error(sequencer, session_id, cxid, ZK_SESSIONEXPIRED, now_ms);
        pending_drain(sequencer);
        return;
    }
    int status;
    int64_t closed_session_id = 0;
    if (opcode == ZK_OP_CLOSE_SESSION) {
        status = store_prepare_close_session(sequencer->tree, txn, session_id, cxid, zxid, now_ms);
        session_tracker_set_closing(sequencer->sessions, session_id);
        closed_session_id = session_id;
    } else if (opcode == ZK_OP_DELETE_CONTAINER) {
        status = store_prepare_error(txn, session_id, cxid, zxid, now_ms, ZK_BADARGUMENTS);
    } else {
        struct store_prepare_input input = {
            .session_id = session_id,
            .cxid = cxid,
            .opcode = opcode,
            .body = jute_bytes_of(body, (int32_t)body_bytes),
            .auth = auth,
            .zxid = zxid,
            .now_ms = now_ms,
            .reconfig = sequencer->replication.reconfig,
            .reconfig_context = sequencer->replication.context,
        };
        status = store_prepare(sequencer->tree, &input, txn);
    }
    if (status != ZK_OK) {
        propose_learner_error(sequencer, session_id, cxid, status, now_ms);
    } else {
        propose(sequencer, &none, closed_session_id);
    }
    if (closed_session_id != 0) {
        owner_clear(sequencer, closed_session_id);
    }
    pending_drain(sequencer);
}

void sequencer_touch_session(struct sequencer *sequencer, int64_t session_id, int32_t timeout_ms,
                             int64_t now_elapsed_ms)
{
    session_tracker_touch_timeout(sequencer->sessions, session_id, timeout_ms, now_elapsed_ms);
}

bool sequencer_revalidate_session(struct sequencer *sequencer, int64_t session_id,
                                  int32_t timeout_ms, int64_t now_elapsed_ms)
{
    return session_tracker_revalidate(sequencer->sessions, session_id, timeout_ms,
                                      now_elapsed_ms);
}

/* ---- roles ------------------------------------------------------------------ */

void sequencer_set_replication(struct sequencer *sequencer,
                               const struct sequencer_replication *replication)
{
    sequencer->replication = *replication;
}

enum sequencer_mode sequencer_mode(const struct sequencer *sequencer)
{
    return sequencer->mode;
}

static void tell_shards_serving(struct sequencer *sequencer, bool serving)
{
    for (uint32_t shard = 0; shard < sequencer->config.shard_count; shard++) {
        struct shard_message *message = message_new(SHARD_MESSAGE_SERVING);
        assert(message != NULL);
        message->serving = serving;
        deliver(sequencer, shard, message);
    }
}

void sequencer_lead(struct sequencer *sequencer, int64_t epoch, int64_t now_elapsed_ms)
{
    assert(sequencer->pending_count == 0);
    sequencer->mode = SEQUENCER_LEADER;
    if (epoch > 0) {
        int64_t first = (int64_t)((uint64_t)epoch << 32);
        assert(first > sequencer->last_zxid);
        sequencer->last_prepared_zxid = first;
        sequencer->durable_zxid = first;
    }
    size_t count = 0;
    struct store_snapshot_session *sessions = sequencer_sessions_copy(sequencer, &count);
    for (size_t index = 0; index < count; index++) {
        session_tracker_track(sequencer->sessions, sessions[index].session_id,
                              sessions[index].timeout_ms, now_elapsed_ms);
    }
    free(sessions);
    sequencer->next_container_check_ms =
        now_elapsed_ms + sequencer->config.container_check_interval_ms;
    tell_shards_serving(sequencer, true);
}

void sequencer_follow(struct sequencer *sequencer)
{
    assert(sequencer->pending_count == 0);
    sequencer->mode = SEQUENCER_LEARNER;
    sequencer->touch_count = 0;
    tell_shards_serving(sequencer, true);
}

void sequencer_pause(struct sequencer *sequencer)
{
    if (sequencer->mode != SEQUENCER_IDLE) {
        tell_shards_serving(sequencer, false);
        sequencer->mode = SEQUENCER_IDLE;
    }
}

void sequencer_stop_serving(struct sequencer *sequencer)
{
    sequencer_pause(sequencer);
    /* The caller waited for the log: everything prepared is on disk. */
    sequencer->durable_zxid = sequencer->last_prepared_zxid;
    while (sequencer->pending_count > 0) {
        struct pending_entry *entry = &sequencer->pending[sequencer->pending_head];
        if (entry->kind == PENDING_TXN) {
            assert(entry->record->zxid <= sequencer->durable_zxid);
            struct commit_origin none = {.has_origin = false};
            commit_and_apply(sequencer, entry->record, &none, entry->closed_session_id);
            if (entry->closed_session_id != 0) {
                session_tracker_remove(sequencer->sessions, entry->closed_session_id);
            }
            free(entry->record);
        }
        shard_message_free(entry->message);
        core_request_free(entry->request);
        sequencer->pending_head = (sequencer->pending_head + 1) % SEQUENCER_PENDING_MAX;
        sequencer->pending_count--;
    }
    sequencer->last_prepared_zxid = sequencer->last_zxid;
    sequencer->durable_zxid = sequencer->last_zxid;
    sequencer->touch_count = 0;
    sequencer->mode = SEQUENCER_IDLE;
}

bool sequencer_write_snapshot(struct sequencer *sequencer, struct jute_writer *out)
{
    size_t count = 0;
    struct store_snapshot_session *sessions = sequencer_sessions_copy(sequencer, &count);
    bool written = store_snapshot_write(sequencer->tree, sessions, count, out);
    free(sessions);
    return written;
}

void sequencer_replace_tree(struct sequencer *sequencer, struct store_tree *tree,
                            const struct store_snapshot_session *sessions, size_t session_count,
                            int64_t now_elapsed_ms)
{
    assert(sequencer->mode == SEQUENCER_IDLE && sequencer->pending_count == 0);
    struct session_tracker *fresh =
        session_tracker_create(sequencer->config.server_id, now_elapsed_ms,
                               sequencer->config.tick_ms, sequencer->config.sessions_max);
    assert(fresh != NULL);
    session_tracker_destroy(sequencer->sessions);
    sequencer->sessions = fresh;
    for (size_t index = 0; index < session_count; index++) {
        session_tracker_track(fresh, sessions[index].session_id, sessions[index].timeout_ms,
                              now_elapsed_ms);
    }
    memset(sequencer->owners, 0, sequencer->owner_slots * sizeof(*sequencer->owners));
    sequencer->owner_used = 0;
    sequencer->tree = tree;
    sequencer->last_zxid = store_tree_counters(tree)->last_zxid;
    sequencer->last_prepared_zxid = sequencer->last_zxid;
    sequencer->durable_zxid = sequencer->last_zxid;
}

void sequencer_handle(struct sequencer *sequencer, struct core_request *request, int64_t now_ms,
                      int64_t now_elapsed_ms)
{
    if (sequencer->mode != SEQUENCER_LEADER &&
        (request->kind == CORE_REQUEST_WRITE || request->kind == CORE_REQUEST_CONNECT ||
         request->kind == CORE_REQUEST_TOUCH)) {
        if (sequencer->mode == SEQUENCER_IDLE) {
            if (request->kind != CORE_REQUEST_TOUCH) {
                refuse_while_idle(sequencer, request);
            }
        } else if (request->kind == CORE_REQUEST_WRITE) {
            if (learner_handle_write(sequencer, request)) {
                return;
            }
        } else if (request->kind == CORE_REQUEST_CONNECT) {
            learner_handle_connect(sequencer, request, now_elapsed_ms);
        } else {
            learner_record_touches(sequencer, request);
        }
        core_request_free(request);
        return;
    }
    switch (request->kind) {
    case CORE_REQUEST_WRITE:
        if (handle_write(sequencer, request, now_ms, now_elapsed_ms)) {
            return; /* queued, freed in its turn */
        }
        break;
    case CORE_REQUEST_CONNECT:
        handle_connect(sequencer, request, now_ms, now_elapsed_ms);
        break;
    case CORE_REQUEST_TOUCH:
        for (size_t index = 0; index < request->session_count; index++) {
            session_tracker_touch(sequencer->sessions, request->session_ids[index],
                                  now_elapsed_ms);
        }
        break;
    case CORE_REQUEST_DISCONNECTED: {
        struct session_owner *owner = owner_find(sequencer, request->session_id);
        if (owner && owner->shard_index == request->shard_index &&
            owner->connection_id == request->connection_id) {
            owner_clear(sequencer, request->session_id);
        }
        break;
    }
    default:
        assert(!"unknown core request kind");
    }
    core_request_free(request);
}

/* ---- ticks: session expiry, containers ------------------------------------ */

static void expire_session(struct sequencer *sequencer, int64_t session_id, int64_t now_ms)
{
    session_tracker_set_closing(sequencer->sessions, session_id);
    struct store_txn *txn = &sequencer->txn;
    jute_writer_reset(&txn->bytes);
    int status = store_prepare_close_session(sequencer->tree, txn, session_id, 0,
                                             sequencer->last_prepared_zxid + 1, now_ms);
    assert(status == ZK_OK);
    (void)status;
    struct commit_origin origin = {.has_origin = false};
    propose(sequencer, &origin, session_id);
    owner_clear(sequencer, session_id);
}

static void remove_containers(struct sequencer *sequencer, int64_t now_ms)
{
    struct store_change_list due;
    store_change_list_init(&due);
    size_t limit = (size_t)sequencer->config.container_max_per_minute;
    if (limit == 0 || limit > SEQUENCER_CONTAINERS_PER_CHECK_MAX) {
        limit = SEQUENCER_CONTAINERS_PER_CHECK_MAX;
    }
    if (limit > pending_space(sequencer)) {
        limit = pending_space(sequencer); /* the rest wait for the next check */
    }
    size_t count = store_collect_expired_containers(sequencer->tree, now_ms, &due, limit);
    for (size_t index = 0; index < count; index++) {
        struct store_txn *txn = &sequencer->txn;
        jute_writer_reset(&txn->bytes);
        int status = store_prepare_delete_container(sequencer->tree, txn, due.changes[index].path,
                                                    sequencer->last_prepared_zxid + 1, now_ms);
        if (status != ZK_OK) {
            continue; /* no longer a candidate (or already being deleted): nothing to log */
        }
        struct commit_origin origin = {.has_origin = false};
        propose(sequencer, &origin, 0);
    }
    store_change_list_free(&due);
}

int64_t sequencer_tick(struct sequencer *sequencer, int64_t now_ms, int64_t now_elapsed_ms)
{
    if (sequencer->mode != SEQUENCER_LEADER) {
        return sequencer->config.tick_ms; /* sessions and containers are the leader's */
    }
    int64_t expired[SEQUENCER_EXPIRED_PER_TICK_MAX];
    size_t expire_max = SEQUENCER_EXPIRED_PER_TICK_MAX;
    if (expire_max > pending_space(sequencer)) {
        expire_max = pending_space(sequencer); /* the rest expire at the next tick */
    }
    size_t count = session_tracker_expired(sequencer->sessions, now_elapsed_ms, expired,
                                           expire_max);
    for (size_t index = 0; index < count; index++) {
        expire_session(sequencer, expired[index], now_ms);
    }
    pending_drain(sequencer);
    if (now_elapsed_ms >= sequencer->next_container_check_ms) {
        remove_containers(sequencer, now_ms);
        pending_drain(sequencer);
        sequencer->next_container_check_ms =
            now_elapsed_ms + sequencer->config.container_check_interval_ms;
    }
    int64_t until_next_ms = session_tracker_next_expiry_ms(sequencer->sessions, now_elapsed_ms);
    int64_t until_containers_ms = sequencer->next_container_check_ms - now_elapsed_ms;
    if (until_containers_ms < until_next_ms) {
        until_next_ms = until_containers_ms;
    }
    return until_next_ms < 0 ? 0 : until_next_ms;
}

void sequencer_end_batch(struct sequencer *sequencer)
{
    store_reclaim(sequencer->tree);
}

void sequencer_counters_get(const struct sequencer *sequencer, struct sequencer_counters *out)
{
    out->last_zxid = sequencer->last_zxid;
    out->session_count = (int64_t)session_tracker_count(sequencer->sessions);
    out->transactions_committed = sequencer->transactions_committed;
}

struct sequencer *sequencer_create(struct store_tree *tree, const struct sequencer_config *config,
                                   const struct sequencer_output *output, int64_t now_elapsed_ms)
{
    if (config->shard_count == 0 || config->tick_ms <= 0 || !output->deliver) {
        return NULL;
    }
    struct sequencer *sequencer = calloc(1, sizeof(*sequencer));
    if (!sequencer) {
        return NULL;
    }
    sequencer->tree = tree;
    sequencer->config = *config;
    sequencer->output = *output;
    sequencer->log_context = output->context;
    sequencer->mode = SEQUENCER_LEADER;
    sequencer->touches = calloc(SEQUENCER_TOUCHES_MAX, sizeof(*sequencer->touches));
    sequencer->sessions = session_tracker_create(config->server_id, now_elapsed_ms,
                                                 config->tick_ms, config->sessions_max);
    sequencer->owner_slots = OWNER_TABLE_MIN_SLOTS;
    sequencer->owners = calloc(sequencer->owner_slots, sizeof(*sequencer->owners));
    sequencer->pending = calloc(SEQUENCER_PENDING_MAX, sizeof(*sequencer->pending));
    if (!sequencer->sessions || !sequencer->owners || !sequencer->pending ||
        !sequencer->touches) {
        sequencer_destroy(sequencer);
        return NULL;
    }
    store_txn_init(&sequencer->txn, config->jute_maxbuffer_bytes);
    store_apply_result_init(&sequencer->result);
    /* A reply carries at most one znode's data plus its frame. */
    jute_writer_init(&sequencer->reply, (size_t)config->jute_maxbuffer_bytes + 4096u);
    sequencer->last_zxid = store_tree_counters(tree)->last_zxid;
    sequencer->last_prepared_zxid = sequencer->last_zxid;
    sequencer->durable_zxid = sequencer->last_zxid;
    sequencer->next_container_check_ms = now_elapsed_ms + config->container_check_interval_ms;
    return sequencer;
}

void sequencer_destroy(struct sequencer *sequencer)
{
    if (!sequencer) {
        return;
    }
    if (sequencer->sessions) {
        session_tracker_destroy(sequencer->sessions);
        store_txn_free(&sequencer->txn);
        store_apply_result_free(&sequencer->result);
        jute_writer_free(&sequencer->reply);
    }
    /* Entries still pending were never committed (the server stops): their
     * clients got no reply. */
    while (sequencer->pending && sequencer->pending_count > 0) {
        struct pending_entry *entry = &sequencer->pending[sequencer->pending_head];
        free(entry->record);
        shard_message_free(entry->message);
        core_request_free(entry->request);
        sequencer->pending_head = (sequencer->pending_head + 1) % SEQUENCER_PENDING_MAX;
        sequencer->pending_count--;
    }
    free(sequencer->pending);
    free(sequencer->owners);
    free(sequencer->touches);
    free(sequencer);
}

void sequencer_restore_session(struct sequencer *sequencer, int64_t session_id,
                               int32_t timeout_ms, int64_t now_elapsed_ms)
{
    int added = session_tracker_track(sequencer->sessions, session_id, timeout_ms,
                                      now_elapsed_ms);
    (void)added; /* -1 (full) cannot happen below sessions_max at startup */
}

struct session_copy {
    struct store_snapshot_session *sessions;
    size_t count;
    size_t capacity;
};

static void copy_session(void *context, int64_t session_id, int32_t timeout_ms)
{
    struct session_copy *copy = context;
    if (copy->count == copy->capacity) {
        return; /* counted beforehand; cannot happen */
    }
    copy->sessions[copy->count++] =
        (struct store_snapshot_session){.session_id = session_id, .timeout_ms = timeout_ms};
}

struct store_snapshot_session *sequencer_sessions_copy(const struct sequencer *sequencer,
                                                       size_t *count_out)
{
    struct session_copy copy = {.capacity = session_tracker_count(sequencer->sessions)};
    *count_out = 0;
    if (copy.capacity == 0) {
        return NULL;
    }
    copy.sessions = calloc(copy.capacity, sizeof(*copy.sessions));
    assert(copy.sessions != NULL);
    session_tracker_foreach_bucket(sequencer->sessions, NULL, copy_session, &copy);
    *count_out = copy.count;
    return copy.sessions;
}

/* ---- pipeline.h helpers ---------------------------------------------------- */

void commit_record_release(struct commit_record *commit)
{
    if (!commit) {
        return;
    }
    int32_t before = atomic_fetch_sub_explicit(&commit->references, 1, memory_order_acq_rel);
    assert(before > 0);
    if (before == 1) {
        store_change_list_free(&commit->changes);
        free(commit);
    }
}

void shard_message_free(struct shard_message *message)
{
    if (!message) {
        return;
    }
    commit_record_release(message->commit);
    session_dump_free(message->dump);
    for (size_t index = 0; index < message->part_count; index++) {
        gather_part_free(&message->parts[index]);
    }
    free(message->parts);
    free(message->reply_bytes);
    free(message);
}

void gather_part_free(struct gather_part *part)
{
    if (part->data && part->free_data) {
        part->free_data(part->data);
    }
    part->data = NULL;
}

void core_request_free(struct core_request *request)
{
    if (!request) {
        return;
    }
    gather_part_free(&request->part);
    free(request->auth);
    free(request->body);
    free(request->session_ids);
    free(request);
}

struct store_auth *store_auth_copy(const struct store_auth *auth)
{
    size_t bytes = sizeof(*auth) + (size_t)auth->id_count * sizeof(auth->ids[0]);
    for (int32_t index = 0; index < auth->id_count; index++) {
        bytes += (size_t)(auth->ids[index].scheme.len > 0 ? auth->ids[index].scheme.len : 0);
        bytes += (size_t)(auth->ids[index].id.len > 0 ? auth->ids[index].id.len : 0);
    }
    struct store_auth *copy = malloc(bytes);
    if (!copy) {
        return NULL;
    }
    copy->is_super = auth->is_super;
    copy->id_count = auth->id_count;
    uint8_t *cursor = (uint8_t *)&copy->ids[auth->id_count];
    for (int32_t index = 0; index < auth->id_count; index++) {
        const struct store_auth_id *from = &auth->ids[index];
        struct store_auth_id *to = &copy->ids[index];
        *to = *from;
        if (from->scheme.len > 0) {
            memcpy(cursor, from->scheme.ptr, (size_t)from->scheme.len);
            to->scheme.ptr = cursor;
            cursor += from->scheme.len;
        }
        if (from->id.len > 0) {
            memcpy(cursor, from->id.ptr, (size_t)from->id.len);
            to->id.ptr = cursor;
            cursor += from->id.len;
        }
    }
    return copy;
}
