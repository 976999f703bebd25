"""Every audio family of the registry, without transformers: built from its first AUDIO_VARIANTS config, random
weights saved through the loader's own path, every head run on a padded batch of samples (shapes, finiteness)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from autocli import registry
from tests.fx_audio import AUDIO_VARIANTS

CONFIGS: dict = {}
for _v in AUDIO_VARIANTS.values():
    CONFIGS.setdefault(_v.model_type, _v.config)
# the families that read raw samples; log-mel families (Whisper) have every head in tests/test_parity_whisper.py
RAW = {mt for mt, fam in registry.FAMILIES.items() if fam.kind == "audio" and fam.processor == "Wav2Vec2FeatureExtractor"}
PAIRS = [(mt, task) for mt, fam in sorted(registry.FAMILIES.items()) if mt in RAW for task in fam.heads]
ARCHITECTURE = {"base": "Model", "audio-classification": "ForSequenceClassification", "ctc": "ForCTC"}


def test_every_audio_family_has_a_parity_row():
    assert sorted(CONFIGS) == sorted(RAW)
    from tests.test_parity_whisper import ROWS

    log_mel = {mt for mt, fam in registry.FAMILIES.items() if fam.kind == "audio"} - RAW
    assert log_mel == {"whisper"} and {t for t, _ in ROWS} == set(registry.FAMILIES["whisper"].heads)


@pytest.mark.parametrize("model_type,task", PAIRS, ids=[f"{m}:{t}" for m, t in PAIRS])
def test_every_head_runs(tmp_path, model_type, task):
    from autocli.config import Config
    from autocli.models import load_model_from_dir

    raw = {"model_type": model_type, "architectures": ["X" + ARCHITECTURE[task]], **CONFIGS[model_type],
           "id2label": {str(i): f"L{i}" for i in range(3)}}
    (tmp_path / "config.json").write_text(json.dumps(raw))
    mod = importlib.import_module(f"autocli.models.{registry.family(model_type).module}")
    args = mod.Args.from_config(Config(raw, str(tmp_path)))
    gen = torch.Generator().manual_seed(0)
    state = {k: torch.randn(v.shape, generator=gen) * 0.2 if v.is_floating_point() else v.clone()
             for k, v in mod.build(args, task).state_dict().items()}
    save_file(state, str(Path(tmp_path) / "model.safetensors"), metadata={"format": "pt"})
    model = load_model_from_dir(tmp_path, task, device="cpu")
    assert not model.report.missing and not model.report.random, model.report
    values = torch.randn(2, 3000, generator=gen)
    mask = torch.ones(2, 3000, dtype=torch.long)
    mask[1, 2000:] = 0
    out = model(input_values=values, attention_mask=mask)
    frames = int(model.frames_mask(mask).shape[1])
    want = {"base": (2, frames, args.hidden_size), "audio-classification": (2, 3), "ctc": (2, frames, args.vocab_size)}[task]
    assert tuple(out.shape) == want and torch.isfinite(out).all()
