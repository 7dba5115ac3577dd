# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
name: job_table
type: aggregate
short_description: A Get-Job table per play of the jobs its remote.jobs tasks touched
version_added: 1.0.0
description:
  - Collects the job objects (RV(remote.jobs.info#module:jobs)) that every C(remote.jobs.*) task of a play returned and prints, for each
    play, one table of them like PowerShell's C(Get-Job) - C(Id), C(Name), C(State), C(HasMoreData),
    C(Location) and C(Command).
  - The tables are printed when the playbook ends, after the recap, one per play in play order (ansible-core
    gives callbacks no event at the end of a play, and the stdout callback always prints the next play's banner
    first). A play that touched no job prints no table.
  - Each job appears once per host, with the last state a task saw for it. Jobs a task removed are left out (and
    counted below the table), as C(Get-Job) no longer lists a job after C(Remove-Job).
  - C(Location) is the inventory host name, the name the play addressed the host by (PowerShell shows the
    computer name the job ran on).
  - It only adds the table; the normal output of the play comes from the stdout callback as usual.
requirements:
  - Enable it with C(callbacks_enabled = remote.jobs.job_table) in the C([defaults]) section of C(ansible.cfg), or
    C(ANSIBLE_CALLBACKS_ENABLED=remote.jobs.job_table).
options:
  command_width:
    description: The widest the C(Command) column gets; longer commands end in C(...).
    type: int
    default: 50
    env:
      - name: REMOTE_JOBS_TABLE_COMMAND_WIDTH
    ini:
      - section: callback_job_table
        key: command_width
'''

from ansible.plugins.callback import CallbackBase

COLUMNS = ('Id', 'Name', 'State', 'HasMoreData', 'Location', 'Command')


def _cell(value):
    if value is None:
        return ''
    if isinstance(value, bool):
        return 'True' if value else 'False'
    return ' '.join(str(value).split())  # one line per job, whatever the command holds


def _shorten(text, width):
    if width and len(text) > width:
        return text[:max(0, width - 3)] + '...'
    return text


def render_table(rows, command_width=50):
    """Lines of a Get-Job style table of rows (dicts with the COLUMNS as keys)."""
    cells = [[_cell(row.get(column)) for column in COLUMNS] for row in rows]
    for line in cells:
        line[-1] = _shorten(line[-1], command_width)
    widths = [max([len(column)] + [len(line[i]) for line in cells]) for i, column in enumerate(COLUMNS)]

    def layout(line):
        return '  '.join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()

    return [layout(COLUMNS), layout(['-' * len(column) for column in COLUMNS])] + [layout(line) for line in cells]


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'remote.jobs.job_table'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self._plays = []     # [(play name, rows, removed)] in play order
        self._rows = {}      # (host, id) -> row of the current play, in the order first touched
        self._removed = set()

    # --- collecting ----------------------------------------------------------------------------------------------
    @staticmethod
    def _is_ours(task):
        if str(task.action).startswith('remote.jobs.'):
            return True
        if task.loop is None:  # resolved_action is only reliable here for tasks without a loop
            try:
                return str(task.resolved_action or '').startswith('remote.jobs.')
            except Exception:  # an unresolvable action is not ours
                return False
        return False

    def _collect(self, result):
        if not self._is_ours(result._task):
            return
        host = result._host.get_name()
        outcome = result._result
        items = outcome.get('results') if isinstance(outcome.get('results'), list) else [outcome]
        for item in items:
            if not isinstance(item, dict):
                continue
            for job in item.get('jobs') or []:
                if not isinstance(job, dict) or not job.get('id'):
                    continue
                key = (host, job['id'])
                if job.get('removed'):
                    self._rows.pop(key, None)
                    self._removed.add(key)
                    continue
                self._removed.discard(key)
                state = job.get('state')
                self._rows[key] = {
                    'Id': job['id'], 'Name': job.get('name'), 'State': str(state).capitalize() if state else None,
                    'HasMoreData': job.get('has_more_data'), 'Location': host, 'Command': job.get('command'),
                }

    def v2_runner_on_ok(self, result):
        self._collect(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._collect(result)

    # --- printing ------------------------------------------------------------------------------------------------
    def v2_playbook_on_play_start(self, play):
        self._rows, self._removed = {}, set()
        self._plays.append((play.get_name().strip(), self._rows, self._removed))

    def v2_playbook_on_stats(self, stats):
        width = self.get_option('command_width')
        for name, rows, removed in self._plays:
            if not rows and not removed:
                continue
            self._display.banner('REMOTE JOBS [%s]' % name)
            if rows:
                for line in render_table(list(rows.values()), command_width=width):
                    self._display.display(line)
            if removed:
                self._display.display('(%d removed job(s) not shown)' % len(removed))
