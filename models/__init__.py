"""Pure-numpy recurrent networks: cells, layers, losses, initialisers, optimisers and tasks.

Nothing here imports the web service (service/, fastapi, sqlalchemy, pydantic).
"""
