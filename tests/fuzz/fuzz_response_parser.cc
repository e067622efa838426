// libFuzzer target: the response-head parser used by vcdn's clients (fill, player, demo),
// which read bytes from servers that may be broken or hostile.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <vcdn/http/response_parser.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace vcdn::http;
    std::string in(reinterpret_cast<const char*>(data), size);
    ResponseHead h;
    std::string err;
    ResponseParse r = parse_response_head(in, &h, &err, 4096);
    if (r == ResponseParse::kComplete && (h.head_bytes > size || h.status < 100 || h.status > 999))
        abort();
    if (r == ResponseParse::kError && err.empty()) abort();
    return 0;
}
