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
		in = in.with("image", p.Image)
	}
	if p.PromptText != "" {
		in = in.with("promptText", p.PromptText)
	}
	if p.NegativePrompt != "" {
		in = in.with("negativePrompt", p.NegativePrompt)
	}
	if p.Seed != nil {
		in = in.with("seed", *p.Seed)
	}
	if p.Resolution != "" {
		in = in.with("resolution", p.Resolution)
	}
	if p.Duration != 0 {
		in = in.with("duration", int64(p.Duration))
	}
	return in
}
