"""``ether export SESSION --format mcap``: read back with the mcap reader, checked against the database."""

from __future__ import annotations

import json
from pathlib import Path

import cbor2
from mcap.reader import make_reader

from ether_medium.cli import main as ether
from ether_medium.recorder.store import Store

CONFIG = {"instances": {"source": {"class_path": "observe_apps.Source"}}}


def _record(path: Path) -> None:
    store = Store(path)
    store.begin_session("s1", CONFIG, provenance={"versions": {}, "host": "lab", "user": "me",
                                                  "git_commit": None, "cwd": "/"})
    rows = []
    for i in range(50):
        t = 1_700_000_000.0 + i * 0.1
        rows.append(("s1", "Thermometer.read", "thermo", i, t, t - 0.002, 0.0005, 100 + i,
                     cbor2.dumps({"celsius": 20.0 + i / 10})))
        if i % 5 == 0:
            rows.append(("s1", "Source.sample", "source", i // 5, t + 0.01, None, None, None,
                         cbor2.dumps({"label": f"n{i}", "value": i, "raw": b"\x01\x02"})))
    store.insert(rows)
    store.end_session("s1", "normal")
    store.commit()
    store.close()


def test_mcap_has_one_channel_per_topic_with_schemas_times_and_values(tmp_path: Path) -> None:
    db = tmp_path / "rec.sqlite"
    _record(db)
    assert ether(["export", "s1", "--format", "mcap", "--db", str(db), "--out", str(tmp_path / "out")]) == 0
    path = tmp_path / "out" / "s1.mcap"
    with path.open("rb") as fh:
        reader = make_reader(fh)
        summary = reader.get_summary()
        assert summary is not None
        channels = {c.topic: c for c in summary.channels.values()}
        assert set(channels) == {"Thermometer.read", "Source.sample"}
        assert all(c.message_encoding == "json" for c in channels.values())
        counts = {channels_by_id.topic: n for cid, n in summary.statistics.channel_message_counts.items()
                  for channels_by_id in [summary.channels[cid]]}
        assert counts == {"Thermometer.read": 50, "Source.sample": 10}
        schema = json.loads(summary.schemas[channels["Source.sample"].schema_id].data)
        assert summary.schemas[channels["Source.sample"].schema_id].encoding == "jsonschema"
        # declared by Source.sample's return annotation (label: str, value: float), plus what was recorded
        assert schema["properties"] == {"label": {"type": "string"}, "value": {"type": "number"},
                                        "raw": {"type": "string"}}
        assert "observe_apps.py" in schema["description"]
        thermo = json.loads(summary.schemas[channels["Thermometer.read"].schema_id].data)
        assert thermo["properties"] == {"celsius": {"type": "number"}}  # no class declares it: from the data
        got = [(ch.topic, m.log_time, m.publish_time, m.sequence, json.loads(m.data))
               for _, ch, m in reader.iter_messages(log_time_order=True)]
        metadata = {m.name: m.metadata for m in reader.iter_metadata()}
    store = Store.open_existing(db)
    try:
        want = [(r[1], int(r[4] * 1e9), int((r[5] if r[5] is not None else r[4]) * 1e9), r[3],
                 cbor2.loads(r[8])) for r in store.messages("s1")]
    finally:
        store.close()
    for w in want:
        if w[0] == "Source.sample":
            w[4]["raw"] = w[4]["raw"].hex()
    assert got == want
    assert json.loads(metadata["ether.session"]["config"]) == CONFIG
