"""`rnnlab serve`, `rnnlab worker` and `rnnlab db upgrade`."""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import signal
import sys
from typing import TYPE_CHECKING

from rnnlab.service.settings import Settings, get_settings

if TYPE_CHECKING:  # the CLI imports the service's modules only for the command it runs
    from rnnlab.service.errors import StorageUnavailable
    from rnnlab.service.store.db import Database

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def serve(args: argparse.Namespace) -> None:
    # One BLAS thread in the web process, set before numpy is imported (BLAS reads it once):
    # a request's products are far too small to share, and a second OpenBLAS thread fights the
    # event loop and the workers for the cores, which slows every answer (bench/README.md).
    # Workers set their own count (RNNLAB_WORKER_THREADS).
    for variable in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")

    import uvicorn

    from rnnlab.service.api.protocol import JsonErrorsHttpToolsProtocol
    from rnnlab.service.api.request_id import RequestIdFilter
    from rnnlab.service.app import create_app

    settings = get_settings()
    _refuse_misconfigured(_serve_problem(settings))
    refuse_unwritable_storage(settings)
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
    )
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    # uvicorn stops on SIGINT or SIGTERM (no new connections, open requests finish, then the
    # lifespan's shutdown lets running jobs checkpoint), then raises the signal again with the
    # handler it found. SIGTERM's default would kill the process there, before the exit
    # handlers that free its semaphores: both signals end as a KeyboardInterrupt, which main()
    # turns into a normal exit.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level="info",
        access_log=not args.no_access_log,
        # asyncio's own loop, not uvloop: under a saturating load uvloop serves newly read
        # requests before it finishes those already running (MagicStack/uvloop#123), so a few
        # wait far longer than the rest; asyncio's loop keeps the same throughput with a much
        # shorter tail (bench/README.md). httptools still parses the HTTP.
        loop="asyncio",
        # A request the HTTP parser refuses is answered in JSON with a request id too, and a
        # request whose headers take too long is answered 408 and cut off.
        http=JsonErrorsHttpToolsProtocol.with_header_timeout(settings.header_timeout_seconds),
        # Behind a reverse proxy (README, "Behind a reverse proxy").
        root_path=settings.root_path,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # Open requests (an event stream never ends by itself) get this long after a stop.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
    )


def refuse_unwritable_storage(settings: Settings) -> None:
    """Exit 1 with what to do when the database cannot be written, or cannot take this
    version's migrations (a full disk): found out at start, in one line, not at the first job
    (or at shutdown, when the running jobs are handed back)."""
    from rnnlab.service.errors import StorageUnavailable
    from rnnlab.service.store.db import Database
    from rnnlab.service.store.faults import as_storage_fault
    from rnnlab.service.store.migrate import upgrade
    from rnnlab.service.store.probe import refuse_unwritable_storage as refuse

    database = Database.connect(settings.resolved_database_url)
    try:
        if database.file is None:  # a server: nothing else can be asked before it answers
            refuse_silent_database(database)
        try:
            refuse(database)
        except StorageUnavailable as fault:
            raise _cannot_start("cannot be written", fault) from None
        # A SQLite file after its own checks: on a read-only file system it cannot even be
        # opened (WAL mode needs its -shm file), which those say better.
        refuse_silent_database(database)
        try:
            upgrade(database)  # a full disk, which `refuse` lets start, refuses a migration
        except Exception as error:
            storage_fault = as_storage_fault(error)
            if storage_fault is None:
                raise
            raise _cannot_start("cannot take its migrations", storage_fault) from None
    finally:
        database.dispose()


def refuse_silent_database(database: Database) -> None:
    """Exit 1 in one line naming the database (its password hidden) when it does not answer:
    a server down or refusing connections, a wrong host, a file that cannot be opened."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from rnnlab.service.errors import StorageUnreachable
    from rnnlab.service.store.faults import as_storage_fault

    try:  # on the engine: Database.read would also log the outage, a second line
        with database.read_engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except DBAPIError as error:
        fault = as_storage_fault(error)
        if not isinstance(fault, StorageUnreachable):
            return  # it answers, and the checks that follow say what else is wrong
        shown = make_url(database.url).render_as_string(hide_password=True)
        raise SystemExit(
            f"rnnlab serve: cannot start: the database at {shown} does not answer "
            f"({fault.reason}). Start it, or set RNNLAB_DATABASE_URL to one that answers, "
            "then start again"
        ) from None


def _cannot_start(problem: str, fault: StorageUnavailable) -> SystemExit:
    return SystemExit(
        f"rnnlab serve: cannot start: the database {problem} ({fault.reason}). "
        "Make it writable or free space (or set RNNLAB_DATA_DIR or RNNLAB_DATABASE_URL "
        "to storage that is), then start again"
    )


def worker(args: argparse.Namespace) -> None:
    # As a local worker does: BLAS single-threaded under the model's own pool, set before numpy
    # is imported (the Celery worker module loads it, and the pool processes are forked with it).
    # A pool process with OpenBLAS's default threads spun them against its neighbours: more
    # workers on the same cores then ran fewer jobs a minute, not more.
    for variable in BLAS_THREAD_VARIABLES:
        os.environ[variable] = "1"
    settings = get_settings()
    _refuse_misconfigured(_worker_problem(settings))
    from rnnlab.service.jobs.celery import worker as celery_worker

    celery_worker.main(settings, args.concurrency or settings.max_concurrent_jobs)


def _serve_problem(settings: Settings) -> str | None:
    if settings.executor == "celery" and not _celery_installed():
        return f"RNNLAB_EXECUTOR=celery {SCALE_EXTRA}"
    return settings.executor_problem()


def _worker_problem(settings: Settings) -> str | None:
    if not _celery_installed():
        return f"`rnnlab worker` {SCALE_EXTRA}"
    return settings.model_copy(update={"executor": "celery"}).executor_problem()


SCALE_EXTRA = "needs the scale extra: pip install 'rnnlab[scale]'"


def _celery_installed() -> bool:
    try:
        import celery  # noqa: F401
    except ImportError:
        return False
    return True


def _refuse_misconfigured(problem: str | None) -> None:
    if problem is not None:
        print(f"rnnlab: {problem}", file=sys.stderr)
        sys.exit(2)


def db_upgrade(args: argparse.Namespace) -> None:
    from rnnlab.service.store.db import Database
    from rnnlab.service.store.migrate import upgrade

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database.connect(settings.resolved_database_url)
    upgrade(database, args.revision)
    database.dispose()
    print(f"database at revision {args.revision}: {database.url}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rnnlab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the HTTP service and its workers")
    serve_parser.add_argument("--host", help="default RNNLAB_HOST (127.0.0.1)")
    serve_parser.add_argument("--port", type=int, help="default RNNLAB_PORT (8000)")
    serve_parser.add_argument("--no-access-log", action="store_true")
    serve_parser.set_defaults(func=serve)
    worker_parser = commands.add_parser(
        "worker", help="run a Celery worker that trains jobs (RNNLAB_EXECUTOR=celery)"
    )
    worker_parser.add_argument(
        "--concurrency",
        type=int,
        help="jobs at once, one process each (RNNLAB_MAX_CONCURRENT_JOBS)",
    )
    worker_parser.set_defaults(func=worker)
    db_parser = commands.add_parser("db", help="database commands")
    db_commands = db_parser.add_subparsers(dest="db_command", required=True)
    upgrade_parser = db_commands.add_parser("upgrade", help="apply the migrations")
    upgrade_parser.add_argument("revision", nargs="?", default="head")
    upgrade_parser.set_defaults(func=db_upgrade)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):  # a stop, or Ctrl+C while starting: no traceback
        args.func(args)
