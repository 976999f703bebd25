"""Tiny random checkpoints saved by transformers (the oracle), one per (family, task) pair.

    build_checkpoint(tmp_root, family, task, **config_overrides) -> Path
        transformers config -> model -> every weight perturbed (so biases and norms are not the trivial
        0/1 of a fresh init and a loading mistake shows) -> save_pretrained(safe_serialization=True),
        with a real tokenizer (tests/fx_tokenizers.py) whose vocab size is the config's vocab_size.
    oracle(folder, family, task)   the transformers model loaded from that folder (eval, eager attention)
    oracle_output(model, task, input_ids, attention_mask, token_type_ids)  the output autocli must match
    tiny_checkpoints               session fixture: {(family, task): folder} for every ENCODER_PAIRS entry
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.fx_tokenizers import write_bpe_tokenizer, write_unigram_tokenizer, write_wordpiece_tokenizer

# family -> (transformers class-name prefix, tokenizer kind, small config)
SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, max_position_embeddings=64)
FAMILIES = {
    "bert": ("Bert", "wordpiece", dict(SMALL, type_vocab_size=2)),
    "roberta": ("Roberta", "bpe", dict(SMALL, max_position_embeddings=66, type_vocab_size=1)),
    "xlm-roberta": ("XLMRoberta", "unigram", dict(SMALL, max_position_embeddings=66, type_vocab_size=1)),
    "camembert": ("Camembert", "unigram", dict(SMALL, max_position_embeddings=66, type_vocab_size=1)),
    "distilbert": ("DistilBert", "wordpiece", dict(dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64)),
    "albert": ("Albert", "wordpiece", dict(SMALL, embedding_size=16, num_hidden_groups=1, inner_group_num=1, hidden_act="gelu_new")),
    "electra": ("Electra", "wordpiece", dict(SMALL, embedding_size=16)),
}

# task -> transformers class-name suffix
TASK_CLASSES = {
    "base": "Model",
    "sequence-classification": "ForSequenceClassification",
    "token-classification": "ForTokenClassification",
    "question-answering": "ForQuestionAnswering",
    "masked-lm": "ForMaskedLM",
    "multiple-choice": "ForMultipleChoice",
    "next-sentence-prediction": "ForNextSentencePrediction",
    "replaced-token-detection": "ForPreTraining",
}

_COMMON = ("base", "sequence-classification", "token-classification", "question-answering", "masked-lm", "multiple-choice")
ENCODER_PAIRS = (
    [("bert", t) for t in _COMMON + ("next-sentence-prediction",)]
    + [(f, t) for f in ("roberta", "xlm-roberta", "camembert", "distilbert", "albert") for t in _COMMON]
    + [("electra", t) for t in _COMMON + ("replaced-token-detection",)]
)

NUM_LABELS = 3


_TOKENIZERS: dict[str, tuple[Path, dict]] = {}  # kind -> (folder written once, config entries)


def _write_tokenizer(folder: Path, kind: str) -> dict:
    """Put a `kind` tokenizer in folder; return config entries that must agree with it (vocab size, special ids).
    Each kind is trained once per process and copied after that."""
    if kind in _TOKENIZERS and _TOKENIZERS[kind][0].is_dir():
        src, extra = _TOKENIZERS[kind]
        for f in src.iterdir():
            if f.name.startswith(("tokenizer", "special_tokens", "vocab", "merges")):
                shutil.copy(f, folder / f.name)
        return dict(extra)
    if kind == "wordpiece":
        size = write_wordpiece_tokenizer(folder, vocab_size=120)
    elif kind == "bpe":
        size = write_bpe_tokenizer(folder)
    else:
        size = write_unigram_tokenizer(folder)
    vocab = {t["content"]: t["id"] for t in json.loads((folder / "tokenizer.json").read_text())["added_tokens"]}
    out = {"vocab_size": size}
    for field, names in (("pad_token_id", ("[PAD]", "<pad>")), ("bos_token_id", ("<s>",)), ("eos_token_id", ("</s>",))):
        for n in names:
            if n in vocab:
                out[field] = vocab[n]
    _TOKENIZERS[kind] = (folder, out)
    return dict(out)


def transformers_class(family: str, task: str):
    import transformers

    return getattr(transformers, FAMILIES[family][0] + TASK_CLASSES[task])


def build_checkpoint(tmp_root, family: str, task: str, *, seed: int = 0, tokenizer: bool = True, **config_overrides) -> Path:
    """A tiny random `family` checkpoint with the `task` head, saved by transformers (cached by arguments)."""
    import torch
    import transformers

    key = json.dumps([family, task, seed, tokenizer, config_overrides], sort_keys=True, default=str)
    folder = Path(tmp_root) / f"{family}-{task}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    if (folder / "config.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    prefix, kind, small = FAMILIES[family]
    extra = _write_tokenizer(folder, kind) if tokenizer else {"vocab_size": 120}
    labels = 2 if task == "question-answering" else NUM_LABELS  # QA heads are (start, end)
    fields = {**small, **extra, "num_labels": labels, **config_overrides}
    config = getattr(transformers, prefix + "Config")(**fields)
    torch.manual_seed(seed)
    model = transformers_class(family, task)(config).eval()
    with torch.no_grad():
        gen = torch.Generator().manual_seed(seed + 1)
        for p in model.parameters():  # tied parameters are yielded once
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def oracle(folder: Path, family: str, task: str):
    return transformers_class(family, task).from_pretrained(folder, attn_implementation="eager").eval()


def oracle_output(model, task: str, input_ids, attention_mask, token_type_ids=None):
    import torch

    kw = {"input_ids": input_ids, "attention_mask": attention_mask}
    if token_type_ids is not None:
        kw["token_type_ids"] = token_type_ids
    with torch.no_grad():
        out = model(**kw)
    if task == "base":
        return out.last_hidden_state
    if task == "question-answering":
        return torch.stack([out.start_logits, out.end_logits], dim=-1)
    return out.logits


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict:
    """{(family, task): folder} for every encoder pair, built once per session."""
    root = tmp_path_factory.mktemp("tiny_ckpt")
    return {(f, t): build_checkpoint(root, f, t) for f, t in ENCODER_PAIRS}


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """A session folder for build_checkpoint calls with overrides."""
    return tmp_path_factory.mktemp("tiny_ckpt_variants")
