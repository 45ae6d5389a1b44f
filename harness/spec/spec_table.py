"""Reading a TOML spec strictly through pydantic: the spec's dataclasses declare every key, its type and
its limits once; `validate` turns the first problem into one line naming the file, the key and what is
allowed, so a typo is an error, never a silent default. The same declarations give the JSON Schema
editors use (`images/variant.schema.json`).

Values are strict (no `true` where a number is asked for, no `"8000"` for a port) except where TOML
users write numbers for text: list items and table values (`extra_args = ["--max-num-seqs", 16]`).
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, cast, dataclass_transform, get_args, get_origin, get_type_hints

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, Strict, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic.fields import FieldInfo

from harness.errors import SpecError

T = TypeVar("T")

# every spec dataclass: an unknown key is an error. A field's `description` says what it must be: it is the
# error message's "must be ..." and the schema's description
SPEC_CONFIG = ConfigDict(extra="forbid")


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, Field))
def spec(*, kw_only: bool = False) -> Callable[[type[T]], type[T]]:
    """The decorator of every spec table: a frozen pydantic dataclass that refuses unknown keys."""

    def make(cls: type[T]) -> type[T]:
        return cast(type[T], pydantic_dataclass(cls, frozen=True, config=SPEC_CONFIG, kw_only=kw_only))

    return make


def _number_as_text(value: object) -> object:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


Str = Annotated[str, Strict()]
Int = Annotated[int, Strict()]  # never a bool, never "8"
Float = Annotated[float, Strict()]  # an int is taken as a float; a bool never
Bool = Annotated[bool, Strict()]
# a list item or table value: TOML numbers become text, anything else must already be text
Text = Annotated[str, Strict(), BeforeValidator(_number_as_text, json_schema_input_type=str | int | float)]
Words = tuple[Text, ...]
TextTable = dict[str, Text]


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


NonBlank = Annotated[str, Strict(), AfterValidator(_not_blank)]


class FieldProblem(ValueError):
    """Raised by a spec validator about one key of the table it checks (`key` is relative to that table)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(problem)
        self.key = key


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(path, "<syntax>", f"not valid TOML: {exc}") from None


def validate(kind: type[T], data: object, path: Path) -> T:
    """`data` (a TOML document) as a `kind`, or a SpecError about its first problem."""
    try:
        return TypeAdapter(kind).validate_python(data)
    except ValidationError as exc:
        errors = exc.errors()
        # a misspelt key also leaves its real name missing: the misspelling is the one to name
        error = next((e for e in errors if e["type"] in _UNKNOWN), errors[0])
        loc: tuple[str | int, ...] = tuple(error["loc"])
        problem = error.get("ctx", {}).get("error")
        if isinstance(problem, FieldProblem):
            loc = (*loc, *problem.key.split("."))
        raise SpecError(path, _dotted(loc), _problem(kind, loc, error)) from None


def _dotted(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "<root>"


_UNKNOWN = ("unexpected_keyword_argument", "extra_forbidden")
_KINDS = {"string_type": "str", "int_type": "int", "float_type": "float", "bool_type": "bool"}
_LIMITS = {"greater_than": "> {gt}", "greater_than_equal": ">= {ge}", "less_than": "< {lt}",
           "less_than_equal": "<= {le}", "too_short": "at least {min_length} long",
           "too_long": "at most {max_length} long", "string_pattern_mismatch": "text matching {pattern}"}


def _problem(kind: type, loc: tuple[str | int, ...], error: Any) -> str:
    what, value, ctx = error["type"], error["input"], error.get("ctx", {})
    if what in _UNKNOWN:
        return f"unknown key; allowed: {', '.join(_keys(_at(kind, loc[:-1])))}"
    if what in ("missing", "missing_argument"):
        described = _description(kind, loc)
        return f"is required: {described}" if described else "is required"
    if what in _KINDS:
        return f"must be {_KINDS[what]}, got {value!r}"
    if what == "literal_error":
        choices = str(ctx["expected"]).replace("'", "").replace(" or ", ", ")  # "'a', 'b' or 'c'"
        return f"must be one of {choices}, got {value!r}"
    if what in ("tuple_type", "list_type"):
        return f"must be a list, got {value!r}"
    if what in ("dict_type", "dataclass_type", "model_type"):
        return f"must be a table, got {type(value).__name__}"
    if what in _LIMITS:
        described = _description(kind, loc)
        return f"must be {described or _LIMITS[what].format(**ctx)}, got {value!r}"
    if "error" in ctx:  # a validator's own message
        return str(ctx["error"])
    return f"{error['msg'][0].lower()}{error['msg'][1:]}, got {value!r}"


# --- what a location in a spec is declared as -------------------------------------------------------------


def _plain(tp: Any) -> Any:
    """`tp` without Annotated and without `| None`."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif get_origin(tp) in (Union, types.UnionType):
            tp = next(a for a in get_args(tp) if a is not type(None))
        else:
            return tp


def _at(kind: Any, loc: tuple[str | int, ...]) -> Any:
    """The declared type at `loc` inside `kind` (Annotated kept), or None where it cannot be told."""
    tp = kind
    for part in loc:
        plain = _plain(tp)
        if dataclasses.is_dataclass(plain):
            hints = get_type_hints(plain, include_extras=True)
            if part not in hints:
                return None
            tp = hints[part]
        elif get_origin(plain) in (tuple, list) and isinstance(part, int):
            tp = get_args(plain)[0]
        elif get_origin(plain) is dict:
            tp = get_args(plain)[1]
        else:
            return None
    return tp


def _keys(tp: Any) -> list[str]:
    """The keys a table may hold: its fields, less those the loader sets (`exclude=True`)."""
    declared: dict[str, FieldInfo] = getattr(_plain(tp), "__pydantic_fields__", {})
    return [name for name, info in declared.items() if not info.exclude]


def _description(kind: Any, loc: tuple[str | int, ...]) -> str | None:
    """The `description=` a field declares (what it must be), e.g. "a TCP port (1-65535)"."""
    if not loc:
        return None
    declared: dict[str, FieldInfo] = getattr(_plain(_at(kind, loc[:-1])), "__pydantic_fields__", {})
    if isinstance(loc[-1], str) and loc[-1] in declared and declared[loc[-1]].description:
        return declared[loc[-1]].description
    return _declared_description(_at(kind, loc))


def _declared_description(tp: Any) -> str | None:
    if get_origin(tp) is Annotated:
        found = [m.description for m in get_args(tp)[1:] if isinstance(m, FieldInfo) and m.description]
        return found[-1] if found else _declared_description(get_args(tp)[0])
    if get_origin(tp) in (Union, types.UnionType):
        return next(filter(None, map(_declared_description, get_args(tp))), None)
    return None
