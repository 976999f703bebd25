"""compat for image and audio checkpoints: the preprocessor requirement and its lint, from JSON alone."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autocli import compat, preprocess, registry
from autocli.checkpoint import Checkpoint
from autocli.registry import Family
from tests.test_compat import write_safetensors

VIT = {"model_type": "vit", "architectures": ["ViTForImageClassification"], "hidden_size": 8, "num_hidden_layers": 1,
       "num_attention_heads": 2, "intermediate_size": 16, "image_size": 16, "patch_size": 8, "id2label": {"0": "a", "1": "b"}}
W2V = {"model_type": "wav2vec2", "architectures": ["Wav2Vec2ForCTC"], "hidden_size": 8, "num_hidden_layers": 1,
       "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 5}
IMAGE = {"image_processor_type": "ViTImageProcessor", "image_mean": [0.5] * 3, "image_std": [0.5] * 3, "size": 16}
AUDIO = {"feature_extractor_type": "Wav2Vec2FeatureExtractor", "sampling_rate": 16000, "do_normalize": True}


@pytest.fixture(autouse=True)
def rows(monkeypatch):
    """Registry rows and processor names for a vision and an audio family (whatever families have landed)."""
    monkeypatch.setitem(registry.FAMILIES, "vit", Family("vit", "vit", {"base": (), "image-classification": ("classifier.",)},
                                                          kind="vision", processor="ViTImageProcessor"))
    monkeypatch.setitem(registry.FAMILIES, "wav2vec2", Family("wav2vec2", "wav2vec2", {"base": (), "ctc": ("lm_head.",)},
                                                               kind="audio", processor="Wav2Vec2FeatureExtractor"))
    monkeypatch.setitem(preprocess.PROCESSORS, "ViTImageProcessor", "image:ViTImageProcessor")
    monkeypatch.setitem(preprocess.PROCESSORS, "Wav2Vec2FeatureExtractor", "audio:FeatureExtractor")


def make(tmp_path, config, tensors, settings=None, files=()):
    folder = tmp_path / config["model_type"]
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    write_safetensors(folder / "model.safetensors", {k: np.zeros(s, np.float32) for k, s in tensors.items()})
    if settings is not None:
        (folder / "preprocessor_config.json").write_text(settings if isinstance(settings, str) else json.dumps(settings))
    for name, text in files:
        (folder / name).write_text(text)
    return folder


def report(folder, tasks):
    return compat.assess(str(folder), compat.gather(Checkpoint.resolve(str(folder))), tasks)


def vit(tmp_path, settings=IMAGE, **config):
    return make(tmp_path, {**VIT, **config}, {"vit.embeddings.cls_token": (1, 1, 8), "classifier.weight": (2, 8), "classifier.bias": (2,)}, settings)


def findings(r) -> dict:
    return {f.name: f for f in r.findings}


def test_image_checkpoint_ready_without_a_tokenizer(tmp_path):
    r = report(vit(tmp_path), ["image-classification", "base"])
    assert r.verdicts["image-classification"].verdict == compat.READY, r.verdicts["image-classification"]
    assert not any(f.name.startswith(("tokenizer", "preprocessor")) for f in r.findings)


@pytest.mark.parametrize("settings, config, name", [
    (None, {}, "preprocessor-missing"),
    ("{not json", {}, "preprocessor-invalid"),
    ({**IMAGE, "image_mean": [0.5, 0.5]}, {}, "preprocessor-invalid"),
    ({**IMAGE, "image_std": [0.5, 0, 0.5]}, {}, "preprocessor-invalid"),
    (IMAGE, {"num_channels": 1}, "preprocessor-invalid"),
    ({**IMAGE, "image_processor_type": "FancyImageProcessor"}, {}, "preprocessor-type"),
])
def test_image_processor_lint_makes_the_task_incomplete(tmp_path, settings, config, name):
    r = report(vit(tmp_path, settings, **config), ["image-classification"])
    f = findings(r)[name]
    assert f.severity == "error" and f.message
    v = r.verdicts["image-classification"]
    assert v.verdict == compat.INCOMPLETE and {u.requirement for u in v.unmet} == {"preprocessor"}


def test_audio_ctc_needs_sampling_rate_and_vocab(tmp_path):
    tensors = {"wav2vec2.feature_projection.projection.weight": (8, 4), "lm_head.weight": (5, 8), "lm_head.bias": (5,)}
    folder = make(tmp_path, W2V, tensors, {k: v for k, v in AUDIO.items() if k != "sampling_rate"})
    r = report(folder, ["ctc", "base"])
    assert "sampling_rate" in findings(r)["preprocessor-invalid"].message
    assert findings(r)["tokenizer-missing"].severity == "warning"
    assert sorted(u.requirement for u in r.verdicts["ctc"].unmet) == ["preprocessor", "tokenizer"]
    assert [u.requirement for u in r.verdicts["base"].unmet] == ["preprocessor"]


def test_audio_ctc_ready_with_vocab(tmp_path):
    tensors = {"wav2vec2.feature_projection.projection.weight": (8, 4), "lm_head.weight": (5, 8), "lm_head.bias": (5,)}
    vocab = json.dumps({"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4})
    r = report(make(tmp_path, W2V, tensors, AUDIO, [("vocab.json", vocab)]), ["ctc"])
    assert r.verdicts["ctc"].verdict == compat.READY, r.verdicts["ctc"]


def test_text_checkpoint_has_no_preprocessor_findings(tmp_path):
    from tests.test_compat import make as make_text

    r = report(make_text(tmp_path), ["base"])
    assert not any(f.name.startswith("preprocessor") for f in r.findings)
