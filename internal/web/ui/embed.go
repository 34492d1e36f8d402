// Package ui holds the console's embedded assets: html/template pages in
// templates/ and static files (our CSS and JS, vendored Bootstrap and htmx)
// in static/. Nothing is fetched from a CDN: the AP has no internet.
package ui

import (
	"embed"
	"io/fs"
)

//go:embed templates/*.html
var templates embed.FS

//go:embed static
var static embed.FS

// Templates returns the page templates.
func Templates() fs.FS { return templates }

// Static returns the static files, rooted at static/.
func Static() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded above; this cannot fail
	}
	return sub
}
