"""The guardrail's config (`plugins[].config` of the entry named "pii_redaction")."""

from __future__ import annotations

import re
from typing import Literal

from msgspec import field

from gateway.api import ConfigStruct

# Built-in rules, by name: conservative patterns (a false positive only hides text; a miss leaks it).
BUILTIN: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "phone": r"\+?\d[\d ().-]{8,}\d",
    "credit_card": r"\b(?:\d[ -]?){13,19}\b",
    "us_ssn": r"\b\d{3}-\d{2}-\d{4}\b",
    "ipv4": r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b",
    "iban": r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
}


class Rule(ConfigStruct, frozen=True):
    name: str
    pattern: str  # a Python regular expression
    action: Literal["redact", "block"] = "redact"  # block: the call is refused (403) when a request has it
    replacement: str | None = None  # default: "[<NAME>]"


class PiiConfig(ConfigStruct, frozen=True):
    enabled: bool = False
    builtin: list[str] = field(default_factory=lambda: ["email", "phone", "credit_card", "us_ssn"])
    rules: list[Rule] = field(default_factory=list)  # after the built-in ones; a rule of the same name replaces one
    block: list[str] = field(default_factory=list)  # names of rules whose matches refuse the call instead
    requests: bool = True  # redact what goes upstream
    responses: bool = True  # redact what comes back, streams included

    def __post_init__(self) -> None:
        compiled_rules(self)  # a ValueError here is a config error with its path (gateway check-config shows it)


def compiled_rules(config: PiiConfig) -> list[tuple[Rule, re.Pattern[str]]]:
    """The rules in force, compiled; raises ValueError naming a rule that does not compile or exist."""
    unknown = [name for name in config.builtin if name not in BUILTIN]
    if unknown:
        raise ValueError(f"unknown built-in rule(s) {unknown}; known: {sorted(BUILTIN)}")
    rules = {name: Rule(name=name, pattern=BUILTIN[name]) for name in config.builtin}
    rules |= {rule.name: rule for rule in config.rules}
    out = []
    for rule in rules.values():
        try:
            pattern = re.compile(rule.pattern)
        except re.error as exc:
            raise ValueError(f"rule {rule.name!r}: {exc}") from None
        action = "block" if rule.name in config.block else rule.action
        out.append((Rule(name=rule.name, pattern=rule.pattern, action=action, replacement=rule.replacement), pattern))
    return out
