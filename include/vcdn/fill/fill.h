#pragma once
// The pure parts of an edge's fill: its configuration, the fill window and the token bucket
// that caps the fill rate. No I/O here (filler.h does the downloads); tests call these directly.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <vcdn/base/result.h>
#include <vcdn/wire/manifest.h>

namespace vcdn::fill {

struct FillConfig {
    std::string window;   // "" = no fill; "always"; "HH:MM+<n>h" / "+<n>m" (local time)
    double rate_mbps = 0; // total download rate cap in Mbit/s; 0 = none
    uint64_t max_bytes_per_window = 0; // 0 = no limit
    uint32_t parallel = 4;             // transfers at once
    uint32_t connect_timeout_ms = 3000;
    // A source that delivers less than this for `slow_time_s` is abandoned for the next one
    // (the partial file is kept and resumed from there).
    uint32_t slow_bytes_per_s = 16384;
    uint32_t slow_time_s = 20;
    uint32_t retry_ms = 1000;     // a peer/tier that does not hold the file yet: ask again after
    uint32_t progress_log_s = 10; // a progress line in the log this often while filling
    double scrub_rate_mbps = 80;  // re-verification of stored files; 0 = no scrubber
    uint32_t scrub_pause_s = 60;  // pause between two passes over every file
    // A root that ran out of space during a write takes no new transfer for this long.
    uint32_t disk_full_pause_s = 60;
    // Against a control plane that lies (compromised, or a bug): a manifest that would delete
    // more than this share of the bytes the roots hold is held until an operator allows it on
    // the edge's admin listener (POST /fill/allow-deletions); 1 = no limit.
    double max_delete_share = 0.5;
    // The edge's own floor under the control plane's delete delay.
    uint32_t min_delete_delay_ms = 60000;
    bool operator==(const FillConfig&) const = default;
};

// The extended attribute the fill puts on every file it writes (its SHA-256 in hex): the only
// files the fill ever deletes or the scrubber removes. A file an operator put in a root has
// none and stays.
inline constexpr const char* kFillMark = "user.vcdn.fill";

Status validate(const FillConfig& c);

// When fill may run. "always", or a daily window in local time: start "HH:MM" and a length
// ("+12h", "+90m"), which may cross midnight.
class FillWindow {
public:
    static Result<FillWindow> parse(std::string_view text);
    // `minute_of_day`: local time, 0..1439.
    bool contains(uint32_t minute_of_day) const;
    bool always() const { return always_; }
    std::string describe() const;

private:
    bool always_ = true;
    uint32_t start_ = 0;  // minute of day
    uint32_t length_ = 0; // minutes, 1..1440
};

// Minute of the day in the local time zone for a Unix time.
uint32_t local_minute_of_day(int64_t unix_s);

// A token bucket in bytes: `rate` bytes per second, holding at most `burst` bytes. Takes
// may drive it below zero (a transfer hands over what it already has); callers pause while
// it is negative, so that the long-run rate is the configured one.
class TokenBucket {
public:
    TokenBucket(double rate_bytes_per_s, double burst_bytes, int64_t now_us);
    void refill(int64_t now_us);
    void take(uint64_t bytes) { tokens_ -= static_cast<double>(bytes); }
    bool open() const { return tokens_ >= 0; }
    double tokens() const { return tokens_; }
    bool unlimited() const { return rate_ <= 0; }

private:
    double rate_, burst_, tokens_;
    int64_t last_us_;
};

// The manifest is the wire module's message (wire/manifest.h): the fill only reads it.
using wire::Manifest;
using wire::safe_path;
using wire::Source;
using wire::source_kind_name;
using wire::SourceKind;
using wire::WantedFile;

} // namespace vcdn::fill
