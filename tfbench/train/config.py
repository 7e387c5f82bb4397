"""``--set KEY=VALUE``: the one place where command-line overrides are parsed and cast.

:func:`parse_overrides` turns ``["key=value", ...]`` into a dict of strings;
:func:`apply_overrides` casts each value to the type of the config dataclass field it
replaces and returns a new config. A config with overrides is non-canonical: callers
append :func:`override_note` to the notes recorded in checkpoints and results.

Casting (by the field's current value): ``bool`` accepts true/false/1/0/yes/no/on/off;
``int`` and ``float`` parse numbers (``1e-4`` works for floats; an int field refuses
``2.5``); ``tuple``/``list`` split on commas and cast each item like the first current
item (an empty string gives an empty tuple); ``None``-valued fields keep the string
unless it is ``none``/``null``; ``str`` is taken as is. Unknown fields, and fields the
config protects, raise :class:`~tfbench.errors.TfbenchError` naming the known ones.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable

from tfbench.errors import TfbenchError

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def parse_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """``["key=value", ...]`` -> ``{"key": "value"}`` (values stay strings; later pairs win)."""
    overrides = {}
    for pair in pairs:
        key, sep, value = str(pair).partition("=")
        if not sep or not key.strip():
            raise TfbenchError(f"--set expects KEY=VALUE, got {pair!r}")
        overrides[key.strip()] = value.strip()
    return overrides


def cast_value(key: str, value: Any, current: Any) -> Any:
    """``value`` (a string from the command line, or already typed) cast like ``current``."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        if isinstance(current, bool):
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError("expected true or false")
        if isinstance(current, int):
            return int(text)
        if isinstance(current, float):
            return float(text)
        if isinstance(current, (tuple, list)):
            items = [part.strip() for part in text.split(",") if part.strip()]
            if current:
                items = [cast_value(key, item, current[0]) for item in items]
            return type(current)(items)
        if current is None:
            return None if text.lower() in ("none", "null") else text
        if isinstance(current, dict):
            raise ValueError("dict fields cannot be set from the command line")
    except ValueError as error:
        raise TfbenchError(f"--set {key}={value}: cannot use {value!r} for a {type(current).__name__} field ({error})") from None
    return text


def apply_overrides(config, overrides: dict | None, protected: Iterable[str] = ("name", "notes")):
    """A copy of dataclass ``config`` with ``overrides`` (field -> value) cast and applied.

    ``protected`` fields cannot be overridden. Returns ``config`` itself when there is
    nothing to override.
    """
    if not overrides:
        return config
    protected = set(protected)
    known = {f.name for f in dataclasses.fields(config)} - protected
    changes = {}
    for key, value in overrides.items():
        if key not in known:
            raise TfbenchError(f"cannot override {type(config).__name__} field {key!r}; fields: {', '.join(sorted(known))}")
        changes[key] = cast_value(key, value, getattr(config, key))
    return dataclasses.replace(config, **changes)


def override_note(config, overrides: dict | None) -> str:
    """`` OVERRIDDEN: a=1; b='x' (not the NAME config).`` for the notes, or ``""``."""
    if not overrides:
        return ""
    values = "; ".join(f"{key}={getattr(config, key)!r}" for key in sorted(overrides))
    name = getattr(config, "name", "named")
    return f" OVERRIDDEN: {values} (not the {name} config)."
