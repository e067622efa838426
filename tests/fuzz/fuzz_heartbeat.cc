// libFuzzer target: a heartbeat as the control plane receives it from an edge it cannot trust
// (wire/heartbeat.h). The decoder answers with an error or a heartbeat within its bounds, and
// a decoded heartbeat encodes and decodes to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <vcdn/wire/heartbeat.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace vcdn::wire;
    auto h = decode_heartbeat(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!h) return 0;
    if (h->report.disks.size() > kMaxDisks || h->report.reason.size() > kMaxReasonBytes) abort();
    for (const auto* list : {&h->inventory.added, &h->inventory.removed})
        for (const auto& p : *list)
            if (p.empty() || p[0] != '/') abort();
    if (h->bgp && h->bgp->diff.size() > kMaxBgpChanges) abort();
    if (h->served.size() > kMaxServed) abort();
    for (const Served& s : h->served)
        if (s.path.empty() || s.path[0] != '/' || s.bytes > kMaxServedBytes) abort();
    // A newer schema's unknown fields are dropped on the way: compare what this side knows.
    Heartbeat known = *h;
    known.schema = kHeartbeatSchema;
    auto again = decode_heartbeat(encode(known));
    if (!again) abort();
    again->schema = h->schema;
    if (!(*again == *h)) abort();
    return 0;
}
