"""War-room names: the configured convention rendered, then bent to each platform's rules.

Pure so the rules can be checked exhaustively: whatever an incident's title holds (emoji,
Cyrillic, a thousand characters), the name is valid where it is used, the same incident gets
the same name, and a clash gets a numbered suffix that still fits the platform's limits.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date

FIELDS = frozenset({"yyyymmdd", "sev", "slug", "id", "ref"})
FALLBACK = "incident"


@dataclass(frozen=True)
class Rules:
    """What a platform accepts as a room name."""

    max_length: int
    lowercase: bool
    disallowed: re.Pattern[str] | None
    """characters replaced by a hyphen; None allows anything printable"""

    def valid(self, name: str) -> bool:
        if not name or len(name) > self.max_length or name != name.strip():
            return False
        if self.lowercase and name != name.lower():
            return False
        if self.disallowed is not None and self.disallowed.search(name):
            return False
        return name.isprintable()


SLACK = Rules(max_length=80, lowercase=True, disallowed=re.compile(r"[^a-z0-9_-]"))
WEB = Rules(max_length=200, lowercase=False, disallowed=None)


def matrix(server_name: str) -> Rules:
    """Room alias localparts: the whole alias `#local:server` may hold 255 bytes; the
    characters are kept to the conservative historical user-id grammar so every client and
    homeserver accepts them."""
    room = 255 - len(server_name.encode()) - 2
    return Rules(max_length=max(room, 16), lowercase=True, disallowed=re.compile(r"[^a-z0-9._=-]"))


def template_fields(template: str) -> set[str]:
    """The placeholders a convention uses; raises ValueError on a malformed template."""
    names = set()
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if spec or conversion or not name:
            raise ValueError("placeholders take no format spec or conversion")
        names.add(name)
    unknown = names - FIELDS
    if unknown:
        raise ValueError(f"unknown placeholder {sorted(unknown)[0]!r}; use {sorted(FIELDS)}")
    return names


def slugify(text: str) -> str:
    """Accents folded, everything else that is not a letter or digit becomes one hyphen."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")


def render(template: str, *, declared: date, severity: str, title: str, incident_id: int) -> str:
    template_fields(template)
    return template.format(
        yyyymmdd=declared.strftime("%Y%m%d"),
        sev=slugify(severity) or "sev",
        slug=slugify(title) or FALLBACK,
        id=incident_id,
        ref=f"inc-{incident_id}",
    )


def fit(name: str, rules: Rules) -> str:
    """The nearest name the platform accepts; applying it twice changes nothing."""
    text = "".join(ch if ch.isprintable() else " " for ch in name)
    if rules.lowercase:
        text = text.lower()
    if rules.disallowed is not None:
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        if rules.lowercase:
            text = text.lower()
        text = rules.disallowed.sub("-", text)
        text = re.sub(r"-{2,}", "-", text).strip("-_.")
    text = text[: rules.max_length].strip()
    if rules.disallowed is not None:
        text = text.strip("-_.")
    return text or FALLBACK[: rules.max_length]


def with_suffix(name: str, number: int, rules: Rules) -> str:
    """`name-<number>`, shortening the name so the suffix always fits."""
    suffix = f"-{number}"
    base = fit(name, rules)[: max(rules.max_length - len(suffix), 1)]
    if rules.disallowed is not None:
        base = base.rstrip("-_.") or FALLBACK[0]
    return base + suffix


def candidates(name: str, rules: Rules) -> Callable[[int], str]:
    """Attempt n (0, 1, 2, ...) of a name: the name itself, then `-2`, `-3`, ..."""

    def attempt(n: int) -> str:
        return fit(name, rules) if n == 0 else with_suffix(name, n + 1, rules)

    return attempt


def choose(name: str, taken: Collection[str], rules: Rules) -> str:
    """The first candidate not already taken."""
    attempt = candidates(name, rules)
    n = 0
    while (chosen := attempt(n)) in taken:
        n += 1
    return chosen
