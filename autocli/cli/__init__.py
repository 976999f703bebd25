"""The Typer app and main(): the one error boundary of autocli.

Command modules import only typer and the options here at import time; torch and the
model code are imported inside the command functions, so `--help` stays fast.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys

import click
import typer

from autocli import __version__, errors

EXIT_CODES_HELP = (
    "Exit codes: 0 ok · 1 internal error · 2 usage · 3 checkpoint not reachable · "
    "4 invalid or unsafe checkpoint · 5 unsupported · 6 a CI condition failed (compat --require, diff gates, --expect) · "
    "7 some batch inputs failed"
)

INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT (128 + 2)

app = typer.Typer(
    name="autocli",
    help="Load, inspect and run Hugging Face-format checkpoints.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Click's plain help: typer's rich help imports rich.markdown, rich.traceback, ... (~0.09 s of a 0.2 s --help).
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"autocli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Load, inspect and run Hugging Face-format checkpoints."""


# One line per command; each module holds one subcommand.
from autocli.cli import inspect as _inspect  # noqa: E402
from autocli.cli import tokenize as _tokenize  # noqa: E402
from autocli.cli import completion as _completion  # noqa: E402
from autocli.cli import compat as _compat  # noqa: E402
from autocli.cli import classify as _classify  # noqa: E402
from autocli.cli import tag as _tag  # noqa: E402
from autocli.cli import qa as _qa  # noqa: E402
from autocli.cli import fill_mask as _fill_mask  # noqa: E402
from autocli.cli import embed as _embed  # noqa: E402
from autocli.cli import choose as _choose  # noqa: E402
from autocli.cli import generate as _generate  # noqa: E402
from autocli.cli import download as _download  # noqa: E402
from autocli.cli import env as _env  # noqa: E402
from autocli.cli import preprocess as _preprocess  # noqa: E402
from autocli.cli import diff as _diff  # noqa: E402
from autocli.cli import eval as _eval  # noqa: E402
from autocli.cli import transcribe as _transcribe  # noqa: E402
from autocli.cli import similar as _similar  # noqa: E402


def _register(name: str, module) -> None:
    """One subcommand: its function (named <module>_cmd), epilog, and its docstring's first line as the
    summary in `autocli --help`, whole (click would cut it at 45 characters)."""
    fn = getattr(module, f"{module.__name__.rsplit('.', 1)[-1].lstrip('_')}_cmd")
    summary = (fn.__doc__ or "").strip().splitlines()[0]
    app.command(name, epilog=module.EPILOG, short_help=summary)(fn)


for _name, _module in (
    ("inspect", _inspect), ("tokenize", _tokenize), ("preprocess", _preprocess), ("completion", _completion), ("compat", _compat),
    ("classify", _classify), ("tag", _tag), ("qa", _qa), ("fill-mask", _fill_mask), ("embed", _embed),
    ("choose", _choose), ("generate", _generate), ("download", _download), ("env", _env),
    ("diff", _diff), ("eval", _eval),
    ("transcribe", _transcribe),
    ("similar", _similar),
):
    _register(_name, _module)


def _fail(message: str, hint: str | None, code: int) -> int:
    err = sys.stderr
    print(f"error: {message}", file=err)
    if hint:
        print(f"hint: {hint}", file=err)
    return code


def _asks_remote_code(argv: list[str]) -> bool:
    """`--trust-remote-code`, the flag transformers users type, on any command: answered with the policy."""
    for arg in map(str, argv):
        if arg == "--":
            return False
        if arg.replace("_", "-").split("=", 1)[0] == "--trust-remote-code":
            return True
    return False


# Typer appends its own "Did you mean" to click's: the same sentence twice.
_REPEATED = re.compile(r"(\s*Did you mean [^?]*\?)\1+")


def _invoke(command, argv: list[str] | None):
    """Parse and run one command line with click's public API (make_context + invoke): typer's main()
    would turn a closed pipe into exit 1 and Ctrl-C into a silent 130 before autocli saw them."""
    args = sys.argv[1:] if argv is None else list(argv)
    with command.make_context("autocli", args) as ctx:
        rv = command.invoke(ctx)
    sys.stdout.flush()  # a closed pipe shows here, inside the boundary, not at interpreter exit
    return rv


def _silence_stdout() -> None:
    """The reader left: whatever is still buffered for stdout goes nowhere, quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code; every known failure becomes one line + hint."""
    debug = os.environ.get("AUTOCLI_DEBUG", "") not in ("", "0")
    command = typer.main.get_command(app)
    instruction = os.environ.get("_AUTOCLI_COMPLETE")
    if instruction:
        # The shell asks for candidates. Click's own protocol (`bash_complete`), the one the scripts of
        # `autocli completion` speak: typer would read the instruction the other way round.
        from click.shell_completion import shell_complete

        return shell_complete(command, {}, "autocli", "_AUTOCLI_COMPLETE", instruction)
    if _asks_remote_code(sys.argv[1:] if argv is None else argv):
        from autocli.config import REMOTE_CODE_HINT, TRUST_REMOTE_CODE_POLICY

        return _fail(TRUST_REMOTE_CODE_POLICY, REMOTE_CODE_HINT, errors.INVALID_CHECKPOINT)
    try:
        rv = _invoke(command, argv)
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as e:  # --help, --version
        return e.exit_code
    except errors.AutocliError as e:
        if debug:
            import traceback

            traceback.print_exc()
        return _fail(e.message, e.hint, e.exit_code)
    except click.exceptions.NoArgsIsHelpError as e:
        # `autocli` or `autocli CMD` with nothing to do: show the help, as a usage error.
        # Typer's rich help prints itself to stdout; the help is not data here, so it goes to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            text = e.ctx.get_help()
        if text:
            print(text, file=sys.stderr)
        return errors.USAGE
    except click.UsageError as e:
        cmd = e.ctx.command_path if e.ctx else "autocli"
        return _fail(_REPEATED.sub(r"\1", e.format_message()), f"see `{cmd} --help`", errors.USAGE)
    except click.ClickException as e:
        return _fail(e.format_message(), None, e.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        print("interrupted", file=sys.stderr, flush=True)
        return INTERRUPTED
    except BrokenPipeError:
        # `autocli ... | head`: the reader left; that is not an error (coreutils exit 0 too under pipefail).
        _silence_stdout()
        return errors.OK
    except Exception as e:  # the one place that catches everything
        if debug:
            raise
        return _fail(
            f"internal error: {type(e).__name__}: {e}",
            "this is a bug in autocli; rerun with AUTOCLI_DEBUG=1 for the traceback and report it",
            errors.INTERNAL,
        )


def main() -> None:
    sys.exit(run())
