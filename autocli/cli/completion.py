"""`autocli completion SHELL`: the shell completion script, generated from the app itself.

The scripts speak click's completion protocol (the shell asks `autocli` for candidates). Where autocli has
none to offer (a checkpoint folder, an --input file: both are free text to autocli), they complete paths
as the shell would for any command, instead of offering nothing.
"""

from __future__ import annotations

from enum import Enum

import typer

EPILOG = (
    "Examples:\n\n"
    "  autocli completion bash > ~/.local/share/bash-completion/completions/autocli\n\n"
    "  autocli completion zsh > \"${fpath[1]}/_autocli\"\n\n"
    "  autocli completion fish > ~/.config/fish/completions/autocli.fish"
)

BASH = """\
%(complete_func)s() {
    local IFS=$'\\n'
    local response type value
    local cur="${COMP_WORDS[COMP_CWORD]}"

    response=$(env COMP_WORDS="${COMP_WORDS[*]}" COMP_CWORD=$COMP_CWORD %(complete_var)s=bash_complete $1)
    COMPREPLY=()
    for completion in $response; do
        IFS=',' read type value <<< "$completion"
        if [[ $type == 'plain' ]]; then
            COMPREPLY+=($value)
        elif [[ $type == 'dir' ]]; then
            compopt -o filenames 2>/dev/null
            COMPREPLY+=($(compgen -d -- "$cur"))
        elif [[ $type == 'file' ]]; then
            compopt -o filenames 2>/dev/null
            COMPREPLY+=($(compgen -f -- "$cur"))
        fi
    done
    # nothing to offer from autocli (a checkpoint folder, an input file): paths, as for any command
    if [[ -z $response ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
    return 0
}

%(complete_func)s_setup() {
    complete -o nosort -F %(complete_func)s %(prog_name)s
}

%(complete_func)s_setup;
"""

ZSH = """\
#compdef %(prog_name)s

%(complete_func)s() {
    local -a completions
    local -a completions_with_descriptions
    local -a response
    (( ! $+commands[%(prog_name)s] )) && return 1

    response=("${(@f)$(env COMP_WORDS="${words[*]}" COMP_CWORD=$((CURRENT-1)) \
%(complete_var)s=zsh_complete %(prog_name)s)}")

    # nothing to offer from autocli (a checkpoint folder, an input file): paths, as for any command
    if [[ -z "${response[*]}" ]]; then
        _files
        return
    fi

    for type key descr in ${response}; do
        if [[ "$type" == "plain" ]]; then
            if [[ "$descr" == "_" ]]; then
                completions+=("$key")
            else
                completions_with_descriptions+=("$key":"$descr")
            fi
        elif [[ "$type" == "dir" ]]; then
            _path_files -/
        elif [[ "$type" == "file" ]]; then
            _path_files -f
        fi
    done

    if [ -n "$completions_with_descriptions" ]; then
        _describe -V unsorted completions_with_descriptions -U
    fi

    if [ -n "$completions" ]; then
        compadd -U -V unsorted -a completions
    fi
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    # autoload from fpath, call function directly
    %(complete_func)s "$@"
else
    # eval/source/. command, register function for later
    compdef %(complete_func)s %(prog_name)s
fi
"""

FISH = """\
function %(complete_func)s;
    set -l response (env %(complete_var)s=fish_complete COMP_WORDS=(commandline -cp) \
COMP_CWORD=(commandline -t) %(prog_name)s);

    # nothing to offer from autocli (a checkpoint folder, an input file): paths, as for any command
    if test (count $response) -eq 0;
        __fish_complete_path (commandline -ct);
        return;
    end;

    for completion in $response;
        set -l metadata (string split "," $completion);

        if test $metadata[1] = "dir";
            __fish_complete_directories $metadata[2];
        else if test $metadata[1] = "file";
            __fish_complete_path $metadata[2];
        else if test $metadata[1] = "plain";
            echo $metadata[2];
        end;
    end;
end;

complete --no-files --command %(prog_name)s --arguments "(%(complete_func)s)";
"""


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def _classes() -> dict:
    from click.shell_completion import BashComplete, FishComplete, ZshComplete

    return {
        "bash": type("Bash", (BashComplete,), {"source_template": BASH}),
        "zsh": type("Zsh", (ZshComplete,), {"source_template": ZSH}),
        "fish": type("Fish", (FishComplete,), {"source_template": FISH}),
    }


def script(shell: str) -> str:
    """The completion script for SHELL; it asks `autocli` for candidates at completion time."""
    from autocli.cli import app

    command = typer.main.get_command(app)
    return _classes()[shell](command, {}, "autocli", "_AUTOCLI_COMPLETE").source()


def completion_cmd(shell: Shell = typer.Argument(..., help="bash, zsh or fish.")) -> None:
    """Print the shell completion script for SHELL."""
    typer.echo(script(shell.value), nl=False)
