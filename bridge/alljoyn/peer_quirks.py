"""Ways a producer may depart from what the gateway's own producers do, for simulated peers.

Layer: ``bridge.alljoyn``, pure data. The gateway's virtual producers never set any of these;
the AllJoyn simulator (``bridge.sim.alljoyn``) does, so that tests can show the consumer
copes with producers written by others: one that wants a language named in ``GetAboutData``,
one whose ``Announce`` has a wrong signature, one whose properties never signal a change (declared
so, or declared to signal and still silent).
"""

from __future__ import annotations

from dataclasses import dataclass

ANNOUNCE_SIGNATURE = "qqa(oas)a{sv}"
#: the wrong Announce signatures a simulated peer can send (each carries the same values).
WRONG_ANNOUNCE_SIGNATURES = ("qua(oas)a{sv}", "uqa(oas)a{sv}", "qqa(oas)")


@dataclass(frozen=True)
class ProducerQuirks:
    """What a producer does differently from the definitions (all off by default)."""

    refuse_empty_language: bool = False
    """``GetAboutData("")`` is answered ``org.alljoyn.Error.LanguageNotSupported`` instead of
    the default language's data."""

    announce_signature: str = ANNOUNCE_SIGNATURE
    """The signature ``Announce`` is sent with (one of :data:`WRONG_ANNOUNCE_SIGNATURES`)."""

    silent: frozenset[str] = frozenset()
    """Capability keys whose properties are annotated ``EmitsChangedSignal="false"`` and
    change without ``PropertiesChanged``."""

    mute: frozenset[str] = frozenset()
    """Capability keys whose properties are annotated ``EmitsChangedSignal="true"`` (as usual)
    and still change without ``PropertiesChanged``: a producer that breaks its own
    introspection."""

    def check(self) -> None:
        both = sorted(self.silent & self.mute)
        if both:
            raise ValueError(f"a capability is either silent or mute, not both: {', '.join(both)}")
        if self.announce_signature not in (ANNOUNCE_SIGNATURE, *WRONG_ANNOUNCE_SIGNATURES):
            raise ValueError(f"announce signature must be one of {ANNOUNCE_SIGNATURE}, "
                             f"{', '.join(WRONG_ANNOUNCE_SIGNATURES)}; got "
                             f"{self.announce_signature!r}")

    def announce_body(self, values: list[object]) -> list[object]:
        """The Announce arguments for :attr:`announce_signature` from the right four."""
        return values[:3] if self.announce_signature == "qqa(oas)" else values
