# bash completion for carbonio-mesh. Each TAB asks carbonio-mesh itself what fits the words typed
# so far (`carbonio-mesh __complete bash WORD...`, a hidden entry point, bounded in time, which
# never prompts): commands, options, their values, node names and hostnames from the live
# cluster, run IDs from this host.
_carbonio_mesh() {
    local line=${COMP_LINE:0:COMP_POINT} reply
    local -a words answer
    read -ra words <<<"$line"
    [[ -z $line || $line == *[[:space:]] ]] && words+=("")
    mapfile -t answer < <("${words[0]}" __complete bash "${words[@]}" 2>/dev/null)
    COMPREPLY=()
    case ${answer[0]} in
        files)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "${COMP_WORDS[COMP_CWORD]}")
            ;;
        dirs)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -d -- "${COMP_WORDS[COMP_CWORD]}")
            ;;
        words)
            # bash replaces only what follows the word's last `=` or `:` (COMP_WORDBREAKS).
            local current=${words[${#words[@]} - 1]}
            local kept=${current%"${current##*[=:]}"}
            for reply in "${answer[@]:1}"; do
                reply=${reply%%$'\t'*}
                COMPREPLY+=("${reply#"$kept"}")
            done
            ;;
    esac
}
complete -o nosort -F _carbonio_mesh carbonio-mesh
