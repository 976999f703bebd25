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


# --- helpers the decoder parity and generation tests share -------------------------------------------

def padded_batch(vocab: int, pad: int, side: str, lengths=(14, 9, 3), seed: int = 0):
    """Random rows of the given lengths padded on one side -> (input_ids, attention_mask), each (B, T)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    ids = torch.full((len(lengths), T), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for b, n in enumerate(lengths):
        row = torch.randint(0, vocab - 1, (n,), generator=g)
        row[row == pad] = (pad + 1) % (vocab - 1)  # a real token never equals the pad id
        cols = slice(T - n, T) if side == "left" else slice(0, n)
        ids[b, cols], mask[b, cols] = row, 1
    return ids, mask


def oracle_output(model, task, ids, mask):
    """transformers' output for a task, given position ids that count real tokens only (as its generate does)."""
    import torch

    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos)
    if task == "base":
        return out.last_hidden_state
    if task == "question-answering":
        return torch.stack([out.start_logits, out.end_logits], dim=-1)
    return out.logits


def reference_generate(ref, rows, eos: int, new: int, **kw) -> list[list[int]]:
    """transformers' greedy generate on the same left-padded batch; each row cut after its first EOS."""
    import torch

    T = max(len(r) for r in rows)
    ids = torch.tensor([[eos] * (T - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (T - len(r)) + [1] * len(r) for r in rows])
    with torch.no_grad():
        out = ref.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new, do_sample=False, pad_token_id=eos,
                           eos_token_id=eos, **kw)
    return [row[: row.index(eos) + 1] if eos in row else row for row in out[:, T:].tolist()]
