# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# What this util needs, so Ansible ships it whatever a module lists: New-RemoteJobModule creates the
# Ansible.Basic module, and the native work is in _JobNative.cs.
#AnsibleRequires -CSharpUtil Ansible.Basic
#AnsibleRequires -CSharpUtil ansible_collections.remote.jobs.plugins.module_utils._JobNative

# The on-target job store for Windows hosts: the twin of plugins/module_utils/_jobstore.py, with the same folders,
# files and JSON schema. Private to the collection: may change in any release.
#
#   <job_root>\            only this user, SYSTEM and Administrators have access (the 0700 of POSIX)
#     <id>\                one folder per job
#       job.json           the spec, written once (env names only, never values; no stdin)
#       state.json         replaced atomically (temp file + File.Replace) on every change
#       stdout  stderr     raw bytes, appended by the command itself as it produces them
#       offsets.json       bytes received so far (keep/consume), changed under the lock
#       stop.json          written by stop before it terminates the job object, so the end is recorded as a stop
#       .lock              LockFile on its first byte (FileStream.Lock) guards every read-modify-write
#     .expire\<ms>-<id>    left when a job with a retention ends: it may be removed from that epoch millisecond on
#
# Native work (processes, job objects, start times) is done by the C# util _JobNative.cs in the module process.
# The supervisor of a job is a plain powershell.exe that loads no compiled code: it runs the functions listed in
# $SupervisorFunctions, shipped to it as text through a named pipe with the handles it needs (see Start-RemoteJob).

$ErrorActionPreference = 'Stop'

$script:Native = 'ansible_collections.remote.jobs.plugins.module_utils._JobNative'
$script:States = @('running', 'completed', 'failed', 'stopped')
$script:FinishedStates = @('completed', 'failed', 'stopped')
$script:Streams = @('stdout', 'stderr')
# The most one Read-RemoteJobPiece returns (a become receive reads big pieces in several calls), as READ_PIECE_MAX on POSIX.
$script:ReadPieceMax = 8MB
# The options a remote.jobs.job declaration passes to a start (_START_KEYS of _declare.py).
$script:DeclarationStartKeys = @(
    'name', 'command', 'executable', 'argv', 'chdir', 'env', 'stdin', 'timeout', 'output_path', 'results_dir', 'retention', 'results'
)
# Everyone, Authenticated Users, Users: a job root these may write to is refused.
$script:OpenSids = @('S-1-1-0', 'S-1-5-11', 'S-1-5-32-545')
# WriteData, AppendData, DeleteSubdirectoriesAndFiles, Delete, WRITE_DAC, WRITE_OWNER, GENERIC_ALL, GENERIC_WRITE
$script:WriteRights = 0x500D0046
$script:SupervisorFunctions = @(
    'Get-RemoteJobTimestamp', 'ConvertTo-RemoteJobHashtable', 'ConvertFrom-RemoteJobJson', 'Read-RemoteJobJson',
    'Write-RemoteJobJson', 'Lock-RemoteJob', 'Add-RemoteJobExpiry', 'Invoke-RemoteJobSupervisor'
)
# Runs in the new powershell.exe: connect to the start's pipe, read the payload, run the supervisor it carries.
$script:SupervisorBootstrap = @'
$ErrorActionPreference = 'Stop'
$pipe = New-Object -TypeName System.IO.Pipes.NamedPipeClientStream -ArgumentList '.', 'PIPE_NAME', ([System.IO.Pipes.PipeDirection]::InOut)
$pipe.Connect(60000)
$reader = New-Object -TypeName System.IO.StreamReader -ArgumentList $pipe, (New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false)
$line = $reader.ReadLine()
if (-not $line) {
    exit 0
}
$payload = ConvertFrom-Json -InputObject $line
& ([scriptblock]::Create($payload.script)) $payload $pipe
'@

# --- small helpers ---------------------------------------------------------------------------------------------

Function Get-RemoteJobTimestamp {
    <#
    .SYNOPSIS
    The current time (or Time) as ISO 8601 UTC with milliseconds, the format of every timestamp in the job store.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param ([AllowNull()][Nullable[DateTime]]$Time)

    if ($null -eq $Time) {
        $Time = [DateTime]::UtcNow
    }
    $Time.ToUniversalTime().ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fff'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
}

Function Format-RemoteJobValue {
    <#
    .SYNOPSIS
    A value as the POSIX modules show it in messages (Python's repr), so both platforms word errors alike.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param ([AllowNull()][object]$Value)

    if ($null -eq $Value) {
        return 'None'
    }
    if ($Value -is [bool]) {
        return $(if ($Value) { 'True' } else { 'False' })
    }
    if ($Value -is [string]) {
        return "'$Value'"
    }
    "$Value"
}

Function Assert-RemoteJobId {
    <#
    .SYNOPSIS
    Returns Id if it is a valid job id, else throws. Called before any path is built from an id.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param ([AllowNull()][object]$Id)

    # \z, not $: .NET's $ also matches before a final newline.
    if ($Id -isnot [string] -or $Id -cnotmatch '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\z') {
        $msg = 'invalid job id {0}: a job id is 1-64 characters, letters, digits, "_", "." and "-", starting with a letter or digit'
        throw [System.ArgumentException]::new(($msg -f (Format-RemoteJobValue -Value $Id)))
    }
    $Id
}

Function ConvertTo-RemoteJobDuration {
    <#
    .SYNOPSIS
    Seconds from a number or a string such as '90', '90s', '15m', '12h', '7d', '2w' (parse_duration of POSIX).
    #>
    [CmdletBinding()]
    [OutputType([double])]
    param (
        [AllowNull()][object]$Value,
        [string]$Option = 'older_than'
    )

    $expected = '{0}: expected a duration such as 90, "15m", "12h" or "7d", got {1}' -f $Option, (Format-RemoteJobValue -Value $Value)
    if ($null -eq $Value -or $Value -is [bool]) {
        throw [System.ArgumentException]::new($expected)
    }
    if ($Value -is [int] -or $Value -is [long] -or $Value -is [double] -or $Value -is [single] -or $Value -is [decimal]) {
        if ($Value -lt 0) {
            throw [System.ArgumentException]::new(('{0} must not be negative, got {1}' -f $Option, $Value))
        }
        return [double]$Value
    }
    if ("$Value" -cmatch '^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*\z') {
        $units = @{ '' = 1; s = 1; m = 60; h = 3600; d = 86400; w = 604800 }
        return [double]::Parse($Matches[1], [System.Globalization.CultureInfo]::InvariantCulture) * $units[$Matches[2]]
    }
    throw [System.ArgumentException]::new($expected)
}

Function Get-RemoteJobTextProblem {
    <#
    .SYNOPSIS
    What is wrong with a definition's texts (check_definition of POSIX): a NUL byte, which no program can receive, an
    env name that is empty or holds "=", an env entry without a value. Nothing when they are fine. Never shows an env
    value: they are secrets.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param ([Parameter(Mandatory = $true)][System.Collections.IDictionary]$Spec)

    $texts = New-Object -TypeName System.Collections.Generic.List[object]
    foreach ($key in 'command', 'executable', 'chdir', 'output_path', 'name') {
        $texts.Add(@($key, $Spec[$key]))
    }
    $index = 0
    foreach ($item in @($Spec['argv'])) {
        $texts.Add(@("argv[$index]", $item))
        $index++
    }
    if ($Spec['env']) {
        foreach ($key in @($Spec['env'].Keys)) {
            $envName = [string]$key
            if (-not $envName -or $envName.Contains('=') -or $envName.Contains([char]0)) {
                $said = Format-RemoteJobValue -Value $envName
                return ('env: {0} is not a variable name: a name is not empty and has no "=" or NUL byte' -f $said)
            }
            if ($null -eq $Spec['env'][$key]) {
                return ('env.{0} has no value: give a string ("" for an empty one)' -f $envName)
            }
            $texts.Add(@("the value of env.$envName", $Spec['env'][$key]))
        }
    }
    foreach ($text in $texts) {
        if ($null -ne $text[1] -and "$($text[1])".Contains([char]0)) {
            return ('{0} contains a NUL byte, which no program can receive: remove it' -f $text[0])
        }
    }
}

Function Assert-RemoteJobStartSpec {
    <#
    .SYNOPSIS
    Checks one job definition (check_definition of POSIX: a start, an item of jobs, a remote.jobs.job declaration);
    throws a message that says what to do. The checks run in the POSIX order, so both platforms name the same
    problem first.
    #>
    [CmdletBinding()]
    param ([Parameter(Mandatory = $true)][System.Collections.IDictionary]$Spec)

    $hasCommand = $null -ne $Spec['command']
    $hasArgv = $null -ne $Spec['argv']
    $problem = $null
    if ($hasCommand -and $hasArgv) {
        $problem = 'command and argv are mutually exclusive: give command (a PowerShell script) or argv (a program run without a shell)'
    }
    elseif (-not $hasCommand -and -not $hasArgv) {
        $problem = 'one of command or argv is required: give command (a PowerShell script) or argv (a list)'
    }
    elseif ($hasArgv -and $null -ne $Spec['executable']) {
        $problem = 'executable is the PowerShell that runs command: argv runs its program directly, without one'
    }
    elseif ($hasArgv -and @($Spec['argv']).Count -eq 0) {
        $problem = 'argv must name a program: it is an empty list'
    }
    elseif ($hasCommand -and -not "$($Spec['command'])".Trim()) {
        $problem = 'command is empty: give the PowerShell script to run'
    }
    elseif ($hasArgv -and -not "$(@($Spec['argv'])[0])") {
        $problem = 'argv[0] is empty: it must name the program to run'
    }
    if (-not $problem) {
        $problem = Get-RemoteJobTextProblem -Spec $Spec
    }
    if (-not $problem -and $null -ne $Spec['timeout'] -and $Spec['timeout'] -le 0) {
        $problem = 'timeout must be a positive number of seconds, got {0}' -f $Spec['timeout']
    }
    if (-not $problem -and $null -ne $Spec['retention']) {
        # Throws its own message when the duration is malformed.
        $null = ConvertTo-RemoteJobDuration -Value $Spec['retention'] -Option 'retention'
    }
    if (-not $problem -and $null -ne $Spec['output_path'] -and $Spec['results'] -and $Spec['results'] -ne 'target') {
        $problem = 'output_path sends stdout to a file on the target: it needs results: target'
    }
    if ($problem) {
        throw [System.ArgumentException]::new($problem)
    }
}

Function Assert-RemoteJobArgument {
    <#
    .SYNOPSIS
    The checks an argument spec cannot express (check_common and check_start of POSIX); throws on bad input.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Params,
        [string]$Verb
    )

    # Hashtables throughout: a missing key reads as $null.
    $p = ConvertTo-RemoteJobHashtable -InputObject $Params
    foreach ($jobId in @($p['id'])) {
        if ($null -ne $jobId) {
            $null = Assert-RemoteJobId -Id $jobId
        }
    }
    $seen = @{}
    foreach ($job in @($p['jobs'])) {
        if ($null -eq $job) {
            continue
        }
        if ($null -ne $job['id']) {
            $jobId = Assert-RemoteJobId -Id $job['id']
            if ($seen.ContainsKey($jobId)) {
                throw [System.ArgumentException]::new("job id $jobId appears more than once in jobs: every job needs its own id")
            }
            $seen[$jobId] = $true
        }
        Assert-RemoteJobStartSpec -Spec $job
    }
    if ($null -ne $p['older_than']) {
        $null = ConvertTo-RemoteJobDuration -Value $p['older_than']
    }
    if ($p['keep'] -and $p['auto_remove']) {
        $msg = 'keep and auto_remove contradict each other: auto_remove removes a job only after all its output was consumed, which keep prevents'
        throw [System.ArgumentException]::new($msg)
    }
    foreach ($key in 'timeout', 'grace', 'max_bytes') {
        if ($null -ne $p[$key] -and $p[$key] -lt 0) {
            throw [System.ArgumentException]::new(('{0} must not be negative, got {1}' -f $key, $p[$key]))
        }
    }
    if ($Verb -eq 'start') {
        if (-not $p['jobs']) {
            Assert-RemoteJobStartSpec -Spec $p
        }
        elseif ($null -ne $p['command'] -or $null -ne $p['argv']) {
            throw [System.ArgumentException]::new('give either jobs (a list of job definitions) or one command/argv, not both')
        }
    }
}

Function Resolve-RemoteJobPath {
    <#
    .SYNOPSIS
    A full path from a user's path: %VAR%, a leading $env:VAR and ~ expanded, relative paths under the profile.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param ([Parameter(Mandatory = $true)][string]$Path)

    $profileDir = $env:USERPROFILE
    if (-not $profileDir) {
        $profileDir = [Environment]::GetFolderPath([System.Environment+SpecialFolder]::UserProfile)
    }
    $expanded = [Environment]::ExpandEnvironmentVariables($Path)
    if ($expanded -match '^\$env:(\w+)(.*)$') {
        $value = [Environment]::GetEnvironmentVariable($Matches[1])
        if ($value) {
            $expanded = $value + $Matches[2]
        }
    }
    if ($expanded -eq '~' -or $expanded.StartsWith('~\') -or $expanded.StartsWith('~/')) {
        $expanded = $profileDir + $expanded.Substring(1)
    }
    if (-not [System.IO.Path]::IsPathRooted($expanded)) {
        $expanded = [System.IO.Path]::Combine($profileDir, $expanded)
    }
    [System.IO.Path]::GetFullPath($expanded)
}

# --- JSON files and the lock (the supervisor runs these too: no C# and no module variables in them) ------------

Function ConvertTo-RemoteJobHashtable {
    <#
    .SYNOPSIS
    Objects from ConvertFrom-Json as hashtables and arrays, so Windows PowerShell 5.1 and 7 read JSON alike.
    #>
    [CmdletBinding()]
    param ([AllowNull()][object]$InputObject)

    if ($null -eq $InputObject) {
        return $null
    }
    if ($InputObject -is [DateTime]) {
        # PowerShell 6 to 7.4 read ISO 8601 strings as dates: give back the store's own timestamp format.
        return $InputObject.ToUniversalTime().ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fff'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
    }
    if ($InputObject -is [System.Collections.IDictionary]) {
        $table = @{}
        foreach ($key in $InputObject.Keys) {
            $table[$key] = ConvertTo-RemoteJobHashtable -InputObject $InputObject[$key]
        }
        return $table
    }
    if ($InputObject -is [System.Management.Automation.PSCustomObject]) {
        $table = @{}
        foreach ($property in $InputObject.PSObject.Properties) {
            $table[$property.Name] = ConvertTo-RemoteJobHashtable -InputObject $property.Value
        }
        return $table
    }
    if ($InputObject -is [System.Collections.IList]) {
        $items = New-Object -TypeName System.Collections.Generic.List[object]
        foreach ($item in $InputObject) {
            $items.Add((ConvertTo-RemoteJobHashtable -InputObject $item))
        }
        return , $items.ToArray()
    }
    $InputObject
}

Function ConvertFrom-RemoteJobJson {
    <#
    .SYNOPSIS
    Parses JSON text into hashtables and arrays.
    #>
    [CmdletBinding()]
    param ([Parameter(Mandatory = $true)][string]$Json)

    $convert = @{ InputObject = $Json }
    # PowerShell 7 reads ISO 8601 strings as dates unless told not to (7.5+); Windows PowerShell never does.
    if ($PSVersionTable.PSVersion.Major -ge 7 -and (Get-Command -Name ConvertFrom-Json).Parameters.ContainsKey('DateKind')) {
        $convert.DateKind = 'String'
    }
    ConvertTo-RemoteJobHashtable -InputObject (ConvertFrom-Json @convert)
}

Function Read-RemoteJobJson {
    <#
    .SYNOPSIS
    The JSON object (a hashtable) in a file; Default when the file is missing, unreadable or not a JSON object.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)][string]$Path,
        [AllowNull()][object]$Default = $null
    )

    try {
        # Shared read, write and delete: never in the way of a writer replacing the file.
        $stream = [System.IO.File]::Open($Path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, [System.IO.FileShare]'ReadWrite, Delete')
        try {
            $reader = New-Object -TypeName System.IO.StreamReader -ArgumentList $stream, ([System.Text.Encoding]::UTF8)
            $text = $reader.ReadToEnd()
        }
        finally {
            $stream.Dispose()
        }
        $data = ConvertFrom-RemoteJobJson -Json $text
    }
    catch {
        return $Default
    }
    if ($data -is [System.Collections.IDictionary]) {
        return $data
    }
    $Default
}

Function Write-RemoteJobJson {
    <#
    .SYNOPSIS
    Writes a dictionary as JSON to a temporary file beside Path, flushes it to disk, then replaces Path with it.
    .DESCRIPTION
    Readers see the old or the new file, never a part. File.Replace fails while another process has Path open
    without delete sharing (a virus scanner, a reader of another tool), so it is retried for about two seconds.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)][string]$Path,
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$InputObject
    )

    $json = ConvertTo-Json -InputObject $InputObject -Depth 10 -Compress
    $bytes = (New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false).GetBytes($json)
    $temp = '{0}.tmp-{1}-{2}' -f $Path, $PID, [Guid]::NewGuid().ToString('N').Substring(0, 8)
    $stream = New-Object -TypeName System.IO.FileStream -ArgumentList $temp, ([System.IO.FileMode]::CreateNew), ([System.IO.FileAccess]::Write)
    try {
        $stream.Write($bytes, 0, $bytes.Length)
        $stream.Flush($true)
    }
    finally {
        $stream.Dispose()
    }
    $attempt = 0
    while ($true) {
        try {
            if ([System.IO.File]::Exists($Path)) {
                # [NullString]::Value: a $null would reach .NET as "", which File.Replace rejects as a path.
                [System.IO.File]::Replace($temp, $Path, [NullString]::Value)
            }
            else {
                [System.IO.File]::Move($temp, $Path)
            }
            return
        }
        catch {
            $failure = $_
            $attempt++
            if ($attempt -ge 100) {
                try {
                    [System.IO.File]::Delete($temp)
                }
                catch {
                    $null = $_
                }
                throw $failure
            }
            Start-Sleep -Milliseconds 20
        }
    }
}

Function Lock-RemoteJob {
    <#
    .SYNOPSIS
    Takes the exclusive lock of a job (LockFile on the first byte of <job>\.lock) and returns its FileStream.
    .DESCRIPTION
    Dispose the stream to release the lock; Windows releases it too when the process ends, so a killed process
    never leaves a job locked. Every read-modify-write of a job's files runs under this lock.
    #>
    [CmdletBinding()]
    [OutputType([System.IO.FileStream])]
    param (
        [Parameter(Mandatory = $true)][string]$Path,
        [double]$Timeout = 120
    )

    $file = [System.IO.Path]::Combine($Path, '.lock')
    $stream = [System.IO.File]::Open($file, [System.IO.FileMode]::OpenOrCreate, [System.IO.FileAccess]::ReadWrite, [System.IO.FileShare]'ReadWrite, Delete')
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    while ($true) {
        try {
            $stream.Lock(0, 1)
            return $stream
        }
        catch {
            if ($clock.Elapsed.TotalSeconds -ge $Timeout) {
                $stream.Dispose()
                throw "waiting for the lock $file took longer than $Timeout seconds: $($_.Exception.Message)"
            }
            Start-Sleep -Milliseconds 10
        }
    }
}

Function Add-RemoteJobExpiry {
    <#
    .SYNOPSIS
    Leaves the marker Remove-RemoteJobExpired looks for: the job may be removed Retention seconds from now.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)][string]$Root,
        [Parameter(Mandatory = $true)][string]$Id,
        [AllowNull()][object]$Retention
    )

    if ($null -eq $Retention) {
        return
    }
    try {
        $folder = [System.IO.Path]::Combine($Root, '.expire')
        $null = [System.IO.Directory]::CreateDirectory($folder)
        $epoch = New-Object -TypeName DateTime -ArgumentList 1970, 1, 1, 0, 0, 0, ([DateTimeKind]::Utc)
        $due = [long](([DateTime]::UtcNow - $epoch).TotalMilliseconds + [double]$Retention * 1000)
        [System.IO.File]::Open([System.IO.Path]::Combine($folder, ('{0}-{1}' -f $due, $Id)), [System.IO.FileMode]::OpenOrCreate).Dispose()
    }
    catch {
        $null = $_
    }
}

# --- the store and its jobs ------------------------------------------------------------------------------------

Function Open-RemoteJobStore {
    <#
    .SYNOPSIS
    The job store at Path (default $env:USERPROFILE\.ansible_jobs) as a hashtable: Root, Location. Creates nothing.
    #>
    [CmdletBinding()]
    [OutputType([hashtable])]
    param ([AllowNull()][AllowEmptyString()][string]$Path)

    if (-not $Path) {
        $Path = '~\.ansible_jobs'
    }
    @{
        Root = Resolve-RemoteJobPath -Path $Path
        Location = [System.Net.Dns]::GetHostName()
    }
}

Function Get-RemoteJobAccountName {
    <#
    .SYNOPSIS
    DOMAIN\user for a SID, or the SID itself when it does not translate.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param ([Parameter(Mandatory = $true)][System.Security.Principal.SecurityIdentifier]$Sid)

    try {
        $Sid.Translate([System.Security.Principal.NTAccount]).Value
    }
    catch {
        $Sid.Value
    }
}

Function Test-RemoteJobStore {
    <#
    .SYNOPSIS
    True when the job root exists and is safe to use, false when it does not exist; throws when it is unsafe.
    .DESCRIPTION
    Safe: a folder owned by this user (or by the owner this user's token gives new objects, the Administrators
    group for an elevated administrator) that Everyone, Authenticated Users and Users cannot write to.
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param ([Parameter(Mandatory = $true)][System.Collections.IDictionary]$Store)

    $root = $Store.Root
    if ([System.IO.File]::Exists($root)) {
        throw [System.InvalidOperationException]::new("job root $root is not a folder: point job_root (or remote_jobs_root) at a folder")
    }
    if (-not [System.IO.Directory]::Exists($root)) {
        return $false
    }
    try {
        $acl = Get-Acl -LiteralPath $root
    }
    catch {
        throw [System.InvalidOperationException]::new("cannot read job root ${root}: $($_.Exception.Message)")
    }
    $me = [System.Security.Principal.WindowsIdentity]::GetCurrent()
    $owner = $acl.GetOwner([System.Security.Principal.SecurityIdentifier])
    if ($owner -ne $me.User -and $owner -ne $me.Owner) {
        $msg = 'job root {0} is owned by {1}, not by this user ({2}): use a job root of your own'
        throw [System.InvalidOperationException]::new(($msg -f $root, (Get-RemoteJobAccountName -Sid $owner), $me.Name))
    }
    foreach ($rule in $acl.GetAccessRules($true, $true, [System.Security.Principal.SecurityIdentifier])) {
        $open = $script:OpenSids -contains $rule.IdentityReference.Value
        if ($open -and $rule.AccessControlType -eq 'Allow' -and ([long]$rule.FileSystemRights -band $script:WriteRights)) {
            $msg = 'job root {0} is writable by {1}: remove that access or choose another job_root'
            throw [System.InvalidOperationException]::new(($msg -f $root, (Get-RemoteJobAccountName -Sid $rule.IdentityReference)))
        }
    }
    $true
}

Function Initialize-RemoteJobStore {
    <#
    .SYNOPSIS
    Creates the job root when it is missing, with access for this user, SYSTEM and Administrators only.
    #>
    [CmdletBinding()]
    param ([Parameter(Mandatory = $true)][System.Collections.IDictionary]$Store)

    if (Test-RemoteJobStore -Store $Store) {
        return
    }
    $root = $Store.Root
    try {
        $null = [System.IO.Directory]::CreateDirectory($root)
        $security = New-Object -TypeName System.Security.AccessControl.DirectorySecurity
        $security.SetAccessRuleProtection($true, $false)
        $inherit = [System.Security.AccessControl.InheritanceFlags]'ContainerInherit, ObjectInherit'
        $sids = @([System.Security.Principal.WindowsIdentity]::GetCurrent().User.Value, 'S-1-5-18', 'S-1-5-32-544')
        foreach ($sid in $sids) {
            $rule = New-Object -TypeName System.Security.AccessControl.FileSystemAccessRule -ArgumentList @(
                (New-Object -TypeName System.Security.Principal.SecurityIdentifier -ArgumentList $sid),
                [System.Security.AccessControl.FileSystemRights]::FullControl, $inherit,
                [System.Security.AccessControl.PropagationFlags]::None, [System.Security.AccessControl.AccessControlType]::Allow
            )
            $security.AddAccessRule($rule)
        }
        Set-Acl -LiteralPath $root -AclObject $security
    }
    catch {
        throw [System.InvalidOperationException]::new("cannot create job root ${root}: $($_.Exception.Message)")
    }
    $null = Test-RemoteJobStore -Store $Store
}

Function New-RemoteJobObject {
    <#
    .SYNOPSIS
    The in-memory job (a hashtable: Store, Id, Dir, Spec, State, Paths) for a job folder that exists.
    #>
    [CmdletBinding()]
    [OutputType([hashtable])]
    param (
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Store,
        [Parameter(Mandatory = $true)][string]$Id
    )

    $dir = [System.IO.Path]::Combine($Store.Root, $Id)
    $spec = Read-RemoteJobJson -Path ([System.IO.Path]::Combine($dir, 'job.json')) -Default @{}
    $paths = @{ stdout = $spec['stdout_path']; stderr = $spec['stderr_path'] }
    foreach ($stream in $script:Streams) {
        if (-not $paths[$stream]) {
            $paths[$stream] = [System.IO.Path]::Combine($dir, $stream)
        }
    }
    $job = @{ Store = $Store; Id = $Id; Dir = $dir; Spec = $spec; State = @{}; Paths = $paths }
    Update-RemoteJobState -Job $job
    $job
}

Function Get-RemoteJob {
    <#
    .SYNOPSIS
    The job with this id, or nothing when there is none. The id is checked before any path is built.
    #>
    [CmdletBinding()]
    [OutputType([hashtable])]
    param (
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Store,
        [Parameter(Mandatory = $true)][string]$Id
    )

    $null = Assert-RemoteJobId -Id $Id
    $info = New-Object -TypeName System.IO.DirectoryInfo -ArgumentList ([System.IO.Path]::Combine($Store.Root, $Id))
    if (-not (Test-RemoteJobDir -Info $info)) {
        return
    }
    New-RemoteJobObject -Store $Store -Id $Id
}

Function Test-RemoteJobDir {
    <#
    .SYNOPSIS
    A job's folder: a real folder (no reparse point) holding job.json. A job's folder is prepared under a temporary
    name and renamed once job.json is in it, so any other folder in the job root is not a job and is left alone.
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param ([Parameter(Mandatory = $true)][System.IO.DirectoryInfo]$Info)

    $Info.Exists -and -not ($Info.Attributes -band [System.IO.FileAttributes]::ReparsePoint) -and
    [System.IO.File]::Exists([System.IO.Path]::Combine($Info.FullName, 'job.json'))
}

Function Update-RemoteJobState {
    <#
    .SYNOPSIS
    Re-reads state.json into Job.State; a missing or unreadable one reads as failed/lost.
    #>
    [CmdletBinding()]
    param ([Parameter(Mandatory = $true)][System.Collections.IDictionary]$Job)

    $state = Read-RemoteJobJson -Path ([System.IO.Path]::Combine($Job.Dir, 'state.json'))
    if ($null -eq $state -or $script:States -notcontains $state['state']) {
        $state = @{ state = 'failed'; reason = 'lost'; rc = $null; error = 'state.json of this job is missing or unreadable' }
    }
    $Job.State = $state
}

Function Set-RemoteJobState {
    <#
    .SYNOPSIS
    Merges Change into state.json and re-reads it. The caller holds the job's lock.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Job,
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Change
    )

    $path = [System.IO.Path]::Combine($Job.Dir, 'state.json')
    $state = Read-RemoteJobJson -Path $path -Default @{}
    foreach ($key in $Change.Keys) {
        $state[$key] = $Change[$key]
    }
    Write-RemoteJobJson -Path $path -InputObject $state
    Update-RemoteJobState -Job $Job
}

Function Test-RemoteJobFinished {
    <#
    .SYNOPSIS
    True when the job's state (as last read) is completed, failed or stopped.
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param ([Parameter(Mandatory = $true)][System.Collections.IDictionary]$Job)

    $script:FinishedStates -contains $Job.State['state']
}

Function Test-RemoteJobProcess {
    <#
    .SYNOPSIS
    True when the process ProcessId runs and, when StartTime is given, is the process that started then.
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param ([AllowNull()][object]$ProcessId, [AllowNull()][object]$StartTime)

    if (-not $ProcessId) {
        return $false
    }
    ([type]"$script:Native.NativeProcess")::IsProcessAlive([int]$ProcessId, [string]$StartTime)
}

Function Update-RemoteJobLost {
    <#
    .SYNOPSIS
    Records a running job whose supervisor vanished (killed, reboot, pid reused) as failed/lost. True if it did.
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param ([Parameter(Mandatory = $true)][System.Collections.IDictionary]$Job)

    Update-RemoteJobState -Job $Job
    if ((Test-RemoteJobFinished -Job $Job) -or (Test-RemoteJobProcess $Job.State['supervisor_pid'] $Job.State['supervisor_start_time'])) {
        return $false
    }
    $lock = Lock-RemoteJob -Path $Job.Dir
    try {
        Update-RemoteJobState -Job $Job
        $st = $Job.State
        if ((Test-RemoteJobFinished -Job $Job) -or (Test-RemoteJobProcess $st['supervisor_pid'] $st['supervisor_start_time'])) {
            return $false
        }
        $note = 'its supervisor (pid {0}) is gone: the host rebooted or the process was killed' -f $st['supervisor_pid']
        if (Test-RemoteJobProcess $st['pid'] $st['pid_start_time']) {
            $note += '; the command (pid {0}) still runs unsupervised: use remote.jobs.stop to end it' -f $st['pid']
        }
        Set-RemoteJobState -Job $Job -Change @{ state = 'failed'; reason = 'lost'; finished = (Get-RemoteJobTimestamp); error = $note }
    }
    finally {
        $lock.Dispose()
    }
    Add-RemoteJobExpiry -Root $Job.Store.Root -Id $Job.Id -Retention $Job.Spec['retention']
    $true
}

Function Get-RemoteJobFileSize {
    <#
    .SYNOPSIS
    The size of a file, read from an open handle (exact while another process appends), 0 when it is missing.
    #>
    [CmdletBinding()]
    [OutputType([long])]
    param ([Parameter(Mandatory = $true)][string]$Path)

    try {
        $stream = [System.IO.File]::Open($Path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, [System.IO.FileShare]'ReadWrite, Delete')
    }
    catch {
        return [long]0
    }
    try {
        [long]$stream.Length
    }
    finally {
        $stream.Dispose()
    }
}

Function Get-RemoteJobOffset {
    <#
    .SYNOPSIS
    How many bytes of each stream have been received, from offsets.json.
    #>
    [CmdletBinding()]
    [OutputType([hashtable])]
    param ([Parameter(Mandatory = $true)][System.Collections.IDictionary]$Job)

    $offsets = Read-RemoteJobJson -Path ([System.IO.Path]::Combine($Job.Dir, 'offsets.json')) -Default @{}
    @{ stdout = [long]$offsets['stdout']; stderr = [long]$offsets['stderr'] }
}

Function Test-RemoteJobMoreData {
    <#
    .SYNOPSIS
    True while the job runs, or while any of its output has not been received (consumed).
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param ([Parameter(Mandatory = $true)][System.Collections.IDictionary]$Job)

    if (-not (Test-RemoteJobFinished -Job $Job)) {
        return $true
    }
    $offsets = Get-RemoteJobOffset -Job $Job
    foreach ($stream in $script:Streams) {
        if ((Get-RemoteJobFileSize -Path $Job.Paths[$stream]) -gt $offsets[$stream]) {
            return $true
        }
    }
    $false
}

Function Get-RemoteJobView {
    <#
    .SYNOPSIS
    The job object every verb returns: the same keys as Job.view() of the POSIX job store.
    #>
    [CmdletBinding()]
    [OutputType([System.Collections.Specialized.OrderedDictionary])]
    param ([Parameter(Mandatory = $true)][System.Collections.IDictionary]$Job)

    $spec = $Job.Spec
    $st = $Job.State
    $argv = $spec['argv']
    $command = $spec['command']
    if ($null -ne $argv) {
        $argv = [string[]]@($argv)
        try {
            $command = ([type]"$script:Native.CommandLine")::Join($argv)
        }
        catch {
            $command = $argv -join ' '
        }
    }
    $results = $spec['results']
    if (-not $results) {
        $results = 'target'
    }
    [ordered]@{
        id = $Job.Id
        name = $spec['name']
        state = $st['state']
        reason = $st['reason']
        has_more_data = Test-RemoteJobMoreData -Job $Job
        location = $spec['location']
        command = $command
        argv = $argv
        chdir = $spec['chdir']
        timeout = $spec['timeout']
        pid = $st['pid']
        rc = $st['rc']
        signal = $st['signal']
        error = $st['error']
        started = $st['started']
        finished = $st['finished']
        results = $results
        results_dir = $spec['results_dir']
        retention = $spec['retention']
        stdout_path = $Job.Paths['stdout']
        stderr_path = $Job.Paths['stderr']
    }
}

Function ConvertTo-RemoteJobTime {
    <#
    .SYNOPSIS
    A store timestamp as a UTC DateTime; DateTime.MinValue when it is missing or malformed.
    #>
    [CmdletBinding()]
    [OutputType([DateTime])]
    param ([AllowNull()][object]$Value)

    $parsed = [DateTime]::MinValue
    $styles = [System.Globalization.DateTimeStyles]'AssumeUniversal, AdjustToUniversal'
    $format = "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fff'Z'"
    if ($Value -is [string] -and [DateTime]::TryParseExact($Value, $format, [System.Globalization.CultureInfo]::InvariantCulture, $styles, [ref]$parsed)) {
        return $parsed
    }
    [DateTime]::MinValue
}

Function Test-RemoteJobName {
    <#
    .SYNOPSIS
    True when a job's name matches Pattern: equal ignoring case, or with Glob a -like wildcard pattern (*, ?, [...]).
    .DESCRIPTION
    A pattern -like cannot read (an unclosed "[") compares as plain text instead of failing the selection: fnmatch
    on POSIX reads such a "[" as a plain character too. A job without a name matches nothing.
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param (
        [AllowNull()][object]$Name,
        [Parameter(Mandatory = $true)][AllowEmptyString()][string]$Pattern,
        [switch]$Glob
    )

    if ($null -eq $Name) {
        return $false
    }
    if (-not $Glob) {
        return [string]$Name -eq $Pattern
    }
    try {
        [string]$Name -like $Pattern
    }
    catch {
        [string]$Name -eq $Pattern
    }
}

Function New-RemoteJobId {
    <#
    .SYNOPSIS
    A fresh job id: the UTC time and six random hex digits (new_job_id of POSIX).
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param ()

    $stamp = [DateTime]::UtcNow.ToString("yyyyMMdd'T'HHmmss", [System.Globalization.CultureInfo]::InvariantCulture)
    '{0}-{1}' -f $stamp, [Guid]::NewGuid().ToString('N').Substring(0, 6)
}

Function Get-RemoteJobWouldStart {
    <#
    .SYNOPSIS
    The view a job started from Spec would have at first (check mode; _would_start of POSIX).
    #>
    [CmdletBinding()]
    [OutputType([System.Collections.Specialized.OrderedDictionary])]
    param (
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Store,
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Spec
    )

    $jobId = $Spec['id']
    if (-not $jobId) {
        $jobId = New-RemoteJobId
    }
    $dir = [System.IO.Path]::Combine($Store.Root, $jobId)
    $stdoutPath = [System.IO.Path]::Combine($dir, 'stdout')
    if ($Spec['output_path']) {
        $stdoutPath = Resolve-RemoteJobPath -Path ([string]$Spec['output_path'])
    }
    $command = $Spec['command']
    if ($null -ne $Spec['argv']) {
        $command = @($Spec['argv']) -join ' '
    }
    $results = $Spec['results']
    if (-not $results) {
        $results = 'target'
    }
    [ordered]@{
        id = $jobId; name = $Spec['name']; state = 'running'; reason = $null; has_more_data = $true; location = $Store.Location
        command = $command; argv = $Spec['argv']; chdir = $Spec['chdir']; timeout = $Spec['timeout']; pid = $null; rc = $null
        signal = $null; error = $null; started = $null; finished = $null; results = $results; results_dir = $Spec['results_dir']
        retention = $Spec['retention']; stdout_path = $stdoutPath; stderr_path = [System.IO.Path]::Combine($dir, 'stderr')
    }
}

Function Select-RemoteJob {
    <#
    .SYNOPSIS
    The jobs matching every given filter (each list matches any of its items), in the order they were started.
    .PARAMETER Glob
    Name items are wildcard patterns (-like: *, ?, [...]). Names match case-insensitively, as on Windows.
    .PARAMETER Require
    Fail when an id names no job or a name matches none (for verbs that act on jobs).
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Store,
        [AllowNull()][object[]]$Id,
        [AllowNull()][object[]]$Name,
        [switch]$Glob,
        [AllowNull()][object[]]$State,
        [AllowNull()][object]$HasMoreData,
        [AllowNull()][object]$OlderThan,
        [switch]$Require
    )

    # A filter given as an empty list selects nothing (a list that came out empty never means every job).
    $emptyFilter = ($null -ne $Id -and $Id.Count -eq 0) -or ($null -ne $Name -and $Name.Count -eq 0) -or
        ($null -ne $State -and $State.Count -eq 0)
    if ($emptyFilter) {
        return
    }
    $ids = @($Id | Where-Object { $null -ne $_ } | ForEach-Object { [string]$_ })
    $names = @($Name | Where-Object { $null -ne $_ } | ForEach-Object { [string]$_ })
    foreach ($jobId in $ids) {
        $null = Assert-RemoteJobId -Id $jobId
    }
    $root = $Store.Root
    $exists = Test-RemoteJobStore -Store $Store
    $jobs = New-Object -TypeName System.Collections.Generic.List[object]
    if ($ids.Count) {
        $seen = @{}
        foreach ($jobId in $ids) {
            if ($seen.ContainsKey($jobId)) {
                continue
            }
            $seen[$jobId] = $true
            $job = $null
            if ($exists) {
                $job = Get-RemoteJob -Store $Store -Id $jobId
            }
            if ($null -eq $job) {
                if ($Require) {
                    throw [System.InvalidOperationException]::new("no job with id $jobId in ${root}: list jobs with remote.jobs.info")
                }
                continue
            }
            $jobs.Add($job)
        }
    }
    elseif ($exists) {
        foreach ($entry in (New-Object -TypeName System.IO.DirectoryInfo -ArgumentList $root).GetDirectories()) {
            $valid = $entry.Name -cmatch '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\z'
            if ($valid -and (Test-RemoteJobDir -Info $entry)) {
                $jobs.Add((New-RemoteJobObject -Store $Store -Id $entry.Name))
            }
        }
    }
    if ($names.Count) {
        $matching = New-Object -TypeName System.Collections.Generic.List[object]
        foreach ($job in $jobs) {
            $jobName = $job.Spec['name']
            foreach ($pattern in $names) {
                if (Test-RemoteJobName -Name $jobName -Pattern $pattern -Glob:$Glob) {
                    $matching.Add($job)
                    break
                }
            }
        }
        if ($Require) {
            foreach ($pattern in $names) {
                $found = @($jobs | Where-Object { Test-RemoteJobName -Name $_.Spec['name'] -Pattern $pattern -Glob:$Glob })
                if (-not $found.Count) {
                    throw [System.InvalidOperationException]::new("no job named $pattern in ${root}: list jobs with remote.jobs.info")
                }
            }
        }
        $jobs = $matching
    }
    foreach ($job in $jobs) {
        $null = Update-RemoteJobLost -Job $job
    }
    $selected = foreach ($job in $jobs) {
        if ($State -and $State -notcontains $job.State['state']) {
            continue
        }
        if ($null -ne $OlderThan) {
            $limit = [DateTime]::UtcNow.AddSeconds(-(ConvertTo-RemoteJobDuration -Value $OlderThan))
            if (-not (Test-RemoteJobFinished -Job $job) -or (ConvertTo-RemoteJobTime -Value $job.State['finished']) -ge $limit) {
                continue
            }
        }
        if ($null -ne $HasMoreData -and (Test-RemoteJobMoreData -Job $job) -ne [bool]$HasMoreData) {
            continue
        }
        $job
    }
    # By created (a batch in its own order, see Start-RemoteJob), else started, then id: the order of POSIX.
    $order = @{
        Expression = {
            $created = $_.Spec['created']
            if (-not $created) {
                $created = $_.State['started']
            }
            [string]$created
        }
    }
    @($selected) | Sort-Object -Property $order, @{ Expression = { $_.Id } } -CaseSensitive
}

# --- wait, receive, fetch --------------------------------------------------------------------------------------

Function Wait-RemoteJob {
    <#
    .SYNOPSIS
    Blocks until all (or Any) jobs have finished, or Timeout seconds pass. Returns true when it timed out.
    .DESCRIPTION
    state.json is polled every 50 ms; every half second a running job's supervisor is checked, so a lost job
    ends the wait too.
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param (
        [Parameter(Mandatory = $true)][AllowEmptyCollection()][object[]]$Job,
        [switch]$Any,
        [AllowNull()][object]$Timeout
    )

    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    $lostChecked = 0.0
    while ($true) {
        $checkLost = $clock.Elapsed.TotalSeconds - $lostChecked -ge 0.5
        if ($checkLost) {
            $lostChecked = $clock.Elapsed.TotalSeconds
        }
        $done = 0
        foreach ($item in $Job) {
            if (-not (Test-RemoteJobFinished -Job $item)) {
                if ($checkLost) {
                    $null = Update-RemoteJobLost -Job $item
                }
                else {
                    Update-RemoteJobState -Job $item
                }
            }
            if (Test-RemoteJobFinished -Job $item) {
                $done++
            }
        }
        if ($done -eq $Job.Count -or ($Any -and $done -gt 0)) {
            return $false
        }
        $sleep = 50
        if ($null -ne $Timeout) {
            $left = [double]$Timeout - $clock.Elapsed.TotalSeconds
            if ($left -le 0) {
                return $true
            }
            $sleep = [Math]::Min($sleep, [Math]::Ceiling($left * 1000))
        }
        Start-Sleep -Milliseconds $sleep
    }
}

Function Get-RemoteJobUtf8Length {
    <#
    .SYNOPSIS
    How many bytes the UTF-8 character starting with byte Lead takes (1 for a byte that starts none).
    #>
    [CmdletBinding()]
    [OutputType([int])]
    param ([Parameter(Mandatory = $true)][byte]$Lead)

    if ($Lead -ge 0xC0 -and $Lead -lt 0xE0) {
        return 2
    }
    if ($Lead -ge 0xE0 -and $Lead -lt 0xF0) {
        return 3
    }
    if ($Lead -ge 0xF0 -and $Lead -lt 0xF8) {
        return 4
    }
    1
}

Function Get-RemoteJobUtf8End {
    <#
    .SYNOPSIS
    The length of Data without an incomplete UTF-8 sequence at its end (held back while a job runs).
    #>
    [CmdletBinding()]
    [OutputType([int])]
    param ([Parameter(Mandatory = $true)][AllowEmptyCollection()][byte[]]$Data)

    $length = $Data.Length
    for ($back = 1; $back -le [Math]::Min(4, $length); $back++) {
        $byte = $Data[$length - $back]
        if ($byte -lt 0x80) {
            return $length
        }
        if ($byte -ge 0xC0) {
            $need = $(if ($byte -lt 0xE0) { 2 } elseif ($byte -lt 0xF0) { 3 } else { 4 })
            return $(if ($back -ge $need) { $length } else { $length - $back })
        }
    }
    $length
}

Function Read-RemoteJobFileRange {
    <#
    .SYNOPSIS
    Up to Count bytes of a file from offset Start (fewer when the file is shorter), as a byte array.
    #>
    [CmdletBinding()]
    [OutputType([byte[]])]
    param (
        [Parameter(Mandatory = $true)][string]$Path,
        [long]$Start,
        [long]$Count
    )

    $buffer = New-Object -TypeName byte[] -ArgumentList ([int]$Count)
    $total = 0
    $stream = [System.IO.File]::Open($Path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, [System.IO.FileShare]'ReadWrite, Delete')
    try {
        $null = $stream.Seek($Start, [System.IO.SeekOrigin]::Begin)
        while ($total -lt $Count) {
            $read = $stream.Read($buffer, $total, [int]($Count - $total))
            if ($read -le 0) {
                break
            }
            $total += $read
        }
    }
    finally {
        $stream.Dispose()
    }
    if ($total -lt $Count) {
        $short = New-Object -TypeName byte[] -ArgumentList $total
        [Array]::Copy($buffer, $short, $total)
        $buffer = $short
    }
    , $buffer
}

Function Read-RemoteJobOutput {
    <#
    .SYNOPSIS
    Output not received yet, without consuming it: @{ Data = @{ stdout; stderr } (bytes); Truncated; Start }.
    .DESCRIPTION
    Start says at which offset each stream's bytes begin. While the job runs, an incomplete UTF-8 sequence at the
    end is held back for the next read. MaxBytes (0: no limit) caps each stream.
    #>
    [CmdletBinding()]
    [OutputType([hashtable])]
    param (
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Job,
        [long]$MaxBytes = 0
    )

    Update-RemoteJobState -Job $Job
    $finished = Test-RemoteJobFinished -Job $Job
    $data = @{}
    $start = @{}
    $truncated = $false
    $lock = Lock-RemoteJob -Path $Job.Dir
    try {
        $offsets = Get-RemoteJobOffset -Job $Job
        foreach ($stream in $script:Streams) {
            $path = $Job.Paths[$stream]
            $size = Get-RemoteJobFileSize -Path $path
            $from = [Math]::Min([long]$offsets[$stream], $size)
            $count = $size - $from
            if ($MaxBytes -gt 0) {
                $count = [Math]::Min($count, $MaxBytes)
            }
            $bytes = [byte[]]@()
            if ($count -gt 0) {
                $bytes = Read-RemoteJobFileRange -Path $path -Start $from -Count $count
                if (-not $finished -or $bytes.Length -lt $size - $from) {
                    $keep = Get-RemoteJobUtf8End -Data $bytes
                    if ($keep -eq 0 -and $bytes.Length -lt $size - $from) {
                        # MaxBytes is smaller than the first character: return that character whole, so receives
                        # with a tiny max_bytes still make progress (as POSIX).
                        $need = Get-RemoteJobUtf8Length -Lead $bytes[0]
                        $first = Read-RemoteJobFileRange -Path $path -Start $from -Count ([Math]::Min([long]$need, $size - $from))
                        $bytes = [byte[]]@()
                        if ($finished -or (Get-RemoteJobUtf8End -Data $first) -eq $first.Length) {
                            $bytes = $first
                        }
                        $keep = $bytes.Length
                    }
                    if ($keep -lt $bytes.Length) {
                        $head = New-Object -TypeName byte[] -ArgumentList $keep
                        [Array]::Copy($bytes, $head, $keep)
                        $bytes = $head
                    }
                }
            }
            $truncated = $truncated -or ($from + $bytes.Length -lt $size)
            $data[$stream] = $bytes
            $start[$stream] = $from
        }
    }
    finally {
        $lock.Dispose()
    }
    @{ Data = $data; Truncated = $truncated; Start = $start }
}

Function Complete-RemoteJobReceive {
    <#
    .SYNOPSIS
    Records byte ranges as received (second half of a consuming receive). Returns @{ stream = accepted }.
    .DESCRIPTION
    Range: @{ stdout = @(start, end); stderr = ... }. A range is accepted only if nobody received past its start
    meanwhile, so of two concurrent consumers exactly one gets each byte. For results=controller the target then
    lets go of what the controller holds.
    #>
    [CmdletBinding()]
    [OutputType([hashtable])]
    param (
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Job,
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Range
    )

    $accepted = @{}
    $lock = Lock-RemoteJob -Path $Job.Dir
    try {
        $offsets = Get-RemoteJobOffset -Job $Job
        $new = @{ stdout = $offsets.stdout; stderr = $offsets.stderr }
        foreach ($stream in $script:Streams) {
            if ($null -eq $Range[$stream]) {
                continue
            }
            $from = [long]$Range[$stream][0]
            $to = [long]$Range[$stream][1]
            if ($to -le $from) {
                continue
            }
            $accepted[$stream] = $new[$stream] -eq $from
            if ($accepted[$stream]) {
                $new[$stream] = $to
            }
        }
        if ($new.stdout -ne $offsets.stdout -or $new.stderr -ne $offsets.stderr) {
            Write-RemoteJobJson -Path ([System.IO.Path]::Combine($Job.Dir, 'offsets.json')) -InputObject $new
        }
        $pieces = [System.IO.Path]::Combine($Job.Dir, '.pieces')
        if ([System.IO.Directory]::Exists($pieces)) {
            try {
                [System.IO.Directory]::Delete($pieces, $true)
            }
            catch {
                $null = $_
            }
        }
        if ($Job.Spec['results'] -eq 'controller') {
            # The controller holds everything up to the new offsets. A finished job's files are emptied once all of
            # it is fetched; a running job keeps its files (the command still appends to them).
            Update-RemoteJobState -Job $Job
            if (Test-RemoteJobFinished -Job $Job) {
                $sizes = @{}
                foreach ($stream in $script:Streams) {
                    $sizes[$stream] = Get-RemoteJobFileSize -Path $Job.Paths[$stream]
                }
                if ($sizes.stdout -le $new.stdout -and $sizes.stderr -le $new.stderr) {
                    foreach ($stream in $script:Streams) {
                        if ($sizes[$stream] -gt 0) {
                            $file = [System.IO.File]::Open($Job.Paths[$stream], [System.IO.FileMode]::Open, [System.IO.FileAccess]::Write,
                                [System.IO.FileShare]'ReadWrite, Delete')
                            try {
                                $file.SetLength(0)
                            }
                            finally {
                                $file.Dispose()
                            }
                        }
                    }
                }
            }
        }
    }
    finally {
        $lock.Dispose()
    }
    $accepted
}

Function Receive-RemoteJobOutput {
    <#
    .SYNOPSIS
    Output not received yet, consumed unless Keep; the shape of Read-RemoteJobOutput.
    .DESCRIPTION
    Only the bytes this call read are consumed: a concurrent consumer that got them first wins them, and this call
    then returns nothing for that stream.
    #>
    [CmdletBinding()]
    [OutputType([hashtable])]
    param (
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Job,
        [switch]$Keep,
        [long]$MaxBytes = 0
    )

    $read = Read-RemoteJobOutput -Job $Job -MaxBytes $MaxBytes
    if (-not $Keep) {
        $ranges = @{}
        foreach ($stream in $script:Streams) {
            $ranges[$stream] = @($read.Start[$stream], ($read.Start[$stream] + $read.Data[$stream].Length))
        }
        $accepted = Complete-RemoteJobReceive -Job $Job -Range $ranges
        foreach ($stream in @($accepted.Keys)) {
            if (-not $accepted[$stream]) {
                $read.Data[$stream] = [byte[]]@()
            }
        }
    }
    $read
}

Function Get-RemoteJobFetchPlan {
    <#
    .SYNOPSIS
    The bytes of each stream not fetched yet, as files the controller can fetch whole (results=controller).
    .DESCRIPTION
    Returns a list of @{ stream; start; end; sha256; path }. A piece from offset 0 of a finished job is the output
    file itself (the controller keeps only its first `end` bytes); a later piece is copied into .pieces\ so only new
    bytes travel. While the job runs, a piece from offset 0 is copied too: PSRP's fetch opens the file with read
    sharing only, which the command's open append handle would refuse.
    #>
    [CmdletBinding()]
    param ([Parameter(Mandatory = $true)][System.Collections.IDictionary]$Job)

    Update-RemoteJobState -Job $Job
    $finished = Test-RemoteJobFinished -Job $Job
    $pieces = New-Object -TypeName System.Collections.Generic.List[object]
    $piecesDir = [System.IO.Path]::Combine($Job.Dir, '.pieces')
    $buffer = New-Object -TypeName byte[] -ArgumentList 1048576
    $lock = Lock-RemoteJob -Path $Job.Dir
    try {
        if ([System.IO.Directory]::Exists($piecesDir)) {
            [System.IO.Directory]::Delete($piecesDir, $true)
        }
        $offsets = Get-RemoteJobOffset -Job $Job
        foreach ($stream in $script:Streams) {
            $from = [long]$offsets[$stream]
            $to = Get-RemoteJobFileSize -Path $Job.Paths[$stream]
            if ($to -le $from) {
                continue
            }
            $source = $Job.Paths[$stream]
            $sha = [System.Security.Cryptography.SHA256]::Create()
            $src = [System.IO.File]::Open($source, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, [System.IO.FileShare]'ReadWrite, Delete')
            $dst = $null
            try {
                $null = $src.Seek($from, [System.IO.SeekOrigin]::Begin)
                if ($from -gt 0 -or -not $finished) {
                    $null = [System.IO.Directory]::CreateDirectory($piecesDir)
                    $source = [System.IO.Path]::Combine($piecesDir, ('{0}-{1}-{2}' -f $stream, $from, $to))
                    $dst = [System.IO.File]::Open($source, [System.IO.FileMode]::CreateNew, [System.IO.FileAccess]::Write, [System.IO.FileShare]::Read)
                }
                $left = $to - $from
                while ($left -gt 0) {
                    $read = $src.Read($buffer, 0, [int][Math]::Min($left, $buffer.Length))
                    if ($read -le 0) {
                        throw [System.InvalidOperationException]::new("$stream of job $($Job.Id) shrank while it was read")
                    }
                    $null = $sha.TransformBlock($buffer, 0, $read, $null, 0)
                    if ($dst) {
                        $dst.Write($buffer, 0, $read)
                    }
                    $left -= $read
                }
                $null = $sha.TransformFinalBlock((New-Object -TypeName byte[] -ArgumentList 0), 0, 0)
            }
            finally {
                $src.Dispose()
                if ($dst) {
                    $dst.Dispose()
                }
            }
            $digest = ([System.BitConverter]::ToString($sha.Hash) -replace '-', '').ToLowerInvariant()
            $sha.Dispose()
            $pieces.Add([ordered]@{ stream = $stream; start = $from; end = $to; sha256 = $digest; path = $source })
        }
    }
    finally {
        $lock.Dispose()
    }
    , $pieces.ToArray()
}

Function Read-RemoteJobPiece {
    <#
    .SYNOPSIS
    Bytes From..To of a stream not received past From yet: a planned piece read through the module's own result.
    .DESCRIPTION
    For a controller whose connection cannot read the job's files (become to another user). At most
    $script:ReadPieceMax bytes; read under the job's lock, so a concurrent commit cannot free the range mid-read.
    #>
    [CmdletBinding()]
    [OutputType([byte[]])]
    param (
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Job,
        [Parameter(Mandatory = $true)][string]$Stream,
        [Parameter(Mandatory = $true)][long]$From,
        [Parameter(Mandatory = $true)][long]$To
    )

    if ($script:Streams -notcontains $Stream) {
        throw [System.ArgumentException]::new("stream must be stdout or stderr, got '$Stream'")
    }
    if ($From -lt 0 -or $To -lt $From -or ($To - $From) -gt $script:ReadPieceMax) {
        throw [System.ArgumentException]::new("a piece read covers 0 to $($script:ReadPieceMax) bytes from a start of 0 or more, got $From..$To")
    }
    $length = [int]($To - $From)
    $data = New-Object -TypeName byte[] -ArgumentList $length
    $lock = Lock-RemoteJob -Path $Job.Dir
    try {
        $offsets = Get-RemoteJobOffset -Job $Job
        if ([long]$offsets[$Stream] -gt $From) {
            $said = "$Stream of job $($Job.Id) from byte $From was received by another receive meanwhile: run receive again"
            throw [System.InvalidOperationException]::new($said)
        }
        $src = [System.IO.File]::Open($Job.Paths[$Stream], [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, [System.IO.FileShare]'ReadWrite, Delete')
        try {
            $null = $src.Seek($From, [System.IO.SeekOrigin]::Begin)
            $done = 0
            while ($done -lt $length) {
                $read = $src.Read($data, $done, $length - $done)
                if ($read -le 0) {
                    throw [System.InvalidOperationException]::new("$Stream of job $($Job.Id) ends before byte ${To}: run receive again")
                }
                $done += $read
            }
        }
        finally {
            $src.Dispose()
        }
    }
    finally {
        $lock.Dispose()
    }
    , $data
}

# --- stop, remove ----------------------------------------------------------------------------------------------

Function Stop-RemoteJob {
    <#
    .SYNOPSIS
    Stops a running job's whole process tree by terminating its job object. True if the job was running.
    .DESCRIPTION
    Windows has no polite signal that every program honours (console control events reach only processes that
    share the sender's console), so the job object is terminated at once: every process in it ends with exit code
    1. stop.json, written first, makes the supervisor record the end as stopped/stop. Grace is how long stop waits
    (at least 10 seconds) for the supervisor to record that before it records it itself. A lost job whose command
    still runs is ended too.
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param (
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Job,
        [double]$Grace = 5
    )

    $native = [type]"$script:Native.NativeProcess"
    $null = Update-RemoteJobLost -Job $Job
    $st = $Job.State
    if (Test-RemoteJobFinished -Job $Job) {
        if ($st['reason'] -eq 'lost' -and (Test-RemoteJobProcess $st['pid'] $st['pid_start_time'])) {
            if ($st['job_object']) {
                $null = $native::TerminateJob([string]$st['job_object'], 1)
            }
            $null = $native::TerminateProcess([int]$st['pid'], [string]$st['pid_start_time'], 1)
            return $true
        }
        return $false
    }
    $stopFile = [System.IO.Path]::Combine($Job.Dir, 'stop.json')
    Write-RemoteJobJson -Path $stopFile -InputObject @{ requested = Get-RemoteJobTimestamp }
    try {
        $terminated = $false
        if ($st['job_object']) {
            $terminated = $native::TerminateJob([string]$st['job_object'], 1)
        }
        if (-not $terminated) {
            # No such job object here (the command never got one, or it lives in another session's namespace): end the
            # supervisor. Its handle was the job object's last one, and the job object kills what is in it on close.
            $null = $native::TerminateProcess([int]$st['supervisor_pid'], [string]$st['supervisor_start_time'], 1)
            if ($st['pid']) {
                $null = $native::TerminateProcess([int]$st['pid'], [string]$st['pid_start_time'], 1)
            }
        }
    }
    catch {
        $failure = $_
        # Nothing was stopped: left behind, stop.json would make the supervisor record the job's own end as a stop.
        try {
            [System.IO.File]::Delete($stopFile)
        }
        catch {
            $null = $_
        }
        throw $failure
    }
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    while ($clock.Elapsed.TotalSeconds -lt [Math]::Max(10, $Grace)) {
        Update-RemoteJobState -Job $Job
        if ((Test-RemoteJobFinished -Job $Job) -or -not (Test-RemoteJobProcess $Job.State['supervisor_pid'] $Job.State['supervisor_start_time'])) {
            break
        }
        Start-Sleep -Milliseconds 50
    }
    $lock = Lock-RemoteJob -Path $Job.Dir
    try {
        Update-RemoteJobState -Job $Job
        if (-not (Test-RemoteJobFinished -Job $Job)) {
            $change = @{
                state = 'stopped'; reason = 'stop'; finished = Get-RemoteJobTimestamp
                error = 'the supervisor did not record the end; stop recorded it'
            }
            Set-RemoteJobState -Job $Job -Change $change
        }
    }
    finally {
        $lock.Dispose()
    }
    $true
}

Function Remove-RemoteJob {
    <#
    .SYNOPSIS
    Deletes a job's folder: renamed out of sight first (atomic), then deleted. A named output_path file is kept.
    Returns false when the job was already gone.
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param ([Parameter(Mandatory = $true)][System.Collections.IDictionary]$Job)

    $trash = [System.IO.Path]::Combine($Job.Store.Root, ('.removing-{0}-{1}' -f $Job.Id, [Guid]::NewGuid().ToString('N').Substring(0, 6)))
    $attempt = 0
    while ($true) {
        if (-not [System.IO.Directory]::Exists($Job.Dir)) {
            return $false
        }
        try {
            [System.IO.Directory]::Move($Job.Dir, $trash)
            break
        }
        catch {
            # A process that just ended (or a virus scanner) may still hold a file in the folder for a moment.
            $attempt++
            if ($attempt -ge 50) {
                throw [System.InvalidOperationException]::new("cannot remove job $($Job.Id): $($_.Exception.Message)")
            }
            Start-Sleep -Milliseconds 100
        }
    }
    try {
        [System.IO.Directory]::Delete($trash, $true)
    }
    catch {
        $null = $_
    }
    $true
}

Function Remove-RemoteJobExpired {
    <#
    .SYNOPSIS
    Removes finished jobs whose retention has passed and outputs their ids, one by one.
    .DESCRIPTION
    Only the markers in <job_root>\.expire are listed, so this costs nothing however many jobs the store holds.
    Collect the ids with @(Remove-RemoteJobExpired ...): no id, one id and several ids are then all an array.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param ([Parameter(Mandatory = $true)][System.Collections.IDictionary]$Store)

    $folder = [System.IO.Path]::Combine($Store.Root, '.expire')
    if (-not [System.IO.Directory]::Exists($folder)) {
        return
    }
    $epoch = New-Object -TypeName DateTime -ArgumentList 1970, 1, 1, 0, 0, 0, ([DateTimeKind]::Utc)
    $now = ([DateTime]::UtcNow - $epoch).TotalMilliseconds
    foreach ($marker in @([System.IO.Directory]::GetFiles($folder) | ForEach-Object { [System.IO.Path]::GetFileName($_) } | Sort-Object)) {
        $due, $jobId = $marker -split '-', 2
        if ($due -notmatch '^\d+$' -or [double]$due -gt $now) {
            continue
        }
        $job = $null
        if ($jobId -cmatch '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\z') {
            $job = Get-RemoteJob -Store $Store -Id $jobId
        }
        if ($job -and (Test-RemoteJobFinished -Job $job) -and (Remove-RemoteJob -Job $job)) {
            $jobId
        }
        try {
            [System.IO.File]::Delete([System.IO.Path]::Combine($folder, $marker))
        }
        catch {
            $null = $_
        }
    }
}

# --- start and the supervisor ----------------------------------------------------------------------------------

Function Get-RemoteJobErrorMessage {
    <#
    .SYNOPSIS
    The message of an error record's exception, without the wrappers around it ("Exception calling ...").
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param ([Parameter(Mandatory = $true)][System.Management.Automation.ErrorRecord]$ErrorRecord)

    $exception = $ErrorRecord.Exception
    $wrappers = @([System.Management.Automation.MethodInvocationException], [System.AggregateException], [System.Reflection.TargetInvocationException])
    while ($exception.InnerException -and @($wrappers | Where-Object { $exception -is $_ }).Count) {
        $exception = $exception.InnerException
    }
    $exception.Message
}

Function New-RemoteJobPipe {
    <#
    .SYNOPSIS
    A named pipe server (duplex, asynchronous) that only this user can open.
    #>
    [CmdletBinding()]
    [OutputType([System.IO.Pipes.NamedPipeServerStream])]
    param ([Parameter(Mandatory = $true)][string]$Name)

    $security = New-Object -TypeName System.IO.Pipes.PipeSecurity
    $rule = New-Object -TypeName System.IO.Pipes.PipeAccessRule -ArgumentList @(
        [System.Security.Principal.WindowsIdentity]::GetCurrent().User,
        [System.IO.Pipes.PipeAccessRights]::FullControl, [System.Security.AccessControl.AccessControlType]::Allow
    )
    $security.AddAccessRule($rule)
    $arguments = @(
        $Name, [System.IO.Pipes.PipeDirection]::InOut, 1, [System.IO.Pipes.PipeTransmissionMode]::Byte,
        [System.IO.Pipes.PipeOptions]::Asynchronous, 0, 0, $security
    )
    if ('System.IO.Pipes.NamedPipeServerStreamAcl' -as [type]) {
        # PowerShell 7 (.NET 5+): the constructor that takes a PipeSecurity moved here.
        return [System.IO.Pipes.NamedPipeServerStreamAcl]::Create($arguments[0], $arguments[1], $arguments[2], $arguments[3],
            $arguments[4], $arguments[5], $arguments[6], $arguments[7])
    }
    New-Object -TypeName System.IO.Pipes.NamedPipeServerStream -ArgumentList $arguments
}

Function Start-RemoteJobSupervisor {
    <#
    .SYNOPSIS
    Starts a supervisor powershell.exe outside the job object of this WinRM/SSH shell. Returns ProcessId, StartTime.
    .DESCRIPTION
    CreateProcess with CREATE_BREAKAWAY_FROM_JOB when the shell's job allows breakaway, else Win32_Process.Create
    through CIM (the WMI service creates the process, outside any job of ours). The supervisor connects to the
    named pipe PipeName and waits for its payload; nothing secret is on its command line.
    #>
    [CmdletBinding()]
    [OutputType([hashtable])]
    param ([Parameter(Mandatory = $true)][string]$PipeName)

    $native = [type]"$script:Native.NativeProcess"
    $bootstrap = $script:SupervisorBootstrap.Replace('PIPE_NAME', $PipeName)
    $encoded = [Convert]::ToBase64String([System.Text.Encoding]::Unicode.GetBytes($bootstrap))
    $exe = [System.IO.Path]::Combine($env:SystemRoot, 'System32\WindowsPowerShell\v1.0\powershell.exe')
    $line = '"{0}" -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand {1}' -f $exe, $encoded
    # A folder no job lives in: a process's current folder cannot be renamed or removed.
    $cwd = $env:SystemRoot
    $breakawayError = $null
    if ($native::CanBreakaway()) {
        try {
            $created = $native::CreateBreakawayProcess($exe, $line, $cwd)
            return @{ ProcessId = $created.ProcessId; StartTime = $created.StartTime }
        }
        catch {
            # A job further out forbids breakaway: WMI can still start the supervisor.
            $breakawayError = Get-RemoteJobErrorMessage -ErrorRecord $_
        }
    }
    $startup = New-CimInstance -ClassName Win32_ProcessStartup -ClientOnly -Property @{ ShowWindow = [uint16]0 }
    $arguments = @{ CommandLine = $line; CurrentDirectory = $cwd; ProcessStartupInformation = $startup }
    $created = Invoke-CimMethod -ClassName Win32_Process -MethodName Create -Arguments $arguments
    if ($created.ReturnValue -ne 0) {
        $msg = 'Win32_Process.Create could not start the supervisor (return value {0})' -f $created.ReturnValue
        if ($breakawayError) {
            $msg += ', nor could CreateProcess: {0}' -f $breakawayError
        }
        throw [System.InvalidOperationException]::new($msg)
    }
    $processId = [int]$created.ProcessId
    @{ ProcessId = $processId; StartTime = $native::GetProcessStartTime($processId) }
}

Function Get-RemoteJobSupervisorScript {
    <#
    .SYNOPSIS
    The supervisor's code as text: the functions of $SupervisorFunctions (taken from this module, so there is one
    copy of them) and the call of Invoke-RemoteJobSupervisor with the payload and the pipe.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param ()

    $parts = foreach ($name in $script:SupervisorFunctions) {
        "Function $name {`n$((Get-Command -Name $name -CommandType Function | Select-Object -First 1).Definition)`n}"
    }
    $call = @(
        '$ErrorActionPreference = ''Stop'''
        'Invoke-RemoteJobSupervisor -Payload (ConvertTo-RemoteJobHashtable -InputObject $args[0]) -Pipe $args[1]'
    )
    (@($parts) + $call) -join "`n"
}

Function Invoke-RemoteJobSupervisor {
    <#
    .SYNOPSIS
    The supervisor of one job: runs in its own powershell.exe, started by Start-RemoteJob. Not for modules.
    .DESCRIPTION
    The module has created the command suspended, with this process as its parent, in a job object whose only
    lasting handle it duplicated into this process. The payload carries that handle, the stdin pipe's write end,
    the stdin text (never on disk), the command's pid and the timeout. The supervisor opens the command, replies
    "ready" (the module then lets the command run), feeds stdin, waits for the command to exit, closes the job
    object's handle when the timeout passes (the job object then ends every process in it), and writes the final
    state under the lock. When it exits, the job object closes and whatever the command left running ends too.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Payload,
        [Parameter(Mandatory = $true)][System.IO.Stream]$Pipe
    )

    $utf8 = New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false
    $reply = New-Object -TypeName System.IO.StreamWriter -ArgumentList $Pipe, $utf8
    $dir = [string]$Payload['job_dir']
    $stdin = $null
    $stdinTask = $null
    try {
        $jobHandle = New-Object -TypeName Microsoft.Win32.SafeHandles.SafeWaitHandle -ArgumentList ([IntPtr][long]$Payload['job_handle']), $true
        $process = [System.Diagnostics.Process]::GetProcessById([int]$Payload['pid'])
        # Opening the handle now keeps the exit code readable after the command exits.
        $null = $process.Handle
        if ($Payload['stdin_handle']) {
            $handle = New-Object -TypeName Microsoft.Win32.SafeHandles.SafeFileHandle -ArgumentList ([IntPtr][long]$Payload['stdin_handle']), $true
            # No buffer: the write runs on a pool thread and never blocks this loop, however little the command reads.
            $stdin = New-Object -TypeName System.IO.FileStream -ArgumentList $handle, ([System.IO.FileAccess]::Write), 1
            $bytes = $utf8.GetBytes([string]$Payload['stdin'])
            $stdinTask = $stdin.WriteAsync($bytes, 0, $bytes.Length)
        }
    }
    catch {
        $reply.WriteLine("error: $($_.Exception.Message)")
        $reply.Flush()
        return
    }
    $Payload['stdin'] = $null
    $reply.WriteLine('ready')
    $reply.Flush()
    $Pipe.Dispose()

    $timeout = $Payload['timeout']
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    $timedOut = $false
    $final = @{ signal = $null; state = 'failed'; reason = 'exit' }
    try {
        while (-not $process.WaitForExit(100)) {
            if ($stdin -and $stdinTask.IsCompleted) {
                $stdin.Dispose()
                $stdin = $null
            }
            if ($null -ne $timeout -and $clock.Elapsed.TotalSeconds -ge [double]$timeout) {
                # The job object's last handle: closing it ends every process in the job.
                $timedOut = $true
                $jobHandle.Dispose()
                $process.WaitForExit()
                break
            }
        }
        $final.rc = $process.ExitCode
    }
    catch {
        $final.reason = 'lost'
        $final.error = "the supervisor failed: $($_.Exception.Message)"
    }
    $lock = Lock-RemoteJob -Path $dir
    try {
        $final.finished = Get-RemoteJobTimestamp
        if ([System.IO.File]::Exists([System.IO.Path]::Combine($dir, 'stop.json'))) {
            $final.state = 'stopped'
            $final.reason = 'stop'
        }
        elseif ($timedOut) {
            $final.state = 'stopped'
            $final.reason = 'timeout'
            $final.error = 'the job ran longer than its timeout of {0} seconds' -f $timeout
        }
        elseif ($final.reason -eq 'exit' -and $final.rc -eq 0) {
            $final.state = 'completed'
        }
        $path = [System.IO.Path]::Combine($dir, 'state.json')
        $state = Read-RemoteJobJson -Path $path -Default @{}
        foreach ($key in $final.Keys) {
            $state[$key] = $final[$key]
        }
        Write-RemoteJobJson -Path $path -InputObject $state
    }
    finally {
        $lock.Dispose()
    }
    Add-RemoteJobExpiry -Root ([System.IO.Path]::GetDirectoryName($dir)) -Id ([System.IO.Path]::GetFileName($dir)) -Retention $Payload['retention']
}

Function New-RemoteJobLaunch {
    <#
    .SYNOPSIS
    First half of starting one job: its folder under a temporary name, and its supervisor on the way up.
    #>
    [CmdletBinding()]
    [OutputType([hashtable])]
    param (
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Store,
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Spec,
        [string]$Created
    )

    if (-not $Created) {
        $Created = Get-RemoteJobTimestamp
    }
    $jobId = $Spec['id']
    if (-not $jobId) {
        $jobId = New-RemoteJobId
    }
    $jobId = Assert-RemoteJobId -Id ([string]$jobId)
    $root = $Store.Root
    $final = [System.IO.Path]::Combine($root, $jobId)
    if ([System.IO.Directory]::Exists($final) -or [System.IO.File]::Exists($final)) {
        throw [System.InvalidOperationException]::new("a job with id $jobId already exists in ${root}: choose another id or remove that job")
    }
    $outputPath = $null
    if ($Spec['output_path']) {
        $outputPath = Resolve-RemoteJobPath -Path ([string]$Spec['output_path'])
    }
    $argv = $null
    if ($null -ne $Spec['argv']) {
        $argv = [string[]]@($Spec['argv'])
    }
    $envKeys = @()
    if ($Spec['env']) {
        $envKeys = @($Spec['env'].Keys | ForEach-Object { [string]$_ } | Sort-Object)
    }
    $stdoutPath = $outputPath
    if (-not $stdoutPath) {
        $stdoutPath = [System.IO.Path]::Combine($final, 'stdout')
    }
    $timeout = $null
    if ($null -ne $Spec['timeout']) {
        # Through its invariant text: Ansible.Basic's float is a Single, and [double][single]0.1 is 0.10000000149.
        $timeout = [double]"$($Spec['timeout'])"
    }
    $results = $Spec['results']
    if (-not $results) {
        $results = 'target'
    }
    $retention = $null
    if ($null -ne $Spec['retention']) {
        $retention = ConvertTo-RemoteJobDuration -Value $Spec['retention'] -Option 'retention'
    }
    $record = [ordered]@{
        schema = 1
        id = $jobId
        name = $Spec['name']
        command = $Spec['command']
        argv = $argv
        executable = $Spec['executable']
        chdir = $Spec['chdir']
        env_keys = $envKeys
        has_stdin = $null -ne $Spec['stdin']
        timeout = $timeout
        results = $results
        output_path = $outputPath
        results_dir = $Spec['results_dir']
        retention = $retention
        stdout_path = $stdoutPath
        stderr_path = [System.IO.Path]::Combine($final, 'stderr')
        created = $Created
        location = $Store.Location
    }
    $temp = [System.IO.Path]::Combine($root, ('.new-{0}-{1}' -f $jobId, [Guid]::NewGuid().ToString('N').Substring(0, 6)))
    $null = [System.IO.Directory]::CreateDirectory($temp)
    $launch = @{ Id = $jobId; Final = $final; Temp = $temp; Record = $record; Spec = $Spec; Pipe = $null; Connect = $null; Supervisor = $null }
    try {
        Write-RemoteJobJson -Path ([System.IO.Path]::Combine($temp, 'job.json')) -InputObject $record
        $files = @('stderr', '.lock')
        if (-not $outputPath) {
            $files += 'stdout'
        }
        foreach ($file in $files) {
            [System.IO.File]::Open([System.IO.Path]::Combine($temp, $file), [System.IO.FileMode]::OpenOrCreate).Dispose()
        }
        # An output_path file may hold earlier text: this job's output starts at its present end.
        $stdoutStart = 0
        if ($outputPath) {
            try {
                $share = [System.IO.FileShare]'ReadWrite, Delete'
                $file = [System.IO.File]::Open($outputPath, [System.IO.FileMode]::Append, [System.IO.FileAccess]::Write, $share)
                try {
                    $stdoutStart = $file.Length
                }
                finally {
                    $file.Dispose()
                }
            }
            catch {
                throw [System.InvalidOperationException]::new("cannot open output_path ${outputPath}: $(Get-RemoteJobErrorMessage -ErrorRecord $_)")
            }
        }
        Write-RemoteJobJson -Path ([System.IO.Path]::Combine($temp, 'offsets.json')) -InputObject @{ stdout = $stdoutStart; stderr = 0 }
        $pipeName = 'remote.jobs-{0}-{1}' -f $jobId, [Guid]::NewGuid().ToString('N')
        $launch.Pipe = New-RemoteJobPipe -Name $pipeName
        $launch.Connect = $launch.Pipe.BeginWaitForConnection($null, $null)
        $launch.Supervisor = Start-RemoteJobSupervisor -PipeName $pipeName
    }
    catch {
        $failure = $_
        Close-RemoteJobLaunch -Launch $launch
        throw $failure
    }
    $launch
}

Function Close-RemoteJobLaunch {
    <#
    .SYNOPSIS
    Undoes a launch that failed before its job folder got its real name: pipe, supervisor and temporary folder.
    #>
    [CmdletBinding()]
    param ([Parameter(Mandatory = $true)][System.Collections.IDictionary]$Launch)

    if ($Launch.Pipe) {
        $Launch.Pipe.Dispose()
    }
    if ($Launch.Supervisor) {
        # Without its pipe the supervisor exits by itself; this only makes sure of it.
        $null = ([type]"$script:Native.NativeProcess")::TerminateProcess([int]$Launch.Supervisor.ProcessId, [string]$Launch.Supervisor.StartTime, 1)
    }
    if ([System.IO.Directory]::Exists($Launch.Temp)) {
        try {
            [System.IO.Directory]::Delete($Launch.Temp, $true)
        }
        catch {
            $null = $_
        }
    }
}

Function Wait-RemoteJobTask {
    <#
    .SYNOPSIS
    Waits up to Timeout seconds for a Task or an IAsyncResult while the supervisor lives. True when it completed.
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param (
        [Parameter(Mandatory = $true)][object]$Awaitable,
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Supervisor,
        [double]$Timeout = 60
    )

    # .NET Framework's Begin* methods return an IAsyncResult, .NET's a Task (whose IAsyncResult members are explicit).
    $isTask = $Awaitable -is [System.Threading.Tasks.Task]
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    while ($true) {
        if ($isTask) {
            try {
                $done = $Awaitable.Wait(100)
            }
            catch {
                $done = $true
            }
        }
        else {
            $done = $Awaitable.AsyncWaitHandle.WaitOne(100)
        }
        if ($done) {
            return $true
        }
        if ($clock.Elapsed.TotalSeconds -ge $Timeout -or -not (Test-RemoteJobProcess $Supervisor.ProcessId $Supervisor.StartTime)) {
            return $Awaitable.IsCompleted
        }
    }
}

Function Get-RemoteJobCommandLine {
    <#
    .SYNOPSIS
    What CreateProcess runs for a job: @{ Application; CommandLine }. command runs as a PowerShell script block.
    #>
    [CmdletBinding()]
    [OutputType([hashtable])]
    param ([Parameter(Mandatory = $true)][System.Collections.IDictionary]$Record)

    $commandLine = [type]"$script:Native.CommandLine"
    if ($null -ne $Record.argv) {
        return @{ Application = $null; CommandLine = $commandLine::Join([string[]]$Record.argv) }
    }
    $exe = $Record.executable
    if (-not $exe) {
        $exe = [System.IO.Path]::Combine($env:SystemRoot, 'System32\WindowsPowerShell\v1.0\powershell.exe')
    }
    # UTF-8 output, as the receive side decodes it; the console of the command may refuse, then it stays as is.
    $preamble = 'try { [Console]::OutputEncoding = New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false } catch { $null = $_ }'
    $script = "$preamble`n$($Record.command)"
    $encoded = [Convert]::ToBase64String([System.Text.Encoding]::Unicode.GetBytes($script))
    $argv = @($exe, '-NoLogo', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-EncodedCommand', $encoded)
    $application = $null
    if ([System.IO.Path]::IsPathRooted($exe)) {
        $application = $exe
    }
    @{ Application = $application; CommandLine = $commandLine::Join([string[]]$argv) }
}

Function Complete-RemoteJobLaunch {
    <#
    .SYNOPSIS
    Second half of starting one job: publish its folder, create the command, hand it to the supervisor, let it run.
    .DESCRIPTION
    Returns the job. A command that cannot be started leaves a job in state failed, reason spawn_error; a failure
    before the job folder got its real name throws and leaves nothing behind.
    #>
    [CmdletBinding()]
    [OutputType([hashtable])]
    param (
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Store,
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Launch
    )

    $native = [type]"$script:Native.NativeProcess"
    $supervisor = $Launch.Supervisor
    $record = $Launch.Record
    try {
        if (-not (Wait-RemoteJobTask -Awaitable $Launch.Connect -Supervisor $supervisor)) {
            throw [System.InvalidOperationException]::new('the supervisor did not connect within 60 seconds')
        }
        $Launch.Pipe.EndWaitForConnection($Launch.Connect)
        $client = $native::GetNamedPipeClientProcessId($Launch.Pipe.SafePipeHandle)
        if ($client -ne $supervisor.ProcessId) {
            throw [System.InvalidOperationException]::new("process $client, not the supervisor, connected to the supervisor's pipe")
        }
        $state = [ordered]@{
            state = 'running'; reason = $null; rc = $null; signal = $null; error = $null
            pid = $null; pid_start_time = $null
            supervisor_pid = $supervisor.ProcessId; supervisor_start_time = $supervisor.StartTime
            job_object = 'remote.jobs.{0}.{1}' -f $Launch.Id, [Guid]::NewGuid().ToString('N')
            started = Get-RemoteJobTimestamp; finished = $null
        }
        Write-RemoteJobJson -Path ([System.IO.Path]::Combine($Launch.Temp, 'state.json')) -InputObject $state
        try {
            [System.IO.Directory]::Move($Launch.Temp, $Launch.Final)
        }
        catch {
            throw [System.InvalidOperationException]::new("could not create the job folder $($Launch.Final): $(Get-RemoteJobErrorMessage -ErrorRecord $_)")
        }
    }
    catch {
        $failure = $_
        Close-RemoteJobLaunch -Launch $Launch
        throw $failure
    }

    # The job exists from here on: a failure is recorded in it as a spawn error.
    $job = New-RemoteJobObject -Store $Store -Id $Launch.Id
    $spec = $Launch.Spec
    $process = $null
    $failure = $null
    try {
        $run = Get-RemoteJobCommandLine -Record $record
        if ($run.CommandLine.Length -gt 32766) {
            throw [System.ArgumentException]::new(('the command line would be {0} characters, more than Windows allows (32766)' -f $run.CommandLine.Length))
        }
        $environment = @{}
        foreach ($entry in [Environment]::GetEnvironmentVariables().GetEnumerator()) {
            $environment[[string]$entry.Key] = [string]$entry.Value
        }
        if ($spec['env']) {
            foreach ($key in @($spec['env'].Keys)) {
                $environment[[string]$key] = [string]$spec['env'][$key]
            }
        }
        # As on POSIX, the command knows its job's folder (a stop needs no marker here: the job object holds the tree).
        $environment['REMOTE_JOBS_JOB'] = $job.Dir
        $cwd = $env:USERPROFILE
        if ($record.chdir) {
            $cwd = Resolve-RemoteJobPath -Path ([string]$record.chdir)
        }
        $process = $native::StartJobProcess($supervisor.ProcessId, $supervisor.StartTime, $run.Application, $run.CommandLine, $cwd, $environment,
            $job.Paths.stdout, $job.Paths.stderr, ($null -ne $spec['stdin']), $state.job_object)
        $lock = Lock-RemoteJob -Path $job.Dir
        try {
            Set-RemoteJobState -Job $job -Change @{ pid = $process.ProcessId; pid_start_time = $process.StartTime }
        }
        finally {
            $lock.Dispose()
        }
        $payload = @{
            script = Get-RemoteJobSupervisorScript
            job_dir = $job.Dir
            pid = $process.ProcessId
            job_handle = $process.JobHandleInSupervisor
            stdin_handle = $process.StdinHandleInSupervisor
            stdin = $spec['stdin']
            timeout = $record.timeout
            retention = $record.retention
        }
        $utf8 = New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false
        $writer = New-Object -TypeName System.IO.StreamWriter -ArgumentList $Launch.Pipe, $utf8
        $writer.WriteLine((ConvertTo-Json -InputObject $payload -Depth 5 -Compress))
        $writer.Flush()
        $payload = $null
        $reader = New-Object -TypeName System.IO.StreamReader -ArgumentList $Launch.Pipe, $utf8
        $answer = $reader.ReadLineAsync()
        if (-not (Wait-RemoteJobTask -Awaitable $answer -Supervisor $supervisor)) {
            throw [System.InvalidOperationException]::new('the supervisor did not take over the command within 60 seconds')
        }
        if ($answer.Result -ne 'ready') {
            throw [System.InvalidOperationException]::new("the supervisor could not take over the command: $($answer.Result)")
        }
        $process.Resume()
    }
    catch {
        $failure = Get-RemoteJobErrorMessage -ErrorRecord $_
        # End the supervisor first, so it cannot record an exit of the command over the spawn error.
        $null = $native::TerminateProcess([int]$supervisor.ProcessId, [string]$supervisor.StartTime, 1)
        if ($process) {
            $process.Terminate(1)
        }
    }
    finally {
        if ($process) {
            $process.Dispose()
        }
        $Launch.Pipe.Dispose()
    }
    if ($failure) {
        $lock = Lock-RemoteJob -Path $job.Dir
        try {
            Set-RemoteJobState -Job $job -Change @{ state = 'failed'; reason = 'spawn_error'; error = $failure; finished = Get-RemoteJobTimestamp }
        }
        finally {
            $lock.Dispose()
        }
        Add-RemoteJobExpiry -Root $Store.Root -Id $job.Id -Retention $record.retention
    }
    Update-RemoteJobState -Job $job
    $job
}

Function Start-RemoteJob {
    <#
    .SYNOPSIS
    Starts every job in Spec (dictionaries of start options) and returns the jobs, in order.
    .DESCRIPTION
    All supervisors are launched first and finish starting while the next job folders are prepared, so starting
    many jobs costs little more than starting one. env values and stdin travel only in memory: env into the
    command's environment block, stdin through the supervisor's pipe.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Store,
        [Parameter(Mandatory = $true)][object[]]$Spec
    )

    Initialize-RemoteJobStore -Store $Store
    # Ids that cannot be used fail the batch before anything runs (a batch stopped half way would leave jobs running
    # that its failed task does not report).
    foreach ($item in $Spec) {
        $wanted = (ConvertTo-RemoteJobHashtable -InputObject $item)['id']
        if ($wanted) {
            $path = [System.IO.Path]::Combine($Store.Root, (Assert-RemoteJobId -Id ([string]$wanted)))
            if ([System.IO.Directory]::Exists($path) -or [System.IO.File]::Exists($path)) {
                throw [System.InvalidOperationException]::new("a job with id $wanted already exists in $($Store.Root): choose another id or remove that job")
            }
        }
    }
    $launches = New-Object -TypeName System.Collections.Generic.List[object]
    # Each job of the batch is created at least a millisecond after the one before (as _next_created of POSIX), so
    # Select-RemoteJob lists a batch in its own order.
    $last = [DateTime]::MinValue
    try {
        foreach ($item in $Spec) {
            $now = [DateTime]::UtcNow
            if ($now -le $last.AddMilliseconds(1)) {
                $now = $last.AddMilliseconds(1)
            }
            $last = $now
            $created = Get-RemoteJobTimestamp -Time $now
            $launches.Add((New-RemoteJobLaunch -Store $Store -Spec (ConvertTo-RemoteJobHashtable -InputObject $item) -Created $created))
        }
    }
    catch {
        $failure = $_
        foreach ($launch in $launches) {
            Close-RemoteJobLaunch -Launch $launch
        }
        throw $failure
    }
    $started = New-Object -TypeName System.Collections.Generic.List[object]
    for ($i = 0; $i -lt $launches.Count; $i++) {
        try {
            $started.Add((Complete-RemoteJobLaunch -Store $Store -Launch $launches[$i]))
        }
        catch {
            $failure = $_
            for ($j = $i + 1; $j -lt $launches.Count; $j++) {
                Close-RemoteJobLaunch -Launch $launches[$j]
            }
            # The jobs before it run: the caller reports them with the error (as POSIX).
            $failure.Exception.Data['started'] = $started.ToArray()
            throw $failure
        }
    }
    $started.ToArray()
}

# --- results ---------------------------------------------------------------------------------------------------

Function Add-RemoteJobOutput {
    <#
    .SYNOPSIS
    Adds stdout, stderr, stdout_lines, stderr_lines, truncated and removed to a job view from a read's Data.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$View,
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Data,
        [bool]$Truncated
    )

    foreach ($stream in $script:Streams) {
        # Undecodable bytes become U+FFFD, as errors='replace' does on POSIX.
        $text = [System.Text.Encoding]::UTF8.GetString([byte[]]$Data[$stream])
        $lines = @()
        if ($text.Length) {
            $lines = [regex]::Split($text, '\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]')
            if ($text -match '(\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029])\z') {
                $lines = $lines[0..($lines.Count - 2)]
            }
        }
        $View[$stream] = $text
        $View["$($stream)_lines"] = @($lines)
    }
    $View['truncated'] = $Truncated
    $View['removed'] = $false
}

Function Add-RemoteJobResult {
    <#
    .SYNOPSIS
    Fills a module result the way job_result() of POSIX does: changed, jobs, and for exactly one job its fields
    at the top level too (except results, which Ansible reserves), without overwriting keys already set.
    #>
    [CmdletBinding()]
    param (
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Result,
        [Parameter(Mandatory = $true)][AllowEmptyCollection()][object[]]$View,
        [bool]$Changed
    )

    $Result['changed'] = $Changed
    $Result['jobs'] = $View
    if ($View.Count -eq 1) {
        $present = @($Result.Keys)
        foreach ($key in $View[0].Keys) {
            if ($key -ne 'results' -and $present -notcontains $key) {
                $Result[$key] = $View[0][$key]
            }
        }
    }
}

# --- the win_* modules ------------------------------------------------------------------------------------------

Function Get-RemoteJobDeclaration {
    <#
    .SYNOPSIS
    The declarations of a remote.jobs.job task, checked (definitions and check_declare of _declare.py); throws a
    message that says what to do.
    .DESCRIPTION
    One hashtable per declaration, in the order of the task: the items of jobs, or the one job the top-level
    options describe. Each holds the start options plus state, recreate and results; an item of jobs without its
    own state, recreate or results takes the task's. Names must be unique; they compare ignoring case, as Windows
    compares job names. Returns the declarations as one array: assign the call, do not wrap it in @().
    #>
    [CmdletBinding()]
    [OutputType([object[]])]
    param ([Parameter(Mandatory = $true)][System.Collections.IDictionary]$Params)

    $p = ConvertTo-RemoteJobHashtable -InputObject $Params
    foreach ($key in 'wait_timeout', 'max_bytes', 'grace') {
        if ($null -ne $p[$key] -and $p[$key] -lt 0) {
            throw [System.ArgumentException]::new(('{0} must not be negative, got {1}' -f $key, $p[$key]))
        }
    }
    $single = $null -eq $p['jobs']
    $items = New-Object -TypeName System.Collections.Generic.List[object]
    if ($single) {
        $one = @{}
        foreach ($key in $script:DeclarationStartKeys) {
            $one[$key] = $p[$key]
        }
        $items.Add($one)
    }
    else {
        foreach ($job in $p['jobs']) {
            $copy = @{}
            if ($job -is [System.Collections.IDictionary]) {
                foreach ($key in @($job.Keys)) {
                    $copy[$key] = $job[$key]
                }
            }
            $items.Add($copy)
        }
    }
    foreach ($item in $items) {
        foreach ($key in 'state', 'recreate', 'results') {
            if ($null -eq $item[$key]) {
                $item[$key] = $p[$key]
            }
        }
        if (-not $item['state']) {
            $item['state'] = 'started'
        }
        $item['recreate'] = [bool]$item['recreate']
        if (-not $item['results']) {
            $item['results'] = 'target'
        }
    }

    # A hashtable's keys ignore case: on Windows, job names match case-insensitively (Select-RemoteJob).
    $seen = @{}
    for ($index = 0; $index -lt $items.Count; $index++) {
        $item = $items[$index]
        $where = 'name'
        if (-not $single) {
            $where = 'jobs[{0}]' -f $index
        }
        $jobName = $item['name']
        if ($jobName -isnot [string] -or -not $jobName.Trim()) {
            throw [System.ArgumentException]::new(('{0}: a job needs a non-empty name, the key its declaration is matched by' -f $where))
        }
        if ($seen.ContainsKey($jobName)) {
            throw [System.ArgumentException]::new(('{0}: the name {1} is declared twice: each name may appear once in jobs' -f $where, $jobName))
        }
        $seen[$jobName] = $true
        $defined = $null -ne $item['command'] -or $null -ne $item['argv']
        if ($item['state'] -eq 'started' -or $item['state'] -eq 'finished' -or $defined) {
            try {
                Assert-RemoteJobStartSpec -Spec $item
            }
            catch {
                throw [System.ArgumentException]::new(('job {0} (state {1}): {2}' -f $jobName, $item['state'], $_.Exception.Message))
            }
        }
    }
    , $items.ToArray()
}

Function New-RemoteJobModule {
    <#
    .SYNOPSIS
    The start every win_* module shares: creates its Ansible.Basic module, checks the arguments, opens the job
    store, removes expired jobs and selects the jobs the verb acts on. Fails the module with a message on any error.
    .DESCRIPTION
    Returns a hashtable:
      Module        the [Ansible.Basic.AnsibleModule]; its Result already holds changed (false), jobs (empty) and,
                    when jobs expired, expired
      Params        Module.Params
      Store         the job store (Open-RemoteJobStore); nothing is created on the target
      Expired       ids of the jobs just removed because their retention passed; none in check mode
      Jobs          the jobs the verb acts on, oldest first; empty for start and job
      Declarations  job only: the declarations of the task (Get-RemoteJobDeclaration)
    What is selected depends on Verb, as on POSIX: info lists by id, name (wildcards), state and has_more_data;
    remove selects by id, name (wildcards), state and older_than; receive, wait and stop need every id and every
    name to match a job.
    A bad argument fails the module with its own message, as on POSIX; a job store that cannot be opened fails with
    "opening the job store failed: ...", a selection with "selecting the jobs failed: ...".
    .PARAMETER Arguments
    The $args of the module script, passed on to [Ansible.Basic.AnsibleModule]::Create.
    .PARAMETER Spec
    The module's argument spec.
    .PARAMETER Verb
    The verb the module implements: start, info, receive, wait, stop, remove or job.
    .EXAMPLE
    $context = New-RemoteJobModule -Arguments $args -Spec $spec -Verb 'stop'
    $module = $context.Module
    #>
    [CmdletBinding()]
    [OutputType([hashtable])]
    param (
        [Parameter(Mandatory = $true)][AllowEmptyCollection()][object[]]$Arguments,
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Spec,
        [Parameter(Mandatory = $true)][ValidateSet('start', 'info', 'receive', 'wait', 'stop', 'remove', 'job')][string]$Verb
    )

    $module = [Ansible.Basic.AnsibleModule]::Create([string[]]$Arguments, $Spec)
    $module.Result.changed = $false
    $module.Result.jobs = @()
    $params = $module.Params
    $context = @{ Module = $module; Params = $params; Store = $null; Expired = @(); Jobs = @(); Declarations = $null }

    # FailJson only in catch blocks: it ends the module, and nothing here should catch that.
    try {
        if ($Verb -eq 'job') {
            $context.Declarations = Get-RemoteJobDeclaration -Params $params
        }
        else {
            Assert-RemoteJobArgument -Params $params -Verb $Verb
        }
    }
    catch {
        $module.FailJson((Get-RemoteJobErrorMessage -ErrorRecord $_), $_)
    }

    try {
        $context.Store = Open-RemoteJobStore -Path $params.job_root
        if (-not $module.CheckMode) {
            $context.Expired = @(Remove-RemoteJobExpired -Store $context.Store)
        }
    }
    catch {
        $module.FailJson("opening the job store failed: $_", $_)
    }
    if ($context.Expired.Count) {
        $module.Result.expired = $context.Expired
    }

    $selection = $null
    if ($Verb -eq 'info') {
        $selection = @{ Id = $params.id; Name = $params.name; Glob = $true; State = $params.state; HasMoreData = $params.has_more_data }
    }
    elseif ($Verb -eq 'remove') {
        $selection = @{ Id = $params.id; Name = $params.name; Glob = $true; State = $params.state; OlderThan = $params.older_than }
    }
    elseif ($Verb -eq 'receive' -or $Verb -eq 'wait' -or $Verb -eq 'stop') {
        # In check mode a job that a start earlier in the same check run would have created is missing: it is left
        # out with a warning (as POSIX).
        $selection = @{ Id = $params.id; Name = $params.name; Require = (-not $module.CheckMode) }
    }
    if ($null -ne $selection) {
        try {
            $context.Jobs = @(Select-RemoteJob -Store $context.Store @selection)
        }
        catch {
            $module.FailJson("selecting the jobs failed: $_", $_)
        }
        if ($module.CheckMode -and -not $selection.Require -and $selection.ContainsKey('Require')) {
            $foundIds = @($context.Jobs | ForEach-Object { $_.Id })
            $foundNames = @($context.Jobs | ForEach-Object { $_.Spec['name'] })
            $missing = @(foreach ($jobId in @($params.id)) { if ($null -ne $jobId -and $foundIds -cnotcontains $jobId) { "id $jobId" } })
            if (-not $params.id) {
                $missing += @(foreach ($jobName in @($params.name)) { if ($null -ne $jobName -and $foundNames -notcontains $jobName) { "name $jobName" } })
            }
            foreach ($what in $missing) {
                $module.Warn("check mode: no job with $what (a start earlier in this check run would have created it, but check mode starts nothing)")
            }
        }
    }
    $context
}

Export-ModuleMember -Function @(
    'Add-RemoteJobExpiry', 'Add-RemoteJobOutput', 'Add-RemoteJobResult', 'Assert-RemoteJobArgument', 'Assert-RemoteJobId', 'Complete-RemoteJobReceive',
    'ConvertFrom-RemoteJobJson', 'ConvertTo-RemoteJobDuration', 'ConvertTo-RemoteJobHashtable', 'Get-RemoteJob', 'Get-RemoteJobDeclaration',
    'Get-RemoteJobErrorMessage', 'Get-RemoteJobFetchPlan', 'Get-RemoteJobOffset', 'Get-RemoteJobTimestamp', 'Get-RemoteJobUtf8End', 'Get-RemoteJobUtf8Length',
    'Get-RemoteJobView', 'Get-RemoteJobWouldStart', 'Initialize-RemoteJobStore', 'Invoke-RemoteJobSupervisor', 'Lock-RemoteJob', 'New-RemoteJobId',
    'New-RemoteJobModule', 'Open-RemoteJobStore',
    'Read-RemoteJobJson', 'Read-RemoteJobOutput', 'Read-RemoteJobPiece', 'Receive-RemoteJobOutput', 'Remove-RemoteJob', 'Remove-RemoteJobExpired',
    'Resolve-RemoteJobPath',
    'Select-RemoteJob', 'Start-RemoteJob', 'Stop-RemoteJob', 'Test-RemoteJobFinished', 'Test-RemoteJobMoreData', 'Test-RemoteJobName',
    'Test-RemoteJobDir', 'Test-RemoteJobStore', 'Update-RemoteJobLost', 'Update-RemoteJobState', 'Wait-RemoteJob', 'Write-RemoteJobJson'
)
