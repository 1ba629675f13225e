#!/usr/bin/env python3
"""libvirt_migrate's block migration against ``rsync --sparse`` of the same files between the same hosts.

A running guest (libvirt_migrate's counting guest: a 71-byte program counting in RAM) with a 1 GiB
qcow2 disk, all of it written, on an 8 MiB raw base, on the libvirtd bed; the second libvirt host
(bed libvirt2, its own address in a network namespace) is the destination. Ours is the module's
block migration (``storage: block``: the base streamed over the destination's libvirt connection,
the overlay copied by QEMU's NBD mirror, the 32 MiB of memory moved live), timed by the module
itself (its ``duration``: pre-checks, preparation and migration, without Ansible's start-up). The
peer is ``rsync --sparse`` of the overlay and the base over ssh to the second host's sshd, into its
instances directory (what an operator copying the files by hand would send; the guest would
still have to be stopped and started there). Best of two each, alternating. Prints the ratio of the
times and of the throughputs (the target: block migration at least 0.8 of rsync's throughput), and
the downtime libvirt reports for the migration. Everything it makes is removed. Needs `make beds`
(libvirt, libvirt2, Glance's env for the module's defaults).
"""

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
GUEST_DIR = os.path.join(REPO, "tests", "integration", "targets", "libvirt_migrate", "files")
SETUP_FILES = os.path.join(REPO, "tests", "integration", "targets", "setup_compute_roles", "files")
GiB = 1024 ** 3


def collection_path():
    """A collections path whose novaops.compute is this tree (a link, made here when needed)."""
    tmp = tempfile.mkdtemp(prefix="bench-coll-")
    os.makedirs(os.path.join(tmp, "ansible_collections", "novaops"))
    os.symlink(REPO, os.path.join(tmp, "ansible_collections", "novaops", "compute"))
    return tmp


def main():
    env = os.environ
    missing = [k for k in ("NOVAOPS_INSTANCES_DIR", "NOVAOPS_LIBVIRT2_URI", "NOVAOPS_LIBVIRT2_ADDRESS",
                           "NOVAOPS_LIBVIRT2_INSTANCES_DIR", "NOVAOPS_LIBVIRT2_KNOWN_HOSTS", "NOVAOPS_SSH_KEY")
               if not env.get(k)]
    if missing:
        sys.exit("source .beds/env.sh first (make bench does): %s unset" % ", ".join(missing))
    sys.path[:0] = [GUEST_DIR, SETUP_FILES]
    import counting_guest  # pylint: disable=import-outside-toplevel
    from module_runs import module_run  # pylint: disable=import-outside-toplevel
    counting_guest.DISK_SIZE = GiB
    coll = collection_path()
    run_env = dict(ANSIBLE_COLLECTIONS_PATH=coll)
    inst, there, dest = env["NOVAOPS_INSTANCES_DIR"], env["NOVAOPS_LIBVIRT2_INSTANCES_DIR"], env["NOVAOPS_LIBVIRT2_URI"]
    ssh = ["ssh", "-i", env["NOVAOPS_SSH_KEY"], "-o", "UserKnownHostsFile=%s" % env["NOVAOPS_LIBVIRT2_KNOWN_HOSTS"],
           "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"]
    best, downtimes, made = {}, [], []

    def boot():
        name, uid = "bench-lm-%s" % uuid.uuid4().hex[:6], str(uuid.uuid4())
        made.append((name, uid))
        counting_guest.boot(inst, name, uid, str(GiB // 1024 ** 2 - 4))
        return name, uid

    def ours():
        _name, uid = boot()
        result = module_run("libvirt_migrate", dict(uuid=uid, dest_uri=dest, storage="block"), run_env, timeout=900)
        if result.get("failed"):
            raise RuntimeError("the block migration failed: %s" % result.get("msg"))
        downtimes.append(result["job_stats"].get("downtime"))
        return result["duration"]

    def peer():
        name, uid = boot()
        target = "bench-rsync-%s" % uuid.uuid4().hex[:6]
        made.append((target, None))
        argv = ["rsync", "--sparse", "--times", "-e", " ".join(shlex.quote(a) for a in ssh),
                os.path.join(inst, uid, "disk"), os.path.join(inst, "_base", name + "-base"),
                "root@%s:%s/%s/" % (env["NOVAOPS_LIBVIRT2_ADDRESS"], inst, target)]
        started = time.monotonic()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        return time.monotonic() - started

    try:
        for _ in range(2):
            for name, measure in (("rsync", peer), ("ours", ours)):
                took = measure()
                print("  %-5s %.2fs" % (name, took), flush=True)
                best[name] = min(best.get(name, took), took)
                cleanup(made, inst, there, dest)
        print("disk: 1 GiB qcow2 overlay (1020 MiB written) on an 8 MiB raw base; guest memory 32 MiB")
        print("downtime libvirt reports for the migrations: %s ms" % ", ".join(str(d) for d in downtimes))
        print("RATIO block migration time: %.2f (ours, libvirt_migrate storage=block %.2fs / rsync --sparse of "
              "overlay and base %.2fs; throughput ratio %.2f, target >= 0.8)" % (
                  best["ours"] / best["rsync"], best["ours"], best["rsync"], best["rsync"] / best["ours"]))
    finally:
        cleanup(made, inst, there, dest)
        shutil.rmtree(coll, ignore_errors=True)


def cleanup(made, inst, there, dest):
    """The guests off both hosts, their files off both instances directories."""
    for name, uid in made:
        if uid:
            for uri in ("qemu:///system", dest):
                for verb in ("destroy", "undefine"):
                    subprocess.run(["virsh", "-q", "-c", uri, verb, uid], capture_output=True, check=False)
        for top in (inst, there):
            for path in (os.path.join(top, uid or name), os.path.join(top, "_base", name + "-base")):
                if os.path.isdir(path):
                    shutil.rmtree(path)
                elif os.path.exists(path):
                    os.unlink(path)
    del made[:]


if __name__ == "__main__":
    main()
