# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One live migration as Nova's libvirt driver ran it, watched from beside it.

virDomainMigrateToURI3 with Nova's flags (LIVE, PEER2PEER, PERSIST_DEST, UNDEFINE_SOURCE; NON_SHARED_INC
and the explicit list of the guest's disks for a block migration) runs in a thread; this one reads
jobStats twice a second, raises the maximum downtime in Nova's steps, and when the completion timeout
(scaled by the data to move) runs out, switches to post-copy when that was asked for, or aborts.
"""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET

try:
    import libvirt
except ImportError:
    pass        # connection.py reports the missing binding

GIB = 1024 ** 3
# jobStats keys worth returning (bytes, ms, rates); the rest is libvirt's detail
STAT_KEYS = ("time_elapsed", "data_total", "data_processed", "data_remaining", "memory_total",
             "memory_processed", "memory_remaining", "memory_dirty_rate", "memory_iteration", "disk_total",
             "disk_processed", "disk_remaining", "downtime", "setup_time", "memory_bps", "disk_bps",
             "auto_converge_throttle")
POLL = 0.5
PROGRESS_SAMPLES = 60       # at most this many samples kept in the result (evenly thinned)


def guest_disks(dom):
    """The guest's file disks (not CD-ROMs, read-only or shareable ones): dev, path, format, capacity, backing."""
    disks = []
    for disk in ET.fromstring(dom.XMLDesc(0)).findall("devices/disk"):
        source = disk.find("source")
        if disk.get("device", "disk") != "disk" or disk.get("type") != "file" or source is None or \
                disk.find("readonly") is not None or disk.find("shareable") is not None:
            continue
        path = source.get("file")
        backing = None
        store = disk.find("backingStore")
        if store is not None and store.find("source") is not None:
            backing = dict(path=store.find("source").get("file"),
                           format=(store.find("format").get("type") if store.find("format") is not None else "raw"),
                           deeper=store.find("backingStore/source") is not None)
        driver = disk.find("driver")
        disks.append(dict(dev=disk.find("target").get("dev"), path=path,
                          format=driver.get("type") if driver is not None else "raw",
                          capacity=dom.blockInfo(path)[0], backing=backing))
    return disks


def data_gib(memory_bytes, disks, block):
    """What Nova scaled its timeouts by: memory, plus the disks for a block migration, at least 2 GiB."""
    total = memory_bytes + (sum(disk["capacity"] for disk in disks) if block else 0)
    return max(total / float(GIB), 2.0)


def downtime_steps(max_downtime, steps, delay_per_gib, gib):
    """Nova's schedule: (seconds after the start, max downtime in ms), rising evenly to ``max_downtime``."""
    delay = int(delay_per_gib * gib)
    base = max_downtime / float(steps)
    offset = (max_downtime - base) / float(steps)
    return [(int(delay * i), int(base + offset * i)) for i in range(steps + 1)]


def flags(block, auto_converge, post_copy, unsafe):
    value = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER | libvirt.VIR_MIGRATE_PERSIST_DEST |
             libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)
    names = ["LIVE", "PEER2PEER", "PERSIST_DEST", "UNDEFINE_SOURCE"]
    for wanted, flag, name in ((block, "VIR_MIGRATE_NON_SHARED_INC", "NON_SHARED_INC"),
                               (auto_converge, "VIR_MIGRATE_AUTO_CONVERGE", "AUTO_CONVERGE"),
                               (post_copy, "VIR_MIGRATE_POSTCOPY", "POSTCOPY"),
                               (unsafe, "VIR_MIGRATE_UNSAFE", "UNSAFE")):
        if wanted:
            value |= getattr(libvirt, flag)
            names.append(name)
    return value, names


def pick_stats(stats):
    return dict((key, stats[key]) for key in STAT_KEYS if key in stats)


class LiveMigration:
    """migrateToURI3 in a thread, watched: run() returns the facts of the run, or raises its libvirtError."""

    def __init__(self, dom, dest_uri, flag_value, params, schedule, completion_timeout, post_copy):
        self.dom = dom
        self.dest_uri = dest_uri
        self.flags = flag_value
        self.params = params
        self.schedule = list(schedule)
        self.completion_timeout = completion_timeout
        self.post_copy = post_copy
        self.progress = []
        self.events = []        # (seconds, what): downtime raised, post-copy, abort
        self._error = None

    def _migrate(self):
        try:
            self.dom.migrateToURI3(self.dest_uri, self.params, self.flags)
        except Exception as exc:  # pylint: disable=broad-except
            self._error = exc       # raised again by run(), in the module's thread

    def run(self):
        started = time.monotonic()
        worker = threading.Thread(target=self._migrate, name="novaops-migrate", daemon=True)
        worker.start()
        outcome = None
        while worker.is_alive():
            worker.join(POLL)
            elapsed = time.monotonic() - started
            self._sample(elapsed)
            while self.schedule and elapsed >= self.schedule[0][0]:
                _at, downtime = self.schedule.pop(0)
                if self._quietly(lambda d=downtime: self.dom.migrateSetMaxDowntime(d, 0)):
                    self.events.append((round(elapsed, 1), "max downtime %d ms" % downtime))
            if outcome is None and self.completion_timeout and elapsed > self.completion_timeout:
                if self.post_copy and self._quietly(lambda: self.dom.migrateStartPostCopy(0)):
                    outcome = "post-copy"
                elif self._quietly(self.dom.abortJob):
                    outcome = "aborted"
                else:
                    outcome = "abort refused"
                self.events.append((round(elapsed, 1), "completion timeout %ss: %s" % (
                    self.completion_timeout, outcome)))
        duration = time.monotonic() - started
        if self._error is not None:
            self._error.novaops_outcome = outcome
            raise self._error
        return dict(duration=round(duration, 3), completion=outcome or "completed",
                    progress=_thin(self.progress), events=[dict(at=at, what=what) for at, what in self.events])

    def _sample(self, elapsed):
        try:
            stats = self.dom.jobStats(0)
        except libvirt.libvirtError:
            return          # the job ended between the two reads, or the domain left with it
        if stats.get("type", libvirt.VIR_DOMAIN_JOB_NONE) != libvirt.VIR_DOMAIN_JOB_NONE:
            self.progress.append(dict(pick_stats(stats), at=round(elapsed, 1)))

    @staticmethod
    def _quietly(call):
        """A control call on a job that may have ended meanwhile: True when libvirt took it."""
        try:
            call()
            return True
        except libvirt.libvirtError:
            return False


def _thin(samples):
    if len(samples) <= PROGRESS_SAMPLES:
        return samples
    step = len(samples) / float(PROGRESS_SAMPLES)
    kept = [samples[int(i * step)] for i in range(PROGRESS_SAMPLES - 1)]
    return kept + [samples[-1]]


def completed_stats(*domains):
    """The completed job's statistics (downtime, bytes), from the first domain that still has them."""
    for dom in domains:
        if dom is None:
            continue
        try:
            stats = dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
        except libvirt.libvirtError:
            continue
        if stats:
            return pick_stats(stats)
    return {}
