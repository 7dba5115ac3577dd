#!powershell

# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

#AnsibleRequires -CSharpUtil Ansible.Basic
#AnsibleRequires -PowerShell ansible_collections.remote.jobs.plugins.module_utils._JobStore
#AnsibleRequires -CSharpUtil ansible_collections.remote.jobs.plugins.module_utils._JobNative

$spec = @{
    options = @{
        has_more_data = @{ type = 'bool' }
        id = @{ type = 'list'; elements = 'str' }
        job_root = @{ type = 'str' }
        name = @{ type = 'list'; elements = 'str' }
        state = @{ type = 'list'; elements = 'str'; choices = @('running', 'completed', 'failed', 'stopped') }
    }
    supports_check_mode = $true
}

$module = [Ansible.Basic.AnsibleModule]::Create($args, $spec)
$module.Result.changed = $false
$module.Result.jobs = @()
$params = $module.Params

try {
    Assert-RemoteJobArgument -Params $params -Verb 'info'
    $store = Open-RemoteJobStore -Path $params.job_root
    $expired = @()
    if (-not $module.CheckMode) {
        $expired = @(Remove-RemoteJobExpired -Store $store)
    }
}
catch {
    $module.FailJson("opening the job store failed: $_", $_)
}

try {
    $jobs = @(Select-RemoteJob -Store $store -Id $params.id -Name $params.name -Glob -State $params.state -HasMoreData $params.has_more_data)
    $views = @(foreach ($job in $jobs) { Get-RemoteJobView -Job $job })
}
catch {
    $module.FailJson("listing the jobs failed: $_", $_)
}

if ($expired.Count) {
    $module.Result.expired = $expired
}
Add-RemoteJobResult -Result $module.Result -View $views -Changed $false
$module.ExitJson()
