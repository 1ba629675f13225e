#!/usr/bin/env python3
"""libvirt_resize's copy to another host against a plain ``rsync --sparse`` of the same files.

A root disk as libvirt_domain makes it: a 1 GiB qcow2 overlay with 64 MiB written, on a 256 MiB
raw base in ``_base`` with every other 4 MiB written.  Ours is what ``state: migrated`` does for
it (module_utils disk_transfer): flatten it into a standalone qcow2 with ``qemu-img convert``,
then ``rsync --sparse`` over the sshd bed.  The peer sends the overlay and its base as they are
with ``rsync --sparse`` over the same ssh (what an operator copying by hand would send; the
destination then still needs the base).  Best of three each, alternating.  Prints
``RATIO copy time to another host: <ours/rsync>`` (below 1: ours is faster).  Everything it
makes is removed.  Needs `make beds` (sshd).
"""

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MiB = 1024 * 1024


def import_collection():
    try:
        from ansible_collections.novaops.compute.plugins.module_utils.libvirt import disk_transfer  # noqa: F401
    except ImportError:
        tmp = tempfile.mkdtemp(prefix="bench-coll-")
        os.makedirs(os.path.join(tmp, "ansible_collections", "novaops"))
        os.symlink(os.path.dirname(HERE), os.path.join(tmp, "ansible_collections", "novaops", "compute"))
        sys.path.insert(0, tmp)
    from ansible_collections.novaops.compute.plugins.module_utils.libvirt.disk_transfer import DiskTransfer
    from ansible_collections.novaops.compute.plugins.module_utils.disks.diskops import QemuImg
    from ansible_collections.novaops.compute.plugins.module_utils.common.ssh_host import SshHost
    from ansible_collections.novaops.compute.plugins.module_utils.common.confined import Root
    return DiskTransfer, QemuImg, SshHost, Root


def run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def main():
    env = os.environ
    missing = [k for k in ("NOVAOPS_SSH_HOST", "NOVAOPS_SSH_PORT", "NOVAOPS_SSH_USER", "NOVAOPS_SSH_KEY",
                           "NOVAOPS_SSH_KNOWN_HOSTS") if not env.get(k)]
    if missing:
        sys.exit("source .beds/env.sh first (make bench does): %s unset" % ", ".join(missing))
    DiskTransfer, QemuImg, SshHost, Root = import_collection()
    work = tempfile.mkdtemp(prefix="bench-libvirt-resize-")
    try:
        base = os.path.join(work, "base")
        overlay = os.path.join(work, "disk")
        with open(base, "wb") as handle:
            block = os.urandom(4 * MiB)
            for off in range(0, 256 * MiB, 8 * MiB):
                handle.seek(off)
                handle.write(block)
            handle.truncate(256 * MiB)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", overlay, "1G"], check=True)
        with open(os.path.join(work, "data"), "wb") as handle:
            handle.write(os.urandom(64 * MiB))
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -s %s 512M 64M" % os.path.join(work, "data"), overlay],
                       check=True, stdout=subprocess.DEVNULL)
        os.unlink(os.path.join(work, "data"))
        host = SshHost(run, env["NOVAOPS_SSH_HOST"], int(env["NOVAOPS_SSH_PORT"]), env["NOVAOPS_SSH_USER"],
                       private_key_file=env["NOVAOPS_SSH_KEY"], known_hosts_file=env["NOVAOPS_SSH_KNOWN_HOSTS"])
        transfer = DiskTransfer(QemuImg(run), host)
        remote = os.path.join(work, "host2")
        os.mkdir(remote)

        def ours():
            dest = tempfile.mkdtemp(dir=remote)
            started = time.monotonic()
            transfer.put(Root(work, "instances_path"), ("disk",), dest, ("disk",), "flatten")
            took = time.monotonic() - started
            shutil.rmtree(dest)
            return took

        def peer():
            dest = tempfile.mkdtemp(dir=remote)
            argv = ["rsync", "--sparse", "--times", "-e", " ".join(shlex.quote(a) for a in host.ssh_argv()),
                    overlay, base, "%s:%s/" % (host.host, dest)]
            started = time.monotonic()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
            took = time.monotonic() - started
            shutil.rmtree(dest)
            return took

        best = {}
        for _ in range(3):
            for name, measure in (("rsync", peer), ("ours", ours)):
                took = measure()
                print("  %-5s %.2fs" % (name, took), flush=True)
                best[name] = min(best.get(name, took), took)
        print("disk: 1 GiB qcow2 overlay (64 MiB written) on a 256 MiB raw base (128 MiB written)")
        print("RATIO copy time to another host: %.2f (ours, flatten + rsync --sparse %.2fs / rsync --sparse of "
              "overlay and base %.2fs)" % (best["ours"] / best["rsync"], best["ours"], best["rsync"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
