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

# Checks the arguments, opens the store, removes expired jobs and selects by id, name (wildcards), state and
# has_more_data.
$context = New-RemoteJobModule -Arguments $args -Spec $spec -Verb 'info'
$module = $context.Module

try {
    $views = @(foreach ($job in $context.Jobs) { Get-RemoteJobView -Job $job })
}
catch {
    $module.FailJson("listing the jobs failed: $_", $_)
}

Add-RemoteJobResult -Result $module.Result -View $views -Changed $false
$module.ExitJson()
