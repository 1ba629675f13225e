# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a user would see of the beds, narrowed to what this test owns or could have made.

The beds are shared with other tests running at the same time, so a snapshot keeps the
objects named with this run's tag, those whose name carries a mark of the corpus (a bad
value turned into a name: ``../``, ``$(``, ``bi-``, unicode, ...), and the objects this run
made (its VMs' disks, its bridge's ports, QoS and flows).  Two snapshots are compared with
``diff()``: any difference is a change the corpus made.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import subprocess
import time


# what the corpus's values leave in a name made from them (others' names never start with bi)
STARTS = ("bi-", "bi;", "bi |", "bi\x00", "-rf", "--help")
MARKS = ("../", "$(", "`", "passwd", "\x00", "\n", "\u00fcn\u00ef", "xxxxxxxxxx", "nnnnnnnnnn", "pwned")
# the work dirs of this target's runs and of connection_faults: not made by a bad value
OWN_DIRS = re.compile(r"^bi-(k[0-9a-f]{4}|cf-[0-9a-f]{6})")
HOST_FILES = ("/etc/passwd", "/etc/shadow", "/etc/hosts", "/etc/hostname")


# another corpus run's or planted_links run's tag (a developer's run beside make test's), or connection_faults' (a
# target that may run in another lane at the same time): its things are its own
OTHER_RUN = re.compile(r"^bi-((k|pl)[0-9a-f]{4}|cf-[0-9a-f]{6})")


def marked(name, tag):
    if not isinstance(name, str):
        return False
    if name.startswith(tag):
        return True
    return not OTHER_RUN.match(name) and (name.startswith(STARTS) or any(mark in name for mark in MARKS))


def _run(argv):
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else ""


def _run_read(argv, attempts=20):
    """A read that must succeed: retried while ovsdb-server may be coming back (a fault test kills
    the shared one briefly), never taken for an empty answer - that would show everything gone, or
    hide what a case made."""
    for _attempt in range(attempts):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return done.stdout
        time.sleep(0.5)
    raise RuntimeError("the beds cannot be read: %s: %s" % (" ".join(argv), done.stderr.strip()))


def _ovs_rows(table, columns):
    out = _run_read(["ovs-vsctl", "--format=json", "--", "--columns=" + ",".join(columns), "list", table])
    data = json.loads(out)
    return [dict(zip(data["headings"], row)) for row in data["data"]]


def _ovs_value(value):
    if isinstance(value, list) and value and value[0] == "map":
        return dict((k, _ovs_value(v)) for k, v in value[1])
    if isinstance(value, list) and value and value[0] == "set":
        return sorted(_ovs_value(v) for v in value[1])
    if isinstance(value, list) and value and value[0] == "uuid":
        return value[1]
    return value


class BedState:
    def __init__(self, tag, env, work, pools, glance):
        self.tag = tag
        self.env = env
        self.work = work
        self.pools = pools          # name -> XenAPI.Session (logged in)
        self.glance = glance        # a GlanceClient
        self.bridge = "%s-br" % tag

    # -- parts ---------------------------------------------------------------------------------
    def libvirt(self):
        names = _run(["virsh", "-c", "qemu:///system", "list", "--all", "--name"]).split("\n")
        out = {}
        for name in names:
            if name and marked(name, self.tag):
                xml = _run(["virsh", "-c", "qemu:///system", "dumpxml", "--inactive", name])
                state = _run(["virsh", "-c", "qemu:///system", "domstate", name]).strip()
                out[name] = dict(state=state, xml=hashlib.sha1(xml.encode()).hexdigest())
        return out

    def ovs(self):
        interfaces = _ovs_rows("Interface", ["_uuid", "name", "type", "external_ids", "mac", "options"])
        ports = _ovs_rows("Port", ["_uuid", "name", "interfaces", "qos", "external_ids", "tag"])
        bridges = _ovs_rows("Bridge", ["name", "ports", "datapath_type"])
        qos = dict((_ovs_value(r["_uuid"]), r) for r in _ovs_rows("QoS", ["_uuid", "type", "other_config", "queues"]))
        queues = dict((_ovs_value(r["_uuid"]), r) for r in _ovs_rows("Queue", ["_uuid", "other_config", "dscp"]))
        mine_ports = set()
        out = dict(bridges={}, ports={}, interfaces={})
        for bridge in bridges:
            if marked(bridge["name"], self.tag):
                out["bridges"][bridge["name"]] = _ovs_value(bridge["datapath_type"])
                port_ids = _ovs_value(bridge["ports"])
                mine_ports.update(port_ids if isinstance(port_ids, list) else [port_ids])
        for port in ports:
            if marked(port["name"], self.tag) or _ovs_value(port["_uuid"]) in mine_ports:
                view = dict(external_ids=_ovs_value(port["external_ids"]), tag=_ovs_value(port["tag"]))
                qos_id = _ovs_value(port["qos"])
                if qos_id and not isinstance(qos_id, list):
                    row = qos.get(qos_id, {})
                    view["qos"] = dict(type=row.get("type"), other_config=_ovs_value(row.get("other_config")),
                                       queues=dict((str(k), _ovs_value(queues.get(_ovs_value(v), {}).get("other_config")))
                                                   for k, v in (_ovs_value(row.get("queues")) or {}).items()))
                out["ports"][port["name"]] = view
        for row in interfaces:
            if marked(row["name"], self.tag) or row["name"] in out["ports"]:
                out["interfaces"][row["name"]] = dict(type=row["type"], external_ids=_ovs_value(row["external_ids"]),
                                                      mac=_ovs_value(row["mac"]), options=_ovs_value(row["options"]))
        if self.bridge in out["bridges"]:
            flows = _run_read(["ovs-ofctl", "--no-stats", "dump-flows", self.bridge])
            out["flows"] = sorted(line.strip() for line in flows.splitlines() if line.strip())
        tc = {}
        for port in out["ports"]:
            tc[port] = sorted(re.sub(r"\s+", " ", line) for line in _run(["tc", "class", "show", "dev", port]).splitlines())
        out["tc"] = tc
        return out

    def xenapi(self):
        out = {}
        own_images = set(self.glance_images())      # their cached copies (xen_image) are this run's too
        for pool, session in self.pools.items():
            x = session.xenapi
            vms = x.VM.get_all_records()
            vdis = x.VDI.get_all_records()
            vbds = x.VBD.get_all_records()
            mine_vms = dict((ref, vm) for ref, vm in vms.items() if marked(vm["name_label"], self.tag))
            mine_vdis = set(ref for ref, vdi in vdis.items() if marked(vdi["name_label"], self.tag)
                            or any(marked(v, self.tag) for v in vdi.get("other_config", {}).values())
                            or vdi.get("other_config", {}).get("novaops_image_id") in own_images)
            view = dict(vms={}, vdis={}, helper_vbds=[])
            for ref, vm in mine_vms.items():
                disks = []
                for vbd_ref in vm["VBDs"]:
                    vbd = vbds.get(vbd_ref)
                    if vbd is None:
                        continue
                    disks.append((vbd["userdevice"], vbd["type"], vbd["bootable"], vbd["mode"],
                                  vdis.get(vbd["VDI"], {}).get("uuid")))
                    if vbd["VDI"] in vdis:
                        mine_vdis.add(vbd["VDI"])
                view["vms"]["%s/%s" % (vm["name_label"], vm["uuid"])] = dict(
                    power_state=vm["power_state"], vcpus=vm["VCPUs_at_startup"], memory=vm["memory_static_max"],
                    other_config=dict((k, v) for k, v in vm["other_config"].items() if not k.startswith("novaops-lock")),
                    blocked=vm["blocked_operations"], disks=sorted(disks), vifs=len(vm["VIFs"]),
                    description=vm["name_description"], is_template=vm["is_a_template"])
            sr_dirs = dict((sr, os.path.join(self.env["NOVAOPS_BEDS_DIR"], "xapisim", pool, "sr", sr)) for sr in
                           (self.env.get("XENAPI_POOL_%s_SR_UUID" % pool[-1].upper()),))
            for ref in mine_vdis:
                vdi = vdis[ref]
                files = [path for directory in sr_dirs.values() for path in
                         glob.glob(os.path.join(directory, vdi["uuid"] + ".vhd"))]
                view["vdis"][vdi["uuid"]] = dict(name=vdi["name_label"], size=vdi["virtual_size"],
                                                 parent=vdi["sm_config"].get("vhd-parent"),
                                                 file=[os.path.getsize(f) for f in files])
            for vbd in vbds.values():
                if vbd["VDI"] in mine_vdis and vbd["VM"] not in mine_vms:
                    view["helper_vbds"].append((vdis[vbd["VDI"]]["uuid"], vbd["currently_attached"]))
            view["helper_vbds"].sort()
            out[pool] = view
        return out

    def glance_images(self):
        images = self.glance.list_images()
        return dict((img["id"], dict(name=img.get("name"), status=img.get("status"), size=img.get("size"),
                                     checksum=img.get("checksum")))
                    for img in images if marked(img.get("name") or "", self.tag))

    def files(self):
        out = {}
        for root, dirs, names in os.walk(self.work):
            dirs.sort()
            for name in sorted(dirs + names):
                path = os.path.join(root, name)
                rel = os.path.relpath(path, self.work)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if os.path.islink(path):
                    out[rel] = "-> " + os.readlink(path)
                elif os.path.isdir(path):
                    out[rel] = "dir %o" % (st.st_mode & 0o7777)
                else:
                    out[rel] = "file %o %d %d" % (st.st_mode & 0o7777, st.st_size, st.st_mtime_ns)
        for path in HOST_FILES:
            try:
                with open(path, "rb") as handle:
                    out[path] = hashlib.sha1(handle.read()).hexdigest()
            except OSError:
                out[path] = None
        out["/tmp marked"] = sorted(n for n in os.listdir("/tmp") if marked(n, self.tag) and not OWN_DIRS.match(n))
        return out

    def snapshot(self):
        return dict(libvirt=self.libvirt(), ovs=self.ovs(), xenapi=self.xenapi(), glance=self.glance_images(),
                    files=self.files())


def diff(before, after, prefix=""):
    """The paths where two snapshots differ, with both values (short)."""
    out = []
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after), key=str):
            if key not in before:
                out.append("%s%s: new %s" % (prefix, key, _short(after[key])))
            elif key not in after:
                out.append("%s%s: gone (was %s)" % (prefix, key, _short(before[key])))
            else:
                out.extend(diff(before[key], after[key], "%s%s." % (prefix, key)))
    elif before != after:
        out.append("%s %s -> %s" % (prefix.rstrip("."), _short(before), _short(after)))
    return out


def _short(value):
    text = json.dumps(value, default=str)
    return text if len(text) < 300 else text[:300] + "..."
