"""The documentation pages, served whole by the service: /docs (Swagger UI) and /redoc (ReDoc)
load their scripts and styles from /docs/assets, never from a CDN, so they work on a machine
without internet.
The assets come from the fastapi-offline package (Swagger UI, Apache-2.0; ReDoc, MIT), the
pattern of FastAPI's "Custom Docs UI Static Assets" how-to; upgrading that package upgrades them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from rnnlab.service.api.errors import document_storage_faults
from rnnlab.service.schemas.error_examples import error_example
from rnnlab.service.schemas.resources import ErrorPublic

ASSETS = "/docs/assets"
# Images from this service or inline only: ReDoc's menu shows a logo from its vendor's CDN (it
# hides it when it fails), which would otherwise leave the machine, or hang behind a firewall.
LOCAL_IMAGES_ONLY = {"Content-Security-Policy": "img-src 'self' data:"}
router = APIRouter(include_in_schema=False)


def _prefix(request: Request) -> str:
    """The path the service is mounted at behind a proxy (root_path), for absolute URLs."""
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    app, prefix = request.app, _prefix(request)
    page = get_swagger_ui_html(
        openapi_url=f"{prefix}{app.openapi_url}",
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{prefix}{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{prefix}{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{prefix}{ASSETS}/favicon.png",
        # No call to the public validator service: the page stays on this machine.
        swagger_ui_parameters={"validatorUrl": None, **(app.swagger_ui_parameters or {})},
    )
    page.headers.update(LOCAL_IMAGES_ONLY)
    return page


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    app, prefix = request.app, _prefix(request)
    page = get_redoc_html(
        openapi_url=f"{prefix}{app.openapi_url}",
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{prefix}{ASSETS}/redoc.standalone.js",
        redoc_favicon_url=f"{prefix}{ASSETS}/favicon.png",
        with_google_fonts=False,
    )
    page.headers.update(LOCAL_IMAGES_ONLY)
    return page


def describe_error_bodies(schema: dict[str, Any]) -> dict[str, Any]:
    """Give each error answer that a route documents by its description alone the body the
    service sends (ErrorPublic) and a real message. A 422 is left as its route documents it:
    validation answers with a list of problems, the service's own checks with one message."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorPublic"] = ErrorPublic.model_json_schema()
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            for code, response in operation.get("responses", {}).items():
                example = error_example(int(code), path) if code.isdigit() else None
                if example is None or "content" in response:
                    continue
                response["content"] = {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/ErrorPublic"},
                        "example": example,
                    }
                }
    return schema


def describe_event_streams(schema: dict[str, Any]) -> dict[str, Any]:
    """An event stream's body is a sequence of events, which its `itemSchema` describes: the
    `schema` FastAPI adds for any non-JSON response (one string) would say otherwise."""
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            for response in operation.get("responses", {}).values():
                stream = response.get("content", {}).get("text/event-stream", {})
                if "itemSchema" in stream:
                    stream.pop("schema", None)
    return schema


def install(app: FastAPI) -> None:
    """Serve the pages and their assets; the app is created with docs_url=redoc_url=None."""
    app.mount(ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-assets")
    app.include_router(router)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            described = describe_event_streams(document_storage_faults(generate()))
            app.openapi_schema = describe_error_bodies(described)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
