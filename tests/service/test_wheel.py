"""scripts/build-wheel builds the wheel docs/install.md installs, and the installed package
finds its models and its shipped scenarios by name (issue 14 points 2 and 11).

The wheel is installed with pip into a directory of its own (``--target``, no dependencies:
those come from this environment) and run from a directory outside the checkout, so the
``bridge`` that runs is the installed one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_built_wheel_carries_models_and_scenarios(tmp_path: Path) -> None:
    built = subprocess.run([str(ROOT / "scripts" / "build-wheel"), str(tmp_path / "dist")],
                           capture_output=True, text=True, timeout=300, check=False,
                           env={**os.environ, "PYTHON": sys.executable})
    assert built.returncode == 0, built.stderr
    wheel = Path(built.stdout.strip().splitlines()[-1])
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"bridge/sim/scenarios/home.toml", "bridge/_models/devices/light.toml"} <= names
    # The compiled GET path, built by hatch_build.py (this machine has a C compiler): the
    # wheel is for this platform, not any.
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    assert wheel.name.endswith(f"-py3-none-{platform}.whl"), wheel.name
    assert "bridge/ocf/_lean_serve.so" in names
    assert not any(name.startswith(("tests/", "firmware/")) for name in names)

    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-index", "--target", str(target), str(wheel)], check=True,
                   timeout=300)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OCFAJ_")},
           "PYTHONPATH": os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]])}

    def ocfaj(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True,
                              text=True, env=env, cwd=tmp_path, timeout=60, check=False)

    where = subprocess.run([sys.executable, "-c", "import bridge; print(bridge.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    assert where.stdout.startswith(str(target)), where.stdout
    assert ocfaj("models").returncode == 0
    missing = ocfaj("simulate", "--scenario", "garden")
    assert missing.returncode == 2
    assert missing.stderr.strip().endswith("one of: flaky, home, scale"), missing.stderr
    loaded = subprocess.run(
        [sys.executable, "-c", "from pathlib import Path; from bridge.model import "
         "load_catalogue; from bridge.sim.scenario import load_scenario; "
         "print(load_scenario(Path('home'), load_catalogue()).source)"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    assert loaded.stdout.strip() == str(target / "bridge" / "sim" / "scenarios" / "home.toml")
    compiled = subprocess.run(
        [sys.executable, "-c", "import bridge.ocf.lean_compiled as c; "
         "print(c.LIBRARY, c.library() is not None)"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    assert compiled.stdout.split() == [str(target / "bridge" / "ocf" / "_lean_serve.so"),
                                       "True"]


def test_without_the_compiled_path_the_wheel_is_pure_python(tmp_path: Path) -> None:
    built = subprocess.run([str(ROOT / "scripts" / "build-wheel"), str(tmp_path / "dist")],
                           capture_output=True, text=True, timeout=300, check=False,
                           env={**os.environ, "PYTHON": sys.executable,
                                "OCFAJ_NO_COMPILED": "1"})
    assert built.returncode == 0, built.stderr
    wheel = Path(built.stdout.strip().splitlines()[-1])
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    assert "bridge/ocf/_lean_serve.so" not in zipfile.ZipFile(wheel).namelist()
