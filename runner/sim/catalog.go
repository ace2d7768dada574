package sim

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Price units of the catalog, as RunComfy's clients read base_price_usd:
// per output file, or per second of output.
const (
	UnitOutput = "output"
	UnitSecond = "second"
)

// Models of DefaultCatalog besides DefaultModel.
const (
	TextToVideoModel = "sim/motion-lite/text-to-video"
	TextToImageModel = "sim/still-lite/text-to-image"
)

// PikaPricePerSecondUSD is DefaultModel's catalog price per second of
// video: RunComfy prices video models per second of duration, so the
// simulator does too, and an estimate is rehearsed the way it is billed.
const PikaPricePerSecondUSD = 0.0088

// DefaultJobPriceUSD is what one job of DefaultModel of the default
// duration (5 seconds) costs: the price the balance in jobs
// (Config.BalanceJobs) is converted at when Config.Model is not in the
// catalog.
const DefaultJobPriceUSD = 0.044

// UnlimitedBalanceUSD is the balance the balance endpoint reports for an
// account with no limit: a figure no test batch reaches.
const UnlimitedBalanceUSD = 1_000_000

// CatalogModel is one model of the simulated catalog (GET /v1/models).
type CatalogModel struct {
	ID           string
	DisplayName  string
	Categories   []string
	BasePriceUSD float64
	// PriceUnit is UnitOutput or UnitSecond (any other word is served as
	// is, and costs BasePriceUSD per job).
	PriceUnit string
	// InputSchema is the model's JSON Schema. Submits are validated against
	// it (type, enum, minimum, maximum, maxLength, required,
	// additionalProperties false), except for Config.Model, which keeps
	// the built-in pika image-to-video rules.
	InputSchema json.RawMessage
}

// DefaultCatalog returns the three models every simulator serves unless
// Config.Catalog says otherwise: pika image-to-video and a text-to-video
// model, both priced per second of video as RunComfy prices video, and a
// text-to-image model priced per output, with integer, number, boolean and
// enum fields.
func DefaultCatalog() []CatalogModel {
	return []CatalogModel{
		{
			ID:           DefaultModel,
			DisplayName:  "Pika 2.2 Image to Video",
			Categories:   []string{"image-to-video"},
			BasePriceUSD: PikaPricePerSecondUSD,
			PriceUnit:    UnitSecond,
			InputSchema: json.RawMessage(`{"type":"object","required":["image"],"additionalProperties":false,"properties":{` +
				`"image":{"type":"string","format":"uri","description":"public HTTPS URL of the first frame"},` +
				`"promptText":{"type":"string","maxLength":2000},` +
				`"negativePrompt":{"type":"string"},` +
				`"seed":{"type":"integer","minimum":0,"maximum":2147483647},` +
				`"resolution":{"type":"string","enum":["720p","1080p"],"default":"1080p"},` +
				`"duration":{"type":"integer","enum":[5,10],"default":5}}}`),
		},
		{
			ID:           TextToVideoModel,
			DisplayName:  "Motion Lite Text to Video",
			Categories:   []string{"text-to-video"},
			BasePriceUSD: 0.02,
			PriceUnit:    UnitSecond,
			InputSchema: json.RawMessage(`{"type":"object","required":["prompt"],"additionalProperties":false,"properties":{` +
				`"prompt":{"type":"string","maxLength":2000},` +
				`"duration":{"type":"integer","minimum":2,"maximum":10,"default":5},` +
				`"aspect_ratio":{"type":"string","enum":["16:9","9:16","1:1"],"default":"16:9"},` +
				`"seed":{"type":"integer","minimum":0,"maximum":2147483647}}}`),
		},
		{
			ID:           TextToImageModel,
			DisplayName:  "Still Lite Text to Image",
			Categories:   []string{"text-to-image"},
			BasePriceUSD: 0.003,
			PriceUnit:    UnitOutput,
			InputSchema: json.RawMessage(`{"type":"object","required":["prompt"],"additionalProperties":false,"properties":{` +
				`"prompt":{"type":"string","maxLength":2000},` +
				`"num_inference_steps":{"type":"integer","minimum":1,"maximum":50,"default":28},` +
				`"guidance_scale":{"type":"number","minimum":0,"maximum":20,"default":3.5},` +
				`"enable_safety_checker":{"type":"boolean","default":true},` +
				`"output_format":{"type":"string","enum":["png","jpeg","webp"],"default":"png"},` +
				`"seed":{"type":"integer","minimum":0,"maximum":2147483647}}}`),
		},
	}
}

// schema is the part of a JSON Schema the simulator checks.
type schema struct {
	Required             []string              `json:"required"`
	AdditionalProperties *bool                 `json:"additionalProperties"`
	Properties           map[string]schemaProp `json:"properties"`
}

type schemaProp struct {
	Type      string            `json:"type"`
	Enum      []json.RawMessage `json:"enum"`
	Minimum   *float64          `json:"minimum"`
	Maximum   *float64          `json:"maximum"`
	MaxLength *int              `json:"maxLength"`
	Default   json.RawMessage   `json:"default"`
}

// catalogEntry is a CatalogModel ready to serve: its schema parsed and its
// price in micro-dollars.
type catalogEntry struct {
	CatalogModel
	schema     schema
	priceMicro int64
}

// compileCatalog parses each model's schema.
func compileCatalog(models []CatalogModel) (map[string]*catalogEntry, []string, error) {
	out := make(map[string]*catalogEntry, len(models))
	order := make([]string, 0, len(models))
	for _, m := range models {
		if m.ID == "" || out[m.ID] != nil {
			return nil, nil, fmt.Errorf("%w: catalog model ID %q is empty or repeated", ErrInvalidConfig, m.ID)
		}
		if !(m.BasePriceUSD >= 0) || math.IsInf(m.BasePriceUSD, 0) {
			return nil, nil, fmt.Errorf("%w: catalog model %s: price %v", ErrInvalidConfig, m.ID, m.BasePriceUSD)
		}
		e := &catalogEntry{CatalogModel: m, priceMicro: toMicro(m.BasePriceUSD)}
		if len(m.InputSchema) > 0 {
			if err := json.Unmarshal(m.InputSchema, &e.schema); err != nil {
				return nil, nil, fmt.Errorf("%w: catalog model %s: schema: %v", ErrInvalidConfig, m.ID, err)
			}
		}
		out[m.ID] = e
		order = append(order, m.ID)
	}
	return out, order, nil
}

// toMicro converts dollars to micro-dollars, the unit the balance is kept in
// so that sums are exact.
func toMicro(usd float64) int64 { return int64(math.Round(usd * 1e6)) }

// fromMicro converts micro-dollars to dollars.
func fromMicro(m int64) float64 { return float64(m) / 1e6 }

// jobPriceMicro is what one job with input in costs: the base price, times
// the output's seconds for a per-second model.
func (e *catalogEntry) jobPriceMicro(in map[string]any) int64 {
	if e.PriceUnit != UnitSecond {
		return e.priceMicro
	}
	secs := 0.0
	if v, ok := in["duration"]; ok {
		secs, _ = number(v)
	} else if d := e.schema.Properties["duration"].Default; d != nil {
		_ = json.Unmarshal(d, &secs)
	}
	return int64(math.Round(float64(e.priceMicro) * secs))
}

// validate checks in against the model's schema and returns every problem,
// sorted by field.
func (e *catalogEntry) validate(in map[string]any) []string {
	var errs []string
	for _, k := range e.schema.Required {
		if v, ok := in[k]; !ok || v == nil {
			errs = append(errs, k+" is required")
		}
	}
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p, ok := e.schema.Properties[k]
		if !ok {
			if e.schema.AdditionalProperties != nil && !*e.schema.AdditionalProperties {
				errs = append(errs, fmt.Sprintf("unknown field %q", k))
			}
			continue
		}
		if v := in[k]; v != nil {
			errs = append(errs, p.check(k, v)...)
		}
	}
	return errs
}

// check validates one value. v comes from a decoder with UseNumber.
func (p schemaProp) check(name string, v any) []string {
	switch p.Type {
	case "string":
		s, ok := v.(string)
		if !ok {
			return []string{name + " must be a string"}
		}
		if p.MaxLength != nil && utf8.RuneCountInString(s) > *p.MaxLength {
			return []string{fmt.Sprintf("%s must be at most %d characters", name, *p.MaxLength)}
		}
	case "integer":
		if _, ok := integer(v); !ok {
			return []string{name + " must be an integer"}
		}
	case "number", "float":
		if _, ok := number(v); !ok {
			return []string{name + " must be a number"}
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return []string{name + " must be a boolean"}
		}
	}
	if n, ok := number(v); ok {
		if p.Minimum != nil && n < *p.Minimum {
			return []string{fmt.Sprintf("%s must be at least %v", name, *p.Minimum)}
		}
		if p.Maximum != nil && n > *p.Maximum {
			return []string{fmt.Sprintf("%s must be at most %v", name, *p.Maximum)}
		}
	}
	if len(p.Enum) > 0 {
		got, _ := json.Marshal(v)
		words := make([]string, len(p.Enum))
		for i, e := range p.Enum {
			if string(got) == string(e) {
				return nil
			}
			words[i] = strings.Trim(string(e), `"`)
		}
		return []string{fmt.Sprintf("%s must be one of %s", name, strings.Join(words, ", "))}
	}
	return nil
}

// number returns v as a float64 if it is a JSON number.
func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return f, err == nil
}

// modelJSON is a model as GET /v1/models and /v1/models/{id} answer it: the
// fields RunComfy's CLI and partner nodes read.
type modelJSON struct {
	ModelID      string          `json:"model_id"`
	DisplayName  string          `json:"display_name"`
	Categories   []string        `json:"categories"`
	Kind         string          `json:"kind"`
	BasePriceUSD float64         `json:"base_price_usd"`
	PriceUnit    string          `json:"price_unit"`
	InputSchema  json.RawMessage `json:"input_schema,omitempty"`
}

func (e *catalogEntry) json(withSchema bool) modelJSON {
	m := modelJSON{
		ModelID:      e.ID,
		DisplayName:  e.DisplayName,
		Categories:   e.Categories,
		Kind:         "model",
		BasePriceUSD: e.BasePriceUSD,
		PriceUnit:    e.PriceUnit,
	}
	if m.Categories == nil {
		m.Categories = []string{}
	}
	if withSchema {
		m.InputSchema = e.InputSchema
	}
	return m
}

// modelList is the answer of GET /v1/models.
type modelList struct {
	Models []modelJSON `json:"models"`
	Total  int         `json:"total"`
	Limit  int         `json:"limit"`
	Offset int         `json:"offset"`
}

// Paging of GET /v1/models.
const (
	defaultModelsLimit = 20
	maxModelsLimit     = 100
)

// catalogAuth answers a catalog or balance request without the token, and
// counts the call. These endpoints draw no faults: a client that reads the
// catalog or the balance must not shift the seeded fault stream of the paid
// endpoints, so a seed replays the same run with or without them.
func (s *Server) catalogAuth(w http.ResponseWriter, r *http.Request, counter *int64) bool {
	ok := s.authorized(r)
	s.mu.Lock()
	*counter++
	if !ok {
		s.c.Unauthorized++
	}
	s.mu.Unlock()
	if !ok {
		s.writeError(w, apiError{status: s.cfg.BadTokenStatus, code: CodeBadToken, msg: msgUnauthorized})
	}
	return ok
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	if !s.catalogAuth(w, r, &s.c.CatalogCalls) {
		return
	}
	q := r.URL.Query()
	limit, offset := defaultModelsLimit, 0
	for _, p := range []struct {
		name string
		dst  *int
	}{{"limit", &limit}, {"offset", &offset}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				s.writeError(w, apiError{status: http.StatusBadRequest, msg: p.name + " must be a non-negative integer"})
				return
			}
			*p.dst = n
		}
	}
	limit = min(limit, maxModelsLimit)
	search := strings.ToLower(strings.TrimSpace(q.Get("search")))
	category := strings.ToLower(strings.TrimSpace(q.Get("category")))
	withSchema := q.Get("include_schema") == "true"
	out := modelList{Models: []modelJSON{}, Limit: limit, Offset: offset}
	for _, id := range s.catalogOrder {
		e := s.catalog[id]
		if search != "" && !strings.Contains(strings.ToLower(e.ID), search) && !strings.Contains(strings.ToLower(e.DisplayName), search) {
			continue
		}
		if category != "" && !slices.ContainsFunc(e.Categories, func(c string) bool { return strings.EqualFold(c, category) }) {
			continue
		}
		if out.Total >= offset && len(out.Models) < limit {
			out.Models = append(out.Models, e.json(withSchema))
		}
		out.Total++
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	if !s.catalogAuth(w, r, &s.c.CatalogCalls) {
		return
	}
	id := r.PathValue("model")
	e := s.catalog[id]
	if e == nil {
		s.writeError(w, apiError{status: http.StatusNotFound, code: CodeNotFound, msg: "model not found: " + id})
		return
	}
	writeJSON(w, http.StatusOK, e.json(true))
}

// balanceAnswer is the answer of GET /prod/v2/balance, as RunComfy's CLI
// reads it.
type balanceAnswer struct {
	BalanceUSD float64 `json:"balance_usd"`
	Currency   string  `json:"currency"`
}

func (s *Server) handleAccountBalance(w http.ResponseWriter, r *http.Request) {
	if !s.catalogAuth(w, r, &s.c.BalanceCalls) {
		return
	}
	usd, limited := s.BalanceUSD()
	if !limited {
		usd = UnlimitedBalanceUSD
	}
	writeJSON(w, http.StatusOK, balanceAnswer{BalanceUSD: usd, Currency: "USD"})
}
