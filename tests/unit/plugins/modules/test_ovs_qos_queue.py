# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import copy
import sys

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.input_rules import check_rules
from ansible_collections.novaops.compute.plugins.module_utils.common.plan import Plan
from ansible_collections.novaops.compute.plugins.module_utils.ovs import qos_queue_plan
from ansible_collections.novaops.compute.plugins.module_utils.ovs.ovsdb import OVS
from ansible_collections.novaops.compute.plugins.modules.ovs_qos_queue import QoSQueues, argument_spec
from ansible_collections.novaops.compute.tests.unit.plugins.fake_module import FakeModule
from ansible_collections.novaops.compute.tests.unit.plugins.modules.ovs_commands import OVSCommands, table


PORT = table(["_uuid", "name", "qos"], [[["uuid", "p-1"], "eth1", ["uuid", "q-1"]]])
PORT_NO_QOS = table(["_uuid", "name", "qos"], [[["uuid", "p-1"], "eth1", ["set", []]]])
BRIDGES = table(["_uuid", "name", "ports"], [[["uuid", "b-1"], "br-int", ["set", [["uuid", "p-0"], ["uuid", "p-1"]]]]])
QOS = table(["_uuid", "external_ids", "other_config", "queues", "type"],
            [[["uuid", "q-1"], ["map", []], ["map", [["max-rate", "1000000000"]]],
              ["map", [[13947, ["uuid", "u-1"]]]], "linux-htb"]])
NO_QOS = table(["_uuid", "external_ids", "other_config", "queues", "type"], [])
QUEUES = table(["_uuid", "dscp", "external_ids", "other_config"],
               [[["uuid", "u-1"], ["set", []], ["map", []], ["map", [["max-rate", "614400000"]]]]])


def qos_module(params, check_mode=False, diff=False):
    """The module on port eth1, the rest as given or the module's defaults."""
    return FakeModule(argument_spec(), {"port": "eth1", **params}, check_mode, diff)


class FakeRun(OVSCommands):
    """The module's one read (four list commands) answered with ``reads``."""

    def __init__(self, reads):
        super().__init__()
        self.reads = reads

    def answer(self, argv):
        if "list" in argv and argv.count("list") == 4:
            return 0, "\n".join(self.reads) + "\n", ""
        return 0, "", ""


def queue(**kw):
    q = dict(id=13947, max_rate=None, min_rate=None, burst=None, priority=None, source_ips=None)
    q.update(kw)
    return q


def test_no_change_makes_one_read_and_no_write():
    run = FakeRun([PORT, BRIDGES, QOS, QUEUES])
    module = qos_module(dict(max_rate=1000000000, queues=[queue(max_rate=614400000)]))
    result = QoSQueues(module, OVS(run)).converge()
    assert result["changed"] is False and result["actions"] == []
    assert len(run.calls) == 1 and run.writes == []
    assert result["qos"]["queues"]["13947"]["tc_class"] == "1:367c"


def test_rate_change_is_one_transaction():
    run = FakeRun([PORT, BRIDGES, QOS, QUEUES])
    module = qos_module(dict(queues=[queue(max_rate=307200000)]))
    result = QoSQueues(module, OVS(run)).converge()
    assert result["actions"] == ["ovsdb_transaction"]
    assert len(run.writes) == 1
    assert run.writes[0][-5:] == ["--", "set", "Queue", "u-1", "other_config:max-rate=307200000"]


def test_check_mode_predicts_without_writing():
    run = FakeRun([PORT_NO_QOS, BRIDGES, NO_QOS, QUEUES])
    module = qos_module(dict(max_rate=1000000000, queues=[queue(max_rate=614400000)]), check_mode=True, diff=True)
    result = QoSQueues(module, OVS(run)).converge()
    assert result["changed"] is True and result["actions"] == ["ovsdb_transaction"]
    assert run.writes == []
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["queues"]["13947"]["max_rate"] == 614400000


def test_create_transaction_shape():
    run = FakeRun([PORT_NO_QOS, BRIDGES, NO_QOS, QUEUES])
    module = qos_module(dict(max_rate=1000000000, queues=[queue(max_rate=614400000)]))
    QoSQueues(module, OVS(run)).converge()
    txn = run.writes[0]
    assert txn.count("create") == 2
    assert "queues:13947=@q13947" in txn and "qos=@qos" in txn
    assert "other_config:max-rate=614400000" in txn


@pytest.mark.parametrize("params, msg", [
    (dict(queues=[queue(max_rate=-1)]), "max_rate must be a positive number"),
    (dict(queues=[queue(id=61440, max_rate=1)]), "out of range for linux-htb"),
    (dict(queues=[queue(id=2 ** 32, max_rate=1)]), "OVS queue ids are 0 to 4294967295"),
    (dict(queues=[queue(source_ips=["10.0.0.300"])]), "not a valid IPv4 or IPv6 address"),
    (dict(queues=[queue(min_rate=10, max_rate=5)]), "above max_rate"),
])
def test_bad_input_before_any_command(params, msg):
    run = FakeRun([PORT, BRIDGES, QOS, QUEUES])
    with pytest.raises(NovaopsError) as err:
        QoSQueues(qos_module(params), OVS(run))
    assert msg in err.value.msg
    assert run.calls == []


def test_htb_limit_does_not_apply_to_absent():
    run = FakeRun([PORT, BRIDGES, QOS, QUEUES])
    QoSQueues(qos_module(dict(state="absent", queues=[queue(id=70000)])), OVS(run))


def test_unknown_port_fails_clearly():
    run = FakeRun([table(["_uuid", "name", "qos"], []), BRIDGES, NO_QOS, QUEUES])
    with pytest.raises(NovaopsError) as err:
        QoSQueues(qos_module(dict(port="nope", queues=[queue(max_rate=1)])), OVS(run)).converge()
    assert "no Open vSwitch port named nope" in err.value.msg
    assert run.writes == []


def test_the_declared_rules_refuse_a_table_priority_or_rate_out_of_range():
    declared = argument_spec().input_rules
    assert "flow_table must be between 0 and 254" in check_rules(declared, dict(flow_table=255))[0]
    assert "flow_priority must be between 0 and 65535" in check_rules(declared, dict(flow_priority=65536))[0]
    assert "queues[0].max_rate cannot be negative" in check_rules(declared, dict(queues=[dict(max_rate=-1)]))[0]
    assert "timeout must be at least 1 second" in check_rules(declared, dict(timeout=0))[0]
    assert check_rules(declared, dict(flow_table=0, flow_priority=100, timeout=10)) == (None, [])


QUEUES_MIN = table(["_uuid", "dscp", "external_ids", "other_config"],
                   [[["uuid", "u-1"], ["set", []], ["map", []], ["map", [["max-rate", "614400000"], ["min-rate", "1000"]]]]])


@pytest.mark.parametrize("params, reads, unchanged", [
    (dict(max_rate=1000000000, queues=[queue(max_rate=614400000)]), [PORT, BRIDGES, QOS, QUEUES], True),
    (dict(queues=[queue(max_rate=614400000)]), [PORT, BRIDGES, QOS, QUEUES], True),
    (dict(), [PORT, BRIDGES, QOS, QUEUES], True),
    (dict(queues=[queue(min_rate=1000)]), [PORT, BRIDGES, QOS, QUEUES_MIN], True),
    (dict(queues=[queue(max_rate=307200000)]), [PORT, BRIDGES, QOS, QUEUES], False),
    (dict(max_rate=2000000000, queues=[queue(max_rate=614400000)]), [PORT, BRIDGES, QOS, QUEUES], False),
    (dict(type="linux-hfsc", queues=[queue(max_rate=614400000)]), [PORT, BRIDGES, QOS, QUEUES], False),
    (dict(queues=[queue(max_rate=614400000), queue(id=5, max_rate=1000)]), [PORT, BRIDGES, QOS, QUEUES], False),
    (dict(queues=[queue(min_rate=1000)]), [PORT, BRIDGES, QOS, QUEUES], False),
    (dict(queues=[queue(max_rate=614400000)]), [PORT_NO_QOS, BRIDGES, NO_QOS, QUEUES], False),
    (dict(queues=[queue(max_rate=614400000, source_ips=[])]), [PORT, BRIDGES, QOS, QUEUES], False),
    (dict(purge_queues=True, queues=[queue(max_rate=614400000)]), [PORT, BRIDGES, QOS, QUEUES], False),
])
def test_the_no_change_shortcut_never_hides_a_change(params, reads, unchanged):
    """QoSQueues.unchanged() (the no-change run's shortcut past qos_queue_plan) holds only where the planner
    plans nothing; where it does not hold, the planner decides."""
    manager = QoSQueues(qos_module(params), OVS(FakeRun(reads)))
    before = manager.read()
    assert manager.unchanged(before) is unchanged
    plan = Plan()
    qos_queue_plan.plan_present(manager, copy.deepcopy(before), plan)
    if unchanged:
        assert not plan and manager.changes == []


def test_a_no_change_run_does_not_load_the_planner(monkeypatch):
    monkeypatch.delitem(sys.modules, qos_queue_plan.__name__)
    monkeypatch.delattr(sys.modules[qos_queue_plan.__name__.rpartition(".")[0]], "qos_queue_plan")
    run = FakeRun([PORT, BRIDGES, QOS, QUEUES])
    result = QoSQueues(qos_module(dict(queues=[queue(max_rate=614400000)])), OVS(run)).converge()
    assert result["changed"] is False
    assert qos_queue_plan.__name__ not in sys.modules
