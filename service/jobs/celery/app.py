"""The Celery application both sides build from the same settings: the web process sends job
ids with it, `rnnlab worker` runs them.

The broker carries nothing but a job id (JSON; any other content type is refused): the database
holds the job, and its claim (service/jobs/queue.py `claim_job`) decides which delivery runs.
"""

from __future__ import annotations

from celery import Celery

from rnnlab.service.settings import Settings

RUN_JOB = "rnnlab.run_job"
RESTORE_CHECKS_PER_TIMEOUT = 4  # look for overdue deliveries this often per visibility timeout


def make_celery(settings: Settings) -> Celery:
    app = Celery("rnnlab", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],  # a pickled message is refused, never loaded
        result_serializer="json",
        task_ignore_result=True,  # the database has the outcome
        task_default_queue=settings.broker_queue,
        # A message is acknowledged when the job ends, not when it starts: a worker killed
        # mid-job (SIGKILL, out of memory) leaves it to the broker, which delivers it again.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # Each worker process holds one job and reserves no other: a long job never sits on
        # jobs another worker is free to run.
        worker_prefetch_multiplier=1,
        worker_disable_rate_limits=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker waits for a broker that is down
        broker_transport_options=_transport_options(settings),
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    return app


def _transport_options(settings: Settings) -> dict[str, object]:
    if not (settings.broker_url or "").startswith(("redis://", "rediss://")):
        return {}
    timeout = settings.broker_visibility_timeout_seconds
    return {
        "visibility_timeout": timeout,
        # Every key of this service starts with its queue's name: services sharing a Redis
        # never see each other's messages, nor redeliver them.
        "global_keyprefix": f"{settings.broker_queue}:",
        # Overdue deliveries are looked for at kombu's default interval, sooner when the
        # timeout is shorter, and on every look (kombu's default looks one time in ten).
        "unacked_restore_interval": min(10.0, timeout / RESTORE_CHECKS_PER_TIMEOUT),
        "unacked_restore_throttle": 1,
    }
