"""Small namespace-agnostic helpers over lxml elements (the appliance uses several namespaces, or none)."""
from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Iterator

from lxml import etree


def local(tag: object) -> str:
    """Local name of an element tag ("{ns}name" -> "name"); "" for comments, PIs and entity nodes."""
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def namespace(tag: object) -> str:
    if isinstance(tag, str) and tag.startswith("{"):
        return tag[1:].partition("}")[0]
    return ""


def children(elem: etree._Element) -> Iterator[tuple[str, etree._Element]]:
    """(local name, child) for element children only."""
    for child in elem:
        name = local(child.tag)
        if name:
            yield name, child


def child(elem: etree._Element, name: str) -> etree._Element | None:
    for n, c in children(elem):
        if n == name:
            return c
    return None


def text(elem: etree._Element | None) -> str | None:
    """Text content as sent (None if the element is absent). Unexpanded entity references stay literal."""
    if elem is None:
        return None
    if len(elem) == 0:
        return elem.text or ""
    return "".join(elem.itertext())


def child_text(elem: etree._Element, name: str) -> str | None:
    return text(child(elem, name))


def to_int(value: str | None) -> int | None:
    """Integer or None for absent / empty / non-numeric values (never fatal)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        try:
            return int(float(value))
        except ValueError:
            return None


def to_bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "y")


def iso_to_unix(value: str | None) -> int | None:
    """Unix seconds from ISO-8601 text such as ``2024-06-18T10:10:00+00:00`` (naive text is taken as UTC)."""
    if not value or not value.strip():
        return None
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp())


def time_of(elem: etree._Element | None) -> int | None:
    """Unix seconds from @timestamp, falling back to the ISO text; None when absent or empty."""
    if elem is None:
        return None
    ts = to_int(elem.get("timestamp"))
    if ts is not None:
        return ts
    return iso_to_unix(text(elem))


def serialize_plain(elem: etree._Element) -> str:
    """The element as XML text without namespaces (for storage columns and ``extra``), tail excluded."""
    dup = copy.deepcopy(elem)
    for e in dup.iter():
        if isinstance(e.tag, str) and e.tag.startswith("{"):
            e.tag = local(e.tag)
    etree.cleanup_namespaces(dup)
    dup.tail = None
    return etree.tostring(dup, encoding="unicode", with_tail=False)
