"""The decoding kernels (autocli.kernels) and the strided loss's partial last layer: each path gives the tokens
and logits of the eager path (greedy ids identical, logits within 1e-4), on tiny checkpoints saved by transformers."""

from __future__ import annotations

import pytest
import torch

from tests.fx_decoders import build_decoder, padded_batch

VARIANTS = ["gpt2", "gptj", "gpt_neox", "llama", "qwen2", "mistral"]
needs_onednn = pytest.mark.skipif("not __import__('autocli.kernels').kernels.onednn_available()",
                                  reason="this torch has no oneDNN inner product on this CPU")
needs_bf16 = pytest.mark.skipif("not __import__('autocli.kernels').kernels.packs(__import__('torch').bfloat16)",
                                reason="this torch's oneDNN runs no packed bfloat16 on this CPU")


def _load(folder, kernels="auto", dtype="float32"):
    from autocli.models import load_model_from_dir
    from autocli.tokenizer import load_tokenizer_from_dir

    model = load_model_from_dir(folder, "causal-lm", device="cpu", dtype=dtype)
    model.module.kernels = kernels
    return model, load_tokenizer_from_dir(folder)


def _steps(model, rows: list[list[int]], pad: int, new: int = 12):
    """Greedy ids and every step's logits (new, B, V) of a left-padded batch, through prefill and decode."""
    m = model.module
    T = max(len(r) for r in rows)
    ids = torch.tensor([[pad] * (T - len(r)) + r for r in rows])  # (B, T)
    mask = torch.tensor([[0] * (T - len(r)) + [1] * len(r) for r in rows])  # (B, T)
    out, logits = [], []
    with torch.inference_mode():
        cache = m.new_cache(len(rows), T + new)
        step = m.prefill(ids, mask, cache)  # (B, V)
        for _ in range(new):
            logits.append(step)
            tokens = step.argmax(-1)  # (B,)
            out.append(tokens)
            step = m.decode(tokens, cache)
    return torch.stack(out, 1).tolist(), torch.stack(logits)


def test_pick_follows_the_choice_and_the_dtype():
    from autocli import kernels
    from autocli.errors import Unsupported

    assert kernels.pick("eager", torch.float32, "cpu") == kernels.MATMUL
    assert kernels.pick("eager", torch.bfloat16, "cpu") == kernels.LINEAR
    for half in (torch.bfloat16, torch.float16):
        want = kernels.PACKED if kernels.packs_faster(half) else kernels.LINEAR
        assert kernels.pick("auto", half, "cpu") == want
        if kernels.packs(half):
            assert kernels.pick("onednn", half, "cpu") == kernels.PACKED
        else:
            with pytest.raises(Unsupported):
                kernels.pick("onednn", half, "cpu")
    want = kernels.PACKED if kernels.packs(torch.float32) else kernels.ONEDNN if kernels.onednn_available() else kernels.MATMUL
    assert kernels.pick("auto", torch.float32, "cpu") == want
    with pytest.raises(Unsupported):
        kernels.pick("fastest", torch.float32, "cpu")


def test_16_bit_keeps_f_linear_where_the_cpu_lacks_support(monkeypatch):
    """No oneDNN for the dtype: auto keeps F.linear and onednn is refused; emulated bf16 (no bf16 flags)
    runs packed only when asked for."""
    from autocli import environment, kernels
    from autocli.errors import Unsupported

    monkeypatch.setattr(environment, "cpu_info", lambda: {"features": ["avx2", "avx512f", "avx512bw"]})
    assert kernels.pick("auto", torch.bfloat16, "cpu") == kernels.LINEAR
    monkeypatch.setattr(kernels, "packs", lambda dtype: False)
    for half in (torch.bfloat16, torch.float16):
        assert kernels.pick("auto", half, "cpu") == kernels.LINEAR
        with pytest.raises(Unsupported):
            kernels.pick("onednn", half, "cpu")


def test_16_bit_auto_packs_on_bf16_hardware(monkeypatch):
    from autocli import environment, kernels

    monkeypatch.setattr(environment, "cpu_info", lambda: {"features": ["avx512f", "avx512_bf16"]})
    monkeypatch.setattr(kernels, "packs", lambda dtype: True)
    assert kernels.pick("auto", torch.bfloat16, "cpu") == kernels.PACKED
    assert kernels.pick("auto", torch.float16, "cpu") == kernels.PACKED
    assert kernels.pick("auto", torch.bfloat16, "meta") == kernels.LINEAR  # not a CPU


@needs_onednn
@pytest.mark.parametrize("variant", VARIANTS)
def test_onednn_decoding_equals_eager(decoder_root, variant):
    from autocli import kernels

    folder = build_decoder(decoder_root, variant, "causal-lm")
    eager, tok = _load(folder, "eager")
    fast, _ = _load(folder, "onednn")
    rows = [tok.encode(p).ids for p in ["The quick brown fox jumps over", "Hello"]]
    want_ids, want = _steps(eager, rows, 0)
    got_ids, got = _steps(fast, rows, 0)
    layouts = {m.kernel for m in fast.module.modules() if hasattr(m, "relayout")}
    assert layouts == {kernels.PACKED if kernels.packs(torch.float32) else kernels.ONEDNN}
    assert got_ids == want_ids
    assert (got - want).abs().max() <= 1e-4


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("start", [1, 7, 13])
def test_outputs_from_equals_the_full_pass(decoder_root, variant, start):
    """hidden(outputs_from=p) is the full pass's rows p.. (families with `tails` skip the rest of the last layer)."""
    from autocli.models._task import Inputs

    folder = build_decoder(decoder_root, variant, "causal-lm")
    model, tok = _load(folder)
    ids, mask = padded_batch(model.config.raw["vocab_size"], 0, "right")  # (3, 14): rows of 14, 9 and 3 tokens
    with torch.inference_mode():
        full = model.module.hidden(Inputs(ids, mask))  # (B, T, H)
        part = model.module.hidden(Inputs(ids, mask), start)  # (B, T - start, H)
    assert part.shape == (3, 14 - start, full.shape[-1])
    real = mask[:, start:].bool()
    assert (part - full[:, start:])[real].abs().max() <= 1e-5


@pytest.mark.parametrize("variant, dtype, fast", [("gpt2", "float32", "auto"),
                                                  pytest.param("llama", "bfloat16", "onednn", marks=needs_bf16)])
def test_strided_loss_is_the_same_on_every_kernel(decoder_root, tmp_path, variant, dtype, fast):
    from autocli.evaluate import EvalOptions
    from autocli.evaluate.lm import evaluate

    folder = build_decoder(decoder_root, variant, "causal-lm")
    text = tmp_path / "text.txt"
    text.write_text("The quick brown fox jumps over the lazy dog. " * 30, encoding="utf-8")
    losses = []
    for choice in ("eager", fast):
        model, tok = _load(folder, choice, dtype)
        out = evaluate(model, tok, text, EvalOptions(batch_size=4, max_length=40, stride=16, quiet=True))
        losses.append(out.metrics["loss"])
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)


@pytest.mark.parametrize("choice", ["eager", "auto"])
def test_cli_kernels_option_gives_the_same_text(decoder_root, cli, choice):
    folder = build_decoder(decoder_root, "llama", "causal-lm")
    base = cli(["generate", str(folder), "Hello there", "--max-new-tokens", "8"])
    res = cli(["generate", str(folder), "Hello there", "--max-new-tokens", "8", "--kernels", choice])
    assert res.exit_code == 0, res.stderr
    assert res.stdout == base.stdout


def test_cli_kernels_option_refuses_unknown_names(decoder_root, cli):
    folder = build_decoder(decoder_root, "llama", "causal-lm")
    res = cli(["generate", str(folder), "Hello", "--kernels", "fastest"])
    assert res.exit_code == 2


def test_a_changed_choice_lays_out_the_fused_projections_again(decoder_root):
    from autocli import kernels

    folder = build_decoder(decoder_root, "llama", "causal-lm")
    model, tok = _load(folder, "eager")
    rows = [tok.encode("Hello there").ids]
    want_ids, want = _steps(model, rows, 0)
    assert model.module.model.layers[0].self_attn.qkv[2] == kernels.MATMUL
    model.module.kernels = "auto"
    got_ids, got = _steps(model, rows, 0)
    assert model.module.model.layers[0].mlp.gate_up[2] == kernels.pick("auto", torch.float32, "cpu")
    assert got_ids == want_ids and (got - want).abs().max() <= 1e-4


@needs_bf16
@pytest.mark.parametrize("variant", VARIANTS)
def test_packed_bf16_decoding_equals_eager(decoder_root, variant):
    """Packed oneDNN weights against F.linear, bfloat16: a left-padded batch of two through prefill and
    decode; fused parts keep no second copy and the state dict still holds the checkpoint's tensors."""
    from autocli import kernels

    folder = build_decoder(decoder_root, variant, "causal-lm")
    eager, tok = _load(folder, "eager", "bfloat16")
    fast, _ = _load(folder, "onednn", "bfloat16")
    rows = [tok.encode(p).ids for p in ["The quick brown fox jumps over the lazy dog again and again", "Hello"]]
    want_ids, want = _steps(eager, rows, 0)
    got_ids, got = _steps(fast, rows, 0)
    layouts = [m for m in fast.module.modules() if hasattr(m, "relayout")]
    assert {m.kernel for m in layouts} == {kernels.PACKED}
    assert all(m.weight.is_mkldnn or (m.weight.is_meta and m.fused_into is not None) for m in layouts)
    assert got_ids == want_ids
    assert (got.float() - want.float()).abs().max() <= 1e-2
    state, loaded = fast.module.state_dict(), _load(folder, "eager", "bfloat16")[0].module.state_dict()
    assert state.keys() == loaded.keys() and all(torch.equal(state[k], loaded[k]) for k in loaded)


@needs_bf16
def test_packed_layout_goes_back_to_the_dense_one(decoder_root):
    from autocli import kernels

    folder = build_decoder(decoder_root, "qwen2", "causal-lm")  # biased q/k/v, tied head
    model, tok = _load(folder, "onednn", "bfloat16")
    rows = [tok.encode("Hello there").ids]
    want_ids, want = _steps(model, rows, 0)
    model.module.kernels = "eager"
    got_ids, got = _steps(model, rows, 0)
    assert model.module.model.layers[0].self_attn.qkv[2] == kernels.LINEAR
    assert not any(m.weight.is_mkldnn or m.weight.is_meta for m in model.module.modules() if hasattr(m, "relayout"))
    assert got_ids == want_ids and torch.equal(got, want)


@needs_bf16
@pytest.mark.parametrize("extra", [[], ["--temperature", "0.8", "--top-k", "20", "--seed", "3"],
                                   ["--repetition-penalty", "1.3", "--logprobs", "3"]])
def test_cli_packed_bf16_gives_the_eager_text(decoder_root, cli, extra):
    folder = build_decoder(decoder_root, "llama", "causal-lm")
    args = ["generate", str(folder), "Hello there", "The quick brown fox jumps", "--max-new-tokens", "8",
            "--dtype", "bfloat16", *extra]
    base = cli([*args, "--kernels", "eager"])
    res = cli([*args, "--kernels", "onednn"])
    assert base.exit_code == 0 and res.exit_code == 0, res.stderr
    assert _texts(res.stdout) == _texts(base.stdout) and len(_texts(res.stdout)) >= 2


def _texts(stdout: str) -> list:
    """Each JSON record without its timings."""
    import json

    return [{k: v for k, v in json.loads(line).items() if k != "timings"} for line in stdout.splitlines()]


def test_cli_onednn_refuses_a_dtype_the_cpu_cannot_run(decoder_root, cli):
    from autocli import kernels
    from tests.conftest import assert_one_line_error

    if kernels.packs(torch.float16):
        pytest.skip("this CPU runs float16 through oneDNN")
    folder = build_decoder(decoder_root, "llama", "causal-lm")
    res = cli(["generate", str(folder), "Hello", "--dtype", "float16", "--kernels", "onednn"])
    assert_one_line_error(res, 5)
