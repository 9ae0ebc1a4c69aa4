"""`cs agents add|disable`: the accounts people sign in to the console with.

cs agents add --tenant T --name N [--role agent|supervisor] [--password-stdin]
cs agents disable --tenant T --name N     the account's credentials stop working at once in the
                                          database (gateways trust a checked one for CS_GATEWAY_AUTH_CACHE_S)

The password is read from the terminal without echo, or from one line of standard input with
--password-stdin (scripts); it is stored only as its scrypt hash.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from services.common.platform.settings import Env


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("the passwords differ; nothing was changed")
    return first


def cmd_agents(args: argparse.Namespace, env: Env) -> int:
    from services.common.storage.accounts import AccountRepo
    from services.common.storage.mongo import connect

    password = _password(args) if args.action == "add" else ""

    async def run() -> str:
        mongo, db = await connect(env.str("CS_MONGO_URI"), env.str("CS_MONGO_DATABASE"), 10)
        try:
            accounts = AccountRepo(db)
            if args.action == "add":
                await accounts.add(args.tenant, args.name, args.role, password)
                return f"account {args.name} ({args.role}) added to tenant {args.tenant}"
            revoked = await accounts.disable(args.tenant, args.name)
            return f"account {args.name} of tenant {args.tenant} disabled; {revoked} credential(s) revoked"
        finally:
            await mongo.close()

    try:
        print(asyncio.run(run()))
    except (ValueError, KeyError) as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    return 0


def register(sub) -> None:
    a = sub.add_parser("agents", help="people's console accounts (agents, supervisors): add, disable")
    asub = a.add_subparsers(dest="action", required=True)
    add = asub.add_parser("add", help="a new account; the password is asked for (or read from stdin)")
    add.add_argument("--tenant", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--role", default="agent", choices=["agent", "supervisor"])
    add.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    add.set_defaults(func=cmd_agents)
    disable = asub.add_parser("disable", help="stop an account signing in; revoke its credentials")
    disable.add_argument("--tenant", required=True)
    disable.add_argument("--name", required=True)
    disable.set_defaults(func=cmd_agents)
