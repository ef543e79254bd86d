"""Reading YAML configs safely: plain data only, and bounded in size before anything is built.

PyYAML's safe loader constructs no objects, but it does expand aliases: a
handful of nested anchors (a "billion laughs" document) stands for billions of
values, and everything that later walks the config (checks, copies, error
messages) walks the expansion. Deeply nested brackets overflow the recursion
limit. So the document is composed into YAML's node graph first and measured
there, where shared nodes are counted once per use without expanding them:
a config whose expansion or depth passes a bound that no real config comes
near is refused with a config error, before one value is constructed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from autoglm.core.errors import ConfigError

#: A config file larger than this is not a config (the shipped examples are under 2 KiB).
MAX_FILE_BYTES = 1 << 20
#: Values (mappings, lists and scalars, aliases expanded) one config may stand for.
MAX_NODES = 100_000
#: Nesting depth of mappings and lists (a real config nests about 5 deep).
MAX_DEPTH = 50


class _StrictSafeLoader(yaml.SafeLoader):
    """The safe loader, but a key repeated in one mapping is an error instead of last-one-wins."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key].line + 1})", key_node.start_mark
                )
            try:
                seen[key] = key_node.start_mark
            except TypeError:  # unhashable key: let PyYAML report it
                pass
        return super().construct_mapping(node, deep=deep)


class DocumentTooLarge(ValueError):
    """The document's expansion or nesting passes :data:`MAX_NODES` / :data:`MAX_DEPTH`."""


def yaml_problem(exc: yaml.YAMLError) -> tuple[str, str | None]:
    """A one-line description and a 'line L, column C' location of a YAML error."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return problem, where


def measure(root: yaml.Node) -> tuple[int, int]:
    """(values, depth) the node graph stands for once aliases are expanded; raises DocumentTooLarge.

    Iterative and memoised per node, so it costs one visit per distinct node
    however often an alias repeats it, and never recurses.
    """
    sizes: dict[int, tuple[int, int]] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes and not children_done:
            continue
        children = _children(node)
        if not children_done:
            if key in on_path:
                raise DocumentTooLarge("an alias refers to the value that contains it (a recursive config)")
            on_path.add(key)
            stack.append((node, True))
            for child in children:
                if id(child) in on_path:
                    raise DocumentTooLarge("an alias refers to the value that contains it (a recursive config)")
                if id(child) not in sizes:
                    stack.append((child, False))
            if len(on_path) > MAX_DEPTH:
                raise DocumentTooLarge(f"values nest more than {MAX_DEPTH} deep")
            continue
        on_path.discard(key)
        total = 1 + sum(sizes[id(child)][0] for child in children)
        depth = 1 + max((sizes[id(child)][1] for child in children), default=0)
        if total > MAX_NODES:
            raise DocumentTooLarge(
                f"it stands for more than {MAX_NODES:,} values once its aliases (*name) are expanded"
            )
        if depth > MAX_DEPTH:
            raise DocumentTooLarge(f"values nest more than {MAX_DEPTH} deep")
        sizes[key] = (total, depth)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def safe_load(text: str) -> Any:
    """YAML's safe loader with duplicate keys refused and the document's size bounded.

    Never constructs arbitrary objects. Raises ``yaml.YAMLError`` for malformed
    text and :class:`DocumentTooLarge` for a document past the bounds.
    """
    loader = _StrictSafeLoader(text)  # a SafeLoader subclass: plain data only
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise DocumentTooLarge(f"values nest more than {MAX_DEPTH} deep") from None
        if node is None:
            return None
        measure(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Load a YAML config file; every failure becomes a ConfigError naming the file."""
    from autoglm.core.config import SECTIONS

    source = str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError("config file not found", source=source) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a YAML config file", source=source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror or exc}", source=source) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"the file is larger than {MAX_FILE_BYTES // 1024} KiB: not a config", source=source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read config file: not UTF-8 text (byte {exc.start}); is it a config?", source=source) from None
    try:
        document = safe_load(text)
    except yaml.YAMLError as exc:
        problem, where = yaml_problem(exc)
        raise ConfigError(f"malformed YAML: {problem}", source=source, path=where) from None
    except DocumentTooLarge as exc:
        raise ConfigError(f"refused: {exc}; real configs are far smaller", source=source) from None
    if document is None:
        raise ConfigError("the config file is empty; see examples/quickstart.yaml", source=source)
    if not isinstance(document, dict):
        raise ConfigError(
            f"the config must be a mapping of sections ({', '.join(SECTIONS)}), got a {type(document).__name__}",
            source=source,
        )
    return document
