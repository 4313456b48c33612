/* Four-letter words: the text Apache ZooKeeper 3.8 sends, byte for byte.
 *
 * A new client connection whose first 4 bytes are a known command (see
 * fourlw_lookup) is a four-letter word, not a session
 * (NIOServerCnxn.checkFourLetterWord; only the first 4 bytes of a connection
 * are checked, never bytes after a ConnectRequest). ZooKeeper counts those 4
 * bytes as one received packet. The server then:
 *   - if the whitelist does not enable it (config_4lw_allowed), replies
 *     fourlw_write_not_whitelisted and closes;
 *   - otherwise writes the command's reply with the fourlw_write_* function
 *     below and closes the connection after the reply has gone out.
 * Four bytes that are not a known command are not a four-letter word: they
 * are the length of the first frame (for "xyzw" a length > jute.maxbuffer,
 * so ZooKeeper closes the connection without sending anything).
 * "telnet close" (ff f4 ff fd) is known to ZooKeeper: refused with the
 * whitelist text unless the whitelist is "*", then closed with no output.
 * While the server is not serving (an ensemble member during election)
 * most commands reply fourlw_write_not_serving instead; ruok, envi, gtmk and
 * stmk always answer, isro answers "null" and hash the text without its
 * newline (checked against ZooKeeper 3.8 run as a lone ensemble member).
 * stmk reads 8 more bytes (a big-endian long, the new trace mask) and replies
 * the mask as a decimal number (fourlw_write_gtmk). hash (DigestCommand)
 * lists recent tree digests as "<zxid>: <digest>" lines; with none it sends
 * nothing, which is what Cheetah should send until it keeps digests.
 *
 * The shard gathers the inputs (the structs below) and calls a writer; the
 * writers only format, so they are pure and unit-tested against text
 * captured from the real ZooKeeper 3.8 (tests/unit/test_fourlw.c). All text
 * goes out through jute_write_raw, so a reply larger than the writer's limit
 * latches out->ok = false like any other encoding.
 *
 * Number formats follow Java: longs in decimal, ids and zxids with
 * Long.toHexString (lower case, no leading zeros, two's complement for
 * negatives), doubles with Double.toString (fourlw_format_java_double).
 */
#ifndef CHEETAH_FOURLW_H
#define CHEETAH_FOURLW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jute_writer;
struct cheetah_config;
struct config_conf_runtime;

/* The version every four-letter word reports. It keeps ZooKeeper's "3.8.0"
 * prefix on purpose: zkServer.sh, kazoo (server_version parses envi's
 * zookeeper.version with ^([\d.]+)), Curator and monitoring scripts parse the
 * leading x.y.z to decide which protocol features the server has, and
 * Cheetah speaks exactly 3.8's. What follows the dash says it is Cheetah. */
#ifndef CHEETAH_VERSION_TEXT
#define CHEETAH_VERSION_TEXT "0.1.0"
#endif
#ifndef CHEETAH_BUILD_DATE_TEXT
#define CHEETAH_BUILD_DATE_TEXT __DATE__ " " __TIME__
#endif
#define FOURLW_VERSION "3.8.0-cheetah-" CHEETAH_VERSION_TEXT ", built on " CHEETAH_BUILD_DATE_TEXT

/* Every command ZooKeeper 3.8.0 knows (FourLetterCommands.cmd2String). The
 * order is the bit order of the whitelist in struct cheetah_config. */
enum fourlw_command {
    FOURLW_CONF = 0,
    FOURLW_CONS,
    FOURLW_CRST,
    FOURLW_DIRS,
    FOURLW_DUMP,
    FOURLW_ENVI,
    FOURLW_GTMK,
    FOURLW_RUOK,
    FOURLW_STMK,
    FOURLW_SRST,
    FOURLW_SRVR,
    FOURLW_STAT,
    FOURLW_WCHC,
    FOURLW_WCHP,
    FOURLW_WCHS,
    FOURLW_MNTR,
    FOURLW_ISRO,
    FOURLW_HASH,
    FOURLW_TELNET_CLOSE, /* bytes ff f4 ff fd; name "telnet close" */
    FOURLW_COMMAND_COUNT
};

/* The command these 4 bytes name, or -1 (then it is not a four-letter word). */
int fourlw_lookup(const uint8_t word[4]);
/* The name ZooKeeper uses in messages and the whitelist ("conf", ..., "telnet close"). */
const char *fourlw_name(enum fourlw_command command);
/* The command with this whitelist name (exact, case-sensitive), or -1. */
int fourlw_lookup_name(const char *name, size_t name_bytes);

/* Request latency as ZooKeeper's AvgMinMaxCounter keeps it, in ms. */
struct fourlw_latency {
    int64_t count;
    int64_t total_ms;
    int64_t min_ms; /* ignored when count == 0 (printed as 0) */
    int64_t max_ms; /* ignored when count == 0 (printed as 0) */
};

/* A summary metric (ZooKeeper's AvgMinMaxCounter / AvgMinMaxPercentileCounter). */
struct fourlw_summary {
    int64_t count;
    int64_t sum;
    int64_t min;   /* ignored when count == 0 */
    int64_t max;   /* ignored when count == 0 */
    int64_t p50, p95, p99, p999; /* only for the percentile summaries */
};

/* Counter metrics Cheetah measures the way ZooKeeper does. A counter appears
 * in mntr only when its bit is set in fourlw_metrics.counters_present (the
 * shard sets the bits of what it really counts). */
enum fourlw_counter {
    FOURLW_COUNTER_PROPOSAL_COUNT = 0,
    FOURLW_COUNTER_CONNECTION_REJECTED,
    FOURLW_COUNTER_CNXN_CLOSED_WITHOUT_ZK_SERVER_RUNNING,
    FOURLW_COUNTER_SESSIONLESS_CONNECTIONS_EXPIRED,
    FOURLW_COUNTER_LOOKING_COUNT,
    FOURLW_COUNTER_LEARNER_PROPOSAL_RECEIVED_COUNT,
    FOURLW_COUNTER_DIGEST_MISMATCHES_COUNT,
    FOURLW_COUNTER_BYTES_RECEIVED_COUNT,
    FOURLW_COUNTER_LEARNER_COMMIT_RECEIVED_COUNT,
    FOURLW_COUNTER_CONNECTION_REQUEST_COUNT,
    FOURLW_COUNTER_RESPONSE_BYTES,
    FOURLW_COUNTER_DIFF_COUNT,
    FOURLW_COUNTER_CONNECTION_REVALIDATE_COUNT,
    FOURLW_COUNTER_QUIT_LEADING_DUE_TO_DISLOYAL_VOTER,
    FOURLW_COUNTER_SNAP_COUNT,
    FOURLW_COUNTER_UNRECOVERABLE_ERROR_COUNT,
    FOURLW_COUNTER_UNSUCCESSFUL_HANDSHAKE,
    FOURLW_COUNTER_COMMIT_COUNT,
    FOURLW_COUNTER_STALE_SESSIONS_EXPIRED,
    FOURLW_COUNTER_REVALIDATE_COUNT,
    FOURLW_COUNTER_COUNT
};

/* Summary metrics, same rule (summaries_present). The last five carry
 * percentiles (zk_p50_... zk_p999_...). */
enum fourlw_summary_id {
    FOURLW_SUMMARY_NODE_CREATED_WATCH_COUNT = 0,
    FOURLW_SUMMARY_NODE_DELETED_WATCH_COUNT,
    FOURLW_SUMMARY_STARTUP_TXNS_LOAD_TIME,
    FOURLW_SUMMARY_FOLLOWER_SYNC_TIME,
    FOURLW_SUMMARY_FSYNCTIME,
    FOURLW_SUMMARY_SNAPSHOTTIME,
    FOURLW_SUMMARY_UNAVAILABLE_TIME,
    FOURLW_SUMMARY_STARTUP_TXNS_LOADED,
    FOURLW_SUMMARY_DBINITTIME,
    FOURLW_SUMMARY_ELECTION_TIME,
    FOURLW_SUMMARY_SYNC_PROCESSOR_BATCH_SIZE,
    FOURLW_SUMMARY_NODE_CHILDREN_WATCH_COUNT,
    FOURLW_SUMMARY_OBSERVER_SYNC_TIME,
    FOURLW_SUMMARY_NODE_CHANGED_WATCH_COUNT,
    FOURLW_SUMMARY_STARTUP_SNAP_LOAD_TIME,
    FOURLW_SUMMARY_UPDATELATENCY,       /* with percentiles */
    FOURLW_SUMMARY_READLATENCY,         /* with percentiles */
    FOURLW_SUMMARY_QUORUM_ACK_LATENCY,  /* with percentiles */
    FOURLW_SUMMARY_COMMIT_PROPAGATION_LATENCY, /* with percentiles */
    FOURLW_SUMMARY_PROPOSAL_LATENCY,    /* with percentiles */
    FOURLW_SUMMARY_COUNT
};

struct fourlw_metrics {
    uint64_t counters_present;   /* bit (1 << enum fourlw_counter) */
    int64_t counters[FOURLW_COUNTER_COUNT];
    uint64_t summaries_present;  /* bit (1 << enum fourlw_summary_id) */
    struct fourlw_summary summaries[FOURLW_SUMMARY_COUNT];
};

/* Leader-only gauges (LeaderZooKeeperServer); NULL on other servers. */
struct fourlw_leader_info {
    int64_t learners;
    int64_t synced_followers;
    int64_t synced_non_voting_followers;
    int64_t synced_observers;
    int64_t pending_syncs;
    int64_t leader_uptime_ms;
    int64_t last_proposal_size_bytes; /* -1 before the first proposal */
    int64_t min_proposal_size_bytes;  /* -1 before the first proposal */
    int64_t max_proposal_size_bytes;  /* -1 before the first proposal */
};

/* A line Cheetah adds to mntr after ZooKeeper's keys ("zk_<name>\t<value>"),
 * e.g. the DPDK transport's zk_dpdk_* counters. */
struct fourlw_extra_metric {
    char name[64];
    int64_t value;
};

/* What srvr, stat and mntr report about the server. */
struct fourlw_server_info {
    const char *version;          /* NULL = FOURLW_VERSION */
    const char *server_state;     /* "standalone", "leader", "follower", "observer", "read-only" */
    const char *peer_state;       /* ensemble only, else NULL: QuorumPeer state and ZAB phase,
                                     "leading - broadcast", "following - broadcast",
                                     "looking - ..." */
    int64_t quorum_size;          /* ensemble only (voting members), else 0: key omitted */
    bool read_only;               /* adds "READ-ONLY mode; serving only read-only clients" */
    int64_t last_processed_zxid;
    int64_t node_count;
    struct fourlw_latency latency; /* every request since start or srst */
    int64_t packets_received;     /* since start or srst */
    int64_t packets_sent;
    int64_t outstanding_requests;
    int32_t alive_connections;    /* every open client connection, 4lw ones included */
    int64_t watch_count;          /* data + child watches (mntr zk_watch_count) */
    int64_t ephemerals_count;
    int64_t approximate_data_size; /* sum over znodes of path length + data length */
    int64_t open_file_descriptor_count; /* <= 0: unknown, key omitted */
    int64_t max_file_descriptor_count;  /* <= 0: unknown, key omitted */
    int64_t uptime_ms;
    int64_t global_sessions;
    int64_t local_sessions;
    int64_t auth_failed_count;
    /* Client response sizes (BufferStats): -1 until the first response. */
    int64_t last_client_response_size;
    int64_t min_client_response_size;
    int64_t max_client_response_size;
    const struct fourlw_leader_info *leader; /* NULL unless leader */
    const struct fourlw_metrics *metrics;    /* NULL = no counters/summaries */
    const struct fourlw_extra_metric *extra_metrics; /* mntr's last lines; NULL = none */
    size_t extra_metric_count;
};

/* One client connection as `cons` / `stat` / `dump` show it. */
struct fourlw_connection_info {
    char remote_address[64];      /* numeric, as Java prints it: "127.0.0.1" or
                                     "0:0:0:0:0:0:0:1" (printed in [] with the port) */
    uint16_t remote_port;
    uint32_t interest_ops;        /* NIO SelectionKey ops: 1 read, 4 write; 0 while a 4lw runs */
    int64_t queued;               /* outstanding requests */
    int64_t packets_received;
    int64_t packets_sent;
    int64_t session_id;           /* 0 = no session yet: the long fields below are omitted */
    const char *last_operation;   /* "GETD", "NA", ... (ServerCnxn short names) */
    int64_t established_ms;       /* wall clock, ms since the epoch */
    int32_t session_timeout_ms;
    int64_t last_cxid;            /* < 0: lcxid omitted */
    int64_t last_zxid;
    int64_t last_response_time_ms; /* monotonic ms (ZooKeeper's Time.currentElapsedTime) */
    int64_t last_latency_ms;
    int64_t latency_count;        /* min/avg/max: avg = total / count (integer), 0 if none */
    int64_t latency_total_ms;
    int64_t latency_min_ms;
    int64_t latency_max_ms;
};

/* Data-watch summary for wchs (ZooKeeper counts data watches only there). */
struct fourlw_watch_summary {
    int64_t connection_count; /* sessions with at least one data watch */
    int64_t path_count;       /* paths with at least one data watch */
    int64_t watch_count;      /* (session, path) data watches */
};

/* wchc input: one session and the paths it watches (data watches). */
struct fourlw_session_paths {
    int64_t session_id;
    const char *const *paths;
    size_t path_count;
};

/* wchp input: one path and the sessions watching it (data watches). */
struct fourlw_path_sessions {
    const char *path;
    const int64_t *session_ids;
    size_t session_count;
};

/* dump input: one expiry bucket of the session tracker. ZooKeeper prints the
 * buckets sorted by expire time, earliest first: pass them in that order. */
struct fourlw_session_bucket {
    int64_t expire_time_ms;       /* wall clock, printed as Java's Date.toString */
    const int64_t *session_ids;
    size_t session_count;
};

/* dump input: one expiry bucket of the connection tracker. */
struct fourlw_connection_bucket {
    int64_t expire_time_ms;       /* wall clock */
    const struct fourlw_connection_info *connections; /* address, port, session_id used */
    size_t connection_count;
};

struct fourlw_dump_info {
    const struct fourlw_session_bucket *session_buckets;
    size_t session_bucket_count;
    const struct fourlw_session_paths *ephemerals; /* session -> its ephemeral paths */
    size_t ephemeral_session_count;
    const struct fourlw_connection_bucket *connection_buckets;
    size_t connection_bucket_count;
};

/* envi input. ZooKeeper's java.* and os.memory.* entries describe the JVM and
 * are omitted; the others keep ZooKeeper's names and order. */
struct fourlw_environment {
    const char *version;     /* NULL = FOURLW_VERSION */
    const char *host_name;
    const char *os_name;     /* "Linux" */
    const char *os_arch;     /* "amd64" as Java names x86_64 */
    const char *os_version;
    const char *user_name;
    const char *user_home;
    const char *user_dir;
};
/* Fills `environment` from uname(2), getpwuid(3), getcwd(3) into `storage`
 * (storage_bytes long, 2048 is enough). Fields that cannot be read are "". */
void fourlw_environment_collect(struct fourlw_environment *environment, char *storage,
                                size_t storage_bytes);

/* ZooKeeper's getDirSize: the sum of the sizes of the regular files under
 * `path` (recursively, at most 8 levels deep), 0 when it cannot be read. For
 * dirs and conf: dataDir/version-2 and dataLogDir/version-2. */
int64_t fourlw_directory_size_bytes(const char *path);

/* Replies. Each writes exactly what ZooKeeper 3.8 writes for that command. */
void fourlw_write_not_whitelisted(struct jute_writer *out, enum fourlw_command command);
void fourlw_write_not_serving(struct jute_writer *out);
void fourlw_write_ruok(struct jute_writer *out);                 /* "imok" */
void fourlw_write_isro(struct jute_writer *out, bool read_only); /* "rw" or "ro" */
void fourlw_write_isro_not_serving(struct jute_writer *out);     /* "null" */
/* DigestCommand prints the not-serving text without a newline. */
void fourlw_write_hash_not_serving(struct jute_writer *out);
void fourlw_write_srvr(struct jute_writer *out, const struct fourlw_server_info *info);
void fourlw_write_stat(struct jute_writer *out, const struct fourlw_server_info *info,
                       const struct fourlw_connection_info *connections, size_t connection_count);
void fourlw_write_cons(struct jute_writer *out, const struct fourlw_connection_info *connections,
                       size_t connection_count);
/* One connection line without its newline; brief = stat's short form. For a
 * shard that streams its connections into a shared reply (end each with "\n",
 * then one more "\n" after the last, as cons does). */
void fourlw_write_connection(struct jute_writer *out, const struct fourlw_connection_info *conn,
                             bool brief);
void fourlw_write_crst(struct jute_writer *out); /* "Connection stats reset.\n" */
void fourlw_write_srst(struct jute_writer *out); /* "Server stats reset.\n" */
void fourlw_write_dirs(struct jute_writer *out, int64_t data_dir_size_bytes,
                       int64_t log_dir_size_bytes);
void fourlw_write_envi(struct jute_writer *out, const struct fourlw_environment *environment);
/* conf: config_write_conf (config.h) writes it; this forwards. */
void fourlw_write_conf(struct jute_writer *out, const struct cheetah_config *config,
                       const struct config_conf_runtime *runtime);
void fourlw_write_mntr(struct jute_writer *out, const struct fourlw_server_info *info);
void fourlw_write_wchs(struct jute_writer *out, const struct fourlw_watch_summary *summary);
void fourlw_write_wchc(struct jute_writer *out, const struct fourlw_session_paths *sessions,
                       size_t session_count);
void fourlw_write_wchp(struct jute_writer *out, const struct fourlw_path_sessions *paths,
                       size_t path_count);
void fourlw_write_dump(struct jute_writer *out, const struct fourlw_dump_info *dump);
/* gtmk: ZooKeeper's trace mask (its default is 306); Cheetah has no tracing,
 * so it reports the mask it was set to by stmk, which changes nothing. */
void fourlw_write_gtmk(struct jute_writer *out, int64_t trace_mask);

/* Java's Double.toString(value) into `text` (text_bytes >= 32). Returns the length. */
size_t fourlw_format_java_double(double value, char *text, size_t text_bytes);
/* ZooKeeper's AvgMinMaxCounter.getAvg: total/count rounded HALF_UP to 4 decimals. */
double fourlw_average_4dp(int64_t total, int64_t count);

#endif
