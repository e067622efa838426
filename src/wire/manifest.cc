#include <vcdn/wire/manifest.h>

#include <fmt/format.h>

#include <vcdn/http/url.h>
#include <vcdn/wire/json.h>

#include "schema.h"

namespace vcdn::wire {

using nlohmann::json;

const char* source_kind_name(SourceKind k) {
    switch (k) {
    case SourceKind::kPeer:
        return "peer";
    case SourceKind::kTier:
        return "tier";
    case SourceKind::kOrigin:
        return "origin";
    }
    return "?";
}

uint64_t Manifest::bytes() const {
    uint64_t b = 0;
    for (const WantedFile& f : files)
        b += f.size;
    return b;
}

bool safe_path(std::string_view p) {
    if (p.size() < 2 || p.size() > 1024 || p[0] != '/') return false;
    size_t i = 1;
    while (i <= p.size()) {
        size_t j = p.find('/', i);
        if (j == std::string_view::npos) j = p.size();
        std::string_view seg = p.substr(i, j - i);
        if (seg.empty() || seg[0] == '.') return false;
        for (char c : seg)
            if (c == '\0' || c == '\\') return false;
        i = j + 1;
    }
    return p.back() != '/';
}

bool base_url(std::string_view u) {
    auto p = http::parse_url(u);
    return p && p->path.empty() && p->query.empty() && u.size() <= 200;
}

namespace {

// What a signed query is made of ("e=1&k=k1&s=base64url"), and nothing that could end a
// request line or a header.
bool query_chars(const std::string& q) {
    for (char c : q)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '~' || c == '%' || c == '=' || c == '&'))
            return false;
    return true;
}

bool hex64(const std::string& s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

} // namespace

std::string encode(const Manifest& m) {
    json list = json::array();
    for (const WantedFile& f : m.files) {
        json sources = json::array();
        for (const Source& s : f.sources) {
            json sj = {{"kind", source_kind_name(s.kind)}, {"url", s.url}};
            if (!s.edge.empty()) sj["edge"] = s.edge;
            if (m.schema >= 2 && !s.query.empty()) sj["query"] = s.query;
            sources.push_back(std::move(sj));
        }
        list.push_back({{"path", f.path},
                        {"size", f.size},
                        {"sha256", f.sha256},
                        {"tier", f.flash ? "flash" : "disk"},
                        {"sources", std::move(sources)}});
    }
    json j = {{"schema", m.schema},
              {"edge", m.edge},
              {"site", m.site},
              {"version", m.version},
              {"generation", m.generation},
              {"files_total", m.files.size()},
              {"bytes_total", m.bytes()},
              {"escalation", {{"peer_wait_ms", m.peer_wait_ms}, {"tier_wait_ms", m.tier_wait_ms}}},
              {"files", std::move(list)}};
    if (m.schema >= 2) j["signed_until"] = m.signed_until;
    return dump(j);
}

Result<Manifest> decode_manifest(std::string_view text, int64_t known) {
    auto j = parse_json(text, JsonLimits{kMaxManifestBytes, 6});
    if (!j) return Error{"manifest: " + j.error().message};
    Manifest m;
    Fields f(*j, "");
    const SchemaView sv = read_schema(f, known);
    if (!sv.ok) return Error{"manifest: " + f.error()};
    m.schema = sv.schema;
    uint64_t files_total = 0, bytes_total = 0;
    bool has_totals = false;
    f.req("edge", &m.edge, 64)
        .opt("site", &m.site, 64)
        .req("version", &m.version)
        .opt("generation", &m.generation, -1)
        .opt_object("escalation", [&](Fields& e) {
            e.opt("peer_wait_ms", &m.peer_wait_ms)
                .opt("tier_wait_ms", &m.tier_wait_ms)
                .done(sv.newer);
        });
    if (sv.effective >= 2)
        f.opt("signed_until", &m.signed_until);
    else
        f.skip("origin_token"); // schema 1's fleet-wide token: no longer used
    if (f.has("files_total")) {
        has_totals = true;
        f.req("files_total", &files_total).req("bytes_total", &bytes_total);
    }
    f.req_objects("files", kMaxManifestFiles, [&](Fields& e, size_t) {
        WantedFile w;
        std::string tier = "disk";
        e.req("path", &w.path, 1024)
            .req("size", &w.size)
            .req("sha256", &w.sha256, 64)
            .opt("tier", &tier, 16)
            .req_objects(
                "sources", kMaxSourcesPerFile,
                [&](Fields& s, size_t) {
                    Source src;
                    std::string kind;
                    s.req("kind", &kind, 16).req("url", &src.url, 256).opt("edge", &src.edge, 64);
                    if (sv.effective >= 2) s.opt("query", &src.query, 512);
                    s.done(sv.newer);
                    if (!s.ok()) return;
                    if (kind == "peer")
                        src.kind = SourceKind::kPeer;
                    else if (kind == "tier")
                        src.kind = SourceKind::kTier;
                    else if (kind == "origin")
                        src.kind = SourceKind::kOrigin;
                    else
                        s.fail_field("kind",
                                     fmt::format("unknown source kind '{}'", printable(kind, 16)));
                    if (s.ok() && !base_url(src.url))
                        s.fail_field(
                            "url", fmt::format("'{}' is not a base URL", printable(src.url, 100)));
                    if (s.ok() && !query_chars(src.query))
                        s.fail_field("query", "only letters, digits and -_.~%=& in a query");
                    w.sources.push_back(std::move(src));
                })
            .done(sv.newer);
        if (!e.ok()) return;
        if (!safe_path(w.path))
            e.fail_field("path", fmt::format("unsafe path '{}'", printable(w.path, 200)));
        else if (!hex64(w.sha256))
            e.fail_field("sha256", "not 64 lowercase hex digits");
        else if (tier != "disk" && tier != "flash")
            e.fail_field("tier", "expected \"disk\" or \"flash\"");
        w.flash = tier == "flash";
        m.files.push_back(std::move(w));
    });
    f.done(sv.newer);
    if (f.ok() && has_totals && (files_total != m.files.size() || bytes_total != m.bytes()))
        f.fail("files_total and bytes_total do not match the files listed");
    if (!f.ok()) return Error{"manifest: " + f.error()};
    return m;
}

} // namespace vcdn::wire
