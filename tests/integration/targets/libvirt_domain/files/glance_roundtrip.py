# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils/glance/client.py against the real Glance bed: create, chunked upload, find, download, delete.

argv: glance URL, scratch dir.  Prints one JSON line with what it saw; exits non-zero on any mismatch.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

from ansible_collections.novaops.compute.plugins.module_utils.glance.client import GlanceClient


def main(url, tmp):
    src = os.path.join(tmp, "upload.bin")
    with open(src, "wb") as handle:
        for i in range(5):
            handle.write(bytes([i]) * (1024 * 1024) + b"x" * 7)
    glance = GlanceClient(url, project_id="nt-lv", roles=["admin"], chunk_size=256 * 1024)
    name = "nt-lv-upload-%s" % os.path.basename(tmp)
    image = glance.create_image(name, disk_format="raw", instance_uuid="nt-lv-roundtrip")
    try:
        up = glance.upload(image["id"], src)
        found = glance.find_image(name, dict(instance_uuid="nt-lv-roundtrip"))
        dest = os.path.join(tmp, "download.bin")
        down = glance.download(image["id"], dest)
        with open(src, "rb") as a, open(dest, "rb") as b:
            same = hashlib.sha256(a.read()).hexdigest() == hashlib.sha256(b.read()).hexdigest()
        ok = same and found and found["id"] == image["id"] and up["bytes"] == down["bytes"] == os.path.getsize(src)
        print(json.dumps(dict(ok=bool(ok), upload=dict((k, up[k]) for k in ("bytes", "verified_by", "duration")),
                              download=dict((k, down[k]) for k in ("bytes", "verified_by", "duration")),
                              status=up["image"]["status"], os_hash_algo=up["image"].get("os_hash_algo"))))
        return 0 if ok else 1
    finally:
        glance.delete_image(image["id"])
        assert glance.get_image(image["id"], required=False) is None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
