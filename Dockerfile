FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    RNNLAB_HOST=0.0.0.0 RNNLAB_PORT=8000 RNNLAB_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY service ./service
COPY models ./models
COPY migrations ./migrations
COPY rnnlab ./rnnlab
# The scale extra: the Celery worker and the PostgreSQL driver, so that one image runs every
# container of the cluster (docker-compose.yml) as well as the embedded service.
RUN pip install --no-cache-dir '.[scale]' && useradd --create-home rnnlab && mkdir -p /data \
    && chown rnnlab /data
USER rnnlab

VOLUME ["/data"]
EXPOSE ${RNNLAB_PORT}
# Healthy once ready (/readyz: database, migrations, workers), on whatever port RNNLAB_PORT says.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('RNNLAB_PORT', '8000'), timeout=2)"]
# SIGTERM (docker stop) checkpoints running jobs; they resume at the next start.
STOPSIGNAL SIGTERM
CMD ["rnnlab", "serve"]
