"""Migration: a pool of two hosts sharing its SR (VM.pool_migrate), and storage motion between
two pools (host.migrate_receive, VM.assert_can_migrate, VM.migrate_send), through the SDK."""

import os

import pytest
import XenAPI

from conftest import start_server, stop_server, wait_task
from xapisim.testkit import pattern, pool_chain
from xapisim.vhd import VHD

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def pools(tmp_path_factory):
    a, _, _ = start_server(str(tmp_path_factory.mktemp("mig-a")), name="mig-a", extra=("--hosts", "2"))
    b, _, _ = start_server(str(tmp_path_factory.mktemp("mig-b")), name="mig-b", extra=("--hosts", "2"))
    yield a, b
    stop_server(a)
    stop_server(b)


def login(info):
    s = XenAPI.Session(info.url)
    s.login_with_password(info.user, info.password, "1.0", "migrate-tests")
    return s.xenapi


@pytest.fixture
def ab(pools):
    for p in pools:
        p.sim("reset")
    return pools[0], login(pools[0]), pools[1], login(pools[1])


def failure(fn, *args):
    with pytest.raises(XenAPI.Failure) as ei:
        fn(*args)
    return ei.value.details


def running_vm(x, info, name="mig1", snapshot=True):
    """A running VM whose root disk holds data in two layers (a snapshot between them)."""
    tpl = x.VM.get_by_name_label("Debian Bookworm 12")[0]
    vm = x.VM.clone(tpl, name)
    x.VM.provision(vm)
    vdi = root_vdi(x, vm)
    path = os.path.join(info.sr_dir(), x.VDI.get_uuid(vdi) + ".vhd")
    with VHD.open(path, writable=True) as v:
        v.write(0, pattern(3, 3 * MiB))
    if snapshot:
        x.VM.snapshot(vm, name + "-snap")
        with VHD.open(path, writable=True) as v:
            v.write(MiB, pattern(4, 5000))
    x.VIF.create({"device": "0", "network": x.network.get_by_name_label(
        "Pool-wide network associated with eth0")[0], "VM": vm, "MAC": "", "MTU": "1500",
        "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})
    x.VM.start(vm, False, False)
    return vm


def root_vdi(x, vm):
    vbd = [b for b in x.VM.get_VBDs(vm) if x.VBD.get_userdevice(b) == "0"][0]
    return x.VBD.get_VDI(vbd)


def chain_bytes(x, info, vdi, size=4 * MiB):
    with VHD.open(os.path.join(info.sr_dir(), x.VDI.get_uuid(vdi) + ".vhd")) as v:
        return v.read(0, size)


def other_host(x, vm):
    return [h for h in x.host.get_all() if h != x.VM.get_resident_on(vm)][0]


def test_pool_of_two_hosts_shares_its_sr(ab):
    _a, x, _b, _y = ab
    hosts = x.host.get_all()
    assert len(hosts) == 2
    sr = x.pool.get_default_SR(x.pool.get_all()[0])
    assert x.SR.get_shared(sr) is True
    assert sorted(x.PBD.get_host(p) for p in x.SR.get_PBDs(sr)) == sorted(hosts)
    for h in hosts:
        dom0 = x.host.get_control_domain(h)
        assert x.VM.get_resident_on(dom0) == h and x.VM.get_is_control_domain(dom0)
    assert len({x.host.get_name_label(h) for h in hosts}) == 2


def test_pool_migrate_moves_the_running_vm_not_its_disks(ab):
    a, x, _b, _y = ab
    vm = running_vm(x, a, snapshot=False)
    src, dest = x.VM.get_resident_on(vm), other_host(x, vm)
    domid = x.VM.get_domid(vm)
    vdi = root_vdi(x, vm)
    before = chain_bytes(x, a, vdi)
    task = x.Async.VM.pool_migrate(vm, dest, {"live": "true"})
    assert wait_task(x, task)["status"] == "success"
    assert x.VM.get_resident_on(vm) == dest != src
    assert x.VM.get_power_state(vm) == "Running"
    assert x.VM.get_domid(vm) != domid
    assert root_vdi(x, vm) == vdi and chain_bytes(x, a, vdi) == before


def test_pool_migrate_refusals(ab):
    a, x, _b, _y = ab
    vm = running_vm(x, a, snapshot=False)
    dest = other_host(x, vm)
    x.sim.host_memory_free(x.host.get_uuid(dest), str(MiB))
    assert failure(x.VM.pool_migrate, vm, dest, {"live": "true"}) == [
        "HOST_NOT_ENOUGH_FREE_MEMORY", str(2147483648), str(MiB)]
    x.VM.hard_shutdown(vm)
    assert failure(x.VM.pool_migrate, vm, dest, {"live": "true"}) == [
        "VM_BAD_POWER_STATE", vm, "running", "halted"]


def receive(y, network_name="Pool-wide network associated with eth0"):
    host = y.pool.get_master(y.pool.get_all()[0])
    return y.host.migrate_receive(host, y.network.get_by_name_label(network_name)[0], {})


def maps(x, y, vm):
    sr = y.pool.get_default_SR(y.pool.get_all()[0])
    net = y.network.get_by_name_label("Pool-wide network associated with eth0")[0]
    vdis = {}
    for v in [vm] + x.VM.get_snapshots(vm):
        for vbd in x.VM.get_VBDs(v):
            if x.VBD.get_type(vbd) == "Disk":
                vdis[x.VBD.get_VDI(vbd)] = sr
    return vdis, {vif: net for vif in x.VM.get_VIFs(vm)}


def test_migrate_receive_answers_xapis_dest_map(ab):
    _a, _x, b, y = ab
    dest = receive(y)
    assert sorted(dest) == ["SM", "host", "master", "session_id", "xenops"]
    assert dest["SM"].endswith("/services/SM?session_id=" + dest["session_id"])
    assert y.host.get_uuid(dest["host"])
    internal = y.network.get_by_name_label("Host internal management network")[0]
    host = y.pool.get_master(y.pool.get_all()[0])
    assert failure(y.host.migrate_receive, host, internal, {}) == ["HOST_CANNOT_ATTACH_NETWORK", host, internal]


def test_migrate_send_moves_chains_byte_for_byte(ab):
    a, x, b, y = ab
    vm = running_vm(x, a)
    uuid = x.VM.get_uuid(vm)
    vdi = root_vdi(x, vm)
    snap = x.VM.get_snapshots(vm)[0]
    snap_vdi = root_vdi(x, snap)
    data, snap_data = chain_bytes(x, a, vdi), chain_bytes(x, a, snap_vdi)
    source_files = set(os.listdir(a.sr_dir()))
    chains = set(pool_chain(x, x.VDI.get_uuid(vdi)) + pool_chain(x, x.VDI.get_uuid(snap_vdi)))
    assert len(chains) == 3
    vdi_map, vif_map = maps(x, y, vm)
    dest = receive(y)
    x.VM.assert_can_migrate(vm, dest, True, vdi_map, vif_map, {})
    task = x.Async.VM.migrate_send(vm, dest, True, vdi_map, vif_map, {})
    rec = wait_task(x, task)
    assert rec["status"] == "success", rec["error_info"]
    new = y.VM.get_by_uuid(uuid)
    assert rec["result"] == "<value>%s</value>" % new
    assert y.VM.get_power_state(new) == "Running" and y.VM.get_resident_on(new) == dest["host"]
    new_snap = y.VM.get_snapshots(new)
    assert len(new_snap) == 1
    assert chain_bytes(y, b, root_vdi(y, new)) == data
    assert chain_bytes(y, b, root_vdi(y, new_snap[0])) == snap_data
    assert y.VDI.get_snapshot_of(root_vdi(y, new_snap[0])) == root_vdi(y, new)
    assert failure(x.VM.get_by_uuid, uuid) == ["UUID_INVALID", "VM", uuid]
    assert source_files - set(os.listdir(a.sr_dir())) == {u + ".vhd" for u in chains}
    assert not [u for u in chains if x.VDI.get_all_records_where('field "uuid" = "%s"' % u)]
    assert len(y.VIF.get_all_records_where('field "VM" = "%s"' % new)) == 1


def test_migrate_send_refusals(ab):
    a, x, _b, y = ab
    vm = running_vm(x, a)
    vdi_map, vif_map = maps(x, y, vm)
    dest = receive(y)
    snap_vdi = root_vdi(x, x.VM.get_snapshots(vm)[0])
    partial = {k: v for k, v in vdi_map.items() if k != snap_vdi}
    assert failure(x.VM.assert_can_migrate, vm, dest, True, partial, vif_map, {}) == ["VDI_NOT_IN_MAP", snap_vdi]
    vif = x.VM.get_VIFs(vm)[0]
    assert failure(x.VM.migrate_send, vm, dest, True, vdi_map, {}, {}) == ["VIF_NOT_IN_MAP", vif]
    y.sim.host_memory_free(y.host.get_uuid(dest["host"]), str(MiB))
    assert failure(x.VM.migrate_send, vm, dest, True, vdi_map, vif_map, {}) == [
        "HOST_NOT_ENOUGH_FREE_MEMORY", str(2147483648), str(MiB)]
    dead = dict(dest, master="http://127.0.0.1:9", xenops="http://127.0.0.1:9/services/xenops")
    assert failure(x.VM.migrate_send, vm, dead, True, vdi_map, vif_map, {}) == ["CANNOT_CONTACT_HOST", "127.0.0.1"]
    x.VM.pause(vm)
    assert failure(x.VM.migrate_send, vm, dest, True, vdi_map, vif_map, {}) == [
        "VM_BAD_POWER_STATE", vm, "halted, suspended, running", "paused"]


def test_failure_mid_copy_leaves_the_source_whole_and_the_destination_empty(ab):
    a, x, b, y = ab
    vm = running_vm(x, a)
    vdi = root_vdi(x, vm)
    data = chain_bytes(x, a, vdi)
    source_files = sorted(os.listdir(a.sr_dir()))
    dest_files = sorted(os.listdir(b.sr_dir()))
    dest_vdis = sorted(y.VDI.get_all())
    vdi_map, vif_map = maps(x, y, vm)
    dest = receive(y)
    y.sim.fault_add("/services/SM/vhd", ["VDI_IO_ERROR", "Device I/O errors"], "2", "1")
    details = failure(x.VM.migrate_send, vm, dest, True, vdi_map, vif_map, {})
    assert details[:4] == ["VM_MIGRATE_FAILED", vm, x.VM.get_resident_on(vm), dest["host"]]
    assert "VDI_IO_ERROR" in details[4]
    assert x.VM.get_power_state(vm) == "Running"
    assert sorted(os.listdir(a.sr_dir())) == source_files and chain_bytes(x, a, vdi) == data
    assert sorted(os.listdir(b.sr_dir())) == dest_files and sorted(y.VDI.get_all()) == dest_vdis
    assert failure(y.VM.get_by_uuid, x.VM.get_uuid(vm))[0] == "UUID_INVALID"
