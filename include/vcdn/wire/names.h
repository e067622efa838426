#pragma once
// Names in the fleet: edge ids, site names and popularity groups are 1-64 of [A-Za-z0-9_.-],
// not starting with '.' (such a path segment is never served: an edge with that id could not
// reach /api/v1/edges/<id>/heartbeat). Both ends check them: the control plane in the fleet,
// the edge in its own config. Pure; any thread.
#include <string_view>

namespace vcdn::wire {

bool valid_name(std::string_view s);

} // namespace vcdn::wire
