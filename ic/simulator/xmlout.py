"""Render simulated data as the appliance's reporting XML (element order as in appliance-api.md B5/B6).

Plain string building (no DOM) so thousands of sessions render quickly. Documents carry the same stray blank
lines as real appliance output (blank line after the declaration, trailing newlines).
"""
from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timezone
from urllib.parse import quote

from ic.simulator.data import Details, Event, Person, SimSession

DECL = '<?xml version="1.0" encoding="UTF-8"?>\n\n'
TAIL = "\n\n\n\n"
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def attr(text: object) -> str:
    return esc(str(text)).replace('"', "&quot;")


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def hms(seconds: int) -> str:
    seconds = max(0, seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def document(root: str, namespace: str, children: list[str] | None = None) -> bytes:
    """A complete document; no children -> the empty root element the vendor documents for "no results"."""
    if not children:
        return (f'{DECL}<{root} xmlns="{attr(namespace)}" />{TAIL}').encode()
    return (f'{DECL}<{root} xmlns="{attr(namespace)}">\n' + "".join(children) + f"</{root}>{TAIL}").encode()


def error_document(namespace: str, message: str) -> bytes:
    return f'{DECL}<error xmlns="{attr(namespace)}">{esc(message)}</error>{TAIL}'.encode()


def summary(s: SimSession) -> str:
    key = f' external_key="{attr(s.external_key)}"' if s.external_key else ""
    return f'<session_summary lsid="{s.lsid}"{key} has_recording="{1 if s.has_recording else 0}" />\n'


def _url(site: str, s: SimSession, mode: str, action: str, view: bool, instance: int | None = None) -> str:
    h = hashlib.sha1(f"{s.lsid}:{mode}:{instance}".encode()).hexdigest()
    token = f"l={s.lsid};h={h};t=sd;m={mode}" + (f";i={instance}" if instance is not None else "")
    url = f"https://{site}/session_download?lsid={quote(token, safe='')}&dl_action={action}"
    return esc(url + ("&view=1" if view else ""))


def _party(tag: str, who: tuple[str, int | None, str]) -> str:
    kind, gs, text = who
    gsattr = f' gsnumber="{gs}"' if gs is not None else ""
    return f'            <{tag} type="{kind}"{gsattr}>{esc(text)}</{tag}>\n'


def _event(e: Event) -> str:
    out = [f'        <event timestamp="{e.timestamp}" event_type="{attr(e.event_type)}">\n']
    if e.performed_by:
        out.append(_party("performed_by", e.performed_by))
    if e.destination:
        out.append(_party("destination", e.destination))
    if e.body is not None:
        if _INVALID_XML.search(e.body):
            out.append(f"            <encoded_body>{base64.b64encode(e.body.encode()).decode()}</encoded_body>\n")
        else:
            out.append(f"            <body>{esc(e.body)}</body>\n")
    if e.filename is not None:
        out.append(f"            <filename>{esc(e.filename)}</filename>\n")
    if e.filesize is not None:
        out.append(f"            <filesize>{e.filesize}</filesize>\n")
    if e.files:
        out.append("            <files>\n")
        for name, size in e.files:
            out.append(f"                <file><filename>{esc(name)}</filename><filesize>{size}</filesize></file>\n")
        out.append("            </files>\n")
    if e.data:
        out.append("            <data>\n")
        for name, value in e.data:
            out.append(f'                <value name="{attr(name)}" value="{attr(value)}" />\n')
        out.append("            </data>\n")
    if e.system_information:
        out.append("            <system_information>\n")
        for cat, fields, rows in e.system_information:
            out.append(f'                <category name="{attr(cat)}">\n                    <description>\n')
            for f in fields:
                out.append(f'                        <field name="{attr(f)}">{esc(f)}</field>\n')
            out.append("                    </description>\n                    <data>\n")
            for row in rows:
                out.append("                        <row>\n")
                for f, v in zip(fields, row):
                    out.append(f'                            <field name="{attr(f)}">{esc(v)}</field>\n')
                out.append("                        </row>\n")
            out.append("                    </data>\n                </category>\n")
        out.append("            </system_information>\n")
    out.append("        </event>\n")
    return "".join(out)


def _customer(c: Person, pra: bool) -> str:
    out = [f'        <customer gsnumber="{c.gsnumber}">\n']
    issue_id = f' id="{c.issue_id}"' if c.issue_id is not None else ""  # the issue's numeric ID [U]
    if not pra:
        out.append(f"            <primary_cust>{1 if c.primary else 0}</primary_cust>\n")
        out.append(
            "            <info>\n"
            f"                <name>{esc(c.name)}</name>\n"
            f"                <company>{esc(c.company)}</company>\n"
            f"                <company_code>{esc(c.company_code)}</company_code>\n"
            f"                <issue{issue_id}>{esc(c.issue)}</issue>\n"
            f"                <details>{esc(c.details)}</details>\n"
            "            </info>\n"
        )
    out.append(f"            <username>{esc(c.username)}</username>\n")
    out.append(f"            <public_ip>{esc(c.public_ip)}</public_ip>\n")
    out.append(f"            <private_ip>{esc(c.private_ip)}</private_ip>\n")
    out.append(f"            <hostname>{esc(c.hostname or '')}</hostname>\n")
    out.append(f"            <os>{esc(c.os)}</os>\n        </customer>\n")
    return "".join(out)


def _rep(r: Person, pra: bool) -> str:
    out = [f'        <representative gsnumber="{r.gsnumber}" id="{r.user_id}">\n']
    if not pra:
        out.append(f"            <primary_rep>{1 if r.primary else 0}</primary_rep>\n")
    out.append(f"            <username>{esc(r.username)}</username>\n")
    out.append(f"            <display_name>{esc(r.name)}</display_name>\n")
    out.append(f"            <public_display_name>{esc(r.public_display_name)}</public_display_name>\n")
    if r.display_number:
        out.append(f"            <display_number>{esc(r.display_number)}</display_number>\n")
    out.append(f"            <private_display_name>{esc(r.name)}</private_display_name>\n")
    out.append(f"            <public_ip>{esc(r.public_ip)}</public_ip>\n")
    out.append(f"            <private_ip>{esc(r.private_ip)}</private_ip>\n")
    if r.hostname is not None:
        out.append(f"            <hostname>{esc(r.hostname)}</hostname>\n")
    out.append(f"            <os>{esc(r.os)}</os>\n")
    out.append(f"            <session_owner>{1 if r.owner else 0}</session_owner>\n")
    out.append(f"            <seconds_involved>{r.seconds_involved}</seconds_involved>\n")
    if r.invited:
        out.append("            <invited>1</invited>\n")
    out.append("        </representative>\n")
    return "".join(out)


def session(s: SimSession, d: Details, site: str, now: int) -> str:
    """One <session> element (with trailing newline), B5 order."""
    pra = s.product == "pra"
    ended = s.end_time is not None
    out = [f'<session lsid="{s.lsid}">\n', "    <session_type>support</session_type>\n",
           f"    <lseq>{s.lseq}</lseq>\n",
           f'    <start_time timestamp="{s.start_time}">{iso(s.start_time)}</start_time>\n']
    if ended:
        out.append(f'    <end_time timestamp="{s.end_time}">{iso(s.end_time)}</end_time>\n')
    elif s.empty_end_element:
        out.append("    <end_time />\n")
    out.append(f"    <duration>{hms((s.end_time if ended else max(now, s.start_time)) - s.start_time)}</duration>\n")
    if not pra:
        out.append(f'    <public_site id="{d.public_site[0]}">{esc(d.public_site[1])}</public_site>\n')
    key = s.external_key
    out.append(f"    <external_key>{esc(key)}</external_key>\n" if key else "    <external_key />\n")
    if d.custom_attributes:
        out.append("    <custom_attributes>\n")
        for code, display, value in d.custom_attributes:
            out.append(f'        <custom_attribute code_name="{attr(code)}" display_name="{attr(display)}">'
                       f"{esc(value)}</custom_attribute>\n")
        out.append("    </custom_attributes>\n")
    else:
        out.append("    <custom_attributes />\n")
    if ended:
        out.append(f"    <session_chat_view_url>{_url(site, s, 'chat', 'chat', True)}</session_chat_view_url>\n")
        out.append(f"    <session_chat_download_url>{_url(site, s, 'chat', 'chat', False)}"
                   "</session_chat_download_url>\n")
        if s.recording:
            out.append(f"    <session_recording_view_url>{_url(site, s, 'rec', 'rec', True)}"
                       "</session_recording_view_url>\n")
            out.append(f"    <session_recording_download_url>{_url(site, s, 'rec', 'rec', False)}"
                       "</session_recording_download_url>\n")
        if s.shell_instances:
            out.append("    <command_shell_recordings>\n")
            for i in range(s.shell_instances):
                out.append(f'        <command_shell_recording instance="{i}">\n'
                           f"            <download_url>{_url(site, s, 'csr', 'csr', False, i)}</download_url>\n"
                           f"            <view_url>{_url(site, s, 'csr', 'csr', True, i)}</view_url>\n"
                           "        </command_shell_recording>\n")
            out.append("    </command_shell_recordings>\n")
    out.append(f"    <file_transfer_count>{d.file_transfer_count}</file_transfer_count>\n")
    out.append(f"    <file_move_count>{d.file_move_count}</file_move_count>\n")
    out.append(f"    <file_delete_count>{d.file_delete_count}</file_delete_count>\n")
    if pra:
        if d.jumpoint:
            out.append(f'    <jumpoint id="{d.jumpoint[0]}">{esc(d.jumpoint[1])}</jumpoint>\n')
        if d.jump_group:
            kind, gid, name = d.jump_group
            out.append(f'    <jump_group type="{kind}" id="{gid}">{esc(name)}</jump_group>\n')
    cust, rep = d.customers[0], d.reps[0]
    out.append(f'    <primary_customer gsnumber="{cust.gsnumber}">{esc(cust.name)}</primary_customer>\n')
    out.append(f'    <primary_rep gsnumber="{rep.gsnumber}" id="{rep.user_id}">{esc(rep.name)}</primary_rep>\n')
    if d.team:
        out.append(f'    <primary_team id="{d.team[0]}">{esc(d.team[1])}</primary_team>\n')
    out.append("    <customer_list>\n")
    out.extend(_customer(c, pra) for c in d.customers)
    out.append("    </customer_list>\n    <rep_list>\n")
    out.extend(_rep(r, pra) for r in d.reps)
    out.append("    </rep_list>\n    <session_details>\n")
    out.extend(_event(e) for e in d.events)
    out.append("    </session_details>\n</session>\n")
    return "".join(out)
