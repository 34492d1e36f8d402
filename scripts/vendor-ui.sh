#!/usr/bin/env bash
# Copy the front-end libraries pinned in package.json (installed by `npm ci`) into the
# embedded static files. The result is committed: the AP has no internet and `make run`
# must not need npm. Run it through `make vendor-ui` after changing a version.
#
# htmx is pinned to the 2.x line: its attribute inheritance (hx-headers on <body>) and the
# htmx-config meta keys (includeIndicatorStyles, allowEval) are what the templates rely on.
set -euo pipefail
cd "$(dirname "$0")/.."

src=node_modules
dst=internal/web/ui/static/vendor
for f in "$src/bootstrap/package.json" "$src/htmx.org/package.json"; do
  [[ -f $f ]] || { echo "vendor-ui: $f is missing; run npm ci first" >&2; exit 1; }
done

rm -rf "$dst"
mkdir -p "$dst/bootstrap" "$dst/htmx"
cp "$src/bootstrap/dist/css/bootstrap.min.css" "$dst/bootstrap/"
cp "$src/bootstrap/dist/js/bootstrap.bundle.min.js" "$dst/bootstrap/"
cp "$src/bootstrap/LICENSE" "$dst/bootstrap/LICENSE"
cp "$src/htmx.org/dist/htmx.min.js" "$dst/htmx/"
cp "$src/htmx.org/LICENSE" "$dst/htmx/LICENSE"
# Source maps are referenced by the minified files but not shipped: strip the comment
# so browsers do not request a file that does not exist.
sed -i -e 's|/\*# sourceMappingURL=.*\*/||' "$dst/bootstrap/bootstrap.min.css"
sed -i -e 's|//# sourceMappingURL=.*$||' "$dst/bootstrap/bootstrap.bundle.min.js"

node -e '
const fs = require("fs");
const v = n => JSON.parse(fs.readFileSync(`node_modules/${n}/package.json`)).version;
fs.writeFileSync(process.argv[1], JSON.stringify({bootstrap: v("bootstrap"), "htmx.org": v("htmx.org")}, null, 2) + "\n");
' "$dst/VERSIONS.json"
echo "vendor-ui: $(tr -d '\n ' < "$dst/VERSIONS.json") -> $dst"

# The sums the Go test checks the vendored files against (internal/web/ui/vendor_test.go).
(cd internal/web/ui/static && find vendor -type f ! -name SHA256SUMS | sort | xargs sha256sum) >"$dst/SHA256SUMS"
