# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Files under a confinement root, reached without following a symbolic link anywhere.

The modules run as root in directories that others write too: QEMU (as its own user) in the
snapshot workspaces, Nova or a second tool in the instance directories and ``_base``, anyone in
``/tmp`` where an image file may lie.  A link planted there - to ``/etc/shadow``, or dangling to
a path that does not exist yet - would make a root process read, overwrite, chmod or delete a
file outside.  So every file the modules create, open, rename or delete under a root goes
through a ``Root``:

- the root itself is reached from ``/`` one component at a time with ``O_NOFOLLOW``: a link
  anywhere in its path is refused (the message names the real path to give instead);
- everything below it is reached relative to a directory descriptor, each directory again with
  ``O_NOFOLLOW|O_DIRECTORY`` and the last component with ``O_NOFOLLOW``, so a link planted at
  any level is refused, never followed, dangling links included;
- a file is opened with ``O_NONBLOCK`` and must be a regular file (a FIFO would hang the
  read, a device is no image) with exactly one hard link (a second link may be a file from
  elsewhere on the same filesystem); files are created with ``O_EXCL``;
- rename, unlink, rmdir and rmtree act on names relative to directory descriptors, and so on
  the link itself where there is one;
- a path handed to an external tool (qemu-img, mkfs, rsync) is checked the same way just before
  (``tool_path``, or ``reserve`` for a file the tool writes: created here first, ``O_EXCL``).

``Root("/")`` does the same for an absolute path named by an option (an image file, an ssh key).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class LinkRefused(NovaopsError):
    """A path that is, or passes through, a link (or is no regular file where one is needed)."""

    def __init__(self, msg, path):
        super().__init__(msg, path=path)


def describe_kind(mode):
    """What a file is, in words."""
    for test, words in ((stat.S_ISREG, "a regular file"), (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a directory"),
                        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                        (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return words
    return "an unknown kind of file"


def _parts(rel):
    """The components of a path relative to a root; '..' and absolute paths cannot leave it."""
    if isinstance(rel, (list, tuple)):
        parts = [str(p) for p in rel]
    else:
        parts = [p for p in str(rel).split("/") if p not in ("", ".")]
    for part in parts:
        if part in ("", ".", "..") or "/" in part or "\x00" in part:
            raise NovaopsError("The path component %r would leave its directory." % part)
    return parts


class Root:
    """A directory that files are confined to; ``label`` names the option that set it."""

    def __init__(self, path, label):
        if not isinstance(path, str) or not os.path.isabs(path):
            raise NovaopsError("%s %r is not an absolute path." % (label, path))
        self.path = os.path.normpath(path)
        if self.path.startswith("//"):
            self.path = "/" + self.path.lstrip("/")
        self.label = label

    def __repr__(self):
        return "Root(%r)" % self.path

    # -- names ---------------------------------------------------------------------------------
    def path_of(self, rel=()):
        parts = _parts(rel)
        return os.path.join(self.path, *parts) if parts else self.path

    def child(self, rel, label=None):
        """A Root for a directory below this one (reached, when used, through this one's path)."""
        return Root(self.path_of(rel), label or self.label)

    def _where(self):
        return "%s %s" % (self.label, self.path) if self.path != "/" else self.label

    @staticmethod
    def _real_hint(shown, reason):
        if reason != "a symbolic link":
            return ""
        real = os.path.realpath(shown)
        return " (it points to %s; give a path without links)" % real if real != shown else ""

    # -- walking -------------------------------------------------------------------------------
    def _open_root(self, create=False, mode=0o755):
        """A descriptor of the root, walked from / without following links; None when it is missing."""
        parts = _parts(self.path)
        fd = os.open("/", _DIR_FLAGS)
        for index, part in enumerate(parts):
            fd = self._step(fd, part, parts, index, create, mode, from_root=True)
            if fd is None:
                return None
        return fd

    def _step(self, fd, part, parts, index, create, mode, from_root=False):
        """The directory ``part`` of the directory ``fd``; None when missing.  ``fd`` is closed, always."""
        try:
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    return None
                try:
                    os.mkdir(part, mode, dir_fd=fd)
                except FileExistsError:
                    pass
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            shown = parts if from_root else None
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                kind = self._kind_at(fd, part)
                raise self._refuse_at(shown, parts, index, kind) from None
            raise NovaopsError("%s: cannot open %s: %s." % (
                self._where(), self._shown(shown, parts, index), exc.strerror), path=self._shown(shown, parts, index))
        finally:
            os.close(fd)
        return nxt

    def _shown(self, from_root_parts, parts, index):
        if from_root_parts is not None:
            return "/" + "/".join(parts[:index + 1])
        return os.path.join(self.path, *parts[:index + 1])

    def _refuse_at(self, from_root_parts, parts, index, kind):
        shown = self._shown(from_root_parts, parts, index)
        if kind == "a symbolic link":
            return LinkRefused("%s: %s is a symbolic link; refusing to follow or use it%s." % (
                self._where(), shown, self._real_hint(shown, kind)), shown)
        return LinkRefused("%s: %s is %s, not a directory; refusing it." % (self._where(), shown, kind), shown)

    @staticmethod
    def _kind_at(fd, name):
        try:
            return describe_kind(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
        except OSError:
            return "not a directory"

    def _dir(self, parts, create=False, mode=0o755):
        """A descriptor of the directory root/parts (None when it or the root is missing)."""
        fd = self._open_root(create=create, mode=mode)
        if fd is None:
            if create:
                raise NovaopsError("%s does not exist." % self._where(), path=self.path)
            return None
        for index, part in enumerate(parts):
            fd = self._step(fd, part, parts, index, create, mode)
            if fd is None:
                return None
        return fd

    def _parent(self, rel, create=False, mode=0o755):
        """(descriptor of the parent directory or None, last name, all parts)."""
        parts = _parts(rel)
        if not parts:
            raise NovaopsError("%s: a file below the directory is needed, not the directory itself." % self._where())
        return self._dir(parts[:-1], create=create, mode=mode), parts[-1], parts

    # -- looking -------------------------------------------------------------------------------
    def lstat(self, rel=()):
        """The stat of the entry itself (a link is not followed), or None when it or a directory is missing."""
        parts = _parts(rel)
        if not parts:
            fd = self._open_root()
            if fd is None:
                return None
            try:
                return os.fstat(fd)
            finally:
                os.close(fd)
        fd, name, _parts_ = self._parent(parts)
        if fd is None:
            return None
        try:
            return os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        finally:
            os.close(fd)

    def exists(self, rel=()):
        return self.lstat(rel) is not None

    def isdir(self, rel=()):
        st = self.lstat(rel)
        return st is not None and stat.S_ISDIR(st.st_mode)

    def isfile(self, rel):
        """Whether rel is a plain file: regular, one link.  A link, FIFO or hard-linked file is refused."""
        st = self.lstat(rel)
        if st is None:
            return False
        self._check_plain(st, rel)
        return True

    def _check_plain(self, st, rel, what="file", hard_links_ok=False):
        shown = self.path_of(rel)
        if not stat.S_ISREG(st.st_mode):
            raise LinkRefused("%s: %s is %s, not a regular %s; refusing to use it." % (
                self._where(), shown, describe_kind(st.st_mode), what), shown)
        if st.st_nlink > 1 and not hard_links_ok:
            raise LinkRefused("%s: %s has %d hard links; a file linked from elsewhere is refused." % (
                self._where(), shown, st.st_nlink), shown)

    def listdir(self, rel=()):
        fd = self._dir(_parts(rel))
        if fd is None:
            raise NovaopsError("%s: %s does not exist." % (self._where(), self.path_of(rel)), path=self.path_of(rel))
        try:
            return sorted(os.listdir(fd))
        finally:
            os.close(fd)

    # -- files ---------------------------------------------------------------------------------
    def open(self, rel, flags=os.O_RDONLY, mode=0o600, hard_links_ok=False):
        """A descriptor of a plain file (regular, one link), opened without following a link.
        ``hard_links_ok``: a regular file with other hard links is opened too (for reading what only
        decides to keep something, never for writing)."""
        fd, name, _all = self._parent(rel)
        if fd is None:
            raise NovaopsError("%s: %s does not exist." % (self._where(), self.path_of(rel)), path=self.path_of(rel))
        try:
            try:
                # looked at first, so that a hard link or FIFO planted there is not even opened;
                # then opened without following a link, and looked at again (it may have been swapped)
                self._check_plain(os.stat(name, dir_fd=fd, follow_symlinks=False), rel, hard_links_ok=hard_links_ok)
            except FileNotFoundError:
                pass
            try:
                handle = os.open(name, flags | _NOFOLLOW, mode, dir_fd=fd)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise LinkRefused("%s: %s is a symbolic link; refusing to follow or use it%s." % (
                        self._where(), self.path_of(rel), self._real_hint(self.path_of(rel), "a symbolic link")),
                        self.path_of(rel)) from None
                if exc.errno == errno.ENOENT:
                    raise NovaopsError("%s: %s does not exist." % (self._where(), self.path_of(rel)),
                                       path=self.path_of(rel)) from None
                raise NovaopsError("%s: cannot open %s: %s." % (self._where(), self.path_of(rel), exc.strerror),
                                   path=self.path_of(rel)) from None
        finally:
            os.close(fd)
        try:
            self._check_plain(os.fstat(handle), rel, hard_links_ok=hard_links_ok)
            _blocking(handle)
        except BaseException:
            os.close(handle)
            raise
        return handle

    def read_bytes(self, rel, limit=None):
        handle = self.open(rel)
        try:
            chunks = []
            size = 0
            while limit is None or size < limit:
                chunk = os.read(handle, 1024 * 1024 if limit is None else min(1024 * 1024, limit - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            return b"".join(chunks)
        finally:
            os.close(handle)

    def read_text(self, rel):
        """The text of a plain file, or None when it does not exist (a link or FIFO is refused)."""
        if self.lstat(rel) is None:
            return None
        return self.read_bytes(rel).decode("utf-8")

    def create(self, rel, mode=0o600, replace=False, flags=os.O_WRONLY):
        """A new file (O_EXCL, no link followed); with ``replace`` a plain file there is removed first.

        Anything else there - a link of any kind, a FIFO, a hard-linked file - is refused.
        """
        fd, name, _all = self._parent(rel)
        if fd is None:
            raise NovaopsError("%s: the directory of %s does not exist." % (self._where(), self.path_of(rel)),
                               path=self.path_of(rel))
        try:
            for _attempt in range(3):
                try:
                    return os.open(name, flags | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode,
                                   dir_fd=fd)
                except FileExistsError:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    self._check_plain(st, rel)
                    if not replace:
                        raise NovaopsError("%s: %s exists already." % (self._where(), self.path_of(rel)),
                                           path=self.path_of(rel)) from None
                    try:
                        os.unlink(name, dir_fd=fd)
                    except FileNotFoundError:
                        pass
            raise NovaopsError("%s: %s keeps reappearing while it is being created." % (
                self._where(), self.path_of(rel)), path=self.path_of(rel))
        except OSError as exc:
            raise NovaopsError("%s: cannot create %s: %s." % (self._where(), self.path_of(rel), exc.strerror),
                               path=self.path_of(rel)) from None
        finally:
            os.close(fd)

    def reserve(self, rel, mode=0o644, replace=False):
        """The path of a new, empty file made here (O_EXCL, no link followed) for a tool to write into."""
        os.close(self.create(rel, mode=mode, replace=replace))
        return self.path_of(rel)

    def write_atomic(self, rel, data, mode=0o600, fsync=True):
        """rel holds data afterwards: written to a temporary name, then renamed over."""
        parts = _parts(rel)
        there = self.lstat(parts)
        if there is not None:
            self._check_plain(there, parts)      # a link there is refused, not silently replaced
        tmp = parts[:-1] + [parts[-1] + ".tmp"]
        fd = self.create(tmp, mode=mode, replace=True)
        try:
            with os.fdopen(fd, "wb") as handle:
                fd = None
                handle.write(data.encode("utf-8") if isinstance(data, str) else data)
                handle.flush()
                if fsync:
                    os.fsync(handle.fileno())
            self.rename(tmp, parts)
        finally:
            if fd is not None:
                os.close(fd)
            self.unlink(tmp)

    def _handle(self, rel):
        """A descriptor of a plain file or of a directory (the root with rel ()), never of a link's target."""
        st = self.lstat(rel)
        if st is not None and stat.S_ISDIR(st.st_mode):
            fd = self._dir(_parts(rel))
            if fd is None:
                raise NovaopsError("%s: %s vanished." % (self._where(), self.path_of(rel)))
            return fd
        return self.open(rel)

    def chmod(self, rel, mode):
        """The mode of a plain file or of a directory (never of what a link points to)."""
        fd = self._handle(rel)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)

    def chown(self, rel, uid, gid):
        """The owner of a plain file or of a directory (never of what a link points to)."""
        fd = self._handle(rel)
        try:
            os.fchown(fd, uid, gid)
        finally:
            os.close(fd)

    def tool_path(self, rel, missing_ok=False):
        """The path of a plain file (or, with missing_ok, of nothing yet) for an external tool to open.

        Every directory up to it is walked without following links; the file itself must not be
        a link of any kind (dangling included), a FIFO or a hard-linked file.
        """
        fd, name, _all = self._parent(rel)
        if fd is None:
            if missing_ok:
                return self.path_of(rel)
            raise NovaopsError("%s: the directory of %s does not exist." % (self._where(), self.path_of(rel)),
                               path=self.path_of(rel))
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            if not missing_ok:
                raise NovaopsError("%s: %s does not exist." % (self._where(), self.path_of(rel)),
                                   path=self.path_of(rel)) from None
            return self.path_of(rel)
        finally:
            os.close(fd)
        self._check_plain(st, rel)
        return self.path_of(rel)

    # -- names and directories -----------------------------------------------------------------
    def rename(self, src, dst):
        """Rename within the root; a link at either name is the link itself, never its target."""
        sfd, sname, _s = self._parent(src)
        dfd = None
        try:
            dfd, dname, _d = self._parent(dst)
            if sfd is None or dfd is None:
                raise NovaopsError("%s: cannot rename %s to %s: a directory is missing." % (
                    self._where(), self.path_of(src), self.path_of(dst)))
            os.rename(sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd)
        except OSError as exc:
            raise NovaopsError("%s: cannot rename %s to %s: %s." % (
                self._where(), self.path_of(src), self.path_of(dst), exc.strerror)) from None
        finally:
            for fd in (sfd, dfd):
                if fd is not None:
                    os.close(fd)

    def unlink(self, rel, missing_ok=True):
        """Remove a name that is not a directory (a link is removed itself).  Returns whether it was there."""
        fd, name, _all = self._parent(rel)
        if fd is None:
            return False
        try:
            os.unlink(name, dir_fd=fd)
            return True
        except FileNotFoundError:
            if not missing_ok:
                raise NovaopsError("%s: %s does not exist." % (self._where(), self.path_of(rel)))
            return False
        except OSError as exc:
            raise NovaopsError("%s: cannot remove %s: %s." % (self._where(), self.path_of(rel), exc.strerror)) from None
        finally:
            os.close(fd)

    def mkdir(self, rel=(), mode=0o755, parents=False):
        """Make the directory rel (the root too, with parents) unless it is one already; never through a link."""
        parts = _parts(rel)
        if not parts:
            fd = self._open_root(create=parents, mode=mode)
            if fd is None:
                raise NovaopsError("%s: %s does not exist." % (self._where(), self.path))
            os.close(fd)
            return
        fd = self._open_root(create=parents, mode=mode)
        if fd is None:
            raise NovaopsError("%s does not exist." % self._where(), path=self.path)
        for index, part in enumerate(parts):
            fd = self._step(fd, part, parts, index, parents or index == len(parts) - 1, mode)
            if fd is None:
                raise NovaopsError("%s: %s does not exist." % (self._where(), self.path_of(parts[:index + 1])))
        os.close(fd)

    def mkdtemp(self, prefix, mode=0o700):
        """A new directory with a random name in the root (as tempfile.mkdtemp, without links); its name."""
        fd = self._open_root()
        if fd is None:
            raise NovaopsError("%s does not exist." % self._where(), path=self.path)
        try:
            for _attempt in range(100):
                name = prefix + secrets.token_hex(4)
                try:
                    os.mkdir(name, mode, dir_fd=fd)
                    return name
                except FileExistsError:
                    continue
            raise NovaopsError("%s: no free name for a directory %s..." % (self._where(), prefix))
        finally:
            os.close(fd)

    def rmdir(self, rel):
        fd, name, _all = self._parent(rel)
        if fd is None:
            return
        try:
            os.rmdir(name, dir_fd=fd)
        finally:
            os.close(fd)

    def rmtree(self, rel, missing_ok=True):
        """Remove the directory rel and everything in it; links in it are removed, never followed.

        A link (or a file) at rel itself is refused: only a real directory is removed whole.
        """
        fd, name, _all = self._parent(rel)
        if fd is None:
            return False
        try:
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                if missing_ok:
                    return False
                raise
            if not stat.S_ISDIR(st.st_mode):
                raise LinkRefused("%s: %s is %s, not a directory; refusing to remove it." % (
                    self._where(), self.path_of(rel), describe_kind(st.st_mode)), self.path_of(rel))
            _rmtree_at(fd, name)
            return True
        except OSError as exc:
            raise NovaopsError("%s: cannot remove %s: %s." % (self._where(), self.path_of(rel), exc.strerror)) from None
        finally:
            os.close(fd)


def _rmtree_at(parent_fd, name):
    """Remove the directory ``name`` of ``parent_fd`` and its contents, by descriptors only."""
    fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    try:
        for entry in os.listdir(fd):
            st = os.stat(entry, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                _rmtree_at(fd, entry)
            else:
                os.unlink(entry, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)


def _blocking(fd):
    os.set_blocking(fd, True)


def plain_file(path, label):
    """(Root('/'), relative path) of an absolute path named by an option, for Root's methods."""
    if not isinstance(path, str) or not os.path.isabs(path):
        raise NovaopsError("%s %r is not an absolute path." % (label, path))
    root = Root("/", label)
    return root, os.path.normpath(path).lstrip("/")


def open_plain_file(path, label):
    """A descriptor of the regular, singly linked file at the absolute path, reached without links."""
    root, rel = plain_file(path, label)
    return root.open(rel)


def check_plain_file(path, label, missing_ok=False):
    """The path, when it (and each directory above it) is no link and it is a plain file (or missing)."""
    root, rel = plain_file(path, label)
    return root.tool_path(rel, missing_ok=missing_ok)
