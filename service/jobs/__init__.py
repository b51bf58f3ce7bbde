"""Background jobs: submitting (queue), what a job does (runner, tasks), where it runs (worker,
supervisor). The database is the queue: a job is a row, and workers claim rows."""
