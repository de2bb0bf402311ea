"""Every test imports the collection as Ansible does (see tests/support/collection_path.py)."""

from tests.support.collection_path import make_collection_importable

make_collection_importable()
