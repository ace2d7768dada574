// Package buildinfo says which build of pikabatch is running: the version
// a release was given, else what the Go toolchain recorded.
package buildinfo

import (
	"runtime/debug"
	"strings"
)

// versionOf is what Version reports: the version a
// release build was given (ldflags, in api.Version), else the module's
// version as the Go toolchain recorded it (a tag, or a pseudo-version
// naming the commit), with the VCS revision the binary was built from and
// whether the tree had changes not committed. A build without either says
// "devel" rather than a made-up number.
func versionOf(ldflags string, info *debug.BuildInfo, ok bool) string {
	v := ldflags
	if v == "" || v == "dev" {
		v = "devel"
		if ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
	}
	if !ok {
		return v
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return v
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	var notes []string
	if !strings.Contains(v, rev) {
		notes = append(notes, "commit "+rev)
	}
	if modified == "true" && !strings.HasSuffix(v, "+dirty") {
		notes = append(notes, "with uncommitted changes")
	}
	if len(notes) == 0 {
		return v
	}
	return v + " (" + strings.Join(notes, ", ") + ")"
}

// Version is what --version and `pikabatch version` print for this
// binary, ldflags being the version a release build was given.
func Version(ldflags string) string {
	info, ok := debug.ReadBuildInfo()
	return versionOf(ldflags, info, ok)
}
