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
    # Unbuffered: a line read here takes no more from the pipe, so communicate() later gets all the rest.
    return subprocess.Popen([str(AUTOCLI_SCRIPT), *map(str, args)], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, **kw)


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


def test_embed_streams_its_first_record_before_the_tenth_batch(minilm_dir):
    # 300 lines are under ten batches of 32; stdin stays open, so a command that waited for all of its
    # input (or for all batches) would print nothing.
    proc = _popen(["embed", minilm_dir, "-q", "--batch-size", "32"])
    try:
        proc.stdin.write(_lines(300).encode())
        proc.stdin.flush()
        assert json.loads(_readline(proc, 120))["index"] == 0
        out, _ = proc.communicate(_lines(4700).encode(), timeout=600)  # writes the rest while reading
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert [json.loads(r)["index"] for r in out.decode().splitlines()] == list(range(1, 5000))


def test_no_input_at_all_is_a_usage_error_before_loading(script, tmp_path):
    # The folder holds no model: a command that loaded before reading its input would say so (exit 4).
    res = script(["embed", tmp_path], input=b"")
    assert res.exit_code == 2 and "no input" in res.stderr


def test_failures_are_named_on_stderr_and_stay_records(script, minilm_dir):
    res = script(["embed", minilm_dir, "ok", ""])
    assert res.exit_code == 7
    records = res.jsonl()
    assert "embedding" in records[0] and records[1]["error"]["message"] == "the text is empty"
    assert records[1]["error"]["hint"]
    assert res.stderr.splitlines()[0] == "error: input 1: the text is empty"


def test_dash_among_arguments_reads_stdin_in_its_place(script, minilm_dir):
    res = script(["tokenize", minilm_dir, "first", "-", "last", "--ids"], input="a\nb\n")
    assert res.exit_code == 0
    assert res.stdout.splitlines() == ["101 2034 102", "101 1037 102", "101 1038 102", "101 2197 102"]
