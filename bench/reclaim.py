#!/usr/bin/env python3
"""A full page cache: the servers side by side while the kernel keeps reclaiming.

An Open Connect box's normal state is a page cache that is full, a hot set larger than it,
and cold reads that push pages out all the time. Here each server runs in a memory cgroup of
its own whose limit (--limit, a fraction of the catalog) is below the catalog's size, so its
page cache is full and every miss reclaims: the steady reclaim of docs/design.md, in which the
edge's residency memory is forgotten at nearly every reading of /proc/vmstat and the edge asks
the kernel before every range. Before each run the catalog's pages are dropped (so that what
the server reads is charged to its own cgroup), then --warm seconds of the same load fill the
cgroup; the measured run follows.

Files shaped like Open Connect's: --files of 64 MiB on the local disk. Loads: random 100 KiB
ranges (ranges.lua) and player-like sequential walks (walk.lua), --conns connections, wrk on
the same cores. CPU: utime + stime of every process in the server's cgroup (threads and
io_uring's kernel workers included), so nginx's master and workers are all counted. Servers:
  vcdn            the default (async disk, residency memory)
  vcdn-no-memory  residency_memory_ms = 0: the kernel is asked before every range
  vcdn-blocking   disk.mode = "blocking": sendfile() reads a miss in the worker
  vcdn-sendfile   disk.reader = "sendfile": helper threads splice a miss to /dev/null (no
                  copy into user memory) instead of io_uring reads into a throw-away buffer
  vcdn-populate   disk.reader = "populate": read-ahead in whole 2 MiB blocks, each brought in
                  as one large page (a mapping populated and dropped); misses spliced as above
  nginx           sendfile (a miss blocks its worker)
  nginx-aio       sendfile with aio threads

Needs root and a memory cgroup it can make (cgroup v2 with the memory controller enabled at
the root, or v1's /sys/fs/cgroup/memory).

    scripts/setup --bench && scripts/build && bench/reclaim.py     # ~15 minutes
Appends its table to bench/RESULTS.md (replacing an earlier one).
"""
import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
sys.path.insert(0, BENCH)
import benchlib  # noqa: E402
from benchlib import NGINX_CONF, Server, free_port  # noqa: E402

MARK_BEGIN = "<!-- reclaim: begin -->"
MARK_END = "<!-- reclaim: end -->"


class MemoryCgroup:
    """A memory cgroup of `limit` bytes, made for one server and removed after it."""

    def __init__(self, name, limit):
        v2 = "/sys/fs/cgroup"
        control = os.path.join(v2, "cgroup.subtree_control")
        if os.path.exists(control) and "memory" in open(control).read().split():
            self.path = os.path.join(v2, name)
            os.mkdir(self.path)
            self._write("memory.max", str(limit))
            if os.path.exists(os.path.join(self.path, "memory.swap.max")):  # swap accounting on
                self._write("memory.swap.max", "0")
        elif os.path.isdir("/sys/fs/cgroup/memory"):
            self.path = os.path.join("/sys/fs/cgroup/memory", name)
            os.mkdir(self.path)
            self._write("memory.limit_in_bytes", str(limit))
        else:
            raise RuntimeError("no memory cgroup to make: needs cgroup v2 with the memory controller "
                               "enabled at /sys/fs/cgroup, or v1's /sys/fs/cgroup/memory")

    def _write(self, name, value):
        with open(os.path.join(self.path, name), "w") as f:
            f.write(value)

    def wrap(self, argv):
        """argv run in this cgroup: a shell joins it and execs the server (same pid)."""
        return ["sh", "-c", f'echo $$ > {self.path}/cgroup.procs && exec "$@"', "sh"] + argv

    def pids(self):
        with open(os.path.join(self.path, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]

    def remove(self):
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.1)  # its processes are still exiting
        print(f"warning: could not remove {self.path}", file=sys.stderr)


def disk_read_bytes(pids):
    """Bytes the processes caused to be read from storage (/proc/PID/io read_bytes: every
    thread's, io_uring's workers and the kernel's read-ahead in their system calls included)."""
    return benchlib.proc_field_total(pids, "io", "read_bytes:")


class CgroupServer(Server):
    """A server started inside a memory cgroup; its processes are the cgroup's."""

    def __init__(self, name, argv, port, cgroup, admin=None):
        self.cgroup, self.admin = cgroup, admin
        super().__init__(name, cgroup.wrap(argv), port)

    def pids(self):
        return self.cgroup.pids()

    def residency(self):
        """vcdn's residency answers so far: (by memory, by kernel), or None."""
        if not self.admin:
            return None
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/metrics", timeout=5) as r:
            text = r.read().decode()
        got = {"memory": 0, "kernel": 0}
        for m in re.finditer(r'^vcdn_residency_answers_total\{[^}]*by="(memory|kernel)"\} (\d+)', text, re.M):
            got[m.group(1)] += int(m.group(2))
        return got["memory"], got["kernel"]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=40, help="files of 64 MiB")
    ap.add_argument("--limit", type=float, default=0.75,
                    help="each server's memory limit as a fraction of the catalog's size")
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warm", type=int, default=5, help="seconds of load before each measured run")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one round of 4 s, 16 files")
    ap.add_argument("--servers",
                    default="vcdn,vcdn-no-memory,vcdn-blocking,vcdn-sendfile,vcdn-populate,nginx,"
                            "nginx-aio",
                    help="comma-separated subset of the servers above")
    ap.add_argument("--loads", default="ranges,walk", help="comma-separated: ranges, walk")
    ap.add_argument("--out", default=os.path.join(BENCH, "RESULTS.md"))
    ap.add_argument("--vcdn", default=os.path.join(ROOT, "build", "vcdn"))
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    args = ap.parse_args()
    if args.quick:
        args.duration, args.reps, args.files, args.warm = 4, 1, 16, 3
    wanted = set(args.servers.split(","))
    loads = [f"{x}.lua" for x in args.loads.split(",")]
    if not wanted <= {"vcdn", "vcdn-no-memory", "vcdn-blocking", "vcdn-sendfile",
                      "vcdn-populate", "nginx", "nginx-aio"}:
        ap.error(f"unknown server in --servers {args.servers!r}")
    if not set(loads) <= {"ranges.lua", "walk.lua"}:
        ap.error(f"unknown load in --loads {args.loads!r}")
    if not 0.05 <= args.limit < 1:
        ap.error("--limit must be in [0.05, 1): the page cache must be smaller than the catalog")
    for tool in (args.vcdn, args.wrk, args.nginx):
        if not shutil.which(tool) and not os.access(tool, os.X_OK):
            sys.exit(f"bench/reclaim.py: {tool} not found (scripts/setup --bench && scripts/build)")
    if os.geteuid() != 0:
        sys.exit("bench/reclaim.py: needs root (it makes memory cgroups)")

    # On the disk, not a tmpfs: the page cache must be droppable and re-readable.
    work = tempfile.mkdtemp(prefix="vcdn-reclaim-", dir="/var/tmp")
    os.chmod(work, 0o755)
    root, listing, paths, total = benchlib.make_disk_catalog(args.vcdn, work, args.files)
    limit = int(total * args.limit)
    print(f"work {work}: {len(paths)} files, {total / 1e9:.2f} GB; each server's memory limit "
          f"{limit / 1e9:.2f} GB", flush=True)

    servers, cgroups, results = [], [], {}
    try:
        vcdn_kinds = (("vcdn", ""), ("vcdn-no-memory", "[edge.disk]\nresidency_memory_ms = 0\n"),
                      ("vcdn-blocking", '[edge.disk]\nmode = "blocking"\n'),
                      ("vcdn-sendfile", '[edge.disk]\nreader = "sendfile"\n'),
                      ("vcdn-populate", '[edge.disk]\nreader = "populate"\n'))
        for name, toml in vcdn_kinds:
            if name not in wanted:
                continue
            cg = MemoryCgroup(f"vcdn-bench-{os.getpid()}-{name}", limit)
            cgroups.append(cg)
            conf = os.path.join(work, f"{name}.toml")
            with open(conf, "w") as f:
                f.write(toml)
            port, admin = free_port(), free_port()
            servers.append(CgroupServer(name, [args.vcdn, "edge", "--config", conf, "--root", root,
                                               "--listen", f"127.0.0.1:{port}", "--admin",
                                               f"127.0.0.1:{admin}", "--access-log", "off"],
                                        port, cg, admin))
        for name, extra in (("nginx", ""), ("nginx-aio", "aio threads;")):
            if name not in wanted:
                continue
            cg = MemoryCgroup(f"vcdn-bench-{os.getpid()}-{name}", limit)
            cgroups.append(cg)
            port = free_port()
            conf = os.path.join(work, f"{name}.conf")
            with open(conf, "w") as f:
                f.write(NGINX_CONF.format(workers=os.cpu_count(), work=work, tag=name,
                                          access_log="access_log off;", port=port, root=root,
                                          extra=extra))
            servers.append(CgroupServer(name, [args.nginx, "-c", conf, "-p", work], port, cg))
        for rep in range(args.reps):
            order = servers[rep % len(servers):] + servers[:rep % len(servers)]
            for load in loads:
                for s in order:
                    benchlib.drop_page_cache(paths)
                    benchlib.run_wrk(args.wrk, s, load, args.conns, listing, args.warm)
                    before = s.residency()
                    read0 = disk_read_bytes(s.pids())
                    r = benchlib.run_wrk(args.wrk, s, load, args.conns, listing, args.duration)
                    r["disk_read_per_sent"] = (disk_read_bytes(s.pids()) - read0) / max(1, r["bytes"])
                    after = s.residency()
                    if before and after:
                        mem, ker = after[0] - before[0], after[1] - before[1]
                        r["memory_share"] = mem / max(1, mem + ker)
                    results.setdefault((load, s.name), []).append(r)
                    share = f" memory answered {r['memory_share']:.1%}" if "memory_share" in r else ""
                    print(f"{load:11} {s.name:15} {r['rps']:8.0f} req/s {r['gbps']:6.2f} Gbit/s "
                          f"p99 {r['p99_us'] / 1000:6.1f} ms cpu {r['cpu_s']:5.2f} s "
                          f"{r['gb_per_cpu_s']:5.2f} GB/CPU-s read/sent "
                          f"{r['disk_read_per_sent']:4.2f}{share}", flush=True)
    finally:
        for s in servers:
            s.stop()
        for cg in cgroups:
            cg.remove()
    report(args, results, total, limit)
    shutil.rmtree(work, ignore_errors=True)


def report(args, results, total, limit):
    med = lambda rows, k: statistics.median(r[k] for r in rows)  # noqa: E731
    lines = [MARK_BEGIN, "",
             "## A full page cache: steady reclaim (`bench/reclaim.py`)", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; reproduce with "
             f"`bench/reclaim.py`. {args.files} files of 64 MiB ({total / 1e9:.2f} GB) on the local "
             f"disk; each server in a memory cgroup of its own limited to {limit / 1e9:.2f} GB "
             f"({args.limit:.0%} of the catalog), so its page cache is full and every miss "
             f"reclaims. Before each run the catalog is dropped and {args.warm} s of the same load "
             f"fill the cgroup. {args.conns} connections, wrk with 2 threads on the same 2 cores; "
             f"{args.reps} runs of {args.duration} s, servers in rotated order, medians. CPU: every "
             "process in the server's cgroup (utime + stime). `disk read ÷ sent`: bytes the "
             "server's processes read from the disk (/proc/PID/io `read_bytes`, read-ahead "
             "included) per byte sent. `memory answered`: the share of vcdn's residency answers "
             "that came from its memory rather than `mincore`.", "",
             "| load | server | req/s | Gbit/s | p99 ms | server CPU s | GB/CPU-s | vs nginx (GB/CPU-s) "
             "| vs nginx (req/s) | disk read ÷ sent | memory answered |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for load in ("ranges.lua", "walk.lua"):
        base = results.get((load, "nginx"))
        for (ld, name), rows in results.items():
            if ld != load:
                continue
            eff, rps = med(rows, "gb_per_cpu_s"), med(rows, "rps")
            vs = (f"{eff / med(base, 'gb_per_cpu_s'):.2f}x | {rps / med(base, 'rps'):.2f}x"
                  if base and name != "nginx" else " | ")
            share = f"{med(rows, 'memory_share'):.1%}" if all("memory_share" in r for r in rows) else ""
            lines.append(f"| {'random 100 KiB ranges' if load == 'ranges.lua' else 'sequential walk, 100 KiB'} "
                         f"| {name} | {rps:,.0f} | {med(rows, 'gbps'):.2f} | {med(rows, 'p99_us') / 1000:.1f} "
                         f"| {med(rows, 'cpu_s'):.2f} | {eff:.2f} | {vs} "
                         f"| {med(rows, 'disk_read_per_sent'):.2f} | {share} |")
    lines += ["", MARK_END]
    benchlib.write_section(args.out, MARK_BEGIN, MARK_END, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
