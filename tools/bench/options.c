/* cheetah-bench's command line and the server CPU reading. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

const char *const op_names[OP_COUNT] = {"get",        "set",    "exists", "children", "create",
                                        "create-seq", "delete", "mixed",  "watch"};
const char *const op_human[OP_COUNT] = {
    "getData", "setData", "exists", "getChildren2", "create", "create-sequential",
    "delete",  "mixed",   "watch"};

static void usage(FILE *to)
{
    fprintf(to,
            "usage: cheetah-bench [options]\n"
            "  --server HOST:PORT     server (IPv4) to load; default 127.0.0.1:2181\n"
            "  --op WORKLOAD          get | set | exists | children | create | create-seq |\n"
            "                         delete | mixed | watch   (default get)\n"
            "  --connections N        client sessions issuing requests (default 1)\n"
            "  --depth D              closed loop: requests in flight per connection (default 1)\n"
            "  --rate R               open loop: R requests/s in total, evenly spaced per\n"
            "                         connection; latency from the intended send time\n"
            "  --threads T            threads driving the connections (default min(N, cores))\n"
            "  --seconds S            measured seconds (default 5)\n"
            "  --warmup-seconds W     unmeasured seconds before (default 0)\n"
            "  --value-bytes B        data size for set/create (default 100)\n"
            "  --keys K               key space /cheetah-bench/k<i> (default 1: the single\n"
            "                         node /cheetah-bench); delete: nodes to delete (10000)\n"
            "  --key-order random|round-robin   how get/set/exists/mixed pick keys\n"
            "  --read-percent P       mixed: percent getData, the rest setData (default 90)\n"
            "  --watchers N           watch: sessions holding a getData watch (default 1)\n"
            "  --server-pid PID       report the server's CPU time per operation\n"
            "  --seed S               PRNG seed (default 1)\n"
            "  --help                 this text\n"
            "Workloads: children is getChildren2 of /cheetah-bench; create makes a new node\n"
            "under " BENCH_CREATE_PARENT " per request; create-seq makes PERSISTENT_SEQUENTIAL\n"
            "nodes under " BENCH_SEQ_PARENT "; delete removes nodes the setup made under\n"
            BENCH_DELETE_PARENT " and ends when none are left; watch: --connections setData\n"
            "the node while --watchers re-arm a getData watch on it; notification latency is\n"
            "event arrival minus the send time of the write that made the version it fired on.\n"
            "Output: a human line, then one JSON line.\n");
}

static double parse_number(const char *text, double minimum, double maximum, const char *name)
{
    char *end = NULL;
    double value = strtod(text, &end);
    if (!end || end == text || *end != '\0' || !(value >= minimum) || !(value <= maximum)) {
        fprintf(stderr, "cheetah-bench: %s must be a number from %g to %g, not '%s'\n", name,
                minimum, maximum, text);
        exit(2);
    }
    return value;
}

static int parse_int(const char *text, int minimum, int maximum, const char *name)
{
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (!end || end == text || *end != '\0' || value < minimum || value > maximum) {
        fprintf(stderr, "cheetah-bench: %s must be a whole number from %d to %d, not '%s'\n",
                name, minimum, maximum, text);
        exit(2);
    }
    return (int)value;
}

static void parse_server(const char *value, struct bench_options *options)
{
    const char *colon = strrchr(value, ':');
    if (!colon || (size_t)(colon - value) >= sizeof(options->host)) {
        fprintf(stderr, "cheetah-bench: --server takes host:port, not '%s'\n", value);
        exit(2);
    }
    memcpy(options->host, value, (size_t)(colon - value));
    options->host[colon - value] = '\0';
    if (strcmp(options->host, "localhost") == 0) {
        snprintf(options->host, sizeof(options->host), "127.0.0.1");
    }
    options->port = (uint16_t)parse_int(colon + 1, 1, 65535, "the port");
}

static void parse_op(const char *value, struct bench_options *options)
{
    for (int op = 0; op < OP_COUNT; op++) {
        if (strcmp(value, op_names[op]) == 0) {
            options->op = (enum bench_op)op;
            return;
        }
    }
    fprintf(stderr, "cheetah-bench: --op is one of get, set, exists, children, create, "
                    "create-seq, delete, mixed, watch; not '%s'\n", value);
    exit(2);
}

void bench_parse_options(int argc, char **argv, struct bench_options *options)
{
    *options = (struct bench_options){.port = 2181, .op = OP_GET, .connections = 1, .depth = 1,
                                      .seconds = 5, .value_bytes = 100, .keys = 1,
                                      .read_percent = 90, .watchers = 1, .seed = 1};
    snprintf(options->host, sizeof(options->host), "127.0.0.1");
    for (int index = 1; index < argc; index++) {
        const char *flag = argv[index];
        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        const char *value = index + 1 < argc ? argv[index + 1] : NULL;
        if (!value) {
            fprintf(stderr, "cheetah-bench: %s needs a value (see --help)\n", flag);
            exit(2);
        }
        index++;
        if (strcmp(flag, "--server") == 0) {
            parse_server(value, options);
        } else if (strcmp(flag, "--op") == 0) {
            parse_op(value, options);
        } else if (strcmp(flag, "--connections") == 0) {
            options->connections = parse_int(value, 1, BENCH_CONNECTIONS_MAX, flag);
        } else if (strcmp(flag, "--depth") == 0) {
            options->depth = parse_int(value, 1, BENCH_DEPTH_MAX, flag);
        } else if (strcmp(flag, "--seconds") == 0) {
            options->seconds = parse_int(value, 1, BENCH_SECONDS_MAX, flag);
        } else if (strcmp(flag, "--warmup-seconds") == 0) {
            options->warmup_seconds = parse_int(value, 0, BENCH_SECONDS_MAX, flag);
        } else if (strcmp(flag, "--value-bytes") == 0) {
            options->value_bytes = parse_int(value, 0, BENCH_VALUE_BYTES_MAX, flag);
        } else if (strcmp(flag, "--keys") == 0) {
            options->keys = parse_int(value, 1, BENCH_KEYS_MAX, flag);
            options->keys_given = true;
        } else if (strcmp(flag, "--key-order") == 0) {
            if (strcmp(value, "random") != 0 && strcmp(value, "round-robin") != 0) {
                fprintf(stderr, "cheetah-bench: --key-order is random or round-robin\n");
                exit(2);
            }
            options->key_round_robin = strcmp(value, "round-robin") == 0;
        } else if (strcmp(flag, "--read-percent") == 0) {
            options->read_percent = parse_int(value, 0, 100, flag);
        } else if (strcmp(flag, "--watchers") == 0) {
            options->watchers = parse_int(value, 1, BENCH_WATCHERS_MAX, flag);
        } else if (strcmp(flag, "--threads") == 0) {
            options->threads = parse_int(value, 1, BENCH_THREADS_MAX, flag);
        } else if (strcmp(flag, "--rate") == 0) {
            options->rate = parse_number(value, 0.001, BENCH_RATE_MAX, flag);
        } else if (strcmp(flag, "--server-pid") == 0) {
            options->server_pid = parse_int(value, 1, INT32_MAX, flag);
        } else if (strcmp(flag, "--seed") == 0) {
            options->seed = (uint64_t)parse_int(value, 0, INT32_MAX, flag);
        } else {
            fprintf(stderr, "cheetah-bench: unknown option %s (see --help)\n", flag);
            exit(2);
        }
    }
    if (options->op == OP_DELETE && !options->keys_given) {
        options->keys = BENCH_DELETE_KEYS_DEFAULT;
    }
    if (options->op != OP_WATCH) {
        options->watchers = 0;
    }
    if (options->threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        int total = options->connections + options->watchers;
        options->threads = cores < 1 ? 1 : (int)(cores < total ? cores : total);
    }
    int total = options->connections + options->watchers;
    if (options->threads > total) {
        options->threads = total;
    }
}

/* utime + stime of `pid` in microseconds, or -1. */
double bench_process_cpu_us(long pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *file = fopen(path, "r");
    if (!file) {
        return -1.0;
    }
    char text[2048];
    size_t size = fread(text, 1, sizeof(text) - 1, file);
    fclose(file);
    text[size] = '\0';
    /* Fields after the command name (which may hold spaces): state is field 3,
     * utime field 14, stime field 15. */
    const char *cursor = strrchr(text, ')');
    if (!cursor) {
        return -1.0;
    }
    cursor += 2;
    unsigned long long utime = 0, stime = 0;
    if (sscanf(cursor, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
               &stime) != 2) {
        return -1.0;
    }
    long ticks = sysconf(_SC_CLK_TCK);
    return (double)(utime + stime) * 1e6 / (double)(ticks > 0 ? ticks : 100);
}
