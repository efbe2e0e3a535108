"""A run's health: what went wrong is in the summary ``ether run`` prints (at every log level), in its exit
status and in the session record (``ether sessions``)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ether_medium.errors import MessageRejected
from ether_medium.fabric.health import HealthLog, RunHealth
from ether_medium.fabric.rejections import RejectionLog

ROOT = Path(__file__).resolve().parent.parent
ETHER = [sys.executable, "-m", "ether_medium.cli"]

APPS = '''
from ether_medium import ether_pub, ether_start, ether_sub


class Sender:
    @ether_start
    def go(self):
        for _ in range(20):
            self.send()

    @ether_pub(topic="Bad.value")
    def send(self):
        return {"x": "not a number"}


class Receiver:
    @ether_sub(topic="Bad.value")
    def take(self, x: float) -> None:
        pass


class Crasher:
    @ether_start
    def go(self):
        import os
        os._exit(3)
'''


def _ether(args: list[str], cwd: Path, timeout: float = 40.0) -> tuple[int, str]:
    env = {**os.environ, "ETHER_STATE_DIR": str(cwd / "state"), "PYTHONPATH": str(cwd)}
    proc = subprocess.run([*ETHER, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "health_apps.py").write_text(APPS)
    return tmp_path


def test_a_run_whose_only_device_never_attaches_fails_and_its_session_says_so(project: Path) -> None:
    (project / "rig.yaml").write_text(
        f"devices:\n  thermo:\n    link: serial://{project}/no-such-port\n"
        f"recording:\n  path: {project}/data/ether.sqlite\nlogging:\n  level: WARNING\n"
    )
    code, out = _ether(["run", "rig.yaml", "--duration", "1"], project)
    assert code == 1, out
    assert "Ether run summary: session " in out, out  # printed at the WARNING level too
    assert "device thermo never attached" in out
    assert f"recorded in {project}/data/ether.sqlite (session status: problems)" in out
    assert "export: ether export " in out

    code, table = _ether(["sessions", "--db", "data/ether.sqlite"], project)
    assert code == 0, table
    assert table.splitlines()[1].split()[3] == "problems", table
    code, detail = _ether(["sessions", "latest", "--db", "data/ether.sqlite"], project)
    assert code == 0 and "device thermo never attached" in detail, detail


def test_rejected_messages_are_folded_counted_and_recorded(project: Path) -> None:
    (project / "rig.yaml").write_text(
        "instances:\n  sender:\n    class_path: health_apps.Sender\n"
        "  receiver:\n    class_path: health_apps.Receiver\n"
        f"recording:\n  path: {project}/ether.sqlite\nlogging:\n  level: WARNING\n"
    )
    code, out = _ether(["run", "rig.yaml", "--duration", "1"], project)
    assert code == 0, out  # problems, not failures
    assert out.count("rejected message on topic 'Bad.value'") == 1, out  # the first in full...
    assert "19 more messages on topic 'Bad.value' rejected for Receiver.take" in out  # ...then a count
    assert "20 messages on Bad.value rejected by Receiver.take: field 'x': " in out
    assert "session status: problems" in out
    code, detail = _ether(["sessions", "latest", "--db", "ether.sqlite"], project)
    assert "20 messages on Bad.value rejected by Receiver.take" in detail, detail


def test_an_instance_that_crashed_for_good_fails_the_run(project: Path) -> None:
    (project / "rig.yaml").write_text(
        "instances:\n  crasher:\n    class_path: health_apps.Crasher\n"
        "  restarted:\n    class_path: health_apps.Crasher\n"
        "    restart: {policy: on-failure, max_restarts: 1, backoff_s: 0}\n"
    )
    code, out = _ether(["run", "rig.yaml", "--duration", "1.5"], project)
    assert code == 1, out
    assert "not recorded (no recording: section in the config)" in out
    assert "crasher crashed and was not running at the end (exit code 3)" in out
    assert "restarted crashed and was not running at the end (exit codes 3, 3, restarted 1 time)" in out


def test_a_clean_run_says_no_problems(project: Path) -> None:
    (project / "rig.yaml").write_text(
        "instances:\n  receiver:\n    class_path: health_apps.Receiver\n"
        f"recording:\n  path: {project}/ether.sqlite\n"
    )
    code, out = _ether(["run", "rig.yaml", "--duration", "0.3"], project)
    assert code == 0, out
    assert "no problems" in out and "session status: normal" in out


def test_rejection_log_folds_by_topic_subscriber_and_reason(caplog: pytest.LogCaptureFixture) -> None:
    reports: list[dict[str, object]] = []
    rejections = RejectionLog("inst", logging.getLogger("ether.test"), reports.append)
    caplog.set_level(logging.ERROR, "ether.test")
    for value in range(5):
        exc = MessageRejected(f"field 'x' (got {value})", reason="field 'x'")
        rejections.rejected("T", "src", "C.m", exc)
    rejections.rejected("T", "src", "C.m", MessageRejected("field 'y' (got 1)", reason="field 'y'"))
    assert [r.getMessage() for r in caplog.records] == [
        "inst: rejected message on topic 'T' from 'src' for C.m: field 'x' (got 0) (more like it are counted "
        "and reported every 10 s)",
        "inst: rejected message on topic 'T' from 'src' for C.m: field 'y' (got 1) (more like it are counted "
        "and reported every 10 s)",
    ]
    caplog.clear()
    rejections.tick(time.monotonic())  # not due yet
    assert caplog.records == []
    rejections.tick(time.monotonic() + rejections.interval_s)
    assert [r.getMessage() for r in caplog.records] == [
        "inst: 4 more messages on topic 'T' rejected for C.m in the last 10 s: field 'x' (5 in all)"
    ]
    assert reports[-1]["rejected"] == [["T", "C.m", "field 'x'", 5], ["T", "C.m", "field 'y'", 1]]


def test_health_log_sums_restarted_processes_and_finds_silent_devices() -> None:
    log = HealthLog(["a", "b"])
    log.on_device({"name": "a"})
    log.on_report({"name": "i", "pid": 1, "rejected": [["T", "C.m", "r", 2]]})
    log.on_report({"name": "i", "pid": 1, "rejected": [["T", "C.m", "r", 3]]})  # cumulative: replaces
    log.on_report({"name": "i", "pid": 2, "rejected": [["T", "C.m", "r", 1]]})  # a restart: adds
    log.on_report({"name": "bridge.a", "pid": 3, "deliveries_failed": 2, "detached": 1, "detach_reason": "x"})
    log.on_report({"garbage": True})
    health = log.summary([("i", [1], 1, False)])
    assert health.rejected == [{"topic": "T", "subscriber": "C.m", "reason": "r", "count": 4}]
    assert health.devices_never_attached == ["b"]
    assert health.deliveries_failed == {"bridge.a": 2}
    assert health.failed and not RunHealth().failed and RunHealth().problems() == []
    assert json.loads(json.dumps(health.as_dict()))["crashed"][0]["codes"] == [1]
