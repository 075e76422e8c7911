"""Deterministic fake session data: the same (seed, product, anchor, count) always gives the same sessions.

Only the cheap "core" of each session (lsid, times, recordings, external key) is built up front, so listings of
thousands of sessions are instant; the detailed content (people, events) is built on demand from a per-session
random generator (see ``details``), and the XML rendering is cached by the server.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

DAY = 86_400

# external keys that exercise file-name handling (%EXTERNAL_KEY%) and XML escaping
HOSTILE_KEYS = (
    "..\\..\\Windows",
    "CON",
    ("K" + "0123456789abcdefghijklmnopqrstuvwxyz" * 9)[:296] + "-END",  # 300 characters
    "a/b:c*d?e\"f<g>h|i",
    "  padded key  ",
    "チケット-42 é",
    "<&'\">",
)
HOSTILE_AT = {3: 0, 5: 1, 7: 2, 11: 3, 13: 4, 17: 5, 19: 6}  # index -> HOSTILE_KEYS position (also for small sets)

CHAT_LINES = (
    "Hi, I am taking a look now.",
    "Merci, c'est réglé ! Très bien.",
    "日本語のテキストも大丈夫です。",
    "Thanks 👍 that fixed it 🎉",
    "Can you reboot & try again? <it's safe>",
    "Ünïcödé ñ ß Ω ≠ ∞",
)
CONTROL_CHAT = "Pasted log line:\x07\x1b[0m done"  # XML-invalid characters -> <encoded_body>

COMPANIES = ("Example Corp", "Société Générale d'Essai", "北海道テック", "ACME & Sons", "Initech")
ISSUES = ("Printer not working", "VPN drops", "Outlook crash", "Slow laptop", "Password reset")
OSES = (
    "Windows 11 Enterprise x64 (23H2)",
    "Windows 10 Enterprise x64 (22H2)",
    "macOS 14.5",
    "Ubuntu 22.04.4 LTS",
    "Windows Server 2022 Standard x64",
)
FIRST = ("Jane", "José", "Amélie", "Ola", "Yuki", "Omar", "Priya", "Lars", "Zoë", "Chen")
LAST = ("Customer", "Álvarez", "Dubois", "Nordmann", "山田", "Haddad", "Sharma", "Ørsted", "Smith", "Li")
REPS = (
    (7, "arep", "Alex Rep", "Alex"),
    (8, "bsmith", "Bea Smith", "Bea"),
    (9, "cjones", "Carlos Jónes", "Carlos"),
    (10, "dkim", "Dana Kim", "Dana"),
    (11, "eyamada", "江美 山田", "Emi"),
    (12, "fmartin", "François Martin", "François"),
)
TEAMS = ((1, "Tier 1"), (2, "Tier 2 – Desktop"), (3, "Infrastructure"))
JUMPOINTS = ((1, "HQ Jumpoint"), (2, "DMZ Jumpoint"), (3, "Branch-Øslo"))
JUMP_GROUPS = (("shared", 1, "Servers"), ("shared", 2, "Network gear"), ("personal", 7, "Alex Rep"))
UNKNOWN_EVENT = "Quantum Flux Calibrated"  # an event type no client knows: must be kept, not dropped


@dataclass
class SimSession:
    """The core of one simulated session; ``end_time`` is None while it is in progress."""

    index: int
    lsid: str
    lseq: int
    start_time: int
    end_time: int | None
    external_key: str
    recording: bool  # a screen-sharing recording was made
    shell_instances: int  # number of command shell recordings
    smsr_instances: int  # number of Show My Screen recordings (RS only)
    product: str = "rs"
    empty_end_element: bool = False  # in progress: emit <end_time/> instead of omitting it

    @property
    def in_progress(self) -> bool:
        return self.end_time is None

    @property
    def has_recording(self) -> bool:
        """What the listing's has_recording says: a screen recording exists and can be downloaded."""
        return self.recording and self.end_time is not None

    def recording_instances(self, kind: str) -> int:
        """How many recordings of ``kind`` ("recordings", "smsr", "shell") can be downloaded now."""
        if self.end_time is None:
            return 0
        return {"recordings": 1 if self.recording else 0, "smsr": self.smsr_instances, "shell": self.shell_instances}[
            kind
        ]


def make_lsid(seed: int, product: str, index: int) -> str:
    return hashlib.sha256(f"ic-sim:{seed}:{product}:{index}".encode()).hexdigest()[:32]


def session_rng(seed: int, product: str, index: int, purpose: str) -> random.Random:
    return random.Random(f"{seed}:{product}:{index}:{purpose}")


def generate(count: int, seed: int, product: str, anchor: int, in_progress: int) -> list[SimSession]:
    """``count`` sessions ordered by start time; closed ones end within the 60 days before ``anchor``."""
    in_progress = max(0, min(in_progress, count))
    raw: list[SimSession] = []
    prev_end: int | None = None
    for index in range(count):
        rng = session_rng(seed, product, index, "core")
        length = rng.choice((rng.randint(20, 600), rng.randint(600, 3600), rng.randint(3600, 4 * 3600)))
        if index >= count - in_progress:
            start = anchor - rng.randint(60, 7200)
            end: int | None = None
        else:
            end = anchor - rng.randint(1800, 60 * DAY)
            if index % 25 == 1 and prev_end is not None:
                end = prev_end  # two sessions ending in the same second: the inclusive-boundary case
            start = end - length
            prev_end = end
        raw.append(_core(seed, product, index, rng, start, end))
    raw.sort(key=lambda s: (s.start_time, s.index))
    lseq = 1000 + seed % 1000
    for pos, s in enumerate(raw):
        if not (pos % 17 == 5):  # lseq is NOT unique: now and then repeat the previous one
            lseq += 1 + (1 if pos % 7 == 0 else 0)
        s.lseq = lseq
    return raw


def make_new(seed: int, product: str, index: int, now: int, lseq: int) -> SimSession:
    """A session added while running: it ends ``now`` (appliance clock)."""
    rng = session_rng(seed, product, index, "core")
    s = _core(seed, product, index, rng, now - rng.randint(60, 3600), now)
    s.lseq = lseq
    return s


def _core(seed: int, product: str, index: int, rng: random.Random, start: int, end: int | None) -> SimSession:
    if index in HOSTILE_AT:
        key = HOSTILE_KEYS[HOSTILE_AT[index]]
    elif rng.random() < 0.45:
        key = ""
    else:
        key = f"INC{rng.randint(0, 9_999_999):07d}"
    recording = index % 5 != 4 and rng.random() < 0.75  # has a screen recording
    shells = rng.choice((0, 0, 0, 1, 1, 2, 3)) if index % 3 == 0 else 0
    smsr = (rng.choice((1, 1, 2)) if index % 7 == 2 else 0) if product == "rs" else 0
    return SimSession(
        index=index,
        lsid=make_lsid(seed, product, index),
        lseq=0,
        start_time=start,
        end_time=end,
        external_key=key,
        recording=recording,
        shell_instances=shells,
        smsr_instances=smsr,
        product=product,
        empty_end_element=end is None and index % 2 == 0,
    )


# ---------------------------------------------------------------------------------------------------------------
# details: people and events, built on demand


@dataclass
class Person:
    kind: str  # "customer" | "representative"
    gsnumber: int
    name: str
    user_id: int | None = None
    username: str = ""
    public_display_name: str = ""
    company: str = ""
    company_code: str = ""
    issue: str = ""
    issue_id: int | None = None  # the issue's numeric ID (sent as <issue id="n">) [U]
    details: str = ""
    public_ip: str = ""
    private_ip: str = ""
    hostname: str | None = ""
    os: str = ""
    primary: bool = False
    owner: bool = False
    seconds_involved: int = 0
    invited: bool = False
    display_number: str = ""  # the representative's display number (user.display_number)


@dataclass
class Event:
    timestamp: int
    event_type: str
    performed_by: tuple[str, int | None, str] | None = None  # (type, gsnumber, text)
    destination: tuple[str, int | None, str] | None = None
    body: str | None = None
    filename: str | None = None
    filesize: int | None = None
    files: list[tuple[str, int]] = field(default_factory=list)
    data: list[tuple[str, str]] = field(default_factory=list)
    system_information: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)


@dataclass
class Details:
    custom_attributes: list[tuple[str, str, str]]
    file_transfer_count: int
    file_move_count: int
    file_delete_count: int
    customers: list[Person]
    reps: list[Person]
    team: tuple[int, str] | None
    jumpoint: tuple[int, str] | None
    jump_group: tuple[str, int, str] | None
    events: list[Event]
    public_site: tuple[int, str] = (1, "Default")


def details(s: SimSession, seed: int, now: int) -> Details:
    """Everything else about a session, deterministic for (seed, product, index) and the session's times."""
    rng = session_rng(seed, s.product, s.index, "detail")
    end = s.end_time if s.end_time is not None else max(s.start_time, now)
    span = max(1, end - s.start_time)
    pra = s.product == "pra"

    attrs: list[tuple[str, str, str]] = []
    if rng.random() < 0.5:
        attrs.append(("ticket_priority", "Ticket Priority", rng.choice(("P1", "P2", "P3"))))
        if rng.random() < 0.5:
            attrs.append(("cost_centre", "Cost Centre", f"CC-{rng.randint(100, 999)} Ünit"))

    customers: list[Person] = []
    for n in range(1 if rng.random() < 0.8 else 2):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        host = f"HOST-{rng.randint(1, 9999):04d}" if not pra else f"srv-{rng.randint(1, 999):03d}.corp.example"
        ipv6 = rng.random() < 0.2
        customers.append(
            Person(
                kind="customer",
                gsnumber=3 + n,
                name=host if pra else name,
                username=name.split()[0].lower(),
                company=rng.choice(COMPANIES),
                company_code=f"EX{rng.randint(1, 99):02d}",
                issue=(issue := rng.choice(ISSUES)),
                issue_id=ISSUES.index(issue) + 1,
                details=f"Details for {name}: {rng.choice(CHAT_LINES)}",
                public_ip=(f"[2001:db8::{rng.randint(1, 0xffff):x}]:{rng.randint(1024, 65535)}" if ipv6
                           else f"203.0.113.{rng.randint(1, 254)}:{rng.randint(1024, 65535)}"),
                private_ip=f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                hostname=host,
                os=rng.choice(OSES),
                primary=n == 0,
            )
        )

    picks = rng.sample(REPS, rng.choice((1, 1, 2, 3)))
    reps: list[Person] = []
    for n, (uid, username, display, public) in enumerate(picks):
        reps.append(
            Person(
                kind="representative",
                gsnumber=2 if n == 0 else 10 + n,
                name=display,
                user_id=uid,
                username=username,
                public_display_name=public,
                public_ip=f"198.51.100.{rng.randint(1, 254)}:{rng.randint(1024, 65535)}",
                private_ip=rng.choice(("192.168.10.5", "192.168.20.7", "Unknown")),
                hostname=None if rng.random() < 0.15 else f"HELPDESK-{rng.randint(1, 99):02d}",
                os=rng.choice(OSES[:2]),
                primary=n == 0,
                owner=n == 0,
                seconds_involved=span if n == 0 else rng.randint(0, span),
                invited=n > 0 and rng.random() < 0.5,
                display_number=str(100 + uid % 900),  # derived: the data of a seed stays as it was
            )
        )

    moves, deletes = rng.choice((0, 0, 1)), rng.choice((0, 0, 0, 2))
    events = _events(s, rng, customers, reps, end, span, moves, deletes)
    transfers = sum(1 for e in events if e.event_type in ("File Upload", "File Download"))
    return Details(
        custom_attributes=attrs,
        file_transfer_count=transfers,
        file_move_count=moves,
        file_delete_count=deletes,
        customers=customers,
        reps=reps,
        team=None if pra else rng.choice(TEAMS),
        jumpoint=rng.choice(JUMPOINTS) if pra and rng.random() < 0.8 else None,
        jump_group=rng.choice(JUMP_GROUPS) if pra else None,
        events=events,
    )


def _who(p: Person) -> tuple[str, int | None, str]:
    return (p.kind, p.gsnumber, p.name)


def _events(s: SimSession, rng: random.Random, customers: list[Person], reps: list[Person], end: int,
            span: int, moves: int, deletes: int) -> list[Event]:
    cust, rep = customers[0], reps[0]
    everyone = ("everyone", None, "Everyone")
    mid: list[Event] = []

    def at() -> int:
        return s.start_time + 1 + rng.randint(0, max(0, span - 2))

    for p in customers + reps:
        data = []
        if p.kind == "customer":
            data = [("name", p.name), ("private_ip", p.private_ip), ("public_ip", p.public_ip),
                    ("hostname", p.hostname or ""), ("os", p.os)]
        mid.append(Event(s.start_time + min(span, 2 + p.gsnumber), "Conference Member Added", performed_by=_who(p),
                         data=data))
    mid.append(Event(s.start_time + min(span, 20), "Conference Owner Changed", destination=_who(rep),
                     data=[("owner", rep.name)]))
    for _ in range(rng.randint(1, 4)):
        speaker = rng.choice((cust, rep))
        mid.append(Event(at(), "Chat Message", performed_by=_who(speaker), destination=everyone,
                         body=rng.choice(CHAT_LINES)))
    if s.index % 9 == 4:
        mid.append(Event(at(), "Chat Message", performed_by=_who(cust), destination=everyone, body=CONTROL_CHAT))
    if rng.random() < 0.7:
        mid.append(Event(at(), "System Information Retrieved", performed_by=_who(rep), destination=_who(cust),
                         system_information=[
                             ("Overview", ["Computer Name", "OS", "Memory"],
                              [[cust.hostname or "", cust.os, f"{rng.choice((8, 16, 32))} GB"]]),
                             ("Drives", ["Drive", "Type", "Percent Used"],
                              [["C:", "NTFS", f"{rng.randint(10, 99)}%"], ["D:", "NTFS", f"{rng.randint(1, 99)}%"]]),
                         ]))
    for _ in range(rng.choice((0, 0, 1, 2, 3))):
        kind = rng.choice(("File Upload", "File Download"))
        name = rng.choice(("C:\\Users\\jcustomer\\Downloads\\driver.zip", "/var/log/syslog", "rapport-été.pdf"))
        size = rng.randint(1, 50_000_000)
        performer, target = (rep, cust) if kind == "File Upload" else (cust, rep)
        mid.append(Event(at(), kind, performed_by=_who(performer), destination=_who(target), filename=name,
                         filesize=size))
    for _ in range(moves):
        mid.append(Event(at(), "File Moved", performed_by=_who(rep), destination=_who(cust),
                         data=[("source", "C:\\Temp\\a.log"), ("destination", "C:\\Temp\\old\\a.log")]))
    for _ in range(deletes):
        mid.append(Event(at(), "File Deleted", performed_by=_who(rep), destination=_who(cust),
                         filename="C:\\Temp\\b.tmp"))
    if rng.random() < 0.15:
        mid.append(Event(at(), "File Upload Failed", performed_by=_who(rep), destination=_who(cust),
                         filename="huge.iso", filesize=4_700_000_000))
    if rng.random() < 0.15:
        mid.append(Event(at(), "Directory Created", performed_by=_who(rep), destination=_who(cust),
                         filename="C:\\Temp\\new folder"))
    if rng.random() < 0.3:
        mid.append(Event(at(), "Foreground Window Changed", performed_by=_who(cust),
                         data=[("title", rng.choice(("Outlook – Inbox", "Word: rapport-été.docx", "cmd.exe")))]))
    if rng.random() < 0.2:
        mid.append(Event(at(), "Conference Member State Changed", performed_by=_who(cust),
                         data=[("state", rng.choice(("idle", "active")))]))
    if rng.random() < 0.2:
        mid.append(Event(at(), "Files Shared", performed_by=_who(rep), destination=_who(cust),
                         files=[("notes.txt", 1200), ("été.png", 48213)]))
    for i in range(s.shell_instances):
        mid.append(Event(at(), "Command Shell Session Started", performed_by=_who(rep), destination=_who(cust),
                         data=[("instance", str(i))]))
    for i in range(s.smsr_instances):
        mid.append(Event(at(), "Show My Screen Recording", performed_by=_who(rep), data=[("instance", str(i))]))
    if rng.random() < 0.3:
        mid.append(Event(at(), "Registry Key Added", performed_by=_who(rep), destination=_who(cust),
                         data=[("key", "HKLM\\SOFTWARE\\Example\\Sim")]))
        mid.append(Event(at(), "Registry Value Modified", performed_by=_who(rep), destination=_who(cust),
                         data=[("key", "HKLM\\SOFTWARE\\Example\\Sim"), ("value", "Enabled"),
                               ("old_data", "0"), ("new_data", "1")]))
    if s.external_key:
        mid.append(Event(at(), "External Key", performed_by=_who(rep), data=[("external_key", s.external_key)]))
    if rng.random() < 0.5:
        mid.append(Event(at(), "Session Note Added", performed_by=_who(rep), body="Reinstalled driver; test OK ✓."))
    if rng.random() < 0.25:
        mid.append(Event(at(), UNKNOWN_EVENT, performed_by=("system", None, "System"),
                         data=[("flux", str(rng.randint(1, 88)))]))
    mid.sort(key=lambda e: e.timestamp)
    events = [Event(s.start_time, "Session Start")] + mid
    if s.end_time is not None:
        for p in customers[1:] + reps[1:]:
            events.append(Event(max(s.start_time, end - 1), "Conference Member Departed", performed_by=_who(p)))
        events.append(Event(end, "Session End"))
    return events
