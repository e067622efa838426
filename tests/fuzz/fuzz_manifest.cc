// libFuzzer target: the manifest an edge fetches from the control plane. Whatever arrives,
// the parser answers with an error or a manifest whose paths are safe to create under a
// content root and whose sources are http(s) base URLs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <vcdn/fill/fill.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace vcdn::fill;
    auto m = parse_manifest(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!m) return 0;
    for (const WantedFile& f : m->files) {
        if (!safe_path(f.path) || f.sha256.size() != 64) abort();
        for (const Source& s : f.sources)
            if (s.url.rfind("http://", 0) != 0 && s.url.rfind("https://", 0) != 0) abort();
    }
    return 0;
}
