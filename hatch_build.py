"""Builds the compiled lean GET path (``bridge/ocf/lean_serve.c``) into the wheel.

hatchling runs this hook (``[tool.hatch.build.hooks.custom]`` in pyproject.toml) for every
wheel and editable install. It compiles the C file into ``bridge/ocf/_lean_serve.so`` with
the C compiler of ``$CC`` (default ``cc``): a plain shared library, loaded with ctypes, that
needs no Python headers and fits every Python version, so the wheel is tagged
``py3-none-<platform>``. Without a compiler, on another OS than Linux, or with
``OCFAJ_NO_COMPILED=1`` set, nothing is compiled and the wheel stays ``py3-none-any``: the
gateway then answers every GET on its Python paths (docs/design.md, "The compiled GET path").
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

if TYPE_CHECKING:
    Hook = BuildHookInterface[Any]
else:  # not subscripted at run time: no hatchling release is asked to be generic
    Hook = BuildHookInterface

SOURCE = Path("bridge/ocf/lean_serve.c")
LIBRARY = "bridge/ocf/_lean_serve.so"


def compile_library(root: Path, output: Path) -> str | None:
    """Compile the library to ``output``; None when done, else why not."""
    if not sys.platform.startswith("linux"):
        return f"not on Linux ({sys.platform})"
    if os.environ.get("OCFAJ_NO_COMPILED", "") not in ("", "0"):
        return "OCFAJ_NO_COMPILED is set"
    compiler = shlex.split(os.environ.get("CC", "cc"))
    if not compiler or shutil.which(compiler[0]) is None:
        return f"no C compiler ({' '.join(compiler) or 'CC is empty'})"
    flags = shlex.split(os.environ.get("CFLAGS", ""))
    partial = output.with_name(output.name + ".partial")
    command = [*compiler, "-O2", "-std=gnu11", "-Wall", "-fPIC", "-shared",
               "-fvisibility=hidden", *flags, "-o", str(partial), str(root / SOURCE),
               "-pthread"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        return f"{shlex.join(command)} failed:\n{done.stderr}"
    # A new file in place of the old one: a process that has the old one loaded keeps it.
    partial.replace(output)
    return None


class CompiledGetPath(Hook):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        if version == "editable":
            # The editable install imports from the checkout: the library goes next to the
            # module that loads it (git ignores it).
            output = root / LIBRARY
        else:
            self._directory = tempfile.mkdtemp(prefix="ocfaj-build-")
            output = Path(self._directory) / "_lean_serve.so"
        why_not = compile_library(root, output)
        if why_not is not None:
            self.app.display_warning(
                f"ocfaj: the compiled GET path is not built ({why_not}); the Python lean "
                "path answers every GET")
            return
        if version != "editable":
            build_data["force_include"][str(output)] = LIBRARY
            build_data["pure_python"] = False
            platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
            build_data["tag"] = f"py3-none-{platform}"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        directory = getattr(self, "_directory", None)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
