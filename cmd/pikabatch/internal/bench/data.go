package bench

import (
	"bufio"
	"fmt"
	"os"
)

// writeManifest writes a CSV manifest of n distinct valid rows. Every row
// has an id, except every third when derivedKeys is set, so that keys derived
// from the parameters (and their duplicate checks) are exercised too.
func writeManifest(path string, n int, derivedKeys bool) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "id,image,promptText,seed,resolution,duration")
	for i := range n {
		id := fmt.Sprintf("bench-%07d", i)
		if derivedKeys && i%3 == 2 {
			id = ""
		}
		fmt.Fprintf(w, "%s,https://img.example.com/batch/%07d.png,a slow pan over scene %d with soft light,%d,720p,5\n", id, i, i, i)
	}
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
