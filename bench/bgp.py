#!/usr/bin/env python3
"""BGP benchmark: a full table from BIRD into the edge and on to the control plane, and what a
1% change costs in heartbeat bytes.

Real processes on loopback: a BIRD 2 "ISP router" with N static /24 routes (default 1,000,000)
exported over one BGP session to the edge's own BIRD (its config from `vcdn bgp-config`); a
`vcdn control` (SQLite) and a `vcdn edge --bird-socket` that reads the routes and reports them
in heartbeats (at most 250,000 changes per heartbeat; with more to send the next follows at once).

Measured:
1. Import: from the edge's start (its BIRD already holds the table) until the control plane's
   GET /api/v1/bgp shows all N prefixes for the site: the edge's read from BIRD, the heartbeats,
   the control plane's apply/store/index. Peak RSS and CPU seconds of edge and control.
2. A 1% change: the router withdraws 8,192 prefixes (1.0.0.0/11) and changes the MED of 2,048
   (2.0.0.0/13). Time until the control plane has all 10,240 changes, and the heartbeat bytes
   they took (the bytes over the idle heartbeats' size), against the full table's size.

    scripts/setup && scripts/build && bench/bgp.py            # ~2 minutes for 1M prefixes
Writes its section of bench/RESULTS.md (or --out).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import benchlib  # noqa: E402
from benchlib import LoggedProc, free_port, wait_port  # noqa: E402

ADMIN = "admin-token-bench"
BIRD = "/usr/sbin/bird"
BIRDC = "/usr/sbin/birdc"


def router_conf(n, port, change):
    """The ISP router: n /24 routes from 1.0.0.0 up; `change` withdraws 1.0.0.0/11 and sets
    MED 50 on 2.0.0.0/13 in the export filter."""
    lines = ["log stderr all;", "router id 127.0.0.2;", "protocol device {}",
             "protocol static st4 {", "  ipv4;"]
    base = 1 << 24
    for i in range(n):
        a = base + (i << 8)
        lines.append(f"  route {a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.0/24 blackhole;")
    lines.append("}")
    filt = "accept;"
    if change:
        filt = ("if net ~ [ 1.0.0.0/11{24,24} ] then reject; "
                "if net ~ [ 2.0.0.0/13{24,24} ] then bgp_med = 50; accept;")
    lines.append(f"""protocol bgp edge {{
  local 127.0.0.2 port {port} as 65001;
  neighbor 127.0.0.3 port {port} as 65010;
  multihop;
  strict bind yes;
  connect retry time 1;
  ipv4 {{ import none; export filter {{ {filt} }}; next hop address 192.0.2.1; }};
  ipv6 {{ import none; export none; }};
}}""")
    return "\n".join(lines) + "\n"


def birdc(sock, cmd):
    return subprocess.run([BIRDC, "-s", sock, cmd], capture_output=True, text=True,
                          timeout=120).stdout


def route_count(sock):
    m = re.search(r"Total: (\d+) of (\d+) routes", birdc(sock, "show route count"))
    return int(m.group(1)) if m else 0


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def metric(port, name):
    out = subprocess.run(["curl", "-s", f"http://127.0.0.1:{port}/metrics"], capture_output=True,
                         text=True, timeout=30).stdout
    m = re.search(rf"^{re.escape(name)} (\d+)", out, re.M)
    return int(m.group(1)) if m else 0


def site_prefixes(port):
    j = benchlib.api(port, "GET", "/api/v1/bgp", token=ADMIN)
    if not isinstance(j, dict):
        return -1
    for s in j.get("sites", []):
        if s["site"] == "isp-a":
            return s["prefixes"]
    return -1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vcdn", default=os.path.join(ROOT, "build", "vcdn"))
    ap.add_argument("--prefixes", type=int, default=1000000)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "RESULTS.md"))
    ap.add_argument("--perf", metavar="DIR",
                    help="profile: run control and edge under `perf record` into DIR (the "
                         "numbers of such a run are not written)")
    args = ap.parse_args()
    if not os.access(BIRD, os.X_OK):
        sys.exit("bench/bgp.py: BIRD 2 is not installed (scripts/setup installs bird2)")
    n = args.prefixes
    if n < 20000 or n > (1 << 20):
        sys.exit("--prefixes: 20000 to 1048576 (the change needs 1.0.0.0/11 and 2.0.0.0/13)")
    work = tempfile.mkdtemp(prefix="vcdn-bgpb-", dir="/tmp")  # short socket paths
    procs = []
    try:
        port = free_port()
        isp_conf = os.path.join(work, "isp.conf")
        with open(isp_conf, "w") as f:
            f.write(router_conf(n, port, False))
        edge_conf = os.path.join(work, "edge.conf")
        subprocess.run([args.vcdn, "bgp-config", "--router-id", "127.0.0.3", "--local-as", "65010",
                        "--neighbor", "isp=127.0.0.2:65001", "--local-address", "127.0.0.3",
                        "--port", str(port), "--multihop", "--strict-bind", "--log", "stderr",
                        "--out", edge_conf], check=True)
        isp_sock, edge_sock = os.path.join(work, "isp.ctl"), os.path.join(work, "edge.ctl")
        t = time.time()
        for name, conf, sock in (("isp", isp_conf, isp_sock), ("edgebird", edge_conf, edge_sock)):
            p = LoggedProc([BIRD, "-f", "-c", conf, "-s", sock, "-P",
                            os.path.join(work, name + ".pid")], os.path.join(work, name + ".log"))
            procs.append(p)
        deadline = time.time() + 600
        while time.time() < deadline:
            if os.path.exists(edge_sock) and route_count(edge_sock) >= n:
                break
            time.sleep(0.5)
        else:
            raise RuntimeError("the edge's BIRD did not get the table in 600 s")
        bird_s = time.time() - t
        print(f"BIRD: {n} routes from router to the edge's BIRD in {bird_s:.1f} s")

        fleet = os.path.join(work, "fleet.toml")
        with open(fleet, "w") as f:
            f.write('[[site]]\nname = "isp-a"\ntier = "embedded"\n\n[[site.edge]]\nid = "a1"\n'
                    'url = "http://127.0.0.1:1"\ntoken = "edge-secret-0123-a1"\n')
        cport, aport = free_port(), free_port()
        def perf(name):
            if not args.perf:
                return []
            os.makedirs(args.perf, exist_ok=True)
            return ["perf", "record", "-q", "-e", "cpu-clock", "-F", "499", "-g", "-o",
                    os.path.join(args.perf, name + ".perf"), "--"]

        control = LoggedProc(perf("control") + [args.vcdn, "control", "--listen", f"127.0.0.1:{cport}", "--db",
                              "sqlite:" + os.path.join(work, "control.db"), "--fleet", fleet,
                              "--admin-token-file", benchlib.secret_file(work, "admin.token", ADMIN)],
                             os.path.join(work, "control.log"))
        procs.append(control)
        wait_port(cport, 15)
        root = os.path.join(work, "root")
        os.makedirs(root)
        t0 = time.time()
        edge = LoggedProc(perf("edge") + [args.vcdn, "edge", "--root", root, "--listen", "127.0.0.1:0",
                           "--admin", f"127.0.0.1:{aport}", "--control", f"http://127.0.0.1:{cport}",
                           "--control-insecure", "--id", "a1",
                           "--token-file", benchlib.secret_file(work, "a1.token", "edge-secret-0123-a1"), "--bird-socket", edge_sock],
                          os.path.join(work, "edge.log"))
        procs.append(edge)
        m = edge.wait_line(r"bgp: (\d+) prefixes from 1 established session\(s\) \(read in ([\d.]+) s\)",
                           600)
        read_s = float(m.group(2))
        while site_prefixes(cport) != n:
            if time.time() - t0 > 600:
                raise RuntimeError("the control plane did not get the table in 600 s")
            time.sleep(0.2)
        import_s = time.time() - t0
        # The last index (the whole table; earlier ones were partial).
        control.wait_line(rf"steering by {n} BGP-learned site prefixes", 30)
        idx = re.findall(rf"steering by {n} BGP-learned site prefixes \(indexed in (\d+) ms\)",
                         open(control.log).read())[-1]
        full_bytes = metric(aport, "vcdn_control_heartbeat_bytes_total")
        edge_cpu = benchlib.cpu_seconds(edge.pids())
        control_cpu = benchlib.cpu_seconds(control.pids())
        print(f"import: edge read {read_s:.2f} s, at the control plane after {import_s:.1f} s; "
              f"{full_bytes / 1e6:.1f} MB of heartbeats")

        # Idle heartbeats: their size, to take out of the change's bytes.
        time.sleep(2)
        b0, h0 = metric(aport, "vcdn_control_heartbeat_bytes_total"), \
            metric(aport, 'vcdn_control_heartbeats_total{result="ok"}')
        time.sleep(4)
        b1, h1 = metric(aport, "vcdn_control_heartbeat_bytes_total"), \
            metric(aport, 'vcdn_control_heartbeats_total{result="ok"}')
        idle = (b1 - b0) / max(1, h1 - h0)
        changes0 = metric(aport, "vcdn_control_bgp_changes_total")
        with open(isp_conf, "w") as f:
            f.write(router_conf(n, port, True))
        t1 = time.time()
        out = birdc(isp_sock, "configure")
        if "Reconfigured" not in out:
            raise RuntimeError("router reconfigure: " + out)
        while route_count(edge_sock) != n - 8192:  # BIRD's own part, for scale
            if time.time() - t1 > 300:
                raise RuntimeError("the edge's BIRD did not see the withdrawals in 300 s")
            time.sleep(0.1)
        bird_change_s = time.time() - t1
        want = 8192 + 2048
        while metric(aport, "vcdn_control_bgp_changes_total") - changes0 < want:
            if time.time() - t1 > 300:
                raise RuntimeError("the change did not reach the control plane in 300 s")
            time.sleep(0.1)
        while site_prefixes(cport) != n - 8192:
            if time.time() - t1 > 300:
                raise RuntimeError("the control plane's union did not shrink in 300 s")
            time.sleep(0.1)
        change_s = time.time() - t1
        b2, h2 = metric(aport, "vcdn_control_heartbeat_bytes_total"), \
            metric(aport, 'vcdn_control_heartbeats_total{result="ok"}')
        change_bytes = (b2 - b1) - idle * (h2 - h1)
        edge_rss, control_rss = peak_rss_mb(edge.p.pid), peak_rss_mb(control.p.pid)
        got = metric(aport, "vcdn_control_bgp_changes_total") - changes0
        print(f"1% change: {got} changes at the control plane in {change_s:.1f} s, "
              f"{change_bytes / 1e3:.0f} kB of heartbeats")
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(work, ignore_errors=True)
    if args.perf:
        print(f"profiles in {args.perf}: perf report -i {args.perf}/control.perf --no-children")
        return


    text = f"""<!-- bgp: begin -->
## BGP: a full table from BIRD to the control plane (`bench/bgp.py`)

`bench/bgp.py --prefixes {n}` on 2 cores, {time.strftime('%Y-%m-%d')}: BIRD 2.0 router -> the edge's BIRD -> `vcdn edge --bird-socket` -> heartbeats -> `vcdn control` (SQLite). One run (the import is one event; repeat the command for more).

| step | result |
|---|---:|
| router to the edge's BIRD (BIRD itself, for scale) | {bird_s:.1f} s |
| edge reads {n:,} routes from BIRD (`show route all protocol`) | {read_s:.2f} s |
| edge start to all prefixes at the control plane | {import_s:.1f} s |
| control plane: steering index of the site's prefixes | {int(idx)} ms |
| heartbeat bytes for the full table | {full_bytes / 1e6:.1f} MB |
| CPU seconds for the import: edge / control | {edge_cpu:.1f} / {control_cpu:.1f} |
| peak RSS: edge / control | {edge_rss:.0f} MB / {control_rss:.0f} MB |
| 1% change ({got:,} routes: 8,192 withdrawn, 2,048 new MED): router reconfigured to the edge's BIRD | {bird_change_s:.1f} s |
| the same change to the control plane (from the reconfigure) | {change_s:.1f} s |
| heartbeat bytes for the 1% change (over idle heartbeats of {idle:.0f} B) | {change_bytes / 1e3:.0f} kB ({100 * change_bytes / max(1, full_bytes):.1f}% of the full table) |
<!-- bgp: end -->
"""
    benchlib.write_section(args.out, "<!-- bgp: begin -->", "<!-- bgp: end -->", text)


if __name__ == "__main__":
    main()
