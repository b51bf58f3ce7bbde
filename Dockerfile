FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    RNNLAB_HOST=0.0.0.0 RNNLAB_PORT=8000 RNNLAB_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY service ./service
COPY models ./models
COPY migrations ./migrations
RUN pip install --no-cache-dir . && useradd --create-home rnnlab && mkdir -p /data \
    && chown rnnlab /data
USER rnnlab

VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["rnnlab", "serve"]
