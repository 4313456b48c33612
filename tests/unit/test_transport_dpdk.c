/* The DPDK transport and port (transport_dpdk.c, dpdk_port.c) with the
 * netstack, against the kernel's TCP over DPDK's tap PMD.
 *
 * The test moves itself into a network namespace of its own (unshare), so
 * the tap EAL makes (chdu0), its address 10.78.200.1/24 and every socket
 * vanish with the process. Two "shards" (threads running run_once over
 * queue pairs 0 and 1) echo what they receive; clients are kernel sockets
 * with timeouts, so a broken transport fails a test instead of hanging it.
 * Needs root (namespaces, /dev/net/tun): otherwise it reports itself
 * skipped (exit 77) with the reason. */
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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/transport.h"

#ifdef CHEETAH_HAVE_DPDK
#include "dataplane/dpdk_port.h"
#include "dataplane/transport_dpdk.h"

#define TAP_NAME "chdu0"
#define KERNEL_ADDRESS "10.78.200.1"
#define SERVER_ADDRESS "10.78.200.2"
#define SERVER_IPV4 0x0a4ec802u /* 10.78.200.2 */
#define SERVER_PORT 24550
#define SHARDS 2u
#define CONNECTIONS_PER_SHARD_MAX 256u
#define SEND_BUFFER_BYTES_MAX (4u << 20)
#define LOOP_TIMEOUT_MS 100
#define LOOP_ITERATIONS_MAX 5000000
#define LOOP_SECONDS_MAX 120
#define CLIENT_TIMEOUT_MS 10000
#define ECHO_CLIENTS 16
#define ECHO_BYTES (64u * 1024u)
#define WAIT_STEP_MS 5
#define WAIT_MS_MAX 5000
#define IDLE_BEFORE_WAKE_MS 100
/* A wake must end run_once (which waits up to LOOP_TIMEOUT_MS) far
 * sooner than that; the idle sleep it cuts short is at most 1 ms. */
#define WAKE_LATENCY_MS_MAX 20

enum mode {
    MODE_ECHO = 0,
    MODE_REFUSE,
    MODE_CLOSE_IN_RECEIVED,
};

struct shard_server {
    uint32_t queue;
    struct transport *transport;
    pthread_t thread;
    atomic_int accepted;
    atomic_int refused;
    atomic_int closed;
    atomic_int woken;
    atomic_int callback_failures;
    atomic_int run_errors;
};

struct echo_connection {
    struct transport_connection *handle;
};

static struct dpdk_port *port;
static struct shard_server shards[SHARDS];
static atomic_int mode;
static atomic_bool stop_requested;

static uint64_t now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

#define CALLBACK_CHECK(s, condition)                                                         \
    do {                                                                                     \
        if (!(condition)) {                                                                  \
            fprintf(stderr, "callback check failed: %s (line %d)\n", #condition, __LINE__); \
            atomic_fetch_add(&(s)->callback_failures, 1);                                    \
        }                                                                                    \
    } while (0)

/* ---- the shards' side ---- */

static void *on_accepted(void *context, struct transport_connection *handle,
                         const struct transport_peer *peer)
{
    struct shard_server *s = context;
    CALLBACK_CHECK(s, strcmp(peer->address, KERNEL_ADDRESS) == 0);
    CALLBACK_CHECK(s, peer->port != 0);
    if (atomic_load(&mode) == MODE_REFUSE) {
        atomic_fetch_add(&s->refused, 1);
        return NULL;
    }
    struct echo_connection *connection = calloc(1, sizeof *connection);
    if (!connection) {
        abort();
    }
    connection->handle = handle;
    atomic_fetch_add(&s->accepted, 1);
    return connection;
}

static void on_received(void *context, void *user, const uint8_t *data, size_t size)
{
    struct shard_server *s = context;
    struct echo_connection *connection = user;
    CALLBACK_CHECK(s, transport_send(s->transport, connection->handle, data, size));
    if (atomic_load(&mode) == MODE_CLOSE_IN_RECEIVED) {
        transport_close(s->transport, connection->handle);
    }
}

static void on_closed(void *context, void *user, enum transport_close_reason reason)
{
    struct shard_server *s = context;
    CALLBACK_CHECK(s, reason <= TRANSPORT_CLOSE_SEND_FULL);
    free(user);
    atomic_fetch_add(&s->closed, 1);
}

static void on_woken(void *context)
{
    struct shard_server *s = context;
    atomic_fetch_add(&s->woken, 1);
}

static const struct transport_callbacks callbacks = {
    .accepted = on_accepted,
    .received = on_received,
    .closed = on_closed,
    .woken = on_woken,
};

static void *shard_main(void *argument)
{
    struct shard_server *s = argument;
    uint64_t give_up_ms = now_ms() + LOOP_SECONDS_MAX * 1000u;
    for (int iteration = 0; iteration < LOOP_ITERATIONS_MAX && now_ms() < give_up_ms &&
                            !atomic_load(&stop_requested);
         iteration++) {
        if (transport_run_once(s->transport, LOOP_TIMEOUT_MS) != 0) {
            atomic_fetch_add(&s->run_errors, 1);
            break;
        }
    }
    return NULL;
}

/* ---- the clients' side ---- */

static int run_command(const char *command)
{
    int status = system(command);
    if (status != 0) {
        fprintf(stderr, "'%s' failed (%d)\n", command, status);
    }
    return status;
}

/* A connected socket, or -1 with errno when connect failed. */
static int client_try_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval timeout = {.tv_sec = CLIENT_TIMEOUT_MS / 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(SERVER_PORT)};
    inet_pton(AF_INET, SERVER_ADDRESS, &address.sin_addr);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        int error = errno;
        close(fd);
        errno = error;
        return -1;
    }
    return fd;
}

static int client_connect(void)
{
    int fd = client_try_connect();
    if (fd < 0) {
        fail_msg("connect to %s:%d over the tap: %s", SERVER_ADDRESS, SERVER_PORT,
                 strerror(errno));
    }
    return fd;
}

static void send_all(int fd, const uint8_t *data, size_t size)
{
    size_t sent = 0;
    while (sent < size) {
        ssize_t now = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
        if (now <= 0) {
            fail_msg("send: %s", now == 0 ? "closed" : strerror(errno));
        }
        sent += (size_t)now;
    }
}

static void receive_exactly(int fd, uint8_t *data, size_t size)
{
    size_t got = 0;
    while (got < size) {
        ssize_t now = recv(fd, data + got, size - got, 0);
        if (now <= 0) {
            fail_msg("recv after %zu of %zu bytes: %s", got, size,
                     now == 0 ? "end of stream" : strerror(errno));
        }
        got += (size_t)now;
    }
}

static int total(atomic_int *(*field)(struct shard_server *))
{
    int sum = 0;
    for (uint32_t index = 0; index < SHARDS; index++) {
        sum += atomic_load(field(&shards[index]));
    }
    return sum;
}

static atomic_int *accepted_of(struct shard_server *s) { return &s->accepted; }
static atomic_int *closed_of(struct shard_server *s) { return &s->closed; }
static atomic_int *refused_of(struct shard_server *s) { return &s->refused; }

/* Waits (bounded) until every accepted connection was closed. */
static void wait_all_closed(void)
{
    for (int waited = 0; waited < WAIT_MS_MAX && total(closed_of) < total(accepted_of);
         waited += WAIT_STEP_MS) {
        usleep(WAIT_STEP_MS * 1000);
    }
    assert_int_equal(total(closed_of), total(accepted_of));
}

/* ---- tests ---- */

static void test_echo_on_connections_over_both_shards(void **state)
{
    (void)state;
    atomic_store(&mode, MODE_ECHO);
    int before = total(accepted_of);
    static uint8_t sent[ECHO_BYTES];
    static uint8_t got[ECHO_BYTES];
    int fds[ECHO_CLIENTS];
    for (int client = 0; client < ECHO_CLIENTS; client++) {
        fds[client] = client_connect();
    }
    for (int client = 0; client < ECHO_CLIENTS; client++) {
        for (size_t index = 0; index < ECHO_BYTES; index++) {
            sent[index] = (uint8_t)(index * 31u + (size_t)client);
        }
        send_all(fds[client], sent, sizeof sent);
        receive_exactly(fds[client], got, sizeof got);
        assert_memory_equal(sent, got, sizeof got);
    }
    assert_int_equal(total(accepted_of) - before, ECHO_CLIENTS);
    /* The 4-tuple's hash spreads 16 connections over both shards (one
     * getting none: 2 in 2^16). */
    assert_true(atomic_load(&shards[0].accepted) > 0);
    assert_true(atomic_load(&shards[1].accepted) > 0);
    for (int client = 0; client < ECHO_CLIENTS; client++) {
        close(fds[client]);
    }
    wait_all_closed();
}

static void test_wake_ends_an_idle_run_once_at_once(void **state)
{
    (void)state;
    for (uint32_t index = 0; index < SHARDS; index++) {
        usleep(IDLE_BEFORE_WAKE_MS * 1000); /* idle: the loop sleeps between polls */
        int before = atomic_load(&shards[index].woken);
        uint64_t start_ms = now_ms();
        transport_wake(shards[index].transport);
        while (atomic_load(&shards[index].woken) == before &&
               now_ms() - start_ms < (uint64_t)WAIT_MS_MAX) {
            usleep(100);
        }
        uint64_t latency_ms = now_ms() - start_ms;
        assert_true(atomic_load(&shards[index].woken) > before);
        if (latency_ms > WAKE_LATENCY_MS_MAX) {
            fail_msg("shard %u saw the wake after %llu ms", index,
                     (unsigned long long)latency_ms);
        }
    }
}

static void test_refused_connection_is_reset(void **state)
{
    (void)state;
    atomic_store(&mode, MODE_REFUSE);
    int before = total(refused_of);
    /* The handshake completes, then the shard says no: a RST, which the
     * kernel may see before connect returns. */
    int fd = client_try_connect();
    if (fd < 0) {
        assert_int_equal(errno, ECONNRESET);
    } else {
        uint8_t byte = 0;
        ssize_t got = recv(fd, &byte, 1, 0);
        assert_true(got == 0 || (got < 0 && errno == ECONNRESET));
        close(fd);
    }
    for (int waited = 0; waited < WAIT_MS_MAX && total(refused_of) == before;
         waited += WAIT_STEP_MS) {
        usleep(WAIT_STEP_MS * 1000);
    }
    assert_int_equal(total(refused_of) - before, 1);
    atomic_store(&mode, MODE_ECHO);
}

static void test_close_inside_received_sends_reply_then_fin(void **state)
{
    (void)state;
    atomic_store(&mode, MODE_CLOSE_IN_RECEIVED);
    int fd = client_connect();
    send_all(fd, (const uint8_t *)"hello", 5);
    uint8_t reply[5];
    receive_exactly(fd, reply, sizeof reply);
    assert_memory_equal(reply, "hello", 5);
    uint8_t more = 0;
    assert_int_equal(recv(fd, &more, 1, 0), 0); /* FIN after the queued reply */
    close(fd);
    atomic_store(&mode, MODE_ECHO);
    wait_all_closed();
}

static int64_t metric(const char *name)
{
    struct dpdk_metric metrics[DPDK_METRICS_MAX];
    size_t count = dpdk_port_metrics(port, metrics, DPDK_METRICS_MAX);
    for (size_t index = 0; index < count; index++) {
        if (strcmp(metrics[index].name, name) == 0) {
            return metrics[index].value;
        }
    }
    fail_msg("no metric %s", name);
    return -1;
}

static void test_counters_reach_other_threads(void **state)
{
    (void)state;
    usleep(IDLE_BEFORE_WAKE_MS * 1000); /* idle shards publish before sleeping */
    assert_true(metric("dpdk_rx_frames") > 0);
    assert_true(metric("dpdk_tx_frames") > 0);
    assert_true(metric("dpdk_busy_cycles") > 0); /* turns that moved frames were timed */
    assert_true(metric("dpdk_tcp_connections_opened") >= ECHO_CLIENTS + 1);
    assert_true(metric("dpdk_shard0_tcp_connections_opened") > 0);
    assert_true(metric("dpdk_shard1_tcp_connections_opened") > 0);
    /* The kernel's ARP request reached both shards: one handed a copy over. */
    assert_true(metric("dpdk_broadcast_copies") > 0);
    assert_true(metric("dpdk_steered_in") > 0);
    assert_int_equal(metric("dpdk_steer_ring_full"), 0);
    assert_int_equal(metric("dpdk_tx_refused"), 0);
    assert_int_equal(metric("dpdk_tcp_checksum_bad"), 0);
    assert_true(metric("dpdk_idle_sleeps") > 0);
}

/* ---- setup ---- */

static int group_setup(void **state)
{
    (void)state;
    if (unshare(CLONE_NEWNET) != 0) {
        fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(errno));
        return -1;
    }
    if (run_command("ip link set lo up") != 0) {
        return -1;
    }
    struct dpdk_port_settings settings = {
        .eal_args = "--no-huge --no-pci -m 128 --vdev=net_tap0,iface=" TAP_NAME " -l 0 "
                    "--log-level=error",
        .port_index = 0,
        .queue_count = SHARDS,
        .mtu = 1500,
        .rx_descriptors = 256,
        .tx_descriptors = 256,
        .mbuf_pool_size = 4095,
        .ipv4_address = SERVER_IPV4,
        .ipv4_netmask = 0xffffff00u,
        .syn_backlog = 0,
        .keepalive_idle_ms = -1,
    };
    char error[1024];
    port = dpdk_port_create(&settings, error, sizeof error);
    if (!port) {
        fprintf(stderr, "dpdk_port_create: %s\n", error);
        return -1;
    }
    if (run_command("ip addr add " KERNEL_ADDRESS "/24 dev " TAP_NAME) != 0 ||
        run_command("ip link set " TAP_NAME " up") != 0) {
        return -1;
    }
    struct transport_config config = {
        .listen_address = SERVER_ADDRESS,
        .listen_port = SERVER_PORT,
        .connections_max = CONNECTIONS_PER_SHARD_MAX,
        .send_buffer_bytes_max = SEND_BUFFER_BYTES_MAX,
    };
    for (uint32_t index = 0; index < SHARDS; index++) {
        shards[index].queue = index;
        shards[index].transport =
            transport_dpdk_create(&config, port, index, &callbacks, &shards[index], error,
                                  sizeof error);
        if (!shards[index].transport) {
            fprintf(stderr, "transport_dpdk_create: %s\n", error);
            return -1;
        }
    }
    for (uint32_t index = 0; index < SHARDS; index++) {
        if (pthread_create(&shards[index].thread, NULL, shard_main, &shards[index]) != 0) {
            return -1;
        }
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    atomic_store(&stop_requested, true);
    int failures = 0;
    /* Every shard stops before any transport goes: a running shard may
     * still hand frames to (and wake) another's (as server.c does). */
    for (uint32_t index = 0; index < SHARDS; index++) {
        if (shards[index].transport) {
            transport_wake(shards[index].transport);
            pthread_join(shards[index].thread, NULL);
            failures += atomic_load(&shards[index].callback_failures) +
                        atomic_load(&shards[index].run_errors);
        }
    }
    for (uint32_t index = 0; index < SHARDS; index++) {
        if (shards[index].transport) {
            transport_destroy(shards[index].transport);
        }
    }
    dpdk_port_destroy(port);
    return failures == 0 ? 0 : -1;
}

int main(void)
{
    if (geteuid() != 0) {
        printf("SKIPPED: test_transport_dpdk needs root (a network namespace and a tap)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_on_connections_over_both_shards),
        cmocka_unit_test(test_wake_ends_an_idle_run_once_at_once),
        cmocka_unit_test(test_refused_connection_is_reset),
        cmocka_unit_test(test_close_inside_received_sends_reply_then_fin),
        cmocka_unit_test(test_counters_reach_other_threads),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

#else

int main(void)
{
    printf("SKIPPED: this build has no DPDK (libdpdk-dev was not found by meson)\n");
    return 77;
}

#endif
