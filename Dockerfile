# arxdeploy's own image, for the approval server in the cluster (k8s/server/ from
# `arxdeploy init --target kubernetes`). No image is published: build it and push it to your
# registry, then give its name to `arxdeploy init --server-image`:
#
#   docker build -t ghcr.io/your-org/arxdeploy:0.1.0 .
#   docker push ghcr.io/your-org/arxdeploy:0.1.0
#
# The server needs no extra: FastAPI, uvicorn, prometheus_client and the Kubernetes client are
# arxdeploy's own dependencies, and the record lives in the cluster. Build with
# --build-arg EXTRAS=postgres for a record in PostgreSQL (store_url: postgresql://...).
FROM python:3.13-slim

ARG EXTRAS=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /build
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN python -m pip install ".${EXTRAS:+[$EXTRAS]}" && rm -rf /build

# A numeric non-root user: the pod's runAsNonRoot can check it, and runAsUser names it.
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /tmp arxdeploy
USER 10001:10001
WORKDIR /srv/arxdeploy
EXPOSE 8700

ENTRYPOINT ["arxdeploy"]
CMD ["server", "--host", "0.0.0.0", "--port", "8700"]
