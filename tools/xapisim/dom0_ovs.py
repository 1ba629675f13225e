"""dom0's Open vSwitch ports of running VMs, as XenServer's vif hotplug script makes them.

On a XenServer host, starting a domain makes a backend device ``vif<domid>.<device>`` for each
of the VM's VIFs, and dom0's vif script adds it as a port to the bridge of the VIF's network,
with the interface ``external_ids`` ``attached-mac``, ``iface-id`` (the VIF's
``other_config:nicira-iface-id``, else its UUID), ``iface-status``, ``xs-vm-uuid``,
``xs-vif-uuid``, ``xs-network-uuid`` and ``vm-id``; destroying the domain removes the port.
Every start (a reboot too) makes a new domain, so a new domid and new port names.

Here the ports are made on the machine's real Open vSwitch when the simulator runs with
``--dom0-ovs``: the backend device a veth (its peer ``tap<domid>.<device>``, the name dom0
gives an HVM guest's emulated NIC), a port of type system as on dom0; only on bridges that
exist, so a network whose bridge is not on this OVS (the pools' default ``xenbr0``) gets
none.  Several simulated pools share one machine here, where each real host has its own: a
domid whose device names are taken is skipped, as if another host's dom0 had it.
"""

import logging
import subprocess

log = logging.getLogger("xapisim.dom0_ovs")


def port_name(domid, device):
    return "vif%d.%s" % (domid, device)


class Dom0Ports:
    def __init__(self, sim, enabled):
        self.sim = sim
        self.enabled = enabled

    @staticmethod
    def _ip(*args):
        return subprocess.run(["ip", "link"] + list(args), capture_output=True, text=True, check=False)

    def _vsctl(self, *args):
        return subprocess.run(["ovs-vsctl", "--timeout=10"] + list(args), capture_output=True, text=True,
                              check=False)

    def _vifs(self, vm_ref):
        """(device, VIF record, network record) of the VM's VIFs whose network's bridge is on this OVS."""
        st = self.sim.store
        found = []
        for _vif_ref, vif in st.items("VIF"):
            if vif["VM"] != vm_ref or vif["network"] not in st.objs["network"]:
                continue
            net = st.get("network", vif["network"])
            bridge = net.get("bridge") or ""
            if bridge and self._vsctl("br-exists", bridge).returncode == 0:
                found.append((vif["device"], vif, net))
        return found

    def start(self, vm_ref, domids):
        """The domain's id, its VIFs' ports made: the next domid whose port names are free."""
        domid = next(domids)
        if not self.enabled:
            return domid
        vifs = self._vifs(vm_ref)
        if not vifs:
            return domid
        vm_uuid = self.sim.store.get("VM", vm_ref)["uuid"]
        for _attempt in range(1000):
            made = self._devices(domid, [device for device, _vif, _net in vifs])
            if made is not None:
                break
            domid = next(domids)
        else:
            return domid
        args = []
        for device, vif, net in vifs:
            name = port_name(domid, device)
            ids = {"attached-mac": vif["MAC"], "iface-status": "active", "xs-vm-uuid": vm_uuid,
                   "vm-id": vm_uuid, "xs-vif-uuid": vif["uuid"], "xs-network-uuid": net["uuid"],
                   "iface-id": (vif.get("other_config") or {}).get("nicira-iface-id") or vif["uuid"]}
            args += ["--", "--may-exist", "add-port", net["bridge"], name, "--", "set", "Interface", name]
            args += ['external_ids:"%s"="%s"' % (key, value) for key, value in sorted(ids.items())]
        proc = self._vsctl(*args)
        if proc.returncode != 0:
            log.warning("dom0 ports of domain %d not made: %s", domid, proc.stderr.strip())
        return domid

    def _devices(self, domid, devices):
        """The domain's backend devices made (their names free), else None and none of them made."""
        made = []
        for device in devices:
            name = port_name(domid, device)
            if self._ip("add", name, "type", "veth", "peer", "name", "tap%d.%s" % (domid, device)).returncode != 0:
                for other in made:
                    self._ip("del", other)
                return None
            self._ip("set", name, "up")
            made.append(name)
        return made

    def stop(self, vm_ref, domid):
        """The domain destroyed: its VIFs' ports go."""
        if not self.enabled or domid is None or int(domid) < 0:
            return
        args = []
        for device, _vif, net in self._vifs(vm_ref):
            args += ["--", "--if-exists", "del-port", net["bridge"], port_name(int(domid), device)]
        if args:
            proc = self._vsctl(*args)
            if proc.returncode != 0:
                log.warning("dom0 ports of domain %s not removed: %s", domid, proc.stderr.strip())
        for device, _vif, _net in self._vifs(vm_ref):
            self._ip("del", port_name(int(domid), device))
