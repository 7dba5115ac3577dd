# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Pester 5 tests of the win_* modules and of New-RemoteJobModule, the start they share: each module runs as Ansible
# runs it (arguments in $complex_args, one JSON result), with Ansible's real Ansible.Basic. They need
# REMOTE_JOBS_ANSIBLE_MODULE_UTILS (see TestSupport.ps1) and are skipped without it.
# Run on Windows: Invoke-Pester -Path tests/windows (see tests/windows/README.md).

BeforeDiscovery {
    $script:NoAnsibleBasic = -not $env:REMOTE_JOBS_ANSIBLE_MODULE_UTILS
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSupport.ps1')
    $script:utf8 = New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false
    $script:NativeProcess = [type]"$NativeNamespace.NativeProcess"

    function New-TestRoot {
        Join-Path $TestDrive ('root-{0}' -f [Guid]::NewGuid().ToString('N').Substring(0, 8))
    }

    function New-FinishedJob {
        # A finished job folder as a supervisor leaves it, written by hand.
        param ([string]$Root, [string]$Id, [string]$Name = $null, [string]$Stdout = '')
        $store = Open-RemoteJobStore -Path $Root
        Initialize-RemoteJobStore -Store $store
        $dir = Join-Path $store.Root $Id
        $null = New-Item -ItemType Directory -Path $dir
        $spec = @{ schema = 1; id = $Id; name = $Name; command = 'Write-Output x'; results = 'target' }
        Write-RemoteJobJson -Path (Join-Path $dir 'job.json') -InputObject $spec
        $stamp = Get-RemoteJobTimestamp
        $state = @{ state = 'completed'; reason = 'exit'; rc = 0; started = $stamp; finished = $stamp; supervisor_pid = $PID }
        Write-RemoteJobJson -Path (Join-Path $dir 'state.json') -InputObject $state
        Write-RemoteJobJson -Path (Join-Path $dir 'offsets.json') -InputObject @{ stdout = 0; stderr = 0 }
        [System.IO.File]::WriteAllBytes((Join-Path $dir 'stdout'), $utf8.GetBytes($Stdout))
        [System.IO.File]::WriteAllBytes((Join-Path $dir 'stderr'), [byte[]]@())
        $store
    }

    # The options of win_info, for modules written in a test.
    $script:ProbeSpec = @{
        options = @{
            has_more_data = @{ type = 'bool' }
            id = @{ type = 'list'; elements = 'str' }
            job_root = @{ type = 'str' }
            name = @{ type = 'list'; elements = 'str' }
            state = @{ type = 'list'; elements = 'str'; choices = @('running', 'completed', 'failed', 'stopped') }
        }
        supports_check_mode = $true
    }
}

Describe 'New-RemoteJobModule' -Skip:$NoAnsibleBasic {
    It 'creates the module with an empty result and opens the store without creating it' {
        $root = New-TestRoot
        $result = Invoke-TestModule -Arguments @{ job_root = $root } -Script {
            $context = New-RemoteJobModule -Arguments $args -Spec $ProbeSpec -Verb 'info'
            $module = $context.Module
            $module.Result.probe_root = $context.Store.Root
            $module.Result.probe_keys = @($context.Keys | Sort-Object)
            $module.Result.probe_jobs = $context.Jobs.Count
            $module.ExitJson()
        }
        $ModuleRun.ExitCode | Should -Be 0
        $result.changed | Should -BeFalse
        @($result.jobs).Count | Should -Be 0
        $result.probe_root | Should -Be $root
        $result.probe_keys -join ',' | Should -Be 'Declarations,Expired,Jobs,Module,Params,Store'
        $result.probe_jobs | Should -Be 0
        $result.ContainsKey('expired') | Should -BeFalse
        Test-Path -LiteralPath $root | Should -BeFalse
    }

    It 'fails a bad argument with its own message, as POSIX does' {
        $result = Invoke-TestModule -Name 'win_receive' -Arguments @{ id = @('a'); keep = $true; auto_remove = $true; job_root = (New-TestRoot) }
        $ModuleRun.ExitCode | Should -Be 1
        $result.failed | Should -BeTrue
        $result.msg | Should -BeLike 'keep and auto_remove contradict each other:*'
    }

    It 'refuses a job id that is a path before building a path' {
        $result = Invoke-TestModule -Name 'win_info' -Arguments @{ id = @('..\..\Windows'); job_root = (New-TestRoot) }
        $result.failed | Should -BeTrue
        $result.msg | Should -BeLike 'invalid job id*'
    }

    It 'says the selection failed when a job is missing' {
        $root = New-TestRoot
        $null = New-FinishedJob -Root $root -Id 'there'
        $result = Invoke-TestModule -Name 'win_wait' -Arguments @{ id = @('there', 'missing'); job_root = $root }
        $result.failed | Should -BeTrue
        $result.msg | Should -BeLike 'selecting the jobs failed: no job with id missing in*'
    }

    It 'says the selection failed when the job root is a file' {
        $root = New-TestRoot
        Set-Content -LiteralPath $root -Value 'not a folder'
        $result = Invoke-TestModule -Name 'win_info' -Arguments @{ job_root = $root }
        $result.failed | Should -BeTrue
        $result.msg | Should -BeLike 'selecting the jobs failed: job root * is not a folder*'
    }

    It 'removes jobs whose retention passed and reports them, but not in check mode' {
        $root = New-TestRoot
        $store = New-FinishedJob -Root $root -Id 'old'
        Add-RemoteJobExpiry -Root $store.Root -Id 'old' -Retention 0
        $checked = Invoke-TestModule -Name 'win_info' -Arguments @{ job_root = $root } -CheckMode
        $checked.ContainsKey('expired') | Should -BeFalse
        @($checked.jobs).Count | Should -Be 1
        $result = Invoke-TestModule -Name 'win_info' -Arguments @{ job_root = $root }
        @($result.expired) -join ',' | Should -Be 'old'
        @($result.jobs).Count | Should -Be 0
        Test-Path -LiteralPath (Join-Path $store.Root 'old') | Should -BeFalse
    }

    It 'selects for info by wildcard name and state' {
        $root = New-TestRoot
        $null = New-FinishedJob -Root $root -Id 'b1' -Name 'backup-a'
        $null = New-FinishedJob -Root $root -Id 'b2' -Name 'backup-b'
        $null = New-FinishedJob -Root $root -Id 'c1' -Name 'clean'
        $result = Invoke-TestModule -Name 'win_info' -Arguments @{ job_root = $root; name = @('BACKUP-*'); state = @('completed') }
        (@($result.jobs) | ForEach-Object { $_.id }) -join ',' | Should -Be 'b1,b2'
        $result.ContainsKey('id') | Should -BeFalse
        $one = Invoke-TestModule -Name 'win_info' -Arguments @{ job_root = $root; id = @('c1') }
        $one.id | Should -Be 'c1'
        $one.name | Should -Be 'clean'
        $one.ContainsKey('results') | Should -BeFalse
        $one.jobs[0].results | Should -Be 'target'
    }

    It 'hands win_job its checked declarations, and fails bad ones with the POSIX message' {
        $root = New-TestRoot
        $result = Invoke-TestModule -Name 'win_job' -Arguments @{
            job_root = $root; jobs = @(@{ name = 'a'; state = 'absent' }, @{ name = 'A'; state = 'absent' })
        }
        $result.failed | Should -BeTrue
        $result.msg | Should -Be 'jobs[1]: the name A is declared twice: each name may appear once in jobs'
    }
}

Describe 'The win_* modules, end to end' -Skip:$NoAnsibleBasic {
    BeforeAll {
        $script:root = New-TestRoot

        function Wait-TestJob {
            param ([string[]]$Id)
            $result = Invoke-TestModule -Name 'win_wait' -Arguments @{ job_root = $root; id = $Id; timeout = 120 }
            $result.timed_out | Should -BeFalse
            $result
        }
    }

    It 'starts nothing in check mode' {
        $result = Invoke-TestModule -Name 'win_start' -Arguments @{ job_root = $root; command = 'Write-Output hi' } -CheckMode
        $result.changed | Should -BeTrue
        $result.msg | Should -Be 'would start 1 job(s)'
        Test-Path -LiteralPath $root | Should -BeFalse
    }

    It 'starts a job, waits for it and receives its output once' {
        $started = Invoke-TestModule -Name 'win_start' -Arguments @{
            job_root = $root; id = 'hello'; name = 'hello'; command = "Write-Output 'line 1'; Write-Output 'line 2'"
        }
        $started.changed | Should -BeTrue
        $started.id | Should -Be 'hello'
        $started.pid | Should -BeGreaterThan 0
        $waited = Wait-TestJob -Id 'hello'
        $waited.state | Should -Be 'completed'
        $waited.rc | Should -Be 0
        $waited.has_more_data | Should -BeTrue

        $kept = Invoke-TestModule -Name 'win_receive' -Arguments @{ job_root = $root; id = @('hello'); keep = $true }
        $kept.changed | Should -BeFalse
        @($kept.stdout_lines) -join '|' | Should -Be 'line 1|line 2'
        $kept.received_elsewhere | Should -BeFalse
        $received = Invoke-TestModule -Name 'win_receive' -Arguments @{ job_root = $root; id = @('hello') }
        $received.changed | Should -BeTrue
        @($received.stdout_lines) -join '|' | Should -Be 'line 1|line 2'
        $received.has_more_data | Should -BeFalse
        $again = Invoke-TestModule -Name 'win_receive' -Arguments @{ job_root = $root; id = @('hello') }
        $again.changed | Should -BeFalse
        $again.stdout | Should -Be ''
    }

    It 'starts several jobs in one call, argv without a shell' {
        $result = Invoke-TestModule -Name 'win_start' -Arguments @{
            job_root = $root
            jobs = @(
                @{ id = 'echo'; name = 'argv'; argv = @('cmd.exe', '/c', 'echo', 'hi') }
                @{ id = 'exit'; name = 'argv'; argv = @('cmd.exe', '/c', 'exit', '5') }
            )
        }
        @($result.jobs).Count | Should -Be 2
        $received = Invoke-TestModule -Name 'win_receive' -Arguments @{ job_root = $root; name = @('argv'); wait = $true; timeout = 120 }
        $received.timed_out | Should -BeFalse
        $echo = @($received.jobs) | Where-Object { $_.id -eq 'echo' }
        $exit = @($received.jobs) | Where-Object { $_.id -eq 'exit' }
        $echo.stdout.Trim() | Should -Be 'hi'
        $exit.state | Should -Be 'failed'
        $exit.rc | Should -Be 5
    }

    It 'refuses executable with argv on the target too' {
        $result = Invoke-TestModule -Name 'win_start' -Arguments @{ job_root = $root; argv = @('cmd.exe'); executable = 'pwsh.exe' }
        $result.failed | Should -BeTrue
        $result.msg | Should -BeLike 'executable is the PowerShell that runs command*'
    }

    It 'stops a running job once, and removes it only with force' {
        $null = Invoke-TestModule -Name 'win_start' -Arguments @{ job_root = $root; id = 'sleeper'; command = 'Start-Sleep -Seconds 300' }
        $checked = Invoke-TestModule -Name 'win_stop' -Arguments @{ job_root = $root; id = @('sleeper') } -CheckMode
        $checked.changed | Should -BeTrue
        $checked.state | Should -Be 'running'
        $refused = Invoke-TestModule -Name 'win_remove' -Arguments @{ job_root = $root; id = @('sleeper') }
        $refused.failed | Should -BeTrue
        $refused.msg | Should -BeLike 'refusing to remove running job(s) sleeper:*'
        $stopped = Invoke-TestModule -Name 'win_stop' -Arguments @{ job_root = $root; id = @('sleeper') }
        $stopped.changed | Should -BeTrue
        $stopped.state | Should -Be 'stopped'
        $stopped.reason | Should -Be 'stop'
        (Invoke-TestModule -Name 'win_stop' -Arguments @{ job_root = $root; id = @('sleeper') }).changed | Should -BeFalse

        $null = Invoke-TestModule -Name 'win_start' -Arguments @{ job_root = $root; id = 'sleeper-2'; command = 'Start-Sleep -Seconds 300' }
        $forced = Invoke-TestModule -Name 'win_remove' -Arguments @{ job_root = $root; id = @('sleeper-2'); force = $true }
        $forced.changed | Should -BeTrue
        $forced.removed | Should -BeTrue
        $removed = Invoke-TestModule -Name 'win_remove' -Arguments @{ job_root = $root; id = @('sleeper') }
        $removed.removed | Should -BeTrue
        (Invoke-TestModule -Name 'win_remove' -Arguments @{ job_root = $root; id = @('sleeper') }).changed | Should -BeFalse
    }

    It 'waits with fail_on_timeout and fails with the POSIX message' {
        $null = Invoke-TestModule -Name 'win_start' -Arguments @{ job_root = $root; id = 'slow'; command = 'Start-Sleep -Seconds 300' }
        $result = Invoke-TestModule -Name 'win_wait' -Arguments @{ job_root = $root; id = @('slow'); timeout = 1; fail_on_timeout = $true }
        $result.failed | Should -BeTrue
        $result.timed_out | Should -BeTrue
        $result.msg | Should -BeLike '1 of 1 job(s) still running after 1 seconds: slow'
        $null = Invoke-TestModule -Name 'win_remove' -Arguments @{ job_root = $root; id = @('slow'); force = $true }
    }

    It 'declares a job: check mode, then started, then unchanged, then absent' {
        $declaration = @{ job_root = $root; name = 'declared'; command = 'Start-Sleep -Seconds 300'; state = 'started' }
        $checked = Invoke-TestModule -Name 'win_job' -Arguments $declaration -CheckMode
        $checked.changed | Should -BeTrue
        $checked.action | Should -Be 'started'
        @($checked.jobs).Count | Should -Be 0
        $started = Invoke-TestModule -Name 'win_job' -Arguments $declaration
        $started.changed | Should -BeTrue
        $started.action | Should -Be 'started'
        $started.state | Should -Be 'running'
        $again = Invoke-TestModule -Name 'win_job' -Arguments $declaration
        $again.changed | Should -BeFalse
        $again.action | Should -Be 'none'
        $again.id | Should -Be $started.id
        $absent = Invoke-TestModule -Name 'win_job' -Arguments @{ job_root = $root; name = 'declared'; state = 'absent' } -DiffMode
        $absent.changed | Should -BeTrue
        $absent.action | Should -Be 'removed'
        $absent.diff.after.state | Should -Be 'absent'
        (Invoke-TestModule -Name 'win_job' -Arguments @{ job_root = $root; name = 'declared'; state = 'absent' }).changed | Should -BeFalse
    }

    It 'declares a finished job and returns its output, kept' {
        $declaration = @{ job_root = $root; name = 'finished'; command = 'Write-Output done'; state = 'finished'; wait_timeout = 120 }
        $first = Invoke-TestModule -Name 'win_job' -Arguments $declaration
        $first.changed | Should -BeTrue
        $first.state | Should -Be 'completed'
        $first.stdout.Trim() | Should -Be 'done'
        $first.ContainsKey('removed') | Should -BeFalse
        $second = Invoke-TestModule -Name 'win_job' -Arguments $declaration
        $second.changed | Should -BeFalse
        $second.stdout.Trim() | Should -Be 'done'
        $second.ContainsKey('expired') | Should -BeFalse
    }

    It 'runs command with the executable given' -Skip:(-not (Get-Command -Name pwsh.exe -ErrorAction SilentlyContinue)) {
        $declaration = @{
            job_root = $root; name = 'edition'; command = 'Write-Output $PSVersionTable.PSEdition'; executable = 'pwsh.exe'
            state = 'finished'; wait_timeout = 120
        }
        $result = Invoke-TestModule -Name 'win_job' -Arguments $declaration
        $result.state | Should -Be 'completed'
        $result.stdout.Trim() | Should -Be 'Core'
    }
}
