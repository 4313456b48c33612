/* zoo.cfg: a java.util.Properties reader and ZooKeeper 3.8's keys.
 * See config.h for the syntax and the API. */
#include "dataplane/config.h"

#include "dataplane/fourlw.h"
#include "jute/jute.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Where we are while applying one key: for messages. */
struct config_parse {
    struct cheetah_config *config;
    const char *source_name;
    unsigned line_number;
    char *error;
    size_t error_bytes;
    config_warn_fn *warn;
    void *warn_ctx;
    /* Scratch for one logical line's key and value (3 bytes per input byte
     * for \uXXXX), allocated by config_load_text. */
    char *key_buffer;
    char *value_buffer;
    /* True while reading a dynamic config file (zoo.cfg.dynamic.<hex>):
     * only server.N lines are allowed there. */
    bool dynamic_file;
    /* zoo.cfg's dynamicConfigFile=<path> ("" = none) and its line: the file
     * is read after the whole of zoo.cfg, so the key order does not matter. */
    char dynamic_file_path[CONFIG_PATH_BYTES_MAX];
    unsigned dynamic_file_line;
    /* The first server.N line of this text (0 = none), for the message
     * when zoo.cfg has both server lines and dynamicConfigFile. */
    unsigned first_server_line;
    char first_server_key[64];
};

void config_error(char *error, size_t error_bytes, const char *format, ...)
{
    if (error == NULL || error_bytes == 0) {
        return;
    }
    va_list args;
    va_start(args, format);
    vsnprintf(error, error_bytes, format, args);
    va_end(args);
}

/* "<file>:<line>: <key> = '<value>': expected <what>" */
static int fail_value(struct config_parse *parse, const char *key, const char *value,
                      const char *expected)
{
    config_error(parse->error, parse->error_bytes, "%s:%u: %s = '%s': expected %s",
              parse->source_name, parse->line_number, key, value, expected);
    return -1;
}

static int fail_text(struct config_parse *parse, const char *key, const char *value,
                     const char *message)
{
    config_error(parse->error, parse->error_bytes, "%s:%u: %s = '%s': %s", parse->source_name,
              parse->line_number, key, value, message);
    return -1;
}

static void warn_line(struct config_parse *parse, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static void warn_line(struct config_parse *parse, const char *format, ...)
{
    if (parse->warn == NULL) {
        return;
    }
    char message[CONFIG_WARNING_BYTES_MAX];
    int prefix = snprintf(message, sizeof message, "%s:%u: ", parse->source_name,
                          parse->line_number);
    if (prefix < 0 || (size_t)prefix >= sizeof message) {
        prefix = 0;
    }
    va_list args;
    va_start(args, format);
    vsnprintf(message + prefix, sizeof message - (size_t)prefix, format, args);
    va_end(args);
    parse->warn(parse->warn_ctx, message);
}

static bool copy_text(char *destination, size_t destination_bytes, const char *source)
{
    size_t length = strlen(source);
    if (length >= destination_bytes) {
        return false;
    }
    memcpy(destination, source, length + 1);
    return true;
}

void config_defaults(struct cheetah_config *config)
{
    memset(config, 0, sizeof *config);
    config->tick_time_ms = CONFIG_DEFAULT_TICK_TIME_MS;
    copy_text(config->data_dir, sizeof config->data_dir, "./data");
    config->snap_count = CONFIG_DEFAULT_SNAP_COUNT;
    config->prealloc_size_kb = CONFIG_DEFAULT_PREALLOC_SIZE_KB;
    config->force_sync = true;
    config->autopurge_snap_retain_count = CONFIG_DEFAULT_SNAP_RETAIN_COUNT;
    config->autopurge_purge_interval_hours = 0;
    config->client_port = CONFIG_DEFAULT_CLIENT_PORT;
    config->client_port_listen_backlog = -1;
    config->max_client_cnxns = CONFIG_DEFAULT_MAX_CLIENT_CNXNS;
    config->min_session_timeout_ms = -1;
    config->max_session_timeout_ms = -1;
    config->global_outstanding_limit = CONFIG_DEFAULT_GLOBAL_OUTSTANDING_LIMIT;
    config->jute_maxbuffer_bytes = JUTE_MAXBUFFER_DEFAULT_BYTES;
    config->peer_type = CONFIG_PEER_PARTICIPANT;
    config->election_alg = CONFIG_DEFAULT_ELECTION_ALG;
    config->standalone_enabled = true;
    config->reconfig_enabled = false;
    config->sync_enabled = true;
    config->digest_enabled = true;
    config->admin_enable_server = true;
    config->admin_server_port = CONFIG_DEFAULT_ADMIN_SERVER_PORT;
    config->container_check_interval_ms = CONFIG_DEFAULT_CONTAINER_CHECK_INTERVAL_MS;
    config->container_max_per_minute = CONFIG_DEFAULT_CONTAINER_MAX_PER_MINUTE;
    config->container_max_never_used_interval_ms = 0;
    config->dataplane = CONFIG_DATAPLANE_URING;
    config->shards = 0;
    config->dpdk.ipv4_netmask = CONFIG_DPDK_DEFAULT_NETMASK;
    config->dpdk.mtu = CONFIG_DPDK_DEFAULT_MTU;
    config->dpdk.rx_descriptors = CONFIG_DPDK_DEFAULT_DESCRIPTORS;
    config->dpdk.tx_descriptors = CONFIG_DPDK_DEFAULT_DESCRIPTORS;
    config->dpdk.mbuf_pool_size = CONFIG_DPDK_DEFAULT_MBUF_POOL_SIZE;
    config->dpdk.keepalive_idle_ms = -1;
}

/* ---- value parsers (Java's Integer.parseInt / Long.parseLong rules) ---- */

static bool parse_long_text(const char *value, int64_t *result)
{
    const char *cursor = value;
    bool negative = false;
    if (*cursor == '+' || *cursor == '-') {
        negative = *cursor == '-';
        cursor++;
    }
    if (*cursor == '\0') {
        return false;
    }
    uint64_t magnitude = 0;
    const uint64_t limit = negative ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    for (; *cursor != '\0'; cursor++) {
        if (*cursor < '0' || *cursor > '9') {
            return false;
        }
        uint64_t digit = (uint64_t)(*cursor - '0');
        if (magnitude > (limit - digit) / 10u) {
            return false;
        }
        magnitude = magnitude * 10u + digit;
    }
    *result = negative ? (int64_t)(0u - magnitude) : (int64_t)magnitude;
    return true;
}

static int parse_int64(struct config_parse *parse, const char *key, const char *value,
                       int64_t minimum, int64_t maximum, const char *expected, int64_t *result)
{
    int64_t parsed;
    if (!parse_long_text(value, &parsed) || parsed < minimum || parsed > maximum) {
        return fail_value(parse, key, value, expected);
    }
    *result = parsed;
    return 0;
}

static int parse_int32(struct config_parse *parse, const char *key, const char *value,
                       int32_t minimum, int32_t maximum, const char *expected, int32_t *result)
{
    int64_t parsed;
    if (parse_int64(parse, key, value, minimum, maximum, expected, &parsed) != 0) {
        return -1;
    }
    *result = (int32_t)parsed;
    return 0;
}

static int parse_port(struct config_parse *parse, const char *key, const char *value,
                      uint16_t *result)
{
    int32_t port;
    if (parse_int32(parse, key, value, 1, 65535, "a TCP port number (1 to 65535)", &port) != 0) {
        return -1;
    }
    *result = (uint16_t)port;
    return 0;
}

/* QuorumPeerConfig.parseBoolean and Boolean.parseBoolean: true/false, any case. */
static int parse_bool(struct config_parse *parse, const char *key, const char *value,
                      bool *result)
{
    if (strcasecmp(value, "true") == 0) {
        *result = true;
        return 0;
    }
    if (strcasecmp(value, "false") == 0) {
        *result = false;
        return 0;
    }
    return fail_value(parse, key, value, "true or false");
}

/* forceSync and skipACL are compared with "yes"/"no" by ZooKeeper. */
static int parse_yes_no(struct config_parse *parse, const char *key, const char *value,
                        bool *result)
{
    if (strcmp(value, "yes") == 0) {
        *result = true;
        return 0;
    }
    if (strcmp(value, "no") == 0) {
        *result = false;
        return 0;
    }
    return fail_value(parse, key, value, "yes or no");
}

static int parse_path(struct config_parse *parse, const char *key, const char *value,
                      char *destination, size_t destination_bytes)
{
    if (value[0] == '\0') {
        return fail_value(parse, key, value, "a directory path");
    }
    if (!copy_text(destination, destination_bytes, value)) {
        return fail_text(parse, key, value, "path too long (the limit is 1023 bytes)");
    }
    return 0;
}

/* ---- server.N ---- */

/* ConfigUtils.getHostAndPort: "[v6]:a:b" or "host:a:b"; splits on ':'.
 * Writes up to parts_max pointers into `text` (modified). Returns the count,
 * or -1 on a bad bracket form. */
static int split_host_and_port(char *text, char **parts, int parts_max)
{
    int count = 0;
    char *cursor = text;
    if (*cursor == '[') {
        char *close = strchr(cursor, ']');
        if (close == NULL) {
            return -1;
        }
        *close = '\0';
        parts[count++] = cursor + 1;
        cursor = close + 1;
        if (*cursor == '\0') {
            return count;
        }
        if (*cursor != ':') {
            return -1;
        }
        cursor++;
    }
    for (;;) {
        if (count == parts_max) {
            return parts_max + 1; /* too many */
        }
        parts[count++] = cursor;
        char *colon = strchr(cursor, ':');
        if (colon == NULL) {
            return count;
        }
        *colon = '\0';
        cursor = colon + 1;
    }
}

static const char SERVER_WRONG_FORMAT[] =
    "the form host:quorumPort:electionPort[:participant|observer][;[clientAddress:]clientPort]";

static int parse_server(struct config_parse *parse, const char *key, const char *value)
{
    struct cheetah_config *config = parse->config;
    int64_t id;
    if (!parse_long_text(key + strlen("server."), &id) || id < 0) {
        config_error(parse->error, parse->error_bytes,
                  "%s:%u: %s = '%s': '%s' is not a server id: expected server.N with N a "
                  "whole number >= 0",
                  parse->source_name, parse->line_number, key, value, key + strlen("server."));
        return -1;
    }
    if (strchr(value, '|') != NULL) {
        return fail_text(parse, key, value,
                         "several addresses for one server (multiAddress) are not supported "
                         "yet; give one host:quorumPort:electionPort");
    }
    if (config_find_server(config, id) != NULL) {
        return fail_text(parse, key, value, "this server id is listed twice");
    }
    if (config->server_count >= CONFIG_SERVERS_MAX) {
        return fail_text(parse, key, value, "too many servers (the limit is 255)");
    }
    char text[CONFIG_LINE_BYTES_MAX];
    if (!copy_text(text, sizeof text, value)) {
        return fail_value(parse, key, value, SERVER_WRONG_FORMAT);
    }
    char *client_part = NULL;
    char *semicolon = strchr(text, ';');
    if (semicolon != NULL) {
        *semicolon = '\0';
        client_part = semicolon + 1;
        if (strchr(client_part, ';') != NULL) {
            return fail_value(parse, key, value, SERVER_WRONG_FORMAT);
        }
    }
    struct config_server server;
    memset(&server, 0, sizeof server);
    server.id = id;
    server.type = CONFIG_PEER_PARTICIPANT;
    char *parts[4];
    int part_count = split_host_and_port(text, parts, 4);
    if (part_count < 3 || part_count > 4 || parts[0][0] == '\0') {
        return fail_value(parse, key, value, SERVER_WRONG_FORMAT);
    }
    if (!copy_text(server.host, sizeof server.host, parts[0])) {
        return fail_text(parse, key, value, "host name too long");
    }
    int64_t port;
    if (!parse_long_text(parts[1], &port) || port < 1 || port > 65535) {
        return fail_text(parse, key, value, "the quorum port is not a TCP port (1 to 65535)");
    }
    server.quorum_port = (uint16_t)port;
    if (!parse_long_text(parts[2], &port) || port < 1 || port > 65535) {
        return fail_text(parse, key, value, "the election port is not a TCP port (1 to 65535)");
    }
    server.election_port = (uint16_t)port;
    if (part_count == 4) {
        if (strcasecmp(parts[3], "observer") == 0) {
            server.type = CONFIG_PEER_OBSERVER;
        } else if (strcasecmp(parts[3], "participant") == 0) {
            server.type = CONFIG_PEER_PARTICIPANT;
        } else {
            return fail_text(parse, key, value,
                             "unrecognised peer type: expected participant or observer");
        }
    }
    if (client_part != NULL) {
        char *client_parts[2];
        int client_count = split_host_and_port(client_part, client_parts, 2);
        if (client_count < 1 || client_count > 2) {
            return fail_value(parse, key, value, SERVER_WRONG_FORMAT);
        }
        const char *client_host = client_count == 2 ? client_parts[0] : "0.0.0.0";
        const char *client_port_text = client_parts[client_count - 1];
        if (client_host[0] == '\0' ||
            !copy_text(server.client_host, sizeof server.client_host, client_host)) {
            return fail_value(parse, key, value, SERVER_WRONG_FORMAT);
        }
        if (!parse_long_text(client_port_text, &port) || port < 1 || port > 65535) {
            return fail_text(parse, key, value, "the client port is not a TCP port (1 to 65535)");
        }
        server.has_client = true;
        server.client_port = (uint16_t)port;
    }
    config->servers[config->server_count++] = server;
    return 0;
}

/* ---- 4lw.commands.whitelist (FourLetterCommands.isEnabled) ---- */

static bool java_blank(unsigned char c)
{
    return c <= ' ';
}

static int parse_whitelist(struct config_parse *parse, const char *key, const char *value)
{
    uint32_t whitelist = 0;
    const char *cursor = value;
    for (;;) {
        const char *comma = strchr(cursor, ',');
        const char *end = comma != NULL ? comma : cursor + strlen(cursor);
        const char *start = cursor;
        while (start < end && java_blank((unsigned char)*start)) {
            start++;
        }
        const char *stop = end;
        while (stop > start && java_blank((unsigned char)stop[-1])) {
            stop--;
        }
        size_t length = (size_t)(stop - start);
        if (length == 1 && start[0] == '*') {
            /* ZooKeeper stops reading the list at "*": everything is enabled. */
            whitelist = (1u << FOURLW_COMMAND_COUNT) - 1u;
            break;
        }
        if (length > 0) {
            int command = fourlw_lookup_name(start, length);
            if (command < 0) {
                warn_line(parse, "%s: '%.*s' is not a four-letter word ZooKeeper 3.8 knows; "
                          "ignored", key, (int)length, start);
            } else {
                whitelist |= 1u << command;
            }
        }
        if (comma == NULL) {
            break;
        }
        cursor = comma + 1;
    }
    parse->config->fourlw_whitelist = whitelist;
    return 0;
}

/* ---- one key ---- */

static int apply_dataplane(struct config_parse *parse, const char *key, const char *value)
{
    if (strcmp(value, "uring") == 0) {
        parse->config->dataplane = CONFIG_DATAPLANE_URING;
        return 0;
    }
    if (strcmp(value, "dpdk") == 0) {
        parse->config->dataplane = CONFIG_DATAPLANE_DPDK;
        return 0;
    }
    return fail_value(parse, key, value, "uring or dpdk");
}

/* A dotted-quad IPv4 address ("10.78.0.2") into host order; false on
 * anything else (no shorthand forms: inet_aton's "10.1" is refused). */
static bool parse_ipv4_text(const char *value, uint32_t *result)
{
    uint32_t address = 0;
    const char *cursor = value;
    for (int octet_index = 0; octet_index < 4; octet_index++) {
        if (octet_index > 0 && *cursor++ != '.') {
            return false;
        }
        unsigned octet = 0;
        int digits = 0;
        while (*cursor >= '0' && *cursor <= '9' && digits < 4) {
            octet = octet * 10u + (unsigned)(*cursor - '0');
            cursor++;
            digits++;
        }
        if (digits == 0 || digits > 3 || octet > 255) {
            return false;
        }
        address = address << 8 | octet;
    }
    if (*cursor != '\0') {
        return false;
    }
    *result = address;
    return true;
}

static bool netmask_is_contiguous(uint32_t netmask)
{
    /* Ones then zeros: the inverted mask plus one is a power of two. */
    uint32_t host_bits = ~netmask;
    return netmask != 0 && (host_bits & (host_bits + 1u)) == 0;
}

/* cheetah.dpdk.<name>. Returns 1 when `name` is not one of ours. */
static int apply_dpdk_key(struct config_parse *parse, const char *key, const char *value)
{
    struct config_dpdk *dpdk = &parse->config->dpdk;
    const char *name = key + strlen("cheetah.dpdk.");
    int64_t number;
    if (strcmp(name, "eal_args") == 0) {
        if (!copy_text(dpdk->eal_args, sizeof dpdk->eal_args, value)) {
            return fail_text(parse, key, value,
                             "too long: the EAL command line is limited to 1023 bytes");
        }
        return 0;
    }
    if (strcmp(name, "port") == 0) {
        if (parse_int64(parse, key, value, 0, CONFIG_DPDK_PORTS_MAX - 1,
                        "a DPDK port index (0 to 1023; 0 is the first port EAL found)",
                        &number) != 0) {
            return -1;
        }
        dpdk->port = (uint16_t)number;
        return 0;
    }
    if (strcmp(name, "ipv4_address") == 0 || strcmp(name, "gateway") == 0) {
        uint32_t address;
        if (!parse_ipv4_text(value, &address) || address == 0 || address == UINT32_MAX) {
            return fail_value(parse, key, value,
                              "an IPv4 address in dotted-quad form (e.g. 10.78.0.2), not "
                              "0.0.0.0 or 255.255.255.255");
        }
        *(name[0] == 'i' ? &dpdk->ipv4_address : &dpdk->ipv4_gateway) = address;
        return 0;
    }
    if (strcmp(name, "netmask") == 0) {
        uint32_t netmask;
        if (!parse_ipv4_text(value, &netmask) || !netmask_is_contiguous(netmask) ||
            netmask == UINT32_MAX) {
            return fail_value(parse, key, value,
                              "an IPv4 netmask of contiguous ones in dotted-quad form (e.g. "
                              "255.255.255.0), shorter than /32");
        }
        dpdk->ipv4_netmask = netmask;
        return 0;
    }
    if (strcmp(name, "mtu") == 0) {
        if (parse_int64(parse, key, value, CONFIG_DPDK_MTU_MIN, CONFIG_DPDK_MTU_MAX,
                        "an IPv4 MTU in bytes (576 to 9000)", &number) != 0) {
            return -1;
        }
        dpdk->mtu = (uint16_t)number;
        return 0;
    }
    if (strcmp(name, "rx_descriptors") == 0 || strcmp(name, "tx_descriptors") == 0) {
        if (parse_int64(parse, key, value, CONFIG_DPDK_DESCRIPTORS_MIN,
                        CONFIG_DPDK_DESCRIPTORS_MAX,
                        "a descriptor count per queue (64 to 32768)", &number) != 0) {
            return -1;
        }
        *(name[0] == 'r' ? &dpdk->rx_descriptors : &dpdk->tx_descriptors) = (uint16_t)number;
        return 0;
    }
    if (strcmp(name, "mbuf_pool_size") == 0) {
        if (parse_int64(parse, key, value, 1, CONFIG_DPDK_MBUF_POOL_SIZE_MAX,
                        "a number of mbufs per shard (1 to 16777216; 2^n - 1 is best)",
                        &number) != 0) {
            return -1;
        }
        dpdk->mbuf_pool_size = (uint32_t)number;
        return 0;
    }
    if (strcmp(name, "syn_backlog") == 0) {
        if (parse_int64(parse, key, value, 1, CONFIG_DPDK_SYN_BACKLOG_MAX,
                        "a number of half-open connections per shard (1 to 1048576)",
                        &number) != 0) {
            return -1;
        }
        dpdk->syn_backlog = (uint32_t)number;
        return 0;
    }
    if (strcmp(name, "keepalive_idle_ms") == 0) {
        if (parse_int64(parse, key, value, 0, INT32_MAX,
                        "milliseconds of idleness before TCP keepalive probes (0 = none, up "
                        "to 2147483647)",
                        &number) != 0) {
            return -1;
        }
        dpdk->keepalive_idle_ms = number;
        return 0;
    }
    return 1;
}

static bool key_has_prefix(const char *key, const char *prefix)
{
    return strncmp(key, prefix, strlen(prefix)) == 0;
}

/* Keys whose value only matters to the JVM or to a part of ZooKeeper that
 * Cheetah does not have: accepted (so an unchanged zoo.cfg loads) with a
 * warning that they change nothing. */
static bool is_no_effect_key(const char *key)
{
    static const char *const exact[] = {
        "quorum.cnxn.threads.size", "oraclePath", "sslQuorumReloadCertFiles",
        "quorum.auth.learner.saslLoginContext", "quorum.auth.server.saslLoginContext",
        "quorum.auth.kerberos.servicePrincipal", "multiAddress.reachabilityCheckTimeoutMs",
        "multiAddress.reachabilityCheckEnabled",
    };
    for (size_t index = 0; index < sizeof exact / sizeof exact[0]; index++) {
        if (strcmp(key, exact[index]) == 0) {
            return true;
        }
    }
    return key_has_prefix(key, "jvm.pause.") || key_has_prefix(key, "metricsProvider.");
}

static int apply_bool_or_refuse(struct config_parse *parse, const char *key, const char *value,
                                const char *refusal)
{
    bool enabled;
    if (parse_bool(parse, key, value, &enabled) != 0) {
        return -1;
    }
    if (enabled) {
        return fail_text(parse, key, value, refusal);
    }
    return 0;
}

static int apply_key(struct config_parse *parse, const char *key, const char *value)
{
    struct cheetah_config *config = parse->config;
    const char *millis = "a whole number of milliseconds (1 to 2147483647)";
    const char *ticks = "a whole number of ticks (1 to 2147483647)";

    if (strcmp(key, "tickTime") == 0) {
        return parse_int32(parse, key, value, 1, INT32_MAX, millis, &config->tick_time_ms);
    }
    if (strcmp(key, "initLimit") == 0) {
        return parse_int32(parse, key, value, 1, INT32_MAX, ticks, &config->init_limit_ticks);
    }
    if (strcmp(key, "syncLimit") == 0) {
        return parse_int32(parse, key, value, 1, INT32_MAX, ticks, &config->sync_limit_ticks);
    }
    if (strcmp(key, "connectToLearnerMasterLimit") == 0) {
        return parse_int32(parse, key, value, 1, INT32_MAX, ticks,
                           &config->connect_to_learner_master_limit_ticks);
    }
    if (strcmp(key, "dataDir") == 0) {
        return parse_path(parse, key, value, config->data_dir, sizeof config->data_dir);
    }
    if (strcmp(key, "dataLogDir") == 0) {
        config->data_log_dir_set = true;
        return parse_path(parse, key, value, config->data_log_dir, sizeof config->data_log_dir);
    }
    if (strcmp(key, "clientPort") == 0) {
        return parse_port(parse, key, value, &config->client_port);
    }
    if (strcmp(key, "clientPortAddress") == 0) {
        if (value[0] == '\0' || !copy_text(config->client_port_address,
                                           sizeof config->client_port_address, value)) {
            return fail_value(parse, key, value, "an IP address or host name");
        }
        config->client_port_address_set = true;
        return 0;
    }
    if (strcmp(key, "secureClientPort") == 0 || strcmp(key, "secureClientPortAddress") == 0) {
        return fail_text(parse, key, value,
                         "TLS client connections are not supported yet; remove this key "
                         "(clientPort works)");
    }
    if (strcmp(key, "sslQuorum") == 0 || strcmp(key, "portUnification") == 0) {
        return apply_bool_or_refuse(parse, key, value, "TLS is not supported yet");
    }
    if (strcmp(key, "quorum.auth.enableSasl") == 0 ||
        strcmp(key, "quorum.auth.serverRequireSasl") == 0 ||
        strcmp(key, "quorum.auth.learnerRequireSasl") == 0) {
        return apply_bool_or_refuse(parse, key, value,
                                    "SASL between servers is not supported yet");
    }
    if (strcmp(key, "clientPortListenBacklog") == 0) {
        return parse_int32(parse, key, value, -1, INT32_MAX,
                           "a connection count (-1 for the system default)",
                           &config->client_port_listen_backlog);
    }
    if (strcmp(key, "observerMasterPort") == 0) {
        uint16_t port;
        if (parse_port(parse, key, value, &port) != 0) {
            return -1;
        }
        config->observer_master_port = port;
        return 0;
    }
    if (strcmp(key, "maxClientCnxns") == 0) {
        return parse_int32(parse, key, value, 0, INT32_MAX,
                           "a connection count per client IP (0 = unlimited)",
                           &config->max_client_cnxns);
    }
    if (strcmp(key, "minSessionTimeout") == 0) {
        return parse_int32(parse, key, value, 1, INT32_MAX, millis,
                           &config->min_session_timeout_ms);
    }
    if (strcmp(key, "maxSessionTimeout") == 0) {
        return parse_int32(parse, key, value, 1, INT32_MAX, millis,
                           &config->max_session_timeout_ms);
    }
    if (strcmp(key, "electionAlg") == 0) {
        int32_t algorithm;
        if (parse_int32(parse, key, value, INT32_MIN, INT32_MAX, "3", &algorithm) != 0) {
            return -1;
        }
        if (algorithm != 3) {
            return fail_value(parse, key, value, "3 (the only election algorithm since 3.6)");
        }
        config->election_alg = algorithm;
        return 0;
    }
    if (strcmp(key, "peerType") == 0) {
        if (strcasecmp(value, "observer") == 0) {
            config->peer_type = CONFIG_PEER_OBSERVER;
        } else if (strcasecmp(value, "participant") == 0) {
            config->peer_type = CONFIG_PEER_PARTICIPANT;
        } else {
            return fail_value(parse, key, value, "participant or observer");
        }
        return 0;
    }
    if (strcmp(key, "localSessionsEnabled") == 0) {
        return parse_bool(parse, key, value, &config->local_sessions_enabled);
    }
    if (strcmp(key, "localSessionsUpgradingEnabled") == 0) {
        return parse_bool(parse, key, value, &config->local_sessions_upgrading_enabled);
    }
    if (strcmp(key, "quorumListenOnAllIPs") == 0) {
        return parse_bool(parse, key, value, &config->quorum_listen_on_all_ips);
    }
    if (strcmp(key, "syncEnabled") == 0) {
        return parse_bool(parse, key, value, &config->sync_enabled);
    }
    if (strcmp(key, "standaloneEnabled") == 0) {
        return parse_bool(parse, key, value, &config->standalone_enabled);
    }
    if (strcmp(key, "reconfigEnabled") == 0) {
        return parse_bool(parse, key, value, &config->reconfig_enabled);
    }
    if (strcmp(key, "dynamicConfigFile") == 0) {
        /* Read at the end of config_load_text (load_dynamic_file). */
        if (value[0] == '\0') {
            return fail_value(parse, key, value, "the path of a zoo.cfg.dynamic.<version> file");
        }
        if (!copy_text(parse->dynamic_file_path, sizeof parse->dynamic_file_path, value)) {
            return fail_text(parse, key, value, "path too long (the limit is 1023 bytes)");
        }
        parse->dynamic_file_line = parse->line_number;
        return 0;
    }
    if (strcmp(key, "autopurge.snapRetainCount") == 0) {
        int32_t count;
        if (parse_int32(parse, key, value, INT32_MIN, INT32_MAX, "a whole number of snapshots (3 or more)",
                        &count) != 0) {
            return -1;
        }
        if (count < CONFIG_MIN_SNAP_RETAIN_COUNT) {
            /* ZooKeeper logs this and keeps the minimum. */
            warn_line(parse, "Invalid autopurge.snapRetainCount: %s. Defaulting to %d", value,
                      CONFIG_MIN_SNAP_RETAIN_COUNT);
            count = CONFIG_MIN_SNAP_RETAIN_COUNT;
        }
        config->autopurge_snap_retain_count = count;
        return 0;
    }
    if (strcmp(key, "autopurge.purgeInterval") == 0) {
        return parse_int32(parse, key, value, 0, INT32_MAX,
                           "a whole number of hours (0 = no purging)",
                           &config->autopurge_purge_interval_hours);
    }
    if (key_has_prefix(key, "server.")) {
        if (parse->first_server_line == 0) {
            parse->first_server_line = parse->line_number;
            snprintf(parse->first_server_key, sizeof parse->first_server_key, "%s", key);
        }
        return parse_server(parse, key, value);
    }
    if (key_has_prefix(key, "group.") || key_has_prefix(key, "weight.")) {
        return fail_text(parse, key, value, "hierarchical quorums are not supported yet");
    }
    if (strcmp(key, "multiAddress.enabled") == 0) {
        bool enabled;
        return parse_bool(parse, key, value, &enabled);
    }
    /* Keys ZooKeeper reads as `zookeeper.<key>` system properties. */
    if (strcmp(key, "snapCount") == 0) {
        if (parse_int64(parse, key, value, INT32_MIN, INT32_MAX,
                        "a whole number of transactions (2 or more)", &config->snap_count) != 0) {
            return -1;
        }
        if (config->snap_count < 2) {
            /* SyncRequestProcessor raises it to 2 with a warning. */
            warn_line(parse, "snapCount = '%s' is less than 2; using 2", value);
            config->snap_count = 2;
        }
        return 0;
    }
    if (strcmp(key, "preAllocSize") == 0) {
        return parse_int64(parse, key, value, 1, INT64_MAX / 1024,
                           "a size in kilobytes (1 or more)", &config->prealloc_size_kb);
    }
    if (strcmp(key, "forceSync") == 0) {
        return parse_yes_no(parse, key, value, &config->force_sync);
    }
    if (strcmp(key, "skipACL") == 0) {
        return parse_yes_no(parse, key, value, &config->skip_acl);
    }
    if (strcmp(key, "jute.maxbuffer") == 0) {
        int64_t bytes;
        if (parse_int64(parse, key, value, 1, INT32_MAX, "a size in bytes (1 to 2147483647)",
                        &bytes) != 0) {
            return -1;
        }
        config->jute_maxbuffer_bytes = (uint32_t)bytes;
        return 0;
    }
    if (strcmp(key, "DigestAuthenticationProvider.superDigest") == 0) {
        if (strchr(value, ':') == NULL ||
            !copy_text(config->super_digest, sizeof config->super_digest, value)) {
            return fail_value(parse, key, value, "user:base64digest");
        }
        return 0;
    }
    if (strcmp(key, "4lw.commands.whitelist") == 0) {
        return parse_whitelist(parse, key, value);
    }
    if (strcmp(key, "extendedTypesEnabled") == 0) {
        return parse_bool(parse, key, value, &config->extended_types_enabled);
    }
    if (strcmp(key, "globalOutstandingLimit") == 0) {
        return parse_int32(parse, key, value, 1, INT32_MAX, "a whole number of requests (1 or more)",
                           &config->global_outstanding_limit);
    }
    if (strcmp(key, "admin.enableServer") == 0) {
        return parse_bool(parse, key, value, &config->admin_enable_server);
    }
    if (strcmp(key, "admin.serverPort") == 0) {
        uint16_t port;
        if (parse_port(parse, key, value, &port) != 0) {
            return -1;
        }
        config->admin_server_port = port;
        return 0;
    }
    if (strcmp(key, "znode.container.checkIntervalMs") == 0) {
        return parse_int64(parse, key, value, 1, INT64_MAX, "a whole number of milliseconds",
                           &config->container_check_interval_ms);
    }
    if (strcmp(key, "znode.container.maxPerMinute") == 0) {
        return parse_int64(parse, key, value, 1, INT64_MAX, "a whole number of containers",
                           &config->container_max_per_minute);
    }
    if (strcmp(key, "znode.container.maxNeverUsedIntervalMs") == 0) {
        return parse_int64(parse, key, value, 0, INT64_MAX,
                           "a whole number of milliseconds (0 = never)",
                           &config->container_max_never_used_interval_ms);
    }
    if (strcmp(key, "readonlymode.enabled") == 0) {
        return parse_bool(parse, key, value, &config->readonly_mode_enabled);
    }
    if (strcmp(key, "digest.enabled") == 0) {
        return parse_bool(parse, key, value, &config->digest_enabled);
    }
    if (strcmp(key, "metricsProvider.className") == 0) {
        if (!copy_text(config->metrics_provider_class_name,
                       sizeof config->metrics_provider_class_name, value)) {
            return fail_text(parse, key, value, "class name too long");
        }
        warn_line(parse, "%s = '%s' has no effect: Cheetah reports its metrics through mntr",
                  key, value);
        return 0;
    }
    if (strcmp(key, "cheetah.dataplane") == 0) {
        return apply_dataplane(parse, key, value);
    }
    if (strcmp(key, "cheetah.shards") == 0) {
        int64_t shards;
        if (parse_int64(parse, key, value, 1, CONFIG_SHARDS_MAX, "a shard count (1 to 256)",
                        &shards) != 0) {
            return -1;
        }
        config->shards = (uint32_t)shards;
        return 0;
    }
    if (key_has_prefix(key, "cheetah.dpdk.")) {
        int result = apply_dpdk_key(parse, key, value);
        if (result <= 0) {
            return result;
        }
        warn_line(parse, "unknown Cheetah key '%s' (value '%s') ignored (the cheetah.dpdk "
                  "keys are eal_args, port, ipv4_address, netmask, gateway, mtu, "
                  "rx_descriptors, tx_descriptors, mbuf_pool_size, syn_backlog, "
                  "keepalive_idle_ms)", key, value);
        return 0;
    }
    if (key_has_prefix(key, "admin.")) {
        return 0; /* admin.serverAddress, admin.commandURL, ...: no admin server yet */
    }
    if (is_no_effect_key(key)) {
        warn_line(parse, "%s = '%s' has no effect in Cheetah", key, value);
        return 0;
    }
    if (key_has_prefix(key, "cheetah.")) {
        warn_line(parse, "unknown Cheetah key '%s' (value '%s') ignored", key, value);
        return 0;
    }
    warn_line(parse, "unknown key '%s' (value '%s') ignored (ZooKeeper would set the system "
              "property zookeeper.%s)", key, value, key);
    return 0;
}

/* One key of a dynamic config file. ZooKeeper (QuorumPeerConfig.parse and
 * parseDynamicConfig) refuses a version key there and any key that is not
 * server.N (group/weight aside: hierarchical quorums, which Cheetah does
 * not have). */
static int apply_dynamic_key(struct config_parse *parse, const char *key, const char *value)
{
    if (strcmp(key, "version") == 0) {
        return fail_text(parse, key, value,
                         "dynamic file shouldn't have version inside (the version is the file "
                         "name's .dynamic.<hex> suffix); remove this line");
    }
    if (key_has_prefix(key, "server.")) {
        return parse_server(parse, key, value);
    }
    return fail_text(parse, key, value,
                     "a dynamic config file holds only server.N=<spec> lines; move this key "
                     "to zoo.cfg or remove it");
}

/* ---- the java.util.Properties reader ---- */

static bool properties_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\f';
}

/* Appends the UTF-8 encoding of a \uXXXX code unit. */
static size_t encode_utf8(uint32_t code, char *out)
{
    if (code < 0x80) {
        out[0] = (char)code;
        return 1;
    }
    if (code < 0x800) {
        out[0] = (char)(0xC0 | (code >> 6));
        out[1] = (char)(0x80 | (code & 0x3F));
        return 2;
    }
    out[0] = (char)(0xE0 | (code >> 12));
    out[1] = (char)(0x80 | ((code >> 6) & 0x3F));
    out[2] = (char)(0x80 | (code & 0x3F));
    return 3;
}

/* Properties.loadConvert: resolves escapes of text[0, length) into out
 * (NUL-terminated; out has room for 3 bytes per input byte + 1). */
static int unescape(const char *text, size_t length, char *out, size_t *out_length)
{
    size_t written = 0;
    for (size_t index = 0; index < length;) {
        char c = text[index++];
        if (c != '\\' || index >= length) {
            out[written++] = c;
            continue;
        }
        c = text[index++];
        if (c == 'u') {
            if (index + 4 > length) {
                return -1;
            }
            uint32_t code = 0;
            for (int digit = 0; digit < 4; digit++) {
                char h = text[index++];
                code <<= 4;
                if (h >= '0' && h <= '9') {
                    code |= (uint32_t)(h - '0');
                } else if (h >= 'a' && h <= 'f') {
                    code |= (uint32_t)(h - 'a' + 10);
                } else if (h >= 'A' && h <= 'F') {
                    code |= (uint32_t)(h - 'A' + 10);
                } else {
                    return -1;
                }
            }
            written += encode_utf8(code, out + written);
            continue;
        }
        out[written++] = c == 't' ? '\t' : c == 'r' ? '\r' : c == 'n' ? '\n' : c == 'f' ? '\f' : c;
    }
    out[written] = '\0';
    *out_length = written;
    return 0;
}

/* Java's String.trim(): drop chars <= ' ' at both ends, in place. */
static char *java_trim(char *text)
{
    while (*text != '\0' && java_blank((unsigned char)*text)) {
        text++;
    }
    size_t length = strlen(text);
    while (length > 0 && java_blank((unsigned char)text[length - 1])) {
        text[--length] = '\0';
    }
    return text;
}

/* Splits one logical line into key and value (Properties.load) and applies it. */
static int apply_logical_line(struct config_parse *parse, const char *line, size_t length)
{
    size_t key_end = 0;
    size_t value_start = length;
    bool has_separator = false;
    bool preceding_backslash = false;
    while (key_end < length) {
        char c = line[key_end];
        if ((c == '=' || c == ':') && !preceding_backslash) {
            value_start = key_end + 1;
            has_separator = true;
            break;
        }
        if (properties_blank(c) && !preceding_backslash) {
            value_start = key_end + 1;
            break;
        }
        preceding_backslash = c == '\\' ? !preceding_backslash : false;
        key_end++;
    }
    while (value_start < length && properties_blank(line[value_start])) {
        value_start++;
    }
    if (!has_separator && value_start < length &&
        (line[value_start] == '=' || line[value_start] == ':')) {
        value_start++;
        while (value_start < length && properties_blank(line[value_start])) {
            value_start++;
        }
    }
    char *key_buffer = parse->key_buffer;
    char *value_buffer = parse->value_buffer;
    size_t key_length;
    size_t value_length;
    if (unescape(line, key_end, key_buffer, &key_length) != 0 ||
        unescape(line + value_start, length - value_start, value_buffer, &value_length) != 0) {
        config_error(parse->error, parse->error_bytes,
                  "%s:%u: malformed \\uXXXX escape (expected four hex digits)",
                  parse->source_name, parse->line_number);
        return -1;
    }
    if (strlen(key_buffer) != key_length || strlen(value_buffer) != value_length) {
        config_error(parse->error, parse->error_bytes, "%s:%u: NUL character in a key or value",
                  parse->source_name, parse->line_number);
        return -1;
    }
    char *key = java_trim(key_buffer);
    char *value = java_trim(value_buffer);
    return parse->dynamic_file ? apply_dynamic_key(parse, key, value)
                               : apply_key(parse, key, value);
}

/* Reads every logical line of `text` (java.util.Properties) and applies it. */
static int parse_properties(struct config_parse *parse, const char *text, size_t text_bytes)
{
    const char *source_name = parse->source_name;
    char *error = parse->error;
    size_t error_bytes = parse->error_bytes;
    char *buffers = malloc(CONFIG_LINE_BYTES_MAX + 2 * (3 * CONFIG_LINE_BYTES_MAX + 1));
    if (buffers == NULL) {
        config_error(error, error_bytes, "%s: out of memory", source_name);
        return -1;
    }
    char *logical = buffers;
    parse->key_buffer = buffers + CONFIG_LINE_BYTES_MAX;
    parse->value_buffer = parse->key_buffer + 3 * CONFIG_LINE_BYTES_MAX + 1;
    int result = 0;
    size_t position = 0;
    unsigned physical_line = 1;
    while (position < text_bytes) {
        /* Start of a logical line: skip blanks and empty lines. */
        while (position < text_bytes && properties_blank(text[position])) {
            position++;
        }
        if (position >= text_bytes) {
            break;
        }
        if (text[position] == '\n' || text[position] == '\r') {
            if (text[position] == '\r' && position + 1 < text_bytes && text[position + 1] == '\n') {
                position++;
            }
            position++;
            physical_line++;
            continue;
        }
        parse->line_number = physical_line;
        bool comment = text[position] == '#' || text[position] == '!';
        size_t logical_length = 0;
        for (;;) {
            size_t end = position;
            while (end < text_bytes && text[end] != '\n' && text[end] != '\r') {
                end++;
            }
            size_t backslashes = 0;
            while (end - backslashes > position && text[end - 1 - backslashes] == '\\') {
                backslashes++;
            }
            bool continues = !comment && (backslashes % 2u) == 1u;
            size_t piece = end - position - (continues ? 1u : 0u);
            if (!comment) {
                if (logical_length + piece >= CONFIG_LINE_BYTES_MAX) {
                    config_error(error, error_bytes,
                              "%s:%u: line longer than %u bytes", source_name, physical_line,
                              CONFIG_LINE_BYTES_MAX);
                    result = -1;
                    break;
                }
                memcpy(logical + logical_length, text + position, piece);
                logical_length += piece;
            }
            position = end;
            if (position < text_bytes) {
                if (text[position] == '\r' && position + 1 < text_bytes &&
                    text[position + 1] == '\n') {
                    position++;
                }
                position++;
                physical_line++;
            }
            if (!continues || position >= text_bytes) {
                break;
            }
            while (position < text_bytes && properties_blank(text[position])) {
                position++;
            }
        }
        if (result != 0) {
            break;
        }
        if (!comment && apply_logical_line(parse, logical, logical_length) != 0) {
            result = -1;
            break;
        }
    }
    free(buffers);
    parse->key_buffer = NULL;
    parse->value_buffer = NULL;
    return result;
}

/* Reads a whole config file, at most CONFIG_FILE_BYTES_MAX bytes, into a
 * malloc'd buffer (*text, to free). On failure the message says which file
 * and why (errno text). */
static int read_config_file(const char *what, const char *path, char **text, size_t *size,
                            char *error, size_t error_bytes)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        config_error(error, error_bytes, "cannot open %s %s: %s", what, path, strerror(errno));
        return -1;
    }
    char *buffer = malloc(CONFIG_FILE_BYTES_MAX + 1);
    if (buffer == NULL) {
        fclose(file);
        config_error(error, error_bytes, "out of memory reading %s %s", what, path);
        return -1;
    }
    size_t read_bytes = fread(buffer, 1, CONFIG_FILE_BYTES_MAX + 1, file);
    bool read_failed = ferror(file) != 0;
    int read_errno = read_failed ? errno : 0;
    fclose(file);
    if (read_failed) {
        free(buffer);
        config_error(error, error_bytes, "cannot read %s %s: %s", what, path,
                  strerror(read_errno != 0 ? read_errno : EIO));
        return -1;
    }
    if (read_bytes > CONFIG_FILE_BYTES_MAX) {
        free(buffer);
        config_error(error, error_bytes, "%s %s is larger than %u bytes", what, path,
                  CONFIG_FILE_BYTES_MAX);
        return -1;
    }
    *text = buffer;
    *size = read_bytes;
    return 0;
}

/* ZooKeeper's QuorumPeerConfig.getVersionFromFilename: the path split at
 * '.' (Java's split, trailing empty parts dropped); when the part before
 * last is "dynamic", the last part is the version in hex (Long.parseLong(v,
 * 16), which fails the load when it is not hex); otherwise the version is 0.
 * Returns 0, or -1 when the suffix is not a version. */
static int dynamic_file_version(const char *path, int64_t *version)
{
    size_t length = strlen(path);
    while (length > 0 && path[length - 1] == '.') {
        length--; /* String.split drops trailing empty strings */
    }
    *version = 0;
    const char *last_dot = memrchr(path, '.', length);
    if (last_dot == NULL) {
        return 0;
    }
    static const char dynamic_part[] = "dynamic";
    size_t part_bytes = sizeof dynamic_part - 1;
    size_t last_dot_at = (size_t)(last_dot - path);
    if (last_dot_at < part_bytes ||
        memcmp(path + last_dot_at - part_bytes, dynamic_part, part_bytes) != 0 ||
        (last_dot_at > part_bytes && path[last_dot_at - part_bytes - 1] != '.')) {
        return 0;
    }
    const char *digits = last_dot + 1;
    size_t digit_count = length - last_dot_at - 1;
    /* 16 hex digits at most, and no sign: a version is a zxid, never negative. */
    if (digit_count == 0 || digit_count > 16) {
        return -1;
    }
    uint64_t value = 0;
    for (size_t index = 0; index < digit_count; index++) {
        char c = digits[index];
        unsigned nibble;
        if (c >= '0' && c <= '9') {
            nibble = (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            nibble = (unsigned)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            nibble = (unsigned)(c - 'A' + 10);
        } else {
            return -1;
        }
        value = value << 4 | nibble;
    }
    if (value > (uint64_t)INT64_MAX) {
        return -1;
    }
    *version = (int64_t)value;
    return 0;
}

/* dynamicConfigFile=<path>: the servers and the configuration version come
 * from that file (QuorumPeerConfig.parse). Called after the whole of zoo.cfg
 * was read. */
static int load_dynamic_file(struct config_parse *parse)
{
    const char *path = parse->dynamic_file_path;
    if (parse->first_server_line != 0) {
        config_error(parse->error, parse->error_bytes,
                  "%s:%u: %s and %s:%u: dynamicConfigFile = '%s' both list the servers "
                  "(ZooKeeper: parameter %s must be in a separate dynamic config file): keep "
                  "one: remove the server.N lines from %s, or remove dynamicConfigFile to use "
                  "them",
                  parse->source_name, parse->first_server_line, parse->first_server_key,
                  parse->source_name, parse->dynamic_file_line, path, parse->first_server_key,
                  parse->source_name);
        return -1;
    }
    int64_t version;
    if (dynamic_file_version(path, &version) != 0) {
        config_error(parse->error, parse->error_bytes,
                  "%s:%u: dynamicConfigFile = '%s': the suffix after .dynamic. is not a "
                  "configuration version: expected <file>.dynamic.<hex version> (or a name "
                  "without .dynamic.<suffix> for version 0)",
                  parse->source_name, parse->dynamic_file_line, path);
        return -1;
    }
    char why[CONFIG_PATH_BYTES_MAX + 128];
    char *text = NULL;
    size_t size = 0;
    if (read_config_file("dynamic config file", path, &text, &size, why, sizeof why) != 0) {
        config_error(parse->error, parse->error_bytes,
                  "%s:%u: dynamicConfigFile = '%s': %s; the servers are listed there: "
                  "restore the file or point dynamicConfigFile at an existing one",
                  parse->source_name, parse->dynamic_file_line, path, why);
        return -1;
    }
    struct config_parse dynamic = {
        .config = parse->config,
        .source_name = path,
        .error = parse->error,
        .error_bytes = parse->error_bytes,
        .warn = parse->warn,
        .warn_ctx = parse->warn_ctx,
        .dynamic_file = true,
    };
    int result = parse_properties(&dynamic, text, size);
    free(text);
    if (result == 0) {
        parse->config->config_version = version;
    }
    return result;
}

int config_load_text(struct cheetah_config *config, const char *source_name, const char *text,
                     size_t text_bytes, char *error, size_t error_bytes, config_warn_fn *warn,
                     void *warn_ctx)
{
    /* About 1.2 KB: the dynamic file's path. */
    struct config_parse parse = {
        .config = config,
        .source_name = source_name,
        .error = error,
        .error_bytes = error_bytes,
        .warn = warn,
        .warn_ctx = warn_ctx,
    };
    if (!config->file_given) {
        /* With a file, ZooKeeper has no default client port or dataDir:
         * 2181 and ./data are the no-file defaults only. */
        config->client_port = 0;
        config->data_dir[0] = '\0';
    }
    int result = parse_properties(&parse, text, text_bytes);
    if (result == 0 && parse.dynamic_file_path[0] != '\0') {
        result = load_dynamic_file(&parse);
    }
    config->file_given = true;
    if (!copy_text(config->file_path, sizeof config->file_path, source_name)) {
        config->file_path[0] = '\0';
    }
    return result;
}

int config_load_file(struct cheetah_config *config, const char *path, char *error,
                     size_t error_bytes, config_warn_fn *warn, void *warn_ctx)
{
    char *text = NULL;
    size_t size = 0;
    if (read_config_file("config file", path, &text, &size, error, error_bytes) != 0) {
        return -1;
    }
    int result = config_load_text(config, path, text, size, error, error_bytes, warn, warn_ctx);
    free(text);
    return result;
}

/* ---- derived values ---- */

/* cheetah.dataplane=dpdk's cross-key checks. */
static int finish_dpdk(const struct cheetah_config *config, char *error, size_t error_bytes)
{
    const struct config_dpdk *dpdk = &config->dpdk;
    if (dpdk->eal_args[0] == '\0') {
        config_error(error, error_bytes,
                  "cheetah.dataplane=dpdk needs cheetah.dpdk.eal_args: expected the DPDK EAL "
                  "command line, e.g. cheetah.dpdk.eal_args=--no-huge --no-pci -m 256 "
                  "--vdev=net_tap0,iface=chd0 -l 0");
        return -1;
    }
    if (dpdk->ipv4_address == 0) {
        config_error(error, error_bytes,
                  "cheetah.dataplane=dpdk needs cheetah.dpdk.ipv4_address: expected the "
                  "server's IPv4 address on the DPDK port, e.g. cheetah.dpdk.ipv4_address="
                  "10.78.0.2");
        return -1;
    }
    uint32_t host_bits = ~dpdk->ipv4_netmask;
    if ((dpdk->ipv4_address & host_bits) == 0 || (dpdk->ipv4_address & host_bits) == host_bits) {
        config_error(error, error_bytes,
                  "cheetah.dpdk.ipv4_address is the network or broadcast address of its "
                  "subnet (cheetah.dpdk.netmask): expected a host address");
        return -1;
    }
    if (dpdk->ipv4_gateway != 0 &&
        (dpdk->ipv4_gateway & dpdk->ipv4_netmask) != (dpdk->ipv4_address & dpdk->ipv4_netmask)) {
        config_error(error, error_bytes,
                  "cheetah.dpdk.gateway is not in the subnet of cheetah.dpdk.ipv4_address "
                  "and cheetah.dpdk.netmask: expected an on-link router address");
        return -1;
    }
    /* The RX ring holds rx_descriptors mbufs and TX up to tx_descriptors in
     * flight; the pool needs more than both, or receiving stalls for good. */
    uint32_t descriptors = (uint32_t)dpdk->rx_descriptors + dpdk->tx_descriptors;
    if (dpdk->mbuf_pool_size <= descriptors) {
        config_error(error, error_bytes,
                  "cheetah.dpdk.mbuf_pool_size = %" PRIu32 " is not larger than "
                  "cheetah.dpdk.rx_descriptors + cheetah.dpdk.tx_descriptors = %" PRIu32
                  ": expected more mbufs than the RX and TX rings hold (e.g. 8191)",
                  dpdk->mbuf_pool_size, descriptors);
        return -1;
    }
    return 0;
}

static uint32_t default_shards(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores <= 1) {
        return 1;
    }
    if (cores - 1 > (long)CONFIG_SHARDS_MAX) {
        return CONFIG_SHARDS_MAX;
    }
    return (uint32_t)(cores - 1);
}

int config_finish(struct cheetah_config *config, char *error, size_t error_bytes)
{
    if (config->data_dir[0] == '\0') {
        /* QuorumPeerConfig: "dataDir is not set". */
        config_error(error, error_bytes,
                  "dataDir is not set: expected dataDir=<directory> in %s",
                  config->file_path[0] ? config->file_path : "the config file");
        return -1;
    }
    if (!config->data_log_dir_set) {
        memcpy(config->data_log_dir, config->data_dir, sizeof config->data_log_dir);
    }
    int64_t tick = config->tick_time_ms;
    if (config->min_session_timeout_ms == -1) {
        config->min_session_timeout_ms = (int32_t)(tick * 2 > INT32_MAX ? INT32_MAX : tick * 2);
    }
    if (config->max_session_timeout_ms == -1) {
        config->max_session_timeout_ms = (int32_t)(tick * 20 > INT32_MAX ? INT32_MAX : tick * 20);
    }
    if (config->min_session_timeout_ms > config->max_session_timeout_ms) {
        config_error(error, error_bytes,
                  "minSessionTimeout = %" PRId32 " is larger than maxSessionTimeout = %" PRId32
                  ": expected minSessionTimeout <= maxSessionTimeout",
                  config->min_session_timeout_ms, config->max_session_timeout_ms);
        return -1;
    }
    if (config->client_port_address_set && config->client_port == 0) {
        config_error(error, error_bytes,
                  "clientPortAddress = '%s' is set but clientPort is not set: expected a "
                  "clientPort too",
                  config->client_port_address);
        return -1;
    }
    if (!config->client_port_address_set) {
        /* No file: loopback only. A file without it: every address, as
         * ZooKeeper's InetSocketAddress(clientPort) binds the wildcard. */
        copy_text(config->client_port_address, sizeof config->client_port_address,
                  config->file_given ? "0.0.0.0" : "127.0.0.1");
    }
    uint32_t voting = 0;
    bool any_client_port = false;
    for (uint32_t index = 0; index < config->server_count; index++) {
        if (config->servers[index].type == CONFIG_PEER_PARTICIPANT) {
            voting++;
        }
        any_client_port = any_client_port || config->servers[index].has_client;
        if (config->extended_types_enabled && config->servers[index].id > 254) {
            config_error(error, error_bytes,
                      "server.%" PRId64 ": server ids must be 254 or less when "
                      "extendedTypesEnabled=true",
                      config->servers[index].id);
            return -1;
        }
    }
    config->distributed = config->server_count > 0 && (!config->standalone_enabled || voting > 1);
    if (config->client_port == 0 && !any_client_port) {
        config_error(error, error_bytes,
                  "clientPort is not set: expected clientPort=<port> (or ;clientPort in the "
                  "server.N lines)");
        return -1;
    }
    if (config->distributed) {
        if (config->init_limit_ticks == 0) {
            config_error(error, error_bytes,
                      "initLimit is not set: an ensemble needs initLimit=<ticks>");
            return -1;
        }
        if (config->sync_limit_ticks == 0) {
            config_error(error, error_bytes,
                      "syncLimit is not set: an ensemble needs syncLimit=<ticks>");
            return -1;
        }
    }
    if (config->connect_to_learner_master_limit_ticks == 0) {
        config->connect_to_learner_master_limit_ticks = config->init_limit_ticks;
    }
    /* FourLetterCommands.isEnabled: srvr always (zkServer.sh needs it), isro
     * with read-only mode (clients probe with it). */
    config->fourlw_whitelist |= 1u << FOURLW_SRVR;
    if (config->readonly_mode_enabled) {
        config->fourlw_whitelist |= 1u << FOURLW_ISRO;
    }
    if (config->shards == 0) {
        config->shards = default_shards();
    }
    if (config->dataplane == CONFIG_DATAPLANE_DPDK && finish_dpdk(config, error, error_bytes) != 0) {
        return -1;
    }
    return 0;
}

bool config_4lw_allowed(const struct cheetah_config *config, const uint8_t word[4])
{
    int command = fourlw_lookup(word);
    if (command < 0) {
        return false;
    }
    uint32_t whitelist = config->fourlw_whitelist | (1u << FOURLW_SRVR);
    return (whitelist & (1u << command)) != 0;
}

const struct config_server *config_find_server(const struct cheetah_config *config, int64_t id)
{
    for (uint32_t index = 0; index < config->server_count; index++) {
        if (config->servers[index].id == id) {
            return &config->servers[index];
        }
    }
    return NULL;
}

/* ---- conf ---- */

static void write_text(struct jute_writer *out, const char *text)
{
    jute_write_raw(out, text, strlen(text));
}

static void write_format(struct jute_writer *out, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static void write_format(struct jute_writer *out, const char *format, ...)
{
    char line[CONFIG_PATH_BYTES_MAX + 2 * CONFIG_HOST_BYTES_MAX + 64];
    va_list args;
    va_start(args, format);
    int length = vsnprintf(line, sizeof line, format, args);
    va_end(args);
    if (length < 0) {
        out->ok = false;
        return;
    }
    size_t size = (size_t)length < sizeof line ? (size_t)length : sizeof line - 1;
    jute_write_raw(out, line, size);
}

/* java.io.File(dir, "version-2").getAbsolutePath(): relative paths are
 * resolved against the working directory; repeated and trailing slashes go. */
static void write_version_dir(struct jute_writer *out, const char *directory,
                              const char *working_dir)
{
    char cwd[CONFIG_PATH_BYTES_MAX];
    if (directory[0] != '/') {
        if (working_dir == NULL) {
            working_dir = getcwd(cwd, sizeof cwd) != NULL ? cwd : "";
        }
        write_text(out, working_dir);
        if (working_dir[0] == '\0' || working_dir[strlen(working_dir) - 1] != '/') {
            write_text(out, "/");
        }
    }
    char previous = '\0';
    for (const char *cursor = directory; *cursor != '\0'; cursor++) {
        if (*cursor == '/' && (previous == '/' || cursor[1] == '\0')) {
            continue;
        }
        jute_write_raw(out, cursor, 1);
        previous = *cursor;
    }
    write_text(out, "/version-2");
}

static void write_host(struct jute_writer *out, const char *host)
{
    /* NetUtils.formatInetAddr puts IPv6 literals in brackets. */
    if (strchr(host, ':') != NULL) {
        write_format(out, "[%s]", host);
    } else {
        write_text(out, host);
    }
}

void config_write_conf(const struct cheetah_config *config,
                       const struct config_conf_runtime *runtime, struct jute_writer *out)
{
    /* In an ensemble the client port may come from this server's server.N line. */
    const struct config_server *self = config_find_server(config, runtime->server_id);
    unsigned client_port = config->client_port;
    if (client_port == 0 && self != NULL && self->has_client) {
        client_port = self->client_port;
    }
    write_format(out, "clientPort=%u\n", client_port);
    write_text(out, "secureClientPort=-1\n");
    write_text(out, "dataDir=");
    write_version_dir(out, config->data_dir, runtime->working_dir);
    write_format(out, "\ndataDirSize=%" PRId64 "\n", runtime->data_dir_size_bytes);
    write_text(out, "dataLogDir=");
    write_version_dir(out, config->data_log_dir[0] ? config->data_log_dir : config->data_dir,
                      runtime->working_dir);
    write_format(out, "\ndataLogSize=%" PRId64 "\n", runtime->log_dir_size_bytes);
    write_format(out, "tickTime=%" PRId32 "\n", config->tick_time_ms);
    write_format(out, "maxClientCnxns=%" PRId32 "\n", config->max_client_cnxns);
    write_format(out, "minSessionTimeout=%" PRId32 "\n", config->min_session_timeout_ms);
    write_format(out, "maxSessionTimeout=%" PRId32 "\n", config->max_session_timeout_ms);
    write_format(out, "clientPortListenBacklog=%" PRId32 "\n", config->client_port_listen_backlog);
    write_format(out, "serverId=%" PRId64 "\n", runtime->server_id);
    /* ZooKeeper's conf does not print forceSync (its default, yes); Cheetah
     * says so when writes are not synced, so nobody mistakes it for durable. */
    if (!config->force_sync) {
        write_text(out, "forceSync=no\n");
    }
    if (!config->distributed) {
        return;
    }
    /* QuorumZooKeeperServer.dumpConf. */
    write_format(out, "initLimit=%" PRId32 "\n", config->init_limit_ticks);
    write_format(out, "syncLimit=%" PRId32 "\n", config->sync_limit_ticks);
    write_format(out, "electionAlg=%" PRId32 "\n", config->election_alg);
    write_format(out, "electionPort=%u\n", self ? (unsigned)self->election_port : 0u);
    write_format(out, "quorumPort=%u\n", self ? (unsigned)self->quorum_port : 0u);
    write_format(out, "peerType=%d\n", (int)config->peer_type);
    write_text(out, "membership: \n"); /* println("membership: "), trailing blank included */
    if (runtime->membership_text) {
        write_text(out, runtime->membership_text);
        return;
    }
    for (uint32_t index = 0; index < config->server_count; index++) {
        const struct config_server *server = &config->servers[index];
        write_format(out, "server.%" PRId64 "=", server->id);
        write_host(out, server->host);
        write_format(out, ":%u:%u:%s", (unsigned)server->quorum_port,
                     (unsigned)server->election_port,
                     server->type == CONFIG_PEER_OBSERVER ? "observer" : "participant");
        if (server->has_client) {
            write_text(out, ";");
            write_host(out, server->client_host);
            write_format(out, ":%u", (unsigned)server->client_port);
        }
        write_text(out, "\n");
    }
    write_format(out, "version=%" PRIx64, (uint64_t)runtime->quorum_config_version);
}
