# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark-only callback: records time.time() on the controller when each task starts and when each result
(and each loop item's result) arrives, with a slimmed copy of the result, as JSON in $BENCH_EVENTS."""

from __future__ import annotations

DOCUMENTATION = r'''
name: benchtimes
type: aggregate
short_description: Record controller arrival times of task results for bench/run.py
description: Writes task start times and result arrival times (time.time()) to the file named by BENCH_EVENTS.
options: {}
'''

import json
import os
import time

from ansible.plugins.callback import CallbackBase

MAX_TEXT = 2048


def _slim(value):
    """A JSON-safe copy; long strings become '<N chars>' so a 100 MiB result never lands in the events file."""
    if isinstance(value, dict):
        return {str(k): _slim(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_slim(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    text = str(value)
    return text if len(text) <= MAX_TEXT else '<%d chars>' % len(text)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'benchtimes'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.events = []

    def _record(self, ev, result, **extra):
        now = time.time()
        self.events.append(dict({
            'ev': ev,
            't': now,
            'host': result._host.get_name(),
            'task': result._task.get_name(),
            'result': _slim(result._result),
        }, **extra))

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.events.append({'ev': 'task_start', 't': time.time(), 'task': task.get_name(), 'host': None})

    def v2_runner_on_ok(self, result, **kwargs):
        self._record('ok', result)

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._record('failed', result)

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._record('unreachable', result)

    def v2_runner_item_on_ok(self, result, **kwargs):
        res = result._result
        index = res.get(res.get('ansible_index_var') or '', (res.get('ansible_loop') or {}).get('index0'))
        self._record('item_ok', result, index=index)

    def v2_runner_item_on_failed(self, result, **kwargs):
        self._record('item_failed', result)

    def v2_runner_retry(self, result, **kwargs):
        self.events.append({'ev': 'retry', 't': time.time(), 'task': result._task.get_name(),
                            'host': result._host.get_name()})

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get('BENCH_EVENTS')
        if path:
            with open(path, 'w') as handle:
                json.dump(self.events, handle)
