
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'adc' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'adc'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'adc' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Stay connected to the server and wait for commands (the default)')
            [CompletionResult]::new('imp', 'imp', [CompletionResultType]::ParameterValue, 'Import once: ask the server for a run, run it, print the summary, exit')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check the configuration, the directory and the server, step by step')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the agent and protocol versions')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Write the manual pages into a folder')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'adc;run' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'adc;imp' {
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Plan only: report every change, apply none')
            [CompletionResult]::new('--full', '--full', [CompletionResultType]::ParameterName, 'Re-send every user, whatever the server holds')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'adc;check' {
            [CompletionResult]::new('--auth-user', '--auth-user', [CompletionResultType]::ParameterName, 'Also check pass-through authentication for this user; the password is asked for on the terminal (or read from standard input), never on the command line')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'adc;version' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'adc;completions' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'adc;man' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'adc;help' {
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Stay connected to the server and wait for commands (the default)')
            [CompletionResult]::new('imp', 'imp', [CompletionResultType]::ParameterValue, 'Import once: ask the server for a run, run it, print the summary, exit')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check the configuration, the directory and the server, step by step')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the agent and protocol versions')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Write the manual pages into a folder')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'adc;help;run' {
            break
        }
        'adc;help;imp' {
            break
        }
        'adc;help;check' {
            break
        }
        'adc;help;version' {
            break
        }
        'adc;help;completions' {
            break
        }
        'adc;help;man' {
            break
        }
        'adc;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
