"""Bad messages and bad return values: each is logged with topic, sender, field and reason, and the
instance keeps running (the next good message is processed)."""

from __future__ import annotations

from fabric_harness import expect, fabric_client, tapped

CONFIG = {"instances": {"adder": {"class_path": "fabric_apps.Adder", "kwargs": {"offset": 100}}}}


def test_good_message_is_processed() -> None:
    with tapped(CONFIG), fabric_client("sum") as client:
        client.publish("Adder.add", {"x": 1, "y": 2})
        assert expect(client, "sum") == {"total": 103}


def test_wrong_type_is_rejected_and_subscriber_keeps_running() -> None:
    with tapped(CONFIG) as logs, fabric_client("sum") as client:
        client.publish("Adder.add", {"x": "not a number"})
        line = logs.wait_for("rejected message", "'Adder.add'")
        assert "ERROR" in line and "from 'tester'" in line and "field 'x'" in line
        assert "valid integer" in line and "adder" in line
        client.publish("Adder.add", {"x": 5})
        assert expect(client, "sum") == {"total": 106}


def test_missing_field_is_rejected() -> None:
    with tapped(CONFIG) as logs, fabric_client("sum") as client:
        client.publish("Adder.add", {"y": 5})
        line = logs.wait_for("rejected message", "'Adder.add'")
        assert "field 'x'" in line and "required" in line.lower()
        client.publish("Adder.add", {"x": 1})
        assert expect(client, "sum") == {"total": 102}


def test_handler_exception_is_logged_and_instance_keeps_running() -> None:
    with tapped(CONFIG) as logs, fabric_client("sum") as client:
        client.publish("Adder.explode", {"why": "testing"})
        line = logs.wait_for("Adder.explode raised", "RuntimeError: boom: testing")
        assert "from 'tester'" in line
        client.publish("Adder.add", {"x": 1})
        assert expect(client, "sum") == {"total": 102}


def test_publisher_returning_non_dict_is_logged() -> None:
    with tapped(CONFIG) as logs, fabric_client("sum") as client:
        client.publish("Adder.bad_return", {})
        line = logs.wait_for("Adder.bad_return", "returned int 42")
        assert "ERROR" in line and "nothing published on 'never'" in line
        client.publish("Adder.add", {"x": 1})
        assert expect(client, "sum") == {"total": 102}


def test_publisher_failing_its_return_annotation_is_logged() -> None:
    with tapped(CONFIG) as logs, fabric_client("sum") as client:
        client.publish("Adder.bad_model", {})
        line = logs.wait_for("Adder.bad_model", "does not match the annotation")
        assert "temperature" in line and "nothing published" in line
        client.publish("Adder.add", {"x": 1})
        assert expect(client, "sum") == {"total": 102}


def test_unencodable_return_value_is_logged() -> None:
    with tapped(CONFIG) as logs, fabric_client("sum") as client:
        client.publish("Adder.unencodable", {})
        line = logs.wait_for("Adder.unencodable", "cannot be published")
        assert "CBOR" in line
        client.publish("Adder.add", {"x": 1})
        assert expect(client, "sum") == {"total": 102}


def test_malformed_fabric_message_is_logged() -> None:
    with tapped(CONFIG) as logs, fabric_client("sum") as client:
        client.socket  # noqa: B018 - the SUB socket exists; send raw frames on the PUB side
        client.send_frames([b"Adder.add", b"\xff\x00 not cbor"])
        logs.wait_for("malformed fabric message", "Adder.add")
        client.publish("Adder.add", {"x": 1})
        assert expect(client, "sum") == {"total": 102}
