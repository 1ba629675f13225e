# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a guest would see on an instance's disk files, read with qemu-img, blkid and file.

argv: scratch dir, disk paths.  Prints one JSON object keyed by the file's name: format,
virtual_size, backing (full path), sum (sha256 of the first 64 MiB the guest sees through
the overlay chain, less on a smaller disk), head (sha256 of the first 4 MiB), blkid (TYPE, LABEL, UUID of what is on it) and file (file(1)'s word).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

WINDOW_MIB = 64


def run(argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def facts(tmp, path):
    info = json.loads(run(["qemu-img", "info", "-U", "--output=json", path]))
    mib = min(WINDOW_MIB, info["virtual-size"] // (1024 * 1024))
    raw = os.path.join(tmp, "guest-view.raw")
    run(["qemu-img", "dd", "-U", "-f", info["format"], "-O", "raw", "bs=1M", "count=%d" % mib, "if=%s" % path,
         "of=%s" % raw])
    try:
        with open(raw, "rb") as handle:
            data = handle.read()
        digest = hashlib.sha256(data).hexdigest()
        head = hashlib.sha256(data[:4 * 1024 * 1024]).hexdigest()
        probe = subprocess.run(["blkid", "-p", "-o", "export", raw], capture_output=True, text=True, check=False)
        blkid = dict(line.split("=", 1) for line in probe.stdout.splitlines() if "=" in line)
        blkid.pop("DEVNAME", None)
        kind = run(["file", "-b", raw]).strip()
    finally:
        os.unlink(raw)
    return dict(format=info["format"], virtual_size=info["virtual-size"],
                backing=info.get("full-backing-filename"), sum=digest, head=head, blkid=blkid, file=kind)


def main(tmp, paths):
    print(json.dumps(dict((os.path.basename(p), facts(tmp, p)) for p in paths)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
