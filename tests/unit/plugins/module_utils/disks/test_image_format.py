# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""image_format: the format of an image from outside, read from its bytes before qemu-img sees it (#18).

Images made by the real qemu-img where it can make them (qemu-utils), hand-made bytes for what it
cannot (qcow version 1, a differencing VHD, a vmdk header that defers to its descriptor).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.disks.image_format import (
    UnsafeImage, check_info, detect_format)

needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img (qemu-utils) is not installed")


def detect(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        return detect_format(fd, "the image")
    finally:
        os.close(fd)


def write(path, data):
    with open(path, "wb") as handle:
        handle.write(data)
    return str(path)


@needs_qemu_img
@pytest.mark.parametrize("fmt, options, expected", [
    ("raw", [], "raw"), ("qcow2", [], "qcow2"), ("qcow2", ["-o", "compat=0.10"], "qcow2"),
    ("vpc", [], "vpc"), ("vpc", ["-o", "subformat=fixed"], "vpc"),
    ("vmdk", [], "vmdk"), ("vmdk", ["-o", "subformat=streamOptimized"], "vmdk"),
])
def test_allowed_formats_as_qemu_img_makes_them(tmp_path, fmt, options, expected):
    path = str(tmp_path / "image")
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt] + options + [path, "4M"], check=True)
    assert detect(path) == expected


@needs_qemu_img
@pytest.mark.parametrize("fmt, options, says", [
    ("qcow2", ["-b", "/etc/hostname", "-F", "raw"], "backing file (/etc/hostname)"),
    ("qcow2", ["-o", "data_file={data}"], "external data file"),
    ("vmdk", ["-o", "subformat=twoGbMaxExtentSparse"], "vmdk descriptor"),
    ("vmdk", ["-o", "subformat=monolithicFlat"], "vmdk descriptor"),
    ("vhdx", [], "VHDX"), ("qed", [], "QED"), ("vdi", [], "VDI"), ("parallels", [], "parallels"),
])
def test_refused_as_qemu_img_makes_them(tmp_path, fmt, options, says):
    path = str(tmp_path / "image")
    options = [o.replace("{data}", str(tmp_path / "data")) for o in options]
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt] + options + [path, "4M"], check=True)
    with pytest.raises(UnsafeImage) as refused:
        detect(path)
    assert says in refused.value.msg


def test_hand_made_refusals(tmp_path):
    qcow1 = b"QFI\xfb" + struct.pack(">I", 1) + b"\0" * 100
    assert "version 1" in pytest.raises(UnsafeImage, detect, write(tmp_path / "q1", qcow1)).value.msg
    footer = bytearray(512)
    footer[:8] = b"conectix"
    footer[60:64] = struct.pack(">I", 4)
    assert "differencing VHD" in pytest.raises(UnsafeImage, detect, write(tmp_path / "d", bytes(footer))).value.msg
    kdmv = b"KDMV" + struct.pack("<II", 1, 3) + struct.pack("<QQQQ", 0, 128, 1, 20) + b"\0" * 4000
    assert "defers to its descriptor" in pytest.raises(UnsafeImage, detect, write(tmp_path / "k", kdmv)).value.msg
    text = b'# Disk DescriptorFile\nversion=1\ncreateType="monolithicFlat"\nRW 2048 FLAT "/etc/shadow" 0\n'
    assert "vmdk descriptor" in pytest.raises(UnsafeImage, detect, write(tmp_path / "t", text)).value.msg


def test_a_qcow2_data_file_extension_without_its_feature_bit_is_refused(tmp_path):
    header = bytearray(104 + 8 + 16 + 8)
    header[:4] = b"QFI\xfb"
    header[4:8] = struct.pack(">I", 3)
    header[20:24] = struct.pack(">I", 16)          # 64 KiB clusters
    header[100:104] = struct.pack(">I", 104)       # header length
    header[104:112] = struct.pack(">II", 0x44415441, 10)
    header[112:122] = b"/etc/hosts"
    with pytest.raises(UnsafeImage, match="external data file"):
        detect(write(tmp_path / "q", bytes(header)))


def test_anything_else_is_raw(tmp_path):
    assert detect(write(tmp_path / "zeros", b"\0" * 65536)) == "raw"
    assert detect(write(tmp_path / "mbr", b"\xeb\x63\x90" + b"\0" * 507 + b"\x55\xaa")) == "raw"
    assert detect(write(tmp_path / "empty", b"")) == "raw"


def test_check_info_compares_what_qemu_img_saw():
    check_info({"format": "qcow2"}, "qcow2", "/b/x")
    for info, says in (({"format": "raw"}, "reads it as raw"),
                       ({"format": "qcow2", "backing-filename": "/etc/shadow"}, "backing file"),
                       ({"format": "qcow2", "format-specific": {"data": {"data-file": "/d"}}}, "data file"),
                       ({"format": "vmdk", "format-specific": {"data": {"extents": [{"filename": "/etc/shadow"}]}}},
                        "extents are other files")):
        with pytest.raises(UnsafeImage, match=says):
            check_info(info, info["format"] if says != "reads it as raw" else "qcow2", "/b/x")
    check_info({"format": "vmdk", "format-specific": {"data": {"extents": [{"filename": "/b/x"}]}}}, "vmdk", "/b/x")
