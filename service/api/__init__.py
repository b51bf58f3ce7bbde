"""HTTP layer: one router per resource (api/routes), the errors-to-HTTP table (errors.py),
middleware and the docs pages; service/app.py includes the routers."""
