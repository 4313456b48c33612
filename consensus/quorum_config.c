/* Membership text and reconfiguration rules. See quorum_config.h. */
#include "consensus/quorum_config.h"

#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "consensus/quorum_wire.h"
#include "jute/zk_constants.h"

/* The longest piece of text we look at as one unit (a spec, a line, a list
 * item): ZooKeeper has no limit, a config line of this size is no config. */
#define QUORUM_CONFIG_ITEM_BYTES_MAX 4096u
/* Parts of a "host:port:port:type" split (more is an error anyway). */
#define QUORUM_SPEC_PARTS_MAX 8u

static const char WRONG_FORMAT[] =
    " does not have the form server_config or server_config;client_config where "
    "server_config is the pipe separated list of host:port:port or host:port:port:type and "
    "client_config is port or host:port";

static void say(char *why, size_t why_bytes, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t why_bytes, const char *format, ...)
{
    if (!why || why_bytes == 0) {
        return;
    }
    va_list args;
    va_start(args, format);
    vsnprintf(why, why_bytes, format, args);
    va_end(args);
}

/* A piece of text: [ptr, ptr + len). */
struct span {
    const char *ptr;
    size_t len;
};

static struct span span_trim(struct span s)
{
    while (s.len > 0 && isspace((unsigned char)s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && isspace((unsigned char)s.ptr[s.len - 1])) {
        s.len--;
    }
    return s;
}

static bool span_equals(struct span s, const char *text)
{
    return s.len == strlen(text) && memcmp(s.ptr, text, s.len) == 0;
}

/* Java's String.split(String.valueOf(separator)): trailing empty parts are
 * dropped. Returns the part count (capped at `max` + 1: "too many"). */
static size_t split_java(struct span s, char separator, struct span *parts, size_t max)
{
    size_t count = 0;
    size_t start = 0;
    for (size_t at = 0; at <= s.len; at++) {
        if (at == s.len || s.ptr[at] == separator) {
            if (count == max) {
                return max + 1;
            }
            parts[count++] = (struct span){s.ptr + start, at - start};
            start = at + 1;
        }
    }
    while (count > 0 && parts[count - 1].len == 0) {
        count--;
    }
    return count;
}

/* Integer.parseInt, then InetSocketAddress's range check. */
static bool parse_port(struct span s, uint16_t *out)
{
    if (s.len == 0 || s.len > 6) {
        return false;
    }
    size_t at = s.ptr[0] == '+' ? 1 : 0;
    if (at == s.len) {
        return false;
    }
    uint32_t value = 0;
    for (; at < s.len; at++) {
        if (s.ptr[at] < '0' || s.ptr[at] > '9') {
            return false;
        }
        value = value * 10u + (uint32_t)(s.ptr[at] - '0');
    }
    if (value > 65535u) {
        return false;
    }
    *out = (uint16_t)value;
    return true;
}

/* Long.parseLong (decimal). */
static bool parse_long(struct span s, int64_t *out)
{
    if (s.len == 0 || s.len > 20) {
        return false;
    }
    char digits[24];
    memcpy(digits, s.ptr, s.len);
    digits[s.len] = '\0';
    size_t at = digits[0] == '-' || digits[0] == '+' ? 1 : 0;
    if (digits[at] == '\0') {
        return false;
    }
    for (size_t i = at; digits[i]; i++) {
        if (!isdigit((unsigned char)digits[i])) {
            return false;
        }
    }
    char *end = NULL;
    long long value = strtoll(digits, &end, 10);
    *out = (int64_t)value;
    return end && *end == '\0';
}

static bool copy_host(char *out, struct span host)
{
    if (host.len >= QUORUM_HOST_BYTES_MAX) {
        return false;
    }
    memcpy(out, host.ptr, host.len);
    out[host.len] = '\0';
    return true;
}

/* ConfigUtils.getHostAndPort: "[v6]:a:b" or "host:a:b". */
static size_t host_and_ports(struct span s, struct span *parts, size_t max, bool *bad)
{
    *bad = false;
    if (s.len > 0 && s.ptr[0] == '[') {
        const char *close = memchr(s.ptr, ']', s.len);
        size_t close_at = close ? (size_t)(close - s.ptr) : 0;
        if (!close || close_at + 2 >= s.len || s.ptr[close_at + 1] != ':') {
            *bad = true;
            return 0;
        }
        parts[0] = (struct span){s.ptr + 1, close_at - 1};
        struct span rest = {s.ptr + close_at + 2, s.len - close_at - 2};
        size_t count = split_java(rest, ':', parts + 1, max - 1);
        return count > max - 1 ? max + 1 : count + 1;
    }
    return split_java(s, ':', parts, max);
}

bool quorum_server_parse(int64_t id, const char *spec, size_t spec_len,
                         struct quorum_server *out, char *why, size_t why_bytes)
{
    memset(out, 0, sizeof(*out));
    out->id = id;
    struct span whole = {spec, spec_len};
    if (spec_len > QUORUM_CONFIG_ITEM_BYTES_MAX) {
        say(why, why_bytes, "server.%" PRId64 ": its address is too long", id);
        return false;
    }
    struct span server_client[3];
    size_t halves = split_java(whole, ';', server_client, 2);
    if (halves == 0 || halves > 2) {
        say(why, why_bytes, "%.*s%s", (int)spec_len, spec, WRONG_FORMAT);
        return false;
    }
    if (halves == 2) {
        struct span client[3];
        bool bad = false;
        size_t count = host_and_ports(server_client[1], client, 2, &bad);
        if (bad || count == 0 || count > 2) {
            say(why, why_bytes, "%.*s%s Client address should contain hostname and port",
                (int)spec_len, spec, WRONG_FORMAT);
            return false;
        }
        struct span client_host = count == 2 ? client[0] : (struct span){"0.0.0.0", 7};
        if (!parse_port(client[count - 1], &out->client_port) ||
            !copy_host(out->client_host, client_host)) {
            say(why, why_bytes, "Address unresolved: %.*s:%.*s", (int)client_host.len,
                client_host.ptr, (int)client[count - 1].len, client[count - 1].ptr);
            return false;
        }
        out->has_client = true;
    }
    if (memchr(server_client[0].ptr, '|', server_client[0].len)) {
        say(why, why_bytes,
            "Multiple address feature is disabled, but multiple addresses were specified for "
            "sid %" PRId64, id);
        return false;
    }
    struct span parts[QUORUM_SPEC_PARTS_MAX + 1];
    bool bad = false;
    size_t count = host_and_ports(server_client[0], parts, QUORUM_SPEC_PARTS_MAX, &bad);
    if (bad || count < 3 || count > 4) {
        say(why, why_bytes, "%.*s%s", (int)spec_len, spec, WRONG_FORMAT);
        return false;
    }
    if (!copy_host(out->host, parts[0]) || !parse_port(parts[1], &out->quorum_port)) {
        say(why, why_bytes, "Address unresolved: %.*s:%.*s", (int)parts[0].len, parts[0].ptr,
            (int)parts[1].len, parts[1].ptr);
        return false;
    }
    if (!parse_port(parts[2], &out->election_port)) {
        say(why, why_bytes, "Address unresolved: %.*s:%.*s", (int)parts[0].len, parts[0].ptr,
            (int)parts[2].len, parts[2].ptr);
        return false;
    }
    if (out->quorum_port == out->election_port) {
        say(why, why_bytes,
            "Client and election port must be different! Please update the configuration "
            "file on server.%" PRId64, id);
        return false;
    }
    if (count == 4) {
        struct span type = span_trim(parts[3]);
        char lower[16] = "";
        for (size_t i = 0; i < type.len && i + 1 < sizeof(lower); i++) {
            lower[i] = (char)tolower((unsigned char)type.ptr[i]);
        }
        if (type.len < sizeof(lower) && strcmp(lower, "observer") == 0) {
            out->observer = true;
        } else if (!(type.len < sizeof(lower) && strcmp(lower, "participant") == 0)) {
            say(why, why_bytes, "Unrecognised peertype: %.*s", (int)parts[3].len, parts[3].ptr);
            return false;
        }
    }
    return true;
}

/* Adds or replaces (same id) a member. */
static bool config_put(struct quorum_config *config, const struct quorum_server *server)
{
    for (size_t i = 0; i < config->server_count; i++) {
        if (config->servers[i].id == server->id) {
            config->servers[i] = *server;
            return true;
        }
    }
    if (config->server_count == ELECTION_MEMBERS_MAX) {
        return false;
    }
    config->servers[config->server_count++] = *server;
    return true;
}

static void config_remove(struct quorum_config *config, int64_t id)
{
    for (size_t i = 0; i < config->server_count; i++) {
        if (config->servers[i].id == id) {
            config->servers[i] = config->servers[config->server_count - 1];
            config->server_count--;
            return;
        }
    }
}

/* "server.N" -> N (the text after the last '.'). */
static bool server_key_id(struct span key, int64_t *id)
{
    size_t dot = key.len;
    while (dot > 0 && key.ptr[dot - 1] != '.') {
        dot--;
    }
    if (dot == 0) {
        return false;
    }
    return parse_long((struct span){key.ptr + dot, key.len - dot}, id);
}

static bool parse_hex_version(struct span value, int64_t *out)
{
    if (value.len == 0 || value.len > 16) {
        return false;
    }
    uint64_t version = 0;
    for (size_t i = 0; i < value.len; i++) {
        int c = tolower((unsigned char)value.ptr[i]);
        if (!isxdigit(c)) {
            return false;
        }
        version = version * 16u + (uint64_t)(isdigit(c) ? c - '0' : c - 'a' + 10);
    }
    *out = (int64_t)version;
    return true;
}

bool quorum_config_parse(const char *text, size_t text_len, struct quorum_config *out,
                         char *why, size_t why_bytes)
{
    memset(out, 0, sizeof(*out));
    size_t start = 0;
    for (size_t at = 0; at <= text_len; at++) {
        if (at < text_len && text[at] != '\n') {
            continue;
        }
        struct span line = span_trim((struct span){text + start, at - start});
        start = at + 1;
        if (line.len == 0) {
            continue;
        }
        const char *equals = memchr(line.ptr, '=', line.len);
        if (!equals) {
            say(why, why_bytes, "config line without '=': %.*s", (int)line.len, line.ptr);
            return false;
        }
        struct span key = span_trim((struct span){line.ptr, (size_t)(equals - line.ptr)});
        struct span value =
            span_trim((struct span){equals + 1, line.len - (size_t)(equals - line.ptr) - 1});
        if (span_equals(key, "version")) {
            if (!parse_hex_version(value, &out->version)) {
                say(why, why_bytes, "config version is not hexadecimal: %.*s", (int)value.len,
                    value.ptr);
                return false;
            }
            continue;
        }
        int64_t id = 0;
        if (key.len < 8 || memcmp(key.ptr, "server.", 7) != 0 || !server_key_id(key, &id)) {
            say(why, why_bytes, "unknown config key: %.*s", (int)key.len, key.ptr);
            return false;
        }
        struct quorum_server server;
        if (!quorum_server_parse(id, value.ptr, value.len, &server, why, why_bytes)) {
            return false;
        }
        if (!config_put(out, &server)) {
            say(why, why_bytes, "more than %u servers", ELECTION_MEMBERS_MAX);
            return false;
        }
    }
    return true;
}

bool quorum_config_format(const struct quorum_config *config, char *out, size_t out_bytes)
{
    struct quorum_config_member members[ELECTION_MEMBERS_MAX]; /* about 10 KB */
    for (size_t i = 0; i < config->server_count; i++) {
        const struct quorum_server *server = &config->servers[i];
        members[i] = (struct quorum_config_member){
            .id = server->id,
            .host = server->host,
            .quorum_port = server->quorum_port,
            .election_port = server->election_port,
            .observer = server->observer,
            .client_host = server->has_client ? server->client_host : NULL,
            .client_port = server->client_port,
        };
    }
    return quorum_config_text(members, config->server_count, config->version, out, out_bytes);
}

const struct quorum_server *quorum_config_find(const struct quorum_config *config, int64_t id)
{
    for (size_t i = 0; i < config->server_count; i++) {
        if (config->servers[i].id == id) {
            return &config->servers[i];
        }
    }
    return NULL;
}

bool quorum_config_is_voter(const struct quorum_config *config, int64_t id)
{
    const struct quorum_server *server = quorum_config_find(config, id);
    return server && !server->observer;
}

size_t quorum_config_voter_count(const struct quorum_config *config)
{
    size_t count = 0;
    for (size_t i = 0; i < config->server_count; i++) {
        count += config->servers[i].observer ? 0 : 1;
    }
    return count;
}

bool quorum_config_is_quorum(const struct quorum_config *config, const int64_t *ids,
                             size_t id_count)
{
    size_t voters = 0;
    for (size_t i = 0; i < id_count; i++) {
        bool repeated = false;
        for (size_t j = 0; j < i && !repeated; j++) {
            repeated = ids[j] == ids[i];
        }
        if (!repeated && quorum_config_is_voter(config, ids[i])) {
            voters++;
        }
    }
    return voters * 2 > quorum_config_voter_count(config);
}

static bool same_server(const struct quorum_server *a, const struct quorum_server *b)
{
    return a->id == b->id && strcmp(a->host, b->host) == 0 && a->quorum_port == b->quorum_port &&
           a->election_port == b->election_port && a->observer == b->observer &&
           a->has_client == b->has_client &&
           (!a->has_client ||
            (strcmp(a->client_host, b->client_host) == 0 && a->client_port == b->client_port));
}

bool quorum_config_same_members(const struct quorum_config *a, const struct quorum_config *b)
{
    if (a->server_count != b->server_count) {
        return false;
    }
    for (size_t i = 0; i < a->server_count; i++) {
        const struct quorum_server *other = quorum_config_find(b, a->servers[i].id);
        if (!other || !same_server(&a->servers[i], other)) {
            return false;
        }
    }
    return true;
}

size_t quorum_config_election_members(const struct quorum_config *config,
                                      struct election_member *out)
{
    for (size_t i = 0; i < config->server_count; i++) {
        out[i] = (struct election_member){.id = config->servers[i].id,
                                          .voting = !config->servers[i].observer};
    }
    return config->server_count;
}

/* ---- reconfig ------------------------------------------------------------------ */

/* QuorumServer.checkAddressDuplicate leaves out wildcard and loopback
 * addresses (and ones that do not resolve) on both sides: servers on
 * different hosts may all serve clients on ";2181", and an ensemble on one
 * machine is fine. */
static bool address_is_special(const char *host)
{
    return strcmp(host, "0.0.0.0") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "::") == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "0:0:0:0:0:0:0:0") == 0 || strcmp(host, "0:0:0:0:0:0:0:1") == 0 ||
           strcasecmp(host, "localhost") == 0;
}

/* No address (quorum, election, client) of `joiner` may be one of
 * `other`'s. Addresses compare as host text and port (ZooKeeper compares
 * resolved addresses). */
static bool addresses_clash(const struct quorum_server *joiner, const struct quorum_server *other)
{
    struct address {
        const char *host;
        uint16_t port;
        bool present;
    };
    struct address mine[3] = {{joiner->host, joiner->quorum_port, true},
                              {joiner->host, joiner->election_port, true},
                              {joiner->client_host, joiner->client_port, joiner->has_client}};
    struct address theirs[3] = {{other->host, other->quorum_port, true},
                                {other->host, other->election_port, true},
                                {other->client_host, other->client_port, other->has_client}};
    for (size_t i = 0; i < 3; i++) {
        for (size_t j = 0; j < 3; j++) {
            if (mine[i].present && theirs[j].present && !address_is_special(mine[i].host) &&
                !address_is_special(theirs[j].host) && mine[i].port == theirs[j].port &&
                strcmp(mine[i].host, theirs[j].host) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* StringUtils.split(text, ","): trimmed, empty items dropped. Calls `each`
 * per item until it returns non-zero. */
typedef int (*item_fn)(void *context, struct span item);
static int for_each_item(const char *text, size_t text_len, char separator, item_fn each,
                         void *context)
{
    size_t start = 0;
    for (size_t at = 0; at <= text_len; at++) {
        if (at < text_len && text[at] != separator) {
            continue;
        }
        struct span item = span_trim((struct span){text + start, at - start});
        start = at + 1;
        if (item.len == 0) {
            continue;
        }
        int rc = each(context, item);
        if (rc != ZK_OK) {
            return rc;
        }
    }
    return ZK_OK;
}

struct reconfig_work {
    struct quorum_config *next;
    char *why;
    size_t why_bytes;
};

static int leave_one(void *context, struct span item)
{
    struct reconfig_work *work = context;
    int64_t id = 0;
    if (!parse_long(item, &id)) {
        say(work->why, work->why_bytes, "For input string: \"%.*s\"", (int)item.len, item.ptr);
        return ZK_MARSHALLINGERROR;
    }
    config_remove(work->next, id);
    return ZK_OK;
}

static int join_one(void *context, struct span item)
{
    struct reconfig_work *work = context;
    /* StringUtils.split(joiner, "="): exactly two non-empty parts. */
    struct span parts[2];
    size_t count = 0;
    size_t start = 0;
    for (size_t at = 0; at <= item.len; at++) {
        if (at < item.len && item.ptr[at] != '=') {
            continue;
        }
        struct span part = span_trim((struct span){item.ptr + start, at - start});
        start = at + 1;
        if (part.len == 0) {
            continue;
        }
        if (count == 2) {
            count = 3;
            break;
        }
        parts[count++] = part;
    }
    if (count != 2) {
        say(work->why, work->why_bytes, "Wrong format of server string");
        return ZK_BADARGUMENTS;
    }
    /* Long.parseLong(key.substring(key.lastIndexOf('.') + 1)): the whole
     * key when it has no '.' ("5=spec" joins server 5). */
    size_t dot = parts[0].len;
    while (dot > 0 && parts[0].ptr[dot - 1] != '.') {
        dot--;
    }
    int64_t id = 0;
    if (!parse_long((struct span){parts[0].ptr + dot, parts[0].len - dot}, &id)) {
        say(work->why, work->why_bytes, "For input string: \"%.*s\"", (int)parts[0].len,
            parts[0].ptr);
        return ZK_MARSHALLINGERROR;
    }
    struct quorum_server server;
    if (!quorum_server_parse(id, parts[1].ptr, parts[1].len, &server, work->why,
                             work->why_bytes)) {
        say(work->why, work->why_bytes, "Reconfiguration failed");
        return ZK_BADARGUMENTS;
    }
    if (!server.has_client) {
        say(work->why, work->why_bytes,
            "Wrong format of server string - each server should have at least 3 ports "
            "specified");
        return ZK_BADARGUMENTS;
    }
    for (size_t i = 0; i < work->next->server_count; i++) {
        const struct quorum_server *other = &work->next->servers[i];
        if (other->id != id && addresses_clash(&server, other)) {
            say(work->why, work->why_bytes,
                "Reconfiguration failed: server.%" PRId64 " uses an address of server.%" PRId64,
                id, other->id);
            return ZK_BADARGUMENTS;
        }
    }
    if (!config_put(work->next, &server)) {
        say(work->why, work->why_bytes, "more than %u servers", ELECTION_MEMBERS_MAX);
        return ZK_BADARGUMENTS;
    }
    return ZK_OK;
}

static int new_member(void *context, struct span item)
{
    struct reconfig_work *work = context;
    /* java.util.Properties: the key ends at the first '=' or ':' or space. */
    size_t key_end = 0;
    while (key_end < item.len && item.ptr[key_end] != '=' && item.ptr[key_end] != ':' &&
           !isspace((unsigned char)item.ptr[key_end])) {
        key_end++;
    }
    struct span key = {item.ptr, key_end};
    size_t value_at = key_end;
    while (value_at < item.len && isspace((unsigned char)item.ptr[value_at])) {
        value_at++;
    }
    if (value_at < item.len && (item.ptr[value_at] == '=' || item.ptr[value_at] == ':')) {
        value_at++;
    }
    struct span value = span_trim((struct span){item.ptr + value_at, item.len - value_at});
    if (span_equals(key, "version")) {
        return ZK_OK; /* the reconfig's zxid replaces it */
    }
    if (key.len < 8 || memcmp(key.ptr, "server.", 7) != 0) {
        /* parseDynamicConfig: ConfigException("Unrecognised parameter");
         * group/weight (hierarchical quorums) are not supported here. */
        say(work->why, work->why_bytes, "Unrecognised parameter: %.*s", (int)key.len, key.ptr);
        return ZK_BADARGUMENTS;
    }
    int64_t id = 0;
    if (!server_key_id(key, &id)) {
        say(work->why, work->why_bytes, "For input string: \"%.*s\"", (int)key.len, key.ptr);
        return ZK_MARSHALLINGERROR;
    }
    struct quorum_server server;
    if (!quorum_server_parse(id, value.ptr, value.len, &server, work->why, work->why_bytes)) {
        return ZK_BADARGUMENTS;
    }
    if (!config_put(work->next, &server)) {
        say(work->why, work->why_bytes, "more than %u servers", ELECTION_MEMBERS_MAX);
        return ZK_BADARGUMENTS;
    }
    return ZK_OK;
}

int quorum_config_reconfig(const struct quorum_config *last_seen,
                           const struct quorum_reconfig_request *request, int64_t version,
                           size_t voters_min, struct quorum_config *out, char *why,
                           size_t why_bytes)
{
    struct reconfig_work work = {.next = out, .why = why, .why_bytes = why_bytes};
    int rc = ZK_OK;
    if (request->new_members) {
        /* Non-incremental: "," or newlines between entries. */
        memset(out, 0, sizeof(*out));
        char *lines = malloc(request->new_members_len + 1);
        assert(lines != NULL);
        for (size_t i = 0; i < request->new_members_len; i++) {
            lines[i] = request->new_members[i] == ',' ? '\n' : request->new_members[i];
        }
        rc = for_each_item(lines, request->new_members_len, '\n', new_member, &work);
        free(lines);
        if (rc == ZK_OK && quorum_config_voter_count(out) == 0 && out->server_count > 0) {
            /* An IllegalArgumentException in ZooKeeper: PrepRequestProcessor's
             * catch (Exception) answers MARSHALLINGERROR. */
            say(why, why_bytes, "Observers w/o participants is an invalid configuration");
            rc = ZK_MARSHALLINGERROR;
        }
    } else {
        *out = *last_seen;
        if (request->leaving) {
            rc = for_each_item(request->leaving, request->leaving_len, ',', leave_one, &work);
        }
        if (rc == ZK_OK && request->joining) {
            rc = for_each_item(request->joining, request->joining_len, ',', join_one, &work);
        }
    }
    if (rc != ZK_OK) {
        return rc;
    }
    out->version = version;
    if (quorum_config_voter_count(out) < voters_min) {
        say(why, why_bytes, "Reconfig failed - new configuration must include at least %zu %s",
            voters_min, voters_min == 1 ? "follower" : "followers");
        return ZK_BADARGUMENTS;
    }
    return ZK_OK;
}
