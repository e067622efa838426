#!/usr/bin/env python3
"""Idle keep-alive connections: user-space memory per connection, vcdn vs nginx.

Each server (one vcdn edge process with a worker per core; nginx with a worker per core) gets
--conns keep-alive connections from several client processes (bench/idle_client.py, source
addresses 127.0.N.1-250, each connection asks for one 1 KiB range and then stays idle).
Measured per server:
  - user-space memory per idle connection: the growth of the server's PSS (all its processes,
    /proc/PID/smaps_rollup) from before the connections to when they are all idle, divided by
    their number (kernel socket memory is not in it, for either server);
  - trickle: every idle connection asks once more, spread over --trickle seconds; all must be
    answered (the slowest answer is reported);
  - fresh connections: p50/p99 of --fresh sequential new connections (connect, one request,
    close) before the idle connections and while they are held.
Both servers have an idle timeout of 300 s. vcdn holds about 18k connections
per worker (the open-file limit is 20,000 per descriptor table here, and each vcdn worker has
its own table); --conns defaults to 15,000, and 100,000 needs --workers 6.

  bench/idle.py                 # ~3 minutes
  bench/idle.py --conns 5000 --trickle 10 --fresh 300 --out /tmp/idle.md   # a smoke run
  bench/idle.py --base OLD/vcdn    # also another vcdn build, measured the same way
"""
import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import Server, free_port  # noqa: E402

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
MARK_BEGIN = "<!-- idle: begin -->"
MARK_END = "<!-- idle: end -->"
PER_CLIENT = 6000  # connections per client process (its own open-file limit)

NGINX_IDLE_CONF = """worker_processes {workers};
pid {work}/nginx-idle.pid;
error_log {work}/nginx-idle-error.log;
daemon off;
master_process on;
worker_rlimit_nofile 19000;
events {{ worker_connections 18000; use epoll; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  open_file_cache max=10000 inactive=60s;
  types {{ video/mp4 mp4; }}
  default_type application/octet-stream;
  server {{
    listen 127.0.0.1:{port} reuseport backlog=4096;
    root {root};
  }}
}}
"""


def pss_kib(pids):
    return benchlib.proc_field_total(pids, "smaps_rollup", "Pss:")


def fresh(port, n):
    req = b"GET /v.mp4 HTTP/1.1\r\nHost: bench\r\nRange: bytes=0-1023\r\nConnection: close\r\n\r\n"
    lat = []
    for i in range(n):
        t = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=10,
                                      source_address=(f"127.0.250.{1 + i % 200}", 0)) as s:
            s.sendall(req)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        if not data.startswith(b"HTTP/1.1 206"):
            raise RuntimeError(f"fresh connection: {data[:60]!r}")
        lat.append((time.monotonic() - t) * 1000)
    lat.sort()
    return statistics.median(lat), lat[min(len(lat) - 1, int(len(lat) * 0.99))]


def measure(server, args):
    out = {"name": server.name}
    out["fresh_p50_ms"], out["fresh_p99_ms"] = fresh(server.port, args.fresh)
    time.sleep(1)
    before = pss_kib(server.pids())
    procs = []
    n_procs = (args.conns + PER_CLIENT - 1) // PER_CLIENT
    t0 = time.time()
    try:
        for i in range(n_procs):
            count = args.conns // n_procs + (1 if i < args.conns % n_procs else 0)
            procs.append(subprocess.Popen(
                [sys.executable, os.path.join(BENCH, "idle_client.py"), str(server.port), str(count),
                 f"127.0.{10 + i}", "/v.mp4", str(args.trickle)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        held = failed = 0
        for p in procs:
            line = p.stdout.readline().split()  # READY count opened failed
            if not line or line[0] != "READY":
                raise RuntimeError(f"{server.name}: a client did not get ready: {line}")
            held += int(line[2])
            failed += int(line[3])
        out["open_s"] = time.time() - t0
        out["held"], out["open_failed"] = held, failed
        time.sleep(2)
        after = pss_kib(server.pids())
        out["pss_before_kib"], out["pss_after_kib"] = before, after
        out["bytes_per_conn"] = (after - before) * 1024 / max(1, held)
        out["fresh_idle_p50_ms"], out["fresh_idle_p99_ms"] = fresh(server.port, args.fresh)
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        answered = tfailed = 0
        worst = 0.0
        for p in procs:
            line = p.stdout.readline().split()  # DONE answered failed worst_ms elapsed
            if not line or line[0] != "DONE":
                raise RuntimeError(f"{server.name}: a client did not finish the trickle: {line}")
            answered += int(line[1])
            tfailed += int(line[2])
            worst = max(worst, float(line[3]))
        out["trickle_answered"], out["trickle_failed"], out["trickle_worst_ms"] = answered, tfailed, worst
    finally:
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    print(f"{server.name}: {out['held']} held ({out['open_failed']} failed) in {out['open_s']:.0f} s, "
          f"{out['bytes_per_conn']:.0f} B/conn, trickle {out['trickle_answered']} answered "
          f"{out['trickle_failed']} failed (slowest {out['trickle_worst_ms']:.0f} ms), fresh p99 "
          f"{out['fresh_p99_ms']:.2f} -> {out['fresh_idle_p99_ms']:.2f} ms", flush=True)
    return out


def report(args, rows):
    lines = [MARK_BEGIN, "", "## Idle keep-alive connections (`bench/idle.py`)", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; reproduce with `bench/idle.py "
             f"--conns {args.conns} --workers {args.workers}`. {args.conns:,} keep-alive connections (one 1 KiB range each, then idle) "
             f"from {(args.conns + PER_CLIENT - 1) // PER_CLIENT} client processes; both servers with "
             f"{args.workers} workers (vcdn: threads with a descriptor table each; nginx: processes) and a 300 s "
             "idle timeout. Memory: growth of the server's PSS (all its processes) from "
             "before the connections to all of them idle, per connection: user space only. Trickle: each idle "
             f"connection asks once more, spread over {args.trickle} s. Fresh: {args.fresh} sequential new "
             "connections before and while the idle ones are held.", "",
             "| server | held | user-space bytes per idle connection | trickle answered / failed | slowest trickle answer | fresh p99 before → while held |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['held']:,} | {r['bytes_per_conn']:.0f} | {r['trickle_answered']:,} / "
                     f"{r['trickle_failed']} | {r['trickle_worst_ms']:.0f} ms | {r['fresh_p99_ms']:.2f} → "
                     f"{r['fresh_idle_p99_ms']:.2f} ms |")
    lines += ["", MARK_END]
    text = "\n".join(lines)
    if args.out:
        benchlib.write_section(args.out, MARK_BEGIN, MARK_END, text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conns", type=int, default=15000, help="idle connections per server")
    ap.add_argument("--trickle", type=float, default=30, help="seconds over which every connection asks again")
    ap.add_argument("--fresh", type=int, default=1000, help="fresh connections measured before and during")
    ap.add_argument("--vcdn", default=os.path.join(ROOT, "build", "vcdn"))
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--base", help="another vcdn binary measured the same way (vcdn-base)")
    ap.add_argument("--workers", type=int, default=os.cpu_count(),
                    help="workers of each server (vcdn threads, nginx processes); more than the "
                         "cores to hold more than ~18k connections per worker")
    ap.add_argument("--out", default=os.path.join(BENCH, "RESULTS.md"))
    args = ap.parse_args()
    if args.conns < 1 or args.trickle <= 0 or args.fresh < 1:
        sys.exit("bench/idle.py: --conns, --trickle and --fresh must be positive")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the clients inherit it
    work = tempfile.mkdtemp(prefix="vcdn-idle-")
    os.chmod(work, 0o755)  # nginx workers run as an unprivileged user and must read the file
    root = os.path.join(work, "root")
    os.makedirs(root)
    with open(os.path.join(root, "v.mp4"), "wb") as f:
        f.write(os.urandom(1 << 20))
    rows = []
    try:
        cfg = os.path.join(work, "vcdn.toml")
        with open(cfg, "w") as f:
            f.write(f"[edge]\nworkers = {args.workers}\n[edge.limits]\nidle_timeout_ms = 300000\n")
        for name, binary in [("vcdn", args.vcdn)] + ([("vcdn-base", args.base)] if args.base else []):
            port = free_port()
            server = Server(name, [binary, "edge", "--config", cfg, "--root", root, "--listen",
                                   f"127.0.0.1:{port}", "--access-log", "off"], port)
            try:
                rows.append(measure(server, args))
            finally:
                server.stop()
        port = free_port()
        conf = os.path.join(work, "nginx-idle.conf")
        with open(conf, "w") as f:
            f.write(NGINX_IDLE_CONF.format(workers=args.workers, work=work, port=port, root=root))
        server = Server("nginx", [args.nginx, "-c", conf, "-p", work], port)
        try:
            rows.append(measure(server, args))
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(args, rows)


if __name__ == "__main__":
    main()
