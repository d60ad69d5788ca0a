"""citysoc command line: one subcommand per process role, plus operator and rule-author tools.

citysoc init            write a starter config with fresh tokens (digests in the file)
citysoc run             embedded default: everything in one process (chDB, in-process bus)
citysoc collector       scaled mode: syslog + HTTP ingest → Kafka
citysoc worker          scaled mode: Kafka → detection → ClickHouse
citysoc api             scaled mode: the API over ClickHouse
citysoc store serve     development/tests: own a chDB directory, speak ClickHouse HTTP
citysoc store migrate   apply the ClickHouse schema
citysoc db upgrade      apply the relational database migrations (registry, users, triage, audit)
citysoc db create-user  create a user (e.g. the first city SOC admin)
citysoc rules test|check PATH...
citysoc detect --rules PATH... --events FILE.jsonl --out HITS.jsonl
citysoc hunt RULE.yml... --since T [--until T] [--agency A] [--save]   retro-hunt stored events
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import sys
from pathlib import Path

from citysoc.core.config import Settings, hash_token, load_settings


def _settings(args: argparse.Namespace) -> Settings:
    try:
        return load_settings(args.config)
    except FileNotFoundError:
        raise SystemExit(
            f"citysoc: config file {args.config} not found (create one with `citysoc init`)"
        ) from None
    except ValueError as e:
        raise SystemExit(f"citysoc: invalid configuration:\n{e}") from None


STARTER = """\
# citysoc configuration (written by `citysoc init`). Tokens are stored as SHA-256 digests only;
# the clear tokens were printed once and saved to {tokens_file}.
data_dir: {data_dir}
store:
  dsn: chdb://{data_dir}/clickhouse
bus:
  kind: memory
api:
  host: 127.0.0.1
  port: 8000
collector:
  host: 127.0.0.1
  syslog_udp_port: 5514
  syslog_tcp_port: 5514
detection:
  rules: [detections]
auth:
  admin_tokens: ["{admin}"]
agencies:
  - code: demo
    name: "Sở Thông tin và Truyền thông (demo)"
    ingest_tokens: ["{ingest}"]
    default_system: demo-portal
sources:
  - agency: demo
    system: demo-portal
    cidrs: ["127.0.0.0/8"]
"""


def cmd_init(args: argparse.Namespace) -> int:
    path: Path = args.config or Path("citysoc.yaml")
    if path.exists() and not args.force:
        print(f"citysoc: {path} exists (use --force to overwrite)", file=sys.stderr)
        return 1
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    admin, ingest = "adm_" + secrets.token_urlsafe(24), "ing_" + secrets.token_urlsafe(24)
    tokens_file = data_dir / "initial-tokens.txt"
    tokens_file.touch(mode=0o600)
    tokens_file.write_text(f"admin={admin}\ndemo_ingest={ingest}\n", encoding="utf-8")
    path.write_text(
        STARTER.format(
            data_dir=data_dir, tokens_file=tokens_file, admin=hash_token(admin), ingest=hash_token(ingest)
        ),
        encoding="utf-8",
    )
    print(f"wrote {path}; tokens (shown once, also in {tokens_file}):")
    print(f"  admin:       {admin}\n  demo ingest: {ingest}")
    return 0


def _run(coro_factory: str, args: argparse.Namespace) -> int:
    from citysoc.roles import common

    settings = _settings(args)
    common.setup_logging(settings)
    if coro_factory == "run":
        from citysoc.roles.embedded import run_embedded

        asyncio.run(run_embedded(settings))
    else:
        from citysoc.roles import scaled

        role = {"collector": scaled.run_collector, "worker": scaled.run_worker_role, "api": scaled.run_api}[
            coro_factory
        ]
        asyncio.run(role(settings))
    return 0


def cmd_store(args: argparse.Namespace) -> int:
    if args.store_cmd == "serve":
        from citysoc.store import serve

        return serve.main(["--path", args.path, "--host", args.host, "--port", str(args.port)])
    from citysoc.store.clickhouse import ClickHouseStore

    settings = _settings(args)
    store = ClickHouseStore(settings.store)
    store.migrate()
    store.close()
    print(f"schema up to date at {settings.store.dsn}")
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    from citysoc.detection import authoring

    paths = [Path(p) for p in args.paths]
    if args.rules_cmd == "test":
        results = authoring.test_rules(paths)
        failed = [r for r in results if not r.ok]
        for r in results:
            print(f"{'ok  ' if r.ok else 'FAIL'} {r.path}: {r.summary}")
        print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
        return 1 if failed else 0
    issues = authoring.check_rules(paths)
    for i in issues:
        print(f"{i.severity:8} {i.path}: {i.message}")
    errors = [i for i in issues if i.severity == "error"]
    print(f"{len(issues)} issues, {len(errors)} errors")
    return 1 if errors else 0


def cmd_evidence(args: argparse.Namespace) -> int:
    from citysoc.evidence import commands

    return commands.run(args, _settings(args))


def cmd_db(args: argparse.Namespace) -> int:
    from citysoc.db import commands

    return commands.run(args, _settings(args))


def cmd_hunt(args: argparse.Namespace) -> int:
    from citysoc.hunt import commands

    return commands.run(args, _settings(args))


def cmd_detect(args: argparse.Namespace) -> int:
    from citysoc.detection import offline

    profile = None if args.profile is None else Path(args.profile)
    return offline.main([Path(p) for p in args.rules], Path(args.events), Path(args.out), profile)


def build_parser() -> argparse.ArgumentParser:
    config_help = "config file (default: $CITYSOC_CONFIG or built-ins)"
    p = argparse.ArgumentParser(prog="citysoc", description="City SOC event pipeline")
    p.add_argument("--config", type=Path, default=None, help=config_help)
    # --config is accepted after the subcommand too (`citysoc run --config x.yaml`); SUPPRESS keeps a
    # value given before the subcommand when it is not repeated after it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=config_help)
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("init", parents=[common], help="write a starter config with fresh tokens")
    s.add_argument("--data-dir", default="data")
    s.add_argument("--force", action="store_true")
    s.set_defaults(fn=cmd_init)
    for role, text in (
        ("run", "embedded default: one process, chDB, in-process bus"),
        ("collector", "scaled mode: syslog and HTTP ingest into Kafka"),
        ("worker", "scaled mode: Kafka to detection to ClickHouse"),
        ("api", "scaled mode: the API over ClickHouse"),
    ):
        s = sub.add_parser(role, parents=[common], help=text)
        s.set_defaults(fn=lambda a, r=role: _run(r, a))

    s = sub.add_parser("store", parents=[common], help="ClickHouse store tools")
    st = s.add_subparsers(dest="store_cmd", required=True)
    sv = st.add_parser(
        "serve", parents=[common], help="development/tests only: serve a chDB directory over ClickHouse HTTP"
    )
    sv.add_argument("--path", required=True)
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8123)
    st.add_parser("migrate", parents=[common], help="apply the schema")
    s.set_defaults(fn=cmd_store)

    s = sub.add_parser("rules", parents=[common], help="rule authoring tools")
    rt = s.add_subparsers(dest="rules_cmd", required=True)
    for name, text in (("test", "run rules against their sample events"), ("check", "validate rules")):
        r = rt.add_parser(name, parents=[common], help=text)
        r.add_argument("paths", nargs="+")
    s.set_defaults(fn=cmd_rules)

    s = sub.add_parser("evidence", parents=[common], help="signed evidence archives for investigators")
    et = s.add_subparsers(dest="evidence_cmd", required=True)
    et.add_parser("keygen", parents=[common], help="create the center's Ed25519 signing key")
    ex = et.add_parser("export", parents=[common], help="export events (and the alerts naming them), signed")
    ex.add_argument("--alert", action="append", help="alert id (repeatable): exports its events too")
    ex.add_argument("--event", action="append", help="event id (repeatable)")
    ex.add_argument("--incident", help="incident code or id: every alert of its linked groups")
    ex.add_argument("--query", action="store_true", help="every stored alert matching the filters below")
    ex.add_argument("--agency", help="with --query: agency code")
    ex.add_argument("--rule", help="with --query: rule id")
    ex.add_argument("--since", help="with --query: detected at or after (ISO 8601)")
    ex.add_argument("--until", help="with --query: detected before (ISO 8601)")
    ex.add_argument("--limit", type=int, default=100_000, help="with --query: refuse larger exports")
    ex.add_argument("--out", required=True, help="archive path (.tar)")
    ex.add_argument("--by", help="who exports (default: the OS user)")
    ex.add_argument("--reason", required=True, help="case or request this export answers")
    vf = et.add_parser("verify", parents=[common], help="check every hash and the signature")
    vf.add_argument("archive")
    vf.add_argument("--public-key", help="trusted public key (default: evidence.public_key)")
    s.set_defaults(fn=cmd_evidence)

    from citysoc.db.commands import add_parser as add_db_parser

    add_db_parser(sub, common)
    sub.choices["db"].set_defaults(fn=cmd_db)

    s = sub.add_parser(
        "detect", parents=[common], help="offline: evaluate rules over a JSONL file of flattened events"
    )
    s.add_argument("--rules", nargs="+", required=True)
    s.add_argument("--events", required=True)
    s.add_argument("--out", required=True)
    s.add_argument(
        "--profile",
        nargs="?",
        const="-",
        default=None,
        metavar="FILE",
        help="per-rule cost and hit counts: JSON lines to FILE, or a table on stderr without FILE",
    )
    s.set_defaults(fn=cmd_detect)

    from citysoc.hunt.commands import add_arguments as add_hunt_arguments

    s = sub.add_parser("hunt", parents=[common], help="retro-hunt: run Sigma rules over stored events")
    add_hunt_arguments(s)
    s.set_defaults(fn=cmd_hunt)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc: int = args.fn(args)
    except KeyboardInterrupt:
        return 130
    logging.shutdown()
    return rc


if __name__ == "__main__":
    sys.exit(main())
