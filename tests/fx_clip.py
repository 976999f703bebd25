"""Tiny CLIP checkpoints saved by transformers (the oracle), shared per session.

    write_clip_tokenizer(folder)  a real CLIP tokenizer (transformers' CLIPTokenizer over a BPE vocabulary trained
                                  here with CLIP's end-of-word suffix) -> its vocabulary size
    CLIP_ROWS                     name -> (transformers class, text config overrides): the checkpoints
    clip_checkpoints              session fixture: {name: folder} with config.json, model.safetensors,
                                  preprocessor_config.json and the tokenizer files
    clip_images                   the images of tests/fx_vision.py (every format and mode)
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from tests.fx_models import VARIANTS
from tests.fx_tokenizers import CORPUS
from tests.fx_vision import vision_images  # noqa: F401  (a fixture, used by the CLIP tests too)

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
TINY = VARIANTS["clip"].config  # the parity table's row (tests/fx_models.py)
TEXT, VISION = TINY["text_config"], TINY["vision_config"]
PROCESSOR = {"size": {"shortest_edge": 36}, "crop_size": {"height": 32, "width": 32}}
LABELS = 4
# name -> (transformers class, text_config overrides, vision_config overrides)
CLIP_ROWS = {
    "clip": ("CLIPModel", {}, {}),
    "clip-legacy-eos": ("CLIPModel", {"eos_token_id": 2, "hidden_act": "gelu"}, {"hidden_act": "gelu"}),
    "clip-cls": ("CLIPForImageClassification", {}, {}),
}


def write_clip_tokenizer(folder: Path) -> int:
    from tokenizers import Tokenizer, pre_tokenizers, trainers
    from tokenizers.models import BPE
    from transformers import CLIPTokenizer

    bpe = Tokenizer(BPE(end_of_word_suffix="</w>", continuing_subword_prefix=""))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=400, end_of_word_suffix="</w>", show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator([s.lower() for s in CORPUS], trainer)
    vocab = bpe.get_vocab()
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):  # every byte, inside and at the end of a word, as CLIP's
        for piece in (ch, ch + "</w>"):
            vocab.setdefault(piece, max(vocab.values()) + 1)
    top = max(vocab.values())  # the trainer's ids may leave gaps: the special tokens go after the highest
    vocab.update({BOS: top + 1, EOS: top + 2})
    import json

    merges = json.loads(bpe.to_str())["model"]["merges"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in merges]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tok = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=TEXT["max_position_embeddings"])
        tok.save_pretrained(folder)
    return top + 3


def build_clip_checkpoint(folder: Path, name: str) -> Path:
    import torch
    import transformers

    cls_name, text, vision = CLIP_ROWS[name]
    folder.mkdir(parents=True, exist_ok=True)
    vocab = write_clip_tokenizer(folder)
    tok = transformers.AutoTokenizer.from_pretrained(str(folder))
    text_config = {**TEXT, "vocab_size": vocab, "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id,
                   "pad_token_id": 1, **text}
    config = transformers.CLIPConfig(text_config=text_config, vision_config={**VISION, **vision}, projection_dim=TINY["projection_dim"],
                                     id2label={i: f"class_{i}" for i in range(LABELS)})
    torch.manual_seed(sum(map(ord, name)))
    model = getattr(transformers, cls_name)(config).eval()
    with torch.no_grad():  # perturb every weight (logit_scale too) so that a loading mistake shows
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        if hasattr(model, "logit_scale"):
            model.logit_scale.fill_(4.6052)  # ln 100, trained CLIP's clamp: scores far from uniform, so the rows mean something
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save_pretrained(folder)
        transformers.CLIPImageProcessorPil(**PROCESSOR).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def clip_checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clip_ckpts")
    return {name: build_clip_checkpoint(root / name, name) for name in CLIP_ROWS}


def oracle_pipeline(folder):
    """transformers' zero-shot-image-classification pipeline on the CPU, its slow (PIL) image processor."""
    from transformers import CLIPImageProcessorPil, pipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pipeline("zero-shot-image-classification", model=str(folder), device="cpu",
                        image_processor=CLIPImageProcessorPil.from_pretrained(str(folder)))
