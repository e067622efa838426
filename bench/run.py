#!/usr/bin/env python3
"""Side-by-side benchmark: vcdn edge vs nginx vs a minimal epoll+sendfile loop.

All three serve the same catalog from a hot page cache on 127.0.0.1 and are loaded by wrk
with the same Lua scripts (random 100 KiB ranges; player-like sequential walks), at 100 and
1,000 connections, with access logs off and on. The load generator shares the two cores with
the server, so requests/s is bounded by the client: servers are compared by bytes sent per
server CPU-second (utime+stime from /proc/PID/stat), by latency, and as ratios, with every
configuration measured in each of several interleaved rounds (medians reported). The minimal
loop runs twice: as is ("minimal", a ~100-byte head) and with its head padded to the size of
vcdn's ("minimal-head"), because on loopback the head's size changes how the client's TCP
window grows and so how many segments and ACKs a response takes (bench/minimal_sendfile.cc).

    scripts/setup --bench && scripts/build && bench/run.py            # ~12 minutes
    bench/run.py --quick                                               # ~2 minutes
    bench/run.py --base OLD/vcdn --only-vcdn --out /tmp/ab.md          # a change vs the build before
    bench/run.py --shape oc --duration 10                              # 40 x 64 MiB files, ~14 minutes
    bench/run.py --shape oc --duration 10 --rx-split                   # + loopback receive to its receiver
Writes bench/RESULTS.md (or --out) and prints the table. With --base, a second vcdn binary
("vcdn-base") runs in the same interleaved rounds, and the table says this build vs it.
"""
import argparse
import atexit
import json
import os
import platform
import shutil
import signal
import socket
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


OC_BEGIN = "<!-- run-oc: begin -->"
OC_END = "<!-- run-oc: end -->"


def head_bytes(port, files):
    """The size of the head a server sends for a 100 KiB range of the first file of the list."""
    with open(files) as f:
        path = f.readline().split()[0]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nRange: bytes=0-102399\r\n\r\n".encode())
        buf = b""
        while b"\r\n\r\n" not in buf and len(buf) < 65536:
            chunk = c.recv(65536)
            if not chunk:
                break
            buf += chunk
    if b"\r\n\r\n" not in buf or not buf.startswith(b"HTTP/1.1 2"):
        # Padding the loop to a size measured from an error page would compare nothing.
        raise RuntimeError(f"no 2xx head from 127.0.0.1:{port} for {path}: {buf[:80]!r}")
    return buf.index(b"\r\n\r\n") + 4


def make_catalog(vcdn, root, files, shape, titles):
    """Writes the benchmark's catalog under root and its list (path, size per line) to files,
    reads it all once (a hot page cache) and returns its size in bytes. shape "oc": 40 files
    of 64 MiB of random bytes; "catalog": `vcdn catalog make` with `titles` titles."""
    total = 0
    if shape == "oc":
        os.makedirs(os.path.join(root, "oc"), exist_ok=True)
        with open(files, "w") as out:
            for i in range(40):
                path = os.path.join(root, "oc", f"f{i:02}.mp4")
                with open(path, "wb") as f:
                    for _ in range(64):
                        f.write(os.urandom(1 << 20))
                out.write(f"/oc/f{i:02}.mp4 {64 << 20}\n")
                total += 64 << 20
    else:
        subprocess.run([vcdn, "catalog", "make", "--out", root, "--titles", str(titles),
                        "--seconds", "60", "--quiet"], check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(root, "catalog.json")) as f, open(files, "w") as out:
            for e in json.load(f)["files"]:
                out.write(f"{e['path']} {e['size']}\n")
                total += e["size"]
    for dirpath, _, names in os.walk(root):
        for n in names:
            with open(os.path.join(dirpath, n), "rb") as f:
                while f.read(1 << 22):
                    pass
    return total


def start_servers(args, work, root, logs, files):
    tag = "logs" if logs else "nolog"
    servers = []
    port = free_port()
    access = f"access_log {work}/nginx-access.log combined buffer=64k flush=1s;" if logs else "access_log off;"
    conf = os.path.join(work, f"nginx-{tag}.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(workers=os.cpu_count(), work=work, tag=tag, access_log=access,
                                  port=port, root=root, extra=""))
    servers.append(Server("nginx", [args.nginx, "-c", conf, "-p", work], port))
    port = free_port()
    servers.append(Server("vcdn", [args.vcdn, "edge", "--root", root, "--listen", f"127.0.0.1:{port}",
                                   "--access-log", os.path.join(work, "vcdn-access.log") if logs else "off"],
                          port))
    if args.base:
        port = free_port()
        servers.append(Server("vcdn-base", [args.base, "edge", "--root", root, "--listen", f"127.0.0.1:{port}",
                                            "--access-log", os.path.join(work, "base-access.log") if logs else "off"],
                              port))
    if args.only_vcdn:
        for s in servers:
            if not s.name.startswith("vcdn"):
                s.stop()  # started above; never left running
        return [s for s in servers if s.name.startswith("vcdn")]
    if not logs:
        port = free_port()
        servers.append(Server("minimal", [args.minimal, root, str(port), str(os.cpu_count())], port))
        # The same loop sending a head of vcdn's size (minimal_sendfile.cc says why it matters).
        vcdn_head = head_bytes(next(s.port for s in servers if s.name == "vcdn"), files)
        port = free_port()
        servers.append(Server("minimal-head", [args.minimal, root, str(port), str(os.cpu_count()),
                                               str(vcdn_head)], port))
        print(f"vcdn's head: {vcdn_head} bytes; minimal's: {head_bytes(servers[-2].port, files)}; "
              f"minimal-head's: {head_bytes(port, files)}", flush=True)
        # The price of never blocking on disk: the same edge with plain blocking sendfile.
        conf = os.path.join(work, "vcdn-blocking.toml")
        with open(conf, "w") as f:
            f.write('[edge.disk]\nmode = "blocking"\n')
        port = free_port()
        servers.append(Server("vcdn-blocking", [args.vcdn, "edge", "--config", conf, "--root", root,
                                                "--listen", f"127.0.0.1:{port}", "--access-log", "off"],
                              port))
    return servers


def run_wrk(args, server, script, conns, files, duration, rx_split=None):
    return benchlib.run_wrk(args.wrk, server, script, conns, files, duration, rx_split=rx_split)


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    ap.add_argument("--reps", type=int, default=3, help="interleaved rounds (medians are reported)")
    ap.add_argument("--titles", type=int, default=20, help="catalog titles (5 files of 60 s each)")
    ap.add_argument("--quick", action="store_true", help="1 round of 4 s: a smoke run")
    ap.add_argument("--out", default=os.path.join(BENCH, "RESULTS.md"))
    ap.add_argument("--vcdn", default=os.path.join(ROOT, "build", "vcdn"))
    ap.add_argument("--minimal", default=os.path.join(ROOT, "build", "bench", "minimal_sendfile"))
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    ap.add_argument("--work", default=None,
                    help="work directory, kept afterwards (default: a new temp dir, removed at the end)")
    ap.add_argument("--base", default=None, help="another vcdn binary to compare with, in the same rounds")
    ap.add_argument("--only-vcdn", action="store_true", help="run only the vcdn servers (with --base: A/B)")
    ap.add_argument("--rx-split", action="store_true",
                    help="also profile each run (perf record -a) and report GB/CPU-s with loopback receive "
                         "work charged to the receiving side, as over a network (see benchlib.loopback_rx_split)")
    ap.add_argument("--shape", choices=("catalog", "oc"), default="catalog",
                    help="catalog: the titles of `vcdn catalog make`; oc: Open Connect-shaped, 40 files of "
                         "64 MiB (a 2.5 GiB hot set), written as its own section of --out")
    args = ap.parse_args()
    if args.quick:
        args.duration, args.reps = 4, 1
    for tool in (args.vcdn, args.minimal, args.nginx, args.wrk) + ((args.base,) if args.base else ()) + \
            (("perf",) if args.rx_split else ()):
        if not shutil.which(tool) and not os.access(tool, os.X_OK):
            sys.exit(f"bench/run.py: {tool} not found (run scripts/setup --bench && scripts/build)")

    work = args.work or tempfile.mkdtemp(prefix="vcdn-bench-")
    if not args.work:  # a new one goes at the end (the oc catalog is 2.7 GB); --work's is kept
        atexit.register(shutil.rmtree, work, True)
    os.chmod(work, 0o755)  # nginx workers run as an unprivileged user and must read the catalog
    root = os.path.join(work, "catalog")
    print(f"work directory {work}", flush=True)
    files = os.path.join(work, "files.txt")
    total = make_catalog(args.vcdn, root, files, args.shape, args.titles)
    print(f"catalog: {total / 1e9:.2f} GB, page cache warm", flush=True)

    scenarios = [("ranges", "ranges.lua", 100), ("ranges", "ranges.lua", 1000),
                 ("walk", "walk.lua", 100), ("walk", "walk.lua", 1000)]
    results = {}  # (logs, scenario, conns, server) -> [runs]
    stall = {}
    for logs in (False, True):
        servers = start_servers(args, work, root, logs, files)
        try:
            for rep in range(args.reps):
                for name, script, conns in scenarios:
                    order = servers[rep % len(servers):] + servers[:rep % len(servers)]
                    for s in order:
                        r = run_wrk(args, s, script, conns, files, args.duration,
                                    rx_split=work if args.rx_split else None)
                        results.setdefault((logs, name, conns, s.name), []).append(r)
                        rx = (f" | rx to receiver: {r['gb_per_cpu_s_rx']:5.2f} GB/cpu-s "
                              f"(server {r['rx']['server']} samples, -{r['rx']['server_rx']} +{r['rx']['client_rx']}, "
                              f"unattributed {r['rx']['other_rx']})") if "gb_per_cpu_s_rx" in r else ""
                        print(f"logs={'on ' if logs else 'off'} {name:6} c={conns:<4} {s.name:8} "
                              f"{r['rps']:9.0f} req/s {r['gbps']:6.2f} Gbit/s p50 {r['p50_us'] / 1000:6.2f} ms "
                              f"p99 {r['p99_us'] / 1000:7.2f} ms cpu {r['cpu_s']:5.2f} s "
                              f"{r['gb_per_cpu_s']:5.2f} GB/cpu-s errors {r['errors'] + r['non2xx']}{rx}",
                              flush=True)
            if not logs:
                # One keep-alive connection walking a file: shows a delayed-ACK stall if any.
                for s in servers:
                    stall[s.name] = run_wrk(args, s, "walk.lua", 1, files, max(3, args.duration // 2))
        finally:
            for s in servers:
                s.stop()
    write_report(args, results, stall, total)


def write_report(args, results, stall, total_bytes):
    kernel = platform.release()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    nginx_v = subprocess.run([args.nginx, "-v"], capture_output=True, text=True).stderr.strip()
    lines = []
    oc = args.shape == "oc"
    if oc:
        lines.append(OC_BEGIN)
        lines.append("\n## Open Connect-shaped files: 40 × 64 MiB (`bench/run.py --shape oc`)\n")
    else:
        lines.append("# Benchmark results\n")
    lines.append(f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores "
                 f"({cpu}), kernel {kernel}, {nginx_v}, wrk 4.1. Reproduce: "
                 f"`scripts/setup --bench && scripts/build && bench/run.py{' --shape oc' if oc else ''}"
                 f"{' --rx-split' if args.rx_split else ''}` "
                 f"({args.reps} interleaved rounds of {args.duration} s per cell; medians).\n")
    lines.append(f"Catalog: {total_bytes / 1e9:.2f} GB of files, all in the page cache. Every server uses "
                 f"{os.cpu_count()} workers; wrk runs on the same 2 cores with 2 threads, so requests/s is "
                 "bounded by the client and the fair comparison is **GB sent per server CPU-second** "
                 "(bytes counted by wrk, CPU = utime+stime of the server processes).\n")
    for logs in (False, True):
        lines.append(f"\n{'###' if oc else '##'} Access log {'on (vcdn: JSON, TCP_INFO per access_log_tcp_info_ms (default: first, failed, slow and last responses, else once a second per connection); nginx: combined, buffer=64k)' if logs else 'off'}\n")
        lines.append("| workload | conns | server | req/s | Gbit/s | p50 ms | p99 ms | server CPU s | GB/CPU-s | vs nginx (GB/CPU-s) | vs nginx (req/s) | vs minimal (GB/CPU-s) | vs minimal-head (GB/CPU-s) | vs vcdn-base (GB/CPU-s) |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for name, conns in (("ranges", 100), ("ranges", 1000), ("walk", 100), ("walk", 1000)):
            base = results.get((logs, name, conns, "nginx"))
            mini = results.get((False, name, conns, "minimal"))
            mini_h = results.get((False, name, conns, "minimal-head"))
            vbase = results.get((logs, name, conns, "vcdn-base"))
            for server in ("vcdn", "vcdn-base", "nginx", "minimal", "minimal-head", "vcdn-blocking"):
                rows = results.get((logs, name, conns, server))
                if not rows:
                    continue
                eff = median(rows, "gb_per_cpu_s")
                rps = median(rows, "rps")
                vs_n = f"{eff / median(base, 'gb_per_cpu_s'):.2f}x" if base and server != "nginx" else ""
                vs_nr = f"{rps / median(base, 'rps'):.2f}x" if base and server != "nginx" else ""
                vs_m = f"{eff / median(mini, 'gb_per_cpu_s'):.2f}x" if mini and server != "minimal" else ""
                vs_mh = (f"{eff / median(mini_h, 'gb_per_cpu_s'):.2f}x"
                         if mini_h and server != "minimal-head" else "")
                vs_b = f"{eff / median(vbase, 'gb_per_cpu_s'):.2f}x" if vbase and server == "vcdn" else ""
                label = "random 100 KiB ranges" if name == "ranges" else "sequential walk, 100 KiB"
                lines.append(f"| {label} | {conns} | {server} | {rps:,.0f} | {median(rows, 'gbps'):.2f} | "
                             f"{median(rows, 'p50_us') / 1000:.2f} | {median(rows, 'p99_us') / 1000:.2f} | "
                             f"{median(rows, 'cpu_s'):.2f} | {eff:.2f} | {vs_n} | {vs_nr} | {vs_m} | {vs_mh} | "
                             f"{vs_b} |")
    if any("gb_per_cpu_s_rx" in r for rows in results.values() for r in rows):
        h = "###" if oc else "##"
        lines.append(f"\n{h} With loopback receive work charged to the receiving side (`--rx-split`)\n")
        lines.append("On loopback the kernel delivers a packet to its receiving socket in the sender's own "
                     "system call, so a server's CPU time includes the client's TCP receive of its responses, "
                     "and the client's includes the server's receive of requests and ACKs. Over a network each "
                     "side pays for its own. Here a whole-machine profile (`perf record -a -g`, the middle of "
                     "every run) moves the samples under the receive softirq (`net_rx_action`) to the side "
                     "that receives: server CPU × (server − server's rx + client's rx) ÷ server. "
                     "Same runs as the tables above.\n")
        lines.append("| access log | workload | conns | server | GB/CPU-s (measured) | "
                     "server's rx (client's receive) | client's rx (server's receive) | "
                     "GB/CPU-s (rx to receiver) | vs nginx | vs minimal | vs minimal-head |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for logs in (False, True):
            for name, conns in (("ranges", 100), ("ranges", 1000), ("walk", 100), ("walk", 1000)):
                def eff_rx(server, lg=logs, nm=name, cn=conns):
                    rows = [r for r in results.get((lg, nm, cn, server), []) if "gb_per_cpu_s_rx" in r]
                    return median(rows, "gb_per_cpu_s_rx") if rows else None
                base, mini, mini_h = eff_rx("nginx"), eff_rx("minimal", False), eff_rx("minimal-head", False)
                for server in ("vcdn", "vcdn-base", "nginx", "minimal", "minimal-head", "vcdn-blocking"):
                    rows = [r for r in results.get((logs, name, conns, server), []) if "gb_per_cpu_s_rx" in r]
                    if not rows:
                        continue
                    eff = median(rows, "gb_per_cpu_s_rx")
                    srx = statistics.median(r["rx"]["server_rx"] / max(1, r["rx"]["server"]) for r in rows)
                    crx = statistics.median(r["rx"]["client_rx"] / max(1, r["rx"]["server"]) for r in rows)
                    vs_n = f"{eff / base:.2f}x" if base and server != "nginx" else ""
                    vs_m = f"{eff / mini:.2f}x" if mini and server != "minimal" else ""
                    vs_mh = f"{eff / mini_h:.2f}x" if mini_h and server != "minimal-head" else ""
                    label = "random 100 KiB ranges" if name == "ranges" else "sequential walk, 100 KiB"
                    lines.append(f"| {'on' if logs else 'off'} | {label} | {conns} | {server} | "
                                 f"{median(rows, 'gb_per_cpu_s'):.2f} | -{srx:.1%} | +{crx:.1%} | {eff:.2f} | "
                                 f"{vs_n} | {vs_m} | {vs_mh} |")
    if stall:
        lines.append(f"\n{'###' if oc else '##'} One keep-alive connection, 100 KiB ranges back to back (delayed-ACK check)\n")
        lines.append("| server | req/s | mean ms | p50 ms | p99 ms |")
        lines.append("|---|---|---|---|---|")
        for server, r in stall.items():
            lines.append(f"| {server} | {r['rps']:,.0f} | {r['mean_us'] / 1000:.2f} | {r['p50_us'] / 1000:.2f} | "
                         f"{r['p99_us'] / 1000:.2f} |")
    if oc:
        lines.append("\n" + OC_END)
        benchlib.write_section(args.out, OC_BEGIN, OC_END, "\n".join(lines))
        return
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    existing = ""
    if os.path.exists(args.out):
        existing = open(args.out).read()
    marker = "<!-- notes -->"
    notes = existing[existing.index(marker):] if marker in existing else marker + "\n"
    with open(args.out, "w") as f:
        f.write(text + "\n" + notes)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
