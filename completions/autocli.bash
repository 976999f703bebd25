_autocli_completion() {
    local IFS=$'\n'
    local response type value
    local cur="${COMP_WORDS[COMP_CWORD]}"

    response=$(env COMP_WORDS="${COMP_WORDS[*]}" COMP_CWORD=$COMP_CWORD _AUTOCLI_COMPLETE=bash_complete $1)
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

_autocli_completion_setup() {
    complete -o nosort -F _autocli_completion autocli
}

_autocli_completion_setup;
