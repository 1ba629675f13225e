# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The libvirt half of the fault campaign: QEMU, libvirtd, ovsdb-server, Glance, sshd killed mid-step
(and the live-migration cells, migrate_cells.py).

The instance lives on a libvirtd of the campaign's own (connection_faults' PrivateLibvirtd, reached
through the inventory's libvirt_uri), so killing it disturbs nobody; Glance and the resize's sshd
are the campaign's own too (PrivateBeds).  ovsdb-server is the shared bed's and is down for about a
second only.  For each cell a Watcher waits for the moment of the step, kills, and then: the kill
happened before the run ended, the run failed with a message (or recovered), the instance's files
are intact, no staging directory, transient domain, lock file or half-made Glance image is left;
the same playbook, run again, converges and the instance runs.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid

import migrate_cells
from campaign import TAG, add_row, check, glance_half_made
from libvirt_faults import (Watcher, image_saving, kill_ovsdb_briefly, process_appears, qemu_appears, qemu_pids,
                            sigkill, transient)
from private_beds import PrivateBeds
from roles_lib import Playbooks, disk, write_inventory

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "connection_faults"))
from private_libvirtd import PrivateLibvirtd  # noqa: E402 pylint: disable=wrong-import-position

import libvirt  # noqa: E402 pylint: disable=wrong-import-position,wrong-import-order

NAME = TAG + "-lv"
UUID = str(uuid.uuid4())
BRIDGE = "br" + TAG[3:]
UPLINK = TAG[3:] + "u"
IP = "10.78.0.5"
QUEUE = 13951
FLAVOR = dict(vcpus=1, memory_mb=64, root_gb=1)
BIG = dict(vcpus=2, memory_mb=96, root_gb=2)
LOCK_FILE = "novaops-task.lock"


def sh(*argv):
    return subprocess.run(argv, capture_output=True, text=True, check=False)


class Place:
    """The instances path, a second host's, and a small tmpfs for the full-directory cell."""

    def __init__(self, root):
        os.chmod(root, 0o755)                       # QEMU runs as libvirt-qemu
        os.chmod(os.path.dirname(root), 0o755)
        self.root = root
        self.inst = os.path.join(root, "instances")
        self.host2 = os.path.join(root, "host2")
        self.full = os.path.join(root, "full")
        for path in (self.inst, self.host2, self.full):
            os.makedirs(path)
            os.chmod(path, 0o755)
        # mounted before the private libvirtd starts: its mount namespace is a copy of ours
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0711", TAG + "-full", self.full], check=True)


class LibvirtCampaign:
    def __init__(self, pb, place, daemon, beds, glance_url):
        self.pb, self.place, self.daemon, self.beds, self.glance_url = pb, place, daemon, beds, glance_url
        self.ref = None
        self.uuid = UUID
        self.where = place.inst          # the instances path the instance runs from

    # -- one cell --------------------------------------------------------------------------------
    def cell(self, operation, step, playbook, watcher, extra=None, where=None, before_rerun=None, rerun_ok=None,
             runs=True, gap=None):
        """Run the playbook while ``watcher`` waits to kill, check what is left, re-run, check it converged.

        where: the instances path the instance is in after the re-run; before_rerun: what a user does
        first (bring a killed server back); rerun_ok(run) -> bool replaces "the re-run succeeds" where
        the first run already finished the job (unrescue of an unrescued instance is refused).
        gap: the re-run's known failure message, where only hard_reboot and a third run converge (shown as GAP).
        """
        failures_before = len(check.failures)
        what = "%s / libvirt / %s (%s)" % (operation, step, watcher.what)
        with watcher:
            run = self.pb.run(playbook, extra=extra)
        check(watcher.fired, "%s: the kill happened mid-step, before the run ended" % what,
              watcher.error or "the step finished first (%r)" % run)
        if run.failed:
            outcome = "refused: " + (run.messages[0] if run.messages else "(no message)")[:90]
            check(bool(run.messages) and "Traceback" not in run.msg, "%s: refused with a message" % what, run.log)
        else:
            outcome = "recovered"
        if not watcher.fired:
            outcome = "NOT KILLED MID-STEP (the step finished first); " + outcome
        self.after(what, glance=False)
        if before_rerun:
            before_rerun()
        again = self.pb.run(playbook, extra=extra)
        if gap and again.failed:
            check(gap in again.msg, "%s: the re-run stops where it is known to (%s)" % (what, gap), again)
            check.run_ok(self.pb.run("hard_reboot"), "%s: hard_reboot repairs the instance" % what)
            again = self.pb.run(playbook, extra=extra)
            outcome += " | GAP: the re-run fails (%s) until hard_reboot" % gap
        if rerun_ok is not None and not again.failed:
            check.run_ok(again, "%s: the re-run converges" % what)
        elif rerun_ok is not None:
            check(rerun_ok(again), "%s: the re-run has nothing left to do" % what, again)
        else:
            check.run_ok(again, "%s: the re-run converges" % what)
        if where:
            self.where = where
        if runs and not check(self.state() == "running", "%s: the instance runs after the re-run" % what,
                              self.state()):
            # what a user would do next, so that the cells after this one start from a running instance
            repaired = self.pb.run("hard_reboot")
            outcome += " | GAP: the re-run leaves it %s; hard_reboot %s" % (
                self.state(), "brings it back" if not repaired.failed else "fails too: " + repaired.msg[:80])
        self.after(what + ", re-run")
        add_row(operation, "libvirt", step + " [" + watcher.what + "]", outcome, failures_before)

    def refusal(self, operation, step, playbook, extra, message):
        """A cell where the operation must refuse before anything moves (no fault needed)."""
        failures_before = len(check.failures)
        what = "%s / libvirt / %s" % (operation, step)
        run = self.pb.run(playbook, extra=extra)
        check.run_failed(run, what, message)
        check("Traceback" not in run.msg, "%s: no traceback" % what)
        check(self.state() == "running", "%s: the instance still runs" % what, self.state())
        self.after(what)
        add_row(operation, "libvirt", step, "refused cleanly: " + (run.messages or ["?"])[0][:90], failures_before)

    # -- what a user sees ------------------------------------------------------------------------
    def conn(self):
        return libvirt.open(self.daemon.uri)

    def state(self):
        conn = self.conn()
        try:
            dom = conn.lookupByName(NAME)
            return {libvirt.VIR_DOMAIN_RUNNING: "running", libvirt.VIR_DOMAIN_SHUTOFF: "shutoff"}.get(
                dom.state()[0], str(dom.state()[0]))
        except libvirt.libvirtError:
            return "undefined"
        finally:
            conn.close()

    def qemu(self):
        return qemu_pids(NAME)

    def after(self, what, glance=True):
        """The files intact, and nothing half done left: staging, transient domains, locks, half images."""
        conn = self.conn()
        try:
            domains = [(d.name(), bool(d.isPersistent())) for d in conn.listAllDomains()]
        finally:
            conn.close()
        check(all(persistent for _n, persistent in domains) and set(n for n, _p in domains) <= {NAME},
              "%s: no transient or extra domain left" % what, domains)
        staging = [os.path.join(d, e) for d in (os.path.join(self.place.inst, "snapshots"), self.place.full)
                   if os.path.isdir(d) for e in os.listdir(d)]
        check(not staging, "%s: no snapshot staging directory left" % what, staging)
        known = ("_base", "snapshots", self.uuid, self.uuid + "_resize")
        odd = [e for e in os.listdir(self.place.inst) if e not in known]
        odd += [os.path.join("host2", e) for e in os.listdir(self.place.host2) if e not in ("_base", self.uuid)]
        locks = [os.path.join(d, e, LOCK_FILE) for d in (self.place.inst, self.place.host2) for e in os.listdir(d)
                 if os.path.exists(os.path.join(d, e, LOCK_FILE))]
        check(not odd and not locks, "%s: no staging directory or lock file left in the instances paths" % what,
              odd + locks)
        if glance:
            check(not glance_half_made(self.glance_url), "%s: no half-made Glance image" % what,
                  glance_half_made(self.glance_url))
        if self.ref is not None:
            path = os.path.join(self.where, self.uuid, "disk")
            if not os.path.exists(path):        # a resize that stopped half way keeps the original here
                path = os.path.join(self.place.inst, self.uuid + "_resize", "disk")
            got = disk("lv-sum", path) if os.path.exists(path) else dict(sum="(no disk at %s)" % path, fsck_rc=None)
            check(got["sum"] == self.ref and got["fsck_rc"] == 0, "%s: the instance's files are intact" % what, got)


def module_runs(c, module):
    """A condition: a module of this campaign's runs is at work (its AnsiballZ file is in our remote_tmp)."""
    return process_appears(os.path.join(c.pb.env["ANSIBLE_REMOTE_TMP"], ""), "AnsiballZ_%s.py" % module)


def shutting_down(c):
    """A condition: libvirt_resize has recorded the resize (resize.json, written just before it powers the
    domain off) and the domain's QEMU still runs: the shutdown is under way.  Gives the QEMU's pid."""
    def condition():
        pids = c.qemu()
        return pids[0] if pids and os.path.exists(os.path.join(c.place.inst, c.uuid, "resize.json")) else None
    return condition


def restart_libvirtd(daemon):
    """The kill of a libvirtd cell: SIGKILL, then started again at once (its QEMUs run on)."""
    def kill(_seen):
        daemon.kill()
        daemon.start()
        return "libvirtd SIGKILLed and started again"
    return kill


def scenario(c, pb, place, beds):
    daemon = c.daemon
    # ---- boot: ovsdb-server dies while libvirt wires the VIF and libvirt_domain adds its flows and queue
    c.cell("boot", "VIF wiring", "boot",
           Watcher("ovsdb-server killed", qemu_appears(NAME), lambda _pid: kill_ovsdb_briefly()))
    c.ref = c.image_ref
    c.after("boot, files")

    # ---- hard reboot: QEMU killed right after it started; libvirtd killed while it starts
    old = c.qemu()
    c.cell("hard_reboot", "start the domain", "hard_reboot",
           Watcher("QEMU killed", qemu_appears(NAME, other_than=old), sigkill))
    old = c.qemu()
    c.cell("hard_reboot", "start the domain", "hard_reboot",
           Watcher("libvirtd killed", qemu_appears(NAME, other_than=old), restart_libvirtd(daemon)))

    # ---- snapshot: the block copy (QEMU killed, libvirtd killed), the upload (Glance killed), a full directory
    watch = c.conn()
    try:
        c.cell("snapshot", "block copy", "snapshot",
               Watcher("QEMU killed", transient(watch, NAME), lambda _t: sigkill(c.qemu()[0]), every=0.005),
               extra=dict(image_name=TAG + "-lv-a"))
        c.cell("snapshot", "block copy", "snapshot",
               Watcher("libvirtd killed", transient(watch, NAME), restart_libvirtd(daemon), every=0.005),
               extra=dict(image_name=TAG + "-lv-b"))
    finally:
        try:
            watch.close()
        except libvirt.libvirtError:
            pass
    c.cell("snapshot", "upload to Glance", "snapshot",
           Watcher("Glance killed", image_saving(c.glance_url), lambda _i: "%d processes" % beds.kill("glance")),
           extra=dict(image_name=TAG + "-lv-c"), before_rerun=lambda: beds.start("glance"))
    c.cell("snapshot", "staging directory full", "snapshot",
           Watcher("tmpfs of 1 MiB", lambda: True, lambda _t: "full before the run"),
           extra=dict(image_name=TAG + "-lv-d", snapshot_directory=place.full),
           before_rerun=lambda: sh("mount", "-o", "remount,size=256m", place.full))
    for image in ("a", "b", "c", "d"):
        ids = disk("glance-images", TAG + "-lv-" + image)["ids"]
        check(len(ids) == 1, "snapshot: after the fault and the re-run, one active image %s-lv-%s" % (TAG, image), ids)

    # ---- rescue: QEMU killed as the rescue boot starts; unrescue: libvirtd killed while the rescue QEMU goes
    c.cell("rescue", "boot from disk.rescue", "rescue",
           Watcher("QEMU killed", qemu_appears(NAME, "disk.rescue"), sigkill))
    rescued = c.qemu()
    c.cell("unrescue", "restore the definition", "unrescue",
           Watcher("libvirtd killed", lambda: not [p for p in rescued if os.path.exists("/proc/%d" % p)],
                   restart_libvirtd(daemon)),
           rerun_ok=lambda again: "is not in rescue" in again.msg)

    # ---- resize on this host: QEMU killed while the guest is being shut down; revert: libvirtd killed
    # once the resized domain is going
    here = dict(flavor=BIG)
    c.cell("resize up", "shut the domain down", "resize", Watcher("QEMU killed", shutting_down(c), sigkill),
           extra=here)
    moved = c.qemu()
    c.cell("resize revert", "destroy the resized domain", "resize",
           Watcher("libvirtd killed", lambda: not [p for p in moved if os.path.exists("/proc/%d" % p)],
                   restart_libvirtd(daemon)),
           extra=dict(here, action="revert"))
    # ---- confirm of a resize on this host (Nova's allow_resize_to_same_host): libvirtd killed while it runs
    check.run_ok(pb.run("resize", extra=here), "resize up / libvirt / this host again, for its confirm")
    c.cell("resize confirm", "remove the original (this host)", "resize",
           Watcher("libvirtd killed", module_runs(c, "libvirt_resize"), restart_libvirtd(daemon)),
           extra=dict(here, action="confirm"))
    # ---- resize to a second host over the private sshd: sshd killed while rsync copies; confirm there
    far = dict(flavor=BIG, resize_dest=dict(instances_path=place.host2, uri=daemon.uri), resize_ssh=c.ssh)

    # the rollback cannot reach the destination: the instance is put back and runs all the same
    def rolled_back_locally():
        check(c.state() == "running" and os.path.isdir(os.path.join(place.inst, c.uuid)) and
              not os.path.exists(os.path.join(place.inst, c.uuid + "_resize")),
              "resize up / libvirt / sshd killed: the rollback put the instance back and it runs, before the re-run",
              (c.state(), sorted(os.listdir(place.inst))))
        beds.start("sshd")
    c.cell("resize up", "copy to the second host (rsync over ssh)", "resize",
           Watcher("sshd killed", process_appears("rsync", place.host2), lambda _p: "%d processes" % beds.kill("sshd")),
           extra=far, where=place.host2, before_rerun=rolled_back_locally)
    c.cell("resize confirm", "remove the original", "resize",
           Watcher("libvirtd killed", module_runs(c, "libvirt_resize"), restart_libvirtd(daemon)),
           extra=dict(far, action="confirm"))
    c.refusal("resize down", "check the flavor fits", "resize",
              dict(flavor=FLAVOR, libvirt_instances_path=place.host2), "smaller")


def setup_network():
    sh("ovs-vsctl", "--if-exists", "del-br", BRIDGE)
    sh("ovs-vsctl", "add-br", BRIDGE, "--", "set", "bridge", BRIDGE, "datapath_type=netdev")
    sh("ip", "link", "add", UPLINK, "type", "veth", "peer", "name", TAG[3:] + "p")
    sh("ip", "link", "set", UPLINK, "up")
    sh("ovs-vsctl", "--may-exist", "add-port", BRIDGE, UPLINK)


def cleanup_network():
    sh("ovs-vsctl", "--if-exists", "del-br", BRIDGE)
    sh("ip", "link", "del", UPLINK)


def key_body(path):
    """A line of the private key, as a secret no run may show."""
    with open(path) as handle:
        lines = [line.strip() for line in handle if line.strip() and not line.startswith("-----")]
    return lines[1] if len(lines) > 1 else lines[0]


def run(root, secrets):
    """The libvirt cells; returns the directory of its runs' output (for the secrets check)."""
    place = Place(root)
    daemon = PrivateLibvirtd(os.path.join(root, "libvirtd"))
    beds = None
    try:
        daemon.start()
        beds = PrivateBeds(root)
        env = dict(os.environ, ANSIBLE_REMOTE_TMP=os.path.join(root, "ansible-tmp"), **beds.env())
        glance_url = env["NOVAOPS_GLANCE_URL"]
        token = base64.b32encode(uuid.uuid4().bytes).decode().rstrip("=")
        secrets["the libvirt cells' Glance token"] = token
        # the playbooks reach Glance through a URL with credentials in it (#18): the password must show
        # nowhere, whatever a cell makes the modules say (the Glance-killed cell: "unreachable")
        url_password = "fc-pw-" + uuid.uuid4().hex
        secrets["the password in the libvirt cells' Glance URL"] = url_password
        glance_login_url = glance_url.replace("://", "://nt-ro:%s@" % url_password, 1)
        secrets["the private sshd's client key"] = key_body(env["NOVAOPS_SSH_KEY"])
        setup_network()
        image = os.path.join(root, "image.qcow2")
        saved = dict(os.environ)
        os.environ.update(beds.env())            # instance_disk.py's Glance is the private one
        try:
            image_ref = disk("lv-image", image, 64, 8)["sum"]
            image_id = disk("glance-upload", image, TAG + "-lv-image", "qcow2")["id"]
            rescue = os.path.join(root, "rescue.qcow2")
            sh("qemu-img", "create", "-q", "-f", "qcow2", rescue, "8M")
            ssh = dict(host=env["NOVAOPS_SSH_HOST"], port=int(env["NOVAOPS_SSH_PORT"]), user=env["NOVAOPS_SSH_USER"],
                       private_key_file=env["NOVAOPS_SSH_KEY"], known_hosts_file=env["NOVAOPS_SSH_KNOWN_HOSTS"])
            inventory = write_inventory(os.path.join(root, "inventory.json"), {
                NAME: dict(compute_driver="libvirt", instance_uuid=UUID, libvirt_uri=daemon.uri, libvirt_virt_type="qemu",
                           libvirt_instances_path=place.inst, instance_flavor=FLAVOR,
                           instance_image=dict(id=image_id), instance_rescue_image=dict(path=rescue),
                           instance_vifs=[dict(id=str(uuid.uuid4()), bridge=BRIDGE, ips=[IP], max_rate=614400000,
                                               queue_id=QUEUE)],
                           ovs_qos_port=UPLINK, boot_timeout=60, rescue_timeout=30, hard_reboot_timeout=60,
                           resize_shutdown_timeout=2, resize_timeout=120)},
                dict(glance=dict(url=glance_login_url, token=token, project_id="nt-ro", roles=["admin"])))
            pb = Playbooks(inventory, os.path.join(root, "runs"), env=env)
            c = LibvirtCampaign(pb, place, daemon, beds, glance_url)
            c.image_ref, c.ssh = image_ref, ssh
            scenario(c, pb, place, beds)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        migrate_cells.run(os.path.join(root, "migrate"))
        return pb.log_dir
    finally:
        daemon.virsh("destroy", NAME, check=False)
        daemon.virsh("undefine", "--managed-save", NAME, check=False)
        daemon.stop()
        if beds is not None:
            beds.stop()
        cleanup_network()
        sh("umount", place.full)
