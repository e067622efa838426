// libFuzzer target: the heartbeat reply as an edge receives it from whatever answers at the
// control plane's address (wire/heartbeat.h): an error, or a reply within its bounds that
// round-trips.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <vcdn/wire/heartbeat.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace vcdn::wire;
    auto r = decode_heartbeat_reply(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!r) return 0;
    if (r->keys.size() > kMaxKeys || r->heartbeat_interval_ms < 100) abort();
    HeartbeatReply known = *r;
    known.schema = kHeartbeatSchema;
    auto again = decode_heartbeat_reply(encode(known));
    if (!again) abort();
    again->schema = r->schema;
    if (!(*again == *r)) abort();
    return 0;
}
