# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A consistent copy of one disk of a libvirt domain, live or cold, as Nova's libvirt driver took it.

live: a fresh qcow2 overlay on the disk's own backing file, the domain made transient
(libvirt allows a block copy only on a transient domain), ``blockRebase`` with
COPY|REUSE_EXT|SHALLOW into the overlay, the job waited for until ``cur == end`` and
aborted without pivot; the saved definition is redefined whatever happened.  The overlay
then holds the disk's top layer as of the abort, on the same backing file.

cold: a running or paused domain is managed-saved (QEMU flushes and stops), the disk is
read while nothing writes it, and the prior state is restored (paused stays paused).

A QEMU that refuses to start the copy (CopyNotStarted: e.g. "Duplicate nodes", a block node
left behind when libvirtd was killed during an earlier copy) may be cleared of what that copy
left (qemu_leftovers.py); failing that, only a new QEMU process heals it - a managed save and
restore is one, which is why the caller may fall back to cold.

Temporary files live in a per-run directory inside the snapshots directory (root's, 0700, or
0711 when QEMU must reach a live copy's overlay in it; files 0600, made here with O_EXCL), removed
whatever happens; all of it is reached through a confined Root (confined.py), so that nothing
QEMU or anyone else plants there is followed.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import time
import xml.etree.ElementTree as ET

from ansible_collections.novaops.compute.plugins.module_utils.libvirt import domain_xml as dx
from ansible_collections.novaops.compute.plugins.module_utils.disks.diskops import backing_file_of
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError, WaitTimeout
from ansible_collections.novaops.compute.plugins.module_utils.common.confined import Root
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import (
    LibvirtError, connection_lost, domain_state, is_libvirt_error, reconnect_domain, wait_for_state)
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.qemu_leftovers import in_workspace
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.blockjob import (
    BlockJobEvents, abort_job, start_shallow_copy, wait_until_ready)

XML_INACTIVE = 2
XML_SECURE = 1
UNDEFINE_KEEP_NVRAM = 8
START_PAUSED = 1
LIVE_STATES = ("running", "paused")       # states a live copy (and a managed save) works from
QUIET_STATES = ("shutoff", "crashed", "saved")   # nothing writes the disk
VIR_ERR_INTERNAL_ERROR = 1    # how libvirt reports a QEMU monitor command QEMU refused
DEFINE_ATTEMPTS, DEFINE_PAUSE = 25, 0.2     # up to 5 s for libvirt to finish removing a transient domain
QEMU_DEATH_NOTICED = 3          # seconds a failed copy waits to see whether the domain's QEMU died with it
RECONNECT_TIMEOUT = 60          # how long a lost libvirtd gets to answer again before the definition is restored


# -- which disk ---------------------------------------------------------------------------------
def select_disk(facts, wanted=None):
    """The disk (facts of parse_domain_xml) named by target (vda) or source path; default the root disk.

    The root disk is the first ``device='disk'`` with a file source, as Nova took it.
    """
    disks = [d for d in facts["disks"] if d.get("device") == "disk" and d.get("path")]
    if wanted:
        found = [d for d in disks if wanted in (d.get("target"), d.get("path"))]
        if not found:
            raise NovaopsError("Domain %s has no disk %r; its disks are %s." % (
                facts["name"], wanted, ", ".join("%s (%s)" % (d["target"], d["path"]) for d in disks) or "none"))
        disk = found[0]
    elif disks:
        disk = disks[0]
    else:
        raise NovaopsError("Domain %s has no file-backed disk to snapshot." % facts["name"])
    if disk.get("type") not in (None, "file"):
        raise NovaopsError("Disk %s of domain %s is a %s disk; only file disks can be snapshotted here." % (
            disk["target"], facts["name"], disk.get("type")))
    return dict(target=disk["target"], path=disk["path"], format=disk.get("format") or "raw")


def choose_mode(wanted, state):
    """live or cold: 'auto' is live while QEMU runs the domain (running or paused), else cold."""
    if state not in LIVE_STATES + QUIET_STATES:
        raise NovaopsError("The domain is %s; a snapshot needs it running, paused, shut off or saved." % state)
    if wanted == "live":
        if state not in LIVE_STATES:
            raise NovaopsError("A live snapshot needs the domain running or paused; it is %s (use mode=cold "
                               "or auto)." % state)
        return "live"
    if wanted == "cold":
        return "cold"
    return "live" if state in LIVE_STATES else "cold"


def qemu_owner(live_xml):
    """(uid, gid) QEMU runs as, from the domain's DAC seclabel; None when there is none."""
    try:
        root = ET.fromstring(live_xml)
    except ET.ParseError:
        return None
    for label in root.findall("seclabel"):
        if label.get("model") != "dac":
            continue
        text = label.findtext("imagelabel") or label.findtext("label")
        if text and ":" in text:
            user, group = text.split(":", 1)
            uid, gid = _id(user, pwd.getpwnam, "pw_uid"), _id(group, grp.getgrnam, "gr_gid")
            if uid is not None and gid is not None:
                return uid, gid
    return None


def _id(value, lookup, field):
    value = value.strip()
    if value.startswith("+"):
        return int(value[1:])
    try:
        return getattr(lookup(value), field)
    except KeyError:
        return int(value) if value.isdigit() else None


# -- the workspace -----------------------------------------------------------------------------
class SnapshotWorkspace:
    """A private directory in the snapshots directory for one run; removed on exit, whatever happened.

    The snapshots directory is created 0711 when missing (QEMU must traverse it to open a
    live copy's overlay; nobody can list it).  The per-run directory belongs to root: 0700, or
    0711 with an ``owner`` (QEMU's uid/gid, for a live copy), so that QEMU can open the overlay
    given to it but create nothing there; every file in it is made here (O_EXCL) and is 0600.
    Files are named by their name in the workspace, and reached without following links.
    """

    def __init__(self, snapshots_directory, prefix, owner=None):
        if not os.path.isabs(snapshots_directory):
            raise NovaopsError("snapshots_directory %r is not absolute." % snapshots_directory)
        self.root = Root(snapshots_directory, "snapshots_directory")
        self.parent = self.root.path
        self.prefix = prefix
        self.owner = owner
        self.name = None
        self.path = None

    def __enter__(self):
        if not self.root.isdir():
            self.root.mkdir(mode=0o711, parents=True)
            self.root.chmod((), 0o711)
        self.name = self.root.mkdtemp(self.prefix, mode=0o711 if self.owner else 0o700)
        self.path = self.root.path_of(self.name)
        return self

    def rel(self, name):
        return (self.name, name)

    def file(self, name):
        return self.root.path_of(self.rel(name))

    def reserve(self, name, give_to_owner=False):
        """A new, empty 0600 file of the workspace for a tool to write (given to the owner, for QEMU); its path."""
        path = self.root.reserve(self.rel(name), mode=0o600, replace=True)   # an earlier attempt's is ours
        if give_to_owner and self.owner:
            self.root.chown(self.rel(name), *self.owner)
        return path

    def secure(self, name, give_to_owner=False):
        """A file of the workspace made 0600 (and given to the owner, for QEMU to open); its path."""
        self.root.chmod(self.rel(name), 0o600)
        if give_to_owner and self.owner:
            self.root.chown(self.rel(name), *self.owner)
        return self.file(name)

    def open(self, name):
        """A descriptor of a file of the workspace (a plain file: no link, FIFO or second hard link)."""
        return self.root.open(self.rel(name))

    def remove(self, name):
        self.root.unlink(self.rel(name))

    def __exit__(self, *exc):
        if self.name:
            try:
                self.root.rmtree(self.name)
            except NovaopsError:
                pass
        return False


# -- live --------------------------------------------------------------------------------------
def create_overlay(qemu_img, disk, dest):
    """A fresh qcow2 at ``dest`` (a file made empty beforehand) on the same backing file as the disk (none
    for a flat disk), same size."""
    info = qemu_img.info(disk["path"], disk["format"])
    backing = backing_file_of(info)
    qemu_img.create(dest, "qcow2", size=info["virtual-size"], backing=backing,
                    backing_fmt=info.get("backing-filename-format") if backing else None,
                    cluster_size=info.get("cluster-size"))
    return dict(path=dest, backing=backing, virtual_size=info["virtual-size"])


@contextlib.contextmanager
def transient_for_copy(conn, dom, rescue_dir):
    """The domain undefined (running on, transient) inside the block; its definition ALWAYS restored.

    The inactive XML (with secrets) and autostart are saved first; on the way out the XML
    is defined again and autostart set back, even when the block raised.  Should that
    define fail, the XML is left in ``rescue_dir`` and the message says where.
    """
    if not dom.isPersistent():
        yield False
        return
    saved = dom.XMLDesc(XML_INACTIVE | XML_SECURE)
    autostart = bool(dom.autostart())
    try:
        dom.undefineFlags(UNDEFINE_KEEP_NVRAM)
    except Exception as exc:  # pylint: disable=broad-except
        if not is_libvirt_error(exc):
            raise
        if dom.isPersistent():     # an old libvirt without the flag
            dom.undefine()
    failure = None
    try:
        yield True
    except BaseException as exc:
        failure = exc
        raise
    finally:
        try:
            if connection_lost(dom):      # libvirtd restarted meanwhile: define on a live connection
                reconnect_domain(dom, RECONNECT_TIMEOUT)
                conn = dom.connect()
            redefined = _define_again(conn, saved)
            if autostart:
                redefined.setAutostart(1)
        except Exception as exc:  # pylint: disable=broad-except
            kept = _keep_xml(rescue_dir, dom, saved)
            msg = ("Domain %s could not be defined again after the block copy (%s); its definition is saved in %s: "
                   "virsh define it." % (dom.name(), _message(exc), kept))
            if isinstance(failure, NovaopsError):     # both told: the copy's failure, then this
                failure.msg = "%s %s" % (failure.msg, msg)
                failure.facts["saved_xml"] = kept
            else:
                if failure is not None:
                    msg += " The copy itself had failed: %s" % _message(failure)
                raise NovaopsError(msg, saved_xml=kept) from exc   # pylint: disable=raise-missing-from


def _define_again(conn, xml):
    """defineXML, tried again for a moment: a transient domain whose QEMU just died is still being
    removed by libvirt ("already being removed"), and the define is refused until it is gone."""
    for attempt in range(DEFINE_ATTEMPTS):
        try:
            return conn.defineXML(xml)
        except Exception as exc:  # pylint: disable=broad-except
            if not is_libvirt_error(exc) or attempt == DEFINE_ATTEMPTS - 1:
                raise
            time.sleep(DEFINE_PAUSE)
    return None


def _keep_xml(directory, dom, xml):
    root = Root(directory, "snapshots_directory")
    name = "%s-%s.xml" % (dom.name(), dom.UUIDString())
    root.write_atomic(name, xml, mode=0o600)
    return root.path_of(name)


def _message(exc):
    if is_libvirt_error(exc):
        return exc.get_error_message()
    return str(exc)


class CopyNotStarted(LibvirtError):
    """QEMU refused to start the block copy; the domain runs on untouched."""


def qemu_refused(exc):
    """Whether a libvirtError is QEMU refusing a monitor command (rather than libvirt refusing the request,
    e.g. another block job active): a fresh QEMU process may well accept it."""
    return is_libvirt_error(exc) and exc.get_error_code() == VIR_ERR_INTERNAL_ERROR and \
        "QEMU command" in (exc.get_error_message() or "")


def _start_copy(dom, target, overlay, bandwidth_mib):
    try:
        start_shallow_copy(dom, target, overlay, bandwidth_mib)
    except Exception as exc:  # pylint: disable=broad-except
        if not qemu_refused(exc):
            raise
        failure = CopyNotStarted.from_exception(exc, "QEMU refused to start the block copy")
        raise failure from exc


def live_copy(conn, dom, disk, overlay, timeout, rescue_dir, bandwidth_mib=0):
    """Mirror the disk's top layer into ``overlay`` (which exists) while the domain runs.

    Returns ``{"waited", "bytes", "woken_by_events"}``.  The job is aborted (no pivot)
    whatever happens, before the definition is restored: libvirt refuses to make a domain
    persistent while a copy job runs.  CopyNotStarted when QEMU refuses the copy outright.
    """
    target = disk["target"]
    try:
        qemu = _qemu_of(dom)
        with transient_for_copy(conn.conn, dom, rescue_dir):
            with BlockJobEvents(dom, target) as events:
                _abort_interrupted_copy(dom, target, rescue_dir)
                _start_copy(dom, target, overlay, bandwidth_mib)
                try:
                    progress = wait_until_ready(dom, target, timeout, events=events)
                finally:
                    _abort_quietly(dom, target)
        if _qemu_of(dom) != qemu:
            # a QEMU killed as the job started can leave a "ready" answer behind it: the overlay
            # is then no copy of the disk, and must not become an image
            raise NovaopsError("The block copy of disk %s ended, but the domain's QEMU did not outlive it; the copy "
                               "is not used." % target)
    except NovaopsError as exc:
        _start_if_died(dom, timeout, exc)
        raise
    except Exception as exc:
        if not is_libvirt_error(exc):
            raise
        failure = LibvirtError.from_exception(exc, "The block copy")
        _start_if_died(dom, timeout, failure)
        raise failure from exc
    return progress


def _qemu_of(dom):
    """Which QEMU runs the domain (libvirt's domain id, new for each start), or None when none does."""
    try:
        return dom.ID() if dom.isActive() else None
    except Exception as exc:  # pylint: disable=broad-except
        if not is_libvirt_error(exc):
            raise
        return None     # a transient domain whose QEMU died is gone


def _start_if_died(dom, timeout, failure):
    """The domain ran when the copy began: if its QEMU died meanwhile, it is started again (the
    definition is back by now), so that a failed snapshot leaves the instance as it found it."""
    try:
        try:        # libvirt notices a dead QEMU on its monitor's EOF, a moment after the copy failed
            wait_for_state(dom, "shutoff", min(QEMU_DEATH_NOTICED, timeout))
        except WaitTimeout:
            return      # it runs: the copy failed for another reason
        dom.create()
        wait_for_state(dom, "running", timeout)
        failure.msg += " The domain had stopped (its QEMU died) and was started again."
    except Exception as exc:  # pylint: disable=broad-except
        if not is_libvirt_error(exc) and not isinstance(exc, NovaopsError):
            raise
        failure.msg += " The domain stopped (its QEMU died) and could not be started again: %s" % _message(exc)


def _mirror_file(dom, target):
    """The file the disk's block copy writes to, as the live domain XML names it (None without one)."""
    for disk in ET.fromstring(dom.XMLDesc(0)).findall("./devices/disk"):
        node = disk.find("target")
        mirror = disk.find("mirror")
        if node is not None and node.get("dev") == target and mirror is not None:
            source = mirror.find("source")
            return mirror.get("file") or (source.get("file") if source is not None else None)
    return None


def _abort_interrupted_copy(dom, target, rescue_dir):
    """A copy job an earlier run of this module left on the disk is aborted (no pivot) before this run's.

    libvirtd killed mid-copy leaves the job running in QEMU; when libvirt had saved it in the domain's
    status before it died, it finds the job again on restart and refuses a new copy ("already in active
    block job").  Such a job mirrors into a per-run workspace of this domain in the snapshots directory,
    removed since: it is ours (qemu_leftovers.in_workspace, the test the monitor clean-up uses too).  A
    job on any other file is someone else's work (a copy or a migration) and is refused.
    """
    if not dom.blockJobInfo(target, 0):
        return
    mirror = _mirror_file(dom, target)
    if not in_workspace(mirror, rescue_dir, dom.name()):
        raise NovaopsError("Disk %s of domain %s is in a block job this module did not start (it writes to %s); "
                           "refusing the snapshot while it runs." % (target, dom.name(), mirror or "an unnamed target"))
    abort_job(dom, target)


def _abort_quietly(dom, target):
    try:
        abort_job(dom, target)
    except Exception as exc:  # pylint: disable=broad-except
        if not is_libvirt_error(exc):
            raise
        # the job may have ended between the look and the abort; anything else is real
        if dom.blockJobInfo(target, 0):
            raise


# -- cold --------------------------------------------------------------------------------------
@contextlib.contextmanager
def quiesced(dom, timeout):
    """Nothing writes the domain's disks inside the block; the prior state is restored after it.

    Running or paused: managed save (QEMU flushes and exits), then a start that restores
    the save, paused again if it was paused.  Shut off, crashed or saved: nothing to do.
    Yields ``{"prior", "downtime"}``; downtime is filled in on the way out.
    """
    prior, _reason = domain_state(dom)
    facts = dict(prior=prior, downtime=0.0)
    if prior in QUIET_STATES:
        yield facts
        return
    if prior not in LIVE_STATES:
        raise NovaopsError("Domain %s is %s; a cold snapshot needs it running, paused or shut off." % (
            dom.name(), prior))
    if not dom.isPersistent():
        raise NovaopsError("Domain %s is transient: it cannot be managed-saved for a cold snapshot (use a live "
                           "one)." % dom.name())
    started = time.monotonic()
    dom.managedSave(0)
    try:
        wait_for_state(dom, "saved", timeout, what="domain %s to be managed-saved" % dom.name())
        yield facts
    finally:
        if not dom.isActive():
            dom.createWithFlags(START_PAUSED if prior == "paused" else 0)
        wait_for_state(dom, prior, timeout, what="domain %s to be %s again" % (dom.name(), prior))
        facts["downtime"] = round(time.monotonic() - started, 3)


def domain_facts(dom):
    """Name, UUID, state and persistence, as a user sees them."""
    state, _reason = domain_state(dom)
    return dict(name=dom.name(), uuid=dom.UUIDString(), state=state, persistent=bool(dom.isPersistent()))


def live_disk(dom, wanted):
    """The disk to snapshot, from the live XML when the domain runs (the inactive one otherwise)."""
    active = bool(dom.isActive())
    xml = dom.XMLDesc(0 if active else XML_INACTIVE)
    return select_disk(dx.parse_domain_xml(xml), wanted), (qemu_owner(xml) if active else None)
