"""What the simulator answers, independent of the HTTP plumbing."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

XML_TYPE = "text/xml; charset=UTF-8"


@dataclass
class Response:
    status: int
    content_type: str = XML_TYPE
    body: bytes = b""
    stream: Callable[[], Iterator[bytes]] | None = None  # large bodies: chunk generator, with ``length``
    length: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    xml: bool = False  # a reporting XML document (subject to the truncated_xml fault)
    error_doc: bool = False  # an <error> document

    @property
    def content_length(self) -> int:
        return self.length if self.stream is not None and self.length is not None else len(self.body)

    def chunks(self) -> Iterator[bytes]:
        if self.stream is not None:
            yield from self.stream()
        elif self.body:
            yield self.body


def json_response(status: int, payload: dict, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, "application/json", json.dumps(payload).encode(), headers=headers or [])


ACCESS_DENIED = {"error": "access_denied", "message": "The resource owner or authorization server denied the request."}
