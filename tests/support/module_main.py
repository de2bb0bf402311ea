"""Run a module's ``main()`` in this process, as ansible-test's unit tests do.

The arguments reach ``AnsibleModule`` through ``patch_module_args`` (the JSON Ansible would
send), the result is the JSON the module prints; nothing goes through a controller.  End to
end runs through ``ansible-playbook`` are in ``tests/support/playbook.py``.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from types import ModuleType
from typing import Tuple

from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.module_utils.testing import patch_module_args


def run_main(module: ModuleType, args: dict, check: bool = False,
             diff: bool = False) -> Tuple[int, dict]:
    """``(exit status, result)`` of ``module.main()`` called with ``args``."""
    with tempfile.TemporaryDirectory(prefix="module-main-") as remote_tmp:
        internal = {"_ansible_check_mode": check, "_ansible_diff": diff,
                    "_ansible_remote_tmp": remote_tmp, "_ansible_keep_remote_files": False}
        out = io.StringIO()
        status = None
        # A module's warnings are kept process-wide until its result is written: each run
        # starts with none, as a module process would.  Once a test has imported controller
        # code, Ansible takes this process for the controller and shows warnings instead of
        # returning them: the module runs as a module process does.
        ansible_warnings._global_warnings.clear()  # pylint: disable=protected-access
        was_controller, module_utils_internal.is_controller = \
            module_utils_internal.is_controller, False
        try:
            with patch_module_args(dict(args, **internal)), contextlib.redirect_stdout(out):
                try:
                    module.main()
                except SystemExit as exit_:
                    status = exit_.code
        finally:
            module_utils_internal.is_controller = was_controller
    if status is None:
        raise AssertionError("%s.main() returned without exit_json or fail_json"
                             % module.__name__)
    return status, json.loads(out.getvalue())


def warnings_of(result: dict) -> list:
    """The messages of a result's warnings."""
    return [warning["event"]["msg"] if isinstance(warning, dict) else warning
            for warning in result.get("warnings") or ()]
