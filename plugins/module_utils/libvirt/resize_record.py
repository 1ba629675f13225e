# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The record of a resize in progress, kept beside the disks it is about.

``resize.json`` (where it goes, the prior power state, which files are copied, the phase)
and ``resize.xml`` (the domain's definition before the resize, for revert) are written
into the instance directory before anything moves, travel with it into ``<uuid>_resize``,
and come back with it on revert.  Where the record lies and its phase say how far a
resize got, so that every step can be resumed after a failure:

- ``<uuid>/resize.json``, phase ``migrating``: started; the directory has not moved yet.
- ``<uuid>_resize/resize.json``, ``migrating``: moved; copying to the destination.
- ``<uuid>_resize/resize.json``, ``migrated``: copied; awaiting confirm or revert.
- ``<uuid>/resize.json``, ``reverting``: moved back; the old definition and power state
  are being restored.

No record: no resize in progress (never started, confirmed, or reverted).
Both files are written whole (a temporary file renamed over) and readable by root only.
A record's directory is named by the InstanceDir it belongs to and its name there (``<uuid>`` or
``<uuid>_resize``): everything is reached through the instances path's confined Root, so a link
planted at either directory or file is refused, never followed.
"""

from __future__ import annotations

import json

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

RECORD = "resize.json"
OLD_XML = "resize.xml"
MIGRATING = "migrating"
MIGRATED = "migrated"
REVERTING = "reverting"
PHASES = (MIGRATING, MIGRATED, REVERTING)
FORMAT = 1


def locate(idir):
    """``(directory name, record)`` of the resize in progress of an InstanceDir, or ``(None, None)``.

    The ``_resize`` directory wins: while it exists, it holds the original.
    """
    for directory in (idir.resize_name, idir.uuid):
        if idir.root.isdir(directory):
            record = read(idir, directory)
            if record is not None:
                return directory, record
            if directory == idir.resize_name:
                raise NovaopsError("%s exists but holds no %s: it was not made by this module (a resize by Nova "
                                   "itself?). Finish or undo that resize first." % (idir.resize_path, RECORD))
        elif idir.root.exists(directory):
            raise NovaopsError("%s is not a directory (a link?); refusing to use it." % idir.root.path_of(directory))
    return None, None


def refuse_during(idir, instance, operation):
    """Refuse ``operation`` on an instance whose resize is not over, as Nova's check_instance_state allowed
    only confirm and revert in vm_state RESIZED: run at the source, it would rebuild or start the original
    beside (or instead of) the copy at the destination.  Nothing is changed before this."""
    where, rec = locate(idir)
    if rec is None:
        return
    where = idir.root.path_of(where)
    if rec["phase"] == MIGRATED:
        state, way = "resized and waits for confirm or revert (Nova's RESIZED)", "confirm or revert the resize first"
    elif rec["phase"] == REVERTING:
        state, way = "half way through a revert (recorded in %s)" % where, "finish the revert (revert again) first"
    else:
        state, way = "half way through a resize (recorded in %s)" % where, \
            "finish the resize (run it again) or revert it first"
    raise NovaopsError("%s is %s; %s is refused until then: %s. Nothing was changed." % (instance, state, operation, way),
                       resize_status=rec["phase"])


def read(idir, directory):
    path = idir.root.path_of((directory, RECORD))
    try:
        text = idir.root.read_text((directory, RECORD))
        if text is None:
            return None
        record = json.loads(text)
    except ValueError as exc:
        raise NovaopsError("The resize record %s cannot be read: %s" % (path, exc))
    if not isinstance(record, dict) or record.get("phase") not in PHASES:
        raise NovaopsError("The resize record %s is not one this module wrote." % path)
    return record


def write(idir, directory, record):
    record = dict(record, format=FORMAT)
    idir.root.write_atomic((directory, RECORD), json.dumps(record, indent=1, sort_keys=True) + "\n", mode=0o600)


def set_phase(idir, directory, phase, **changes):
    record = read(idir, directory)
    if record is None:
        raise NovaopsError("The resize record in %s vanished." % idir.root.path_of(directory))
    record.update(changes, phase=phase)
    write(idir, directory, record)
    return record


def mark_copied(idir, directory, name, nbytes):
    record = read(idir, directory)
    copied = dict(record.get("copied") or {})
    copied[name] = nbytes
    record["copied"] = copied
    write(idir, directory, record)


def write_old_xml(idir, directory, xml):
    idir.root.write_atomic((directory, OLD_XML), xml, mode=0o600)


def read_old_xml(idir, directory):
    text = idir.root.read_text((directory, OLD_XML))
    if text is None:
        raise NovaopsError("The domain definition kept for revert, %s, is missing." % idir.root.path_of(
            (directory, OLD_XML)))
    return text


def remove(idir, directory):
    """Drop the record and the kept definition: the resize is over."""
    for name in (RECORD, OLD_XML):
        idir.root.unlink((directory, name))


def discard(idir, directory):
    """Remove a directory holding a record, the record last: an interrupted removal is found again."""
    root = idir.root
    for name in root.listdir(directory):
        if name in (RECORD, OLD_XML):
            continue
        if root.isdir((directory, name)):
            root.rmtree((directory, name))
        else:
            root.unlink((directory, name))
    remove(idir, directory)
    root.rmdir(directory)
