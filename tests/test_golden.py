"""--expect GOLDEN.jsonl: a run checked against an earlier --format jsonl run of the same command.

An identical run passes (exit 0, the same output); a deliberately perturbed weight is caught (exit 6, the first
differences on stderr, the run's own records still on stdout); a missing or malformed golden file is a usage
error before any model loads. The comparison rules themselves (exact values, floats within atol, embeddings by
cosine, timings ignored) are checked on plain records."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from autocli.golden import compare
from tests.conftest import assert_one_line_error
from tests.fx_decoders import build_decoder
from tests.fx_models import build_checkpoint


def perturbed(folder, tmp_path, match: str, scale: float = 1.0):
    """A copy of folder with noise added to the first tensor whose name contains `match`."""
    out = tmp_path / f"perturbed-{folder.name}"
    shutil.copytree(folder, out)
    tensors = load_file(str(out / "model.safetensors"))
    name = next(k for k in sorted(tensors) if match in k)
    rng = np.random.default_rng(0)
    tensors[name] = tensors[name] + (scale * rng.standard_normal(tensors[name].shape)).astype(tensors[name].dtype)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


# ---- the rules ------------------------------------------------------------------------------------


def test_labels_and_ids_exact_scores_within_atol():
    want = {"index": 0, "label": "POS", "score": 0.91, "scores": [{"label": "POS", "score": 0.91}], "ids": [1, 2]}
    assert compare(want, {**want, "score": 0.91 + 5e-5}, 1e-4) == []
    assert compare(want, {**want, "score": 0.92}, 1e-4) == ["score: 0.91 -> 0.92 (|Δ| 0.01 > 0.0001)"]
    assert compare(want, {**want, "label": "NEG"}, 1e-4) == ['label: "POS" -> "NEG"']
    assert compare(want, {**want, "ids": [1, 3]}, 1e-4) == ["ids[1]: 2 -> 3"]
    assert compare(want, {**want, "ids": [1]}, 1e-4) == ["ids: 2 items -> 1"]
    assert compare(want, {k: v for k, v in want.items() if k != "label"}, 1e-4) == ['label: "POS" -> missing']


def test_embeddings_by_cosine_and_timings_ignored():
    want = {"index": 0, "embedding": [1.0, 0.0, 0.0], "timings": {"total_s": 1.0}}
    assert compare(want, {"index": 0, "embedding": [2.0, 0.001, 0.0], "timings": {"total_s": 9.0}}, 1e-4) == []
    assert compare(want, {"index": 0, "embedding": [1.0, 0.1, 0.0], "timings": {}}, 1e-4)[0].startswith("embedding: cosine 0.99")


# ---- the commands ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    return build_checkpoint(tmp_path_factory.mktemp("golden"), "bert", "sequence-classification")


TEXTS = ["a fine day", "the worst film", "nothing at all"]


def test_classify_identical_run_passes_and_perturbed_weight_fails(script, classifier, tmp_path):
    golden = tmp_path / "golden.jsonl"
    first = script(["classify", classifier, *TEXTS, "--format", "jsonl", "--top-k", "all"])
    assert first.exit_code == 0, first.stderr
    golden.write_text(first.stdout)

    same = script(["classify", classifier, *TEXTS, "--format", "jsonl", "--top-k", "all", "--expect", golden])
    assert same.exit_code == 0, same.stderr
    assert same.stdout == first.stdout and "drift" not in same.stderr

    other = perturbed(classifier, tmp_path, "classifier.weight", 0.5)
    drift = script(["classify", other, *TEXTS, "--format", "jsonl", "--top-k", "all", "--expect", golden])
    assert drift.exit_code == 6, drift.stderr
    assert len(drift.stdout.splitlines()) == len(TEXTS)  # the run's own records are still written
    lines = drift.stderr.splitlines()
    assert lines[0].startswith("drift: input 0: ") and any(l.startswith("error: ") and "differ from" in l for l in lines)
    assert len([l for l in lines if l.startswith("drift: input")]) <= 5


def test_atol_decides(script, classifier, tmp_path):
    golden = tmp_path / "golden.jsonl"
    records = [json.loads(l) for l in script(["classify", classifier, TEXTS[0], "-f", "jsonl"]).stdout.splitlines()]
    records[0]["score"] += 0.01
    records[0]["scores"][0]["score"] += 0.01
    golden.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert script(["classify", classifier, TEXTS[0], "-f", "jsonl", "--expect", golden]).exit_code == 6
    assert script(["classify", classifier, TEXTS[0], "-f", "jsonl", "--expect", golden, "--atol", "0.02"]).exit_code == 0


def test_embed_drift_by_cosine(cli, classifier, tmp_path):
    golden = tmp_path / "golden.jsonl"
    first = cli(["embed", classifier, *TEXTS, "-f", "jsonl"])
    golden.write_text(first.stdout)
    assert cli(["embed", classifier, *TEXTS, "-f", "jsonl", "--expect", golden]).exit_code == 0
    other = perturbed(classifier, tmp_path, "encoder.layer.0.output.dense.weight", 1.0)
    res = cli(["embed", other, *TEXTS, "-f", "jsonl", "--expect", golden])
    assert res.exit_code == 6 and "embedding: cosine" in res.stderr


def test_generate_drift(script, decoder_root, tmp_path):
    model = build_decoder(decoder_root, "gpt2", "causal-lm")
    golden = tmp_path / "golden.jsonl"
    args = ["generate", "--max-new-tokens", "6", "-f", "jsonl", "Hello there", "Once upon"]
    first = script([args[0], model, *args[1:]])
    assert first.exit_code == 0, first.stderr
    golden.write_text(first.stdout)
    assert script([args[0], model, *args[1:], "--expect", golden]).exit_code == 0  # timings differ, ignored
    other = perturbed(model, tmp_path, "h.0.mlp.c_fc.weight", 3.0)
    res = script([args[0], other, *args[1:], "--expect", golden])
    assert res.exit_code == 6 and "token_ids" in res.stderr


def test_a_missing_record_is_drift(cli, classifier, tmp_path):
    golden = tmp_path / "golden.jsonl"
    golden.write_text(cli(["classify", classifier, *TEXTS, "-f", "jsonl"]).stdout)
    res = cli(["classify", classifier, *TEXTS[:2], "-f", "jsonl", "--expect", golden])
    assert res.exit_code == 6 and "no record for golden input(s) 2" in res.stderr


@pytest.mark.parametrize("content", [None, "", "not json\n", '{"label": "x"}\n', '[1, 2]\n', '{"index": 0}\n{"index": 0}\n'])
def test_a_bad_golden_file_is_a_usage_error_before_loading(cli, tmp_path, content):
    golden = tmp_path / "golden.jsonl"
    if content is not None:
        golden.write_text(content)
    # the model does not exist: exit 2 (not 3) proves the golden file is read first
    res = cli(["classify", tmp_path / "no-such-model", "text", "--expect", golden])
    assert_one_line_error(res, 2)
    assert "--expect" in res.stderr


@pytest.mark.parametrize("command", ["classify", "tag", "qa", "fill-mask", "embed", "choose", "generate"])
def test_every_record_command_takes_expect(cli, command):
    res = cli([command, "--help"], env={"COLUMNS": "200"})
    assert "--expect" in res.stdout and "--atol" in res.stdout


def _nudge_first_score(value) -> bool:
    """Add 0.01 to the first "score" found in a record (depth first); True when one was found."""
    if isinstance(value, dict):
        if isinstance(value.get("score"), float):
            value["score"] += 0.01
            return True
        return any(_nudge_first_score(v) for v in value.values())
    return isinstance(value, list) and any(_nudge_first_score(v) for v in value)


@pytest.mark.parametrize("task, args", [
    ("token-classification", ["tag", "Ada Lovelace went to Paris", "--ignore-labels", ""]),
    ("question-answering", ["qa", "--question", "Who went?", "--context", "Ada went to Paris."]),
    ("masked-lm", ["fill-mask", "The quick [MASK] fox jumps."]),
    ("multiple-choice", ["choose", "--question", "She opened the fridge and", "--choice", "took milk.", "--choice", "flew."]),
])
def test_each_record_type_passes_unchanged_and_drifts_by_a_score(cli, tmp_path_factory, tmp_path, task, args):
    model = build_checkpoint(tmp_path_factory.getbasetemp() / "golden_tasks", "bert", task)
    command = [args[0], model, *args[1:], "--format", "jsonl"]
    first = cli(command)
    assert first.exit_code == 0, first.stderr
    golden = tmp_path / "golden.jsonl"
    golden.write_text(first.stdout)
    same = cli([*command, "--expect", golden])
    assert same.exit_code == 0 and same.stdout == first.stdout, same.stderr
    records = [json.loads(line) for line in first.stdout.splitlines()]
    assert _nudge_first_score(records)
    golden.write_text("".join(json.dumps(r) + "\n" for r in records))
    res = cli([*command, "--expect", golden])
    assert res.exit_code == 6 and "score" in res.stderr.splitlines()[0], res.stderr
