#!/usr/bin/env bash
# What the compliance stage costs: bom-attest on the benchmark's Debian image with
# compliance: none and with compliance: all (the default), alternating, and the share of the
# scan's wall time that enrichment and hashing installed files take. Prints the compliance
# table of the image and the bytes the stage adds to the SBOM per component.
#
# Usage: bench/compliance.sh   (after bench/run.sh has built the image; see bench/README.md)
#   BENCH_RUNS=5              rounds (default 3; each round runs both)
#   BENCH_IMAGE=DIR           an OCI layout to use instead of bench/.cache/image
#   BENCH_COMPLIANCE_ARGS=... more bom-attest flags for both runs, e.g. "--cyclonedx-version 1.7"
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
cache=${BENCH_CACHE:-$here/.cache}
out=${BENCH_OUT:-$here/out}/compliance
runs=${BENCH_RUNS:-3}
image=${BENCH_IMAGE:-$cache/image}
# shellcheck disable=SC2206 # extra flags are meant to split
extra=(${BENCH_COMPLIANCE_ARGS:-})
export GOTOOLCHAIN=local

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
log() { printf '==> %s\n' "$*" >&2; }
[[ -f $image/index.json ]] || die "no image at $image: run bench/run.sh first (it builds it), or set BENCH_IMAGE"
[[ $runs =~ ^[0-9]+$ ]] && ((runs >= 1)) || die "BENCH_RUNS=$runs: need a positive integer"
command -v jq >/dev/null || die "jq not found"
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install time)"

mkdir -p "$out" "$cache/bin"
bom=$cache/bin/bom-attest-compliance
log "building bom-attest from $repo"
(cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$bom" .)

# run MODE N: one dry run; prints "wall scan compliance hashing" in seconds.
run() {
	local mode=$1 n=$2 dir=$out/$1.$2
	rm -rf "$dir" && mkdir -p "$dir"
	/usr/bin/time -f '%e' -o "$dir/wall" "$bom" --image "oci-dir:$image" --dry-run true --output-dir "$dir" \
		--compliance "$mode" "${extra[@]}" >"$dir/log.txt" 2>&1 || { cat "$dir/log.txt" >&2; die "$mode run $n failed"; }
	# Stage times from the log: "- scan linux/amd64: done in 34.8s", "… read in 4.66s)".
	awk -v wall="$(cat "$dir/wall")" '
		function secs(s) { if (s ~ /ms$/) { sub(/ms$/, "", s); return s / 1000 } if (s ~ /m[0-9]/) { split(s, p, "m"); sub(/s$/, "", p[2]); return p[1] * 60 + p[2] } sub(/s$/, "", s); return s + 0 }
		/^- scan / { scan = secs($NF) }
		/^- compliance / { compl = secs($NF) }
		/^hashes:/ { for (i = 1; i <= NF; i++) if ($i == "in") { h = $(i + 1); sub(/\),?$/, "", h); hash = secs(h) } }
		END { printf "%.2f %.2f %.2f %.2f\n", wall, scan, compl + 0, hash + 0 }' "$dir/log.txt"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

log "warm-up run (page cache)"
run all warmup >/dev/null
results=$out/results.txt
: >"$results"
for ((i = 1; i <= runs; i++)); do
	for mode in $( ((i % 2)) && echo "none all" || echo "all none"); do
		read -r wall scan compl hash < <(run "$mode" "$i")
		log "run $i compliance=$mode: ${wall}s wall, scan ${scan}s, compliance stage ${compl}s, hashing ${hash}s"
		echo "$mode $i $wall $scan $compl $hash" >>"$results"
	done
done

col() { awk -v m="$1" -v c="$2" '$1 == m { print $c }' "$results" | median; }
wall_none=$(col none 3) wall_all=$(col all 3) scan_none=$(col none 4) scan_all=$(col all 4) compl=$(col all 5) hash=$(col all 6)
last=$out/all.$runs
comps=$(jq '.platforms[0].components' "$last/compliance.json")
size_none=$(stat -c %s "$out/none.$runs/sbom.cdx.json")
size_all=$(stat -c %s "$last/sbom.cdx.json")
{
	echo "image: $image ($comps components); $runs rounds; extra flags: ${extra[*]:-none}"
	echo
	printf '%-34s %10s\n' "median wall, compliance: none" "${wall_none}s" "median wall, compliance: all" "${wall_all}s" \
		"median scan stage (none / all)" "${scan_none}s / ${scan_all}s" "median compliance stage" "${compl}s" "median hashing installed files" "${hash}s"
	awk -v h="$hash" -v c="$compl" -v s="$scan_none" -v wn="$wall_none" -v wa="$wall_all" 'BEGIN {
		printf "hashing installed files ÷ scan:     %.1f%% (target < 15%%)\n", 100 * h / s
		printf "compliance stage ÷ scan:            %.1f%%\n", 100 * c / s
		printf "wall(all) − wall(none) ÷ scan:      %.1f%%\n", 100 * (wa - wn) / s }'
	echo "SBOM bytes: $size_none (none), $size_all (all): $(((size_all - size_none) / comps)) bytes added per component"
	echo
	echo "compliance score $(jq '.score' "$last/compliance.json")%; hashes by kind: $(jq -c '.platforms[0].hashes' "$last/compliance.json")"
	jq -r '.platforms[0].elements[] | [.id, (if .notApplicable then "n/a" else (.coverage | tostring) + "%" end), (.missingCount // 0 | tostring), ((.missing // [])[0].detail // "")] | @tsv' \
		"$last/compliance.json" | awk -F'\t' '{ printf "%-30s %7s %6s  %s\n", $1, $2, $3, substr($4, 1, 100) }'
} | tee "$out/report.txt"
