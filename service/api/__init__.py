"""HTTP layer: one router per resource, gathered in `api_router`."""
