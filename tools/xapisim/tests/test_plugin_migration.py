"""The dom0 ``migration`` plugin (files/xapi.d/plugins/migration) run by a private simulator
through host.call_plugin: every path-like argument of every function refuses traversal
(``..``, absolute paths elsewhere, symlinks out) and touches nothing; move_vhds_into_sr refuses
gaps, strays, symlinks and hard-linked files; a failing import leaves no half chain in the SR;
transfer_vhd over the beds' real sshd round-trips a chain and cleans its staging either way."""

import json
import os
import shutil
import sys
import uuid as uuidlib

import pytest

from conftest import plugin_call, plugin_failure, plugin_pool_fixtures
from xapisim.plugins import RUNTIME
from xapisim.testkit import PLUGINS, REPO, beds_env, layered_chain, ssh_args
from xapisim.vhd import VHD

INSTANCE = "6a1f7b0e-3d2c-4b5a-9e8f-0a1b2c3d4e5f"
REFUSED = ("NOVAOPS_PATH_REFUSED", "NOVAOPS_BAD_ARGUMENT")

pool, x = plugin_pool_fixtures("pool-migration")


def make_chain(pool, x):
    """A snapshot with data in its layers (GC stalled); returns (chain uuids leaf first, its bytes)."""
    pool.sim("gc_stall", True)
    _snap, chain, data = layered_chain(x, pool.sr_dir())
    return chain, data


def call(x, fn, **args):
    return plugin_call(x, "migration", fn, **args)


def failure(x, fn, **args):
    return plugin_failure(x, "migration", fn, **args)


def snapshot_tree(root):
    """Every path under root with its size and inode: to show that nothing was touched."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_size, st.st_ino, st.st_mtime_ns)
    return out


def sr_vhds(pool):
    return sorted(n for n in os.listdir(pool.sr_dir()) if n.endswith(".vhd"))


def staging_root(pool):
    return os.path.join(pool.sr_dir(), ".novaops-staging")


def staging_dir(pool, disk=None):
    return os.path.join(staging_root(pool), "instance%s" % INSTANCE + ("-%s" % disk if disk is not None else ""))


@pytest.fixture
def victim(tmp_path):
    """A directory outside every SR and staging root, that nothing may touch."""
    d = tmp_path / "victim"
    d.mkdir()
    (d / "0.vhd").write_bytes(b"precious")
    (d / "keep").write_text("keep")
    return str(d)


def transfer_args(pool, chain, **extra):
    args = dict(sr_path=pool.sr_dir(), vdi_uuids=json.dumps(chain), seq_num="0", instance_uuid=INSTANCE,
                host="127.0.0.1", port="1", user="root", dest_root=staging_root(pool))
    args.update(extra)
    return args


def import_args(pool, **extra):
    args = dict(sr_path=pool.sr_dir(), instance_uuid=INSTANCE)
    args.update(extra)
    return args


# ------------------------------------------------------------------ traversal, every argument

def test_transfer_vhd_refuses_traversal_on_every_argument(pool, x, victim, tmp_path):
    chain, _ = make_chain(pool, x)
    sr = pool.sr_dir()
    evil_sr = str(tmp_path / "evil-sr")
    os.symlink(victim, evil_sr)
    os.symlink("/etc/passwd", os.path.join(sr, "11111111-1111-4111-8111-111111111111.vhd"))
    before_sr, before_victim = snapshot_tree(sr), snapshot_tree(victim)
    cases = [
        dict(sr_path="/etc"),
        dict(sr_path=victim),
        dict(sr_path=evil_sr),
        dict(sr_path=sr + "/../" + os.path.basename(sr)),
        dict(sr_path=os.path.relpath(sr)),
        dict(sr_path=sr + "/.novaops-staging"),
        dict(vdi_uuids=json.dumps(["../../../etc/passwd"])),
        dict(vdi_uuids=json.dumps([chain[0], "/etc/passwd"])),
        dict(vdi_uuids=json.dumps(["11111111-1111-4111-8111-111111111111"])),   # a symlink out
        dict(vdi_uuids="", vdi_uuid="../" + chain[0]),
        dict(instance_uuid="../../etc"),
        dict(instance_uuid=INSTANCE + "/.."),
        dict(disk="../0"),
        dict(disk="0/../../x"),
        dict(dest_root="/etc/../" + victim),
        dict(dest_root=staging_root(pool) + "/../../.."),
        dict(dest_root="relative/dir"),
        dict(dest_root="/tmp/x;touch /tmp/pwned"),
        dict(dest_root="/"),
        dict(host="127.0.0.1:/etc"),
        dict(host="-oProxyCommand=touch /tmp/pwned"),
        dict(host="a b"),
        dict(user="../root"),
        dict(user="-oProxyCommand=x"),
        dict(port="22 -o ProxyCommand=x"),
        dict(seq_num="-1"),
        dict(seq_num="../1"),
        dict(bwlimit="1;x"),
    ]
    for extra in cases:
        details = failure(x, "transfer_vhd", **transfer_args(pool, chain, **extra))
        assert details[0] in REFUSED, (extra, details)
        assert snapshot_tree(victim) == before_victim, extra
        assert snapshot_tree(sr) == before_sr, (extra, set(snapshot_tree(sr)) ^ set(before_sr))
    assert not os.path.exists("/tmp/pwned")


@pytest.mark.parametrize("fn", ["move_vhds_into_sr", "remove_staging"])
def test_destination_functions_refuse_traversal(pool, x, victim, tmp_path, fn):
    sr = pool.sr_dir()
    os.makedirs(staging_root(pool), exist_ok=True)
    # the instance dir itself a symlink out of the staging root
    os.symlink(victim, staging_dir(pool))
    os.symlink(victim, os.path.join(staging_root(pool), "out"))
    before_sr, before_victim = snapshot_tree(sr), snapshot_tree(victim)
    cases = [
        dict(),                                                    # instance dir -> victim
        dict(sr_path="/etc"),
        dict(sr_path=victim),
        dict(sr_path=sr + "/.."),
        dict(staging_root=victim),
        dict(staging_root="/etc"),
        dict(staging_root=staging_root(pool) + "/out"),            # a symlink out
        dict(staging_root=staging_root(pool) + "/../../../" + os.path.basename(victim)),
        dict(staging_root="relative"),
        dict(instance_uuid="../../../" + victim),
        dict(instance_uuid=INSTANCE + "/../.."),
        dict(disk="../../x"),
        dict(disk="/etc"),
    ]
    if fn == "move_vhds_into_sr":
        cases.append(dict(uuid_stack=json.dumps(["../../etc/passwd"]), instance_uuid=str(uuidlib.uuid4())))
        cases.append(dict(uuid_stack="not json", instance_uuid=str(uuidlib.uuid4())))
    for extra in cases:
        details = failure(x, fn, **import_args(pool, **extra))
        assert details[0] in REFUSED + ("NOVAOPS_STAGING_MISSING",), (extra, details)
        if not extra:
            assert details[0] == "NOVAOPS_PATH_REFUSED", details
        assert snapshot_tree(victim) == before_victim, extra
        assert snapshot_tree(sr) == before_sr, (extra, set(snapshot_tree(sr)) ^ set(before_sr))


# ------------------------------------------------------------------ staging contents

def stage(pool, names, chain=None):
    """A destination staging dir holding the given names (copies of a chain's files, or junk)."""
    d = staging_dir(pool)
    os.makedirs(d)
    for i, name in enumerate(names):
        if chain and name.endswith(".vhd") and i < len(chain):
            shutil.copyfile(os.path.join(pool.sr_dir(), chain[i] + ".vhd"), os.path.join(d, name))
        else:
            with open(os.path.join(d, name), "wb") as fh:
                fh.write(b"junk")
    return d


@pytest.mark.parametrize("names,why", [
    (["0.vhd", "2.vhd"], "gaps"),
    (["1.vhd", "2.vhd"], "gaps"),
    (["0.vhd", "1.vhd", "stray.txt"], "unexpected entry"),
    (["0.vhd", "01.vhd"], "unexpected entry"),
    ([], "no VHD files"),
])
def test_move_refuses_gaps_and_strays(pool, x, names, why):
    chain, _ = make_chain(pool, x)
    before = snapshot_tree(pool.sr_dir())
    stage(pool, names, chain)
    before.update({k: v for k, v in snapshot_tree(pool.sr_dir()).items() if k.startswith(".novaops-staging")})
    details = failure(x, "move_vhds_into_sr", **import_args(pool))
    assert details[0] == "NOVAOPS_STAGING_INVALID" and why in " ".join(details), details
    after = snapshot_tree(pool.sr_dir())
    assert {k: v for k, v in after.items() if not k.startswith(".novaops-staging")} == \
        {k: v for k, v in before.items() if not k.startswith(".novaops-staging")}
    assert not os.path.exists(staging_dir(pool))           # cleaned up


def test_move_refuses_symlinked_and_hard_linked_files(pool, x, victim):
    chain, _ = make_chain(pool, x)
    d = stage(pool, ["0.vhd"], chain)
    os.symlink(os.path.join(victim, "0.vhd"), os.path.join(d, "1.vhd"))
    details = failure(x, "move_vhds_into_sr", **import_args(pool))
    assert details[0] == "NOVAOPS_STAGING_INVALID" and "not a regular file" in details[2], details
    assert open(os.path.join(victim, "0.vhd"), "rb").read() == b"precious"
    # a file hard-linked to a source VHD: importing it would rewrite the source's footer
    d = staging_dir(pool)
    os.makedirs(d)
    src = os.path.join(pool.sr_dir(), chain[-1] + ".vhd")
    before = open(src, "rb").read()
    os.link(src, os.path.join(d, "0.vhd"))
    details = failure(x, "move_vhds_into_sr", **import_args(pool))
    assert details[0] == "NOVAOPS_STAGING_INVALID" and "hard links" in details[2], details
    assert open(src, "rb").read() == before
    assert not os.path.exists(d)


def test_move_failing_check_leaves_no_half_chain(pool, x):
    chain, _ = make_chain(pool, x)
    d = stage(pool, ["0.vhd", "1.vhd", "2.vhd"], chain)
    with open(os.path.join(d, "2.vhd"), "r+b") as fh:          # the base: a broken header
        fh.seek(512)
        fh.write(b"\xff" * 1024)
    before = sr_vhds(pool)
    stack = [str(uuidlib.uuid4()) for _ in range(3)]
    failure(x, "move_vhds_into_sr", **import_args(pool, uuid_stack=json.dumps(stack)))
    assert sr_vhds(pool) == before
    assert not set("%s.vhd" % u for u in stack) & set(os.listdir(pool.sr_dir()))
    assert not os.path.exists(d)


def test_import_chain_rolls_back_a_half_move(pool, x, monkeypatch):
    """A rename into the SR failing half way moves the already moved files back (library level)."""
    chain, _ = make_chain(pool, x)
    d = stage(pool, ["0.vhd", "1.vhd", "2.vhd"], chain)
    monkeypatch.syspath_prepend(PLUGINS)
    # the plugin runtime (XenAPIPlugin and its XenAPI) as a plugin process has it; the modules this
    # import loads are dropped again afterwards (the SDK's XenAPI stays this process's)
    monkeypatch.syspath_prepend(RUNTIME)
    for name in ("novaops_plugin_utils", "XenAPIPlugin", "XenAPI"):
        monkeypatch.setitem(sys.modules, name, None)
        del sys.modules[name]
    monkeypatch.setenv("PATH", os.path.join(REPO, "tools", "xapisim", "bin") + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("PYTHONPATH", os.path.join(REPO, "tools") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    import novaops_plugin_utils as utils
    real_rename_to = utils.Dir.rename_to
    into_sr = []

    def rename_to(self, name, dest, dest_name):
        if dest.path == pool.sr_dir():
            into_sr.append(dest_name)
            if len(into_sr) == 2:
                raise OSError(28, "No space left on device")
        return real_rename_to(self, name, dest, dest_name)

    before = sr_vhds(pool)
    monkeypatch.setattr(utils.Dir, "rename_to", rename_to)
    with utils.open_root(pool.sr_dir()) as sr, utils.open_root(d) as staged:
        with pytest.raises(OSError):
            utils.import_chain(sr, staged, [str(uuidlib.uuid4()) for _ in range(3)])
    monkeypatch.setattr(utils.Dir, "rename_to", real_rename_to)
    assert sr_vhds(pool) == before                               # the base moved back out
    assert len(os.listdir(d)) == 3
    shutil.rmtree(d)


# ------------------------------------------------------------------ over the real sshd

@pytest.fixture
def sshd():
    try:
        return ssh_args(beds_env("NOVAOPS_SSH_KEY"))
    except LookupError as exc:
        pytest.fail("No sshd bed: %s" % exc)


def test_transfer_and_import_round_trip(pool, x, sshd):
    chain, data = make_chain(pool, x)
    call(x, "remove_staging", **import_args(pool, disk="0"))
    out = call(x, "transfer_vhd", **transfer_args(pool, chain[1:], seq_num="1", disk="0", **sshd))
    assert out["files"] == ["1.vhd", "2.vhd"] and out["bytes"] > 0
    call(x, "transfer_vhd", **transfer_args(pool, chain[:1], seq_num="0", disk="0", **sshd))
    assert sorted(os.listdir(staging_dir(pool, "0"))) == ["0.vhd", "1.vhd", "2.vhd"]
    assert [n for n in os.listdir(staging_root(pool)) if n.startswith("xfer-")] == []
    got = call(x, "move_vhds_into_sr", **import_args(pool, disk="0"))
    assert len(got["chain"]) == 3 and not set(got["chain"]) & set(chain)
    assert not os.path.exists(staging_root(pool))
    x.SR.scan(x.pool.get_default_SR(x.pool.get_all()[0]))
    with VHD.open(os.path.join(pool.sr_dir(), got["chain"][0] + ".vhd")) as v:
        assert v.read(0, len(data)) == data
        assert v.parent_uuid == got["chain"][1]
        assert not v.hidden


def test_transfer_refused_host_key_cleans_staging(pool, x, sshd):
    chain, _ = make_chain(pool, x)
    sshd = dict(sshd, ssh_known_hosts="[127.0.0.1]:%s ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ6Ht9pJkVt7f0QXfq0xgqTjQvS3Y3rPpW2c2i8c6f5u"
                % sshd["port"])
    details = failure(x, "transfer_vhd", **transfer_args(pool, chain, **sshd))
    assert details[0] == "NOVAOPS_COMMAND_FAILED" and "Host key verification failed" in details[3], details
    assert not os.path.exists(staging_root(pool))
    assert not os.path.exists(staging_dir(pool))


def test_remove_from_sr_takes_back_an_unscanned_chain_only(pool, x):
    chain, _ = make_chain(pool, x)
    stage(pool, ["0.vhd", "1.vhd", "2.vhd"], chain)
    before = sr_vhds(pool)
    moved = call(x, "move_vhds_into_sr", **import_args(pool))["chain"]
    assert sorted(set(sr_vhds(pool)) - set(before)) == sorted("%s.vhd" % u for u in moved)
    stranger = str(uuidlib.uuid4())          # named, but not in the SR: nothing to do for it
    out = call(x, "remove_from_sr", sr_path=pool.sr_dir(), vdi_uuids=json.dumps(moved + [stranger]))
    assert out["removed"] == moved
    assert sr_vhds(pool) == before           # the source chain untouched


def test_remove_from_sr_refuses_what_is_not_a_vdi_of_the_sr(pool, x, victim):
    before_sr, before_victim = snapshot_tree(pool.sr_dir()), snapshot_tree(victim)
    for args in (dict(sr_path=victim, vdi_uuids=json.dumps([str(uuidlib.uuid4())])),
                 dict(sr_path=pool.sr_dir(), vdi_uuids=json.dumps(["../../etc/passwd"])),
                 dict(sr_path=pool.sr_dir(), vdi_uuids="not json")):
        details = failure(x, "remove_from_sr", **args)
        assert details[0] in REFUSED, (args, details)
    assert snapshot_tree(pool.sr_dir()) == before_sr and snapshot_tree(victim) == before_victim
