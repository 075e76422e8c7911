"""Streaming, safe parser for SupportSession / AccessSession ``session_list`` documents.

A response can be hundreds of MB, so it is never held as one tree: lxml ``iterparse`` fires on the end of each
top-level ``<session>`` (any namespace), the element is converted, serialised into ``Session.raw_xml``, then cleared
and the already-handled siblings are deleted. Entities are never expanded, no DTD is loaded, nothing is fetched.
"""
from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import BinaryIO, Iterator

from lxml import etree

from ic.errors import ApplianceAPIError, ParseError
from ic.sessions.convert import detect_product, session_from_element
from ic.sessions.model import Session
from ic.sessions.xmlutil import local, namespace, text

Source = str | os.PathLike | BinaryIO | bytes | bytearray

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def iter_sessions(
    xml: Source,
    /,
    source_name: str | None = None,
    product: str | None = None,
    *,
    source: str | None = None,
    huge_tree: bool = False,
) -> Iterator[Session]:
    """Yield every ``<session>`` of a session_list document, in document order.

    ``xml`` (first positional argument): a path, a binary file object, or bytes. ``source_name`` (or keyword
    ``source=``, the older contract spelling) names it in errors (default: the path or the file object's name).
    ``product``: "rs" / "pra" when the caller knows which report it asked for; None or "detect" detects it
    (``/sra/`` namespace or jumpoint/jump_group elements mean PRA).
    ``huge_tree`` lifts libxml2's per-node size limits (only for text nodes over 10 MB).

    Raises ApplianceAPIError for an ``<error>`` document and ParseError for malformed XML; a ParseError comes
    only after every session that was complete before the break has been yielded.
    """
    name = source_name or source or _name_of(xml)
    stream, owned = _open(xml, name)
    try:
        yield from _parse(stream, name, product, huge_tree)
    finally:
        if owned:
            stream.close()


def _parse(stream: BinaryIO, name: str, product: str | None, huge_tree: bool) -> Iterator[Session]:
    events = etree.iterparse(
        stream,
        events=("end",),
        tag="{*}session",
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=huge_tree,
        remove_comments=False,
    )
    found = 0
    pending_error: etree._Element | None = None
    try:
        for _, elem in events:
            if any(local(a.tag) == "session" for a in elem.iterancestors()):
                continue  # an element called "session" inside a session is content, not a session
            parent = elem.getparent()
            ns = namespace(elem.tag)
            _entities_to_text(elem)
            session = session_from_element(elem, detect_product(ns, elem, product), ns)
            session.raw_xml = standalone_document(elem, ns)
            elem.clear(keep_tail=False)
            while parent is not None and elem.getprevious() is not None:
                previous = parent[0]
                if local(previous.tag) == "error" and pending_error is None:
                    pending_error = previous
                del parent[0]
            found += 1
            yield session
    except etree.XMLSyntaxError as err:
        line = max(1, err.lineno or (err.position[0] if err.position else 0) or 0)
        detail = err.msg or str(err)
        if found == 0 and detail in ("no element found", "Document is empty"):
            detail = "the document is empty"
        detail = re.sub(r"(,? line \d+)+(, column \d+)?\s*$", "", detail).rstrip(" ,.")  # libxml2 repeats the position
        raise ParseError(f"{name} is not valid XML at line {line}: {detail}.", source=name, line=line) from None
    root = events.root
    if root is None:
        return
    if local(root.tag) == "error":
        raise _api_error(root)
    for child in root:
        if local(child.tag) == "error":
            pending_error = pending_error if pending_error is not None else child
    if pending_error is not None:
        raise _api_error(pending_error)
    if not found and local(root.tag) != "session_list":
        raise ParseError(
            f"{name} is not a session list (its root element is <{local(root.tag)}>).", source=name, line=1
        )


def _entities_to_text(elem: etree._Element) -> None:
    """Turn unexpanded entity references (only in hostile or odd documents) into literal text.

    The references are never resolved; this keeps ``raw_xml`` well-formed without the document's DTD.
    """
    entities = list(elem.iter(etree.Entity))
    for ent in entities:
        parent = ent.getparent()
        literal = (ent.text or "") + (ent.tail or "")
        previous = ent.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + literal
        else:
            parent.text = (parent.text or "") + literal
        ent.tail = None
        parent.remove(ent)


def standalone_document(elem: etree._Element, ns: str | None) -> bytes:
    """A complete XML document holding just this session, in the original namespace."""
    body = etree.tostring(elem, encoding="UTF-8", with_tail=False, xml_declaration=False)
    root = b"session_list"
    if ns and elem.prefix:
        # a prefixed document (<r:session ...>) keeps its prefix, so the copy re-parses to the same bytes
        root = elem.prefix.encode("utf-8") + b":session_list"
        open_tag = b"<" + root + b" xmlns:" + elem.prefix.encode("utf-8") + b'="' + _attr(ns).encode("utf-8") + b'">'
    elif ns:
        open_tag = b'<session_list xmlns="' + _attr(ns).encode("utf-8") + b'">'
    else:
        open_tag = b"<session_list>"
    return XML_DECLARATION + open_tag + body + b"</" + root + b">"


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


def _api_error(elem: etree._Element) -> ApplianceAPIError:
    message = " ".join((text(elem) or "").split()) or "The appliance returned an error without a message."
    return ApplianceAPIError(message, elem.get("code"))


def _name_of(source: Source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray)):
        return "session XML"
    name = getattr(source, "name", None)
    return name if isinstance(name, str) and name else "session XML"


def _open(source: Source, name: str) -> tuple[BinaryIO, bool]:
    if isinstance(source, (bytes, bytearray)):
        return io.BytesIO(bytes(source)), True
    if isinstance(source, (str, os.PathLike)):
        try:
            return open(Path(source), "rb"), True
        except OSError as err:
            raise ParseError(f"Session XML file {name} cannot be read: {err.strerror or err}.", source=name) from None
    if isinstance(source, io.TextIOBase):
        raise TypeError("iter_sessions needs a path or a binary file object, not a text file")
    return source, False
