"""`autocli fill-mask`: parity with transformers' fill-mask pipeline, several masks, inputs without one."""

from __future__ import annotations

import pytest

from tests.conftest import assert_one_line_error

TOL = 1e-4
MASKED = {"bert": ["The quick [MASK] fox jumps.", "Hello [MASK]!"], "roberta": ["The quick <mask> fox jumps.", "Hello <mask>!"]}


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_parity_with_the_pipeline(cli, tiny_checkpoints, family):
    from transformers import pipeline

    folder = tiny_checkpoints[family, "masked-lm"]
    texts = MASKED[family]
    res = cli(["fill-mask", folder, *texts, "--top-k", "4", "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    pipe = pipeline("fill-mask", model=str(folder), device="cpu")
    for rec, text in zip(res.jsonl(), texts):
        want = pipe(text, top_k=4)
        (mask,) = rec["masks"]
        got = mask["candidates"]
        assert [c["id"] for c in got] == [w["token"] for w in want]
        assert [c["token"] for c in got] == [w["token_str"] for w in want]
        assert all(abs(c["score"] - w["score"]) <= TOL for c, w in zip(got, want))
        assert text[mask["start"] : mask["end"]] in ("[MASK]", "<mask>")
        assert [c["sequence"] for c in got] == [w["sequence"] for w in want]  # the ids decoded, as the pipeline


def test_sequence_text_writes_the_token_into_the_input(cli, tiny_checkpoints):
    folder = tiny_checkpoints["bert", "masked-lm"]
    res = cli(["fill-mask", folder, "Hello [MASK]!", "--top-k", "2", "--sequence", "text", "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    for c in res.jsonl()[0]["masks"][0]["candidates"]:
        # random weights may rank [MASK] itself or a word piece ("##a": glued to the word before) first
        raw = c["token"].replace(" ", "")
        want = "Hello" + raw[2:] + "!" if raw.startswith("##") and len(raw) > 2 else "Hello " + c["token"].strip() + "!"
        assert c["sequence"] == want


def test_every_mask_gets_candidates_and_the_others_stay(cli, tiny_checkpoints):
    folder = tiny_checkpoints["bert", "masked-lm"]
    res = cli(["fill-mask", folder, "[MASK] and [MASK].", "--top-k", "2", "--format", "json"])
    assert res.exit_code == 0, res.stderr
    masks = res.json()[0]["masks"]
    assert [(m["start"], m["end"]) for m in masks] == [(0, 6), (11, 17)]
    for m in masks:
        assert len(m["candidates"]) == 2
        for c in m["candidates"]:
            assert c["sequence"].count("[MASK]") == 1


def test_an_input_without_a_mask_is_an_error_record(cli, tiny_checkpoints):
    folder = tiny_checkpoints["bert", "masked-lm"]
    res = cli(["fill-mask", folder, "--format", "jsonl"], input="Hello [MASK]!\nno mask here\n")
    assert res.exit_code == 7
    good, bad = res.jsonl()
    assert good["index"] == 0 and good["masks"]
    assert bad["index"] == 1 and "[MASK]" in bad["error"]["message"]
    table = cli(["fill-mask", folder, "Hello [MASK]!"])
    assert table.exit_code == 0 and "sequence" in table.stdout


def test_a_truncated_input_with_its_mask_in_reach_runs_and_is_warned_about(cli, tiny_checkpoints):
    folder = tiny_checkpoints["bert", "masked-lm"]
    res = cli(["fill-mask", folder, "[MASK] " + "word " * 40, "--max-length", "8", "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    assert res.jsonl()[0]["masks"] and "truncated" in res.stderr


def test_fill_in_keeps_the_text_around_the_mask():
    from autocli.tasks.fill_mask import fill_in

    assert fill_in("Paris is the [MASK] of France.", 13, 19, "capital") == "Paris is the capital of France."
    assert fill_in("The <mask> sat.", 4, 10, " cat") == "The cat sat."
    assert fill_in("run[MASK] fast", 3, 9, "##ning", piece="ning") == "running fast"
    assert fill_in("run [MASK] fast", 4, 10, "##ning", piece="ning") == "running fast"


def test_needs_a_masked_lm_head(cli, minilm_dir):
    assert_one_line_error(cli(["fill-mask", minilm_dir, "Hello [MASK]!"]), 5)
