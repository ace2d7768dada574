package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ptr[T any](v T) *T { return &v }

func TestModels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		q       ModelQuery
		uri     string
		status  int
		body    string
		want    ModelList
		wantErr error
	}{
		{
			name: "as RunComfy's CLI reads it",
			q:    ModelQuery{Search: "pika 2", Category: "image-to-video", IncludeSchema: true, Limit: 5, Offset: 10},
			uri:  "/v1/models?category=image-to-video&include_schema=true&limit=5&offset=10&search=pika+2",
			body: `{"models":[{"model_id":"pika/pika-2-2/image-to-video","display_name":"Pika","categories":["image-to-video"],
				"kind":"model","base_price_usd":0.044,"price_unit":"output","input_schema":{"type":"object"}}],"total":31}`,
			want: ModelList{Total: 31, Models: []Model{{ID: "pika/pika-2-2/image-to-video", DisplayName: "Pika",
				Categories: []string{"image-to-video"}, BasePriceUSD: ptr(0.044), PriceUnit: "output",
				InputSchema: []byte(`{"type":"object"}`)}}},
		},
		{
			name: "odd shapes: a bare array, price as a string, one category as a string, no price",
			uri:  "/v1/models",
			body: `[{"model_id":"a/b","base_price_usd":"0.5","categories":"text-to-image","price_unit":"second"},
				{"model_id":"c/d","base_price_usd":null},{"display_name":"no id"},42]`,
			want: ModelList{Total: 2, Models: []Model{
				{ID: "a/b", BasePriceUSD: ptr(0.5), Categories: []string{"text-to-image"}, PriceUnit: "second"},
				{ID: "c/d"}}},
		},
		{
			name: "empty", uri: "/v1/models", body: `{"models":[],"total":0}`,
			want: ModelList{Models: []Model{}},
		},
		{
			name: "no catalog", uri: "/v1/models", status: http.StatusNotFound, body: `{"error_message":"not found"}`,
			wantErr: ErrNoCatalog,
		},
		{
			name: "not JSON", uri: "/v1/models", body: `<html>`, wantErr: ErrBadResponse,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status := tt.status
			if status == 0 {
				status = http.StatusOK
			}
			srv := serve(reply(status, tt.body))
			f := setup(t, srv)
			got, err := f.client.Models(t.Context(), tt.q)
			assert.Equal(t, "GET "+tt.uri, srv.Requests()[0].Method+" "+srv.Requests()[0].URI)
			assert.Equal(t, "Bearer "+string(testToken), srv.Requests()[0].Header.Get("Authorization"))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestModel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		body    string
		want    Model
		wantErr []error
	}{
		{
			name: "with schema",
			body: `{"model_id":"org/m/x","base_price_usd":0.02,"price_unit":"second","input_schema":{"properties":{"prompt":{"type":"string"}}}}`,
			want: Model{ID: "org/m/x", BasePriceUSD: ptr(0.02), PriceUnit: "second",
				InputSchema: []byte(`{"properties":{"prompt":{"type":"string"}}}`)},
		},
		{
			name: "schema under another key, no model_id",
			body: `{"schema":{"type":"object"},"base_price_usd":-3}`,
			want: Model{ID: "org/m/x", InputSchema: []byte(`{"type":"object"}`)},
		},
		{
			name: "404 with 404001", status: http.StatusNotFound, body: `{"error_code":404001,"error_message":"model not found: org/m/x"}`,
			wantErr: []error{ErrModelNotFound},
		},
		{
			name: "bare 404", status: http.StatusNotFound, body: `not found`,
			wantErr: []error{ErrModelNotFound},
		},
		{
			name: "400001 on 400", status: http.StatusBadRequest, body: `{"error_code":400001,"error_message":"invalid model"}`,
			wantErr: []error{ErrModelNotFound, ErrUnknownModel},
		},
		{
			name: "bad token", status: http.StatusUnauthorized, body: `{"error_code":400004,"error_message":"no"}`,
			wantErr: []error{ErrUnauthorized},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status := tt.status
			if status == 0 {
				status = http.StatusOK
			}
			srv := serve(reply(status, tt.body))
			f := setup(t, srv)
			got, err := f.client.Model(t.Context(), "org/m/x")
			assert.Equal(t, "GET /v1/models/org/m/x", srv.Requests()[0].Method+" "+srv.Requests()[0].URI)
			for _, want := range tt.wantErr {
				require.ErrorIs(t, err, want)
			}
			if tt.wantErr == nil {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
			}
		})
	}
	t.Run("down", func(t *testing.T) {
		t.Parallel()
		srv := serve(reply(http.StatusServiceUnavailable, `{}`))
		f := setup(t, srv, func(c *Config) { c.MaxRetries = 1 })
		_, err := f.client.Model(t.Context(), "org/m/x")
		require.ErrorIs(t, err, ErrUnavailable)
		assert.False(t, errors.Is(err, ErrModelNotFound))
	})
}

func TestBalance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		body    string
		want    Balance
		wantErr error
	}{
		{name: "as RunComfy's CLI reads it", body: `{"balance_usd": 12.34, "currency": "USD"}`, want: Balance{USD: 12.34, Currency: "USD"}},
		{name: "a string, no currency", body: `{"balance_usd": "7.5"}`, want: Balance{USD: 7.5, Currency: "USD"}},
		{name: "zero", body: `{"balance_usd": 0, "currency": "usd"}`, want: Balance{Currency: "USD"}},
		{name: "in debt", body: `{"balance_usd": -5.25}`, want: Balance{USD: -5.25, Currency: "USD"}},
		{name: "in debt, a string", body: `{"balance_usd": "-$1.50"}`, want: Balance{USD: -1.5, Currency: "USD"}},
		{name: "null", body: `{"balance_usd": null}`, wantErr: ErrNoBalance},
		{name: "not finite", body: `{"balance_usd": "NaN"}`, wantErr: ErrNoBalance},
		{name: "absent", body: `{"credits": 5}`, wantErr: ErrNoBalance},
		{name: "404", status: http.StatusNotFound, body: `nope`, wantErr: ErrNoBalance},
		{name: "bad token", status: http.StatusUnauthorized, body: `{}`, wantErr: ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status := tt.status
			if status == 0 {
				status = http.StatusOK
			}
			api := serve(reply(http.StatusTeapot, `{}`))
			bal := serve(reply(status, tt.body))
			balSrv := httptest.NewServer(bal)
			t.Cleanup(balSrv.Close)
			f := setup(t, api, func(c *Config) { c.BalanceURL = balSrv.URL + "/prod/v2/" })
			got, err := f.client.Balance(t.Context())
			require.Equal(t, 1, bal.Count())
			assert.Zero(t, api.Count(), "the balance lives on its own host")
			assert.Equal(t, "GET /prod/v2/balance", bal.Requests()[0].Method+" "+bal.Requests()[0].URI)
			assert.Equal(t, "Bearer "+string(testToken), bal.Requests()[0].Header.Get("Authorization"))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestBalanceBase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, api, balance string
		want               string
		wantErr            error
	}{
		{name: "RunComfy's API: RunComfy's core API", want: "https://api.runcomfy.net"},
		{name: "RunComfy's API with /v1", api: "https://model-api.runcomfy.net/v1", want: "https://api.runcomfy.net"},
		{name: "another API: its own origin", api: "http://127.0.0.1:8787/v1", want: "http://127.0.0.1:8787"},
		{name: "given", api: "http://127.0.0.1:8787", balance: "https://bal.example.com/base/prod/v2", want: "https://bal.example.com/base"},
		{name: "given with the path", balance: "https://bal.example.com/prod/v2/balance", want: "https://bal.example.com"},
		{name: "http off loopback", balance: "http://bal.example.com", wantErr: ErrInsecureBase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(Config{BaseURL: tt.api, BalanceURL: tt.balance, Token: testToken})
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Contains(t, err.Error(), "balance base URL")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, c.balancePrefix)
		})
	}
}

// TestTokenGoesToTwoOriginsOnly: a redirect from the API to the balance host
// is followed (both get the token); one to any third host is not.
func TestTokenGoesToTwoOriginsOnly(t *testing.T) {
	t.Parallel()
	third := serve(reply(http.StatusOK, `{"balance_usd":1}`))
	thirdSrv := httptest.NewServer(third)
	t.Cleanup(thirdSrv.Close)
	bal := serve(reply(http.StatusOK, `{"balance_usd":2}`))
	balSrv := httptest.NewServer(bal)
	t.Cleanup(balSrv.Close)
	api := serve(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, balSrv.URL+"/prod/v2/balance", http.StatusFound)
	})
	f := setup(t, api, func(c *Config) { c.BalanceURL = balSrv.URL })
	// Models redirected to the balance host: allowed origin, odd body.
	_, err := f.client.Models(t.Context(), ModelQuery{})
	require.NoError(t, err)
	assert.Equal(t, 1, bal.Count())

	api2 := serve(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, thirdSrv.URL+"/prod/v2/balance", http.StatusFound)
	})
	f2 := setup(t, api2, func(c *Config) { c.BalanceURL = balSrv.URL })
	_, err = f2.client.Model(t.Context(), "a/b")
	require.ErrorIs(t, err, ErrRedirect)
	assert.Zero(t, third.Count(), "the token never reaches a third host")
}
