#!powershell

# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

#AnsibleRequires -CSharpUtil Ansible.Basic
#AnsibleRequires -PowerShell ansible_collections.remote.jobs.plugins.module_utils._JobStore
#AnsibleRequires -CSharpUtil ansible_collections.remote.jobs.plugins.module_utils._JobNative

# _commit, _final, _plan and _read are internal (INTERNAL in _args.py): only the action plugin passes them. With
# _plan nothing is consumed here; the result says which ranges were read (results=target) or which pieces to fetch
# (results=controller), and a second call with _commit records what the controller really got. _read returns one
# planned piece's bytes (base64) for a controller whose connection cannot read the job's files.
$spec = @{
    options = @{
        _commit = @{ type = 'list'; elements = 'dict' }
        _final = @{ type = 'bool'; default = $true }
        _plan = @{ type = 'bool'; default = $false }
        _read = @{ type = 'dict' }
        auto_remove = @{ type = 'bool'; default = $false }
        id = @{ type = 'list'; elements = 'str' }
        job_root = @{ type = 'str' }
        keep = @{ type = 'bool'; default = $false }
        max_bytes = @{ type = 'int'; default = 1048576 }
        name = @{ type = 'list'; elements = 'str' }
        timeout = @{ type = 'float' }
        wait = @{ type = 'bool'; default = $false }
    }
    required_one_of = @(, @('id', 'name'))
    supports_check_mode = $true
}

# Checks the arguments, opens the store, removes expired jobs and selects the jobs: every id and name must match.
$context = New-RemoteJobModule -Arguments $args -Spec $spec -Verb 'receive'
$module = $context.Module
$params = $context.Params
$jobs = $context.Jobs
$views = New-Object -TypeName System.Collections.Generic.List[object]
$changed = $false

if ($null -ne $params._commit) {
    # Second half of a receive: record the ranges the controller now holds.
    try {
        $byId = @{}
        foreach ($item in $params._commit) {
            $range = ConvertTo-RemoteJobHashtable -InputObject $item
            $jobId = [string]$range.id
            if (-not $byId.ContainsKey($jobId)) {
                $byId[$jobId] = @{}
            }
            $byId[$jobId][[string]$range.stream] = @([long]$range.start, [long]$range.end)
        }
        foreach ($job in $jobs) {
            $accepted = @{}
            if ($byId.ContainsKey($job.Id)) {
                $accepted = Complete-RemoteJobReceive -Job $job -Range $byId[$job.Id]
            }
            if (@($accepted.Values) -contains $true) {
                $changed = $true
            }
            $view = Get-RemoteJobView -Job $job
            $view['committed'] = $accepted
            $view['removed'] = $false
            if ($params.auto_remove -and (Test-RemoteJobFinished -Job $job) -and -not $view.has_more_data) {
                $view['removed'] = Remove-RemoteJob -Job $job
                $changed = $true
            }
            $views.Add($view)
        }
    }
    catch {
        $module.FailJson("recording the received output failed: $_", $_)
    }
    Add-RemoteJobResult -Result $module.Result -View $views -Changed $changed
    $module.ExitJson()
}

if ($null -ne $params._read) {
    # One planned piece's bytes, read by the module because the connection cannot read the job's files.
    $item = ConvertTo-RemoteJobHashtable -InputObject $params._read
    $job = @($jobs | Where-Object { $_.Id -eq [string]$item.id })
    if ($job.Count -ne 1) {
        $module.FailJson("_read names job '$($item.id)', which the selection does not hold")
    }
    try {
        $data = Read-RemoteJobPiece -Job $job[0] -Stream ([string]$item.stream) -From ([long]$item.start) -To ([long]$item.end)
    }
    catch {
        $module.FailJson("reading the output failed: $($_.Exception.Message)", $_)
    }
    $module.Result.data = [System.Convert]::ToBase64String($data)
    Add-RemoteJobResult -Result $module.Result -View @() -Changed $false
    $module.ExitJson()
}

$timedOut = $false
if ($params.wait) {
    try {
        $timedOut = Wait-RemoteJob -Job $jobs -Timeout $params.timeout
    }
    catch {
        $module.FailJson("waiting for the jobs failed: $_", $_)
    }
    if ($timedOut -and -not $params._final) {
        # A slice of a longer wait: the action plugin calls again.
        $module.Result.pending = $true
        $module.Result.timed_out = $true
        Add-RemoteJobResult -Result $module.Result -View @(foreach ($job in $jobs) { Get-RemoteJobView -Job $job }) -Changed $false
        $module.ExitJson()
    }
}

$keep = $params.keep -or $module.CheckMode
try {
    foreach ($job in $jobs) {
        if ($params._plan -and $job.Spec['results'] -eq 'controller' -and -not $module.CheckMode) {
            $view = Get-RemoteJobView -Job $job
            $view['pieces'] = Get-RemoteJobFetchPlan -Job $job
            $views.Add($view)
            continue
        }
        # Check mode (keep): a results=controller job's new output is returned as text, as for results=target;
        # nothing is fetched or written on the controller.
        $ranges = $null
        if ($params._plan) {
            $read = Read-RemoteJobOutput -Job $job -MaxBytes $params.max_bytes
            $ranges = @{}
            foreach ($stream in 'stdout', 'stderr') {
                $length = $read.Data[$stream].Length
                if ($length) {
                    $ranges[$stream] = @($read.Start[$stream], ($read.Start[$stream] + $length))
                }
            }
        }
        else {
            $read = Receive-RemoteJobOutput -Job $job -Keep:$keep -MaxBytes $params.max_bytes
        }
        $view = Get-RemoteJobView -Job $job
        Add-RemoteJobOutput -View $view -Data $read.Data -Truncated $read.Truncated
        # As on POSIX; the action plugin sets it when a concurrent receive got these bytes first.
        $view['received_elsewhere'] = $false
        if ($null -ne $ranges) {
            $view['ranges'] = $ranges
        }
        elseif (-not $keep) {
            if ($read.Data.stdout.Length -or $read.Data.stderr.Length) {
                $changed = $true
            }
            if ($params.auto_remove -and (Test-RemoteJobFinished -Job $job) -and -not $view.has_more_data) {
                $view['removed'] = Remove-RemoteJob -Job $job
                $changed = $true
            }
        }
        $views.Add($view)
    }
}
catch {
    $module.FailJson("receiving the output failed: $_", $_)
}

$module.Result.timed_out = $timedOut
Add-RemoteJobResult -Result $module.Result -View $views -Changed $changed
$module.ExitJson()
