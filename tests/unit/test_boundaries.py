"""The import rules of docs/architecture.md, checked on every module under bridge/ with ``ast``.

Layers (the second name component of ``bridge.<layer>...``) and what each may import:

- ``daemon`` (and ``bridge.__main__``): every layer.
- ``ocf``, ``alljoyn``, ``mqtt``, ``discovery``: ``core``, ``model``, ``naming`` and
  themselves, never each other: adapters meet only in ``core``, through events.
- ``sim``: like an adapter, plus ``ocf`` and ``alljoyn``. This is a deliberate exception:
  the simulated devices reuse the protocol adapters' codecs and servers instead of carrying
  second copies of them.
- ``core``: ``model`` and ``naming``. ``model`` and ``naming``: nothing of ours.
- the package root ``bridge`` (its ``__init__``) may be imported by anyone and imports
  nothing of ours.

Protocol libraries belong to one adapter each: ``aiocoap``/``cbor2`` to ``ocf`` (and
``sim``), ``dbus_fast`` to ``alljoyn`` (and ``sim``), ``aiomqtt``/``paho`` to ``mqtt``,
``zeroconf`` to ``discovery``, ``h11`` to ``web`` (the web page, an adapter like
the sides: ``core``, ``model``, ``naming`` and itself). The pure layers (``core``,
``model``, ``naming``, the root) also import no socket, process or network-stream
module: ``socket``, ``ssl``, ``subprocess``, ``asyncio`` streams or subprocesses (as
modules, imported names or ``asyncio.<name>``). Every import counts, also inside functions
or ``if TYPE_CHECKING:``. The firmware in ``firmware/`` never imports ``bridge``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BRIDGE = ROOT / "bridge"
FIRMWARE = ROOT / "firmware"

ADAPTER_DEPS = frozenset({"core", "model", "naming"})
ALLOWED_LAYERS: dict[str, frozenset[str]] = {
    "daemon": frozenset(
        {"daemon", "ocf", "alljoyn", "mqtt", "discovery", "sim", "web", "core", "model",
         "naming"}
    ),
    "ocf": ADAPTER_DEPS | {"ocf"},
    "alljoyn": ADAPTER_DEPS | {"alljoyn"},
    "mqtt": ADAPTER_DEPS | {"mqtt"},
    "discovery": ADAPTER_DEPS | {"discovery"},
    "web": ADAPTER_DEPS | {"web"},
    "sim": ADAPTER_DEPS | {"sim", "ocf", "alljoyn"},
    "core": frozenset({"core", "model", "naming"}),
    "model": frozenset({"model"}),
    "naming": frozenset({"naming"}),
    "root": frozenset(),
}
PROTOCOL_LIBRARIES: dict[str, frozenset[str]] = {
    "aiocoap": frozenset({"ocf", "sim"}),
    "cbor2": frozenset({"ocf", "sim"}),
    "dbus_fast": frozenset({"alljoyn", "sim"}),
    "aiomqtt": frozenset({"mqtt"}),
    "paho": frozenset({"mqtt"}),
    "zeroconf": frozenset({"discovery"}),
    "h11": frozenset({"web"}),
    "OpenSSL": frozenset({"ocf"}),
    "cryptography": frozenset({"ocf"}),
}
PURE_LAYERS = frozenset({"core", "model", "naming", "root"})
IO_MODULES = frozenset(
    {
        "socket",
        "socketserver",
        "ssl",
        "selectors",
        "subprocess",
        "asyncio.streams",
        "asyncio.subprocess",
        "http.client",
        "http.server",
        "urllib.request",
    }
)
ASYNCIO_IO_NAMES = frozenset(
    {
        "open_connection",
        "start_server",
        "open_unix_connection",
        "start_unix_server",
        "StreamReader",
        "StreamWriter",
        "create_subprocess_exec",
        "create_subprocess_shell",
        "streams",
        "subprocess",
    }
)


@dataclass(frozen=True)
class Violation:
    where: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.where}:{self.line}: {self.message}"


def layer_of(module: str) -> str:
    """``bridge.core.thing`` -> ``core``; ``bridge`` -> ``root``; ``bridge.__main__`` -> daemon."""
    parts = module.split(".")
    if len(parts) == 1:
        return "root"
    if parts[1] == "__main__":
        return "daemon"
    return parts[1]


def imported_modules(
    tree: ast.AST, module: str, is_package: bool, known: frozenset[str]
) -> list[tuple[int, str]]:
    """Every ``(line, absolute module name)`` the tree imports, relative imports resolved.

    ``from pkg import name`` counts as importing ``pkg.name`` when that is one of the
    ``known`` modules (so ``from bridge import mqtt`` is an import of ``bridge.mqtt``), and
    as importing ``pkg.name`` too for the names of ``asyncio`` (so ``from asyncio import
    open_connection`` is seen).
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, module, is_package)
            found.append((node.lineno, base))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                if candidate in known or base == "asyncio":
                    found.append((node.lineno, candidate))
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "asyncio"
            and node.attr in ASYNCIO_IO_NAMES
        ):
            found.append((node.lineno, f"asyncio.{node.attr}"))
    return found


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        assert node.module is not None
        return node.module
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def check_source(
    source: str,
    module: str,
    *,
    is_package: bool = False,
    known: frozenset[str] = frozenset(),
    where: str = "<source>",
) -> list[Violation]:
    """Violations of the docs/architecture.md import rules in one module's source."""
    layer = layer_of(module)
    if layer not in ALLOWED_LAYERS:
        return [Violation(where, 1, f"{module}: '{layer}' is not a layer of docs/architecture.md")]
    tree = ast.parse(source, filename=where)
    violations: list[Violation] = []
    for line, target in imported_modules(tree, module, is_package, known):
        top = target.split(".")[0]
        if top == "bridge":
            target_layer = layer_of(target)
            if target_layer != "root" and target_layer not in ALLOWED_LAYERS[layer]:
                allowed = ", ".join(sorted(ALLOWED_LAYERS[layer] - {layer})) or "nothing of ours"
                violations.append(
                    Violation(
                        where,
                        line,
                        f"{module} imports {target}: bridge.{layer} may import {allowed}",
                    )
                )
        elif top in PROTOCOL_LIBRARIES and layer not in PROTOCOL_LIBRARIES[top]:
            owners = " and ".join(f"bridge.{o}" for o in sorted(PROTOCOL_LIBRARIES[top]))
            violations.append(
                Violation(where, line, f"{module} imports {target}: {top} belongs to {owners}")
            )
        elif layer in PURE_LAYERS and _is_io_module(target):
            violations.append(
                Violation(
                    where,
                    line,
                    f"{module} imports {target}: bridge.{layer} is pure and does no network "
                    "or process I/O",
                )
            )
    return violations


def _is_io_module(target: str) -> bool:
    parts = target.split(".")
    if parts[0] == "asyncio" and len(parts) > 1 and parts[1] in ASYNCIO_IO_NAMES:
        return True
    return any(target == io or target.startswith(io + ".") for io in IO_MODULES)


def _module_name(path: Path) -> tuple[str, bool]:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _bridge_files() -> list[Path]:
    return sorted(BRIDGE.rglob("*.py"))


def test_bridge_modules_follow_the_import_rules() -> None:
    files = _bridge_files()
    assert len(files) >= 10, f"expected the bridge package under {BRIDGE}, found {files}"
    known = frozenset(_module_name(path)[0] for path in files)
    violations: list[Violation] = []
    for path in files:
        module, is_package = _module_name(path)
        violations += check_source(
            path.read_text(),
            module,
            is_package=is_package,
            known=known,
            where=str(path.relative_to(ROOT)),
        )
    assert not violations, "imports break docs/architecture.md rules:\n" + "\n".join(
        map(str, violations)
    )


def test_firmware_never_imports_bridge() -> None:
    offenders = []
    for path in sorted(FIRMWARE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, target in imported_modules(tree, "firmware", False, frozenset()):
            if target.split(".")[0] == "bridge":
                offenders.append(f"{path.relative_to(ROOT)}:{line}: imports {target}")
    assert not offenders, "firmware/ must not import bridge/:\n" + "\n".join(offenders)


# --- the checker itself catches what it should --------------------------------------------

KNOWN = frozenset(
    {"bridge", "bridge.core", "bridge.core.thing", "bridge.mqtt", "bridge.ocf", "bridge.naming"}
)


@pytest.mark.parametrize(
    ("module", "is_package", "source", "expected"),
    [
        ("bridge.ocf.client", False, "import bridge.mqtt.topics\n", "bridge.mqtt.topics"),
        ("bridge.ocf.client", False, "from ..mqtt import topics\n", "bridge.mqtt"),
        ("bridge.ocf.client", False, "from bridge import mqtt\n", "bridge.mqtt"),
        ("bridge.alljoyn", True, "def f():\n    import bridge.ocf\n", "bridge.ocf"),
        ("bridge.sim.device", False, "from bridge.mqtt import x\n", "bridge.mqtt"),
        ("bridge.sim.device", False, "import bridge.daemon\n", "bridge.daemon"),
        ("bridge.core.thing", False, "from bridge.ocf import codec\n", "bridge.ocf"),
        ("bridge.core.thing", False, "import aiocoap\n", "aiocoap"),
        ("bridge.core.thing", False, "import socket\n", "socket"),
        ("bridge.core.thing", False, "import subprocess\n", "subprocess"),
        ("bridge.core.thing", False, "from asyncio import open_connection\n", "open_connection"),
        ("bridge.core.thing", False, "import asyncio\nasyncio.start_server(f)\n", "start_server"),
        ("bridge.model.loader", False, "from ..core import thing\n", "bridge.core"),
        ("bridge.model.loader", False, "import bridge.naming\n", "bridge.naming"),
        ("bridge.naming", False, "from .core import thing\n", "bridge.core"),
        ("bridge.mqtt.client", False, "import dbus_fast\n", "dbus_fast"),
        ("bridge.ocf.client", False, "import paho.mqtt.client\n", "paho.mqtt.client"),
        ("bridge.daemon.cli", False, "import zeroconf\n", "zeroconf"),
        ("bridge.discovery", True, "from cbor2 import dumps\n", "cbor2"),
        ("bridge.daemon.gateway", False, "import h11\n", "h11"),
        ("bridge.web.api", False, "from bridge.mqtt import side\n", "bridge.mqtt"),
        ("bridge.utils", False, "import json\n", "not a layer"),
    ],
)
def test_checker_reports_violation(
    module: str, is_package: bool, source: str, expected: str
) -> None:
    violations = check_source(source, module, is_package=is_package, known=KNOWN)
    assert violations, f"{module}: {source!r} was accepted"
    assert any(expected in str(v) for v in violations), violations


@pytest.mark.parametrize(
    ("module", "is_package", "source"),
    [
        ("bridge.daemon.app", False, "import bridge.ocf, bridge.mqtt, bridge.sim\n"),
        ("bridge.sim.device", False, "from bridge.ocf import server\nimport dbus_fast\n"),
        ("bridge.sim", True, "from . import device\nfrom ..alljoyn import producer\n"),
        ("bridge.ocf.client", False, "import aiocoap, cbor2\nfrom ..core import thing\n"),
        ("bridge.mqtt.client", False, "import aiomqtt\nfrom bridge import naming\n"),
        ("bridge.core.thing", False, "import asyncio\nasyncio.Event()\nimport json\n"),
        ("bridge.core.registry", False, "from . import thing\nfrom bridge.model import x\n"),
        ("bridge.model.loader", False, "from pathlib import Path\nfrom .types import Value\n"),
        ("bridge.naming", False, "import uuid\nimport bridge\n"),
        ("bridge.__main__", False, "from bridge.daemon.cli import main\n"),
        ("bridge.web.http", False, "import h11\nfrom bridge.core import x\n"),
        ("bridge.daemon.gateway", False, "from bridge.web.server import WebServer\n"),
    ],
)
def test_checker_accepts_allowed_imports(module: str, is_package: bool, source: str) -> None:
    assert check_source(source, module, is_package=is_package, known=KNOWN) == []


def test_relative_imports_resolve_against_the_package() -> None:
    tree = ast.parse("from . import a\nfrom .. import naming\nfrom ..ocf.x import y\n")
    found = [name for _, name in imported_modules(tree, "bridge.core", True, KNOWN)]
    assert found == ["bridge.core", "bridge", "bridge.naming", "bridge.ocf.x"]
