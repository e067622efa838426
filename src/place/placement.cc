#include <vcdn/place/placement.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>
#include <unordered_map>

#include <vcdn/steer/steering.h>

namespace vcdn::place {

uint32_t copies_for(double share, size_t n, const PlacementOptions& opt) {
    if (n == 0) return 0;
    const uint32_t cap =
        opt.max_copies ? std::min<uint32_t>(opt.max_copies, n) : static_cast<uint32_t>(n);
    const double floor = std::min<double>(std::max<uint32_t>(1, opt.min_copies), cap);
    const double want = std::ceil(share * static_cast<double>(n) * opt.copies_factor);
    if (!(want >= floor)) return static_cast<uint32_t>(floor);
    return static_cast<uint32_t>(std::min<double>(want, cap));
}

namespace {

// Weighted rendezvous score (the "logarithmic method"): an edge of weight w wins a file with
// probability w / Σw, and removing an edge only moves the files it won.
double weighted_score(uint64_t file_hash, uint64_t edge_hash, double weight) {
    const uint64_t h = steer::rendezvous_score(file_hash, edge_hash);
    // A uniform value in (0, 1): never 0 (log) nor 1 (division by zero).
    const double u = (static_cast<double>(h >> 11) + 0.5) / 9007199254740992.0;
    return -weight / std::log(u);
}

} // namespace

ClusterPlan place_cluster(const std::vector<FileDemand>& files,
                          const std::vector<EdgeStorage>& edges, const PlacementOptions& opt) {
    // A group (a packaged title) counts once, as its most popular file: see group_popularity.
    double total_pop = 0;
    std::unordered_map<uint64_t, double> groups;
    for (const FileDemand& f : files) {
        if (f.group == 0) {
            total_pop += std::max(0.0, f.popularity);
        } else {
            double& g = groups[f.group];
            g = std::max(g, std::max(0.0, f.popularity));
        }
    }
    for (const auto& [g, pop] : groups)
        total_pop += pop;
    return place_cluster(files.data(), files.size(), total_pop, edges, opt);
}

ClusterPlan place_cluster(const FileDemand* files, size_t n, double total_pop,
                          const std::vector<EdgeStorage>& edges, const PlacementOptions& opt) {
    ClusterPlan plan;
    plan.per_edge.resize(edges.size());
    plan.copies.assign(n, 0);
    if (edges.empty() || n == 0) return plan;

    // The files of a group (a packaged title) are wanted together: every play of the title
    // needs its manifests and the renditions it switches between, so each takes the group's
    // popularity (its most popular file's: the manifests, fetched once per play) for its rank
    // and its copies, and the group counts once in the total (place_cluster above).
    std::vector<double> pop(n);
    {
        std::unordered_map<uint64_t, double> group_pop;
        for (size_t i = 0; i < n; ++i)
            if (files[i].group) {
                double& g = group_pop[files[i].group];
                g = std::max(g, files[i].popularity);
            }
        for (size_t i = 0; i < n; ++i)
            pop[i] = files[i].group ? group_pop[files[i].group] : files[i].popularity;
    }
    // Most popular first; ties by path so that the order is total and stable.
    std::vector<uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0u);
    auto hotter = [&](uint32_t a, uint32_t b) {
        if (pop[a] != pop[b]) return pop[a] > pop[b];
        return files[a].path < files[b].path;
    };
    // A caller that gives the files in this order already (the simulator) skips the sort.
    if (!std::is_sorted(order.begin(), order.end(), hotter))
        std::sort(order.begin(), order.end(), hotter);

    struct Room {
        uint64_t flash = 0, disk = 0;
    };
    std::vector<Room> room(edges.size());
    std::vector<uint64_t> edge_hash(edges.size());
    for (size_t e = 0; e < edges.size(); ++e) {
        const double keep = std::clamp(1.0 - opt.headroom, 0.0, 1.0);
        room[e].flash = static_cast<uint64_t>(static_cast<double>(edges[e].flash_bytes) * keep);
        room[e].disk = static_cast<uint64_t>(static_cast<double>(edges[e].disk_bytes) * keep);
        edge_hash[e] = steer::hash64(edges[e].id);
    }

    // With equal weights the score -w/log(u) orders edges as u does: compare the integer
    // behind u and skip a log per edge and file (the same order, ties included).
    bool equal_weights = true;
    for (const EdgeStorage& e : edges)
        equal_weights = equal_weights && e.weight == edges[0].weight;
    // Once no edge has room for the smallest file, nothing more can be placed.
    uint64_t smallest = UINT64_MAX;
    for (size_t i = 0; i < n; ++i)
        smallest = std::min(smallest, files[i].size);
    auto has_room = [&](size_t e) { return room[e].flash >= smallest || room[e].disk >= smallest; };
    size_t open = 0;
    for (size_t e = 0; e < edges.size(); ++e)
        open += has_room(e);
    auto by_score = [](const auto& a, const auto& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    std::vector<std::pair<double, uint32_t>> ranked(edges.size());
    for (uint32_t fi : order) {
        if (open == 0) break;
        const FileDemand& f = files[fi];
        const double share = total_pop > 0 ? std::max(0.0, pop[fi]) / total_pop : 0;
        const uint32_t want = copies_for(share, edges.size(), opt);
        const uint64_t fh = f.group ? f.group : steer::hash64(f.path);
        for (size_t e = 0; e < edges.size(); ++e)
            ranked[e] = {equal_weights
                             ? static_cast<double>(steer::rendezvous_score(fh, edge_hash[e]) >> 11)
                             : weighted_score(fh, edge_hash[e], std::max(edges[e].weight, 1e-9)),
                         static_cast<uint32_t>(e)};
        // Usually the first few edges take the copies: order only those, and the rest when
        // they were full (the same order as a full sort).
        size_t sorted = std::min(ranked.size(), size_t{want} + 2);
        std::partial_sort(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(sorted),
                          ranked.end(), by_score);
        // The file's copies go to the first edges of its order that have room: a full edge
        // passes its turn to the next, so only files near the capacity line move when the
        // popularity ranking shifts.
        uint32_t placed = 0;
        for (size_t i = 0; i < ranked.size(); ++i) {
            if (placed == want) break;
            if (i == sorted) {
                std::sort(ranked.begin() + static_cast<ptrdiff_t>(i), ranked.end(), by_score);
                sorted = ranked.size();
            }
            const uint32_t e = ranked[i].second;
            Room& r = room[e];
            StorageTier tier;
            if (r.flash >= f.size) {
                r.flash -= f.size;
                tier = StorageTier::kFlash;
            } else if (r.disk >= f.size) {
                r.disk -= f.size;
                tier = StorageTier::kDisk;
            } else {
                continue;
            }
            plan.per_edge[e].push_back(PlacedCopy{fi, tier});
            plan.bytes_placed += f.size;
            ++placed;
            if (!has_room(e)) --open;
        }
        plan.copies[fi] = placed;
        plan.files_placed += placed > 0;
    }
    return plan;
}

uint64_t bytes_to_fill(const ClusterPlan& before, const std::vector<EdgeStorage>& edges_before,
                       const ClusterPlan& after, const std::vector<EdgeStorage>& edges_after,
                       const std::vector<FileDemand>& files) {
    std::map<std::string, std::set<uint32_t>> had;
    for (size_t e = 0; e < edges_before.size(); ++e)
        for (const PlacedCopy& c : before.per_edge[e])
            had[edges_before[e].id].insert(c.file);
    uint64_t bytes = 0;
    for (size_t e = 0; e < edges_after.size(); ++e) {
        auto it = had.find(edges_after[e].id);
        if (it == had.end()) continue; // a new edge: all of its fill is expected
        for (const PlacedCopy& c : after.per_edge[e])
            if (!it->second.count(c.file)) bytes += files[c.file].size;
    }
    return bytes;
}

} // namespace vcdn::place
