#!/usr/bin/env python3
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""libvirt_snapshot live against ``qemu-img convert`` of the same disk while the domain is off, same run.

The disk: a qcow2 overlay of 1 GiB, every byte written (a 16 MiB base under it), root disk of a
TCG domain.  The baseline is what a cold snapshot costs at least: the domain shut off, one
``qemu-img convert -O qcow2`` of the overlay (flattening the base).  Ours is the live
snapshot (libvirt_snapshot run as a module process against the Glance bed): the block copy
into a fresh overlay while the guest runs, then the same convert; printed with and without
the upload.  Ratios above 1 are the price of never stopping the guest.

Standalone: ``python bench/libvirt_snapshot.py`` (needs the beds: ``make beds``), or
``make bench BENCH_ARGS=libvirt_snapshot``.  NOVAOPS_BENCH_ROUNDS (default 1) rounds.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from _kit import build_collection, sh

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.environ.get("VENV", os.path.expanduser("~/.cache/novaops-compute/venv"))
PY = os.path.join(VENV, "bin", "python")
BUILD = os.environ.get("NOVAOPS_BENCH_BUILD", "/tmp/nc-build-ls-bench")
URI = "qemu:///system"
NAME = "nt-bench-ls"
GLANCE = os.environ.get("NOVAOPS_GLANCE_URL", "http://127.0.0.1:19292")
HEADERS = {"X-Roles": "admin", "X-Tenant-Id": "nt-bench-ls"}
ROUNDS = int(os.environ.get("NOVAOPS_BENCH_ROUNDS", "1"))
GiB = 1024 ** 3

DOMAIN_XML = """<domain type='qemu'>
  <name>%(name)s</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='%(disk)s'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
"""


def glance_delete_all(name):
    req = urllib.request.Request("%s/v2/images?name=%s" % (GLANCE, name), headers=HEADERS)
    with urllib.request.urlopen(req, timeout=60) as resp:
        images = json.load(resp)["images"]
    for image in images:
        urllib.request.urlopen(urllib.request.Request("%s/v2/images/%s" % (GLANCE, image["id"]),
                                                      headers=HEADERS, method="DELETE"), timeout=60).close()


def virsh(*args, check=True):
    return subprocess.run(["virsh", "-c", URI] + list(args), check=check, capture_output=True, text=True)


def main():
    module = os.path.join(build_collection(BUILD), "plugins", "modules", "libvirt_snapshot.py")
    tmp = tempfile.mkdtemp(prefix="nt-bench-ls-")
    os.chmod(tmp, 0o755)
    base, disk = os.path.join(tmp, "base.qcow2"), os.path.join(tmp, "disk")
    image = "%s-%s" % (NAME, os.path.basename(tmp))
    try:
        sh(["qemu-img", "create", "-q", "-f", "qcow2", base, "16M"])
        sh(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", disk, str(GiB)])
        sh(["qemu-io", "-c", "write -P 0x5c 0 1G", disk])
        xml = os.path.join(tmp, "domain.xml")
        with open(xml, "w") as handle:
            handle.write(DOMAIN_XML % dict(name=NAME, disk=disk))
        virsh("define", xml)
        args = os.path.join(tmp, "args.json")
        with open(args, "w") as handle:
            json.dump(dict(ANSIBLE_MODULE_ARGS=dict(
                name=NAME, image_name=image, mode="live", format="qcow2", uri=URI,
                snapshots_directory=os.path.join(tmp, "snapshots"),
                glance=dict(url=GLANCE, roles=["admin"], project_id=HEADERS["X-Tenant-Id"]))), handle)
        offline, live, copy, total, upload = [], [], [], [], []
        for _round in range(ROUNDS):
            # baseline: the domain is off, a plain convert of the same disk
            out = os.path.join(tmp, "offline.qcow2")
            os.sync()       # each side starts with no dirty pages of the other's writes
            started = time.monotonic()
            sh(["qemu-img", "convert", "-q", "-f", "qcow2", "-O", "qcow2", disk, out])
            offline.append(time.monotonic() - started)
            os.unlink(out)
            # ours: live, the guest running all along
            virsh("start", NAME)
            os.sync()
            started = time.monotonic()
            proc = subprocess.run([PY, module, args], capture_output=True, text=True,
                                  env=dict(os.environ, PYTHONPATH=BUILD))
            total.append(time.monotonic() - started)
            result = json.loads(proc.stdout)
            if result.get("failed") or result.get("mode") != "live" or result["domain"]["state"] != "running":
                raise SystemExit("live snapshot failed: %s" % proc.stdout[-2000:])
            durations = result["durations"]
            live.append(durations["block_copy"] + durations["convert"])
            copy.append(durations["block_copy"])
            upload.append(durations["upload"])
            virsh("destroy", NAME)
            glance_delete_all(image)
        o, l, c, t, u = (statistics.median(v) for v in (offline, live, copy, total, upload))
        print("1 GiB disk (all written), median of %d:" % ROUNDS)
        print("    qemu-img convert, domain off (baseline):            %.2fs" % o)
        print("    libvirt_snapshot live: block copy + convert:        %.2fs (block copy %.2fs)" % (l, c))
        print("    libvirt_snapshot live, whole module incl. upload:   %.2fs (upload %.2fs)" % (t, u))
        print("RATIO live snapshot (copy + convert) / offline qemu-img convert: %.2f" % (l / o))
        print("RATIO whole live snapshot module incl. upload / offline qemu-img convert: %.2f" % (t / o))
    finally:
        virsh("destroy", NAME, check=False)
        virsh("undefine", "--managed-save", NAME, check=False)
        try:
            glance_delete_all(image)
        except OSError:
            pass
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
