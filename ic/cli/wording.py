"""Error sentences on the command line name the command that fixes the problem, not a window menu.

The services speak to both front ends; a sentence such as "add it under Site Configuration" is right in the window
and is turned here into "add it with: IntegrationClient site add NAME --host HOST --client-id ID".
"""
from __future__ import annotations

import re

PROG = "IntegrationClient"

_REPLACEMENTS: list[tuple[str, str]] = [
    (r"add it under Site Configuration", f"add it with: {PROG} site add NAME --host HOST --client-id ID "
                                         f"(list them with: {PROG} site list)"),
    (r"add it under Plugin Configuration", f"add it with: {PROG} destination add NAME --type folder|sql ... "
                                           f"(list them with: {PROG} destination list)"),
    (r"add it under Schedule Configuration", f"add it with: {PROG} schedule add NAME --site SITE --destination DEST "
                                             f"(list them with: {PROG} schedule list)"),
    (r"add one under Schedule Configuration", f"add one with: {PROG} schedule add-transfer NAME --site SITE "
                                              f"--destination DEST"),
    (r"(?:choose|set) (?:one|it) under Setup > Settings Database", f"give it with --settings URL or create it with: "
                                                                  f"{PROG} settings create"),
    (r"under Application Settings", f"with: {PROG} settings set KEY VALUE"),
    (r"under Notification Settings", f"with: {PROG} notify set ..."),
    (r"(?:in|under) Site Configuration", f"with: {PROG} site edit NAME ..."),
    (r"(?:in|under) Plugin Configuration", f"with: {PROG} destination edit NAME ..."),
    (r"(?:in|under) Schedule Configuration", f"with: {PROG} schedule ..."),
]


def for_command_line(sentence: str) -> str:
    """The same sentence, with window directions replaced by the command to run."""
    for pattern, replacement in _REPLACEMENTS:
        sentence = re.sub(pattern, replacement, sentence)
    return sentence
