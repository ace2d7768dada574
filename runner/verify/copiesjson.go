package verify

// CopiesCheck is StateCopies as `verify --json` lists it: the report's
// figures beside the state file's name, one flat object per state file,
// whether its copies were checked or skipped.
type CopiesCheck struct {
	StateFile string    `json:"state_file"`
	To        string    `json:"to,omitempty"` // the bucket prefix (no credentials, no signature)
	Copies    int       `json:"copies"`
	OK        int       `json:"ok"`
	Waiting   int       `json:"waiting"` // done files the next run uploads
	Skipped   string    `json:"skipped,omitempty"`
	Findings  []Finding `json:"findings"` // [], never null
}

// Check is c as `verify --json` lists it.
func (c StateCopies) Check() CopiesCheck {
	j := CopiesCheck{StateFile: c.StateFile, Skipped: c.Skipped, Findings: []Finding{}}
	if r := c.Report; r != nil {
		j.To, j.Copies, j.OK, j.Waiting = r.To, r.Copies, r.OK, r.Waiting
		j.Findings = append(j.Findings, r.Findings...)
	}
	return j
}
