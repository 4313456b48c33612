#include "dataplane/server.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "dataplane/core.h"
#include "dataplane/disk_faults.h"
#include "dataplane/dpdk_port.h"
#include "dataplane/fourlw.h"
#include "dataplane/log.h"
#include "dataplane/log_writer.h"
#include "dataplane/snapshotter.h"
#include "consensus/quorum_config.h"
#include "consensus/quorum_wire.h"
#include "store/epoch.h"
#include "store/recovery.h"
#include "dataplane/shard.h"
#include "dataplane/watch.h"

/* Client addresses tracked for maxClientCnxns; beyond it new addresses are
 * not limited (logged once). */
#define SERVER_IP_TABLE_SLOTS 4096u
/* Watches per shard. */
#define SERVER_WATCHES_PER_SHARD_MAX (16u << 20)
/* Connections per shard (file descriptors are the real bound). */
#define SERVER_CONNECTIONS_PER_SHARD_MAX 65536u
#define SERVER_CONNECTION_PENDING_MAX 1000u
#define SERVER_SEND_BUFFER_BYTES_MAX (64u << 20)
/* NIOServerCnxnFactory's zookeeper.nio.sessionlessCnxnTimeout default. */
#define SERVER_SESSIONLESS_TIMEOUT_MS 10000u
#define SERVER_SESSIONS_MAX (1u << 22)
/* After a crash the kernel releases an io_uring's sockets a little after
 * the process is gone: a restart waits this long for the port, then fails. */
#define SERVER_PORT_WAIT_MS 5000
#define SERVER_PORT_RETRY_MS 100
/* A dataDir with no snapshot gets its first one before clients are served,
 * so ZooKeeper can always read it back ("No snapshot found, but there are
 * log entries" otherwise); an empty tree's snapshot takes milliseconds. */
#define SERVER_FIRST_SNAPSHOT_WAIT_MS 60000

/* The myid file: a server id and a newline (QuorumPeerConfig reads one line). */
#define SERVER_MYID_BYTES_MAX 64u

struct ip_count {
    char address[64];
    int32_t count;
};

struct server {
    struct cheetah_config config;
    struct store_tree *tree;
    struct shard **shards;
    uint32_t shard_count;
    struct core *core;
    pthread_t *shard_threads;
    pthread_t core_thread;
    _Atomic bool stop_requested;
    int stop_pipe[2];
    pthread_mutex_t ip_lock;
    struct ip_count *ip_counts;
    int64_t started_elapsed_ms;
    char snap_dir[CONFIG_PATH_BYTES_MAX + 16];
    char log_dir[CONFIG_PATH_BYTES_MAX + 16];
    struct log_writer *log_writer;
    struct snapshotter *snapshotter;
    _Atomic int exit_status;
    struct store_recovery_result recovered; /* until the core has the sessions */
    int64_t my_id;                          /* myid; 0 standalone */
    /* Kept so the core can rebuild the tree and restart the log writer and
     * snapshot thread after a TRUNC or SNAP from the leader. */
    struct store_config store_config;
    struct log_writer_config log_config;
    struct snapshotter_config snapshotter_config;
    /* The ensemble's configuration as text (server.N lines, version=0):
     * /zookeeper/config holds it, NEWLEADER and notifications carry it. */
    char config_text[QUORUM_CONFIG_TEXT_BYTES_MAX];
    /* cheetah.dataplane=dpdk: EAL and the port, made before the shards and
     * destroyed after them; NULL with io_uring. */
    struct dpdk_port *dpdk_port;
};

static int64_t wall_clock_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int64_t elapsed_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* ---- maxClientCnxns ----------------------------------------------------------- */

static size_t ip_hash(const char *address)
{
    uint64_t hash = 1469598103934665603ull;
    for (const char *at = address; *at; at++) {
        hash = (hash ^ (uint8_t)*at) * 1099511628211ull;
    }
    return (size_t)hash & (SERVER_IP_TABLE_SLOTS - 1);
}

static struct ip_count *ip_slot(struct server *server, const char *address, bool create)
{
    size_t slot = ip_hash(address);
    for (size_t probe = 0; probe < SERVER_IP_TABLE_SLOTS; probe++) {
        struct ip_count *entry = &server->ip_counts[slot];
        if (strcmp(entry->address, address) == 0) {
            return entry;
        }
        if (entry->address[0] == '\0') {
            if (!create) {
                return NULL;
            }
            snprintf(entry->address, sizeof(entry->address), "%s", address);
            return entry;
        }
        slot = (slot + 1) & (SERVER_IP_TABLE_SLOTS - 1);
    }
    return NULL;
}

bool server_ip_acquire(struct server *server, const char *address)
{
    int32_t limit = server->config.max_client_cnxns;
    if (limit <= 0) {
        return true; /* 0 = no limit, as ZooKeeper */
    }
    pthread_mutex_lock(&server->ip_lock);
    struct ip_count *entry = ip_slot(server, address, true);
    bool allowed = true;
    if (entry) {
        if (entry->count >= limit) {
            allowed = false;
        } else {
            entry->count++;
        }
    }
    pthread_mutex_unlock(&server->ip_lock);
    return allowed;
}

void server_ip_release(struct server *server, const char *address)
{
    if (server->config.max_client_cnxns <= 0) {
        return;
    }
    pthread_mutex_lock(&server->ip_lock);
    struct ip_count *entry = ip_slot(server, address, false);
    if (entry && entry->count > 0) {
        entry->count--;
    }
    pthread_mutex_unlock(&server->ip_lock);
}

void server_wake_core(struct server *server)
{
    core_wake(server->core);
}

/* ---- four-letter words ---------------------------------------------------------- */

/* dirs and conf report the size of dataDir/version-2 (FileTxnSnapLog). */
static int64_t directory_bytes(const char *directory)
{
    char path[CONFIG_PATH_BYTES_MAX + 16];
    snprintf(path, sizeof(path), "%s/version-2", directory);
    return fourlw_directory_size_bytes(path);
}

static int64_t open_file_descriptors(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) {
        return -1;
    }
    int64_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        count += entry->d_name[0] != '.';
    }
    closedir(dir);
    return count - 1; /* the descriptor opendir itself holds */
}

void server_info(struct server *server, struct fourlw_server_info *info)
{
    memset(info, 0, sizeof(*info));
    info->server_state = "standalone";
    if (server->config.distributed) {
        /* Each thread answering a four-letter word gets its own copy. */
        static _Thread_local struct fourlw_leader_info leader;
        static _Thread_local char peer_state[48];
        struct peer_status status;
        core_peer_status(server->core, &status);
        static const char *const states[] = {"looking", "following", "leading", "observing"};
        static const char *const phases[] = {"election", "discovery", "synchronization",
                                             "broadcast"};
        snprintf(peer_state, sizeof(peer_state), "%s - %s", states[status.state],
                 phases[status.phase]);
        info->peer_state = peer_state;
        info->server_state = status.state == PEER_LEADING     ? "leader"
                             : status.state == PEER_FOLLOWING ? "follower"
                             : status.state == PEER_OBSERVING ? "observer"
                                                              : "looking";
        int64_t voters = 0;
        for (uint32_t index = 0; index < server->config.server_count; index++) {
            voters += server->config.servers[index].type == CONFIG_PEER_PARTICIPANT;
        }
        info->quorum_size = voters;
        if (status.state == PEER_LEADING) {
            memset(&leader, 0, sizeof(leader));
            leader.learners = status.learners;
            leader.synced_followers = status.synced_followers;
            leader.synced_observers = status.synced_observers;
            leader.pending_syncs = status.pending_syncs;
            leader.leader_uptime_ms =
                status.serving ? elapsed_ms() - status.leader_uptime_ms : 0;
            leader.last_proposal_size_bytes = -1;
            leader.min_proposal_size_bytes = -1;
            leader.max_proposal_size_bytes = -1;
            info->leader = &leader;
        }
    }
    info->last_processed_zxid = core_last_zxid(server->core);
    core_tree_counters(server->core, &info->node_count, &info->ephemerals_count,
                       &info->approximate_data_size);
    int64_t min_ms = -1;
    for (uint32_t index = 0; index < server->shard_count; index++) {
        const struct shard_counters *counters = shard_counters(server->shards[index]);
        info->packets_received += atomic_load(&counters->packets_received);
        info->packets_sent += atomic_load(&counters->packets_sent);
        info->outstanding_requests += atomic_load(&counters->outstanding_requests);
        info->alive_connections += (int32_t)atomic_load(&counters->connections);
        info->watch_count += atomic_load(&counters->watch_count);
        info->latency.count += atomic_load(&counters->latency_count);
        info->latency.total_ms += atomic_load(&counters->latency_total_ms);
        int64_t shard_min = atomic_load(&counters->latency_min_ms);
        if (shard_min >= 0 && (min_ms < 0 || shard_min < min_ms)) {
            min_ms = shard_min;
        }
        int64_t shard_max = atomic_load(&counters->latency_max_ms);
        if (shard_max > info->latency.max_ms) {
            info->latency.max_ms = shard_max;
        }
    }
    info->latency.min_ms = min_ms < 0 ? 0 : min_ms;
    info->open_file_descriptor_count = open_file_descriptors();
    struct rlimit limit;
    info->max_file_descriptor_count =
        getrlimit(RLIMIT_NOFILE, &limit) == 0 ? (int64_t)limit.rlim_cur : -1;
    info->uptime_ms = elapsed_ms() - server->started_elapsed_ms;
    info->global_sessions = core_session_count(server->core);
    info->last_client_response_size = -1;
    info->min_client_response_size = -1;
    info->max_client_response_size = -1;
#ifdef CHEETAH_HAVE_DPDK
    if (server->dpdk_port) {
        /* mntr's zk_dpdk_* lines, summed over the shards. */
        static _Thread_local struct fourlw_extra_metric extra[DPDK_METRICS_MAX];
        struct dpdk_metric metrics[DPDK_METRICS_MAX];
        size_t count = dpdk_port_metrics(server->dpdk_port, metrics, DPDK_METRICS_MAX);
        for (size_t index = 0; index < count; index++) {
            static_assert(sizeof extra[index].name == sizeof metrics[index].name,
                          "the same name size");
            memcpy(extra[index].name, metrics[index].name, sizeof extra[index].name);
            extra[index].value = metrics[index].value;
        }
        info->extra_metrics = extra;
        info->extra_metric_count = count;
    }
#endif
}

bool server_four_letter_word_allowed(struct server *server, const uint8_t word[4])
{
    return config_4lw_allowed(&server->config, word);
}

void server_four_letter_word(struct server *server, const uint8_t word[4],
                             struct jute_writer *out)
{
    int command = fourlw_lookup(word);
    assert(command >= 0);
    if (command == FOURLW_TELNET_CLOSE) {
        return; /* ZooKeeper closes without a reply */
    }
    if (!config_4lw_allowed(&server->config, word)) {
        fourlw_write_not_whitelisted(out, (enum fourlw_command)command);
        return;
    }
    /* cons, stat, crst, wchs, wchc, wchp and dump look across shards: the
     * shard gathers them (shard_fourlw.c) and never calls here for them. */
    struct fourlw_server_info info;
    switch (command) {
    case FOURLW_RUOK:
        fourlw_write_ruok(out);
        break;
    case FOURLW_ISRO:
        fourlw_write_isro(out, false);
        break;
    case FOURLW_SRVR:
        server_info(server, &info);
        fourlw_write_srvr(out, &info);
        break;
    case FOURLW_MNTR:
        server_info(server, &info);
        fourlw_write_mntr(out, &info);
        break;
    case FOURLW_SRST:
        for (uint32_t index = 0; index < server->shard_count; index++) {
            shard_counters_reset(server->shards[index]);
        }
        fourlw_write_srst(out);
        break;
    case FOURLW_DIRS:
        fourlw_write_dirs(out, directory_bytes(server->config.data_dir),
                          directory_bytes(server->config.data_log_dir));
        break;
    case FOURLW_CONF: {
        char *membership = malloc(QUORUM_CONFIG_TEXT_BYTES_MAX);
        if (!membership) {
            break;
        }
        core_config_text(server->core, membership, QUORUM_CONFIG_TEXT_BYTES_MAX);
        struct config_conf_runtime runtime = {
            .data_dir_size_bytes = directory_bytes(server->config.data_dir),
            .log_dir_size_bytes = directory_bytes(server->config.data_log_dir),
            .server_id = server->my_id,
            .membership_text = server->config.distributed ? membership : NULL,
        };
        fourlw_write_conf(out, &server->config, &runtime);
        free(membership);
        break;
    }
    case FOURLW_ENVI: {
        struct fourlw_environment environment;
        char storage[4096];
        fourlw_environment_collect(&environment, storage, sizeof(storage));
        fourlw_write_envi(out, &environment);
        break;
    }
    case FOURLW_GTMK:
        fourlw_write_gtmk(out, 0);
        break;
    case FOURLW_HASH:
        break; /* no tree digests yet: an empty reply, as ZooKeeper without digests */
    default:
        /* stmk: trace masks are not kept; answer with the (unchanged) mask 0. */
        fourlw_write_gtmk(out, 0);
        break;
    }
}

/* ---- threads --------------------------------------------------------------------- */

static void *shard_thread_main(void *argument)
{
    struct shard *shard = argument;
    shard_run(shard);
    return NULL;
}

static void *core_thread_main(void *argument)
{
    core_run(argument);
    return NULL;
}

static bool make_data_dir(const char *path, char *error, size_t error_bytes)
{
    struct stat info;
    if (stat(path, &info) == 0) {
        if (!S_ISDIR(info.st_mode)) {
            snprintf(error, error_bytes, "dataDir %s exists and is not a directory", path);
            return false;
        }
        return true;
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        snprintf(error, error_bytes, "cannot create dataDir %s: %s (check the path and its "
                 "permissions)", path, strerror(errno));
        return false;
    }
    return true;
}

/* <dir>/version-2, where ZooKeeper's FileTxnSnapLog keeps its files. */
static bool make_version_dir(const char *parent, char *out, size_t out_bytes, char *error,
                             size_t error_bytes)
{
    int written = snprintf(out, out_bytes, "%s/version-2", parent);
    if (written < 0 || (size_t)written >= out_bytes) {
        snprintf(error, error_bytes, "the path %s/version-2 is too long", parent);
        return false;
    }
    return make_data_dir(out, error, error_bytes);
}

static void log_recovery_line(void *context, const char *line)
{
    (void)context;
    log_info("%s", line);
}

/* The log failed: stop the server; nothing after the failure was acked. */
static void storage_failed(void *context, const char *why)
{
    struct server *server = context;
    (void)why;
    atomic_store(&server->exit_status, 1);
    server_request_stop(server);
}

static void wake_core(void *context)
{
    core_wake(context);
}

/* Loads the newest valid snapshot and replays the logs into the tree
 * (before any reader exists). */
static bool recover(struct server *server, struct store_recovery_result *result, char *error,
                    size_t error_bytes)
{
    struct store_recovery_options options = {
        .snap_dir = server->snap_dir,
        .log_dir = server->log_dir,
        .jute_maxbuffer_bytes = server->config.jute_maxbuffer_bytes,
        .log = log_recovery_line,
    };
    int64_t started_ms = elapsed_ms();
    char reason[1024];
    if (store_recover(server->tree, &options, result, reason, sizeof(reason)) != 0) {
        snprintf(error, error_bytes, "cannot load the data in %s: %s", server->snap_dir, reason);
        return false;
    }
    log_info("recovery took %" PRId64 " ms", elapsed_ms() - started_ms);
    return true;
}

/* The log writer and the snapshot thread, attached to the core. */
static bool start_storage(struct server *server, const struct cheetah_config *config,
                          char *error, size_t error_bytes)
{
    struct log_writer_config log_config = {
        .log_dir = server->log_dir,
        .force_sync = config->force_sync,
        .prealloc_bytes = config->prealloc_size_kb * 1024,
        .jute_maxbuffer_bytes = config->jute_maxbuffer_bytes,
        .wake = wake_core,
        .wake_context = server->core,
    };
    if (!disk_faults_from_environment(&log_config.faults, error, error_bytes)) {
        return false;
    }
    if (log_config.faults.active) {
        log_warn("%s is set: the transaction log will fail on purpose (tests only)",
                 DISK_FAULT_ENV);
    }
    server->log_config = log_config;
    server->log_writer = log_writer_create(&log_config, error, error_bytes);
    if (!server->log_writer) {
        return false;
    }
    struct snapshotter_config snap_config = {
        .tree = server->tree,
        .snap_dir = server->snap_dir,
        .log_dir = server->log_dir,
        .purge_retain_count = config->autopurge_snap_retain_count,
        .purge_interval_hours = config->autopurge_purge_interval_hours,
        /* The snapshot thread logs what it writes, fails and purges. */
    };
    server->snapshotter_config = snap_config;
    server->snapshotter = snapshotter_create(&snap_config, error, error_bytes);
    if (!server->snapshotter) {
        return false;
    }
    struct core_storage storage = {
        .log = server->log_writer,
        .snapshotter = server->snapshotter,
        .snap_count = config->snap_count,
        .random_seed = (uint64_t)elapsed_ms() ^ (uint64_t)getpid() << 32,
        .fatal = storage_failed,
        .fatal_context = server,
    };
    core_set_storage(server->core, &storage);
    return true;
}

/* The shards' listeners share the port with SO_REUSEPORT, which would also
 * let a second server (or an old one still running) share it and silently
 * take half the connections. A plain bind first fails if anything already
 * listens there, as ZooKeeper's would. */
static bool check_port_free(const char *address, uint16_t port, char *error, size_t error_bytes)
{
    struct sockaddr_storage storage;
    memset(&storage, 0, sizeof(storage));
    socklen_t length;
    int family;
    struct sockaddr_in *ipv4 = (struct sockaddr_in *)&storage;
    struct sockaddr_in6 *ipv6 = (struct sockaddr_in6 *)&storage;
    if (inet_pton(AF_INET, address, &ipv4->sin_addr) == 1) {
        family = AF_INET;
        ipv4->sin_family = AF_INET;
        ipv4->sin_port = htons(port);
        length = sizeof(*ipv4);
    } else if (inet_pton(AF_INET6, address, &ipv6->sin6_addr) == 1) {
        family = AF_INET6;
        ipv6->sin6_family = AF_INET6;
        ipv6->sin6_port = htons(port);
        length = sizeof(*ipv6);
    } else {
        snprintf(error, error_bytes, "clientPortAddress %s is not a numeric IPv4 or IPv6 address",
                 address);
        return false;
    }
    int probe = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        snprintf(error, error_bytes, "cannot create a socket: %s", strerror(errno));
        return false;
    }
    int one = 1;
    setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    bool free_port = false;
    for (int waited_ms = 0; waited_ms <= SERVER_PORT_WAIT_MS; waited_ms += SERVER_PORT_RETRY_MS) {
        free_port = bind(probe, (struct sockaddr *)&storage, length) == 0;
        if (free_port || errno != EADDRINUSE) {
            break;
        }
        if (waited_ms == 0) {
            log_info("%s:%u is in use; waiting up to %d ms for it to be released", address,
                     port, SERVER_PORT_WAIT_MS);
        }
        usleep(SERVER_PORT_RETRY_MS * 1000);
    }
    if (!free_port) {
        snprintf(error, error_bytes,
                 "cannot listen on %s:%u: %s (is another ZooKeeper or Cheetah running there? "
                 "stop it or change clientPort)", address, port, strerror(errno));
    }
    close(probe);
    return free_port;
}

/* ---- the ensemble ------------------------------------------------------------ */

/* QuorumPeerConfig.setupMyId: <dataDir>/myid holds this server's id. */
static bool read_myid(const struct cheetah_config *config, int64_t *id_out, char *error,
                      size_t error_bytes)
{
    char path[CONFIG_PATH_BYTES_MAX + 8];
    snprintf(path, sizeof(path), "%s/myid", config->data_dir);
    FILE *file = fopen(path, "r");
    if (!file) {
        snprintf(error, error_bytes,
                 "%s file is missing: an ensemble member needs its id there (echo N > %s, "
                 "with N from its server.N line)",
                 path, path);
        return false;
    }
    char text[SERVER_MYID_BYTES_MAX];
    bool read = fgets(text, sizeof(text), file) != NULL;
    fclose(file);
    char *end = NULL;
    long long id = read ? strtoll(text, &end, 10) : 0;
    while (end && (*end == '\n' || *end == '\r' || *end == ' ')) {
        end++;
    }
    if (!read || end == text || (end && *end != '\0') || id <= 0) {
        snprintf(error, error_bytes, "%s: \"%s\" is not a server id (a positive number)", path,
                 read ? text : "");
        return false;
    }
    if (!config_find_server(config, id) && config->config_version != 0) {
        snprintf(error, error_bytes,
                 "%s says this is server %lld, but the configuration in zoo.cfg's "
                 "dynamicConfigFile (version %llx) has no server.%lld line: this server was "
                 "reconfigured out of the ensemble; add it back with reconfig (and restore its "
                 "zoo.cfg from zoo.cfg.bak), or stop running it",
                 path, id, (unsigned long long)config->config_version, id);
        return false;
    }
    if (!config_find_server(config, id)) {
        snprintf(error, error_bytes,
                 "%s says this is server %lld, but zoo.cfg has no server.%lld line", path, id, id);
        return false;
    }
    *id_out = id;
    return true;
}

/* acceptedEpoch / currentEpoch; missing files take the epoch of the last
 * zxid and are written, as QuorumPeer.loadDataBase does. */
static bool read_epochs(struct server *server, int64_t last_zxid, int64_t *accepted_out,
                        int64_t *current_out, char *error, size_t error_bytes)
{
    int64_t zxid_epoch = quorum_zxid_epoch(last_zxid);
    const char *names[2] = {STORE_EPOCH_CURRENT, STORE_EPOCH_ACCEPTED};
    int64_t *values[2] = {current_out, accepted_out};
    for (int index = 0; index < 2; index++) {
        int found = store_epoch_read(server->snap_dir, names[index], values[index], error,
                                     error_bytes);
        if (found < 0) {
            return false;
        }
        if (found == 0) {
            *values[index] = zxid_epoch;
            if (store_epoch_write(server->snap_dir, names[index], zxid_epoch, error,
                                  error_bytes) != 0) {
                return false;
            }
        }
    }
    if (*current_out < zxid_epoch) {
        snprintf(error, error_bytes,
                 "The current epoch, %" PRId64 ", is older than the last zxid, 0x%" PRIx64
                 " (%s/currentEpoch): the data directory is inconsistent",
                 *current_out, (uint64_t)last_zxid, server->snap_dir);
        return false;
    }
    return true;
}

/* Starts the quorum peer: standalone leads at once; an ensemble member
 * gets its election and quorum ports. */
/* QuorumMaj.toString() of zoo.cfg's server lines (version 0), or of the
 * dynamic config file's (its version). */
static bool ensemble_config_text(const struct cheetah_config *config, char *out, size_t out_bytes)
{
    static struct quorum_config_member text_members[CONFIG_SERVERS_MAX];
    for (uint32_t index = 0; index < config->server_count; index++) {
        const struct config_server *entry = &config->servers[index];
        text_members[index] = (struct quorum_config_member){
            .id = entry->id,
            .host = entry->host,
            .quorum_port = entry->quorum_port,
            .election_port = entry->election_port,
            .observer = entry->type == CONFIG_PEER_OBSERVER,
            .client_host = entry->has_client ? entry->client_host : NULL,
            .client_port = entry->client_port,
        };
    }
    return quorum_config_text(text_members, config->server_count, config->config_version, out,
                              out_bytes);
}

static bool start_peer(struct server *server, int64_t last_zxid, char *error, size_t error_bytes)
{
    const struct cheetah_config *config = &server->config;
    struct core_ensemble ensemble = {
        .my_id = server->my_id,
        .tick_ms = config->tick_time_ms,
        .init_limit_ticks = config->init_limit_ticks,
        .sync_limit_ticks = config->sync_limit_ticks,
        .last_logged_zxid = last_zxid,
        .listen_on_all_ips = config->quorum_listen_on_all_ips,
        .snap_dir = server->snap_dir,
        .log_dir = server->log_dir,
        .store_config = server->store_config,
        .log_config = server->log_config,
        .snapshotter_config = server->snapshotter_config,
    };
    static struct election_member members[CONFIG_SERVERS_MAX];
    static struct peer_net_member net_members[CONFIG_SERVERS_MAX];
    ensemble.standalone_enabled = config->standalone_enabled;
    ensemble.static_config_path = config->file_given ? config->file_path : "";
    if (config->distributed) {
        for (uint32_t index = 0; index < config->server_count; index++) {
            const struct config_server *entry = &config->servers[index];
            members[index] = (struct election_member){
                .id = entry->id, .voting = entry->type == CONFIG_PEER_PARTICIPANT};
            memset(&net_members[index], 0, sizeof(net_members[index]));
            net_members[index].id = entry->id;
            snprintf(net_members[index].host, sizeof(net_members[index].host), "%s", entry->host);
            net_members[index].quorum_port = entry->quorum_port;
            net_members[index].election_port = entry->election_port;
        }
        ensemble.members = members;
        ensemble.net_members = net_members;
        ensemble.member_count = config->server_count;
        if (!read_epochs(server, last_zxid, &ensemble.accepted_epoch, &ensemble.current_epoch,
                         error, error_bytes)) {
            return false;
        }
    }
    ensemble.config_text = server->config_text;
    return core_start_peer(server->core, &ensemble, error, error_bytes) == 0;
}

/* cheetah.dataplane=dpdk: EAL, the port and one queue pair per shard. */
static bool start_dpdk(struct server *server, char *error, size_t error_bytes)
{
#ifdef CHEETAH_HAVE_DPDK
    const struct config_dpdk *dpdk = &server->config.dpdk;
    struct dpdk_port_settings settings = {
        .eal_args = dpdk->eal_args,
        .port_index = dpdk->port,
        .queue_count = server->config.shards,
        .mtu = dpdk->mtu,
        .rx_descriptors = dpdk->rx_descriptors,
        .tx_descriptors = dpdk->tx_descriptors,
        .mbuf_pool_size = dpdk->mbuf_pool_size,
        .ipv4_address = dpdk->ipv4_address,
        .ipv4_netmask = dpdk->ipv4_netmask,
        .ipv4_gateway = dpdk->ipv4_gateway,
        .syn_backlog = dpdk->syn_backlog,
        .keepalive_idle_ms = dpdk->keepalive_idle_ms,
    };
    server->dpdk_port = dpdk_port_create(&settings, error, error_bytes);
    if (!server->dpdk_port) {
        return false;
    }
    uint32_t address = dpdk->ipv4_address;
    log_info("dpdk: clients are served over DPDK on %u.%u.%u.%u:%u (cheetah.dpdk.ipv4_address; "
             "clientPortAddress is not used)",
             address >> 24, (address >> 16) & 0xffu, (address >> 8) & 0xffu, address & 0xffu,
             server->config.client_port);
    return true;
#else
    (void)server;
    snprintf(error, error_bytes,
             "cheetah.dataplane=dpdk: this cheetah-server was built without DPDK: install "
             "libdpdk-dev and rebuild (or use cheetah.dataplane=uring)");
    return false;
#endif
}

struct server *server_create(const struct cheetah_config *config, char *error, size_t error_bytes)
{
    struct server *server = calloc(1, sizeof(*server));
    if (!server) {
        snprintf(error, error_bytes, "out of memory");
        return NULL;
    }
    server->config = *config;
    server->started_elapsed_ms = elapsed_ms();
    server->stop_pipe[0] = server->stop_pipe[1] = -1;
    pthread_mutex_init(&server->ip_lock, NULL);
    server->ip_counts = calloc(SERVER_IP_TABLE_SLOTS, sizeof(*server->ip_counts));
    if (!server->ip_counts || !make_data_dir(config->data_dir, error, error_bytes) ||
        !make_data_dir(config->data_log_dir, error, error_bytes) ||
        !make_version_dir(config->data_dir, server->snap_dir, sizeof(server->snap_dir), error,
                          error_bytes) ||
        !make_version_dir(config->data_log_dir, server->log_dir, sizeof(server->log_dir), error,
                          error_bytes)) {
        if (!server->ip_counts) {
            snprintf(error, error_bytes, "out of memory");
        }
        server_destroy(server);
        return NULL;
    }
    /* An ensemble member needs its myid; a standalone server with server.N
     * lines reads it when present (QuorumPeerConfig.setupMyId), to find its
     * own line's client port. */
    char myid_path[CONFIG_PATH_BYTES_MAX + 8];
    snprintf(myid_path, sizeof(myid_path), "%s/myid", config->data_dir);
    int64_t own_id = 0;
    if ((config->distributed || (config->server_count > 0 && access(myid_path, F_OK) == 0)) &&
        !read_myid(config, &own_id, error, error_bytes)) {
        server_destroy(server);
        return NULL;
    }
    if (config->distributed) {
        server->my_id = own_id;
    }
    if (own_id != 0) {
        /* No clientPort: the client address is in this server's own line. */
        const struct config_server *self = config_find_server(config, own_id);
        if (server->config.client_port == 0 && self->has_client) {
            server->config.client_port = self->client_port;
            if (!server->config.client_port_address_set) {
                snprintf(server->config.client_port_address,
                         sizeof(server->config.client_port_address), "%s", self->client_host);
            }
        }
        if (server->config.client_port == 0) {
            snprintf(error, error_bytes,
                     "server.%" PRId64 " has no client port: set clientPort=<port> or end its "
                     "line with ;<port>",
                     own_id);
            server_destroy(server);
            return NULL;
        }
    }
    if (server->config.client_port == 0) {
        snprintf(error, error_bytes,
                 "clientPort is not set, and %s does not name a server.N line that ends "
                 "with ;<port>: set clientPort=<port>",
                 myid_path);
        server_destroy(server);
        return NULL;
    }
    config = &server->config;
    if (config->distributed &&
        !ensemble_config_text(config, server->config_text, sizeof(server->config_text))) {
        snprintf(error, error_bytes, "too many server.N lines for the quorum config text");
        server_destroy(server);
        return NULL;
    }
    struct store_config store_config = {
        .extended_types_enabled = config->extended_types_enabled,
        .skip_acl = config->skip_acl,
        .reconfig_enabled = config->reconfig_enabled,
        .jute_maxbuffer_bytes = config->jute_maxbuffer_bytes,
        /* QuorumPeer.initConfigInZKDatabase: an ensemble member's
         * /zookeeper/config holds the configuration; standalone's is empty. */
        .config_node_text = server->config_text,
        .config_node_zxid = config->config_version,
        .config_node_mtime_ms = wall_clock_ms(),
    };
    server->store_config = store_config;
    /* DPDK's clients do not reach the kernel's port. */
    if (config->dataplane != CONFIG_DATAPLANE_DPDK &&
        !check_port_free(config->client_port_address, config->client_port, error,
                         error_bytes)) {
        server_destroy(server);
        return NULL;
    }
    /* Before recovery: a port that cannot start fails at once. */
    if (config->dataplane == CONFIG_DATAPLANE_DPDK && !start_dpdk(server, error, error_bytes)) {
        server_destroy(server);
        return NULL;
    }
    server->tree = store_tree_create(&store_config);
    struct store_recovery_result *recovered = &server->recovered;
    if (server->tree && !recover(server, recovered, error, error_bytes)) {
        server_destroy(server);
        return NULL;
    }
    server->shard_count = config->shards;
    server->shards = calloc(server->shard_count, sizeof(*server->shards));
    server->shard_threads = calloc(server->shard_count, sizeof(*server->shard_threads));
    if (!server->tree || !server->shards || !server->shard_threads) {
        snprintf(error, error_bytes, "out of memory");
        server_destroy(server);
        return NULL;
    }
    struct shard_settings settings = {
        .listen_address = server->config.client_port_address,
        .listen_port = config->client_port,
        .tick_ms = config->tick_time_ms,
        .min_session_timeout_ms = config->min_session_timeout_ms,
        .max_session_timeout_ms = config->max_session_timeout_ms,
        .jute_maxbuffer_bytes = config->jute_maxbuffer_bytes,
        .connections_max = SERVER_CONNECTIONS_PER_SHARD_MAX,
        .connection_pending_max = SERVER_CONNECTION_PENDING_MAX,
        .send_buffer_bytes_max = SERVER_SEND_BUFFER_BYTES_MAX,
        .sessionless_timeout_ms = SERVER_SESSIONLESS_TIMEOUT_MS,
        .watches_max = SERVER_WATCHES_PER_SHARD_MAX,
        .super_digest = server->config.super_digest[0] ? server->config.super_digest : NULL,
        .skip_acl = config->skip_acl,
        /* An ensemble member serves only once its role reaches broadcast. */
        .starts_not_serving = config->distributed,
        .dpdk_port = server->dpdk_port,
    };
    for (uint32_t index = 0; index < server->shard_count; index++) {
        server->shards[index] = shard_create(server, index, &settings, server->tree, error,
                                             error_bytes);
        if (!server->shards[index]) {
            server_destroy(server);
            return NULL;
        }
    }
    struct sequencer_config sequencer_config = {
        /* Standalone ZooKeeper makes session ids with server id 1
         * (ZooKeeperServer.createSessionTrackerServerId); a member uses
         * its myid. */
        .server_id = config->distributed ? server->my_id : 1,
        .tick_ms = config->tick_time_ms,
        .shard_count = server->shard_count,
        .jute_maxbuffer_bytes = config->jute_maxbuffer_bytes,
        .container_check_interval_ms = config->container_check_interval_ms,
        .container_max_per_minute = (int32_t)config->container_max_per_minute,
        .sessions_max = SERVER_SESSIONS_MAX,
    };
    server->core = core_create(server->tree, &sequencer_config, server->shards,
                               server->shard_count);
    if (!server->core || pipe(server->stop_pipe) != 0) {
        snprintf(error, error_bytes, "cannot start the consensus core: %s", strerror(errno));
        server_destroy(server);
        return NULL;
    }
    /* Sessions open at the last stop live on; a client that reconnects
     * within its timeout keeps its session and ephemerals. */
    for (size_t index = 0; index < recovered->session_count; index++) {
        core_restore_session(server->core, recovered->sessions[index].session_id,
                             recovered->sessions[index].timeout_ms);
    }
    /* ZooKeeper's loadData takes this snapshot before serving. Cheetah takes
     * it in the background unless the tree holds something the disk does
     * not: an empty dataDir (ZooKeeper refuses logs without a snapshot) or
     * ephemerals of dead sessions removed without a logged transaction. */
    bool snapshot_before_serving =
        recovered->snapshot_zxid < 0 || recovered->dead_sessions_removed > 0;
    int64_t last_zxid = recovered->last_zxid;
    store_recovery_result_free(recovered);
    if (!start_storage(server, config, error, error_bytes) ||
        !start_peer(server, last_zxid, error, error_bytes)) {
        server_destroy(server);
        return NULL;
    }
    /* ZooKeeper takes a snapshot at every start (ZooKeeperServer.loadData). */
    if (core_request_snapshot(server->core) && snapshot_before_serving &&
        !snapshotter_wait_idle(server->snapshotter, SERVER_FIRST_SNAPSHOT_WAIT_MS)) {
        snprintf(error, error_bytes, "the first snapshot in %s did not finish within %d ms",
                 server->snap_dir, SERVER_FIRST_SNAPSHOT_WAIT_MS);
        server_destroy(server);
        return NULL;
    }
    return server;
}

int server_run(struct server *server)
{
    if (pthread_create(&server->core_thread, NULL, core_thread_main, server->core) != 0) {
        log_error("cannot start the consensus core thread: %s", strerror(errno));
        return 1;
    }
    uint32_t started = 0;
    for (; started < server->shard_count; started++) {
        if (pthread_create(&server->shard_threads[started], NULL, shard_thread_main,
                           server->shards[started]) != 0) {
            log_error("cannot start shard thread %u: %s", started, strerror(errno));
            break;
        }
    }
    log_info("serving ZooKeeper clients on %s:%u with %u shard(s); snapshots in %s, "
             "transaction log in %s (forceSync=%s)",
             server->dpdk_port ? "DPDK" : server->config.client_port_address,
             server->config.client_port, server->shard_count,
             server->snap_dir, server->log_dir, server->config.force_sync ? "yes" : "no");
    if (started == server->shard_count) {
        /* Wait for server_request_stop (a signal handler writes the pipe). */
        char byte;
        while (!atomic_load(&server->stop_requested)) {
            ssize_t got = read(server->stop_pipe[0], &byte, 1);
            if (got < 0 && errno != EINTR) {
                break;
            }
        }
    }
    log_info("shutting down");
    for (uint32_t index = 0; index < started; index++) {
        shard_stop(server->shards[index]);
    }
    for (uint32_t index = 0; index < started; index++) {
        pthread_join(server->shard_threads[index], NULL);
    }
    core_stop(server->core);
    pthread_join(server->core_thread, NULL);
    /* The log writer finishes what it was given; the snapshot thread ends
     * (or abandons) its job. Pending records are freed with the core after. */
    /* The core may have replaced both (a TRUNC or SNAP from a leader). */
    server->log_writer = core_log_writer(server->core);
    server->snapshotter = core_snapshotter(server->core);
    log_writer_destroy(server->log_writer);
    server->log_writer = NULL;
    snapshotter_destroy(server->snapshotter);
    server->snapshotter = NULL;
    int status = atomic_load(&server->exit_status);
    if (status == 0 && started != server->shard_count) {
        status = 1;
    }
    return status;
}

void server_request_stop(struct server *server)
{
    atomic_store(&server->stop_requested, true);
    char byte = 1;
    ssize_t written = write(server->stop_pipe[1], &byte, 1);
    (void)written;
}

void server_destroy(struct server *server)
{
    if (!server) {
        return;
    }
    /* Both read what the core owns (records, the tree): stop them first. */
    log_writer_destroy(server->log_writer);
    snapshotter_destroy(server->snapshotter);
    if (server->core) {
        server->tree = core_tree(server->core); /* replaced after a TRUNC or SNAP */
    }
    core_destroy(server->core);
    store_recovery_result_free(&server->recovered);
    for (uint32_t index = 0; server->shards && index < server->shard_count; index++) {
        shard_destroy(server->shards[index]);
    }
    free(server->shards);
    free(server->shard_threads);
#ifdef CHEETAH_HAVE_DPDK
    /* After the shards: their transports use its queues and pools. */
    dpdk_port_destroy(server->dpdk_port);
#endif
    if (server->tree) {
        store_tree_destroy(server->tree);
    }
    free(server->ip_counts);
    pthread_mutex_destroy(&server->ip_lock);
    for (int index = 0; index < 2; index++) {
        if (server->stop_pipe[index] >= 0) {
            close(server->stop_pipe[index]);
        }
    }
    free(server);
}
