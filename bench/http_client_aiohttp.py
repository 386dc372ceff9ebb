"""aiohttp's side of bench/http_client: TOTAL GETs of URL by CONC tasks
sharing one ClientSession (TCPConnector(limit=CONC)), each reading the
body; NEWCONN=1 makes every request use a new connection
(force_close=True). Prints "REQUESTS WALL_SECONDS CPU_SECONDS", measured
around the requests only (not the interpreter's start-up nor the import).
Run with Debian's /usr/bin/python3 and python3-aiohttp."""
import asyncio
import resource
import sys
import time

import aiohttp


async def worker(session, url, n, bad):
    for _ in range(n):
        async with session.get(url) as r:
            body = await r.read()
            if r.status != 200 or not body:
                bad.append(r.status)


async def main(url, total, conc, newconn):
    connector = aiohttp.TCPConnector(limit=conc, force_close=newconn)
    bad = []
    async with aiohttp.ClientSession(connector=connector) as s:
        per = total // conc
        await asyncio.gather(*(worker(s, url, per, bad) for _ in range(conc)))
    if bad:
        raise SystemExit(f"aiohttp: {len(bad)} bad answers")
    return per * conc


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


if __name__ == "__main__":
    url, total, conc, newconn = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
    t0, c0 = time.monotonic(), cpu()
    n = asyncio.run(main(url, total, conc, newconn))
    print(n, time.monotonic() - t0, cpu() - c0)
