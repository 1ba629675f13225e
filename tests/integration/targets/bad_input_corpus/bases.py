# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""This run's own things on the shared beds, and one valid base call per module against them.

Every name starts with the run's tag (``bi-k<4 hex>``).  A base call is valid and already
converged (setup runs it first, a second run must change nothing), so that a bad value
applied to it is judged by the module on real state, past the argument parsing: a VM, a
data disk and a snapshot image on pool a (and that disk moved to pool b), libvirt domains
with an instance directory, a snapshot image and a resize in progress, an OVS bridge with a
VIF port, a veth port carrying HTB queues.  Secrets go in where a user puts them: the pool
passwords, a Glance token, the ssh private key's contents.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import uuid

import XenAPI

NETWORK = "Pool-wide network associated with eth0"
TEMPLATE = "Debian Bookworm 12"


# Options written once in module_utils and shared by several modules: their full corpus runs
# with the module named here, the others get a sample (corpus_values.SAMPLE_KINDS).
SHARED_OPTIONS = {
    "xen_vm_info": ("url", "username", "password", "validate_certs", "ca_path"),    # xenapi_argument_spec
    "libvirt_domain_info": ("uri",),                                                 # libvirt_argument_spec
    "libvirt_snapshot": ("glance",),                                                 # glance_argument_spec
    "vhd_migrate": ("ssh_host", "ssh_port", "ssh_user", "ssh_private_key", "ssh_private_key_file",
                    "ssh_known_hosts", "ssh_known_hosts_file", "insecure_ignore_host_key",
                    "ssh_connect_timeout",                                           # ssh_argument_spec
                    "dest_url", "dest_username", "dest_password", "dest_validate_certs",
                    "dest_ca_path"),                                                 # destination_argument_spec
    "xen_vdi_resize": ("helper_vm_uuid", "device_dir"),                              # helper_vm_argument_spec
    "xen_vm": ("clear_stale_lock", "stale_lock_age"),                                # the operation lock's
    "libvirt_console": ("proxy_url", "token_key", "ttl", "page"),                    # console_argument_spec
}


class Base:
    """A module's valid base call; ``only`` limits the corpus to those options (a second base).
    ``check_mode``: the base itself runs in check mode only (a move whose converged state, the
    instance on the other host, would end every case at "already there" before its options are read)."""

    def __init__(self, module, args, label=None, only=None, setup=True, check_mode=False):
        self.module = module
        self.args = args
        self.label = label or module
        self.only = only
        self.setup = setup
        self.check_mode = check_mode

    def sampled(self):
        """The shared options whose full corpus another module runs."""
        return tuple(name for owner, names in SHARED_OPTIONS.items() if owner != self.module for name in names)


def _sh(argv, check=True):
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode:
        raise RuntimeError("%s: %s" % (" ".join(argv), done.stderr.strip()))
    return done.stdout


class Bed:
    def __init__(self, env, tag=None):
        self.env = env
        self.tag = tag or "bi-k%s" % secrets.token_hex(2)
        self.work = os.path.join("/tmp", self.tag)
        self.canary_dir = os.path.join(self.work, "canary")
        self.instances = os.path.join(self.work, "instances")
        self.host2 = os.path.join(self.work, "host2")
        self.snapshots = os.path.join(self.work, "snapshots")
        self.image = os.path.join(self.work, "images", "image.qcow2")
        self.vhd_tarball = os.path.join(self.work, "images", "image-vhd.tar")
        self.symlink_escape = os.path.join(self.work, "escape", "passwd")
        self.bridge = "%s-br" % self.tag
        self.veth = "%sv0" % self.tag
        self.vif_port = "%svif" % self.tag
        self.vm = "%s-vm" % self.tag
        self.lv = "%s-lv" % self.tag
        self.lvx = "%s-lvx" % self.tag
        self.rs = "%s-rs" % self.tag
        self.rq = "%s-rq" % self.tag      # the rescued instance
        self.rz = "%s-rz" % self.tag      # the resized instance (within pool a)
        self.lm = "%s-lm" % self.tag      # the running instance libvirt_migrate's base would move
        # the second libvirt host (bed libvirt2); /tmp is the same directory on both hosts (shared storage)
        self.host2_uri = env.get("NOVAOPS_LIBVIRT2_URI") or "qemu+tcp://no-libvirt2-bed.invalid/system"
        self.xc = "%s-xc" % self.tag      # a running VM for xen_console (and xen_migrate, in check mode)
        self.lc = "%s-lc" % self.tag      # a running domain with VNC for libvirt_console
        self.console_key = "bi-console-key-%s" % secrets.token_hex(16)
        self.token = "bi-secret-token-%s" % secrets.token_hex(12)
        self.password_a = env["XENAPI_POOL_A_PASSWORD"]
        self.password_b = env["XENAPI_POOL_B_PASSWORD"]
        with open(env["NOVAOPS_SSH_KEY"]) as handle:
            self.private_key = handle.read()
        self.canaries = 0
        self.pools = {}
        self.data_vdi = None
        self.rs_uuid = None
        self.vhd_image = None           # the Glance image xen_image caches (upload_vhd_image)
        self.glance_client = None

    # -- secrets and canaries --------------------------------------------------------------------
    def secrets(self):
        """Strings that must never appear in any output: passwords, the token, key material."""
        key_lines = [line for line in self.private_key.splitlines() if line and "PRIVATE KEY" not in line]
        return sorted(s for s in set([self.password_a, self.password_b, self.token, self.console_key, key_lines[len(key_lines) // 2]]) if s)

    def canary(self):
        self.canaries += 1
        return os.path.join(self.canary_dir, "pwned-%d" % self.canaries)

    def canaries_found(self):
        found = sorted(os.listdir(self.canary_dir)) if os.path.isdir(self.canary_dir) else []
        return found + sorted(n for n in os.listdir("/tmp") if "pwned" in n)

    # -- the beds ------------------------------------------------------------------------------
    def login(self):
        for pool in ("a", "b"):
            session = XenAPI.Session(self.env["XENAPI_POOL_%s_HTTP_URL" % pool.upper()]
                                     if pool == "b" else self.env["XENAPI_HTTP_URL"])
            session.login_with_password("root", getattr(self, "password_" + pool), "1.0", self.tag)
            self.pools["pool-" + pool] = session

    def logout(self):
        for session in self.pools.values():
            try:
                session.xenapi.session.logout()
            except Exception:  # pylint: disable=broad-except
                pass

    def setup(self):
        for path in (self.work, self.canary_dir, self.instances, self.host2, self.snapshots,
                     os.path.dirname(self.image)):
            os.makedirs(path, exist_ok=True)
            os.chmod(path, 0o755)        # QEMU (libvirt-qemu) traverses it
        os.chmod(self.canary_dir, 0o777)  # so that a command run as any user could leave its mark
        os.symlink("/etc", os.path.join(self.work, "escape"))
        _sh(["qemu-img", "create", "-q", "-f", "qcow2", self.image, "16M"])
        _sh(["qemu-io", "-c", "write -P 0xab 0 1M", self.image])
        _sh(["ovs-vsctl", "--may-exist", "add-br", self.bridge, "--", "set", "bridge", self.bridge,
             "datapath_type=netdev"])
        _sh(["ip", "link", "add", self.veth, "type", "veth", "peer", "name", self.veth + "p"])
        _sh(["ip", "link", "set", self.veth, "up"])
        _sh(["ip", "link", "set", self.veth + "p", "up"])
        _sh(["ovs-vsctl", "--may-exist", "add-port", self.bridge, self.veth])
        self.login()

    def upload_vhd_image(self, glance):
        """A small VHD tarball (one empty dynamic 8 MiB 0.vhd, as xen_snapshot uploads) as a Glance
        image named with the run's tag: what xen_image caches in pool a's SR."""
        sys.path.insert(0, os.path.join(os.path.dirname(self.env["NOVAOPS_BEDS_DIR"]), "tools"))
        from xapisim.vhd.disk import create_dynamic  # pylint: disable=import-outside-toplevel
        disk = os.path.join(os.path.dirname(self.vhd_tarball), "0.vhd")
        create_dynamic(disk, 8 << 20).close()
        with tarfile.open(self.vhd_tarball, "w", format=tarfile.USTAR_FORMAT) as tar:
            tar.add(disk, arcname="0.vhd")
        self.glance_client = glance
        image = glance.create_image(self.tag + "-ximg", disk_format="vhd", container_format="ovf")
        self.vhd_image = image["id"]
        glance.upload(self.vhd_image, self.vhd_tarball)
        return self.vhd_image

    def find_data_vdi(self):
        x = self.pools["pool-a"].xenapi
        vm = x.VM.get_by_name_label(self.vm)[0]
        for vbd in x.VM.get_VBDs(vm):
            if x.VBD.get_userdevice(vbd) == "1":
                self.data_vdi = x.VDI.get_uuid(x.VBD.get_VDI(vbd))
        return self.data_vdi

    def teardown_extra(self, log, migrated=None):
        """What the modules' own teardown calls leave: the chain vhd_migrate imported on pool b
        (exactly the VDIs its result named, leaf first), the bridge, the domains, the work dir."""
        if migrated and self.data_vdi:
            x = self.pools["pool-b"].xenapi
            for disk in migrated.get("disks") or []:
                for number, vdi_uuid in enumerate(disk.get("chain") or []):
                    try:
                        ref = x.VDI.get_by_uuid(vdi_uuid)
                        if number == 0 and x.VDI.get_other_config(ref).get("novaops_migrated_from") != self.data_vdi:
                            log("teardown: VDI %s on pool b is not this run's import; left alone" % vdi_uuid)
                            break
                        x.VDI.destroy(ref)
                    except XenAPI.Failure as exc:
                        log("teardown: VDI %s on pool b: %s" % (vdi_uuid, exc))
        _sh(["ovs-vsctl", "--if-exists", "del-br", self.bridge], check=False)
        _sh(["ip", "link", "del", self.veth], check=False)
        for uri, names in (("qemu:///system", (self.lv, self.lvx, self.rs, self.lm, self.lc)), (self.host2_uri, (self.lm,))):
            for name in names:
                _sh(["virsh", "-c", uri, "destroy", name], check=False)
                _sh(["virsh", "-c", uri, "undefine", "--managed-save", "--nvram", name], check=False)
        if self.vhd_image and self.glance_client is not None:
            self.glance_client.delete_image(self.vhd_image)
        self.logout()
        shutil.rmtree(self.work, ignore_errors=True)

    # -- the base calls ----------------------------------------------------------------------------
    def xen(self):
        return dict(url=self.env["XENAPI_POOL_A_URL"], username="root", password=self.password_a, validate_certs=True,
                    ca_path=self.env["XENAPI_CA_PATH"])

    def glance(self):
        return dict(url=self.env["OS_IMAGE_URL"], token=self.token, project_id=self.tag, roles=["admin"],
                    validate_certs=True, timeout=120)

    def ssh(self):
        env = self.env
        return dict(ssh_host=env["NOVAOPS_SSH_HOST"], ssh_port=int(env["NOVAOPS_SSH_PORT"]), ssh_user=env["NOVAOPS_SSH_USER"],
                    ssh_known_hosts_file=env["NOVAOPS_SSH_KNOWN_HOSTS"], ssh_connect_timeout=10)

    def flavor(self, root_gb=1):
        return dict(vcpus=1, memory_mb=64, root_gb=root_gb, ephemeral_gb=1, swap_mb=16)

    def domain_xml(self):
        return ("<domain type='qemu'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
                "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices/></domain>"
                % (self.lvx, uuid.uuid5(uuid.NAMESPACE_DNS, self.lvx)))

    def console_domain_xml(self):
        """No disk: SeaBIOS on TCG says it cannot boot and idles; the VNC server is all it needs."""
        return ("<domain type='qemu'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
                "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>"
                "<graphics type='vnc' autoport='yes' listen='127.0.0.1'/><video><model type='vga'/></video>"
                "</devices></domain>" % (self.lc, uuid.uuid5(uuid.NAMESPACE_DNS, self.lc)))

    def console(self):
        return dict(proxy_url=self.env.get("NOVAOPS_CONSOLE_PROXY_URL") or "http://127.0.0.1:16080/",
                    token_key=self.console_key, ttl=600, page="vnc_lite.html")

    def bases(self):
        """In setup order: each later one may stand on what an earlier one made."""
        env = self.env
        ids = dict((k, str(uuid.uuid5(uuid.NAMESPACE_DNS, "%s-%s" % (self.tag, k)))) for k in ("iface", "vm", "lvif"))
        return [
            Base("ovs_vif", dict(port=self.vif_port, bridge=self.bridge, interface_type="internal", mac="02:bb:00:00:00:01",
                                 ips=["10.250.0.3"], iface_id=ids["iface"], vm_uuid=ids["vm"], iface_status="active",
                                 external_ids={"bi": "corpus"}, anti_spoofing=True, state="present", timeout=10)),
            Base("ovs_qos_queue", dict(port=self.veth, bridge=self.bridge, type="linux-htb", max_rate=100000000,
                                       queues=[dict(id=1, max_rate=1000000, min_rate=100000, burst=10000, priority=1,
                                                    source_ips=["10.250.0.2"])],
                                       flow_priority=100, flow_table=0, state="present", timeout=10)),
            Base("ovs_qos_queue_info", dict(port=self.veth, bridge=self.bridge, tolerance=0.005, timeout=10),
                 setup=False),
            Base("ovs_qos_queue_info", dict(ip="10.250.0.2", bridge=self.bridge), label="ovs_qos_queue_info#ip",
                 only=("ip",), setup=False),
            Base("ovs_qos_queue_info", dict(interface=self.veth), label="ovs_qos_queue_info#interface",
                 only=("interface",), setup=False),
            Base("xen_vm", dict(self.xen(), name=self.vm, template=TEMPLATE, vcpus=1, memory_mb=256,
                                disks=[dict(userdevice="1", size_mb=64, name=self.vm + " data")],
                                vifs=[dict(network=NETWORK, mac="02:bb:00:00:00:02")], other_config={"bi": "corpus"},
                                description="bad input corpus", state="halted", timeout=120)),
            Base("xen_vm_info", dict(self.xen(), name=self.vm), setup=False),
            Base("xen_vm", dict(self.xen(), name=self.rq, template=TEMPLATE, vcpus=1, memory_mb=256, state="running",
                                timeout=120), label="xen_vm#rescue-instance", only=()),
            Base("xen_rescue", dict(self.xen(), name=self.rq, template=TEMPLATE, state="rescued", timeout=120)),
            Base("xen_vm", dict(self.xen(), name=self.rz, template=TEMPLATE, vcpus=1, memory_mb=256, state="running",
                                vifs=[dict(network=NETWORK, mac="02:bb:00:00:00:05")], timeout=120),
                 label="xen_vm#resize-instance", only=()),
            Base("xen_resize", dict(self.xen(), **self.ssh(), ssh_private_key=self.private_key, name=self.rz,
                                    template=TEMPLATE, flavor=dict(vcpus=2, memory_mb=256),
                                    dest_sr_uuid=env["XENAPI_POOL_A_SR_UUID"],
                                    helper_vm_uuid=env["XENAPI_POOL_A_HELPER_VM_UUID"],
                                    device_dir=env["XENAPI_POOL_A_DEVICE_DIR"], shutdown_timeout=5, timeout=300)),
            Base("xen_vm", dict(self.xen(), name=self.xc, template=TEMPLATE, vcpus=1, memory_mb=256, state="running",
                                timeout=120), label="xen_vm#console-instance", only=()),
            Base("xen_console", dict(self.xen(), **self.console(), name=self.xc), setup=False),
            Base("xen_migrate", dict(self.xen(), vm=self.xc, host="xapisim-pool-a-2", timeout=120), check_mode=True),
            Base("xen_migrate", dict(self.xen(), vm=self.xc, dest_url=env["XENAPI_POOL_B_URL"], dest_username="root",
                                     dest_password=self.password_b, dest_ca_path=env["XENAPI_CA_PATH"],
                                     sr=env["XENAPI_POOL_B_SR_UUID"], network=NETWORK, timeout=120),
                 label="xen_migrate#across-pools", only=("sr", "network"), check_mode=True),
            Base("xen_migrate", dict(self.xen(), vm=self.xc, leave_host="xapisim-pool-a", timeout=120),
                 label="xen_migrate#chosen", only=("leave_host",), check_mode=True),
            Base("xen_vdi_resize", dict(self.xen(), vm=self.vm, userdevice="1", size="64MiB",
                                        helper_vm_uuid=env["XENAPI_POOL_A_HELPER_VM_UUID"],
                                        device_dir=env["XENAPI_POOL_A_DEVICE_DIR"], timeout=120)),
            Base("xen_snapshot", dict(self.xen(), vm=self.vm, image_name=self.tag + "-xsnap", glance=self.glance(),
                                      properties={"bi": "corpus"}, coalesce_timeout=120, upload_timeout=300)),
            Base("xen_image", dict(self.xen(), image="<vhd image>", sr=env["XENAPI_POOL_A_SR_UUID"], glance=self.glance(),
                                   max_bytes=64 << 20, download_timeout=120)),
            Base("xen_image_cache", dict(self.xen(), sr=env["XENAPI_POOL_A_SR_UUID"], images=["<vhd image>"],
                                         min_age_hours=24)),
            Base("vhd_migrate", dict(self.xen(), **self.ssh(), ssh_private_key=self.private_key, vdi_uuid="<data vdi>",
                                     dest_url=env["XENAPI_POOL_B_URL"], dest_username="root",
                                     dest_password=self.password_b, dest_ca_path=env["XENAPI_CA_PATH"],
                                     dest_sr_uuid=env["XENAPI_POOL_B_SR_UUID"], timeout=300)),
            Base("libvirt_domain", dict(name=self.lv, instances_path=self.instances, virt_type="qemu",
                                        flavor=self.flavor(), image=dict(path=self.image), ephemeral_format="ext4",
                                        volumes=[dict(name="bi-vol", format="raw", size_mb=8, bus="virtio")],
                                        vifs=[dict(id=ids["lvif"], bridge=self.bridge, type="ovs", mac="02:bb:00:00:00:03",
                                                   model="virtio", mtu=1500, ips=["10.250.0.4"], anti_spoofing=False)],
                                        vnc=dict(listen="127.0.0.1", port=-1), state="shutdown", timeout=60,
                                        autostart=False, glance=self.glance())),
            Base("libvirt_domain", dict(name=self.lvx, xml=self.domain_xml(), state="shutdown", timeout=60),
                 label="libvirt_domain#xml", only=("xml",)),
            Base("libvirt_domain", dict(name=self.rs, instances_path=self.instances, virt_type="qemu",
                                        flavor=self.flavor(), image=dict(path=self.image), state="shutdown", timeout=60),
                 label="libvirt_domain#resize-source", only=()),
            Base("libvirt_domain", dict(name=self.lm, instances_path=self.instances, virt_type="qemu",
                                        flavor=dict(self.flavor(), ephemeral_gb=0, swap_mb=0), image=dict(path=self.image),
                                        state="running", timeout=60),
                 label="libvirt_domain#migrate-source", only=()),
            Base("libvirt_migrate", dict(name=self.lm, dest_uri=self.host2_uri, storage="shared", bandwidth=8,
                                         max_downtime=300, downtime_steps=3, downtime_delay=5, completion_timeout=60,
                                         rollback_timeout=5, vifs_plugged_first=True, vif_host=self.tag + "-hv2"),
                 check_mode=True),
            Base("libvirt_migrate", dict(name=self.lm, dest_candidates=[self.host2_uri], storage="shared",
                                         completion_timeout=60), label="libvirt_migrate#chosen",
                 only=("dest_candidates",), check_mode=True),
            Base("libvirt_domain", dict(name=self.lc, xml=self.console_domain_xml(), state="running", timeout=60),
                 label="libvirt_domain#console", only=()),
            Base("libvirt_console", dict(self.console(), name=self.lc), setup=False),
            Base("libvirt_domain_info", dict(name=self.lv, ovs=True), setup=False),
            Base("libvirt_snapshot", dict(name=self.lv, image_name=self.tag + "-lvsnap", mode="cold", format="qcow2",
                                          snapshots_directory=self.snapshots, properties={"bi": "corpus"},
                                          glance=self.glance(), timeout=120, upload_timeout=300)),
            Base("libvirt_image_cache", dict(instances_path=self.instances, min_age_hours=24)),
            Base("libvirt_resize", dict(self.ssh(), ssh_private_key_file=env["NOVAOPS_SSH_KEY"], uuid="<rs uuid>",
                                        state="migrated", instances_path=self.instances, dest_instances_path=self.host2,
                                        flavor=self.flavor(root_gb=2), timeout=60, shutdown_timeout=5)),
        ]

    def resolve(self, base, results):
        """Fill what only an earlier base's run tells (the data VDI, the resize source's UUID)."""
        if base.args.get("vdi_uuid") == "<data vdi>":
            base.args["vdi_uuid"] = self.find_data_vdi()
        if base.args.get("image") == "<vhd image>":
            base.args["image"] = self.vhd_image
        if base.args.get("images") == ["<vhd image>"]:
            base.args["images"] = [self.vhd_image]
        if base.args.get("uuid") == "<rs uuid>":
            base.args["uuid"] = results["libvirt_domain#resize-source"]["domain"]["uuid"]
        return base

    def teardown_calls(self):
        """Module calls that undo the bases, in order (best effort)."""
        xen = self.xen()
        # the cached copy of the VHD image (by its id: Glance is not asked); the image itself goes in teardown_extra
        cached = [("xen_image", dict(xen, image=self.vhd_image, sr=self.env["XENAPI_POOL_A_SR_UUID"], state="absent",
                                     glance=self.glance()))] if self.vhd_image else []
        return cached + [
            ("libvirt_resize", dict(self.ssh(), ssh_private_key_file=self.env["NOVAOPS_SSH_KEY"], name=self.rs,
                                    state="reverted", instances_path=self.instances, dest_instances_path=self.host2,
                                    dest_uri="qemu:///system", timeout=60)),
            ("libvirt_snapshot", dict(image_name=self.tag + "-lvsnap", state="absent", glance=self.glance())),
            ("xen_snapshot", dict(xen, image_name=self.tag + "-xsnap", state="absent", glance=self.glance())),
            ("xen_vm", dict(xen, name=self.vm, state="absent", force=True)),
            ("xen_rescue", dict(xen, name=self.rq, state="unrescued")),
            ("xen_vm", dict(xen, name=self.rq, state="absent", force=True)),
            ("xen_vm", dict(xen, name=self.xc, state="absent", force=True)),
            ("xen_resize", dict(xen, name=self.rz, state="reverted")),
            ("xen_vm", dict(xen, name=self.rz, state="absent", force=True)),
            ("libvirt_domain", dict(name=self.lv, instances_path=self.instances, state="undefined", delete_disks=True,
                                    force=True)),
            ("libvirt_domain", dict(name=self.lvx, state="undefined", force=True)),
            ("libvirt_domain", dict(name=self.lc, state="undefined", force=True)),
            ("libvirt_domain", dict(name=self.rs, instances_path=self.instances, state="undefined", delete_disks=True,
                                    force=True)),
            ("libvirt_domain", dict(name=self.lm, instances_path=self.instances, state="undefined", delete_disks=True,
                                    force=True)),
            ("ovs_qos_queue", dict(port=self.veth, state="absent")),
            ("ovs_vif", dict(port=self.vif_port, state="absent")),
        ]
