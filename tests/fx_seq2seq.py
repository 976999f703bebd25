"""Tiny random encoder-decoder checkpoints saved by transformers (the oracle), with real tokenizers.

    VARIANTS[name] = (model_type, transformers class prefix, config fields, untied)   one row per config that changes the math
    build_seq2seq(root, variant, task, **config_overrides) -> Path                    weights perturbed, saved with safetensors
    seq2seq_oracle(folder, variant, task)                                             the transformers model (eval, eager)
    seq2seq_root                                                                      session fixture: where checkpoints go

T5-style variants get a T5-like Unigram tokenizer (<pad>=0, </s>=1, <unk>=2, sentinels last); BART-style ones a
RoBERTa-like byte-level BPE (<s>=0, <pad>=1, </s>=2, <unk>=3, <mask>=4), as the real checkpoints number them.
`untied` variants are saved as real v1.1/Flan/mT5 checkpoints are: config.json says tie_word_embeddings false and
the weights hold their own lm_head (transformers 5 always ties on save, so the head is added afterwards).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.fx_tokenizers import write_bpe_tokenizer, write_unigram_tokenizer

NUM_LABELS = 3
_T5 = dict(d_model=32, d_kv=8, d_ff=48, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
           relative_attention_max_distance=20, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
_BART = dict(d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
             encoder_ffn_dim=48, decoder_ffn_dim=48, max_position_embeddings=64, pad_token_id=1, bos_token_id=0,
             eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=2)
VARIANTS = {
    # T5 v1.0: tied head (decoder output rescaled by d_model^-0.5), ReLU feed-forward
    "t5": ("t5", "T5", dict(_T5), False),
    # T5 v1.1 / Flan: untied head, gated-GELU
    "t5-v1_1": ("t5", "T5", dict(_T5, feed_forward_proj="gated-gelu"), True),
    # mT5: the T5 v1.1 math under its own model_type (never rescales the decoder output)
    "mt5": ("mt5", "MT5", dict(_T5, feed_forward_proj="gated-gelu"), True),
    # UMT5: a relative position bias in every layer; gated-SiLU here to cover that activation
    "umt5": ("umt5", "UMT5", dict(_T5, feed_forward_proj="gated-silu"), False),
    # BART: post-norm, learned positions offset by 2, final_logits_bias
    "bart": ("bart", "Bart", dict(_BART), False),
    # mBART: pre-norm with final layer norms, scaled embeddings, decoder inputs start with the language id
    "mbart": ("mbart", "MBart", dict(_BART, scale_embedding=True, decoder_start_token_id=None), False),
}

TASK_CLASSES = {
    "base": "Model",
    "seq2seq-lm": "ForConditionalGeneration",
    "masked-lm": "ForConditionalGeneration",
    "causal-lm": "ForCausalLM",
    "sequence-classification": "ForSequenceClassification",
    "token-classification": "ForTokenClassification",
    "question-answering": "ForQuestionAnswering",
}
T5_TASKS = ("base", "seq2seq-lm", "sequence-classification", "token-classification", "question-answering")
BART_TASKS = ("base", "seq2seq-lm", "masked-lm", "causal-lm", "sequence-classification", "question-answering")


def is_t5(variant: str) -> bool:
    return VARIANTS[variant][1] in ("T5", "MT5", "UMT5")


def tasks_of(variant: str) -> tuple:
    return T5_TASKS if is_t5(variant) else BART_TASKS


def transformers_class(variant: str, task: str):
    import transformers

    prefix = VARIANTS[variant][1]
    if task == "base" and is_t5(variant):
        return getattr(transformers, prefix + "EncoderModel")  # autocli's base is the encoder
    return getattr(transformers, prefix + TASK_CLASSES[task])


def write_tokenizer(folder: Path, t5: bool) -> int:
    if t5:
        return write_unigram_tokenizer(folder, style="t5")
    return write_bpe_tokenizer(folder, style="roberta")


def build_seq2seq(root, variant: str, task: str, *, seed: int = 0, generation_config: dict | None = None,
                  config_extra: dict | None = None, **overrides) -> Path:
    """A tiny random checkpoint of `variant` with the `task` head (cached by arguments under root).
    config_extra: keys written into config.json after saving (task_specific_params, ...)."""
    import torch
    import transformers
    from safetensors.torch import load_file, save_file

    key = json.dumps([variant, task, seed, generation_config, config_extra, overrides], sort_keys=True, default=str)
    folder = Path(root) / f"{variant}-{task}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    if (folder / "config.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    t5 = is_t5(variant)
    tok_dir = Path(root) / ("_tok_t5" if t5 else "_tok_bart")
    if not (tok_dir / "tokenizer.json").is_file():
        write_tokenizer(tok_dir, t5)
    for f in tok_dir.iterdir():
        shutil.copy(f, folder / f.name)
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(tok_dir / "tokenizer.json")).get_vocab_size(with_added_tokens=True)
    model_type, prefix, fields, untied = VARIANTS[variant]
    labels = 2 if task == "question-answering" else NUM_LABELS
    cfg = getattr(transformers, prefix + "Config")(**{**fields, "vocab_size": vocab, "num_labels": labels, **overrides})
    torch.manual_seed(seed)
    model = transformers_class(variant, task)(cfg).eval()
    with torch.no_grad():
        gen = torch.Generator().manual_seed(seed + 1)
        for t in list(model.parameters()) + list(model.buffers()):  # norms stop being 1, biases 0
            if t.is_floating_point():
                t.add_(torch.randn(t.shape, generator=gen) * 0.1)
    model.save_pretrained(folder, safe_serialization=True)
    config = json.loads((folder / "config.json").read_text())
    if untied and task == "seq2seq-lm":
        weights = load_file(str(folder / "model.safetensors"))
        weights["lm_head.weight"] = torch.randn(vocab, fields["d_model"], generator=gen) * 0.3
        save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
        config["tie_word_embeddings"] = False
        config.pop("scale_decoder_outputs", None)  # as configs written before transformers 5 have it
    config.update(config_extra or {})
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    gen_path = folder / "generation_config.json"
    if generation_config is not None:
        gen_path.write_text(json.dumps(generation_config), encoding="utf-8")
    elif gen_path.exists():
        gen_path.unlink()  # only what a test asks for
    return folder


def seq2seq_oracle(folder: Path, variant: str, task: str):
    return transformers_class(variant, task).from_pretrained(folder, attn_implementation="eager").eval()


@pytest.fixture(scope="session")
def seq2seq_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tiny_seq2seq")
