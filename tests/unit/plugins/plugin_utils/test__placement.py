# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller copy of results: controller output: appending verified pieces, redoing uncommitted ones."""

from __future__ import annotations

import base64
import io

import pytest

from ansible_collections.remote.jobs.plugins.plugin_utils._placement import _Copy, Placement, PlacementError, set_jobs


def append(path, data, start):
    Placement._append(str(path), io.BytesIO(data), start, len(data))


def test_pieces_append_in_order(tmp_path):
    path = tmp_path / 'stdout'
    append(path, b'hello ', 0)
    append(path, b'world', 6)
    assert path.read_bytes() == b'hello world'
    assert oct(path.stat().st_mode & 0o777) == '0o600'


def test_an_uncommitted_piece_fetched_again_is_not_duplicated(tmp_path):
    path = tmp_path / 'stdout'
    append(path, b'hello ', 0)
    append(path, b'wor', 6)  # appended here, but the target never heard it was fetched...
    append(path, b'world', 6)  # ...so the next receive sends [6, 11) again
    assert path.read_bytes() == b'hello world'


def test_only_length_bytes_are_taken_from_a_longer_download(tmp_path):
    # A piece from offset 0 is the live output file, which may have grown while it was fetched.
    path = tmp_path / 'stdout'
    Placement._append(str(path), io.BytesIO(b'abcdef-grown'), 0, 6)
    assert path.read_bytes() == b'abcdef'


def test_set_jobs_keeps_top_level_fields_in_step():
    result = {'changed': True, 'jobs': [{'id': 'a', 'state': 'running', 'results': 'controller'}], 'id': 'a',
              'state': 'running'}
    set_jobs(result, [{'id': 'a', 'state': 'completed', 'results': 'controller', 'dest': '/x'}])
    assert result['state'] == 'completed' and result['dest'] == '/x' and 'results' not in result
    assert result['changed'] is True
    set_jobs(result, [{'id': 'a'}, {'id': 'b'}])
    assert 'state' not in result and 'id' not in result and len(result['jobs']) == 2


def fetch_piece(tmp_path, remote_bytes, piece, max_bytes=None):
    """_fetch_piece with a connection whose fetch_file copies a local file (the real one runs in test_placement)."""
    import hashlib
    import shutil
    from types import SimpleNamespace

    remote = tmp_path / 'remote-stdout'
    remote.write_bytes(remote_bytes)
    placement = Placement.__new__(Placement)
    placement.action = SimpleNamespace(_connection=SimpleNamespace(fetch_file=shutil.copyfile))
    placement.host = 'h1'
    dest = tmp_path / 'dest'
    piece = dict({'stream': 'stdout', 'path': str(remote)}, **piece)
    piece.setdefault('sha256', hashlib.sha256(remote_bytes[piece['start']:piece['end']]).hexdigest())
    with _Copy(str(dest), str(tmp_path), 'job1') as copy:
        return placement._fetch_piece({'id': 'job1'}, piece, copy, max_bytes), dest


def test_a_first_piece_becomes_the_private_controller_copy(tmp_path):
    head, dest = fetch_piece(tmp_path, b'hello world, grown since', {'start': 0, 'end': 11}, max_bytes=5)
    assert head == b'hello'
    assert (dest / 'stdout').read_bytes() == b'hello world', 'only the planned bytes are kept'
    assert oct((dest / 'stdout').stat().st_mode & 0o777) == '0o600'
    assert sorted(p.name for p in dest.iterdir()) == ['.lock', '.received.json', 'stdout']


@pytest.mark.parametrize('piece,message', [
    ({'start': 0, 'end': 5, 'sha256': '0' * 64}, 'failed its sha256 check'),
    ({'start': 0, 'end': 50}, r'arrived short \(11 of 50 bytes\)'),
])
def test_a_piece_that_fails_its_check_leaves_no_controller_copy(tmp_path, piece, message):
    with pytest.raises(PlacementError, match=message):
        fetch_piece(tmp_path, b'hello world', piece)
    assert sorted(p.name for p in (tmp_path / 'dest').iterdir()) == ['.lock', '.received.json'], \
        'nothing kept, not even the download'


# --- complete(): several consumers, a killed receive, the controller folder ----------------------------------------

class Target:
    """A fake action plugin over one results=controller job: stdout's bytes in a local file fetch_file copies, and the
    receive module's answers to _commit (accepting or refusing) and to _read (the probe at start == end, else the
    bytes of output, the stream as the target holds it)."""

    def __init__(self, tmp_path, data, accept=True, probe=None, check_mode=False, output=b''):
        import shutil
        from types import SimpleNamespace

        self.remote = tmp_path / 'remote-stdout'
        self.remote.write_bytes(data)
        self.accept, self.probe, self.output, self.calls = accept, probe or {'data': ''}, output, []
        self._connection = SimpleNamespace(fetch_file=shutil.copyfile)
        self._task = SimpleNamespace(check_mode=check_mode, delegate_to=None)
        self._templar = SimpleNamespace(template=lambda value: value)
        self._loader = SimpleNamespace(get_basedir=lambda: str(tmp_path))
        self.results_dir = tmp_path / 'res'
        self.dest = self.results_dir / 'h1' / 'job1'

    def _run_module(self, args, task_vars, _verb=None, **internal):
        self.calls.append(sorted(internal))
        if '_read' in internal:
            start, end = internal['_read']['start'], internal['_read']['end']
            if start == end:
                return dict(self.probe)
            return {'data': base64.b64encode(self.output[start:end]).decode('ascii')}
        committed = {item['stream']: self.accept for item in internal['_commit']}
        job = {'id': 'job1', 'state': 'completed', 'has_more_data': False, 'committed': committed}
        return {'changed': any(committed.values()), 'jobs': [job]}

    def planned(self, start, end, remote_start=0, data=None):
        """A plan of start..end; the remote file holds the stream from remote_start (a later piece is a copy of its
        range on a real target)."""
        import hashlib

        if data is None:
            data = self.remote.read_bytes()[start - remote_start:end - remote_start]
        view = {'id': 'job1', 'results': 'controller', 'results_dir': str(self.results_dir), 'state': 'completed',
                'has_more_data': True, 'pieces': [{'stream': 'stdout', 'start': start, 'end': end,
                                                   'path': str(self.remote), 'sha256': hashlib.sha256(data).hexdigest()}]}
        return {'changed': False, 'jobs': [view], **{k: v for k, v in view.items() if k != 'results'}}

    def receive(self, start, end, remote_start=0, data=None, **args):
        result = self.planned(start, end, remote_start, data)
        args = dict({'max_bytes': 0, 'keep': False, 'auto_remove': False}, **args)
        return Placement(self, {'inventory_hostname': 'h1'}).complete(result, args)

    def record(self):
        import json

        return json.loads((self.dest / '.received.json').read_text())


def test_a_receive_whose_commit_the_target_refused_takes_its_bytes_back(tmp_path):
    target = Target(tmp_path, b'hello\n')
    target.receive(0, 6)
    target.remote.write_bytes(b'world\n')
    target.accept = False  # another receive, into another folder, committed 6..12 first
    result = target.receive(6, 12, remote_start=6)
    assert (target.dest / 'stdout').read_bytes() == b'hello\n', 'back to what it held before'
    assert (result['stdout'], result['received_elsewhere'], result['fetched_bytes']) == ('', True, 0)
    assert result['jobs'][0]['stdout_lines'] == [] and 'pieces' not in result
    assert target.record() == {'stdout': {'offset': 6, 'size': 6}}


def test_a_refused_first_piece_leaves_no_copy(tmp_path):
    target = Target(tmp_path, b'hello\n', accept=False)
    result = target.receive(0, 6)
    assert not (target.dest / 'stdout').exists()
    assert (result['stdout'], result['received_elsewhere']) == ('', True)
    assert sorted(p.name for p in target.dest.iterdir()) == ['.lock', '.received.json', 'job.json']


def test_a_range_this_folder_already_holds_is_not_fetched_again(tmp_path):
    target = Target(tmp_path, b'hello\n')
    target.receive(0, 6)
    calls = len(target.calls)
    target.remote.write_bytes(b'')  # emptied by the first receive's commit: a fetch would come back short
    result = target.receive(0, 6, data=b'hello\n')  # planned before the first receive committed
    assert (result['stdout'], result['received_elsewhere'], result['fetched_bytes']) == ('', True, 0)
    assert (target.dest / 'stdout').read_bytes() == b'hello\n'
    assert target.calls[calls:] == [['_commit']], 'no probe, no fetch: only the refresh of the job'


def test_after_a_commit_elsewhere_the_copy_grows_from_what_it_holds(tmp_path):
    target = Target(tmp_path, b'one\n')
    target.receive(0, 4)
    target.remote.write_bytes(b'three\n')  # 4..8 went to a receive into another folder
    result = target.receive(8, 14, remote_start=8)
    assert (target.dest / 'stdout').read_bytes() == b'one\nthree\n'
    assert (result['stdout'], result['received_elsewhere']) == ('three\n', False)
    assert target.record() == {'stdout': {'offset': 14, 'size': 10}}


@pytest.mark.parametrize('probe,outcome', [
    ({'failed': True, 'msg': 'stdout of job job1 from byte 0 was received by another receive meanwhile: run '
      'receive again'}, 'elsewhere'),
    ({'data': ''}, r'reading stdout of job job1 from h1 returned 0 of 6 bytes: run receive again'),
    ({'failed': True, 'msg': 'no job with id job1 in /x: list jobs with remote.jobs.info'},
     r'job job1 was removed from h1 while its stdout was being fetched'),
])
def test_a_fetch_that_comes_back_empty_asks_the_target_why(tmp_path, probe, outcome):
    target = Target(tmp_path, b'hello\n', probe=probe)
    result = target.planned(0, 6)
    target.remote.write_bytes(b'')  # emptied once another receive committed it (or the job is gone)
    placement = Placement(target, {'inventory_hostname': 'h1'})
    args = {'max_bytes': 0, 'keep': False, 'auto_remove': False}
    if outcome != 'elsewhere':
        with pytest.raises(PlacementError, match=outcome):
            placement.complete(result, args)
        return
    placement.complete(result, args)
    assert (result['stdout'], result['received_elsewhere']) == ('', True)
    assert not (target.dest / 'stdout').exists()
    assert ['_read'] in target.calls and ['_commit'] in target.calls


@pytest.mark.parametrize('taken', [True, False])
def test_a_receive_killed_before_it_heard_back_is_settled_by_the_next(tmp_path, taken):
    import json

    target = Target(tmp_path, b'hello\nworld\n')
    target.receive(0, 6, max_bytes=0)
    # The next receive appended 6..12 and sent its commit, then was killed.
    (target.dest / 'stdout').write_bytes(b'hello\nworld\n')
    record = {'stdout': {'offset': 6, 'size': 6}, 'pending': {'stdout': {'start': 6, 'end': 12, 'size': 12}}}
    (target.dest / '.received.json').write_text(json.dumps(record))
    target.probe = {'failed': True, 'msg': 'stdout of job job1 from byte 6 was received by another receive meanwhile'} \
        if taken else {'data': ''}
    target.remote.write_bytes(b'!\n' if taken else b'world\n!\n')
    result = target.receive(12 if taken else 6, 14, remote_start=12 if taken else 6)
    assert (target.dest / 'stdout').read_bytes() == b'hello\nworld\n!\n', 'nothing lost, nothing twice'
    assert result['stdout'] == ('!\n' if taken else 'world\n!\n')
    assert target.record() == {'stdout': {'offset': 14, 'size': 14}}


def test_a_copy_from_before_the_record_keeps_its_offsets(tmp_path):
    target = Target(tmp_path, b'world\n')
    target.dest.mkdir(parents=True)
    (target.dest / 'stdout').write_bytes(b'hello\nwor')  # 6..9 fetched but never committed
    target.receive(6, 12, remote_start=6)
    assert (target.dest / 'stdout').read_bytes() == b'hello\nworld\n'
    assert target.record() == {'stdout': {'offset': 12, 'size': 12}}


def test_an_unusable_results_dir_is_a_placement_error(tmp_path):
    target = Target(tmp_path, b'hello\n')
    target.results_dir.write_text('a file')
    with pytest.raises(PlacementError, match='cannot write the controller copy of job job1 under results_dir %s: '
                                             r'\[Errno 20\] Not a directory' % target.results_dir):
        target.receive(0, 6)
    assert target.calls == [], 'nothing committed'


def test_check_mode_writes_nothing(tmp_path):
    target = Target(tmp_path, b'hello\n', check_mode=True)
    result = target.planned(0, 6)
    result['jobs'][0]['pieces'] = []  # the module plans nothing in check mode
    Placement(target, {'inventory_hostname': 'h1'}).complete(result, {'max_bytes': 0, 'keep': False,
                                                                      'auto_remove': False})
    assert not target.results_dir.exists() and target.calls == []
    assert 'pieces' not in result


def test_a_range_still_there_whose_piece_file_went_away_is_read_from_the_output(tmp_path):
    # A receive planning at the same time rebuilt the job's .pieces folder: the planned file is gone, the range is not.
    target = Target(tmp_path, b'hello\nworld\n', output=b'hello\nworld\n')
    target.receive(0, 6)
    target.remote.unlink()
    result = target.receive(6, 12, data=b'world\n')
    assert (result['stdout'], result['received_elsewhere']) == ('world\n', False)
    assert (target.dest / 'stdout').read_bytes() == b'hello\nworld\n'
    assert target.calls[-3:] == [['_read'], ['_read'], ['_commit']], 'the probe, the read, the commit'


def test_many_controller_jobs_are_fetched_and_committed_in_groups_of_open_locks(tmp_path, monkeypatch):
    # One open lock file per controller folder while its fetch waits for the commit: a receive of thousands of jobs
    # goes in groups, each committed before the next group's folders are locked.
    import hashlib
    import shutil
    from types import SimpleNamespace

    from ansible_collections.remote.jobs.plugins.plugin_utils import _placement

    monkeypatch.setattr(_placement, 'LOCKED_AT_ONCE', 2)
    calls = []

    class Action:
        _connection = SimpleNamespace(fetch_file=shutil.copyfile)
        _task = SimpleNamespace(check_mode=False, delegate_to=None)
        _templar = SimpleNamespace(template=lambda value: value)
        _loader = SimpleNamespace(get_basedir=lambda: str(tmp_path))

        def _run_module(self, args, task_vars, _verb=None, **internal):
            calls.append(sorted(args['id']))
            jobs = [{'id': job_id, 'state': 'completed', 'has_more_data': False,
                     'committed': {item['stream']: True for item in internal['_commit'] if item['id'] == job_id}}
                    for job_id in args['id']]
            return {'changed': True, 'jobs': jobs}

    views = []
    for n in range(5):
        remote = tmp_path / ('remote-%d' % n)
        remote.write_bytes(b'job %d\n' % n)
        views.append({'id': 'job%d' % n, 'results': 'controller', 'results_dir': str(tmp_path / 'res'),
                      'state': 'completed', 'has_more_data': True,
                      'pieces': [{'stream': 'stdout', 'start': 0, 'end': 6, 'path': str(remote),
                                  'sha256': hashlib.sha256(b'job %d\n' % n).hexdigest()}]})
    result = Placement(Action(), {'inventory_hostname': 'h1'}).complete(
        {'changed': False, 'jobs': views}, {'max_bytes': 0, 'keep': False, 'auto_remove': False})
    assert calls == [['job0', 'job1'], ['job2', 'job3'], ['job4']], 'one commit per group of 2'
    assert [job['stdout'] for job in result['jobs']] == ['job %d\n' % n for n in range(5)]
    for n in range(5):
        assert (tmp_path / 'res' / 'h1' / ('job%d' % n) / 'stdout').read_bytes() == b'job %d\n' % n
