/* Four-letter words that list connections or watches: cons, stat, crst,
 * wchs, wchc, wchp and dump.
 *
 * Shards share nothing, so the shard that received the word asks the core,
 * the core asks every shard (itself included) for its part, and hands the
 * parts back to the asker, which merges them and answers as ZooKeeper 3.8
 * would (dataplane/fourlw.c writes the text). dump also carries the
 * sessions, which live on the core.
 *
 * While the shard is not serving (no role in the ensemble) nothing is
 * gathered: shard_fourlw_write_not_serving answers every word as ZooKeeper
 * does then.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataplane/fourlw.h"
#include "dataplane/server.h"
#include "dataplane/shard_internal.h"
#include "jute/records.h"

/* NIOServerCnxnFactory's connection expiry buckets: sessionlessCnxnTimeout
 * wide, rounded on the monotonic clock (ExpiryQueue), printed as wall time. */
#define SHARD_DUMP_CONNECTION_BUCKET_MS 10000

/* One shard's part. */
struct shard_part {
    struct fourlw_connection_info *connections; /* cons, stat, dump */
    size_t connection_count;
    /* wchc: (session, path) pairs grouped by session; wchp, wchs: grouped
     * by path. `first` marks a group's first pair. */
    int64_t *sessions;
    char **paths;
    bool *first;
    size_t pair_count;
    size_t pair_capacity;
    size_t watcher_count; /* wchs: connections with a data watch (ZooKeeper's count) */
    size_t watch_count;
    bool failed;
};

static void part_free(void *data)
{
    struct shard_part *part = data;
    for (size_t index = 0; index < part->pair_count; index++) {
        free(part->paths[index]);
    }
    free(part->sessions);
    free(part->paths);
    free(part->first);
    free(part->connections);
    free(part);
}

/* ---- connections -------------------------------------------------------------- */

static const char *operation_name(int32_t opcode)
{
    /* ServerCnxn's short names, as cons prints them. */
    switch (opcode) {
    case ZK_OP_PING: return "PING";
    case ZK_OP_CREATE_SESSION: return "SESS";
    case ZK_OP_MULTI: return "MULT";
    case ZK_OP_MULTI_READ: return "MLTR";
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATE_TTL:
    case ZK_OP_CREATE_CONTAINER: return "CREA";
    case ZK_OP_DELETE:
    case ZK_OP_DELETE_CONTAINER: return "DELE";
    case ZK_OP_SET_DATA: return "SETD";
    case ZK_OP_RECONFIG: return "RECO";
    case ZK_OP_SET_ACL: return "SETA";
    case ZK_OP_CLOSE_SESSION: return "CLOS";
    case ZK_OP_SYNC: return "SYNC";
    case ZK_OP_CHECK: return "CHEC";
    case ZK_OP_EXISTS: return "EXIS";
    case ZK_OP_GET_DATA: return "GETD";
    case ZK_OP_SET_WATCHES:
    case ZK_OP_SET_WATCHES2: return "SETW";
    case ZK_OP_GET_ACL: return "GETA";
    case ZK_OP_GET_CHILDREN:
    case ZK_OP_GET_CHILDREN2: return "GETC";
    case ZK_OP_GET_ALL_CHILDREN_NUMBER: return "GETACN";
    case ZK_OP_CHECK_WATCHES: return "CHKW";
    case ZK_OP_REMOVE_WATCHES: return "REMW";
    case ZK_OP_GET_EPHEMERALS: return "GETE";
    case ZK_OP_ADD_WATCH: return "ADDW";
    case ZK_OP_WHO_AM_I: return "HOMI";
    default: return "NA";
    }
}

static int64_t wall_clock_ms(void)
{
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    return (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
}

/* This shard's connections as cons lists them. For dump, established_ms
 * holds instead the wall time at which the connection would expire. */
static void collect_connections(struct shard *shard, struct shard_part *part, bool for_dump)
{
    part->connections = calloc(shard->slot_count ? shard->slot_count : 1,
                               sizeof(*part->connections));
    if (!part->connections) {
        part->failed = true;
        return;
    }
    int64_t wall_ms = wall_clock_ms();
    int64_t now_ms = monotonic_ms();
    for (uint32_t slot = 0; slot < shard->slot_count; slot++) {
        const struct connection *connection = shard->slots[slot];
        if (!connection || (for_dump && connection->state == CONNECTION_CLOSING)) {
            continue;
        }
        struct fourlw_connection_info *info = &part->connections[part->connection_count++];
        snprintf(info->remote_address, sizeof(info->remote_address), "%s",
                 connection->peer.address);
        info->remote_port = connection->peer.port;
        /* NIO interest: reads, except while a four-letter word runs. */
        info->interest_ops = connection->four_letter_word ? 0 : 1;
        info->queued = connection->pending_count;
        info->packets_received = connection->packets_received;
        info->packets_sent = connection->packets_sent;
        info->session_id = connection->session_id;
        info->last_operation = operation_name(connection->last_opcode);
        info->established_ms = wall_ms - (now_ms - connection->established_ms);
        info->session_timeout_ms = connection->timeout_ms;
        info->last_cxid = connection->last_cxid;
        info->last_zxid = connection->last_zxid;
        info->last_response_time_ms = connection->last_response_ms;
        info->latency_count = connection->latency_count;
        info->latency_total_ms = connection->latency_total_ms;
        info->latency_min_ms = connection->latency_min_ms;
        info->latency_max_ms = connection->latency_max_ms;
        if (for_dump) {
            int64_t timeout_ms = connection->session_id != 0
                                     ? connection->timeout_ms
                                     : (int64_t)shard->settings.sessionless_timeout_ms;
            int64_t expiry_ms = connection->last_heard_ms + timeout_ms;
            expiry_ms = (expiry_ms / SHARD_DUMP_CONNECTION_BUCKET_MS + 1) *
                        SHARD_DUMP_CONNECTION_BUCKET_MS;
            info->established_ms = wall_ms + (expiry_ms - now_ms);
        }
    }
}

static void reset_connection_stats(struct shard *shard)
{
    for (uint32_t slot = 0; slot < shard->slot_count; slot++) {
        struct connection *connection = shard->slots[slot];
        if (connection) {
            connection->packets_received = 0;
            connection->packets_sent = 0;
            connection->latency_min_ms = 0;
            connection->latency_max_ms = 0;
            connection->latency_total_ms = 0;
            connection->latency_count = 0;
            connection->last_cxid = -1;
            connection->last_zxid = -1;
            connection->last_opcode = 0;
            connection->last_response_ms = 0;
        }
    }
}

/* ---- watches --------------------------------------------------------------------- */

struct watch_visit {
    struct shard *shard;
    struct shard_part *part;
};

static void add_pair(struct watch_visit *visit, uint64_t watcher_id, struct jute_bytes path,
                     bool first)
{
    struct shard_part *part = visit->part;
    if (part->failed) {
        return;
    }
    if (part->pair_count == part->pair_capacity) {
        size_t capacity = part->pair_capacity ? part->pair_capacity * 2 : 64;
        int64_t *sessions = realloc(part->sessions, capacity * sizeof(*sessions));
        if (sessions) {
            part->sessions = sessions;
        }
        char **paths = realloc(part->paths, capacity * sizeof(*paths));
        if (paths) {
            part->paths = paths;
        }
        bool *firsts = realloc(part->first, capacity * sizeof(*firsts));
        if (firsts) {
            part->first = firsts;
        }
        if (!sessions || !paths || !firsts) {
            part->failed = true;
            return;
        }
        part->pair_capacity = capacity;
    }
    char *copy = strndup((const char *)path.ptr, path.len > 0 ? (size_t)path.len : 0);
    if (!copy) {
        part->failed = true;
        return;
    }
    struct connection *connection = connection_by_id(visit->shard, watcher_id);
    part->sessions[part->pair_count] = connection ? connection->session_id : 0;
    part->paths[part->pair_count] = copy;
    part->first[part->pair_count] = first;
    part->pair_count++;
}

static void visit_pair(void *context, uint64_t watcher_id, struct jute_bytes path, bool first)
{
    add_pair(context, watcher_id, path, first);
}

/* wchs, wchc, wchp list data watches only (exists watches included), as
 * ZooKeeper's dataWatches reports do. */
static void collect_watches(struct shard *shard, struct shard_part *part, int command)
{
    struct watch_visit visit = {.shard = shard, .part = part};
    if (command == FOURLW_WCHC) {
        watch_foreach_by_watcher(shard->watches, WATCH_MANAGER_DATA, visit_pair, &visit);
    } else {
        watch_foreach_by_path(shard->watches, WATCH_MANAGER_DATA, visit_pair, &visit);
    }
    struct watch_summary summary = watch_summary(shard->watches, WATCH_MANAGER_DATA);
    part->watcher_count = summary.connections;
    part->watch_count = summary.watches;
}

void shard_fourlw_send_part(struct shard *shard, const struct shard_message *message)
{
    struct shard_part *part = calloc(1, sizeof(*part));
    assert(part != NULL);
    switch (message->gather_command) {
    case FOURLW_CONS:
    case FOURLW_STAT:
        collect_connections(shard, part, false);
        break;
    case FOURLW_DUMP:
        collect_connections(shard, part, true);
        break;
    case FOURLW_CRST:
        reset_connection_stats(shard);
        break;
    default:
        collect_watches(shard, part, message->gather_command);
        break;
    }
    struct core_request *core = calloc(1, sizeof(*core));
    assert(core != NULL);
    core->kind = CORE_REQUEST_GATHER_PART;
    core->shard_index = shard->index;
    core->gather_id = message->gather_id;
    core->part.data = part;
    core->part.free_data = part_free;
    push_core_request(shard, core);
}

bool shard_fourlw_start_gather(struct shard *shard, struct connection *connection,
                               const uint8_t word[4])
{
    int command = fourlw_lookup(word);
    switch (command) {
    case FOURLW_CONS:
    case FOURLW_STAT:
    case FOURLW_CRST:
    case FOURLW_WCHS:
    case FOURLW_WCHC:
    case FOURLW_WCHP:
    case FOURLW_DUMP:
        break;
    default:
        return false;
    }
    if (!server_four_letter_word_allowed(shard->server, word)) {
        return false; /* the refusal is written by server_four_letter_word */
    }
    struct core_request *core = calloc(1, sizeof(*core));
    assert(core != NULL);
    core->kind = CORE_REQUEST_GATHER;
    core->shard_index = shard->index;
    core->connection_id = connection->id;
    core->gather_command = command;
    connection->state = CONNECTION_GATHERING;
    push_core_request(shard, core);
    return true;
}

bool shard_fourlw_write_not_serving(struct shard *shard, const uint8_t word[4],
                                    struct jute_writer *out)
{
    assert(!shard->serving);
    int command = fourlw_lookup(word);
    assert(command >= 0);
    if (!server_four_letter_word_allowed(shard->server, word)) {
        return false; /* the refusal is written by server_four_letter_word */
    }
    switch (command) {
    case FOURLW_RUOK: /* these commands never look at isZKServerRunning */
    case FOURLW_ENVI:
    case FOURLW_GTMK:
    case FOURLW_STMK:
    case FOURLW_TELNET_CLOSE:
        return false;
    case FOURLW_ISRO:
        fourlw_write_isro_not_serving(out);
        return true;
    case FOURLW_HASH:
        fourlw_write_hash_not_serving(out);
        return true;
    default:
        fourlw_write_not_serving(out);
        return true;
    }
}

/* ---- merging and answering ---------------------------------------------------------- */

static struct shard_part *part_of(const struct shard_message *message, size_t index)
{
    return message->parts[index].data;
}

static struct fourlw_connection_info *merge_connections(const struct shard_message *message,
                                                        size_t *count_out)
{
    size_t total = 0;
    for (size_t index = 0; index < message->part_count; index++) {
        total += part_of(message, index) ? part_of(message, index)->connection_count : 0;
    }
    struct fourlw_connection_info *all = calloc(total ? total : 1, sizeof(*all));
    size_t count = 0;
    for (size_t index = 0; all && index < message->part_count; index++) {
        const struct shard_part *part = part_of(message, index);
        if (part && part->connection_count > 0) {
            memcpy(all + count, part->connections, part->connection_count * sizeof(*all));
            count += part->connection_count;
        }
    }
    *count_out = count;
    return all;
}

static int compare_expiry(const void *left, const void *right)
{
    const struct fourlw_connection_info *a = left;
    const struct fourlw_connection_info *b = right;
    return a->established_ms < b->established_ms ? -1 : a->established_ms > b->established_ms;
}

static void write_dump(struct jute_writer *out, const struct shard_message *message)
{
    const struct session_dump *sessions = message->dump;
    int64_t wall_offset_ms = wall_clock_ms() - sessions->now_elapsed_ms;
    size_t bucket_count = sessions->bucket_count;
    struct fourlw_session_bucket *session_buckets =
        calloc(bucket_count ? bucket_count : 1, sizeof(*session_buckets));
    size_t ephemeral_count = sessions->ephemeral_session_count;
    struct fourlw_session_paths *ephemerals =
        calloc(ephemeral_count ? ephemeral_count : 1, sizeof(*ephemerals));
    const char **paths = calloc(sessions->ephemeral_paths.count + 1, sizeof(*paths));
    size_t connection_count = 0;
    struct fourlw_connection_info *connections = merge_connections(message, &connection_count);
    struct fourlw_connection_bucket *connection_buckets =
        calloc(connection_count ? connection_count : 1, sizeof(*connection_buckets));
    if (!session_buckets || !ephemerals || !paths || !connections || !connection_buckets) {
        goto done;
    }
    size_t session_offset = 0;
    for (size_t index = 0; index < bucket_count; index++) {
        session_buckets[index].expire_time_ms =
            sessions->bucket_expiry_elapsed_ms[index] + wall_offset_ms;
        session_buckets[index].session_ids = sessions->bucket_session_ids + session_offset;
        session_buckets[index].session_count = sessions->bucket_session_counts[index];
        session_offset += sessions->bucket_session_counts[index];
    }
    for (size_t index = 0; index < sessions->ephemeral_paths.count; index++) {
        struct jute_bytes path = sessions->ephemeral_paths.changes[index].path;
        paths[index] = strndup((const char *)path.ptr, (size_t)path.len);
    }
    size_t path_offset = 0;
    for (size_t index = 0; index < ephemeral_count; index++) {
        ephemerals[index].session_id = sessions->ephemeral_session_ids[index];
        ephemerals[index].paths = paths + path_offset;
        ephemerals[index].path_count = sessions->ephemeral_path_counts[index];
        path_offset += sessions->ephemeral_path_counts[index];
    }
    /* Connections grouped by expiry time (held in established_ms). */
    qsort(connections, connection_count, sizeof(*connections), compare_expiry);
    size_t connection_bucket_count = 0;
    for (size_t index = 0; index < connection_count; index++) {
        if (connection_bucket_count == 0 ||
            connection_buckets[connection_bucket_count - 1].expire_time_ms !=
                connections[index].established_ms) {
            connection_buckets[connection_bucket_count].expire_time_ms =
                connections[index].established_ms;
            connection_buckets[connection_bucket_count].connections = &connections[index];
            connection_bucket_count++;
        }
        connection_buckets[connection_bucket_count - 1].connection_count++;
    }
    struct fourlw_dump_info dump = {
        .session_buckets = session_buckets,
        .session_bucket_count = bucket_count,
        .ephemerals = ephemerals,
        .ephemeral_session_count = ephemeral_count,
        .connection_buckets = connection_buckets,
        .connection_bucket_count = connection_bucket_count,
    };
    fourlw_write_dump(out, &dump);
    for (size_t index = 0; index < sessions->ephemeral_paths.count; index++) {
        free((void *)paths[index]);
    }
done:
    free(connection_buckets);
    free(connections);
    free(session_buckets);
    free(ephemerals);
    free(paths);
}

/* wchc: groups are per connection, and connections are disjoint across
 * shards, so the groups are concatenated. */
static void write_wchc(struct jute_writer *out, const struct shard_message *message)
{
    size_t group_total = 0;
    for (size_t index = 0; index < message->part_count; index++) {
        const struct shard_part *part = part_of(message, index);
        for (size_t pair = 0; part && pair < part->pair_count; pair++) {
            group_total += part->first[pair];
        }
    }
    struct fourlw_session_paths *groups = calloc(group_total ? group_total : 1, sizeof(*groups));
    if (!groups) {
        return;
    }
    size_t count = 0;
    for (size_t index = 0; index < message->part_count; index++) {
        const struct shard_part *part = part_of(message, index);
        for (size_t pair = 0; part && pair < part->pair_count; pair++) {
            if (part->first[pair]) {
                groups[count].session_id = part->sessions[pair];
                groups[count].paths = (const char *const *)&part->paths[pair];
                count++;
            }
            /* A watcher whose watches all fired is listed with no paths
             * (ZooKeeper keeps it until it disconnects): an empty path. */
            if (part->paths[pair][0] != '\0') {
                groups[count - 1].path_count++;
            }
        }
    }
    fourlw_write_wchc(out, groups, count);
    free(groups);
}

struct path_pair {
    const char *path;
    int64_t session_id;
    size_t order; /* keeps each shard's order within a path */
};

static int compare_pair(const void *left, const void *right)
{
    const struct path_pair *a = left;
    const struct path_pair *b = right;
    int by_path = strcmp(a->path, b->path);
    if (by_path != 0) {
        return by_path;
    }
    return a->order < b->order ? -1 : a->order > b->order;
}

/* wchp and wchs: the same path may be watched from several shards, so the
 * (path, session) pairs of every part are sorted by path and each run of
 * one path becomes one group. Fills `listing` (owned by the caller, like
 * `sessions`, which backs its session ids); returns the group count. */
static size_t merge_paths(const struct shard_message *message,
                          struct fourlw_path_sessions **listing_out, int64_t **sessions_out)
{
    size_t total = 0;
    for (size_t index = 0; index < message->part_count; index++) {
        total += part_of(message, index) ? part_of(message, index)->pair_count : 0;
    }
    struct path_pair *pairs = calloc(total ? total : 1, sizeof(*pairs));
    int64_t *sessions = calloc(total ? total : 1, sizeof(*sessions));
    struct fourlw_path_sessions *listing = calloc(total ? total : 1, sizeof(*listing));
    size_t count = 0;
    if (pairs && sessions && listing) {
        size_t used = 0;
        for (size_t index = 0; index < message->part_count; index++) {
            const struct shard_part *part = part_of(message, index);
            for (size_t pair = 0; part && pair < part->pair_count; pair++) {
                pairs[used] = (struct path_pair){part->paths[pair], part->sessions[pair], used};
                used++;
            }
        }
        qsort(pairs, used, sizeof(*pairs), compare_pair);
        for (size_t index = 0; index < used; index++) {
            sessions[index] = pairs[index].session_id;
            if (count == 0 || strcmp(listing[count - 1].path, pairs[index].path) != 0) {
                listing[count].path = pairs[index].path;
                listing[count].session_ids = &sessions[index];
                count++;
            }
            listing[count - 1].session_count++;
        }
    }
    free(pairs);
    *listing_out = listing;
    *sessions_out = sessions;
    return count;
}

void shard_fourlw_answer(struct shard *shard, const struct shard_message *message)
{
    struct connection *asker = connection_by_id(shard, message->connection_id);
    if (!asker || asker->state != CONNECTION_GATHERING) {
        return;
    }
    struct jute_writer out;
    jute_writer_init(&out, (size_t)64 << 20);
    switch (message->gather_command) {
    case FOURLW_CONS:
    case FOURLW_STAT: {
        size_t count = 0;
        struct fourlw_connection_info *connections = merge_connections(message, &count);
        if (message->gather_command == FOURLW_CONS) {
            fourlw_write_cons(&out, connections, count);
        } else {
            struct fourlw_server_info info;
            server_info(shard->server, &info);
            fourlw_write_stat(&out, &info, connections, count);
        }
        free(connections);
        break;
    }
    case FOURLW_CRST:
        fourlw_write_crst(&out);
        break;
    case FOURLW_DUMP:
        write_dump(&out, message);
        break;
    case FOURLW_WCHC:
        write_wchc(&out, message);
        break;
    default: {
        struct fourlw_path_sessions *listing = NULL;
        int64_t *sessions = NULL;
        size_t count = merge_paths(message, &listing, &sessions);
        if (message->gather_command == FOURLW_WCHS) {
            struct fourlw_watch_summary summary = {.path_count = (int64_t)count};
            for (size_t index = 0; index < message->part_count; index++) {
                const struct shard_part *part = part_of(message, index);
                summary.connection_count += part ? (int64_t)part->watcher_count : 0;
                summary.watch_count += part ? (int64_t)part->watch_count : 0;
            }
            fourlw_write_wchs(&out, &summary);
        } else if (listing) {
            fourlw_write_wchp(&out, listing, count);
        }
        free(listing);
        free(sessions);
        break;
    }
    }
    asker->state = CONNECTION_READY; /* lets send_bytes through */
    if (out.ok && out.size > 0) {
        send_bytes(shard, asker, out.data, out.size);
    }
    jute_writer_free(&out);
    close_connection(shard, asker, NULL);
}
