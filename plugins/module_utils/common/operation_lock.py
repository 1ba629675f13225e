# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The operation lock of an instance (Nova's ``task_state``): where it lives and how to read it.

An operation in progress marks its instance, so that a second one (or fleet repair) leaves it
alone:

- XenAPI: ``VM.other_config[XENAPI_KEY]`` holds JSON ``{"operation", "owner", "started_at"}``;
- libvirt: a ``<task operation= owner= started_at=/>`` element in the domain's ``<metadata>``
  under LIBVIRT_NAMESPACE, plus the file LOCK_FILE in the instance directory (it outlives
  an undefined domain and is what concurrent processes lock on the hypervisor).

Here are the names, the readers and writers of a mark, and the rules every holder follows
(OperationLock); the XenAPI and the libvirt holders (xen_operation_lock, libvirt_operation_lock)
do the reading and writing.  A mark that cannot be parsed still counts as a lock: an unknown
operation is in progress, not none.

The rules, after Nova's task_state:

- only a run that changes something marks the instance, and it re-plans once it holds the mark;
  a run with nothing to do writes nothing (and check mode never writes);
- a changing run refuses an instance another operation marks, naming it, and changes nothing;
- a mark is stale when its owner (``host:pid``) is this host and that process is gone (or the
  pid now belongs to a process started after the mark), when libvirt's lock file is not locked
  by anyone (the kernel drops a flock with its process), or when it is older than
  ``stale_lock_age`` seconds (marks of other hosts, which cannot be asked);
- a stale mark is cleared only when asked (``clear_stale_lock``, as ``nova reset-state``), or
  taken over by a hard reboot, which records that it did; a live mark is never cleared.
"""

from __future__ import annotations

import calendar
import contextlib
import json
import os
import socket
import time
import xml.etree.ElementTree as ET

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

XENAPI_KEY = "novaops_task_state"
# how many times a VM's mark was released (a run that held it may have changed the VM): see xen_operation_lock
XENAPI_RELEASES_KEY = "novaops_task_releases"
LIBVIRT_NAMESPACE = "https://novaops.example/compute/1/task"
LIBVIRT_PREFIX = "novaopstask"
LIBVIRT_ELEMENT = "task"
LOCK_FILE = "novaops-task.lock"
FIELDS = ("operation", "owner", "started_at")
UNKNOWN = "unknown"
STALE_AFTER = 86400      # default stale_lock_age: a day, longer than any transfer of one instance
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# a reused pid: its process started after the mark was written (marks have whole seconds)
PID_REUSE_SLACK = 2
PLACES = dict(other_config="other_config", metadata="domain metadata", lock_file="lock file")


def _task(values, source):
    task = dict((field, str(values.get(field)) if values.get(field) is not None else None) for field in FIELDS)
    if not task["operation"]:
        task["operation"] = UNKNOWN
    task["source"] = source
    return task


def parse_json(text, source):
    """The lock held in a JSON string (other_config value or lock file), or None when empty."""
    if text is None or not str(text).strip():
        return None
    try:
        values = json.loads(text)
    except ValueError:
        values = None
    if not isinstance(values, dict):
        return _task({}, source)
    return _task(values, source)


def from_other_config(other_config):
    """The lock of a XenServer VM from its ``other_config``, or None."""
    return parse_json((other_config or {}).get(XENAPI_KEY), "other_config")


def from_metadata(metadata):
    """The lock in a domain's ``<metadata>`` element (an ElementTree element or None), or None."""
    if metadata is None:
        return None
    element = metadata.find("{%s}%s" % (LIBVIRT_NAMESPACE, LIBVIRT_ELEMENT))
    if element is None:
        return None
    return _task(element.attrib, "metadata")


def from_domain_xml(xml):
    """The lock recorded in a domain's XML (a str), or None; XML that does not parse has none."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    return from_metadata(root.find("metadata"))


def lock_file_path(instance_dir):
    return os.path.join(instance_dir, LOCK_FILE)


def from_lock_file(exists, text=None):
    """The lock a lock file stands for: its JSON when readable, else an unknown operation."""
    if not exists:
        return None
    return parse_json(text, "lock_file") or _task({}, "lock_file")


# -- writing a mark ------------------------------------------------------------------------------
def owner_name(host=None, pid=None):
    """``host:pid`` of the process that holds a mark (this one by default)."""
    return "%s:%d" % (host or socket.gethostname(), os.getpid() if pid is None else pid)


def parse_owner(owner):
    """``(host, pid)`` of an owner written by owner_name, or None for anything else."""
    host, sep, pid = str(owner or "").rpartition(":")
    if not sep or not host or not pid.isdigit():
        return None
    return host, int(pid)


def format_time(epoch):
    return time.strftime(TIME_FORMAT, time.gmtime(epoch))


def parse_time(text):
    """Seconds since the epoch of a started_at, or None when it is not one."""
    try:
        return calendar.timegm(time.strptime(str(text), TIME_FORMAT))
    except ValueError:
        return None


def new_mark(operation, now=None, owner=None, took_over=None):
    """The mark this process writes: {operation, owner, started_at} (+ the stale one it took over)."""
    started = time.time() if now is None else now
    mark = dict(operation=operation, owner=owner or owner_name(), started_at=format_time(started))
    if took_over:
        mark["took_over"] = public(took_over)
    return mark


def to_json(mark):
    return json.dumps(mark, sort_keys=True)


def metadata_xml(mark):
    """The ``<task/>`` element of a mark, for virDomainSetMetadata (the namespace is given apart)."""
    return ET.tostring(ET.Element(LIBVIRT_ELEMENT, dict((f, str(mark[f])) for f in FIELDS)), encoding="unicode")


def public(task):
    """A mark as results show it: its fields, where it was found, and the verdict on it."""
    return dict((k, task.get(k)) for k in FIELDS + ("source", "stale", "stale_reason") if k in task)


# -- judging a mark --------------------------------------------------------------------------------
def process_started(pid, proc="/proc"):
    """When process pid started (seconds since the epoch), or None when there is no such live process."""
    try:
        with open(os.path.join(proc, str(pid), "stat")) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open(os.path.join(proc, "stat")) as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith("btime "))
    except (OSError, IndexError, ValueError, StopIteration):
        return None
    if fields[0] in ("Z", "X"):          # a zombie is a dead process not yet reaped
        return None
    return boot + int(fields[19]) / float(os.sysconf("SC_CLK_TCK"))


def stale_reason(task, now=None, this_host=None, stale_after=STALE_AFTER, started_of=process_started):
    """Why a mark is stale (a phrase), or None when its owner may still be at work."""
    now = time.time() if now is None else now
    started = parse_time(task.get("started_at"))
    owner = parse_owner(task.get("owner"))
    if owner is not None and owner[0] == (this_host or socket.gethostname()):
        pid_started = started_of(owner[1])
        if pid_started is None:
            return "its owner, process %d on this host, is gone" % owner[1]
        if started is not None and pid_started > started + PID_REUSE_SLACK:
            return "process %d on this host started after the mark, so its owner is gone" % owner[1]
        return None
    if started is None:
        return "it does not say when it started, and its owner cannot be asked"
    if now - started > stale_after:
        return "it is older than %d seconds (stale_lock_age)" % stale_after
    return None


def judged(task, held=None, stale_after=STALE_AFTER, now=None, this_host=None):
    """The mark with its verdict: held True (a lock someone holds), False (a lock nobody holds any
    more) or None (judge by owner and age)."""
    task = dict(task)
    if held is True:
        reason = None
    elif held is False:
        reason = "no process holds its lock file any more"
    else:
        reason = stale_reason(task, now, this_host, stale_after)
    task.update(stale=reason is not None, stale_reason=reason)
    return task


def describe(task):
    """``xen_vdi_resize by hv1:4242 since 2026-03-01T10:00:00Z``"""
    return "%s by %s since %s" % (task.get("operation") or UNKNOWN, task.get("owner") or "an unknown owner",
                                  task.get("started_at") or "an unknown time")


class InstanceBusy(NovaopsError):
    """Another operation marks the instance: the run refused before it changed anything."""

    def __init__(self, label, task):
        if task.get("stale"):
            msg = ("%s carries the mark of %s (in its %s), which is stale: %s - that run was killed half way. "
                   "Nothing was changed. Check the instance, then run again with clear_stale_lock: true to clear "
                   "the mark (as nova reset-state did)."
                   % (label, describe(task), _place(task), task["stale_reason"]))
        else:
            msg = ("%s is busy: %s is working on it (its mark is in the %s). Nothing was changed; run again "
                   "when that operation has finished." % (label, describe(task), _place(task)))
        super().__init__(msg, operation_lock=dict(busy=public(task)))


def _place(task):
    return PLACES.get(task.get("source"), task.get("source") or "mark")


def lock_argument_spec():
    """The options of every module that marks instances (doc fragment novaops.compute.operation_lock)."""
    return ArgumentSpec(dict(
        clear_stale_lock=dict(type="bool", default=False),
        stale_lock_age=dict(type="int", default=STALE_AFTER),
    ))


# -- the rules every holder follows ----------------------------------------------------------------
class OperationLock:
    """Admit a run, hold the mark while it works, release it whatever happens.

    A holder (xen_operation_lock, libvirt_operation_lock) implements marks() -> [(task, held)],
    take(mark, stale) and release(); after_stale_cleared(stale) may clean up what a killed run
    left.  ``report`` says what the run did to marks that were not its own (for the result).
    """

    def __init__(self, label, operation, params, takeover=False):
        self.label = label
        self.operation = operation
        self.clear = bool(params.get("clear_stale_lock"))
        self.stale_after = params.get("stale_lock_age")
        if self.stale_after is None:
            self.stale_after = STALE_AFTER
        if self.stale_after < 0:
            raise NovaopsError("stale_lock_age must be 0 or more seconds, not %d." % self.stale_after)
        self.takeover = takeover
        self.mark = None
        self.report = {}
        self.warnings = []
        self._admitted = None

    # backends
    def marks(self):
        raise NotImplementedError

    def take(self, mark, stale):
        raise NotImplementedError

    def release(self):
        raise NotImplementedError

    def after_stale_cleared(self, stale):
        """Clean up what the killed run of a stale mark left behind."""

    def seen(self, view):
        """The module's own read of the instance at the end of its work (Manager.lock_view): a
        holder that can check its mark there before it releases saves a read of its own."""

    def unchanged_since_admission(self):
        """While held: True when the holder can tell that no other run changed the instance since the
        read admit() judged, so that the plan made on that read stands; False (the default) when the
        caller must read and plan again under the lock."""
        return False

    # the rules
    def found(self):
        """The marks on the instance, judged: (live ones, stale ones)."""
        tasks = [judged(task, held, self.stale_after) for task, held in self.marks()]
        return [t for t in tasks if not t["stale"]], [t for t in tasks if t["stale"]]

    def admit(self, changing):
        """Before anything is written (check mode too): refuse a changing run on a marked instance,
        and return the lock's own actions ([], or the clearing of a stale mark)."""
        live, stale = self._admitted = self.found()
        if live and (changing or self.clear):
            raise InstanceBusy(self.label, live[0])
        if not stale:
            return []
        if self.clear:
            return ["clear_stale_lock"]
        if self.takeover and changing:
            return ["take_over_stale_lock"]
        if changing:
            raise InstanceBusy(self.label, stale[0])
        self.report["stale"] = [public(t) for t in stale]     # nothing to do: shown, left alone
        return []

    @contextlib.contextmanager
    def held(self):
        """The instance marked as this run's while the block runs; released at the end, always.

        The marks admit() has just read are not read again: taking the mark is what decides (an
        atomic add, a flock), and a mark that appeared meanwhile makes it refuse.
        """
        live, stale = self._admitted or self.found()
        self._admitted = None
        if live:
            raise InstanceBusy(self.label, live[0])
        if stale and not (self.clear or self.takeover):
            raise InstanceBusy(self.label, stale[0])
        mark = new_mark(self.operation, took_over=stale[0] if stale and not self.clear else None)
        self.take(mark, stale)
        self.mark = mark
        if stale:
            self.report["taken_over" if "took_over" in self.mark else "cleared"] = [public(t) for t in stale]
            if "took_over" in self.mark:
                self.warnings.append("%s took over the stale mark of %s on %s (%s)."
                                     % (self.operation, describe(stale[0]), self.label, stale[0]["stale_reason"]))
        failure = None
        try:
            if stale:
                self.after_stale_cleared(stale)
            yield self
        except BaseException as exc:
            failure = exc
            if isinstance(exc, NovaopsError) and self.report:
                exc.facts.setdefault("operation_lock", self.report)     # a failed take-over still says so
            raise
        finally:
            self._release(failure)

    def _release(self, failure):
        try:
            self.release()
        except NovaopsError as exc:
            what = ("The mark of this run (%s) is still on %s: releasing it failed (%s). Clear it with "
                    "clear_stale_lock: true." % (describe(self.mark), self.label, exc.msg))
            if failure is None:
                raise NovaopsError("The operation finished, but: " + what,
                                   operation_lock=dict(self.report, left=public(self.mark)))
            if isinstance(failure, NovaopsError):
                failure.facts["operation_lock_release_error"] = what
        finally:
            self.mark = None

    @property
    def holding(self):
        return self.mark is not None
