package main

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

// -ldflags values win; what they leave unset comes from the module and VCS
// information Go embeds; a build that names no version is devVersion.
func TestMergeBuildInfo(t *testing.T) {
	t.Parallel()
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.3.1"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc123"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		}}
	got := mergeBuildInfo("", "", "", bi)
	require.Equal(t, buildInfo{Version: "0.3.1", Commit: "abc123", Modified: true, Date: "2026-01-02T03:04:05Z",
		GoVersion: "go1.26.8", Platform: runtime.GOOS + "/" + runtime.GOARCH}, got)

	got = mergeBuildInfo("0.2.0", "feedface", "2026-02-03T00:00:00Z", bi)
	require.Equal(t, "0.2.0", got.Version)
	require.Equal(t, "feedface", got.Commit)
	require.Equal(t, "2026-02-03T00:00:00Z", got.Date)

	got = mergeBuildInfo("", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}})
	require.Equal(t, devVersion, got.Version)
	require.Equal(t, runtime.Version(), got.GoVersion)
	require.Equal(t, "petrel "+devVersion+"\ncommit: unknown\nbuilt:  unknown\ngo:     "+runtime.Version()+" "+got.Platform+"\n",
		got.String())
	require.Equal(t, devVersion, mergeBuildInfo("", "", "", nil).Version)
}

// `petrel version` and `petrel --version` print the same release details.
func TestVersionCommandAndFlag(t *testing.T) {
	want := readBuildInfo().String()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(args)
		require.NoError(t, root.Execute(), args)
		require.Equal(t, want, out.String(), args)
		require.Contains(t, out.String(), "go:     "+runtime.Version())
	}
}
