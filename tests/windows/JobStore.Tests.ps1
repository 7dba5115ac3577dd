# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Pester 5 tests of plugins/module_utils/_JobStore.psm1: the functions on hand-made job folders, then whole jobs
# with real supervisors. Run on Windows: Invoke-Pester -Path tests/windows (see tests/windows/README.md).

BeforeAll {
    # Compiles _JobNative.cs (as Ansible does when its module utils are at hand) and imports _JobStore.psm1.
    . (Join-Path $PSScriptRoot 'TestSupport.ps1')
    $native = 'ansible_collections.remote.jobs.plugins.module_utils._JobNative'
    $script:NativeProcess = [type]"$native.NativeProcess"
    $script:utf8 = New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false

    function New-TestStore {
        $store = Open-RemoteJobStore -Path (Join-Path $TestDrive ('root-{0}' -f [Guid]::NewGuid().ToString('N').Substring(0, 8)))
        Initialize-RemoteJobStore -Store $store
        $store
    }

    function New-TestJob {
        # A job folder as a supervisor leaves it, written by hand. A running job's supervisor is this process.
        param (
            [Parameter(Mandatory = $true)][hashtable]$Store,
            [Parameter(Mandatory = $true)][string]$Id,
            [object]$Name = $null,
            [string]$State = 'completed',
            [string]$Stdout = '',
            [byte[]]$StdoutBytes = $null,
            [string]$Finished = (Get-RemoteJobTimestamp),
            [string]$Results = 'target',
            [object]$Argv = $null
        )
        $dir = Join-Path $Store.Root $Id
        $null = New-Item -ItemType Directory -Path $dir
        $spec = @{ schema = 1; id = $Id; name = $Name; command = 'Write-Output x'; results = $Results; location = 'test' }
        if ($Argv) {
            $spec.command = $null
            $spec.argv = $Argv
        }
        Write-RemoteJobJson -Path (Join-Path $dir 'job.json') -InputObject $spec
        $st = @{
            state = $State; reason = 'exit'; rc = 0; started = Get-RemoteJobTimestamp; finished = $Finished
            supervisor_pid = $PID; supervisor_start_time = $NativeProcess::GetProcessStartTime($PID)
        }
        if ($State -eq 'running') {
            $st.reason = $null
            $st.rc = $null
            $st.finished = $null
        }
        Write-RemoteJobJson -Path (Join-Path $dir 'state.json') -InputObject $st
        Write-RemoteJobJson -Path (Join-Path $dir 'offsets.json') -InputObject @{ stdout = 0; stderr = 0 }
        if ($null -eq $StdoutBytes) {
            $StdoutBytes = $utf8.GetBytes($Stdout)
        }
        [System.IO.File]::WriteAllBytes((Join-Path $dir 'stdout'), $StdoutBytes)
        [System.IO.File]::WriteAllBytes((Join-Path $dir 'stderr'), [byte[]]@())
        Get-RemoteJob -Store $Store -Id $Id
    }

    function Get-Text {
        param ([byte[]]$Bytes)
        $utf8.GetString($Bytes)
    }
}

Describe 'Assert-RemoteJobId' {
    It 'accepts <Id>' -ForEach @(
        @{ Id = 'a' }
        @{ Id = '20261124T193400-a1b2c3' }
        @{ Id = 'A.b_c-1' }
        @{ Id = 'x' * 64 }
    ) {
        Assert-RemoteJobId -Id $Id | Should -BeExactly $Id
    }

    It 'refuses <Label> before any path is built' -ForEach @(
        @{ Label = 'an empty id'; Id = '' }
        @{ Label = 'a leading dot'; Id = '.hidden' }
        @{ Label = 'a leading dash'; Id = '-x' }
        @{ Label = 'a slash'; Id = 'a/b' }
        @{ Label = 'a backslash'; Id = 'a\b' }
        @{ Label = 'a parent folder'; Id = '..' }
        @{ Label = 'a drive'; Id = 'C:' }
        @{ Label = 'a trailing newline'; Id = "abc`n" }
        @{ Label = '65 characters'; Id = 'x' * 65 }
    ) {
        { Assert-RemoteJobId -Id $Id } | Should -Throw '*invalid job id*a job id is 1-64 characters*starting with a letter or digit'
    }
}

Describe 'ConvertTo-RemoteJobDuration' {
    It 'reads <Value> as <Seconds> seconds' -ForEach @(
        @{ Value = 90; Seconds = 90 }
        @{ Value = '90'; Seconds = 90 }
        @{ Value = '90s'; Seconds = 90 }
        @{ Value = ' 15m '; Seconds = 900 }
        @{ Value = '1.5h'; Seconds = 5400 }
        @{ Value = '7d'; Seconds = 604800 }
        @{ Value = '2w'; Seconds = 1209600 }
    ) {
        ConvertTo-RemoteJobDuration -Value $Value | Should -Be $Seconds
    }

    It 'refuses <Value>' -ForEach @(
        @{ Value = 'soon' }
        @{ Value = '7x' }
        @{ Value = '7D' }
        @{ Value = $true }
    ) {
        { ConvertTo-RemoteJobDuration -Value $Value } | Should -Throw '*older_than: expected a duration such as 90*'
    }

    It 'refuses a negative number' {
        { ConvertTo-RemoteJobDuration -Value -5 } | Should -Throw '*older_than must not be negative*'
    }
}

Describe 'Assert-RemoteJobArgument' {
    It 'refuses <Label>' -ForEach @(
        @{ Label = 'keep with auto_remove'; Verb = 'receive'; Params = @{ id = @('a'); keep = $true; auto_remove = $true }; Message = '*contradict*' }
        @{ Label = 'command with argv'; Verb = 'start'; Params = @{ command = 'x'; argv = @('y') }; Message = '*mutually exclusive*' }
        @{ Label = 'no command'; Verb = 'start'; Params = @{ name = 'x' }; Message = '*one of command or argv is required*' }
        @{ Label = 'an empty argv'; Verb = 'start'; Params = @{ argv = @() }; Message = '*argv must name a program*' }
        @{
            Label = 'executable with argv'; Verb = 'start'; Message = '*executable is the PowerShell that runs command*'
            Params = @{ argv = @('x.exe'); executable = 'pwsh.exe' }
        }
        @{
            Label = 'a bad retention before output_path, as POSIX checks them'; Verb = 'start'; Message = '*retention: expected a duration*'
            Params = @{ command = 'x'; retention = 'later'; output_path = 'C:\x.log'; results = 'controller' }
        }
        @{ Label = 'a blank command'; Verb = 'start'; Params = @{ command = '  ' }; Message = '*command is empty*' }
        @{ Label = 'a zero timeout'; Verb = 'start'; Params = @{ command = 'x'; timeout = 0 }; Message = '*timeout must be a positive number*' }
        @{
            Label = 'output_path with controller results'; Verb = 'start'; Message = '*needs results: target*'
            Params = @{ command = 'x'; output_path = 'C:\x.log'; results = 'controller' }
        }
        @{ Label = 'a bad retention'; Verb = 'start'; Params = @{ command = 'x'; retention = 'later' }; Message = '*retention: expected a duration*' }
        @{ Label = 'jobs with command'; Verb = 'start'; Params = @{ command = 'x'; jobs = @(@{ command = 'y' }) }; Message = '*not both*' }
        @{ Label = 'a bad id in jobs'; Verb = 'start'; Params = @{ jobs = @(@{ id = '../x'; command = 'y' }) }; Message = '*invalid job id*' }
        @{ Label = 'a negative grace'; Verb = 'stop'; Params = @{ id = @('a'); grace = -1 }; Message = '*grace must not be negative*' }
        @{
            Label = 'an id twice in jobs'; Verb = 'start'; Message = '*appears more than once in jobs*'
            Params = @{ jobs = @(@{ id = 'twice'; command = 'y' }, @{ id = 'twice'; command = 'z' }) }
        }
        @{ Label = 'an empty argv[0]'; Verb = 'start'; Params = @{ argv = @('') }; Message = '*argv`[0`] is empty*' }
        @{ Label = 'a NUL byte in command'; Verb = 'start'; Params = @{ command = "a`0b" }; Message = '*command contains a NUL byte*' }
        @{ Label = 'a NUL byte in argv'; Verb = 'start'; Params = @{ argv = @('x.exe', "a`0") }; Message = '*argv`[1`] contains a NUL byte*' }
        @{ Label = 'an env name with ='; Verb = 'start'; Params = @{ command = 'x'; env = @{ 'A=B' = 'x' } }; Message = '*is not a variable name*' }
        @{ Label = 'an env entry without a value'; Verb = 'start'; Params = @{ command = 'x'; env = @{ EMPTY = $null } }; Message = '*env.EMPTY has no value*' }
        @{
            Label = 'a NUL byte in an env value, without showing it'; Verb = 'start'; Message = '*the value of env.TOKEN contains a NUL byte*'
            Params = @{ command = 'x'; env = @{ TOKEN = "se`0cret" } }
        }
    ) {
        { Assert-RemoteJobArgument -Params $Params -Verb $Verb } | Should -Throw $Message
    }

    It 'accepts a good start' {
        { Assert-RemoteJobArgument -Params @{ command = 'Get-Date'; timeout = 5; retention = '1d' } -Verb 'start' } | Should -Not -Throw
    }
}

Describe 'Small helpers' {
    It 'describes the job a check-mode start would start, with the id it would get' {
        $store = @{ Root = 'C:\jobs'; Location = 'WIN1' }
        $view = Get-RemoteJobWouldStart -Store $store -Spec @{ name = 'build'; command = 'Get-Date' }
        $view.id | Should -Match '^\d{8}T\d{6}-[0-9a-f]{6}$'
        $view.state | Should -Be 'running'
        $view.results | Should -Be 'target'
        $view.stdout_path | Should -Be ('C:\jobs\{0}\stdout' -f $view.id)
        (Get-RemoteJobWouldStart -Store $store -Spec @{ id = 'mine'; argv = @('a.exe', 'b') }).command | Should -Be 'a.exe b'
    }

    It 'writes timestamps in the store format' {
        Get-RemoteJobTimestamp | Should -Match '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$'
        $time = New-Object -TypeName DateTime -ArgumentList 2026, 1, 2, 3, 4, 5, 6, ([DateTimeKind]::Utc)
        Get-RemoteJobTimestamp -Time $time | Should -BeExactly '2026-01-02T03:04:05.006Z'
    }

    It 'reads JSON as hashtables and arrays, dates as the strings they were' {
        $data = ConvertFrom-RemoteJobJson -Json '{"a": {"b": [1]}, "c": ["x"], "d": null, "e": "2026-01-02T03:04:05.006Z"}'
        $data | Should -BeOfType [hashtable]
        $data.a | Should -BeOfType [hashtable]
        $data.c -is [array] | Should -BeTrue
        $data.c.Count | Should -Be 1
        $data.a.b -is [array] | Should -BeTrue
        $data.ContainsKey('d') | Should -BeTrue
        $data.e | Should -BeOfType [string]
        $data.e | Should -BeExactly '2026-01-02T03:04:05.006Z'
    }

    It 'turns Ansible.Basic-like parameters into hashtables' {
        $list = New-Object -TypeName 'System.Collections.Generic.List[object]'
        $item = New-Object -TypeName 'System.Collections.Generic.Dictionary[string, object]'
        $item['name'] = 'x'
        $list.Add($item)
        $converted = ConvertTo-RemoteJobHashtable -InputObject @{ jobs = $list; id = $null }
        $converted.jobs -is [array] | Should -BeTrue
        $converted.jobs[0] | Should -BeOfType [hashtable]
        $converted.jobs[0].name | Should -Be 'x'
        $converted.ContainsKey('id') | Should -BeTrue
    }

    It 'gives the message of an error without "Exception calling"' {
        try {
            $null = [System.IO.File]::ReadAllText('C:\no\such\folder\file.txt')
        }
        catch {
            $record = $_
        }
        $record.Exception.Message | Should -BeLike 'Exception calling*'
        $message = Get-RemoteJobErrorMessage -ErrorRecord $record
        $message | Should -Not -BeLike 'Exception calling*'
        $message | Should -BeLike '*file.txt*'
    }

    It 'resolves <Path> like Windows and the user profile' -ForEach @(
        @{ Path = '~'; Expected = { $env:USERPROFILE } }
        @{ Path = '~\jobs'; Expected = { Join-Path $env:USERPROFILE 'jobs' } }
        @{ Path = 'relative\jobs'; Expected = { Join-Path $env:USERPROFILE 'relative\jobs' } }
        @{ Path = '%TEMP%\jobs'; Expected = { [System.IO.Path]::GetFullPath([Environment]::ExpandEnvironmentVariables('%TEMP%\jobs')) } }
        @{ Path = 'C:\a\..\b'; Expected = { 'C:\b' } }
    ) {
        Resolve-RemoteJobPath -Path $Path | Should -Be (& $Expected)
    }
}

Describe 'Get-RemoteJobDeclaration' {
    It 'declares one job from the top-level options, with the defaults of POSIX' {
        $params = @{ name = 'a'; command = 'x'; executable = 'pwsh.exe'; state = $null; recreate = $null; results = $null; jobs = $null }
        $items = Get-RemoteJobDeclaration -Params $params
        $items.Count | Should -Be 1
        $items[0].name | Should -Be 'a'
        $items[0].state | Should -Be 'started'
        $items[0].recreate | Should -BeFalse
        $items[0].results | Should -Be 'target'
        $items[0].executable | Should -Be 'pwsh.exe'
    }

    It 'lets items of jobs take state, recreate and results from the task' {
        $params = @{
            state = 'finished'; recreate = $true; results = 'controller'
            jobs = @(@{ name = 'a'; command = 'x' }, @{ name = 'b'; state = 'absent' })
        }
        $items = Get-RemoteJobDeclaration -Params $params
        ($items | ForEach-Object { $_.state }) -join ',' | Should -Be 'finished,absent'
        $items[0].recreate | Should -BeTrue
        $items[1].results | Should -Be 'controller'
    }

    It 'accepts stopped and absent without a definition' {
        { Get-RemoteJobDeclaration -Params @{ name = 'a'; state = 'absent' } } | Should -Not -Throw
        { Get-RemoteJobDeclaration -Params @{ jobs = @(@{ name = 'a'; state = 'stopped' }) } } | Should -Not -Throw
    }

    It 'refuses <Label>' -ForEach @(
        @{ Label = 'a negative wait_timeout'; Params = @{ name = 'a'; command = 'x'; wait_timeout = -1 }; Message = 'wait_timeout must not be negative*' }
        @{ Label = 'an item without a name'; Params = @{ jobs = @(@{ command = 'x' }) }; Message = '*a job needs a non-empty name*' }
        @{
            Label = 'a name twice, in another case'; Message = '*the name A is declared twice*'
            Params = @{ jobs = @(@{ name = 'a'; command = 'x' }, @{ name = 'A'; command = 'y' }) }
        }
        @{ Label = 'started without a definition'; Params = @{ name = 'a' }; Message = 'job a (state started): one of command or argv is required*' }
        @{
            Label = 'executable with argv'; Message = 'job a (state started): executable is the PowerShell*'
            Params = @{ name = 'a'; argv = @('x.exe'); executable = 'pwsh.exe' }
        }
    ) {
        { Get-RemoteJobDeclaration -Params $Params } | Should -Throw $Message
    }
}

Describe 'JSON files' {
    It 'round-trips nested data and leaves no temporary file' {
        $path = Join-Path $TestDrive 'data.json'
        Write-RemoteJobJson -Path $path -InputObject @{ a = 1; b = @('x'); c = @{ d = $null; e = $true } }
        Write-RemoteJobJson -Path $path -InputObject @{ a = 2; b = @('x', 'y'); c = @{ d = $null; e = $true } }
        $data = Read-RemoteJobJson -Path $path
        $data | Should -BeOfType [hashtable]
        $data.a | Should -Be 2
        @($data.b).Count | Should -Be 2
        $data.c.e | Should -BeTrue
        $data.c.ContainsKey('d') | Should -BeTrue
        @(Get-ChildItem -LiteralPath $TestDrive -Filter 'data.json*').Count | Should -Be 1
    }

    It 'reads <Label> as the default' -ForEach @(
        @{ Label = 'a missing file'; Content = $null }
        @{ Label = 'a corrupt file'; Content = '{"a": ' }
        @{ Label = 'an empty file'; Content = '' }
        @{ Label = 'a JSON array'; Content = '[1, 2]' }
    ) {
        $path = Join-Path $TestDrive ('{0}.json' -f [Guid]::NewGuid().ToString('N'))
        if ($null -ne $Content) {
            [System.IO.File]::WriteAllText($path, $Content)
        }
        (Read-RemoteJobJson -Path $path -Default @{ fallback = $true }).fallback | Should -BeTrue
    }
}

Describe 'Lock-RemoteJob' {
    It 'is exclusive until released' {
        $dir = Join-Path $TestDrive 'locked'
        $null = New-Item -ItemType Directory -Path $dir
        $first = Lock-RemoteJob -Path $dir
        try {
            { Lock-RemoteJob -Path $dir -Timeout 0.3 } | Should -Throw '*waiting for the lock*'
        }
        finally {
            $first.Dispose()
        }
        $second = Lock-RemoteJob -Path $dir -Timeout 5
        $second.Dispose()
    }
}

Describe 'Get-RemoteJobUtf8End' {
    It 'keeps <Label>' -ForEach @(
        @{ Label = 'nothing of nothing'; Bytes = [byte[]]@(); Expected = 0 }
        @{ Label = 'ASCII whole'; Bytes = [byte[]](0x61, 0x62, 0x63); Expected = 3 }
        @{ Label = 'a whole two-byte character'; Bytes = [byte[]](0x61, 0xC3, 0xA9); Expected = 3 }
        @{ Label = 'a lead byte back'; Bytes = [byte[]](0x61, 0xC3); Expected = 1 }
        @{ Label = 'two of three bytes back'; Bytes = [byte[]](0x61, 0xE2, 0x82); Expected = 1 }
        @{ Label = 'a whole three-byte character'; Bytes = [byte[]](0xE2, 0x82, 0xAC); Expected = 3 }
        @{ Label = 'three of four bytes back'; Bytes = [byte[]](0x61, 0xF0, 0x9F, 0x98); Expected = 1 }
        @{ Label = 'a whole four-byte character'; Bytes = [byte[]](0xF0, 0x9F, 0x98, 0x80); Expected = 4 }
    ) {
        Get-RemoteJobUtf8End -Data $Bytes | Should -Be $Expected
    }
}

Describe 'The job root' {
    It 'is created for this user only' {
        $store = New-TestStore
        Test-RemoteJobStore -Store $store | Should -BeTrue
        (Get-Acl -LiteralPath $store.Root).AreAccessRulesProtected | Should -BeTrue
    }

    It 'defaults to .ansible_jobs in the profile' {
        (Open-RemoteJobStore -Path $null).Root | Should -Be (Join-Path $env:USERPROFILE '.ansible_jobs')
        (Open-RemoteJobStore -Path '%USERPROFILE%\jobs').Root | Should -Be (Join-Path $env:USERPROFILE 'jobs')
        (Open-RemoteJobStore -Path '$env:USERPROFILE\jobs').Root | Should -Be (Join-Path $env:USERPROFILE 'jobs')
    }

    It 'lists nothing while it does not exist' {
        $store = Open-RemoteJobStore -Path (Join-Path $TestDrive 'missing')
        Test-RemoteJobStore -Store $store | Should -BeFalse
        @(Select-RemoteJob -Store $store).Count | Should -Be 0
        { Select-RemoteJob -Store $store -Id 'a' -Require } | Should -Throw '*no job with id a in*'
    }

    It 'is refused when others may write to it' {
        $store = New-TestStore
        $acl = Get-Acl -LiteralPath $store.Root
        $everyone = New-Object -TypeName System.Security.Principal.SecurityIdentifier -ArgumentList 'S-1-1-0'
        $acl.AddAccessRule((New-Object -TypeName System.Security.AccessControl.FileSystemAccessRule -ArgumentList $everyone, 'Modify', 'Allow'))
        Set-Acl -LiteralPath $store.Root -AclObject $acl
        { Test-RemoteJobStore -Store $store } | Should -Throw '*is writable by*'
    }

    It 'is refused when it is a file' {
        $path = Join-Path $TestDrive 'a-file'
        Set-Content -LiteralPath $path -Value 'x'
        { Test-RemoteJobStore -Store (Open-RemoteJobStore -Path $path) } | Should -Throw '*is not a folder*'
    }
}

Describe 'Selecting jobs' {
    BeforeAll {
        $script:store = New-TestStore
        $old = [DateTime]::UtcNow.AddDays(-10).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
        $null = New-TestJob -Store $store -Id 'j1' -Name 'backup-etc' -Stdout 'not received'
        $null = New-TestJob -Store $store -Id 'j2' -Name 'backup-home' -State 'failed'
        $null = New-TestJob -Store $store -Id 'j3' -Name 'build' -State 'running'
        $null = New-TestJob -Store $store -Id 'j4' -Finished $old
        $null = New-Item -ItemType Directory -Path (Join-Path $store.Root '.new-j5-abc')
        $null = New-Item -ItemType Directory -Path (Join-Path $store.Root 'not a job id!')
        # A folder with a valid id's name but no job.json is somebody else's data, not a job.
        $null = New-Item -ItemType Directory -Path (Join-Path $store.Root 'precious')
        Set-Content -LiteralPath (Join-Path $store.Root 'precious\data.txt') -Value 'keep me'

        function Get-IdList {
            param ([object[]]$Jobs)
            (@($Jobs | ForEach-Object { $_.Id }) | Sort-Object) -join ','
        }
    }

    It 'lists every job folder and nothing else' {
        Get-IdList (Select-RemoteJob -Store $store) | Should -Be 'j1,j2,j3,j4'
    }

    It 'leaves a folder without job.json alone' {
        Get-RemoteJob -Store $store -Id 'precious' | Should -BeNullOrEmpty
        Get-IdList (Select-RemoteJob -Store $store -OlderThan '0s') | Should -Be 'j1,j2,j4'
        Test-Path -LiteralPath (Join-Path $store.Root 'precious\data.txt') | Should -BeTrue
    }

    It 'selects nothing with an empty <Label> list' -ForEach @(
        @{ Label = 'id'; Filter = @{ Id = @() } }
        @{ Label = 'name'; Filter = @{ Name = @(); Glob = $true } }
        @{ Label = 'state'; Filter = @{ State = @() } }
    ) {
        @(Select-RemoteJob -Store $store @Filter).Count | Should -Be 0
    }

    It 'selects by <Label>' -ForEach @(
        @{ Label = 'id'; Filter = @{ Id = @('j2', 'j4') }; Expected = 'j2,j4' }
        @{ Label = 'exact name'; Filter = @{ Name = @('build') }; Expected = 'j3' }
        @{ Label = 'wildcard name'; Filter = @{ Name = @('backup-*'); Glob = $true }; Expected = 'j1,j2' }
        @{ Label = 'a wildcard without Glob'; Filter = @{ Name = @('backup-*') }; Expected = '' }
        @{ Label = 'state'; Filter = @{ State = @('failed', 'running') }; Expected = 'j2,j3' }
        @{ Label = 'has_more_data'; Filter = @{ HasMoreData = $true }; Expected = 'j1,j3' }
        @{ Label = 'no more data'; Filter = @{ HasMoreData = $false }; Expected = 'j2,j4' }
        @{ Label = 'older_than'; Filter = @{ OlderThan = '7d' }; Expected = 'j4' }
    ) {
        Get-IdList (Select-RemoteJob -Store $store @Filter) | Should -Be $Expected
    }

    It 'matches a name with an unclosed [ as plain text instead of failing' {
        $job = New-TestJob -Store $store -Id 'bracket' -Name 'odd[name'
        Test-RemoteJobName -Name 'odd[name' -Pattern 'odd[name' -Glob | Should -BeTrue
        Test-RemoteJobName -Name 'ODD[NAME' -Pattern 'odd[name' | Should -BeTrue
        Test-RemoteJobName -Name $null -Pattern '*' -Glob | Should -BeFalse
        Get-IdList (Select-RemoteJob -Store $store -Name @('odd[name') -Glob) | Should -Be 'bracket'
        Remove-RemoteJob -Job $job | Should -BeTrue
    }

    It 'fails for a missing id or name only when required' {
        @(Select-RemoteJob -Store $store -Id 'nope').Count | Should -Be 0
        { Select-RemoteJob -Store $store -Id 'nope' -Require } | Should -Throw '*no job with id nope in*list jobs with remote.jobs.info'
        { Select-RemoteJob -Store $store -Name 'nope' -Require } | Should -Throw '*no job named nope in*'
        { Select-RemoteJob -Store $store -Id '..\j1' } | Should -Throw '*invalid job id*'
    }

    It 'returns the same job object keys as POSIX' {
        $view = Get-RemoteJobView -Job (Get-RemoteJob -Store $store -Id 'j1')
        $expected = @(
            'id', 'name', 'state', 'reason', 'has_more_data', 'location', 'command', 'argv', 'chdir', 'timeout', 'pid', 'rc',
            'signal', 'error', 'started', 'finished', 'results', 'results_dir', 'retention', 'stdout_path', 'stderr_path'
        )
        @($view.Keys) -join ',' | Should -Be ($expected -join ',')
        $view.has_more_data | Should -BeTrue
    }

    It 'shows an argv as the command line Windows programs read' {
        $job = New-TestJob -Store $store -Id 'argv' -Argv @('C:\Program Files\x.exe', 'a b')
        (Get-RemoteJobView -Job $job).command | Should -Be '"C:\Program Files\x.exe" "a b"'
        Remove-RemoteJob -Job $job | Should -BeTrue
    }
}

Describe 'Lost jobs' {
    BeforeAll {
        $script:store = New-TestStore
    }

    It 'keeps a job whose supervisor runs' {
        $job = New-TestJob -Store $store -Id 'alive' -State 'running'
        Update-RemoteJobLost -Job $job | Should -BeFalse
        $job.State.state | Should -Be 'running'
    }

    It 'records <Label> as failed/lost' -ForEach @(
        @{ Label = 'a job whose supervisor exited'; Reuse = $false }
        @{ Label = 'a job whose supervisor pid was reused'; Reuse = $true }
    ) {
        $id = 'lost-{0}' -f $Reuse
        $job = New-TestJob -Store $store -Id $id -State 'running'
        $state = Read-RemoteJobJson -Path (Join-Path $job.Dir 'state.json')
        if ($Reuse) {
            $state.supervisor_start_time = '1'
        }
        else {
            $gone = Start-Process -FilePath cmd.exe -ArgumentList '/c', 'exit 0' -PassThru -WindowStyle Hidden
            $gone.WaitForExit()
            $state.supervisor_pid = $gone.Id
        }
        Write-RemoteJobJson -Path (Join-Path $job.Dir 'state.json') -InputObject $state
        Update-RemoteJobLost -Job $job | Should -BeTrue
        $job.State.state | Should -Be 'failed'
        $job.State.reason | Should -Be 'lost'
        $job.State.error | Should -BeLike '*its supervisor (pid*) is gone*'
        Test-RemoteJobMoreData -Job $job | Should -BeFalse
    }
}

Describe 'Receiving output' {
    BeforeEach {
        $script:store = New-TestStore
    }

    It 'consumes what it returns' {
        $job = New-TestJob -Store $store -Id 'r' -Stdout "hello`n"
        Get-Text (Receive-RemoteJobOutput -Job $job).Data.stdout | Should -Be "hello`n"
        (Receive-RemoteJobOutput -Job $job).Data.stdout.Length | Should -Be 0
        Test-RemoteJobMoreData -Job $job | Should -BeFalse
    }

    It 'leaves the output unread with Keep' {
        $job = New-TestJob -Store $store -Id 'r' -Stdout 'kept'
        Get-Text (Receive-RemoteJobOutput -Job $job -Keep).Data.stdout | Should -Be 'kept'
        Get-Text (Receive-RemoteJobOutput -Job $job -Keep).Data.stdout | Should -Be 'kept'
        (Get-RemoteJobOffset -Job $job).stdout | Should -Be 0
    }

    It 'returns at most MaxBytes and says it truncated' {
        $job = New-TestJob -Store $store -Id 'r' -Stdout 'abcde'
        $read = Receive-RemoteJobOutput -Job $job -MaxBytes 2
        Get-Text $read.Data.stdout | Should -Be 'ab'
        $read.Truncated | Should -BeTrue
        Get-Text (Receive-RemoteJobOutput -Job $job -MaxBytes 2).Data.stdout | Should -Be 'cd'
        $last = Receive-RemoteJobOutput -Job $job -MaxBytes 2
        Get-Text $last.Data.stdout | Should -Be 'e'
        $last.Truncated | Should -BeFalse
    }

    It 'returns a whole character when MaxBytes <MaxBytes> is smaller than it' -ForEach @(
        @{ MaxBytes = 1 }
        @{ MaxBytes = 2 }
    ) {
        # "é€x": a loop of receives until not truncated must end, each returning whole characters.
        $job = New-TestJob -Store $store -Id 'r' -StdoutBytes ([byte[]](0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0x78))
        $texts = @()
        foreach ($attempt in 1..10) {
            $read = Receive-RemoteJobOutput -Job $job -MaxBytes $MaxBytes
            $texts += Get-Text $read.Data.stdout
            if (-not $read.Truncated) {
                break
            }
        }
        ($texts -join '') | Should -Be "$([char]0xE9)$([char]0x20AC)x"
        ($texts | Where-Object { -not $_ }).Count | Should -Be 0
    }

    It 'holds back an incomplete UTF-8 character while the job runs' {
        $job = New-TestJob -Store $store -Id 'r' -State 'running' -StdoutBytes ([byte[]](0x61, 0xE2, 0x82))
        $read = Read-RemoteJobOutput -Job $job
        $read.Data.stdout.Length | Should -Be 1
        $read.Truncated | Should -BeTrue
    }

    It 'gives each byte to one of two concurrent consumers' {
        $job = New-TestJob -Store $store -Id 'r' -Stdout 'once'
        $first = Read-RemoteJobOutput -Job $job
        $second = Read-RemoteJobOutput -Job $job
        (Complete-RemoteJobReceive -Job $job -Range @{ stdout = @(0, 4) }).stdout | Should -BeTrue
        (Complete-RemoteJobReceive -Job $job -Range @{ stdout = @(0, 4) }).stdout | Should -BeFalse
        $first.Start.stdout | Should -Be $second.Start.stdout
        (Get-RemoteJobOffset -Job $job).stdout | Should -Be 4
    }

    It 'plans controller fetches of a finished job: the output file itself' {
        $job = New-TestJob -Store $store -Id 'f' -Results 'controller' -Stdout 'abc'
        $pieces = Get-RemoteJobFetchPlan -Job $job
        @($pieces).Count | Should -Be 1
        $pieces[0].stream | Should -Be 'stdout'
        $pieces[0].start | Should -Be 0
        $pieces[0].end | Should -Be 3
        $pieces[0].path | Should -Be $job.Paths.stdout
        $pieces[0].sha256 | Should -Be (Get-FileHash -LiteralPath $job.Paths.stdout -Algorithm SHA256).Hash.ToLowerInvariant()
    }

    It 'plans controller fetches of a running job: copies, then only new bytes' {
        $job = New-TestJob -Store $store -Id 'c' -State 'running' -Results 'controller' -Stdout 'abc'
        $pieces = Get-RemoteJobFetchPlan -Job $job
        @($pieces).Count | Should -Be 1
        $pieces[0].start | Should -Be 0
        $pieces[0].end | Should -Be 3
        $pieces[0].path | Should -BeLike '*\.pieces\stdout-0-3'
        $pieces[0].sha256 | Should -Be (Get-FileHash -LiteralPath $job.Paths.stdout -Algorithm SHA256).Hash.ToLowerInvariant()
        $null = Complete-RemoteJobReceive -Job $job -Range @{ stdout = @(0, 3) }
        [System.IO.File]::AppendAllText($job.Paths.stdout, 'def')
        $pieces = Get-RemoteJobFetchPlan -Job $job
        $pieces[0].start | Should -Be 3
        $pieces[0].end | Should -Be 6
        $pieces[0].path | Should -BeLike '*\.pieces\stdout-3-6'
        [System.IO.File]::ReadAllText($pieces[0].path) | Should -Be 'def'
        $pieces[0].sha256 | Should -Be (Get-FileHash -LiteralPath $pieces[0].path -Algorithm SHA256).Hash.ToLowerInvariant()
    }

    It 'reads a planned piece for a controller that cannot fetch files, and refuses a consumed range' {
        $job = New-TestJob -Store $store -Id 'p' -Results 'controller' -Stdout 'abcdef'
        Get-Text (Read-RemoteJobPiece -Job $job -Stream 'stdout' -From 2 -To 5) | Should -Be 'cde'
        (Read-RemoteJobPiece -Job $job -Stream 'stdout' -From 6 -To 6).Length | Should -Be 0
        { Read-RemoteJobPiece -Job $job -Stream 'stdout' -From 4 -To 9 } | Should -Throw '*ends before byte 9*'
        { Read-RemoteJobPiece -Job $job -Stream 'stdin' -From 0 -To 1 } | Should -Throw '*stdout or stderr*'
        { Read-RemoteJobPiece -Job $job -Stream 'stdout' -From 0 -To (8MB + 1) } | Should -Throw '*0 to 8388608 bytes*'
        $null = Complete-RemoteJobReceive -Job $job -Range @{ stdout = @(0, 3) }
        { Read-RemoteJobPiece -Job $job -Stream 'stdout' -From 0 -To 3 } | Should -Throw '*received by another receive*'
        Get-Text (Read-RemoteJobPiece -Job $job -Stream 'stdout' -From 3 -To 6) | Should -Be 'def'
    }

    It 'lets go of a finished controller job''s output once all of it is fetched' {
        $job = New-TestJob -Store $store -Id 'c' -Results 'controller' -Stdout 'all of it'
        $null = Complete-RemoteJobReceive -Job $job -Range @{ stdout = @(0, 9) }
        (Get-Item -LiteralPath $job.Paths.stdout).Length | Should -Be 0
        Test-RemoteJobMoreData -Job $job | Should -BeFalse
    }

    It 'splits lines as Python splitlines does (<Label>)' -ForEach @(
        @{ Label = 'empty'; Text = ''; Lines = @() }
        @{ Label = 'no newline'; Text = 'x'; Lines = @('x') }
        @{ Label = 'CRLF and LF'; Text = "a`r`nb`n"; Lines = @('a', 'b') }
        @{ Label = 'an empty last line'; Text = "a`n`n"; Lines = @('a', '') }
    ) {
        $view = [ordered]@{}
        Add-RemoteJobOutput -View $view -Data @{ stdout = $utf8.GetBytes($Text); stderr = [byte[]]@() } -Truncated $false
        $view.stdout | Should -Be $Text
        @($view.stdout_lines).Count | Should -Be $Lines.Count
        (@($view.stdout_lines) -join '|') | Should -Be ($Lines -join '|')
        @($view.stderr_lines).Count | Should -Be 0
        $view.removed | Should -BeFalse
    }
}

Describe 'Results' {
    It 'puts the fields of a single job at the top level, except results' {
        $result = @{ changed = $false; timed_out = $true }
        Add-RemoteJobResult -Result $result -View @([ordered]@{ id = 'a'; results = 'target'; timed_out = $false }) -Changed $true
        $result.changed | Should -BeTrue
        $result.id | Should -Be 'a'
        $result.ContainsKey('results') | Should -BeFalse
        $result.timed_out | Should -BeTrue
        @($result.jobs).Count | Should -Be 1
    }

    It 'keeps several jobs in jobs only' {
        $result = @{}
        Add-RemoteJobResult -Result $result -View @([ordered]@{ id = 'a' }, [ordered]@{ id = 'b' }) -Changed $false
        $result.ContainsKey('id') | Should -BeFalse
        @($result.jobs).Count | Should -Be 2
    }
}

Describe 'Waiting' {
    BeforeAll {
        $script:store = New-TestStore
    }

    It 'gives up after Timeout seconds on a job that runs, and says so' {
        # A hand-made running job: its supervisor is this process, so it is not lost.
        $job = New-TestJob -Store $store -Id 'w-running' -State 'running'
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        Wait-RemoteJob -Job @($job) -Timeout 0.5 | Should -BeTrue
        $clock.Elapsed.TotalSeconds | Should -BeGreaterOrEqual 0.4
        Test-RemoteJobFinished -Job $job | Should -BeFalse
    }

    It 'returns at once when the jobs have finished, or with Any when one has' {
        $done = New-TestJob -Store $store -Id 'w-done'
        $running = New-TestJob -Store $store -Id 'w-running-2' -State 'running'
        Test-RemoteJobFinished -Job $done | Should -BeTrue
        Wait-RemoteJob -Job @($done) -Timeout 5 | Should -BeFalse
        Wait-RemoteJob -Job @($done, $running) -Any -Timeout 5 | Should -BeFalse
        Wait-RemoteJob -Job @() | Should -BeFalse
    }

    It 'leaves a finished job alone when asked to stop it' {
        $done = New-TestJob -Store $store -Id 's-done'
        Stop-RemoteJob -Job $done | Should -BeFalse
        Test-Path -LiteralPath (Join-Path $done.Dir 'stop.json') | Should -BeFalse
    }
}

Describe 'The supervisor script' {
    It 'is the supervisor functions as text that parses' {
        $text = & (Get-Module -Name _JobStore) { Get-RemoteJobSupervisorScript }
        $errors = $null
        $null = [System.Management.Automation.Language.Parser]::ParseInput($text, [ref]$null, [ref]$errors)
        $errors | Should -BeNullOrEmpty
        $text | Should -BeLike '*Function Invoke-RemoteJobSupervisor {*'
        $text | Should -BeLike '*Function Lock-RemoteJob {*'
        $text | Should -Not -BeLike '*Function Select-RemoteJob {*'
    }
}

Describe 'Removing and retention' {
    BeforeEach {
        $script:store = New-TestStore
    }

    It 'removes a job folder once' {
        $job = New-TestJob -Store $store -Id 'gone'
        Remove-RemoteJob -Job $job | Should -BeTrue
        Test-Path -LiteralPath $job.Dir | Should -BeFalse
        Remove-RemoteJob -Job $job | Should -BeFalse
        @(Get-ChildItem -LiteralPath $store.Root -Force | Where-Object { $_.Name -like '.removing-*' }).Count | Should -Be 0
    }

    It 'removes finished jobs whose retention passed, not running ones' {
        $done = New-TestJob -Store $store -Id 'done'
        $running = New-TestJob -Store $store -Id 'busy' -State 'running'
        Add-RemoteJobExpiry -Root $store.Root -Id $done.Id -Retention 0
        Add-RemoteJobExpiry -Root $store.Root -Id $running.Id -Retention 0
        Add-RemoteJobExpiry -Root $store.Root -Id 'later' -Retention 3600
        $removed = @(Remove-RemoteJobExpired -Store $store)
        $removed.Count | Should -Be 1
        $removed[0] | Should -BeExactly 'done'
        Test-Path -LiteralPath $done.Dir | Should -BeFalse
        Test-Path -LiteralPath $running.Dir | Should -BeTrue
        @(Get-ChildItem -LiteralPath (Join-Path $store.Root '.expire')).Count | Should -Be 1
        @(Remove-RemoteJobExpired -Store $store).Count | Should -Be 0
    }
}

Describe 'Whole jobs, with real supervisors' {
    BeforeAll {
        $script:store = New-TestStore

        function Start-TestJob {
            param ([hashtable]$Spec)
            @(Start-RemoteJob -Store $store -Spec @($Spec))[0]
        }

        function Wait-TestJob {
            param ($Job, [double]$Timeout = 60)
            Wait-RemoteJob -Job @($Job) -Timeout $Timeout | Should -BeFalse
        }
    }

    It 'runs a PowerShell command and records its exit code and output' {
        # Non-ASCII output from code points: Windows PowerShell reads a .ps1 without a BOM as ANSI.
        $greeting = 'hello gr{0}{1}e' -f [char]0xFC, [char]0xDF
        $job = Start-TestJob @{ name = 'ps'; command = "Write-Output '$greeting'; [Console]::Error.WriteLine('oops'); exit 3" }
        $job.State.state | Should -Be 'running'
        $job.State.pid | Should -BeGreaterThan 0
        Wait-TestJob $job
        $job.State.state | Should -Be 'failed'
        $job.State.reason | Should -Be 'exit'
        $job.State.rc | Should -Be 3
        $read = Receive-RemoteJobOutput -Job $job
        (Get-Text $read.Data.stdout).Trim() | Should -BeExactly $greeting
        (Get-Text $read.Data.stderr).Trim() | Should -Be 'oops'
    }

    It 'feeds stdin and sets env without writing either to disk' {
        $command = '$text = [Console]::In.ReadToEnd(); Write-Output "got:$($text.Trim()):$env:REMOTE_JOBS_TEST"'
        $job = Start-TestJob @{ command = $command; stdin = 'piped-secret'; env = @{ REMOTE_JOBS_TEST = 'env-secret' } }
        Wait-TestJob $job
        $job.State.state | Should -Be 'completed'
        (Get-Text (Read-RemoteJobOutput -Job $job).Data.stdout).Trim() | Should -Be 'got:piped-secret:env-secret'
        $record = Get-Content -LiteralPath (Join-Path $job.Dir 'job.json') -Raw
        $record | Should -Not -BeLike '*secret*'
        (Read-RemoteJobJson -Path (Join-Path $job.Dir 'job.json')).env_keys | Should -Be 'REMOTE_JOBS_TEST'
    }

    It 'passes argv to a program unchanged' -Skip:($PSVersionTable.PSVersion.Major -gt 5) {
        # Windows PowerShell compiles a console program that prints each argument it got.
        $exe = Join-Path $TestDrive 'argv.exe'
        $source = 'public static class P { public static void Main(string[] a) { foreach (string s in a) System.Console.WriteLine("[" + s + "]"); } }'
        Add-Type -TypeDefinition $source -OutputAssembly $exe -OutputType ConsoleApplication
        $job = Start-TestJob @{ argv = @($exe, 'a b', 'c"d', 'e\', '', 'f\\"g') }
        Wait-TestJob $job
        $lines = (Get-Text (Read-RemoteJobOutput -Job $job).Data.stdout) -split "`r?`n" | Where-Object { $_ }
        $lines -join '|' | Should -Be '[a b]|[c"d]|[e\]|[]|[f\\"g]'
    }

    It 'ends a job at its timeout' {
        $job = Start-TestJob @{ command = 'Start-Sleep -Seconds 120'; timeout = 2 }
        Wait-TestJob $job -Timeout 60
        $job.State.state | Should -Be 'stopped'
        $job.State.reason | Should -Be 'timeout'
        $NativeProcess::IsProcessAlive([int]$job.State.pid, [string]$job.State.pid_start_time) | Should -BeFalse
    }

    It 'stops the whole process tree' {
        $childFile = Join-Path $TestDrive 'child.pid'
        $command = @(
            '$child = Start-Process -FilePath ping.exe -ArgumentList ''-n'', ''120'', ''127.0.0.1'' -PassThru -WindowStyle Hidden'
            "Set-Content -LiteralPath '$childFile' -Value `$child.Id"
            'Start-Sleep -Seconds 120'
        ) -join "`n"
        $job = Start-TestJob @{ command = $command }
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        while (-not (Test-Path -LiteralPath $childFile) -and $clock.Elapsed.TotalSeconds -lt 60) {
            Start-Sleep -Milliseconds 200
        }
        $childId = [int](Get-Content -LiteralPath $childFile -Raw)
        Stop-RemoteJob -Job $job -Grace 5 | Should -BeTrue
        $job.State.state | Should -Be 'stopped'
        $job.State.reason | Should -Be 'stop'
        Start-Sleep -Seconds 1
        Get-Process -Id $childId -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        Stop-RemoteJob -Job $job | Should -BeFalse
    }

    It 'records a program that cannot start as a spawn error' {
        $job = Start-TestJob @{ argv = @('C:\no\such\program.exe') }
        $job.State.state | Should -Be 'failed'
        $job.State.reason | Should -Be 'spawn_error'
        $job.State.error | Should -BeLike '*cannot find*'
    }

    It 'tells the command its job folder in REMOTE_JOBS_JOB' {
        $job = Start-TestJob @{ command = 'Write-Output $env:REMOTE_JOBS_JOB' }
        Wait-TestJob $job
        (Get-Text (Receive-RemoteJobOutput -Job $job).Data.stdout).Trim() | Should -Be $job.Dir
    }

    It 'appends stdout to output_path' {
        $log = Join-Path $TestDrive 'PsLog.txt'
        Set-Content -LiteralPath $log -Value 'before'
        $job = Start-TestJob @{ command = 'Write-Output after'; output_path = $log }
        Wait-TestJob $job
        (Get-Content -LiteralPath $log) -join ',' | Should -Be 'before,after'
        (Get-RemoteJobView -Job $job).stdout_path | Should -Be $log
        # Only what this job wrote is its output, not the text the file held before.
        (Get-Text (Receive-RemoteJobOutput -Job $job).Data.stdout).Trim() | Should -Be 'after'
        Remove-RemoteJob -Job $job | Should -BeTrue
        Test-Path -LiteralPath $log | Should -BeTrue
    }

    It 'records a job whose supervisor was killed as lost, and its command ends with it' {
        $job = Start-TestJob @{ command = 'Start-Sleep -Seconds 120' }
        Stop-Process -Id $job.State.supervisor_pid -Force
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        while ($NativeProcess::IsProcessAlive([int]$job.State.pid, [string]$job.State.pid_start_time) -and $clock.Elapsed.TotalSeconds -lt 30) {
            Start-Sleep -Milliseconds 200
        }
        $NativeProcess::IsProcessAlive([int]$job.State.pid, [string]$job.State.pid_start_time) | Should -BeFalse
        Update-RemoteJobLost -Job $job | Should -BeTrue
        $job.State.reason | Should -Be 'lost'
    }

    It 'starts several jobs in one call and lists them in that order' {
        $specs = @(foreach ($n in 1..3) { @{ id = 'many-{0}-{1}' -f $n, [Guid]::NewGuid().ToString('N').Substring(0, 4); name = 'many'; command = 'exit 0' } })
        # Ids that sort against the batch order: only created puts them back in it.
        [array]::Reverse($specs)
        $jobs = @(Start-RemoteJob -Store $store -Spec $specs)
        $jobs.Count | Should -Be 3
        Wait-RemoteJob -Job $jobs -Timeout 60 | Should -BeFalse
        @($jobs | Where-Object { $_.State.state -eq 'completed' }).Count | Should -Be 3
        $listed = @(Select-RemoteJob -Store $store -Name 'many')
        ($listed | ForEach-Object { $_.Id }) -join ',' | Should -Be (($specs | ForEach-Object { $_.id }) -join ',')
        $created = @($listed | ForEach-Object { $_.Spec.created })
        ($created | Sort-Object -Unique).Count | Should -Be 3
    }
}
