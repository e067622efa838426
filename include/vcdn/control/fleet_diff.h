#pragma once
// What a fleet change would do, before it is applied (`vcdn control --check-fleet FILE`):
// sites and edges added, removed and changed, and what placement would move — copies each
// edge would fetch and drop, the bytes to fill, and the files that only edges that go away
// hold now. Pure: the same placement code the control plane runs (plan_fleet).
//
// Threads: pure; any thread.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <vcdn/control/fleet.h>
#include <vcdn/control/store.h>

namespace vcdn::control {

struct FleetDiff {
    std::vector<std::string> lines; // one per change, for people ("edge a3 (isp-a): added")
    size_t sites_added = 0, sites_removed = 0, sites_changed = 0;
    size_t edges_added = 0, edges_removed = 0, edges_changed = 0;
    uint64_t copies_added = 0, copies_removed = 0; // (edge, file) pairs placement adds / drops
    uint64_t bytes_to_fill = 0;                    // of the copies added
    // Files that the edges leaving the fleet hold today and no remaining edge is placed to
    // hold (placement's answer; the make-before-break rule keeps them served meanwhile).
    uint64_t files_only_on_leaving = 0;
    bool empty() const { return lines.empty() && copies_added == 0 && copies_removed == 0; }
};

FleetDiff diff_fleets(const Fleet& before, const Fleet& after,
                      const std::vector<CatalogEntry>& files,
                      const std::map<std::string, std::map<std::string, double>>& demand);

} // namespace vcdn::control
