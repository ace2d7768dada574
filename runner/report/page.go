package report

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"strings"
)

// The page is page.html with page.css and page.js put inline, split where
// the data goes. They are separate files so that each is edited as what it
// is; the page is still one file.
var (
	//go:embed page.html
	pageHTML string
	//go:embed page.css
	pageCSS string
	//go:embed page.js
	pageJS string
)

// Placeholders in page.html.
const (
	cspMark    = "{{CSP}}"
	styleMark  = "{{STYLE}}"
	scriptMark = "{{SCRIPT}}"
	dataMark   = "{{DATA}}"
)

// page is the report around its data: head, the data block's JSON, tail.
var page = assemble()

type pageParts struct{ head, tail string }

// assemble puts the style and script into the page, and allows exactly
// them: the Content-Security-Policy lets nothing load from anywhere but
// the page's own folder (videos), and runs only the script and style whose
// hashes it names. A value from the state that ended up in the markup
// could neither run nor fetch.
func assemble() pageParts {
	for _, m := range []string{cspMark, styleMark, scriptMark, dataMark} {
		if strings.Count(pageHTML, m) != 1 {
			panic("report: page.html must hold " + m + " once") // caught by every test
		}
	}
	csp := "default-src 'none'; media-src 'self' file:; img-src 'self' data: file:; " +
		"style-src '" + hash(pageCSS) + "'; script-src '" + hash(pageJS) + "'; " +
		"base-uri 'none'; form-action 'none'"
	html := strings.NewReplacer(cspMark, csp, styleMark, pageCSS, scriptMark, pageJS).Replace(pageHTML)
	head, tail, _ := strings.Cut(html, dataMark)
	return pageParts{head: head, tail: tail}
}

// hash is a CSP source for an inline element holding text.
func hash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}
