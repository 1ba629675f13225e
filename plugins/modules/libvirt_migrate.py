#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: libvirt_migrate
short_description: Live-migrate a running libvirt instance to another host, as Nova's libvirt driver did
version_added: 0.1.0
description:
  - Moves a running domain from this host (O(uri)) to another libvirt host (O(dest_uri)) while it runs, with
    Nova's flags C(LIVE|PEER2PEER|PERSIST_DEST|UNDEFINE_SOURCE); afterwards the destination has it, persistent
    and running, and this host no longer has it.
  - O(storage=shared) moves the memory only; the instance directory must be the same directory on both hosts.
  - O(storage=block) also copies the disks (C(NON_SHARED_INC) with the explicit list of the guest's disks). The
    destination is prepared first through its own libvirt connection (storage API), as a boot would lay it out -
    the instance directory, the C(_base) backing files it lacks and empty qcow2 overlays of each disk's virtual size
    on them - so that only the overlays' data crosses.
  - A missing C(_base) file that is the cache of a Glance image (named the sha1 of the image ID recorded by
    M(novaops.compute.libvirt_domain)) is fetched from Glance as a boot fetches it, when O(glance) names an
    endpoint - checked against Glance's hash and, as the destination's libvirt reads it, for the base's format,
    size and no backing file. Any other, or one Glance cannot give byte for byte (converted to raw at boot, Glance
    not answering, data that does not check out - C(bases) in RV(prepared) says why), is the source's copy, streamed.
  - Before anything changes it checks, each a clear refusal - the destination is another host (libvirt's host
    UUID), it answers, its libvirt and QEMU are not older, the guest's CPU is one its hypervisor runs
    (C(compareHypervisorCPU)), its free memory holds the guest, and the storage really is shared (a test file
    written in the instance directory here is found there) or really is not, for a block migration.
  - While it runs it reads C(jobStats) (data processed and remaining, dirty rate, iterations), raises the maximum
    downtime in Nova's steps and, when the completion timeout (scaled by the memory, and the disks of a block
    migration) runs out, switches to post-copy when O(post_copy) allows it, else aborts.
  - Any failure leaves the instance running on this host, and nothing of it on the destination (its domain and
    what the preparation made there are removed).
  - It returns the instance's Open vSwitch VIFs (RV(vifs), their HTB queues in RV(vif_queues)) as the destination
    needs them before the guest arrives - port, anti-spoofing flows, HTB queue - also in check mode; the
    M(novaops.compute.live_migrate) role (O(vifs_plugged_first)) plugs them on the destination host first
    (M(novaops.compute.ovs_vif) with O(novaops.compute.ovs_vif#module:reserve_ofport),
    M(novaops.compute.ovs_qos_queue)), removes them there when the migration fails, and from this host once it
    succeeded. libvirt adds each tap to the bridge on the destination when the guest arrives, keeping that port,
    and removes it here when the guest leaves.
  - Idempotent; a second run finds the instance on the destination and changes nothing.
  - It holds the instance's operation lock (the lock file in its instance directory, as a resize, rescue or
    snapshot does) from before the destination is prepared until the end, so a migration and another operation
    of the same instance exclude each other; a run refused for it changes nothing.
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.libvirt
  - novaops.compute.glance
  - novaops.compute.operation_lock
attributes:
  check_mode:
    support: full
    description: Runs the pre-checks (the shared-storage test file is written and removed) and reports the plan.
  diff_mode:
    support: full
    description: Shows which host has the instance, and its state there, before and after.
options:
  name:
    description: The domain's name on this host; not used when O(uuid) is given (RV(set_aside) says so).
    type: str
  uuid:
    description: The domain's UUID; it finds the domain when given, O(name) or not.
    type: str
  dest_uri:
    description:
      - libvirt URI of the destination host as this host's libvirtd reaches it (the migration is peer to peer),
        for example C(qemu+tcp://hv2/system) or C(qemu+ssh://root@hv2/system).
      - One of O(dest_uri) and O(dest_candidates) is required; given both, O(dest_uri) is the destination and no
        candidate is weighed (RV(set_aside) says so), so a caller may pass its candidates whether or not a
        destination was named.
    type: str
  dest_candidates:
    description:
      - Let the module choose the destination among these libvirt URIs (as this host's libvirtd reaches them).
        Each gets the pre-checks a migration makes (another host, not older, CPU, memory, the storage as
        O(storage) wants it), none of them a change; of those that pass, the one with the most free memory is
        chosen, as Nova's scheduler weighs hosts by default (its RAM weigher, multiplier 1.0, spreads the
        instances); on a tie the earlier in the list. When none passes, the refusal lists each with its reason
        (RV(candidates)). Each must be a libvirt URI (C(driver[+transport]://[host][:port]/path)), checked whether
        weighed or set aside.
      - A domain no longer on this host but running, persistent, on a candidate is left alone (C(changed=false)).
    type: list
    elements: str
  storage:
    description:
      - V(shared) - the instance directory is shared storage; only the memory moves.
      - V(block) - the disks are copied to the destination's own instance directory (block migration).
    type: str
    required: true
    choices: [shared, block]
  migrate_uri:
    description:
      - Where the destination's QEMU listens for the guest, C(tcp://HOST[:PORT]) or C(rdma://HOST[:PORT]), for
        example C(tcp://10.0.0.2). Omitted, the destination's libvirt names it (its C(migration_host), else its
        host name).
    type: str
  bandwidth:
    description: Maximum bandwidth of the migration in MiB/s; V(0) for no limit (at most libvirt's INT64_MAX bytes/s).
    type: int
    default: 0
  auto_converge:
    description: Let QEMU throttle the guest's vCPUs when its memory changes faster than it is copied.
    type: bool
    default: false
  post_copy:
    description:
      - Allow post-copy; when the completion timeout runs out the migration switches to it (the guest runs on the
        destination and fetches the pages it lacks) instead of being aborted.
    type: bool
    default: false
  max_downtime:
    description:
      - The maximum downtime in ms the last step may reach (Nova's C(live_migration_downtime)); 1 to 2000000
        (QEMU's limit, 2000 s).
    type: int
    default: 500
  downtime_steps:
    description: In how many steps (1 to 1000) the allowed downtime rises to O(max_downtime).
    type: int
    default: 10
  downtime_delay:
    description:
      - Seconds between two steps, per GiB of data to move (Nova's C(live_migration_downtime_delay)); at least 1.
    type: int
    default: 75
  completion_timeout:
    description:
      - Seconds per GiB of data to move (memory, plus disks for a block migration, at least 2 GiB) after which
        the migration is switched to post-copy (O(post_copy)) or aborted. V(0) for none.
    type: int
    default: 800
  rollback_timeout:
    description:
      - When the destination's libvirtd stopped answering during a failed migration (killed, restarted), how
        many seconds to wait for it to answer again, to remove what of the instance is there. Past it, what
        could not be removed is named in RV(destination_leftovers).
    type: int
    default: 60
  vifs_plugged_first:
    description:
      - The caller plugs the instance's Open vSwitch VIFs (RV(vifs)) on the destination host before the move, as
        the M(novaops.compute.live_migrate) role does. An instance that has such VIFs is then refused, before
        anything changes, unless its destination is named (O(dest_uri), not chosen among
        O(dest_candidates)) and O(vif_host) says where they are plugged; the refusal names the role's and the
        playbooks' variables for both.
      - An instance without such VIFs needs neither.
    type: bool
    default: false
  vif_host:
    description:
      - With O(vifs_plugged_first), the host the caller plugs the VIFs on - the destination hypervisor as its
        inventory names it (the role's C(live_migrate_dest_host)). Only checked to be set; the module does not
        reach it.
    type: str
'''

EXAMPLES = r'''
- name: Move the instance to hv2, copying its disks
  novaops.compute.libvirt_migrate:
    uuid: 6b1e5b2e-8f3a-4a8e-9f47-1c6f7f1f2a10
    dest_uri: qemu+tcp://hv2/system
    storage: block
    auto_converge: true
  register: moved

- name: Move it to whichever of hv2 and hv3 passes the pre-checks with the most free memory
  novaops.compute.libvirt_migrate:
    uuid: 6b1e5b2e-8f3a-4a8e-9f47-1c6f7f1f2a10
    dest_candidates: [qemu+tcp://hv2/system, qemu+tcp://hv3/system]
    storage: block

- name: Pre-checks only, refused if it has Open vSwitch VIFs and hv2 is not named; the VIFs to plug there first
  novaops.compute.libvirt_migrate:
    uuid: 6b1e5b2e-8f3a-4a8e-9f47-1c6f7f1f2a10
    dest_uri: qemu+tcp://hv2/system
    storage: block
    vifs_plugged_first: true
    vif_host: hv2
  check_mode: true
  register: plan

- name: Move it back over shared storage, with post-copy if it does not converge in time
  novaops.compute.libvirt_migrate:
    uri: qemu+tcp://hv2/system
    uuid: 6b1e5b2e-8f3a-4a8e-9f47-1c6f7f1f2a10
    dest_uri: qemu+tcp://hv1/system
    storage: shared
    post_copy: true
    completion_timeout: 200
  async: 3600
  poll: 10
'''

RETURN = r'''
changed:
  description: Whether the instance moved.
  returned: always
  type: bool
actions:
  description: What was done (or would be, in check mode) - C(prepare_destination), C(migrate).
  returned: always
  type: list
  elements: str
  sample: [prepare_destination, migrate]
checks:
  description: The pre-checks passed, each with what it found.
  returned: when the instance was still on this host
  type: dict
  sample: {same_host: "host uuid 8e0d... -> 6678...", memory: "64 MiB needed, 3120 MiB free"}
flags:
  description: The migration flags used.
  returned: when the instance was still on this host
  type: list
  elements: str
  sample: [LIVE, PEER2PEER, PERSIST_DEST, UNDEFINE_SOURCE, NON_SHARED_INC]
disks:
  description: The guest disks migrated (C(migrate_disks) of a block migration), by target device.
  returned: when the instance was still on this host
  type: list
  elements: str
  sample: [vda]
prepared:
  description:
    - What the preparation made on the destination (C(volumes) and C(directories)), the bytes streamed
      (C(bytes_uploaded)) and how each C(_base) file was made (C(bases) - C(source) V(glance) with C(image) and
      C(verified_by), or V(copy) with the C(reason) it was not fetched from Glance).
  returned: block migration
  type: dict
  sample: {volumes: [/var/lib/nova/instances/_base/6e3f..., /var/lib/nova/instances/6b1e.../disk],
           directories: [/var/lib/nova/instances/6b1e...], bytes_uploaded: 41126400,
           bases: {6e3f...: {source: glance, image: 0b2c..., bytes: 41126400, verified_by: "os_hash_value sha512"}}}
vifs:
  description:
    - The instance's Open vSwitch VIFs as its desired state (M(novaops.compute.libvirt_domain)'s metadata) records
      them, in the options of M(novaops.compute.ovs_vif) - C(port) (the tap), C(bridge), C(mac), C(ips), C(iface_id),
      C(vm_uuid), C(anti_spoofing), C(next_table) - and C(qos) (null, or C(port), C(queue_id), C(max_rate) and
      C(flow_table) for M(novaops.compute.ovs_qos_queue)).
  returned: success (empty when the instance is on the destination already)
  type: list
  elements: dict
  sample: [{port: tap5f1a9c2e-01, bridge: br-int, mac: "fa:16:3e:5f:1a:9c", ips: [10.0.0.5], anti_spoofing: true,
            iface_id: 5f1a9c2e-0123-4567-89ab-cdef01234567, vm_uuid: 6b1e5b2e-8f3a-4a8e-9f47-1c6f7f1f2a10,
            next_table: 1, qos: {port: eth1, queue_id: 7, max_rate: 100000000, flow_table: 1}}]
vif_queues:
  description:
    - The HTB queue of each rate-limited VIF of RV(vifs), in the options of M(novaops.compute.ovs_qos_queue) -
      C(port) (the uplink), C(bridge), C(queue_id), C(max_rate), C(source_ips) and C(flow_table).
  returned: success (empty when the instance is on the destination already)
  type: list
  elements: dict
  sample: [{port: eth1, bridge: br-int, queue_id: 7, max_rate: 100000000, source_ips: [10.0.0.5], flow_table: 1}]
job_stats:
  description: The completed job's statistics from libvirt (bytes, C(downtime) in ms, C(time_elapsed)).
  returned: success
  type: dict
progress:
  description: C(jobStats) samples while it ran (C(at) seconds, C(data_processed), C(data_remaining),
    C(memory_dirty_rate), C(memory_iteration)...), at most 60.
  returned: when a migration ran
  type: list
  elements: dict
events:
  description: Downtime steps taken, and what the completion timeout did.
  returned: when a migration ran
  type: list
  elements: dict
completion:
  description: V(completed), V(post-copy) or V(aborted).
  returned: when a migration ran
  type: str
completion_timeout:
  description: The completion timeout in seconds, after scaling by the data to move.
  returned: when the instance was still on this host
  type: int
destination_leftovers:
  description: What of the instance could not be removed from the destination after a failure (empty when none).
  returned: failure
  type: list
  elements: str
dest_uri:
  description: The destination, given (O(dest_uri)) or chosen among O(dest_candidates).
  returned: success
  type: str
set_aside:
  description: The options given but not used because another one took precedence - O(name) when O(uuid) is given,
    O(dest_candidates) when O(dest_uri) is.
  returned: success
  type: list
  elements: str
  sample: [dest_candidates]
candidates:
  description:
    - With O(dest_candidates), the URIs weighed - C(dest), C(passed), C(memory_free) (bytes) when it passed, else
      the C(reason) it was refused.
  returned: with dest_candidates, also in the refusal when no candidate passes
  type: list
  elements: dict
  sample: [{dest: "qemu+tcp://hv2/system", passed: true, memory_free: 3271557120},
           {dest: "qemu+tcp://hv3/system", passed: false, reason: "does not answer: ..."}]
chosen:
  description: With O(dest_candidates), the URI chosen and why.
  returned: with dest_candidates
  type: str
operation_lock:
  description: What the run did to operation locks not its own (C(cleared), with O(clear_stale_lock)).
  returned: when it cleared a stale mark
  type: dict
destination:
  description: The instance on the destination - C(state), C(persistent), C(host_uuid).
  returned: success
  type: dict
duration:
  description: Seconds the module took.
  returned: always
  type: float
'''

import functools
import os
import time

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.module import NovaopsModule
from ansible_collections.novaops.compute.plugins.module_utils.common.operation_lock import lock_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import live_migration as lm
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import migration_checks as checks
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import migration_candidates, migration_options
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import domain_xml as dx
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import migration_vifs
from ansible_collections.novaops.compute.plugins.module_utils.glance.client import GlanceClient, glance_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import remote_base, remote_files
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.operation_lock import (
    LibvirtOperationLock, nova_instance_dir)
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import (
    LibvirtConnection, domain_state, is_libvirt_error, libvirt_argument_spec, no_domain, quiet_libvirt_errors)

try:
    import libvirt
except ImportError:
    pass        # LibvirtConnection reports the missing binding


def argument_spec():
    return ArgumentSpec(dict(
        name=dict(type="str"),
        uuid=dict(type="str"),
        dest_uri=dict(type="str"),
        dest_candidates=dict(type="list", elements="str"),
        storage=dict(type="str", required=True, choices=["shared", "block"]),
        migrate_uri=dict(type="str"),
        bandwidth=dict(type="int", default=0),
        auto_converge=dict(type="bool", default=False),
        post_copy=dict(type="bool", default=False),
        max_downtime=dict(type="int", default=500),
        downtime_steps=dict(type="int", default=10),
        downtime_delay=dict(type="int", default=75),
        completion_timeout=dict(type="int", default=800),
        rollback_timeout=dict(type="int", default=60),
        vifs_plugged_first=dict(type="bool", default=False),
        vif_host=dict(type="str"),
    ), required_one_of=[("name", "uuid"), ("dest_uri", "dest_candidates")]).merge(libvirt_argument_spec()).merge(
        glance_argument_spec()).merge(lock_argument_spec())


def _alive(connection):
    try:
        return bool(connection.conn.isAlive())
    except Exception as exc:  # pylint: disable=broad-except
        if is_libvirt_error(exc):
            return False
        raise


def domain_vifs(dom):
    """The domain's OVS VIFs as its recorded desired state has them (migration_vifs.ovs_vifs)."""
    return migration_vifs.ovs_vifs(dx.parse_domain_xml(dom.XMLDesc(0))["metadata"], dom.UUIDString())


def refuse_unplaced_vifs(src, params):
    """With vifs_plugged_first: an instance here with OVS VIFs and no named destination or host to plug them on
    is refused before anything changes (after the candidates were weighed: when none passes, that is said first)."""
    if not params["vifs_plugged_first"]:
        return
    dom = src.lookup(name=params["name"], uuid=params["uuid"])
    if dom is None:
        return      # not here (moved by a first run, or missing): the migration itself says which
    refusal = migration_vifs.unplaced(dom.name(), domain_vifs(dom), params["dest_uri"], params["vif_host"])
    if refusal:
        raise NovaopsError(refusal)


def where(conn, dom):
    if dom is None:
        return None
    return dict(host_uuid=conn.host_uuid(), state=domain_state(dom)[0], persistent=bool(dom.isPersistent()))


class Migrate:
    def __init__(self, module, src, dst):
        self.module = module
        self.params = module.params
        self.src = src
        self.dst = dst
        self.started = time.monotonic()
        self.was_running = False

    def _find(self, conn):
        return conn.lookup(name=self.params["name"], uuid=self.params["uuid"])

    def run(self):
        p = self.params
        other_host = checks.same_host(self.src, self.dst)     # first: on one host the domain is 'on both'
        dom = self._find(self.src)
        there = self.dst.lookup(uuid=dom.UUIDString()) if dom is not None else self._find(self.dst)
        before = dict(source=where(self.src, dom), destination=where(self.dst, there))
        if dom is None and there is not None and there.isActive() and there.isPersistent():
            return self._result(False, [], before, before, vifs=[], vif_queues=[])
        self._refuse_misplaced(dom, there, before)
        self.was_running = before["source"]["state"] == "running"
        block = p["storage"] == "block"
        disks = lm.guest_disks(dom)
        self._check_disks(dom, disks, block)
        uuid = dom.UUIDString()
        instance_dir = nova_instance_dir(disks[0]["path"] if disks else None, uuid)
        lock = LibvirtOperationLock(self.src, "Domain %s (%s)" % (dom.name(), uuid),
                                    "libvirt_migrate %s" % p["storage"], p, uuid=uuid, instance_dir=instance_dir)
        actions = lock.admit(True) + (["prepare_destination"] if block else []) + ["migrate"]
        facts, gib = self._pre_checks(dom, disks, block, other_host)
        if self.module.check_mode:
            after = dict(source=None, destination=dict(before["source"], host_uuid=self.dst.host_uuid(),
                                                       persistent=True))
            return self._result(True, actions, before, after, **facts)
        changes = remote_files.Changes(self.dst.conn)
        with lock.held():
            ran = self._migrate(dom, disks, block, facts, gib, changes)
            lock.conn = self.dst        # a metadata mark (no instance directory) went with the domain
        if lock.report:
            facts["operation_lock"] = lock.report
        there = self.dst.lookup(uuid=uuid, required=True)
        facts.update(ran, job_stats=lm.completed_stats(there))
        if block:
            facts["prepared"] = dict(changes.made(), bytes_uploaded=changes.bytes_uploaded)
        after = dict(source=where(self.src, self.src.lookup(uuid=uuid)), destination=where(self.dst, there))
        return self._result(True, actions, before, after, **facts)

    def _refuse_misplaced(self, dom, there, before):
        """No domain here, one on both hosts, or one that does not run: nothing a live migration can move."""
        p = self.params
        if dom is None:
            raise NovaopsError("No domain %s on this host (%s) nor running on %s." % (
                p["uuid"] or repr(p["name"]), self.src.uri, self.dst.uri))
        if there is not None:
            raise NovaopsError("Domain %s is defined on both hosts (state %s here, %s on %s): a leftover of an "
                               "earlier migration? Remove the copy that should not be there first."
                               % (dom.name(), before["source"]["state"], before["destination"]["state"], self.dst.uri))
        if before["source"]["state"] not in ("running", "paused"):
            raise NovaopsError("Domain %s is %s: a live migration moves a running instance (a shut-off one moves "
                               "with libvirt_resize, cold)." % (dom.name(), before["source"]["state"]))

    def _pre_checks(self, dom, disks, block, other_host):
        """The checks before anything changes, and what the migration will be: (facts, GiB of data to move)."""
        p = self.params
        found = dict(same_host=other_host, versions=checks.versions(self.src, self.dst),
                     cpu=checks.cpu(dom, self.dst), memory=checks.memory(dom, self.dst))
        if disks:
            found["storage"] = checks.storage(os.path.dirname(disks[0]["path"]), self.dst, block)
        gib = lm.data_gib(dom.maxMemory() * 1024, disks, block)
        _flag_value, flag_names = lm.flags(block, p["auto_converge"], p["post_copy"], unsafe=not block and bool(disks))
        vifs = domain_vifs(dom)
        facts = dict(checks=found, flags=flag_names, disks=[d["dev"] for d in disks],
                     completion_timeout=int(p["completion_timeout"] * gib),
                     vifs=vifs, vif_queues=migration_vifs.vif_queues(vifs))
        return facts, gib

    def _migrate(self, dom, disks, block, facts, gib, changes):
        """Prepare the destination and migrate; on a failure that left the domain on the source, undo there."""
        p = self.params
        uuid, name = dom.UUIDString(), dom.name()
        flag_value = lm.flags(block, p["auto_converge"], p["post_copy"], unsafe=not block and bool(disks))[0]
        run = None
        try:
            if block:
                self._prepare(dom, disks, changes)
            params = {}
            if block:
                params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = [d["dev"] for d in disks]
            if p["bandwidth"]:
                params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = p["bandwidth"]
            if p["migrate_uri"]:
                params[libvirt.VIR_MIGRATE_PARAM_URI] = p["migrate_uri"]
            schedule = lm.downtime_steps(p["max_downtime"], p["downtime_steps"], p["downtime_delay"], gib)
            run = lm.LiveMigration(dom, self.dst.uri, flag_value, params, schedule, facts["completion_timeout"],
                                   p["post_copy"])
            return run.run()
        except Exception as exc:
            if not isinstance(exc, NovaopsError) and not is_libvirt_error(exc) and not isinstance(exc, OSError):
                raise
            if self._landed(uuid) is None:
                self._fail(exc, uuid, name, changes, facts, run)
            return dict(duration=round(time.monotonic() - self.started, 3), completion="completed despite: %s" % exc,
                        progress=[], events=[])

    def _check_disks(self, dom, disks, block):
        if not block:
            return
        if not disks:
            raise NovaopsError("Domain %s has no file disk to copy: a block migration needs the explicit list of its "
                               "disks (never an empty one, which would copy every disk). Use storage=shared."
                               % dom.name())
        for disk in disks:
            if disk["backing"] and disk["backing"]["deeper"]:
                raise NovaopsError("Disk %s (%s) has a backing chain deeper than one overlay on a _base file, which "
                                   "the boot path never makes; flatten it first." % (disk["dev"], disk["path"]))

    def _capacity(self, directory, name):
        """The virtual size of a file on this host, as libvirt reads it."""
        with remote_files.Directory(self.src.conn, directory) as here:
            return here.volume(name).info()[1]

    def _prepare(self, dom, disks, changes):
        """The destination's instance directory, missing _base files (from Glance as a boot fetches them, else
        this host's copy) and empty overlays, as a boot lays them out."""
        xml = dom.XMLDesc(0)
        glance = None
        if self.params["glance"].get("url") or self.params["glance"].get("cloud"):
            glance = functools.partial(GlanceClient.from_params, self.params["glance"])
        for disk in disks:
            backing = disk["backing"]
            if backing:
                base_dir, base_name = os.path.split(backing["path"])
                with remote_files.Directory(self.dst.conn, base_dir, build=True) as bases:
                    if bases.built:
                        changes.directories.append(bases.path)
                    if bases.volume(base_name) is None:
                        changes.volumes.append((bases.path, base_name))
                        made = remote_base.make_base(bases, base_name, dict(backing, capacity=self._capacity(
                            base_dir, base_name)), remote_base.glance_image_id(xml, backing["path"]), glance)
                        changes.bases[base_name] = made
                        changes.bytes_uploaded += made["bytes"]
            directory, file_name = os.path.split(disk["path"])
            with remote_files.Directory(self.dst.conn, directory, build=True) as instance:
                if instance.built:
                    changes.directories.append(instance.path)
                remote_files.require_absent(instance, file_name, self.dst.uri)
                changes.volumes.append((instance.path, file_name))
                instance.create(file_name, disk["capacity"], disk["format"],
                                backing=backing and backing["path"], backing_format=backing and backing["format"])

    def _landed(self, uuid):
        """The destination's domain when the migration did complete after all (the source no longer has it)."""
        try:
            if self.src.lookup(uuid=uuid) is not None:
                return None
            there = self.dst.lookup(uuid=uuid)
            return there if there is not None and there.isActive() else None
        except Exception as exc:  # pylint: disable=broad-except
            if is_libvirt_error(exc):
                return None
            raise

    def _fail(self, exc, uuid, name, changes, facts, run):
        """Put everything back: the guest running here, nothing of it on the destination."""
        left = []
        if not _alive(self.dst):
            # the destination's libvirtd died (or restarted) under the migration: wait for it to clean up there
            try:
                changes.conn = self.dst.reconnect(self.params["rollback_timeout"])
            except NovaopsError as lost:
                left.append("everything: %s" % lost.msg)
        try:
            there = self.dst.lookup(uuid=uuid)
            if there is not None:
                if there.isActive():
                    there.destroy()
                if there.isPersistent():
                    there.undefine()
        except Exception as cleanup:  # pylint: disable=broad-except
            if not is_libvirt_error(cleanup):
                raise
            if not no_domain(cleanup):      # gone meanwhile: a restarted libvirtd ends an incoming migration itself
                left.append("domain %s: %s" % (name, cleanup.get_error_message()))
        left += changes.undo()
        state = None
        try:
            dom = self.src.lookup(uuid=uuid)
            if dom is not None and domain_state(dom)[0] == "paused" and self.was_running:
                dom.resume()
            state = domain_state(dom)[0] if dom is not None else "gone"
        except Exception as check:  # pylint: disable=broad-except
            if not is_libvirt_error(check):
                raise
            state = "unknown (%s)" % check.get_error_message()
        detail = exc.get_error_message() if is_libvirt_error(exc) else str(exc)
        outcome = getattr(exc, "novaops_outcome", None)
        msg = "The live migration of %s to %s failed%s: %s. The instance is %s on this host; %s" % (
            name, self.dst.uri, " (completion timeout: %s)" % outcome if outcome else "", detail, state,
            "nothing of it is left on the destination." if not left else
            "these could not be removed from the destination: %s." % "; ".join(left))
        extra = dict(facts, source_state=state, destination_leftovers=left,
                     progress=run.progress if run else [],
                     events=[dict(at=at, what=what) for at, what in run.events] if run else [])
        if is_libvirt_error(exc):
            extra["libvirt_error"] = dict(code=exc.get_error_code(), domain=exc.get_error_domain(), message=detail)
        raise NovaopsError(msg, **extra) from exc

    def _result(self, changed, actions, before, after, **facts):
        result = dict(changed=changed, actions=actions, duration=round(time.monotonic() - self.started, 3))
        result.update(facts)
        if after.get("destination"):
            result["destination"] = after["destination"]
        if self.module._diff:
            result["diff"] = dict(before=before, after=after)
        return result


def main():
    module = argument_spec().create_ansible_module(NovaopsModule)
    quiet_libvirt_errors()
    with module.failing_clearly():
        migration_options.check_candidates(module.params)
        set_aside = migration_options.settle_precedence(module.params)
        migration_options.check(module.params)
        with LibvirtConnection.from_params(module.params) as src:
            dest_uri, choice = module.params["dest_uri"], {}
            if dest_uri is None:
                dest_uri, choice = migration_candidates.choose(src, module.params)
            refuse_unplaced_vifs(src, module.params)
            try:
                dst = LibvirtConnection(dest_uri).__enter__()
            except NovaopsError as exc:
                raise NovaopsError("The destination does not answer: %s" % exc.msg, **exc.facts) from exc
            try:
                result = Migrate(module, src, dst).run()
            finally:
                dst.__exit__(None, None, None)
        module.exit_json(**dict(result, dest_uri=dest_uri, set_aside=set_aside, **choice))


if __name__ == "__main__":
    main()
