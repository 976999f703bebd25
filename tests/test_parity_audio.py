"""wav2vec2 and HuBERT against transformers, one row per (variant, head) of tests/fx_audio.py AUDIO_VARIANTS,
on a padded batch with and without its attention mask; the positional conv's weight norm in both key layouts."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fx_audio import audio_oracle, audio_rows, build_audio_checkpoint

TOL = 1e-4
ROWS = [(v, t, "new") for v, t in audio_rows()] + [("wav2vec2", t, "old") for t in ("base", "audio-classification", "ctc")] \
    + [("wav2vec2-stable", "ctc", "old"), ("hubert", "ctc", "old")]


def _batch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4000)).astype(np.float32)
    mask = np.ones((3, 4000), dtype=np.int64)
    for row, n in ((1, 2500), (2, 1111)):
        x[row, n:], mask[row, n:] = 0.0, 0
    return x, mask


def _oracle_out(model, task, x, mask):
    import torch

    kw = {"input_values": torch.tensor(x)}
    if mask is not None:
        kw["attention_mask"] = torch.tensor(mask)
    with torch.no_grad():
        out = model(**kw)
    return out.last_hidden_state if task == "base" else out.logits


@pytest.mark.parametrize("variant,task,layout", ROWS, ids=lambda v: str(v))
def test_parity(audio_root, variant, task, layout):
    from autocli.models import load_model_from_dir

    folder = build_audio_checkpoint(audio_root, variant, task, weight_layout=layout)
    ref = audio_oracle(folder, variant, task)
    ours = load_model_from_dir(folder, task, device="cpu")
    assert not ours.report.missing and not ours.report.random
    x, mask = _batch()
    for m in (mask, None):
        want = _oracle_out(ref, task, x, m)
        got = ours(input_values=x, attention_mask=m)
        assert tuple(got.shape) == tuple(want.shape)
        assert float((got - want).abs().max()) <= TOL


@pytest.mark.parametrize("variant", ["wav2vec2", "wav2vec2-adapter", "hubert-stable"])
def test_frames_mask_is_transformers_feature_vector_mask(audio_root, variant):
    import torch

    from autocli.models import load_model_from_dir

    folder = build_audio_checkpoint(audio_root, variant, "base")
    ref = audio_oracle(folder, variant, "base")
    ours = load_model_from_dir(folder, "base", device="cpu")
    _, mask = _batch()
    hidden = ours(input_values=_batch()[0], attention_mask=mask)
    want = ref._get_feature_vector_attention_mask(hidden.shape[1], torch.tensor(mask))
    assert torch.equal(ours.frames_mask(mask), want)


def test_adapters_refuse_classification_as_transformers(audio_root):
    from autocli.errors import Unsupported
    from autocli.models import load_model_from_dir

    folder = build_audio_checkpoint(audio_root, "wav2vec2-adapter", "base")
    with pytest.raises(Unsupported, match="add_adapter"):
        load_model_from_dir(folder, "audio-classification", device="cpu", allow_random_head=True)


def test_weight_norm_without_its_pair_is_refused(audio_root, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    from autocli.errors import InvalidCheckpoint
    from autocli.models import load_model_from_dir

    src = build_audio_checkpoint(audio_root, "wav2vec2", "base", weight_layout="old")
    folder = tmp_path / "broken"
    shutil.copytree(src, folder)
    state = load_file(str(folder / "model.safetensors"))
    save_file({k: v for k, v in state.items() if not k.endswith("weight_v")}, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(InvalidCheckpoint, match="weight_v"):
        load_model_from_dir(folder, "base", device="cpu")
