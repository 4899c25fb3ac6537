FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN apt-get update && apt-get install -y --no-install-recommends mosquitto-clients \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY socialtaxi socialtaxi
COPY config config
COPY dispatch dispatch
COPY telemetry telemetry
COPY routing routing
COPY audit audit
COPY web web
COPY simulators simulators
RUN pip install --no-cache-dir .
RUN useradd --create-home socialtaxi && mkdir -p /data/cache && chown socialtaxi /data/cache
USER socialtaxi
EXPOSE 8000
CMD ["socialtaxi", "web", "--host", "0.0.0.0"]
