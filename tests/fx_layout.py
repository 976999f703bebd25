"""Documents and tiny LayoutLM checkpoints saved by transformers (the oracle), shared per session.

    LAYOUT_ROWS          name -> (transformers class, autocli task, config overrides): every (family, head)
    layout_checkpoints   session fixture: {name: folder} with config.json, model.safetensors, the tokenizer
                         transformers' LayoutLM*Tokenizer saves and (v2, v3) its processor's preprocessor_config.json
    layout_docs          session fixture: {name: document JSON path} (page images beside them)
    oracle_processor(folder)   transformers' LayoutLMv2Processor / LayoutLMv3Processor for that folder
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from tests.fx_models import VARIANTS
from tests.fx_tokenizers import write_bpe_tokenizer, write_wordpiece_tokenizer

LABELS = 4
V1 = VARIANTS["layoutlm"].config  # the parity table's rows (tests/fx_models.py)
V3 = VARIANTS["layoutlmv3"].config
_TEXT = {k: v for k, v in V1.items() if k not in ("max_2d_position_embeddings", "type_vocab_size")}

# name -> (transformers class, autocli task, config overrides)
LAYOUT_ROWS = {
    "v1-base": ("LayoutLMModel", "base", {}),
    "v1-mlm": ("LayoutLMForMaskedLM", "masked-lm", {}),
    "v1-cls": ("LayoutLMForSequenceClassification", "sequence-classification", {}),
    "v1-tok": ("LayoutLMForTokenClassification", "token-classification", {}),
    "v1-qa": ("LayoutLMForQuestionAnswering", "question-answering", {"num_labels": 2}),
    "v3-base": ("LayoutLMv3Model", "base", {}),
    "v3-cls": ("LayoutLMv3ForSequenceClassification", "sequence-classification", {}),
    "v3-tok": ("LayoutLMv3ForTokenClassification", "token-classification", {}),
    "v3-tok-wide": ("LayoutLMv3ForTokenClassification", "token-classification", {"num_labels": 12}),  # a ClassificationHead
    "v3-qa": ("LayoutLMv3ForQuestionAnswering", "question-answering", {"num_labels": 2}),
    "v3-nobias": ("LayoutLMv3ForTokenClassification", "token-classification",
                  {"has_relative_attention_bias": False, "has_spatial_attention_bias": False}),
    "v3-1d": ("LayoutLMv3ForSequenceClassification", "sequence-classification", {"has_spatial_attention_bias": False}),
    "v2-tok": ("LayoutLMv2ForTokenClassification", "token-classification", {}),
}

WORDS = ["Invoice", "number", "42", "Total:", "1,234.50", "EUR", "Paid", "by", "card", "tomorrow", "unbelievably"]


def _boxes(n: int, seed: int) -> list:
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x0, y0 = (int(v) for v in rng.integers(0, 900, 2))
        out.append([x0, y0, x0 + int(rng.integers(1, 100)), y0 + int(rng.integers(1, 100))])
    return out


def _page(path: Path, size, seed: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB").save(path)


@pytest.fixture(scope="session")
def layout_docs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("docs")
    _page(root / "page.png", (120, 90), 1)
    _page(root / "wide.jpg", (300, 100), 2)
    docs = {
        "invoice": {"image": "page.png", "words": WORDS, "boxes": _boxes(len(WORDS), 0),
                    "word_labels": [i % LABELS for i in range(len(WORDS))]},
        "short": {"image": "wide.jpg", "words": ["Hello", "world"], "boxes": [[10, 10, 100, 50], [120, 10, 300, 50]]},
        "long": {"image": "page.png", "words": WORDS * 8, "boxes": _boxes(len(WORDS) * 8, 3)},
    }
    out = {}
    for name, doc in docs.items():
        out[name] = root / f"{name}.json"
        out[name].write_text(json.dumps(doc))
    return out


def _tokenizer(folder: Path, version: str):
    """transformers' LayoutLM tokenizer for a version, built on the shared tiny vocabularies."""
    import transformers

    scratch = folder.parent / (folder.name + "-vocab")
    if version == "v3":
        write_bpe_tokenizer(scratch, add_prefix_space=True)
        vocab = json.loads((scratch / "vocab.json").read_text())
        merges = [tuple(ln.split()) for ln in (scratch / "merges.txt").read_text().splitlines() if ln and not ln.startswith("#")]
        return transformers.LayoutLMv3Tokenizer(vocab=vocab, merges=merges, model_max_length=64)
    write_wordpiece_tokenizer(scratch, model_max_length=64)
    vocab = {ln: i for i, ln in enumerate((scratch / "vocab.txt").read_text().splitlines())}
    cls = transformers.LayoutLMv2Tokenizer if version == "v2" else transformers.BertTokenizer
    return cls(vocab=vocab, model_max_length=64)


def build_layout_checkpoint(folder: Path, name: str) -> Path:
    import torch
    import transformers

    cls_name, _, overrides = LAYOUT_ROWS[name]
    version = name.split("-")[0]
    tok = _tokenizer(folder, version)
    config_cls = {"v1": transformers.LayoutLMConfig, "v2": transformers.LayoutLMv2Config, "v3": transformers.LayoutLMv3Config}[version]
    base = {"v1": V1, "v2": _TEXT, "v3": V3}[version]
    labels = overrides.get("num_labels", LABELS)
    config = config_cls(**{**base, **overrides, "vocab_size": len(tok)}, id2label={i: f"L{i}" for i in range(labels)},
                        pad_token_id=tok.pad_token_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if version == "v2":  # no detectron2: the config and tokenizer only, as `inspect` and `compat` read them
            config.architectures = [cls_name]
            config.save_pretrained(folder)
        else:
            torch.manual_seed(sum(map(ord, name)))
            model = getattr(transformers, cls_name)(config).eval()
            with torch.no_grad():  # perturb every weight so that a loading mistake shows
                for p in model.parameters():
                    p.add_(torch.randn_like(p) * 0.1)
            model.save_pretrained(folder)
        if version == "v1":
            tok.save_pretrained(folder)
        else:
            image_cls = getattr(transformers, f"LayoutLM{version}ImageProcessorPil")
            size = {"height": 32, "width": 32} if version == "v3" else {"height": 224, "width": 224}
            processor = getattr(transformers, f"LayoutLM{version}Processor")(image_processor=image_cls(apply_ocr=False, size=size), tokenizer=tok)
            processor.save_pretrained(folder)
            processor.image_processor.save_pretrained(folder)  # preprocessor_config.json, as Hub checkpoints have it
    return folder


@pytest.fixture(scope="session")
def layout_checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("layout_ckpts")
    return {name: build_layout_checkpoint(root / name, name) for name in LAYOUT_ROWS}


def oracle_processor(folder):
    import transformers

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return transformers.AutoProcessor.from_pretrained(str(folder))


def oracle_model(folder: Path, name: str):
    import transformers

    return getattr(transformers, LAYOUT_ROWS[name][0]).from_pretrained(str(folder), attn_implementation="eager").eval()
