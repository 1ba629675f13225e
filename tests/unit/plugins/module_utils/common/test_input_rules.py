# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""input_rules: each declared rule names the option as the operator set it, and lets good input through;
an option without a declared rule is not checked by its name."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.file_rule import PLAIN_FILE
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules
from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.tests.unit.plugins.canaries import KINDS, Canaries, plant


def problem(declared, params):
    return rules.check_rules(declared, params)[0]


def warnings(declared, params):
    return rules.check_rules(declared, params)[1]


def test_timeouts():
    declared = {"timeout": rules.SECONDS, "coalesce_timeout": rules.SECONDS, "glance.timeout": rules.SECONDS}
    assert problem(declared, dict(timeout=-1)).startswith("timeout must be from 0 to")
    assert problem(declared, dict(timeout=2 ** 63)) is not None
    assert "finite" in problem(declared, dict(coalesce_timeout=float("nan")))
    assert "glance.timeout" in problem(declared, dict(glance=dict(timeout=-5)))
    assert problem(declared, dict(timeout=0, coalesce_timeout=600.0, glance=dict(timeout=300))) is None
    assert problem({"timeout": rules.SECONDS_AT_LEAST_ONE}, dict(timeout=0)) == \
        "timeout must be at least 1 second, not 0."


def test_a_rule_is_declared_not_guessed_from_the_name():
    assert problem({}, dict(timeout=-1, bwlimit=-1, key_file="/dev/zero")) is None
    assert problem({"offset": rules.AMOUNT}, dict(offset=-1)) == "offset cannot be negative (-1)."


def test_file_options_must_be_regular_files(tmp_path):
    declared = {"key_file": PLAIN_FILE}
    regular = tmp_path / "key"
    regular.write_text("k")
    assert problem(declared, dict(key_file=str(regular))) is None
    assert problem(declared, dict(key_file=str(tmp_path / "missing"))) is None
    assert "not a regular file" in problem(declared, dict(key_file="/dev/zero"))
    assert "not a regular file" in problem(declared, dict(key_file=str(tmp_path)))
    assert "not an absolute path" in problem(declared, dict(key_file="relative/key"))
    assert problem(declared, dict(image="/dev/zero")) is None     # no rule declared for it


@pytest.mark.parametrize("kind", KINDS)
def test_file_options_that_are_plants_are_refused_unread(tmp_path, kind):
    """#18: an ssh key, known_hosts or CA file an option names is read by this root process (or ssh):
    a link (dangling too), a hard link or a FIFO there is refused, sub-options too."""
    declared = {"ssh_private_key_file": PLAIN_FILE, "glance.ca_path": PLAIN_FILE}
    with Canaries(str(tmp_path / "outside")) as canaries:
        (tmp_path / "keys").mkdir()
        at = str(tmp_path / "keys" / "id")
        plant(kind, at, canaries.make("shadow"), canaries)
        canaries.reset()
        for params, label in ((dict(ssh_private_key_file=at), "ssh_private_key_file"),
                              (dict(glance=dict(ca_path=at)), "glance.ca_path")):
            found = problem(declared, params)
            assert found and label in found and at in found, found
        assert canaries.problems() == []


def test_sizes_rates_and_limits_are_not_negative():
    declared = {"bwlimit": rules.AMOUNT, "queues.max_rate": rules.AMOUNT, "flavor.swap_mb": rules.AMOUNT,
                "memory_mb": rules.POSITIVE_AMOUNT}
    assert problem(declared, dict(bwlimit=-1)) == "bwlimit cannot be negative (-1)."
    assert problem(declared, dict(queues=[dict(max_rate=1), dict(max_rate=-5)])).startswith("queues[1].max_rate")
    assert problem(declared, dict(flavor=dict(swap_mb=-1))).startswith("flavor.swap_mb")
    assert problem(declared, dict(memory_mb=0)) == "memory_mb must be positive, not 0."
    assert problem(declared, dict(memory_mb=-512)) == "memory_mb cannot be negative (-512)."
    assert problem(declared, dict(offset=-1, bwlimit=0, queues=["junk"], flavor=None, memory_mb=1)) is None


def test_ranges():
    declared = {"flow_table": rules.Between(0, 254), "vcpus": rules.Between(1)}
    assert problem(declared, dict(flow_table=255)) == "flow_table must be between 0 and 254, not 255."
    assert problem(declared, dict(vcpus=0)) == "vcpus must be at least 1, not 0."
    assert problem(declared, dict(flow_table=0, vcpus=1)) is None


def test_ages_in_hours_of_the_image_caches():
    from ansible_collections.novaops.compute.plugins.modules import libvirt_image_cache, xen_image_cache
    for module in (libvirt_image_cache, xen_image_cache):
        assert module.argument_spec().input_rules["min_age_hours"] is rules.AGE_HOURS
    assert rules.AGE_HOURS.problem("min_age_hours", 0.0, {}) is None
    assert rules.AGE_HOURS.problem("min_age_hours", 876000, {}) is None
    for age in (-0.5, 876000.5, float("nan"), float("inf")):
        assert rules.AGE_HOURS.problem("min_age_hours", age, {}) == \
            "min_age_hours must be between 0 and 876000 (it is %s)." % age


def test_uuids():
    declared = {"uuid": rules.Uuid("VM")}
    assert problem(declared, dict(uuid="not-a-uuid")).startswith("uuid 'not-a-uuid' is not a VM UUID")
    assert problem(declared, dict(uuid="12345678-1234-1234-1234-1234567890ag")) is not None
    assert problem(declared, dict(uuid="12345678-1234-1234-1234-1234567890AB")) is None
    assert problem(declared, dict(uuid=None)) is None
    assert problem(declared, dict(uuid="")) is None       # not given, as the modules take it


def test_names_or_uuids():
    declared = {"host": rules.NAME_OR_UUID, "sr": rules.NAME_OR_UUID}
    assert problem(declared, dict(host="  ")) == "host is empty; give a name or a UUID."
    assert problem(declared, dict(host=" xenhost-02")) == "host ' xenhost-02' has blanks around it; give the name exactly."
    assert problem(declared, dict(sr="Local\nstorage")) == "sr 'Local\\nstorage' holds a control character."
    assert problem(declared, dict(sr="x" * 256)) == "sr is 256 characters long; a name label has at most 255."
    assert problem(declared, dict(host="xenhost-02", sr="Shared NFS storage")) is None
    assert problem(declared, dict(host="0b3f0c53-7e0c-4cf5-9d43-6a4c1b1f6e11", sr=None)) is None


def test_tls_switches_warn_naming_the_option_and_the_endpoint():
    declared = {"validate_certs": rules.TlsSwitch(("url",)),
                "dest_validate_certs": rules.TlsSwitch(("dest_url",), inherits="validate_certs"),
                "glance.validate_certs": rules.TlsSwitch(("url", "cloud"))}
    found = warnings(declared, dict(url="https://a", validate_certs=False, dest_url="https://b",
                                    dest_validate_certs=None, glance=dict(cloud="c", validate_certs=False)))
    assert [w.split(" is false")[0] for w in found] == [
        "validate_certs", "dest_validate_certs (unset, so validate_certs)", "glance.validate_certs"]
    assert "cloud c" in found[2]
    assert warnings(declared, dict(url="http://a", validate_certs=False, dest_url="https://b",
                                   dest_validate_certs=True, glance=dict(validate_certs=False))) == []


def test_a_rule_for_an_option_the_spec_lacks_is_a_programming_error():
    spec = ArgumentSpec(dict(timeout=dict(type="int"), glance=dict(type="dict", options=dict(url=dict()))),
                        input_rules={"timeout": rules.SECONDS, "glance.timeot": rules.SECONDS})
    with pytest.raises(ValueError, match="glance.timeot"):
        spec.create_ansible_module()
    assert rules.unknown_paths({"timeout": rules.SECONDS, "glance.url": PLAIN_FILE}, spec.argument_spec) == []
