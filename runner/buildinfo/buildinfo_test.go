package buildinfo

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestVersionFromBuildInfo: --version says what the binary was built
// from (the module's version, the commit, uncommitted changes), never a
// bare "dev".
func TestVersionFromBuildInfo(t *testing.T) {
	t.Parallel()
	settings := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name    string
		ldflags string
		info    *debug.BuildInfo
		ok      bool
		want    string
	}{
		{"release build", "v1.2.3", &debug.BuildInfo{Settings: settings(rev, "false")}, true, "v1.2.3 (commit 0123456789ab)"},
		{"go install at a tag", "dev", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, true, "v1.4.0"},
		{"pseudo-version", "dev", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261207020000-0123456789ab+dirty"},
			Settings: settings(rev, "true")}, true, "v0.0.0-20261207020000-0123456789ab+dirty"},
		{"local build", "dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings(rev, "true")}, true,
			"devel (commit 0123456789ab, with uncommitted changes)"},
		{"no build info", "dev", nil, false, "devel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, versionOf(tt.ldflags, tt.info, tt.ok))
		})
	}
}
