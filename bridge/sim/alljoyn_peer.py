"""How a simulated AllJoyn device departs from the definitions: keyword settings and flags.

Layer: ``bridge.sim``. A :class:`PeerBehaviour` is what ``ocfaj simulate alljoyn`` flags, the
``alljoyn_device(..., behaviour={...})`` fixture keyword and
:class:`~bridge.sim.alljoyn.AllJoynSimServer` share; it turns into the producer's
:class:`~bridge.alljoyn.peer_quirks.ProducerQuirks` plus the About languages. Defaults are a
producer that follows the definitions (About in ``en``, a correct Announce, signalling
properties). docs/testing-with-simulated-devices.md lists every setting.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from bridge.alljoyn.about import DEFAULT_LANGUAGE
from bridge.alljoyn.languages import well_formed
from bridge.alljoyn.peer_quirks import ANNOUNCE_SIGNATURE, ProducerQuirks


@dataclass(frozen=True)
class PeerBehaviour:
    """The settings (see the module docstring); ``check()`` raises ``ValueError``."""

    languages: tuple[str, ...] = (DEFAULT_LANGUAGE,)
    """About languages, the first one the DefaultLanguage (``--language``, repeatable)."""
    refuse_empty_language: bool = False
    """Answer ``GetAboutData("")`` with LanguageNotSupported (``--refuse-empty-language``)."""
    announce_signature: str = ANNOUNCE_SIGNATURE
    """Send ``Announce`` with this (wrong) signature (``--announce-signature``)."""
    silent: tuple[str, ...] = ()
    """Capabilities whose properties do not signal changes (``--silent``, repeatable)."""
    mute: tuple[str, ...] = ()
    """Capabilities whose properties are declared to signal but do not (``--mute``)."""

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> PeerBehaviour:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown AllJoyn peer behaviour(s) {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
        settings = dict(values)
        for key in ("languages", "silent", "mute"):
            if key in settings:
                if isinstance(settings[key], str) or not isinstance(settings[key], Sequence):
                    raise ValueError(f"{key} must be a list of strings, got {settings[key]!r}")
                settings[key] = tuple(settings[key])
        behaviour = cls(**settings)
        behaviour.check()
        return behaviour

    def check(self) -> None:
        if not self.languages:
            raise ValueError("languages must name at least one language")
        for tag in self.languages:
            if not isinstance(tag, str) or not well_formed(tag):
                raise ValueError(f"{tag!r} is not a language tag (RFC 5646, e.g. en, de-CH)")
        if not isinstance(self.refuse_empty_language, bool):
            raise ValueError("refuse_empty_language must be true or false")
        self.quirks().check()

    def quirks(self) -> ProducerQuirks:
        return ProducerQuirks(refuse_empty_language=self.refuse_empty_language,
                              announce_signature=self.announce_signature,
                              silent=frozenset(self.silent), mute=frozenset(self.mute))

    def arguments(self) -> list[str]:
        """The ``ocfaj simulate alljoyn`` flags that give this behaviour."""
        args: list[str] = []
        if self.languages != PeerBehaviour().languages:
            for tag in self.languages:
                args += ["--language", tag]
        if self.refuse_empty_language:
            args.append("--refuse-empty-language")
        if self.announce_signature != ANNOUNCE_SIGNATURE:
            args += ["--announce-signature", self.announce_signature]
        for cap in self.silent:
            args += ["--silent", cap]
        for cap in self.mute:
            args += ["--mute", cap]
        return args


def add_peer_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "peer behaviour", "behave like AllJoyn producers written elsewhere, where they differ "
                          "from the definitions or from the gateway's own producers")
    group.add_argument("--language", action="append", default=[], metavar="TAG",
                       help="an About language (repeatable; the first is DefaultLanguage; "
                            "default: en)")
    group.add_argument("--refuse-empty-language", action="store_true",
                       help='answer GetAboutData("") with org.alljoyn.Error.LanguageNotSupported')
    group.add_argument("--announce-signature", default=ANNOUNCE_SIGNATURE, metavar="SIG",
                       help="send Announce with this wrong signature: qua(oas)a{sv}, "
                            "uqa(oas)a{sv} or qqa(oas)")
    group.add_argument("--silent", action="append", default=[], metavar="CAPABILITY",
                       help='annotate the properties of this capability EmitsChangedSignal='
                            '"false" and never signal their changes (repeatable)')
    group.add_argument("--mute", action="append", default=[], metavar="CAPABILITY",
                       help="never signal the changes of this capability's properties, although "
                            'they are annotated EmitsChangedSignal="true" (repeatable)')


def behaviour_from_args(args: argparse.Namespace) -> PeerBehaviour:
    """The behaviour the command line asked for; ``ValueError`` names a bad value."""
    behaviour = PeerBehaviour(
        languages=tuple(args.language) or PeerBehaviour().languages,
        refuse_empty_language=args.refuse_empty_language,
        announce_signature=args.announce_signature, silent=tuple(args.silent),
        mute=tuple(args.mute))
    behaviour.check()
    return behaviour
