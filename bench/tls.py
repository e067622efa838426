#!/usr/bin/env python3
"""HTTPS benchmark: vcdn vs nginx on the same TLS path, in one run.

Both serve the same catalog from a hot page cache over TLS with the same ECDSA P-256
certificate, protocols and cipher preference (TLS 1.3 with AES-128-GCM is negotiated with both;
checked before the runs), with `sendfile on` for nginx, and kernel TLS on both sides when the
kernel has it (`ssl_conf_command Options KTLS` for nginx; vcdn uses it by default). Runs, each
in several interleaved rounds:
  - keep-alive: random 100 KiB ranges at 100 and 1,000 connections (GB per server CPU-second);
  - handshakes: one 1 KiB range per connection (Connection: close) with wrk, which resumes its
    TLS sessions as players do; and full handshakes only (`openssl s_time -new`, one small
    file per connection, several clients at once);
  - starvation: a paced keep-alive stream's latency alone and during a handshake storm.

    scripts/setup --bench && scripts/build && bench/tls.py        # ~8 minutes
Writes its section into bench/RESULTS.md (replacing an earlier one).
"""
import argparse
import json
import os
import re
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
from benchlib import Server, free_port  # noqa: E402

MARK_BEGIN = "<!-- tls: begin -->"
MARK_END = "<!-- tls: end -->"

NGINX_TLS_CONF = """worker_processes {workers};
pid {work}/nginx-tls.pid;
error_log {work}/nginx-tls-error.log;
daemon off;
worker_rlimit_nofile 19000;
events {{ worker_connections 8000; use epoll; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  open_file_cache max=10000 inactive=60s;
  open_file_cache_valid 60s;
  types {{ video/mp4 mp4; }}
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305;
  ssl_prefer_server_ciphers on;
  ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;
  ssl_session_cache shared:SSL:20m;
  {ktls}
  server {{
    listen 127.0.0.1:{port} ssl reuseport;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    root {root};
  }}
}}
"""


def kernel_has_ktls():
    try:
        with open("/proc/sys/net/ipv4/tcp_available_ulp") as f:
            return "tls" in f.read()
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(BENCH, "RESULTS.md"))
    ap.add_argument("--vcdn", default=os.path.join(ROOT, "build", "vcdn"))
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    ap.add_argument("--s-time-clients", type=int, default=4, help="parallel openssl s_time clients")
    ap.add_argument("--runs", default="ranges,handshakes,full,starvation",
                    help="comma-separated subset of: ranges, handshakes, full, starvation")
    ap.add_argument("--vcdn-config", help="a TOML file passed to vcdn edge --config (e.g. [edge.tls] tuning)")
    args = ap.parse_args()
    if args.quick:
        args.duration, args.reps = 4, 1
    runs = set(args.runs.split(","))
    if not runs <= {"ranges", "handshakes", "full", "starvation"}:
        ap.error(f"unknown run in --runs {args.runs!r}")
    work = tempfile.mkdtemp(prefix="vcdn-tls-")
    os.chmod(work, 0o755)
    root = os.path.join(work, "catalog")
    subprocess.run([args.vcdn, "catalog", "make", "--out", root, "--titles", "10", "--seconds", "60", "--quiet"],
                   check=True, stdout=subprocess.DEVNULL)
    files = os.path.join(work, "files.txt")
    with open(os.path.join(root, "catalog.json")) as f, open(files, "w") as out:
        for e in json.load(f)["files"]:
            out.write(f"{e['path']} {e['size']}\n")
    with open(os.path.join(root, "small.bin"), "wb") as f:  # for s_time: a 1 KiB file
        f.write(os.urandom(1024))
    for dirpath, _, names in os.walk(root):
        for n in names:
            with open(os.path.join(dirpath, n), "rb") as fh:
                while fh.read(1 << 22):
                    pass
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "30", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-keyout", key, "-out", cert, "-subj", "/CN=bench"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ktls = kernel_has_ktls()
    print(f"work {work}; kernel TLS {'available' if ktls else 'NOT available: both use user-space TLS'}",
          flush=True)

    servers = []
    results = {}
    try:
        port = free_port()
        conf = os.path.join(work, "nginx-tls.conf")
        with open(conf, "w") as f:
            f.write(NGINX_TLS_CONF.format(workers=os.cpu_count(), work=work, port=port, cert=cert, key=key, root=root,
                                          ktls="ssl_conf_command Options KTLS;" if ktls else ""))
        servers.append(Server("nginx", [args.nginx, "-c", conf, "-p", work], port))
        port = free_port()
        servers.append(Server("vcdn", [args.vcdn, "edge", "--root", root, "--tls-listen", f"127.0.0.1:{port}",
                                       "--listen", f"127.0.0.1:{free_port()}", "--cert", cert, "--key", key,
                                       "--access-log", "off"]
                              + (["--config", args.vcdn_config] if args.vcdn_config else []), port))
        for s in servers:
            s.url = f"https://127.0.0.1:{s.port}/"
            negotiated = check_cipher(s)
            print(f"{s.name}: {negotiated}", flush=True)
            if "TLS_AES_128_GCM_SHA256" not in negotiated:
                sys.exit(f"{s.name} negotiated {negotiated!r}, not TLS 1.3 with AES-128-GCM: not comparable")
        for rep in range(args.reps):
            order = servers[rep % 2:] + servers[:rep % 2]
            for kind, script, conns in (("ranges", "ranges.lua", 100), ("ranges", "ranges.lua", 1000),
                                        ("handshakes", "close.lua", 100)):
                if kind not in runs:
                    continue
                for s in order:
                    r = run_https(args, s, script, conns, files, args.duration)
                    results.setdefault((kind, conns, s.name), []).append(r)
                    print(f"{kind:10} c={conns:<4} {s.name:6} {r['rps']:9.0f} req/s {r['gbps']:6.2f} Gbit/s "
                          f"p99 {r['p99_us'] / 1000:7.2f} ms cpu {r['cpu_s']:5.2f} s {r['gb_per_cpu_s']:5.2f} GB/cpu-s "
                          f"{r['rps_per_cpu_s']:8.0f} req/cpu-s errors {r['errors'] + r['non2xx']}", flush=True)
            for s in order if "full" in runs else ():
                r = full_handshakes(args, s)
                results.setdefault(("full", args.s_time_clients, s.name), []).append(r)
                print(f"full       c={args.s_time_clients:<4} {s.name:6} {r['rps']:9.0f} handshakes/s cpu {r['cpu_s']:5.2f} s "
                      f"{r['rps_per_cpu_s']:8.0f} per cpu-s", flush=True)
            for s in order if "starvation" in runs else ():
                alone, storm = starvation(args, s, files)
                results.setdefault(("stream-alone", 50, s.name), []).append(alone)
                results.setdefault(("stream-storm", 50, s.name), []).append(storm)
                print(f"starvation {s.name:6} stream p99 alone {alone['p99_us'] / 1000:6.2f} ms, during a "
                      f"handshake storm {storm['p99_us'] / 1000:6.2f} ms (storm {storm['storm_rps']:.0f} handshakes/s)",
                      flush=True)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    report(args, results, ktls)


def run_https(args, server, script, conns, files, duration):
    threads = 2
    cmd = [args.wrk, f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--timeout", "10s",
           "-s", os.path.join(BENCH, "wrk", script), server.url, "--", files, str(max(1, conns // threads))]
    c0 = benchlib.cpu_seconds(server.pids())
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    r = benchlib.parse_wrk(out, server.name, benchlib.cpu_seconds(server.pids()) - c0)
    r["rps_per_cpu_s"] = r["requests"] / r["cpu_s"] if r["cpu_s"] > 0 else 0
    return r


def check_cipher(server):
    """The protocol and cipher a default client negotiates, as `openssl s_client` reports them."""
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}", "-brief"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
    return " ".join(line.strip() for line in p.stderr.splitlines() if line.startswith(("Protocol", "Ciphersuite")))


def full_handshakes(args, server):
    """Full TLS handshakes only: several `openssl s_time -new` clients, one GET of a 1 KiB file
    per connection. Returns handshakes/s and per server CPU-second."""
    c0 = benchlib.cpu_seconds(server.pids())
    procs = [subprocess.Popen(["openssl", "s_time", "-connect", f"127.0.0.1:{server.port}", "-new", "-time",
                               str(args.duration), "-www", "/small.bin"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
             for _ in range(args.s_time_clients)]
    total = 0
    for p in procs:
        out = p.communicate(timeout=args.duration + 60)[0]
        m = re.search(r"(\d+) connections in [\d.]+s", out)
        total += int(m.group(1)) if m else 0
    cpu = benchlib.cpu_seconds(server.pids()) - c0
    return {"rps": total / args.duration, "cpu_s": cpu, "rps_per_cpu_s": total / cpu if cpu > 0 else 0}


def starvation(args, server, files):
    """A paced stream (50 connections, 10 ms pause) alone, then with a handshake storm."""
    def stream():
        return benchlib.start_wrk(args.wrk, server, "paced.lua", 50, files, args.duration,
                                  threads=1, extra_args=(10,))
    alone = benchlib.parse_wrk(stream().communicate()[0], server.name, 0)
    p = stream()
    storm = subprocess.Popen([args.wrk, "-t1", "-c100", f"-d{args.duration}s", "--timeout", "10s", "-s",
                              os.path.join(BENCH, "wrk", "close.lua"), server.url, "--", files],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    with_storm = benchlib.parse_wrk(p.communicate()[0], server.name, 0)
    st = benchlib.parse_wrk(storm.communicate()[0], server.name, 0)
    with_storm["storm_rps"] = st["rps"]
    return alone, with_storm


def report(args, results, ktls):
    med = lambda rows, k: statistics.median(r[k] for r in rows)  # noqa: E731
    lines = [MARK_BEGIN, "", "## HTTPS (`bench/tls.py`)", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; reproduce with `bench/tls.py`. "
             f"Same ECDSA P-256 certificate, TLS 1.3 with AES-128-GCM negotiated with both servers, hot page "
             f"cache, access logs off, {args.reps} interleaved rounds of {args.duration} s, medians. Kernel TLS: "
             + ("available, used by both." if ktls else
                "**not available on this kernel** (no `tls` module), so both servers encrypt in user space: "
                "nginx reads the file into its buffers and `SSL_write`s; vcdn checks residency, `SSL_write`s the "
                "range from the file's mapping (`tls.map_bodies`) and sends the records of one range with `MSG_MORE` so they leave in fewer TCP "
                "pushes. The kTLS path (`SSL_sendfile`) is implemented and selected per connection when "
                "the kernel offers it, but could not be measured here."), "",
             "| run | conns | server | req/s | Gbit/s | p99 ms | server CPU s | GB/CPU-s | req per CPU-s | vcdn ÷ nginx |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for kind, conns in (("ranges", 100), ("ranges", 1000), ("handshakes", 100)):
        base = results.get((kind, conns, "nginx"))
        for name in ("vcdn", "nginx"):
            rows = results.get((kind, conns, name))
            if not rows:
                continue
            metric = "gb_per_cpu_s" if kind == "ranges" else "rps_per_cpu_s"
            ratio = f"{med(rows, metric) / med(base, metric):.2f}x ({'GB' if kind == 'ranges' else 'handshakes'}/CPU-s), " \
                    f"{med(rows, 'rps') / med(base, 'rps'):.2f}x (req/s)" if base and name == "vcdn" else ""
            label = "100 KiB ranges, keep-alive" if kind == "ranges" else \
                "new connection per request (1 KiB), sessions resumed"
            lines.append(f"| {label} | {conns} | {name} | {med(rows, 'rps'):,.0f} | {med(rows, 'gbps'):.2f} | "
                         f"{med(rows, 'p99_us') / 1000:.2f} | {med(rows, 'cpu_s'):.2f} | {med(rows, 'gb_per_cpu_s'):.2f} | "
                         f"{med(rows, 'rps_per_cpu_s'):,.0f} | {ratio} |")
    lines += ["", f"Full handshakes only (`openssl s_time -new`, {args.s_time_clients} clients at once, one 1 KiB file per "
              "connection; the clients' own handshake work shares the 2 cores, so compare per CPU-second):", "",
              "| server | handshakes/s | server CPU s | handshakes per CPU-s | vcdn ÷ nginx |", "|---|---|---|---|---|"]
    base = results.get(("full", args.s_time_clients, "nginx"))
    for name in ("vcdn", "nginx"):
        rows = results.get(("full", args.s_time_clients, name))
        if rows:
            ratio = f"{med(rows, 'rps_per_cpu_s') / med(base, 'rps_per_cpu_s'):.2f}x (per CPU-s), " \
                    f"{med(rows, 'rps') / med(base, 'rps'):.2f}x (handshakes/s)" if base and name == "vcdn" else ""
            lines.append(f"| {name} | {med(rows, 'rps'):,.0f} | {med(rows, 'cpu_s'):.2f} | {med(rows, 'rps_per_cpu_s'):,.0f} | "
                         f"{ratio} |")
    lines += ["", "Handshakes and streams on the same server: 50 keep-alive connections each pausing 10 ms between "
              "100 KiB ranges, alone and during a storm of new TLS connections (100 connections, one request each):",
              "", "| server | stream p50 / p99 alone (ms) | stream p50 / p99 during the storm (ms) | storm handshakes/s |",
              "|---|---|---|---|"]
    for name in ("vcdn", "nginx"):
        a = results.get(("stream-alone", 50, name))
        s = results.get(("stream-storm", 50, name))
        if a and s:
            lines.append(f"| {name} | {med(a, 'p50_us') / 1000:.2f} / {med(a, 'p99_us') / 1000:.2f} | "
                         f"{med(s, 'p50_us') / 1000:.2f} / {med(s, 'p99_us') / 1000:.2f} | {med(s, 'storm_rps'):,.0f} |")
    lines += ["", MARK_END]
    text = "\n".join(lines) + "\n"
    benchlib.write_section(args.out, MARK_BEGIN, MARK_END, text)


if __name__ == "__main__":
    main()
