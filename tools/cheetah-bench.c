/* cheetah-bench: a small closed-loop load generator that speaks the
 * ZooKeeper client protocol directly (issue 4 grows it into the full tool).
 *
 *   cheetah-bench --server 127.0.0.1:2181 --op get|set --connections N
 *                 --depth D --seconds S --value-bytes B
 *
 * Each connection runs in its own thread with D requests in flight; every
 * reply's latency (send to receive) goes into a histogram. Prints one human
 * line and one JSON line with throughput and p50/p90/p99/p99.9/max.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "jute/frame.h"
#include "jute/jute.h"
#include "jute/records.h"
#include "jute/zk_constants.h"

#define BENCH_CONNECTIONS_MAX 1024
#define BENCH_DEPTH_MAX 1024
#define BENCH_SECONDS_MAX 3600
#define BENCH_VALUE_BYTES_MAX (1 << 20)
/* Latency histogram: 1 us buckets up to 100 ms, then one overflow bucket. */
#define BENCH_HISTOGRAM_BUCKETS 100000
#define BENCH_RECEIVE_BYTES (1 << 20)
#define BENCH_PATH "/cheetah-bench"

struct bench_options {
    char host[64];
    uint16_t port;
    bool set;
    int connections;
    int depth;
    int seconds;
    int value_bytes;
};

struct worker {
    pthread_t thread;
    const struct bench_options *options;
    int index;
    uint64_t completed;
    uint64_t errors;
    uint64_t *histogram; /* BENCH_HISTOGRAM_BUCKETS + 1 */
    uint64_t max_ns;
    char failure[256];
};

static _Atomic bool bench_stop;

static uint64_t now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

static int connect_to(const struct bench_options *options)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(options->port)};
    if (inet_pton(AF_INET, options->host, &address.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static bool write_all(int fd, const uint8_t *data, size_t size)
{
    while (size > 0) {
        ssize_t sent = send(fd, data, size, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) {
            continue;
        }
        if (sent <= 0) {
            return false;
        }
        data += sent;
        size -= (size_t)sent;
    }
    return true;
}

/* Reads one frame's payload into `buffer`; returns its size or -1. */
static ssize_t read_frame(int fd, uint8_t *buffer, size_t capacity, size_t *buffered,
                          size_t *frame_start)
{
    for (int attempts = 0; attempts < 1 << 20; attempts++) {
        uint32_t payload_bytes = 0;
        enum jute_frame_status status =
            jute_frame_peek(buffer + *frame_start, *buffered - *frame_start,
                            (uint32_t)capacity - 4, &payload_bytes);
        if (status == JUTE_FRAME_BAD_LENGTH) {
            return -1;
        }
        if (status == JUTE_FRAME_READY) {
            size_t start = *frame_start + 4;
            *frame_start = start + payload_bytes;
            return (ssize_t)start; /* offset of the payload */
        }
        if (*frame_start > 0) {
            memmove(buffer, buffer + *frame_start, *buffered - *frame_start);
            *buffered -= *frame_start;
            *frame_start = 0;
        }
        ssize_t got = recv(fd, buffer + *buffered, capacity - *buffered, 0);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            return -1;
        }
        *buffered += (size_t)got;
    }
    return -1;
}

static bool encode_request(struct jute_writer *out, const struct bench_options *options,
                           int32_t xid, const uint8_t *value)
{
    jute_writer_reset(out);
    jute_write_int(out, 0);
    struct jute_request_header header = {.xid = xid,
                                         .type = options->set ? ZK_OP_SET_DATA : ZK_OP_GET_DATA};
    jute_request_header_encode(out, &header);
    if (options->set) {
        struct jute_set_data_request body = {.path = jute_bytes_cstr(BENCH_PATH),
                                             .data = jute_bytes_of(value, options->value_bytes),
                                             .version = -1};
        jute_set_data_request_encode(out, &body);
    } else {
        struct jute_get_data_request body = {.path = jute_bytes_cstr(BENCH_PATH), .watch = false};
        jute_get_data_request_encode(out, &body);
    }
    jute_writer_patch_int(out, 0, (int32_t)(out->size - 4));
    return out->ok;
}

static bool handshake(int fd, uint8_t *buffer, size_t capacity, size_t *buffered,
                      size_t *frame_start)
{
    struct jute_writer out;
    jute_writer_init(&out, 256);
    jute_write_int(&out, 0);
    uint8_t password[16] = {0};
    struct jute_connect_request request = {.time_out = 30000,
                                           .passwd = jute_bytes_of(password, 16),
                                           .has_read_only = true};
    jute_connect_request_encode(&out, &request);
    jute_writer_patch_int(&out, 0, (int32_t)(out.size - 4));
    bool ok = out.ok && write_all(fd, out.data, out.size);
    jute_writer_free(&out);
    return ok && read_frame(fd, buffer, capacity, buffered, frame_start) >= 0;
}

static void *worker_main(void *argument)
{
    struct worker *worker = argument;
    const struct bench_options *options = worker->options;
    uint8_t *buffer = malloc(BENCH_RECEIVE_BYTES);
    uint64_t *sent_at = calloc(BENCH_DEPTH_MAX, sizeof(*sent_at));
    uint8_t *value = calloc(1, (size_t)options->value_bytes + 1);
    struct jute_writer out;
    jute_writer_init(&out, (size_t)options->value_bytes + 4096);
    size_t buffered = 0, frame_start = 0;
    int fd = connect_to(options);
    if (fd < 0 || !buffer || !sent_at || !value ||
        !handshake(fd, buffer, BENCH_RECEIVE_BYTES, &buffered, &frame_start)) {
        snprintf(worker->failure, sizeof(worker->failure), "cannot connect or handshake: %s",
                 strerror(errno));
        goto done;
    }
    memset(value, 'v', (size_t)options->value_bytes);
    int32_t next_xid = 1;
    for (int slot = 0; slot < options->depth; slot++) {
        encode_request(&out, options, next_xid, value);
        sent_at[next_xid % BENCH_DEPTH_MAX] = now_ns();
        next_xid++;
        if (!write_all(fd, out.data, out.size)) {
            snprintf(worker->failure, sizeof(worker->failure), "send failed");
            goto done;
        }
    }
    while (!atomic_load_explicit(&bench_stop, memory_order_relaxed)) {
        ssize_t offset = read_frame(fd, buffer, BENCH_RECEIVE_BYTES, &buffered, &frame_start);
        if (offset < 0) {
            snprintf(worker->failure, sizeof(worker->failure), "connection lost");
            break;
        }
        int32_t xid = (int32_t)jute_load_be32(buffer + offset);
        int32_t err = (int32_t)jute_load_be32(buffer + offset + 12);
        if (xid < 0) {
            continue; /* a notification or ping: not ours */
        }
        uint64_t latency_ns = now_ns() - sent_at[xid % BENCH_DEPTH_MAX];
        uint64_t bucket = latency_ns / 1000;
        worker->histogram[bucket < BENCH_HISTOGRAM_BUCKETS ? bucket : BENCH_HISTOGRAM_BUCKETS]++;
        if (latency_ns > worker->max_ns) {
            worker->max_ns = latency_ns;
        }
        worker->completed++;
        worker->errors += err != 0;
        encode_request(&out, options, next_xid, value);
        sent_at[next_xid % BENCH_DEPTH_MAX] = now_ns();
        next_xid = next_xid == INT32_MAX ? 1 : next_xid + 1;
        if (!write_all(fd, out.data, out.size)) {
            snprintf(worker->failure, sizeof(worker->failure), "send failed");
            break;
        }
    }
done:
    if (fd >= 0) {
        close(fd);
    }
    jute_writer_free(&out);
    free(buffer);
    free(sent_at);
    free(value);
    return NULL;
}

/* Creates the benchmark node (ignoring NODEEXISTS). */
static bool prepare_node(const struct bench_options *options)
{
    uint8_t *buffer = malloc(BENCH_RECEIVE_BYTES);
    size_t buffered = 0, frame_start = 0;
    int fd = connect_to(options);
    bool ok = fd >= 0 && buffer && handshake(fd, buffer, BENCH_RECEIVE_BYTES, &buffered,
                                             &frame_start);
    if (ok) {
        struct jute_writer out;
        jute_writer_init(&out, (size_t)options->value_bytes + 4096);
        jute_write_int(&out, 0);
        struct jute_request_header header = {.xid = 1, .type = ZK_OP_CREATE};
        jute_request_header_encode(&out, &header);
        struct jute_acl acl = {.perms = ZK_PERM_ALL,
                               .id = {.scheme = jute_bytes_cstr("world"),
                                      .id = jute_bytes_cstr("anyone")}};
        uint8_t *value = calloc(1, (size_t)options->value_bytes + 1);
        memset(value, 'v', (size_t)options->value_bytes);
        struct jute_create_request create = {.path = jute_bytes_cstr(BENCH_PATH),
                                             .data = jute_bytes_of(value, options->value_bytes),
                                             .acl = {.count = 1, .items = &acl}};
        jute_create_request_encode(&out, &create);
        jute_writer_patch_int(&out, 0, (int32_t)(out.size - 4));
        ok = out.ok && write_all(fd, out.data, out.size) &&
             read_frame(fd, buffer, BENCH_RECEIVE_BYTES, &buffered, &frame_start) >= 0;
        jute_writer_free(&out);
        free(value);
    }
    if (fd >= 0) {
        close(fd);
    }
    free(buffer);
    return ok;
}

static double percentile_us(const uint64_t *histogram, uint64_t total, double fraction)
{
    uint64_t target = (uint64_t)((double)total * fraction);
    uint64_t seen = 0;
    for (int bucket = 0; bucket <= BENCH_HISTOGRAM_BUCKETS; bucket++) {
        seen += histogram[bucket];
        if (seen > target) {
            return (double)bucket;
        }
    }
    return (double)BENCH_HISTOGRAM_BUCKETS;
}

static int parse_int(const char *text, int minimum, int maximum, const char *name)
{
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (!end || *end != '\0' || value < minimum || value > maximum) {
        fprintf(stderr, "cheetah-bench: %s must be a whole number from %d to %d, not '%s'\n",
                name, minimum, maximum, text);
        exit(2);
    }
    return (int)value;
}

static void parse_options(int argc, char **argv, struct bench_options *options)
{
    snprintf(options->host, sizeof(options->host), "127.0.0.1");
    options->port = 2181;
    options->connections = 1;
    options->depth = 1;
    options->seconds = 5;
    options->value_bytes = 100;
    for (int index = 1; index < argc; index++) {
        const char *flag = argv[index];
        const char *value = index + 1 < argc ? argv[index + 1] : NULL;
        if (!value) {
            fprintf(stderr, "cheetah-bench: %s needs a value\n", flag);
            exit(2);
        }
        index++;
        if (strcmp(flag, "--server") == 0) {
            const char *colon = strrchr(value, ':');
            if (!colon || (size_t)(colon - value) >= sizeof(options->host)) {
                fprintf(stderr, "cheetah-bench: --server takes host:port, not '%s'\n", value);
                exit(2);
            }
            memcpy(options->host, value, (size_t)(colon - value));
            options->host[colon - value] = '\0';
            options->port = (uint16_t)parse_int(colon + 1, 1, 65535, "the port");
        } else if (strcmp(flag, "--op") == 0) {
            if (strcmp(value, "get") != 0 && strcmp(value, "set") != 0) {
                fprintf(stderr, "cheetah-bench: --op is get or set, not '%s'\n", value);
                exit(2);
            }
            options->set = strcmp(value, "set") == 0;
        } else if (strcmp(flag, "--connections") == 0) {
            options->connections = parse_int(value, 1, BENCH_CONNECTIONS_MAX, flag);
        } else if (strcmp(flag, "--depth") == 0) {
            options->depth = parse_int(value, 1, BENCH_DEPTH_MAX, flag);
        } else if (strcmp(flag, "--seconds") == 0) {
            options->seconds = parse_int(value, 1, BENCH_SECONDS_MAX, flag);
        } else if (strcmp(flag, "--value-bytes") == 0) {
            options->value_bytes = parse_int(value, 0, BENCH_VALUE_BYTES_MAX, flag);
        } else {
            fprintf(stderr, "cheetah-bench: unknown option %s\n", flag);
            exit(2);
        }
    }
}

int main(int argc, char **argv)
{
    struct bench_options options;
    parse_options(argc, argv, &options);
    if (!prepare_node(&options)) {
        fprintf(stderr, "cheetah-bench: cannot reach %s:%u: is the server running?\n",
                options.host, options.port);
        return 1;
    }
    struct worker *workers = calloc((size_t)options.connections, sizeof(*workers));
    for (int index = 0; index < options.connections; index++) {
        workers[index].options = &options;
        workers[index].index = index;
        workers[index].histogram = calloc(BENCH_HISTOGRAM_BUCKETS + 1, sizeof(uint64_t));
        pthread_create(&workers[index].thread, NULL, worker_main, &workers[index]);
    }
    uint64_t start_ns = now_ns();
    sleep((unsigned)options.seconds);
    atomic_store(&bench_stop, true);
    uint64_t elapsed_ns = now_ns() - start_ns;
    uint64_t *histogram = calloc(BENCH_HISTOGRAM_BUCKETS + 1, sizeof(uint64_t));
    uint64_t completed = 0, errors = 0, max_ns = 0;
    int failures = 0;
    for (int index = 0; index < options.connections; index++) {
        /* A worker blocked in recv is released when the server answers its
         * last request; shutdown makes sure it is. */
        pthread_join(workers[index].thread, NULL);
        completed += workers[index].completed;
        errors += workers[index].errors;
        if (workers[index].max_ns > max_ns) {
            max_ns = workers[index].max_ns;
        }
        for (int bucket = 0; bucket <= BENCH_HISTOGRAM_BUCKETS; bucket++) {
            histogram[bucket] += workers[index].histogram[bucket];
        }
        if (workers[index].failure[0]) {
            fprintf(stderr, "cheetah-bench: connection %d: %s\n", index, workers[index].failure);
            failures++;
        }
        free(workers[index].histogram);
    }
    double seconds = (double)elapsed_ns / 1e9;
    double throughput = (double)completed / seconds;
    double p50 = percentile_us(histogram, completed, 0.50);
    double p90 = percentile_us(histogram, completed, 0.90);
    double p99 = percentile_us(histogram, completed, 0.99);
    double p999 = percentile_us(histogram, completed, 0.999);
    printf("%s connections=%d depth=%d value=%dB: %.0f ops/s, p50 %.0f us, p90 %.0f us, "
           "p99 %.0f us, p99.9 %.0f us, max %.0f us, errors %llu\n",
           options.set ? "setData" : "getData", options.connections, options.depth,
           options.value_bytes, throughput, p50, p90, p99, p999, (double)max_ns / 1000.0,
           (unsigned long long)errors);
    printf("{\"op\":\"%s\",\"connections\":%d,\"depth\":%d,\"value_bytes\":%d,"
           "\"ops_per_second\":%.1f,\"p50_us\":%.0f,\"p90_us\":%.0f,\"p99_us\":%.0f,"
           "\"p999_us\":%.0f,\"max_us\":%.0f,\"completed\":%llu,\"errors\":%llu}\n",
           options.set ? "set" : "get", options.connections, options.depth, options.value_bytes,
           throughput, p50, p90, p99, p999, (double)max_ns / 1000.0,
           (unsigned long long)completed, (unsigned long long)errors);
    free(histogram);
    free(workers);
    return failures > 0 || completed == 0 ? 1 : 0;
}
