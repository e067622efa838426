#!/usr/bin/env python3
"""What each server asks of the kernel per request: vcdn vs nginx vs the minimal loop.

bench/run.py compares servers by bytes per CPU-second; on a hot page cache nearly all of that
CPU is the kernel's (sendfile, TCP, loopback), so what a server can still change is which
system calls it makes, how many, and how often it sleeps. This counts them: every server of
bench/run.py serves random 100 KiB ranges of a hot catalog to wrk (ranges.lua), and for the
whole of each run `perf stat` counts, over all the server's processes and threads, each kind
of system call (syscall tracepoints), all system calls, context switches and CPU time
(task-clock). Divided by wrk's requests, medians of interleaved rounds.

    scripts/setup --bench && scripts/build && bench/syscalls.py       # ~4 minutes
    bench/syscalls.py --root DIR --files LIST                          # an existing catalog
    bench/syscalls.py --shape oc                                       # 40 x 64 MiB files

Needs root (perf's tracepoints). Writes its section into bench/RESULTS.md (or --out),
replacing an earlier one, and prints it.
"""
import argparse
import datetime
import os
import platform
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
import run  # noqa: E402  (bench/run.py: its catalog and its servers)

MARK_BEGIN = "<!-- syscalls: begin -->"
MARK_END = "<!-- syscalls: end -->"

# (column, tracepoints summed into it)
KINDS = [
    ("recv", ["recvfrom", "read", "readv", "recvmsg"]),
    ("send head", ["sendto", "write", "writev", "sendmsg"]),
    ("sendfile", ["sendfile64"]),
    ("epoll_wait", ["epoll_wait", "epoll_pwait", "epoll_pwait2"]),
    ("epoll_ctl", ["epoll_ctl"]),
    ("setsockopt", ["setsockopt"]),
    ("mincore", ["mincore"]),
]


def measure(server, conns, files, duration, wrk):
    """One wrk run of `duration` s inside one perf stat of the server's processes, which
    starts just before it and ends just after (the idle moments add a timer or two). Returns
    counts per request (wrk's requests: exact, not a rate times a window)."""
    events = [f"syscalls:sys_enter_{n}" for _, names in KINDS for n in names]
    events += ["raw_syscalls:sys_enter", "context-switches", "task-clock"]
    stat = subprocess.Popen(["perf", "stat", "-x", ",", "-e", ",".join(events), "-p",
                             ",".join(str(x) for x in server.pids()), "--", "sleep", str(duration + 1)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # attached
    p = benchlib.start_wrk(wrk, server, "ranges.lua", conns, files, duration, threads=2)
    r = benchlib.parse_wrk(p.communicate(timeout=duration + 60)[0], server.name, 0)
    err = stat.communicate(timeout=30)[1]
    counts = {}
    for line in err.splitlines():
        f = line.split(",")
        if len(f) < 3 or not f[0].replace(".", "", 1).isdigit():
            continue
        counts[f[2].split("sys_enter_")[-1]] = float(f[0])
    if "task-clock" not in counts or not r["requests"]:
        raise RuntimeError(f"perf stat or wrk counted nothing for {server.name}: {err[:300]}")
    requests = r["requests"]
    out = {k: sum(counts.get(n, 0) for n in names) / requests for k, names in KINDS}
    out["all"] = counts.get("raw_syscalls:sys_enter", 0) / requests
    out["switches"] = counts.get("context-switches", 0) / requests
    out["cpu_us"] = counts["task-clock"] * 1000 / requests  # task-clock is in ms
    out["rps"] = r["rps"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    ap.add_argument("--reps", type=int, default=3, help="interleaved rounds (medians are reported)")
    ap.add_argument("--conns", default="100,1000", help="connection counts")
    ap.add_argument("--servers", default="vcdn,nginx,minimal-head",
                    help="of vcdn, nginx, minimal, minimal-head, vcdn-blocking, vcdn-forget-all "
                         "(residency_recheck = false: a fall of file pages forgets every file)")
    ap.add_argument("--shape", choices=("catalog", "oc"), default="catalog")
    ap.add_argument("--titles", type=int, default=20)
    ap.add_argument("--root", help="serve this catalog (with --files) instead of making one")
    ap.add_argument("--files", help="its list: a path and a size per line")
    ap.add_argument("--out", default=os.path.join(BENCH, "RESULTS.md"))
    ap.add_argument("--vcdn", default=os.path.join(ROOT, "build", "vcdn"))
    ap.add_argument("--minimal", default=os.path.join(ROOT, "build", "bench", "minimal_sendfile"))
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    args = ap.parse_args()
    if args.duration < 2:
        sys.exit("bench/syscalls.py: --duration must be at least 2")
    if bool(args.root) != bool(args.files):
        sys.exit("bench/syscalls.py: --root and --files go together")
    for tool in (args.vcdn, args.minimal, args.nginx, args.wrk, "perf"):
        if not shutil.which(tool) and not os.access(tool, os.X_OK):
            sys.exit(f"bench/syscalls.py: {tool} not found (run scripts/setup --bench && scripts/build)")
    wanted = args.servers.split(",")
    conns_list = [int(c) for c in args.conns.split(",")]

    work = tempfile.mkdtemp(prefix="vcdn-syscalls-")
    os.chmod(work, 0o755)  # nginx workers run as an unprivileged user
    root, files = args.root, args.files
    if not root:
        root, files = os.path.join(work, "catalog"), os.path.join(work, "files.txt")
        total = run.make_catalog(args.vcdn, root, files, args.shape, args.titles)
        print(f"catalog: {total / 1e9:.2f} GB, page cache warm", flush=True)
    opts = argparse.Namespace(nginx=args.nginx, vcdn=args.vcdn, minimal=args.minimal, base=None,
                              only_vcdn=False)
    servers = run.start_servers(opts, work, root, False, files)
    results = {}
    try:
        if "vcdn-forget-all" in wanted:
            conf = os.path.join(work, "vcdn-forget-all.toml")
            with open(conf, "w") as f:
                f.write("[edge.disk]\nresidency_recheck = false\n")
            port = benchlib.free_port()
            servers.append(benchlib.Server("vcdn-forget-all",
                                      [args.vcdn, "edge", "--config", conf, "--root", root, "--listen",
                                       f"127.0.0.1:{port}", "--access-log", "off"], port))
        servers_used = [s for s in servers if s.name in wanted]
        for rep in range(args.reps):
            for conns in conns_list:
                order = servers_used[rep % len(servers_used):] + servers_used[:rep % len(servers_used)]
                for s in order:
                    m = measure(s, conns, files, args.duration, args.wrk)
                    results.setdefault((conns, s.name), []).append(m)
                    print(f"c={conns:<5} {s.name:13} {m['rps']:8.0f} req/s  {m['all']:.2f} syscalls, "
                          f"{m['switches']:.3f} switches, {m['cpu_us']:.2f} CPU us per request", flush=True)
    finally:
        for s in servers:
            s.stop()
        if not args.root:
            shutil.rmtree(work, ignore_errors=True)

    cols = [k for k, _ in KINDS]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cmd = "bench/syscalls.py" + (f" --shape {args.shape}" if args.shape != "catalog" else "")
    what = (f"a catalog given by --root ({args.root})" if args.root else
            "40 files of 64 MiB" if args.shape == "oc" else f"`vcdn catalog make`, {args.titles} titles")
    lines = [MARK_BEGIN, "",
             "## System calls and CPU per request (`bench/syscalls.py`)", "",
             f"Measured {now} on {os.cpu_count()} cores, kernel {platform.release()}; reproduce: "
             f"`scripts/setup --bench && scripts/build && {cmd}`. Random 100 KiB ranges (wrk "
             f"`ranges.lua`, 2 threads) of {what}, all in the page cache, access logs off; "
             f"`perf stat` over each whole run, all the server's processes and threads, divided by "
             f"wrk's requests; medians of {args.reps} interleaved rounds of {args.duration} s. "
             "CPU µs: the server's task-clock per request (on loopback it includes part of the "
             "client's TCP receive, as in bench/run.py). \"vs first\": CPU per request against the "
             "first server of the row group.", "",
             "| conns | server | req/s | CPU µs | vs first | all syscalls | " + " | ".join(cols) +
             " | context switches |",
             "|---|---|---:|---:|---:|---:|" + "---:|" * len(cols) + "---:|"]
    for conns in conns_list:
        first = None
        for name in wanted:
            rows = results.get((conns, name))
            if not rows:
                continue
            med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
            first = first or med["cpu_us"]
            lines.append(f"| {conns} | {name} | {med['rps']:.0f} | {med['cpu_us']:.2f} | "
                         f"{med['cpu_us'] / first:.2f}x | {med['all']:.2f} | " +
                         " | ".join(f"{med[k]:.3f}" for k in cols) + f" | {med['switches']:.3f} |")
    lines += ["", MARK_END]
    benchlib.write_section(args.out, MARK_BEGIN, MARK_END, "\n".join(lines) + "\n")

if __name__ == "__main__":
    main()
