# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import XenAPIError, parse_task_result


def test_bad_power_state_reads_as_a_sentence_and_keeps_code_and_params():
    err = XenAPIError("VM_BAD_POWER_STATE", ["OpaqueRef:1", "halted", "running"], "VM.destroy")
    assert err.msg == "VM OpaqueRef:1 is running, but the operation needs it halted."
    assert err.facts["xenapi_error"] == dict(code="VM_BAD_POWER_STATE",
                                             params=["OpaqueRef:1", "halted", "running"], method="VM.destroy")


def test_bootlock_message_names_the_lock():
    err = XenAPIError("OPERATION_BLOCKED", ["OpaqueRef:1", "rescue"])
    assert "blocked_operations" in err.msg and "bootlock" in err.msg


def test_unknown_code_keeps_its_parameters_in_the_message():
    err = XenAPIError("SOME_NEW_CODE", ["a", "b"], "VM.frob")
    assert err.msg == "XenAPI error SOME_NEW_CODE in VM.frob: a, b"


def test_a_plugin_failure_says_what_the_plugin_raised():
    """XenAPIPlugin's [function, exception class, message]: the class and message are the cause (a CI
    failure showed only "download_vhd"); xapi's [what, stdout, stderr] keeps the end of stderr."""
    raised = XenAPIError("XENAPI_PLUGIN_FAILURE", ["download_vhd", "OSError", "[Errno 28] No space left on device"])
    assert raised.msg == "The dom0 plugin failed: download_vhd: OSError: [Errno 28] No space left on device"
    died = XenAPIError("XENAPI_PLUGIN_FAILURE", ["non-zero exit", "", "x" * 1000 + "\nKilled\n"])
    assert died.msg.startswith("The dom0 plugin failed: non-zero exit: xxx") and died.msg.endswith("\nKilled")
    assert len(died.msg) < 500
    assert XenAPIError("XENAPI_PLUGIN_FAILURE", []).msg == "The dom0 plugin failed: (no detail)"


def test_task_result_is_parsed_from_its_xml_value():
    assert parse_task_result("<value>OpaqueRef:abc</value>") == "OpaqueRef:abc"
    assert parse_task_result("<value><array><data><value>x</value></data></array></value>") == ["x"]
    assert parse_task_result("") is None
