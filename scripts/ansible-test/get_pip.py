"""Offline stand-in for the pip bootstrap script that ansible-test downloads.

ansible-test fetches ``get-pip.py`` from a host outside the package registries.  This
script does the same job from the interpreter's own ``ensurepip``, then installs the
requested packages from the package index like get-pip would.
"""

import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
arguments = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + arguments))
