#pragma once
// What this build is: the release version, and the exact build (version plus commit), which
// edges report in their heartbeats so that the fleet's dashboard shows what runs where.
namespace vcdn {
inline constexpr const char* kVersion = "0.1.0";
// "0.1.0+gac30a8b" (the commit; "-dirty" with uncommitted changes; "+unknown" outside git).
const char* build_id();
} // namespace vcdn
