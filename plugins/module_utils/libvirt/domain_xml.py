# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""libvirt domain XML: built from a flavor, disks and VIFs; read back into facts; compared.

build_domain_xml(spec) writes the XML Nova's libvirt driver would (ElementTree, no string
templates).  parse_domain_xml(xml) reads any domain's XML (ours, hand-written, or the
live one with libvirt's additions) into plain facts.  config_view() keeps only the
settings this collection decides, so that comparing the wanted spec with what libvirt
reports is semantic: libvirt's defaults (machine type expansion, PCI addresses, aliases,
controllers, the tap name, the VNC port it picked) never count as a difference.

The instance's desired state lives in ``<metadata>`` under our own namespace (NAMESPACE),
as JSON, so a fleet-repair run can compare desired with actual without this module's
parameters.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import uuid as uuidlib
import xml.etree.ElementTree as ET

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

NAMESPACE = "https://novaops.example/compute/1"
PREFIX = "novaops"
MAC_PREFIX = "fa:16:3e"           # Nova's (OpenStack's) MAC prefix
UUID_NAMESPACE = uuidlib.UUID("6b1f2a62-3f6e-5d1c-9a51-0a7c0e5d2f10")
HOST_NAME_RE = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")

ET.register_namespace(PREFIX, NAMESPACE)


def stable_uuid(name):
    """The UUID a domain named ``name`` gets when none is given: the same on every run."""
    return str(uuidlib.uuid5(UUID_NAMESPACE, name))


def check_vnc(vnc):
    """A NovaopsError unless QEMU can listen there: an IP address or a host name, port -1 (libvirt
    picks one) or 5900-65535 (the display number is port - 5900)."""
    if not vnc:
        return vnc
    listen = vnc.get("listen") or "127.0.0.1"
    try:
        ipaddress.ip_address(listen)
    except ValueError:
        if not HOST_NAME_RE.match(listen):
            raise NovaopsError("vnc.listen %r is neither an IP address nor a host name." % listen[:60])
    port = vnc.get("port")
    if port is not None and port != -1 and not 5900 <= port <= 65535:
        raise NovaopsError("vnc.port must be -1 (any free port) or 5900 to 65535, not %s." % port)
    return vnc


def stable_mac(instance_uuid, key):
    """A MAC in fa:16:3e:xx:xx:xx that depends only on the instance and the VIF (id or index)."""
    digest = hashlib.sha1(("%s/%s" % (instance_uuid, key)).encode("utf-8")).digest()
    return "%s:%02x:%02x:%02x" % (MAC_PREFIX, digest[0], digest[1], digest[2])


def disk_target(index, bus="virtio"):
    prefix = {"virtio": "vd", "scsi": "sd", "sata": "sd", "ide": "hd"}.get(bus, "vd")
    letters = ""
    n = index
    while True:
        letters = chr(ord("a") + n % 26) + letters
        n = n // 26 - 1
        if n < 0:
            break
    return prefix + letters


# -- building ----------------------------------------------------------------------------------
def build_domain_xml(spec):
    """The domain XML (a str) for a spec dict.

    spec: name, uuid, virt_type ('kvm'|'qemu'), vcpus, memory_mb, arch (default x86_64),
    disks [{path, format, target, bus, device}], vifs [{type 'ovs'|'bridge', bridge, mac,
    id, dev (the tap's name, or None for libvirt's vnetN), model, mtu}], vnc {listen, port} or None,
    metadata (dict, stored as JSON).
    """
    dom = ET.Element("domain", type=spec.get("virt_type") or "kvm")
    ET.SubElement(dom, "name").text = spec["name"]
    ET.SubElement(dom, "uuid").text = spec["uuid"]
    if spec.get("metadata") is not None:
        meta = ET.SubElement(dom, "metadata")
        meta.append(metadata_element(spec["metadata"]))
    ET.SubElement(dom, "memory", unit="KiB").text = str(int(spec["memory_mb"]) * 1024)
    ET.SubElement(dom, "currentMemory", unit="KiB").text = str(int(spec["memory_mb"]) * 1024)
    ET.SubElement(dom, "vcpu").text = str(int(spec["vcpus"]))
    os_el = ET.SubElement(dom, "os")
    ET.SubElement(os_el, "type", arch=spec.get("arch") or "x86_64", machine=spec.get("machine") or "pc").text = "hvm"
    ET.SubElement(os_el, "boot", dev="hd")
    features = ET.SubElement(dom, "features")
    ET.SubElement(features, "acpi")
    ET.SubElement(features, "apic")
    ET.SubElement(dom, "clock", offset="utc")
    ET.SubElement(dom, "on_poweroff").text = "destroy"
    ET.SubElement(dom, "on_reboot").text = "restart"
    ET.SubElement(dom, "on_crash").text = "destroy"
    devices = ET.SubElement(dom, "devices")
    for disk in spec.get("disks", []):
        el = ET.SubElement(devices, "disk", type="file", device=disk.get("device") or "disk")
        ET.SubElement(el, "driver", name="qemu", type=disk.get("format") or "qcow2")
        ET.SubElement(el, "source", file=disk["path"])
        ET.SubElement(el, "target", dev=disk["target"], bus=disk.get("bus") or "virtio")
    for vif in spec.get("vifs", []):
        el = ET.SubElement(devices, "interface", type="bridge")
        ET.SubElement(el, "mac", address=vif["mac"])
        ET.SubElement(el, "source", bridge=vif["bridge"])
        if vif.get("type", "ovs") == "ovs":
            vport = ET.SubElement(el, "virtualport", type="openvswitch")
            if vif.get("id"):
                ET.SubElement(vport, "parameters", interfaceid=vif["id"])
        if vif.get("dev"):
            ET.SubElement(el, "target", dev=vif["dev"])
        ET.SubElement(el, "model", type=vif.get("model") or "virtio")
        if vif.get("mtu"):
            ET.SubElement(el, "mtu", size=str(int(vif["mtu"])))
    vnc = spec.get("vnc")
    if vnc:
        port = int(vnc.get("port", -1) if vnc.get("port") is not None else -1)
        attrs = dict(type="vnc", port=str(port), autoport="yes" if port == -1 else "no")
        el = ET.SubElement(devices, "graphics", **attrs)
        ET.SubElement(el, "listen", type="address", address=vnc.get("listen") or "127.0.0.1")
    ET.SubElement(devices, "serial", type="pty")
    ET.SubElement(devices, "console", type="pty")
    return ET.tostring(dom, encoding="unicode")


def metadata_element(desired, namespace=NAMESPACE):
    """``<novaops:instance>`` holding the desired state as JSON plus a few readable attributes."""
    ns = "{%s}" % namespace if namespace else ""
    inst = ET.Element(ns + "instance")
    flavor = desired.get("flavor") or {}
    if flavor:
        ET.SubElement(inst, ns + "flavor", dict((k, str(v)) for k, v in sorted(flavor.items()) if v is not None))
    image = desired.get("image") or {}
    if image:
        ET.SubElement(inst, ns + "image", dict((k, str(v)) for k, v in sorted(image.items()) if v is not None))
    if desired.get("state"):
        ET.SubElement(inst, ns + "state").text = desired["state"]
    ET.SubElement(inst, ns + "desired", format="json").text = json.dumps(desired, sort_keys=True)
    return inst


def metadata_xml(desired):
    """The element for virDomainSetMetadata: without a namespace, libvirt puts it in (key, uri)."""
    return ET.tostring(metadata_element(desired, namespace=None), encoding="unicode")


def parse_metadata(element):
    """The desired-state dict from a ``<novaops:instance>`` element, or None."""
    if element is None:
        return None
    desired = element.find("{%s}desired" % NAMESPACE)
    if desired is None or not (desired.text or "").strip():
        return None
    try:
        return json.loads(desired.text)
    except ValueError:
        return None


# -- reading ---------------------------------------------------------------------------------
def _int(text, default=None):
    try:
        return int(text)
    except (TypeError, ValueError):
        return default


def _memory_mb(el):
    if el is None:
        return None
    value = _int(el.text, 0)
    unit = (el.get("unit") or "KiB").lower()
    factor = {"b": 1, "bytes": 1, "kib": 1024, "k": 1024, "kb": 1000, "mib": 1024 ** 2, "m": 1024 ** 2,
              "mb": 1000 ** 2, "gib": 1024 ** 3, "g": 1024 ** 3, "gb": 1000 ** 3}.get(unit, 1024)
    return value * factor // (1024 * 1024)


def _backing_chain(disk_el):
    chain = []
    store = disk_el.find("backingStore")
    while store is not None and store.find("source") is not None:
        fmt = store.find("format")
        src = store.find("source")
        chain.append(dict(path=src.get("file") or src.get("dev") or src.get("name"),
                          format=fmt.get("type") if fmt is not None else None))
        store = store.find("backingStore")
    return chain


def parse_domain_xml(xml):
    """Facts of a domain's XML: name, uuid, virt_type, vcpus, memory_mb, disks, vifs, vnc, metadata."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise NovaopsError("The domain XML does not parse: %s" % exc)
    if root.tag != "domain":
        raise NovaopsError("The XML is a <%s>, not a <domain>." % root.tag)
    facts = dict(name=root.findtext("name"), uuid=root.findtext("uuid"), virt_type=root.get("type"),
                 vcpus=_int(root.findtext("vcpu"), 1), memory_mb=_memory_mb(root.find("memory")),
                 disks=[], vifs=[], vnc=None, metadata=None)
    meta = root.find("metadata")
    if meta is not None:
        facts["metadata"] = parse_metadata(meta.find("{%s}instance" % NAMESPACE))
    devices = root.find("devices")
    if devices is None:
        devices = ET.Element("devices")
    facts["disks"] = [_disk_facts(disk) for disk in devices.findall("disk")]
    facts["vifs"] = [_vif_facts(iface) for iface in devices.findall("interface")]
    facts["vnc"] = _vnc_facts(devices)
    return facts


def _child_attr(element, tag, attr):
    """``attr`` of ``element``'s first ``tag`` child, or None when there is no such child."""
    child = element.find(tag)
    return child.get(attr) if child is not None else None


def _disk_facts(disk):
    src = disk.find("source")
    return dict(
        device=disk.get("device") or "disk", type=disk.get("type"),
        path=(src.get("file") or src.get("dev") or src.get("name")) if src is not None else None,
        format=_child_attr(disk, "driver", "type"), target=_child_attr(disk, "target", "dev"),
        bus=_child_attr(disk, "target", "bus"), backing_chain=_backing_chain(disk))


def _vif_facts(iface):
    vif = dict(type=iface.get("type"), mac=None, bridge=None, virtualport=None, id=None,
               model=_child_attr(iface, "model", "type"), target=_child_attr(iface, "target", "dev"), mtu=None)
    mac = iface.find("mac")
    if mac is not None:
        vif["mac"] = (mac.get("address") or "").lower()
    src = iface.find("source")
    if src is not None:
        vif["bridge"] = src.get("bridge") or src.get("network")
    vport = iface.find("virtualport")
    if vport is not None:
        vif["virtualport"] = vport.get("type")
        vif["id"] = _child_attr(vport, "parameters", "interfaceid")
    mtu = iface.find("mtu")
    if mtu is not None:
        vif["mtu"] = _int(mtu.get("size"))
    return vif


def _vnc_facts(devices):
    """The first VNC console: where it listens, its port (-1 until it runs with autoport)."""
    for graphics in devices.findall("graphics"):
        if graphics.get("type") != "vnc":
            continue
        listen = graphics.get("listen")
        listen_el = graphics.find("listen")
        if listen_el is not None and listen_el.get("address"):
            listen = listen_el.get("address")
        return dict(listen=listen, port=_int(graphics.get("port"), -1),
                    autoport=graphics.get("autoport", "no") == "yes")
    return None


def vif_kind(vif):
    """'ovs' for an OVS port, 'bridge' for a Linux bridge, else libvirt's interface type."""
    if vif.get("type") == "bridge":
        return "ovs" if vif.get("virtualport") == "openvswitch" or vif.get("kind") == "ovs" else "bridge"
    return vif.get("type")


def _own_dev(name):
    """A tap name that was asked for; libvirt's own vnetN (dropped from the inactive XML) is not."""
    return None if not name or name.startswith("vnet") else name


def config_view(facts):
    """The settings the module decides, normalised for comparison (and for diff output)."""
    if facts is None:
        return None
    disks = [dict(target=d.get("target"), path=d.get("path"), format=d.get("format"),
                  bus=d.get("bus") or "virtio", device=d.get("device") or "disk")
             for d in facts.get("disks", [])]
    vifs = []
    for v in facts.get("vifs", []):
        kind = v.get("kind") or vif_kind(v)
        vifs.append(dict(type=kind, mac=(v.get("mac") or "").lower(), bridge=v.get("bridge"),
                         id=v.get("id") if kind == "ovs" else None, model=v.get("model") or "virtio",
                         mtu=v.get("mtu"), dev=_own_dev(v.get("dev") or v.get("target"))))
    vnc = facts.get("vnc")
    if vnc:
        autoport = vnc.get("autoport") or vnc.get("port") in (None, -1)
        vnc = dict(listen=vnc.get("listen"), port=-1 if autoport else vnc.get("port"))
    return dict(name=facts.get("name"), uuid=facts.get("uuid"), virt_type=facts.get("virt_type"),
                vcpus=facts.get("vcpus"), memory_mb=facts.get("memory_mb"),
                disks=sorted(disks, key=lambda d: d["target"] or ""), vifs=vifs, vnc=vnc)


def spec_facts(spec):
    """A spec dict as the facts parse_domain_xml would read back from its XML."""
    return parse_domain_xml(build_domain_xml(spec))
