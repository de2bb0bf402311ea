import sys
from pathlib import Path

_MOLECULE = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(_MOLECULE / "shared"))
sys.path.insert(0, str(_MOLECULE / "linux_audit" / "tests"))
