"""Tiny random decoder checkpoints saved by transformers (the oracle), with a real byte-level BPE tokenizer.

    VARIANTS[name] = (model_type, transformers class prefix, config fields)   one row per config that changes the math
    build_decoder(root, variant, task, **config_overrides) -> Path           weights perturbed, saved with safetensors
    decoder_oracle(folder, variant, task)                                    the transformers model (eval, eager attention)
    decoder_root                                                             session fixture: where checkpoints go

The tokenizer (GPT-2 style, plus ChatML's <|im_start|>/<|im_end|> and a ChatML chat template) is trained
once per session and copied into every checkpoint; its size is the models' vocab_size.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.fx_tokenizers import CHATML_TEMPLATE, GPT2_EOS, write_bpe_tokenizer, write_chat_template

NUM_LABELS = 3
CHAT_SPECIALS = ["<|im_start|>", "<|im_end|>"]

_LLAMA = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=128, rms_norm_eps=1e-5)
VARIANTS = {
    # GPT-2: tied head, fused Conv1D qkv, learned positions
    "gpt2": ("gpt2", "GPT2", dict(n_embd=32, n_layer=2, n_head=4, n_positions=96)),
    "gpt2-scaled": ("gpt2", "GPT2", dict(n_embd=32, n_layer=2, n_head=4, n_positions=96, n_inner=40,
                                        scale_attn_by_inverse_layer_idx=True, tie_word_embeddings=False,
                                        activation_function="gelu_pytorch_tanh")),
    # GPT-J: interleaved rotary on the first rotary_dim channels, parallel attention + MLP, lm_head bias
    "gptj": ("gptj", "GPTJ", dict(n_embd=32, n_layer=2, n_head=4, n_positions=96, rotary_dim=4)),
    # GPT-NeoX: fused per-head qkv, partial rotary, parallel or sequential residual
    "gpt_neox": ("gpt_neox", "GPTNeoX", dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                                            max_position_embeddings=96, rotary_pct=0.5, use_parallel_residual=True)),
    "gpt_neox-sequential": ("gpt_neox", "GPTNeoX", dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                                       num_attention_heads=4, max_position_embeddings=96, rotary_pct=1.0,
                                                       use_parallel_residual=False, attention_bias=False,
                                                       rotary_emb_base=500.0, tie_word_embeddings=True)),
    # LLaMA: GQA, untied; then tied with biases and an explicit head_dim; then each rope scaling type
    "llama": ("llama", "Llama", dict(_LLAMA)),
    "llama-tied-bias": ("llama", "Llama", dict(_LLAMA, tie_word_embeddings=True, attention_bias=True, mlp_bias=True,
                                               head_dim=16, num_key_value_heads=1)),
    "llama-linear": ("llama", "Llama", dict(_LLAMA, rope_scaling={"type": "linear", "factor": 2.0}, rope_theta=500.0)),
    "llama-dynamic": ("llama", "Llama", dict(_LLAMA, max_position_embeddings=12,
                                             rope_parameters={"rope_type": "dynamic", "factor": 3.0, "rope_theta": 10000.0})),
    "llama-llama3": ("llama", "Llama", dict(_LLAMA, rope_parameters={
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 16, "rope_theta": 500000.0})),
    "llama-yarn": ("llama", "Llama", dict(_LLAMA, rope_scaling={"rope_type": "yarn", "factor": 4.0,
                                                              "original_max_position_embeddings": 32, "beta_fast": 16})),
    # Mistral: sliding window shorter than the prompts; Qwen2: q/k/v bias, window on layers >= max_window_layers
    "mistral": ("mistral", "Mistral", dict(_LLAMA, sliding_window=5)),
    "qwen2": ("qwen2", "Qwen2", dict(_LLAMA, use_sliding_window=True, sliding_window=5, max_window_layers=1)),
    # Qwen3: per-head q/k RMSNorm, explicit head_dim
    "qwen3": ("qwen3", "Qwen3", dict(_LLAMA, head_dim=16, attention_bias=True)),
}

TASK_CLASSES = {
    "base": "Model",
    "causal-lm": "ForCausalLM",
    "sequence-classification": "ForSequenceClassification",
    "token-classification": "ForTokenClassification",
    "question-answering": "ForQuestionAnswering",
}
FAMILY_TASKS = {  # issue 4's table
    "gpt2": ("causal-lm", "sequence-classification", "token-classification", "question-answering"),
    "gptj": ("causal-lm", "sequence-classification", "question-answering"),
}
DEFAULT_TASKS = ("causal-lm", "sequence-classification", "token-classification", "question-answering")


def tasks_of(variant: str) -> tuple:
    return FAMILY_TASKS.get(VARIANTS[variant][0], DEFAULT_TASKS)


def transformers_class(variant: str, task: str):
    import transformers

    prefix = VARIANTS[variant][1]
    name = prefix + ("LMHeadModel" if task == "causal-lm" and prefix == "GPT2" else TASK_CLASSES[task])
    return getattr(transformers, name)


def write_decoder_tokenizer(folder: Path) -> dict:
    """GPT-2-style byte-level BPE with ChatML specials and a chat template; returns the ids configs need."""
    size = write_bpe_tokenizer(folder, style="gpt2", extra_special=CHAT_SPECIALS)
    write_chat_template(folder, CHATML_TEMPLATE)
    tok = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    ids = {t["content"]: t["id"] for t in tok["added_tokens"]}
    return {"vocab_size": size, "eos": ids[GPT2_EOS], "im_end": ids["<|im_end|>"]}


def build_decoder(root, variant: str, task: str, *, seed: int = 0, tokenizer_dir: Path | None = None,
                  generation_config: dict | None = None, **overrides) -> Path:
    """A tiny random checkpoint of `variant` with the `task` head (cached by arguments under root)."""
    import torch

    key = json.dumps([variant, task, seed, generation_config, overrides], sort_keys=True, default=str)
    folder = Path(root) / f"{variant}-{task}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    if (folder / "config.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    tok_dir = Path(tokenizer_dir) if tokenizer_dir is not None else Path(root) / "_tokenizer"
    if not (tok_dir / "tokenizer.json").is_file():
        write_decoder_tokenizer(tok_dir)
    for f in tok_dir.iterdir():
        shutil.copy(f, folder / f.name)
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    eos, vocab = tok.token_to_id(GPT2_EOS), tok.get_vocab_size(with_added_tokens=True)
    model_type, prefix, fields = VARIANTS[variant]
    import transformers

    labels = 2 if task == "question-answering" else NUM_LABELS
    cfg = getattr(transformers, prefix + "Config")(**{**fields, "vocab_size": vocab, "bos_token_id": eos, "eos_token_id": eos,
                                                      "num_labels": labels, **overrides})
    torch.manual_seed(seed)
    model = transformers_class(variant, task)(cfg).eval()
    with torch.no_grad():
        gen = torch.Generator().manual_seed(seed + 1)
        for p in model.parameters():  # tied parameters come once; biases and norms stop being 0 and 1
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    model.save_pretrained(folder, safe_serialization=True)
    gen_path = folder / "generation_config.json"
    if generation_config is not None:
        gen_path.write_text(json.dumps(generation_config), encoding="utf-8")
    elif gen_path.exists():
        gen_path.unlink()  # only what a test asks for
    return folder


def decoder_oracle(folder: Path, variant: str, task: str):
    return transformers_class(variant, task).from_pretrained(folder, attn_implementation="eager").eval()


@pytest.fixture(scope="session")
def decoder_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny_decoders")
    write_decoder_tokenizer(root / "_tokenizer")
    return root
