# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A fleet on the test beds, broken on purpose and checked from outside (used by runme.sh and bench/).

Fleet(tag, libvirt=20, xen=10).create() boots libvirt domains (QEMU type='qemu', 32 MiB, a tiny
qcow2 image of their own, one OVS VIF) with novaops.compute.libvirt_domain and XenServer VMs on
the simulator's pools A and B with novaops.compute.xen_vm, through one ansible-playbook run with
forks, so that every instance carries the desired state the modules record.  break_instances()
breaks some the way hypervisors break (SIGKILLed QEMU, a destroyed domain, a deleted _base file,
a removed OVS port, a halted or paused VM), mark_busy() puts the operation lock on others, and
check() says, from libvirt, OVS, the file system and XenAPI - not from the collection - which
instances are not in their desired state.  destroy() removes all of it (domains, instance files,
images, the bridge, VMs with their disks).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import libvirt
import XenAPI

HERE = os.path.dirname(os.path.abspath(__file__))
URI = "qemu:///system"
TEMPLATE = "Debian Bookworm 12"
TASK_NS = "https://novaops.example/compute/1/task"
LOCK_FILE = "novaops-task.lock"
LIBVIRT_KINDS = ("killed", "halted", "missing_base", "removed_port")
XEN_KINDS = ("halted", "paused")


def run(argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


def quiet_libvirt():
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


class Fleet:
    def __init__(self, tag, libvirt_count=20, xen_count=10, env=None):
        self.tag = tag
        self.env = dict(env or os.environ)
        self.tmp = tempfile.mkdtemp(prefix="%s-" % tag)
        os.chmod(self.tmp, 0o755)   # QEMU runs as libvirt-qemu and reads the images here
        self.instances_path = os.path.join(self.tmp, "instances")
        self.bridge = "br-%s" % tag[-8:]
        self.libvirt_names = ["%s-%s%02d" % (tag, "a" if i < (libvirt_count + 1) // 2 else "b", i + 1)
                              for i in range(libvirt_count)]
        self.xen_names = ["%s-x%02d" % (tag, i + 1) for i in range(xen_count)]
        self.pools = dict(a=self.env["XENAPI_POOL_A_URL"], b=self.env["XENAPI_POOL_B_URL"])
        self.xen_pool = dict((name, "a" if i < (xen_count + 1) // 2 else "b") for i, name in enumerate(self.xen_names))
        self.broken = {}        # name -> kind
        self.busy = {}          # name -> how the lock is held

    # -- creation ------------------------------------------------------------------------------
    def image(self, name):
        return os.path.join(self.tmp, "%s.qcow2" % name)

    def base_file(self, name):
        return os.path.join(self.instances_path, "_base", hashlib.sha1(self.image(name).encode()).hexdigest())

    def port_id(self, index):
        return "%08x-0000-4000-8000-%012x" % (int(hashlib.sha1(self.tag.encode()).hexdigest()[:8], 16), index)

    def create(self, forks=10):
        for name in self.libvirt_names:
            run(["qemu-img", "create", "-q", "-f", "qcow2", self.image(name), "1M"])
        run(["ovs-vsctl", "--may-exist", "add-br", self.bridge, "--", "set", "bridge", self.bridge,
             "datapath_type=netdev"])
        hosts = {}
        for index, name in enumerate(self.libvirt_names):
            hosts[name] = dict(fleet_image=self.image(name), fleet_port_id=self.port_id(index))
        inventory = dict(all=dict(
            vars=dict(ansible_connection="local", ansible_python_interpreter=sys.executable,
                      fleet_instances_path=self.instances_path, fleet_bridge=self.bridge, fleet_template=TEMPLATE),
            children=dict(
                fleet_libvirt=dict(hosts=hosts),
                fleet_xen=dict(hosts=dict((name, dict(fleet_url=self.pools[self.xen_pool[name]]))
                                          for name in self.xen_names)))))
        path = os.path.join(self.tmp, "create-inventory.json")
        with open(path, "w") as handle:
            json.dump(inventory, handle)
        proc = subprocess.run(["ansible-playbook", "-i", path, "-f", str(forks), os.path.join(HERE, "create_fleet.yml")],
                              capture_output=True, text=True, env=self.env, check=False)
        if proc.returncode != 0:
            raise RuntimeError("creating the fleet failed:\n%s\n%s" % (proc.stdout[-4000:], proc.stderr[-2000:]))

    # -- breaking ------------------------------------------------------------------------------
    def pick(self, rng, libvirt_count, xen_count):
        """Names to break: libvirt and xen, chosen at random, each with a kind in turn."""
        lv = rng.sample(self.libvirt_names, libvirt_count)
        xs = rng.sample(self.xen_names, xen_count) if xen_count else []
        picked = dict((name, LIBVIRT_KINDS[i % len(LIBVIRT_KINDS)]) for i, name in enumerate(sorted(lv)))
        picked.update((name, XEN_KINDS[i % len(XEN_KINDS)]) for i, name in enumerate(sorted(xs)))
        return picked

    def break_instances(self, picked):
        quiet_libvirt()
        conn = libvirt.open(URI)
        try:
            for name, kind in sorted(picked.items()):
                if name in self.xen_pool:
                    self._break_xen(name, kind)
                else:
                    self._break_libvirt(conn, name, kind)
                self.broken[name] = kind
            # a killed QEMU is noticed by libvirtd asynchronously: wait until it says so
            for name, kind in picked.items():
                if kind == "killed":
                    self._wait_state(conn.lookupByName(name), libvirt.VIR_DOMAIN_SHUTOFF)
        finally:
            conn.close()

    def _break_libvirt(self, conn, name, kind):
        dom = conn.lookupByName(name)
        if kind == "killed":
            with open("/run/libvirt/qemu/%s.pid" % name) as handle:
                os.kill(int(handle.read().strip()), signal.SIGKILL)
        elif kind == "halted":
            dom.destroy()
        elif kind == "missing_base":
            os.unlink(self.base_file(name))
        elif kind == "removed_port":
            run(["ovs-vsctl", "del-port", self.bridge, self.tap(dom)])
        else:
            raise ValueError(kind)

    @staticmethod
    def tap(dom):
        xml = dom.XMLDesc(0)
        start = xml.index("<target dev='", xml.index("<interface")) + len("<target dev='")
        return xml[start:xml.index("'", start)]

    @staticmethod
    def _wait_state(dom, state, timeout=60):
        deadline = time.monotonic() + timeout
        while dom.state()[0] != state:
            if time.monotonic() > deadline:
                raise RuntimeError("%s did not reach state %d" % (dom.name(), state))
            time.sleep(0.1)

    def mark_busy(self, libvirt_metadata=None, libvirt_lock_file=None, xen=None):
        """Break these too (halted) and put the operation lock on them: fleet repair must leave them."""
        quiet_libvirt()
        conn = libvirt.open(URI)
        try:
            for name, how in ((libvirt_metadata, "metadata"), (libvirt_lock_file, "lock_file")):
                if not name:
                    continue
                dom = conn.lookupByName(name)
                dom.destroy()
                if how == "metadata":
                    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT,
                                    '<task operation="resize" owner="%s" started_at="2026-01-01T00:00:00Z"/>'
                                    % self.tag, "novaopstask", TASK_NS, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
                else:
                    with open(os.path.join(self.instances_path, dom.UUIDString(), LOCK_FILE), "w") as handle:
                        handle.write(json.dumps(dict(operation="snapshot", owner=self.tag)))
                self.busy[name] = how
        finally:
            conn.close()
        if xen:
            with self.xen_session(self.xen_pool[xen]) as x:
                ref = x.VM.get_by_name_label(xen)[0]
                x.VM.hard_shutdown(ref)
                x.VM.add_to_other_config(ref, "novaops_task_state",
                                         json.dumps(dict(operation="rescue", owner=self.tag, started_at="1")))
            self.busy[xen] = "other_config"

    def _break_xen(self, name, kind):
        with self.xen_session(self.xen_pool[name]) as x:
            ref = x.VM.get_by_name_label(name)[0]
            if kind == "halted":
                x.VM.hard_shutdown(ref)
            elif kind == "paused":
                x.VM.pause(ref)
            else:
                raise ValueError(kind)

    def xen_session(self, pool):
        return _XenSession(self.pools[pool], self.env["XENAPI_USERNAME"], self.env["XENAPI_PASSWORD"],
                           self.env.get("XENAPI_CA_PATH"))

    # -- looking from outside --------------------------------------------------------------------
    def check(self):
        """{name: what is wrong} for every instance not in its desired state (running, base file there,
        OVS port there), read from libvirt, the file system, OVS and XenAPI."""
        wrong = {}
        quiet_libvirt()
        conn = libvirt.openReadOnly(URI)
        ports = self._ovs_iface_ids()
        try:
            for index, name in enumerate(self.libvirt_names):
                problems = []
                try:
                    dom = conn.lookupByName(name)
                    state = dom.state()[0]
                except libvirt.libvirtError:
                    wrong[name] = ["undefined"]
                    continue
                if state != libvirt.VIR_DOMAIN_RUNNING:
                    problems.append("state %d" % state)
                if not os.path.isfile(self.base_file(name)):
                    problems.append("no base file")
                if state == libvirt.VIR_DOMAIN_RUNNING and self.port_id(index) not in ports:
                    problems.append("no OVS port")
                if problems:
                    wrong[name] = problems
        finally:
            conn.close()
        for pool in sorted(set(self.xen_pool.values())):
            with self.xen_session(pool) as x:
                for name in [n for n in self.xen_names if self.xen_pool[n] == pool]:
                    refs = x.VM.get_by_name_label(name)
                    power = x.VM.get_power_state(refs[0]) if refs else "missing"
                    if power != "Running":
                        wrong[name] = [power]
        return wrong

    def _ovs_iface_ids(self):
        out = run(["ovs-vsctl", "--format=json", "--columns=external_ids", "list", "Interface"]).stdout
        ids = set()
        for row in json.loads(out)["data"]:
            for key, value in row[0][1]:
                if key == "iface-id":
                    ids.add(value)
        return ids

    def lock_intact(self, name):
        if name in self.xen_pool:
            with self.xen_session(self.xen_pool[name]) as x:
                ref = x.VM.get_by_name_label(name)[0]
                return "novaops_task_state" in x.VM.get_other_config(ref)
        conn = libvirt.openReadOnly(URI)
        try:
            dom = conn.lookupByName(name)
            if self.busy[name] == "metadata":
                return TASK_NS in dom.XMLDesc(0)
            return os.path.exists(os.path.join(self.instances_path, dom.UUIDString(), LOCK_FILE))
        finally:
            conn.close()

    # -- cleaning up -----------------------------------------------------------------------------
    def destroy(self):
        errors = []
        try:
            quiet_libvirt()
            conn = libvirt.open(URI)
            try:
                for dom in conn.listAllDomains(0):
                    if not dom.name().startswith(self.tag + "-"):
                        continue
                    try:
                        if dom.isActive():
                            dom.destroy()
                        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
                    except libvirt.libvirtError as exc:
                        errors.append("%s: %s" % (dom.name(), exc))
            finally:
                conn.close()
        except libvirt.libvirtError as exc:
            errors.append(str(exc))
        subprocess.run(["ovs-vsctl", "--if-exists", "del-br", self.bridge], capture_output=True, check=False)
        for pool in ("a", "b"):
            try:
                with self.xen_session(pool) as x:
                    for ref, rec in x.VM.get_all_records().items():
                        if rec["name_label"].startswith(self.tag + "-") and not rec["is_a_template"]:
                            _destroy_vm(x, ref, rec)
            except Exception as exc:  # pylint: disable=broad-except
                errors.append("pool %s: %s" % (pool, exc))
        shutil.rmtree(self.tmp, ignore_errors=True)
        return errors


def _destroy_vm(x, ref, rec):
    if rec["power_state"] != "Halted":
        x.VM.hard_shutdown(ref)
    vdis = []
    for vbd in rec["VBDs"]:
        vbd_rec = x.VBD.get_record(vbd)
        if vbd_rec["type"] == "Disk" and vbd_rec["VDI"] != "OpaqueRef:NULL":
            vdis.append(vbd_rec["VDI"])
    x.VM.destroy(ref)
    for vdi in vdis:
        x.VDI.destroy(vdi)


class _XenSession:
    def __init__(self, url, user, password, ca_path):
        import ssl
        import xmlrpc.client
        transport = None
        if url.startswith("https") and ca_path:
            transport = xmlrpc.client.SafeTransport(context=ssl.create_default_context(cafile=ca_path))
        self.session = XenAPI.Session(url, transport=transport)
        self.user, self.password = user, password

    def __enter__(self):
        self.session.login_with_password(self.user, self.password, "1.0", "novaops-fleet-test")
        return self.session.xenapi

    def __exit__(self, *exc):
        try:
            self.session.xenapi.session.logout()
        except Exception:  # pylint: disable=broad-except
            pass
        return False


def random_tag(prefix="fr"):
    letters = "abcdefghijkmnpqrstuvwxyz23456789"
    return "%s-%s" % (prefix, "".join(random.choice(letters) for _index in range(5)))
