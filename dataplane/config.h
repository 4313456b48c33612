/* Configuration: ZooKeeper's zoo.cfg, read unchanged.
 *
 * `cheetah-server [zoo.cfg]` takes ZooKeeper 3.8's keys with ZooKeeper's
 * defaults and meanings (QuorumPeerConfig.parseProperties and the
 * `zookeeper.<key>` system properties that zoo.cfg's other keys become),
 * plus Cheetah's own `cheetah.*` keys.
 *
 * Use:
 *     struct cheetah_config config;
 *     config_defaults(&config);                  // no file: 127.0.0.1:2181, ./data
 *     if (path && config_load_file(&config, path, error, sizeof error, warn, ctx) != 0)
 *         fail(error);
 *     if (config_finish(&config, error, sizeof error) != 0)
 *         fail(error);
 *
 * Every error message names the key, the value and what is expected, e.g.
 *     zoo.cfg:3: tickTime = 'abc': expected a whole number of milliseconds (1 to 2147483647)
 * Warnings (unknown keys, values ZooKeeper corrects, keys that have no effect
 * in Cheetah) go through the `warn` callback, one complete line each; the
 * parser prints nothing itself.
 *
 * The parser reads the file as java.util.Properties does (ZooKeeper loads
 * zoo.cfg with Properties.load and then trims every key and value):
 *   - a line whose first non-blank character is '#' or '!' is a comment;
 *   - leading blanks (space, tab, form feed) of a line are skipped;
 *   - the key ends at the first unescaped '=', ':' or blank; blanks around
 *     the separator are skipped, and `key value` (blank only) also works;
 *   - a line ending in an odd number of backslashes continues on the next
 *     line, whose leading blanks are skipped (comment lines never continue);
 *   - escapes \t \n \r \f \uXXXX and \<any other char> (= that char) in keys
 *     and values; line ends are \n, \r or \r\n;
 *   - a repeated key: the last one wins (Properties is a map);
 *   - finally key and value are trimmed as Java's String.trim() does (every
 *     char <= ' ' at either end).
 */
#ifndef CHEETAH_CONFIG_H
#define CHEETAH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jute_writer;

/* Named limits. A config that exceeds one is refused with a message. */
#define CONFIG_PATH_BYTES_MAX 1024u     /* dataDir, dataLogDir, file names */
#define CONFIG_HOST_BYTES_MAX 256u      /* host names and addresses */
#define CONFIG_TEXT_BYTES_MAX 512u      /* other string values (superDigest, class names) */
#define CONFIG_SERVERS_MAX 255u         /* server.N entries (ids 1..255 with extended types) */
#define CONFIG_SHARDS_MAX 256u          /* cheetah.shards */
#define CONFIG_FILE_BYTES_MAX (1u << 20) /* a zoo.cfg larger than 1 MiB is refused */
#define CONFIG_LINE_BYTES_MAX 16384u     /* one logical line (after continuations) */
#define CONFIG_WARNING_BYTES_MAX 512u    /* one warning line */

/* ZooKeeper's defaults (ZooKeeperServer, QuorumPeerConfig, system properties). */
#define CONFIG_DEFAULT_TICK_TIME_MS 3000
#define CONFIG_DEFAULT_CLIENT_PORT 2181
#define CONFIG_DEFAULT_MAX_CLIENT_CNXNS 60
#define CONFIG_DEFAULT_SNAP_RETAIN_COUNT 3
#define CONFIG_MIN_SNAP_RETAIN_COUNT 3
#define CONFIG_DEFAULT_SNAP_COUNT 100000
#define CONFIG_DEFAULT_PREALLOC_SIZE_KB 65536
#define CONFIG_DEFAULT_GLOBAL_OUTSTANDING_LIMIT 1000
#define CONFIG_DEFAULT_ADMIN_SERVER_PORT 8080
#define CONFIG_DEFAULT_CONTAINER_CHECK_INTERVAL_MS 60000
#define CONFIG_DEFAULT_CONTAINER_MAX_PER_MINUTE 10000
#define CONFIG_DEFAULT_ELECTION_ALG 3

enum config_peer_type {
    CONFIG_PEER_PARTICIPANT = 0, /* the ordinal ZooKeeper's `conf` prints (LearnerType) */
    CONFIG_PEER_OBSERVER = 1,
};

enum config_dataplane {
    CONFIG_DATAPLANE_URING = 0,
    CONFIG_DATAPLANE_DPDK = 1, /* DPDK RX/TX queue pair and TCP/IP per shard */
};

/* cheetah.dpdk.* (only read with cheetah.dataplane=dpdk). Limits and defaults: */
#define CONFIG_DPDK_EAL_ARGS_BYTES_MAX 1024u
#define CONFIG_DPDK_DEFAULT_NETMASK 0xffffff00u /* 255.255.255.0 */
#define CONFIG_DPDK_DEFAULT_MTU 1500u
#define CONFIG_DPDK_MTU_MIN 576u                /* NETSTACK_MTU_MIN */
#define CONFIG_DPDK_MTU_MAX 9000u               /* NETSTACK_MTU_MAX */
#define CONFIG_DPDK_DEFAULT_DESCRIPTORS 1024u
#define CONFIG_DPDK_DESCRIPTORS_MIN 64u
#define CONFIG_DPDK_DESCRIPTORS_MAX 32768u
#define CONFIG_DPDK_DEFAULT_MBUF_POOL_SIZE 8191u /* 2^n - 1: the mempool's best size */
#define CONFIG_DPDK_MBUF_POOL_SIZE_MAX (1u << 24)
#define CONFIG_DPDK_SYN_BACKLOG_MAX (1u << 20)
#define CONFIG_DPDK_PORTS_MAX 1024u              /* RTE_MAX_ETHPORTS is far smaller */

struct config_dpdk {
    /* The EAL command line, space-separated ("" = not set: an error with dpdk). */
    char eal_args[CONFIG_DPDK_EAL_ARGS_BYTES_MAX];
    uint16_t port;                 /* cheetah.dpdk.port: the port index, 0 */
    uint32_t ipv4_address;         /* host order; 0 = not set (required with dpdk) */
    uint32_t ipv4_netmask;         /* host order, contiguous ones, 255.255.255.0 */
    uint32_t ipv4_gateway;         /* host order, 0 = none (only on-link clients) */
    uint16_t mtu;                  /* IPv4 MTU, 1500 */
    uint16_t rx_descriptors;       /* per queue, 1024 */
    uint16_t tx_descriptors;       /* per queue, 1024 */
    uint32_t mbuf_pool_size;       /* mbufs per shard, 8191 */
    uint32_t syn_backlog;          /* half-open connections per shard; 0 = the netstack's */
    int64_t keepalive_idle_ms;     /* -1 = the netstack's default, 0 = no keepalive */
};

/* server.N=host:quorumPort:electionPort[:participant|observer][;[clientAddr:]clientPort] */
struct config_server {
    int64_t id;
    char host[CONFIG_HOST_BYTES_MAX];   /* without [] for IPv6 */
    uint16_t quorum_port;
    uint16_t election_port;
    enum config_peer_type type;
    bool has_client;                    /* the ";[clientAddr:]clientPort" part was given */
    char client_host[CONFIG_HOST_BYTES_MAX]; /* "0.0.0.0" when only the port was given */
    uint16_t client_port;
};

/* About 135 KB (the server table): keep it static or on the heap. */
struct cheetah_config {
    /* True once config_load_file succeeded: decides the no-file defaults. */
    bool file_given;
    char file_path[CONFIG_PATH_BYTES_MAX];

    /* Time and quorum timing. */
    int32_t tick_time_ms;            /* tickTime, 3000 */
    int32_t init_limit_ticks;        /* initLimit, 0 = not set (required in an ensemble) */
    int32_t sync_limit_ticks;        /* syncLimit, 0 = not set (required in an ensemble) */
    int32_t connect_to_learner_master_limit_ticks; /* 0 = initLimit */

    /* Storage. */
    char data_dir[CONFIG_PATH_BYTES_MAX];     /* dataDir; "./data" without a file */
    char data_log_dir[CONFIG_PATH_BYTES_MAX]; /* dataLogDir; config_finish: = dataDir */
    bool data_log_dir_set;
    int64_t snap_count;              /* snapCount, 100000 (ZooKeeper raises < 2 to 2) */
    int64_t prealloc_size_kb;        /* preAllocSize, 65536 KB */
    bool force_sync;                 /* forceSync yes|no, yes */
    int32_t autopurge_snap_retain_count;   /* autopurge.snapRetainCount, 3 (minimum 3) */
    int32_t autopurge_purge_interval_hours; /* autopurge.purgeInterval, 0 = off */

    /* Client side. */
    uint16_t client_port;            /* clientPort; 2181 without a file; 0 = not set */
    char client_port_address[CONFIG_HOST_BYTES_MAX]; /* clientPortAddress; see config_finish */
    bool client_port_address_set;
    int32_t client_port_listen_backlog; /* clientPortListenBacklog, -1 = system default */
    int32_t max_client_cnxns;        /* maxClientCnxns per IP, 60, 0 = unlimited */
    int32_t min_session_timeout_ms;  /* minSessionTimeout, -1 until config_finish: 2*tickTime */
    int32_t max_session_timeout_ms;  /* maxSessionTimeout, -1 until config_finish: 20*tickTime */
    int32_t global_outstanding_limit; /* globalOutstandingLimit, 1000 */
    /* jute.maxbuffer, 1048575. ZooKeeper reads it only from the JVM flag
     * -Djute.maxbuffer (zoo.cfg's copy becomes zookeeper.jute.maxbuffer, which
     * jute ignores); Cheetah has no JVM, so zoo.cfg is where it is set. */
    uint32_t jute_maxbuffer_bytes;
    bool local_sessions_enabled;     /* localSessionsEnabled, false */
    bool local_sessions_upgrading_enabled; /* localSessionsUpgradingEnabled, false */

    /* Ensemble. */
    struct config_server servers[CONFIG_SERVERS_MAX];
    uint32_t server_count;
    /* The version of the configuration `servers` holds: the hex suffix of
     * dynamicConfigFile's name (zoo.cfg.dynamic.<hex>, ZooKeeper's
     * getVersionFromFilename; 0 when the name has no such suffix), and 0
     * when the servers come from zoo.cfg's own server.N lines. */
    int64_t config_version;
    enum config_peer_type peer_type; /* peerType, participant */
    int32_t election_alg;            /* electionAlg, only 3 */
    bool standalone_enabled;         /* standaloneEnabled, true */
    bool reconfig_enabled;           /* reconfigEnabled, false */
    bool quorum_listen_on_all_ips;   /* quorumListenOnAllIPs, false */
    bool sync_enabled;               /* syncEnabled (observers log to disk), true */
    int32_t observer_master_port;    /* observerMasterPort, 0 = not set */
    /* Set by config_finish: an ensemble (ZooKeeper's isDistributed()): servers
     * are listed and either standaloneEnabled=false or more than one votes. */
    bool distributed;

    /* Features and behaviour. */
    bool extended_types_enabled;     /* extendedTypesEnabled, false (TTL nodes) */
    bool skip_acl;                   /* skipACL yes|no, no */
    /* readonlymode.enabled, false. A JVM flag in ZooKeeper (the zoo.cfg key
     * has no effect there); Cheetah takes it from zoo.cfg. */
    bool readonly_mode_enabled;
    bool digest_enabled;             /* digest.enabled, true */
    bool admin_enable_server;        /* admin.enableServer, true (Cheetah has none yet) */
    int32_t admin_server_port;       /* admin.serverPort, 8080 */
    int64_t container_check_interval_ms;      /* znode.container.checkIntervalMs, 60000 */
    int64_t container_max_per_minute;         /* znode.container.maxPerMinute, 10000 */
    int64_t container_max_never_used_interval_ms; /* znode.container.maxNeverUsedIntervalMs, 0 */
    char super_digest[CONFIG_TEXT_BYTES_MAX]; /* DigestAuthenticationProvider.superDigest, "" = none */
    char metrics_provider_class_name[CONFIG_TEXT_BYTES_MAX]; /* metricsProvider.className */

    /* 4lw.commands.whitelist, as a bit set over enum fourlw_command (fourlw.h).
     * config_finish adds srvr always and isro when readonlymode.enabled. */
    uint32_t fourlw_whitelist;

    /* Cheetah's own keys. */
    enum config_dataplane dataplane; /* cheetah.dataplane=uring|dpdk, uring */
    uint32_t shards;                 /* cheetah.shards; 0 until config_finish: cores-1, >= 1 */
    struct config_dpdk dpdk;         /* cheetah.dpdk.* */
};

typedef void config_warn_fn(void *ctx, const char *message);

/* The no-file defaults: ZooKeeper's defaults plus clientPort 2181,
 * clientPortAddress 127.0.0.1 and dataDir ./data. */
void config_defaults(struct cheetah_config *config);

/* Reads zoo.cfg at `path` over the current values. Returns 0, or -1 with a
 * message in `error` (naming the file, line, key, value and what is expected).
 * `warn` may be NULL. A value that ZooKeeper refuses, or a feature Cheetah
 * does not have yet (TLS: secureClientPort;
 * multiple addresses; hierarchical quorums; SASL between servers) is an
 * error.
 * dynamicConfigFile=<path> (wherever it stands in zoo.cfg) names the file
 * that lists the servers (dynamic_config.h writes it): only server.N lines
 * are allowed there (a version line or any other key is an error), its name's
 * .dynamic.<hex> suffix gives config_version, and zoo.cfg must then have no
 * server.N lines of its own. */
int config_load_file(struct cheetah_config *config, const char *path, char *error,
                     size_t error_bytes, config_warn_fn *warn, void *warn_ctx);

/* Parses zoo.cfg text already in memory (what config_load_file does after
 * reading the file); `source_name` prefixes messages. For tests and tools. */
int config_load_text(struct cheetah_config *config, const char *source_name, const char *text,
                     size_t text_bytes, char *error, size_t error_bytes, config_warn_fn *warn,
                     void *warn_ctx);

/* Derived defaults and cross-key checks, after loading: dataLogDir = dataDir,
 * min/maxSessionTimeout = 2/20 * tickTime, clientPortAddress (0.0.0.0 when a
 * file was given without it, 127.0.0.1 without a file), cheetah.shards
 * (online cores - 1, at least 1), whitelist additions, `distributed`.
 * Errors: dataDir missing when a file was given, min > max session timeout,
 * cheetah.dataplane=dpdk without cheetah.dpdk.eal_args or
 * cheetah.dpdk.ipv4_address, a gateway outside the subnet, an mbuf pool
 * smaller than the descriptors it must fill,
 * clientPortAddress without clientPort, no client port at all, initLimit or
 * syncLimit missing in an ensemble. Returns 0 or -1 with `error`. */
int config_finish(struct cheetah_config *config, char *error, size_t error_bytes);

/* True when the four-letter word `word` (its 4 bytes as received) is a
 * command ZooKeeper knows and the whitelist enables it. An unknown word
 * returns false; it is not a four-letter word at all (fourlw_lookup). */
bool config_4lw_allowed(const struct cheetah_config *config, const uint8_t word[4]);

/* Writes a message into `error` (when there is room); the config and
 * dynamic config readers' one way to say what went wrong. */
void config_error(char *error, size_t error_bytes, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* The server.N entry with this id, or NULL. */
const struct config_server *config_find_server(const struct cheetah_config *config, int64_t id);

/* What the `conf` four-letter word prints besides the config itself. */
struct config_conf_runtime {
    int64_t data_dir_size_bytes;  /* sum of file sizes in dataDir/version-2 */
    int64_t log_dir_size_bytes;   /* sum of file sizes in dataLogDir/version-2 */
    int64_t server_id;            /* myid; 0 when standalone */
    int64_t quorum_config_version; /* ensemble only: the zxid of the last config */
    const char *working_dir;      /* base for a relative dataDir (ZooKeeper prints absolute
                                     paths); NULL = getcwd() */
    /* Ensemble only: the active configuration's text (server.N lines and
     * version=, as reconfig left it); NULL: zoo.cfg's server lines and
     * quorum_config_version. */
    const char *membership_text;
};

/* Writes the `conf` reply exactly as ZooKeeper 3.8 does (ZooKeeperServer.dumpConf,
 * plus QuorumZooKeeperServer's lines in an ensemble):
 *     clientPort=2181\nsecureClientPort=-1\ndataDir=<abs>/version-2\n...serverId=0\n */
void config_write_conf(const struct cheetah_config *config,
                       const struct config_conf_runtime *runtime, struct jute_writer *out);

#endif
