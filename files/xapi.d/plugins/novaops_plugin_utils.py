# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared helpers of the novaops dom0 plugins (migration, glance).

Python 3 standard library only: dom0 has nothing else.  These plugins run as root
on the host, so every path that comes from an argument goes through ``confine()``:
it must stay inside the SR or a staging root, after ``..`` and symlinks are
resolved; anything else is a plugin ``Failure`` raised before anything is touched.

Public API (stable; other plugins import it):

  Failure, fail(code, *params)               plugin failures ([code, *params] on the wire)
  json_result(obj)                           the JSON string a plugin function returns
  arg(args, name, default=None, required)    one string argument
  uuid_arg(args, name, required)             an argument that must be a UUID
  uuid_list_arg(args, name)                  a JSON list of UUIDs (or None)
  int_arg(args, name, default, minimum)      an integer argument
  bool_arg(args, name, default)              "true"/"false"
  is_uuid(text)
  confine(path, root, what)                  realpath of path, refused unless inside root
  sr_path_arg(session, args, name)           an SR directory known to this host (PBD path)
  known_sr_paths(session)                    every SR directory of this host
  STAGING_DIRNAME, staging_root(sr_path)     <sr>/.novaops-staging
  allowed_staging_roots(sr_path)             [<sr>/.novaops-staging, /images]
  staging_dir_arg(args, name, sr_path)       a staging directory confined to a staging root
  make_staging_dir(sr_path, prefix)          a fresh 0700 directory inside the SR's staging root
  staging(sr_path, prefix)                   context manager: make_staging_dir + remove, always
  remove_tree(path, sr_path)                 rmtree, refused outside the staging roots
  run(argv, ...)                             run a command from an argument list
  vhd_util(*argv)                            run vhd-util, output as text
  vhd_parent(path), vhd_set_parent(path, parent), vhd_hidden(path),
  vhd_set_hidden(path, hidden), vhd_check(path, parents), vhd_footer_uuid(path)
  vdi_file(sr_path, vdi_uuid)                <sr>/<uuid>.vhd, a regular file, confined
  link_chain(sr_path, vdi_uuids, dest_dir, seq_start)   hard-link a chain as <seq>.vhd
  sequenced_files(staging_dir)               [0.vhd .. n-1.vhd], refused on gaps or strays
  import_chain(sr_path, staging_dir, uuid_stack=None)   rename, re-link, check, move into SR
"""

import contextlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import uuid as uuidlib

try:
    from XenAPIPlugin import Failure
except ImportError:  # pragma: no cover - outside a dom0 (unit tests without the runtime)
    class Failure(Exception):
        def __init__(self, code, params):
            super().__init__(code, params)
            self.params = [code] + list(params)

        def __str__(self):
            return str(self.params)

STAGING_DIRNAME = ".novaops-staging"
NOVA_STAGING_ROOT = "/images"
SR_MOUNT_ROOT = "/var/run/sr-mount"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SEQ_RE = re.compile(r"^(0|[1-9][0-9]*)\.vhd$")
FOOTER_SIZE = 512


# ---------------------------------------------------------------- failures and results

def fail(code, *params):
    raise Failure(code, [str(p) for p in params])


def json_result(obj):
    return json.dumps(obj, sort_keys=True)


# ---------------------------------------------------------------------------- arguments

def is_uuid(text):
    return isinstance(text, str) and bool(UUID_RE.match(text))


def arg(args, name, default=None, required=False):
    value = args.get(name)
    if value is None or value == "":
        if required:
            fail("NOVAOPS_MISSING_ARGUMENT", name)
        return default
    if not isinstance(value, str) or "\x00" in value:
        fail("NOVAOPS_BAD_ARGUMENT", name, "not a plain string")
    return value


def uuid_arg(args, name, required=True):
    value = arg(args, name, required=required)
    if value is not None and not is_uuid(value):
        fail("NOVAOPS_BAD_ARGUMENT", name, "%r is not a lower-case UUID" % value)
    return value


def uuid_list_arg(args, name):
    value = arg(args, name)
    if value is None:
        return None
    try:
        items = json.loads(value)
    except ValueError:
        fail("NOVAOPS_BAD_ARGUMENT", name, "not a JSON list")
    if not isinstance(items, list) or not all(is_uuid(i) for i in items):
        fail("NOVAOPS_BAD_ARGUMENT", name, "not a JSON list of UUIDs")
    if len(set(items)) != len(items):
        fail("NOVAOPS_BAD_ARGUMENT", name, "repeated UUIDs")
    return items


def int_arg(args, name, default=None, minimum=0):
    value = arg(args, name)
    if value is None:
        if default is None:
            fail("NOVAOPS_MISSING_ARGUMENT", name)
        return default
    if not re.match(r"^[0-9]+$", value):
        fail("NOVAOPS_BAD_ARGUMENT", name, "%r is not a non-negative integer" % value)
    number = int(value)
    if number < minimum:
        fail("NOVAOPS_BAD_ARGUMENT", name, "%d is below %d" % (number, minimum))
    return number


def bool_arg(args, name, default=False):
    value = arg(args, name)
    if value is None:
        return default
    if value.lower() in ("true", "yes", "1"):
        return True
    if value.lower() in ("false", "no", "0"):
        return False
    fail("NOVAOPS_BAD_ARGUMENT", name, "%r is not true or false" % value)


# ---------------------------------------------------------------------- confinement

def _inside(real, root_real):
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def confine(path, root, what="path"):
    """The real path of ``path`` (absolute, or relative to ``root``), refused unless inside root.

    Refused: a ``..`` component (even one that would stay inside), an absolute path
    elsewhere, a symlink anywhere along the way that leads out of root, NUL or newline.
    """
    if not isinstance(path, str) or not path:
        fail("NOVAOPS_PATH_REFUSED", what, repr(path), "empty")
    if "\x00" in path or "\n" in path or "\r" in path:
        fail("NOVAOPS_PATH_REFUSED", what, repr(path), "control characters")
    if ".." in path.replace("\\", "/").split("/"):
        fail("NOVAOPS_PATH_REFUSED", what, path, "'..' is not allowed")
    root_real = os.path.realpath(root)
    candidate = path if os.path.isabs(path) else os.path.join(root_real, path)
    real = os.path.realpath(candidate)
    if not _inside(real, root_real):
        fail("NOVAOPS_PATH_REFUSED", what, path, "outside %s" % root_real)
    return real


def known_sr_paths(session):
    """Real paths of every SR directory of this host: PBD device_config path, sr-mount."""
    paths = set()
    xenapi = session.xenapi
    for pbd in xenapi.PBD.get_all_records().values():
        path = (pbd.get("device_config") or {}).get("path")
        if path and os.path.isabs(path):
            paths.add(os.path.realpath(path))
        sr = pbd.get("SR")
        if sr:
            try:
                sr_uuid = xenapi.SR.get_uuid(sr)
            except Exception:  # noqa: BLE001 - a PBD of a vanished SR
                continue
            mount = os.path.join(SR_MOUNT_ROOT, sr_uuid)
            if os.path.isdir(mount):
                paths.add(os.path.realpath(mount))
    return paths


def sr_path_arg(session, args, name="sr_path"):
    """An SR directory of this host, given as its path; anything else is refused."""
    value = arg(args, name, required=True)
    if not os.path.isabs(value) or ".." in value.split("/") or "\x00" in value or "\n" in value:
        fail("NOVAOPS_PATH_REFUSED", name, value, "not an absolute path without '..'")
    real = os.path.realpath(value)
    if real not in known_sr_paths(session) or not os.path.isdir(real):
        fail("NOVAOPS_PATH_REFUSED", name, value, "not the directory of an SR of this host")
    return real


def staging_root(sr_path):
    return os.path.join(sr_path, STAGING_DIRNAME)


def allowed_staging_roots(sr_path):
    return [staging_root(sr_path), NOVA_STAGING_ROOT]


def staging_dir_arg(args, name, sr_path):
    """A staging directory argument: inside ``<sr>/.novaops-staging`` or ``/images``, not a root itself."""
    value = arg(args, name, required=True)
    last = None
    for root in allowed_staging_roots(sr_path):
        try:
            real = confine(value, root, name) if os.path.isabs(value) else None
        except Failure as exc:
            last = exc
            continue
        if real is not None and real != os.path.realpath(root):
            return real
    if last is not None:
        raise last
    fail("NOVAOPS_PATH_REFUSED", name, value, "not an absolute path below a staging root")


def make_staging_dir(sr_path, prefix="stage-"):
    root = staging_root(sr_path)
    try:
        os.mkdir(root, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(root)
    if not stat.S_ISDIR(st.st_mode):
        fail("NOVAOPS_PATH_REFUSED", "staging root", root, "not a directory")
    return tempfile.mkdtemp(prefix=prefix, dir=root)


def remove_tree(path, sr_path=None):
    """Remove a staging directory; refused unless it is inside a staging root."""
    if not path or not os.path.lexists(path):
        return
    roots = allowed_staging_roots(sr_path) if sr_path else [NOVA_STAGING_ROOT]
    real = os.path.realpath(path)
    if not any(_inside(real, os.path.realpath(r)) and real != os.path.realpath(r) for r in roots):
        fail("NOVAOPS_PATH_REFUSED", "staging dir", path, "not inside a staging root")
    shutil.rmtree(real, ignore_errors=True)
    root = staging_root(sr_path) if sr_path else None
    if root:
        try:
            os.rmdir(root)          # only when empty: other transfers may be staging too
        except OSError:
            pass


@contextlib.contextmanager
def staging(sr_path, prefix="stage-"):
    """A fresh staging directory inside the SR, removed whatever happens."""
    path = make_staging_dir(sr_path, prefix)
    try:
        yield path
    finally:
        remove_tree(path, sr_path)


# ------------------------------------------------------------------------ commands

def run(argv, check=True, env=None, timeout=None, input_bytes=None):
    """Run a command from an argument list (never a shell); stdout as text."""
    try:
        proc = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL if input_bytes is None else None,
                              input=input_bytes, env=env, timeout=timeout, check=False)
    except OSError as exc:
        fail("NOVAOPS_COMMAND_FAILED", argv[0], "cannot run: %s" % exc)
    except subprocess.TimeoutExpired:
        fail("NOVAOPS_COMMAND_FAILED", argv[0], "timed out after %ss" % timeout)
    out = proc.stdout.decode("utf-8", "replace")
    if check and proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        fail("NOVAOPS_COMMAND_FAILED", " ".join(argv[:2]), "exit %d" % proc.returncode,
             (err or out.strip())[-2000:])
    return out


def vhd_util(*argv):
    return run(["vhd-util"] + [str(a) for a in argv])


def vhd_parent(path):
    """The parent path vhd-util reports, or None for a VHD without parent."""
    out = run(["vhd-util", "query", "-n", path, "-p"], check=False).strip()
    if not out or "has no parent" in out or "query failed" in out:
        return None
    return out.splitlines()[-1]


def vhd_set_parent(path, parent):
    vhd_util("modify", "-n", path, "-p", parent)


def vhd_hidden(path):
    out = vhd_util("query", "-n", path, "-f")
    match = re.search(r"hidden:\s*(\d+)", out)
    return bool(match and int(match.group(1)))


def vhd_set_hidden(path, hidden):
    vhd_util("set", "-n", path, "-f", "hidden", "-v", "1" if hidden else "0")


def vhd_check(path, parents=True):
    argv = ["vhd-util", "check", "-n", path]
    if parents:
        argv.append("-p")
    run(argv)


def vhd_footer_uuid(path):
    """The UUID in the VHD footer (offset 68), read with the standard library."""
    with open(path, "rb") as fh:
        fh.seek(-FOOTER_SIZE, os.SEEK_END)
        footer = fh.read(FOOTER_SIZE)
    if footer[:8] != b"conectix":
        fail("NOVAOPS_VHD_INVALID", path, "no VHD footer")
    return str(uuidlib.UUID(bytes=footer[68:84]))


# ------------------------------------------------------------------------ chains

def vdi_file(sr_path, vdi_uuid):
    if not is_uuid(vdi_uuid):
        fail("NOVAOPS_BAD_ARGUMENT", "vdi_uuid", "%r is not a UUID" % vdi_uuid)
    path = confine("%s.vhd" % vdi_uuid, sr_path, "vdi_uuid")
    try:
        st = os.lstat(os.path.join(sr_path, "%s.vhd" % vdi_uuid))
    except FileNotFoundError:
        fail("NOVAOPS_VDI_MISSING", vdi_uuid, "no %s.vhd in the SR" % vdi_uuid)
    if not stat.S_ISREG(st.st_mode):
        fail("NOVAOPS_PATH_REFUSED", "vdi_uuid", vdi_uuid, "not a regular file")
    return path


def link_chain(sr_path, vdi_uuids, dest_dir, seq_start=0):
    """Hard-link ``<sr>/<uuid>.vhd`` as ``<dest_dir>/<seq>.vhd``, seq from seq_start; returns bytes."""
    total = 0
    sources = [vdi_file(sr_path, u) for u in vdi_uuids]
    for offset, source in enumerate(sources):
        target = os.path.join(dest_dir, "%d.vhd" % (seq_start + offset))
        os.link(source, target)
        total += os.stat(target).st_size
    return total


def sequenced_files(staging_dir):
    """``[0.vhd, ..., n-1.vhd]`` of a staging dir: no gaps, no stray entries, regular files."""
    names = os.listdir(staging_dir)
    seqs = []
    for name in names:
        match = SEQ_RE.match(name)
        if not match:
            fail("NOVAOPS_STAGING_INVALID", staging_dir, "unexpected entry %r" % name)
        st = os.lstat(os.path.join(staging_dir, name))
        if not stat.S_ISREG(st.st_mode):
            fail("NOVAOPS_STAGING_INVALID", staging_dir, "%s is not a regular file" % name)
        if st.st_nlink != 1:
            fail("NOVAOPS_STAGING_INVALID", staging_dir, "%s has other hard links: importing it would "
                 "change another file" % name)
        seqs.append(int(match.group(1)))
    if not seqs:
        fail("NOVAOPS_STAGING_INVALID", staging_dir, "no VHD files")
    seqs.sort()
    if seqs != list(range(len(seqs))):
        missing = sorted(set(range(seqs[-1] + 1)) - set(seqs))
        fail("NOVAOPS_STAGING_INVALID", staging_dir, "sequence has gaps: missing %s"
             % ", ".join("%d.vhd" % m for m in missing))
    return [os.path.join(staging_dir, "%d.vhd" % s) for s in seqs]


def _set_footer_uuid(path, new_uuid):
    """Give a staged VHD its new identity: footer (and its copy at 0) UUID, checksum."""
    raw = uuidlib.UUID(new_uuid).bytes
    with open(path, "r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        offsets = [size - FOOTER_SIZE]
        fh.seek(0)
        head = fh.read(FOOTER_SIZE)
        if head[:8] == b"conectix":
            offsets.append(0)
        for off in offsets:
            fh.seek(off)
            footer = bytearray(fh.read(FOOTER_SIZE))
            if footer[:8] != b"conectix":
                fail("NOVAOPS_VHD_INVALID", path, "no VHD footer at %d" % off)
            footer[68:84] = raw
            footer[64:68] = b"\0\0\0\0"
            checksum = (~sum(footer)) & 0xFFFFFFFF
            footer[64:68] = checksum.to_bytes(4, "big")
            fh.seek(off)
            fh.write(bytes(footer))
        os.fsync(fh.fileno())


def import_chain(sr_path, staging_dir, uuid_stack=None):
    """Nova's move_vhds_into_sr: ``0..n-1.vhd`` (leaf first) become a chain in the SR.

    Fresh UUIDs (from uuid_stack, popped from the end as Nova did, or new ones), footer
    UUIDs set, parents re-linked base to leaf with ``vhd-util modify -n -p``, the leaf
    not hidden, ``vhd-util check -p`` of the chain, then the files move into the SR base
    first.  Any failure moves back what had been moved, so the SR keeps no half chain;
    the caller removes the staging dir.  Returns {root, chain (leaf first), bytes}.
    """
    files = sequenced_files(staging_dir)
    if uuid_stack is not None:
        uuid_stack = list(uuid_stack)
        if len(uuid_stack) < len(files):
            fail("NOVAOPS_BAD_ARGUMENT", "uuid_stack", "%d UUIDs for %d files" % (len(uuid_stack), len(files)))
    named = []
    for path in files:
        new_uuid = uuid_stack.pop() if uuid_stack is not None else str(uuidlib.uuid4())
        if os.path.lexists(os.path.join(sr_path, "%s.vhd" % new_uuid)):
            fail("NOVAOPS_UUID_IN_USE", new_uuid, "a VDI with that UUID is already in the SR")
        target = os.path.join(staging_dir, "%s.vhd" % new_uuid)
        os.rename(path, target)
        _set_footer_uuid(target, new_uuid)
        named.append((new_uuid, target))
    parent = None
    for _uuid, path in reversed(named):          # base first
        if parent is not None:
            vhd_set_parent(path, parent)
        parent = path
    leaf = named[0][1]
    if vhd_hidden(leaf):
        vhd_set_hidden(leaf, False)
    for _uuid, path in named[1:]:
        if not vhd_hidden(path):
            vhd_set_hidden(path, True)
    vhd_check(leaf, parents=True)
    total = sum(os.stat(p).st_size for _u, p in named)
    moved = []
    try:
        for vdi_uuid, path in reversed(named):   # base first: a leaf never lands without parents
            dest = os.path.join(sr_path, "%s.vhd" % vdi_uuid)
            if os.path.lexists(dest):
                fail("NOVAOPS_UUID_IN_USE", vdi_uuid, "a VDI with that UUID is already in the SR")
            os.rename(path, dest)
            moved.append((path, dest))
    except BaseException:
        for path, dest in reversed(moved):
            try:
                os.rename(dest, path)
            except OSError:
                pass
        raise
    return dict(root=dict(uuid=named[0][0]), chain=[u for u, _p in named], bytes=total)


__all__ = [
    "Failure", "fail", "json_result", "arg", "uuid_arg", "uuid_list_arg", "int_arg", "bool_arg",
    "is_uuid", "confine", "known_sr_paths", "sr_path_arg", "STAGING_DIRNAME", "staging_root",
    "allowed_staging_roots", "staging_dir_arg", "make_staging_dir", "staging", "remove_tree",
    "run", "vhd_util", "vhd_parent", "vhd_set_parent", "vhd_hidden", "vhd_set_hidden", "vhd_check",
    "vhd_footer_uuid", "vdi_file", "link_chain", "sequenced_files", "import_chain",
]
