// The HTTP service core on a real socket: blocking routes run on the worker pool, so that a
// slow handler (a database call) holds up neither the loop nor other clients, answers on one
// connection stay in order, and a full queue is refused at once.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fmt/format.h>
#include <future>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <vcdn/io/http_service.h>

#include "raw_client.h"

namespace vcdn::io {
namespace {

using Clock = std::chrono::steady_clock;
using test::fetch;
using test::RawResponse;

std::string get(std::string_view path) {
    return fmt::format("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", path);
}

struct Service {
    std::unique_ptr<HttpService> http;
    std::atomic<int> slow_running{0};
    std::atomic<bool> release{false};
    uint16_t port = 0;
    explicit Service(HttpServiceOptions o) {
        auto r = std::make_shared<Router>(json_error_answer);
        r->get("/fast", [](const ApiRequest&) {
            return ApiResponse{200, "text/plain", "fast", ""};
        });
        r->add(
            http::Method::kGet, "/slow/{n}",
            [this](const ApiRequest& q) {
                ++slow_running;
                for (int i = 0; i < 500 && !release.load(); ++i)
                    std::this_thread::sleep_for(std::chrono::milliseconds(10));
                --slow_running;
                return ApiResponse{200, "text/plain", "slow " + std::string(q.param(0)), ""};
            },
            Router::kDefaultMaxBody, {}, true);
        auto h = HttpService::listen(*parse_socket_address("127.0.0.1:0"), r, o, "t");
        EXPECT_TRUE(h) << h.error().message;
        http = std::move(*h);
        port = http->address().port();
        http->start();
    }
    ~Service() {
        release = true;
        http->stop();
    }
};

TEST(HttpServiceBlocking, ASlowHandlerHoldsUpNeitherTheLoopNorOtherClients) {
    HttpServiceOptions o;
    o.threads = 1; // one loop: an inline slow handler would stop everything
    o.blocking_threads = 2;
    Service s(o);
    auto slow = std::async(std::launch::async, [&] { return fetch(s.port, get("/slow/1")); });
    for (int i = 0; i < 200 && s.slow_running.load() == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(s.slow_running.load(), 1);
    // While it works, the same loop answers other clients.
    for (int i = 0; i < 20; ++i) {
        RawResponse r = fetch(s.port, get("/fast"));
        EXPECT_EQ(r.head.status, 200);
        EXPECT_EQ(r.body, "fast");
    }
    EXPECT_EQ(s.slow_running.load(), 1) << "the slow handler finished before the fast answers";
    s.release = true;
    RawResponse r = slow.get();
    EXPECT_EQ(r.head.status, 200);
    EXPECT_EQ(r.body, "slow 1");
}

TEST(HttpServiceBlocking, PipelinedAnswersStayInOrder) {
    HttpServiceOptions o;
    o.threads = 1;
    o.blocking_threads = 2;
    Service s(o);
    s.release = true;
    // slow, fast, slow on one connection: answered in that order.
    UniqueFd fd = test::connect_to(s.port);
    ASSERT_TRUE(test::send_all(fd.get(), get("/slow/a") + get("/fast") + get("/slow/b")));
    std::string carry;
    for (const char* want : {"slow a", "fast", "slow b"}) {
        RawResponse r = test::read_response(fd.get(), &carry);
        EXPECT_EQ(r.head.status, 200);
        EXPECT_EQ(r.body, want);
    }
}

TEST(HttpServiceBlocking, AFullQueueIsRefusedAtOnce) {
    HttpServiceOptions o;
    o.threads = 1;
    o.blocking_threads = 1;
    o.blocking_queue = 1;
    Service s(o);
    // One running, one queued: the third is refused without waiting.
    auto a = std::async(std::launch::async, [&] { return fetch(s.port, get("/slow/1")); });
    for (int i = 0; i < 200 && s.slow_running.load() == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(s.slow_running.load(), 1);
    auto b = std::async(std::launch::async, [&] { return fetch(s.port, get("/slow/2")); });
    for (int i = 0; i < 400 && s.http->blocking_waiting() == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(s.http->blocking_waiting(), 1u) << "the second request never queued";
    const auto t0 = Clock::now();
    RawResponse c = fetch(s.port, get("/slow/3"));
    EXPECT_EQ(c.head.status, 503);
    EXPECT_NE(c.body.find("busy"), std::string::npos);
    EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
    EXPECT_EQ(s.http->busy_refusals(), 1u);
    s.release = true;
    EXPECT_EQ(a.get().head.status, 200);
    EXPECT_EQ(b.get().head.status, 200);
}

TEST(HttpServiceBlocking, AnAnswerForAClosedConnectionIsDropped) {
    HttpServiceOptions o;
    o.threads = 1;
    o.blocking_threads = 1;
    Service s(o);
    {
        // Ask and hang up before the answer.
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(s.port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        const std::string q = get("/slow/x");
        ASSERT_EQ(::write(fd, q.data(), q.size()), static_cast<ssize_t>(q.size()));
        for (int i = 0; i < 200 && s.slow_running.load() == 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        ::close(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    s.release = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    // The service goes on: a new connection (likely the same fd number) gets its own answer.
    RawResponse r = fetch(s.port, get("/fast"));
    EXPECT_EQ(r.head.status, 200);
    EXPECT_EQ(r.body, "fast");
}

TEST(HttpServiceLimits, PerAddressRateAndConnectionsWithExemptFrontEnds) {
    HttpServiceOptions o;
    o.threads = 1;
    o.per_client.requests_per_s = 5;
    o.per_client.burst = 5;
    o.per_client.connections = 2;
    o.per_client.exempt = {*IpPrefix::parse("127.0.0.2/32")};
    Service s(o);
    // One keep-alive connection: the burst passes, then 429 with Retry-After; the connection
    // stays usable.
    UniqueFd fd = test::connect_to(s.port);
    std::string carry;
    int ok = 0, limited = 0;
    const auto t0 = Clock::now();
    for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(test::send_all(fd.get(), get("/fast")));
        RawResponse r = test::read_response(fd.get(), &carry);
        ASSERT_TRUE(r.ok) << r.error;
        if (r.head.status == 200) ++ok;
        if (r.head.status == 429) {
            ++limited;
            EXPECT_EQ(r.header("Retry-After"), "1");
        }
    }
    // The bucket refills at 5 a second: a machine slow enough to take 200 ms over the ten
    // requests earns one more.
    const double took_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const int refilled = static_cast<int>(took_s * 5);
    EXPECT_GE(ok, 5);
    EXPECT_LE(ok, 5 + refilled);
    EXPECT_EQ(ok + limited, 10);
    EXPECT_GE(limited, 5 - refilled);
    EXPECT_EQ(s.http->client_rate_refusals(), static_cast<uint64_t>(limited));
    // Two connections at once from one address; the third is refused.
    UniqueFd second = test::connect_to(s.port);
    UniqueFd third = test::connect_to(s.port);
    RawResponse r = test::read_response(third.get(), &carry);
    EXPECT_EQ(r.head.status, 429);
    EXPECT_EQ(s.http->client_connection_refusals(), 1u);
    // An exempt front end has neither limit.
    UniqueFd f1 = test::connect_to(s.port, "127.0.0.1", 5000, "127.0.0.2");
    std::string c2;
    for (int i = 0; i < 20; ++i) {
        ASSERT_TRUE(test::send_all(f1.get(), get("/fast")));
        EXPECT_EQ(test::read_response(f1.get(), &c2).head.status, 200) << i;
    }
}

} // namespace
} // namespace vcdn::io
