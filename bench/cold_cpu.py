#!/usr/bin/env python3
"""What a cold byte costs: server CPU per GB served from the page cache (hot) and from disk
(cold), side by side for the edge's disk readers and for nginx.

Files shaped like Open Connect's: --files of 64 MiB on the local disk (ext4 here). Two
workloads, each hot and cold: player-like sequential walks in 100 KiB ranges (walk.lua, one
stream per connection) and random 100 KiB ranges (ranges.lua). Cold: the files' pages are
dropped (POSIX_FADV_DONTNEED) before the run and again every --evict-ms during it, so that
nearly every range comes from the disk. The server's CPU (utime + stime of the process and its
threads, io_uring's kernel workers included) is read from /proc before and after each run.
Servers:
  vcdn io_uring   disk.reader = "io_uring": misses read into a throw-away buffer (a copy)
  vcdn sendfile   disk.reader = "sendfile": misses sendfile()d to /dev/null (no copy)
  vcdn populate   disk.reader = "populate": read-ahead in whole 2 MiB blocks, each mapped and
                  populated as one large page (the viewer's own miss is spliced, as above)
  nginx sendfile  plain sendfile (a miss blocks its worker)
  nginx aio       sendfile with aio threads

    scripts/setup --bench && scripts/build && bench/cold_cpu.py     # ~8 minutes
Appends its table to bench/RESULTS.md (replacing an earlier one).
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
sys.path.insert(0, BENCH)
import benchlib  # noqa: E402
from benchlib import NGINX_CONF, Server, free_port  # noqa: E402

MARK_BEGIN = "<!-- cold-cpu: begin -->"
MARK_END = "<!-- cold-cpu: end -->"


def warm(paths):
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 22):
                pass


class Evictor:
    """Drops the files' pages every `ms` while a cold run lasts (bounded by `limit_s`)."""

    def __init__(self, paths, ms, limit_s):
        self.paths, self.ms, self.limit_s = paths, ms, limit_s
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        end = time.time() + self.limit_s
        while not self.stop.is_set() and time.time() < end:
            benchlib.drop_page_cache(self.paths)
            self.stop.wait(self.ms / 1000)

    def close(self):
        self.stop.set()
        self.t.join()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=32, help="files of 64 MiB")
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--evict-ms", type=int, default=200)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-nginx", action="store_true")
    ap.add_argument("--out", default=os.path.join(BENCH, "RESULTS.md"))
    ap.add_argument("--vcdn", default=os.path.join(ROOT, "build", "vcdn"))
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    args = ap.parse_args()
    if args.quick:
        args.duration, args.reps, args.files = 5, 1, 16
    for tool in (args.vcdn, args.wrk) + (() if args.no_nginx else (args.nginx,)):
        if not shutil.which(tool) and not os.access(tool, os.X_OK):
            sys.exit(f"bench/cold_cpu.py: {tool} not found (scripts/setup --bench && scripts/build)")

    # On the disk, not a tmpfs: the page cache must be droppable.
    work = tempfile.mkdtemp(prefix="vcdn-cold-cpu-", dir="/var/tmp")
    os.chmod(work, 0o755)
    root, listing, paths, total = benchlib.make_disk_catalog(args.vcdn, work, args.files)
    print(f"work {work}: {len(paths)} files, {total / 1e9:.2f} GB", flush=True)

    servers = []
    results = {}
    try:
        for name, reader in (("vcdn io_uring", "io_uring"), ("vcdn sendfile", "sendfile"),
                             ("vcdn populate", "populate")):
            port = free_port()
            conf = os.path.join(work, f"{name.replace(' ', '-')}.toml")
            with open(conf, "w") as f:
                f.write(f'[edge.disk]\nreader = "{reader}"\n')
            servers.append(Server(name, [args.vcdn, "edge", "--config", conf, "--root", root,
                                         "--listen", f"127.0.0.1:{port}", "--access-log", "off"],
                                  port))
        if not args.no_nginx:
            for name, extra in (("nginx sendfile", ""), ("nginx aio", "aio threads;")):
                port = free_port()
                tag = name.replace(" ", "-")
                conf = os.path.join(work, f"{tag}.conf")
                with open(conf, "w") as f:
                    f.write(NGINX_CONF.format(workers=os.cpu_count(), work=work, tag=tag,
                                              access_log="access_log off;", port=port, root=root,
                                              extra=extra))
                servers.append(Server(name, [args.nginx, "-c", conf, "-p", work], port))
        for rep in range(args.reps):
            order = servers[rep % len(servers):] + servers[:rep % len(servers)]
            for s in order:
                for load in ("walk.lua", "ranges.lua"):
                    row = {}
                    for temp in ("hot", "cold"):
                        if temp == "hot":
                            warm(paths)
                            ev = None
                        else:
                            benchlib.drop_page_cache(paths)
                            ev = Evictor(paths, args.evict_ms, args.duration + 30)
                        try:
                            r = benchlib.run_wrk(args.wrk, s, load, args.conns, listing,
                                                 args.duration)
                        finally:
                            if ev:
                                ev.close()
                        row[temp] = r
                    key = (s.name, load)
                    results.setdefault(key, []).append(row)
                    h, c = row["hot"], row["cold"]
                    print(f"{s.name:15} {load:11} hot {h['gb_per_cpu_s']:6.2f} GB/CPU-s "
                          f"({h['gbps']:5.2f} Gbit/s)  cold {c['gb_per_cpu_s']:6.2f} GB/CPU-s "
                          f"({c['gbps']:5.2f} Gbit/s, p99 {c['p99_us'] / 1000:6.1f} ms)  "
                          f"cold CPU per GB ÷ hot {h['gb_per_cpu_s'] / max(1e-9, c['gb_per_cpu_s']):.2f}x",
                          flush=True)
    finally:
        for s in servers:
            s.stop()
    report(args, results, total)
    shutil.rmtree(work, ignore_errors=True)


def report(args, results, total):
    med = lambda rows, t, k: statistics.median(r[t][k] for r in rows)  # noqa: E731
    lines = [MARK_BEGIN, "",
             "## What a cold byte costs (`bench/cold_cpu.py`)", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; reproduce with "
             f"`bench/cold_cpu.py`. {args.files} files of 64 MiB ({total / 1e9:.2f} GB) on the "
             "local disk (ext4 on the VM's virtio disk). Hot: every page in the page cache. Cold: "
             f"pages dropped before the run and every {args.evict_ms} ms during it. "
             f"{args.conns} connections, wrk with 2 threads on the same 2 cores; `walk`: "
             "player-like sequential 100 KiB ranges, one stream per connection; `random`: random "
             f"100 KiB ranges. {args.reps} runs of {args.duration} s, servers in rotated order, "
             "medians. GB per server CPU-second (utime + stime of the whole process, io_uring's "
             "kernel workers included).", "",
             "| server | load | hot GB/CPU-s | cold GB/CPU-s | cold CPU per GB ÷ hot | "
             "hot Gbit/s | cold Gbit/s | cold p99 ms |",
             "|---|---|---|---|---|---|---|---|"]
    for (name, load), rows in results.items():
        hot, cold = med(rows, "hot", "gb_per_cpu_s"), med(rows, "cold", "gb_per_cpu_s")
        lines.append(f"| {name} | {'walk' if load == 'walk.lua' else 'random'} | {hot:.2f} | "
                     f"{cold:.2f} | {hot / max(1e-9, cold):.2f}x | {med(rows, 'hot', 'gbps'):.2f} | "
                     f"{med(rows, 'cold', 'gbps'):.2f} | {med(rows, 'cold', 'p99_us') / 1000:.1f} |")
    lines += ["", MARK_END]
    benchlib.write_section(args.out, MARK_BEGIN, MARK_END, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
