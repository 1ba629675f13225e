"""A disk image with known files on one ext4 partition from sector 2048, made without mounting.

mke2fs -d fills the file system; parted (msdos, boot flag set) or sgdisk (gpt) writes the table.
Shared by the targets that check an instance's bytes survive an operation: instance_disk.py
beside it, and xen_vdi_resize's files/bed.py (which puts this directory on its path).
"""

import os
import subprocess
import tempfile

FILES = ["/etc/hostname", "/data/random.bin", "/data/deep/text.txt"]
GPT_TYPE = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"       # Linux filesystem data
GPT_PARTUUID = "5E1F0C0A-7E57-4A11-9D15-C0FFEE000001"
GPT_NAME = "cloudimg-rootfs"


def _run(*argv):
    subprocess.run(argv, check=True, capture_output=True)


def make_image(path, size_mib, files_mib, hostname, label="msdos", boot_code=b""):
    """A raw image of size_mib at path holding FILES (files_mib of random data among them).

    msdos: the boot flag set.  gpt: a name, a fixed PARTUUID and the legacy BIOS bootable
    attribute (bit 2), to be kept by a resize; the partition ends before the backup GPT.
    boot_code, if any, is written at the start of the MBR.
    """
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "root")
        os.makedirs(os.path.join(root, "etc"))
        os.makedirs(os.path.join(root, "data", "deep"))
        with open(os.path.join(root, "etc", "hostname"), "w") as f:
            f.write(hostname + "\n")
        with open(os.path.join(root, "data", "random.bin"), "wb") as f:
            f.write(os.urandom(files_mib * 1024 * 1024))
        with open(os.path.join(root, "data", "deep", "text.txt"), "w") as f:
            f.write("".join("line %d\n" % i for i in range(20000)))
        part = os.path.join(tmp, "part.img")
        sectors = size_mib * 2048
        end = sectors - 1 if label == "msdos" else sectors - 34
        with open(part, "wb") as f:
            f.truncate((end - 2048 + 1) * 512)
        _run("mke2fs", "-q", "-F", "-t", "ext4", "-d", root, part)
        with open(path, "wb") as f:
            f.truncate(sectors * 512)
        if label == "msdos":
            _run("parted", "--script", path, "mklabel", "msdos", "mkpart", "primary", "2048s", "%ds" % end,
                 "set", "1", "boot", "on")
        else:
            _run("sgdisk", "--clear", "--new=1:2048:%d" % end, "--typecode=1:" + GPT_TYPE,
                 "--partition-guid=1:" + GPT_PARTUUID, "--change-name=1:" + GPT_NAME, "--attributes=1:set:2", path)
        _run("dd", "if=" + part, "of=" + path, "bs=1M", "seek=1", "conv=notrunc,sparse", "status=none")
    if boot_code:
        with open(path, "r+b") as f:
            f.write(boot_code)
