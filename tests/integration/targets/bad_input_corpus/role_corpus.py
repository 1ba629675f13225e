# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bad-input corpus over the roles' meta/argument_specs.yml (run by runme.sh after corpus.py).

For every role and entry point: a base of well-typed values built from the spec itself, and
per option (sub-options included) the values the spec must refuse - wrong types, a value
outside the choices, null for a required option, a list element that is not a dict, an
unknown sub-option, a required sub-option left out.  Text content (traversal, shell
characters, unicode) is the modules' business and is covered by the module corpus.

The cases run in a few ansible-playbook runs at the same time (one per worker): a block per
case includes the role (in check mode, so that a case the spec wrongly lets through changes
nothing) and its rescue records which task failed.  Each case must fail in the role's argument validation - the task Ansible puts before
any of the role's own - with a message naming the option.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile

import yaml

import case_pool

VALIDATION_ACTION = "validate_argument_spec"


def synthetic(spec):
    """A value of the option's type that its spec accepts (meaningless, but well-typed)."""
    kind = spec.get("type", "str")
    if spec.get("choices"):
        return spec["choices"][0]
    if kind == "dict":
        return dict((name, synthetic(sub)) for name, sub in (spec.get("options") or {}).items())
    if kind == "list":
        if spec.get("elements") == "dict":
            return [synthetic(dict(type="dict", options=spec.get("options") or {}))]
        return []
    return {"str": "bi-role", "path": "/tmp/bi-role", "raw": "bi-role", "int": 1, "float": 1.0,
            "bool": False}.get(kind, "bi-role")


WRONG = {
    "int": [("wrong_type_str", "bi-not-a-number"), ("wrong_type_list", [1]), ("wrong_type_dict", {"bi": 1})],
    "float": [("wrong_type_str", "bi-not-a-number"), ("wrong_type_list", [1.0])],
    "bool": [("wrong_type_str", "bi-maybe"), ("wrong_type_list", [True]), ("int_two", 2)],
    "dict": [("wrong_type_str", "bi-not-a-dict"), ("wrong_type_list", ["bi"]), ("wrong_type_int", 5)],
    "list": [("wrong_type_dict", {"bi": "corpus"})],     # (a number or a string becomes a list: Ansible's rule)
}
# ansible-core's own gaps, noted rather than failed: its role validation checks that a required
# option is present, not that it is not null (check_required_arguments); and an int given for
# a dict option is refused with a TypeError's text, not a sentence naming the option.
NULL_PASSES = "ansible-core's role validation lets an explicit null through for a required option"
UNNAMED = "is not iterable"


def _walk(options, base, prefix):
    for name, spec in sorted((options or {}).items()):
        path = prefix + (name,)
        yield path, spec, base
        value = base.get(name)
        if spec.get("options"):
            if spec.get("type") == "dict" and isinstance(value, dict):
                yield from _walk(spec["options"], value, path)
            elif spec.get("type") == "list" and isinstance(value, list) and value:
                yield from _walk(spec["options"], value[0], path + (0,))


def _set(args, path, value, delete=False):
    target = args
    for part in path[:-1]:
        target = target[part]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value


def cases_of(role, entry, spec):
    options = spec.get("options") or {}
    base = dict((name, synthetic(sub)) for name, sub in options.items())
    cases = []
    for path, option, _parent in _walk(options, base, ()):
        values = list(WRONG.get(option.get("type", "str"), []))
        if option.get("choices"):
            values.append(("bad_choice", "bi-corpus-bogus"))
        if option.get("required"):
            values.append(("null_required", None))
        if option.get("type") == "list" and option.get("elements") == "dict":
            values.append(("element_not_dict", ["bi-not-a-dict"]))
        if option.get("options") and option.get("type") in ("dict", "list"):
            values.append(("unknown_suboption", "unknown"))
        if len(path) > 1 and option.get("required"):
            values.append(("required_missing", "missing"))
        for kind, value in values:
            args = copy.deepcopy(base)
            if kind == "unknown_suboption":
                node = args
                for part in path:
                    node = node[part]
                (node[0] if isinstance(node, list) else node)["bi_unknown_key"] = 1
            elif kind == "required_missing":
                _set(args, path, None, delete=True)
            else:
                _set(args, path, value)
            cases.append(dict(role=role, entry=entry, option=".".join(str(p) for p in path), kind=kind, vars=args))
    return base, cases


def role_specs(collection):
    roles_dir = os.path.join(collection, "roles")
    for role in sorted(os.listdir(roles_dir)) if os.path.isdir(roles_dir) else []:
        path = os.path.join(roles_dir, role, "meta", "argument_specs.yml")
        if not os.path.isfile(path):
            yield role, None, None
            continue
        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
        for entry, spec in sorted((data.get("argument_specs") or {}).items()):
            yield role, entry, spec


def playbook(cases, results_path):
    """One play over ``cases``: (number, case) pairs, numbered in the whole corpus."""
    tasks = [{"name": "Results so far", "ansible.builtin.set_fact": {"corpus_results": []}}]
    for number, case in cases:
        tasks.append({
            "name": "case %d %s %s %s" % (number, case["role"], case["option"], case["kind"]),
            "check_mode": True,
            "block": [
                {"name": "Include the role", "ansible.builtin.include_role": {
                    "name": "novaops.compute." + case["role"], "tasks_from": case["entry"]},
                 "vars": case["vars"]},
                {"name": "Let through", "ansible.builtin.set_fact": {
                    "corpus_results": "{{ corpus_results + [{'case': %d, 'refused': false}] }}" % number}},
            ],
            "rescue": [
                {"name": "Refused", "ansible.builtin.set_fact": {
                    "corpus_results": "{{ corpus_results + [{'case': %d, 'refused': true, "
                                      "'action': ansible_failed_task.action, 'task': ansible_failed_task.name, "
                                      "'msg': ansible_failed_result.msg | default('')}] }}" % number}},
            ],
        })
    tasks.append({"name": "Write the results", "ansible.builtin.copy": {
        "content": "{{ corpus_results | to_json }}", "dest": results_path, "mode": "0600"}})
    return [{"name": "Role argument corpus", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]


def main(collection, workdir):
    failures = []
    notes = []
    cases = []
    counts = {}
    for role, entry, spec in role_specs(collection):
        if spec is None:
            failures.append("role %s has no meta/argument_specs.yml: its input is not validated before its tasks"
                            % role)
            continue
        _base, role_cases = cases_of(role, entry, spec)
        counts["%s:%s" % (role, entry)] = len(role_cases)
        cases.extend(role_cases)
    results, output = run_playbooks(cases, workdir, case_pool.default_workers())
    if results is None:
        failures.append("the role corpus playbook did not finish: %s" % output[-2000:])
        return failures, notes, counts, output
    for number, case in enumerate(cases):
        label = "role %s:%s %s (%s)" % (case["role"], case["entry"], case["option"], case["kind"])
        got = results.get(number)
        if got is None:
            failures.append("%s: no result" % label)
        elif case["kind"] == "null_required" and not (got["refused"] and got["action"].endswith(VALIDATION_ACTION)):
            notes.append("%s: %s; %s" % (label, NULL_PASSES, "then refused by task %r: %s" % (
                got["task"], got["msg"][:150]) if got["refused"] else "the role ran on (check mode)"))
        elif not got["refused"]:
            failures.append("%s: the argument spec let it through" % label)
        elif not got["action"].endswith(VALIDATION_ACTION):
            failures.append("%s: refused by task %r (%s), not by the argument validation before the role's tasks"
                            % (label, got["task"], got["action"]))
        elif UNNAMED in got["msg"]:
            notes.append("%s: refused by the validation with ansible-core's TypeError text: %s" % (label, got["msg"][:150]))
        elif case["option"].split(".")[0] not in got["msg"] and case["kind"] != "unknown_suboption":
            failures.append("%s: the message does not name the option: %s" % (label, got["msg"][:300]))
    return failures, notes, counts, output


def run_playbooks(cases, workdir, chunks):
    """The cases in ``chunks`` ansible-playbook runs at the same time (each is one busy process):
    the results of all by case number, or None when one did not finish; and their output."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal")
    runs = []
    numbered = list(enumerate(cases))
    chunks = max(1, min(chunks, len(numbered)))
    for chunk in range(chunks):
        book = os.path.join(workdir, "role_corpus-%d.yml" % chunk)
        results_path = os.path.join(workdir, "role_corpus-%d.json" % chunk)
        with open(book, "w") as handle:
            json.dump(playbook(numbered[chunk::chunks], results_path), handle)     # JSON is YAML
        proc = subprocess.Popen(["ansible-playbook", "-i", "localhost,", "-c", "local",
                                 "-e", "ansible_python_interpreter=%s" % sys.executable, book],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        runs.append((proc, results_path))
    results, output = {}, ""
    for proc, results_path in runs:
        out, _err = proc.communicate()
        output += out
        if not os.path.exists(results_path):
            output += "\n(rc %s: %s did not finish)" % (proc.returncode, os.path.basename(results_path))
            results = None
        elif results is not None:
            with open(results_path) as handle:
                results.update((r["case"], r) for r in json.load(handle))
    return results, output


def collection_root():
    for path in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep):
        candidate = os.path.join(path, "ansible_collections", "novaops", "compute")
        if os.path.isdir(os.path.join(candidate, "roles")):
            return candidate
    return os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", ".."))


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else collection_root()
    with tempfile.TemporaryDirectory(prefix="bi-kffff-roles-") as tmp:
        found, noted, per_role, _out = main(root, tmp)
    for note in noted:
        print("note %s" % note)
    for key, count in sorted(per_role.items()):
        print("role corpus %-28s %4d cases" % (key, count))
    print("role corpus total %d cases; %d failure(s)" % (sum(per_role.values()), len(found)))
    for failure in found:
        print("FAIL %s" % failure)
    sys.exit(1 if found else 0)
