"""Checks the production deployment files (run by `make test`).

* ``promtool check config`` on the Prometheus config (and with it the alerting rules). promtool comes
  from Debian's ``prometheus`` package; the Makefile installs it when it can. Missing promtool is a
  failure under CI=true, a warning otherwise.
* ``docker compose config`` on the compose file where the client has compose; otherwise a structural
  check: services, images, references between services, ports.
* Every ``citysoc_*`` metric named by the Grafana dashboard or the alerting rules exists in
  ``citysoc.core.metrics`` (so a renamed metric cannot silently blank a panel).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from citysoc.core import metrics

HERE = Path(__file__).resolve().parent
CI = os.environ.get("CI") == "true"
_METRIC = re.compile(r"\bcitysoc_[a-z0-9_]+")
_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def exported_names() -> set[str]:
    names: set[str] = set()
    for metric in metrics.REGISTRY.collect():
        names.add(metric.name)
        names.update(s.name for s in metric.samples)
    return names


def check_metric_references(problems: list[str]) -> None:
    exported = exported_names()
    texts = {
        "grafana dashboard": (HERE / "grafana/dashboards/citysoc.json").read_text(),
        "alerting rules": (HERE / "prometheus/citysoc.rules.yml").read_text(),
    }
    json.loads(texts["grafana dashboard"])
    for where, text in texts.items():
        for name in sorted(set(_METRIC.findall(text))):
            base = name
            for suffix in _SUFFIXES:
                if name.endswith(suffix) and name[: -len(suffix)] in exported:
                    base = name[: -len(suffix)]
            if name not in exported and base not in exported:
                problems.append(f"{where}: metric {name} is not exported by citysoc.core.metrics")


def check_prometheus(problems: list[str]) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        msg = "promtool not found (Debian package 'prometheus'); Prometheus config not checked"
        if CI:
            problems.append(msg)
        else:
            print(f"warning: {msg}", file=sys.stderr)
        return
    # The config names the rule file by its in-container path; check a copy that points at ours.
    cfg = yaml.safe_load((HERE / "prometheus/prometheus.yml").read_text())
    cfg["rule_files"] = [str(HERE / "prometheus" / Path(p).name) for p in cfg.get("rule_files", [])]
    tmp = HERE / "prometheus" / ".prometheus.check.yml"
    tmp.write_text(yaml.safe_dump(cfg))
    try:
        r = subprocess.run(
            [promtool, "check", "config", str(tmp)], capture_output=True, text=True, check=False
        )
    finally:
        tmp.unlink()
    print(r.stdout.strip())
    if r.returncode != 0:
        problems.append(f"promtool check config failed:\n{r.stdout}{r.stderr}")


def check_compose(problems: list[str]) -> None:
    path = HERE / "compose.yaml"
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0
    ):
        env = {
            **os.environ,
            "CLICKHOUSE_PASSWORD": "x",
            "POSTGRES_PASSWORD": "x",
            "GRAFANA_ADMIN_PASSWORD": "x",
        }
        r = subprocess.run(
            [docker, "compose", "-f", str(path), "config", "-q"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if r.returncode != 0:
            problems.append(f"docker compose config failed:\n{r.stderr}")
        return
    print("docker compose not available here: structural check of compose.yaml only")
    doc = yaml.safe_load(path.read_text())
    services = doc.get("services", {})
    required = {"kafka", "clickhouse", "postgres", "prometheus", "grafana", "collector", "worker", "api"}
    if missing := required - set(services):
        problems.append(f"compose.yaml lacks services {sorted(missing)}")
    for name, svc in services.items():
        if "image" not in svc and "build" not in svc:
            problems.append(f"compose service {name} has neither image nor build")
        deps = svc.get("depends_on", [])
        for dep in deps if isinstance(deps, list) else deps.keys():
            if dep not in services:
                problems.append(f"compose service {name} depends on unknown service {dep}")
        for port in svc.get("ports", []):
            if not re.fullmatch(r"\d+:\d+(/(tcp|udp))?", str(port)):
                problems.append(f"compose service {name}: bad port mapping {port!r}")
    for role in ("collector", "worker", "api"):
        if services.get(role, {}).get("command", [None, None])[1] != role:
            problems.append(f"compose service {role} must run `citysoc {role}`")


def main() -> int:
    problems: list[str] = []
    check_metric_references(problems)
    check_prometheus(problems)
    check_compose(problems)
    for p in problems:
        print(f"deploy check: {p}", file=sys.stderr)
    print("deploy checks:", "FAILED" if problems else "ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
