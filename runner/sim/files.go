package sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// mp4Header starts every video: a minimal ftyp box (isom, compatible with
// isom and mp42) and the header of the mdat box holding the rest of the file,
// whose size is patched in per video.
var mp4Header = [MinVideoSize]byte{
	0, 0, 0, 24, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2, 0, 'i', 's', 'o', 'm', 'm', 'p', '4', '2',
	0, 0, 0, 0, 'm', 'd', 'a', 't',
}

// videoBytes returns the deterministic content of output n of request id.
func videoBytes(seed int64, id string, n, size int) []byte {
	h := sha256.New()
	h.Write([]byte("pikabatch-sim-video\x00"))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(seed)))
	h.Write([]byte(id))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
	var key [32]byte
	h.Sum(key[:0])

	b := make([]byte, size)
	copy(b, mp4Header[:])
	binary.BigEndian.PutUint32(b[24:], uint32(size-24))
	_, _ = mrand.NewChaCha8(key).Read(b[len(mp4Header):])
	return b
}

// fileURL builds the pre-signed URL of output n of request id. An empty
// expires means the URL never expires.
func (s *Server) fileURL(base, id string, n int, expires string) string {
	var b strings.Builder
	b.WriteString(base)
	b.WriteString("/files/")
	b.WriteString(id)
	b.WriteByte('/')
	b.WriteString(strconv.Itoa(n))
	b.WriteString(".mp4?")
	if expires != "" {
		b.WriteString("expires=")
		b.WriteString(expires)
		b.WriteByte('&')
	}
	b.WriteString("sig=")
	b.WriteString(s.sign(id, n, expires))
	return b.String()
}

// sign returns the signature of a file URL.
func (s *Server) sign(id string, n int, expires string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write([]byte(strconv.Itoa(n)))
	m.Write([]byte{0})
	m.Write([]byte(expires))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func (s *Server) fileRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /files/{id}/{name}", s.handleFile)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.countFileAuth(r)
		writeStorageError(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
	})
	return mux
}

// countFileAuth counts a file request that carries an Authorization header.
func (s *Server) countFileAuth(r *http.Request) {
	if _, ok := r.Header["Authorization"]; ok {
		s.mu.Lock()
		s.c.FileRequestsWithAuth++
		s.mu.Unlock()
	}
}

// writeStorageError answers like an object store: an XML error document.
func writeStorageError(w http.ResponseWriter, code int, errCode, msg string) {
	body := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		"<Error><Code>" + errCode + "</Code><Message>" + msg + "</Message></Error>\n"
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

func (s *Server) handleFile(w http.ResponseWriter, r *http.Request) {
	s.countFileAuth(r)
	id := r.PathValue("id")
	num, ok := strings.CutSuffix(r.PathValue("name"), ".mp4")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n < 0 || strconv.Itoa(n) != num {
		writeStorageError(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		return
	}
	q := r.URL.Query()
	expires := q.Get("expires")
	if !hmac.Equal([]byte(q.Get("sig")), []byte(s.sign(id, n, expires))) {
		writeStorageError(w, http.StatusForbidden, "SignatureDoesNotMatch",
			"The request signature we calculated does not match the signature you provided.")
		return
	}
	size := s.cfg.VideoSize
	first, last, partial, satisfiable := parseRange(r.Header.Get("Range"), size)
	isGet := r.Method == http.MethodGet

	s.mu.Lock()
	now := s.clock()
	if expires != "" {
		ms, err := strconv.ParseInt(expires, 10, 64)
		if err != nil || now.After(time.UnixMilli(ms)) {
			s.c.DownloadsExpired++
			s.mu.Unlock()
			writeStorageError(w, http.StatusForbidden, "AccessDenied", "Request has expired")
			return
		}
	}
	j := s.jobs[id]
	if j == nil || !j.hasOutput() || n >= outputsPerJob {
		s.mu.Unlock()
		writeStorageError(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		return
	}
	if !satisfiable {
		s.mu.Unlock()
		w.Header().Set("Content-Range", "bytes */"+strconv.Itoa(size))
		writeStorageError(w, http.StatusRequestedRangeNotSatisfiable, "InvalidRange",
			"The requested range is not satisfiable")
		return
	}
	truncate := false
	if isGet {
		s.c.Downloads++
		j.downloads++
		if j.firstDownloadAt.IsZero() {
			j.firstDownloadAt = now
		}
		if j.downloads == 1 && j.truncateFirst && last > first {
			truncate = true
			s.c.DownloadsTruncated++
		}
	}
	s.mu.Unlock()

	s.serveVideo(w, id, n, byteRange{first: first, last: last, size: size, partial: partial}, isGet, truncate)
}

// byteRange is the part of a video a download asked for.
type byteRange struct {
	first, last, size int
	partial           bool
}

// serveVideo writes output n of job id, or the part rg names: headers
// always, the body on a GET, cut off midway when truncate.
func (s *Server) serveVideo(w http.ResponseWriter, id string, n int, rg byteRange, isGet, truncate bool) {
	body := videoBytes(s.cfg.Seed, id, n, rg.size)[rg.first : rg.last+1]
	h := w.Header()
	h.Set("Content-Type", "video/mp4")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Accept-Ranges", "bytes")
	h.Set("ETag", `"`+s.sign(id, n, "etag")+`"`)
	code := http.StatusOK
	if rg.partial {
		h.Set("Content-Range", "bytes "+strconv.Itoa(rg.first)+"-"+strconv.Itoa(rg.last)+"/"+strconv.Itoa(rg.size))
		code = http.StatusPartialContent
	}
	w.WriteHeader(code)
	if !isGet {
		return
	}
	if truncate {
		_, _ = w.Write(body[:len(body)/2])
		s.cfg.Logger.Debug("sim truncated download", "request_id", id, "sent", len(body)/2, "length", len(body))
		abort(w, true)
		return
	}
	_, _ = w.Write(body)
}

// parseRange interprets a Range header for a file of size bytes, returning the
// inclusive byte range to send and whether it is partial. A header that is
// absent, malformed or asks for several ranges is ignored, as RFC 9110
// allows; a range that starts past the end is not satisfiable.
func parseRange(h string, size int) (first, last int, partial, satisfiable bool) {
	whole := func() (int, int, bool, bool) { return 0, size - 1, false, true }
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return whole()
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return whole()
	}
	if a == "" { // suffix: the last b bytes
		n, err := strconv.Atoi(b)
		if err != nil || n < 0 {
			return whole()
		}
		if n == 0 {
			return 0, 0, false, false
		}
		return max(0, size-n), size - 1, true, true
	}
	start, err := strconv.Atoi(a)
	if err != nil || start < 0 {
		return whole()
	}
	end := size - 1
	if b != "" {
		e, err := strconv.Atoi(b)
		if err != nil || e < start {
			return whole()
		}
		end = min(e, size-1)
	}
	if start >= size {
		return 0, 0, false, false
	}
	return start, end, true, true
}
