/* The ensemble membership module (consensus/quorum_config.c) against what
 * ZooKeeper 3.8 does: QuorumServer's spec parsing, QuorumMaj's text,
 * containsQuorum, and PrepRequestProcessor's reconfig rules (including the
 * cases kazoo's test_reconfig exercises). Expectations marked "3.8 jar" were
 * checked against /usr/share/java/zookeeper.jar (QuorumServer,
 * checkAddressDuplicate, QuorumPeerConfig.parseDynamicConfig). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "consensus/quorum_config.h"
#include "jute/zk_constants.h"

#define WHY_BYTES 512u

/* ---- helpers ------------------------------------------------------------ */

static bool parse_spec(const char *spec, struct quorum_server *out)
{
    char why[WHY_BYTES] = "";
    bool ok = quorum_server_parse(7, spec, strlen(spec), out, why, sizeof(why));
    if (!ok) {
        assert_true(why[0] != '\0'); /* every refusal says why */
    }
    return ok;
}

static void assert_spec_fails(const char *spec, const char *why_part)
{
    struct quorum_server server;
    char why[WHY_BYTES] = "";
    if (quorum_server_parse(7, spec, strlen(spec), &server, why, sizeof(why))) {
        fail_msg("spec \"%s\" was accepted", spec);
    }
    if (!strstr(why, why_part)) {
        fail_msg("spec \"%s\": reason \"%s\" lacks \"%s\"", spec, why, why_part);
    }
}

/* Every configuration a test makes (about 135 KB each) is freed by the
 * teardown, also when an assertion ends the test early. */
#define TEST_CONFIGS_MAX 64u
static struct quorum_config *test_configs[TEST_CONFIGS_MAX];
static size_t test_config_count;

static struct quorum_config *config_new(void)
{
    assert_true(test_config_count < TEST_CONFIGS_MAX);
    struct quorum_config *config = calloc(1, sizeof(*config));
    assert_non_null(config);
    test_configs[test_config_count++] = config;
    return config;
}

static int free_configs(void **state)
{
    (void)state;
    for (size_t i = 0; i < test_config_count; i++) {
        free(test_configs[i]);
        test_configs[i] = NULL;
    }
    test_config_count = 0;
    return 0;
}

static struct quorum_config *config_from(const char *text)
{
    struct quorum_config *config = config_new();
    char why[WHY_BYTES] = "";
    if (!quorum_config_parse(text, strlen(text), config, why, sizeof(why))) {
        fail_msg("config did not parse: %s", why);
    }
    return config;
}

static void assert_text(const struct quorum_config *config, const char *expected)
{
    static char text[QUORUM_CONFIG_TEXT_BYTES_MAX];
    assert_true(quorum_config_format(config, text, sizeof(text)));
    assert_string_equal(text, expected);
}

/* Three voters on loopback and one observer, as a test ensemble has them. */
static const char CONFIG_MIXED[] = "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n"
                                   "server.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182\n"
                                   "server.3=127.0.0.1:2890:3890:participant;0.0.0.0:2183\n"
                                   "server.100=127.0.0.1:2891:3891:observer;127.0.0.1:2184\n"
                                   "version=100000000";

static const char CONFIG_THREE[] = "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n"
                                   "server.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182\n"
                                   "server.3=127.0.0.1:2890:3890:participant;127.0.0.1:2183\n"
                                   "version=0";

/* The same three on routable addresses (ZooKeeper's duplicate check skips
 * loopback and wildcard addresses). */
static const char CONFIG_ROUTABLE[] = "server.1=10.0.0.1:2888:3888:participant;10.0.0.1:2181\n"
                                      "server.2=10.0.0.2:2888:3888:participant;10.0.0.2:2181\n"
                                      "server.3=10.0.0.3:2888:3888:participant;10.0.0.3:2181\n"
                                      "version=0";

struct reconfig_result {
    int rc;
    char why[WHY_BYTES];
    struct quorum_config *config;
};

static struct reconfig_result reconfig(const struct quorum_config *last_seen, const char *joining,
                                       const char *leaving, const char *new_members,
                                       int64_t version, size_t voters_min)
{
    struct quorum_reconfig_request request = {
        .joining = joining,
        .joining_len = joining ? strlen(joining) : 0,
        .leaving = leaving,
        .leaving_len = leaving ? strlen(leaving) : 0,
        .new_members = new_members,
        .new_members_len = new_members ? strlen(new_members) : 0,
    };
    struct reconfig_result result = {.config = config_new()};
    result.rc = quorum_config_reconfig(last_seen, &request, version, voters_min, result.config,
                                       result.why, sizeof(result.why));
    return result;
}

static void assert_reconfig_fails(const struct quorum_config *last_seen, const char *joining,
                                  const char *leaving, const char *new_members,
                                  size_t voters_min, int expected_rc)
{
    struct reconfig_result result = reconfig(last_seen, joining, leaving, new_members,
                                             0x200000001LL, voters_min);
    if (result.rc != expected_rc) {
        fail_msg("joining=%s leaving=%s new_members=%s: rc %d, expected %d (%s)",
                 joining ? joining : "null", leaving ? leaving : "null",
                 new_members ? new_members : "null", result.rc, expected_rc, result.why);
    }
    assert_true(result.why[0] != '\0');
}

/* ---- quorum_server_parse --------------------------------------------------- */

static void test_server_parse_forms(void **state)
{
    (void)state;
    struct quorum_server server;

    assert_true(parse_spec("127.0.0.1:2888:3888", &server));
    assert_int_equal(server.id, 7);
    assert_string_equal(server.host, "127.0.0.1");
    assert_int_equal(server.quorum_port, 2888);
    assert_int_equal(server.election_port, 3888);
    assert_false(server.observer);
    assert_false(server.has_client);

    assert_true(parse_spec("h:1:2:observer", &server));
    assert_true(server.observer);
    assert_true(parse_spec("h:1:2:OBSERVER", &server));
    assert_true(server.observer);
    assert_true(parse_spec("h:1:2:participant", &server));
    assert_false(server.observer);
    assert_true(parse_spec("h:1:2:PartiCipant", &server));
    assert_false(server.observer);

    assert_true(parse_spec("h:1:2;2181", &server));
    assert_true(server.has_client);
    assert_string_equal(server.client_host, "0.0.0.0");
    assert_int_equal(server.client_port, 2181);

    assert_true(parse_spec("h:1:2:observer;127.0.0.1:2181", &server));
    assert_true(server.observer);
    assert_true(server.has_client);
    assert_string_equal(server.client_host, "127.0.0.1");
    assert_int_equal(server.client_port, 2181);

    /* IPv6 in brackets: the host is kept without them. */
    assert_true(parse_spec("[::1]:2888:3888;[::1]:2181", &server));
    assert_string_equal(server.host, "::1");
    assert_int_equal(server.quorum_port, 2888);
    assert_int_equal(server.election_port, 3888);
    assert_string_equal(server.client_host, "::1");
    assert_int_equal(server.client_port, 2181);

    /* String.split drops trailing empty parts (3.8 jar: accepted). */
    assert_true(parse_spec("h:1:2::", &server));
    assert_false(server.observer);
    assert_true(parse_spec("h:1:2:observer;", &server));
    assert_true(server.observer);
    assert_false(server.has_client);
    assert_true(parse_spec("h:1:65535", &server));
    assert_int_equal(server.election_port, 65535);
}

static void test_server_parse_errors(void **state)
{
    (void)state;
    assert_spec_fails("host:1:1", "election port must be different");
    assert_spec_fails("host:1", "does not have the form");
    assert_spec_fails("host:1:2:observer:x", "does not have the form");
    assert_spec_fails("host:x:2", "Address unresolved");
    assert_spec_fails("host:1:x", "Address unresolved");
    assert_spec_fails("host:1:2:spy", "Unrecognised peertype: spy");
    assert_spec_fails("a:1:2;b;c", "does not have the form");
    assert_spec_fails("a:1:2;h:1:2", "does not have the form");
    assert_spec_fails("host:65536:2", "");
    assert_spec_fails("host:1:65536", "");
    assert_spec_fails("host:1:2;65536", "");
    assert_spec_fails("host:1:2;h:x", "");
    assert_spec_fails("host:-1:2", "");
    assert_spec_fails("", "");
    assert_spec_fails("[::1:1:2", "");
    assert_spec_fails("a:1:2|b:3:4", "Multiple address");
}

/* ---- parse / format --------------------------------------------------------- */

static void test_config_round_trip(void **state)
{
    (void)state;
    struct quorum_config *config = config_from(CONFIG_MIXED);
    assert_int_equal(config->version, 0x100000000LL);
    assert_int_equal(config->server_count, 4);
    assert_int_equal(quorum_config_voter_count(config), 3);
    const struct quorum_server *observer = quorum_config_find(config, 100);
    assert_non_null(observer);
    assert_true(observer->observer);
    assert_int_equal(observer->quorum_port, 2891);
    assert_string_equal(quorum_config_find(config, 3)->client_host, "0.0.0.0");
    assert_null(quorum_config_find(config, 4));
    assert_text(config, CONFIG_MIXED);

    /* Java's HashMap order, not the input order: 100 & 15 = 4 comes after 3. */
    config = config_from("server.100=127.0.0.1:2891:3891:observer;127.0.0.1:2184\n"
                         "server.3=127.0.0.1:2890:3890:participant;0.0.0.0:2183\n"
                         "server.2=127.0.0.1:2889:3889;127.0.0.1:2182\n"
                         "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n"
                         "version=100000000\n");
    assert_text(config, CONFIG_MIXED);

    /* Blank lines and surrounding spaces are nothing. */
    config = config_from("\n  server.1 = 127.0.0.1:2888:3888:participant;127.0.0.1:2181  \n\n"
                         "server.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182\n   \n"
                         "server.3=127.0.0.1:2890:3890:participant;127.0.0.1:2183\n"
                         "version=0\n\n");
    assert_text(config, CONFIG_THREE);

    /* Only a version: no members. */
    config = config_from("version=0");
    assert_int_equal(config->server_count, 0);
    assert_int_equal(config->version, 0);
    assert_text(config, "version=0");

    /* A member without a client address prints none. */
    config = config_from("server.5=h:1:2\nversion=a");
    assert_int_equal(config->version, 10);
    assert_text(config, "server.5=h:1:2:participant\nversion=a");
}

static void test_config_parse_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "tickTime=2000\nversion=0",
        "server.1=127.0.0.1:2888:3888\nfoo\nversion=0",
        "server.x=127.0.0.1:2888:3888\nversion=0",
        "server.1=127.0.0.1:2888:2888\nversion=0",
        "version=xyz",
        "version=",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct quorum_config *config = config_new();
        char why[WHY_BYTES] = "";
        if (quorum_config_parse(bad[i], strlen(bad[i]), config, why, sizeof(why))) {
            fail_msg("accepted: %s", bad[i]);
        }
        assert_true(why[0] != '\0');
    }
}

static void test_config_format_too_small(void **state)
{
    (void)state;
    struct quorum_config *config = config_from(CONFIG_THREE);
    char small[32];
    assert_false(quorum_config_format(config, small, sizeof(small)));
}

/* ---- quorum, members --------------------------------------------------------- */

static void test_is_quorum(void **state)
{
    (void)state;
    struct quorum_config *config = config_from(CONFIG_MIXED);
    const int64_t two_voters[] = {1, 3};
    const int64_t one_voter[] = {2};
    const int64_t voter_and_observer[] = {2, 100};
    const int64_t repeated[] = {1, 1, 1};
    const int64_t strangers[] = {1, 4, 5, 6};
    const int64_t all[] = {1, 2, 3, 100};
    assert_true(quorum_config_is_quorum(config, two_voters, 2));
    assert_false(quorum_config_is_quorum(config, one_voter, 1));
    assert_false(quorum_config_is_quorum(config, voter_and_observer, 2));
    assert_false(quorum_config_is_quorum(config, repeated, 3));
    assert_false(quorum_config_is_quorum(config, strangers, 4));
    assert_true(quorum_config_is_quorum(config, all, 4));
    assert_false(quorum_config_is_quorum(config, NULL, 0));
    assert_true(quorum_config_is_voter(config, 1));
    assert_false(quorum_config_is_voter(config, 100));
    assert_false(quorum_config_is_voter(config, 4));

    /* Four voters: two is not more than half. */
    config = config_from("server.1=h:1:2\nserver.2=h:3:4\nserver.3=h:5:6\nserver.4=h:7:8\n");
    const int64_t half[] = {1, 2};
    const int64_t three[] = {4, 2, 3};
    assert_false(quorum_config_is_quorum(config, half, 2));
    assert_true(quorum_config_is_quorum(config, three, 3));
}

static void test_members(void **state)
{
    (void)state;
    struct quorum_config *a = config_from(CONFIG_MIXED);
    struct quorum_config *b = config_from(CONFIG_MIXED);
    assert_int_equal(quorum_config_voter_count(a), 3);

    b->version = 5;
    assert_true(quorum_config_same_members(a, b)); /* the version aside */
    b->servers[0].client_port++;
    assert_false(quorum_config_same_members(a, b));

    /* Same members in another order. */
    b = config_from("server.100=127.0.0.1:2891:3891:observer;127.0.0.1:2184\n"
                    "server.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182\n"
                    "server.3=127.0.0.1:2890:3890:participant;0.0.0.0:2183\n"
                    "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n");
    assert_true(quorum_config_same_members(a, b));

    /* Type, address, client part, membership each matter. */
    static const char *const different[] = {
        "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n"
        "server.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182\n"
        "server.3=127.0.0.1:2890:3890:participant;0.0.0.0:2183\n"
        "server.100=127.0.0.1:2891:3891:participant;127.0.0.1:2184\n",
        "server.1=127.0.0.2:2888:3888:participant;127.0.0.1:2181\n"
        "server.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182\n"
        "server.3=127.0.0.1:2890:3890:participant;0.0.0.0:2183\n"
        "server.100=127.0.0.1:2891:3891:observer;127.0.0.1:2184\n",
        "server.1=127.0.0.1:2888:3888:participant\n"
        "server.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182\n"
        "server.3=127.0.0.1:2890:3890:participant;0.0.0.0:2183\n"
        "server.100=127.0.0.1:2891:3891:observer;127.0.0.1:2184\n",
        "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n"
        "server.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182\n"
        "server.3=127.0.0.1:2890:3890:participant;0.0.0.0:2183\n",
        "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n"
        "server.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182\n"
        "server.3=127.0.0.1:2890:3890:participant;0.0.0.0:2183\n"
        "server.101=127.0.0.1:2891:3891:observer;127.0.0.1:2184\n",
    };
    for (size_t i = 0; i < sizeof(different) / sizeof(different[0]); i++) {
        b = config_from(different[i]);
        if (quorum_config_same_members(a, b) || quorum_config_same_members(b, a)) {
            fail_msg("taken as the same members: %s", different[i]);
        }
    }

    struct election_member members[ELECTION_MEMBERS_MAX];
    size_t count = quorum_config_election_members(a, members);
    assert_int_equal(count, 4);
    size_t voting = 0;
    for (size_t i = 0; i < count; i++) {
        bool observer = members[i].id == 100;
        assert_non_null(quorum_config_find(a, members[i].id));
        assert_int_equal(members[i].voting, !observer);
        voting += members[i].voting ? 1 : 0;
    }
    assert_int_equal(voting, 3);
}

/* ---- reconfig ---------------------------------------------------------------- */

/* kazoo's test_add_remove_observer: an observer joins, then leaves. */
static void test_reconfig_observer_joins_and_leaves(void **state)
{
    (void)state;
    struct quorum_config *three = config_from(CONFIG_THREE);
    struct reconfig_result joined =
        reconfig(three, "server.100=0.0.0.0:2999:3999:observer;0.0.0.0:2299", NULL, NULL,
                 0x100000002LL, 2);
    assert_int_equal(joined.rc, ZK_OK);
    assert_int_equal(joined.config->version, 0x100000002LL);
    assert_int_equal(joined.config->server_count, 4);
    assert_int_equal(quorum_config_voter_count(joined.config), 3);
    assert_text(joined.config,
                "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n"
                "server.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182\n"
                "server.3=127.0.0.1:2890:3890:participant;127.0.0.1:2183\n"
                "server.100=0.0.0.0:2999:3999:observer;0.0.0.0:2299\n"
                "version=100000002");

    struct reconfig_result left = reconfig(joined.config, NULL, "100", NULL, 0x100000003LL, 2);
    assert_int_equal(left.rc, ZK_OK);
    assert_null(quorum_config_find(left.config, 100));
    assert_true(quorum_config_same_members(left.config, three));
    assert_int_equal(left.config->version, 0x100000003LL);
    assert_text(left.config,
                "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n"
                "server.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182\n"
                "server.3=127.0.0.1:2890:3890:participant;127.0.0.1:2183\n"
                "version=100000003");

    /* The input is never touched. */
    assert_int_equal(three->server_count, 3);
    assert_int_equal(three->version, 0);
}

static void test_reconfig_incremental(void **state)
{
    (void)state;
    struct quorum_config *three = config_from(CONFIG_THREE);

    /* Leaving and joining together; list items are trimmed, empties skipped. */
    struct reconfig_result both =
        reconfig(three, " server.4=127.0.0.1:2892:3892;2185 , ,server.5=127.0.0.1:2893:3893;2186",
                 "3, ,", NULL, 0x300000001LL, 2);
    assert_int_equal(both.rc, ZK_OK);
    assert_int_equal(both.config->server_count, 4);
    assert_null(quorum_config_find(both.config, 3));
    assert_non_null(quorum_config_find(both.config, 4));
    assert_string_equal(quorum_config_find(both.config, 5)->client_host, "0.0.0.0");

    /* A joining id already present is replaced (here: becomes an observer). */
    struct reconfig_result replaced =
        reconfig(three, "server.3=127.0.0.1:2990:3990:observer;127.0.0.1:2283", NULL, NULL, 9, 2);
    assert_int_equal(replaced.rc, ZK_OK);
    assert_int_equal(replaced.config->server_count, 3);
    assert_int_equal(quorum_config_voter_count(replaced.config), 2);
    const struct quorum_server *three_now = quorum_config_find(replaced.config, 3);
    assert_true(three_now->observer);
    assert_int_equal(three_now->quorum_port, 2990);
    assert_int_equal(three_now->client_port, 2283);

    /* A joiner may reuse its own old addresses. */
    struct reconfig_result same_addresses =
        reconfig(three, "server.2=127.0.0.1:2889:3889:observer;127.0.0.1:2182", NULL, NULL, 9, 2);
    assert_int_equal(same_addresses.rc, ZK_OK);

    /* Leaving an id that is not there changes nothing but the version. */
    struct reconfig_result nothing = reconfig(three, NULL, "42", NULL, 0x500000000LL, 2);
    assert_int_equal(nothing.rc, ZK_OK);
    assert_true(quorum_config_same_members(nothing.config, three));
    assert_int_equal(nothing.config->version, 0x500000000LL);

    /* No change at all: the same members, the new version. */
    struct reconfig_result empty = reconfig(three, NULL, NULL, NULL, 77, 2);
    assert_int_equal(empty.rc, ZK_OK);
    assert_true(quorum_config_same_members(empty.config, three));
    assert_int_equal(empty.config->version, 77);

    /* Leaving one of three keeps two voters: allowed at voters_min 2. */
    struct reconfig_result one_left = reconfig(three, NULL, "1", NULL, 78, 2);
    assert_int_equal(one_left.rc, ZK_OK);
    assert_int_equal(quorum_config_voter_count(one_left.config), 2);
}

static void test_reconfig_incremental_errors(void **state)
{
    (void)state;
    struct quorum_config *three = config_from(CONFIG_THREE);
    /* kazoo: joining "some thing". */
    assert_reconfig_fails(three, "some thing", NULL, NULL, 2, ZK_BADARGUMENTS);
    assert_reconfig_fails(three, "server.5=a=b", NULL, NULL, 2, ZK_BADARGUMENTS);
    /* No client port: each joiner needs three ports. */
    assert_reconfig_fails(three, "server.5=h:1:2", NULL, NULL, 2, ZK_BADARGUMENTS);
    /* A malformed spec: ConfigException -> "Reconfiguration failed". */
    assert_reconfig_fails(three, "server.5=h:1:1;2181", NULL, NULL, 2, ZK_BADARGUMENTS);
    assert_reconfig_fails(three, "server.5=h:1:2:spy;2181", NULL, NULL, 2, ZK_BADARGUMENTS);
    /* A server id that is not a number: NumberFormatException. */
    assert_reconfig_fails(three, "server.x=h:1:2;2181", NULL, NULL, 2, ZK_MARSHALLINGERROR);
    assert_reconfig_fails(three, NULL, "x", NULL, 2, ZK_MARSHALLINGERROR);
    assert_reconfig_fails(three, NULL, "1,x", NULL, 2, ZK_MARSHALLINGERROR);
    /* Too few voters left. */
    assert_reconfig_fails(three, NULL, "1,2", NULL, 2, ZK_BADARGUMENTS);
    assert_reconfig_fails(three, NULL, "1,2,3", NULL, 1, ZK_BADARGUMENTS);
    assert_reconfig_fails(three, "server.2=127.0.0.1:2990:3990:observer;2282", "1", NULL, 2,
                          ZK_BADARGUMENTS);
    /* ... but one is enough at voters_min 1. */
    struct reconfig_result one = reconfig(three, NULL, "1,2", NULL, 5, 1);
    assert_int_equal(one.rc, ZK_OK);
    assert_int_equal(quorum_config_voter_count(one.config), 1);
}

/* QuorumServer.checkAddressDuplicate on routable addresses. */
static void test_reconfig_address_clash(void **state)
{
    (void)state;
    struct quorum_config *routable = config_from(CONFIG_ROUTABLE);
    /* server.2's client address, server.1's quorum or election address. */
    assert_reconfig_fails(routable, "server.5=10.0.0.5:2888:3888;10.0.0.2:2181", NULL, NULL, 2,
                          ZK_BADARGUMENTS);
    assert_reconfig_fails(routable, "server.5=10.0.0.1:2888:4888;2181", NULL, NULL, 2,
                          ZK_BADARGUMENTS);
    assert_reconfig_fails(routable, "server.5=10.0.0.1:4888:3888;2181", NULL, NULL, 2,
                          ZK_BADARGUMENTS);
    /* Across kinds: my quorum address is someone's client address. */
    assert_reconfig_fails(routable, "server.5=10.0.0.3:2181:4888;2181", NULL, NULL, 2,
                          ZK_BADARGUMENTS);

    /* Another port on the same host is fine. */
    struct reconfig_result ok =
        reconfig(routable, "server.5=10.0.0.1:2889:3889;10.0.0.1:2182", NULL, NULL, 5, 2);
    assert_int_equal(ok.rc, ZK_OK);

    /* The clash is with what remains after `leaving`. */
    struct reconfig_result after_leave =
        reconfig(routable, "server.5=10.0.0.2:2888:3888;10.0.0.2:2181", "2", NULL, 5, 2);
    assert_int_equal(after_leave.rc, ZK_OK);
}

/* 3.8 jar: checkAddressDuplicate drops wildcard (0.0.0.0, ::) and loopback
 * addresses (and unresolvable ones) from both sides before comparing, so
 * servers on different hosts may all serve clients on ";2181", and a test
 * ensemble on 127.0.0.1 never clashes. */
static void test_reconfig_special_addresses_never_clash(void **state)
{
    (void)state;
    struct quorum_config *wildcard_clients =
        config_from("server.1=10.0.0.1:2888:3888:participant;0.0.0.0:2181\n"
                    "server.2=10.0.0.2:2888:3888:participant;0.0.0.0:2181\n"
                    "server.3=10.0.0.3:2888:3888:participant;0.0.0.0:2181\n"
                    "version=0");
    struct reconfig_result joined =
        reconfig(wildcard_clients, "server.4=10.0.0.4:2888:3888;2181", NULL, NULL, 5, 2);
    assert_int_equal(joined.rc, ZK_OK);

    struct quorum_config *three = config_from(CONFIG_THREE);
    struct reconfig_result loopback =
        reconfig(three, "server.4=127.0.0.1:2888:4888;127.0.0.1:2182", NULL, NULL, 5, 2);
    assert_int_equal(loopback.rc, ZK_OK);
}

/* PrepRequestProcessor takes the id after the last '.', or the whole key
 * when it has none: "5=spec" joins server 5. */
static void test_reconfig_join_id_without_dot(void **state)
{
    (void)state;
    struct quorum_config *three = config_from(CONFIG_THREE);
    struct reconfig_result joined =
        reconfig(three, "5=127.0.0.1:2895:3895;2195", NULL, NULL, 5, 2);
    assert_int_equal(joined.rc, ZK_OK);
    assert_non_null(quorum_config_find(joined.config, 5));
}

static void test_reconfig_new_members(void **state)
{
    (void)state;
    struct quorum_config *three = config_from(CONFIG_THREE);
    struct reconfig_result replaced =
        reconfig(three,
                 "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181,"
                 "server.2=127.0.0.1:2889:3889;2182\nserver.7=h:1:2:observer",
                 "1", /* joining and leaving are ignored when new_members is given */
                 "server.1=127.0.0.1:4888:5888;127.0.0.1:3181,server.2=127.0.0.1:4889:5889;3182",
                 0x600000001LL, 2);
    assert_int_equal(replaced.rc, ZK_OK);
    assert_text(replaced.config, "server.1=127.0.0.1:4888:5888:participant;127.0.0.1:3181\n"
                                 "server.2=127.0.0.1:4889:5889:participant;0.0.0.0:3182\n"
                                 "version=600000001");

    /* Newlines between entries, Properties' "key value" and "key:value". */
    struct reconfig_result lines =
        reconfig(three, NULL, NULL,
                 "server.1=h:1:2;2181\nserver.2 h:3:4\nserver.3:h:5:6:observer\n", 8, 2);
    assert_int_equal(lines.rc, ZK_OK);
    assert_int_equal(lines.config->server_count, 3);
    assert_int_equal(quorum_config_voter_count(lines.config), 2);
    assert_int_equal(quorum_config_find(lines.config, 2)->election_port, 4);
    assert_true(quorum_config_find(lines.config, 3)->observer);
    assert_int_equal(lines.config->version, 8);

    /* One voter is too few at voters_min 2; a bad spec; a bad id. */
    assert_reconfig_fails(three, NULL, NULL, "server.1=h:1:2;2181", 2, ZK_BADARGUMENTS);
    assert_reconfig_fails(three, NULL, NULL, "server.1=h:1:1;2181,server.2=h:3:4", 2,
                          ZK_BADARGUMENTS);
    assert_reconfig_fails(three, NULL, NULL, "server.x=h:1:2,server.2=h:3:4", 2,
                          ZK_MARSHALLINGERROR);
    assert_reconfig_fails(three, NULL, NULL, "", 2, ZK_BADARGUMENTS);
}

/* 3.8 jar: parseDynamicConfig(props, 3, true, false, ...) throws
 * IllegalArgumentException("Observers w/o participants is an invalid
 * configuration"), which PrepRequestProcessor's catch (Exception) turns into
 * MARSHALLINGERROR; an unknown key throws ConfigException("Unrecognised
 * parameter: foo") -> BADARGUMENTS. */
static void test_reconfig_new_members_as_zookeeper(void **state)
{
    (void)state;
    struct quorum_config *three = config_from(CONFIG_THREE);
    assert_reconfig_fails(three, NULL, NULL, "server.1=h:1:2:observer;2181", 2,
                          ZK_MARSHALLINGERROR);
    assert_reconfig_fails(three, NULL, NULL,
                          "server.1=h:1:2;2181,server.2=h:3:4;2182,foo=bar", 2,
                          ZK_BADARGUMENTS);
    /* "version" is a known key (its value is overridden by the zxid). */
    struct reconfig_result versioned =
        reconfig(three, NULL, NULL, "server.1=h:1:2;2181,server.2=h:3:4;2182,version=5", 9, 2);
    assert_int_equal(versioned.rc, ZK_OK);
    assert_int_equal(versioned.config->version, 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_server_parse_forms, free_configs),
        cmocka_unit_test_teardown(test_server_parse_errors, free_configs),
        cmocka_unit_test_teardown(test_config_round_trip, free_configs),
        cmocka_unit_test_teardown(test_config_parse_errors, free_configs),
        cmocka_unit_test_teardown(test_config_format_too_small, free_configs),
        cmocka_unit_test_teardown(test_is_quorum, free_configs),
        cmocka_unit_test_teardown(test_members, free_configs),
        cmocka_unit_test_teardown(test_reconfig_observer_joins_and_leaves, free_configs),
        cmocka_unit_test_teardown(test_reconfig_incremental, free_configs),
        cmocka_unit_test_teardown(test_reconfig_incremental_errors, free_configs),
        cmocka_unit_test_teardown(test_reconfig_address_clash, free_configs),
        cmocka_unit_test_teardown(test_reconfig_special_addresses_never_clash, free_configs),
        cmocka_unit_test_teardown(test_reconfig_join_id_without_dot, free_configs),
        cmocka_unit_test_teardown(test_reconfig_new_members, free_configs),
        cmocka_unit_test_teardown(test_reconfig_new_members_as_zookeeper, free_configs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
