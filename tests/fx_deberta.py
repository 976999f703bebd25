"""Fixtures for DeBERTa (v1, v2/v3) and ModernBERT, and real SentencePiece models.

    build_family_checkpoint(root, family, task, variant, tokenizer=None) -> Path
        tiny random checkpoint saved by transformers (every weight perturbed, as tests/fx_models.py does);
        variant names a config in VARIANTS[family] (the table row "family/variant"); tokenizer: None, "spm" (a SentencePiece-only folder,
        as microsoft/deberta-v3-* ship) or "bpe" (RoBERTa-like tokenizer.json).
    train_spm(folder, **trainer_options) -> Path to spm.model
        a real SentencePiece model trained with the `sentencepiece` package (a test-only dependency;
        autocli itself reads .model files without it).
    oracle_model(folder, family, task)   the transformers model loaded from that folder (eval, eager)
    deberta_root                         session folder for checkpoints built by tests
    spm_dirs                             session: {name: folder} of SentencePiece-only tokenizer folders
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.fx_models import TASK_CLASSES
from tests.fx_models import VARIANTS as TABLE
from tests.fx_tokenizers import CORPUS, write_bpe_tokenizer

PREFIXES = {"deberta-v2": "DebertaV2", "deberta": "Deberta", "modernbert": "ModernBert"}
TASKS = ("base", "sequence-classification", "token-classification", "question-answering", "masked-lm", "multiple-choice")
# family -> variant -> config fields: the "deberta" rows of the one table (fx_models), named "family/variant" there
VARIANTS: dict = {}
for _name, _v in TABLE.items():
    if _v.fixture == "deberta":
        VARIANTS.setdefault(_v.model_type, {})[_name.split("/", 1)[1]] = _v.config

NUM_LABELS = 3


def transformers_class(family: str, task: str):
    import transformers

    return getattr(transformers, PREFIXES[family] + TASK_CLASSES[task])


def oracle_model(folder: Path, family: str, task: str):
    return transformers_class(family, task).from_pretrained(folder, attn_implementation="eager").eval()


def build_family_checkpoint(root, family: str, task: str, variant: str, tokenizer: str | None = None, seed: int = 0, **extra) -> Path:
    import torch
    import transformers

    key = json.dumps([family, task, variant, tokenizer, seed, extra], sort_keys=True)
    folder = Path(root) / f"{family}-{variant}-{task}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    if (folder / "config.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    fields = {**VARIANTS[family][variant], "vocab_size": 99, "num_labels": 2 if task == "question-answering" else NUM_LABELS}
    if tokenizer == "spm":
        fields.update(_write_spm_tokenizer(folder))
    elif tokenizer == "bpe":
        fields["vocab_size"] = write_bpe_tokenizer(folder)
        fields.update(pad_token_id=1, bos_token_id=0, eos_token_id=2, cls_token_id=0, sep_token_id=2)
    fields.update(extra)
    if family == "modernbert":
        fields.update({k: min(v, fields["vocab_size"] - 1) for k, v in fields.items() if k.endswith("_token_id")})
    config = getattr(transformers, PREFIXES[family] + "Config")(**fields)
    config.id2label = {i: f"LABEL_{chr(65 + i)}" for i in range(config.num_labels)}
    config.label2id = {v: k for k, v in config.id2label.items()}
    torch.manual_seed(seed)
    model = transformers_class(family, task)(config).eval()
    with torch.no_grad():
        gen = torch.Generator().manual_seed(seed + 1)
        for p in model.parameters():  # tied parameters are yielded once
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    model.save_pretrained(folder, safe_serialization=True)
    return folder


# --- SentencePiece ---------------------------------------------------------------------------------

def _pseudo_words(n: int) -> list[str]:
    """Deterministic made-up words, so the trainer finds enough distinct pieces for a 500-piece model."""
    import random

    rng = random.Random(0)
    syllables = "ka ki ku ke ko sa shi su se so ta te to na ni no ha hi fu ma mi mo ra ri ro wa an en in on é ü ö ß".split()
    return [" ".join("".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(10)) for _ in range(n)]


SPM_CORPUS = CORPUS + [
    "Ünïcödé wörds: straße, Æsir, ﬁnal, ＡＢＣ full-width, ①②③ circled.",
    "中文分词测试，日本語のテキスト，한국어 문장도 있습니다。",
    "Emoji 😀🤗🚀 mixed with text 👍🏽 and flags 🇫🇷.",
    "tabs\tand\nnewlines  and   runs of    spaces",
] * 10 + _pseudo_words(300)
# deberta-v3's SentencePiece layout: [PAD] 0, [CLS] 1, [SEP] 2, [UNK] 3 ([MASK] comes after the pieces)
DEBERTA_V3_SPM = dict(pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece="[PAD]", bos_piece="[CLS]", eos_piece="[SEP]", unk_piece="[UNK]")


def train_spm(folder, vocab_size: int = 500, character_coverage: float = 0.995, **options) -> Path:
    """Rare characters fall outside the coverage, so [UNK] (or byte fallback) is exercised too."""
    import sentencepiece as spm

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(SPM_CORPUS), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(folder / "spm"), vocab_size=vocab_size,
                                   character_coverage=character_coverage, minloglevel=2, num_threads=1, **options)
    corpus.unlink()
    (folder / "spm.vocab").unlink()
    return folder / "spm.model"


def _write_spm_tokenizer(folder: Path) -> dict:
    """deberta-v3's files: spm.model + a two-key tokenizer_config.json; config entries that must agree."""
    train_spm(folder, **DEBERTA_V3_SPM)
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False, "vocab_type": "spm"}))
    return {"vocab_size": 501, "pad_token_id": 0}  # 500 pieces + [MASK]


# name -> (trainer options, tokenizer_config.json, config.json model_type or None)
SPM_VARIANTS = {
    "deberta-v3": (dict(DEBERTA_V3_SPM), {"do_lower_case": False, "vocab_type": "spm"}, "deberta-v2"),
    # lower-casing, punctuation split, no prefix space, own special tokens, class named only in tokenizer_config
    "lower-punct": (dict(DEBERTA_V3_SPM, user_defined_symbols=["<usr>"], control_symbols=["<ctl>"]),
                    {"tokenizer_class": "DebertaV2TokenizerFast", "do_lower_case": True, "split_by_punct": True,
                     "add_prefix_space": False, "mask_token": "[M]"}, None),
    # SentencePiece's default ids (<unk> 0, <s> 1, </s> 2): [CLS]/[SEP]/[UNK]/[PAD]/[MASK] are all appended
    "default-ids": (dict(user_defined_symbols=["[MASK]"]), {}, "deberta-v2"),
    # a BPE-trained model with byte fallback (transformers still builds a Unigram, without byte fallback)
    "bpe-bytes": (dict(DEBERTA_V3_SPM, model_type="bpe", byte_fallback=True, vocab_size=700), {"do_lower_case": False}, "deberta-v2"),
}


@pytest.fixture(scope="session")
def spm_dirs(tmp_path_factory) -> dict:
    pytest.importorskip("sentencepiece")
    root = tmp_path_factory.mktemp("spm")
    out = {}
    for name, (options, tok_config, model_type) in SPM_VARIANTS.items():
        folder = root / name
        train_spm(folder, **options)
        (folder / "tokenizer_config.json").write_text(json.dumps(tok_config))
        if model_type:
            (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
        out[name] = folder
    return out


@pytest.fixture(scope="session")
def deberta_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("deberta_ckpt")
