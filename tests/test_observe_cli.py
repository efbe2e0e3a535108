"""Seeing a running rig from a second terminal: ``ether topics``, ``hz``, ``monitor``, ``pub``, ``status``,
against a real fabric (``ether run`` in a subprocess) with instances and a simulated board over a pty."""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import stop_process, wait_until

from ether_medium.observe.attach import find_fabric
from ether_medium.observe.sampler import Sampler

ROOT = Path(__file__).resolve().parent.parent
ETHER = [sys.executable, "-m", "ether_medium.cli"]

CONFIG = """
devices:
  thermo:
    link: "sim:thermo:Thermometer?link=pty&world={world}"
    device_id: sim-thermo
instances:
  ticker:
    class_path: observe_apps.Ticker
    kwargs: {{rate_hz: 50}}
  listener:
    class_path: observe_apps.Listener
  flood:
    class_path: observe_apps.Flood
recording:
  path: {db}
metrics:
  port: {port}
logging:
  level: WARNING
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Rig:
    def __init__(self, env: dict[str, str], state: Path, metrics_port: int) -> None:
        self.env = env
        self.state = state
        self.metrics_port = metrics_port

    def scrape(self) -> dict[str, float]:
        """``/metrics`` as {'name{labels}': value}."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                out[key] = float(value)
        return out

    def ether(self, *args: str, timeout: float = 40.0) -> tuple[int, str, str]:
        proc = subprocess.run([*ETHER, *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("rig")
    cfg = tmp / "rig.yaml"
    port = _free_port()
    cfg.write_text(CONFIG.format(world=tmp / "world.bin", db=tmp / "rig.sqlite", port=port))
    env = {**os.environ, "ETHER_STATE_DIR": str(tmp / "state"),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    runner = subprocess.Popen([*ETHER, "run", str(cfg), "--duration", "300"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: any((tmp / "state").glob("fabric-*.json")) or runner.poll() is not None, 30,
                   "the fabric file")
        assert runner.poll() is None, runner.communicate()[0]
        rig = Rig(env, tmp / "state", port)
        wait_until(lambda: "Thermometer.read" in rig.ether("topics", "--json", "--seconds", "1.5")[1], 30,
                   "the board's first reading")
        yield rig
    finally:
        stop_process(runner, 20, sig=2)


def test_topics_json_lists_rates_counts_sources_and_types(rig: Rig) -> None:
    code, out, err = rig.ether("topics", "--json", "--seconds", "2.5")
    assert code == 0, err
    found = {t["topic"]: t for t in json.loads(out)}
    tick = found["Ticker.tick"]
    assert 35 <= tick["rate_hz"] <= 65, tick
    assert tick["count"] >= 50 and tick["sources"] == ["ticker"]
    assert tick["type"] == {"n": "int", "value": "float"}
    assert "tests/observe_apps.py:" in tick["typed_by"] and "Listener.on_tick" in tick["typed_by"]
    read = found["Thermometer.read"]
    assert read["sources"] == ["thermo"] and read["device_time"] is True
    assert read["type"] == {"celsius": "float"} and read["typed_by"] == "device thermo (DESCRIBE)"
    assert 0.5 <= read["rate_hz"] <= 1.5
    assert not any(t.startswith(("Ether.probe.", "Ether.reply.")) for t in found)


def test_topics_table(rig: Rig) -> None:
    code, out, err = rig.ether("topics", "--seconds", "1.5")
    assert code == 0, err
    assert out.splitlines()[0].split() == ["TOPIC", "RATE_HZ", "COUNT", "SOURCES", "TYPE", "LAST", "SEEN"]
    lines = out.splitlines()
    assert any(line.startswith("Ticker.tick ") and "{n: int, value: float}" in line for line in lines)


def test_hz_shows_rate_and_intervals(rig: Rig) -> None:
    code, out, err = rig.ether("hz", "Ticker.tick", "--duration", "3")
    assert code == 0, err
    last = [line for line in out.splitlines() if line.startswith("Ticker.tick ")][-1].split()
    rate, mean_ms, min_ms, max_ms = float(last[1]), float(last[3]), float(last[4]), float(last[5])
    assert 35 <= rate <= 65 and 15 <= mean_ms <= 30 and min_ms <= mean_ms <= max_ms


def test_monitor_json_lines_with_fields(rig: Rig) -> None:
    code, out, err = rig.ether("monitor", "Ticker.tick", "--json", "--fields", "n", "--count", "3")
    assert code == 0, err
    lines = [json.loads(x) for x in out.splitlines()]
    assert len(lines) == 3 and all(x["topic"] == "Ticker.tick" and list(x["data"]) == ["n"] for x in lines)
    assert lines[1]["data"]["n"] == lines[0]["data"]["n"] + 1 and lines[0]["source"] == "ticker"


def test_monitor_table_shows_each_topics_newest_message(rig: Rig) -> None:
    code, out, err = rig.ether("monitor", "Ticker.tick", "Thermometer.read", "--table", "--duration", "2.5")
    assert code == 0, err
    last = out.strip().split("\n\n")[-1].splitlines()
    assert last[0].split() == ["TOPIC", "SOURCE", "SEQ", "AGE_S", "celsius", "n", "value"]
    assert last[1].split()[:2] == ["Thermometer.read", "thermo"]
    assert last[2].split()[:2] == ["Ticker.tick", "ticker"]


def test_monitor_hides_the_fabrics_chatter_and_hints_at_a_misspelt_topic(rig: Rig) -> None:
    code, out, err = rig.ether("monitor", "", "--duration", "1.5")
    assert code == 0, err
    assert "Ticker.tick from ticker" in out and "Ether.recorder.progress" not in out
    code, out, err = rig.ether("monitor", "Ether.recorder.progress", "--count", "1")
    assert code == 0 and "Ether.recorder.progress from recorder" in out, err
    code, out, err = rig.ether("monitor", "Ticker.tock", "--duration", "4")
    assert code == 0 and out == ""
    assert "no message on 'Ticker.tock' for 3 s; live topics closest to it: Ticker.tick" in err


def test_pub_to_a_device_is_validated_and_acknowledged(rig: Rig) -> None:
    code, out, err = rig.ether("pub", "Thermometer.set_led", '{"on": true}', "--rate", "10", "--count", "2")
    assert code == 0, err
    assert out.count("Thermometer.set_led: delivered to device thermo, acknowledged in") == 2
    code, out, err = rig.ether("pub", "Thermometer.set_led", '{"of": true}')
    assert code == 2 and "does not fit device thermo's subscriber" in err and "'on'" in err
    code, out, err = rig.ether("pub", "Ticker.tick", "[1]")
    assert code == 2 and "must be an object" in err
    code, out, err = rig.ether("pub", "Ticker.tick", '{"value": 1.0}')  # the running config's subscriber
    assert code == 2 and "lacks field(s) n, which the config's subscribers need" in err, err
    assert "Listener.on_tick" in err


def test_pub_to_an_instance_reaches_its_subscriber_and_a_refusal_is_counted(rig: Rig) -> None:
    code, out, err = rig.ether("pub", "Ticker.tick", '{"n": "not a number"}', "--no-check")
    assert code == 0 and "published on Ticker.tick" in out, err
    key = 'ether_messages_rejected_total{reason="validation",topic="Ticker.tick"}'
    wait_until(lambda: rig.scrape().get(key, 0) >= 1, 10, "the refusal in /metrics")


def test_metrics_are_served_over_http(rig: Rig) -> None:
    m = wait_until(lambda: (m := rig.scrape()).get('ether_device_round_trip_seconds_count{device="thermo"}')
                   and m, 15, "round trips in /metrics")
    assert m['ether_messages_total{topic="Ticker.tick"}'] > 0
    assert m['ether_messages_total{topic="Thermometer.read"}'] > 0
    assert m['ether_device_frames_in_total{device="thermo"}'] > 0
    assert m['ether_device_frames_out_total{device="thermo"}'] > 0
    assert m['ether_device_frames_bad_total{device="thermo",reason="crc"}'] == 0
    assert m['ether_device_sequence_gaps_total{device="thermo"}'] == 0
    assert 'ether_device_deliveries_total{device="thermo",outcome="acked"}' in m
    assert m['ether_device_attached{device="thermo"}'] == 1
    assert m['ether_device_round_trip_seconds_bucket{device="thermo",le="+Inf"}'] >= 1
    assert m["ether_recorder_rows_total"] > 0 and "ether_recorder_pending_rows" in m
    assert "ether_recorder_lag_seconds" in m
    assert m['ether_process_restarts_total{kind="instance",name="ticker"}'] == 0
    assert m['ether_process_up{kind="instance",name="ticker"}'] == 1
    before = m['ether_messages_total{topic="Ticker.tick"}']
    wait_until(lambda: rig.scrape()['ether_messages_total{topic="Ticker.tick"}'] > before + 20, 10,
               "the tick counter to grow")


def test_status_shows_processes_devices_and_recorder(rig: Rig) -> None:
    code, out, err = rig.ether("status", "--json")
    assert code == 0, err
    snap = json.loads(out)
    children = {c["name"]: c for c in snap["children"]}
    assert {"ticker", "listener", "flood", "recorder", "bridge.thermo"} <= set(children)
    assert all(c["state"] == "running" and c["restarts"] == 0 and c["pid"] for c in children.values())
    thermo = snap["devices"]["thermo"]
    assert thermo["attached"] and thermo["rtt_ms"] is not None and thermo["counters"]["frames_in"] > 0
    assert 0.5 <= thermo["rates_hz"]["Thermometer.read"] <= 1.5
    assert snap["recorder"]["rows"] > 0
    code, out, err = rig.ether("status")
    assert code == 0 and "DEVICE" in out and "thermo" in out and "recorder:" in out, err


def test_a_flood_is_sampled_and_slow_topics_still_arrive_in_full(rig: Rig) -> None:
    fabric = find_fabric(str(next(rig.state.glob("fabric-*.json"))))
    sampler = Sampler(fabric.addresses, [""], name="test")
    try:
        sampler.start()
        sampler.client.publish("Flood.go", {"seconds": 3.0})
        wait_until(lambda: sampler.poll(0.1) is not None and "Flood.data" in sampler.fast, 10,
                   "the flood to be sampled")
        ticks_before = sampler.stats["Ticker.tick"].seen
        count_before = sampler.stats["Ticker.tick"].count
        sampler.poll(2.0)
        flood = sampler.stats["Flood.data"]
        assert flood.count > 5 * flood.seen, (flood.count, flood.seen)  # exact count, a sample read
        assert flood.rate_hz(time.time()) > 1000
        ticks = sampler.stats["Ticker.tick"]
        assert ticks.seen - ticks_before == ticks.count - count_before  # every tick still read
    finally:
        sampler.close()


def test_commands_without_a_fabric_say_how_to_start_one(tmp_path: Path) -> None:
    env = {**os.environ, "ETHER_STATE_DIR": str(tmp_path)}
    for cmd in (["topics"], ["hz", "x"], ["status"], ["pub", "x", "{}"]):
        proc = subprocess.run([*ETHER, *cmd], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2 and "ether run CONFIG" in proc.stderr, (cmd, proc.stderr)


def test_plot_saves_a_rerun_recording_with_host_and_device_time(rig: Rig, tmp_path: Path) -> None:
    rrd = tmp_path / "live.rrd"
    code, _, err = rig.ether("plot", "Ticker.tick.value", "Thermometer.read", "--save", str(rrd),
                               "--duration", "3")
    assert code == 0 and "dropped 0 messages" in err, err
    from rerun.server import Server

    with Server(host="127.0.0.1", addr="127.0.0.1", datasets={"plot": [str(rrd)]}) as server:
        dataset = server.client().get_dataset("plot")
        by_host = dataset.reader(index="host_time").to_pandas()
        by_device = dataset.reader(index="device_time").to_pandas()
    ticks = [v[0] for v in by_host["/Ticker.tick/value:Scalars:scalars"].dropna()]
    assert len(ticks) >= 100
    steps = {round(b - a, 6) for a, b in itertools.pairwise(ticks)}
    assert steps == {0.5}, steps  # value = n / 2 of consecutive ticks: none lost, none doubled
    assert "/Ticker.tick/n:Scalars:scalars" not in by_host  # only the field asked for
    celsius = by_device["/Thermometer.read/celsius:Scalars:scalars"].dropna()
    assert len(celsius) >= 2 and all(15 < v[0] < 40 for v in celsius)
    assert by_device["device_time"].notna().sum() >= len(celsius)


def test_plot_web_serves_the_viewer_on_loopback_and_stops_it(rig: Rig) -> None:
    web, grpc = _free_port(), _free_port()
    proc = subprocess.Popen([*ETHER, "plot", "Ticker.tick", "--web", "--web-port", str(web), "--grpc-port",
                             str(grpc), "--duration", "30"], cwd=ROOT, env=rig.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web}/", timeout=2) as resp:
                    return bool(resp.status == 200)
            except OSError:
                return False

        wait_until(answers, 20, "the web viewer")
        listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
        ours = [line.split()[1] for line in listening if line.split()[3] == "0A"
                and int(line.split()[1].split(":")[1], 16) in (web, grpc)]
        assert sorted(ours) == sorted(f"0100007F:{p:04X}" for p in (web, grpc))  # 127.0.0.1 only
    finally:
        stop_process(proc, 10, sig=2)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", web)) != 0  # the viewer went with it


def test_plot_drops_the_oldest_when_plotting_falls_behind(rig: Rig, tmp_path: Path) -> None:
    from ether_medium.fabric.envelope import Envelope
    from ether_medium.observe.plot import LivePlot, RerunSink, Selector

    fabric = find_fabric(str(next(rig.state.glob("fabric-*.json"))))
    sink = RerunSink("test", save=str(tmp_path / "x.rrd"))
    live = LivePlot(fabric.addresses, [Selector("T.x")], sink, queue_size=5)
    try:
        live.offer([Envelope("T", {"x": float(i)}, "s", i, 1.0 + i) for i in range(8)])
        assert live.dropped == 3 and [e.seq for e in live.queue] == [3, 4, 5, 6, 7]
    finally:
        live.sampler.close()
        sink.close()
