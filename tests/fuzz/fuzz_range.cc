// libFuzzer target: Range decisions are always inside the file.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <vcdn/http/conditional.h>
#include <vcdn/http/date.h>
#include <vcdn/http/range.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace vcdn::http;
    if (size < 8) return 0;
    uint64_t file_size;
    std::memcpy(&file_size, data, 8);
    file_size %= (1ULL << 42);
    std::string_view header(reinterpret_cast<const char*>(data + 8), size - 8);
    RangeDecision d = decide_range(header, file_size);
    if (d.outcome == RangeOutcome::kPartial) {
        if (d.range.first > d.range.last || d.range.last >= file_size) abort();
    }
    // A leading space sends any header down the general path: the one-pass path for
    // "bytes=a-b" must decide exactly as it does.
    if (header.size() < 256) {
        char spaced[257];
        spaced[0] = ' ';
        std::memcpy(spaced + 1, header.data(), header.size());
        RangeDecision g = decide_range(std::string_view(spaced, header.size() + 1), file_size);
        if (g.outcome != d.outcome) abort();
        if (d.outcome == RangeOutcome::kPartial &&
            (g.range.first != d.range.first || g.range.last != d.range.last))
            abort();
    }
    // The validators code takes the same untrusted text.
    (void)parse_http_date(header);
    (void)etag_list_matches(header, "\"1-2\"", true);
    (void)if_range_allows(header, Validators{"\"1-2\"", 5});
    return 0;
}
