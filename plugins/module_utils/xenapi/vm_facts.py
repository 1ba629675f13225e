# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reading XenServer VMs with few round trips: whole records, one call per class.

A VM's facts need its VBDs, VDIs, SRs, VIFs, networks and (for the info module) consoles,
snapshots and VHD chains.  Reading them field by field costs dozens of calls.  Here the VM
record is one ``get_all_records_where`` call; the objects it points at are then read in two
round trips of ``event.from`` with an empty token, which answers with the current record of
every object subscribed to (``vbd/<ref>``, ``vif/<ref>``, ... or a whole small class such as
``network``): one call for the VBDs, VIFs, consoles and snapshots, one for the VDIs, SRs and
networks.  A whole-pool listing reads each class once with ``get_all_records``.
"""

from __future__ import annotations

import fnmatch

from ansible_collections.novaops.compute.plugins.module_utils.xenapi import markers
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import UUID_RE, check_uuid
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import NULL_REF
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vhd_chain import walk_chain

MIB = 1024 * 1024
GIB = 1024 * MIB

# Markers the collection keeps in other_config (xen_markers.py; the fleet-repair playbook reads them too).
OWNER_KEY = markers.OWNER_VM
ATTACHED_KEY = markers.ATTACHED_VDIS
DESIRED_KEY = markers.DESIRED_STATE


def quote(value):
    """A string literal of xapi's expression language (get_all_records_where)."""
    return '"%s"' % str(value).replace("\\", "\\\\").replace('"', '\\"')


def is_plain_vm(record):
    """A VM an operator means by a name: not a template, not a snapshot, not dom0."""
    return not (record.get("is_a_template") or record.get("is_a_snapshot") or record.get("is_control_domain"))


def attached_list(other_config):
    value = (other_config or {}).get(ATTACHED_KEY, "")
    return [item for item in value.split(",") if item]


class Records:
    """A per-run cache of XenAPI records, filled one class at a time."""

    def __init__(self, conn):
        self.conn = conn
        self.cache = {}
        self.complete = set()

    def all(self, cls):
        """Every record of a class (one call, then cached)."""
        if cls not in self.complete:
            self.cache.setdefault(cls, {}).update(self.conn.call("%s.get_all_records" % cls))
            self.complete.add(cls)
        return self.cache[cls]

    def where(self, cls, field, value):
        """Records whose field equals value: one get_all_records_where call."""
        if cls in self.complete:
            return dict((ref, rec) for ref, rec in self.cache[cls].items() if rec.get(field) == value)
        found = self.conn.call("%s.get_all_records_where" % cls, "field %s = %s" % (quote(field), quote(value)))
        self.cache.setdefault(cls, {}).update(found)
        return found

    def get(self, cls, ref):
        known = self.cache.setdefault(cls, {})
        if ref not in known:
            known[ref] = self.conn.call("%s.get_record" % cls, ref)
        return known[ref]

    def many(self, cls, refs, limit=2):
        """Records of the given refs: one get_record each if few, else one get_all_records."""
        refs = [ref for ref in refs if ref and ref != NULL_REF]
        missing = [ref for ref in refs if ref not in self.cache.get(cls, {})]
        if len(missing) > limit:
            self.all(cls)
        return dict((ref, self.get(cls, ref)) for ref in refs)

    def prefetch(self, objects=(), classes=()):
        """Current records of objects [(cls, ref)] and of whole classes, in one event.from call.

        event.from with an empty token returns an 'add' event with the snapshot of every
        object matching the subscriptions (``cls/ref`` or ``cls``), then a token we drop.
        Objects already cached and classes already complete are not asked for again.
        """
        subs = []
        for cls, ref in objects:
            if ref and ref != NULL_REF and cls not in self.complete and ref not in self.cache.get(cls, {}):
                subs.append("%s/%s" % (cls.lower(), ref))
        wanted = [cls for cls in classes if cls not in self.complete]
        subs.extend(cls.lower() for cls in wanted)
        if not subs:
            return
        answer = self.conn.call("event.from", sorted(set(subs)), "", 0.0)
        canon = dict((cls.lower(), cls) for cls in [c for c, _r in objects] + list(classes))
        for event in answer.get("events", []):
            if event.get("operation") == "del" or event.get("snapshot") is None:
                continue
            cls = canon.get(str(event.get("class", "")).lower())
            if cls is not None:
                self.cache.setdefault(cls, {})[event["ref"]] = event["snapshot"]
        for cls in wanted:
            self.cache.setdefault(cls, {})
            self.complete.add(cls)

    def forget(self, *classes):
        for cls in classes or list(self.cache):
            self.cache.pop(cls, None)
            self.complete.discard(cls)

    # -- look-ups by uuid or name among small pool-wide classes ----------------------------

    def resolve(self, cls, ident, what=None):
        """(ref, record) of the SR / network / ... whose uuid or name_label is ident."""
        what = what or cls
        records = self.all(cls)
        if UUID_RE.match(ident or ""):
            for ref, rec in records.items():
                if rec.get("uuid") == ident:
                    return ref, rec
        matches = [(ref, rec) for ref, rec in records.items() if rec.get("name_label") == ident]
        if len(matches) > 1:
            raise NovaopsError("%d %ss are named %r (uuids %s); give the uuid instead."
                               % (len(matches), what, ident, ", ".join(sorted(rec["uuid"] for _r, rec in matches))))
        if not matches:
            known = sorted(rec.get("name_label", "") for rec in records.values())
            raise NovaopsError("No %s has the UUID or name %r (known: %s)." % (what, ident, ", ".join(known) or "none"))
        return matches[0]


def find_vms(records, uuid=None, name=None):
    """VMs by uuid (any kind) or by name (plain VMs only): a dict ref -> record."""
    if uuid:
        check_uuid(uuid, "VM")
        return records.where("VM", "uuid", uuid)
    found = records.where("VM", "name_label", name)
    return dict((ref, rec) for ref, rec in found.items() if is_plain_vm(rec))


def find_one_vm(records, uuid=None, name=None):
    """(ref, record) of one VM, (None, None) when there is none; several by name is an error."""
    found = find_vms(records, uuid=uuid, name=name)
    if len(found) > 1:
        raise NovaopsError("%d VMs are named %r (uuids %s); give the uuid instead."
                           % (len(found), name, ", ".join(sorted(rec["uuid"] for rec in found.values()))),
                           uuids=sorted(rec["uuid"] for rec in found.values()))
    if not found:
        return None, None
    return next(iter(found.items()))


def vms_named(records, name):
    """The facts of the plain VMs named so (any number), in a stable order."""
    found = find_vms(records, name=name)
    return [vm_facts(records, ref, rec) for ref, rec in sorted(found.items(), key=lambda item: item[1]["uuid"])]


def _size_gb(size):
    return round(float(size) / GIB, 3)


def vhd_chain(vdi_record, by_uuid):
    """[leaf uuid, parent uuid, ...] of records already read; a parent not among them ends it, named."""
    chain, stop = walk_chain((None, vdi_record), lambda uuid: (None, by_uuid[uuid]) if uuid in by_uuid else None)
    return [rec["uuid"] for _ref, rec in chain] + ([stop[1]] if stop and stop[0] == "missing" else [])


def vm_facts(records, ref, rec, chain=False, consoles=False, snapshots=False, record=False):
    """The facts of one VM, in the shape both xen_vm and xen_vm_info return.

    Private keys (refs) start with '_' and are stripped by public_facts().
    """
    # round trip 1: the objects the VM record points at
    first = [("VBD", r) for r in rec.get("VBDs", [])] + [("VIF", r) for r in rec.get("VIFs", [])]
    if consoles:
        first += [("console", r) for r in rec.get("consoles", [])]
    if snapshots:
        first += [("VM", r) for r in rec.get("snapshots", [])]
    records.prefetch(first)
    vbds = dict((r, records.cache["VBD"][r]) for r in rec.get("VBDs", []) if r in records.cache.get("VBD", {}))
    vifs_found = dict((r, records.cache["VIF"][r]) for r in rec.get("VIFs", []) if r in records.cache.get("VIF", {}))
    # round trip 2: their VDIs, and the (small) SR and network classes
    vdi_refs = [vbd["VDI"] for vbd in vbds.values() if vbd["VDI"] != NULL_REF]
    records.prefetch([("VDI", r) for r in vdi_refs],
                     (["SR"] if vdi_refs else []) + (["network"] if vifs_found else []))
    memory = dict((key, int(rec.get("memory_%s" % key, 0)))
                  for key in ("static_min", "static_max", "dynamic_min", "dynamic_max"))
    blocked = dict(rec.get("blocked_operations") or {})
    disks = _disk_facts(records, rec, vbds, vdi_refs, chain)
    facts = dict(
        uuid=rec["uuid"], name=rec["name_label"], description=rec.get("name_description", ""),
        power_state=str(rec["power_state"]).lower(),
        is_a_template=bool(rec.get("is_a_template")), is_a_snapshot=bool(rec.get("is_a_snapshot")),
        vcpus=int(rec.get("VCPUs_at_startup", 0)), vcpus_max=int(rec.get("VCPUs_max", 0)),
        memory_mb=memory["static_max"] // MIB, memory=memory,
        other_config=dict(rec.get("other_config") or {}), xenstore_data=dict(rec.get("xenstore_data") or {}),
        blocked_operations=blocked, bootlocked="start" in blocked,
        desired_state=(rec.get("other_config") or {}).get(DESIRED_KEY),
        disks=disks, vdi_by_userdevice=vdi_by_userdevice(disks),
        vifs=_vif_facts(records, vifs_found, _domid(rec)), _ref=ref,
    )
    if consoles:
        facts["consoles"] = _console_facts(records, rec)
    if snapshots:
        facts["snapshots"] = _snapshot_facts(records, rec)
    if record:
        facts["record"] = public_record(rec)
    return facts


def vdi_by_userdevice(disks):
    """The VDI uuid in each userdevice (0 the root disk; a rescue VM holds the instance's root at 1),
    what a check compares instead of searching the disk list; an empty drive is left out."""
    return dict((disk["userdevice"], disk["vdi_uuid"]) for disk in disks if disk["vdi_uuid"])


def _disk_facts(records, rec, vbds, vdi_refs, chain):
    """The VM's disks (VBDs with their VDI and SR, once prefetched), by userdevice."""
    known = records.cache.get("VDI", {})
    vdis = dict((r, known[r]) for r in vdi_refs if r in known)
    by_uuid = {}
    if chain and vdis:
        for sr_ref in set(vdi["SR"] for vdi in vdis.values()):
            for vdi in records.where("VDI", "SR", sr_ref).values():
                by_uuid[vdi["uuid"]] = vdi
    attached = attached_list(rec.get("other_config"))
    disks = []
    for vbd_ref, vbd in vbds.items():
        disk = dict(userdevice=vbd["userdevice"], device=vbd.get("device", ""), type=vbd["type"],
                    bootable=bool(vbd["bootable"]), mode=vbd["mode"], empty=bool(vbd.get("empty")),
                    currently_attached=bool(vbd.get("currently_attached")), vbd_uuid=vbd["uuid"],
                    vdi_uuid=None, vdi_name=None, size=None, size_gb=None, sr_uuid=None, sr_name=None,
                    owned=False, _vbd_ref=vbd_ref, _vdi_ref=None)
        vdi = vdis.get(vbd["VDI"])
        if vdi is not None:
            disk.update(_vdi_facts(records, rec, vbd_ref, vbd, vdi, attached))
            if chain:
                disk["chain"] = vhd_chain(vdi, by_uuid)
        disks.append(disk)
    disks.sort(key=lambda d: (int(d["userdevice"]) if str(d["userdevice"]).isdigit() else 999, d["userdevice"]))
    return disks


def _vdi_facts(records, rec, vbd_ref, vbd, vdi, attached):
    """What a disk's VDI adds to it, ``owned`` included: the VM's own (marked so, or a plain disk no one
    else holds) is deleted with it."""
    sr = records.cache.get("SR", {}).get(vdi["SR"], {})
    other = vdi.get("other_config") or {}
    owner = other.get(OWNER_KEY)
    shared = [v for v in vdi.get("VBDs", []) if v != vbd_ref]
    owned = (owner == rec["uuid"] or
             (owner is None and vbd["type"] == "Disk" and vdi["uuid"] not in attached and not shared
              and not vdi.get("read_only") and not vdi.get("sharable")))
    return dict(vdi_uuid=vdi["uuid"], vdi_name=vdi["name_label"], size=int(vdi["virtual_size"]),
                size_gb=_size_gb(vdi["virtual_size"]), sr_uuid=sr.get("uuid"), sr_name=sr.get("name_label"),
                owned=bool(owned), vdi_other_config=dict(other),
                vhd_parent=(vdi.get("sm_config") or {}).get("vhd-parent"), _vdi_ref=vbd["VDI"],
                _sr_ref=vdi["SR"])


def _domid(rec):
    """The VM's running domain's id, or None while it has none (halted, suspended)."""
    try:
        domid = int(rec.get("domid", -1))
    except (TypeError, ValueError):
        return None
    return domid if domid >= 0 and str(rec.get("power_state")).lower() in ("running", "paused") else None


def dom0_port(domid, device):
    """dom0's backend device of a VIF, and its Open vSwitch port: vif<domid>.<device> (new at every start)."""
    return None if domid is None else "vif%d.%s" % (domid, device)


def _vif_facts(records, vifs_found, domid):
    vifs = []
    networks = records.cache.get("network", {})
    for vif_ref, vif in vifs_found.items():
        net = networks.get(vif["network"], {})
        vifs.append(dict(device=vif["device"], uuid=vif["uuid"], mac=vif["MAC"], mtu=int(vif.get("MTU", 0)),
                         network_uuid=net.get("uuid"), network_name=net.get("name_label"),
                         bridge=net.get("bridge"), currently_attached=bool(vif.get("currently_attached")),
                         port=dom0_port(domid, vif["device"]),
                         _vif_ref=vif_ref, _network_ref=vif["network"]))
    vifs.sort(key=lambda v: (int(v["device"]) if str(v["device"]).isdigit() else 999, v["device"]))
    return vifs


def _console_facts(records, rec):
    found = {}
    for con_ref in rec.get("consoles", []):
        con = records.cache.get("console", {}).get(con_ref)
        if con is not None:
            found[con["protocol"]] = con["location"]
    return found


def _snapshot_facts(records, rec):
    found = []
    for snap_ref in rec.get("snapshots", []):
        snap = records.cache.get("VM", {}).get(snap_ref)
        if snap is not None:
            found.append(dict(uuid=snap["uuid"], name=snap["name_label"], time=str(snap.get("snapshot_time", ""))))
    found.sort(key=lambda s: s["time"])
    return found


def public_record(rec):
    """A XenAPI record as plain JSON-able values (datetimes and such as strings)."""
    out = {}
    for key, value in rec.items():
        if isinstance(value, (str, bool, int, float, list, dict)) or value is None:
            out[key] = value
        else:
            out[key] = str(value)
    return out


def public_facts(facts):
    """Facts without the private '_' keys (refs), for results and diffs."""
    if isinstance(facts, dict):
        return dict((k, public_facts(v)) for k, v in facts.items() if not str(k).startswith("_"))
    if isinstance(facts, list):
        return [public_facts(v) for v in facts]
    return facts


def match_filters(rec, filters):
    """Whether a VM record matches every filter: field -> glob pattern (map entries as 'map.key')."""
    for key, pattern in (filters or {}).items():
        value = rec.get(key)
        if value is None and ("." in key or ":" in key):
            field, _sep, sub = key.replace(":", ".", 1).partition(".")
            value = (rec.get(field) or {}).get(sub) if isinstance(rec.get(field), dict) else None
        if value is None:
            return False
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not fnmatch.fnmatchcase(str(value).lower(), str(pattern).lower()):
            return False
    return True
