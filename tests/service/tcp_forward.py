"""A TCP forwarder: `python tcp_forward.py LISTEN_HOST TARGET_HOST TARGET_PORT`.

The machine's PostgreSQL listens on 127.0.0.1 only and trusts only that address (its
`listen_addresses` and pg_hba.conf are shared by every user of the machine and changing the first
needs a restart), so a host in a network namespace cannot reach it. This process listens on
LISTEN_HOST (the bridge's address), on a port the kernel picks, and relays each connection to the
target: PostgreSQL sees a loopback client, the hosts see a database on the bridge.

It prints `port N` once listening, then `peer ADDRESS` for each connection it accepts, so a test
can check who connected from where.
"""

from __future__ import annotations

import asyncio
import sys


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(listen_host: str, target_host: str, target_port: int) -> None:
    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        print(f"peer {writer.get_extra_info('peername')[0]}", flush=True)
        try:
            target_reader, target_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, target_writer), pipe(target_reader, writer))

    server = await asyncio.start_server(relay, listen_host, 0)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
