// Offload of a cluster: the share of requests served inside it, for placement
// (place::place_cluster) against the ideal static placement (the truly most popular files,
// one copy each) and an LRU pull-through cache of the same size replaying the same requests.
//
//   bench_offload [--files N] [--alpha A] [--fraction F] [--edges E] [--requests R] [--seed S]
//
// Zipf(alpha) popularity over N files of 50-500 MB; a cluster of E equal edges holding F of
// the catalog's bytes. Day 1's requests give the popularity the placement uses (what the
// control plane would have measured); day 2's requests are replayed against the three. The
// LRU cache is warmed with day 1. Prints a markdown table.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <vcdn/place/lru.h>
#include <vcdn/place/placement.h>

namespace {

struct Args {
    size_t files = 10000;
    double alpha = 0.9;
    double fraction = 0.2;
    size_t edges = 6;
    size_t requests = 2000000;
    uint32_t seed = 1;
};

using Lru = vcdn::place::LruCache;

} // namespace

int main(int argc, char** argv) {
    Args a;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        const char* v = argv[i + 1];
        if (k == "--files")
            a.files = std::strtoull(v, nullptr, 10);
        else if (k == "--alpha")
            a.alpha = std::strtod(v, nullptr);
        else if (k == "--fraction")
            a.fraction = std::strtod(v, nullptr);
        else if (k == "--edges")
            a.edges = std::strtoull(v, nullptr, 10);
        else if (k == "--requests")
            a.requests = std::strtoull(v, nullptr, 10);
        else if (k == "--seed")
            a.seed = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
        else {
            std::fprintf(stderr, "bench_offload: unknown flag %s\n", k.c_str());
            return 2;
        }
    }
    if (a.files < 10 || a.edges < 1 || !(a.fraction > 0 && a.fraction <= 1) || a.requests < 1000) {
        std::fprintf(stderr, "bench_offload: need --files >= 10, --edges >= 1, 0 < --fraction <= "
                             "1, --requests >= 1000\n");
        return 2;
    }
    std::mt19937_64 rng(a.seed);
    std::uniform_int_distribution<uint64_t> size_dist(50'000'000, 500'000'000);
    std::vector<uint64_t> size(a.files);
    std::vector<double> weight(a.files);
    uint64_t catalog = 0;
    for (size_t i = 0; i < a.files; ++i) {
        size[i] = size_dist(rng);
        weight[i] = 1.0 / std::pow(double(i + 1), a.alpha);
        catalog += size[i];
    }
    // File ids are shuffled so that popularity rank and id are unrelated.
    std::vector<uint32_t> perm(a.files);
    for (uint32_t i = 0; i < a.files; ++i)
        perm[i] = i;
    std::shuffle(perm.begin(), perm.end(), rng);
    std::discrete_distribution<uint32_t> pick(weight.begin(), weight.end());
    auto day = [&]() {
        std::vector<uint32_t> reqs(a.requests);
        for (auto& r : reqs)
            r = perm[pick(rng)];
        return reqs;
    };
    const std::vector<uint32_t> day1 = day(), day2 = day();

    const uint64_t capacity = static_cast<uint64_t>(double(catalog) * a.fraction);
    std::vector<vcdn::place::EdgeStorage> edges;
    for (size_t e = 0; e < a.edges; ++e)
        edges.push_back({"e" + std::to_string(e), capacity / a.edges, 0, 1});

    // Placement from day 1's counts (bytes served ÷ size = views).
    std::vector<double> views(a.files, 0);
    for (uint32_t f : day1)
        views[f] += 1;
    std::vector<vcdn::place::FileDemand> demand(a.files);
    for (size_t f = 0; f < a.files; ++f)
        demand[f] = {"/t/" + std::to_string(f) + "/v.mp4", size[f], views[f]};
    const auto plan = vcdn::place::place_cluster(demand, edges);

    // Ideal static: the truly most popular files, one copy each, while they fit.
    std::vector<uint8_t> ideal(a.files, 0);
    {
        uint64_t used = 0;
        for (size_t rank = 0; rank < a.files; ++rank) {
            const uint32_t f = perm[rank];
            if (used + size[f] > capacity) continue;
            used += size[f];
            ideal[f] = 1;
        }
    }
    Lru lru(capacity);
    for (uint32_t f : day1)
        lru.access(f, size[f]);

    size_t hit_plan = 0, hit_ideal = 0, hit_lru = 0;
    for (uint32_t f : day2) {
        hit_plan += plan.copies[f] > 0;
        hit_ideal += ideal[f];
        hit_lru += lru.access(f, size[f]);
    }
    const double n = double(day2.size());
    std::printf("| placement | requests served in the cluster | ÷ ideal |\n|---|---|---|\n");
    std::printf("| ideal static (true top files, one copy) | %.2f%% | 1.000 |\n",
                100.0 * hit_ideal / n);
    std::printf("| vcdn placement (day-1 counts, %zu files, %.2f copies on average) | %.2f%% | %.3f |\n",
                plan.files_placed, double(plan.bytes_placed) > 0 ? [&] {
                    size_t c = 0;
                    for (uint32_t x : plan.copies) c += x;
                    return double(c) / double(std::max<size_t>(1, plan.files_placed));
                }() : 0.0,
                100.0 * hit_plan / n, double(hit_plan) / double(std::max<size_t>(1, hit_ideal)));
    std::printf("| LRU pull-through cache, same bytes | %.2f%% | %.3f |\n", 100.0 * hit_lru / n,
                double(hit_lru) / double(std::max<size_t>(1, hit_ideal)));
    std::printf(
        "\n%zu files, Zipf alpha %.2f, cluster of %zu edges holding %.0f%% of the catalog's "
        "bytes, %zu requests per day.\n",
        a.files, a.alpha, a.edges, 100 * a.fraction, a.requests);
    return 0;
}
