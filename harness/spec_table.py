"""Reading one TOML table of a variant spec strictly: every value type-checked, every key accounted
for, so a typo is an error naming the file, the field and what is allowed, never a silent default."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import TypeVar

from harness.errors import SpecError

T = TypeVar("T")


class Table:
    """One TOML table being read: every key must be consumed, so leftovers are reported as unknown."""

    def __init__(self, path: Path, prefix: str, data: object) -> None:
        if not isinstance(data, dict):
            raise SpecError(path, prefix or "<root>", f"must be a table, got {type(data).__name__}")
        self.path, self.prefix, self.data = path, prefix, data

    def _name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def qualified(self, key: str) -> str:
        """The field's full name as errors show it (`stack.gateway.image`)."""
        return self._name(key)

    def get(self, key: str, kind: type[T], default: T) -> T:
        if key not in self.data:
            return default
        value = self.data[key]
        # bool is an int in Python: never accept true where a number is asked for, or 1 for a flag
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise SpecError(self.path, self._name(key), f"must be {kind.__name__}, got {value!r}")
        return value

    def required(self, key: str, kind: type[T]) -> T:
        if key not in self.data:
            raise SpecError(self.path, self._name(key), "is required")
        return self.get(key, kind, None)  # type: ignore[arg-type]

    def strings(self, key: str) -> tuple[str, ...] | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            raise SpecError(self.path, self._name(key), f"must be a list of strings, got {value!r}")
        return tuple(str(v) for v in value)

    def mapping(self, key: str) -> dict[str, str]:
        value = self.data.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str | int | float) for v in value.values()):
            raise SpecError(self.path, self._name(key), "must be a table of string values")
        return {str(k): str(v) for k, v in value.items()}

    def table(self, key: str) -> Table | None:
        return Table(self.path, self._name(key), self.data[key]) if key in self.data else None

    def check_known(self, allowed: list[str]) -> None:
        for key in self.data:
            if key not in allowed:
                raise SpecError(self.path, self._name(key), f"unknown key; allowed: {', '.join(allowed)}")


def allowed(cls: type, *extra: str) -> list[str]:
    return [f.name for f in fields(cls)] + list(extra)
