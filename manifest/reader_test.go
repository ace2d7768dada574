package manifest_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
)

// wantRow is an expected valid row; its key is the id, or derived from the
// input (without a -n suffix).
type wantRow struct {
	line  int
	id    string
	input manifest.Input
}

// wantErr is an expected problem. msg, if set, must equal the whole
// message.
type wantErr struct {
	line  int
	field string
	is    error
	msg   string
}

type readerCase struct {
	name    string
	content string
	rows    []wantRow
	errs    []wantErr
}

// collect reads a whole manifest, flattening multi-problem rows and header
// errors into one list.
func collect(t *testing.T, name, content string) ([]manifest.Row, []*manifest.RowError) {
	t.Helper()
	r, err := manifest.NewReader(strings.NewReader(content), name, manifest.FormatAuto)
	if err != nil {
		var ve *manifest.ValidationError
		require.ErrorAs(t, err, &ve, "NewReader may fail only with a ValidationError here")
		return nil, ve.Errors
	}
	t.Cleanup(func() { assert.NoError(t, r.Close()) })
	var rows []manifest.Row
	var errs []*manifest.RowError
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		var ve *manifest.ValidationError
		var re *manifest.RowError
		switch {
		case err == nil:
			rows = append(rows, row)
		case errors.As(err, &ve):
			require.Greater(t, len(ve.Errors), 1, "a ValidationError from Next lists several problems of one row")
			errs = append(errs, ve.Errors...)
		case errors.As(err, &re):
			errs = append(errs, re)
		default:
			require.NoError(t, err)
		}
	}
	return rows, errs
}

func derivedKey(in manifest.Input) string { return "r-" + in.Hash()[:16] }

func runReaderCases(t *testing.T, file string, tests []readerCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows, errs := collect(t, file, tt.content)

			require.Len(t, errs, len(tt.errs), "errors: %v", errs)
			for i, want := range tt.errs {
				got := errs[i]
				assert.Equal(t, file, got.File, "error %d: file", i)
				assert.Equal(t, want.line, got.Line, "error %d: line (%v)", i, got)
				assert.Equal(t, want.field, got.Field, "error %d: field (%v)", i, got)
				assert.ErrorIs(t, got, want.is, "error %d: %v", i, got)
				if want.msg != "" {
					assert.Equal(t, want.msg, got.Error(), "error %d", i)
				}
			}

			require.Len(t, rows, len(tt.rows), "rows: %+v", rows)
			for i, want := range tt.rows {
				got := rows[i]
				assert.Equal(t, want.line, got.Line, "row %d: line", i)
				assert.Equal(t, want.id, got.ID, "row %d: id", i)
				assert.Equal(t, want.input, got.Input, "row %d: input", i)
				if want.id != "" {
					assert.Equal(t, want.id, got.Key, "row %d: key", i)
				} else {
					assert.Equal(t, derivedKey(want.input), got.Key, "row %d: key", i)
				}
			}
		})
	}
}

const img = "https://img.example.com/a.png"

func TestReaderCSV(t *testing.T) {
	t.Parallel()
	const h = "id,image,promptText,negativePrompt,seed,resolution,duration\n"
	runReaderCases(t, "m.csv", []readerCase{
		{
			name:    "every column",
			content: h + "c1," + img + ",a cat,blurry,42,720p,10\n",
			rows: []wantRow{{line: 2, id: "c1", input: manifest.PikaFields{Image: img, PromptText: "a cat",
				NegativePrompt: "blurry", Seed: ptr(int64(42)), Resolution: "720p", Duration: 10}.Input()}},
		},
		{
			name:    "aliases",
			content: "image_url,prompt,negative_prompt\n" + img + ",a cat,blurry\n",
			rows:    []wantRow{{line: 2, input: manifest.PikaFields{Image: img, PromptText: "a cat", NegativePrompt: "blurry"}.Input()}},
		},
		{
			name:    "columns in any order and names trimmed",
			content: " duration , image ,id\n10," + img + ",c1\n",
			rows:    []wantRow{{line: 2, id: "c1", input: manifest.PikaFields{Image: img, Duration: 10}.Input()}},
		},
		{
			name:    "blank optional cells are not set",
			content: h + "  ," + img + ",  , ,\t,,\n",
			rows:    []wantRow{{line: 2, input: manifest.PikaFields{Image: img}.Input()}},
		},
		{
			name:    "values are trimmed",
			content: h + " c1 , " + img + " , a cat ,, -5 , 1080p , 5 \n",
			rows: []wantRow{{line: 2, id: "c1", input: manifest.PikaFields{Image: img, PromptText: "a cat",
				Seed: ptr(int64(-5)), Resolution: "1080p", Duration: 5}.Input()}},
		},
		{
			name:    "seed forms",
			content: "image,seed\n" + img + ",0\n" + img + ",+7\n" + img + ",-9223372036854775808\n" + img + ",9223372036854775807\n",
			rows: []wantRow{
				{line: 2, input: manifest.PikaFields{Image: img, Seed: ptr(int64(0))}.Input()},
				{line: 3, input: manifest.PikaFields{Image: img, Seed: ptr(int64(7))}.Input()},
				{line: 4, input: manifest.PikaFields{Image: img, Seed: ptr(int64(-9223372036854775808))}.Input()},
				{line: 5, input: manifest.PikaFields{Image: img, Seed: ptr(int64(9223372036854775807))}.Input()},
			},
		},
		{
			name:    "BOM and CRLF",
			content: "\ufeffid,image\r\nc1," + img + "\r\nc2," + img + "\r\n",
			rows: []wantRow{
				{line: 2, id: "c1", input: manifest.PikaFields{Image: img}.Input()},
				{line: 3, id: "c2", input: manifest.PikaFields{Image: img}.Input()},
			},
		},
		{
			name: "quoted multi-line prompt keeps later line numbers right",
			content: "id,image,prompt\r\n" +
				"c1," + img + ",\"first line\r\nsecond, with \"\"quotes\"\"\r\nthird\"\r\n" +
				"c2," + img + ",plain\r\n" +
				"c3,ftp://x/a.png,plain\r\n",
			rows: []wantRow{
				{line: 2, id: "c1", input: manifest.PikaFields{Image: img, PromptText: "first line\nsecond, with \"quotes\"\nthird"}.Input()},
				{line: 5, id: "c2", input: manifest.PikaFields{Image: img, PromptText: "plain"}.Input()},
			},
			errs: []wantErr{{line: 6, field: "image", is: manifest.ErrInvalidURL}},
		},
		{
			name:    "empty lines and all-blank rows are skipped",
			content: "\nid,image\n\nc1," + img + "\n,\n  ,  \n\nc2," + img + "\n",
			rows: []wantRow{
				{line: 4, id: "c1", input: manifest.PikaFields{Image: img}.Input()},
				{line: 8, id: "c2", input: manifest.PikaFields{Image: img}.Input()},
			},
		},
		{
			name:    "prompt of 2000 multi-byte characters",
			content: "image,prompt\n" + img + "," + strings.Repeat("é", 2000) + "\n",
			rows:    []wantRow{{line: 2, input: manifest.PikaFields{Image: img, PromptText: strings.Repeat("é", 2000)}.Input()}},
		},
		{
			name:    "http URL of a loopback host, with port and query",
			content: "image\nhttp://127.0.0.1:8080/a.png?X-Amz-Signature=abc&x=1\n",
			rows:    []wantRow{{line: 2, input: manifest.PikaFields{Image: "http://127.0.0.1:8080/a.png?X-Amz-Signature=abc&x=1"}.Input()}},
		},
		{
			name:    "resolution 1080",
			content: h + "c1," + img + ",,,,1080,\n",
			errs: []wantErr{{line: 2, field: "resolution", is: manifest.ErrInvalidEnum,
				msg: `m.csv:2: field resolution: "1080" is not one of 720p, 1080p`}},
		},
		{
			name:    "resolution 720P",
			content: h + "c1," + img + ",,,,720P,\n",
			errs:    []wantErr{{line: 2, field: "resolution", is: manifest.ErrInvalidEnum, msg: `m.csv:2: field resolution: "720P" is not one of 720p, 1080p`}},
		},
		{
			name:    "duration 7",
			content: h + "c1," + img + ",,,,,7\n",
			errs:    []wantErr{{line: 2, field: "duration", is: manifest.ErrInvalidEnum, msg: `m.csv:2: field duration: "7" is not one of 5, 10 (seconds)`}},
		},
		{
			name:    "duration not an integer",
			content: h + "c1," + img + ",,,,,5s\n",
			errs:    []wantErr{{line: 2, field: "duration", is: manifest.ErrInvalidInteger, msg: `m.csv:2: field duration: "5s" is not an integer`}},
		},
		{
			name:    "seed 1.5",
			content: h + "c1," + img + ",,,1.5,,\n",
			errs:    []wantErr{{line: 2, field: "seed", is: manifest.ErrInvalidInteger, msg: `m.csv:2: field seed: "1.5" is not an integer`}},
		},
		{
			name:    "seed abc",
			content: h + "c1," + img + ",,,abc,,\n",
			errs:    []wantErr{{line: 2, field: "seed", is: manifest.ErrInvalidInteger}},
		},
		{
			name:    "seed beyond int64",
			content: h + "c1," + img + ",,,-9223372036854775809,,\n",
			errs: []wantErr{{line: 2, field: "seed", is: manifest.ErrInvalidInteger,
				msg: `m.csv:2: field seed: "-9223372036854775809" does not fit in a 64-bit integer`}},
		},
		{
			name:    "prompt of 2001 characters",
			content: "image,prompt\n" + img + "," + strings.Repeat("é", 2001) + "\n",
			errs:    []wantErr{{line: 2, field: "prompt", is: manifest.ErrTooLong, msg: "m.csv:2: field prompt: is 2001 characters long; the limit is 2000"}},
		},
		{
			name:    "image empty",
			content: h + "c1,  ,a cat,,,,\n",
			errs:    []wantErr{{line: 2, field: "image", is: manifest.ErrRequired, msg: "m.csv:2: field image: is empty; every row needs the URL of its source image"}},
		},
		{
			name: "image not http",
			content: "image\nimages/a.png\n//img.example.com/a.png\nftp://img.example.com/a.png\nfile:///tmp/a.png\n" +
				"\"data:image/png;base64,AAAA\"\nC:\\images\\a.png\nhttps://\nhttp:img.example.com\nhttps://img.example.com/a b\x7f\nmailto:me@example.com\n",
			errs: []wantErr{
				{line: 2, field: "image", is: manifest.ErrInvalidURL,
					msg: `m.csv:2: field image: "images/a.png" is a local file, and the API fetches the image itself: run with --stage-to BUCKET_URL/prefix (uploaded once, then sent as a pre-signed URL) or --inline (sent in the request as a data: URI)`},
				{line: 3, field: "image", is: manifest.ErrInvalidURL},
				{line: 4, field: "image", is: manifest.ErrInvalidURL,
					msg: `m.csv:4: field image: "ftp://img.example.com/a.png" uses the ftp: scheme; the API fetches images over https only`},
				{line: 5, field: "image", is: manifest.ErrInvalidURL},
				{line: 6, field: "image", is: manifest.ErrInvalidURL},
				{line: 7, field: "image", is: manifest.ErrInvalidURL},
				{line: 8, field: "image", is: manifest.ErrInvalidURL, msg: `m.csv:8: field image: "https://" has no host`},
				{line: 9, field: "image", is: manifest.ErrInvalidURL},
				{line: 10, field: "image", is: manifest.ErrInvalidURL},
				{line: 11, field: "image", is: manifest.ErrInvalidURL},
			},
		},
		{
			name:    "image given through its alias is named so",
			content: "image_url\nftp://x/a.png\n",
			errs:    []wantErr{{line: 2, field: "image_url", is: manifest.ErrInvalidURL}},
		},
		{
			name:    "ragged rows",
			content: "id,image,prompt\nc1," + img + "\nc2," + img + ",a,b\nc3," + img + ",ok\n",
			rows:    []wantRow{{line: 4, id: "c3", input: manifest.PikaFields{Image: img, PromptText: "ok"}.Input()}},
			errs: []wantErr{
				{line: 2, is: manifest.ErrMalformed, msg: "m.csv:2: the row has 2 fields but the header has 3; quote values that contain commas"},
				{line: 3, is: manifest.ErrMalformed},
			},
		},
		{
			name:    "bad quoting is reported and reading goes on",
			content: "id,image,prompt\nc1," + img + ",a \"cat\"\nc2," + img + ",ok\n",
			rows:    []wantRow{{line: 3, id: "c2", input: manifest.PikaFields{Image: img, PromptText: "ok"}.Input()}},
			errs:    []wantErr{{line: 2, is: manifest.ErrMalformed}},
		},
		{
			name:    "invalid UTF-8 names its field",
			content: "id,image,prompt\nc1," + img + ",caf\xe9\n",
			errs:    []wantErr{{line: 2, field: "prompt", is: manifest.ErrMalformed, msg: "m.csv:2: field prompt: is not valid UTF-8 text; save the file as UTF-8"}},
		},
		{
			name:    "several problems in one row are all reported",
			content: h + "../x,ftp://x,,,1.5,1080,7\n",
			errs: []wantErr{
				{line: 2, field: "id", is: manifest.ErrUnsafeID},
				{line: 2, field: "image", is: manifest.ErrInvalidURL},
				{line: 2, field: "seed", is: manifest.ErrInvalidInteger},
				{line: 2, field: "resolution", is: manifest.ErrInvalidEnum},
				{line: 2, field: "duration", is: manifest.ErrInvalidEnum},
			},
		},
		{
			name:    "header: unknown column",
			content: "id,image,promt\nc1," + img + ",a cat\n",
			errs: []wantErr{{line: 1, field: "promt", is: manifest.ErrUnknownColumn,
				msg: `m.csv:1: field promt: unknown column "promt"; did you mean "prompt"? (names are case-sensitive)`}},
		},
		{
			name:    "header: unknown column is also a bad header",
			content: "image,colour\n" + img + ",red\n",
			errs:    []wantErr{{line: 1, field: "colour", is: manifest.ErrBadHeader}},
		},
		{
			name:    "header: names are case-sensitive",
			content: "Image\n" + img + "\n",
			errs:    []wantErr{{line: 1, field: "Image", is: manifest.ErrUnknownColumn}},
		},
		{
			name:    "header: column and its alias",
			content: "image,image_url\n" + img + "," + img + "\n",
			errs: []wantErr{{line: 1, field: "image_url", is: manifest.ErrBadHeader,
				msg: `m.csv:1: field image_url: column "image_url" (column 2) repeats column "image" (column 1)`}},
		},
		{
			name:    "header: column twice",
			content: "image,seed,seed\n" + img + ",1,2\n",
			errs:    []wantErr{{line: 1, field: "seed", is: manifest.ErrBadHeader}},
		},
		{
			name:    "header: no image column",
			content: "id,prompt\nc1,a cat\n",
			errs:    []wantErr{{line: 1, field: "image", is: manifest.ErrRequired}},
		},
		{
			name:    "header: column without a name",
			content: "id,image,\nc1," + img + ",\n",
			errs:    []wantErr{{line: 1, is: manifest.ErrBadHeader, msg: "m.csv:1: column 3 has no name (is there a trailing comma?)"}},
		},
		{
			name:    "header: missing, first line is data",
			content: img + ",a cat\n" + img + ",a dog\n",
			errs:    []wantErr{{line: 1, is: manifest.ErrBadHeader}},
		},
		{
			name:    "header: after blank lines",
			content: "\n\nid,imag\n",
			errs:    []wantErr{{line: 3, field: "imag", is: manifest.ErrUnknownColumn}},
		},
		{
			name:    "empty file",
			content: "",
			errs:    []wantErr{{line: 0, is: manifest.ErrEmpty, msg: "m.csv: the file is empty"}},
		},
		{
			name:    "only blank lines",
			content: "\r\n\n",
			errs:    []wantErr{{line: 0, is: manifest.ErrEmpty}},
		},
		{
			name:    "only a header",
			content: h,
			errs:    []wantErr{{line: 0, is: manifest.ErrEmpty, msg: "m.csv: the manifest has no rows"}},
		},
	})
}

func TestReaderJSONL(t *testing.T) {
	t.Parallel()
	runReaderCases(t, "m.jsonl", []readerCase{
		{
			name:    "every key",
			content: `{"id":"c1","image":"` + img + `","promptText":"a cat","negativePrompt":"blurry","seed":42,"resolution":"720p","duration":10}`,
			rows: []wantRow{{line: 1, id: "c1", input: manifest.PikaFields{Image: img, PromptText: "a cat",
				NegativePrompt: "blurry", Seed: ptr(int64(42)), Resolution: "720p", Duration: 10}.Input()}},
		},
		{
			name:    "aliases",
			content: `{"image_url":"` + img + `","prompt":"a cat","negative_prompt":"blurry"}` + "\n",
			rows:    []wantRow{{line: 1, input: manifest.PikaFields{Image: img, PromptText: "a cat", NegativePrompt: "blurry"}.Input()}},
		},
		{
			name:    "integers as strings, id as a number",
			content: `{"id":17,"image":"` + img + `","seed":"-3","duration":"5"}`,
			rows:    []wantRow{{line: 1, id: "17", input: manifest.PikaFields{Image: img, Seed: ptr(int64(-3)), Duration: 5}.Input()}},
		},
		{
			name:    "null and blank values are not set",
			content: `{"id":null,"image":"` + img + `","promptText":" ","negativePrompt":null,"seed":null,"resolution":"","duration":null}`,
			rows:    []wantRow{{line: 1, input: manifest.PikaFields{Image: img}.Input()}},
		},
		{
			name:    "escapes in strings",
			content: `{"image":"https:\/\/img.example.com\/a.png","promptText":"line\nbreak \"q\" \u00e9"}`,
			rows:    []wantRow{{line: 1, input: manifest.PikaFields{Image: img, PromptText: "line\nbreak \"q\" é"}.Input()}},
		},
		{
			name:    "BOM, CRLF and blank lines count as lines",
			content: "\ufeff{\"id\":\"c1\",\"image\":\"" + img + "\"}\r\n\r\n   \r\n{\"id\":\"c2\",\"image\":\"" + img + "\"}",
			rows: []wantRow{
				{line: 1, id: "c1", input: manifest.PikaFields{Image: img}.Input()},
				{line: 4, id: "c2", input: manifest.PikaFields{Image: img}.Input()},
			},
		},
		{
			name:    "white space around keys and values",
			content: `  { " image " : "  ` + img + `  " , "seed" : 1 }  `,
			rows:    []wantRow{{line: 1, input: manifest.PikaFields{Image: img, Seed: ptr(int64(1))}.Input()}},
		},
		{
			name: "integers",
			content: `{"image":"` + img + `","seed":1.5}` + "\n" +
				`{"image":"` + img + `","seed":"abc"}` + "\n" +
				`{"image":"` + img + `","seed":9223372036854775808}` + "\n" +
				`{"image":"` + img + `","seed":1e3}` + "\n" +
				`{"image":"` + img + `","seed":true}` + "\n" +
				`{"image":"` + img + `","duration":7}` + "\n" +
				`{"image":"` + img + `","duration":"7"}` + "\n" +
				`{"image":"` + img + `","duration":[5]}` + "\n",
			errs: []wantErr{
				{line: 1, field: "seed", is: manifest.ErrInvalidInteger, msg: `m.jsonl:1: field seed: "1.5" is not an integer`},
				{line: 2, field: "seed", is: manifest.ErrInvalidInteger},
				{line: 3, field: "seed", is: manifest.ErrInvalidInteger, msg: `m.jsonl:3: field seed: "9223372036854775808" does not fit in a 64-bit integer`},
				{line: 4, field: "seed", is: manifest.ErrInvalidInteger},
				{line: 5, field: "seed", is: manifest.ErrInvalidInteger, msg: "m.jsonl:5: field seed: must be an integer, not a boolean"},
				{line: 6, field: "duration", is: manifest.ErrInvalidEnum},
				{line: 7, field: "duration", is: manifest.ErrInvalidEnum},
				{line: 8, field: "duration", is: manifest.ErrInvalidInteger},
			},
		},
		{
			name: "string values of the wrong type",
			content: `{"image":5}` + "\n" + `{"image":"` + img + `","promptText":{"a":1}}` + "\n" +
				`{"image":"` + img + `","resolution":720}` + "\n",
			errs: []wantErr{
				{line: 1, field: "image", is: manifest.ErrMalformed, msg: "m.jsonl:1: field image: must be a string, not a number"},
				{line: 2, field: "promptText", is: manifest.ErrMalformed},
				{line: 3, field: "resolution", is: manifest.ErrMalformed},
			},
		},
		{
			name:    "enum typos",
			content: `{"image":"` + img + `","resolution":"1080"}` + "\n" + `{"image":"` + img + `","resolution":"720P"}`,
			errs: []wantErr{
				{line: 1, field: "resolution", is: manifest.ErrInvalidEnum, msg: `m.jsonl:1: field resolution: "1080" is not one of 720p, 1080p`},
				{line: 2, field: "resolution", is: manifest.ErrInvalidEnum},
			},
		},
		{
			name:    "image missing, null or relative",
			content: `{"id":"a"}` + "\n" + `{"id":"b","image":null}` + "\n" + `{"id":"c","image":"a.png"}`,
			errs: []wantErr{
				{line: 1, field: "image", is: manifest.ErrRequired, msg: "m.jsonl:1: field image: missing; every row needs the URL of its source image"},
				{line: 2, field: "image", is: manifest.ErrRequired},
				{line: 3, field: "image", is: manifest.ErrInvalidURL},
			},
		},
		{
			name:    "unknown key is reported per line",
			content: `{"image":"` + img + `","promt":"a cat"}` + "\n" + `{"image":"` + img + `"}`,
			rows:    []wantRow{{line: 2, input: manifest.PikaFields{Image: img}.Input()}},
			errs: []wantErr{{line: 1, field: "promt", is: manifest.ErrUnknownColumn,
				msg: `m.jsonl:1: field promt: unknown key "promt"; did you mean "prompt"? (names are case-sensitive)`}},
		},
		{
			name:    "key twice or with its alias",
			content: `{"image":"` + img + `","image":"` + img + `"}` + "\n" + `{"image":"` + img + `","image_url":"` + img + `"}`,
			errs: []wantErr{
				{line: 1, field: "image", is: manifest.ErrMalformed, msg: `m.jsonl:1: field image: key "image" appears twice`},
				{line: 2, field: "image_url", is: manifest.ErrMalformed, msg: `m.jsonl:2: field image_url: key "image_url" repeats key "image"`},
			},
		},
		{
			name: "lines that are not objects",
			content: `["` + img + `"]` + "\n" + `"` + img + `"` + "\n" + "5\n" + "null\n" +
				`{"image":"` + img + `",}` + "\n" + `{"image":"` + img + `"` + "\n" +
				`{"image":"` + img + `"} {}` + "\n" + `{"image":"` + img + `"}`,
			rows: []wantRow{{line: 8, input: manifest.PikaFields{Image: img}.Input()}},
			errs: []wantErr{
				{line: 1, is: manifest.ErrMalformed, msg: "m.jsonl:1: the line is not a JSON object; each line must be one {...} object"},
				{line: 2, is: manifest.ErrMalformed},
				{line: 3, is: manifest.ErrMalformed},
				{line: 4, is: manifest.ErrMalformed},
				{line: 5, is: manifest.ErrMalformed},
				{line: 6, is: manifest.ErrMalformed, msg: "m.jsonl:6: invalid JSON: the object is not closed"},
				{line: 7, is: manifest.ErrMalformed},
			},
		},
		{
			name:    "invalid UTF-8",
			content: "{\"image\":\"" + img + "\",\"promptText\":\"caf\xe9\"}\n",
			errs:    []wantErr{{line: 1, is: manifest.ErrMalformed}},
		},
		{
			name:    "empty file",
			content: "",
			errs:    []wantErr{{is: manifest.ErrEmpty, msg: "m.jsonl: the file is empty"}},
		},
		{
			name:    "only blank lines",
			content: "\n \r\n\t\n",
			errs:    []wantErr{{is: manifest.ErrEmpty, msg: "m.jsonl: the manifest has no rows"}},
		},
	})
}

func TestReaderIDs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id      string
		wantErr error
	}{
		{"clip-001", nil},
		{"A.b_c-9", nil},
		{strings.Repeat("x", 128), nil},
		{"console", nil},
		{"COM10", nil},
		{"nul_x", nil},
		{"../x", manifest.ErrUnsafeID},
		{"a/b", manifest.ErrUnsafeID},
		{`a\b`, manifest.ErrUnsafeID},
		{"a:b", manifest.ErrUnsafeID},
		{"my clip", manifest.ErrUnsafeID},
		{"café", manifest.ErrUnsafeID},
		{"CON", manifest.ErrUnsafeID},
		{"con", manifest.ErrUnsafeID},
		{"Nul.txt", manifest.ErrUnsafeID},
		{"com1", manifest.ErrUnsafeID},
		{"LPT9.tar.gz", manifest.ErrUnsafeID},
		{"aux", manifest.ErrUnsafeID},
		{"prn", manifest.ErrUnsafeID},
		{".hidden", manifest.ErrUnsafeID},
		{"-rf", manifest.ErrUnsafeID},
		{"trailing.", manifest.ErrUnsafeID},
		{strings.Repeat("x", 129), manifest.ErrUnsafeID},
		{strings.Repeat("x", 200), manifest.ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			t.Parallel()
			rows, errs := collect(t, "m.jsonl", `{"id":"`+strings.ReplaceAll(tt.id, `\`, `\\`)+`","image":"`+img+`"}`)
			if tt.wantErr == nil {
				require.Empty(t, errs)
				require.Len(t, rows, 1)
				assert.Equal(t, tt.id, rows[0].Key)
				return
			}
			require.Len(t, errs, 1)
			assert.ErrorIs(t, errs[0], tt.wantErr)
			assert.Equal(t, "id", errs[0].Field)
			assert.Equal(t, 1, errs[0].Line)
		})
	}
}

func TestReaderLifecycle(t *testing.T) {
	t.Parallel()

	t.Run("EOF is sticky", func(t *testing.T) {
		t.Parallel()
		r, err := manifest.NewReader(strings.NewReader("image\n"+img+"\n"), "m.csv", manifest.FormatAuto)
		require.NoError(t, err)
		_, err = r.Next()
		require.NoError(t, err)
		for range 3 {
			_, err = r.Next()
			require.Equal(t, io.EOF, err)
		}
	})

	t.Run("empty manifest reports once then EOF", func(t *testing.T) {
		t.Parallel()
		r, err := manifest.NewReader(strings.NewReader("\n\n"), "m.jsonl", manifest.FormatAuto)
		require.NoError(t, err)
		_, err = r.Next()
		var re *manifest.RowError
		require.ErrorAs(t, err, &re)
		assert.ErrorIs(t, err, manifest.ErrEmpty)
		_, err = r.Next()
		require.Equal(t, io.EOF, err)
	})

	t.Run("close twice, next after close", func(t *testing.T) {
		t.Parallel()
		r, err := manifest.NewReader(strings.NewReader("image\n"+img+"\n"), "m.csv", manifest.FormatAuto)
		require.NoError(t, err)
		require.NoError(t, r.Close())
		require.NoError(t, r.Close())
		_, err = r.Next()
		require.Error(t, err)
		assert.NotErrorIs(t, err, io.EOF)
	})

	for _, name := range []string{"m.csv", "m.jsonl"} {
		t.Run("read error is fatal and sticky "+name, func(t *testing.T) {
			t.Parallel()
			boom := errors.New("disk on fire")
			var content string
			if strings.HasSuffix(name, ".csv") {
				content = "image\n" + img + "\n"
			} else {
				content = `{"image":"` + img + `"}` + "\n"
			}
			src := io.MultiReader(strings.NewReader(content), iotest.ErrReader(boom))
			r, err := manifest.NewReader(iotest.OneByteReader(src), name, manifest.FormatAuto)
			require.NoError(t, err)
			row, err := r.Next()
			require.NoError(t, err)
			assert.Equal(t, img, row.Input.Text("image"))
			for range 2 {
				_, err = r.Next()
				require.ErrorIs(t, err, boom)
				assert.Contains(t, err.Error(), name)
				var re *manifest.RowError
				var ve *manifest.ValidationError
				assert.False(t, errors.As(err, &re) || errors.As(err, &ve), "an I/O error is not a row error")
			}
		})
	}

	t.Run("read error during header", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("disk on fire")
		_, err := manifest.NewReader(iotest.ErrReader(boom), "m.csv", manifest.FormatAuto)
		require.ErrorIs(t, err, boom)
	})

	t.Run("summary counts valid rows", func(t *testing.T) {
		t.Parallel()
		content := "image,resolution,duration\n" + img + ",,\n" + img + ",720p,10\n" + img + ",1080p,5\n" + img + ",1080,5\n" + img + ",,\n"
		r, err := manifest.NewReader(strings.NewReader(content), "m.csv", manifest.FormatAuto)
		require.NoError(t, err)
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			}
		}
		s := r.Summary()
		assert.Equal(t, 4, s.Rows)
		assert.Equal(t, map[string]int{"1080p": 3, "720p": 1}, s.ByResolution)
		assert.Equal(t, map[int]int{5: 3, 10: 1}, s.ByDuration)
		assert.Equal(t, 1, s.DuplicateRows)
	})
}
