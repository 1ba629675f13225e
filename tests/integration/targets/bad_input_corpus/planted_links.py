# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The planted-links corpus of #18 (run by runme.sh after corpus.py): every path the modules take,
with what an attacker who can write there plants at it - a symbolic link, a dangling one, a hard
link, a FIFO - each aimed at a canary outside every root.

The paths (SITES): the instances path, ``_base`` and every name in it (a base, its ``.part`` and
``.lock``, the ephemeral and swap bases), the instance directory and every file in it (``disk``,
``disk.local``, ``disk.swap``, ``disk.rescue``, ``libvirt.xml``, ``unrescue.xml``, a volume by name),
a volume by path, the image file (``image.path``), the snapshots directory and the disk a snapshot
reads, ``<uuid>_resize``, the destination instances path of a resize, its instance directory and
a ``.part`` in it, and every file option (ssh key, known_hosts, CA bundle) of every module that
has one.  Directories get the kinds a directory can be replaced with (no hard link).

Each case runs the module for real, on the beds (libvirtd, QEMU, qemu-img, Glance), and must:
fail with a message naming the planted path (or the option), no traceback, changed=false; leave
its scenario exactly as it was (every entry under its roots, the plant included, compared by
lstat and content; the domain's definition and state); and leave the canary unread (inotify:
not even opened), unchanged, present, with its mode, and a dangling link's target uncreated.

``--only`` runs the sites whose label contains one of its words; the run prints a line per case
and the count.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
import uuid

import module_runner
from module_runs import collections_root

TAG = "bi-pl%s" % uuid.uuid4().hex[:4]
RUN_TIMEOUT = [120]         # seconds a case's run may take (--timeout): a FIFO read blocks for ever
WORK = os.path.join("/tmp", TAG)
FILE_KINDS = ("symlink", "dangling", "hardlink", "fifo")
DIR_KINDS = ("symlink", "dangling", "fifo")
EPHEMERAL_FS = "ext4"


def sh(*argv):
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def virsh(*args):
    return sh("virsh", "-c", "qemu:///system", *args)


def tree(path):
    """Every entry under path, without following links: type, mode, size, links, target, content."""
    out = {}
    if not os.path.lexists(path):
        return {"": "missing"}
    for folder, dirs, files in os.walk(path):
        for name in [""] + dirs + files if folder == path else dirs + files:
            full = os.path.join(folder, name) if name else folder
            st = os.lstat(full)
            rel = os.path.relpath(full, path)
            entry = [stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_nlink, st.st_uid]
            if stat.S_ISLNK(st.st_mode):
                entry.append(os.readlink(full))
            elif stat.S_ISREG(st.st_mode):
                entry.append(st.st_size)
                with open(full, "rb") as handle:
                    entry.append(hashlib.sha256(handle.read()).hexdigest())
            out[rel] = entry
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
    return out


def domain_view(name):
    state = virsh("domstate", name)
    if state.returncode:
        return "undefined"
    return (state.stdout.strip(), hashlib.sha256(virsh("dumpxml", "--inactive", name).stdout.encode()).hexdigest())


class Planted:
    def __init__(self, canaries, glance_url):
        self.canaries = canaries
        self.glance_url = glance_url
        self.failures = []
        self.cases = 0
        self.image = os.path.join(WORK, "images", "image.qcow2")
        self.number = 0
        # imported here: the collection root is on sys.path by now
        from ansible_collections.novaops.compute.plugins.module_utils.libvirt import domain_xml as dx
        from ansible_collections.novaops.compute.plugins.module_utils.libvirt.image_cache import base_name
        from ansible_collections.novaops.compute.plugins.module_utils.libvirt.ephemeral import (
            ephemeral_base_name, swap_base_name)
        self.stable_uuid = dx.stable_uuid
        self.base_name = base_name
        self.ephemeral = ephemeral_base_name(1, EPHEMERAL_FS)
        self.swap = swap_base_name(16)

    # -- one case ---------------------------------------------------------------------------------
    def case(self, label, kind, at, module, args, watch, domain=None, shows=None, directory=False):
        """Plant ``kind`` at ``at``, run ``module`` with ``args``, judge.  ``watch``: the roots whose
        every entry must stay as it was; ``shows``: what the message must name (default: ``at``).
        A ``directory`` site's symbolic link points to a canary directory (holding a canary file), whose
        every entry must stay as it was too."""
        from ansible_collections.novaops.compute.tests.unit.plugins.canaries import plant  # noqa: E402
        self.cases += 1
        self.number += 1
        what = "%s [%s at %s]" % (label, kind, at)
        canary = self.canaries.make("c%d-%s" % (self.number, kind))
        watch = list(watch)
        if directory and kind == "symlink":
            canary = os.path.join(self.canaries.directory, "d%d" % self.number)
            os.mkdir(canary)
            self.canaries.make("d%d/c" % self.number)
            watch.append(canary)
        plant(kind, at, canary, self.canaries)
        before = dict((root, tree(root)) for root in watch)      # (reads through a hard link: before the reset)
        dom_before = domain_view(domain) if domain else None
        self.canaries.reset()
        outcome = module_runner.run(module, args, timeout=RUN_TIMEOUT[0], workdir=os.path.join(WORK, "runs"))
        problems = self.canaries.problems()        # first: the comparison below reads the files
        crash = outcome.crash()
        result = outcome.result or {}
        msg = result.get("msg") or ""
        if crash:
            problems.append(crash)
        elif not outcome.failed:
            problems.append("accepted (changed=%s, actions=%s)" % (result.get("changed"), result.get("actions")))
        else:
            expected = shows or at
            if expected not in msg:
                problems.append("the message does not name %s: %s" % (expected, msg[:300]))
            if result.get("changed"):
                problems.append("failed but reports changed=true")
        for root in watch:
            after = tree(root)
            if after != before[root]:
                changed = sorted(k for k in set(after) | set(before[root]) if after.get(k) != before[root].get(k))
                problems.append("%s changed: %s" % (root, ", ".join(changed[:6])))
        if domain and domain_view(domain) != dom_before:
            problems.append("the domain %s changed: %s -> %s" % (domain, dom_before, domain_view(domain)))
        if problems:
            self.failures.append("%s: %s" % (what, "; ".join(problems)))
            print("FAIL %s: %s" % (what, "; ".join(problems)), flush=True)
        else:
            print("ok   %s: %s" % (what, msg[:150]), flush=True)

    # -- a new instance, booted from nothing ------------------------------------------------------
    def new_instance(self, site, kind, plant_at, extra=None, mkdirs=(), shows=None, directory=False):
        """libvirt_domain boots a new instance (state=defined) into a fresh instances path."""
        number = self.number + 1
        scenario = os.path.join(WORK, "s%d" % number)
        inst = os.path.join(scenario, "inst")
        name = "%s-n%d" % (TAG, number)
        instance_uuid = self.stable_uuid(name)
        os.makedirs(scenario)
        for rel in mkdirs:
            os.makedirs(os.path.normpath(os.path.join(inst, rel.replace("<uuid>", instance_uuid))), exist_ok=True)
        args = dict(name=name, instances_path=inst, virt_type="qemu", state="defined", timeout=30,
                    flavor=dict(vcpus=1, memory_mb=64, root_gb=0, ephemeral_gb=1, swap_mb=16),
                    ephemeral_format=EPHEMERAL_FS, image=dict(path=self.image))
        args.update(extra or {})
        plant_at = plant_at.replace("<uuid>", instance_uuid).replace("<sha1>", self.base_name(self.image))
        at = os.path.join(inst, plant_at) if plant_at else inst
        try:
            self.case("libvirt_domain, new instance: %s" % site, kind, at, "libvirt_domain", args, [scenario],
                      domain=name, shows=shows, directory=directory)
        finally:
            virsh("undefine", "--nvram", name)
            shutil.rmtree(scenario, ignore_errors=True)

    def new_instance_sites(self, wanted):
        sites = [
            ("instances_path", "", DIR_KINDS, ("..",), None),
            ("_base", "_base", DIR_KINDS, ("",), None),
            ("the image's base", "_base/<sha1>", FILE_KINDS, ("_base",), None),
            ("the base's .part", "_base/<sha1>.part", FILE_KINDS, ("_base",), None),
            ("the base's .lock", "_base/<sha1>.lock", FILE_KINDS, ("_base",), None),
            ("the ephemeral base", "_base/" + self.ephemeral, FILE_KINDS, ("_base",), None),
            ("the swap base's .part", "_base/%s.part" % self.swap, FILE_KINDS, ("_base",), None),
            ("the instance directory", "<uuid>", DIR_KINDS, ("",), None),
            ("disk", "<uuid>/disk", FILE_KINDS, ("<uuid>",), None),
            ("disk.local", "<uuid>/disk.local", FILE_KINDS, ("<uuid>",), None),
            ("disk.swap", "<uuid>/disk.swap", FILE_KINDS, ("<uuid>",), None),
            ("libvirt.xml", "<uuid>/libvirt.xml", FILE_KINDS, ("<uuid>",), None),
            ("the operation lock file", "<uuid>/novaops-task.lock", FILE_KINDS, ("<uuid>",), None),
        ]
        for site, plant_at, kinds, mkdirs, shows in sites:
            if self.wanted(wanted, "new instance " + site):
                for kind in kinds:
                    self.new_instance(site, kind, plant_at, mkdirs=mkdirs, shows=shows, directory=kinds == DIR_KINDS)
        if self.wanted(wanted, "new instance volumes[].name"):
            for kind in FILE_KINDS:
                self.new_instance("volumes[].name", kind, "<uuid>/vol1", mkdirs=("<uuid>",),
                                  extra=dict(volumes=[dict(name="vol1", format="raw", size_mb=8)]))
        if self.wanted(wanted, "new instance volumes[].path"):
            for kind in FILE_KINDS:
                where = os.path.join(WORK, "volumes")
                os.makedirs(where, exist_ok=True)
                self.new_instance("volumes[].path", kind, os.path.join(where, "vol-%d" % self.number),
                                  extra=dict(volumes=[dict(path=os.path.join(where, "vol-%d" % self.number),
                                                           format="raw", size_mb=8)]))
        if self.wanted(wanted, "new instance image.path"):
            for kind in FILE_KINDS:
                where = os.path.join(WORK, "images-planted")
                os.makedirs(where, exist_ok=True)
                path = os.path.join(where, "image-%d.qcow2" % self.number)
                self.new_instance("image.path", kind, path, extra=dict(image=dict(path=path)))

    # -- an existing instance (shut off), and what snapshot and resize take of it ------------------
    def existing(self, wanted):
        inst = os.path.join(WORK, "existing", "inst")
        name = "%s-ex" % TAG
        instance_uuid = self.stable_uuid(name)
        idir = os.path.join(inst, instance_uuid)
        boot = dict(name=name, instances_path=inst, virt_type="qemu", state="defined", timeout=30,
                    flavor=dict(vcpus=1, memory_mb=64, root_gb=0, ephemeral_gb=1, swap_mb=16),
                    ephemeral_format=EPHEMERAL_FS, image=dict(path=self.image))
        done = module_runner.run("libvirt_domain", boot, timeout=300, workdir=os.path.join(WORK, "runs"))
        if done.failed:
            self.failures.append("the existing instance could not be booted: %s" % (done.result or {}).get("msg"))
            return
        dest = os.path.join(WORK, "existing", "host2")
        snaps = os.path.join(WORK, "existing", "snapshots")
        os.makedirs(dest)
        os.makedirs(snaps)
        glance = dict(url=self.glance_url, project_id=TAG, roles=["admin"], timeout=60)
        snapshot = dict(name=name, image_name=TAG + "-snap", mode="cold", snapshots_directory=snaps, glance=glance,
                        timeout=60)
        resize = dict(uuid=instance_uuid, state="migrated", instances_path=inst, dest_instances_path=dest,
                      flavor=dict(vcpus=1, memory_mb=64, root_gb=1, ephemeral_gb=1, swap_mb=16), timeout=60,
                      shutdown_timeout=5)
        rescue = dict(boot, rescue=True, rescue_image=dict(path=self.image))
        watch = [os.path.join(WORK, "existing")]
        try:
            for site, module, args, at, kinds, shows in [
                    ("libvirt_domain: unrescue.xml", "libvirt_domain", boot, os.path.join(idir, "unrescue.xml"),
                     FILE_KINDS, None),
                    ("libvirt_domain rescue: disk.rescue", "libvirt_domain", rescue, os.path.join(idir, "disk.rescue"),
                     FILE_KINDS, None),
                    ("libvirt_snapshot: snapshots_directory", "libvirt_snapshot", snapshot, snaps + "-planted",
                     DIR_KINDS, None),
                    ("libvirt_resize: <uuid>_resize", "libvirt_resize", resize, idir + "_resize", DIR_KINDS, None),
                    ("libvirt_resize: dest_instances_path", "libvirt_resize", resize, dest + "-planted", DIR_KINDS,
                     None),
                    ("libvirt_resize: the destination's instance directory", "libvirt_resize", resize,
                     os.path.join(dest, instance_uuid), DIR_KINDS, None),
            ]:
                if not self.wanted(wanted, site):
                    continue
                for kind in kinds:
                    case_args = args
                    if at.endswith("-planted"):        # the option itself names the plant
                        key = "snapshots_directory" if module == "libvirt_snapshot" else "dest_instances_path"
                        case_args = dict(args, **{key: at})
                    try:
                        self.case(site, kind, at, module, case_args, watch, domain=name, shows=shows,
                                  directory=kinds == DIR_KINDS)
                    finally:
                        _remove(at)
            if self.wanted(wanted, "libvirt_snapshot: the domain's disk"):
                disk = os.path.join(idir, "disk")
                os.rename(disk, disk + ".kept")
                try:
                    for kind in FILE_KINDS:
                        try:
                            self.case("libvirt_snapshot: the domain's disk", kind, disk, "libvirt_snapshot", snapshot,
                                      watch, domain=name)
                        finally:
                            _remove(disk)
                finally:
                    os.rename(disk + ".kept", disk)
        finally:
            virsh("destroy", name)
            virsh("undefine", "--nvram", "--managed-save", name)

    # -- file options (a module's own input guard) ------------------------------------------------
    def file_options(self, wanted):
        env = os.environ
        where = os.path.join(WORK, "files")
        os.makedirs(where, exist_ok=True)
        xen = dict(url=env.get("XENAPI_POOL_A_URL", "https://127.0.0.1:1"), username="root",
                   password=env.get("XENAPI_POOL_A_PASSWORD", "x"))
        ssh = dict(ssh_host=env.get("NOVAOPS_SSH_HOST", "127.0.0.1"), ssh_port=int(env.get("NOVAOPS_SSH_PORT", 22)))
        lv = dict(name=TAG + "-fo", instances_path=os.path.join(WORK, "fo-inst"), virt_type="qemu", state="defined",
                  flavor=dict(vcpus=1, memory_mb=64), image=dict(url="https://127.0.0.1:1/i.qcow2"))
        options = [
            ("libvirt_domain", lv, ("image", "ca_path")),
            ("libvirt_domain", dict(lv, glance=dict(url="https://127.0.0.1:1")), ("glance", "ca_path")),
            ("libvirt_snapshot", dict(name=TAG + "-fo", image_name=TAG + "-fo", glance=dict(url="https://127.0.0.1:1")),
             ("glance", "ca_path")),
            ("libvirt_resize", dict(ssh, uuid=str(uuid.uuid4()), state="migrated"), ("ssh_private_key_file",)),
            ("libvirt_resize", dict(ssh, uuid=str(uuid.uuid4()), state="migrated"), ("ssh_known_hosts_file",)),
            ("vhd_migrate", dict(xen, vdi_uuid=str(uuid.uuid4()), dest_url=xen["url"], **ssh), ("ssh_private_key_file",)),
            ("vhd_migrate", dict(xen, vdi_uuid=str(uuid.uuid4()), dest_url=xen["url"], **ssh), ("dest_ca_path",)),
            ("xen_vm_info", dict(xen, name=TAG), ("ca_path",)),
        ]
        for module, base, option in options:
            label = "%s: %s" % (module, ".".join(option))
            if not self.wanted(wanted, label):
                continue
            for kind in FILE_KINDS:
                at = os.path.join(where, "%s-%d" % (option[-1], self.number))
                args = json.loads(json.dumps(base))
                target = args
                for key in option[:-1]:
                    target = target.setdefault(key, {})
                target[option[-1]] = at
                try:
                    self.case(label, kind, at, module, args, [where], shows=".".join(option))
                finally:
                    _remove(at)

    @staticmethod
    def wanted(words, label):
        return not words or any(word in label for word in words)


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="", help="comma-separated words: the sites whose label holds one")
    parser.add_argument("--timeout", type=int, default=RUN_TIMEOUT[0], help="seconds a case's run may take")
    opts = parser.parse_args()
    RUN_TIMEOUT[0] = opts.timeout
    sys.path.insert(0, collections_root())
    from ansible_collections.novaops.compute.tests.unit.plugins.canaries import Canaries  # noqa: E402
    started = time.monotonic()
    for path in (WORK, os.path.join(WORK, "images"), os.path.join(WORK, "runs")):
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o755)         # QEMU (libvirt-qemu) traverses them
    sh("qemu-img", "create", "-q", "-f", "qcow2", os.path.join(WORK, "images", "image.qcow2"), "16M")
    with Canaries(os.path.join(WORK, "canaries")) as canaries:
        corpus = Planted(canaries, os.environ["OS_IMAGE_URL"])
        words = [w for w in opts.only.split(",") if w]
        try:
            corpus.new_instance_sites(words)
            corpus.existing(words)
            corpus.file_options(words)
        finally:
            # every domain of this run, also one a run killed at its timeout defined after our undefine
            for name in virsh("list", "--all", "--name").stdout.split():
                if name.startswith(TAG):
                    virsh("destroy", name)
                    virsh("undefine", "--nvram", "--managed-save", name)
            shutil.rmtree(WORK, ignore_errors=True)
    print("planted links: %d cases in %.0fs; %d failure(s)"
          % (corpus.cases, time.monotonic() - started, len(corpus.failures)), flush=True)
    return 1 if corpus.failures or not corpus.cases else 0


if __name__ == "__main__":
    sys.exit(main())
