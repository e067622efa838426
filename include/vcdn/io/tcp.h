#pragma once
// TCP and socket helpers. Linux specifics live here, each with a comment saying why.
#include <cstdint>
#include <string>
#include <vector>

#include <vcdn/base/result.h>
#include <vcdn/base/unique_fd.h>
#include <vcdn/io/address.h>

namespace vcdn::io {

struct ListenOptions {
    int backlog = 4096;
    bool reuse_port = true;
    bool defer_accept = true;
    std::string congestion_control; // empty: system default
    uint32_t notsent_lowat = 0;     // 0: leave alone
    uint64_t max_pacing_rate = 0;   // SO_MAX_PACING_RATE in bytes/s per connection; 0: none
    bool nodelay = true;
};

// A TCP port on 127.0.0.1 that was free a moment ago (to name addresses before a process
// binds them: fleet files, tests). Racy by nature, so it is drawn at random from below the
// kernel's ephemeral range (net.ipv4.ip_local_port_range): a port that the kernel hands to
// someone else's bind(port 0) or outgoing connection in the meantime can't be taken there.
// Falls back to a kernel-chosen port when that range leaves no room; 0 on failure.
uint16_t pick_free_loopback_port();

// Creates a non-blocking listening socket. Options that accepted sockets inherit from the
// listener (TCP_CONGESTION, TCP_NOTSENT_LOWAT, TCP_NODELAY) are set here once instead of on
// every accepted connection, saving a system call per connection.
Result<UniqueFd> listen_tcp(const SocketAddress& addr, const ListenOptions& opt);

// A process's listening sockets on one address: `count` sockets in one SO_REUSEPORT group
// (port 0: the first bind picks the port), for its own threads. SO_REUSEPORT lets any process
// of the same user join a group, and the kernel then splits new connections between them
// silently (a second edge on a taken port served 6 of 10 requests from the wrong root): so an
// address where another process already listens — or joins while this one binds — is an error,
// "<address>: Address already in use (held by pid <pid> (<command>))", the holder as far as
// /proc tells. `count` 1 with reuse_port off binds plainly (the kernel refuses a taken address
// by itself; the message is the same).
Result<std::vector<UniqueFd>> listen_group(const SocketAddress& addr, unsigned count,
                                           const ListenOptions& opt);

// Who else listens on `addr` (TCP, LISTEN state; an address of any kind on the same port when
// either is the wildcard), leaving out the sockets whose inodes are in `ours`: "pid 123 (vcdn
// edge --root /srv)" or "another process" when its owner cannot be found; empty when nobody.
std::string other_listener(const SocketAddress& addr, const std::vector<uint64_t>& ours);

// The bound address of a socket (to learn the port chosen for port 0).
Result<SocketAddress> local_address(int fd);

bool congestion_control_available(const std::string& name);
std::string available_congestion_controls();
// "auto" → "bbr" when available, else "" (system default).
std::string resolve_congestion_control(const std::string& configured);

// Raises RLIMIT_NOFILE's soft limit to its hard limit and returns the result.
uint64_t raise_nofile_limit();

} // namespace vcdn::io
