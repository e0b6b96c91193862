#!/usr/bin/env bash
# Runs every test. Installs what the tests start on loopback (Debian's docker-registry, i.e. CNCF
# distribution) when it is missing, so this works on a fresh Debian/Ubuntu machine.
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
command -v systemctl >/dev/null 2>&1 && systemctl stop docker-registry >/dev/null 2>&1 || true

# Image signatures are checked with cosign's own `cosign verify` (internal/sign), cosign v3.
export PATH="$(go env GOPATH)/bin:$PATH"
cosign version --json 2>/dev/null | grep -q '"gitVersion": *"v3\.' ||
  go install github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3

go vet ./...
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
