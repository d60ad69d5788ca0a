import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def load_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_check", DEPLOY / "check.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["deploy_check"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_shipped_dashboard_and_rules_only_use_exported_metrics() -> None:
    problems: list[str] = []
    load_check().check_metric_references(problems)
    assert problems == []


def test_a_renamed_metric_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check = load_check()
    (tmp_path / "grafana/dashboards").mkdir(parents=True)
    (tmp_path / "prometheus").mkdir()
    (tmp_path / "grafana/dashboards/citysoc.json").write_text(
        '{"expr": "rate(citysoc_no_such_thing_total[5m])"}'
    )
    (tmp_path / "prometheus/citysoc.rules.yml").write_text("expr: citysoc_bus_lag > 1")
    monkeypatch.setattr(check, "HERE", tmp_path)
    problems: list[str] = []
    check.check_metric_references(problems)
    assert problems == [
        "grafana dashboard: metric citysoc_no_such_thing_total is not exported by citysoc.core.metrics"
    ]
