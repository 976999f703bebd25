"""The onnxruntime backend: the parity tables run through the exported graph, the graph cache (stale graphs
rebuilt, never run), the missing extra (exit 5 with the hint) and the CLI end to end."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from autocli import errors  # noqa: E402
from autocli.backends import onnx_cache, onnx_fuse  # noqa: E402
from autocli.models import load_model_from_dir  # noqa: E402
from tests.fx_models import CONFIG_VARIANTS, ENCODER_PAIRS, build_checkpoint  # noqa: E402
from tests.fx_vision import VISION_ROWS, vision_checkpoints  # noqa: E402,F401  (the fixture)
from tests.test_parity_encoders import TOL, _batch, _max_delta  # noqa: E402

ORT = dict(backend="onnxruntime", device="cpu")


@pytest.fixture(autouse=True)
def _graph_cache(tmp_path_factory, monkeypatch):
    """Exported graphs go to a cache of the test session, never the user's."""
    monkeypatch.setenv("AUTOCLI_CACHE", str(tmp_path_factory.getbasetemp() / "autocli-cache"))


# --- parity: the encoder tables, through ONNX Runtime ----------------------------------------------

@pytest.mark.parametrize("family,task", ENCODER_PAIRS, ids=[f"{f}:{t}" for f, t in ENCODER_PAIRS])
def test_parity_onnxruntime(tiny_checkpoints, family, task):
    assert _max_delta(tiny_checkpoints[family, task], family, task, **ORT) <= TOL


@pytest.mark.parametrize("variant,task", CONFIG_VARIANTS, ids=[f"{v}:{t}" for v, t in CONFIG_VARIANTS])
def test_parity_onnxruntime_config_variants(tiny_root, variant, task):
    assert _max_delta(build_checkpoint(tiny_root, variant, task), variant, task, **ORT) <= TOL


def test_runs_through_the_session(tiny_checkpoints):
    m = load_model_from_dir(tiny_checkpoints["bert", "sequence-classification"], "sequence-classification", **ORT)
    assert m.backend == "onnxruntime" and type(m.module).__name__ == "OrtModule"
    ids, mask, types = _batch(m, "sequence-classification")
    for rows, width in ((1, 13), (4, 7), (3, 13)):  # batch and length are free axes, a batch of 1 included
        got = m(ids[:rows, :width], mask[:rows, :width], types[:rows, :width])
        want = m.module.torch_module(ids[:rows, :width], mask[:rows, :width], types[:rows, :width])
        assert got.shape == want.shape and float((got - want).abs().max()) <= TOL


FUSED_FAMILIES = sorted({f for f, _ in ENCODER_PAIRS})


def _op_types(m, folder) -> list[str]:
    import onnx

    graph = _cache_of(m, folder)[0] / onnx_cache.GRAPH
    return [n.op_type for n in onnx.load(str(graph), load_external_data=False).graph.node]


@pytest.mark.parametrize("family", FUSED_FAMILIES)
def test_encoder_graph_is_fused(tiny_checkpoints, family):
    """ONNX Runtime's optimizer matched every layer's attention (one Attention node each) and no add +
    LayerNorm pair was merged into the slower SkipLayerNormalization."""
    task = "base"
    m = load_model_from_dir(tiny_checkpoints[family, task], task, **ORT)
    ops = _op_types(m, tiny_checkpoints[family, task])
    layers = m.config.get("num_layers")
    # ALBERT's first layer reads the embedding projection, not a LayerNorm (where the optimizer anchors its
    # match): that one stays unfused, and the graph is still checked against torch on export
    unfused = 1 if family == "albert" else 0
    assert ops.count("Attention") == layers - unfused and ops.count("Softmax") == unfused, ops
    assert "SkipLayerNormalization" not in ops
    manifest = json.loads((_cache_of(m, tiny_checkpoints[family, task])[0] / onnx_cache.MANIFEST).read_text())
    assert manifest["built_from"]["fusion"]["recipe"] == onnx_fuse.RECIPE


def test_fused_graph_reads_any_mask_not_only_right_padding(tiny_checkpoints):
    """The Attention nodes take the raw 0/1 mask: left padding, a hole, and nonzero values other than 1 give
    the torch forward's numbers (sequence lengths alone would get them wrong)."""
    m = load_model_from_dir(tiny_checkpoints["bert", "sequence-classification"], "sequence-classification", **ORT)
    ids, _, types = _batch(m, "sequence-classification")
    mask = torch.ones_like(ids)
    mask[0, :4] = 0  # left padding
    mask[1, 3:6] = 0  # a hole
    mask[2, -2:] = 0
    mask[2, :3] = 7  # any nonzero value marks a real token, as in torch
    got = m(ids, mask, types)
    want = m.module.torch_module(ids, mask, types)
    assert float((got - want).abs().max()) <= TOL


def test_graph_fused_otherwise_is_stale(tiny_checkpoints, tmp_path, monkeypatch):
    folder = _copy(tiny_checkpoints["bert", "token-classification"], tmp_path / "ckpt")
    m = load_model_from_dir(folder, "token-classification", **ORT)
    where, expected, ckpt = _cache_of(m, folder)
    assert onnx_cache.stale(where, expected) is None
    monkeypatch.setattr(onnx_fuse, "RECIPE", "another fusion recipe")
    assert "built from another fusion" in onnx_cache.stale(where, _cache_of(m, folder)[1])
    assert onnx_cache.cached_graph(m, ckpt) is None  # never run: the next onnxruntime load exports again


def test_torch_module_still_answers_the_rest(tiny_checkpoints):
    """What is not a forward (the config, the head modules, the prefix) is read from the torch module."""
    m = load_model_from_dir(tiny_checkpoints["bert", "sequence-classification"], "sequence-classification", **ORT)
    assert m.module.prefix == "bert" and m.module.kind == "encoder"
    assert next(m.module.parameters()).dtype == torch.float32


@pytest.mark.parametrize("load_kw,reason", [
    (dict(dtype="bfloat16"), "runs float32"),
])
def test_unrunnable_settings_refused(tiny_checkpoints, load_kw, reason):
    with pytest.raises(errors.Unsupported, match=reason) as e:
        load_model_from_dir(tiny_checkpoints["bert", "sequence-classification"], "sequence-classification", **{**ORT, **load_kw})
    assert e.value.exit_code == 5 and "--backend torch" in e.value.hint


def test_document_model_refused_and_auto_stays_on_torch(layout_checkpoints):
    """A document model's forward also reads boxes (and pixels): the exporter does not feed them."""
    folder = layout_checkpoints["v1-tok"]
    with pytest.raises(errors.Unsupported, match="layoutlm models") as e:
        load_model_from_dir(folder, "token-classification", **ORT)
    assert e.value.exit_code == 5
    assert load_model_from_dir(folder, "token-classification", device="cpu", backend="auto").backend == "torch"


def test_decoder_refused(decoder_root):
    from tests.fx_decoders import build_decoder

    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    with pytest.raises(errors.Unsupported, match="not decoder ones"):
        load_model_from_dir(folder, "causal-lm", **ORT)


# --- the cache: built once, stale graphs rebuilt and never run ----------------------------------------

def _cache_of(m, folder):
    from autocli.checkpoint import Checkpoint

    ckpt = Checkpoint.resolve(str(folder))
    return onnx_cache.folder(m, ckpt), onnx_cache.built_from(m, ckpt), ckpt


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_cache_reused_then_rebuilt_when_the_weights_change(tiny_checkpoints, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    folder = _copy(tiny_checkpoints["bert", "sequence-classification"], tmp_path / "ckpt")
    m = load_model_from_dir(folder, "sequence-classification", **ORT)
    where, expected, ckpt = _cache_of(m, folder)
    manifest = json.loads((where / onnx_cache.MANIFEST).read_text())
    assert manifest["built_from"] == expected and manifest["built_from"]["task"] == "sequence-classification"
    assert onnx_cache.cached_graph(m, ckpt) == where / onnx_cache.GRAPH
    graph_time = (where / onnx_cache.GRAPH).stat().st_mtime_ns
    load_model_from_dir(folder, "sequence-classification", **ORT)
    assert (where / onnx_cache.GRAPH).stat().st_mtime_ns == graph_time  # a hit: not exported again

    state = load_file(folder / "model.safetensors")
    state["classifier.bias"] = state["classifier.bias"] + 1.0  # other weights, same names and shapes
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    assert "built from another weights" in onnx_cache.stale(where, _cache_of(m, folder)[1])
    fresh = load_model_from_dir(folder, "sequence-classification", **ORT)  # rebuilt, not the old graph
    ids, mask, types = _batch(fresh, "sequence-classification")
    want = fresh.module.torch_module(ids, mask, types)
    assert float((fresh(ids, mask, types) - want).abs().max()) <= TOL
    assert onnx_cache.stale(where, _cache_of(fresh, folder)[1]) is None


@pytest.mark.parametrize("damage", ["graph bytes", "manifest gone", "other checkpoint"])
def test_damaged_or_foreign_cache_never_runs(tiny_checkpoints, tmp_path, damage):
    import shutil

    folder = _copy(tiny_checkpoints["bert", "sequence-classification"], tmp_path / "ckpt")
    m = load_model_from_dir(folder, "sequence-classification", **ORT)
    where, expected, ckpt = _cache_of(m, folder)
    if damage == "graph bytes":
        with open(where / onnx_cache.GRAPH, "ab") as f:
            f.write(b"\0")
    elif damage == "manifest gone":
        (where / onnx_cache.MANIFEST).unlink()
    else:  # the graph of another checkpoint (same shapes, other weights) put in this one's place
        other = load_model_from_dir(tiny_checkpoints["bert", "base"], "sequence-classification", allow_random_head=True, **ORT)
        theirs = _cache_of(other, tiny_checkpoints["bert", "base"])[0]
        shutil.rmtree(where)
        shutil.copytree(theirs, where)
    assert onnx_cache.stale(where, expected) is not None
    assert onnx_cache.cached_graph(m, ckpt) is None
    from autocli.models import load_model_from_dir as load

    assert load(folder, "sequence-classification", device="cpu").backend == "torch"  # auto: no valid graph, torch
    again = load(folder, "sequence-classification", **ORT)  # rebuilt
    assert onnx_cache.stale(where, expected) is None
    ids, mask, types = _batch(again, "sequence-classification")
    assert float((again(ids, mask, types) - again.module.torch_module(ids, mask, types)).abs().max()) <= TOL


def test_auto_takes_a_cached_graph_only(tiny_checkpoints, tmp_path):
    folder = _copy(tiny_checkpoints["distilbert", "sequence-classification"], tmp_path / "ckpt")
    assert load_model_from_dir(folder, "sequence-classification", device="cpu", backend="auto").backend == "torch"
    load_model_from_dir(folder, "sequence-classification", **ORT)
    assert load_model_from_dir(folder, "sequence-classification", device="cpu", backend="auto").backend == "onnxruntime"
    assert load_model_from_dir(folder, "sequence-classification", device="cpu", backend="torch").backend == "torch"


def test_local_cache_lives_under_autocli_cache(tiny_checkpoints, tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOCLI_CACHE", str(tmp_path / "elsewhere"))
    folder = tiny_checkpoints["bert", "token-classification"]
    m = load_model_from_dir(folder, "token-classification", **ORT)
    where = _cache_of(m, folder)[0]
    assert where.is_relative_to(tmp_path / "elsewhere" / "onnx") and (where / onnx_cache.GRAPH).is_file()
    assert not list(where.parent.glob("*.tmp-*"))  # the staging folder was renamed into place


# --- without the extra ---------------------------------------------------------------------------------

def test_missing_onnxruntime_exit_5_with_hint(tiny_checkpoints, cli, monkeypatch):
    from tests.conftest import assert_one_line_error

    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    folder = tiny_checkpoints["bert", "sequence-classification"]
    res = cli(["classify", str(folder), "a text", "--backend", "onnxruntime", "--device", "cpu"])
    assert_one_line_error(res, 5)
    assert "onnxruntime" in res.stderr and "pip install 'autocli[onnx]'" in res.stderr
    plain = cli(["classify", str(folder), "a text", "--device", "cpu", "-f", "jsonl"])  # auto: torch, as ever
    assert plain.exit_code == 0 and json.loads(plain.stdout)["label"]


# --- the command line, as a real process ------------------------------------------------------------------

def test_classify_backend_onnxruntime_subprocess(tiny_checkpoints, script):
    folder = tiny_checkpoints["bert", "sequence-classification"]
    texts = ["a short one", "a somewhat longer text to classify here", "x"]
    args = ["classify", str(folder), *texts, "--top-k", "all", "-f", "jsonl", "--device", "cpu"]
    ort_run = script([*args, "--backend", "onnxruntime", "-v"])
    torch_run = script([*args, "--backend", "torch"])
    assert ort_run.exit_code == 0 and torch_run.exit_code == 0, ort_run.stderr
    assert "onnxruntime" in ort_run.stderr  # -v says which backend ran
    got = [json.loads(line) for line in ort_run.stdout.splitlines()]
    want = [json.loads(line) for line in torch_run.stdout.splitlines()]
    assert [r["index"] for r in got] == [0, 1, 2]
    for g, w in zip(got, want):
        assert [s["label"] for s in g["scores"]] == [s["label"] for s in w["scores"]]
        assert max(abs(a["score"] - b["score"]) for a, b in zip(g["scores"], w["scores"])) <= TOL


# --- images and audio: the same parity rows, through ONNX Runtime -------------------------------------------

@pytest.mark.slow  # an export per row
@pytest.mark.parametrize("name", list(VISION_ROWS))
def test_vision_parity_onnxruntime(vision_checkpoints, name):
    """At the configured size through the graph; other sizes (interpolated positions) through the torch forward."""
    from tests.test_vision import _oracle_model, _oracle_out

    cls_name, task, *_ = VISION_ROWS[name]
    ours = load_model_from_dir(vision_checkpoints[name], task, **ORT)
    assert ours.backend == "onnxruntime"
    oracle = _oracle_model(vision_checkpoints[name], cls_name)
    torch.manual_seed(1)
    for hw in [(32, 32)] if task == "masked-image-modeling" else [(32, 32), (48, 40)]:
        pixels = torch.randn(3, 3, *hw)
        field, out = _oracle_out(oracle, task, pixels, interpolate=hw != (32, 32))
        got, want = ours(pixel_values=pixels.numpy()), getattr(out, field)
        assert got.shape == want.shape and float((got - want).abs().max()) <= TOL


def _audio_rows():
    """Every head of the plain wav2vec2 and HuBERT, and every other variant once, through the head that reads
    the most of it (the frames mask): each row is an export, and a variant's backbone traces the same under
    every head (the torch parity table runs all the pairs)."""
    from tests.test_parity_audio import ROWS

    rows = [r for r in ROWS if r[2] == "new"]
    rank = {"audio-classification": 0, "ctc": 1, "base": 2}
    one = {}
    for variant, task, layout in sorted(rows, key=lambda r: rank.get(r[1], 3)):
        one.setdefault(variant, (variant, task, layout))
    return [r for r in rows if r[0] in ("wav2vec2", "hubert") or one[r[0]] == r]


@pytest.mark.slow  # an export per row, the slowest ones (the conv feature encoder)
@pytest.mark.parametrize("variant,task,layout", _audio_rows(), ids=lambda v: str(v))
def test_audio_parity_onnxruntime(audio_root, variant, task, layout):
    from tests.fx_audio import audio_oracle, build_audio_checkpoint
    from tests.test_parity_audio import _batch as audio_batch
    from tests.test_parity_audio import _oracle_out as audio_out

    folder = build_audio_checkpoint(audio_root, variant, task, weight_layout=layout)
    ours = load_model_from_dir(folder, task, **ORT)
    assert ours.backend == "onnxruntime"
    ref = audio_oracle(folder, variant, task)
    x, mask = audio_batch()
    for m in (mask, None):  # without a mask the graph gets one of all ones: the same numbers
        want = audio_out(ref, task, x, m)
        got = ours(input_values=x, attention_mask=m)
        assert tuple(got.shape) == tuple(want.shape) and float((got - want).abs().max()) <= TOL


def test_hub_checkpoint_graph_beside_it_in_the_hf_cache(hub, tiny_checkpoints):
    """A Hub checkpoint's graph lives in its own Hugging Face cache folder, under the commit it was built from."""
    from autocli.tasks import load

    commit = hub.add_repo("org/cls", tiny_checkpoints["bert", "sequence-classification"])["main"]
    _, _, m = load("org/cls", "sequence-classification", device="cpu", backend="onnxruntime", quiet=True)
    assert m.backend == "onnxruntime"
    graph = hub.cache_dir / "models--org--cls" / "autocli-onnx" / commit
    found = list(graph.glob(f"*/{onnx_cache.GRAPH}"))
    assert len(found) == 1 and (found[0].parent / onnx_cache.MANIFEST).is_file()
    manifest = json.loads((found[0].parent / onnx_cache.MANIFEST).read_text())
    assert manifest["built_from"]["commit"] == commit and manifest["built_from"]["checkpoint"] == "org/cls"
    _, _, again = load("org/cls", "sequence-classification", device="cpu", backend="auto", quiet=True, offline=True)
    assert again.backend == "onnxruntime"  # auto: the cached graph, offline


def test_deberta_through_the_graph_and_modernbert_refused_in_one_line(deberta_root):
    """DeBERTa-v2's relative attention exports; ModernBERT's unpadding does not trace: exit 5, no tracer report."""
    from tests.fx_deberta import VARIANTS, build_family_checkpoint

    deberta = build_family_checkpoint(deberta_root, "deberta-v2", "sequence-classification", next(iter(VARIANTS["deberta-v2"])))
    m = load_model_from_dir(deberta, "sequence-classification", **ORT)
    ids, mask = torch.randint(5, 90, (3, 11)), torch.ones(3, 11, dtype=torch.long)
    mask[1, 6:] = 0
    assert float((m(ids, mask) - m.module.torch_module(ids, mask, None)).abs().max()) <= TOL
    modern = build_family_checkpoint(deberta_root, "modernbert", "sequence-classification", next(iter(VARIANTS["modernbert"])))
    with pytest.raises(errors.Unsupported, match="could not be exported to ONNX") as e:
        load_model_from_dir(modern, "sequence-classification", **ORT)
    assert "\n" not in e.value.message and "\x1b" not in e.value.message and "--backend torch" in e.value.hint
