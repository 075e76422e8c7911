"""Reading the appliance's XML answers safely: error documents, empty results, listings.

Namespaces differ between products and versions (bomgar.com, beyondtrust.com, .../sra/...), so everything is matched
by local name. The parser never resolves entities, loads DTDs or touches the network.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from ic.digestset import DigestSet
from ic.errors import ApplianceAPIError, AuthenticationFailed, MalformedResponse, RecordingUnavailable, UnknownSession

_NO_DATA_RE = re.compile(r"^\s*no\b.*\bfound for the given search criteria\.?\s*$", re.IGNORECASE | re.DOTALL)
_UNAVAILABLE_RE = re.compile(
    r"expired|no longer|not found|no \w+( \w+)? found|does not exist|not available|no recording", re.IGNORECASE
)
_UNKNOWN_LSID_RE = re.compile(r"^\s*invalid\s+lsids?\b", re.IGNORECASE)
_UNKNOWN_REPORT_RE = re.compile(r"report|generate_report|not (a )?valid|invalid|unknown|unsupported", re.IGNORECASE)


def safe_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
        remove_comments=True, remove_pis=True,
    )


def local_name(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def parse(body: bytes, host: str, what: str) -> etree._Element:
    try:
        root = etree.fromstring(body.lstrip(b"\xef\xbb\xbf \t\r\n"), safe_parser())
    except etree.XMLSyntaxError:
        raise MalformedResponse(f"The appliance at {host} sent an incomplete or invalid XML answer to {what}.") from None
    if root is None:
        raise MalformedResponse(f"The appliance at {host} sent an empty answer to {what}.")
    return root


@dataclass
class ErrorDoc:
    message: str
    code: str | None


def error_in(root: etree._Element) -> ErrorDoc | None:
    """The error a document carries: a root <error>, or an <error> child of the expected root."""
    node = None
    if local_name(root.tag) == "error":
        node = root
    else:
        for child in root:
            if local_name(child.tag) == "error":
                node = child
                break
    if node is None:
        return None
    message = " ".join("".join(node.itertext()).split()) or "the appliance reported an unspecified error"
    return ErrorDoc(message, node.get("code"))


def is_no_data(message: str) -> bool:
    """'No sessions found for the given search criteria.' means an empty result, not a failure."""
    return bool(_NO_DATA_RE.match(message))


def looks_like_unknown_report(message: str) -> bool:
    return bool(_UNKNOWN_REPORT_RE.search(message))


# <error code="..."> values that mean the API account's credentials were refused (real PRA cloud output answers
# HTTP 200 <error code="authentication_failed">Authentication failed. Please check your credentials.</error>).
_AUTH_CODES = frozenset({"authentication_failed"})


def raise_api_error(err: ErrorDoc, host: str, recording: bool = False) -> None:
    text = err.message.rstrip(".")
    if (err.code or "").strip().lower() in _AUTH_CODES:
        raise AuthenticationFailed(
            f"The appliance at {host} refused the API account ({text}); check the site's client ID and secret."
        )
    if _UNKNOWN_LSID_RE.match(err.message):  # the session aged out or never existed (details or recording)
        raise UnknownSession(f"The appliance at {host} does not know the session asked for ({text}); it may have "
                             "aged out.", err.code)
    if recording and _UNAVAILABLE_RE.search(err.message):
        raise RecordingUnavailable(f"The appliance at {host} says: {text}.", err.code)
    raise ApplianceAPIError(f"The appliance at {host} answered with an error: {text}.", err.code)


def root_name_from_prefix(prefix: bytes) -> str | None:
    """Local name of the first element in the first bytes of a document (None if it is not XML-looking)."""
    text = prefix.lstrip(b"\xef\xbb\xbf \t\r\n")
    pos = 0
    while True:
        start = text.find(b"<", pos)
        if start < 0:
            return None
        if text.startswith(b"<?", start):
            closer = b"?>"
        elif text.startswith(b"<!--", start):
            closer = b"-->"
        elif text.startswith(b"<!", start):
            closer = b">"
        else:
            if start and text[pos:start].strip():
                return None  # text before the first tag: not an XML document
            m = re.match(rb"<([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)", text[start:])
            return m.group(2).decode("ascii") if m else None
        end = text.find(closer, start)
        if end < 0:
            return None
        pos = end + len(closer)


def summaries_from(root: etree._Element) -> list[tuple[str, bool, str | None]]:
    """(lsid, has_recording, external_key) for each <session_summary>, in order, without duplicates."""
    seen: set[str] = set()
    out: list[tuple[str, bool, str | None]] = []
    for node in root.iter():
        if local_name(node.tag) != "session_summary":
            continue
        lsid, rec, key = _summary(node)
        if not lsid or lsid in seen:
            continue
        seen.add(lsid)
        out.append((lsid, rec, key))
    return out


def _summary(node: etree._Element) -> tuple[str, bool, str | None]:
    """(lsid, has_recording, external_key) of one <session_summary> (the key as attribute or child element)."""
    lsid = (node.get("lsid") or "").strip()
    rec = (node.get("has_recording") or "").strip().lower() in ("1", "true", "yes")
    key = node.get("external_key")
    if key is None:
        for child in node:
            if local_name(child.tag) == "external_key":
                key = (child.text or "").strip()
                break
    return lsid, rec, key or None


def scan_listing(path, host: str, what: str) -> tuple[str, ErrorDoc | None]:
    """One streaming pass over a listing on disk: (root local name, its <error> if any). Malformed or cut-short XML
    raises MalformedResponse (the caller asks again). Memory stays flat whatever the size."""
    root_name, err = "", None
    try:
        for event, node in etree.iterparse(str(path), events=("start", "end"), resolve_entities=False,
                                           no_network=True, load_dtd=False, huge_tree=True, remove_comments=True,
                                           remove_pis=True):
            if event == "start":
                if not root_name:
                    root_name = local_name(node.tag)
                continue
            parent = node.getparent()
            if parent is None:
                if root_name == "error":
                    err = error_in(node)
                continue
            if parent.getparent() is None:  # a child of the root: look at it, then drop it
                if local_name(node.tag) == "error" and err is None:
                    err = ErrorDoc(" ".join("".join(node.itertext()).split())
                                   or "the appliance reported an unspecified error", node.get("code"))
                node.clear(keep_tail=False)
                while node.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError:
        raise MalformedResponse(f"The appliance at {host} sent an incomplete or invalid XML answer to {what}.") from None
    if not root_name:
        raise MalformedResponse(f"The appliance at {host} sent an empty answer to {what}.")
    return root_name, err


def iter_summaries(path, seen=None):
    """(lsid, has_recording, external_key) for each <session_summary> of a listing on disk, in order, streamed;
    an lsid already in ``seen`` (a set of 128-bit digests; by default a compact DigestSet, 16 bytes per row: flat
    memory for millions of rows) is skipped."""
    import hashlib

    if seen is None:
        seen = DigestSet()

    for _, node in etree.iterparse(str(path), events=("end",), tag="{*}session_summary", resolve_entities=False,
                                   no_network=True, load_dtd=False, huge_tree=True):
        lsid, rec, key = _summary(node)
        parent = node.getparent()
        node.clear(keep_tail=False)
        if parent is not None:
            while node.getprevious() is not None:
                del parent[0]
        if not lsid:
            continue
        digest = int.from_bytes(hashlib.blake2b(lsid.encode("utf-8"), digest_size=16).digest(), "big")
        if digest in seen:
            continue
        seen.add(digest)
        yield lsid, rec, key
