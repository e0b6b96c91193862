# The action's image. On main, action.yml builds it on the runner; a release tag's action.yml
# names the image the release workflow pushed, by digest (RELEASING.md), so a pinned run pulls a
# prebuilt binary and compiles nothing. internal/ship's tests check the rules this file keeps and
# run the image it describes.

# The build stage runs on the builder's own platform and cross-compiles, so the arm64 image
# needs no emulation. Base: golang:1.26.8-bookworm (multi-arch index digest).
FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm@sha256:dc9ad6c05acc7a88e5b71bde60a5fe3bd4b9f0db209011711b464107438a8107 AS build
ENV GOTOOLCHAIN=local CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
    -ldflags "-s -w -X github.com/bom-attest/bom-attest/internal/version.Version=${VERSION} -X github.com/bom-attest/bom-attest/internal/version.Commit=${COMMIT}" \
    -o /bom-attest .

# distroless/static: CA certificates, /tmp and tzdata; no shell, no package manager. It runs as
# root on purpose, with no USER or WORKDIR: GitHub runs container actions in the workspace it
# mounts, whose files and file-command files belong to the runner's user, and bom-attest gives
# what it writes back to that user. Base: gcr.io/distroless/static-debian12:latest (multi-arch
# index digest).
FROM gcr.io/distroless/static-debian12:latest@sha256:d75cdd72874d4790092fcb1b058493ecf6bb5bf2b2b897045b00ff01d91843f2
COPY --from=build /bom-attest /bom-attest
ENTRYPOINT ["/bom-attest"]
