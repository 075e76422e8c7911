"""A complete third-party destination plugin in one module: sessions as JSON Lines in one file.

Installed through the entry point group ``integration_client.destinations`` (see docs/PLUGINS.md), e.g. in
pyproject.toml:

    [project.entry-points."integration_client.destinations"]
    jsonl = "ic_jsonl_destination:JsonLinesDestination"
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

from ic.destinations.base import Destination, FieldSpec
from ic.errors import DestinationError
from ic.sessions.model import Session


class JsonLinesDestination(Destination):
    type_name = "jsonl"
    display_name = "JSON Lines file"
    accepts_files = False  # session data only: schedules refuse to send recordings or backups here

    @classmethod
    def fields(cls) -> list[FieldSpec]:
        return [FieldSpec("path", "Output File", required=True, help="one JSON object per session")]

    @classmethod
    def validate(cls, config: dict) -> dict[str, str]:
        problems = super().validate(config)  # required fields
        if not problems and not str(config["path"]).endswith(".jsonl"):
            problems["path"] = "Output File must end with .jsonl."
        return problems

    @property
    def path(self) -> Path:
        return Path(self.config["path"])

    def test(self) -> str:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.path.parent, prefix=".probe-"):
                pass
        except OSError as exc:
            raise DestinationError(f"Destination {self.name} cannot write in {self.path.parent}: {exc.strerror}.") from None
        return f"{self.path.parent} is writable."

    def store_sessions(self, site_host: str, sessions: Iterable[Session]) -> int:
        # upsert on (site host, lsid): storing a session again replaces its line
        records: dict[tuple[str, str], dict] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                rec = json.loads(line)
                records[(rec["site_host"], rec["lsid"])] = rec
        count = 0
        for s in sessions:
            records[(site_host, s.lsid)] = {
                "site_host": site_host, "lsid": s.lsid, "start_time": s.start_time, "end_time": s.end_time,
                "external_key": s.external_key, "events": [e.event_type for e in s.events],
            }
            count += 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".part-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:  # whole file or nothing: write a temp file, then rename
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records.values())
        os.replace(tmp, self.path)
        return count
