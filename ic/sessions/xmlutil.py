"""Small namespace-agnostic helpers over lxml elements (the appliance uses several namespaces, or none)."""
from __future__ import annotations

import copy
import math
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
    """(local name, child) for element children only (comments, PIs and entities skipped in C)."""
    out = []
    for c in elem.iterchildren(tag=etree.Element):
        tag = c.tag
        out.append((tag[tag.find("}") + 1:], c))
    return iter(out)


def child(elem: etree._Element, name: str) -> etree._Element | None:
    for n, c in children(elem):
        if n == name:
            return c
    return None


XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def is_nil(elem: etree._Element) -> bool:
    """``xsi:nil="true"``: the element stands for "no value" (real session lists declare the xsi namespace)."""
    value = elem.get(XSI_NIL)
    return value is not None and value.strip().lower() in ("true", "1")


def text(elem: etree._Element | None) -> str | None:
    """Text content as sent (None if the element is absent or xsi:nil). Unexpanded entity references stay literal."""
    if elem is None:
        return None
    nil = elem.get(XSI_NIL)
    if nil is not None and nil.strip().lower() in ("true", "1"):
        return None
    if len(elem) == 0:
        return elem.text or ""
    return "".join(elem.itertext())


def child_text(elem: etree._Element, name: str) -> str | None:
    return text(child(elem, name))


def to_int(value: str | None) -> int | None:
    """Integer or None for absent / empty / non-numeric / non-finite values (never fatal)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        try:
            number = float(value)
        except ValueError:
            return None
        if number != number or number in (math.inf, -math.inf):
            return None  # nan, inf, 1e400 (and integers too long to read): no value
        return int(number)


def to_bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "y")


def iso_to_unix(value: str | None) -> int | None:
    """Unix seconds from ISO-8601 text such as ``2024-06-18T10:10:00+00:00`` or ``...Z`` (naive text is UTC)."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value[-1:] in ("z", "Z"):
        value = value[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp())


def unix_value(value: str | None) -> int | None:
    """Unix seconds from an attribute value: an integer (the appliance's form) or ISO-8601 text."""
    ts = to_int(value)
    if ts is not None:
        return ts
    return iso_to_unix(value)


def time_attr(elem: etree._Element) -> int | None:
    """Unix seconds from @timestamp (integer or ISO text), else the older @ts; None when neither is usable."""
    for name in ("timestamp", "ts"):
        ts = unix_value(elem.get(name))
        if ts is not None:
            return ts
    return None


def time_of(elem: etree._Element | None) -> int | None:
    """Unix seconds from @timestamp (or @ts), falling back to the ISO text; None when absent, empty or nil."""
    if elem is None or is_nil(elem):
        return None
    ts = time_attr(elem)
    if ts is not None:
        return ts
    return iso_to_unix(text(elem))


def serialize_plain(elem: etree._Element) -> str:
    """The element as XML text without namespaces (for storage columns and ``extra``), tail excluded."""
    tag = elem.tag
    if isinstance(tag, str) and not elem.prefix:
        # fast path: one default namespace (or none) for the whole subtree -> lxml writes one declaration, on the
        # top element; drop it. Anything else (prefixes, other namespaces) takes the general path below.
        out = etree.tostring(elem, encoding="unicode", with_tail=False)
        ns = namespace(tag)
        if ns:
            decl = ' xmlns="' + ns.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;") + '"'
            end = out.find(">")
            at = out.find(decl, 0, end)
            if at >= 0:
                out = out[:at] + out[at + len(decl):]
        if "xmlns" not in out:
            return out
    dup = copy.deepcopy(elem)
    for e in dup.iter():
        if isinstance(e.tag, str) and e.tag.startswith("{"):
            e.tag = local(e.tag)
    etree.cleanup_namespaces(dup)
    dup.tail = None
    return etree.tostring(dup, encoding="unicode", with_tail=False)
