#!/usr/bin/python3
"""WebSocket interop: weft against implementations nobody here wrote.

Usage: ws_interop.py MODE BUILD_DIR
  python    Python's websockets (Debian's python3-websockets) as a client
            against examples/ws_echo and examples/chat, and as an echo
            server for weft's client (tests/ws_peer)
  node      Node's ws (from the npm registry, installed into BUILD_DIR) the
            same two ways
  chromium  headless Chromium (Debian's) opens the chat example's page
            twice, driven over the DevTools protocol: a line typed in one
            page reaches the other and a Python client through the server

A tool that is missing is installed (apt-get as root, npm into the build
tree); if that cannot be done the test is skipped (exit 77) with a line
that says why. Runs with Debian's /usr/bin/python3: the python3 on PATH
may be another that lacks Debian's packages.
"""
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

MODE, BUILD = sys.argv[1], os.path.abspath(sys.argv[2])
EXAMPLES = os.path.join(BUILD, "examples")
PEER = os.path.join(BUILD, "tests", "ws_peer")
failures = 0
checks = 0


def skip(why):
    print("SKIP: " + why, flush=True)
    sys.exit(77)


def check(cond, what):
    global failures, checks
    checks += 1
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures += 1


def apt_install(pkgs):
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for args in (["apt-get", "install", "-y", "-q", "--no-install-recommends"]
                 + pkgs, None):
        if args is None:
            subprocess.run(["apt-get", "update", "-q"], env=env,
                           stdout=subprocess.DEVNULL, timeout=600)
            args = ["apt-get", "install", "-y", "-q",
                    "--no-install-recommends"] + pkgs
        r = subprocess.run(args, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=1200)
        if r.returncode == 0:
            return True
    return False


def need_websockets():
    try:
        import websockets  # noqa: F401
    except ImportError:
        if not apt_install(["python3-websockets"]):
            skip("python3-websockets is not installed and cannot be "
                 "(apt-get install python3-websockets, as root)")
        import importlib
        importlib.invalidate_caches()
    import websockets
    return websockets


def start(binary, *args):
    """Start an example on a free port; return (process, port)."""
    p = subprocess.Popen([binary, *args, "0"], stdout=subprocess.PIPE,
                         text=True)
    line = p.stdout.readline()
    m = re.search(r":(\d+)/$", line.strip())
    if not m:
        p.kill()
        raise RuntimeError("%s did not start: %r" % (binary, line))
    return p, int(m.group(1))


def stop(p, name):
    p.send_signal(signal.SIGTERM)
    try:
        out, _ = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        out = ""
        check(False, name + " stops on SIGTERM")
        return
    check(p.returncode == 0 and "stopped on SIGTERM" in out,
          "%s stops on SIGTERM (%s, %r)" % (name, p.returncode, out.strip()))


def run_peer(url, *extra):
    r = subprocess.run([PEER, url, *extra], capture_output=True, text=True,
                       timeout=60)
    sys.stdout.write("".join("  " + l + "\n"
                             for l in r.stdout.splitlines()))
    return r.returncode == 0


# ---- Python's websockets ------------------------------------------------------


async def python_client(ws_lib, port):
    url = "ws://127.0.0.1:%d/" % port
    for compression in ("deflate", None):
        tag = "websockets client (%s)" % (compression or "plain")
        async with ws_lib.connect(url, compression=compression,
                                  max_size=None) as ws:
            ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
            check(("permessage-deflate" in ext) == bool(compression),
                  tag + ": extension " + repr(ext))
            await ws.send("hello, κόσμε")
            check(await ws.recv() == "hello, κόσμε", tag + ": text")
            data = bytes(range(256)) * 4
            await ws.send(data)
            check(await ws.recv() == data, tag + ": binary")
            big = ("lorem ipsum dolor sit amet " * 40000)[:1 << 20]
            await ws.send(big)
            check(await ws.recv() == big, tag + ": 1 MiB text")
            await ws.send(iter(["frag", "ment", "ed"]))
            check(await ws.recv() == "fragmented", tag + ": fragments")
            pong = await ws.ping(b"are you there")
            await asyncio.wait_for(pong, 10)
            check(True, tag + ": ping answered")
            await ws.close(1000, "bye")
            check(ws.close_code == 1000, tag + ": close code %s" %
                  ws.close_code)


async def python_shutdown(ws_lib, p, port):
    """SIGTERM with a client connected: it gets 1001."""
    async with ws_lib.connect("ws://127.0.0.1:%d/" % port) as ws:
        await ws.send("x")
        await ws.recv()
        p.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(ws.recv(), 10)
            check(False, "shutdown: a message instead of the close")
        except ws_lib.ConnectionClosed:
            pass
        check(ws.close_code == 1001,
              "graceful shutdown closes with 1001 (got %s %r)" %
              (ws.close_code, ws.close_reason))
    out, _ = p.communicate(timeout=20)
    check(p.returncode == 0 and "stopped on SIGTERM" in out,
          "ws_echo exits 0 after the shutdown (%r)" % out.strip())


async def python_chat(ws_lib, port):
    base = "ws://127.0.0.1:%d/ws?name=" % port
    alice = await ws_lib.connect(base + "alice")
    check(await alice.recv() == "* alice joined", "chat: alice joins")
    bob = await ws_lib.connect(base + "bob")
    check(await bob.recv() == "* bob joined", "chat: bob sees his join")
    check(await alice.recv() == "* bob joined", "chat: alice sees bob")
    await alice.send("hi bob")
    check(await alice.recv() == "alice: hi bob", "chat: echo to alice")
    check(await bob.recv() == "alice: hi bob", "chat: bob gets it")
    guest = await ws_lib.connect(base + "bad%20name!")
    line = await guest.recv()
    check(re.fullmatch(r"\* guest-\d+ joined", line) is not None,
          "chat: a bad name makes a guest (%r)" % line)
    await alice.recv()
    await bob.recv()
    await bob.close()
    check(await alice.recv() == "* bob left", "chat: bob leaves")
    await guest.send(b"binary")
    try:
        while True:  # "* bob left" first, then the close
            await asyncio.wait_for(guest.recv(), 10)
    except ws_lib.ConnectionClosed:
        pass
    check(guest.close_code == 1003, "chat: binary refused with 1003 (%s)"
          % guest.close_code)
    await alice.close()
    await guest.close()


async def echo_handler(ws, *args):
    async for msg in ws:
        await ws.send(msg)


def mode_python():
    ws_lib = need_websockets()
    p, port = start(os.path.join(EXAMPLES, "ws_echo"))
    try:
        asyncio.run(python_client(ws_lib, port))
        asyncio.run(python_shutdown(ws_lib, p, port))
    finally:
        if p.poll() is None:
            p.kill()
    p, port = start(os.path.join(EXAMPLES, "chat"))
    try:
        asyncio.run(python_chat(ws_lib, port))
    finally:
        stop(p, "chat")

    async def serve_for_peer():
        async with ws_lib.serve(echo_handler, "127.0.0.1", 0,
                                max_size=None) as srv:
            port = srv.sockets[0].getsockname()[1]
            loop = asyncio.get_running_loop()
            for extra in ((), ("--no-deflate",)):
                ok = await loop.run_in_executor(
                    None, run_peer, "ws://127.0.0.1:%d/" % port, *extra)
                check(ok, "weft client against a websockets server %s" %
                      " ".join(extra))
    asyncio.run(serve_for_peer())


# ---- Node's ws --------------------------------------------------------------------

NODE_CLIENT = r"""
const WebSocket = require('ws');
const ws = new WebSocket(process.argv[1], {perMessageDeflate: true,
                                           maxPayload: 64 << 20});
const big = 'lorem ipsum dolor sit amet '.repeat(40000).slice(0, 1 << 20);
const sent = ['hello, κόσμε', Buffer.from([0, 1, 2, 255]), big, ''];
let i = 0, fails = 0;
ws.on('open', () => {
  console.log('ok: open, extensions ' + ws.extensions);
  ws.send(sent[0]);
});
ws.on('message', (data, isBinary) => {
  const want = sent[i];
  const same = typeof want === 'string'
    ? !isBinary && data.toString() === want
    : isBinary && Buffer.compare(data, want) === 0;
  console.log((same ? 'ok' : 'FAIL') + ': echo ' + i);
  if (!same) fails++;
  if (++i < sent.length) ws.send(sent[i]);
  else ws.close(1000, 'bye');
});
ws.on('close', (code) => {
  console.log((code === 1000 ? 'ok' : 'FAIL') + ': close ' + code);
  process.exit(fails || code !== 1000 || i !== sent.length ? 1 : 0);
});
ws.on('error', (e) => { console.log('FAIL: ' + e); process.exit(1); });
"""

NODE_SERVER = r"""
const WebSocket = require('ws');
const wss = new WebSocket.Server({host: '127.0.0.1', port: 0,
                                  perMessageDeflate: true});
wss.on('listening', () => console.log('port ' + wss.address().port));
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, {binary: isBinary}));
});
"""


def need_node_ws():
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        if not apt_install(["nodejs", "npm"]):
            skip("node is not installed and cannot be (apt-get install "
                 "nodejs npm)")
        node = shutil.which("node") or shutil.which("nodejs")
    prefix = os.path.join(BUILD, "tests", "node")
    if not os.path.isdir(os.path.join(prefix, "node_modules", "ws")):
        npm = shutil.which("npm")
        if not npm and not apt_install(["npm"]):
            skip("npm is not installed and cannot be")
        npm = shutil.which("npm")
        os.makedirs(prefix, exist_ok=True)
        r = subprocess.run([npm, "install", "--no-audit", "--no-fund",
                            "--no-save", "--prefix", prefix, "ws@8"],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            skip("npm install ws failed: " +
                 (r.stderr.strip().splitlines() or ["?"])[-1])
    env = dict(os.environ, NODE_PATH=os.path.join(prefix, "node_modules"))
    return node, env


def mode_node():
    node, env = need_node_ws()
    p, port = start(os.path.join(EXAMPLES, "ws_echo"))
    try:
        r = subprocess.run([node, "-e", NODE_CLIENT,
                            "ws://127.0.0.1:%d/" % port],
                           capture_output=True, text=True, env=env,
                           timeout=60)
        sys.stdout.write(r.stdout + r.stderr)
        check(r.returncode == 0, "node ws client against ws_echo")
        check("permessage-deflate" in r.stdout,
              "node ws agreed permessage-deflate")
    finally:
        stop(p, "ws_echo")
    s = subprocess.Popen([node, "-e", NODE_SERVER], stdout=subprocess.PIPE,
                         text=True, env=env)
    try:
        line = s.stdout.readline()
        m = re.match(r"port (\d+)", line)
        check(m is not None, "node ws server starts (%r)" % line)
        if m:
            for extra in ((), ("--no-deflate",)):
                check(run_peer("ws://127.0.0.1:%s/" % m.group(1), *extra),
                      "weft client against a node ws server %s" %
                      " ".join(extra))
    finally:
        s.kill()
        s.wait()


# ---- Chromium ------------------------------------------------------------------


class Devtools:
    """The DevTools protocol over the browser's WebSocket, flat sessions."""

    def __init__(self, ws):
        self.ws, self.next_id, self.events = ws, 0, []

    async def call(self, method, session=None, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        await self.ws.send(json.dumps(msg))
        while True:
            r = json.loads(await self.ws.recv())
            if r.get("id") == self.next_id:
                if "error" in r:
                    raise RuntimeError("%s: %s" % (method, r["error"]))
                return r["result"]
            self.events.append(r)

    async def page(self, url):
        t = await self.call("Target.createTarget", url=url)
        s = await self.call("Target.attachToTarget", targetId=t["targetId"],
                            flatten=True)
        return t["targetId"], s["sessionId"]

    async def eval(self, session, expr):
        r = await self.call("Runtime.evaluate", session, expression=expr,
                            returnByValue=True, awaitPromise=True)
        return r["result"].get("value")

    async def wait_for(self, session, expr, want, what):
        deadline = time.monotonic() + 20
        v = None
        while time.monotonic() < deadline:
            v = await self.eval(session, expr)
            if want(v):
                check(True, what)
                return v
            await asyncio.sleep(0.1)
        check(False, "%s (last: %r)" % (what, v))
        return v


def need_chromium():
    exe = shutil.which("chromium")
    if not exe:
        if not apt_install(["chromium"]):
            skip("chromium is not installed and cannot be "
                 "(apt-get install chromium, as root)")
        exe = shutil.which("chromium")
    return exe


def launch_chromium(exe):
    """Headless Chromium with a fresh profile; (process, DevTools URL or
    None, profile directory)."""
    profile = tempfile.mkdtemp(prefix="weft-chromium-")
    browser = subprocess.Popen(
        [exe, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-dev-shm-usage",
         "--user-data-dir=" + profile, "--remote-debugging-port=0",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = browser.stderr.readline()
        if not line:
            break
        m = re.search(r"DevTools listening on (ws://\S+)", line)
        if m:
            return browser, m.group(1), profile
    return browser, None, profile


def end_chromium(browser, profile):
    try:
        browser.wait(timeout=10)
    except subprocess.TimeoutExpired:
        browser.kill()
        browser.wait()
    shutil.rmtree(profile, ignore_errors=True)


async def chromium_chat(ws_lib, exe, port):
    browser, devtools, profile = launch_chromium(exe)
    try:
        check(devtools is not None, "chromium starts with DevTools")
        if not devtools:
            return
        async with ws_lib.connect(devtools, max_size=None) as ws:
            dt = Devtools(ws)
            page = "http://127.0.0.1:%d/?name=" % port
            _, a = await dt.page(page + "alice")
            status = "document.getElementById('status').textContent"
            lines = "JSON.stringify(window.chatLines ? chatLines() : [])"
            await dt.wait_for(a, status, lambda v: v == "connected",
                              "page alice connects its WebSocket")
            tb, b = await dt.page(page + "bob")
            await dt.wait_for(b, status, lambda v: v == "connected",
                              "page bob connects its WebSocket")
            await dt.wait_for(a, lines, lambda v: v and "* bob joined" in
                              json.loads(v), "alice's page sees bob join")
            py = await ws_lib.connect("ws://127.0.0.1:%d/ws?name=py" % port)
            await py.recv()
            await dt.eval(a, "chatSend('hello from alice')")
            await dt.wait_for(b, lines, lambda v: v and
                              "alice: hello from alice" in json.loads(v),
                              "bob's page gets alice's line")
            got = await asyncio.wait_for(py.recv(), 10)
            check(got == "alice: hello from alice",
                  "the python client gets it too (%r)" % got)
            await py.send("hi browsers, κόσμε")
            await dt.wait_for(a, lines, lambda v: v and
                              "py: hi browsers, κόσμε" in json.loads(v),
                              "alice's page gets the python client's line")
            await dt.wait_for(b, lines, lambda v: v and
                              "py: hi browsers, κόσμε" in json.loads(v),
                              "bob's page gets it")
            # The browser negotiated compression with the server.
            ext = await dt.eval(a, "ws.extensions")
            check(ext == "", "chat runs uncompressed (extensions %r)" % ext)
            await dt.call("Target.closeTarget", targetId=tb)
            await dt.wait_for(a, lines, lambda v: v and
                              "* bob left" in json.loads(v),
                              "alice's page sees bob leave")
            await py.close()
            try:
                await dt.call("Browser.close")
            except Exception:
                pass
    finally:
        end_chromium(browser, profile)


async def chromium_echo(ws_lib, exe, port):
    """Chromium's own WebSocket against ws_echo: compressed, big, binary."""
    browser, devtools, profile = launch_chromium(exe)
    try:
        if not devtools:
            check(False, "chromium starts with DevTools")
            return
        async with ws_lib.connect(devtools, max_size=None) as ws:
            dt = Devtools(ws)
            _, s = await dt.page("about:blank")
            js = """new Promise((done) => {
  const ws = new WebSocket('ws://127.0.0.1:%d/');
  ws.binaryType = 'arraybuffer';
  const big = 'chromium '.repeat(200000);
  const bin = new Uint8Array(70000).map((_, i) => i * 7);
  const out = [];
  let step = 0;
  ws.onopen = () => ws.send('hello from chromium');
  ws.onmessage = (e) => {
    if (step === 0) { out.push(e.data === 'hello from chromium');
                      ws.send(big); }
    else if (step === 1) { out.push(e.data === big); ws.send(bin); }
    else { const a = new Uint8Array(e.data);
           out.push(a.length === bin.length && a.every((v, i) => v === bin[i]));
           ws.close(1000, 'done'); }
    step++;
  };
  ws.onclose = (e) => done(JSON.stringify({ext: ws.extensions, out: out,
                                           code: e.code}));
  ws.onerror = () => done(JSON.stringify({error: true}));
})""" % port
            r = json.loads(await dt.eval(s, js))
            check(r.get("out") == [True, True, True],
                  "chromium's WebSocket: text, 1.8 MB text, binary echoed "
                  "(%r)" % r.get("out"))
            check("permessage-deflate" in r.get("ext", ""),
                  "chromium agreed permessage-deflate (%r)" % r.get("ext"))
            check(r.get("code") == 1000, "close 1000 (%r)" % r.get("code"))
            try:
                await dt.call("Browser.close")
            except Exception:
                pass
    finally:
        end_chromium(browser, profile)


def mode_chromium():
    exe = need_chromium()
    ws_lib = need_websockets()
    p, port = start(os.path.join(EXAMPLES, "chat"))
    try:
        asyncio.run(chromium_chat(ws_lib, exe, port))
    finally:
        stop(p, "chat")
    p, port = start(os.path.join(EXAMPLES, "ws_echo"))
    try:
        asyncio.run(chromium_echo(ws_lib, exe, port))
    finally:
        stop(p, "ws_echo")


{"python": mode_python, "node": mode_node, "chromium": mode_chromium}[MODE]()
print("ws_interop %s: %d passed, %d failed" % (MODE, checks - failures,
                                                failures), flush=True)
sys.exit(1 if failures or not checks else 0)
