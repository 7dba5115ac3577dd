# Copyright: (c) 2026, remote.jobs contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in for the get-pip.py that ansible-test downloads from ci-files.testing.ansible.com.

ansible-test builds one virtual environment per sanity test without pip, then bootstraps pip with a
get-pip.py script it downloads from ci-files.testing.ansible.com and caches in
~/.ansible/test/cache/get_pip_<version>.py. Where that host cannot be reached (but a package index can),
tests/sanity/run.sh puts this file in the cache instead. It does what get-pip.py does with the arguments
ansible-test passes: installs pip from the Python's own ensurepip wheel, then has that pip install the pinned
packages ansible-test asks for (pip==<version>) from the configured package index.
"""

from __future__ import annotations

import subprocess
import sys

# get-pip.py options that pip install does not know.
GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel')


def main():
    subprocess.run([sys.executable, '-m', 'ensurepip', '--default-pip'], check=True, stdout=subprocess.DEVNULL)
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    rc = subprocess.run([sys.executable, '-m', 'pip', 'install'] + args, check=False).returncode
    # ensurepip also brings setuptools on Python < 3.12; get-pip.py --no-setuptools would not have.
    if rc == 0 and '--no-setuptools' in sys.argv[1:]:
        rc = subprocess.run([sys.executable, '-m', 'pip', 'uninstall', '--yes', '--quiet', 'setuptools'], check=False).returncode
    sys.exit(rc)


if __name__ == '__main__':
    main()
