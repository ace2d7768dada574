package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// DefaultBalanceURL is the base of the account's balance endpoint, GET
// {base}/prod/v2/balance. It is on RunComfy's core API, not the Model API's
// host: one wallet pays every RunComfy product (RunComfy's CLI reads it
// there).
const DefaultBalanceURL = "https://api.runcomfy.net"

// balancePath ends the balance URL. A balance base given with it, as
// RunComfy's CLI configures its core API base, is accepted too.
const (
	balancePath    = "/balance"
	balanceVersion = "/prod/v2"
)

// Operation names of the catalog and balance calls.
const (
	opModels  = "models"
	opModel   = "model"
	opBalance = "balance"
)

// Errors of the catalog and balance calls.
var (
	// ErrModelNotFound means the catalog does not know the model: GET
	// /v1/models/{id} answered 404 (or error_code 404001 or 400001). The
	// model may still exist if the API has no catalog at all; a caller that
	// needs the schema asks for --schema.
	ErrModelNotFound = errors.New("model not in the catalog")

	// ErrNoCatalog means the API answered GET /v1/models with 404: it has
	// no catalog (the endpoint is not documented, only RunComfy's CLI uses
	// it). Callers degrade: no schema, no price.
	ErrNoCatalog = errors.New("the API has no model catalog")

	// ErrNoBalance means the balance endpoint answered 404 or without a
	// balance_usd: the account's balance is unknown.
	ErrNoBalance = errors.New("balance unavailable")
)

// ModelQuery filters GET /v1/models. Zero fields are left out of the query.
type ModelQuery struct {
	Search        string
	Category      string
	IncludeSchema bool
	Limit         int
	Offset        int
}

// Model is one model of the catalog.
type Model struct {
	ID          string   `json:"model_id"`
	DisplayName string   `json:"display_name,omitempty"`
	Categories  []string `json:"categories,omitempty"`
	// BasePriceUSD is nil when the catalog gives no usable price.
	BasePriceUSD *float64 `json:"base_price_usd,omitempty"`
	// PriceUnit is the catalog's word: "output" or "second" as RunComfy's
	// clients know them, or anything else the API says.
	PriceUnit string `json:"price_unit,omitempty"`
	// InputSchema is the model's JSON Schema as the API sent it; nil when
	// not asked for or absent.
	InputSchema json.RawMessage `json:"input_schema,omitempty"`
}

// ModelList is a page of GET /v1/models.
type ModelList struct {
	Models []Model
	// Total is the number of models matching the query, all pages; the
	// page's length when the API does not say.
	Total int
}

// Balance is the account's balance; its tags are `balance --json`'s keys.
type Balance struct {
	USD      float64 `json:"balance_usd"`
	Currency string  `json:"currency"`
}

// Models lists the catalog: GET /v1/models. It is idempotent and retried
// like Status. A 404 gives ErrNoCatalog.
func (c *Client) Models(ctx context.Context, q ModelQuery) (ModelList, error) {
	v := url.Values{}
	if q.Search != "" {
		v.Set("search", q.Search)
	}
	if q.Category != "" {
		v.Set("category", q.Category)
	}
	if q.IncludeSchema {
		v.Set("include_schema", "true")
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	u := c.prefix + "/v1/models"
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	var out ModelList
	err := c.exec(ctx, call{op: opModels, method: http.MethodGet, url: u}, func(data []byte) error {
		var err error
		out, err = decodeModelList(data)
		if err != nil {
			return fmt.Errorf("%s: %w: %w", opModels, ErrBadResponse, err)
		}
		return nil
	})
	if isNotFound(err) {
		return ModelList{}, fmt.Errorf("%w: %w", ErrNoCatalog, err)
	}
	return out, err
}

// Model reads one model with its input schema: GET /v1/models/{id}. It is
// idempotent and retried like Status. A 404 gives ErrModelNotFound.
func (c *Client) Model(ctx context.Context, id string) (Model, error) {
	p, err := modelPath(id)
	if err != nil {
		return Model{}, fmt.Errorf("%s: %w", opModel, err)
	}
	var out Model
	err = c.exec(ctx, call{op: opModel, method: http.MethodGet, url: c.prefix + "/v1/models/" + p, model: id}, func(data []byte) error {
		f, err := decodeObject(data)
		if err != nil {
			return fmt.Errorf("%s: %w: %w", opModel, ErrBadResponse, err)
		}
		if f.hasErrorCode() {
			return c.errorCodeError(opModel, f)
		}
		out = modelOf(f)
		if out.ID == "" {
			out.ID = id
		}
		return nil
	})
	if isNotFound(err) || errors.Is(err, ErrUnknownModel) {
		return Model{}, fmt.Errorf("%w: %w", ErrModelNotFound, err)
	}
	return out, err
}

// Balance reads the account's balance: GET {BalanceURL}/prod/v2/balance,
// with the token. It is idempotent and retried like Status. A 404 or an
// answer without balance_usd gives ErrNoBalance.
func (c *Client) Balance(ctx context.Context) (Balance, error) {
	var out Balance
	err := c.exec(ctx, call{op: opBalance, method: http.MethodGet, url: c.balancePrefix + balanceVersion + balancePath}, func(data []byte) error {
		f, err := decodeObject(data)
		if err != nil {
			return fmt.Errorf("%s: %w: %w", opBalance, ErrBadResponse, err)
		}
		if f.hasErrorCode() {
			return c.errorCodeError(opBalance, f)
		}
		usd, ok := signedMoney(f["balance_usd"])
		if !ok {
			return fmt.Errorf("%s: %w", opBalance, ErrNoBalance)
		}
		out = Balance{USD: usd, Currency: strings.ToUpper(strings.TrimSpace(f.str("currency")))}
		if out.Currency == "" {
			out.Currency = "USD"
		}
		return nil
	})
	if isNotFound(err) {
		return Balance{}, fmt.Errorf("%w: %w", ErrNoBalance, err)
	}
	return out, err
}

// isNotFound reports an answer 404 or error_code 404001.
func isNotFound(err error) bool {
	var se *StatusError
	return errors.Is(err, ErrNotFound) || errors.As(err, &se) && se.Code == http.StatusNotFound
}

// decodeModelList reads {"models": [...], "total": N}, or a bare array.
func decodeModelList(data []byte) (ModelList, error) {
	data = bytes.TrimSpace(data)
	var items []json.RawMessage
	total := -1
	if len(data) > 0 && data[0] == '[' {
		if err := json.Unmarshal(data, &items); err != nil {
			return ModelList{}, err
		}
	} else {
		f, err := decodeObject(data)
		if err != nil {
			return ModelList{}, err
		}
		if raw := f["models"]; len(raw) > 0 && string(raw) != "null" {
			if err := json.Unmarshal(raw, &items); err != nil {
				return ModelList{}, fmt.Errorf("models: %w", err)
			}
		}
		if n, ok := amount(f["total"]); ok && n == math.Trunc(n) && n <= math.MaxInt32 {
			total = int(n)
		}
	}
	out := ModelList{Models: make([]Model, 0, len(items))}
	for _, raw := range items {
		f, err := decodeObject(raw)
		if err != nil {
			continue // one odd entry does not hide the others
		}
		if m := modelOf(f); m.ID != "" {
			out.Models = append(out.Models, m)
		}
	}
	out.Total = max(total, len(out.Models))
	return out, nil
}

// modelOf reads a model entry. Categories may be an array or one string; a
// price may be a number or a numeric string.
func modelOf(f fields) Model {
	m := Model{
		ID:          strings.TrimSpace(f.str("model_id")),
		DisplayName: sanitize(f.str("display_name")),
		PriceUnit:   strings.TrimSpace(f.str("price_unit")),
	}
	if m.ID == "" {
		m.ID = strings.TrimSpace(f.str("id"))
	}
	if p, ok := amount(f["base_price_usd"]); ok {
		m.BasePriceUSD = &p
	}
	var cats []string
	if json.Unmarshal(f["categories"], &cats) == nil {
		m.Categories = cats
	} else if s := strings.TrimSpace(f.str("categories")); s != "" {
		m.Categories = []string{s}
	}
	for _, key := range []string{"input_schema", "schema"} {
		if raw := bytes.TrimSpace(f[key]); len(raw) > 0 && raw[0] == '{' {
			m.InputSchema = json.RawMessage(bytes.Clone(raw))
			break
		}
	}
	return m
}

// MaxCostUSD is the most a job's reported cost may be: the dearest video
// models cost a few dollars a job, so a cost above it is no figure to sum
// and Result drops it. The money package bounds its estimates by the same
// figure (money.MaxJobUSD).
const MaxCostUSD = 10_000.0

// amount reads a non-negative finite amount: a JSON number or a numeric
// string ("0.044"). null, booleans, negative and non-finite values are not
// amounts.
func amount(raw json.RawMessage) (float64, bool) {
	n, ok := signedMoney(raw)
	return n, ok && n >= 0
}

// signedMoney reads an amount that may be below zero, as a balance is
// when the account owes: "-5.25", "-$5.25" or "$-5.25". A balance read as
// unknown would let a run that must not start (--require-balance) start.
func signedMoney(raw json.RawMessage) (float64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, false
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		s = strings.TrimSpace(s)
		if rest, ok := strings.CutPrefix(s, "-$"); ok {
			s = "-" + rest
		}
		raw = []byte(strings.TrimPrefix(s, "$"))
	}
	n, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, false
	}
	return n, true
}

// balanceBase picks the balance host: the configured one, else the default
// when the API is RunComfy's own, else the API's own origin (a simulator or
// a staging host serves its balance beside its API, and the token must not
// leave for production).
func balanceBase(cfg Config, api *url.URL) (*url.URL, error) {
	raw := cfg.BalanceURL
	if raw == "" {
		def, _ := url.Parse(DefaultBaseURL)
		if !sameOrigin(api, def) {
			return &url.URL{Scheme: api.Scheme, Host: api.Host}, nil
		}
		raw = DefaultBalanceURL
	}
	u, err := parseBase(raw)
	if err != nil {
		return nil, fmt.Errorf("balance %w", err)
	}
	return u, nil
}

// balancePrefixOf is the balance base without trailing slashes and without
// a trailing /prod/v2, which the client adds itself.
func balancePrefixOf(u *url.URL) string {
	p := strings.TrimRight(u.EscapedPath(), "/")
	p = strings.TrimSuffix(p, balancePath)
	p = strings.TrimSuffix(p, balanceVersion)
	return u.Scheme + "://" + u.Host + strings.TrimRight(p, "/")
}
