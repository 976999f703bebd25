"""Hostile checkpoints against the safety and CI-gate promises: remote code is refused by every command that
would run or tokenize it, and `compat --require ... --strict` says "not ready" (exit 6) exactly for what the run
command then refuses (exit 4). One row per defect."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from tests.conftest import assert_one_line_error
from tests.fx_hub import tiny_bert, write_safetensors
from tests.fx_tokenizers import write_wordpiece_tokenizer

VOCAB = 128
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A runnable three-layer BERT with a WordPiece tokenizer (copied, then broken, by each row)."""
    folder = tiny_bert(tmp_path_factory.mktemp("hardening_compat") / "good", vocab=VOCAB, layers=3)
    write_wordpiece_tokenizer(folder, vocab_size=VOCAB, model_max_length=64)
    return folder


def copy(good: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(good, tmp_path / "ckpt"))


def edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def edit_tensors(folder: Path, fn) -> None:
    tensors = load_file(folder / "model.safetensors")
    fn(tensors)
    write_safetensors(folder / "model.safetensors", tensors)


# ---- remote code ------------------------------------------------------------------------------------

REMOTE_RUNS = {
    "embed": ["embed", "{m}", "hello"],
    "tokenize": ["tokenize", "{m}", "hello"],
    "classify": ["classify", "{m}", "hello", "--allow-random-head"],
    "fill-mask": ["fill-mask", "{m}", "hello [MASK]", "--allow-random-head"],
    "tag": ["tag", "{m}", "hello", "--allow-random-head"],
    "qa": ["qa", "{m}", "--question", "who?", "--context", "me", "--allow-random-head"],
    "generate": ["generate", "{m}", "hello"],
}


@pytest.fixture(scope="module")
def remote(good, tmp_path_factory) -> Path:
    folder = Path(shutil.copytree(good, tmp_path_factory.mktemp("remote") / "ckpt"))
    edit_config(folder, auto_map={"AutoModel": "modeling_evil.EvilModel"})
    return folder


@pytest.mark.parametrize("command", sorted(REMOTE_RUNS))
def test_remote_code_is_refused_by_every_command(command, remote, script):
    args = [a.replace("{m}", str(remote)) for a in REMOTE_RUNS[command]]
    res = script(args)
    assert_one_line_error(res, 4)
    assert "remote code refused" in res.stderr and "hint: " in res.stderr and res.stdout == ""


def test_remote_code_in_tokenizer_config_is_refused(good, tmp_path, cli):
    folder = copy(good, tmp_path)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["auto_map"] = {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    for args in (["tokenize", folder, "hello"], ["embed", folder, "hello"]):
        res = cli(args)
        assert_one_line_error(res, 4)
        assert "tokenizer_config.json has auto_map" in res.stderr
    verdict = cli(["compat", folder, "--task", "embed", "--json"]).json()["checkpoints"][0]["verdicts"]["base"]
    assert verdict["verdict"] == "blocked" and verdict["unmet"][0]["requirement"] == "remote-code"


@pytest.mark.parametrize("flag", ["--trust-remote-code", "--trust_remote_code", "--trust-remote-code=true"])
@pytest.mark.parametrize("command", ["embed", "inspect", "compat", "generate"])
def test_trust_remote_code_flag_is_answered_with_the_policy(command, flag, good, cli):
    res = cli([command, good, flag])
    assert_one_line_error(res, 4)
    assert "remote code refused" in res.stderr and "No such option" not in res.stderr


def test_inspect_says_blocked(remote, cli):
    data = cli(["inspect", remote, "--json"]).json()
    assert data["runnable"] is False and data["runnable_tasks"] == [] and "auto_map" in data["blocked"]
    table = cli(["inspect", remote, "--format", "table"], env={"COLUMNS": "200"}).stdout
    assert "blocked" in table and "yes:" not in table


# ---- compat sees what the run command refuses: strict gate exit 6, run exit 4 -------------------------


def _no_tokenizer(folder: Path) -> None:
    for name in TOKENIZER_FILES:
        (folder / name).unlink()


def _corrupt_tokenizer(folder: Path) -> None:
    (folder / "vocab.txt").unlink()
    (folder / "tokenizer.json").write_text('{"model": {"type": "WordPiece", "vocab": 7}}')


def _drop(name: str):
    return lambda folder: edit_tensors(folder, lambda t: t.pop(name))


def _dtype(name: str, dtype):
    return lambda folder: edit_tensors(folder, lambda t: t.__setitem__(name, t[name].astype(dtype)))


def _rows(n: int):
    return lambda folder: edit_tensors(folder, lambda t: t.__setitem__("embeddings.word_embeddings.weight", t["embeddings.word_embeddings.weight"][:n]))


# row: (break the checkpoint, the requirement compat names, the lint finding, words of the run's refusal)
ROWS = {
    "no tokenizer files": (_no_tokenizer, "tokenizer", "tokenizer-missing", "no tokenizer files"),
    "corrupt tokenizer.json": (_corrupt_tokenizer, "tokenizer", "tokenizer-invalid", "tokenizer"),
    "NaN layer_norm_eps": (lambda f: edit_config(f, layer_norm_eps=math.nan), "config", "norm-eps", "layer_norm_eps"),
    "negative layer_norm_eps": (lambda f: edit_config(f, layer_norm_eps=-1e-12), "config", "norm-eps", "layer_norm_eps"),
    "infinite layer_norm_eps": (lambda f: edit_config(f, layer_norm_eps=math.inf), "config", "norm-eps", "layer_norm_eps"),
    "embedding rows != vocab_size": (_rows(VOCAB - 8), "weights", "tensor-shape", "shape"),
    "hidden size != config": (lambda f: edit_config(f, hidden_size=48, num_attention_heads=4), "weights", "tensor-shape", "shape"),
    "a layer lacks a tensor": (_drop("encoder.layer.2.attention.self.key.weight"), "weights", "missing-tensor", "missing"),
    "fewer layers than config": (lambda f: edit_config(f, num_hidden_layers=4), "weights", "missing-tensor", "missing"),
    "integer weights": (_dtype("encoder.layer.1.output.dense.weight", np.int32), "weights", "tensor-dtype", "I32"),
    "bool weights": (_dtype("encoder.layer.1.output.dense.weight", np.bool_), "weights", "tensor-dtype", "BOOL"),
}


@pytest.mark.parametrize("row", sorted(ROWS))
def test_compat_refuses_what_the_run_refuses(row, good, tmp_path, cli):
    breaks, requirement, finding, words = ROWS[row]
    assert cli(["compat", good, "--require", "embed", "--strict"]).exit_code == 0  # the unbroken baseline
    folder = copy(good, tmp_path)
    breaks(folder)
    res = cli(["compat", folder, "--require", "embed", "--strict", "--json"])
    assert_one_line_error(res, 6)
    report = res.json()["checkpoints"][0]
    assert report["ok"] is False and report["failed"] == ["base"]
    assert requirement in [u["requirement"] for u in report["verdicts"]["base"]["unmet"]], report["verdicts"]["base"]
    assert finding in [f["name"] for f in report["findings"]], report["findings"]
    run = cli(["embed", folder, "hello"])
    assert_one_line_error(run, 4)
    assert words in run.stderr, run.stderr


def test_borrowed_tokenizer_makes_a_weights_only_checkpoint_ready(good, tmp_path, cli):
    folder = copy(good, tmp_path)
    _no_tokenizer(folder)
    assert cli(["compat", folder, "--require", "embed"]).exit_code == 6
    res = cli(["compat", folder, "--require", "embed", "--tokenizer", good, "--json"])
    assert res.exit_code == 0, res.stderr
    assert res.json()["checkpoints"][0]["verdicts"]["base"]["verdict"] == "ready"


# ---- generation setup --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gpt2(decoder_root) -> Path:
    from tests.fx_decoders import build_decoder

    return build_decoder(decoder_root, "gpt2", "causal-lm")


@pytest.mark.parametrize("generation_config, words", [
    ({"pad_token_id": 10**6}, "outside the model's"),
    ({"temperature": [1]}, "temperature"),
    ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"eos_token_id": "</s>"}, "eos_token_id"),
])
def test_generation_setup_is_a_requirement(generation_config, words, gpt2, tmp_path, cli):
    assert cli(["compat", gpt2, "--require", "generate", "--strict"]).exit_code == 0
    folder = Path(shutil.copytree(gpt2, tmp_path / "gen"))
    (folder / "generation_config.json").write_text(json.dumps(generation_config))
    res = cli(["compat", folder, "--require", "text-generation", "--strict", "--json"])
    assert_one_line_error(res, 6)
    verdict = res.json()["checkpoints"][0]["verdicts"]["causal-lm"]
    assert verdict["verdict"] == "incomplete" and verdict["unmet"][0]["requirement"] == "generation"
    assert words in verdict["unmet"][0]["message"]
    run = cli(["generate", folder, "hello"])
    assert run.exit_code in (2, 4) and "Traceback" not in run.stderr  # generate refuses it too


def test_unparseable_generation_config(gpt2, tmp_path, cli):
    folder = Path(shutil.copytree(gpt2, tmp_path / "gen"))
    (folder / "generation_config.json").write_text("{not json")
    verdict = cli(["compat", folder, "--task", "causal-lm", "--json"]).json()["checkpoints"][0]["verdicts"]["causal-lm"]
    assert verdict["verdict"] == "incomplete" and "not valid JSON" in verdict["reason"]
    assert_one_line_error(cli(["generate", folder, "hello"]), 4)


# ---- labels, names, output shapes ------------------------------------------------------------------------


def test_id2label_null_is_linted_and_classify_runs(tmp_path, cli):
    from tests.fx_models import build_checkpoint

    folder = build_checkpoint(tmp_path, "bert", "sequence-classification")
    edit_config(folder, id2label=None, label2id=None, num_labels=3)  # as transformers 5 saves default labels
    findings = cli(["compat", folder, "--json"]).json()["checkpoints"][0]["findings"]
    assert "generic-labels" in [f["name"] for f in findings]
    res = cli(["classify", folder, "hello", "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    assert res.jsonl()[0]["label"].startswith("LABEL_")


@pytest.mark.parametrize("name", ["AutoModelForTokenClassification", "token-classification", "ner", "TOKEN_CLASSIFICATION"])
def test_transformers_task_names_are_accepted(name, good, cli):
    data = cli(["compat", good, "--task", name, "--json"]).json()
    assert data["tasks"] == ["token-classification"]
    assert data["checkpoints"][0]["verdicts"]["token-classification"]["auto_class"] == "AutoModelForTokenClassification"
    res = cli(["compat", good, "--require", name])
    assert res.exit_code == 6 and "token-classification: head-untrained" in res.stderr


def test_jsonl_lines_carry_schema_and_ok(good, tmp_path, script):
    broken = copy(good, tmp_path)
    _no_tokenizer(broken)
    res = script(["compat", good, broken, "--require", "embed", "--format", "jsonl"])
    assert res.exit_code == 6
    lines = res.jsonl()
    assert [(line["schema"], line["ok"]) for line in lines] == [("autocli.compat/1", True), ("autocli.compat/1", False)]


def test_tokenizer_only_folder_tokenizes_unless_it_ships_code(good, tmp_path, cli):
    folder = tmp_path / "tok"
    folder.mkdir()
    for name in TOKENIZER_FILES:
        shutil.copy(good / name, folder / name)
    assert cli(["tokenize", folder, "hello"]).exit_code == 0  # no config.json needed to tokenize
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "auto_map": {"AutoTokenizer": ["t.T", None]}}))
    assert_one_line_error(cli(["tokenize", folder, "hello"]), 4)
