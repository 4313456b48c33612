/* cheetah-bench's shared declarations: options, workloads and the latency
 * histogram (tools/cheetah-bench.c drives the load; tools/bench/options.c
 * parses the command line; tools/bench/histogram.c holds the buckets). */
#ifndef CHEETAH_TOOLS_BENCH_H
#define CHEETAH_TOOLS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_CONNECTIONS_MAX 4096
#define BENCH_WATCHERS_MAX 4096
#define BENCH_THREADS_MAX 256
#define BENCH_DEPTH_MAX 1024
#define BENCH_SECONDS_MAX 3600
#define BENCH_KEYS_MAX 10000000
#define BENCH_VALUE_BYTES_MAX (1 << 20)
#define BENCH_RATE_MAX 100000000.0
/* delete: nodes the setup makes when --keys is not given. */
#define BENCH_DELETE_KEYS_DEFAULT 10000

/* Latency histogram: 1 us buckets below 100 ms, 1 ms buckets below 10 s,
 * 100 ms buckets below 100 s, then one overflow bucket. */
#define BENCH_FINE_BUCKETS 100000
#define BENCH_MEDIUM_BUCKETS 9900
#define BENCH_COARSE_BUCKETS 900
#define BENCH_HISTOGRAM_BUCKETS \
    (BENCH_FINE_BUCKETS + BENCH_MEDIUM_BUCKETS + BENCH_COARSE_BUCKETS + 1)

#define BENCH_PATH "/cheetah-bench"
#define BENCH_CREATE_PARENT "/cheetah-bench-create"
#define BENCH_SEQ_PARENT "/cheetah-bench-seq"
#define BENCH_DELETE_PARENT "/cheetah-bench-delete"

enum bench_op {
    OP_GET,
    OP_SET,
    OP_EXISTS,
    OP_CHILDREN,
    OP_CREATE,
    OP_CREATE_SEQ,
    OP_DELETE,
    OP_MIXED,
    OP_WATCH,
    OP_COUNT
};
extern const char *const op_names[OP_COUNT];
extern const char *const op_human[OP_COUNT];

struct bench_options {
    char host[64];
    uint16_t port;
    enum bench_op op;
    int connections;
    int depth;
    int seconds;
    int warmup_seconds;
    int value_bytes;
    int keys;
    bool keys_given;
    bool key_round_robin;
    int read_percent;
    int watchers;
    int threads;
    double rate; /* 0 = closed loop */
    long server_pid;
    uint64_t seed;
};

/* Parses argv into *options; prints the usage and exits on --help or a bad flag. */
void bench_parse_options(int argc, char **argv, struct bench_options *options);
/* utime + stime of process `pid` in microseconds, or -1 when unreadable. */
double bench_process_cpu_us(long pid);

size_t bench_bucket_of(uint64_t latency_ns);
/* The latency at `fraction` of `total` samples, in microseconds (a bucket's
 * lower bound, never above max_ns). */
double bench_percentile_us(const uint64_t *histogram, uint64_t total, double fraction,
                           uint64_t max_ns);

#endif
