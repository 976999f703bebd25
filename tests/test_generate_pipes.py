"""`autocli generate` through real pipes (the installed console script): a single prompt prints its plain
text, several print JSONL records in input order, --format table forces the table, --logprobs records carry
each token's log-probabilities, and a reader that leaves early (`| head -1`) is not an error."""

from __future__ import annotations

import json

import pytest

from tests.fx_decoders import build_decoder

PROMPTS = ["The quick brown fox jumps over", "Hello", "Once upon a time"]


def test_one_prompt_in_a_pipe_is_plain_text(decoder_root, script):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    res = script(["generate", folder, PROMPTS[0], "--max-new-tokens", "6"])
    assert res.exit_code == 0 and res.stderr == "", res.stderr
    rec = script(["generate", folder, PROMPTS[0], "--max-new-tokens", "6", "--format", "jsonl"]).jsonl()[0]
    assert res.stdout == rec["text"] + "\n"


def test_several_prompts_in_a_pipe_are_jsonl_in_order(decoder_root, script):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    res = script(["generate", folder, "--max-new-tokens", "4", "--batch-size", "2"], input="\n".join(PROMPTS) + "\n")
    assert res.exit_code == 0, res.stderr
    recs = res.jsonl()
    assert [r["index"] for r in recs] == [0, 1, 2]
    assert all(r["finish_reason"] in ("eos", "length") and r["token_ids"] for r in recs)
    alone = script(["generate", folder, PROMPTS[1], "--max-new-tokens", "4"])
    assert alone.stdout == recs[1]["text"] + "\n"


def test_format_table_in_a_pipe(decoder_root, script):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    res = script(["generate", folder, *PROMPTS[:2], "--max-new-tokens", "3", "--format", "table"])
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    assert any("finish" in l and "text" in l for l in lines)
    assert [l.split("|")[1].strip() for l in lines if l.startswith("| ") and "finish" not in l] == ["0", "1"]
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            continue
        raise AssertionError(f"a JSON line in the table: {line!r}")


def test_logprobs_records_in_a_pipe(decoder_root, script):
    folder = build_decoder(decoder_root, "llama", "causal-lm")
    res = script(["generate", folder, PROMPTS[0], "--max-new-tokens", "5", "--logprobs", "3"])
    assert res.exit_code == 0, res.stderr
    [rec] = res.jsonl()  # with --logprobs a single prompt is a record too: plain text cannot carry them
    assert len(rec["logprobs"]) == len(rec["token_ids"]) >= 1
    first = rec["logprobs"][0]
    assert first["id"] == rec["token_ids"][0] and len(first["top"]) == 3 and isinstance(first["token"], str)


def test_show_config_in_a_pipe_is_json(decoder_root, script):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    res = script(["generate", folder, "--show-config"])
    assert res.exit_code == 0, res.stderr
    assert {s["name"] for s in res.json()["settings"]} >= {"max_new_tokens", "eos_token_id"}


def _head(folder, script, fmt):
    lines = "\n".join(PROMPTS * 4) + "\n"
    return script(["generate", folder, "--max-new-tokens", "8", "--ignore-eos", "--batch-size", "1", "--format", fmt],
                  input=lines, pipefail_head=1)


@pytest.mark.parametrize("fmt", ["jsonl", "text"])
def test_head_closes_the_pipe_early_quietly(decoder_root, script, fmt):
    """The streaming path lets BrokenPipeError reach the CLI's boundary: nothing on stderr, one line out."""
    res = _head(build_decoder(decoder_root, "gpt2", "causal-lm"), script, fmt)
    assert res.stderr == "" and len(res.stdout.splitlines()) == 1, (res.exit_code, res.stderr)


@pytest.mark.parametrize("fmt", ["jsonl", "text"])
def test_head_closes_the_pipe_early_with_exit_0(decoder_root, script, fmt):
    res = _head(build_decoder(decoder_root, "gpt2", "causal-lm"), script, fmt)
    assert res.exit_code == 0, (res.exit_code, res.stderr)
