#!/usr/bin/env python3
"""One client process of bench/idle.py: holds COUNT keep-alive connections to a server.

  idle_client.py PORT COUNT SOURCE_PREFIX PATH TRICKLE_S

Opens COUNT connections from the source addresses SOURCE_PREFIX.1 .. SOURCE_PREFIX.250 (e.g.
127.0.3), sends one request for a 1 KiB range of PATH on each and reads the answer, then prints
"READY <opened> <answered> <failed>" and waits for a line on stdin. On that line it sends one
more request on every connection, spread evenly over TRICKLE_S seconds, and prints
"DONE <answered> <failed> <max_latency_ms>". Every wait is bounded.
"""
import asyncio
import resource
import sys
import time

REQ = "GET {path} HTTP/1.1\r\nHost: bench\r\nRange: bytes=0-1023\r\n\r\n"


async def one_request(reader, writer, req):
    writer.write(req)
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await asyncio.wait_for(reader.readexactly(length), 60)
    if not head.startswith(b"HTTP/1.1 206"):
        raise RuntimeError(head[:40])


async def main():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port, count, prefix, path, trickle = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4],
                                          float(sys.argv[5]))
    req = REQ.format(path=path).encode()
    conns = []
    failed = 0
    sem = asyncio.Semaphore(200)  # connects at once

    async def open_one(i):
        nonlocal failed
        async with sem:
            try:
                src = f"{prefix}.{1 + i % 250}"
                r, w = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port, local_addr=(src, 0)), 30)
                await one_request(r, w, req)
                conns.append((r, w))
            except Exception:  # noqa: BLE001 - counted, reported
                failed += 1

    await asyncio.gather(*(open_one(i) for i in range(count)))
    print(f"READY {count} {len(conns)} {failed}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)

    answered, failed2, worst = 0, 0, 0.0
    t0 = time.monotonic()

    async def trickle_one(i, r, w):
        nonlocal answered, failed2, worst
        await asyncio.sleep(trickle * i / max(1, len(conns)))
        s = time.monotonic()
        try:
            await one_request(r, w, req)
            answered += 1
            worst = max(worst, time.monotonic() - s)
        except Exception:  # noqa: BLE001
            failed2 += 1

    await asyncio.gather(*(trickle_one(i, r, w) for i, (r, w) in enumerate(conns)))
    print(f"DONE {answered} {failed2} {worst * 1000:.1f} {time.monotonic() - t0:.1f}", flush=True)
    for _, w in conns:
        w.close()


if __name__ == "__main__":
    asyncio.run(main())
