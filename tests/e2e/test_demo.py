"""Issue 5 point 6: ``ocfaj demo`` runs the gateway between simulated devices of both sides on
one machine and ends with the table of what it bridged (here inside the test run's private
network namespace, so nothing could leave the machine even if it tried)."""

from __future__ import annotations

import subprocess
import sys


def test_demo_bridges_both_origins_and_exits_cleanly() -> None:
    done = subprocess.run([sys.executable, "-m", "bridge", "demo", "--duration", "8", "--plain"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, (done.stdout, done.stderr)
    out = done.stdout
    assert "multicast is not used" in out
    table = [line for line in out.splitlines() if line.startswith(("ORIGIN", "ocf ", "alljoyn "))]
    assert table and table[0].split()[:2] == ["ORIGIN", "NAME"], out
    rows = table[1:]
    ocf = [r for r in rows if r.startswith("ocf ")]
    alljoyn = [r for r in rows if r.startswith("alljoyn ")]
    assert ocf and alljoyn, out
    # Each device crossed to the other side, and all are up.
    assert all(" up " in r and " alljoyn " in r for r in ocf), ocf
    assert all(" up " in r and " ocf " in r for r in alljoyn), alljoyn
    assert "demo: stopping" in out
