# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""results: controller - fetch new output into <results_dir>/<inventory_hostname>/<id>/ on the controller.

Private to the collection: may change in any release.

The target describes the bytes not fetched yet as pieces (stream, start, end, sha256, path). Each piece travels
with the connection's fetch_file (sftp/scp over SSH, not base64 in JSON), is checked against the target's sha256,
appended to the controller copy, and only then committed, which lets the target drop it. A fetch that breaks
leaves the target untouched; the next receive fetches the same range again and the controller copy is cut back
to the range's start first, so nothing is lost or duplicated.

With become to another user the connection's fetch_file runs as the login user, who cannot read the job's private
files; then, as ansible.builtin.fetch falls back to slurp, each piece travels in the receive module's own results,
READ_PIECE_MAX bytes (base64) per call, and is checked and committed the same way.

Several consumers of one job: the target accepts each range from one of them only. A receive whose commit was
refused, or whose fetch came back short or damaged because another receive consumed the range meanwhile (the
target's _read of an empty range at the piece's start says so), cuts its copy back to what it held before and
reports received_elsewhere. When that _read finds the range still there, the planned file went away under a
concurrent plan (which rebuilds the job's .pieces folder): the range is read through the module instead.

Receives that pull one job into the same controller folder take turns: each holds <dest>/.lock from before its
fetch to after its commit, and <dest>/.received.json records what the folder holds as committed, per stream
{offset: how far the target counted it received, size: the copy's length then}. A range the folder already holds
is not fetched again, and bytes past `size` (a fetch that was never committed) are cut off before the next piece
is appended.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import threading

from ansible.errors import AnsibleError
from ansible.utils.display import Display

from ansible_collections.remote.jobs.plugins.module_utils._args import (
    NO_JOB_WITH_ID,
    NOT_AT_TOP,
    READ_PIECE_MAX,
    RECEIVED_ELSEWHERE,
)

display = Display()

CHUNK = 1 << 20
LOCKED_AT_ONCE = 200  # controller folders one receive holds locked at a time (an open file each)
DEFAULT_RESULTS_DIR = 'job_results'
_RESULT_KEYS = frozenset(['changed', 'failed', 'msg', 'jobs', 'invocation', 'timed_out', 'wait_calls'])
_INTERNAL_KEYS = ('pieces', 'ranges', 'committed')  # between the module and this file; never in a task result
STREAMS = ('stdout', 'stderr')
LOCK = '.lock'
RECORD = '.received.json'
# What the target says of a range (or a job) that is gone (_jobstore.read_piece / select, and their Windows twins).


class PlacementError(AnsibleError):
    pass


def set_jobs(result, views):
    """Put views in result['jobs'] and, for exactly one job, its fields at the top level."""
    old = result.get('jobs') or []
    if len(old) == 1:
        for key in old[0]:
            if key not in _RESULT_KEYS:
                result.pop(key, None)
    result['jobs'] = views
    if len(views) == 1:
        for key, value in views[0].items():
            if key not in NOT_AT_TOP and key not in _RESULT_KEYS:
                result[key] = value
    return result


def _text(data):
    return data.decode('utf-8', errors='replace')


def _size(path):
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _write_json(path, data):
    """Replace path with data atomically (the caller holds the folder's lock, so the temporary name is its own)."""
    tmp = os.path.join(os.path.dirname(path), '.%s.tmp' % os.path.basename(path).lstrip('.'))
    with open(tmp, 'w') as handle:
        os.fchmod(handle.fileno(), 0o600)
        json.dump(data, handle, indent=2, sort_keys=True)
    os.replace(tmp, path)


class _Seal(threading.Thread):
    """Cut a fetched file to length, make it private and fsync it, in the background; finish() waits for it."""

    def __init__(self, path, length):
        super().__init__(name='remote.jobs seal', daemon=True)
        self.path, self.length, self.error = path, length, None
        self.start()

    def run(self):
        try:
            with open(self.path, 'r+b') as whole:
                whole.truncate(self.length)
                os.fchmod(whole.fileno(), 0o600)
                os.fsync(whole.fileno())
        except OSError as exc:
            self.error = exc

    def finish(self):
        """Wait for it; raise the OSError it met."""
        self.join()
        if self.error is not None:
            raise self.error


class _Copy:
    """One job's controller folder, locked: from entering until leaving, no other receive works on it.

    record: per stream what the folder holds as committed, {offset, size} (see the module docstring); None for a
    stream copied before .received.json existed, whose copy still has the target's offsets; a stream not listed has
    nothing committed here. pending: per stream the range a commit is on its way for, {start, end, size}, written
    before the commit is sent, so a receive killed before it heard back leaves a trace (settle() clears it)."""

    def __init__(self, dest, results_dir, job_id):
        self.dest, self.results_dir, self.job_id = dest, results_dir, job_id
        self.record, self.pending, self.base = {}, {}, {}
        self._fd = None

    def __enter__(self):
        try:
            os.makedirs(self.dest, mode=0o700, exist_ok=True)
            self._fd = os.open(os.path.join(self.dest, LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            for name in os.listdir(self.dest):
                if name.startswith('.incoming-') or name.endswith('.tmp'):  # left by a receive that was killed
                    _unlink(os.path.join(self.dest, name))
            self._load()
        except OSError as exc:
            self.__exit__()
            raise self.unwritable(exc)
        return self

    def __exit__(self, *exc_info):
        if self._fd is not None:
            os.close(self._fd)  # and with it the lock
            self._fd = None

    def path(self, name):
        return os.path.join(self.dest, name)

    def unwritable(self, exc):
        return PlacementError('cannot write the controller copy of job %s under results_dir %s: %s. Point results_dir '
                              '(or the remote_jobs_results_dir variable) at a folder the controller user can write, '
                              'then run receive again: output the controller has not got stays on the target'
                              % (self.job_id, self.results_dir, exc))

    def _load(self):
        try:
            with open(self.path(RECORD)) as handle:
                loaded = json.load(handle)
        except FileNotFoundError:
            # First use (nothing here yet), or a copy from before .received.json (its streams keep their offsets).
            self.record = {stream: None for stream in STREAMS if os.path.exists(self.path(stream))}
            self.save()
            return
        except ValueError:
            loaded = None
        if not isinstance(loaded, dict):
            loaded = {stream: None for stream in STREAMS}
        self.record = {s: _entry(loaded[s], ('offset', 'size')) for s in STREAMS if s in loaded}
        pending = loaded.get('pending') if isinstance(loaded.get('pending'), dict) else {}
        self.pending = {s: _entry(pending.get(s), ('start', 'end', 'size')) for s in STREAMS if s in pending}
        self.pending = {s: entry for s, entry in self.pending.items() if entry}

    def save(self):
        _write_json(self.path(RECORD), dict(self.record, pending=self.pending) if self.pending else self.record)

    def holds(self, stream, start):
        """True when the range from start on is here already: another receive brought it (this receive planned it
        before that one committed it)."""
        entry = self.record.get(stream)
        return bool(entry) and start < entry['offset']

    def _kept(self, stream, start, size):
        """How many bytes of the copy of stream (size bytes now) count as committed, a piece from start being next."""
        if stream not in self.record:
            return 0
        if self.record[stream] is None:
            return min(size, start)
        return min(size, self.record[stream]['size'])

    def prepare(self, stream, start):
        """The size to cut the copy of stream to before a piece from start is appended: what it holds as committed
        (a piece fetched after that but never committed is fetched again now)."""
        path = self.path(stream)
        size = _size(path)
        base = self._kept(stream, start, size)
        entry = self.record.get(stream)
        expected = start if entry is None and stream in self.record else (entry or {}).get('size', 0)
        if size < expected:
            display.warning('%s: the controller copy %s has %d bytes but should hold %d: the missing bytes cannot be '
                            'fetched again' % (self.job_id, path, size, expected))
        self.base[stream] = base
        return base

    def intend(self, stream, start, end, length):
        """Before the commit of start..end (length bytes appended to the copy) is sent."""
        self.pending[stream] = {'start': start, 'end': end, 'size': self.base[stream] + length}

    def settle(self, stream, accepted):
        """The target took the pending range of stream (the copy keeps it), or gave it to another receive (the copy
        is cut back to what it held before, or removed if that was nothing)."""
        pending = self.pending.pop(stream)
        if accepted:
            self.record[stream] = {'offset': pending['end'], 'size': pending['size']}
            return
        path = self.path(stream)
        base = self._kept(stream, pending['start'], _size(path))
        if not base and not self.record.get(stream):
            _unlink(path)
        elif _size(path) > base:
            os.truncate(path, base)


def _entry(value, keys):
    """A record entry read back: the dict of its integer keys, or None."""
    if isinstance(value, dict) and all(isinstance(value.get(k), int) and value[k] >= 0 for k in keys):
        return {k: value[k] for k in keys}
    return None


class Placement:
    def __init__(self, action, task_vars):
        self.action = action
        self.task_vars = task_vars
        # The host the job runs on names its controller folder: the delegated host under delegate_to.
        self.host = action._task.delegate_to or task_vars.get('inventory_hostname') or action._play_context.remote_addr

    def through_module(self):
        """True when pieces must travel in the module's results: become is on and may be another user than the
        connection's (whose fetch_file cannot read the job's 0700 folder)."""
        if not getattr(self.action._connection, 'become', None):
            return False
        try:
            become_user = self.action.get_become_option('become_user')
        except (AttributeError, KeyError):
            become_user = None
        remote_user = self.action._get_remote_user()
        return not (become_user and remote_user and str(become_user) == str(remote_user))

    def absolute(self, folder):
        """A controller folder: ~ expanded, relative paths taken from the playbook's folder."""
        folder = os.path.expanduser(str(self.action._templar.template(folder)))
        if not os.path.isabs(folder):
            folder = os.path.join(self.action._loader.get_basedir(), folder)
        return os.path.normpath(folder)

    def results_dir(self, view):
        """results_dir given at start, else the remote_jobs_results_dir variable, else job_results/."""
        return self.absolute(view.get('results_dir') or self.task_vars.get('remote_jobs_results_dir')
                             or DEFAULT_RESULTS_DIR)

    def dest(self, view):
        return os.path.join(self.results_dir(view), self.host, view['id'])

    def annotate(self, result):
        """Add the controller folder as dest to every results=controller job in a result."""
        views = result.get('jobs')
        if not isinstance(views, list):
            return result
        if any(isinstance(v, dict) and v.get('results') == 'controller' and 'id' in v for v in views):
            for view in views:
                if view.get('results') == 'controller':
                    view['dest'] = self.dest(view)
            set_jobs(result, views)
        return result

    # --- receive -------------------------------------------------------------------------------------------------
    def complete(self, result, args, with_text=True):
        """Second half of a receive: fetch what results=controller jobs planned, then commit what the controller
        now holds (either placement), so output counts as received only once it has arrived here."""
        views = result.get('jobs') or []
        involved = [v for v in views if 'pieces' in v or 'ranges' in v]
        if not involved:
            return result
        if len(views) == 1:
            for key in _INTERNAL_KEYS:  # the module's copy of the single job's fields
                result.pop(key, None)
        check_mode = self.action._task.check_mode
        keep = args.get('keep') or check_mode
        # A group's controller folders stay locked from the fetch to the commit; groups of at most LOCKED_AT_ONCE
        # jobs bound the open lock files (one commit call per group).
        targets = [v for v in involved if 'ranges' in v]
        controllers = sorted((v for v in involved if 'ranges' not in v), key=self.dest)
        groups = [controllers[i:i + LOCKED_AT_ONCE] for i in range(0, len(controllers), LOCKED_AT_ONCE)] or [[]]
        groups[0] = targets + groups[0]
        for group in groups:
            self._complete_group(result, group, args, with_text, check_mode, keep)
        return set_jobs(result, views)

    def _complete_group(self, result, group, args, with_text, check_mode, keep):
        """complete() for a group of jobs: fetch, commit, report."""
        commits = []
        kept = {}  # id -> {stream: (head, truncated, length)}: what each results=controller job's copy gained
        elsewhere = {}  # id -> streams another receive got
        with contextlib.ExitStack() as held:
            # Every folder this receive appends to stays locked until the target said which ranges are whose. All
            # receives lock in the same (path) order, so two of them never wait for each other.
            copies = {}
            if not check_mode:
                for view in sorted((v for v in group if v.get('pieces')), key=self.dest):
                    copies[view['id']] = held.enter_context(_Copy(self.dest(view), self.results_dir(view),
                                                                  view['id']))
                    self._settle(view, copies[view['id']], args)
            for view in group:
                if 'ranges' in view:
                    for stream, (start, end) in sorted(view.pop('ranges').items()):
                        commits.append({'id': view['id'], 'stream': stream, 'start': start, 'end': end})
                    continue
                pieces = view.pop('pieces')
                copy = copies.get(view['id'])
                reader = self._reader(args) if copy and self.through_module() else None
                kept[view['id']], elsewhere[view['id']] = {}, set()
                for piece in pieces if copy else []:
                    stream, start, end = piece['stream'], int(piece['start']), int(piece['end'])
                    head = None
                    if not copy.holds(stream, start):
                        # A piece without a path had no room for its copy on the target: it is read through the
                        # module.
                        use = reader or (self._reader(args) if piece.get('path') is None else None)
                        head = self._fetch_piece(view, piece, copy, args['max_bytes'] if with_text else None,
                                                 use, args)
                    if head is None:
                        elsewhere[view['id']].add(stream)
                        continue
                    kept[view['id']][stream] = (head, bool(args['max_bytes'] and end - start > args['max_bytes']),
                                                end - start)
                    commits.append({'id': view['id'], 'stream': stream, 'start': start, 'end': end})
            if not keep and (commits or any(elsewhere.values()) or args.get('auto_remove')):
                self._commit(result, group, args, commits, copies, kept, elsewhere)
            for view in group:
                if view['id'] in kept:
                    self._report(view, kept[view['id']], elsewhere[view['id']], with_text)
                    view['dest'] = self.dest(view)
                    if view['id'] in copies:
                        self._write_job_json(view, copies[view['id']])
        if not check_mode:
            # Folders this receive fetched nothing into are locked one at a time, only to write job.json.
            for view in group:
                if view['id'] in kept and view['id'] not in copies:
                    self._write_job_json(view)

    def _commit(self, result, involved, args, commits, copies, kept, elsewhere):
        """Tell the target which ranges the controller now holds. A range it gave to another receive meanwhile is
        that receive's: its bytes leave this receive's controller copy and text."""
        for job_id, copy in copies.items():
            for item in commits:
                if item['id'] == job_id:
                    copy.intend(item['stream'], item['start'], item['end'], kept[job_id][item['stream']][2])
            if copy.pending:
                self._save(copy)
        committed = self._receive_call(args, [v['id'] for v in involved], _commit=commits)
        if committed.get('failed'):
            raise PlacementError('the output reached the controller but the target did not record it as '
                                 'received: %s' % committed.get('msg'))
        fresh = {v['id']: v for v in committed.get('jobs', [])}
        for view in involved:
            now = fresh.get(view['id'], {})
            for key in ('state', 'reason', 'rc', 'finished', 'has_more_data', 'removed'):
                if key in now:
                    view[key] = now[key]
            copy = copies.get(view['id'])
            for stream, accepted in sorted((now.get('committed') or {}).items()):
                if view['id'] not in kept:
                    if not accepted:
                        # A concurrent receive consumed these bytes first: they are its to return, not ours.
                        view[stream] = ''
                        view[stream + '_lines'] = []
                        view['received_elsewhere'] = True
                    continue
                if copy is None or stream not in copy.pending:
                    continue
                try:
                    copy.settle(stream, accepted)
                except OSError as exc:
                    raise copy.unwritable(exc)
                if not accepted:
                    del kept[view['id']][stream]
                    elsewhere[view['id']].add(stream)
        for copy in copies.values():
            self._save(copy)
        result['changed'] = bool(result.get('changed') or committed.get('changed'))

    @staticmethod
    def _save(copy):
        try:
            copy.save()
        except OSError as exc:
            raise copy.unwritable(exc)

    def _settle(self, view, copy, args):
        """A receive into this folder was killed after it sent a commit and before it heard back: whether the
        target took that range decides whether the copy keeps it."""
        if not copy.pending:
            return
        for stream in sorted(copy.pending):
            found = self._probe(view, stream, copy.pending[stream]['start'], args)
            if found is None:
                raise PlacementError('an earlier receive of job %s into %s stopped before it heard whether the target '
                                     'took its %s, and %s cannot tell now: run receive again' % (
                                         view['id'], copy.dest, stream, self.host))
            # Received past its start: the range was this folder's (or, when a receive into another folder took it
            # at that same moment, both keep it: the one case that duplicates rather than loses).
            try:
                copy.settle(stream, found in ('consumed', 'gone'))
            except OSError as exc:
                raise copy.unwritable(exc)
        self._save(copy)

    @staticmethod
    def _report(view, kept, elsewhere, with_text):
        """A results=controller job's view after its receive: the text of what it keeps, and whether another receive
        got the rest."""
        view['fetched_bytes'] = sum(length for _head, _cut, length in kept.values())
        if not with_text:
            return
        stdout, stderr = (_text(kept[s][0]) if s in kept else '' for s in STREAMS)
        view.update(stdout=stdout, stderr=stderr, stdout_lines=stdout.splitlines(), stderr_lines=stderr.splitlines(),
                    truncated=any(cut for _head, cut, _length in kept.values()), received_elsewhere=bool(elsewhere))
        view.setdefault('removed', False)

    def _receive_call(self, args, ids, **internal):
        """One call of the receive module about these jobs, for an internal step (_commit, _read)."""
        return self.action._run_module(dict(args, id=ids, name=None, wait=False), self.task_vars, _verb='receive',
                                       **internal)

    def _read_call(self, args, job_id, stream, start, end):
        """The receive module's _read of bytes start..end of a job's stream."""
        return self._receive_call(args, [job_id], _read=dict(id=job_id, stream=stream, start=start, end=end))

    def _reader(self, args):
        """read(view, piece, path): the piece's bytes into path through the receive module, READ_PIECE_MAX at a
        time (connections that cannot read the job's files)."""

        def read(view, piece, path):
            start, end = int(piece['start']), int(piece['end'])
            with open(path, 'wb') as out:
                os.fchmod(out.fileno(), 0o600)
                position = start
                while position < end:
                    upto = min(end, position + READ_PIECE_MAX)
                    got = self._read_call(args, view['id'], piece['stream'], position, upto)
                    if got.get('failed'):
                        raise PlacementError('reading %s of job %s from %s failed: %s' % (
                            piece['stream'], view['id'], self.host, got.get('msg')))
                    try:
                        data = base64.b64decode(got.get('data') or '', validate=True)
                    except (TypeError, ValueError):
                        raise PlacementError('reading %s of job %s from %s returned no valid data: run receive '
                                             'again' % (piece['stream'], view['id'], self.host))
                    if len(data) != upto - position:
                        raise PlacementError('reading %s of job %s from %s returned %d of %d bytes: run receive '
                                             'again' % (piece['stream'], view['id'], self.host, len(data),
                                                        upto - position))
                    out.write(data)
                    position = upto
        return read

    def _fetch_piece(self, view, piece, copy, max_bytes, reader=None, args=None):
        """Fetch one piece (with the connection's fetch_file, or reader), verify it, add it to the copy; return its
        first max_bytes bytes, or None when another receive consumed it meanwhile (the copy is left as it was)."""
        stream, start, end = piece['stream'], int(piece['start']), int(piece['end'])
        incoming = copy.path('.incoming-%s-%d' % (stream, start))
        try:
            try:
                sealing, head = self._arrive(view, piece, copy, incoming, max_bytes, reader)
            except PlacementError:
                found = self._why(view, piece, args)
                if found == 'consumed':
                    return None
                if found != 'there' or reader is not None:
                    raise
                # The range is still on the target but the file planned for it is not what was planned: a receive
                # planning at the same time rebuilds the job's .pieces folder. Read it from the output itself.
                try:
                    sealing, head = self._arrive(view, piece, copy, incoming, max_bytes, self._reader(args))
                except PlacementError:
                    if self._why(view, piece, args) == 'consumed':
                        return None
                    raise
            try:
                if sealing:
                    sealing.finish()
                    os.replace(incoming, copy.path(stream))
                else:
                    with open(incoming, 'rb') as src:
                        self._append(copy.path(stream), src, copy.base[stream], end - start)
            except OSError as exc:
                raise copy.unwritable(exc)
            return head
        finally:
            _unlink(incoming)

    def _arrive(self, view, piece, copy, incoming, max_bytes, reader):
        """The piece's bytes into incoming, checked. Returns (the _Seal of a piece that becomes the copy itself,
        else None; its first max_bytes bytes); raises PlacementError when they did not arrive whole."""
        stream, start, end = piece['stream'], int(piece['start']), int(piece['end'])
        length = end - start
        try:
            if reader is not None:
                reader(view, piece, incoming)
            else:
                self.action._connection.fetch_file(piece['path'], incoming)
        except PlacementError:
            raise
        except Exception as exc:  # the connection's own errors vary by plugin
            raise PlacementError('fetching %s of job %s from %s failed: %s. The target copy is intact: run receive '
                                 'again' % (stream, view['id'], self.host, exc))
        arrived = _size(incoming)
        if arrived < length:
            raise PlacementError('%s of job %s arrived short (%d of %d bytes): the target copy is intact, run '
                                 'receive again' % (stream, view['id'], arrived, length))
        # A piece that starts an empty copy becomes the copy itself (renamed, not copied): its fsync runs while the
        # checksum is computed, and the rename waits for both.
        sealing = None if copy.prepare(stream, start) else _Seal(incoming, length)
        try:
            return sealing, self._check_piece(view, piece, incoming, length, max_bytes)
        except PlacementError:
            copy.base.pop(stream, None)
            raise
        finally:
            if sealing:
                sealing.join()

    def _why(self, view, piece, args):
        """After a fetch that failed or came back short or damaged, ask the target why (see _probe); a job that is
        gone is a PlacementError saying so."""
        found = self._probe(view, piece['stream'], int(piece['start']), args)
        if found == 'gone':
            raise PlacementError('job %s was removed from %s while its %s was being fetched (remove with force, or '
                                 'a concurrent auto_remove): the output not fetched before is gone with it'
                                 % (view['id'], self.host, piece['stream']))
        return found

    def _probe(self, view, stream, start, args):
        """Whether stream is received past start on the target: 'consumed', 'there', 'gone' (no such job) or None
        (cannot tell). One cheap call: the receive module's _read of the empty range at start, which fails just
        when the range was received meanwhile."""
        if args is None:
            return None
        try:
            got = self._read_call(args, view['id'], stream, start, start)
        except Exception:  # the connection's own errors vary by plugin
            return None
        if not got.get('failed'):
            return 'there'
        msg = str(got.get('msg') or '')
        return 'consumed' if RECEIVED_ELSEWHERE in msg else 'gone' if NO_JOB_WITH_ID in msg else None

    @staticmethod
    def _check_piece(view, piece, incoming, length, max_bytes):
        """The fetched file holds the piece's bytes (its sha256); returns their first max_bytes bytes."""
        stream = piece['stream']
        digest = hashlib.sha256()
        head = b''
        with open(incoming, 'rb') as src:
            left = length
            while left:
                chunk = src.read(min(left, CHUNK))
                if not chunk:  # it shrank after the size check
                    raise PlacementError('%s of job %s arrived short (%d of %d bytes): the target copy is intact, '
                                         'run receive again' % (stream, view['id'], length - left, length))
                digest.update(chunk)
                left -= len(chunk)
            if digest.hexdigest() != piece['sha256']:
                raise PlacementError('%s of job %s failed its sha256 check after the fetch: the target copy is '
                                     'intact, run receive again' % (stream, view['id']))
            if max_bytes is not None:
                src.seek(0)
                head = src.read(min(length, max_bytes) if max_bytes else length)
        return head

    @staticmethod
    def _append(path, src, at, length):
        """Cut the copy at path to at bytes (what it holds as committed), then append length bytes of src."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, 'r+b') as dst:
            if os.fstat(fd).st_size > at:
                dst.truncate(at)
            dst.seek(0, os.SEEK_END)
            src.seek(0)
            left = length
            while left:
                chunk = src.read(min(left, CHUNK))
                dst.write(chunk)
                left -= len(chunk)
            dst.flush()
            os.fsync(dst.fileno())

    def _write_job_json(self, view, copy=None):
        """<dest>/job.json: the job as this receive left it, written under the folder's lock (copy: held already)."""
        record = {k: v for k, v in view.items() if k not in ('stdout', 'stderr', 'stdout_lines', 'stderr_lines')}
        with contextlib.ExitStack() as held:
            if copy is None:
                copy = held.enter_context(_Copy(view['dest'], self.results_dir(view), view['id']))
            try:
                _write_json(copy.path('job.json'), record)
            except OSError as exc:
                raise copy.unwritable(exc)
