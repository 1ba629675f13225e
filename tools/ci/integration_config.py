"""Write tests/integration/integration_config.yml into the ansible-test tree.

ansible-test does not pass the caller's environment to the tests, but it passes this file
as extra vars.  It carries the beds' addresses as ``beds_env`` (the same variables as
.beds/env.sh, so a target's ``environment: "{{ beds_env }}"`` lets modules find them the
way a user's environment would), ``beds_env_file`` for runme.sh targets, ``beds_dir``, and
``tools_dir`` (this checkout's tools/, for a target that talks RFB through tools/xapisim's client).
"""

import json
import sys
from pathlib import Path


def main(beds_dir, collection_root):
    beds = Path(beds_dir).resolve()
    values = json.loads((beds / "env.json").read_text())
    config = dict(beds_env=values, beds_env_file=str(beds / "env.sh"), beds_dir=str(beds),
                  tools_dir=str(Path(__file__).resolve().parents[1]))
    target = Path(collection_root) / "tests" / "integration" / "integration_config.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")  # JSON is YAML
    target.chmod(0o600)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
