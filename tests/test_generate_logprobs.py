"""`generate --logprobs N` and `--echo` against transformers: each generated token's log-probability equals
`compute_transition_scores` (normalize_logits=True for greedy and sampling, the beam scores for beam search)
within 1e-4, the top-N alternatives are the N most likely tokens of that step's scores, and --echo's text is
transformers' decode(prompt + continuation)."""

from __future__ import annotations

import pytest
import torch

from tests.fx_decoders import build_decoder, decoder_oracle
from tests.fx_seq2seq import build_seq2seq, seq2seq_oracle

NEW = 12
PROMPTS = ["The quick brown fox jumps over", "Hello"]
TOP = 3


def _load(folder, task="causal-lm"):
    from autocli.models import load_model_from_dir
    from autocli.tokenizer import load_tokenizer_from_dir

    return load_model_from_dir(folder, task, device="cpu", dtype="float32"), load_tokenizer_from_dir(folder)


def _settings(model, tok, seq2seq=False, **flags):
    from autocli.tasks.gen_settings import resolve_settings

    return resolve_settings(model.config, None, tok, {"max_new_tokens": NEW, **flags}, seq2seq=seq2seq)


def _left_padded(rows, pad):
    T = max(len(r) for r in rows)
    ids = torch.tensor([[pad] * (T - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (T - len(r)) + [1] * len(r) for r in rows])
    return ids, mask, T


def _check_against(seq, scores, transition, row: int, offset: int = 0) -> None:
    """Our per-token records vs transformers' transition scores and each step's scores (top-N)."""
    n = len(seq.token_ids)
    assert n > 0 and len(seq.logprobs) == n
    assert [t.id for t in seq.logprobs] == seq.token_ids
    want = transition[row, offset:offset + n]
    assert torch.allclose(torch.tensor([t.logprob for t in seq.logprobs]), want.float(), atol=1e-4)
    for step, t in enumerate(seq.logprobs):
        if scores is None:
            continue
        lp = torch.log_softmax(scores[step][row].float(), dim=-1)
        values, ids = torch.topk(lp, TOP)
        keep = torch.isfinite(values)
        assert [a.id for a in t.top] == ids[keep].tolist()
        assert torch.allclose(torch.tensor([a.logprob for a in t.top]), values[keep], atol=1e-4)


@pytest.mark.parametrize("variant,prompts,kw", [
    ("llama", PROMPTS, {}),
    ("gpt2", PROMPTS, {}),
    ("qwen2", PROMPTS[:1], {"repetition_penalty": 1.3}),  # one row: transformers also penalises a padded row's padding
])
def test_greedy_logprobs_equal_transition_scores(decoder_root, variant, prompts, kw):
    from autocli.tasks.gen_loop import run_batch

    folder = build_decoder(decoder_root, variant, "causal-lm")
    model, tok = _load(folder)
    rows = [tok.encode(p).ids for p in prompts]
    s = _settings(model, tok, **kw)
    eos = s["eos_token_id"][0]
    ours = run_batch(model, tok, rows, s, logprobs=TOP).rows
    ref = decoder_oracle(folder, variant, "causal-lm")
    ids, mask, T = _left_padded(rows, eos)
    with torch.no_grad():
        out = ref.generate(input_ids=ids, attention_mask=mask, max_new_tokens=NEW, do_sample=False, pad_token_id=eos,
                           eos_token_id=eos, output_scores=True, return_dict_in_generate=True, **kw)
    transition = ref.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
    for b, [seq] in enumerate(ours):
        assert out.sequences[b, T:T + len(seq.token_ids)].tolist() == seq.token_ids
        _check_against(seq, out.scores, transition, b)


def test_sampled_logprobs_equal_transition_scores(decoder_root, monkeypatch):
    """transformers draws the tokens autocli drew (its multinomial replaced), so both score the same sequence."""
    from autocli.tasks.gen_loop import run_batch

    folder = build_decoder(decoder_root, "llama", "causal-lm")
    model, tok = _load(folder)
    rows = [tok.encode(p).ids for p in PROMPTS]
    warp = dict(temperature=0.8, top_k=20, top_p=0.9)
    s = _settings(model, tok, do_sample=True, seed=5, ignore_eos=True, **warp)
    ours = run_batch(model, tok, rows, s, logprobs=TOP).rows
    drawn = [seq.token_ids for [seq] in ours]
    steps = iter(range(NEW))

    def multinomial(probs, num_samples, **_):
        step = next(steps)
        picked = torch.tensor([[row[step]] for row in drawn])
        assert bool((probs.gather(1, picked) > 0).all())  # a token transformers could have drawn too
        return picked

    ref = decoder_oracle(folder, "llama", "causal-lm")
    ids, mask, T = _left_padded(rows, 0)
    monkeypatch.setattr(torch, "multinomial", multinomial)
    with torch.no_grad():
        out = ref.generate(input_ids=ids, attention_mask=mask, max_new_tokens=NEW, min_new_tokens=NEW, do_sample=True,
                           pad_token_id=0, output_scores=True, return_dict_in_generate=True, **warp)
    monkeypatch.undo()
    transition = ref.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
    for b, [seq] in enumerate(ours):
        assert out.sequences[b, T:].tolist() == seq.token_ids
        _check_against(seq, out.scores, transition, b)
        assert all(len(t.top) <= TOP for t in seq.logprobs)


@pytest.mark.parametrize("variant", ["t5", "bart"])
def test_beam_logprobs_equal_beam_transition_scores(seq2seq_root, variant):
    from autocli.tasks.gen_loop import run_batch

    folder = build_seq2seq(seq2seq_root, variant, "seq2seq-lm")
    model, tok = _load(folder, "seq2seq-lm")
    rows = [tok.encode(t).ids for t in ["The quick brown fox jumps over the lazy dog", "Hello world"]]
    beam = dict(num_beams=4, num_return_sequences=2, length_penalty=1.5, no_repeat_ngram_size=3)
    s = _settings(model, tok, seq2seq=True, **beam)
    ours = run_batch(model, tok, rows, s, logprobs=TOP).rows
    pad, eos = s["pad_token_id"], s["eos_token_id"]
    S = max(len(r) for r in rows)
    ids = torch.tensor([r + [pad] * (S - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (S - len(r)) for r in rows])
    ref = seq2seq_oracle(folder, variant, "seq2seq-lm")
    with torch.no_grad():
        out = ref.generate(input_ids=ids, attention_mask=mask, max_new_tokens=NEW, pad_token_id=pad, eos_token_id=eos,
                           do_sample=False, output_scores=True, return_dict_in_generate=True, **beam)
    transition = ref.compute_transition_scores(out.sequences, out.scores, out.beam_indices, normalize_logits=False)
    seqs = [seq for row in ours for seq in row]
    for i, seq in enumerate(seqs):
        assert out.sequences[i, 1:1 + len(seq.token_ids)].tolist() == seq.token_ids
        _check_against(seq, None, transition, i)
        assert abs(seq.score - float(out.sequences_scores[i])) < 1e-4
        # the top alternatives are that step's most likely tokens, best first, the chosen one's value among them or below
        for t in seq.logprobs:
            assert [a.logprob for a in t.top] == sorted((a.logprob for a in t.top), reverse=True)
            assert t.logprob <= t.top[0].logprob + 1e-6


def test_greedy_seq2seq_logprobs_equal_transition_scores(seq2seq_root):
    from autocli.tasks.gen_loop import run_batch

    folder = build_seq2seq(seq2seq_root, "t5", "seq2seq-lm")
    model, tok = _load(folder, "seq2seq-lm")
    rows = [tok.encode("The quick brown fox").ids]
    s = _settings(model, tok, seq2seq=True)
    [[seq]] = run_batch(model, tok, rows, s, logprobs=TOP).rows
    ref = seq2seq_oracle(folder, "t5", "seq2seq-lm")
    with torch.no_grad():
        out = ref.generate(input_ids=torch.tensor(rows), max_new_tokens=NEW, do_sample=False, output_scores=True,
                           return_dict_in_generate=True, pad_token_id=s["pad_token_id"], eos_token_id=s["eos_token_id"])
    transition = ref.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
    assert out.sequences[0, 1:1 + len(seq.token_ids)].tolist() == seq.token_ids
    _check_against(seq, out.scores, transition, 0)


@pytest.mark.parametrize("variant", ["llama", "gpt2"])
def test_echo_is_decode_of_prompt_and_continuation(decoder_root, cli, variant):
    """llama's SentencePiece spells a word's leading space from context: decoding apart would differ."""
    from transformers import AutoTokenizer

    folder = build_decoder(decoder_root, variant, "causal-lm")
    res = cli(["generate", folder, *PROMPTS, "--max-new-tokens", "8", "--echo", "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    ref = AutoTokenizer.from_pretrained(folder)
    for prompt, rec in zip(PROMPTS, res.jsonl()):
        full = ref(prompt)["input_ids"] + rec["token_ids"]
        assert rec["text"] == ref.decode(full, skip_special_tokens=True)
        assert rec["text"].startswith(prompt.split()[0])
    streamed = cli(["generate", folder, PROMPTS[0], "--max-new-tokens", "8", "--echo", "--format", "text"])
    assert streamed.stdout == res.jsonl()[0]["text"] + "\n"


def test_echo_is_refused_for_encoder_decoders(seq2seq_root, cli):
    from tests.conftest import assert_one_line_error

    folder = build_seq2seq(seq2seq_root, "t5", "seq2seq-lm")
    assert_one_line_error(cli(["generate", folder, "x", "--echo"]), 5)


def test_logprobs_in_records_and_table(decoder_root, cli):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    res = cli(["generate", folder, "Hello", "--max-new-tokens", "4", "--logprobs", "2", "--format", "jsonl"])
    assert res.exit_code == 0, res.stderr
    [rec] = res.jsonl()
    assert len(rec["logprobs"]) == len(rec["token_ids"])
    for t, tid in zip(rec["logprobs"], rec["token_ids"]):
        assert t["id"] == tid and t["logprob"] <= 0 and len(t["top"]) == 2
        assert t["top"][0]["logprob"] >= t["logprob"] - 1e-6 and set(t["top"][0]) == {"id", "token", "logprob"}
    table = cli(["generate", folder, "Hello", "--max-new-tokens", "4", "--logprobs", "2", "--format", "table"])
    assert table.exit_code == 0, table.stderr
    assert "log-probabilities" in table.stdout and f"{rec['logprobs'][0]['logprob']:.4f}" in table.stdout
    plain = cli(["generate", folder, "Hello", "--max-new-tokens", "4", "--format", "jsonl"])
    assert "logprobs" not in plain.jsonl()[0]
