"""`autocli inspect`: any model_type, parameter counts, tokenizer summary, tensors, remote, fast path."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from autocli.checkpoint import Checkpoint
from autocli.inspect import collapse_tensors, inspect
from tests.conftest import ROOT, assert_one_line_error
from tests.fx_hub import safetensors_bytes, tiny_bert, write_safetensors


def _config(folder, **raw):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(raw))
    return folder


def _table(cli, *args) -> str:
    res = cli(["inspect", *map(str, args), "--format", "table"], env={"COLUMNS": "250"})  # wide enough that no cell wraps
    assert res.exit_code == 0, res.stderr
    assert res.stderr == ""
    return res.stdout


def _json(cli, *args):
    res = cli(["inspect", *map(str, args), "--json"])
    assert res.exit_code == 0, res.stderr
    return res.json()


# ---- the real MiniLM ---------------------------------------------------------------------------------


def test_minilm(cli, minilm_dir):
    d = _json(cli, minilm_dir)
    assert d["schema"] == "autocli.inspect/1" and d["source"] == "local" and d["model_type"] == "bert"
    assert d["architectures"] == ["BertModel"] and d["declared_tasks"] == ["base"]
    dims = d["dimensions"]
    assert (dims["hidden_size"], dims["num_layers"], dims["num_heads"], dims["head_dim"]) == (384, 6, 12, 32)
    assert (dims["vocab_size"], dims["context_length"], dims["intermediate_size"]) == (30522, 512, 1536)
    p = d["parameters"]
    assert p["total"] == 22_713_216  # transformers' BertModel.num_parameters() on this checkpoint
    assert p["embedding"] == (30522 + 512 + 2) * 384 and p["total"] == p["embedding"] + p["non_embedding"]
    assert p["by_dtype"] == {"F32": 22_713_216} and p["buffers"] == 512  # embeddings.position_ids
    assert d["memory_bytes"] == {"float32": 4 * 22_713_216, "bfloat16": 2 * 22_713_216, "int8": 22_713_216}
    assert d["kv_cache_bytes_per_1k_tokens"] is None  # an encoder
    w = d["weights"]
    assert w["format"] == "safetensors" and not w["sharded"] and w["tensor_count"] == 104
    assert w["files"] == [{"name": "model.safetensors", "size": (minilm_dir / "model.safetensors").stat().st_size}]
    assert {"name": "1_Pooling/config.json", "size": (minilm_dir / "1_Pooling/config.json").stat().st_size} in d["files"]
    t = d["tokenizer"]
    assert t["kind"] == "WordPiece" and t["vocab_size"] == 30522 and t["model_max_length"] == 512
    assert t["special_tokens"]["cls_token"] == {"content": "[CLS]", "id": 101}
    assert t["special_tokens"]["mask_token"] == {"content": "[MASK]", "id": 103}
    assert t["do_lower_case"] is True and t["chat_template"] is False and t["error"] is None
    assert d["tensors"] is None


def test_minilm_table(cli, minilm_dir):
    out = _table(cli, minilm_dir)
    for text in ("bert", "22.7M (22,713,216)", "384", "WordPiece, vocab 30,522", "cls [CLS]=101", "float32 86.6 MiB"):
        assert text in out, text


def test_minilm_tensors_collapsed(cli, minilm_dir):
    out = _table(cli, minilm_dir, "--tensors")
    line = next(l for l in out.splitlines() if "attention.self.query.weight" in l)
    assert "encoder.layer.{0..5}.attention.self.query.weight" in line and "[384, 384]" in line
    assert "F32" in line and "×6" in line
    groups = _json(cli, minilm_dir, "--tensors")["tensors"]
    q = next(g for g in groups if g["name"] == "encoder.layer.{0..5}.attention.self.query.weight")
    assert q == {"name": q["name"], "shape": [384, 384], "dtype": "F32", "count": 6, "parameters": 6 * 384 * 384,
                 "files": ["model.safetensors"]}
    assert sum(g["count"] for g in groups) == 104


def test_jsonl_is_one_line(cli, minilm_dir):
    res = cli(["inspect", minilm_dir, "--format", "jsonl"])
    assert res.exit_code == 0 and len(res.stdout.strip().splitlines()) == 1
    assert json.loads(res.stdout)["parameters"]["total"] == 22_713_216


# ---- model types autocli cannot run ----------------------------------------------------------------------


def test_vit_with_image_preprocessor(cli, tmp_path):
    folder = _config(tmp_path / "vit", model_type="vit", architectures=["ViTForImageClassification"], hidden_size=16,
                     num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, image_size=32, patch_size=8,
                     id2label={"0": "cat", "1": "dog"})
    rng = np.random.default_rng(0)
    t = {
        "vit.embeddings.cls_token": rng.random((1, 1, 16), np.float32),
        "vit.embeddings.position_embeddings": rng.random((1, 17, 16), np.float32),
        "vit.embeddings.patch_embeddings.projection.weight": rng.random((16, 3, 8, 8), np.float32),
        "classifier.weight": rng.random((2, 16), np.float32),
        "classifier.bias": rng.random(2, np.float32),
    }
    for i in range(2):
        t[f"vit.encoder.layer.{i}.attention.attention.query.weight"] = rng.random((16, 16), np.float32)
    write_safetensors(folder / "model.safetensors", t)
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "ViTImageProcessor", "size": {"height": 32, "width": 32},
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "do_normalize": True}))
    d = _json(cli, folder)
    assert d["model_type"] == "vit" and d["runnable"] is True
    assert d["runnable_tasks"] == ["base", "image-classification", "masked-image-modeling"]
    assert d["declared_tasks"] == ["image-classification"] and "image-classification" in d["heads_in_weights"]
    assert d["preprocessor"]["kind"] == "image" and d["preprocessor"]["type"] == "ViTImageProcessor"
    assert d["preprocessor"]["fields"]["size"] == {"height": 32, "width": 32}
    assert d["parameters"]["embedding"] == 17 * 16  # position_embeddings; the patch projection is a conv
    assert d["parameters"]["total"] == sum(a.size for a in t.values())
    assert d["tokenizer"] is None
    (folder / "preprocessor_config.json").write_text(json.dumps({"image_processor_type": "ViTImageProcessor", "resample": 3,
                                                                 "crop_size": {"height": 24, "width": 24}}))
    shown = " ".join(_table(cli, folder).split())
    assert "image preprocessor" in shown and "resample=bicubic (3)" in shown and "crop_size" in shown
    assert not any("cannot run model_type 'vit'" in n for n in d["notes"])
    out = _table(cli, folder)
    assert "image preprocessor" in out and "ViTImageProcessor" in out and "no (not supported yet)" not in out


def test_wav2vec2_with_feature_extractor(cli, tmp_path):
    folder = _config(tmp_path / "w2v", model_type="wav2vec2", architectures=["Wav2Vec2ForCTC"], hidden_size=8,
                     num_hidden_layers=1, num_attention_heads=2, vocab_size=32)
    write_safetensors(folder / "model.safetensors", {
        "wav2vec2.feature_extractor.conv_layers.0.conv.weight": np.zeros((8, 1, 10), np.float16),
        "lm_head.weight": np.zeros((32, 8), np.float16),
        "lm_head.bias": np.zeros(32, np.float16),
    })
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "feature_extractor_type": "Wav2Vec2FeatureExtractor", "sampling_rate": 16000, "feature_size": 1}))
    (folder / "vocab.json").write_text(json.dumps({f"t{i}": i for i in range(32)}))
    d = _json(cli, folder)
    assert d["runnable"] is True and d["preprocessor"]["kind"] == "audio"
    assert d["preprocessor"]["fields"]["sampling_rate"] == 16000
    assert d["parameters"]["by_dtype"] == {"F16": 80 + 32 * 8 + 32}
    assert d["memory_bytes"]["bfloat16"] == 2 * d["parameters"]["total"]
    assert d["tokenizer"]["kind"] == "WordLevel" and d["tokenizer"]["vocab_size"] == 32
    assert "ctc" in d["heads_in_weights"] and "ctc" in d["runnable_tasks"]


# ---- decoders, ties, aliases ------------------------------------------------------------------------


def _decoder(tmp_path, tie: bool | None, with_head: bool, **extra):
    cfg = dict(model_type="llama", architectures=["LlamaForCausalLM"], hidden_size=16, num_hidden_layers=2,
               num_attention_heads=4, num_key_value_heads=2, vocab_size=50, max_position_embeddings=128,
               intermediate_size=32, **extra)
    if tie is not None:
        cfg["tie_word_embeddings"] = tie
    folder = _config(tmp_path / f"dec-{tie}-{with_head}", **cfg)
    t = {"model.embed_tokens.weight": np.zeros((50, 16), np.float32), "model.norm.weight": np.zeros(16, np.float32)}
    for i in range(2):
        t[f"model.layers.{i}.self_attn.q_proj.weight"] = np.zeros((16, 16), np.float32)
        t[f"model.layers.{i}.self_attn.k_proj.weight"] = np.zeros((8, 16), np.float32)
        t[f"model.layers.{i}.self_attn.rotary_emb.inv_freq"] = np.zeros(2, np.float32)
    if with_head:
        t["lm_head.weight"] = np.ones((50, 16), np.float32)
    write_safetensors(folder / "model.safetensors", t)
    return folder


def test_decoder_kv_cache_and_ties(cli, tmp_path):
    body = 50 * 16 + 16 + 2 * (16 * 16 + 8 * 16)
    d = _json(cli, _decoder(tmp_path, tie=False, with_head=True))
    assert d["declared_tasks"] == ["causal-lm"] and d["dimensions"]["num_kv_heads"] == 2
    # 2 (K and V) x layers x kv_heads x head_dim x bytes x 1000 tokens
    assert d["kv_cache_bytes_per_1k_tokens"] == {"float32": 2 * 2 * 2 * 4 * 4 * 1000, "bfloat16": 2 * 2 * 2 * 4 * 2 * 1000}
    assert d["parameters"]["total"] == body + 50 * 16 and d["parameters"]["buffers"] == 4  # inv_freq is no parameter
    assert d["parameters"]["tied"] == []
    # tied and saved once (the usual case): lm_head is simply absent
    d = _json(cli, _decoder(tmp_path, tie=True, with_head=False))
    assert d["parameters"]["total"] == body and d["dimensions"]["tie_word_embeddings"] is True
    # tied but saved twice: counted once
    d = _json(cli, _decoder(tmp_path, tie=True, with_head=True))
    assert d["parameters"]["total"] == body
    assert d["parameters"]["tied"] == [["model.embed_tokens.weight", "lm_head.weight"]]
    out = _table(cli, _decoder(tmp_path, tie=True, with_head=True))
    assert "KV cache / 1k tokens" in out and "tied (counted once)" in out


def test_two_names_on_the_same_bytes_count_once(tmp_path):
    folder = _config(tmp_path / "alias", model_type="gpt2", architectures=["GPT2LMHeadModel"], n_embd=4, n_layer=1,
                     n_head=2, vocab_size=8, n_positions=16)
    entry = {"dtype": "F32", "shape": [8, 4], "data_offsets": [0, 128]}
    header = {"transformer.wte.weight": entry, "lm_head.weight": dict(entry),
              "transformer.h.0.attn.bias": {"dtype": "F32", "shape": [1, 1, 2, 2], "data_offsets": [128, 144]}}
    (folder / "model.safetensors").write_bytes(safetensors_bytes(header, bytes(144)))
    r = inspect(Checkpoint.resolve(str(folder)))
    assert r.parameters.total == 32 and r.parameters.buffers == 4  # gpt2's attn.bias is a causal mask
    assert r.parameters.tied == [["transformer.wte.weight", "lm_head.weight"]]  # [counted, not counted]
    assert r.kv_cache_bytes_per_1k_tokens == {"float32": 2 * 1 * 2 * 2 * 4 * 1000, "bfloat16": 2 * 1 * 2 * 2 * 2 * 1000}


def test_collapse_keeps_gaps_and_shapes_apart(tmp_path):
    folder = _config(tmp_path / "c", model_type="x")
    write_safetensors(folder / "model.safetensors", {
        "layers.0.w": np.zeros((2, 2), np.float32), "layers.2.w": np.zeros((2, 2), np.float32),
        "layers.1.w": np.zeros((3, 2), np.float32), "layers.10.w": np.zeros((2, 2), np.float32),
        "blocks.0.experts.0.w": np.zeros(1, np.float16), "blocks.0.experts.1.w": np.zeros(1, np.float16),
        "blocks.1.experts.0.w": np.zeros(1, np.float16), "blocks.1.experts.1.w": np.zeros(1, np.float16),
    })
    groups = {(g.name, tuple(g.shape)): g.count for g in collapse_tensors(Checkpoint.resolve(str(folder)))}
    assert groups == {
        ("layers.{0,2,10}.w", (2, 2)): 3,
        ("layers.1.w", (3, 2)): 1,
        ("blocks.{0..1}.experts.{0..1}.w", (1,)): 4,
    }


# ---- side files -------------------------------------------------------------------------------------


def test_generation_config_task_params_and_chat_template(cli, tmp_path):
    folder = _decoder(tmp_path, tie=None, with_head=True, task_specific_params={"summarization": {}, "translation_en_to_de": {}})
    (folder / "generation_config.json").write_text(json.dumps({"max_new_tokens": 20, "do_sample": True, "eos_token_id": 2}))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "chat_template": "{{ messages }}", "bos_token": {"content": "<s>"}, "eos_token": "</s>", "model_max_length": 1e30}))
    (folder / "tokenizer.json").write_text(json.dumps({
        "model": {"type": "BPE", "vocab": {"<s>": 0, "</s>": 1, "a": 2}, "merges": []},
        "pre_tokenizer": {"type": "ByteLevel"},
        "added_tokens": [{"id": 3, "content": "<pad>", "special": True}]}))
    d = _json(cli, folder)
    assert d["generation"] == {"max_new_tokens": 20, "do_sample": True, "eos_token_id": 2}
    assert d["task_specific_params"] == ["summarization", "translation_en_to_de"]
    t = d["tokenizer"]
    assert t["kind"] == "byte-level BPE" and t["vocab_size"] == 4 and t["chat_template"] is True
    assert t["model_max_length"] is None  # 1e30 means "no limit"
    assert t["special_tokens"] == {"bos_token": {"content": "<s>", "id": 0}, "eos_token": {"content": "</s>", "id": 1}}
    out = _table(cli, folder)
    assert "max_new_tokens=20" in out and "summarization" in out
    assert next(l for l in out.splitlines() if "chat template" in l).split("|")[2].strip() == "yes"


@pytest.mark.parametrize("files, kind, size", [
    ({"vocab.txt": "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n"}, "WordPiece", 5),
    ({"vocab.json": json.dumps({"a": 0, "b": 1}), "merges.txt": "#version: 0.2\n"}, "byte-level BPE", 2),
    ({"spiece.model": "x"}, "SentencePiece", None),
    ({"tokenizer.json": json.dumps({"model": {"type": "Unigram", "vocab": [["<unk>", 0.0], ["a", -1.0]]}})}, "Unigram", 2),
    ({"tokenizer.json": json.dumps({"model": {"type": "WordLevel", "vocab": {"a": 0}}})}, "WordLevel", 1),
])
def test_tokenizer_kinds(tmp_path, files, kind, size):
    folder = tiny_bert(tmp_path / "t")
    for name, text in files.items():
        (folder / name).write_text(text)
    t = inspect(Checkpoint.resolve(str(folder))).tokenizer
    assert (t.kind, t.vocab_size) == (kind, size)


def test_broken_tokenizer_file_is_a_note_not_a_failure(cli, tmp_path):
    folder = tiny_bert(tmp_path / "t")
    (folder / "tokenizer.json").write_text("")
    (folder / "generation_config.json").write_text("{not json")
    d = _json(cli, folder)
    assert "tokenizer.json is not valid JSON" in d["tokenizer"]["error"]
    assert any("generation_config.json is not valid JSON" in n for n in d["notes"])


def test_malformed_config_is_exit_4(cli, tmp_path):
    folder = tiny_bert(tmp_path / "m")
    (folder / "config.json").write_text('{"model_type": "bert",')
    res = cli(["inspect", folder])
    assert_one_line_error(res, 4)
    assert "config.json is not valid JSON" in res.stderr


def test_config_without_model_type_is_exit_4(cli, tmp_path):
    folder = tiny_bert(tmp_path / "m")
    (folder / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "hidden_size": 32}))
    res = cli(["inspect", folder])
    assert_one_line_error(res, 4)
    assert "no model_type" in res.stderr and "hint: add \"model_type\"" in res.stderr


def test_pickle_only_folder_is_inspected(cli, tmp_path):
    folder = _config(tmp_path / "p", model_type="bert", architectures=["BertForMaskedLM"], hidden_size=8)
    (folder / "pytorch_model.bin").write_bytes(b"PK" + bytes(100))
    d = _json(cli, folder)
    assert d["weights"]["format"] == "pickle" and d["weights"]["pickle_files"] == ["pytorch_model.bin"]
    assert d["weights"]["files"] == [{"name": "pytorch_model.bin", "size": 102}]
    assert d["parameters"] is None and d["heads_in_weights"] is None
    assert any("only pickle weights" in n and "--allow-pickle" in n for n in d["notes"])
    assert "only pickle weights" in _table(cli, folder)


def test_sharded_counts_equal_single(cli, tmp_path):
    one = _json(cli, tiny_bert(tmp_path / "one"))
    two = _json(cli, tiny_bert(tmp_path / "two", sharded=True))
    assert two["weights"]["sharded"] and len(two["weights"]["files"]) == 2
    assert two["parameters"] == one["parameters"]
    assert "model-00001-of-00002.safetensors" in _table(cli, tmp_path / "two", "--tensors")  # a file column


# ---- remote -----------------------------------------------------------------------------------------


def test_remote_inspect_reads_headers_not_weights(cli, hub, tmp_path):
    folder = tiny_bert(tmp_path / "big", hidden=256, layers=4, vocab=2000, intermediate=512)
    weights = (folder / "model.safetensors").stat().st_size
    assert weights > 4_000_000
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 64, "cls_token": "[CLS]"}))
    hub.add_repo("org/big", folder)
    local = _json(cli, folder, "--tensors")
    d = _json(cli, "org/big", "--tensors")
    assert d["source"] == "hub" and d["repo_id"] == "org/big" and len(d["commit"]) == 40
    for key in ("parameters", "dimensions", "memory_bytes", "tensors"):
        assert d[key] == local[key], key
    assert d["weights"]["files"] == local["weights"]["files"]
    assert d["tokenizer"]["model_max_length"] == 64
    served = hub.bytes_served("org/big", "model.safetensors")
    assert 0 < served < 0.05 * weights, (served, weights)
    assert not list(hub.cache_dir.rglob("blobs/*")) or all(p.stat().st_size < 100_000 for p in hub.cache_dir.rglob("blobs/*"))


# ---- the fast path ------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--help"], ["inspect", "--help"], ["inspect", "MINILM"], ["inspect", "MINILM", "--tensors", "--json"]])
def test_no_torch_on_the_fast_path(minilm_dir, args):
    args = [str(minilm_dir) if a == "MINILM" else a for a in args]
    code = (
        "import sys, io; from autocli.cli import run; out = sys.stdout; sys.stdout = io.StringIO(); "
        f"rc = run({args!r}); sys.stdout = out; "
        "print(rc, 'torch' in sys.modules, 'transformers' in sys.modules, 'huggingface_hub.file_download' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "False", "False", "False"], out.stdout + out.stderr
