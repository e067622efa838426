// libFuzzer target: what the CDN reads from packaged titles — DASH MPDs (the control plane's
// template and catalog import's scan), HLS multivariant and media playlists, manifest URIs —
// must never crash, loop or over-read, whatever a packager (or an attacker who got bytes into
// a manifest) wrote; and what is re-written for players must stay well-formed.
// The first byte picks the reader; the rest is the manifest.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

#include <vcdn/media/dash.h>
#include <vcdn/media/hls.h>
#include <vcdn/media/uri.h>

namespace {

using namespace vcdn::media;

// A catalog path as resolve_uri makes them: rooted, no empty, "." or ".." segment, no control.
void check_path(const std::string& p) {
    if (p.empty()) return;
    if (p.front() != '/') abort();
    if (p.find("//") != std::string::npos || p.find("/../") != std::string::npos ||
        p.find("/./") != std::string::npos || p.ends_with("/..") || p.ends_with("/."))
        abort();
    for (char c : p)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) abort();
}

// A node's child elements of local name `name` (after the last colon, as players that take
// a prefixed name read it); with `ours`, only those that carry a serviceLocation.
std::vector<pugi::xml_node> elements(pugi::xml_node parent, std::string_view name,
                                     bool ours = false) {
    std::vector<pugi::xml_node> out;
    for (pugi::xml_node c : parent.children()) {
        std::string_view n = c.name();
        if (c.type() != pugi::node_element || n.substr(n.rfind(':') + 1) != name) continue;
        if (ours && !c.attribute("serviceLocation")) abort(); // a packager's BaseURL was left
        out.push_back(c);
    }
    return out;
}

// Lines that start with `tag`; false when a line holds a control byte (a '\r' a player would
// take for a line break, an injected tag).
bool lines_starting(std::string_view text, std::string_view tag, size_t* n) {
    *n = 0;
    size_t at = 0;
    while (at < text.size()) {
        size_t end = text.find('\n', at);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view line = text.substr(at, end - at);
        for (char c : line)
            if (static_cast<unsigned char>(c) < 0x20) return false;
        *n += line.substr(0, tag.size()) == tag;
        at = end + 1;
    }
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const uint8_t which = data[0] % 5;
    // An exact-size heap copy, so that ASan sees any over-read.
    const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    const std::vector<std::string> ids = {"a1", "origin"};
    switch (which) {
    case 0: { // DASH: the template, and what players get from it
        auto t = parse_dash_template(text, "/t/1/manifest.mpd");
        if (!t) {
            if (t.error().message.empty()) abort();
            break;
        }
        if (t->text.size() != t->slots.size() + 2 || t->indent.size() != t->slots.size()) abort();
        for (const DashSlot& s : t->slots) {
            check_path(s.base);
            if (s.base.empty()) abort();
            for (const std::string& f : s.files)
                check_path(f);
        }
        const std::string out = render_dash(
            *t, ids, "https://steer.example/s?kind=dash&key=/t/1/x",
            [](size_t k, size_t) { return k ? "http://o.example/x" : "http://a.example/y"; });
        pugi::xml_document doc;
        if (!doc.load_buffer(out.data(), out.size())) abort(); // still XML
        // Where players read BaseURL (the MPD, its Periods, their AdaptationSets, their
        // Representations) there are only ours: two in each Representation, one per location.
        // (Counted as elements: a packager's CDATA may hold the same text.)
        const pugi::xml_node mpd = doc.document_element();
        size_t reps = 0;
        for (pugi::xml_node period : elements(mpd, "Period"))
            for (pugi::xml_node set : elements(period, "AdaptationSet"))
                for (pugi::xml_node rep : elements(set, "Representation")) {
                    ++reps;
                    if (elements(rep, "BaseURL", true).size() != ids.size()) abort();
                }
        if (reps != t->slots.size()) abort();
        if (!elements(mpd, "BaseURL").empty()) abort();
        for (pugi::xml_node period : elements(mpd, "Period")) {
            if (!elements(period, "BaseURL").empty()) abort();
            for (pugi::xml_node set : elements(period, "AdaptationSet"))
                if (!elements(set, "BaseURL").empty()) abort();
        }
        // One ContentSteering element where players read it: the MPD's own children.
        if (elements(mpd, "ContentSteering").size() != 1) abort();
        break;
    }
    case 1: { // HLS multivariant: parsed, re-written with two Pathways
        auto m = parse_hls_master(text, "/t/1/master.m3u8");
        if (!m) {
            if (m.error().message.empty()) abort();
            break;
        }
        if (m->variants.empty()) abort();
        size_t streams = 0;
        for (const HlsVariant& v : m->variants) {
            check_path(v.uri);
            if (v.uri.empty() || v.uri.back() == '/') abort();
            streams += !v.iframe;
        }
        const std::string out = render_hls_master(
            *m, ids, "https://steer.example/s", [](size_t k, const std::string& p) {
                return std::string(k ? "http://o" : "http://a") + encode_path(p);
            });
        if (out.rfind("#EXTM3U\n", 0) != 0) abort();
        size_t stream_lines = 0;
        if (!lines_starting(out, "#EXT-X-STREAM-INF:", &stream_lines)) abort();
        if (stream_lines != 2 * streams) abort();
        if (streams && !hls_is_multivariant(out)) abort();
        break;
    }
    case 2: { // HLS media playlist: the files it names
        for (const std::string& f : hls_media_files("/t/1/", text)) {
            check_path(f);
            if (f.empty() || f.back() == '/') abort();
        }
        break;
    }
    case 3: { // catalog import's scan of an MPD
        std::map<std::string, uint32_t> kbps;
        dash_bitrates("/t/1/", text, &kbps);
        for (const auto& [p, k] : kbps) {
            check_path(p);
            if (k == 0) abort();
        }
        break;
    }
    default: { // one URI: resolved and encoded back, it means the same path
        const std::string p = resolve_uri("/t/1/", text);
        check_path(p);
        const std::string encoded = encode_path(p);
        if (!p.empty() && p.back() != '/' && encoded.size() <= 4096 && // resolve_uri's bound
            resolve_uri("/", encoded) != p)
            abort();
        std::vector<HlsAttr> attrs;
        (void)parse_hls_attrs(text, &attrs);
        if (attrs.size() > kMaxHlsAttrs) abort();
        break;
    }
    }
    return 0;
}
