// The data tree: getData-like lookups, setData and create (prepare+apply)
// on a big flat tree (nodes spread over a few parents) and on one parent
// with every node as its child.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "bench/micro/shim.h"

namespace
{

// CHEETAH_MICRO_NODES overrides the size (the smoke run uses 10000).
constexpr size_t kDefaultNodes = 1000000;

size_t node_count()
{
    const char *text = std::getenv("CHEETAH_MICRO_NODES");
    if (text == nullptr || *text == '\0') {
        return kDefaultNodes;
    }
    char *end = nullptr;
    unsigned long long value = std::strtoull(text, &end, 10);
    if (*end != '\0' || value == 0) {
        std::fprintf(stderr, "cheetah-micro: bad CHEETAH_MICRO_NODES=%s, using %zu\n", text,
                     kDefaultNodes);
        return kDefaultNodes;
    }
    return static_cast<size_t>(value);
}

// Built once per process on first use (a million nodes take seconds) and
// kept to the end: every benchmark of a shape shares its tree. How long
// the build took (every node a create through prepare+apply) is reported.
micro_tree *tree_of(micro_tree_shape shape, double *build_seconds)
{
    static micro_tree *trees[2] = {nullptr, nullptr};
    static double seconds[2] = {0, 0};
    static bool tried[2] = {false, false};
    if (!tried[shape]) {
        tried[shape] = true;
        auto start = std::chrono::steady_clock::now();
        trees[shape] = micro_tree_build(shape, node_count());
        seconds[shape] =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    *build_seconds = seconds[shape];
    return trees[shape];
}

using tree_op = bool (*)(micro_tree *);

void run_tree(benchmark::State &state, micro_tree_shape shape, tree_op op)
{
    double build_seconds = 0;
    micro_tree *tree = tree_of(shape, &build_seconds);
    if (tree == nullptr) {
        state.SkipWithError("cannot build the tree");
        return;
    }
    bool ok = true;
    for (auto _ : state) {
        ok = op(tree) && ok;
    }
    if (!ok) {
        state.SkipWithError("an operation failed");
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["nodes"] = static_cast<double>(micro_tree_node_count(tree));
    state.counters["tree_build_s"] = build_seconds;
}

} // namespace

BENCHMARK_CAPTURE(run_tree, lookup_flat, MICRO_TREE_FLAT, micro_tree_lookup_next)
    ->Name("tree/lookup/flat_16_parents");
BENCHMARK_CAPTURE(run_tree, lookup_wide, MICRO_TREE_WIDE, micro_tree_lookup_next)
    ->Name("tree/lookup/one_parent");
BENCHMARK_CAPTURE(run_tree, set_data_flat, MICRO_TREE_FLAT, micro_tree_set_data_next)
    ->Name("tree/setData_100B/flat_16_parents");
BENCHMARK_CAPTURE(run_tree, set_data_wide, MICRO_TREE_WIDE, micro_tree_set_data_next)
    ->Name("tree/setData_100B/one_parent");
BENCHMARK_CAPTURE(run_tree, create_flat, MICRO_TREE_FLAT, micro_tree_create_next)
    ->Name("tree/create_100B/flat_16_parents");
BENCHMARK_CAPTURE(run_tree, create_wide, MICRO_TREE_WIDE, micro_tree_create_next)
    ->Name("tree/create_100B/one_parent");
