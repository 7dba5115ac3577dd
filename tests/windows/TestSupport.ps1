# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Loads the Windows side of remote.jobs for the Pester tests. Dot-source it in BeforeAll:
#
#   . (Join-Path $PSScriptRoot 'TestSupport.ps1')
#
# With REMOTE_JOBS_ANSIBLE_MODULE_UTILS set to the module_utils folder of an ansible-core release (the workflow
# unpacks it from the ansible-core wheel; no Python code runs), Ansible.Basic and _JobNative.cs are compiled with
# Ansible's own Add-CSharpType, as on a target: csc.exe (C# 5) on Windows PowerShell, Roslyn on PowerShell 7, and
# warnings as errors. The module tests (Modules.Tests.ps1) need that and are skipped without it; the other tests
# then compile _JobNative.cs with Add-Type.

$script:RepositoryRoot = Split-Path -Path (Split-Path -Path $PSScriptRoot -Parent) -Parent
$script:NativeNamespace = 'ansible_collections.remote.jobs.plugins.module_utils._JobNative'
$script:AnsibleModuleUtils = $env:REMOTE_JOBS_ANSIBLE_MODULE_UTILS

$nativePath = Join-Path -Path $RepositoryRoot -ChildPath 'plugins\module_utils\_JobNative.cs'
if ($AnsibleModuleUtils) {
    Import-Module -Name (Join-Path -Path $AnsibleModuleUtils -ChildPath 'powershell\Ansible.ModuleUtils.AddType.psm1')
    if (-not ('Ansible.Basic.AnsibleModule' -as [type])) {
        $basic = Get-Content -LiteralPath (Join-Path -Path $AnsibleModuleUtils -ChildPath 'csharp\Ansible.Basic.cs') -Raw -Encoding UTF8
        Add-CSharpType -References @($basic)
    }
    if (-not ("$NativeNamespace.NativeProcess" -as [type])) {
        Add-CSharpType -References @(Get-Content -LiteralPath $nativePath -Raw -Encoding UTF8)
    }
}
elseif (-not ("$NativeNamespace.NativeProcess" -as [type])) {
    Add-Type -Path $nativePath
}
Import-Module -Name (Join-Path -Path $RepositoryRoot -ChildPath 'plugins\module_utils\_JobStore.psm1') -Force

# What the module run by Invoke-TestModule wrote and the code it exited with.
$script:ModuleRun = @{ Output = $null; ExitCode = $null }

function Invoke-TestModule {
    <#
    .SYNOPSIS
    Runs a win_* module (Name) or a script block standing in for one (Script) the way Ansible does: its arguments in
    $complex_args, Ansible.Basic writing one JSON result and exiting. Returns the result as a hashtable.
    .DESCRIPTION
    Ansible.Basic's WriteLine and Exit delegates are replaced for the call: the first line written is the result,
    and the exit throws (the module must not go on), which is caught here. The exit code is in $ModuleRun.ExitCode.
    #>
    param (
        [string]$Name,
        [scriptblock]$Script,
        [hashtable]$Arguments = @{},
        [switch]$CheckMode,
        [switch]$DiffMode
    )

    $complex = @{
        _ansible_check_mode = [bool]$CheckMode
        _ansible_diff = [bool]$DiffMode
        _ansible_module_name = $(if ($Name) { $Name } else { 'remote_jobs_test' })
        # Keeps Ansible.Basic from writing each run to the event log.
        _ansible_no_log = $true
    }
    foreach ($key in $Arguments.Keys) {
        $complex[$key] = $Arguments[$key]
    }
    Set-Variable -Name complex_args -Value $complex -Scope Global

    $run = $script:ModuleRun
    $run.Output = $null
    $run.ExitCode = $null
    $writeLine = [Ansible.Basic.AnsibleModule]::WriteLine
    $exit = [Ansible.Basic.AnsibleModule]::Exit
    [Ansible.Basic.AnsibleModule]::WriteLine = {
        param ([string]$Line)
        if ($null -eq $run.Output) {
            $run.Output = $Line
        }
    }.GetNewClosure()
    [Ansible.Basic.AnsibleModule]::Exit = {
        param ([int]$Code)
        if ($null -eq $run.ExitCode) {
            $run.ExitCode = $Code
        }
        throw 'remote.jobs test: the module exited'
    }.GetNewClosure()
    try {
        if ($Name) {
            $null = & (Join-Path -Path $RepositoryRoot -ChildPath "plugins\modules\$Name.ps1")
        }
        else {
            $null = & $Script
        }
    }
    catch {
        if ($null -eq $run.ExitCode) {
            throw
        }
    }
    finally {
        [Ansible.Basic.AnsibleModule]::WriteLine = $writeLine
        [Ansible.Basic.AnsibleModule]::Exit = $exit
        Remove-Variable -Name complex_args -Scope Global -ErrorAction SilentlyContinue
    }
    if ($null -eq $run.Output) {
        throw "the module ($Name) ended without writing a result"
    }
    ConvertFrom-RemoteJobJson -Json $run.Output
}
