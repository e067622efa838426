"""Shared pieces of the vcdn benchmarks: servers started by pid, CPU accounting, wrk runs."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (whole process)
        except FileNotFoundError:
            pass
    return total / TICK


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Server:
    def __init__(self, name, argv, port, env=None):
        self.name, self.argv, self.port = name, argv, port
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=env, start_new_session=True)
        wait_port(port)

    def pids(self):
        pids = [self.proc.pid]
        try:
            out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)],
                                 capture_output=True, text=True).stdout
            pids += [int(x) for x in out.split()]
        except OSError:
            pass
        return pids

    def stop(self):
        # Only what we started, by pid (nginx: its master, which stops its workers).
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


NGINX_CONF = """worker_processes {workers};
pid {work}/nginx-{tag}.pid;
error_log {work}/nginx-{tag}-error.log;
daemon off;
master_process on;
worker_rlimit_nofile 19000;
events {{ worker_connections 8000; use epoll; }}
http {{
  {access_log}
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  open_file_cache max=10000 inactive=60s;
  open_file_cache_valid 60s;
  types {{ video/mp4 mp4; }}
  default_type application/octet-stream;
  {extra}
  server {{
    listen 127.0.0.1:{port} reuseport;
    root {root};
  }}
}}
"""



def server_url(server):
    """The base URL of a server: its .url if it has one (HTTPS), else http://127.0.0.1:port/."""
    return getattr(server, "url", None) or f"http://127.0.0.1:{server.port}/"


def run_wrk(wrk, server, script, conns, files, duration, threads=None, extra_args=(), rx_split=None):
    """Runs wrk against a server; returns its summary plus rates and the server's CPU seconds.
    rx_split: a directory for a whole-machine profile of the run's middle (see loopback_rx_split);
    the result then also has "rx": the split, "cpu_s_rx": the server's CPU-s with loopback
    receive work charged to the receiving side, and "gb_per_cpu_s_rx" (a failed `perf record`
    is a warning, and the run has none of the three)."""
    threads = threads or (2 if conns >= 2 else 1)
    cmd = [wrk, f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--timeout", "5s",
           "-s", os.path.join(BENCH, "wrk", script), server_url(server), "--", files,
           str(max(1, conns // threads))] + [str(a) for a in extra_args]
    pids = server.pids()
    c0 = cpu_seconds(pids)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    data = None
    if rx_split and duration >= 4:
        time.sleep(1)
        data = os.path.join(rx_split, "rx.perf")
        if os.path.exists(data):
            os.unlink(data)  # never read the last run's profile
        rec = subprocess.run(["perf", "record", "-a", "-g", "-F", "997", "-e", "cpu-clock", "-q", "-o", data,
                              "--", "sleep", str(duration - 2)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=duration + 30)
        if rec.returncode != 0 or not os.path.exists(data):
            print(f"warning: perf record failed ({rec.stderr.strip()[:200]}): no --rx-split for this run",
                  file=sys.stderr, flush=True)
            data = None
    out = p.communicate(timeout=duration + 60)[0]
    c1 = cpu_seconds(pids)
    r = parse_wrk(out, server.name, c1 - c0)
    if data:
        split = loopback_rx_split(data, set(pids), p.pid)
        r["rx"] = split
        if split["server"]:
            r["cpu_s_rx"] = r["cpu_s"] * split["fair"] / split["server"]
            r["gb_per_cpu_s_rx"] = r["bytes"] / 1e9 / r["cpu_s_rx"] if r["cpu_s_rx"] > 0 else 0
    return r


# Kernel functions through which a loopback packet is delivered to its receiving socket.
RX_FRAMES = ("net_rx_action", "process_backlog")


def loopback_rx_split(data, server_pids, client_pid):
    """Splits a `perf record -a -g` profile of a loopback run by who did the work.

    On loopback a packet is delivered to the receiving socket by the softirq of the CPU that
    sent it, mostly in the sender's own system call: the server's CPU time includes the client's
    TCP receive of the server's data, and the client's includes the server's receive of the
    requests and ACKs (ACK processing frees what the server sent). Over a network each side
    pays for its own receive. Returns sample counts: "server" (all of the server's), "server_rx"
    (its share under the receive softirq: the client's receive), "client_rx" (the client's share
    under it: the server's receive), "other_rx" (anyone else's, e.g. ksoftirqd: not attributed),
    and "fair" = server - server_rx + client_rx."""
    c = {"server": 0, "server_rx": 0, "client": 0, "client_rx": 0, "other_rx": 0}
    proc = subprocess.Popen(["perf", "script", "-i", data, "-F", "pid,ip,sym"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    pid, rx = None, False

    def flush():
        if pid is None:
            return
        who = "server" if pid in server_pids else "client" if pid == client_pid else None
        if who:
            c[who] += 1
            c[who + "_rx"] += rx
        elif rx:
            c["other_rx"] += 1

    for line in proc.stdout:
        t = line.strip()
        if not t:
            continue
        if t.isdigit():
            flush()
            pid, rx = int(t), False
        elif not rx:
            rx = any(f in t for f in RX_FRAMES)
    flush()
    proc.wait()
    c["fair"] = c["server"] - c["server_rx"] + c["client_rx"]
    return c


def start_wrk(wrk, server, script, conns, files, duration, threads=1, extra_args=()):
    """Starts wrk in the background (for concurrent loads); finish with parse_wrk(p.communicate())."""
    cmd = [wrk, f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--timeout", "10s",
           "-s", os.path.join(BENCH, "wrk", script), server_url(server), "--", files,
           str(max(1, conns // threads))] + [str(a) for a in extra_args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def parse_wrk(out, name, cpu_s):
    line = next((l for l in out.splitlines() if l.startswith("WRK_JSON ")), None)
    if not line:
        raise RuntimeError(f"wrk printed no summary for {name}: {out}")
    r = json.loads(line[len("WRK_JSON "):])
    if r["non2xx"] or r["errors"]:
        print(f"warning: {name}: {r['non2xx']} non-2xx responses, {r['errors']} socket errors",
              file=sys.stderr, flush=True)
    secs = r["duration_us"] / 1e6
    r["rps"] = r["requests"] / secs
    r["gbps"] = r["bytes"] * 8 / secs / 1e9
    r["cpu_s"] = cpu_s
    r["gb_per_cpu_s"] = r["bytes"] / 1e9 / cpu_s if cpu_s > 0 else 0
    return r


def proc_field_total(pids, name, field):
    """The sum over `pids` of the number after `field` (e.g. "Pss:") in /proc/PID/`name`
    (e.g. "smaps_rollup", "io"); a process that has gone counts 0."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/{name}") as f:
                for line in f:
                    if line.startswith(field):
                        total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def drop_page_cache(paths):
    """Drops the files' pages from the page cache (POSIX_FADV_DONTNEED). Dirty pages stay:
    files just written must be written back first (os.sync)."""
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)


def make_disk_catalog(vcdn, work, files):
    """`files` Open Connect-shaped files of ~64 MiB (8000 kbit/s for 67 s) made by `vcdn catalog
    make` under work/root, with their wrk listing in work/files.txt, written back to the disk so
    that drop_page_cache can drop them. Returns (root, listing, paths, total bytes)."""
    root = os.path.join(work, "root")
    subprocess.run([vcdn, "catalog", "make", "--quiet", "--out", root, "--titles", str(files),
                    "--bitrates", "8000", "--seconds", "67"], check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(root, "catalog.json")) as f:
        entries = [(e["path"], e["size"]) for e in json.load(f)["files"]]
    listing = os.path.join(work, "files.txt")
    with open(listing, "w") as f:
        for path, size in entries:
            f.write(f"{path} {size}\n")
    # Written back before anything is dropped: a drop leaves dirty pages in the page cache, and
    # the first server would find its files hot.
    os.sync()
    return root, listing, [root + path for path, _ in entries], sum(size for _, size in entries)


def write_section(path, begin, end, text):
    """Puts `text` (which starts with `begin` and ends with `end`) into the file at `path`,
    replacing an earlier section between the same markers, or appending it."""
    print("\n" + text)
    existing = open(path).read() if os.path.exists(path) else ""
    if begin in existing and end in existing:
        a = existing.index(begin)
        b = existing.index(end) + len(end)
        existing = existing[:a] + text.rstrip("\n") + existing[b:]
    else:
        existing = existing.rstrip("\n") + "\n\n" + text
    with open(path, "w") as f:
        f.write(existing)
    print(f"wrote {path}")


class LoggedProc:
    """A process of ours, its stderr in a file (stopped by pid only)."""

    def __init__(self, argv, log):
        self.log = log
        self.f = open(log, "w")
        self.p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.f,
                                  start_new_session=True)

    def wait_line(self, pattern, timeout):
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        while time.time() < deadline:
            with open(self.log) as f:
                for line in f:
                    m = rx.search(line)
                    if m:
                        return m
            if self.p.poll() is not None:
                raise RuntimeError(f"{self.log}: exited: " + open(self.log).read()[-2000:])
            time.sleep(0.02)
        raise RuntimeError(f"{self.log}: no line matching {pattern} in {timeout} s")

    def pids(self):
        return [self.p.pid]

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.f.close()


def secret_file(directory, name, value):
    """Writes a secret (token, key file) as vcdn wants it: a file only its owner reads."""
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return path


def api(port, method, path, body=None, token=None):
    """One JSON API call with curl; the parsed JSON, or the raw text when it is not JSON."""
    cmd = ["curl", "-s", "-X", method, f"http://127.0.0.1:{port}{path}"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    if body is not None:
        cmd += ["-H", "Content-Type: application/json", "--data-binary", body]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    return json.loads(out) if out.strip().startswith("{") else out
