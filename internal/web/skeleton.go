package web

import (
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/devmgr/devmgr/internal/auth"
)

// A page is the layout around its content. The layout depends on little
// that changes between requests (the user's name, the form token, the
// session's time left, the title) but executing it is a template's every
// action a reflective call, for every page, every time. So the layout is
// executed once per skeletonKey with markers in those places, cut at the
// markers, and a page is the pieces with the request's values between
// them: byte for byte what executing the layout writes (TestSkeleton),
// as long as each value is one html/template writes as it is (verbatim).
// A request whose values are not, or that has a flash message to show,
// executes the layout.

// The markers: text html/template writes unchanged in every context they
// appear in, and that no template writes otherwise.
const (
	markTitle   = "@devmgr-slot-title@"
	markName    = "@devmgr-slot-name@"
	markCSRF    = "@devmgr-slot-csrf@"
	markContent = "@devmgr-slot-content@"
	// markLeft is an int64 (SessionLeft is one), written in decimal.
	markLeft = 7_301_928_465_019_283_746
)

// slot is what a piece of a skeleton is followed by.
type slot int

const (
	slotNone slot = iota // the last piece
	slotTitle
	slotName
	slotCSRF
	slotLeft
	slotContent
)

// skeletonKey is what a layout's rendering depends on besides the slots'
// values.
type skeletonKey struct {
	nav        string
	me         bool // signed in
	role       auth.Role
	mustChange bool
	csrf       bool // has a form token
	left       bool // has a session's time left
}

// skeleton is the layout for a skeletonKey, cut at its slots.
type skeleton struct {
	pieces []string
	slots  []slot // slots[i] follows pieces[i]; the last is slotNone
	fixed  int    // the pieces' summed length
}

// skeletons is every skeleton rendered so far: a few per page (roles,
// signed in or not), from a fixed set of pages.
type skeletons struct {
	layout *template.Template // the layout, with markContent for content
	m      sync.Map           // skeletonKey → *skeleton
}

func newSkeletons(page *template.Template) (*skeletons, error) {
	t, err := page.Clone()
	if err != nil {
		return nil, err
	}
	if _, err := t.New("content").Parse(markContent); err != nil {
		return nil, err
	}
	return &skeletons{layout: t}, nil
}

// verbatim reports whether html/template writes s as it is in text and
// quoted attributes (its HTML escaper changes NUL, quotes, &, +, < and >).
func verbatim(s string) bool {
	return !strings.ContainsAny(s, "\x00\"'&+<>") && utf8.ValidString(s)
}

// fits reports whether v can be written from a skeleton.
func fits(v *view) bool {
	if len(v.Flash) > 0 || !verbatim(v.Title) || !verbatim(v.CSRF) {
		return false
	}
	return v.Me == nil || verbatim(v.Me.Name)
}

func keyOf(v *view) skeletonKey {
	k := skeletonKey{nav: v.Nav, me: v.Me != nil, csrf: v.CSRF != "", left: v.SessionLeft != 0}
	if v.Me != nil {
		k.role, k.mustChange = v.Me.Role, v.Me.MustChange
	}
	return k
}

// get returns the skeleton for k, rendering it the first time.
func (ss *skeletons) get(k skeletonKey) (*skeleton, error) {
	if sk, ok := ss.m.Load(k); ok {
		return sk.(*skeleton), nil
	}
	v := view{Title: markTitle, Nav: k.nav}
	if k.me {
		v.Me = &identity{Name: markName, Role: k.role, MustChange: k.mustChange}
	}
	if k.csrf {
		v.CSRF = markCSRF
	}
	if k.left {
		v.SessionLeft = markLeft
	}
	var b strings.Builder
	if err := ss.layout.ExecuteTemplate(&b, "layout", v); err != nil {
		return nil, fmt.Errorf("rendering the layout: %w", err)
	}
	sk := cut(b.String())
	ss.m.Store(k, sk)
	return sk, nil
}

// marks are the markers as the layout writes them.
var marks = []struct {
	text string
	slot slot
}{
	{markTitle, slotTitle}, {markName, slotName}, {markCSRF, slotCSRF},
	{strconv.FormatInt(markLeft, 10), slotLeft}, {markContent, slotContent},
}

// cut cuts a layout rendered with markers at them.
func cut(s string) *skeleton {
	sk := &skeleton{}
	for {
		at, which := -1, slotNone
		var mark string
		for _, m := range marks {
			if i := strings.Index(s, m.text); i >= 0 && (at < 0 || i < at) {
				at, which, mark = i, m.slot, m.text
			}
		}
		if at < 0 {
			sk.pieces, sk.slots = append(sk.pieces, s), append(sk.slots, slotNone)
			sk.fixed += len(s)
			return sk
		}
		sk.pieces, sk.slots = append(sk.pieces, s[:at]), append(sk.slots, which)
		sk.fixed += at
		s = s[at+len(mark):]
	}
}

// text is the value of slot sl for v and content; left holds a number's
// digits.
func (sl slot) text(v *view, content []byte, left []byte) ([]byte, string) {
	switch sl {
	case slotTitle:
		return nil, v.Title
	case slotName:
		return nil, v.Me.Name
	case slotCSRF:
		return nil, v.CSRF
	case slotLeft:
		return strconv.AppendInt(left[:0], v.SessionLeft, 10), ""
	case slotContent:
		return content, ""
	}
	return nil, ""
}

// size is the length of the page sk writes for v and content.
func (sk *skeleton) size(v *view, content []byte) int {
	n := sk.fixed
	var left [20]byte
	for _, sl := range sk.slots {
		b, s := sl.text(v, content, left[:])
		n += len(b) + len(s)
	}
	return n
}

// write writes the page for v and content.
func (sk *skeleton) write(w io.Writer, v *view, content []byte) error {
	var left [20]byte
	for i, p := range sk.pieces {
		if _, err := io.WriteString(w, p); err != nil {
			return err
		}
		b, s := sk.slots[i].text(v, content, left[:])
		var err error
		if len(b) > 0 {
			_, err = w.Write(b)
		} else if s != "" {
			_, err = io.WriteString(w, s)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
