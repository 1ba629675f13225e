#!/usr/bin/env python3
"""Upload throughput of the glance dom0 plugin (what xen_snapshot uses) against `curl -T`.

A 1 GiB chain (a base copy full of data under a small snapshot leaf) on the simulator's
pool a is streamed by ``glance.upload_vhd`` (tar made on the fly, chunked PUT) into the
Glance bed; the same tarball, written to disk beforehand, is sent by ``curl -T`` to the
same Glance.  Best of three runs each, alternating.  Prints
``RATIO upload throughput: <ours/curl>`` (above 1: ours is faster; the target is >= 0.8).
Everything it creates (images, VDIs, the tarball) is deleted.  Needs `make beds`.
"""

import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))
from xapisim.testkit import GLANCE_HEADERS, MiB, beds_env_or_exit, clean_up, filled_chain, glance, login  # noqa: E402

SIZE = 1024 * MiB
E = beds_env_or_exit()



def new_image(name):
    return glance(E, "POST", "/v2/images", {"name": name, "disk_format": "vhd", "container_format": "ovf"})["id"]


def main():
    session = login("A", E, "bench-xen_snapshot")
    x = session.xenapi
    sr_dir = E["XENAPI_POOL_A_SR_DIR"]
    host = x.host.get_all()[0]
    images, vdis, tarball = [], [], None
    try:
        chain = filled_chain(x, E, "A", "bench-xen_snapshot", SIZE, vdis)
        files = [os.path.join(sr_dir, u + ".vhd") for u in chain]
        total = sum(os.path.getsize(f) for f in files)

        fd, tarball = tempfile.mkstemp(prefix="bench-xen_snapshot-", suffix=".tar")
        os.close(fd)
        with tarfile.open(tarball, "w", format=tarfile.GNU_FORMAT) as tar:
            for seq, path in enumerate(files):
                tar.add(path, arcname="%d.vhd" % seq)
        tar_size = os.path.getsize(tarball)

        def ours():
            image = new_image("bench-xen_snapshot-ours")
            images.append(image)
            args = {"sr_path": sr_dir, "vdi_uuids": json.dumps(chain), "image_id": image,
                    "glance_url": E["NOVAOPS_GLANCE_URL"], "headers": json.dumps(GLANCE_HEADERS)}
            started = time.monotonic()
            out = json.loads(x.host.call_plugin(host, "glance", "upload_vhd", args))
            took = time.monotonic() - started
            assert glance(E, "GET", "/v2/images/%s" % image)["status"] == "active"
            return out["bytes"], took

        def peer():
            image = new_image("bench-xen_snapshot-curl")
            images.append(image)
            argv = ["curl", "-sS", "-f", "-T", tarball, "-X", "PUT", "-H", "Content-Type: application/octet-stream"]
            for k, v in GLANCE_HEADERS.items():
                argv += ["-H", "%s: %s" % (k, v)]
            argv.append("%s/v2/images/%s/file" % (E["NOVAOPS_GLANCE_URL"], image))
            started = time.monotonic()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
            took = time.monotonic() - started
            assert glance(E, "GET", "/v2/images/%s" % image)["status"] == "active"
            return tar_size, took

        best = {"ours": None, "curl": None}
        for _ in range(3):
            for name, fn in (("curl", peer), ("ours", ours)):
                nbytes, took = fn()
                rate = nbytes / took / MiB
                print("  %-4s %d bytes in %.2fs: %.0f MiB/s" % (name, nbytes, took, rate), flush=True)
                best[name] = max(best[name] or 0, rate)
                glance(E, "DELETE", "/v2/images/%s" % images.pop())
        print("chain: %d VHDs, %d bytes; tarball %d bytes" % (len(chain), total, tar_size))
        print("RATIO upload throughput: %.2f (ours %.0f MiB/s / curl -T %.0f MiB/s, 1 GiB chain)"
              % (best["ours"] / best["curl"], best["ours"], best["curl"]))
    finally:
        clean_up(E, x, images=images, vdis=vdis, files=[tarball])
        session.xenapi.session.logout()


if __name__ == "__main__":
    main()
