// libFuzzer target: a QoE report, which anyone may post to the control plane (wire/qoe.h).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <vcdn/wire/qoe.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace vcdn::wire;
    auto r = decode_qoe(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!r) return 0;
    if (r->samples.size() > kMaxQoeSamples) abort();
    QoeReport known = *r;
    known.schema = kQoeSchema;
    auto again = decode_qoe(encode(known));
    if (!again) abort();
    again->schema = r->schema;
    if (!(*again == *r)) abort();
    return 0;
}
