"""`autocli download`: fetch what the commands read, so that --offline runs work; nothing else."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import assert_one_line_error
from tests.fx_hub import closed_port_url, point_hub_at, tiny_bert
from tests.fx_models import build_checkpoint

POOLING = {"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True}
MODULES = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
           {"idx": 1, "name": "1", "path": "1_Pool", "type": "sentence_transformers.models.Pooling"}]


@pytest.fixture
def repo(hub, tiny_root, tmp_path):
    """A classifier with a tokenizer, sentence-transformers files, and files the commands never read."""
    folder = tmp_path / "repo"
    shutil.copytree(build_checkpoint(tiny_root, "bert", "sequence-classification"), folder)
    (folder / "modules.json").write_text(json.dumps(MODULES))
    (folder / "1_Pool").mkdir()
    (folder / "1_Pool" / "config.json").write_text(json.dumps(POOLING))
    (folder / "generation_config.json").write_text("{}")
    (folder / "modeling_evil.py").write_text("raise SystemExit('remote code ran')\n")
    (folder / "pytorch_model.bin").write_bytes(b"PK\x03\x04 a pickle that must never be fetched")
    (folder / "README.md").write_text("# card\n")
    (folder / "optimizer.pt").write_bytes(b"x" * 1000)
    return hub.add_repo("org/cls", folder)["main"]


def _cached(hub, commit) -> set[str]:
    snap = hub.cache_dir / "models--org--cls" / "snapshots" / commit
    return {p.relative_to(snap).as_posix() for p in snap.rglob("*") if p.is_file()}


OFFLINE_RUNS = (["inspect", "org/cls", "--json"], ["tokenize", "org/cls", "hello world", "--ids"],
                ["classify", "org/cls", "hello world", "--format", "jsonl"], ["embed", "org/cls", "hello", "--format", "jsonl"])


def test_download_then_offline(cli, hub, repo, monkeypatch):
    res = cli(["download", "org/cls"])
    assert res.exit_code == 0, res.stderr
    data = res.json()  # a pipe: JSON
    assert data["schema"] == "autocli.download/1" and data["commit"] == repo and data["weights"] is True
    names = {f["name"] for f in data["files"]}
    assert names == _cached(hub, repo)
    assert {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
            "modules.json", "1_Pool/config.json", "model.safetensors"} <= names
    assert not {"modeling_evil.py", "pytorch_model.bin", "README.md", "optimizer.pt"} & names
    assert data["total_bytes"] == sum(f["size"] for f in data["files"]) and data["path"].endswith(repo)
    assert all(line.startswith("[") for line in res.stderr.splitlines()) and "model.safetensors" in res.stderr

    hub.stop()
    point_hub_at(monkeypatch, closed_port_url())
    for args in OFFLINE_RUNS:
        res = cli([*args, "--offline"])
        assert res.exit_code == 0 and res.stderr == "", (args, res.stderr)


def test_no_weights(cli, hub, repo, monkeypatch):
    res = cli(["download", "org/cls", "--no-weights", "--quiet"])
    assert res.exit_code == 0 and res.stderr == "", res.stderr
    assert "model.safetensors" not in {f["name"] for f in res.json()["files"]}
    assert hub.bytes_served("org/cls", "model.safetensors") < 5000  # the header only
    hub.stop()
    point_hub_at(monkeypatch, closed_port_url())
    for args in OFFLINE_RUNS[:2]:  # inspect (from the kept headers) and tokenize need no weights
        assert cli([*args, "--offline"]).exit_code == 0
    assert_one_line_error(cli([*OFFLINE_RUNS[2], "--offline"]), 3)


def test_pickle_only_needs_allow_pickle(cli, hub, tmp_path):
    folder = tmp_path / "pk"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (folder / "pytorch_model.bin").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    hub.add_repo("org/pk", folder)
    res = cli(["download", "org/pk"])
    assert_one_line_error(res, 4)
    assert "only pickle weights" in res.stderr and hub.bytes_served("org/pk", "pytorch_model.bin") == 0
    res = cli(["download", "org/pk", "--allow-pickle", "-q"])
    assert res.exit_code == 0 and {f["name"] for f in res.json()["files"]} == {"config.json", "pytorch_model.bin"}


def test_corrupt_weights_are_refused_before_download(cli, hub, tmp_path):
    folder = tiny_bert(tmp_path / "bad", hidden=64)
    blob = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(blob[: len(blob) // 2])
    hub.add_repo("org/bad", folder)
    assert_one_line_error(cli(["download", "org/bad"]), 4)
    assert hub.bytes_served("org/bad", "model.safetensors") < len(blob) // 20


def test_a_repo_without_weights(cli, hub, wordpiece_tokenizer_dir):
    hub.add_repo("org/tok", wordpiece_tokenizer_dir)
    res = cli(["download", "org/tok"])
    assert res.exit_code == 0 and "has no weights" in res.stderr
    assert "tokenizer.json" in {f["name"] for f in res.json()["files"]}


def test_table_on_request_and_local_folder(cli, tmp_path):
    folder = tiny_bert(tmp_path / "ck")
    res = cli(["download", folder, "--format", "table", "-q"])
    assert res.exit_code == 0 and "model.safetensors" in res.stdout and "2 files" in res.stdout


def test_console_script_then_offline(script, hub, repo):
    res = script(["download", "org/cls", "--no-weights"])
    assert res.exit_code == 0 and json.loads(res.stdout)["commit"] == repo
    hub.stop()
    res = script(["tokenize", "org/cls", "hi", "--ids", "--offline"])
    assert res.exit_code == 0 and res.stderr == ""
