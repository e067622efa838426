#include <vcdn/base/log.h>

#include <atomic>
#include <ctime>
#include <unistd.h>

namespace vcdn::log {
namespace {
std::atomic<Level> g_level{Level::kInfo};

const char* level_name(Level l) {
    switch (l) {
    case Level::kDebug:
        return "debug";
    case Level::kInfo:
        return "info";
    case Level::kWarn:
        return "warn";
    case Level::kError:
        return "error";
    case Level::kOff:
        return "off";
    }
    return "?";
}
} // namespace

void set_level(Level l) {
    g_level.store(l, std::memory_order_relaxed);
}
Level level() {
    return g_level.load(std::memory_order_relaxed);
}

bool parse_level(std::string_view t, Level* out) {
    for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError, Level::kOff}) {
        if (t == level_name(l)) {
            *out = l;
            return true;
        }
    }
    return false;
}

void write(Level l, std::string_view message) {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    gmtime_r(&ts.tv_sec, &t);
    fmt::memory_buffer buf;
    fmt::format_to(std::back_inserter(buf), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {} ",
                   t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                   ts.tv_nsec / 1000000, level_name(l));
    // One record is one line, whatever its fields hold: control bytes (a newline in an edge's
    // `reason`, a terminal escape in a client's path) are written as \xNN, so nobody who can
    // put text into a log line can forge another line or drive the operator's terminal.
    static const char kHex[] = "0123456789abcdef";
    for (char ch : message) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) {
            const char esc[4] = {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
            buf.append(esc, esc + 4);
        } else {
            buf.push_back(ch);
        }
    }
    buf.push_back('\n');
    const char* p = buf.data();
    size_t left = buf.size();
    while (left > 0) {
        ssize_t n = ::write(STDERR_FILENO, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            return; // nowhere left to report a failing stderr
        }
        p += n;
        left -= static_cast<size_t>(n);
    }
}

bool RateLimit::allow(int64_t now_ms, uint64_t* suppressed) {
    if (now_ms - last_ms_ >= interval_ms_) {
        last_ms_ = now_ms;
        *suppressed = held_;
        held_ = 0;
        return true;
    }
    ++held_;
    return false;
}

} // namespace vcdn::log
