# motiflens trainer, GPU variant: `docker build -f docker/trainer-gpu.Dockerfile -t motiflens/trainer-gpu:$(VERSION) .`
# The TensorFlow GPU image brings CUDA/cuDNN and tensorflow==2.21.0 (the version constraints.txt
# pins); the venv sees it through --system-site-packages, so pip keeps it and adds the rest.

FROM tensorflow/tensorflow:2.21.0-gpu AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv --system-site-packages /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY constraints.txt pyproject.toml README.md ./
COPY client ./client
COPY motiflens ./motiflens
COPY services ./services
RUN pip install -c constraints.txt . ./client

FROM tensorflow/tensorflow:2.21.0-gpu
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
EXPOSE 50051 9101
ENTRYPOINT ["python", "-m", "services.trainer"]
