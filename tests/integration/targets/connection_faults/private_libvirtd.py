# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A libvirtd of this test's own, to kill and restart without touching the shared bed.

Its sockets, pid file, log and its QEMU driver's state are under one temp dir: libvirtd's
--config gives it its own unix_sock_dir, and a private mount namespace binds the temp dir's
etc/run/lib/cache/log over the paths a root libvirtd's QEMU driver always uses, so that it
neither sees nor touches the domains of the shared libvirtd.  QEMU processes outlive the
daemon as they do on a host; a restart finds them again through the same state files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

BINDS = (("etc", "/etc/libvirt"), ("run", "/run/libvirt"), ("lib", "/var/lib/libvirt"),
         ("cache", "/var/cache/libvirt"), ("log", "/var/log/libvirt"))


DISPLAY_PORTS = 16
SHARED_DAEMON_REACH = 6900      # the shared daemon counts up from 5900; it never has a thousand displays


def display_ports():
    """A VNC port range of this daemon's own: (first, last).

    Each libvirtd gives a domain's autoport VNC display the first port of its range that it finds
    free, and knows nothing of the other daemons' choices, so with the shared bed's daemon in the
    same network namespace two daemons raced for a port (a domain's start failed with "Failed to
    find an available port" in CI). The range lies outside the kernel's ephemeral ports too (an
    outgoing connection may take one between libvirt's check and QEMU's bind), in a block chosen by
    pid so that two private daemons at once differ."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as handle:
        ephemeral_low, ephemeral_high = (int(word) for word in handle.read().split())
    above, below = (ephemeral_high + 1, 65535), (SHARED_DAEMON_REACH, ephemeral_low - 1)
    first, last = max(above, below, key=lambda span: span[1] - span[0])
    blocks = (last - first + 1) // DISPLAY_PORTS
    low = first + (os.getpid() % blocks) * DISPLAY_PORTS
    return low, low + DISPLAY_PORTS - 1


class PrivateLibvirtd:
    def __init__(self, root):
        self.root = root
        self.sock_dir = os.path.join(root, "sock")
        self.pid_file = os.path.join(root, "libvirtd.pid")
        self.uri = "qemu+unix:///system?socket=%s/libvirt-sock" % self.sock_dir
        self.admin_uri = "libvirtd:///system?socket=%s/libvirt-admin-sock" % self.sock_dir
        self.proc = None
        for name, _target in BINDS:
            os.makedirs(os.path.join(root, name), exist_ok=True)
        os.makedirs(os.path.join(root, "etc", "qemu"), exist_ok=True)
        os.makedirs(self.sock_dir, exist_ok=True)
        with open(os.path.join(root, "etc", "libvirtd.conf"), "w") as conf:
            conf.write('unix_sock_dir = "%s"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n'
                       'log_outputs = "3:file:%s/libvirtd.log"\n' % (self.sock_dir, root))
        self.display_ports = low, high = display_ports()
        with open(os.path.join(root, "etc", "qemu.conf"), "w") as conf:
            # no virtlogd in this namespace; no confinement or cgroups to share with the bed's daemon
            conf.write('stdio_handler = "file"\nsecurity_driver = "none"\ncgroup_controllers = [ ]\n'
                       'remote_display_port_min = %d\nremote_display_port_max = %d\n' % (low, high))

    def start(self, timeout=60):
        mounts = " && ".join("mount --bind %s %s" % (os.path.join(self.root, name), target)
                             for name, target in BINDS)
        script = "%s && exec libvirtd --config %s --pid-file %s" % (
            mounts, os.path.join(self.root, "etc", "libvirtd.conf"), self.pid_file)
        with open(os.path.join(self.root, "daemon.out"), "ab") as out:
            self.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("private libvirtd exited with %s (see %s)" % (self.proc.returncode, self.root))
            if self.answers():
                return self.proc.pid
            time.sleep(0.2)
        raise RuntimeError("private libvirtd did not answer within %ss" % timeout)

    def answers(self):
        return subprocess.run(["virsh", "-c", self.uri, "uri"], capture_output=True, check=False).returncode == 0

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def kill(self):
        """SIGKILL, as a crash: nothing is cleaned up, the QEMU processes run on."""
        if self.pid:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.pid:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def clients(self):
        """How many clients are connected (virt-admin on the daemon's admin socket)."""
        out = subprocess.run(["virt-admin", "-c", self.admin_uri, "srv-clients-list", "libvirtd"],
                             capture_output=True, text=True, check=False).stdout
        return sum(1 for line in out.splitlines()[2:] if line.strip())

    def virsh(self, *args, check=True):
        done = subprocess.run(["virsh", "-c", self.uri] + list(args), capture_output=True, text=True, check=False)
        if check and done.returncode:
            raise RuntimeError("virsh %s: %s" % (" ".join(args), done.stderr.strip()))
        return done
