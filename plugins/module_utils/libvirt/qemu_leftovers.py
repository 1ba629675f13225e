# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a block copy interrupted by a dead libvirtd left in a running QEMU, found and removed.

libvirtd adds the copy target to QEMU as two block nodes, ``libvirt-<N>-storage`` (the file)
and ``libvirt-<N>-format`` (the qcow2 on it), and runs a mirror job into them.  Killed
meanwhile, it forgets both; QEMU keeps them, and the next copy's ``blockdev-add`` of the same
names is refused ("Duplicate nodes").  Removed here through the QEMU monitor, as an operator
would with ``virsh qemu-monitor-command`` - libvirt marks the domain "tainted: custom-monitor".

Strict, because a wrong ``blockdev-del`` or job cancel hurts a running guest:
a node is a leftover only when its name is one libvirt generates, its index N is no
``index`` of the live domain XML (source, backingStore, mirror), and it sits on a file in one
of this domain's per-run workspaces of the snapshots directory (so an earlier run of ours
made it).  A mirror job is cancelled only when libvirt knows of no block job on any disk of
the domain and leftover nodes of ours exist (its target).
"""

from __future__ import annotations

import json
import os
import re
import time
import xml.etree.ElementTree as ET

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import LibvirtError, is_libvirt_error

try:
    import libvirt_qemu
    HAS_LIBVIRT_QEMU = True
except ImportError:
    HAS_LIBVIRT_QEMU = False

NODE_NAME = re.compile(r"^libvirt-(\d+)-(format|storage)$")
JOB_GONE_TIMEOUT = 30       # seconds a force-cancelled mirror job gets to leave QEMU
JOB_POLL = 0.1


def monitor(dom, command, **arguments):
    """One QMP command on the domain's monitor; its ``return``, or NovaopsError with QEMU's reason."""
    if not HAS_LIBVIRT_QEMU:
        raise NovaopsError("libvirt_qemu (part of libvirt-python) is needed to talk to the QEMU monitor.")
    request = dict(execute=command)
    if arguments:
        request["arguments"] = arguments
    try:
        reply = json.loads(libvirt_qemu.qemuMonitorCommand(dom, json.dumps(request), 0))
    except Exception as exc:  # pylint: disable=broad-except
        if not is_libvirt_error(exc):
            raise
        raise LibvirtError.from_exception(exc, "QEMU monitor command %s" % command) from exc
    if "error" in reply:
        raise NovaopsError("QEMU refused %s: %s" % (command, reply["error"].get("desc", reply["error"])))
    return reply.get("return")


def indexes_in_use(live_xml):
    """Every block node index the live domain XML names (sources, backing stores, mirrors)."""
    root = ET.fromstring(live_xml)
    used = set()
    for disk in root.iter("disk"):
        for element in disk.iter():
            if element.tag in ("source", "backingStore", "mirror") and (element.get("index") or "").isdigit():
                used.add(int(element.get("index")))
    return used


def libvirt_knows_a_job(dom, live_xml):
    """Whether libvirt tracks a block job on any disk of the domain (a <mirror>, or blockJobInfo)."""
    root = ET.fromstring(live_xml)
    for disk in root.iter("disk"):
        if disk.find("mirror") is not None:
            return True
        target = disk.find("target")
        if target is not None and target.get("dev") and disk.get("device", "disk") == "disk":
            try:
                if dom.blockJobInfo(target.get("dev"), 0):
                    return True
            except Exception as exc:  # pylint: disable=broad-except
                if not is_libvirt_error(exc):
                    raise
    return False


def in_workspace(path, snapshots_directory, domain_name):
    """Whether a file lies directly in a per-run workspace (<snapshots dir>/<domain>-...) of this domain."""
    if not path or not os.path.isabs(path):
        return False
    workspace = os.path.dirname(os.path.normpath(path))
    return os.path.dirname(workspace) == os.path.normpath(snapshots_directory) and \
        os.path.basename(workspace).startswith("%s-" % domain_name)


def leftover_nodes(nodes, used, snapshots_directory, domain_name):
    """Names of the nodes (query-named-block-nodes) to delete, each format node before its storage node."""
    groups = {}
    for node in nodes:
        match = NODE_NAME.match(node.get("node-name") or "")
        if match and int(match.group(1)) not in used:
            groups.setdefault(int(match.group(1)), {})[match.group(2)] = node
    found = []
    for index in sorted(groups):
        group = groups[index]
        storage = group.get("storage")
        if storage is None or not in_workspace(storage.get("file"), snapshots_directory, domain_name):
            continue
        fmt = group.get("format")
        if fmt is not None:
            if _file_of(fmt.get("file")) != storage.get("file"):
                continue        # a format node on something else: not a copy target of ours
            found.append(fmt["node-name"])
        found.append(storage["node-name"])
    return found


def _file_of(filename):
    """The file under a node's filename: QEMU names a node with options (e.g. ``backing: null``) by a
    ``json:{...}`` pseudo-filename whose ``file.filename`` is the file."""
    if not filename or not filename.startswith("json:"):
        return filename
    try:
        child = json.loads(filename[len("json:"):]).get("file")
    except ValueError:
        return None
    return child.get("filename") if isinstance(child, dict) else None


def find(dom, snapshots_directory):
    """(jobs, nodes): the orphan mirror jobs and leftover node names of an interrupted copy."""
    live_xml = dom.XMLDesc(0)
    nodes = leftover_nodes(monitor(dom, "query-named-block-nodes", flat=True) or [], indexes_in_use(live_xml),
                           snapshots_directory, dom.name())
    jobs = []
    if nodes and not libvirt_knows_a_job(dom, live_xml):
        jobs = [job for job in monitor(dom, "query-block-jobs") or [] if job.get("type") == "mirror"]
    return jobs, nodes


def remove(dom, snapshots_directory):
    """Cancel and delete what an interrupted copy left; returns what was removed, e.g.
    ``["block job copy-vda-libvirt-5-format", "node libvirt-5-format", "node libvirt-5-storage"]``."""
    jobs, nodes = find(dom, snapshots_directory)
    removed = []
    for job in jobs:
        _end_job(dom, job)
        removed.append("block job %s" % job["device"])
    for name in nodes:
        monitor(dom, "blockdev-del", **{"node-name": name})
        removed.append("node %s" % name)
    return removed


def _end_job(dom, job):
    """A mirror job force-cancelled (no pivot: the guest keeps its disk) and, once concluded, dismissed."""
    name = job["device"]
    if job.get("status") != "concluded":
        monitor(dom, "block-job-cancel", device=name, force=True)
    deadline = time.monotonic() + JOB_GONE_TIMEOUT
    while True:
        current = [j for j in monitor(dom, "query-block-jobs") or [] if j.get("device") == name]
        if not current:
            return
        if current[0].get("status") == "concluded":     # libvirt's jobs are not auto-dismissed
            monitor(dom, "job-dismiss", id=name)
        elif time.monotonic() > deadline:
            raise NovaopsError("The orphan block job %s did not end within %d s of its cancel." % (
                name, JOB_GONE_TIMEOUT))
        time.sleep(JOB_POLL)
