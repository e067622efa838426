#pragma once
// A tiny line logger to stderr. Each line is written with one write(2) so lines from
// several threads never interleave. The only process-wide state in the library is the
// minimum level (an atomic), set once by the binary. Not for the per-request hot path:
// the edge's access log has its own non-blocking writer (edge/access_log.h).
#include <cstdint>
#include <fmt/format.h>
#include <string_view>

namespace vcdn::log {

enum class Level : uint8_t { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

void set_level(Level level);
Level level();
bool parse_level(std::string_view text, Level* out);

// Writes "<utc time> <level> <message>\n" to stderr; control bytes in the message become \xNN.
void write(Level level, std::string_view message);

template <class... Args> void debug(fmt::format_string<Args...> f, Args&&... args) {
    if (level() <= Level::kDebug) write(Level::kDebug, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args> void info(fmt::format_string<Args...> f, Args&&... args) {
    if (level() <= Level::kInfo) write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args> void warn(fmt::format_string<Args...> f, Args&&... args) {
    if (level() <= Level::kWarn) write(Level::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args> void error(fmt::format_string<Args...> f, Args&&... args) {
    if (level() <= Level::kError) write(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}

// Lets through at most one message per interval and counts what it held back, so that a
// flood of bad input cannot turn into a flood of log lines. Owned by one thread.
class RateLimit {
public:
    explicit RateLimit(int64_t interval_ms = 1000) : interval_ms_(interval_ms) {}
    // Returns true when a message may be written now; *suppressed gets the number of
    // messages held back since the last one that was let through.
    bool allow(int64_t now_ms, uint64_t* suppressed);

private:
    int64_t interval_ms_;
    int64_t last_ms_ = INT64_MIN / 2;
    uint64_t held_ = 0;
};

} // namespace vcdn::log
