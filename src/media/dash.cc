#include <vcdn/media/dash.h>

#include <fmt/format.h>
#include <optional>
#include <pugixml.hpp>

#include <vcdn/base/strings.h>
#include <vcdn/media/uri.h>

namespace vcdn::media {

namespace {

uint32_t kbps_of(std::string_view bits_per_s) {
    uint64_t bps = 0;
    if (!parse_u64(trim_ows(bits_per_s), &bps) || bps == 0 || bps > 1'000'000'000'000ULL) return 0;
    return static_cast<uint32_t>(std::max<uint64_t>(1, (bps + 500) / 1000));
}

// The quoted value of attribute `name` inside one XML start tag's text.
std::string_view xml_attr(std::string_view tag, std::string_view name) {
    for (size_t at = tag.find(name); at != std::string_view::npos; at = tag.find(name, at + 1)) {
        const bool starts = at > 0 && (tag[at - 1] == ' ' || tag[at - 1] == '\t' ||
                                       tag[at - 1] == '\n' || tag[at - 1] == '\r');
        size_t p = at + name.size();
        while (p < tag.size() && tag[p] == ' ')
            ++p;
        if (!starts || p >= tag.size() || tag[p] != '=') continue;
        ++p;
        while (p < tag.size() && tag[p] == ' ')
            ++p;
        if (p >= tag.size() || (tag[p] != '"' && tag[p] != '\'')) continue;
        const size_t close = tag.find(tag[p], p + 1);
        if (close == std::string_view::npos) return {};
        return tag.substr(p + 1, close - p - 1);
    }
    return {};
}

// The element's name without a namespace prefix ("mpd:Period" -> "Period"). After the last
// colon: a name of two colons ("a:b:ContentSteering") is no namespace-well-formed name, and a
// player that reads it anyway sees the part after the last one.
std::string_view local_name(const pugi::xml_node& n) {
    std::string_view name = n.name();
    const size_t colon = name.rfind(':');
    return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

pugi::xml_node child(const pugi::xml_node& n, std::string_view name) {
    for (pugi::xml_node c : n.children())
        if (c.type() == pugi::node_element && local_name(c) == name) return c;
    return {};
}

std::string xml_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
        case '&':
            out.append("&amp;");
            break;
        case '<':
            out.append("&lt;");
            break;
        case '>':
            out.append("&gt;");
            break;
        case '"':
            out.append("&quot;");
            break;
        default:
            out.push_back(c);
        }
    }
    return out;
}

std::string json_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') out.push_back('\\');
        if (static_cast<unsigned char>(c) < 0x20)
            fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
        else
            out.push_back(c);
    }
    return out;
}

// Characters XML 1.0 allows, as well-formed UTF-8 (no overlong form, surrogate or code point
// past U+10FFFF; no C0 control but tab, LF and CR). pugixml keeps other bytes as they are (a
// lone lead byte then swallows the next character when a player parses the re-written MPD)
// and writes controls as references no XML parser takes: refused up front instead.
bool valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
            ++i;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t k = 1; k <= n; ++k) {
            if (i + k >= s.size()) return false;
            const auto d = static_cast<unsigned char>(s[i + k]);
            if ((d & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (d & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

// What one parse collects while it walks the MPD.
struct Walk {
    std::string_view mpd_dir;
    DashTemplate* t = nullptr;
    std::vector<pugi::xml_node> remove;  // BaseURL, Location, PatchLocation
    std::vector<pugi::xml_node> anchors; // per slot: the Representation
    std::optional<Error> error;

    // The base a level gives: its first BaseURL resolved against `parent` (a catalog path).
    bool level_base(const pugi::xml_node& n, const std::string& parent, std::string* out) {
        *out = parent;
        bool first = true;
        for (pugi::xml_node c : n.children()) {
            if (c.type() != pugi::node_element || local_name(c) != "BaseURL") continue;
            remove.push_back(c);
            if (!first) continue; // alternatives of the packager's: ours replace them
            first = false;
            const std::string_view text = trim_ows(c.text().get());
            if (text.empty()) continue;
            std::string p = resolve_uri(dir_of(parent), text);
            if (p.empty()) {
                error = Error{fmt::format("BaseURL '{}' is not in the catalog (an absolute URL?)",
                                          text.substr(0, 200))};
                return false;
            }
            *out = std::move(p);
        }
        return true;
    }
};

// The nearest SegmentBase/SegmentList/SegmentTemplate of a Representation (itself, then its
// AdaptationSet, then its Period).
pugi::xml_node nearest(std::initializer_list<pugi::xml_node> levels, std::string_view name) {
    for (const pugi::xml_node& n : levels)
        if (pugi::xml_node c = child(n, name)) return c;
    return {};
}

void add_file(DashSlot* s, std::string_view base_dir, std::string_view uri) {
    if (uri.empty()) return;
    std::string p = resolve_uri(base_dir, uri);
    if (!p.empty() && p.back() != '/' && s->files.size() < 4096) s->files.push_back(std::move(p));
}

// A SegmentTemplate attribute: $RepresentationID$ and $Bandwidth$ filled in; a literal file,
// or a (prefix, suffix) pattern around $Number$ / $Time$.
void add_template(DashSlot* s, std::string_view base_dir, std::string_view value) {
    if (value.empty()) return;
    std::string v;
    for (size_t i = 0; i < value.size(); ++i) {
        if (value[i] != '$') {
            v.push_back(value[i]);
            continue;
        }
        const size_t close = value.find('$', i + 1);
        if (close == std::string_view::npos) return; // malformed: names nothing
        const std::string_view id = value.substr(i + 1, close - i - 1);
        if (id.empty())
            v.push_back('$'); // "$$" is a literal '$'... which a catalog path may not hold
        else if (id == "RepresentationID")
            v.append(s->id);
        else if (id == "Bandwidth")
            v.append(std::to_string(s->bandwidth));
        else
            v.append(value.substr(i, close - i + 1));
        i = close;
    }
    const size_t first = v.find('$');
    if (first == std::string::npos) return add_file(s, base_dir, v);
    std::string prefix = resolve_uri(base_dir, v.substr(0, first) + "x");
    if (prefix.empty() || prefix.back() != 'x' || s->templates.size() >= 8) return;
    prefix.pop_back();
    s->templates.emplace_back(std::move(prefix), v.substr(v.rfind('$') + 1));
}

} // namespace

void dash_bitrates(std::string_view mpd_dir, std::string_view text,
                   std::map<std::string, uint32_t>* out) {
    size_t at = 0;
    while ((at = text.find("<Representation", at)) != std::string_view::npos) {
        const size_t tag_end = text.find('>', at);
        if (tag_end == std::string_view::npos) return;
        const std::string_view tag = text.substr(at, tag_end - at);
        const uint32_t kbps = kbps_of(xml_attr(tag, "bandwidth"));
        size_t body_end = tag_end;
        if (tag.back() != '/') {
            body_end = text.find("</Representation>", tag_end);
            if (body_end == std::string_view::npos) body_end = text.size();
        }
        const std::string_view body = text.substr(tag_end + 1, body_end - tag_end - 1);
        if (kbps) {
            // Every search starts where the last one ended: linear in the MPD, whatever it holds.
            for (size_t b = body.find("<BaseURL>"); b != std::string_view::npos;) {
                const size_t e = body.find("</BaseURL>", b);
                if (e == std::string_view::npos) break;
                std::string p = resolve_uri(mpd_dir, body.substr(b + 9, e - b - 9));
                if (!p.empty() && p.back() != '/') out->emplace(std::move(p), kbps);
                b = body.find("<BaseURL>", e);
            }
            for (size_t open = body.find('<'); open != std::string_view::npos;) {
                const size_t close = body.find('>', open);
                if (close == std::string_view::npos) break;
                const std::string_view element = body.substr(open, close - open);
                for (const char* attr : {"sourceURL", "media"}) {
                    std::string p = resolve_uri(mpd_dir, xml_attr(element, attr));
                    if (!p.empty() && p.back() != '/') out->emplace(std::move(p), kbps);
                }
                open = body.find('<', close);
            }
        }
        at = body_end;
    }
}

Result<DashTemplate> parse_dash_template(std::string_view text, std::string_view mpd_path) {
    if (text.size() > kMaxDashBytes)
        return Error{fmt::format("the MPD is larger than {} bytes", kMaxDashBytes)};
    if (!valid_utf8(text)) return Error{"not UTF-8 XML text (an invalid byte or a control)"};
    pugi::xml_document doc;
    // No DOCTYPE, no entity but the five predefined and numeric ones, no external anything:
    // pugixml expands nothing and fetches nothing.
    const pugi::xml_parse_result parsed =
        doc.load_buffer(text.data(), text.size(), pugi::parse_default | pugi::parse_declaration,
                        pugi::encoding_utf8);
    if (!parsed)
        return Error{fmt::format("not XML: {} at byte {}", parsed.description(), parsed.offset)};
    pugi::xml_node mpd = doc.document_element();
    if (!mpd || local_name(mpd) != "MPD") return Error{"not a DASH MPD (no MPD root element)"};
    if (std::string_view(mpd.attribute("type").as_string("static")) == "dynamic")
        return Error{"a dynamic (live) MPD is not steered"};
    if (child(mpd, "ContentSteering"))
        return Error{"the MPD already has Content Steering (ContentSteering)"};

    DashTemplate t;
    Walk w;
    w.t = &t;
    std::string mpd_base;
    const std::string_view mpd_dir = dir_of(mpd_path);
    if (!w.level_base(mpd, mpd_dir.empty() ? "/" : std::string(mpd_dir), &mpd_base))
        return *w.error;
    for (pugi::xml_node c : mpd.children())
        if (c.type() == pugi::node_element &&
            (local_name(c) == "Location" || local_name(c) == "PatchLocation"))
            w.remove.push_back(c);
    for (pugi::xml_node period : mpd.children()) {
        if (period.type() != pugi::node_element || local_name(period) != "Period") continue;
        std::string period_base;
        if (!w.level_base(period, mpd_base, &period_base)) return *w.error;
        for (pugi::xml_node set : period.children()) {
            if (set.type() != pugi::node_element || local_name(set) != "AdaptationSet") continue;
            std::string set_base;
            if (!w.level_base(set, period_base, &set_base)) return *w.error;
            for (pugi::xml_node rep : set.children()) {
                if (rep.type() != pugi::node_element || local_name(rep) != "Representation")
                    continue;
                if (t.slots.size() == kMaxDashSlots)
                    return Error{fmt::format("more than {} Representations", kMaxDashSlots)};
                DashSlot s;
                if (!w.level_base(rep, set_base, &s.base)) return *w.error;
                s.id = rep.attribute("id").as_string();
                s.bandwidth = rep.attribute("bandwidth").as_ullong(0);
                const std::string_view dir = dir_of(s.base);
                if (s.base.back() != '/') s.files.push_back(s.base);
                if (pugi::xml_node list = nearest({rep, set, period}, "SegmentList")) {
                    add_file(&s, dir, child(list, "Initialization").attribute("sourceURL").value());
                    for (pugi::xml_node u : list.children())
                        if (u.type() == pugi::node_element && local_name(u) == "SegmentURL")
                            add_file(&s, dir, u.attribute("media").value());
                } else if (pugi::xml_node tmpl = nearest({rep, set, period}, "SegmentTemplate")) {
                    add_template(&s, dir, tmpl.attribute("initialization").value());
                    add_template(&s, dir, tmpl.attribute("media").value());
                } else if (pugi::xml_node sb = nearest({rep, set, period}, "SegmentBase")) {
                    add_file(&s, dir, child(sb, "Initialization").attribute("sourceURL").value());
                }
                if (s.files.empty() && s.templates.empty())
                    return Error{
                        fmt::format("Representation '{}' names no file", s.id.substr(0, 100))};
                t.slots.push_back(std::move(s));
                w.anchors.push_back(rep);
            }
        }
    }
    if (t.slots.empty()) return Error{"no Representation"};

    // Placeholders where our elements go, found again in the written text. Their key comes
    // from the input, and each must be found exactly once: a packager's CDATA cannot forge one.
    const std::string key = fmt::format("{:016x}", std::hash<std::string_view>{}(text));
    auto place = [&](pugi::xml_node parent, pugi::xml_node before, size_t n) {
        pugi::xml_node p = before ? parent.insert_child_before("vcdnSlot", before)
                                  : parent.append_child("vcdnSlot");
        p.append_attribute("n") = static_cast<unsigned long long>(n);
        p.append_attribute("k") = key.c_str();
    };
    pugi::xml_node first_period = child(mpd, "Period");
    place(mpd, first_period, 0);
    for (size_t i = 0; i < w.anchors.size(); ++i) {
        pugi::xml_node rep = w.anchors[i];
        pugi::xml_node before = child(rep, "BaseURL");
        for (std::string_view n :
             {"SubRepresentation", "SegmentBase", "SegmentList", "SegmentTemplate"})
            if (!before) before = child(rep, n);
        place(rep, before, i + 1);
    }
    for (pugi::xml_node& n : w.remove)
        n.parent().remove_child(n);

    struct Sink : pugi::xml_writer {
        std::string out;
        void write(const void* data, size_t size) override {
            out.append(static_cast<const char*>(data), size);
        }
    } sink;
    doc.save(sink, "\t", pugi::format_indent, pugi::encoding_utf8);
    std::string_view all = sink.out;
    size_t at = 0;
    for (size_t i = 0; i <= t.slots.size(); ++i) {
        const std::string mark = fmt::format("<vcdnSlot n=\"{}\" k=\"{}\"", i, key);
        const size_t found = all.find(mark, at);
        const size_t end = found == std::string_view::npos ? found : all.find("/>", found);
        if (end == std::string_view::npos || all.find(mark, found + 1) != std::string_view::npos)
            return Error{"the MPD could not be re-written (placeholder lost)"};
        t.text.emplace_back(all.substr(at, found - at));
        // The placeholder's indentation: the blanks before it back to the line's start; none
        // when text shares its line (mixed content), where another BaseURL follows directly.
        size_t from = found;
        while (from > 0 && (all[from - 1] == '\t' || all[from - 1] == ' '))
            --from;
        const bool own_line = from == 0 || all[from - 1] == '\n';
        if (i > 0) t.indent.emplace_back(own_line ? all.substr(from, found - from) : "");
        at = end + 2;
    }
    t.text.emplace_back(all.substr(at));
    return t;
}

std::string render_dash(const DashTemplate& t, const std::vector<std::string>& locations,
                        std::string_view steering_url,
                        const std::function<std::string(size_t, size_t)>& url_for) {
    std::string out;
    size_t size = 0;
    for (const std::string& s : t.text)
        size += s.size();
    out.reserve(size + t.slots.size() * locations.size() * 200 + 512);
    out.append(t.text[0]);
    if (!steering_url.empty() && !locations.empty())
        fmt::format_to(std::back_inserter(out),
                       "<ContentSteering defaultServiceLocation=\"{}\" "
                       "queryBeforeStart=\"true\">{}</ContentSteering>",
                       locations.front(), xml_escape(steering_url));
    for (size_t i = 0; i < t.slots.size(); ++i) {
        out.append(t.text[i + 1]);
        for (size_t k = 0; k < locations.size(); ++k) {
            if (k && !t.indent[i].empty()) out.append("\n").append(t.indent[i]);
            fmt::format_to(std::back_inserter(out), "<BaseURL serviceLocation=\"{}\">{}</BaseURL>",
                           locations[k], xml_escape(url_for(k, i)));
        }
    }
    out.append(t.text.back());
    return out;
}

std::string steering_response(uint32_t ttl_s, std::string_view reload_uri,
                              const std::vector<std::string>& priority, bool dash) {
    std::string list;
    for (size_t i = 0; i < priority.size(); ++i)
        fmt::format_to(std::back_inserter(list), "{}\"{}\"", i ? "," : "",
                       json_escape(priority[i]));
    std::string out = fmt::format("{{\"VERSION\":1,\"TTL\":{}", ttl_s);
    if (!reload_uri.empty())
        fmt::format_to(std::back_inserter(out), ",\"RELOAD-URI\":\"{}\"", json_escape(reload_uri));
    fmt::format_to(std::back_inserter(out), ",\"PATHWAY-PRIORITY\":[{}]", list);
    if (dash) fmt::format_to(std::back_inserter(out), ",\"SERVICE-LOCATION-PRIORITY\":[{}]", list);
    out.append("}\n");
    return out;
}

bool valid_location_id(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    return true;
}

} // namespace vcdn::media
