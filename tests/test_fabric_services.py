"""Service processes (what the bridge and the recorder plug into): started by the launcher with a
context, the recorder first and last, every process ending with Ether.bye."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fabric_harness import expect, fabric_client, tapped

from ether_medium import ether
from ether_medium.fabric.service import ServiceSpec


def test_service_gets_its_context_and_stops_on_shutdown() -> None:
    spec = ServiceSpec("echo", "fabric_apps:echo_service", {"greeting": "hi"})
    with tapped({"instances": {}}, services=[spec]), fabric_client("Echo.pong") as client:
        launcher = ether.launcher
        assert launcher is not None
        pid = launcher.children["echo"].proc.pid  # type: ignore[union-attr]
        client.publish("Echo.ping", {"text": "hello"})
        assert expect(client, "Echo.pong") == {"echo": "hello", "service": "echo", "greeting": "hi"}
    assert launcher.children["echo"].exit_code == 0
    import os

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_recorder_starts_first_sees_everything_and_every_bye(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "recorder.json"
    monkeypatch.setenv("FAKE_RECORDER_OUT", str(out))
    monkeypatch.setattr("ether_medium.fabric.plan.RECORDER_TARGET", "fabric_apps:fake_recorder")
    config = {
        "recording": {},
        "instances": {
            "rec0": {
                "class_path": "fabric_apps.LifecycleRecorder",
                "kwargs": {"path": str(tmp_path / "l.txt")},
            },
            "adder": {"class_path": "fabric_apps.Adder"},
        },
    }
    with tapped(config) as logs:
        session = ether.session_id
        logs.wait_for("Ether system started successfully")
    report = json.loads(out.read_text())
    assert report["session"] == session and report["name"] == "recorder"
    assert sorted(report["wait_for"]) == ["adder", "ether", "rec0"]
    assert report["left_waiting"] == []
    topics = [t for t, _ in report["seen"]]
    # it saw the lifecycle from Ether.init on, the save results, and every process's last word
    for topic in (
        "Ether.init",
        "Ether.start",
        "Ether.save",
        "Ether.saved",
        "Ether.cleanup",
        "Ether.shutdown",
    ):
        assert topic in topics, topic
    assert ["Ether.log", "ether"] in report["seen"]  # the tap process's own log records are recorded too
    byes = [src for t, src in report["seen"] if t == "Ether.bye"]
    assert sorted(byes) == ["adder", "ether", "rec0"]
    for name in ("adder", "rec0"):  # Ether.bye is each process's last message
        assert max(i for i, (_, s) in enumerate(report["seen"]) if s == name) == max(
            i for i, (t, s) in enumerate(report["seen"]) if t == "Ether.bye" and s == name
        )


def test_recorder_is_told_about_a_process_that_never_said_bye(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "recorder.json"
    monkeypatch.setenv("FAKE_RECORDER_OUT", str(out))
    monkeypatch.setattr("ether_medium.fabric.plan.RECORDER_TARGET", "fabric_apps:fake_recorder")
    config = {
        "recording": {},
        "instances": {
            "crasher": {"class_path": "fabric_apps.Crasher"},
            "adder": {"class_path": "fabric_apps.Adder"},
        },
    }
    with tapped(config) as logs, fabric_client() as client:
        client.publish("Crasher.die", {"code": 9})
        logs.wait_for("crasher (PID", "exit code 9")
    report = json.loads(out.read_text())
    assert report["left_waiting"] == []
    assert ["Ether.exited", "ether.supervisor"] in report["seen"]
    assert sorted(src for t, src in report["seen"] if t == "Ether.bye") == ["adder", "ether"]
