"""A private dbus-daemon for tests: its own config, socket and log in a temporary directory.

Layer: ``bridge.sim.testing`` (test kit; runs the ``dbus-daemon`` executable).
Nothing here touches the machine's session or system bus, and nothing is set globally
(``DBUS_SESSION_BUS_ADDRESS`` stays as it was): tests hand ``DBusDaemon.address`` to the code
under test explicitly. Limits are raised far above dbus-daemon's defaults because the gateway
opens one bus connection per virtual AllJoyn producer (docs/design.md, "Budget per bridged
device"), and scale tests open thousands.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from bridge.sim.testing.procs import (
    ManagedDaemon,
    read_log,
    unix_socket_accepts,
    wait_for,
)

# Same element set as /usr/share/dbus-1/session.conf, minus servicehelper and includes, plus
# limits sized for 1,000+ connections and large introspection/About payloads.
_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
  <limit name="max_connections_per_user">100000</limit>
  <limit name="max_completed_connections">100000</limit>
  <limit name="max_incomplete_connections">10000</limit>
  <limit name="max_match_rules_per_connection">50000</limit>
  <limit name="max_replies_per_connection">50000</limit>
  <limit name="max_names_per_connection">50000</limit>
  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_message_size">100000000</limit>
  <limit name="max_incoming_unix_fds">250000000</limit>
  <limit name="max_outgoing_unix_fds">250000000</limit>
  <limit name="reply_timeout">60000</limit>
  <limit name="auth_timeout">30000</limit>
</busconfig>
"""

STARTUP_TIMEOUT = 10.0
#: sun_path holds 108 bytes; deep pytest temporary directories exceed that.
MAX_SOCKET_PATH = 100


class DBusDaemon(ManagedDaemon):
    """One private dbus-daemon. Construct, then ``start()``; ``stop()`` is idempotent.

    ``address`` stays the same across ``stop()``/``start()``/``restart()``, so code under test
    that reconnects to the same address finds the new daemon (with no names owned and no
    match rules: everything a client had is lost, as with a real bus restart).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        """Holds ``bus`` (the socket), ``bus.conf`` and ``dbus-daemon.log``."""
        self.socket_path = directory / "bus"
        if len(str(self.socket_path)) > MAX_SOCKET_PATH:
            # The address must stay the same across restarts, so the short directory is
            # chosen once, here.
            self.socket_path = Path(tempfile.mkdtemp(prefix="ocfaj-bus-")) / "bus"
        self.config_path = directory / "bus.conf"
        self.log_path = directory / "dbus-daemon.log"
        super().__init__("dbus-daemon")

    @property
    def address(self) -> str:
        """The D-Bus address clients connect to, ``unix:path=...``."""
        return f"unix:path={self.socket_path}"



    def start(self) -> None:
        """Start the daemon and return once its socket accepts connections."""
        if self.running:
            return
        executable = shutil.which("dbus-daemon")
        if executable is None:
            raise RuntimeError("dbus-daemon not found: install Debian package dbus-daemon")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(_CONFIG.format(socket=self.socket_path))
        # A socket file left by a killed daemon would make the bind fail.
        self.socket_path.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [executable, "--nofork", "--nopidfile", f"--config-file={self.config_path}"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C in the terminal reaches only the program that
                # started it, which stops its bus clients first and the daemon last.
                start_new_session=True,
            )
        proc = self._proc
        try:
            wait_for(
                lambda: proc.poll() is not None or unix_socket_accepts(self.socket_path),
                STARTUP_TIMEOUT,
                message=f"dbus-daemon to listen on {self.socket_path}",
            )
        except TimeoutError:
            self.stop()
            raise
        if proc.poll() is not None:
            raise RuntimeError(
                f"dbus-daemon exited with {proc.returncode} at start:\n{read_log(self.log_path)}"
            )

    def stop(self) -> None:
        """Stop the daemon (SIGTERM, then SIGKILL). Does nothing when it is not running."""
        self._stop_process()
        self.socket_path.unlink(missing_ok=True)
        if self.socket_path.parent != self.directory:
            with contextlib.suppress(OSError):
                self.socket_path.parent.rmdir()

