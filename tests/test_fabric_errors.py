"""Retries and error handlers of subscribers, typed remote errors of requests, in a real fabric."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fabric_harness import expect, fabric_client, tapped

from ether_medium import ConfigError, DecoratorError, RemoteError, ether, ether_sub
from ether_medium.config import load_config

A = "retry_apps"


def _instances(**classes: str) -> dict[str, Any]:
    return {"instances": {name: {"class_path": f"{A}.{cls}"} for name, cls in classes.items()}}


def test_a_subscriber_that_raises_twice_then_succeeds_handles_the_message_once() -> None:
    with tapped(_instances(flaky="Flaky")) as logs, fabric_client("flaky_done") as client:
        client.publish("flaky", {"n": 1})
        assert expect(client, "flaky_done") == {"n": 1, "tries": 3}
        logs.wait_for("[flaky]", "Flaky.handle raised ConnectionError: instrument busy (1)", "(try 1 of 3)")
        logs.wait_for("[flaky]", "Flaky.handle raised ConnectionError: instrument busy (2)", "(try 2 of 3)")
        logs.wait_for("[flaky]", "Flaky.handle on message 'flaky' from 'tester' succeeded on try 3 of 3")
        assert client.recv(0.3) is None  # handled once: one result
    assert "ERROR" not in logs.text()


def test_a_retry_delay_pauses_and_messages_keep_their_order() -> None:
    with tapped(_instances(flaky="Flaky")), fabric_client("flaky_slow_done", "flaky_next_done") as client:
        start = time.monotonic()
        client.publish("flaky_slow", {"n": 1})
        client.publish("flaky_next", {"n": 2})
        first = client.recv(5.0)
        assert first is not None and first.topic == "flaky_slow_done"
        assert time.monotonic() - start >= 0.2
        assert expect(client, "flaky_next_done") == {"n": 2}


def test_a_subscriber_that_always_raises_calls_its_on_error_with_the_exception() -> None:
    with tapped(_instances(fails="AlwaysFails")) as logs, fabric_client("handled", "alive_ok") as client:
        client.publish("always", {"n": 7})
        assert expect(client, "handled") == {
            "by": "alert",
            "message": {"n": 7},
            "error": "ValueError: cannot handle 7 (call 2)",  # the last try's exception
        }
        line = logs.wait_for("[fails]", "AlwaysFails.handle raised on message 'always' from 'tester'")
        assert "on each of 2 tries; handing it to alert" in line and line.startswith("ERROR")
        assert "ValueError: cannot handle 7 (call 2)" in line  # with its traceback
        client.publish("alive", {})
        assert expect(client, "alive_ok") == {"ok": True}  # the instance keeps running
    logs.wait_for("[fails]", "1 messages failed in their subscriber after every try")


def test_on_error_may_name_a_module_level_function() -> None:
    with tapped(_instances(fails="AlwaysFails")), fabric_client("handled") as client:
        client.publish("always_module", {"n": 3})
        assert expect(client, "handled") == {"by": "notify", "message": {"n": 3}, "error": "KeyError: 3"}


def test_an_error_handler_that_raises_is_logged_and_the_instance_keeps_running() -> None:
    with tapped(_instances(fails="AlwaysFails")) as logs, fabric_client("alive_ok") as client:
        client.publish("always_broken", {"n": 1})
        line = logs.wait_for("[fails]", "the error handler retry_apps:broken_handler raised")
        assert "RuntimeError: the handler itself is broken" in line
        client.publish("alive", {})
        assert expect(client, "alive_ok") == {"ok": True}


def test_the_class_ether_on_error_method_is_the_instance_wide_default() -> None:
    with tapped(_instances(wide="InstanceWide")), fabric_client("handled") as client:
        client.publish("instance_wide", {"n": 4})
        assert expect(client, "handled") == {
            "by": "ether_on_error",
            "message": {"n": 4},
            "error": "OSError: disk full at 4",
        }


def test_the_config_errors_section_is_the_default_for_every_subscriber() -> None:
    config = {**_instances(plain="NoHandler"), "errors": {"on_error": f"{A}:notify", "retries": 1}}
    with tapped(config), fabric_client("handled") as client:
        client.publish("config_wide", {"n": 5})
        data = expect(client, "handled")
        assert data == {"by": "notify", "message": {"n": 5}, "error": "TimeoutError: no answer (2)"}


def test_an_on_error_that_names_nothing_is_a_setup_error() -> None:
    with tapped(_instances(bad="BadHandlerName")) as logs:
        line = logs.wait_for("[bad]", "on_error='no_such_method' names no method of BadHandlerName")
        assert "retry_apps.BadHandlerName.handle" in line


def test_a_failed_request_raises_a_typed_remote_error() -> None:
    with tapped(_instances(svc="Service")):
        with pytest.raises(RemoteError) as info:
            ether.get("Service.calibrate", channel=9)
        err = info.value
        assert (err.remote_type, err.instance, err.topic) == ("CalibrationError", "svc", "Service.calibrate")
        assert "channel 9 out of range" in err.reason and "channel 9 out of range" in str(err)
        with pytest.raises(RemoteError) as info:
            ether.get("Service.calibrate", channel="nine")
        assert info.value.remote_type == "MessageRejected"
        with pytest.raises(RemoteError) as info:
            ether.get("Service.unsendable")
        assert info.value.remote_type == "UnpublishableResult"
        assert "cannot be sent" in info.value.reason


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"retries": -1}, "retries=-1"),
        ({"retries": 1.5}, "an int >= 0"),
        ({"retry_delay": "soon"}, "seconds between tries"),
        ({"on_error": 42}, "module-level function"),
    ],
)
def test_options_that_cannot_work_are_refused_where_the_class_is_defined(
    options: dict[str, Any], match: str
) -> None:
    with pytest.raises(DecoratorError, match=match):

        class Bad:
            @ether_sub(**options)
            def handle(self) -> None:
                pass


def test_the_config_checks_the_errors_section_and_registry_options() -> None:
    cfg = load_config(
        {
            "errors": {"retries": 2, "retry_delay": 0.1, "on_error": "lab.alerts:page"},
            "registry": {
                "x.Y": {"methods": {"m": {"ether_sub": {"retries": 1, "on_error": "alert"}}}},
            },
        }
    )
    assert (cfg.errors.retries, cfg.errors.on_error) == (2, "lab.alerts:page")
    with pytest.raises(ConfigError, match=r"errors.on_error: on_error: expected 'module:function'"):
        load_config({"errors": {"on_error": "alert"}})  # a method name means nothing config-wide
    with pytest.raises(ConfigError, match=r"errors.retries"):
        load_config({"errors": {"retries": -1}})
    with pytest.raises(ConfigError, match=r"errors.retry: unknown key"):
        load_config({"errors": {"retry": 1}})


def test_the_registry_gives_retries_and_handlers_to_a_class_it_cannot_edit() -> None:
    options = {"topic": "reg", "retries": 2, "on_error": f"{A}:notify"}
    config = {
        "registry": {f"{A}.NoHandler": {"methods": {"handle": {"ether_sub": options}}}},
        **_instances(plain="NoHandler"),
    }
    with tapped(config), fabric_client("handled") as client:
        client.publish("reg", {"n": 1})
        assert expect(client, "handled")["error"] == "TimeoutError: no answer (3)"
