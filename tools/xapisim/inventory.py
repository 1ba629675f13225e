"""The initial inventory: pool, host, control domain, helper VM, networks, SRs, templates.

Identities (uuids and refs of the fixed objects) are kept in <state-dir>/identity.json so
that they survive restarts and ``sim.reset``.
"""

import os
import random
import uuid as uuidlib

from .api import now_dt
from .schema import NULL
from .store import new_ref

PRODUCT_VERSION = "8.2.1"

PROVISION_10G = ('<provision><disk device="0" size="10737418240" sr="" bootable="true" '
                 'type="system"/></provision>')
PROVISION_8G = ('<provision><disk device="0" size="8589934592" sr="" bootable="true" '
                'type="system"/></provision>')
RECOMMENDATIONS = ('<restrictions><restriction field="memory-static-max" max="1649267441664"/>'
                   '<restriction field="vcpus-max" max="32"/><restriction field="has-vendor-device" '
                   'value="false"/><restriction max="255" property="number-of-vbds"/>'
                   '<restriction max="7" property="number-of-vifs"/></restrictions>')

TEMPLATES = [
    {"name_label": "Debian Bookworm 12", "name_description": "Template that allows VM installation from "
     "Xen-aware Debian-based distros. To use this template from the CLI, install your VM using vm-install, "
     "then set other-config-install-repository to the path to your network repository, e.g. "
     "http://<server>/<path> or nfs:server:/<path>", "disks": PROVISION_10G, "linux": True,
     "distro": "debianbookworm"},
    {"name_label": "Ubuntu Jammy Jellyfish 22.04", "name_description": "Template for Ubuntu 22.04",
     "disks": PROVISION_10G, "linux": True, "distro": "ubuntujammy"},
    {"name_label": "CentOS 7", "name_description": "Template that allows VM installation from Xen-aware "
     "EL-based distros.", "disks": PROVISION_10G, "linux": True, "distro": "rhel7"},
    {"name_label": "Other install media", "name_description": "Template that allows VM installation from "
     "install media", "disks": PROVISION_8G, "linux": False, "distro": ""},
]


def new_identity():
    def u():
        return str(uuidlib.uuid4())
    return {
        "pool": u(), "pool_ref": new_ref(), "host": u(), "host_ref": new_ref(),
        "sr": u(), "sr_ref": new_ref(), "iso_sr": u(), "helper_vm": u(), "helper_ref": new_ref(),
        "dom0": u(), "dom0_ref": new_ref(), "net0": u(), "net_internal": u(),
        "mac_seed": "%06x" % random.randrange(1 << 24),
    }


def random_mac():
    # xapi-style locally administered unicast address
    b = [random.randrange(256) for _ in range(6)]
    b[0] = (b[0] & 0xFC) | 0x02
    return ":".join("%02x" % x for x in b)


def create(sim):
    st = sim.store
    ident = sim.identity
    cfg = sim.config
    host = ident["host_ref"]
    sr = ident["sr_ref"]
    hostname = "xapisim-%s" % cfg.name

    hm = st.create("host_metrics", {"memory_total": 64 * 1024 ** 3, "memory_free": 60 * 1024 ** 3,
                                    "live": True, "last_updated": now_dt()})
    st.create("pool", {"uuid": ident["pool"], "name_label": cfg.name, "master": host, "default_SR": sr,
                       "suspend_image_SR": sr, "crash_dump_SR": sr,
                       "other_config": {"memory-ratio-hvm": "0.25", "memory-ratio-pv": "0.25"},
                       "cpu_info": {"cpu_count": "8", "socket_count": "1", "vendor": "GenuineIntel"},
                       "restrictions": {"restrict_vswitch_controller": "false"}},
              ref=ident["pool_ref"])
    st.create("host", {
        "uuid": ident["host"], "name_label": hostname, "name_description": "Default install",
        "hostname": hostname, "address": cfg.host, "metrics": hm, "enabled": True,
        "software_version": {"product_version": PRODUCT_VERSION, "product_version_text": "8.2",
                             "product_version_text_short": "8.2", "platform_name": "XCP",
                             "platform_version": "3.2.1", "product_brand": "XenServer",
                             "build_number": "release/yangtze/master/58", "hostname": hostname,
                             "date": "2023-01-01", "dbv": "0.0.1", "xapi": "1.20", "xen": "4.13.5",
                             "linux": "4.19.0+1", "xencenter_min": "2.16", "xencenter_max": "2.21",
                             "network_backend": "openvswitch", "db_schema": "5.603"},
        "capabilities": ["xen-3.0-x86_64", "hvm-3.0-x86_32", "hvm-3.0-x86_32p", "hvm-3.0-x86_64"],
        "cpu_info": {"cpu_count": "8", "socket_count": "1", "vendor": "GenuineIntel", "speed": "2400.000",
                     "modelname": "xapisim virtual CPU", "family": "6", "model": "85", "stepping": "7",
                     "flags": "fpu de tsc msr pae", "features": "", "features_pv": "", "features_hvm": ""},
        "supported_bootloaders": ["pygrub", "eliloader"], "sched_policy": "credit",
        "API_version_vendor_implementation": {}, "license_params": {"sku_type": "free"},
        "control_domain": ident["dom0_ref"], "iscsi_iqn": "iqn.2023-01.sim:%s" % cfg.name,
        "other_config": {"iscsi_iqn": "iqn.2023-01.sim:%s" % cfg.name, "agent_start_time": now_dt()},
        "virtual_hardware_platform_versions": [0, 1, 2], "editions": ["xenserver-premium"],
    }, ref=host)

    # networks, PIF
    net0 = st.create("network", {"uuid": ident["net0"], "name_label": "Pool-wide network associated with eth0",
                                 "bridge": "xenbr0", "MTU": 1500, "other_config": {"automatic": "true"}})
    st.create("network", {"uuid": ident["net_internal"], "name_label": "Host internal management network",
                          "name_description": "Network on which guests will be assigned a private link-local "
                          "IP address which can be used to talk XenAPI", "bridge": "xenapi", "MTU": 1500,
                          "other_config": {"is_guest_installer_network": "true",
                                           "is_host_internal_management_network": "true",
                                           "ip_begin": "169.254.0.1", "ip_end": "169.254.255.254",
                                           "netmask": "255.255.0.0"}})
    st.create("PIF", {"device": "eth0", "network": net0, "host": host, "MAC": random_mac(), "MTU": 1500,
                      "management": True, "physical": True, "currently_attached": True,
                      "ip_configuration_mode": "Static", "IP": cfg.host, "netmask": "255.0.0.0",
                      "properties": {"gro": "on"}, "capabilities": ["fcoe"]})

    # storage
    st.create("SM", {"name_label": "Local EXT3 VHD", "name_description": "SR plugin representing disks as VHD "
                     "files stored on a local EXT3 filesystem, created inside an LVM volume",
                     "type": "ext", "vendor": "Citrix Systems Inc", "copyright": "(C) 2008 Citrix Systems Inc",
                     "version": "1.0", "required_api_version": "1.0",
                     "capabilities": ["SR_PROBE", "SR_SUPPORTS_LOCAL_CACHING", "SR_UPDATE", "THIN_PROVISIONING",
                                      "VDI_ACTIVATE", "VDI_ATTACH", "VDI_CLONE", "VDI_CONFIG_CBT",
                                      "VDI_CREATE", "VDI_DEACTIVATE", "VDI_DELETE", "VDI_DETACH",
                                      "VDI_GENERATE_CONFIG", "VDI_MIRROR", "VDI_READ_CACHING", "VDI_RESET_ON_BOOT",
                                      "VDI_RESIZE", "VDI_SNAPSHOT", "VDI_UPDATE"],
                     "features": {"SR_PROBE": 1, "SR_UPDATE": 1, "VDI_CREATE": 1, "VDI_DELETE": 1,
                                  "VDI_ATTACH": 1, "VDI_DETACH": 1, "VDI_CLONE": 1, "VDI_SNAPSHOT": 1,
                                  "VDI_RESIZE": 1, "THIN_PROVISIONING": 1},
                     "driver_filename": "/opt/xensource/sm/EXTSR"})
    sr_path = sim.sr_dir(ident["sr"])
    os.makedirs(sr_path, exist_ok=True)
    st.create("SR", {"uuid": ident["sr"], "name_label": "Local storage", "type": "ext", "content_type": "user",
                     "physical_size": cfg.sr_size, "other_config": {"i18n-key": "local-storage",
                                                                   "i18n-original-value-name_label": "Local storage"},
                     "sm_config": {"devserial": "scsi-sim-%s" % cfg.name},
                     "allowed_operations": ["vdi_create", "vdi_clone", "vdi_snapshot", "vdi_destroy", "vdi_resize",
                                            "vdi_introduce", "scan", "update", "forget", "plug", "unplug"]},
              ref=sr)
    st.create("PBD", {"host": host, "SR": sr, "device_config": {"path": sr_path, "device": "/dev/sda3"},
                      "currently_attached": True})
    iso_sr = st.create("SR", {"uuid": ident["iso_sr"], "name_label": "XenServer Tools",
                              "name_description": "XenServer Tools ISOs", "type": "udev", "content_type": "iso",
                              "physical_size": 0, "other_config": {"xenserver_tools_sr": "true"},
                              "is_tools_sr": True, "shared": True})
    st.create("PBD", {"host": host, "SR": iso_sr, "device_config": {"location": "/opt/xensource/packages/iso",
                                                                     "legacy_mode": "true"},
                      "currently_attached": True})
    st.create("VDI", {"name_label": "guest-tools.iso", "name_description": "XenServer Tools ISO",
                      "SR": iso_sr, "virtual_size": 62914560, "physical_utilisation": 62914560,
                      "type": "user", "read_only": True, "sharable": True, "location": "guest-tools.iso",
                      "is_tools_iso": True})

    # control domain
    st.create("VM", {"uuid": ident["dom0"], "name_label": "Control domain on host: %s" % hostname,
                     "name_description": "The domain which manages physical devices and manages other domains",
                     "power_state": "Running", "is_control_domain": True, "resident_on": host, "domid": 0,
                     "memory_static_max": 4294967296, "memory_dynamic_max": 4294967296,
                     "memory_dynamic_min": 4294967296, "memory_static_min": 4294967296,
                     "memory_target": 4294967296, "VCPUs_max": 8, "VCPUs_at_startup": 8,
                     "domain_type": "pv", "domarch": "x64",
                     "other_config": {"storage_driver_domain": ident["dom0_ref"], "is_system_domain": "true"},
                     "metrics": st.create("VM_metrics", {"memory_actual": 4294967296, "VCPUs_number": 8,
                                                         "state": [], "start_time": now_dt(), "hvm": False,
                                                         "current_domain_type": "pv"})},
              ref=ident["dom0_ref"])

    for t in TEMPLATES:
        oc = {"default_template": "true", "disks": t["disks"], "install-methods": "cdrom,nfs,http,ftp",
              "mac_seed": str(uuidlib.uuid4())}
        if t["linux"]:
            oc["linux_template"] = "true"
            oc["install-distro"] = t["distro"]
        st.create("VM", {"name_label": t["name_label"], "name_description": t["name_description"],
                         "is_a_template": True, "is_default_template": True, "other_config": oc,
                         "HVM_boot_policy": "BIOS order", "HVM_boot_params": {"order": "cdn"},
                         "platform": {"acpi": "1", "apic": "true", "pae": "true", "nx": "true",
                                      "viridian": "false", "device-model": "qemu-upstream-compat"},
                         "memory_static_max": 2147483648, "memory_dynamic_max": 2147483648,
                         "memory_dynamic_min": 2147483648, "memory_static_min": 1073741824,
                         "VCPUs_max": 1, "VCPUs_at_startup": 1, "recommendations": RECOMMENDATIONS,
                         "user_version": 1, "domain_type": "hvm",
                         "actions_after_crash": "restart", "actions_after_reboot": "restart",
                         "actions_after_shutdown": "destroy"})

    # the helper VM: the machine the modules run on (Nova's compute VM)
    helper = st.create("VM", {"uuid": ident["helper_vm"], "name_label": "novaops-helper",
                              "name_description": "The VM the novaops modules run in (xapisim)",
                              "other_config": {"novaops-helper": "true"},
                              "memory_static_max": 2147483648, "memory_dynamic_max": 2147483648,
                              "memory_dynamic_min": 2147483648, "memory_static_min": 1073741824,
                              "VCPUs_max": 2, "VCPUs_at_startup": 2, "domain_type": "pv",
                              "PV_bootloader": "pygrub", "HVM_boot_policy": ""},
                       ref=ident["helper_ref"])
    root = sim.storage.create_vdi(sr, {"name_label": "novaops-helper root", "virtual_size": 8 * 1024 ** 2,
                                       "type": "system"})
    st.create("VBD", {"VM": helper, "VDI": root, "userdevice": "0", "bootable": True, "mode": "RW",
                      "type": "Disk"})
    st.create("VIF", {"VM": helper, "network": net0, "device": "0", "MAC": random_mac(),
                      "MAC_autogenerated": True, "MTU": 1500})
    sim.vm.boot(helper, paused=False, helper=True)


def register(reg, sim):
    st = sim.store

    reg.add("pool.get_master_host", [("self", "ref:pool")], async_ok=False)(
        lambda ctx, p: st.get("pool", p)["master"])

    def host_get_servertime(ctx, h):
        from .api import DT
        return DT(now_dt())
    reg.add("host.get_servertime", [("host", "ref:host")], async_ok=False)(host_get_servertime)
    reg.add("host.get_server_localtime", [("host", "ref:host")], async_ok=False)(host_get_servertime)
    reg.add("host.get_management_interface", [("host", "ref:host")], async_ok=False)(
        lambda ctx, h: st.find_one("PIF", host=h, management=True) or NULL)
