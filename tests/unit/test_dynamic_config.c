/* zoo.cfg.dynamic.<version>, zoo.cfg.bak and the zoo.cfg rewrite against what
 * the real ZooKeeper 3.8.0 wrote (/tmp/zkreconfig/REPORT.md, sections 1, 2
 * and 5), and config_load_file reading dynamicConfigFile back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataplane/config.h"
#include "dataplane/dynamic_config.h"

#define PATH_BYTES 1200
#define FILE_BYTES_MAX 65536

/* The configuration ZooKeeper's first leader gave zoo.cfg's servers. */
static const char CONFIG_TEXT_1[] = "server.1=127.0.0.1:24011:24012:participant\n"
                                    "server.2=127.0.0.1:24021:24022:participant\n"
                                    "server.3=127.0.0.1:24031:24032:participant\n"
                                    "version=100000000";
/* ZooKeeper's zoo.cfg.dynamic.100000000 (128 bytes, no trailing newline). */
static const char DYNAMIC_FILE_1[] = "server.1=127.0.0.1:24011:24012:participant\n"
                                     "server.2=127.0.0.1:24021:24022:participant\n"
                                     "server.3=127.0.0.1:24031:24032:participant";

/* After joining observer 100 (QuorumMaj's HashMap order: 100 last). */
static const char CONFIG_TEXT_2[] = "server.1=127.0.0.1:24011:24012:participant\n"
                                    "server.2=127.0.0.1:24021:24022:participant\n"
                                    "server.3=127.0.0.1:24031:24032:participant\n"
                                    "server.100=0.0.0.0:24091:24092:observer;0.0.0.0:24090\n"
                                    "version=10000000d";
/* ZooKeeper's zoo.cfg.dynamic.10000000d (182 bytes): sorted as strings, so
 * server.100 comes first ('0' < '='). */
static const char DYNAMIC_FILE_2[] = "server.100=0.0.0.0:24091:24092:observer;0.0.0.0:24090\n"
                                     "server.1=127.0.0.1:24011:24012:participant\n"
                                     "server.2=127.0.0.1:24021:24022:participant\n"
                                     "server.3=127.0.0.1:24031:24032:participant";

/* Server 1's own line gains a client address (REPORT §5's add-back). */
static const char CONFIG_TEXT_3[] = "server.1=127.0.0.1:24011:24012:participant;127.0.0.1:24010\n"
                                    "server.2=127.0.0.1:24021:24022:participant\n"
                                    "server.3=127.0.0.1:24031:24032:participant\n"
                                    "version=100000046";

static char directory[256];            /* the temp dir, as created */
static char real_directory[PATH_MAX];  /* its canonical path */
static char static_path[PATH_BYTES];   /* <dir>/zoo.cfg */
static char original[FILE_BYTES_MAX];  /* the zoo.cfg the test wrote */
static struct cheetah_config config;   /* large: static */
static char error[2048];

static void write_text(const char *path, const char *text)
{
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(text, 1, strlen(text), file), strlen(text));
    assert_int_equal(fclose(file), 0);
}

/* The file's bytes, NUL-terminated, in a static buffer (tests read one at a time). */
static const char *read_text(const char *path, size_t *length)
{
    static char buffer[FILE_BYTES_MAX];
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        fail_msg("cannot open %s: %s", path, strerror(errno));
    }
    size_t size = fread(buffer, 1, sizeof buffer - 1, file);
    fclose(file);
    buffer[size] = '\0';
    if (length != NULL) {
        *length = size;
    }
    return buffer;
}

static void path_in_directory(char *out, const char *name)
{
    snprintf(out, PATH_BYTES, "%s/%s", directory, name);
}

static bool exists(const char *name)
{
    char path[PATH_BYTES];
    path_in_directory(path, name);
    struct stat status;
    return stat(path, &status) == 0;
}

static unsigned file_mode(const char *name)
{
    char path[PATH_BYTES];
    path_in_directory(path, name);
    struct stat status;
    assert_int_equal(stat(path, &status), 0);
    return (unsigned)(status.st_mode & 07777);
}

static void expect_file(const char *name, const char *expected)
{
    char path[PATH_BYTES];
    path_in_directory(path, name);
    size_t length;
    const char *bytes = read_text(path, &length);
    if (length != strlen(expected) || memcmp(bytes, expected, length) != 0) {
        fail_msg("%s is\n<<%s>>\nexpected\n<<%s>>", name, bytes, expected);
    }
}

/* A zoo.cfg with comments, a continued server line, a peerType and the
 * client keys, as an operator might write it. */
static int setup_directory(void **state)
{
    (void)state;
    snprintf(directory, sizeof directory, "/tmp/cheetah-test-dynamic-config-XXXXXX");
    assert_non_null(mkdtemp(directory));
    assert_non_null(realpath(directory, real_directory));
    path_in_directory(static_path, "zoo.cfg");
    snprintf(original, sizeof original,
             "# Cheetah test ensemble, member 1\n"
             "tickTime=500\n"
             "dataDir=%s/data\n"
             "clientPort=24010\n"
             "clientPortAddress=127.0.0.1\n"
             "   ! indented comment \\\n"
             "initLimit=10\n"
             "syncLimit=5\n"
             "server.1=127.0.0.1:24011:24012\n"
             "server.2 = 127.0.0.1:24021:\\\n"
             "    24022\n"
             "server.3:127.0.0.1:24031:24032\n"
             "peerType=participant\n"
             "\n"
             "clientPortListenBacklog=50\n"
             "reconfigEnabled=true\n"
             "4lw.commands.whitelist=*\n"
             "DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=",
             directory);
    write_text(static_path, original);
    return 0;
}

static int remove_directory(void **state)
{
    (void)state;
    static const char *const names[] = {
        "zoo.cfg", "zoo.cfg.bak", "zoo.cfg.dynamic.100000000", "zoo.cfg.dynamic.10000000d",
        "zoo.cfg.dynamic.100000046", "other.cfg", "dyn.cfg", "servers.dynamic.1f",
        "servers.dynamic.xyz", "old.bak.cfg", "old.bak.cfg.bak", "old.bak.cfg.dynamic.5",
    };
    for (size_t index = 0; index < sizeof names / sizeof names[0]; index++) {
        char path[PATH_BYTES];
        path_in_directory(path, names[index]);
        unlink(path);
    }
    assert_int_equal(rmdir(directory), 0);
    return 0;
}

/* The kept part of `original` for the tests' rewrites. */
static void expected_static(char *out, size_t out_bytes, bool with_client, const char *version)
{
    snprintf(out, out_bytes,
             "# Cheetah test ensemble, member 1\n"
             "tickTime=500\n"
             "dataDir=%s/data\n"
             "%s"
             "   ! indented comment \\\n"
             "initLimit=10\n"
             "syncLimit=5\n"
             "\n"
             "clientPortListenBacklog=50\n"
             "reconfigEnabled=true\n"
             "4lw.commands.whitelist=*\n"
             "DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n"
             "dynamicConfigFile=%s/zoo.cfg.dynamic.%s\n",
             directory, with_client ? "clientPort=24010\nclientPortAddress=127.0.0.1\n" : "",
             real_directory, version);
}

static int load(const char *path)
{
    config_defaults(&config);
    error[0] = '\0';
    int result = config_load_file(&config, path, error, sizeof error, NULL, NULL);
    if (result != 0) {
        return result;
    }
    return config_finish(&config, error, sizeof error);
}

static void expect_server(int64_t id, const char *host, unsigned quorum_port,
                          unsigned election_port, enum config_peer_type type,
                          const char *client_host, unsigned client_port)
{
    const struct config_server *server = config_find_server(&config, id);
    if (server == NULL) {
        fail_msg("server.%lld missing", (long long)id);
    }
    assert_string_equal(server->host, host);
    assert_int_equal(server->quorum_port, quorum_port);
    assert_int_equal(server->election_port, election_port);
    assert_int_equal(server->type, type);
    assert_int_equal(server->has_client, client_host != NULL);
    if (client_host != NULL) {
        assert_string_equal(server->client_host, client_host);
        assert_int_equal(server->client_port, client_port);
    }
}

/* The whole life of one member's files: first version, a join, a client
 * address that makes zoo.cfg lose clientPort, each read back. */
static void test_persist_sequence(void **state)
{
    (void)state;
    char expected[FILE_BYTES_MAX];

    /* Before: zoo.cfg's own servers, version 0. */
    assert_int_equal(load(static_path), 0);
    assert_int_equal(config.server_count, 3);
    assert_int_equal(config.config_version, 0);

    /* 1. The first leader's version. zoo.cfg's mode (it may hold the super
     * digest) carries over to the rewrite and the .bak. */
    assert_int_equal(chmod(static_path, 0640), 0);
    assert_int_equal(dynamic_config_persist(static_path, CONFIG_TEXT_1, 0x100000000, false, error,
                                            sizeof error),
                     0);
    assert_int_equal(file_mode("zoo.cfg"), 0640);
    assert_int_equal(file_mode("zoo.cfg.bak"), 0640);
    assert_int_equal(file_mode("zoo.cfg.dynamic.100000000"), 0644);
    expect_file("zoo.cfg.dynamic.100000000", DYNAMIC_FILE_1);
    expect_file("zoo.cfg.bak", original);
    expected_static(expected, sizeof expected, true, "100000000");
    expect_file("zoo.cfg", expected);
    assert_false(exists("zoo.cfg.tmp"));
    assert_false(exists("zoo.cfg.dynamic.100000000.tmp"));

    assert_int_equal(load(static_path), 0);
    assert_int_equal(config.config_version, 0x100000000);
    assert_int_equal(config.server_count, 3);
    assert_true(config.distributed);
    assert_int_equal(config.client_port, 24010);
    expect_server(1, "127.0.0.1", 24011, 24012, CONFIG_PEER_PARTICIPANT, NULL, 0);
    expect_server(2, "127.0.0.1", 24021, 24022, CONFIG_PEER_PARTICIPANT, NULL, 0);
    expect_server(3, "127.0.0.1", 24031, 24032, CONFIG_PEER_PARTICIPANT, NULL, 0);

    /* 2. An observer joins: a new file, zoo.cfg repointed, the old file and
     * the .bak untouched. */
    assert_int_equal(dynamic_config_persist(static_path, CONFIG_TEXT_2, 0x10000000d, false, error,
                                            sizeof error),
                     0);
    expect_file("zoo.cfg.dynamic.10000000d", DYNAMIC_FILE_2);
    expect_file("zoo.cfg.dynamic.100000000", DYNAMIC_FILE_1);
    expect_file("zoo.cfg.bak", original);
    expected_static(expected, sizeof expected, true, "10000000d");
    expect_file("zoo.cfg", expected);

    assert_int_equal(load(static_path), 0);
    assert_int_equal(config.config_version, 0x10000000d);
    assert_int_equal(config.server_count, 4);
    expect_server(100, "0.0.0.0", 24091, 24092, CONFIG_PEER_OBSERVER, "0.0.0.0", 24090);
    expect_server(1, "127.0.0.1", 24011, 24012, CONFIG_PEER_PARTICIPANT, NULL, 0);
    expect_server(3, "127.0.0.1", 24031, 24032, CONFIG_PEER_PARTICIPANT, NULL, 0);

    /* 3. This server's own line has a client address: clientPort and
     * clientPortAddress leave zoo.cfg (clientPortListenBacklog stays). */
    assert_int_equal(dynamic_config_persist(static_path, CONFIG_TEXT_3, 0x100000046, true, error,
                                            sizeof error),
                     0);
    expected_static(expected, sizeof expected, false, "100000046");
    expect_file("zoo.cfg", expected);
    expect_file("zoo.cfg.bak", original);
    assert_true(exists("zoo.cfg.dynamic.100000000"));
    assert_true(exists("zoo.cfg.dynamic.10000000d"));

    assert_int_equal(load(static_path), 0);
    assert_int_equal(config.config_version, 0x100000046);
    assert_int_equal(config.server_count, 3);
    assert_int_equal(config.client_port, 0);
    assert_int_equal(config.client_port_listen_backlog, 50);
    expect_server(1, "127.0.0.1", 24011, 24012, CONFIG_PEER_PARTICIPANT, "127.0.0.1", 24010);
    expect_server(2, "127.0.0.1", 24021, 24022, CONFIG_PEER_PARTICIPANT, NULL, 0);
}

/* An existing .bak is the operator's: the first rewrite keeps it. A zoo.cfg
 * without a final newline gets one before dynamicConfigFile. */
static void test_existing_backup_kept(void **state)
{
    (void)state;
    char path[PATH_BYTES];
    char backup[PATH_BYTES];
    path_in_directory(path, "old.bak.cfg");
    path_in_directory(backup, "old.bak.cfg.bak");
    write_text(path, "server.1=a:1:2\nserver.2=b:3:4\ndataDir=/d");
    write_text(backup, "older");
    assert_int_equal(dynamic_config_persist(path, "server.2=b:3:4:participant\n"
                                                  "server.1=a:1:2:participant\nversion=5",
                                            5, false, error, sizeof error),
                     0);
    assert_string_equal(read_text(backup, NULL), "older");
    char dynamic_path[PATH_BYTES];
    path_in_directory(dynamic_path, "old.bak.cfg.dynamic.5");
    assert_string_equal(read_text(dynamic_path, NULL),
                        "server.1=a:1:2:participant\nserver.2=b:3:4:participant");
    char expected[PATH_MAX + 256];
    snprintf(expected, sizeof expected, "dataDir=/d\ndynamicConfigFile=%s/old.bak.cfg.dynamic.5\n",
             real_directory);
    assert_string_equal(read_text(path, NULL), expected);
}

static void test_persist_errors(void **state)
{
    (void)state;
    /* The directory does not exist: the message names the file and errno. */
    char path[PATH_BYTES];
    path_in_directory(path, "missing/zoo.cfg");
    assert_int_equal(dynamic_config_persist(path, CONFIG_TEXT_1, 0x100000000, false, error,
                                            sizeof error),
                     -1);
    assert_non_null(strstr(error, "missing/zoo.cfg.dynamic.100000000"));
    assert_non_null(strstr(error, strerror(ENOENT)));

    /* A configuration text whose version line disagrees, or with a stray line. */
    assert_int_equal(dynamic_config_persist(static_path, CONFIG_TEXT_1, 0x200000000, false, error,
                                            sizeof error),
                     -1);
    assert_non_null(strstr(error, "version=100000000"));
    assert_int_equal(dynamic_config_persist(static_path, "server.1=a:1:2\ngroup.1=1\n", 1, false,
                                            error, sizeof error),
                     -1);
    assert_non_null(strstr(error, "group.1=1"));
    assert_false(exists("zoo.cfg.dynamic.200000000"));
    assert_false(exists("zoo.cfg.dynamic.1"));
}

/* The load fails and the message names every needle. */
static void expect_load_error(const char *path, const char *needle1, const char *needle2,
                              const char *needle3)
{
    if (load(path) == 0) {
        fail_msg("expected an error loading %s", path);
    }
    const char *needles[] = {needle1, needle2, needle3};
    for (size_t index = 0; index < 3; index++) {
        if (needles[index] != NULL && strstr(error, needles[index]) == NULL) {
            fail_msg("error '%s' does not contain '%s'", error, needles[index]);
        }
    }
}

static void test_load_dynamic_file(void **state)
{
    (void)state;
    char cfg[PATH_BYTES];
    char dynamic[PATH_BYTES];
    char text[PATH_BYTES + 256];
    path_in_directory(cfg, "other.cfg");

    /* dynamicConfigFile first, other keys after: order does not matter.
     * The suffix is the version in hex; comments and blank lines are fine. */
    path_in_directory(dynamic, "servers.dynamic.1f");
    write_text(dynamic, "# members\n\nserver.1=a:1:2\nserver.2 = b:3:4:observer;9\n");
    snprintf(text, sizeof text, "dynamicConfigFile=%s\ndataDir=/d\nclientPort=5\n", dynamic);
    write_text(cfg, text);
    assert_int_equal(load(cfg), 0);
    assert_int_equal(config.config_version, 0x1f);
    assert_int_equal(config.server_count, 2);
    expect_server(2, "b", 3, 4, CONFIG_PEER_OBSERVER, "0.0.0.0", 9);
    assert_string_equal(config.file_path, cfg);

    /* No .dynamic.<hex> suffix: version 0. */
    path_in_directory(dynamic, "dyn.cfg");
    write_text(dynamic, "server.1=a:1:2\n");
    snprintf(text, sizeof text, "dataDir=/d\nclientPort=5\ndynamicConfigFile=%s\n", dynamic);
    write_text(cfg, text);
    assert_int_equal(load(cfg), 0);
    assert_int_equal(config.config_version, 0);
    assert_int_equal(config.server_count, 1);

    /* A version line in the dynamic file (ZooKeeper's own words), with its line. */
    write_text(dynamic, "server.1=a:1:2\nversion=100000000\n");
    expect_load_error(cfg, "dyn.cfg:2:", "dynamic file shouldn't have version inside", NULL);

    /* Any other key. */
    write_text(dynamic, "server.1=a:1:2\n\ntickTime=5\n");
    expect_load_error(cfg, "dyn.cfg:3:", "tickTime", "only server.N");

    /* A bad server line: the dynamic file's name and line. */
    write_text(dynamic, "server.1=a:1\n");
    expect_load_error(cfg, "dyn.cfg:1:", "server.1", "host:quorumPort");

    /* Missing: named, with errno. */
    unlink(dynamic);
    expect_load_error(cfg, "dyn.cfg", strerror(ENOENT), "other.cfg:3:");

    /* A suffix that is not hex. */
    path_in_directory(dynamic, "servers.dynamic.xyz");
    write_text(dynamic, "server.1=a:1:2\n");
    snprintf(text, sizeof text, "dataDir=/d\nclientPort=5\ndynamicConfigFile=%s\n", dynamic);
    write_text(cfg, text);
    expect_load_error(cfg, "servers.dynamic.xyz", "hex", NULL);

    /* zoo.cfg with server lines too: both named, whichever comes first. */
    path_in_directory(dynamic, "servers.dynamic.1f");
    snprintf(text, sizeof text,
             "dataDir=/d\nclientPort=5\nserver.7=a:1:2\ndynamicConfigFile=%s\n", dynamic);
    write_text(cfg, text);
    expect_load_error(cfg, "other.cfg:3: server.7", "other.cfg:4: dynamicConfigFile", "keep");
    snprintf(text, sizeof text,
             "dynamicConfigFile=%s\ndataDir=/d\nclientPort=5\nserver.7=a:1:2\n", dynamic);
    write_text(cfg, text);
    expect_load_error(cfg, "server.7", "dynamicConfigFile", "keep");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_persist_sequence),
        cmocka_unit_test(test_existing_backup_kept),
        cmocka_unit_test(test_persist_errors),
        cmocka_unit_test(test_load_dynamic_file),
    };
    return cmocka_run_group_tests(tests, setup_directory, remove_directory);
}
