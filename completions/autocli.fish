function _autocli_completion;
    set -l response (env _AUTOCLI_COMPLETE=fish_complete COMP_WORDS=(commandline -cp) COMP_CWORD=(commandline -t) autocli);

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

complete --no-files --command autocli --arguments "(_autocli_completion)";
