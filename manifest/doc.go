/*
Package manifest parses and validates the manifest of a batch: one row per
job of a model, as CSV or JSONL, checked against the model's input schema
(a Schema: a JSON Schema document, compiled with
github.com/santhosh-tekuri/jsonschema/v6). The schema of
pika/pika-2-2/image-to-video is built in and is the default; any other
model's is given by the caller (from the API's catalog, or a file). It does
no network I/O and imports no other package of the project.
Its subpackages build on it: shard splits a manifest between machines, and
probe asks image hosts about its URLs (the one that does network I/O).

# Streaming

A Reader returns one row at a time (Reader.Next), so a manifest of millions
of rows is never held in memory: besides the current row, a Reader keeps
two 64-bit hashes per row (for repeated keys and for rows with equal
parameters). One row, a JSONL line or a CSV record, may be at most
MaxRowBytes long. Validate reads a whole manifest once and reports every
problem at once, so that a caller can reject a broken manifest before
submitting anything.

# Formats

CSV needs a header row naming the columns. A UTF-8 byte order mark, CRLF line
ends and quoted values spanning several lines are fine; completely empty
lines, and rows whose cells are all blank, are skipped. A row with more or
fewer fields than the header is an error for that row. Row line numbers are
those where a row starts, counting the header as line 1.

JSONL has one JSON object per line; blank lines are skipped and line numbers
count every line. A UTF-8 byte order mark and CRLF line ends are fine. null
means "not set". Values are taken as they are and must be of a type the
field's schema allows, with one leniency kept from before schemas: a string
for a field that is no string is read as a CSV cell would be ("5" for an
integer, as Pika's seed and duration always allowed). id may be a number.

# Types

A CSV cell is coerced by its field's type in the schema: integer (base 10,
optional sign, 64 bits), number (a decimal or exponent form), boolean (true
or false, any case), array or object (the cell holds JSON), string (as is).
Numbers and integers are written as JSON writes them, plus an optional '+'
that earlier versions read: hex (0x1p4), underscores (1_000), leading zeros
(007), ".5" or "Inf" are refused, as the API would not read them as the
user meant; so is a non-zero number too small for a float64 (1e-400),
which would go out as 0.
A field allowing several types takes the first of integer, number, boolean,
array/object that parses, else a string. A field without a type takes the
types of its enum, else any value (a CSV cell is then a string). Numbers
are held as int64 when they are whole and fit (5, 5.0 and 5e0 are one value
in a number field; an integer field takes only integer literals), float64
otherwise; Input.Hash documents their canonical form.

# Checks

Each field's type, enum, const, minimum, maximum, exclusive bounds,
multipleOf, minLength and maxLength (in characters, as JSON Schema counts
them) and pattern are checked here, as is the schema's required list; any
other keyword (allOf, if/then, items...) is checked by the library for every
row (see Schema). On top of the schema, every model's rows keep this
package's own bounds: ids follow the rules of Keys; a body is at most
MaxBodyBytes, a row MaxRowBytes; and file inputs (a field of format "uri",
"image_uri", "video_uri" or "audio_uri", or named image, video, audio, or
ending in _url or Url) hold one of

  - an https URL with a host and no user name or password, at most
    MaxImageURLBytes long (http only for a loopback host), which the API
    fetches as it is;
  - a bucket URL, s3://bucket/key, gs://bucket/key or
    azblob://container/key, naming one object: the runner sends a
    pre-signed URL for it, made just before each submit and never
    recorded, so the row keeps (and its key covers) the bucket URL;
  - a local file, a path relative to the manifest's folder (or absolute),
    or a file: URL, when Config.Files says how it will be sent (staged to
    a bucket, or inline as a data: URI). The file is read to take its
    SHA-256, and the row records it as LocalRef writes it,
    file:PATH#sha256=HEX: the path and the digest, never the bytes. So an
    edited file is a new row (a new key, or a changed hash for a row with
    an id), and an unchanged one keeps its key. A file holding another
    kind of media than its field takes (a video for an image) is an
    error. Sent inline, a file keeps within the caps RunComfy's own
    clients keep to: MaxInlineImageBytes and MaxInlineImagePixels (read
    from the image's header), MaxInlineVideoBytes, MaxInlineAudioBytes,
    and MaxInlineRequestBytes for the whole request, base64 included.

FormatAuto chooses by extension: .csv, or .jsonl and .ndjson.

# CSV and gocsv

CSV is read with encoding/csv and decoded by this package, not by
github.com/gocarina/gocsv, which the project uses to write CSV exports
(runner/results). gocsv decodes rows by header into a tagged struct well, but
each of its reading entry points would drop a guarantee this package makes:

  - gocsv.Unmarshaller (NewUnmarshaller over our own *csv.Reader) hands out
    only the decoded struct. A row with more fields than the header loses
    the extra ones without an error, so an unquoted comma in the last
    column's prompt would silently cut the prompt; a row with fewer leaves
    fields empty. Letting csv.Reader check the count (FieldsPerRecord)
    instead loses the record: the error cannot say how many fields the row
    has, and a blank row such as ",,,," with another count, which
    spreadsheets write below the data, could no longer be skipped.
  - gocsv.UnmarshalToCallback and the other streaming forms push rows from
    a goroutine through a reflect channel; Reader.Next pulls them, so each
    Reader would need a goroutine of its own that Close must stop, and a
    channel hand-off per row.
  - gocsv's header matching is looser than the manifest's (it also ignores
    zero-width characters) and, with its default settings, ignores unknown
    and repeated columns, where the manifest reports each one, aliases
    included, all at once with line and column numbers. Its settings are
    package globals shared by the whole process.

So the header is checked and mapped once here (lookupColumn), and each
record's values are put into their fields by column: no reflection per row.

# Columns

Columns are id and the schema's properties (and the aliases a property lists
in "x-pikabatch-aliases"). Names are matched exactly (case-sensitively) after
trimming white space. An unknown column or key is an error, so that a typo
like "promt" cannot silently drop the prompt; so is a column given twice,
also through an alias. Those of the built-in Pika schema:

	id              optional; the row's job key (see Keys)
	image           required; alias image_url; an absolute https URL with a host and
	                no user name or password, at most MaxImageURLBytes long; http
	                only for a loopback host (localhost, 127.0.0.0/8, ::1); or a
	                bucket URL or a local file (see Checks)
	promptText      alias prompt; at most MaxPromptRunes characters (not bytes)
	negativePrompt  alias negative_prompt; at most MaxNegativePromptRunes characters
	seed            an integer that fits in 64 bits, with an optional sign
	resolution      720p or 1080p (default 1080p)
	duration        5 or 10, in seconds (default 5)

Values are trimmed of surrounding white space and must be valid UTF-8. A
blank value means "not set": it is left out of Input, so the model's
default applies (a blank required value is an error). The submit body, the Input as JSON, may be at most
MaxBodyBytes: the API answers a larger one with a 413, which stops a run.

# Datasets

A dataset need not use the model's names. Config.Map reads a field from
another column or key ({"promptText": "caption"}); Config.Keep carries
columns that are no field into Row.Kept, verbatim (a CSV cell as its text,
a JSONL value as written), so that the rendered dataset keeps its metadata.
Any other unknown column is still an error, with a did-you-mean that knows
the mapped names. Kept columns are no part of a row's key or hash.

The runner records Row.Kept with the job (store.Job.Columns) rather than
re-reading the manifest when it writes results.jsonl or an export: export,
status and recover work from the state alone, often on another day or
machine, where the manifest may have moved or changed; joining a million
rows' columns back by key would hold them all in memory or rewrite the
index in manifest order. So that this keeps job records small, a row's
kept columns are at most MaxKeptBytes of JSON, and only batches that ask
for them pay for them.

# Keys

Each row has a stable key, used by the runner to checkpoint the job and to
name its output files. It is the row's id if given. Ids must be unique,
compared ignoring case as file names are on macOS and Windows, and safe as a
file name: 1 to MaxIDLength characters from [A-Za-z0-9._-], not starting
with '.' or '-', not ending with '.', and not a name Windows reserves (CON,
PRN, AUX, NUL, COM1-COM9, LPT1-LPT9, in any case, also with an extension).

A row without an id gets the key "r-" followed by the first 16 hex digits of
Input.Hash, so the key depends only on the row's values and not on its
position: reordering a manifest keeps every key. The second and later rows
with the same values get "-2", "-3"... appended, so identical rows stay
separate jobs. A derived key equal to an id elsewhere in the manifest is an
error too (ErrDuplicateID).

# Errors

Each problem is a *RowError naming the file, line and field, whose Err
wraps one or more of the sentinel errors (ErrRequired, ErrInvalidEnum...);
its message is meant for the user, for example

	examples/a.csv:7: field resolution: "1080" is not one of 720p, 1080p

Messages are safe to print: values are quoted with control characters
escaped, and so are names of unknown columns (RowError.Field holds them
escaped); image URLs are shown with their userinfo and signature-like query
values replaced by REDACTED (see the redact package).

A *ValidationError groups several RowErrors: all those of a manifest (from
Validate, or from Open for a bad CSV header or an empty file), or those of
one row with several problems (from Reader.Next). It unwraps to its
RowErrors, so errors.Is and errors.As see through it.
*/
package manifest
