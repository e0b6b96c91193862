# The action's image. Release builds push it once and pin action.yml to its digest, so a workflow
# using bom-attest@vX pulls a prebuilt binary instead of compiling.
FROM golang:1.26-bookworm AS build
ENV GOTOOLCHAIN=local CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN go build -trimpath -ldflags "-s -w -X github.com/bom-attest/bom-attest/internal/config.Version=${VERSION}" -o /bom-attest .

# distroless/static: CA certificates and /tmp, nothing else. It runs as root on purpose: the
# runner's file-command files and workspace belong to the runner user, and bom-attest gives the
# files it writes in the workspace back to that user.
FROM gcr.io/distroless/static-debian12
COPY --from=build /bom-attest /bom-attest
ENTRYPOINT ["/bom-attest"]
