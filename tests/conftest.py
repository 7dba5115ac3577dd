# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Makes the repository importable as ansible_collections.remote.jobs (via .build/collections)."""

from __future__ import annotations

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')
LINK = os.path.join(COLLECTIONS, 'ansible_collections', 'remote', 'jobs')

if not os.path.exists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(os.path.relpath(ROOT, os.path.dirname(LINK)), LINK)
# Import the collection the way ansible-core does (its collection finder), so unit tests and plugins agree.
# Under `ansible-test units` its pytest plugin has installed the collection finder already, and module_utils
# tests run with only ansible.module_utils importable (as on a target).
try:
    from ansible.plugins.loader import init_plugin_loader
    from ansible.utils.collection_loader import AnsibleCollectionConfig
except ImportError:
    pass
else:
    if AnsibleCollectionConfig.collection_finder is None:
        init_plugin_loader([COLLECTIONS])
