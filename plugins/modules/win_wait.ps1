#!powershell

# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

#AnsibleRequires -CSharpUtil Ansible.Basic
#AnsibleRequires -PowerShell ansible_collections.remote.jobs.plugins.module_utils._JobStore
#AnsibleRequires -CSharpUtil ansible_collections.remote.jobs.plugins.module_utils._JobNative

$spec = @{
    options = @{
        any = @{ type = 'bool'; default = $false }
        fail_on_timeout = @{ type = 'bool'; default = $false }
        id = @{ type = 'list'; elements = 'str' }
        job_root = @{ type = 'str' }
        name = @{ type = 'list'; elements = 'str' }
        timeout = @{ type = 'float' }
        # Internal (INTERNAL in _args.py): only the action plugin passes it. When the wait ended, describe the new
        # output of ended results=controller jobs as pieces to fetch, which saves the action plugin a call.
        _plan = @{ type = 'bool'; default = $false }
    }
    required_one_of = @(, @('id', 'name'))
    supports_check_mode = $true
}

# Checks the arguments, opens the store, removes expired jobs and selects the jobs: every id and name must match.
$context = New-RemoteJobModule -Arguments $args -Spec $spec -Verb 'wait'
$module = $context.Module
$params = $context.Params
$jobs = $context.Jobs

try {
    $timedOut = Wait-RemoteJob -Job $jobs -Any:$params.any -Timeout $params.timeout
    $views = @(foreach ($job in $jobs) { Get-RemoteJobView -Job $job })
    if ($params._plan -and -not $timedOut -and -not $module.CheckMode) {
        $jobList = @($jobs)
        for ($i = 0; $i -lt $jobList.Count; $i++) {
            $view = $views[$i]
            if ($jobList[$i].Spec['results'] -eq 'controller' -and $view.state -ne 'running' -and $view.has_more_data) {
                # As in win_receive: the function returns its pieces as one array (", $pieces.ToArray()").
                $pieces = Get-RemoteJobFetchPlan -Job $jobList[$i]
                $view['pieces'] = $pieces
            }
        }
    }
}
catch {
    $module.FailJson("waiting for the jobs failed: $_", $_)
}

$module.Result.timed_out = $timedOut
if ($timedOut -and $params.fail_on_timeout) {
    $running = @($views | Where-Object { $_.state -eq 'running' } | ForEach-Object { $_.id })
    $module.Result.jobs = $views
    $msg = '{0} of {1} job(s) still running after {2} seconds: {3}' -f $running.Count, $views.Count, $params.timeout, ($running -join ', ')
    $module.FailJson($msg)
}
Add-RemoteJobResult -Result $module.Result -View $views -Changed $false
$module.ExitJson()
