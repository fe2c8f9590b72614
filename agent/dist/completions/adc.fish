# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_adc_global_optspecs
    string join \n h/help V/version
end

function __fish_adc_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_adc_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_adc_using_subcommand
    set -l cmd (__fish_adc_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c adc -n "__fish_adc_needs_command" -s h -l help -d 'Print help'
complete -c adc -n "__fish_adc_needs_command" -s V -l version -d 'Print version'
complete -c adc -n "__fish_adc_needs_command" -f -a "run" -d 'Stay connected to the server and wait for commands (the default)'
complete -c adc -n "__fish_adc_needs_command" -f -a "imp" -d 'Import once: ask the server for a run, run it, print the summary, exit'
complete -c adc -n "__fish_adc_needs_command" -f -a "check" -d 'Check the configuration, the directory and the server, step by step'
complete -c adc -n "__fish_adc_needs_command" -f -a "version" -d 'Print the agent and protocol versions'
complete -c adc -n "__fish_adc_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c adc -n "__fish_adc_needs_command" -f -a "man" -d 'Write the manual pages into a folder'
complete -c adc -n "__fish_adc_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c adc -n "__fish_adc_using_subcommand run" -s h -l help -d 'Print help'
complete -c adc -n "__fish_adc_using_subcommand imp" -l dry-run -d 'Plan only: report every change, apply none'
complete -c adc -n "__fish_adc_using_subcommand imp" -l full -d 'Re-send every user, whatever the server holds'
complete -c adc -n "__fish_adc_using_subcommand imp" -s h -l help -d 'Print help'
complete -c adc -n "__fish_adc_using_subcommand check" -l auth-user -d 'Also check pass-through authentication for this user; the password is asked for on the terminal (or read from standard input), never on the command line' -r
complete -c adc -n "__fish_adc_using_subcommand check" -s h -l help -d 'Print help'
complete -c adc -n "__fish_adc_using_subcommand version" -s h -l help -d 'Print help'
complete -c adc -n "__fish_adc_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c adc -n "__fish_adc_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c adc -n "__fish_adc_using_subcommand help; and not __fish_seen_subcommand_from run imp check version completions man help" -f -a "run" -d 'Stay connected to the server and wait for commands (the default)'
complete -c adc -n "__fish_adc_using_subcommand help; and not __fish_seen_subcommand_from run imp check version completions man help" -f -a "imp" -d 'Import once: ask the server for a run, run it, print the summary, exit'
complete -c adc -n "__fish_adc_using_subcommand help; and not __fish_seen_subcommand_from run imp check version completions man help" -f -a "check" -d 'Check the configuration, the directory and the server, step by step'
complete -c adc -n "__fish_adc_using_subcommand help; and not __fish_seen_subcommand_from run imp check version completions man help" -f -a "version" -d 'Print the agent and protocol versions'
complete -c adc -n "__fish_adc_using_subcommand help; and not __fish_seen_subcommand_from run imp check version completions man help" -f -a "completions" -d 'Print a shell completion script'
complete -c adc -n "__fish_adc_using_subcommand help; and not __fish_seen_subcommand_from run imp check version completions man help" -f -a "man" -d 'Write the manual pages into a folder'
complete -c adc -n "__fish_adc_using_subcommand help; and not __fish_seen_subcommand_from run imp check version completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
