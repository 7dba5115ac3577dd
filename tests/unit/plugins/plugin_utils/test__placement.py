# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller copy of results: controller output: appending verified pieces, redoing uncommitted ones."""

from __future__ import annotations

import io

import pytest

from ansible_collections.remote.jobs.plugins.plugin_utils._placement import Placement, PlacementError, set_jobs


def append(path, data, start):
    Placement.__new__(Placement)._append(str(path), io.BytesIO(data), start, len(data), {'id': 'job1'})


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
    Placement.__new__(Placement)._append(str(path), io.BytesIO(b'abcdef-grown'), 0, 6, {'id': 'job1'})
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
    return placement._fetch_piece({'id': 'job1'}, piece, str(dest), max_bytes), dest


def test_a_first_piece_becomes_the_private_controller_copy(tmp_path):
    head, dest = fetch_piece(tmp_path, b'hello world, grown since', {'start': 0, 'end': 11}, max_bytes=5)
    assert head == b'hello'
    assert (dest / 'stdout').read_bytes() == b'hello world', 'only the planned bytes are kept'
    assert oct((dest / 'stdout').stat().st_mode & 0o777) == '0o600'
    assert sorted(p.name for p in dest.iterdir()) == ['stdout']


@pytest.mark.parametrize('piece,message', [
    ({'start': 0, 'end': 5, 'sha256': '0' * 64}, 'failed its sha256 check'),
    ({'start': 0, 'end': 50}, r'arrived short \(11 of 50 bytes\)'),
])
def test_a_piece_that_fails_its_check_leaves_no_controller_copy(tmp_path, piece, message):
    with pytest.raises(PlacementError, match=message):
        fetch_piece(tmp_path, b'hello world', piece)
    assert sorted(p.name for p in (tmp_path / 'dest').iterdir()) == [], 'nothing kept, not even the download'
