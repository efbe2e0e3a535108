"""Any bytes at the fabric's boundaries: the envelope decoder raises only EnvelopeError, an instance's receive
loop and the launcher's supervisor drop what they cannot use (counted, logged rate-limited) and keep working.

The long version of these (a million inputs per boundary, with memory figures) is ``bench/fuzz.py``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import pytest
from fabric_harness import expect, fabric_client, tapped
from hostile_inputs import envelope_bodies, valid_body, values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from recorder_harness import Publisher, query, running_broker

from ether_medium import ether, topics
from ether_medium.config import load_config
from ether_medium.errors import EnvelopeError
from ether_medium.fabric.client import FabricClient
from ether_medium.fabric.envelope import Envelope, decode
from ether_medium.fabric.instance import InstanceRuntime
from ether_medium.fabric.launcher import Launcher
from ether_medium.problems import ProblemLog

FIXTURES = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
TOPICS = st.sampled_from([b"data", b"ask", b"Ether.cleanup", b"Ether.save", b"Ether.init", b"other", b"\xff"])

INF_Q = cbor2.dumps({"d": {"v": 1}, "s": "x", "q": math.inf, "t": 1.0})
HUGE_T = cbor2.dumps({"d": {"v": 1}, "s": "x", "q": 1, "t": 10**400})


@pytest.mark.parametrize("body", [INF_Q, HUGE_T], ids=["q=Infinity", "t=10**400"])
def test_out_of_range_header_is_an_envelope_error(body: bytes) -> None:
    with pytest.raises(EnvelopeError, match="malformed header field"):
        decode([b"data", body])


@given(frames=st.lists(st.binary(max_size=48), max_size=4))
@settings(suppress_health_check=FIXTURES, deadline=None)  # a shared machine: time is no property here
def test_decode_any_bytes(frames: list[bytes]) -> None:
    with contextlib.suppress(EnvelopeError):
        decode(frames)


@given(body=envelope_bodies())
@settings(max_examples=400, suppress_health_check=FIXTURES, deadline=None)
def test_decode_any_envelope_gives_typed_fields_or_an_envelope_error(body: bytes) -> None:
    try:
        env = decode([b"topic", body])
    except EnvelopeError:
        return
    assert type(env.data) is dict and type(env.source) is str and type(env.seq) is int
    assert type(env.host_time) is float and math.isfinite(env.host_time)
    assert env.device_time is None or type(env.device_time) is float
    assert env.device_seq is None or type(env.device_seq) is int
    assert env.reply_to is None or type(env.reply_to) is str
    assert env.request_id is None or type(env.request_id) is int
    assert env.error is None or type(env.error) is str


@pytest.fixture(scope="module")
def runtime() -> Iterator[InstanceRuntime]:
    """A real instance runtime (object, validation, handlers) on a real broker, fed by calling receive()."""
    with running_broker() as broker:
        client = FabricClient(broker.addresses, "target")
        try:
            rt = InstanceRuntime(client, {"name": "target", "class_path": "hostile_inputs.Target"})
            rt.construct()
            yield rt
        finally:
            client.close(bye=False)


def _still_delivers(rt: InstanceRuntime) -> None:
    marker = object.__repr__(rt)  # a value no hostile input produces
    assert rt.receive([b"data", valid_body({"v": marker})])
    assert rt.obj.got[-1] == marker


@given(topic=TOPICS, body=envelope_bodies())
@settings(max_examples=300, suppress_health_check=FIXTURES, deadline=None)
def test_instance_survives_any_envelope(runtime: InstanceRuntime, topic: bytes, body: bytes) -> None:
    runtime.receive([topic, body])  # True, or False for a valid Ether.shutdown; never raises
    _still_delivers(runtime)


@given(frames=st.lists(st.binary(max_size=32), max_size=4))
@settings(max_examples=200, suppress_health_check=FIXTURES, deadline=None)
def test_instance_survives_any_frames(runtime: InstanceRuntime, frames: list[bytes]) -> None:
    runtime.receive(frames)
    _still_delivers(runtime)


def test_instance_drops_out_of_range_cleanup_and_data(runtime: InstanceRuntime,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    runtime.dispatcher.problems = ProblemLog(logging.getLogger("ether"), "target", 10.0)  # none folded yet
    cleaned, dropped = runtime.obj.cleaned, runtime.problems.total
    with caplog.at_level(logging.ERROR, logger="ether"):
        for body in (INF_Q, HUGE_T):
            assert runtime.receive([b"Ether.cleanup", body]) is True
            # the subscribers' fast path reads only the payload of a plain message: delivered or dropped
            assert runtime.receive([b"data", body]) is True
    assert runtime.problems.total == dropped + 2
    assert runtime.obj.cleaned == cleaned  # a malformed Ether.cleanup is not a cleanup
    assert "malformed header field" in caplog.text
    _still_delivers(runtime)


@pytest.fixture(scope="module")
def launcher() -> Launcher:
    return Launcher(load_config({}))  # not started: its supervisor's message handling only


@given(topic=st.sampled_from(Launcher.SUPERVISED), data=st.dictionaries(
    st.sampled_from(["name", "level", "msg", "time", "pid", "phase", "names", "host", "x"]), values()))
@settings(max_examples=300, suppress_health_check=FIXTURES, deadline=None)
def test_supervisor_survives_any_payload(launcher: Launcher, topic: str, data: dict[str, Any]) -> None:
    launcher._dispatch(Envelope(topic, data, "someone", 0, 1.0))


def test_supervisor_counts_what_it_drops(launcher: Launcher, caplog: pytest.LogCaptureFixture) -> None:
    launcher.sup_problems = ProblemLog(logging.getLogger("ether"), "supervisor", 10.0)
    before = launcher.sup_problems.total
    with caplog.at_level(logging.ERROR, logger="ether"):
        launcher._dispatch(Envelope(topics.READY, {"name": 10**5000}, "x", 0, 1.0))
    assert launcher.sup_problems.total == before + 1
    assert "dropped a message on 'Ether.ready'" in caplog.text


def _wait_exact(pub: Publisher, *topics_: bytes, timeout: float = 10.0) -> None:
    """Until the exact subscriptions ``topics_`` reached the raw publisher (not only a shorter prefix)."""
    deadline = time.monotonic() + timeout
    while not set(topics_) <= pub.subscriptions:
        left = deadline - time.monotonic()
        assert left > 0 and pub.sock.poll(int(left * 1000) + 1), f"subscriptions {topics_} not seen"
        msg = pub.sock.recv()
        if msg[:1] == b"\x01":
            pub.subscriptions.add(msg[1:])


def test_rig_keeps_delivering_after_out_of_range_envelopes(tmp_path: Path) -> None:
    """A real rig (broker, supervisor, an instance subscriber, the recorder); a raw ZeroMQ socket publishes
    q=Infinity and t=10**400 on a data topic, on Ether.cleanup and on the supervisor's topics. Every part
    keeps running: the instance answers fresh messages, the recorder records them."""
    db = tmp_path / "ether.sqlite"
    config = {"instances": {"adder": {"class_path": "fabric_apps.Adder"}},
              "recording": {"path": str(db), "topics": ["Adder.add", "sum"]}}
    with tapped(config) as logs, fabric_client("sum") as client:
        launcher = ether.launcher
        assert launcher is not None
        raw = Publisher(launcher.addresses, "stranger")
        try:
            _wait_exact(raw, b"Adder.add", b"Ether.cleanup", b"Ether.log", b"Ether.ready")
            for topic in (b"Adder.add", b"Ether.cleanup", b"Ether.log", b"Ether.done"):
                for body in (INF_Q, HUGE_T):
                    raw.send_raw([topic, body])
            raw.send_raw([b"Ether.ready", cbor2.dumps({"d": {"name": 10**5000}, "s": "x", "q": 0, "t": 1.0})])
            raw.send_raw([b"Ether.log", cbor2.dumps({"d": {"level": math.inf, "time": 10**400, "name": "x"},
                                                     "s": "x", "q": 0, "t": 1.0})])
            logs.wait_for("adder", "malformed header field")
            logs.wait_for("supervisor", "dropped a message on 'Ether.ready'")
            client.publish("Adder.add", {"x": 1})
            assert expect(client, "sum") == {"total": 2}
            assert launcher.children["adder"].exit_code is None
            assert launcher._thread is not None and launcher._thread.is_alive()
            assert launcher.failures == []
        finally:
            raw.close()
    assert "Traceback" not in logs.text()
    rows = query(db, "SELECT topic, payload FROM messages WHERE topic IN ('Adder.add', 'sum') ORDER BY rowid")
    assert [(t, cbor2.loads(p)) for t, p in rows] == [("Adder.add", {"x": 1}), ("sum", {"total": 2})]
    # counted: the two on Adder.add, the two on Ether.log (always recorded), the one on Ether.ready
    # recorded as a session with problems (the health record names the rejected and malformed messages)
    assert query(db, "SELECT status, malformed FROM sessions") == [("problems", 5)]
