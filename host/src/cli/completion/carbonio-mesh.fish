# fish completion for carbonio-mesh. Each TAB asks carbonio-mesh itself what fits the words typed
# so far (`carbonio-mesh __complete fish WORD...`, a hidden entry point, bounded in time, which
# never prompts): commands, options, their values, node names and hostnames from the live
# cluster, run IDs from this host.
function __carbonio_mesh_complete
    set -l words (commandline -opc) (commandline -ct)
    set -l answer ($words[1] __complete fish $words 2>/dev/null)
    set -l kind $answer[1]
    set -e answer[1]
    switch "$kind"
        case files
            __fish_complete_path (commandline -ct)
        case dirs
            __fish_complete_directories (commandline -ct)
        case words
            printf '%s\n' $answer
    end
end
complete -c carbonio-mesh -f -a '(__carbonio_mesh_complete)'
