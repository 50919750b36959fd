"""Namespace and object names: the rule and its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memshare.store import (
    InvalidNameError,
    register_variables,
    release_variables,
    release_views,
    retrieve_metadata,
    retrieve_views,
)
from memshare.store.names import MAX_NAME_LENGTH, validate_name

BAD_NAMES = [
    pytest.param("", id="empty"),
    pytest.param(".", id="dot"),
    pytest.param("..", id="dotdot"),
    pytest.param(".hidden", id="leading-dot"),
    pytest.param("-rf", id="leading-dash"),
    pytest.param("a/b", id="slash"),
    pytest.param("../escape", id="parent"),
    pytest.param("tab\there", id="control"),
    pytest.param("line\n", id="newline"),
    pytest.param("nul\x00", id="nul"),
    pytest.param("spa ce", id="space"),
    pytest.param("über", id="non-ascii"),
    pytest.param("x" * (MAX_NAME_LENGTH + 1), id="overlong"),
    pytest.param(3, id="int"),
    pytest.param(None, id="none"),
]

GOOD_NAMES = ["x", "X_1", "_private", "data.v2", "a-b", "0", "x" * MAX_NAME_LENGTH]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_name_rejected(name: object) -> None:
    with pytest.raises(InvalidNameError) as info:
        validate_name(name)

    message = str(info.value)
    assert "A-Z a-z 0-9" in message
    if isinstance(name, str) and len(name) <= MAX_NAME_LENGTH:
        assert repr(name) in message


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_name_accepted(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_object_name_writes_nothing(store_root: Path, name: object) -> None:
    with pytest.raises(InvalidNameError):
        register_variables("ns", {"ok": np.zeros(2), name: np.zeros(2)})  # type: ignore[dict-item]

    assert list(store_root.iterdir()) == []


@pytest.mark.parametrize("namespace", BAD_NAMES)
def test_bad_namespace_everywhere(store_root: Path, namespace: object) -> None:
    calls = [
        lambda: register_variables(namespace, {"x": np.zeros(2)}),  # type: ignore[arg-type]
        lambda: retrieve_views(namespace, "x"),  # type: ignore[arg-type]
        lambda: release_views(namespace, "x"),  # type: ignore[arg-type]
        lambda: release_variables(namespace, "x"),  # type: ignore[arg-type]
        lambda: retrieve_metadata(namespace),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(InvalidNameError):
            call()
    assert list(store_root.iterdir()) == []


def test_names_argument_types(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(2)})

    with pytest.raises(InvalidNameError, match="iterable of str"):
        retrieve_views("ns", 5)  # type: ignore[arg-type]
    with pytest.raises(InvalidNameError):
        retrieve_views("ns", ["x", 5])  # type: ignore[list-item]
    assert retrieve_metadata("ns", "x")["x"].views == 0


def test_variables_must_be_mapping(store_root: Path) -> None:
    with pytest.raises(TypeError, match="mapping"):
        register_variables("ns", [("x", np.zeros(2))])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "article"),
    [("object name", "an object name has"), ("namespace", "a namespace has")],
)
def test_rule_article(kind: str, article: str) -> None:
    with pytest.raises(ValueError, match=article):
        validate_name("a b", kind)
