// Microbenchmarks of the per-request pure code: request parsing, target normalisation,
// range decision and response-head writing. Run: build/bench/bench_http
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include <vcdn/edge/response_plan.h>
#include <vcdn/edge/served.h>
#include <vcdn/http/range.h>
#include <vcdn/http/request_parser.h>
#include <vcdn/http/target.h>

namespace {

const std::string kRequest =
    "GET /t/1042/v-3000k.mp4 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
    "Range: bytes=1048576-1150975\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n";

void BM_ParseRequest(benchmark::State& st) {
    vcdn::http::ParseLimits lim;
    for (auto _ : st) {
        vcdn::http::Request r;
        vcdn::http::ScanState scan;
        auto res = vcdn::http::parse_request(kRequest.data(), kRequest.size(), lim, &scan, &r);
        benchmark::DoNotOptimize(res);
        benchmark::DoNotOptimize(r);
    }
    st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * kRequest.size()));
}
BENCHMARK(BM_ParseRequest);

void BM_ParseTarget(benchmark::State& st) {
    char buf[256];
    for (auto _ : st) {
        vcdn::http::Target t;
        auto e = vcdn::http::parse_target("/t/1042/v-3000k.mp4?e=1&k=2", buf, sizeof buf, &t);
        benchmark::DoNotOptimize(e);
        benchmark::DoNotOptimize(t);
    }
}
BENCHMARK(BM_ParseTarget);

void BM_DecideRange(benchmark::State& st) {
    for (auto _ : st) {
        auto d = vcdn::http::decide_range("bytes=1048576-1150975", 22500000);
        benchmark::DoNotOptimize(d);
    }
}
BENCHMARK(BM_DecideRange);

void BM_WriteFileHead(benchmark::State& st) {
    char buf[768];
    vcdn::edge::FileMeta f{22500000, 1700000000, "\"6553f100-1574ba0\"",
                           "Tue, 14 Nov 2023 22:13:20 GMT", "video/mp4"};
    vcdn::edge::Plan p;
    p.status = 206;
    p.partial = true;
    p.offset = 1048576;
    p.length = 102400;
    vcdn::edge::HeadContext ctx{"Sun, 06 Nov 1994 08:49:37 GMT", true, false, ""};
    for (auto _ : st) {
        size_t n = vcdn::edge::write_file_head(buf, sizeof buf, p, f, ctx);
        benchmark::DoNotOptimize(n);
        benchmark::DoNotOptimize(buf);
    }
}
BENCHMARK(BM_WriteFileHead);

// What CORS adds to a request: parse its head (a browser's carries `Origin`), pick the CORS
// lines and write the 206 head with them. Arg: 0 no Origin, "*" policy (the default); 1 Origin,
// "*"; 2 Origin, an allow-list that echoes it (with Vary: Origin); 3 CORS off, no Origin.
void BM_RequestHeadWithCors(benchmark::State& st) {
    const int mode = static_cast<int>(st.range(0));
    const std::string req = mode == 0 || mode == 3 ? kRequest
                                                   : kRequest.substr(0, kRequest.size() - 2) +
                                                         "Origin: https://player.example\r\n\r\n";
    const vcdn::edge::CorsPolicy policy = vcdn::edge::make_cors_policy(
        mode != 3,
        mode == 2 ? std::vector<std::string>{"https://other.example", "https://player.example"}
                  : std::vector<std::string>{"*"},
        false, 86400, {"Range", "If-Range"});
    vcdn::http::ParseLimits lim;
    vcdn::edge::FileMeta f{22500000, 1700000000, "\"6553f100-1574ba0\"",
                           "Tue, 14 Nov 2023 22:13:20 GMT", "video/mp4"};
    vcdn::edge::Plan p;
    p.status = 206;
    p.partial = true;
    p.offset = 1048576;
    p.length = 102400;
    char head[768], cors[512];
    for (auto _ : st) {
        vcdn::http::Request r;
        vcdn::http::ScanState scan;
        auto res = vcdn::http::parse_request(req.data(), req.size(), lim, &scan, &r);
        benchmark::DoNotOptimize(res);
        vcdn::edge::HeadContext ctx{
            "Sun, 06 Nov 1994 08:49:37 GMT", true, false, "",
            policy.enabled ? vcdn::edge::cors_lines(policy, r.origin, cors, sizeof cors)
                           : std::string_view()};
        size_t n = vcdn::edge::write_file_head(head, sizeof head, p, f, ctx);
        benchmark::DoNotOptimize(n);
        benchmark::DoNotOptimize(head);
    }
}
BENCHMARK(BM_RequestHeadWithCors)->Arg(3)->Arg(0)->Arg(1)->Arg(2);

} // namespace

// The per-response cost of counting what was served (edge/served.h): one lock and one hash
// lookup of (path, client /24), for a worker that sees `range(0)` files × 256 client networks
// (the heartbeat takes the tally every second; here it fills and stays full).
void BM_ServedTallyAdd(benchmark::State& st) {
    const size_t files = static_cast<size_t>(st.range(0));
    std::vector<std::string> paths;
    for (size_t i = 0; i < files; ++i)
        paths.push_back("t/" + std::to_string(1000 + i) + "/v-3000k.mp4");
    std::vector<vcdn::io::IpAddress> clients;
    for (int i = 0; i < 256; ++i)
        clients.push_back(*vcdn::io::IpAddress::parse("198.51." + std::to_string(i) + ".7"));
    vcdn::edge::ServedTally tally;
    size_t i = 0;
    for (auto _ : st) {
        tally.add(paths[i % files], clients[(i / files) % clients.size()], 102400);
        ++i;
    }
    benchmark::DoNotOptimize(tally.size());
}
BENCHMARK(BM_ServedTallyAdd)->Arg(10)->Arg(1000);

BENCHMARK_MAIN();
