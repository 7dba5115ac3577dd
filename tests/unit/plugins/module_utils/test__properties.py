# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property-based tests (hypothesis): bad input and corrupt on-target files give a clear error or a sane state,
never a traceback, and never touch a path outside the job root."""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.remote.jobs.plugins.module_utils import _jobstore as js
from ansible_collections.remote.jobs.plugins.module_utils._args import (
    SPECS,
    STATES,
    JobArgumentError,
    check_common,
    check_finite,
    check_job_id,
    check_start,
    one_line,
)

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10 ** 12, 10 ** 12), st.floats(),
                         st.text(max_size=40))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                 st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                           max_leaves=12)
TRICKY_TEXT = st.one_of(st.text(max_size=70), st.sampled_from(['..', '.', '../x', '/etc/passwd', 'a/../../b', 'x\n',
                                                               '\x00', '~root', '-rf', 'ok', 'a' * 64, 'a' * 65]))


def verb_params(verb):
    spec = SPECS[verb]['argument_spec']
    values = {name: st.one_of(JSON_VALUES, TRICKY_TEXT, st.lists(TRICKY_TEXT, max_size=3)) for name in spec}
    return st.fixed_dictionaries({}, optional=values)


def validate(verb, params):
    """The controller's validation path: the argument spec, then the checks it cannot express."""
    spec = SPECS[verb]
    check_finite(params)
    result = ArgumentSpecValidator(**spec).validate(dict(params))
    if result.error_messages:
        return 'spec: %s' % one_line('; '.join(result.error_messages))
    checked = result.validated_parameters
    check_common(checked)
    if verb == 'start':
        check_start(checked)
    return checked


@pytest.mark.parametrize('verb', sorted(SPECS))
def test_any_arguments_validate_or_fail_with_a_one_line_message(verb):
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(verb_params(verb))
    def check(params):
        try:
            outcome = validate(verb, params)
        except JobArgumentError as exc:
            message = str(exc)
            assert message and '\n' not in message and 'Traceback' not in message
            return
        if isinstance(outcome, str):
            assert '\n' not in outcome.strip()
            return
        for job_id in outcome.get('id') or []:
            assert check_job_id(job_id) == job_id

    check()


@settings(max_examples=400, deadline=None)
@given(TRICKY_TEXT)
def test_an_accepted_job_id_never_leaves_the_root(job_id):
    root = '/srv/jobs'
    try:
        check_job_id(job_id)
    except JobArgumentError as exc:
        assert 'invalid job id' in str(exc)
        return
    path = os.path.normpath(os.path.join(root, job_id))
    assert os.path.dirname(path) == root and os.path.basename(path) == job_id


CORRUPTIONS = st.one_of(
    st.just(None),                                   # file missing
    st.binary(max_size=60),                          # garbage bytes
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),  # valid JSON of any shape
    st.fixed_dictionaries({}, optional={             # right keys, wrong or hostile values
        'state': st.one_of(st.sampled_from(STATES), JSON_SCALARS),
        'stdout': JSON_SCALARS, 'stderr': JSON_SCALARS, 'supervisor_pid': JSON_SCALARS, 'pid': JSON_SCALARS,
        'started': JSON_SCALARS, 'finished': JSON_SCALARS, 'name': JSON_SCALARS, 'argv': JSON_VALUES,
        'results': st.sampled_from(['target', 'controller', 7]), 'retention': JSON_SCALARS,
        'stdout_path': st.sampled_from(['/etc/passwd', 'relative', '/tmp', 3]),
    }).map(lambda v: json.dumps(v).encode()),
)


@pytest.fixture(scope='module')
def template_job(tmp_path_factory):
    """One real finished job (with output), copied for every example."""
    root = str(tmp_path_factory.mktemp('template') / 'root')
    store = js.JobStore(root)
    (job,) = store.start([{'name': 'tpl', 'command': 'echo out; echo err >&2', 'results': 'controller'}])
    assert store.wait([job], timeout=30) is False
    return root, job.id


def snapshot(folder):
    found = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            found[path] = os.lstat(path).st_size
    return found


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(job_json=CORRUPTIONS, state_json=CORRUPTIONS, offsets_json=CORRUPTIONS)
def test_corrupt_files_give_a_sane_state_and_touch_nothing_outside(template_job, job_json, state_json, offsets_json):
    template_root, job_id = template_job
    sandbox = tempfile.mkdtemp()
    try:
        outside = os.path.join(sandbox, 'outside')
        os.mkdir(outside)
        with open(os.path.join(outside, 'precious'), 'w') as handle:
            handle.write('do not touch')
        root = os.path.join(sandbox, 'root')
        shutil.copytree(template_root, root)
        os.chmod(root, 0o700)
        job_dir = os.path.join(root, job_id)
        for name, content in (('job.json', job_json), ('state.json', state_json), ('offsets.json', offsets_json)):
            path = os.path.join(job_dir, name)
            if content is None:
                os.unlink(path)
            else:
                with open(path, 'wb') as handle:
                    handle.write(content)
        before = snapshot(outside)
        store = js.JobStore(root)
        for call in (
            store.select,
            lambda: store.select(names=['*'], glob=True, states=['failed', 'running'], has_more_data=True),
            lambda: store.select(older_than='1s'),
            lambda: [job.view() for job in store.select(ids=[job_id])],
            lambda: [store.receive(job, keep=True) for job in store.select(ids=[job_id])],
            lambda: store.wait(store.select(ids=[job_id]), timeout=0),
            lambda: [store.plan_fetch(job) for job in store.select(ids=[job_id])],
            lambda: [store.commit(job, {'stdout': (0, 4)}) for job in store.select(ids=[job_id])],
            lambda: [store.receive(job) for job in store.select(ids=[job_id])],
            lambda: [store.stop(job, 0) for job in store.select(ids=[job_id])],
            store.expire,
        ):
            try:
                call()
            except js.JobStoreError as exc:
                assert str(exc) and '\n' not in str(exc)
            except OSError as exc:
                # run_module turns these into "<verb> failed on the target: <strerror>: <file>", one line.
                assert exc.strerror
        if job_json is None:
            # Without job.json the folder is not a job (a job's folder gets its name only once job.json is in it):
            # it is never listed, and nothing removes it.
            assert store.select(ids=[job_id]) == [] and store.select() == []
            assert os.path.isdir(job_dir)
            assert snapshot(outside) == before, 'a path outside the job root was touched'
            return
        (job,) = store.select(ids=[job_id])
        view = job.view()
        assert view['state'] in STATES and view['id'] == job_id
        json.dumps(view)
        store.remove(job)
        assert not os.path.exists(job_dir)
        assert snapshot(outside) == before, 'a path outside the job root was touched'
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


def test_a_bad_value_under_a_key_with_a_newline_is_refused_in_one_line():
    # Found by the property test above: the option path quoted the key, newline and all (every user-facing msg was
    # already made one line where it is reported; the error itself now is).
    with pytest.raises(JobArgumentError) as caught:
        check_finite({'job_root': {'a\nb': float('inf')}})
    assert '\n' not in str(caught.value) and 'must be a finite number' in str(caught.value)
