#include <vcdn/io/tcp.h>

#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <random>
#include <sstream>
#include <sys/resource.h>
#include <sys/socket.h>

namespace vcdn::io {

Result<UniqueFd> listen_tcp(const SocketAddress& addr, const ListenOptions& opt) {
    UniqueFd fd(::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return Error::from_errno("socket");
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (opt.reuse_port && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        return Error::from_errno("setsockopt SO_REUSEPORT");
    if (addr.family() == AF_INET6)
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (opt.nodelay) ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!opt.congestion_control.empty() &&
        ::setsockopt(fd.get(), IPPROTO_TCP, TCP_CONGESTION, opt.congestion_control.data(),
                     static_cast<socklen_t>(opt.congestion_control.size())) != 0)
        return Error::from_errno("setsockopt TCP_CONGESTION " + opt.congestion_control);
    if (opt.notsent_lowat > 0 && ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NOTSENT_LOWAT,
                                              &opt.notsent_lowat, sizeof opt.notsent_lowat) != 0)
        return Error::from_errno("setsockopt TCP_NOTSENT_LOWAT");
    // Accepted sockets are clones of the listener and keep its pacing cap; TCP paces by itself
    // (no fq qdisc needed) since Linux 4.13.
    if (opt.max_pacing_rate > 0) {
        const unsigned long rate = opt.max_pacing_rate;
        if (::setsockopt(fd.get(), SOL_SOCKET, SO_MAX_PACING_RATE, &rate, sizeof rate) != 0)
            return Error::from_errno("setsockopt SO_MAX_PACING_RATE");
    }
    if (opt.defer_accept) {
        // The worker is woken only once the request's first bytes are there, which saves a
        // wake-up per connection and keeps idle connectors out of the worker entirely.
        int secs = 5;
        ::setsockopt(fd.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs);
    }
    if (::bind(fd.get(), addr.sa(), addr.len) != 0)
        return Error::from_errno("bind " + addr.to_string());
    if (::listen(fd.get(), opt.backlog) != 0)
        return Error::from_errno("listen " + addr.to_string());
    return fd;
}

namespace {

// True if nothing at all is bound to 127.0.0.1:port (no SO_REUSEADDR, so even a socket in
// TIME_WAIT counts as taken). With port 0, *port becomes the kernel's choice.
bool loopback_port_free(uint16_t* port) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(*port);
    socklen_t len = sizeof a;
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
        return false;
    *port = ntohs(a.sin_port);
    return true;
}

} // namespace

uint16_t pick_free_loopback_port() {
    unsigned ephemeral_low = 32768;
    {
        std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
        unsigned lo = 0, hi = 0;
        if (in >> lo >> hi && lo > 0) ephemeral_low = lo;
    }
    constexpr unsigned kLowest = 10000; // clear of well-known and registered daemons' ports
    if (ephemeral_low > kLowest + 1000) {
        static thread_local std::mt19937 rng(std::random_device{}());
        std::uniform_int_distribution<unsigned> pick(kLowest, ephemeral_low - 1);
        for (int i = 0; i < 64; ++i) {
            uint16_t p = static_cast<uint16_t>(pick(rng));
            if (loopback_port_free(&p)) return p;
        }
    }
    uint16_t p = 0;
    return loopback_port_free(&p) ? p : 0;
}

Result<SocketAddress> local_address(int fd) {
    SocketAddress a;
    a.len = sizeof a.storage;
    if (::getsockname(fd, a.sa(), &a.len) != 0) return Error::from_errno("getsockname");
    return a;
}

std::string available_congestion_controls() {
    std::ifstream in("/proc/sys/net/ipv4/tcp_available_congestion_control");
    std::string s;
    std::getline(in, s);
    return s;
}

bool congestion_control_available(const std::string& name) {
    std::istringstream ss(available_congestion_controls());
    std::string w;
    while (ss >> w)
        if (w == name) return true;
    return false;
}

std::string resolve_congestion_control(const std::string& configured) {
    if (configured == "auto") return congestion_control_available("bbr") ? "bbr" : "";
    return configured;
}

uint64_t raise_nofile_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
        ::getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur;
}

} // namespace vcdn::io
