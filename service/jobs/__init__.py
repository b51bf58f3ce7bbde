"""Background jobs: submitting (queue), what a job does (runner, train, hooks and their stop
rules), where it runs (local/: worker processes and their supervisor; celery/). The database is
the queue: a job is a row, and workers claim rows."""
