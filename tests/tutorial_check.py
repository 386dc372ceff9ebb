#!/usr/bin/env python3
"""docs/tutorial.md against the code, so that it cannot rot:

1. every C snippet is quoted verbatim from the file its first line names
   ("/* examples/NAME.c */"; a line "..." separates excerpts, each of which
   must appear as it is);
2. every weft_ and WEFT_ name the tutorial mentions is declared in
   include/weft/ (a word of some header);
3. examples/tutorial prints what the tutorial says each of its steps prints
   (the lines of the "$ build/examples/tutorial STEP" blocks; the order
   only where it is certain), exits 0 with nothing on stderr, and refuses
   an unknown step with one usage line and exit 2.

Usage: tutorial_check.py SOURCE_DIR TUTORIAL_BINARY
Under `make valgrind` (WEFT_TEST_VALGRIND=1) the binary runs under memcheck.
"""
import os
import re
import subprocess
import sys

src, binary = sys.argv[1], sys.argv[2]
doc_path = os.path.join(src, "docs", "tutorial.md")
doc = open(doc_path).read()
failures = []


def fail(msg):
    failures.append(msg)


# ---- 1. snippets ------------------------------------------------------------
blocks = re.findall(r"^```c\n(.*?)^```$", doc, re.S | re.M)
if len(blocks) < 10:
    fail("only %d C snippets found" % len(blocks))
for block in blocks:
    lines = block.rstrip("\n").split("\n")
    m = re.fullmatch(r"/\* (examples/[a-z_]+\.c) \*/", lines[0])
    if not m:
        fail("a C snippet does not name its file: %r" % lines[0])
        continue
    text = open(os.path.join(src, m.group(1))).read()
    chunk = []
    for line in lines[1:] + ["..."]:
        if line.strip() == "...":
            if chunk and "\n".join(chunk) + "\n" not in text:
                fail("%s: not in the file as quoted:\n%s" %
                     (m.group(1), "\n".join(chunk[:3])))
            chunk = []
        else:
            chunk.append(line)

# ---- 2. names ---------------------------------------------------------------
inc = os.path.join(src, "include", "weft")
headers = "".join(open(os.path.join(inc, f)).read()
                  for f in sorted(os.listdir(inc)) if f.endswith(".h"))
declared = set(re.findall(r"\b(?:weft|WEFT)_\w+", headers))
for name in sorted(set(re.findall(r"\b(?:weft|WEFT)_\w+", doc))):
    if name not in declared:
        fail("%s is not in include/weft/" % name)

# ---- 3. examples/tutorial ---------------------------------------------------
vg = []
if os.environ.get("WEFT_TEST_VALGRIND") == "1":
    vg = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
          "--errors-for-leak-kinds=definite", "--track-origins=no",
          "--suppressions=" + os.path.join(src, "tests", "valgrind.supp")]


def run(*args):
    p = subprocess.run(vg + [binary] + list(args), capture_output=True,
                       text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


rc, out, err = run()
if rc != 0 or err:
    fail("tutorial: exit %d, stderr %r" % (rc, err))
steps = {}
for part in re.split(r"^== ", out, flags=re.M)[1:]:
    name, _, rest = part.partition("\n")
    steps[name] = rest.splitlines()
if list(steps) != ["loop", "callbacks", "await", "futures", "calls", "yield"]:
    fail("tutorial: steps %s" % list(steps))


def expect(step, want, ordered):
    got = steps.get(step, [])
    if (got if ordered else sorted(got)) != (want if ordered else sorted(want)):
        fail("tutorial %s printed %r, not %r" % (step, got, want))


expect("loop", ["This was run by the loop"] * 2, True)
expect("callbacks", ["asked; not waiting for the answer",
                     "await: the answer is 42",
                     "callback: the answer is 42"], False)
if steps.get("callbacks", [""])[0] != "asked; not waiting for the answer":
    fail("tutorial callbacks: it waited before saying so")
expect("await", ["pinging 10.0.0.1", "pinging 10.0.0.2",
                 "10.0.0.1 answered", "10.0.0.2 answered"], False)
if any("answered" in line for line in steps.get("await", [])[:2]):
    fail("tutorial await: a ping answered before both were sent")
expect("futures", ["done? no", "done? yes; result: done!",
                   "cancelled? yes; result: ECANCELED"], True)
calls = [re.sub(r"^[0-9.]+ s: ", "", line) for line in steps.get("calls", [])]
if sorted(calls[:2]) != ["call_soon", "call_soon_threadsafe"] or \
        calls[2:] != ["call_at(start + 0.1)", "call_later(0.2)"]:
    fail("tutorial calls: %r" % calls)
expect("yield", ["A 1", "B 1", "A 2", "B 2", "A 3", "B 3"], True)

# what the tutorial shows of it (the times left out: no timing is
# asserted, and under valgrind a 0.1 s timer may print 0.2)
def untimed(line):
    return re.sub(r"^[0-9.]+ s: ", "", line)


for step, shown in re.findall(
        r"^```\n\$ build/examples/tutorial (\w+)\n== \w+\n(.*?)^```$",
        doc, re.S | re.M):
    printed = [untimed(line) for line in steps.get(step, [])]
    for line in shown.splitlines():
        if untimed(line) not in printed:
            fail("tutorial.md shows %r for %s; the program does not print it"
                 % (line, step))

rc, out, err = run("bogus")
if rc != 2 or out or err.count("\n") != 1 or not err.startswith("usage:"):
    fail("tutorial bogus: exit %d, stdout %r, stderr %r" % (rc, out, err))

for f in failures:
    print("FAIL:", f)
if failures:
    sys.exit(1)
print("ok: %d snippets, %d names, the tutorial's steps" %
      (len(blocks), len(set(re.findall(r"\b(?:weft|WEFT)_\w+", doc)))))
