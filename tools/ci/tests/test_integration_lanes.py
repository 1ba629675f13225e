"""integration_lanes.py: what may run beside what, and lanes filled longest first."""

import json
import subprocess

from ci import integration_lanes as lanes

WEIGHTS = {"campaign_lv": 300, "corpus": 680, "roles": 200, "quiet_a": 150, "quiet_b": 120, "quiet_c": 90,
           "ovs_a": 20, "ovs_b": 30, "dom": 170, "dom_info": 20}
TAGS = {
    "campaign_lv": {"needs/root", lanes.STOPS_OVSDB, "needs/target/setup_compute_roles"},
    "corpus": {"needs/target/setup_compute_roles"},
    "roles": {"needs/target/setup_compute_roles"},
    "quiet_a": {lanes.NO_OVSDB},
    "quiet_b": {lanes.NO_OVSDB},
    "quiet_c": {lanes.NO_OVSDB},
    "ovs_a": {"needs/target/setup_ovs_veth"},
    "ovs_b": {"needs/target/setup_ovs_veth"},
    "dom": {"needs/target/setup_libvirt_domain"},
    "dom_info": {"needs/target/setup_libvirt_domain"},
}


def make_plan(count):
    return lanes.plan(sorted(TAGS), TAGS, count, WEIGHTS.get)


def test_the_ovsdb_stopper_runs_beside_no_ovsdb_targets_only():
    first, second = make_plan(2)
    assert first[0] == ["campaign_lv"]
    beside = [t for lane in first[1:] for t in lane]
    assert beside and all(lanes.NO_OVSDB in TAGS[t] for t in beside)
    assert sum(WEIGHTS[t] for t in beside) <= WEIGHTS["campaign_lv"]
    assert "campaign_lv" not in [t for lane in second for t in lane]


def test_every_target_runs_once():
    for count in (1, 2, 3):
        ran = [t for phase in make_plan(count) for lane in phase for t in lane]
        assert sorted(ran) == sorted(TAGS)


def test_targets_of_one_stateful_setup_share_a_lane():
    for count in (2, 3):
        where = {t: number for number, lane in enumerate(make_plan(count)[-1]) for t in lane}
        assert where["ovs_a"] == where["ovs_b"] and where["dom"] == where["dom_info"]


def test_one_lane_runs_the_stopper_alone_then_the_rest():
    first, second = make_plan(1)
    assert first == [["campaign_lv"]]
    assert len(second) == 1


def test_lanes_are_balanced_longest_first():
    loads = [sum(WEIGHTS[t] for t in lane) for lane in make_plan(2)[-1]]
    assert max(loads) - min(loads) <= max(WEIGHTS.values())


class FakeLane:
    number = 2
    log = "/build-lane2/phase1.log"

    def __init__(self, lines):
        self.lines = lines


def test_a_failed_target_is_told_last_with_the_lines_that_say_why():
    noise = ["ok: [localhost]"] * 50
    lines = {"quiet_a": ["Running quiet_a integration test role"] + noise,
             "corpus": (["Running corpus integration test script"] + noise
                        + ["FAIL xen_vm#uuid: changed the bed: VM left behind"] + noise + ["the corpus ends"])}
    summary = lanes.failure_summary([(FakeLane(lines), ["corpus"])])
    assert summary[0] == "FAILED corpus (lane 2; its whole output: /build-lane2/phase1.log):"
    assert "    FAIL xen_vm#uuid: changed the bed: VM left behind" in summary
    assert summary[-2] == "    the corpus ends"
    assert summary[-1] == "integration failed: corpus"
    assert not any("quiet_a" in line for line in summary)


def test_the_lines_are_split_by_target_as_ansible_test_starts_them():
    assert lanes.TARGET_START.match("Running bad_input_corpus integration test script").group(1) == "bad_input_corpus"
    assert not lanes.TARGET_START.match("[lane 1] Running x integration test role")


def test_no_failure_prints_nothing():
    assert lanes.failure_summary([]) == []


def test_each_lane_tree_talks_to_its_own_pair_of_pools(tmp_path):
    """Lane 2's config and env file carry the beds' NOVAOPS_LANE2_* pools under the plain names; lane 1's
    the plain ones: a pool-wide simulator fault armed by a target never meets the other lane's calls."""
    beds = tmp_path / "beds"
    beds.mkdir()
    values = {"NOVAOPS_BEDS_DIR": str(beds), "XENAPI_URL": "https://127.0.0.1:8441",
              "XENAPI_POOL_B_URL": "https://127.0.0.1:8442", "NOVAOPS_GLANCE_URL": "http://127.0.0.1:19292",
              "NOVAOPS_LANE2_XENAPI_URL": "https://127.0.0.1:8443", "NOVAOPS_LANE2_XENAPI_POOL_B_URL": "https://127.0.0.1:8444"}
    (beds / "env.json").write_text(json.dumps(values))
    root = tmp_path / "build" / "ansible_collections" / "novaops" / "compute"
    (root / "tests" / "integration").mkdir(parents=True)
    lanes.integration_config.main(str(beds), str(root))
    seen = {}
    for number in (1, 2):
        _build, tree = lanes.lane_tree(str(root), number)
        with open("%s/tests/integration/integration_config.yml" % tree) as handle:
            seen[number] = json.load(handle)
    assert seen[1]["beds_env"]["XENAPI_URL"] == "https://127.0.0.1:8441"
    assert seen[2]["beds_env"]["XENAPI_URL"] == "https://127.0.0.1:8443"
    assert seen[2]["beds_env"]["XENAPI_POOL_B_URL"] == "https://127.0.0.1:8444"
    assert seen[2]["beds_env"]["NOVAOPS_GLANCE_URL"] == "http://127.0.0.1:19292"     # the other beds are shared
    assert seen[1]["beds_env_file"] == str(beds / "env.sh")
    sourced = subprocess.run(["bash", "-c", 'source "$0"; echo "$XENAPI_URL $XENAPI_POOL_B_URL"',
                              seen[2]["beds_env_file"]], capture_output=True, text=True, check=True)
    assert sourced.stdout.split() == ["https://127.0.0.1:8443", "https://127.0.0.1:8444"]
