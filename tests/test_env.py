"""`autocli env`: versions, devices, CPU features, Hub settings; never a token's value."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

from autocli import __version__
from autocli.environment import cpu_info, folder_bytes, without_secret
from tests.conftest import ROOT

SECRET = "hf_ThisIsNotARealToken0123456789"


def test_json_report(script, tmp_path):
    cache = tmp_path / "cache"
    (cache / "models--a--b" / "blobs").mkdir(parents=True)
    (cache / "models--a--b" / "blobs" / "x").write_bytes(b"\0" * 1000)
    res = script(["env", "--format", "json"], env={"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1",
                                                  "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert res.exit_code == 0 and res.stderr == "", res.stderr
    data = res.json()
    assert data["schema"] == "autocli.env/1"
    assert data["autocli"] == __version__
    assert data["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    for name in ("torch", "tokenizers", "huggingface_hub", "safetensors"):
        assert data["packages"][name] == metadata.version(name)
    import torch

    assert data["torch"]["version"] == torch.__version__ and data["torch"]["threads"] >= 1
    assert data["torch"]["cuda"]["available"] == torch.cuda.is_available()
    assert data["hub"] == {"endpoint": "http://127.0.0.1:9", "cache": str(cache), "cache_bytes": 1000, "offline": True,
                           "token_set": False, "token_source": None}
    assert data["environment"]["HF_HUB_OFFLINE"] == "1"
    assert isinstance(data["cpu"]["features"], list) and data["cpu"]["logical_cores"] >= 1


def test_piped_default_is_json_and_a_table_on_request(script):
    assert script(["env", "--no-torch"]).json()["torch"] is None
    res = script(["env", "--no-torch", "--format", "table"])
    assert res.exit_code == 0 and "hub token" in res.stdout and "not set" in res.stdout


def test_a_token_is_reported_never_shown(script, tmp_path):
    endpoint = f"https://user:{SECRET}@hub.example"
    for env in ({"HF_TOKEN": SECRET}, {"HUGGING_FACE_HUB_TOKEN": SECRET}, {"HF_ENDPOINT": endpoint}):
        for fmt in ("json", "table"):
            res = script(["env", "--no-torch", "--format", fmt], env=env)
            assert res.exit_code == 0 and SECRET not in res.stdout + res.stderr
    data = script(["env", "--no-torch"], env={"HF_TOKEN": SECRET}).json()
    assert data["hub"]["token_set"] and data["hub"]["token_source"] == "HF_TOKEN"
    (tmp_path / "token").write_text(SECRET)
    res = script(["env", "--no-torch"], env={"HF_HOME": str(tmp_path)})
    assert res.json()["hub"]["token_source"] == "token file" and SECRET not in res.stdout


def test_no_torch_does_not_import_torch():
    code = ("import sys\nfrom autocli.cli import run\nrc = run(['env', '--no-torch', '--json'])\n"
            "assert 'torch' not in sys.modules, 'torch imported'\nsys.exit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["torch"] is None


def test_cpu_flags():
    info = cpu_info("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse4_2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n")
    assert info["model"] == "Some CPU"
    assert info["features"] == ["sse4_2", "avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"]
    arm = cpu_info("processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n")
    assert arm["features"] == ["asimd", "sve", "bf16", "i8mm"]


def test_helpers(tmp_path):
    assert without_secret("https://u:p@h.example:8080/x") == "https://h.example:8080/x"
    assert without_secret("https://huggingface.co") == "https://huggingface.co"
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / "b").write_bytes(b"x" * 10)
    (tmp_path / "link").symlink_to(tmp_path / "blobs" / "b")  # the HF cache's snapshots: counted once
    assert folder_bytes(tmp_path) == 10
