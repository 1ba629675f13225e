# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the libvirt and xenapi inventory plugins share: instances in, hosts and groups out.

A driver plugin reads its sources (URIs, pools) into a list of plain instance dicts (see
instance_vars()); this base turns them into hosts with ``novaops_*`` variables and the
connection variables of their hypervisor, puts them into the state groups of
module_utils.instance_health, then applies Ansible's constructed options (compose, groups,
keyed_groups, strict) and the inventory cache, as Ansible's own inventory plugins do.

Every value read from a hypervisor must never be templated: a VM may be named
``{{ lookup('pipe', ...) }}``.  ansible-core 2.19 and later never template what an inventory
plugin sets; before 2.19 the values are wrapped as unsafe.
"""

from __future__ import annotations

import fnmatch
import sys

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.release import __version__ as ansible_version
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.novaops.compute.plugins.module_utils.common import instance_health as health

VAR_PREFIX = "novaops_"
# instance keys that become host variables (as novaops_<key>)
HOST_VARS = ("driver", "name", "uuid", "hypervisor", "power_state", "state_reason", "desired_state",
             "desired_recorded", "rescued", "task", "resize", "busy", "needs_repair", "repair", "repair_reasons",
             "disks", "vifs", "missing_base", "missing_ports")


def _needs_unsafe_wrap(version):
    major, minor = (int(part) for part in version.split(".")[:2])
    return (major, minor) < (2, 19)


untemplated = wrap_var if _needs_unsafe_wrap(ansible_version) else (lambda value: value)


def matches(name, include, exclude):
    """Whether a name matches one of the include patterns and none of the exclude ones (shell style)."""
    return any(fnmatch.fnmatchcase(name or "", str(p)) for p in include) and \
        not any(fnmatch.fnmatchcase(name or "", str(p)) for p in exclude)


class SourceError(Exception):
    """A source (a libvirt URI, a XenServer pool) could not be read: a sentence naming it."""


class FleetInventory(BaseInventoryPlugin, Constructable, Cacheable):
    """Base of the novaops.compute inventory plugins; subclasses set NAME, FILE_SUFFIXES, DRIVER."""

    NAME = None
    DRIVER = None
    FILE_SUFFIXES = ()

    def verify_file(self, path):
        """A ``*.novaops_<driver>.yml`` file, or any YAML file whose ``plugin`` key names us."""
        if not super().verify_file(path):
            return False
        if path.endswith(self.FILE_SUFFIXES):
            return True
        if not path.endswith((".yml", ".yaml")):
            return False
        return self._plugin_key(path) in (self.NAME, self.NAME.rsplit(".", 1)[-1])

    @staticmethod
    def _plugin_key(path):
        try:
            with open(path) as handle:
                for line in handle:
                    if line.startswith("plugin:"):
                        return line.split(":", 1)[1].split("#", 1)[0].strip().strip("'\"")
        except (IOError, OSError, UnicodeDecodeError):
            return None
        return None

    # -- the flow ------------------------------------------------------------------------------
    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        fleet = None
        if use_cache:
            try:
                fleet = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if fleet is None:
            fleet = self.read_fleet()
        if update_cache:
            self._cache[cache_key] = fleet
        self.populate(fleet)

    def read_fleet(self):
        """{'instances': [...], 'unreachable': [{'source', 'error'}]} from every configured source."""
        instances, unreachable, hypervisors = [], [], []
        try:
            sources = self.sources()
        except SourceError as exc:
            raise AnsibleParserError(to_native(exc))
        for source in sources:
            try:
                found = self.read_source(source)
            except SourceError as exc:
                if self.get_option("fail_on_errors"):
                    raise AnsibleParserError(to_native(exc))
                self.display.warning("Skipping %s" % to_native(exc))
                unreachable.append(dict(source=self.source_label(source), error=to_native(exc)))
                continue
            instances.extend(i for i in found if self.included(i["name"]))
            entry = self.hypervisor_entry(source)
            if entry is not None:
                hypervisors.append(entry)
        for instance in instances:
            instance.update(self.verdict(instance))
        instances.sort(key=lambda i: (i["hypervisor"] or "", i["name"] or "", i["uuid"] or ""))
        return dict(instances=instances, unreachable=unreachable, hypervisors=hypervisors)

    # -- for the subclasses ------------------------------------------------------------------
    def sources(self):
        raise NotImplementedError

    def source_label(self, source):
        raise NotImplementedError

    def read_source(self, source):
        """Instance dicts of one source; raise SourceError when it cannot be read."""
        raise NotImplementedError

    def hypervisor_entry(self, source):
        """What the plays may know of a source read (None: nothing), listed on ``all`` as
        ``novaops_hypervisors_<driver>`` - hypervisors without instances included."""
        return None

    # -- shared logic --------------------------------------------------------------------------
    def included(self, name):
        return matches(name, self.get_option("include") or ["*"], self.get_option("exclude") or [])

    @staticmethod
    def verdict(instance):
        found = health.classify(instance)
        return dict(groups=found["groups"], needs_repair=found["needs_repair"], busy=found["busy"],
                    repair=found["repair"], repair_reasons=found["reasons"])

    def hostnames(self, instances):
        """Inventory names: the instance name (or UUID).  Names found more than once get
        ``_<uuid prefix>`` so that none hides another; an instance seen twice (the same UUID
        through two URIs) is kept once (None for the repeat)."""
        key = self.get_option("hostname")
        counts = {}
        for inst in instances:
            counts[inst[key]] = counts.get(inst[key], 0) + 1
        for name in sorted(n for n, count in counts.items() if count > 1):
            self.display.warning("%d instances are named %r; naming them %s_<uuid prefix>." % (
                counts[name], name, name))
        names, seen = [], {}
        for inst in instances:
            name = inst[key] if counts[inst[key]] == 1 else "%s_%s" % (inst[key], (inst["uuid"] or "")[:8])
            if name in seen:
                self.display.warning("%s is listed by %s and %s; keeping the first." % (
                    inst["name"], seen[name], inst["hypervisor"]))
                name = None
            else:
                seen[name] = inst["hypervisor"]
            names.append(name)
        return names

    def populate(self, fleet):
        for group in health.GROUPS + (self.DRIVER,):
            self.inventory.add_group(group)
        instances = fleet["instances"]
        strict = self.get_option("strict")
        for instance, hostname in zip(instances, self.hostnames(instances)):
            if hostname is None:
                continue
            self.inventory.add_host(hostname, group=self.DRIVER)
            for group in instance["groups"]:
                self.inventory.add_child(group, hostname)
            for var, value in self.instance_vars(instance).items():
                self.inventory.set_variable(hostname, var, untemplated(value))
            if self.get_option("connection_vars"):
                for var, value in (instance.get("connection") or {}).items():
                    self.inventory.set_variable(hostname, var, untemplated(value))
            if self.get_option("role_vars"):
                for var, value in (instance.get("role_vars") or {}).items():
                    if value is not None:
                        self.inventory.set_variable(hostname, var, untemplated(value))
            hostvars = self.inventory.get_host(hostname).get_vars()
            self._set_composite_vars(self.get_option("compose"), hostvars, hostname, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, hostname, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, hostname, strict=strict)
        if fleet.get("hypervisors"):
            # every hypervisor read, empty ones too: the destinations a live migration may choose among
            var = "%shypervisors_%s" % (VAR_PREFIX, self.DRIVER)
            previous = self.inventory.groups["all"].get_vars().get(var) or []
            self.inventory.set_variable("all", var, untemplated(list(previous) + fleet["hypervisors"]))
        if fleet.get("unreachable"):
            # on 'all', so that the report (on localhost) sees it even when no host of the driver is left
            var = "%sunreachable_%s" % (VAR_PREFIX, self.DRIVER)
            previous = self.inventory.groups["all"].get_vars().get(var) or []
            self.inventory.set_variable("all", var, untemplated(list(previous) + fleet["unreachable"]))

    def instance_vars(self, instance):
        out = dict((VAR_PREFIX + key, instance.get(key)) for key in HOST_VARS)
        out.update((VAR_PREFIX + key, value) for key, value in (instance.get("extra_vars") or {}).items())
        return out


def local_connection_vars():
    """Connection variables of a host the controller itself acts for (a local URI, a XenAPI pool):
    the local connection, with the interpreter this controller runs (it has the SDKs)."""
    out = dict(ansible_connection="local")
    if sys.executable:
        out["ansible_python_interpreter"] = sys.executable
    return out
