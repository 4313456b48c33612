/* zoo.cfg parsing against ZooKeeper 3.8's rules (QuorumPeerConfig,
 * java.util.Properties, FourLetterCommands). The `conf` text is compared with
 * what the real ZooKeeper 3.8.0 (Debian 3.8.0-11+deb12u2) printed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/config.h"
#include "dataplane/fourlw.h"
#include "jute/jute.h"

#define WARNINGS_MAX 16

struct warnings {
    char lines[WARNINGS_MAX][CONFIG_WARNING_BYTES_MAX];
    size_t count;
};

static void collect_warning(void *ctx, const char *message)
{
    struct warnings *warnings = ctx;
    assert_true(warnings->count < WARNINGS_MAX);
    snprintf(warnings->lines[warnings->count++], CONFIG_WARNING_BYTES_MAX, "%s", message);
}

/* One config for all tests: it is large (the server table). */
static struct cheetah_config config;
static struct warnings warnings;
static char error[512];

/* Loads `text` as zoo.cfg over the no-file defaults, then finishes. Returns
 * the first non-zero result (error[] says why). */
static int load(const char *text)
{
    config_defaults(&config);
    memset(&warnings, 0, sizeof warnings);
    error[0] = '\0';
    int result = config_load_text(&config, "zoo.cfg", text, strlen(text), error, sizeof error,
                                  collect_warning, &warnings);
    if (result != 0) {
        return result;
    }
    return config_finish(&config, error, sizeof error);
}

static bool has_warning(const char *needle)
{
    for (size_t index = 0; index < warnings.count; index++) {
        if (strstr(warnings.lines[index], needle) != NULL) {
            return true;
        }
    }
    return false;
}

static bool allowed(const char *word)
{
    return config_4lw_allowed(&config, (const uint8_t *)word);
}

/* The load fails and the message names every needle (key, value, expectation). */
static void expect_error(const char *text, const char *needle1, const char *needle2,
                         const char *needle3)
{
    int result = load(text);
    if (result == 0) {
        fail_msg("expected an error for:\n%s", text);
    }
    const char *needles[] = {needle1, needle2, needle3};
    for (size_t index = 0; index < 3; index++) {
        if (needles[index] != NULL && strstr(error, needles[index]) == NULL) {
            fail_msg("error '%s' does not contain '%s'", error, needles[index]);
        }
    }
}

#define DPDK_BASE                                                                                \
    "dataDir=/d\nclientPort=2181\ncheetah.dataplane=dpdk\n"                                     \
    "cheetah.dpdk.eal_args=--no-huge --no-pci -m 256 --vdev=net_tap0,iface=chd0 -l 0\n"

static void test_dpdk_keys(void **state)
{
    (void)state;
    /* uring is the default, and the dpdk keys have their defaults. */
    assert_int_equal(load("dataDir=/d\nclientPort=1\n"), 0);
    assert_int_equal(config.dataplane, CONFIG_DATAPLANE_URING);
    assert_int_equal(config.dpdk.port, 0);
    assert_int_equal(config.dpdk.ipv4_netmask, 0xffffff00u);
    assert_int_equal(config.dpdk.mtu, 1500);
    assert_int_equal(config.dpdk.rx_descriptors, 1024);
    assert_int_equal(config.dpdk.tx_descriptors, 1024);
    assert_int_equal(config.dpdk.mbuf_pool_size, 8191);
    assert_int_equal(config.dpdk.syn_backlog, 0);
    assert_int_equal(config.dpdk.keepalive_idle_ms, -1);
    assert_int_equal(config.dpdk.ipv4_gateway, 0);

    /* The smallest dpdk config: EAL arguments and an address. */
    assert_int_equal(load(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0.2\n"), 0);
    assert_int_equal(config.dataplane, CONFIG_DATAPLANE_DPDK);
    assert_string_equal(config.dpdk.eal_args,
                        "--no-huge --no-pci -m 256 --vdev=net_tap0,iface=chd0 -l 0");
    assert_int_equal(config.dpdk.ipv4_address, 0x0a4e0002u);
    assert_int_equal(warnings.count, 0);

    /* Every key set. */
    assert_int_equal(load(DPDK_BASE "cheetah.dpdk.ipv4_address=192.168.7.20\n"
                          "cheetah.dpdk.netmask=255.255.0.0\n"
                          "cheetah.dpdk.gateway=192.168.0.1\n"
                          "cheetah.dpdk.port=3\n"
                          "cheetah.dpdk.mtu=9000\n"
                          "cheetah.dpdk.rx_descriptors=512\n"
                          "cheetah.dpdk.tx_descriptors=2048\n"
                          "cheetah.dpdk.mbuf_pool_size=16383\n"
                          "cheetah.dpdk.syn_backlog=128\n"
                          "cheetah.dpdk.keepalive_idle_ms=0\n"),
                     0);
    assert_int_equal(config.dpdk.ipv4_address, 0xc0a80714u);
    assert_int_equal(config.dpdk.ipv4_netmask, 0xffff0000u);
    assert_int_equal(config.dpdk.ipv4_gateway, 0xc0a80001u);
    assert_int_equal(config.dpdk.port, 3);
    assert_int_equal(config.dpdk.mtu, 9000);
    assert_int_equal(config.dpdk.rx_descriptors, 512);
    assert_int_equal(config.dpdk.tx_descriptors, 2048);
    assert_int_equal(config.dpdk.mbuf_pool_size, 16383);
    assert_int_equal(config.dpdk.syn_backlog, 128);
    assert_int_equal(config.dpdk.keepalive_idle_ms, 0);
    assert_int_equal(warnings.count, 0);

    /* The dpdk keys are read (and checked) with uring too, but only dpdk
     * requires eal_args and an address. */
    assert_int_equal(load("dataDir=/d\nclientPort=1\ncheetah.dpdk.mtu=1400\n"), 0);
    assert_int_equal(config.dpdk.mtu, 1400);

    /* An unknown cheetah.dpdk key is a warning that lists the known ones. */
    assert_int_equal(load(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0.2\n"
                          "cheetah.dpdk.ip=10.78.0.2\n"),
                     0);
    assert_true(has_warning("cheetah.dpdk.ip"));
    assert_true(has_warning("ipv4_address"));
}

static void test_dpdk_bad_values(void **state)
{
    (void)state;
    expect_error("dataDir=/d\nclientPort=1\ncheetah.dataplane=dpdk\n"
                 "cheetah.dpdk.ipv4_address=10.78.0.2\n",
                 "cheetah.dpdk.eal_args", "--no-huge", NULL);
    expect_error(DPDK_BASE, "cheetah.dpdk.ipv4_address", "10.78.0.2", NULL);
    expect_error(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0\n", "cheetah.dpdk.ipv4_address",
                 "'10.78.0'", "dotted-quad");
    expect_error(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0.256\n",
                 "cheetah.dpdk.ipv4_address", "'10.78.0.256'", "IPv4 address");
    expect_error(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0.2x\n",
                 "cheetah.dpdk.ipv4_address", "'10.78.0.2x'", "IPv4 address");
    expect_error(DPDK_BASE "cheetah.dpdk.ipv4_address=0.0.0.0\n", "cheetah.dpdk.ipv4_address",
                 "'0.0.0.0'", "not 0.0.0.0");
    expect_error(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0.0\n", "cheetah.dpdk.ipv4_address",
                 "network or broadcast", NULL);
    expect_error(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0.255\n",
                 "cheetah.dpdk.ipv4_address", "network or broadcast", NULL);
    expect_error(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0.2\ncheetah.dpdk.netmask=255.0.255.0\n",
                 "cheetah.dpdk.netmask", "'255.0.255.0'", "contiguous");
    expect_error(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0.2\n"
                 "cheetah.dpdk.netmask=255.255.255.255\n",
                 "cheetah.dpdk.netmask", "'255.255.255.255'", "contiguous");
    expect_error(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0.2\ncheetah.dpdk.gateway=10.79.0.1\n",
                 "cheetah.dpdk.gateway", "not in the subnet", NULL);
    expect_error(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0.2\ncheetah.dpdk.gateway=gw\n",
                 "cheetah.dpdk.gateway", "'gw'", "IPv4 address");
    expect_error(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0.2\ncheetah.dpdk.port=-1\n",
                 "cheetah.dpdk.port", "'-1'", "port index");
    expect_error(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0.2\ncheetah.dpdk.mtu=100\n",
                 "cheetah.dpdk.mtu", "'100'", "576 to 9000");
    expect_error(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0.2\ncheetah.dpdk.mtu=9001\n",
                 "cheetah.dpdk.mtu", "'9001'", "576 to 9000");
    expect_error(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0.2\n"
                 "cheetah.dpdk.rx_descriptors=32\n",
                 "cheetah.dpdk.rx_descriptors", "'32'", "64 to 32768");
    expect_error(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0.2\n"
                 "cheetah.dpdk.tx_descriptors=many\n",
                 "cheetah.dpdk.tx_descriptors", "'many'", "descriptor count");
    expect_error(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0.2\n"
                 "cheetah.dpdk.mbuf_pool_size=0\n",
                 "cheetah.dpdk.mbuf_pool_size", "'0'", "mbufs");
    expect_error(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0.2\n"
                 "cheetah.dpdk.mbuf_pool_size=2048\n",
                 "cheetah.dpdk.mbuf_pool_size = 2048", "rx_descriptors", "2048");
    expect_error(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0.2\n"
                 "cheetah.dpdk.syn_backlog=0\n",
                 "cheetah.dpdk.syn_backlog", "'0'", "half-open");
    expect_error(DPDK_BASE "cheetah.dpdk.ipv4_address=10.78.0.2\n"
                 "cheetah.dpdk.keepalive_idle_ms=-1\n",
                 "cheetah.dpdk.keepalive_idle_ms", "'-1'", "milliseconds");
}

static void test_no_file_defaults(void **state)
{
    (void)state;
    config_defaults(&config);
    assert_int_equal(config_finish(&config, error, sizeof error), 0);
    assert_false(config.file_given);
    assert_int_equal(config.client_port, 2181);
    assert_string_equal(config.client_port_address, "127.0.0.1");
    assert_string_equal(config.data_dir, "./data");
    assert_string_equal(config.data_log_dir, "./data");
    assert_int_equal(config.tick_time_ms, 3000);
    assert_int_equal(config.min_session_timeout_ms, 6000);
    assert_int_equal(config.max_session_timeout_ms, 60000);
    assert_int_equal(config.max_client_cnxns, 60);
    assert_int_equal(config.autopurge_snap_retain_count, 3);
    assert_int_equal(config.autopurge_purge_interval_hours, 0);
    assert_int_equal(config.snap_count, 100000);
    assert_int_equal(config.prealloc_size_kb, 65536);
    assert_true(config.force_sync);
    assert_int_equal(config.jute_maxbuffer_bytes, 1048575);
    assert_false(config.extended_types_enabled);
    assert_false(config.skip_acl);
    assert_true(config.standalone_enabled);
    assert_false(config.reconfig_enabled);
    assert_int_equal(config.global_outstanding_limit, 1000);
    assert_int_equal(config.election_alg, 3);
    assert_false(config.local_sessions_enabled);
    assert_true(config.admin_enable_server);
    assert_int_equal(config.admin_server_port, 8080);
    assert_int_equal(config.container_check_interval_ms, 60000);
    assert_int_equal(config.container_max_per_minute, 10000);
    assert_int_equal(config.container_max_never_used_interval_ms, 0);
    assert_false(config.readonly_mode_enabled);
    assert_true(config.digest_enabled);
    assert_int_equal(config.dataplane, CONFIG_DATAPLANE_URING);
    assert_int_equal(config.peer_type, CONFIG_PEER_PARTICIPANT);
    assert_int_equal(config.client_port_listen_backlog, -1);
    assert_string_equal(config.super_digest, "");
    assert_int_equal(config.server_count, 0);
    assert_false(config.distributed);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(config.shards, cores > 1 ? (uint32_t)(cores - 1) : 1u);
    /* The default whitelist is srvr only. */
    assert_true(allowed("srvr"));
    assert_false(allowed("ruok"));
    assert_false(allowed("stat"));
    assert_false(allowed("isro"));
}

static void test_minimal_file(void **state)
{
    (void)state;
    assert_int_equal(load("dataDir=/var/lib/zk\nclientPort=2182\n"), 0);
    assert_true(config.file_given);
    /* A file without clientPortAddress binds every address, as ZooKeeper does. */
    assert_string_equal(config.client_port_address, "0.0.0.0");
    assert_int_equal(config.client_port, 2182);
    assert_string_equal(config.data_dir, "/var/lib/zk");
    assert_string_equal(config.data_log_dir, "/var/lib/zk");
    assert_int_equal(config.tick_time_ms, 3000);
    assert_int_equal(config.min_session_timeout_ms, 6000);
    assert_int_equal(config.max_session_timeout_ms, 60000);
    assert_int_equal(warnings.count, 0);
}

static void test_every_key(void **state)
{
    (void)state;
    const char *text =
        "tickTime=2000\n"
        "initLimit=10\n"
        "syncLimit=5\n"
        "connectToLearnerMasterLimit=7\n"
        "dataDir=/data/zk\n"
        "dataLogDir=/log/zk\n"
        "clientPort=2281\n"
        "clientPortAddress=10.0.0.5\n"
        "clientPortListenBacklog=128\n"
        "maxClientCnxns=0\n"
        "minSessionTimeout=3000\n"
        "maxSessionTimeout=90000\n"
        "server.1=zk1.example.com:2888:3888\n"
        "server.2=zk2.example.com:2888:3888:participant;2281\n"
        "server.3=[fe80::1]:2888:3888:observer;127.0.0.1:2281\n"
        "peerType=participant\n"
        "electionAlg=3\n"
        "autopurge.snapRetainCount=5\n"
        "autopurge.purgeInterval=24\n"
        "snapCount=50000\n"
        "preAllocSize=131072\n"
        "forceSync=no\n"
        "jute.maxbuffer=4194304\n"
        "DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n"
        "4lw.commands.whitelist=stat, ruok, conf, isro\n"
        "extendedTypesEnabled=true\n"
        "skipACL=yes\n"
        "standaloneEnabled=false\n"
        "reconfigEnabled=true\n"
        "globalOutstandingLimit=500\n"
        "localSessionsEnabled=true\n"
        "quorumListenOnAllIPs=true\n"
        "syncEnabled=false\n"
        "observerMasterPort=2999\n"
        "admin.enableServer=false\n"
        "admin.serverPort=9090\n"
        "znode.container.checkIntervalMs=1000\n"
        "znode.container.maxPerMinute=50\n"
        "znode.container.maxNeverUsedIntervalMs=300000\n"
        "readonlymode.enabled=true\n"
        "digest.enabled=false\n"
        "cheetah.dataplane=uring\n"
        "cheetah.shards=3\n";
    assert_int_equal(load(text), 0);
    assert_int_equal(config.tick_time_ms, 2000);
    assert_int_equal(config.init_limit_ticks, 10);
    assert_int_equal(config.sync_limit_ticks, 5);
    assert_int_equal(config.connect_to_learner_master_limit_ticks, 7);
    assert_string_equal(config.data_dir, "/data/zk");
    assert_string_equal(config.data_log_dir, "/log/zk");
    assert_int_equal(config.client_port, 2281);
    assert_string_equal(config.client_port_address, "10.0.0.5");
    assert_int_equal(config.client_port_listen_backlog, 128);
    assert_int_equal(config.max_client_cnxns, 0);
    assert_int_equal(config.min_session_timeout_ms, 3000);
    assert_int_equal(config.max_session_timeout_ms, 90000);
    assert_int_equal(config.server_count, 3);
    const struct config_server *one = config_find_server(&config, 1);
    assert_non_null(one);
    assert_string_equal(one->host, "zk1.example.com");
    assert_int_equal(one->quorum_port, 2888);
    assert_int_equal(one->election_port, 3888);
    assert_int_equal(one->type, CONFIG_PEER_PARTICIPANT);
    assert_false(one->has_client);
    const struct config_server *two = config_find_server(&config, 2);
    assert_non_null(two);
    assert_true(two->has_client);
    assert_string_equal(two->client_host, "0.0.0.0");
    assert_int_equal(two->client_port, 2281);
    const struct config_server *three = config_find_server(&config, 3);
    assert_non_null(three);
    assert_string_equal(three->host, "fe80::1");
    assert_int_equal(three->type, CONFIG_PEER_OBSERVER);
    assert_string_equal(three->client_host, "127.0.0.1");
    assert_null(config_find_server(&config, 4));
    assert_int_equal(config.peer_type, CONFIG_PEER_PARTICIPANT);
    assert_true(config.distributed);
    assert_int_equal(config.autopurge_snap_retain_count, 5);
    assert_int_equal(config.autopurge_purge_interval_hours, 24);
    assert_int_equal(config.snap_count, 50000);
    assert_int_equal(config.prealloc_size_kb, 131072);
    assert_false(config.force_sync);
    assert_int_equal(config.jute_maxbuffer_bytes, 4194304);
    assert_string_equal(config.super_digest, "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
    assert_true(config.extended_types_enabled);
    assert_true(config.skip_acl);
    assert_false(config.standalone_enabled);
    assert_true(config.reconfig_enabled);
    assert_int_equal(config.global_outstanding_limit, 500);
    assert_true(config.local_sessions_enabled);
    assert_true(config.quorum_listen_on_all_ips);
    assert_false(config.sync_enabled);
    assert_int_equal(config.observer_master_port, 2999);
    assert_false(config.admin_enable_server);
    assert_int_equal(config.admin_server_port, 9090);
    assert_int_equal(config.container_check_interval_ms, 1000);
    assert_int_equal(config.container_max_per_minute, 50);
    assert_int_equal(config.container_max_never_used_interval_ms, 300000);
    assert_true(config.readonly_mode_enabled);
    assert_false(config.digest_enabled);
    assert_int_equal(config.dataplane, CONFIG_DATAPLANE_URING);
    assert_int_equal(config.shards, 3);
    assert_true(allowed("stat"));
    assert_true(allowed("ruok"));
    assert_true(allowed("conf"));
    assert_true(allowed("isro"));
    assert_true(allowed("srvr"));
    assert_false(allowed("mntr"));
    assert_false(allowed("dump"));
    assert_int_equal(warnings.count, 0);
}

static void test_properties_syntax(void **state)
{
    (void)state;
    const char *text =
        "# a comment\n"
        "   ! another comment \\\n"
        "dataDir : /a/b\n"             /* "key : value" */
        "clientPort 2190\n"            /* "key value" */
        "\t tickTime   =   2500   \n"  /* blanks around everything */
        "maxClientCnxns=10\r\n"        /* CRLF */
        "minSessionTimeout=\\\n"       /* continuation */
        "      5000\n"
        "maxSessionTimeout=7\\\n"
        "   0000\r"                    /* continuation joins "7" and "0000"; CR alone ends it */
        "\n"
        "\n"
        "dataLogDir=/with\\ space\\\\x\n" /* escapes: "\ " and "\\" */
        "clientPortAddress=\\u0031\\u0032\\u0037.0.0.1\n"
        "snapCount=1000\n"
        "snapCount=2000\n";            /* the last one wins */
    assert_int_equal(load(text), 0);
    assert_string_equal(config.data_dir, "/a/b");
    assert_int_equal(config.client_port, 2190);
    assert_int_equal(config.tick_time_ms, 2500);
    assert_int_equal(config.max_client_cnxns, 10);
    assert_int_equal(config.min_session_timeout_ms, 5000);
    assert_int_equal(config.max_session_timeout_ms, 70000);
    assert_string_equal(config.data_log_dir, "/with space\\x");
    assert_string_equal(config.client_port_address, "127.0.0.1");
    assert_int_equal(config.snap_count, 2000);
    assert_int_equal(warnings.count, 0);

    /* A comment ending in a backslash does not swallow the next line. */
    assert_int_equal(load("dataDir=/d\n# comment \\\nclientPort=2300\n"), 0);
    assert_int_equal(config.client_port, 2300);
    /* "key=" with nothing: an empty value (an error for a number). */
    expect_error("dataDir=/d\nclientPort=\n", "clientPort", "''", "TCP port");
    /* The last line may lack its newline. */
    assert_int_equal(load("dataDir=/d\nclientPort=2301"), 0);
    assert_int_equal(config.client_port, 2301);
}

static void test_whitelist(void **state)
{
    (void)state;
    /* Comma separated, blanks trimmed, srvr always on. */
    assert_int_equal(load("dataDir=/d\nclientPort=1\n4lw.commands.whitelist= ruok ,  mntr,stat,,\n"),
                     0);
    assert_true(allowed("ruok"));
    assert_true(allowed("mntr"));
    assert_true(allowed("stat"));
    assert_true(allowed("srvr"));
    assert_false(allowed("conf"));
    assert_false(allowed("isro"));
    assert_int_equal(warnings.count, 0);

    /* "*": every known command, telnet close and hash included. */
    assert_int_equal(load("dataDir=/d\nclientPort=1\n4lw.commands.whitelist=*\n"), 0);
    const char *all[] = {"conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk",
                         "srst", "srvr", "stat", "wchc", "wchp", "wchs", "mntr", "isro", "hash"};
    for (size_t index = 0; index < sizeof all / sizeof all[0]; index++) {
        assert_true(allowed(all[index]));
    }
    assert_true(allowed("\xff\xf4\xff\xfd"));
    /* Unknown words are never four-letter words. */
    assert_false(allowed("xyzw"));
    assert_false(allowed("RUOK"));
    assert_false(allowed("icfg"));

    /* "*" among others still enables everything. */
    assert_int_equal(load("dataDir=/d\nclientPort=1\n4lw.commands.whitelist=ruok, *\n"), 0);
    assert_true(allowed("dump"));

    /* Empty list: srvr only. */
    assert_int_equal(load("dataDir=/d\nclientPort=1\n4lw.commands.whitelist=\n"), 0);
    assert_true(allowed("srvr"));
    assert_false(allowed("ruok"));

    /* Blank-separated names are one unknown name: warned, not enabled. */
    assert_int_equal(load("dataDir=/d\nclientPort=1\n4lw.commands.whitelist=ruok stat\n"), 0);
    assert_false(allowed("ruok"));
    assert_false(allowed("stat"));
    assert_true(has_warning("4lw.commands.whitelist"));
    assert_true(has_warning("'ruok stat'"));

    /* readonlymode.enabled adds isro (clients probe with it). */
    assert_int_equal(load("dataDir=/d\nclientPort=1\nreadonlymode.enabled=true\n"), 0);
    assert_true(allowed("isro"));
    assert_false(allowed("ruok"));
}

static void test_bad_values(void **state)
{
    (void)state;
    expect_error("dataDir=/d\nclientPort=1\ntickTime=abc\n", "tickTime", "'abc'", "milliseconds");
    expect_error("dataDir=/d\nclientPort=1\ntickTime=0\n", "tickTime", "'0'", "milliseconds");
    expect_error("dataDir=/d\nclientPort=1\ntickTime=99999999999\n", "tickTime", "99999999999",
                 NULL);
    expect_error("dataDir=/d\nclientPort=70000\n", "clientPort", "'70000'", "1 to 65535");
    expect_error("dataDir=/d\nclientPort=-1\n", "clientPort", "'-1'", "TCP port");
    expect_error("dataDir=/d\nclientPort=21 81\n", "clientPort", "'21 81'", NULL);
    expect_error("dataDir=/d\nclientPort=1\nminSessionTimeout=50000\nmaxSessionTimeout=40000\n",
                 "minSessionTimeout", "50000", "maxSessionTimeout");
    /* Derived max (20 * tickTime) below an explicit min. */
    expect_error("dataDir=/d\nclientPort=1\ntickTime=100\nminSessionTimeout=5000\n",
                 "minSessionTimeout = 5000", "maxSessionTimeout = 2000", NULL);
    expect_error("dataDir=/d\nclientPort=1\nforceSync=maybe\n", "forceSync", "'maybe'", "yes or no");
    expect_error("dataDir=/d\nclientPort=1\nskipACL=true\n", "skipACL", "'true'", "yes or no");
    expect_error("clientPort=2181\n", "dataDir", "not set", NULL);
    expect_error("dataDir=/d\n", "clientPort", "not set", NULL);
    expect_error("dataDir=/d\nclientPortAddress=127.0.0.1\n", "clientPortAddress", "127.0.0.1",
                 "clientPort");
    expect_error("dataDir=/d\nclientPort=1\nsecureClientPort=2281\n", "secureClientPort", "2281",
                 "TLS");
    expect_error("dataDir=/d\nclientPort=1\ncheetah.dataplane=dpdk\n", "cheetah.dpdk.eal_args",
                 "EAL command line", NULL);
    expect_error("dataDir=/d\nclientPort=1\ncheetah.dataplane=tcp\n", "cheetah.dataplane", "tcp",
                 "uring or dpdk");
    expect_error("dataDir=/d\nclientPort=1\ncheetah.shards=0\n", "cheetah.shards", "'0'", NULL);
    expect_error("dataDir=/d\nclientPort=1\nelectionAlg=1\n", "electionAlg", "'1'", "3");
    expect_error("dataDir=/d\nclientPort=1\npeerType=leader\n", "peerType", "leader",
                 "participant or observer");
    expect_error("dataDir=/d\nclientPort=1\nextendedTypesEnabled=yes\n", "extendedTypesEnabled",
                 "'yes'", "true or false");
    expect_error("dataDir=/d\nclientPort=1\njute.maxbuffer=1MB\n", "jute.maxbuffer", "1MB", "bytes");
    expect_error("dataDir=/d\nclientPort=1\nmaxClientCnxns=-5\n", "maxClientCnxns", "-5", NULL);
    expect_error("dataDir=/d\nclientPort=1\npreAllocSize=0\n", "preAllocSize", "'0'", "kilobytes");
    /* dynamicConfigFile is read (test_dynamic_config.c): a missing file is
     * named, with errno, at zoo.cfg's line; an empty value is refused. */
    expect_error("dataDir=/d\nclientPort=1\ndynamicConfigFile=/nonexistent/x.dynamic.1\n",
                 "zoo.cfg:3: dynamicConfigFile", "/nonexistent/x.dynamic.1",
                 "No such file or directory");
    expect_error("dataDir=/d\nclientPort=1\ndynamicConfigFile=\n", "dynamicConfigFile",
                 "zoo.cfg.dynamic.<version>", NULL);
    /* zoo.cfg's own server lines and dynamicConfigFile: both named. */
    expect_error("dataDir=/d\nclientPort=1\ndynamicConfigFile=/nonexistent/x\nserver.1=a:1:2\n",
                 "zoo.cfg:4: server.1", "zoo.cfg:3: dynamicConfigFile", "keep one");
    expect_error("dataDir=/d\nclientPort=1\nsslQuorum=true\n", "sslQuorum", "true", "TLS");
    expect_error("dataDir=/d\nclientPort=1\nstandaloneEnabled=maybe\n", "standaloneEnabled",
                 "maybe", "true or false");
    expect_error("dataDir=/d\nclientPort=1\nDigestAuthenticationProvider.superDigest=nocolon\n",
                 "superDigest", "nocolon", "user:");
    /* The line number is in the message. */
    expect_error("dataDir=/d\n\n# c\nclientPort=x\n", "zoo.cfg:4:", "clientPort", NULL);
}

static void test_server_lines(void **state)
{
    (void)state;
    const char *base = "dataDir=/d\nclientPort=2181\ninitLimit=5\nsyncLimit=2\n";
    char text[1024];
    snprintf(text, sizeof text, "%sserver.1=a:1:2\nserver.2=b:3:4\n", base);
    assert_int_equal(load(text), 0);
    assert_true(config.distributed);

    /* One participant with standaloneEnabled (the default): standalone. */
    snprintf(text, sizeof text, "%sserver.1=a:1:2\n", base);
    assert_int_equal(load(text), 0);
    assert_false(config.distributed);

    /* Client port only from the server line. */
    assert_int_equal(load("dataDir=/d\nserver.1=a:1:2;2185\n"), 0);
    assert_int_equal(config.servers[0].client_port, 2185);

    expect_error("dataDir=/d\nclientPort=1\nserver.1=a:1\n", "server.1", "a:1", "host:quorumPort");
    expect_error("dataDir=/d\nclientPort=1\nserver.1=a:1:2:3:4\n", "server.1", "a:1:2:3:4", NULL);
    expect_error("dataDir=/d\nclientPort=1\nserver.1=a:x:2\n", "server.1", "a:x:2", "quorum port");
    expect_error("dataDir=/d\nclientPort=1\nserver.1=a:1:99999\n", "server.1", "99999",
                 "election port");
    expect_error("dataDir=/d\nclientPort=1\nserver.1=a:1:2:voter\n", "server.1", "voter",
                 "participant or observer");
    expect_error("dataDir=/d\nclientPort=1\nserver.1=a:1:2;h:p\n", "server.1", "h:p", "client port");
    expect_error("dataDir=/d\nclientPort=1\nserver.1=a:1:2;1;2\n", "server.1", "a:1:2;1;2", NULL);
    expect_error("dataDir=/d\nclientPort=1\nserver.x=a:1:2\n", "server.x", "'x'", "server id");
    expect_error("dataDir=/d\nclientPort=1\nserver.1=a:1:2\nserver.1=b:1:2\n", "server.1", "twice",
                 NULL);
    expect_error("dataDir=/d\nclientPort=1\nserver.1=a:1:2|b:3:4\n", "server.1", "a:1:2|b:3:4",
                 "not supported yet");
    /* An ensemble needs initLimit and syncLimit. */
    expect_error("dataDir=/d\nclientPort=1\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\n",
                 "initLimit", "not set", NULL);
    expect_error("dataDir=/d\nclientPort=1\ninitLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\n",
                 "syncLimit", "not set", NULL);
    /* Extended types need server ids <= 254. */
    expect_error("dataDir=/d\nclientPort=1\nextendedTypesEnabled=true\nserver.300=a:1:2\n",
                 "server.300", "254", NULL);
}

static void test_warnings(void **state)
{
    (void)state;
    assert_int_equal(load("dataDir=/d\nclientPort=1\nfoo.bar=1\ncheetah.turbo=on\n"
                          "autopurge.snapRetainCount=1\njvm.pause.monitor=true\nsnapCount=1\n"),
                     0);
    assert_true(has_warning("'foo.bar'"));
    assert_true(has_warning("zookeeper.foo.bar"));
    assert_true(has_warning("'cheetah.turbo'"));
    /* ZooKeeper's own correction, kept. */
    assert_true(has_warning("Invalid autopurge.snapRetainCount: 1. Defaulting to 3"));
    assert_int_equal(config.autopurge_snap_retain_count, 3);
    assert_true(has_warning("jvm.pause.monitor"));
    assert_int_equal(config.snap_count, 2);
    assert_true(has_warning("snapCount"));
    /* Warnings carry the line. */
    assert_true(has_warning("zoo.cfg:3:"));
    assert_int_equal(warnings.count, 5);
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/cheetah-test-config-XXXXXX";
    int descriptor = mkstemp(path);
    assert_true(descriptor >= 0);
    const char *text = "dataDir=/d\nclientPort=2999\n";
    assert_int_equal(write(descriptor, text, strlen(text)), (ssize_t)strlen(text));
    close(descriptor);
    config_defaults(&config);
    assert_int_equal(config_load_file(&config, path, error, sizeof error, NULL, NULL), 0);
    assert_int_equal(config_finish(&config, error, sizeof error), 0);
    assert_int_equal(config.client_port, 2999);
    assert_string_equal(config.file_path, path);
    unlink(path);

    config_defaults(&config);
    assert_int_equal(config_load_file(&config, path, error, sizeof error, NULL, NULL), -1);
    assert_non_null(strstr(error, path));
}

/* `conf` from the real ZooKeeper 3.8.0, standalone, tickTime=2000. */
static const char ZOOKEEPER_CONF[] =
    "clientPort=22100\n"
    "secureClientPort=-1\n"
    "dataDir=/tmp/zookeeper-22100-aqi7yj9z/data/version-2\n"
    "dataDirSize=67109337\n"
    "dataLogDir=/tmp/zookeeper-22100-aqi7yj9z/data/version-2\n"
    "dataLogSize=67109337\n"
    "tickTime=2000\n"
    "maxClientCnxns=60\n"
    "minSessionTimeout=4000\n"
    "maxSessionTimeout=40000\n"
    "clientPortListenBacklog=-1\n"
    "serverId=0\n";

static void expect_conf(const struct config_conf_runtime *runtime, const char *expected)
{
    struct jute_writer out;
    jute_writer_init(&out, 1 << 16);
    config_write_conf(&config, runtime, &out);
    assert_true(out.ok);
    assert_int_equal(out.size, strlen(expected));
    assert_memory_equal(out.data, expected, out.size);
    jute_writer_free(&out);
}

static void test_conf_output(void **state)
{
    (void)state;
    assert_int_equal(load("tickTime=2000\ndataDir=/tmp/zookeeper-22100-aqi7yj9z/data\n"
                          "clientPort=22100\nclientPortAddress=127.0.0.1\n"),
                     0);
    struct config_conf_runtime runtime = {67109337, 67109337, 0, 0, "/ignored"};
    expect_conf(&runtime, ZOOKEEPER_CONF);

    /* Relative dataDir: resolved against the working directory like
     * File.getAbsolutePath (no-file default ./data). */
    config_defaults(&config);
    assert_int_equal(config_finish(&config, error, sizeof error), 0);
    struct config_conf_runtime relative = {1, 2, 0, 0, "/srv/cheetah"};
    expect_conf(&relative,
                "clientPort=2181\nsecureClientPort=-1\n"
                "dataDir=/srv/cheetah/./data/version-2\ndataDirSize=1\n"
                "dataLogDir=/srv/cheetah/./data/version-2\ndataLogSize=2\n"
                "tickTime=3000\nmaxClientCnxns=60\nminSessionTimeout=6000\n"
                "maxSessionTimeout=60000\nclientPortListenBacklog=-1\nserverId=0\n");

    /* forceSync=no is said out loud (ZooKeeper's conf has no such line). */
    assert_int_equal(load("tickTime=2000\ndataDir=/d\nclientPort=2181\nforceSync=no\n"), 0);
    struct config_conf_runtime unsynced = {0, 0, 0, 0, "/"};
    expect_conf(&unsynced,
                "clientPort=2181\nsecureClientPort=-1\n"
                "dataDir=/d/version-2\ndataDirSize=0\n"
                "dataLogDir=/d/version-2\ndataLogSize=0\n"
                "tickTime=2000\nmaxClientCnxns=60\nminSessionTimeout=4000\n"
                "maxSessionTimeout=40000\nclientPortListenBacklog=-1\nserverId=0\n"
                "forceSync=no\n");

    /* Ensemble: QuorumZooKeeperServer's lines and the membership. */
    assert_int_equal(load("tickTime=2000\ndataDir=/d/\ninitLimit=5\nsyncLimit=2\n"
                          "server.1=127.0.0.1:2888:3888;2181\nserver.2=127.0.0.2:2889:3889\n"
                          "server.3=[::1]:2890:3890:observer\n"),
                     0);
    struct config_conf_runtime ensemble = {0, 0, 1, 0x100000000, "/"};
    expect_conf(&ensemble,
                "clientPort=2181\nsecureClientPort=-1\n"
                "dataDir=/d/version-2\ndataDirSize=0\n"
                "dataLogDir=/d/version-2\ndataLogSize=0\n"
                "tickTime=2000\nmaxClientCnxns=60\nminSessionTimeout=4000\n"
                "maxSessionTimeout=40000\nclientPortListenBacklog=-1\nserverId=1\n"
                "initLimit=5\nsyncLimit=2\nelectionAlg=3\nelectionPort=3888\nquorumPort=2888\n"
                "peerType=0\nmembership: \n"
                "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n"
                "server.2=127.0.0.2:2889:3889:participant\n"
                "server.3=[::1]:2890:3890:observer\n"
                "version=100000000");
    /* The leader of a real 3.8.0 ensemble (clientPort given as a key, so the
     * server lines carry no client part). */
    assert_int_equal(load("tickTime=2000\ninitLimit=10\nsyncLimit=5\n"
                          "dataDir=/tmp/config4lw/ens/s3/data\nclientPort=22113\n"
                          "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
                          "4lw.commands.whitelist=*\n"
                          "server.1=127.0.0.1:22121:22131\nserver.2=127.0.0.1:22122:22132\n"
                          "server.3=127.0.0.1:22123:22133\n"),
                     0);
    struct config_conf_runtime leader = {597, 597, 3, 0, "/"};
    expect_conf(&leader,
                "clientPort=22113\n"
                "secureClientPort=-1\n"
                "dataDir=/tmp/config4lw/ens/s3/data/version-2\n"
                "dataDirSize=597\n"
                "dataLogDir=/tmp/config4lw/ens/s3/data/version-2\n"
                "dataLogSize=597\n"
                "tickTime=2000\n"
                "maxClientCnxns=60\n"
                "minSessionTimeout=4000\n"
                "maxSessionTimeout=40000\n"
                "clientPortListenBacklog=-1\n"
                "serverId=3\n"
                "initLimit=10\n"
                "syncLimit=5\n"
                "electionAlg=3\n"
                "electionPort=22133\n"
                "quorumPort=22123\n"
                "peerType=0\n"
                "membership: \n"
                "server.1=127.0.0.1:22121:22131:participant\n"
                "server.2=127.0.0.1:22122:22132:participant\n"
                "server.3=127.0.0.1:22123:22133:participant\n"
                "version=0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_file_defaults),
        cmocka_unit_test(test_minimal_file),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_properties_syntax),
        cmocka_unit_test(test_whitelist),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_dpdk_keys),
        cmocka_unit_test(test_dpdk_bad_values),
        cmocka_unit_test(test_server_lines),
        cmocka_unit_test(test_warnings),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_conf_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
