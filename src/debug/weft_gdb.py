# weft's gdb extension: weft's tasks in a live process or a core file.
#
#   info weft-tasks      every task of every loop: id, name, state, what it
#                        waits for and since when, function, spawn site
#   weft-bt ID|all       the backtrace of a task's parked stack
#
# libweft carries this file in its .debug_gdb_scripts section, so gdb runs
# it when it loads the library's symbols and auto-loading is allowed:
#     gdb -iex 'add-auto-load-safe-path /path/to/libweft.so' ...
# (or `set auto-load safe-path /`). Otherwise: source share/weft/weft-gdb.py.
# It reads weft's structures through the library's debug information
# (built with -g; RelWithDebInfo is the default), the way Go's
# runtime-gdb.py reads the runtime's. docs/debugging.md.

import gdb
import gdb.unwinder

if not getattr(gdb, "_weft_gdb_loaded", False):
    gdb._weft_gdb_loaded = True

    _STARTED = 1 << 3  # WEFT__TASK_STARTED
    _CANCELLED = 1 << 0

    def _t(name):
        return gdb.lookup_type(name)

    def _offset(typename, field):
        for f in _t(typename).fields():
            if f.name == field:
                return f.bitpos // 8
        raise gdb.GdbError("weft: %s has no field %s" % (typename, field))

    def _walk(head_addr, typename, field):
        """Objects of `typename` linked by their weft__list `field`."""
        off = _offset(typename, field)
        ptr = _t(typename).pointer()
        lst = _t("struct weft__list").pointer()
        node = gdb.Value(head_addr).cast(lst)["next"]
        n = 0
        while int(node) != head_addr and int(node) != 0 and n < 10000000:
            yield gdb.Value(int(node) - off).cast(ptr)
            node = node["next"]
            n += 1

    def _loops():
        try:
            head = gdb.parse_and_eval("&weft__all_loops")
        except gdb.error:
            raise gdb.GdbError(
                "weft: no weft__all_loops here (is libweft loaded, with its "
                "debug information?)")
        return _walk(int(head), "struct weft_loop", "all")

    def _tasks(loop):
        ts = loop["tasks"]
        if int(ts) == 0:
            return
        ts = ts.cast(_t("struct weft__tasks").pointer())
        head = int(ts["live"].address)
        for t in _walk(head, "struct weft_task", "lnode"):
            yield t

    def _kind_name(k):
        # The names the task dump uses (src/debug/dump.c), read from the
        # program: one table for both.
        try:
            names = gdb.parse_and_eval("weft__wait_kind_names")
            lo, hi = names.type.range()
            if lo <= k <= hi and int(names[k]) != 0:
                return names[k].string()
        except gdb.error:
            pass
        return "wait"

    def _name(t):
        n = t["name"].string(length=32).split("\0")[0]
        return n or "task-%d" % int(t["id"])

    def _where(addr, ret):
        """'fn at file.c:12' for a code address (ret: a return address)."""
        if addr == 0:
            return "?"
        look = addr - 1 if ret else addr
        try:
            block = gdb.block_for_pc(look)
        except RuntimeError:
            block = None
        fn = block.function if block is not None else None
        while block is not None and fn is None:
            block = block.superblock
            fn = block.function if block is not None else None
        name = fn.print_name if fn is not None else None
        if name is None:
            s = gdb.execute("info symbol 0x%x" % look, to_string=True)
            name = s.split(" in section")[0].strip() if "No symbol" not in s \
                else "0x%x" % addr
        sal = gdb.find_pc_line(look)
        if sal.symtab is not None:
            return "%s at %s:%d" % (name, sal.symtab.filename, sal.line)
        return name

    def _state(loop, t):
        cur = loop["rq"]["current"]
        if int(cur) == int(t):
            return "running"
        if int(t["wait"]) != 0:
            return "waiting"
        return "ready" if int(t["flags"]) & _STARTED else "not started"

    def _fd(io):
        return int(io.cast(_t("struct weft__io").pointer())["fd"])

    def _wait(loop, t):
        w = t["wait"]
        kind = int(w["kind"])
        obj = w["obj"]
        now = int(loop["now"])
        since = int(w["since"])
        text = _kind_name(kind)
        if text == "sleep":
            when = int(t["timer"]["when"])
            text += " until %.3f s" % (when / 1e9)
        elif text == "I/O" and int(obj):
            # The record is a struct weft__io_waiter (src/task/io.h).
            off = _offset("struct weft__io_waiter", "w")
            iw = gdb.Value(int(w) - off).cast(
                _t("struct weft__io_waiter").pointer())
            ev = int(iw["events"]) & 3  # WEFT__IO_IN 1, WEFT__IO_OUT 2
            text = {1: "read", 2: "write", 3: "read/write"}.get(ev, text)
            text += " on fd %d" % _fd(obj)
        elif text == "future" and int(obj):
            f = obj.cast(_t("struct weft_future").pointer())
            ops = gdb.parse_and_eval("&weft__task_ops")
            if int(f["ops"]) == int(ops):
                inner = obj.cast(_t("struct weft_task").pointer())
                text = "join task %d '%s'" % (int(inner["id"]), _name(inner))
            else:
                text += " 0x%x" % int(obj)
        elif text == "lock" and int(obj):
            owner = int(obj.cast(_t("struct weft__lock").pointer())["owner"])
            text += " 0x%x held by task %d" % (int(obj), owner)
        elif text == "group exit" and int(obj):
            g = obj.cast(_t("struct weft__group").pointer())
            text += ": %d child(ren) left" % int(g["n"])
        elif text == "drain" and int(obj):
            s = obj.cast(_t("struct weft_stream").pointer())
            text += " of stream fd %d" % int(s["fd"])
        elif int(obj):
            text += " 0x%x" % int(obj)
        if bool(w["noint"]):
            text += " (uninterruptible)"
        return "%.3f s: %s" % ((now - since) / 1e9 if now >= since else 0,
                               text)

    class InfoWeftTasks(gdb.Command):
        """List weft's tasks: id, name, state, what each waits for and for
how long, its function and where it was spawned.
Usage: info weft-tasks"""

        def __init__(self):
            super().__init__("info weft-tasks", gdb.COMMAND_STATUS)

        def invoke(self, arg, from_tty):
            nloops = 0
            for loop in _loops():
                nloops += 1
                ts = loop["tasks"]
                n = 0
                if int(ts):
                    ts = ts.cast(_t("struct weft__tasks").pointer())
                    n = int(ts["nlive"])
                print("loop 0x%x (thread %d) at %.3f s: %d task(s)" %
                      (int(loop), int(loop["tid"]), int(loop["now"]) / 1e9, n))
                for t in _tasks(loop):
                    st = _state(loop, t)
                    line = "  task %d '%s' %s" % (int(t["id"]), _name(t), st)
                    if st == "waiting":
                        line += " " + _wait(loop, t)
                    if int(t["flags"]) & _CANCELLED:
                        line += "; cancelled"
                    print(line)
                    print("      fn %s, spawned at %s" %
                          (_where(int(t["fn"]), False),
                           _where(int(t["spawn_site"]), True)))
            if nloops == 0:
                print("weft: no loop")

    class ParkedUnwinder(gdb.unwinder.Unwinder):
        """While weft-bt runs: the innermost frame's caller is the parked
        task's resume point, so gdb unwinds the task's stack with its own
        DWARF unwinder (live process or core file alike)."""

        def __init__(self):
            super().__init__("weft-parked")
            self.regs = None

        def __call__(self, pending):
            if self.regs is None or pending.level() != 0:
                return None
            sp = pending.read_register(self.sp_name)
            pc = pending.read_register(self.pc_name)

            class FrameId(object):
                def __init__(self, sp, pc):
                    self.sp = sp
                    self.pc = pc

            info = pending.create_unwind_info(FrameId(sp, pc))
            for name, value in self.regs:
                reg_type = pending.read_register(name).type
                info.add_saved_register(name, gdb.Value(value).cast(reg_type))
            return info

    _unwinder = ParkedUnwinder()
    gdb.unwinder.register_unwinder(None, _unwinder, replace=True)

    def _parked_regs(t):
        """The registers a parked task saved: [(name, value)], or None."""
        arch = gdb.selected_inferior().architecture().name()
        ctx = t["ctx"]
        fields = [f.name for f in ctx.type.fields()]
        if "uc" in fields and int(ctx["uc"]):
            if "x86-64" not in arch:
                return None
            g = ctx["uc"]["uc_mcontext"]["gregs"]
            # glibc's REG_* indices: the callee-saved registers and rip/rsp.
            idx = {"r12": 4, "r13": 5, "r14": 6, "r15": 7, "rbp": 10,
                   "rbx": 11, "rsp": 15, "rip": 16}
            return [(n, int(g[i])) for n, i in idx.items()]
        sp, pc, fp = int(ctx["sp"]), int(ctx["pc"]), int(ctx["fp"])
        if "x86-64" in arch:
            return [("rip", pc), ("rsp", sp), ("rbp", fp)]
        if "aarch64" in arch:
            return [("pc", pc), ("sp", sp), ("x29", fp)]
        return None

    def _backtrace(loop, t, limit):
        st = _state(loop, t)
        print("task %d '%s' (%s):" % (int(t["id"]), _name(t), st))
        if st == "running":
            print("  running on thread %d: use bt there" % int(loop["tid"]))
            return
        if st == "not started":
            print("  not started yet")
            return
        regs = _parked_regs(t)
        if regs is None:
            print("  weft-bt does not know this architecture")
            return
        arch = gdb.selected_inferior().architecture().name()
        _unwinder.sp_name = "rsp" if "x86-64" in arch else "sp"
        _unwinder.pc_name = "rip" if "x86-64" in arch else "pc"
        _unwinder.regs = regs
        gdb.invalidate_cached_frames()
        try:
            f = gdb.newest_frame().older()
            # The switch itself (inlined into weft__park) is not news.
            while f is not None and f.type() == gdb.INLINE_FRAME:
                f = f.older()
            i = 0
            while f is not None and i < limit:
                name = f.name() or "??"
                sal = f.find_sal()
                at = ""
                if sal.symtab is not None:
                    at = " at %s:%d" % (sal.symtab.filename, sal.line)
                inl = " (inlined)" if f.type() == gdb.INLINE_FRAME else ""
                print("  #%-2d 0x%016x in %s%s%s" % (i, f.pc(), name, at, inl))
                i += 1
                f = f.older()
        except gdb.error as e:
            print("  (unwinding stopped: %s)" % e)
        finally:
            _unwinder.regs = None
            gdb.invalidate_cached_frames()

    class WeftBt(gdb.Command):
        """Backtrace of a weft task's parked stack (by its saved registers).
Usage: weft-bt ID [LIMIT]   or   weft-bt all [LIMIT]"""

        def __init__(self):
            super().__init__("weft-bt", gdb.COMMAND_STACK)

        def invoke(self, arg, from_tty):
            argv = gdb.string_to_argv(arg)
            if not argv:
                raise gdb.GdbError("usage: weft-bt ID|all [LIMIT]")
            limit = int(argv[1]) if len(argv) > 1 else 64
            want = None if argv[0] == "all" else int(argv[0])
            found = False
            for loop in _loops():
                for t in _tasks(loop):
                    if want is None or int(t["id"]) == want:
                        found = True
                        _backtrace(loop, t, limit)
            if not found:
                raise gdb.GdbError("weft: no task %s" % argv[0])

    InfoWeftTasks()
    WeftBt()
