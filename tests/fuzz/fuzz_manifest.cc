// libFuzzer target: the manifest an edge fetches from the control plane (wire/manifest.h).
// Whatever arrives, the decoder answers with an error or a manifest whose paths are safe to
// create under a content root and whose sources are http(s) base URLs; a decoded manifest
// encodes and decodes to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <vcdn/wire/manifest.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace vcdn::wire;
    auto m = decode_manifest(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!m) return 0;
    for (const WantedFile& f : m->files) {
        if (!safe_path(f.path) || f.sha256.size() != 64) abort();
        for (const Source& s : f.sources)
            if (!base_url(s.url)) abort();
    }
    auto again = decode_manifest(encode(*m));
    if (!again || !(*again == *m)) abort();
    return 0;
}
