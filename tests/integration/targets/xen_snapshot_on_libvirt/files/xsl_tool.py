"""Test helper for the xen_snapshot_on_libvirt target.

  write <vdi_uuid> <seed>       known bytes into pool a's VDI (VM halted) through the simulator's VHD
                                library; prints the sha256 of the whole disk as XenAPI then holds it
  sum <disk> <fmt> <size>       the sha256 of the first <size> bytes of a disk as qemu-img reads it
  corrupt <image_id> <kind>     a copy of a Glance VHD tarball made bad (symlink: its last member a
                                symbolic link to /etc/passwd; checksum: its last VHD's footer checksum
                                flipped), uploaded as a new ovf/vhd image; prints its id
  delete <image_id>...          the Glance images removed
"""

import hashlib
import http.client
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from urllib.parse import urlsplit

E = os.environ
sys.path.insert(0, os.path.join(os.path.dirname(E["NOVAOPS_BEDS_DIR"]), "tools"))
from xapisim.vhd import VHD  # noqa: E402

MiB = 1 << 20
HEADERS = {"X-Roles": "admin", "X-Tenant-Id": "novaops-tests"}
# (offset, length) of each seed's writes; seed 2 overwrites part of seed 1's second range
RANGES = {"1": [(0, MiB), (3 * MiB + 17, 70000), (20 * MiB, 2 * MiB)],
          "2": [(3 * MiB + 4096, 512), (40 * MiB - 512, 4096), (63 * MiB, MiB)]}


def pattern(seed, n):
    block = bytes((int(seed) * 31 + i * 7) % 251 for i in range(4096))
    return (block * (n // 4096 + 1))[:n]


def cmd_write(vdi_uuid, seed):
    path = os.path.join(E["XENAPI_POOL_A_SR_DIR"], vdi_uuid + ".vhd")
    with VHD.open(path, writable=True) as v:
        for i, (off, n) in enumerate(RANGES[seed]):
            v.write(off, pattern(int(seed) * 10 + i, n))
    with VHD.open(path) as v:
        size = v.virtual_size
        h = hashlib.sha256()
        for off in range(0, size, 4 * MiB):
            h.update(v.read(off, min(4 * MiB, size - off)))
    return {"sha256": h.hexdigest(), "virtual_size": size}


def cmd_sum(disk, fmt, size):
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "disk.raw")
        subprocess.run(["qemu-img", "convert", "-U", "-f", fmt, "-O", "raw", disk, raw], check=True)
        h = hashlib.sha256()
        with open(raw, "rb") as f:
            left = int(size)
            while left:
                chunk = f.read(min(4 * MiB, left))
                assert chunk, "the disk is shorter than %s" % size
                h.update(chunk)
                left -= len(chunk)
        return {"sha256": h.hexdigest(), "size": os.path.getsize(raw)}


def glance(method, path, body=None, headers=None):
    url = urlsplit(E["NOVAOPS_GLANCE_URL"])
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.request(method, url.path.rstrip("/") + path, body=body, headers=dict(HEADERS, **(headers or {})))
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    assert resp.status < 300 or (method == "DELETE" and resp.status == 404), (method, path, resp.status, data)
    return data


def cmd_corrupt(image_id, kind):
    src = tarfile.open(fileobj=io.BytesIO(glance("GET", "/v2/images/%s/file" % image_id)), mode="r:*")
    members = [(m, src.extractfile(m).read()) for m in src.getmembers()]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as out:
        for index, (member, data) in enumerate(members):
            last = index == len(members) - 1
            if last and kind == "symlink":
                link = tarfile.TarInfo(member.name)
                link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
                out.addfile(link)
                continue
            if last and kind == "checksum":
                data = bytearray(data)
                data[-512 + 64] ^= 0xFF
                data = bytes(data)
            out.addfile(member, io.BytesIO(data))
    body = json.dumps({"name": "nt-xsl-bad-" + kind, "disk_format": "vhd", "container_format": "ovf"})
    new = json.loads(glance("POST", "/v2/images", body, {"Content-Type": "application/json"}))["id"]
    glance("PUT", "/v2/images/%s/file" % new, buf.getvalue(), {"Content-Type": "application/octet-stream"})
    return {"id": new, "members": len(members)}


def cmd_delete(*image_ids):
    for image_id in image_ids:
        glance("DELETE", "/v2/images/%s" % image_id)
    return {"deleted": list(image_ids)}


if __name__ == "__main__":
    print(json.dumps(globals()["cmd_" + sys.argv[1]](*sys.argv[2:])))
