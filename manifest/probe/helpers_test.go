package probe_test

import (
	"bytes"
	"time"
)

var zeroTime time.Time

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
