"""Output plumbing shared by every command: --format/--json for download and env, tables keyed by result
type, the logits' shape in the tables, -q/-v on the report commands, one "no limit" rule, qa's window
checked before loading, and one progress bar per run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading

import pytest

from tests.conftest import AUTOCLI_SCRIPT, ROOT, assert_one_line_error
from tests.fx_hub import closed_port_url, point_hub_at
from tests.fx_models import build_checkpoint


# ---- download and env: the shared --format rule, tables registered by type ----------------------------


def test_env_and_download_follow_the_shared_format_rule(script, cli, minilm_dir):
    piped = script(["env", "--no-torch"])  # auto in a pipe: one JSON document
    assert piped.exit_code == 0 and json.loads(piped.stdout)["schema"] == "autocli.env/1"
    table = cli(["env", "--no-torch", "--format", "table"])
    assert table.exit_code == 0 and "hub endpoint" in table.stdout and "{" not in table.stdout
    line = cli(["env", "--no-torch", "-f", "jsonl"])  # jsonl is accepted like everywhere else: one line
    assert line.exit_code == 0 and len(line.stdout.splitlines()) == 1 and json.loads(line.stdout)["schema"] == "autocli.env/1"

    down = script(["download", minilm_dir, "--no-weights", "-q"])
    assert down.exit_code == 0 and json.loads(down.stdout)["schema"] == "autocli.download/1" and down.stderr == ""
    table = cli(["download", minilm_dir, "--no-weights", "-q", "--format", "table"])
    assert table.exit_code == 0 and "config.json" in table.stdout and "files" in table.stdout
    bad = cli(["download", minilm_dir, "--format", "yaml"])
    assert bad.exit_code == 2


def test_every_report_type_has_a_table_keyed_by_its_type():
    from autocli import render, reports, results

    for kind in (reports.InspectResult, reports.CompatReport, reports.DownloadResult, reports.EnvReport,
                 results.Classification, results.Tagged, results.Answered, results.Filled, results.Embedding,
                 results.Chosen, results.Tokenized):
        assert kind in render.TABLES, kind
    assert all(isinstance(key, type) for key in render.TABLES)  # never a name


# ---- --logits: the shape in the table -------------------------------------------------------------------


def _logits_cell(stdout: str) -> list[str]:
    return re.findall(r"\(\d+(?:, \d+)*,?\)", stdout)


@pytest.mark.parametrize("task, cmd, args, shape", [
    ("sequence-classification", "classify", ["Hello world!"], "(3,)"),
    ("token-classification", "tag", ["Hello world!", "--ignore-labels", ""], None),  # (T, 3)
    ("question-answering", "qa", ["--question", "Where?", "--context", "In Paris."], None),  # (1, T, 2)
    ("masked-lm", "fill-mask", ["Hello [MASK]!"], None),  # (V,)
    ("multiple-choice", "choose", ["--question", "Look:", "--choice", "A cat.", "--choice", "A dog."], "(1,)"),
])
def test_logits_shape_in_the_table(cli, tiny_checkpoints, task, cmd, args, shape):
    folder = tiny_checkpoints["bert", task]
    plain = cli([cmd, folder, *args, "--format", "table"])
    res = cli([cmd, folder, *args, "--logits", "--format", "table"])
    assert res.exit_code == 0, res.stderr
    assert "logits" in res.stdout and "logits" not in plain.stdout
    data = cli([cmd, folder, *args, "--logits", "--format", "jsonl"]).jsonl()[0]
    raw = (data.get("logits") or data.get("masks", [{}])[0].get("logits") or data["scores"][0]["logits"])
    want = shape or _shape(raw)
    assert want in _logits_cell(res.stdout), (want, res.stdout)


def _shape(value) -> str:
    dims = []
    while isinstance(value, list):
        dims.append(len(value))
        value = value[0]
    return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"


def test_shape_of_ragged_windows():
    from autocli.render import shape_of

    assert shape_of([0.1, 0.2, 0.3]) == "(3,)"
    assert shape_of([[0.0, 1.0]] * 4) == "(4, 2)"
    assert shape_of([[[0.0, 1.0]] * 5, [[0.0, 1.0]] * 3]) == "[(5, 2), (3, 2)]"


# ---- -q and -v on the report commands -------------------------------------------------------------------


def test_inspect_compat_download_say_what_they_read_with_v(cli, minilm_dir):
    where = f"the folder {minilm_dir.resolve()}"
    for args in (["inspect", minilm_dir], ["compat", minilm_dir], ["download", minilm_dir, "--no-weights", "-q"],
                 ["tokenize", minilm_dir, "hi"], ["embed", minilm_dir, "hi"]):
        quiet = cli([*args, "--json"])
        loud = cli([*args, "--json", "-v"])
        assert loud.exit_code == quiet.exit_code == 0, loud.stderr
        assert loud.stdout == quiet.stdout  # -v never touches the data
        assert where in loud.stderr and re.search(r" in \d+\.\d\d s$", loud.stderr.strip()), (args, loud.stderr)
        assert quiet.stderr == ""


def test_env_v_says_how_long_it_took(cli):
    res = cli(["env", "--no-torch", "--json", "-v"])
    assert res.exit_code == 0 and re.fullmatch(r"gathered the report in \d+\.\d\d s\n", res.stderr)


@pytest.fixture
def cached_repo(cli, hub, tiny_root):
    """org/cls on the Hub stand-in, read once online, then the stand-in stops."""
    hub.add_repo("org/cls", build_checkpoint(tiny_root, "bert", "sequence-classification"))
    for args in (["inspect", "org/cls", "--json"], ["compat", "org/cls", "--json"],
                 ["classify", "org/cls", "hi", "--format", "jsonl"], ["tokenize", "org/cls", "hi", "--ids"],
                 ["download", "org/cls", "-q"]):
        assert cli(args).exit_code == 0
    hub.stop()


def test_quiet_silences_the_cache_fallback_warning(cli, cached_repo, monkeypatch):
    point_hub_at(monkeypatch, closed_port_url())
    for args in (["inspect", "org/cls", "--json"], ["compat", "org/cls", "--json"],
                 ["classify", "org/cls", "hi", "--format", "jsonl"], ["tokenize", "org/cls", "hi", "--ids"],
                 ["download", "org/cls", "--no-weights"]):
        loud = cli(args)
        assert loud.exit_code == 0 and loud.stderr.startswith("warning: cannot reach"), (args, loud.stderr)
        res = cli([*args, "-q"])
        assert res.exit_code == 0 and res.stderr == "", (args, res.stderr)
        assert res.stdout == loud.stdout


def test_verbose_names_the_cache_when_it_stands_in(cli, cached_repo, monkeypatch):
    point_hub_at(monkeypatch, closed_port_url())
    res = cli(["inspect", "org/cls", "--json", "-q", "-v"])
    assert res.exit_code == 0 and "the Hugging Face cache (commit " in res.stderr and "offline" in res.stderr
    assert not res.stderr.startswith("warning")


# ---- one "no limit" rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value, want", [(512, 512), (512.0, 512), (int(1e30), None), (1e30, None), (10**12, None),
                                         (float("nan"), None), (float("inf"), None), (0, None), (-3, None),
                                         (True, None), ("512", None), (None, None)])
def test_model_max_length_rule(value, want):
    from autocli.tokenizer import max_length_of

    assert max_length_of(value) == want


def test_inspect_compat_and_the_tokenizer_agree_on_no_limit(cli, minilm_dir, tmp_path):
    folder = tmp_path / "ck"
    shutil.copytree(minilm_dir, folder)
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    cfg["model_max_length"] = 1000000000000000019884624838656  # transformers' int(1e30)
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg))
    from autocli.tokenizer import load_tokenizer_from_dir

    assert load_tokenizer_from_dir(folder).model_max_length is None
    assert cli(["inspect", folder, "--json"]).json()["tokenizer"]["model_max_length"] is None
    findings = cli(["compat", folder, "--json"]).json()["checkpoints"][0]["findings"]
    assert not [f for f in findings if f["name"] == "max-length"]
    cfg["model_max_length"] = 100000  # over the 512 positions: the lint sees it
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg))
    findings = cli(["compat", folder, "--json"]).json()["checkpoints"][0]["findings"]
    assert [f for f in findings if f["name"] == "max-length"]


# ---- qa's window is checked before loading --------------------------------------------------------------


def test_qa_window_too_short_is_a_usage_error_before_loading(script, tiny_checkpoints):
    folder = tiny_checkpoints["bert", "base"]  # no QA head: loading the model would refuse it
    loading = script(["qa", folder, "--question", "Where?", "--context", "In Paris.", "--max-length", "64"])
    assert loading.exit_code not in (0, 2) and "head" in loading.stderr
    res = script(["qa", folder, "--question", "Where?", "--context", "In Paris.", "--max-length", "3"])
    assert_one_line_error(res, 2)
    assert "--max-length 3 leaves no room for text" in res.stderr and "text pair" in res.stderr


# ---- one progress bar per run ---------------------------------------------------------------------------


def test_one_progress_bar_for_a_streamed_run(minilm_dir):
    """stderr on a terminal, stdout in a pipe: the bar counts the whole run (windows of 16 inputs here),
    and no record ever goes to stderr."""
    import pty

    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    proc = subprocess.Popen([str(AUTOCLI_SCRIPT), "embed", str(minilm_dir), "--batch-size", "2"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # the process closed its end
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    out, _ = proc.communicate("".join(f"sentence number {i}\n" for i in range(40)).encode(), timeout=300)
    reader.join(timeout=10)
    os.close(master)
    err = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, err
    assert [json.loads(line)["index"] for line in out.decode().splitlines()] == list(range(40))
    assert "embedding" not in err and "{" not in err
    counts = {(int(a), int(b)) for a, b in re.findall(r"(\d+)/(\d+)", err)}
    assert counts and max(total for _, total in counts) == 40, err  # one bar whose total grew to every input
    assert all(total in (16, 32, 40) for _, total in counts), counts  # never restarted at a window's size


# ---- chat templates: the sandbox's range() limit is a refusal like the others ------------------------------


def test_chat_template_huge_range_is_refused_as_unsafe():
    from autocli.errors import InvalidCheckpoint
    from autocli.tokenizer import render_template

    with pytest.raises(InvalidCheckpoint, match="unsafe") as info:
        render_template("{% for i in range(10**9) %}x{% endfor %}", messages=[])
    assert info.value.exit_code == 4
