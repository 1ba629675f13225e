# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared helpers of the novaops dom0 plugins (migration, glance).

Python 3 standard library only: dom0 has nothing else.  These plugins run as root on the
host, so:

- Arguments match their patterns whole (``re.fullmatch``: no trailing newline slips
  through), integers have a maximum, and a bad one is a ``NOVAOPS_BAD_ARGUMENT`` refusal.
- Files are reached through directory file descriptors, never through a path that a link
  could redirect (class ``Dir``).  The confinement roots are the SR's directory (as its PBD
  gives it: host configuration, resolved once), ``/images`` (likewise) and
  ``<sr>/.novaops-staging``; from a root down, every component is opened with
  ``O_NOFOLLOW`` relative to its parent's descriptor, ``.novaops-staging`` included - a
  symbolic link anywhere below a root is refused, never followed, never deleted through.
  Trees are removed by a descriptor walk that unlinks links instead of following them.
- A file with more than one hard link is refused where it is read: importing it would change
  a file elsewhere, uploading it would send one.
- VHD headers from outside (a Glance tarball, an rsync from another host) are parsed here with
  the standard library before any tool reads them: the base of an imported chain declares no
  parent, the other files name nothing but the parent this plugin gives them.

Public API (other plugins import it):

  Failure, fail(code, *params)               plugin failures ([code, *params] on the wire)
  json_result(obj)                           the JSON string a plugin function returns
  arg, uuid_arg, uuid_list_arg, int_arg, bool_arg, is_uuid, fullmatch   arguments
  redact_url(url)                            a URL without its user:password@
  sr_path_arg(session, args, name)           the real path of an SR directory of this host
  known_sr_paths(session)                    every SR directory of this host
  Dir, open_root(path)                       a directory reached without following links
  open_sr(session, args, name)               (real path, Dir) of the SR argument
  STAGING_DIRNAME, NOVA_STAGING_ROOT
  staging(sr, prefix)                        context manager: a fresh 0700 dir in <sr>/.novaops-staging
  open_staging_root(sr, sr_arg, value)       a staging root argument, opened; (Dir, is_sr_default)
  remove_sr_staging_root(sr)                 rmdir <sr>/.novaops-staging when empty
  run(argv, ..., cwd_dir=None)               run a command from an argument list
  check_source_vhd(sr, vdi_uuid)             <uuid>.vhd: a regular file, one link (or our staging's)
  link_chain(sr, vdi_uuids, dest, seq_start) hard-link a chain as <seq>.vhd; [(name, stat)]
  sequenced_files(stage)                     [0.vhd .. n-1.vhd], refused on gaps or strays
  read_vhd(fd, what)                         footer and header facts, checked
  import_chain(sr, stage, uuid_stack=None)   rename, re-link, check, move into SR
"""

import contextlib
import errno
import json
import os
import re
import secrets
import stat
import struct
import subprocess
import uuid as uuidlib
from urllib.parse import urlsplit, urlunsplit

# xapi's plugin runtime (on dom0; tools/xapisim/runtime in the simulator): a plugin function raising
# Failure(code, [params]) fails the call with [code, *params]
from XenAPIPlugin import Failure

STAGING_DIRNAME = ".novaops-staging"
NOVA_STAGING_ROOT = "/images"
SR_MOUNT_ROOT = "/var/run/sr-mount"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SEQ_RE = re.compile(r"(0|[1-9][0-9]{0,5})\.vhd")
# the largest integer argument a plugin takes (a XenAPI int), and how many digits are read
INT_MAX = 2 ** 31 - 1
# our own staging directories (in <sr>/.novaops-staging) that hold hard links of SR files
LINKING_PREFIXES = ("glance-up-", "xfer-")

O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | O_CLOEXEC
MAX_TREE_DEPTH = 16


# ---------------------------------------------------------------- failures and results

def fail(code, *params):
    raise Failure(code, [str(p) for p in params])


def json_result(obj):
    return json.dumps(obj, sort_keys=True)


# ---------------------------------------------------------------------------- arguments

def fullmatch(pattern, text):
    """``text`` matches ``pattern`` as a whole (``$`` would let a trailing newline through)."""
    return isinstance(text, str) and re.fullmatch(pattern, text) is not None


def is_uuid(text):
    return isinstance(text, str) and UUID_RE.fullmatch(text) is not None


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


def int_arg(args, name, default=None, minimum=0, maximum=INT_MAX):
    """A decimal integer in [minimum, maximum]; anything else (a sign, a newline, 10**30) is refused."""
    value = arg(args, name)
    if value is None:
        if default is None:
            fail("NOVAOPS_MISSING_ARGUMENT", name)
        return default
    if not fullmatch(r"[0-9]{1,19}", value):
        fail("NOVAOPS_BAD_ARGUMENT", name, "%r is not a non-negative integer of at most 19 digits" % value[:40])
    number = int(value)
    if number < minimum or number > maximum:
        fail("NOVAOPS_BAD_ARGUMENT", name, "%d is not between %d and %d" % (number, minimum, maximum))
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


def redact_url(url):
    """``url`` with any ``user:password@`` removed: what a message or a result may show."""
    text = str(url)
    try:
        parts = urlsplit(text)
        if "@" in parts.netloc:
            text = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    except ValueError:
        pass
    # what urlsplit could not take apart: drop anything between // and an @
    return re.sub(r"//[^/?#]*@", "//", text)


# ---------------------------------------------------------------------- SR directories

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


def _plain_abs_path(value):
    """An absolute path of plain components: no '..', '.', empty component, or control character."""
    return (isinstance(value, str) and value.startswith("/") and not re.search(r"[\x00-\x1f\x7f]", value)
            and not any(c in ("..", ".") for c in value.split("/")))


def sr_path_arg(session, args, name="sr_path"):
    """The real path of an SR directory of this host, given as its path; anything else is refused.

    The SR's path is the host's configuration (its PBD); it is resolved once, here.
    """
    value = arg(args, name, required=True)
    if not _plain_abs_path(value):
        fail("NOVAOPS_PATH_REFUSED", name, value, "not an absolute path without '..'")
    real = os.path.realpath(value)
    if real not in known_sr_paths(session) or not os.path.isdir(real):
        fail("NOVAOPS_PATH_REFUSED", name, value, "not the directory of an SR of this host")
    return real


# ------------------------------------------------------------- directories, by descriptor

def _refuse_link(what, path, exc):
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        fail("NOVAOPS_PATH_REFUSED", what, path, "a symbolic link or not a directory: never followed")
    raise exc


def _check_name(name):
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\x00" in name:
        fail("NOVAOPS_PATH_REFUSED", "name", repr(name), "not a single path component")
    return name


class Dir:
    """An open directory.  Every name below it is reached relative to its descriptor with
    O_NOFOLLOW, so no link - planted before or swapped in during the call - is followed."""

    def __init__(self, fd, path):
        self.fd = fd
        self.path = path       # for messages, and for the tools that take a path

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def join(self, name):
        return os.path.join(self.path, name)

    def lstat(self, name):
        return os.stat(_check_name(name), dir_fd=self.fd, follow_symlinks=False)

    def exists(self, name):
        try:
            self.lstat(name)
        except FileNotFoundError:
            return False
        return True

    def listdir(self):
        return os.listdir(self.fd)

    def subdir(self, name, create=False, mode=0o700):
        """The directory ``name`` in this one (made when ``create``); a link there is refused."""
        _check_name(name)
        if create:
            try:
                os.mkdir(name, mode, dir_fd=self.fd)
            except FileExistsError:
                pass
        try:
            fd = os.open(name, DIR_FLAGS, dir_fd=self.fd)
        except OSError as exc:
            _refuse_link("directory", self.join(name), exc)
        return Dir(fd, self.join(name))

    def open(self, name, flags, mode=0o600):
        """A descriptor of the file ``name``: O_NOFOLLOW, so a link there is refused."""
        try:
            return os.open(_check_name(name), flags | os.O_NOFOLLOW | O_CLOEXEC, mode, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                fail("NOVAOPS_PATH_REFUSED", "file", self.join(name), "a symbolic link: never followed")
            raise

    def unlink(self, name):
        os.unlink(_check_name(name), dir_fd=self.fd)

    def rmdir(self, name):
        os.rmdir(_check_name(name), dir_fd=self.fd)

    def rename_to(self, name, dest, dest_name):
        os.rename(_check_name(name), _check_name(dest_name), src_dir_fd=self.fd, dst_dir_fd=dest.fd)

    def link_to(self, name, dest, dest_name):
        os.link(_check_name(name), _check_name(dest_name), src_dir_fd=self.fd, dst_dir_fd=dest.fd,
                follow_symlinks=False)

    def remove_tree(self, name):
        """Remove ``name`` and everything below it; links are unlinked, never followed."""
        _remove_tree_at(self.fd, _check_name(name), self.join(name), 0)


def _remove_tree_at(parent_fd, name, path, depth):
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=parent_fd)
        return
    if depth >= MAX_TREE_DEPTH:
        fail("NOVAOPS_PATH_REFUSED", "staging dir", path, "nested deeper than %d levels" % MAX_TREE_DEPTH)
    try:
        fd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        _refuse_link("staging dir", path, exc)
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
            fail("NOVAOPS_PATH_REFUSED", "staging dir", path, "replaced while it was removed")
        for child in os.listdir(fd):
            _remove_tree_at(fd, child, os.path.join(path, child), depth + 1)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)


def open_root(path, what="root"):
    """A root directory given as an absolute real path, opened component by component from ``/``
    with O_NOFOLLOW: a link anywhere along it (the root itself included) is refused."""
    if not _plain_abs_path(path):
        fail("NOVAOPS_PATH_REFUSED", what, path, "not an absolute path without '..'")
    fd = os.open("/", DIR_FLAGS)
    try:
        for comp in [c for c in path.split("/") if c]:
            try:
                nfd = os.open(comp, DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                _refuse_link(what, path, exc)
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return Dir(fd, os.path.normpath(path))


def open_sr(session, args, name="sr_path"):
    """(real path, Dir) of the SR directory argument."""
    real = sr_path_arg(session, args, name)
    return real, open_root(real, name)


# ---------------------------------------------------------------------------- staging

@contextlib.contextmanager
def staging(sr, prefix="stage-"):
    """A fresh 0700 directory in ``<sr>/.novaops-staging`` (made when missing; refused when it is a
    link), removed with everything in it whatever happens, and the staging root with it when empty."""
    for _attempt in range(5):
        root = sr.subdir(STAGING_DIRNAME, create=True)
        name = prefix + secrets.token_hex(8)
        try:
            os.mkdir(name, 0o700, dir_fd=root.fd)
            break
        except FileNotFoundError:        # another transfer removed the empty root meanwhile
            root.close()
    else:
        fail("NOVAOPS_STAGING_INVALID", sr.join(STAGING_DIRNAME), "could not make a staging directory")
    try:
        work = root.subdir(name)
        try:
            yield work
        finally:
            work.close()
            root.remove_tree(name)
    finally:
        root.close()
        remove_sr_staging_root(sr)


def remove_sr_staging_root(sr):
    """rmdir ``<sr>/.novaops-staging`` when empty (other transfers may be staging there too).
    rmdir never follows a link: a link there stays where it is."""
    try:
        sr.rmdir(STAGING_DIRNAME)
    except OSError:
        pass


def open_staging_root(sr, sr_real, sr_arg, value):
    """The staging root argument ``value`` opened: ``<sr>/.novaops-staging[/sub...]`` or
    ``/images[/sub...]``.  Returns (Dir, True when it is the SR's default root).

    ``<sr>`` may be written as the SR argument was, or as its real path; ``/images`` is host
    configuration like the SR's path (resolved once); below either, nothing is followed.
    Raises FileNotFoundError when a component does not exist.
    """
    if not _plain_abs_path(value):
        fail("NOVAOPS_PATH_REFUSED", "staging_root", value, "not an absolute path without '..'")
    value = value.rstrip("/") or "/"
    candidates = [(os.path.join(p, STAGING_DIRNAME), "sr") for p in (os.path.normpath(sr_arg), sr_real)]
    candidates.append((NOVA_STAGING_ROOT, "images"))
    for prefix, kind in candidates:
        if value == prefix or value.startswith(prefix + "/"):
            rest = [c for c in value[len(prefix):].split("/") if c]
            break
    else:
        fail("NOVAOPS_PATH_REFUSED", "staging_root", value, "not inside %s or %s"
             % (os.path.join(sr_real, STAGING_DIRNAME), NOVA_STAGING_ROOT))
    if kind == "sr":
        current = sr.subdir(STAGING_DIRNAME)
    else:
        current = open_root(os.path.realpath(NOVA_STAGING_ROOT), "staging_root")
    try:
        for comp in rest:
            nxt = current.subdir(comp)
            current.close()
            current = nxt
    except BaseException:
        current.close()
        raise
    return current, (kind == "sr" and not rest)


# ------------------------------------------------------------------------ commands

def run(argv, check=True, env=None, timeout=None, input_bytes=None, cwd_dir=None):
    """Run a command from an argument list (never a shell); stdout as text.

    ``cwd_dir``: a Dir the command starts in (by its descriptor: no path to it is walked again),
    so that names relative to it reach exactly the files the plugin checked there.
    """
    extra = {}
    if cwd_dir is not None:
        fd = cwd_dir.fd
        extra = dict(pass_fds=(fd,), preexec_fn=lambda: os.fchdir(fd))
    try:
        proc = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL if input_bytes is None else None,
                              input=input_bytes, env=env, timeout=timeout, check=False, **extra)
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


# --------------------------------------------------------------------- VHD headers
# The Microsoft VHD format (big-endian): a 512-byte footer at the end (a copy at 0 for dynamic and
# differencing disks), a 1024-byte dynamic header at the footer's data offset, 8 parent locators.

FOOTER_SIZE = 512
HEADER_SIZE = 1024
VHD_FIXED, VHD_DYNAMIC, VHD_DIFF = 2, 3, 4
# the locators vhd-util writes (and rewrites on modify -p): file URL, UTF-16 relative and absolute
REWRITTEN_LOCATORS = (b"MacX", b"W2ku", b"W2ru")
MAX_LOCATOR_BYTES = 4096
# room a locator may claim (vhd-util rewrites it in place, padded to that room)
MAX_LOCATOR_SPACE = 64 * 1024
_FOOTER = struct.Struct(">8sIIQI4sI4sQQIII16sBB")
_HEADER = struct.Struct(">8sQQIIII16sII512s")
_LOCATOR = struct.Struct(">4sIIIQ")


def _checksum(raw, offset):
    return (~(sum(raw) - sum(raw[offset:offset + 4]))) & 0xFFFFFFFF


def read_vhd(fd, what):
    """Footer and header facts of the VHD open at ``fd``, their checksums and bounds checked.

    Returns dict(size, type, uuid (16 bytes), hidden, footer_copy (bool), parent_uuid,
    parent_name (raw 512 bytes), parent_timestamp, locators [(code, space, length, offset,
    data)] of the non-empty slots, empty_slots_clean (bool)).
    """
    size = os.fstat(fd).st_size
    if size < FOOTER_SIZE or size % FOOTER_SIZE:
        fail("NOVAOPS_VHD_INVALID", what, "%d bytes is not a whole number of 512-byte sectors" % size)
    raw = os.pread(fd, FOOTER_SIZE, size - FOOTER_SIZE)
    fields = _FOOTER.unpack_from(raw)
    cookie, data_offset, disk_type, checksum = fields[0], fields[3], fields[11], fields[12]
    if cookie != b"conectix" or _checksum(raw, 64) != checksum:
        fail("NOVAOPS_VHD_INVALID", what, "no valid VHD footer")
    if disk_type not in (VHD_FIXED, VHD_DYNAMIC, VHD_DIFF):
        fail("NOVAOPS_VHD_INVALID", what, "unsupported disk type %d" % disk_type)
    vhd = dict(size=size, type=disk_type, uuid=fields[13], hidden=fields[15], footer_copy=False,
               parent_uuid=bytes(16), parent_name=bytes(512), parent_timestamp=0, locators=[],
               empty_slots_clean=True)
    if disk_type == VHD_FIXED:
        return vhd
    vhd["footer_copy"] = os.pread(fd, 8, 0) == b"conectix"
    if data_offset < FOOTER_SIZE or data_offset + HEADER_SIZE > size - FOOTER_SIZE:
        fail("NOVAOPS_VHD_INVALID", what, "dynamic header offset %d outside the file" % data_offset)
    head = os.pread(fd, HEADER_SIZE, data_offset)
    hfields = _HEADER.unpack_from(head)
    if hfields[0] != b"cxsparse" or _checksum(head, 36) != hfields[6]:
        fail("NOVAOPS_VHD_INVALID", what, "no valid dynamic disk header")
    vhd.update(parent_uuid=hfields[7], parent_timestamp=hfields[8], parent_name=hfields[10])
    for i in range(8):
        code, space, length, reserved, offset = _LOCATOR.unpack_from(head, 576 + 24 * i)
        if not (code.strip(b"\0") or space or length or reserved or offset):
            continue
        room = _locator_space(space)
        if code not in REWRITTEN_LOCATORS or reserved or not length or length > MAX_LOCATOR_BYTES \
                or not length <= room <= MAX_LOCATOR_SPACE or offset < FOOTER_SIZE \
                or offset + room > size - FOOTER_SIZE:
            data = None        # a locator this plugin would not rewrite, or not a sound one
        else:
            data = os.pread(fd, length, offset)
        vhd["locators"].append((code, space, length, offset, data))
    return vhd


def _locator_space(space):
    """blktap's reading of a locator's data space: under 512 it counts sectors, else bytes."""
    if space < 512:
        return space * FOOTER_SIZE
    return space if space % FOOTER_SIZE == 0 else 0


def _platform(code):
    text = code.decode("latin-1")
    return text if text.isprintable() and text.strip() else "0x%s" % code.hex()


def _locator_names(code, data):
    """The file name a rewritten locator names, when it names one beside the child, else None."""
    try:
        if code == b"MacX":
            text = data.decode("utf-8")
            if not text.startswith("file://"):
                return None
            text = text[len("file://"):]
        else:
            text = data.decode("utf-16-le").replace("\\", "/")
    except UnicodeDecodeError:
        return None
    text = text.rstrip("\0")
    if text.startswith("./"):
        text = text[2:]
    return text if "/" not in text else None


def _parent_name(vhd):
    raw = vhd["parent_name"]
    end = len(raw)
    while end >= 2 and raw[end - 2:end] == b"\0\0":
        end -= 2
    try:
        return raw[:end].decode("utf-16-be")
    except UnicodeDecodeError:
        return None


def refuse_untrusted_links(vhds, names):
    """VHD headers from outside, leaf first: the base declares no parent (no differencing type, no
    parent UUID, name or locator); every other file is differencing and its locators are of the
    kinds vhd-util rewrites, soundly placed.  Anything else that names a file is refused."""
    base = len(vhds) - 1
    for i, (vhd, name) in enumerate(zip(vhds, names)):
        if i == base:
            if vhd["type"] == VHD_DIFF:
                fail("NOVAOPS_VHD_REFUSED", name, "the base of the chain is a differencing disk: it "
                     "declares a parent outside the image")
            if any(vhd["parent_uuid"]) or any(vhd["parent_name"]) or vhd["parent_timestamp"] or vhd["locators"]:
                fail("NOVAOPS_VHD_REFUSED", name, "the base of the chain declares a parent (UUID, name or "
                     "locator)")
            continue
        if vhd["type"] != VHD_DIFF:
            fail("NOVAOPS_VHD_REFUSED", name, "a %s disk above the base of the chain: only the base "
                 "may have no parent" % ("fixed" if vhd["type"] == VHD_FIXED else "dynamic"))
        for code, _space, _length, _offset, data in vhd["locators"]:
            if data is None:
                fail("NOVAOPS_VHD_REFUSED", name, "parent locator %s names a file this plugin would not "
                     "rewrite (or is not sound)" % _platform(code))


def verify_linked_chain(vhds, names):
    """After the re-link: every differencing file names exactly the next one of the imported
    set (UUID, name, each locator), and the base still names nothing."""
    for i, (vhd, name) in enumerate(zip(vhds, names)):
        if i == len(vhds) - 1:
            if vhd["type"] == VHD_DIFF or any(vhd["parent_uuid"]) or vhd["locators"]:
                fail("NOVAOPS_VHD_REFUSED", name, "the base of the chain gained a parent")
            continue
        parent_vhd, parent = vhds[i + 1], names[i + 1]
        if vhd["parent_uuid"] != parent_vhd["uuid"] or _parent_name(vhd) != parent:
            fail("NOVAOPS_VHD_REFUSED", name, "does not name %s as its parent after the re-link" % parent)
        if not vhd["locators"]:
            fail("NOVAOPS_VHD_REFUSED", name, "has no parent locator after the re-link")
        for code, _space, _length, _offset, data in vhd["locators"]:
            if data is None or _locator_names(code, data) != parent:
                fail("NOVAOPS_VHD_REFUSED", name, "parent locator %s does not name %s after the re-link"
                     % (_platform(code), parent))


def _set_identity(fd, vhd, new_uuid, hidden, what):
    """Give a staged VHD its new identity: footer (and its copy at 0) UUID, hidden flag, checksum."""
    offsets = [vhd["size"] - FOOTER_SIZE] + ([0] if vhd["footer_copy"] else [])
    for off in offsets:
        footer = bytearray(os.pread(fd, FOOTER_SIZE, off))
        if footer[:8] != b"conectix":
            fail("NOVAOPS_VHD_INVALID", what, "no VHD footer at %d" % off)
        footer[68:84] = uuidlib.UUID(new_uuid).bytes
        footer[85] = 1 if hidden else 0
        footer[64:68] = _checksum(footer, 64).to_bytes(4, "big")
        os.pwrite(fd, bytes(footer), off)
    os.fsync(fd)


# ------------------------------------------------------------------------ chains

def _staging_links(sr, st):
    """How many links to the inode ``st`` our own staging directories in the SR hold (a transfer
    or an upload of a chain that shares this file, running now)."""
    found = 0
    try:
        root = sr.subdir(STAGING_DIRNAME)
    except (FileNotFoundError, Failure):
        return 0
    with root:
        for entry in root.listdir():
            if not entry.startswith(LINKING_PREFIXES):
                continue
            try:
                with root.subdir(entry) as work:
                    found += _links_in(work, st)
                    if entry.startswith("xfer-") and work.exists("files"):
                        with work.subdir("files") as files:
                            found += _links_in(files, st)
            except (OSError, Failure):
                continue
    return found


def _links_in(d, st):
    count = 0
    for name in d.listdir():
        other = d.lstat(name)
        count += (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino)
    return count


def check_source_vhd(sr, vdi_uuid):
    """``<sr>/<uuid>.vhd``'s lstat: a regular file with no hard link other than our own staging's."""
    if not is_uuid(vdi_uuid):
        fail("NOVAOPS_BAD_ARGUMENT", "vdi_uuid", "%r is not a UUID" % vdi_uuid)
    name = "%s.vhd" % vdi_uuid
    try:
        st = sr.lstat(name)
    except FileNotFoundError:
        fail("NOVAOPS_VDI_MISSING", vdi_uuid, "no %s in the SR" % name)
    if not stat.S_ISREG(st.st_mode):
        fail("NOVAOPS_PATH_REFUSED", "vdi_uuid", vdi_uuid, "%s is not a regular file" % name)
    if st.st_nlink > 1 and st.st_nlink != 1 + _staging_links(sr, st):
        fail("NOVAOPS_PATH_REFUSED", "vdi_uuid", vdi_uuid, "%s has %d hard links: another name of it may "
             "be outside the SR" % (name, st.st_nlink))
    return st


def link_chain(sr, vdi_uuids, dest, seq_start=0):
    """Hard-link ``<uuid>.vhd`` of the SR as ``<seq>.vhd`` in ``dest``, seq from seq_start.

    Each source is checked first (regular file, no stray hard link); the staged name must then be
    the same inode with exactly one more link.  Returns [(staged name, its stat)].
    """
    sources = [(u, check_source_vhd(sr, u)) for u in vdi_uuids]
    staged = []
    for offset, (vdi_uuid, st) in enumerate(sources):
        name = "%d.vhd" % (seq_start + offset)
        sr.link_to("%s.vhd" % vdi_uuid, dest, name)
        got = dest.lstat(name)
        if (got.st_dev, got.st_ino) != (st.st_dev, st.st_ino) or got.st_nlink != st.st_nlink + 1:
            fail("NOVAOPS_PATH_REFUSED", "vdi_uuid", vdi_uuid, "%s.vhd changed while it was staged" % vdi_uuid)
        staged.append((name, got))
    return staged


def sequenced_files(stage):
    """``[0.vhd, ..., n-1.vhd]`` of a staging Dir: no gaps, no stray entries, regular files, one link."""
    seqs = []
    for name in stage.listdir():
        if not SEQ_RE.fullmatch(name):
            fail("NOVAOPS_STAGING_INVALID", stage.path, "unexpected entry %r" % name)
        st = stage.lstat(name)
        if not stat.S_ISREG(st.st_mode):
            fail("NOVAOPS_STAGING_INVALID", stage.path, "%s is not a regular file" % name)
        if st.st_nlink != 1:
            fail("NOVAOPS_STAGING_INVALID", stage.path, "%s has other hard links: importing it would "
                 "change another file" % name)
        seqs.append(int(name[:-4]))
    if not seqs:
        fail("NOVAOPS_STAGING_INVALID", stage.path, "no VHD files")
    seqs.sort()
    if seqs != list(range(len(seqs))):
        missing = sorted(set(range(seqs[-1] + 1)) - set(seqs))[:10]
        fail("NOVAOPS_STAGING_INVALID", stage.path, "sequence has gaps: missing %s"
             % ", ".join("%d.vhd" % m for m in missing))
    return ["%d.vhd" % s for s in seqs]


def _same_file(d, name, fd):
    st, held = d.lstat(name), os.fstat(fd)
    return (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino)


def import_chain(sr, stage, uuid_stack=None):
    """Nova's move_vhds_into_sr: ``0..n-1.vhd`` (leaf first) of the Dir ``stage`` become a chain in
    the SR Dir ``sr``.

    The headers are checked first (``refuse_untrusted_links``): the base names no parent, the
    others nothing vhd-util would not rewrite.  Fresh UUIDs (from uuid_stack, popped from the end
    as Nova did, or new ones), footer UUIDs and hidden flags set (leaf visible), parents re-linked
    base to leaf with ``vhd-util modify -p``, each re-link verified to name the imported parent
    only, ``vhd-util check -p`` of the chain (which now follows nothing else), then the files
    move into the SR base first.  Every tool runs in the staging directory on names checked
    there.  Any failure moves back what had been moved, so the SR keeps no half chain; the
    caller removes the staging dir.  Returns {root, chain (leaf first), bytes}.
    """
    files = sequenced_files(stage)
    if uuid_stack is not None:
        uuid_stack = list(uuid_stack)
        if len(uuid_stack) < len(files):
            fail("NOVAOPS_BAD_ARGUMENT", "uuid_stack", "%d UUIDs for %d files" % (len(uuid_stack), len(files)))
    fds = []
    try:
        for name in files:
            fds.append(stage.open(name, os.O_RDWR))
            st = os.fstat(fds[-1])
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                fail("NOVAOPS_STAGING_INVALID", stage.path, "%s changed while it was checked" % name)
        vhds = [read_vhd(fd, stage.join(n)) for fd, n in zip(fds, files)]
        refuse_untrusted_links(vhds, files)
        named = []
        for index, (name, fd, vhd) in enumerate(zip(files, fds, vhds)):
            new_uuid = uuid_stack.pop() if uuid_stack is not None else str(uuidlib.uuid4())
            target = "%s.vhd" % new_uuid
            if sr.exists(target) or stage.exists(target):
                fail("NOVAOPS_UUID_IN_USE", new_uuid, "a VDI with that UUID is already in the SR")
            stage.rename_to(name, stage, target)
            _set_identity(fd, vhd, new_uuid, index > 0, stage.join(target))
            named.append((new_uuid, target, fd))
        for (_u, child, _f), (_p, parent, _g) in zip(named, named[1:]):
            run(["vhd-util", "modify", "-n", child, "-p", parent], cwd_dir=stage)
        for _u, target, fd in named:
            if not _same_file(stage, target, fd):
                fail("NOVAOPS_STAGING_INVALID", stage.path, "%s was replaced during the import" % target)
        targets = [t for _u, t, _f in named]
        verify_linked_chain([read_vhd(fd, stage.join(t)) for _u, t, fd in named], targets)
        run(["vhd-util", "check", "-n", targets[0], "-p"], cwd_dir=stage)
        total = sum(os.fstat(fd).st_size for _u, _t, fd in named)
        moved = []
        try:
            for vdi_uuid, target, fd in reversed(named):   # base first: a leaf never lands without parents
                if sr.exists(target):
                    fail("NOVAOPS_UUID_IN_USE", vdi_uuid, "a VDI with that UUID is already in the SR")
                if not _same_file(stage, target, fd):
                    fail("NOVAOPS_STAGING_INVALID", stage.path, "%s was replaced during the import" % target)
                stage.rename_to(target, sr, target)
                moved.append(target)
                if not _same_file(sr, target, fd):
                    fail("NOVAOPS_STAGING_INVALID", stage.path, "%s was replaced during the import" % target)
        except BaseException:
            for target in reversed(moved):
                try:
                    sr.rename_to(target, stage, target)
                except OSError:
                    pass
            raise
    finally:
        for fd in fds:
            os.close(fd)
    return dict(root=dict(uuid=named[0][0]), chain=[u for u, _t, _f in named], bytes=total)


__all__ = [
    "Failure", "fail", "json_result", "fullmatch", "arg", "uuid_arg", "uuid_list_arg", "int_arg", "bool_arg",
    "is_uuid", "redact_url", "known_sr_paths", "sr_path_arg", "Dir", "open_root", "open_sr", "STAGING_DIRNAME",
    "NOVA_STAGING_ROOT", "staging", "open_staging_root", "remove_sr_staging_root", "run", "read_vhd",
    "refuse_untrusted_links", "verify_linked_chain", "check_source_vhd", "link_chain", "sequenced_files",
    "import_chain",
]
