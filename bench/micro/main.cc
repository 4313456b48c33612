// cheetah-micro: every microbenchmark in one binary (Google Benchmark's
// usual flags: --benchmark_filter, --benchmark_min_time, --benchmark_out).
#include <benchmark/benchmark.h>

#include "bench/micro/shim.h"

int main(int argc, char **argv)
{
    micro_logs_warnings_only();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
