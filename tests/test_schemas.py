"""`autocli inspect --schema` / `autocli compat --schema`: the printed JSON Schemas describe the real outputs.

A small validator of the JSON Schema subset the schemas use (type, enum, const, properties, required, items,
additionalProperties, allOf), so the proof needs no extra dependency.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.fx_hub import tiny_bert
from tests.fx_tokenizers import write_wordpiece_tokenizer

TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is(value, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, TYPES[kind])


def errors(value, schema: dict, where: str = "$", closed: bool = True) -> list[str]:
    """What in value breaks schema; closed: keys the schema's properties do not name are errors too."""
    kinds = schema.get("type")
    if kinds is not None and not any(_is(value, k) for k in ([kinds] if isinstance(kinds, str) else kinds)):
        return [f"{where}: {value!r} is not {kinds}"]
    out = []
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        out.append(f"{where}: {value!r} != {schema['const']!r}")
    for sub in schema.get("allOf", []):
        out += errors(value, sub, where, closed=False)
    if isinstance(value, dict):
        out += [f"{where}: missing {k}" for k in schema.get("required", []) if k not in value]
        props, more = schema.get("properties", {}), schema.get("additionalProperties")
        for k, v in value.items():
            if k in props:
                out += errors(v, props[k], f"{where}.{k}")
            elif isinstance(more, dict):
                out += errors(v, more, f"{where}.{k}")
            elif props and closed and "allOf" not in schema:
                out.append(f"{where}: {k} is not in the schema")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            out += errors(item, schema["items"], f"{where}[{i}]")
    return out


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("schemas")
    good = tiny_bert(root / "good", vocab=128, layers=2)
    write_wordpiece_tokenizer(good, vocab_size=128, model_max_length=64)
    (good / "generation_config.json").write_text(json.dumps({"max_length": 20}))
    remote = shutil.copytree(good, root / "remote")
    config = json.loads((remote / "config.json").read_text())
    (remote / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "m.M"}}))
    return good, remote, root / "missing"


def schema_of(cli, command: str) -> dict:
    res = cli([command, "--schema"])
    assert res.exit_code == 0, res.stderr
    return res.json()


def test_the_validator_catches_a_wrong_document(cli):
    schema = schema_of(cli, "compat")
    assert errors({"schema": "autocli.compat/1"}, schema)
    assert errors({"schema": "autocli.compat/2", "tasks": [], "required": [], "strict": False, "ok": 1, "checkpoints": []}, schema)
    assert not errors({"schema": "autocli.compat/1", "tasks": [], "required": [], "strict": False, "ok": True, "checkpoints": []}, schema)


def test_compat_outputs_match_the_schema(cli, folders):
    good, remote, missing = folders
    schema = schema_of(cli, "compat")
    from autocli.compat.schema import SCHEMA

    assert schema == json.loads(json.dumps(SCHEMA))
    res = cli(["compat", good, remote, missing, "--require", "ner", "--strict", "--json"])
    assert res.exit_code == 6
    data = res.json()
    assert errors(data, schema) == []
    for line in cli(["compat", good, remote, missing, "--format", "jsonl"]).jsonl():
        assert errors(line, schema["$defs"]["jsonl-line"]) == []


@pytest.mark.parametrize("tensors", [False, True])
def test_inspect_outputs_match_the_schema(cli, folders, tensors):
    good, remote, _ = folders
    schema = schema_of(cli, "inspect")
    for folder in (good, remote):
        data = cli(["inspect", folder, "--json"] + (["--tensors"] if tensors else [])).json()
        assert errors(data, schema) == [], folder
        assert set(data) == set(schema["properties"])  # every field documented, every documented field there


def test_schema_needs_no_checkpoint_and_no_torch():
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = ("import sys; from autocli.cli import run; rc = run(['inspect', '--schema']) or run(['compat', '--schema']);"
            "assert 'torch' not in sys.modules; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
