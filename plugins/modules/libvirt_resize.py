#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: libvirt_resize
short_description: Resize or cold-migrate a libvirt instance with confirm and revert, as Nova's libvirt driver did
version_added: 0.1.0
description:
  - Nova's three steps of a libvirt resize or cold migration, as states of the instance on its source host.
  - V(migrated) powers the domain off (a clean shutdown waited for O(shutdown_timeout) seconds, then destroy),
    moves its instance directory C(<instances_path>/<uuid>) to C(<uuid>_resize), and puts its disks into the
    destination instance directory C(<dest_instances_path>/<uuid>) - qcow2 overlays flattened into standalone
    qcow2 images (C(qemu-img convert)), other disks copied as they are - with C(rsync --sparse) over ssh when
    O(ssh_host) names another host, or locally (a temporary file renamed into place) on this host.
    The old domain definition and the power state are kept in the C(_resize) directory for revert.
  - Then M(novaops.compute.libvirt_domain) on the destination defines the new flavor, grows the disks (never
    shrinks them) and starts the instance; that step is not this module's.
  - V(confirmed) removes C(<uuid>_resize) and, when the destination was another host, the source's domain
    definition.
  - V(reverted) stops and removes the destination's domain and copy, moves C(<uuid>_resize) back, redefines the
    old definition and restores the power state the instance had before the resize.
  - A flavor smaller than a disk (root or ephemeral) is refused before anything moves. The original stays
    intact until confirmed. A failure while V(migrated) runs is rolled back at once (the copy removed, the
    directory moved back, the power state restored; a copy on a destination ssh no longer reaches stays there,
    reported in RV(remote_leftovers), and the instance is restored all the same); if the module itself is killed half way, its operation
    lock is left stale, and a re-run of the same state with O(clear_stale_lock=true) completes it, or
    V(reverted) (with it too) undoes it.
  - Every state is idempotent; a second run changes nothing. V(confirmed) or V(reverted) with no resize pending
    is no change, and RV(msg) says so; a O(name) or O(uuid) that matches no instance (no domain on this host or at
    O(dest_uri), no instance directory) is an error naming it.
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.libvirt
  - novaops.compute.operation_lock
attributes:
  check_mode:
    support: full
    description: Reports the actions it would take and the resize facts it expects; moves nothing.
  diff_mode:
    support: full
    description: Shows the resize status, the domain's state and the directories before and after.
options:
  name:
    description:
      - The domain's name on the source host. O(uuid) is better for re-runs across hosts.
    type: str
  uuid:
    description:
      - The domain's UUID, which names its instance directory.
      - With O(name) too, the domain of that name on this host, if there is one, must have this UUID (else
        refused before anything moves); when there is none (the instance went to another host), this UUID
        finds the instance.
    type: str
  state:
    description:
      - V(migrated) - the source side of a resize or cold migration is done (powered off, moved to
        C(_resize), copied to the destination).
      - V(confirmed) - the resize is kept; the original in C(_resize) is removed.
      - V(reverted) - the resize is undone; the instance is back on the source, with its old definition,
        its bytes and its prior power state.
    type: str
    required: true
    choices: [migrated, confirmed, reverted]
  instances_path:
    description:
      - The directory of instance directories on the source host (this host).
    type: path
    default: /var/lib/nova/instances
  dest_instances_path:
    description:
      - The directory of instance directories on the destination. Defaults to O(instances_path).
      - On this host (no O(ssh_host)) and equal to O(instances_path), the new instance directory takes the old
        one's place (Nova's resize on the same host).
      - Once a resize started, the destination is the recorded one; a different one is refused.
    type: path
  flavor:
    description:
      - The new flavor, as M(novaops.compute.libvirt_domain) takes it. Only the disk sizes matter here; a root
        or ephemeral size smaller than the disk is refused before anything moves. C(disk.swap) is copied only
        when the new flavor keeps its size (otherwise the destination makes a new one).
      - Omitted, every disk is copied (a cold migration).
    type: dict
    suboptions:
      vcpus:
        description: vCPUs (not used here; accepted so that the same flavor can be given to both modules).
        type: int
      memory_mb:
        description: Memory in MiB (not used here).
        type: int
      root_gb:
        description: Root disk size in GiB; V(0) keeps the image's size.
        type: int
        default: 0
      ephemeral_gb:
        description: Size of C(disk.local) in GiB; V(0) for none.
        type: int
        default: 0
      swap_mb:
        description: Size of C(disk.swap) in MiB; V(0) for none.
        type: int
        default: 0
      root_mb:
        description:
          - Not used (accepted so that a flavor written for both drivers can be given as it is; libvirt sizes the
            root disk by O(flavor.root_gb)). Left out of the flavor recorded and returned in RV(finish).
        type: int
  dest_uri:
    description:
      - libvirt URI of the destination host, for example C(qemu+ssh://root@hv2/system). Needed to revert a
        completed migration to another host, whose domain definition there must go.
      - When it reaches the same libvirtd as O(uri) (the same host UUID), the destination's definition is the
        instance's one definition; revert then redefines it rather than undefining it.
    type: str
  ssh_host:
    description:
      - The destination host, as this host reaches it over ssh. Omitted, the destination is this host.
    type: str
  ssh_port:
    description: Its ssh port.
    type: int
    default: 22
  ssh_user:
    description: The user to log in as; it must be able to write O(dest_instances_path).
    type: str
    default: root
  ssh_private_key:
    description: The private key (its contents); written to a private temporary file for the run, never logged.
    type: str
  ssh_private_key_file:
    description: A file on this host holding the private key.
    type: path
  ssh_known_hosts:
    description:
      - known_hosts lines for the destination. Host keys are always checked (C(StrictHostKeyChecking=yes));
        without these lines or O(ssh_known_hosts_file), against the user's own known_hosts.
    type: str
  ssh_known_hosts_file:
    description: A known_hosts file for the destination.
    type: path
  insecure_ignore_host_key:
    description: Do not check the destination's host key (C(StrictHostKeyChecking=no)). An explicit opt-out only.
    type: bool
    default: false
  ssh_connect_timeout:
    description: Seconds ssh may take to connect.
    type: int
    default: 30
  bwlimit:
    description: rsync bandwidth limit in KiB/s; V(0) for none.
    type: int
    default: 0
  shutdown_timeout:
    description: Seconds to wait for a clean shutdown before the domain is destroyed.
    type: int
    default: 60
  timeout:
    description: Seconds to wait for a domain to be destroyed or to start.
    type: int
    default: 120
requirements:
  - qemu-img on the source host; ssh and rsync on both hosts for a destination reached over ssh
notes:
  - The module runs on the source host. Disks outside the instance directory (volumes) stay where they are.
  - Data the instance wrote on the destination is lost on revert, as with Nova.
  - A paused, suspended (managed-save) or rescued instance is refused; bring it to running or shut off first,
    as Nova required.
seealso:
  - module: novaops.compute.libvirt_domain
  - module: novaops.compute.libvirt_domain_info
'''

EXAMPLES = r'''
- name: Resize web1 to a bigger flavor on another host (source side)
  novaops.compute.libvirt_resize:
    uuid: 0f4b8ae3-8bd7-5d56-9b0a-3b5b0a1d2c3e
    state: migrated
    flavor: {vcpus: 4, memory_mb: 4096, root_gb: 40, swap_mb: 512}
    ssh_host: hv2.example.com
    ssh_private_key_file: /root/.ssh/migration
    ssh_known_hosts_file: /etc/novaops/known_hosts
  delegate_to: hv1.example.com

- name: Finish on the destination - define the new flavor, grow the disks, start
  novaops.compute.libvirt_domain:
    name: web1
    uuid: 0f4b8ae3-8bd7-5d56-9b0a-3b5b0a1d2c3e
    flavor: {vcpus: 4, memory_mb: 4096, root_gb: 40, swap_mb: 512}
  delegate_to: hv2.example.com

- name: Keep it
  novaops.compute.libvirt_resize:
    uuid: 0f4b8ae3-8bd7-5d56-9b0a-3b5b0a1d2c3e
    state: confirmed
  delegate_to: hv1.example.com

- name: Or undo it (the destination's definition goes through dest_uri)
  novaops.compute.libvirt_resize:
    uuid: 0f4b8ae3-8bd7-5d56-9b0a-3b5b0a1d2c3e
    state: reverted
    dest_uri: qemu+ssh://root@hv2.example.com/system
    ssh_private_key_file: /root/.ssh/migration
    ssh_known_hosts_file: /etc/novaops/known_hosts
  delegate_to: hv1.example.com

- name: Resize on the same host
  novaops.compute.libvirt_resize:
    name: web1
    state: migrated
    flavor: {vcpus: 2, memory_mb: 2048, root_gb: 20}
'''

RETURN = r'''
resize:
  description: The resize of the instance after the run (in check mode, as it would be).
  returned: always
  type: dict
  contains:
    uuid:
      description: The instance's UUID.
      type: str
    name:
      description: The domain's name.
      type: str
    status:
      description:
        - V(none) (no resize in progress), V(migrating) (started, not complete), V(migrated) (awaiting confirm
          or revert) or V(reverting) (moved back, the definition and power state being restored).
      type: str
      sample: migrated
    domain_state:
      description: The domain's state on this host's libvirt (V(undefined) when there is none).
      type: str
      sample: shutoff
    prior_state:
      description: The power state before the resize, restored on revert (V(running) or V(shutoff)).
      type: str
    instance_dir:
      description: The source instance directory.
      type: str
    resize_dir:
      description: The C(<uuid>_resize) directory holding the original, or null when there is none.
      type: str
    destination:
      description: Where the instance goes (C(host) null for this host, C(instances_path), C(instance_dir)).
      type: dict
    files:
      description: The files the resize moves, with C(method) (V(flatten) or V(copy)) and C(copied).
      type: list
      elements: dict
      sample: [{name: disk, method: flatten, copied: true}, {name: disk.local, method: copy, copied: true}]
bytes_transferred:
  description: Bytes of the files this run put into the destination.
  returned: always
  type: int
transfers:
  description: Per file of this run, C(bytes), C(method) and C(duration) in seconds.
  returned: always
  type: dict
power_off:
  description:
    - How this run powered the domain off - V(shutdown) (the guest shut down cleanly within O(shutdown_timeout))
      or V(destroyed) (it did not, or it was paused) - or null.
  returned: always
  type: str
msg:
  description: With V(confirmed) or V(reverted) and no resize pending, what was found (nothing was to be done).
  returned: when nothing was pending
  type: str
  sample: No resize of web1 (0f4b8ae3-8bd7-5d56-9b0a-3b5b0a1d2c3e) waits for confirm or revert (none is pending); there was nothing to confirm.
operation_lock:
  description:
    - What the run did to operation locks not its own. C(cleared) and C(taken_over) list the stale marks it
      removed (O(clear_stale_lock), or a hard reboot); C(cleaned_up) what a killed xen_vdi_resize had left
      and this run removed; C(stale) a stale mark it left alone, having nothing to do.
    - In a refusal, C(busy) is the mark of the operation in the way.
  returned: when the instance carried the mark of another run
  type: dict
  sample:
    cleared:
      - operation: xen_vdi_resize
        owner: "hv1:4242"
        started_at: "2026-03-01T10:00:00Z"
        source: other_config
        stale: true
        stale_reason: its owner, process 4242 on this host, is gone
actions:
  description: The actions taken (or, in check mode, that would be taken), in order.
  returned: always
  type: list
  elements: str
  sample: [record, power_off, move_to_resize, create_dest_dir, "flatten:disk", "copy:disk.local", "copy:libvirt.xml",
           finish_migration]
rolled_back:
  description: After a failed V(migrated), the actions of the automatic rollback.
  returned: on failure after something moved
  type: list
  elements: str
remote_leftovers:
  description:
    - After a failed V(migrated) to another host that ssh could no longer reach, the partial copies the rollback
      left there (the instance is put back and powered as before all the same); empty when none.
    - A new resize overwrites them; otherwise remove them by hand.
  returned: on failure after something moved
  type: list
  elements: dict
  contains:
    host: {description: The destination host., type: str}
    path: {description: The instance directory there., type: str}
    error: {description: Why it could not be removed., type: str}
finish:
  description:
    - What the destination's step after a migration (M(novaops.compute.libvirt_domain) there) is to do, so that
      the caller passes it on as it is.
    - C(flavor) - the flavor to define (as given, without O(flavor.root_mb)); C(state) - that module's O(state)
      to bring the instance to, V(running) when it ran before the resize (RV(resize.prior_state)) or, for a
      resize found already done (run again after its confirm), when it runs now, else V(shutdown);
      C(domain_state) - the libvirt state the domain then has, V(running) or V(shutoff).
  returned: with O(state=migrated)
  type: dict
  contains:
    flavor: {description: The flavor to define at the destination., type: dict}
    state: {description: The O(novaops.compute.libvirt_domain#module:state) to bring it to., type: str}
    domain_state: {description: The domain's state once there., type: str}
  sample: {flavor: {vcpus: 2, memory_mb: 2048, root_gb: 20, ephemeral_gb: 0, swap_mb: 0}, state: running,
           domain_state: running}
duration:
  description: Seconds the run took.
  returned: always
  type: float
'''

import contextlib
import functools
import os

from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import check_uuid
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import domain_xml as dx
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import instance_dir as inst
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import resize_record as record
from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.disk_transfer import DiskTransfer, remove_scratch
from ansible_collections.novaops.compute.plugins.module_utils.disks.diskops import QemuImg
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.confined import Root
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import (
    LibvirtConnection, LibvirtError, domain_state, is_libvirt_error, libvirt_argument_spec, power_off,
    quiet_libvirt_errors, wait_for_state)
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.operation_lock import LibvirtOperationLock
from ansible_collections.novaops.compute.plugins.module_utils.common.module import NovaopsModule
from ansible_collections.novaops.compute.plugins.module_utils.common.operation_lock import lock_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.common.plan import Manager, Plan
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.resize_disks import (
    COPY, check_fits, describe, instance_disks, keeps)
from ansible_collections.novaops.compute.plugins.module_utils.common.ssh_host import SshHost, ssh_argument_spec

XML_INACTIVE_SECURE = 2 | 1
ACTIVE = ("running", "blocked", "paused", "pmsuspended", "shutdown")
PRIOR_STATES = {"running": "running", "blocked": "running", "shutoff": "shutoff", "crashed": "shutoff"}


def argument_spec():
    return ArgumentSpec(dict(
        name=dict(type="str"),
        uuid=dict(type="str"),
        state=dict(type="str", required=True, choices=["migrated", "confirmed", "reverted"]),
        instances_path=dict(type="path", default="/var/lib/nova/instances"),
        dest_instances_path=dict(type="path"),
        flavor=dict(type="dict", options=dict(
            vcpus=dict(type="int"), memory_mb=dict(type="int"), root_gb=dict(type="int", default=0),
            ephemeral_gb=dict(type="int", default=0), swap_mb=dict(type="int", default=0),
            root_mb=dict(type="int"))),
        dest_uri=dict(type="str"),
        bwlimit=dict(type="int", default=0),
        shutdown_timeout=dict(type="int", default=60),
        timeout=dict(type="int", default=120),
    ), required_one_of=[("name", "uuid")],
        input_rules={"uuid": rules.Uuid(), "flavor.memory_mb": rules.AMOUNT, "flavor.root_gb": rules.AMOUNT,
                     "flavor.ephemeral_gb": rules.AMOUNT, "flavor.swap_mb": rules.AMOUNT, "flavor.root_mb": rules.AMOUNT,
                     "bwlimit": rules.AMOUNT,
                     "shutdown_timeout": rules.SECONDS, "timeout": rules.SECONDS},
    ).merge(libvirt_argument_spec()).merge(ssh_argument_spec()).merge(
        lock_argument_spec())


def libvirt_flavor(flavor):
    """The flavor as libvirt takes it: without root_mb (XenAPI's finer grain of the root disk), so that the flavor
    recorded, compared and handed on is libvirt_domain's."""
    if flavor is None:
        return None
    return dict((key, value) for key, value in flavor.items() if key != "root_mb")


def finish(prior_state, flavor):
    """What the destination's libvirt_domain is to do after the migration: define the flavor and bring the
    instance to its power state from before - running when it ran, else shut off.  A resize found already
    done (no record) passes the state the instance is in now."""
    running = prior_state == "running"
    return dict(flavor=flavor, state="running" if running else "shutdown",
                domain_state="running" if running else "shutoff")


def foreseen(what):
    """An action whose OS or libvirt error becomes a NovaopsError naming it (so a failed migration rolls back)."""
    def wrap(action):
        @functools.wraps(action)
        def run(*args, **kwargs):
            try:
                return action(*args, **kwargs)
            except NovaopsError:
                raise
            except OSError as exc:
                raise NovaopsError("%s%s failed: %s" % (what[0].upper(), what[1:], exc)) from exc
            except Exception as exc:
                if is_libvirt_error(exc):
                    raise LibvirtError.from_exception(exc, "%s%s failed" % (what[0].upper(), what[1:])) from exc
                raise
        return run
    return wrap


class Resize(Manager):
    """One instance's resize, seen from its source host."""

    def __init__(self, module, conn, dest_conn=None):
        super().__init__(module)
        self.params["flavor"] = libvirt_flavor(self.params["flavor"])
        self.conn = conn
        self.dest_conn = dest_conn
        self.qemu_img = QemuImg.from_module(module)
        self.stack = contextlib.ExitStack()
        self._remote = None
        self.uuid = None
        self.idir = None
        self.where = None
        self.record = None
        self.bytes = 0
        self.transfers = {}
        self.powered_off = None
        self.note = None           # the result's msg: confirm or revert with nothing pending
        self.resized_state = None  # a resize already done (no record): the power state it is in now
        self.leftovers = []        # what a rollback could not remove at an unreachable destination

    # -- reading -------------------------------------------------------------------------------
    def lookup(self):
        """The domain on this host, and its UUID (found once, then kept: it may be undefined later)."""
        p = self.params
        if self.uuid is None:
            dom = self.conn.lookup(name=p["name"]) if p["name"] else None
            if dom is not None:
                self.uuid = self.uuid_of_named(dom)
            elif p["uuid"]:
                self.uuid = check_uuid(p["uuid"])
            else:
                raise NovaopsError("No domain named %r (name) at %s: there is no such instance here. Check the "
                                   "name (in the resize role resize_name, by default the inventory variable "
                                   "instance_name, else the inventory host name), or give its uuid (which "
                                   "names its instance directory). Nothing was changed."
                                   % (p["name"], self.conn.uri))
        dom = self.conn.lookup(uuid=self.uuid)
        if dom is not None and p["name"] and dom.name() != p["name"]:
            raise NovaopsError("The domain with UUID %s is named %s, not %s." % (self.uuid, dom.name(), p["name"]))
        return dom

    def uuid_of_named(self, dom):
        """The UUID of the domain named so here; a uuid given too must be it (one instance, not two)."""
        found = dom.UUIDString()
        given = self.params["uuid"]
        if given and check_uuid(given).lower() != found.lower():
            raise NovaopsError("The domain named %s at %s has the UUID %s, not %s (uuid; in the resize role "
                               "instance_uuid): they name two instances. Nothing was changed."
                               % (dom.name(), self.conn.uri, found, given))
        return found

    def read(self):
        dom = self.lookup()
        self.idir = inst.InstanceDir(self.params["instances_path"], self.uuid)
        self.where, self.record = record.locate(self.idir)
        rec = self.record or {}
        dest = self.destination()
        copied = rec.get("copied") or {}
        return dict(
            uuid=self.uuid, name=dom.name() if dom is not None else rec.get("name") or self.params["name"],
            status=rec.get("phase", "none"), prior_state=rec.get("prior_state"),
            domain_state=domain_state(dom)[0] if dom is not None else "undefined",
            instance_dir=self.idir.path,
            resize_dir=self.idir.resize_path if self.idir.root.isdir(self.idir.resize_name) else None,
            destination=dict(dest, instance_dir=self.dest_dir(dest)) if self.record else None,
            files=[dict(name=f["name"], method=f["method"], copied=f["name"] in copied)
                   for f in rec.get("files") or []])

    def destination(self):
        """Where the instance goes: the recorded place once a resize started, else the parameters'."""
        p = self.params
        host = p["ssh_host"] or None
        path = p["dest_instances_path"] or p["instances_path"]
        if not os.path.isabs(path):
            raise NovaopsError("dest_instances_path %r is not absolute." % path)
        wanted = dict(host=host, port=p["ssh_port"] if host else None, user=p["ssh_user"] if host else None,
                      instances_path=os.path.normpath(path))
        if self.record is None:
            return wanted
        have = self.record["destination"]
        if (host and host != have["host"]) or \
                (p["dest_instances_path"] and wanted["instances_path"] != have["instances_path"]):
            raise NovaopsError("Instance %s is already being resized to %s (status %s); confirm or revert that "
                               "resize before another." % (self.uuid, self._where_to(have), self.record["phase"]))
        return have

    @staticmethod
    def _where_to(dest):
        return "%s:%s" % (dest["host"], dest["instances_path"]) if dest["host"] else dest["instances_path"]

    def dest_dir(self, dest):
        return os.path.join(dest["instances_path"], self.uuid)

    @staticmethod
    def dest_root(dest):
        """The destination instances path on this host, reached without following links."""
        return Root(dest["instances_path"], "dest_instances_path")

    def remote(self, dest):
        """The destination as ssh reaches it (its secrets live until the run ends), or None for this host."""
        if not dest["host"]:
            return None
        if self._remote is None:
            p = self.params
            ssh, rsync = self.module.get_bin_path("ssh"), self.module.get_bin_path("rsync")
            if ssh is None or rsync is None:
                raise NovaopsError("ssh and rsync are needed on this host to reach %s; install openssh-client "
                                   "and rsync." % dest["host"])
            self._remote = self.stack.enter_context(SshHost(
                self.module.run_command, dest["host"], dest["port"], dest["user"], p["ssh_private_key"],
                p["ssh_private_key_file"], p["ssh_known_hosts"], p["ssh_known_hosts_file"],
                p["insecure_ignore_host_key"], p["ssh_connect_timeout"], ssh=ssh, rsync=rsync))
        return self._remote

    def operation_lock(self, before):
        """The instance's lock file (in <uuid>, or in <uuid>_resize while the original waits there) and
        the mark of its domain on this host."""
        return LibvirtOperationLock(self.conn, "Domain %s (%s)" % (before["name"], self.uuid),
                                    "libvirt_resize %s" % self.params["state"], self.params,
                                    instance_dir=self.idir.path, uuid=self.uuid)

    # -- planning ------------------------------------------------------------------------------
    def plan(self, before, plan):
        state = self.params["state"]
        if state == "migrated":
            return self.plan_migrated(before, plan)
        if state == "confirmed":
            return self.plan_confirmed(before, plan)
        return self.plan_reverted(before, plan)

    def plan_migrated(self, before, plan):
        rec = self.record
        if rec and rec["phase"] == record.REVERTING:
            raise NovaopsError("A revert of instance %s is half done; finish it with state=reverted first." % self.uuid)
        dest = self.destination()
        if rec is not None:
            self.check_same_flavor(rec)
            if rec["phase"] == record.MIGRATED:
                return before
        elif self.already_resized(dest):
            return before
        else:
            rec = self.plan_record(before, plan, dest)
        if before["domain_state"] in ACTIVE:
            plan.add("power_off", self.power_off)
        if self.where != self.idir.resize_name:
            plan.add("move_to_resize", self.move_to_resize)
        plan.add("create_dest_dir", self.create_dest_dir, dest)
        copied = rec.get("copied") or {}
        for entry in rec["files"]:
            if entry["name"] not in copied:
                plan.add("%s:%s" % (entry["method"], entry["name"]), self.put, dest, entry)
        plan.add("finish_migration", self.finish_migration)
        return dict(before, status=record.MIGRATED, prior_state=rec["prior_state"], resize_dir=self.idir.resize_path,
                    destination=dict(dest, instance_dir=self.dest_dir(dest)),
                    domain_state="shutoff" if before["domain_state"] in ACTIVE else before["domain_state"],
                    files=[dict(name=f["name"], method=f["method"], copied=True) for f in rec["files"]])

    def already_resized(self, dest):
        """Whether a new resize has nothing to do: the domain already lives in the destination directory with
        the flavor asked (a whole resize run again after its confirm)."""
        dom = self.lookup()
        if dom is None and self.dest_conn is not None:
            dom = self.dest_conn.lookup(uuid=self.uuid)   # the destination's own libvirt: its definition
        elif dom is not None and (dest["host"] or self.dest_dir(dest) != self.idir.path) and \
                self.is_source_definition(dom, dest):
            return False
        if dom is None:
            return False
        facts = dx.parse_domain_xml(dom.XMLDesc(2))
        flavor = self.params["flavor"]
        recorded = (facts.get("metadata") or {}).get("flavor") or {}
        if flavor is not None and any(recorded.get(key) != value for key, value in flavor.items() if value is not None):
            return False
        # the finish step keeps it as it is (a shut-off "state from before" would stop a running instance)
        self.resized_state = "running" if dom.isActive() else "shutoff"
        return True

    def plan_record(self, before, plan, dest):
        """Everything checked before anything moves; the record of the resize to write first."""
        dom = self.lookup()
        if dom is None:
            raise NovaopsError("No domain with UUID %s (uuid) at %s: there is no such instance here. Nothing was "
                               "changed." % (self.uuid, self.conn.uri))
        prior = PRIOR_STATES.get(before["domain_state"])
        if prior is None:
            raise NovaopsError("Domain %s is %s; a resize needs it running or shut off (as Nova's ACTIVE or "
                               "STOPPED)." % (dom.name(), before["domain_state"]))
        if not self.idir.exists:
            raise NovaopsError("Domain %s has no instance directory %s." % (dom.name(), self.idir.path))
        if self.idir.has(inst.UNRESCUE_XML):
            raise NovaopsError("Domain %s is rescued; unrescue it before a resize." % dom.name())
        xml = dom.XMLDesc(XML_INACTIVE_SECURE)
        facts = dx.parse_domain_xml(xml)
        names, outside = instance_disks(facts, self.idir.path)
        if not names:
            raise NovaopsError("Domain %s has no disk in its instance directory %s; there is nothing to move."
                               % (dom.name(), self.idir.path))
        # each disk read as the format libvirt gives QEMU (raw when unsaid): a raw disk holds what the guest
        # wrote, which qemu-img left to guess could take for a qcow2 naming a host file as its backing file
        formats = dict((os.path.basename(os.path.normpath(d["path"])), d.get("format") or "raw")
                       for d in facts["disks"] if d.get("path"))
        disks = [describe(name, self.qemu_img.info(self.idir.file(name), formats.get(name, "raw"), backing_chain=True))
                 for name in names]
        check_fits(disks, self.params["flavor"])
        files = [dict(name=d["name"], method=d["method"], need=d["need"]) for d in disks
                 if keeps(d, self.params["flavor"])]
        if self.idir.has(inst.LIBVIRT_XML):
            files.append(dict(name=inst.LIBVIRT_XML, method=COPY,
                              need=self.idir.root.lstat(self.idir.rel(inst.LIBVIRT_XML)).st_size))
        if outside:
            self.module.warn("Disks outside the instance directory stay where they are: %s." % ", ".join(outside))
        self.check_space(files, dest)
        self.check_destination(dest)
        rec = dict(phase=record.MIGRATING, uuid=self.uuid, name=dom.name(), prior_state=prior,
                   source=dict(instances_path=self.idir.instances_path), destination=dest,
                   flavor=self.params["flavor"], files=files, copied={})
        plan.add("record", self.write_record, rec, xml)
        return rec

    def check_same_flavor(self, rec):
        flavor = self.params["flavor"]
        if flavor is not None and flavor != rec.get("flavor"):
            raise NovaopsError("Instance %s is already being resized to the flavor %s (status %s); confirm or revert "
                               "that resize before another." % (self.uuid, rec.get("flavor"), rec["phase"]))

    def check_space(self, files, dest):
        need = sum(f["need"] for f in files)
        remote = self.remote(dest)
        if remote is not None:
            free = remote.free_bytes(dest["instances_path"])
            scratch = max([f["need"] for f in files if f["method"] != COPY] or [0])
            if scratch > _free_bytes(self.idir.instances_path):
                raise NovaopsError("%s has %d bytes free; flattening the largest overlay before it is sent needs up "
                                   "to %d. Nothing was moved." % (self.idir.instances_path,
                                                                  _free_bytes(self.idir.instances_path), scratch))
        elif not self.dest_root(dest).isdir():
            raise NovaopsError("The destination instances path %s does not exist." % dest["instances_path"])
        else:
            free = _free_bytes(dest["instances_path"])
        if need > free:
            raise NovaopsError("The destination %s has %d bytes free; the instance's files need up to %d. Nothing "
                               "was moved." % (self._where_to(dest), free, need), bytes_free=free, bytes_needed=need)

    def check_destination(self, dest):
        """On this host, the destination instance directory is a real directory or nothing yet: a link (or
        anything else) planted there is refused before anything moves."""
        if dest["host"]:
            return
        root = self.dest_root(dest)
        if root.exists(self.uuid) and not root.isdir(self.uuid):
            raise NovaopsError("The destination instance directory %s is not a directory (a link?); refusing to copy "
                               "into it. Nothing was moved." % self.dest_dir(dest), path=self.dest_dir(dest))

    def nothing_pending(self, before, action):
        """Confirm or revert with no resize recorded: no change and a message that says so - or, when the UUID
        matches no instance at all (no domain here or at dest_uri, no instance directory), an error naming it."""
        found = before["domain_state"] != "undefined" or self.idir.exists or before["resize_dir"] or \
            (self.dest_conn is not None and self.dest_conn.lookup(uuid=self.uuid) is not None)
        if not found:
            raise NovaopsError(
                "No domain with UUID %s (uuid) at %s%s, and no instance directory %s: there is no such instance "
                "here. Check the uuid (in the resize role instance_uuid); after a confirm to another host the "
                "instance is there only (give dest_uri to find it). Nothing was changed." % (
                    self.uuid, self.conn.uri, " nor at %s" % self.dest_conn.uri if self.dest_conn else "",
                    self.idir.path))
        self.note = "No resize of %s (%s) waits for confirm or revert (none is pending); there was nothing to %s." % (
            before["name"] or self.uuid, self.uuid, action)
        return before

    def plan_confirmed(self, before, plan):
        rec = self.record
        if rec is None:
            return self.nothing_pending(before, "confirm")
        if self.where != self.idir.resize_name or rec["phase"] != record.MIGRATED:
            raise NovaopsError("The resize of instance %s is %s, not migrated; finish it with state=migrated or "
                               "undo it with state=reverted." % (self.uuid, self._progress(rec)))
        dest = self.destination()
        state = before["domain_state"]
        if dest["host"]:
            dom = self.lookup()
            if dom is not None and self.is_source_definition(dom, dest):
                if dom.isActive():
                    raise NovaopsError("Domain %s runs on this host from %s; it should be shut off after a "
                                       "migration. Nothing was removed." % (dom.name(), self.idir.path))
                plan.add("undefine_source", self.undefine, dom)
                state = "undefined"
        else:
            root = self.dest_root(dest)
            missing = [f["name"] for f in rec["files"] if not root.exists((self.uuid, f["name"]))]
            if missing:
                raise NovaopsError("The destination copy in %s lacks %s; revert instead. Nothing was removed."
                                   % (self.dest_dir(dest), ", ".join(missing)))
        plan.add("remove_resize_dir", self.remove_resize_dir)
        return dict(before, status="none", prior_state=None, resize_dir=None, destination=None, files=[],
                    domain_state=state)

    def plan_reverted(self, before, plan, rolling_back=False):
        """rolling_back: a failed migration undone at once; a destination out of reach then keeps the partial copy
        (reported in self.leftovers) rather than the instance its power."""
        rec = self.record
        if rec is None:
            return before if rolling_back else self.nothing_pending(before, "revert")
        dest = self.destination()
        state = before["domain_state"]
        if self.where == self.idir.resize_name:
            if rec["phase"] == record.MIGRATED:
                state = self.plan_destination_teardown(plan, dest, state)
            elif state in ACTIVE:
                plan.add("power_off", self.power_off)
                state = "shutoff"
            if rolling_back and dest["host"]:
                plan.add("remove_dest_copy", self.remove_dest_copy_if_reachable, dest)
            else:
                plan.add("remove_dest_copy", self.remove_dest_copy, dest)
            plan.add("move_back", self.move_back)
        old_xml = record.read_old_xml(self.idir, self.where)
        dom = self.lookup()
        current = dx.config_view(dx.parse_domain_xml(dom.XMLDesc(2))) if dom is not None else None
        if current != dx.config_view(dx.parse_domain_xml(old_xml)):
            plan.add("define_old", self.define_old, old_xml)
            state = "shutoff" if state == "undefined" else state
        if rec["prior_state"] == "running" and state not in ("running", "blocked"):
            plan.add("start", self.start)
            state = "running"
        plan.add("finish_revert", self.finish_revert)
        return dict(before, status="none", prior_state=None, resize_dir=None, destination=None, files=[],
                    domain_state=state)

    def plan_destination_teardown(self, plan, dest, state):
        """Stop the instance at the destination and drop its definition there (or, on one shared libvirtd,
        leave that definition to be replaced by the old one).  Returns the source domain's state after."""
        if not dest["host"]:
            dest_conn, shared = self.conn, True
        elif self.dest_conn is None:
            raise NovaopsError("Reverting a migration to %s needs dest_uri, the libvirt of that host, to remove the "
                               "instance's domain there. Nothing was changed." % dest["host"])
        else:
            host = self.conn.host_uuid()
            shared = host is not None and host == self.dest_conn.host_uuid()
            dest_conn = self.conn if shared else self.dest_conn
        dom = dest_conn.lookup(uuid=self.uuid)
        if dom is None:
            return state
        if dom.isActive():
            plan.add("stop_destination", self.destroy, dest_conn)
            if shared:
                state = "shutoff"
        if not shared or dom.name() != self.record["name"]:
            plan.add("undefine_destination", self.undefine, dom)
            if shared:
                state = "undefined"
        return state

    def is_source_definition(self, dom, dest):
        """Whether this libvirt's definition is the source's: on one libvirtd shared by both "hosts", the
        destination redefines the same UUID with its disks in the destination directory."""
        dest_dir = self.dest_dir(dest)
        if dest_dir == self.idir.path:
            return True
        disks = dx.parse_domain_xml(dom.XMLDesc(2))["disks"]
        return not any(d.get("path") and os.path.dirname(os.path.normpath(d["path"])) == dest_dir for d in disks)

    @staticmethod
    def _progress(rec):
        return "half done (%s)" % rec["phase"] if rec["phase"] != record.MIGRATED else rec["phase"]

    # -- actions -------------------------------------------------------------------------------
    @foreseen("recording the resize")
    def write_record(self, rec, xml):
        record.write_old_xml(self.idir, self.idir.uuid, xml)
        record.write(self.idir, self.idir.uuid, rec)
        self.record = rec
        self.where = self.idir.uuid

    @foreseen("powering the domain off")
    def power_off(self):
        dom = self.lookup()
        if dom is not None:
            self.powered_off = power_off(dom, self.params["shutdown_timeout"])

    @foreseen("moving the instance directory to _resize")
    def move_to_resize(self):
        if self.idir.root.exists(self.idir.resize_name):
            raise NovaopsError("%s exists already (a link?); refusing to move the instance there." % self.idir.resize_path)
        self.idir.root.rename(self.idir.uuid, self.idir.resize_name)
        self.where = self.idir.resize_name

    @foreseen("creating the destination instance directory")
    def create_dest_dir(self, dest):
        remote = self.remote(dest)
        if remote is not None:
            remote.run(["mkdir", "-p", "--", self.dest_dir(dest)], "Creating the instance directory")
            remote.check_no_links(self.dest_dir(dest), "dest_instances_path")
        else:
            self.dest_root(dest).mkdir(self.uuid, mode=0o755)

    @foreseen("copying to the destination")
    def put(self, dest, entry):
        name = entry["name"]
        remote = self.remote(dest)
        transfer = DiskTransfer(self.qemu_img, remote, self.params["bwlimit"])
        done = transfer.put(self.idir.root, (self.idir.resize_name, name),
                            dest["instances_path"] if remote is not None else self.dest_root(dest), (self.uuid, name),
                            entry["method"])
        record.mark_copied(self.idir, self.idir.resize_name, name, done["bytes"])
        self.bytes += done["bytes"]
        self.transfers[name] = done

    @foreseen("stopping the domain at the destination")
    def destroy(self, conn):
        dom = conn.lookup(uuid=self.uuid)
        if dom is not None and dom.isActive():
            dom.destroy()
            wait_for_state(dom, ["shutoff", "crashed", "undefined"], self.params["timeout"])

    @foreseen("undefining the domain")
    def undefine(self, dom):
        try:
            dom.undefineFlags(1 | 2 | 4)   # with its managed-save image, snapshot metadata and NVRAM
        except Exception:  # pylint: disable=broad-except
            dom.undefineFlags(1)

    @foreseen("removing the destination copy")
    def remove_dest_copy(self, dest):
        dest_dir = self.dest_dir(dest)
        if not self.idir.root.isdir(self.idir.resize_name):
            raise NovaopsError("%s is missing; refusing to remove %s, which may be the only copy."
                               % (self.idir.resize_path, dest_dir))
        remote = self.remote(dest)
        if remote is not None:
            remote.run(["rm", "-rf", "--", dest_dir], "Removing the copy %s" % dest_dir)
            return
        root = self.dest_root(dest)
        if root.isdir(self.uuid):
            if root.exists((self.uuid, record.RECORD)):
                raise NovaopsError("%s holds a resize record; it is not a copy. Nothing was removed." % dest_dir)
            root.rmtree(self.uuid)
        elif root.exists(self.uuid):
            raise NovaopsError("%s is not a directory (a link?); refusing to remove it or what it points to."
                               % dest_dir)

    def remove_dest_copy_if_reachable(self, dest):
        try:
            self.remove_dest_copy(dest)
        except NovaopsError as exc:
            self.leftovers.append(dict(host=dest["host"], path=self.dest_dir(dest), error=exc.msg))

    @foreseen("moving the original back from _resize")
    def move_back(self):
        remove_scratch(self.idir.root, self.idir.resize_name)
        if self.idir.root.exists(self.idir.uuid):
            raise NovaopsError("%s exists beside %s; which one is the instance is unclear. Move one away and run "
                               "state=reverted again." % (self.idir.path, self.idir.resize_path))
        record.set_phase(self.idir, self.idir.resize_name, record.REVERTING)
        self.idir.root.rename(self.idir.resize_name, self.idir.uuid)
        self.where = self.idir.uuid

    @foreseen("marking the migration complete")
    def finish_migration(self):
        record.set_phase(self.idir, self.idir.resize_name, record.MIGRATED)

    @foreseen("removing the original in _resize")
    def remove_resize_dir(self):
        record.discard(self.idir, self.idir.resize_name)

    @foreseen("removing the resize record")
    def finish_revert(self):
        record.remove(self.idir, self.idir.uuid)

    @foreseen("defining the domain as it was")
    def define_old(self, xml):
        self.conn.conn.defineXML(xml)
        self.lock.refresh()       # the old XML carries the mark of the run that saved it

    @foreseen("starting the domain")
    def start(self):
        dom = self.lookup()
        if not dom.isActive():
            dom.create()
        wait_for_state(dom, "running", self.params["timeout"])

    # -- results -------------------------------------------------------------------------------
    def result(self, facts):
        out = dict(resize=facts, bytes_transferred=self.bytes, transfers=self.transfers,
                   power_off=self.powered_off)
        if self.params["state"] == "migrated":
            out["finish"] = finish(facts["prior_state"] or self.resized_state, self.params["flavor"])
        if self.note:
            out["msg"] = self.note
        return out

    def diff_view(self, facts):
        return dict(status=facts["status"], domain_state=facts["domain_state"], resize_dir=facts["resize_dir"],
                    destination=(facts["destination"] or {}).get("instance_dir"))

    def apply(self, plan):
        """The plan, with a failed migration rolled back at once (the lock still held): the instance back
        where it was."""
        try:
            return plan.apply()
        except NovaopsError as exc:
            if self.params["state"] != "migrated" or "action_failed" not in exc.facts:
                raise
            self.roll_back(exc)

    def converge(self):
        with self.stack:
            return super().converge()

    def roll_back(self, exc):
        try:
            before = self.read()
            plan = Plan()
            self.plan_reverted(before, plan, rolling_back=True)
            plan.apply()
        except NovaopsError as undo:
            raise NovaopsError("%s Rolling back failed too (%s); the original is intact in %s: run state=reverted to "
                               "restore it." % (exc.msg, undo.msg, self.idir.root.path_of(self.where or self.idir.uuid)), **exc.facts)
        copy = "the partial copy was removed"
        if self.leftovers:
            copy = "the partial copy could not be removed (%s): remove %s by hand, or resize again, which " \
                   "overwrites it" % ("; ".join(left["error"] for left in self.leftovers),
                                      ", ".join("%s:%s" % (left["host"], left["path"]) for left in self.leftovers))
        raise NovaopsError("%s Rolled back: the instance is in %s again, %s as before; %s."
                           % (exc.msg, self.idir.path, before["prior_state"] or before["domain_state"], copy),
                           rolled_back=plan.names, remote_leftovers=self.leftovers, **exc.facts)


def _free_bytes(path):
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def main():
    module = argument_spec().create_ansible_module(NovaopsModule)
    quiet_libvirt_errors()
    with module.failing_clearly():
        with contextlib.ExitStack() as stack:
            conn = stack.enter_context(LibvirtConnection.from_params(module.params))
            dest_conn = None
            if module.params["dest_uri"]:
                dest_conn = stack.enter_context(LibvirtConnection(module.params["dest_uri"]))
            result = Resize(module, conn, dest_conn).converge()
        module.exit_json(**result)


if __name__ == "__main__":
    main()
