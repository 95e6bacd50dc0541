# syntax=docker/dockerfile:1
#
# The lienthong hub as a container image, and the simulators (portalsim) for
# deploy/compose:
#
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t lienthong/hub .
#   docker build --target portalsim -t lienthong/portalsim .
#
# Both are static Go binaries (CGO_ENABLED=0: the SQLite store is pure Go) on
# distroless/static, which has CA certificates, tzdata and a nonroot user
# (65532) and no shell. The hub also embeds Go's time zone database (it
# imports time/tzdata in schemas; -tags timetzdata says the same at build),
# so Asia/Ho_Chi_Minh resolves whatever the image holds.
# deploy/dockerfile_test.go checks this file's shape (stages, user, entrypoint).

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS source
WORKDIR /src
ENV CGO_ENABLED=0
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .

FROM source AS build-hub
# main.version, printed by `hub version`.
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -tags timetzdata \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/hub ./cmd/hub

FROM source AS build-portalsim
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -tags timetzdata -ldflags "-s -w" \
      -o /out/portalsim ./cmd/portalsim

# The simulators of every external system, for deploy/compose only (never a
# production image). Their listen addresses come from PORTALSIM_*_ADDR.
FROM gcr.io/distroless/static-debian12:nonroot AS portalsim
COPY --from=build-portalsim /out/portalsim /portalsim
USER 65532:65532
EXPOSE 18081 18082 18083 18090 18091 18092 18093 18094 2525
ENTRYPOINT ["/portalsim"]

# The hub: the last stage, so the image a plain `docker build .` makes.
FROM gcr.io/distroless/static-debian12:nonroot AS hub
ARG VERSION=dev
LABEL org.opencontainers.image.title="lienthong hub" \
      org.opencontainers.image.description="Interop hub: provincial one-stop portals to the National Public Service Portal" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build-hub /out/hub /hub
# Numeric, so Kubernetes' runAsNonRoot can check it.
USER 65532:65532
# http.listen in deploy/compose/hub.yaml and deploy/kubernetes/hub.yaml:
# /healthz, /readyz, /metrics, the payment callback, the API and console.
EXPOSE 8080
ENTRYPOINT ["/hub"]
CMD ["serve", "--config", "/etc/lienthong/hub.yaml"]
