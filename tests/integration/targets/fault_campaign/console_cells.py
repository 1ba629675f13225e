# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The console cells of the fault campaign (issue 23): a console session through a console proxy of
the campaign's own (this tree's roles/console_proxy/files/novaops-console-proxy) while the
hypervisor side goes away.

* XenAPI: a simulator of the cell's own (fixed ports, so that it comes back at the same URL) is
  SIGKILLed and started again mid-session: the session ends with a close reason, the proxy serves a
  new link to the same VM after the restart.
* libvirt (the campaign's private libvirtd): libvirtd SIGKILLed and started again mid-session: QEMU
  runs on, and so does the session (the proxy talks to libvirtd only at connect time); a new link
  works after.  The domain destroyed and started again on the same (fixed) VNC port: a link issued
  before is refused (its domain id is gone), with a reason and no byte; a new one connects.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

from campaign import E, TAG, add_row, check, repo_root, stop_process

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = "fc-console-key-" + "k" * 40
ORIGIN = "http://console.test"


def collection_root():
    """The collection under test: ansible-test runs the targets from a copy under its tests/output
    (<collection>/tests/output/.tmp/integration/<target>-<random>/...), a run by hand from the tree."""
    here = os.path.abspath(HERE)
    copied = os.sep + os.path.join("tests", "output") + os.sep
    if copied in here:
        return here.split(copied)[0]
    return os.path.normpath(os.path.join(here, "..", "..", "..", ".."))


def collections_path():
    """Importable ``ansible_collections`` of the collection under test (the proxy's own modules)."""
    path = os.path.dirname(os.path.dirname(os.path.dirname(collection_root())))
    if path not in sys.path:
        sys.path.insert(0, path)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tools():
    path = os.path.join(repo_root(), "tools")
    if path not in sys.path:
        sys.path.insert(0, path)


class PrivateProxy:
    """The collection's console proxy on a free loopback port, with the given settings."""

    def __init__(self, root, **settings):
        self.dir = os.path.join(root, "console-proxy")
        os.makedirs(self.dir, exist_ok=True)
        tree = os.path.join(self.dir, "collections", "ansible_collections", "novaops")
        os.makedirs(tree, exist_ok=True)
        if not os.path.islink(os.path.join(tree, "compute")):
            os.symlink(collection_root(), os.path.join(tree, "compute"))
        with open(os.path.join(self.dir, "key"), "w") as handle:
            handle.write(KEY)
        web = os.path.join(self.dir, "web")
        os.makedirs(web, exist_ok=True)
        self.port = free_port()
        settings = dict(dict(listen="127.0.0.1", port=self.port, web=web, token_key_file=os.path.join(self.dir, "key"),
                             allowed_origins=[ORIGIN], connect_timeout=5), **settings)
        with open(os.path.join(self.dir, "settings.json"), "w") as handle:
            json.dump(settings, handle)
        self.log = os.path.join(self.dir, "proxy.log")
        entry = os.path.join(collection_root(), "roles", "console_proxy", "files", "novaops-console-proxy")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, entry, "--config", os.path.join(self.dir, "settings.json")],
                                         stdout=subprocess.PIPE, stderr=log, text=True,
                                         env=dict(os.environ, NOVAOPS_COLLECTIONS_PATH=os.path.join(self.dir, "collections")))
        line = self.proc.stdout.readline()
        if "ready" not in line:
            raise RuntimeError("the campaign's console proxy did not start (see %s)" % self.log)

    def open(self, token):
        """A WebSocket session past the RFB handshake, as noVNC opens it: (websocket, RFB client)."""
        tools()
        from xapisim.rfb_client import Client  # pylint: disable=import-outside-toplevel
        from xapisim.ws_client import Socket, WebSocket  # pylint: disable=import-outside-toplevel
        ws = WebSocket("127.0.0.1", self.port, "/websockify?token=" + urllib.parse.quote(token), origin=ORIGIN)
        return ws, Client(Socket(ws)).handshake()

    def refused(self, token):
        """(close code, reason, bytes relayed before the close) of a session with ``token``."""
        tools()
        from xapisim.ws_client import WebSocket  # pylint: disable=import-outside-toplevel
        ws = WebSocket("127.0.0.1", self.port, "/websockify?token=" + urllib.parse.quote(token), origin=ORIGIN)
        return ended(ws)

    def stop(self):
        stop_process(self.proc, 10)


def ended(ws):
    """(close code, reason, bytes received) once the proxy closed the session."""
    got = 0
    while True:
        data = ws.recv()
        if data is None:
            return ws.close_code, ws.close_reason, got
        got += len(data)


def issue(driver, instance, target):
    collections_path()
    from ansible_collections.novaops.compute.plugins.module_utils.common import console_token  # pylint: disable=import-outside-toplevel
    return console_token.issue(KEY, driver, instance, target, 120, time.time())[0]


# ------------------------------------------------------------------------------------------- XenAPI
class RestartableSim:
    """A simulator pool of the cell's own on fixed free ports, so that a restart keeps its URL."""

    def __init__(self, root, password):
        self.state = os.path.join(root, "console-sim")
        ca_dir = os.path.dirname(E["XENAPI_CA_PATH"])
        self.argv = [sys.executable, "-m", "xapisim", "serve", "--name", TAG + "-console", "--host", "127.0.0.1",
                     "--port", str(free_port()), "--https-port", str(free_port()),
                     "--cert", os.path.join(ca_dir, "server.pem"), "--key", os.path.join(ca_dir, "server.key"),
                     "--state-dir", self.state, "--password", password]
        self.password, self.proc = password, None
        self.start()

    def start(self):
        ready = os.path.join(self.state, "ready.json")
        if os.path.exists(ready):
            os.unlink(ready)
        with open(os.path.join(os.path.dirname(self.state), "console-sim.log"), "ab") as log:
            self.proc = subprocess.Popen(self.argv, env=dict(E, PYTHONPATH=os.path.join(repo_root(), "tools")),
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the console cells' simulator did not start (see console-sim.log)")
            time.sleep(0.1)
        time.sleep(0.2)
        with open(ready) as handle:
            facts = json.load(handle)
        self.https, self.http = facts["https"], facts["http"]

    def kill(self):
        """SIGKILL, once its database is on disk (it writes at most every 0.2 s: a VM made just before
        would be lost, as in no real crash of a pool whose VM a console was already open to)."""
        tools()
        from xapisim.testkit import sim_call  # pylint: disable=import-outside-toplevel
        sim_call(self.http, "flush")
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)

    def connection(self):
        collections_path()
        from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import XenAPIConnection  # pylint: disable=import-outside-toplevel
        return XenAPIConnection(self.https, "root", self.password, True, E["XENAPI_CA_PATH"])

    def running_vm(self, name):
        """(instance, target) of a new running VM, as xen_console finds them."""
        collections_path()
        from ansible_collections.novaops.compute.plugins.module_utils.xenapi.console_target import console_target  # pylint: disable=import-outside-toplevel
        with self.connection() as conn:
            tpl = conn.call("VM.get_by_name_label", "Debian Bookworm 12")[0]
            vm = conn.call("VM.clone", tpl, name)
            conn.call("VM.provision", vm)
            conn.call("VM.start", vm, False, False)
            return console_target(conn, vm, conn.call("VM.get_record", vm))

    def target(self, name):
        collections_path()
        from ansible_collections.novaops.compute.plugins.module_utils.xenapi.console_target import console_target  # pylint: disable=import-outside-toplevel
        with self.connection() as conn:
            vm = conn.call("VM.get_by_name_label", name)[0]
            return console_target(conn, vm, conn.call("VM.get_record", vm))


def run_xenapi(root, secrets):
    """The XenAPI console cell, on a simulator of its own (the campaign's pools keep their ports)."""
    xenapi(root, secrets["the pools' password"])


def run_libvirt(root, _secrets):
    """The libvirt console cells, on a private libvirtd of their own."""
    sys.path.insert(0, os.path.join(HERE, "..", "connection_faults"))
    from private_libvirtd import PrivateLibvirtd  # pylint: disable=import-outside-toplevel
    daemon = PrivateLibvirtd(os.path.join(root, "console-libvirtd"))
    daemon.start()
    try:
        libvirt(root, daemon)
    finally:
        daemon.stop()


def xenapi(root, password):
    """The XenAPI cell: the simulator restarted mid-session."""
    failures = len(check.failures)
    sim = proxy = None
    try:
        sim = RestartableSim(root, password)
        with open(os.path.join(root, "console-sim.password"), "w") as handle:
            handle.write(password)
        proxy = PrivateProxy(root, xenapi=dict(ca_path=E["XENAPI_CA_PATH"], pools={sim.https: dict(
            username="root", password_file=os.path.join(root, "console-sim.password"))}))
        name = TAG + "-console"
        instance, target = sim.running_vm(name)
        ws, client = proxy.open(issue("xenapi", instance, target))
        client.screen()
        sim.kill()
        started = time.monotonic()
        code, reason, _got = ended(ws)
        seconds = time.monotonic() - started
        sim.start()
        instance, target = sim.target(name)
        _ws, after = proxy.open(issue("xenapi", instance, target))
        check(code in (1000, 1011) and "hypervisor went away" in reason and seconds < 5,
              "console, simulator SIGKILLed mid-session: the session ends with a reason at once", (code, reason, seconds))
        check(after.name == name and len(after.screen()) == after.width * after.height * 4,
              "console, simulator restarted: a new link to the same VM connects through the same proxy", after.name)
        outcome = "session ended (%s: %s); a new link worked after the restart" % (code, reason.split(":")[0])
    except Exception as exc:    # pylint: disable=broad-except
        check(False, "console, simulator restarted mid-session", repr(exc))
        outcome = "error"
    finally:
        for part in (proxy, sim):
            if part is not None:
                part.stop()
    add_row("console", "xenapi", "simulator restarted mid-session", outcome, failures)


# ------------------------------------------------------------------------------------------ libvirt
DOMAIN = """<domain type='qemu'><name>%s</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os>
<devices><graphics type='vnc' port='%d' autoport='no' listen='127.0.0.1'/><video><model type='vga'/></video></devices>
</domain>"""


def libvirt(root, daemon):
    """The libvirt cells on the campaign's private libvirtd: libvirtd restarted mid-session; the domain
    restarted on the same VNC port after a link was issued."""
    import libvirt as lv  # pylint: disable=import-outside-toplevel
    collections_path()
    from ansible_collections.novaops.compute.plugins.module_utils.libvirt.console_target import console_target  # pylint: disable=import-outside-toplevel
    # a port of the daemon's own display range: outside the ephemeral ports, so that no outgoing
    # connection takes it while the domain is down between its two starts
    name, port = TAG + "-console", daemon.display_ports[0]
    xml = os.path.join(root, "console-domain.xml")
    with open(xml, "w") as handle:
        handle.write(DOMAIN % (name, port))
    proxy = None

    def link():
        conn = lv.open(daemon.uri)
        try:
            return console_target(conn.lookupByName(name), daemon.uri)
        finally:
            conn.close()
    try:
        daemon.virsh("define", xml)
        daemon.virsh("start", name)
        proxy = PrivateProxy(root, libvirt_uris=[daemon.uri])
        _libvirtd_restarted(daemon, proxy, link)
        _domain_restarted(daemon, proxy, link, name, port)
    finally:
        if proxy is not None:
            proxy.stop()
        daemon.virsh("destroy", name, check=False)
        daemon.virsh("undefine", name, check=False)


def _libvirtd_restarted(daemon, proxy, link):
    failures = len(check.failures)
    try:
        ws, client = proxy.open(issue("libvirt", *link()))
        before = client.screen()
        daemon.kill()
        daemon.start()
        client.request(False)
        client.read_update()            # the relay still carries QEMU's updates (a whole screen)
        _ws2, after = proxy.open(issue("libvirt", *link()))
        check(len(before) == len(bytes(client.pixels)) == len(after.screen()) > 0,
              "console, libvirtd restarted mid-session: QEMU runs on, so does the session; a new link connects",
              (len(before), len(client.pixels)))
        ws.close()
        outcome = "the session went on (QEMU runs on); a new link worked after"
    except Exception as exc:    # pylint: disable=broad-except
        check(False, "console, libvirtd restarted mid-session", repr(exc))
        outcome = "error"
    add_row("console", "libvirt", "libvirtd restarted mid-session", outcome, failures)


def _domain_restarted(daemon, proxy, link, name, port):
    failures = len(check.failures)
    try:
        old = issue("libvirt", *link())
        daemon.virsh("destroy", name)
        daemon.virsh("start", name)
        instance, target = link()
        code, reason, got = proxy.refused(old)
        _ws, after = proxy.open(issue("libvirt", instance, target))
        check(target["port"] == port and code == 1008 and got == 0 and "restarted" in reason
              and "same VNC port" in reason,
              "console, domain restarted on the same VNC port: the old link is refused with the reason, no byte",
              (target["port"], code, reason, got))
        check(after.width > 0, "console, domain restarted: a new link connects", None)
        outcome = "old link refused (%s); a new link worked" % reason.split(";")[0]
    except Exception as exc:    # pylint: disable=broad-except
        check(False, "console, domain restarted on the same VNC port", repr(exc))
        outcome = "error"
    add_row("console", "libvirt", "domain restarted on the same VNC port", outcome, failures)
