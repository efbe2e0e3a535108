"""Several machines in one fabric, on loopback only (127.0.0.1): a TCP + CURVE broker in this process, a
"remote" launcher (``ether run remote.yaml --join ...``) in a separate process with its own keys."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
import zmq
from conftest import stop_process
from fabric_harness import expect, fabric_client, tapped

from ether_medium import cli, ether
from ether_medium.config import load_config
from ether_medium.errors import ConfigError, EtherError
from ether_medium.fabric.broker import BrokerAddresses
from ether_medium.fabric.curve import create_keys, load_key_pair, load_public_key
from ether_medium.fabric.joiner import check_broker

ROOT = Path(__file__).resolve().parent.parent
ETHER = [sys.executable, "-m", "ether_medium.cli"]
LOOPBACK = "127.0.0.1"


def free_port_pair() -> int:
    """A port P on loopback such that P and P+1 are free now."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind((LOOPBACK, 0))
            port = first.getsockname()[1]
            if port >= 65534:
                continue
            with socket.socket() as second:
                try:
                    second.bind((LOOPBACK, port + 1))
                except OSError:
                    continue
                return int(port)
    raise RuntimeError("no two consecutive free ports on loopback")


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    """server, client (authorized) and stranger (not authorized) key pairs."""
    out: dict[str, Path] = {}
    authorized = tmp_path / "authorized"
    authorized.mkdir()
    for name in ("server", "client", "stranger"):
        public, secret = create_keys(tmp_path / "keys", name)
        out[name] = secret
        out[f"{name}.public"] = public
    (authorized / "client.key").write_bytes(out["client.public"].read_bytes())
    out["authorized"] = authorized
    return out


def main_config(port: int, keys: dict[str, Path] | None) -> dict[str, Any]:
    fabric: dict[str, Any] = {"transport": "tcp", "host": LOOPBACK, "port": port}
    if keys is not None:
        fabric["curve"] = {"key": str(keys["server"]), "authorized": str(keys["authorized"])}
    return {"fabric": fabric}


def remote_yaml(tmp_path: Path, notes: Path, key: Path | None, server: Path | None) -> Path:
    config: dict[str, Any] = {
        "instances": {"pinger": {"class_path": "remote_apps.Pinger", "kwargs": {"path": str(notes)}}}
    }
    if key is not None:
        config["fabric"] = {"curve": {"key": str(key), "server_key": str(server)}}
    path = tmp_path / f"remote-{key.stem if key else 'plain'}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.contextmanager
def remote(config: Path, port: int, *extra: str) -> Iterator[subprocess.Popen[str]]:
    """``ether run CONFIG --join tcp://127.0.0.1:PORT`` in its own process (stopped by PID afterwards)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    env.pop("ETHER_STATE_DIR", None)
    proc = subprocess.Popen(
        [*ETHER, "run", str(config), "--join", f"tcp://{LOOPBACK}:{port}", *extra],
        cwd=ROOT / "tests",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc
    finally:
        stop_process(proc, 5.0)
        if proc.stdout is not None:
            proc.stdout.close()


def finish(proc: subprocess.Popen[str], timeout: float = 10.0) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def notes_of(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_remote_instance_and_local_subscriber_talk_through_curve(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    port = free_port_pair()
    notes = tmp_path / "notes.txt"
    config = remote_yaml(tmp_path, notes, keys["client"], keys["server.public"])
    db = tmp_path / "main.sqlite"
    main = {**main_config(port, keys), "recording": {"path": str(db), "topics": ["remote.*"]}}
    with tapped(main) as logs, fabric_client("remote.hello", "remote.pong") as local:
        logs.wait_for("Other machines can join at tcp://127.0.0.1", "CURVE", "1 authorized keys")
        with remote(config, port) as proc:
            hello = expect(local, "remote.hello", timeout=15.0)  # the session had started: it caught up
            assert hello["pid"] != os.getpid()
            # local -> remote -> local: ask until the remote's subscription has reached our publisher
            deadline = time.monotonic() + 5.0
            pong = None
            while pong is None and time.monotonic() < deadline:
                local.publish("local.ping", {"n": 7})
                env = local.wait_for("remote.pong", 0.1)
                pong = None if env is None else env.data
            assert pong == {"n": 7, "pid": hello["pid"]}
            # its log records reach this (the main) console, with its PID and name
            logs.wait_for("joined from", "pinger")
            logs.wait_for("[pinger] remote pinger started in PID", str(hello["pid"]))
            assert proc.poll() is None
            # the main session's shutdown ends the remote run, with every phase run there
            ether.shutdown(timeout=5.0)
            code, out = finish(proc)
    assert code == 0, out
    assert "The main session is shutting down" in out, out
    assert notes_of(notes) == ["init", "start", "save", "shutdown"]
    # the main session's recorder recorded the remote instance's messages and log records
    with contextlib.closing(sqlite3.connect(db)) as con:
        rows = con.execute("SELECT topic, source FROM messages").fetchall()
    assert ("remote.hello", "pinger") in rows and ("remote.pong", "pinger") in rows
    assert ("Ether.log", "pinger") in rows


def test_wrong_server_key_is_named(tmp_path: Path, keys: dict[str, Path]) -> None:
    port = free_port_pair()
    config = remote_yaml(tmp_path, tmp_path / "notes.txt", keys["client"], keys["stranger.public"])
    with tapped(main_config(port, keys)), remote(config, port) as proc:
        code, out = finish(proc)
    assert code == 2, out
    assert "closed the connection during the handshake" in out and "fabric.curve.server_key" in out, out


def test_unknown_key_is_refused(tmp_path: Path, keys: dict[str, Path]) -> None:
    port = free_port_pair()
    notes = tmp_path / "notes.txt"
    config = remote_yaml(tmp_path, notes, keys["stranger"], keys["server.public"])
    with tapped(main_config(port, keys)) as logs, fabric_client("local.x") as local:
        with remote(config, port) as proc:
            code, out = finish(proc)
        assert code == 2, out
        assert "refused this machine's key" in out and "stranger.key" in out, out
        stranger = load_public_key(str(keys["stranger.public"])).decode()
        logs.wait_for("refused a machine joining the fabric from 127.0.0.1", stranger)
        assert not notes.exists()  # nothing was started there
        # a raw publisher with the unknown key gets nothing through
        public, secret = load_key_pair(str(keys["stranger"]))
        ctx = zmq.Context()
        try:
            pub = ctx.socket(zmq.PUB)
            pub.setsockopt(zmq.LINGER, 0)
            pub.curve_serverkey = load_public_key(str(keys["server.public"]))
            pub.curve_publickey, pub.curve_secretkey = public, secret
            pub.connect(f"tcp://{LOOPBACK}:{port}")
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                pub.send_multipart([b"local.x", b"\xa0"])
                assert local.recv(0.02) is None
            pub.close(0)
        finally:
            ctx.destroy(linger=0)
        assert "may not join" not in logs.text()
        # once its public key is in the authorized directory it is admitted, without a restart
        (keys["authorized"] / "stranger.key").write_bytes(keys["stranger.public"].read_bytes())
        addresses = BrokerAddresses(
            f"tcp://{LOOPBACK}:{port}",
            f"tcp://{LOOPBACK}:{port + 1}",
            str(keys["stranger"]),
            str(keys["server.public"]),
        )
        ctx = zmq.Context()
        try:
            check_broker(ctx, addresses, timeout=5.0)
        finally:
            ctx.destroy(linger=0)


def test_remote_leaves_on_its_own_and_plain_loopback_tcp(tmp_path: Path) -> None:
    """Loopback TCP needs no keys; a remote run that ends by itself (--duration) runs its instances' remaining
    phases and leaves the main session running."""
    port = free_port_pair()
    notes = tmp_path / "notes.txt"
    config = remote_yaml(tmp_path, notes, None, None)
    with tapped(main_config(port, None)) as logs, fabric_client("remote.hello") as local:
        logs.wait_for("Other processes can join at tcp://127.0.0.1", "no authentication")
        with remote(config, port, "--duration", "0.5") as proc:
            expect(local, "remote.hello", timeout=15.0)
            code, out = finish(proc)
        assert code == 0, out
        assert "Leaving session" in out and "leaving the session" in out, out
        assert notes_of(notes) == ["init", "start", "save", "shutdown"]
        logs.wait_for("left the session")
        local.publish("still.here", {})  # the main session is still up
        assert ether.launcher is not None and not ether.launcher.stopping


def test_name_taken_in_the_session_is_refused(tmp_path: Path) -> None:
    port = free_port_pair()
    config = remote_yaml(tmp_path, tmp_path / "notes.txt", None, None)
    main = {**main_config(port, None), "instances": {"pinger": {"class_path": "fabric_apps.Adder"}}}
    with tapped(main) as logs, remote(config, port) as proc:
        code, out = finish(proc)
        assert code == 2, out
        assert "process names already used in the session: pinger" in out, out
        logs.wait_for("may not join", "pinger")


def test_network_bind_or_join_without_curve_is_refused(tmp_path: Path) -> None:
    for fabric, needle in (
        (
            {"transport": "tcp", "host": "0.0.0.0"},
            "transport: tcp on '0.0.0.0', which other machines can reach",
        ),
        ({"join": "tcp://192.0.2.1:5555"}, "joining tcp://192.0.2.1:5555 over the network needs CURVE keys"),
    ):
        with pytest.raises(ConfigError) as err:
            load_config({"fabric": fabric})
        assert needle in str(err.value) and "ether keys DIR" in str(err.value)
    # the same from the command line: exit status 2, nothing started
    path = tmp_path / "open.yaml"
    path.write_text(yaml.safe_dump({"fabric": {"transport": "tcp", "host": "0.0.0.0"}}))
    proc = subprocess.run(
        [*ETHER, "run", str(path), "--duration", "0"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    assert "needs CURVE authentication (fabric.curve)" in proc.stderr and "ether keys DIR" in proc.stderr


def test_port_in_use_is_named() -> None:
    port = free_port_pair()
    with socket.socket() as taken:
        taken.bind((LOOPBACK, port))
        taken.listen()
        with pytest.raises(EtherError) as err:
            ether.tap(config=main_config(port, None))
    assert f"cannot bind tcp://127.0.0.1:{port}" in str(err.value) and "fabric.port" in str(err.value)
    assert ether.launcher is None


def test_keys_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["keys", str(tmp_path), "--name", "lab"]) == 0
    out = capsys.readouterr().out
    public = load_public_key(str(tmp_path / "lab.key")).decode()
    assert f"public key {public}" in out and "authorized:" in out and "--join" in out
    assert (tmp_path / "lab.key_secret").stat().st_mode & 0o077 == 0  # the secret is the owner's only
    assert cli.main(["keys", str(tmp_path), "--name", "lab"]) == 1
    assert "exists already" in capsys.readouterr().err
