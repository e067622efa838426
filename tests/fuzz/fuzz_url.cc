// libFuzzer target: the one URL parser (http/url.h) that configs, fleet files, manifests and
// steering answers go through. A parsed URL has a host and a port, and writes back as a URL
// that parses to the same thing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <vcdn/http/url.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace vcdn::http;
    auto u = parse_url(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!u) return 0;
    if (u->host.empty() || u->port == 0) abort();
    if (!u->path.empty() && u->path[0] != '/') abort();
    auto again = parse_url(u->to_string());
    if (!again || !(*again == *u)) abort();
    return 0;
}
