package web

import (
	"bytes"
	"strings"
	"testing"

	"github.com/devmgr/devmgr/internal/auth"
)

// TestSkeleton: a page written from the layout's skeleton is byte for
// byte the layout executed, for every page's navigation, every kind of
// user, with and without a form token and a session's time left; values
// html/template would change are not written from a skeleton.
func TestSkeleton(t *testing.T) {
	t.Parallel()
	v, err := parseViews()
	if err != nil {
		t.Fatal(err)
	}
	// The layout around a fixed content, executed whole.
	const content = `<p id="c">content &amp; more: 1+1</p>`
	whole, err := v.pages["users"].Clone() // "error" has run: it cannot be cloned
	if err != nil {
		t.Fatal(err)
	}
	if _, err := whole.New("content").Parse(content); err != nil {
		t.Fatal(err)
	}
	users := []*identity{
		nil,
		{Name: "vera", Role: auth.Viewer},
		{Name: "o.p-e_r8", Role: auth.Operator},
		{Name: "admin", Role: auth.Admin},
		{Name: "admin", Role: auth.Admin, MustChange: true},
	}
	n := 0
	for _, page := range pages {
		for _, me := range users {
			for _, csrf := range []string{"", "Zm9vYmFyLXRva2VuX3h5ei0xMjM0NTY3ODkw"} {
				for _, left := range []int64{0, 1_799_999, -40} {
					vw := view{Title: "Title of " + page, Nav: page, Me: me, CSRF: csrf, SessionLeft: left}
					if !fits(&vw) {
						t.Fatalf("%+v does not fit a skeleton", vw)
					}
					var want bytes.Buffer
					if err := whole.ExecuteTemplate(&want, "layout", vw); err != nil {
						t.Fatal(err)
					}
					sk, err := v.skeletons.get(keyOf(&vw))
					if err != nil {
						t.Fatal(err)
					}
					var got bytes.Buffer
					if err := sk.write(&got, &vw, []byte(content)); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got.Bytes(), want.Bytes()) {
						t.Fatalf("page %s, user %+v, csrf %q, left %d: the skeleton wrote\n%s\nthe layout\n%s", page, me, csrf, left, got.String(), want.String())
					}
					if s := sk.size(&vw, []byte(content)); s != want.Len() {
						t.Errorf("page %s: size %d, the page has %d bytes", page, s, want.Len())
					}
					if strings.Contains(got.String(), "@devmgr-slot") {
						t.Fatalf("page %s: a marker is left:\n%s", page, got.String())
					}
					n++
				}
			}
		}
	}
	t.Logf("%d pages compared", n)

	for _, vw := range []view{
		{Title: "Runs <b>", Nav: "runs"},
		{Title: "Dashboard", Nav: "dashboard", CSRF: `a"b`},
		{Title: "Dashboard", Nav: "dashboard", Me: &identity{Name: "a+b", Role: auth.Viewer}},
		{Title: "Dashboard", Nav: "dashboard", Me: &identity{Name: "x\xffy", Role: auth.Viewer}},
		{Title: "Dashboard", Nav: "dashboard", Flash: []flash{{Kind: "info", Text: "Saved."}}},
	} {
		if fits(&vw) {
			t.Errorf("%+v fits a skeleton; html/template would write it otherwise, or a flash must be shown", vw)
		}
	}
}

// TestSkeletonCut: the pieces and slots of a layout rendered with markers.
func TestSkeletonCut(t *testing.T) {
	t.Parallel()
	sk := cut("<t>" + markTitle + "</t><b data-l=\"7301928465019283746\">" + markName + markCSRF + "|" + markContent + "</b>")
	want := []string{"<t>", `</t><b data-l="`, `">`, "", "|", "</b>"}
	slots := []slot{slotTitle, slotLeft, slotName, slotCSRF, slotContent, slotNone}
	if strings.Join(sk.pieces, "¦") != strings.Join(want, "¦") {
		t.Errorf("pieces %q, want %q", sk.pieces, want)
	}
	for i, sl := range slots {
		if i >= len(sk.slots) || sk.slots[i] != sl {
			t.Errorf("slots %v, want %v", sk.slots, slots)
			break
		}
	}
	vw := view{Title: "T", Me: &identity{Name: "n"}, CSRF: "c", SessionLeft: 42}
	var b bytes.Buffer
	sk.write(&b, &vw, []byte("C"))
	if got := b.String(); got != `<t>T</t><b data-l="42">nc|C</b>` || sk.size(&vw, []byte("C")) != len(got) {
		t.Errorf("wrote %q (size %d)", got, sk.size(&vw, []byte("C")))
	}
}
