"""One complete ``<session>`` element -> :class:`ic.sessions.model.Session` (pure, namespace-agnostic).

Anything not understood is kept in an ``extra`` list as (local name, namespace-free raw XML); nothing is fatal.
A collection with no items is left as the model's shared ``EMPTY``: lists are made only for items (see model.py).
"""
from __future__ import annotations

import base64
import binascii
import sys
from collections.abc import Iterator

from lxml import etree

from ic.sessions.model import (
    EMPTY,
    CommandShellRecording,
    CustomAttribute,
    Customer,
    Event,
    EventData,
    EventFile,
    Representative,
    Session,
    SystemInfoCategory,
    Team,
)
from ic.sessions.xmlutil import (
    child,
    child_text,
    children,
    local,
    serialize_plain,
    text,
    time_attr,
    time_of,
    to_bool,
    to_int,
)

PRA_ONLY = frozenset({"jumpoint", "jump_group"})


def fast_text(x: etree._Element) -> str:
    """``text`` for a session known to hold no xsi:nil attribute (checked once per session, in C)."""
    if len(x):
        return "".join(x.itertext())
    return x.text or ""


_HAS_NIL = etree.XPath("boolean(descendant-or-self::*/@xsi:nil)",
                       namespaces={"xsi": "http://www.w3.org/2001/XMLSchema-instance"})


def detect_product(ns: str | None, elem: etree._Element, hint: str | None) -> str:
    """ "rs" or "pra": the caller's hint wins; else the /sra/ namespace or PRA-only elements mean PRA."""
    if hint:
        h = hint.strip().lower()
        if h in ("rs", "pra"):
            return h
    if ns and "/sra/" in ns:
        return "pra"
    if any(name in PRA_ONLY for name, _ in children(elem)):
        return "pra"
    return "rs"


def session_from_element(elem: etree._Element, product: str, ns: str | None) -> Session:
    s = Session(lsid=elem.get("lsid") or "", product=product, namespace=ns or None)
    s.source_line = elem.sourceline
    team_list: list[Team] = []
    primary_team: Team | None = None
    rep_elems: list[etree._Element] = []
    cust_elems: list[etree._Element] = []
    extra: list[tuple[str, str]] | None = None
    tx = text if _HAS_NIL(elem) else fast_text  # xsi:nil is rare: look for it once per session, in C
    lget = _LOCAL.get
    for c in elem:
        tag = c.tag
        name = lget(tag)
        if name is None:
            name = _local_name(tag)
        attr = _TEXT_FIELDS.get(name)
        if attr is not None:
            setattr(s, attr, tx(c))
            continue
        handler = _SIMPLE.get(name)
        if handler is not None:
            handler(s, c, tx)
        elif name == "session_details":
            s.events = [event_from_element(e, tx) for e in c.iterchildren("{*}event")] or EMPTY  # filtered in C
        elif name == "rep_list":
            rep_elems.extend(c.iterchildren("{*}representative"))
        elif name == "customer_list":
            cust_elems.extend(c.iterchildren("{*}customer"))
        elif name == "custom_attributes":
            s.custom_attributes = [_custom_attribute(a) for n, a in children(c) if n == "custom_attribute"] or EMPTY
        elif name == "command_shell_recordings":
            s.command_shell_recordings = [
                _shell(r, i) for i, (n, r) in enumerate(children(c)) if n == "command_shell_recording"
            ] or EMPTY
        elif name == "primary_team":
            primary_team = Team(team_id=c.get("id") or child_text(c, "id"), name=_team_name(c), is_primary=True)
        elif name == "team_list":
            team_list.extend(_team(t) for n, t in children(c) if n == "team")
        elif name:  # (not a comment, PI or entity)
            if extra is None:
                s.extra = extra = []
            extra.append((name, serialize_plain(c)))
    if not s.session_type:
        s.session_type = "support"
    if team_list or primary_team is not None:
        s.teams = _merge_teams(team_list, primary_team)
    if cust_elems:
        s.customers = [_customer(c, s, tx) for c in cust_elems]
    if rep_elems:
        s.representatives = [_representative(r, s, tx) for r in rep_elems]
    _sole_participant_is_primary(s)
    _name_event_parties(s)
    return s


# --- simple session children ------------------------------------------------------------------
_TEXT_FIELDS = {  # local name -> Session attribute, text as sent
    "duration": "duration",
    "external_key": "external_key",
    "session_chat_view_url": "chat_view_url",
    "session_chat_download_url": "chat_download_url",
    "session_recording_view_url": "recording_view_url",
    "session_recording_download_url": "recording_download_url",
}


def _set_int(attr: str):
    def apply(s: Session, e: etree._Element, tx) -> None:
        setattr(s, attr, to_int(tx(e)))

    return apply


def _lseq(s: Session, e: etree._Element, tx) -> None:
    """A sequence number below 0 is no sequence number."""
    value = to_int(tx(e))
    s.lseq = None if value is None or value < 0 else value


def _public_site(s: Session, e: etree._Element, tx) -> None:
    s.public_site_id = e.get("id")
    s.public_site_name = tx(e)


def _jumpoint(s: Session, e: etree._Element, tx) -> None:
    s.jumpoint_id = e.get("id")
    s.jumpoint_name = tx(e)


def _jump_group(s: Session, e: etree._Element, tx) -> None:
    s.jump_group_id = e.get("id")
    s.jump_group_type = e.get("type")
    s.jump_group_name = tx(e)


def _primary_customer(s: Session, e: etree._Element, tx) -> None:
    s.primary_customer = tx(e)
    s.primary_customer_gsnumber = e.get("gsnumber")


def _primary_rep(s: Session, e: etree._Element, tx) -> None:
    s.primary_rep = tx(e)
    s.primary_rep_gsnumber = e.get("gsnumber")
    s.primary_rep_id = e.get("id")


def _start(s: Session, e: etree._Element, tx) -> None:
    s.start_time = time_of(e)


def _end(s: Session, e: etree._Element, tx) -> None:
    ts = time_of(e)
    s.end_time = ts if ts else None  # empty or 0: still in progress / closed abnormally


def _session_type(s: Session, e: etree._Element, tx) -> None:
    s.session_type = (tx(e) or "").strip()


_SIMPLE = {
    "session_type": _session_type,
    "lseq": _lseq,
    "start_time": _start,
    "end_time": _end,
    "public_site": _public_site,
    "file_transfer_count": _set_int("file_transfer_count"),
    "file_move_count": _set_int("file_move_count"),
    "file_delete_count": _set_int("file_delete_count"),
    "jumpoint": _jumpoint,
    "jump_group": _jump_group,
    "primary_customer": _primary_customer,
    "primary_rep": _primary_rep,
}


def _custom_attribute(e: etree._Element) -> CustomAttribute:
    return CustomAttribute(
        code_name=e.get("code_name") or "", display_name=e.get("display_name") or "", value=text(e) or ""
    )


def _shell(e: etree._Element, index: int) -> CommandShellRecording:
    instance = to_int(e.get("instance"))
    return CommandShellRecording(
        instance=index if instance is None else instance,
        download_url=child_text(e, "download_url"),
        view_url=child_text(e, "view_url"),
    )


# --- teams (RS; element shape unconfirmed: accept both) -----------------------------------------
def _team_name(e: etree._Element) -> str | None:
    for key in ("name", "display_name"):
        value = child_text(e, key)
        if value is not None:
            return value
    if len(e) == 0:
        return e.text or ""
    return (e.text or "").strip() or None


def _team(e: etree._Element) -> Team:
    primary = e.get("primary")
    if primary is None:
        primary = child_text(e, "primary")
    return Team(team_id=e.get("id") or child_text(e, "id"), name=_team_name(e), is_primary=to_bool(primary))


def _merge_teams(teams: list[Team], primary: Team | None) -> list[Team]:
    if primary is None:
        return teams
    for t in teams:
        if (primary.team_id and t.team_id == primary.team_id) or (not primary.team_id and t.name == primary.name):
            t.is_primary = True
            if not t.name:
                t.name = primary.name
            return teams
    return [primary, *teams]


# --- participants -----------------------------------------------------------------------------
def _customer(e: etree._Element, s: Session, tx=text) -> Customer:
    gs = e.get("gsnumber")
    c = Customer(gs)
    primary_flag: str | None = None
    extra: list[tuple[str, str]] | None = None
    lget = _LOCAL.get
    fast = tx is fast_text
    for x in e:
        name = x.tag
        name = lget(name) or _local_name(name)
        if not name:
            continue  # a comment, PI or entity
        attr = _CUSTOMER_FIELDS.get(name)
        if attr is not None:
            setattr(c, attr, (x.text or "") if fast and not len(x) else tx(x))
        elif name == "primary_cust":
            primary_flag = tx(x)
        elif name == "info":
            for i in x:
                n = i.tag
                n = lget(n) or _local_name(n)
                if not n:
                    continue
                attr = _CUSTOMER_INFO.get(n)
                if n == "issue":
                    # the guide's endpoint.issue is "the numeric ID of the issue": @id (or <id>) when the appliance
                    # gives one [U]; otherwise the text as sent (the whole element stays in raw_xml either way)
                    c.issue = (i.get("id") or child_text(i, "id") or "").strip() or tx(i)
                elif attr:
                    setattr(c, attr, (i.text or "") if fast and not len(i) else tx(i))
                else:
                    if extra is None:
                        c.extra = extra = []
                    extra.append((f"info/{n}", serialize_plain(i)))
        elif name in ("rpat", "rpat_support"):
            c.rpat_support = to_bool(tx(x))
        else:
            if extra is None:
                c.extra = extra = []
            extra.append((name, serialize_plain(x)))
    matches_primary = gs is not None and gs == s.primary_customer_gsnumber
    c.is_primary = to_bool(primary_flag) if primary_flag is not None else matches_primary
    if not c.display_name and matches_primary and s.primary_customer:
        c.display_name = s.primary_customer  # PRA has no <info>: the endpoint name is primary_customer's text
    if not c.display_name and c.username:
        # the guide: "If no name was provided, then this is populated with the name associated with the user
        # logged into the customer's computer" (PRA endpoints other than the primary one have only <username>)
        c.display_name = c.username
    return c


_CUSTOMER_INFO = {
    "name": "display_name",
    "company": "company_name",
    "company_code": "company_code",
    "issue": "issue",
    "details": "issue_description",
}
_CUSTOMER_FIELDS = {
    "username": "username",
    "public_ip": "public_ip",
    "private_ip": "private_ip",
    "hostname": "hostname",
    "os": "os",
}


def _representative(e: etree._Element, s: Session, tx=text) -> Representative:
    gs = e.get("gsnumber")
    r = Representative(gs, e.get("id"))
    primary_flag: str | None = None
    extra: list[tuple[str, str]] | None = None
    lget = _LOCAL.get
    fast = tx is fast_text
    for x in e:
        name = x.tag
        name = lget(name) or _local_name(name)
        if not name:
            continue  # a comment, PI or entity
        value = (x.text or "") if fast and not len(x) else tx(x)
        attr = _REP_FIELDS.get(name)
        if attr is not None:
            setattr(r, attr, value)
        elif name == "display_name":
            r.plain_display_name = value
        elif name == "private_display_name":
            r.private_display_name = value
        elif name == "id":
            r.user_id = r.user_id or value
        elif name == "session_owner":
            r.is_owner = to_bool(value)
        elif name == "seconds_involved":
            r.seconds_involved = to_int(value)
        elif name == "invited":
            r.invited = to_bool(value)
        elif name == "primary_rep":
            primary_flag = value
        else:
            if extra is None:
                r.extra = extra = []
            extra.append((name, serialize_plain(x)))
    r.display_name = r.private_display_name or r.plain_display_name
    if primary_flag is not None:
        r.is_primary = to_bool(primary_flag)
    elif s.primary_rep_gsnumber is not None:
        r.is_primary = gs == s.primary_rep_gsnumber
    else:
        r.is_primary = s.primary_rep_id is not None and r.user_id == s.primary_rep_id
    return r


_REP_FIELDS = {
    "username": "username",
    "public_display_name": "public_display_name",
    "display_number": "display_number",
    "public_ip": "public_ip",
    "private_ip": "private_ip",
    "hostname": "hostname",
    "os": "os",
}


def _sole_participant_is_primary(s: Session) -> None:
    """primary_customer / primary_rep without gsnumber (seen in third-party PRA samples): a single participant is it."""
    if (s.primary_customer is not None and s.primary_customer_gsnumber is None and len(s.customers) == 1
            and not any(c.is_primary for c in s.customers)):
        c = s.customers[0]
        c.is_primary = True
        if s.primary_customer and (not c.display_name or c.display_name == c.username):
            c.display_name = s.primary_customer
    if (s.primary_rep is not None and s.primary_rep_gsnumber is None and s.primary_rep_id is None
            and len(s.representatives) == 1 and not any(r.is_primary for r in s.representatives)):
        s.representatives[0].is_primary = True


def _name_event_parties(s: Session) -> None:
    """An empty <performed_by>/<destination> that carries a participant's gsnumber gets that participant's name."""
    names: dict[tuple[str, str], str] = {}
    for r in s.representatives:
        name = r.display_name or r.public_display_name or r.username
        if r.gsnumber and name:
            names.setdefault(("representative", r.gsnumber), name)
    for c in s.customers:
        name = c.display_name or c.username
        if c.gsnumber and name:
            names.setdefault(("customer", c.gsnumber), name)
    if not names:
        return
    by_gs: dict[str, str] = {}
    for (_, gs), name in names.items():
        by_gs.setdefault(gs, name)
    for ev in s.events:  # (most events name both parties: the cheap test first)
        if not ev.performed_by and ev.performed_by_gsnumber:
            name = _party_name(names, by_gs, ev.performed_by_type, ev.performed_by_gsnumber)
            if name:
                ev.performed_by = name
        if not ev.destination and ev.destination_gsnumber:
            name = _party_name(names, by_gs, ev.destination_type, ev.destination_gsnumber)
            if name:
                ev.destination = name


def _party_name(names: dict[tuple[str, str], str], by_gs: dict[str, str], kind: str | None, gs: str) -> str | None:
    if gs == "0":
        return None
    kind = kind or ""
    return names.get((kind, gs)) if kind in ("representative", "customer") else by_gs.get(gs)


# --- events -----------------------------------------------------------------------------------
_LOCAL: dict[object, str] = {etree.Comment: "", etree.ProcessingInstruction: "", etree.Entity: ""}
_LOCAL_MAX = 4096  # distinct tags remembered (a hostile document cannot grow the cache without bound)


def _element_children(e: etree._Element) -> Iterator[tuple[str, etree._Element]]:
    """(local name, child) for each element child; comments, PIs and entities left out. (The session and event
    loops, which run far more often, keep this inline.)"""
    lget = _LOCAL.get
    for x in e:
        tag = x.tag
        name = lget(tag)
        if name is None:
            name = _local_name(tag)
        if name:
            yield name, x


def _local_name(tag: object) -> str:
    """Local name of a child's tag ("" for a comment, PI or entity: not an element), remembered per full tag so the
    hot loops do one dict lookup instead of slicing a fresh string per element."""
    name = _LOCAL.get(tag)
    if name is None:
        if not isinstance(tag, str):
            return ""
        name = sys.intern(tag[tag.find("}") + 1:])
        if len(_LOCAL) < _LOCAL_MAX:
            _LOCAL[tag] = name
    return name


def event_from_element(e: etree._Element, tx=text) -> Event:
    """One ``<event>`` element -> :class:`Event` (any namespace). ``tx`` reads an element's text: ``text`` (the
    default: honours xsi:nil) or ``fast_text`` for a subtree known to hold no xsi:nil. Party names of empty
    ``performed_by``/``destination`` elements are filled in afterwards by :func:`_name_event_parties` (it needs the
    session's participants); event times outside the years 1-9999 are the caller's to clear (parser.check_session).
    Used for every event of a session, and by the parser to build a spilled session's events one at a time."""
    get = e.get
    try:
        timestamp = int(get("timestamp"))  # the appliance's form; anything else takes the general path
    except (TypeError, ValueError):
        timestamp = time_attr(e)
    ev = Event(get("event_type") or "", timestamp)
    if not len(e):
        return ev
    body_at: int | None = None  # index of the ("body", ..) data row: body and encoded_body give ONE row
    data: list[EventData] | None = None  # made at the first item (most events have no data, files, extra...)
    extra: list[tuple[str, str]] | None = None
    files: list[EventFile] | None = None
    sysinfo: list[SystemInfoCategory] | None = None
    lget = _LOCAL.get
    fast = tx is fast_text  # leaf text read inline (the hot path: no xsi:nil in the session)
    for x in e:
        tag = x.tag
        name = lget(tag)
        if name is None:
            name = _local_name(tag)
        if name == "performed_by":
            ev.performed_by = (x.text or "") if fast and not len(x) else tx(x)
            ev.performed_by_type, ev.performed_by_gsnumber = x.get("type"), x.get("gsnumber")
        elif name == "destination":
            ev.destination = (x.text or "") if fast and not len(x) else tx(x)
            ev.destination_type, ev.destination_gsnumber = x.get("type"), x.get("gsnumber")
        elif name == "data":
            if data is None:
                data = []
            append = data.append
            for v in x:
                vtag = v.tag
                vname = lget(vtag)
                if vname is None:
                    vname = _local_name(vtag)
                if vname == "value":
                    value = v.get("value")
                    append(EventData(v.get("name") or "", value if value is not None else tx(v) or ""))
                elif vname:
                    if extra is None:
                        extra = []
                    extra.append((f"data/{local(vtag)}", serialize_plain(v)))
        elif not name:
            continue  # a comment, PI or entity between the event's elements
        elif name == "body":
            if ev.body_encoded:
                continue  # encoded_body already gave the exact text; <body> may have lost characters
            ev.body = tx(x)
            if data is None:
                data = []
            body_at = _put_body(data, body_at, ev.body or "")
        elif name == "filename":
            ev.filename = tx(x)
            if data is None:
                data = []
            data.append(EventData("filename", ev.filename or ""))
        elif name == "filesize":
            value = tx(x)
            ev.filesize = to_int(value)
            if data is None:
                data = []
            data.append(EventData("filesize", (value or "").strip()))
        elif name == "encoded_body":
            ev.body = _decode_body(tx(x))
            ev.body_encoded = True
            if data is None:
                data = []
            body_at = _put_body(data, body_at, ev.body)
        elif name == "files":
            for n, f in children(x):
                if n != "file":
                    if extra is None:
                        extra = []
                    extra.append((f"files/{n}", serialize_plain(f)))
                    continue
                fname, fsize = child_text(f, "filename"), child_text(f, "filesize")
                if fname is None and len(f) == 0:
                    fname = f.text  # tolerate <file>name</file>
                if files is None:
                    files = []
                files.append(EventFile(fname or "", to_int(fsize)))
                if data is None:
                    data = []
                data.append(EventData("filename", fname or ""))
                if fsize is not None:
                    data.append(EventData("filesize", fsize.strip()))
        elif name == "system_information":
            if sysinfo is None:
                sysinfo = []
            sysinfo.extend(_category(c, tx) for n, c in children(x) if n == "category")
        else:
            if extra is None:
                extra = []
            extra.append((name, serialize_plain(x)))
    if data:
        ev.data = data
    if extra:
        ev.extra = extra
    if files:
        ev.files = files
    if sysinfo:
        ev.system_information = sysinfo
    return ev


_event = event_from_element  # the name the parser (spilled sessions) has used


def _put_body(data: list[EventData], at: int | None, value: str) -> int:
    if at is None:
        data.append(EventData("body", value))
        return len(data) - 1
    data[at] = EventData("body", value)
    return at


def _decode_body(value: str | None) -> str:
    raw = "".join((value or "").split())
    try:
        data = base64.b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        return value or ""  # not base64 after all: keep what was sent
    return data.decode("utf-8", errors="replace")


def _category(e: etree._Element, tx=text) -> SystemInfoCategory:
    description: list[tuple[str, str]] = []
    rows: list[list[tuple[str, str]] | tuple] = []
    lget = _LOCAL.get
    for x in e:
        name = x.tag
        name = lget(name) or _local_name(name)
        if name == "description":
            description += _fields(x, tx)
        elif name == "data":
            for row in x:
                row_name = row.tag
                if (lget(row_name) or _local_name(row_name)) == "row":
                    rows.append(_fields(row, tx) or EMPTY)
    return SystemInfoCategory(e.get("name") or "", description or EMPTY, rows or EMPTY, serialize_plain(e))


def _fields(parent: etree._Element, tx) -> list[tuple[str, str]]:
    """(name, text) of each ``field`` child."""
    out = []
    lget = _LOCAL.get
    fast = tx is fast_text
    for f in parent:
        tag = f.tag
        name = lget(tag)
        if (name if name is not None else _local_name(tag)) == "field":
            out.append((f.get("name") or "", ((f.text or "") if fast and not len(f) else tx(f)) or ""))
    return out
