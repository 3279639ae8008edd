"""Command line: `python -m auth_service [serve]` and `python -m auth_service adduser USERID`.

Exit codes: 0 ok, 1 the users file could not be read or written, 2 bad
configuration or bad input (like argparse's own usage errors).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from auth_service.config import ConfigError, Settings, users_file_from_env
from auth_service.users import InvalidUserError, UserStore, UserStoreError, check_userid

EXIT_IO = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m auth_service", description="Gatehouse auth service."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("serve", help="run the HTTP service (the default)")
    add = commands.add_parser("adduser", help="add a user or change their password")
    add.add_argument("userid", metavar="USERID")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin instead of prompting",
    )
    add.add_argument(
        "--users-file",
        type=Path,
        help="users file to change (default: $USERS_FILE or var/users.json)",
    )
    return parser


def serve(env: Mapping[str, str]) -> int:
    # Imported here so `adduser` does not need uvicorn/uvloop to start.
    import uvicorn

    from auth_service.app import create_app

    try:
        settings = Settings.from_env(env)
        app = create_app(settings)
    except ConfigError as exc:
        print(f"auth_service: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (InvalidUserError, UserStoreError) as exc:
        print(f"auth_service: demo user: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"auth_service: {exc}", file=sys.stderr)
        return EXIT_IO
    uvicorn.run(
        app,
        host=settings.bind,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=5,
        proxy_headers=False,  # the proxy is trusted by position, not by headers
        server_header=False,
    )
    return 0


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Repeat password: "):
        raise InvalidUserError("the passwords do not match")
    return password


def adduser(userid: str, users_file: Path, password_stdin: bool) -> int:
    store = UserStore(users_file)
    try:
        check_userid(userid)  # before asking for a password that would be wasted
        password = _read_password(password_stdin)
        is_new = store.set_password(userid, password)
    except InvalidUserError as exc:
        print(f"auth_service adduser: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, UserStoreError) as exc:
        print(f"auth_service adduser: {exc}", file=sys.stderr)
        return EXIT_IO
    except (EOFError, KeyboardInterrupt):
        print("auth_service adduser: cancelled", file=sys.stderr)
        return EXIT_USAGE
    action = "added user" if is_new else "changed the password of"
    print(f"{action} {userid} in {users_file}")
    return 0


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    args = _parser().parse_args(argv)
    if args.command == "adduser":
        users_file = args.users_file or users_file_from_env(env)
        return adduser(args.userid, users_file, args.password_stdin)
    return serve(env)


if __name__ == "__main__":
    sys.exit(main())
