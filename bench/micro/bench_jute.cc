// jute: encode and decode of the records a server handles most. The jute
// headers are plain C that C++ accepts, so this file calls them directly.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <vector>

extern "C" {
#include "jute/jute.h"
#include "jute/records.h"
#include "jute/zk_constants.h"
}

namespace
{

constexpr size_t kWriterLimitBytes = 1u << 20;
constexpr size_t kArenaBytes = 64u * 1024u;
constexpr int32_t kDataBytes = 100;
constexpr int32_t kMultiOps = 10;
constexpr int64_t kNowMs = 1700000000000LL;

const std::array<uint8_t, kDataBytes> kData{};

jute_bytes text(const char *value)
{
    return jute_bytes_cstr(value);
}

jute_acl acl_of(int32_t perms, const char *scheme, const char *id)
{
    jute_acl acl;
    acl.perms = perms;
    acl.id.scheme = text(scheme);
    acl.id.id = text(id);
    return acl;
}

// The records, built once; each case encodes one and decodes its encoding.
struct records {
    std::array<jute_acl, 2> digest_acl_items{
        acl_of(ZK_PERM_ALL, "digest", "bench:U8UdKQkIqCIdcqmC3mpfn9vHnHA="),
        acl_of(ZK_PERM_READ, "world", "anyone")};
    std::array<jute_acl, 1> open_acl_items{acl_of(ZK_PERM_ALL, "world", "anyone")};
    std::array<jute_multi_op, kMultiOps> multi_ops{};
    jute_get_data_request get_data{};
    jute_set_data_request set_data{};
    jute_create_request create{};
    jute_get_data_response get_data_response{};
    jute_multi_request multi{};

    records()
    {
        get_data.path = text("/app/config/k0001234");
        get_data.watch = true;
        set_data.path = text("/app/config/k0001234");
        set_data.data = jute_bytes_of(kData.data(), kDataBytes);
        set_data.version = -1;
        create.path = text("/app/config/k0001234");
        create.data = jute_bytes_of(kData.data(), kDataBytes);
        create.acl.count = static_cast<int32_t>(digest_acl_items.size());
        create.acl.items = digest_acl_items.data();
        create.flags = 0;
        get_data_response.data = jute_bytes_of(kData.data(), kDataBytes);
        get_data_response.stat = jute_stat{0x100000001, 0x100000042, kNowMs, kNowMs + 5, 7, 3, 0,
                                           0,           kDataBytes,  3,      0x100000040};
        fill_multi();
    }

    // Ten ops as a typical batch: creates, setDatas, a check, deletes.
    void fill_multi()
    {
        static const char *const paths[kMultiOps] = {"/app/jobs/j0000001",  "/app/jobs/j0000002",
                                                     "/app/jobs/j0000003",  "/app/state/s0000001",
                                                     "/app/state/s0000002", "/app/state/s0000003",
                                                     "/app/lock",           "/app/old/o0000001",
                                                     "/app/old/o0000002",   "/app/old/o0000003"};
        for (int32_t index = 0; index < kMultiOps; index++) {
            jute_multi_op &op = multi_ops[static_cast<size_t>(index)];
            jute_bytes path = text(paths[index]);
            if (index < 3) {
                op.type = ZK_OP_CREATE;
                op.u.create.path = path;
                op.u.create.data = jute_bytes_of(kData.data(), 32);
                op.u.create.acl.count = 1;
                op.u.create.acl.items = open_acl_items.data();
                op.u.create.flags = 0;
            } else if (index < 6) {
                op.type = ZK_OP_SET_DATA;
                op.u.set_data.path = path;
                op.u.set_data.data = jute_bytes_of(kData.data(), 32);
                op.u.set_data.version = index;
            } else if (index == 6) {
                op.type = ZK_OP_CHECK;
                op.u.check.path = path;
                op.u.check.version = 4;
            } else {
                op.type = ZK_OP_DELETE;
                op.u.delete_.path = path;
                op.u.delete_.version = -1;
            }
        }
        multi.count = kMultiOps;
        multi.ops = multi_ops.data();
    }
};

const records &the_records()
{
    static const records built;
    return built;
}

struct get_data_request_codec {
    static void encode(jute_writer *writer)
    {
        jute_get_data_request_encode(writer, &the_records().get_data);
    }
    static bool decode(jute_reader *reader, jute_arena *arena)
    {
        jute_get_data_request out;
        return jute_get_data_request_decode(reader, arena, &out) && out.watch;
    }
};
struct set_data_request_codec {
    static void encode(jute_writer *writer)
    {
        jute_set_data_request_encode(writer, &the_records().set_data);
    }
    static bool decode(jute_reader *reader, jute_arena *arena)
    {
        jute_set_data_request out;
        return jute_set_data_request_decode(reader, arena, &out) && out.data.len == kDataBytes;
    }
};
struct create_request_codec {
    static void encode(jute_writer *writer)
    {
        jute_create_request_encode(writer, &the_records().create);
    }
    static bool decode(jute_reader *reader, jute_arena *arena)
    {
        jute_create_request out;
        return jute_create_request_decode(reader, arena, &out) && out.acl.count == 2;
    }
};
struct get_data_response_codec {
    static void encode(jute_writer *writer)
    {
        jute_get_data_response_encode(writer, &the_records().get_data_response);
    }
    static bool decode(jute_reader *reader, jute_arena *arena)
    {
        jute_get_data_response out;
        return jute_get_data_response_decode(reader, arena, &out) && out.stat.version == 7;
    }
};
struct multi_request_codec {
    static void encode(jute_writer *writer)
    {
        jute_multi_request_encode(writer, &the_records().multi);
    }
    static bool decode(jute_reader *reader, jute_arena *arena)
    {
        jute_multi_request out;
        return jute_multi_request_decode(reader, arena, &out) && out.count == kMultiOps;
    }
};

template <typename Codec> void run_encode(benchmark::State &state)
{
    jute_writer writer;
    jute_writer_init(&writer, kWriterLimitBytes);
    for (auto _ : state) {
        jute_writer_reset(&writer);
        Codec::encode(&writer);
        benchmark::DoNotOptimize(writer.data);
        benchmark::ClobberMemory();
    }
    if (!writer.ok || writer.size == 0) {
        state.SkipWithError("encode failed");
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(writer.size));
    state.counters["record_bytes"] = static_cast<double>(writer.size);
    jute_writer_free(&writer);
}

template <typename Codec> void run_decode(benchmark::State &state)
{
    jute_writer encoded;
    jute_writer_init(&encoded, kWriterLimitBytes);
    Codec::encode(&encoded);
    std::vector<uint8_t> arena_bytes(kArenaBytes);
    bool ok = encoded.ok;
    for (auto _ : state) {
        jute_reader reader;
        jute_reader_init(&reader, encoded.data, encoded.size);
        jute_arena arena;
        jute_arena_init(&arena, arena_bytes.data(), arena_bytes.size());
        bool decoded = Codec::decode(&reader, &arena);
        benchmark::DoNotOptimize(decoded);
        ok = decoded && reader.ok && jute_reader_remaining(&reader) == 0 && ok;
    }
    if (!ok) {
        state.SkipWithError("decode failed");
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(encoded.size));
    state.counters["record_bytes"] = static_cast<double>(encoded.size);
    jute_writer_free(&encoded);
}

} // namespace

BENCHMARK_TEMPLATE(run_encode, get_data_request_codec)->Name("jute/encode/GetDataRequest");
BENCHMARK_TEMPLATE(run_encode, set_data_request_codec)->Name("jute/encode/SetDataRequest_100B");
BENCHMARK_TEMPLATE(run_encode, create_request_codec)->Name("jute/encode/CreateRequest_ACL");
BENCHMARK_TEMPLATE(run_encode, get_data_response_codec)->Name("jute/encode/GetDataResponse_Stat");
BENCHMARK_TEMPLATE(run_encode, multi_request_codec)->Name("jute/encode/Multi_10_ops");
BENCHMARK_TEMPLATE(run_decode, get_data_request_codec)->Name("jute/decode/GetDataRequest");
BENCHMARK_TEMPLATE(run_decode, set_data_request_codec)->Name("jute/decode/SetDataRequest_100B");
BENCHMARK_TEMPLATE(run_decode, create_request_codec)->Name("jute/decode/CreateRequest_ACL");
BENCHMARK_TEMPLATE(run_decode, get_data_response_codec)->Name("jute/decode/GetDataResponse_Stat");
BENCHMARK_TEMPLATE(run_decode, multi_request_codec)->Name("jute/decode/Multi_10_ops");
