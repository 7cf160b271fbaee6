package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Release details, set by the build (scripts/build.sh) with
//
//	-ldflags "-X main.version=0.2.0 -X main.commit=<git sha> -X main.date=<RFC 3339 UTC>"
//
// Whatever is not set comes from the module and VCS information Go embeds
// (runtime/debug.ReadBuildInfo): the module version for `go install
// ...@v0.2.0`, vcs.revision and vcs.time for a build in a git checkout.
var (
	version = ""
	commit  = ""
	date    = ""
)

// devVersion is the version of a build that names none.
const devVersion = "0.1.0-dev"

// buildInfo is what `petrel version` prints.
type buildInfo struct {
	Version   string // "0.2.0", or devVersion
	Commit    string // full git commit, "" if unknown
	Modified  bool   // built from a checkout with uncommitted changes
	Date      string // build (or, from VCS information, commit) time, "" if unknown
	GoVersion string // "go1.26.8"
	Platform  string // "linux/amd64"
}

// readBuildInfo merges the -ldflags values with what Go embedded in the binary.
func readBuildInfo() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	return mergeBuildInfo(version, commit, date, bi)
}

func mergeBuildInfo(version, commit, date string, bi *debug.BuildInfo) buildInfo {
	info := buildInfo{Version: version, Commit: commit, Date: date,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = strings.TrimPrefix(bi.Main.Version, "v")
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.time":
				if info.Date == "" {
					info.Date = s.Value
				}
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if info.Version == "" {
		info.Version = devVersion
	}
	return info
}

// String is the text of `petrel version` and `petrel --version`.
func (b buildInfo) String() string {
	unknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	c := unknown(b.Commit)
	if b.Modified {
		c += " (modified)"
	}
	return fmt.Sprintf("petrel %s\ncommit: %s\nbuilt:  %s\ngo:     %s %s\n",
		b.Version, c, unknown(b.Date), b.GoVersion, b.Platform)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date and Go version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprint(cmd.OutOrStdout(), readBuildInfo())
		},
	}
}
