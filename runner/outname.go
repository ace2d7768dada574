package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"mime"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pikabatch/pikabatch/store"
)

// Output file names are unique by construction, also on a file system that
// ignores case (macOS, Windows). A name is
//
//	<key> [ "+c" <case> ] [ "+" <n> ] <ext>
//
//   - <key> is the job's key. Keys never contain '+' (the manifest allows
//     only [A-Za-z0-9._-]), so everything before the first '+' is the key.
//   - "+c<case>" is there exactly when the key has capital letters. <case>
//     is a bitmap over the key's letters, 1 for a capital, in lower-case
//     hex (four letters a digit, the first letter in the high bit):
//     "Dup" → "Dup+c8". Keys that differ only in case thus differ in <case>.
//   - "+<n>" is the output's number, from 1, when a job has several outputs
//     ("m+1.mp4", "m+2.mp4"), or when the short name is held by a file
//     another job recorded (a folder written by an older pikabatch, whose
//     several-output names were "<key>-1.mp4": see Runner.download).
//   - <ext> is from knownExt: a '.' and lower-case letters and digits.
//
// Why two keys never share a name, even ignoring case: a name without '+'
// comes from a key without capitals and is that key followed by an
// extension; as every extension has its only '.' first, key1+ext1 ==
// key2+ext2 forces ext1 == ext2 and key1 == key2, and such names are all
// lower case. A name with '+' starts with its key: two keys equal ignoring
// case either are equal, or differ in case, and then at least one has a
// "+c" part while the other has a different one, a number (digits) or
// nothing there. A job's outputs differ in <n>.
//
// A key outside the manifest's alphabet (a state file written by some
// other tool) gets "key+x<hash>" instead: the "+x" part is neither a case
// part nor a number, so it cannot meet a real key's name either.

// outputName is the final file name of output i of a job's n outputs.
// long asks for the "+<n>" part even when the job has one output.
func outputName(key string, i, n int, ext string, long bool) string {
	var b strings.Builder
	b.WriteString(nameStem(key))
	if n > 1 || long {
		b.WriteByte('+')
		b.WriteString(strconv.Itoa(i + 1))
	}
	b.WriteString(ext)
	return b.String()
}

// partName is the temporary file of output i while it downloads: hidden,
// and unique per key and output as the final names are. It does not depend
// on the extension, which is known only once the host has answered.
func partName(key string, i int) string {
	return ".pikabatch-" + nameStem(key) + "+" + strconv.Itoa(i+1) + ".part"
}

// nameStem is the key with its case part.
func nameStem(key string) string {
	if !safeKey(key) {
		sum := sha256.Sum256([]byte(key))
		return "key+x" + hex.EncodeToString(sum[:16])
	}
	if c := caseCode(key); c != "" {
		return key + "+c" + c
	}
	return key
}

// safeKey reports whether key is a name the manifest would accept as an id
// (manifest.checkID), as far as file names go.
func safeKey(key string) bool {
	if key == "" || len(key) > 128 || key[0] == '.' || key[0] == '-' || key[len(key)-1] == '.' {
		return false
	}
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// caseCode is the hex bitmap of key's capitals over its letters, or "" when
// key has none.
func caseCode(key string) string {
	var (
		out     []byte
		nibble  byte
		letters int
		capital bool
	)
	for i := 0; i < len(key); i++ {
		c := key[i]
		isUpper := 'A' <= c && c <= 'Z'
		if !isUpper && !('a' <= c && c <= 'z') {
			continue
		}
		nibble <<= 1
		if isUpper {
			nibble |= 1
			capital = true
		}
		letters++
		if letters%4 == 0 {
			out = append(out, "0123456789abcdef"[nibble])
			nibble = 0
		}
	}
	if !capital {
		return ""
	}
	if r := letters % 4; r != 0 {
		out = append(out, "0123456789abcdef"[nibble<<(4-r)])
	}
	return string(out)
}

// knownExt are the extensions a result file may keep from its URL.
var knownExt = map[string]bool{".mp4": true, ".mov": true, ".webm": true, ".mkv": true,
	".gif": true, ".png": true, ".jpg": true, ".jpeg": true, ".webp": true}

// outputExt picks a result file's extension from its URL, else from its
// Content-Type, else ".mp4". It comes from a fixed list, so nothing in a
// URL can steer the file outside the output folder.
func outputExt(rawURL, ctype string) string {
	if u, err := url.Parse(rawURL); err == nil {
		if e := strings.ToLower(path.Ext(u.Path)); knownExt[e] {
			return e
		}
	}
	if ctype != "" {
		if mt, _, err := mime.ParseMediaType(ctype); err == nil {
			switch mt {
			case "video/mp4":
				return ".mp4"
			case "video/webm":
				return ".webm"
			case "video/quicktime":
				return ".mov"
			case "image/png":
				return ".png"
			case "image/jpeg":
				return ".jpg"
			case "image/webp":
				return ".webp"
			case "image/gif":
				return ".gif"
			}
		}
	}
	return ".mp4"
}

// errNameFound ends a scan of the store early.
var errNameFound = errors.New("name found")

// nameTaken reports whether a job other than key records a file called
// name, ignoring case. It reads the whole store, so it is asked only when
// a file of that name is already in the folder and not this job's own:
// after a crash between rename and record, or beside a folder written by
// an older pikabatch whose names could collide.
func (r *Runner) nameTaken(ctx context.Context, name, key string) bool {
	err := r.store.ForEach(ctx, func(j store.Job) error {
		if j.Key == key {
			return nil
		}
		for _, o := range j.Outputs {
			if strings.EqualFold(o.Path, name) {
				return errNameFound
			}
		}
		return nil
	})
	return errors.Is(err, errNameFound)
}

// finalName is the name output i goes to: its short name unless a file of
// that name is there, not this job's own, and recorded by another job —
// which only a folder written by an older pikabatch can hold, whose
// names for several outputs ("m-1.mp4") were some other key's short name.
// The long name ("m-1+1.mp4") cannot be another key's.
func (d *downloader) finalName(ctx context.Context, key string, i, n int, ext, ownPath string) string {
	name := outputName(key, i, n, ext, false)
	if d.nameTaken == nil || strings.EqualFold(name, ownPath) {
		return name
	}
	fi, err := d.fs.Lstat(filepath.Join(d.dir, name))
	switch {
	case err != nil:
		return name
	case !fi.Mode().IsRegular():
		d.log.Warn("not a regular file where a download goes; replaced", "key", key, "file", name, "mode", fi.Mode().String())
		return name
	case d.nameTaken(ctx, name, key):
		long := outputName(key, i, n, ext, true)
		d.log.Warn("file name held by another job; using a longer one", "key", key, "file", long, "held", name)
		return long
	}
	return name
}
