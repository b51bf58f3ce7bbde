"""The `rnnlab` command.

`rnnlab serve`, `rnnlab worker` and `rnnlab db upgrade` run the service (server.py); every
other command is a client of a running service over HTTP (client.py and the modules beside
it). The serving commands are dispatched before the client's libraries are imported, so that
starting the service does not pay for them.
"""

from __future__ import annotations

import sys

SERVER_COMMANDS = ("serve", "worker", "db")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in SERVER_COMMANDS:
        from rnnlab.service.cli import server

        server.main(args)
        return
    from rnnlab.service.cli.commands import run

    run(args)
