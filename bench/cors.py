#!/usr/bin/env python3
"""CORS on the edge's hot path: the same edge serving random 100 KiB ranges to wrk with and
without an `Origin` header on every request (what a web player's fetch sends), with the default
`[edge.cors]` (any origin: `Access-Control-Allow-Origin: *` and the Expose-Headers on every
answer) and with an allow-list (the origin matched and echoed, `Vary: Origin`), at 100 and
1,000 connections, access log off. Every configuration runs in each of several interleaved
rounds; medians, as ratios of GB sent per server CPU-second (the load generator shares the 2
cores, so requests/s is the client's bound).

    scripts/setup --bench && scripts/build && bench/cors.py      # ~8 minutes
Then the isolated cost of the code CORS touches per request (bench_http, nanoseconds), as a
share of a request's whole CPU: the steadier figure on a machine whose wall-clock ratios wander
by several percent between runs. (The whole request path is counted per merge by
scripts/perf-guard, under valgrind.)
Writes its section into bench/RESULTS.md (replacing an earlier one).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
sys.path.insert(0, BENCH)
import benchlib  # noqa: E402

MARK_BEGIN = "<!-- cors: begin -->"
MARK_END = "<!-- cors: end -->"


def head_costs(bench_http):
    """ns per request for parsing the head, choosing the CORS lines and writing the 206 head
    (bench_http's BM_RequestHeadWithCors, median of 5 repetitions): {arg: ns}."""
    out = subprocess.run([bench_http, "--benchmark_filter=RequestHeadWithCors", "--benchmark_repetitions=5",
                          "--benchmark_report_aggregates_only=true", "--benchmark_format=json"],
                         capture_output=True, text=True, timeout=300)
    costs = {}
    for b in json.loads(out.stdout)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            costs[int(b["run_name"].split("/")[1])] = b["cpu_time"]
    return costs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--titles", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="1 round of 4 s")
    ap.add_argument("--out", default=os.path.join(BENCH, "RESULTS.md"))
    ap.add_argument("--vcdn", default=os.path.join(ROOT, "build", "vcdn"))
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    ap.add_argument("--bench-http", default=os.path.join(ROOT, "build", "bench", "bench_http"))
    args = ap.parse_args()
    if args.quick:
        args.duration, args.reps = 4, 1
    work = tempfile.mkdtemp(prefix="vcdn-cors-")
    root = os.path.join(work, "catalog")
    subprocess.run([args.vcdn, "catalog", "make", "--out", root, "--titles", str(args.titles),
                    "--seconds", "60", "--quiet"], check=True, stdout=subprocess.DEVNULL)
    files = os.path.join(work, "files.txt")
    total = 0
    with open(os.path.join(root, "catalog.json")) as f, open(files, "w") as out:
        for e in json.load(f)["files"]:
            out.write(f"{e['path']} {e['size']}\n")
            total += e["size"]
    for dirpath, _, names in os.walk(root):  # hot page cache
        for n in names:
            with open(os.path.join(dirpath, n), "rb") as f:
                while f.read(1 << 22):
                    pass
    listed = os.path.join(work, "listed.toml")
    with open(listed, "w") as f:
        f.write('[edge.cors]\nallow_origins = ["https://player.example", "https://other.example"]\n')
    servers = []
    for name, extra in (("any-origin", []), ("allow-list", ["--config", listed])):
        port = benchlib.free_port()
        servers.append(benchlib.Server(name, [args.vcdn, "edge", *extra, "--root", root, "--listen",
                                              f"127.0.0.1:{port}", "--access-log", "off"], port))
    results = {}
    try:
        for rep in range(args.reps):
            for conns in (100, 1000):
                cells = [(s, script) for s in servers for script in ("ranges.lua", "ranges_origin.lua")]
                k = rep % len(cells)
                for s, script in cells[k:] + cells[:k]:
                    r = benchlib.run_wrk(args.wrk, s, script, conns, files, args.duration)
                    results.setdefault((s.name, conns, script), []).append(r)
                    print(f"{s.name:10} c={conns:<4} {'Origin' if 'origin' in script else 'none  '} "
                          f"{r['rps']:9.0f} req/s {r['gbps']:6.2f} Gbit/s cpu {r['cpu_s']:5.2f} s "
                          f"{r['gb_per_cpu_s']:5.2f} GB/cpu-s p99 {r['p99_us'] / 1000:6.2f} ms "
                          f"errors {r['errors'] + r['non2xx']}", flush=True)
    finally:
        for s in servers:
            s.stop()
    costs = head_costs(args.bench_http) if os.path.exists(args.bench_http) else {}
    med = lambda rows, key: statistics.median(r[key] for r in rows)  # noqa: E731
    lines = [MARK_BEGIN, "", "## CORS on the hot path (`bench/cors.py`)", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; reproduce with `bench/cors.py`. "
             f"One edge per CORS configuration (default: any origin; an allow-list of 2 origins), "
             f"{total / 1e9:.2f} GB of files in the page cache, random 100 KiB ranges, access log off, wrk "
             f"on the same 2 cores; requests with and without `Origin: https://player.example`; "
             f"{args.reps} interleaved rounds of {args.duration} s per cell, medians.", "",
             "| `[edge.cors]` | conns | Origin | req/s | GB/CPU-s | p99 ms | with / without Origin (GB/CPU-s) |",
             "|---|---|---|---|---|---|---|"]
    for s in servers:
        for conns in (100, 1000):
            plain = results[(s.name, conns, "ranges.lua")]
            origin = results[(s.name, conns, "ranges_origin.lua")]
            for label, rows in (("none", plain), ("yes", origin)):
                ratio = (f"**{med(origin, 'gb_per_cpu_s') / med(plain, 'gb_per_cpu_s'):.3f}x**"
                         if label == "yes" else "")
                lines.append(f"| {s.name} | {conns} | {label} | {med(rows, 'rps'):,.0f} | "
                             f"{med(rows, 'gb_per_cpu_s'):.2f} | {med(rows, 'p99_us') / 1000:.2f} | {ratio} |")
    if costs:
        # A request's whole CPU cost at the measured rate (the any-origin edge, 100 conns).
        per_req_ns = 1e9 / statistics.median(
            r["requests"] / r["cpu_s"] for r in results[("any-origin", 100, "ranges.lua")])
        lines += ["", "What CORS adds to the code of one request, isolated: parsing the head (a browser's "
                  "carries `Origin`), choosing the CORS lines and writing the 206 head "
                  "(`build/bench/bench_http --benchmark_filter=RequestHeadWithCors`, median of 5), against "
                  f"the {per_req_ns / 1000:.1f} µs of server CPU a whole 100 KiB range request costs above:", "",
                  "| case | ns per request head | added vs CORS off | share of a request's CPU |",
                  "|---|---|---|---|"]
        for arg, label in ((3, "CORS off, no Origin"), (0, "any origin, no Origin"),
                           (1, "any origin, Origin"), (2, "allow-list, Origin echoed + Vary")):
            if arg in costs:
                added = costs[arg] - costs.get(3, costs[arg])
                lines.append(f"| {label} | {costs[arg]:.0f} | {added:+.0f} ns | {added / per_req_ns * 100:.2f}% |")
    lines += ["", MARK_END]
    benchlib.write_section(args.out, MARK_BEGIN, MARK_END, "\n".join(lines) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
