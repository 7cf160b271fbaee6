// Package docker tests Petrel as operators deploy it: the container image
// (Dockerfile) and the compose files in deploy/, driven with the docker CLI and
// the official Go client from the host.
//
// The tests that need Docker carry the build tag `docker` and skip when `docker
// info` fails or no compose command (`docker compose` or `docker-compose`) is
// installed:
//
//	go test -tags docker -count=1 -v ./test/docker
//
// The untagged tests check the files in deploy/ without Docker (every
// configuration file loads in Petrel).
package docker
