"""``citysoc db upgrade`` and ``citysoc db create-user`` (the first admin, before anyone can log in)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from typing import TYPE_CHECKING

from citysoc.core.config import Settings

if TYPE_CHECKING:
    from citysoc.db.engine import Database


def _database(settings: Settings) -> Database:
    from citysoc.db.engine import Database  # imported here: the CLI starts without SQLAlchemy

    return Database(settings.database_url)


async def _upgrade(settings: Settings) -> None:
    db = _database(settings)
    try:
        await db.upgrade()
    finally:
        await db.dispose()


async def _create_user(settings: Settings, args: argparse.Namespace, password: str | None) -> int:
    import sqlalchemy as sa

    from citysoc.api.access.actor import SYSTEM
    from citysoc.api.errors import Conflict, Forbidden, Invalid
    from citysoc.api.users.models import UserIn
    from citysoc.api.users.service import create
    from citysoc.db import Agency

    db = _database(settings)
    try:
        await db.upgrade()
        async with db.session() as session:
            agency_id = None
            if args.agency:
                agency_id = await session.scalar(sa.select(Agency.id).where(Agency.code == args.agency))
                if agency_id is None:
                    print(f"citysoc: no agency with code {args.agency!r}", file=sys.stderr)
                    return 1
            try:
                data = UserIn(username=args.username, role=args.role, agency_id=agency_id, password=password)
                user = await create(session, SYSTEM, data)
            except (Conflict, Forbidden, Invalid) as e:
                print(f"citysoc: {e.detail}", file=sys.stderr)
                return 1
            except ValueError as e:
                print(f"citysoc: invalid user:\n{e}", file=sys.stderr)
                return 1
        print(f"created user {user.username} ({user.role.value}), id {user.id}")
        return 0
    finally:
        await db.dispose()


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.db_cmd == "upgrade":
        asyncio.run(_upgrade(settings))
        print(f"database schema up to date at {_database(settings).url.render_as_string()}")
        return 0
    password = os.environ.get("CITYSOC_PASSWORD")
    if password is None and not args.no_password:
        password = getpass.getpass("password (12+ characters): ")
    return asyncio.run(_create_user(settings, args, password if not args.no_password else None))


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    s = sub.add_parser("db", parents=[common], help="relational database tools (registry, users, triage)")
    dt = s.add_subparsers(dest="db_cmd", required=True)
    dt.add_parser("upgrade", parents=[common], help="apply pending migrations (idempotent)")
    cu = dt.add_parser(
        "create-user", parents=[common], help="create a user (password from $CITYSOC_PASSWORD or a prompt)"
    )
    cu.add_argument("--username", required=True)
    cu.add_argument(
        "--role",
        required=True,
        choices=["city_soc_admin", "soc_lead", "soc_analyst", "rule_author", "auditor", "agency_officer"],
    )
    cu.add_argument("--agency", help="agency code (required for agency_officer)")
    cu.add_argument("--no-password", action="store_true", help="API tokens only")
