package manifest

// PikaFields builds the Input of a pika/pika-2-2/image-to-video row as the
// struct it was before schemas did, for tests: unset fields (empty strings,
// a nil seed, a zero duration) are left out, the rest in the schema's order.
type PikaFields struct {
	Image          string
	PromptText     string
	NegativePrompt string
	Seed           *int64
	Resolution     string
	Duration       int
}

// Input returns the row's Input.
func (p PikaFields) Input() Input {
	var in Input
	if p.Image != "" {
		in = in.with("image", stringValue(p.Image))
	}
	if p.PromptText != "" {
		in = in.with("promptText", stringValue(p.PromptText))
	}
	if p.NegativePrompt != "" {
		in = in.with("negativePrompt", stringValue(p.NegativePrompt))
	}
	if p.Seed != nil {
		in = in.with("seed", intValue(*p.Seed))
	}
	if p.Resolution != "" {
		in = in.with("resolution", stringValue(p.Resolution))
	}
	if p.Duration != 0 {
		in = in.with("duration", intValue(int64(p.Duration)))
	}
	return in
}
