/* cheetah-tcp-rtt: the floor a one-connection request cannot beat. Measures
 * a bare loopback TCP round trip (one small message each way, TCP_NODELAY,
 * blocking sockets, an echo thread on the other end) in this process, so a
 * benchmark can put a server's one-connection latency beside it.
 *
 *   cheetah-tcp-rtt [--seconds S] [--bytes B]
 *
 * Prints one human line and one JSON line (round_trips, p50_us, p90_us,
 * p99_us, p999_us, max_us), as cheetah-bench does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RTT_SECONDS_MAX 600
#define RTT_MESSAGE_BYTES_MAX 65536
/* Latency histogram: 100 ns buckets up to 1 ms, then one overflow bucket. */
#define RTT_BUCKET_NS 100u
#define RTT_BUCKETS 10000u

static uint64_t now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

static bool transfer(int fd, uint8_t *buffer, size_t bytes, bool sending)
{
    size_t done = 0;
    while (done < bytes) {
        ssize_t moved = sending ? send(fd, buffer + done, bytes - done, MSG_NOSIGNAL)
                                : recv(fd, buffer + done, bytes - done, 0);
        if (moved < 0 && errno == EINTR) {
            continue;
        }
        if (moved <= 0) {
            return false;
        }
        done += (size_t)moved;
    }
    return true;
}

struct echo {
    int listen_fd;
    size_t bytes;
};

/* Echoes fixed-size messages until the client closes. */
static void *echo_main(void *argument)
{
    struct echo *echo = argument;
    int fd = accept(echo->listen_fd, NULL, NULL);
    if (fd < 0) {
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    uint8_t *buffer = malloc(echo->bytes);
    while (buffer && transfer(fd, buffer, echo->bytes, false) &&
           transfer(fd, buffer, echo->bytes, true)) {
    }
    free(buffer);
    close(fd);
    return NULL;
}

static double percentile_us(const uint64_t *histogram, uint64_t total, double fraction)
{
    uint64_t target = (uint64_t)((double)total * fraction);
    uint64_t seen = 0;
    for (uint32_t bucket = 0; bucket <= RTT_BUCKETS; bucket++) {
        seen += histogram[bucket];
        if (seen > target) {
            return (double)bucket * RTT_BUCKET_NS / 1000.0;
        }
    }
    return (double)RTT_BUCKETS * RTT_BUCKET_NS / 1000.0;
}

static long parse_number(const char *text, long minimum, long maximum, const char *name)
{
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (!end || *end != '\0' || value < minimum || value > maximum) {
        fprintf(stderr, "cheetah-tcp-rtt: %s must be a whole number from %ld to %ld, not '%s'\n",
                name, minimum, maximum, text);
        exit(2);
    }
    return value;
}

int main(int argc, char **argv)
{
    long seconds = 3;
    long bytes = 16;
    for (int index = 1; index < argc; index += 2) {
        if (index + 1 >= argc) {
            fprintf(stderr, "cheetah-tcp-rtt: %s needs a value\n", argv[index]);
            return 2;
        }
        if (strcmp(argv[index], "--seconds") == 0) {
            seconds = parse_number(argv[index + 1], 1, RTT_SECONDS_MAX, "--seconds");
        } else if (strcmp(argv[index], "--bytes") == 0) {
            bytes = parse_number(argv[index + 1], 1, RTT_MESSAGE_BYTES_MAX, "--bytes");
        } else {
            fprintf(stderr, "usage: cheetah-tcp-rtt [--seconds S] [--bytes B]\n");
            return 2;
        }
    }
    struct echo echo = {.listen_fd = socket(AF_INET, SOCK_STREAM, 0), .bytes = (size_t)bytes};
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (echo.listen_fd < 0 || bind(echo.listen_fd, (struct sockaddr *)&address, length) != 0 ||
        listen(echo.listen_fd, 1) != 0 ||
        getsockname(echo.listen_fd, (struct sockaddr *)&address, &length) != 0) {
        fprintf(stderr, "cheetah-tcp-rtt: cannot listen on 127.0.0.1: %s\n", strerror(errno));
        return 1;
    }
    pthread_t thread;
    if (pthread_create(&thread, NULL, echo_main, &echo) != 0) {
        fprintf(stderr, "cheetah-tcp-rtt: cannot start the echo thread\n");
        return 1;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
        fprintf(stderr, "cheetah-tcp-rtt: cannot connect: %s\n", strerror(errno));
        return 1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    uint64_t *histogram = calloc(RTT_BUCKETS + 1, sizeof(*histogram));
    uint8_t *message = calloc(1, (size_t)bytes);
    if (!histogram || !message) {
        fprintf(stderr, "cheetah-tcp-rtt: out of memory\n");
        return 1;
    }
    uint64_t round_trips = 0, max_ns = 0;
    uint64_t deadline = now_ns() + (uint64_t)seconds * 1000000000ull;
    while (now_ns() < deadline) {
        uint64_t start = now_ns();
        if (!transfer(fd, message, (size_t)bytes, true) ||
            !transfer(fd, message, (size_t)bytes, false)) {
            fprintf(stderr, "cheetah-tcp-rtt: the echo connection failed\n");
            return 1;
        }
        uint64_t elapsed = now_ns() - start;
        uint64_t bucket = elapsed / RTT_BUCKET_NS;
        histogram[bucket < RTT_BUCKETS ? bucket : RTT_BUCKETS]++;
        max_ns = elapsed > max_ns ? elapsed : max_ns;
        round_trips++;
    }
    close(fd);
    pthread_join(thread, NULL);
    close(echo.listen_fd);
    double p50 = percentile_us(histogram, round_trips, 0.50);
    double p90 = percentile_us(histogram, round_trips, 0.90);
    double p99 = percentile_us(histogram, round_trips, 0.99);
    double p999 = percentile_us(histogram, round_trips, 0.999);
    printf("loopback TCP round trip (%ld bytes each way): %llu round trips, p50 %.1f us, p90 %.1f "
           "us, p99 %.1f us, p99.9 %.1f us, max %.1f us\n",
           bytes, (unsigned long long)round_trips, p50, p90, p99, p999, (double)max_ns / 1000.0);
    printf("{\"round_trips\": %llu, \"bytes\": %ld, \"p50_us\": %.1f, \"p90_us\": %.1f, "
           "\"p99_us\": %.1f, \"p999_us\": %.1f, \"max_us\": %.1f}\n",
           (unsigned long long)round_trips, bytes, p50, p90, p99, p999, (double)max_ns / 1000.0);
    free(histogram);
    free(message);
    return 0;
}
