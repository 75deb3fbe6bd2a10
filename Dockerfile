# One image for the api, worker, beat and migration services.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# CPU build of torch first, from PyTorch's CPU index, so the project's range never pulls CUDA.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md alembic.ini ./
COPY recgen ./recgen
COPY workers ./workers
COPY migrations ./migrations
COPY config ./config
RUN pip install --no-cache-dir . && useradd --create-home --uid 1000 recgen \
    && mkdir -p /var/lib/recgen && chown recgen /var/lib/recgen
USER recgen

ENV RECGEN_ENV=production
EXPOSE 8000
CMD ["recgen", "serve", "--host", "0.0.0.0", "--port", "8000"]
