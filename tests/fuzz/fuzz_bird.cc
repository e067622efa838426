// libFuzzer target: what the edge reads from BIRD's control socket (reply lines, `show
// protocols all`, `show route all`) and the stored form of a route table the control plane
// reads back. Whatever arrives, parsing ends, and every route that comes out is one the
// stored form can carry.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include <vcdn/bgp/bird.h>
#include <vcdn/wire/routes.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace vcdn::bgp;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<ReplyLine> lines;
    vcdn::wire::RouteMap table;
    RouteParser parser([&](LearnedRoute&& r) { table[r.prefix] = r.attrs; });
    int prev = 0;
    size_t start = 0;
    while (start < text.size()) {
        size_t nl = text.find('\n', start);
        if (nl == std::string_view::npos) nl = text.size();
        ReplyLine l;
        if (split_reply_line(text.substr(start, nl - start), prev, &l)) {
            prev = l.code;
            lines.push_back(l);
            parser.line(l);
        }
        start = nl + 1;
    }
    parser.finish();
    (void)parse_protocols(lines);
    // Communities from BIRD go into the stored form unchanged only when printable (and they
    // always start with '(': the parser keeps nothing else).
    vcdn::wire::RouteMap printable;
    for (const auto& [p, a] : table) {
        if (!a.communities.empty() && a.communities[0] != '(') abort();
        bool ok = a.communities.size() <= 4096;
        for (char c : a.communities)
            ok = ok && static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
        if (ok) printable[p] = a;
    }
    auto back = vcdn::wire::parse_serialised(serialise(printable));
    if (!back || back->size() != printable.size() ||
        vcdn::wire::table_digest(*back) != vcdn::wire::table_digest(printable))
        abort();
    (void)vcdn::wire::parse_serialised(text);
    return 0;
}
