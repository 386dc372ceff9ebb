#!/usr/bin/python3
"""examples/app_server in the test suite: started as a child on a free
port, driven with Debian's python3 http.client and with curl, its answers
and output checked, then stopped with SIGTERM (a graceful shutdown, exit 0).

Usage: run.py APP_SERVER_BINARY
"""
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

binary = sys.argv[1]
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what, flush=True)


static = tempfile.mkdtemp(prefix="weft-app-")
with open(os.path.join(static, "hello.txt"), "w") as f:
    f.write("static hello\n")

proc = subprocess.Popen([binary, "--static", static, "--log", "0"],
                        stdout=subprocess.PIPE, text=True)
line = proc.stdout.readline()
assert line.startswith("listening on http://127.0.0.1:"), line
port = int(line.rsplit(":", 1)[1].strip().rstrip("/"))


def call(method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


try:
    # The JSON API.
    r, data = call("GET", "/api/items")
    check(r.status == 200 and json.loads(data) == [], "empty list")
    check(r.getheader("Content-Type") == "application/json", "json type")
    check(r.getheader("X-Response-Time", "").isdigit(), "timing header")
    r, data = call("POST", "/api/items", {"name": "apple", "qty": 3})
    check(r.status == 201, "create: %d" % r.status)
    item = json.loads(data)
    check(item == {"id": "1", "name": "apple", "qty": 3}, "created %r" % item)
    check(r.getheader("Location") == "/api/items/1", "location")
    call("POST", "/api/items", {"name": "pear"})
    r, data = call("GET", "/api/items")
    check([i["name"] for i in json.loads(data)] == ["apple", "pear"], "list")
    r, data = call("GET", "/api/items/2")
    check(json.loads(data) == {"id": "2", "name": "pear", "qty": 0}, "read")
    # Validation errors: 400 with a JSON body.
    r, data = call("POST", "/api/items", {"name": 5})
    check(r.status == 400 and "name" in json.loads(data)["error"],
          "bad name: %d %r" % (r.status, data))
    r, data = call("POST", "/api/items", {"name": "x", "qty": -1})
    check(r.status == 400 and "qty" in json.loads(data)["error"], "bad qty")
    r, data = call("POST", "/api/items", b'{"name": "x",,}',
                   {"Content-Type": "application/json"})
    err = json.loads(data)["error"]
    check(r.status == 400 and err.startswith("invalid JSON:")
          and "line 1" in err, "invalid json: %r" % err)
    r, data = call("GET", "/api/items/99")
    check(r.status == 404 and json.loads(data) == {"error": "Not Found"},
          "404 json")
    r, data = call("PUT", "/api/items")
    check(r.status == 405 and "GET" in r.getheader("Allow", "")
          and json.loads(data)["error"], "405 json with Allow")
    r, data = call("DELETE", "/api/items/1")
    check(r.status == 204, "delete")
    r, data = call("GET", "/api/items/1")
    check(r.status == 404, "deleted")

    # A form upload, with curl (which writes multipart bodies itself).
    up = os.path.join(static, "up.bin")
    with open(up, "wb") as f:
        f.write(os.urandom(100000))
    out = subprocess.run(["curl", "-sS", "-F", "title=hi", "-F",
                          "file=@%s" % up,
                          "http://127.0.0.1:%d/upload" % port],
                         capture_output=True, text=True, check=True).stdout
    parts = json.loads(out)
    check(parts == [{"name": "title", "filename": None, "bytes": 2},
                    {"name": "file", "filename": "up.bin", "bytes": 100000}],
          "upload %r" % parts)

    # Static files, compression, conditional requests with curl.
    out = subprocess.run(["curl", "-sS", "-i",
                          "http://127.0.0.1:%d/static/hello.txt" % port],
                         capture_output=True, text=True, check=True).stdout
    check("200 OK" in out and out.endswith("static hello\n"), "static")
    etag = [l.split(": ", 1)[1].strip() for l in out.splitlines()
            if l.lower().startswith("etag:")][0]
    code = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w",
                           "%{http_code}", "-H", "If-None-Match: " + etag,
                           "http://127.0.0.1:%d/static/hello.txt" % port],
                          capture_output=True, text=True).stdout
    check(code == "304", "304: %r" % code)
    for i in range(30):
        call("POST", "/api/items", {"name": "item %d" % i, "qty": i})
    out = subprocess.run(["curl", "-sS", "--compressed", "-D", "-",
                          "http://127.0.0.1:%d/api/items" % port],
                         capture_output=True, text=True, check=True).stdout
    check("content-encoding: gzip" in out.lower(), "compressed list")
    check(len(json.loads(out.split("\n\n", 1)[1])) == 31, "list of 31")

    # Server-sent events: two ticks.
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/events")
    r = c.getresponse()
    check(r.getheader("Content-Type") == "text/event-stream; charset=utf-8",
          "sse type")
    got = b""
    while got.count(b"\n\n") < 2:
        got += r.read1(4096)
    c.close()
    ev = got.split(b"\n\n")[0].decode().splitlines()
    check(ev[0] == "event: time" and ev[1] == "id: 1"
          and ev[2].startswith("data: 20"), "sse event %r" % ev)
finally:
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=30)
    shutil.rmtree(static)

check(proc.returncode == 0, "exit status %d" % proc.returncode)
check(rest.rstrip().endswith("stopped"), "output ends with stopped")
log = [l for l in rest.splitlines() if l.startswith("127.0.0.1 - - [")]
check(any('"POST /api/items HTTP/1.1" 201 ' in l for l in log),
      "access log line for the create")
check(any('"GET /static/hello.txt HTTP/1.1" 304 - ' in l for l in log),
      "access log line for the 304")
print("%d passed, %d failed" % (1 if failures == 0 else 0, 1 if failures else 0))
sys.exit(1 if failures else 0)
