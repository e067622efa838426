#pragma once
// The version rule every wire message follows (see heartbeat.h), and small helpers of the
// decoders. Private to the wire module.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <vcdn/wire/json.h>

namespace vcdn::wire {

struct SchemaView {
    bool ok = false;
    int64_t schema = 1;    // what the message says (absent: 1)
    int64_t effective = 1; // min(schema, known): the fields both sides have
    bool newer = false;    // the sender is ahead of this decoder: unknown fields are skipped
};

// Reads `schema` and checks it against the decoder's own version `known` (1..K+1: every
// older schema is a subset of this one's fields; one newer is read for its known fields).
// Errors go into `f` ("schema 5 is not supported ...").
inline SchemaView read_schema(Fields& f, int64_t known) {
    SchemaView v;
    f.opt("schema", &v.schema, 1, 1000000);
    if (!f.ok()) return v;
    if (v.schema > known + 1) {
        f.fail(fmt::format("schema {} is not supported (this side speaks {} and accepts {} to {})",
                           v.schema, known, 1, known + 1));
        return v;
    }
    v.ok = true;
    v.effective = std::min(v.schema, known);
    v.newer = v.schema > known;
    return v;
}

// Bytes from a peer in an error message: at most `max` of them, control bytes as '?'.
inline std::string printable(std::string_view s, size_t max) {
    std::string out;
    for (char c : s.substr(0, max))
        out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    if (s.size() > max) out += "...";
    return out;
}

} // namespace vcdn::wire
