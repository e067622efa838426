#include <vcdn/wire/qoe.h>

#include <vcdn/wire/json.h>

#include "schema.h"

namespace vcdn::wire {

using nlohmann::json;

std::string encode(const QoeReport& r) {
    json samples = json::array();
    for (const QoeSample& s : r.samples)
        samples.push_back({{"edge", s.edge},
                           {"file", s.file},
                           {"startup_ms", s.startup_ms},
                           {"stalls", s.stalls},
                           {"bitrate_kbps", s.bitrate_kbps}});
    return dump({{"schema", r.schema}, {"samples", std::move(samples)}});
}

Result<QoeReport> decode_qoe(std::string_view text, int64_t known) {
    auto j = parse_json(text, JsonLimits{kMaxQoeBytes, 4});
    if (!j) return Error{"qoe: " + j.error().message};
    QoeReport r;
    Fields f(*j, "");
    const SchemaView sv = read_schema(f, known);
    if (!sv.ok) return Error{"qoe: " + f.error()};
    r.schema = sv.schema;
    f.req_objects("samples", kMaxQoeSamples, [&](Fields& s, size_t) {
        QoeSample q;
        s.req("edge", &q.edge, 64)
            .opt("file", &q.file, 1024)
            .opt("startup_ms", &q.startup_ms, 86400000)
            .opt("stalls", &q.stalls, 1000000)
            .opt("bitrate_kbps", &q.bitrate_kbps, 10000000)
            .done(sv.newer);
        r.samples.push_back(std::move(q));
    });
    f.done(sv.newer);
    if (!f.ok()) return Error{"qoe: " + f.error()};
    return r;
}

} // namespace vcdn::wire
