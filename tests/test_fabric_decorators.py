"""The decorators record what the fabric needs and change nothing about calling a method."""

from __future__ import annotations

from ether_medium import ether_get, ether_pub, ether_start, ether_sub
from ether_medium.fabric.decorators import EtherMethod, apply_registry, ether_methods


class Both:
    @ether_sub(topic="in")
    @ether_pub(topic="out")
    def sub_then_pub(self, x: int) -> dict:
        return {"x": x}

    @ether_pub(topic="out")
    @ether_sub(topic="in")
    def pub_then_sub(self, x: int) -> dict:
        return {"x": x}

    @ether_sub()
    def defaults(self) -> None:
        return None

    @ether_get
    @ether_start
    def bare(self) -> int:
        return 7


class Plain:
    def method(self, a: int) -> int:
        return a + 1


def test_stacking_in_both_orders_gives_the_same_record() -> None:
    a: EtherMethod = Both.sub_then_pub.__ether__  # type: ignore[attr-defined]
    b: EtherMethod = Both.pub_then_sub.__ether__  # type: ignore[attr-defined]
    assert (a.sub_topics, a.pub_topics) == (b.sub_topics, b.pub_topics) == (["in"], ["out"])
    assert Both().sub_then_pub(1) == Both().pub_then_sub(1) == {"x": 1}


def test_default_topic_is_class_and_method_name() -> None:
    assert Both.defaults.__ether__.sub_topics == ["Both.defaults"]  # type: ignore[attr-defined]


def test_bare_decorators() -> None:
    meta = Both.bare.__ether__  # type: ignore[attr-defined]
    assert meta.get_topics == ["Both.bare"] and meta.phases == ["start"]
    assert Both().bare() == 7
    assert Both.bare.__name__ == "bare"


def test_ether_methods_lists_decorated_methods() -> None:
    assert set(ether_methods(Both)) == {"sub_then_pub", "pub_then_sub", "defaults", "bare"}


def test_registry_decorates_a_class_without_touching_its_source() -> None:
    class Third(Plain):
        pass

    apply_registry(Third, {"method": {"ether_sub": {}, "ether_pub": {"topic": "plus"}}})
    meta = ether_methods(Third)["method"]
    assert meta.sub_topics == ["Plain.method"] and meta.pub_topics == ["plus"]
    assert Third().method(1) == 2
    assert not hasattr(Plain.method, "__ether__")
