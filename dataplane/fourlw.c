/* Four-letter words: ZooKeeper 3.8's exact reply text. See fourlw.h. */
#include "dataplane/fourlw.h"

#include "dataplane/config.h"
#include "jute/jute.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* One formatted piece of a reply (a line, or a path or address inside one). */
#define FOURLW_PIECE_BYTES_MAX 512u

/* ZooKeeper's AbstractFourLetterCommand.ZK_NOT_SERVING. */
static const char NOT_SERVING[] = "This ZooKeeper instance is not currently serving requests\n";

struct fourlw_name_entry {
    char word[4];
    const char *name;
};

/* Indexed by enum fourlw_command. */
static const struct fourlw_name_entry COMMAND_NAMES[FOURLW_COMMAND_COUNT] = {
    [FOURLW_CONF] = {"conf", "conf"},
    [FOURLW_CONS] = {"cons", "cons"},
    [FOURLW_CRST] = {"crst", "crst"},
    [FOURLW_DIRS] = {"dirs", "dirs"},
    [FOURLW_DUMP] = {"dump", "dump"},
    [FOURLW_ENVI] = {"envi", "envi"},
    [FOURLW_GTMK] = {"gtmk", "gtmk"},
    [FOURLW_RUOK] = {"ruok", "ruok"},
    [FOURLW_STMK] = {"stmk", "stmk"},
    [FOURLW_SRST] = {"srst", "srst"},
    [FOURLW_SRVR] = {"srvr", "srvr"},
    [FOURLW_STAT] = {"stat", "stat"},
    [FOURLW_WCHC] = {"wchc", "wchc"},
    [FOURLW_WCHP] = {"wchp", "wchp"},
    [FOURLW_WCHS] = {"wchs", "wchs"},
    [FOURLW_MNTR] = {"mntr", "mntr"},
    [FOURLW_ISRO] = {"isro", "isro"},
    [FOURLW_HASH] = {"hash", "hash"},
    /* The bytes telnet sends when it closes (IAC DO TIMING-MARK... as an int
     * 0xfff4fffd); ZooKeeper knows it so that it is not read as a length. */
    [FOURLW_TELNET_CLOSE] = {"\xff\xf4\xff\xfd", "telnet close"},
};

int fourlw_lookup(const uint8_t word[4])
{
    for (int command = 0; command < FOURLW_COMMAND_COUNT; command++) {
        if (memcmp(word, COMMAND_NAMES[command].word, 4) == 0) {
            return command;
        }
    }
    return -1;
}

const char *fourlw_name(enum fourlw_command command)
{
    assert(command >= 0 && command < FOURLW_COMMAND_COUNT);
    return COMMAND_NAMES[command].name;
}

int fourlw_lookup_name(const char *name, size_t name_bytes)
{
    for (int command = 0; command < FOURLW_COMMAND_COUNT; command++) {
        const char *candidate = COMMAND_NAMES[command].name;
        if (strlen(candidate) == name_bytes && memcmp(candidate, name, name_bytes) == 0) {
            return command;
        }
    }
    return -1;
}

/* ---- formatting helpers ---- */

static void put(struct jute_writer *out, const char *text)
{
    jute_write_raw(out, text, strlen(text));
}

static void put_format(struct jute_writer *out, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static void put_format(struct jute_writer *out, const char *format, ...)
{
    char piece[FOURLW_PIECE_BYTES_MAX];
    va_list args;
    va_start(args, format);
    int length = vsnprintf(piece, sizeof piece, format, args);
    va_end(args);
    /* Callers put unbounded text (paths, addresses) through put(), so a
     * formatted piece never reaches the limit. */
    assert(length >= 0 && (size_t)length < sizeof piece);
    jute_write_raw(out, piece, (size_t)length);
}

/* Long.toHexString: two's complement, lower case, no leading zeros. */
static void put_hex(struct jute_writer *out, int64_t value)
{
    put_format(out, "%" PRIx64, (uint64_t)value);
}

static void put_java_double(struct jute_writer *out, double value)
{
    char text[64];
    size_t length = fourlw_format_java_double(value, text, sizeof text);
    jute_write_raw(out, text, length);
}

size_t fourlw_format_java_double(double value, char *text, size_t text_bytes)
{
    assert(text_bytes >= 32);
    if (isnan(value)) {
        return (size_t)snprintf(text, text_bytes, "NaN");
    }
    if (isinf(value)) {
        return (size_t)snprintf(text, text_bytes, value < 0 ? "-Infinity" : "Infinity");
    }
    if (value == 0.0) {
        return (size_t)snprintf(text, text_bytes, signbit(value) ? "-0.0" : "0.0");
    }
    /* The shortest decimal that reads back as the same double. */
    char scientific[40];
    for (int precision = 0; precision < 17; precision++) {
        snprintf(scientific, sizeof scientific, "%.*e", precision, value);
        if (strtod(scientific, NULL) == value) {
            break;
        }
    }
    const char *cursor = scientific;
    bool negative = *cursor == '-';
    if (negative) {
        cursor++;
    }
    char digits[24];
    size_t digit_count = 0;
    for (; *cursor != 'e'; cursor++) {
        if (*cursor != '.') {
            digits[digit_count++] = *cursor;
        }
    }
    while (digit_count > 1 && digits[digit_count - 1] == '0') {
        digit_count--;
    }
    int exponent = atoi(cursor + 1);
    size_t length = 0;
    if (negative) {
        text[length++] = '-';
    }
    double magnitude = fabs(value);
    if (magnitude >= 1e-3 && magnitude < 1e7) {
        if (exponent >= 0) {
            for (int index = 0; index <= exponent; index++) {
                text[length++] = (size_t)index < digit_count ? digits[index] : '0';
            }
            text[length++] = '.';
            if ((size_t)exponent + 1 < digit_count) {
                for (size_t index = (size_t)exponent + 1; index < digit_count; index++) {
                    text[length++] = digits[index];
                }
            } else {
                text[length++] = '0';
            }
        } else {
            text[length++] = '0';
            text[length++] = '.';
            for (int zero = 0; zero < -exponent - 1; zero++) {
                text[length++] = '0';
            }
            for (size_t index = 0; index < digit_count; index++) {
                text[length++] = digits[index];
            }
        }
        text[length] = '\0';
        return length;
    }
    /* Computerized scientific notation: d.ddd E n, at least one fraction digit. */
    text[length++] = digits[0];
    text[length++] = '.';
    if (digit_count > 1) {
        for (size_t index = 1; index < digit_count; index++) {
            text[length++] = digits[index];
        }
    } else {
        text[length++] = '0';
    }
    length += (size_t)snprintf(text + length, text_bytes - length, "E%d", exponent);
    return length;
}

double fourlw_average_4dp(int64_t total, int64_t count)
{
    if (count <= 0) {
        return 0.0;
    }
    double average = (double)total / (double)count;
    /* new BigDecimal(average).setScale(4, HALF_UP): round the double's exact
     * decimal expansion (glibc prints it exactly) half away from zero. */
    static const int exact_digits = 1100; /* enough for any double's expansion */
    char *expansion = malloc((size_t)exact_digits + 400);
    if (expansion == NULL) {
        return round(average * 10000.0) / 10000.0;
    }
    snprintf(expansion, (size_t)exact_digits + 400, "%.*f", exact_digits, fabs(average));
    char *point = strchr(expansion, '.');
    assert(point != NULL);
    bool round_up = point[5] >= '5';
    /* Drop the point and everything after the 4th decimal: ten-thousandths. */
    memmove(point, point + 1, 4);
    point[4] = '\0';
    double units = strtod(expansion, NULL) + (round_up ? 1.0 : 0.0);
    free(expansion);
    /* Correctly rounded, as BigDecimal.doubleValue() is. */
    double rounded = units / 10000.0;
    return average < 0 ? -rounded : rounded;
}

/* ---- whitelist, ruok, isro, resets, dirs ---- */

void fourlw_write_not_whitelisted(struct jute_writer *out, enum fourlw_command command)
{
    /* NopCommand prints the message with println. */
    put(out, fourlw_name(command));
    put(out, " is not executed because it is not in the whitelist.\n");
}

void fourlw_write_not_serving(struct jute_writer *out)
{
    put(out, NOT_SERVING);
}

void fourlw_write_ruok(struct jute_writer *out)
{
    put(out, "imok");
}

void fourlw_write_isro(struct jute_writer *out, bool read_only)
{
    put(out, read_only ? "ro" : "rw");
}

void fourlw_write_isro_not_serving(struct jute_writer *out)
{
    put(out, "null");
}

void fourlw_write_hash_not_serving(struct jute_writer *out)
{
    jute_write_raw(out, NOT_SERVING, sizeof(NOT_SERVING) - 2); /* without "\n" and NUL */
}

void fourlw_write_crst(struct jute_writer *out)
{
    put(out, "Connection stats reset.\n");
}

void fourlw_write_srst(struct jute_writer *out)
{
    put(out, "Server stats reset.\n");
}

void fourlw_write_dirs(struct jute_writer *out, int64_t data_dir_size_bytes,
                       int64_t log_dir_size_bytes)
{
    put_format(out, "datadir_size: %" PRId64 "\n", data_dir_size_bytes);
    put_format(out, "logdir_size: %" PRId64 "\n", log_dir_size_bytes);
}

void fourlw_write_gtmk(struct jute_writer *out, int64_t trace_mask)
{
    put_format(out, "%" PRId64, trace_mask);
}

void fourlw_write_conf(struct jute_writer *out, const struct cheetah_config *config,
                       const struct config_conf_runtime *runtime)
{
    config_write_conf(config, runtime, out);
}

/* Bounds the recursion of fourlw_directory_size_bytes (version-2 is flat). */
#define FOURLW_DIRECTORY_DEPTH_MAX 8

static int64_t directory_size_at(int directory_fd, int depth)
{
    DIR *directory = fdopendir(directory_fd);
    if (directory == NULL) {
        close(directory_fd);
        return 0;
    }
    int64_t total = 0;
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) {
            continue;
        }
        struct stat info;
        if (fstatat(dirfd(directory), entry->d_name, &info, AT_SYMLINK_NOFOLLOW) != 0) {
            continue;
        }
        if (S_ISREG(info.st_mode)) {
            total += (int64_t)info.st_size;
        } else if (S_ISDIR(info.st_mode) && depth < FOURLW_DIRECTORY_DEPTH_MAX) {
            int child = openat(dirfd(directory), entry->d_name,
                               O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
            if (child >= 0) {
                total += directory_size_at(child, depth + 1);
            }
        }
    }
    closedir(directory);
    return total;
}

int64_t fourlw_directory_size_bytes(const char *path)
{
    int directory_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (directory_fd < 0) {
        return 0;
    }
    return directory_size_at(directory_fd, 0);
}

/* ---- srvr, stat, cons ---- */

static const char *version_of(const char *version)
{
    return version != NULL ? version : FOURLW_VERSION;
}

static int64_t latency_min(const struct fourlw_latency *latency)
{
    return latency->count > 0 ? latency->min_ms : 0;
}

static int64_t latency_max(const struct fourlw_latency *latency)
{
    return latency->count > 0 ? latency->max_ms : 0;
}

/* ServerStats.toString() then "Node count: n". */
static void write_server_stats(struct jute_writer *out, const struct fourlw_server_info *info)
{
    put_format(out, "Latency min/avg/max: %" PRId64 "/", latency_min(&info->latency));
    put_java_double(out, fourlw_average_4dp(info->latency.total_ms, info->latency.count));
    put_format(out, "/%" PRId64 "\n", latency_max(&info->latency));
    put_format(out, "Received: %" PRId64 "\n", info->packets_received);
    put_format(out, "Sent: %" PRId64 "\n", info->packets_sent);
    put_format(out, "Connections: %" PRId32 "\n", info->alive_connections);
    put_format(out, "Outstanding: %" PRId64 "\n", info->outstanding_requests);
    put(out, "Zxid: 0x");
    put_hex(out, info->last_processed_zxid);
    put(out, "\nMode: ");
    put(out, info->server_state);
    put(out, "\n");
    put_format(out, "Node count: %" PRId64 "\n", info->node_count);
    if (info->leader != NULL) {
        /* BufferStats.toString: "last/min/max". */
        put_format(out, "Proposal sizes last/min/max: %" PRId64 "/%" PRId64 "/%" PRId64 "\n",
                   info->leader->last_proposal_size_bytes, info->leader->min_proposal_size_bytes,
                   info->leader->max_proposal_size_bytes);
    }
}

static void write_version_header(struct jute_writer *out, const struct fourlw_server_info *info)
{
    put(out, "Zookeeper version: ");
    put(out, version_of(info->version));
    put(out, "\n");
    if (info->read_only) {
        put(out, "READ-ONLY mode; serving only read-only clients\n");
    }
}

void fourlw_write_srvr(struct jute_writer *out, const struct fourlw_server_info *info)
{
    write_version_header(out, info);
    write_server_stats(out, info);
}

/* InetSocketAddress.toString of an accepted socket: "/addr:port", IPv6 in []. */
static void write_remote(struct jute_writer *out, const struct fourlw_connection_info *conn)
{
    bool ipv6 = strchr(conn->remote_address, ':') != NULL;
    put(out, ipv6 ? "/[" : "/");
    put(out, conn->remote_address);
    put_format(out, "%s:%u", ipv6 ? "]" : "", (unsigned)conn->remote_port);
}

void fourlw_write_connection(struct jute_writer *out, const struct fourlw_connection_info *conn,
                             bool brief)
{
    put(out, " ");
    write_remote(out, conn);
    put_format(out, "[%" PRIx32 "](queued=%" PRId64 ",recved=%" PRId64 ",sent=%" PRId64,
               conn->interest_ops, conn->queued, conn->packets_received, conn->packets_sent);
    if (!brief && conn->session_id != 0) {
        put(out, ",sid=0x");
        put_hex(out, conn->session_id);
        put(out, ",lop=");
        put(out, conn->last_operation != NULL ? conn->last_operation : "NA");
        put_format(out, ",est=%" PRId64 ",to=%" PRId32, conn->established_ms,
                   conn->session_timeout_ms);
        if (conn->last_cxid >= 0) {
            put(out, ",lcxid=0x");
            put_hex(out, conn->last_cxid);
        }
        put(out, ",lzxid=0x");
        put_hex(out, conn->last_zxid);
        int64_t average = conn->latency_count > 0 ? conn->latency_total_ms / conn->latency_count : 0;
        put_format(out,
                   ",lresp=%" PRId64 ",llat=%" PRId64 ",minlat=%" PRId64 ",avglat=%" PRId64
                   ",maxlat=%" PRId64,
                   conn->last_response_time_ms, conn->last_latency_ms,
                   conn->latency_count > 0 ? conn->latency_min_ms : 0, average,
                   conn->latency_count > 0 ? conn->latency_max_ms : 0);
    }
    put(out, ")");
}

static void write_connection_lines(struct jute_writer *out,
                                   const struct fourlw_connection_info *connections,
                                   size_t connection_count, bool brief)
{
    for (size_t index = 0; index < connection_count; index++) {
        fourlw_write_connection(out, &connections[index], brief);
        put(out, "\n");
    }
    put(out, "\n");
}

void fourlw_write_stat(struct jute_writer *out, const struct fourlw_server_info *info,
                       const struct fourlw_connection_info *connections, size_t connection_count)
{
    write_version_header(out, info);
    put(out, "Clients:\n");
    write_connection_lines(out, connections, connection_count, true);
    write_server_stats(out, info);
}

void fourlw_write_cons(struct jute_writer *out, const struct fourlw_connection_info *connections,
                       size_t connection_count)
{
    write_connection_lines(out, connections, connection_count, false);
}

/* ---- envi ---- */

static void put_entry(struct jute_writer *out, const char *key, const char *value)
{
    put(out, key);
    put(out, "=");
    put(out, value != NULL ? value : "");
    put(out, "\n");
}

void fourlw_write_envi(struct jute_writer *out, const struct fourlw_environment *environment)
{
    put(out, "Environment:\n");
    put_entry(out, "zookeeper.version", version_of(environment->version));
    put_entry(out, "host.name", environment->host_name);
    put_entry(out, "os.name", environment->os_name);
    put_entry(out, "os.arch", environment->os_arch);
    put_entry(out, "os.version", environment->os_version);
    put_entry(out, "user.name", environment->user_name);
    put_entry(out, "user.home", environment->user_home);
    put_entry(out, "user.dir", environment->user_dir);
}

/* Copies `text` into storage; returns the copy or "" when storage is full. */
static const char *keep(char **storage, size_t *storage_bytes, const char *text)
{
    size_t length = strlen(text);
    if (length + 1 > *storage_bytes) {
        return "";
    }
    char *copy = *storage;
    memcpy(copy, text, length + 1);
    *storage += length + 1;
    *storage_bytes -= length + 1;
    return copy;
}

void fourlw_environment_collect(struct fourlw_environment *environment, char *storage,
                                size_t storage_bytes)
{
    memset(environment, 0, sizeof *environment);
    struct utsname names;
    if (uname(&names) == 0) {
        environment->host_name = keep(&storage, &storage_bytes, names.nodename);
        environment->os_name = keep(&storage, &storage_bytes, names.sysname);
        /* Java calls x86_64 "amd64". */
        const char *arch = strcmp(names.machine, "x86_64") == 0 ? "amd64" : names.machine;
        environment->os_arch = keep(&storage, &storage_bytes, arch);
        environment->os_version = keep(&storage, &storage_bytes, names.release);
    }
    struct passwd entry;
    struct passwd *found = NULL;
    char passwd_buffer[1024];
    if (getpwuid_r(getuid(), &entry, passwd_buffer, sizeof passwd_buffer, &found) == 0 &&
        found != NULL) {
        environment->user_name = keep(&storage, &storage_bytes, found->pw_name);
        environment->user_home = keep(&storage, &storage_bytes, found->pw_dir);
    }
    char cwd[1024];
    if (getcwd(cwd, sizeof cwd) != NULL) {
        environment->user_dir = keep(&storage, &storage_bytes, cwd);
    }
    const char **fields[] = {&environment->host_name, &environment->os_name,
                             &environment->os_arch,   &environment->os_version,
                             &environment->user_name, &environment->user_home,
                             &environment->user_dir};
    for (size_t index = 0; index < sizeof fields / sizeof fields[0]; index++) {
        if (*fields[index] == NULL) {
            *fields[index] = "";
        }
    }
}

/* ---- mntr ---- */

/* Keys in the order ZooKeeper 3.8.0 prints them (its metrics live in a
 * HashMap, so the order is the hash order of its key set, captured from the
 * real server: standalone, and a 3-server ensemble's leader and follower). Omitted, because Cheetah cannot
 * compute them honestly or they describe parts it does not have:
 *   zk_non_mtls_remote_conn_count, zk_non_mtls_local_conn_count,
 *   zk_outstanding_tls_handshake, zk_tls_handshake_exceeded (no TLS);
 *   zk_connection_drop_probability, zk_connection_drop_count,
 *   zk_throttled_ops, zk_request_throttle_wait_count,
 *   zk_connection_token_deficit, zk_request_throttle_queue_time_ms
 *   (ZooKeeper's throttlers); zk_insecure_admin_count (no admin server);
 *   zk_ensemble_auth_* (no SASL); zk_jvm_pause_time_ms (JVM);
 *   zk_response_packet_*cache* (ZooKeeper's serialization cache);
 *   zk_dead_watchers_*, zk_add_dead_watcher_stall_time (ZooKeeper's lazy
 *   watcher cleaner); zk_netty_queued_buffer_capacity (Netty); every
 *   request-processor queue and time metric (prep_processor_*,
 *   sync_processor_queue*, *commit_proc*, *commitproc*, *_in_commit_processor,
 *   session_queue*, write/read_final_proc_time_ms, om_*, proposal_process_time,
 *   proposal_ack_creation_latency, propagation_latency,
 *   server_write_committed_time_ms, local_write_committed_time_ms,
 *   close_session_prep_time, requests_not_forwarded_to_commit_processor,
 *   skip_learner_request_to_next_processor_count, outstanding_changes_*,
 *   stale_requests*, stale_replies, learner_request_processor_queue_size,
 *   inflight_*_count, reads_*, pending_session_queue_size,
 *   socket_closing_time, leader_unavailable_time), zk_watch_bytes,
 *   zk_large_requests_rejected (largeRequestMaxBytes), the per-namespace
 *   summary sets (zk_*_<ns>_read/write_per_namespace) and quota gauge sets
 *   (zk_quota_*_per_namespace, present only with quotas): Cheetah's pipeline
 *   is not ZooKeeper's, so these numbers would not mean the same thing.
 * The ensemble keys (zk_peer_state, zk_quorum_size, and the leader's
 * zk_learners ... zk_min_proposal_size) sit where a 3.8.0 leader printed
 * them; a standalone server's and a follower's key order is that order
 * with those keys left out (checked against all three captures). */
enum mntr_kind {
    MNTR_VERSION,
    MNTR_STATE,
    MNTR_PEER_STATE,     /* omitted when NULL (standalone) */
    MNTR_GAUGE,          /* an int64_t field of fourlw_server_info */
    MNTR_GAUGE_OPTIONAL, /* same, omitted when negative */
    MNTR_CONNECTIONS,    /* the int32_t alive_connections */
    MNTR_AVG_LATENCY,
    MNTR_MIN_LATENCY,
    MNTR_MAX_LATENCY,
    MNTR_LEADER,         /* an int64_t field of fourlw_leader_info */
    MNTR_COUNTER,
    MNTR_SUMMARY,
    MNTR_SUMMARY_PERCENTILES,
};

struct mntr_key {
    const char *name; /* without "zk_" */
    enum mntr_kind kind;
    size_t offset;    /* field offset, or the counter / summary index */
};

#define INFO_FIELD(field) offsetof(struct fourlw_server_info, field)
#define LEADER_FIELD(field) offsetof(struct fourlw_leader_info, field)

static const struct mntr_key MNTR_KEYS[] = {
    {"version", MNTR_VERSION, 0},
    {"server_state", MNTR_STATE, 0},
    {"peer_state", MNTR_PEER_STATE, 0},
    {"ephemerals_count", MNTR_GAUGE, INFO_FIELD(ephemerals_count)},
    {"num_alive_connections", MNTR_CONNECTIONS, 0},
    {"avg_latency", MNTR_AVG_LATENCY, 0},
    {"min_proposal_size", MNTR_LEADER, LEADER_FIELD(min_proposal_size_bytes)},
    {"outstanding_requests", MNTR_GAUGE, INFO_FIELD(outstanding_requests)},
    {"znode_count", MNTR_GAUGE, INFO_FIELD(node_count)},
    {"global_sessions", MNTR_GAUGE, INFO_FIELD(global_sessions)},
    {"last_client_response_size", MNTR_GAUGE, INFO_FIELD(last_client_response_size)},
    {"packets_sent", MNTR_GAUGE, INFO_FIELD(packets_sent)},
    {"packets_received", MNTR_GAUGE, INFO_FIELD(packets_received)},
    {"max_proposal_size", MNTR_LEADER, LEADER_FIELD(max_proposal_size_bytes)},
    {"max_client_response_size", MNTR_GAUGE, INFO_FIELD(max_client_response_size)},
    {"synced_followers", MNTR_LEADER, LEADER_FIELD(synced_followers)},
    {"watch_count", MNTR_GAUGE, INFO_FIELD(watch_count)},
    {"synced_non_voting_followers", MNTR_LEADER, LEADER_FIELD(synced_non_voting_followers)},
    {"synced_observers", MNTR_LEADER, LEADER_FIELD(synced_observers)},
    {"auth_failed_count", MNTR_GAUGE, INFO_FIELD(auth_failed_count)},
    {"min_latency", MNTR_MIN_LATENCY, 0},
    {"max_file_descriptor_count", MNTR_GAUGE_OPTIONAL, INFO_FIELD(max_file_descriptor_count)},
    {"approximate_data_size", MNTR_GAUGE, INFO_FIELD(approximate_data_size)},
    {"open_file_descriptor_count", MNTR_GAUGE_OPTIONAL, INFO_FIELD(open_file_descriptor_count)},
    {"last_proposal_size", MNTR_LEADER, LEADER_FIELD(last_proposal_size_bytes)},
    {"pending_syncs", MNTR_LEADER, LEADER_FIELD(pending_syncs)},
    {"leader_uptime", MNTR_LEADER, LEADER_FIELD(leader_uptime_ms)},
    {"local_sessions", MNTR_GAUGE, INFO_FIELD(local_sessions)},
    {"uptime", MNTR_GAUGE, INFO_FIELD(uptime_ms)},
    {"max_latency", MNTR_MAX_LATENCY, 0},
    {"learners", MNTR_LEADER, LEADER_FIELD(learners)},
    {"min_client_response_size", MNTR_GAUGE, INFO_FIELD(min_client_response_size)},
    {"quorum_size", MNTR_GAUGE_OPTIONAL, INFO_FIELD(quorum_size)},
    {"proposal_count", MNTR_COUNTER, FOURLW_COUNTER_PROPOSAL_COUNT},
    {"connection_rejected", MNTR_COUNTER, FOURLW_COUNTER_CONNECTION_REJECTED},
    {"cnxn_closed_without_zk_server_running", MNTR_COUNTER,
     FOURLW_COUNTER_CNXN_CLOSED_WITHOUT_ZK_SERVER_RUNNING},
    {"sessionless_connections_expired", MNTR_COUNTER,
     FOURLW_COUNTER_SESSIONLESS_CONNECTIONS_EXPIRED},
    {"looking_count", MNTR_COUNTER, FOURLW_COUNTER_LOOKING_COUNT},
    {"learner_proposal_received_count", MNTR_COUNTER,
     FOURLW_COUNTER_LEARNER_PROPOSAL_RECEIVED_COUNT},
    {"digest_mismatches_count", MNTR_COUNTER, FOURLW_COUNTER_DIGEST_MISMATCHES_COUNT},
    {"bytes_received_count", MNTR_COUNTER, FOURLW_COUNTER_BYTES_RECEIVED_COUNT},
    {"learner_commit_received_count", MNTR_COUNTER, FOURLW_COUNTER_LEARNER_COMMIT_RECEIVED_COUNT},
    {"connection_request_count", MNTR_COUNTER, FOURLW_COUNTER_CONNECTION_REQUEST_COUNT},
    {"response_bytes", MNTR_COUNTER, FOURLW_COUNTER_RESPONSE_BYTES},
    {"diff_count", MNTR_COUNTER, FOURLW_COUNTER_DIFF_COUNT},
    {"connection_revalidate_count", MNTR_COUNTER, FOURLW_COUNTER_CONNECTION_REVALIDATE_COUNT},
    {"quit_leading_due_to_disloyal_voter", MNTR_COUNTER,
     FOURLW_COUNTER_QUIT_LEADING_DUE_TO_DISLOYAL_VOTER},
    {"snap_count", MNTR_COUNTER, FOURLW_COUNTER_SNAP_COUNT},
    {"unrecoverable_error_count", MNTR_COUNTER, FOURLW_COUNTER_UNRECOVERABLE_ERROR_COUNT},
    {"unsuccessful_handshake", MNTR_COUNTER, FOURLW_COUNTER_UNSUCCESSFUL_HANDSHAKE},
    {"commit_count", MNTR_COUNTER, FOURLW_COUNTER_COMMIT_COUNT},
    {"stale_sessions_expired", MNTR_COUNTER, FOURLW_COUNTER_STALE_SESSIONS_EXPIRED},
    {"revalidate_count", MNTR_COUNTER, FOURLW_COUNTER_REVALIDATE_COUNT},
    {"node_created_watch_count", MNTR_SUMMARY, FOURLW_SUMMARY_NODE_CREATED_WATCH_COUNT},
    {"node_deleted_watch_count", MNTR_SUMMARY, FOURLW_SUMMARY_NODE_DELETED_WATCH_COUNT},
    {"startup_txns_load_time", MNTR_SUMMARY, FOURLW_SUMMARY_STARTUP_TXNS_LOAD_TIME},
    {"follower_sync_time", MNTR_SUMMARY, FOURLW_SUMMARY_FOLLOWER_SYNC_TIME},
    {"fsynctime", MNTR_SUMMARY, FOURLW_SUMMARY_FSYNCTIME},
    {"snapshottime", MNTR_SUMMARY, FOURLW_SUMMARY_SNAPSHOTTIME},
    {"unavailable_time", MNTR_SUMMARY, FOURLW_SUMMARY_UNAVAILABLE_TIME},
    {"startup_txns_loaded", MNTR_SUMMARY, FOURLW_SUMMARY_STARTUP_TXNS_LOADED},
    {"dbinittime", MNTR_SUMMARY, FOURLW_SUMMARY_DBINITTIME},
    {"election_time", MNTR_SUMMARY, FOURLW_SUMMARY_ELECTION_TIME},
    {"sync_processor_batch_size", MNTR_SUMMARY, FOURLW_SUMMARY_SYNC_PROCESSOR_BATCH_SIZE},
    {"node_children_watch_count", MNTR_SUMMARY, FOURLW_SUMMARY_NODE_CHILDREN_WATCH_COUNT},
    {"observer_sync_time", MNTR_SUMMARY, FOURLW_SUMMARY_OBSERVER_SYNC_TIME},
    {"node_changed_watch_count", MNTR_SUMMARY, FOURLW_SUMMARY_NODE_CHANGED_WATCH_COUNT},
    {"startup_snap_load_time", MNTR_SUMMARY, FOURLW_SUMMARY_STARTUP_SNAP_LOAD_TIME},
    {"updatelatency", MNTR_SUMMARY_PERCENTILES, FOURLW_SUMMARY_UPDATELATENCY},
    {"readlatency", MNTR_SUMMARY_PERCENTILES, FOURLW_SUMMARY_READLATENCY},
    {"quorum_ack_latency", MNTR_SUMMARY_PERCENTILES, FOURLW_SUMMARY_QUORUM_ACK_LATENCY},
    {"commit_propagation_latency", MNTR_SUMMARY_PERCENTILES,
     FOURLW_SUMMARY_COMMIT_PROPAGATION_LATENCY},
    {"proposal_latency", MNTR_SUMMARY_PERCENTILES, FOURLW_SUMMARY_PROPOSAL_LATENCY},
};

static void put_metric_long(struct jute_writer *out, const char *prefix, const char *name,
                            int64_t value)
{
    put_format(out, "zk_%s%s\t%" PRId64 "\n", prefix, name, value);
}

static void write_summary(struct jute_writer *out, const char *name,
                          const struct fourlw_summary *summary, bool percentiles)
{
    put_format(out, "zk_avg_%s\t", name);
    put_java_double(out, fourlw_average_4dp(summary->sum, summary->count));
    put(out, "\n");
    put_metric_long(out, "min_", name, summary->count > 0 ? summary->min : 0);
    put_metric_long(out, "max_", name, summary->count > 0 ? summary->max : 0);
    put_metric_long(out, "cnt_", name, summary->count);
    put_metric_long(out, "sum_", name, summary->sum);
    if (percentiles) {
        put_metric_long(out, "p50_", name, summary->p50);
        put_metric_long(out, "p95_", name, summary->p95);
        put_metric_long(out, "p99_", name, summary->p99);
        put_metric_long(out, "p999_", name, summary->p999);
    }
}

static int64_t field_at(const void *base, size_t offset)
{
    int64_t value;
    memcpy(&value, (const char *)base + offset, sizeof value);
    return value;
}

static void write_mntr_key(struct jute_writer *out, const struct mntr_key *key,
                           const struct fourlw_server_info *info)
{
    const struct fourlw_metrics *metrics = info->metrics;
    switch (key->kind) {
    case MNTR_VERSION:
        put_format(out, "zk_%s\t", key->name);
        put(out, version_of(info->version));
        put(out, "\n");
        return;
    case MNTR_STATE:
        put_format(out, "zk_%s\t", key->name);
        put(out, info->server_state);
        put(out, "\n");
        return;
    case MNTR_GAUGE:
        put_metric_long(out, "", key->name, field_at(info, key->offset));
        return;
    case MNTR_PEER_STATE:
        if (info->peer_state != NULL) {
            put_format(out, "zk_%s\t", key->name);
            put(out, info->peer_state);
            put(out, "\n");
        }
        return;
    case MNTR_CONNECTIONS:
        put_metric_long(out, "", key->name, info->alive_connections);
        return;
    case MNTR_GAUGE_OPTIONAL:
        if (field_at(info, key->offset) > 0) {
            put_metric_long(out, "", key->name, field_at(info, key->offset));
        }
        return;
    case MNTR_AVG_LATENCY:
        put_format(out, "zk_%s\t", key->name);
        put_java_double(out, fourlw_average_4dp(info->latency.total_ms, info->latency.count));
        put(out, "\n");
        return;
    case MNTR_MIN_LATENCY:
        put_metric_long(out, "", key->name, latency_min(&info->latency));
        return;
    case MNTR_MAX_LATENCY:
        put_metric_long(out, "", key->name, latency_max(&info->latency));
        return;
    case MNTR_LEADER:
        if (info->leader != NULL) {
            put_metric_long(out, "", key->name, field_at(info->leader, key->offset));
        }
        return;
    case MNTR_COUNTER:
        if (metrics != NULL && (metrics->counters_present & (UINT64_C(1) << key->offset)) != 0) {
            put_metric_long(out, "", key->name, metrics->counters[key->offset]);
        }
        return;
    case MNTR_SUMMARY:
    case MNTR_SUMMARY_PERCENTILES:
        if (metrics != NULL && (metrics->summaries_present & (UINT64_C(1) << key->offset)) != 0) {
            write_summary(out, key->name, &metrics->summaries[key->offset],
                          key->kind == MNTR_SUMMARY_PERCENTILES);
        }
        return;
    }
}

void fourlw_write_mntr(struct jute_writer *out, const struct fourlw_server_info *info)
{
    for (size_t index = 0; index < sizeof MNTR_KEYS / sizeof MNTR_KEYS[0]; index++) {
        write_mntr_key(out, &MNTR_KEYS[index], info);
    }
    for (size_t index = 0; index < info->extra_metric_count; index++) {
        put_metric_long(out, "", info->extra_metrics[index].name,
                        info->extra_metrics[index].value);
    }
}

/* ---- watches ---- */

void fourlw_write_wchs(struct jute_writer *out, const struct fourlw_watch_summary *summary)
{
    /* WatchManager.toString, then WatchCommand's println. */
    put_format(out, "%" PRId64 " connections watching %" PRId64 " paths\nTotal watches:%" PRId64
               "\n",
               summary->connection_count, summary->path_count, summary->watch_count);
}

void fourlw_write_wchc(struct jute_writer *out, const struct fourlw_session_paths *sessions,
                       size_t session_count)
{
    for (size_t index = 0; index < session_count; index++) {
        put(out, "0x");
        put_hex(out, sessions[index].session_id);
        put(out, "\n");
        for (size_t path = 0; path < sessions[index].path_count; path++) {
            put(out, "\t");
            put(out, sessions[index].paths[path]);
            put(out, "\n");
        }
    }
    put(out, "\n");
}

void fourlw_write_wchp(struct jute_writer *out, const struct fourlw_path_sessions *paths,
                       size_t path_count)
{
    for (size_t index = 0; index < path_count; index++) {
        put(out, paths[index].path);
        put(out, "\n");
        for (size_t session = 0; session < paths[index].session_count; session++) {
            put(out, "\t0x");
            put_hex(out, paths[index].session_ids[session]);
            put(out, "\n");
        }
    }
    put(out, "\n");
}

/* ---- dump ---- */

/* java.util.Date.toString: "EEE MMM dd HH:mm:ss zzz yyyy" in local time. */
static void put_java_date(struct jute_writer *out, int64_t wall_ms)
{
    time_t seconds = (time_t)(wall_ms / 1000);
    struct tm local;
    char text[64];
    if (localtime_r(&seconds, &local) == NULL ||
        strftime(text, sizeof text, "%a %b %d %H:%M:%S %Z %Y", &local) == 0) {
        put_format(out, "%" PRId64, wall_ms);
        return;
    }
    put(out, text);
}

void fourlw_write_dump(struct jute_writer *out, const struct fourlw_dump_info *dump)
{
    put(out, "SessionTracker dump:\n");
    size_t session_total = 0;
    for (size_t index = 0; index < dump->session_bucket_count; index++) {
        session_total += dump->session_buckets[index].session_count;
    }
    put_format(out, "Session Sets (%zu)/(%zu):\n", dump->session_bucket_count, session_total);
    for (size_t index = 0; index < dump->session_bucket_count; index++) {
        const struct fourlw_session_bucket *bucket = &dump->session_buckets[index];
        put_format(out, "%zu expire at ", bucket->session_count);
        put_java_date(out, bucket->expire_time_ms);
        put(out, ":\n");
        for (size_t session = 0; session < bucket->session_count; session++) {
            put(out, "\t0x");
            put_hex(out, bucket->session_ids[session]);
            put(out, "\n");
        }
    }
    put(out, "ephemeral nodes dump:\n");
    put_format(out, "Sessions with Ephemerals (%zu):\n", dump->ephemeral_session_count);
    for (size_t index = 0; index < dump->ephemeral_session_count; index++) {
        put(out, "0x");
        put_hex(out, dump->ephemerals[index].session_id);
        put(out, ":\n");
        for (size_t path = 0; path < dump->ephemerals[index].path_count; path++) {
            put(out, "\t");
            put(out, dump->ephemerals[index].paths[path]);
            put(out, "\n");
        }
    }
    put(out, "Connections dump:\n");
    size_t connection_total = 0;
    for (size_t index = 0; index < dump->connection_bucket_count; index++) {
        connection_total += dump->connection_buckets[index].connection_count;
    }
    put_format(out, "Connections Sets (%zu)/(%zu):\n", dump->connection_bucket_count,
               connection_total);
    for (size_t index = 0; index < dump->connection_bucket_count; index++) {
        const struct fourlw_connection_bucket *bucket = &dump->connection_buckets[index];
        put_format(out, "%zu expire at ", bucket->connection_count);
        put_java_date(out, bucket->expire_time_ms);
        put(out, ":\n");
        for (size_t conn = 0; conn < bucket->connection_count; conn++) {
            put(out, "\tip: ");
            write_remote(out, &bucket->connections[conn]);
            put(out, " sessionId: 0x");
            put_hex(out, bucket->connections[conn].session_id);
            put(out, "\n");
        }
    }
}
