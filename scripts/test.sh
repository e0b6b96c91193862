#!/usr/bin/env bash
# Runs every test. Installs what the tests need and a fresh machine lacks: Debian's
# docker-registry (CNCF distribution), which tests start on loopback, and actionlint at a pinned
# version (go install into a cache directory), which internal/ship runs on the workflows.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local

if [ ! -x /usr/bin/docker-registry ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq docker-registry >/dev/null
fi
# The package's service is not needed (tests start their own registries); stop it if systemd started it.
if command -v systemctl >/dev/null 2>&1; then
  systemctl stop docker-registry >/dev/null 2>&1 || true
fi

actionlint_version=v1.7.12
tools="${XDG_CACHE_HOME:-$HOME/.cache}/bom-attest/tools/actionlint-$actionlint_version"
export ACTIONLINT="$tools/actionlint"
install=""
if [ ! -x "$ACTIONLINT" ]; then
  GOBIN="$tools" go install "github.com/rhysd/actionlint/cmd/actionlint@$actionlint_version" &
  install=$!
fi

# Image signatures are checked with cosign's own `cosign verify` (internal/sign), cosign v3,
# built while vet and the build below run: on a cold cache each takes minutes.
export PATH="$(go env GOPATH)/bin:$PATH"
cosign_install=""
if ! cosign version --json 2>/dev/null | grep -q '"gitVersion": *"v3\.'; then
  go install github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3 &
  cosign_install=$!
fi

go vet ./...
# The static binary the image ships, compiled once here: internal/run's end-to-end tests and
# internal/ship's image test build it with these flags at the same moment, and then only link.
CGO_ENABLED=0 go build -trimpath -o /dev/null .
[ -z "$install" ] || wait "$install"
[ -z "$cosign_install" ] || wait "$cosign_install"

log=$(mktemp)
set +e
go test -count=1 -timeout 20m -v ./... 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -cE '^\s*--- PASS' "$log" || true)
failed=$(grep -cE '^\s*--- FAIL' "$log" || true)
skipped=$(grep -cE '^\s*--- SKIP' "$log" || true)
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
