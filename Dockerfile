# Petrel's container image: one static binary on an empty (scratch) base.
#
#   docker build -t petrel .                 # compiles in golang:$GO_VERSION, then the final image
#   scripts/build.sh image-local             # the same final image from a binary built on this host
#                                            # (docker build --target prebuilt; no registry needed)
#
# The image holds /petrel (CGO_ENABLED=0, -trimpath, time zones embedded), CA
# certificates, /etc/passwd and /etc/group (user petrel, uid 10001) and /data, the
# volume for everything Petrel writes (HOME=/data: the broker's store is /data/store,
# the name server's KV config /data/namesrv/kvConfig.json). It runs as uid 10001.
#
# Ports: 9876 name server; 10911 broker (listenPort); 10909 broker VIP channel
# (listenPort - 2); 10912 broker HA, master to slaves (listenPort + 1).
# See docs/deploy.md.
#
# Works with BuildKit and with the classic builder (which builds every stage before
# the target in order, so no stage before `image` pulls anything).

ARG GO_VERSION=1.26

# base: everything the image says about itself. Both final stages (image and
# prebuilt) start from it, so they differ only in where /petrel was compiled.
FROM scratch AS base
ENV HOME=/data
EXPOSE 9876 10909 10911 10912
STOPSIGNAL SIGTERM
# `petrel health` asks a broker on :10911, else a name server on :9876; a
# service on other ports sets its own check (deploy/*.yml pass --addr).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["/petrel", "health", "--timeout", "4s"]
USER 10001:10001
ENTRYPOINT ["/petrel"]
CMD ["standalone"]

# empty: an empty directory to copy, so /data is created owned by petrel (WORKDIR
# would create it owned by root).
FROM scratch AS empty

# prebuilt: the final image from a context whose deploy/docker/rootfs/ already holds
# petrel and etc/ssl/certs/ca-certificates.crt (scripts/build.sh image-local).
FROM base AS prebuilt
COPY deploy/docker/rootfs/ /
COPY --from=empty --chown=10001:10001 / /data
WORKDIR /data
VOLUME ["/data"]

# build: compile the static binary and gather the root file system.
FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=
ARG COMMIT=
ARG DATE=
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" \
      -o /out/rootfs/petrel ./cmd/petrel \
 && cp -R deploy/docker/rootfs/. /out/rootfs/ \
 && mkdir -p /out/rootfs/etc/ssl/certs \
 && cp /etc/ssl/certs/ca-certificates.crt /out/rootfs/etc/ssl/certs/ \
 && /out/rootfs/petrel version

# image (the default target): the final image.
FROM base AS image
COPY --from=build /out/rootfs/ /
COPY --from=empty --chown=10001:10001 / /data
WORKDIR /data
VOLUME ["/data"]
