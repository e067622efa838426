#pragma once
// QoE reports: what players saw (startup time, stalls, bitrate) per edge, posted to the
// control plane (POST /api/v1/qoe). Sent by `vcdn play`; anyone may send one, so the decoder
// bounds everything before it is counted.
//
// Versions follow heartbeat.h's rule (`schema`, absent = 1). Schema history: 1: the fields below.
//
// Pure; any thread.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <vcdn/base/result.h>

namespace vcdn::wire {

inline constexpr int64_t kQoeSchema = 1;
inline constexpr size_t kMaxQoeBytes = 1u << 20;
inline constexpr size_t kMaxQoeSamples = 10000;

struct QoeSample {
    std::string edge; // the edge that served the session
    std::string file;
    uint64_t startup_ms = 0;
    uint64_t stalls = 0;
    uint64_t bitrate_kbps = 0;
    bool operator==(const QoeSample&) const = default;
};

struct QoeReport {
    int64_t schema = kQoeSchema;
    std::vector<QoeSample> samples;
    bool operator==(const QoeReport&) const = default;
};

std::string encode(const QoeReport& r);
Result<QoeReport> decode_qoe(std::string_view text, int64_t known = kQoeSchema);

} // namespace vcdn::wire
