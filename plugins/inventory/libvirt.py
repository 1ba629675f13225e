# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
name: libvirt
short_description: libvirt/QEMU instances of many hypervisors as hosts, grouped by what needs repair
version_added: 0.1.0
description:
  - Reads every domain of one or more libvirt URIs (C(qemu:///system), C(qemu+ssh://root@hv1/system), ...)
    and makes each an inventory host, with its hypervisor, power state, the desired state that
    M(novaops.compute.libvirt_domain) records in the domain's C(<metadata>), its disks and VIFs as variables.
  - Groups every instance by state - C(running), C(shutoff), C(paused), C(suspended) (managed save),
    C(crashed) (a guest panic, or a QEMU process that died or was killed) - and into C(needs_repair) when its
    actual state differs from the desired one, its C(_base) backing file is missing or the OVS port of one of
    its VIFs is missing. C(rescued) holds instances in rescue, C(busy) those an operation is working on (the
    operation lock of the domain's metadata or the instance directory's C(novaops-task.lock)) or whose resize
    is not over (the resize record in C(<uuid>_resize), awaiting confirm or revert as Nova's C(RESIZED), or in
    C(<uuid>)); neither group is ever put into C(needs_repair). All domains are in the group C(libvirt). The groups exist even when empty.
  - The C(_base), lock file and OVS checks ask the hypervisor itself - directly for a local URI, over ssh with the
    URI's user, port, C(keyfile) and C(known_hosts) for C(qemu+ssh), C(qemu+libssh) and C(qemu+libssh2) URIs.
  - A host's connection variables reach its hypervisor (C(ansible_connection=local) for a local URI,
    C(ansible_host), C(ansible_port), C(ansible_user), C(ansible_ssh_private_key_file) from an ssh URI), so that
    a task on the instance runs the modules on its hypervisor, which use C(novaops_libvirt_local_uri) there.
author: novaops.compute maintainers (@novaops)
requirements:
  - libvirt-python on the controller
  - ssh and C(ovs-vsctl) on the hypervisors for the checks of remote URIs
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - novaops.compute.fleet_inventory
options:
  plugin:
    choices: [novaops.compute.libvirt]
  uris:
    description:
      - The hypervisors, as libvirt URIs. Each item is a URI string, or a dict with C(uri), C(name) (the
        hypervisor's label, C(novaops_hypervisor); the URI's host name by default, C(localhost) for a local URI),
        and C(include) and C(exclude) (name patterns for this hypervisor only, on top of O(include) and O(exclude)).
      - For C(qemu+ssh) URIs libvirt uses the C(ssh) command with C(keyfile) and C(no_verify) from the URI's
        parameters; C(qemu+libssh2) and C(qemu+libssh) also honour C(known_hosts).
    type: list
    elements: raw
    default: [qemu:///system]
    env:
      - name: NOVAOPS_LIBVIRT_URIS
      - name: LIBVIRT_DEFAULT_URI
  username:
    description:
      - User name for libvirt's authentication callback (SASL on C(qemu+tcp), password logins of C(libssh2)).
        Not needed for ssh keys or local sockets.
    type: str
    env:
      - name: NOVAOPS_LIBVIRT_USERNAME
  password:
    description:
      - Password for libvirt's authentication callback. Never written into host variables or the cache.
    type: str
    env:
      - name: NOVAOPS_LIBVIRT_PASSWORD
  ssh_keyfile:
    description:
      - The private key for ssh URIs that name no C(keyfile) - for libvirt's own connection, the host checks and
        C(ansible_ssh_private_key_file). An AWX credential type injects it (see C(docs/awx.md)).
    type: path
    env:
      - name: NOVAOPS_LIBVIRT_SSH_KEYFILE
  ssh_known_hosts:
    description:
      - The known_hosts file for ssh URIs that name none and do not set C(no_verify=1). C(qemu+libssh2) and
        C(qemu+libssh) URIs verify the host key against it; the host checks and Ansible's ssh connection use it
        for every ssh URI.
    type: path
    env:
      - name: NOVAOPS_LIBVIRT_SSH_KNOWN_HOSTS
  read_only:
    description: Open read-only connections (enough for everything this plugin reads).
    type: bool
    default: true
  host_checks:
    description:
      - Check on each hypervisor that the C(_base) files exist, whether lock files or C(unrescue.xml) are in the
        instance directories, and that running instances have their OVS ports. Needs a local or ssh URI.
    type: bool
    default: true
  timeout:
    description: Seconds for the ssh connection of the host checks.
    type: int
    default: 10
notes:
  - Host variables (all prefixed C(novaops_)) - C(driver), C(name), C(uuid), C(hypervisor), C(libvirt_uri),
    C(libvirt_local_uri), C(power_state), C(state_reason), C(desired_state), C(desired_recorded), C(rescued),
    C(task) (the operation lock), C(resize) (the resize record found, or null), C(busy), C(needs_repair), C(repair) (V(hard_reboot) or V(converge)),
    C(repair_reasons), C(disks), C(vifs) (with C(ovs_port)), C(missing_base), C(missing_ports),
    C(instances_path), C(instance_dir), C(base_file), C(virt_type), C(vnc).
  - On the group C(all), C(novaops_hypervisors_libvirt) lists every hypervisor read (C(name), C(uri)), those
    without instances too - the candidates playbook C(novaops.compute.live_migrate) chooses among when it is
    given no destination.
seealso:
  - module: novaops.compute.libvirt_domain
  - module: novaops.compute.libvirt_domain_info
'''

EXAMPLES = r'''
# fleet.novaops_libvirt.yml
plugin: novaops.compute.libvirt
uris:
  - qemu:///system
  - uri: qemu+ssh://root@hv2.example.com/system?keyfile=/etc/novaops/id_ed25519
    name: hv2
    exclude: ['test-*']
exclude: ['*-scratch']
keyed_groups:
  - key: novaops_hypervisor
    prefix: hv
compose:
  ansible_python_interpreter: "'/usr/bin/python3'"
groups:
  big: novaops_disks | length > 2
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: /var/cache/novaops-inventory
cache_timeout: 300
'''

from ansible_collections.novaops.compute.plugins.plugin_utils.fleet_inventory import FleetInventory, SourceError, matches
from ansible_collections.novaops.compute.plugins.plugin_utils.libvirt_fleet import HypervisorURI, read_hypervisor

URI_KEYS = ("uri", "name", "include", "exclude")


class InventoryModule(FleetInventory):
    NAME = "novaops.compute.libvirt"
    DRIVER = "libvirt"
    FILE_SUFFIXES = (".novaops_libvirt.yml", ".novaops_libvirt.yaml")

    def sources(self):
        keyfile, known_hosts = self.get_option("ssh_keyfile"), self.get_option("ssh_known_hosts")
        return [uri.with_ssh_defaults(keyfile, known_hosts) for uri in self._uris()]

    def _uris(self):
        uris = []
        for item in self.get_option("uris") or []:
            if isinstance(item, str):
                uris.append(HypervisorURI(item))
            elif isinstance(item, dict) and isinstance(item.get("uri"), str) and set(item) <= set(URI_KEYS):
                uri = HypervisorURI(item["uri"], item.get("name"))
                uri.include = _patterns(item.get("include"), ["*"])
                uri.exclude = _patterns(item.get("exclude"), [])
                uris.append(uri)
            else:
                raise SourceError("Each item of uris is a URI or a dict with %s; got %r." % (", ".join(URI_KEYS), item))
        return uris

    def source_label(self, source):
        return source.uri

    def hypervisor_entry(self, source):
        return dict(name=source.name, uri=source.uri)

    def read_source(self, source):
        credentials = dict(username=self.get_option("username"), password=self.get_option("password"))
        return read_hypervisor(source, read_only=self.get_option("read_only"), credentials=credentials,
                               host_checks=self.get_option("host_checks"), timeout=self.get_option("timeout"),
                               warn=self.display.warning,
                               wanted=lambda name: self.included(name) and matches(name, source.include,
                                                                                   source.exclude))


def _patterns(value, default):
    if value is None:
        return default
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise SourceError("include and exclude of a URI are name patterns (a string or a list); got %r." % (value,))
