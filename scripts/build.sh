#!/usr/bin/env bash
# Builds Petrel: the binary, the container image and the release archives.
#
#   scripts/build.sh build         # bin/petrel for this machine: static, version stamped
#   scripts/build.sh test          # every check (scripts/test.sh)
#   scripts/build.sh image         # docker build . : compiles in golang:$GO_VERSION (needs a registry)
#   scripts/build.sh image-local   # the same final image from a binary built here (no registry)
#   scripts/build.sh release       # dist/: static linux/amd64 and linux/arm64 archives, SHA256SUMS
#
# Environment:
#   VERSION  release version (default: the latest v* tag at HEAD without the v, else 0.1.0-dev)
#   IMAGE    image name (default petrel); tagged $IMAGE:$VERSION and $IMAGE:latest
#   SOURCE_DATE_EPOCH  build time, seconds since 1970 (default: the commit time of HEAD),
#            so that release archives and checksums are reproducible
#
# Every binary is built with CGO_ENABLED=0 -trimpath and stamped with
# -X main.version/commit/date, which `petrel version` prints.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -eq 1 ] || usage

commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	commit="$commit-modified"
fi
if [ -z "${VERSION:-}" ]; then
	VERSION=$(git describe --tags --exact-match --match 'v*' 2>/dev/null | sed 's/^v//' || true)
	VERSION=${VERSION:-0.1.0-dev}
fi
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH
date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r "$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
IMAGE=${IMAGE:-petrel}
ldflags="-s -w -X main.version=$VERSION -X main.commit=$commit -X main.date=$date"

# gobuild OUT [GOOS GOARCH]: a static petrel binary at OUT.
gobuild() {
	local out=$1 goos=${2:-$(go env GOOS)} goarch=${3:-$(go env GOARCH)}
	echo "== go build $goos/$goarch -> $out ($VERSION, $commit)"
	CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$out" ./cmd/petrel
}

# ca_bundle: the host's CA certificate bundle (Debian/Ubuntu/Alpine, Fedora/RHEL).
ca_bundle() {
	local f
	for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
		if [ -f "$f" ]; then echo "$f"; return; fi
	done
	echo "build.sh: no CA certificate bundle found on this host" >&2
	exit 1
}

case $1 in
build)
	gobuild bin/petrel
	bin/petrel version
	;;
test)
	exec ./scripts/test.sh
	;;
image)
	docker build --build-arg VERSION="$VERSION" --build-arg COMMIT="$commit" --build-arg DATE="$date" \
		-t "$IMAGE:$VERSION" -t "$IMAGE:latest" .
	;;
image-local)
	# The context holds only what the prebuilt stage copies: the binary, the
	# CA bundle and the committed /etc files, at the paths the Dockerfile names.
	ctx=$(mktemp -d)
	trap 'rm -rf "$ctx"' EXIT
	mkdir -p "$ctx/deploy/docker"
	cp -R deploy/docker/rootfs "$ctx/deploy/docker/"
	mkdir -p "$ctx/deploy/docker/rootfs/etc/ssl/certs"
	cp "$(ca_bundle)" "$ctx/deploy/docker/rootfs/etc/ssl/certs/ca-certificates.crt"
	chmod 0644 "$ctx/deploy/docker/rootfs/etc/ssl/certs/ca-certificates.crt"
	gobuild "$ctx/deploy/docker/rootfs/petrel" linux "$(go env GOARCH)"
	docker build --target prebuilt -f Dockerfile -t "$IMAGE:$VERSION" -t "$IMAGE:latest" "$ctx"
	;;
release)
	rm -rf dist
	mkdir -p dist
	for platform in linux/amd64 linux/arm64; do
		goos=${platform%/*} goarch=${platform#*/}
		name="petrel-$VERSION-$goos-$goarch"
		mkdir -p "dist/$name"
		gobuild "dist/$name/petrel" "$goos" "$goarch"
		cp LICENSE README.md CHANGELOG.md "dist/$name/"
		cp -R deploy "dist/$name/deploy"
		# Reproducible archive: fixed order, owner and times.
		tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
			-C dist -cf - "$name" | gzip -n -9 >"dist/$name.tar.gz"
		rm -rf "dist/$name"
	done
	(cd dist && sha256sum -- *.tar.gz >SHA256SUMS && cat SHA256SUMS)
	;;
*)
	usage
	;;
esac
