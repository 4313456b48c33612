/* peer_net against real loopback sockets (ports 23000-23099 on 127.0.0.1).
 *
 * Several peer_nets live in this one thread, as the consensus cores of an
 * ensemble would each in their own: `pump` polls every instance in turn,
 * then waits on their wait fds, bounded by a count and a time. Raw
 * blocking sockets (with timeouts) play a misbehaving or slow peer. */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "consensus/quorum_wire.h"
#include "dataplane/peer_net.h"
#include "jute/jute.h"

#define TEST_PORT_BASE 23000
#define SERVERS_MAX 3
#define PUMP_ITERATIONS_MAX 200000
#define PUMP_WAIT_MS 10
#define SETTLE_MS 400
#define DEADLINE_MS 5000
#define MESSAGES_MAX 64
#define MESSAGE_BYTES_MAX 64
#define PACKETS_MAX 1024
#define CLOSES_MAX 16
#define SMALL_PACKETS 200
#define BIG_DATA_BYTES (10u * 1024u * 1024u)
#define DATA_BYTES_MAX (16u * 1024u * 1024u)
#define SOCKET_TIMEOUT_MS 5000
#define CLOSE_PACKETS 50
#define CLOSE_PACKET_DATA_BYTES (100u * 1024u)
#define LINGER_DATA_BYTES (15u * 1024u * 1024u)

/* ---- what each server saw ------------------------------------------------ */

struct seen_message {
    int64_t from_id;
    char body[MESSAGE_BYTES_MAX];
};

struct seen_packet {
    uint64_t connection_id;
    int32_t type;
    int64_t zxid;
    int32_t data_bytes; /* -1: null */
    uint64_t data_hash;
    size_t packet_bytes;
    size_t stream_bytes;
    uint64_t stream_hash;
};

struct seen_close {
    uint64_t connection_id;
    char why[256];
};

struct recorder {
    int64_t id;
    struct seen_message messages[MESSAGES_MAX];
    size_t message_count;
    uint64_t accepted[8];
    size_t accepted_count;
    uint64_t connected[8];
    size_t connected_count;
    struct seen_packet *packets; /* PACKETS_MAX */
    size_t packet_count;
    struct seen_close closes[CLOSES_MAX];
    size_t close_count;
};

static uint64_t hash_bytes(const uint8_t *bytes, size_t size)
{
    uint64_t hash = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < size; i++)
        hash = (hash ^ bytes[i]) * 1099511628211ull;
    return hash;
}

static int64_t load_be64(const uint8_t *bytes)
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = (value << 8) | bytes[i];
    return (int64_t)value;
}

static void on_election_message(void *context, int64_t from_id, const uint8_t *body,
                                size_t body_bytes)
{
    struct recorder *r = context;
    assert_true(r->message_count < MESSAGES_MAX);
    assert_true(body_bytes < MESSAGE_BYTES_MAX);
    struct seen_message *m = &r->messages[r->message_count++];
    m->from_id = from_id;
    memcpy(m->body, body, body_bytes);
    m->body[body_bytes] = '\0';
}

static void on_quorum_accepted(void *context, uint64_t connection_id)
{
    struct recorder *r = context;
    assert_true(r->accepted_count < 8);
    r->accepted[r->accepted_count++] = connection_id;
}

static void on_quorum_connected(void *context, uint64_t connection_id)
{
    struct recorder *r = context;
    assert_true(r->connected_count < 8);
    r->connected[r->connected_count++] = connection_id;
}

static void on_quorum_packet(void *context, uint64_t connection_id, const uint8_t *packet,
                             size_t packet_bytes, const uint8_t *stream, size_t stream_bytes)
{
    struct recorder *r = context;
    assert_true(r->packet_count < PACKETS_MAX);
    assert_true(packet_bytes >= 20);
    struct seen_packet *p = &r->packets[r->packet_count++];
    p->connection_id = connection_id;
    p->type = (int32_t)jute_load_be32(packet);
    p->zxid = load_be64(packet + 4);
    p->data_bytes = (int32_t)jute_load_be32(packet + 12);
    p->data_hash = p->data_bytes > 0 ? hash_bytes(packet + 16, (size_t)p->data_bytes) : 0;
    p->packet_bytes = packet_bytes;
    p->stream_bytes = stream_bytes;
    p->stream_hash = stream ? hash_bytes(stream, stream_bytes) : 0;
    assert_true((stream == NULL) == (stream_bytes == 0));
}

static void on_quorum_closed(void *context, uint64_t connection_id, const char *why)
{
    struct recorder *r = context;
    assert_true(r->close_count < CLOSES_MAX);
    r->closes[r->close_count].connection_id = connection_id;
    snprintf(r->closes[r->close_count].why, sizeof r->closes[0].why, "%s", why);
    r->close_count++;
}

/* ---- ensemble ------------------------------------------------------------- */

struct ensemble {
    uint16_t port_base;
    size_t member_count;
    struct peer_net_member members[SERVERS_MAX];
    struct recorder recorders[SERVERS_MAX];
    struct peer_net *nets[SERVERS_MAX];
};

static int64_t now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Server i (id i + 1) has quorum port base + 2i and election port base + 2i + 1. */
static void ensemble_init(struct ensemble *e, uint16_t port_base, size_t member_count)
{
    memset(e, 0, sizeof *e);
    e->port_base = port_base;
    e->member_count = member_count;
    for (size_t i = 0; i < member_count; i++) {
        e->members[i].id = (int64_t)i + 1;
        snprintf(e->members[i].host, sizeof e->members[i].host, "127.0.0.1");
        e->members[i].quorum_port = (uint16_t)(port_base + 2 * i);
        e->members[i].election_port = (uint16_t)(port_base + 2 * i + 1);
        e->recorders[i].id = (int64_t)i + 1;
        e->recorders[i].packets = calloc(PACKETS_MAX, sizeof(struct seen_packet));
        assert_non_null(e->recorders[i].packets);
    }
}

/* Starts server `id` with its own view of the members (a subset, or
 * addresses that differ from the others'). */
static struct peer_net *ensemble_start_with(struct ensemble *e, int64_t id,
                                            const struct peer_net_member *members,
                                            size_t member_count)
{
    size_t i = (size_t)id - 1;
    assert_null(e->nets[i]);
    struct recorder *r = &e->recorders[i];
    struct peer_net_events events = {
        .election_message = on_election_message,
        .quorum_accepted = on_quorum_accepted,
        .quorum_connected = on_quorum_connected,
        .quorum_packet = on_quorum_packet,
        .quorum_closed = on_quorum_closed,
        .context = r,
    };
    struct peer_net_config config = {
        .my_id = id,
        .members = members,
        .member_count = member_count,
        .listen_on_all_ips = false,
        .quorum_data_bytes_max = DATA_BYTES_MAX,
    };
    char error[512] = "";
    e->nets[i] = peer_net_create(&config, &events, error, sizeof error);
    if (!e->nets[i])
        fail_msg("peer_net_create(%lld): %s", (long long)id, error);
    return e->nets[i];
}

static struct peer_net *ensemble_start(struct ensemble *e, int64_t id)
{
    return ensemble_start_with(e, id, e->members, e->member_count);
}

static void ensemble_stop(struct ensemble *e, int64_t id)
{
    size_t i = (size_t)id - 1;
    peer_net_destroy(e->nets[i]);
    e->nets[i] = NULL;
}

static void ensemble_free(struct ensemble *e)
{
    for (size_t i = 0; i < e->member_count; i++) {
        peer_net_destroy(e->nets[i]);
        e->nets[i] = NULL;
        free(e->recorders[i].packets);
        e->recorders[i].packets = NULL;
    }
}

typedef bool (*done_fn)(const struct ensemble *e, const void *arg);

/* Polls every running instance in turn until `done` (or, with NULL, for
 * the whole time). Bounded by PUMP_ITERATIONS_MAX and `timeout_ms`. */
static bool pump(struct ensemble *e, done_fn done, const void *arg, int timeout_ms)
{
    int64_t start = now_ms();
    for (int iteration = 0; iteration < PUMP_ITERATIONS_MAX; iteration++) {
        struct pollfd fds[SERVERS_MAX];
        nfds_t count = 0;
        for (size_t i = 0; i < e->member_count; i++) {
            if (!e->nets[i])
                continue;
            peer_net_poll(e->nets[i], now_ms());
            fds[count].fd = peer_net_wait_fd(e->nets[i]);
            fds[count].events = POLLIN;
            count++;
        }
        if (done && done(e, arg))
            return true;
        if (now_ms() - start > timeout_ms)
            return false;
        poll(fds, count, PUMP_WAIT_MS);
    }
    return false;
}

static size_t messages_from(const struct recorder *r, int64_t from_id, const char *body)
{
    size_t count = 0;
    for (size_t i = 0; i < r->message_count; i++) {
        if (r->messages[i].from_id == from_id && (!body || strcmp(r->messages[i].body, body) == 0))
            count++;
    }
    return count;
}

static void send_text(struct peer_net *net, int64_t to_id, const char *text)
{
    peer_net_election_send(net, to_id, (const uint8_t *)text, strlen(text));
}

/* ---- election port -------------------------------------------------------- */

static bool all_pairs_heard(const struct ensemble *e, const void *arg)
{
    const char *round = arg;
    for (size_t to = 0; to < e->member_count; to++) {
        for (size_t from = 0; from < e->member_count; from++) {
            if (from == to)
                continue;
            char text[MESSAGE_BYTES_MAX];
            snprintf(text, sizeof text, "%s %zu->%zu", round, from + 1, to + 1);
            if (messages_from(&e->recorders[to], (int64_t)from + 1, text) == 0)
                return false;
        }
    }
    return true;
}

static void send_all_pairs(struct ensemble *e, const char *round)
{
    for (size_t from = 0; from < e->member_count; from++) {
        for (size_t to = 0; to < e->member_count; to++) {
            if (from == to)
                continue;
            char text[MESSAGE_BYTES_MAX];
            snprintf(text, sizeof text, "%s %zu->%zu", round, from + 1, to + 1);
            send_text(e->nets[from], (int64_t)to + 1, text);
        }
    }
}

/* Connections to our election ports in /proc/net/tcp, ESTABLISHED (01). */
static size_t established_to_port(uint16_t port)
{
    FILE *file = fopen("/proc/net/tcp", "r");
    assert_non_null(file);
    char line[512];
    size_t count = 0;
    for (int lines = 0; lines < 100000 && fgets(line, sizeof line, file); lines++) {
        unsigned local_port, remote_port, state;
        if (sscanf(line, " %*d: %*8X:%4X %*8X:%4X %2X", &local_port, &remote_port, &state) == 3 &&
            state == 1 && local_port == port)
            count++;
    }
    fclose(file);
    return count;
}

static void test_election_one_connection_per_pair(void **state)
{
    (void)state;
    struct ensemble e;
    ensemble_init(&e, TEST_PORT_BASE, 3);
    for (int64_t id = 1; id <= 3; id++)
        ensemble_start(&e, id);
    send_all_pairs(&e, "first");
    assert_true(pump(&e, all_pairs_heard, "first", DEADLINE_MS));
    pump(&e, NULL, NULL, SETTLE_MS);
    send_all_pairs(&e, "second");
    assert_true(pump(&e, all_pairs_heard, "second", DEADLINE_MS));
    pump(&e, NULL, NULL, SETTLE_MS);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(peer_net_election_connection_count(e.nets[i]), 2);
        for (int64_t from = 1; from <= 3; from++) {
            if (from == (int64_t)i + 1)
                continue;
            /* While the pairs sort themselves out a replaced connection may
             * carry the last message again (ZooKeeper does the same); once
             * settled, each message arrives exactly once. */
            char text[MESSAGE_BYTES_MAX];
            snprintf(text, sizeof text, "first %lld->%zu", (long long)from, i + 1);
            assert_in_range(messages_from(&e.recorders[i], from, text), 1, 2);
            snprintf(text, sizeof text, "second %lld->%zu", (long long)from, i + 1);
            assert_int_equal(messages_from(&e.recorders[i], from, text), 1);
        }
    }
    /* The kernel agrees: one TCP connection per pair, made by the higher
     * id to the lower one's election port (1 <- 2, 1 <- 3, 2 <- 3). */
    assert_int_equal(established_to_port(e.members[0].election_port), 2);
    assert_int_equal(established_to_port(e.members[1].election_port), 1);
    assert_int_equal(established_to_port(e.members[2].election_port), 0);
    ensemble_free(&e);
}

struct expected_message {
    size_t to_index;
    int64_t from_id;
    const char *body;
};

static bool expected_arrived(const struct ensemble *e, const void *arg)
{
    const struct expected_message *expected = arg;
    for (; expected->body; expected++) {
        if (messages_from(&e->recorders[expected->to_index], expected->from_id, expected->body) == 0)
            return false;
    }
    return true;
}

/* Messages sent before their destination runs wait, and arrive once it
 * starts: to a lower id (2 -> 1: 2 connects and stays) and to a higher one
 * (2 -> 3: 2's handshake makes 3 connect back). */
static void test_election_queued_until_peer_starts(void **state)
{
    (void)state;
    struct ensemble e;
    ensemble_init(&e, TEST_PORT_BASE + 10, 3);
    struct peer_net *two = ensemble_start(&e, 2);
    send_text(two, 1, "to one");
    send_text(two, 3, "to three");
    pump(&e, NULL, NULL, 200); /* the first attempts are refused */
    assert_int_equal(e.recorders[1].message_count, 0);
    ensemble_start(&e, 1);
    ensemble_start(&e, 3);
    const struct expected_message expected[] = {
        {0, 2, "to one"}, {2, 2, "to three"}, {0, 0, NULL}};
    assert_true(pump(&e, expected_arrived, expected, DEADLINE_MS));
    pump(&e, NULL, NULL, SETTLE_MS);
    assert_int_equal(messages_from(&e.recorders[0], 2, NULL), 1);
    assert_int_equal(messages_from(&e.recorders[2], 2, NULL), 1);
    ensemble_free(&e);
}

/* While disconnected only the newest message waits (a queue of one). */
static void test_election_newest_kept(void **state)
{
    (void)state;
    struct ensemble e;
    ensemble_init(&e, TEST_PORT_BASE + 20, 2);
    struct peer_net *one = ensemble_start(&e, 1);
    send_text(one, 2, "old");
    pump(&e, NULL, NULL, 100);
    send_text(one, 2, "older news");
    send_text(one, 2, "newest");
    ensemble_start(&e, 2);
    const struct expected_message expected[] = {{1, 1, "newest"}, {0, 0, NULL}};
    assert_true(pump(&e, expected_arrived, expected, DEADLINE_MS));
    pump(&e, NULL, NULL, SETTLE_MS);
    assert_int_equal(e.recorders[1].message_count, 1);
    ensemble_free(&e);
}

/* The last message sent to a server goes again on the next connection to
 * it: the peer that restarts gets it although it was sent before. */
static void check_last_message_resent(uint16_t port_base, int64_t restarted, int64_t survivor)
{
    struct ensemble e;
    ensemble_init(&e, port_base, 2);
    ensemble_start(&e, 1);
    ensemble_start(&e, 2);
    size_t r = (size_t)restarted - 1;
    send_text(e.nets[survivor - 1], restarted, "remember me");
    const struct expected_message first[] = {{r, survivor, "remember me"}, {0, 0, NULL}};
    assert_true(pump(&e, expected_arrived, first, DEADLINE_MS));
    ensemble_stop(&e, restarted);
    pump(&e, NULL, NULL, 200); /* the survivor sees the connection go */
    e.recorders[r].message_count = 0;
    ensemble_start(&e, restarted);
    /* As election does on start: the restarted server speaks first. */
    send_text(e.nets[r], survivor, "i am back");
    const struct expected_message again[] = {
        {r, survivor, "remember me"}, {(size_t)survivor - 1, restarted, "i am back"}, {0, 0, NULL}};
    assert_true(pump(&e, expected_arrived, again, DEADLINE_MS));
    ensemble_free(&e);
}

static void test_election_last_message_resent(void **state)
{
    (void)state;
    check_last_message_resent(TEST_PORT_BASE + 30, 2, 1); /* the higher id restarts */
    check_last_message_resent(TEST_PORT_BASE + 34, 1, 2); /* the lower id restarts */
}

/* reuse: SO_REUSEADDR, so TIME_WAIT leftovers of earlier runs do not
 * matter (a listening socket conflicts with a new listener either way). */
static int raw_listen(uint16_t port, bool reuse)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int one = 1;
    if (reuse)
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof address), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

struct accept_counter {
    int listen_fd;
    int accepted;
};

/* Accepts (and closes) what has arrived; never done. */
static bool count_accepts(const struct ensemble *e, const void *arg)
{
    (void)e;
    struct accept_counter *counter = (struct accept_counter *)arg;
    for (int accepts = 0; accepts < 16; accepts++) {
        struct pollfd ready = {.fd = counter->listen_fd, .events = POLLIN};
        if (poll(&ready, 1, 0) != 1)
            break;
        int fd = accept4(counter->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            break;
        counter->accepted++;
        close(fd);
    }
    return false;
}

/* A server that takes connections but never connects back: the message
 * stays queued and the attempts come once per PEER_NET_RECONNECT_INTERVAL_MS. */
static void test_election_reconnect_interval(void **state)
{
    (void)state;
    struct ensemble e;
    ensemble_init(&e, TEST_PORT_BASE + 92, 2);
    struct accept_counter counter = {raw_listen(e.members[1].election_port, true), 0};
    struct peer_net *one = ensemble_start(&e, 1);
    int64_t start = now_ms();
    send_text(one, 2, "anyone there");
    send_text(one, 2, "anyone there?"); /* no second attempt while one is in flight */
    pump(&e, count_accepts, &counter, 2500);
    int64_t elapsed_ms = now_ms() - start;
    int most = (int)(elapsed_ms / PEER_NET_RECONNECT_INTERVAL_MS) + 1;
    assert_in_range(counter.accepted, 2, most);
    close(counter.listen_fd);
    ensemble_free(&e);
}

/* Polls `net` until it is idle: nothing delivered and its wait fd quiet. */
static void drain_until_quiet(struct peer_net *net)
{
    for (int rounds = 0; rounds < 1000; rounds++) {
        size_t handled = peer_net_poll(net, now_ms());
        struct pollfd fd = {.fd = peer_net_wait_fd(net), .events = POLLIN};
        if (handled == 0 && poll(&fd, 1, 20) == 0)
            return;
    }
    fail_msg("peer_net never went quiet");
}

/* What the core relies on: with nothing else to do it sleeps in poll() on
 * the wait fd, and bytes arriving from a peer wake it. */
static void test_wait_fd_wakes_on_arrival(void **state)
{
    (void)state;
    struct ensemble e;
    ensemble_init(&e, TEST_PORT_BASE + 96, 2);
    ensemble_start(&e, 1);
    ensemble_start(&e, 2);
    send_text(e.nets[0], 2, "hello two");
    send_text(e.nets[1], 1, "hello one");
    const struct expected_message both[] = {{0, 2, "hello one"}, {1, 1, "hello two"}, {0, 0, NULL}};
    assert_true(pump(&e, expected_arrived, both, DEADLINE_MS));
    pump(&e, NULL, NULL, SETTLE_MS);
    drain_until_quiet(e.nets[0]);
    drain_until_quiet(e.nets[1]);

    /* The sender's own bytes go out without a poll of its own. */
    send_text(e.nets[1], 1, "wake up");
    struct pollfd fd = {.fd = peer_net_wait_fd(e.nets[0]), .events = POLLIN};
    int64_t start = now_ms();
    assert_int_equal(poll(&fd, 1, 2000), 1);
    assert_true(now_ms() - start < 500);
    assert_true(peer_net_poll(e.nets[0], now_ms()) >= 1);
    assert_int_equal(messages_from(&e.recorders[0], 2, "wake up"), 1);
    ensemble_free(&e);
}

static void test_election_self_send_on_next_poll(void **state)
{
    (void)state;
    struct ensemble e;
    ensemble_init(&e, TEST_PORT_BASE + 40, 2);
    struct peer_net *one = ensemble_start(&e, 1);
    send_text(one, 1, "note to self");
    assert_int_equal(e.recorders[0].message_count, 0); /* never re-entrant */
    struct pollfd fd = {.fd = peer_net_wait_fd(one), .events = POLLIN};
    assert_int_equal(poll(&fd, 1, 1000), 1); /* the core would wake */
    assert_int_equal(peer_net_poll(one, now_ms()), 1);
    assert_int_equal(e.recorders[0].message_count, 1);
    assert_int_equal(e.recorders[0].messages[0].from_id, 1);
    assert_string_equal(e.recorders[0].messages[0].body, "note to self");
    ensemble_free(&e);
}

static int raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct timeval timeout = {.tv_sec = SOCKET_TIMEOUT_MS / 1000, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0)
        fail_msg("connect to port %u: %s", (unsigned)port, strerror(errno));
    return fd;
}

static void raw_send_all(int fd, const uint8_t *bytes, size_t size)
{
    size_t sent = 0;
    for (int attempts = 0; attempts < 100000 && sent < size; attempts++) {
        ssize_t n = send(fd, bytes + sent, size - sent, MSG_NOSIGNAL);
        assert_true(n > 0);
        sent += (size_t)n;
    }
    assert_int_equal(sent, size);
}

struct raw_closed_arg {
    int fd;
};

/* True once the raw socket sees EOF or a reset (the peer closed it). */
static bool raw_peer_closed(const struct ensemble *e, const void *arg)
{
    (void)e;
    const struct raw_closed_arg *raw = arg;
    uint8_t scratch[4096];
    for (int reads = 0; reads < 64; reads++) {
        ssize_t n = recv(raw->fd, scratch, sizeof scratch, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            return true;
        if (n < 0)
            return false;
    }
    return false;
}

/* A higher id's handshake then a frame of length 0 (RecvWorker refuses
 * it): the connection is dropped; a good frame before it was delivered. */
static void test_election_bad_frame_closes(void **state)
{
    (void)state;
    struct ensemble e;
    ensemble_init(&e, TEST_PORT_BASE + 44, 2);
    ensemble_start(&e, 1);
    int fd = raw_connect(e.members[0].election_port);
    struct jute_writer out;
    jute_writer_init(&out, 4096);
    quorum_election_handshake_encode(&out, 2, "127.0.0.1:23047");
    jute_write_int(&out, 5);
    jute_write_raw(&out, "hello", 5);
    jute_write_int(&out, 0);
    assert_true(out.ok);
    raw_send_all(fd, out.data, out.size);
    jute_writer_free(&out);
    struct raw_closed_arg raw = {fd};
    assert_true(pump(&e, raw_peer_closed, &raw, DEADLINE_MS));
    assert_int_equal(messages_from(&e.recorders[0], 2, "hello"), 1);
    close(fd);
    ensemble_free(&e);
}

static int raw_election_peer(uint16_t port, int64_t my_id, const char *my_address)
{
    int fd = raw_connect(port);
    struct jute_writer out;
    jute_writer_init(&out, 4096);
    quorum_election_handshake_encode(&out, my_id, my_address);
    assert_true(out.ok);
    raw_send_all(fd, out.data, out.size);
    jute_writer_free(&out);
    return fd;
}

/* Reads one notification frame (blocking, with the socket's timeout). */
static void raw_read_frame(int fd, char *body, size_t body_bytes_max)
{
    uint8_t header[4];
    assert_int_equal(recv(fd, header, sizeof header, MSG_WAITALL), 4);
    uint32_t length = jute_load_be32(header);
    assert_true(length > 0 && length < body_bytes_max);
    assert_int_equal(recv(fd, body, length, MSG_WAITALL), (ssize_t)length);
    body[length] = '\0';
}

/* Two connections from the same higher id: the newer replaces the older
 * (which is closed), and messages travel on the newer. */
static void test_election_newer_connection_replaces(void **state)
{
    (void)state;
    struct ensemble e;
    ensemble_init(&e, TEST_PORT_BASE + 48, 2);
    ensemble_start(&e, 1);
    int older = raw_election_peer(e.members[0].election_port, 2, "127.0.0.1:23051");
    pump(&e, NULL, NULL, 100);
    assert_int_equal(peer_net_election_connection_count(e.nets[0]), 1);
    int newer = raw_election_peer(e.members[0].election_port, 2, "127.0.0.1:23051");
    struct raw_closed_arg raw = {older};
    assert_true(pump(&e, raw_peer_closed, &raw, DEADLINE_MS));
    pump(&e, NULL, NULL, 100);
    assert_int_equal(peer_net_election_connection_count(e.nets[0]), 1);
    send_text(e.nets[0], 2, "on the newer one");
    pump(&e, NULL, NULL, 100);
    char body[MESSAGE_BYTES_MAX];
    raw_read_frame(newer, body, sizeof body);
    assert_string_equal(body, "on the newer one");
    close(older);
    close(newer);
    ensemble_free(&e);
}

/* ---- quorum port ------------------------------------------------------------ */

static void encode_packet(struct jute_writer *out, int32_t type, int64_t zxid,
                          const uint8_t *data, size_t data_bytes)
{
    quorum_packet_encode(out, type, zxid, data, data_bytes);
    assert_true(out->ok);
}

static void write_string(struct jute_writer *out, const char *text)
{
    jute_write_bytes(out, jute_bytes_cstr(text));
}

/* A small valid snapshot stream: one session, one ACL list, the root and
 * /zookeeper, the "/" end mark, then the signature. */
static void encode_snap_stream(struct jute_writer *out)
{
    jute_write_int(out, 1); /* sessions */
    jute_write_long(out, 0x100000001ll);
    jute_write_int(out, 30000);
    jute_write_int(out, 1); /* ACL cache entries */
    jute_write_long(out, 1);
    jute_write_int(out, 1); /* ACLs in the entry */
    jute_write_int(out, 31);
    write_string(out, "world");
    write_string(out, "anyone");
    const char *paths[] = {"", "/zookeeper"};
    for (size_t i = 0; i < 2; i++) {
        write_string(out, paths[i]);
        jute_write_bytes(out, jute_bytes_of(NULL, -1)); /* data */
        jute_write_long(out, 1);                        /* ACL ref */
        uint8_t stat[60];
        memset(stat, 0, sizeof stat);
        jute_write_raw(out, stat, sizeof stat);
    }
    write_string(out, "/");
    write_string(out, "BenWasHere");
    assert_true(out->ok);
}

struct quorum_pair {
    uint64_t leader_side;   /* connection id at server 1 */
    uint64_t follower_side; /* connection id at server 2 */
};

static bool quorum_pair_up(const struct ensemble *e, const void *arg)
{
    (void)arg;
    return e->recorders[0].accepted_count == 1 && e->recorders[1].connected_count == 1;
}

static struct quorum_pair quorum_pair_start(struct ensemble *e)
{
    ensemble_start(e, 1);
    ensemble_start(e, 2);
    char error[512] = "";
    assert_int_equal(peer_net_quorum_listen(e->nets[0], true, error, sizeof error), 0);
    struct quorum_pair pair;
    pair.follower_side = peer_net_quorum_connect(e->nets[1], 1);
    assert_true(pair.follower_side != 0);
    assert_true(pump(e, quorum_pair_up, NULL, DEADLINE_MS));
    pair.leader_side = e->recorders[0].accepted[0];
    assert_int_equal(e->recorders[1].connected[0], pair.follower_side);
    return pair;
}

struct packet_count_arg {
    size_t index;
    size_t count;
};

static bool packets_arrived(const struct ensemble *e, const void *arg)
{
    const struct packet_count_arg *want = arg;
    for (; want->count; want++) {
        if (e->recorders[want->index].packet_count < want->count)
            return false;
    }
    return true;
}

static void check_small_packets(const struct recorder *r, size_t first, uint64_t connection_id)
{
    for (size_t i = 0; i < SMALL_PACKETS; i++) {
        const struct seen_packet *p = &r->packets[first + i];
        assert_int_equal(p->connection_id, connection_id);
        assert_int_equal(p->type, 2);
        assert_int_equal(p->zxid, (int64_t)i + 1);
        char data[32];
        int length = snprintf(data, sizeof data, "proposal %zu", i);
        assert_int_equal(p->data_bytes, length);
        assert_int_equal(p->data_hash, hash_bytes((const uint8_t *)data, (size_t)length));
        assert_int_equal(p->stream_bytes, 0);
    }
}

static void send_small_packets(struct peer_net *net, uint64_t connection_id)
{
    for (size_t i = 0; i < SMALL_PACKETS; i++) {
        struct jute_writer out;
        jute_writer_init(&out, 1024);
        char data[32];
        int length = snprintf(data, sizeof data, "proposal %zu", i);
        encode_packet(&out, 2, (int64_t)i + 1, (const uint8_t *)data, (size_t)length);
        assert_true(peer_net_quorum_send(net, connection_id, out.data, out.size));
        jute_writer_free(&out);
    }
}

static void test_quorum_packets_both_ways(void **state)
{
    (void)state;
    struct ensemble e;
    ensemble_init(&e, TEST_PORT_BASE + 50, 2);
    struct quorum_pair pair = quorum_pair_start(&e);

    /* Many small packets each way, then a 10 MiB one each way. */
    send_small_packets(e.nets[0], pair.leader_side);
    send_small_packets(e.nets[1], pair.follower_side);
    uint8_t *big = malloc(BIG_DATA_BYTES);
    assert_non_null(big);
    for (size_t i = 0; i < BIG_DATA_BYTES; i++)
        big[i] = (uint8_t)(i * 31u + (i >> 13));
    struct jute_writer out;
    jute_writer_init(&out, BIG_DATA_BYTES + 64);
    encode_packet(&out, 2, 1000, big, BIG_DATA_BYTES);
    assert_true(peer_net_quorum_send(e.nets[0], pair.leader_side, out.data, out.size));
    assert_true(peer_net_quorum_send(e.nets[1], pair.follower_side, out.data, out.size));
    assert_true(peer_net_quorum_queued_bytes(e.nets[0], pair.leader_side) > 0);
    jute_writer_free(&out);

    /* SNAP, its stream, and UPTODATE right behind, in one send. */
    struct jute_writer stream;
    jute_writer_init(&stream, 4096);
    encode_snap_stream(&stream);
    size_t checked = 0;
    assert_int_equal(quorum_snap_stream_frame(stream.data, stream.size, &checked), QUORUM_WIRE_DONE);
    assert_int_equal(checked, stream.size);
    jute_writer_init(&out, 8192);
    encode_packet(&out, QUORUM_SNAP, 0x500000000ll, NULL, 0);
    size_t snap_packet_bytes = out.size;
    jute_write_raw(&out, stream.data, stream.size);
    encode_packet(&out, QUORUM_UPTODATE, 0, NULL, 0);
    assert_true(peer_net_quorum_send(e.nets[0], pair.leader_side, out.data, out.size));
    jute_writer_free(&out);

    const struct packet_count_arg want[] = {{1, SMALL_PACKETS + 3}, {0, SMALL_PACKETS + 1}, {0, 0}};
    assert_true(pump(&e, packets_arrived, want, DEADLINE_MS * 2));
    pump(&e, NULL, NULL, 100);
    assert_int_equal(e.recorders[1].packet_count, SMALL_PACKETS + 3);
    assert_int_equal(e.recorders[0].packet_count, SMALL_PACKETS + 1);
    check_small_packets(&e.recorders[1], 0, pair.follower_side);
    check_small_packets(&e.recorders[0], 0, pair.leader_side);
    for (size_t r = 0; r < 2; r++) {
        const struct seen_packet *p = &e.recorders[r].packets[SMALL_PACKETS];
        assert_int_equal(p->zxid, 1000);
        assert_int_equal(p->data_bytes, BIG_DATA_BYTES);
        assert_int_equal(p->data_hash, hash_bytes(big, BIG_DATA_BYTES));
    }
    const struct seen_packet *snap = &e.recorders[1].packets[SMALL_PACKETS + 1];
    assert_int_equal(snap->type, QUORUM_SNAP);
    assert_int_equal(snap->zxid, 0x500000000ll);
    assert_int_equal(snap->data_bytes, -1);
    assert_int_equal(snap->packet_bytes, snap_packet_bytes);
    assert_int_equal(snap->stream_bytes, stream.size);
    assert_int_equal(snap->stream_hash, hash_bytes(stream.data, stream.size));
    const struct seen_packet *uptodate = &e.recorders[1].packets[SMALL_PACKETS + 2];
    assert_int_equal(uptodate->type, QUORUM_UPTODATE);
    assert_int_equal(uptodate->stream_bytes, 0);
    assert_int_equal(peer_net_quorum_queued_bytes(e.nets[0], pair.leader_side), 0);
    assert_int_equal(e.recorders[0].close_count + e.recorders[1].close_count, 0);
    jute_writer_free(&stream);
    free(big);
    ensemble_free(&e);
}

/* A learner that writes one byte per send: packets still arrive whole,
 * including a SNAP with its stream. */
static void test_quorum_byte_by_byte(void **state)
{
    (void)state;
    struct ensemble e;
    ensemble_init(&e, TEST_PORT_BASE + 60, 2);
    ensemble_start(&e, 1);
    char error[512] = "";
    assert_int_equal(peer_net_quorum_listen(e.nets[0], true, error, sizeof error), 0);
    int fd = raw_connect(e.members[0].quorum_port);

    struct jute_writer out, stream;
    jute_writer_init(&out, 8192);
    jute_writer_init(&stream, 4096);
    encode_snap_stream(&stream);
    encode_packet(&out, QUORUM_FOLLOWERINFO, 0x100000000ll, (const uint8_t *)"learner", 7);
    encode_packet(&out, QUORUM_SNAP, 7, NULL, 0);
    jute_write_raw(&out, stream.data, stream.size);
    /* With authinfo: one Id. */
    jute_write_int(&out, QUORUM_PING);
    jute_write_long(&out, 9);
    jute_write_bytes(&out, jute_bytes_of("", 0));
    jute_write_int(&out, 1);
    write_string(&out, "digest");
    write_string(&out, "user:hash");
    assert_true(out.ok);
    for (size_t i = 0; i < out.size; i++) {
        raw_send_all(fd, out.data + i, 1);
        /* Let the byte be read on its own before the next is written. */
        for (int polls = 0; polls < 3; polls++) {
            struct pollfd wait = {.fd = peer_net_wait_fd(e.nets[0]), .events = POLLIN};
            poll(&wait, 1, 2);
            peer_net_poll(e.nets[0], now_ms());
        }
    }
    const struct packet_count_arg want[] = {{0, 3}, {0, 0}};
    assert_true(pump(&e, packets_arrived, want, DEADLINE_MS));
    const struct recorder *r = &e.recorders[0];
    assert_int_equal(r->accepted_count, 1);
    assert_int_equal(r->packet_count, 3);
    assert_int_equal(r->packets[0].type, QUORUM_FOLLOWERINFO);
    assert_int_equal(r->packets[0].data_hash, hash_bytes((const uint8_t *)"learner", 7));
    assert_int_equal(r->packets[1].type, QUORUM_SNAP);
    assert_int_equal(r->packets[1].stream_bytes, stream.size);
    assert_int_equal(r->packets[1].stream_hash, hash_bytes(stream.data, stream.size));
    assert_int_equal(r->packets[2].type, QUORUM_PING);
    assert_int_equal(r->packets[2].zxid, 9);
    assert_int_equal(r->packets[2].data_bytes, 0);
    assert_int_equal(r->close_count, 0);
    jute_writer_free(&out);
    jute_writer_free(&stream);
    close(fd);
    ensemble_free(&e);
}

static void check_malformed_closes(uint16_t port_base, const uint8_t *bytes, size_t size,
                                   size_t packets_before)
{
    struct ensemble e;
    ensemble_init(&e, port_base, 2);
    ensemble_start(&e, 1);
    char error[512] = "";
    assert_int_equal(peer_net_quorum_listen(e.nets[0], true, error, sizeof error), 0);
    int fd = raw_connect(e.members[0].quorum_port);
    raw_send_all(fd, bytes, size);
    struct raw_closed_arg raw = {fd};
    assert_true(pump(&e, raw_peer_closed, &raw, DEADLINE_MS));
    pump(&e, NULL, NULL, 50);
    const struct recorder *r = &e.recorders[0];
    assert_int_equal(r->packet_count, packets_before);
    assert_int_equal(r->close_count, 1);
    assert_int_equal(r->closes[0].connection_id, r->accepted[0]);
    assert_non_null(strstr(r->closes[0].why, "malformed"));
    close(fd);
    ensemble_free(&e);
}

static void test_quorum_malformed_closes(void **state)
{
    (void)state;
    struct jute_writer out;
    /* A good packet, then one with data length -5. */
    jute_writer_init(&out, 1024);
    encode_packet(&out, QUORUM_PING, 1, NULL, 0);
    jute_write_int(&out, QUORUM_PROPOSAL);
    jute_write_long(&out, 2);
    jute_write_int(&out, -5);
    jute_write_raw(&out, "xxxxxxxxxxxxxxxx", 16);
    check_malformed_closes(TEST_PORT_BASE + 64, out.data, out.size, 1);
    jute_writer_free(&out);
    /* Data longer than the limit. */
    jute_writer_init(&out, 1024);
    jute_write_int(&out, QUORUM_PROPOSAL);
    jute_write_long(&out, 2);
    jute_write_int(&out, (int32_t)DATA_BYTES_MAX + 1);
    check_malformed_closes(TEST_PORT_BASE + 68, out.data, out.size, 0);
    jute_writer_free(&out);
    /* A SNAP whose stream has a wrong signature. */
    jute_writer_init(&out, 1024);
    encode_packet(&out, QUORUM_SNAP, 1, NULL, 0);
    jute_write_int(&out, 0);
    jute_write_int(&out, 0);
    write_string(&out, "");
    jute_write_bytes(&out, jute_bytes_of(NULL, -1));
    jute_write_long(&out, -1);
    uint8_t stat[60] = {0};
    jute_write_raw(&out, stat, sizeof stat);
    write_string(&out, "/");
    write_string(&out, "BenWasThere");
    check_malformed_closes(TEST_PORT_BASE + 72, out.data, out.size, 0);
    jute_writer_free(&out);
}

struct close_arg {
    size_t packets;
};

static bool follower_saw_close(const struct ensemble *e, const void *arg)
{
    const struct close_arg *want = arg;
    return e->recorders[1].packet_count >= want->packets && e->recorders[1].close_count == 1;
}

/* peer_net_quorum_close right after queueing 5 MB: all of it arrives, then
 * the other side sees the close; the closing side is not told. */
static void test_quorum_close_after_send_delivers(void **state)
{
    (void)state;
    struct ensemble e;
    ensemble_init(&e, TEST_PORT_BASE + 76, 2);
    struct quorum_pair pair = quorum_pair_start(&e);
    uint8_t *data = malloc(CLOSE_PACKET_DATA_BYTES);
    assert_non_null(data);
    for (size_t i = 0; i < CLOSE_PACKETS; i++) {
        memset(data, (int)i, CLOSE_PACKET_DATA_BYTES);
        struct jute_writer out;
        jute_writer_init(&out, CLOSE_PACKET_DATA_BYTES + 64);
        encode_packet(&out, QUORUM_COMMIT, (int64_t)i, data, CLOSE_PACKET_DATA_BYTES);
        assert_true(peer_net_quorum_send(e.nets[0], pair.leader_side, out.data, out.size));
        jute_writer_free(&out);
    }
    peer_net_quorum_close(e.nets[0], pair.leader_side);
    assert_false(peer_net_quorum_send(e.nets[0], pair.leader_side, data, 1));
    const struct close_arg want = {CLOSE_PACKETS};
    assert_true(pump(&e, follower_saw_close, &want, DEADLINE_MS));
    const struct recorder *r = &e.recorders[1];
    assert_int_equal(r->packet_count, CLOSE_PACKETS);
    for (size_t i = 0; i < CLOSE_PACKETS; i++) {
        memset(data, (int)i, CLOSE_PACKET_DATA_BYTES);
        assert_int_equal(r->packets[i].zxid, (int64_t)i);
        assert_int_equal(r->packets[i].data_hash, hash_bytes(data, CLOSE_PACKET_DATA_BYTES));
    }
    assert_int_equal(r->closes[0].connection_id, pair.follower_side);
    pump(&e, NULL, NULL, 100);
    assert_int_equal(e.recorders[0].close_count, 0);
    assert_int_equal(peer_net_quorum_queued_bytes(e.nets[0], pair.leader_side), 0);
    free(data);
    ensemble_free(&e);
}

static bool quorum_one_accepted(const struct ensemble *e, const void *arg)
{
    (void)arg;
    return e->recorders[0].accepted_count == 1;
}

/* The connection is unknown: its slot was freed. */
static bool quorum_gone(const struct ensemble *e, const void *arg)
{
    const uint64_t *id = arg;
    return peer_net_quorum_queued_bytes(e->nets[0], *id) == 0;
}

/* A learner that reads nothing: after peer_net_quorum_close the queued
 * bytes wait at most PEER_NET_CLOSE_LINGER_MS, then the connection goes. */
static void test_quorum_close_linger_bounded(void **state)
{
    (void)state;
    struct ensemble e;
    ensemble_init(&e, TEST_PORT_BASE + 88, 2);
    ensemble_start(&e, 1);
    char error[512] = "";
    assert_int_equal(peer_net_quorum_listen(e.nets[0], true, error, sizeof error), 0);
    int fd = raw_connect(e.members[0].quorum_port);
    assert_true(pump(&e, quorum_one_accepted, NULL, DEADLINE_MS));
    uint64_t id = e.recorders[0].accepted[0];
    uint8_t *data = calloc(1, LINGER_DATA_BYTES);
    assert_non_null(data);
    struct jute_writer out;
    jute_writer_init(&out, LINGER_DATA_BYTES + 64);
    encode_packet(&out, QUORUM_COMMIT, 1, data, LINGER_DATA_BYTES);
    assert_true(peer_net_quorum_send(e.nets[0], id, out.data, out.size));
    jute_writer_free(&out);
    free(data);
    pump(&e, NULL, NULL, 100);
    peer_net_quorum_close(e.nets[0], id);
    int64_t closed_at = now_ms();
    pump(&e, NULL, NULL, 300);
    assert_true(peer_net_quorum_queued_bytes(e.nets[0], id) > 0); /* still lingering */
    assert_true(pump(&e, quorum_gone, &id, PEER_NET_CLOSE_LINGER_MS + DEADLINE_MS));
    int64_t gone_ms = now_ms() - closed_at;
    assert_true(gone_ms >= PEER_NET_CLOSE_LINGER_MS - 50);
    assert_true(gone_ms < PEER_NET_CLOSE_LINGER_MS + 1000);
    assert_int_equal(e.recorders[0].close_count, 0); /* a local close is not reported */
    close(fd);
    ensemble_free(&e);
}

static bool one_close(const struct ensemble *e, const void *arg)
{
    (void)arg;
    return e->recorders[1].close_count >= 1;
}

/* A connect to a quorum port nobody listens on reports once, with why. */
static void test_quorum_connect_refused(void **state)
{
    (void)state;
    struct ensemble e;
    ensemble_init(&e, TEST_PORT_BASE + 80, 2);
    ensemble_start(&e, 2);
    uint64_t id = peer_net_quorum_connect(e.nets[1], 1);
    assert_true(id != 0);
    assert_true(pump(&e, one_close, NULL, DEADLINE_MS));
    pump(&e, NULL, NULL, 100);
    const struct recorder *r = &e.recorders[1];
    assert_int_equal(r->close_count, 1);
    assert_int_equal(r->connected_count, 0);
    assert_int_equal(r->closes[0].connection_id, id);
    assert_non_null(strstr(r->closes[0].why, "server.1"));
    assert_non_null(strstr(r->closes[0].why, "refused"));
    ensemble_free(&e);
}

static void test_bind_conflicts_explained(void **state)
{
    (void)state;
    struct ensemble e;
    ensemble_init(&e, TEST_PORT_BASE + 84, 2);
    int holder = raw_listen(e.members[0].election_port, true);
    struct peer_net_events events = {.context = &e.recorders[0]};
    struct peer_net_config config = {
        .my_id = 1, .members = e.members, .member_count = 2, .quorum_data_bytes_max = 1024};
    char error[512] = "";
    assert_null(peer_net_create(&config, &events, error, sizeof error));
    char port[16];
    snprintf(port, sizeof port, "%u", (unsigned)e.members[0].election_port);
    assert_non_null(strstr(error, port));
    assert_non_null(strstr(error, "election port of server.1"));
    assert_non_null(strstr(error, "another process"));
    close(holder);

    holder = raw_listen(e.members[0].quorum_port, true);
    struct peer_net *net = peer_net_create(&config, &events, error, sizeof error);
    assert_non_null(net);
    assert_int_equal(peer_net_quorum_listen(net, true, error, sizeof error), -1);
    snprintf(port, sizeof port, "%u", (unsigned)e.members[0].quorum_port);
    assert_non_null(strstr(error, port));
    assert_non_null(strstr(error, "quorum port of server.1"));
    close(holder);
    assert_int_equal(peer_net_quorum_listen(net, true, error, sizeof error), 0);
    assert_int_equal(peer_net_quorum_listen(net, false, error, sizeof error), 0);
    /* Stopped: once the cancelled accept is reaped, the port is free again. */
    for (int polls = 0; polls < 10; polls++) {
        struct pollfd wait = {.fd = peer_net_wait_fd(net), .events = POLLIN};
        poll(&wait, 1, 10);
        peer_net_poll(net, now_ms());
    }
    holder = raw_listen(e.members[0].quorum_port, false);
    close(holder);
    peer_net_destroy(net);

    snprintf(e.members[1].host, sizeof e.members[1].host, "no-such-host.invalid");
    assert_null(peer_net_create(&config, &events, error, sizeof error));
    assert_non_null(strstr(error, "server.2"));
    assert_non_null(strstr(error, "does not resolve"));
    ensemble_free(&e);
}

/* ---- members learned at run time (dynamic reconfiguration) ------------------
 *
 * Ports 23054-23059 (the only ones in 23050-23099 no other test here uses):
 * server 1 quorum 23054 election 23055, server 2 23056/23057, server 3
 * 23058/23059. Nobody listens on a quorum port in these tests, so 23056
 * serves as "an election port where nobody listens". */
#define MEMBERS_PORT_BASE 23054
#define NOBODY_LISTENS_PORT 23056

/* These tests share ports, so a failed one must not leave its servers
 * bound for the next: the teardown stops them whatever happened. */
static struct ensemble members_ensemble;

static int members_teardown(void **state)
{
    (void)state;
    ensemble_free(&members_ensemble);
    return 0;
}

struct message_arg {
    size_t to_index;
    int64_t from_id;
    const char *body;
};

static bool message_arrived(const struct ensemble *e, const void *arg)
{
    const struct message_arg *expect = arg;
    return messages_from(&e->recorders[expect->to_index], expect->from_id, expect->body) > 0;
}

static void expect_message(struct ensemble *e, int64_t to_id, int64_t from_id, const char *body)
{
    struct message_arg arg = {(size_t)to_id - 1, from_id, body};
    if (!pump(e, message_arrived, &arg, DEADLINE_MS))
        fail_msg("server.%lld never received '%s' from server.%lld", (long long)to_id, body,
                 (long long)from_id);
}

static bool first_server_closed(const struct ensemble *e, const void *arg)
{
    (void)arg;
    return e->recorders[0].close_count >= 1;
}

/* (a) Server 1 knows only itself; server 2 knows both and has the higher
 * id, so it connects and keeps the connection. Server 1 learns server 2
 * from the handshake: its notification arrives from id 2, and an answer to
 * id 2 travels back. Server 2's quorum port is not in its handshake, so a
 * quorum connect to it fails with a why that says so. */
static void test_members_learned_from_higher_id(void **state)
{
    (void)state;
    struct ensemble *e = &members_ensemble;
    ensemble_init(e, MEMBERS_PORT_BASE, 2);
    ensemble_start_with(e, 1, &e->members[0], 1);
    ensemble_start(e, 2);
    send_text(e->nets[1], 1, "hello from 2");
    expect_message(e, 1, 2, "hello from 2");
    send_text(e->nets[0], 2, "answer from 1");
    expect_message(e, 2, 1, "answer from 1");
    assert_int_equal(peer_net_election_connection_count(e->nets[0]), 1);

    uint64_t id = peer_net_quorum_connect(e->nets[0], 2);
    assert_true(id != 0);
    assert_true(pump(e, first_server_closed, NULL, DEADLINE_MS));
    assert_int_equal(e->recorders[0].closes[0].connection_id, id);
    assert_non_null(strstr(e->recorders[0].closes[0].why, "server.2's quorum port is unknown"));
    ensemble_free(e);
}

/* (b) The other direction: server 2 knows only itself; server 1 (lower id)
 * connects, sends its handshake and leaves. Server 2 learns server 1's
 * election address from that handshake and connects back, so server 1's
 * queued notification arrives, and server 2 can answer. */
static void test_members_learned_from_lower_id(void **state)
{
    (void)state;
    struct ensemble *e = &members_ensemble;
    ensemble_init(e, MEMBERS_PORT_BASE, 2);
    ensemble_start(e, 1);
    ensemble_start_with(e, 2, &e->members[1], 1);
    send_text(e->nets[0], 2, "hello from 1");
    expect_message(e, 2, 1, "hello from 1");
    send_text(e->nets[1], 1, "answer from 2");
    expect_message(e, 1, 2, "answer from 2");
    pump(e, NULL, NULL, SETTLE_MS);
    /* One connection per pair, as between servers that knew each other. */
    assert_int_equal(peer_net_election_connection_count(e->nets[0]), 1);
    assert_int_equal(peer_net_election_connection_count(e->nets[1]), 1);
    ensemble_free(e);
}

static int raw_bare_sid_peer(uint16_t port, int64_t sid)
{
    int fd = raw_connect(port);
    struct jute_writer out;
    jute_writer_init(&out, 64);
    jute_write_long(&out, sid); /* a peer older than 3.5: its sid alone */
    assert_true(out.ok);
    raw_send_all(fd, out.data, out.size);
    jute_writer_free(&out);
    return fd;
}

#define LATER_ADDRESS_PORT 23058

struct accept_arg {
    int listen_fd;
    int fd; /* -1 until one is accepted */
};

/* True once a connection is accepted and has bytes (or EOF) to read: the
 * servers must keep being pumped until they have sent them. */
static bool accepted_one_readable(const struct ensemble *e, const void *arg)
{
    (void)e;
    struct accept_arg *accept_state = (struct accept_arg *)arg;
    if (accept_state->fd < 0) {
        struct pollfd ready = {.fd = accept_state->listen_fd, .events = POLLIN};
        if (poll(&ready, 1, 0) == 1)
            accept_state->fd = accept4(accept_state->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (accept_state->fd < 0)
            return false;
    }
    struct pollfd readable = {.fd = accept_state->fd, .events = POLLIN};
    return poll(&readable, 1, 0) == 1;
}

/* An unknown id whose handshake gives no address we can use (none, or a
 * name: we never look names up for a handshake): with a lower id we could
 * not connect back, so the connection is closed as before; with a higher
 * id the connection is kept and both directions work on it. When it comes
 * back with an address, that address is the one we connect to. */
static void test_members_unknown_without_address(void **state)
{
    (void)state;
    struct ensemble *e = &members_ensemble;
    ensemble_init(e, MEMBERS_PORT_BASE, 2);
    ensemble_start_with(e, 2, &e->members[1], 1);
    uint16_t port = e->members[1].election_port;

    int bare_lower = raw_bare_sid_peer(port, 1);
    struct raw_closed_arg raw = {bare_lower};
    assert_true(pump(e, raw_peer_closed, &raw, DEADLINE_MS));
    close(bare_lower);
    int named_lower = raw_election_peer(port, 1, "localhost:23055");
    raw.fd = named_lower;
    assert_true(pump(e, raw_peer_closed, &raw, DEADLINE_MS));
    close(named_lower);

    int bare_higher = raw_bare_sid_peer(port, 7);
    struct jute_writer out;
    jute_writer_init(&out, 64);
    jute_write_int(&out, 9);
    jute_write_raw(&out, "from id 7", 9);
    assert_true(out.ok);
    raw_send_all(bare_higher, out.data, out.size);
    jute_writer_free(&out);
    expect_message(e, 2, 7, "from id 7");
    send_text(e->nets[1], 7, "back to 7");
    pump(e, NULL, NULL, 100);
    char body[MESSAGE_BYTES_MAX];
    raw_read_frame(bare_higher, body, sizeof body);
    assert_string_equal(body, "back to 7");
    close(bare_higher);

    /* Server 7 comes back with an address: server 2 (the lower id) now
     * connects to it when it has something to say. */
    int listener = raw_listen(LATER_ADDRESS_PORT, true);
    int with_address = raw_election_peer(port, 7, "127.0.0.1:23058");
    pump(e, NULL, NULL, 100);
    close(with_address);
    pump(e, NULL, NULL, 100);
    send_text(e->nets[1], 7, "to the address learned later");
    struct accept_arg accepted = {listener, -1};
    bool connected = pump(e, accepted_one_readable, &accepted, DEADLINE_MS);
    close(listener);
    assert_true(connected);
    uint8_t handshake_bytes[64];
    ssize_t got = recv(accepted.fd, handshake_bytes, sizeof handshake_bytes, MSG_DONTWAIT);
    close(accepted.fd);
    assert_true(got >= 16);
    struct quorum_election_handshake handshake;
    size_t consumed = 0;
    assert_int_equal(quorum_election_handshake_decode(handshake_bytes, (size_t)got, &handshake,
                                                      &consumed),
                     QUORUM_WIRE_DONE);
    assert_int_equal(handshake.server_id, 2);
    assert_string_equal(handshake.addresses, "127.0.0.1:23057");
    ensemble_free(e);
}

static int update_members(struct peer_net *net, const struct peer_net_member *members,
                          size_t member_count, char *error, size_t error_bytes)
{
    error[0] = '\0';
    return peer_net_update_members(net, members, member_count, error, error_bytes);
}

/* (c) Server 1 starts knowing itself and server 2 at an election port
 * where nobody listens. The update adds server 3 and gives server 2 its
 * real port: sends to both arrive. A later update that moves server 2
 * again leaves the open connection to it alone. */
static void test_members_update_adds_and_readdresses(void **state)
{
    (void)state;
    struct ensemble *e = &members_ensemble;
    ensemble_init(e, MEMBERS_PORT_BASE, 3);
    struct peer_net_member first_view[2] = {e->members[0], e->members[1]};
    first_view[1].election_port = NOBODY_LISTENS_PORT;
    ensemble_start_with(e, 1, first_view, 2);
    ensemble_start(e, 2);
    ensemble_start(e, 3);
    char error[512];
    struct peer_net_member update[2] = {e->members[2], e->members[1]};
    assert_int_equal(update_members(e->nets[0], update, 2, error, sizeof error), 0);
    send_text(e->nets[0], 3, "to the added one");
    send_text(e->nets[0], 2, "to the new address");
    expect_message(e, 3, 1, "to the added one");
    expect_message(e, 2, 1, "to the new address");
    size_t connections = peer_net_election_connection_count(e->nets[0]);

    struct peer_net_member moved = e->members[1];
    moved.election_port = NOBODY_LISTENS_PORT;
    assert_int_equal(update_members(e->nets[0], &moved, 1, error, sizeof error), 0);
    send_text(e->nets[0], 2, "on the open connection");
    expect_message(e, 2, 1, "on the open connection");
    assert_int_equal(peer_net_election_connection_count(e->nets[0]), connections);
    ensemble_free(e);
}

/* (d) An update with a host that does not resolve (or too long, or an id
 * twice) fails with a message and changes nothing: server 2's address,
 * moved in the same update, is still the one that works, and server 9,
 * added in it, is still unknown. */
static void test_members_update_refused_changes_nothing(void **state)
{
    (void)state;
    struct ensemble *e = &members_ensemble;
    ensemble_init(e, MEMBERS_PORT_BASE, 2);
    ensemble_start(e, 1);
    ensemble_start(e, 2);
    char error[512];
    struct peer_net_member update[3] = {e->members[1], e->members[0], e->members[0]};
    update[0].election_port = NOBODY_LISTENS_PORT;
    update[1].id = 9;
    update[2].id = 10;
    snprintf(update[2].host, sizeof update[2].host, "no-such-host.invalid");
    assert_int_equal(update_members(e->nets[0], update, 3, error, sizeof error), -1);
    assert_non_null(strstr(error, "server.10"));
    assert_non_null(strstr(error, "does not resolve"));

    update[2] = e->members[0];
    update[2].id = 10;
    memset(update[2].host, 'a', sizeof update[2].host);
    assert_int_equal(update_members(e->nets[0], update, 3, error, sizeof error), -1);
    assert_non_null(strstr(error, "too long"));
    update[2] = update[1];
    assert_int_equal(update_members(e->nets[0], update, 3, error, sizeof error), -1);
    assert_non_null(strstr(error, "server.9 appears twice"));

    send_text(e->nets[0], 2, "still the old address");
    expect_message(e, 2, 1, "still the old address");
    uint64_t id = peer_net_quorum_connect(e->nets[0], 9);
    assert_true(pump(e, first_server_closed, NULL, DEADLINE_MS));
    assert_int_equal(e->recorders[0].closes[0].connection_id, id);
    assert_non_null(strstr(e->recorders[0].closes[0].why, "server.9 is not in the configuration"));
    ensemble_free(e);
}

/* (e) At most PEER_NET_MEMBERS_MAX servers are known in all: an update
 * past it fails and adds none; filling the table exactly works; then an
 * unknown server's election connection is refused (closed). */
static void test_members_bounded(void **state)
{
    (void)state;
    struct ensemble *e = &members_ensemble;
    ensemble_init(e, MEMBERS_PORT_BASE, 2);
    ensemble_start_with(e, 1, &e->members[0], 1);
    struct peer_net_member *many = calloc(PEER_NET_MEMBERS_MAX + 1u, sizeof *many);
    assert_non_null(many);
    for (size_t i = 0; i < PEER_NET_MEMBERS_MAX + 1u; i++) {
        many[i] = e->members[1];
        many[i].id = 100 + (int64_t)i;
        many[i].election_port = NOBODY_LISTENS_PORT;
    }
    char error[512];
    /* Ourselves and 255 new ones: one too many. */
    assert_int_equal(update_members(e->nets[0], many, PEER_NET_MEMBERS_MAX, error, sizeof error), -1);
    assert_non_null(strstr(error, "more than 255"));
    assert_int_equal(update_members(e->nets[0], many, PEER_NET_MEMBERS_MAX + 1u, error, sizeof error),
                     -1);
    assert_non_null(strstr(error, "at most 255"));
    /* Exactly full: ourselves and 254. */
    assert_int_equal(update_members(e->nets[0], many, PEER_NET_MEMBERS_MAX - 1u, error, sizeof error),
                     0);
    /* Known ones only: nothing added, fine-> */
    assert_int_equal(update_members(e->nets[0], many, 3, error, sizeof error), 0);
    /* One more new one: refused. */
    assert_int_equal(update_members(e->nets[0], &many[PEER_NET_MEMBERS_MAX - 1u], 1, error,
                                    sizeof error), -1);
    assert_non_null(strstr(error, "more than 255"));
    free(many);

    int unknown = raw_election_peer(e->members[0].election_port, 2, "127.0.0.1:23057");
    struct raw_closed_arg raw = {unknown};
    assert_true(pump(e, raw_peer_closed, &raw, DEADLINE_MS));
    close(unknown);
    assert_int_equal(messages_from(&e->recorders[0], 2, NULL), 0);
    ensemble_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_election_one_connection_per_pair),
        cmocka_unit_test(test_election_queued_until_peer_starts),
        cmocka_unit_test(test_election_newest_kept),
        cmocka_unit_test(test_election_last_message_resent),
        cmocka_unit_test(test_election_reconnect_interval),
        cmocka_unit_test(test_election_self_send_on_next_poll),
        cmocka_unit_test(test_wait_fd_wakes_on_arrival),
        cmocka_unit_test(test_election_bad_frame_closes),
        cmocka_unit_test(test_election_newer_connection_replaces),
        cmocka_unit_test(test_quorum_packets_both_ways),
        cmocka_unit_test(test_quorum_byte_by_byte),
        cmocka_unit_test(test_quorum_malformed_closes),
        cmocka_unit_test(test_quorum_close_after_send_delivers),
        cmocka_unit_test(test_quorum_close_linger_bounded),
        cmocka_unit_test(test_quorum_connect_refused),
        cmocka_unit_test(test_bind_conflicts_explained),
        cmocka_unit_test_teardown(test_members_learned_from_higher_id, members_teardown),
        cmocka_unit_test_teardown(test_members_learned_from_lower_id, members_teardown),
        cmocka_unit_test_teardown(test_members_unknown_without_address, members_teardown),
        cmocka_unit_test_teardown(test_members_update_adds_and_readdresses, members_teardown),
        cmocka_unit_test_teardown(test_members_update_refused_changes_nothing, members_teardown),
        cmocka_unit_test_teardown(test_members_bounded, members_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
