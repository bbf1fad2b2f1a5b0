# Hosted Wasteland images: one target per service, all built from this one file.
#
#   gateway, registry, board-sync, executor   the Python services (uv.lock, --no-dev)
#   control-server                           the per-wasteland workload: the control
#                                            server plus `wl` v0.4.0 built from source
#
# Production build (see README "Container images"):
#   docker build --target registry -t …/registry:TAG \
#     --build-arg VCS_REF=$(git rev-parse HEAD) --build-arg VERSION=TAG \
#     --build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) .
# The control-server target also needs the `wl` source tarball inside the build context
# at WL_SOURCE (default third_party/wasteland-0.4.0.tar.gz); its sha256 is checked.
#
# Base images are pinned by digest through these two arguments (README, "Container
# images", says how to refresh them); `make images` passes local stand-ins of the same
# names instead. uv comes from PyPI, pinned by hash (docker/uv-requirements.txt).
ARG PYTHON_IMAGE=docker.io/library/python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b
ARG GO_IMAGE=docker.io/library/golang:1.26-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d

# ---------------------------------------------------------------- wl v0.4.0 from source
FROM ${GO_IMAGE} AS wl
ARG WL_SOURCE=third_party/wasteland-0.4.0.tar.gz
ARG WL_SOURCE_SHA256=9c7c1cc9409541fbaa1d12244bd93207e41851fb9e15d326da50c943719a0d09
ARG WL_VERSION=0.4.0
ARG WL_COMMIT=5535bcdc3a36
ARG DOLTHUB_API_BASE=https://www.dolthub.com/api/v1alpha1
ARG DOLTHUB_GRAPHQL_URL=https://www.dolthub.com/graphql
ENV CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local
WORKDIR /src
COPY ${WL_SOURCE} /tmp/wl-source.tar.gz
RUN echo "${WL_SOURCE_SHA256}  /tmp/wl-source.tar.gz" | sha256sum -c - \
 && tar -xzf /tmp/wl-source.tar.gz --strip-components=1 \
 && rm /tmp/wl-source.tar.gz
RUN --mount=type=cache,id=hosted-wasteland-gomod,target=/go/pkg/mod \
    go mod download
RUN --mount=type=cache,id=hosted-wasteland-gomod,target=/go/pkg/mod \
    --mount=type=cache,id=hosted-wasteland-gobuild,target=/root/.cache/go-build \
    go build -buildvcs=false -o /out/wl -ldflags "-s -w \
      -X main.inferEnabled=false \
      -X main.version=${WL_VERSION} \
      -X main.commit=${WL_COMMIT} \
      -X github.com/gastownhall/wasteland/internal/backend.DoltHubAPIBase=${DOLTHUB_API_BASE} \
      -X github.com/gastownhall/wasteland/internal/remote.dolthubAPIBase=${DOLTHUB_API_BASE} \
      -X github.com/gastownhall/wasteland/internal/remote.dolthubGraphQLURL=${DOLTHUB_GRAPHQL_URL}" \
      ./cmd/wl \
 && /out/wl version

# ------------------------------------------------- Python dependencies, from uv.lock only
FROM ${PYTHON_IMAGE} AS build
COPY docker/uv-requirements.txt /tmp/uv-requirements.txt
RUN python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes \
      -r /tmp/uv-requirements.txt \
 && ln -s /opt/uv/bin/uv /usr/local/bin/uv
ARG SOURCE_DATE_EPOCH=0
# SOURCE_DATE_EPOCH makes the compiled bytecode hash-checked, hence reproducible.
ENV UV_FROZEN=1 UV_NO_DEV=1 UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never UV_PYTHON=python3.11 UV_PROJECT_ENVIRONMENT=/app/.venv \
    SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH} SITE=/app/.venv/lib/python3.11/site-packages
WORKDIR /src
# Every workspace member's pyproject.toml is needed for uv to read the workspace; the
# sources come later so a code change does not re-install the dependencies.
COPY pyproject.toml uv.lock ./
COPY libs/wasteland-common/pyproject.toml libs/wasteland-common/
COPY services/gateway/pyproject.toml services/gateway/
COPY services/registry/pyproject.toml services/registry/
COPY services/board-sync/pyproject.toml services/board-sync/
COPY services/executor/pyproject.toml services/executor/
COPY services/control-server/pyproject.toml services/control-server/
COPY devtools/dolthub-sandbox/pyproject.toml devtools/dolthub-sandbox/
COPY devtools/wl-standin/pyproject.toml devtools/wl-standin/
COPY devtools/devstack/pyproject.toml devtools/devstack/

# One virtual environment per service: its own dependencies (compiled to bytecode once,
# in their own cached layer), then the workspace packages as ordinary (non-editable)
# wheels, compiling only those. uv records the install time in uv_cache.json and RECORD;
# they are removed so the layer is the same bytes on every build.
FROM build AS venv-gateway
RUN --mount=type=cache,id=hosted-wasteland-uv,target=/root/.cache/uv \
    uv sync --compile-bytecode --no-install-workspace --package wl-gateway
COPY libs/wasteland-common libs/wasteland-common
COPY services/gateway services/gateway
RUN --mount=type=cache,id=hosted-wasteland-uv,target=/root/.cache/uv \
    uv sync --no-editable --package wl-gateway \
 && /app/.venv/bin/python -m compileall -q -j 0 --invalidation-mode checked-hash $SITE/wasteland \
      $SITE/wasteland_common $SITE/wl_gateway \
 && find /app/.venv -name uv_cache.json -delete -o -path '*.dist-info/RECORD' -delete

FROM build AS venv-registry
RUN --mount=type=cache,id=hosted-wasteland-uv,target=/root/.cache/uv \
    uv sync --compile-bytecode --no-install-workspace --package wl-registry
COPY libs/wasteland-common libs/wasteland-common
COPY services/registry services/registry
RUN --mount=type=cache,id=hosted-wasteland-uv,target=/root/.cache/uv \
    uv sync --no-editable --package wl-registry \
 && /app/.venv/bin/python -m compileall -q -j 0 --invalidation-mode checked-hash $SITE/wasteland \
      $SITE/wasteland_common $SITE/wl_registry \
 && find /app/.venv -name uv_cache.json -delete -o -path '*.dist-info/RECORD' -delete

FROM build AS venv-board-sync
RUN --mount=type=cache,id=hosted-wasteland-uv,target=/root/.cache/uv \
    uv sync --compile-bytecode --no-install-workspace --package wl-board-sync
COPY libs/wasteland-common libs/wasteland-common
COPY services/board-sync services/board-sync
RUN --mount=type=cache,id=hosted-wasteland-uv,target=/root/.cache/uv \
    uv sync --no-editable --package wl-board-sync \
 && /app/.venv/bin/python -m compileall -q -j 0 --invalidation-mode checked-hash $SITE/wasteland \
      $SITE/wasteland_common $SITE/wl_board_sync \
 && find /app/.venv -name uv_cache.json -delete -o -path '*.dist-info/RECORD' -delete

FROM build AS venv-executor
RUN --mount=type=cache,id=hosted-wasteland-uv,target=/root/.cache/uv \
    uv sync --compile-bytecode --no-install-workspace --package wl-executor
COPY libs/wasteland-common libs/wasteland-common
COPY services/executor services/executor
RUN --mount=type=cache,id=hosted-wasteland-uv,target=/root/.cache/uv \
    uv sync --no-editable --package wl-executor \
 && /app/.venv/bin/python -m compileall -q -j 0 --invalidation-mode checked-hash $SITE/wasteland \
      $SITE/wasteland_common $SITE/wl_executor \
 && find /app/.venv -name uv_cache.json -delete -o -path '*.dist-info/RECORD' -delete

FROM build AS venv-control-server
RUN --mount=type=cache,id=hosted-wasteland-uv,target=/root/.cache/uv \
    uv sync --compile-bytecode --no-install-workspace --package wl-control-server
COPY libs/wasteland-common libs/wasteland-common
COPY services/control-server services/control-server
RUN --mount=type=cache,id=hosted-wasteland-uv,target=/root/.cache/uv \
    uv sync --no-editable --package wl-control-server \
 && /app/.venv/bin/python -m compileall -q -j 0 --invalidation-mode checked-hash $SITE/wasteland \
      $SITE/wasteland_common $SITE/wl_control_server \
 && find /app/.venv -name uv_cache.json -delete -o -path '*.dist-info/RECORD' -delete

# ------------------------------------------------------------------ the runtime base
# Read-only root filesystem in production: the only writable paths are /tmp and
# /var/lib/wasteland (the working directory: SQLite files, WORK_DIR), both emptyDir
# or tmpfs mounts. Nothing at run time starts a shell: entrypoints are exec-form.
FROM ${PYTHON_IMAGE} AS runtime
RUN install -d -o 10001 -g 10001 -m 0750 /var/lib/wasteland
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    GRPC_HOST=0.0.0.0 HTTP_HOST=0.0.0.0 METRICS_HOST=0.0.0.0
WORKDIR /var/lib/wasteland
USER 10001:10001
STOPSIGNAL SIGTERM
# Last, so a new revision changes no layer above.
ARG VERSION=dev
ARG VCS_REF=unknown
ARG SOURCE_URL=https://github.com/kilo-org/hosted-wasteland
LABEL org.opencontainers.image.source=${SOURCE_URL} \
      org.opencontainers.image.revision=${VCS_REF} \
      org.opencontainers.image.version=${VERSION} \
      org.opencontainers.image.vendor="Kilo"

FROM runtime AS gateway
LABEL org.opencontainers.image.title="hosted-wasteland-gateway" \
      org.opencontainers.image.description="Hosted Wasteland public HTTP API (gateway)"
COPY --from=venv-gateway /app/.venv /app/.venv
EXPOSE 8080
ENTRYPOINT ["/app/.venv/bin/wl-gateway"]

FROM runtime AS registry
LABEL org.opencontainers.image.title="hosted-wasteland-registry" \
      org.opencontainers.image.description="Hosted Wasteland registry (wastelands, members, credentials)"
COPY --from=venv-registry /app/.venv /app/.venv
EXPOSE 7401
ENTRYPOINT ["/app/.venv/bin/wl-registry"]

FROM runtime AS board-sync
LABEL org.opencontainers.image.title="hosted-wasteland-board-sync" \
      org.opencontainers.image.description="Hosted Wasteland board-sync (DoltHub polling, cached boards)"
COPY --from=venv-board-sync /app/.venv /app/.venv
EXPOSE 7402
ENTRYPOINT ["/app/.venv/bin/wl-board-sync"]

FROM runtime AS executor
LABEL org.opencontainers.image.title="hosted-wasteland-executor" \
      org.opencontainers.image.description="Hosted Wasteland executor (per-wasteland workloads)"
COPY --from=venv-executor /app/.venv /app/.venv
EXPOSE 7403
ENTRYPOINT ["/app/.venv/bin/wl-executor"]

FROM runtime AS control-server
ARG WL_VERSION=0.4.0
LABEL org.opencontainers.image.title="hosted-wasteland-control-server" \
      org.opencontainers.image.description="Hosted Wasteland control server with wl ${WL_VERSION}" \
      dev.kilo.wasteland.wl-version=${WL_VERSION}
COPY --from=wl /out/wl /usr/local/bin/wl
COPY --from=venv-control-server /app/.venv /app/.venv
# A fixed port inside the pod; the executor's workload template names it.
ENV GRPC_PORT=7400 WL_BINARY=/usr/local/bin/wl
EXPOSE 7400
ENTRYPOINT ["/app/.venv/bin/wl-control-server"]
