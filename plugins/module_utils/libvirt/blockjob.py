# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""libvirt block jobs: a block copy started, waited for until it is ready, and aborted.

The wait is event-driven where it can be: libvirt's default event loop runs in a daemon
thread and ``VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2`` wakes the waiter the moment the job is
ready, failed or cancelled.  ``blockJobInfo`` stays the judge (``cur == end``, as Nova
polled it); the events only end the sleeping early, and without them (the loop could not
be registered, e.g. a connection was opened first) the wait polls with a back-off.
The event loop and the registration are libvirt.py's (``enable_events()``, which
LibvirtConnection runs before it opens; BlockJobEvents is a LifecycleEvents for another
event id).
"""

from __future__ import annotations

import time

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError, WaitTimeout
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import (
    LifecycleEvents, connection_lost, is_libvirt_error, reconnect_domain)

# virConnectDomainEventBlockJobStatus, by number so the table exists without the binding.
JOB_COMPLETED = 0
JOB_FAILED = 1
JOB_CANCELED = 2
JOB_READY = 3
STATUS_NAMES = {JOB_COMPLETED: "completed", JOB_FAILED: "failed", JOB_CANCELED: "cancelled", JOB_READY: "ready"}
ENDED_PHRASES = {JOB_COMPLETED: "completed", JOB_FAILED: "failed", JOB_CANCELED: "was cancelled (by someone else)"}

# virDomainBlockRebaseFlags: copy into an existing file (our overlay), the top layer only.
REBASE_SHALLOW = 1
REBASE_REUSE_EXT = 2
REBASE_COPY = 8
SHALLOW_COPY_INTO_OVERLAY = REBASE_COPY | REBASE_REUSE_EXT | REBASE_SHALLOW

EVENT_ID_BLOCK_JOB_2 = 16


class BlockJobFailed(NovaopsError):
    """The block job ended without becoming ready (failed, cancelled by someone, vanished)."""


class BlockJobEvents(LifecycleEvents):
    """The block job events (BLOCK_JOB_2) of one disk of one domain, kept until close()."""

    EVENT_ID = EVENT_ID_BLOCK_JOB_2

    def __init__(self, dom, disk):
        self.disk = disk            # set before registering: an event may arrive at once
        self.statuses = []
        super().__init__(dom)

    def _on_event(self, _conn, _dom, disk, _job_type, status, _opaque):  # pylint: disable=arguments-differ
        # BLOCK_JOB_2 names the disk by its target (vda), the original event by its path
        if disk == self.disk:
            self.statuses.append(status)
            self._wake.set()

    def wait(self, seconds):
        """Sleep until the next event of the disk, at most ``seconds``."""
        super().wait(seconds)
        self.clear()

    def ended(self):
        """The status that ended the job (failed, cancelled, completed), or None."""
        for status in self.statuses:
            if status in (JOB_FAILED, JOB_CANCELED, JOB_COMPLETED):
                return status
        return None


def start_shallow_copy(dom, disk, dest, bandwidth_mib=0):
    """blockRebase(COPY|REUSE_EXT|SHALLOW): mirror the disk's top layer into the existing ``dest``."""
    dom.blockRebase(disk, dest, int(bandwidth_mib or 0), SHALLOW_COPY_INTO_OVERLAY)


def wait_until_ready(dom, disk, timeout, events=None, guard=1.0, clock=time.monotonic, sleep=time.sleep):
    """Wait until the block job of ``disk`` has mirrored everything (``cur == end``).

    Returns ``{"waited", "bytes", "woken_by_events"}``.  With ``events`` (BlockJobEvents)
    the wait sleeps until an event arrives, re-reading blockJobInfo at least every
    ``guard`` seconds; without, it polls from 50 ms backing off to 0.5 s.  A job that
    failed, was cancelled or vanished raises BlockJobFailed; the timeout WaitTimeout.
    A connection lost meanwhile (libvirtd restarted; QEMU and its job run on) is opened
    again, as wait_for_state does, and the wait goes on polling: the events were the old
    connection's.
    """
    started = clock()
    deadline = started + timeout
    pause = 0.05
    wakes = 0
    while True:
        try:
            info = dom.blockJobInfo(disk, 0)
        except Exception as exc:  # pylint: disable=broad-except
            if not (is_libvirt_error(exc) and connection_lost(dom)):
                raise
            reconnect_domain(dom, max(deadline - clock(), 0))
            events = None
            continue
        ended = events.ended() if events is not None else None
        if ended is not None and ended != JOB_COMPLETED:
            raise BlockJobFailed("The block copy of disk %s %s before it was ready%s." % (
                disk, ENDED_PHRASES[ended], _progress(info)), block_job_status=STATUS_NAMES[ended])
        if not info:
            raise BlockJobFailed("The block copy of disk %s ended before it was ready (it failed, or something "
                                 "else aborted it)." % disk, block_job_status="vanished")
        if info.get("end", 0) > 0 and info.get("cur") == info.get("end"):
            return dict(waited=round(clock() - started, 3), bytes=info["end"], woken_by_events=wakes)
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeout("the block copy of disk %s to be ready (%s of %s bytes mirrored)" % (
                disk, info.get("cur"), info.get("end")), timeout)
        if events is not None and events.active:
            before = len(events.statuses)
            events.wait(min(guard, remaining))
            if len(events.statuses) > before:
                wakes += 1
        else:
            sleep(min(pause, remaining))
            pause = min(pause * 2, 0.5)


def abort_job(dom, disk):
    """blockJobAbort without pivot (the domain keeps its own disk); True if there was a job.

    Synchronous: libvirt returns once the job is gone, so the copy is complete and closed.
    """
    if not dom.blockJobInfo(disk, 0):
        return False
    dom.blockJobAbort(disk, 0)
    return True


def _progress(info):
    if not info:
        return ""
    return " (%s of %s bytes mirrored)" % (info.get("cur"), info.get("end"))
