"""E-mail notifications: SMTP settings (in the settings DB, password encrypted), Send Test, and the error mailer.

The guide: "Notifications are sent any time the integration client logs an error." A failing run can log a thousand
errors, so :class:`ErrorMailHandler` collects ERROR records and sends ONE summary mail per run (when the run ends
and the handler is closed), plus at most one mail every ``interval_minutes`` while a long run goes on. Failing to
send never disturbs the run: the failure is written once to the log file and is not itself notified.
"""
from __future__ import annotations

import logging
import smtplib
import socket
import ssl
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any, Iterator

from ic import __version__
from ic.errors import ConfigError, ICError
from ic.logs import FILE_ONLY, RedactingFilter, add_handler, redact

log = logging.getLogger("ic.notify")

SECURITY = ("none", "starttls", "tls")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
PREFIX = "notify."
PASSWORD_KEY = "notify.password"
DEFAULT_INTERVAL_MINUTES = 15
MAX_DISTINCT = 50  # distinct messages listed in one mail
MAX_DETAILED = 10  # records shown in full (with tracebacks)
TIMEOUT = 20.0


@dataclass
class NotifySettings:
    enabled: bool = False
    host: str = ""
    port: int = 587
    security: str = "starttls"  # none | starttls | tls
    username: str = ""
    sender: str = ""  # "From"
    recipients: list[str] = field(default_factory=list)  # "To"
    ca_bundle: str | None = None  # PEM file of a private CA for the SMTP server (default: system trust store)
    interval_minutes: int = DEFAULT_INTERVAL_MINUTES
    has_password: bool = False  # read-only: a password is stored (it is never returned)


# --- settings ---------------------------------------------------------------------------------------------------------
def load_settings(store: Any) -> NotifySettings:
    from ic.settings.app import load_app_settings  # the one typed reader of application settings

    values = load_app_settings(store)
    get = lambda k, d=None: values.text(PREFIX + k, d)  # noqa: E731
    security = get("security") or "starttls"
    port = values.number(PREFIX + "port", DEFAULT_PORTS.get(security, 587))
    interval = values.number(PREFIX + "interval_minutes", DEFAULT_INTERVAL_MINUTES)
    return NotifySettings(
        enabled=values.flag(PREFIX + "enabled"),
        host=get("host") or "",
        port=port,
        security=security,
        username=get("username") or "",
        sender=get("from") or "",
        recipients=split_addresses(get("to") or ""),
        ca_bundle=get("ca_bundle") or None,
        interval_minutes=interval,
        has_password=bool(values.text(PASSWORD_KEY)),
    )


def split_addresses(text: str | list[str]) -> list[str]:
    items = text if isinstance(text, list) else text.replace(";", ",").split(",")
    return [a.strip() for a in items if a and a.strip()]


def _check_address(addr: str, what: str) -> str:
    name, email = parseaddr(addr)
    if not email or "@" not in email or email.startswith("@") or email.endswith("@") or " " in email:
        raise ConfigError(f"'{addr}' is not a valid e-mail address in {what}; use one like it@example.com.",
                          field=what.split()[1].lower())
    return addr.strip()


def validate(settings: NotifySettings, password_available: bool | None = None) -> NotifySettings:
    """Normalise and check; raises ConfigError naming the field. Only an enabled (or tested) setup needs a host."""
    s = replace(settings, host=settings.host.strip(), username=settings.username.strip(),
                sender=settings.sender.strip(), recipients=split_addresses(settings.recipients))
    if s.security not in SECURITY:
        raise ConfigError(f"Security must be one of {', '.join(SECURITY)}.", field="security")
    if not 0 < int(s.port) < 65536:
        raise ConfigError("The SMTP port must be between 1 and 65535.", field="port")
    if not 1 <= int(s.interval_minutes) <= 1440:
        raise ConfigError("The notification interval must be between 1 and 1440 minutes.", field="interval_minutes")
    if s.ca_bundle:
        import os

        if not os.path.isfile(s.ca_bundle):
            raise ConfigError(f"The CA bundle file {s.ca_bundle} for the SMTP server does not exist.", field="ca_bundle")
    if s.enabled or s.host:
        if not s.host:
            raise ConfigError("Enter the SMTP server's host name, for example mail.example.com.", field="host")
        if any(c in s.host for c in " /:@") and not s.host.startswith("["):
            raise ConfigError(f"'{s.host}' is not a valid SMTP host name; enter a name like mail.example.com "
                              "(the port goes in Port).", field="host")
        if not s.sender:
            raise ConfigError("Enter the From address for notifications.", field="from")
        if not s.recipients:
            raise ConfigError("Enter at least one To address for notifications.", field="to")
    if s.sender:
        _check_address(s.sender, "the From address")
    for addr in s.recipients:
        _check_address(addr, "the To addresses")
    if s.username and s.security == "none" and s.host not in ("localhost", "127.0.0.1", "::1"):
        raise ConfigError(
            "Choose STARTTLS or TLS when an SMTP user name is set, so the password never crosses the network in clear.",
            field="security",
        )
    if password_available is False and s.username:
        raise ConfigError(f"Enter the SMTP password for {s.username}.", field="password")
    return s


def save_settings(
    store: Any, settings: NotifySettings, password: str | None = None, *, clear_password: bool = False
) -> NotifySettings:
    """Validate and store; ``password`` None keeps the stored one (the dialog never shows it)."""
    has_pw = bool(password) or (not clear_password and bool(store.get_setting(PASSWORD_KEY)))
    s = validate(settings, password_available=has_pw if settings.enabled else None)
    values = {
        "enabled": "1" if s.enabled else "0",
        "host": s.host,
        "port": str(int(s.port)),
        "security": s.security,
        "username": s.username,
        "from": s.sender,
        "to": ", ".join(s.recipients),
        "ca_bundle": s.ca_bundle or "",
        "interval_minutes": str(int(s.interval_minutes)),
    }
    for key, value in values.items():
        store.set_setting(PREFIX + key, value)
    if password:
        store.set_secret_setting(PASSWORD_KEY, password)
    elif clear_password:
        store.set_setting(PASSWORD_KEY, None)
    return load_settings(store)


def load_password(store: Any) -> str | None:
    """The decrypted SMTP password (SecretUnavailable says to re-enter it)."""
    return store.get_secret_setting(PASSWORD_KEY)


# --- sending ------------------------------------------------------------------------------------------------------------
def _ssl_context(settings: NotifySettings) -> ssl.SSLContext:
    if settings.ca_bundle:
        return ssl.create_default_context(cafile=settings.ca_bundle)
    try:
        import truststore

        return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # the OS trust store (corporate CAs on Windows)
    except Exception:  # noqa: BLE001
        return ssl.create_default_context()


def build_message(settings: NotifySettings, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = ", ".join(settings.recipients)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=(settings.sender.rpartition("@")[2].strip("> ") or None))
    msg["X-Mailer"] = f"Integration Client {__version__}"
    msg.set_content(body)
    return msg


def clear_text_warning(settings: NotifySettings, has_password: bool) -> str | None:
    """One sentence when the saved settings would send the SMTP password unencrypted (Security none: allowed only
    for a server on this computer, see :func:`validate`), or keep a password that is never used."""
    if settings.security == "none" and settings.username and has_password:
        return (f"Security is none: the SMTP password of {settings.username} goes to {settings.host or 'the server'} "
                "in clear text; choose starttls or tls unless that server runs on this computer.")
    if has_password and not settings.username:
        return "An SMTP password is stored but no user name is set, so it is never used; set the user name or clear the password."
    return None


def send_mail(settings: NotifySettings, password: str | None, subject: str, body: str, timeout: float = TIMEOUT) -> None:
    """Send one message; raises smtplib/OSError/ssl errors (turn them into a sentence with :func:`explain`)."""
    msg = build_message(settings, subject, body)
    if settings.security == "tls":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=timeout, context=_ssl_context(settings)
        )
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
    try:
        client.ehlo_or_helo_if_needed()
        if settings.security == "starttls":
            client.starttls(context=_ssl_context(settings))
            client.ehlo()
        if settings.username:
            client.login(settings.username, password or "")
        client.send_message(msg)
    finally:
        try:
            client.quit()
        except Exception:  # noqa: BLE001
            client.close()


def explain(exc: BaseException, settings: NotifySettings) -> str:
    """One sentence naming what to fix for a failed send (never contains the password)."""
    where = f"{settings.host}:{settings.port}"
    if isinstance(exc, ICError):
        return str(exc)
    if isinstance(exc, socket.gaierror):
        return f"The SMTP server {settings.host} could not be found; check the SMTP host name."
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"The SMTP server {where} presented a certificate that is not trusted ({exc.verify_message}); "
                "add its CA bundle in Notification Settings.")
    if isinstance(exc, ssl.SSLError):
        return f"TLS with the SMTP server {where} failed; check that Security ({settings.security}) matches the port."
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        if "STARTTLS" in str(exc).upper():
            return f"The SMTP server {where} does not offer STARTTLS; choose another Security setting."
        return f"The SMTP server {where} does not accept a login here; check Security or leave the user name empty."
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"The SMTP server {where} refused the user name or password for {settings.username}; re-enter them."
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"The SMTP server {where} refused the From address {settings.sender}; check it."
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(sorted(exc.recipients))
        return f"The SMTP server {where} refused the To address(es) {refused}; check them."
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"The SMTP server {where} answered {exc.smtp_code} {redact(text)[:150]}."
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"The SMTP server {where} did not answer in time; check the host, port and firewall."
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"The SMTP server {where} closed the connection; check that Security ({settings.security}) matches the port."
    if isinstance(exc, ConnectionRefusedError):
        return f"Nothing accepts connections at {where}; check the SMTP host and port."
    if isinstance(exc, OSError):
        return f"Could not reach the SMTP server {where} ({exc.strerror or type(exc).__name__}); check the host, port and firewall."
    return f"Sending through the SMTP server {where} failed ({type(exc).__name__}); see the log file."


def try_send_test(store: Any, settings: NotifySettings | None = None, password: str | None = None) -> tuple[bool, str]:
    """Send Test: (ok, one sentence). ``settings``/``password`` let the dialog test values before saving them."""
    try:
        s = validate(settings if settings is not None else load_settings(store))
        if not s.host:
            raise ConfigError("Enter the SMTP server's host name, for example mail.example.com.", field="host")
        if password is None and s.username:
            password = load_password(store)
            if not password:
                raise ConfigError(f"Enter the SMTP password for {s.username}.", field="password")
        host = socket.gethostname()
        send_mail(s, password, f"Integration Client test message from {host}",
                  f"This is a test message from the Integration Client {__version__} on {host}.\n"
                  "Notification settings are working: errors will be mailed to these addresses.\n")
    except Exception as exc:  # noqa: BLE001 - every failure becomes a sentence for the dialog
        s_for_text = settings if settings is not None else _safe_load(store)
        message = explain(exc, s_for_text)
        # the caller shows the sentence; the log file keeps it (not the console, or the CLI says it twice)
        log.warning("Notification test failed: %s", message, extra={FILE_ONLY: True})
        return False, message
    message = f"Test message sent to {', '.join(s.recipients)} through {s.host}:{s.port}."
    log.info(message)
    return True, message


def send_test(store: Any, settings: NotifySettings | None = None, password: str | None = None) -> str:
    """One-sentence result of sending a test message (see :func:`try_send_test` for the ok flag)."""
    return try_send_test(store, settings, password)[1]


def _safe_load(store: Any) -> NotifySettings:
    try:
        return load_settings(store)
    except Exception:  # noqa: BLE001
        return NotifySettings()


# --- the error mailer ----------------------------------------------------------------------------------------------------
class ErrorMailHandler(logging.Handler):
    """Collects ERROR records; :meth:`flush` sends them as ONE summary mail. Never raises, never loops.

    A timer flushes ``interval_minutes`` after the first error of a batch, so a long run sends at most one mail per
    interval; :meth:`close` (end of the run) sends what is left.
    """

    def __init__(self, settings: NotifySettings, password: str | None, *, source: str = "run",
                 interval_seconds: float | None = None) -> None:
        super().__init__(level=logging.ERROR)
        self.settings = settings
        self._password = password
        self.source = source
        self.interval = interval_seconds if interval_seconds is not None else settings.interval_minutes * 60
        self.addFilter(RedactingFilter())
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._batch_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._reset()
        self.sent = 0  # mails sent (for tests and the run summary)
        self.failed = 0
        self._failure_logged = False
        self._closed = False

    def _reset(self) -> None:
        self._count = 0
        self._first: float | None = None
        self._last: float | None = None
        self._distinct: OrderedDict[str, int] = OrderedDict()
        self._overflow = 0
        self._detailed: list[str] = []

    def __repr__(self) -> str:  # never show the password
        return f"<ErrorMailHandler to={self.settings.recipients} via {self.settings.host}:{self.settings.port}>"

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, FILE_ONLY, False) or record.name == log.name:
            return
        try:
            text = f"{record.name}: {record.getMessage()}"
            detail = self.format(record) if len(self._detailed) < MAX_DETAILED else None
            with self._batch_lock:
                self._count += 1
                self._first = self._first or record.created
                self._last = record.created
                if text in self._distinct:
                    self._distinct[text] += 1
                elif len(self._distinct) < MAX_DISTINCT:
                    self._distinct[text] = 1
                else:
                    self._overflow += 1
                if detail is not None:
                    self._detailed.append(detail)
                start_timer = self._timer is None and not self._closed and self.interval > 0
                if start_timer:
                    self._timer = threading.Timer(self.interval, self.flush)
                    self._timer.daemon = True
                    self._timer.start()
        except Exception:  # noqa: BLE001 - a notifier problem must never break logging
            pass

    def pending(self) -> int:
        return self._count

    def _take(self) -> dict | None:
        with self._batch_lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if not self._count:
                return None
            batch = dict(count=self._count, first=self._first, last=self._last, distinct=list(self._distinct.items()),
                         overflow=self._overflow, detailed=list(self._detailed))
            self._reset()
            return batch

    def flush(self) -> None:
        batch = self._take()
        if batch is None:
            return
        subject, body = self._compose(batch)
        with self._send_lock:
            try:
                send_mail(self.settings, self._password, subject, body)
                self.sent += 1
            except Exception as exc:  # noqa: BLE001 - never crash the run
                self.failed += 1
                if not self._failure_logged:
                    self._failure_logged = True
                    log.warning("Could not send the error notification e-mail: %s", explain(exc, self.settings),
                                extra={FILE_ONLY: True})

    def close(self) -> None:
        self._closed = True
        try:
            self.flush()
        finally:
            super().close()

    def _compose(self, batch: dict) -> tuple[str, str]:
        host = socket.gethostname()
        n = batch["count"]
        plural = "error" if n == 1 else "errors"
        fmt = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))  # noqa: E731
        subject = f"Integration Client on {host}: {n} {plural} ({self.source})"
        when = (f"at {fmt(batch['first'])}" if fmt(batch["first"]) == fmt(batch["last"])
                else f"between {fmt(batch['first'])} and {fmt(batch['last'])}")
        lines = [
            f"The Integration Client on {host} logged {n} {plural} during {self.source} {when}.",
            "",
            "Messages (count x message):",
        ]
        lines += [f"  {count:>5} x {text}" for text, count in batch["distinct"]]
        if batch["overflow"]:
            lines.append(f"  ... and {batch['overflow']} more errors with other messages.")
        lines += ["", "In full:" if n <= MAX_DETAILED else f"The first {len(batch['detailed'])} in full:", ""]
        lines += batch["detailed"]
        lines += ["", "The log files (Tools > Log File) have the details."]
        return redact(subject), redact("\n".join(lines)) + "\n"


def install_error_mail(store: Any, source: str = "run") -> ErrorMailHandler | None:
    """Attach an :class:`ErrorMailHandler` to the ``ic`` logger when notifications are enabled; None otherwise.

    The caller closes it at the end of the run (``logging.shutdown`` at exit closes it too). A stored password that
    cannot be decrypted is logged (file only) and notifications stay off for this run.
    """
    try:
        settings = load_settings(store)
        if not settings.enabled or not settings.host or not settings.recipients:
            return None
        password = load_password(store) if settings.username else None
    except Exception as exc:  # noqa: BLE001
        log.warning("E-mail notifications are off for this run: %s", explain(exc, NotifySettings()),
                    extra={FILE_ONLY: True})
        return None
    return add_handler(ErrorMailHandler(settings, password, source=source))  # type: ignore[return-value]


def remove_error_mail(handler: ErrorMailHandler | None) -> None:
    """Detach and close (sends the batch)."""
    if handler is None:
        return
    logging.getLogger("ic").removeHandler(handler)
    handler.close()


@contextmanager
def error_mail(store: Any, source: str = "run") -> Iterator[ErrorMailHandler | None]:
    """``with error_mail(store, "schedule Nightly"):`` one summary mail for the errors logged inside the block."""
    handler = install_error_mail(store, source)
    try:
        yield handler
    finally:
        remove_error_mail(handler)
