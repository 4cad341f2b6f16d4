#!/usr/bin/env python3
"""The LuCI app's rpcd ACL grants exactly what its JavaScript uses, and the ubus
object behind it registers exactly those methods.

No browser. Checks:
  * every `rpc.declare({object, method})` in the app's JS is granted by the ACL;
  * the ACL grants nothing the JS does not call (ubus), reads are read and writes
    are write (status/validate/history read; apply/maintenance/handover write);
  * uci: write only `muros_ha`; read only `muros_ha` + `network` (interface list);
    every config the JS loads is readable;
  * menu.d points at views that exist and depends on the ACL group;
  * the ucode stand-in and, when a muros-ha binary with a `daemon` subcommand is
    found, the real daemon register exactly the JS's methods on a private ubusd
    (`ubus -v list muros_ha`).

Run: python3 tests/luci/test_acl_contract.py   (prints "N passed, M failed")
Env: MUROS_HA_BIN=path/to/muros-ha to pick the daemon binary; CI=true turns a
     missing daemon binary / ubusd into a failure instead of a skip.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
APP = os.path.join(REPO, "luci-app-muros-ha")
ACL = os.path.join(APP, "root/usr/share/rpcd/acl.d/luci-app-muros-ha.json")
MENU = os.path.join(APP, "root/usr/share/luci/menu.d/luci-app-muros-ha.json")
VIEWS = os.path.join(APP, "htdocs/luci-static/resources/view")
sys.path.insert(0, HERE)
import owweb  # noqa: E402
from owweb import SHARED_DIR  # noqa: E402
TOOLS = os.environ.get("OPENWRT_TOOLS_DIR", os.path.join(SHARED_DIR, "openwrt-tools"))
OWWEB = os.environ.get("OWWEB_DIR", os.path.join(SHARED_DIR, "openwrt-web"))
CI = os.environ.get("CI") == "true"

EXPECTED_READ = {"status", "validate", "history"}
EXPECTED_WRITE = {"apply", "maintenance", "handover"}

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok   - %s" % name)
    else:
        failed += 1
        print("FAIL - %s%s" % (name, (": " + detail) if detail else ""))


def skip_or_fail(name, reason):
    if CI:
        check(name, False, "cannot run under CI=true: " + reason)
    else:
        print("skip - %s: %s" % (name, reason))


def js_files():
    out = []
    for dirpath, _, names in os.walk(VIEWS):
        out += [os.path.join(dirpath, n) for n in names if n.endswith(".js")]
    return sorted(out)


def strip_js_comments(src):
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    return re.sub(r"(^|[^:'\"])//[^\n]*", r"\1", src)


DECLARE = re.compile(r"rpc\.declare\(\s*\{(.*?)\}\s*\)", re.S)
FIELD = lambda key: re.compile(r"\b%s\s*:\s*'([^']*)'" % key)


def declared_calls():
    """{(object, method): [files]} for every rpc.declare in the app."""
    calls = {}
    for path in js_files():
        with open(path) as f:
            src = strip_js_comments(f.read())
        for m in DECLARE.finditer(src):
            body = m.group(1)
            obj = FIELD("object").search(body)
            meth = FIELD("method").search(body)
            if obj and meth:
                calls.setdefault((obj.group(1), meth.group(1)), []).append(os.path.relpath(path, APP))
    return calls


def uci_configs_used():
    used = set()
    for path in js_files():
        with open(path) as f:
            src = strip_js_comments(f.read())
        used |= set(re.findall(r"uci\.(?:load|sections|get|get_first|get_all)\(\s*'([^']+)'", src))
        used |= set(re.findall(r"new\s+form\.Map\(\s*'([^']+)'", src))
    return used


def written_configs():
    out = set()
    for path in js_files():
        with open(path) as f:
            src = strip_js_comments(f.read())
        out |= set(re.findall(r"new\s+form\.Map\(\s*'([^']+)'", src))
        out |= set(re.findall(r"uci\.(?:set|add|remove|unset)\(\s*'([^']+)'", src))
    return out


def static_checks():
    with open(ACL) as f:
        acl = json.load(f)
    check("ACL file holds one group named after the app", list(acl) == ["luci-app-muros-ha"], repr(list(acl)))
    group = acl.get("luci-app-muros-ha", {})
    read = group.get("read", {})
    write = group.get("write", {})

    check("ACL grants only ubus and uci (no file, cgi-io, ...)",
          set(read) <= {"ubus", "uci"} and set(write) <= {"ubus", "uci"},
          "read=%s write=%s" % (sorted(read), sorted(write)))
    check("ACL names no ubus object but muros_ha",
          set(read.get("ubus", {})) <= {"muros_ha"} and set(write.get("ubus", {})) <= {"muros_ha"})

    r_methods = set(read.get("ubus", {}).get("muros_ha", []))
    w_methods = set(write.get("ubus", {}).get("muros_ha", []))
    check("read grants exactly status, validate, history", r_methods == EXPECTED_READ, repr(sorted(r_methods)))
    check("write grants exactly apply, maintenance, handover", w_methods == EXPECTED_WRITE, repr(sorted(w_methods)))
    check("no wildcard method grants", "*" not in r_methods | w_methods)

    calls = declared_calls()
    objects = {o for o, _ in calls}
    check("the JS declares calls (parser sanity)", len(calls) >= 5, repr(sorted(calls)))
    check("the JS calls no ubus object but muros_ha", objects <= {"muros_ha"}, repr(sorted(objects)))
    js_methods = {m for o, m in calls if o == "muros_ha"}
    missing = js_methods - (r_methods | w_methods)
    check("every muros_ha method the JS calls is granted", not missing, "not granted: %s" % sorted(missing))
    unused = (r_methods | w_methods) - js_methods
    check("the ACL grants no method the JS does not call", not unused, "unused: %s" % sorted(unused))

    uci_read = set(read.get("uci", []))
    uci_write = set(write.get("uci", []))
    check("uci write is muros_ha only", uci_write == {"muros_ha"}, repr(sorted(uci_write)))
    check("uci read is muros_ha plus network (interface list) only",
          uci_read == {"muros_ha", "network"}, repr(sorted(uci_read)))
    used = uci_configs_used()
    check("every uci config the JS reads is granted for read", used <= uci_read, "used=%s" % sorted(used))
    wr = written_configs()
    check("every uci config the JS writes is granted for write", wr <= uci_write, "written=%s" % sorted(wr))

    with open(MENU) as f:
        menu = json.load(f)
    views = [e["action"]["path"] for e in menu.values() if e.get("action", {}).get("type") == "view"]
    check("menu entries point at existing views",
          views and all(os.path.isfile(os.path.join(VIEWS, v + ".js")) for v in views), repr(views))
    top = menu.get("admin/services/muros-ha", {})
    check("menu depends on the app's ACL group and the muros_ha config",
          top.get("depends", {}).get("acl") == ["luci-app-muros-ha"] and
          "muros_ha" in top.get("depends", {}).get("uci", {}))
    check("menu has Settings and Cluster status under Services",
          {"muros-ha/settings", "muros-ha/status"} <= set(views))
    return js_methods


def syntax_checks():
    """Each view parses as the body of a function, which is how LuCI's loader runs it."""
    node = shutil.which("node")
    if not node:
        print("skip - views parse as JavaScript: node not installed")
        return
    for path in js_files():
        r = subprocess.run([node, "-e", "new Function(require('fs').readFileSync(process.argv[1], 'utf8'))", path],
                           capture_output=True, text=True, timeout=30)
        check("%s parses as JavaScript" % os.path.relpath(path, APP), r.returncode == 0, r.stderr.strip()[-400:])


def ubus_methods(ubus, sock, obj):
    r = subprocess.run([ubus, "-s", sock, "-v", "list", obj], capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        return None
    return set(re.findall(r'^\s+"([^"]+)":', r.stdout, re.M))


def wait_methods(ubus, sock, obj, proc, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            return None
        got = ubus_methods(ubus, sock, obj)
        if got:
            return got
        time.sleep(0.1)
    return None


def stop(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def live_checks(js_methods):
    ubusd = os.path.join(TOOLS, "bin", "ubusd")
    ubus = os.path.join(TOOLS, "bin", "ubus")
    if not (os.access(ubusd, os.X_OK) and os.access(ubus, os.X_OK)):
        skip_or_fail("object registers exactly the JS's methods", "no ubusd in " + TOOLS)
        return
    tmp = tempfile.mkdtemp(prefix="muros-acl-%d-" % os.getpid())
    sock = os.path.join(tmp, "ubus.sock")
    procs = []
    try:
        broker = subprocess.Popen([ubusd, "-s", sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(broker)
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)

        # The stand-in must keep to the same contract, or the browser test proves little.
        ucode = os.path.join(OWWEB, "rootfs", "bin", "ucode")
        if os.access(ucode, os.X_OK):
            env = dict(os.environ, UBUS_SOCKET=sock, STANDIN_CONFDIR=tmp)
            p = subprocess.Popen([ucode, "-L", os.path.join(OWWEB, "rootfs/usr/lib/ucode/*.so"),
                                  os.path.join(HERE, "standin-muros_ha.uc")],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            procs.append(p)
            got = wait_methods(ubus, sock, "muros_ha", p)
            check("the ucode stand-in registers exactly the methods the JS calls",
                  got == js_methods, "registered=%s js=%s" % (sorted(got or []), sorted(js_methods)))
            stop(p)
            for _ in range(50):  # its object must be gone before the daemon registers the same name
                if not ubus_methods(ubus, sock, "muros_ha"):
                    break
                time.sleep(0.1)
        else:
            skip_or_fail("the ucode stand-in registers exactly the methods the JS calls", "no ucode at " + ucode)

        daemon = owweb.find_daemon_binary(REPO)
        if not daemon:
            skip_or_fail("the muros-ha daemon registers exactly the methods the JS calls",
                         "no muros-ha binary with a 'daemon' subcommand (build it or set MUROS_HA_BIN)")
            return
        root = os.path.join(tmp, "root")
        os.makedirs(os.path.join(root, "etc", "config"))
        for n in ("muros_ha", "network"):
            shutil.copy(os.path.join(HERE, "seed", "etc", "config", n), os.path.join(root, "etc", "config", n))
        # --no-converge: this check only lists methods; the daemon must not run a
        # transition (start conntrackd, ...) in the host's network namespace.
        d = subprocess.Popen([daemon, "daemon", "--root", root, "--socket", sock, "--no-converge", "--no-verify"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(d)
        got = wait_methods(ubus, sock, "muros_ha", d)
        check("the muros-ha daemon registers exactly the methods the JS calls",
              got == js_methods, "registered=%s js=%s (%s)" % (sorted(got or []), sorted(js_methods), daemon))
    finally:
        for p in reversed(procs):
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    t0 = time.time()
    js_methods = static_checks()
    syntax_checks()
    live_checks(js_methods)
    print("%d passed, %d failed (%.1f s)" % (passed, failed, time.time() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
