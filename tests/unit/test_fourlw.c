/* Four-letter words against text captured from the real ZooKeeper 3.8.0
 * (Debian 3.8.0-11+deb12u2), standalone, with three kazoo clients holding
 * data, child and exists watches and one ephemeral (see the report of the
 * config-4lw helper). Values that differ run to run (latencies, addresses,
 * session ids, times) are fed in as the captured values, so the comparison
 * is byte for byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/fourlw.h"
#include "jute/jute.h"

/* The version string of the captured server: fed in so lines compare exactly. */
#define ZK_VERSION "3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC"

static struct jute_writer out;

static int setup(void **state)
{
    (void)state;
    jute_writer_init(&out, 1 << 20);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    jute_writer_free(&out);
    return 0;
}

static void expect_text(const char *expected)
{
    assert_true(out.ok);
    if (out.size != strlen(expected) || memcmp(out.data, expected, out.size) != 0) {
        fail_msg("got:\n%.*s\n--- expected:\n%s", (int)out.size, (const char *)out.data,
                 expected);
    }
    jute_writer_reset(&out);
}

static void test_lookup(void **state)
{
    (void)state;
    const char *words[] = {"conf", "cons", "crst", "dirs", "dump", "envi", "gtmk",
                           "ruok", "stmk", "srst", "srvr", "stat", "wchc", "wchp",
                           "wchs", "mntr", "isro", "hash"};
    const int commands[] = {FOURLW_CONF, FOURLW_CONS, FOURLW_CRST, FOURLW_DIRS, FOURLW_DUMP,
                            FOURLW_ENVI, FOURLW_GTMK, FOURLW_RUOK, FOURLW_STMK, FOURLW_SRST,
                            FOURLW_SRVR, FOURLW_STAT, FOURLW_WCHC, FOURLW_WCHP, FOURLW_WCHS,
                            FOURLW_MNTR, FOURLW_ISRO, FOURLW_HASH};
    for (size_t index = 0; index < sizeof words / sizeof words[0]; index++) {
        assert_int_equal(fourlw_lookup((const uint8_t *)words[index]), commands[index]);
        assert_string_equal(fourlw_name(commands[index]), words[index]);
        assert_int_equal(fourlw_lookup_name(words[index], 4), commands[index]);
    }
    const uint8_t telnet_close[4] = {0xff, 0xf4, 0xff, 0xfd};
    assert_int_equal(fourlw_lookup(telnet_close), FOURLW_TELNET_CLOSE);
    assert_string_equal(fourlw_name(FOURLW_TELNET_CLOSE), "telnet close");
    assert_int_equal(fourlw_lookup_name("telnet close", 12), FOURLW_TELNET_CLOSE);
    /* Not four-letter words: read as a frame length by the server. */
    const char *others[] = {"xyzw", "RUOK", "Ruok", "icfg", "sysp", "ruo ", "kour"};
    for (size_t index = 0; index < sizeof others / sizeof others[0]; index++) {
        assert_int_equal(fourlw_lookup((const uint8_t *)others[index]), -1);
    }
    const uint8_t length_prefix[4] = {0x00, 0x00, 0x00, 0x2c}; /* a ConnectRequest's length */
    assert_int_equal(fourlw_lookup(length_prefix), -1);
    assert_int_equal(fourlw_lookup_name("ruo", 3), -1);
    assert_int_equal(fourlw_lookup_name("ruokk", 5), -1);
}

static void test_simple_replies(void **state)
{
    (void)state;
    /* Captured with 4lw.commands.whitelist=srvr, ruok. */
    fourlw_write_not_whitelisted(&out, FOURLW_STAT);
    expect_text("stat is not executed because it is not in the whitelist.\n");
    fourlw_write_not_whitelisted(&out, FOURLW_MNTR);
    expect_text("mntr is not executed because it is not in the whitelist.\n");
    fourlw_write_not_whitelisted(&out, FOURLW_CONF);
    expect_text("conf is not executed because it is not in the whitelist.\n");
    fourlw_write_not_whitelisted(&out, FOURLW_TELNET_CLOSE);
    expect_text("telnet close is not executed because it is not in the whitelist.\n");
    fourlw_write_ruok(&out);
    expect_text("imok");
    fourlw_write_isro(&out, false);
    expect_text("rw");
    fourlw_write_isro(&out, true);
    expect_text("ro");
    fourlw_write_isro_not_serving(&out);
    expect_text("null");
    fourlw_write_crst(&out);
    expect_text("Connection stats reset.\n");
    fourlw_write_srst(&out);
    expect_text("Server stats reset.\n");
    /* Sizes as ZooKeeper's getDirSize sums them: files, recursively. */
    char directory[] = "/tmp/cheetah-test-fourlw-XXXXXX";
    assert_non_null(mkdtemp(directory));
    char path[128];
    snprintf(path, sizeof path, "%s/log.1", directory);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs("0123456789", file);
    fclose(file);
    snprintf(path, sizeof path, "%s/sub", directory);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/sub/snapshot.1", directory);
    file = fopen(path, "w");
    assert_non_null(file);
    fputs("abc", file);
    fclose(file);
    assert_int_equal(fourlw_directory_size_bytes(directory), 13);
    assert_int_equal(fourlw_directory_size_bytes("/nonexistent/cheetah"), 0);
    unlink(path);
    snprintf(path, sizeof path, "%s/sub", directory);
    rmdir(path);
    snprintf(path, sizeof path, "%s/log.1", directory);
    unlink(path);
    rmdir(directory);
    fourlw_write_dirs(&out, 67109337, 67109337);
    expect_text("datadir_size: 67109337\nlogdir_size: 67109337\n");
    fourlw_write_gtmk(&out, 306);
    expect_text("306");
    fourlw_write_not_serving(&out);
    expect_text("This ZooKeeper instance is not currently serving requests\n");
}

static struct fourlw_server_info captured_server(void)
{
    struct fourlw_server_info info;
    memset(&info, 0, sizeof info);
    info.version = ZK_VERSION;
    info.server_state = "standalone";
    info.last_processed_zxid = 6;
    info.node_count = 8;
    info.latency = (struct fourlw_latency){10, 19, 0, 7}; /* 0/1.9/7 */
    info.packets_received = 14;
    info.packets_sent = 13;
    info.alive_connections = 4;
    info.outstanding_requests = 0;
    return info;
}

static const char ZOOKEEPER_SRVR[] =
    "Zookeeper version: " ZK_VERSION "\n"
    "Latency min/avg/max: 0/1.9/7\n"
    "Received: 14\n"
    "Sent: 13\n"
    "Connections: 4\n"
    "Outstanding: 0\n"
    "Zxid: 0x6\n"
    "Mode: standalone\n"
    "Node count: 8\n";

static void test_srvr(void **state)
{
    (void)state;
    struct fourlw_server_info info = captured_server();
    fourlw_write_srvr(&out, &info);
    expect_text(ZOOKEEPER_SRVR);

    /* The default version keeps the 3.8.0 prefix scripts parse. */
    info.version = NULL;
    fourlw_write_srvr(&out, &info);
    assert_true(out.size > 30);
    assert_memory_equal(out.data, "Zookeeper version: 3.8.0-cheetah-", 33);
    jute_writer_reset(&out);

    /* No requests yet: 0/0.0/0. A leader adds proposal sizes; read-only mode
     * adds its line after the version. Negative zxids print as Java's
     * Long.toHexString does. */
    info = captured_server();
    info.latency = (struct fourlw_latency){0, 0, 123, 456};
    info.last_processed_zxid = -1;
    info.read_only = true;
    info.server_state = "leader";
    struct fourlw_leader_info leader = {0};
    leader.last_proposal_size_bytes = 36;
    leader.min_proposal_size_bytes = 12;
    leader.max_proposal_size_bytes = 99;
    info.leader = &leader;
    fourlw_write_srvr(&out, &info);
    expect_text("Zookeeper version: " ZK_VERSION "\n"
                "READ-ONLY mode; serving only read-only clients\n"
                "Latency min/avg/max: 0/0.0/0\n"
                "Received: 14\nSent: 13\nConnections: 4\nOutstanding: 0\n"
                "Zxid: 0xffffffffffffffff\nMode: leader\nNode count: 8\n"
                "Proposal sizes last/min/max: 36/12/99\n");
}

static void set_address(struct fourlw_connection_info *conn, const char *address, uint16_t port)
{
    snprintf(conn->remote_address, sizeof conn->remote_address, "%s", address);
    conn->remote_port = port;
}

/* The four connections of the capture (the third is the 4lw connection). */
static void captured_connections(struct fourlw_connection_info conns[4])
{
    memset(conns, 0, 4 * sizeof conns[0]);
    set_address(&conns[0], "127.0.0.1", 51502);
    conns[0].interest_ops = 1;
    conns[0].packets_received = 4;
    conns[0].packets_sent = 4;
    conns[0].session_id = 0x1000008ebf70000;
    conns[0].last_operation = "GETD";
    conns[0].established_ms = 1795569404298;
    conns[0].session_timeout_ms = 10000;
    conns[0].last_cxid = 3;
    conns[0].last_zxid = 6;
    conns[0].last_response_time_ms = 584860;
    conns[0].last_latency_ms = 2;
    conns[0].latency_count = 2;
    conns[0].latency_total_ms = 9; /* avg 4 (integer division) */
    conns[0].latency_min_ms = 0;
    conns[0].latency_max_ms = 7;

    set_address(&conns[1], "127.0.0.1", 51510);
    conns[1].interest_ops = 1;
    conns[1].packets_received = 2;
    conns[1].packets_sent = 2;
    conns[1].session_id = 0x1000008ebf70002;
    conns[1].last_operation = "EXIS";
    conns[1].established_ms = 1795569404312;
    conns[1].session_timeout_ms = 10000;
    conns[1].last_cxid = 1;
    conns[1].last_zxid = 6;
    conns[1].last_response_time_ms = 584865;
    conns[1].last_latency_ms = 1;
    conns[1].latency_count = 2;
    conns[1].latency_total_ms = 1;
    conns[1].latency_min_ms = 0;
    conns[1].latency_max_ms = 1;

    set_address(&conns[2], "127.0.0.1", 51556);
    conns[2].interest_ops = 0;
    conns[2].packets_received = 1;

    set_address(&conns[3], "127.0.0.1", 51508);
    conns[3].interest_ops = 1;
    conns[3].packets_received = 4;
    conns[3].packets_sent = 4;
    conns[3].session_id = 0x1000008ebf70001;
    conns[3].last_operation = "GETC";
    conns[3].established_ms = 1795569404309;
    conns[3].session_timeout_ms = 10000;
    conns[3].last_cxid = 3;
    conns[3].last_zxid = 6;
    conns[3].last_response_time_ms = 584863;
    conns[3].last_latency_ms = 0;
    conns[3].latency_count = 3;
    conns[3].latency_total_ms = 1;
    conns[3].latency_min_ms = 0;
    conns[3].latency_max_ms = 1;
}

static void test_cons(void **state)
{
    (void)state;
    struct fourlw_connection_info conns[4];
    captured_connections(conns);
    fourlw_write_cons(&out, conns, 4);
    expect_text(
        " /127.0.0.1:51502[1](queued=0,recved=4,sent=4,sid=0x1000008ebf70000,lop=GETD,"
        "est=1795569404298,to=10000,lcxid=0x3,lzxid=0x6,lresp=584860,llat=2,minlat=0,avglat=4,"
        "maxlat=7)\n"
        " /127.0.0.1:51510[1](queued=0,recved=2,sent=2,sid=0x1000008ebf70002,lop=EXIS,"
        "est=1795569404312,to=10000,lcxid=0x1,lzxid=0x6,lresp=584865,llat=1,minlat=0,avglat=0,"
        "maxlat=1)\n"
        " /127.0.0.1:51556[0](queued=0,recved=1,sent=0)\n"
        " /127.0.0.1:51508[1](queued=0,recved=4,sent=4,sid=0x1000008ebf70001,lop=GETC,"
        "est=1795569404309,to=10000,lcxid=0x3,lzxid=0x6,lresp=584863,llat=0,minlat=0,avglat=0,"
        "maxlat=1)\n"
        "\n");

    /* No requests yet: lcxid is left out while negative; the initial zxid
     * -1 prints in two's complement; IPv6 in brackets; ops 5 = read|write. */
    struct fourlw_connection_info fresh;
    memset(&fresh, 0, sizeof fresh);
    set_address(&fresh, "0:0:0:0:0:0:0:1", 40000);
    fresh.interest_ops = 5;
    fresh.session_id = 0x100000000000001;
    fresh.last_operation = "NA";
    fresh.established_ms = 1;
    fresh.session_timeout_ms = 30000;
    fresh.last_cxid = -1;
    fresh.last_zxid = -1;
    fourlw_write_cons(&out, &fresh, 1);
    expect_text(" /[0:0:0:0:0:0:0:1]:40000[5](queued=0,recved=0,sent=0,sid=0x100000000000001,"
                "lop=NA,est=1,to=30000,lzxid=0xffffffffffffffff,lresp=0,llat=0,minlat=0,"
                "avglat=0,maxlat=0)\n\n");
    fourlw_write_cons(&out, NULL, 0);
    expect_text("\n");
}

static void test_stat(void **state)
{
    (void)state;
    struct fourlw_connection_info conns[4];
    captured_connections(conns);
    conns[2].remote_port = 51546; /* the stat connection itself */
    struct fourlw_server_info info = captured_server();
    info.packets_received = 15;
    info.packets_sent = 14;
    fourlw_write_stat(&out, &info, conns, 4);
    expect_text("Zookeeper version: " ZK_VERSION "\n"
                "Clients:\n"
                " /127.0.0.1:51502[1](queued=0,recved=4,sent=4)\n"
                " /127.0.0.1:51510[1](queued=0,recved=2,sent=2)\n"
                " /127.0.0.1:51546[0](queued=0,recved=1,sent=0)\n"
                " /127.0.0.1:51508[1](queued=0,recved=4,sent=4)\n"
                "\n"
                "Latency min/avg/max: 0/1.9/7\n"
                "Received: 15\n"
                "Sent: 14\n"
                "Connections: 4\n"
                "Outstanding: 0\n"
                "Zxid: 0x6\n"
                "Mode: standalone\n"
                "Node count: 8\n");
}

static void test_watches(void **state)
{
    (void)state;
    struct fourlw_watch_summary summary = {3, 2, 3};
    fourlw_write_wchs(&out, &summary);
    expect_text("3 connections watching 2 paths\nTotal watches:3\n");

    const char *const paths_a[] = {"/a"};
    const char *const paths_b[] = {"/a/b"};
    struct fourlw_session_paths sessions[] = {
        {0x1000008ebf70000, paths_a, 1},
        {0x1000008ebf70002, paths_b, 1},
        {0x1000008ebf70001, paths_a, 1},
    };
    fourlw_write_wchc(&out, sessions, 3);
    expect_text("0x1000008ebf70000\n\t/a\n0x1000008ebf70002\n\t/a/b\n0x1000008ebf70001\n\t/a\n\n");

    const int64_t watching_a[] = {0x1000008ebf70000, 0x1000008ebf70001};
    const int64_t watching_b[] = {0x1000008ebf70002};
    struct fourlw_path_sessions by_path[] = {
        {"/a", watching_a, 2},
        {"/a/b", watching_b, 1},
    };
    fourlw_write_wchp(&out, by_path, 2);
    expect_text("/a\n\t0x1000008ebf70000\n\t0x1000008ebf70001\n/a/b\n\t0x1000008ebf70002\n\n");

    /* No watches at all. */
    struct fourlw_watch_summary none = {0, 0, 0};
    fourlw_write_wchs(&out, &none);
    expect_text("0 connections watching 0 paths\nTotal watches:0\n");
    fourlw_write_wchc(&out, NULL, 0);
    expect_text("\n");
    fourlw_write_wchp(&out, NULL, 0);
    expect_text("\n");
}

static void test_dump(void **state)
{
    (void)state;
    /* Java prints dates in the server's time zone; the capture ran in UTC. */
    setenv("TZ", "UTC", 1);
    tzset();
    const int64_t sessions[] = {0x1000008ebf70001, 0x1000008ebf70000, 0x1000008ebf70002};
    struct fourlw_session_bucket session_bucket = {1795569415000, sessions, 3};
    const char *const ephemeral_paths[] = {"/eph"};
    struct fourlw_session_paths ephemerals = {0x1000008ebf70001, ephemeral_paths, 1};
    struct fourlw_connection_info conns[4];
    captured_connections(conns);
    conns[2].remote_port = 51640; /* the dump connection itself */
    struct fourlw_connection_info ordered[4] = {conns[0], conns[1], conns[2], conns[3]};
    struct fourlw_connection_bucket connection_bucket = {1795569419000, ordered, 4};
    struct fourlw_dump_info dump = {&session_bucket, 1, &ephemerals, 1, &connection_bucket, 1};
    fourlw_write_dump(&out, &dump);
    expect_text("SessionTracker dump:\n"
                "Session Sets (1)/(3):\n"
                "3 expire at Wed Nov 25 01:16:55 UTC 2026:\n"
                "\t0x1000008ebf70001\n"
                "\t0x1000008ebf70000\n"
                "\t0x1000008ebf70002\n"
                "ephemeral nodes dump:\n"
                "Sessions with Ephemerals (1):\n"
                "0x1000008ebf70001:\n"
                "\t/eph\n"
                "Connections dump:\n"
                "Connections Sets (1)/(4):\n"
                "4 expire at Wed Nov 25 01:16:59 UTC 2026:\n"
                "\tip: /127.0.0.1:51502 sessionId: 0x1000008ebf70000\n"
                "\tip: /127.0.0.1:51510 sessionId: 0x1000008ebf70002\n"
                "\tip: /127.0.0.1:51640 sessionId: 0x0\n"
                "\tip: /127.0.0.1:51508 sessionId: 0x1000008ebf70001\n");
}

static void test_envi(void **state)
{
    (void)state;
    /* ZooKeeper's lines minus the java.* and os.memory.* ones (JVM only). */
    struct fourlw_environment environment = {
        ZK_VERSION, "localhost", "Linux", "amd64", "6.18.44-fc-v669", "root", "/root",
        "/tmp/zookeeper-22100-aqi7yj9z"};
    fourlw_write_envi(&out, &environment);
    expect_text("Environment:\n"
                "zookeeper.version=" ZK_VERSION "\n"
                "host.name=localhost\n"
                "os.name=Linux\n"
                "os.arch=amd64\n"
                "os.version=6.18.44-fc-v669\n"
                "user.name=root\n"
                "user.home=/root\n"
                "user.dir=/tmp/zookeeper-22100-aqi7yj9z\n");

    char storage[2048];
    fourlw_environment_collect(&environment, storage, sizeof storage);
    assert_string_equal(environment.os_name, "Linux");
    assert_true(environment.host_name[0] != '\0');
    assert_true(environment.user_dir[0] == '/');
    environment.version = NULL;
    fourlw_write_envi(&out, &environment);
    /* kazoo's server_version() reads zookeeper.version with ^([\d.]+). */
    assert_non_null(memmem(out.data, out.size, "\nzookeeper.version=3.8.0-cheetah-", 33));
    jute_writer_reset(&out);
}

/* The lines of the captured mntr that Cheetah reports, in ZooKeeper's order
 * (a subsequence of the real output: every other key is left out). */
static const char ZOOKEEPER_MNTR_SUBSET[] =
    "zk_version\t3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n"
    "zk_server_state\tstandalone\n"
    "zk_ephemerals_count\t1\n"
    "zk_num_alive_connections\t4\n"
    "zk_avg_latency\t0.0\n"
    "zk_outstanding_requests\t0\n"
    "zk_znode_count\t8\n"
    "zk_global_sessions\t3\n"
    "zk_last_client_response_size\t-1\n"
    "zk_packets_sent\t2\n"
    "zk_packets_received\t2\n"
    "zk_max_client_response_size\t-1\n"
    "zk_watch_count\t4\n"
    "zk_auth_failed_count\t0\n"
    "zk_min_latency\t0\n"
    "zk_max_file_descriptor_count\t20000\n"
    "zk_approximate_data_size\t61\n"
    "zk_open_file_descriptor_count\t40\n"
    "zk_local_sessions\t0\n"
    "zk_uptime\t737\n"
    "zk_max_latency\t0\n"
    "zk_min_client_response_size\t-1\n"
    "zk_proposal_count\t0\n"
    "zk_connection_rejected\t0\n"
    "zk_cnxn_closed_without_zk_server_running\t0\n"
    "zk_sessionless_connections_expired\t0\n"
    "zk_looking_count\t0\n"
    "zk_learner_proposal_received_count\t0\n"
    "zk_digest_mismatches_count\t0\n"
    "zk_bytes_received_count\t8\n"
    "zk_learner_commit_received_count\t0\n"
    "zk_connection_request_count\t0\n"
    "zk_response_bytes\t0\n"
    "zk_diff_count\t0\n"
    "zk_connection_revalidate_count\t0\n"
    "zk_quit_leading_due_to_disloyal_voter\t0\n"
    "zk_snap_count\t0\n"
    "zk_unrecoverable_error_count\t0\n"
    "zk_unsuccessful_handshake\t0\n"
    "zk_commit_count\t0\n"
    "zk_stale_sessions_expired\t0\n"
    "zk_revalidate_count\t0\n"
    "zk_avg_node_created_watch_count\t0.0\n"
    "zk_min_node_created_watch_count\t0\n"
    "zk_max_node_created_watch_count\t0\n"
    "zk_cnt_node_created_watch_count\t0\n"
    "zk_sum_node_created_watch_count\t0\n"
    "zk_avg_node_deleted_watch_count\t0.0\n"
    "zk_min_node_deleted_watch_count\t0\n"
    "zk_max_node_deleted_watch_count\t0\n"
    "zk_cnt_node_deleted_watch_count\t0\n"
    "zk_sum_node_deleted_watch_count\t0\n"
    "zk_avg_startup_txns_load_time\t0.0\n"
    "zk_min_startup_txns_load_time\t0\n"
    "zk_max_startup_txns_load_time\t0\n"
    "zk_cnt_startup_txns_load_time\t0\n"
    "zk_sum_startup_txns_load_time\t0\n"
    "zk_avg_follower_sync_time\t0.0\n"
    "zk_min_follower_sync_time\t0\n"
    "zk_max_follower_sync_time\t0\n"
    "zk_cnt_follower_sync_time\t0\n"
    "zk_sum_follower_sync_time\t0\n"
    "zk_avg_fsynctime\t0.0\n"
    "zk_min_fsynctime\t0\n"
    "zk_max_fsynctime\t0\n"
    "zk_cnt_fsynctime\t0\n"
    "zk_sum_fsynctime\t0\n"
    "zk_avg_snapshottime\t0.0\n"
    "zk_min_snapshottime\t0\n"
    "zk_max_snapshottime\t0\n"
    "zk_cnt_snapshottime\t0\n"
    "zk_sum_snapshottime\t0\n"
    "zk_avg_unavailable_time\t0.0\n"
    "zk_min_unavailable_time\t0\n"
    "zk_max_unavailable_time\t0\n"
    "zk_cnt_unavailable_time\t0\n"
    "zk_sum_unavailable_time\t0\n"
    "zk_avg_startup_txns_loaded\t0.0\n"
    "zk_min_startup_txns_loaded\t0\n"
    "zk_max_startup_txns_loaded\t0\n"
    "zk_cnt_startup_txns_loaded\t0\n"
    "zk_sum_startup_txns_loaded\t0\n"
    "zk_avg_dbinittime\t0.0\n"
    "zk_min_dbinittime\t0\n"
    "zk_max_dbinittime\t0\n"
    "zk_cnt_dbinittime\t0\n"
    "zk_sum_dbinittime\t0\n"
    "zk_avg_election_time\t0.0\n"
    "zk_min_election_time\t0\n"
    "zk_max_election_time\t0\n"
    "zk_cnt_election_time\t0\n"
    "zk_sum_election_time\t0\n"
    "zk_avg_sync_processor_batch_size\t0.0\n"
    "zk_min_sync_processor_batch_size\t0\n"
    "zk_max_sync_processor_batch_size\t0\n"
    "zk_cnt_sync_processor_batch_size\t0\n"
    "zk_sum_sync_processor_batch_size\t0\n"
    "zk_avg_node_children_watch_count\t0.0\n"
    "zk_min_node_children_watch_count\t0\n"
    "zk_max_node_children_watch_count\t0\n"
    "zk_cnt_node_children_watch_count\t0\n"
    "zk_sum_node_children_watch_count\t0\n"
    "zk_avg_observer_sync_time\t0.0\n"
    "zk_min_observer_sync_time\t0\n"
    "zk_max_observer_sync_time\t0\n"
    "zk_cnt_observer_sync_time\t0\n"
    "zk_sum_observer_sync_time\t0\n"
    "zk_avg_node_changed_watch_count\t0.0\n"
    "zk_min_node_changed_watch_count\t0\n"
    "zk_max_node_changed_watch_count\t0\n"
    "zk_cnt_node_changed_watch_count\t0\n"
    "zk_sum_node_changed_watch_count\t0\n"
    "zk_avg_startup_snap_load_time\t0.0\n"
    "zk_min_startup_snap_load_time\t0\n"
    "zk_max_startup_snap_load_time\t0\n"
    "zk_cnt_startup_snap_load_time\t0\n"
    "zk_sum_startup_snap_load_time\t0\n"
    "zk_avg_updatelatency\t0.0\n"
    "zk_min_updatelatency\t0\n"
    "zk_max_updatelatency\t0\n"
    "zk_cnt_updatelatency\t0\n"
    "zk_sum_updatelatency\t0\n"
    "zk_p50_updatelatency\t0\n"
    "zk_p95_updatelatency\t0\n"
    "zk_p99_updatelatency\t0\n"
    "zk_p999_updatelatency\t0\n"
    "zk_avg_readlatency\t0.0\n"
    "zk_min_readlatency\t0\n"
    "zk_max_readlatency\t0\n"
    "zk_cnt_readlatency\t0\n"
    "zk_sum_readlatency\t0\n"
    "zk_p50_readlatency\t0\n"
    "zk_p95_readlatency\t0\n"
    "zk_p99_readlatency\t0\n"
    "zk_p999_readlatency\t0\n"
    "zk_avg_quorum_ack_latency\t0.0\n"
    "zk_min_quorum_ack_latency\t0\n"
    "zk_max_quorum_ack_latency\t0\n"
    "zk_cnt_quorum_ack_latency\t0\n"
    "zk_sum_quorum_ack_latency\t0\n"
    "zk_p50_quorum_ack_latency\t0\n"
    "zk_p95_quorum_ack_latency\t0\n"
    "zk_p99_quorum_ack_latency\t0\n"
    "zk_p999_quorum_ack_latency\t0\n"
    "zk_avg_commit_propagation_latency\t0.0\n"
    "zk_min_commit_propagation_latency\t0\n"
    "zk_max_commit_propagation_latency\t0\n"
    "zk_cnt_commit_propagation_latency\t0\n"
    "zk_sum_commit_propagation_latency\t0\n"
    "zk_p50_commit_propagation_latency\t0\n"
    "zk_p95_commit_propagation_latency\t0\n"
    "zk_p99_commit_propagation_latency\t0\n"
    "zk_p999_commit_propagation_latency\t0\n"
    "zk_avg_proposal_latency\t0.0\n"
    "zk_min_proposal_latency\t0\n"
    "zk_max_proposal_latency\t0\n"
    "zk_cnt_proposal_latency\t0\n"
    "zk_sum_proposal_latency\t0\n"
    "zk_p50_proposal_latency\t0\n"
    "zk_p95_proposal_latency\t0\n"
    "zk_p99_proposal_latency\t0\n"
    "zk_p999_proposal_latency\t0\n"
;

static void test_mntr(void **state)
{
    (void)state;
    struct fourlw_server_info info;
    memset(&info, 0, sizeof info);
    info.version = ZK_VERSION;
    info.server_state = "standalone";
    info.ephemerals_count = 1;
    info.alive_connections = 4;
    info.latency = (struct fourlw_latency){0, 0, 0, 0};
    info.node_count = 8;
    info.global_sessions = 3;
    info.last_client_response_size = -1;
    info.min_client_response_size = -1;
    info.max_client_response_size = -1;
    info.packets_sent = 2;
    info.packets_received = 2;
    info.watch_count = 4;
    info.max_file_descriptor_count = 20000;
    info.approximate_data_size = 61;
    info.open_file_descriptor_count = 40;
    info.uptime_ms = 737;
    struct fourlw_metrics metrics;
    memset(&metrics, 0, sizeof metrics);
    metrics.counters_present = (UINT64_C(1) << FOURLW_COUNTER_COUNT) - 1;
    metrics.summaries_present = (UINT64_C(1) << FOURLW_SUMMARY_COUNT) - 1;
    metrics.counters[FOURLW_COUNTER_BYTES_RECEIVED_COUNT] = 8;
    info.metrics = &metrics;
    fourlw_write_mntr(&out, &info);
    expect_text(ZOOKEEPER_MNTR_SUBSET);

    /* Without metrics and fd counts: only the gauges. Values feed through. */
    info.metrics = NULL;
    info.open_file_descriptor_count = -1;
    info.max_file_descriptor_count = -1;
    info.latency = (struct fourlw_latency){3, 7, 1, 4};
    fourlw_write_mntr(&out, &info);
    const char *text = (const char *)out.data;
    size_t size = out.size;
    assert_non_null(memmem(text, size, "zk_avg_latency\t2.3333\n", 22));
    assert_non_null(memmem(text, size, "zk_min_latency\t1\n", 17));
    assert_non_null(memmem(text, size, "zk_max_latency\t4\n", 17));
    assert_null(memmem(text, size, "zk_open_file_descriptor_count", 29));
    assert_null(memmem(text, size, "zk_fsynctime", 12));
    assert_null(memmem(text, size, "zk_learners", 11));
    jute_writer_reset(&out);

    /* A summary with samples and percentiles. */
    memset(&metrics, 0, sizeof metrics);
    metrics.summaries_present = UINT64_C(1) << FOURLW_SUMMARY_READLATENCY;
    metrics.summaries[FOURLW_SUMMARY_READLATENCY] =
        (struct fourlw_summary){3, 10, 2, 5, 3, 5, 5, 5};
    info.metrics = &metrics;
    struct fourlw_leader_info leader = {2, 2, 0, 0, 0, 5000, 36, 12, 99};
    info.leader = &leader;
    fourlw_write_mntr(&out, &info);
    text = (const char *)out.data;
    size = out.size;
    const char *expected_summary = "zk_avg_readlatency\t3.3333\nzk_min_readlatency\t2\n"
                                   "zk_max_readlatency\t5\nzk_cnt_readlatency\t3\n"
                                   "zk_sum_readlatency\t10\nzk_p50_readlatency\t3\n"
                                   "zk_p95_readlatency\t5\nzk_p99_readlatency\t5\n"
                                   "zk_p999_readlatency\t5\n";
    assert_non_null(memmem(text, size, expected_summary, strlen(expected_summary)));
    assert_non_null(memmem(text, size, "zk_learners\t2\n", 14));
    assert_non_null(memmem(text, size, "zk_synced_followers\t2\n", 22));
    assert_non_null(memmem(text, size, "zk_leader_uptime\t5000\n", 22));
    assert_non_null(memmem(text, size, "zk_last_proposal_size\t36\n", 25));
    jute_writer_reset(&out);
}

/* The same for a 3.8.0 ensemble (3 servers): the leader's and a follower's
 * mntr, the lines Cheetah reports, in ZooKeeper's order. */
static const char ZOOKEEPER_MNTR_LEADER_SUBSET[] =
    "zk_version\t3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n"
    "zk_server_state\tleader\n"
    "zk_peer_state\tleading - broadcast\n"
    "zk_ephemerals_count\t0\n"
    "zk_num_alive_connections\t1\n"
    "zk_avg_latency\t0.0\n"
    "zk_min_proposal_size\t-1\n"
    "zk_outstanding_requests\t0\n"
    "zk_znode_count\t5\n"
    "zk_global_sessions\t0\n"
    "zk_last_client_response_size\t-1\n"
    "zk_packets_sent\t2\n"
    "zk_packets_received\t3\n"
    "zk_max_proposal_size\t-1\n"
    "zk_max_client_response_size\t-1\n"
    "zk_synced_followers\t2\n"
    "zk_watch_count\t0\n"
    "zk_synced_non_voting_followers\t0\n"
    "zk_synced_observers\t0\n"
    "zk_auth_failed_count\t0\n"
    "zk_min_latency\t0\n"
    "zk_max_file_descriptor_count\t20000\n"
    "zk_approximate_data_size\t182\n"
    "zk_open_file_descriptor_count\t42\n"
    "zk_last_proposal_size\t-1\n"
    "zk_pending_syncs\t0\n"
    "zk_leader_uptime\t475\n"
    "zk_local_sessions\t0\n"
    "zk_uptime\t573\n"
    "zk_max_latency\t0\n"
    "zk_learners\t2\n"
    "zk_min_client_response_size\t-1\n"
    "zk_quorum_size\t3\n"
    "zk_proposal_count\t0\n"
    "zk_connection_rejected\t0\n"
    "zk_cnxn_closed_without_zk_server_running\t0\n"
    "zk_sessionless_connections_expired\t0\n"
    "zk_looking_count\t1\n"
    "zk_learner_proposal_received_count\t0\n"
    "zk_digest_mismatches_count\t0\n"
    "zk_bytes_received_count\t20\n"
    "zk_learner_commit_received_count\t0\n"
    "zk_connection_request_count\t0\n"
    "zk_response_bytes\t0\n"
    "zk_diff_count\t2\n"
    "zk_connection_revalidate_count\t0\n"
    "zk_quit_leading_due_to_disloyal_voter\t0\n"
    "zk_snap_count\t0\n"
    "zk_unrecoverable_error_count\t0\n"
    "zk_unsuccessful_handshake\t0\n"
    "zk_commit_count\t0\n"
    "zk_stale_sessions_expired\t0\n"
    "zk_revalidate_count\t0\n"
    "zk_avg_node_created_watch_count\t0.0\n"
    "zk_min_node_created_watch_count\t0\n"
    "zk_max_node_created_watch_count\t0\n"
    "zk_cnt_node_created_watch_count\t0\n"
    "zk_sum_node_created_watch_count\t0\n"
    "zk_avg_node_deleted_watch_count\t0.0\n"
    "zk_min_node_deleted_watch_count\t0\n"
    "zk_max_node_deleted_watch_count\t0\n"
    "zk_cnt_node_deleted_watch_count\t0\n"
    "zk_sum_node_deleted_watch_count\t0\n"
    "zk_avg_startup_txns_load_time\t0.0\n"
    "zk_min_startup_txns_load_time\t0\n"
    "zk_max_startup_txns_load_time\t0\n"
    "zk_cnt_startup_txns_load_time\t0\n"
    "zk_sum_startup_txns_load_time\t0\n"
    "zk_avg_follower_sync_time\t0.0\n"
    "zk_min_follower_sync_time\t0\n"
    "zk_max_follower_sync_time\t0\n"
    "zk_cnt_follower_sync_time\t0\n"
    "zk_sum_follower_sync_time\t0\n"
    "zk_avg_fsynctime\t0.0\n"
    "zk_min_fsynctime\t0\n"
    "zk_max_fsynctime\t0\n"
    "zk_cnt_fsynctime\t0\n"
    "zk_sum_fsynctime\t0\n"
    "zk_avg_snapshottime\t1.0\n"
    "zk_min_snapshottime\t1\n"
    "zk_max_snapshottime\t1\n"
    "zk_cnt_snapshottime\t1\n"
    "zk_sum_snapshottime\t1\n"
    "zk_avg_unavailable_time\t443.0\n"
    "zk_min_unavailable_time\t443\n"
    "zk_max_unavailable_time\t443\n"
    "zk_cnt_unavailable_time\t1\n"
    "zk_sum_unavailable_time\t443\n"
    "zk_avg_startup_txns_loaded\t0.0\n"
    "zk_min_startup_txns_loaded\t0\n"
    "zk_max_startup_txns_loaded\t0\n"
    "zk_cnt_startup_txns_loaded\t0\n"
    "zk_sum_startup_txns_loaded\t0\n"
    "zk_avg_dbinittime\t24.0\n"
    "zk_min_dbinittime\t24\n"
    "zk_max_dbinittime\t24\n"
    "zk_cnt_dbinittime\t1\n"
    "zk_sum_dbinittime\t24\n"
    "zk_avg_election_time\t286.0\n"
    "zk_min_election_time\t286\n"
    "zk_max_election_time\t286\n"
    "zk_cnt_election_time\t1\n"
    "zk_sum_election_time\t286\n"
    "zk_avg_sync_processor_batch_size\t0.0\n"
    "zk_min_sync_processor_batch_size\t0\n"
    "zk_max_sync_processor_batch_size\t0\n"
    "zk_cnt_sync_processor_batch_size\t0\n"
    "zk_sum_sync_processor_batch_size\t0\n"
    "zk_avg_node_children_watch_count\t0.0\n"
    "zk_min_node_children_watch_count\t0\n"
    "zk_max_node_children_watch_count\t0\n"
    "zk_cnt_node_children_watch_count\t0\n"
    "zk_sum_node_children_watch_count\t0\n"
    "zk_avg_observer_sync_time\t0.0\n"
    "zk_min_observer_sync_time\t0\n"
    "zk_max_observer_sync_time\t0\n"
    "zk_cnt_observer_sync_time\t0\n"
    "zk_sum_observer_sync_time\t0\n"
    "zk_avg_node_changed_watch_count\t0.0\n"
    "zk_min_node_changed_watch_count\t0\n"
    "zk_max_node_changed_watch_count\t0\n"
    "zk_cnt_node_changed_watch_count\t0\n"
    "zk_sum_node_changed_watch_count\t0\n"
    "zk_avg_startup_snap_load_time\t3.0\n"
    "zk_min_startup_snap_load_time\t3\n"
    "zk_max_startup_snap_load_time\t3\n"
    "zk_cnt_startup_snap_load_time\t1\n"
    "zk_sum_startup_snap_load_time\t3\n"
    "zk_avg_updatelatency\t0.0\n"
    "zk_min_updatelatency\t0\n"
    "zk_max_updatelatency\t0\n"
    "zk_cnt_updatelatency\t0\n"
    "zk_sum_updatelatency\t0\n"
    "zk_p50_updatelatency\t0\n"
    "zk_p95_updatelatency\t0\n"
    "zk_p99_updatelatency\t0\n"
    "zk_p999_updatelatency\t0\n"
    "zk_avg_readlatency\t0.0\n"
    "zk_min_readlatency\t0\n"
    "zk_max_readlatency\t0\n"
    "zk_cnt_readlatency\t0\n"
    "zk_sum_readlatency\t0\n"
    "zk_p50_readlatency\t0\n"
    "zk_p95_readlatency\t0\n"
    "zk_p99_readlatency\t0\n"
    "zk_p999_readlatency\t0\n"
    "zk_avg_quorum_ack_latency\t0.0\n"
    "zk_min_quorum_ack_latency\t0\n"
    "zk_max_quorum_ack_latency\t0\n"
    "zk_cnt_quorum_ack_latency\t0\n"
    "zk_sum_quorum_ack_latency\t0\n"
    "zk_p50_quorum_ack_latency\t0\n"
    "zk_p95_quorum_ack_latency\t0\n"
    "zk_p99_quorum_ack_latency\t0\n"
    "zk_p999_quorum_ack_latency\t0\n"
    "zk_avg_commit_propagation_latency\t0.0\n"
    "zk_min_commit_propagation_latency\t0\n"
    "zk_max_commit_propagation_latency\t0\n"
    "zk_cnt_commit_propagation_latency\t0\n"
    "zk_sum_commit_propagation_latency\t0\n"
    "zk_p50_commit_propagation_latency\t0\n"
    "zk_p95_commit_propagation_latency\t0\n"
    "zk_p99_commit_propagation_latency\t0\n"
    "zk_p999_commit_propagation_latency\t0\n"
    "zk_avg_proposal_latency\t0.0\n"
    "zk_min_proposal_latency\t0\n"
    "zk_max_proposal_latency\t0\n"
    "zk_cnt_proposal_latency\t0\n"
    "zk_sum_proposal_latency\t0\n"
    "zk_p50_proposal_latency\t0\n"
    "zk_p95_proposal_latency\t0\n"
    "zk_p99_proposal_latency\t0\n"
    "zk_p999_proposal_latency\t0\n"
;

static const char ZOOKEEPER_MNTR_FOLLOWER_SUBSET[] =
    "zk_version\t3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n"
    "zk_server_state\tfollower\n"
    "zk_peer_state\tfollowing - broadcast\n"
    "zk_ephemerals_count\t0\n"
    "zk_num_alive_connections\t1\n"
    "zk_avg_latency\t0.0\n"
    "zk_outstanding_requests\t0\n"
    "zk_znode_count\t5\n"
    "zk_global_sessions\t0\n"
    "zk_last_client_response_size\t-1\n"
    "zk_packets_sent\t2\n"
    "zk_packets_received\t3\n"
    "zk_max_client_response_size\t-1\n"
    "zk_watch_count\t0\n"
    "zk_auth_failed_count\t0\n"
    "zk_min_latency\t0\n"
    "zk_max_file_descriptor_count\t20000\n"
    "zk_approximate_data_size\t182\n"
    "zk_open_file_descriptor_count\t40\n"
    "zk_local_sessions\t0\n"
    "zk_uptime\t507\n"
    "zk_max_latency\t0\n"
    "zk_min_client_response_size\t-1\n"
    "zk_quorum_size\t3\n"
    "zk_proposal_count\t0\n"
    "zk_connection_rejected\t0\n"
    "zk_cnxn_closed_without_zk_server_running\t0\n"
    "zk_sessionless_connections_expired\t0\n"
    "zk_looking_count\t1\n"
    "zk_learner_proposal_received_count\t0\n"
    "zk_digest_mismatches_count\t0\n"
    "zk_bytes_received_count\t20\n"
    "zk_learner_commit_received_count\t0\n"
    "zk_connection_request_count\t0\n"
    "zk_response_bytes\t0\n"
    "zk_diff_count\t0\n"
    "zk_connection_revalidate_count\t0\n"
    "zk_quit_leading_due_to_disloyal_voter\t0\n"
    "zk_snap_count\t0\n"
    "zk_unrecoverable_error_count\t0\n"
    "zk_unsuccessful_handshake\t0\n"
    "zk_commit_count\t0\n"
    "zk_stale_sessions_expired\t0\n"
    "zk_revalidate_count\t0\n"
    "zk_avg_node_created_watch_count\t0.0\n"
    "zk_min_node_created_watch_count\t0\n"
    "zk_max_node_created_watch_count\t0\n"
    "zk_cnt_node_created_watch_count\t0\n"
    "zk_sum_node_created_watch_count\t0\n"
    "zk_avg_node_deleted_watch_count\t0.0\n"
    "zk_min_node_deleted_watch_count\t0\n"
    "zk_max_node_deleted_watch_count\t0\n"
    "zk_cnt_node_deleted_watch_count\t0\n"
    "zk_sum_node_deleted_watch_count\t0\n"
    "zk_avg_startup_txns_load_time\t0.0\n"
    "zk_min_startup_txns_load_time\t0\n"
    "zk_max_startup_txns_load_time\t0\n"
    "zk_cnt_startup_txns_load_time\t0\n"
    "zk_sum_startup_txns_load_time\t0\n"
    "zk_avg_follower_sync_time\t122.0\n"
    "zk_min_follower_sync_time\t122\n"
    "zk_max_follower_sync_time\t122\n"
    "zk_cnt_follower_sync_time\t1\n"
    "zk_sum_follower_sync_time\t122\n"
    "zk_avg_fsynctime\t0.0\n"
    "zk_min_fsynctime\t0\n"
    "zk_max_fsynctime\t0\n"
    "zk_cnt_fsynctime\t0\n"
    "zk_sum_fsynctime\t0\n"
    "zk_avg_snapshottime\t0.0\n"
    "zk_min_snapshottime\t0\n"
    "zk_max_snapshottime\t0\n"
    "zk_cnt_snapshottime\t0\n"
    "zk_sum_snapshottime\t0\n"
    "zk_avg_unavailable_time\t406.0\n"
    "zk_min_unavailable_time\t406\n"
    "zk_max_unavailable_time\t406\n"
    "zk_cnt_unavailable_time\t1\n"
    "zk_sum_unavailable_time\t406\n"
    "zk_avg_startup_txns_loaded\t0.0\n"
    "zk_min_startup_txns_loaded\t0\n"
    "zk_max_startup_txns_loaded\t0\n"
    "zk_cnt_startup_txns_loaded\t0\n"
    "zk_sum_startup_txns_loaded\t0\n"
    "zk_avg_dbinittime\t45.0\n"
    "zk_min_dbinittime\t45\n"
    "zk_max_dbinittime\t45\n"
    "zk_cnt_dbinittime\t1\n"
    "zk_sum_dbinittime\t45\n"
    "zk_avg_election_time\t239.0\n"
    "zk_min_election_time\t239\n"
    "zk_max_election_time\t239\n"
    "zk_cnt_election_time\t1\n"
    "zk_sum_election_time\t239\n"
    "zk_avg_sync_processor_batch_size\t0.0\n"
    "zk_min_sync_processor_batch_size\t0\n"
    "zk_max_sync_processor_batch_size\t0\n"
    "zk_cnt_sync_processor_batch_size\t0\n"
    "zk_sum_sync_processor_batch_size\t0\n"
    "zk_avg_node_children_watch_count\t0.0\n"
    "zk_min_node_children_watch_count\t0\n"
    "zk_max_node_children_watch_count\t0\n"
    "zk_cnt_node_children_watch_count\t0\n"
    "zk_sum_node_children_watch_count\t0\n"
    "zk_avg_observer_sync_time\t0.0\n"
    "zk_min_observer_sync_time\t0\n"
    "zk_max_observer_sync_time\t0\n"
    "zk_cnt_observer_sync_time\t0\n"
    "zk_sum_observer_sync_time\t0\n"
    "zk_avg_node_changed_watch_count\t0.0\n"
    "zk_min_node_changed_watch_count\t0\n"
    "zk_max_node_changed_watch_count\t0\n"
    "zk_cnt_node_changed_watch_count\t0\n"
    "zk_sum_node_changed_watch_count\t0\n"
    "zk_avg_startup_snap_load_time\t1.0\n"
    "zk_min_startup_snap_load_time\t1\n"
    "zk_max_startup_snap_load_time\t1\n"
    "zk_cnt_startup_snap_load_time\t1\n"
    "zk_sum_startup_snap_load_time\t1\n"
    "zk_avg_updatelatency\t0.0\n"
    "zk_min_updatelatency\t0\n"
    "zk_max_updatelatency\t0\n"
    "zk_cnt_updatelatency\t0\n"
    "zk_sum_updatelatency\t0\n"
    "zk_p50_updatelatency\t0\n"
    "zk_p95_updatelatency\t0\n"
    "zk_p99_updatelatency\t0\n"
    "zk_p999_updatelatency\t0\n"
    "zk_avg_readlatency\t0.0\n"
    "zk_min_readlatency\t0\n"
    "zk_max_readlatency\t0\n"
    "zk_cnt_readlatency\t0\n"
    "zk_sum_readlatency\t0\n"
    "zk_p50_readlatency\t0\n"
    "zk_p95_readlatency\t0\n"
    "zk_p99_readlatency\t0\n"
    "zk_p999_readlatency\t0\n"
    "zk_avg_quorum_ack_latency\t0.0\n"
    "zk_min_quorum_ack_latency\t0\n"
    "zk_max_quorum_ack_latency\t0\n"
    "zk_cnt_quorum_ack_latency\t0\n"
    "zk_sum_quorum_ack_latency\t0\n"
    "zk_p50_quorum_ack_latency\t0\n"
    "zk_p95_quorum_ack_latency\t0\n"
    "zk_p99_quorum_ack_latency\t0\n"
    "zk_p999_quorum_ack_latency\t0\n"
    "zk_avg_commit_propagation_latency\t0.0\n"
    "zk_min_commit_propagation_latency\t0\n"
    "zk_max_commit_propagation_latency\t0\n"
    "zk_cnt_commit_propagation_latency\t0\n"
    "zk_sum_commit_propagation_latency\t0\n"
    "zk_p50_commit_propagation_latency\t0\n"
    "zk_p95_commit_propagation_latency\t0\n"
    "zk_p99_commit_propagation_latency\t0\n"
    "zk_p999_commit_propagation_latency\t0\n"
    "zk_avg_proposal_latency\t0.0\n"
    "zk_min_proposal_latency\t0\n"
    "zk_max_proposal_latency\t0\n"
    "zk_cnt_proposal_latency\t0\n"
    "zk_sum_proposal_latency\t0\n"
    "zk_p50_proposal_latency\t0\n"
    "zk_p95_proposal_latency\t0\n"
    "zk_p99_proposal_latency\t0\n"
    "zk_p999_proposal_latency\t0\n"
;

static struct fourlw_summary one_sample(int64_t value)
{
    return (struct fourlw_summary){1, value, value, value, 0, 0, 0, 0};
}

static void test_mntr_ensemble(void **state)
{
    (void)state;
    struct fourlw_server_info info;
    memset(&info, 0, sizeof info);
    info.version = ZK_VERSION;
    info.server_state = "leader";
    info.peer_state = "leading - broadcast";
    info.quorum_size = 3;
    info.alive_connections = 1;
    info.node_count = 5;
    info.last_client_response_size = -1;
    info.min_client_response_size = -1;
    info.max_client_response_size = -1;
    info.packets_sent = 2;
    info.packets_received = 3;
    info.max_file_descriptor_count = 20000;
    info.approximate_data_size = 182;
    info.open_file_descriptor_count = 42;
    info.uptime_ms = 573;
    struct fourlw_leader_info leader = {2, 2, 0, 0, 0, 475, -1, -1, -1};
    info.leader = &leader;
    struct fourlw_metrics metrics;
    memset(&metrics, 0, sizeof metrics);
    metrics.counters_present = (UINT64_C(1) << FOURLW_COUNTER_COUNT) - 1;
    metrics.summaries_present = (UINT64_C(1) << FOURLW_SUMMARY_COUNT) - 1;
    metrics.counters[FOURLW_COUNTER_LOOKING_COUNT] = 1;
    metrics.counters[FOURLW_COUNTER_BYTES_RECEIVED_COUNT] = 20;
    metrics.counters[FOURLW_COUNTER_DIFF_COUNT] = 2;
    metrics.summaries[FOURLW_SUMMARY_SNAPSHOTTIME] = one_sample(1);
    metrics.summaries[FOURLW_SUMMARY_UNAVAILABLE_TIME] = one_sample(443);
    metrics.summaries[FOURLW_SUMMARY_DBINITTIME] = one_sample(24);
    metrics.summaries[FOURLW_SUMMARY_ELECTION_TIME] = one_sample(286);
    metrics.summaries[FOURLW_SUMMARY_STARTUP_SNAP_LOAD_TIME] = one_sample(3);
    info.metrics = &metrics;
    fourlw_write_mntr(&out, &info);
    expect_text(ZOOKEEPER_MNTR_LEADER_SUBSET);

    info.server_state = "follower";
    info.peer_state = "following - broadcast";
    info.leader = NULL;
    info.open_file_descriptor_count = 40;
    info.uptime_ms = 507;
    memset(&metrics, 0, sizeof metrics);
    metrics.counters_present = (UINT64_C(1) << FOURLW_COUNTER_COUNT) - 1;
    metrics.summaries_present = (UINT64_C(1) << FOURLW_SUMMARY_COUNT) - 1;
    metrics.counters[FOURLW_COUNTER_LOOKING_COUNT] = 1;
    metrics.counters[FOURLW_COUNTER_BYTES_RECEIVED_COUNT] = 20;
    metrics.summaries[FOURLW_SUMMARY_FOLLOWER_SYNC_TIME] = one_sample(122);
    metrics.summaries[FOURLW_SUMMARY_UNAVAILABLE_TIME] = one_sample(406);
    metrics.summaries[FOURLW_SUMMARY_DBINITTIME] = one_sample(45);
    metrics.summaries[FOURLW_SUMMARY_ELECTION_TIME] = one_sample(239);
    metrics.summaries[FOURLW_SUMMARY_STARTUP_SNAP_LOAD_TIME] = one_sample(1);
    fourlw_write_mntr(&out, &info);
    expect_text(ZOOKEEPER_MNTR_FOLLOWER_SUBSET);
}

static void expect_double(double value, const char *expected)
{
    char text[64];
    size_t length = fourlw_format_java_double(value, text, sizeof text);
    assert_int_equal(length, strlen(expected));
    assert_string_equal(text, expected);
}

static void test_java_numbers(void **state)
{
    (void)state;
    /* Double.toString. */
    expect_double(0.0, "0.0");
    expect_double(1.9, "1.9");
    expect_double(100.0, "100.0");
    expect_double(2.3333, "2.3333");
    expect_double(0.001, "0.001");
    expect_double(5.0E-4, "5.0E-4");
    expect_double(1234567.5, "1234567.5");
    expect_double(1.0E7, "1.0E7");
    expect_double(1.2345678E7, "1.2345678E7");
    expect_double(-1.5, "-1.5");
    /* AvgMinMaxCounter.getAvg: BigDecimal HALF_UP at 4 decimals. */
    assert_true(fourlw_average_4dp(0, 0) == 0.0);
    assert_true(fourlw_average_4dp(19, 10) == 1.9);
    assert_true(fourlw_average_4dp(7, 3) == 2.3333);
    assert_true(fourlw_average_4dp(2, 3) == 0.6667);
    assert_true(fourlw_average_4dp(1, 32) == 0.0313);  /* exact tie 0.03125 rounds up */
    assert_true(fourlw_average_4dp(1, 64) == 0.0156);  /* 0.015625 */
    assert_true(fourlw_average_4dp(3, 64) == 0.0469);  /* 0.046875 */
    assert_true(fourlw_average_4dp(5, 8) == 0.625);
    assert_true(fourlw_average_4dp(1, 3000) == 3.0E-4); /* 0.000333.. */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
        cmocka_unit_test_setup_teardown(test_simple_replies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_srvr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump, setup, teardown),
        cmocka_unit_test_setup_teardown(test_envi, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mntr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mntr_ensemble, setup, teardown),
        cmocka_unit_test(test_java_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
