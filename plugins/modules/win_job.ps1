#!powershell

# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

#AnsibleRequires -CSharpUtil Ansible.Basic
#AnsibleRequires -PowerShell ansible_collections.remote.jobs.plugins.module_utils._JobStore
#AnsibleRequires -CSharpUtil ansible_collections.remote.jobs.plugins.module_utils._JobNative

# The Windows twin of remote.jobs.job (plugins/module_utils/_declare.py): the same options, plan and result.
# Every declaration of a task is planned first, then acted on in one pass: all starts go to Start-RemoteJob in one
# call and all waits are one Wait-RemoteJob. Planning and acting hold the lock <job_root>\.lock (Lock-RemoteJob), so
# two runs never both start the same name; waiting does not.
# _final and _wait_slice are internal (INTERNAL in _declare.py): only the action plugin passes them.

$definitionOptions = @{
    argv = @{ type = 'list'; elements = 'str' }
    chdir = @{ type = 'str' }
    command = @{ type = 'str' }
    env = @{ type = 'dict'; no_log = $true }
    executable = @{ type = 'str' }
    output_path = @{ type = 'str' }
    results_dir = @{ type = 'str' }
    retention = @{ type = 'raw' }
    stdin = @{ type = 'str'; no_log = $true }
    timeout = @{ type = 'float' }
}
$declaredStates = @('started', 'finished', 'stopped', 'absent')
$placements = @('target', 'controller')

# An item of jobs: state, recreate and results default to the task's own options. Spelled out rather than merged in
# a loop, so the spec reads as data (tests/unit/test_windows_specs.py evaluates it from the parse tree).
$itemOptions = @{
    argv = $definitionOptions.argv
    chdir = $definitionOptions.chdir
    command = $definitionOptions.command
    env = $definitionOptions.env
    executable = $definitionOptions.executable
    name = @{ type = 'str'; required = $true }
    output_path = $definitionOptions.output_path
    recreate = @{ type = 'bool' }
    results = @{ type = 'str'; choices = $placements }
    results_dir = $definitionOptions.results_dir
    retention = $definitionOptions.retention
    state = @{ type = 'str'; choices = $declaredStates }
    stdin = $definitionOptions.stdin
    timeout = $definitionOptions.timeout
}

$spec = @{
    options = @{
        _final = @{ type = 'bool'; default = $true }
        _wait_slice = @{ type = 'float' }
        argv = $definitionOptions.argv
        chdir = $definitionOptions.chdir
        command = $definitionOptions.command
        env = $definitionOptions.env
        executable = $definitionOptions.executable
        grace = @{ type = 'float'; default = 5 }
        job_root = @{ type = 'str' }
        jobs = @{ type = 'list'; elements = 'dict'; options = $itemOptions }
        max_bytes = @{ type = 'int'; default = 1048576 }
        name = @{ type = 'str' }
        output_path = $definitionOptions.output_path
        recreate = @{ type = 'bool'; default = $false }
        results = @{ type = 'str'; choices = $placements; default = 'target' }
        results_dir = $definitionOptions.results_dir
        retention = $definitionOptions.retention
        state = @{ type = 'str'; choices = $declaredStates; default = 'started' }
        stdin = $definitionOptions.stdin
        timeout = $definitionOptions.timeout
        wait_timeout = @{ type = 'float' }
    }
    mutually_exclusive = @(
        @('command', 'argv'), @('jobs', 'name'), @('jobs', 'command'), @('jobs', 'executable'), @('jobs', 'argv'), @('jobs', 'chdir'),
        @('jobs', 'env'), @('jobs', 'stdin'), @('jobs', 'timeout'), @('jobs', 'output_path'), @('jobs', 'results_dir'), @('jobs', 'retention')
    )
    required_one_of = @(, @('name', 'jobs'))
    supports_check_mode = $true
}

# --- definitions ------------------------------------------------------------------------------------------------

Function ConvertTo-ComparablePath {
    <#
    .SYNOPSIS
    A path as Windows resolves it (environment variables, ~, relative to the profile), without a trailing separator.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param ([AllowNull()][object]$Path)

    if (-not $Path) {
        return $null
    }
    try {
        $full = Resolve-RemoteJobPath -Path ([string]$Path)
    }
    catch {
        return [string]$Path
    }
    $trimmed = $full.TrimEnd('\', '/')
    if ($trimmed.EndsWith(':') -or -not $trimmed) {
        return $full
    }
    $trimmed
}

Function Get-SortedName {
    <#
    .SYNOPSIS
    Names as a sorted string array (ordinal, ignoring case, as Windows treats environment variable names).
    #>
    [CmdletBinding()]
    param ([AllowNull()][object]$Name)

    $names = New-Object -TypeName System.Collections.Generic.List[string]
    foreach ($item in $Name) {
        if ($null -ne $item) {
            $names.Add([string]$item)
        }
    }
    $names.Sort([System.StringComparer]::OrdinalIgnoreCase)
    , $names.ToArray()
}

Function ConvertTo-Number {
    <#
    .SYNOPSIS
    A number as a double through its invariant text (Ansible.Basic's float is a Single), or $null.
    #>
    [CmdletBinding()]
    param ([AllowNull()][object]$Value)

    if ($null -eq $Value) {
        return $null
    }
    [double]::Parse("$Value", [System.Globalization.CultureInfo]::InvariantCulture)
}

Function Get-DesiredDefinition {
    <#
    .SYNOPSIS
    What a declaration asks for, in the terms job.json records (env names only, never values).
    #>
    [CmdletBinding()]
    [OutputType([System.Collections.Specialized.OrderedDictionary])]
    param ([Parameter(Mandatory = $true)][System.Collections.IDictionary]$Item)

    $argv = $null
    if ($null -ne $Item['argv']) {
        $argv = [object[]]@(foreach ($arg in $Item['argv']) { [string]$arg })
    }
    $envKeys = @()
    if ($Item['env'] -is [System.Collections.IDictionary]) {
        $envKeys = Get-SortedName -Name @($Item['env'].Keys)
    }
    $results = $Item['results']
    if (-not $results) {
        $results = 'target'
    }
    $outputPath = $null
    if ($Item['output_path']) {
        # As Start-RemoteJob records it.
        try {
            $outputPath = Resolve-RemoteJobPath -Path ([string]$Item['output_path'])
        }
        catch {
            $outputPath = [string]$Item['output_path']
        }
    }
    [ordered]@{
        command = $Item['command']
        argv = $argv
        env_keys = $envKeys
        chdir = $Item['chdir']
        timeout = ConvertTo-Number -Value $Item['timeout']
        results = $results
        output_path = $outputPath
        results_dir = $Item['results_dir']
    }
}

Function Get-RecordedDefinition {
    <#
    .SYNOPSIS
    The definition in a job's job.json. results_dir only when the store records it.
    #>
    [CmdletBinding()]
    [OutputType([System.Collections.Specialized.OrderedDictionary])]
    param ([Parameter(Mandatory = $true)][System.Collections.IDictionary]$Job)

    $jobSpec = $Job.Spec
    $argv = $null
    if ($null -ne $jobSpec['argv']) {
        $argv = [object[]]@(foreach ($arg in $jobSpec['argv']) { [string]$arg })
    }
    $results = $jobSpec['results']
    if (-not $results) {
        $results = 'target'
    }
    $recorded = [ordered]@{
        command = $jobSpec['command']
        argv = $argv
        env_keys = Get-SortedName -Name $jobSpec['env_keys']
        chdir = $jobSpec['chdir']
        timeout = ConvertTo-Number -Value $jobSpec['timeout']
        results = $results
        output_path = $jobSpec['output_path']
    }
    if ($jobSpec.ContainsKey('results_dir')) {
        $recorded['results_dir'] = $jobSpec['results_dir']
    }
    $recorded
}

Function Test-DefinitionValue {
    <#
    .SYNOPSIS
    True when two values of a definition field are the same: lists item by item, numbers as doubles.
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param (
        [AllowNull()][object]$Before,
        [AllowNull()][object]$After,
        [switch]$IgnoreCase
    )

    if ($null -eq $Before -or $null -eq $After) {
        return ($null -eq $Before) -and ($null -eq $After)
    }
    $beforeIsList = $Before -is [System.Collections.IList]
    $afterIsList = $After -is [System.Collections.IList]
    if ($beforeIsList -or $afterIsList) {
        if (-not ($beforeIsList -and $afterIsList) -or $Before.Count -ne $After.Count) {
            return $false
        }
        for ($i = 0; $i -lt $Before.Count; $i++) {
            if (-not (Test-DefinitionValue -Before $Before[$i] -After $After[$i] -IgnoreCase:$IgnoreCase)) {
                return $false
            }
        }
        return $true
    }
    if ($Before -is [string] -or $After -is [string]) {
        if ($IgnoreCase) {
            return [string]$Before -eq [string]$After
        }
        return [string]$Before -ceq [string]$After
    }
    [double]$Before -eq [double]$After
}

Function Compare-JobDefinition {
    <#
    .SYNOPSIS
    {field: {before, after}} for every field of Recorded whose value Desired changes (definition_differences).
    .DESCRIPTION
    Paths (chdir, output_path) compare as Windows resolves them and, like environment variable names, ignoring case.
    #>
    [CmdletBinding()]
    [OutputType([System.Collections.Specialized.OrderedDictionary])]
    param (
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Desired,
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Recorded
    )

    $changed = [ordered]@{}
    foreach ($field in @($Recorded.Keys)) {
        $before = $Recorded[$field]
        $after = $Desired[$field]
        if ($field -eq 'chdir' -or $field -eq 'output_path') {
            $same = Test-DefinitionValue -Before (ConvertTo-ComparablePath -Path $before) -After (ConvertTo-ComparablePath -Path $after) -IgnoreCase
        }
        else {
            $same = Test-DefinitionValue -Before $before -After $after -IgnoreCase:($field -eq 'env_keys')
        }
        if (-not $same) {
            $changed[$field] = [ordered]@{ before = $before; after = $after }
        }
    }
    $changed
}

Function Get-DiffView {
    <#
    .SYNOPSIS
    A job as diff mode shows it: its definition without empty fields.
    #>
    [CmdletBinding()]
    [OutputType([System.Collections.Specialized.OrderedDictionary])]
    param (
        [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Definition,
        [AllowNull()][object]$Name,
        [AllowNull()][object]$State
    )

    $view = [ordered]@{ name = $Name; state = $State }
    foreach ($key in @($Definition.Keys)) {
        $value = $Definition[$key]
        if ($null -eq $value -or ($value -is [System.Collections.IList] -and $value.Count -eq 0) -or ($key -eq 'results' -and $value -eq 'target')) {
            continue
        }
        $view[$key] = $value
    }
    $view
}

Function Get-DescribedJob {
    <#
    .SYNOPSIS
    The diff view of a declaration's job before anything is done (state absent when there is none).
    #>
    [CmdletBinding()]
    [OutputType([System.Collections.Specialized.OrderedDictionary])]
    param (
        [AllowNull()][object]$Job,
        [Parameter(Mandatory = $true)][string]$Name
    )

    if ($null -eq $Job) {
        return [ordered]@{ name = $Name; state = 'absent' }
    }
    Get-DiffView -Definition (Get-RecordedDefinition -Job $Job) -Name $Name -State $Job.State['state']
}

# --- the declarations of the task ------------------------------------------------------------------------------

# Checks the arguments and every declaration (check_declare of _declare.py), opens the store and removes expired
# jobs; the declarations come back checked (definitions of _declare.py).
$context = New-RemoteJobModule -Arguments $args -Spec $spec -Verb 'job'
$module = $context.Module
$module.Result.definitions = @()
$params = ConvertTo-RemoteJobHashtable -InputObject $context.Params
$store = $context.Store
$items = $context.Declarations
$single = $null -eq $params['jobs']

$checkMode = $module.CheckMode
$waitTimeout = $params['wait_timeout']
if ($null -ne $params['_wait_slice']) {
    $waitTimeout = $params['_wait_slice']
}

# --- plan and act ---------------------------------------------------------------------------------------------

$plans = New-Object -TypeName System.Collections.Generic.List[object]
$acting = -not $checkMode -and @($items | Where-Object { $_['state'] -eq 'started' -or $_['state'] -eq 'finished' }).Count -gt 0
$lock = $null
$failure = $null
$step = 'selecting the jobs'
try {
    if ($acting) {
        $step = 'creating the job root'
        Initialize-RemoteJobStore -Store $store
    }
    $step = 'checking the job root'
    if (-not $checkMode -and (Test-RemoteJobStore -Store $store)) {
        $step = 'locking the job root'
        $lock = Lock-RemoteJob -Path $store.Root -Timeout 600
    }
    $step = 'selecting the jobs'
    $all = @()
    if ($items.Count) {
        $all = @(Select-RemoteJob -Store $store -Name @(foreach ($item in $items) { $item['name'] }))
    }
    foreach ($item in $items) {
        # Oldest first. A job that never ran (spawn error) does not count as the declared job: it is replaced.
        $existing = @($all | Where-Object { $_.Spec['name'] -eq $item['name'] })
        $usable = @($existing | Where-Object { $_.State['reason'] -ne 'spawn_error' })
        $current = $null
        if ($usable.Count) {
            $current = $usable[-1]
        }
        $state = $item['state']
        $defined = $null -ne $item['command'] -or $null -ne $item['argv']
        $differences = [ordered]@{}
        if ($null -ne $current -and $defined -and $state -ne 'absent') {
            $differences = Compare-JobDefinition -Desired (Get-DesiredDefinition -Item $item) -Recorded (Get-RecordedDefinition -Job $current)
        }
        $action = 'none'
        if ($state -eq 'started' -or $state -eq 'finished') {
            if ($null -eq $current) {
                $action = 'started'
            }
            elseif ($differences.Count -and $item['recreate']) {
                $action = 'recreated'
            }
        }
        elseif ($state -eq 'stopped') {
            if (@($existing | Where-Object { -not (Test-RemoteJobFinished -Job $_) }).Count) {
                $action = 'stopped'
            }
        }
        elseif ($existing.Count) {
            $action = 'removed'
        }
        $job = $null
        if ($state -eq 'started' -or $state -eq 'finished') {
            $job = $current
        }
        $plan = @{
            Declaration = $item
            Name = [string]$item['name']
            State = $state
            Existing = $existing
            Current = $current
            Differences = $differences
            Action = $action
            Job = $job
            Views = New-Object -TypeName System.Collections.Generic.List[object]
            Replaced = New-Object -TypeName System.Collections.Generic.List[string]
            Before = Get-DescribedJob -Job $current -Name ([string]$item['name'])
        }
        $plans.Add($plan)
    }

    if (-not $checkMode) {
        # Stop, remove and start what the plans decided; every start of the task in one Start-RemoteJob call.
        $starting = New-Object -TypeName System.Collections.Generic.List[object]
        foreach ($plan in $plans) {
            if ($plan.Action -eq 'started' -or $plan.Action -eq 'recreated') {
                # 'started' replaces only jobs that never ran (spawn errors); 'recreated' every job of the name.
                $step = 'replacing job(s) named {0}' -f $plan.Name
                foreach ($old in $plan.Existing) {
                    if (-not (Test-RemoteJobFinished -Job $old)) {
                        $null = Stop-RemoteJob -Job $old -Grace $params['grace']
                    }
                    $null = Remove-RemoteJob -Job $old
                    $plan.Replaced.Add([string]$old.Id)
                }
                $starting.Add($plan)
            }
            elseif ($plan.Action -eq 'stopped') {
                $step = 'stopping job(s) named {0}' -f $plan.Name
                foreach ($old in $plan.Existing) {
                    if (-not (Test-RemoteJobFinished -Job $old)) {
                        $null = Stop-RemoteJob -Job $old -Grace $params['grace']
                    }
                }
            }
            elseif ($plan.Action -eq 'removed') {
                $step = 'removing job(s) named {0}' -f $plan.Name
                foreach ($old in $plan.Existing) {
                    if (-not (Test-RemoteJobFinished -Job $old)) {
                        $null = Stop-RemoteJob -Job $old -Grace $params['grace']
                    }
                    $view = Get-RemoteJobView -Job $old
                    $view['removed'] = Remove-RemoteJob -Job $old
                    $plan.Views.Add($view)
                }
            }
        }
        if ($starting.Count) {
            $step = 'starting the jobs'
            $startSpecs = New-Object -TypeName System.Collections.Generic.List[object]
            foreach ($plan in $starting) {
                # The start options of the declaration (start_spec of _declare.py): all of it but state and recreate.
                $startSpec = @{}
                foreach ($key in @($plan.Declaration.Keys)) {
                    if ($key -ne 'state' -and $key -ne 'recreate') {
                        $startSpec[$key] = $plan.Declaration[$key]
                    }
                }
                $startSpecs.Add($startSpec)
            }
            $started = @(Start-RemoteJob -Store $store -Spec $startSpecs.ToArray())
            for ($i = 0; $i -lt $starting.Count -and $i -lt $started.Count; $i++) {
                $starting[$i].Job = $started[$i]
            }
        }
    }
}
catch {
    $failure = $_
}
finally {
    if ($null -ne $lock) {
        $lock.Dispose()
    }
}
if ($null -ne $failure) {
    $module.FailJson("$step failed: $failure", $failure)
}

# --- wait and report ------------------------------------------------------------------------------------------

$failures = New-Object -TypeName System.Collections.Generic.List[string]
$waiting = New-Object -TypeName System.Collections.Generic.List[object]
foreach ($plan in $plans) {
    $isStart = $plan.Action -eq 'started' -or $plan.Action -eq 'recreated'
    if ($isStart -and $null -ne $plan.Job -and $plan.Job.State['reason'] -eq 'spawn_error') {
        $failures.Add(('job {0} could not be started: {1}' -f $plan.Name, $plan.Job.State['error']))
    }
    if ($plan.State -eq 'finished' -and $null -ne $plan.Job) {
        $waiting.Add($plan.Job)
    }
}
$timedOut = $false
if ($waiting.Count -and -not $checkMode -and -not $failures.Count) {
    try {
        $timedOut = Wait-RemoteJob -Job $waiting.ToArray() -Timeout $waitTimeout
    }
    catch {
        $module.FailJson("waiting for the jobs failed: $_", $_)
    }
}
$pending = $timedOut -and -not $params['_final']

$views = New-Object -TypeName System.Collections.Generic.List[object]
try {
    foreach ($plan in $plans) {
        if ($plan.State -eq 'started' -or $plan.State -eq 'finished') {
            $plan.Views.Clear()
            if ($null -ne $plan.Job) {
                $plan.Views.Add((Get-RemoteJobView -Job $plan.Job))
            }
        }
        elseif ($plan.State -eq 'stopped' -or $checkMode) {
            $plan.Views.Clear()
            foreach ($old in $plan.Existing) {
                $plan.Views.Add((Get-RemoteJobView -Job $old))
            }
        }
        # else absent, acted on: the views of the removed jobs were kept above.
        if ($plan.State -eq 'finished' -and $null -ne $plan.Job -and -not $pending) {
            # Kept, not consumed: a second run returns the output again and changes nothing.
            $read = Receive-RemoteJobOutput -Job $plan.Job -Keep -MaxBytes $params['max_bytes']
            $view = $plan.Views[0]
            Add-RemoteJobOutput -View $view -Data $read.Data -Truncated $read.Truncated
            # Add-RemoteJobOutput also sets removed, which the POSIX module adds for absent only.
            $view.Remove('removed')
        }
        foreach ($view in $plan.Views) {
            $views.Add($view)
        }
    }
}
catch {
    $module.FailJson("reading the jobs failed: $_", $_)
}

$changed = $false
$reports = New-Object -TypeName System.Collections.Generic.List[object]
foreach ($plan in $plans) {
    $planChanged = $plan.Action -ne 'none'
    $changed = $changed -or $planChanged
    $ids = New-Object -TypeName System.Collections.Generic.List[string]
    foreach ($view in $plan.Views) {
        $ids.Add([string]$view['id'])
    }
    $report = [ordered]@{
        name = $plan.Name
        state = $plan.State
        action = $plan.Action
        changed = $planChanged
        definition_changed = $plan.Differences.Count -gt 0
        differences = $plan.Differences
        ids = $ids.ToArray()
        replaced = $plan.Replaced.ToArray()
    }
    $reports.Add($report)
}

$module.Result.definitions = $reports.ToArray()
if ($single -and $reports.Count) {
    $module.Result.action = $reports[0]['action']
    $module.Result.definition_changed = $reports[0]['definition_changed']
    $module.Result.differences = $reports[0]['differences']
}
Add-RemoteJobResult -Result $module.Result -View $views.ToArray() -Changed $changed

foreach ($plan in $plans) {
    if ($plan.Differences.Count -and $plan.Action -eq 'none' -and ($plan.State -eq 'started' -or $plan.State -eq 'finished')) {
        $fields = (@($plan.Differences.Keys) | Sort-Object -CaseSensitive) -join ', '
        $module.Warn(('job {0} ({1}) differs from its definition in {2}: pass recreate: true to replace it' -f $plan.Name, $plan.Current.Id, $fields))
    }
}

if ($module.DiffMode) {
    $diffs = New-Object -TypeName System.Collections.Generic.List[object]
    foreach ($plan in $plans) {
        $before = $plan.Before
        if ($plan.Action -eq 'started' -or $plan.Action -eq 'recreated') {
            $afterState = 'running'
            if ($null -ne $plan.Job -and -not $checkMode) {
                $afterState = $plan.Job.State['state']
            }
            $after = Get-DiffView -Definition (Get-DesiredDefinition -Item $plan.Declaration) -Name $plan.Name -State $afterState
        }
        elseif ($plan.Action -eq 'stopped') {
            $after = [ordered]@{}
            foreach ($key in @($before.Keys)) {
                $after[$key] = $before[$key]
            }
            $after['state'] = 'stopped'
        }
        elseif ($plan.Action -eq 'removed') {
            $after = [ordered]@{ name = $plan.Name; state = 'absent' }
        }
        else {
            $after = $before
        }
        $diffs.Add([ordered]@{ before = $before; after = $after; before_header = $plan.Name; after_header = $plan.Name })
    }
    if ($single -and $diffs.Count) {
        foreach ($key in @($diffs[0].Keys)) {
            $module.Diff[$key] = $diffs[0][$key]
        }
    }
    else {
        # Several declarations: a list of diffs, as the POSIX module returns (Ansible shows each).
        $module.Result.diff = $diffs.ToArray()
    }
}

if ($waiting.Count -and -not $checkMode) {
    $module.Result.timed_out = $timedOut
}
if ($failures.Count) {
    $module.FailJson(($failures -join '; '))
}
if ($pending) {
    # A slice of a longer wait: the action plugin calls again.
    $module.Result.pending = $true
}
elseif ($timedOut) {
    $running = New-Object -TypeName System.Collections.Generic.List[string]
    foreach ($plan in $plans) {
        if ($null -ne $plan.Job -and $plan.State -eq 'finished' -and -not (Test-RemoteJobFinished -Job $plan.Job)) {
            $running.Add(('{0} ({1})' -f $plan.Name, $plan.Job.Id))
        }
    }
    $label = $params['wait_timeout']
    if ($null -eq $label) {
        $label = $waitTimeout
    }
    $module.FailJson(('{0} job(s) still running after waiting {1} seconds (wait_timeout): {2}' -f $running.Count, $label, ($running -join ', ')))
}
$module.ExitJson()
