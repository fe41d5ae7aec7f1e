"""Every attack module is part of the counted fault suite (issue 15 point 11)."""

from __future__ import annotations

from pathlib import Path

from tests.fault_suite import SURFACES

ROOT = Path(__file__).resolve().parents[2]


def test_every_fault_and_fuzz_module_is_counted_under_a_surface() -> None:
    modules = {str(p.relative_to(ROOT)) for folder in ("tests/faults", "tests/fuzz")
               for p in (ROOT / folder).glob("test_*.py")}
    assert modules, "no fault modules found"
    missing = sorted(modules - set(SURFACES))
    assert missing == [], f"add these to tests/fault_suite.py SURFACES: {missing}"


def test_every_listed_module_exists() -> None:
    gone = sorted(path for path in SURFACES if not (ROOT / path).is_file())
    assert gone == [], gone
