package sockhop_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/testutil"
)

// rootCloseConsts are the exported Close* constants of package sockhop, compiled;
// TestCloseCodesRoot checks that it lists every one the package declares.
var rootCloseConsts = map[string]int{
	"CloseNormal":             sockhop.CloseNormal,
	"CloseGoingAway":          sockhop.CloseGoingAway,
	"CloseProtocolError":      sockhop.CloseProtocolError,
	"CloseUnsupportedData":    sockhop.CloseUnsupportedData,
	"CloseAbnormal":           sockhop.CloseAbnormal,
	"CloseInvalidPayload":     sockhop.CloseInvalidPayload,
	"ClosePolicyViolation":    sockhop.ClosePolicyViolation,
	"CloseTooBig":             sockhop.CloseTooBig,
	"CloseInternalError":      sockhop.CloseInternalError,
	"CloseTryAgainLater":      sockhop.CloseTryAgainLater,
	"CloseHandshakeTimeout":   sockhop.CloseHandshakeTimeout,
	"CloseHeartbeatTimeout":   sockhop.CloseHeartbeatTimeout,
	"CloseReplaced":           sockhop.CloseReplaced,
	"CloseAuthExpired":        sockhop.CloseAuthExpired,
	"CloseUnsupportedVersion": sockhop.CloseUnsupportedVersion,
	"CloseUnauthorized":       sockhop.CloseUnauthorized,
	"CloseRejected":           sockhop.CloseRejected,
	"CloseKicked":             sockhop.CloseKicked,
}

// parseRoot parses the package's own (non-test) Go files.
func parseRoot(t *testing.T) (*token.FileSet, map[string]*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*ast.File{}
	for _, e := range entries {
		n := e.Name()
		if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files[n] = f
	}
	return fset, files
}

// TestCloseCodesRoot checks the exported Close* constants of package sockhop against
// close-codes.json: each is a code of the table with the table's name and value, and
// each one in errors.go has the doc comment the table makes of it (so that go doc never
// says something else than the table).
func TestCloseCodesRoot(t *testing.T) {
	tab := testutil.ReadCloseTable(t)
	byName := map[string]int{}
	for i, c := range tab.Codes {
		byName[c.Name] = i
	}
	_, files := parseRoot(t)
	var declared []string
	for name, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for _, n := range vs.Names {
					if !strings.HasPrefix(n.Name, "Close") || !n.IsExported() {
						continue
					}
					declared = append(declared, n.Name)
					i, ok := byName[n.Name]
					if !ok {
						t.Errorf("%s: sockhop.%s is not in close-codes.json", name, n.Name)
						continue
					}
					c := tab.Codes[i]
					if v, ok := rootCloseConsts[n.Name]; ok && v != c.Code {
						t.Errorf("sockhop.%s = %d, the table says %d", n.Name, v, c.Code)
					}
					if sockhop.Reconnects(c.Code) != c.Reconnect {
						t.Errorf("sockhop.Reconnects(%d) = %v, the table says %v", c.Code, !c.Reconnect, c.Reconnect)
					}
					if name != "errors.go" {
						continue
					}
					verdict := "terminal"
					if c.Reconnect {
						verdict = "reconnect"
					}
					want := fmt.Sprintf("%s (%d, %s): %s.", n.Name, c.Code, verdict, c.Meaning)
					if got := strings.TrimSpace(vs.Doc.Text()); got != want {
						t.Errorf("errors.go: the comment of %s is\n\t%s\nthe table makes it\n\t%s", n.Name, got, want)
					}
				}
			}
		}
	}
	var listed []string
	for n := range rootCloseConsts {
		listed = append(listed, n)
	}
	sort.Strings(declared)
	sort.Strings(listed)
	if strings.Join(declared, " ") != strings.Join(listed, " ") {
		t.Errorf("package sockhop declares %v, the test lists %v", declared, listed)
	}
}

// TestCloseCodesAliasFields checks that the doc comments of the aliases sockhop.CloseError
// and sockhop.Error, which go doc shows without the fields of the aliased events types,
// list exactly those fields with their types, in order.
func TestCloseCodesAliasFields(t *testing.T) {
	fset := token.NewFileSet()
	fields := map[string][]string{} // events type -> "Name Type" of each field
	for _, file := range []string{"events/close.go", "events/events.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return false
			}
			for _, fl := range st.Fields.List {
				var typ strings.Builder
				_ = printer.Fprint(&typ, fset, fl.Type)
				ty := typ.String()
				if strings.HasPrefix(ty, "*") && ast.IsExported(strings.TrimPrefix(ty, "*")) {
					ty = "*events." + strings.TrimPrefix(ty, "*")
				}
				for _, nm := range fl.Names {
					fields[ts.Name.Name] = append(fields[ts.Name.Name], nm.Name+" "+ty)
				}
			}
			return false
		})
	}
	_, files := parseRoot(t)
	aliases := map[string]string{"CloseError": "CloseError", "Error": "ErrorBody"}
	found := 0
	for _, d := range files["errors.go"].Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.TYPE {
			continue
		}
		for _, s := range g.Specs {
			ts := s.(*ast.TypeSpec)
			target, ok := aliases[ts.Name.Name]
			if !ok {
				continue
			}
			found++
			if !ts.Assign.IsValid() {
				t.Errorf("sockhop.%s is no longer an alias: update this test", ts.Name.Name)
				continue
			}
			want := fields[target]
			got := docStructFields(g.Doc.Text(), ts.Name.Name)
			if strings.Join(got, "; ") != strings.Join(want, "; ") {
				t.Errorf("the comment of sockhop.%s lists the fields\n\t%v\nevents.%s has\n\t%v", ts.Name.Name, got, target, want)
			}
		}
	}
	if found != len(aliases) {
		t.Errorf("found %d of the aliases %v in errors.go", found, aliases)
	}
}

// docStructFields returns "Name Type" of each field of the "type name struct {…}" block
// in a doc comment.
func docStructFields(doc, name string) []string {
	var out []string
	in := false
	for _, l := range strings.Split(doc, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "type "+name+" struct {":
			in = true
		case in && l == "}":
			return out
		case in:
			if f := strings.Fields(l); len(f) >= 2 {
				out = append(out, f[0]+" "+f[1])
			}
		}
	}
	return out
}

// mdTable returns the rows of the one table of PROTOCOL.md whose header is header, each
// row its cells with spaces and backticks trimmed.
func mdTable(t *testing.T, doc, header string) [][]string {
	t.Helper()
	if n := strings.Count(doc, "\n"+header+"\n"); n != 1 {
		t.Fatalf("PROTOCOL.md has %d tables with the header %q, want 1", n, header)
	}
	sc := bufio.NewScanner(strings.NewReader(doc[strings.Index(doc, "\n"+header+"\n")+1:]))
	sc.Scan() // header
	sc.Scan() // |---|
	var rows [][]string
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "|") {
			break
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		for i, c := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(c), "`")
		}
		rows = append(rows, cells)
	}
	return rows
}

// TestProtocolCloseCodes checks PROTOCOL.md §5's tables (ranges, close codes, HTTP
// refusals, client actions) row by row against close-codes.json.
func TestProtocolCloseCodes(t *testing.T) {
	tab := testutil.ReadCloseTable(t)
	b, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	check := func(what string, got [][]string, want [][]string) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("PROTOCOL.md's %s table has %d rows, close-codes.json %d", what, len(got), len(want))
		}
		for i := range min(len(got), len(want)) {
			if strings.Join(got[i], " | ") != strings.Join(want[i], " | ") {
				t.Errorf("PROTOCOL.md's %s table, row %d:\n\t%s\nclose-codes.json says\n\t%s", what, i+1, strings.Join(got[i], " | "), strings.Join(want[i], " | "))
			}
		}
	}
	var want [][]string
	for _, r := range tab.Ranges {
		want = append(want, []string{strconv.Itoa(r.From), strconv.Itoa(r.To), r.Owner, yes(r.Reconnect)})
	}
	check("ranges", mdTable(t, doc, "| from | to | owner | reconnect |"), want)
	want = nil
	for _, c := range tab.Codes {
		want = append(want, []string{strconv.Itoa(c.Code), c.Name, yes(c.Reconnect), c.Meaning})
	}
	check("close codes", mdTable(t, doc, "| code | name | reconnect | meaning |"), want)
	want = nil
	for _, h := range tab.HTTP {
		want = append(want, []string{strconv.Itoa(h.Status), strconv.Itoa(h.Close), h.Client, h.Meaning})
	}
	check("HTTP refusals", mdTable(t, doc, "| status | close | client | meaning |"), want)
	want = nil
	var actions []string
	for a := range tab.ClientActions {
		actions = append(actions, a)
	}
	sort.Strings(actions)
	for _, a := range actions {
		want = append(want, []string{a, tab.ClientActions[a]})
	}
	check("client actions", mdTable(t, doc, "| client | what it does |"), want)
}

// The tests below pin down what PROTOCOL.md says of the wire, on a real server, where
// reading the code left room for doubt.

// TestProtocolHeartbeat: the server drops a transport when no frame arrived within `pong`
// ms of its ping (not after `ping`+`pong` ms of silence), with 4001 and no close message;
// on SockJS, receiving requests (polls, streams) do not count as frames.
func TestProtocolHeartbeat(t *testing.T) {
	const ping, pong = time.Second, 250 * time.Millisecond
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url := testServer(t, sockhop.Options{PingInterval: ping, PongTimeout: pong}, nil)
		c := dialRaw(t, url, tr, nil)
		c.handshake()
		time.Sleep(ping * 4 / 10)
		c.send(`{"t":"ping"}`) // a frame 400ms before the server's ping
		var pinged time.Time
		for {
			frame, err := c.ReadFrame()
			if err != nil {
				if pinged.IsZero() {
					t.Fatalf("closed before the server's ping: %v", err)
				}
				if code := events.CloseCode(err); code != sockhop.CloseHeartbeatTimeout {
					t.Fatalf("closed with %v (code %d), want 4001", err, code)
				}
				// pong after the ping: ~250ms; ping+pong after the last frame: ~650ms.
				if d := time.Since(pinged); d > 550*time.Millisecond {
					t.Errorf("closed %v after the ping, want about the pong timeout %v", d, pong)
				}
				return
			}
			_ = events.Lines(frame, func(l []byte) error {
				m, err := events.Decode(l)
				switch {
				case err != nil:
					t.Fatalf("bad message %q", l)
				case m.T == events.TypePing && pinged.IsZero():
					pinged = time.Now()
				case m.T == events.TypeClose:
					t.Errorf("a close message %s before a heartbeat timeout", l)
				}
				return nil
			})
		}
	})
}

// TestProtocolSubprotocol: the sockhop.v1 subprotocol is not required: an upgrade that
// offers none, or only others, is accepted and answered without Sec-WebSocket-Protocol.
func TestProtocolSubprotocol(t *testing.T) {
	_, url := testServer(t, sockhop.Options{}, nil)
	wsURL := "ws" + strings.TrimPrefix(url, "http") + "/ws"
	for _, offer := range [][]string{nil, {"sockhop.v1"}, {"other", "sockhop.v1"}, {"other"}} {
		d := websocket.Dialer{Subprotocols: offer}
		c, resp, err := d.Dial(wsURL, nil)
		if err != nil {
			t.Fatalf("offer %v: %v", offer, err)
		}
		want := ""
		if slices.Contains(offer, "sockhop.v1") {
			want = "sockhop.v1"
		}
		if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != want || c.Subprotocol() != want {
			t.Errorf("offer %v: answered %q, want %q", offer, got, want)
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"t":"hello","v":1}`))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, p, err := c.ReadMessage()
		if err != nil || !strings.Contains(string(p), `"t":"welcome"`) {
			t.Errorf("offer %v: %q %v, want a welcome", offer, p, err)
		}
		_ = c.Close()
	}
}

// TestProtocolSockJSRequests: the SockJS request rules of PROTOCOL.md §7, by hand on
// xhr-polling: xhr_send before the first receiving request is 404; ?p= and ?s= may be
// left out; a second receiving request while one is held gets c[2010]; repeating a ?p=
// number ends the transport with c[1006]; an xhr_send after the transport ended is 404.
func TestProtocolSockJSRequests(t *testing.T) {
	_, url := testServer(t, sockhop.Options{}, nil)
	base := url + "/sockjs/123/protocoltest01"
	post := func(path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		req.Header.Set("X-Sockhop-Key", someKey) // the session's key (PROTOCOL.md §7)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	hello := `["{\"t\":\"hello\",\"v\":1}"]`
	if st, _ := post("/xhr_send", hello); st != http.StatusNotFound {
		t.Errorf("xhr_send before any receiving request: %d, want 404", st)
	}
	if st, b := post("/xhr", ""); st != 200 || b != "o\n" {
		t.Fatalf("first poll: %d %q, want o", st, b)
	}
	if st, _ := post("/xhr_send", hello); st != http.StatusNoContent {
		t.Fatalf("hello without ?s=: %d", st)
	}
	if _, b := post("/xhr", ""); !strings.Contains(b, `welcome`) {
		t.Fatalf("poll without ?p=: %q, want the welcome", b)
	}
	// A second receiving request while one is held gets c[2010]. The held one (p=5) must
	// reach the server first: p=6 goes once p=5 is written out and a second has passed (on
	// a loaded machine 300 ms were once not enough, and p=6 was held instead).
	held := make(chan string, 1)
	wrote := make(chan struct{})
	go func() {
		trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { close(wrote) }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodPost, base+"/xhr?p=5", nil)
		req.Header.Set("X-Sockhop-Key", someKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			held <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		held <- string(b)
	}()
	select {
	case <-wrote:
	case b := <-held:
		t.Fatalf("the held poll ended at once: %q", b)
	}
	time.Sleep(time.Second)
	if _, b := post("/xhr?p=6", ""); b != "c[2010,\"Another connection still open\"]\n" {
		other := "(still held)"
		select {
		case other = <-held:
		case <-time.After(100 * time.Millisecond):
		}
		t.Fatalf("second poll: %q, want c[2010]; the first poll got %q", b, other)
	}
	if st, _ := post("/xhr_send?s=1", `["{\"t\":\"ping\"}"]`); st != http.StatusNoContent {
		t.Fatalf("xhr_send: %d", st)
	}
	if b := <-held; !strings.Contains(b, `pong`) {
		t.Fatalf("held poll: %q, want the pong", b)
	}
	if _, b := post("/xhr?p=6", ""); b != "c[1006,\"receive request retried\"]\n" {
		t.Fatalf("a repeated ?p=: %q, want c[1006,\"receive request retried\"]", b)
	}
	if st, _ := post("/xhr_send?s=2", `["{\"t\":\"ping\"}"]`); st != http.StatusNotFound {
		t.Errorf("xhr_send after the transport ended: %d, want 404", st)
	}
}

// TestProtocolUnsolicitedPong: the pong that reports r after 32 counted messages comes
// once per frame received, with r counting the whole frame, not once per 32 messages.
func TestProtocolUnsolicitedPong(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url := testServer(t, sockhop.Options{}, nil)
		c := dialRaw(t, url, tr, nil)
		c.handshake()
		frame := strings.TrimSuffix(strings.Repeat(`{"t":"ev","n":"nobody"}`+"\n", 100), "\n")
		c.send(frame)
		m, err := c.nextTimeout(5 * time.Second)
		if err != nil || m.T != events.TypePong || m.R != 100 {
			t.Fatalf("after a frame of 100 events: %+v %v, want one pong with r 100", m, err)
		}
		c.send(`{"t":"ping"}`) // the answer comes after any second unsolicited pong
		if m, err := c.nextTimeout(5 * time.Second); err != nil || m.T != events.TypePong || m.R != 100 {
			t.Fatalf("next: %+v %v, want the answer to the ping (no second unsolicited pong)", m, err)
		}
	})
}

// TestProtocolAckWithoutData: an ack that carries neither d nor e is a reply of null,
// and a handler's nil reply goes out as such an ack.
func TestProtocolAckWithoutData(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		type result struct {
			data json.RawMessage
			err  error
		}
		got := make(chan result, 1)
		_, url := testServer(t, sockhop.Options{}, func(srv *sockhop.Server) {
			srv.Handle("nil", func(ctx context.Context, s *sockhop.Session, _ json.RawMessage) (any, error) {
				return nil, nil
			})
			srv.Handle("ask", func(ctx context.Context, s *sockhop.Session, _ json.RawMessage) (any, error) {
				go func() {
					d, err := s.EmitWithAck(ctx, "question", nil)
					got <- result{d, err}
				}()
				return nil, nil
			})
		})
		c := dialRaw(t, url, tr, nil)
		c.handshake()
		c.send(`{"t":"ev","n":"nil","id":1}`)
		m, err := c.nextTimeout(5 * time.Second)
		if err != nil || m.T != events.TypeAck || m.ID != 1 || m.Data != nil || m.Err != nil {
			t.Fatalf("reply to a nil handler: %+v %v, want an ack with neither d nor e", m, err)
		}
		c.send(`{"t":"ev","n":"ask"}`)
		q, err := c.nextTimeout(5 * time.Second)
		if err != nil || q.T != events.TypeEvent || q.Name != "question" || q.ID == 0 {
			t.Fatalf("%+v %v, want the server's question", q, err)
		}
		c.send(fmt.Sprintf(`{"t":"ack","id":%d}`, q.ID))
		select {
		case r := <-got:
			if r.err != nil || (r.data != nil && string(r.data) != "null") {
				t.Errorf("EmitWithAck answered by an ack without d: %q %v, want null", r.data, r.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("EmitWithAck did not return")
		}
	})
}

// TestProtocolCloseFrameIsADrop: on WebSocket, a client's close frame without a close
// message before it is a drop (the session waits for a resume), except with the codes of
// a broken rule; the close message ends the session.
func TestProtocolCloseFrameIsADrop(t *testing.T) {
	for _, tc := range []struct {
		name    string
		message bool
		code    int
		ends    bool
	}{
		{"frame 1000", false, 1000, false},
		{"frame 1001", false, 1001, false},
		{"frame 1002", false, 1002, true},
		{"frame 1009", false, 1009, true},
		{"message and frame 1000", true, 1000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, url := testServer(t, sockhop.Options{}, nil)
			c := dialRaw(t, url, client.WebSocket, nil)
			sid := c.handshake().SID
			if tc.message {
				c.send(fmt.Sprintf(`{"t":"close","code":%d}`, tc.code))
			}
			_ = c.Close(tc.code, "")
			deadline := time.Now().Add(5 * time.Second)
			for {
				s := srv.Session(sid)
				ended := s == nil || s.Err() != nil
				if ended != tc.ends && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				if ended != tc.ends {
					t.Fatalf("session ended: %v, want %v", ended, tc.ends)
				}
				break
			}
			if !tc.ends {
				time.Sleep(200 * time.Millisecond) // and it stays
				if s := srv.Session(sid); s == nil || s.Err() != nil {
					t.Fatal("the session ended after a close frame without a close message")
				}
			}
		})
	}
}
