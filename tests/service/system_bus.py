"""A system-type dbus-daemon with exactly the shipped policy files, and the Unix accounts the
policy names, for tests that check who may do what on the system bus.

The bus configuration is the distribution's restrictive system bus default (no names, no
method calls except to the bus itself) plus ``includedir`` of ``packaging/dbus``: what a real
system has after docs/install.md step 4. The accounts are the service user ``ocfaj`` (with its
group ``ocfaj``), an ordinary user in that group and an ordinary user outside it. They are
created with useradd when missing (the tests run as root) and removed again at the end of the
session when this module created them; dbus-daemon resolves the user and group names of the
policy when it starts, so the accounts exist before any bus does.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.sim.testing.procs import stop_process, unix_socket_accepts, wait_for

PACKAGING = Path(__file__).resolve().parents[2] / "packaging" / "dbus"

SYSTEM_LIKE = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
  </policy>
  <includedir>{packaging}</includedir>
</busconfig>
"""

SERVICE_USER = "ocfaj"
MEMBER = "ocfaj-member"
OUTSIDER = "ocfaj-outsider"
NOLOGIN = "/usr/sbin/nologin"


@dataclass(frozen=True)
class Account:
    """A Unix account a test runs processes as."""

    name: str
    uid: int
    gid: int
    #: supplementary groups the process gets (the account's groups in /etc/group).
    groups: tuple[int, ...]

    def popen_options(self) -> dict[str, Any]:
        """Keyword arguments of ``subprocess.Popen``/``run`` that run the child as this user."""
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}


@dataclass(frozen=True)
class Accounts:
    service: Account
    member: Account
    outsider: Account


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True)


def _account(name: str) -> Account:
    entry = pwd.getpwnam(name)
    groups = tuple(g.gr_gid for g in grp.getgrall() if name in g.gr_mem)
    return Account(name, entry.pw_uid, entry.pw_gid, groups)


def _exists(lookup: Callable[[str], object], name: str) -> bool:
    try:
        lookup(name)
    except KeyError:
        return False
    return True


@contextlib.contextmanager
def unix_accounts() -> Iterator[Accounts]:
    """The three accounts; what did not exist before is removed afterwards."""
    created_users: list[str] = []
    created_group = False
    try:
        if not _exists(grp.getgrnam, SERVICE_USER):
            _run("groupadd", "--system", SERVICE_USER)
            created_group = True
        if not _exists(pwd.getpwnam, SERVICE_USER):
            _run("useradd", "--system", "--gid", SERVICE_USER, "--no-create-home",
                 "--home-dir", "/nonexistent", "--shell", NOLOGIN, SERVICE_USER)
            created_users.append(SERVICE_USER)
        for name, groups in ((MEMBER, [SERVICE_USER]), (OUTSIDER, [])):
            if not _exists(pwd.getpwnam, name):
                _run("useradd", "--no-create-home", "--shell", NOLOGIN,
                     *(["--groups", ",".join(groups)] if groups else []), name)
                created_users.append(name)
            elif groups:
                _run("usermod", "--append", "--groups", ",".join(groups), name)
        outsider = _account(OUTSIDER)
        assert grp.getgrnam(SERVICE_USER).gr_gid not in (outsider.gid, *outsider.groups), \
            f"{OUTSIDER} must not be in the group {SERVICE_USER}"
        yield Accounts(_account(SERVICE_USER), _account(MEMBER), outsider)
    finally:
        for name in reversed(created_users):
            subprocess.run(["userdel", name], check=False, capture_output=True)
        if created_group:
            subprocess.run(["groupdel", SERVICE_USER], check=False, capture_output=True)


@contextlib.contextmanager
def shared_directory() -> Iterator[Path]:
    """A directory every account can enter (pytest's own are root's only)."""
    path = Path(tempfile.mkdtemp(prefix="ocfaj-sysbus-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def system_like_bus(directory: Path) -> Iterator[str]:
    """A system-type dbus-daemon with the shipped files; yields its address."""
    socket = directory / "system_bus"
    config = directory / "system.conf"
    config.write_text(SYSTEM_LIKE.format(socket=socket, packaging=PACKAGING))
    daemon = shutil.which("dbus-daemon")
    assert daemon is not None
    log_path = directory / "dbus.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([daemon, "--nofork", "--nopidfile", f"--config-file={config}"],
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: proc.poll() is not None or unix_socket_accepts(socket), 10)
            assert proc.poll() is None, log_path.read_text()
            yield f"unix:path={socket}"
        finally:
            stop_process(proc)


def _reachable_by_others(path: Path) -> bool:
    """Every directory on the way is searchable and the file executable by any user."""
    for part in (*reversed(path.parents), path):
        if not part.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def python_for_others() -> tuple[str, dict[str, str]]:
    """An interpreter other users can run with this project importable, and the environment
    it needs: the test's own when every user may run it, else the system's Python of the same
    version with this environment's packages on ``PYTHONPATH`` (a Python installed under
    /root, as by pyenv, is out of other users' reach)."""
    own = Path(sys.executable)
    if _reachable_by_others(own.resolve()):
        return sys.executable, {}
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(version, path="/usr/local/bin:/usr/bin")
    assert system is not None and _reachable_by_others(Path(system).resolve()), (
        f"{own.resolve()} cannot be run by other users and there is no system {version}: "
        "these tests run processes as ordinary users")
    paths = dict.fromkeys([str(PACKAGING.parents[1]), sysconfig.get_paths()["purelib"],
                           sysconfig.get_paths()["platlib"]])
    return system, {"PYTHONPATH": os.pathsep.join(paths)}


def as_user(account: Account, args: list[str], env: dict[str, str]) -> tuple[list[str],
                                                                             dict[str, str]]:
    """``args`` and ``env`` of a Python command of this project, runnable by ``account``."""
    python, extra = python_for_others()
    if args and args[0] == sys.executable:
        args = [python, *args[1:]]
    return args, {**env, **extra}


def popen_as(account: Account) -> Callable[..., subprocess.Popen[Any]]:
    """A ``popen`` for GatewayProcess that runs the gateway as ``account``.

    The notify socket the test listens on is made writable for that user first, as systemd's
    is for the service it starts.
    """
    def popen(args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        env = dict(kwargs.pop("env", None) or os.environ)
        notify = env.get("NOTIFY_SOCKET")
        if notify:
            Path(notify).parent.chmod(0o755)
            os.chmod(notify, 0o777)
        args, env = as_user(account, args, env)
        return subprocess.Popen(args, env=env, **kwargs, **account.popen_options())
    return popen
