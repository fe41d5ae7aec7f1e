"""Handles on simulated devices that run in simulator processes, for tests to drive and watch.

Layer: ``bridge.sim.testing`` (test kit). A :class:`SimulatedDevice` wraps one
:class:`~bridge.sim.processes.SimProcess` serving one device and speaks its JSON-lines control
(``bridge.sim.control``): change state as the device itself would (``set``), await what clients
wrote (``wait_received`` / ``received``; ``writes`` lists all of it), leave without goodbye and
come back, and switch fault injection on and off. The blocking methods wait on the simulator's
stdout; in async tests use the ``async`` ones (or ``asyncio.to_thread``) when the code under
test runs in the same loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bridge.sim.processes import Event, SimProcess
from bridge.sim.testing import toml_text
from bridge.sim.testing.netns import Host


class SimulatedDevice:
    """One simulated device in a process of its own. Built by the ``ocf_device`` and
    ``alljoyn_device`` fixtures; stopped at teardown."""

    def __init__(self, process: SimProcess, name: str, side: str) -> None:
        self.process = process
        self.name = name
        self.side = side
        """``ocf`` or ``alljoyn``."""
        self.facts: Event = {}
        """The latest ``ready`` event: ids (``di``, ``piid`` / ``app_id``, ``device_id``) and,
        for OCF, ``port`` and ``hrefs`` (capability -> resource path)."""
        self._taken: set[int] = set()

    def start(self, state: Mapping[str, Mapping[str, Any]], within: float = 30.0) -> None:
        """Start the process, wait for ``ready``, then apply ``state`` (capability -> values)."""
        self.facts = self.process.start(ready=1, within=within)[0]
        for capability, values in state.items():
            self.process.set(self.name, capability, values)
        self._sync()

    def set(self, capability: str, values: Mapping[str, Any]) -> None:
        """Change state from outside, as a sensor reading or a button press would: observers
        (the gateway, your client) get notified. Returns once the simulator applied it."""
        self.process.set(self.name, capability, values)
        self._sync()

    def wait_received(self, capability: str, within: float = 10.0) -> dict[str, Any]:
        """The values of the next write a client made to ``capability`` (blocking).

        Writes are taken in the order they arrived, each once, including those that arrived
        before this call.
        """
        deadline = time.monotonic() + within
        while True:
            # The reader thread only appends to process.events, so indices stay valid.
            for index, event in enumerate(list(self.process.events)):
                if (index not in self._taken and event.get("event") == "received"
                        and event.get("device") == self.name
                        and event.get("capability") == capability):
                    self._taken.add(index)
                    return dict(event["values"])
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.name} received no write to {capability} within "
                                   f"{within} s; writes so far: {self.process.received()}")
            running = self.process.process
            if running is not None and running.poll() is not None:
                raise RuntimeError(f"simulator of {self.name} exited with {running.returncode}")
            time.sleep(0.01)

    async def received(self, capability: str, within: float = 10.0) -> dict[str, Any]:
        """``wait_received`` for async tests: the event loop keeps running meanwhile."""
        return await asyncio.to_thread(self.wait_received, capability, within)

    def writes(self, capability: str = "") -> list[dict[str, Any]]:
        """The values of every write clients made so far (to ``capability``, or to any), in
        arrival order, whether or not a wait took them: to assert that nothing else arrived."""
        return [dict(event["values"]) for event in self.process.received(self.name)
                if not capability or event.get("capability") == capability]

    def leave(self, within: float = 10.0) -> None:
        """Vanish at once without any goodbye (no deregistration, no final signal)."""
        self._command({"cmd": "leave", "device": self.name}, "left", within)

    def come_back(self, within: float = 10.0) -> Event:
        """Serve again after :meth:`leave`; returns (and keeps) the new ``ready`` facts."""
        self.facts = self._command({"cmd": "return", "device": self.name}, "ready", within)
        return self.facts

    def faults(self, *, drop: float = 0.0, delay: float = 0.0, error: float = 0.0,
               error_code: int = 503, malformed: float = 0.0,
               seed: int | None = None, paths: Sequence[str] = (),
               observe_answer: str = "observe") -> Event:
        """Replace the device's fault injection (all zero: off); returns what is in force.
        ``paths`` (OCF) names the hrefs to fault, ``/oic/res``, ``/oic/d``, ``/oic/p``
        included; empty: every resource but those three. ``observe_answer`` (OCF):
        ``plain`` or ``error`` for how a request to observe them is answered."""
        command: dict[str, Any] = {"cmd": "faults", "device": self.name, "drop": drop,
                                   "delay": delay, "error": error, "error_code": error_code,
                                   "malformed": malformed, "paths": list(paths),
                                   "observe_answer": observe_answer}
        if seed is not None:
            command["seed"] = seed
        return self._command(command, "faults", 10.0)

    def reset(self) -> Event:
        """A secured OCF device's user resets it: unowned again with a new uuid and PIN, its
        DTLS sessions closed; returns ``pin``, ``deviceuuid`` (kept in ``facts`` too)."""
        event = self._command({"cmd": "reset", "device": self.name}, "reset", 10.0)
        self.facts = {**self.facts, **{k: event[k] for k in ("pin", "deviceuuid", "di")}}
        return event

    def stats(self) -> Event:
        """What the simulated stack counted so far (OCF: block-wise transfers, multicast
        requests dropped...; see ``bridge.sim.ocf_stack``)."""
        return self._command({"cmd": "stats", "device": self.name}, "stats", 10.0)

    def stop(self) -> int | None:
        return self.process.stop()

    def _sync(self) -> None:
        # Commands run in order, so once "pong" arrives every earlier command was applied.
        self._command({"cmd": "ping"}, "pong", 10.0, own=False)

    def _command(self, command: Mapping[str, Any], event: str, within: float,
                 own: bool = True) -> Event:
        self.process.send(command)
        answer = self.process.wait_event(
            lambda e: e.get("event") in (event, "error")
            and (not own or e.get("device") == self.name or e.get("event") == "error"), within)
        if answer.get("event") == "error":
            raise RuntimeError(f"simulator of {self.name} refused {dict(command)}: "
                               f"{answer.get('message')}")
        return answer


class OcfSimulatedDevice(SimulatedDevice):
    """A simulated OCF device; ``endpoint`` is where a CoAP client reaches it."""

    def __init__(self, process: SimProcess, name: str, address: str, *,
                 host: Host | None = None) -> None:
        super().__init__(process, name, "ocf")
        self.address = address
        """The device host's address (IPv4) on the OCF network."""
        self.host = host
        """The ``ocf_network`` host it runs in, e.g. to take its link down with ``host.run``."""

    @property
    def endpoint(self) -> str:
        """``coap://address:port`` of the device's own CoAP server."""
        return f"coap://{self.address}:{self.facts['port']}"

    def href(self, capability: str) -> str:
        """The resource path (``/switch``...) that serves ``capability``."""
        return str(self.facts["hrefs"][capability])

    def uri(self, capability: str) -> str:
        """Full URI of ``capability``'s resource, for ``aiocoap.Message(uri=...)``."""
        return self.endpoint + self.href(capability)


def one_device_scenario(path: Path, name: str, side: str, model: str = "",
                        capabilities: tuple[str, ...] = (),
                        state: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Write a scenario file that holds one device, for ``ocfaj simulate --scenario``."""
    device: dict[str, Any] = {"name": name, "side": side}
    if model:
        device["model"] = model
    if capabilities:
        device["capabilities"] = list(capabilities)
    lines = ["[[device]]", *(f"{toml_text.key(k)} = {toml_text.value(v)}"
                             for k, v in device.items())]
    lines += [f"state.{toml_text.key(cap)} = {toml_text.value(dict(values))}"
              for cap, values in (state or {}).items()]
    path.write_text("\n".join(lines) + "\n")
    return path
