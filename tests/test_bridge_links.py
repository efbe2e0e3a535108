"""Host links: every built-in scheme passes the one conformance check (``check_link``); the registry of
schemes; the child-process links ``sim:module:Class`` and ``cmd:COMMAND`` with a real device."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from bridge_support import LoopThread, RecordingSink
from link_peers import cmd_pair, serial_pair, udp_pair

from ether_medium.bridge.links import Link
from ether_medium.bridge.links.cmd import CommandLink
from ether_medium.bridge.links.sim import sim_command
from ether_medium.bridge.links.testing import Peer, check_link
from ether_medium.bridge.manager import ATTACHED, LinkManager
from ether_medium.errors import LinkURLError

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize(
    "make_pair",
    [serial_pair, udp_pair, cmd_pair, lambda: cmd_pair(pty=True)],
    ids=["serial-pty", "udp", "cmd-pipes", "cmd-pty"],
)
def test_every_host_link_passes_the_conformance_check(make_pair: Callable[[], tuple[Link, Peer]]) -> None:
    check_link(make_pair)


def test_schemes_are_looked_up_by_name_and_a_third_party_adds_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    from ether_medium.bridge import links

    assert set(links.schemes()) >= {"serial", "udp", "cmd", "sim"}
    installed = [EntryPoint("truecmd", "link_peers:true_scheme", links.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(
        links, "entry_points", lambda group: installed if group == links.ENTRY_POINT_GROUP else []
    )
    link = links.open_link("truecmd:anything")
    assert isinstance(link, CommandLink) and link.url == "truecmd:anything"
    assert "truecmd" in links.schemes()
    broken = [EntryPoint("broken", "no_such_module_here:create", links.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(links, "entry_points", lambda group: broken)
    with pytest.raises(LinkURLError, match=r"'broken' \(no_such_module_here:create\) cannot be loaded"):
        links.open_link("broken:x")


def test_register_scheme_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from ether_medium.bridge import links

    monkeypatch.setattr(links, "_registered", {})  # this test's registration ends with it
    links.register_scheme("inproc", lambda url, context: CommandLink(url, ["true"]))
    assert links.open_link("inproc:x").url == "inproc:x"
    with pytest.raises(ValueError, match="'serial' is built in"):
        links.register_scheme("serial", lambda url, context: CommandLink(url, ["true"]))


def test_pyproject_declares_the_built_in_schemes() -> None:
    import tomllib

    from ether_medium.bridge import links

    declared = tomllib.loads((TESTS.parent / "pyproject.toml").read_text())["project"]["entry-points"]
    assert declared[links.ENTRY_POINT_GROUP] == links._BUILTIN


def test_the_library_imports_no_command_line_module() -> None:
    """ether_medium.bridge (the library) never imports ether_medium.commands (the CLI)."""
    code = (
        "import sys, ether_medium.bridge.links as L\n"
        "for s in ('serial', 'udp', 'cmd', 'sim'): L.open_link({'serial': 'serial:///dev/null', 'udp': "
        "'udp://127.0.0.1:0', 'cmd': 'cmd:true', 'sim': 'sim:m:C?tau=3'}[s])\n"
        "import ether_medium.bridge.manager, ether_medium.bridge.service\n"
        "cli = [m for m in sys.modules if m.startswith('ether_medium.commands') or m == 'ether_medium.cli']\n"
        "print(sorted(cli))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=TESTS.parent
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


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
