/* cheetah-bench's latency histogram: 1 us buckets below 100 ms, 1 ms buckets
 * below 10 s, 100 ms buckets below 100 s, then one overflow bucket, so long
 * stalls are counted rather than clamped. */
#include "bench.h"

size_t bench_bucket_of(uint64_t latency_ns)
{
    uint64_t us = latency_ns / 1000;
    if (us < BENCH_FINE_BUCKETS) {
        return (size_t)us;
    }
    uint64_t ms = us / 1000;
    if (ms < 10000) {
        return BENCH_FINE_BUCKETS + (size_t)(ms - 100);
    }
    uint64_t tenths = ms / 100;
    if (tenths < 1000) {
        return BENCH_FINE_BUCKETS + BENCH_MEDIUM_BUCKETS + (size_t)(tenths - 100);
    }
    return BENCH_HISTOGRAM_BUCKETS - 1;
}

/* The lower bound of a bucket, in microseconds. */
static double bucket_floor_us(size_t bucket)
{
    if (bucket < BENCH_FINE_BUCKETS) {
        return (double)bucket;
    }
    bucket -= BENCH_FINE_BUCKETS;
    if (bucket < BENCH_MEDIUM_BUCKETS) {
        return (double)(bucket + 100) * 1000.0;
    }
    bucket -= BENCH_MEDIUM_BUCKETS;
    return (double)(bucket + 100) * 100000.0;
}

double bench_percentile_us(const uint64_t *histogram, uint64_t total, double fraction,
                           uint64_t max_ns)
{
    if (total == 0) {
        return 0.0;
    }
    uint64_t target = (uint64_t)((double)total * fraction);
    uint64_t seen = 0;
    for (size_t bucket = 0; bucket < BENCH_HISTOGRAM_BUCKETS; bucket++) {
        seen += histogram[bucket];
        if (seen > target) {
            double floor_us = bucket_floor_us(bucket);
            double max_us = (double)(max_ns / 1000);
            return floor_us < max_us ? floor_us : max_us;
        }
    }
    return (double)(max_ns / 1000);
}
