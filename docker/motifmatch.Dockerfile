# motiflens motifmatch: `docker build -f docker/motifmatch.Dockerfile -t motiflens/motifmatch:$(VERSION) .` (make images).
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
# A warm start (motiflens/tomtom/warm.py): memelite's Tomtom kernels compiled now (about 75 s)
# into a numba cache baked into the venv, /opt/venv/share/motiflens/numba-cache. numba reads a
# cache only from a writable folder, and the pods mount an emptyDir at NUMBA_CACHE_DIR under a
# read-only root, so the server's warm-up copies the baked files there (seed_cache) before it
# reports SERVING, and loads the kernels in about a second instead of compiling them. The cache
# stays valid because the venv keeps its path (/opt/venv) in the runtime stage: numba names each
# cached source folder after its absolute path and checks the source's content hash, not mtimes.
# numba also keys cached code by the CPU model and features that compiled it: the baked kernels
# are used on nodes whose CPU is the build machine's; on other nodes each pod compiles them once
# during its warm-up (readiness held, about 75 s; the startupProbe allows 300 s). Portable code
# (NUMBA_CPU_NAME=generic, set in both stages) would hit on every x86-64 node, but made warm
# Tomtom calls 1.4-1.9x slower here (bench/warm_start.py --generic), for the pod's whole life.
RUN NUMBA_CACHE_DIR=/opt/venv/share/motiflens/numba-cache python -m motiflens.tomtom.bake

FROM python:3.11.7-slim-bookworm
# NUMBA_CACHE_DIR: memelite's numba cache; the pod mounts an emptyDir there (read-only root fs),
# seeded from the cache baked above.
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
EXPOSE 50053 9103
ENTRYPOINT ["python", "-m", "services.motifmatch"]
