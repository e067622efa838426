#include <cctype>
#include <fmt/format.h>

#include <vcdn/bgp/bird.h>

namespace vcdn::bgp {

namespace {
bool valid_name(const std::string& n) {
    if (n.empty() || n.size() > 32 || !std::isalpha(static_cast<unsigned char>(n[0]))) return false;
    for (char c : n)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
    return true;
}
} // namespace

Result<std::string> bird_config(const BirdConfigSpec& spec) {
    auto rid = io::IpAddress::parse(spec.router_id);
    if (!rid || rid->family != AF_INET)
        return Error{fmt::format("router id '{}': an IPv4 address", spec.router_id)};
    if (spec.local_as == 0) return Error{"local AS: a number from 1 to 4294967295"};
    if (spec.neighbors.empty()) return Error{"at least one neighbor (the ISP's router)"};
    if (spec.port == 0) return Error{"port: 1-65535"};
    if (!spec.local_address.empty()) {
        auto a = io::IpAddress::parse(spec.local_address);
        if (!a)
            return Error{
                fmt::format("local address '{}': {}", spec.local_address, a.error().message)};
    }
    if (spec.strict_bind && spec.local_address.empty())
        return Error{"strict bind needs a local address"};
    if (spec.log.empty() || spec.log.find_first_of("\"\n") != std::string::npos)
        return Error{"log: syslog, stderr or a file path without quotes"};
    std::vector<io::IpPrefix> v4, v6;
    for (const std::string& p : spec.announce) {
        auto pr = io::IpPrefix::parse(p);
        if (!pr) return Error{fmt::format("announce '{}': {}", p, pr.error().message)};
        (pr->addr.family == AF_INET ? v4 : v6).push_back(*pr);
    }
    std::string out;
    auto it = std::back_inserter(out);
    fmt::format_to(it,
                   "# BIRD 2 config for a vcdn edge's BGP speaker (written by `vcdn bgp-config`).\n"
                   "# The edge reads the routes over BIRD's control socket (vcdn edge "
                   "--bird-socket PATH):\n"
                   "# every prefix the ISP announces here is a client prefix this edge serves.\n");
    if (spec.log == "syslog" || spec.log == "stderr")
        fmt::format_to(it, "log {} all;\n", spec.log);
    else
        fmt::format_to(it, "log \"{}\" all;\n", spec.log);
    fmt::format_to(it, "router id {};\n", spec.router_id);
    out += "timeformat protocol iso long;\n"
           "timeformat route iso long;\n\n"
           "protocol device {}\n\n";
    if (spec.multihop) {
        // Routes from a multihop session carry next hops that are not on a local link. The
        // edge never forwards by them: a catch-all table makes every next hop resolvable so
        // that no route is held back as unreachable.
        out +=
            "# Next hops of multihop routes resolve through these (the edge never forwards).\n"
            "ipv4 table vcdn_nh4;\nipv6 table vcdn_nh6;\n"
            "protocol static vcdn_nh4s { ipv4 { table vcdn_nh4; }; route 0.0.0.0/0 blackhole; }\n"
            "protocol static vcdn_nh6s { ipv6 { table vcdn_nh6; }; route ::/0 blackhole; }\n\n";
    }
    if (!v4.empty() || !v6.empty()) {
        out += "# The edge's own service prefixes, announced to the ISP.\n";
        if (!v4.empty()) {
            out += "protocol static vcdn_announce4 {\n  ipv4;\n";
            for (const auto& p : v4)
                fmt::format_to(it, "  route {} blackhole;\n", p.to_string());
            out += "}\n";
        }
        if (!v6.empty()) {
            out += "protocol static vcdn_announce6 {\n  ipv6;\n";
            for (const auto& p : v6)
                fmt::format_to(it, "  route {} blackhole;\n", p.to_string());
            out += "}\n";
        }
        out += "\n";
    }
    auto export_filter = [&](bool v6fam) -> std::string {
        if ((v6fam ? v6 : v4).empty()) return "none";
        return fmt::format("where proto = \"vcdn_announce{}\"", v6fam ? 6 : 4);
    };
    std::vector<std::string> names;
    for (size_t i = 0; i < spec.neighbors.size(); ++i) {
        const Neighbor& n = spec.neighbors[i];
        const std::string name = n.name.empty() ? fmt::format("isp{}", i + 1) : n.name;
        if (!valid_name(name) || name.rfind("vcdn_", 0) == 0)
            return Error{fmt::format("neighbor name '{}': a letter, then letters, digits, '_' "
                                     "(not vcdn_...)",
                                     name)};
        for (const std::string& seen : names)
            if (seen == name) return Error{fmt::format("neighbor name '{}' twice", name)};
        names.push_back(name);
        auto addr = io::IpAddress::parse(n.address);
        if (!addr) return Error{fmt::format("neighbor '{}': {}", n.address, addr.error().message)};
        if (n.as == 0) return Error{fmt::format("neighbor {}: its AS is required", n.address)};
        fmt::format_to(it, "protocol bgp {} {{\n", name);
        fmt::format_to(it, "  description \"vcdn: client prefixes from {} AS{}\";\n",
                       addr->to_string(), n.as);
        if (spec.local_address.empty())
            fmt::format_to(it, "  local port {} as {};\n", spec.port, spec.local_as);
        else
            fmt::format_to(it, "  local {} port {} as {};\n", spec.local_address, spec.port,
                           spec.local_as);
        fmt::format_to(it, "  neighbor {} port {} as {};\n", addr->to_string(), spec.port, n.as);
        out += "  passive yes;  # the ISP's router connects to the edge\n";
        if (spec.multihop) out += "  multihop;\n";
        if (spec.strict_bind) out += "  strict bind yes;\n";
        fmt::format_to(it, "  ipv4 {{ import all; export {};{} }};\n", export_filter(false),
                       spec.multihop ? " igp table vcdn_nh4;" : "");
        fmt::format_to(it, "  ipv6 {{ import all; export {};{} }};\n", export_filter(true),
                       spec.multihop ? " igp table vcdn_nh6;" : "");
        out += "}\n\n";
    }
    return out;
}

} // namespace vcdn::bgp
