#!/usr/bin/env python3
"""Cold-content benchmark: do cold requests delay hot ones?

One content tree, served identically by every server:
  ROOT/hot/t/...   a small hot set on the local disk, read once so it is in the page cache
  ROOT/cold/t/...  a larger cold set behind vcdn_slowfs (FUSE), which sleeps --delay-ms on every
                   read that misses the page cache, like a hard disk; its pages are dropped
                   (POSIX_FADV_DONTNEED) before every run
Servers: vcdn (asynchronous disk path), vcdn with disk.mode = blocking (plain sendfile),
nginx with `sendfile on`, and nginx with `sendfile on; aio threads`.
Load, per server and round:
  1. hot alone: wrk on hot files, each connection pausing --pace-ms between requests so the
     machine is not saturated (latency then shows stalls, not queueing): the baseline;
  2. the same paced hot load plus an unpaced wrk on cold files: hot p50/p99/p99.9 under cold
     load, cold p99;
  3. saturating: unpaced hot plus the cold load: total requests/s and Gbit/s.

    scripts/setup --bench && scripts/build && bench/cold.py     # ~6 minutes
Appends its table to bench/RESULTS.md (replacing an earlier cold table).
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
from benchlib import NGINX_CONF, Server, free_port  # noqa: E402

MARK_BEGIN = "<!-- cold: begin -->"
MARK_END = "<!-- cold: end -->"


def list_files(root, prefix):
    out = []
    with open(os.path.join(root, "catalog.json")) as f:
        for e in json.load(f)["files"]:
            out.append((prefix + e["path"], e["size"]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--delay-ms", type=int, default=8, help="slowfs latency per read (a hard disk)")
    ap.add_argument("--hot-conns", type=int, default=90)
    ap.add_argument("--cold-conns", type=int, default=10)
    ap.add_argument("--pace-ms", type=int, default=10, help="pause per hot connection between requests")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(BENCH, "RESULTS.md"))
    ap.add_argument("--vcdn", default=os.path.join(ROOT, "build", "vcdn"))
    ap.add_argument("--slowfs", default=os.path.join(ROOT, "build", "tests", "vcdn_slowfs"))
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    args = ap.parse_args()
    if args.quick:
        args.duration, args.reps = 5, 1
    for tool in (args.vcdn, args.slowfs, args.nginx, args.wrk):
        if not shutil.which(tool) and not os.access(tool, os.X_OK):
            sys.exit(f"bench/cold.py: {tool} not found (run scripts/setup --bench && scripts/build)")

    work = tempfile.mkdtemp(prefix="vcdn-cold-")
    os.chmod(work, 0o755)
    root = os.path.join(work, "root")
    hot_dir = os.path.join(root, "hot")
    cold_src = os.path.join(work, "cold-src")
    cold_mnt = os.path.join(root, "cold")
    os.makedirs(cold_mnt)
    mk = [args.vcdn, "catalog", "make", "--quiet", "--seconds", "60"]
    subprocess.run(mk + ["--out", hot_dir, "--titles", "8"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(mk + ["--out", cold_src, "--titles", "24", "--first-title", "1001"], check=True,
                   stdout=subprocess.DEVNULL)
    hot = list_files(hot_dir, "/hot")
    cold = list_files(cold_src, "/cold")
    for name, files in (("hot.txt", hot), ("cold.txt", cold)):
        with open(os.path.join(work, name), "w") as f:
            for p, s in files:
                f.write(f"{p} {s}\n")
    for p, _ in hot:
        with open(root + p, "rb") as f:
            while f.read(1 << 22):
                pass
    slowfs = subprocess.Popen([args.slowfs, cold_src, cold_mnt, "--delay-ms", str(args.delay_ms)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(200):
        if os.stat(cold_mnt).st_dev != os.stat(root).st_dev:
            break
        time.sleep(0.02)
    else:
        slowfs.kill()
        sys.exit("bench/cold.py: vcdn_slowfs did not mount (is /dev/fuse usable?)")
    cold_paths = [root + p for p, _ in cold]
    hot_bytes = sum(s for _, s in hot)
    cold_bytes = sum(s for _, s in cold)
    print(f"work {work}: hot {hot_bytes / 1e9:.2f} GB (cached), cold {cold_bytes / 1e9:.2f} GB behind "
          f"slowfs ({args.delay_ms} ms per read)", flush=True)

    servers = []
    try:
        for name, extra in (("nginx sendfile", ""), ("nginx aio threads", "aio threads;")):
            port = free_port()
            tag = name.replace(" ", "-")
            conf = os.path.join(work, f"{tag}.conf")
            with open(conf, "w") as f:
                f.write(NGINX_CONF.format(workers=os.cpu_count(), work=work, tag=tag, access_log="access_log off;",
                                          port=port, root=root, extra=extra))
            servers.append(Server(name, [args.nginx, "-c", conf, "-p", work], port))
        for name, mode in (("vcdn", "async"), ("vcdn blocking", "blocking")):
            port = free_port()
            conf = os.path.join(work, f"{name.replace(' ', '-')}.toml")
            with open(conf, "w") as f:
                f.write(f'[edge.disk]\nmode = "{mode}"\n')
            servers.append(Server(name, [args.vcdn, "edge", "--config", conf, "--root", root, "--listen",
                                         f"127.0.0.1:{port}", "--access-log", "off"], port))
        results = {}
        for rep in range(args.reps):
            order = servers[rep % len(servers):] + servers[:rep % len(servers)]
            for s in order:
                hot_txt, cold_txt = os.path.join(work, "hot.txt"), os.path.join(work, "cold.txt")
                pace = (args.pace_ms,)
                benchlib.drop_page_cache(cold_paths)
                base = benchlib.run_wrk(args.wrk, s, "paced.lua", args.hot_conns, hot_txt, args.duration,
                                        threads=1, extra_args=pace)
                benchlib.drop_page_cache(cold_paths)
                hp = benchlib.start_wrk(args.wrk, s, "paced.lua", args.hot_conns, hot_txt, args.duration,
                                        extra_args=pace)
                cp = benchlib.start_wrk(args.wrk, s, "ranges.lua", args.cold_conns, cold_txt, args.duration)
                h = benchlib.parse_wrk(hp.communicate(timeout=args.duration + 60)[0], s.name, 0)
                c = benchlib.parse_wrk(cp.communicate(timeout=args.duration + 60)[0], s.name, 0)
                benchlib.drop_page_cache(cold_paths)
                c0 = benchlib.cpu_seconds(s.pids())
                hp = benchlib.start_wrk(args.wrk, s, "ranges.lua", args.hot_conns, hot_txt, args.duration)
                cp = benchlib.start_wrk(args.wrk, s, "ranges.lua", args.cold_conns, cold_txt, args.duration)
                hs = benchlib.parse_wrk(hp.communicate(timeout=args.duration + 60)[0], s.name, 0)
                cs = benchlib.parse_wrk(cp.communicate(timeout=args.duration + 60)[0], s.name, 0)
                cpu = benchlib.cpu_seconds(s.pids()) - c0
                row = {"base_p50": base["p50_us"], "base_p99": base["p99_us"], "base_p999": base["p999_us"],
                       "hot_p50": h["p50_us"], "hot_p99": h["p99_us"], "hot_p999": h["p999_us"],
                       "cold_p50": c["p50_us"], "cold_p99": c["p99_us"],
                       "cold_share": c["requests"] / max(1, c["requests"] + h["requests"]),
                       "rps": hs["rps"] + cs["rps"], "gbps": hs["gbps"] + cs["gbps"],
                       "sat_cold_rps": cs["rps"], "cpu_s": cpu,
                       "errors": sum(x["errors"] + x["non2xx"] for x in (base, h, c, hs, cs))}
                results.setdefault(s.name, []).append(row)
                print(f"{s.name:18} hot p99 alone {row['base_p99'] / 1000:7.2f} ms, with cold "
                      f"{row['hot_p99'] / 1000:7.2f} ms (p99.9 {row['hot_p999'] / 1000:7.2f}), cold p99 "
                      f"{row['cold_p99'] / 1000:7.2f} ms, cold share {100 * row['cold_share']:4.1f}%; "
                      f"saturated {row['rps']:8.0f} req/s, errors {row['errors']}", flush=True)
    finally:
        for s in servers:
            s.stop()
        slowfs.terminate()
        try:
            slowfs.wait(timeout=10)
        except subprocess.TimeoutExpired:
            slowfs.kill()
        subprocess.run(["fusermount3", "-u", "-z", cold_mnt], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
    report(args, results, hot_bytes, cold_bytes)


def report(args, results, hot_bytes, cold_bytes):
    med = lambda rows, k: statistics.median(r[k] for r in rows)  # noqa: E731
    ms = lambda rows, k: f"{med(rows, k) / 1000:.2f}"  # noqa: E731
    lines = [MARK_BEGIN, "",
             "## Cold content: do cold requests delay hot ones? (`bench/cold.py`)", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; reproduce with "
             "`bench/cold.py`. Hot set "
             f"{hot_bytes / 1e9:.2f} GB in the page cache; cold set {cold_bytes / 1e9:.2f} GB behind "
             f"`vcdn_slowfs`, which adds {args.delay_ms} ms to every read that misses the page cache "
             "(pages dropped before each run). Random 100 KiB ranges. Latency runs: "
             f"{args.hot_conns} hot connections pausing {args.pace_ms} ms between requests (so the two cores "
             "are not saturated and latency shows stalls, not queueing), alone and then with "
             f"{args.cold_conns} unpaced connections on cold files at the same time. Throughput run: both "
             f"loads unpaced. {args.reps} rounds of {args.duration} s per run, servers in rotated order, "
             "medians. Latencies in ms.", "",
             "| server | hot p50 / p99 / p99.9 alone | hot p50 / p99 / p99.9 with cold load | hot p99 with ÷ alone | "
             "cold p99 | cold share | saturated: total req/s | Gbit/s | cold req/s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, rows in results.items():
        lines.append(
            f"| {name} | {ms(rows, 'base_p50')} / {ms(rows, 'base_p99')} / {ms(rows, 'base_p999')} | "
            f"{ms(rows, 'hot_p50')} / {ms(rows, 'hot_p99')} / {ms(rows, 'hot_p999')} | "
            f"{med(rows, 'hot_p99') / max(1, med(rows, 'base_p99')):.2f}x | {ms(rows, 'cold_p99')} | "
            f"{100 * med(rows, 'cold_share'):.1f}% | {med(rows, 'rps'):,.0f} | {med(rows, 'gbps'):.2f} | "
            f"{med(rows, 'sat_cold_rps'):,.0f} |")
    v = results.get("vcdn")
    if v:
        lines.append("")
        for other in ("nginx sendfile", "nginx aio threads", "vcdn blocking"):
            o = results.get(other)
            if o:
                lines.append(f"- vcdn's hot p99 under cold load ÷ {other}'s: "
                             f"{med(v, 'hot_p99') / max(1, med(o, 'hot_p99')):.2f}; saturated total "
                             f"throughput ratio {med(v, 'rps') / max(1, med(o, 'rps')):.2f}")
    lines += ["", MARK_END]
    text = "\n".join(lines) + "\n"
    benchlib.write_section(args.out, MARK_BEGIN, MARK_END, text)


if __name__ == "__main__":
    main()
