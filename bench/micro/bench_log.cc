// The transaction log: the entry encoding alone, and the log writer thread
// (io_uring, one write + one fdatasync per batch) on real files in /tmp.
#include <benchmark/benchmark.h>

#include "bench/micro/shim.h"

extern "C" {
#include "jute/jute.h"
#include "store/txnlog.h"
}

namespace
{

void run_entry_encode(benchmark::State &state)
{
    micro_txn *txn = micro_txn_create(static_cast<size_t>(state.range(0)));
    if (txn == nullptr) {
        state.SkipWithError("cannot build the transaction");
        return;
    }
    jute_bytes txn_bytes =
        jute_bytes_of(micro_txn_data(txn), static_cast<int32_t>(micro_txn_bytes(txn)));
    jute_writer entry;
    jute_writer_init(&entry, 1u << 20);
    for (auto _ : state) {
        jute_writer_reset(&entry);
        store_txnlog_append(&entry, txn_bytes);
        benchmark::DoNotOptimize(entry.data);
        benchmark::ClobberMemory();
    }
    const size_t bytes = entry.ok ? entry.size : 0;
    jute_writer_free(&entry);
    if (bytes != micro_txn_bytes(txn) + STORE_TXNLOG_ENTRY_OVERHEAD_BYTES) {
        state.SkipWithError("encode failed");
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
    state.counters["entry_bytes"] = static_cast<double>(bytes);
    micro_txn_destroy(txn);
}

void run_adler32(benchmark::State &state)
{
    micro_txn *txn = micro_txn_create(static_cast<size_t>(state.range(0)));
    if (txn == nullptr) {
        state.SkipWithError("cannot build the transaction");
        return;
    }
    for (auto _ : state) {
        benchmark::DoNotOptimize(store_adler32(1, micro_txn_data(txn), micro_txn_bytes(txn)));
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(micro_txn_bytes(txn)));
    micro_txn_destroy(txn);
}

void report_log(benchmark::State &state, const micro_log *log)
{
    micro_log_stats stats;
    micro_log_stats_get(log, &stats);
    state.counters["records_per_batch"] =
        stats.batches == 0 ? 0.0 : static_cast<double>(stats.transactions) / stats.batches;
    state.counters["batch_records_max"] = static_cast<double>(stats.batch_transactions_max);
    state.counters["batches_per_s"] =
        benchmark::Counter(static_cast<double>(stats.batches), benchmark::Counter::kIsRate);
    state.SetBytesProcessed(static_cast<int64_t>(stats.bytes));
}

// Streaming: the core appends as fast as it can; the writer batches what it
// finds. Time per op is the throughput cost of one record on the log.
void run_log_stream(benchmark::State &state)
{
    micro_log *log = micro_log_start(state.range(0) != 0);
    if (log == nullptr) {
        state.SkipWithError("cannot start the log writer");
        return;
    }
    bool ok = true;
    for (auto _ : state) {
        ok = micro_log_append(log) && ok;
    }
    ok = micro_log_wait_durable(log) && ok; // the timer counts until the last is durable
    if (!ok) {
        state.SkipWithError("append or sync failed");
    }
    state.SetItemsProcessed(state.iterations());
    report_log(state, log);
    micro_log_stop(log);
}

// Group commit latency: append a batch of N records, wait until durable.
void run_log_group_commit(benchmark::State &state)
{
    micro_log *log = micro_log_start(state.range(0) != 0);
    if (log == nullptr) {
        state.SkipWithError("cannot start the log writer");
        return;
    }
    const int64_t batch_records = state.range(1);
    bool ok = true;
    for (auto _ : state) {
        for (int64_t index = 0; index < batch_records; index++) {
            ok = micro_log_append(log) && ok;
        }
        ok = micro_log_wait_durable(log) && ok;
    }
    if (!ok) {
        state.SkipWithError("append or sync failed");
    }
    state.SetItemsProcessed(state.iterations() * batch_records);
    report_log(state, log);
    micro_log_stop(log);
}

} // namespace

BENCHMARK(run_entry_encode)->Name("txnlog/entry_encode/setData")->Arg(100)->Arg(1024);
BENCHMARK(run_adler32)->Name("txnlog/adler32/setData")->Arg(100)->Arg(1024);
BENCHMARK(run_log_stream)
    ->Name("log_writer/stream")
    ->ArgName("forceSync")
    ->Arg(1)
    ->Arg(0)
    ->UseRealTime();
BENCHMARK(run_log_group_commit)
    ->Name("log_writer/group_commit")
    ->ArgNames({"forceSync", "batch"})
    ->Args({1, 1})
    ->Args({1, 16})
    ->Args({1, 256})
    ->Args({0, 1})
    ->Args({0, 16})
    ->Args({0, 256})
    ->UseRealTime();
