"""The ``ocfaj`` command line: argument parsing and dispatch to subcommands.

Layer: ``bridge.daemon`` (entry point). It parses arguments, sets up logging, loads the
configuration and calls one command's handler; user errors (``ConfigError``, ``ModelError``,
any other ``BridgeError`` such as an unreachable bus or a bad scenario file) become one clean
line on standard error and exit status 2, never a traceback. It must not
import a protocol library: commands that need one import it inside their handler, so that
``ocfaj --help`` and ``ocfaj check-config`` work on a machine without the optional extras.

Adding a command: write ``bridge/daemon/<name>_command.py`` with

    def add_parser(subparsers: Subparsers) -> None:
        parser = subparsers.add_parser("run", help="run the gateway")
        add_config_options(parser, bus_key="alljoyn.bus")
        parser.set_defaults(handler=_run)

    def _run(args: argparse.Namespace) -> int:
        config = config_from_args(args)
        ...

and add its module name to :data:`COMMAND_MODULES`. Nothing is discovered by scanning folders.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from bridge import __version__
from bridge.core.errors import BridgeError, ConfigError
from bridge.daemon.config import (
    DEFAULT_CONFIG_PATH,
    Config,
    load_config,
)
from bridge.daemon.config_reference import config_reference_markdown
from bridge.daemon.logging_setup import setup_logging
from bridge.model import ModelError

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

log = logging.getLogger("ocfaj.cli")

#: Modules that each add one subcommand, in the order ``ocfaj --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "bridge.daemon.run_command",
    "bridge.daemon.demo_command",
    "bridge.daemon.devices_command",
    "bridge.daemon.simulate_command",
    "bridge.daemon.onboard_command",
    "bridge.daemon.web_password_command",
)

Handler = Callable[[argparse.Namespace], int]
LOG_LEVELS = ("debug", "info", "warning", "error")


class CommandModule(Protocol):
    """What a module named in :data:`COMMAND_MODULES` provides."""

    def add_parser(self, subparsers: Subparsers) -> None:
        """Add one sub-parser and ``set_defaults(handler=...)`` on it; the handler returns the
        exit status."""


def main(argv: list[str] | None = None) -> int:
    """Run ``ocfaj`` with ``argv`` (default: the process arguments); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level or "info")
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        _check_scenario(args)
        return handler(args)
    except ConfigError as err:
        print(f"ocfaj: {describe_config_error(err)}", file=sys.stderr)
    except ModelError as err:
        print(f"ocfaj: model error: {err}", file=sys.stderr)
    except BridgeError as err:
        print(f"ocfaj: {err}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return 2


def _check_scenario(args: argparse.Namespace) -> None:
    """A ``--scenario`` (``demo``, ``simulate``) is read and checked before the command starts
    anything, so a bad one is one line of error and nothing else."""
    scenario: Path | None = getattr(args, "scenario", None)
    if isinstance(scenario, Path):
        from bridge.model import load_catalogue
        from bridge.sim.scenario import load_scenario

        load_scenario(scenario, load_catalogue())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ocfaj", description="Gateway between OCF devices, AllJoyn devices and MQTT.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", choices=LOG_LEVELS, type=str.lower,
                        help="log level (overrides gateway.log_level)")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in (_add_check_config, _add_models, _add_config_reference):
        add(subparsers)
    for name in COMMAND_MODULES:
        cast(CommandModule, importlib.import_module(name)).add_parser(subparsers)
    return parser


# --- helpers for command modules ---------------------------------------------------------------

def add_config_options(parser: argparse.ArgumentParser, *, bus_key: str | None = None) -> None:
    """``--config FILE`` and repeatable ``--set SECTION.KEY=VALUE``; with ``bus_key``, also
    ``--bus`` as a shorthand for ``--set <bus_key>=...``. Read them with
    :func:`config_from_args`."""
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help=f"configuration file (default: $OCFAJ_CONFIG, else "
                             f"{DEFAULT_CONFIG_PATH} if it exists)")
    _add_set_option(parser)
    # SUPPRESS keeps a sub-parser from resetting a --log-level given before the command.
    parser.add_argument("--log-level", choices=LOG_LEVELS, type=str.lower,
                        default=argparse.SUPPRESS, help="log level (sets gateway.log_level)")
    if bus_key is not None:
        add_config_flag(parser, "--bus", bus_key,
                        "D-Bus bus: system, session or an address such as unix:path=...",
                        metavar="BUS")


def add_config_flag(parser: argparse.ArgumentParser, flag: str, key: str, text: str, *,
                    metavar: str) -> None:
    """A specific flag that sets the configuration key ``key`` (winning over ``--set``);
    ``metavar`` says what the value is (``DIR``, ``NAME``) in the help."""
    dest = flag.lstrip("-").replace("-", "_")
    parser.add_argument(flag, dest=dest, metavar=metavar, help=f"{text} (sets {key})")
    keys = dict(parser.get_default("config_flags") or {})
    keys[dest] = key
    parser.set_defaults(config_flags=keys)


def config_from_args(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> Config:
    """The configuration the options of :func:`add_config_options` select, with ``--log-level``
    applied; logging is set up again from it."""
    config = load_config(_config_path(args, env), env, _overrides(args))
    setup_logging(config.gateway.log_level, timestamps=config.gateway.log_timestamps)
    return config


def client_config(args: argparse.Namespace,
                  env: Mapping[str, str] = os.environ) -> tuple[Config, bool]:
    """The configuration of a command that only talks to a running gateway (``ocfaj devices``),
    and whether it names the gateway.

    Such a command runs as any user, who may not read the service's files: the secrets file is
    never read, and a configuration file found through ``OCFAJ_CONFIG`` or the default path
    that this user cannot read is left out (defaults, ``OCFAJ_*`` variables and ``--set``
    still apply). A file given with ``--config`` must be readable. The gateway is named when a
    file was read or ``gateway.name`` was set by a variable or a flag; otherwise the caller
    looks for the only gateway on the bus.
    """
    path = _config_path(args, env)
    if path is not None and getattr(args, "config", None) is None and path.exists() \
            and not os.access(path, os.R_OK):
        log.debug("config: %s is not readable by this user: using defaults, OCFAJ_* variables "
                  "and --set", path)
        path = None
    overrides = _overrides(args)
    config = load_config(path, env, overrides, secrets=False)
    setup_logging(config.gateway.log_level, timestamps=config.gateway.log_timestamps)
    named = (path is not None or "OCFAJ_GATEWAY_NAME" in env
             or any(item.partition("=")[0].strip() == "gateway.name" for item in overrides))
    return config, named


def describe_config_error(err: ConfigError, file: str | None = None) -> str:
    """``source: key: problem``; with ``file``: ``file: key: problem (from source)``, the
    source named only when it is not ``file`` (an environment variable, the command line)."""
    if file is None:
        return ": ".join(part for part in (err.source, err.key, err.problem) if part)
    text = ": ".join(part for part in (file, err.key, err.problem) if part)
    return text if err.source in ("", file) else f"{text} (from {err.source})"


def _add_set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE",
                        help="override one configuration key (repeatable; wins over the file "
                             "and OCFAJ_* variables)")


def _config_path(args: argparse.Namespace, env: Mapping[str, str]) -> Path | None:
    chosen: Path | None = getattr(args, "config", None)
    if chosen is not None:
        return chosen
    if env.get("OCFAJ_CONFIG"):
        return Path(env["OCFAJ_CONFIG"])
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def _overrides(args: argparse.Namespace) -> list[str]:
    overrides = list(getattr(args, "overrides", []))
    flags: dict[str, str] = getattr(args, "config_flags", None) or {}
    for dest, key in flags.items():
        value = getattr(args, dest, None)
        if value is not None:
            overrides.append(f"{key}={value}")
    if getattr(args, "log_level", None):
        overrides.append(f"gateway.log_level={args.log_level}")
    return overrides


# --- built-in commands -------------------------------------------------------------------------

def _add_check_config(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "check-config", help="check a configuration file and summarise it",
        description="Check FILE (with OCFAJ_* variables and --set applied) without starting "
                    "anything: every value, and what the values name on this machine (the "
                    "models directory, the OCF network interfaces, the MQTT certificate "
                    "files). Exit status 0 when valid, 2 otherwise.")
    parser.add_argument("file", type=Path, metavar="FILE",
                        help="the configuration file to check (TOML, see "
                             "docs/configuration.md)")
    _add_set_option(parser)
    parser.set_defaults(handler=_check_config)


def _check_config(args: argparse.Namespace) -> int:
    from bridge.daemon.config_checks import check_machine

    file = str(args.file)
    try:
        config = load_config(args.file, os.environ, _overrides(args))
        check_machine(config)
    except ConfigError as err:
        print(describe_config_error(err, file), file=sys.stderr)
        return 2
    print(f"{file}: OK")
    for line in config_summary(config):
        print(f"  {line}")
    return 0


def config_summary(config: Config) -> list[str]:
    """One line per part of the gateway: what runs and where. Never shows secrets."""
    gw, ocf, aj, mqtt, br = config.gateway, config.ocf, config.alljoyn, config.mqtt, config.bridge
    lines = [f"gateway  {gw.name}: state in {gw.state_dir}, log level {gw.log_level}"]
    if ocf.enabled:
        families = " + ".join(f for f, on in (("IPv4", ocf.ipv4), ("IPv6", ocf.ipv6)) if on)
        where = ", ".join(ocf.interfaces) or "all interfaces"
        lines.append(f"ocf      enabled: {families} on {where}, "
                     f"{len(ocf.unicast_peers)} unicast peer(s), server port {ocf.server_port}")
    else:
        lines.append("ocf      disabled")
    lines.append(f"alljoyn  enabled on bus {aj.bus}" if aj.enabled else "alljoyn  disabled")
    if mqtt.enabled:
        extras = [f"MQTT {mqtt.protocol}", "TLS" if mqtt.tls else "no TLS"]
        if mqtt.username:
            extras.append(f"user {mqtt.username}")
        if mqtt.ha_discovery:
            extras.append(f"Home Assistant discovery under {mqtt.ha_prefix}/")
        lines.append(f"mqtt     enabled: {mqtt.host}:{mqtt.port}, topics under "
                     f"{mqtt.base_topic}/, " + ", ".join(extras))
    else:
        lines.append("mqtt     disabled")
    directions = [name for name, on in (("OCF -> AllJoyn", br.ocf_to_alljoyn),
                                        ("AllJoyn -> OCF", br.alljoyn_to_ocf),
                                        ("MQTT mirror", br.mqtt_mirror and mqtt.enabled)) if on]
    lines.append("bridge   " + (", ".join(directions) or "nothing crosses"))
    lines.append(f"policy   default {config.policy.default}, {len(config.policy.rules)} rule(s)")
    return lines


def _add_models(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "models", help="list the capability and device models and their mappings",
        description="Print the capability models and the device type models the gateway "
                    "uses (gateway.models_dir, else the built-in ones).")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", dest="form", action="store_const", const="json",
                      help="the catalogue as JSON")
    form.add_argument("--markdown", dest="form", action="store_const", const="markdown",
                      help="the OCF <-> AllJoyn <-> MQTT mapping tables as Markdown")
    add_config_options(parser)
    add_config_flag(parser, "--models-dir", "gateway.models_dir", "directory of model files",
                    metavar="DIR")
    parser.set_defaults(handler=_models, form="table")


def _models(args: argparse.Namespace) -> int:
    from bridge.model import load_catalogue, render

    catalogue = load_catalogue(config_from_args(args).gateway.models_dir)
    if args.form == "json":
        text = json.dumps(render.catalogue_to_json(catalogue), indent=2, ensure_ascii=False)
    elif args.form == "markdown":
        text = render.mapping_markdown(catalogue)
    else:
        text = render.catalogue_table(catalogue)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _add_config_reference(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "config-reference", help="print the configuration reference (Markdown)",
        description="Print docs/configuration.md, generated from the configuration classes.")
    parser.set_defaults(handler=_config_reference)


def _config_reference(args: argparse.Namespace) -> int:
    sys.stdout.write(config_reference_markdown())
    return 0

