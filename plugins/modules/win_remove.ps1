#!powershell

# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

#AnsibleRequires -CSharpUtil Ansible.Basic
#AnsibleRequires -PowerShell ansible_collections.remote.jobs.plugins.module_utils._JobStore
#AnsibleRequires -CSharpUtil ansible_collections.remote.jobs.plugins.module_utils._JobNative

$spec = @{
    options = @{
        force = @{ type = 'bool'; default = $false }
        id = @{ type = 'list'; elements = 'str' }
        job_root = @{ type = 'str' }
        name = @{ type = 'list'; elements = 'str' }
        older_than = @{ type = 'raw' }
        state = @{ type = 'list'; elements = 'str'; choices = @('running', 'completed', 'failed', 'stopped') }
    }
    required_one_of = @(, @('id', 'name', 'state', 'older_than'))
    supports_check_mode = $true
}

# Checks the arguments, opens the store, removes expired jobs and selects by id, name (wildcards), state and
# older_than.
$context = New-RemoteJobModule -Arguments $args -Spec $spec -Verb 'remove'
$module = $context.Module
$params = $context.Params
$jobs = $context.Jobs

$running = @($jobs | Where-Object { -not (Test-RemoteJobFinished -Job $_) })
if ($running.Count -and -not $params.force) {
    $ids = @($running | ForEach-Object { $_.Id }) -join ', '
    $module.FailJson("refusing to remove running job(s) ${ids}: stop them first, or pass force: true to stop and remove")
}

$views = New-Object -TypeName System.Collections.Generic.List[object]
$changed = $false
try {
    foreach ($job in $jobs) {
        if ($module.CheckMode) {
            $views.Add((Get-RemoteJobView -Job $job))
            $changed = $true
            continue
        }
        if (-not (Test-RemoteJobFinished -Job $job)) {
            $null = Stop-RemoteJob -Job $job -Grace 5
        }
        # The job as it was just before removal, as on POSIX.
        $view = Get-RemoteJobView -Job $job
        $view['removed'] = Remove-RemoteJob -Job $job
        $changed = $changed -or $view['removed']
        $views.Add($view)
    }
}
catch {
    $module.FailJson("removing the jobs failed: $_", $_)
}

Add-RemoteJobResult -Result $module.Result -View $views -Changed $changed
$module.ExitJson()
