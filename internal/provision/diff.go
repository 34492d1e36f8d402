package provision

import (
	"fmt"
	"io"
	"strings"
)

// Unified writes a unified diff (3 lines of context) turning a into b, with
// the ---/+++ header naming oldName and newName. Equal inputs write
// nothing. The line diff is a longest-common-subsequence table, fine for
// config-sized files; very large inputs are shown as replaced whole.
func Unified(w io.Writer, oldName, newName string, a, b []byte) error {
	if string(a) == string(b) {
		return nil
	}
	al, bl := splitLines(a), splitLines(b)
	ops := lineOps(al, bl)
	if _, err := fmt.Fprintf(w, "--- %s\n+++ %s\n", oldName, newName); err != nil {
		return err
	}
	const ctx = 3
	// Walk ops, gathering hunks of changes with up to ctx lines around.
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start := max(i-ctx, 0)
		end := i
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			// Run of equal lines: does another change follow within 2*ctx?
			j := end
			for j < len(ops) && ops[j].kind == ' ' {
				j++
			}
			if j < len(ops) && j-end <= 2*ctx {
				end = j
				continue
			}
			end = min(end+ctx, len(ops))
			break
		}
		h := ops[start:end]
		aStart, bStart := h[0].ai, h[0].bi
		var aN, bN int
		for _, op := range h {
			if op.kind != '+' {
				aN++
			}
			if op.kind != '-' {
				bN++
			}
		}
		if _, err := fmt.Fprintf(w, "@@ -%s +%s @@\n", hunkRange(aStart, aN), hunkRange(bStart, bN)); err != nil {
			return err
		}
		for _, op := range h {
			if _, err := fmt.Fprintf(w, "%c%s\n", op.kind, op.line); err != nil {
				return err
			}
			if op.noEOL {
				if _, err := io.WriteString(w, "\\ No newline at end of file\n"); err != nil {
					return err
				}
			}
		}
		i = end
	}
	return nil
}

func hunkRange(start, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start) // the line before an insertion
	case 1:
		return fmt.Sprint(start + 1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

type line struct {
	text  string
	noEOL bool
}

func splitLines(b []byte) []line {
	if len(b) == 0 {
		return nil
	}
	s := string(b)
	noEOL := !strings.HasSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\n")
	parts := strings.Split(s, "\n")
	out := make([]line, len(parts))
	for i, p := range parts {
		out[i] = line{text: p}
	}
	out[len(out)-1].noEOL = noEOL
	return out
}

type op struct {
	kind   byte // ' ', '-', '+'
	line   string
	noEOL  bool
	ai, bi int // index of this line (or of the next line) in a and b
}

const maxTable = 4 << 20

func lineOps(a, b []line) []op {
	n, m := len(a), len(b)
	var ops []op
	if n*m > maxTable {
		for i, l := range a {
			ops = append(ops, op{kind: '-', line: l.text, noEOL: l.noEOL, ai: i, bi: 0})
		}
		for j, l := range b {
			ops = append(ops, op{kind: '+', line: l.text, noEOL: l.noEOL, ai: n, bi: j})
		}
		return ops
	}
	// lcs[i][j] is the LCS length of a[i:] and b[j:].
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, op{kind: ' ', line: a[i].text, noEOL: a[i].noEOL, ai: i, bi: j})
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] > lcs[i+1][j]):
			ops = append(ops, op{kind: '+', line: b[j].text, noEOL: b[j].noEOL, ai: i, bi: j})
			j++
		default:
			ops = append(ops, op{kind: '-', line: a[i].text, noEOL: a[i].noEOL, ai: i, bi: j})
			i++
		}
	}
	return ops
}
