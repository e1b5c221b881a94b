"""Pipeline YAML → plain data plus a source map, and plain data → clean YAML.

The file is composed into a node tree by a SafeLoader-based loader, then turned into plain
dicts, lists and scalars by a walker that records, for every key path, where the key (or the
sequence item) and its value start. Scalars follow the rules users expect rather than the
letter of YAML 1.1:

* ``1e-3``, ``1.0e-4``, ``-2E5``, ``.5``, ``1_000.5``, ``.inf`` are floats; ``1_000``, ``0x1f``,
  ``0o17``, ``0b101`` are integers (``012`` is twelve, ``1:30`` is a string);
* only ``true``/``false`` (any of the three usual casings) are booleans: ``on``/``off``/``yes``/
  ``no``/``y``/``n`` stay strings, for the schema layer to convert where a field is boolean;
* ``null``, ``~`` and an empty value are None; dates stay strings;
* mapping keys are always strings (the key's source text), so key paths hold ``str`` for
  mapping keys and ``int`` for sequence indices.

``extends: base.yaml`` (or a list of files) names files, relative to the including one, whose
data the including file deep-merges over: mappings merge, everything else (lists included)
is replaced. The source map keeps pointing every key at the file that defined it.
"""

from __future__ import annotations

import copy
import math
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mathflow.config.errors import ConfigError, Issue, IssueList, LimitExceeded, Location
from mathflow.config.yaml_errors import explain as explain_yaml_error
from mathflow.errors import describe

KeyPath = tuple[str | int, ...]

STR_TAG = "tag:yaml.org,2002:str"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
BOOL_TAG = "tag:yaml.org,2002:bool"
NULL_TAG = "tag:yaml.org,2002:null"
SEQ_TAG = "tag:yaml.org,2002:seq"
MAP_TAG = "tag:yaml.org,2002:map"
MERGE_TAG = "tag:yaml.org,2002:merge"

EXTENDS_KEY = "extends"

_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)$")
_INT_RE = re.compile(
    r"""^(?:[-+]?0b[01][01_]*
        |[-+]?0o[0-7][0-7_]*
        |[-+]?0x[0-9a-fA-F][0-9a-fA-F_]*
        |[-+]?[0-9][0-9_]*)$""",
    re.X,
)
_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_MERGE_RE = re.compile(r"^<<$")

# Bounds on what one pipeline file may make the loader do (hostile or runaway input).
MAX_FILE_BYTES = 32 << 10
"""A pipeline file (or an ``extends`` base) larger than this is refused before it is parsed."""
MAX_DEPTH = 64
"""Lists and mappings nested deeper than this are refused (a pipeline needs well under 10 levels)."""
MAX_VALUES = 5_000
"""At most this many values (scalars, lists, mappings) once aliases are expanded."""
MAX_TEXT = 1 << 20
"""At most this many characters of scalar text once aliases are expanded."""
MAX_EXTENDS_DEPTH = 16
"""At most this many files in one ``extends`` chain (the including file counts)."""
MAX_EXTENDS_FILES = 64
"""At most this many files read for one pipeline through ``extends`` (repeats count)."""


def parse_int(text: str) -> int:
    """``[-+]`` then decimal digits, or ``0x``/``0o``/``0b`` digits; underscores are ignored."""
    value = text.replace("_", "")
    sign = -1 if value.startswith("-") else 1
    value = value.lstrip("+-")
    for prefix, base in (("0x", 16), ("0o", 8), ("0b", 2)):
        if value.lower().startswith(prefix):
            return sign * int(value[2:], base)
    return sign * int(value, 10)


def parse_float(text: str) -> float:
    """Decimal or exponent notation (``1e-3``, ``.5``, ``1_000.5``), ``.inf``, ``-.inf``, ``.nan``."""
    value = text.replace("_", "").lower()
    sign = -1.0 if value.startswith("-") else 1.0
    body = value.lstrip("+-")
    if body == ".inf":
        return sign * math.inf
    if body == ".nan":
        return math.nan
    return float(value)


def parse_bool(text: str) -> bool:
    """``true``/``false`` in any casing (explicit ``!!bool`` also accepts yes/no/on/off)."""
    lowered = text.lower()
    if lowered in ("true", "yes", "on", "y"):
        return True
    if lowered in ("false", "no", "off", "n"):
        return False
    raise ValueError(text)


def parse_null(text: str) -> None:
    if text not in ("", "~", "null", "Null", "NULL"):
        raise ValueError(text)
    return None


_SCALAR_PARSERS = {
    STR_TAG: str,
    INT_TAG: parse_int,
    FLOAT_TAG: parse_float,
    BOOL_TAG: parse_bool,
    NULL_TAG: parse_null,
}

_TAG_NAMES = {
    INT_TAG: "an integer",
    FLOAT_TAG: "a float",
    BOOL_TAG: "a boolean",
    NULL_TAG: "null",
}


def _register_resolvers(cls: type) -> None:
    cls.add_implicit_resolver(BOOL_TAG, _BOOL_RE, list("tTfF"))
    cls.add_implicit_resolver(INT_TAG, _INT_RE, list("-+0123456789"))
    cls.add_implicit_resolver(FLOAT_TAG, _FLOAT_RE, list("-+0123456789."))
    cls.add_implicit_resolver(NULL_TAG, _NULL_RE, ["~", "n", "N", ""])
    cls.add_implicit_resolver(MERGE_TAG, _MERGE_RE, ["<"])


class TooDeep(yaml.MarkedYAMLError):
    """Nesting beyond :data:`MAX_DEPTH`, raised while composing (before Python's recursion limit)."""


class YamlLoader(yaml.SafeLoader):
    """SafeLoader with the scalar rules described in the module docstring.

    An alias node carries the position of the ``*alias`` itself (its children keep the
    positions of the anchored original), so items written as aliases locate where written;
    it also carries the alias name (``alias_anchor``). Nesting deeper than :data:`MAX_DEPTH`
    raises :class:`TooDeep` at the first node too deep.
    """

    yaml_implicit_resolvers: dict = {}
    depth = 0

    def compose_node(self, parent: Node | None, index: object) -> Node:
        if self.depth >= MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise TooDeep(problem=f"nested deeper than {MAX_DEPTH} levels", problem_mark=mark)
        self.depth += 1
        try:
            return self._compose(parent, index)
        finally:
            self.depth -= 1

    def _compose(self, parent: Node | None, index: object) -> Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = super().compose_node(parent, index)
            clone = copy.copy(node)
            clone.start_mark, clone.end_mark = event.start_mark, event.end_mark
            clone.alias_anchor = event.anchor
            return clone
        return super().compose_node(parent, index)


_register_resolvers(YamlLoader)
for _tag, _parse in _SCALAR_PARSERS.items():
    YamlLoader.add_constructor(_tag, lambda loader, node, _parse=_parse: _parse(loader.construct_scalar(node)))


# ---------------------------------------------------------------------------------------------
# Source documents
# ---------------------------------------------------------------------------------------------


@dataclass
class Document:
    """A loaded configuration: plain ``data`` plus where each part of it came from.

    ``key_locations`` maps a key path to the position of the mapping key (or of the sequence
    item) and ``value_locations`` to the start of the value. ``sources`` holds the text of every
    file that contributed (the root file and its ``extends`` bases).
    """

    data: dict[str, Any]
    path: str
    text: str
    key_locations: dict[KeyPath, Location] = field(default_factory=dict, repr=False)
    value_locations: dict[KeyPath, Location] = field(default_factory=dict, repr=False)
    sources: dict[str, str] = field(default_factory=dict, repr=False)

    def locate(self, key_path: Iterable[str | int]) -> Location:
        """Position of the key (mapping entry) or item (sequence element) at ``key_path``.

        A path that does not exist falls back to its nearest existing parent, and finally to
        the start of the file.
        """
        path = tuple(key_path)
        while True:
            found = self.key_locations.get(path)
            if found is not None:
                return found
            if not path:
                return Location(self.path, 1, 1)
            path = path[:-1]

    def locate_value(self, key_path: Iterable[str | int]) -> Location:
        """Position of the value at ``key_path``; falls back like :meth:`locate`."""
        path = tuple(key_path)
        found = self.value_locations.get(path)
        return found if found is not None else self.locate(path)

    def issue(
        self,
        key_path: Iterable[str | int],
        message: str,
        suggestion: str | None = None,
        hint: str | None = None,
        *,
        at_value: bool = False,
    ) -> Issue:
        """An :class:`Issue` located at the key (or, with ``at_value``, the value) of ``key_path``."""
        where = self.locate_value(key_path) if at_value else self.locate(key_path)
        return Issue(where, message, suggestion, hint)

    def get(self, key_path: Iterable[str | int], default: Any = None) -> Any:
        """The value at ``key_path``, or ``default`` when the path does not exist."""
        node: Any = self.data
        for part in key_path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return default
        return node


def iter_paths(data: Any, prefix: KeyPath = ()) -> Iterator[KeyPath]:
    """Every key path inside ``data`` (including ``prefix`` itself), parents before children."""
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from iter_paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from iter_paths(value, (*prefix, index))


def prune_locations(data: Any, locations: dict[KeyPath, Location]) -> dict[KeyPath, Location]:
    """Keep only the entries whose path exists in ``data``."""
    return {path: locations[path] for path in iter_paths(data) if path in locations}


def drop_subtree(locations: dict[KeyPath, Location], path: KeyPath, *, keep_root: bool = False) -> None:
    """Remove ``path`` (unless ``keep_root``) and all its descendants from ``locations``."""
    n = len(path)
    for key in [k for k in locations if len(k) >= n and k[:n] == path]:
        if keep_root and len(key) == n:
            continue
        del locations[key]


def deep_merge(base: Any, override: Any) -> Any:
    """``override`` over ``base``: mappings merge key by key, anything else is replaced."""
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return override
    merged = dict(base)
    for key, value in override.items():
        merged[key] = deep_merge(merged[key], value) if key in merged else value
    return merged


# ---------------------------------------------------------------------------------------------
# Node tree → plain data
# ---------------------------------------------------------------------------------------------


def _tag_name(tag: str) -> str:
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix) :] if tag.startswith(prefix) else tag


class _Builder:
    """Walks a composed node tree into plain data, recording positions and collecting issues.

    Aliases are expanded here, so the walk counts what it builds: past :data:`MAX_VALUES` values or
    :data:`MAX_TEXT` characters it stops with a :class:`ConfigError` at the outermost alias being
    expanded (an "alias bomb" is a small file that expands to billions of values).
    """

    def __init__(self, file: str, issues: IssueList) -> None:
        self.file = file
        self.issues = issues
        self.keys: dict[KeyPath, Location] = {}
        self.values: dict[KeyPath, Location] = {}
        self._open: set[int] = set()
        self._count = 0
        self._text = 0
        self._alias: Node | None = None  # the outermost alias being expanded

    def at(self, node: Node) -> Location:
        mark = node.start_mark
        return Location(self.file, mark.line + 1, mark.column + 1)

    def _spend(self, node: Node) -> None:
        """Count ``node`` against the expansion bounds; raise a located error past them."""
        self._count += 1
        if isinstance(node, ScalarNode):
            self._text += len(node.value)
        if self._count <= MAX_VALUES and self._text <= MAX_TEXT:
            return
        what = f"{MAX_VALUES:,} values" if self._count > MAX_VALUES else f"{MAX_TEXT:,} characters of text"
        if self._alias is None:
            raise LimitExceeded(self.at(node), f"the file holds more than {what}")
        name = self._alias.alias_anchor
        raise LimitExceeded(self.at(self._alias), f"alias '*{name}' expands to more than {what} (an alias bomb?)")

    def build(self, node: Node, path: KeyPath) -> Any:
        self._spend(node)
        outermost = self._alias is None and getattr(node, "alias_anchor", None) is not None
        if outermost:
            self._alias = node
        try:
            if len(path) >= MAX_DEPTH:  # aliases nest anchored data below where they are written
                raise LimitExceeded(self.at(self._alias or node), f"nested deeper than {MAX_DEPTH} levels")
            return self._build(node, path)
        finally:
            if outermost:
                self._alias = None

    def _build(self, node: Node, path: KeyPath) -> Any:
        self.values[path] = self.at(node)
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        marker = id(node.value)
        if marker in self._open:
            self.issues.add(self.at(node), "alias refers to a node that contains it (recursive data)")
            return None
        self._open.add(marker)
        try:
            if isinstance(node, SequenceNode):
                return self._sequence(node, path)
            return self._mapping(node, path)
        finally:
            self._open.discard(marker)

    def _scalar(self, node: ScalarNode) -> Any:
        parse = _SCALAR_PARSERS.get(node.tag)
        if parse is None:
            self.issues.add(
                self.at(node),
                f"unsupported tag '{_tag_name(node.tag)}'",
                hint="use plain strings, numbers, booleans, null, lists and mappings",
            )
            return node.value
        try:
            return parse(node.value)
        except ValueError:
            self.issues.add(self.at(node), f"cannot read '{node.value}' as {_TAG_NAMES[node.tag]}")
            return node.value

    def _check_tag(self, node: Node, expected: str) -> None:
        if node.tag != expected:
            self.issues.add(
                self.at(node),
                f"unsupported tag '{_tag_name(node.tag)}'",
                hint="use plain strings, numbers, booleans, null, lists and mappings",
            )

    def _sequence(self, node: SequenceNode, path: KeyPath) -> list[Any]:
        self._check_tag(node, SEQ_TAG)
        items = []
        for index, item in enumerate(node.value):
            self.keys[(*path, index)] = self.at(item)
            items.append(self.build(item, (*path, index)))
        return items

    def _mapping(self, node: MappingNode, path: KeyPath) -> dict[str, Any]:
        self._check_tag(node, MAP_TAG)
        merges: list[Node] = []
        explicit: list[tuple[str, ScalarNode, Node]] = []
        first_seen: dict[str, Location] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                kind = "a list" if isinstance(key_node, SequenceNode) else "a mapping"
                self.issues.add(self.at(key_node), f"a mapping key must be a plain scalar, not {kind}")
                continue
            key = key_node.value
            where = self.at(key_node)
            if key in first_seen:
                self.issues.add(
                    where,
                    f"duplicate key '{key}' (first defined at line {first_seen[key].line})",
                    hint="a mapping holds each key once",
                )
                continue
            first_seen[key] = where
            explicit.append((key, key_node, value_node))

        result: dict[str, Any] = {}
        own_location = self.values[path]
        for merge_node in merges:
            sources = merge_node.value if isinstance(merge_node, SequenceNode) else [merge_node]
            # Earlier sources take precedence: build them last so their entries (and positions) win.
            for source in reversed(sources):
                if not isinstance(source, MappingNode):
                    self.issues.add(self.at(source), "'<<' merges a mapping or a list of mappings")
                    continue
                result.update(self.build(source, path))
        self.values[path] = own_location

        for key, key_node, value_node in explicit:
            self.keys[(*path, key)] = self.at(key_node)
            result[key] = self.build(value_node, (*path, key))
        return result


def _mark_location(file: str, mark: Any) -> Location:
    if mark is None:
        return Location(file)
    return Location(file, mark.line + 1, mark.column + 1)


def _offset_location(file: str, text: str, offset: int) -> Location:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Location(file, line, col)


def _line_of(text: str, mark: Any) -> str:
    if mark is None:
        return ""
    lines = text.splitlines()
    return lines[mark.line] if 0 <= mark.line < len(lines) else ""


def _yaml_error_issue(exc: yaml.YAMLError, file: str, text: str) -> Issue:
    """Turn a PyYAML reader/scanner/parser/composer error into a plain-words Issue at its position
    (see :mod:`mathflow.config.yaml_errors`)."""
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return Issue(
            _offset_location(file, text, exc.position),
            f"character {char!r} (U+{ord(char):04X}) is not allowed in YAML",
        )
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = (exc.problem or "").strip()
        context = (exc.context or "").strip()
        if "found another document" in problem:
            where = _mark_location(file, exc.problem_mark or exc.context_mark)
            return Issue(where, "a pipeline file holds a single YAML document (found a second '---')")
        if "got '{'" in problem and "${" in _line_of(text, exc.problem_mark):
            where = _mark_location(file, exc.problem_mark or exc.context_mark)
            message = f"{problem} ({context})" if context else problem
            return Issue(where, message, hint="quote values holding ${...} references inside [ ] or { }")
        return explain_yaml_error(exc, file, text)
    return Issue(Location(file), f"invalid YAML: {exc}")


_BRACKET = re.compile(r"[\[\]{}]")


def check_flow_depth(text: str, file: str) -> None:
    """Refuse ``[``/``{`` nested deeper than :data:`MAX_DEPTH` before PyYAML sees them: its scanner
    takes quadratic time on deep flow collections (seconds for a few thousand ``[``). Brackets are
    counted wherever they are, so this errs only on text with dozens of unclosed brackets."""
    depth = 0
    for match in _BRACKET.finditer(text):
        depth = depth + 1 if match.group() in "[{" else max(0, depth - 1)
        if depth > MAX_DEPTH:
            raise LimitExceeded(_offset_location(file, text, match.start()), f"nested deeper than {MAX_DEPTH} levels")


def parse_text(text: str, file: str, issues: IssueList) -> tuple[Any, dict[KeyPath, Location], dict[KeyPath, Location]]:
    """Compose ``text`` and build its plain data and positions.

    A syntax error raises :class:`ConfigError` at once (the parser cannot go on); structural
    problems (duplicate keys, unsupported tags, ...) are added to ``issues``. An empty document
    gives ``None`` with an empty source map.
    """
    check_flow_depth(text, file)
    try:
        loader = YamlLoader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except TooDeep as exc:
        raise LimitExceeded(_mark_location(file, exc.problem_mark), str(exc.problem)) from None
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_error_issue(exc, file, text)]) from None
    if root is None:
        return None, {}, {}
    builder = _Builder(file, issues)
    data = builder.build(root, ())
    builder.keys[()] = builder.at(root)
    return data, builder.keys, builder.values


def parse_value(text: str, file: str = "<value>") -> Any:
    """One YAML value (scalar, ``[1, 2]``, ``{a: 1}``) read with the loader's rules; raises ConfigError."""
    issues = IssueList()
    data, _, _ = parse_text(text, file, issues)
    issues.raise_if_any()
    return data


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def _read_text(display: str) -> str:
    where = Location(display)
    if os.path.isdir(display):
        raise ConfigError([Issue(where, "is a directory, not a YAML file")])
    try:
        with open(display, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError([Issue(where, "no such file")]) from None
    except PermissionError:
        raise ConfigError([Issue(where, "cannot read the file (permission denied)")]) from None
    except OSError as exc:
        raise ConfigError([Issue(where, f"cannot read the file ({exc.strerror or exc})")]) from None
    if len(raw) > MAX_FILE_BYTES:
        limit = f"{MAX_FILE_BYTES // 1024} KiB"
        raise LimitExceeded(Location(display, 1, 1), f"file is larger than {limit}; not a pipeline file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        good = raw[: exc.start].decode("utf-8", errors="replace")
        issue = Issue(
            _offset_location(display, good, len(good)),
            f"not UTF-8 text (invalid byte 0x{raw[exc.start]:02x})",
        )
        raise ConfigError([issue]) from None


def _extends_targets(
    spec: Any, values: dict[KeyPath, Location], where: Location, issues: IssueList
) -> list[tuple[str, Location]]:
    if isinstance(spec, str) and spec.strip():
        return [(spec.strip(), values.get((EXTENDS_KEY,), where))]
    if isinstance(spec, list) and spec and all(isinstance(item, str) and item.strip() for item in spec):
        return [(item.strip(), values.get((EXTENDS_KEY, i), where)) for i, item in enumerate(spec)]
    issues.add(
        values.get((EXTENDS_KEY,), where),
        f"'extends' must be a file name or a list of file names, not {describe(spec)}",
    )
    return []


@dataclass
class _Budget:
    """How many files one :func:`load` has read through ``extends`` so far."""

    files: int = 0


def _check_extends(where: Location, chain: tuple[tuple[str, str], ...], budget: _Budget) -> None:
    """Refuse a base beyond :data:`MAX_EXTENDS_DEPTH` files deep or :data:`MAX_EXTENDS_FILES` in all."""
    if len(chain) >= MAX_EXTENDS_DEPTH:
        raise LimitExceeded(where, f"'extends' chain is deeper than {MAX_EXTENDS_DEPTH} files")
    if budget.files >= MAX_EXTENDS_FILES:
        raise LimitExceeded(where, f"'extends' reads more than {MAX_EXTENDS_FILES} files in all")


def _load(display: str, chain: tuple[tuple[str, str], ...], budget: _Budget | None = None) -> Document:
    """Load ``display`` and its bases; ``chain`` holds (real path, shown path) of the includers."""
    budget = budget or _Budget()
    budget.files += 1
    text = _read_text(display)
    issues = IssueList()
    data, keys, values = parse_text(text, display, issues)
    sources = {display: text}
    if data is None:
        issues.add(Location(display, 1, 1), "file is empty (expected a mapping of sections)")
        issues.raise_if_any()
    if not isinstance(data, dict):
        issues.add(
            values.get((), Location(display, 1, 1)),
            f"top level must be a mapping of sections (key: value lines), not {describe(data)}",
        )
        issues.raise_if_any()

    if EXTENDS_KEY in data:
        spec = data.pop(EXTENDS_KEY)
        here = (os.path.realpath(display), display)
        lineage = (*chain, here)
        base_data: dict[str, Any] = {}
        base_keys: dict[KeyPath, Location] = {}
        base_values: dict[KeyPath, Location] = {}
        for target, where in _extends_targets(spec, values, keys[(EXTENDS_KEY,)], issues):
            shown = os.path.normpath(os.path.join(os.path.dirname(display), os.path.expanduser(target)))
            real = os.path.realpath(shown)
            cycle_start = next((i for i, (r, _) in enumerate(lineage) if r == real), None)
            if cycle_start is not None:
                loop = " -> ".join([name for _, name in lineage[cycle_start:]] + [shown])
                issues.add(where, f"'extends' cycle: {loop}")
                continue
            if not os.path.exists(shown):
                issues.add(where, f"base file '{target}' not found (looked for {shown})")
                continue
            _check_extends(where, lineage, budget)
            try:
                base = _load(shown, lineage, budget)
            except LimitExceeded:
                raise
            except ConfigError as exc:
                issues.extend(exc.issues)
                continue
            base_data = deep_merge(base_data, base.data)
            base_keys.update(base.key_locations)
            base_values.update(base.value_locations)
            sources.update(base.sources)
        data = deep_merge(base_data, data)
        keys = {**base_keys, **keys}
        values = {**base_values, **values}

    issues.raise_if_any()
    root = keys[()]
    keys = prune_locations(data, keys)
    values = prune_locations(data, values)
    keys[()] = values[()] = root
    return Document(data, display, text, keys, values, sources)


def load(path: str | os.PathLike[str]) -> Document:
    """Read a pipeline file (following ``extends``) into a :class:`Document`.

    Raises :class:`ConfigError` listing every problem found, each at ``file:line:col``.
    References (``${a.b}``) are left as written; see :func:`mathflow.config.load_config`.
    """
    return _load(os.fspath(path), ())


# ---------------------------------------------------------------------------------------------
# Plain data → YAML
# ---------------------------------------------------------------------------------------------


class _StandardResolver(yaml.resolver.Resolver):
    """Plain YAML 1.1 rules, consulted so that dumped strings stay strings for other readers too."""


_STANDARD = _StandardResolver()


class YamlDumper(yaml.SafeDumper):
    """Block-style dumper whose output :class:`YamlLoader` reads back unchanged.

    A string is written plain only when both our rules and plain YAML 1.1 read it as a string
    (so ``'1e-3'``, ``'on'``, ``'2024-01-01'`` get quotes); lists are indented under their key.
    """

    yaml_implicit_resolvers: dict = {}

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        tag = super().resolve(kind, value, implicit)
        if kind is ScalarNode and implicit[0] and tag == STR_TAG:
            if value in ("y", "Y", "n", "N"):  # booleans to some YAML 1.1 readers
                return BOOL_TAG
            other = _STANDARD.resolve(kind, value, implicit)
            if other != STR_TAG:
                return other
        return tag

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


_register_resolvers(YamlDumper)


def _represent_str(dumper: YamlDumper, data: str) -> ScalarNode:
    if any(ch in data for ch in "\r\x85\u2028\u2029"):
        style: str | None = '"'  # other quoting styles would fold these line breaks
    elif "\n" in data.rstrip("\n"):
        style = "|"
    else:
        style = None
    return dumper.represent_scalar(STR_TAG, data, style=style)


YamlDumper.add_representer(str, _represent_str)
YamlDumper.add_representer(tuple, yaml.SafeDumper.represent_list)


def dump(data: Any) -> str:
    """Clean block-style YAML for plain data (keys in insertion order) that :func:`load` reads back equal."""
    return yaml.dump(
        data,
        Dumper=YamlDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=float("inf"),
    )
