"""Fuzz tests: every test reports how many cases it ran with the ``fuzz_cases`` fixture
(``fuzz_cases("About data, pure", n)``), and the counts are printed per surface in pytest's
terminal summary (``tests/conftest.py``, ``tests/fault_suite.py``); the test still asserts its
own minimum."""

from tests.fault_suite import Record

__all__ = ["Record"]
