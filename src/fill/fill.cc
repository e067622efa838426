#include <vcdn/fill/fill.h>

#include <ctime>
#include <fmt/format.h>

namespace vcdn::fill {

Status validate(const FillConfig& c) {
    if (!c.window.empty())
        if (auto w = FillWindow::parse(c.window); !w) return w.error();
    if (c.rate_mbps < 0 || c.rate_mbps > 1e6)
        return Error{"fill rate: 0 (no cap) to 1000000 Mbit/s"};
    if (c.parallel < 1 || c.parallel > 64) return Error{"fill parallel: 1 to 64 transfers"};
    if (c.scrub_rate_mbps < 0) return Error{"scrub rate: must be >= 0"};
    if (!(c.max_delete_share >= 0 && c.max_delete_share <= 1))
        return Error{"fill max_delete_share: 0 to 1 (a share of the bytes stored)"};
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

} // namespace vcdn::fill
