// The pure half of the BIRD client: reply lines, `show protocols all`, `show route all`.
#include <vcdn/bgp/bird.h>

#include <charconv>

namespace vcdn::bgp {

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

// Splits on runs of blanks.
std::vector<std::string_view> fields(std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t'))
            ++i;
        const size_t b = i;
        while (i < s.size() && s[i] != ' ' && s[i] != '\t')
            ++i;
        if (i > b) out.push_back(s.substr(b, i - b));
    }
    return out;
}

template <class T> bool number(std::string_view s, T* out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

// "key: value" with the key trimmed; false when there is no ':'.
bool key_value(std::string_view text, std::string_view* key, std::string_view* value) {
    text = trim(text);
    const size_t colon = text.find(':');
    if (colon == std::string_view::npos) return false;
    *key = trim(text.substr(0, colon));
    *value = trim(text.substr(colon + 1));
    return true;
}

} // namespace

bool split_reply_line(std::string_view raw, int prev_code, ReplyLine* out) {
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    if (raw.size() >= 4 && is_digit(raw[0]) && is_digit(raw[1]) && is_digit(raw[2]) &&
        is_digit(raw[3]) && (raw.size() == 4 || raw[4] == '-' || raw[4] == ' ')) {
        out->code =
            (raw[0] - '0') * 1000 + (raw[1] - '0') * 100 + (raw[2] - '0') * 10 + (raw[3] - '0');
        out->last = raw.size() == 4 || raw[4] == ' ';
        out->text = raw.size() > 5 ? raw.substr(5) : std::string_view();
        return true;
    }
    if (!raw.empty() && raw[0] == ' ') {
        out->code = prev_code;
        out->last = false;
        out->text = raw.substr(1);
        return true;
    }
    return false;
}

std::vector<Session> parse_protocols(const std::vector<ReplyLine>& lines) {
    std::vector<Session> out;
    Session cur;
    bool in_bgp = false;
    // "Import updates:" rows: the first number is "received".
    auto received = [](std::string_view v) -> uint64_t {
        auto f = fields(v);
        uint64_t n = 0;
        return !f.empty() && number(f[0], &n) ? n : 0;
    };
    auto close = [&] {
        if (in_bgp) out.push_back(std::move(cur));
        cur = Session{};
        in_bgp = false;
    };
    for (const ReplyLine& l : lines) {
        if (l.code == 1002) { // a protocol's row: Name Proto Table State Since Info
            close();
            auto f = fields(l.text);
            if (f.size() < 4 || f[1] != "BGP") continue;
            in_bgp = true;
            cur.name = std::string(f[0]);
            cur.state = std::string(f[3]);
            size_t i = 4;
            if (i < f.size()) {
                cur.since = std::string(f[i++]);
                // An ISO date is followed by the time of day.
                if (i < f.size() && cur.since.size() == 10 && cur.since[4] == '-' &&
                    f[i].find(':') != std::string_view::npos)
                    cur.since += " " + std::string(f[i++]);
            }
            for (; i < f.size(); ++i) {
                if (!cur.info.empty()) cur.info.push_back(' ');
                cur.info.append(f[i]);
            }
            continue;
        }
        if (l.code != 1006 || !in_bgp) continue;
        std::string_view k, v;
        if (!key_value(l.text, &k, &v)) continue;
        if (k == "BGP state") {
            cur.bgp_state = std::string(v);
        } else if (k == "Neighbor address") {
            cur.neighbor = std::string(v);
        } else if (k == "Neighbor AS") {
            (void)number(v, &cur.neighbor_as);
        } else if (k == "Routes") { // "2 imported, 0 exported, 2 preferred"
            auto f = fields(v);
            uint64_t n = 0;
            if (f.size() >= 2 && f[1].starts_with("imported") && number(f[0], &n)) cur.routes += n;
        } else if (k == "Import updates") {
            cur.import_updates += received(v);
        } else if (k == "Import withdraws") {
            cur.import_withdraws += received(v);
        }
    }
    close();
    return out;
}

void RouteParser::flush() {
    if (have_) on_route_(std::move(cur_));
    have_ = false;
    cur_ = LearnedRoute{};
}

void RouteParser::line(const ReplyLine& l) {
    std::string_view t = l.text;
    if (l.code == 1007) {
        if (t.empty() || t.starts_with("Table ") || t[0] == '\t') {
            if (t.empty() || t.starts_with("Table ")) flush(); // "\tvia ..." next hops are kept
            if (t.starts_with("Table ")) have_prefix_ = false;
            return;
        }
        flush();
        last_attr_.clear();
        std::string_view rest = t;
        if (t[0] != ' ') { // "10.1.0.0/16   unicast [isp1 ...] * (100) [AS65001i]"
            const size_t sp = t.find_first_of(" \t");
            auto p = io::IpPrefix::parse(t.substr(0, sp));
            if (!p) {
                ++skipped_;
                have_prefix_ = false;
                return;
            }
            last_prefix_ = *p;
            have_prefix_ = true;
            rest = sp == std::string_view::npos ? std::string_view() : t.substr(sp);
        } else if (!have_prefix_) { // another route of a network that was skipped
            return;
        }
        cur_.prefix = last_prefix_;
        const size_t open = rest.find('[');
        if (open != std::string_view::npos) {
            const size_t end = rest.find_first_of(" ]", open + 1);
            cur_.protocol = std::string(rest.substr(
                open + 1, end == std::string_view::npos ? std::string_view::npos : end - open - 1));
            const size_t close = rest.find(']', open);
            if (close != std::string_view::npos) {
                std::string_view after = trim(rest.substr(close + 1));
                cur_.primary = after.starts_with("*");
            }
        }
        have_ = true;
        return;
    }
    if (l.code != 1012 || !have_) return;
    std::string_view k, v;
    if (!key_value(t, &k, &v) || !k.starts_with("BGP.")) {
        // A wrapped continuation of a long community list.
        std::string_view more = trim(t);
        if (!more.empty() && more[0] == '(' &&
            (last_attr_ == "BGP.community" || last_attr_ == "BGP.large_community")) {
            if (!cur_.attrs.communities.empty()) cur_.attrs.communities.push_back(' ');
            cur_.attrs.communities.append(more);
        }
        return;
    }
    last_attr_ = std::string(k);
    if (k == "BGP.med") {
        (void)number(v, &cur_.attrs.med);
    } else if (k == "BGP.as_path") {
        // The origin is the last AS outside a set; a path ending in an AS_SET has none
        // (RFC 6907 treats it so for origin validation).
        uint32_t n = 0, origin = 0;
        bool in_set = false;
        for (std::string_view f : fields(v)) {
            if (f.starts_with("{")) {
                ++n;
                in_set = f.find('}') == std::string_view::npos;
                origin = 0;
            } else if (in_set) {
                in_set = f.find('}') == std::string_view::npos;
            } else {
                ++n;
                if (!number(f, &origin)) origin = 0;
            }
        }
        cur_.attrs.path_len = n;
        cur_.attrs.origin_as = origin;
    } else if (k == "BGP.community" || k == "BGP.large_community") {
        // BIRD writes every community as "(...)"; anything else is not one (and would make
        // the route's line ambiguous: see wire::route_line).
        v = trim(v);
        if (v.empty() || v[0] != '(') return;
        if (!cur_.attrs.communities.empty()) cur_.attrs.communities.push_back(' ');
        cur_.attrs.communities.append(v);
    }
}

void RouteParser::finish() {
    flush();
}

} // namespace vcdn::bgp
