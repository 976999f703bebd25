"""`autocli completion SHELL`: the shell completion script, generated from the app itself."""

from __future__ import annotations

from enum import Enum

import typer

EPILOG = (
    "Examples:\n\n"
    "  autocli completion bash > ~/.local/share/bash-completion/completions/autocli\n\n"
    "  autocli completion zsh > \"${fpath[1]}/_autocli\"\n\n"
    "  autocli completion fish > ~/.config/fish/completions/autocli.fish"
)


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def script(shell: str) -> str:
    """The completion script for SHELL; it asks `autocli` for candidates at completion time."""
    from click.shell_completion import get_completion_class

    from autocli.cli import app

    command = typer.main.get_command(app)
    return get_completion_class(shell)(command, {}, "autocli", "_AUTOCLI_COMPLETE").source()


def completion_cmd(shell: Shell = typer.Argument(..., help="bash, zsh or fish.")) -> None:
    """Print the shell completion script for SHELL."""
    typer.echo(script(shell.value), nl=False)
