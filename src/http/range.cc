#include <vcdn/http/range.h>

#include <algorithm>

#include <vcdn/base/strings.h>

namespace vcdn::http {
namespace {

enum class SpecKind { kInvalid, kSatisfiable, kUnsatisfiable };

// One range-spec: "a-b", "a-" or "-n".
SpecKind parse_spec(std::string_view spec, uint64_t size, ByteRange* out) {
    spec = trim_ows(spec);
    size_t dash = spec.find('-');
    if (dash == std::string_view::npos) return SpecKind::kInvalid;
    std::string_view a = spec.substr(0, dash);
    std::string_view b = spec.substr(dash + 1);
    uint64_t first = 0, last = 0;
    if (a.empty()) {
        // suffix-range: the last n bytes
        if (!parse_u64(b, &last)) {
            // All digits but too large is still a valid suffix covering the whole file.
            if (b.empty() || b.find_first_not_of("0123456789") != std::string_view::npos)
                return SpecKind::kInvalid;
            last = UINT64_MAX;
        }
        if (last == 0 || size == 0) return SpecKind::kUnsatisfiable;
        uint64_t n = std::min(last, size);
        *out = ByteRange{size - n, size - 1};
        return SpecKind::kSatisfiable;
    }
    if (!parse_u64(a, &first)) {
        if (a.find_first_not_of("0123456789") != std::string_view::npos) return SpecKind::kInvalid;
        return b.empty() || b.find_first_not_of("0123456789") == std::string_view::npos
                   ? SpecKind::kUnsatisfiable // a first-pos beyond 2^64 is past any end
                   : SpecKind::kInvalid;
    }
    if (b.empty()) {
        last = UINT64_MAX;
    } else if (!parse_u64(b, &last)) {
        if (b.find_first_not_of("0123456789") != std::string_view::npos) return SpecKind::kInvalid;
        last = UINT64_MAX;
    }
    if (last < first) return SpecKind::kInvalid;
    if (first >= size) return SpecKind::kUnsatisfiable;
    *out = ByteRange{first, std::min(last, size - 1)};
    return SpecKind::kSatisfiable;
}

} // namespace

namespace {
// The shape nearly every player sends, "bytes=FIRST-LAST" with nothing around it, read in one
// pass. Anything else (spaces, a suffix, an open end, a list, another unit's spelling) returns
// false and takes the general path below, which gives the same answer for this shape too.
bool simple_range(std::string_view h, uint64_t size, RangeDecision* out) {
    constexpr std::string_view kUnit = "bytes=";
    if (h.size() <= kUnit.size() || h.compare(0, kUnit.size(), kUnit) != 0) return false;
    const char* p = h.data() + kUnit.size();
    const char* end = h.data() + h.size();
    auto number = [&](uint64_t* v) {
        const char* from = p;
        *v = 0;
        for (; p < end && *p >= '0' && *p <= '9'; ++p)
            if (__builtin_mul_overflow(*v, 10, v) ||
                __builtin_add_overflow(*v, static_cast<uint64_t>(*p - '0'), v))
                return false;
        return p > from;
    };
    uint64_t first = 0, last = 0;
    if (!number(&first) || p == end || *p != '-') return false;
    ++p;
    if (!number(&last) || p != end) return false;
    if (last < first) return false; // invalid: the general path says so
    if (first >= size) return false;
    *out = RangeDecision{RangeOutcome::kPartial, ByteRange{first, std::min(last, size - 1)}};
    return true;
}
} // namespace

RangeDecision decide_range(std::string_view header, uint64_t size) {
    RangeDecision fast;
    if (simple_range(header, size, &fast)) return fast;
    RangeDecision full{RangeOutcome::kFull, {}};
    header = trim_ows(header);
    size_t eq = header.find('=');
    if (eq == std::string_view::npos) return full; // not a ranges-specifier we know: ignore
    if (!iequals(trim_ows(header.substr(0, eq)), "bytes")) return full; // unknown unit: ignore
    std::string_view set = header.substr(eq + 1);

    ByteRange ranges[kMaxRanges];
    int n_sat = 0;
    int n_specs = 0;
    while (true) {
        size_t comma = set.find(',');
        std::string_view spec = set.substr(0, comma);
        if (trim_ows(spec).empty()) {
            // Empty list elements are allowed by the list syntax, but not an empty set.
        } else {
            if (++n_specs > kMaxRanges) return RangeDecision{RangeOutcome::kUnsatisfiable, {}};
            ByteRange r;
            SpecKind k = parse_spec(spec, size, &r);
            if (k == SpecKind::kInvalid) return RangeDecision{RangeOutcome::kUnsatisfiable, {}};
            if (k == SpecKind::kSatisfiable) ranges[n_sat++] = r;
        }
        if (comma == std::string_view::npos) break;
        set.remove_prefix(comma + 1);
    }
    if (n_specs == 0 || n_sat == 0) return RangeDecision{RangeOutcome::kUnsatisfiable, {}};
    if (n_sat == 1) return RangeDecision{RangeOutcome::kPartial, ranges[0]};

    // Coalesce when the union is one contiguous run.
    std::sort(ranges, ranges + n_sat,
              [](const ByteRange& x, const ByteRange& y) { return x.first < y.first; });
    ByteRange u = ranges[0];
    for (int i = 1; i < n_sat; ++i) {
        if (ranges[i].first > u.last + 1) return full;
        u.last = std::max(u.last, ranges[i].last);
    }
    return RangeDecision{RangeOutcome::kPartial, u};
}

} // namespace vcdn::http
