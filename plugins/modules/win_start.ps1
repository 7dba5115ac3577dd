#!powershell

# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

#AnsibleRequires -CSharpUtil Ansible.Basic
#AnsibleRequires -PowerShell ansible_collections.remote.jobs.plugins.module_utils._JobStore
#AnsibleRequires -CSharpUtil ansible_collections.remote.jobs.plugins.module_utils._JobNative

$jobOptions = @{
    argv = @{ type = 'list'; elements = 'str' }
    chdir = @{ type = 'str' }
    command = @{ type = 'str' }
    env = @{ type = 'dict'; no_log = $true }
    executable = @{ type = 'str' }
    id = @{ type = 'str' }
    name = @{ type = 'str' }
    output_path = @{ type = 'str' }
    results = @{ type = 'str'; choices = @('target', 'controller'); default = 'target' }
    results_dir = @{ type = 'str' }
    retention = @{ type = 'raw' }
    stdin = @{ type = 'str'; no_log = $true }
    timeout = @{ type = 'float' }
}
$spec = @{
    options = @{
        argv = $jobOptions.argv
        chdir = $jobOptions.chdir
        command = $jobOptions.command
        env = $jobOptions.env
        executable = $jobOptions.executable
        id = $jobOptions.id
        job_root = @{ type = 'str' }
        jobs = @{ type = 'list'; elements = 'dict'; options = $jobOptions }
        name = $jobOptions.name
        output_path = $jobOptions.output_path
        results = $jobOptions.results
        results_dir = $jobOptions.results_dir
        retention = $jobOptions.retention
        stdin = $jobOptions.stdin
        timeout = $jobOptions.timeout
    }
    mutually_exclusive = @(@('command', 'argv'), @('jobs', 'command'), @('jobs', 'argv'))
    supports_check_mode = $true
}

# Checks the arguments (each job definition too), opens the store and removes expired jobs.
$context = New-RemoteJobModule -Arguments $args -Spec $spec -Verb 'start'
$module = $context.Module
$params = $context.Params
$store = $context.Store

if ($params.jobs) {
    $specs = @($params.jobs)
}
else {
    $one = @{}
    foreach ($key in $jobOptions.Keys) {
        $one[$key] = $params[$key]
    }
    $specs = @($one)
}

if ($module.CheckMode) {
    # What a real run would return, ids included, so a check run can go on to the tasks that use them.
    $module.Result.msg = 'would start {0} job(s)' -f $specs.Count
    $views = @(foreach ($spec in $specs) { Get-RemoteJobWouldStart -Store $store -Spec (ConvertTo-RemoteJobHashtable -InputObject $spec) })
    Add-RemoteJobResult -Result $module.Result -View $views -Changed $true
    $module.ExitJson()
}

try {
    $jobs = @(Start-RemoteJob -Store $store -Spec $specs)
    $views = @(foreach ($job in $jobs) { Get-RemoteJobView -Job $job })
}
catch {
    $failure = $_
    $running = @($failure.Exception.Data['started'] | Where-Object { $null -ne $_ } | ForEach-Object { Get-RemoteJobView -Job $_ })
    if ($running.Count) {
        # The jobs before the one that failed run: the failed task still reports them, and that it changed things.
        $module.Result.jobs = $running
        $module.Result.changed = $true
        $ids = ($running | ForEach-Object { $_.id }) -join ', '
        $said = 'starting the job(s) failed: {0}; the {1} job(s) before it were started and run: {2}' -f $failure, $running.Count, $ids
        $module.FailJson($said, $failure)
    }
    $module.FailJson("starting the job(s) failed: $failure", $failure)
}

$broken = @($views | Where-Object { $_.reason -eq 'spawn_error' })
if ($broken.Count) {
    $module.Result.jobs = $views
    $messages = foreach ($view in $broken) {
        $label = $view.id
        if ($view.name) {
            $label = '{0} ({1})' -f $view.id, $view.name
        }
        'job {0} could not be started: {1}' -f $label, $view.error
    }
    $module.FailJson(($messages -join '; '))
}
Add-RemoteJobResult -Result $module.Result -View $views -Changed $true
$module.ExitJson()
