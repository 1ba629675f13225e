#!/usr/bin/env python3
"""Test beds for novaops.compute: start, stop and report them, one command each.

    beds.py start [BED ...]    start what is not running (idempotent); writes .beds/env.sh
    beds.py stop [BED ...]     stop only the processes these beds started (by pid + start time)
    beds.py status             one line per bed

Beds: libvirt (libvirtd + virtlogd, QEMU in TCG mode), libvirt2 (a second libvirt host for
live migration: libvirtd + sshd in namespaces of their own, URI in NOVAOPS_LIBVIRT2_URI), ovs (ovsdb-server + ovs-vswitchd,
netdev datapath), glance (Glance v2 under uwsgi, sqlite, file store, no keystone), sshd
(loopback, generated key pair), xapisim (two XenAPI simulator pools, and two more for the
second integration lane, when tools/xapisim exists), console_proxy (the collection's console proxy with Debian's noVNC pages, serving the
libvirt bed and both pools).  State and logs live under $NOVAOPS_BEDS_DIR (default
<repo>/.beds).  Ports come from NOVAOPS_GLANCE_PORT, NOVAOPS_SSHD_PORT, NOVAOPS_XAPISIM_PORT
(pool a; pool b is +1, the second lane's pools +2 and +3, HTTPS +260), NOVAOPS_CONSOLE_PROXY_PORT (16080).  Run it with the project's venv python: Glance and uwsgi are found beside it.

Instance files QEMU opens go to $NOVAOPS_INSTANCES_DIR (default /var/lib/novaops-beds/<hash of the
beds directory>): QEMU runs as libvirt-qemu, which cannot enter a checkout under /root (mode 700).
The libvirt bed makes it and refuses to start, naming the cure, when QEMU cannot reach it.
"""

import fcntl
import grp
import hashlib
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BEDS = Path(os.environ.get("NOVAOPS_BEDS_DIR", REPO / ".beds")).resolve()
# The project venv (make deps) holds Glance and uwsgi; fall back to this interpreter's own.
_VENV = Path(os.environ.get("NOVAOPS_VENV", Path.home() / ".cache" / "novaops-compute" / "venv"))
VENV_BIN = _VENV / "bin" if (_VENV / "bin" / "python").exists() else Path(sys.executable).parent
GLANCE_PORT = int(os.environ.get("NOVAOPS_GLANCE_PORT", "19292"))
# Keystone on KEYSTONE_PORT; the same Keystone (database and keys) with a short token expiry on
# KEYSTONE_PORT + 1, for the token expiry tests; Glance behind Keystone on GLANCE_KEYSTONE_PORT.
KEYSTONE_PORT = int(os.environ.get("NOVAOPS_KEYSTONE_PORT", "15000"))
KEYSTONE_SHORT_EXPIRY = int(os.environ.get("NOVAOPS_KEYSTONE_SHORT_EXPIRY", "5"))
GLANCE_KEYSTONE_PORT = int(os.environ.get("NOVAOPS_GLANCE_KEYSTONE_PORT", "19293"))
SSHD_PORT = int(os.environ.get("NOVAOPS_SSHD_PORT", "2222"))
XAPISIM_PORT = int(os.environ.get("NOVAOPS_XAPISIM_PORT", "8181"))
CONSOLE_PROXY_PORT = int(os.environ.get("NOVAOPS_CONSOLE_PROXY_PORT", "16080"))
NOVNC = Path("/usr/share/novnc")
LIBVIRT_URI = "qemu:///system"
INSTANCES = Path(os.environ.get("NOVAOPS_INSTANCES_DIR") or
                 Path("/var/lib/novaops-beds") / hashlib.sha1(str(BEDS).encode()).hexdigest()[:12])
QEMU_CONF = Path("/etc/libvirt/qemu.conf")


# -- processes we own -------------------------------------------------------------------------

def _start_time(pid):
    """The kernel's start time of pid (field 22 of /proc/pid/stat), or None if gone."""
    try:
        stat = Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid):
    return pid > 0 and _start_time(pid) is not None and not _zombie(pid)


def _zombie(pid):
    try:
        return Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _read_pidfile(path):
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class Owned:
    """Processes a bed started, recorded as pid + start time so a reused pid is never killed."""

    def __init__(self, bed):
        self.path = BEDS / bed / "owned.json"

    def load(self):
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return []

    def add(self, name, pid):
        items = [item for item in self.load() if item["name"] != name]
        items.append(dict(name=name, pid=pid, start=_start_time(pid)))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(items))

    def live(self):
        return [item for item in self.load() if _alive(item["pid"]) and _start_time(item["pid"]) == item["start"]]

    def stop(self, timeout=15):
        items = self.live()
        for item in items:
            try:
                os.kill(item["pid"], signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        for item in items:
            while _alive(item["pid"]) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(item["pid"]) and _start_time(item["pid"]) == item["start"]:
                os.kill(item["pid"], signal.SIGKILL)
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        return [item["name"] for item in items]


def _spawn(bed, name, argv, env=None, cwd=None):
    """Start a foreground server detached from us, logging to .beds/<bed>/<name>.log."""
    logdir = BEDS / bed
    logdir.mkdir(parents=True, exist_ok=True)
    log = open(logdir / ("%s.log" % name), "ab")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, env=env, cwd=cwd)
    log.close()
    Owned(bed).add(name, proc.pid)
    return proc


def _wait(what, check, timeout=60, proc=None, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.1)
    tail = ""
    if log and Path(log).exists():
        tail = "\n" + "\n".join(Path(log).read_text(errors="replace").splitlines()[-20:])
    raise SystemExit("bed: %s did not come up%s" % (what, tail))


def _secret_file(path, nbytes):
    """The secret in the file ``path``, made once: ``nbytes`` random bytes, URL-safe; the file 0600, its
    directory 0700."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        path.write_text(secrets.token_urlsafe(nbytes))
        os.chmod(path, 0o600)
    return path.read_text().strip()


def _port_open(port, host="127.0.0.1"):
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _run(argv, **kwargs):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


# -- the beds ---------------------------------------------------------------------------------

class Bed:
    name = ""

    def running(self):
        raise NotImplementedError

    def start(self):
        raise NotImplementedError

    def stop(self):
        return Owned(self.name).stop()

    def env(self):
        return {}

    def available(self):
        return True

    def prepare_host(self):
        """Host settings the bed needs, applied even when its daemons already run."""


class Libvirt(Bed):
    """libvirtd and virtlogd from Debian; QEMU domains must use type='qemu' (no usable KVM)."""
    name = "libvirt"
    daemons = (("virtlogd", "/run/virtlogd.pid"), ("libvirtd", "/run/libvirtd.pid"))

    def available(self):
        return shutil.which("libvirtd") is not None

    def _daemon_running(self, pidfile):
        pid = _read_pidfile(pidfile)
        return pid is not None and _alive(pid)

    def running(self):
        return all(self._daemon_running(pidfile) for _name, pidfile in self.daemons) and self._answers()

    def _answers(self):
        # virsh waits as long as libvirtd takes to accept the connection: bounded, so that the
        # start's wait ends in time and shows libvirtd's log
        try:
            return subprocess.run(["virsh", "-c", LIBVIRT_URI, "version"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def prepare_host(self):
        self._kvm_device_as_debian_ships_it()
        self._instances_dir_qemu_can_reach()

    @staticmethod
    def _instances_dir_qemu_can_reach():
        """Make $NOVAOPS_INSTANCES_DIR; stop with the cure when QEMU's user cannot enter it.

        Otherwise the first domain fails deep in libvirt ("Cannot access storage file ...
        Permission denied"), far from the setting that caused it.
        """
        if not INSTANCES.is_absolute():
            raise SystemExit("bed: NOVAOPS_INSTANCES_DIR must be an absolute path, not %s" % INSTANCES)
        for path in reversed([INSTANCES] + [p for p in INSTANCES.parents if not p.exists()]):
            path.mkdir(mode=0o755, exist_ok=True)
        closed = qemu_cannot_enter(INSTANCES)
        if closed is None:
            return
        user, _group = qemu_user()
        st = os.stat(closed)
        raise SystemExit(
            "bed: QEMU runs as %s and cannot enter %s (mode %04o, owner %s), so it cannot open the instance "
            "files under %s. Cure: point NOVAOPS_INSTANCES_DIR at a directory it can reach (unset, it is "
            "/var/lib/novaops-beds/<hash>), or let it through with `setfacl -m u:%s:x %s`."
            % (user, closed, stat.S_IMODE(st.st_mode), _owner(st.st_uid), INSTANCES, user, closed))

    @staticmethod
    def _kvm_device_as_debian_ships_it():
        """Give /dev/kvm the owner and mode Debian's udev rule gives it (root:kvm 0660).

        Without udev it is root-only 0600. QEMU's capability probe opens it before it drops to
        the qemu user and records KVM as enabled, while libvirt's cache check, done as the qemu
        user, finds it unusable: every capability lookup then re-probes QEMU (about 4 s each)
        and one virDomainDefineXML took 30 to 70 s. Domains still use type='qemu'.
        """
        try:
            st = os.stat("/dev/kvm")
            kvm_gid = grp.getgrnam("kvm").gr_gid
        except (OSError, KeyError):
            return
        if st.st_gid != kvm_gid or stat.S_IMODE(st.st_mode) & 0o060 != 0o060:
            os.chown("/dev/kvm", -1, kvm_gid)
            os.chmod("/dev/kvm", stat.S_IMODE(st.st_mode) | 0o060)

    def start(self):
        for name, pidfile in self.daemons:
            if self._daemon_running(pidfile):
                continue  # someone's (ours from an earlier start, or the system's): leave it be
            log = BEDS / self.name / ("%s.log" % name)
            log.parent.mkdir(parents=True, exist_ok=True)
            env = dict(os.environ, LIBVIRT_LOG_OUTPUTS="3:file:%s" % log)
            _run([name, "-d"], env=env)
            _wait(name, lambda p=pidfile: self._daemon_running(p), 30, log=log)
            Owned(self.name).add(name, _read_pidfile(pidfile))
        _wait("libvirtd answering on %s" % LIBVIRT_URI, self._answers, 60, log=BEDS / self.name / "libvirtd.log")

    def env(self):
        return dict(LIBVIRT_DEFAULT_URI=LIBVIRT_URI, NOVAOPS_INSTANCES_DIR=str(INSTANCES))


class SecondLibvirtHost(Bed):
    """A second libvirt host on this machine, for live migration: its own libvirtd in namespaces of its own.

    A network namespace with a veth pair gives it its own address (libvirtd on TCP there, QEMU
    migrating over TCP to it); a UTS namespace its own host name; a mount namespace binds
    directories of its own over /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/cache/libvirt,
    /var/log/libvirt (so it neither sees nor touches the first host's domains) and over the
    instances directory (a block migration really copies disks). libvirtd.conf gives it its own
    host_uuid: libvirt refuses a migration whose two ends share one ("Attempt to migrate guest to
    the same host"). NOVAOPS_SHARED_INSTANCES_DIR is seen by both hosts alike: shared instance storage.
    An sshd in the same namespaces lets Ansible reach the host as a host of its own.
    Its own Open vSwitch (ovsdb-server with its own database, ovs-vswitchd) runs in its namespaces too, its
    run directory bound over /run/openvswitch there: a VIF libvirt or Ansible plugs on this host lands in
    its OVS, not in the first host's (bridges of the netdev datapath, whose ports are devices of its network
    namespace, so a bridge may bear the name it has on the first host). From the first host its database
    is NOVAOPS_LIBVIRT2_OVS_DB and its bridges' OpenFlow sockets are in NOVAOPS_LIBVIRT2_OVS_RUNDIR.
    """
    name = "libvirt2"
    BINDS = (("etc", "/etc/libvirt"), ("run", "/run/libvirt"), ("lib", "/var/lib/libvirt"),
             ("cache", "/var/cache/libvirt"), ("log", "/var/log/libvirt"))

    def __init__(self):
        self.dir = BEDS / self.name
        tag = hashlib.sha1(str(BEDS).encode()).hexdigest()
        self.netns = "novaops-h2-%s" % tag[:8]
        self.veth_host, self.veth_guest = "nvh2%sh" % tag[:6], "nvh2%sg" % tag[:6]   # at most 15 characters
        # the /30 it was first started with stays its own (a restart must not move it)
        remembered = self.dir / "subnet"
        subnet = remembered.read_text().strip() if remembered.exists() else \
            os.environ.get("NOVAOPS_LIBVIRT2_SUBNET", "10.251.%d" % (int(tag[:2], 16)))
        self.subnet = subnet
        self.host_address, self.address = subnet + ".1", subnet + ".2"
        self.uri = "qemu+tcp://%s/system" % self.address
        # its own disks, bound over INSTANCES in there; NOVAOPS_LIBVIRT2_INSTANCES: another directory (a small
        # filesystem mounted there first, for a test of a full destination)
        self.instances = Path(os.environ.get("NOVAOPS_LIBVIRT2_INSTANCES") or str(INSTANCES) + "-host2")
        self.shared = Path(str(INSTANCES) + "-shared")        # the same directory on both hosts
        self.ovs_run = self.dir / "openvswitch"                 # /run/openvswitch in there
        self.ovs_db = "unix:%s" % (self.ovs_run / "db.sock")

    def available(self):
        return shutil.which("libvirtd") is not None and shutil.which("unshare") is not None

    def _pid(self):
        for item in Owned(self.name).live():
            if item["name"] == "libvirtd":
                return item["pid"]
        return None

    def running(self):
        return self._pid() is not None and self._answers() and self._ovs_answers()

    def _ovs_answers(self):
        live = {item["name"] for item in Owned(self.name).live()}
        return {"ovsdb-server", "ovs-vswitchd"} <= live and subprocess.run(
            ["ovs-vsctl", "--db=" + self.ovs_db, "--timeout=2", "show"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL).returncode == 0

    def _answers(self):
        try:
            return subprocess.run(["virsh", "-c", self.uri, "version"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def prepare_host(self):
        for path in (INSTANCES, self.instances, self.shared):
            path.mkdir(mode=0o755, parents=True, exist_ok=True)
        self._network()

    def _network(self):
        """The namespace, the veth pair and the addresses, made once; a second call finds them."""
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "subnet").write_text(self.subnet + "\n")
        if self.netns not in _run(["ip", "netns", "list"]).stdout.split():
            _run(["ip", "netns", "add", self.netns])
        inside = ["ip", "netns", "exec", self.netns]
        if subprocess.run(["ip", "link", "show", self.veth_host], capture_output=True).returncode:
            _run(["ip", "link", "add", self.veth_host, "type", "veth", "peer", "name", self.veth_guest])
            _run(["ip", "link", "set", self.veth_guest, "netns", self.netns])
            _run(["ip", "addr", "add", self.host_address + "/30", "dev", self.veth_host])
            _run(inside + ["ip", "addr", "add", self.address + "/30", "dev", self.veth_guest])
        _run(["ip", "link", "set", self.veth_host, "up"])
        _run(inside + ["ip", "link", "set", "lo", "up"])
        _run(inside + ["ip", "link", "set", self.veth_guest, "up"])
        # the way back to the first host's other addresses (its QEMU and libvirtd, for migrating back)
        _run(inside + ["ip", "route", "replace", "default", "via", self.host_address])

    def _host_uuid(self):
        path = self.dir / "host_uuid"
        if not path.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            path.write_text(str(__import__("uuid").uuid4()))
        return path.read_text().strip()

    def _configure(self):
        for name, _target in self.BINDS:
            (self.dir / name).mkdir(parents=True, exist_ok=True)
        self.ovs_run.mkdir(exist_ok=True)
        (self.dir / "etc" / "qemu").mkdir(exist_ok=True)
        (self.dir / "sock").mkdir(exist_ok=True)
        (self.dir / "etc" / "libvirtd.conf").write_text(
            'unix_sock_dir = "{d}/sock"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n'
            'listen_tls = 0\nlisten_tcp = 1\nlisten_addr = "{addr}"\nauth_tcp = "none"\n'
            'host_uuid = "{uuid}"\nlog_outputs = "3:file:{d}/libvirtd.log"\n'.format(
                d=self.dir, addr=self.address, uuid=self._host_uuid()))
        # no virtlogd in there; no confinement or cgroups to share with the first host's daemon;
        # migration_host: the address its QEMU tells the source to send the guest to
        (self.dir / "etc" / "qemu.conf").write_text(
            'stdio_handler = "file"\nsecurity_driver = "none"\ncgroup_controllers = [ ]\n'
            'migration_host = "%s"\n' % self.address)

    def start(self):
        Owned(self.name).stop()    # a half of it left from before (its sshd without its libvirtd)
        self._network()
        self._configure()
        # its host name must resolve without DNS (none answers here: libvirtd's every look-up of it took 20 s)
        hosts = Path("/etc/hosts").read_text() if Path("/etc/hosts").exists() else ""
        (self.dir / "hosts").write_text(hosts + "\n%s novaops-host2\n" % self.address)
        binds = [(self.dir / name, target) for name, target in self.BINDS] + [
            (self.instances, INSTANCES), (self.dir / "hosts", "/etc/hosts"), (self.ovs_run, "/run/openvswitch")]
        # the mount point: on a fresh machine nothing made it yet (the ovs bed starts after this one)
        Path("/run/openvswitch").mkdir(mode=0o755, parents=True, exist_ok=True)
        script = " && ".join(["hostname novaops-host2"] + ["mount --bind %s %s" % (shlex.quote(str(source)), target)
                                                          for source, target in binds])
        script += " && exec libvirtd --listen --config %s --pid-file %s" % (
            shlex.quote(str(self.dir / "etc" / "libvirtd.conf")), shlex.quote(str(self.dir / "libvirtd.pid")))
        proc = _spawn(self.name, "libvirtd", ["ip", "netns", "exec", self.netns, "unshare", "--mount", "--uts",
                                              "--propagation", "private", "sh", "-c", script])
        _wait("the second libvirt host on %s" % self.uri, self._answers, 60, proc=proc,
              log=self.dir / "libvirtd.log")
        self._sshd(proc.pid)
        self._openvswitch(proc.pid)

    def _openvswitch(self, pid):
        """ovsdb-server (a database of its own) and ovs-vswitchd, in the host's namespaces."""
        database = self.dir / "ovs-conf.db"
        if not database.exists():
            _run(["ovsdb-tool", "create", str(database), "/usr/share/openvswitch/vswitch.ovsschema"])
        inside = ["nsenter", "-t", str(pid), "-n", "-m", "-u"]
        socket_path = "/run/openvswitch/db.sock"        # the bound directory, as seen in there
        proc = _spawn(self.name, "ovsdb-server", inside + [
            "ovsdb-server", str(database), "--remote=punix:" + socket_path,
            "--remote=db:Open_vSwitch,Open_vSwitch,manager_options", "--pidfile=/run/openvswitch/ovsdb-server.pid",
            "--unixctl=/run/openvswitch/ovsdb-server.ctl"])
        vsctl = ["ovs-vsctl", "--db=" + self.ovs_db, "--timeout=2"]
        _wait("the second host's ovsdb-server", lambda: subprocess.run(
            vsctl + ["show"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0, 30,
            proc=proc, log=self.dir / "ovsdb-server.log")
        _run(vsctl + ["--no-wait", "init", "--", "set", "Open_vSwitch", ".",
                      "external_ids:system-id=novaops-host2-%s" % self._host_uuid()])
        proc = _spawn(self.name, "ovs-vswitchd", inside + [
            "ovs-vswitchd", "unix:" + socket_path, "--pidfile=/run/openvswitch/ovs-vswitchd.pid",
            "--unixctl=/run/openvswitch/ovs-vswitchd.ctl"])
        _wait("the second host's ovs-vswitchd", lambda: subprocess.run(
            ["ovs-appctl", "-t", str(self.ovs_run / "ovs-vswitchd.ctl"), "version"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL).returncode == 0, 30,
            proc=proc, log=self.dir / "ovs-vswitchd.log")

    def _sshd(self, pid):
        """sshd inside the host's namespaces, with the sshd bed's keys (made here if that bed has not run)."""
        keys = Sshd()
        keys._keys()  # pylint: disable=protected-access
        config = self.dir / "sshd_config"
        config.write_text(Sshd.config(22, self.address, keys.dir))
        host_pub = (keys.dir / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        (self.dir / "known_hosts").write_text("%s %s\n" % (self.address, " ".join(host_pub)))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        proc = _spawn(self.name, "sshd", ["nsenter", "-t", str(pid), "-n", "-m", "-u",
                                          "/usr/sbin/sshd", "-D", "-e", "-f", str(config)])
        _wait("sshd of the second libvirt host on %s:22" % self.address, lambda: _port_open(22, self.address), 30,
              proc=proc, log=self.dir / "sshd.log")

    def stop(self):
        stopped = Owned(self.name).stop()
        # the namespace goes with its last process (a domain left running there keeps it, and its address)
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
        if self.netns in listed and not subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True,
                                                       text=True).stdout.split():
            subprocess.run(["ip", "netns", "delete", self.netns], capture_output=True)
        return stopped

    def env(self):
        return dict(NOVAOPS_LIBVIRT2_URI=self.uri, NOVAOPS_LIBVIRT2_ADDRESS=self.address,
                    NOVAOPS_LIBVIRT2_HOST_ADDRESS=self.host_address, NOVAOPS_LIBVIRT2_NETNS=self.netns,
                    NOVAOPS_LIBVIRT2_INSTANCES_DIR=str(self.instances),
                    NOVAOPS_LIBVIRT2_KNOWN_HOSTS=str(self.dir / "known_hosts"),
                    NOVAOPS_LIBVIRT2_OVS_DB=self.ovs_db, NOVAOPS_LIBVIRT2_OVS_RUNDIR=str(self.ovs_run),
                    NOVAOPS_LIBVIRT2_SSH_KEY=str(Sshd().dir / "id_ed25519"),
                    NOVAOPS_SHARED_INSTANCES_DIR=str(self.shared))


def qemu_user():
    """The user and group libvirt runs QEMU as (qemu.conf; Debian's default libvirt-qemu)."""
    text = QEMU_CONF.read_text() if QEMU_CONF.exists() else ""
    found = dict(re.findall(r'^\s*(user|group)\s*=\s*"([^"]+)"', text, re.M))
    return found.get("user", "libvirt-qemu"), found.get("group", "libvirt-qemu")


def qemu_cannot_enter(path):
    """The first directory on the way to path that QEMU's user cannot search, or None.

    Asked of the kernel as that user (uid, gid and supplementary groups, as libvirt starts QEMU),
    so modes, ACLs and group memberships all count.
    """
    user, group = qemu_user()
    try:
        account = pwd.getpwnam(user)
        gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    except KeyError:
        return None                     # no such user here: libvirt's own error says more
    uid = int(user) if user.isdigit() else account.pw_uid
    steps = [str(p) for p in reversed(Path(path).parents)] + [str(path)]
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:                        # the child becomes QEMU's user and tries each step
        try:
            os.close(reader)
            os.setgroups(os.getgrouplist(account.pw_name, gid))
            os.setgid(gid)
            os.setuid(uid)
            closed = next((step for step in steps if not os.access(step, os.X_OK)), "")
            os.write(writer, closed.encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as answer:
        closed = answer.read().decode()
    os.waitpid(pid, 0)
    return closed or None


def _owner(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class OpenVSwitch(Bed):
    """ovsdb-server and ovs-vswitchd; bridges use datapath_type=netdev (no kernel module)."""
    name = "ovs"
    pidfiles = (("ovsdb-server", "/run/openvswitch/ovsdb-server.pid"),
                ("ovs-vswitchd", "/run/openvswitch/ovs-vswitchd.pid"))
    ctl = "/usr/share/openvswitch/scripts/ovs-ctl"

    def available(self):
        return Path(self.ctl).exists()

    def running(self):
        return all(_alive(_read_pidfile(p) or -1) for _n, p in self.pidfiles)

    def start(self):
        if self.running():
            return
        before = {name: _read_pidfile(p) for name, p in self.pidfiles}
        log = BEDS / self.name / "ovs-ctl.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            subprocess.run([self.ctl, "start", "--system-id=random", "--no-monitor"], stdout=out, stderr=out)
        _wait("Open vSwitch", self.running, 30, log=log)
        for name, pidfile in self.pidfiles:
            pid = _read_pidfile(pidfile)
            if pid != before[name] or not _alive(before[name] or -1):
                Owned(self.name).add(name, pid)
        _wait("ovs-vsctl answering", lambda: subprocess.run(
            ["ovs-vsctl", "--timeout=2", "show"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL).returncode == 0, 30)


class Glance(Bed):
    """Glance v2 under uwsgi: sqlite, a file store, no keystone."""
    name = "glance"
    port = GLANCE_PORT

    def __init__(self):
        self.dir = BEDS / self.name
        self.url = "http://127.0.0.1:%d" % self.port

    def available(self):
        return (VENV_BIN / "glance-manage").exists() and (VENV_BIN / "uwsgi").exists()

    def running(self):
        return bool(Owned(self.name).live()) and self._answers()

    def _answers(self):
        return _http_status(self.url + "/v2/images") == 200

    def _pipeline(self):
        """The paste flavor (none: no keystone) and the config sections that flavor needs."""
        return "", ""

    def _configure(self):
        etc = self.dir / "etc"
        store = self.dir / "images"
        for path in (etc, store, self.dir / "staging", self.dir / "tasks"):
            path.mkdir(parents=True, exist_ok=True)
        paste = _find_glance_paste()
        shutil.copy(paste, etc / "glance-api-paste.ini")
        (etc / "glance-api.conf").write_text("""[DEFAULT]
enabled_backends = file:file
bind_host = 127.0.0.1
bind_port = {port}
log_file = {dir}/glance-api.log
image_size_cap = 68719476736
[database]
connection = sqlite:///{dir}/glance.sqlite
[paste_deploy]
flavor = {flavor}
config_file = {etc}/glance-api-paste.ini
[glance_store]
default_backend = file
[file]
filesystem_store_datadir = {store}
[os_glance_staging_store]
filesystem_store_datadir = {dir}/staging
[os_glance_tasks_store]
filesystem_store_datadir = {dir}/tasks
[oslo_policy]
enforce_new_defaults = false
enforce_scope = false
[image_format]
require_image_format_match = false
{sections}""".format(port=self.port, dir=self.dir, etc=etc, store=store, flavor=self._pipeline()[0],
                     sections=self._pipeline()[1]))
        return etc

    def start(self):
        if self.running():
            return
        self.stop()
        etc = self._configure()
        env = dict(os.environ, OS_GLANCE_CONFIG_DIR=str(etc))
        if not (self.dir / "glance.sqlite").exists():
            subprocess.run([str(VENV_BIN / "glance-manage"), "--config-dir", str(etc), "db_sync"], env=env,
                           check=True, stdout=subprocess.DEVNULL, stderr=open(self.dir / "db_sync.log", "ab"))
        proc = _spawn(self.name, "uwsgi", [
            str(VENV_BIN / "uwsgi"), "--http-socket", "127.0.0.1:%d" % self.port,
            "--module", "glance.wsgi.api:application", "--master", "--processes", "2", "--threads", "4",
            "--die-on-term", "--lazy-apps", "--http-chunked-input", "--http-auto-chunked",
            # uwsgi refuses chunks over 1 MiB by default; clients stream bigger ones.
            "--chunked-input-limit", str(64 * 1024 * 1024),
            "--http-raw-body", "--buffer-size", "65535", "--need-app", "--enable-threads",
            "--home", str(VENV_BIN.parent)], env=env)
        _wait("Glance on %s" % self.url, self._answers, 90, proc=proc, log=self.dir / "uwsgi.log")

    def env(self):
        return dict(NOVAOPS_GLANCE_URL=self.url, OS_IMAGE_URL=self.url, NOVAOPS_GLANCE_LOGS=str(self.dir))


def _http_status(url, timeout=2):
    """The HTTP status url answers with, or None when nothing answers."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except Exception:
        return None


class Keystone(Bed):
    """Keystone v3 under uwsgi: sqlite, fernet keys, bootstrapped with an admin, a project
    (novaops) with a user and an application credential, the image service in the catalog
    (Glance behind Keystone), and a clouds.yaml with a cloud of each auth type.

    A second uwsgi serves the same Keystone (database and keys) with tokens that expire after
    KEYSTONE_SHORT_EXPIRY seconds: tokens are validated by expiry date, so Glance's
    keystonemiddleware refuses them once they ran out, whichever Keystone it asks.
    """
    name = "keystone"

    def __init__(self):
        self.dir = BEDS / self.name
        self.url = "http://127.0.0.1:%d/v3" % KEYSTONE_PORT
        self.short_url = "http://127.0.0.1:%d/v3" % (KEYSTONE_PORT + 1)
        self.clouds = self.dir / "clouds.yaml"

    def available(self):
        return (VENV_BIN / "keystone-manage").exists() and (VENV_BIN / "uwsgi").exists()

    def running(self):
        live = {item["name"] for item in Owned(self.name).live()}
        return {"uwsgi", "uwsgi-short"} <= live and self._answers(self.url) and \
            self._answers(self.short_url) and self.clouds.exists()

    @staticmethod
    def _answers(url):
        return _http_status(url) == 200

    def secret(self, what):
        """A password of the bed, made once (0600)."""
        return _secret_file(self.dir / "secrets" / what, 18)

    def _configure(self, etc, expiration):
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "keystone.conf").write_text("""[DEFAULT]
log_file = {log}
[database]
connection = sqlite:///{dir}/keystone.sqlite
[token]
provider = fernet
expiration = {expiration}
[fernet_tokens]
key_repository = {dir}/fernet-keys
[fernet_receipts]
key_repository = {dir}/fernet-receipts
[credential]
key_repository = {dir}/credential-keys
[identity]
# bcrypt's cheapest cost: every password and application credential check hashes once
password_hash_rounds = 4
[oslo_policy]
enforce_new_defaults = false
enforce_scope = false
""".format(dir=self.dir, expiration=expiration, log=etc / "keystone.log"))
        return etc

    def _manage(self, etc, *args):
        with open(self.dir / "keystone-manage.log", "ab") as log:
            subprocess.run([str(VENV_BIN / "keystone-manage"), "--config-dir", str(etc)] + list(args), check=True,
                           stdout=log, stderr=log)

    def start(self):
        if self.running():
            return
        self.stop()
        etc = self._configure(self.dir / "etc", 3600)
        short_etc = self._configure(self.dir / "etc-short", KEYSTONE_SHORT_EXPIRY)
        fresh = not (self.dir / "bootstrapped").exists()
        if fresh:
            for stale in ("keystone.sqlite", "fernet-keys", "fernet-receipts", "credential-keys"):
                path = self.dir / stale
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
            self._manage(etc, "db_sync")
            for keys in ("fernet_setup", "receipt_setup", "credential_setup"):
                self._manage(etc, keys, "--keystone-user", "root", "--keystone-group", "root")
            self._manage(etc, "bootstrap", "--bootstrap-password", self.secret("admin"),
                         "--bootstrap-region-id", "RegionOne", "--bootstrap-admin-url", self.url,
                         "--bootstrap-public-url", self.url, "--bootstrap-internal-url", self.url)
        procs = [self._serve("uwsgi", etc, KEYSTONE_PORT), self._serve("uwsgi-short", short_etc, KEYSTONE_PORT + 1)]
        for proc, url, name in zip(procs, (self.url, self.short_url), ("uwsgi", "uwsgi-short")):
            _wait("Keystone on %s" % url, lambda u=url: self._answers(u), 90, proc=proc,
                  log=self.dir / ("%s.log" % name))
        if fresh:
            self._populate()
            (self.dir / "bootstrapped").write_text("")
        self._write_clouds()

    def _serve(self, name, etc, port):
        env = dict(os.environ, OS_KEYSTONE_CONFIG_DIR=str(etc))
        return _spawn(self.name, name, [
            str(VENV_BIN / "uwsgi"), "--http-socket", "127.0.0.1:%d" % port,
            "--module", "keystone.wsgi.api:application", "--master", "--processes", "1", "--threads", "4",
            "--die-on-term", "--need-app", "--enable-threads", "--buffer-size", "65535",
            # the http socket closes each connection after its answer: said so, clients (requests'
            # pools, keystonemiddleware's) open a new one instead of reusing a closed one
            "--add-header", "Connection: close",
            "--home", str(VENV_BIN.parent)], env=env)

    def _populate(self):
        """Glance's service user, the image service in the catalog, the novaops project, user and
        application credential (its secret is shown once: kept in secrets/)."""
        from keystoneauth1 import session as ks_session
        from keystoneauth1.identity import v3
        admin = ks_session.Session(auth=v3.Password(
            auth_url=self.url, username="admin", password=self.secret("admin"), project_name="admin",
            user_domain_id="default", project_domain_id="default"))

        def post(path, key, body, sess=admin):
            return sess.post(self.url + path, json={key: body}).json()[key]

        def role_id(name):
            return admin.get(self.url + "/roles?name=" + name).json()["roles"][0]["id"]

        service = post("/projects", "project", dict(name="service", domain_id="default"))
        glance = post("/users", "user", dict(name="glance", domain_id="default", password=self.secret("glance")))
        admin.put(self.url + "/projects/%s/users/%s/roles/%s" % (service["id"], glance["id"], role_id("admin")))
        image = post("/services", "service", dict(type="image", name="glance"))
        glance_url = "http://127.0.0.1:%d" % GLANCE_KEYSTONE_PORT
        # Only RegionOne's internal endpoint reaches Glance: a client that picks the catalog's
        # endpoint by another interface or region finds a closed port.
        for region, interface, url in (("RegionOne", "internal", glance_url),
                                       ("RegionOne", "public", "http://127.0.0.1:9"),
                                       ("RegionOne", "admin", "http://127.0.0.1:9"),
                                       ("RegionTwo", "internal", "http://127.0.0.1:9")):
            if region == "RegionTwo" and not admin.get(self.url + "/regions/RegionTwo", raise_exc=False).ok:
                post("/regions", "region", dict(id="RegionTwo"))
            post("/endpoints", "endpoint", dict(service_id=image["id"], interface=interface, region_id=region,
                                                url=url))
        project = post("/projects", "project", dict(name="novaops", domain_id="default"))
        user = post("/users", "user", dict(name="novaops", domain_id="default", password=self.secret("novaops")))
        admin.put(self.url + "/projects/%s/users/%s/roles/%s" % (project["id"], user["id"], role_id("member")))
        as_user = ks_session.Session(auth=v3.Password(
            auth_url=self.url, username="novaops", password=self.secret("novaops"), project_name="novaops",
            user_domain_id="default", project_domain_id="default"))
        cred = post("/users/%s/application_credentials" % user["id"], "application_credential",
                    dict(name="novaops-bed"), sess=as_user)
        (self.dir / "secrets" / "appcred-id").write_text(cred["id"])
        (self.dir / "secrets" / "appcred").write_text(cred["secret"])
        os.chmod(self.dir / "secrets" / "appcred", 0o600)

    def _write_clouds(self):
        common = dict(region_name="RegionOne", interface="internal", identity_api_version=3)
        password = dict(username="novaops", password=self.secret("novaops"), project_name="novaops",
                        user_domain_name="Default", project_domain_name="Default")
        clouds = {
            "novaops-password": dict(common, auth_type="password", auth=dict(password, auth_url=self.url)),
            "novaops-appcred": dict(common, auth_type="v3applicationcredential", auth=dict(
                auth_url=self.url, application_credential_id=(self.dir / "secrets" / "appcred-id").read_text(),
                application_credential_secret=self.secret("appcred"))),
            # tokens of this cloud's Keystone expire after KEYSTONE_SHORT_EXPIRY seconds
            "novaops-short": dict(common, auth_type="password", auth=dict(password, auth_url=self.short_url)),
        }
        self.clouds.write_text(json.dumps(dict(clouds=clouds), indent=1, sort_keys=True) + "\n")  # JSON is YAML
        os.chmod(self.clouds, 0o600)

    def env(self):
        return dict(NOVAOPS_KEYSTONE_URL=self.url, NOVAOPS_KEYSTONE_SHORT_URL=self.short_url,
                    NOVAOPS_KEYSTONE_SHORT_EXPIRY=str(KEYSTONE_SHORT_EXPIRY), NOVAOPS_CLOUDS_YAML=str(self.clouds),
                    NOVAOPS_KEYSTONE_LOGS=str(self.dir))


class GlanceKeystone(Glance):
    """A second Glance v2 (its own database and store) behind keystonemiddleware, validating
    tokens with the Keystone bed; reached through the Keystone bed's catalog."""
    name = "glance-keystone"
    port = GLANCE_KEYSTONE_PORT

    def available(self):
        return super().available() and Keystone().available()

    def _answers(self):
        return _http_status(self.url + "/v2/images") == 401    # it wants a token: keystonemiddleware is in

    def _pipeline(self):
        keystone = Keystone()
        return "keystone", """[keystone_authtoken]
www_authenticate_uri = {url}
auth_url = {url}
auth_type = password
username = glance
password = {password}
project_name = service
user_domain_id = default
project_domain_id = default
""".format(url=keystone.url, password=keystone.secret("glance"))

    def env(self):
        return dict(NOVAOPS_GLANCE_KEYSTONE_URL=self.url, NOVAOPS_GLANCE_KEYSTONE_LOGS=str(self.dir))


def _find_glance_paste():
    for candidate in (VENV_BIN.parent / "etc" / "glance" / "glance-api-paste.ini",
                      VENV_BIN.parent / "share" / "glance" / "glance-api-paste.ini"):
        if candidate.exists():
            return candidate
    found = list(VENV_BIN.parent.glob("**/glance-api-paste.ini"))
    if not found:
        raise SystemExit("bed: glance-api-paste.ini not found under %s" % VENV_BIN.parent)
    return found[0]


class Sshd(Bed):
    """sshd on 127.0.0.1 with a generated host key and client key pair, for rsync between 'hosts'."""
    name = "sshd"

    def __init__(self):
        self.dir = BEDS / self.name

    def available(self):
        return Path("/usr/sbin/sshd").exists()

    def running(self):
        return bool(Owned(self.name).live()) and _port_open(SSHD_PORT)

    def _keys(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        for key in ("ssh_host_ed25519_key", "id_ed25519"):
            if not (self.dir / key).exists():
                _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "novaops-bed-%s" % key,
                      "-f", str(self.dir / key)])
        (self.dir / "authorized_keys").write_text((self.dir / "id_ed25519.pub").read_text())
        host_pub = (self.dir / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        (self.dir / "known_hosts").write_text("[127.0.0.1]:%d %s\n" % (SSHD_PORT, " ".join(host_pub)))

    @staticmethod
    def config(port, address, keys_dir):
        """sshd_config of a bed's sshd: key login as root only, the keys in ``keys_dir``."""
        return """Port {port}
ListenAddress {address}
HostKey {k}/ssh_host_ed25519_key
PidFile none
AuthorizedKeysFile {k}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 64:30:128
Subsystem sftp internal-sftp
""".format(port=port, address=address, k=keys_dir)

    def start(self):
        if self.running():
            return
        self.stop()
        self._keys()
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        config = self.dir / "sshd_config"
        config.write_text(self.config(SSHD_PORT, "127.0.0.1", self.dir))
        proc = _spawn(self.name, "sshd", ["/usr/sbin/sshd", "-D", "-e", "-f", str(config)])
        _wait("sshd on port %d" % SSHD_PORT, lambda: _port_open(SSHD_PORT), 30, proc=proc,
              log=self.dir / "sshd.log")

    def env(self):
        return dict(NOVAOPS_SSH_HOST="127.0.0.1", NOVAOPS_SSH_PORT=str(SSHD_PORT), NOVAOPS_SSH_USER="root",
                    NOVAOPS_SSH_KEY=str(self.dir / "id_ed25519"),
                    NOVAOPS_SSH_KNOWN_HOSTS=str(self.dir / "known_hosts"))


class XapiSim(Bed):
    """Two XenAPI simulator pools (a source and a destination), HTTP and HTTPS; and such a pair
    again for each further integration lane (LANE_SETS).  A target's pool-wide faults ("the 2nd
    VBD.plug fails") and counts would otherwise meet the calls of a target in another lane.
    Every pair's pools have the same names (host xapisim-pool-a, ...), as targets expect."""
    name = "xapisim"
    pools = ("a", "b")
    LANE_SETS = 2

    def __init__(self):
        self.dir = BEDS / self.name

    def available(self):
        return (REPO / "tools" / "xapisim" / "__main__.py").exists()

    def _ports(self, index):
        return XAPISIM_PORT + index, XAPISIM_PORT + 260 + index

    def instances(self, lanes=None):
        """(process name, state dir, pool letter, port index) of each simulator of the lane sets ``lanes``
        (default: all, set 1 first)."""
        for lane in lanes or range(1, self.LANE_SETS + 1):
            for offset, pool in enumerate(self.pools):
                label = "pool-%s" % pool if lane == 1 else "lane%d-pool-%s" % (lane, pool)
                state = self.dir / ("pool-%s" % pool) if lane == 1 else self.dir / ("lane%d" % lane) / ("pool-%s" % pool)
                yield label, state, pool, (lane - 1) * len(self.pools) + offset

    def running(self):
        live = {item["name"] for item in Owned(self.name).live()}
        return all(label in live and _port_open(self._ports(index)[0]) for label, _s, _p, index in self.instances())

    def _password(self):
        path = self.dir / "password"
        if not path.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(18))
            os.chmod(path, 0o600)
        return path.read_text().strip()

    def start(self):
        if self.running():
            return
        self.stop()
        env = dict(os.environ, PYTHONPATH=str(REPO / "tools"))
        ca = self.dir / "ca"
        if not (ca / "server.pem").exists():
            _run([sys.executable, "-m", "xapisim", "make-ca", "--dir", str(ca), "--host", "127.0.0.1"], env=env)
        password = self._password()
        started = []
        for label, state, pool, index in self.instances():
            http, https = self._ports(index)
            state.mkdir(parents=True, exist_ok=True)
            ready = state / "ready.json"
            if ready.exists():
                ready.unlink()
            started.append((label, ready, _spawn(self.name, label, [
                sys.executable, "-m", "xapisim", "serve", "--name", "pool-%s" % pool,
                "--host", "127.0.0.1", "--port", str(http), "--https-port", str(https),
                "--cert", str(ca / "server.pem"), "--key", str(ca / "server.key"),
                "--state-dir", str(state), "--user", "root", "--password=" + password,  # it may start with "-"
                "--plugin-dir", str(REPO / "files" / "xapi.d" / "plugins"), "--hosts", "2"]
                # dom0's VIF ports on the OVS bed, where there is one
                + (["--dom0-ovs"] if OpenVSwitch().available() else []), env=env)))
        for label, ready, proc in started:      # they start side by side
            _wait("xapisim %s" % label, ready.exists, 60, proc=proc, log=self.dir / ("%s.log" % label))

    def env(self):
        """The XENAPI_* names of lane set 1; those of set n as NOVAOPS_LANE<n>_XENAPI_* (a lane's
        integration config renames them: tools/ci/integration_config.py)."""
        if not self.available():
            return {}
        values = {}
        for lane in range(1, self.LANE_SETS + 1):
            prefix = "" if lane == 1 else "NOVAOPS_LANE%d_" % lane
            values.update((prefix + key, value) for key, value in self._set_env(lane).items())
        return values

    def _set_env(self, lane):
        values = dict(XENAPI_USERNAME="root", XENAPI_PASSWORD=self._password(),
                      XENAPI_CA_PATH=str(self.dir / "ca" / "ca.pem"))
        for _label, state, pool, index in self.instances([lane]):
            http, https = self._ports(index)
            prefix = "XENAPI" if pool == "a" else "XENAPI_POOL_B"
            values["%s_URL" % prefix] = "https://127.0.0.1:%d" % https
            values["%s_HTTP_URL" % prefix] = "http://127.0.0.1:%d" % http
            values["XENAPI_POOL_%s_URL" % pool.upper()] = "https://127.0.0.1:%d" % https
            values["XENAPI_POOL_%s_USERNAME" % pool.upper()] = "root"
            values["XENAPI_POOL_%s_PASSWORD" % pool.upper()] = values["XENAPI_PASSWORD"]
            ready = state / "ready.json"
            if ready.exists():
                facts = json.loads(ready.read_text())
                values["XENAPI_POOL_%s_HELPER_VM_UUID" % pool.upper()] = facts.get("helper_vm", "")
                values["XENAPI_POOL_%s_SR_UUID" % pool.upper()] = facts.get("sr", "")
                values["XENAPI_POOL_%s_SR_DIR" % pool.upper()] = facts.get(
                    "sr_dir", str(Path(facts.get("state_dir", "")) / "sr" / facts.get("sr", "")))
                values["XENAPI_POOL_%s_DEVICE_DIR" % pool.upper()] = facts.get("device_dir", "")
                if pool == "a":  # pool a is the default pool: the plain XENAPI_* names
                    values["XENAPI_HELPER_VM_UUID"] = facts.get("helper_vm", "")
                    values["XENAPI_DEVICE_DIR"] = facts.get("device_dir", "")
                    values["XENAPI_SR_UUID"] = facts.get("sr", "")
        return values


class ConsoleProxy(Bed):
    """The console proxy (roles/console_proxy/files/novaops-console-proxy) on 127.0.0.1, plain ws://, noVNC from Debian's
    novnc; a generated token key; the pools' password read from the xapisim bed's file."""
    name = "console_proxy"

    def __init__(self):
        self.dir = BEDS / self.name

    def available(self):
        return NOVNC.is_dir() and (REPO / "roles" / "console_proxy" / "files").is_dir() and \
            subprocess.run([str(VENV_BIN / "python"), "-c", "import websockify"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL).returncode == 0

    def running(self):
        return bool(Owned(self.name).live()) and _port_open(CONSOLE_PROXY_PORT)

    def _key(self):
        return _secret_file(self.dir / "token.key", 36)

    def _settings(self):
        origins = ["http://127.0.0.1:%d" % CONSOLE_PROXY_PORT, "http://localhost:%d" % CONSOLE_PROXY_PORT]
        password = BEDS / "xapisim" / "password"
        pools = {}
        if password.exists():
            for _label, _state, _pool, index in XapiSim().instances():
                pools["https://127.0.0.1:%d" % XapiSim()._ports(index)[1]] = dict(
                    username="root", password_file=str(password))
        return dict(listen="127.0.0.1", port=CONSOLE_PROXY_PORT, web=str(NOVNC),
                    token_key_file=str(self.dir / "token.key"), allowed_origins=origins,
                    used_tokens="memory", connect_timeout=5, libvirt_uris=[LIBVIRT_URI],
                    xenapi=dict(ca_path=str(BEDS / "xapisim" / "ca" / "ca.pem"), pools=pools))

    def start(self):
        if self.running():
            return
        self.stop()
        self._key()
        tree = self.dir / "collections" / "ansible_collections" / "novaops"
        tree.mkdir(parents=True, exist_ok=True)
        link = tree / "compute"
        if not link.is_symlink() or os.readlink(link) != str(REPO):
            if link.is_symlink():
                link.unlink()
            link.symlink_to(REPO)
        settings = self.dir / "settings.json"
        settings.write_text(json.dumps(self._settings(), indent=1))
        env = dict(os.environ, NOVAOPS_COLLECTIONS_PATH=str(self.dir / "collections"))
        entry = REPO / "roles" / "console_proxy" / "files" / "novaops-console-proxy"
        proc = _spawn(self.name, "proxy", [str(VENV_BIN / "python"), str(entry), "--config", str(settings)], env=env)
        _wait("the console proxy on port %d" % CONSOLE_PROXY_PORT, lambda: _port_open(CONSOLE_PROXY_PORT), 30,
              proc=proc, log=self.dir / "proxy.log")

    def env(self):
        if not self.available():
            return {}
        return dict(NOVAOPS_CONSOLE_PROXY_URL="http://127.0.0.1:%d/" % CONSOLE_PROXY_PORT,
                    NOVAOPS_CONSOLE_KEY=self._key(), NOVAOPS_CONSOLE_PROXY_LOG=str(self.dir / "proxy.log"))


ALL = [Libvirt(), SecondLibvirtHost(), OpenVSwitch(), Glance(), Keystone(), GlanceKeystone(), Sshd(), XapiSim(),
       ConsoleProxy()]


def _select(names):
    if not names:
        return ALL
    known = {bed.name: bed for bed in ALL}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit("bed: unknown bed(s) %s; known: %s" % (", ".join(unknown), ", ".join(known)))
    return [known[name] for name in names]


def write_env():
    values = dict(NOVAOPS_BEDS_DIR=str(BEDS))
    for bed in ALL:
        if bed.available():
            values.update(bed.env())
    lines = ["# Written by tools/beds/beds.py: source it to point playbooks at the test beds."]
    lines += ["export %s=%s" % (key, shlex.quote(value)) for key, value in sorted(values.items())]
    path = BEDS / "env.sh"
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    (BEDS / "env.json").write_text(json.dumps(values, indent=1, sort_keys=True))
    os.chmod(BEDS / "env.json", 0o600)


def main(argv):
    if not argv or argv[0] not in ("start", "stop", "status", "env"):
        raise SystemExit(__doc__)
    BEDS.mkdir(parents=True, exist_ok=True)
    command, names = argv[0], argv[1:]
    beds = _select(names)
    # One bed command at a time: two concurrent starts would both start a daemon, or
    # lose each other's record of what they own.
    lock = open(BEDS / ".lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    if command == "start":
        for bed in beds:
            if not bed.available():
                print("bed %-8s NOT AVAILABLE (its package is not installed; run make deps)" % bed.name)
                continue
            bed.prepare_host()
            was = bed.running()
            started = time.monotonic()
            if not was:
                bed.start()
            print("bed %-8s %s" % (bed.name, "already running" if was else
                                   "started in %.1fs" % (time.monotonic() - started)), flush=True)
        write_env()
        print("wrote %s" % (BEDS / "env.sh"))
    elif command == "stop":
        for bed in reversed(beds):
            stopped = bed.stop()
            print("bed %-8s stopped %s" % (bed.name, ", ".join(stopped) or "nothing of ours"))
    elif command == "status":
        for bed in beds:
            state = "not available" if not bed.available() else ("running" if bed.running() else "stopped")
            owned = ", ".join("%s[%d]" % (i["name"], i["pid"]) for i in Owned(bed.name).live())
            print("bed %-8s %-13s ours: %s" % (bed.name, state, owned or "-"))
    else:
        write_env()
        print((BEDS / "env.sh").read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
