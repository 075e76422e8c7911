"""Every exception the Integration Client raises on purpose.

Each message is one sentence a Windows admin can act on: it names the site, setting, destination or file to fix.
Secrets never appear in a message.
"""
from __future__ import annotations


class ICError(Exception):
    """Base of all expected errors; ``str(err)`` is safe to show to a user and to log."""


# --- configuration / settings -------------------------------------------------------------
class ConfigError(ICError):
    """A setting is missing or invalid (bad host, unknown replacement value, duplicate name...)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(ConfigError):
    """A named site, destination or schedule does not exist."""


class SecretUnavailable(ICError):
    """A stored secret cannot be decrypted (key missing or from another machine)."""


# --- appliance ----------------------------------------------------------------------------
class ApplianceError(ICError):
    """Base for failures talking to the appliance; ``reason`` is a short machine-readable tag."""

    reason = "appliance"
    retryable = False


class ApplianceUnreachable(ApplianceError):
    reason = "unreachable"  # DNS failure, refused, timeout, dropped connection
    retryable = True


class TLSFailure(ApplianceError):
    reason = "tls"


class AuthenticationFailed(ApplianceError):
    reason = "credentials"


class PermissionDenied(ApplianceError):
    reason = "permission"


class RateLimited(ApplianceError):
    reason = "rate_limited"
    retryable = True


class ServerError(ApplianceError):
    reason = "server"
    retryable = True


class ApplianceAPIError(ApplianceError):
    """The appliance answered with an ``<error>`` document (often with HTTP 200)."""

    reason = "api_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class UnknownSession(ApplianceAPIError):
    """The appliance does not know a session ID that was asked for ("Invalid lsid."): it aged out or never existed.

    Raised by the client for a details or recording request; the transfer engine then asks for the other sessions of
    the batch one by one and skips the unknown one."""

    reason = "unknown_session"


class RecordingUnavailable(ApplianceAPIError):
    """The recording expired or does not exist."""

    reason = "recording_unavailable"


class MalformedResponse(ApplianceError):
    reason = "malformed"
    retryable = True


# --- parsing ------------------------------------------------------------------------------
class ParseError(ICError):
    """Malformed session XML; names the source (file or lsid) and the line."""

    def __init__(self, message: str, source: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.line = line


class SessionValueError(ParseError):
    """One session carries a value that cannot be read or stored (a number like ``inf`` or out of range, a time out
    of range, nesting too deep...). The rest of its document is fine; the engine quarantines just this session.

    ``lsid`` and ``field`` name the session and the element or column when known."""

    def __init__(self, message: str, source: str | None = None, line: int | None = None, *,
                 lsid: str | None = None, field: str | None = None) -> None:
        super().__init__(message, source, line)
        self.lsid = lsid
        self.field = field


# --- destinations -------------------------------------------------------------------------
class DestinationError(ICError):
    """A destination could not be written (folder not writable, database down...)."""

    retryable = False


class DestinationUnavailable(DestinationError):
    retryable = True


# --- running ------------------------------------------------------------------------------
class ScheduleBusy(ICError):
    """The schedule is already running (in this or another process)."""


class Cancelled(ICError):
    """The user cancelled the run."""


class TaskRegistrationError(ICError):
    """The OS scheduler (Windows Task Scheduler / cron) refused to register, change or remove the scheduler task."""
