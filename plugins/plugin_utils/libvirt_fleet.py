# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The instances of one libvirt hypervisor, as the inventory plugin sees them.

One read-only libvirt connection per URI lists every domain with its state, reason and XML
(desired state and operation lock live in its ``<metadata>``).  What libvirt cannot tell -
whether the ``_base`` file of an overlay still exists, whether the instance directory holds
a lock file or ``unrescue.xml``, whether the OVS port of a VIF is there - is asked of the
hypervisor itself in one probe: directly when the URI is local, otherwise over ssh with the
user, port, key and known_hosts of the URI (the access libvirt's own ssh transport uses).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from urllib.parse import parse_qs, urlencode, urlsplit

from ansible_collections.novaops.compute.plugins.module_utils.libvirt import domain_xml as dx
from ansible_collections.novaops.compute.plugins.module_utils.common import instance_health as health
from ansible_collections.novaops.compute.plugins.module_utils.common import operation_lock
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.image_cache import BASE_DIR, base_name
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.instance_dir import RESCUE, RESIZE_SUFFIX, UNRESCUE_XML
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import STATE_NAMES, quiet_libvirt_errors
from ansible_collections.novaops.compute.plugins.module_utils.ovs.ovsdb import OVS
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.resize_record import RECORD as RESIZE_RECORD
from ansible_collections.novaops.compute.plugins.plugin_utils.fleet_inventory import SourceError, local_connection_vars

try:
    import libvirt
    HAS_LIBVIRT = True
except ImportError:
    HAS_LIBVIRT = False

SSH_TRANSPORTS = ("ssh", "libssh", "libssh2")
# A shell loop that prints the paths given as arguments that exist (run over ssh only).
_EXISTING_PATHS = 'for p in "$@"; do [ -e "$p" ] && printf "%s\\n" "$p"; done; exit 0'


class HypervisorURI:
    """A libvirt URI, ``driver[+transport]://[user@][host][:port]/path[?params]``, taken apart."""

    def __init__(self, uri, name=None):
        uri = str(uri)      # a plain str, not the option's tagged one
        self.uri = uri
        parts = urlsplit(uri)
        if not parts.scheme or "://" not in uri:
            raise SourceError("%r is not a libvirt URI (e.g. qemu:///system, qemu+ssh://root@hv1/system)." % uri)
        self.driver, _sep, self.transport = parts.scheme.partition("+")
        self.transport = self.transport or None
        try:
            self.port = parts.port
        except ValueError:
            raise SourceError("The libvirt URI %r has an invalid port." % uri)
        self.user = parts.username
        self.host = parts.hostname
        self.path = parts.path or "/"
        self.params = dict((key, values[-1]) for key, values in parse_qs(parts.query).items())
        self.name = str(name) if name else self.host or "localhost"
        self.include = ["*"]     # name patterns of this hypervisor's domains (the plugin's per-URI filter)
        self.exclude = []

    def with_ssh_defaults(self, keyfile=None, known_hosts=None):
        """The URI with a key file and known_hosts file added where an ssh URI names none (the
        credentials an AWX credential type injects); libvirt reads them from the URI."""
        if self.transport not in SSH_TRANSPORTS:
            return self
        extra = []
        if keyfile and not self.params.get("keyfile"):
            extra.append(("keyfile", keyfile))
        if known_hosts and not self.params.get("known_hosts") and self.params.get("no_verify") != "1":
            extra.append(("known_hosts", known_hosts))
        if not extra:
            return self
        uri = self.uri + ("&" if "?" in self.uri else "?") + urlencode(extra)
        out = HypervisorURI(uri, self.name)
        out.include, out.exclude = self.include, self.exclude
        return out

    @property
    def is_local(self):
        return not self.host and self.transport in (None, "unix")

    @property
    def local_uri(self):
        """The URI a module running on the hypervisor itself uses."""
        return "%s://%s" % (self.driver, self.path)

    def ssh_argv(self, argv, timeout=10):
        """ssh running argv on the hypervisor, with the URI's access (never a local shell)."""
        if self.transport not in SSH_TRANSPORTS:
            return None
        ssh = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=%d" % timeout, "-T"]
        if self.port:
            ssh += ["-p", str(self.port)]
        if self.user:
            ssh += ["-l", self.user]
        if self.params.get("keyfile"):
            ssh += ["-i", self.params["keyfile"]]
        if self.params.get("known_hosts"):
            ssh += ["-o", "UserKnownHostsFile=%s" % self.params["known_hosts"]]
        if self.params.get("no_verify") == "1":
            ssh += ["-o", "StrictHostKeyChecking=no"]
        return ssh + [self.host, "--", " ".join(shlex.quote(arg) for arg in argv)]

    def connection_vars(self):
        """How Ansible reaches the hypervisor to run modules on it (they use local_uri there)."""
        if self.is_local:
            return local_connection_vars()
        out = dict(ansible_host=self.host)
        if self.transport in SSH_TRANSPORTS:
            if self.port:
                out["ansible_port"] = self.port
            if self.user:
                out["ansible_user"] = self.user
            if self.params.get("keyfile"):
                out["ansible_ssh_private_key_file"] = self.params["keyfile"]
            ssh_args = []
            if self.params.get("known_hosts"):
                ssh_args.append("-o UserKnownHostsFile=%s" % self.params["known_hosts"])
            if self.params.get("no_verify") == "1":
                ssh_args.append("-o StrictHostKeyChecking=no")
            if ssh_args:
                out["ansible_ssh_common_args"] = " ".join(ssh_args)
        return out


class HostProbe:
    """Files and OVS interfaces of the hypervisor: locally, or over ssh for ssh URIs."""

    def __init__(self, uri, timeout=10):
        self.uri = uri
        self.timeout = timeout

    @property
    def possible(self):
        return self.uri.is_local or self.uri.transport in SSH_TRANSPORTS

    def run_command(self, argv, data=None):
        """(rc, stdout, stderr) of argv on the hypervisor."""
        if not self.uri.is_local:
            argv = self.uri.ssh_argv(argv, self.timeout)
        try:
            # stdin always given: with fd 0 closed (as in a playbook's refresh_inventory) ovs-vsctl's
            # socket would get fd 0, which its poll loop asserts against
            proc = subprocess.run(argv, input=data or "", capture_output=True, text=True,
                                  timeout=self.timeout + 20, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return 255, "", str(exc)
        return proc.returncode, proc.stdout, proc.stderr

    def existing(self, paths):
        """The subset of paths that exist on the hypervisor."""
        paths = sorted(set(paths))
        if not paths:
            return set()
        if self.uri.is_local:
            return set(p for p in paths if os.path.exists(p))
        rc, out, err = self.run_command(["sh", "-c", _EXISTING_PATHS, "novaops-probe"] + paths)
        if rc != 0:
            raise NovaopsError("cannot check files on %s over ssh: %s" % (self.uri.name, (err or out).strip()))
        return set(line for line in out.splitlines() if line)

    def ovs_interfaces(self):
        """{iface-id: [(interface name, attached-mac)]} of every OVS interface of the hypervisor."""
        rows = OVS(self.run_command, timeout=self.timeout).list("Interface", columns=["name", "external_ids"])
        found = {}
        for row in rows:
            ids = row.get("external_ids") or {}
            if ids.get("iface-id"):
                found.setdefault(ids["iface-id"], []).append((row.get("name"), (ids.get("attached-mac") or "").lower()))
        return found


def _open(uri, read_only, credentials):
    if credentials and (credentials.get("username") or credentials.get("password")):
        def answer(creds, _data):
            for cred in creds:
                if cred[0] == libvirt.VIR_CRED_AUTHNAME:
                    cred[4] = credentials.get("username") or ""
                elif cred[0] == libvirt.VIR_CRED_PASSPHRASE:
                    cred[4] = credentials.get("password") or ""
            return 0
        auth = [[libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_PASSPHRASE], answer, None]
        return libvirt.openAuth(uri, auth, libvirt.VIR_CONNECT_RO if read_only else 0)
    return libvirt.openReadOnly(uri) if read_only else libvirt.open(uri)


def read_domains(uri, read_only=True, credentials=None, wanted=None):
    """[(name, uuid, state name, reason code, live XML)] of every domain at the URI whose name is wanted."""
    if not HAS_LIBVIRT:
        raise SourceError("libvirt-python is required on the controller for the libvirt inventory "
                          "(pip install libvirt-python).")
    quiet_libvirt_errors()
    try:
        conn = _open(uri.uri, read_only, credentials)
    except libvirt.libvirtError as exc:
        raise SourceError("libvirt at %s: %s" % (uri.uri, exc.get_error_message()))
    try:
        domains = []
        for dom in conn.listAllDomains(0):
            if wanted is not None and not wanted(dom.name()):
                continue
            try:
                state, reason = dom.state()
                name = STATE_NAMES.get(state, "unknown")
                if name == "shutoff" and dom.hasManagedSaveImage(0):
                    name = "saved"
                domains.append((dom.name(), dom.UUIDString(), name, reason, dom.XMLDesc(0)))
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:   # undefined meanwhile: gone
                    raise
        return domains
    except libvirt.libvirtError as exc:
        raise SourceError("libvirt at %s: %s" % (uri.uri, exc.get_error_message()))
    finally:
        conn.close()


def domain_instance(uri, name, uuid, state_name, reason, xml):
    """The instance dict of one domain, before the host probe fills in the file and port checks."""
    facts = dx.parse_domain_xml(xml)
    desired = facts.get("metadata") or {}
    power, state_reason = health.libvirt_power_state(state_name, reason)
    instances_path = desired.get("instances_path")
    instance_dir = os.path.join(instances_path, uuid) if instances_path else None
    base = None
    image = desired.get("image") or {}
    image_id = image.get("id") or image.get("url") or image.get("path")
    if instances_path and image_id:
        base = os.path.join(instances_path, BASE_DIR, base_name(image_id))
    disks = [dict(target=d["target"], path=d["path"], format=d["format"], device=d["device"], bus=d["bus"],
                  backing_chain=d["backing_chain"]) for d in facts["disks"]]
    vifs = [dict(mac=v["mac"], bridge=v["bridge"], id=v["id"], type=dx.vif_kind(v), model=v["model"],
                 target=v["target"], ovs_port=None) for v in facts["vifs"]]
    return dict(
        driver="libvirt", name=name, uuid=uuid, hypervisor=uri.name, power_state=power, state_reason=state_reason,
        desired_state=health.libvirt_desired_state(desired.get("state")), desired_recorded=desired.get("state"),
        rescued=any(os.path.basename(d["path"] or "") == RESCUE for d in disks),
        task=operation_lock.from_domain_xml(xml), resize=None, disks=disks, vifs=vifs, missing_base=[],
        missing_ports=[],
        connection=uri.connection_vars(),
        extra_vars=dict(libvirt_uri=uri.uri, libvirt_local_uri=uri.local_uri, instances_path=instances_path,
                        instance_dir=instance_dir, base_file=base, virt_type=facts.get("virt_type"),
                        vnc=facts.get("vnc")),
        role_vars=dict(compute_driver="libvirt", instance_name=name, instance_uuid=uuid, libvirt_uri=uri.local_uri,
                       libvirt_instances_path=instances_path, libvirt_virt_type=facts.get("virt_type")))


def check_on_host(instances, probe, warn):
    """Fill in missing_base, rescued (unrescue.xml), task (lock file), resize (a resize record) and
    missing_ports from the host."""
    wanted = []
    for inst in instances:
        extra = inst["extra_vars"]
        if extra["base_file"]:
            wanted.append(extra["base_file"])
        if extra["instance_dir"]:
            wanted += [os.path.join(extra["instance_dir"], UNRESCUE_XML),
                       operation_lock.lock_file_path(extra["instance_dir"])] + resize_records(extra["instance_dir"])
    try:
        existing = probe.existing(wanted)
    except NovaopsError as exc:
        warn("File checks skipped: %s" % exc)
        existing = None
    if existing is not None:
        for inst in instances:
            extra = inst["extra_vars"]
            if extra["base_file"] and extra["base_file"] not in existing:
                inst["missing_base"] = [extra["base_file"]]
            if extra["instance_dir"]:
                if os.path.join(extra["instance_dir"], UNRESCUE_XML) in existing:
                    inst["rescued"] = True
                lock = operation_lock.from_lock_file(
                    operation_lock.lock_file_path(extra["instance_dir"]) in existing)
                if inst["task"] is None and lock is not None:
                    inst["task"] = lock
                records = [path for path in resize_records(extra["instance_dir"]) if path in existing]
                if records:
                    inst["resize"] = "%s is there" % records[0]
    plugged = [inst for inst in instances if inst["power_state"] == health.RUNNING and
               any(v["type"] == "ovs" and v["id"] for v in inst["vifs"])]
    if not plugged:
        return
    try:
        interfaces = probe.ovs_interfaces()
    except NovaopsError as exc:
        warn("OVS port checks skipped: %s" % exc)
        return
    for inst in plugged:
        for vif in inst["vifs"]:
            if vif["type"] != "ovs" or not vif["id"]:
                continue
            ports = [name for name, mac in interfaces.get(vif["id"], []) if not mac or mac == vif["mac"]]
            vif["ovs_port"] = sorted(ports)[0] if ports else None
            if not ports:
                inst["missing_ports"].append(vif["id"])


def resize_records(instance_dir):
    """Where libvirt_resize's record lies while a resize is not over: with the original in <uuid>_resize
    (awaiting confirm or revert), or in <uuid> (started, or a revert half done)."""
    return [os.path.join(instance_dir + RESIZE_SUFFIX, RESIZE_RECORD), os.path.join(instance_dir, RESIZE_RECORD)]


def read_hypervisor(uri, read_only=True, credentials=None, host_checks=True, timeout=10, warn=None, wanted=None):
    """Instance dicts of the domains at one URI (a HypervisorURI) whose names are wanted (all by default)."""
    warn = warn or (lambda _msg: None)
    instances = [domain_instance(uri, *domain) for domain in read_domains(uri, read_only, credentials, wanted)]
    if host_checks and instances:
        probe = HostProbe(uri, timeout)
        if probe.possible:
            check_on_host(instances, probe, lambda msg: warn("%s: %s" % (uri.name, msg)))
        else:
            warn("%s: base file, lock file and OVS port checks need a local or ssh URI; set host_checks: false "
                 "to read %s without them." % (uri.name, uri.uri))
    return instances
