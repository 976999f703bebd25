"""Tiny random encoder-decoder checkpoints saved by transformers (the oracle), with real tokenizers.

    VARIANTS[name] = (model_type, transformers class prefix, config fields, untied)   the seq2seq rows of fx_models.VARIANTS
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

from tests.fx_models import TASK_CLASSES
from tests.fx_models import VARIANTS as TABLE
from tests.fx_tokenizers import write_bpe_tokenizer, write_unigram_tokenizer

NUM_LABELS = 3
# name -> (model_type, transformers class prefix, config fields, untied): the seq2seq rows of the one table (fx_models)
VARIANTS = {name: (v.model_type, v.oracle, v.config, v.untied) for name, v in TABLE.items() if v.fixture == "seq2seq"}


def is_t5(variant: str) -> bool:
    return VARIANTS[variant][1] in ("T5", "MT5", "UMT5")


def transformers_class(variant: str, task: str):
    import transformers

    prefix = VARIANTS[variant][1]
    if task == "base" and is_t5(variant):
        return getattr(transformers, prefix + "EncoderModel")  # autocli's base is the encoder
    suffix = "ForConditionalGeneration" if task == "masked-lm" else TASK_CLASSES[task]  # BART's fill-mask is its LM
    return getattr(transformers, prefix + suffix)


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
