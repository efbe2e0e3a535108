"""Live plots in Rerun (``ether plot``; ``pip install 'ether-medium[plot]'``): numeric fields of topics as
scalar time series, entity ``TOPIC/FIELD`` (nested maps as ``TOPIC/a/b``, booleans as 0/1), on two
timelines: ``host_time`` (when the message entered the fabric) and ``device_time`` (a board's clock mapped to
the host's, where there is one).

The plot process never holds the fabric back: a receiving thread (a
:class:`~ether_medium.observe.sampler.Sampler`, which already reads fast topics in windows only) hands
messages to the plotting thread through a bounded queue; when plotting falls behind, the oldest waiting
messages are dropped and counted (:attr:`LivePlot.dropped`).
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ether_medium.errors import MissingExtra
from ether_medium.fabric.broker import BrokerAddresses
from ether_medium.fabric.envelope import Envelope
from ether_medium.observe.sampler import Sampler

__all__ = ["PLOT_HINT", "LivePlot", "RerunSink", "Selector", "numeric_fields"]

PLOT_HINT = "ether plot needs Rerun: pip install 'ether-medium[plot]'"


@dataclass(frozen=True, slots=True)
class Selector:
    """``TOPIC`` (every numeric field) or ``TOPIC.FIELD`` as given on the command line; a topic name may
    contain dots, so both readings are tried against the topics that arrive."""

    text: str

    @property
    def patterns(self) -> list[str]:
        parent = self.text.rpartition(".")[0]
        return [self.text, parent] if parent else [self.text]

    def fields_of(self, topic: str) -> list[str] | None:
        """The fields to plot of a message on ``topic`` ([] = all numeric), None when it is not selected."""
        if topic == self.text:
            return []
        parent, _, field = self.text.rpartition(".")
        return [field] if topic == parent else None


def numeric_fields(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, int | float):  # bool too
            yield name, float(value)
        elif isinstance(value, dict):
            yield from numeric_fields(value, f"{name}/")


class RerunSink:
    """One Rerun recording: ``save`` (an ``.rrd`` file, headless), ``web`` (the web viewer on loopback) or
    else a spawned native viewer."""

    def __init__(self, app: str, *, save: str | None = None, web: bool = False, web_port: int = 9090,
                 grpc_port: int = 9876) -> None:
        os.environ.setdefault("RERUN_ANALYTICS", "false")
        try:
            import rerun as rr
        except ImportError as exc:
            raise MissingExtra(PLOT_HINT) from exc
        self.rr = rr
        self.rec = rr.RecordingStream(app)
        self.url: str | None = None
        self._viewer: subprocess.Popen[bytes] | None = None
        if save is not None:
            self.rec.save(save)
        elif web:
            self._serve_web(web_port, grpc_port)
        else:
            self.rec.spawn()

    def _serve_web(self, web_port: int, grpc_port: int) -> None:
        """The web viewer and its gRPC server in a child ``rerun`` process bound to loopback (the SDK's own
        servers listen on every interface); it dies with this process."""
        cmd = [_viewer_binary(), "--serve-web", "--bind", "127.0.0.1", "--port", str(grpc_port),
               "--web-viewer-port", str(web_port)]
        env = {**os.environ, "RERUN_ANALYTICS": "false"}
        self._viewer = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                        preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 15.0
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", grpc_port)) == 0:
                    break
            if self._viewer.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"the Rerun web viewer did not start on 127.0.0.1:{grpc_port} (port "
                                   "taken? give --web-port / --grpc-port)")
            time.sleep(0.05)
        grpc = f"rerun+http://127.0.0.1:{grpc_port}/proxy"
        self.rec.connect_grpc(grpc)
        self.url = f"http://127.0.0.1:{web_port}/?url={grpc}"

    def log(self, topic: str, fields: list[str], env: Envelope) -> int:
        """Log the selected fields of one message; how many scalars."""
        rr, rec = self.rr, self.rec
        rec.set_time("host_time", timestamp=env.host_time)
        if env.device_time is not None:
            rec.set_time("device_time", timestamp=env.device_time)
        else:
            rec.disable_timeline("device_time")
        n = 0
        for name, value in numeric_fields(env.data):
            if not fields or name in fields:
                rec.log(f"{topic}/{name}", rr.Scalars(value))
                n += 1
        return n

    def close(self) -> None:
        self.rec.flush()
        self.rec.disconnect()
        if self._viewer is not None:
            self._viewer.terminate()
            try:
                self._viewer.wait(5.0)
            except subprocess.TimeoutExpired:
                self._viewer.kill()
                self._viewer.wait()
            self._viewer = None


def _viewer_binary() -> str:
    """The ``rerun`` executable that rerun-sdk ships (``rerun_cli``), run directly so that stopping it stops
    the viewer (the ``rerun`` script would leave its child behind)."""
    if os.environ.get("RERUN_CLI_PATH"):
        return os.environ["RERUN_CLI_PATH"]
    spec = importlib.util.find_spec("rerun_cli")
    if spec is None or spec.origin is None:
        raise MissingExtra(PLOT_HINT)
    return os.path.join(os.path.dirname(spec.origin), "rerun")


def _die_with_parent() -> None:
    """In the viewer's process before exec: on Linux, SIGTERM it when the plot process dies, however."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LivePlot:
    """Receive ``selectors`` from the fabric on a thread, plot them on the caller's (:meth:`run`)."""

    def __init__(self, addresses: BrokerAddresses, selectors: Iterable[Selector], sink: RerunSink,
                 queue_size: int = 10_000) -> None:
        self.selectors = list(selectors)
        self.sink = sink
        self.sampler = Sampler(addresses, [p for s in self.selectors for p in s.patterns], name="plot")
        self.queue: collections.deque[Envelope] = collections.deque()
        self.queue_size = queue_size
        self.dropped = 0
        self.plotted = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="ether-plot-receiver", daemon=True)

    def start(self) -> None:
        self.sampler.start()
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            got = self.sampler.poll(0.1)
            if got:
                self.offer(got)

    def offer(self, envs: list[Envelope]) -> None:
        """Queue messages for plotting; when the queue is full the oldest go, counted in :attr:`dropped`."""
        with self._cond:
            for env in envs:
                if len(self.queue) >= self.queue_size:
                    self.queue.popleft()
                    self.dropped += 1
                self.queue.append(env)
            self._cond.notify()

    def run(self, until: threading.Event) -> None:
        """Plot until ``until`` is set."""
        while not until.is_set():
            with self._cond:
                if not self.queue:
                    self._cond.wait(0.1)
                batch = list(self.queue)
                self.queue.clear()
            for env in batch:
                self.plot(env)

    def plot(self, env: Envelope) -> None:
        for sel in self.selectors:
            fields = sel.fields_of(env.topic)
            if fields is not None:
                self.plotted += self.sink.log(env.topic, fields, env)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self.sampler.close()
        with self._cond:
            rest = list(self.queue)
            self.queue.clear()
        for env in rest:
            self.plot(env)
