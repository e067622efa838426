#include <vcdn/fill/fill.h>

#include <ctime>
#include <fmt/format.h>
#include <limits>
#include <nlohmann/json.hpp>

namespace vcdn::fill {

Status validate(const FillConfig& c) {
    if (!c.window.empty())
        if (auto w = FillWindow::parse(c.window); !w) return w.error();
    if (c.rate_mbps < 0 || c.rate_mbps > 1e6)
        return Error{"fill rate: 0 (no cap) to 1000000 Mbit/s"};
    if (c.parallel < 1 || c.parallel > 64) return Error{"fill parallel: 1 to 64 transfers"};
    if (c.scrub_rate_mbps < 0) return Error{"scrub rate: must be >= 0"};
    return {};
}

Result<FillWindow> FillWindow::parse(std::string_view text) {
    FillWindow w;
    if (text == "always") return w;
    auto bad = [&] {
        return Error{fmt::format("fill window '{}': use 'always' or a local start and length like "
                                 "'02:00+12h' or '23:30+90m'",
                                 text)};
    };
    // HH:MM+N(h|m)
    if (text.size() < 8 || text[2] != ':' || text[5] != '+') return bad();
    auto digits = [](std::string_view s, uint32_t* out) {
        if (s.empty() || s.size() > 5) return false;
        uint32_t v = 0;
        for (char c : s) {
            if (c < '0' || c > '9') return false;
            v = v * 10 + static_cast<uint32_t>(c - '0');
        }
        *out = v;
        return true;
    };
    uint32_t hh = 0, mm = 0, n = 0;
    if (!digits(text.substr(0, 2), &hh) || !digits(text.substr(3, 2), &mm) || hh > 23 || mm > 59)
        return bad();
    const char unit = text.back();
    if ((unit != 'h' && unit != 'm') || !digits(text.substr(6, text.size() - 7), &n)) return bad();
    const uint32_t minutes = unit == 'h' ? n * 60 : n;
    if (minutes < 1 || minutes > 1440) return bad();
    w.always_ = false;
    w.start_ = hh * 60 + mm;
    w.length_ = minutes;
    return w;
}

bool FillWindow::contains(uint32_t minute) const {
    if (always_ || length_ >= 1440) return true;
    const uint32_t since_start = (minute + 1440 - start_) % 1440;
    return since_start < length_;
}

std::string FillWindow::describe() const {
    if (always_) return "always";
    return fmt::format("{:02}:{:02} local for {} min", start_ / 60, start_ % 60, length_);
}

uint32_t local_minute_of_day(int64_t unix_s) {
    time_t t = static_cast<time_t>(unix_s);
    struct tm tm {};
    localtime_r(&t, &tm);
    return static_cast<uint32_t>(tm.tm_hour * 60 + tm.tm_min);
}

TokenBucket::TokenBucket(double rate, double burst, int64_t now_us)
    : rate_(rate), burst_(burst), tokens_(burst), last_us_(now_us) {}

void TokenBucket::refill(int64_t now_us) {
    if (now_us <= last_us_) return;
    tokens_ += rate_ * static_cast<double>(now_us - last_us_) / 1e6;
    if (tokens_ > burst_) tokens_ = burst_;
    last_us_ = now_us;
}

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

namespace {

bool base_url(const std::string& u) {
    std::string_view rest;
    if (u.rfind("http://", 0) == 0)
        rest = std::string_view(u).substr(7);
    else if (u.rfind("https://", 0) == 0)
        rest = std::string_view(u).substr(8);
    else
        return false;
    if (rest.empty() || rest.size() > 200) return false;
    for (char c : rest)
        if (c <= ' ' || c == '/' || c == '?' || c == '#' || c >= 0x7f) return false;
    return true;
}

bool hex64(const std::string& s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

// Integers only as JSON integers in range: nlohmann's get<> of a float out of range is
// undefined behaviour (found by the fuzzer).
template <class T> bool get_int(const nlohmann::json& j, const char* key, T* out, bool required) {
    auto it = j.find(key);
    if (it == j.end()) return !required;
    if (it->is_number_unsigned()) {
        const uint64_t v = it->get<uint64_t>();
        if (v > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
        *out = static_cast<T>(v);
        return true;
    }
    if (it->is_number_integer()) {
        const int64_t v = it->get<int64_t>();
        if (v < 0 ||
            static_cast<uint64_t>(v) > static_cast<uint64_t>(std::numeric_limits<T>::max()))
            return false;
        *out = static_cast<T>(v);
        return true;
    }
    return false;
}

} // namespace

Result<Manifest> parse_manifest(std::string_view text) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Error{"manifest: not a JSON object"};
    Manifest m;
    try {
        m.edge = j.at("edge").get<std::string>();
        if (!get_int(j, "version", &m.version, true))
            return Error{"manifest: version must be an integer >= 0"};
        if (auto e = j.find("escalation"); e != j.end() && e->is_object()) {
            if (!get_int(*e, "peer_wait_ms", &m.peer_wait_ms, false) ||
                !get_int(*e, "tier_wait_ms", &m.tier_wait_ms, false))
                return Error{"manifest: escalation waits must be integers >= 0"};
        }
        m.origin_token = j.value("origin_token", std::string());
        const auto& files = j.at("files");
        if (!files.is_array()) return Error{"manifest: files is not an array"};
        m.files.reserve(files.size());
        for (const auto& f : files) {
            WantedFile w;
            w.path = f.at("path").get<std::string>();
            if (!get_int(f, "size", &w.size, true))
                return Error{fmt::format("manifest: {}: size must be an integer >= 0",
                                         w.path.substr(0, 200))};
            w.sha256 = f.at("sha256").get<std::string>();
            w.flash = f.value("tier", std::string("disk")) == "flash";
            if (!safe_path(w.path))
                return Error{fmt::format("manifest: unsafe path '{}'", w.path.substr(0, 200))};
            if (!hex64(w.sha256))
                return Error{fmt::format("manifest: {}: sha256 is not 64 hex digits", w.path)};
            for (const auto& s : f.at("sources")) {
                Source src;
                const std::string kind = s.at("kind").get<std::string>();
                if (kind == "peer")
                    src.kind = SourceKind::kPeer;
                else if (kind == "tier")
                    src.kind = SourceKind::kTier;
                else if (kind == "origin")
                    src.kind = SourceKind::kOrigin;
                else
                    return Error{fmt::format("manifest: {}: unknown source kind '{}'", w.path,
                                             kind.substr(0, 40))};
                src.url = s.at("url").get<std::string>();
                src.edge = s.value("edge", std::string());
                if (!base_url(src.url))
                    return Error{fmt::format("manifest: {}: source '{}' is not a base URL", w.path,
                                             src.url.substr(0, 200))};
                w.sources.push_back(std::move(src));
            }
            m.files.push_back(std::move(w));
        }
    } catch (const nlohmann::json::exception& e) {
        return Error{fmt::format("manifest: missing or mistyped field ({})", e.what())};
    }
    return m;
}

} // namespace vcdn::fill
