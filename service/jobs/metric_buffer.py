"""What a running job has logged and not yet written: metric points, teaching records, and its
progress. The loop reports every step; talking to the database every step would cost more than
a small model's step, so the hooks write all of it at once, every FLUSH_SECONDS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from rnnlab.service.store.tables import JobRecord, Metric, utcnow


class MetricBuffer:
    def __init__(self, job_id: int, progress: float = 0.0) -> None:
        self.job_id = job_id
        # A resumed job starts from the progress it had: a resume replays steps up to where the
        # last run got to, and the job's progress must not go back to 0 meanwhile.
        self.progress = progress
        self.metrics: list[dict[str, Any]] = []
        self.records: list[dict[str, Any]] = []  # teaching records, written with the metrics

    def report(self, step: int, metrics: Mapping[str, float], progress: float) -> None:
        now = utcnow()
        for name, value in metrics.items():
            self.metrics.append(
                {
                    "job_id": self.job_id,
                    "name": name,
                    "step": step,
                    "value": float(value),
                    "timestamp": now,
                }
            )
        self.progress = max(self.progress, min(max(float(progress), 0.0), 1.0))

    def record(self, step: int, kind: str, payload: Mapping[str, Any]) -> None:
        self.records.append(
            {
                "job_id": self.job_id,
                "kind": kind,
                "step": step,
                "payload": dict(payload),
                "timestamp": utcnow(),
            }
        )

    def write(self, session: Session) -> None:
        """Insert the buffered metric points and teaching records (one transaction: a stream
        sees both or neither). They leave the buffer once that transaction commits: one that
        storage refused (rolled back) writes them again when it is retried, so an outage loses
        no point and writes none twice."""
        metrics, records = list(self.metrics), list(self.records)
        if metrics:
            session.execute(insert(Metric), metrics)
        if records:
            session.execute(insert(JobRecord), records)
        if metrics or records:
            event.listen(
                session, "after_commit", lambda _: self._written(metrics, records), once=True
            )

    def _written(self, metrics: list[dict[str, Any]], records: list[dict[str, Any]]) -> None:
        del self.metrics[: len(metrics)]
        del self.records[: len(records)]
