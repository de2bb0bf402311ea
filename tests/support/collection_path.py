"""Make the checkout importable as ``ansible_collections.whotouched.server_audit``.

Tests import the collection's code the way Ansible does.  When the checkout does not
already sit in an ``ansible_collections/whotouched/server_audit`` tree, a symlink tree is
made under the checkout's ``.cache`` and put first on ``sys.path`` and on
``ANSIBLE_COLLECTIONS_PATH`` (so ``ansible-playbook`` run by tests finds it too).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def collections_base() -> Path:
    """The directory holding ``ansible_collections/whotouched/server_audit``."""
    if ROOT.parts[-3:] == ("ansible_collections", "whotouched", "server_audit"):
        return ROOT.parents[2]
    base = ROOT / ".cache" / "collections"
    link = base / "ansible_collections" / "whotouched" / "server_audit"
    if not link.is_symlink():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT, target_is_directory=True)
    return base


def make_collection_importable() -> Path:
    base = collections_base()
    if str(base) not in sys.path:
        sys.path.insert(0, str(base))
    os.environ["ANSIBLE_COLLECTIONS_PATH"] = str(base)
    return base
