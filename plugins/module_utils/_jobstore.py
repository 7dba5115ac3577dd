# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The on-target job store for POSIX hosts.

Stdlib only, Python 3.8+. Private to the collection: may change in any release.

Layout (see DESIGN.md)::

    <job_root>/            0700
      .code/               the direct path's compiled verb code (plugin_utils/_direct.py), 0700, files 0600
      <id>/                0700
        job.json           the spec, written once (env keys only, never values; no stdin)
        state.json         replaced atomically on every change
        stdout  stderr     raw bytes, appended by the command itself as it produces them
        offsets.json       bytes received so far (keep/consume), changed under .lock
        .sha256.json       results=controller: the output's sha256 when the job ended, used once by plan_fetch
        stop.json          written by stop before it signals, so the supervisor records reason=stop
        .lock              flock(2) target for every read-modify-write

A job is started by a daemonized supervisor (double fork + setsid, stdio on /dev/null) which runs the
command in its own process group, enforces the timeout and writes the final state.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import sys
import time

# Every verb runs in a fresh Python on the target, so what a verb does not need is imported where it is used:
# fnmatch, hashlib, select, shlex, shutil, signal, subprocess and threading cost several milliseconds per call.

from ansible_collections.remote.jobs.plugins.module_utils._args import (
    FINISHED_STATES,
    NO_JOB_WITH_ID,
    READ_PIECE_MAX,
    RECEIVED_ELSEWHERE,
    JobArgumentError,
    check_job_id,
    parse_duration,
)

SCHEMA = 1
JOB_MARKER = 'REMOTE_JOBS_JOB'  # in every job's environment: the job's folder
TIMEOUT_GRACE = 5.0          # seconds between SIGTERM and SIGKILL when a job's own timeout fires
SPAWN_REPORT_TIMEOUT = 30.0  # how long start waits for a supervisor to say it is running
SPAWN_WINDOW = 32            # supervisors starting their commands at the same time
RESERVE_BYTES = 16384        # kept free per job, so its final state can be written on a full file system
POLL = 0.05                  # how often waiters look at state.json
LOST_CHECK_EVERY = 0.5       # how often waiters check that supervisors are alive
_HAVE_PROC = os.path.isdir('/proc/self')
# What check_lost adds to a lost job's error while its command runs on; stop replaces it once it ended the command.
_UNSUPERVISED_NOTE = '; the command (pid %s) still runs unsupervised: use remote.jobs.stop to end it'


class JobStoreError(Exception):
    """An expected failure; the message is shown to the user as the task's msg."""


# --- small helpers ----------------------------------------------------------------------------------------------

def now_iso(moment=None):
    """moment (an aware datetime; default: now) as UTC ISO 8601 with milliseconds, e.g. 2026-11-24T21:36:00.123Z."""
    moment = moment or datetime.datetime.now(datetime.timezone.utc)
    return moment.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z'


def parse_iso(value):
    try:
        return datetime.datetime.strptime(value, '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


def new_job_id():
    return '%s-%s' % (time.strftime('%Y%m%dT%H%M%S', time.gmtime()), os.urandom(3).hex())


def read_json(path, default=None):
    """The JSON object in path; default when the file is missing or not a JSON object."""
    try:
        with open(path, 'rb') as handle:
            data = json.loads(handle.read().decode('utf-8'))
    except (OSError, ValueError):
        return default
    return data if isinstance(data, dict) else default


def write_json_atomic(path, data, durable=True):
    """Write data to a temporary file beside path, then rename it over path: a reader sees the old or the new
    content, never a mix. durable: fsync before the rename, so the new content also survives a crash."""
    tmp = '%s.tmp-%d-%s' % (path, os.getpid(), os.urandom(3).hex())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(json.dumps(data, sort_keys=True).encode('utf-8'))
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def boot_id():
    try:
        with open('/proc/sys/kernel/random/boot_id') as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def _proc_stat(pid):
    """(state_char, start_time) of a live or zombie process, or None if there is none."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    if _HAVE_PROC:
        try:
            with open('/proc/%d/stat' % pid, 'rb') as handle:
                data = handle.read()
        except OSError:
            return None
        fields = data[data.rindex(b')') + 2:].split()
        return fields[0].decode(), fields[19].decode()
    import subprocess
    try:
        out = subprocess.run(['ps', '-o', 'stat=', '-o', 'lstart=', '-p', str(pid)], check=False,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=10).stdout.decode().strip()
    except (OSError, subprocess.SubprocessError):
        out = ''
    if not out:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except OSError:
            pass
        return '?', None
    stat, _sep, lstart = out.partition(' ')
    return stat[:1], ' '.join(lstart.split()) or None


def proc_start_time(pid):
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def proc_alive(pid, start_time=None):
    """True if pid is a live (non-zombie) process and, when start_time is known, the same process."""
    stat = _proc_stat(pid)
    if stat is None or stat[0] in ('Z', 'X'):
        return False
    return start_time is None or stat[1] is None or stat[1] == start_time


class _Processes:
    """One look at the process table, shared by every question a round of stop asks about it."""

    def __init__(self):
        self.live = {}       # pid -> (ppid, pgid, start_time) of every live process
        self.zombies = {}    # pid -> start_time: a zombie still holds its pid (and so its group id)
        if _HAVE_PROC:
            for entry in os.listdir('/proc'):
                if not entry.isdigit():
                    continue
                try:
                    with open('/proc/%s/stat' % entry, 'rb') as handle:
                        data = handle.read()
                except OSError:
                    continue
                fields = data[data.rindex(b')') + 2:].split()
                self._add(int(entry), fields[0].decode(), int(fields[1]), int(fields[2]), fields[19].decode())
        else:
            self._from_ps()
        self.children, self.groups = {}, {}
        for pid, (ppid, pgid, _start) in self.live.items():
            self.children.setdefault(ppid, []).append(pid)
            self.groups.setdefault(pgid, []).append(pid)

    def _add(self, pid, stat, ppid, pgid, start_time):
        if stat[:1] in ('Z', 'X'):
            self.zombies[pid] = start_time
        else:
            self.live[pid] = (ppid, pgid, start_time)

    def _from_ps(self):
        import subprocess
        try:
            out = subprocess.run(['ps', '-A', '-o', 'pid=', '-o', 'ppid=', '-o', 'pgid=', '-o', 'stat=', '-o', 'lstart='],
                                 check=False, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 timeout=10).stdout.decode()
        except (OSError, subprocess.SubprocessError):
            return
        for line in out.splitlines():
            parts = line.split(None, 4)
            if len(parts) >= 4 and parts[0].isdigit() and parts[1].isdigit() and parts[2].isdigit():
                lstart = ' '.join(parts[4].split()) if len(parts) == 5 else None
                self._add(int(parts[0]), parts[3], int(parts[1]), int(parts[2]), lstart or None)

    def runs(self, pid, start_time=None):
        """As proc_alive, from this look."""
        entry = self.live.get(pid) if isinstance(pid, int) and not isinstance(pid, bool) else None
        return entry is not None and (start_time is None or entry[2] is None or entry[2] == start_time)

    def start_time(self, pid):
        return self.live[pid][2]

    def marked(self, job_dir, since):
        """Live processes of this user whose environment carries job_dir as JOB_MARKER and that started no earlier
        than since (the job's command; a start time from /proc): what is left of a job wherever it moved."""
        if not _HAVE_PROC or not job_dir or not str(since or '').isdigit():
            return set()
        entry = ('\0%s=%s\0' % (JOB_MARKER, job_dir)).encode()
        uid, found = os.geteuid(), set()
        for pid, (_ppid, _pgid, start) in self.live.items():
            if not str(start).isdigit() or int(start) < int(since):
                continue
            try:
                if os.stat('/proc/%d' % pid).st_uid != uid:
                    continue
                with open('/proc/%d/environ' % pid, 'rb') as handle:
                    environ = handle.read()
            except OSError:
                continue
            if entry in b'\0' + environ:
                found.add(pid)
        return found

    def below(self, pids):
        """Every live descendant of these pids (one of them only as a descendant of another)."""
        found, todo = set(), list(pids)
        while todo:
            for child in self.children.get(todo.pop(), ()):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return found

    def group(self, pgid, leader_start):
        """The live members of process group pgid, if it is still the group of the process that started it at
        leader_start (a job's command leads its own group, so pgid is its pid).

        A group id is not reused while the group has members, so a group whose leader has ended is still that
        leader's; a leader (pid == pgid) that started at another time means the id was reused by someone else."""
        if not isinstance(pgid, int) or isinstance(pgid, bool) or pgid <= 1 or pgid not in self.groups:
            return set()
        start = self.live[pgid][2] if pgid in self.live else self.zombies.get(pgid)
        if leader_start and start and start != leader_start:
            return set()
        return set(self.groups[pgid])


def descendants(pid):
    """Every live descendant of pid (not pid itself)."""
    return _Processes().below([pid])


def _signal(ids, signum, send=os.kill):
    """send(id, signum) for every id (os.killpg for process groups), ignoring ids that are gone."""
    for target in ids:
        try:
            send(target, signum)
        except OSError:
            pass


def terminate_tree(supervisor_pid, supervisor_start, pid, pid_start, grace):
    """terminate_trees for one job."""
    terminate_trees([(supervisor_pid, supervisor_start, pid, pid_start)], grace)


def terminate_trees(trees, grace):
    """SIGTERM the whole process tree of every job in trees, wait up to grace seconds (one period for them all),
    then SIGKILL what is left.

    trees: (supervisor_pid, supervisor_start_time, pid, pid_start_time[, job_dir]) per job. A job's tree is every
    descendant of its supervisor (it is a child subreaper on Linux, so orphaned grandchildren stay below it), the
    command's process group (also after the command itself ended: see _Processes.group), with job_dir (a lost job,
    whose supervisor is gone) the processes marked with it (_Processes.marked), and every descendant of those.

    Every process found is remembered with its start time and stays part of the tree until it ends: when the
    command dies of the SIGTERM, its supervisor records the end and exits, and the children that ignored the
    signal move to init, below neither the supervisor nor the command; they still get the SIGKILL. The start
    time keeps a pid that was reused meanwhile from being signalled."""
    import signal
    me = os.getpid()
    known = {}  # pid -> start time of every process of the trees still running at the last look

    def look():
        """The processes of the trees as they are now, and the process groups that are still the jobs'."""
        table = _Processes()  # one look at the process table per round, however many jobs
        roots = {pid for pid, start in known.items() if table.runs(pid, start)}
        supervisors, groups = [], []
        for tree in trees:
            supervisor_pid, supervisor_start, pid, pid_start = tree[:4]
            if len(tree) > 4 and not known:  # a lost job's marked processes, at the first look
                roots |= table.marked(tree[4], pid_start)
            if table.runs(supervisor_pid, supervisor_start):
                supervisors.append(supervisor_pid)
            members = table.group(pid, pid_start)
            if members:
                groups.append(pid)
                roots |= members
            if table.runs(pid, pid_start):
                roots.add(pid)
        pids = roots | table.below(list(roots) + supervisors)
        pids.discard(me)
        known.clear()
        known.update((pid, table.start_time(pid)) for pid in pids)
        return pids, groups

    def pause(step):
        """Short first looks (most commands end within milliseconds of the signal), then every POLL."""
        return min(POLL, 0.005 * 2 ** step)

    pids, groups = look()
    _signal(groups, signal.SIGTERM, os.killpg)
    _signal(pids, signal.SIGTERM)
    deadline = time.monotonic() + max(0.0, grace)
    step = 0
    while pids and time.monotonic() < deadline:
        time.sleep(max(0.0, min(pause(step), deadline - time.monotonic())))
        step += 1
        pids, groups = look()
    for attempt in range(20):
        if not pids:
            break
        _signal(groups, signal.SIGKILL, os.killpg)
        _signal(pids, signal.SIGKILL)
        time.sleep(pause(attempt))
        pids, groups = look()


_LIBC = []


def _libc():
    """The C library through ctypes on Linux, else None; loaded once per process (start loads it before it forks,
    so the supervisors do not each pay for importing ctypes)."""
    if not _LIBC:
        libc = None
        if sys.platform.startswith('linux'):
            try:
                import ctypes
                libc = ctypes.CDLL(None, use_errno=True)
                libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
            except (OSError, AttributeError, ImportError):
                libc = None
        _LIBC.append(libc)
    return _LIBC[0]


def _set_child_subreaper():
    libc = _libc()
    if libc is not None:
        try:
            libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        except AttributeError:
            pass


def punch_hole(path, length):
    """Free the disk blocks of the first length bytes of path, keeping its size (Linux; best effort).

    Reads of that range return zeros afterwards; the appending writer is not disturbed."""
    libc = _libc()
    if libc is None:
        return False
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        return False
    try:
        return libc.fallocate(fd, 0x01 | 0x02, 0, length) == 0  # FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE
    finally:
        os.close(fd)


def _close_fds(keep):
    try:
        fds = [int(fd) for fd in os.listdir('/proc/self/fd' if _HAVE_PROC else '/dev/fd')]
    except OSError:
        fds = range(3, 4096)
    for fd in fds:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _quoted(argv):
    """argv as one shell-quoted command line, for display."""
    import shlex
    return ' '.join(shlex.quote(a) for a in argv)


def _rmtree(path):
    import shutil
    shutil.rmtree(path, ignore_errors=True)


HASHES = '.sha256.json'   # results=controller: the output's sha256 as the job ended (see _remember_hashes)
HASH_AT_END = 256 << 20   # at most this many bytes per stream are hashed then (~0.15 s with SHA extensions)


def _read_range(path, start, end, copy_to=None, digest=True):
    """Read bytes start..end of path, copying them to copy_to (a new file) if given. Returns their sha256 ('' when
    digest is false), or None if the file ends before end."""
    import hashlib
    hashed = hashlib.sha256() if digest else None
    dst = os.fdopen(os.open(copy_to, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), 'wb') if copy_to else None
    try:
        with open(path, 'rb') as src:
            src.seek(start)
            left = end - start
            while left:
                chunk = src.read(min(left, 1 << 20))
                if not chunk:
                    return None
                if hashed:
                    hashed.update(chunk)
                if dst:
                    dst.write(chunk)
                left -= len(chunk)
    finally:
        if dst:
            dst.close()
    return hashed.hexdigest() if hashed else ''


PIECE_ROOM = 64 << 20      # free space a piece copy must leave besides its own size again


def _room_for_copy(folder, length):
    """Whether the file system of folder can take a copy of length bytes and still keep length + PIECE_ROOM free."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return True
    return st.f_bavail * st.f_frsize >= 2 * length + PIECE_ROOM


def _remember_hashes(job_dir, paths):
    """results=controller, as the job ends: the sha256 of each stream's output not fetched yet, so the receive that
    plans fetching it does not read it all again (it may come much later; plan_fetch uses an entry only for the
    exact same range, and only once). Best effort: without the file, plan_fetch hashes. Up to HASH_AT_END bytes per
    stream, since waiters see the end only after this."""
    offsets = read_json(os.path.join(job_dir, 'offsets.json'), {})
    known = {}
    for stream, path in paths.items():
        start = offsets.get(stream)
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            continue
        try:
            end = os.path.getsize(path)
            sha256 = _read_range(path, start, end) if start < end <= start + HASH_AT_END else None
        except OSError:
            continue
        if sha256:
            known[stream] = {'start': start, 'end': end, 'sha256': sha256}
    if known:
        try:
            write_json_atomic(os.path.join(job_dir, HASHES), known, durable=False)
        except OSError:
            pass


def job_view(job_id, spec, st, has_more_data, stdout_path, stderr_path):
    """The job object every verb returns: from a job's record (job.json) and state (state.json)."""
    argv = spec.get('argv')
    return {
        'id': job_id,
        'name': spec.get('name'),
        'state': st.get('state'),
        'reason': st.get('reason'),
        'has_more_data': has_more_data,
        'location': spec.get('location'),
        'command': spec.get('command') if argv is None else _quoted(argv),
        'argv': argv,
        'chdir': spec.get('chdir'),
        'timeout': spec.get('timeout'),
        'pid': st.get('pid'),
        'rc': st.get('rc'),
        'signal': st.get('signal'),
        'error': st.get('error'),
        'started': st.get('started'),
        'finished': st.get('finished'),
        'results': spec.get('results', 'target'),
        'results_dir': spec.get('results_dir'),
        'retention': spec.get('retention'),
        'stdout_path': stdout_path,
        'stderr_path': stderr_path,
    }


def user_path(path):
    """A path as the user means it: ~ expanded, a relative path taken from the home folder (as on Windows, where
    it is taken from the profile), whatever folder this process runs in."""
    return os.path.normpath(os.path.join(os.path.expanduser('~'), os.path.expanduser(path)))


def _is_job_dir(path):
    """A job's folder: a real folder (not a link) holding job.json. A job's folder is prepared under a temporary
    name and renamed once job.json is in it, so any other folder in the job root is not a job and is left alone."""
    return os.path.isdir(path) and not os.path.islink(path) and os.path.isfile(os.path.join(path, 'job.json'))


def _utf8_length(lead):
    """How many bytes the UTF-8 character starting with byte lead takes (1 for a byte that starts none)."""
    return 2 if 0xC0 <= lead < 0xE0 else 3 if 0xE0 <= lead < 0xF0 else 4 if 0xF0 <= lead < 0xF8 else 1


def _utf8_safe_end(data):
    """Length of data without an incomplete UTF-8 sequence at its end (held back while a job runs)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)
        if byte >= 0xC0:
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if back >= need else len(data) - back
    return len(data)


class _Lock:
    """An exclusive flock(2) on a job's .lock file."""

    def __init__(self, path):
        self.path = path
        self.fd = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)
        self.fd = None


# --- a job ------------------------------------------------------------------------------------------------------

_SPEC_TYPES = {
    'name': str, 'command': str, 'executable': str, 'argv': list, 'chdir': str, 'env_keys': list, 'timeout': (int, float),
    'results': str, 'output_path': str, 'results_dir': str, 'retention': (int, float), 'stdout_path': str,
    'stderr_path': str, 'created': str, 'location': str, 'has_stdin': bool, 'schema': int, 'id': str,
}
_STATE_TYPES = {
    'state': str, 'reason': str, 'rc': int, 'signal': int, 'pid': int, 'pid_start_time': str,
    'supervisor_pid': int, 'supervisor_start_time': str, 'boot_id': str, 'started': str, 'finished': str,
    'error': str,
}


def _typed(record, types):
    """Only the known keys of a JSON record, each with the expected type (a corrupt value reads as missing)."""
    clean = {}
    for key, kind in types.items():
        value = record.get(key)
        if isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool):
            clean[key] = value
    if 'argv' in clean and not all(isinstance(a, str) for a in clean['argv']):
        del clean['argv']
    for key in ('stdout_path', 'stderr_path'):
        if key in clean and not os.path.isabs(clean[key]):
            del clean[key]
    return clean


class Job:
    def __init__(self, store, job_id):
        self.store = store
        self.id = job_id
        self.dir = os.path.join(store.root, job_id)
        self.spec = _typed(read_json(os.path.join(self.dir, 'job.json'), {}), _SPEC_TYPES)
        self.state = {}
        self._state_sig = None
        self.reload()

    # paths
    def path(self, name):
        return os.path.join(self.dir, name)

    @property
    def stdout_path(self):
        return self.spec.get('stdout_path') or self.path('stdout')

    @property
    def stderr_path(self):
        return self.spec.get('stderr_path') or self.path('stderr')

    def lock(self):
        return _Lock(self.path('.lock'))

    # state
    def reload(self):
        """Read state.json if it changed since the last read."""
        try:
            st = os.stat(self.path('state.json'))
            sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            sig = None
        if sig is not None and sig == self._state_sig:
            return
        self._state_sig = sig
        state = read_json(self.path('state.json')) if sig else None
        state = _typed(state, _STATE_TYPES) if state is not None else None
        if state is None or state.get('state') not in ('running',) + FINISHED_STATES:
            state = {'state': 'failed', 'reason': 'lost', 'rc': None,
                     'error': 'state.json of this job is missing or unreadable'}
        self.state = state

    @property
    def finished(self):
        return self.state.get('state') in FINISHED_STATES

    def _write_state(self, **changes):
        """Merge changes into state.json; the caller holds the lock."""
        state = read_json(self.path('state.json'), {})
        state.update(changes)
        write_json_atomic(self.path('state.json'), state)
        self._state_sig = None
        self.reload()

    def supervisor_alive(self):
        st = self.state
        if st.get('boot_id') and boot_id() and st['boot_id'] != boot_id():
            return False
        return proc_alive(st.get('supervisor_pid'), st.get('supervisor_start_time'))

    def check_lost(self):
        """A running job whose supervisor vanished (killed, reboot, pid reused) is recorded as failed/lost."""
        self.reload()
        if self.finished or self.supervisor_alive():
            return False
        with self.lock():
            self._state_sig = None
            self.reload()
            if self.finished or self.supervisor_alive():
                return False
            st = self.state
            note = 'its supervisor (pid %s) is gone: the host rebooted or the process was killed' % st.get('supervisor_pid')
            if proc_alive(st.get('pid'), st.get('pid_start_time')):
                note += _UNSUPERVISED_NOTE % st.get('pid')
            self._write_state(state='failed', reason='lost', finished=now_iso(), error=note)
        mark_expiry(self.store.root, self.id, self.spec.get('retention'))
        return True

    # output
    def offsets(self):
        offsets = read_json(self.path('offsets.json'), {})
        return {stream: offsets[stream] if isinstance(offsets.get(stream), int) and not isinstance(offsets[stream], bool)
                and offsets[stream] >= 0 else 0 for stream in ('stdout', 'stderr')}

    def _sizes(self):
        sizes = {}
        for stream, path in (('stdout', self.stdout_path), ('stderr', self.stderr_path)):
            try:
                sizes[stream] = os.path.getsize(path)
            except OSError:
                sizes[stream] = 0
        return sizes

    def has_more_data(self):
        """True while the job runs, or while any output has not been received (consumed)."""
        if not self.finished:
            return True
        offsets, sizes = self.offsets(), self._sizes()
        return any(sizes[s] > offsets[s] for s in sizes)

    def view(self):
        return job_view(self.id, self.spec, self.state, self.has_more_data(), self.stdout_path, self.stderr_path)


# --- the store --------------------------------------------------------------------------------------------------

class JobStore:
    def __init__(self, root):
        if not root:
            raise JobStoreError('job_root is empty: give a folder for the job store, or leave it unset for ~/.ansible_jobs')
        self.root = os.path.abspath(os.path.expanduser(root))
        self.location = os.uname().nodename

    # root checks
    def _check_root(self):
        try:
            st = os.stat(self.root)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise JobStoreError('cannot read job root %s: %s' % (self.root, exc.strerror))
        if not os.path.isdir(self.root):
            raise JobStoreError('job root %s is not a folder: point job_root (or remote_jobs_root) at a folder' % self.root)
        if st.st_uid != os.geteuid():
            raise JobStoreError('job root %s is owned by uid %d, not by this user (uid %d): use a job root of your own'
                                % (self.root, st.st_uid, os.geteuid()))
        if st.st_mode & 0o022:
            raise JobStoreError('job root %s is group- or world-writable (mode %o): run chmod 700 on it or choose another job_root'
                                % (self.root, st.st_mode & 0o777))
        return True

    def ensure_root(self):
        if not self._check_root():
            try:
                os.makedirs(self.root, mode=0o700)
            except FileExistsError:
                pass
            except OSError as exc:
                raise JobStoreError('cannot create job root %s: %s' % (self.root, exc.strerror))
            os.chmod(self.root, 0o700)
            self._check_root()

    def job_dir(self, job_id):
        return os.path.join(self.root, check_job_id(job_id))

    # selection
    def all_ids(self):
        if not self._check_root():
            return []
        ids = []
        for entry in os.listdir(self.root):
            if entry.startswith('.'):
                continue
            try:
                check_job_id(entry)
            except JobArgumentError:
                continue
            if _is_job_dir(os.path.join(self.root, entry)):
                ids.append(entry)
        return ids

    def load(self, job_id):
        """The job with this id, or None."""
        job_dir = self.job_dir(job_id)
        if not self._check_root() or not _is_job_dir(job_dir):
            return None
        return Job(self, job_id)

    def select(self, ids=None, names=None, glob=False, states=None, has_more_data=None, older_than=None,
               require=False):
        """Jobs matching every given filter (each list matches any of its items).

        require: fail when an id names no job, or a name matches none (for verbs that act on jobs). A filter given as
        an empty list selects nothing (a list that came out empty never means every job)."""
        if any(f is not None and not len(f) for f in (ids, names, states)):
            return []
        ids, names = list(ids or []), list(names or [])
        for job_id in ids:
            check_job_id(job_id)
        if ids:
            jobs = []
            for job_id in dict.fromkeys(ids):
                job = self.load(job_id)
                if job is None:
                    if require:
                        raise JobStoreError('%s %s in %s: list jobs with remote.jobs.info' % (NO_JOB_WITH_ID, job_id, self.root))
                    continue
                jobs.append(job)
        else:
            jobs = [Job(self, job_id) for job_id in self.all_ids()]
        if names:
            import fnmatch

            def name_matches(job):
                name = job.spec.get('name')
                if name is None:
                    return False
                return any(fnmatch.fnmatchcase(name, n) if glob else name == n for n in names)
            before = jobs
            jobs = [job for job in jobs if name_matches(job)]
            if require:
                for n in names:
                    if not any(fnmatch.fnmatchcase(j.spec.get('name') or '', n) if glob else j.spec.get('name') == n
                               for j in before):
                        raise JobStoreError('no job named %s in %s: list jobs with remote.jobs.info' % (n, self.root))
        for job in jobs:
            job.check_lost()
        if states:
            jobs = [job for job in jobs if job.state.get('state') in states]
        if older_than is not None:
            limit = time.time() - parse_duration(older_than)
            jobs = [job for job in jobs if job.finished and _timestamp(job.state.get('finished')) < limit]
        if has_more_data is not None:
            jobs = [job for job in jobs if job.has_more_data() == has_more_data]
        # In the order they were started (a batch in its own order: start gives each job a later `created`).
        jobs.sort(key=lambda job: (job.spec.get('created') or job.state.get('started') or '', job.id))
        return jobs

    # retention
    def expire(self):
        """Remove finished jobs whose retention has passed; returns their ids.

        When a job with a retention ends, a marker <root>/.expire/<epoch milliseconds>-<id> is left, so this only
        lists that folder, however many jobs the store holds."""
        folder = os.path.join(self.root, '.expire')
        try:
            markers = os.listdir(folder)
        except OSError:
            return []
        now, removed = time.time() * 1000, []
        for marker in sorted(markers):
            epoch, _sep, job_id = marker.partition('-')
            if not epoch.isdigit() or int(epoch) > now:
                continue
            try:
                job = self.load(job_id)
            except JobArgumentError:
                job = None
            if job is not None and job.finished and self.remove(job):
                removed.append(job_id)
            try:
                os.unlink(os.path.join(folder, marker))
            except OSError:
                pass
        return removed

    # start
    def start(self, specs):
        """Start every job in specs (dicts of start options) and return their Job objects.

        Supervisors are forked one after the other but start their commands in parallel: up to SPAWN_WINDOW
        are in flight while start collects their reports. A job that cannot be started stops the batch: the
        jobs already in flight are collected (they run), later ones are not started, and the error is raised."""
        self.ensure_root()
        # Ids that cannot be used fail the batch before anything runs (a batch stopped half way would leave jobs
        # running that its failed task does not report).
        for spec in specs:
            if spec.get('id'):
                self._check_free(spec['id'])
        _preload_for_supervisors()
        launched, started, flight, error = [], set(), _Flight(), None
        self._created = None
        for spec in specs:
            if len(flight) >= SPAWN_WINDOW:
                error = flight.collect_one(started)
                if error is not None:
                    break
            try:
                launch = self._launch(spec)
            except JobStoreError as exc:
                error = exc
                break
            launched.append(launch.job_id)
            flight.add(launch)
        while flight:
            error = flight.collect_one(started) or error
        jobs = [Job(self, job_id) for job_id in launched if job_id in started]
        if error is not None:
            error.started = jobs  # they run: the caller reports them with the error
            raise error
        return jobs

    def _check_free(self, job_id):
        """The folder a new job with job_id gets; raises when something already has that name."""
        final_dir = self.job_dir(job_id)
        if os.path.lexists(final_dir):
            raise JobStoreError('a job with id %s already exists in %s: choose another id or remove that job' % (job_id, self.root))
        return final_dir

    def _next_created(self):
        """now_iso(), but later than the previous job of this batch: the batch lists in its own order."""
        now = datetime.datetime.now(datetime.timezone.utc)
        last = self._created
        if last is not None and now <= last + datetime.timedelta(milliseconds=1):
            now = last + datetime.timedelta(milliseconds=1)
        self._created = now
        return now_iso(now)

    def _launch(self, spec):
        """Prepare a job's folder under a temporary name and fork its supervisor; returns the _Launch."""
        job_id = spec.get('id') or new_job_id()
        final_dir = self._check_free(job_id)
        stdout_path = spec.get('output_path')
        if stdout_path:
            stdout_path = user_path(stdout_path)
        argv = spec.get('argv')
        record = {
            'schema': SCHEMA,
            'id': job_id,
            'name': spec.get('name'),
            'command': spec.get('command'),
            'executable': spec.get('executable'),
            'argv': list(argv) if argv is not None else None,
            'chdir': spec.get('chdir'),
            'env_keys': sorted((spec.get('env') or {}).keys()),
            'has_stdin': spec.get('stdin') is not None,
            'timeout': spec.get('timeout'),
            'results': spec.get('results') or 'target',
            'output_path': stdout_path,
            'results_dir': spec.get('results_dir'),
            'retention': parse_duration(spec['retention'], 'retention') if spec.get('retention') is not None else None,
            'stdout_path': stdout_path or os.path.join(final_dir, 'stdout'),
            'stderr_path': os.path.join(final_dir, 'stderr'),
            'created': self._next_created(),
            'location': self.location,
        }
        tmp_dir = os.path.join(self.root, '.new-%s-%s' % (job_id, os.urandom(3).hex()))
        os.mkdir(tmp_dir, 0o700)
        try:
            read_fd, pid = _fork_supervisor(tmp_dir, final_dir, record, spec)
        except BaseException:
            _rmtree(tmp_dir)
            raise
        return _Launch(job_id, tmp_dir, read_fd, pid)

    # wait
    def wait(self, jobs, any_=False, timeout=None):
        """Block until all (or any) jobs have finished, or timeout seconds pass. Returns timed_out.

        state.json is read every POLL seconds; where the system can say when a process exits (Linux 5.3+,
        Python 3.9+), the exit of a job's supervisor, right after it records the end, wakes the waiter at once, and
        while every running job's supervisor is watched state.json is read only every LOST_CHECK_EVERY seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last_lost_check = time.monotonic()
        exits = _Exits()
        try:
            while True:
                for job in jobs:
                    if not job.finished:
                        job.reload()
                if time.monotonic() - last_lost_check >= LOST_CHECK_EVERY:
                    last_lost_check = time.monotonic()
                    for job in jobs:
                        if not job.finished:
                            job.check_lost()
                done = sum(1 for job in jobs if job.finished)
                if done == len(jobs) or (any_ and done):
                    return False
                if deadline is not None and time.monotonic() >= deadline:
                    return True
                running = [job for job in jobs if not job.finished]
                exits.watch(running)
                # Every end is recorded by a supervisor that then exits: when all of them are watched, their exits
                # wake the waiter and state.json needs reading only as often as the lost check runs.
                pause = LOST_CHECK_EVERY if exits.watches(running) else POLL
                exits.sleep(pause if deadline is None else max(0.0, min(pause, deadline - time.monotonic())))
        finally:
            exits.close()

    # receive
    def read_new(self, job, max_bytes=0):
        """Output not yet received, without consuming it.

        Returns (bytes per stream, truncated, offset each stream's bytes start at). While the job runs, an
        incomplete UTF-8 sequence at the end is held back for the next read."""
        job.reload()
        finished = job.finished
        out, truncated, starts = {}, False, {}
        with job.lock():
            offsets = job.offsets()
            sizes = job._sizes()
            for stream, path in (('stdout', job.stdout_path), ('stderr', job.stderr_path)):
                start = min(offsets[stream], sizes[stream])
                count = sizes[stream] - start
                if max_bytes:
                    count = min(count, max_bytes)
                data = b''
                if count:
                    with open(path, 'rb') as handle:
                        handle.seek(start)
                        data = handle.read(count)
                        if not finished or len(data) < sizes[stream] - start:
                            whole = data[:_utf8_safe_end(data)]
                            if not whole and len(data) < sizes[stream] - start:
                                # max_bytes is smaller than the first character: return that character whole, so
                                # receives with a tiny max_bytes still make progress.
                                handle.seek(start)
                                first = handle.read(_utf8_length(data[0]))
                                whole = first if finished or _utf8_safe_end(first) == len(first) else b''
                            data = whole
                truncated = truncated or start + len(data) < sizes[stream]
                out[stream] = data
                starts[stream] = start
        return out, truncated, starts

    def receive(self, job, keep=False, max_bytes=0):
        """Output not yet received; consumed unless keep. Returns (bytes per stream, truncated).

        Only the bytes this call read are consumed: a concurrent consumer that got them first wins them."""
        out, truncated, starts = self.read_new(job, max_bytes)
        if not keep:
            accepted = self.commit(job, {s: (starts[s], starts[s] + len(out[s])) for s in out})
            out = {s: (data if accepted.get(s, True) else b'') for s, data in out.items()}
        return out, truncated

    # results: controller - the controller fetches pieces, verifies them, then commits
    def plan_fetch(self, job):
        """Describe the bytes of each stream not fetched yet, as files the controller can fetch whole.

        A piece from offset 0 is the output file itself (the controller keeps only its first `end` bytes);
        a later piece is copied into .pieces/ so only new bytes travel, unless the file system is too full for the
        copy: then its path is None and the controller reads it through the receive module. Returns a list of
        {stream, start, end, sha256, path}. A sha256 the supervisor left for exactly that range when the job ended
        is used once instead of reading the range again (see _remember_hashes)."""
        job.reload()
        pieces = []
        pieces_dir = job.path('.pieces')
        with job.lock():
            _rmtree(pieces_dir)
            offsets, sizes = job.offsets(), job._sizes()
            known = read_json(job.path(HASHES), {})
            try:
                os.unlink(job.path(HASHES))  # used once: a fetch that fails its check plans with fresh hashes
            except FileNotFoundError:
                pass
            for stream, path in (('stdout', job.stdout_path), ('stderr', job.stderr_path)):
                start, end = offsets[stream], sizes[stream]
                if end <= start:
                    continue
                entry = known.get(stream) if isinstance(known.get(stream), dict) else {}
                sha256 = entry.get('sha256') if (entry.get('start'), entry.get('end')) == (start, end) else None
                if not (isinstance(sha256, str) and len(sha256) == 64):
                    sha256 = None
                source = path
                if start and not _room_for_copy(job.dir, end - start):
                    # No copy on a file system this full (it could starve the job's own writes): the controller
                    # reads the piece through the receive module instead (path None).
                    source = None
                    if not sha256:
                        sha256 = complete = _read_range(path, start, end)
                    else:
                        complete = True
                elif start:
                    os.makedirs(pieces_dir, mode=0o700, exist_ok=True)
                    source = os.path.join(pieces_dir, '%s-%d-%d' % (stream, start, end))
                    try:
                        if sha256:
                            complete = _read_range(path, start, end, source, digest=False) is not None
                        else:
                            sha256 = complete = _read_range(path, start, end, source)
                    except OSError as exc:
                        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                            raise
                        _rmtree(pieces_dir)
                        source = None
                        sha256 = complete = _read_range(path, start, end)
                elif sha256:
                    complete = True  # end is the file's size, measured just now
                else:
                    sha256 = complete = _read_range(path, start, end)
                if not complete:
                    raise JobStoreError('%s of job %s shrank while it was read' % (stream, job.id))
                pieces.append({'stream': stream, 'start': start, 'end': end, 'sha256': sha256, 'path': source})
        return pieces

    def read_piece(self, job, stream, start, end):
        """Bytes start..end of a stream that is not received past start yet: a planned piece read through the
        verb's own result, for a controller whose connection cannot read the job's files (become to another user).
        Read under the job's lock, so a concurrent commit cannot free the range mid-read."""
        if stream not in ('stdout', 'stderr'):
            raise JobStoreError('stream must be stdout or stderr, got %r' % (stream,))
        if not 0 <= start <= end or end - start > READ_PIECE_MAX:
            raise JobStoreError('a piece read covers 0 to %d bytes from a start of 0 or more, got %r..%r' % (
                READ_PIECE_MAX, start, end))
        path = job.stdout_path if stream == 'stdout' else job.stderr_path
        with job.lock():
            if job.offsets()[stream] > start:
                raise JobStoreError('%s of job %s from byte %d was %s meanwhile: run receive again' % (
                    stream, job.id, start, RECEIVED_ELSEWHERE))
            with open(path, 'rb') as src:
                src.seek(start)
                data = src.read(end - start)
        if len(data) < end - start:
            raise JobStoreError('%s of job %s ends before byte %d: run receive again' % (stream, job.id, end))
        return data

    def commit(self, job, ranges):
        """Record ranges the controller now holds as received (second half of a consuming receive).

        ranges: {stream: (start, end)}. A range is accepted only if nobody received past its start meanwhile, so
        of two concurrent consumers exactly one gets each byte. Returns {stream: accepted}. For results=controller
        the target then drops what was fetched."""
        accepted = {}
        with job.lock():
            offsets = job.offsets()
            new = dict(offsets)
            for stream, (start, end) in ranges.items():
                if stream in new and end > start:
                    accepted[stream] = new[stream] == start
                    if accepted[stream]:
                        new[stream] = end
            if new != offsets:
                write_json_atomic(job.path('offsets.json'), new)
            if os.path.isdir(job.path('.pieces')):
                _rmtree(job.path('.pieces'))
            if job.spec.get('results') == 'controller':
                self._drop_fetched(job, new)
        return accepted

    def _drop_fetched(self, job, offsets):
        """results=controller: the controller holds the bytes up to offsets, so the target lets them go.

        A finished job's files are emptied once all is fetched; a running job's fetched bytes are freed in place
        (its command still appends to the files). Called with the job's lock held."""
        job._state_sig = None
        job.reload()
        sizes = job._sizes()
        # Only files in the job's own folder are dropped (results=controller never uses output_path).
        streams = [(stream, path) for stream, path in (('stdout', job.stdout_path), ('stderr', job.stderr_path))
                   if os.path.dirname(path) == job.dir]
        if job.finished and all(sizes[s] <= offsets[s] for s in sizes):
            for _stream, path in streams:
                if os.path.exists(path) and os.path.getsize(path):
                    os.truncate(path, 0)
            return
        for stream, path in streams:
            if offsets[stream]:
                punch_hole(path, offsets[stream])

    # stop
    def stop(self, job, grace):
        """Stop a running job's whole process tree. Returns True if the job was running."""
        return self.stop_all([job], grace)[0]

    def still_running(self, jobs):
        """Per job, whether stop would end something: the job runs, or it is lost and its command, or what is left
        of the command's process group, still runs unsupervised. Checks each job for being lost first.

        Processes that left a lost job's process group (setsid) are found by the job's marker in their environment
        (unless they cleared it); a lost job from before a reboot has no processes left."""
        table, current_boot, running = None, None, []
        for job in jobs:
            job.check_lost()
            st = job.state
            if not job.finished:
                running.append(True)
                continue
            if st.get('reason') != 'lost' or not st.get('pid'):
                running.append(False)
                continue
            if table is None:
                table, current_boot = _Processes(), boot_id()
            if st.get('boot_id') and current_boot and st['boot_id'] != current_boot:
                running.append(False)
                continue
            running.append(table.runs(st['pid'], st.get('pid_start_time'))
                           or bool(table.group(st['pid'], st.get('pid_start_time')))
                           or bool(table.marked(job.dir, st.get('pid_start_time'))))
        return running

    def stop_all(self, jobs, grace):
        """Stop jobs together: every tree gets SIGTERM at once and the batch shares one grace period, so stopping
        many jobs that ignore SIGTERM takes grace seconds, not grace seconds per job. Returns, per job, whether it
        was running (a lost job whose command, or a process of its group, still ran counts: see still_running)."""
        was_running = self.still_running(jobs)
        trees, stopping, unsupervised = [], [], []
        for job, running in zip(jobs, was_running):
            if not running:
                continue
            st = job.state
            if job.finished:
                trees.append((None, None, st['pid'], st.get('pid_start_time'), job.dir))
                unsupervised.append(job)
                continue
            write_json_atomic(job.path('stop.json'), {'requested': now_iso()})
            trees.append((st.get('supervisor_pid'), st.get('supervisor_start_time'), st.get('pid'),
                          st.get('pid_start_time')))
            stopping.append(job)
        if trees:
            terminate_trees(trees, grace)
        for job in unsupervised:  # their error said the command still runs
            with job.lock():
                job._state_sig = None
                job.reload()
                if job.state.get('reason') == 'lost':
                    note = (job.state.get('error') or '').split(_UNSUPERVISED_NOTE.partition('%')[0])[0]
                    job._write_state(error='%s; stop ended what was left of its command (pid %s)'
                                     % (note, job.state.get('pid')))
        # The supervisors record the ends (stop.json makes it `stopped`); their exits wake this wait.
        deadline = time.monotonic() + 10
        exits = _Exits()
        try:
            while True:
                pending = []
                for job in stopping:
                    job.reload()
                    if not job.finished and job.supervisor_alive():
                        pending.append(job)
                if not pending or time.monotonic() >= deadline:
                    break
                exits.watch(pending)
                exits.sleep(min(POLL, max(0.0, deadline - time.monotonic())))
        finally:
            exits.close()
        for job in stopping:
            with job.lock():
                job._state_sig = None
                job.reload()
                if not job.finished:
                    job._write_state(state='stopped', reason='stop', finished=now_iso(),
                                     error='the supervisor did not record the end; stop recorded it')
        return was_running

    # remove
    def remove(self, job):
        """Delete a job's folder (atomically out of sight first). A named output_path file is kept."""
        trash = os.path.join(self.root, '.removing-%s-%s' % (job.id, os.urandom(3).hex()))
        try:
            os.rename(job.dir, trash)
        except FileNotFoundError:
            return False
        _rmtree(trash)
        return True


class _Exits:
    """Sleeps that end early when a watched job's supervisor exits (a pidfd per supervisor, polled).

    Without pidfd_open (Python before 3.9, Linux before 5.3, other systems) the sleeps are plain sleeps. At most
    MAX_WATCHED supervisors are watched at once (one file descriptor each); the others are noticed by the next read
    of their state.json, as every job is without pidfds."""

    MAX_WATCHED = 256

    def __init__(self):
        self.fds = {}  # job id -> pidfd
        self.poller = None
        self.usable = hasattr(os, 'pidfd_open')

    def watch(self, jobs):
        if not self.usable:
            return
        for job in jobs:
            if job.id in self.fds or len(self.fds) >= self.MAX_WATCHED:
                continue
            pid, start_time = job.state.get('supervisor_pid'), job.state.get('supervisor_start_time')
            if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or not start_time:
                continue
            try:
                fd = os.pidfd_open(pid)
            except OSError as exc:
                if exc.errno in (errno.ENOSYS, errno.EPERM, errno.EMFILE, errno.ENFILE):
                    self.usable = False  # what is watched stays watched; no new pidfds
                    return
                continue  # ESRCH: already gone; the next read of state.json (or the lost check) tells
            # The pid may already belong to another process: only a supervisor with the recorded start time counts.
            if proc_start_time(pid) != start_time:
                os.close(fd)
                continue
            if self.poller is None:
                import select
                self.poller = select.poll()
            self.poller.register(fd)
            self.fds[job.id] = fd

    def watches(self, jobs):
        """True if the exit of every one of these jobs' supervisors will wake sleep()."""
        return all(job.id in self.fds for job in jobs)

    def sleep(self, seconds):
        if self.poller is None:
            time.sleep(seconds)
            return
        for fd, _event in self.poller.poll(max(0, int(seconds * 1000))):
            self.poller.unregister(fd)
            os.close(fd)
            self.fds = {job_id: watched for job_id, watched in self.fds.items() if watched != fd}

    def close(self):
        for fd in self.fds.values():
            os.close(fd)
        self.fds = {}


def mark_expiry(root, job_id, retention):
    """Leave the marker JobStore.expire looks for: the job may be removed retention seconds from now."""
    if retention is None:
        return
    folder = os.path.join(root, '.expire')
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        os.close(os.open(os.path.join(folder, '%d-%s' % (int((time.time() + retention) * 1000), job_id)),
                         os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError:
        pass


def _timestamp(iso):
    parsed = parse_iso(iso)
    return parsed.timestamp() if parsed else 0.0


# --- the supervisor ---------------------------------------------------------------------------------------------

def _preload_for_supervisors():
    """Import what supervisors use before forking them, so each does not import it again."""
    import subprocess  # noqa: F401  pylint: disable=unused-import
    import threading  # noqa: F401  pylint: disable=unused-import
    _libc()


def _fork_supervisor(tmp_dir, final_dir, record, spec):
    """Double-fork a detached supervisor; return (the read end of the pipe it reports on, the pid to reap).

    The supervisor fills the job's folder itself, so the supervisors of a batch do their writes in parallel."""
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except BaseException:
        os.close(read_fd)
        os.close(write_fd)
        raise
    if pid == 0:
        try:
            os.close(read_fd)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            _detach(keep=(write_fd,))
            _Supervisor(tmp_dir, final_dir, record, spec).run(write_fd)
        except BaseException:  # never return into the module's code from a child
            pass
        finally:
            os._exit(0)
    os.close(write_fd)
    return read_fd, pid


class _Launch:
    """A supervisor that was forked and has not reported yet."""

    def __init__(self, job_id, tmp_dir, read_fd, pid):
        self.job_id = job_id
        self.tmp_dir = tmp_dir
        self.read_fd = read_fd
        self.pid = pid  # the intermediate child: it exits as soon as the supervisor is forked
        self.chunks = []
        self.deadline = time.monotonic() + SPAWN_REPORT_TIMEOUT

    def report(self):
        try:
            return json.loads(b''.join(self.chunks).decode('utf-8'))
        except ValueError:
            return {'fatal': 'the supervisor exited before it could start the command'}


class _Flight:
    """Supervisors in flight, collected as their reports arrive (a report ends when the supervisor closes its pipe)."""

    def __init__(self):
        self.launches = {}

    def __len__(self):
        return len(self.launches)

    def add(self, launch):
        self.launches[launch.read_fd] = launch

    def collect_one(self, started):
        """Wait until one launch has reported; add its id to started. Returns a JobStoreError or None."""
        import select
        while True:
            now = time.monotonic()
            late = [launch for launch in self.launches.values() if launch.deadline <= now]
            if late:
                return self._done(late[0], {'fatal': 'the supervisor did not report within %d seconds'
                                            % SPAWN_REPORT_TIMEOUT}, started)
            wait = min(launch.deadline for launch in self.launches.values()) - now
            for fd in select.select(list(self.launches), [], [], wait)[0]:
                launch = self.launches[fd]
                chunk = os.read(fd, 65536)
                if chunk:
                    launch.chunks.append(chunk)
                else:
                    return self._done(launch, launch.report(), started)

    def _done(self, launch, report, started):
        del self.launches[launch.read_fd]
        os.close(launch.read_fd)
        os.waitpid(launch.pid, 0)
        if 'fatal' in report:
            _rmtree(launch.tmp_dir)
            return JobStoreError('job %s could not be started: %s' % (launch.job_id, report['fatal']))
        started.add(launch.job_id)
        return None


def _detach(keep):
    os.chdir('/')
    os.umask(0o077)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    _close_fds(keep=set(keep))


class _Supervisor:
    def __init__(self, tmp_dir, final_dir, record, spec):
        self.tmp_dir = tmp_dir
        self.final_dir = final_dir
        self.record = record
        self.spec = spec

    def _report(self, fd, data):
        payload = json.dumps(data).encode('utf-8')
        while payload:
            payload = payload[os.write(fd, payload):]
        os.close(fd)

    def _prepare(self):
        """The job's folder (still under its temporary name): job.json, offsets.json, empty output files, reserve."""
        tmp_dir, record = self.tmp_dir, self.record
        # Only job.json is fsynced here: a crash before the job ends makes it lost anyway (a new boot id), and
        # missing offsets read as nothing received yet. The end (state.json) and every commit are fsynced.
        write_json_atomic(os.path.join(tmp_dir, 'job.json'), record)
        # An output_path file may hold earlier text: this job's output starts at its present end.
        stdout_start = 0
        if record['output_path']:
            try:
                fd = os.open(record['output_path'], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            except OSError as exc:
                return 'cannot open output_path %s: %s' % (record['output_path'], exc.strerror)
            try:
                stdout_start = os.fstat(fd).st_size
            finally:
                os.close(fd)
        write_json_atomic(os.path.join(tmp_dir, 'offsets.json'), {'stdout': stdout_start, 'stderr': 0}, durable=False)
        for name in ('stderr', '.lock') + (() if record['output_path'] else ('stdout',)):
            os.close(os.open(os.path.join(tmp_dir, name), os.O_WRONLY | os.O_CREAT, 0o600))
        with open(os.path.join(tmp_dir, '.reserve'), 'wb') as handle:
            handle.write(b'\0' * RESERVE_BYTES)
        # Room for the running state, taken before the command runs: a command that fills the file system at once
        # must not keep its supervisor from recording that it runs (the write after the spawn reuses this space).
        with open(os.path.join(tmp_dir, 'state.json'), 'wb') as handle:
            handle.write(_padded({'state': 'starting'}))
        return None

    def run(self, report_fd):
        import subprocess
        import threading
        try:
            problem = self._prepare()
        except OSError as exc:
            problem = 'cannot prepare the job folder %s: %s' % (self.tmp_dir, exc.strerror or exc)
        if problem is not None:
            self._report(report_fd, {'fatal': problem})
            return
        me = os.getpid()
        base = {
            'supervisor_pid': me,
            'supervisor_start_time': proc_start_time(me),
            'boot_id': boot_id(),
            'pid': None, 'pid_start_time': None, 'rc': None, 'signal': None, 'error': None,
            'started': now_iso(), 'finished': None,
        }
        _set_child_subreaper()
        spec, record = self.spec, self.record
        shell = spec.get('executable') or '/bin/sh'
        args = [shell, '-c', spec['command']] if spec.get('command') is not None else list(spec['argv'])
        env = dict(os.environ)
        env.update({str(k): str(v) for k, v in (spec.get('env') or {}).items()})
        # The job's folder marks every process of the job, so a stop finds them even after they left its tree and
        # its supervisor (their subreaper) is gone (see _Processes.marked).
        env[JOB_MARKER] = self.final_dir
        stdin_data = spec.get('stdin')
        tmp_stdout = record['output_path'] or os.path.join(self.tmp_dir, 'stdout')
        try:
            with open(tmp_stdout, 'ab', buffering=0) as out, \
                    open(os.path.join(self.tmp_dir, 'stderr'), 'ab', buffering=0) as err:
                proc = subprocess.Popen(
                    args, cwd=user_path(spec.get('chdir') or '~'), env=env, close_fds=True, start_new_session=True,
                    stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL, stdout=out, stderr=err)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            error = getattr(exc, 'strerror', None) or str(exc)
            filename = getattr(exc, 'filename', None)
            if filename:
                error = '%s: %s' % (error, filename)
            now = now_iso()
            state = dict(base, state='failed', reason='spawn_error', error=error, finished=now)
            write_json_atomic(os.path.join(self.tmp_dir, 'state.json'), state)
            if self._publish(report_fd, state):
                mark_expiry(os.path.dirname(self.final_dir), record['id'], record.get('retention'))
            return
        state = dict(base, state='running', reason=None, pid=proc.pid, pid_start_time=proc_start_time(proc.pid))
        try:
            # In place, into the room _prepare took: the folder is not published yet, so nobody reads it meanwhile.
            with open(os.path.join(self.tmp_dir, 'state.json'), 'r+b') as handle:
                handle.write(_padded(state))
        except (OSError, ValueError) as exc:
            terminate_tree(None, None, proc.pid, state['pid_start_time'], 0)
            proc.wait()
            self._report(report_fd, {'fatal': 'cannot record the state of the job in %s: %s'
                                     % (self.tmp_dir, getattr(exc, 'strerror', None) or exc)})
            return
        if not self._publish(report_fd, state):
            terminate_tree(None, None, proc.pid, state['pid_start_time'], 0)
            proc.wait()
            return
        if stdin_data is not None:
            threading.Thread(target=_feed, args=(proc.stdin, stdin_data), daemon=True).start()
        del stdin_data, env, spec
        self.spec = None
        timeout = record.get('timeout')
        timed_out = False
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            terminate_tree(me, base['supervisor_start_time'], proc.pid, state['pid_start_time'], TIMEOUT_GRACE)
            rc = proc.wait()
        self._finish(rc, timed_out)

    def _publish(self, report_fd, state):
        """Move the job folder into place, then tell start. False if the id was taken meanwhile."""
        try:
            os.rename(self.tmp_dir, self.final_dir)
        except OSError as exc:
            self._report(report_fd, {'fatal': 'could not create the job folder %s: %s' % (self.final_dir, exc.strerror)})
            return False
        self._report(report_fd, state)
        return True

    def _finish(self, rc, timed_out):
        job_dir = self.final_dir
        final = {'finished': now_iso(), 'rc': rc if rc >= 0 else None, 'signal': -rc if rc < 0 else None}
        if self.record.get('results') == 'controller':
            _remember_hashes(job_dir, {'stdout': self.record['stdout_path'], 'stderr': os.path.join(job_dir, 'stderr')})
        with _Lock(os.path.join(job_dir, '.lock')):
            if os.path.exists(os.path.join(job_dir, 'stop.json')):
                final.update(state='stopped', reason='stop')
            elif timed_out:
                final.update(state='stopped', reason='timeout',
                             error='the job ran longer than its timeout of %s seconds' % self.record.get('timeout'))
            elif rc == 0:
                final.update(state='completed', reason='exit')
            elif rc > 0:
                final.update(state='failed', reason='exit')
            else:
                final.update(state='failed', reason='signal')
            full = [path for path in (self.record['stdout_path'], os.path.join(job_dir, 'stderr')) if _disk_full(path)]
            if full and final['state'] != 'stopped':
                final.update(state='failed', error='no space left on the file system of %s: the output is incomplete'
                             % ' and '.join(sorted(set(full))))
            state = read_json(os.path.join(job_dir, 'state.json'), {})
            state.update(final)
            reserve = os.path.join(job_dir, '.reserve')
            try:
                write_json_atomic(os.path.join(job_dir, 'state.json'), state)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                os.unlink(reserve)  # this is what the reserve is for
                write_json_atomic(os.path.join(job_dir, 'state.json'), state)
            try:
                os.unlink(reserve)
            except OSError:
                pass
        mark_expiry(os.path.dirname(job_dir), self.record['id'], self.record.get('retention'))


STATE_ROOM = 4096  # bytes the running state.json takes (JSON, then spaces)


def _padded(state):
    """state as JSON padded with spaces to STATE_ROOM bytes (JSON allows trailing whitespace)."""
    data = json.dumps(state, sort_keys=True).encode('utf-8')
    if len(data) > STATE_ROOM:
        raise ValueError('the state of the job does not fit in %d bytes' % STATE_ROOM)
    return data + b' ' * (STATE_ROOM - len(data))


def _disk_full(path):
    """True when the file system holding path has (next to) no space left for unprivileged writers."""
    try:
        st = os.statvfs(os.path.dirname(path) or '.')
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < RESERVE_BYTES


def _feed(pipe, data):
    try:
        pipe.write(data.encode('utf-8'))
    except (OSError, ValueError):
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass
