// libFuzzer target: request-target decoding and normalisation.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include <vcdn/http/target.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace vcdn::http;
    std::vector<char> in(data, data + size);
    std::vector<char> out(64);
    Target t;
    TargetError e =
        parse_target(std::string_view(in.data(), in.size()), out.data(), out.size(), &t);
    if (e == TargetError::kNone) {
        if (t.path.size() > out.size()) abort();
        for (size_t i = 0; i < t.path.size(); ++i)
            if (t.path[i] == '\0') abort();
        size_t start = 0;
        while (start <= t.path.size() && !t.path.empty()) {
            size_t end = t.path.find('/', start);
            std::string_view seg = t.path.substr(
                start, end == std::string_view::npos ? std::string_view::npos : end - start);
            if (seg.empty() || seg.front() == '.') abort(); // no "", ".", "..", dot-files
            if (end == std::string_view::npos) break;
            start = end + 1;
        }
    }
    return 0;
}
