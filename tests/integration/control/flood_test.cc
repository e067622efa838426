// The control plane under attack from anonymous clients: bodies that used to freeze a thread
// (an array of objects for the quadratic parse, 8 MiB behind a made-up Authorization header,
// a megabyte of '['), and floods of steering, QoE reports and event queries from other
// addresses. Each is answered 4xx in
// bounded time while a trusted front end's steering and an edge's heartbeats go on at their
// usual latency (measured: p50/p99 before and during, printed and bounded loosely so that
// only a stall fails).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "control_fixture.h"

namespace vcdn::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// `n` steering requests on one keep-alive connection from the trusted front end; latencies.
std::vector<double> steer_latencies(uint16_t port, int n) {
    std::vector<double> out;
    UniqueFd fd = connect_to(port);
    std::string carry;
    for (int i = 0; i < n; ++i) {
        const auto t0 = Clock::now();
        if (!send_all(fd.get(), get_request("/api/v1/steer?file=/t/1/v-235k.mp4&client=10.1.2.3")))
            break;
        RawResponse r = read_response(fd.get(), &carry);
        if (!r.ok || r.head.status != 200) {
            ADD_FAILURE() << "steering failed during the attack: " << r.head.status << " "
                          << r.error;
            break;
        }
        out.push_back(ms_since(t0));
    }
    return out;
}

uint64_t metric(uint16_t port, const std::string& name) {
    ApiReply r = api(port, "GET", "/metrics", "", kAdminToken);
    const size_t p = r.body.find("\n" + name + " ");
    return p == std::string::npos ? 0 : std::stoull(r.body.substr(p + name.size() + 2));
}

// Sends `request` pipelined 16 at a time on one connection from `source` for at most 4 s (or
// until `stop`), giving every answer's status to `seen`; returns when the server closes.
template <class Seen>
void pipelined_flood(uint16_t port, const std::string& source, const std::string& request,
                     const std::atomic<bool>& stop, Seen seen) {
    UniqueFd fd = connect_to(port, "127.0.0.1", 5000, source);
    std::string carry, batch;
    for (int k = 0; k < 16; ++k)
        batch += request;
    const auto end = Clock::now() + std::chrono::seconds(4);
    while (!stop && Clock::now() < end) {
        if (!send_all(fd.get(), batch)) break;
        for (int k = 0; k < 16; ++k) {
            RawResponse r = read_response(fd.get(), &carry);
            if (!r.ok) return;
            seen(r.head.status);
        }
    }
}

// The public listener's per-address rate in this test (see below).
constexpr int kRate = 25;

TEST(Flood, AnonymousAttacksAreAnsweredInBoundedTimeWhileSteeringAndHeartbeatsGoOn) {
    TempDir work;
    write_file(work / "fleet.toml", fleet_toml());
    ControlProcess control;
    // Only 127.0.0.1 is a front end here: the attackers come from 127.0.5.x. Down after a
    // second without a heartbeat (five intervals): the edge, the attackers and the control
    // plane share two cores, and one late beat of a starved edge is not the control plane
    // failing under the attack.
    // The per-address rate is set low (25/s, a burst of 50, per API thread) so that the QoE
    // flood from one address passes it even on a slow, shared CI machine (there it got 288
    // answers in the attack's 2 s, under the default's burst of 400, and was never refused).
    // Attacks 1 and 2 send 40 and 80 requests over the attack's ~2 s, spread over the API
    // threads: mostly under it, and a 429 is an answer they accept.
    ASSERT_TRUE(control.start(work.path(), "sqlite:" + work / "control.db", work / "fleet.toml",
                              fmt::format("[control.limits]\ntrusted = [\"127.0.0.1/32\"]\n"
                                          "public_requests_per_s = {}\n",
                                          kRate) +
                                  "[control.health]\nheartbeat_interval_ms = 200\n"
                                  "missed_heartbeats = 5\n"))
        << control.proc.stderr_text();
    ASSERT_EQ(
        control.call("POST", "/api/v1/catalog", read_file(shared_root() + "/catalog.json")).status,
        200);
    ControlledEdge a1;
    ASSERT_TRUE(a1.start(shared_root(), work.path(), control.port, "a1")) << a1.proc.stderr_text();
    ASSERT_EQ(control.wait_edge_state("a1", "up", 5000)["state"], "up");
    for (int i = 0; i < 100; ++i) { // the inventory reaches steering
        ApiReply s =
            control.call("GET", "/api/v1/steer?file=/t/1/v-235k.mp4&client=10.1.2.3", "", false);
        if (s.json["urls"].size() >= 2) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const std::vector<double> before = steer_latencies(control.port, 300);

    std::atomic<bool> stop{false};
    std::atomic<int> answered{0}, wrong{0};
    std::atomic<int64_t> slowest_us{0};
    auto note = [&](const RawResponse& r, std::initializer_list<uint16_t> want,
                    Clock::time_point t0) {
        const int64_t us =
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
        int64_t cur = slowest_us.load();
        while (us > cur && !slowest_us.compare_exchange_weak(cur, us)) {
        }
        ++answered;
        if (!r.ok || std::find(want.begin(), want.end(), r.head.status) == want.end()) {
            ++wrong;
            ADD_FAILURE() << "answered " << r.head.status << " " << r.error << ": " << r.body;
        }
    };
    std::vector<std::thread> attackers;
    // 1. 8 MiB behind a made-up token: refused on the head (only the head and a little of
    //    the body are sent: a server that waited for the rest would never answer).
    attackers.emplace_back([&] {
        for (int i = 0; i < 40 && !stop; ++i) {
            UniqueFd fd = connect_to(control.port, "127.0.0.1", 5000, "127.0.5.1");
            const auto t0 = Clock::now();
            send_all(fd.get(), "POST /api/v1/qoe HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer "
                               "made-up\r\nContent-Length: 8388608\r\n\r\n" +
                                   std::string(65536, '['));
            std::string carry;
            note(read_response(fd.get(), &carry, false, 15000), {413, 429}, t0);
        }
    });
    // 2. The quadratic shape: a megabyte of small objects, and a megabyte of '['.
    const std::string objects = "{\"samples\":[" + [] {
        std::string s;
        while (s.size() < 1000000)
            s += "{},";
        s.pop_back();
        return s;
    }() + "]}";
    const std::string deep(1000000, '[');
    for (const std::string* body : {&objects, &deep})
        attackers.emplace_back([&, body] {
            for (int i = 0; i < 40 && !stop; ++i) {
                UniqueFd fd = connect_to(control.port, "127.0.0.1", 5000, "127.0.5.2");
                const auto t0 = Clock::now();
                send_all(fd.get(),
                         fmt::format("POST /api/v1/qoe HTTP/1.1\r\nHost: c\r\nContent-Length: "
                                     "{}\r\n\r\n",
                                     body->size()) +
                             *body);
                std::string carry;
                note(read_response(fd.get(), &carry, false, 15000), {400, 413, 429}, t0);
            }
        });
    // 3. A steering flood from other addresses, pipelined, as fast as they go.
    std::atomic<int> flood_ok{0}, flood_limited{0};
    for (int t = 0; t < 2; ++t)
        attackers.emplace_back([&, t] {
            pipelined_flood(control.port, fmt::format("127.0.5.{}", 10 + t),
                            get_request("/api/v1/steer?file=/t/1/v-235k.mp4&client=10.1.2.3"), stop,
                            [&](uint16_t status) {
                                if (status == 200) ++flood_ok;
                                if (status == 429) ++flood_limited;
                            });
        });

    // 4. Valid QoE reports and anonymous event queries, pipelined, from two more addresses:
    //    limited to the per-address rate like steering; QoE counts only for edges of the
    //    fleet (a made-up edge grows nothing), and events need a token.
    std::atomic<int> qoe_ok{0}, qoe_limited{0}, events_refused{0}, events_other{0};
    const std::string qoe_body =
        R"({"samples":[{"edge":"a1","file":"/t/1/v-235k.mp4","startup_ms":100,"stalls":0},)"
        R"({"edge":"made-up-edge","stalls":1000}]})";
    attackers.emplace_back([&] {
        std::string batch;
        for (int k = 0; k < 16; ++k)
            batch += fmt::format("POST /api/v1/qoe HTTP/1.1\r\nHost: c\r\nContent-Length: "
                                 "{}\r\n\r\n{}",
                                 qoe_body.size(), qoe_body);
        // A refusal may close the connection: connect again, for as long as the attack lasts.
        const auto end = Clock::now() + std::chrono::seconds(4);
        for (int conns = 0; conns < 10000 && !stop && Clock::now() < end; ++conns) {
            UniqueFd fd = connect_to(control.port, "127.0.0.1", 5000, "127.0.5.20");
            std::string carry;
            bool open = true;
            while (open && !stop && Clock::now() < end) {
                if (!send_all(fd.get(), batch)) break;
                for (int k = 0; k < 16 && open; ++k) {
                    RawResponse r = read_response(fd.get(), &carry);
                    open = r.ok;
                    if (r.head.status == 200) ++qoe_ok;
                    if (r.head.status == 429) ++qoe_limited;
                }
            }
        }
    });
    attackers.emplace_back([&] {
        pipelined_flood(control.port, "127.0.5.21", get_request("/api/v1/events?edge=a1"), stop,
                        [&](uint16_t status) {
                            if (status == 401 || status == 429)
                                ++events_refused;
                            else
                                ++events_other;
                        });
    });

    const uint64_t beats0 = metric(control.port, "vcdn_control_heartbeats_total");
    const auto attack_t0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(200)); // the attack is under way
    const std::vector<double> during = steer_latencies(control.port, 300);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    const double attack_ms = ms_since(attack_t0);
    const uint64_t beats = metric(control.port, "vcdn_control_heartbeats_total") - beats0;
    stop = true;
    for (auto& t : attackers)
        t.join();

    const double p50b = percentile(before, 0.5), p99b = percentile(before, 0.99);
    const double p50d = percentile(during, 0.5), p99d = percentile(during, 0.99);
    std::printf("steering from the front end, ms: before p50 %.3f p99 %.3f; during the attack "
                "p50 %.3f p99 %.3f\nattack requests answered: %d (slowest %.1f ms); flood: %d "
                "answered, %d refused 429; heartbeats in %.1f s: %llu\n",
                p50b, p99b, p50d, p99d, answered.load(), slowest_us.load() / 1000.0,
                flood_ok.load(), flood_limited.load(), attack_ms / 1000,
                static_cast<unsigned long long>(beats));
    ASSERT_EQ(during.size(), 300u);
    EXPECT_GT(answered.load(), 40);
    EXPECT_EQ(wrong.load(), 0);
    // Bounded: no request of the attack takes many seconds (the old parse took minutes). This
    // is wall time, sending a megabyte included, on two cores shared with the attack and with
    // another test: here the slowest takes 0.1-0.3 s, and on a slow CI run 1.3 s (release);
    // ASan costs several times more (0.9 s here).
#if defined(__SANITIZE_ADDRESS__)
    constexpr int64_t kSlowestUs = 8000000;
#else
    constexpr int64_t kSlowestUs = 4000000;
#endif
    EXPECT_LT(slowest_us.load(), kSlowestUs);
    // The flood is cut to the per-address rate and the rest refused: per address and API
    // thread, a burst of 2 * kRate and kRate a second for the flood's 4 s at most.
    const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const int per_address = threads * (2 * kRate + 4 * kRate);
    EXPECT_GT(flood_limited.load(), 0);
    EXPECT_LE(flood_ok.load(), 2 * per_address);
    // The front end's steering keeps its latency (a stall would be seconds). Under the
    // sanitizers the attack's parsing costs several times more CPU on the same two cores, and
    // a steering answer can wait behind one (measured there: p99 419 ms, with the slowest
    // attack request answered in 883 ms).
#if defined(__SANITIZE_ADDRESS__)
    constexpr double kSteerP99Ms = 1000;
#else
    constexpr double kSteerP99Ms = 250;
#endif
    EXPECT_LT(p99d, kSteerP99Ms);
    // The edge's heartbeats went on (every 200 ms) and it never went down: no gap of a
    // second. The count is bounded loosely (a quarter of the beats due): on CI this test
    // shares the two cores with another test as well as the attack, and a starved edge sent
    // 3 in 1.9 s while it stayed up.
    EXPECT_GE(beats, static_cast<uint64_t>(attack_ms / 200 / 4));
    EXPECT_EQ(control.call("GET", "/api/v1/edges/a1", "", false).json["state"], "up");
    const json events = control.call("GET", "/api/v1/events?edge=a1").json["events"];
    EXPECT_FALSE(events.empty()) << "at least its coming up";
    for (const json& e : events)
        EXPECT_NE(e["state"], "down") << e.dump();
    EXPECT_GT(
        metric(control.port, "vcdn_control_refused_total{listener=\"public\",reason=\"rate\"}"),
        0u);
    std::printf("qoe flood: %d answered, %d refused 429; anonymous events: %d refused, %d other\n",
                qoe_ok.load(), qoe_limited.load(), events_refused.load(), events_other.load());
    EXPECT_GT(qoe_limited.load(), 0);
    EXPECT_LE(qoe_ok.load(), per_address) << "the per-address rate, per API thread";
    EXPECT_GT(events_refused.load(), 0);
    EXPECT_EQ(events_other.load(), 0) << "events are for the admin token only";
    // Each accepted report counted one sample (a1's), none for the made-up edge.
    json dash = control.call("GET", "/api/v1/dashboard").json;
    EXPECT_EQ(dash["qoe"]["samples"].get<int>(), qoe_ok.load()) << dash["qoe"].dump();
}

} // namespace
} // namespace vcdn::test
