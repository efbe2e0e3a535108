"""The child-process links: ``sim:module:Class`` and ``cmd:COMMAND`` (stdin/stdout is the link)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
from bridge_support import LoopThread, RecordingSink

from ether_medium.bridge.links.command import CommandLink, sim_command
from ether_medium.bridge.manager import ATTACHED, LinkManager

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def tests_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulated device imports its class from this directory."""
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", f"{TESTS}{os.pathsep}{TESTS.parent}{os.pathsep if path else ''}{path}")


@pytest.mark.usefixtures("tests_on_path")
def test_sim_link_attaches_and_restarts_a_dead_child() -> None:
    sink = RecordingSink()
    mgr = LinkManager("sim1", "sim:bridge_support:SimThermo", sink)
    assert isinstance(mgr.link, CommandLink)
    pids = []
    with LoopThread(mgr) as lt:
        sink.wait(
            lambda: len(sink.pubs_of("sim1")) >= 3, timeout_s=20, what="readings from the simulated board"
        )
        assert mgr.info is not None and mgr.info.device_id == "sim-sim1"
        proc = lt.call(lambda: mgr.link.proc)  # type: ignore[attr-defined]
        pids.append(proc.pid)
        proc.kill()  # the board "crashes": the link is lost, the bridge starts it again
        sink.wait(lambda: sink.count("attached") == 2, timeout_s=20, what="re-attach after the child died")
        assert mgr.counters.resets == 1 and mgr.counters.reconnects == 1
        pids.append(lt.call(lambda: mgr.link.proc.pid))  # type: ignore[attr-defined]
    assert mgr.state != ATTACHED
    for pid in pids:  # closing the link stopped the child
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.usefixtures("tests_on_path")
def test_cmd_link() -> None:
    sink = RecordingSink()
    argv = sim_command("bridge_support:SimThermo", "board-cmd")
    mgr = LinkManager("cmd1", "cmd:" + shlex.join(argv), sink, device_id="board-cmd")
    with LoopThread(mgr) as lt:
        sink.wait(
            lambda: len(sink.pubs_of("cmd1")) >= 2, timeout_s=20, what="readings over a command's stdio"
        )
        done: list[object] = []
        lt.call(lambda: mgr.deliver("SimThermo.set_led", {"on": True}, done.append))
        sink.wait(lambda: bool(done), what="ACK")
        assert mgr.counters.delivered == 1
