//go:build !unix

package bench

import "os"

// peakRSS is unknown on this OS: 0.
func peakRSS(*os.ProcessState) int64 { return 0 }
