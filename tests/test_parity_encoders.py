"""Encoder runtime: logit parity with transformers for every (family, head) pair, and the loader's rules.

Each parity row: a tiny random checkpoint saved by transformers, a padded batch (attention_mask zeros,
pad ids in the padded slots, token types where the family has them), max |Δ| <= 1e-4 in float32.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from autocli import errors
from autocli.models import load_model_from_dir
from tests.fx_models import CONFIG_VARIANTS, ENCODER_PAIRS, build_checkpoint, oracle, oracle_output, transformers_class

TOL = 1e-4


def _batch(model, task: str, seed: int = 0):
    """A batch with padding: rows of different real lengths, pad ids and mask zeros after them."""
    gen = torch.Generator().manual_seed(seed)
    vocab = model.config.raw["vocab_size"]
    pad = model.config.raw.get("pad_token_id") or 0
    lengths = [13, 9, 5, 13]
    shape = (len(lengths), 3, 13) if task == "multiple-choice" else (len(lengths), 13)
    ids = torch.randint(5, vocab, shape, generator=gen)
    mask = torch.zeros(shape, dtype=torch.long)
    for row, n in enumerate(lengths):
        mask[row, ..., :n] = 1
    if task == "multiple-choice":
        mask[0, 1, 6:] = 0  # choices of one question padded differently
    ids = ids.masked_fill(mask == 0, pad)
    types = None
    if model.uses_token_type_ids:
        types = torch.zeros_like(ids)
        types[..., 4:] = 1
        types = types * mask
    return ids, mask, types


def _max_delta(folder: Path, family: str, task: str, **load_kw) -> float:
    ours = load_model_from_dir(folder, task, **load_kw)
    ids, mask, types = _batch(ours, task)
    got = ours(ids, mask, types)
    want = oracle_output(oracle(folder, family, task), task, ids, mask, types)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == torch.float32
    return float((got - want).abs().max())


# --- parity: one row per (family, head) pair ----------------------------------------------------

@pytest.mark.parametrize("family,task", ENCODER_PAIRS, ids=[f"{f}:{t}" for f, t in ENCODER_PAIRS])
def test_parity(tiny_checkpoints, family, task):
    assert _max_delta(tiny_checkpoints[family, task], family, task) <= TOL


@pytest.mark.parametrize("variant,task", CONFIG_VARIANTS, ids=[f"{v}:{t}" for v, t in CONFIG_VARIANTS])
def test_parity_config_variants(tiny_root, variant, task):
    """Config values that change the math, each on the head that exercises it (fx_models.VARIANTS)."""
    folder = build_checkpoint(tiny_root, variant, task)
    assert _max_delta(folder, variant, task) <= TOL


def test_distilbert_sinusoidal_table_computed_when_absent(tiny_root):
    """The sinusoid is in the weights; a file without it gets the table transformers builds."""
    from safetensors.torch import load_file, save_file

    src = build_checkpoint(tiny_root, "distilbert-sinusoid", "base")
    folder = tiny_root / "distilbert-no-positions"
    shutil.copytree(src, folder, dirs_exist_ok=True)
    state = load_file(src / "model.safetensors")
    ref = transformers_class("distilbert", "base").from_pretrained(src)
    ref_table = ref.embeddings.position_embeddings.weight.detach().clone()
    del state["embeddings.position_embeddings.weight"]
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    ours = load_model_from_dir(folder, "base")
    got = ours.module.distilbert.embeddings.position_embeddings.weight
    from autocli.models.distilbert import sinusoid

    want = sinusoid(*ref_table.shape)
    assert torch.allclose(got, want)
    # and it is the table transformers writes at init
    fresh = transformers_class("distilbert", "base")(ref.config)
    assert torch.allclose(fresh.embeddings.position_embeddings.weight, want, atol=1e-6)


def test_minilm_base_equals_transformers(minilm_dir):
    from transformers import BertModel

    ours = load_model_from_dir(minilm_dir, "base")
    ids, mask, types = _batch(ours, "base", seed=3)
    want = BertModel.from_pretrained(minilm_dir).eval()(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
    assert float((ours(ids, mask, types) - want.detach()).abs().max()) <= TOL


# --- heads: present, absent, random ---------------------------------------------------------------

@pytest.mark.parametrize("family,task,key", [
    ("bert", "sequence-classification", "classifier.weight"),
    ("bert", "masked-lm", "cls.predictions.transform.dense.weight"),  # the tied decoder alone is no head
    ("electra", "masked-lm", "generator_predictions.dense.weight"),
    ("distilbert", "question-answering", "qa_outputs.weight"),
])
def test_base_checkpoint_refused_for_head_task(tiny_checkpoints, family, task, key):
    with pytest.raises(errors.Unsupported) as e:
        load_model_from_dir(tiny_checkpoints[family, "base"], task)
    assert e.value.exit_code == 5
    assert f"no trained {task} head" in e.value.message
    assert key in e.value.message and "random" in e.value.message
    assert "--allow-random-head" in e.value.hint


def test_minilm_has_no_classifier(minilm_dir):
    with pytest.raises(errors.Unsupported, match="no trained sequence-classification head"):
        load_model_from_dir(minilm_dir, "sequence-classification")


def test_head_of_another_task_refused(tiny_checkpoints):
    """classifier.* of a token classifier is not a sequence classifier (architectures decide)."""
    with pytest.raises(errors.Unsupported, match="no trained sequence-classification head"):
        load_model_from_dir(tiny_checkpoints["bert", "token-classification"], "sequence-classification")


def test_allow_random_head(tiny_checkpoints, capsys):
    folder = tiny_checkpoints["roberta", "base"]
    a = load_model_from_dir(folder, "sequence-classification", allow_random_head=True)
    assert "randomly initialised" in capsys.readouterr().err
    assert sorted(a.report.random) == ["classifier.dense.bias", "classifier.dense.weight", "classifier.out_proj.bias", "classifier.out_proj.weight"]
    b = load_model_from_dir(folder, "sequence-classification", allow_random_head=True)
    ids, mask, types = _batch(a, "sequence-classification")
    out = a(ids, mask, types)
    assert out.shape == (4, 3) and torch.isfinite(out).all()
    assert torch.equal(out, b(ids, mask, types))  # fixed seed: the same "random" head every time


def test_allow_random_head_ignores_another_tasks_head(tiny_checkpoints):
    folder = tiny_checkpoints["bert", "sequence-classification"]  # classifier is [3, H]; multiple choice needs [1, H]
    m = load_model_from_dir(folder, "multiple-choice", allow_random_head=True)
    assert "classifier.weight" in m.report.random


@pytest.mark.parametrize("family,task", [("bert", "sequence-classification"), ("roberta", "masked-lm"), ("distilbert", "question-answering"),
                                         ("albert", "multiple-choice"), ("electra", "replaced-token-detection")])
def test_head_checkpoint_loads_as_base(tiny_checkpoints, family, task):
    folder = tiny_checkpoints[family, task]
    ours = load_model_from_dir(folder, "base")
    assert ours.report.prefix == f"{ours.module.prefix}."
    assert ours.report.unexpected  # the head's weights are reported, not used
    ids, mask, types = _batch(ours, "base")
    kw = {"token_type_ids": types} if types is not None else {}
    want = transformers_class(family, "base").from_pretrained(folder).eval()(input_ids=ids, attention_mask=mask, **kw).last_hidden_state
    assert float((ours(ids, mask, types) - want.detach()).abs().max()) <= TOL


def test_unknown_task_for_family(tiny_checkpoints):
    with pytest.raises(errors.Unsupported, match="roberta has no next-sentence-prediction head"):
        load_model_from_dir(tiny_checkpoints["roberta", "base"], "next-sentence-prediction")


# --- weights on disk --------------------------------------------------------------------------------

def _rewrite(src: Path, dst: Path, edit) -> Path:
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst, dirs_exist_ok=True)
    state = edit(dict(load_file(src / "model.safetensors")))
    save_file(state, dst / "model.safetensors", metadata={"format": "pt"})
    return dst


def test_legacy_gamma_beta_keys(tiny_checkpoints, tmp_path):
    src = tiny_checkpoints["bert", "masked-lm"]

    def legacy(state):
        out = {}
        for k, v in state.items():
            if ".LayerNorm." in k:
                k = k.replace(".weight", ".gamma").replace(".bias", ".beta")
            out[k] = v
        out["bert.embeddings.position_ids"] = torch.arange(64)[None]  # a stale buffer old versions saved
        return out

    folder = _rewrite(src, tmp_path / "legacy", legacy)
    ours = load_model_from_dir(folder, "masked-lm")
    assert ("bert.embeddings.LayerNorm.gamma", "bert.embeddings.LayerNorm.weight") in ours.report.renamed
    assert not ours.report.unexpected and not ours.report.missing
    ids, mask, types = _batch(ours, "masked-lm")
    want = oracle_output(oracle(src, "bert", "masked-lm"), "masked-lm", ids, mask, types)
    assert float((ours(ids, mask, types) - want).abs().max()) <= TOL


def test_old_decoder_bias_key(tiny_checkpoints, tmp_path):
    """Files that saved the MLM bias as cls.predictions.decoder.bias (only) still load."""
    src = tiny_checkpoints["bert", "masked-lm"]

    def rename(state):
        state["cls.predictions.decoder.bias"] = state.pop("cls.predictions.bias")
        return state

    ours = load_model_from_dir(_rewrite(src, tmp_path / "old", rename), "masked-lm")
    ids, mask, types = _batch(ours, "masked-lm")
    want = oracle_output(oracle(src, "bert", "masked-lm"), "masked-lm", ids, mask, types)
    assert float((ours(ids, mask, types) - want).abs().max()) <= TOL


def test_shape_mismatch_is_exit_4(tiny_checkpoints, tmp_path):
    folder = tmp_path / "mismatch"
    shutil.copytree(tiny_checkpoints["bert", "sequence-classification"], folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["id2label"] = {str(i): f"L{i}" for i in range(5)}
    cfg["label2id"] = {f"L{i}": i for i in range(5)}
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(errors.InvalidCheckpoint) as e:
        load_model_from_dir(folder, "sequence-classification")
    assert e.value.exit_code == 4
    assert "classifier.bias" in e.value.message and "[3]" in e.value.message and "[5]" in e.value.message


def test_missing_backbone_weight_is_exit_4(tiny_checkpoints, tmp_path):
    def drop(state):
        del state["bert.encoder.layer.1.output.dense.weight"]
        return state

    folder = _rewrite(tiny_checkpoints["bert", "token-classification"], tmp_path / "holes", drop)
    with pytest.raises(errors.InvalidCheckpoint, match=r"backbone weight\(s\) missing: bert.encoder.layer.1.output.dense.weight"):
        load_model_from_dir(folder, "token-classification")


def test_sharded_checkpoint(tiny_root):
    family, task = "bert", "masked-lm"
    src = build_checkpoint(tiny_root, family, task)
    folder = tiny_root / "bert-sharded"
    model = transformers_class(family, task).from_pretrained(src)
    model.save_pretrained(folder, safe_serialization=True, max_shard_size="20KB")
    assert (folder / "model.safetensors.index.json").is_file()
    assert len(list(folder.glob("model-*.safetensors"))) > 2
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(src / name, folder / name)
    ours = load_model_from_dir(folder, task)
    assert len(ours.report.files) > 2
    assert _max_delta(folder, family, task) <= TOL


def test_pickle_only_refused_then_allowed(tiny_root):
    family, task = "electra", "sequence-classification"
    src = build_checkpoint(tiny_root, family, task)
    folder = tiny_root / "electra-pickle"
    folder.mkdir()
    shutil.copy(src / "config.json", folder / "config.json")
    torch.save(transformers_class(family, task).from_pretrained(src).state_dict(), folder / "pytorch_model.bin")
    assert (folder / "pytorch_model.bin").is_file() and not (folder / "model.safetensors").exists()
    with pytest.raises(errors.InvalidCheckpoint) as e:
        load_model_from_dir(folder, task)
    assert e.value.exit_code == 4 and "pickle" in e.value.message
    ours = load_model_from_dir(folder, task, allow_pickle=True)
    assert ours.report.files == ["pytorch_model.bin"]
    assert _max_delta(folder, family, task, allow_pickle=True) <= TOL


def test_weights_are_the_mmap_not_a_copy(tiny_checkpoints):
    """float32 on CPU from a float32 file: every parameter points into the file's mapping."""
    folder = tiny_checkpoints["bert", "masked-lm"]
    ours = load_model_from_dir(folder, "masked-lm")
    file = str((folder / "model.safetensors").resolve())
    spans = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        if line.endswith(file):
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            spans.append((lo, hi))
    assert spans
    params = list(ours.module.parameters())
    assert all(any(lo <= p.data_ptr() < hi for lo, hi in spans) for p in params)
    # the tied decoder is the embedding matrix itself
    emb = ours.module.bert.embeddings.word_embeddings.weight
    assert ours.module.cls.predictions.decoder.weight.data_ptr() == emb.data_ptr()


# --- config values that cannot be honoured, devices and dtypes -------------------------------------

def _edit_config(src: Path, dst: Path, **changes) -> Path:
    shutil.copytree(src, dst, dirs_exist_ok=True)
    cfg = json.loads((dst / "config.json").read_text())
    cfg.update(changes)
    (dst / "config.json").write_text(json.dumps(cfg))
    return dst


@pytest.mark.parametrize("change,match", [
    ({"position_embedding_type": "relative_key"}, "position_embedding_type 'relative_key'"),
    ({"position_embedding_type": "relative_key_query"}, "relative_key_query"),
    ({"hidden_act": "swiglu_nonsense"}, "hidden_act 'swiglu_nonsense' is not supported"),
    ({"is_decoder": True}, "as a decoder"),
    ({"model_type": "mamba"}, "model_type 'mamba' is not supported"),
])
def test_unsupported_config_refused(tiny_checkpoints, tmp_path, change, match):
    folder = _edit_config(tiny_checkpoints["bert", "base"], tmp_path / "c", **change)
    with pytest.raises(errors.Unsupported, match=match) as e:
        load_model_from_dir(folder, "base")
    assert e.value.hint
    if "model_type" in change:
        assert "bert" in e.value.hint and "electra" in e.value.hint


def test_absurd_dimensions_refused_before_building(tiny_checkpoints, tmp_path):
    folder = _edit_config(tiny_checkpoints["bert", "base"], tmp_path / "c", hidden_size=10**9)
    with pytest.raises(errors.InvalidCheckpoint, match="hidden_size"):
        load_model_from_dir(folder, "base")


def test_dtype_auto_is_float32_on_cpu_for_bf16_checkpoint(tiny_root):
    family, task = "bert", "sequence-classification"
    src = build_checkpoint(tiny_root, family, task)
    folder = tiny_root / "bert-bf16"
    transformers_class(family, task).from_pretrained(src, dtype=torch.bfloat16).save_pretrained(folder)
    assert json.loads((folder / "config.json").read_text()).get("dtype") == "bfloat16"
    ours = load_model_from_dir(folder, task, device="cpu")
    assert ours.dtype == torch.float32 and all(p.dtype == torch.float32 for p in ours.module.parameters())
    half = load_model_from_dir(folder, task, device="cpu", dtype="bfloat16")
    ids, mask, types = _batch(ours, task)
    out = half(ids, mask, types)
    assert out.dtype == torch.bfloat16
    assert float((out.float() - ours(ids, mask, types)).abs().max()) < 0.1


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_unavailable_device(tiny_checkpoints):
    with pytest.raises(errors.Unsupported, match="no CUDA device") as e:
        load_model_from_dir(tiny_checkpoints["bert", "base"], "base", device="cuda")
    assert "--device cpu" in e.value.hint


def test_too_long_input_is_a_clear_error(tiny_checkpoints):
    ours = load_model_from_dir(tiny_checkpoints["roberta", "base"], "base")
    assert ours.max_positions == 66 - 1 - 1  # positions start after padding_idx
    ids = torch.full((1, ours.max_positions + 1), 7)
    with pytest.raises(errors.UsageError, match="positions"):
        ours(ids, torch.ones_like(ids))
    assert ours(ids[:, :-1], torch.ones_like(ids[:, :-1])).shape == (1, ours.max_positions, 32)


@pytest.mark.parametrize("change", [{"layer_norm_eps": "tiny"}, {"tie_word_embeddings": "yes"}, {"type_vocab_size": 2.5}])
def test_ill_typed_config_values_refused(tiny_checkpoints, tmp_path, change):
    folder = _edit_config(tiny_checkpoints["bert", "masked-lm"], tmp_path / "c", **change)
    with pytest.raises(errors.InvalidCheckpoint, match=next(iter(change))):
        load_model_from_dir(folder, "masked-lm")


def test_ids_outside_the_vocabulary_are_a_clear_error(tiny_checkpoints):
    ours = load_model_from_dir(tiny_checkpoints["bert", "base"], "base")
    ids = torch.tensor([[2, 7, ours.vocab_size]])
    with pytest.raises(errors.InvalidCheckpoint, match=f"token id {ours.vocab_size} is outside"):
        ours(ids, torch.ones_like(ids))
    ok = torch.tensor([[2, 7, 3]])
    with pytest.raises(errors.InvalidCheckpoint, match="token type ids go up to 2"):
        ours(ok, torch.ones_like(ok), torch.tensor([[0, 1, 2]]))
    with pytest.raises(errors.UsageError, match="empty input"):
        ours(torch.zeros((1, 0), dtype=torch.long), torch.zeros((1, 0), dtype=torch.long))
