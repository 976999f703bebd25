"""Tiny random decoder checkpoints saved by transformers (the oracle), with a real byte-level BPE tokenizer.

    VARIANTS[name] = (model_type, transformers class prefix, config fields)   the decoder rows of fx_models.VARIANTS
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

from tests.fx_models import TASK_CLASSES
from tests.fx_models import VARIANTS as TABLE
from tests.fx_tokenizers import CHATML_TEMPLATE, GPT2_EOS, write_bpe_tokenizer, write_chat_template

NUM_LABELS = 3
CHAT_SPECIALS = ["<|im_start|>", "<|im_end|>"]

# name -> (model_type, transformers class prefix, config fields): the decoder rows of the one table (fx_models)
VARIANTS = {name: (v.model_type, v.oracle, v.config) for name, v in TABLE.items() if v.fixture == "decoder"}


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
