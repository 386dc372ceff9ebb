#!/usr/bin/python3
"""bench/http_app: the realistic row of issue 10's bench. examples/app_server's
JSON route (GET /api/items: 10 items as a JSON array, through the timing
middleware, with 50 more routes registered) against the same application on
aiohttp with uvloop (Debian's python3-aiohttp, python3-uvloop), in one run:
wrk with keep-alive, server pinned to CPU 0 and wrk to CPU 1 where there are
two. The figure that counts is requests per second of server CPU (from
/proc/PID/stat), since wrk may saturate its own core first.

Usage: http_app [--quick] [APP_SERVER [SECONDS [CONNECTIONS [ROUNDS]]]]
(APP_SERVER defaults to ../examples/app_server beside this script, as the
build puts it; 5 s, 100 connections, 3 rounds; --quick: 1 s, 10
connections, 1 round, a smoke run.) The servers run side by side and the
rounds take turns in an order that turns with the round; each ratio is the
median of the rounds' ratios. Beside them runs the kernel's floor
(bench/floor: no runtime, one io_uring, the same JSON answer for every
request head): its requests per CPU second over aiohttp's are about the
most any server could show on this machine, and weft's over the floor's
are weft's own cost.
"""
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

args = sys.argv[1:]
quick = "--quick" in args
args = [a for a in args if a != "--quick"]
here = os.path.dirname(os.path.abspath(__file__))
APP = args[0] if args else os.path.join(here, "..", "examples", "app_server")
if not os.access(APP, os.X_OK):
    raise SystemExit("bench/http_app: %s is not a program (usage: http_app "
                     "[--quick] [APP_SERVER [SECONDS [CONNECTIONS "
                     "[ROUNDS]]]])" % APP)
SECS = int(args[1]) if len(args) > 1 else (1 if quick else 5)
CONNS = int(args[2]) if len(args) > 2 else (10 if quick else 100)
ROUNDS = int(args[3]) if len(args) > 3 else (1 if quick else 3)
TICK = os.sysconf("SC_CLK_TCK")
TWO = os.cpu_count() >= 2

AIOHTTP_APP = r'''
import json, sys, time, asyncio
from aiohttp import web
import uvloop

items = {}

@web.middleware
async def timing(request, handler):
    t = time.perf_counter()
    resp = await handler(request)
    resp.headers["X-Response-Time"] = str(int((time.perf_counter() - t) * 1e6))
    return resp

async def list_items(request):
    return web.json_response(list(items.values()))

async def create(request):
    body = await request.json()
    i = str(len(items) + 1)
    items[i] = {"id": i, "name": body["name"], "qty": body.get("qty", 0)}
    return web.json_response(items[i], status=201)

async def extra(request):
    return web.Response(text=request.match_info["n"])

app = web.Application(middlewares=[timing])
app.router.add_get("/api/items", list_items)
app.router.add_post("/api/items", create)
for i in range(50):
    app.router.add_get("/r/%d/{n}" % i, extra)
uvloop.install()
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None,
            print=lambda *a: print("listening", flush=True))
'''


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Exited(Exception):
    """The server quit before it answered: most likely the free port was
    taken between free_port() and its bind."""


def wait_up(p, port):
    for _ in range(200):
        if p.poll() is not None:
            raise Exited()
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            # connected: ours, unless it quit and another took the port
            if p.poll() is not None:
                raise Exited()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not start")


def cpu(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def seed(port):
    for i in range(10):
        req = urllib.request.Request(
            "http://127.0.0.1:%d/api/items" % port,
            data=json.dumps({"name": "item %d" % i, "qty": i}).encode(),
            headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req).read()


def start(name, argv_of_port, seeded=True):
    """Start the server on a free port (another, up to 3 tries, if it
    quits before it answers), pinned to CPU 0, and seed its items."""
    pin = ["taskset", "-c", "0"] if TWO else []
    for attempt in range(3):
        port = free_port()
        p = subprocess.Popen(pin + argv_of_port(port),
                             stdout=subprocess.DEVNULL)
        try:
            wait_up(p, port)
            if seeded:
                seed(port)
            return p, port
        except Exited:
            p.wait()
            print("%s: exited at start (port %d taken?), trying another" %
                  (name, port), file=sys.stderr)
    raise SystemExit("bench/http_app: %s did not start" % name)


def measure(name, p, port):
    url = "http://127.0.0.1:%d/api/items" % port
    wpin = ["taskset", "-c", "1"] if TWO else []
    c0 = cpu(p.pid)
    out = subprocess.run(wpin + ["wrk", "-t1", "-c%d" % CONNS,
                                 "-d%ds" % SECS, "--latency", url],
                         capture_output=True, text=True).stdout
    c1 = cpu(p.pid)
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    # The latency distribution's line, not a "+/- Stdev" cell ending in
    # 99% (as 89.99%) in the thread stats above it.
    p99 = re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1)
    rps = reqs / SECS
    per_cpu = reqs / max(c1 - c0, 1e-9)
    print("%-22s %10.0f req/s %12.0f req/CPU-s  p99 %8s" %
          (name, rps, per_cpu, p99), flush=True)
    return per_cpu


if not shutil.which("wrk"):
    raise SystemExit("bench/http_app: wrk not found (apt-get install wrk)")
script = "/tmp/weft_bench_aiohttp_app.py"
open(script, "w").write(AIOHTTP_APP)
# Both up at once (each idle while the other is loaded) and the rounds
# take turns: this machine drifts, and runs minutes apart compare the
# drift as much as the servers.
servers = [("weft app_server",
            lambda port: [APP, "--routes", "50", str(port)]),
           ("aiohttp + uvloop",
            lambda port: ["/usr/bin/python3", script, str(port)])]
# The kernel's floor (bench/floor, floor.c): no runtime, one io_uring, the
# same JSON answer (fetched from weft's server) sent for every request
# head, with fewer headers. Its requests per CPU second over aiohttp's are
# about the most any server could show on this machine.
FLOOR = os.path.join(here, "floor")
body = os.path.join(tempfile.mkdtemp(prefix="weft-bench-http-app-"),
                    "items.json")
procs = []
try:
    for name, argv in servers:
        procs.append(start(name, argv))
    if os.access(FLOOR, os.X_OK):
        open(body, "wb").write(urllib.request.urlopen(
            "http://127.0.0.1:%d/api/items" % procs[0][1]).read())
        servers.append(("floor (no runtime)",
                        lambda port: [FLOOR, "http", str(port), body]))
        procs.append(start(servers[-1][0], servers[-1][1], seeded=False))
    else:
        print("floor: %s not built, left out" % FLOOR)
    n = len(servers)
    per = [[] for _ in servers]
    for r in range(ROUNDS):
        for j in range(n):  # turns, as bench/http
            k = (r + j) % n
            per[k].append(measure(servers[k][0], *procs[k]))
finally:
    for p, _ in procs:
        p.terminate()
        p.wait()
    shutil.rmtree(os.path.dirname(body), ignore_errors=True)


def ratios_line(what, a, b):
    rs = [x / y for x, y in zip(a, b)]
    print("%s, requests per CPU second, round by round: %s x (median %.2f)"
          % (what, " ".join("%.2f" % x for x in rs), statistics.median(rs)))
    return statistics.median(rs)


weft = statistics.median(per[0])
vs = ratios_line("weft over aiohttp", per[0], per[1])
if n > 2:
    vs_floor = ratios_line("weft over the floor", per[0], per[2])
    floor_vs = ratios_line("the floor over aiohttp", per[2], per[1])
print("RESULT http_app json_req_per_cpu_s %.0f req/s" % weft)
print("RESULT http_app json_vs_aiohttp %.1f x" % vs)
if n > 2:
    print("RESULT http_app json_vs_floor %.2f x" % vs_floor)
    print("RESULT http_app floor_vs_aiohttp %.1f x" % floor_vs)
