#!powershell

# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

#AnsibleRequires -CSharpUtil Ansible.Basic
#AnsibleRequires -PowerShell ansible_collections.remote.jobs.plugins.module_utils._JobStore
#AnsibleRequires -CSharpUtil ansible_collections.remote.jobs.plugins.module_utils._JobNative

$spec = @{
    options = @{
        grace = @{ type = 'float'; default = 5 }
        id = @{ type = 'list'; elements = 'str' }
        job_root = @{ type = 'str' }
        name = @{ type = 'list'; elements = 'str' }
    }
    required_one_of = @(, @('id', 'name'))
    supports_check_mode = $true
}

# Checks the arguments, opens the store, removes expired jobs and selects the jobs: every id and name must match.
$context = New-RemoteJobModule -Arguments $args -Spec $spec -Verb 'stop'
$module = $context.Module
$params = $context.Params
$jobs = $context.Jobs

$changed = $false
try {
    foreach ($job in $jobs) {
        if ($module.CheckMode) {
            $changed = $changed -or -not (Test-RemoteJobFinished -Job $job)
        }
        elseif (Stop-RemoteJob -Job $job -Grace $params.grace) {
            $changed = $true
        }
    }
    $views = @(foreach ($job in $jobs) { Get-RemoteJobView -Job $job })
}
catch {
    $module.FailJson("stopping the jobs failed: $_", $_)
}

Add-RemoteJobResult -Result $module.Result -View $views -Changed $changed
$module.ExitJson()
