"""Assertions about the installed Dagster that fail with a sentence naming what an upgrade changed and
which of our modules relies on it (the private API behind dagster_internals/)."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import dagster
import pytest


def changed(what: str, used_by: str) -> None:
    pytest.fail(f"Dagster {dagster.__version__} changed {what}; {used_by} relies on it", pytrace=False)


def attribute(owner: Any, name: str, used_by: str) -> Any:
    """`owner.name` (owner: an object or a dotted module path), or a failure naming what is missing."""
    if isinstance(owner, str):
        try:
            owner = importlib.import_module(owner)
        except ImportError:
            changed(f"module `{owner}`: it is gone", used_by)
    if not hasattr(owner, name):
        label = getattr(owner, "__name__", type(owner).__name__)
        changed(f"`{label}.{name}`: it is missing", used_by)
    return getattr(owner, name)


def parameters(function: Any, expected: list[str], used_by: str) -> None:
    """The function takes at least these parameters, in this order (after `self`)."""
    names = [p for p in inspect.signature(function).parameters if p != "self"]
    if names[: len(expected)] != expected:
        changed(
            f"the signature of `{function.__qualname__}`: ({', '.join(names)}) instead of ({', '.join(expected)})",
            used_by,
        )


def calls(function: Any, callee: str, used_by: str) -> None:
    """The function's source calls `callee` (how we know an override is still called)."""
    if callee not in inspect.getsource(function):
        changed(f"`{function.__qualname__}`: it no longer calls `{callee}`", used_by)
