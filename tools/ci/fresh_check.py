#!/usr/bin/env python3
"""make fresh-check: the README's commands, as the very first ones on a fresh Debian 12 machine.

  1. a minimal Debian 12 root: debootstrap --variant=minbase plus make, git and python3, from this
     machine's Debian mirror; kept as a tarball in ~/.cache/novaops-compute/fresh-check/ (made again
     when the recipe changes or after 30 days), unpacked afresh for every run
  2. the checkout's committed HEAD cloned to /root/novaops-compute in it (root's home is mode 700,
     as on a real machine: QEMU, running as libvirt-qemu, cannot enter it)
  3. `make deps` in it, with the network
  4. `make demo` in it inside a network namespace of its own (loopback up, nothing else): its
     beds' ports, bridges, taps and qdiscs cannot meet the host's; then `make beds-stop`

Each phase runs in new mount, pid and UTS namespaces whose root is the root (pivot_root, not
only chroot: see namespace_script), with a /dev, /run, /proc and sysfs of its own.

Nothing of the host's installed packages is used in the root.  Every mount is made in a mount
namespace that ends with its phase, and every process in a pid namespace whose end kills them
all, whatever happens (an error, ^C, a killed make).  The root itself (under /var/tmp) is
removed after a pass, and kept after a failure for a look until the next run.  Downloads are
cached (apt's .debs, pip's HTTP cache); pip's built wheels are not, so libvirt-python and uWSGI
are built in the root every time against what bindep.txt installed there.

    fresh_check.py [--keep] [--rev REV]
        --keep       leave the root after a pass too
        --rev REV    check this commit instead of HEAD (e.g. one made with `git commit-tree`
                     to see the check fail without a package of bindep.txt)
"""

import argparse
import ctypes
import fcntl
import hashlib
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
INCLUDE = ("make", "git", "python3")
CACHE = Path.home() / ".cache" / "novaops-compute" / "fresh-check"
WORK = Path("/var/tmp/novaops-fresh-check") / hashlib.sha1(str(REPO).encode()).hexdigest()[:8]
CLONE = "root/novaops-compute"          # inside the root: /root/novaops-compute
BASE_MAX_AGE = 30 * 86400
# What a fresh machine has that debootstrap does not write.
HOSTS = "127.0.0.1\tlocalhost\n127.0.1.1\tfresh-check\n::1\tlocalhost ip6-localhost ip6-loopback\n"
# No package's maintainer script starts a daemon in the root: the beds start them, as on a
# machine where they are not running yet (and none of them may reach the host's network).
POLICY_RC_D = "#!/bin/sh\nexit 101\n"
ENV = ["HOME=/root", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
       "TERM=dumb", "PYTHONUNBUFFERED=1"]


def say(text):
    print("fresh-check: %s" % text, flush=True)


# -- this machine's Debian mirror --------------------------------------------------------------

def _debian_suite(suite):
    return suite == SUITE or suite.startswith(SUITE + "-")


def debian_sources(apt=Path("/etc/apt")):
    """The host's sources of Debian itself (its mirror, updates, security), in deb822 stanzas and
    one-line entries; third-party ones are left out (their keys are not in the root)."""
    stanzas = []
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields = dict(re.findall(r"^([A-Za-z-]+):[ \t]*(.*)$", stanza, re.M))
            if "deb" in fields.get("Types", "").split() and fields.get("Suites") \
                    and all(_debian_suite(suite) for suite in fields["Suites"].split()) \
                    and "debian-archive-keyring" in fields.get("Signed-By", "debian-archive-keyring"):
                stanzas.append(stanza.strip())
    lines = []
    legacy = apt / "sources.list"
    for line in legacy.read_text().splitlines() if legacy.exists() else []:
        options = re.findall(r"\[([^]]*)\]", line)
        words = re.sub(r"\[[^]]*\]", "", line).split()
        if len(words) >= 3 and words[0] == "deb" and _debian_suite(words[2]) \
                and "signed-by" not in " ".join(options).replace("debian-archive-keyring", ""):
            lines.append(line.strip())
    if not stanzas and not lines:
        raise SystemExit("fresh-check: no Debian %s source in %s/sources.list{,.d}" % (SUITE, apt))
    return stanzas, lines


def mirror(stanzas, lines):
    """The URI of the suite itself (not -updates or -security), for debootstrap."""
    for stanza in stanzas:
        fields = dict(re.findall(r"^([A-Za-z-]+):[ \t]*(.*)$", stanza, re.M))
        if SUITE in fields["Suites"].split():
            return fields["URIs"].split()[0]
    for line in lines:
        words = re.sub(r"\[[^]]*\]", "", line).split()
        if words[2] == SUITE:
            return words[1]
    raise SystemExit("fresh-check: no source of the suite %s itself" % SUITE)


def apt_settings():
    """The host's Acquire::Check-* lines (a snapshot mirror's Release files are past Valid-Until)."""
    found = []
    for path in sorted(Path("/etc/apt/apt.conf.d").glob("*")):
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError):
            continue
        found += re.findall(r'^\s*Acquire::Check-[A-Za-z-]+\s+"[^"]*";', text, re.M)
    return "".join(line.strip() + "\n" for line in found)


# -- the base root -----------------------------------------------------------------------------

def base_tarball(uri):
    key = hashlib.sha1(repr((SUITE, "minbase", INCLUDE, uri, HOSTS, POLICY_RC_D)).encode()).hexdigest()[:12]
    tarball = CACHE / ("base-%s-%s.tar" % (SUITE, key))
    if tarball.exists() and time.time() - tarball.stat().st_mtime < BASE_MAX_AGE:
        return tarball, False
    for old in CACHE.glob("base-*.tar"):
        old.unlink()
    return tarball, True


def make_base(root, uri, tarball):
    say("debootstrap --variant=minbase --include=%s %s from %s" % (",".join(INCLUDE), SUITE, uri))
    log = WORK / "debootstrap.log"
    with open(log, "w") as out:
        done = subprocess.run(["debootstrap", "--variant=minbase", "--include=" + ",".join(INCLUDE),
                               SUITE, str(root), uri], stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode:
        raise SystemExit("fresh-check: debootstrap failed (%s):\n%s" % (log, tail(log)))
    (root / "etc" / "hosts").write_text(HOSTS)
    (root / "etc" / "hostname").write_text("fresh-check\n")
    policy = root / "usr" / "sbin" / "policy-rc.d"
    policy.write_text(POLICY_RC_D)
    policy.chmod(0o755)
    shutil.rmtree(root / "var" / "cache" / "apt" / "archives", ignore_errors=True)
    (root / "var" / "cache" / "apt" / "archives" / "partial").mkdir(parents=True)
    partial = tarball.with_suffix(".partial")
    subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."], check=True)
    partial.rename(tarball)


def unpack_base(root, tarball):
    root.mkdir(parents=True)
    subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-xpf", str(tarball)], check=True)


def configure_root(root, stanzas, lines):
    """This run's network settings, as this machine has them: its Debian mirror, its resolver, and
    the certificates it trusts (its HTTPS goes through a proxy whose CA only the host's bundle
    has), given to pip the way /etc/pip.conf gives them to the host's."""
    etc = root / "etc"
    legacy = etc / "apt" / "sources.list"
    legacy.write_text("".join(line + "\n" for line in lines))
    (etc / "apt" / "sources.list.d" / "debian.sources").write_text("\n\n".join(stanzas) + "\n" if stanzas else "")
    (etc / "apt" / "apt.conf.d" / "99fresh-check").write_text(apt_settings())
    resolv = etc / "resolv.conf"
    if resolv.is_symlink():
        resolv.unlink()
    shutil.copy("/etc/resolv.conf", resolv)
    bundle = Path(os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE") or
                  "/etc/ssl/certs/ca-certificates.crt")
    if bundle.exists():
        (etc / "ssl").mkdir(exist_ok=True)
        shutil.copy(bundle, etc / "ssl" / "fresh-check-host-ca.crt")
        (etc / "pip.conf").write_text("[global]\ncert = /etc/ssl/fresh-check-host-ca.crt\n")


def clone(root, rev):
    head = git("rev-parse", "--verify", rev + "^{commit}").strip()
    if rev == "HEAD" and git("status", "--porcelain").strip():
        say("checks the committed HEAD %s; the uncommitted changes are not in it" % head[:12])
    dest = root / CLONE
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", "--no-checkout", str(REPO), str(dest)], check=True)
    if subprocess.run(["git", "-C", str(dest), "cat-file", "-e", head], capture_output=True).returncode:
        subprocess.run(["git", "-C", str(dest), "fetch", "-q", "origin", head], check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", "--detach", head], check=True)
    return head


def git(*argv):
    return subprocess.run(["git", "-C", str(REPO)] + list(argv), check=True, capture_output=True, text=True).stdout


# -- running in the root -----------------------------------------------------------------------

def namespace_script(root, command, isolated):
    """bash run as pid 1 of the new namespaces: the mounts a booted machine has, the root made
    the namespace's own root (pivot_root), then the command.

    A chroot is not enough: libvirtd enters each QEMU's mount namespace (setns) to make its
    device nodes, and setns puts a process at the namespace's root, which for a chroot is the
    host's /: libvirt then wrote the root's /dev/kvm owner into the host's /dev.
    """
    r = shlex.quote(str(root))
    archives, pip = shlex.quote(str(CACHE / "apt-archives")), shlex.quote(str(CACHE / "pip"))
    steps = [
        "set -e",
        # the root is a mount point, as / is on a machine (pivot_root needs it, and libvirt
        # makes / a slave mount in each QEMU's mount namespace, EINVAL on a plain directory)
        "mount --bind %s %s" % (r, r),
        "hostname fresh-check",
        "mount -t proc proc %s/proc" % r,
        # a sysfs mounted from inside the new network namespace shows its devices, not the host's
        "mount -t sysfs -o ro,nosuid,nodev,noexec sysfs %s/sys" % r,
        # a /dev of its own: what the beds change in it (/dev/kvm's group) stays in it
        "mount -t tmpfs -o mode=755,nosuid,size=1m dev %s/dev" % r,
        "mkdir %s/dev/pts %s/dev/shm %s/dev/net" % (r, r, r),
        "mount -t devpts -o newinstance,ptmxmode=000,mode=620,gid=5 devpts %s/dev/pts" % r,
        "mount -t tmpfs -o mode=1777,nosuid,nodev shm %s/dev/shm" % r,
        "mknod -m 666 %s/dev/ptmx c 5 2" % r,          # as devtmpfs has it: the devpts beside it serves it
        "ln -s /proc/self/fd %s/dev/fd" % r,
    ]
    for name, target in (("stdin", 0), ("stdout", 1), ("stderr", 2)):
        steps.append("ln -s /proc/self/fd/%d %s/dev/%s" % (target, r, name))
    for path in ("null", "zero", "full", "random", "urandom", "tty", "net/tun", "kvm", "loop-control") + \
            tuple("loop%d" % i for i in range(8)):
        host = Path("/dev") / path
        if host.exists():
            st = host.stat()
            kind = "b" if stat.S_ISBLK(st.st_mode) else "c"
            mode = "660" if kind == "b" or path in ("kvm", "loop-control") else "666"
            steps.append("mknod -m %s %s/dev/%s %s %d %d"
                         % (mode, r, path, kind, os.major(st.st_rdev), os.minor(st.st_rdev)))
    steps += [
        "mount -t tmpfs -o mode=755,nosuid,nodev run %s/run" % r,
        "mkdir -p %s/run/lock && chmod 1777 %s/run/lock" % (r, r),
        "mount --bind %s %s/var/cache/apt/archives" % (archives, r),
        "mkdir -p %s/root/.cache/pip && mount --bind %s %s/root/.cache/pip" % (r, pip, r),
    ]
    if isolated:
        steps.append("ip link set lo up")
    steps += [
        # from here on the host's tree is out of reach: / is the root, the old / is unmounted
        "cd %s && pivot_root . mnt && cd / && umount -l /mnt" % r,
        "set +e",
        "/usr/bin/env -i %s /bin/bash -c %s" % (" ".join(ENV), shlex.quote(command)),
        "status=$?",
    ]
    return "\n".join(steps) + "\n"


PID_NAMESPACES = []      # of every phase run: no process may be left in one


def _die_with_us():
    """unshare gets SIGKILL when this process dies, however it dies; its --kill-child passes it on
    to the phase's pid 1, and the kernel ends the rest of the pid namespace with it."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)     # PR_SET_PDEATHSIG


def _pid_namespace_of_child(pid, timeout=10):
    """The pid namespace unshare made: that of its child (the phase's pid 1)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            child = int(Path("/proc/%d/task/%d/children" % (pid, pid)).read_text().split()[0])
            return os.readlink("/proc/%d/ns/pid" % child)
        except (OSError, IndexError, ValueError):
            time.sleep(0.05)
    return None


def run_phase(name, root, command, isolated, after=None):
    """One phase in fresh namespaces; its output goes to WORK/<name>.log (and the demo's to ours)."""
    script = namespace_script(root, command + ("; s=$?; %s; exit $s" % after if after else ""), isolated)
    script += "exit $status\n"
    argv = ["unshare", "--mount", "--propagation", "private", "--uts", "--pid", "--fork", "--kill-child"]
    if isolated:
        argv.append("--net")
    log = WORK / ("%s.log" % name)
    started = time.monotonic()
    say("%s (%s) ..." % (name, "own network, pid and mount namespaces" if isolated else "with the network"))
    with open(log, "w") as out:
        proc = subprocess.Popen(argv + ["/bin/bash", "-c", script], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_us)
        PID_NAMESPACES.append(_pid_namespace_of_child(proc.pid))
        try:
            for line in proc.stdout:
                out.write(line.decode(errors="replace"))
                out.flush()
                if name == "demo":
                    sys.stdout.write(line.decode(errors="replace"))
                    sys.stdout.flush()
            status = proc.wait()
        finally:
            if proc.poll() is None:       # interrupted: its pid namespace dies with unshare
                proc.kill()
                proc.wait()
    seconds = time.monotonic() - started
    say("%s: %s in %.0fs (log %s)" % (name, "ok" if status == 0 else "FAILED (exit %d)" % status, seconds, log))
    if status and name != "demo":
        print(tail(log, 40))
    return status, seconds


def tail(path, lines=20):
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


# -- leaving nothing behind --------------------------------------------------------------------

def mounts_under(path):
    prefix = str(path).rstrip("/") + "/"
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if (point + "/").startswith(prefix):
            found.append(point)
    return found


def processes_left():
    """Processes in the phases' pid namespaces (none: the kernel ends them with their pid 1)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if os.readlink(proc / "ns" / "pid") in PID_NAMESPACES:
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def leave_nothing():
    """After every phase ended: no process of its namespaces, no mount under WORK on the host."""
    for pid in processes_left():
        say("killing pid %d, still running in a phase's pid namespace" % pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for point in sorted(mounts_under(WORK), key=len, reverse=True):
        say("unmounting %s" % point)
        subprocess.run(["umount", "-l", point], check=False)
    return not processes_left() and not mounts_under(WORK)


def remove_root(root):
    if mounts_under(WORK):
        raise SystemExit("fresh-check: mounts remain under %s, not removing it: %s" % (WORK, mounts_under(WORK)))
    subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=True)


# -- the check ---------------------------------------------------------------------------------

def check(keep, rev):
    for tool in ("debootstrap", "unshare", "git", "tar", "mknod", "pivot_root"):
        if shutil.which(tool) is None:
            raise SystemExit("fresh-check: %s is not installed (make apt installs bindep.txt's packages)" % tool)
    stanzas, lines = debian_sources()
    uri = mirror(stanzas, lines)
    for path in (WORK, CACHE / "apt-archives" / "partial", CACHE / "pip"):
        path.mkdir(parents=True, exist_ok=True)
    # pip's built wheels would hide a missing build dependency: only downloads are kept
    shutil.rmtree(CACHE / "pip" / "wheels", ignore_errors=True)
    root = WORK / "root"
    if not leave_nothing():
        raise SystemExit("fresh-check: mounts of the last run remain under %s" % WORK)
    if root.exists():
        remove_root(root)
    times = {}
    started = time.monotonic()
    tarball, stale = base_tarball(uri)
    if stale:
        make_base(root, uri, tarball)
        times["debootstrap"] = time.monotonic() - started
    else:
        say("unpacking the cached base %s" % tarball)
        unpack_base(root, tarball)
        times["unpack cached base"] = time.monotonic() - started
    configure_root(root, stanzas, lines)
    head = clone(root, rev)
    say("clone of %s in /%s" % (head[:12], CLONE))
    ok = False
    try:
        status, times["make deps"] = run_phase("deps", root, "cd /%s && make deps" % CLONE, isolated=False)
        if status == 0:
            status, times["make demo"] = run_phase("demo", root, "cd /%s && make demo" % CLONE, isolated=True,
                                                   after="make beds-stop")
        ok = status == 0
    finally:
        clean = leave_nothing()
        times["total"] = time.monotonic() - started
        say("times: %s" % ", ".join("%s %.0fs" % item for item in times.items()))
        if not clean:
            say("WARNING: something of the root is left running or mounted: see %s" % root)
        elif ok and not keep:
            remove_root(root)
        elif not ok:
            say("the root is kept for a look: %s (removed by the next run)" % root)
    say("PASSED: make deps and make demo of %s on a fresh %s root" % (head[:12], SUITE) if ok else "FAILED")
    return 0 if ok else 1


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the root after a pass too")
    parser.add_argument("--rev", default="HEAD", help="the commit to check (default HEAD)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("fresh-check: run it as root (debootstrap, mounts and namespaces need it)")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    CACHE.mkdir(parents=True, exist_ok=True)
    # one fresh-check at a time on this machine: they share the caches (and two cores)
    lock = open(CACHE / ".lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    return check(args.keep, args.rev)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
