"""``ether.shutdown()`` and a recorder with a backlog: the launcher waits while the recorder commits (it
reports its progress on ``Ether.recorder.progress``), and stops it only after a stall or the hard cap, saying
how many rows were lost. Real launcher, recorder process and SQLite file; its writer (a slow disk) or its
receiving (a slow CPU: ``Ether.shutdown`` waits in its socket behind the backlog) is slowed down."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from recorder_harness import query

from ether_medium import ether
from ether_medium.fabric.launcher import Launcher
from ether_medium.recorder.store import Store

BURST = 14_000
S_PER_ROW = 0.0005  # the slowed recorder takes 2000 rows/s: the burst takes about 7 s to commit


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(params=["write", "receive"])
def slow_recording(request: pytest.FixtureRequest, tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, _Lines]]:
    """A tapped fabric whose recorder writes (or receives) slowly; shut down by the test (or at the end if it
    failed)."""
    monkeypatch.setattr("ether_medium.fabric.plan.RECORDER_TARGET", "recorder_harness:slow_recorder")
    monkeypatch.setenv("ETHER_TEST_SLOW", request.param)
    monkeypatch.setenv("ETHER_TEST_S_PER_ROW", str(S_PER_ROW))
    db = tmp_path / "ether.sqlite"
    lines = _Lines()
    logger = logging.getLogger("ether")
    logger.addHandler(lines)
    try:
        ether.tap(config={"recording": {"path": str(db), "topics": ["burst"], "bye_timeout_s": 1.0}})
        ether.start()
        yield db, lines
    finally:
        ether.shutdown(timeout=1.0)
        logger.removeHandler(lines)


def _burst() -> str:
    launcher = ether.launcher
    assert launcher is not None and launcher.main_client is not None
    for i in range(BURST):
        launcher.main_client.publish("burst", {"i": i, "pad": "x" * 40})
    return launcher.session_id


def test_shutdown_waits_while_the_recorder_commits_its_backlog(slow_recording: tuple[Path, _Lines]) -> None:
    db, lines = slow_recording
    session = _burst()
    start = time.monotonic()
    ether.shutdown(timeout=1.0)
    took = time.monotonic() - start
    # every row published before shutdown() is committed when it returns, the session ended normally...
    rows = "SELECT count(*), min(seq), max(seq) FROM messages WHERE session_id = ? AND topic = 'burst'"
    assert query(db, rows, session) == [(BURST, 0, BURST - 1)]
    assert query(db, "SELECT status, note FROM sessions WHERE id = ?", session) == [("normal", None)]
    assert not [line for line in lines.lines if "stopping it" in line or "did not exit" in line], lines.lines
    # ...although committing took longer than the 5 s the launcher used to give the recorder at most
    assert took > Launcher.recorder_stall_s + 0.5, f"the backlog took only {took:.1f} s: make it bigger"


def test_the_hard_cap_stops_the_recorder_and_says_what_is_lost(
    slow_recording: tuple[Path, _Lines], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, lines = slow_recording
    monkeypatch.setattr(Launcher, "recorder_cap_s", 0.5)
    session = _burst()
    ether.shutdown(timeout=0.2)
    warning = [line for line in lines.lines if "rows received and not committed" in line]
    assert len(warning) == 1 and "still draining after" in warning[0], lines.lines
    committed = query(db, "SELECT count(*) FROM messages WHERE session_id = ?", session)[0][0]
    assert committed < BURST
    store = Store(db)  # the next start (or `ether sessions`) closes the killed recorder's session
    try:
        store.mark_interrupted()
    finally:
        store.close()
    status = query(db, "SELECT status FROM sessions WHERE id = ?", session)[0][0]
    assert status == "interrupted"

