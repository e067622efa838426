#include <cstdio>
#include <fstream>
#include <memory>

#include <vcdn/bgp/bird.h>

#include "commands.h"

namespace vcdn::app {

namespace {
struct BgpFlags {
    bgp::BirdConfigSpec spec;
    std::vector<std::string> neighbors;
    std::string out;
};
} // namespace

Runner add_bgp_config(CLI::App& app) {
    auto f = std::make_shared<BgpFlags>();
    CLI::App* cmd = app.add_subcommand(
        "bgp-config",
        "Write a BIRD 2 config for an edge's BGP speaker: passive sessions to the ISP's routers, "
        "import all, export nothing (or --announce the edge's own prefix). Run BIRD with it and "
        "give the edge its control socket (vcdn edge --bird-socket PATH).");
    cmd->add_option("--router-id", f->spec.router_id, "BGP router id (an IPv4 address)")
        ->required();
    cmd->add_option("--local-as", f->spec.local_as, "The edge's AS number")->required();
    cmd->add_option("--neighbor", f->neighbors,
                    "An ISP router: ADDRESS:AS or NAME=ADDRESS:AS (repeatable; IPv6 in "
                    "brackets: [2001:db8::1]:65001)")
        ->required();
    cmd->add_option("--local-address", f->spec.local_address,
                    "The edge's address for the sessions");
    cmd->add_option("--port", f->spec.port, "BGP port")->capture_default_str();
    cmd->add_flag("--multihop", f->spec.multihop, "Routers are not on a directly connected link");
    cmd->add_flag("--strict-bind", f->spec.strict_bind,
                  "Listen only on --local-address (several BIRDs on one host)");
    cmd->add_option("--announce", f->spec.announce,
                    "A prefix of the edge's own to announce to the routers (repeatable)");
    cmd->add_option("--log", f->spec.log, "syslog, stderr, or a file")->capture_default_str();
    cmd->add_option("--out", f->out, "Write here instead of stdout");
    cmd->footer("Example: vcdn bgp-config --router-id 10.0.0.5 --local-as 65010 --neighbor "
                "10.0.0.1:65001 --out /etc/bird/bird.conf; bird -c /etc/bird/bird.conf -s "
                "/run/bird/bird.ctl; vcdn edge ... --bird-socket /run/bird/bird.ctl");
    return [f]() -> int {
        for (const std::string& n : f->neighbors) {
            bgp::Neighbor nb;
            std::string rest = n;
            if (auto eq = rest.find('='); eq != std::string::npos) {
                nb.name = rest.substr(0, eq);
                rest = rest.substr(eq + 1);
            }
            const size_t colon = rest.rfind(':');
            if (colon == std::string::npos) {
                std::fprintf(stderr, "vcdn bgp-config: --neighbor '%s': expected ADDRESS:AS\n",
                             n.c_str());
                return 2;
            }
            nb.address = rest.substr(0, colon);
            if (nb.address.size() > 2 && nb.address.front() == '[' && nb.address.back() == ']')
                nb.address = nb.address.substr(1, nb.address.size() - 2);
            const std::string as = rest.substr(colon + 1);
            char* end = nullptr;
            const unsigned long long v = std::strtoull(as.c_str(), &end, 10);
            if (as.empty() || *end != '\0' || v == 0 || v > 4294967295ULL) {
                std::fprintf(stderr, "vcdn bgp-config: --neighbor '%s': AS must be 1-4294967295\n",
                             n.c_str());
                return 2;
            }
            nb.as = static_cast<uint32_t>(v);
            f->spec.neighbors.push_back(nb);
        }
        auto text = bgp::bird_config(f->spec);
        if (!text) {
            std::fprintf(stderr, "vcdn bgp-config: %s\n", text.error().message.c_str());
            return 2;
        }
        if (f->out.empty()) {
            std::fputs(text->c_str(), stdout);
            return 0;
        }
        std::ofstream o(f->out, std::ios::trunc);
        o << *text;
        o.close();
        if (!o) {
            std::fprintf(stderr, "vcdn bgp-config: cannot write %s\n", f->out.c_str());
            return 1;
        }
        return 0;
    };
}

} // namespace vcdn::app
