"""Schema tables: the classes the simulator knows, their fields, types and defaults.

Type notation (used by the store for defaults and by the dispatcher to check
parameters and marshal results):

    s  string     i  int (64-bit, a decimal string on XML-RPC)   f  float
    b  bool       dt datetime ('YYYYMMDDTHH:MM:SSZ')
    e:E           a value of enumeration E (ENUMS): matched case-insensitively on input,
                  stored and answered in the datamodel's case ('disk' becomes 'Disk')
    ref:C         reference to an object of class C ('OpaqueRef:NULL' for none)
    set:T         list of T
    map:T         map string -> T

A field is (name, type, default, rw).  rw=True gives it generic ``set_<field>``
and, for maps/sets, ``add_to_<f>``/``remove_from_<f>`` resp. ``add_<f>``/``remove_<f>``.
A field given as (name, type, REV, cls, field) is computed: the refs of every
``cls`` object whose ``field`` points at this object (``VM.VBDs`` and friends).
"""

NULL = "OpaqueRef:NULL"
EPOCH = "19700101T00:00:00Z"
REV = object()


def _f(name, typ, default=None, rw=False):
    return (name, typ, default, rw)


def _rev(name, cls, field):
    return (name, "set:ref:%s" % cls, REV, cls, field)


# Enumerations the simulator's fields and parameters use, values in xapi's case (ocaml/idl/
# datamodel.ml, datamodel_vm.ml, datamodel_host.ml).  xapi unmarshals an enum with
# ppx_deriving_rpc, which matches the wire string case-insensitively, and marshals it back
# as the datamodel spells it.
ENUMS = {
    "vdi_type": ("system", "user", "ephemeral", "suspend", "crashdump", "ha_statefile", "metadata",
                 "redo_log", "rrd", "pvs_cache", "cbt_metadata"),
    "on_boot": ("reset", "persist"),
    "vbd_mode": ("RO", "RW"),
    "vbd_type": ("CD", "Disk", "Floppy"),
    "vif_locking_mode": ("network_default", "locked", "unlocked", "disabled"),
    "vif_ipv4_configuration_mode": ("None", "Static", "DHCP"),
    "vif_ipv6_configuration_mode": ("None", "Static", "Autoconf"),
    "network_default_locking_mode": ("unlocked", "disabled"),
    "network_purpose": ("nbd", "insecure_nbd"),
    "ip_configuration_mode": ("None", "DHCP", "Static"),
    "ipv6_configuration_mode": ("None", "DHCP", "Static", "Autoconf"),
    "primary_address_type": ("IPv4", "IPv6"),
    "pif_igmp_status": ("enabled", "disabled", "unknown"),
    "vm_power_state": ("Halted", "Paused", "Running", "Suspended"),
    "on_normal_exit": ("destroy", "restart"),
    "on_crash_behaviour": ("destroy", "coredump_and_destroy", "restart", "coredump_and_restart", "preserve",
                           "rename_restart"),
    "domain_type": ("hvm", "pv", "pv_in_pvh", "pvh", "unspecified"),
    "tristate_type": ("yes", "no", "unspecified"),
    "console_protocol": ("vt100", "rfb", "rdp"),
    "task_status_type": ("pending", "success", "failure", "cancelling", "cancelled"),
    "host_display": ("enabled", "disable_on_reboot", "disabled", "enable_on_reboot"),
}
ENUM_CANONICAL = {name: {v.lower(): v for v in values} for name, values in ENUMS.items()}


def canonical_enum(name, value):
    """The datamodel's spelling of ``value`` in enumeration ``name``, or None if it is not one."""
    return ENUM_CANONICAL[name].get(value.lower())


def default_for(typ):
    if typ == "s":
        return ""
    if typ == "i":
        return 0
    if typ == "f":
        return 0.0
    if typ == "b":
        return False
    if typ == "dt":
        return EPOCH
    if typ.startswith("e:"):
        return ENUMS[typ[2:]][0]
    if typ.startswith("ref:"):
        return NULL
    if typ.startswith("set:"):
        return []
    if typ.startswith("map:"):
        return {}
    raise ValueError(typ)


NAMED = [_f("name_label", "s", "", True), _f("name_description", "s", "", True)]
OPS = [_f("allowed_operations", "set:s"), _f("current_operations", "map:s")]

CLASSES = {
    "pool": [
        _f("uuid", "s"), _f("name_label", "s", "", True), _f("name_description", "s", "", True),
        _f("master", "ref:host"), _f("default_SR", "ref:SR", None, True),
        _f("suspend_image_SR", "ref:SR", None, True), _f("crash_dump_SR", "ref:SR", None, True),
        _f("other_config", "map:s", None, True), _f("ha_enabled", "b"),
        _f("ha_configuration", "map:s"), _f("ha_statefiles", "set:s"),
        _f("ha_host_failures_to_tolerate", "i"), _f("ha_plan_exists_for", "i"),
        _f("ha_allow_overcommit", "b", False, True), _f("ha_overcommitted", "b"),
        _f("blobs", "map:s"), _f("tags", "set:s", None, True), _f("gui_config", "map:s", None, True),
        _f("health_check_config", "map:s", None, True), _f("wlb_url", "s"), _f("wlb_username", "s"),
        _f("wlb_enabled", "b", False, True), _f("wlb_verify_cert", "b", False, True),
        _f("redo_log_enabled", "b"), _f("redo_log_vdi", "ref:VDI"), _f("vswitch_controller", "s"),
        _f("restrictions", "map:s"), _f("metadata_VDIs", "set:ref:VDI"),
        _f("ha_cluster_stack", "s", "xhad"), _f("allowed_operations", "set:s"),
        _f("current_operations", "map:s"), _f("guest_agent_config", "map:s"),
        _f("cpu_info", "map:s"), _f("policy_no_vendor_device", "b", False, True),
        _f("live_patching_disabled", "b", False, True), _f("igmp_snooping_enabled", "b"),
        _f("uefi_certificates", "s"), _f("is_psr_pending", "b"), _f("tls_verification_enabled", "b"),
        _f("repositories", "set:ref:Repository"), _f("client_certificate_auth_enabled", "b"),
        _f("client_certificate_auth_name", "s"), _f("repository_proxy_url", "s"),
        _f("repository_proxy_username", "s"), _f("repository_proxy_password", "ref:secret"),
        _f("migration_compression", "b", False, True), _f("coordinator_bias", "b", True, True),
    ],
    "host": [
        _f("uuid", "s")] + NAMED + OPS + [
        _f("memory_overhead", "i"), _f("API_version_major", "i", 2), _f("API_version_minor", "i", 21),
        _f("API_version_vendor", "s", "XenSource"), _f("API_version_vendor_implementation", "map:s"),
        _f("enabled", "b", True), _f("software_version", "map:s"), _f("other_config", "map:s", None, True),
        _f("capabilities", "set:s"), _f("cpu_configuration", "map:s"), _f("sched_policy", "s", "credit"),
        _f("supported_bootloaders", "set:s"), _rev("resident_VMs", "VM", "resident_on"),
        _f("logging", "map:s", None, True), _rev("PIFs", "PIF", "host"),
        _f("suspend_image_sr", "ref:SR", None, True), _f("crash_dump_sr", "ref:SR", None, True),
        _f("crashdumps", "set:ref:host_crashdump"), _f("patches", "set:ref:host_patch"),
        _f("updates", "set:ref:pool_update"), _rev("PBDs", "PBD", "host"),
        _f("host_CPUs", "set:ref:host_cpu"), _f("cpu_info", "map:s"), _f("hostname", "s", "", True),
        _f("address", "s", "", True), _f("metrics", "ref:host_metrics"), _f("license_params", "map:s"),
        _f("ha_statefiles", "set:s"), _f("ha_network_peers", "set:s"), _f("blobs", "map:s"),
        _f("tags", "set:s", None, True), _f("external_auth_type", "s"),
        _f("external_auth_service_name", "s"), _f("external_auth_configuration", "map:s"),
        _f("edition", "s", "xenserver-premium"), _f("license_server", "map:s", None, True),
        _f("bios_strings", "map:s"), _f("power_on_mode", "s"), _f("power_on_config", "map:s"),
        _f("local_cache_sr", "ref:SR"), _f("chipset_info", "map:s"), _f("PCIs", "set:ref:PCI"),
        _f("PGPUs", "set:ref:PGPU"), _f("PUSBs", "set:ref:PUSB"), _f("ssl_legacy", "b"),
        _f("guest_VCPUs_params", "map:s", None, True), _f("display", "e:host_display", "enabled", True),
        _f("virtual_hardware_platform_versions", "set:i"), _f("control_domain", "ref:VM"),
        _f("updates_requiring_reboot", "set:ref:pool_update"), _f("features", "set:ref:Feature"),
        _f("iscsi_iqn", "s"), _f("multipathing", "b"), _f("uefi_certificates", "s"),
        _f("certificates", "set:ref:Certificate"), _f("editions", "set:s"),
        _f("pending_guidances", "set:s"), _f("tls_verification_enabled", "b"),
        _f("last_software_update", "dt"), _f("https_only", "b"),
    ],
    "host_metrics": [
        _f("uuid", "s"), _f("memory_total", "i"), _f("memory_free", "i"), _f("live", "b", True),
        _f("last_updated", "dt"), _f("other_config", "map:s", None, True),
    ],
    "SR": [
        _f("uuid", "s")] + NAMED + OPS + [
        _rev("VDIs", "VDI", "SR"), _rev("PBDs", "PBD", "SR"),
        _f("virtual_allocation", "i"), _f("physical_utilisation", "i"), _f("physical_size", "i"),
        _f("type", "s"), _f("content_type", "s"), _f("shared", "b", False, True),
        _f("other_config", "map:s", None, True), _f("tags", "set:s", None, True),
        _f("sm_config", "map:s", None, True), _f("blobs", "map:s"), _f("local_cache_enabled", "b"),
        _f("introduced_by", "ref:DR_task"), _f("clustered", "b"), _f("is_tools_sr", "b"),
    ],
    "SM": [
        _f("uuid", "s")] + NAMED + [
        _f("type", "s"), _f("vendor", "s"), _f("copyright", "s"), _f("version", "s"),
        _f("required_api_version", "s"), _f("configuration", "map:s"), _f("capabilities", "set:s"),
        _f("features", "map:i"), _f("other_config", "map:s", None, True), _f("driver_filename", "s"),
        _f("required_cluster_stack", "set:s"),
    ],
    "PBD": [
        _f("uuid", "s"), _f("host", "ref:host"), _f("SR", "ref:SR"), _f("device_config", "map:s"),
        _f("currently_attached", "b"), _f("other_config", "map:s", None, True),
    ],
    "VDI": [
        _f("uuid", "s")] + NAMED + OPS + [
        _f("SR", "ref:SR"), _rev("VBDs", "VBD", "VDI"), _f("crash_dumps", "set:ref:crashdump"),
        _f("virtual_size", "i"), _f("physical_utilisation", "i"), _f("type", "e:vdi_type", "user"),
        _f("sharable", "b"), _f("read_only", "b"), _f("other_config", "map:s", None, True),
        _f("storage_lock", "b"), _f("location", "s"), _f("managed", "b", True), _f("missing", "b"),
        _f("parent", "ref:VDI"), _f("xenstore_data", "map:s"), _f("sm_config", "map:s", None, True),
        _f("is_a_snapshot", "b"), _f("snapshot_of", "ref:VDI"), _rev("snapshots", "VDI", "snapshot_of"),
        _f("snapshot_time", "dt"), _f("tags", "set:s", None, True), _f("allow_caching", "b"),
        _f("on_boot", "e:on_boot", "persist"), _f("metadata_of_pool", "ref:pool"), _f("metadata_latest", "b"),
        _f("is_tools_iso", "b"), _f("cbt_enabled", "b"),
    ],
    "VBD": [
        _f("uuid", "s")] + OPS + [
        _f("VM", "ref:VM"), _f("VDI", "ref:VDI"), _f("device", "s"), _f("userdevice", "s", "", True),
        _f("bootable", "b", False, True), _f("mode", "e:vbd_mode", "RW", True), _f("type", "e:vbd_type", "Disk", True),
        _f("unpluggable", "b", True, True), _f("storage_lock", "b"), _f("empty", "b"),
        _f("other_config", "map:s", None, True), _f("currently_attached", "b"), _f("status_code", "i"),
        _f("status_detail", "s"), _f("runtime_properties", "map:s"),
        _f("qos_algorithm_type", "s", "", True), _f("qos_algorithm_params", "map:s", None, True),
        _f("qos_supported_algorithms", "set:s"), _f("metrics", "ref:VBD_metrics"),
    ],
    "VIF": [
        _f("uuid", "s")] + OPS + [
        _f("device", "s"), _f("network", "ref:network"), _f("VM", "ref:VM"), _f("MAC", "s"),
        _f("MTU", "i", 1500), _f("other_config", "map:s", None, True), _f("currently_attached", "b"),
        _f("status_code", "i"), _f("status_detail", "s"), _f("runtime_properties", "map:s"),
        _f("qos_algorithm_type", "s", "", True), _f("qos_algorithm_params", "map:s", None, True),
        _f("qos_supported_algorithms", "set:s"), _f("metrics", "ref:VIF_metrics"),
        _f("MAC_autogenerated", "b"), _f("locking_mode", "e:vif_locking_mode", "network_default", True),
        _f("ipv4_allowed", "set:s", None, True), _f("ipv6_allowed", "set:s", None, True),
        _f("ipv4_configuration_mode", "e:vif_ipv4_configuration_mode", "None"), _f("ipv4_addresses", "set:s"),
        _f("ipv4_gateway", "s"), _f("ipv6_configuration_mode", "e:vif_ipv6_configuration_mode", "None"),
        _f("ipv6_addresses", "set:s"), _f("ipv6_gateway", "s"), _f("reserved_pci", "ref:PCI"),
    ],
    "network": [
        _f("uuid", "s")] + NAMED + OPS + [
        _rev("VIFs", "VIF", "network"), _rev("PIFs", "PIF", "network"), _f("MTU", "i", 1500, True),
        _f("other_config", "map:s", None, True), _f("bridge", "s"), _f("managed", "b", True),
        _f("blobs", "map:s"), _f("tags", "set:s", None, True),
        _f("default_locking_mode", "e:network_default_locking_mode", "unlocked"),
        _f("assigned_ips", "map:s"), _f("purpose", "set:e:network_purpose"),
    ],
    "PIF": [
        _f("uuid", "s"), _f("device", "s"), _f("network", "ref:network"), _f("host", "ref:host"),
        _f("MAC", "s"), _f("MTU", "i", 1500), _f("VLAN", "i", -1), _f("metrics", "ref:PIF_metrics"),
        _f("physical", "b", True), _f("currently_attached", "b", True),
        _f("ip_configuration_mode", "e:ip_configuration_mode", "None"),
        _f("IP", "s"), _f("netmask", "s"), _f("gateway", "s"), _f("DNS", "s"),
        _f("bond_slave_of", "ref:Bond"), _f("bond_master_of", "set:ref:Bond"),
        _f("VLAN_master_of", "ref:VLAN"), _f("VLAN_slave_of", "set:ref:VLAN"), _f("management", "b"),
        _f("other_config", "map:s", None, True), _f("disallow_unplug", "b", False, True),
        _f("tunnel_access_PIF_of", "set:ref:tunnel"), _f("tunnel_transport_PIF_of", "set:ref:tunnel"),
        _f("ipv6_configuration_mode", "e:ipv6_configuration_mode", "None"), _f("IPv6", "set:s"),
        _f("ipv6_gateway", "s"),
        _f("primary_address_type", "e:primary_address_type", "IPv4"), _f("managed", "b", True),
        _f("properties", "map:s"),
        _f("capabilities", "set:s"), _f("igmp_snooping_status", "e:pif_igmp_status", "unknown"),
        _f("sriov_physical_PIF_of", "set:ref:network_sriov"), _f("sriov_logical_PIF_of", "set:ref:network_sriov"),
        _f("PCI", "ref:PCI"),
    ],
    "VM": [
        _f("uuid", "s"), _f("allowed_operations", "set:s"), _f("current_operations", "map:s"),
        _f("name_label", "s", "", True), _f("name_description", "s", "", True),
        _f("power_state", "e:vm_power_state", "Halted"), _f("user_version", "i", 1, True),
        _f("is_a_template", "b", False, True), _f("is_default_template", "b"),
        _f("suspend_VDI", "ref:VDI", None, True), _f("resident_on", "ref:host"),
        _f("scheduled_to_be_resident_on", "ref:host"), _f("affinity", "ref:host", None, True),
        _f("memory_overhead", "i"), _f("memory_target", "i"),
        _f("memory_static_max", "i", 1073741824), _f("memory_dynamic_max", "i", 1073741824),
        _f("memory_dynamic_min", "i", 1073741824), _f("memory_static_min", "i", 536870912),
        _f("VCPUs_params", "map:s", None, True), _f("VCPUs_max", "i", 1), _f("VCPUs_at_startup", "i", 1),
        _f("actions_after_shutdown", "e:on_normal_exit", "destroy", True),
        _f("actions_after_reboot", "e:on_normal_exit", "restart", True),
        _f("actions_after_crash", "e:on_crash_behaviour", "restart", True), _rev("consoles", "console", "VM"),
        _rev("VIFs", "VIF", "VM"), _rev("VBDs", "VBD", "VM"), _f("VUSBs", "set:ref:VUSB"),
        _f("crash_dumps", "set:ref:crashdump"), _f("VTPMs", "set:ref:VTPM"),
        _f("PV_bootloader", "s", "", True), _f("PV_kernel", "s", "", True), _f("PV_ramdisk", "s", "", True),
        _f("PV_args", "s", "", True), _f("PV_bootloader_args", "s", "", True),
        _f("PV_legacy_args", "s", "", True), _f("HVM_boot_policy", "s", "BIOS order", True),
        _f("HVM_boot_params", "map:s", None, True), _f("HVM_shadow_multiplier", "f", 1.0),
        _f("platform", "map:s", None, True), _f("PCI_bus", "s", "", True),
        _f("other_config", "map:s", None, True), _f("domid", "i", -1), _f("domarch", "s"),
        _f("last_boot_CPU_flags", "map:s"), _f("is_control_domain", "b"), _f("metrics", "ref:VM_metrics"),
        _f("guest_metrics", "ref:VM_guest_metrics"), _f("last_booted_record", "s"),
        _f("recommendations", "s", "", True), _f("xenstore_data", "map:s", None, True),
        _f("ha_always_run", "b", False, True), _f("ha_restart_priority", "s", "", True),
        _f("is_a_snapshot", "b"), _f("snapshot_of", "ref:VM"), _rev("snapshots", "VM", "snapshot_of"),
        _f("snapshot_time", "dt"), _f("transportable_snapshot_id", "s"), _f("blobs", "map:s"),
        _f("tags", "set:s", None, True), _f("blocked_operations", "map:s", None, True),
        _f("snapshot_info", "map:s"), _f("snapshot_metadata", "s"), _f("parent", "ref:VM"),
        _rev("children", "VM", "parent"), _f("bios_strings", "map:s"),
        _f("protection_policy", "ref:VMPP"), _f("is_snapshot_from_vmpp", "b"),
        _f("snapshot_schedule", "ref:VMSS"), _f("is_vmss_snapshot", "b"), _f("appliance", "ref:VM_appliance"),
        _f("start_delay", "i"), _f("shutdown_delay", "i"), _f("order", "i"), _f("VGPUs", "set:ref:VGPU"),
        _f("attached_PCIs", "set:ref:PCI"), _f("suspend_SR", "ref:SR", None, True), _f("version", "i"),
        _f("generation_id", "s"), _f("hardware_platform_version", "i", 0, True),
        _f("has_vendor_device", "b", False, True), _f("requires_reboot", "b"), _f("reference_label", "s"),
        _f("domain_type", "e:domain_type", "hvm", True), _f("NVRAM", "map:s", None, True),
        _f("pending_guidances", "set:s"),
    ],
    "VM_metrics": [
        _f("uuid", "s"), _f("memory_actual", "i"), _f("VCPUs_number", "i"), _f("VCPUs_utilisation", "map:f"),
        _f("VCPUs_CPU", "map:i"), _f("VCPUs_params", "map:s"), _f("VCPUs_flags", "map:s"),
        _f("state", "set:s"), _f("start_time", "dt"), _f("install_time", "dt"), _f("last_updated", "dt"),
        _f("other_config", "map:s", None, True), _f("hvm", "b", True), _f("nested_virt", "b"),
        _f("nomigrate", "b"), _f("current_domain_type", "e:domain_type", "unspecified"),
    ],
    "VM_guest_metrics": [
        _f("uuid", "s"), _f("os_version", "map:s"), _f("PV_drivers_version", "map:s"),
        _f("PV_drivers_up_to_date", "b", True), _f("memory", "map:s"), _f("disks", "map:s"),
        _f("networks", "map:s"), _f("other", "map:s"), _f("last_updated", "dt"),
        _f("other_config", "map:s", None, True), _f("live", "b", True),
        _f("can_use_hotplug_vbd", "e:tristate_type", "yes"),
        _f("can_use_hotplug_vif", "e:tristate_type", "yes"), _f("PV_drivers_detected", "b", True),
    ],
    "console": [
        _f("uuid", "s"), _f("protocol", "e:console_protocol", "rfb"), _f("location", "s"), _f("VM", "ref:VM"),
        _f("other_config", "map:s", None, True),
    ],
    "task": [
        _f("uuid", "s")] + NAMED + [
        _f("allowed_operations", "set:s"), _f("current_operations", "map:s"),
        _f("created", "dt"), _f("finished", "dt"), _f("status", "e:task_status_type", "pending"),
        _f("resident_on", "ref:host"), _f("progress", "f"), _f("type", "s"), _f("result", "s"),
        _f("error_info", "set:s"), _f("other_config", "map:s", None, True), _f("subtask_of", "ref:task"),
        _rev("subtasks", "task", "subtask_of"), _f("backtrace", "s"),
    ],
    "message": [
        _f("uuid", "s"), _f("name", "s"), _f("priority", "i"), _f("cls", "s"), _f("obj_uuid", "s"),
        _f("timestamp", "dt"), _f("body", "s"),
    ],
}

# The name given to a class in HANDLE_INVALID / UUID_INVALID.
PUBLIC_NAMES = {c: c for c in CLASSES}

# Classes whose generic create/destroy xapi exposes (others have specific constructors).
GENERIC_CREATE = {"network", "console", "VM_guest_metrics"}
GENERIC_DESTROY = {"network", "console", "task", "message"}

# Classes not written to the state file.
VOLATILE = {"task"}


def fields(cls):
    return CLASSES[cls]


def field_map(cls):
    return {f[0]: f for f in CLASSES[cls]}


def find_class(name):
    """Case-insensitive lookup of a class name; None if unknown."""
    low = name.lower()
    for c in CLASSES:
        if c.lower() == low:
            return c
    return None
