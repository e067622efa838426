#pragma once
// Placement: which files each edge of a cluster holds, and on which storage tier. Pure and
// deterministic (the control plane and `vcdn sim` share it). Open Connect's rules:
//   - the most popular files first, as many as the cluster's storage allows;
//   - copies per file grow with its popularity (at least 1, at most the cluster size), so no
//     edge carries too much of one hot title;
//   - copies go to edges by weighted rendezvous hashing (weight = capacity), so adding or
//     removing one edge of N moves about 1/N of the bytes and a popularity change moves only
//     files whose rank crossed the capacity line;
//   - on an edge, the hottest copies go to flash, the rest to disk.
#include <cstdint>
#include <string>
#include <vector>

namespace vcdn::place {

enum class StorageTier : uint8_t { kFlash, kDisk };

struct FileDemand {
    std::string path;
    uint64_t size = 0;
    double popularity = 0; // expected views (bytes served ÷ size), any scale
    // A packaged title (whose manifests name its files by relative URLs) as one unit of
    // demand: its files share the rendezvous key, so their copies land on the same edges, and
    // each takes the group's popularity (its most popular file's: a play fetches the manifests
    // whole) for its rank and its copies, the group counting once in the total. 0: on its own.
    uint64_t group = 0;
};

struct EdgeStorage {
    std::string id;
    uint64_t disk_bytes = 0;
    uint64_t flash_bytes = 0;
    double weight = 1; // share of new copies (e.g. capacity in Gbit/s); > 0
};

struct PlacementOptions {
    // A file carrying more than 1/(cluster size × copies_factor) of the cluster's views gets
    // more copies: copies = clamp(ceil(share × N × copies_factor), 1, N).
    double copies_factor = 4;
    uint32_t max_copies = 0; // 0 = the cluster size
    // Every placed file gets at least this many copies (at most the edges with room), whatever
    // its popularity: one edge down or drained then leaves the file on another.
    uint32_t min_copies = 1;
    double headroom = 0.0; // fraction of each edge's storage left free
};

struct PlacedCopy {
    uint32_t file = 0; // index into the input files
    StorageTier tier = StorageTier::kDisk;
};

struct ClusterPlan {
    std::vector<std::vector<PlacedCopy>> per_edge; // by input edge index, hottest first
    std::vector<uint32_t> copies;                  // by input file index (0 = not placed)
    uint64_t bytes_placed = 0;                     // counting every copy
    size_t files_placed = 0;
};

// Copies a file of this popularity share gets in a cluster of n edges (at least min_copies).
uint32_t copies_for(double share, size_t n, const PlacementOptions& opt);

ClusterPlan place_cluster(const std::vector<FileDemand>& files,
                          const std::vector<EdgeStorage>& edges, const PlacementOptions& opt = {});
// The same over the first `n` files of a longer list whose popularities add up to
// `total_popularity` (shares, and so copies, are relative to the whole list). The simulator
// passes each site only the head of its region's list that can fit.
ClusterPlan place_cluster(const FileDemand* files, size_t n, double total_popularity,
                          const std::vector<EdgeStorage>& edges, const PlacementOptions& opt = {});

// Bytes that edge `e` holds in `after` but not in `before` (what it must fetch), summed over
// the edges present in both (matched by id).
uint64_t bytes_to_fill(const ClusterPlan& before, const std::vector<EdgeStorage>& edges_before,
                       const ClusterPlan& after, const std::vector<EdgeStorage>& edges_after,
                       const std::vector<FileDemand>& files);

} // namespace vcdn::place
