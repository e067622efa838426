// The watcher against a fake BIRD on a Unix socket: it bounds the table a router can fill.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

#include <vcdn/bgp/watcher.h>

namespace vcdn::bgp {
namespace {

// Answers BIRD's greeting, `show protocols all` (one established session) and `show route`
// (the routes given), one client at a time, until destroyed.
class FakeBird {
public:
    explicit FakeBird(std::string routes) : routes_(std::move(routes)) {
        path_ = "/tmp/vcdn-fakebird-" + std::to_string(::getpid()) + ".ctl";
        ::unlink(path_.c_str());
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path_.c_str());
        EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        EXPECT_EQ(::listen(fd_, 4), 0);
        thread_ = std::thread([this] { serve(); });
    }
    ~FakeBird() {
        stop_ = true;
        ::shutdown(fd_, SHUT_RDWR);
        thread_.join();
        ::close(fd_);
        ::unlink(path_.c_str());
    }
    const std::string& path() const { return path_; }

private:
    void serve() {
        while (!stop_) {
            const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) return;
            send_all(c, "0001 BIRD 2.0.12 ready.\n");
            std::string in;
            char buf[4096];
            for (;;) {
                const ssize_t n = ::recv(c, buf, sizeof buf, 0);
                if (n <= 0) break;
                in.append(buf, static_cast<size_t>(n));
                for (size_t nl; (nl = in.find('\n')) != std::string::npos; in.erase(0, nl + 1)) {
                    const std::string cmd = in.substr(0, nl);
                    if (cmd == "show protocols all")
                        send_all(c, "2002-Name       Proto      Table      State  Since  Info\n"
                                    "1002-isp1       BGP        ---        up     07:13:51  "
                                    "Established\n"
                                    "1006-  BGP state:          Established\n"
                                    "     Neighbor address: 127.0.0.2\n"
                                    "     Neighbor AS:      65001\n"
                                    "   Channel ipv4\n"
                                    "     Routes:         3 imported, 0 exported, 3 preferred\n"
                                    "0000 \n");
                    else if (cmd.rfind("show route all protocol ", 0) == 0)
                        send_all(c, routes_);
                    else
                        send_all(c, "9001 syntax error\n");
                }
            }
            ::close(c);
        }
    }
    static void send_all(int c, const std::string& s) {
        size_t off = 0;
        while (off < s.size()) {
            const ssize_t n = ::send(c, s.data() + off, s.size() - off, MSG_NOSIGNAL);
            if (n <= 0) return;
            off += static_cast<size_t>(n);
        }
    }
    std::string routes_, path_;
    int fd_ = -1;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

std::string route(const std::string& prefix) {
    return "1007-" + prefix +
           "  blackhole [isp1 07:13:52.113 from 127.0.0.2] * (100/?) [AS65001i]\n" +
           "1008-\tType: BGP univ\n1012-\tBGP.as_path: 65001\n";
}

TEST(Watcher, KeepsAtMostTheLimitOfPrefixesAndSaysHowManyItLeftOut) {
    FakeBird bird("1007-Table master4:\n" + route("10.1.0.0/16") + route("10.2.0.0/16") +
                  route("10.3.0.0/16") + route("10.1.0.0/16") + "0000 \n");
    WatcherConfig cfg;
    cfg.socket = bird.path();
    cfg.timeout_ms = 2000;
    cfg.max_routes = 2;
    auto w_owner = std::make_unique<Watcher>(cfg);
    Watcher& w = *w_owner;
    w.poll_once();
    auto s = w.snapshot();
    ASSERT_TRUE(s->connected) << s->error;
    EXPECT_EQ(s->table->size(), 2u);
    EXPECT_EQ(s->table->count(*io::IpPrefix::parse("10.1.0.0/16")), 1u);
    EXPECT_EQ(s->table->count(*io::IpPrefix::parse("10.2.0.0/16")), 1u);
    EXPECT_EQ(s->over_limit, 1u); // 10.3.0.0/16; the second 10.1.0.0/16 is a known prefix
    EXPECT_EQ(s->digest, wire::table_digest(*s->table));
    EXPECT_NE(s->error.find("1 prefixes over the limit of 2"), std::string::npos) << s->error;
    PromText m;
    w.metrics(m);
    EXPECT_NE(m.text().find("vcdn_bgp_routes_over_limit 1"), std::string::npos) << m.text();
    w_owner.reset(); // the fake BIRD serves one client at a time
    // Within the limit: nothing is left out and no error is reported.
    cfg.max_routes = 3;
    Watcher w2(cfg);
    w2.poll_once();
    EXPECT_EQ(w2.snapshot()->table->size(), 3u);
    EXPECT_EQ(w2.snapshot()->over_limit, 0u);
    EXPECT_TRUE(w2.snapshot()->error.empty()) << w2.snapshot()->error;
}

} // namespace
} // namespace vcdn::bgp
