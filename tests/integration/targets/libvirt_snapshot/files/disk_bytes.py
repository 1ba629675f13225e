# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Print the distinct byte values (hex) of each OFFSET:LENGTH range of a raw file, one range a line.

usage: disk_bytes.py FILE OFFSET:LENGTH...   (sizes take a K or M suffix)
A range filled with one value prints it alone ("cd"); a mixed one prints them all.
"""

import sys


def size(text):
    factor = {"K": 1024, "M": 1024 * 1024}.get(text[-1:].upper(), 1)
    return int(text[:-1] if factor > 1 else text) * factor


def main(path, ranges):
    with open(path, "rb") as handle:
        for spec in ranges:
            offset, length = (size(part) for part in spec.split(":"))
            handle.seek(offset)
            data = handle.read(length)
            if len(data) != length:
                print("short")
                continue
            print(",".join("%02x" % value for value in sorted(set(data))))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
