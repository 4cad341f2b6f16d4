"""Helpers for driving the shared openwrt-web LuCI stack from the tests.

The shared folder may reach us with its symlinks flattened into small text files
holding the link target (seen on this workplace: rootfs/usr/lib/liblucihttp.so.0
was an 18-byte file, so uhttpd could not load LuCI). We therefore run a private,
repaired copy: every tiny file whose whole content names an existing sibling path
becomes that symlink again. The shared folder itself is never written.
"""
import os
import shutil
import subprocess

def _shared_dir():
    """shared/ as .ci lays it out (beside the repo), or MUROS_SHARED, or the workplace copy."""
    if os.environ.get("MUROS_SHARED"):
        return os.environ["MUROS_SHARED"]
    beside = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared"))
    return beside if os.path.isdir(beside) else "/work/shared"


SHARED_DIR = _shared_dir()
SHARED = os.environ.get("OWWEB_DIR", os.path.join(SHARED_DIR, "openwrt-web"))


def _looks_like_flattened_link(path):
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not os.path.isfile(path) or os.path.islink(path) or st.st_size == 0 or st.st_size > 255:
        return None
    with open(path, "rb") as f:
        data = f.read()
    try:
        target = data.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    if not target or "\n" in target or " " in target or target.startswith("/") or target.startswith("#"):
        return None
    if not os.path.exists(os.path.join(os.path.dirname(path), target)):
        return None
    return target


def prepare_copy(dest):
    """Copy the shared stack to dest (fresh), restore flattened symlinks, return dest.

    Returns (dest, repaired_count)."""
    if os.path.exists(dest):
        shutil.rmtree(dest)
    shutil.copytree(SHARED, dest, symlinks=True)
    repaired = 0
    # Two passes: a link may point at another flattened link (lib -> rootfs/usr/lib).
    for _ in range(2):
        for dirpath, dirnames, filenames in os.walk(dest):
            for name in filenames:
                p = os.path.join(dirpath, name)
                target = _looks_like_flattened_link(p)
                if target is not None:
                    os.chmod(p, 0o644)
                    os.unlink(p)
                    os.symlink(target, p)
                    repaired += 1
    # The copy keeps the read-only modes of shared/; make directories writable so the
    # test can delete the copy afterwards.
    for dirpath, dirnames, filenames in os.walk(dest):
        os.chmod(dirpath, 0o755)
    return dest, repaired


def read_env(rundir):
    env = {}
    with open(os.path.join(rundir, "env")) as f:
        for line in f:
            line = line.strip()
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                if k.startswith("export "):
                    k = k[len("export "):]
                env[k] = v.strip("'\"")
    return env


def start(stack, rundir, port, extra_roots, extra_env=None):
    env = dict(os.environ)
    env.update(extra_env or {})
    r = subprocess.run([os.path.join(stack, "start.sh"), rundir, str(port), *extra_roots],
                       env=env, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        logs = ""
        logdir = os.path.join(rundir, "log")
        if os.path.isdir(logdir):
            for n in sorted(os.listdir(logdir)):
                with open(os.path.join(logdir, n), errors="replace") as f:
                    logs += "--- %s\n%s\n" % (n, f.read()[-2000:])
        raise RuntimeError("start.sh failed (%d):\n%s\n%s\n%s" % (r.returncode, r.stdout, r.stderr, logs))
    return read_env(rundir)


def stop(stack, rundir):
    subprocess.run([os.path.join(stack, "stop.sh"), rundir], capture_output=True, timeout=60)


def find_daemon_binary(repo):
    """The muros-ha binary to test: $MUROS_HA_BIN, else the newest of the cargo builds
    (a stale debug build must not shadow a fresh release one). Only a binary that has
    the `daemon` subcommand counts."""
    if os.environ.get("MUROS_HA_BIN"):
        cand = [os.environ["MUROS_HA_BIN"]]
    else:
        tdirs = {os.environ.get("CARGO_TARGET_DIR") or os.path.join(repo, "target"), os.path.join(repo, "target")}
        cand = [os.path.join(t, p, "muros-ha") for t in tdirs for p in ("debug", "release")]
        cand = [c for c in cand if os.path.isfile(c)]
        cand.sort(key=os.path.getmtime, reverse=True)
    for c in cand:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            r = subprocess.run([c, "daemon", "--help"], capture_output=True, text=True, timeout=10)
            if r.returncode == 0 and "daemon" in (r.stdout + r.stderr).lower():
                return c
    return None
