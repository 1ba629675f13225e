"""Pool members beyond the master: a pool of several hosts sharing the pool's SR.

xapi's pool: each host has its own control domain, host_metrics and management PIF on the
pool-wide networks, and a PBD to every shared SR.  The master (the identity's host) is
created by inventory; the others copy its record with their own uuids, names and domain 0.
Their uuids/refs are kept in identity.json (``members``) so they survive restarts and reset.
"""

import copy
import uuid as uuidlib

from .api import now_dt
from .store import new_ref


def member_identities(sim):
    """[{host, host_ref, dom0, dom0_ref}] for hosts 2..n, created once and kept."""
    ident = sim.identity
    want = max(0, sim.config.hosts - 1)
    members = ident.setdefault("members", [])
    changed = False
    while len(members) < want:
        members.append({"host": str(uuidlib.uuid4()), "host_ref": new_ref(),
                        "dom0": str(uuidlib.uuid4()), "dom0_ref": new_ref()})
        changed = True
    return members[:want], changed


def create(sim):
    """Add hosts 2..n to the pool; the SR becomes shared (one PBD per host)."""
    st = sim.store
    ident = sim.identity
    members, _ = member_identities(sim)
    if not members:
        return
    master = st.get("host", ident["host_ref"])
    dom0 = st.get("VM", ident["dom0_ref"])
    pif = st.get("PIF", st.find_one("PIF", host=ident["host_ref"], management=True))
    st.update("SR", ident["sr_ref"], shared=True)
    sr_pbd = st.get("PBD", st.find_one("PBD", host=ident["host_ref"], SR=ident["sr_ref"]))
    for index, m in enumerate(members, start=2):
        if st.exists("host", m["host_ref"]):
            continue
        hostname = "xapisim-%s-%d" % (sim.config.name, index)
        hm = st.create("host_metrics", {"memory_total": 64 * 1024 ** 3, "memory_free": 60 * 1024 ** 3,
                                        "live": True, "last_updated": now_dt()})
        rec = {k: copy.deepcopy(v) for k, v in master.items() if k not in ("uuid",)}
        rec.update(uuid=m["host"], name_label=hostname, hostname=hostname, metrics=hm,
                   control_domain=m["dom0_ref"])
        rec["software_version"] = dict(master["software_version"], hostname=hostname)
        st.create("host", rec, ref=m["host_ref"])
        drec = {k: copy.deepcopy(v) for k, v in dom0.items() if k not in ("uuid", "metrics")}
        drec.update(uuid=m["dom0"], name_label="Control domain on host: %s" % hostname,
                    resident_on=m["host_ref"], other_config={"storage_driver_domain": m["dom0_ref"],
                                                            "is_system_domain": "true"},
                    metrics=st.create("VM_metrics", {"memory_actual": 4294967296, "VCPUs_number": 8,
                                                     "state": [], "start_time": now_dt(), "hvm": False,
                                                     "current_domain_type": "pv"}))
        st.create("VM", drec, ref=m["dom0_ref"])
        prec = {k: copy.deepcopy(v) for k, v in pif.items() if k not in ("uuid",)}
        prec.update(host=m["host_ref"])
        st.create("PIF", prec)
        st.create("PBD", {"host": m["host_ref"], "SR": ident["sr_ref"],
                          "device_config": dict(sr_pbd["device_config"]), "currently_attached": True})
