"""The shipped systemd unit is one systemd accepts and asks for what issue 9 promises:
readiness and watchdog through sd_notify, restarts forever, a dedicated user, hardening."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "packaging" / "systemd" / "ocfaj.service"

HARDENING = ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
             "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups",
             "RestrictAddressFamilies", "RestrictNamespaces", "SystemCallFilter",
             "CapabilityBoundingSet", "MemoryDenyWriteExecute", "LockPersonality")


def _service_section() -> dict[str, str]:
    """``[Service]`` keys -> last value (systemd's own rule for repeated keys)."""
    section = ""
    keys: dict[str, str] = {}
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service":
            key, sep, value = line.partition("=")
            assert sep, f"not a key=value line in [Service]: {raw!r}"
            keys[key.strip()] = value.strip()
    return keys


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze not found: install the Debian package systemd"
    # verify checks that ExecStart exists; the venv path only exists on an installed board,
    # so the copy points at an executable that exists here and nothing else changes.
    text = UNIT.read_text()
    assert "ExecStart=/opt/ocfaj/venv/bin/ocfaj run --config /etc/ocfaj/config.toml" in text
    copy = tmp_path / "ocfaj.service"
    copy.write_text(text.replace("/opt/ocfaj/venv/bin/ocfaj", "/bin/true"))
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    # Unknown or misspelt keys are only warnings to systemd: refuse them here.
    noise = [line for line in done.stderr.splitlines() if "ocfaj.service" in line]
    assert not noise, noise


def test_unit_asks_for_notify_watchdog_restart_user_and_hardening() -> None:
    keys = _service_section()
    assert keys["Type"] == "notify"
    assert keys.get("NotifyAccess") in ("main", "all")
    assert int(keys["WatchdogSec"]) > 0
    assert keys["Restart"] == "always"
    assert keys["User"] == "ocfaj" and keys["Group"] == "ocfaj"
    assert keys["StateDirectory"] == "ocfaj" and keys["ConfigurationDirectory"] == "ocfaj"
    assert keys["ProtectSystem"] == "strict"  # read-only root: only the state dir is writable
    assert int(keys["LimitNOFILE"]) >= 4096  # docs/design.md: ~4 descriptors per device
    missing = [key for key in HARDENING if key not in keys]
    assert not missing, f"hardening keys missing: {missing}"
    assert keys["NoNewPrivileges"] == "yes" and keys["CapabilityBoundingSet"] == ""
    assert "--config /etc/ocfaj/config.toml" in keys["ExecStart"]
