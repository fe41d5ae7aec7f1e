"""Every third-party import under bridge/ is declared in pyproject.toml, and nothing more.

The product (every module under ``bridge/``) may import only the standard library, ``bridge``
itself and the distributions of ``[project] dependencies``. The pytest plugin
(``bridge/sim/pytest_plugin.py``) and the test kit (``bridge/sim/testing/``) run only under
pytest, so they may also import the ``test`` extra; the optional parts (:data:`OPTIONAL`: the
web page, the DTLS module, the manufacturer certificate modules, the event loop's uvloop) may
import their own extra, which they load lazily. Every import counts, also inside functions
or ``if TYPE_CHECKING:``. Import names are mapped to distributions with the metadata of the
installed environment (``importlib.metadata.packages_distributions``), so ``paho`` counts as
``paho-mqtt`` and ``dbus_fast`` as ``dbus-fast``. The bounds themselves are proven by running
the tests against the lowest allowed versions (``scripts/test-lowest``, docs/design.md).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BRIDGE = ROOT / "bridge"
TEST_TIME = (BRIDGE / "sim" / "pytest_plugin.py", BRIDGE / "sim" / "testing")
#: extra -> the modules (files or packages) that may import it.
OPTIONAL = {"web": (BRIDGE / "web",),
            "secure": (BRIDGE / "ocf" / "dtls_lib.py", BRIDGE / "ocf" / "mfg_profile.py",
                       BRIDGE / "ocf" / "mfg_trust.py"),
            "uvloop": (BRIDGE / "daemon" / "event_loop.py",)}


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, f"unreadable requirement {requirement!r} in pyproject.toml"
    return canonical(match.group())


def declared() -> tuple[set[str], set[str]]:
    """The distributions of ``[project] dependencies`` and of the ``test`` extra."""
    runtime = {requirement_name(r) for r in _project()["dependencies"]}
    return runtime, extra("test")


def _project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads(
        (ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project


def extra(name: str) -> set[str]:
    return {requirement_name(r) for r in _project()["optional-dependencies"][name]}


def optional_for(path: Path) -> set[str]:
    """The distributions of the extras ``path`` belongs to (:data:`OPTIONAL`)."""
    return {dist for name, parts in OPTIONAL.items()
            if any(path == part or part in path.parents for part in parts)
            for dist in extra(name)}


def third_party_imports(path: Path) -> set[str]:
    """Top-level names of every absolute import in one file, less the stdlib and bridge."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "bridge"}


def is_test_time(path: Path) -> bool:
    return any(path == part or part in path.parents for part in TEST_TIME)


def distributions_of(module: str) -> set[str]:
    return {canonical(d) for d in packages_distributions().get(module, [])}


def test_every_import_of_the_product_is_a_declared_dependency() -> None:
    runtime, test = declared()
    problems = []
    for path in sorted(BRIDGE.rglob("*.py")):
        allowed = (runtime | test if is_test_time(path) else runtime) | optional_for(path)
        for module in sorted(third_party_imports(path)):
            dists = distributions_of(module)
            if not dists:
                problems.append(f"{path.relative_to(ROOT)}: {module} comes from no installed "
                                "distribution")
            elif not dists & allowed:
                problems.append(f"{path.relative_to(ROOT)}: {module} (from "
                                f"{', '.join(sorted(dists))}) is not declared")
    assert not problems, "\n".join(problems)


def test_every_declared_dependency_is_imported() -> None:
    runtime, _ = declared()
    imported: set[str] = set()
    for path in BRIDGE.rglob("*.py"):
        if not is_test_time(path):
            for module in third_party_imports(path):
                imported |= distributions_of(module)
    assert runtime - imported == set(), "declared but never imported by the product"


def test_the_check_sees_undeclared_and_test_time_imports(tmp_path: Path) -> None:
    # The checker itself: paho is imported by bridge/mqtt and counts as paho-mqtt (it was once
    # imported without being declared); pytest is allowed only in the test-time modules.
    runtime, test = declared()
    assert distributions_of("paho") == {"paho-mqtt"}
    assert "paho-mqtt" in runtime
    assert "pytest" in test and "pytest" not in runtime
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nimport bridge.core\nfrom paho.mqtt.enums import X\n"
                      "def f():\n    import pytest\n", encoding="utf-8")
    assert third_party_imports(sample) == {"paho", "pytest"}
    assert is_test_time(BRIDGE / "sim" / "testing" / "netns.py")
    assert not is_test_time(BRIDGE / "mqtt" / "connection.py")
