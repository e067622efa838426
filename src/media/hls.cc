#include <vcdn/media/hls.h>

#include <fmt/format.h>
#include <optional>
#include <set>
#include <unordered_set>

#include <vcdn/base/strings.h>
#include <vcdn/media/uri.h>

namespace vcdn::media {

namespace {

// The playlist's lines, trimmed of '\r' and surrounding blanks, empty ones skipped.
template <class F> void for_each_line(std::string_view text, F&& f) {
    size_t at = 0;
    while (at < text.size()) {
        size_t end = text.find('\n', at);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(at, end - at);
        at = end + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        line = trim_ows(line);
        if (!line.empty()) f(line);
    }
}

std::string_view unquote(std::string_view v) {
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') return v.substr(1, v.size() - 2);
    return v;
}

bool starts_with(std::string_view s, std::string_view p) {
    return s.substr(0, p.size()) == p;
}

// The attribute list without the named attributes (written back as name=value,...).
std::string without(const std::vector<HlsAttr>& attrs,
                    std::initializer_list<std::string_view> drop) {
    std::string out;
    for (const HlsAttr& a : attrs) {
        bool skip = false;
        for (std::string_view d : drop)
            skip = skip || a.name == d;
        if (skip) continue;
        if (!out.empty()) out.push_back(',');
        out.append(a.name).append("=").append(a.value);
    }
    return out;
}

bool has(const std::vector<HlsAttr>& attrs, std::string_view name) {
    for (const HlsAttr& a : attrs)
        if (a.name == name) return true;
    return false;
}

std::string_view value_of(const std::vector<HlsAttr>& attrs, std::string_view name) {
    for (const HlsAttr& a : attrs)
        if (a.name == name) return unquote(a.value);
    return {};
}

} // namespace

bool parse_hls_attrs(std::string_view list, std::vector<HlsAttr>* out) {
    out->clear();
    size_t at = 0;
    while (at < list.size()) {
        const size_t eq = list.find('=', at);
        if (eq == std::string_view::npos || eq == at) return false;
        const std::string_view name = trim_ows(list.substr(at, eq - at));
        if (name.empty()) return false;
        for (char c : name) // AttributeName: [A-Z0-9-] (RFC 8216bis 4.2)
            if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) return false;
        size_t end;
        if (eq + 1 < list.size() && list[eq + 1] == '"') {
            const size_t close = list.find('"', eq + 2);
            if (close == std::string_view::npos) return false;
            end = close + 1;
            if (end < list.size() && list[end] != ',') return false;
        } else {
            end = list.find(',', eq);
            if (end == std::string_view::npos) end = list.size();
        }
        if (out->size() == kMaxHlsAttrs) return false;
        const std::string_view value = trim_ows(list.substr(eq + 1, end - eq - 1));
        for (char c : value) // no control byte: a re-written playlist keeps its lines
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
        out->push_back({name, value});
        at = end + 1;
    }
    return true;
}

std::string_view hls_attr(std::string_view list, std::string_view name) {
    std::vector<HlsAttr> attrs;
    if (!parse_hls_attrs(list, &attrs)) return {};
    return value_of(attrs, name);
}

bool hls_is_multivariant(std::string_view text) {
    bool found = false;
    for_each_line(text, [&](std::string_view line) {
        found = found || starts_with(line, "#EXT-X-STREAM-INF:");
    });
    return found;
}

std::vector<std::string> hls_media_files(std::string_view playlist_dir, std::string_view text) {
    std::vector<std::string> out;
    std::unordered_set<std::string> seen;
    auto add = [&](std::string_view uri) {
        std::string p = resolve_uri(playlist_dir, uri);
        if (!p.empty() && p.back() != '/' && seen.insert(p).second) out.push_back(std::move(p));
    };
    for_each_line(text, [&](std::string_view line) {
        if (line.front() != '#') {
            add(line);
            return;
        }
        for (std::string_view tag : {"#EXT-X-MAP:", "#EXT-X-PART:", "#EXT-X-PRELOAD-HINT:"})
            if (starts_with(line, tag)) add(hls_attr(line.substr(tag.size()), "URI"));
    });
    return out;
}

Result<HlsMaster> parse_hls_master(std::string_view text, std::string_view playlist_path) {
    const std::string_view dir = dir_of(playlist_path);
    HlsMaster m;
    std::optional<Error> error;
    bool first = true;
    bool pending = false; // an EXT-X-STREAM-INF waiting for its URI line
    std::vector<HlsAttr> attrs;
    std::set<std::string> groups; // GROUP-ID values defined by EXT-X-MEDIA
    size_t entries = 0;
    auto fail = [&](std::string msg) {
        if (!error) error = Error{std::move(msg)};
    };
    for_each_line(text, [&](std::string_view line) {
        if (error) return;
        for (char c : line) // kept lines are written back: no '\r' a player would split on
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
                return fail("a control byte inside a line");
        if (first) {
            first = false;
            if (line != "#EXTM3U") return fail("not an HLS playlist (no #EXTM3U first)");
            return;
        }
        if (++entries > 4 * kMaxHlsEntries) return fail("too many lines");
        if (pending) {
            if (line.front() == '#') {
                if (starts_with(line, "#EXT")) return fail("EXT-X-STREAM-INF without its URI");
                return; // a comment between the tag and its URI
            }
            pending = false;
            std::string uri = resolve_uri(dir, line);
            if (uri.empty() || uri.back() == '/')
                return fail(fmt::format("variant URI '{}' is not a file of the catalog",
                                        line.substr(0, 200)));
            m.variants.back().uri = std::move(uri);
            return;
        }
        if (line.front() != '#') return fail("a URI line without EXT-X-STREAM-INF");
        if (starts_with(line, "#EXT-X-CONTENT-STEERING:"))
            return fail("the playlist already has Content Steering (EXT-X-CONTENT-STEERING)");
        const bool stream = starts_with(line, "#EXT-X-STREAM-INF:");
        const bool iframe = starts_with(line, "#EXT-X-I-FRAME-STREAM-INF:");
        const bool media = starts_with(line, "#EXT-X-MEDIA:");
        if (!stream && !iframe && !media) {
            if (starts_with(line, "#EXT")) m.header.emplace_back(line);
            return; // a comment
        }
        const std::string_view list = line.substr(line.find(':') + 1);
        if (!parse_hls_attrs(list, &attrs))
            return fail(fmt::format("bad attribute list: {}", line.substr(0, 200)));
        if (has(attrs, "PATHWAY-ID")) return fail("the playlist already has Pathways (PATHWAY-ID)");
        if (m.variants.size() + m.renditions.size() >= kMaxHlsEntries)
            return fail(fmt::format("more than {} variants and renditions", kMaxHlsEntries));
        if (media) {
            HlsRendition r;
            r.group_id = std::string(value_of(attrs, "GROUP-ID"));
            if (r.group_id.empty()) return fail("EXT-X-MEDIA without GROUP-ID");
            if (r.group_id.find('"') != std::string::npos) return fail("bad GROUP-ID");
            if (has(attrs, "URI")) {
                const std::string_view raw = value_of(attrs, "URI");
                r.uri = resolve_uri(dir, raw);
                if (r.uri.empty() || r.uri.back() == '/')
                    return fail(fmt::format("rendition URI '{}' is not a file of the catalog",
                                            raw.substr(0, 200)));
            }
            r.attrs = without(attrs, {"GROUP-ID", "URI"});
            r.stable_id = has(attrs, "STABLE-RENDITION-ID");
            groups.insert(r.group_id);
            m.renditions.push_back(std::move(r));
            return;
        }
        HlsVariant v;
        v.iframe = iframe;
        uint64_t bw = 0;
        if (!parse_u64(value_of(attrs, "BANDWIDTH"), &bw))
            return fail(fmt::format("variant without a BANDWIDTH: {}", line.substr(0, 200)));
        v.bandwidth = bw;
        for (std::string_view g : {"AUDIO", "VIDEO", "SUBTITLES"})
            if (has(attrs, g)) v.groups.emplace_back(g, value_of(attrs, g));
        v.attrs = without(attrs, {"URI", "AUDIO", "VIDEO", "SUBTITLES"});
        v.stable_id = has(attrs, "STABLE-VARIANT-ID");
        if (iframe) {
            const std::string_view raw = value_of(attrs, "URI");
            v.uri = resolve_uri(dir, raw);
            if (v.uri.empty() || v.uri.back() == '/')
                return fail(fmt::format("i-frame variant URI '{}' is not a file of the catalog",
                                        raw.substr(0, 200)));
        } else {
            pending = true;
        }
        m.variants.push_back(std::move(v));
    });
    if (first) return Error{"empty playlist"};
    if (error) return *error;
    if (pending) return Error{"EXT-X-STREAM-INF without its URI"};
    if (m.variants.empty())
        return Error{"no variant (EXT-X-STREAM-INF): not a multivariant playlist"};
    for (const HlsVariant& v : m.variants)
        for (const auto& [name, g] : v.groups)
            if (!groups.count(g))
                return Error{fmt::format("variant refers to {} group '{}', which no EXT-X-MEDIA "
                                         "defines",
                                         name, g.substr(0, 100))};
    return m;
}

std::string
render_hls_master(const HlsMaster& m, const std::vector<std::string>& pathways,
                  std::string_view steering_uri,
                  const std::function<std::string(size_t, const std::string&)>& url_for) {
    // Groups that have a rendition with a URI get one copy per Pathway; groups of in-band
    // renditions only (no URI) are written once and shared.
    std::set<std::string_view> per_pathway;
    for (const HlsRendition& r : m.renditions)
        if (!r.uri.empty()) per_pathway.insert(r.group_id);
    std::string out = "#EXTM3U\n";
    for (const std::string& h : m.header)
        out.append(h).push_back('\n');
    if (!steering_uri.empty() && !pathways.empty())
        fmt::format_to(std::back_inserter(out),
                       "#EXT-X-CONTENT-STEERING:SERVER-URI=\"{}\",PATHWAY-ID=\"{}\"\n",
                       steering_uri, pathways.front());
    auto group_name = [&](const std::string& g, size_t p) {
        return per_pathway.count(g) ? fmt::format("{}-{}", g, pathways[p]) : g;
    };
    for (size_t i = 0; i < m.renditions.size(); ++i) {
        const HlsRendition& r = m.renditions[i];
        if (per_pathway.count(r.group_id)) continue;
        fmt::format_to(std::back_inserter(out), "#EXT-X-MEDIA:{}{}GROUP-ID=\"{}\"\n", r.attrs,
                       r.attrs.empty() ? "" : ",", r.group_id);
    }
    for (size_t p = 0; p < pathways.size(); ++p) {
        for (size_t i = 0; i < m.renditions.size(); ++i) {
            const HlsRendition& r = m.renditions[i];
            if (!per_pathway.count(r.group_id)) continue;
            out.append("#EXT-X-MEDIA:").append(r.attrs);
            if (!r.attrs.empty()) out.push_back(',');
            fmt::format_to(std::back_inserter(out), "GROUP-ID=\"{}\"", group_name(r.group_id, p));
            if (!r.stable_id)
                fmt::format_to(std::back_inserter(out), ",STABLE-RENDITION-ID=\"r{}\"", i);
            if (!r.uri.empty())
                fmt::format_to(std::back_inserter(out), ",URI=\"{}\"", url_for(p, r.uri));
            out.push_back('\n');
        }
        for (size_t i = 0; i < m.variants.size(); ++i) {
            const HlsVariant& v = m.variants[i];
            out.append(v.iframe ? "#EXT-X-I-FRAME-STREAM-INF:" : "#EXT-X-STREAM-INF:")
                .append(v.attrs);
            for (const auto& [name, g] : v.groups)
                fmt::format_to(std::back_inserter(out), ",{}=\"{}\"", name, group_name(g, p));
            fmt::format_to(std::back_inserter(out), ",PATHWAY-ID=\"{}\"", pathways[p]);
            if (!v.stable_id)
                fmt::format_to(std::back_inserter(out), ",STABLE-VARIANT-ID=\"v{}\"", i);
            if (v.iframe)
                fmt::format_to(std::back_inserter(out), ",URI=\"{}\"\n", url_for(p, v.uri));
            else
                out.append("\n").append(url_for(p, v.uri)).push_back('\n');
        }
    }
    return out;
}

} // namespace vcdn::media
