# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: writes every task result (host, task, status, result) as JSON to $REMOTE_JOBS_TEST_RESULTS."""

from __future__ import annotations

DOCUMENTATION = r'''
name: jsonresults
type: aggregate
short_description: Write task results as JSON for the test suite
description: Writes every task result to the file named by the REMOTE_JOBS_TEST_RESULTS environment variable.
options: {}
'''

import json
import os

from ansible.plugins.callback import CallbackBase


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'jsonresults'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.records = []

    def _record(self, result, status):
        self.records.append({
            'host': result._host.get_name(),
            'task': result._task.get_name(),
            'status': status,
            'result': _plain(result._result),
        })

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._record(result, 'failed')

    def v2_runner_on_skipped(self, result, **kwargs):
        self._record(result, 'skipped')

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._record(result, 'unreachable')

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get('REMOTE_JOBS_TEST_RESULTS')
        if path:
            with open(path, 'w') as handle:
                json.dump(self.records, handle)
