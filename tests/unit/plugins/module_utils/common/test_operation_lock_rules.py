# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The operation lock's rules: marks written and read back, staleness, messages, admission, release."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common import operation_lock as lock
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.operation_lock import LibvirtOperationLock, probe
from ansible_collections.novaops.compute.plugins.module_utils.common.plan import Manager

NOW = 1_800_000_000          # 2027-01-15T08:00:00Z
HOST = "hv1"


def mark(owner="hv1:4242", started=NOW - 60, operation="xen_vm running"):
    return dict(operation=operation, owner=owner, started_at=lock.format_time(started))


# -- format --------------------------------------------------------------------------------------
def test_a_written_mark_reads_back_from_every_place():
    written = lock.new_mark("libvirt_resize migrated", now=NOW, owner="hv1:77")
    assert written == dict(operation="libvirt_resize migrated", owner="hv1:77", started_at="2027-01-15T08:00:00Z")
    text = lock.to_json(written)
    assert lock.from_other_config({lock.XENAPI_KEY: text}) == dict(written, source="other_config")
    assert lock.from_lock_file(True, text) == dict(written, source="lock_file")
    metadata = ET.Element("metadata")
    element = ET.fromstring(lock.metadata_xml(written))
    element.tag = "{%s}%s" % (lock.LIBVIRT_NAMESPACE, element.tag)
    metadata.append(element)
    assert lock.from_metadata(metadata) == dict(written, source="metadata")


def test_a_take_over_is_recorded_in_the_new_mark():
    old = lock.judged(dict(mark(), source="other_config"), None, now=NOW + 10 ** 6, this_host="elsewhere")
    written = lock.new_mark("xen_vm rebooted hard", now=NOW, owner="hv1:1", took_over=old)
    assert written["took_over"]["owner"] == "hv1:4242" and written["took_over"]["stale"] is True
    assert json.loads(lock.to_json(written))["took_over"]["operation"] == "xen_vm running"


def test_owner_and_time_parsing():
    assert lock.parse_owner(lock.owner_name("hv-1.example", 12)) == ("hv-1.example", 12)
    assert lock.parse_owner(lock.owner_name()) == (os.uname()[1], os.getpid())
    for bad in (None, "", "awx-job-41", "hv1:", ":12", "hv1:x1"):
        assert lock.parse_owner(bad) is None
    assert lock.parse_time(lock.format_time(NOW)) == NOW
    assert lock.parse_time("yesterday") is None and lock.parse_time(None) is None


# -- staleness -----------------------------------------------------------------------------------
def started_of(table):
    return table.get


def test_an_owner_on_this_host_is_asked_whether_it_lives():
    alive = started_of({4242: NOW - 120})
    assert lock.stale_reason(mark(), NOW, HOST, 86400, alive) is None
    gone = lock.stale_reason(mark(), NOW, HOST, 86400, started_of({}))
    assert "process 4242 on this host, is gone" in gone
    # however old: a live owner on this host is at work
    old_owner = started_of({4242: NOW - 10 ** 7 - 5})
    assert lock.stale_reason(mark(started=NOW - 10 ** 7), NOW, HOST, 60, old_owner) is None


def test_a_reused_pid_is_not_the_owner():
    reused = started_of({4242: NOW - 30})          # started after the mark (NOW - 60)
    assert "started after the mark" in lock.stale_reason(mark(), NOW, HOST, 86400, reused)
    just_before = started_of({4242: NOW - 60 + lock.PID_REUSE_SLACK})
    assert lock.stale_reason(mark(), NOW, HOST, 86400, just_before) is None


def test_an_owner_elsewhere_is_judged_by_age():
    never = started_of({})
    other = mark(owner="hv2:4242")
    assert lock.stale_reason(other, NOW, HOST, 86400, never) is None
    assert "older than 30 seconds" in lock.stale_reason(other, NOW, HOST, 30, never)
    assert "does not say when" in lock.stale_reason(dict(other, started_at="garbage"), NOW, HOST, 86400, never)
    assert "does not say when" in lock.stale_reason(dict(owner=None, started_at=None), NOW, HOST, 86400, never)
    # the fleet tests' marks: an owner that is not host:pid, and an old start
    assert lock.stale_reason(dict(owner="fr-tag", started_at="2026-01-01T00:00:00Z"), NOW, HOST, 86400, never)


def test_a_held_lock_file_is_live_and_a_free_one_stale_whatever_the_owner_says():
    assert lock.judged(mark(owner="hv2:1", started=0), True, now=NOW, this_host=HOST)["stale"] is False
    free = lock.judged(mark(owner=lock.owner_name()), False, now=NOW, this_host=HOST)
    assert free["stale"] is True and "no process holds its lock file" in free["stale_reason"]


def test_process_started(tmp_path):
    assert abs(lock.process_started(os.getpid()) - __import__("time").time()) < 10 ** 6
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert lock.process_started(child.pid) is None or os.path.exists("/proc/%d" % child.pid)
    (tmp_path / "stat").write_text("cpu 1 2 3\nbtime 1000\n")
    (tmp_path / "77").mkdir()
    stat = "77 (a (strange) name) %s 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 500 0 0\n"
    (tmp_path / "77" / "stat").write_text(stat % "S")
    assert lock.process_started(77, proc=str(tmp_path)) == 1000 + 500 / float(os.sysconf("SC_CLK_TCK"))
    (tmp_path / "77" / "stat").write_text(stat % "Z")
    assert lock.process_started(77, proc=str(tmp_path)) is None


# -- messages ------------------------------------------------------------------------------------
def test_a_refusal_names_the_first_operation():
    live = lock.judged(dict(mark(), source="other_config"), None, now=NOW, this_host="elsewhere")
    busy = lock.InstanceBusy("VM web1", live)
    for part in ("VM web1 is busy", "xen_vm running", "hv1:4242", "2027-01-15T07:59:00Z", "Nothing was changed"):
        assert part in busy.msg
    assert busy.facts["operation_lock"]["busy"]["owner"] == "hv1:4242"
    stale = lock.judged(dict(mark(), source="lock_file"), False)
    text = lock.InstanceBusy("Domain d1", stale).msg
    assert "stale" in text and "clear_stale_lock: true" in text and "hv1:4242" in text and "lock file" in text


# -- admission and holding -----------------------------------------------------------------------
class FakeLock(lock.OperationLock):
    """Marks in a list; what happened in a log."""

    def __init__(self, found=(), params=None, takeover=False, release_error=None, unchanged=False):
        super().__init__("VM web1", "xen_vm running", params or {}, takeover)
        self.found_marks = list(found)
        self.log = []
        self.release_error = release_error
        self.unchanged = unchanged

    def unchanged_since_admission(self):
        return self.unchanged

    def marks(self):
        return list(self.found_marks)

    def take(self, mark, stale):
        self.log.append(("take", mark["operation"], len(stale)))
        self.found_marks = []

    def release(self):
        self.log.append(("release",))
        if self.release_error:
            raise NovaopsError(self.release_error)


LIVE = (dict(mark(owner="elsewhere:1", started=10 ** 10), source="other_config"), None)
DEAD = (dict(mark(owner="elsewhere:1", started=0), source="lock_file"), False)


def test_admission():
    assert FakeLock().admit(True) == []
    assert FakeLock([LIVE]).admit(False) == []
    with pytest.raises(lock.InstanceBusy):
        FakeLock([LIVE]).admit(True)
    with pytest.raises(lock.InstanceBusy):
        FakeLock([LIVE], params=dict(clear_stale_lock=True)).admit(False)   # a live mark is never cleared
    with pytest.raises(lock.InstanceBusy) as refused:
        FakeLock([DEAD]).admit(True)
    assert "clear_stale_lock" in refused.value.msg
    assert FakeLock([DEAD], params=dict(clear_stale_lock=True)).admit(False) == ["clear_stale_lock"]
    assert FakeLock([DEAD], takeover=True).admit(True) == ["take_over_stale_lock"]
    quiet = FakeLock([DEAD])
    assert quiet.admit(False) == [] and quiet.report["stale"][0]["owner"] == "elsewhere:1"
    with pytest.raises(NovaopsError, match="stale_lock_age"):
        FakeLock(params=dict(stale_lock_age=-1))


def test_held_releases_whatever_happens():
    ok = FakeLock()
    with ok.held():
        assert ok.holding
    assert ok.log == [("take", "xen_vm running", 0), ("release",)] and not ok.holding
    failing = FakeLock()
    with pytest.raises(RuntimeError):
        with failing.held():
            raise RuntimeError("boom")
    assert failing.log[-1] == ("release",)


def test_held_takes_over_or_clears_and_records_it():
    taken = FakeLock([DEAD], takeover=True)
    with taken.held():
        assert taken.mark["took_over"]["owner"] == "elsewhere:1"
    assert taken.report["taken_over"][0]["stale"] is True
    assert "took over the stale mark of xen_vm running by elsewhere:1" in taken.warnings[0]
    cleared = FakeLock([DEAD], params=dict(clear_stale_lock=True))
    with cleared.held():
        assert "took_over" not in cleared.mark
    assert cleared.report["cleared"][0]["source"] == "lock_file"
    with pytest.raises(lock.InstanceBusy):
        with FakeLock([DEAD]).held():
            pass
    with pytest.raises(NovaopsError) as failed:
        with FakeLock([DEAD], takeover=True).held():
            raise NovaopsError("the reboot failed")
    assert failed.value.facts["operation_lock"]["taken_over"][0]["owner"] == "elsewhere:1"


def test_a_failed_release_is_reported():
    after_success = FakeLock(release_error="no connection")
    with pytest.raises(NovaopsError) as failed:
        with after_success.held():
            pass
    assert "still on VM web1" in failed.value.msg and failed.value.facts["operation_lock"]["left"]
    during_failure = FakeLock(release_error="no connection")
    with pytest.raises(NovaopsError) as first:
        with during_failure.held():
            raise NovaopsError("the operation failed")
    assert first.value.msg == "the operation failed"
    assert "no connection" in first.value.facts["operation_lock_release_error"]


# -- the manager ---------------------------------------------------------------------------------
class FakeModule:
    def __init__(self, check_mode=False):
        self.params = {}
        self.check_mode = check_mode
        self._diff = False


class Value(Manager):
    def __init__(self, module, store, wanted, held_lock):
        super().__init__(module)
        self.store, self.wanted, self.held_lock = store, wanted, held_lock
        self.plans = 0

    def read(self):
        return dict(self.store)

    def plan(self, before, plan):
        self.plans += 1
        if before["value"] != self.wanted:
            plan.add("set", self.store.__setitem__, "value", self.wanted)
        return dict(value=self.wanted)

    def operation_lock(self, before):
        return self.held_lock


def test_nothing_to_do_writes_no_mark_and_check_mode_never_does():
    held = FakeLock()
    assert Value(FakeModule(), {"value": 1}, 1, held).converge()["changed"] is False
    checked = FakeLock()
    result = Value(FakeModule(check_mode=True), {"value": 1}, 2, checked).converge()
    assert result["changed"] is True and checked.log == [] and held.log == []


def test_a_change_is_planned_again_under_the_lock():
    held = FakeLock()
    store = {"value": 1}
    manager = Value(FakeModule(), store, 2, held)
    result = manager.converge()
    assert result["actions"] == ["set"] and store["value"] == 2 and manager.plans == 2
    assert held.log == [("take", "xen_vm running", 0), ("release",)]


def test_a_plan_the_lock_vouches_for_is_applied_without_reading_again():
    store = {"value": 1}
    manager = Value(FakeModule(), store, 2, FakeLock(unchanged=True))
    result = manager.converge()
    assert result["actions"] == ["set"] and store["value"] == 2 and manager.plans == 1


def test_a_refused_run_changes_nothing():
    store = {"value": 1}
    with pytest.raises(lock.InstanceBusy):
        Value(FakeModule(), store, 2, FakeLock([LIVE])).converge()
    assert store["value"] == 1


def test_clearing_a_stale_mark_is_a_change_of_its_own():
    cleared = FakeLock([DEAD], params=dict(clear_stale_lock=True))
    result = Value(FakeModule(), {"value": 1}, 1, cleared).converge()
    assert result["changed"] is True and result["actions"] == ["clear_stale_lock"]
    assert result["operation_lock"]["cleared"][0]["owner"] == "elsewhere:1"


# -- the libvirt lock file (real files and flock, no domain) ----------------------------------------
def file_lock(instance_dir, **params):
    return LibvirtOperationLock(None, "Domain d1", "libvirt_domain running", params, instance_dir=str(instance_dir))


def test_the_lock_file_excludes_a_second_holder_and_is_gone_after(tmp_path):
    first = file_lock(tmp_path / "u1")
    path = lock.lock_file_path(str(tmp_path / "u1"))
    with first.held():
        assert not os.path.exists(path)          # a new instance: no directory yet
        (tmp_path / "u1").mkdir()
        first.refresh()                          # locked from the moment it has one
        assert json.loads(open(path).read())["owner"] == lock.owner_name()
        assert probe(path)[0] is True
        first.refresh()                          # its own lock file is not locked twice
        with pytest.raises(lock.InstanceBusy) as refused:
            file_lock(tmp_path / "u1").admit(True)
        assert "is busy" in refused.value.msg and lock.owner_name() in refused.value.msg
    assert not os.path.exists(path) and os.listdir(str(tmp_path / "u1")) == []


def test_a_killed_holder_leaves_a_stale_file_that_can_be_cleared(tmp_path):
    instance = tmp_path / "u1"
    instance.mkdir()
    path = lock.lock_file_path(str(instance))
    code = ("import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.write(fd, sys.argv[2].encode())\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, path, lock.to_json(mark(owner="hv9:1"))],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(lock.InstanceBusy, match="is busy"):
        file_lock(instance).admit(True)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with pytest.raises(lock.InstanceBusy, match="no process holds its lock file"):
        file_lock(instance).admit(True)
    clearing = file_lock(instance, clear_stale_lock=True)
    assert clearing.admit(False) == ["clear_stale_lock"]
    with clearing.held():
        assert json.loads(open(path).read())["owner"] == lock.owner_name()
    assert clearing.report["cleared"][0]["owner"] == "hv9:1"
    assert not os.path.exists(path) and instance.is_dir()


def test_the_lock_follows_its_directory_through_a_resize(tmp_path):
    instance = tmp_path / "u1"
    instance.mkdir()
    held = file_lock(instance)
    with held.held():
        os.rename(str(instance), str(instance) + "_resize")          # move_to_resize
        instance.mkdir()                                             # the destination, same host
        with pytest.raises(lock.InstanceBusy):                       # still seen, in <uuid>_resize
            file_lock(instance).admit(True)
        shutil.rmtree(str(instance))                                 # revert: the copy goes, the original back
        os.rename(str(instance) + "_resize", str(instance))
        held.refresh()                                               # the moved lock file is known as its own
        assert probe(lock.lock_file_path(str(instance)))[0] is True
    assert os.listdir(str(instance)) == [] and not os.path.exists(str(instance) + "_resize")


class FakeDomain:
    """The metadata side of a libvirt domain: its task element, persistent and running."""

    def __init__(self, task_xml=None):
        self.task_xml = task_xml

    def XMLDesc(self, _flags):  # pylint: disable=invalid-name
        inner = self.task_xml.replace("<task", '<task xmlns="%s"' % lock.LIBVIRT_NAMESPACE) if self.task_xml else ""
        return "<domain><name>d1</name><metadata>%s</metadata></domain>" % inner

    def setMetadata(self, _kind, xml, _prefix, _namespace, _flags):  # pylint: disable=invalid-name
        self.task_xml = xml

    def isActive(self):  # pylint: disable=invalid-name
        return True

    def isPersistent(self):  # pylint: disable=invalid-name
        return True


class FakeVirConnect:
    def __init__(self, alive):
        self.alive = alive

    def isAlive(self):  # noqa: N802 - libvirt's name
        return self.alive


class FakeConnection:
    """LibvirtConnection: ``conn`` is the virConnect, dead after a libvirtd restart until reconnect()."""

    def __init__(self, dom, alive=True):
        self.dom = dom
        self.conn = FakeVirConnect(alive)
        self.reconnects = 0

    def lookup(self, uuid=None):
        assert self.conn.alive, "looked up on a dead connection"
        return self.dom

    def reconnect(self, timeout):
        self.reconnects += 1
        self.conn = FakeVirConnect(True)
        return self.conn


def test_a_mark_is_removed_after_libvirtd_restarted_during_the_run(tmp_path):
    dom = FakeDomain()
    conn = FakeConnection(dom)
    held = LibvirtOperationLock(conn, "Domain d1", "libvirt_domain running", {},
                                instance_dir=str(tmp_path / "u1"), uuid="u1")
    with held.held():
        assert lock.from_domain_xml(dom.XMLDesc(0)) is not None
        conn.conn.alive = False                # libvirtd killed and started again meanwhile
    assert conn.reconnects == 1 and dom.task_xml is None


def test_the_domain_is_marked_while_held_and_a_refused_run_leaves_the_other_mark(tmp_path):
    dom = FakeDomain()
    held = LibvirtOperationLock(FakeConnection(dom), "Domain d1", "libvirt_domain running", {},
                                instance_dir=str(tmp_path / "u1"), uuid="u1")
    with held.held():
        assert lock.from_domain_xml(dom.XMLDesc(0))["owner"] == lock.owner_name()
    assert dom.task_xml is None
    other = lock.metadata_xml(mark(owner=lock.owner_name(), started=__import__("time").time()))
    dom.task_xml = other                       # a live run of this process's kind, advisory only
    refused = LibvirtOperationLock(FakeConnection(dom), "Domain d1", "libvirt_domain running", {}, uuid="u1")
    with pytest.raises(lock.InstanceBusy):
        refused.admit(True)
    (tmp_path / "u2").mkdir()
    holder = file_lock(tmp_path / "u2")
    with holder.held():
        late = LibvirtOperationLock(FakeConnection(dom), "Domain d1", "x", {}, instance_dir=str(tmp_path / "u2"),
                                    uuid="u1")
        late._admitted = ([], [])              # admitted just before the other took the lock file
        with pytest.raises(lock.InstanceBusy):
            with late.held():
                pass
        assert dom.task_xml == other           # its failed take did not remove the other's mark


class CountingDomain(FakeDomain):
    """A FakeDomain that counts the metadata writes (round trips to libvirtd)."""

    def __init__(self, task_xml=None):
        super().__init__(task_xml)
        self.writes = 0

    def setMetadata(self, *args):  # pylint: disable=invalid-name,arguments-differ
        self.writes += 1
        super().setMetadata(*args)


def test_where_the_lock_file_is_no_metadata_is_written(tmp_path):
    (tmp_path / "u1").mkdir()
    dom = CountingDomain()
    held = LibvirtOperationLock(FakeConnection(dom), "Domain d1", "libvirt_domain paused", {},
                                instance_dir=str(tmp_path / "u1"), uuid="u1", xml=(None, dom.XMLDesc(2)))
    assert held.admit(True) == []
    with held.held():
        assert json.loads(open(lock.lock_file_path(str(tmp_path / "u1"))).read())["owner"] == lock.owner_name()
    assert dom.writes == 0 and dom.task_xml is None


def test_a_stale_metadata_mark_is_found_in_the_xml_read_and_cleared(tmp_path):
    (tmp_path / "u1").mkdir()
    dom = CountingDomain(lock.metadata_xml(mark(owner="hv9:1", started=time.time() - 2 * lock.STALE_AFTER)))
    clearing = LibvirtOperationLock(FakeConnection(dom), "Domain d1", "libvirt_domain paused",
                                    dict(clear_stale_lock=True), instance_dir=str(tmp_path / "u1"), uuid="u1",
                                    xml=(dom.XMLDesc(0), dom.XMLDesc(2)))
    assert clearing.admit(False) == ["clear_stale_lock"]
    with clearing.held():
        assert dom.task_xml is None            # cleared as the lock was taken, not rewritten
    assert clearing.report["cleared"][0]["owner"] == "hv9:1" and dom.task_xml is None
