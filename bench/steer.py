#!/usr/bin/env python3
"""Steering benchmark: `vcdn control` answering /api/v1/steer over HTTP, and the in-process
longest-prefix-match rate.

Set-up: a synthetic Internet table (bench/make_prefixes.py: 1M IPv4 + 200k IPv6 prefixes)
spread over 200 embedded sites (2 edges each) plus 4 exchange sites, applied through
POST /api/v1/fleet; a catalog of 2,000 files; one heartbeat per edge with its inventory
(each edge holds about half the files). Then wrk sends GET /api/v1/steer for random files
and random client addresses inside the table's prefixes (80% IPv4), keep-alive, for
`--duration` seconds, `--reps` times. Steering logging is off (a line per decision is for
operations, not for a throughput run). Then bench_lpm (Google Benchmark) on the same table.

    scripts/setup --bench && scripts/build && bench/steer.py     # ~3 minutes
Writes its section into bench/RESULTS.md (replacing an earlier one).
"""
import argparse
import http.client
import ipaddress
import json
import os
import random
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

MARK_BEGIN = "<!-- steer: begin -->"
MARK_END = "<!-- steer: end -->"
TOKEN = "bench-admin-token"


def call(port, method, path, body=None, token=TOKEN, timeout=300):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        headers["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=headers)
    r = c.getresponse()
    out = r.read()
    c.close()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {out[:300]!r}")
    return json.loads(out) if out else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--v4", type=int, default=1000000)
    ap.add_argument("--v6", type=int, default=200000)
    ap.add_argument("--sites", type=int, default=200)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="control API threads")
    ap.add_argument("--quick", action="store_true", help="100k prefixes, 1 short rep")
    ap.add_argument("--out", default=os.path.join(BENCH, "RESULTS.md"))
    ap.add_argument("--vcdn", default=os.path.join(ROOT, "build", "vcdn"))
    ap.add_argument("--bench-lpm", default=os.path.join(ROOT, "build", "bench", "bench_lpm"))
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    args = ap.parse_args()
    if args.quick:
        args.v4, args.v6, args.duration, args.reps = 100000, 20000, 4, 1
    rnd = random.Random(1)
    work = tempfile.mkdtemp(prefix="vcdn-steer-")
    prefixes_path = os.path.join(work, "prefixes.txt")
    t0 = time.time()
    subprocess.run([sys.executable, os.path.join(BENCH, "make_prefixes.py"), "--v4", str(args.v4), "--v6",
                    str(args.v6), "--seed", "1", "--out", prefixes_path], check=True)
    prefixes = open(prefixes_path).read().split()
    print(f"{len(prefixes)} prefixes made in {time.time() - t0:.1f} s", flush=True)

    # Fleet: prefixes dealt round-robin to embedded sites; exchanges serve everyone.
    sites = [{"name": f"isp-{i}", "tier": "embedded", "prefixes": [], "edge": []} for i in range(args.sites)]
    for i, p in enumerate(prefixes):
        sites[i % args.sites]["prefixes"].append(p)
    sites += [{"name": f"ix-{i}", "tier": "ix", "prefixes": [], "edge": []} for i in range(4)]
    edge_ids = []
    for s in sites:
        for k in range(2):
            eid = f"{s['name']}-e{k}"
            s["edge"].append({"id": eid, "url": f"http://127.0.0.1:{10000 + len(edge_ids)}",
                              "token": f"edge-token-0123-{eid}", "capacity_gbps": 100})
            edge_ids.append(eid)
    fleet = {"origin": {"url": "http://127.0.0.1:9"}, "site": sites}
    files = [f"/t/{i // 5 + 1}/v-{[235, 750, 1750, 3000, 5800][i % 5]}k.mp4" for i in range(args.files)]
    catalog = {"seed": 1, "files": [{"path": f, "size": 1000000, "sha256": "0" * 64, "title": i // 5 + 1,
                                     "bitrate_kbps": 235} for i, f in enumerate(files)]}
    clients_path = os.path.join(work, "clients.txt")
    with open(clients_path, "w") as out:
        for _ in range(100000):
            net = ipaddress.ip_network(prefixes[rnd.randrange(len(prefixes))])
            if net.version == 6 and rnd.random() < 0.8:  # 80% IPv4 clients
                net = ipaddress.ip_network(prefixes[rnd.randrange(min(args.v4, len(prefixes)))])
            host = int(net.network_address) + rnd.randrange(net.num_addresses)
            out.write(f"{ipaddress.ip_address(host)}\n")
    files_path = os.path.join(work, "files.txt")
    with open(files_path, "w") as out:
        out.write("\n".join(files) + "\n")

    port = benchlib.free_port()
    cfg = os.path.join(work, "control.toml")
    with open(cfg, "w") as f:
        f.write(f'[control]\nlisten = "127.0.0.1:{port}"\ndb = "sqlite:{work}/control.db"\n'
                f'admin_token = "{TOKEN}"\nsteering_log = "off"\nthreads = {args.threads}\n'
                '[control.health]\nheartbeat_interval_ms = 600000\nmissed_heartbeats = 10\n')
    server = benchlib.Server("vcdn-control", [args.vcdn, "control", "--config", cfg], port)
    results = {}
    try:
        t0 = time.time()
        call(port, "POST", "/api/v1/fleet", fleet)
        fleet_s = time.time() - t0
        print(f"fleet of {len(sites)} sites, {len(edge_ids)} edges, {len(prefixes)} prefixes applied in "
              f"{fleet_s:.1f} s", flush=True)
        call(port, "POST", "/api/v1/catalog", catalog)
        for eid in edge_ids:
            held = [f for f in files if rnd.random() < 0.5]
            call(port, "POST", f"/api/v1/edges/{eid}/heartbeat",
                 {"healthy": True, "load": {"gbps_out": 1}, "inventory": {"digest": "", "full": True, "added": held}},
                 token=f"edge-token-0123-{eid}")
        for _ in range(100):
            if all(e["state"] == "up" for e in call(port, "GET", "/api/v1/edges")["edges"]):
                break
            time.sleep(0.2)
        sample = call(port, "GET", f"/api/v1/steer?file={files[0]}&client={open(clients_path).readline().strip()}",
                      token="")
        print("sample answer:", json.dumps(sample)[:400], flush=True)
        rss_kib = int(next(l for l in open(f"/proc/{server.proc.pid}/status") if l.startswith("VmRSS")).split()[1])
        for rep in range(args.reps):
            cmd = [args.wrk, "-t2", f"-c{args.conns}", f"-d{args.duration}s", "--timeout", "5s", "--latency",
                   "-s", os.path.join(BENCH, "wrk", "steer.lua"), f"http://127.0.0.1:{port}/", "--",
                   clients_path, files_path]
            c0 = benchlib.cpu_seconds(server.pids())
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 60).stdout
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            r = benchlib.parse_wrk(out, "control", benchlib.cpu_seconds(server.pids()) - c0)
            r["client_cpu_s"] = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
            r["per_cpu_s"] = r["requests"] / r["cpu_s"] if r["cpu_s"] else 0
            results.setdefault("http", []).append(r)
            print(f"steer over HTTP: {r['rps']:9.0f} answers/s p50 {r['p50_us'] / 1000:6.2f} ms "
                  f"p99 {r['p99_us'] / 1000:6.2f} ms server cpu {r['cpu_s']:.2f} s ({r['per_cpu_s']:.0f} per cpu-s) "
                  f"wrk cpu {r['client_cpu_s']:.2f} s "
                  f"errors {r['errors'] + r['non2xx']}", flush=True)
    finally:
        server.stop()

    lpm = {}
    if os.path.exists(args.bench_lpm):
        env = dict(os.environ, VCDN_PREFIXES=prefixes_path)
        out = subprocess.run([args.bench_lpm, "--benchmark_format=json", "--benchmark_min_time=1"],
                             capture_output=True, text=True, env=env, timeout=600)
        try:
            for b in json.loads(out.stdout)["benchmarks"]:
                lpm[b["name"]] = b
        except (ValueError, KeyError):
            print("bench_lpm output not understood:\n" + out.stdout[-2000:] + out.stderr[-2000:], file=sys.stderr)
        for name, b in lpm.items():
            print(f"lpm {name}: {b.get('items_per_second', 0) / 1e6:.1f} M/s", flush=True)
    else:
        print(f"{args.bench_lpm} not built: skipping the in-process LPM rate", file=sys.stderr)
    report(args, results, lpm, len(prefixes), len(sites), len(edge_ids), fleet_s, rss_kib)
    shutil.rmtree(work, ignore_errors=True)


def report(args, results, lpm, n_prefixes, n_sites, n_edges, fleet_s, rss_kib):
    med = lambda rows, k: statistics.median(r[k] for r in rows)  # noqa: E731
    lines = [MARK_BEGIN, "", "## Steering (`bench/steer.py`)", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; reproduce with `bench/steer.py`. "
             f"{n_prefixes:,} prefixes ({args.v4:,} IPv4 + {args.v6:,} IPv6, `bench/make_prefixes.py`) over "
             f"{n_sites} sites and {n_edges} edges, {args.files:,} files; the fleet applied through the API in "
             f"{fleet_s:.1f} s; control RSS {rss_kib / 1024:.0f} MiB. wrk with {args.conns} keep-alive connections "
             f"(2 threads) on the same 2 cores as the server ({args.threads} API threads), random files and random "
             f"client addresses inside the table, {args.reps} runs of {args.duration} s, medians. Each answer is a "
             "ranked list of 4 signed URLs + the origin.", "",
             "| measure | value |", "|---|---|"]
    rows = results.get("http", [])
    if rows:
        lines += [f"| steering answers/s over HTTP | {med(rows, 'rps'):,.0f} (target 50,000) |",
                  f"| p50 / p99 latency | {med(rows, 'p50_us') / 1000:.2f} / {med(rows, 'p99_us') / 1000:.2f} ms |",
                  f"| answers per server CPU-second | {med(rows, 'per_cpu_s'):,.0f} |",
                  f"| errors | {sum(r['errors'] + r['non2xx'] for r in rows)} |"]
    for name, b in sorted(lpm.items()):
        ips = b.get("items_per_second", 0)
        if ips:
            lines.append(f"| `bench_lpm` {name} | {ips / 1e6:.1f} M lookups/s on one core "
                         f"({1e9 / ips:.0f} ns each) |")
        else:  # a build, not lookups: its time
            scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1}.get(b.get("time_unit", "ns"), 1e-9)
            lines.append(f"| `bench_lpm` {name} | {b.get('real_time', 0) * scale:.2f} s |")
    lines += ["", MARK_END]
    text = "\n".join(lines) + "\n"
    benchlib.write_section(args.out, MARK_BEGIN, MARK_END, text)


if __name__ == "__main__":
    main()
