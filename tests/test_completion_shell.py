"""Shell completion through a real bash process: the committed script, the click protocol, this tree's code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BASH_SCRIPT = ROOT / "completions" / "autocli.bash"


def complete(words: list[str], cwd: Path) -> list[str]:
    """COMPREPLY after Tab on the last word of `words`, as bash's programmable completion calls the function."""
    array = " ".join(f"'{w}'" for w in words)
    code = f"source {BASH_SCRIPT}; COMP_WORDS=({array}); COMP_CWORD={len(words) - 1}; _autocli_completion autocli; " \
           'printf "%s\\n" "${COMPREPLY[@]}"'
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    out = subprocess.run(["bash", "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return sorted(line for line in out.stdout.splitlines() if line)


pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "ckpt-a").mkdir()
    (tmp_path / "ckpt-b").mkdir()
    (tmp_path / "inputs.txt").write_text("hello\n")
    return tmp_path


def test_checkpoint_folders_complete_as_paths(tree):
    assert complete(["autocli", "inspect", "./ck"], tree) == ["./ckpt-a", "./ckpt-b"]
    assert complete(["autocli", "compat", "ckpt-b", "ck"], tree) == ["ckpt-a", "ckpt-b"]


def test_input_files_complete_as_paths(tree):
    assert complete(["autocli", "tokenize", "ckpt-a", "--input", "in"], tree) == ["inputs.txt"]


def test_subcommands_and_options_still_complete(tree):
    assert complete(["autocli", "ta"], tree) == ["tag"]
    assert "--require" in complete(["autocli", "compat", "ckpt-a", "--re"], tree)


def test_compat_task_values_complete(tree):
    assert complete(["autocli", "compat", "ckpt-a", "--task", "token"], tree) == ["token-classification"]
    assert "AutoModelForTokenClassification" in complete(["autocli", "compat", "ckpt-a", "--require", "AutoModelFor"], tree)
    offered = complete(["autocli", "compat", "ckpt-a", "--task", ""], tree)
    assert "ner" in offered and "question-answering" in offered and "AutoModelForPreTraining" not in offered
