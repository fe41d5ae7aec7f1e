"""``ocfaj run``: the gateway as a long-running service.

Layer: ``bridge.daemon``. Loads the configuration, starts :class:`Gateway`, and on SIGTERM or
SIGINT shuts it down cleanly (virtual devices withdrawn, MQTT ``offline`` published, state
saved) and exits 0. A part that cannot start does not stop the gateway: the supervisor keeps
retrying it and the log says why.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
from typing import TYPE_CHECKING

from bridge.daemon.cli import add_config_flag, add_config_options, config_from_args
from bridge.daemon.config import Config
from bridge.daemon.config_checks import check_machine
from bridge.daemon.event_loop import describe as describe_loop
from bridge.daemon.event_loop import run as run_on_gateway_loop
from bridge.daemon.loop_errors import LoopErrorReporter

if TYPE_CHECKING:
    from bridge.daemon.cli import Subparsers

log = logging.getLogger("ocfaj")

#: Allocations (net of frees) between two collections of the cyclic garbage collector's
#: youngest generation in ``ocfaj run``; Python's default is 700
#: (docs/design.md, "The daemon's garbage collector").
GC_YOUNG_THRESHOLD = 10_000


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="run the gateway",
        description="Run the gateway until SIGTERM or SIGINT.")
    add_config_options(parser, bus_key="alljoyn.bus")
    add_config_flag(parser, "--state-dir", "gateway.state_dir", "state directory",
                    metavar="DIR")
    parser.set_defaults(handler=_run)


def tune_gc() -> None:
    """Collect the young generation every :data:`GC_YOUNG_THRESHOLD` allocations instead of
    every 700. The older generations keep their thresholds, counted in young collections, so
    every collection comes about fourteen times less often: a gateway bringing up a thousand
    devices a side grows its heap by some 400,000 objects that stay, and each full
    collection (one per quarter the heap grew) scanned all of them again (28 % of its CPU at
    1,000 + 1,000). Garbage held by reference cycles waits longer: at most that many young
    objects."""
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _run(args: argparse.Namespace) -> int:
    tune_gc()
    config = config_from_args(args)
    # What check-config checks on this machine, run checks too: a missing models directory,
    # interface or certificate file stops it with the key and value, not with retries.
    check_machine(config)
    return run_on_gateway_loop(run_until_signalled(config), config.gateway.event_loop)


async def run_until_signalled(config: Config, stop: asyncio.Event | None = None) -> int:
    """Run a gateway until SIGTERM/SIGINT (or ``stop``); returns the exit status."""
    from bridge.daemon.gateway import Gateway

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    log.info("event loop: %s", describe_loop(loop))
    from bridge.ocf.lean_compiled import describe as describe_compiled
    log.info("compiled GET path: %s",
             describe_compiled(config.ocf.lean_get and config.ocf.lean_compiled))
    previous_handler = loop.get_exception_handler()
    # Errors raised in library callbacks by what peers send must not flood the log.
    loop.set_exception_handler(LoopErrorReporter())
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    gateway = Gateway(config)
    try:
        try:
            await gateway.start()
        except OSError as err:
            log.error("cannot start the gateway: %s", err)
            return 1
        settle_heap()
        await stop.wait()
        log.info("stopping on request")
    finally:
        await gateway.shutdown()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        loop.set_exception_handler(previous_handler)
    return 0


def settle_heap() -> None:
    """Collect once, then move every object alive now (modules, models, the started
    gateway's devices and endpoints) to the permanent generation (``gc.freeze``): the
    collector's full passes no longer walk them while the gateway serves (docs/design.md,
    "The lean GET path"). What is made later is collected as before."""
    gc.collect()
    gc.freeze()
