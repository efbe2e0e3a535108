"""The recorder is supervised: killed, it is restarted (policy ``always``), the restart is logged and counted,
and the new process continues the same session. Real launcher, recorder processes and SQLite file."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import cbor2
from conftest import wait_until
from fabric_harness import fabric_client, tapped
from recorder_harness import query

from ether_medium import ether

DATA = "SELECT payload FROM messages WHERE topic = 'data' ORDER BY rowid"


def test_a_recorder_that_dies_is_restarted_and_continues_the_session(tmp_path: Path) -> None:
    db = tmp_path / "ether.sqlite"
    config = {"recording": {"path": str(db), "topics": ["data"], "flush_interval_ms": 20}}
    with tapped(config) as logs, fabric_client("data") as client:  # ("data": keeps the topic subscribed)
        launcher = ether.launcher
        assert launcher is not None
        recorder = launcher.children["recorder"]
        assert recorder.proc is not None
        client.publish("data", {"v": "before"})
        wait_until(lambda: len(query(db, DATA)) == 1, 20, "the first row committed")
        first_pid = recorder.proc.pid
        os.kill(first_pid, signal.SIGKILL)
        logs.wait_for(f"recorder (PID {first_pid}) exited unexpectedly with exit code -9")
        logs.wait_for("restarting recorder (restart 1 of 20)")
        wait_until(lambda: recorder.ready and recorder.proc.pid != first_pid, 20, "the recorder restarted")
        logs.wait_for("recorder restarted (restart 1 of this session): continuing session "
                      f"{launcher.session_id}")
        client.publish("data", {"v": "after"})
    # a restart is a problem of the run
    assert query(db, "SELECT id, status, restarts FROM sessions") == [(launcher.session_id, "problems", 1)]
    payloads = [cbor2.loads(p) for (p,) in query(db, DATA)]
    assert payloads == [{"v": "before"}, {"v": "after"}]
