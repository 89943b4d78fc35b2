"""Read the YAML file into plain data, remembering the line of every key and list item.

PyYAML's ``safe_load`` forgets where things were and silently keeps the last of two equal
keys, so the composed node tree is walked here instead: the walk builds the data, the line
map, reports duplicate keys, and fills ``${VAR}`` references, all in one pass.

Mapping keys are taken as written (``on:`` is the key "on", not ``True``); only values get
YAML's type resolution and environment interpolation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from arxdeploy.config.interpolate import SYNTAX_HINT, interpolate
from arxdeploy.config.keys import KeyPath, dotted
from arxdeploy.errors import ConfigError, ConfigProblem

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_DEPTH = 50  # a real config nests about 6 deep; this stops self-referencing aliases
_SHOWN_DEPTH = 8  # of a too-deep key path, only the start is shown
_MAX_NODES = 100_000  # stops alias "billion laughs" blow-ups
_BREAKS = ("\r\n", "\r", "\n", "\x85", "\u2028", "\u2029")  # what YAML counts as a line break
_BREAK_RE = re.compile("|".join(_BREAKS))


@dataclass
class Document:
    """The file as plain data, with what the walk learned about it."""

    data: dict[str, Any]
    lines: dict[KeyPath, int] = field(default_factory=dict)  # key path -> 1-based line
    from_environ: dict[KeyPath, tuple[str, ...]] = field(default_factory=dict)  # path -> variables used
    secrets: set[str] = field(default_factory=set)
    broken: set[KeyPath] = field(default_factory=set)  # values already reported; pydantic stays quiet there
    problems: list[ConfigProblem] = field(default_factory=list)


class _Fatal(Exception):
    """A problem that stops the walk: the rest of the document cannot be trusted."""

    def __init__(self, line: int | None, key: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.line, self.key, self.message, self.hint = line, key, message, hint


def line_count(text: str) -> int:
    count = sum(1 for _ in _line_breaks(text))
    return max(1, count + (0 if text.endswith(_BREAKS) else 1))


def _line_breaks(text: str) -> Iterator[int]:
    index = 0
    while index < len(text):
        char = text[index]
        if char in "\n\x85\u2028\u2029" or (char == "\r" and text[index + 1 : index + 2] != "\n"):
            yield index
        index += 1


def _line_text(text: str, line: int | None) -> str:
    lines = _BREAK_RE.split(text)
    return lines[line - 1] if line and line <= len(lines) else ""


def line_at(text: str, position: int) -> int:
    """1-based line of character ``position`` in ``text``."""
    return 1 + sum(1 for index in _line_breaks(text) if index < position)


def read(raw: bytes, file: str, environ: Mapping[str, str]) -> Document:
    """Parse ``raw`` into a ``Document``; raises ``ConfigError`` when there is no usable mapping."""

    def fatal(line: int | None, message: str, hint: str | None = None, key: str = "") -> ConfigError:
        return ConfigError([ConfigProblem(file, line, key, message, hint)])

    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fatal(
            raw[: exc.start].count(b"\n") + 1,
            f"is not UTF-8 text (byte 0x{raw[exc.start]:02x})",
            "save the file as UTF-8",
        ) from None
    last_line = line_count(text)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = min(mark.line + 1, last_line) if mark else None
        column = f" at column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "the file cannot be parsed"
        hint = _syntax_hint(exc, _line_text(text, line), last_line)
        raise fatal(line, f"invalid YAML{column}: {problem}", hint) from None
    except yaml.reader.ReaderError as exc:
        raise fatal(
            line_at(text, exc.position),
            f"invalid YAML: character {exc.character!r} is not allowed",
            "remove control characters",
        ) from None
    except yaml.YAMLError as exc:
        raise fatal(None, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise fatal(None, "invalid YAML: the document is nested too deeply") from None
    if root is None:
        raise fatal(
            None,
            "the file is empty",
            "start from the example in the README; `arxdeploy schema` describes service:, target:, environments:",
        )
    if not isinstance(root, yaml.MappingNode) or root.tag != _MAP_TAG:
        raise fatal(
            root.start_mark.line + 1,
            "the top level must be a mapping of keys like service:, target: and environments:",
        )
    walker = _Walker(file, environ)
    try:
        data = walker.mapping(root, (), 0)
    except _Fatal as exc:
        raise ConfigError([ConfigProblem(file, exc.line, exc.key, exc.message, exc.hint)]) from None
    walker.doc.data = data
    walker.doc.lines[()] = root.start_mark.line + 1
    return walker.doc


def _syntax_hint(exc: yaml.MarkedYAMLError, line_text: str, last_line: int) -> str | None:
    if exc.problem and "'\\t'" in exc.problem:
        return "indent with spaces, not tabs"
    if "${" in line_text and exc.problem and "'{'" in exc.problem:
        return 'inside [...] or {...} put quotes around values that use ${VAR}: "${VAR}"'

    if exc.context and exc.context_mark and exc.problem_mark and exc.context_mark.line != exc.problem_mark.line:
        return f"{exc.context} started on line {min(exc.context_mark.line + 1, last_line)}"
    return None


class _Walker:
    def __init__(self, file: str, environ: Mapping[str, str]) -> None:
        self.file = file
        self.environ = environ
        self.doc = Document(data={})
        self.budget = _MAX_NODES
        self.constructor = yaml.SafeLoader("")  # used only to turn scalar nodes into values

    def problem(
        self, path: KeyPath, line: int | None, message: str, hint: str | None = None, *, broken: bool = True
    ) -> None:
        """Record a problem; ``broken`` means the value at ``path`` was replaced and must not be judged again."""
        self.doc.problems.append(ConfigProblem(self.file, line, dotted(path), message, hint))
        if broken:
            self.doc.broken.add(path)

    def node(self, node: yaml.Node, path: KeyPath, depth: int) -> Any:
        self.budget -= 1
        line = node.start_mark.line + 1
        if self.budget < 0:
            raise _Fatal(
                line, dotted(path), "the document expands to too many values", "use fewer nested aliases (*name)"
            )
        if depth > _MAX_DEPTH:
            where = dotted(path[:_SHOWN_DEPTH]) + ("..." if len(path) > _SHOWN_DEPTH else "")
            raise _Fatal(
                line, where, "is nested too deeply", "an alias (*name) may refer to a mapping that contains it"
            )
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
            items = []
            for index, item in enumerate(node.value):
                self.doc.lines.setdefault((*path, index), item.start_mark.line + 1)
                items.append(self.node(item, (*path, index), depth + 1))
            return items
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
            return self.mapping(node, path, depth)
        self.problem(path, self.doc.lines.get(path, line), f"has an unsupported YAML tag {node.tag}", "remove the tag")
        return None

    def mapping(self, node: yaml.MappingNode, path: KeyPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        # ``<<: *defaults`` first, so keys written in the mapping itself win, with their own lines.
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                self._merge(result, value_node, path, depth)
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(path, line, "has a key that is a list or mapping; keys must be plain names", broken=False)
                continue
            key = key_node.value
            if _has_surrogate(key):
                self.problem(path, line, "has a key with a lone \\uD800-\\uDFFF escape", _SURROGATE_HINT, broken=False)
                continue
            if key in first_line:
                self.problem(
                    (*path, key),
                    line,
                    f"appears twice in this mapping (first on line {first_line[key]})",
                    "remove one of them",
                    broken=False,
                )
            first_line.setdefault(key, line)
            self.doc.lines[(*path, key)] = line  # of two equal keys the last wins, as in the data
            result[key] = self.node(value_node, (*path, key), depth + 1)
        return result

    def _merge(self, result: dict[str, Any], source: yaml.Node, path: KeyPath, depth: int) -> None:
        sources = source.value if isinstance(source, yaml.SequenceNode) else [source]
        for item in reversed(sources):  # in ``<<: [*a, *b]`` the earlier mapping wins
            if not isinstance(item, yaml.MappingNode):
                self.problem(
                    path, item.start_mark.line + 1, "has a merge key (<<) whose value is not a mapping", broken=False
                )
                continue
            result.update(self.mapping(item, path, depth + 1))

    def scalar(self, node: yaml.ScalarNode, path: KeyPath) -> Any:
        line = self.doc.lines.get(path, node.start_mark.line + 1)
        try:
            value = self.constructor.construct_object(node)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or "cannot be read"
            self.problem(path, line, f"has a value YAML cannot read: {problem}", "remove the tag or quote the value")
            return None
        except (ValueError, ArithmeticError):  # int() over 4300 digits, impossible dates, ...
            self.problem(path, line, "has a value YAML cannot read", "quote it if it is meant as text")
            return None
        if node.tag != _STR_TAG or not isinstance(value, str):
            return value
        if _has_surrogate(value):
            # Such text cannot be encoded anywhere later (messages, files, HTTP): stop it here.
            self.problem(path, line, "has a lone \\uD800-\\uDFFF escape, which is not a character", _SURROGATE_HINT)
            return None
        result = interpolate(value, self.environ)
        if result.from_environ:
            self.doc.from_environ[path] = result.from_environ
            self.doc.secrets.update(result.secrets)
        for name in result.missing:
            self.problem(
                path, line, f"uses ${{{name}}}, which is not set", f"export {name}, or write ${{{name}:-default}}"
            )
        if result.malformed:
            self.problem(path, line, "has a malformed ${...} reference", SYNTAX_HINT)
        return result.text


_SURROGATE_HINT = "write the character itself, or a \\U0001F600-style escape"


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)
