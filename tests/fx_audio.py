"""Tiny random speech checkpoints saved by transformers (the oracle), and audio files written with soundfile.

    AUDIO_VARIANTS[name] = Variant(...)    every wav2vec2 / HuBERT config the parity tests check, with its rows
    audio_rows() -> [(variant, task)]       the parity rows
    build_audio_checkpoint(root, variant, task, weight_layout="new"|"old", **overrides) -> Path
        config -> model -> every weight (and BatchNorm statistic) perturbed -> save_pretrained, with its
        preprocessor_config.json and, for CTC, a Wav2Vec2CTCTokenizer (vocab.json). weight_layout "old" rewrites
        the positional conv's `parametrizations.weight.original0/1` keys as the older `weight_g/weight_v`.
    audio_oracle(folder, variant, task)     the transformers model (eval, eager attention)
    write_audio(path, seconds, rate, channels, subtype, seed) -> Path   a noisy tone, as soundfile writes it
    audio_root                              session fixture: a folder for checkpoints built by any test
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.fx_models import Variant

_SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, conv_dim=[16, 16, 16],
              conv_stride=[5, 2, 2], conv_kernel=[10, 3, 3], num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
              classifier_proj_size=8, vocab_size=12, pad_token_id=0, mask_time_prob=0.05)
_LAYER = dict(_SMALL, feat_extract_norm="layer", conv_bias=True)
_STABLE = dict(_LAYER, do_stable_layer_norm=True)
_SPEECH = ("base", "audio-classification", "ctc")


def _speech(model_type, oracle, config, tasks=_SPEECH):
    return Variant("audio", model_type, oracle, config, tasks)


AUDIO_VARIANTS = {
    "wav2vec2": _speech("wav2vec2", "Wav2Vec2", _SMALL),  # group norm, post-norm (wav2vec2-base)
    "wav2vec2-layer": _speech("wav2vec2", "Wav2Vec2", _LAYER),  # layer norm convs with bias
    "wav2vec2-stable": _speech("wav2vec2", "Wav2Vec2", _STABLE),  # pre-norm layers (large-lv60, XLS-R)
    "wav2vec2-odd-kernel-relu": _speech("wav2vec2", "Wav2Vec2", dict(_SMALL, num_conv_pos_embeddings=15, hidden_act="relu"), ("ctc",)),
    "wav2vec2-weighted": _speech("wav2vec2", "Wav2Vec2", dict(_SMALL, use_weighted_layer_sum=True), ("audio-classification",)),
    "wav2vec2-stable-weighted": _speech("wav2vec2", "Wav2Vec2", dict(_STABLE, use_weighted_layer_sum=True), ("audio-classification",)),
    "wav2vec2-adapter": _speech("wav2vec2", "Wav2Vec2", dict(_STABLE, add_adapter=True, output_hidden_size=24, num_adapter_layers=2),
                                ("base", "ctc")),
    "wav2vec2-mms": _speech("wav2vec2", "Wav2Vec2", dict(_STABLE, adapter_attn_dim=6), ("ctc",)),
    "hubert": _speech("hubert", "Hubert", _SMALL),
    "hubert-stable": _speech("hubert", "Hubert", _STABLE),
    "hubert-no-proj-norm": _speech("hubert", "Hubert", dict(_SMALL, feat_proj_layer_norm=False), ("base",)),
    "hubert-pos-batch-norm": _speech("hubert", "Hubert", dict(_SMALL, conv_pos_batch_norm=True), ("audio-classification",)),
}

NUM_LABELS = 3
RATE = 16000
TASK_CLASSES = {"base": "Model", "audio-classification": "ForSequenceClassification", "ctc": "ForCTC"}
# The CTC vocabulary: the blank (<pad>), specials, the word delimiter and letters (vocab_size 12).
CTC_VOCAB = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "E": 5, "T": 6, "A": 7, "O": 8, "N": 9, "'": 10, "H": 11}


def audio_rows() -> list[tuple[str, str]]:
    return [(name, task) for name, v in AUDIO_VARIANTS.items() for task in v.tasks]


def audio_class(variant: str, task: str):
    import transformers

    return getattr(transformers, AUDIO_VARIANTS[variant].oracle + TASK_CLASSES[task])


def build_audio_checkpoint(root, variant: str, task: str, *, weight_layout: str = "new", seed: int = 0,
                           extractor: dict | None = None, **overrides) -> Path:
    import torch
    import transformers

    key = json.dumps([variant, task, weight_layout, seed, extractor, overrides], sort_keys=True)
    folder = Path(root) / f"{variant}-{task}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    if (folder / "config.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    v = AUDIO_VARIANTS[variant]
    labels = {"id2label": {i: f"LABEL_{i}" for i in range(NUM_LABELS)}, "label2id": {f"LABEL_{i}": i for i in range(NUM_LABELS)}}
    config = getattr(transformers, v.oracle + "Config")(**{**v.config, **labels, **overrides})
    torch.manual_seed(seed)
    model = audio_class(variant, task)(config).eval()
    with torch.no_grad():
        gen = torch.Generator().manual_seed(seed + 1)
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=gen) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(1 + torch.rand(b.shape, generator=gen))
    model.save_pretrained(folder, safe_serialization=True)
    if weight_layout == "old":
        _old_weight_norm_keys(folder / "model.safetensors")
    fe = dict(feature_size=1, sampling_rate=RATE, padding_value=0.0, do_normalize=True,
              return_attention_mask=config.feat_extract_norm == "layer")
    transformers.Wav2Vec2FeatureExtractor(**{**fe, **(extractor or {})}).save_pretrained(folder)
    if task == "ctc":
        (folder / "vocab.json").write_text(json.dumps(CTC_VOCAB))
        transformers.Wav2Vec2CTCTokenizer(str(folder / "vocab.json")).save_pretrained(folder)
    return folder


def _old_weight_norm_keys(path: Path) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(path))
    renamed = {k.replace("parametrizations.weight.original0", "weight_g").replace("parametrizations.weight.original1", "weight_v"): t
               for k, t in state.items()}
    assert renamed.keys() != state.keys(), "the positional conv keys were not in the new layout"
    save_file(renamed, str(path), metadata={"format": "pt"})


def audio_oracle(folder: Path, variant: str, task: str):
    return audio_class(variant, task).from_pretrained(folder, attn_implementation="eager").eval()


def write_audio(path, seconds: float = 0.5, rate: int = RATE, channels: int = 1, subtype: str = "PCM_16", seed: int = 0,
                fmt: str | None = None) -> Path:
    """A tone with noise (different per channel), written by soundfile in `subtype` (PCM_U8, PCM_16, PCM_24, FLOAT...)."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    data = np.stack([0.4 * np.sin(2 * np.pi * (220 + 110 * c) * t) + 0.1 * rng.standard_normal(n) for c in range(channels)], axis=1)
    sf.write(str(path), data if channels > 1 else data[:, 0], rate, subtype=subtype, format=fmt)
    return Path(path)


@pytest.fixture(scope="session")
def audio_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("audio_ckpt")
