"""`autocli generate` on encoder-decoders: greedy and beam-search token ids equal transformers' generate (batch of
2 with padding; 4 beams, length penalty != 1, no-repeat 3-grams, 2 returned sequences, each early_stopping mode),
forced BOS/EOS, the logits processors' math, --task-prefix from task_specific_params, settings and their sources,
JSONL records and streamed text."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch

from tests.conftest import assert_one_line_error
from tests.fx_seq2seq import build_seq2seq, seq2seq_oracle

NEW = 16
TEXTS = ["The quick brown fox jumps over the lazy dog", "Hello world"]
GEN_VARIANTS = ["t5", "t5-v1_1", "mt5", "umt5", "bart", "mbart"]


def _load(folder):
    from autocli.models import load_model_from_dir
    from autocli.tokenizer import load_tokenizer_from_dir

    return load_model_from_dir(folder, "seq2seq-lm", device="cpu", dtype="float32"), load_tokenizer_from_dir(folder)


def _settings(model, tok, **flags):
    from autocli.tasks.gen_settings import resolve_settings

    return resolve_settings(model.config, None, tok, {"max_new_tokens": NEW, **flags}, seq2seq=True)


def _rows(tok):
    rows = [tok.encode(t).ids for t in TEXTS]
    assert len(rows[0]) != len(rows[1])  # the batch is padded
    return rows


def _reference(folder, variant, rows, pad, eos: list[int], **kw):
    """transformers' generate on the same right-padded batch; each sequence without its start token, cut after its first EOS."""
    ref = seq2seq_oracle(folder, variant, "seq2seq-lm")
    S = max(len(r) for r in rows)
    ids = torch.tensor([r + [pad] * (S - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (S - len(r)) for r in rows])
    with torch.no_grad():
        out = ref.generate(input_ids=ids, attention_mask=mask, max_new_tokens=NEW, pad_token_id=pad, eos_token_id=eos, **kw)
    cut = []
    for row in out[:, 1:].tolist():
        at = [i for i, t in enumerate(row) if t in eos]
        cut.append(row[: at[0] + 1] if at else row)
    return cut


def _frequent(results) -> int:
    """A token the model produces often (not the first one): made an extra EOS, rows finish at different steps."""
    counts = Counter(t for row in results for seq in row for t in seq.token_ids[1:])
    return counts.most_common(1)[0][0]


@pytest.mark.parametrize("variant", GEN_VARIANTS)
def test_greedy_ids_equal_transformers(seq2seq_root, variant):
    from autocli.tasks.gen_loop import run_batch

    folder = build_seq2seq(seq2seq_root, variant, "seq2seq-lm")
    model, tok = _load(folder)
    rows = _rows(tok)
    s = _settings(model, tok)
    result = run_batch(model, tok, rows, s)
    ours, stats = result.rows, result.stats
    eos, pad = s["eos_token_id"], s["pad_token_id"]
    assert [r[0].token_ids for r in ours] == _reference(folder, variant, rows, pad, eos, do_sample=False)
    assert stats.prompt_tokens == sum(len(r) for r in rows) and stats.prefill_s > 0
    # a second, frequent EOS: rows stop at different steps, the finished one is fed padding
    extra = _frequent(ours)
    s2 = _settings(model, tok, ignore_eos=False)
    s2.settings = [x for x in s2.settings if x.name != "eos_token_id"] + [type(s2.settings[0])("eos_token_id", eos + [extra], "test")]
    ours2 = run_batch(model, tok, rows, s2).rows
    want = _reference(folder, variant, rows, pad, eos + [extra], do_sample=False)
    assert [r[0].token_ids for r in ours2] == want
    assert any(r[0].finish_reason == "eos" for r in ours2)


BEAM_CASES = [
    ("t5", dict(length_penalty=1.5, early_stopping=True)),
    ("t5-v1_1", dict(length_penalty=0.6, early_stopping=False)),
    ("umt5", dict(length_penalty=2.0, early_stopping="never")),
    ("bart", dict(length_penalty=1.5, early_stopping=True)),
    ("mbart", dict(length_penalty=1.2, early_stopping=False)),
]


@pytest.mark.parametrize("variant,kw", BEAM_CASES, ids=[f"{v}-{k['early_stopping']}" for v, k in BEAM_CASES])
def test_beam_search_ids_equal_transformers(seq2seq_root, variant, kw):
    from autocli.tasks.gen_loop import run_batch

    folder = build_seq2seq(seq2seq_root, variant, "seq2seq-lm")
    model, tok = _load(folder)
    rows = _rows(tok)
    beam = dict(num_beams=4, no_repeat_ngram_size=3, num_return_sequences=2, **kw)
    s = _settings(model, tok, **beam)
    plain = run_batch(model, tok, rows, s).rows
    best = plain[0][0].token_ids
    # a second EOS id, one the best beam produces mid-way: 3K candidates a step, hypotheses of several lengths
    eos = s["eos_token_id"] + [next(t for t in best[4:] if t not in best[:4])]
    s.settings = [x for x in s.settings if x.name != "eos_token_id"] + [type(s.settings[0])("eos_token_id", eos, "test")]
    ours = run_batch(model, tok, rows, s).rows
    want = _reference(folder, variant, rows, s["pad_token_id"], eos, do_sample=False, **beam)
    got = [hyp.token_ids for row in ours for hyp in row]
    assert got == want
    # the extra EOS mattered: hypotheses finished early, or the search they joined returned something else
    # ("never" with a length penalty > 1 may keep preferring the longest hypotheses)
    if kw["early_stopping"] != "never":
        assert any(g[-1] in eos for g in got) or got != [hyp.token_ids for row in plain for hyp in row]
    scores = [hyp.score for row in ours for hyp in row]
    assert scores[0] >= scores[1] and scores[2] >= scores[3]  # best first


def test_forced_bos_and_min_length_match_transformers(seq2seq_root):
    from autocli.tasks.gen_loop import run_batch

    folder = build_seq2seq(seq2seq_root, "bart", "seq2seq-lm")
    model, tok = _load(folder)
    rows = _rows(tok)
    flags = dict(forced_bos_token_id=7, min_length=10, repetition_penalty=1.3)
    for beam in ({}, dict(num_beams=3, no_repeat_ngram_size=2)):
        s = _settings(model, tok, **flags, **beam)
        ours = run_batch(model, tok, rows, s).rows
        assert all(r[0].token_ids[0] == 7 for r in ours)
        want = _reference(folder, "bart", rows, s["pad_token_id"], s["eos_token_id"], do_sample=False, **flags, **beam)
        assert [r[0].token_ids for r in ours] == want


def test_no_repeat_ngram_math_matches_transformers():
    from transformers.generation.logits_process import NoRepeatNGramLogitsProcessor

    from autocli.tasks.processors import no_repeat_ngram

    g = torch.Generator().manual_seed(0)
    seqs = torch.randint(0, 5, (6, 12), generator=g)
    scores = torch.randn(6, 9, generator=g)
    for n in (1, 2, 3, 13):
        assert torch.equal(no_repeat_ngram(seqs, scores, n), NoRepeatNGramLogitsProcessor(n)(seqs, scores.clone()))


def _cli_jsonl(cli, folder, *args, input=None):
    res = cli(["generate", folder, *args, "--format", "jsonl"], input=input)
    assert res.exit_code == 0, res.stderr
    return res.jsonl()


def test_cli_records_timings_and_alternatives(seq2seq_root, cli):
    folder = build_seq2seq(seq2seq_root, "t5", "seq2seq-lm")
    recs = _cli_jsonl(cli, folder, *TEXTS, "--max-new-tokens", "6", "--num-beams", "3", "--num-return-sequences", "2",
                      "--length-penalty", "1.5", "--no-repeat-ngram-size", "3", "--early-stopping")
    assert [r["index"] for r in recs] == [0, 1]
    for r in recs:
        assert len(r["alternatives"]) == 1 and r["score"] >= r["alternatives"][0]["score"]
        assert {"encode_s", "encoder_tokens_per_s", "decode_tokens_per_s"} <= set(r["timings"])
        assert r["prompt_tokens"] > 0 and r["finish_reason"] in ("eos", "length")
    greedy = _cli_jsonl(cli, folder, TEXTS[0], "--max-new-tokens", "6")
    streamed = cli(["generate", folder, TEXTS[0], "--max-new-tokens", "6"])
    assert streamed.exit_code == 0 and streamed.stdout == greedy[0]["text"] + "\n"


def test_task_prefix_applies_text_and_settings(seq2seq_root, cli):
    params = {"summarization": {"prefix": "summarize: ", "num_beams": 2, "no_repeat_ngram_size": 3, "max_length": 6},
              "translation_en_to_de": {"prefix": "translate English to German: "}}
    folder = build_seq2seq(seq2seq_root, "t5", "seq2seq-lm", config_extra={"task_specific_params": params})
    res = cli(["generate", folder, "--show-config", "--format", "json", "--task-prefix", "summarize", "--num-beams", "3"])
    assert res.exit_code == 0, res.stderr
    got = {s["name"]: (s["value"], s["source"]) for s in res.json()["settings"]}
    assert got["num_beams"] == (3, "--num-beams")
    assert got["no_repeat_ngram_size"] == (3, "task_specific_params")
    assert got["decoder_start_token_id"] == (0, "config.json")
    [with_prefix] = _cli_jsonl(cli, folder, "a b c", "--task-prefix", "summarization")
    [spelled] = _cli_jsonl(cli, folder, "summarize: a b c", "--num-beams", "2", "--no-repeat-ngram-size", "3", "--max-new-tokens", "5")
    assert with_prefix["token_ids"] == spelled["token_ids"] and len(with_prefix["token_ids"]) <= 5
    assert with_prefix["prompt_tokens"] == spelled["prompt_tokens"]
    bad = cli(["generate", folder, "x", "--task-prefix", "poetry"])
    assert_one_line_error(bad, 2)
    assert "summarization" in bad.stderr


def test_inspect_lists_task_specific_params(seq2seq_root, cli):
    params = {"summarization": {"prefix": "summarize: "}, "translation_en_to_fr": {"prefix": "translate English to French: "}}
    folder = build_seq2seq(seq2seq_root, "t5", "seq2seq-lm", config_extra={"task_specific_params": params})
    res = cli(["inspect", folder, "--format", "json"])
    assert res.exit_code == 0, res.stderr
    assert res.json()["task_specific_params"] == ["summarization", "translation_en_to_fr"]


def test_beam_options_are_refused_where_they_cannot_apply(seq2seq_root, decoder_root, cli):
    from tests.fx_decoders import build_decoder

    folder = build_seq2seq(seq2seq_root, "bart", "seq2seq-lm")
    assert_one_line_error(cli(["generate", folder, "x", "--num-beams", "2", "--sample"]), 5)
    assert_one_line_error(cli(["generate", folder, "x", "--num-return-sequences", "2"]), 2)
    assert_one_line_error(cli(["generate", folder, "x", "--num-beams", "2", "--num-return-sequences", "3"]), 2)
    decoder = build_decoder(decoder_root, "gpt2", "causal-lm")
    assert_one_line_error(cli(["generate", decoder, "x", "--num-beams", "2"]), 5)


def test_classify_tag_qa_embed_run_on_t5_and_bart(seq2seq_root, cli):
    for variant, cmd, task, extra in (("t5", "classify", "sequence-classification", []), ("bart", "classify", "sequence-classification", []),
                                      ("t5", "tag", "token-classification", []), ("t5", "embed", "base", []),
                                      ("bart", "embed", "base", []),
                                      ("bart", "qa", "question-answering", ["--context", "The fox lives in the forest."])):
        folder = build_seq2seq(seq2seq_root, variant, task)
        text = ["--question"] if cmd == "qa" else []
        res = cli([cmd, folder, *text, "Where does the fox live?", *extra, "--format", "json"])
        assert res.exit_code == 0, (variant, cmd, res.stderr)
        assert res.json()
