"""`autocli eval` on causal LMs: every window's loss equals transformers' loss with labels on that window, the
total is token-weighted, bits per byte follow from it; bounds and malformed rows give their exit codes."""

from __future__ import annotations

import json
import math

import pytest

from tests.conftest import assert_one_line_error
from tests.fx_decoders import build_decoder, decoder_oracle

WORDS = "the cat sat on a mat and the dog ran over hills while rain fell softly near old stone walls".split()


def _text(lines: int = 30, seed: int = 0) -> str:
    import random

    rng = random.Random(seed)
    return "\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14))) for _ in range(lines)) + "\n"


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("eval_lm") / "corpus.txt"
    path.write_text(_text(), encoding="utf-8")
    return path


def _reference(folder, variant: str, text: str, size: int, stride: int):
    """transformers on transformers' windows: labels -100 outside each window's new tokens -> per window
    (loss, scored tokens), and the stream's token count."""
    import torch
    from transformers import AutoTokenizer

    ref = decoder_oracle(folder, variant, "causal-lm")
    ids = torch.tensor([AutoTokenizer.from_pretrained(folder)(text)["input_ids"]])
    n, prev_end, out = ids.shape[1], 0, []
    for begin in range(0, n, stride):
        end = min(begin + size, n)
        window = ids[:, begin:end]
        labels = window.clone()
        labels[:, : -(end - prev_end)] = -100
        with torch.no_grad():
            loss = ref(input_ids=window, labels=labels).loss.item()
        out.append((loss, int((labels[:, 1:] != -100).sum())))
        prev_end = end
        if end == n:
            break
    return out, n


@pytest.mark.parametrize("variant", ["gpt2", "llama"])
@pytest.mark.parametrize("size,stride", [(64, 32), (48, 48), (40, 7)])
def test_window_losses_equal_transformers(cli, decoder_root, text_file, tmp_path, variant, size, stride):
    folder = build_decoder(decoder_root, variant, "causal-lm")
    preds = tmp_path / "windows.jsonl"
    res = cli(["eval", folder, text_file, "--max-length", size, "--stride", stride, "--predictions", preds, "-f", "json", "-q"])
    assert res.exit_code == 0, res.stderr
    rep = res.json()
    ref, n = _reference(folder, variant, text_file.read_text(encoding="utf-8"), size, stride)
    windows = [json.loads(line) for line in preds.read_text().splitlines()]
    assert len(windows) == len(ref) == rep["details"]["windows"] > 2
    for got, (loss, scored) in zip(windows, ref):
        assert got["scored"] == scored
        assert got["loss"] == pytest.approx(loss, abs=1e-4)
    total = sum(loss * k for loss, k in ref)
    count = sum(k for _, k in ref)
    assert rep["details"]["tokens"] == n and rep["details"]["scored_tokens"] == count
    assert rep["metrics"]["loss"] == pytest.approx(total / count, abs=1e-4)
    assert rep["metrics"]["perplexity"] == pytest.approx(math.exp(total / count), rel=1e-4)
    n_bytes = len(text_file.read_bytes())
    assert rep["metrics"]["bits_per_byte"] == pytest.approx(total / math.log(2) / n_bytes, rel=1e-4)


def test_windows_score_each_token_once():
    from autocli.evaluate.lm import strided_windows

    for n, size, stride in [(100, 16, 5), (100, 16, 16), (17, 16, 8), (5, 16, 8), (64, 16, 1)]:
        scored = [t for w in strided_windows(n, size, stride) for t in range(w.first, w.end)]
        assert len(scored) == len(set(scored))
        assert all(w.end - w.begin <= size and w.first > w.begin for w in strided_windows(n, size, stride))
        if stride < size:
            assert scored == list(range(1, n))  # every token but the first, in order


def test_jsonl_rows_are_joined_and_bad_rows_reported(cli, decoder_root, tmp_path):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    rows = ['{"text": "the cat sat"}', "not json", '{"text": "on a mat"}', '{"title": "no text"}']
    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join(rows) + "\n")
    plain = tmp_path / "same.txt"
    plain.write_text("the cat sat\n\non a mat")
    res = cli(["eval", folder, data, "-f", "json", "-q"])
    assert res.exit_code == 7, res.stderr
    rep = res.json()
    assert rep["examples"] == 4 and rep["failed"] == 2 and [e["index"] for e in rep["errors"]] == [1, 3]
    assert "rows could not be scored" in res.stderr
    same = cli(["eval", folder, plain, "-f", "json", "-q"]).json()
    assert same["metrics"] == rep["metrics"]  # the good rows, joined with a blank line


def test_limit_keeps_first_lines(cli, decoder_root, text_file, tmp_path):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    head = tmp_path / "head.txt"
    head.write_text("".join(text_file.read_text().splitlines(keepends=True)[:5]))
    a = cli(["eval", folder, text_file, "--limit", 5, "-f", "json", "-q"]).json()
    b = cli(["eval", folder, head, "-f", "json", "-q"]).json()
    assert a["metrics"] == b["metrics"] and a["details"]["bytes"] == len(head.read_bytes())


def test_bounds_exit_codes(script, decoder_root, text_file):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    ok = script(["eval", folder, text_file, "--max", "perplexity=1e9", "--min", "loss=0", "-f", "json"])
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["passed"] is True
    bad = script(["eval", folder, text_file, "--max", "perplexity=2", "--min", "loss=0", "-f", "json"])
    assert bad.exit_code == 6, bad.stderr
    rep = json.loads(bad.stdout)
    assert rep["passed"] is False
    assert [(b["metric"], b["passed"]) for b in rep["bounds"]] == [("loss", True), ("perplexity", False)]
    assert "perplexity" in bad.stderr and "Traceback" not in bad.stderr
    unknown = script(["eval", folder, text_file, "--min", "accuracy=0.9"])
    assert_one_line_error(unknown, 2)
    assert "loss, perplexity, bits_per_byte" in unknown.stderr


@pytest.mark.parametrize("args,needle", [
    (["--min", "loss"], "METRIC=VALUE"),
    (["--max", "perplexity=abc"], "METRIC=VALUE"),
    (["--stride", "500", "--max-length", "32"], "--stride"),
    (["--task", "fill-mask"], "not a task"),
])
def test_usage_errors(cli, decoder_root, text_file, args, needle):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    res = cli(["eval", folder, text_file, *args])
    assert_one_line_error(res, 2)
    assert needle in res.stderr


def test_missing_data_and_short_text(cli, decoder_root, tmp_path):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    assert_one_line_error(cli(["eval", folder, tmp_path / "nope.txt"]), 2)
    (tmp_path / "one.txt").write_text("a")
    res = cli(["eval", folder, tmp_path / "one.txt"])
    assert_one_line_error(res, 2)
    assert "at least 2" in res.stderr


def test_window_defaults_to_positions_capped(cli, decoder_root, text_file, monkeypatch):
    import autocli.evaluate.lm as lm

    folder = build_decoder(decoder_root, "gpt2", "causal-lm")  # n_positions 96
    rep = cli(["eval", folder, text_file, "-f", "json", "-q"]).json()
    assert (rep["details"]["max_length"], rep["details"]["stride"]) == (96, 48)
    assert cli(["eval", folder, text_file, "--max-length", 500, "-f", "json", "-q"]).json()["details"]["max_length"] == 96
    monkeypatch.setattr(lm, "DEFAULT_WINDOW", 40)
    assert cli(["eval", folder, text_file, "-f", "json", "-q"]).json()["details"]["max_length"] == 40
