package events

import (
	"go/ast"
	"go/parser"
	"go/token"
	"sort"
	"strings"
	"testing"

	"github.com/sockhop/sockhop/internal/testutil"
)

// closeConsts lists the Close* constants of close.go with their compiled values;
// TestCloseCodesDeclared checks that it names every one.
var closeConsts = map[string]int{
	"CloseNormal":             CloseNormal,
	"CloseGoingAway":          CloseGoingAway,
	"CloseProtocolError":      CloseProtocolError,
	"CloseUnsupportedData":    CloseUnsupportedData,
	"CloseNoStatus":           CloseNoStatus,
	"CloseAbnormal":           CloseAbnormal,
	"CloseInvalidPayload":     CloseInvalidPayload,
	"ClosePolicyViolation":    ClosePolicyViolation,
	"CloseTooBig":             CloseTooBig,
	"CloseInternalError":      CloseInternalError,
	"CloseTryAgainLater":      CloseTryAgainLater,
	"CloseHandshakeTimeout":   CloseHandshakeTimeout,
	"CloseHeartbeatTimeout":   CloseHeartbeatTimeout,
	"CloseReplaced":           CloseReplaced,
	"CloseAuthExpired":        CloseAuthExpired,
	"CloseUnsupportedVersion": CloseUnsupportedVersion,
	"CloseUnauthorized":       CloseUnauthorized,
	"CloseRejected":           CloseRejected,
	"CloseKicked":             CloseKicked,
}

// TestCloseCodesDeclared checks that closeConsts names exactly the Close* constants that
// close.go declares, so that a constant added there is checked against the table too.
func TestCloseCodesDeclared(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "close.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
			for _, s := range g.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					if strings.HasPrefix(n.Name, "Close") {
						declared = append(declared, n.Name)
					}
				}
			}
		}
	}
	var listed []string
	for n := range closeConsts {
		listed = append(listed, n)
	}
	sort.Strings(declared)
	sort.Strings(listed)
	if strings.Join(declared, " ") != strings.Join(listed, " ") {
		t.Fatalf("close.go declares %v, the test lists %v", declared, listed)
	}
}

// TestCloseCodesTable checks the constants and Reconnect against close-codes.json: every
// code of the table is a constant of that name and value, every constant is in the table,
// and Reconnect answers as the table says for every listed code and every code of a range.
func TestCloseCodesTable(t *testing.T) {
	tab := testutil.ReadCloseTable(t)
	inTable := map[string]bool{}
	for _, c := range tab.Codes {
		inTable[c.Name] = true
		v, ok := closeConsts[c.Name]
		switch {
		case !ok:
			t.Errorf("table code %d %s: no constant events.%s", c.Code, c.Name, c.Name)
		case v != c.Code:
			t.Errorf("events.%s = %d, the table says %d", c.Name, v, c.Code)
		}
		if got := Reconnect(c.Code); got != c.Reconnect {
			t.Errorf("Reconnect(%d) = %v, the table says %v", c.Code, got, c.Reconnect)
		}
	}
	for n, v := range closeConsts {
		if !inTable[n] {
			t.Errorf("events.%s (%d) is not in close-codes.json", n, v)
		}
	}
	prev := 3999
	for _, r := range tab.Ranges {
		if r.From != prev+1 || r.To < r.From {
			t.Errorf("range %d-%d does not follow %d", r.From, r.To, prev)
		}
		prev = r.To
		if r.Owner != "sockhop" && r.Owner != "app" {
			t.Errorf("range %d-%d: owner %q", r.From, r.To, r.Owner)
		}
		for code := r.From; code <= r.To; code++ {
			if got := Reconnect(code); got != r.Reconnect {
				t.Fatalf("Reconnect(%d) = %v, range %d-%d says %v", code, got, r.From, r.To, r.Reconnect)
			}
		}
		for _, c := range tab.Codes {
			if c.Code >= r.From && c.Code <= r.To && (r.Owner != "sockhop" || c.Reconnect != r.Reconnect) {
				t.Errorf("code %d does not fit its range %d-%d (%s, reconnect %v)", c.Code, r.From, r.To, r.Owner, r.Reconnect)
			}
		}
	}
	if prev != 4999 {
		t.Errorf("the ranges end at %d, not 4999", prev)
	}
	// PROTOCOL.md §5: a code in 1000–3999 that the table does not list means "reconnect".
	listed := map[int]bool{}
	for _, c := range tab.Codes {
		listed[c.Code] = true
	}
	for code := 1000; code < 4000; code++ {
		if !listed[code] && !Reconnect(code) {
			t.Fatalf("Reconnect(%d) = false for a code the table does not list", code)
		}
	}
	for _, h := range tab.HTTP {
		if !listed[h.Close] {
			t.Errorf("HTTP %d: close code %d is not in the table", h.Status, h.Close)
		}
	}
}
