"""Tiny random Gemma, Gemma 2 and Phi-3 checkpoints saved by transformers (the oracle), with the decoder fixtures'
byte-level BPE tokenizer.

    VARIANTS[name] = (transformers class prefix, config fields, config.json edits)   one row per setting that changes the math
    build(root, variant, task, **config_overrides) -> Path                          weights perturbed, saved with safetensors
    oracle(folder, variant, task)                                                   the transformers model (eval, eager attention)
    family_root                                                                     session fixture: where checkpoints go

A row's edits rewrite config.json after saving (key -> value, None deletes), for spellings transformers itself no
longer writes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.fx_decoders import NUM_LABELS, TASK_CLASSES, write_decoder_tokenizer
from tests.fx_tokenizers import GPT2_EOS

ORIGINAL = 24  # phi3-longrope's original_max_position_embeddings: shorter prompts get the short factors

_SMALL = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=128, rms_norm_eps=1e-5)
_LONGROPE = {"rope_type": "longrope", "rope_theta": 10000.0, "short_factor": [1.0, 1.3, 2.0], "long_factor": [1.5, 3.0, 5.0]}
LEGACY_ROPE = {"type": "longrope", "short_factor": [1.0, 1.1, 1.2, 1.4], "long_factor": [2.0, 2.5, 4.0, 8.0]}
# name -> (transformers class prefix, config fields, config.json edits after saving: key -> value, None deletes)
VARIANTS = {
    # Gemma: head_dim apart from hidden/heads, tied head, (1 + w) norms, sqrt(hidden)-scaled embeddings, tanh GeGLU
    "gemma": ("Gemma", dict(_SMALL, head_dim=16), {}),
    # the released Gemma configs say "gelu" and mean the tanh approximation
    "gemma-gelu": ("Gemma", dict(_SMALL, head_dim=16, attention_bias=True, tie_word_embeddings=False), {"hidden_act": "gelu"}),
    # Gemma 2: caps small enough to bite, window 5 on layers 0 and 2 (layer_types), queries scaled by 1/sqrt(24)
    "gemma2": ("Gemma2", dict(_SMALL, head_dim=16, sliding_window=5, query_pre_attn_scalar=24,
                              attn_logit_softcapping=0.5, final_logit_softcapping=2.0), {}),
    # without layer_types: the even/odd rule; with its own layer_types: those
    "gemma2-rule": ("Gemma2", dict(_SMALL, sliding_window=4, query_pre_attn_scalar=16, attn_logit_softcapping=0.8,
                                   final_logit_softcapping=None, tie_word_embeddings=False), {"layer_types": None}),
    "gemma2-types": ("Gemma2", dict(_SMALL, sliding_window=4, layer_types=["full_attention", "sliding_attention", "full_attention"],
                                    attn_logit_softcapping=None, final_logit_softcapping=1.5, tie_word_embeddings=False), {}),
    # Phi-3: fused qkv_proj / gate_up_proj, rotary on half of each head, window 5 on every layer
    "phi3": ("Phi3", dict(_SMALL, partial_rotary_factor=0.5, sliding_window=5), {}),
    # Phi-3 LongRoPE on 3/4 of each head: short factors up to ORIGINAL positions, long ones past them
    "phi3-longrope": ("Phi3", dict(_SMALL, partial_rotary_factor=0.75, original_max_position_embeddings=ORIGINAL,
                                   rope_parameters=_LONGROPE), {}),
    # the older spelling (rope_scaling with "type", original_max_position_embeddings beside it), full rotary
    "phi3-legacy": ("Phi3", dict(_SMALL, original_max_position_embeddings=ORIGINAL),
                    {"rope_parameters": None, "rope_scaling": LEGACY_ROPE}),
    # LLaMA runs LongRoPE too, but its generate keeps the cache when the factors switch
    "llama-longrope": ("Llama", dict(_SMALL, original_max_position_embeddings=ORIGINAL,
                                     rope_parameters={**_LONGROPE, "short_factor": [1.0, 1.1, 1.2, 1.4], "long_factor": [2.0, 2.5, 4.0, 8.0]}),
                       {}),
}
TASKS = ("causal-lm", "sequence-classification", "token-classification")  # no *ForQuestionAnswering in transformers


def _class(variant: str, task: str):
    import transformers

    return getattr(transformers, VARIANTS[variant][0] + TASK_CLASSES[task])


@pytest.fixture(scope="session")
def family_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny_gemma_phi3")
    write_decoder_tokenizer(root / "_tokenizer")
    return root


def build(root: Path, variant: str, task: str, **overrides) -> Path:
    """A tiny random checkpoint of `variant` with the `task` head (cached by arguments under root)."""
    import transformers

    key = json.dumps([variant, task, overrides], sort_keys=True, default=str)
    folder = root / f"{variant}-{task}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    if (folder / "config.json").is_file():
        return folder
    folder.mkdir(parents=True)
    for f in (root / "_tokenizer").iterdir():
        shutil.copy(f, folder / f.name)
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    eos, vocab = tok.token_to_id(GPT2_EOS), tok.get_vocab_size(with_added_tokens=True)
    prefix, fields, edit = VARIANTS[variant]
    labels = 2 if task == "question-answering" else NUM_LABELS
    cfg = getattr(transformers, prefix + "Config")(**{**fields, "vocab_size": vocab, "bos_token_id": eos, "eos_token_id": eos,
                                                      "pad_token_id": 1, "num_labels": labels, **overrides})
    import torch

    torch.manual_seed(0)
    model = _class(variant, task)(cfg).eval()
    with torch.no_grad():
        gen = torch.Generator().manual_seed(1)
        for p in model.parameters():  # norms and biases stop being 0 and 1
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    model.save_pretrained(folder, safe_serialization=True)
    (folder / "generation_config.json").unlink(missing_ok=True)
    raw = json.loads((folder / "config.json").read_text())
    for k, v in edit.items():
        raw.pop(k, None) if v is None else raw.__setitem__(k, v)
    (folder / "config.json").write_text(json.dumps(raw))
    return folder


def oracle(folder: Path, variant: str, task: str):
    return _class(variant, task).from_pretrained(folder, attn_implementation="eager").eval()


