// libFuzzer target: the query-string helpers of the control plane's API (steering requests
// carry ?file=...&client=... from anyone).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <vcdn/http/query.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace vcdn::http;
    const std::string in(reinterpret_cast<const char*>(data), size);
    const std::string_view q(in);
    for (std::string_view key : {"file", "client", "limit", "edge", ""}) {
        std::string_view v;
        if (query_param(q, key, &v)) {
            // The value is a slice of the query.
            if (v.data() < q.data() || v.data() + v.size() > q.data() + q.size()) abort();
            std::string decoded;
            if (url_decode(v, &decoded) && decoded.size() > v.size()) abort();
        }
    }
    std::string decoded;
    if (url_decode(q, &decoded)) {
        if (decoded.size() > q.size()) abort();
        // Without escapes or '+', decoding is the identity.
        if (q.find_first_of("%+") == std::string_view::npos && decoded != q) abort();
    }
    return 0;
}
