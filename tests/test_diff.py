"""`autocli diff A B` from headers: fixtures built to differ in exactly one way each, and the whole difference
set diff reports for each (nothing more, nothing less); identical checkpoints; the table; the schema; the gates
(exit 6) through the console script; torch never imported."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from tests.conftest import ROOT, assert_one_line_error
from tests.fx_hub import safetensors_bytes, tiny_bert
from tests.fx_tokenizers import write_wordpiece_tokenizer
from tests.test_schemas import errors as schema_errors

VOCAB = 260  # the config's rows; the tokenizer has 256 ids, so one added token still fits


def _edit_json(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def _edit_tensors(folder, fn):
    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    fn(tensors)
    save_file(tensors, str(path), metadata={"format": "pt"})


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A BERT sequence classifier (classifier head trained) with a WordPiece tokenizer."""
    folder = tiny_bert(tmp_path_factory.mktemp("diff") / "base", vocab=VOCAB,
                       extra_config={"architectures": ["BertForSequenceClassification"], "hidden_act": "gelu",
                                     "transformers_version": "4.40.0", "torch_dtype": "float32"})
    rng = np.random.default_rng(1)
    _edit_tensors(folder, lambda t: t.update({"classifier.weight": rng.standard_normal((2, 32)).astype("float32"),
                                              "classifier.bias": rng.standard_normal(2).astype("float32")}))
    write_wordpiece_tokenizer(folder, vocab_size=256, model_max_length=64)
    return folder


@pytest.fixture
def variant(base, tmp_path):
    def make(edit):
        folder = tmp_path / f"variant{len(list(tmp_path.iterdir()))}"
        shutil.copytree(base, folder)
        edit(folder)
        return folder
    return make


def _differences(cli, a, b, *extra):
    res = cli(["diff", a, b, "--format", "json", *extra])
    assert res.exit_code == 0, res.stderr
    return res.json()


def _set(d: dict) -> list[str]:
    """The JSON document's difference set, as `section:key` strings."""
    out = [f"config:{c['key']}" for c in d["config"]]
    out += [name for name in ("dtype", "architectures", "heads", "ties") if d[name] is not None]
    out += [f"task:{c['key']}" for c in d["tasks"]]
    out += [f"tensor:{c['change']}:{c['name']}" for c in d["tensors"]]
    out += [f"{s}:{c['key']}" for s in ("tokenizer", "generation", "preprocessor") for c in d[s]]
    return sorted(out)


def test_identical_checkpoints_have_no_differences(cli, base, variant):
    d = _differences(cli, base, variant(lambda f: None))
    assert d["identical"] is True and d["hashed"] is True and _set(d) == []
    assert d["schema"] == "autocli.diff/1" and d["a"]["source"] == "local"


def test_one_tensor_retyped(cli, base, variant):
    other = variant(lambda f: _edit_tensors(f, lambda t: t.update(
        {"encoder.layer.1.output.dense.weight": t["encoder.layer.1.output.dense.weight"].astype("float16")})))
    d = _differences(cli, base, other)
    assert _set(d) == ["tensor:retyped:encoder.layer.1.output.dense.weight"]
    assert d["tensors"][0]["a"] == {"shape": [32, 64], "dtype": "F32"} and d["tensors"][0]["b"] == {"shape": [32, 64], "dtype": "F16"}


def test_repeated_layers_collapse_as_inspect_shows_them(cli, base, variant):
    def retype(t):
        for i in range(2):
            k = f"encoder.layer.{i}.attention.self.query.weight"
            t[k] = t[k].astype("float16")
    d = _differences(cli, base, variant(lambda f: _edit_tensors(f, retype)))
    assert _set(d) == ["tensor:retyped:encoder.layer.{0..1}.attention.self.query.weight"]
    assert d["tensors"][0]["count"] == 2


def test_one_config_key_changed(cli, base, variant):
    d = _differences(cli, base, variant(lambda f: _edit_json(f / "config.json", hidden_act="relu")))
    assert _set(d) == ["config:hidden_act"]
    assert d["config"] == [{"key": "hidden_act", "a": "gelu", "b": "relu"}]


def test_bookkeeping_keys_are_not_differences_and_dtype_is_a_note(cli, base, variant):
    d = _differences(cli, base, variant(lambda f: _edit_json(f / "config.json", transformers_version="5.0.0",
                                                             _name_or_path="/somewhere", torch_dtype="bfloat16")))
    assert _set(d) == ["dtype"] and d["dtype"] == {"key": "dtype", "a": "float32", "b": "bfloat16"}


def test_one_tokenizer_token_added(cli, base, variant):
    def add(folder):
        tok = json.loads((folder / "tokenizer.json").read_text())
        tok["added_tokens"].append({"id": 256, "content": "<extra>", "single_word": False, "lstrip": False,
                                    "rstrip": False, "normalized": False, "special": True})
        (folder / "tokenizer.json").write_text(json.dumps(tok))
    d = _differences(cli, base, variant(add))
    assert _set(d) == ["tokenizer:added_tokens.<extra>", "tokenizer:vocab_size"]
    changes = {c["key"]: (c["a"], c["b"]) for c in d["tokenizer"]}
    assert changes == {"added_tokens.<extra>": (None, {"id": 256, "special": True}), "vocab_size": (256, 257)}


def test_one_head_removed(cli, base, variant):
    d = _differences(cli, base, variant(lambda f: _edit_tensors(f, lambda t: [t.pop(k) for k in ("classifier.weight", "classifier.bias")])))
    assert _set(d) == ["heads", "task:sequence-classification", "tensor:removed:classifier.bias", "tensor:removed:classifier.weight"]
    assert d["heads"]["a"] == ["base", "sequence-classification"] and d["heads"]["b"] == ["base"]
    task = d["tasks"][0]
    assert (task["a"], task["b"]) == ("ready", "head-untrained")


def test_one_weight_changed_shows_by_its_bytes(cli, base, variant):
    def nudge(t):
        t["encoder.layer.0.output.dense.bias"] = t["encoder.layer.0.output.dense.bias"] + np.float32(1e-3)
    d = _differences(cli, base, variant(lambda f: _edit_tensors(f, nudge)))
    assert _set(d) == ["tensor:content:encoder.layer.0.output.dense.bias"]
    d = _differences(cli, base, variant(lambda f: _edit_tensors(f, nudge)), "--no-hashes")
    assert _set(d) == [] and d["hashed"] is False


def _mlm(folder, tie: bool | None):
    """A BERT MLM whose decoder is stored next to the embedding it is tied to (when the config ties them)."""
    extra = {"architectures": ["BertForMaskedLM"]} | ({} if tie is None else {"tie_word_embeddings": tie})
    tiny_bert(folder, vocab=64, extra_config=extra)
    _edit_tensors(folder, lambda t: t.update({"cls.predictions.decoder.weight": t["embeddings.word_embeddings.weight"].copy()}))
    return folder


def test_ties_broken(cli, tmp_path):
    d = _differences(cli, _mlm(tmp_path / "tied", True), _mlm(tmp_path / "untied", False))
    assert _set(d) == ["config:tie_word_embeddings", "ties"]
    assert d["ties"]["a"] == [["cls.predictions.decoder.weight", "embeddings.word_embeddings.weight"]] and d["ties"]["b"] == []


def test_tensors_stored_once_are_ties_too(cli, tmp_path):
    """Two names on the same bytes (an alias) is a tie; the same values stored twice under a config that unties them is not."""
    data = np.arange(8, dtype="<f4").tobytes()
    entry = {"dtype": "F32", "shape": [2, 4], "data_offsets": [0, 32]}
    for name, header, body in (("shared", {"wte.weight": entry, "lm_head.weight": entry}, data),
                               ("twice", {"wte.weight": entry, "lm_head.weight": {**entry, "data_offsets": [32, 64]}}, data * 2)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(safetensors_bytes(header, body))
        (tmp_path / name / "config.json").write_text(json.dumps({"model_type": "unknown-lm", "tie_word_embeddings": False}))
    d = _differences(cli, tmp_path / "shared", tmp_path / "twice")
    assert _set(d) == ["ties"] and d["ties"]["a"] == [["lm_head.weight", "wte.weight"]] and d["ties"]["b"] == []


def test_generation_and_preprocessor_configs(cli, base, variant):
    def edit(folder):
        (folder / "generation_config.json").write_text(json.dumps({"max_new_tokens": 5, "transformers_version": "x"}))
        (folder / "preprocessor_config.json").write_text(json.dumps({"feature_extractor_type": "X", "sampling_rate": 16000}))
    d = _differences(cli, base, variant(edit))
    assert _set(d) == ["generation:max_new_tokens", "preprocessor:feature_extractor_type", "preprocessor:file",
                       "preprocessor:sampling_rate"]


def test_the_json_matches_the_printed_schema(cli, base, variant):
    schema = cli(["diff", "--schema"]).json()
    other = variant(lambda f: (_edit_json(f / "config.json", hidden_act="relu"),
                               _edit_tensors(f, lambda t: t.pop("classifier.bias"))))
    d = cli(["diff", base, other, "--json"]).json()
    assert d["tensors"] and d["config"] and schema_errors(d, schema) == []


def test_the_table_groups_what_changed(cli, base, variant):
    other = variant(lambda f: _edit_json(f / "config.json", hidden_act="relu"))
    res = cli(["diff", base, other, "--format", "table"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    row = next(line for line in res.stdout.splitlines() if "hidden_act" in line)
    assert "config" in row and "gelu" in row and "relu" in row
    same = cli(["diff", base, base, "--format", "table"])
    assert "no differences" in same.stdout


def test_gates_exit_6_naming_what_failed(script, base, variant):
    def untokenize(folder):
        tok = json.loads((folder / "tokenizer.json").read_text())
        tok["added_tokens"].append({"id": 256, "content": "<x>", "special": True})
        (folder / "tokenizer.json").write_text(json.dumps(tok))
        _edit_tensors(folder, lambda t: [t.pop(k) for k in ("classifier.weight", "classifier.bias")])
    other = variant(untokenize)
    res = script(["diff", base, other, "--require-same-tokenizer", "--require-same-heads", "--format", "json"])
    assert res.exit_code == 6, res.stderr
    d = json.loads(res.stdout)  # the report is printed in every case
    assert [f.split(":")[0] for f in d["failed"]] == ["--require-same-tokenizer", "--require-same-heads"]
    assert "--require-same-tokenizer" in res.stderr and "--require-same-heads" in res.stderr
    assert script(["diff", base, base, "--require-same-tokenizer", "--require-same-heads", "-f", "json"]).exit_code == 0
    assert script(["diff", base, other, "-f", "json"]).exit_code == 0  # different, and no gate asked


def test_usage_errors(cli, base):
    assert_one_line_error(cli(["diff", base, base, "--max-kl", "0.1"]), 2)
    assert_one_line_error(cli(["diff", base, base / "missing"]), 3)


def test_no_torch_without_outputs(base):
    code = (
        "import sys, io; from autocli.cli import run; out = sys.stdout; sys.stdout = io.StringIO(); "
        f"rc = run(['diff', {str(base)!r}, {str(base)!r}, '--json']); sys.stdout = out; "
        "print(rc, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.split() == ["0", "False", "False"], out.stdout + out.stderr


# ---- the Hub: MODEL@rev1 MODEL@rev2, headers by range reads -----------------------------------------


def test_two_revisions_of_a_7b_sized_sharded_hub_checkpoint(cli, hub, tmp_path):
    from tests.fx_sparse import serve_llama_7b_revisions

    commits = serve_llama_7b_revisions(hub, tmp_path)
    res = cli(["diff", "org/llama-7b@v1", "org/llama-7b@v2", "--json"])
    assert res.exit_code == 0, res.stderr
    d = res.json()
    assert _set(d) == ["config:rope_theta", "tensor:retyped:model.norm.weight"]
    assert d["hashed"] is False and (d["a"]["commit"], d["b"]["commit"]) == (commits["v1"], commits["v2"])
    assert d["a"]["source"] == "hub"
    # headers only: a few KiB per shard (13 GB each side), no weight file in the cache's snapshots or blobs
    assert 0 < hub.bytes_served(filename="model-00001-of-00002.safetensors") < 200_000
    assert not list(hub.cache_dir.rglob("snapshots/*/*.safetensors"))
    assert not [p for p in hub.cache_dir.rglob("*") if p.is_file() and p.stat().st_size > 1 << 20]
