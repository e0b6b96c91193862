#!/usr/bin/env bash
# Points action.yml at a pushed image by digest: the one change a release commit makes, so that
# `uses: OWNER/bom-attest@vX.Y.Z` pulls that image instead of building the Dockerfile.
# Usage: scripts/pin-action-image.sh docker://ghcr.io/OWNER/NAME@sha256:DIGEST [action.yml]
set -euo pipefail
ref=${1:?usage: pin-action-image.sh docker://ghcr.io/OWNER/NAME@sha256:DIGEST [action.yml]}
file=${2:-action.yml}
if ! [[ $ref =~ ^docker://ghcr\.io/[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)+@sha256:[0-9a-f]{64}$ ]]; then
  echo "pin-action-image: $ref is not docker://ghcr.io/<owner>/<name>@sha256:<64 hex digits>" >&2
  exit 1
fi
n=$(grep -c '^  image: Dockerfile$' "$file" || true)
if [ "$n" != 1 ]; then
  echo "pin-action-image: $file has $n lines '  image: Dockerfile', want exactly 1" >&2
  exit 1
fi
tmp=$(mktemp "$file.XXXXXX")
trap 'rm -f "$tmp"' EXIT
sed "s|^  image: Dockerfile\$|  image: $ref|" "$file" >"$tmp"
chmod 644 "$tmp"
mv "$tmp" "$file"
