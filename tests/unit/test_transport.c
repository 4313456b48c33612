/* The io_uring transport against real loopback sockets (ports 22000-22049).
 *
 * A test server is a transport plus a thread running run_once in a loop
 * bounded by count and time; its callbacks act by `mode` (echo, close after
 * a big reply, flood until the send buffer is full, pause/resume, ...).
 * Clients are plain blocking sockets with receive timeouts, so a broken
 * transport fails a test instead of hanging it. */
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
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/transport.h"

#define TEST_PORT_BASE 22000
#define SERVER_LOOP_ITERATIONS_MAX 2000000
#define SERVER_LOOP_SECONDS_MAX 60
#define SERVER_CONNECTIONS_MAX 256
#define CLIENT_TIMEOUT_MS 10000
#define MANY_CLIENTS 200
#define LARGE_PAYLOAD_BYTES (6u * 1024u * 1024u)
#define CLOSE_REPLY_BYTES (1u * 1024u * 1024u)
#define FLOOD_CHUNK_BYTES (16u * 1024u)
#define FLOOD_CHUNKS_MAX 1024u
#define PAUSE_MILLISECONDS 200
#define PAUSE_PAYLOAD_BYTES (2u * 1024u * 1024u)
#define WAKER_THREADS 2
#define WAKES_PER_THREAD 5000

enum server_mode {
    MODE_ECHO,
    MODE_CLOSE_AFTER_REPLY, /* on any bytes: queue CLOSE_REPLY_BYTES, then close */
    MODE_FLOOD,             /* on any bytes: send until the buffer is full */
    MODE_PAUSE,             /* echo; pause on the first bytes, resume later */
    MODE_CLOSE_IN_RECEIVED, /* close from inside `received` */
    MODE_REFUSE,            /* `accepted` returns NULL */
    MODE_PUMP,              /* on any bytes: start queueing a chunk per loop iteration */
};

struct server;

struct server_connection {
    struct server *server;
    struct transport_connection *handle;
    bool paused;
    bool pause_done;
    uint64_t resume_at_ms;
    bool closed;
    bool pumping;
    size_t received_bytes;
    struct server_connection *next; /* all connections, for pause handling */
};

struct server {
    struct transport *transport;
    enum server_mode mode;
    pthread_t thread;
    atomic_bool stop;
    atomic_int accepted;
    atomic_int closed[4];
    atomic_int closed_twice;
    atomic_int woken;
    atomic_int received_while_paused;
    atomic_int flood_send_refused;
    atomic_int queued_bytes_wrong;
    atomic_int run_errors;
    atomic_size_t received_total;
    atomic_size_t pumped_bytes;
    atomic_size_t received_at_close; /* by the last connection closed */
    atomic_int loop_iterations;
    atomic_int callback_failures; /* cmocka asserts only work on the test thread */
    struct server_connection *connections;
};

/* A check inside a callback (on the server thread): counted, asserted
 * zero by the test thread at server_free. */
#define CALLBACK_CHECK(s, condition)                                               \
    do {                                                                           \
        if (!(condition)) {                                                        \
            fprintf(stderr, "callback check failed: %s (line %d)\n", #condition, __LINE__); \
            atomic_fetch_add(&(s)->callback_failures, 1);                          \
        }                                                                          \
    } while (0)

/* EINTR seen by blocking client calls (reported, not fatal): after this
 * thread destroys a ring, the kernel's ring-exit work queues task work
 * (TWA_SIGNAL) to the tasks that used it, which interrupts one blocking
 * socket call that has a timeout. */
static atomic_int client_interrupts;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void *on_accepted(void *shard, struct transport_connection *connection,
                         const struct transport_peer *peer)
{
    struct server *s = shard;
    if (s->mode == MODE_REFUSE) {
        atomic_fetch_add(&s->accepted, 1);
        return NULL;
    }
    CALLBACK_CHECK(s, strcmp(peer->address, "127.0.0.1") == 0 || strcmp(peer->address, "::1") == 0);
    CALLBACK_CHECK(s, peer->port != 0);
    struct server_connection *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->server = s;
    c->handle = connection;
    c->next = s->connections;
    s->connections = c;
    atomic_fetch_add(&s->accepted, 1);
    return c;
}

static void flood(struct server *s, struct server_connection *c)
{
    static uint8_t chunk[FLOOD_CHUNK_BYTES];
    for (uint32_t i = 0; i < FLOOD_CHUNKS_MAX; i++) {
        if (!transport_send(s->transport, c->handle, chunk, sizeof chunk)) {
            atomic_fetch_add(&s->flood_send_refused, 1);
            return;
        }
    }
}

static void on_received(void *shard, void *user, const uint8_t *data, size_t size)
{
    struct server *s = shard;
    struct server_connection *c = user;
    CALLBACK_CHECK(s, !c->closed);
    if (c->paused)
        atomic_fetch_add(&s->received_while_paused, 1);
    c->received_bytes += size;
    atomic_fetch_add(&s->received_total, size);
    switch (s->mode) {
    case MODE_ECHO:
        transport_send(s->transport, c->handle, data, size);
        break;
    case MODE_PAUSE:
        transport_send(s->transport, c->handle, data, size);
        if (!c->pause_done) {
            c->pause_done = true;
            c->paused = true;
            c->resume_at_ms = now_ms() + PAUSE_MILLISECONDS;
            transport_set_receive_paused(s->transport, c->handle, true);
        }
        break;
    case MODE_CLOSE_AFTER_REPLY: {
        if (c->received_bytes != size)
            break; /* only once */
        uint8_t *reply = malloc(CLOSE_REPLY_BYTES);
        if (!reply)
            abort();
        for (size_t i = 0; i < CLOSE_REPLY_BYTES; i++)
            reply[i] = (uint8_t)(i * 7 + 3);
        size_t before = transport_queued_bytes(s->transport, c->handle);
        CALLBACK_CHECK(s, transport_send(s->transport, c->handle, reply, CLOSE_REPLY_BYTES));
        if (transport_queued_bytes(s->transport, c->handle) != before + CLOSE_REPLY_BYTES)
            atomic_fetch_add(&s->queued_bytes_wrong, 1);
        free(reply);
        transport_close(s->transport, c->handle);
        /* After close: sends are refused, close again is harmless. */
        CALLBACK_CHECK(s, !transport_send(s->transport, c->handle, "x", 1));
        transport_close(s->transport, c->handle);
        break;
    }
    case MODE_FLOOD:
        flood(s, c);
        break;
    case MODE_CLOSE_IN_RECEIVED:
        transport_send(s->transport, c->handle, data, size);
        transport_close(s->transport, c->handle);
        break;
    case MODE_PUMP:
        c->pumping = true;
        break;
    case MODE_REFUSE:
        CALLBACK_CHECK(s, !"received on a refused connection");
    }
}

static void on_closed(void *shard, void *user, enum transport_close_reason reason)
{
    struct server *s = shard;
    struct server_connection *c = user;
    if (c->closed)
        atomic_fetch_add(&s->closed_twice, 1);
    c->closed = true;
    atomic_store(&s->received_at_close, c->received_bytes);
    CALLBACK_CHECK(s, reason <= TRANSPORT_CLOSE_SEND_FULL);
    atomic_fetch_add(&s->closed[reason], 1);
    /* The record stays on the list (freed at server_stop) so a second
     * `closed` would be detected rather than be a use after free. */
}

static void on_woken(void *shard)
{
    struct server *s = shard;
    atomic_fetch_add(&s->woken, 1);
}

static const struct transport_callbacks test_callbacks = {
    .accepted = on_accepted,
    .received = on_received,
    .closed = on_closed,
    .woken = on_woken,
};

static void resume_due(struct server *s)
{
    uint64_t now = now_ms();
    for (struct server_connection *c = s->connections; c; c = c->next) {
        if (c->paused && !c->closed && now >= c->resume_at_ms) {
            c->paused = false;
            transport_set_receive_paused(s->transport, c->handle, false);
        }
    }
}

/* One chunk per loop iteration and pumping connection; run_once flushes it. */
static void pump(struct server *s)
{
    static uint8_t chunk[FLOOD_CHUNK_BYTES];
    for (struct server_connection *c = s->connections; c; c = c->next) {
        if (c->pumping && !c->closed) {
            size_t before = transport_queued_bytes(s->transport, c->handle);
            if (transport_send(s->transport, c->handle, chunk, sizeof chunk)) {
                atomic_fetch_add(&s->pumped_bytes, sizeof chunk);
            } else {
                c->pumping = false;
                atomic_fetch_add(&s->flood_send_refused, 1);
                /* The refusal came while earlier bytes were still queued. */
                CALLBACK_CHECK(s, before > 0);
            }
        }
    }
}

static void *server_thread(void *argument)
{
    struct server *s = argument;
    uint64_t deadline = now_ms() + SERVER_LOOP_SECONDS_MAX * 1000u;
    for (int i = 0; i < SERVER_LOOP_ITERATIONS_MAX && now_ms() < deadline; i++) {
        if (atomic_load(&s->stop))
            break;
        if (transport_run_once(s->transport, s->mode == MODE_PUMP ? 5 : 50) != 0)
            atomic_fetch_add(&s->run_errors, 1);
        atomic_fetch_add(&s->loop_iterations, 1);
        if (s->mode == MODE_PAUSE)
            resume_due(s);
        if (s->mode == MODE_PUMP)
            pump(s);
    }
    return NULL;
}

static struct transport_config test_config(const char *address, uint16_t port)
{
    struct transport_config config = {
        .listen_address = address,
        .listen_port = port,
        .connections_max = SERVER_CONNECTIONS_MAX,
        .send_buffer_bytes_max = 16u * 1024u * 1024u,
        .receive_buffer_bytes = 4096,
        .receive_buffer_count = 64,
    };
    return config;
}

static struct server *server_create(const struct transport_config *config, enum server_mode mode)
{
    struct server *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->mode = mode;
    char error[256] = "";
    s->transport = transport_uring_create(config, &test_callbacks, s, error, sizeof error);
    if (!s->transport)
        fail_msg("transport_uring_create: %s", error);
    return s;
}

static void server_start(struct server *s)
{
    assert_int_equal(pthread_create(&s->thread, NULL, server_thread, s), 0);
}

static struct server *server_run(const struct transport_config *config, enum server_mode mode)
{
    struct server *s = server_create(config, mode);
    server_start(s);
    return s;
}

static void server_join(struct server *s)
{
    atomic_store(&s->stop, true);
    transport_wake(s->transport);
    assert_int_equal(pthread_join(s->thread, NULL), 0);
}

static void server_free(struct server *s)
{
    transport_destroy(s->transport);
    while (s->connections) {
        struct server_connection *c = s->connections;
        s->connections = c->next;
        free(c);
    }
    assert_int_equal(atomic_load(&s->run_errors), 0);
    assert_int_equal(atomic_load(&s->closed_twice), 0);
    assert_int_equal(atomic_load(&s->callback_failures), 0);
    free(s);
}

static void server_stop(struct server *s)
{
    server_join(s);
    server_free(s);
}

/* Waits (bounded) until *counter reaches value. */
static bool wait_for(atomic_int *counter, int value)
{
    uint64_t deadline = now_ms() + CLIENT_TIMEOUT_MS;
    while (atomic_load(counter) < value) {
        if (now_ms() > deadline)
            return false;
        usleep(1000);
    }
    return true;
}

/* ---- client helpers ---------------------------------------------------- */

static int client_connect_to(const char *address, uint16_t port)
{
    struct sockaddr_storage storage;
    memset(&storage, 0, sizeof storage);
    socklen_t length;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&storage;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&storage;
    if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        length = sizeof *v4;
    } else {
        assert_int_equal(inet_pton(AF_INET6, address, &v6->sin6_addr), 1);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        length = sizeof *v6;
    }
    int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct timeval timeout = {.tv_sec = CLIENT_TIMEOUT_MS / 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (connect(fd, (struct sockaddr *)&storage, length) != 0) {
        /* Interrupted: the handshake goes on; wait for it to finish. */
        assert_int_equal(errno, EINTR);
        atomic_fetch_add(&client_interrupts, 1);
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int ready;
        do
            ready = poll(&p, 1, CLIENT_TIMEOUT_MS);
        while (ready < 0 && errno == EINTR);
        assert_int_equal(ready, 1);
        int error = 0;
        socklen_t error_length = sizeof error;
        assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_length), 0);
        assert_int_equal(error, 0);
    }
    return fd;
}

static int client_connect(uint16_t port) { return client_connect_to("127.0.0.1", port); }

static void write_all(int fd, const void *data, size_t size)
{
    const uint8_t *bytes = data;
    while (size > 0) {
        ssize_t n = send(fd, bytes, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue; /* a timeout-bearing socket call is not restarted */
        assert_true(n > 0);
        bytes += n;
        size -= (size_t)n;
    }
}

/* Reads exactly size bytes (fails on timeout or EOF). */
static void read_exactly(int fd, void *data, size_t size)
{
    uint8_t *bytes = data;
    while (size > 0) {
        ssize_t n = recv(fd, bytes, size, 0);
        if (n < 0 && errno == EINTR) {
            atomic_fetch_add(&client_interrupts, 1);
            continue;
        }
        if (n <= 0)
            fail_msg("recv returned %zd (%s) with %zu bytes missing", n, strerror(errno), size);
        bytes += n;
        size -= (size_t)n;
    }
}

/* Reads until EOF (or error); returns the byte count, failing on timeout. */
static size_t read_until_eof(int fd, uint8_t *data, size_t capacity, int *error_out)
{
    size_t total = 0;
    *error_out = 0;
    for (;;) {
        uint8_t scratch[65536];
        uint8_t *target = data ? data + total : scratch;
        size_t room = data ? capacity - total : sizeof scratch;
        if (room == 0)
            room = sizeof scratch, target = scratch;
        ssize_t n = recv(fd, target, room, 0);
        if (n < 0 && errno == EINTR) {
            atomic_fetch_add(&client_interrupts, 1);
            continue;
        }
        if (n == 0)
            return total;
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                fail_msg("timed out waiting for EOF after %zu bytes", total);
            *error_out = errno;
            return total;
        }
        total += (size_t)n;
    }
}

static void fill_pattern(uint8_t *data, size_t size, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < size; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(x >> 16);
    }
}

/* Writes `out` and reads the same number of bytes back into `in`,
 * interleaved with poll so neither side's buffers deadlock. */
static void exchange(int fd, const uint8_t *out, uint8_t *in, size_t size)
{
    size_t written = 0, read_bytes = 0;
    uint64_t deadline = now_ms() + 4 * CLIENT_TIMEOUT_MS;
    while (read_bytes < size) {
        assert_true(now_ms() < deadline);
        struct pollfd p = {.fd = fd, .events = POLLIN | (written < size ? POLLOUT : 0)};
        int ready = poll(&p, 1, 1000);
        if (ready < 0 && errno == EINTR) {
            atomic_fetch_add(&client_interrupts, 1);
            continue;
        }
        assert_true(ready >= 0);
        if (p.revents & POLLOUT) {
            size_t chunk = size - written < 65536 ? size - written : 65536;
            ssize_t n = send(fd, out + written, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0)
                written += (size_t)n;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(fd, in + read_bytes, size - read_bytes, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN))
                fail_msg("connection ended after %zu of %zu bytes", read_bytes, size);
            if (n > 0)
                read_bytes += (size_t)n;
        }
    }
}

/* ---- tests -------------------------------------------------------------- */

static void test_echo_small(void **state)
{
    (void)state;
    struct transport_config config = test_config("127.0.0.1", TEST_PORT_BASE + 0);
    struct server *s = server_run(&config, MODE_ECHO);
    int fd = client_connect(config.listen_port);
    for (int round = 0; round < 20; round++) {
        char message[64], reply[64];
        int length = snprintf(message, sizeof message, "hello %d", round);
        write_all(fd, message, (size_t)length);
        read_exactly(fd, reply, (size_t)length);
        assert_memory_equal(message, reply, (size_t)length);
    }
    close(fd);
    assert_true(wait_for(&s->closed[TRANSPORT_CLOSE_PEER], 1));
    assert_int_equal(atomic_load(&s->accepted), 1);
    server_stop(s);
}

static void test_echo_large(void **state)
{
    (void)state;
    struct transport_config config = test_config("127.0.0.1", TEST_PORT_BASE + 1);
    struct server *s = server_run(&config, MODE_ECHO);
    uint8_t *out = malloc(LARGE_PAYLOAD_BYTES), *in = malloc(LARGE_PAYLOAD_BYTES);
    assert_non_null(out);
    assert_non_null(in);
    fill_pattern(out, LARGE_PAYLOAD_BYTES, 1);
    int fd = client_connect(config.listen_port);
    exchange(fd, out, in, LARGE_PAYLOAD_BYTES);
    assert_memory_equal(out, in, LARGE_PAYLOAD_BYTES);
    close(fd);
    assert_true(wait_for(&s->closed[TRANSPORT_CLOSE_PEER], 1));
    assert_int_equal(atomic_load(&s->received_total), LARGE_PAYLOAD_BYTES);
    free(out);
    free(in);
    server_stop(s);
}

static void test_many_connections(void **state)
{
    (void)state;
    struct transport_config config = test_config("127.0.0.1", TEST_PORT_BASE + 2);
    config.receive_buffer_count = 16; /* fewer buffers than connections: -ENOBUFS path */
    config.receive_buffer_bytes = 512;
    struct server *s = server_run(&config, MODE_ECHO);
    static int fds[MANY_CLIENTS];
    static uint8_t messages[MANY_CLIENTS][2000];
    for (int i = 0; i < MANY_CLIENTS; i++)
        fds[i] = client_connect(config.listen_port);
    for (int i = 0; i < MANY_CLIENTS; i++) {
        fill_pattern(messages[i], sizeof messages[i], (uint32_t)i + 100);
        write_all(fds[i], messages[i], sizeof messages[i]);
    }
    for (int i = 0; i < MANY_CLIENTS; i++) {
        uint8_t reply[sizeof messages[0]];
        read_exactly(fds[i], reply, sizeof reply);
        assert_memory_equal(reply, messages[i], sizeof reply);
    }
    assert_int_equal(atomic_load(&s->accepted), MANY_CLIENTS);
    for (int i = 0; i < MANY_CLIENTS; i++)
        close(fds[i]);
    assert_true(wait_for(&s->closed[TRANSPORT_CLOSE_PEER], MANY_CLIENTS));
    server_join(s);
    assert_int_equal(atomic_load(&s->closed[TRANSPORT_CLOSE_PEER]), MANY_CLIENTS);
    server_free(s);
}

static void test_peer_close_reported_once(void **state)
{
    (void)state;
    struct transport_config config = test_config("127.0.0.1", TEST_PORT_BASE + 3);
    struct server *s = server_run(&config, MODE_ECHO);
    int fd = client_connect(config.listen_port);
    assert_true(wait_for(&s->accepted, 1));
    close(fd);
    assert_true(wait_for(&s->closed[TRANSPORT_CLOSE_PEER], 1));
    usleep(100 * 1000); /* give a duplicate a chance to show */
    server_join(s);
    assert_int_equal(atomic_load(&s->closed[TRANSPORT_CLOSE_PEER]), 1);
    assert_int_equal(atomic_load(&s->closed[TRANSPORT_CLOSE_ERROR]), 0);
    assert_int_equal(atomic_load(&s->closed[TRANSPORT_CLOSE_LOCAL]), 0);
    server_free(s);
}

static void test_close_delivers_queued_bytes_before_fin(void **state)
{
    (void)state;
    struct transport_config config = test_config("127.0.0.1", TEST_PORT_BASE + 4);
    struct server *s = server_run(&config, MODE_CLOSE_AFTER_REPLY);
    int fd = client_connect(config.listen_port);
    write_all(fd, "bye", 3);
    uint8_t *reply = malloc(CLOSE_REPLY_BYTES + 1);
    assert_non_null(reply);
    int error = 0;
    size_t got = read_until_eof(fd, reply, CLOSE_REPLY_BYTES + 1, &error);
    assert_int_equal(error, 0); /* a FIN, not a reset */
    assert_int_equal(got, CLOSE_REPLY_BYTES);
    for (size_t i = 0; i < CLOSE_REPLY_BYTES; i++)
        assert_int_equal(reply[i], (uint8_t)(i * 7 + 3));
    free(reply);
    assert_true(wait_for(&s->closed[TRANSPORT_CLOSE_LOCAL], 1));
    close(fd);
    server_join(s);
    assert_int_equal(atomic_load(&s->queued_bytes_wrong), 0);
    assert_int_equal(atomic_load(&s->closed[TRANSPORT_CLOSE_PEER]), 0);
    server_free(s);
}

static void test_close_inside_received(void **state)
{
    (void)state;
    struct transport_config config = test_config("127.0.0.1", TEST_PORT_BASE + 5);
    struct server *s = server_run(&config, MODE_CLOSE_IN_RECEIVED);
    int fd = client_connect(config.listen_port);
    write_all(fd, "ping", 4);
    uint8_t reply[16];
    int error = 0;
    size_t got = read_until_eof(fd, reply, sizeof reply, &error);
    assert_int_equal(error, 0);
    assert_int_equal(got, 4);
    assert_memory_equal(reply, "ping", 4);
    assert_true(wait_for(&s->closed[TRANSPORT_CLOSE_LOCAL], 1));
    close(fd);
    server_stop(s);
}

static void test_send_buffer_overflow_closes(void **state)
{
    (void)state;
    struct transport_config config = test_config("127.0.0.1", TEST_PORT_BASE + 6);
    config.send_buffer_bytes_max = 256u * 1024u;
    struct server *s = server_run(&config, MODE_FLOOD);
    int fd = client_connect(config.listen_port);
    write_all(fd, "go", 2); /* the client never reads */
    assert_true(wait_for(&s->closed[TRANSPORT_CLOSE_SEND_FULL], 1));
    assert_int_equal(atomic_load(&s->flood_send_refused), 1);
    /* The client sees the connection end (EOF or reset), not a hang. */
    int error = 0;
    size_t got = read_until_eof(fd, NULL, 0, &error);
    assert_true(got <= (size_t)FLOOD_CHUNKS_MAX * FLOOD_CHUNK_BYTES);
    close(fd);
    server_stop(s);
}

/* A reader that never reads: the server queues a chunk per loop iteration;
 * sends complete until the kernel's socket buffers are full, then one send
 * stays in flight while queued bytes pile up to the limit. The connection
 * closes with SEND_FULL and the transport cancels the stuck send (ASan
 * checks that the buffer it pointed into outlives the cancel). */
static void test_send_full_with_send_in_flight(void **state)
{
    (void)state;
    struct transport_config config = test_config("127.0.0.1", TEST_PORT_BASE + 7);
    config.send_buffer_bytes_max = 256u * 1024u;
    struct server *s = server_run(&config, MODE_PUMP);
    int fd = client_connect(config.listen_port);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    write_all(fd, "go", 2);
    assert_true(wait_for(&s->closed[TRANSPORT_CLOSE_SEND_FULL], 1));
    assert_int_equal(atomic_load(&s->flood_send_refused), 1);
    /* Far more than the limit was accepted: sends completed before the
     * socket filled, so the limit is on queued bytes, not on the total.
     * (Reading it all back through a 4 KiB window would take minutes.) */
    assert_true(atomic_load(&s->pumped_bytes) > 2 * (size_t)config.send_buffer_bytes_max);
    close(fd);
    server_stop(s);
}

static void test_connections_max_enforced(void **state)
{
    (void)state;
    struct transport_config config = test_config("127.0.0.1", TEST_PORT_BASE + 8);
    config.connections_max = 2;
    struct server *s = server_run(&config, MODE_ECHO);
    int a = client_connect(config.listen_port);
    int b = client_connect(config.listen_port);
    assert_true(wait_for(&s->accepted, 2));
    int c = client_connect(config.listen_port); /* the kernel completes the handshake */
    int error = 0;
    size_t got = read_until_eof(c, NULL, 0, &error); /* then the transport closes it */
    assert_int_equal(got, 0);
    close(c);
    assert_int_equal(atomic_load(&s->accepted), 2);
    char reply[2];
    write_all(a, "aa", 2);
    read_exactly(a, reply, 2);
    write_all(b, "bb", 2);
    read_exactly(b, reply, 2);
    assert_memory_equal(reply, "bb", 2);
    /* A slot frees when a connection closes: a new one is accepted. */
    close(a);
    assert_true(wait_for(&s->closed[TRANSPORT_CLOSE_PEER], 1));
    int d = client_connect(config.listen_port);
    write_all(d, "dd", 2);
    read_exactly(d, reply, 2);
    assert_memory_equal(reply, "dd", 2);
    assert_int_equal(atomic_load(&s->accepted), 3);
    close(b);
    close(d);
    assert_true(wait_for(&s->closed[TRANSPORT_CLOSE_PEER], 3));
    server_stop(s);
}

static void test_pause_resume_loses_nothing(void **state)
{
    (void)state;
    struct transport_config config = test_config("127.0.0.1", TEST_PORT_BASE + 9);
    struct server *s = server_run(&config, MODE_PAUSE);
    uint8_t *out = malloc(PAUSE_PAYLOAD_BYTES), *in = malloc(PAUSE_PAYLOAD_BYTES);
    assert_non_null(out);
    assert_non_null(in);
    fill_pattern(out, PAUSE_PAYLOAD_BYTES, 5);
    int fd = client_connect(config.listen_port);
    uint64_t started = now_ms();
    exchange(fd, out, in, PAUSE_PAYLOAD_BYTES);
    assert_true(now_ms() - started >= PAUSE_MILLISECONDS - 10); /* it did pause */
    assert_memory_equal(out, in, PAUSE_PAYLOAD_BYTES);
    assert_int_equal(atomic_load(&s->received_while_paused), 0);
    close(fd);
    assert_true(wait_for(&s->closed[TRANSPORT_CLOSE_PEER], 1));
    free(out);
    free(in);
    server_stop(s);
}

/* Bytes that arrive while paused are held, not lost: the client sends
 * everything while the server is paused, and all of it is echoed later. */
static void test_pause_holds_bytes_sent_meanwhile(void **state)
{
    (void)state;
    struct transport_config config = test_config("127.0.0.1", TEST_PORT_BASE + 10);
    struct server *s = server_run(&config, MODE_PAUSE);
    int fd = client_connect(config.listen_port);
    write_all(fd, "first", 5);
    char reply[5];
    read_exactly(fd, reply, 5); /* echoed, and now paused for a while */
    uint8_t burst[100000];
    fill_pattern(burst, sizeof burst, 11);
    write_all(fd, burst, sizeof burst);
    uint8_t *echoed = malloc(sizeof burst);
    assert_non_null(echoed);
    read_exactly(fd, echoed, sizeof burst);
    assert_memory_equal(echoed, burst, sizeof burst);
    free(echoed);
    assert_int_equal(atomic_load(&s->received_while_paused), 0);
    close(fd);
    assert_true(wait_for(&s->closed[TRANSPORT_CLOSE_PEER], 1));
    server_stop(s);
}

/* The peer sends and closes before the server runs at all, so one batch
 * of completions holds data, then (after the first `received` pauses) more
 * data, then the EOF: the close must wait behind the held bytes, and every
 * byte reaches the shard before `closed` (a client's last requests before
 * it closes are not lost). */
static void test_eof_while_paused_delivers_everything_first(void **state)
{
    (void)state;
    struct transport_config config = test_config("127.0.0.1", TEST_PORT_BASE + 18);
    struct server *s = server_create(&config, MODE_PAUSE);
    int fd = client_connect(config.listen_port); /* waits in the listen backlog */
    uint8_t burst[60000];
    fill_pattern(burst, sizeof burst, 13);
    write_all(fd, burst, sizeof burst);
    close(fd);
    server_start(s);
    assert_true(wait_for(&s->closed[TRANSPORT_CLOSE_PEER], 1));
    assert_int_equal(atomic_load(&s->received_at_close), sizeof burst);
    assert_int_equal(atomic_load(&s->received_while_paused), 0);
    server_stop(s);
}

/* With no file descriptor left, accept fails (EMFILE) and the multishot
 * accept ends: the transport waits and re-arms instead of spinning, and
 * accepts the waiting client once descriptors are available again. */
static void test_accept_error_backs_off_and_recovers(void **state)
{
    (void)state;
    struct transport_config config = test_config("127.0.0.1", TEST_PORT_BASE + 19);
    /* The kernel takes the descriptor limit when it prepares the accept,
     * so the server starts (and arms its accept) under the tight limit. */
    struct server *s = server_create(&config, MODE_ECHO);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct rlimit saved;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    int lowest_free = dup(0);
    assert_true(lowest_free >= 0);
    close(lowest_free);
    struct rlimit tight = {.rlim_cur = (rlim_t)lowest_free + 8, .rlim_max = saved.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
    /* Fill every free descriptor below the limit (sanitizer runtimes may
     * close one of theirs meanwhile, which would leave a hole). */
    enum { fillers_max = 64 };
    int fillers[fillers_max];
    int filler_count = 0;
    while (filler_count < fillers_max && (fillers[filler_count] = dup(0)) >= 0)
        filler_count++;
    assert_true(filler_count < fillers_max);
    server_start(s);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(config.listen_port)};
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    int connected = connect(fd, (struct sockaddr *)&address, sizeof address);
    int iterations_before = atomic_load(&s->loop_iterations);
    usleep(300 * 1000);
    int iterations = atomic_load(&s->loop_iterations) - iterations_before;
    int accepted_while_tight = atomic_load(&s->accepted);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    for (int i = 0; i < filler_count; i++)
        close(fillers[i]);
    assert_int_equal(connected, 0);
    assert_int_equal(accepted_while_tight, 0);
    /* 300 ms of 50 ms waits plus a retry per 100 ms: a few dozen at most;
     * re-arming at once would spin thousands of times. */
    assert_true(iterations < 100);
    struct timeval timeout = {.tv_sec = CLIENT_TIMEOUT_MS / 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    write_all(fd, "late", 4);
    char reply[4];
    read_exactly(fd, reply, 4);
    assert_memory_equal(reply, "late", 4);
    assert_int_equal(atomic_load(&s->accepted), 1);
    close(fd);
    assert_true(wait_for(&s->closed[TRANSPORT_CLOSE_PEER], 1));
    server_stop(s);
}

struct waker {
    struct transport *transport;
};

static void *waker_thread(void *argument)
{
    struct waker *w = argument;
    for (int i = 0; i < WAKES_PER_THREAD; i++)
        transport_wake(w->transport);
    return NULL;
}

/* Each run_once below may block for 1 s: only a wake ends it sooner. */
static void test_wake_from_other_threads(void **state)
{
    (void)state;
    struct transport_config config = test_config("127.0.0.1", TEST_PORT_BASE + 11);
    struct server *s = server_create(&config, MODE_ECHO);
    struct waker waker = {s->transport};
    pthread_t wakers[WAKER_THREADS];
    for (int i = 0; i < WAKER_THREADS; i++)
        assert_int_equal(pthread_create(&wakers[i], NULL, waker_thread, &waker), 0);
    for (int i = 0; i < WAKER_THREADS; i++)
        assert_int_equal(pthread_join(wakers[i], NULL), 0);
    /* Run here, on this thread: one `woken` for all those wakes. */
    uint64_t started = now_ms();
    for (int i = 0; i < 3 && atomic_load(&s->woken) == 0; i++)
        assert_int_equal(transport_run_once(s->transport, 1000), 0);
    assert_true(atomic_load(&s->woken) >= 1);
    assert_true(now_ms() - started < 900);
    /* And a wake while run_once waits, from another thread. */
    int before = atomic_load(&s->woken);
    pthread_t single;
    assert_int_equal(pthread_create(&single, NULL, waker_thread, &waker), 0);
    started = now_ms();
    for (int i = 0; i < 3 && atomic_load(&s->woken) == before; i++)
        assert_int_equal(transport_run_once(s->transport, 1000), 0);
    assert_int_equal(pthread_join(single, NULL), 0);
    assert_true(atomic_load(&s->woken) > before);
    assert_true(now_ms() - started < 900);
    server_free(s);
}

/* If the wake does not end run_once(-1), this ends it after a while (by
 * connecting, which is an event too) and says so: the test stays bounded. */
struct watchdog {
    uint16_t port;
    atomic_bool cancel;
    atomic_bool fired;
};

static void *watchdog_thread(void *argument)
{
    struct watchdog *w = argument;
    for (int i = 0; i < 300 && !atomic_load(&w->cancel); i++)
        usleep(10 * 1000);
    /* Each connection ends one wait; the test loop makes at most 10. */
    for (int attempt = 0; attempt < 20 && !atomic_load(&w->cancel); attempt++) {
        atomic_store(&w->fired, true);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(w->port)};
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
        if (fd >= 0) {
            connect(fd, (struct sockaddr *)&address, sizeof address);
            close(fd);
        }
        usleep(50 * 1000);
    }
    return NULL;
}

/* transport_run_once(-1) waits until something happens; a wake is enough. */
static void test_wake_ends_infinite_wait(void **state)
{
    (void)state;
    struct transport_config config = test_config("127.0.0.1", TEST_PORT_BASE + 12);
    struct server *s = server_create(&config, MODE_ECHO);
    assert_int_equal(transport_run_once(s->transport, 0), 0); /* arm everything */
    struct watchdog watchdog = {.port = config.listen_port};
    pthread_t watchdog_id;
    assert_int_equal(pthread_create(&watchdog_id, NULL, watchdog_thread, &watchdog), 0);
    struct waker waker = {s->transport};
    pthread_t single;
    assert_int_equal(pthread_create(&single, NULL, waker_thread, &waker), 0);
    for (int i = 0; i < 10 && atomic_load(&s->woken) == 0; i++)
        assert_int_equal(transport_run_once(s->transport, -1), 0);
    atomic_store(&watchdog.cancel, true);
    assert_int_equal(pthread_join(single, NULL), 0);
    assert_int_equal(pthread_join(watchdog_id, NULL), 0);
    assert_false(atomic_load(&watchdog.fired));
    assert_true(atomic_load(&s->woken) >= 1);
    server_free(s);
}

static void test_two_transports_share_a_port(void **state)
{
    (void)state;
    struct transport_config config = test_config("127.0.0.1", TEST_PORT_BASE + 13);
    struct server *first = server_run(&config, MODE_ECHO);
    struct server *second = server_run(&config, MODE_ECHO);
    enum { clients = 64 };
    int fds[clients];
    for (int i = 0; i < clients; i++)
        fds[i] = client_connect(config.listen_port);
    for (int i = 0; i < clients; i++) {
        char message[16], reply[16];
        int length = snprintf(message, sizeof message, "client %d", i);
        write_all(fds[i], message, (size_t)length);
        read_exactly(fds[i], reply, (size_t)length);
        assert_memory_equal(message, reply, (size_t)length);
    }
    int accepted_first = atomic_load(&first->accepted);
    int accepted_second = atomic_load(&second->accepted);
    assert_int_equal(accepted_first + accepted_second, clients);
    assert_true(accepted_first > 0);
    assert_true(accepted_second > 0);
    for (int i = 0; i < clients; i++)
        close(fds[i]);
    assert_true(wait_for(&first->closed[TRANSPORT_CLOSE_PEER], accepted_first));
    assert_true(wait_for(&second->closed[TRANSPORT_CLOSE_PEER], accepted_second));
    server_stop(first);
    server_stop(second);
}

static void test_port_in_use_fails_with_message(void **state)
{
    (void)state;
    uint16_t port = TEST_PORT_BASE + 14;
    int blocker = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(blocker >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    assert_int_equal(bind(blocker, (struct sockaddr *)&address, sizeof address), 0);
    assert_int_equal(listen(blocker, 1), 0);
    struct transport_config config = test_config("127.0.0.1", port);
    char error[256] = "";
    struct transport *t = transport_uring_create(&config, &test_callbacks, NULL, error, sizeof error);
    assert_null(t);
    assert_non_null(strstr(error, "127.0.0.1:22014"));
    assert_non_null(strstr(error, strerror(EADDRINUSE)));
    close(blocker);

    /* Not an address at all. */
    config.listen_address = "localhost";
    error[0] = '\0';
    assert_null(transport_uring_create(&config, &test_callbacks, NULL, error, sizeof error));
    assert_non_null(strstr(error, "localhost"));
}

static void test_ipv6_echo(void **state)
{
    (void)state;
    struct transport_config config = test_config("::1", TEST_PORT_BASE + 15);
    struct server *s = server_run(&config, MODE_ECHO);
    int fd = client_connect_to("::1", config.listen_port);
    char reply[6];
    write_all(fd, "hello6", 6);
    read_exactly(fd, reply, 6);
    assert_memory_equal(reply, "hello6", 6);
    close(fd);
    assert_true(wait_for(&s->closed[TRANSPORT_CLOSE_PEER], 1));
    server_stop(s);
}

static void test_refused_connection_closed_without_callback(void **state)
{
    (void)state;
    struct transport_config config = test_config("127.0.0.1", TEST_PORT_BASE + 16);
    struct server *s = server_run(&config, MODE_REFUSE);
    int fd = client_connect(config.listen_port);
    int error = 0;
    assert_int_equal(read_until_eof(fd, NULL, 0, &error), 0);
    close(fd);
    assert_true(wait_for(&s->accepted, 1));
    server_join(s);
    for (int reason = 0; reason < 4; reason++)
        assert_int_equal(atomic_load(&s->closed[reason]), 0);
    server_free(s);
}

/* Destroying a transport with open connections releases everything (the
 * sanitizer builds check for leaks) and the clients see the end. */
static void test_destroy_with_open_connections(void **state)
{
    (void)state;
    struct transport_config config = test_config("127.0.0.1", TEST_PORT_BASE + 17);
    struct server *s = server_run(&config, MODE_ECHO);
    int fds[4];
    for (int i = 0; i < 4; i++) {
        fds[i] = client_connect(config.listen_port);
        write_all(fds[i], "x", 1);
        char reply;
        read_exactly(fds[i], &reply, 1);
    }
    server_stop(s);
    for (int i = 0; i < 4; i++) {
        int error = 0;
        read_until_eof(fds[i], NULL, 0, &error);
        close(fds[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_small),
        cmocka_unit_test(test_echo_large),
        cmocka_unit_test(test_many_connections),
        cmocka_unit_test(test_peer_close_reported_once),
        cmocka_unit_test(test_close_delivers_queued_bytes_before_fin),
        cmocka_unit_test(test_close_inside_received),
        cmocka_unit_test(test_send_buffer_overflow_closes),
        cmocka_unit_test(test_send_full_with_send_in_flight),
        cmocka_unit_test(test_connections_max_enforced),
        cmocka_unit_test(test_pause_resume_loses_nothing),
        cmocka_unit_test(test_pause_holds_bytes_sent_meanwhile),
        cmocka_unit_test(test_eof_while_paused_delivers_everything_first),
        cmocka_unit_test(test_accept_error_backs_off_and_recovers),
        cmocka_unit_test(test_wake_from_other_threads),
        cmocka_unit_test(test_wake_ends_infinite_wait),
        cmocka_unit_test(test_two_transports_share_a_port),
        cmocka_unit_test(test_port_in_use_fails_with_message),
        cmocka_unit_test(test_ipv6_echo),
        cmocka_unit_test(test_refused_connection_closed_without_callback),
        cmocka_unit_test(test_destroy_with_open_connections),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (atomic_load(&client_interrupts) > 0)
        fprintf(stderr, "client calls interrupted (EINTR, retried): %d\n",
                atomic_load(&client_interrupts));
    return failed;
}
