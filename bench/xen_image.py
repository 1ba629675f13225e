#!/usr/bin/env python3
"""Caching a Glance image in an SR (what xen_image and an image boot on XenAPI use) against `curl | tar x`,
and the second boot from the cache against the first.

A 256 MiB chain (a base copy full of data under a small snapshot leaf) on the simulator's pool a is put
into Glance as the VHD tarball xen_snapshot uploads.  Then, best of three each (BENCH_ROUNDS), alternating:

- ours: ``glance.download_vhd`` streams it into the SR's staging area (hashed as it comes, checked
  against Glance's os_hash_value, sha512 - python-glanceclient's rule, md5 only for a record without
  one), imports the chain (fresh UUIDs, re-linked, vhd-util check, moved into the SR, SR.scan);
- peer: ``curl`` of the same image piped into ``tar x`` in a directory on the SR's filesystem;
- verifying peer: the same, verifying what ours verifies: ``curl | tee >(openssl dgst -sha512) | tar x``, the sum
  compared with Glance's ``os_hash_value`` (no import, no scan).

Prints ``RATIO image download: <curl time / ours>`` (the issue's ratio; the target is >= 0.8), then, of
the same run, ``RATIO image download, verifying peer: <verifying peer's time / ours>`` (what the
verification costs the target: no target of its own) and each round's two ratios (their spread), and
the CPU seconds of each side (medians: a loaded machine stretches wall-clock times, hardly these), and
``RATIO second boot / first: <ratio>`` - the root disk of a first boot is the download plus a
``VDI.clone`` of the cached VDI, of a second boot the cache look-up (one VDI.get_all_records) plus
the clone (the target is < 0.3).  Everything it creates is deleted.  Needs `make beds`; the pool a of
the process environment (XENAPI_POOL_A_URL, _SR_UUID, _SR_DIR) wins over .beds/env.sh, so a private
simulator running a changed plugin can be measured.
"""

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))
from xapisim.testkit import GLANCE_HEADERS, MiB, beds_env_or_exit, clean_up, filled_chain, glance, login  # noqa: E402

SIZE = 256 * MiB
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
E = beds_env_or_exit()



# the peer that verifies what ours verifies: Glance's os_hash_value (sha512), hashed beside tar by the OpenSSL
# that Python's hashlib uses (coreutils' sha512sum is slower here: the peer would look slower than it need be)
VERIFYING_PEER = """set -e -o pipefail
sums=$1; target=$2; url=$3; shift 3
openssl dgst -sha512 -r < "$sums/sha512" > "$sums/sha512.out" & s=$!
curl -sS -f "$@" "$url" | tee "$sums/sha512" | tar x -C "$target"
wait $s
"""


def children_cpu():
    """CPU seconds (user and system) of the child processes waited for so far (curl, tar, openssl)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main():
    session = login("A", E, "bench-xen_image")
    x = session.xenapi
    sr_dir = E["XENAPI_POOL_A_SR_DIR"]
    host = x.host.get_all()[0]
    image, vdis, tarball, peer_dir = None, [], None, None
    try:
        chain = filled_chain(x, E, "A", "bench-xen_image", SIZE, vdis)
        fd, tarball = tempfile.mkstemp(prefix="bench-xen_image-", suffix=".tar")
        os.close(fd)
        with tarfile.open(tarball, "w", format=tarfile.GNU_FORMAT) as tar:
            for seq, vdi_uuid in enumerate(chain):
                tar.add(os.path.join(sr_dir, vdi_uuid + ".vhd"), arcname="%d.vhd" % seq)
        image = glance(E, "POST", "/v2/images", {"name": "bench-xen_image", "disk_format": "vhd",
                                              "container_format": "ovf"})["id"]
        subprocess.run(["curl", "-sS", "-f", "-T", tarball, "-X", "PUT", "-H", "Content-Type: application/octet-stream"]
                       + [a for k, v in GLANCE_HEADERS.items() for a in ("-H", "%s: %s" % (k, v))]
                       + ["%s/v2/images/%s/file" % (E["NOVAOPS_GLANCE_URL"], image)], check=True)
        size = glance(E, "GET", "/v2/images/%s" % image)["size"]

        def ours():
            args = {"sr_path": sr_dir, "image_id": image, "glance_url": E["NOVAOPS_GLANCE_URL"],
                    "headers": json.dumps(GLANCE_HEADERS)}
            started = time.monotonic()
            out = json.loads(x.host.call_plugin(host, "glance", "download_vhd", args))
            took = time.monotonic() - started
            print("  ours: plugin %.2fs (%s), the rest (plugin start, XenAPI, SR.scan) %.2fs"
                  % (out["duration"], ", ".join("%s %.2fs" % kv for kv in sorted(out.get("phases", {}).items())),
                     took - out["duration"]), flush=True)
            cpu["ours"].append(out.get("phases", {}).get("cpu", float("nan")))
            return took, out["root"]["uuid"]

        def peer():
            target = tempfile.mkdtemp(prefix=".bench-curl-", dir=sr_dir)
            argv = ["curl", "-sS", "-f"] + [a for k, v in GLANCE_HEADERS.items() for a in ("-H", "%s: %s" % (k, v))]
            argv.append("%s/v2/images/%s/file" % (E["NOVAOPS_GLANCE_URL"], image))
            started, used = time.monotonic(), children_cpu()
            curl = subprocess.Popen(argv, stdout=subprocess.PIPE)
            subprocess.run(["tar", "x", "-C", target], stdin=curl.stdout, check=True)
            curl.stdout.close()
            if curl.wait():
                raise SystemExit("curl failed")
            took = time.monotonic() - started
            cpu["curl"].append(children_cpu() - used)
            shutil.rmtree(target)
            return took

        record = glance(E, "GET", "/v2/images/%s" % image)
        if record.get("os_hash_algo") != "sha512" or not record.get("os_hash_value"):
            raise SystemExit("Glance recorded no sha512 os_hash_value: %r" % record)

        def verifying_peer():
            target = tempfile.mkdtemp(prefix=".bench-curl-", dir=sr_dir)
            sums = tempfile.mkdtemp(prefix="bench-xen_image-sums-")
            os.mkfifo(os.path.join(sums, "sha512"))
            argv = ["bash", "-c", VERIFYING_PEER, "verifying-peer", sums, target,
                    "%s/v2/images/%s/file" % (E["NOVAOPS_GLANCE_URL"], image)]
            argv += [a for k, v in GLANCE_HEADERS.items() for a in ("-H", "%s: %s" % (k, v))]
            started, used = time.monotonic(), children_cpu()
            subprocess.run(argv, check=True)
            cpu["verifying"].append(children_cpu() - used)
            with open(os.path.join(sums, "sha512.out")) as handle:
                got = handle.read().split()[0]
            if got != record["os_hash_value"]:
                raise SystemExit("the verifying peer got %s, Glance recorded %s" % (got, record["os_hash_value"]))
            took = time.monotonic() - started
            shutil.rmtree(target)
            shutil.rmtree(sums)
            return took

        def forget(leaf_uuid):
            ref = x.VDI.get_by_uuid(leaf_uuid)
            x.VDI.destroy(ref)

        best = {"ours": None, "curl": None, "verifying": None}
        cpu = {"ours": [], "curl": [], "verifying": []}
        rounds = []
        first_boot, second_boot = None, None
        for _ in range(ROUNDS):
            took = peer()
            print("  curl|tar x %d bytes in %.2fs" % (size, took), flush=True)
            best["curl"] = min(best["curl"] or took, took)
            verifying = verifying_peer()
            print("  curl|tee openssl-sha512|tar x (sum checked) in %.2fs" % verifying, flush=True)
            best["verifying"] = min(best["verifying"] or verifying, verifying)
            curl_took = took
            took, leaf = ours()
            print("  ours       %d bytes in %.2fs" % (size, took), flush=True)
            best["ours"] = min(best["ours"] or took, took)
            rounds.append((curl_took / took, verifying / took))
            # the first boot's root: the download just made plus its clone; the second: look-up plus clone
            started = time.monotonic()
            clone = x.VDI.clone(x.VDI.get_by_uuid(leaf), {})
            first = took + time.monotonic() - started
            started = time.monotonic()
            found = [ref for ref, rec in x.VDI.get_all_records().items() if rec["uuid"] == leaf]
            clone2 = x.VDI.clone(found[0], {})
            second = time.monotonic() - started
            first_boot = min(first_boot or first, first)
            second_boot = min(second_boot or second, second)
            for ref in (clone, clone2):
                x.VDI.destroy(ref)
            forget(leaf)
        print("image: %d bytes, chain of %d VHDs" % (size, len(chain)))
        print("RATIO image download: %.2f (curl|tar x %.2fs / ours %.2fs, 256 MiB chain; target >= 0.8)"
              % (best["curl"] / best["ours"], best["curl"], best["ours"]))
        print("RATIO image download, verifying peer: %.2f (curl|tee openssl-sha512|tar x %.2fs / ours %.2fs; "
              "the peer verifies Glance's os_hash_value as ours does)"
              % (best["verifying"] / best["ours"], best["verifying"], best["ours"]))
        print("  per round (curl|tar x / ours, verifying peer / ours): %s; medians %.2f and %.2f, spread %.2f-%.2f "
              "and %.2f-%.2f" % (", ".join("%.2f %.2f" % r for r in rounds), statistics.median(r[0] for r in rounds),
                                 statistics.median(r[1] for r in rounds), min(r[0] for r in rounds),
                                 max(r[0] for r in rounds), min(r[1] for r in rounds), max(r[1] for r in rounds)))
        print("  CPU seconds, medians (what load does not stretch; Glance's own not counted): curl|tar x %.2f, "
              "curl|tee openssl-sha512|tar x %.2f, ours %.2f (the plugin process and its vhd-util runs)"
              % tuple(statistics.median(cpu[k]) for k in ("curl", "verifying", "ours")))
        print("RATIO second boot / first: %.3f (%.3fs / %.2fs; target < 0.3)"
              % (second_boot / first_boot, second_boot, first_boot))
    finally:
        clean_up(E, x, images=[image] if image else [], vdis=vdis, files=[tarball])
        if peer_dir:
            shutil.rmtree(peer_dir, ignore_errors=True)
        session.xenapi.session.logout()


if __name__ == "__main__":
    main()
