#pragma once
// BIRD 2's control socket (the protocol birdc speaks): a command per line; the reply is lines
// "CCCC-text" (more follows), "CCCC text" (the last line; 0xxx success, 8xxx/9xxx error) and
// " text" (continuing the previous code). The edge reads its BGP sessions (`show protocols
// all`) and the routes each one has learned (`show route all protocol NAME`) this way: no
// config file parsing, the daemon's own view.
//
// The parsers are pure and take text in any chunking; BirdClient does the socket.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <vcdn/base/result.h>
#include <vcdn/wire/routes.h>

namespace vcdn::bgp {

struct Session {
    std::string name;      // the BIRD protocol's name
    std::string state;     // BIRD's protocol state: up, start, down, ...
    std::string bgp_state; // Established, Active, Connect, Passive, Idle, ...
    std::string since;     // as BIRD prints it (its timeformat)
    std::string neighbor;  // neighbour address
    uint32_t neighbor_as = 0;
    uint64_t routes = 0;           // imported, all channels
    uint64_t import_updates = 0;   // received, all channels (changes when routes change)
    uint64_t import_withdraws = 0; // received, all channels
    std::string info;              // the Info column ("Established", an error text)

    bool established() const { return bgp_state == "Established"; }
};

// One reply line, split.
struct ReplyLine {
    int code = 0;
    bool last = false;
    std::string_view text;
};
// Splits raw reply text into lines; a line without a code continues the previous code.
// Returns false on a line that is neither.
bool split_reply_line(std::string_view raw, int prev_code, ReplyLine* out);

// `show protocols all`: the BGP protocols (other kinds are skipped).
std::vector<Session> parse_protocols(const std::vector<ReplyLine>& lines);

// `show route all ...`, line by line: calls `on_route` for each complete route.
struct LearnedRoute {
    io::IpPrefix prefix;
    std::string protocol;
    bool primary = false; // BIRD's best route for the prefix
    wire::RouteAttrs attrs;
};
class RouteParser {
public:
    explicit RouteParser(std::function<void(LearnedRoute&&)> on_route)
        : on_route_(std::move(on_route)) {}
    void line(const ReplyLine& l);
    void finish();                                // after the reply's last line
    uint64_t skipped() const { return skipped_; } // route lines whose network is not an IP prefix

private:
    void flush();
    std::function<void(LearnedRoute&&)> on_route_;
    LearnedRoute cur_;
    bool have_ = false;
    bool have_prefix_ = false;
    io::IpPrefix last_prefix_;
    std::string last_attr_; // for wrapped attribute lines
    uint64_t skipped_ = 0;
};

class BirdClient {
public:
    ~BirdClient();
    // Connects and reads the greeting ("0001 BIRD 2.x ready.").
    static Result<std::unique_ptr<BirdClient>> connect(const std::string& socket_path,
                                                       int timeout_ms);
    const std::string& version() const { return version_; }
    Result<std::vector<Session>> sessions();
    // Every route the protocol has imported. Memory: one route at a time.
    Status routes(const std::string& protocol, const std::function<void(LearnedRoute&&)>& fn);
    // Sends `cmd` and hands each reply line to `fn`; an 8xxx/9xxx reply is the error.
    Status command(std::string_view cmd, const std::function<void(const ReplyLine&)>& fn);

private:
    BirdClient() = default;
    Result<bool> read_more();
    int fd_ = -1;
    int timeout_ms_ = 5000;
    std::string buf_;
    size_t pos_ = 0;
    std::string version_;
};

} // namespace vcdn::bgp

namespace vcdn::bgp {

// `vcdn bgp-config`: a BIRD 2 config for an edge's BGP speaker. Passive sessions to the ISP's
// routers (they connect to the edge), import all, export nothing unless `announce` lists the
// edge's own service prefixes; no kernel protocol (the edge only listens, it never routes).
struct Neighbor {
    std::string name;    // protocol name (letters, digits, '_'); default isp1, isp2, ...
    std::string address; // the router's address
    uint32_t as = 0;
};
struct BirdConfigSpec {
    std::string router_id; // an IPv4 address
    uint32_t local_as = 0;
    std::string local_address; // optional: the address the sessions use (and bind to)
    uint16_t port = 179;
    bool multihop = false;    // routers not directly connected (and loopback tests)
    bool strict_bind = false; // several BIRDs on one host, each on its own address
    std::vector<Neighbor> neighbors;
    std::vector<std::string> announce; // prefixes the edge announces (its service address)
    std::string log = "syslog";        // "syslog", "stderr" or a file path
};
Result<std::string> bird_config(const BirdConfigSpec& spec);

} // namespace vcdn::bgp
