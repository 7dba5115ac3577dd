# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Pester 5 tests of plugins/module_utils/_JobNative.cs: argument escaping, process start times, job objects.
# Run on Windows: Invoke-Pester -Path tests/windows (see tests/windows/README.md).

BeforeAll {
    # Compiles _JobNative.cs (as Ansible does when its module utils are at hand) and imports _JobStore.psm1.
    . (Join-Path $PSScriptRoot 'TestSupport.ps1')
    $native = 'ansible_collections.remote.jobs.plugins.module_utils._JobNative'
    $script:CommandLine = [type]"$native.CommandLine"
    $script:NativeProcess = [type]"$native.NativeProcess"

    function Start-TestCommand {
        # The command in a job object of its own, with this process as its parent (the supervisor's place).
        param ([string]$CommandLine, [string]$JobName)
        $out = Join-Path $TestDrive ('{0}.out' -f $JobName)
        $err = Join-Path $TestDrive ('{0}.err' -f $JobName)
        $environment = [Environment]::GetEnvironmentVariables()
        $me = $NativeProcess::GetProcessStartTime($PID)
        $NativeProcess::StartJobProcess($PID, $me, $null, $CommandLine, $TestDrive, $environment, $out, $err, $false, $JobName)
    }
}

Describe 'CommandLine.Join' {
    It 'quotes <Name>' -ForEach @(
        @{ Name = 'nothing when nothing needs it'; Argv = @('prog.exe', 'a', 'b-c', 'd\e'); Expected = 'prog.exe a b-c d\e' }
        @{ Name = 'an argument with a space'; Argv = @('prog.exe', 'a b'); Expected = 'prog.exe "a b"' }
        @{ Name = 'an empty argument'; Argv = @('prog.exe', ''); Expected = 'prog.exe ""' }
        @{ Name = 'an embedded quote'; Argv = @('prog.exe', 'a"b'); Expected = 'prog.exe "a\"b"' }
        @{ Name = 'backslashes before a quote'; Argv = @('prog.exe', 'a\\"b'); Expected = 'prog.exe "a\\\\\"b"' }
        @{ Name = 'a trailing backslash in a quoted argument'; Argv = @('prog.exe', 'C:\my dir\'); Expected = 'prog.exe "C:\my dir\\"' }
        @{ Name = 'a trailing backslash without quotes'; Argv = @('prog.exe', 'C:\dir\'); Expected = 'prog.exe C:\dir\' }
        @{ Name = 'a program path with a space'; Argv = @('C:\Program Files\x.exe', 'y'); Expected = '"C:\Program Files\x.exe" y' }
    ) {
        $CommandLine::Join([string[]]$Argv) | Should -BeExactly $Expected
    }

    It 'round-trips <Name> through CommandLineToArgvW' -ForEach @(
        @{ Name = 'plain words'; Argv = @('prog.exe', 'one', 'two') }
        @{ Name = 'spaces and tabs'; Argv = @('prog.exe', 'a b', "c`td", ' lead', 'trail ') }
        @{ Name = 'quotes'; Argv = @('prog.exe', '"', '""', 'a"b"c', '"quoted"') }
        @{ Name = 'backslashes'; Argv = @('prog.exe', '\', '\\', 'a\', 'a\\', '\"', '\\"', 'a b\', 'a b\\') }
        @{ Name = 'empty arguments'; Argv = @('prog.exe', '', 'x', '') }
        @{ Name = 'a newline'; Argv = @('prog.exe', "line1`nline2") }
        # Built from code points: Windows PowerShell reads a .ps1 without a BOM as ANSI.
        @{ Name = 'non-ASCII text'; Argv = @('prog.exe', ('gr{0}{1}e' -f [char]0xFC, [char]0xDF), ('{0}{1} {2}' -f [char]0x65E5, [char]0x672C, [char]0x8A9E)) }
        @{ Name = 'a program path with spaces'; Argv = @('C:\Program Files\App\app.exe', '--flag', 'value with space') }
    ) {
        $back = $CommandLine::Split($CommandLine::Join([string[]]$Argv))
        $back.Count | Should -Be $Argv.Count
        for ($i = 0; $i -lt $Argv.Count; $i++) {
            $back[$i] | Should -BeExactly $Argv[$i]
        }
    }

    It 'refuses an empty argv' {
        { $CommandLine::Join([string[]]@()) } | Should -Throw '*argv must name a program*'
    }

    It 'refuses a program name with a double quote' {
        { $CommandLine::Join([string[]]@('a"b.exe')) } | Should -Throw '*cannot contain a double quote*'
    }
}

Describe 'NativeProcess start times' {
    It 'knows the start time of this process' {
        $start = $NativeProcess::GetProcessStartTime($PID)
        $start | Should -Not -BeNullOrEmpty
        $NativeProcess::IsProcessAlive($PID, $start) | Should -BeTrue
        $NativeProcess::IsProcessAlive($PID, $null) | Should -BeTrue
    }

    It 'tells a reused pid by its start time' {
        $NativeProcess::IsProcessAlive($PID, '1') | Should -BeFalse
    }

    It 'reports an exited process as gone' {
        $process = Start-Process -FilePath cmd.exe -ArgumentList '/c', 'exit 0' -PassThru -WindowStyle Hidden
        $process.WaitForExit()
        $NativeProcess::GetProcessStartTime($process.Id) | Should -BeNullOrEmpty
        $NativeProcess::IsProcessAlive($process.Id, $null) | Should -BeFalse
        $NativeProcess::IsProcessAlive(0, $null) | Should -BeFalse
    }

    It 'terminates a process only when its start time matches' {
        $process = Start-Process -FilePath ping.exe -ArgumentList '-n', '60', '127.0.0.1' -PassThru -WindowStyle Hidden
        try {
            $start = $NativeProcess::GetProcessStartTime($process.Id)
            $NativeProcess::TerminateProcess($process.Id, '1', 1) | Should -BeFalse
            $process.HasExited | Should -BeFalse
            $NativeProcess::TerminateProcess($process.Id, $start, 1) | Should -BeTrue
            $process.WaitForExit(10000) | Should -BeTrue
        }
        finally {
            if (-not $process.HasExited) {
                $process.Kill()
            }
        }
    }

    It 'answers whether this process may break away from its job' {
        $NativeProcess::CanBreakaway() | Should -BeOfType [bool]
    }
}

Describe 'NativeProcess.StartJobProcess' {
    It 'runs a command with stdout and stderr appended to files' {
        $name = 'remote.jobs.test.{0}' -f [Guid]::NewGuid().ToString('N')
        $job = Start-TestCommand -CommandLine 'cmd.exe /c "echo out& echo err 1>&2& exit 7"' -JobName $name
        $jobHandle = New-Object -TypeName Microsoft.Win32.SafeHandles.SafeWaitHandle -ArgumentList ([IntPtr]$job.JobHandleInSupervisor), $true
        try {
            $process = [System.Diagnostics.Process]::GetProcessById($job.ProcessId)
            $null = $process.Handle
            $job.StartTime | Should -Be ($NativeProcess::GetProcessStartTime($job.ProcessId))
            $job.Resume()
            $process.WaitForExit(30000) | Should -BeTrue
            $process.ExitCode | Should -Be 7
            (Get-Content -LiteralPath (Join-Path $TestDrive "$name.out") -Raw).Trim() | Should -Be 'out'
            (Get-Content -LiteralPath (Join-Path $TestDrive "$name.err") -Raw).Trim() | Should -Be 'err'
        }
        finally {
            $job.Dispose()
            $jobHandle.Dispose()
        }
    }

    It 'ends the whole job when its job object is terminated by name' {
        $name = 'remote.jobs.test.{0}' -f [Guid]::NewGuid().ToString('N')
        $job = Start-TestCommand -CommandLine 'cmd.exe /c "ping -n 60 127.0.0.1 >nul"' -JobName $name
        $jobHandle = New-Object -TypeName Microsoft.Win32.SafeHandles.SafeWaitHandle -ArgumentList ([IntPtr]$job.JobHandleInSupervisor), $true
        try {
            $process = [System.Diagnostics.Process]::GetProcessById($job.ProcessId)
            $null = $process.Handle
            $job.Resume()
            Start-Sleep -Milliseconds 500
            $NativeProcess::TerminateJob($name, 1) | Should -BeTrue
            $process.WaitForExit(10000) | Should -BeTrue
            $process.ExitCode | Should -Be 1
            Get-CimInstance -ClassName Win32_Process -Filter "ParentProcessId = $($job.ProcessId)" | Should -BeNullOrEmpty
        }
        finally {
            $job.Dispose()
            $jobHandle.Dispose()
        }
        $NativeProcess::TerminateJob($name, 1) | Should -BeFalse
    }

    It 'ends the job when the last handle to its job object closes (the supervisor timeout)' {
        $name = 'remote.jobs.test.{0}' -f [Guid]::NewGuid().ToString('N')
        $job = Start-TestCommand -CommandLine 'ping.exe -n 60 127.0.0.1' -JobName $name
        $jobHandle = New-Object -TypeName Microsoft.Win32.SafeHandles.SafeWaitHandle -ArgumentList ([IntPtr]$job.JobHandleInSupervisor), $true
        try {
            $process = [System.Diagnostics.Process]::GetProcessById($job.ProcessId)
            $null = $process.Handle
            $job.Resume()
            Start-Sleep -Milliseconds 500
            $process.HasExited | Should -BeFalse
            $jobHandle.Dispose()
            $process.WaitForExit(10000) | Should -BeTrue
        }
        finally {
            $job.Dispose()
        }
    }

    It 'reports a program that does not exist with the system message' {
        $name = 'remote.jobs.test.{0}' -f [Guid]::NewGuid().ToString('N')
        $failure = { Start-TestCommand -CommandLine 'C:\no\such\program.exe' -JobName $name }
        $failure | Should -Throw '*cannot find*'
    }
}
