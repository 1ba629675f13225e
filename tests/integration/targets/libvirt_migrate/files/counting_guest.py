# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A guest whose memory keeps changing, laid out as the boot path lays out an instance.

    counting_guest.py boot <instances_dir> <name> <uuid> [MiB] [image ID] [VIF]
                            _base/<name>-base (raw), <uuid>/disk (qcow2 on it, MiB of its own: 2), domain defined
                            and started on qemu:///system; with an image ID the base is named as the boot path
                            names the cache of that Glance image (sha1 of the ID), and the domain's metadata
                            records the desired state libvirt_domain would (flavor, image);
                            that base is qcow2; VIF (JSON: id, mac, bridge, ips, qos) an Open vSwitch
                            VIF on its tap, recorded in that desired state as libvirt_domain records one
    counting_guest.py counts <console.log>                 the counts the guest printed, as JSON numbers
    counting_guest.py remove <uri> <uuid>                  destroy and undefine it there, if it is there

The disk's boot sector is a 71-byte real-mode program: it counts in a dword of RAM (0x7e00) and
prints the count in hex on the serial port every 2^18 steps, so a guest that was moved live goes
on from where it was, and one that was restarted begins again at 00040000. The rest of the base
is random bytes, and the overlay holds some MiB of its own, for a byte-for-byte comparison after a
block migration.

    cli; xor ax,ax; mov ds,ax; mov dword [0x7e00],0
 1: inc dword [0x7e00]; test dword [0x7e00],0x3ffff; jnz 1b
    mov esi,[0x7e00]; mov cx,8
 2: rol esi,4; mov ax,si; and al,0xf; add al,'0'; cmp al,'9'; jbe 3f; add al,7
 3: call 4f; loop 2b; mov al,10; call 4f; jmp 1b
 4: mov dx,0x3f8; out dx,al; ret
"""

import hashlib
import json
import os
import subprocess
import sys

PROGRAM = bytes.fromhex(
    "fa31c08ed866c706007e0000000066ff06007e66f706007effff030075f0668b36007eb9080066c1c60489f0240f04303c"
    "3976020407e80900e2ebb00ae80200ebccbaf803eec3")
BASE_SIZE = 8 * 1024 * 1024
DISK_SIZE = 32 * 1024 * 1024

DOMAIN = """<domain type='qemu'>
  <name>{name}</name><uuid>{uuid}</uuid>
  <memory unit='MiB'>32</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/>
      <source file='{dir}/disk'/><target dev='vda' bus='virtio'/></disk>
    <serial type='file'><source path='{dir}/console.log' append='on'/></serial>{interface}
  </devices>{metadata}
</domain>"""
METADATA = """
  <metadata><novaops:instance xmlns:novaops='https://novaops.example/compute/1'><novaops:desired format='json'>{}\
</novaops:desired></novaops:instance></metadata>"""


INTERFACE = """
    <interface type='bridge'><mac address='{mac}'/><source bridge='{bridge}'/>
      <virtualport type='openvswitch'><parameters interfaceid='{id}'/></virtualport>
      <target dev='{dev}'/><model type='virtio'/></interface>"""


def boot(instances, name, uuid, overlay_mib="2", image_id=None, vif=None):
    base = os.path.join(instances, "_base", hashlib.sha1(image_id.encode()).hexdigest() if image_id else name + "-base")
    inst = os.path.join(instances, uuid)
    os.makedirs(os.path.dirname(base), mode=0o755, exist_ok=True)
    os.makedirs(inst, mode=0o755)
    sector = PROGRAM + b"\0" * (510 - len(PROGRAM)) + b"\x55\xaa"
    with open(base, "wb") as handle:
        handle.write(sector + os.urandom(BASE_SIZE - 512))
    disk = os.path.join(inst, "disk")
    base_format = "raw"
    if image_id:        # a qcow2 image (Glance refuses a raw one with this boot sector: "failed safety checks")
        base_format = "qcow2"
        os.rename(base, base + ".raw")
        subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", base + ".raw", base], check=True)
        os.unlink(base + ".raw")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", base_format, "-b", base, disk, str(DISK_SIZE)],
                   check=True)
    subprocess.run(["qemu-io", "-c", "write -P 0x5a 4M %dM" % int(overlay_mib), disk], check=True,
                   stdout=subprocess.DEVNULL)
    xml = os.path.join(inst, "domain.xml")
    with open(xml, "w") as handle:
        desired = dict(name=name, uuid=uuid, virt_type="qemu", state="running", flavor=dict(vcpus=1, memory_mb=32))
        if image_id:
            desired["image"] = dict(id=image_id)
        interface = ""
        if vif:
            vif = dict(json.loads(vif), type="ovs", anti_spoofing=True)
            vif["dev"] = ("tap" + vif["id"])[:14]       # Nova's tap name, as libvirt_domain names it
            desired["vifs"] = [vif]
            interface = INTERFACE.format(**vif)
        handle.write(DOMAIN.format(name=name, uuid=uuid, dir=inst, interface=interface,
                                   metadata=METADATA.format(json.dumps(desired)) if image_id or vif else ""))
    subprocess.run(["virsh", "-q", "-c", "qemu:///system", "define", xml], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["virsh", "-q", "-c", "qemu:///system", "start", name], check=True, stdout=subprocess.DEVNULL)


def counts(path):
    try:
        with open(path, errors="replace") as handle:
            lines = handle.read().split("\n")[:-1]      # the last one may be half written
    except FileNotFoundError:
        lines = []
    return [int(line, 16) for line in lines if len(line) == 8]


def remove(uri, uuid):
    for args in (["destroy", uuid], ["undefine", uuid]):
        subprocess.run(["virsh", "-q", "-c", uri] + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


if __name__ == "__main__":
    if sys.argv[1] == "boot":
        boot(*sys.argv[2:8])
    elif sys.argv[1] == "counts":
        print(json.dumps(counts(sys.argv[2])))
    else:
        remove(*sys.argv[2:4])
