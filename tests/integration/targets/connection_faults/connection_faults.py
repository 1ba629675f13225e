# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Session and connection faults of #13 against real parts (run by runme.sh).

- XenAPI: a private simulator (so that sessions can be dropped without disturbing the shared
  pools) whose fault API expires the module's session before a chosen call, mid-run: the
  module logs in again once and carries on; twice in a row it fails clearly.
- libvirt: a private libvirtd (private_libvirtd.py) killed and started again while a wait
  runs: the wait reconnects and ends when the domain gets there; a daemon that never comes
  back makes the wait fail clearly within its timeout.
- Glance: a loopback proxy in front of the real Glance bed (glance_proxy.py) answers 503
  once: requests that can be repeated are, with backoff; those that cannot fail clearly.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid

from glance_proxy import GlanceProxy
from module_runs import clean_failure, collections_root, module_result, module_run, run_sections
from private_libvirtd import PrivateLibvirtd

HERE = os.path.dirname(os.path.abspath(__file__))
TAG = "bi-cf-%s" % uuid.uuid4().hex[:6]
FAILURES = []


def check(condition, what):
    print("%s %s" % ("ok  " if condition else "FAIL", what), flush=True)
    if not condition:
        FAILURES.append(what)


sys.path.insert(0, collections_root())
from ansible_collections.novaops.compute.plugins.module_utils.glance import client as gl  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import connection as lv  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError  # noqa: E402  pylint: disable=wrong-import-position


# -- XenAPI: sessions expiring mid-run ------------------------------------------------------------
def private_simulator(tools_dir, root):
    """xapisim.testkit's simulator of one's own, from the tools tree beside the beds."""
    if tools_dir not in sys.path:
        sys.path.insert(0, tools_dir)
    return importlib.import_module("xapisim.testkit").PrivateSimulator(root, TAG)


def vm_records(sim, name):
    import XenAPI  # pylint: disable=import-outside-toplevel
    session = XenAPI.Session(sim.url)
    session.login_with_password("root", sim.password, "1.0", TAG)
    try:
        refs = session.xenapi.VM.get_by_name_label(name)
        return [session.xenapi.VM.get_record(ref) for ref in refs]
    finally:
        session.xenapi.session.logout()


def xenapi_sessions(tools_dir, root):
    sim = private_simulator(tools_dir, root)
    try:
        name = "%s-vm" % TAG
        sim.sim("counters_reset")
        # mid-wait (the 2nd event.from of the run) and on a mutating call (the start itself)
        sim.sim("session_expire_on", "event.from", 2)
        sim.sim("session_expire_on", "Async.VM.start", 1)
        result = module_run("xen_vm", dict(name=name, template="Debian Bookworm 12", vcpus=1, memory_mb=256,
                                           state="running", timeout=120), env=sim.env)
        counters = sim.sim("counters")
        fired = [f for f in sim.sim("faults") if f.get("session_expiry")]
        check(not result.get("failed") and result.get("changed"),
              "xen_vm: session expired mid-wait and before VM.start - the run succeeds (%s)" % result.get("msg", "ok"))
        check(all(int(f["fired"]) == 1 for f in fired) and len(fired) == 2, "xen_vm: both session expiries fired")
        check(counters.get("session.login_with_password") == 3,
              "xen_vm: logged in once plus once per expiry (%s logins)" % counters.get("session.login_with_password"))
        check(counters.get("Async.VM.start") == 2, "xen_vm: VM.start sent again once after the re-login")
        vms = vm_records(sim, name)
        check(len(vms) == 1 and vms[0]["power_state"] == "Running",
              "xen_vm: one VM, Running, as another session sees it (%s)" % [v["power_state"] for v in vms])

        sim.sim("faults_clear")
        again = module_run("xen_vm", dict(name=name, template="Debian Bookworm 12", vcpus=1, memory_mb=256,
                                          state="running", timeout=120), env=sim.env)
        check(not again.get("failed") and not again.get("changed"), "xen_vm: the same run again changes nothing")

        # expired again right after the re-login: a clear failure, not a loop
        sim.sim("session_expire_on", "VM.get_all_records_where", 1)
        sim.sim("session_expire_on", "VM.get_all_records_where", 1)
        twice = module_run("xen_vm_info", dict(name=name), env=sim.env)
        check(clean_failure(twice) and "even right after logging in again" in twice.get("msg", "") and
              (twice.get("xenapi_error") or {}).get("code") == "SESSION_INVALID",
              "xen_vm_info: SESSION_INVALID twice for one call fails clearly (%s)" % twice.get("msg"))
        sim.sim("faults_clear")
        check([v["power_state"] for v in vm_records(sim, name)] == ["Running"], "xen_vm: the VM is untouched by it")
    finally:
        sim.stop()


# -- libvirt: libvirtd restarted mid-wait --------------------------------------------------------
DOMAIN_XML = """<domain type='qemu'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>
<devices><graphics type='vnc' port='-1' listen='127.0.0.1'/></devices></domain>"""


def domain_xml(name):
    """A domain without an OS (its guest ignores ACPI), its UUID derived from its name."""
    return DOMAIN_XML % (name, uuid.uuid5(uuid.NAMESPACE_DNS, name))


def define_and_start(daemon, name, root):
    path = os.path.join(root, "%s.xml" % name)
    with open(path, "w") as handle:
        handle.write(domain_xml(name))
    daemon.virsh("define", path)
    daemon.virsh("start", name)


def domain_state(daemon, name):
    return daemon.virsh("domstate", name, check=False).stdout.strip()


def restart_then(daemon, action, pause=1.0):
    """Kill libvirtd, start it again after ``pause``, then ``action()``; returns the pids seen."""
    before = daemon.pid
    daemon.kill()
    time.sleep(pause)
    daemon.start()
    action()
    return before, daemon.pid


def libvirt_restarts(root):
    daemon = PrivateLibvirtd(os.path.join(root, "libvirtd"))
    daemon.start()
    name = "%s-dom" % TAG
    try:
        define_and_start(daemon, name, root)
        port = 5900 + int(daemon.virsh("vncdisplay", name).stdout.strip().rpartition(":")[2])   # host:display
        check(daemon.display_ports[0] <= port <= daemon.display_ports[1],
              "the private libvirtd gave its domain a VNC port of its own range %s-%s (%s)"
              % (daemon.display_ports + (port,)))
        # module_utils: a wait in progress when the daemon dies; the domain powers off after the restart
        lv.quiet_libvirt_errors()
        with lv.LibvirtConnection(daemon.uri) as conn:
            dom = conn.lookup(name=name, required=True)
            pids = []
            worker = threading.Timer(2.0, lambda: pids.extend(
                restart_then(daemon, lambda: daemon.virsh("destroy", name))))
            worker.start()
            started = time.monotonic()
            reached = lv.wait_for_state(dom, ["shutoff"], 90)
            worker.join()
            check(reached == "shutoff" and pids[0] != pids[1],
                  "wait_for_state: libvirtd killed and started again mid-wait (pid %s -> %s), the wait ends at "
                  "shutoff after %.1fs" % (pids[0], pids[1], time.monotonic() - started))
            check(conn.reconnects == 1, "wait_for_state: one reconnect (%d)" % conn.reconnects)
            check(lv.domain_state(dom)[0] == "shutoff" and conn.lookup(name=name) is not None,
                  "the awaited domain object and the connection work on after the wait")

        # the module: a clean shutdown the guest ignores (no OS), the daemon restarted while it waits,
        # then the guest powers off
        daemon.virsh("start", name)
        proc = module_run("libvirt_domain", dict(name=name, xml=domain_xml(name), state="shutdown", timeout=120,
                                                 uri=daemon.uri), background=True)
        deadline = time.monotonic() + 120
        while daemon.clients() == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(5)   # connected: the shutdown request is sent, the module waits for shutoff
        check(proc.poll() is None and domain_state(daemon, name) == "running",
              "libvirt_domain: waiting for the guest to shut down")
        pids = restart_then(daemon, lambda: (time.sleep(3), daemon.virsh("destroy", name)))
        result = module_result(proc)
        check(not result.get("failed") and result.get("changed") and
              (result.get("domain") or {}).get("state") == "shutoff",
              "libvirt_domain: libvirtd restarted mid-wait (pid %s -> %s), the run ends shut off (%s)"
              % (pids[0], pids[1], result.get("msg", "ok")))
        check(domain_state(daemon, name) == "shut off", "libvirt_domain: virsh sees the domain shut off")

        # a daemon that does not come back: the wait fails clearly within its timeout
        daemon.virsh("start", name)
        with lv.LibvirtConnection(daemon.uri) as conn:
            dom = conn.lookup(name=name, required=True)
            threading.Timer(1.0, daemon.kill).start()
            started = time.monotonic()
            try:
                lv.wait_for_state(dom, ["shutoff"], 8)
                check(False, "wait_for_state: libvirtd gone for good - the wait fails")
            except NovaopsError as exc:
                took = time.monotonic() - started
                check("did not answer again within" in exc.msg and 7 <= took <= 15,
                      "wait_for_state: libvirtd gone for good fails clearly after %.1fs: %s" % (took, exc.msg))
        daemon.start()
        check(domain_state(daemon, name) == "running", "the domain ran on without libvirtd")
    finally:
        if daemon.pid is None:
            daemon.start()
        daemon.virsh("destroy", name, check=False)
        daemon.virsh("undefine", name, check=False)
        daemon.stop()


# -- Glance: a 503 once ----------------------------------------------------------------------------
def glance_images(direct, name):
    return direct.find_images(name=name)


def glance_5xx(root):
    upstream = os.environ["NOVAOPS_GLANCE_URL"]
    proxy = GlanceProxy(upstream)
    auth = dict(project_id="bi-cf", roles=["admin"])
    direct = gl.GlanceClient(upstream, **auth)
    client = gl.GlanceClient(proxy.url, **auth)
    data = os.urandom(3 * 1024 * 1024 + 517)
    path = os.path.join(root, "image.raw")
    with open(path, "wb") as handle:
        handle.write(data)
    names = []
    try:
        # create: refused before Glance saw it, then answered 503 after Glance made it
        for where in ("before", "after"):
            name = "%s-create-%s" % (TAG, where)
            names.append(name)
            proxy.clear()
            proxy.fail("POST", r"^/v2/images$", where)
            retries = client.retries
            image = client.create_image(name)
            made = glance_images(direct, name)
            check(client.retries - retries == 1 and len(made) == 1 and made[0]["id"] == image["id"],
                  "create_image: 503 %s forwarding - retried once, exactly one image %s" % (where, name))

        # upload: the PUT refused once, then restarted from its first byte
        proxy.clear()
        proxy.fail("PUT", r"/file$", "before")
        retries = client.retries
        sent = client.upload(image["id"], path)
        stored = direct.get_image(image["id"])
        check(client.retries - retries == 1 and len(proxy.requests("PUT", "/file$")) == 2 and
              stored["status"] == "active" and stored["size"] == len(data) and
              stored["checksum"] == hashlib.md5(data).hexdigest() and sent["verified_by"],
              "upload: 503 once - restarted from the start, the image active with the file's bytes and checksum")

        # download: the GET of the data refused once
        proxy.clear()
        proxy.fail("GET", r"/file$", "before")
        dest = os.path.join(root, "download.raw")
        client.download(image["id"], dest)
        with open(dest, "rb") as handle:
            check(handle.read() == data and len(proxy.requests("GET", "/file$")) == 2,
                  "download: 503 once - retried, the bytes are the image's")

        # an unseekable source cannot be sent again: one attempt, a clear failure, the image still queued
        name = "%s-pipe" % TAG
        names.append(name)
        piped = client.create_image(name)
        proxy.clear()
        proxy.fail("PUT", r"/file$", "before")
        reader, writer = os.pipe()
        threading.Thread(target=lambda: (os.write(writer, data[:65536]), os.close(writer)), daemon=True).start()
        with os.fdopen(reader, "rb") as stream:
            try:
                client.upload(piped["id"], stream)
                check(False, "upload from a pipe with a 503 fails")
            except gl.GlanceError as exc:
                check(exc.status == 503 and "503" in exc.msg and len(proxy.requests("PUT", "/file$")) == 1 and
                      direct.get_image(piped["id"])["status"] == "queued",
                      "upload from a pipe: a 503 is not retried (the stream cannot be re-read): %s" % exc.msg)

        # 503 for ever: bounded - four attempts, about 3.5 s of backoff, then a clear failure
        proxy.clear()
        proxy.fail("GET", r"^/v2/images/", "always")
        started = time.monotonic()
        try:
            client.get_image(image["id"])
            check(False, "a Glance that keeps answering 503 fails")
        except gl.GlanceError as exc:
            took = time.monotonic() - started
            attempts = len(proxy.requests("GET", r"^/v2/images/"))
            check(attempts == 4 and 3.4 <= took < 10 and exc.status == 503,
                  "503 for ever: %d attempts in %.1fs, then: %s" % (attempts, took, exc.msg))
    finally:
        proxy.close()
        for name in names:
            for image in glance_images(direct, name):
                direct.delete_image(image["id"])
        check(all(not glance_images(direct, name) for name in names), "glance: this test's images are gone")


def main():
    beds_dir = os.environ["NOVAOPS_BEDS_DIR"]
    tools_dir = os.path.join(os.path.dirname(beds_dir), "tools")
    root = tempfile.mkdtemp(prefix="%s-" % TAG)
    kept = False
    try:
        run_sections((lambda: xenapi_sessions(tools_dir, root), lambda: libvirt_restarts(root),
                      lambda: glance_5xx(root)), check)
    finally:
        kept = bool(FAILURES)
        if kept:
            print("kept for a look: %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    print("connection_faults: %d failure(s)" % len(FAILURES))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
