"""Faults on demand, delays, GC stall/delay, counters and reset, over XenAPI and over /sim."""

import json
import os
import time
import urllib.request

import pytest
import XenAPI

from conftest import failure

MiB = 1024 * 1024


def test_nth_call_fault(sim, x):
    vm = x.VM.get_by_name_label("CentOS 7")[0]
    x.sim.fault_add("VM.get_name_label", ["SR_BACKEND_FAILURE_44", "", "There is insufficient space", ""], 2, 1)
    assert x.VM.get_name_label(vm) == "CentOS 7"              # 1st call fine
    assert failure(x.VM.get_name_label, vm) == ["SR_BACKEND_FAILURE_44", "", "There is insufficient space", ""]
    assert x.VM.get_name_label(vm) == "CentOS 7"              # count=1: only the 2nd failed
    assert x.sim.faults()[0]["fired"] == "1"
    x.sim.faults_clear()
    assert x.sim.faults() == []


def test_fault_over_http_and_async(sim, x):
    sim.sim("fault_add", "VM.clone", ["VM_BAD_POWER_STATE", "x", "halted", "running"], 1, 2)
    tpl = x.VM.get_by_name_label("Other install media")[0]
    assert failure(x.VM.clone, tpl, "a")[0] == "VM_BAD_POWER_STATE"
    task = x.Async.VM.clone(tpl, "b")
    while x.task.get_status(task) == "pending":
        time.sleep(0.05)
    assert x.task.get_error_info(task) == ["VM_BAD_POWER_STATE", "x", "halted", "running"]
    assert x.VM.clone(tpl, "c")
    sim.sim("faults_clear")


def test_delay(sim, x):
    sim.sim("delay", "pool.get_all", 0.6)
    t0 = time.time()
    x.pool.get_all()
    assert time.time() - t0 >= 0.55
    sim.sim("delay", "pool.get_all", 0)
    t0 = time.time()
    x.pool.get_all()
    assert time.time() - t0 < 0.5


def test_counters(sim, x):
    sim.sim("counters_reset")
    for _ in range(3):
        x.pool.get_all()
    x.VM.get_all()
    c = sim.sim("counters")
    assert c["pool.get_all"] == 3 and c["VM.get_all"] == 1
    assert not any(k.startswith("sim.") for k in c)
    assert int(x.sim.counters()["pool.get_all"]) == 3


def test_sim_http_errors(sim):
    req = urllib.request.Request(sim.url + "/sim/no_such", data=b"[]", method="POST")
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(req)
    assert ei.value.code == 404
    req = urllib.request.Request(sim.url + "/sim/delay", data=b"[1]", method="POST")
    out = json.loads(urllib.request.urlopen(req).read())
    assert out["ErrorDescription"] == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "sim.delay", "2", "1"]


def _snapshot_pair(x):
    """A VDI whose second snapshot leaves a coalescible base; returns (leaf, original parent)."""
    sr = x.pool.get_default_SR(x.pool.get_all()[0])
    vdi = x.VDI.create({"name_label": "g", "name_description": "", "SR": sr, "virtual_size": str(8 * MiB),
                        "type": "user", "sharable": False, "read_only": False, "other_config": {}})
    x.VDI.destroy(x.VDI.snapshot(vdi, {}))
    parent = x.VDI.get_sm_config(vdi)["vhd-parent"]
    x.VDI.snapshot(vdi, {})
    return vdi, parent


def test_gc_stall_and_delay(sim, x):
    sim.sim("gc_stall", True)
    vdi, parent = _snapshot_pair(x)
    time.sleep(1.0)
    assert x.VDI.get_sm_config(vdi)["vhd-parent"] != parent        # stalled: nothing merged
    sim.sim("gc_delay", sim.sr_uuid, 1.5)
    x.sim.gc_stall(False)
    time.sleep(0.8)
    assert x.VDI.get_sm_config(vdi)["vhd-parent"] != parent        # still within the delay
    assert sim.sim("gc_wait", 10.0) is True
    assert x.VDI.get_sm_config(vdi)["vhd-parent"] == parent
    sim.sim("gc_delay", "", 0.3)


def test_gc_history_says_when_a_coalesce_finished(sim, x):
    sim.sim("gc_delay", sim.sr_uuid, 0.5)
    started = time.time()
    vdi, parent = _snapshot_pair(x)
    assert sim.sim("gc_wait", 10.0) is True
    done = [h for h in sim.sim("gc_history") if h["parent"] == parent and x.VDI.get_uuid(vdi) in h["children"]]
    assert len(done) == 1 and started + 0.5 <= done[0]["finished_at"] <= time.time()
    assert x.VDI.get_sm_config(vdi)["vhd-parent"] == parent
    sim.sim("gc_delay", "", 0.3)


def test_reset(sim, x):
    helper_uuid = sim.helper_uuid
    x.VM.clone(x.VM.get_by_name_label("Other install media")[0], "temp")
    sr = x.pool.get_default_SR(x.pool.get_all()[0])
    x.VDI.create({"name_label": "tmp", "name_description": "", "SR": sr, "virtual_size": str(4 * MiB),
                  "type": "user", "sharable": False, "read_only": False, "other_config": {}})
    x.sim.fault_add("VM.get_all", ["X"], 5, 1)
    files_before = len(os.listdir(sim.sr_dir()))
    x.sim.reset()
    assert not x.VM.get_by_name_label("temp")
    assert x.VM.get_by_uuid(helper_uuid)
    assert x.sim.faults() == []
    assert len(os.listdir(sim.sr_dir())) < files_before
    assert x.SR.get_uuid(x.pool.get_default_SR(x.pool.get_all()[0])) == sim.sr_uuid


def test_state_survives_restart(tmp_path):
    from conftest import start_server, stop_server
    info, _, _ = start_server(str(tmp_path), name="pool-persist")
    s = XenAPI.Session(info.url)
    s.login_with_password("root", info.password)
    x = s.xenapi
    vm = x.VM.clone(x.VM.get_by_name_label("Other install media")[0], "persisted")
    sr = x.pool.get_default_SR(x.pool.get_all()[0])
    vdi = x.VDI.create({"name_label": "kept", "name_description": "", "SR": sr, "virtual_size": str(4 * MiB),
                        "type": "user", "sharable": False, "read_only": False, "other_config": {}})
    vdi_uuid = x.VDI.get_uuid(vdi)
    stop_server(info)
    info2, _, _ = start_server(str(tmp_path), name="pool-persist")
    try:
        assert info2.helper_uuid == info.helper_uuid and info2.sr_uuid == info.sr_uuid
        s2 = XenAPI.Session(info2.url)
        s2.login_with_password("root", info2.password)
        y = s2.xenapi
        assert y.VM.get_by_name_label("persisted") == [vm]
        assert y.VDI.get_by_uuid(vdi_uuid) == vdi
        assert os.path.exists(os.path.join(info2.sr_dir(), vdi_uuid + ".vhd"))
        # the old session did not survive, and the SDK logs in again by itself
        assert x is not None
    finally:
        stop_server(info2)


def test_session_expire_on_the_nth_call(sim, x, session):
    """The caller's own session expires before that call: SESSION_INVALID [handle], as xapi answers
    a timed-out session, and the call does nothing; the SDK logs in again and retries it."""
    vm = x.VM.get_by_name_label("CentOS 7")[0]
    sim.sim("counters_reset")
    sim.sim("session_expire_on", "VM.get_name_label", 2)
    before = session.handle
    assert x.VM.get_name_label(vm) == "CentOS 7"
    assert session.handle == before
    assert x.VM.get_name_label(vm) == "CentOS 7"          # answered after the SDK's re-login
    assert session.handle != before
    counters = sim.sim("counters")
    assert counters["session.login_with_password"] == 1 and counters["VM.get_name_label"] == 3
    expiry = [f for f in x.sim.faults() if f.get("session_expiry")]
    assert expiry and expiry[0]["fired"] == "1"
    raw = XenAPI.Session(sim.url)          # without the SDK's retry: what the wire says
    raw.login_with_password("root", sim.password, "1.0", "test")
    handle = raw.handle
    sim.sim("session_expire_on", "VM.get_name_label", 1)
    answer = getattr(raw, "VM.get_name_label")(handle, vm)
    assert answer == {"Status": "Failure", "ErrorDescription": ["SESSION_INVALID", handle]}
    assert x.pool.get_all()                                    # the other session untouched
    x.sim.faults_clear()
