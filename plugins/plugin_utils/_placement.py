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
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading

from ansible.errors import AnsibleError
from ansible.utils.display import Display

from ansible_collections.remote.jobs.plugins.module_utils._args import NOT_AT_TOP, READ_PIECE_MAX

display = Display()

CHUNK = 1 << 20
DEFAULT_RESULTS_DIR = 'job_results'
_RESULT_KEYS = frozenset(['changed', 'failed', 'msg', 'jobs', 'invocation', 'timed_out', 'wait_calls'])


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
        """Wait for it; raise what went wrong."""
        self.join()
        if self.error is not None:
            raise PlacementError('cannot write the controller copy %s: %s' % (self.path, self.error))


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
        commits = []
        for view in involved:
            if 'ranges' in view:
                for stream, (start, end) in sorted(view.pop('ranges').items()):
                    commits.append({'id': view['id'], 'stream': stream, 'start': start, 'end': end})
                continue
            pieces = view.pop('pieces')
            dest = self.dest(view)
            reader = self._reader(args) if self.through_module() else None
            text = {'stdout': b'', 'stderr': b''}
            truncated = False
            for piece in pieces:
                # A piece without a path had no room for its copy on the target: it is read through the module.
                use = reader or (self._reader(args) if piece.get('path') is None else None)
                text[piece['stream']] = self._fetch_piece(view, piece, dest, args['max_bytes'] if with_text else None,
                                                          use)
                truncated = truncated or (args['max_bytes'] and piece['end'] - piece['start'] > args['max_bytes'])
                commits.append({'id': view['id'], 'stream': piece['stream'], 'start': piece['start'],
                                'end': piece['end']})
            if with_text:
                stdout, stderr = _text(text['stdout']), _text(text['stderr'])
                view.update(stdout=stdout, stderr=stderr, stdout_lines=stdout.splitlines(),
                            stderr_lines=stderr.splitlines(), truncated=bool(truncated), removed=False,
                            received_elsewhere=False)
            view['dest'] = dest
            view['fetched_bytes'] = sum(p['end'] - p['start'] for p in pieces)
        keep = args.get('keep') or self.action._task.check_mode
        if not keep and (commits or args.get('auto_remove')):
            committed = self.action._run_module(
                dict(args, id=[v['id'] for v in involved], name=None, wait=False), self.task_vars, _verb='receive',
                _commit=commits)
            if committed.get('failed'):
                raise PlacementError('the output reached the controller but the target did not record it as '
                                     'received: %s' % committed.get('msg'))
            fresh = {v['id']: v for v in committed.get('jobs', [])}
            for view in involved:
                now = fresh.get(view['id'], {})
                for key in ('state', 'reason', 'rc', 'finished', 'has_more_data', 'removed'):
                    if key in now:
                        view[key] = now[key]
                for stream, accepted in (now.get('committed') or {}).items():
                    if not accepted and view.get('results') != 'controller':
                        # A concurrent receive consumed these bytes first: they are its to return, not ours.
                        view[stream] = ''
                        view[stream + '_lines'] = []
                        view['received_elsewhere'] = True
            result['changed'] = bool(result.get('changed') or committed.get('changed'))
        for view in involved:
            if view.get('results') == 'controller':
                self._write_job_json(view)
        return set_jobs(result, views)

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
                    got = self.action._run_module(
                        dict(args, id=[view['id']], name=None, wait=False), self.task_vars, _verb='receive',
                        _read=dict(id=view['id'], stream=piece['stream'], start=position, end=upto))
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

    def _fetch_piece(self, view, piece, dest, max_bytes, reader=None):
        """Fetch one piece (with the connection's fetch_file, or reader), verify it, add it to dest/<stream>; return
        its first max_bytes bytes."""
        stream, start, end = piece['stream'], int(piece['start']), int(piece['end'])
        length = end - start
        os.makedirs(dest, mode=0o700, exist_ok=True)
        incoming = os.path.join(dest, '.incoming-%s-%d' % (stream, start))
        try:
            try:
                if reader is not None:
                    reader(view, piece, incoming)
                else:
                    self.action._connection.fetch_file(piece['path'], incoming)
            except PlacementError:
                raise
            except Exception as exc:  # the connection's own errors vary by plugin
                raise PlacementError('fetching %s of job %s from %s failed: %s. The target copy is intact: '
                                     'run receive again' % (stream, view['id'], self.host, exc))
            target = os.path.join(dest, stream)
            # The first piece of a stream becomes the controller copy itself (renamed, not copied): its fsync runs
            # while the checksum is computed, and the rename waits for both.
            arrived = _size(incoming)
            if arrived < length:
                raise PlacementError('%s of job %s arrived short (%d of %d bytes): the target copy is intact, run '
                                     'receive again' % (stream, view['id'], arrived, length))
            first = start == 0 and not _size(target)
            sealing = _Seal(incoming, length) if first else None
            try:
                head = self._check_piece(view, piece, incoming, length, max_bytes)
            except BaseException:
                if sealing:
                    sealing.join()
                raise
            if first:
                sealing.finish()
                os.replace(incoming, target)
            else:
                with open(incoming, 'rb') as src:
                    self._append(target, src, start, length, view)
            return head
        finally:
            try:
                os.unlink(incoming)
            except OSError:
                pass

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

    def _append(self, path, src, start, length, view):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, 'r+b') as dst:
            size = os.fstat(fd).st_size
            if size > start:
                # A previous fetch of this range got here but was never committed on the target: redo it.
                dst.truncate(start)
            elif size < start:
                display.warning('%s: the controller copy %s has %d bytes but the target already dropped %d: '
                                'the missing bytes cannot be fetched again' % (view['id'], path, size, start))
            dst.seek(0, os.SEEK_END)
            src.seek(0)
            left = length
            while left:
                chunk = src.read(min(left, CHUNK))
                dst.write(chunk)
                left -= len(chunk)
            dst.flush()
            os.fsync(dst.fileno())

    def _write_job_json(self, view):
        dest = view['dest']
        os.makedirs(dest, mode=0o700, exist_ok=True)
        record = {k: v for k, v in view.items() if k not in ('stdout', 'stderr', 'stdout_lines', 'stderr_lines')}
        tmp = os.path.join(dest, '.job.json.tmp')
        with open(tmp, 'w') as handle:
            json.dump(record, handle, indent=2, sort_keys=True)
        os.replace(tmp, os.path.join(dest, 'job.json'))
