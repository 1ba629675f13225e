#!/usr/bin/env python3
"""Transfer throughput of the migration dom0 plugin (what vhd_migrate uses) against a plain
``rsync -a --sparse`` of the same files over the same sshd, and import time against VHD size.

Transfer: a 1 GiB (virtual) sparse chain on the simulator's pool a (a base copy with every
other 2 MiB block written, under a small snapshot leaf) is sent by ``migration.transfer_vhd``
(hard-link staging in the SR, ``rsync -av --sparse`` over ssh) to pool b's staging root over
the sshd bed; the same files are sent by ``rsync -a --sparse -e ssh`` to a directory beside it.
Best of three each, alternating.  Prints ``RATIO transfer throughput: <ours/rsync>`` (above 1:
ours is faster; the target is >= 0.8).

Import: ``migration.move_vhds_into_sr`` on pool b of one staged VHD with 64 MiB, 256 MiB and
1 GiB of data.  It is a rename plus footer and header edits, so the time must stay flat:
prints ``RATIO import time 1 GiB / 64 MiB: <t1G/t64M>`` (about 1 is flat; a copy would be ~16).

Everything it creates (VDIs, staging and peer directories) is removed.  Needs `make beds`.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid as uuidlib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))
from xapisim.testkit import MiB, beds_env_or_exit, login, pool_chain, ssh_args  # noqa: E402

SIZE = 1024 * MiB
E = beds_env_or_exit()


def main():
    from xapisim.vhd import VHD, create_dynamic

    sa, sb = login("A", E, "bench-vhd_migrate"), login("B", E, "bench-vhd_migrate")
    a, b = sa.xenapi, sb.xenapi
    sr_a, sr_b = a.SR.get_by_uuid(E["XENAPI_POOL_A_SR_UUID"]), b.SR.get_by_uuid(E["XENAPI_POOL_B_SR_UUID"])
    dir_a, dir_b = E["XENAPI_POOL_A_SR_DIR"], E["XENAPI_POOL_B_SR_DIR"]
    host_a, host_b = a.host.get_all()[0], b.host.get_all()[0]
    stage_b = os.path.join(dir_b, ".novaops-staging")
    ssh = ssh_args(E)
    vdis, instances, peer_dirs = [], [], []
    try:
        # ---------------------------------------------------------------- transfer
        vdi = a.VDI.create({"name_label": "bench-vhd_migrate", "name_description": "", "SR": sr_a,
                            "virtual_size": str(SIZE), "type": "user", "sharable": False,
                            "read_only": False, "other_config": {}})
        vdis.append((a, vdi))
        block = os.urandom(2 * MiB)
        with VHD.open(os.path.join(dir_a, a.VDI.get_uuid(vdi) + ".vhd"), writable=True) as v:
            for off in range(0, SIZE, 4 * MiB):          # every other block: sparse
                v.write(off, block)
        snap = a.VDI.snapshot(vdi, {})
        vdis.insert(0, (a, snap))
        with VHD.open(os.path.join(dir_a, a.VDI.get_uuid(snap) + ".vhd"), writable=True) as v:
            v.write(3 * MiB, block[:MiB])
        chain = pool_chain(a, a.VDI.get_uuid(snap))
        files = [os.path.join(dir_a, u + ".vhd") for u in chain]
        total = sum(os.path.getsize(f) for f in files)

        def ours():
            instance = str(uuidlib.uuid4())
            instances.append(instance)
            args = dict(ssh, sr_path=dir_a, vdi_uuids=json.dumps(chain), seq_num="0", instance_uuid=instance,
                        dest_root=stage_b)
            started = time.monotonic()
            out = json.loads(a.host.call_plugin(host_a, "migration", "transfer_vhd", args))
            took = time.monotonic() - started
            assert sorted(os.listdir(os.path.join(stage_b, "instance" + instance))) == \
                ["%d.vhd" % i for i in range(len(chain))]
            b.host.call_plugin(host_b, "migration", "remove_staging",
                               {"sr_path": dir_b, "instance_uuid": instance})
            instances.remove(instance)
            return out["bytes"], took

        def peer():
            dest = os.path.join(stage_b, "bench-rsync-%s" % uuidlib.uuid4())
            peer_dirs.append(dest)
            os.makedirs(dest)
            command = ["ssh", "-p", E["NOVAOPS_SSH_PORT"], "-i", E["NOVAOPS_SSH_KEY"], "-o", "BatchMode=yes",
                       "-o", "UserKnownHostsFile=%s" % E["NOVAOPS_SSH_KNOWN_HOSTS"],
                       "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes"]
            argv = ["rsync", "-a", "--sparse", "-e", " ".join(shlex.quote(c) for c in command)] + files + \
                ["%s@%s:%s/" % (E["NOVAOPS_SSH_USER"], E["NOVAOPS_SSH_HOST"], dest)]
            started = time.monotonic()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
            took = time.monotonic() - started
            assert len(os.listdir(dest)) == len(files)
            shutil.rmtree(dest)
            peer_dirs.remove(dest)
            return total, took

        best = {"ours": 0.0, "rsync": 0.0}
        for _ in range(3):
            for name, fn in (("rsync", peer), ("ours", ours)):
                nbytes, took = fn()
                rate = nbytes / took / MiB
                print("  %-5s %d bytes in %.2fs: %.0f MiB/s" % (name, nbytes, took, rate), flush=True)
                best[name] = max(best[name], rate)
        print("chain: %d VHDs, %d bytes in files, 1 GiB virtual" % (len(chain), total))
        print("RATIO transfer throughput: %.2f (ours %.0f MiB/s / rsync -a --sparse %.0f MiB/s, 1 GiB sparse chain)"
              % (best["ours"] / best["rsync"], best["ours"], best["rsync"]))
        for x, ref in vdis:
            x.VDI.destroy(ref)
        vdis = []

        # ---------------------------------------------------------------- import
        times = {}
        for mib in (64, 256, 1024):
            best_t = None
            for _ in range(2):
                instance = str(uuidlib.uuid4())
                instances.append(instance)
                d = os.path.join(stage_b, "instance" + instance)
                os.makedirs(d)
                path = os.path.join(d, "0.vhd")
                create_dynamic(path, mib * MiB)
                with VHD.open(path, writable=True) as v:
                    for off in range(0, mib * MiB, 2 * MiB):
                        v.write(off, block)
                started = time.monotonic()
                out = json.loads(b.host.call_plugin(host_b, "migration", "move_vhds_into_sr",
                                                    {"sr_path": dir_b, "instance_uuid": instance}))
                took = time.monotonic() - started
                instances.remove(instance)
                b.SR.scan(sr_b)
                vdis.append((b, b.VDI.get_by_uuid(out["chain"][0])))
                best_t = took if best_t is None else min(best_t, took)
                for x, ref in vdis:
                    x.VDI.destroy(ref)
                vdis = []
            times[mib] = best_t
            print("  import of a VHD with %4d MiB of data: %.3fs" % (mib, best_t), flush=True)
        print("RATIO import time 1 GiB / 64 MiB: %.2f (%.3fs / %.3fs; flat is about 1, a copy would be ~16)"
              % (times[1024] / times[64], times[1024], times[64]))
    finally:
        for x, ref in vdis:
            try:
                x.VDI.destroy(ref)
            except Exception:  # noqa: BLE001 - best effort cleanup
                pass
        for instance in instances:
            try:
                b.host.call_plugin(host_b, "migration", "remove_staging", {"sr_path": dir_b, "instance_uuid": instance})
            except Exception:  # noqa: BLE001
                pass
        for d in peer_dirs:
            shutil.rmtree(d, ignore_errors=True)
        try:
            os.rmdir(stage_b)
        except OSError:
            pass
        sa.xenapi.session.logout()
        sb.xenapi.session.logout()


if __name__ == "__main__":
    main()
