/* A shard follows the server's role (SHARD_MESSAGE_SERVING) and moves to a
 * replaced tree (SHARD_MESSAGE_TREE): a real shard thread on loopback (ports
 * 23700-23709), real client sockets, and the test playing the consensus
 * core (it delivers shard messages and takes the shard's core requests).
 *
 * The few server.c services a shard calls are stubbed here, so the static
 * library's server.o (and the real core) is never linked in. Every wait is
 * bounded: sockets have receive timeouts and polls have deadlines. */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "consensus/java_random.h"
#include "consensus/pipeline.h"
#include "dataplane/fourlw.h"
#include "dataplane/server.h"
#include "dataplane/shard.h"
#include "jute/records.h"
#include "store_test_writes.h"

#define TEST_PORT_BASE 23700
#define CLIENT_TIMEOUT_MS 3000
#define CORE_WAIT_MS 3000
/* How long "nothing happens" is watched for. */
#define QUIET_MS 200
#define POLL_SLEEP_MS 5
#define FRAME_BYTES_MAX (1u << 20)
#define SESSION_TIMEOUT_MS 10000
#define NOT_SERVING_TEXT "This ZooKeeper instance is not currently serving requests"

/* ---- server.c, stubbed ------------------------------------------------------ */

struct server {
    int unused;
};
static struct server stub_server;

void server_wake_core(struct server *server)
{
    (void)server; /* the test polls the outbound ring */
}

bool server_ip_acquire(struct server *server, const char *address)
{
    (void)server;
    (void)address;
    return true;
}

void server_ip_release(struct server *server, const char *address)
{
    (void)server;
    (void)address;
}

/* Everything is whitelisted but wchs, to see that the whitelist's refusal
 * comes before "not serving", as in ZooKeeper. */
bool server_four_letter_word_allowed(struct server *server, const uint8_t word[4])
{
    (void)server;
    return memcmp(word, "wchs", 4) != 0;
}

/* Marks what the server itself answered. */
void server_four_letter_word(struct server *server, const uint8_t word[4],
                             struct jute_writer *out)
{
    (void)server;
    jute_write_raw(out, "server:", 7);
    jute_write_raw(out, word, 4);
}

void server_info(struct server *server, struct fourlw_server_info *info)
{
    (void)server;
    memset(info, 0, sizeof(*info));
}

/* ---- helpers ------------------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&pause, NULL);
}

struct fixture {
    struct store_tree *tree; /* the tree the shard was created on (NULL once freed) */
    struct shard *shard;
    pthread_t thread;
    uint16_t port;
    int64_t zxid; /* the last zxid the test applied */
};

static void *shard_thread(void *argument)
{
    shard_run(argument);
    return NULL;
}

static struct fixture *shard_start(uint16_t port, bool starts_not_serving)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    fx->tree = store_test_tree_new();
    assert_non_null(fx->tree);
    fx->port = port;
    struct shard_settings settings = {
        .listen_address = "127.0.0.1",
        .listen_port = port,
        .tick_ms = 2000,
        .min_session_timeout_ms = 4000,
        .max_session_timeout_ms = 40000,
        .jute_maxbuffer_bytes = JUTE_MAXBUFFER_DEFAULT_BYTES,
        .connections_max = 64,
        .connection_pending_max = 100,
        .send_buffer_bytes_max = 1u << 20,
        .sessionless_timeout_ms = 10000,
        .watches_max = 1000,
        .starts_not_serving = starts_not_serving,
    };
    char error[256] = "";
    fx->shard = shard_create(&stub_server, 0, &settings, fx->tree, error, sizeof(error));
    if (!fx->shard) {
        fail_msg("shard_create: %s", error);
    }
    assert_int_equal(pthread_create(&fx->thread, NULL, shard_thread, fx->shard), 0);
    return fx;
}

static void shard_finish(struct fixture *fx)
{
    shard_stop(fx->shard);
    assert_int_equal(pthread_join(fx->thread, NULL), 0);
    shard_destroy(fx->shard);
    if (fx->tree) {
        store_tree_destroy(fx->tree);
    }
    free(fx);
}

static void deliver(struct fixture *fx, struct shard_message *message)
{
    assert_true(shard_deliver(fx->shard, message));
    shard_wake(fx->shard);
}

static struct shard_message *message_new(enum shard_message_kind kind)
{
    struct shard_message *message = calloc(1, sizeof(*message));
    assert_non_null(message);
    message->kind = kind;
    return message;
}

static void deliver_serving(struct fixture *fx, bool serving)
{
    struct shard_message *message = message_new(SHARD_MESSAGE_SERVING);
    message->serving = serving;
    deliver(fx, message);
}

/* The shard's next core request other than TOUCH (sessions heard from),
 * waiting up to CORE_WAIT_MS; NULL if none came. */
static struct core_request *next_core_request(struct fixture *fx, int64_t wait_ms)
{
    int64_t deadline_ms = now_ms() + wait_ms;
    for (;;) {
        struct core_request *request = shard_take_core_request(fx->shard);
        if (request && request->kind == CORE_REQUEST_TOUCH) {
            core_request_free(request);
            continue;
        }
        if (request || now_ms() > deadline_ms) {
            return request;
        }
        sleep_ms(POLL_SLEEP_MS);
    }
}

static struct core_request *expect_core_request(struct fixture *fx, enum core_request_kind kind)
{
    struct core_request *request = next_core_request(fx, CORE_WAIT_MS);
    assert_non_null(request);
    assert_int_equal(request->kind, kind);
    assert_int_equal(request->shard_index, 0);
    return request;
}

/* ---- the store side (the test is the tree's one writer) -------------------- */

/* Applies a create or setData of `path` at the next zxid; returns the
 * changes (for a COMMIT message) in `changes`. */
static void apply_write(struct fixture *fx, struct store_tree *tree, int32_t opcode,
                        const char *path, const char *data, struct store_change_list *changes)
{
    struct jute_writer body;
    jute_writer_init(&body, FRAME_BYTES_MAX);
    struct jute_bytes bytes = jute_bytes_cstr(data);
    if (opcode == ZK_OP_CREATE) {
        store_test_encode_create(&body, path, bytes, &store_test_open_acl, 0);
    } else {
        store_test_encode_set_data(&body, path, bytes);
    }
    struct store_txn txn;
    store_txn_init(&txn, JUTE_MAXBUFFER_DEFAULT_BYTES);
    fx->zxid++;
    assert_int_equal(store_test_prepare(tree, &txn, &body, 0x100, 1, opcode, fx->zxid, 1000),
                     ZK_OK);
    struct store_apply_result result;
    store_apply_result_init(&result);
    store_change_list_init(changes);
    assert_int_equal(store_apply(tree, jute_bytes_of(txn.bytes.data, (int32_t)txn.bytes.size),
                                 changes, &result),
                     ZK_OK);
    assert_int_equal(result.err, ZK_OK);
    store_apply_result_free(&result);
    store_txn_free(&txn);
    jute_writer_free(&body);
}

/* A COMMIT message for the last applied write, taking `changes`. */
static struct shard_message *commit_message(int64_t zxid, struct store_change_list *changes)
{
    struct commit_record *commit = calloc(1, sizeof(*commit));
    assert_non_null(commit);
    atomic_init(&commit->references, 1);
    commit->zxid = zxid;
    commit->changes = *changes;
    struct shard_message *message = message_new(SHARD_MESSAGE_COMMIT);
    message->commit = commit;
    return message;
}

/* Applies and tells the shard, as the core does for each commit. */
static void commit_write(struct fixture *fx, struct store_tree *tree, int32_t opcode,
                         const char *path, const char *data)
{
    struct store_change_list changes;
    apply_write(fx, tree, opcode, path, data, &changes);
    deliver(fx, commit_message(fx->zxid, &changes));
}

/* ---- clients ------------------------------------------------------------------ */

static int client_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval timeout = {.tv_sec = CLIENT_TIMEOUT_MS / 1000,
                              .tv_usec = (CLIENT_TIMEOUT_MS % 1000) * 1000};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)), 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&address, sizeof(address)), 0);
    return fd;
}

static void send_all(int fd, const void *data, size_t size)
{
    const uint8_t *at = data;
    while (size > 0) {
        ssize_t sent = send(fd, at, size, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) {
            continue; /* a signal (ThreadSanitizer's, io_uring task work) */
        }
        assert_true(sent > 0);
        at += sent;
        size -= (size_t)sent;
    }
}

/* Reads exactly `size` bytes; false at EOF (or reset) before the first. */
static bool recv_exact(int fd, uint8_t *out, size_t size)
{
    size_t have = 0;
    while (have < size) {
        ssize_t got = recv(fd, out + have, size - have, 0);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got == 0 || (got < 0 && errno == ECONNRESET)) {
            assert_int_equal(have, 0); /* no torn frames */
            return false;
        }
        if (got < 0) {
            fail_msg("recv: %s (timeout: the shard did not answer)", strerror(errno));
        }
        have += (size_t)got;
    }
    return true;
}

/* The server closed the connection without sending anything. */
static void expect_closed_silently(int fd)
{
    uint8_t byte;
    ssize_t got;
    do {
        got = recv(fd, &byte, 1, 0);
    } while (got < 0 && errno == EINTR);
    if (got < 0 && errno != ECONNRESET) {
        fail_msg("recv: %s (the shard did not close the connection)", strerror(errno));
    }
    assert_true(got <= 0);
}

static void send_frame(int fd, struct jute_writer *frame)
{
    assert_true(frame->ok);
    jute_writer_patch_int(frame, 0, (int32_t)(frame->size - 4));
    send_all(fd, frame->data, frame->size);
}

static void send_connect_request(int fd, int64_t session_id)
{
    struct jute_writer frame;
    jute_writer_init(&frame, FRAME_BYTES_MAX);
    jute_write_int(&frame, 0);
    uint8_t password[ZK_SESSION_PASSWORD_BYTES] = {0};
    if (session_id != 0) {
        zk_session_password(session_id, password);
    }
    struct jute_connect_request request = {
        .time_out = SESSION_TIMEOUT_MS,
        .session_id = session_id,
        .passwd = jute_bytes_of(password, sizeof(password)),
    };
    jute_connect_request_encode(&frame, &request);
    send_frame(fd, &frame);
    jute_writer_free(&frame);
}

/* A frame's payload (after the length) into `out`; false at EOF. */
static bool read_frame(int fd, uint8_t *out, size_t capacity, size_t *size_out)
{
    uint8_t length_bytes[4];
    if (!recv_exact(fd, length_bytes, sizeof(length_bytes))) {
        return false;
    }
    uint32_t length = jute_load_be32(length_bytes);
    assert_true(length <= capacity);
    assert_true(recv_exact(fd, out, length));
    *size_out = length;
    return true;
}

/* A client with a session: the handshake through the shard and the test's
 * answer as the core. */
static int connect_session(struct fixture *fx, int64_t session_id)
{
    int fd = client_connect(fx->port);
    send_connect_request(fd, 0);
    struct core_request *request = expect_core_request(fx, CORE_REQUEST_CONNECT);
    struct shard_message *connected = message_new(SHARD_MESSAGE_CONNECTED);
    connected->connection_id = request->connection_id;
    connected->session_valid = true;
    connected->session_id = session_id;
    connected->timeout_ms = request->timeout_ms;
    zk_session_password(session_id, connected->password);
    core_request_free(request);
    deliver(fx, connected);
    uint8_t payload[256];
    size_t size = 0;
    assert_true(read_frame(fd, payload, sizeof(payload), &size));
    struct jute_reader reader;
    jute_reader_init(&reader, payload, size);
    assert_int_equal(jute_read_int(&reader), 0); /* protocolVersion */
    assert_int_equal(jute_read_int(&reader), SESSION_TIMEOUT_MS);
    assert_int_equal(jute_read_long(&reader), session_id);
    return fd;
}

struct get_data_reply {
    int32_t xid;
    int64_t zxid;
    int32_t err;
    char data[64];
};

/* getData(path, watch) and its reply, skipping nothing: the reply must be
 * the next frame. */
static void get_data(int fd, int32_t xid, const char *path, bool watch,
                     struct get_data_reply *reply)
{
    struct jute_writer frame;
    jute_writer_init(&frame, FRAME_BYTES_MAX);
    jute_write_int(&frame, 0);
    struct jute_request_header header = {.xid = xid, .type = ZK_OP_GET_DATA};
    jute_request_header_encode(&frame, &header);
    struct jute_get_data_request request = {.path = jute_bytes_cstr(path), .watch = watch};
    jute_get_data_request_encode(&frame, &request);
    send_frame(fd, &frame);
    jute_writer_free(&frame);
    static uint8_t payload[FRAME_BYTES_MAX];
    size_t size = 0;
    assert_true(read_frame(fd, payload, sizeof(payload), &size));
    struct jute_reader reader;
    jute_reader_init(&reader, payload, size);
    memset(reply, 0, sizeof(*reply));
    reply->xid = jute_read_int(&reader);
    reply->zxid = jute_read_long(&reader);
    reply->err = jute_read_int(&reader);
    if (reply->err == ZK_OK) {
        struct jute_bytes data = jute_read_bytes(&reader);
        assert_true(data.len >= 0 && (size_t)data.len < sizeof(reply->data));
        memcpy(reply->data, data.ptr, (size_t)data.len);
    }
}

/* A four-letter word's whole reply (the shard closes after it). */
static void four_letter_word(uint16_t port, const char *word, char *out, size_t capacity)
{
    int fd = client_connect(port);
    send_all(fd, word, 4);
    size_t have = 0;
    for (;;) {
        assert_true(have + 1 < capacity);
        ssize_t got = recv(fd, out + have, capacity - 1 - have, 0);
        if (got < 0 && errno == EINTR) {
            continue; /* a signal (ThreadSanitizer's, io_uring task work) */
        }
        if (got < 0) {
            fail_msg("recv for %s: %s", word, strerror(errno));
        }
        if (got == 0) {
            break;
        }
        have += (size_t)got;
    }
    out[have] = '\0';
    close(fd);
}

static void expect_four_letter_word(uint16_t port, const char *word, const char *expected)
{
    char reply[512];
    four_letter_word(port, word, reply, sizeof(reply));
    if (strcmp(reply, expected) != 0) {
        fail_msg("%s answered \"%s\", expected \"%s\"", word, reply, expected);
    }
}

/* Messages are handled on the shard's thread: wait (bounded) until srvr
 * shows the state the test just delivered. */
static void wait_four_letter_word(uint16_t port, const char *word, const char *expected)
{
    char reply[512] = "";
    int64_t deadline_ms = now_ms() + CORE_WAIT_MS;
    while (now_ms() < deadline_ms) {
        four_letter_word(port, word, reply, sizeof(reply));
        if (strcmp(reply, expected) == 0) {
            return;
        }
        sleep_ms(POLL_SLEEP_MS);
    }
    fail_msg("%s still answers \"%s\", expected \"%s\"", word, reply, expected);
}

/* ---- tests ---------------------------------------------------------------------- */

/* Standalone: the zero value of the settings serves from the start, with no
 * message from the core. */
static void test_standalone_serves_from_start(void **state)
{
    (void)state;
    struct fixture *fx = shard_start(TEST_PORT_BASE + 0, false);
    int fd = connect_session(fx, 0x1001);
    struct get_data_reply reply;
    get_data(fd, 1, "/", false, &reply);
    assert_int_equal(reply.err, ZK_OK);
    expect_four_letter_word(fx->port, "srvr", "server:srvr");
    close(fd);
    shard_finish(fx);
}

/* An ensemble member starts with no role: a ConnectRequest is closed at
 * once without a reply and never reaches the core; four-letter words give
 * ZooKeeper's not-serving answers (checked against ZooKeeper 3.8 run as a
 * lone ensemble member). */
static void test_not_serving_refuses_sessions_and_answers_words(void **state)
{
    (void)state;
    struct fixture *fx = shard_start(TEST_PORT_BASE + 1, true);
    int fd = client_connect(fx->port);
    send_connect_request(fd, 0);
    expect_closed_silently(fd);
    close(fd);
    /* Only the frame length: ZooKeeper's readLength closes already. */
    fd = client_connect(fx->port);
    send_all(fd, "\0\0\0\x2d", 4);
    expect_closed_silently(fd);
    close(fd);
    assert_null(next_core_request(fx, QUIET_MS));

    const char *not_serving_words[] = {"srvr", "stat", "cons", "mntr", "dump", "conf",
                                       "dirs", "srst", "crst", "wchc", "wchp"};
    for (size_t index = 0; index < sizeof(not_serving_words) / sizeof(*not_serving_words);
         index++) {
        expect_four_letter_word(fx->port, not_serving_words[index], NOT_SERVING_TEXT "\n");
    }
    expect_four_letter_word(fx->port, "hash", NOT_SERVING_TEXT); /* DigestCommand: print */
    expect_four_letter_word(fx->port, "isro", "null");
    expect_four_letter_word(fx->port, "ruok", "server:ruok");
    expect_four_letter_word(fx->port, "envi", "server:envi");
    expect_four_letter_word(fx->port, "gtmk", "server:gtmk");
    expect_four_letter_word(fx->port, "wchs", "server:wchs"); /* not whitelisted: refusal */
    assert_null(next_core_request(fx, 0)); /* no gather while not serving */

    /* A role begins: sessions again, and the words answer as always. */
    deliver_serving(fx, true);
    wait_four_letter_word(fx->port, "srvr", "server:srvr");
    fd = connect_session(fx, 0x2002);
    struct get_data_reply reply;
    get_data(fd, 1, "/", false, &reply);
    assert_int_equal(reply.err, ZK_OK);
    shard_finish(fx);
    close(fd);
}

/* Leaving the role closes every client connection (the session is not
 * closed: the core hears DISCONNECTED, as when a client goes away), and new
 * ones are refused until the next role. */
static void test_stop_serving_closes_every_client(void **state)
{
    (void)state;
    struct fixture *fx = shard_start(TEST_PORT_BASE + 2, false);
    int first = connect_session(fx, 0x3001);
    int second = connect_session(fx, 0x3002);
    int fresh = client_connect(fx->port); /* no ConnectRequest yet */
    struct get_data_reply reply;
    get_data(first, 1, "/", false, &reply);
    assert_int_equal(reply.err, ZK_OK);

    deliver_serving(fx, false);
    expect_closed_silently(first);
    expect_closed_silently(second);
    expect_closed_silently(fresh);
    bool seen_first = false;
    bool seen_second = false;
    for (int count = 0; count < 2; count++) {
        struct core_request *request = expect_core_request(fx, CORE_REQUEST_DISCONNECTED);
        seen_first |= request->session_id == 0x3001;
        seen_second |= request->session_id == 0x3002;
        core_request_free(request);
    }
    assert_true(seen_first && seen_second);
    expect_four_letter_word(fx->port, "srvr", NOT_SERVING_TEXT "\n");
    int late = client_connect(fx->port);
    send_connect_request(late, 0x3001);
    expect_closed_silently(late);
    assert_null(next_core_request(fx, QUIET_MS));

    deliver_serving(fx, true);
    wait_four_letter_word(fx->port, "srvr", "server:srvr");
    int again = connect_session(fx, 0x3003);
    get_data(again, 1, "/", false, &reply);
    assert_int_equal(reply.err, ZK_OK);
    shard_finish(fx);
    close(first);
    close(second);
    close(fresh);
    close(late);
    close(again);
}

/* A replaced tree (here as after a TRUNC: its last zxid is below what the
 * shard had processed on the old one): the shard answers TREE_SWITCHED with
 * the generation, never touches the old tree again (the test frees it), takes
 * commits the new tree already had at the switch without going backwards,
 * and then reads, catches up and fires watches on the new tree. */
static void test_tree_switch(void **state)
{
    (void)state;
    struct fixture *fx = shard_start(TEST_PORT_BASE + 3, false);
    const int64_t epoch = (int64_t)1 << 32;
    fx->zxid = epoch;
    for (int index = 1; index <= 5; index++) {
        char path[16];
        snprintf(path, sizeof(path), "/a%d", index);
        commit_write(fx, fx->tree, ZK_OP_CREATE, path, "one");
    }
    int fd = connect_session(fx, 0x4001);
    struct get_data_reply reply;
    get_data(fd, 1, "/a5", false, &reply);
    assert_int_equal(reply.err, ZK_OK);
    assert_int_equal(reply.zxid, epoch + 5);
    deliver_serving(fx, false);
    expect_closed_silently(fd);
    close(fd);
    struct core_request *gone = expect_core_request(fx, CORE_REQUEST_DISCONNECTED);
    core_request_free(gone);

    /* The new tree: the leader's history up to epoch+2, then epoch+3
     * applied before the shard switches (its COMMIT follows the TREE). */
    struct store_tree *replacement = store_test_tree_new();
    assert_non_null(replacement);
    struct store_change_list unused;
    fx->zxid = epoch;
    apply_write(fx, replacement, ZK_OP_CREATE, "/a1", "one", &unused);
    store_change_list_free(&unused);
    apply_write(fx, replacement, ZK_OP_CREATE, "/moved", "two", &unused);
    store_change_list_free(&unused);
    struct store_change_list stale_changes;
    apply_write(fx, replacement, ZK_OP_CREATE, "/stale", "three", &stale_changes);
    struct shard_message *tree_message = message_new(SHARD_MESSAGE_TREE);
    tree_message->tree = replacement;
    tree_message->tree_generation = 7;
    deliver(fx, tree_message);
    deliver(fx, commit_message(epoch + 3, &stale_changes));

    struct core_request *switched = expect_core_request(fx, CORE_REQUEST_TREE_SWITCHED);
    assert_int_equal(switched->tree_generation, 7);
    core_request_free(switched);
    /* The core frees the old tree once every shard has switched. */
    store_tree_destroy(fx->tree);
    fx->tree = replacement;

    commit_write(fx, replacement, ZK_OP_CREATE, "/after", "four");
    deliver_serving(fx, true);
    wait_four_letter_word(fx->port, "srvr", "server:srvr");
    fd = connect_session(fx, 0x4002);
    get_data(fd, 1, "/moved", false, &reply);
    assert_int_equal(reply.err, ZK_OK);
    assert_string_equal(reply.data, "two");
    assert_int_equal(reply.zxid, epoch + 4);
    get_data(fd, 2, "/a5", false, &reply);
    assert_int_equal(reply.err, ZK_NONODE);
    get_data(fd, 3, "/after", true, &reply);
    assert_int_equal(reply.err, ZK_OK);
    assert_string_equal(reply.data, "four");

    /* A commit on the new tree fires the watch, and a read of it after
     * the event shows it. */
    commit_write(fx, replacement, ZK_OP_SET_DATA, "/after", "five");
    uint8_t payload[256];
    size_t size = 0;
    assert_true(read_frame(fd, payload, sizeof(payload), &size));
    struct jute_reader reader;
    jute_reader_init(&reader, payload, size);
    assert_int_equal(jute_read_int(&reader), ZK_XID_NOTIFICATION);
    jute_read_long(&reader);
    assert_int_equal(jute_read_int(&reader), ZK_OK);
    assert_int_equal(jute_read_int(&reader), ZK_EVENT_NODE_DATA_CHANGED);
    get_data(fd, 4, "/after", false, &reply);
    assert_string_equal(reply.data, "five");
    assert_int_equal(reply.zxid, epoch + 5);
    shard_finish(fx);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standalone_serves_from_start),
        cmocka_unit_test(test_not_serving_refuses_sessions_and_answers_words),
        cmocka_unit_test(test_stop_serving_closes_every_client),
        cmocka_unit_test(test_tree_switch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
