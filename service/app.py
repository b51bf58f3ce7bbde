"""The FastAPI application: settings, database, worker processes and model cache in the lifespan."""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from rnnlab.models.tasks import TASK_MODULES_VARIABLE, task_module_names
from rnnlab.service import __version__
from rnnlab.service.api import docs, errors
from rnnlab.service.api.head import HeadAsGet
from rnnlab.service.api.limits import BodySizeLimit, UploadSlots
from rnnlab.service.api.request_id import RequestId
from rnnlab.service.api.request_metrics import HttpMetrics, RequestMetrics
from rnnlab.service.api.routes import (
    corpora,
    events,
    health,
    jobs,
    metrics,
    model_export,
    models,
    pages,
    plots,
    predict,
    records,
    sweeps,
)
from rnnlab.service.api.security import require_api_key
from rnnlab.service.catalog.deletion import prepare_space_reclaim
from rnnlab.service.jobs.executor import make_executor
from rnnlab.service.schemas.examples import API_DESCRIPTION
from rnnlab.service.serving.model_cache import ModelCache
from rnnlab.service.serving.model_refs import ModelRefs
from rnnlab.service.settings import Settings, get_settings
from rnnlab.service.store.corpora import ensure_demo_corpus
from rnnlab.service.store.db import Database
from rnnlab.service.store.migrate import head_revision, upgrade
from rnnlab.service.store.probe import refuse_unwritable_storage
from rnnlab.service.tracking.hub import EventHub

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "RNNLAB_API_KEY is set and the request lacks it"}
}


# Routes are matched in order, router by router: the hot path (/predict) comes first, so a
# prediction is not compared with every other route before its own (bench/README.md, "Serving:
# the settings behind the figures"). The order of the /docs page is OPENAPI_TAGS's.
ROUTERS = (
    predict,
    health,
    jobs,
    sweeps,
    events,
    records,
    plots,
    models,
    model_export,
    corpora,
    metrics,
    pages,
)
OPENAPI_TAGS = [
    {"name": "jobs", "description": "Train in the background; follow status and metrics."},
    {"name": "sweeps", "description": "A grid of jobs over seeds, compared in one table."},
    {"name": "events", "description": "Server-Sent Events: watch jobs live."},
    {
        "name": "records",
        "description": "What a job shows as it learns: sums, bits, gradients, text.",
    },
    {"name": "plots", "description": "Loss and accuracy curves as SVG or PNG."},
    {"name": "models", "description": "Trained models, their aliases, deletion and export."},
    {"name": "predict", "description": "Answers from a trained model's weights."},
    {"name": "corpora", "description": "Texts and their dictionaries for next-word models."},
    {"name": "health", "description": "Liveness, readiness and Prometheus metrics."},
]


def include_routers(app: FastAPI, settings: Settings) -> None:
    """Every resource's router, straight on the app (a nesting level costs every request);
    behind the API key when one is set, never /healthz and /readyz."""
    guarded = settings.api_key is not None
    for module in ROUTERS:
        protected = guarded and module is not health
        app.include_router(
            module.router,
            # No key, no dependency: a guard that always passes still costs every request.
            dependencies=[Depends(require_api_key)] if protected else [],
            responses=UNAUTHORIZED if protected else {},
        )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database.connect(settings.resolved_database_url)
    refuse_unwritable_storage(db)  # `rnnlab serve` says so without a traceback, before this
    upgrade(db)
    app.state.schema_head = head_revision(db)
    prepare_space_reclaim(db)
    ensure_demo_corpus(db)
    executor = make_executor(settings, db)
    executor.start()
    app.state.db = db
    app.state.events = EventHub(
        db,
        settings.events_poll_seconds,
        settings.events_keepalive_seconds,
        settings.heartbeat_timeout_seconds,
        settings.max_open_streams,
    )
    app.state.executor = executor
    app.state.model_cache = ModelCache(settings.model_cache_size, settings.answer_cache_size)
    app.state.model_refs = ModelRefs.for_database(db, app.state.model_cache)
    # Everything built so far (modules, routes, schemas) lives as long as the service. Left to
    # the collector, each full collection walks all of it and stalls the event loop, which every
    # open request then waits for (bench/README.md, "Serving: the settings behind the figures").
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        executor.stop()
        db.dispose()


def _check_task_modules(settings: Settings) -> None:
    """The task modules these settings name were imported with the registry (the schemas are
    made from it at import): a module named only in code came too late for them."""
    late = [name for name in task_module_names(settings.task_modules) if name not in sys.modules]
    if late:
        raise RuntimeError(
            f"task modules {', '.join(late)} were not imported with the task registry: name "
            f"them in the environment variable {TASK_MODULES_VARIABLE} before starting"
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    _check_task_modules(settings)
    app = FastAPI(
        # Any request can be malformed below the application (a body that is not JSON, a URL
        # over the HTTP parser's limit): the server answers 400 then. Any body can pass its cap:
        # the middleware answers 413 while it streams in.
        responses={
            400: {"description": "Malformed request"},
            413: {
                "description": "Body over its cap: RNNLAB_MAX_BODY_BYTES "
                "(RNNLAB_MAX_UPLOAD_BYTES for a corpus upload)"
            },
        },
        title="rnnlab",
        openapi_tags=OPENAPI_TAGS,
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by rnnlab.service.api.docs, without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    include_routers(app, settings)
    docs.install(app)
    app.mount("/static", pages.static, name="static")
    errors.install(app)
    app.add_middleware(HeadAsGet)  # innermost: the routes see a GET, the rest of us a HEAD
    app.add_middleware(
        BodySizeLimit,
        max_upload_bytes=settings.max_upload_bytes,
        max_body_bytes=settings.max_body_bytes,
    )
    app.state.upload_slots = UploadSlots(settings.max_concurrent_uploads)
    app.state.http_metrics = HttpMetrics()  # GET /metrics reads it
    app.add_middleware(RequestMetrics, metrics=app.state.http_metrics)
    app.add_middleware(RequestId)  # outermost of ours: a 413 or a bug's 500 carries the id too
    return app
