"""Async tasks and event.from."""

import threading
import time

import pytest
import XenAPI

from conftest import wait_task


def new_vm(x, name="t-vm"):
    tpl = x.VM.get_by_name_label("Debian Bookworm 12")[0]
    vm = x.VM.clone(tpl, name)
    x.VM.provision(vm)
    return vm


def test_async_success_result_xml(x):
    tpl = x.VM.get_by_name_label("Other install media")[0]
    task = x.Async.VM.clone(tpl, "async-clone")
    assert task.startswith("OpaqueRef:")
    rec = wait_task(x, task)
    assert rec["status"] == "success"
    assert float(rec["progress"]) == 1.0
    assert rec["result"].startswith("<value>OpaqueRef:") and rec["result"].endswith("</value>")
    new = rec["result"][len("<value>"):-len("</value>")]
    assert x.VM.get_name_label(new) == "async-clone"
    assert rec["error_info"] == []
    assert rec["name_label"] == "Async.VM.clone"
    assert rec["finished"].value >= rec["created"].value
    x.task.destroy(task)
    with pytest.raises(XenAPI.Failure) as ei:
        x.task.get_record(task)
    assert ei.value.details == ["HANDLE_INVALID", "task", task]


def test_async_void_and_failure(x):
    vm = new_vm(x)
    rec = wait_task(x, x.Async.VM.start(vm, False, False))
    assert rec["status"] == "success" and rec["result"] == "<value></value>"      # Rpc.String "" marshalled
    rec = wait_task(x, x.Async.VM.start(vm, False, False))
    assert rec["status"] == "failure"
    assert rec["error_info"] == ["VM_BAD_POWER_STATE", vm, "halted", "running"]
    # a bad handle is found inside the task (xapi looks it up when the call runs)
    rec = wait_task(x, x.Async.VM.start("OpaqueRef:bad", False, False))
    assert rec["status"] == "failure" and rec["error_info"] == ["HANDLE_INVALID", "VM", "OpaqueRef:bad"]
    # an unmarshal error fails the call itself, before any task exists
    with pytest.raises(XenAPI.Failure) as ei:
        x.Async.VM.start(vm, "no", False)
    assert ei.value.details == ["FIELD_TYPE_ERROR", "start_paused"]


def test_async_plugin_result_is_escaped(x):
    host = x.host.get_all()[0]
    rec = wait_task(x, x.Async.host.call_plugin(host, "echo", "echo", {"a": "<&>"}))
    assert rec["status"] == "success"
    assert rec["result"].startswith("<value>") and "&lt;&amp;&gt;" in rec["result"]


def test_task_cancel(sim, x):
    sim.sim("delay", "VM.clone", 1.0)
    try:
        tpl = x.VM.get_by_name_label("Other install media")[0]
        task = x.Async.VM.clone(tpl, "never")
        assert "cancel" in x.task.get_allowed_operations(task)
        x.task.cancel(task)
        rec = wait_task(x, task)
        assert rec["status"] == "cancelled"
        assert rec["error_info"] == ["TASK_CANCELLED", task]
        assert not x.VM.get_by_name_label("never")
    finally:
        sim.sim("delay", "VM.clone", 0)


def test_event_from_token_add_mod_del(x):
    ev_from = getattr(x.event, "from")
    first = ev_from(["vm"], "", 0.0)
    assert all(e["operation"] == "add" for e in first["events"])
    assert {e["class"] for e in first["events"]} == {"vm"}
    assert int(first["valid_ref_counts"]["vm"]) == len(x.VM.get_all())
    token = first["token"]
    # nothing happens: returns after the timeout with no events and a token
    t0 = time.time()
    quiet = ev_from(["vm"], token, 0.5)
    assert quiet["events"] == [] and time.time() - t0 >= 0.45
    tpl = x.VM.get_by_name_label("Other install media")[0]
    vm = x.VM.clone(tpl, "ev-vm")
    got = ev_from(["vm"], token, 5.0)
    ops = {(e["operation"], e["ref"]) for e in got["events"]}
    assert ("add", vm) in ops
    snap = [e for e in got["events"] if e["ref"] == vm][0]["snapshot"]
    assert snap["name_label"] == "ev-vm"
    token = got["token"]
    x.VM.set_name_label(vm, "ev-vm2")
    got = ev_from(["vm"], token, 5.0)
    evs = [e for e in got["events"] if e["ref"] == vm]
    assert evs[0]["operation"] == "mod" and evs[0]["snapshot"]["name_label"] == "ev-vm2"
    token = got["token"]
    x.VM.destroy(vm)
    got = ev_from(["vm"], token, 5.0)
    evs = [e for e in got["events"] if e["ref"] == vm]
    assert evs[0]["operation"] == "del" and "snapshot" not in evs[0]


def test_event_from_blocks_and_wakes(sim, x):
    other = XenAPI.Session(sim.url)          # one SDK session per thread (one HTTP connection each)
    other.login_with_password(sim.user, sim.password)
    ev_from = getattr(other.xenapi.event, "from")
    token = ev_from(["task"], "", 0.0)["token"]
    vm = x.VM.get_by_name_label("novaops-helper")[0]
    result = {}

    def waiter():
        t0 = time.time()
        result["r"] = ev_from(["vm/%s" % vm], token, 30.0)
        result["t"] = time.time() - t0
    th = threading.Thread(target=waiter)
    th.start()
    time.sleep(0.5)
    # an unrelated change does not wake a waiter subscribed to one object
    x.VM.set_name_description(x.VM.get_by_name_label("CentOS 7")[0], "other")
    time.sleep(0.3)
    assert th.is_alive()
    x.VM.set_name_description(vm, "poke")
    th.join(10)
    assert not th.is_alive()
    assert result["t"] < 5.0
    assert [e["ref"] for e in result["r"]["events"]] == [vm]


def test_event_from_task_completion(x):
    ev_from = getattr(x.event, "from")
    tpl = x.VM.get_by_name_label("Other install media")[0]
    token = ev_from(["task"], "", 0.0)["token"]
    task = x.Async.VM.clone(tpl, "ev-task")
    status = None
    deadline = time.time() + 10
    while status not in ("success", "failure") and time.time() < deadline:
        r = ev_from(["task/%s" % task], token, 5.0)
        token = r["token"]
        for e in r["events"]:
            if e["ref"] == task and e["operation"] != "del":
                status = e["snapshot"]["status"]
    assert status == "success"


def test_event_bad_token(x):
    with pytest.raises(XenAPI.Failure) as ei:
        getattr(x.event, "from")(["vm"], "garbage", 0.0)
    assert ei.value.details == ["EVENT_FROM_TOKEN_PARSE_FAILURE", "garbage"]


def test_event_register_next(sim):
    s = XenAPI.Session(sim.url)
    s.login_with_password(sim.user, sim.password)
    x = s.xenapi
    x.event.register(["vm"])
    vm = x.VM.get_by_name_label("CentOS 7")[0]
    x.VM.set_name_description(vm, "next")
    evs = x.event.next()
    assert any(e["ref"] == vm and e["operation"] == "mod" for e in evs)
