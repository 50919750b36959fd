"""Lists and tuples through the codec: lazy element access, sequence behaviour, errors."""

from __future__ import annotations

import gc
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from codec_support import round_trip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memshare.store import codec, codec_segment
from memshare.store.codec_list import LazySequence
from memshare.store.errors import UnsupportedTypeError


def mixed_list() -> list[object]:
    return [
        np.arange(6.0).reshape(2, 3),
        pd.DataFrame({"a": [1, 2], "b": ["x", None]}),
        pd.Series([1.5], name="s"),
        pa.array([1, None]),
        "text\0\U0001f600",
        7,
        None,
        [1, (2.5, "b"), []],
        (),
    ]


def test_list_round_trip(shm_dir: Path) -> None:
    original = mixed_list()
    view, encoded, _ = round_trip(original, shm_dir)
    assert isinstance(view, LazySequence)
    assert encoded.kind == "list"
    assert encoded.shape == (len(original),)
    assert view.kind == "list"
    assert len(view) == len(original)
    assert view == original

    assert isinstance(view[0], np.ndarray)
    assert not view[0].flags.writeable
    pd.testing.assert_frame_equal(view[1], original[1], check_exact=True)
    assert view[4] == "text\0\U0001f600"
    assert view[6] is None
    nested = view[7]
    assert isinstance(nested, LazySequence)
    assert nested.kind == "list"
    assert nested[1].kind == "tuple"
    assert nested[1] == (2.5, "b")


def test_tuple_kind(shm_dir: Path) -> None:
    view, encoded, _ = round_trip((1, "a"), shm_dir)
    assert encoded.kind == "tuple"
    assert isinstance(view, LazySequence)
    assert view.kind == "tuple"
    assert view == (1, "a")
    assert view != [1, "a"]


def test_sequence_behaviour(shm_dir: Path) -> None:
    original = list(range(10))
    view, _, _ = round_trip(original, shm_dir)
    assert isinstance(view, LazySequence)
    assert view[-1] == 9
    assert view[-10] == 0
    assert list(view) == original
    assert view[2:8:3] == [2, 5]
    assert isinstance(view[::-1], LazySequence)
    assert list(view[::-1]) == original[::-1]
    assert 5 in view
    assert view.index(4) == 4
    with pytest.raises(IndexError, match="out of range"):
        view[10]
    with pytest.raises(IndexError):
        view[-11]
    with pytest.raises(TypeError):
        hash(view)
    assert view != [0, 1]
    assert view != list(range(1, 11))


def test_repr_short(shm_dir: Path) -> None:
    view, _, _ = round_trip([np.zeros(3), "a", 1, 2, 3], shm_dir)
    text = repr(view)
    assert text.startswith(
        "<memshare list view of 5 elements: [ndarray(float64, shape=(3,)), 'a', 1, ..."
    )
    assert codec.preview(view, 2).splitlines() == [
        "list length=5",
        "[0] ndarray(float64, shape=(3,))",
        "[1] 'a'",
        "...",
    ]


def test_attach_builds_no_element(shm_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = [np.full(4, number) for number in range(2000)]
    encoded = codec.encode(original)
    path = shm_dir / "many.arrow"
    layout = encoded.write(str(path))

    opened: list[int] = []
    real_open = codec_segment.open_segment

    def counting_open(mapped: pa.Buffer, offset: int, length: int) -> object:
        opened.append(offset)
        return real_open(mapped, offset, length)

    monkeypatch.setattr(codec, "open_segment", counting_open)
    view = codec.attach(str(path), layout)
    assert isinstance(view, LazySequence)
    assert opened == [layout["offset"]]
    assert view.materialized_count == 0

    element = view[1234]
    assert np.array_equal(element, np.full(4, 1234))
    assert view.materialized_count == 1
    assert len(opened) == 2
    assert view[1234] is element
    assert len(opened) == 2


def test_elements_aligned(shm_dir: Path) -> None:
    original = [np.arange(n, dtype=np.longdouble) for n in range(1, 8)]
    view, _, _ = round_trip(original, shm_dir)
    for element in view:  # type: ignore[attr-defined]
        assert element.flags.aligned
        assert element.ctypes.data % 64 == 0


def test_elements_valid_after_unlink(shm_dir: Path) -> None:
    original = [np.arange(100_000), pd.Series(["a", "b"], dtype="str"), ["x", np.ones(3)]]
    view, _, path = round_trip(original, shm_dir)
    os.unlink(path)
    gc.collect()
    assert view == original


def test_pickle_materializes(shm_dir: Path) -> None:
    view, _, _ = round_trip([np.arange(3), ("a", 1)], shm_dir)
    copy = pickle.loads(pickle.dumps(view))
    assert type(copy) is list
    assert type(copy[1]) is tuple
    assert np.array_equal(copy[0], np.arange(3))


@pytest.mark.parametrize(
    ("original", "location"),
    [
        pytest.param([1, np.array([object()], dtype=object)], "value[1]", id="element"),
        pytest.param([[1], (2, {"a": 1})], "value[1][1]", id="nested-dict"),
        pytest.param(
            [pd.DataFrame({"x": pd.Series([1, "a"], dtype=object)})],
            "value[0] column 'x'",
            id="frame-column",
        ),
        pytest.param((1, 2, {3}), "value[2]", id="set-in-tuple"),
    ],
)
def test_element_error_location(shm_dir: Path, original: object, location: str) -> None:
    with pytest.raises(UnsupportedTypeError) as info:
        codec.encode(original)
    assert str(info.value).startswith(location)
    assert info.value.location.startswith(location.split(" ")[0])


@pytest.mark.parametrize(
    "original",
    [
        pytest.param([f"name-{n}\0\U0001f600" for n in range(10_000)] + [None, ""], id="strings"),
        pytest.param(tuple(range(-5, 10_000)), id="int-tuple"),
        pytest.param([1.5, None, float("inf")] * 1000, id="floats"),
        pytest.param([True, False] * 1000, id="bools"),
        pytest.param([b"\0", b"ab"] * 1000, id="bytes"),
    ],
)
def test_scalar_list_packed(shm_dir: Path, original: list[object] | tuple[object, ...]) -> None:
    view, encoded, path = round_trip(original, shm_dir)
    assert isinstance(view, LazySequence)
    assert view == original
    assert [type(item) for item in view] == [type(item) for item in original]
    # One segment for all elements: far below the ~1 KiB of metadata per element segment.
    assert path.stat().st_size < 100 * len(original)
    assert encoded.shape == (len(original),)


@pytest.mark.parametrize(
    "original",
    [
        pytest.param([1, 2**64], id="int-beyond-int64"),
        pytest.param([1, True], id="int-and-bool"),
        pytest.param([1, 2.5], id="int-and-float"),
    ],
)
def test_mixed_scalars_keep_types(shm_dir: Path, original: list[object]) -> None:
    view, _, _ = round_trip(original, shm_dir)
    assert view == original
    assert [type(item) for item in view] == [type(item) for item in original]  # type: ignore[attr-defined]


def test_view_registered_again(shm_dir: Path) -> None:
    original = (np.arange(3), ["a", 1.5], "z")
    view, _, _ = round_trip(original, shm_dir)
    again, encoded, _ = round_trip(view, shm_dir)
    assert encoded.kind == "tuple"
    assert again == original


def nested_values() -> st.SearchStrategy[object]:
    leaves = st.one_of(
        st.none(),
        st.integers(),
        st.floats(allow_nan=False),
        st.text(max_size=4),
        st.binary(max_size=4),
        st.booleans(),
        st.lists(st.integers(-100, 100), max_size=5).map(lambda v: np.array(v, dtype=np.int16)),
    )
    return st.recursive(
        leaves, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner), max_leaves=12
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(original=st.lists(nested_values(), max_size=6))
def test_any_list_round_trip(shm_dir: Path, original: list[object]) -> None:
    view, encoded, _ = round_trip(original, shm_dir)
    assert encoded.kind == "list"
    assert view == original
    assert len(view) == len(original)  # type: ignore[arg-type]
