# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Disk operations on the hypervisor: ``qemu-img`` wrappers that speak JSON, the sparse copy,
and the ext partition resize of Nova's resize down (msdos and GPT tables).

Every command goes through one ``run_command(argv) -> (rc, stdout, stderr)`` callable
(``AnsibleModule.run_command`` in modules, a subprocess wrapper in tests), with argument
lists, never a shell string.  A failed command becomes a NovaopsError carrying
``command``, ``rc`` and ``stderr``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import time

from ansible_collections.novaops.compute.plugins.module_utils.disks import gpt
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

# Limits for qemu-img reading an image we did not write (as Nova's QEMU_IMG_LIMITS):
# a crafted image must not make the prober eat the host's memory or CPU ...
UNTRUSTED_LIMITS = ("--as=%d" % (1024 * 1024 * 1024), "--cpu=30")
# ... nor hang it (a read that blocks uses no CPU): qemu-img info of such an image ends within
# this many seconds of wall-clock time, or is killed (coreutils' timeout, KILL 5 s after TERM).
UNTRUSTED_INFO_SECONDS = 60
TIMED_OUT = (124, 137)          # timeout's status when it stopped the command (TERM, KILL)


class DiskOpError(NovaopsError):
    """A failed disk command; ``disk_error`` carries command, rc and stderr."""

    def __init__(self, msg, command=None, rc=None, stderr=None):
        super().__init__(msg, disk_error=dict(command=command, rc=rc, stderr=stderr))


class QemuImg:
    """qemu-img through a run_command callable.

    Every call names the image's format (``-f``): qemu-img is never left to guess one, which
    would let the bytes of a raw disk (a guest writes them) or of an image from outside decide
    what qemu-img opens.  ``untrusted`` runs (an image from outside) get resource limits and a
    wall-clock limit.
    """

    def __init__(self, run_command, qemu_img="qemu-img", prlimit=None, wall_clock="timeout"):
        self._run_command = run_command
        self.qemu_img = qemu_img
        self.prlimit = prlimit
        self.wall_clock = wall_clock
        self.calls = []

    @classmethod
    def from_module(cls, module):
        path = module.get_bin_path("qemu-img")
        if path is None:
            raise NovaopsError("qemu-img was not found on this host; install qemu-utils.")
        return cls(module.run_command, qemu_img=path, prlimit=module.get_bin_path("prlimit"),
                   wall_clock=module.get_bin_path("timeout"))

    def run(self, args, untrusted=False, what=None, seconds=None, limits=True):
        """qemu-img with args; ``untrusted``: under prlimit (with ``limits``) and at most ``seconds``
        (UNTRUSTED_INFO_SECONDS) of wall-clock time."""
        argv = [self.qemu_img] + [str(a) for a in args]
        seconds = seconds or UNTRUSTED_INFO_SECONDS
        if untrusted:
            if limits and self.prlimit:
                argv = [self.prlimit] + list(UNTRUSTED_LIMITS) + ["--"] + argv
            if not self.wall_clock:
                raise NovaopsError("timeout (coreutils) was not found on this host; it limits how long qemu-img may "
                                   "read an image from outside.")
            argv = [self.wall_clock, "--kill-after=5", str(int(seconds))] + argv
        self.calls.append(argv)
        rc, out, err = self._run_command(argv)
        if untrusted and rc in TIMED_OUT:
            raise DiskOpError("%s did not finish within %d seconds; refusing the image (a crafted image can make "
                              "qemu-img wait for ever)." % (what or "qemu-img %s" % args[0], int(seconds)),
                              command=argv, rc=rc, stderr=err)
        if rc != 0:
            detail = (err or out or "").strip()
            raise DiskOpError("%s failed (rc=%s): %s" % (what or "qemu-img %s" % args[0], rc, detail),
                              command=argv, rc=rc, stderr=err)
        return out

    def info(self, path, fmt, backing_chain=False, untrusted=False, force_share=True):
        """``qemu-img info -f fmt --output=json``: a dict, or a list of dicts with ``backing_chain``.

        ``force_share`` (-U) lets it read an image a running QEMU holds locked.  For an
        image from outside, pass ``untrusted=True`` (resource and wall-clock limits), the
        format image_format.detect_format read, and never ``backing_chain`` (that would open
        whatever file the image names).
        """
        if not fmt:
            raise NovaopsError("qemu-img info of %s needs the image's format; it is never guessed." % path)
        if not os.path.exists(path):
            raise NovaopsError("The disk image %s does not exist." % path)
        args = ["info", "--output=json", "-f", fmt]
        if force_share:
            args.append("-U")
        if backing_chain:
            args.append("--backing-chain")
        args.append(path)
        out = self.run(args, untrusted=untrusted, what="qemu-img info %s" % path)
        try:
            return json.loads(out)
        except ValueError as exc:
            raise DiskOpError("qemu-img info %s printed no JSON: %s" % (path, exc), command=args)

    def create(self, path, fmt, size=None, backing=None, backing_fmt=None, cluster_size=None):
        """A new image; with ``backing`` an overlay (``size`` None = the backing's size)."""
        options = []
        if backing:
            options.append("backing_file=%s" % _escape_option(backing))
            if backing_fmt:
                options.append("backing_fmt=%s" % backing_fmt)
        if cluster_size and fmt == "qcow2":
            options.append("cluster_size=%d" % int(cluster_size))
        args = ["create", "-q", "-f", fmt]
        if options:
            args += ["-o", ",".join(options)]
        args.append(path)
        if size is not None:
            args.append(str(int(size)))
        self.run(args, what="qemu-img create %s" % path)

    def convert(self, src, dst, out_fmt, src_fmt, sparse=True, compress=False, out_of_order=False, untrusted=False,
                seconds=None):
        """Flatten ``src`` (with its backing chain) into ``dst``; ``compress`` (-c) for qcow2.

        ``src_fmt`` is required: the format is never guessed.  ``out_of_order`` (-W) lets the
        writes land as the reads complete: several times faster from a fragmented source (a
        block copy's target); for a new file that is read whole afterwards (an upload), the
        order of its clusters does not matter.  ``untrusted`` (an image from outside): at most
        ``seconds`` of wall-clock time.
        """
        if not src_fmt:
            raise NovaopsError("qemu-img convert of %s needs the image's format; it is never guessed." % src)
        args = ["convert", "-q", "-f", src_fmt, "-O", out_fmt]
        if compress:
            args.append("-c")
        elif out_of_order:
            args.append("-W")
        if not sparse:
            args += ["-S", "0"]
        args += [src, dst]
        self.run(args, untrusted=untrusted, what="qemu-img convert %s" % src, seconds=seconds, limits=False)

    def resize(self, path, size, fmt):
        """Grow an image of format ``fmt`` to ``size`` bytes (qemu-img refuses to shrink without --shrink)."""
        if not fmt:
            raise NovaopsError("qemu-img resize of %s needs the image's format; it is never guessed." % path)
        args = ["resize", "-q", "-f", fmt, path, str(int(size))]
        self.run(args, what="qemu-img resize %s" % path)


def _escape_option(value):
    """qemu's -o syntax: a comma in a value is written twice."""
    return str(value).replace(",", ",,")


def backing_file_of(info):
    """The backing file named by a ``qemu-img info`` dict, or None."""
    return info.get("full-backing-filename") or info.get("backing-filename")


def external_data_file_of(info):
    """A qcow2 external data file (another way to make qemu read a host file), or None."""
    data = (info.get("format-specific") or {}).get("data") or {}
    return data.get("data-file")


# ---- sparse copy and the ext partition resize (XenAPI resize down, after Nova) -----------

SECTOR = 512
# 256 KiB per read (as cp's buffer): large enough that Python's per-call cost is small, small
# enough that the buffer stays in the CPU cache between the read and the write; 1 MiB reads
# measured up to 4 times the kernel time in some copies of a 1 GiB file (bench/diskops_sparse_copy).
COPY_CHUNK = 256 * 1024
# Zero blocks are found at the granularity of a filesystem block, as cp --sparse=always
# does, so a hole in the source stays a hole in a file destination.
ZERO_BLOCK = 4096


def _data_extents(fd, start, end):
    """Yield (offset, length) of the ranges of [start, end) that may hold data.

    SEEK_DATA/SEEK_HOLE skip the holes of a sparse source; where the file system (or a
    block device) does not support them, the whole range is one extent and zero
    detection does the skipping.
    """
    seek_data = getattr(os, "SEEK_DATA", None)
    seek_hole = getattr(os, "SEEK_HOLE", None)
    if seek_data is None or seek_hole is None:
        yield start, end - start
        return
    pos = start
    while pos < end:
        try:
            data = os.lseek(fd, pos, seek_data)
        except OSError as exc:
            if exc.errno == errno.ENXIO:     # no data after pos: the rest is a hole
                return
            if pos == start:                 # not supported here (EINVAL): no hole knowledge
                yield start, end - start
                return
            raise
        if data >= end:
            return
        try:
            hole = os.lseek(fd, data, seek_hole)
        except OSError:
            hole = end
        hole = min(hole, end)
        if hole <= data:                     # a device answering nonsense: copy the rest
            yield data, end - data
            return
        yield data, hole - data
        pos = hole


def data_runs(buf, length, zeros, block=ZERO_BLOCK):
    """Yield (start, end) of the parts of buf[:length] to write: all but its whole zero blocks.

    Blocks are aligned to the start of buf.  ``zeros`` is a memoryview of at least
    ``length`` zero bytes.  A zero block starts with a zero byte, so the candidates are
    found in the first bytes of the blocks (one strided slice, a C loop); in data, about
    one block in 256 is a candidate, and ``startswith`` (a memcmp, no copy) checks it.
    Searching the data for a zero block instead cost 40 us per 256 KiB, as much as
    reading it.  A partial block at the end counts as zero when it is zero and follows a
    zero block (or is all there is).
    """
    zero_block = zeros[:block]
    whole = length // block * block
    heads = buf[0:whole:block]    # the first byte of each whole block
    run_start = 0                 # where the data run not yet yielded starts
    index = heads.find(0)
    while index >= 0:
        aligned = index * block
        if buf.startswith(zero_block, aligned):
            zero_end = _zero_run_end(buf, aligned + block, whole, zeros, block)
            if aligned > run_start:
                yield run_start, aligned
            run_start = zero_end
            index = heads.find(0, zero_end // block)
        else:
            index = heads.find(0, index + 1)
    if run_start < length:
        tail_only = run_start >= whole
        if not (tail_only and buf.startswith(zeros[:length - run_start], run_start)):
            yield run_start, length


def _zero_run_end(buf, pos, length, zeros, block):
    """The end of the run of whole zero blocks from pos: galloping steps, a memcmp each."""
    step = block
    limit = len(zeros)
    while step >= block:
        if pos + step <= length and buf.startswith(zeros[:step], pos):
            pos += step
            if step * 2 <= limit:
                step *= 2
        else:
            step //= 2
    return pos


def sparse_copy(src, dst, length=None, src_offset=0, dst_offset=0, dst_zeroed=True, chunk_size=COPY_CHUNK,
                fsync=True, names=None):
    """Copy ``length`` bytes of src (from src_offset) to dst (at dst_offset), skipping zeros.

    Holes of the source are found with SEEK_DATA/SEEK_HOLE and never read; data is read
    into one reused buffer and its zero blocks are not written.  With ``dst_zeroed`` (a
    fresh VDI, a new file) skipped ranges are left alone, otherwise they are written as
    zeros.  A regular destination file ends exactly at dst_offset + length (holes
    included).  ``length`` None: to the end of src.  ``fsync`` (default) flushes dst
    before returning, as a disk about to be unplugged needs.  src and dst may be open
    descriptors (ints: used, not closed) instead of paths, e.g. files reached without
    following links (confined.Root), then ``names`` (src, dst) name them in messages.  Returns
    bytes_copied, bytes_skipped, duration.
    """
    started = time.monotonic()
    src_name, dst_name = names or (src, dst)
    with _opened(src, os.O_RDONLY, "reading", src_name) as sfd:
        size = _fd_size(sfd)
        if length is None:
            length = size - src_offset
        if length < 0 or src_offset + length > size:
            raise DiskOpError("Cannot copy %d bytes from offset %d of %s: it has only %d bytes."
                              % (length, src_offset, src_name, size))
        with _opened(dst, os.O_WRONLY | os.O_CREAT, "writing", dst_name) as dfd:
            try:
                copier = _ZeroSkippingCopy(sfd, dfd, dst_offset - src_offset, chunk_size, dst_zeroed)
                copier.copy(src_offset, src_offset + length, src_name)
                if _is_regular(dfd) and _fd_size(dfd) < dst_offset + length:
                    os.ftruncate(dfd, dst_offset + length)
                if fsync:
                    os.fsync(dfd)
            except OSError as exc:
                raise DiskOpError("Copying %s to %s failed: %s" % (src_name, dst_name, exc.strerror or exc))
    copied = copier.copied if dst_zeroed else length
    return dict(bytes_copied=copied, bytes_skipped=length - copied,
                duration=round(time.monotonic() - started, 3))


@contextlib.contextmanager
def _opened(path_or_fd, flags, purpose, name):
    """A descriptor of path (opened, closed at the end), or the descriptor given (left open)."""
    if isinstance(path_or_fd, int):
        yield path_or_fd
        return
    try:
        fd = os.open(path_or_fd, flags, 0o600)
    except OSError as exc:
        raise DiskOpError("Cannot open %s for %s: %s" % (name, purpose, exc.strerror))
    try:
        yield fd
    finally:
        os.close(fd)


class _ZeroSkippingCopy:
    """sparse_copy's loop: the data extents of src read a chunk at a time into one buffer, written
    to dst at ``delta`` bytes further, less their zero blocks (or all of it when dst is not zeroed)."""

    def __init__(self, sfd, dfd, delta, chunk_size, dst_zeroed):
        chunk_size = max(ZERO_BLOCK, int(chunk_size) // ZERO_BLOCK * ZERO_BLOCK)
        self.sfd, self.dfd, self.delta, self.dst_zeroed = sfd, dfd, delta, dst_zeroed
        self.buf = bytearray(chunk_size)
        self.view = memoryview(self.buf)
        self.zeros = memoryview(bytes(chunk_size))
        self.copied = 0

    def copy(self, start, end, src_name):
        _advise_sequential(self.sfd, start, end - start)
        filled = start                # dst not zeroed: the gaps between extents are written as zeros
        for ext_start, ext_len in _data_extents(self.sfd, start, end):
            self._fill(filled, ext_start)
            pos, filled = ext_start, ext_start + ext_len
            while pos < filled:
                got = os.preadv(self.sfd, [self.view[:min(len(self.buf), filled - pos)]], pos)
                if got <= 0:
                    raise DiskOpError("%s ended at byte %d, before the %d bytes to copy." % (src_name, pos, end - start))
                self._write(pos, got)
                pos += got
        self._fill(filled, end)

    def _write(self, pos, got):
        if not self.dst_zeroed:
            _pwrite_all(self.dfd, self.view[:got], pos + self.delta)
        elif not self.buf.startswith(self.zeros[:got]):
            for run_start, run_end in data_runs(self.buf, got, self.zeros):
                _pwrite_all(self.dfd, self.view[run_start:run_end], pos + run_start + self.delta)
                self.copied += run_end - run_start

    def _fill(self, start, end):
        if not self.dst_zeroed:
            _write_zeros(self.dfd, start + self.delta, end - start, self.zeros)


def _advise_sequential(fd, offset, length):
    """Ask for a larger read-ahead on the source; a hint, so any failure is ignored."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        try:
            advise(fd, offset, length, os.POSIX_FADV_SEQUENTIAL)
        except OSError:
            pass


def _fd_size(fd):
    if _is_regular(fd):
        return os.fstat(fd).st_size
    end = os.lseek(fd, 0, os.SEEK_END)      # block devices report st_size 0
    os.lseek(fd, 0, os.SEEK_SET)
    return end


def _is_regular(fd):
    return stat.S_ISREG(os.fstat(fd).st_mode)


def _pwrite_all(fd, data, offset):
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


def _write_zeros(fd, offset, length, zeros):
    while length > 0:
        n = min(length, len(zeros))
        _pwrite_all(fd, zeros[:n], offset)
        offset += n
        length -= n


class DiskCommands:
    """e2fsprogs, parted and (for GPT) sgdisk through a run_command callable, argument lists only."""

    REQUIRED = ("parted", "e2fsck", "tune2fs", "resize2fs", "dumpe2fs")

    def __init__(self, run_command, find_tool=None):
        self._run_command = run_command
        self._find_tool = find_tool
        self.calls = []

    @classmethod
    def from_module(cls, module):
        missing = [tool for tool in cls.REQUIRED if module.get_bin_path(tool) is None]
        if missing:
            raise NovaopsError("%s not found on this host; install parted and e2fsprogs." % ", ".join(missing))
        return cls(module.run_command, find_tool=module.get_bin_path)

    def require(self, tool, package, why):
        """Refuse, saying what to install, when an optional tool is missing."""
        if self._find_tool is not None and self._find_tool(tool) is None:
            raise NovaopsError("%s needs %s, which is not on this host; install the %s package." % (why, tool, package))

    def run(self, argv, ok=(0,), what=None):
        argv = [str(a) for a in argv]
        self.calls.append(argv)
        rc, out, err = self._run_command(argv)
        if rc not in ok:
            raise DiskOpError("%s failed (rc=%s): %s" % (what or " ".join(argv), rc, (err or out or "").strip()),
                              command=argv, rc=rc, stderr=err)
        return out


def parse_parted_machine(out):
    """``parted --machine ... unit s print`` -> disk (sectors, sector_size, label) and partitions."""
    lines = [line.strip().rstrip(";") for line in out.splitlines() if line.strip()]
    if not lines or lines[0] != "BYT":
        raise DiskOpError("parted printed no machine-readable table: %r" % out[:200])
    head = lines[1].split(":")
    disk = dict(path=head[0], sectors=int(head[1].rstrip("s")), sector_size=int(head[3]), label=head[5],
                partitions=[])
    for line in lines[2:]:
        fields = line.split(":")
        if len(fields) < 7 or not fields[0].isdigit():
            continue
        disk["partitions"].append(dict(
            number=int(fields[0]), start=int(fields[1].rstrip("s")), end=int(fields[2].rstrip("s")),
            sectors=int(fields[3].rstrip("s")), fs=fields[4], name=":".join(fields[5:-1]),   # a GPT name may hold ':'
            flags=[flag.strip() for flag in fields[-1].split(",") if flag.strip()]))
    return disk


def read_disk_layout(commands, device):
    """The partition table of device (parted); for a GPT also its reserved tail and partition identities.

    ``reserved_tail``: sectors at the end of the disk no partition may use (the backup GPT).
    Each GPT partition gets ``gpt``: type and unique GUID, name, attributes.
    """
    layout = parse_parted_machine(commands.run(["parted", "--script", "--machine", device, "unit", "s", "print"],
                                               what="reading the partition table of %s" % device))
    layout["reserved_tail"] = 0
    if layout["label"] == "gpt":
        table = gpt.read_gpt(device, layout["sector_size"])
        layout["reserved_tail"] = gpt.backup_sectors(table["header"], layout["sector_size"])
        for part in layout["partitions"]:
            part["gpt"] = table["partitions"].get(part["number"])
    return layout


RESIZABLE_LABELS = ("msdos", "gpt")


def single_ext_partition(layout):
    """The one ext2/3/4 partition numbered 1 of an msdos or GPT disk, or a NovaopsError saying why not."""
    parts = layout["partitions"]
    if layout["label"] == "loop":
        raise NovaopsError("The disk has no partition table (a filesystem on the whole disk); only a disk with an "
                           "msdos (MBR) or GPT table holding one ext2/3/4 partition numbered 1 can be resized.",
                           partitions=parts)
    if layout["label"] not in RESIZABLE_LABELS:
        raise NovaopsError("The disk has a %r partition table; only an msdos (MBR) or GPT table with one ext2/3/4 "
                           "partition numbered 1 can be resized." % layout["label"], partitions=parts)
    if len(parts) != 1 or parts[0]["number"] != 1:
        raise NovaopsError("The disk has %d partition%s (numbered %s); resizing needs exactly one, numbered 1."
                           % (len(parts), "" if len(parts) == 1 else "s",
                              ", ".join(str(p["number"]) for p in parts) or "none"), partitions=parts)
    if parts[0]["fs"] not in ("ext2", "ext3", "ext4"):
        raise NovaopsError("Partition 1 holds %s, not an ext2/3/4 filesystem; only ext filesystems can be resized."
                           % (parts[0]["fs"] or "no recognised filesystem"), partitions=parts)
    if layout["label"] == "gpt" and not parts[0].get("gpt"):
        raise NovaopsError("parted shows partition 1 but the GPT has no entry 1; the partition table is damaged.",
                           partitions=parts)
    return parts[0]


def last_partition_sector(layout, disk_bytes):
    """The last sector partition 1 may use on a disk of disk_bytes with this layout's label."""
    return disk_bytes // layout["sector_size"] - 1 - layout["reserved_tail"]


def _mib(n):
    return "%.1f MiB" % (n / 1048576.0)


def shrink_geometry(layout, partition, requested_bytes, disk_bytes, fs_min_bytes, granule=SECTOR):
    """Where partition 1 ends on the smaller disk, and how much room its filesystem gets.

    ``requested_bytes`` is the size asked for, ``disk_bytes`` the size the disk will
    really have (rounded up to the SR's allocation unit, ``granule``).  Refuses - a
    NovaopsError saying by how much - when the partition's start (with a GPT's backup
    table) leaves no room, or when the filesystem's minimum size does not fit.
    """
    sector = layout["sector_size"]
    start_bytes = partition["start"] * sector
    tail_bytes = layout["reserved_tail"] * sector
    if requested_bytes <= start_bytes + tail_bytes:
        raise NovaopsError("A size of %d bytes is not larger than the start of partition 1 at %d bytes%s; it would "
                           "leave no room for the filesystem."
                           % (requested_bytes, start_bytes,
                              " plus the backup GPT's %d bytes" % tail_bytes if tail_bytes else ""),
                           partition_start=start_bytes)
    new_end = last_partition_sector(layout, disk_bytes)
    room = (new_end - partition["start"] + 1) * sector
    if fs_min_bytes > room:
        smallest = -(-(start_bytes + fs_min_bytes + tail_bytes) // granule) * granule
        raise NovaopsError("The filesystem does not fit: it needs at least %d bytes (%s), the partition would have "
                           "%d bytes (%s), %d bytes (%s) short. Choose a size of at least %d bytes (%s)."
                           % (fs_min_bytes, _mib(fs_min_bytes), room, _mib(room), fs_min_bytes - room,
                              _mib(fs_min_bytes - room), smallest, _mib(smallest)),
                           needed=fs_min_bytes, available=room, short_by=fs_min_bytes - room, smallest_size=smallest)
    return dict(new_end=new_end, room=room)


def partition_path(device, partition, sector_size=SECTOR, exists=os.path.exists):
    """The partition's device (``/dev/xvdb1``) or, without one, e2fsprogs' ``device?offset=N``."""
    for candidate in ("%s%d" % (device, partition["number"]), "%sp%d" % (device, partition["number"])):
        if exists(candidate):
            return candidate
    return offset_path(device, partition, sector_size)


def offset_path(device, partition, sector_size=SECTOR):
    """e2fsprogs' ``device?offset=N``: the filesystem read where the table says it starts."""
    return "%s?offset=%d" % (device, partition["start"] * sector_size)


class partition_device:
    """Context manager: a block device for partition 1 while its filesystem is changed.

    On a real helper VM that is ``/dev/xvdb1``.  Where the disk has no partition nodes (a
    disk image in a file), a loop device over the partition's bytes stands in:
    resize2fs truncates a regular file to the new filesystem size, which with an
    ``?offset=`` path would cut the end off the partition.  The loop device is always
    detached on the way out.
    """

    def __init__(self, commands, device, partition, length, sector_size=SECTOR, exists=os.path.exists):
        self.commands = commands
        self.device = device
        self.partition = partition
        self.length = length
        self.sector_size = sector_size
        self.exists = exists
        self.loop = None

    def __enter__(self):
        path = partition_path(self.device, self.partition, self.sector_size, exists=self.exists)
        if "?offset=" not in path:
            return path
        out = self.commands.run(["losetup", "--find", "--show", "--offset",
                                 str(self.partition["start"] * self.sector_size),
                                 "--sizelimit", str(int(self.length)), self.device],
                                what="mapping partition 1 of %s to a loop device" % self.device)
        self.loop = out.strip()
        if not self.loop.startswith("/dev/"):
            raise DiskOpError("losetup printed no loop device for %s: %r" % (self.device, out))
        return self.loop

    def __exit__(self, exc_type, exc, tb):
        if self.loop:
            loop, self.loop = self.loop, None
            try:
                self.commands.run(["losetup", "--detach", loop])
            except DiskOpError:
                if exc is None:
                    raise
        return False


def ext_facts(commands, part_path):
    """Block size, block count, free blocks, journal, and resize2fs' estimated minimum (bytes)."""
    out = commands.run(["dumpe2fs", "-h", part_path], what="reading the ext superblock of %s" % part_path)
    fields = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    try:
        block_size = int(fields["Block size"])
        block_count = int(fields["Block count"])
        free_blocks = int(fields["Free blocks"])
    except (KeyError, ValueError):
        raise DiskOpError("dumpe2fs -h %s printed no block counts." % part_path)
    facts = dict(block_size=block_size, size=block_count * block_size,
                 used=(block_count - free_blocks) * block_size,
                 has_journal="has_journal" in fields.get("Filesystem features", "").split(),
                 state=fields.get("Filesystem state", ""))
    rc, out, _err = commands._run_command(["resize2fs", "-P", part_path])
    match = re.search(r"minimum size of the filesystem:\s*(\d+)", out or "")
    facts["min_size"] = int(match.group(1)) * block_size if rc == 0 and match else facts["used"]
    return facts


def resize_partition_and_fs(commands, device, partition, new_end, has_journal=True, sector_size=SECTOR,
                            part_path=None, label="msdos"):
    """Nova's _resize_part_and_fs: partition 1 of device ends at sector new_end afterwards.

    e2fsck -f -y; tune2fs -O ^has_journal; shrinking: resize2fs <sectors>s before the
    partition changes; partition 1 re-created from its start to new_end, the same
    partition otherwise (recreate_partition); growing: resize2fs <sectors>s after;
    tune2fs -j when there was a journal.
    """
    if part_path is None:
        with partition_device(commands, device, partition,
                              max(partition["end"], new_end) * sector_size - partition["start"] * sector_size
                              + sector_size, sector_size) as path:
            return resize_partition_and_fs(commands, device, partition, new_end, has_journal, sector_size, path,
                                           label)
    start = partition["start"]
    old_end = partition["end"]
    new_sectors = new_end - start + 1
    size_arg = "%ds" % (new_sectors * sector_size // SECTOR)
    # 0: clean, 1: errors fixed, 2: fixed, reboot wanted (a mounted root; not ours)
    commands.run(["e2fsck", "-f", "-y", part_path], ok=(0, 1, 2), what="e2fsck -f -y %s" % part_path)
    if has_journal:
        commands.run(["tune2fs", "-O", "^has_journal", part_path])
    if new_end < old_end:
        try:
            commands.run(["resize2fs", part_path, size_arg])
        except DiskOpError as exc:
            raise DiskOpError("Shrinking the filesystem with resize2fs failed; it may not fit in %d bytes: %s"
                              % (new_sectors * sector_size, exc.msg), **exc.facts["disk_error"]) from exc
    recreate_partition(commands, device, partition, new_end, label)
    if new_end > old_end:
        commands.run(["resize2fs", part_path, size_arg])
    if has_journal:
        commands.run(["tune2fs", "-j", part_path])
    return new_sectors * sector_size


def recreate_partition(commands, device, partition, new_end, label="msdos"):
    """Partition 1 from its start to new_end, and otherwise the same partition.

    msdos, as Nova did: parted rm, mkpart primary, and its flags (the boot flag) set
    again.  GPT: one sgdisk call that deletes and re-creates it with the same type GUID,
    unique GUID (PARTUUID), name and attribute bits, at exactly the old start
    (alignment 1: sgdisk would otherwise round a start up).
    """
    number = str(partition["number"])
    if label == "gpt":
        entry = partition["gpt"]
        commands.run(["sgdisk", "--set-alignment=1", "--delete=%s" % number,
                      "--new=%s:%d:%d" % (number, partition["start"], new_end),
                      "--typecode=%s:%s" % (number, entry["type_guid"]),
                      "--partition-guid=%s:%s" % (number, entry["unique_guid"]),
                      "--change-name=%s:%s" % (number, entry["name"]),
                      "--attributes=%s:=:%016x" % (number, entry["attributes"]), device],
                     what="re-creating partition 1 of %s with sgdisk" % device)
        return
    commands.run(["parted", "--script", device, "rm", number])
    commands.run(["parted", "--script", device, "mkpart", "primary", "%ds" % partition["start"], "%ds" % new_end])
    for flag in partition.get("flags", []):
        commands.run(["parted", "--script", device, "set", number, flag, "on"])


def move_gpt_backup(commands, device):
    """The backup GPT moved to the last sectors of a disk whose size changed (and the protective MBR fitted)."""
    commands.run(["sgdisk", "--move-second-header", device],
                 what="moving the backup GPT of %s to the end of the disk" % device)


def expect_partition(commands, device, partition, new_end, label):
    """Read the table back: one partition 1, same start, ending at new_end, same flags and GPT identity."""
    layout = read_disk_layout(commands, device)
    parts = layout["partitions"]
    found = parts[0] if len(parts) == 1 else None
    wrong = []
    if layout["label"] != label:
        wrong.append("a %r table instead of %r" % (layout["label"], label))
    if found is None or found["number"] != partition["number"]:
        wrong.append("partitions %s instead of one numbered %d"
                     % (", ".join(str(p["number"]) for p in parts) or "none", partition["number"]))
    else:
        if (found["start"], found["end"]) != (partition["start"], new_end):
            wrong.append("partition 1 at sectors %d-%d instead of %d-%d"
                         % (found["start"], found["end"], partition["start"], new_end))
        if sorted(found["flags"]) != sorted(partition.get("flags", [])):
            wrong.append("flags %s instead of %s" % (found["flags"], partition.get("flags", [])))
        if label == "gpt":
            before, after = partition.get("gpt") or {}, found.get("gpt") or {}
            for key in ("type_guid", "unique_guid", "name", "attributes"):
                if before.get(key) != after.get(key):
                    wrong.append("GPT %s %r instead of %r" % (key, after.get(key), before.get(key)))
    if wrong:
        raise DiskOpError("The partition table of %s is not what was written: %s." % (device, "; ".join(wrong)))
    return layout


def check_copied_disk(commands, device, partition, new_end, label, sector_size=SECTOR):
    """The new, smaller disk after the copy: the GPT's backup put at its end, table and filesystem checked.

    Nothing is handed to the VM unless ``e2fsck -f -n`` (read only) finds the filesystem clean.
    """
    if label == "gpt":
        move_gpt_backup(commands, device)
    layout = expect_partition(commands, device, partition, new_end, label)
    path = offset_path(device, partition, sector_size)
    commands.run(["e2fsck", "-f", "-n", path], what="checking the copied filesystem (e2fsck -f -n %s)" % path)
    return layout


def grow_to_disk_end(commands, device, has_journal):
    """Partition 1 and its ext filesystem grown to the end of a disk that has grown (Nova's auto_disk_config).

    A GPT's backup is first moved to the new end.  Returns the partition's last sector.
    """
    layout = read_disk_layout(commands, device)
    if layout["label"] == "gpt":
        move_gpt_backup(commands, device)
        layout = read_disk_layout(commands, device)
    partition = single_ext_partition(layout)
    new_end = last_partition_sector(layout, layout["sectors"] * layout["sector_size"])
    if new_end > partition["end"]:
        resize_partition_and_fs(commands, device, partition, new_end, has_journal, layout["sector_size"],
                                label=layout["label"])
        expect_partition(commands, device, partition, new_end, layout["label"])
    return new_end
