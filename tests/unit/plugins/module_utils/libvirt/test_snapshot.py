# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""libvirt_snapshot's logic with no outside part: disk choice, mode, QEMU's owner, the workspace,
the block job wait, the always-redefined definition and the restored state (fake domains).

The real block copy, managed save and Glance upload are covered by the integration target.
"""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.libvirt import blockjob as bj
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import snapshot as ls
from ansible_collections.novaops.compute.plugins.module_utils.disks.diskops import QemuImg
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError, WaitTimeout
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import HAS_LIBVIRT

if HAS_LIBVIRT:
    import libvirt

FACTS = dict(name="web1", disks=[
    dict(device="cdrom", type="file", path="/isos/x.iso", format="raw", target="hdc"),
    dict(device="disk", type="file", path="/inst/u/disk", format="qcow2", target="vda"),
    dict(device="disk", type="file", path="/inst/u/disk.local", format="qcow2", target="vdb"),
])

LIVE_XML = """<domain type='qemu'><name>web1</name>
  <seclabel type='dynamic' model='dac' relabel='yes'>
    <label>+64055:+64055</label><imagelabel>+64055:+108</imagelabel>
  </seclabel></domain>"""


# -- disk and mode -----------------------------------------------------------------------------
def test_root_disk_is_the_first_file_disk_not_the_cdrom():
    assert ls.select_disk(FACTS) == dict(target="vda", path="/inst/u/disk", format="qcow2")


def test_disk_by_target_or_path():
    assert ls.select_disk(FACTS, "vdb")["path"] == "/inst/u/disk.local"
    assert ls.select_disk(FACTS, "/inst/u/disk.local")["target"] == "vdb"


def test_unknown_disk_names_the_disks_there_are():
    with pytest.raises(NovaopsError, match=r"no disk 'vdz'; its disks are vda \(/inst/u/disk\), vdb"):
        ls.select_disk(FACTS, "vdz")


def test_a_domain_without_file_disks_is_refused():
    with pytest.raises(NovaopsError, match="no file-backed disk"):
        ls.select_disk(dict(name="x", disks=[FACTS["disks"][0]]))


def test_a_network_disk_is_refused():
    facts = dict(name="x", disks=[dict(device="disk", type="network", path="pool/vol", target="vda")])
    with pytest.raises(NovaopsError, match="is a network disk"):
        ls.select_disk(facts)


@pytest.mark.parametrize("wanted, state, mode", [
    ("auto", "running", "live"), ("auto", "paused", "live"), ("auto", "shutoff", "cold"),
    ("auto", "saved", "cold"), ("auto", "crashed", "cold"), ("cold", "running", "cold"),
    ("live", "paused", "live"),
])
def test_mode(wanted, state, mode):
    assert ls.choose_mode(wanted, state) == mode


def test_live_on_a_stopped_domain_and_odd_states_are_refused():
    with pytest.raises(NovaopsError, match="live snapshot needs the domain running or paused; it is shutoff"):
        ls.choose_mode("live", "shutoff")
    with pytest.raises(NovaopsError, match="is pmsuspended"):
        ls.choose_mode("auto", "pmsuspended")


def test_qemu_owner_from_the_dac_image_label():
    assert ls.qemu_owner(LIVE_XML) == (64055, 108)
    assert ls.qemu_owner("<domain><seclabel model='dac'><label>root:root</label></seclabel></domain>") == (0, 0)
    assert ls.qemu_owner("<domain><seclabel model='selinux'><label>a:b:c</label></seclabel></domain>") is None
    assert ls.qemu_owner("<domain>") is None


# -- the workspace -----------------------------------------------------------------------------
def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_workspace_is_private_and_removed_even_on_failure(tmp_path):
    parent = tmp_path / "snapshots"
    with pytest.raises(RuntimeError):
        with ls.SnapshotWorkspace(str(parent), "web1-vda-") as ws:
            assert mode_of(str(parent)) == 0o711
            assert mode_of(ws.path) == 0o700
            assert os.path.basename(ws.path).startswith("web1-vda-")
            path = ws.reserve("image.qcow2")
            with open(path, "w") as handle:
                handle.write("x")
            ws.secure("image.qcow2")
            assert mode_of(path) == 0o600
            raise RuntimeError("half way")
    assert os.listdir(str(parent)) == []


def test_a_live_workspace_is_roots_and_only_its_overlay_goes_to_qemu(tmp_path):
    """QEMU's uid may open the overlay given to it, but owns nothing it could plant a link in (#18)."""
    with ls.SnapshotWorkspace(str(tmp_path / "snapshots"), "web1-vda-", owner=(4242, 4243)) as ws:
        assert mode_of(ws.path) == 0o711 and os.stat(ws.path).st_uid == os.getuid()
        overlay = ws.reserve("overlay.qcow2", give_to_owner=True)
        assert mode_of(overlay) == 0o600 and (os.stat(overlay).st_uid, os.stat(overlay).st_gid) == (4242, 4243)
        image = ws.reserve("image.qcow2")
        assert os.stat(image).st_uid == os.getuid()


@pytest.mark.parametrize("kind", ["symlink", "dangling", "hardlink", "fifo"])
def test_a_file_planted_in_the_workspace_is_refused_never_followed(tmp_path, kind):
    canary = tmp_path / "canary"
    canary.write_text("secret")
    os.chmod(str(canary), 0o644)
    with ls.SnapshotWorkspace(str(tmp_path / "snapshots"), "web1-vda-") as ws:
        planted = ws.file("image.qcow2")
        if kind == "symlink":
            os.symlink(str(canary), planted)
        elif kind == "dangling":
            os.symlink(str(tmp_path / "nowhere"), planted)
        elif kind == "hardlink":
            os.link(str(canary), planted)
        else:
            os.mkfifo(planted)
        with pytest.raises(NovaopsError):
            ws.secure("image.qcow2")
        with pytest.raises(NovaopsError):
            ws.open("image.qcow2")
        with pytest.raises(NovaopsError):
            ws.reserve("image.qcow2")
    assert canary.read_text() == "secret" and mode_of(str(canary)) == 0o644
    assert not (tmp_path / "nowhere").exists()


def test_a_snapshots_directory_that_is_a_link_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(str(elsewhere), str(tmp_path / "snapshots"))
    with pytest.raises(NovaopsError, match="symbolic link"):
        with ls.SnapshotWorkspace(str(tmp_path / "snapshots"), "web1-vda-"):
            pass
    assert os.listdir(str(elsewhere)) == []


def test_workspace_needs_an_absolute_directory():
    with pytest.raises(NovaopsError, match="is not absolute"):
        ls.SnapshotWorkspace("snaps", "x-")


# -- the block job wait ------------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class JobDomain:
    """blockJobInfo answers from a script, one entry per call (the last repeats)."""

    def __init__(self, infos):
        self.infos = list(infos)

    def blockJobInfo(self, disk, flags):  # noqa: N802 - libvirt's name
        return self.infos.pop(0) if len(self.infos) > 1 else self.infos[0]


class Events:
    """BlockJobEvents stand-in: statuses arrive on the given wait calls."""

    def __init__(self, arrivals, clock):
        self.statuses = []
        self.arrivals = list(arrivals)
        self.clock = clock
        self.active = True

    def wait(self, seconds):
        if self.arrivals:
            self.statuses.append(self.arrivals.pop(0))
        else:
            self.clock.sleep(seconds)

    def ended(self):
        return bj.BlockJobEvents.ended(self)


def job(cur, end):
    return dict(type=2, bandwidth=0, cur=cur, end=end)


def test_ready_when_cur_reaches_end_polling():
    clock = Clock()
    dom = JobDomain([job(0, 100), job(50, 100), job(100, 100)])
    out = bj.wait_until_ready(dom, "vda", 10, clock=clock, sleep=clock.sleep)
    assert out["bytes"] == 100 and out["woken_by_events"] == 0
    assert 0 < out["waited"] < 1


def test_events_wake_the_wait():
    clock = Clock()
    dom = JobDomain([job(0, 100), job(100, 100)])
    events = Events([bj.JOB_READY], clock)
    out = bj.wait_until_ready(dom, "vda", 10, events=events, clock=clock, sleep=clock.sleep)
    assert out == dict(waited=0.0, bytes=100, woken_by_events=1)


def test_a_cancelled_job_fails_clearly():
    clock = Clock()
    dom = JobDomain([job(10, 100), {}])
    with pytest.raises(bj.BlockJobFailed, match="was cancelled .* before it was ready") as caught:
        bj.wait_until_ready(dom, "vda", 10, events=Events([bj.JOB_CANCELED], clock), clock=clock, sleep=clock.sleep)
    assert caught.value.facts["block_job_status"] == "cancelled"


def test_a_vanished_job_fails_clearly_without_events():
    clock = Clock()
    with pytest.raises(bj.BlockJobFailed, match="ended before it was ready"):
        bj.wait_until_ready(JobDomain([job(10, 100), {}]), "vda", 10, clock=clock, sleep=clock.sleep)


@pytest.mark.skipif(not HAS_LIBVIRT, reason="libvirt-python is not installed")
def test_a_lost_connection_is_opened_again_and_the_wait_goes_on(monkeypatch):
    """libvirtd restarted mid-copy: blockJobInfo fails once with a dead connection; the wait reconnects
    (as wait_for_state does), drops the old connection's events, and sees the job become ready."""
    clock = Clock()
    reconnects = []
    answers = [job(10, 100), libvirt.libvirtError("internal error: client socket is closed"), job(100, 100)]

    class Restarted(JobDomain):
        def blockJobInfo(self, disk, flags):  # noqa: N802 - libvirt's name
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

    monkeypatch.setattr(bj, "connection_lost", lambda dom: True)
    monkeypatch.setattr(bj, "reconnect_domain", lambda dom, timeout: reconnects.append(timeout))
    events = Events([], clock)
    out = bj.wait_until_ready(Restarted([]), "vda", 10, events=events, clock=clock, sleep=clock.sleep)
    assert out["bytes"] == 100 and len(reconnects) == 1 and 0 < reconnects[0] <= 10


@pytest.mark.skipif(not HAS_LIBVIRT, reason="libvirt-python is not installed")
def test_an_error_on_a_live_connection_is_not_swallowed(monkeypatch):
    monkeypatch.setattr(bj, "connection_lost", lambda dom: False)

    class Broken(JobDomain):
        def blockJobInfo(self, disk, flags):  # noqa: N802 - libvirt's name
            raise libvirt.libvirtError("disk vda not found")

    with pytest.raises(libvirt.libvirtError, match="vda not found"):
        bj.wait_until_ready(Broken([]), "vda", 10, clock=Clock(), sleep=Clock().sleep)


def test_a_stuck_job_times_out_with_its_progress():
    clock = Clock()
    with pytest.raises(WaitTimeout, match=r"Timed out after 3s .* \(40 of 100 bytes mirrored\)"):
        bj.wait_until_ready(JobDomain([job(40, 100)]), "vda", 3, clock=clock, sleep=clock.sleep)


# -- the definition, always restored -----------------------------------------------------------
class FakeDomain:
    def __init__(self, state=1, persistent=True, autostart=True, saved=False):
        self._state = state
        self.persistent = persistent
        self._autostart = autostart
        self.saved = saved
        self.calls = []

    def name(self):
        return "web1"

    def UUIDString(self):  # noqa: N802
        return "4f0b7a52-9a0e-4a84-a2f5-2a6f3c1d9e10"

    def state(self):
        return [self._state, 1]

    def isActive(self):  # noqa: N802
        return self._state in (1, 3)

    def connect(self):
        return EventConn()

    def hasManagedSaveImage(self, flags):  # noqa: N802
        return self.saved

    def isPersistent(self):  # noqa: N802
        return self.persistent

    def autostart(self):
        return self._autostart

    def setAutostart(self, value):  # noqa: N802
        self.calls.append(("autostart", value))
        self._autostart = bool(value)

    def XMLDesc(self, flags):  # noqa: N802
        return "<domain><name>web1</name></domain>"

    def undefineFlags(self, flags):  # noqa: N802
        self.calls.append(("undefine", flags))
        self.persistent = False
        self._autostart = False

    def managedSave(self, flags):  # noqa: N802
        self.calls.append(("managedSave", self._state))
        self._state, self.saved = 5, True

    def createWithFlags(self, flags):  # noqa: N802
        self.calls.append(("create", flags))
        self._state, self.saved = (3 if flags & ls.START_PAUSED else 1), False


class EventConn:
    """A connection that accepts event registrations and never delivers one."""

    def domainEventRegisterAny(self, dom, event_id, callback, opaque):  # noqa: N802
        return 1

    def domainEventDeregisterAny(self, callback_id):  # noqa: N802
        pass

    def isAlive(self):  # noqa: N802
        return True


class FakeConn:
    def __init__(self, dom, fail=False):
        self.dom = dom
        self.fail = fail
        self.defined = []

    def defineXML(self, xml):  # noqa: N802
        if self.fail:
            raise NovaopsError("define refused")
        self.defined.append(xml)
        self.dom.persistent = True
        return self.dom


def test_definition_and_autostart_come_back_after_a_failure(tmp_path):
    dom = FakeDomain()
    conn = FakeConn(dom)
    with pytest.raises(bj.BlockJobFailed):
        with ls.transient_for_copy(conn, dom, str(tmp_path)) as made_transient:
            assert made_transient and not dom.persistent
            raise bj.BlockJobFailed("copy failed")
    assert conn.defined == ["<domain><name>web1</name></domain>"]
    assert dom.persistent and dom.autostart()
    assert dom.calls == [("undefine", ls.UNDEFINE_KEEP_NVRAM), ("autostart", 1)]


def test_a_transient_domain_stays_as_it_is(tmp_path):
    dom = FakeDomain(persistent=False)
    conn = FakeConn(dom)
    with ls.transient_for_copy(conn, dom, str(tmp_path)) as made_transient:
        assert not made_transient
    assert conn.defined == [] and dom.calls == []


def test_a_failed_redefine_after_a_failed_copy_tells_both(tmp_path):
    dom = FakeDomain()
    with pytest.raises(bj.BlockJobFailed, match="copy failed Domain web1 could not be defined again") as caught:
        with ls.transient_for_copy(FakeConn(dom, fail=True), dom, str(tmp_path)):
            raise bj.BlockJobFailed("copy failed")
    assert os.path.isfile(caught.value.facts["saved_xml"])


def test_a_failed_redefine_keeps_the_xml_and_says_where(tmp_path):
    dom = FakeDomain()
    with pytest.raises(NovaopsError, match="could not be defined again .* virsh define it") as caught:
        with ls.transient_for_copy(FakeConn(dom, fail=True), dom, str(tmp_path)):
            pass
    kept = caught.value.facts["saved_xml"]
    assert os.path.dirname(kept) == str(tmp_path) and mode_of(kept) == 0o600
    with open(kept) as handle:
        assert handle.read() == "<domain><name>web1</name></domain>"


# -- the prior state, always restored ----------------------------------------------------------
@pytest.mark.parametrize("state, name, flags", [(1, "running", 0), (3, "paused", ls.START_PAUSED)])
def test_quiesced_restores_running_and_paused(state, name, flags):
    dom = FakeDomain(state=state)
    with pytest.raises(RuntimeError):
        with ls.quiesced(dom, 5) as quiet:
            assert dom.saved and quiet["prior"] == name
            raise RuntimeError("convert failed")
    assert dom.calls == [("managedSave", state), ("create", flags)]
    assert ls.domain_state(dom)[0] == name
    assert quiet["downtime"] >= 0


@pytest.mark.parametrize("state, saved", [(5, False), (5, True), (6, False)])
def test_quiesced_leaves_quiet_domains_alone(state, saved):
    dom = FakeDomain(state=state, saved=saved)
    with ls.quiesced(dom, 5) as quiet:
        assert quiet["prior"] in ("shutoff", "saved", "crashed")
    assert dom.calls == []


def test_a_running_transient_domain_cannot_go_cold():
    with pytest.raises(NovaopsError, match="is transient"):
        with ls.quiesced(FakeDomain(persistent=False), 5):
            pass


def test_convert_compresses_in_order_or_writes_out_of_order():
    seen = []
    qemu_img = QemuImg(lambda argv: seen.append(argv) or (0, "", ""))
    qemu_img.convert("/s/overlay.qcow2", "/s/image.qcow2", "qcow2", src_fmt="qcow2", compress=True, out_of_order=True)
    qemu_img.convert("/s/overlay.qcow2", "/s/image.raw", "raw", src_fmt="qcow2", out_of_order=True)
    assert seen == [["qemu-img", "convert", "-q", "-f", "qcow2", "-O", "qcow2", "-c",
                     "/s/overlay.qcow2", "/s/image.qcow2"],
                    ["qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw", "-W",
                     "/s/overlay.qcow2", "/s/image.raw"]]


class CopyDomain(FakeDomain):
    """A running domain whose block copy is ready at once; with ``dies``, its QEMU is killed as the job ends."""

    def __init__(self, dies):
        super().__init__()
        self.dies = dies
        self.domid = 7
        self.job = False

    def ID(self):  # noqa: N802
        return self.domid if self.isActive() else -1

    def blockRebase(self, disk, dest, bandwidth, flags):  # noqa: N802
        self.job = True

    def blockJobInfo(self, disk, flags):  # noqa: N802
        return job(10, 10) if self.job else {}

    def blockJobAbort(self, disk, flags):  # noqa: N802
        self.job = False
        if self.dies:
            self._state = 5

    def create(self):
        self.calls.append(("create", 0))
        self._state, self.domid = 1, self.domid + 1


class QuietEvents:
    def __init__(self, dom, disk):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def ended(self):
        return None

    def wait(self, seconds):
        pass


def fake_wait_for_state(dom, state, timeout):
    if dom.state()[0] != {"running": 1, "shutoff": 5}[state]:
        raise WaitTimeout("still %s" % dom.state()[0])


@pytest.mark.parametrize("dies", [False, True])
def test_a_copy_whose_qemu_died_is_not_used_and_the_domain_runs_again(tmp_path, monkeypatch, dies):
    monkeypatch.setattr(ls, "BlockJobEvents", QuietEvents)
    monkeypatch.setattr(ls, "wait_for_state", fake_wait_for_state)
    dom = CopyDomain(dies)
    conn = type("Conn", (), {"conn": FakeConn(dom)})()
    disk = dict(target="vda")
    if not dies:
        assert ls.live_copy(conn, dom, disk, str(tmp_path / "o"), 5, str(tmp_path))["bytes"] == 10
        assert ("create", 0) not in dom.calls
        return
    with pytest.raises(NovaopsError) as failure:
        ls.live_copy(conn, dom, disk, str(tmp_path / "o"), 5, str(tmp_path))
    assert "did not outlive it" in failure.value.msg and "started again" in failure.value.msg
    assert ("create", 0) in dom.calls and dom.isActive() and dom.persistent


class LeftoverJobDomain:
    """A domain whose disk vda is (or is not) in a block copy into ``mirror``; records aborts."""

    def __init__(self, mirror=None, new_style=False):
        self.mirror = mirror
        self.new_style = new_style
        self.aborted = []

    def name(self):
        return "inst"

    def blockJobInfo(self, disk, flags):
        return {"type": 2, "cur": 1, "end": 1} if self.mirror is not None and disk == "vda" else {}

    def blockJobAbort(self, disk, flags):
        self.aborted.append((disk, flags))
        self.mirror = None

    def XMLDesc(self, flags):
        mirror = ""
        if self.mirror is not None:
            mirror = ("<mirror type='file' job='copy'><source file='%s'/></mirror>" if self.new_style else
                      "<mirror type='file' file='%s' job='copy'/>") % self.mirror
        return ("<domain><devices><disk type='file' device='disk'><source file='/i/disk'/>"
                "<target dev='vda' bus='virtio'/>%s</disk></devices></domain>" % mirror)


@pytest.mark.parametrize("new_style", [False, True])
def test_a_copy_an_interrupted_run_left_is_aborted_before_the_new_one(new_style):
    """libvirtd killed mid-copy and restarted with the job in its status: the job mirrors into a (removed) run
    directory of the snapshots directory, so it is this module's and goes, without pivot."""
    dom = LeftoverJobDomain("/snaps/inst-1234/overlay.qcow2", new_style)
    ls._abort_interrupted_copy(dom, "vda", "/snaps/")
    assert dom.aborted == [("vda", 0)]


def test_a_block_job_of_someone_else_is_refused_not_aborted():
    for mirror in ("/elsewhere/copy.qcow2", "/snaps-other/inst-1/x.qcow2", "/snaps/other-1/overlay.qcow2",
                   "/snaps/overlay.qcow2", ""):
        dom = LeftoverJobDomain(mirror)
        with pytest.raises(NovaopsError, match="block job this module did not start"):
            ls._abort_interrupted_copy(dom, "vda", "/snaps")
        assert dom.aborted == []


def test_no_job_nothing_to_abort():
    dom = LeftoverJobDomain(None)
    ls._abort_interrupted_copy(dom, "vda", "/snaps")
    assert dom.aborted == []
