# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Another hypervisor reached over ssh: remote commands and ``rsync --sparse`` to it.

Host keys are always checked (``StrictHostKeyChecking=yes``, against the given known_hosts
lines or file, else the user's own) unless the caller explicitly opts out.  A private key
or known_hosts lines given as contents are written to a 0700 directory of their own that
lives only as long as the ``with`` block.  Remote commands are argument lists, each
argument quoted for the remote shell; host and user names are checked so that neither can
become an ssh option or a command.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
import time

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.file_rule import PLAIN_FILE
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules

HOST_RE = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?|\[?[0-9A-Fa-f:.]+\]?)$")
USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def ssh_argument_spec():
    """The options naming the other host, as vhd_migrate names them (ssh_host omitted: this host)."""
    return ArgumentSpec(dict(
        ssh_host=dict(type="str"),
        ssh_port=dict(type="int", default=22),
        ssh_user=dict(type="str", default="root"),
        ssh_private_key=dict(type="str", no_log=True),
        ssh_private_key_file=dict(type="path"),
        ssh_known_hosts=dict(type="str"),
        ssh_known_hosts_file=dict(type="path"),
        insecure_ignore_host_key=dict(type="bool", default=False),
        ssh_connect_timeout=dict(type="int", default=30),
    ), mutually_exclusive=[["ssh_private_key", "ssh_private_key_file"],
                           ["ssh_known_hosts", "ssh_known_hosts_file"],
                           ["insecure_ignore_host_key", "ssh_known_hosts"],
                           ["insecure_ignore_host_key", "ssh_known_hosts_file"]],
        input_rules={"ssh_private_key_file": PLAIN_FILE, "ssh_known_hosts_file": PLAIN_FILE,
                     "ssh_connect_timeout": rules.SECONDS})


class SshHost:
    """A host as ssh reaches it; use as a context manager around the commands."""

    def __init__(self, run_command, host, port=22, user="root", private_key=None, private_key_file=None,
                 known_hosts=None, known_hosts_file=None, insecure_ignore_host_key=False, connect_timeout=30,
                 ssh="ssh", rsync="rsync"):
        if not host or not HOST_RE.match(host):
            raise NovaopsError("ssh_host %r is not a host name or an IP address." % (host,))
        if not USER_RE.match(user or ""):
            raise NovaopsError("ssh_user %r is not a user name." % (user,))
        if not 0 < int(port) < 65536:
            raise NovaopsError("ssh_port %s is not a TCP port." % port)
        for path, what in ((private_key_file, "ssh private key"), (known_hosts_file, "known_hosts file")):
            if path is not None and not os.access(path, os.R_OK):
                raise NovaopsError("Cannot read the %s %s." % (what, path))
        self._run_command = run_command
        self.host = host.strip("[]")
        self.port = int(port)
        self.user = user
        self._key = private_key
        self._key_file = private_key_file
        self._known = known_hosts
        self._known_file = known_hosts_file
        self.insecure = insecure_ignore_host_key
        self.connect_timeout = connect_timeout
        self.ssh = ssh
        self.rsync = rsync
        self._secrets = None

    @classmethod
    def from_module(cls, module):
        """The host of the module's ssh options, or None when ssh_host is not set (this host)."""
        p = module.params
        if not p["ssh_host"]:
            return None
        ssh = module.get_bin_path("ssh")
        rsync = module.get_bin_path("rsync")
        if ssh is None or rsync is None:
            raise NovaopsError("ssh and rsync are needed on this host to reach %s; install openssh-client and "
                               "rsync." % p["ssh_host"])
        return cls(module.run_command, p["ssh_host"], p["ssh_port"], p["ssh_user"], p["ssh_private_key"],
                   p["ssh_private_key_file"], p["ssh_known_hosts"], p["ssh_known_hosts_file"],
                   p["insecure_ignore_host_key"], p["ssh_connect_timeout"], ssh=ssh, rsync=rsync)

    def describe(self):
        return dict(host=self.host, port=self.port, user=self.user)

    # -- the secrets' lifetime ------------------------------------------------------------------
    def __enter__(self):
        if self._key is not None or self._known is not None:
            self._secrets = tempfile.mkdtemp(prefix="novaops-ssh-")
            os.chmod(self._secrets, 0o700)
            if self._key is not None:
                self._key_file = self._write_secret("id", self._key)
            if self._known is not None:
                self._known_file = self._write_secret("known_hosts", self._known)
        return self

    def __exit__(self, *exc):
        if self._secrets is not None:
            shutil.rmtree(self._secrets, ignore_errors=True)
            self._secrets = None
        return False

    def _write_secret(self, name, text):
        path = os.path.join(self._secrets, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text if text.endswith("\n") else text + "\n")
        return path

    # -- commands ------------------------------------------------------------------------------
    def ssh_argv(self):
        """ssh with every option but the destination: batch mode, the key, host-key checking."""
        argv = [self.ssh, "-p", str(self.port), "-l", self.user, "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=%d" % self.connect_timeout, "-o", "ServerAliveInterval=15"]
        if self._key_file:
            argv += ["-i", self._key_file, "-o", "IdentitiesOnly=yes"]
        if self.insecure:
            argv += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        else:
            if self._known_file:
                argv += ["-o", "UserKnownHostsFile=%s" % self._known_file]
            argv += ["-o", "StrictHostKeyChecking=yes"]
        return argv

    def run(self, argv, what):
        """Run argv on the host; each argument is quoted for the remote shell.  Returns stdout."""
        command = self.ssh_argv() + ["--", self.host, " ".join(shlex.quote(str(a)) for a in argv)]
        rc, out, err = self._run_command(command)
        if rc != 0:
            raise NovaopsError("%s on %s failed (rc=%s): %s" % (what, self.host, rc, _detail(rc, out, err)),
                               ssh_error=dict(host=self.host, rc=rc, stderr=err))
        return out

    def rsync_file(self, src, dest_path, bwlimit=0):
        """``rsync --sparse`` one file to dest_path on the host (written under a temporary name, renamed
        when complete).  Returns bytes (the file's size) and duration."""
        started = time.monotonic()
        remote_shell = " ".join(shlex.quote(a) for a in self.ssh_argv())
        argv = [self.rsync, "--sparse", "--times", "--protect-args", "-e", remote_shell]
        if bwlimit:
            argv.append("--bwlimit=%d" % int(bwlimit))
        host = "[%s]" % self.host if ":" in self.host else self.host
        argv += ["--", src, "%s:%s" % (host, dest_path)]
        rc, out, err = self._run_command(argv)
        if rc != 0:
            raise NovaopsError("rsync of %s to %s:%s failed (rc=%s): %s" % (
                src, self.host, dest_path, rc, _detail(rc, out, err)),
                ssh_error=dict(host=self.host, rc=rc, stderr=err))
        return dict(bytes=os.stat(src).st_size, duration=round(time.monotonic() - started, 3))

    def check_no_links(self, path, label):
        """Refuse a directory on the host whose path goes through a symbolic link (as confined.Root refuses
        one here): rsync would write through it, outside the place meant."""
        out = self.run(["realpath", "-e", "--", path], "Resolving %s" % path)
        real = out.strip()
        if real != os.path.normpath(path):
            raise NovaopsError("%s on %s: %s goes through a symbolic link (it is %s there); refusing to write "
                               "through it." % (label, self.host, path, real), path=path)
        return real

    def free_bytes(self, path):
        """Bytes available under path on the host (df -P), or an error when the path is missing there."""
        out = self.run(["df", "-P", "-B1", "--", path], "Reading the free space of %s" % path)
        lines = [line.split() for line in out.splitlines() if line.strip()]
        try:
            return int(lines[-1][3])
        except (IndexError, ValueError):
            raise NovaopsError("df on %s printed no free space for %s: %r" % (self.host, path, out[:200]))


def _detail(rc, out, err):
    """What a failed command said, or how it died."""
    text = (err or out or "").strip()
    if rc is not None and rc < 0:
        return "killed by signal %d%s" % (-rc, "; " + text if text else "")
    return text or "no message"
