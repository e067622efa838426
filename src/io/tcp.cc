#include <vcdn/io/tcp.h>

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <random>
#include <sstream>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

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

namespace {

// One LISTEN socket of /proc/net/tcp or tcp6: its local address (network order bytes), port
// and inode.
struct ProcListener {
    int family = 0;
    uint8_t addr[16] = {};
    uint16_t port = 0;
    uint64_t inode = 0;
};

// /proc/net/tcp prints each 32-bit word of the address in host order (little-endian here).
bool parse_proc_address(std::string_view hex, int family, uint8_t* out) {
    const size_t words = family == AF_INET ? 1 : 4;
    if (hex.size() != words * 8) return false;
    for (size_t w = 0; w < words; ++w) {
        const uint32_t v = static_cast<uint32_t>(
            std::strtoul(std::string(hex.substr(w * 8, 8)).c_str(), nullptr, 16));
        std::memcpy(out + w * 4, &v, 4);
    }
    return true;
}

std::vector<ProcListener> proc_listeners(uint16_t port) {
    std::vector<ProcListener> out;
    for (const auto& [path, family] :
         {std::pair{"/proc/net/tcp", AF_INET}, std::pair{"/proc/net/tcp6", AF_INET6}}) {
        std::ifstream in(path);
        std::string line;
        std::getline(in, line); // the header
        while (std::getline(in, line)) {
            std::istringstream ls(line);
            std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
            if (!(ls >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >>
                  timeout >> inode))
                continue;
            if (state != "0A") continue; // TCP_LISTEN
            const size_t colon = local.find(':');
            if (colon == std::string::npos) continue;
            ProcListener l;
            l.family = family;
            l.port = static_cast<uint16_t>(std::strtoul(local.c_str() + colon + 1, nullptr, 16));
            if (l.port != port || !parse_proc_address(local.substr(0, colon), family, l.addr))
                continue;
            l.inode = std::strtoull(inode.c_str(), nullptr, 10);
            out.push_back(l);
        }
    }
    return out;
}

bool all_zero(const uint8_t* b, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (b[i]) return false;
    return true;
}

// The process holding socket `inode`: "pid N (its command line, shortened)"; empty if none of
// the processes this one may look into holds it.
std::string owner_of(uint64_t inode) {
    const std::string want = fmt::format("socket:[{}]", inode);
    DIR* proc = ::opendir("/proc");
    if (!proc) return {};
    std::string found;
    while (dirent* d = ::readdir(proc)) {
        if (d->d_name[0] < '1' || d->d_name[0] > '9') continue;
        const std::string fds = fmt::format("/proc/{}/fd", d->d_name);
        DIR* fdir = ::opendir(fds.c_str());
        if (!fdir) continue;
        while (dirent* f = ::readdir(fdir)) {
            if (f->d_name[0] == '.') continue;
            char target[64];
            const ssize_t n = ::readlinkat(::dirfd(fdir), f->d_name, target, sizeof target - 1);
            if (n <= 0 || std::string_view(target, static_cast<size_t>(n)) != want) continue;
            std::ifstream cmd(fmt::format("/proc/{}/cmdline", d->d_name), std::ios::binary);
            std::string argv((std::istreambuf_iterator<char>(cmd)), {});
            for (char& c : argv)
                if (c == '\0') c = ' ';
            while (!argv.empty() && argv.back() == ' ')
                argv.pop_back();
            if (argv.size() > 80) argv = argv.substr(0, 77) + "...";
            found = fmt::format("pid {} ({})", d->d_name, argv);
            break;
        }
        ::closedir(fdir);
        if (!found.empty()) break;
    }
    ::closedir(proc);
    return found;
}

} // namespace

std::string other_listener(const SocketAddress& addr, const std::vector<uint64_t>& ours) {
    const uint16_t port = addr.port();
    if (port == 0) return {};
    uint8_t want[16] = {};
    const sockaddr* sa = addr.sa();
    const int family = addr.family();
    if (family == AF_INET)
        std::memcpy(want, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, 4);
    else
        std::memcpy(want, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, 16);
    const size_t n = family == AF_INET ? 4 : 16;
    const bool want_any = all_zero(want, n);
    for (const ProcListener& l : proc_listeners(port)) {
        if (std::find(ours.begin(), ours.end(), l.inode) != ours.end()) continue;
        const size_t ln = l.family == AF_INET ? 4 : 16;
        const bool their_any = all_zero(l.addr, ln);
        // Overlap: the same address, or a wildcard on either side (an IPv6 wildcard may take
        // IPv4 too, unless it is v6-only, which /proc does not say: counted as taking it).
        const bool same = l.family == family && std::memcmp(l.addr, want, n) == 0;
        const bool wild = (their_any && (l.family == family || l.family == AF_INET6)) ||
                          (want_any && (l.family == family || family == AF_INET6));
        if (!same && !wild) continue;
        std::string who = owner_of(l.inode);
        return who.empty() ? "another process" : who;
    }
    return {};
}

Result<std::vector<UniqueFd>> listen_group(const SocketAddress& addr, unsigned count,
                                           const ListenOptions& opt) {
    if (count == 0) count = 1;
    auto in_use = [](const SocketAddress& a, const std::string& who) {
        return Error{fmt::format("{}: Address already in use{}", a.to_string(),
                                 who.empty() ? "" : " (held by " + who + ")"),
                     EADDRINUSE};
    };
    if (opt.reuse_port)
        if (std::string who = other_listener(addr, {}); !who.empty()) return in_use(addr, who);
    std::vector<UniqueFd> fds;
    SocketAddress at = addr;
    for (unsigned i = 0; i < count; ++i) {
        auto fd = listen_tcp(at, opt);
        if (!fd) {
            if (fd.error().sys_errno != EADDRINUSE) return fd.error();
            return in_use(at, other_listener(at, {}));
        }
        if (i == 0) {
            auto bound = local_address(fd->get());
            if (!bound) return bound.error();
            at = *bound; // the others join the port the first one got
        }
        fds.push_back(std::move(*fd));
    }
    if (opt.reuse_port) {
        // Someone who joined the group between the check and our binds: not ours to share.
        std::vector<uint64_t> ours;
        for (const UniqueFd& fd : fds) {
            struct stat st {};
            if (::fstat(fd.get(), &st) == 0) ours.push_back(st.st_ino);
        }
        if (std::string who = other_listener(at, ours); !who.empty()) return in_use(at, who);
    }
    return fds;
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
