#!/usr/bin/env python3
"""Load generators side by side: `vcdn play --mode ranges` vs wrk (with bench/wrk/ranges.lua)
against the same vcdn edge: random 100 KiB ranges of the same catalog, keep-alive, the same
number of connections and threads. Reports requests/s and the client's own CPU per request
(from getrusage of the finished child), medians of interleaved rounds. The tool must be at
least as efficient as wrk so that it never is the bottleneck of a measurement.

    scripts/setup --bench && scripts/build && bench/play.py            # ~2 minutes
Writes its section of bench/RESULTS.md (or --out).
"""
import argparse
import json
import os
import resource
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
from benchlib import free_port  # noqa: E402


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vcdn", default=os.path.join(ROOT, "build", "vcdn"))
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(BENCH, "RESULTS.md"))
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="vcdn-play-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    edge = None
    try:
        root = os.path.join(work, "root")
        subprocess.run([args.vcdn, "catalog", "make", "--out", root, "--titles", "10", "--seconds", "60",
                        "--quiet"], check=True)
        cat = os.path.join(root, "catalog.json")
        files = os.path.join(work, "files.txt")
        with open(cat) as f, open(files, "w") as out:
            for e in json.load(f)["files"]:
                out.write(f"{e['path']} {e['size']}\n")
        port = free_port()
        edge = benchlib.Server("vcdn", [args.vcdn, "edge", "--root", root, "--listen", f"127.0.0.1:{port}",
                                        "--access-log", "off"], port)
        results = {"wrk": [], "vcdn play --mode ranges": []}
        for rnd in range(args.rounds):
            for tool in results:
                s0 = benchlib.cpu_seconds(edge.pids())
                c0 = child_cpu()
                if tool == "wrk":
                    out = subprocess.run(
                        [args.wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
                         "--timeout", "5s", "-s", os.path.join(BENCH, "wrk", "ranges.lua"),
                         f"http://127.0.0.1:{port}/", "--", files],
                        capture_output=True, text=True, timeout=args.duration + 60).stdout
                    r = benchlib.parse_wrk(out, "wrk", 0)
                    reqs, secs, errs = r["requests"], r["duration_us"] / 1e6, r["errors"] + r["non2xx"]
                else:
                    out = subprocess.run(
                        [args.vcdn, "play", "--mode", "ranges", "--target", f"http://127.0.0.1:{port}",
                         "--catalog", cat, "--connections", str(args.connections), "--threads",
                         str(args.threads), "--duration", str(args.duration)],
                        capture_output=True, text=True, timeout=args.duration + 60, check=True).stdout
                    r = json.loads(out.strip().splitlines()[-1])
                    reqs, secs, errs = r["requests"], r["duration_s"], r["errors"]
                cpu = child_cpu() - c0
                server_cpu = benchlib.cpu_seconds(edge.pids()) - s0
                results[tool].append({"rps": reqs / secs, "client_us": cpu * 1e6 / max(reqs, 1),
                                      "server_us": server_cpu * 1e6 / max(reqs, 1), "errors": errs})
                print(f"round {rnd + 1} {tool}: {reqs / secs:.0f} req/s, client {cpu * 1e6 / max(reqs, 1):.1f} "
                      f"us/request, errors {errs}", flush=True)
        med = {t: {k: statistics.median(x[k] for x in v) for k in ("rps", "client_us", "server_us")}
               for t, v in results.items()}
        w, p = med["wrk"], med["vcdn play --mode ranges"]
        lines = ["<!-- play: begin -->", "## Load generator: vcdn play --mode ranges vs wrk", "",
                 f"`bench/play.py --connections {args.connections} --threads {args.threads} --rounds "
                 f"{args.rounds}` on {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}: one vcdn edge "
                 "(2 workers, hot page cache on /dev/shm), random 100 KiB ranges of a 10-title catalog, "
                 f"{args.duration} s per run, interleaved rounds, medians. Client and server share the "
                 "two cores.", "",
                 "| client | requests/s | client CPU per request (us) | server CPU per request (us) |",
                 "|---|---:|---:|---:|"]
        for t, m in med.items():
            lines.append(f"| {t} | {m['rps']:.0f} | {m['client_us']:.1f} | {m['server_us']:.1f} |")
        lines += ["", f"vcdn play uses {p['client_us'] / w['client_us']:.2f}x the CPU per request of wrk "
                  f"(target: at most 1x) and drives {p['rps'] / w['rps']:.2f}x its requests/s.",
                  "<!-- play: end -->"]
        benchlib.write_section(args.out, "<!-- play: begin -->", "<!-- play: end -->", "\n".join(lines) + "\n")
    finally:
        if edge:
            edge.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
