# motiflens interpreter: `docker build -f docker/interpreter.Dockerfile -t motiflens/interpreter:$(VERSION) .` (make images).
# Stage 1 installs motiflens + the client SDK into a venv with the pinned constraints;
# stage 2 copies only that venv onto the same slim base and runs as a non-root user.

FROM python:3.11.7-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY constraints.txt pyproject.toml README.md ./
COPY client ./client
COPY motiflens ./motiflens
COPY services ./services
RUN pip install -c constraints.txt . ./client
# DiscoverMotifs matches motifs with Tomtom: its numba kernels baked as in motifmatch.Dockerfile
# (which says why and how); the interpreter's start copies them into the pod's NUMBA_CACHE_DIR.
RUN NUMBA_CACHE_DIR=/opt/venv/share/motiflens/numba-cache python -m motiflens.tomtom.bake

FROM python:3.11.7-slim-bookworm
# NUMBA_CACHE_DIR: memelite's numba cache; the pod mounts an emptyDir there (read-only root fs).
# HOME=/tmp: matplotlib/keras config dirs land on the /tmp emptyDir.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NUMBA_CACHE_DIR=/var/cache/numba \
    HOME=/tmp \
    MOTIFLENS_HOST=0.0.0.0
RUN groupadd --system --gid 10001 motiflens \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp motiflens \
    && install -d -o 10001 -g 10001 /var/cache/numba
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /tmp
EXPOSE 50052 9102
ENTRYPOINT ["python", "-m", "services.interpreter"]
