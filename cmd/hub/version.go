package main

import (
	"cmp"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version, commit and date may be set by a release build:
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.date=2026-12-07T10:00:00Z" ./cmd/hub
//
// Otherwise they are what the go command recorded in the binary: the main
// module's version, the VCS revision and its commit time.
var version, commit, date string

// versionText is what `hub version` prints, from the binary's build
// information (ok false when it has none).
func versionText(bi *debug.BuildInfo, ok bool) string {
	v, rev, at, modified, goVersion := "(devel)", "unknown", "unknown", false, runtime.Version()
	if ok {
		v, goVersion = cmp.Or(bi.Main.Version, v), cmp.Or(bi.GoVersion, goVersion)
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	rev = cmp.Or(commit, rev)
	if modified {
		rev += " (modified: built with uncommitted changes)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "version  %s\n", cmp.Or(version, v))
	fmt.Fprintf(&b, "commit   %s\n", rev)
	fmt.Fprintf(&b, "date     %s\n", cmp.Or(date, at))
	fmt.Fprintf(&b, "go       %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}

func printVersion() {
	fmt.Print(versionText(debug.ReadBuildInfo()))
}
