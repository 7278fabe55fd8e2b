"""The one way Relance reads YAML written by people (scenario files, import mappings).

A safe loader is not enough for a file that may be hostile or simply broken:

- **no anchors or aliases**: a "billion laughs" document expands a few lines into billions
  of nodes. Neither file needs them, so the first anchor or alias is refused, before any
  node is built;
- **bounded depth**: deep nesting (``[[[[...``) makes the composer recurse until a
  RecursionError, or a segmentation fault in the C loader. The nesting is counted on the
  event stream, which libyaml produces without recursion, before anything is composed;
- **bounded size**: a file over ``max_bytes`` is refused before it is parsed;
- **bounded numbers**: an integer of thousands of digits costs quadratic time to convert
  (Python 3.11 refuses it with a ValueError); a number is refused beyond ``NUMBER_CHARS``;
- **no tags** (``!!set``, ``!!binary``, ``!!python/...``): plain values only;
- **no key written twice**: YAML keeps the last silently; a person meant one of them.

Every refusal is a ``YamlRefused`` with the line (1-based) where the problem starts, for
the caller to wrap in its own error naming the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from django.utils.translation import gettext as _

try:
    from yaml import CSafeLoader as _Base
except ImportError:  # PyYAML built without libyaml: slower, same documents
    from yaml import SafeLoader as _Base  # type: ignore[assignment]

MAX_BYTES = 1_000_000  # a scenario file or a mapping is a few kilobytes
MAX_DEPTH = 32  # a scenario file nests 5 deep, a mapping 4
NUMBER_CHARS = 40  # far beyond any offset, gap, row number or amount with cents


class YamlRefused(Exception):
    """The text is not YAML Relance accepts: ``str()`` says where (1-based line and column,
    none for the whole file) and why, e.g. ``line 3, column 9: anchors ... not allowed``."""

    def __init__(self, mark: Any, message: str, *, invalid: bool = False):
        self.line = mark.line + 1 if mark is not None else None
        self.column = mark.column + 1 if mark is not None else None
        self.message = message
        where = (
            _("line %(line)s, column %(column)s: ") % {"line": self.line, "column": self.column}
            if mark is not None
            else ""
        )
        # "not valid YAML" first for what any YAML reader would refuse, as before.
        super().__init__(_("not valid YAML: ") + where + message if invalid else where + message)


class LineDict(dict[Any, Any]):
    """A YAML mapping that remembers the line it starts on, for error messages."""

    line: int | None = None


@dataclass(frozen=True)
class _Options:
    exact_decimals: bool


def read(path: Path, *, max_bytes: int = MAX_BYTES, exact_decimals: bool = False) -> Any:
    """The document of a file, read with the limits above (OSError if it cannot be read)."""
    with path.open("rb") as fh:
        data = fh.read(max_bytes + 1)
    return load(data, max_bytes=max_bytes, exact_decimals=exact_decimals)


def load(text: str | bytes, *, max_bytes: int = MAX_BYTES, exact_decimals: bool = False) -> Any:
    """The one document of ``text``: mappings are LineDicts, floats Decimals if asked."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if len(raw) > max_bytes:
        raise YamlRefused(
            None,
            _("larger than %(n)s bytes: not a file written by hand") % {"n": f"{max_bytes:,}"},
        )
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlRefused(None, _("not UTF-8 text (byte %(n)s)") % {"n": exc.start + 1}) from None
    try:
        _check_events(decoded)
        loader = _Loader(decoded)
        loader.options = _Options(exact_decimals)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlRefused(mark, problem, invalid=True) from None
    except RecursionError:  # unreachable with the depth check; never a traceback
        raise YamlRefused(None, _nested()) from None
    except (ValueError, TypeError, OverflowError, AttributeError) as exc:  # never a traceback
        raise YamlRefused(None, str(exc), invalid=True) from None


def _check_events(text: str) -> None:
    """Refuse anchors, aliases, tags and deep nesting on the event stream (no recursion, nothing
    expanded), stopping at the first."""
    depth = 0
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise YamlRefused(event.start_mark, _("anchors and aliases (& and *) are not allowed"))
        if (tag := getattr(event, "tag", None)) is not None:
            raise YamlRefused(
                event.start_mark,
                _("the tag %(tag)s is not allowed: plain values only") % {"tag": repr(tag)},
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlRefused(event.start_mark, _nested())
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _nested() -> str:
    return _("nested more than %(n)s levels deep") % {"n": MAX_DEPTH}


class _Loader(_Base):
    options: _Options

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                repeated = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: refused by the base class below
                continue
            if repeated:
                raise YamlRefused(
                    key_node.start_mark,
                    _("the key %(key)s appears twice") % {"key": repr(key)},
                    invalid=True,
                )
        mapping = LineDict(super().construct_mapping(node, deep=deep))
        mapping.line = node.start_mark.line + 1
        return mapping


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Any:
    # The base class builds mappings lazily in two steps (a generator); ours in one.
    return loader.construct_mapping(node, deep=True)


def _number_text(loader: _Loader, node: yaml.Node) -> str:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    if len(text) > NUMBER_CHARS:
        raise YamlRefused(
            node.start_mark,
            _("a number of %(n)s characters: at most %(max)s are read")
            % {"n": len(text), "max": NUMBER_CHARS},
        )
    return text


def _scalar(kind: Callable[[], str], construct: Callable[[_Loader, yaml.Node], Any]) -> Any:
    """A constructor whose bad value (``!!int abc``, ``2024-13-45``) is a refusal naming its
    line, not a ValueError."""

    def constructor(loader: _Loader, node: yaml.Node) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, OverflowError):
            shown = str(node.value)[:40]
            raise YamlRefused(
                node.start_mark,
                _("%(value)s is not %(kind)s") % {"value": repr(shown), "kind": kind()},
            ) from None

    return constructor


def _construct_int(loader: _Loader, node: yaml.Node) -> int:
    _number_text(loader, node)
    return int(_Base.construct_yaml_int(loader, node))  # type: ignore[arg-type]


def _construct_float(loader: _Loader, node: yaml.Node) -> Decimal | float | str:
    text = _number_text(loader, node)
    if not loader.options.exact_decimals:
        return float(_Base.construct_yaml_float(loader, node))  # type: ignore[arg-type]
    try:
        value = Decimal(text.replace("_", ""))
    except InvalidOperation:
        return text  # .inf, .nan, 1:30.5: left as text for the validation to refuse
    return value if value.is_finite() else text


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
# The kinds are said in the reader's language when a value is refused, not at import.
_Loader.add_constructor(
    "tag:yaml.org,2002:int", _scalar(lambda: _("a whole number"), _construct_int)
)
_Loader.add_constructor("tag:yaml.org,2002:float", _scalar(lambda: _("a number"), _construct_float))
_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    _scalar(lambda: _("a date"), lambda loader, node: _Base.construct_yaml_timestamp(loader, node)),  # type: ignore[arg-type]
)
