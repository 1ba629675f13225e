# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ssh and rsync command lines: host keys checked, secrets private and short-lived, no injection."""

from __future__ import annotations

import os
import shlex
import stat

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.ssh_host import SshHost


class Recorder:
    def __init__(self, rc=0, out="", err=""):
        self.calls = []
        self.answer = (rc, out, err)

    def __call__(self, argv):
        self.calls.append(list(argv))
        return self.answer


def _opts(argv):
    return [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]


def test_host_keys_are_checked_by_default():
    host = SshHost(Recorder(), "hv2.example.com")
    options = _opts(host.ssh_argv())
    assert "StrictHostKeyChecking=yes" in options and "BatchMode=yes" in options
    assert not any(o.startswith("UserKnownHostsFile") for o in options)


def test_known_hosts_file_and_the_explicit_opt_out(tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("[hv2]:2222 ssh-ed25519 AAAA\n")
    options = _opts(SshHost(Recorder(), "hv2", known_hosts_file=str(known)).ssh_argv())
    assert "UserKnownHostsFile=%s" % known in options and "StrictHostKeyChecking=yes" in options
    options = _opts(SshHost(Recorder(), "hv2", insecure_ignore_host_key=True).ssh_argv())
    assert "StrictHostKeyChecking=no" in options and "StrictHostKeyChecking=yes" not in options


def test_secrets_given_as_contents_live_in_a_private_directory_for_the_block_only():
    host = SshHost(Recorder(), "hv2", private_key="-----BEGIN KEY-----\nabc", known_hosts="hv2 ssh-ed25519 AAAA")
    with host:
        argv = host.ssh_argv()
        key = argv[argv.index("-i") + 1]
        known = [o for o in _opts(argv) if o.startswith("UserKnownHostsFile=")][0].split("=", 1)[1]
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(key)).st_mode) == 0o700
        with open(key) as handle:
            assert handle.read() == "-----BEGIN KEY-----\nabc\n"
        assert os.path.exists(known)
    assert not os.path.exists(os.path.dirname(key))


@pytest.mark.parametrize("kwargs, message", [
    (dict(host="hv2;touch /tmp/x"), "is not a host name"),
    (dict(host="-oProxyCommand=x"), "is not a host name"),
    (dict(host=""), "is not a host name"),
    (dict(host="hv2", user="-oProxyCommand=x"), "is not a user name"),
    (dict(host="hv2", user="root x"), "is not a user name"),
    (dict(host="hv2", port=70000), "is not a TCP port"),
    (dict(host="hv2", private_key_file="/nonexistent/id"), "Cannot read the ssh private key"),
    (dict(host="hv2", known_hosts_file="/nonexistent/kh"), "Cannot read the known_hosts file"),
])
def test_bad_hosts_users_ports_and_files_are_refused(kwargs, message):
    with pytest.raises(NovaopsError, match=message):
        SshHost(Recorder(), **kwargs)


def test_remote_arguments_are_quoted_for_the_remote_shell():
    recorder = Recorder()
    SshHost(recorder, "hv2", port=2222, user="nova").run(["rm", "-rf", "--", "/srv/a b;reboot"], "Removing")
    argv = recorder.calls[0]
    assert argv[:5] == ["ssh", "-p", "2222", "-l", "nova"]
    assert argv[-3:-1] == ["--", "hv2"]
    assert shlex.split(argv[-1]) == ["rm", "-rf", "--", "/srv/a b;reboot"]


def test_a_failed_remote_command_says_what_and_where():
    with pytest.raises(NovaopsError, match=r"Removing on hv2 failed \(rc=255\): Host key verification failed."):
        SshHost(Recorder(255, "", "Host key verification failed.\n"), "hv2").run(["true"], "Removing")


def test_a_killed_rsync_says_so(tmp_path):
    src = tmp_path / "disk"
    src.write_bytes(b"x")
    with pytest.raises(NovaopsError, match=r"failed \(rc=-9\): killed by signal 9$"):
        SshHost(Recorder(-9), "hv2").rsync_file(str(src), "/srv/i/disk")


def test_rsync_sends_sparse_through_the_same_ssh(tmp_path):
    src = tmp_path / "disk.flat"
    src.write_bytes(b"x" * 10)
    recorder = Recorder()
    host = SshHost(recorder, "fe80::1", port=2222)
    done = host.rsync_file(str(src), "/srv/i/disk", bwlimit=512)
    argv = recorder.calls[0]
    assert argv[0] == "rsync" and "--sparse" in argv and "--bwlimit=512" in argv
    assert shlex.split(argv[argv.index("-e") + 1]) == host.ssh_argv()
    assert argv[-2:] == [str(src), "[fe80::1]:/srv/i/disk"]
    assert done["bytes"] == 10


def test_free_bytes_reads_df():
    out = "Filesystem 1-blocks Used Available Capacity Mounted on\n/dev/vda 100 40 60 40% /\n"
    assert SshHost(Recorder(0, out), "hv2").free_bytes("/srv") == 60
    with pytest.raises(NovaopsError, match="printed no free space"):
        SshHost(Recorder(0, "garbage"), "hv2").free_bytes("/srv")
