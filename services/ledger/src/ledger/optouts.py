"""Opt-out and opt-in keywords in inbound messages (STOP, BAJA, ARRÊT, START, …).

A business must honour opt-outs itself; Meta only reports 131050 for marketing. A whole
message equal to a keyword (case, accents' case and punctuation aside) counts.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

OPT_OUT = (
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPTOUT",
    "OPT OUT",
    "ARRÊT",
    "ARRET",
    "BAJA",
    "ALTO",
    "PARAR",
    "SAIR",
    "ABMELDEN",
    "DÉSABONNER",
)
OPT_IN = ("START", "UNSTOP", "SUBSCRIBE", "OPTIN", "OPT IN", "ALTA", "INICIO", "ANMELDEN")
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """Compatibility-composed (NFKC: full-width letters are plain ones, a letter and its
    combining accent are one letter), punctuation and spacing folded, case folded."""
    return _NOISE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


@dataclass(frozen=True)
class Keywords:
    opt_out: frozenset[str] = field(default_factory=lambda: frozenset(map(normalise, OPT_OUT)))
    opt_in: frozenset[str] = field(default_factory=lambda: frozenset(map(normalise, OPT_IN)))

    @classmethod
    def from_lists(cls, opt_out: str, opt_in: str) -> Keywords:
        """Comma-separated lists, as settings carry them."""

        def parse(spec: str) -> frozenset[str]:
            return frozenset(normalise(k) for k in spec.split(",") if k.strip())

        return cls(parse(opt_out), parse(opt_in))

    def classify(self, text: str | None) -> str | None:
        """``"opt_out"``, ``"opt_in"`` or None."""
        if not text:
            return None
        word = normalise(text)
        if word in self.opt_out:
            return "opt_out"
        if word in self.opt_in:
            return "opt_in"
        return None


DEFAULT_KEYWORDS = Keywords()
