"""``ocfaj web-password``: make the hash line of the web page's password.

Layer: ``bridge.daemon``. Reads the password twice from the terminal (or once from standard
input when that is not a terminal) and prints the ``web_password_hash = "scrypt$..."`` line to
put in the secrets file. The password itself is never printed nor stored.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

from bridge.web.passwords import make_hash

if TYPE_CHECKING:
    from bridge.daemon.cli import Subparsers

#: Shortest password accepted: the page may face a whole network.
MIN_LENGTH = 8


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "web-password", help="make the hash of the web page's password",
        description="Read a password and print the line web_password_hash = \"...\" for the "
                    "secrets file (mqtt.secrets_file). Reads standard input when it is not "
                    "a terminal.")
    parser.set_defaults(handler=_web_password)


def _web_password(args: argparse.Namespace) -> int:
    if sys.stdin.isatty():
        password = getpass.getpass("web page password: ")
        if getpass.getpass("again: ") != password:
            print("ocfaj: the two passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_LENGTH:
        print(f"ocfaj: a web page password needs at least {MIN_LENGTH} characters",
              file=sys.stderr)
        return 1
    print(f'web_password_hash = "{make_hash(password)}"')
    return 0
