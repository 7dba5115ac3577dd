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

$module = [Ansible.Basic.AnsibleModule]::Create($args, $spec)
$module.Result.changed = $false
$module.Result.jobs = @()
$params = $module.Params

try {
    Assert-RemoteJobArgument -Params $params -Verb 'stop'
    $store = Open-RemoteJobStore -Path $params.job_root
    $expired = @()
    if (-not $module.CheckMode) {
        $expired = @(Remove-RemoteJobExpired -Store $store)
    }
    $jobs = @(Select-RemoteJob -Store $store -Id $params.id -Name $params.name -Require)
}
catch {
    $module.FailJson("selecting the jobs failed: $_", $_)
}
if ($expired.Count) {
    $module.Result.expired = $expired
}

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
