#!/usr/bin/env bash
# Benchmark: bom-attest (dry run) against the syft CLI on the same Debian image.
# Prints median wall time and peak RSS of each, and the ratios bom-attest ÷ syft (target ≤ 1.0).
# See bench/README.md. Usage: bench/run.sh   (settings through the BENCH_* variables below)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
cache=${BENCH_CACHE:-$here/.cache}
out=${BENCH_OUT:-$here/out}
runs=${BENCH_RUNS:-3}
syft_version=${BENCH_SYFT_VERSION:-v1.54.1}
suite=${BENCH_SUITE:-bookworm}
# The upper layer: what a Python + Node build image typically adds; npm alone brings ~300
# Debian node-* packages with their package.json files, so both the dpkg and the JavaScript
# catalogers have real work.
packages=${BENCH_PACKAGES:-ca-certificates curl git openssh-client perl make gcc g++ python3 python3-pip python3-venv python3-numpy python3-requests python3-yaml nodejs npm}

export GOTOOLCHAIN=local
# syft reads its config from the environment; keep the network and the user's config out of the runs.
export SYFT_CHECK_FOR_APP_UPDATE=false
unset SYFT_CONFIG SYFT_FILE_METADATA_SELECTION || true

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
trap 'die "line $LINENO failed: $BASH_COMMAND"' ERR

[[ $runs =~ ^[0-9]+$ ]] && ((runs >= 3)) || die "BENCH_RUNS=$runs: need an integer ≥ 3"

as_root() {
	if [[ $(id -u) == 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "$1 needs root (debootstrap and chroot); run as root or install sudo"
	fi
}

# --- tools ---------------------------------------------------------------------------------
need_apt=()
[[ -x /usr/bin/time ]] || need_apt+=(time)
command -v jq >/dev/null || need_apt+=(jq)
# BENCH_TOOLS_ONLY: build the tools and stop (bench/scale.sh uses them on images of its own).
if [[ -z ${BENCH_TOOLS_ONLY:-} && ! -f $cache/image/index.json ]]; then
	command -v debootstrap >/dev/null || [[ -x /usr/sbin/debootstrap ]] || need_apt+=(debootstrap)
fi
if ((${#need_apt[@]})); then
	log "apt-get install ${need_apt[*]}"
	as_root apt-get update -q >/dev/null
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >/dev/null
fi
command -v go >/dev/null || die "go not found; install Go $(sed -n 's/^go //p' "$repo/go.mod")"

mkdir -p "$cache/bin" "$out"
syft=$cache/bin/syft
if [[ ! -x $syft ]] || ! "$syft" version 2>/dev/null | grep -q "^Version: *$syft_version\$"; then
	log "go install github.com/anchore/syft/cmd/syft@$syft_version (a cold build takes minutes)"
	ldflags="-X main.version=$syft_version"
	if ! GOBIN=$cache/bin go install -trimpath -ldflags "$ldflags" "github.com/anchore/syft/cmd/syft@$syft_version"; then
		# go install ignores our go.mod; if the proxy refuses a module syft's own go.mod wants,
		# build it from a scratch module pinned like ours (modernc.org/sqlite v1.59.0).
		log "go install failed; building syft from a scratch module with our sqlite pin"
		mod=$cache/syft-build
		rm -rf "$mod" && mkdir -p "$mod"
		(
			cd "$mod"
			go mod init bench/syft-build >/dev/null 2>&1
			printf 'package tools\n\nimport _ "github.com/anchore/syft/cmd/syft"\n' >tools.go
			GOFLAGS=-mod=mod go get "github.com/anchore/syft@$syft_version" modernc.org/sqlite@v1.59.0
			GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$syft" github.com/anchore/syft/cmd/syft
		)
	fi
fi

log "building bom-attest from $repo"
bom=$cache/bin/bom-attest
(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/bom-attest/bom-attest/internal/config.Version=bench" -o "$bom" .)
[[ -z ${BENCH_TOOLS_ONLY:-} ]] || exit 0

# --- image ---------------------------------------------------------------------------------
image=$cache/image
if [[ ! -f $image/index.json ]]; then
	mirror=${BENCH_MIRROR:-}
	if [[ -z $mirror ]]; then
		# The mirror apt already uses here, so the benchmark needs no more network than apt does.
		mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
			grep -v '^\s*#' | grep -oE '(https?|file)://[^ ]*/debian/?( |$)' | sed -n '1s/ //gp' || true)
		mirror=${mirror:-http://deb.debian.org/debian}
	fi
	root=$cache/rootfs
	as_root rm -rf "$root"
	mkdir -p "$root" "$cache/debs"
	log "debootstrap --variant=minbase $suite from $mirror (base layer)"
	as_root debootstrap --variant=minbase --cache-dir="$cache/debs" "$suite" "$root/base" "$mirror" >"$out/debootstrap.log" 2>&1 ||
		die "debootstrap failed; see $out/debootstrap.log"
	as_root chroot "$root/base" apt-get clean
	as_root rm -rf "$root/base/var/lib/apt/lists"/*

	log "apt-get install $packages (second layer)"
	as_root cp -a "$root/base" "$root/full"
	as_root cp /etc/resolv.conf "$root/full/etc/resolv.conf"
	as_root sh -c "printf '#!/bin/sh\nexit 101\n' >'$root/full/usr/sbin/policy-rc.d' && chmod 755 '$root/full/usr/sbin/policy-rc.d'"
	# shellcheck disable=SC2086 # the package list is meant to split
	as_root chroot "$root/full" sh -c "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages && apt-get clean" \
		>"$out/apt.log" 2>&1 || die "apt-get install in the chroot failed; see $out/apt.log"
	as_root rm -rf "$root/full/var/lib/apt/lists"/* "$root/full/usr/sbin/policy-rc.d"
	as_root cp "$root/base/etc/resolv.conf" "$root/full/etc/resolv.conf"

	log "packing the two rootfs trees into an OCI layout"
	(cd "$repo" && go build -o "$cache/bin/mkimage" ./bench/mkimage)
	as_root rm -rf "$image.tmp" "$image"
	as_root "$cache/bin/mkimage" -out "$image.tmp" "$root/base" "$root/full"
	as_root mv "$image.tmp" "$image"
	{
		echo "suite=$suite mirror=$mirror"
		echo "dpkg_packages=$(grep -c '^Package:' "$root/full/var/lib/dpkg/status")"
		echo "rootfs_size=$(as_root du -sh "$root/full" | cut -f1)"
	} >"$cache/image.info"
	as_root rm -rf "$root"
fi
as_root chown -R "$(id -u):$(id -g)" "$image"

# --- vulnerability database -----------------------------------------------------------------
# The scan row needs a Grype v6 database. BENCH_GRYPE_DB_URL (e.g. Grype's own,
# https://grype.anchore.io/databases) uses a real one; without it, bench/mkgrypedb builds one with
# Grype's writer — an advisory for every 4th package of the image plus 200,000 about packages no
# image has — and serves it on loopback. Either way the database is downloaded and imported once,
# in the warm-up, into $cache/grype-db, as a cached CI run finds it.
grype_db_dir=$cache/grype-db
grype_db_url=${BENCH_GRYPE_DB_URL:-}
if [[ -z $grype_db_url ]]; then
	served=$cache/grype-db-served
	digest=$(jq -r '.manifests[0].digest' "$image/index.json")
	if [[ ! -f $served/v6/latest.json || $(cat "$served/image-digest" 2>/dev/null) != "$digest" ]]; then
		log "building a vulnerability database for $digest with Grype's writer (bench/mkgrypedb; minutes)"
		rm -rf "$served" "$grype_db_dir" "$out/prep"
		"$bom" --image "oci-dir:$image" --dry-run true --output-dir "$out/prep" >"$out/prep.log" 2>&1 || die "SBOM for mkgrypedb failed; see $out/prep.log"
		(cd "$repo" && go build -o "$cache/bin/mkgrypedb" ./bench/mkgrypedb)
		"$cache/bin/mkgrypedb" -sbom "$out/prep/sbom.cdx.json" -out "$served" -filler "${BENCH_GRYPE_DB_FILLER:-200000}" 2>&1 | tail -1 >&2
		echo "$digest" >"$served/image-digest"
	fi
	[[ -x $cache/bin/mkgrypedb ]] || (cd "$repo" && go build -o "$cache/bin/mkgrypedb" ./bench/mkgrypedb)
	"$cache/bin/mkgrypedb" -out "$served" -serve 127.0.0.1:0 >"$out/grype-db.url" 2>"$out/grype-db.log" &
	server_pid=$!
	trap 'kill $server_pid 2>/dev/null || true' EXIT
	for _ in $(seq 50); do [[ -s $out/grype-db.url ]] && break; sleep 0.1; done
	grype_db_url=$(head -1 "$out/grype-db.url")
	[[ -n $grype_db_url ]] || die "mkgrypedb did not start serving; see $out/grype-db.log"
fi

# --- runs ----------------------------------------------------------------------------------
tools=(bom-attest bom-attest-vulns syft-files-off syft-default)
declare -A describe=(
	[bom-attest]="bom-attest --image oci-dir:IMAGE --dry-run true --output-dir DIR"
	[bom-attest-vulns]="the same with --vulnerability-scan true --grype-db-url URL --grype-db-dir DB (database current in DB)"
	[syft-files-off]="SYFT_FILE_METADATA_SELECTION=none syft scan oci-dir:IMAGE -o cyclonedx-json=FILE"
	[syft-default]="syft scan oci-dir:IMAGE -o cyclonedx-json=FILE"
)

# run TOOL RUN: runs TOOL once under /usr/bin/time; prints "wall_s max_rss_kb cpu_s"; leaves the
# SBOM at $out/TOOL.cdx.json.
run() {
	local tool=$1 n=$2 dir=$out/$1.$2
	rm -rf "$dir" && mkdir -p "$dir"
	local cmd
	case $tool in
	bom-attest) cmd=("$bom" --image "oci-dir:$image" --dry-run true --output-dir "$dir") ;;
	bom-attest-vulns) cmd=("$bom" --image "oci-dir:$image" --dry-run true --output-dir "$dir"
		--vulnerability-scan true --grype-db-url "$grype_db_url" --grype-db-dir "$grype_db_dir") ;;
	syft-files-off) cmd=(env SYFT_FILE_METADATA_SELECTION=none "$syft" scan -q "oci-dir:$image" -o "cyclonedx-json=$dir/sbom.cdx.json") ;;
	syft-default) cmd=("$syft" scan -q "oci-dir:$image" -o "cyclonedx-json=$dir/sbom.cdx.json") ;;
	esac
	if ! /usr/bin/time -v -o "$dir/time.txt" "${cmd[@]}" >"$dir/log.txt" 2>&1; then
		cat "$dir/log.txt" >&2
		die "$tool run $n failed: ${cmd[*]}"
	fi
	[[ -s $dir/sbom.cdx.json ]] || die "$tool run $n wrote no $dir/sbom.cdx.json"
	cp "$dir/sbom.cdx.json" "$out/$tool.cdx.json"
	if [[ -f $dir/vulnerabilities.cdx.json ]]; then cp "$dir/vulnerabilities.cdx.json" "$out/$tool.vulnerabilities.cdx.json"; fi
	cp "$dir/log.txt" "$out/$tool.log"
	awk -F': ' '
		/Elapsed \(wall clock\) time/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; wall = s }
		/Maximum resident set size/ { rss = $2 }
		/User time \(seconds\)|System time \(seconds\)/ { cpu += $2 }
		END { printf "%.2f %d %.2f\n", wall, rss, cpu }' "$dir/time.txt"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

log "image: $image ($(du -sh "$image" | cut -f1) on disk; $(paste -sd' ' "$cache/image.info" 2>/dev/null))"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "warm-up: one untimed run of each tool (page cache, first-run costs)"
for t in "${tools[@]}"; do run "$t" warmup >/dev/null; done
db_import=$(grep -o 'imported vulnerability database.*' "$out/bom-attest-vulns.log" | head -1 || true)

results=$out/results.txt
: >"$results"
for ((i = 1; i <= runs; i++)); do
	# Alternate the tools within each round and rotate who goes first, so drift on a shared
	# machine spreads over all of them.
	for ((k = 0; k < ${#tools[@]}; k++)); do
		t=${tools[$(((i - 1 + k) % ${#tools[@]}))]}
		run "$t" "$i" >"$out/last-run"
		read -r wall rss cpu <"$out/last-run"
		log "run $i $t: ${wall}s wall, $((rss / 1024)) MiB peak RSS, ${cpu}s CPU"
		echo "$t $i $wall $rss $cpu" >>"$results"
	done
done

# --- report --------------------------------------------------------------------------------
declare -A med_wall med_rss med_cpu
for t in "${tools[@]}"; do
	med_cpu[$t]=$(awk -v t="$t" '$1 == t { print $5 }' "$results" | median)
	med_wall[$t]=$(awk -v t="$t" '$1 == t { print $3 }' "$results" | median)
	med_rss[$t]=$(awk -v t="$t" '$1 == t { print $4 }' "$results" | median)
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

counts() { # total, then per component type
	jq -r '[.components[]?.type] | "\(length) (" + (group_by(.) | map("\(.[0]) \(length)") | join(", ")) + ")"' "$1"
}
purls() { jq -r '.components[]? | .. | objects | select(has("purl")) | .purl' "$1" | sed 's/?.*//' | sort -u; }

echo
echo "bom-attest benchmark: $runs alternating runs each, medians (after one warm-up run each)"
echo "image: oci-dir:$image — $(paste -sd' ' "$cache/image.info" 2>/dev/null)"
echo "       layers: $(jq -r '.layers | map("\(.size / 1048576 | floor) MiB") | join(" + ")' \
	"$image/blobs/sha256/$(jq -r '.manifests[0].digest' "$image/index.json" | cut -d: -f2)") (gzip)"
echo "syft: $syft_version ($syft)   bom-attest: $(cd "$repo" && git describe --always --dirty 2>/dev/null || echo unknown)"
echo "host: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%d GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr); load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo
printf '%-16s %9s %15s %8s  %s\n' tool "wall (s)" "peak RSS (MiB)" "CPU (s)" "components"
for t in "${tools[@]}"; do
	printf '%-16s %9s %15d %8s  %s\n' "$t" "${med_wall[$t]}" $((${med_rss[$t]%.*} / 1024)) "${med_cpu[$t]}" "$(counts "$out/$t.cdx.json")"
done
echo
echo "per run (wall s / peak RSS MiB / CPU s):"
for t in "${tools[@]}"; do
	printf '  %-16s %s\n' "$t" "$(awk -v t="$t" '$1 == t { printf "%s/%d/%s  ", $3, $4 / 1024, $5 }' "$results")"
done
echo
only_bom=$(comm -23 <(purls "$out/bom-attest.cdx.json") <(purls "$out/syft-files-off.cdx.json") | wc -l)
only_syft=$(comm -13 <(purls "$out/bom-attest.cdx.json") <(purls "$out/syft-files-off.cdx.json") | wc -l)
both=$(comm -12 <(purls "$out/bom-attest.cdx.json") <(purls "$out/syft-files-off.cdx.json") | wc -l)
echo "purls: $both in both, $only_bom only in bom-attest, $only_syft only in syft (files off)"
echo
wr=$(ratio "${med_wall[bom-attest]}" "${med_wall[syft-files-off]}")
rr=$(ratio "${med_rss[bom-attest]}" "${med_rss[syft-files-off]}")
echo "bom-attest ÷ syft (files off, the like-for-like run):  wall $wr   peak RSS $rr   (target ≤ 1.00 each)"
echo "bom-attest ÷ syft (default, files owned by packages):   wall $(ratio "${med_wall[bom-attest]}" "${med_wall[syft-default]}")   peak RSS $(ratio "${med_rss[bom-attest]}" "${med_rss[syft-default]}")"
echo "CPU time (user + sys), less sensitive to a busy host:     $(ratio "${med_cpu[bom-attest]}" "${med_cpu[syft-files-off]}") vs files off, $(ratio "${med_cpu[bom-attest]}" "${med_cpu[syft-default]}") vs default"
echo
awk -v w1="${med_wall[bom-attest-vulns]}" -v w0="${med_wall[bom-attest]}" -v r1="${med_rss[bom-attest-vulns]}" -v r0="${med_rss[bom-attest]}" \
	-v c1="${med_cpu[bom-attest-vulns]}" -v c0="${med_cpu[bom-attest]}" 'BEGIN {
	printf "the vulnerability scan adds: wall %+.2f s (%+.0f%%), peak RSS %+d MiB (%+.0f%%), CPU %+.2f s\n",
		w1 - w0, (w1 / w0 - 1) * 100, (r1 - r0) / 1024, (r1 / r0 - 1) * 100, c1 - c0 }'
# The stages' own clocks, which a busy host disturbs less than the whole run's wall time.
stage_median() {
	for ((i = 1; i <= runs; i++)); do
		sed -n "s/^$1: done in \([0-9.]*\)\(m\?s\)\$/\1 \2/p" "$out/bom-attest-vulns.$i/log.txt" | awk '{ print ($2 == "ms" ? $1 / 1000 : $1) }'
	done | median
}
echo "  median stage times: vulnerability database $(stage_median "vulnerability database") s, vulnerabilities $(stage_median "vulnerabilities linux\/amd64") s (matching, VEX, report, schema check)"
echo "  $(jq '.vulnerabilities | length' "$out/bom-attest-vulns.vulnerabilities.cdx.json") findings; database $grype_db_url, $(du -sh "$grype_db_dir/6" | cut -f1) imported"
echo "  first download and import, in the warm-up: ${db_import:-(none: the database was already current)}"
echo
for t in "${tools[@]}"; do echo "  $t: ${describe[$t]}"; done
echo "raw results: $results; SBOMs and /usr/bin/time -v output: $out/<tool>.<run>/"
verdict=ok
awk -v a="$wr" -v b="$rr" 'BEGIN { exit !(a <= 1.0 && b <= 1.0) }' || verdict="MISSED (a ratio is above 1.00)"
echo "target: $verdict"
