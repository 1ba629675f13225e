# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which corpus values a module may accept, and why (every other value must be refused).

An accepted case was only ever run in check mode; it must also have left the beds as they
were.  A NUL byte is never acceptable (NovaopsModule refuses it in any option).  Three kinds
of acceptance:

- the value means "not given" or "nothing" (null, '', an empty list or map) or is a legitimate
  corner value (0 where 0 is a documented meaning);
- the option is data: text stored as given, never parsed, shelled or used as a path;
- the option is not used by this base call, which is converged (the image exists, the disk is
  already imported, the VM exists): those must then predict no change (changed=False).
"""

from __future__ import annotations

NOT_GIVEN = "null, '' or an empty list/map is the option left unset or asking for nothing"
TEXT_KINDS = {"empty", "whitespace", "huge", "unicode", "newline", "traversal", "absolute_elsewhere",
              "shell_semicolon", "shell_subst", "shell_backtick", "shell_pipe_amp", "option_injection",
              "wrong_type_dict", "wrong_type_list", "symlink_escape", "dir_not_file", "proc_file", "device_file",
              "relative_dot", "bad_uuid", "uuid_bad_hex", "uuid_injection", "uuid_nil_unknown", "uuid_glob",
              "opaque_ref", "url_file_scheme", "url_malformed", "url_unreachable", "url_credentials",
              "url_scheme_only", "special_dash_leading", "glob", "very_long_name", "mac_bad", "mac_broadcast",
              "mac_multicast", "mac_short", "weird_keys", "nested_values"}

# Data stored as given (labels, descriptions, opaque ids, maps of strings): any text but NUL.
FREE_TEXT = {
    "ovs_vif": {"iface_id": "the opaque external_ids:iface-id (a Neutron port id, an OVN logical port name)",
                "vm_uuid": "the opaque external_ids:vm-uuid, stored as given",
                "external_ids": "external_ids keys and values are free strings in OVSDB"},
    "xen_vm": {"name": "a XenAPI name_label is free text", "new_name": "a XenAPI name_label is free text",
               "description": "a XenAPI name_description is free text",
               "other_config": "a XenAPI other_config map of free strings",
               "xenstore_data": "xenstore_data entries are guest data, free strings",
               "disks[0].name": "a VDI name_label is free text",
               "resize_orig_suffix": "the end of a XenAPI name_label (a resized original's, looked for to refuse a "
                                     "reboot during a resize), free text"},
    "xen_vm_info": {"name": "a name_label looked for: no VM has it", "filters": "filters on record fields: none match"},
    "xen_rescue": {"rescue_suffix": "the end of a XenAPI name_label (the rescue VM's), free text",
                   "name_from": "words said in a failure message, free text",
                   "resize_orig_suffix": "the end of a XenAPI name_label (a resized original's), free text"},
    "xen_resize": {"carrier_suffix": "the end of a XenAPI name_label (the carrier VM's), free text",
                   "name_from": "words said in a failure message, free text"},
    "libvirt_domain_info": {"name": "a domain name looked for: no domain has it"},
    "xen_snapshot": {"image_name": "a Glance image name is free text",
                     "properties": "Glance image properties are free strings"},
    "libvirt_migrate": {"vif_host": "the inventory's name of the host the caller plugs the VIFs on: only checked to "
                                    "be set, never reached, parsed or shelled"},
    "libvirt_console": {"token_key": "an HMAC key is any secret of at least 32 bytes, never parsed or shelled"},
    "libvirt_snapshot": {"image_name": "a Glance image name is free text",
                         "properties": "Glance image properties are free strings"},
}
# Free text with rules of its own, checked by the module: only these kinds are left.
NAME_KINDS = {
    ("libvirt_domain", "name"): ({"unicode", "option_injection", "wrong_type_dict", "wrong_type_list", "glob"},
                                 "a libvirt domain name is any printable text without '/' (check_domain_name); it "
                                 "never reaches a shell"),
    ("ovs_vif", "port"): ({"glob"}, "'*' is a name the kernel allows a network device (check_device_name)"),
    ("libvirt_domain", "vifs[0].bridge"): ({"glob"}, "'*' is a name the kernel allows a network device"),
    ("libvirt_domain", "volumes[0].name"): ({"unicode", "option_injection", "wrong_type_dict", "wrong_type_list"},
                                            "a plain file name in the instance directory (InstanceDir.file); it is "
                                            "always given as a full path, never as an option"),
    ("libvirt_domain", "vifs[0].id"): ({"uuid_nil_unknown"}, "a well-formed UUID: Neutron's port ids are UUIDs"),
    ("libvirt_domain", "instances_path"): ({"dir_not_file"}, "an existing directory: where instances live is the "
                                                             "operator's choice"),
    ("libvirt_domain", "image.ca_path"): (TEXT_KINDS, "kept in the recorded desired image and read only for an https "
                                                      "image URL, where a bad one fails as ca_path (tls.client_context)"),
}

# Options this converged base call does not use; they must then predict no change.
UNUSED = {
    "libvirt_domain": {"glance": "Glance is asked only for image.id or rescue_image.id; this base boots a local file"},
    "libvirt_snapshot": {"glance.ca_path": "read only for an https Glance; the bed's is http",
                         "glance.token": "the bed's Glance runs without keystone and ignores tokens",
                         "glance.project_id": "a Glance without keystone takes any project id",
                         "glance.roles": "a Glance without keystone takes any role names",
                         "snapshots_directory": "the image exists (name and marker): no snapshot is taken"},
    "xen_snapshot": {"glance.ca_path": "read only for an https Glance; the bed's is http",
                     "glance.token": "the bed's Glance runs without keystone and ignores tokens",
                     "glance.project_id": "a Glance without keystone takes any project id",
                     "glance.roles": "a Glance without keystone takes any role names"},
    "xen_image": {"glance.ca_path": "read only for an https Glance; the bed's is http",
                  "glance.token": "the bed's Glance runs without keystone and ignores tokens",
                  "glance.project_id": "a Glance without keystone takes any project id",
                  "glance.roles": "a Glance without keystone takes any role names"},
    "vhd_migrate": {"ssh_": "the disk is already imported on pool b: nothing is sent over ssh",
                    "staging_root": "the disk is already imported: nothing is staged",
                    "bwlimit": "the disk is already imported: nothing is sent",
                    "instance_uuid": "the disk is already imported: no staging directory is named"},
    "xen_vdi_resize": {"device_dir": "a resize to the same size plugs nothing into the helper VM",
                       "helper_vm_uuid": "a resize to the same size plugs nothing into the helper VM"},
    "xen_vm": {"template": "the VM exists: the template is read only to create one"},
    "libvirt_resize": {"ssh_": "the resize is already migrated: nothing is sent over ssh"},
    "xen_rescue": {"template": "the rescue VM exists: the template is read only to make one"},
    "xen_resize": {"ssh_": "the resize is done (it waits for confirm or revert): nothing is sent over ssh",
                   "template": "the resize is done: the template is read only to make the new VM",
                   "dest_username": "without dest_url the destination is the source pool, on the source's session",
                   "dest_password": "without dest_url the destination is the source pool, on the source's session",
                   "dest_validate_certs": "without dest_url the destination is the source pool, on the source's session",
                   "dest_ca_path": "without dest_url the destination is the source pool, on the source's session",
                   "helper_vm_uuid": "the helper VM is used only to shrink the root disk; this resize does not",
                   "device_dir": "the helper VM is used only to shrink the root disk; this resize does not",
                   "dest_helper_vm_uuid": "the destination's helper VM is used only with grow_filesystem",
                   "dest_device_dir": "the destination's helper VM is used only with grow_filesystem",
                   "flavor.ephemeral_gb": "not used on XenAPI (accepted so that an instance's flavor fits as it is)",
                   "flavor.swap_mb": "not used on XenAPI (accepted so that an instance's flavor fits as it is)"},
}

# Corner values with a documented meaning.
SPECIFIC = {
    "ovs_vif": {"ips": {"empty": "a VIF without addresses: only DHCP and link-local leave it"}},
    "ovs_qos_queue": {"flow_priority": {"zero": "OpenFlow priority 0 is valid"},
                      "queues[0].id": {"zero": "queue 0 is valid (kernel class 1:1)"},
                      "queues[0].priority": {"zero": "HTB priority 0 is the highest"},
                      "queues[0].burst": {"zero": "burst 0 is OVS's default burst"},
                      "queues[0].source_ips": {"empty": "a queue without flows: only its class"}},
    "libvirt_domain": {"flavor.root_gb": {"zero": "0 keeps the image's size, as Nova's flavors"},
                       "flavor.ephemeral_gb": {"zero": "0 is no disk.local"},
                       "flavor.swap_mb": {"zero": "0 is no disk.swap"},
                       "vifs[0].ips": {"empty": "a VIF without addresses"},
                       "vnc.port": {"negative": "-1 is 'any free port' (libvirt's autoport)"}},
    "ovs_qos_queue_info": {"tolerance": {"zero": "0 asks for the exact rate"}},
    "xen_vm": {"disks": {"element_empty_dict": "an entry without keys is the disk at its index, nothing asked of it"}},
    "libvirt_snapshot": {"bandwidth": {"zero": "0 is no limit"}},
    "libvirt_console": {"proxy_url": {"url_unreachable": "the module never connects to the proxy: the link is "
                                                         "for a browser that can reach it"}},
    "libvirt_resize": {"bwlimit": {"zero": "0 is no limit"},
                       "flavor.root_mb": {"zero": "not used by libvirt (its root disk is sized by root_gb): accepted "
                                                  "so that one flavor serves both drivers, and left out"}},
    "libvirt_migrate": {"bandwidth": {"zero": "0 is no limit"}},
    "vhd_migrate": {"bwlimit": {"zero": "0 is no limit"}},
    "libvirt_image_cache": {"min_age_hours": {"zero": "0 removes every unused base whatever its age (check mode "
                                                      "lists it)"}},
    "xen_image_cache": {"min_age_hours": {"zero": "0 removes every unused cached image whatever its age (check mode "
                                                  "lists it)"}},
    "xen_resize": {"flavor.root_gb": {"zero": "0 keeps the root disk's size, as Nova's flavors"},
                   "flavor.root_mb": {"zero": "0 keeps the root disk's size, as Nova's flavors"}},
}


def _unused(case):
    for prefix, reason in UNUSED.get(case.module, {}).items():
        if case.option == prefix or case.option.startswith(prefix):
            return reason
    return None


def acceptable(case, changed):
    """The reason why ``case`` (accepted in check mode, predicting ``changed``) is legitimate, or None."""
    if "nul_byte" in case.kind:
        return None
    if case.kind == "null" or (case.kind == "empty" and case.value in ("", [], {})) or \
            (case.kind == "huge" and isinstance(case.value, (list, dict)) and _container_of_data(case)):
        return NOT_GIVEN if case.kind != "huge" else "a long list or map of plain data"
    if case.kind == "zero" and case.option.endswith("timeout"):
        return "0 s: a wait, if any, fails at once and clearly"
    if case.kind == "zero" and case.option == "stale_lock_age":
        return "0 makes every other host's mark stale, as documented (cleared only with clear_stale_lock)"
    free = FREE_TEXT.get(case.module, {}).get(case.option)
    if free and case.kind in TEXT_KINDS:
        return free
    kinds, reason = NAME_KINDS.get((case.module, case.option), (set(), None))
    if case.kind in kinds:
        return reason
    specific = SPECIFIC.get(case.module, {}).get(case.option, {}).get(case.kind)
    if specific:
        return specific
    unused = _unused(case)
    if unused and not changed:
        return unused
    return None


def _container_of_data(case):
    """A huge list or map is only data where the option is (free-text maps, role/id lists)."""
    return case.option in FREE_TEXT.get(case.module, {}) or case.option.endswith(("roles", "properties"))
