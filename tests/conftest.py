"""Fixtures every test directory can use.

The dev Kafka broker: ``kafka_broker`` (session scope) starts a real Tansu broker on SeaweedFS with
``deploy/dev/broker.py`` in a temporary directory, on free ports, and stops it at the end of the
session; it is only started when a test asks for it. ``dev_broker`` is the script's module and
``start_or_skip`` starts another broker in a given directory. If a broker cannot start, tests using it
are skipped with the reason, except when ``CI=true``: then they fail, so a missing component cannot
pass CI silently (``require`` applies the same rule to anything else).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
BROKER_SCRIPT = ROOT / "deploy" / "dev" / "broker.py"
_MODULE_NAME = "citysoc_dev_broker"


def load_dev_broker() -> ModuleType:
    """Import ``deploy/dev/broker.py`` (not a package) once, as module ``citysoc_dev_broker``."""
    if (mod := sys.modules.get(_MODULE_NAME)) is not None:
        return mod
    spec = importlib.util.spec_from_file_location(_MODULE_NAME, BROKER_SCRIPT)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {BROKER_SCRIPT}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE_NAME] = mod  # dataclasses resolve their module through sys.modules
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[_MODULE_NAME]
        raise
    return mod


def require(available: bool, what: str) -> None:
    """Skip the test when ``what`` is missing on this machine; fail instead when ``CI=true``."""
    if available:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} (required when CI=true)", pytrace=False)
    pytest.skip(what)


def broker_or_skip(directory: Path, **kwargs: Any) -> Any:
    """``start_broker(directory, **kwargs)``; on failure skip the test, or fail it when ``CI=true``."""
    broker = load_dev_broker()
    try:
        return broker.start_broker(directory, **kwargs)
    except broker.BrokerError as e:
        message = f"dev Kafka broker (Tansu) did not start: {e}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="session")
def dev_broker() -> ModuleType:
    """The ``deploy/dev/broker.py`` module, for tests that start and stop their own broker."""
    return load_dev_broker()


@pytest.fixture(scope="session")
def start_or_skip() -> Callable[..., Any]:
    """``broker_or_skip``: start a broker in a given directory under the CI skip/fail rule."""
    return broker_or_skip


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A running Tansu + SeaweedFS broker for the whole session (a ``BrokerHandle``)."""
    handle = broker_or_skip(tmp_path_factory.mktemp("kafka-broker"))
    try:
        yield handle
    finally:
        load_dev_broker().stop_broker(handle, weed_grace_s=0.2)  # throwaway data: no need to wait
