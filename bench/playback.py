#!/usr/bin/env python3
"""Playback for standard players: answers/s of the control plane's generated manifests
(GET /api/v1/play/<title>.m3u8 and .mpd) and of the Content Steering server they name
(GET /api/v1/play/<title>/steering), next to the JSON steering API (per-file and title URLs).

Set-up: real titles (`vcdn catalog make --media`: one encoded, copied to --titles titles, 3
renditions + audio, DASH and HLS) behind a `vcdn origin`; a control plane with one site of 4
edges (their heartbeats sent by this script, each holding every file) covering 127.0.0.0/8; the
manifests read from the origin once (a first request per title), then wrk with 64 keep-alive
connections asks for random titles, `--reps` runs of `--duration` s per endpoint, interleaved;
steering log off. Answers/s and answers per server CPU-second, medians.

    scripts/setup --bench && scripts/build && bench/playback.py    # ~4 minutes
Writes its section into bench/RESULTS.md (replacing an earlier one).
"""
import argparse
import http.client
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

MARK_BEGIN = "<!-- playback: begin -->"
MARK_END = "<!-- playback: end -->"
TOKEN = "bench-admin-token-0123"


def call(port, method, path, body=None, token=TOKEN):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
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
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--titles", type=int, default=20)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="control API threads")
    ap.add_argument("--quick", action="store_true", help="1 run of 4 s")
    ap.add_argument("--out", default=os.path.join(BENCH, "RESULTS.md"))
    ap.add_argument("--vcdn", default=os.path.join(ROOT, "build", "vcdn"))
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    args = ap.parse_args()
    if args.quick:
        args.duration, args.reps = 4, 1
    work = tempfile.mkdtemp(prefix="vcdn-playback-")
    media = os.path.join(work, "media")
    subprocess.run([args.vcdn, "catalog", "make", "--media", "--quiet", "--out", media, "--titles",
                    str(args.titles), "--distinct", "1", "--bitrates", "300,750,1750", "--seconds", "60"],
                   check=True, stdout=subprocess.DEVNULL)
    catalog = json.load(open(os.path.join(media, "catalog.json")))
    mpd_size = os.path.getsize(os.path.join(media, "t", "1", "manifest.mpd"))
    origin_port = benchlib.free_port()
    origin = benchlib.Server("origin", [args.vcdn, "origin", "--root", media, "--listen",
                                        f"127.0.0.1:{origin_port}", "--access-log", "off"], origin_port)
    edges = [{"id": f"e{i}", "url": f"http://127.0.0.{11 + i}:8080", "token": f"edge-token-0123-e{i}",
              "capacity_gbps": 100} for i in range(4)]
    fleet = {"origin": {"url": f"http://127.0.0.1:{origin_port}"},
             "site": [{"name": "isp", "tier": "embedded", "prefixes": ["127.0.0.0/8"], "edge": edges}]}
    port = benchlib.free_port()
    cfg = os.path.join(work, "control.toml")
    with open(cfg, "w") as f:
        f.write(f'[control]\nlisten = "127.0.0.1:{port}"\ndb = "sqlite:{work}/control.db"\n'
                f'admin_token = "{TOKEN}"\nsteering_log = "off"\nthreads = {args.threads}\n'
                '[control.limits]\npublic_requests_per_s = 0\npublic_connections = 0\n'
                '[control.health]\nheartbeat_interval_ms = 600000\nmissed_heartbeats = 10\n')
    server = benchlib.Server("control", [args.vcdn, "control", "--config", cfg], port)
    results = {}
    try:
        call(port, "POST", "/api/v1/fleet", fleet)
        call(port, "POST", "/api/v1/catalog", catalog)
        held = [f["path"] for f in catalog["files"]]
        for e in edges:
            call(port, "POST", f"/api/v1/edges/{e['id']}/heartbeat",
                 {"healthy": True, "load": {"gbps_out": 1}, "inventory": {"digest": "", "full": True, "added": held}},
                 token=e["token"])
        for _ in range(100):
            if all(e["state"] == "up" for e in json.loads(call(port, "GET", "/api/v1/edges"))["edges"]):
                break
            time.sleep(0.2)
        titles = range(1, args.titles + 1)
        for t in titles:  # each packaged manifest read from the origin once
            call(port, "GET", f"/api/v1/play/{t}.mpd", token="")
            call(port, "GET", f"/api/v1/play/{t}.m3u8", token="")
        endpoints = {
            "steer (JSON, per-file URLs)": [f"/api/v1/steer?file=/t/{t}/r0.mp4" for t in titles],
            "steer (JSON, title URLs)": [f"/api/v1/steer?file=/t/{t}/r0.mp4&title=1" for t in titles],
            "play .m3u8 (HLS multivariant)": [f"/api/v1/play/{t}.m3u8" for t in titles],
            "play .mpd (DASH)": [f"/api/v1/play/{t}.mpd" for t in titles],
            "Content Steering server": [f"/api/v1/play/{t}/steering?kind=hls&key=%2Ft%2F{t}%2Fr0.mp4&_HLS_pathway=e0"
                                        for t in titles],
        }
        sizes = {}
        for name, paths in endpoints.items():
            sizes[name] = len(call(port, "GET", paths[0], token=""))
            with open(os.path.join(work, f"{len(sizes)}.txt"), "w") as f:
                f.write("\n".join(paths) + "\n")
        names = list(endpoints)
        for rep in range(args.reps):
            for name in names[rep % len(names):] + names[:rep % len(names)]:
                paths = os.path.join(work, f"{names.index(name) + 1}.txt")
                r = benchlib.run_wrk(args.wrk, server, "paths.lua", args.conns, paths, args.duration)
                r["per_cpu_s"] = r["requests"] / r["cpu_s"] if r["cpu_s"] else 0
                results.setdefault(name, []).append(r)
                print(f"{name:32} {r['rps']:9.0f} answers/s p99 {r['p99_us'] / 1000:6.2f} ms "
                      f"{r['per_cpu_s']:8.0f} per server cpu-s errors {r['errors'] + r['non2xx']}", flush=True)
    finally:
        server.stop()
        origin.stop()
    med = lambda rows, k: statistics.median(r[k] for r in rows)  # noqa: E731
    lines = [MARK_BEGIN, "", "## Playback manifests and Content Steering (`bench/playback.py`)", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; reproduce with `bench/playback.py`. "
             f"{args.titles} real titles (3 H.264 renditions + AAC, DASH MPD of {mpd_size:,} bytes with "
             "SegmentLists, HLS multivariant + media playlists) behind a `vcdn origin`; one site of 4 edges; "
             f"wrk with {args.conns} keep-alive connections (2 threads) on the same 2 cores as the control "
             f"plane ({args.threads} API threads, playback manifests on its 4 worker threads), random titles, "
             f"{args.reps} interleaved runs of {args.duration} s per endpoint, medians. Every answer is "
             "made for its request (signatures, ranking); the packaged manifests come from memory.", "",
             "| endpoint | answer bytes | answers/s | p50 / p99 ms | answers per server CPU-s | errors |",
             "|---|---|---|---|---|---|"]
    for name in endpoints:
        rows = results.get(name, [])
        if rows:
            lines.append(f"| {name} | {sizes[name]:,} | {med(rows, 'rps'):,.0f} | "
                         f"{med(rows, 'p50_us') / 1000:.2f} / {med(rows, 'p99_us') / 1000:.2f} | "
                         f"{med(rows, 'per_cpu_s'):,.0f} | {sum(r['errors'] + r['non2xx'] for r in rows)} |")
    lines += ["", MARK_END]
    benchlib.write_section(args.out, MARK_BEGIN, MARK_END, "\n".join(lines) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
