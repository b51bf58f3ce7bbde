"""Choosing the executor: the default needs nothing beyond the base install, and settings that
cannot run Celery are refused at start with what to set."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


def rnnlab(*args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNNLAB_")}
    env.update({f"RNNLAB_{k.upper()}": v for k, v in settings.items()})
    return subprocess.run(
        [sys.executable, "-m", "rnnlab.service.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_default_executor_never_imports_celery(tmp_path) -> None:
    code = (
        "import sys\n"
        "from rnnlab.service.app import create_app\n"
        "from rnnlab.service.jobs.executor import make_executor\n"
        "from rnnlab.service.settings import Settings\n"
        f"settings = Settings(data_dir={str(tmp_path)!r})\n"
        "create_app(settings)\n"
        "print(type(make_executor(settings, None)).__name__)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'celery', 'kombu', 'redis'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split("\n")[:2] == ["LocalExecutor", "[]"], result.stderr


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_celery_on_sqlite_is_refused_at_start_with_what_to_set(command: str, tmp_path) -> None:
    result = rnnlab(
        command,
        executor="celery",
        broker_url="redis://127.0.0.1:6379/0",
        data_dir=str(tmp_path),
    )
    assert result.returncode == 2
    assert "not SQLite" in result.stderr
    assert "RNNLAB_DATABASE_URL=postgresql+psycopg://" in result.stderr
    assert "Traceback" not in result.stderr


def test_celery_without_a_broker_is_refused_at_start(tmp_path) -> None:
    result = rnnlab(
        "serve",
        executor="celery",
        database_url="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        data_dir=str(tmp_path),
    )
    assert result.returncode == 2
    assert "needs RNNLAB_BROKER_URL" in result.stderr
    assert "Traceback" not in result.stderr
