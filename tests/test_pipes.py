"""The installed console script in real pipes: closed readers, Ctrl-C, piped default formats, streaming.

Each test runs `autocli` as a separate process on this tree's code (tests/conftest.py `script`), because
these behaviours only show with real file descriptors and signals.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tests.conftest import AUTOCLI_SCRIPT, ROOT


def _lines(n: int) -> str:
    return "".join(f"line number {i} of a long input\n" for i in range(n))


def test_tokenize_into_head_exits_0_and_says_nothing(script, minilm_dir, tmp_path):
    many = tmp_path / "many.txt"
    many.write_text(_lines(20000))
    res = script(["tokenize", minilm_dir, "--input", many, "--ids"], pipefail_head=1)
    assert res.exit_code == 0 and res.stderr == ""
    assert res.stdout.split() == ["101", "2240", "2193", "1014", "1997", "1037", "2146", "7953", "102"]


def test_inspect_tensors_into_head_exits_0_and_says_nothing(script, minilm_dir):
    for fmt in ("table", "json"):
        res = script(["inspect", minilm_dir, "--tensors", "--format", fmt], pipefail_head=1)
        assert res.exit_code == 0 and res.stderr == "", (fmt, res.stderr)
        assert len(res.stdout.splitlines()) == 1


def test_embed_into_head_exits_0_and_says_nothing(script, minilm_dir):
    res = script(["embed", minilm_dir, "-q"], input=_lines(600), pipefail_head=1)
    assert res.exit_code == 0 and res.stderr == ""
    assert json.loads(res.stdout)["index"] == 0


def _popen(args: list, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([str(AUTOCLI_SCRIPT), *map(str, args)], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _readline(proc: subprocess.Popen, timeout: float) -> bytes:
    """The process's next stdout line, failing (not hanging) when none comes within `timeout` seconds."""
    import select

    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"no output within {timeout} s"
    return proc.stdout.readline()


def test_ctrl_c_exits_130_and_says_interrupted(minilm_dir):
    proc = _popen(["embed", minilm_dir, "-q"])
    try:
        proc.stdin.write(_lines(300).encode())  # one window: the first record proves the model runs
        proc.stdin.flush()
        assert json.loads(_readline(proc, 120))["index"] == 0
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err.decode().strip().splitlines()[-1] == "interrupted"
    assert "Traceback" not in err.decode()


def test_did_you_mean_is_said_once(script):
    res = script(["inspet", "x"])
    assert res.exit_code == 2 and res.stderr.count("Did you mean 'inspect'?") == 1


def test_help_shows_whole_summaries(script):
    import autocli.cli as cli

    res = script(["--help"])
    assert res.exit_code == 0
    flat = " ".join(res.stdout.replace("-\n", "-").split()).replace("- ", "-")  # help wraps after hyphens
    for cmd in cli.app.registered_commands:
        summary = " ".join(cmd.callback.__doc__.strip().splitlines()[0].split()).replace("- ", "-")
        assert summary in flat, summary


def test_piped_default_is_the_machine_form(script, minilm_dir):
    tok = script(["tokenize", minilm_dir, "hi", "there"])
    assert tok.exit_code == 0 and [r["ids"] for r in tok.jsonl()] == [[101, 7632, 102], [101, 2045, 102]]
    emb = script(["embed", minilm_dir, "hi"])
    assert emb.exit_code == 0 and len(emb.jsonl()[0]["embedding"]) == 384
    doc = script(["inspect", minilm_dir])
    assert doc.exit_code == 0 and doc.json()["schema"].startswith("autocli.inspect/")
    compat = script(["compat", minilm_dir])
    assert compat.exit_code == 0 and compat.json()["schema"].startswith("autocli.compat/")


def test_format_table_still_forces_a_table(script, minilm_dir):
    res = script(["tokenize", minilm_dir, "hi", "--format", "table"])
    assert res.exit_code == 0 and "[CLS]" in res.stdout and not res.stdout.startswith("{")
    ids = script(["tokenize", minilm_dir, "hi", "--ids"])  # plain lines in a pipe too
    assert ids.stdout == "101 7632 102\n"
