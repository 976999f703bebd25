"""The CLI as a whole: help, version, exit codes at the boundary, completions, the torch-free fast path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, assert_one_line_error


def test_help_lists_commands_and_exit_codes(cli):
    res = cli(["--help"])
    assert res.exit_code == 0
    for name in ("inspect", "tokenize", "completion"):
        assert name in res.stdout
    assert "Exit codes" in res.stdout


def test_version(cli):
    from autocli import __version__

    res = cli(["--version"])
    assert res.exit_code == 0 and __version__ in res.stdout


def test_unknown_command_is_a_usage_error(cli):
    assert_one_line_error(cli(["no-such-command"]), 2)


def test_unknown_option_is_a_usage_error(cli):
    res = cli(["inspect", "x", "--no-such-option"])
    assert_one_line_error(res, 2)
    assert "--help" in res.stderr


def test_no_arguments_shows_help_as_usage_error(cli):
    res = cli([])
    assert res.exit_code == 2 and "Usage" in res.stderr


def test_internal_errors_are_one_line_unless_debug(cli, monkeypatch):
    import autocli.cli.completion as completion

    def boom(shell):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(completion, "script", boom)
    res = cli(["completion", "bash"])
    assert_one_line_error(res, 1)
    assert "kaboom" in res.stderr and "AUTOCLI_DEBUG=1" in res.stderr
    with pytest.raises(RuntimeError):
        cli(["completion", "bash"], env={"AUTOCLI_DEBUG": "1"})


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_current(cli, shell):
    res = cli(["completion", shell])
    assert res.exit_code == 0
    committed = (ROOT / "completions" / f"autocli.{shell}").read_text()
    assert res.stdout == committed, f"completions/autocli.{shell} is stale: run `make completions`"


def test_completion_answers_with_subcommands():
    env = {"_AUTOCLI_COMPLETE": "bash_complete", "COMP_WORDS": "autocli to", "COMP_CWORD": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", "from autocli.cli import main; main()"],
        env=env, capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert "tokenize" in out.stdout


def _modules_after(args: list[str]) -> str:
    code = (
        "import sys\n"
        "from autocli.cli import run\n"
        f"code = run({args!r})\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', code, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    return out.stderr.strip().splitlines()[-1]


def test_help_does_not_import_torch():
    assert _modules_after(["--help"]).startswith("NO-TORCH 0")
