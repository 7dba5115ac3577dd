// Copyright: (c) 2026, remote.jobs contributors
// GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
//
// Win32 helpers for the Windows side of remote.jobs. Private to the collection: may change in any release.
//
// Loaded by the win_* modules with
//   #AnsibleRequires -CSharpUtil ansible_collections.remote.jobs.plugins.module_utils._JobNative
// and driven from _JobStore.psm1. Written for C# 5 (csc.exe of .NET Framework 4.x compiles it on Windows
// PowerShell 5.1, warnings are errors) and for Roslyn on PowerShell 7; it needs mscorlib and System.dll only,
// so a plain Add-Type -Path of this file works too (the Pester tests do that).
//
// Only the module process uses this code. The job's supervisor is a plain powershell.exe that needs no compiled
// code: everything native is done here, before the module returns, and handed to the supervisor as handles.
//   * CanBreakaway / CreateBreakawayProcess: start the supervisor outside the job object of the WinRM (or SSH)
//     shell, so it outlives the connection. When the shell's job forbids breakaway the psm1 starts it with
//     Win32_Process.Create through CIM instead.
//   * StartJobProcess: create the job's command suspended, with the supervisor as its parent process (so it is
//     outside the shell's job too, and the supervisor can wait on it), its own hidden console and process group,
//     stdout/stderr appended to files, and put it in a fresh, named Windows job object so a stop ends the whole
//     tree. The job object's only lasting handle is a duplicate owned by the supervisor; the module's own handle is
//     closed before StartJobProcess returns, so the module ending never touches the job. The job object has
//     JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE: when the supervisor closes its handle (its way to enforce the timeout
//     without any native code) or exits, whatever still runs in the job ends with it, so nothing outlives its
//     supervisor unaccounted for.
//   * process start times (GetProcessTimes) that guard against pid reuse, terminating a process only when its
//     start time still matches, terminating a job object by name, the named pipe client check.
//   * CommandLine: argv to a command line that CommandLineToArgvW (and the C runtime) splits back into the same
//     argv, and CommandLineToArgvW itself for the tests.
//
// The lock on a job's .lock file is not here: the supervisor must take the same lock without compiled code, so
// _JobStore.psm1 uses FileStream.Lock (LockFile on byte 0) on both sides.

using Microsoft.Win32.SafeHandles;
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace ansible_collections.remote.jobs.plugins.module_utils._JobNative
{
    internal class NativeHelpers
    {
        public const int CREATE_SUSPENDED = 0x00000004;
        public const int CREATE_NEW_PROCESS_GROUP = 0x00000200;
        public const int CREATE_UNICODE_ENVIRONMENT = 0x00000400;
        public const int EXTENDED_STARTUPINFO_PRESENT = 0x00080000;
        public const int CREATE_BREAKAWAY_FROM_JOB = 0x01000000;
        public const int CREATE_NO_WINDOW = 0x08000000;

        public const int DUPLICATE_CLOSE_SOURCE = 0x00000001;
        public const int DUPLICATE_SAME_ACCESS = 0x00000002;

        public const int ERROR_ALREADY_EXISTS = 183;
        public const int STILL_ACTIVE = 259;

        public const int JobObjectExtendedLimitInformation = 9;
        public const int JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION = 0x00000400;
        public const int JOB_OBJECT_LIMIT_BREAKAWAY_OK = 0x00000800;
        public const int JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK = 0x00001000;
        public const int JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x00002000;
        public const int JOB_OBJECT_TERMINATE = 0x00000008;

        public const int PROCESS_TERMINATE = 0x00000001;
        public const int PROCESS_DUP_HANDLE = 0x00000040;
        public const int PROCESS_CREATE_PROCESS = 0x00000080;
        public const int PROCESS_QUERY_LIMITED_INFORMATION = 0x00001000;
        public const int SYNCHRONIZE = 0x00100000;

        public const int PROC_THREAD_ATTRIBUTE_PARENT_PROCESS = 0x00020000;
        public const int PROC_THREAD_ATTRIBUTE_HANDLE_LIST = 0x00020002;

        public const int STARTF_USESTDHANDLES = 0x00000100;

        public const uint GENERIC_READ = 0x80000000;
        public const uint FILE_APPEND_DATA = 0x00000004;
        public const uint FILE_READ_ATTRIBUTES = 0x00000080;
        public const uint FILE_SHARE_READ = 0x00000001;
        public const uint FILE_SHARE_WRITE = 0x00000002;
        public const uint FILE_SHARE_DELETE = 0x00000004;
        public const uint OPEN_EXISTING = 3;
        public const uint OPEN_ALWAYS = 4;
        public const uint FILE_ATTRIBUTE_NORMAL = 0x00000080;

        [StructLayout(LayoutKind.Sequential)]
        public struct JOBOBJECT_BASIC_LIMIT_INFORMATION
        {
            public long PerProcessUserTimeLimit;
            public long PerJobUserTimeLimit;
            public int LimitFlags;
            public UIntPtr MinimumWorkingSetSize;
            public UIntPtr MaximumWorkingSetSize;
            public int ActiveProcessLimit;
            public UIntPtr Affinity;
            public int PriorityClass;
            public int SchedulingClass;
        }

        [StructLayout(LayoutKind.Sequential)]
        public struct IO_COUNTERS
        {
            public ulong ReadOperationCount;
            public ulong WriteOperationCount;
            public ulong OtherOperationCount;
            public ulong ReadTransferCount;
            public ulong WriteTransferCount;
            public ulong OtherTransferCount;
        }

        [StructLayout(LayoutKind.Sequential)]
        public struct JOBOBJECT_EXTENDED_LIMIT_INFORMATION
        {
            public JOBOBJECT_BASIC_LIMIT_INFORMATION BasicLimitInformation;
            public IO_COUNTERS IoInfo;
            public UIntPtr ProcessMemoryLimit;
            public UIntPtr JobMemoryLimit;
            public UIntPtr PeakProcessMemoryUsed;
            public UIntPtr PeakJobMemoryUsed;
        }

        [StructLayout(LayoutKind.Sequential)]
        public struct STARTUPINFO
        {
            public int cb;
            public IntPtr lpReserved;
            public IntPtr lpDesktop;
            public IntPtr lpTitle;
            public int dwX;
            public int dwY;
            public int dwXSize;
            public int dwYSize;
            public int dwXCountChars;
            public int dwYCountChars;
            public int dwFillAttribute;
            public int dwFlags;
            public short wShowWindow;
            public short cbReserved2;
            public IntPtr lpReserved2;
            public IntPtr hStdInput;
            public IntPtr hStdOutput;
            public IntPtr hStdError;
        }

        [StructLayout(LayoutKind.Sequential)]
        public struct STARTUPINFOEX
        {
            public STARTUPINFO StartupInfo;
            public IntPtr lpAttributeList;
        }

        [StructLayout(LayoutKind.Sequential)]
        public struct PROCESS_INFORMATION
        {
            public IntPtr hProcess;
            public IntPtr hThread;
            public int dwProcessId;
            public int dwThreadId;
        }
    }

    internal class NativeMethods
    {
        [DllImport("kernel32.dll", SetLastError = true)]
        public static extern bool AssignProcessToJobObject(
            IntPtr hJob,
            IntPtr hProcess);

        [DllImport("kernel32.dll", SetLastError = true)]
        public static extern bool CloseHandle(
            IntPtr hObject);

        [DllImport("shell32.dll", SetLastError = true)]
        public static extern IntPtr CommandLineToArgvW(
            [MarshalAs(UnmanagedType.LPWStr)] string lpCmdLine,
            out int pNumArgs);

        [DllImport("kernel32.dll", SetLastError = true, CharSet = CharSet.Unicode)]
        public static extern NativeHandle CreateFileW(
            string lpFileName,
            uint dwDesiredAccess,
            uint dwShareMode,
            IntPtr lpSecurityAttributes,
            uint dwCreationDisposition,
            uint dwFlagsAndAttributes,
            IntPtr hTemplateFile);

        [DllImport("kernel32.dll", SetLastError = true, CharSet = CharSet.Unicode)]
        public static extern NativeHandle CreateJobObjectW(
            IntPtr lpJobAttributes,
            string lpName);

        [DllImport("kernel32.dll", SetLastError = true)]
        public static extern bool CreatePipe(
            out NativeHandle hReadPipe,
            out NativeHandle hWritePipe,
            IntPtr lpPipeAttributes,
            int nSize);

        [DllImport("kernel32.dll", EntryPoint = "CreateProcessW", SetLastError = true, CharSet = CharSet.Unicode)]
        public static extern bool CreateProcess(
            string lpApplicationName,
            StringBuilder lpCommandLine,
            IntPtr lpProcessAttributes,
            IntPtr lpThreadAttributes,
            bool bInheritHandles,
            int dwCreationFlags,
            IntPtr lpEnvironment,
            string lpCurrentDirectory,
            ref NativeHelpers.STARTUPINFO lpStartupInfo,
            out NativeHelpers.PROCESS_INFORMATION lpProcessInformation);

        [DllImport("kernel32.dll", EntryPoint = "CreateProcessW", SetLastError = true, CharSet = CharSet.Unicode)]
        public static extern bool CreateProcessEx(
            string lpApplicationName,
            StringBuilder lpCommandLine,
            IntPtr lpProcessAttributes,
            IntPtr lpThreadAttributes,
            bool bInheritHandles,
            int dwCreationFlags,
            IntPtr lpEnvironment,
            string lpCurrentDirectory,
            ref NativeHelpers.STARTUPINFOEX lpStartupInfo,
            out NativeHelpers.PROCESS_INFORMATION lpProcessInformation);

        [DllImport("kernel32.dll")]
        public static extern void DeleteProcThreadAttributeList(
            IntPtr lpAttributeList);

        [DllImport("kernel32.dll", SetLastError = true)]
        public static extern bool DuplicateHandle(
            IntPtr hSourceProcessHandle,
            IntPtr hSourceHandle,
            IntPtr hTargetProcessHandle,
            out IntPtr lpTargetHandle,
            int dwDesiredAccess,
            bool bInheritHandle,
            int dwOptions);

        [DllImport("kernel32.dll")]
        public static extern IntPtr GetCurrentProcess();

        [DllImport("kernel32.dll", SetLastError = true)]
        public static extern bool GetExitCodeProcess(
            IntPtr hProcess,
            out int lpExitCode);

        [DllImport("kernel32.dll", SetLastError = true)]
        public static extern bool GetNamedPipeClientProcessId(
            IntPtr Pipe,
            out int ClientProcessId);

        [DllImport("kernel32.dll", SetLastError = true)]
        public static extern bool GetProcessTimes(
            IntPtr hProcess,
            out long lpCreationTime,
            out long lpExitTime,
            out long lpKernelTime,
            out long lpUserTime);

        [DllImport("kernel32.dll", SetLastError = true)]
        public static extern bool InitializeProcThreadAttributeList(
            IntPtr lpAttributeList,
            int dwAttributeCount,
            int dwFlags,
            ref IntPtr lpSize);

        [DllImport("kernel32.dll", SetLastError = true)]
        public static extern bool IsProcessInJob(
            IntPtr ProcessHandle,
            IntPtr JobHandle,
            out bool Result);

        [DllImport("kernel32.dll")]
        public static extern IntPtr LocalFree(
            IntPtr hMem);

        [DllImport("kernel32.dll", SetLastError = true, CharSet = CharSet.Unicode)]
        public static extern NativeHandle OpenJobObjectW(
            int dwDesiredAccess,
            bool bInheritHandle,
            string lpName);

        [DllImport("kernel32.dll", SetLastError = true)]
        public static extern NativeHandle OpenProcess(
            int dwDesiredAccess,
            bool bInheritHandle,
            int dwProcessId);

        [DllImport("kernel32.dll", SetLastError = true)]
        public static extern bool QueryInformationJobObject(
            IntPtr hJob,
            int JobObjectInformationClass,
            ref NativeHelpers.JOBOBJECT_EXTENDED_LIMIT_INFORMATION lpJobObjectInformation,
            int cbJobObjectInformationLength,
            IntPtr lpReturnLength);

        [DllImport("kernel32.dll", SetLastError = true)]
        public static extern int ResumeThread(
            IntPtr hThread);

        [DllImport("kernel32.dll", SetLastError = true)]
        public static extern bool SetInformationJobObject(
            IntPtr hJob,
            int JobObjectInfoClass,
            ref NativeHelpers.JOBOBJECT_EXTENDED_LIMIT_INFORMATION lpJobObjectInfo,
            int cbJobObjectInfoLength);

        [DllImport("kernel32.dll", SetLastError = true)]
        public static extern bool TerminateJobObject(
            IntPtr hJob,
            int uExitCode);

        [DllImport("kernel32.dll", SetLastError = true)]
        public static extern bool TerminateProcess(
            IntPtr hProcess,
            int uExitCode);

        [DllImport("kernel32.dll", SetLastError = true)]
        public static extern bool UpdateProcThreadAttribute(
            IntPtr lpAttributeList,
            int dwFlags,
            IntPtr Attribute,
            IntPtr lpValue,
            IntPtr cbSize,
            IntPtr lpPreviousValue,
            IntPtr lpReturnSize);
    }

    /// <summary>A kernel handle closed with CloseHandle.</summary>
    public sealed class NativeHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        public NativeHandle() : base(true) { }

        public NativeHandle(IntPtr handle) : base(true)
        {
            SetHandle(handle);
        }

        protected override bool ReleaseHandle()
        {
            return NativeMethods.CloseHandle(handle);
        }
    }

    /// <summary>A Win32 failure with the function that failed in its message.</summary>
    public class Win32Exception : System.ComponentModel.Win32Exception
    {
        private string _msg;

        public Win32Exception(string message) : this(Marshal.GetLastWin32Error(), message) { }

        public Win32Exception(int errorCode, string message) : base(errorCode)
        {
            _msg = String.Format("{0} ({1}, Win32ErrorCode {2} - 0x{2:X8})", message, base.Message, errorCode);
        }

        public override string Message { get { return _msg; } }
    }

    /// <summary>The supervisor process as created by CreateBreakawayProcess.</summary>
    public sealed class SupervisorProcess
    {
        public int ProcessId { get; private set; }
        public string StartTime { get; private set; }

        public SupervisorProcess(int processId, string startTime)
        {
            ProcessId = processId;
            StartTime = startTime;
        }
    }

    /// <summary>
    /// The job's command as created by StartJobProcess: still suspended until Resume is called. The handle values
    /// are valid in the supervisor process (duplicated into it), not in this one.
    /// </summary>
    public sealed class JobProcess : IDisposable
    {
        private NativeHandle _process;
        private NativeHandle _thread;

        public int ProcessId { get; private set; }
        public string StartTime { get; private set; }
        public long JobHandleInSupervisor { get; private set; }
        public long StdinHandleInSupervisor { get; private set; }

        internal JobProcess(NativeHandle process, NativeHandle thread, int processId, string startTime,
            long jobHandle, long stdinHandle)
        {
            _process = process;
            _thread = thread;
            ProcessId = processId;
            StartTime = startTime;
            JobHandleInSupervisor = jobHandle;
            StdinHandleInSupervisor = stdinHandle;
        }

        /// <summary>Let the suspended command run.</summary>
        public void Resume()
        {
            if (NativeMethods.ResumeThread(_thread.DangerousGetHandle()) == -1)
                throw new Win32Exception("ResumeThread() failed");
        }

        /// <summary>End the command (used when the supervisor could not take it over).</summary>
        public void Terminate(int exitCode)
        {
            NativeMethods.TerminateProcess(_process.DangerousGetHandle(), exitCode);
        }

        public void Dispose()
        {
            _process.Dispose();
            _thread.Dispose();
        }
    }

    public static class NativeProcess
    {
        /// <summary>
        /// True when a process created now may leave the job object this process runs in (or it runs in none). A
        /// job nested in one that forbids breakaway still makes CreateBreakawayProcess fail: the caller falls back.
        /// </summary>
        public static bool CanBreakaway()
        {
            bool inJob;
            if (!NativeMethods.IsProcessInJob(NativeMethods.GetCurrentProcess(), IntPtr.Zero, out inJob))
                throw new Win32Exception("IsProcessInJob() failed");
            if (!inJob)
                return true;

            NativeHelpers.JOBOBJECT_EXTENDED_LIMIT_INFORMATION info = new NativeHelpers.JOBOBJECT_EXTENDED_LIMIT_INFORMATION();
            if (!NativeMethods.QueryInformationJobObject(IntPtr.Zero, NativeHelpers.JobObjectExtendedLimitInformation,
                ref info, Marshal.SizeOf(typeof(NativeHelpers.JOBOBJECT_EXTENDED_LIMIT_INFORMATION)), IntPtr.Zero))
            {
                throw new Win32Exception("QueryInformationJobObject() failed");
            }
            int breakaway = NativeHelpers.JOB_OBJECT_LIMIT_BREAKAWAY_OK | NativeHelpers.JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK;
            return (info.BasicLimitInformation.LimitFlags & breakaway) != 0;
        }

        /// <summary>
        /// Start a process outside the current job object, in its own process group, with a console but no window
        /// and no inherited handles. Call only when CanBreakaway() is true.
        /// </summary>
        public static SupervisorProcess CreateBreakawayProcess(string applicationName, string commandLine,
            string currentDirectory)
        {
            NativeHelpers.STARTUPINFO si = new NativeHelpers.STARTUPINFO();
            si.cb = Marshal.SizeOf(typeof(NativeHelpers.STARTUPINFO));
            NativeHelpers.PROCESS_INFORMATION pi;
            int flags = NativeHelpers.CREATE_BREAKAWAY_FROM_JOB | NativeHelpers.CREATE_NEW_PROCESS_GROUP |
                NativeHelpers.CREATE_NO_WINDOW;
            if (!NativeMethods.CreateProcess(NullIfEmpty(applicationName), new StringBuilder(commandLine), IntPtr.Zero,
                IntPtr.Zero, false, flags, IntPtr.Zero, NullIfEmpty(currentDirectory), ref si, out pi))
            {
                throw new Win32Exception("CreateProcessW() failed to start the supervisor");
            }
            using (NativeHandle process = new NativeHandle(pi.hProcess))
            using (new NativeHandle(pi.hThread))
            {
                return new SupervisorProcess(pi.dwProcessId, CreationTime(process.DangerousGetHandle()));
            }
        }

        /// <summary>
        /// Create the job's command, suspended, as a child of the supervisor process, in a new job object named
        /// jobObjectName. stdout and stderr are appended to the given files; stdin is a pipe whose write end is
        /// handed to the supervisor (stdinPipe) or the NUL device. environment is the complete environment.
        /// applicationName and currentDirectory may be null or empty: searched from the command line, and the
        /// current folder of this process.
        /// A failure to create the process itself is a System.ComponentModel.Win32Exception whose Message is the
        /// plain system message ("The system cannot find the file specified"); anything else is a Win32Exception
        /// naming the call that failed.
        /// </summary>
        public static JobProcess StartJobProcess(int supervisorProcessId, string supervisorStartTime,
            string applicationName, string commandLine, string currentDirectory, IDictionary environment,
            string stdoutPath, string stderrPath, bool stdinPipe, string jobObjectName)
        {
            int access = NativeHelpers.PROCESS_CREATE_PROCESS | NativeHelpers.PROCESS_DUP_HANDLE |
                NativeHelpers.PROCESS_QUERY_LIMITED_INFORMATION | NativeHelpers.SYNCHRONIZE;
            using (NativeHandle supervisor = NativeMethods.OpenProcess(access, false, supervisorProcessId))
            {
                if (supervisor.IsInvalid)
                    throw new Win32Exception("OpenProcess() failed for the supervisor");
                IntPtr supervisorRaw = supervisor.DangerousGetHandle();
                if (!IsRunning(supervisorRaw) || CreationTime(supervisorRaw) != supervisorStartTime)
                    throw new InvalidOperationException("the supervisor exited before the command could start");

                List<IntPtr> remoteInherited = new List<IntPtr>();
                IntPtr remoteJob = IntPtr.Zero;
                IntPtr remoteStdin = IntPtr.Zero;
                NativeHandle stdinRead = null;
                NativeHandle stdinWrite = null;
                NativeHandle stdout = null;
                NativeHandle stderr = null;
                NativeHandle job = null;
                NativeHandle process = null;
                NativeHandle thread = null;
                IntPtr attributes = IntPtr.Zero;
                bool attributesReady = false;
                IntPtr parentValue = IntPtr.Zero;
                IntPtr handleList = IntPtr.Zero;
                IntPtr environmentBlock = IntPtr.Zero;
                bool done = false;
                try
                {
                    if (stdinPipe)
                    {
                        if (!NativeMethods.CreatePipe(out stdinRead, out stdinWrite, IntPtr.Zero, 0))
                            throw new Win32Exception("CreatePipe() failed for stdin");
                    }
                    else
                    {
                        stdinRead = NativeMethods.CreateFileW("NUL", NativeHelpers.GENERIC_READ,
                            NativeHelpers.FILE_SHARE_READ | NativeHelpers.FILE_SHARE_WRITE, IntPtr.Zero,
                            NativeHelpers.OPEN_EXISTING, 0, IntPtr.Zero);
                        if (stdinRead.IsInvalid)
                            throw new Win32Exception("CreateFileW() failed for the NUL device");
                    }
                    stdout = OpenForAppend(stdoutPath);
                    stderr = OpenForAppend(stderrPath);

                    IntPtr remoteIn = Duplicate(stdinRead, supervisorRaw, true);
                    remoteInherited.Add(remoteIn);
                    IntPtr remoteOut = Duplicate(stdout, supervisorRaw, true);
                    remoteInherited.Add(remoteOut);
                    IntPtr remoteErr = Duplicate(stderr, supervisorRaw, true);
                    remoteInherited.Add(remoteErr);

                    IntPtr size = IntPtr.Zero;
                    NativeMethods.InitializeProcThreadAttributeList(IntPtr.Zero, 2, 0, ref size);
                    attributes = Marshal.AllocHGlobal(size);
                    if (!NativeMethods.InitializeProcThreadAttributeList(attributes, 2, 0, ref size))
                        throw new Win32Exception("InitializeProcThreadAttributeList() failed");
                    attributesReady = true;

                    parentValue = Marshal.AllocHGlobal(IntPtr.Size);
                    Marshal.WriteIntPtr(parentValue, supervisorRaw);
                    if (!NativeMethods.UpdateProcThreadAttribute(attributes, 0,
                        new IntPtr(NativeHelpers.PROC_THREAD_ATTRIBUTE_PARENT_PROCESS), parentValue,
                        new IntPtr(IntPtr.Size), IntPtr.Zero, IntPtr.Zero))
                    {
                        throw new Win32Exception("UpdateProcThreadAttribute() failed for the parent process");
                    }

                    handleList = Marshal.AllocHGlobal(IntPtr.Size * remoteInherited.Count);
                    for (int i = 0; i < remoteInherited.Count; i++)
                        Marshal.WriteIntPtr(handleList, i * IntPtr.Size, remoteInherited[i]);
                    if (!NativeMethods.UpdateProcThreadAttribute(attributes, 0,
                        new IntPtr(NativeHelpers.PROC_THREAD_ATTRIBUTE_HANDLE_LIST), handleList,
                        new IntPtr(IntPtr.Size * remoteInherited.Count), IntPtr.Zero, IntPtr.Zero))
                    {
                        throw new Win32Exception("UpdateProcThreadAttribute() failed for the handle list");
                    }

                    NativeHelpers.STARTUPINFOEX si = new NativeHelpers.STARTUPINFOEX();
                    si.StartupInfo.cb = Marshal.SizeOf(typeof(NativeHelpers.STARTUPINFOEX));
                    si.StartupInfo.dwFlags = NativeHelpers.STARTF_USESTDHANDLES;
                    si.StartupInfo.hStdInput = remoteIn;
                    si.StartupInfo.hStdOutput = remoteOut;
                    si.StartupInfo.hStdError = remoteErr;
                    si.lpAttributeList = attributes;

                    environmentBlock = Marshal.StringToHGlobalUni(EnvironmentBlock(environment));
                    int flags = NativeHelpers.CREATE_SUSPENDED | NativeHelpers.CREATE_NEW_PROCESS_GROUP |
                        NativeHelpers.CREATE_NO_WINDOW | NativeHelpers.CREATE_UNICODE_ENVIRONMENT |
                        NativeHelpers.EXTENDED_STARTUPINFO_PRESENT;
                    NativeHelpers.PROCESS_INFORMATION pi;
                    if (!NativeMethods.CreateProcessEx(NullIfEmpty(applicationName), new StringBuilder(commandLine),
                        IntPtr.Zero, IntPtr.Zero, true, flags, environmentBlock, NullIfEmpty(currentDirectory), ref si,
                        out pi))
                    {
                        // The plain system message: the caller shows it as the job's spawn error.
                        throw new System.ComponentModel.Win32Exception(Marshal.GetLastWin32Error());
                    }
                    process = new NativeHandle(pi.hProcess);
                    thread = new NativeHandle(pi.hThread);

                    job = NativeMethods.CreateJobObjectW(IntPtr.Zero, jobObjectName);
                    int createError = Marshal.GetLastWin32Error();
                    if (job.IsInvalid)
                        throw new Win32Exception(createError, "CreateJobObjectW() failed");
                    if (createError == NativeHelpers.ERROR_ALREADY_EXISTS)
                        throw new InvalidOperationException(String.Format("a job object named {0} already exists", jobObjectName));

                    NativeHelpers.JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits = new NativeHelpers.JOBOBJECT_EXTENDED_LIMIT_INFORMATION();
                    // BREAKAWAY_OK: a program that explicitly asks to leave (CREATE_BREAKAWAY_FROM_JOB) may, as it
                    // could under WinRM. KILL_ON_JOB_CLOSE: see the top of this file; the supervisor's duplicate is
                    // made below, before this handle is closed.
                    limits.BasicLimitInformation.LimitFlags = NativeHelpers.JOB_OBJECT_LIMIT_BREAKAWAY_OK |
                        NativeHelpers.JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION |
                        NativeHelpers.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
                    if (!NativeMethods.SetInformationJobObject(job.DangerousGetHandle(),
                        NativeHelpers.JobObjectExtendedLimitInformation, ref limits,
                        Marshal.SizeOf(typeof(NativeHelpers.JOBOBJECT_EXTENDED_LIMIT_INFORMATION))))
                    {
                        throw new Win32Exception("SetInformationJobObject() failed");
                    }
                    if (!NativeMethods.AssignProcessToJobObject(job.DangerousGetHandle(), process.DangerousGetHandle()))
                        throw new Win32Exception("AssignProcessToJobObject() failed");

                    // The supervisor keeps the job object (and so its name) alive and writes stdin.
                    remoteJob = Duplicate(job, supervisorRaw, false);
                    if (stdinPipe)
                        remoteStdin = Duplicate(stdinWrite, supervisorRaw, false);

                    JobProcess result = new JobProcess(process, thread, pi.dwProcessId,
                        CreationTime(process.DangerousGetHandle()), remoteJob.ToInt64(), remoteStdin.ToInt64());
                    done = true;
                    return result;
                }
                finally
                {
                    // The command has its own copies of these now (or never started).
                    foreach (IntPtr remote in remoteInherited)
                        CloseInProcess(supervisorRaw, remote);
                    if (!done)
                    {
                        if (process != null)
                        {
                            NativeMethods.TerminateProcess(process.DangerousGetHandle(), 1);
                            process.Dispose();
                        }
                        if (thread != null)
                            thread.Dispose();
                        if (remoteJob != IntPtr.Zero)
                            CloseInProcess(supervisorRaw, remoteJob);
                        if (remoteStdin != IntPtr.Zero)
                            CloseInProcess(supervisorRaw, remoteStdin);
                    }
                    if (job != null)
                        job.Dispose();
                    if (stdinRead != null)
                        stdinRead.Dispose();
                    if (stdinWrite != null)
                        stdinWrite.Dispose();
                    if (stdout != null)
                        stdout.Dispose();
                    if (stderr != null)
                        stderr.Dispose();
                    if (attributesReady)
                        NativeMethods.DeleteProcThreadAttributeList(attributes);
                    if (attributes != IntPtr.Zero)
                        Marshal.FreeHGlobal(attributes);
                    if (parentValue != IntPtr.Zero)
                        Marshal.FreeHGlobal(parentValue);
                    if (handleList != IntPtr.Zero)
                        Marshal.FreeHGlobal(handleList);
                    if (environmentBlock != IntPtr.Zero)
                        Marshal.FreeHGlobal(environmentBlock);
                }
            }
        }

        /// <summary>
        /// The start time of a running process as an opaque string (its creation FILETIME), or null when no such
        /// process runs (it exited, never existed, or cannot be queried at all).
        /// </summary>
        public static string GetProcessStartTime(int processId)
        {
            if (processId <= 0)
                return null;
            using (NativeHandle process = NativeMethods.OpenProcess(NativeHelpers.PROCESS_QUERY_LIMITED_INFORMATION,
                false, processId))
            {
                if (process.IsInvalid)
                    return null;
                IntPtr raw = process.DangerousGetHandle();
                if (!IsRunning(raw))
                    return null;
                try
                {
                    return CreationTime(raw);
                }
                catch (Win32Exception)
                {
                    return null;
                }
            }
        }

        /// <summary>True when processId runs and, if startTime is given, is the process that started then.</summary>
        public static bool IsProcessAlive(int processId, string startTime)
        {
            string actual = GetProcessStartTime(processId);
            if (actual == null)
                return false;
            return String.IsNullOrEmpty(startTime) || actual == startTime;
        }

        /// <summary>
        /// Terminate processId with exitCode, but only if it runs and (when startTime is given) started then; the
        /// start time is checked on the same handle that terminates, so a reused pid is never hit.
        /// </summary>
        public static bool TerminateProcess(int processId, string startTime, int exitCode)
        {
            if (processId <= 0)
                return false;
            using (NativeHandle process = NativeMethods.OpenProcess(
                NativeHelpers.PROCESS_TERMINATE | NativeHelpers.PROCESS_QUERY_LIMITED_INFORMATION, false, processId))
            {
                if (process.IsInvalid)
                    return false;
                IntPtr raw = process.DangerousGetHandle();
                if (!IsRunning(raw))
                    return false;
                if (!String.IsNullOrEmpty(startTime) && CreationTime(raw) != startTime)
                    return false;
                return NativeMethods.TerminateProcess(raw, exitCode);
            }
        }

        /// <summary>Terminate every process in the named job object. False when no such job object exists.</summary>
        public static bool TerminateJob(string jobObjectName, int exitCode)
        {
            using (NativeHandle job = NativeMethods.OpenJobObjectW(NativeHelpers.JOB_OBJECT_TERMINATE, false, jobObjectName))
            {
                if (job.IsInvalid)
                    return false;
                if (!NativeMethods.TerminateJobObject(job.DangerousGetHandle(), exitCode))
                    throw new Win32Exception("TerminateJobObject() failed");
                return true;
            }
        }

        /// <summary>The process id at the other end of a connected named pipe (the server's handle).</summary>
        public static int GetNamedPipeClientProcessId(SafeHandle pipe)
        {
            int processId;
            if (!NativeMethods.GetNamedPipeClientProcessId(pipe.DangerousGetHandle(), out processId))
                throw new Win32Exception("GetNamedPipeClientProcessId() failed");
            return processId;
        }

        /// <summary>A CREATE_UNICODE_ENVIRONMENT block (without the final NUL, which the marshaller adds).</summary>
        internal static string EnvironmentBlock(IDictionary environment)
        {
            List<string> names = new List<string>();
            if (environment != null)
            {
                foreach (object key in environment.Keys)
                {
                    string name = key == null ? null : key.ToString();
                    // "=C:"-style entries and names with '=' cannot be passed through a block.
                    if (String.IsNullOrEmpty(name) || name.IndexOf('=') >= 0 || name.IndexOf('\0') >= 0)
                        continue;
                    names.Add(name);
                }
            }
            names.Sort(StringComparer.OrdinalIgnoreCase);
            StringBuilder block = new StringBuilder();
            foreach (string name in names)
            {
                object value = environment[name];
                string text = value == null ? "" : value.ToString().Replace("\0", "");
                block.Append(name).Append('=').Append(text).Append('\0');
            }
            if (block.Length == 0)
                block.Append('\0');
            return block.ToString();
        }

        // PowerShell hands $null to a string parameter as "": both mean "not given" here.
        private static string NullIfEmpty(string value)
        {
            return String.IsNullOrEmpty(value) ? null : value;
        }

        private static NativeHandle OpenForAppend(string path)
        {
            // FILE_APPEND_DATA without FILE_WRITE_DATA: every write lands at the end, like O_APPEND. Readers and
            // remove (FILE_SHARE_DELETE) are never blocked by the running command.
            NativeHandle handle = NativeMethods.CreateFileW(path,
                NativeHelpers.FILE_APPEND_DATA | NativeHelpers.FILE_READ_ATTRIBUTES | (uint)NativeHelpers.SYNCHRONIZE,
                NativeHelpers.FILE_SHARE_READ | NativeHelpers.FILE_SHARE_WRITE | NativeHelpers.FILE_SHARE_DELETE,
                IntPtr.Zero, NativeHelpers.OPEN_ALWAYS, NativeHelpers.FILE_ATTRIBUTE_NORMAL, IntPtr.Zero);
            if (handle.IsInvalid)
                throw new Win32Exception(String.Format("CreateFileW() failed for {0}", path));
            return handle;
        }

        private static IntPtr Duplicate(NativeHandle handle, IntPtr targetProcess, bool inheritable)
        {
            IntPtr target;
            if (!NativeMethods.DuplicateHandle(NativeMethods.GetCurrentProcess(), handle.DangerousGetHandle(),
                targetProcess, out target, 0, inheritable, NativeHelpers.DUPLICATE_SAME_ACCESS))
            {
                throw new Win32Exception("DuplicateHandle() failed");
            }
            return target;
        }

        private static void CloseInProcess(IntPtr process, IntPtr handle)
        {
            IntPtr ignored;
            NativeMethods.DuplicateHandle(process, handle, IntPtr.Zero, out ignored, 0, false,
                NativeHelpers.DUPLICATE_CLOSE_SOURCE);
        }

        private static bool IsRunning(IntPtr process)
        {
            int exitCode;
            if (!NativeMethods.GetExitCodeProcess(process, out exitCode))
                return false;
            return exitCode == NativeHelpers.STILL_ACTIVE;
        }

        private static string CreationTime(IntPtr process)
        {
            long creation;
            long exit;
            long kernel;
            long user;
            if (!NativeMethods.GetProcessTimes(process, out creation, out exit, out kernel, out user))
                throw new Win32Exception("GetProcessTimes() failed");
            return creation.ToString(CultureInfo.InvariantCulture);
        }
    }

    /// <summary>
    /// Command lines as Windows programs read them: CommandLineToArgvW and the Microsoft C runtime split a command
    /// line into argv with the same rules (2n backslashes + quote: n backslashes, end of a quoted part; 2n+1
    /// backslashes + quote: n backslashes and a literal quote; backslashes elsewhere are literal).
    /// </summary>
    public static class CommandLine
    {
        private static readonly char[] NeedsQuotes = new char[] { ' ', '\t', '\n', '\v', '"' };

        /// <summary>One argument (not the program name) quoted so that it reads back unchanged.</summary>
        public static string QuoteArgument(string argument)
        {
            if (argument == null)
                argument = "";
            if (argument.Length > 0 && argument.IndexOfAny(NeedsQuotes) < 0)
                return argument;
            StringBuilder quoted = new StringBuilder(argument.Length + 2);
            quoted.Append('"');
            int backslashes = 0;
            foreach (char c in argument)
            {
                if (c == '\\')
                {
                    backslashes++;
                    continue;
                }
                if (c == '"')
                    quoted.Append('\\', backslashes * 2 + 1);
                else
                    quoted.Append('\\', backslashes);
                quoted.Append(c);
                backslashes = 0;
            }
            // Backslashes before the closing quote are doubled so that they stay literal.
            quoted.Append('\\', backslashes * 2);
            quoted.Append('"');
            return quoted.ToString();
        }

        /// <summary>
        /// The command line for argv. The program name follows simpler rules (up to the next quote when it starts
        /// with one, else up to white space; no backslash escapes), so it is quoted whole when it needs quotes and
        /// may not contain a double quote.
        /// </summary>
        public static string Join(string[] argv)
        {
            if (argv == null || argv.Length == 0)
                throw new ArgumentException("argv must name a program: it is an empty list");
            string program = argv[0] ?? "";
            if (program.IndexOf('"') >= 0)
                throw new ArgumentException(String.Format("a program name cannot contain a double quote: {0}", program));
            StringBuilder line = new StringBuilder();
            if (program.Length == 0 || program.IndexOfAny(NeedsQuotes) >= 0)
                line.Append('"').Append(program).Append('"');
            else
                line.Append(program);
            for (int i = 1; i < argv.Length; i++)
                line.Append(' ').Append(QuoteArgument(argv[i]));
            return line.ToString();
        }

        /// <summary>Split a command line the way CommandLineToArgvW does (what most programs do on start).</summary>
        public static string[] Split(string commandLine)
        {
            int count;
            IntPtr argv = NativeMethods.CommandLineToArgvW(commandLine, out count);
            if (argv == IntPtr.Zero)
                throw new Win32Exception("CommandLineToArgvW() failed");
            try
            {
                string[] result = new string[count];
                for (int i = 0; i < count; i++)
                    result[i] = Marshal.PtrToStringUni(Marshal.ReadIntPtr(argv, i * IntPtr.Size));
                return result;
            }
            finally
            {
                NativeMethods.LocalFree(argv);
            }
        }
    }
}
