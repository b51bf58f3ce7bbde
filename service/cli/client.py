"""The HTTP side of the client commands: one httpx client, and errors as one line each."""

from __future__ import annotations

import os
from typing import Any

import httpx

DEFAULT_PORT = "8000"


def default_url() -> str:
    """RNNLAB_URL, else the local service on RNNLAB_PORT (what `rnnlab serve` binds)."""
    return os.environ.get("RNNLAB_URL") or (
        f"http://127.0.0.1:{os.environ.get('RNNLAB_PORT') or DEFAULT_PORT}"
    )


class CliError(Exception):
    """What went wrong, in one line for the terminal; the command exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ServiceError(CliError):
    """The service answered 4xx or 5xx; the message is its `detail`."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.detail = error_detail(response)
        super().__init__(f"{response.status_code}: {self.detail}")


def error_detail(response: httpx.Response) -> str:
    """The `detail` of an error answer: a string, or FastAPI's list of validation errors."""
    try:
        detail = response.json()["detail"]
    except (ValueError, KeyError, TypeError):
        text = response.text.strip().splitlines()
        return text[0][:200] if text else response.reason_phrase
    if isinstance(detail, list):
        return "; ".join(_validation_error(item) for item in detail)
    return str(detail)


def _validation_error(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    parts = [str(part) for part in item.get("loc", ())[1:]]  # without "body" or "query"
    if "hyperparams" in parts:  # not the task's tag before it: hyperparams.hidden_size
        parts = parts[parts.index("hyperparams") :]
    where = ".".join(parts)
    return f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", item))


class ServiceClient:
    def __init__(self, url: str, api_key: str | None = None, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.ConnectError as error:
            raise unreachable(self.url) from error
        except httpx.TimeoutException as error:
            raise CliError(f"the service at {self.url} did not answer in time ({path})") from error
        except httpx.HTTPError as error:
            raise CliError(f"talking to {self.url} failed: {error}") from error
        if response.status_code >= 400:
            raise ServiceError(response)
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs).json()


def unreachable(url: str) -> CliError:
    return CliError(
        f"cannot reach the rnnlab service at {url}: start it with `rnnlab serve`, "
        "or point --url (RNNLAB_URL) at it"
    )
