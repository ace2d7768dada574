package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/pikabatch/pikabatch/runner/bucket"
)

// k8sJob is the part of a Kubernetes Job the checks below read.
type k8sJob struct {
	Kind string `yaml:"kind"`
	Spec struct {
		CompletionMode       string `yaml:"completionMode"`
		PodReplacementPolicy string `yaml:"podReplacementPolicy"`
		Template             struct {
			Spec struct {
				RestartPolicy string `yaml:"restartPolicy"`
				Containers    []struct {
					Command      []string `yaml:"command"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []k8sVolume `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sVolume struct {
	Name                  string         `yaml:"name"`
	Ephemeral             map[string]any `yaml:"ephemeral"`
	PersistentVolumeClaim map[string]any `yaml:"persistentVolumeClaim"`
}

// TestBucketIndexedJobKeepsEachShardsStateApart: in the Indexed Job that
// syncs to a bucket, the folder with the state file is on a volume of the
// pod's own (never a claim the pods share), pikabatch restarts in the
// same pod (keeping that volume), and the bucket is a bucket URL.
func TestBucketIndexedJobKeepsEachShardsStateApart(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(examplesDir, "k8s", "indexed-job-bucket.yaml"))
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var job *k8sJob
	for {
		var doc k8sJob
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if doc.Kind == "Job" {
			job = &doc
		}
	}
	require.NotNil(t, job, "a Job")
	assert.Equal(t, "Indexed", job.Spec.CompletionMode)
	assert.Equal(t, "Failed", job.Spec.PodReplacementPolicy, "never two pods of one index at once")
	pod := job.Spec.Template.Spec
	assert.Equal(t, "OnFailure", pod.RestartPolicy, "a restart keeps the pod's volume")
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	flag := func(name string) string {
		for _, a := range c.Command {
			if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
				return v
			}
		}
		return ""
	}
	out, syncTo := flag("out"), flag("sync-to")
	require.NotEmpty(t, out)
	assert.True(t, bucket.IsURL(syncTo), "--sync-to %q", syncTo)
	assert.True(t, strings.HasPrefix(flag("shard"), "auto/"))

	var mounted string
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(out+"/", strings.TrimSuffix(m.MountPath, "/")+"/") && len(m.MountPath) > len(mounted) {
			mounted = m.Name
		}
	}
	require.NotEmpty(t, mounted, "--out %s is on a volume", out)
	i := slices.IndexFunc(pod.Volumes, func(v k8sVolume) bool { return v.Name == mounted })
	require.GreaterOrEqual(t, i, 0)
	assert.NotNil(t, pod.Volumes[i].Ephemeral, "the state's volume is the pod's own")
	assert.Nil(t, pod.Volumes[i].PersistentVolumeClaim, "never a claim every pod shares")
}
