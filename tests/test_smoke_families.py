"""Every registry family, without transformers: build from a tiny config, save random weights through the
loader's own path, run every head the registry row offers, check shapes and finiteness (and one generation
step where the head generates). A developer without the oracle installed still gets this signal.

This file must not import transformers (test_runs_without_transformers proves it).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from autocli import registry
from tests.fx_models import VARIANTS

ROOT = Path(__file__).resolve().parent.parent
V, B, T = 64, 2, 7  # vocab, rows, tokens
# model_type -> a tiny config.json: the first row of the parity table (fx_models.VARIANTS) for each registry family
CONFIGS: dict = {}
for _v in VARIANTS.values():
    CONFIGS.setdefault(_v.model_type, {**_v.config, "vocab_size": V})

# task -> an architectures entry that declares it (heads sharing keys are told apart by it)
ARCHITECTURE = {"base": "XModel", "zero-shot-image-classification": "XModel", "causal-lm": "XForCausalLM", "seq2seq-lm": "XForConditionalGeneration",
                "replaced-token-detection": "XForPreTraining", "next-sentence-prediction": "XForNextSentencePrediction"}
# text families (image and audio families read files: their smoke rows live beside their fixtures)
# (heads the registry says autocli deliberately does not run, `not_run`, have no module to build them)
PAIRS = [(mt, task) for mt, fam in sorted(registry.FAMILIES.items()) for task in fam.heads
         if fam.kind != "audio" and task not in fam.not_run]
RUN = {mt for mt, _ in PAIRS}


def _architecture(task: str) -> str:
    if task in ARCHITECTURE:
        return ARCHITECTURE[task]
    suffix = next(s for s, t in registry.ARCH_SUFFIXES if t == task)
    return "X" + suffix


def tiny_checkpoint(folder: Path, model_type: str, task: str) -> Path:
    """config.json + random float weights named as the loader expects (the module's own state dict)."""
    from safetensors.torch import save_file

    from autocli.config import Config

    labels = 2 if task == "question-answering" else 3
    raw = {"model_type": model_type, "architectures": [_architecture(task)], **CONFIGS[model_type],
           "id2label": {str(i): f"L{i}" for i in range(labels)}}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(raw))
    fam = registry.family(model_type)
    mod = importlib.import_module(f"autocli.models.{fam.module}")
    args = mod.Args.from_config(Config({**fam.overrides, **raw}, str(folder)))
    gen = torch.Generator().manual_seed(0)
    state = {k: torch.randn(v.shape, generator=gen) * 0.2 if v.is_floating_point() else v.clone()
             for k, v in mod.build(args, task).state_dict().items()}
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


def _inputs(task: str, model_type: str):
    gen = torch.Generator().manual_seed(1)
    shape = (B, 3, T) if task == "multiple-choice" else (B, T)
    ids = torch.randint(3, V, shape, generator=gen)
    mask = torch.ones_like(ids)
    mask[1, ..., T - 2:] = 0  # the second row is padded
    eos = CONFIGS[model_type].get("eos_token_id")
    if eos is not None and registry.family(model_type).kind == "seq2seq":  # their classifiers pool at the last EOS
        ids[0, -1], ids[1, T - 3] = eos, eos
    return ids, mask


def _expected_shape(task: str, model_type: str) -> tuple:
    labels = 2 if task == "question-answering" else 3
    width = next(CONFIGS[model_type][k] for k in ("d_model", "n_embd", "dim", "hidden_size") if k in CONFIGS[model_type])
    per_task = {"base": (B, T, width), "sequence-classification": (B, labels), "token-classification": (B, T, labels),
                "question-answering": (B, T, 2), "masked-lm": (B, T, V), "causal-lm": (B, T, V), "seq2seq-lm": (B, T, V),
                "multiple-choice": (B, 3), "next-sentence-prediction": (B, 2), "replaced-token-detection": (B, T)}
    return per_task[task]


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("smoke")


@pytest.mark.parametrize("model_type,task", PAIRS, ids=[f"{m}:{t}" for m, t in PAIRS])
def test_every_head_runs(smoke_root, model_type, task):
    from autocli.models import load_model_from_dir

    folder = tiny_checkpoint(smoke_root / f"{model_type}-{task}", model_type, task)
    model = load_model_from_dir(folder, task, device="cpu", dtype="float32")
    assert not model.report.missing and not model.report.random, model.report
    if registry.family(model_type).kind in ("vision", "image-text"):
        out = model(pixel_values=torch.randn(B, 3, 32, 32, generator=torch.Generator().manual_seed(1)))
        assert tuple(out.shape) == _vision_shape(task, model_type) and torch.isfinite(out).all()
        if model.module.kind == "image-text":  # the text tower, into the same space
            out = model(*_inputs(task, model_type))
            assert tuple(out.shape) == _vision_shape(task, model_type) and torch.isfinite(out).all()
        return
    ids, mask = _inputs(task, model_type)
    out = model(ids, mask)
    assert tuple(out.shape) == _expected_shape(task, model_type)
    assert torch.isfinite(out).all()
    _generation_step(model.module, task, ids, mask)


def _vision_shape(task: str, model_type: str) -> tuple:
    """A 32x32 image in 8x8 patches: 16 patch tokens after the CLS (and DeiT's distillation) token."""
    tokens = 16 + (2 if model_type == "deit" else 1)
    if model_type == "clip":  # embeddings in the shared space; the classifier reads the vision tower
        return {"image-classification": (B, 3)}.get(task, (B, CONFIGS["clip"]["projection_dim"]))
    return {"base": (B, tokens, 32), "image-classification": (B, 3), "masked-image-modeling": (B, 3, 32, 32)}[task]


def _generation_step(m, task: str, ids, mask) -> None:
    with torch.inference_mode():
        if task == "causal-lm" and m.kind == "decoder":
            cache = m.new_cache(B, T + 1)
            first = m.prefill(ids, mask, cache)
            assert first.shape == (B, V) and torch.isfinite(first).all()
            assert torch.isfinite(m.decode(first.argmax(-1), cache)).all()
        elif m.is_seq2seq:
            cache = m.new_cache(m.encode(ids, mask), mask, 2, 3)  # two beams per input
            step = m.step(torch.zeros(2 * B, dtype=torch.long), cache)
            assert step.shape == (2 * B, V) and torch.isfinite(step).all()


def test_every_family_has_a_parity_row():
    # audio families' parity rows live in their own fixture; image families are rows of the table
    assert sorted(CONFIGS) == sorted(RUN)


def test_every_registry_task_has_a_head_builder():
    """The registry says which tasks exist; each family module must know how to build them."""
    for model_type, fam in registry.FAMILIES.items():
        if model_type not in RUN and fam.kind != "audio":
            continue
        mod = importlib.import_module(f"autocli.models.{fam.module}")
        assert set(fam.heads) - set(fam.not_run) <= set(mod.HEADS), model_type


def test_runs_without_transformers(tmp_path):
    """The smoke test's own path, with `import transformers` made to fail."""
    code = ("import sys; sys.modules['transformers'] = None\n"
            "from pathlib import Path\n"
            "from tests.test_smoke_families import tiny_checkpoint\n"
            "from autocli.models import load_model_from_dir\n"
            f"f = tiny_checkpoint(Path({str(tmp_path)!r}) / 'l', 'llama', 'causal-lm')\n"
            "print(load_model_from_dir(f, 'causal-lm')([[5, 6, 7]]).shape)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"torch.Size([1, 3, {V}])" in proc.stdout
