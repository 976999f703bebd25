"""`autocli diff A B --outputs INPUTS`: both checkpoints run on the same ids; the numbers equal what transformers'
models give on those ids (max |Δ|, top-1 agreement, KL(A || B) of the softmaxed outputs, greedy agreement), and
--max-kl gates with exit 6."""

from __future__ import annotations

import json

import pytest

from tests.fx_decoders import build_decoder, decoder_oracle
from tests.fx_models import build_checkpoint, oracle
from tests.test_golden import perturbed

TEXTS = ["a fine day", "the worst film of the year"]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    return build_checkpoint(tmp_path_factory.mktemp("diff_out"), "bert", "sequence-classification")


def _reference(model_a, model_b, tokenizer_dir, texts):
    """transformers' logits of both models on A's ids -> (max |Δ|, top-1 agreement, mean KL) over all rows."""
    import torch
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    worst, agree, kl, rows = 0.0, 0, 0.0, 0
    for text in texts:
        ids = torch.tensor([tok.encode(text).ids])
        with torch.no_grad():
            a, b = model_a(input_ids=ids).logits.double(), model_b(input_ids=ids).logits.double()
        a, b = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
        worst = max(worst, float((a - b).abs().max()))
        agree += int((a.argmax(-1) == b.argmax(-1)).sum())
        kl += float((a.softmax(-1) * (a.log_softmax(-1) - b.log_softmax(-1))).sum())
        rows += a.shape[0]
    return worst, agree / rows, kl / rows


def test_identical_checkpoints_agree_exactly(cli, classifier):
    res = cli(["diff", classifier, classifier, "--outputs", TEXTS[0], "--outputs", TEXTS[1], "--json"])
    assert res.exit_code == 0, res.stderr
    o = res.json()["outputs"]
    assert o == {"task": "sequence-classification", "inputs": 2, "max_abs_diff": 0.0, "top1_agreement": 1.0, "mean_kl": 0.0}


def test_classifier_numbers_match_transformers(cli, classifier, tmp_path):
    other = perturbed(classifier, tmp_path, "classifier.weight", 0.5)
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("\n".join(TEXTS) + "\n\n")
    d = cli(["diff", classifier, other, "--outputs", inputs, "--json"]).json()
    worst, agree, kl = _reference(oracle(classifier, "bert", "sequence-classification"),
                                  oracle(other, "bert", "sequence-classification"), classifier, TEXTS)
    o = d["outputs"]
    assert o["inputs"] == 2 and o["task"] == "sequence-classification"
    assert o["max_abs_diff"] == pytest.approx(worst, abs=1e-4) and worst > 0.01
    assert o["top1_agreement"] == pytest.approx(agree) and o["mean_kl"] == pytest.approx(kl, rel=1e-3, abs=1e-6)
    assert [t["name"] for t in d["tensors"]] == ["classifier.weight"]


def test_language_models_next_token_and_greedy_agreement(cli, decoder_root, tmp_path):
    model = build_decoder(decoder_root, "gpt2", "causal-lm")
    other = perturbed(model, tmp_path, "h.0.mlp.c_fc.weight", 3.0)
    o = cli(["diff", model, other, "--outputs", "Hello there", "--outputs", "Once upon", "--max-new-tokens", "6", "--json"]).json()["outputs"]
    worst, agree, kl = _reference(decoder_oracle(model, "gpt2", "causal-lm"), decoder_oracle(other, "gpt2", "causal-lm"),
                                  model, ["Hello there", "Once upon"])
    assert o["task"] == "causal-lm" and o["max_abs_diff"] == pytest.approx(worst, abs=1e-3)
    assert o["top1_agreement"] == pytest.approx(agree) and o["mean_kl"] == pytest.approx(kl, rel=1e-3)
    assert o["greedy_agreement"] < 1.0
    same = cli(["diff", model, model, "--outputs", "Hello there", "--json"]).json()["outputs"]
    assert same["greedy_agreement"] == 1.0 and same["mean_kl"] == 0.0


def test_max_kl_gate(script, classifier, tmp_path):
    other = perturbed(classifier, tmp_path, "encoder.layer.0.output.dense.weight", 2.0)
    res = script(["diff", classifier, other, "--outputs", TEXTS[0], "--max-kl", "1e-9", "-f", "json"])
    assert res.exit_code == 6, res.stderr
    assert json.loads(res.stdout)["failed"][0].startswith("--max-kl") and "mean KL divergence" in res.stderr
    assert script(["diff", classifier, other, "--outputs", TEXTS[0], "--max-kl", "1e9", "-f", "json"]).exit_code == 0


def test_base_compares_hidden_states_only(cli, classifier):
    o = cli(["diff", classifier, classifier, "--outputs", "x", "--task", "base", "--json"]).json()["outputs"]
    assert o == {"task": "base", "inputs": 1, "max_abs_diff": 0.0, "top1_agreement": None, "mean_kl": None}


def test_encoder_decoder_teacher_forced_on_the_input_shifted_right(cli, seq2seq_root, tmp_path):
    """T5: the decoder reads the input shifted right (transformers' loss with labels = input); KL and top-1 over
    those positions equal transformers' on the same ids."""
    import torch
    from tokenizers import Tokenizer

    from tests.fx_seq2seq import build_seq2seq, seq2seq_oracle

    model = build_seq2seq(seq2seq_root, "t5", "seq2seq-lm")
    other = perturbed(model, tmp_path, "decoder.block.0.layer.2.DenseReluDense.wi.weight", 3.0)
    o = cli(["diff", model, other, "--outputs", "hello there", "--max-new-tokens", "4", "--json"]).json()["outputs"]
    ids = torch.tensor([Tokenizer.from_file(str(model / "tokenizer.json")).encode("hello there").ids])
    ref = []
    for folder in (model, other):
        m = seq2seq_oracle(folder, "t5", "seq2seq-lm")
        with torch.no_grad():
            ref.append(m(input_ids=ids, decoder_input_ids=m._shift_right(ids)).logits[0].double())
    a, b = ref
    kl = float((a.softmax(-1) * (a.log_softmax(-1) - b.log_softmax(-1))).sum(-1).mean())
    assert o["task"] == "seq2seq-lm" and o["max_abs_diff"] == pytest.approx(float((a - b).abs().max()), abs=1e-3)
    assert o["mean_kl"] == pytest.approx(kl, rel=1e-3) and kl > 0
    assert o["top1_agreement"] == pytest.approx(float((a.argmax(-1) == b.argmax(-1)).double().mean()))
    assert 0.0 <= o["greedy_agreement"] <= 1.0
