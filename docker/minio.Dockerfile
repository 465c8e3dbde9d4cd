# MinIO for deploy/ (`make images` builds it as motiflens/minio:$(MINIO_RELEASE)).
#
# MinIO's community edition is distributed as source only since its October 2025 security
# release: the last minio/minio image on the public registries is RELEASE.2025-09-07T16-13-09Z,
# which lacks that release's fixes. This builds the current release from its tag, the way
# MinIO's own Makefile does (static binary, version stamped by buildscripts/gen-ldflags.go).
ARG MINIO_RELEASE=RELEASE.2025-10-15T17-29-55Z

FROM golang:1.24-bookworm AS build
ARG MINIO_RELEASE
RUN git clone --depth 1 --branch "${MINIO_RELEASE}" https://github.com/minio/minio.git /src/minio
WORKDIR /src/minio
RUN CGO_ENABLED=0 go build -tags kqueue -trimpath -ldflags "$(go run buildscripts/gen-ldflags.go)" \
        -o /out/minio . \
    && /out/minio --version

FROM debian:bookworm-slim
# The StatefulSet runs it as UID 10002 with a read-only root filesystem, /data on its volume.
RUN groupadd --system --gid 10002 minio \
    && useradd --system --uid 10002 --gid 10002 --no-create-home --home-dir /tmp minio
COPY --from=build /out/minio /usr/bin/minio
USER 10002:10002
EXPOSE 9000 9001
ENTRYPOINT ["minio"]
CMD ["server", "/data"]
