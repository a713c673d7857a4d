# Mirrors the README's install steps: a virtual environment is not needed in a container,
# so the project is installed (editable, as `make` does) into the image's Python.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SASI_DATABASE_URL=sqlite+aiosqlite:////data/sasi.db \
    SASI_DATA_DIR=/data \
    SASI_HTTP_HOST=0.0.0.0 \
    SASI_HTTP_PORT=8080

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY reports ./reports
COPY storage ./storage
COPY locales ./locales
RUN pip install --no-cache-dir -e . \
    && useradd --create-home --uid 10001 sasi \
    && mkdir -p /data \
    && chown sasi:sasi /data

USER sasi
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"
CMD ["sh", "-c", "python -m bot migrate && python -m bot run"]
