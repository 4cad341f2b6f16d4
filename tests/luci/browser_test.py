#!/usr/bin/env python3
"""luci-app-muros-ha in a real browser against the real LuCI stack.

Scenario (each step is a named check; the run ends with "N passed, M failed"):
  1. log in to LuCI (openwrt-web: ubusd + rpcd + uhttpd + ucode LuCI, chrooted);
  2. Settings: fill role / password / VRID / peer IP, Save & Apply → the uci file
     under RUNDIR/root/etc/config/muros_ha changes and the daemon applies it exactly
     once (its `status` applies.count grows by one; real daemon: keepalived.conf
     under its root is rendered with the new VRID). rpcd's commit reaches the daemon
     the OpenWrt way: `service event config.change` → procd's reload trigger →
     init reload → SIGHUP; standin-procd-service.uc plays procd (the stack has none);
  3. VRID 300 is refused in the browser: nothing is saved, apply is not called;
  4. a VIP on an interface the daemon does not know is saved, the daemon rejects
     it and its error appears next to that VIP's Interface field;
  5. putting it back clears the error;
  6. Cluster status shows the role, instances, history, polls `status`, and the
     maintenance toggle calls `maintenance {enable}`; the overview widget renders.
Screenshots: docs/luci-settings.png, docs/luci-settings-errors.png, docs/luci-status.png
(rewritten only with UPDATE_SCREENSHOTS=1 and the real daemon; else in the run dir).

Backend for the `muros_ha` ubus object (env MUROS_HA_BACKEND):
  auto (default)  the real `muros-ha daemon` when a binary with that subcommand is
                  found (MUROS_HA_BIN, $CARGO_TARGET_DIR or target/{debug,release}),
                  else the ucode stand-in tests/luci/standin-muros_ha.uc;
  daemon          require the real daemon;  standin  force the stand-in.

Needs: root (start.sh's mount namespace; the daemon runs in a private netns),
chromium + chromium-driver (apt), selenium (pip). Without them it fails under
CI=true and skips otherwise. KEEP=1 keeps the run directory for inspection
(it is also kept when a check fails).
"""
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
APP = os.path.join(REPO, "luci-app-muros-ha")
SEED = os.path.join(HERE, "seed")
DOCS = os.path.join(REPO, "docs")
sys.path.insert(0, HERE)
import owweb  # noqa: E402

CI = os.environ.get("CI") == "true"
TOOLS = os.environ.get("OPENWRT_TOOLS_DIR", os.path.join(owweb.SHARED_DIR, "openwrt-tools"))
PID = os.getpid()
passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok   - %s" % name, flush=True)
    else:
        failed += 1
        print("FAIL - %s%s" % (name, (": " + str(detail)[:800]) if detail else ""), flush=True)
    return ok


def finish(code=None):
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(code if code is not None else (1 if failed else 0))


def skip_all(reason):
    if CI:
        check("browser test can run", False, reason + " (CI=true: not skipping)")
        finish()
    print("skip: " + reason)
    finish(0)


def wait_for(pred, seconds, step=0.2):
    """Poll pred() until truthy or time is up; returns the last value."""
    deadline = time.time() + seconds
    val = None
    while time.time() < deadline:
        try:
            val = pred()
        except Exception:  # noqa: BLE001 - a page mid-reload raises; just retry
            val = None
        if val:
            return val
        time.sleep(step)
    return val


def free_port():
    base = 18000 + PID % 1000
    for p in range(base, base + 40):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
                return p
            except OSError:
                continue
    raise RuntimeError("no free port near %d" % base)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def digest(path):
    return hashlib.sha256(read(path).encode()).hexdigest()


# ---------------------------------------------------------------- the backend

class Backend:
    """The process answering for ubus object `muros_ha` on the stack's bus."""

    def __init__(self, kind, stack, env, workdir):
        self.kind = kind
        self.stack = stack
        self.env = env
        self.workdir = workdir
        self.proc = None
        self.netns = None
        self.log = os.path.join(workdir, "backend-calls.log")
        self.split_file = os.path.join(workdir, "standin-split.json")
        self.out = os.path.join(workdir, "backend.out")
        self.procd = None
        self.binary = None

    def start(self, binary=None):
        self.binary = binary
        sock = self.env["UBUS_SOCKET"]
        if self.kind == "standin":
            ucode = os.path.join(self.stack, "rootfs", "bin", "ucode")
            argv = [ucode, "-L", os.path.join(self.stack, "rootfs/usr/lib/ucode/*.so"),
                    os.path.join(HERE, "standin-muros_ha.uc")]
            extra = {"UBUS_SOCKET": sock, "STANDIN_CONFDIR": self.env["OWWEB_CONFDIR"], "STANDIN_LOG": self.log,
                     "STANDIN_SPLIT": self.split_file}
        else:
            # The daemon's root is the stack's chroot: it reads the very uci file LuCI
            # writes and renders keepalived.conf under RUNDIR/root/etc/keepalived.
            # It runs in a private netns holding the seed's device names, because
            # `keepalived -t` refuses configs naming interfaces that do not exist.
            self.netns = "mluci%d" % PID
            self._make_netns()
            # issue 16: one takeover on record, as the notify hook writes it, for the
            # status page's per-step figures
            hist = os.path.join(self.env["OWWEB_ROOT"], "var/run/muros-ha")
            os.makedirs(hist, exist_ok=True)
            with open(os.path.join(hist, "history.jsonl"), "a") as f:
                f.write(json.dumps({"time": int(time.time()) - 60, "from": "BACKUP", "to": "MASTER",
                                    "reason": "keepalived GROUP muros_ha MASTER 150 (test fixture)", "ok": True,
                                    "ms": 180, "seq": 1, "actions": [],
                                    "steps": {"conntrack_ms": 10, "services_ms": 141, "wan_ms": 37}}) + "\n")
            argv = ["ip", "netns", "exec", self.netns, binary, "daemon",
                    "--root", self.env["OWWEB_ROOT"], "--socket", sock]
            extra = {}
        with open(self.out, "w") as out:
            self.proc = subprocess.Popen(argv, env=dict(os.environ, **extra), stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        ubus = os.path.join(self.stack, "rootfs", "bin", "ubus")
        ok = wait_for(lambda: self.proc.poll() is None and subprocess.run(
            [ubus, "-s", sock, "list", "muros_ha"], capture_output=True).returncode == 0, 15)
        if not ok:
            raise RuntimeError("%s did not register muros_ha:\n%s" % (self.kind, read(self.out)[-2000:]))
        # procd's `service` object: turns rpcd's config.change for muros_ha into the
        # SIGHUP that the init script's reload sends (`ip netns exec` execs the daemon,
        # so the Popen PID is the daemon's).
        ucode = os.path.join(self.stack, "rootfs", "bin", "ucode")
        penv = dict(os.environ, UBUS_SOCKET=sock, STANDIN_DAEMON_PID=str(self.proc.pid), STANDIN_LOG=self.log)
        with open(os.path.join(self.workdir, "procd-standin.out"), "w") as out:
            self.procd = subprocess.Popen([ucode, "-L", os.path.join(self.stack, "rootfs/usr/lib/ucode/*.so"),
                                           os.path.join(HERE, "standin-procd-service.uc")],
                                          env=penv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_for(lambda: subprocess.run([ubus, "-s", sock, "list", "service"], capture_output=True).returncode == 0, 10):
            raise RuntimeError("the procd service stand-in did not register `service`")

    def _make_netns(self):
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True)
        # Seed network config: lan=br-lan, guest=br-guest, sync=eth2, wan=wan on parent eth0.
        for i, dev in enumerate(("br-lan", "br-guest", "eth2", "eth0", "wan")):
            subprocess.run(["ip", "-n", self.netns, "link", "add", dev, "type", "veth",
                            "peer", "name", "vp%d" % i], check=True)
            subprocess.run(["ip", "-n", self.netns, "link", "set", dev, "up"], check=True)
            subprocess.run(["ip", "-n", self.netns, "link", "set", "vp%d" % i, "up"], check=True)
        for dev, addr in (("br-lan", "192.0.2.2/24"), ("br-guest", "203.0.113.2/24"), ("eth2", "198.18.0.1/30")):
            subprocess.run(["ip", "-n", self.netns, "addr", "add", addr, "dev", dev], check=True)

    def calls(self, method=None):
        out = []
        for line in read(self.log).splitlines():
            try:
                c = json.loads(line)
            except ValueError:
                continue
            if method is None or c.get("method") == method:
                out.append(c)
        return out

    def ubus(self, *args):
        ubus = os.path.join(self.stack, "rootfs", "bin", "ubus")
        r = subprocess.run([ubus, "-s", self.env["UBUS_SOCKET"], *args], capture_output=True, text=True, timeout=15)
        return json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else None

    def applies(self):
        """The daemon's apply count (status applies.count), or None."""
        st = self.ubus("call", "muros_ha", "status")
        return st.get("applies", {}).get("count") if st else None

    def stop(self):
        if self.procd and self.procd.poll() is None:
            os.killpg(self.procd.pid, signal.SIGTERM)
            self.procd.wait(timeout=5)
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        # Whatever the daemon spawned and let go (a daemonised conntrackd, ...) still
        # names our run directory on its command line: stop exactly those PIDs.
        for pid in self.strays():
            print("# stopping stray process %d left by the %s" % (pid, self.kind))
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        if self.netns:
            subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)

    def strays(self):
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == PID:
                continue
            try:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    cmd = f.read().decode(errors="replace")
            except OSError:
                continue
            if self.workdir + "/" in cmd and "chromium" not in cmd and "chromedriver" not in cmd:
                found.append(int(name))
        return found


class PeerRouter:
    """Router B for the pairing step (issue 18): a second real daemon with its own
    ubusd and root, in its own netns, on the other end of the LuCI daemon's sync link
    (the veth peer `vp2` of its eth2 moves over and becomes B's eth2, 198.18.0.2)."""

    def __init__(self, binary, a_netns, workdir):
        self.binary = binary
        self.a_netns = a_netns
        self.ns = "mlucib%d" % PID
        self.root = os.path.join(workdir, "peer-b")
        self.sock = os.path.join(self.root, "var/run/ubus/ubus.sock")
        self.ubusd = None
        self.proc = None

    def start(self):
        for sub in ("etc/config", "var/run/ubus", "tmp"):
            os.makedirs(os.path.join(self.root, sub), exist_ok=True)
        # The HA settings the LuCI router has after the steps above (VIP lan, VRID 42).
        with open(os.path.join(self.root, "etc/config/muros_ha"), "w") as f:
            f.write("config global 'global'\n\toption enabled '1'\n\toption role 'backup'\n\toption auth_type 'pass'\n"
                    "\toption password 'n3wPw8ch'\n\toption sync_interface 'sync'\n\toption peer_ip '198.18.0.1'\n"
                    "\toption vrrp_version '2'\n\toption advert_int '1'\n\tlist service 'dnsmasq'\n\n"
                    "config vip 'lan'\n\toption interface 'lan'\n\toption address '192.0.2.1/24'\n\toption vrid '42'\n")
        net = read(os.path.join(SEED, "etc/config/network")).replace("'198.18.0.1'", "'198.18.0.2'").replace("'192.0.2.2'", "'192.0.2.3'")
        with open(os.path.join(self.root, "etc/config/network"), "w") as f:
            f.write(net)
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        subprocess.run(["ip", "-n", self.a_netns, "link", "set", "vp2", "netns", self.ns], check=True)
        for cmd in (["link", "set", "vp2", "name", "eth2"], ["addr", "add", "198.18.0.2/30", "dev", "eth2"],
                    ["link", "set", "eth2", "up"], ["link", "set", "lo", "up"]):
            subprocess.run(["ip", "-n", self.ns, *cmd], check=True)
        self.ubusd = subprocess.Popen([os.path.join(TOOLS, "bin", "ubusd"), "-s", self.sock],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(lambda: os.path.exists(self.sock), 5)
        with open(os.path.join(self.root, "daemon.log"), "w") as log:
            self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, self.binary, "daemon", "--root", self.root,
                                          "--socket", self.sock, "--no-verify", "--no-converge", "--hook", "/usr/sbin/muros-ha"],
                                         env=dict(os.environ, MUROS_HA_LOG="stderr"), stdout=subprocess.DEVNULL,
                                         stderr=log, start_new_session=True)
        if not wait_for(lambda: self.status() is not None, 15):
            raise RuntimeError("router B's daemon did not register muros_ha:\n" + self.log()[-2000:])

    def log(self):
        return read(os.path.join(self.root, "daemon.log"))

    def status(self):
        r = subprocess.run([os.path.join(TOOLS, "bin", "ubus"), "-s", self.sock, "call", "muros_ha", "status"],
                           capture_output=True, text=True, timeout=15)
        return json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else None

    def pin(self, key):
        """B pins A's key with the real uci, then reloads as its init script would (SIGHUP)."""
        subprocess.run([os.path.join(TOOLS, "bin", "uci"), "-c", os.path.join(self.root, "etc/config"),
                        "set", "muros_ha.global.peer_key=" + key], check=True)
        subprocess.run([os.path.join(TOOLS, "bin", "uci"), "-c", os.path.join(self.root, "etc/config"),
                        "commit", "muros_ha"], check=True)
        os.kill(self.proc.pid, signal.SIGHUP)

    def stop(self):
        for p in (self.proc, self.ubusd):
            if p and p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait(timeout=5)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


# ---------------------------------------------------------------- the browser

def make_driver(profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run",
              "--window-size=1280,1450", "--user-data-dir=" + profile):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


def run(d, base, rundir, backend, password):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait, Select
    from selenium.webdriver.support import expected_conditions as EC

    w = WebDriverWait(d, 25)
    conf = os.path.join(rundir, "root", "etc", "config", "muros_ha")
    kconf = os.path.join(rundir, "root", "etc", "keepalived", "keepalived.conf")
    settings = base + "/cgi-bin/luci/admin/services/muros-ha/settings"
    status = base + "/cgi-bin/luci/admin/services/muros-ha/status"
    real = backend.kind == "daemon"

    def css(sel):
        return d.find_element(By.CSS_SELECTOR, sel)

    def tab(name):
        # centred first: the page's fixed header covers whatever sits at the very top
        a = d.find_element(By.CSS_SELECTOR, "ul.cbi-tabmenu li[data-tab='%s'] a" % name)
        d.execute_script("arguments[0].scrollIntoView({block:'center'})", a)
        a.click()

    def open_settings():
        d.get(settings)
        w.until(EC.presence_of_element_located((By.ID, "widget.cbid.muros_ha.global.role")))
        tab("general")  # LuCI remembers the last tab across reloads
        return w.until(EC.element_to_be_clickable((By.ID, "widget.cbid.muros_ha.global.role")))

    def vip_sid():
        return css("#cbi-muros_ha-vip [data-sid]").get_attribute("data-sid")

    def pick_dropdown(option, value, tries=3):
        """Select `value` in the VIP row's LuCI dropdown; True once LuCI shows it selected."""
        item = "li[data-value='%s']" % value
        for _ in range(tries):
            try:
                dd = css("#cbid\\.muros_ha\\.%s\\.%s" % (vip_sid(), option))
                dd.click()
                li = wait_for(lambda: [e for e in dd.find_elements(By.CSS_SELECTOR, item) if e.is_displayed()], 5)
                if li:
                    li[0].click()
                if wait_for(lambda: css("#cbid\\.muros_ha\\.%s\\.%s %s[selected]" % (vip_sid(), option, item)), 3):
                    return True
            except Exception:  # noqa: BLE001 - stale element mid re-render: try again
                time.sleep(0.5)
        return False

    def set_text(elem_id, value):
        el = w.until(EC.element_to_be_clickable((By.ID, elem_id)))
        el.clear()
        el.send_keys(value)
        el.send_keys(Keys.TAB)  # blur: LuCI validates on input/blur
        return el

    def save_apply():
        btn = css(".cbi-page-actions .cbi-button-apply")
        d.execute_script("arguments[0].scrollIntoView({block:'center'})", btn)
        btn.click()

    def cls(el):
        try:
            return el.get_attribute("class") or ""
        except Exception:  # noqa: BLE001 - the element left the page (modal closed, reload)
            return "<gone>"

    def opt(text, name):
        m = re.search(r"option %s '([^']*)'" % re.escape(name), text)
        return m.group(1) if m else None

    # 1. login -----------------------------------------------------------------
    d.get(base + "/cgi-bin/luci/")
    w.until(EC.element_to_be_clickable((By.NAME, "luci_password")))
    d.find_element(By.NAME, "luci_username").clear()
    d.find_element(By.NAME, "luci_username").send_keys("root")
    d.find_element(By.NAME, "luci_password").send_keys(password)
    d.find_element(By.NAME, "luci_password").submit()
    check("log in to LuCI", wait_for(lambda: "/admin/status/overview" in d.current_url, 20), d.current_url)

    # The overview widget (view/status/include/75_muros_ha.js).
    ov = wait_for(lambda: css("#muros-ha-overview").text, 20)
    check("Status › Overview shows the High Availability box", ov and "Role" in ov, ov)

    # 2. settings: render, fill, Save & Apply -----------------------------------
    role = open_settings()
    check("settings page shows the seeded role", Select(role).first_selected_option.get_attribute("value") == "backup")
    pw = d.find_element(By.ID, "widget.cbid.muros_ha.global.password")
    check("password field is masked", pw.get_attribute("type") == "password", pw.get_attribute("type"))
    check("a valid seed shows no daemon errors", not d.find_elements(By.ID, "muros-ha-errors"),
          d.find_elements(By.ID, "muros-ha-errors") and css("#muros-ha-errors").text)
    sid = vip_sid()
    before = read(conf)
    k_before = read(kconf)

    Select(role).select_by_value("master")
    set_text("widget.cbid.muros_ha.global.password", "n3wPw8ch")
    set_text("widget.cbid.muros_ha.%s.vrid" % sid, "42")
    tab("sync")
    set_text("widget.cbid.muros_ha.global.peer_ip", "198.18.0.2")
    # issue 14 §2: the backup's own Internet route is a flag, on unless unticked
    tab("advanced")
    br = w.until(EC.element_to_be_clickable(
        (By.CSS_SELECTOR, "input[data-widget-id='widget.cbid.muros_ha.global.backup_route']")))
    check("the backup-route flag is on by default", br.is_selected())
    br.click()
    applies_before = backend.applies()
    save_apply()

    after = wait_for(lambda: (lambda t: t if opt(t, "vrid") == "42" and opt(t, "role") == "master" else None)(read(conf)), 30)
    check("Save & Apply writes the uci file (role master, vrid 42)", after, read(conf))
    check("Save & Apply writes the new password to uci", after and opt(after, "password") == "n3wPw8ch")
    check("unticking the backup route writes backup_route '0'", after and opt(after, "backup_route") == "0",
          after and opt(after, "backup_route"))
    check("the uci file changed", after and after != before)
    applied = wait_for(lambda: d.find_elements(By.ID, "muros-ha-applied") and css("#muros-ha-applied").text, 30)
    check("after the uci apply the page reports the daemon's apply", applied,
          d.find_elements(By.ID, "muros-ha-daemon") and css("#muros-ha-daemon").text)
    check("rpcd's commit reached procd's reload trigger for muros_ha",
          any(c["args"].get("type") == "config.change" and c["args"].get("data", {}).get("package") == "muros_ha"
              for c in backend.calls("service.event")), backend.calls("service.event"))
    time.sleep(3)  # a second apply (the page, a file watch, a render in the init script) would show by now
    check("one Save & Apply applied the config exactly once", backend.applies() == applies_before + 1,
          (applies_before, backend.applies()))
    if real:
        k_after = wait_for(lambda: (lambda t: t if "virtual_router_id 42" in t else None)(read(kconf)), 15)
        check("the daemon rendered keepalived.conf with VRID 42", k_after, read(kconf)[-600:])
        check("keepalived.conf changed", k_after and k_after != k_before)
        check("keepalived.conf carries the master priority 150", k_after and re.search(r"priority\s+150", k_after))

    # 2b. Save & Apply with nothing changed still asks the daemon to apply ----------
    open_settings()
    applies_before = backend.applies()
    k_mtime = os.path.getmtime(kconf) if os.path.exists(kconf) else None
    d.execute_script("document.getElementById('muros-ha-daemon').innerHTML = ''")
    save_apply()
    check("Save & Apply without changes re-applies through the daemon",
          wait_for(lambda: d.find_elements(By.ID, "muros-ha-applied"), 15),
          d.find_elements(By.ID, "muros-ha-daemon") and css("#muros-ha-daemon").text)
    if real:
        check("re-applying an unchanged config leaves keepalived.conf alone",
              k_mtime is not None and os.path.getmtime(kconf) == k_mtime)
    time.sleep(2)
    check("the no-change Save & Apply applied once", backend.applies() == applies_before + 1,
          (applies_before, backend.applies()))

    # 3. invalid VRID: refused in the browser -------------------------------------
    open_settings()
    sid = vip_sid()
    saved = digest(conf)
    k_saved = digest(kconf)
    applies_before = len(backend.calls("apply"))
    vr = set_text("widget.cbid.muros_ha.%s.vrid" % sid, "300")
    check("VRID 300 is marked invalid in the browser",
          wait_for(lambda: "cbi-input-invalid" in (vr.get_attribute("class") or ""), 5), vr.get_attribute("class"))
    save_apply()
    modal = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, ".modal") and css(".modal").text, 10)
    check("Save & Apply with VRID 300 shows an error", modal and "VRID" in modal, modal)
    time.sleep(4)  # give a wrongly started apply time to show up
    check("VRID 300 saves nothing (uci file unchanged)", digest(conf) == saved, read(conf))
    check("VRID 300 never reaches the daemon",
          (digest(kconf) == k_saved) if real else len(backend.calls("apply")) == applies_before)

    # 3b. a second VIP reusing VRID 42 on the same interface is refused -----------
    open_settings()
    create = css("#cbi-muros_ha-vip .cbi-section-create input[type='text']")
    create.send_keys("guest2")
    css("#cbi-muros_ha-vip .cbi-section-create .cbi-button-add").click()
    modal_vrid = wait_for(lambda: [e for e in d.find_elements(By.ID, "widget.cbid.muros_ha.guest2.vrid") if e.is_displayed()], 10)
    check("Add opens the VIP editor for the new section", modal_vrid)
    if modal_vrid:
        mdd = css(".modal #cbid\\.muros_ha\\.guest2\\.interface")
        mdd.click()
        li = wait_for(lambda: [e for e in mdd.find_elements(By.CSS_SELECTOR, "li[data-value='lan']") if e.is_displayed()], 5)
        li[0].click()
        set_text("widget.cbid.muros_ha.guest2.address", "192.0.2.3/24")
        dup = set_text("widget.cbid.muros_ha.guest2.vrid", "42")
        css(".modal .cbi-button-positive").click()
        time.sleep(1)
        check("VRID 42 twice on lan is marked invalid in the editor", "cbi-input-invalid" in cls(dup), cls(dup))
        still_open = [e for e in d.find_elements(By.ID, "widget.cbid.muros_ha.guest2.vrid") if e.is_displayed()]
        check("the editor stays open on the duplicate VRID", still_open)
        if still_open:
            dup.clear()
            dup.send_keys("43", Keys.TAB)
            check("VRID 43 on lan is accepted", wait_for(lambda: "cbi-input-invalid" not in cls(dup), 5), cls(dup))
            css(".modal .button-row .cbi-button:not(.cbi-button-positive)").click()  # Dismiss: drop the new VIP
            wait_for(lambda: not d.find_elements(By.CSS_SELECTOR, ".modal .cbi-button-positive"), 5)
    check("the dismissed VIP was never written to uci", "guest2" not in read(conf), read(conf))

    # 3c. an upstream health check (issue 17): added, a bad target refused in the
    #     browser, saved to uci, then (real daemon) shown on the status page ---------
    open_settings()
    create = css("#cbi-muros_ha-health .cbi-section-create input[type='text']")
    d.execute_script("arguments[0].scrollIntoView({block:'center'})", create)
    create.send_keys("upstream")
    css("#cbi-muros_ha-health .cbi-section-create .cbi-button-add").click()
    tgt = wait_for(lambda: [e for e in d.find_elements(By.ID, "widget.cbid.muros_ha.upstream.target") if e.is_displayed()], 10)
    check("Add health check shows its fields", tgt)
    if tgt:
        tgt[0].send_keys("isp.example", Keys.TAB)
        check("a host name as target is marked invalid in the browser",
              wait_for(lambda: "cbi-input-invalid" in cls(tgt[0]), 5), cls(tgt[0]))
        tgt[0].clear()
        tgt[0].send_keys("203.0.113.2", Keys.ENTER)
        set_text("widget.cbid.muros_ha.upstream.fall", "4")
        save_apply()
        hc = wait_for(lambda: (lambda t: t if "config health 'upstream'" in t and "list target '203.0.113.2'" in t else None)(read(conf)), 30)
        check("Save & Apply writes the health check to uci (target 203.0.113.2, fall 4)",
              hc and re.search(r"config health 'upstream'(.|\n)*option fall '4'", hc), read(conf))
        check("the daemon applied the config with the health check",
              wait_for(lambda: d.find_elements(By.ID, "muros-ha-applied"), 30),
              d.find_elements(By.ID, "muros-ha-daemon") and css("#muros-ha-daemon").text)
        if real:
            k_hc = wait_for(lambda: (lambda t: t if "muros_ha_upstream" in t else None)(read(kconf)), 15)
            check("the daemon rendered the upstream demotion into keepalived.conf", k_hc, read(kconf)[-600:])

    # 3d. WAN mode static (issue 17 §2): the DHCP fields give way to the VIP and the
    #     gateway, saved to uci; this stack's `wan` is a DHCP interface, so the real
    #     daemon refuses it next to the Interface field. Then back to DHCP. -----------
    open_settings()
    proto = w.until(EC.presence_of_element_located((By.ID, "widget.cbid.muros_ha.wan.proto")))
    d.execute_script("arguments[0].scrollIntoView({block:'center'})", proto)
    Select(proto).select_by_value("static")
    vip_field = wait_for(lambda: [e for e in d.find_elements(By.ID, "widget.cbid.muros_ha.wan.ipaddr") if e.is_displayed()], 5)
    check("WAN mode static shows the WAN VIP field", vip_field)
    check("WAN mode static hides the shared MAC field",
          not [e for e in d.find_elements(By.ID, "widget.cbid.muros_ha.wan.macaddr") if e.is_displayed()])
    if vip_field:
        set_text("widget.cbid.muros_ha.wan.ipaddr", "198.51.100.60/24")
        set_text("widget.cbid.muros_ha.wan.gateway", "198.51.100.1")
        save_apply()
        st = wait_for(lambda: (lambda t: t if "option proto 'static'" in t and "option ipaddr '198.51.100.60/24'" in t else None)(read(conf)), 30)
        check("Save & Apply writes the static WAN to uci (proto, VIP, gateway)", st and opt(st, "gateway") == "198.51.100.1", read(conf))
        if real:
            err = wait_for(lambda: d.find_elements(By.ID, "muros-ha-errors") and css("#muros-ha-errors").text, 30)
            check("the daemon says the static WAN interface needs its own static address",
                  err and "WAN" in err and "no static IPv4 address" in err, err)
        else:
            wait_for(lambda: d.find_elements(By.ID, "muros-ha-applied"), 30)
        open_settings()
        proto = w.until(EC.presence_of_element_located((By.ID, "widget.cbid.muros_ha.wan.proto")))
        d.execute_script("arguments[0].scrollIntoView({block:'center'})", proto)
        Select(proto).select_by_value("dhcp")
        wait_for(lambda: [e for e in d.find_elements(By.ID, "widget.cbid.muros_ha.wan.macaddr") if e.is_displayed()], 5)
        set_text("widget.cbid.muros_ha.wan.parent", "eth0")
        set_text("widget.cbid.muros_ha.wan.macaddr", "02:00:5e:00:00:01")
        save_apply()
        # LuCI leaves a ListValue at its default ('dhcp') out of uci; check reads it so.
        back = wait_for(lambda: (lambda t: t if opt(t, "proto") in (None, "dhcp") and "option macaddr '02:00:5e:00:00:01'" in t else None)(read(conf)), 30)
        check("back to DHCP: the shared MAC again, the VIP and the gateway gone", back and "198.51.100.60" not in back and "gateway" not in back, read(conf))
        check("the daemon applies the DHCP WAN again", wait_for(lambda: d.find_elements(By.ID, "muros-ha-applied"), 30),
              d.find_elements(By.ID, "muros-ha-daemon") and css("#muros-ha-daemon").text)

    # 4. daemon-side error next to its field --------------------------------------
    open_settings()
    sid = vip_sid()
    dd = css("#cbid\\.muros_ha\\.%s\\.interface" % sid)
    dd.click()
    inp = wait_for(lambda: [e for e in dd.find_elements(By.CSS_SELECTOR, ".create-item-input") if e.is_displayed()], 5)
    inp[0].send_keys("nosuchif", Keys.ENTER)
    k_saved = read(kconf)
    save_apply()
    saved_bad = wait_for(lambda: opt(read(conf), "interface") == "nosuchif" or "nosuchif" in read(conf), 30)
    check("a VIP on an unknown interface is saved to uci (the browser cannot know)", saved_bad, read(conf))
    box = wait_for(lambda: d.find_elements(By.ID, "muros-ha-errors") and css("#muros-ha-errors").text, 30)
    check("the daemon's rejection is shown", box, d.find_elements(By.ID, "muros-ha-daemon") and css("#muros-ha-daemon").text)
    check("the error names the VIP's Interface field, not a raw dump",
          box and 'Virtual IP "lan"' in box and "Interface" in box and "{" not in box, box)
    row_note = wait_for(lambda: [e.text for e in d.find_elements(
        By.CSS_SELECTOR, "#cbi-muros_ha-vip tr[data-sid] .muros-ha-field-error")], 5)
    check("the error sits in the VIP row next to the field", row_note, row_note)
    field_note = d.find_elements(
        By.XPATH, "//div[@data-field='cbid.muros_ha.%s.interface']/following-sibling::div[contains(@class,'muros-ha-field-error')]" % vip_sid())
    check("the error is attached right after the Interface widget", field_note)
    if real:
        check("the daemon left keepalived.conf alone for an invalid config", read(kconf) == k_saved)
    d.execute_script("window.scrollTo(0,0)")
    d.save_screenshot(os.path.join(DOCS, "luci-settings-errors.png"))

    # 5. fix it: errors go away -----------------------------------------------------
    # The form re-renders after the previous Save & Apply: find the dropdown afresh on
    # every try and confirm LuCI marked the item selected before saving (under load a
    # click can land on an element that is being replaced).
    check("the VIP interface dropdown selects lan", pick_dropdown("interface", "lan"))
    save_apply()
    check("the VIP interface goes back to lan in uci",
          wait_for(lambda: "option interface 'lan'" in read(conf) and "nosuchif" not in read(conf), 30), read(conf))
    ok = wait_for(lambda: d.find_elements(By.ID, "muros-ha-applied") and not d.find_elements(By.ID, "muros-ha-errors"), 30)
    check("with the config fixed the errors are gone and apply succeeds", ok,
          d.find_elements(By.ID, "muros-ha-daemon") and css("#muros-ha-daemon").text)
    tab("general")
    d.execute_script("window.scrollTo(0,0)")
    d.save_screenshot(os.path.join(DOCS, "luci-settings.png"))

    # 6. cluster status ----------------------------------------------------------------
    d.get(status)
    role_text = wait_for(lambda: css("#muros-ha-role").text, 20)
    check("status shows the configured role", role_text and "configured master" in role_text, role_text)
    if not real:
        check("status shows the local VRRP state badge", role_text and "MASTER" in role_text, role_text)
    inst = wait_for(lambda: css("#muros-ha-instances").text, 10)
    check("VRRP instances table lists the VIP with VRID 42", inst and "42" in inst and "192.0.2.1/24" in inst, inst)
    hist = css("#muros-ha-history").text
    check("history table is rendered from `history`", "Transition" in hist and
          (("MASTER" in hist) if not real else True), hist)
    check("the status page never shows the password", "n3wPw8ch" not in d.page_source)
    # issue 16: the last takeover's per-step figures, as `status.last_failover` has them
    # (the real daemon: from the MASTER record written into its history before the start)
    fo = wait_for(lambda: css("#muros-ha-last-failover").text, 10)
    check("status shows the last takeover's steps", fo and "WAN up after 37 ms" in fo and "services after 141 ms" in fo
          and "conntrack committed after 10 ms" in fo, fo)
    up = wait_for(lambda: css("#muros-ha-upstream").text, 10)
    if real:
        check("status shows the upstream check the daemon loaded (not probed on a backup)",
              up and "203.0.113.2" in up and "upstream" in up and ("not probed" in up or "starting" in up), up)
    else:
        check("status shows the Upstream row", up, up)
    sb = css("#muros-ha-split-brain").text
    if real:
        check("the real daemon has seen no split brain here", "none seen" in sb, sb)
    else:
        # issue 14 §4: a fence, then the record it leaves, as `status` reports them
        now = int(time.time())
        with open(backend.split_file, "w") as f:
            json.dump({"fence": {"since": now, "reason": "fenced: both routers are MASTER on lan (VRID 42)", "by_link": False},
                       "last_split_brain": {"start": now, "end": None, "message": "both MASTER", "fenced": True}}, f)
        txt = wait_for(lambda: (lambda t: t if "fenced since" in t else None)(css("#muros-ha-split-brain").text), 15)
        check("the status page shows the fence and its reason", txt and "VRID 42" in txt, txt)
        with open(backend.split_file, "w") as f:
            json.dump({"last_split_brain": {"start": now - 5, "end": now, "message": "both MASTER on lan", "fenced": True}}, f)
        txt = wait_for(lambda: (lambda t: t if "last" in t and "fenced since" not in t else None)(css("#muros-ha-split-brain").text), 15)
        check("after the fence is lifted the last split brain stays shown", txt and "both MASTER on lan" in txt and "yielded" in txt, txt)
        os.unlink(backend.split_file)
    # Count `status` calls the page sends: proves polling without relying on the backend.
    d.execute_script("""
        window.__murosStatusCalls = 0;
        const send = XMLHttpRequest.prototype.send;
        XMLHttpRequest.prototype.send = function(body) {
            if (typeof body == 'string' && body.indexOf('"muros_ha"') >= 0 && body.indexOf('"status"') >= 0)
                window.__murosStatusCalls++;
            return send.apply(this, arguments);
        };""")
    time.sleep(7)
    n = d.execute_script("return window.__murosStatusCalls")
    check("the status page polls `status` every few seconds (>=2 calls in 7 s)", n >= 2, n)
    d.save_screenshot(os.path.join(DOCS, "luci-status.png"))

    btn = css("#muros-ha-maintenance-toggle")
    check("maintenance starts off", btn.get_attribute("data-enabled") == "false")
    btn.click()
    on = wait_for(lambda: css("#muros-ha-maintenance-toggle").get_attribute("data-enabled") == "true", 10)
    check("the maintenance toggle turns maintenance on", on)
    st = backend.ubus("call", "muros_ha", "status")
    check("the daemon is in maintenance with priority 1",
          st and st.get("maintenance") is True and st.get("effective_priority") == 1, st)
    if not real:
        check("the toggle called maintenance {enable: true}",
              any(c["args"].get("enable") is True for c in backend.calls("maintenance")), backend.calls("maintenance"))
    css("#muros-ha-maintenance-toggle").click()
    off = wait_for(lambda: css("#muros-ha-maintenance-toggle").get_attribute("data-enabled") == "false", 10)
    check("the maintenance toggle turns maintenance off again", off)

    # 7. pairing (issue 18 §1): this router's key and a copy button, the peer's key
    #    checked in the browser (low order, own key), the packages kept per router,
    #    then (real daemon) a second daemon on the sync link and the link's live state.
    open_settings()
    check("the General tab has the VPN interfaces field (issue 18 §2)",
          wait_for(lambda: [e for e in d.find_elements(By.ID, "widget.cbid.muros_ha.global.vpn") if e.is_displayed()], 5))
    shown = wait_for(lambda: css("#muros-ha-local-key").text, 15)
    st = backend.ubus("call", "muros_ha", "status") or {}
    own = (st.get("peer") or {}).get("local_key")
    check("Pairing shows this router's key as `status` has it", shown and shown == own, (shown, own))
    copy = css("#muros-ha-copy-key")
    d.execute_script("arguments[0].scrollIntoView({block:'center'})", copy)
    # headless Chromium: the clipboard is this profile's own; reading it back needs the grant
    d.execute_cdp_cmd("Browser.grantPermissions", {"origin": base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    copy.click()
    note = wait_for(lambda: css("#muros-ha-copy-note").text, 5)
    check("the Copy button confirms the copy", note == "Copied", note)
    pasted = d.execute_script("return navigator.clipboard.readText().catch(e => 'ERR ' + e)")
    check("the clipboard holds this router's key", pasted == own, pasted)

    saved = digest(conf)
    low = base64.b64encode(bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")).decode()
    pk = set_text("widget.cbid.muros_ha.global.peer_key", low)
    check("a low-order key is marked invalid", wait_for(lambda: "cbi-input-invalid" in cls(pk), 5), cls(pk))
    refusal = wait_for(lambda: css("#muros-ha-peer-key-note").text, 5)
    check("the refusal is spelled out next to the key field", refusal and "small order" in refusal, refusal)
    save_apply()
    modal = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, ".modal") and css(".modal").text, 10)
    check("Save & Apply with a low-order key shows an error", modal and "Peer key" in modal, modal)
    time.sleep(2)
    check("the low-order key is never written to uci", digest(conf) == saved and "peer_key" not in read(conf), read(conf))

    open_settings()
    pk = set_text("widget.cbid.muros_ha.global.peer_key", own)
    check("this router's own key is refused as the peer's",
          wait_for(lambda: "own key" in (css("#muros-ha-peer-key-note").text or ""), 5), css("#muros-ha-peer-key-note").text)
    pk = set_text("widget.cbid.muros_ha.global.peer_key", "not-a-key")
    check("a mangled key is refused with what a key looks like",
          wait_for(lambda: "44 base64" in (css("#muros-ha-peer-key-note").text or ""), 5), css("#muros-ha-peer-key-note").text)

    peer = None
    try:
        if real:
            peer = PeerRouter(backend.binary, backend.netns, backend.workdir)
            peer.start()
            kb = peer.status()["peer"]["local_key"]
            peer.pin(own)
        else:
            kb = base64.b64encode(bytes(range(1, 33))).decode()
        pk = set_text("widget.cbid.muros_ha.global.peer_key", kb)
        check("the other router's key is accepted", wait_for(lambda: "cbi-input-invalid" not in cls(pk), 5)
              and not css("#muros-ha-peer-key-note").text, cls(pk))
        ex = w.until(EC.presence_of_element_located((By.ID, "widget.cbid.muros_ha.global.replicate_exclude")))
        d.execute_script("arguments[0].scrollIntoView({block:'center'})", ex)
        ex.send_keys("network.lan", Keys.TAB)
        check("an exclusion of a package that is not replicated is marked invalid",
              wait_for(lambda: "cbi-input-invalid" in cls(ex), 5), cls(ex))
        ex.clear()
        ex.send_keys("dhcp.@dnsmasq[0].interface", Keys.ENTER)
        rep = css("#widget\\.cbid\\.muros_ha\\.global\\.replicate")
        rep.send_keys("system", Keys.TAB)
        check("replicating `system` is marked invalid", wait_for(lambda: "cbi-input-invalid" in cls(rep), 5), cls(rep))
        rep.clear()
        rep.send_keys(Keys.TAB)
        # issue 18 §2: replicated files only from the VPN directories, never a config
        rf = css("#widget\\.cbid\\.muros_ha\\.global\\.replicate_file")
        for bad in ("/etc/passwd", "/etc/openvpn/server.conf", "/etc/openvpn/../shadow"):
            rf.clear()
            rf.send_keys(bad, Keys.TAB)
            check("replicating %s is marked invalid" % bad, wait_for(lambda: "cbi-input-invalid" in cls(rf), 5), cls(rf))
        rf.clear()
        rf.send_keys("/etc/openvpn/ta.key", Keys.ENTER)
        t0 = time.time()
        save_apply()
        paired = wait_for(lambda: (lambda t: t if opt(t, "peer_key") == kb else None)(read(conf)), 30)
        check("Save & Apply writes the peer's key to uci", paired, read(conf))
        check("... and the exclusion", paired and "list replicate_exclude 'dhcp.@dnsmasq[0].interface'" in paired, paired)
        check("... and the replicated file", paired and "list replicate_file '/etc/openvpn/ta.key'" in paired, paired)
        check("the daemon applies the paired config", wait_for(lambda: d.find_elements(By.ID, "muros-ha-applied"), 30),
              d.find_elements(By.ID, "muros-ha-daemon") and css("#muros-ha-daemon").text)
        link = wait_for(lambda: (lambda t: t if t.startswith("Connected") else None)(css("#muros-ha-link-state").text), 30)
        check("the link comes up and the Pairing section says so", link, css("#muros-ha-link-box").text)
        if link:
            print("# pairing: Save & Apply clicked → 'Connected' on the page in %.1f s" % (time.time() - t0))
        seen = css("#muros-ha-link-seen").text
        check("the last heartbeat is shown", seen and "ago" in seen, seen)
        if real:
            pb = (peer.status() or {}).get("peer") or {}
            check("router B's daemon has the link up too", pb.get("connected") is True, pb)
            role_b = wait_for(lambda: css("#muros-ha-link-role").text, 10)
            check("the Pairing section shows B's role from its heartbeat", role_b and "backup" in role_b, role_b)
        d.execute_script("document.getElementById('cbi-muros_ha-global') && document.getElementById('muros-ha-link-box').scrollIntoView({block:'center'})")
        d.save_screenshot(os.path.join(DOCS, "luci-pairing.png"))
    finally:
        if peer:
            if failed:
                print("# router B's log:\n" + peer.log()[-3000:])
            peer.stop()


def main():
    t0 = time.time()
    if os.geteuid() != 0:
        skip_all("needs root (mount namespace for the LuCI stack, netns for the daemon)")
    for exe in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not os.access(exe, os.X_OK):
            skip_all("%s missing (apt-get install chromium chromium-driver)" % exe)
    try:
        import selenium  # noqa: F401
    except ImportError:
        skip_all("python selenium missing (pip install selenium)")

    want = os.environ.get("MUROS_HA_BACKEND", "auto")
    binary = owweb.find_daemon_binary(REPO) if want in ("auto", "daemon") else None
    if want == "daemon" and not binary:
        check("the real muros-ha daemon is available", False, "no binary with a daemon subcommand")
        finish()
    kind = "daemon" if binary else "standin"
    print("# backend: %s%s" % (kind, (" (%s)" % binary) if binary else
                               " (ucode stand-in: %s)" % ("MUROS_HA_BACKEND=standin" if want == "standin" else "no daemon binary found")))

    work = "/tmp/muros-luci-%d" % PID
    os.makedirs(work, exist_ok=True)
    global DOCS
    if kind != "daemon" or os.environ.get("UPDATE_SCREENSHOTS") != "1":
        # docs/ changes only on request (like golden files), and only shows the real
        # daemon's pages; other runs keep their screenshots in the run dir.
        DOCS = os.path.join(work, "screenshots")
    os.makedirs(DOCS, exist_ok=True)
    print("# screenshots in %s" % DOCS)
    stack, repaired = owweb.prepare_copy(os.path.join(work, "owweb"))
    if repaired:
        print("# restored %d flattened symlinks in the private copy of openwrt-web" % repaired)
    rundir = os.path.join(work, "run")
    port = free_port()
    d = None
    backend = None
    try:
        env = owweb.start(stack, rundir, port, [APP, SEED])
        base = env["OWWEB_BASE"]
        print("# LuCI at %s, run dir %s" % (base, rundir))
        backend = Backend(kind, stack, env, work)
        backend.start(binary)
        d = make_driver(os.path.join(work, "chromium-profile"))
        run(d, base, rundir, backend, env.get("OWWEB_PASSWORD", "muros-test"))
    except Exception as e:  # noqa: BLE001 - any crash is one failed check, cleanup still runs
        import traceback
        traceback.print_exc()
        check("browser scenario ran to the end", False, repr(e))
        if d:
            try:
                d.save_screenshot(os.path.join(work, "failure.png"))
                print("# failure screenshot: %s/failure.png" % work)
            except Exception:  # noqa: BLE001
                pass
    finally:
        if d:
            try:
                for e in d.get_log("browser"):
                    if e.get("level") == "SEVERE":
                        print("# console: %s" % e.get("message", "")[:300])
            except Exception:  # noqa: BLE001
                pass
            d.quit()
        if backend:
            backend.stop()
        owweb.stop(stack, rundir)
        if os.environ.get("KEEP") != "1" and not failed:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("# kept %s" % work)
    print("# runtime %.1f s" % (time.time() - t0))
    finish()


if __name__ == "__main__":
    main()
