"""Command line: `python -m auth_service [serve]`, and the user commands.

    python -m auth_service adduser USERID [--password-stdin]   add a user (or change)
    python -m auth_service passwd USERID [--password-stdin]    change a password
    python -m auth_service deluser USERID                      remove a user
    python -m auth_service import-users FILE                   copy an old users.json in

The user commands work on the store named by AUTH_DATABASE_URL (SQLite or PostgreSQL) and
need no SECRET_KEYS; a running service sees their changes at once. Exit codes: 0 ok,
1 the store could not be used, 2 bad configuration or bad input (like argparse's own).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from auth_service.config import (
    ConfigError,
    Settings,
    argon2_from_env,
    database_url_from_env,
)
from auth_service.security import RequestIdFilter
from auth_service.store import StoreError
from auth_service.users import InvalidUserError, check_userid

EXIT_IO = 1
EXIT_USAGE = 2

log = logging.getLogger("gatehouse.auth")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m auth_service", description="Gatehouse auth service."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("serve", help="run the HTTP service (the default)")
    for name, text in (
        ("adduser", "add a user, or change the password of an existing one"),
        ("passwd", "change an existing user's password (ends their sessions)"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("userid", metavar="USERID")
        command.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of stdin instead of prompting twice",
        )
    delete = commands.add_parser("deluser", help="remove a user and end their sessions")
    delete.add_argument("userid", metavar="USERID")
    imports = commands.add_parser("import-users", help="copy users from an old users.json")
    imports.add_argument("file", metavar="FILE", type=Path)
    return parser


def configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s auth: %(message)s%(request)s", "%Y-%m-%dT%H:%M:%S%z")
    )
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("gatehouse.auth")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    logger.propagate = False


def serve(env: Mapping[str, str]) -> int:
    # Imported here so the user commands do not need uvicorn/uvloop to start.
    import uvicorn

    from auth_service.app import create_app

    configure_logging()
    try:
        settings = Settings.from_env(env)
    except ConfigError as exc:
        print(f"auth_service: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # Bind before anything slow, so a busy port is reported plainly (issue 14 item 5).
    sock = socket.socket(socket.AF_INET6 if ":" in settings.bind else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.bind, settings.port))
    except OSError as exc:
        sock.close()
        print(
            f"auth_service: setting AUTH_PORT: {settings.bind}:{settings.port} cannot be used: "
            f"{exc.strerror}; set AUTH_PORT to a free port (got '{settings.port}')",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        app = create_app(settings)
    except (InvalidUserError, StoreError) as exc:
        print(f"auth_service: {exc}", file=sys.stderr)
        sock.close()
        return EXIT_IO
    if not settings.internal_token:
        log.warning(
            "INTERNAL_TOKEN is not set: any local process may call this service "
            "(set the same INTERNAL_TOKEN for the proxy and the services)"
        )
    sock.listen(2048)
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=5,
        proxy_headers=False,  # X-Forwarded-* are believed only with the token (security.py)
        server_header=False,
    )
    log.warning("auth_service listening on http://%s:%d", settings.bind, settings.port)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Repeat password: "):
        raise InvalidUserError("the passwords do not match")
    return password


def manage(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from auth_service.passwords import Passwords
    from auth_service.store import Store
    from auth_service.users import Accounts

    prog = f"auth_service {args.command}"
    try:
        url = database_url_from_env(env)
        if args.command in ("adduser", "passwd", "deluser"):
            check_userid(args.userid)  # before asking for a password that would be wasted
        password = (
            _read_password(args.password_stdin) if args.command in ("adduser", "passwd") else ""
        )
        time_cost, memory_kib = argon2_from_env(env)
        store = Store.open(url)
    except (ConfigError, InvalidUserError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (EOFError, KeyboardInterrupt):
        print(f"{prog}: cancelled", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_IO
    try:
        accounts = Accounts(store, Passwords(time_cost, memory_kib, workers=1))
        where = store.db.describe()
        if args.command == "adduser":
            is_new = accounts.set_password(args.userid, password)
            action = "added user" if is_new else "changed the password of"
            print(f"{action} {args.userid} in {where}")
        elif args.command == "passwd":
            accounts.change_password(args.userid, password)
            print(f"changed the password of {args.userid} in {where}; their sessions ended")
        elif args.command == "deluser":
            accounts.delete(args.userid)
            print(f"removed user {args.userid} and their sessions from {where}")
        else:
            imported, skipped = accounts.import_file(args.file)
            print(f"imported {len(imported)} users into {where}: {' '.join(imported) or '-'}")
            if skipped:
                print(f"skipped {len(skipped)} already in the store: {' '.join(skipped)}")
    except (InvalidUserError, OSError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, InvalidUserError) else EXIT_IO
    except StoreError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_IO
    finally:
        store.close()
    return 0


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    args = _parser().parse_args(argv)
    if args.command in (None, "serve"):
        return serve(env)
    return manage(args, env)


if __name__ == "__main__":
    sys.exit(main())
