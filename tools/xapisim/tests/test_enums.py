"""Enumerations: any case in, the datamodel's case stored and answered.

xen-api: ocaml/idl/ocaml_backend/gen_api.ml (``gen_client_types``) declares every enum as a
polymorphic variant ``[@@deriving rpc]``; ppx_deriving_rpc's ``of_rpc`` matches the wire
string case-insensitively (mirage/ocaml-rpc, tests/variants.ml: ``Rpc.String "FOO"`` reads as
`` `foo``, "Case insensitive test") and ``rpc_of`` writes the constructor as the datamodel
spells it (ocaml/idl/datamodel.ml: vdi_type "user", vbd_type "Disk", vbd_mode "RW", ...).  The
database's own parser does the same (ocaml/idl/ocaml_backend/ocaml_utils.ml,
``ocaml_of_string_of_enum``: ``match String.lowercase_ascii str with``).
"""

import json
import urllib.request

from conftest import failure

MiB = 1 << 20


def sr_of(x):
    return x.pool.get_default_SR(x.pool.get_all()[0])


def test_vdi_type_any_case_in_lower_case_out(x):
    vdi = x.VDI.create({"name_label": "enum", "name_description": "", "SR": sr_of(x), "virtual_size": str(2 * MiB),
                        "type": "User", "sharable": False, "read_only": False, "other_config": {}})
    assert x.VDI.get_type(vdi) == "user"
    assert x.VDI.get_record(vdi)["type"] == "user"
    assert [v["type"] for r, v in x.VDI.get_all_records().items() if r == vdi] == ["user"]
    vdi2 = x.VDI.create({"name_label": "enum2", "name_description": "", "SR": sr_of(x),
                         "virtual_size": str(2 * MiB), "type": "SYSTEM", "sharable": False, "read_only": False,
                         "other_config": {}})
    assert x.VDI.get_type(vdi2) == "system"
    assert failure(x.VDI.create, {"name_label": "bad", "name_description": "", "SR": sr_of(x),
                                  "virtual_size": str(2 * MiB), "type": "usr", "sharable": False,
                                  "read_only": False, "other_config": {}}) == ["FIELD_TYPE_ERROR", "type"]


def test_vbd_type_and_mode_canonical(x):
    tpl = x.VM.get_by_name_label("Debian Bookworm 12")[0]
    vm = x.VM.clone(tpl, "enum-vm")
    vdi = x.VDI.create({"name_label": "enum-disk", "name_description": "", "SR": sr_of(x),
                        "virtual_size": str(2 * MiB), "type": "user", "sharable": False, "read_only": False,
                        "other_config": {}})
    vbd = x.VBD.create({"VM": vm, "VDI": vdi, "userdevice": "3", "bootable": False, "mode": "rw", "type": "disk",
                        "empty": False, "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})
    rec = x.VBD.get_record(vbd)
    assert (rec["type"], rec["mode"]) == ("Disk", "RW")
    x.VBD.set_mode(vbd, "ro")
    assert x.VBD.get_mode(vbd) == "RO"
    assert failure(x.VBD.set_mode, vbd, "readonly") == ["FIELD_TYPE_ERROR", "value"]


def test_vm_and_vif_enums_through_setters_and_methods(x):
    tpl = x.VM.get_by_name_label("Debian Bookworm 12")[0]
    vm = x.VM.clone(tpl, "enum-vm2")
    x.VM.set_actions_after_crash(vm, "Coredump_And_Restart")
    assert x.VM.get_actions_after_crash(vm) == "coredump_and_restart"
    x.VM.set_domain_type(vm, "PV")
    assert x.VM.get_domain_type(vm) == "pv"
    net = x.network.get_by_name_label("Pool-wide network associated with eth0")[0]
    vif = x.VIF.create({"device": "0", "network": net, "VM": vm, "MAC": "", "MTU": "1500", "other_config": {},
                        "qos_algorithm_type": "", "qos_algorithm_params": {}, "locking_mode": "LOCKED"})
    assert x.VIF.get_locking_mode(vif) == "locked"
    x.VIF.configure_ipv4(vif, "static", "10.0.0.2/24", "10.0.0.1")
    assert x.VIF.get_ipv4_configuration_mode(vif) == "Static"
    x.VIF.configure_ipv6(vif, "AUTOCONF", "", "")
    assert x.VIF.get_ipv6_configuration_mode(vif) == "Autoconf"


def test_enums_over_jsonrpc(sim, session):
    def call(method, *params):
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": [session._session] + list(params), "id": 1})
        req = urllib.request.Request(sim.url + "/jsonrpc", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(req).read())["result"]
    sr = session.xenapi.pool.get_default_SR(session.xenapi.pool.get_all()[0])
    vdi = call("VDI.create", {"name_label": "json-enum", "name_description": "", "SR": sr,
                              "virtual_size": 2 * MiB, "type": "uSeR", "sharable": False, "read_only": False,
                              "other_config": {}})
    assert call("VDI.get_type", vdi) == "user"
