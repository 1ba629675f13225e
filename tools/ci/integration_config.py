"""Write tests/integration/integration_config.yml into the ansible-test tree.

ansible-test does not pass the caller's environment to the tests, but it passes this file
as extra vars.  It carries the beds' addresses as ``beds_env`` (the same variables as
.beds/env.sh, so a target's ``environment: "{{ beds_env }}"`` lets modules find them the
way a user's environment would), ``beds_env_file`` for runme.sh targets, ``beds_dir``, and
``tools_dir`` (this checkout's tools/, for a target that talks RFB through tools/xapisim's client).

A lane's tree (tools/ci/integration_lanes.py) gets the config of its lane: lane n > 1 sees the
beds' NOVAOPS_LANE<n>_* values (its own pair of XenAPI simulator pools) under their plain
names, and its ``beds_env_file`` is an env.sh of its own beside the tree.

    integration_config.py <beds dir> <collection root> [<lane>]
"""

import json
import shlex
import sys
from pathlib import Path


def lane_values(values, lane):
    """The beds' values as lane ``lane`` sees them: NOVAOPS_LANE<lane>_X as X."""
    prefix = "NOVAOPS_LANE%d_" % lane
    seen = dict(values)
    if lane > 1:
        seen.update((key[len(prefix):], value) for key, value in values.items() if key.startswith(prefix))
    return seen


def write_env_file(path, values):
    lines = ["# the beds' environment as one integration lane sees it (tools/ci/integration_config.py)"]
    lines += ["export %s=%s" % (key, shlex.quote(value)) for key, value in sorted(values.items())]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def main(beds_dir, collection_root, lane=1):
    beds = Path(beds_dir).resolve()
    values = lane_values(json.loads((beds / "env.json").read_text()), lane)
    env_file = beds / "env.sh"
    if lane > 1:
        # <build>-lane<n>/ansible_collections/novaops/compute -> <build>-lane<n>/beds-env.sh
        env_file = Path(collection_root).resolve().parents[2] / "beds-env.sh"
        write_env_file(env_file, values)
    config = dict(beds_env=values, beds_env_file=str(env_file), beds_dir=str(beds),
                  tools_dir=str(Path(__file__).resolve().parents[1]))
    target = Path(collection_root) / "tests" / "integration" / "integration_config.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")  # JSON is YAML
    target.chmod(0o600)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
