"""Reading the command API's ``get_api_info`` answer: the API account's permissions and the appliance clock.

Documented [V]: ``/api/command?action=get_api_info`` answers XML with ``api_version``, ``timestamp`` and
``permissions`` (perm_backup 1/0, perm_command deny|read_only|full_access, perm_reporting (PRA),
perm_reporting_support (RS), ...). The exact shape of one permission is UNCONFIRMED [U]: the docs name the path
``/get_api_info/permissions/permission`` and list ``perm_*`` names, so all of these are read:

    <permissions><perm_backup>1</perm_backup>...</permissions>
    <permissions><permission name="perm_backup" value="1"/>...</permissions>
    <permissions><permission name="perm_backup">1</permission>...</permissions>

The JSON command API (v2) describes the same account [V: "information about the permissions of the current API
Account"]; its path and field layout are UNCONFIRMED [U], so ``{"permissions": {"perm_backup": true}}``, a list of
``{"name": .., "value": ..}`` and permissions at the top level are all accepted.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from lxml import etree

from ic.appliance import documents as docs

JSON_V2_PATH = "/api/command/v2/api-info"  # [U] tried only when the XML command API is not there (HTTP 404)

_TRUE = {"1", "true", "yes", "full_access", "read_only", "allow", "allowed", "enabled"}
_FALSE = {"0", "false", "no", "deny", "denied", "none", "disabled", ""}


@dataclass
class ApiInfo:
    permissions: dict[str, str] = field(default_factory=dict)  # perm name (lower case, no namespace) -> raw value
    api_version: str | None = None
    timestamp: int | None = None
    shape: str = "xml"  # "xml" | "json": which answer it came from

    def allows(self, *names: str) -> bool | None:
        """True/False from the first of ``names`` present; None when the appliance does not say."""
        for name in names:
            value = self.permissions.get(name.lower())
            if value is None:
                continue
            text = value.strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            return None  # an unknown word: do not guess
        return None


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None:
        return ""
    return str(value)


def _timestamp(text: object) -> int | None:
    try:
        value = int(str(text).strip())
    except (TypeError, ValueError):
        return None
    return value if 0 < value < 10**11 else None  # absurd values are ignored, never trusted


def from_xml(root: etree._Element) -> ApiInfo:
    info = ApiInfo(shape="xml")
    for node in root.iter():
        name = docs.local_name(node.tag)
        if name == "api_version" and node.text:
            info.api_version = node.text.strip()
        elif name == "timestamp" and info.timestamp is None:
            info.timestamp = _timestamp(node.text)
        elif name == "permission":
            key = node.get("name") or node.get("perm_name") or node.get("id")
            if key:
                value = node.get("value")
                info.permissions[key.strip().lower()] = _value(value if value is not None else (node.text or ""))
        elif name.startswith("perm_"):
            info.permissions[name.lower()] = _value((node.text or node.get("value") or "").strip())
    return info


def from_json(doc: object) -> ApiInfo:
    info = ApiInfo(shape="json")
    if not isinstance(doc, dict):
        return info
    body = doc.get("api_info") if isinstance(doc.get("api_info"), dict) else doc
    info.api_version = _value(body.get("api_version")) or None
    info.timestamp = _timestamp(body.get("timestamp"))
    perms = body.get("permissions")
    if isinstance(perms, dict):
        items = list(perms.items())
    elif isinstance(perms, list):
        items = [(p.get("name"), p.get("value")) for p in perms if isinstance(p, dict)]
    else:
        items = [(k, v) for k, v in body.items() if str(k).startswith("perm_")]
    for key, value in items:
        if key and not isinstance(value, (dict, list)):
            info.permissions[str(key).strip().lower()] = _value(value)
    return info


def parse(body: bytes, content_type: str | None, host: str) -> ApiInfo:
    """Either shape; raises MalformedResponse when the answer is neither."""
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if "json" in (content_type or "").lower() or stripped[:1] in (b"{", b"["):
        try:
            return from_json(json.loads(stripped.decode("utf-8")))
        except (ValueError, UnicodeDecodeError):
            pass
    root = docs.parse(stripped, host, "get_api_info")
    err = docs.error_in(root)
    if err:
        docs.raise_api_error(err, host)
    return from_xml(root)
