"""The command line in the same spirit as the window: an export that finds nothing says which window was asked
and what the appliance holds; an error names the command that fixes it, not a window menu; progress in words."""
from __future__ import annotations

from datetime import datetime, timedelta

from ic.cli import run_cli
from ic.settings import DestinationConfig, SiteConfig


def test_an_empty_export_says_which_window_was_asked_and_what_the_appliance_holds(store, simulator, tmp_path,
                                                                                   capsys):
    store.save_site(SiteConfig("Sim", simulator.host, simulator.client_id, str(simulator.ca_file), "rs"),
                    client_secret=simulator.client_secret)
    store.save_destination(DestinationConfig("Files", "folder", {"directory": str(tmp_path / "files")}))
    long_ago = (datetime.now() - timedelta(days=400)).strftime("%Y-%m-%d")
    code = run_cli(["export", "--site", "Sim", "--destination", "Files", "--start", long_ago, "--duration", "1d",
                    "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "0 session(s)" in out
    assert f"No session of Sim started between {long_ago} 00:00 and " in out
    closed = [s for s in simulator.sessions if s.end_time is not None]
    assert f"Sim holds {len(closed)} closed sessions, from " in out
    oldest = min(s.start_time for s in closed)
    assert datetime.fromtimestamp(oldest).strftime("%Y-%m-%d %H:%M") in out


def test_errors_name_the_command_that_fixes_them(store, capsys):
    code = run_cli(["site", "test", "Nowhere"])
    captured = capsys.readouterr()
    err = captured.out + captured.err
    assert code == 1
    assert "Site Configuration" not in err
    assert "IntegrationClient site add" in err


def test_window_directions_become_commands():
    from ic.cli.wording import for_command_line

    assert for_command_line("There is no destination named 'x'; add it under Plugin Configuration.") == (
        "There is no destination named 'x'; add it with: IntegrationClient destination add NAME --type folder|sql "
        "... (list them with: IntegrationClient destination list).")
    assert "schedule add-transfer" in for_command_line("Schedule N has no transfers; add one under Schedule "
                                                       "Configuration.")
    assert for_command_line("Plain sentence.") == "Plain sentence."


def test_progress_in_plain_words():
    from ic.services.progress_text import describe_progress
    from ic.transfer.progress import ProgressEvent

    ev = ProgressEvent("demo -> files", "files", sessions_found=200, sessions_done=50, files_found=30, files_done=11)
    assert describe_progress(ev, with_eta=False) == "Copied 50 of 200 sessions, 11 of 30 recordings"
    assert describe_progress(ev, with_transfer=True, with_eta=False) == (
        "demo to files: Copied 50 of 200 sessions, 11 of 30 recordings")
    assert describe_progress(ProgressEvent("a -> b", "listing", message="Listing sessions")) == (
        "Asking the appliance which sessions to copy…")
    assert describe_progress(ProgressEvent("a -> b", "sessions")) == "No new sessions to copy"
    assert describe_progress(ProgressEvent("a -> b", "done", message="3 session(s)")) == "Finished: 3 session(s)"
    assert describe_progress(ProgressEvent("a -> b", "cancelled", message="Cancelled")) == "Cancelled."
    waiting = ProgressEvent("a -> b", "sessions", sessions_found=2, sessions_done=1, message="Waiting 30 s to retry")
    assert describe_progress(waiting, with_eta=False) == "Copied 1 of 2 sessions; waiting 30 s to retry"
    assert "ProgressEvent" not in describe_progress(ev)


def test_the_terminal_progress_bar_speaks_the_same_words():
    import io

    from ic.cli.run_cmd import TerminalProgress
    from ic.transfer.progress import ProgressEvent

    ev = ProgressEvent("sim -> files", "files", sessions_found=200, sessions_done=50, files_found=30, files_done=11,
                       bytes=3 * 1048576, eta_seconds=65)
    line = TerminalProgress(stream=io.StringIO()).format(ev)
    assert line.startswith("sim to files [")
    assert "Copied 50 of 200 sessions, 11 of 30 recordings | 3.0 MB | ETA 1:05" in line
    failed = TerminalProgress.format(ProgressEvent("sim -> files", "failed", message="Cannot reach the host."))
    assert "Failed." in failed and "Cannot reach" not in failed  # the sentence itself follows once, after the bar
