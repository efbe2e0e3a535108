"""The Ray engine on a multi-node Ray test cluster (``ray.cluster_utils.Cluster``: three raylets on this
machine with different custom resources and labels): instances pinned to each node, a device's bridge on the
node offering ``device:NAME``, a node removed mid-run; and first, before that cluster exists, the seed's quick
start with ``ETHER_ENGINE=ray`` (a local Ray of its own).

Skipped when Ray is not installed. The cluster is made once for the module (about 10 s on a 2-core machine);
the whole file takes about 40 s (``pytest tests/test_cluster_ray.py --durations=0``).
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'ether-medium[ray]')")

from conftest import wait_until  # noqa: E402
from fabric_harness import expect, fabric_client, tapped  # noqa: E402

from ether_medium import ether  # noqa: E402
from ether_medium.commands.status import render, snapshot  # noqa: E402
from ether_medium.errors import EtherError  # noqa: E402
from ether_medium.fabric.requests import Requester  # noqa: E402
from ether_medium.observe.recorder_lag import RecorderLag  # noqa: E402
from ether_medium.observe.sampler import Sampler  # noqa: E402
from ether_medium.observe.status import ask_status  # noqa: E402

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parent.parent


def test_the_seed_quick_start_prints_its_lines_on_a_local_ray() -> None:
    """``examples.run_dual_processors`` with ``cluster: {engine: ray, address: local}`` (here from
    ``ETHER_ENGINE=ray``): a Ray of its own is started and stopped by the run."""
    env = {**os.environ, "ETHER_ENGINE": "ray"}
    proc = subprocess.run(
        [sys.executable, "-m", "examples.run_dual_processors"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=50,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    lines = [re.sub(r"\[PID \d+\]", "[PID]", line) for line in out.splitlines()]
    for expected in (
        "DataGenerator[PID]: Generating data - 42",
        "DataProcessor[PID]: Processed output result - 84",
        "DataProcessor[PID]: Processed output result - 168",
        "DataCollector[PID]: Collected result - 84",
        "DataCollector[PID]: Summarizing results - mean: 126.0, max: 168, min: 84",
    ):
        assert expected in lines, out
    assert "Ether system shutdown complete" in proc.stderr


class Nodes:
    def __init__(self, cluster: Any, head: Any, bench: Any, analysis: Any) -> None:
        self.cluster = cluster
        self.head, self.bench, self.analysis = head, bench, analysis


@pytest.fixture(scope="module")
def nodes() -> Iterator[Nodes]:
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "resources": {"head": 1}, "include_dashboard": False},
    )
    try:
        bench = cluster.add_node(num_cpus=1, resources={"device:thermo": 1, "bench": 1})
        analysis = cluster.add_node(num_cpus=1, resources={"analysis": 1}, labels={"role": "analysis"})
        ray.init(address=cluster.address, include_dashboard=False, logging_level="WARNING")
        yield Nodes(cluster, cluster.head_node, bench, analysis)
    finally:
        ray.shutdown()
        cluster.shutdown()


def _config(instances: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"instances": instances, "cluster": {"engine": "ray", "address": "auto"}, **extra}


def _where(label: str, **placement: Any) -> dict[str, Any]:
    return {"class_path": "cluster_apps.Where", "kwargs": {"label": label}, "placement": placement}


def _pongs(client: Any, count: int) -> dict[str, dict[str, Any]]:
    """``ping`` once, collect ``count`` answers by label."""
    client.publish("ping", {"n": 1})
    answers = {}
    for _ in range(count):
        data = expect(client, "pong", 10.0)
        answers[data["label"]] = data
    return answers


def _node(node: Any) -> str:
    return str(node.node_id)[:12]


def test_placement_maps_onto_ray_actor_options() -> None:
    from ether_medium.config import PlacementConfig
    from ether_medium.fabric.engines.ray import actor_options

    place = PlacementConfig.model_validate({
        "resources": {"num_cpus": 1, "num_gpus": 0.5, "memory": 2**30, "custom": {"camera": 1}},
        "labels": {"room": "b12"}, "soft": True,
    })
    options = actor_options(place, "ab" * 28, set())
    assert options["num_cpus"] == 1 and options["num_gpus"] == 0.5 and options["memory"] == 2**30
    assert options["resources"] == {"camera": 1} and options["label_selector"] == {"room": "b12"}
    assert options["fallback_strategy"] == [{"label_selector": {}}]  # soft: any node when none has them
    anywhere = {"scheduling_strategy": "DEFAULT", "num_cpus": 0}
    assert actor_options(PlacementConfig(), "ab" * 28, set()) == anywhere
    pinned = actor_options(None, "ab" * 28, set())["scheduling_strategy"]  # recorder: the tap's node
    assert pinned.node_id == "ab" * 28 and not pinned.soft
    with pytest.raises(ValueError, match="56 hex digits"):
        PlacementConfig.model_validate({"node_id": "bench-pc"})


def test_instances_run_on_the_nodes_their_placement_names(nodes: Nodes) -> None:
    config = _config({
        "on_head": _where("head", resources={"custom": {"head": 0.1}}),
        "on_bench": _where("bench", node_id=nodes.bench.node_id),
        "on_analysis": _where("analysis", labels={"role": "analysis"}),
        "via_tcp": _where("tcp", resources={"custom": {"analysis": 0.1}}),
        "prefers": _where("prefers", labels={"role": "analysis"}, soft=True),
        "fallback": _where("fallback", labels={"role": "nowhere"}, soft=True),
    })
    config["cluster"]["local_ipc"] = False  # every process over TCP + CURVE (keys made in memory)
    with tapped(config), fabric_client("pong") as client:
        answers = _pongs(client, 6)
        launcher = ether.launcher
        assert launcher is not None
        where = {name: child.where for name, child in launcher.children.items()}
        requester = Requester(launcher.addresses, "status", context=launcher.context)
        sampler = Sampler(launcher.addresses, [], context=launcher.context)
        try:  # what `ether status` prints
            shown = render(snapshot(ask_status(requester), sampler, RecorderLag(), time.time()))
        finally:
            requester.close()
            sampler.close()
    assert "NODE" in shown and _node(nodes.bench) in shown, shown  # ether status: each process's node
    assert _node(nodes.head) in answers["head"]["node"], answers
    assert _node(nodes.bench) in answers["bench"]["node"], answers
    assert _node(nodes.analysis) in answers["analysis"]["node"], answers
    assert _node(nodes.analysis) in answers["tcp"]["node"], answers
    assert _node(nodes.analysis) in answers["prefers"]["node"], answers
    assert "Ray node" in answers["fallback"]["node"], answers  # soft: no node has the label, still runs
    assert all(w.endswith("tcp)") for w in where.values()), where  # local_ipc: false


def test_a_bridge_runs_on_the_node_offering_its_device(nodes: Nodes) -> None:
    config = _config(
        {"near_board": _where("near", resources={"custom": {"bench": 0.1}})},
        devices={"thermo": {"link": "sim:bridge_support:SimThermo"}},
    )
    with tapped(config) as logs, fabric_client("pong") as client:
        launcher = ether.launcher
        assert launcher is not None
        bridge = launcher.children["bridge.thermo"]
        wait_until(lambda: "Ray node" in bridge.where, 10.0, "the bridge's node")
        assert _node(nodes.bench) in bridge.where and bridge.where.endswith("ipc)"), bridge.where
        assert _node(nodes.bench) in _pongs(client, 1)["near"]["node"]
        logs.wait_for("thermo", "attached", timeout=15.0)


def test_shutdown_saves_and_cleans_up_on_every_node_and_the_recorder_has_it(
    nodes: Nodes, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "run.sqlite"
    config = _config(
        {
            "on_bench": {"class_path": "cluster_apps.Saver", "kwargs": {"label": "bench"},
                         "placement": {"resources": {"custom": {"bench": 0.1}}}},
            "on_analysis": {"class_path": "cluster_apps.Saver", "kwargs": {"label": "analysis"},
                            "placement": {"labels": {"role": "analysis"}}},
        },
        recording={"path": str(db)},
    )
    config["cluster"]["local_ipc"] = False  # over TCP + CURVE, as from other machines
    with tapped(config), fabric_client() as client:
        for n in range(5):
            client.publish("ping", {"n": n})
        client.publish("ping", {"n": 5})
    out = capfd.readouterr().out
    assert "Saver[bench]: cleanup after 6 pings" in out and "Saver[analysis]: cleanup after 6 pings" in out
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT source FROM messages WHERE topic = 'Ether.saved'").fetchall()
        everything = conn.execute("SELECT topic, source, count(*) FROM messages GROUP BY 1, 2").fetchall()
    assert sorted(r[0] for r in rows) == ["on_analysis", "on_bench"], everything


def test_a_missing_device_resource_is_refused_with_what_to_do(nodes: Nodes) -> None:
    config = _config({}, devices={"camera": {"link": "sim:bridge_support:SimThermo"}})
    with pytest.raises(EtherError, match=r"device:camera .*ray start --resources"):
        ether.tap(config=config)
    assert not ether.tapped


def test_a_node_removed_mid_run_restarts_what_may_move_and_reports_the_rest(nodes: Nodes) -> None:
    doomed = nodes.cluster.add_node(num_cpus=1, resources={"doomed": 1})
    try:
        wait_until(lambda: "doomed" in ray.available_resources(), 20.0, "the new node's resources")
        config = _config({
            "mobile": {**_where("mobile", node_id=doomed.node_id, soft=True), "restart": "on-failure"},
            "pinned": {**_where("pinned", resources={"custom": {"doomed": 0.5}}), "restart": "never"},
        })
        with tapped(config) as logs, fabric_client("pong") as client:
            first = _pongs(client, 2)
            launcher = ether.launcher
            assert launcher is not None
            mobile = launcher.children["mobile"]
            before = mobile.proc
            assert _node(doomed) in first["pinned"]["node"], first
            assert _node(doomed) in first["mobile"]["node"], first
            nodes.cluster.remove_node(doomed)
            doomed = None
            logs.wait_for("mobile", "Ray actor died", timeout=30.0)
            logs.wait_for("pinned", "Ray actor died", timeout=30.0)
            logs.wait_for("restarting mobile", timeout=10.0)
            wait_until(lambda: mobile.proc is not before and mobile.ready, 20.0, "mobile ready elsewhere")
            again = _pongs(client, 1)
            assert again["mobile"]["pid"] != first["mobile"]["pid"] and "Ray node" in again["mobile"]["node"]
        report = launcher.report
        assert report is not None
        lost = {p["name"] for p in report.health.processes_lost}
        assert lost == {"mobile", "pinned"}, report.health
        problems = report.health.problems()
        assert any("pinned" in line and "lost with its cluster node" in line for line in problems), problems
    finally:
        if doomed is not None:
            nodes.cluster.remove_node(doomed)
