"""Generic topics carry JSON-representable values as JSON (so the C
`horus topic echo` and other languages read them) and everything else as a
pickle: every Python value comes back exactly, type included."""

import enum
import math

import pytest

from horus import Topic


class Color(enum.IntEnum):
    RED = 1


VALUES = [
    {"speed": 1.5, "mode": "auto", "on": True, "n": None, "list": [1, -2, 3.25]},
    [1, "two", 3.0, [], {}],
    "café 🤖",
    0, -1, 2**63 - 1, -(2**63), 2**64, 10**30,  # the big ones: pickle
    0.1, -0.0, 1e300, 5e-324,
    True, False, None,
    (1, 2), {"t": (1, 2)}, {1: "int key"}, {"b": b"bytes inside"},
    float("inf"), Color.RED, {"e": Color.RED}, {1, 2}, frozenset(),
    "lone \ud800 surrogate", {"s": "\udfff"},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_every_value_round_trips_with_its_type(value):
    with Topic("gj.values") as t:
        t.send(value)
        got = t.recv(timeout=5)
    assert type(got) is type(value)
    assert got == value
    assert repr(got) == repr(value)  # -0.0, key order, nested types


def test_nan_deep_and_self_referencing_values():
    deep = []
    cur = deep
    for _ in range(200):  # deeper than the JSON flavour allows: pickled
        cur.append([])
        cur = cur[0]
    loop = [1]
    loop.append(loop)
    with Topic("gj.odd") as t:
        t.send(float("nan"))
        t.send(deep)
        t.send(loop)
        nan, got_deep, got_loop = t.recv(timeout=5), t.recv(timeout=5), t.recv(timeout=5)
    assert math.isnan(nan)
    assert got_deep == deep
    assert got_loop[1] is got_loop
