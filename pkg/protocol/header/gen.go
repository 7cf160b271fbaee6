//go:build ignore

// gen writes headers_gen.go from the struct tags of this package's header
// types. Run it with `go generate ./pkg/protocol/header`.
package main

import (
	"log"
	"os"

	"github.com/petrelmq/petrel/pkg/protocol/header/internal/headergen"
)

func main() {
	src, err := headergen.Generate(".")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(headergen.Output, src, 0o644); err != nil {
		log.Fatal(err)
	}
}
