"""Export a recorded session to MCAP, the file Foxglove and PlotJuggler open (``ether export SESSION
--format mcap``; ``pip install 'ether-medium[mcap]'``).

One channel per topic, messages JSON-encoded (the payload map; bytes as hex text), each channel with a JSON
schema: the fields the config's classes declare for the topic (a subscriber's annotations, a publisher's
return annotation) where the session's config can still be read, merged with the fields and JSON types
found in the recorded messages. Times: ``log_time`` is the host time the message entered the fabric,
``publish_time`` the device time mapped to the host clock where there is one (else the host time), both in
nanoseconds since the epoch; ``sequence`` is the publisher's sequence number. The session row (config,
versions, host, ...) is the file's ``ether.session`` metadata record, and each channel's metadata names the
sources it had.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cbor2

from ether_medium.errors import MissingExtra
from ether_medium.recorder.export import file_stem
from ether_medium.recorder.store import SessionInfo, Store

__all__ = ["MCAP_HINT", "export_mcap", "json_schema"]

log = logging.getLogger("ether")

MCAP_HINT = "MCAP export needs the mcap package: pip install 'ether-medium[mcap]'"
_JSON_TYPES = {"float": "number", "int": "integer", "str": "string", "bool": "boolean", "bytes": "string",
               "dict": "object", "list": "array"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    if value is None:
        return "null"
    return "string"


def json_schema(topic: str, declared: dict[str, str] | None, seen: dict[str, set[str]],
                origin: str | None) -> dict[str, Any]:
    """The JSON schema of a topic's messages: ``declared`` field -> Python type name, ``seen`` field ->
    JSON types found in the recording."""
    props: dict[str, Any] = {}
    for name, type_name in (declared or {}).items():
        json_type = _JSON_TYPES.get(type_name.removesuffix(" | None"))
        props[name] = {"type": json_type} if json_type else {}
    for name, types in seen.items():
        if props.get(name):
            found = set(types) - {props[name]["type"]}
            if props[name]["type"] == "number":
                found.discard("integer")
            if found:
                props[name] = {"type": sorted({props[name]["type"], *found})}
        else:
            kinds = sorted(types)
            props[name] = {"type": kinds[0] if len(kinds) == 1 else kinds}
    schema: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": topic,
                              "type": "object", "properties": props}
    if origin:
        schema["description"] = f"fields declared by {origin}"
    return schema


def _declared(config: dict[str, Any]) -> dict[str, tuple[dict[str, str], str]]:
    """topic -> (fields, where) from the session's config, when its classes can still be imported."""
    from ether_medium.config import load_config
    from ether_medium.wiring import endpoints_of

    try:
        endpoints, _ = endpoints_of(load_config(config))
    except Exception as exc:  # the config of another machine or version: the recording still exports
        log.info("MCAP export: the session's classes cannot be imported here (%s); schemas from the data",
                 exc)
        return {}
    out: dict[str, tuple[dict[str, str], str]] = {}
    for ep in sorted(endpoints, key=lambda e: e.role != "pub"):  # what is sent, first
        if ep.fields and ep.topic not in out:
            out[ep.topic] = (ep.fields, ep.where)
    return out


def _scan(store: Store, session_id: str, topics: list[str]) -> tuple[dict[str, dict[str, set[str]]],
                                                                      dict[str, set[str]]]:
    fields: dict[str, dict[str, set[str]]] = {t: {} for t in topics}
    sources: dict[str, set[str]] = {t: set() for t in topics}
    for row in store.messages(session_id, topics):
        sources[row[1]].add(row[2])
        data = cbor2.loads(row[8])
        if isinstance(data, dict):
            for k, v in data.items():
                fields[row[1]].setdefault(str(k), set()).add(_json_type(v))
    return fields, sources


def export_mcap(store: Store, session: SessionInfo, out: Path, topics: list[str] | None = None) -> list[Path]:
    """Write ``<session id>.mcap`` into ``out`` (only topics matching ``topics`` globs when given); return
    the path written. Raises :class:`MissingExtra` without the mcap package."""
    try:
        from mcap.writer import CompressionType, Writer
    except ImportError as exc:
        raise MissingExtra(MCAP_HINT) from exc
    out.mkdir(parents=True, exist_ok=True)
    selected = store.topics(session.id, topics)
    declared = _declared(session.config) if session.config else {}
    seen, sources = _scan(store, session.id, selected)
    path = out / f"{file_stem(session.id)}.mcap"
    with path.open("wb") as fh:
        writer = Writer(fh, compression=CompressionType.ZSTD)
        writer.start(profile="", library="ether-medium")
        channels: dict[str, int] = {}
        for topic in selected:
            fields, where = declared.get(topic, (None, None))
            schema = json_schema(topic, fields, seen[topic], where)
            schema_id = writer.register_schema(name=topic, encoding="jsonschema",
                                               data=json.dumps(schema).encode())
            channels[topic] = writer.register_channel(
                topic=topic, message_encoding="json", schema_id=schema_id,
                metadata={"sources": ",".join(sorted(sources[topic]))})
        for row in store.messages(session.id, selected):
            _, topic, _source, seq, host_time, device_time, _unc, _dseq, payload = row
            data = json.dumps(_jsonable(cbor2.loads(payload)), default=str).encode()
            log_ns = int(host_time * 1e9)
            writer.add_message(channels[topic], log_time=log_ns, data=data,
                               publish_time=int(device_time * 1e9) if device_time is not None else log_ns,
                               sequence=seq & 0xFFFFFFFF)
        writer.add_metadata("ether.session", {k: v if isinstance(v, str) else json.dumps(v, default=str)
                                              for k, v in asdict(session).items()})
        writer.finish()  # type: ignore[no-untyped-call]
    return [path]
