package main

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pikabatch/pikabatch/manifest"
)

// topicFiles are the help topics: the reference a user reads with
// `pikabatch help TOPIC`, offline and matching the binary they run. The
// README is a front door and points here instead of carrying it.
//
//go:embed topics/*.md
var topicFiles embed.FS

// helpTopic is one topic file: its first line is "# NAME: TITLE".
type helpTopic struct {
	name, title, text string
}

// helpTopics reads the embedded topic files in name order.
func helpTopics() ([]helpTopic, error) {
	files, err := fs.Glob(topicFiles, "topics/*.md")
	if err != nil {
		return nil, err
	}
	topics := make([]helpTopic, 0, len(files))
	for _, f := range files {
		b, err := topicFiles.ReadFile(f)
		if err != nil {
			return nil, err
		}
		first, rest, _ := strings.Cut(string(b), "\n")
		name, title, ok := strings.Cut(strings.TrimPrefix(first, "# "), ": ")
		if want := strings.TrimSuffix(path.Base(f), ".md"); !ok || name != want {
			return nil, fmt.Errorf("help topic %s: first line %q is not \"# %s: TITLE\"", f, first, want)
		}
		topics = append(topics, helpTopic{name: name, title: title, text: strings.TrimSpace(rest)})
	}
	return topics, nil
}

// addHelpTopics adds each topic to root as cobra's additional help topic:
// a command with nothing to run, listed under "Help topics" and shown by
// `pikabatch help NAME` (or `pikabatch NAME`).
func addHelpTopics(root *cobra.Command) {
	topics, err := helpTopics()
	if err != nil {
		panic(err) // the embedded files are part of the binary: a bug here
	}
	for _, t := range topics {
		root.AddCommand(&cobra.Command{
			Use:   t.name,
			Short: t.title,
			Long:  strings.ToUpper(t.title[:1]) + t.title[1:] + "\n\n" + t.text,
		})
	}
}

// nearestTopic is the help topic of root a user who typed typed most
// likely meant, or "" when none is within two edits: cobra's own
// suggestions leave out commands with nothing to run, which topics are.
func nearestTopic(root *cobra.Command, typed string) string {
	best, bestDist := "", 3
	for _, c := range root.Commands() {
		if !c.IsAdditionalHelpTopicCommand() {
			continue
		}
		if d := manifest.EditDistance(strings.ToLower(typed), c.Name()); d < bestDist {
			best, bestDist = c.Name(), d
		}
	}
	return best
}
