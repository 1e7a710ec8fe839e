// Package tsgen generates the TypeScript event map of a sockhop server from its Go source,
// so that the browser client checks event names, payloads and replies at compile time.
//
// It reads the packages it is given (with go/packages and go/types; nothing runs) and finds
// every registration with a constant event name:
//
//	sockhop.On[T](srv, "name", h)             // client → server, data T, reply null
//	sockhop.OnRequest[T, R](srv, "name", h)   // client → server, data T, reply R
//	srv.Handle("name", h)                     // client → server, data and reply unknown
//	sockhop.Emits[T](srv, "name")             // server → client, data T
//	sockhop.EmitsRequest[T, R](srv, "name")   // server → client, data T, the client replies R
//
// and writes a declaration file whose interface Events is the type parameter of the
// client's connect (connect<Events>('/rt')). The command `sockhop gen ts` wraps [Generate]
// for go:generate lines.
//
// # Types
//
// The TypeScript types follow what encoding/json writes and reads: booleans, numbers and
// strings; a struct is an interface of its exported fields under their json tag names
// (fields tagged "-" left out, omitempty and omitzero fields optional, the "string" option
// a string, the fields of untagged embedded structs promoted by Go's rules, those of an
// embedded pointer optional); a pointer is T | null; a slice or an array is T[] ([]byte a
// base64 string inside JSON; as an event's whole data or reply it travels as bytes, so the
// page sends ArrayBuffer | ArrayBufferView | Blob and receives Uint8Array); a map is an object with string keys; time.Time is a string;
// json.RawMessage, interfaces and types with their own MarshalJSON or UnmarshalJSON are
// unknown; a type with MarshalText is a string. A nil slice or map encodes as null, which
// the declarations do not say: initialise them, or tag them omitempty. Every named type
// becomes one declaration (an interface for a struct, a type alias otherwise) named like
// the Go type with its first letter upper-cased, and the package name prefixed when two
// packages have a type of that name. The output is sorted and does not depend on the
// order of the source.
package tsgen

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/tools/go/packages"
)

const sockhopPath = "github.com/sockhop/sockhop"

// Config says where to load the packages from.
type Config struct {
	// Dir is the directory the patterns are relative to. Empty means the current one.
	Dir string
	// Tags are build tags, as in go build -tags.
	Tags []string
}

// Generate loads the packages named by patterns (as for go build: ".", "./...", an import
// path; none means ".") and writes the TypeScript declarations of their events to w. It
// fails without writing when a package does not compile, a registration's event name is
// not a constant, one event is registered with two different types, or a type cannot be
// encoded as JSON (a channel, a function, a complex number).
func Generate(w io.Writer, cfg Config, patterns ...string) error {
	if len(patterns) == 0 {
		patterns = []string{"."}
	}
	pc := &packages.Config{
		Mode: packages.NeedName | packages.NeedTypes | packages.NeedTypesInfo | packages.NeedSyntax,
		Dir:  cfg.Dir,
	}
	if len(cfg.Tags) > 0 {
		pc.BuildFlags = []string{"-tags=" + strings.Join(cfg.Tags, ",")}
	}
	pkgs, err := packages.Load(pc, patterns...)
	if err != nil {
		return fmt.Errorf("tsgen: %w", err)
	}
	var errs []error
	packages.Visit(pkgs, nil, func(p *packages.Package) {
		for _, e := range p.Errors {
			errs = append(errs, e)
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("tsgen: %w", errors.Join(errs...))
	}
	if len(pkgs) == 0 {
		return fmt.Errorf("tsgen: no packages match %s", strings.Join(patterns, " "))
	}
	g := newGen()
	for _, p := range pkgs {
		g.scan(p)
	}
	var buf bytes.Buffer
	g.write(&buf, pkgs)
	if len(g.errs) > 0 {
		return fmt.Errorf("tsgen: %w", errors.Join(g.errs...))
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// event is one registration.
type event struct {
	name        string
	data, reply types.Type // nil: unknown; reply nil with null: null (On); void: Emits
	replyKind   int
	pos         token.Position
}

// Reply kinds.
const (
	replyType    = iota // reply is the type
	replyNull           // On: the ack is null
	replyVoid           // Emits: no reply
	replyUnknown        // Handle
)

type gen struct {
	fset     *token.FileSet
	toServer map[string]event
	toClient map[string]event
	errs     []error

	named map[string]*decl     // by Go type string
	docs  map[token.Pos]string // Go doc comments of types and fields, by the name's position
}

// decl is the declaration of one named Go type.
type decl struct {
	t    *types.Named
	name string // TypeScript name, set by assignNames
}

func newGen() *gen {
	return &gen{toServer: map[string]event{}, toClient: map[string]event{}, named: map[string]*decl{}, docs: map[token.Pos]string{}}
}

func (g *gen) errorf(pos token.Position, format string, args ...any) {
	g.errs = append(g.errs, fmt.Errorf("%s: %s", pos, fmt.Sprintf(format, args...)))
}

// scan finds the registrations in p, and the doc comments of its types and fields.
func (g *gen) scan(p *packages.Package) {
	g.fset = p.Fset
	for _, f := range p.Syntax {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				g.call(p.TypesInfo, n)
			case *ast.GenDecl:
				if n.Tok == token.TYPE && !n.Lparen.IsValid() && len(n.Specs) == 1 && n.Doc != nil {
					g.docs[n.Specs[0].(*ast.TypeSpec).Name.Pos()] = n.Doc.Text()
				}
			case *ast.TypeSpec:
				if doc := cmp.Or(n.Doc, n.Comment); doc != nil {
					g.docs[n.Name.Pos()] = doc.Text()
				}
			case *ast.Field:
				if doc := cmp.Or(n.Doc, n.Comment); doc != nil {
					for _, name := range n.Names {
						g.docs[name.Pos()] = doc.Text()
					}
				}
			}
			return true
		})
	}
}

// jsdoc renders text (a Go comment) as a JSDoc comment at indent, with a new line.
func jsdoc(text, indent string) string {
	text = strings.ReplaceAll(strings.TrimSpace(text), "*/", "*\\/")
	if text == "" {
		return ""
	}
	lines := strings.Split(text, "\n")
	if len(lines) == 1 {
		return indent + "/** " + text + " */\n"
	}
	var b strings.Builder
	b.WriteString(indent + "/**\n")
	for _, l := range lines {
		b.WriteString(strings.TrimRight(indent+" * "+l, " ") + "\n")
	}
	b.WriteString(indent + " */\n")
	return b.String()
}

// call records call when it is a sockhop registration.
func (g *gen) call(info *types.Info, call *ast.CallExpr) {
	fun := ast.Unparen(call.Fun)
	switch x := fun.(type) {
	case *ast.IndexExpr:
		fun = x.X
	case *ast.IndexListExpr:
		fun = x.X
	}
	var id *ast.Ident
	switch x := fun.(type) {
	case *ast.Ident:
		id = x
	case *ast.SelectorExpr:
		id = x.Sel
	default:
		return
	}
	fn, ok := info.Uses[id].(*types.Func)
	if !ok || fn.Pkg() == nil || fn.Pkg().Path() != sockhopPath {
		return
	}
	sig := fn.Type().(*types.Signature)
	method := sig.Recv() != nil
	switch {
	case method && fn.Name() == "Handle" && isServer(sig.Recv().Type()):
	case !method && slices.Contains([]string{"On", "OnRequest", "Emits", "EmitsRequest"}, fn.Name()):
	default:
		return
	}
	pos := g.fset.Position(call.Pos())
	nameArg := 1
	if method {
		nameArg = 0
	}
	if len(call.Args) <= nameArg {
		return
	}
	tv := info.Types[call.Args[nameArg]]
	if tv.Value == nil || tv.Value.Kind() != constant.String {
		g.errorf(pos, "the event name of sockhop.%s is not a constant: the generator cannot see it", fn.Name())
		return
	}
	name := constant.StringVal(tv.Value)
	var targs []types.Type
	if inst, ok := info.Instances[id]; ok {
		for i := range inst.TypeArgs.Len() {
			t := inst.TypeArgs.At(i)
			if hasTypeParam(t) {
				g.errorf(pos, "sockhop.%s(%q) has type %s, a type parameter: the generator needs a concrete type", fn.Name(), name, t)
				return
			}
			targs = append(targs, t)
		}
	}
	ev := event{name: name, pos: pos}
	m := g.toServer
	switch fn.Name() {
	case "Handle":
		ev.replyKind = replyUnknown
	case "On":
		ev.data, ev.replyKind = targs[0], replyNull
	case "OnRequest":
		ev.data, ev.reply = targs[0], targs[1]
	case "Emits":
		ev.data, ev.replyKind, m = targs[0], replyVoid, g.toClient
	case "EmitsRequest":
		ev.data, ev.reply, m = targs[0], targs[1], g.toClient
	}
	if old, dup := m[name]; dup {
		if !sameEvent(old, ev) {
			g.errorf(pos, "event %q is also registered with other types at %s", name, old.pos)
		}
		return
	}
	m[name] = ev
}

func sameEvent(a, b event) bool {
	same := func(x, y types.Type) bool { return (x == nil) == (y == nil) && (x == nil || types.Identical(x, y)) }
	return a.replyKind == b.replyKind && same(a.data, b.data) && same(a.reply, b.reply)
}

func isServer(t types.Type) bool {
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	n, ok := t.(*types.Named)
	return ok && n.Obj().Name() == "Server" && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == sockhopPath
}

func hasTypeParam(t types.Type) bool {
	found := false
	var walk func(types.Type, int)
	walk = func(t types.Type, depth int) {
		if found || depth > 20 {
			return
		}
		switch t := t.(type) {
		case *types.TypeParam:
			found = true
		case *types.Pointer:
			walk(t.Elem(), depth+1)
		case *types.Slice:
			walk(t.Elem(), depth+1)
		case *types.Array:
			walk(t.Elem(), depth+1)
		case *types.Map:
			walk(t.Key(), depth+1)
			walk(t.Elem(), depth+1)
		case *types.Named:
			for i := range t.TypeArgs().Len() {
				walk(t.TypeArgs().At(i), depth+1)
			}
		case *types.Struct:
			for i := range t.NumFields() {
				walk(t.Field(i).Type(), depth+1)
			}
		}
	}
	walk(t, 0)
	return found
}

// write renders the events and every named type they reach.
func (g *gen) write(w *bytes.Buffer, pkgs []*packages.Package) {
	// First pass: collect the named types, to give them unique names.
	for _, m := range []map[string]event{g.toServer, g.toClient} {
		for _, ev := range m {
			for _, t := range []types.Type{ev.data, ev.reply} {
				if t != nil {
					g.collect(t, ev.pos, map[types.Type]bool{})
				}
			}
		}
	}
	if len(g.errs) > 0 {
		return
	}
	g.assignNames()

	var paths []string
	for _, p := range pkgs {
		paths = append(paths, p.PkgPath)
	}
	slices.Sort(paths)
	fmt.Fprintf(w, "// Code generated by \"sockhop gen ts\" from %s; DO NOT EDIT.\n\n", strings.Join(paths, ", "))
	w.WriteString("/**\n * The events of the sockhop server, the type parameter of connect: connect<Events>(url).\n */\n")
	w.WriteString("export interface Events {\n")
	w.WriteString("  /** Events the client emits, by name: the server's handlers (sockhop.On, OnRequest, Handle). */\n")
	g.writeEvents(w, "toServer", g.toServer)
	w.WriteString("  /** Events the server emits, by name (sockhop.Emits, EmitsRequest). */\n")
	g.writeEvents(w, "toClient", g.toClient)
	w.WriteString("}\n")

	decls := make([]*decl, 0, len(g.named))
	for _, d := range g.named {
		decls = append(decls, d)
	}
	slices.SortFunc(decls, func(a, b *decl) int { return strings.Compare(a.name, b.name) })
	for _, d := range decls {
		doc := "Go type " + qualified(d.t) + "."
		if text := g.docs[d.t.Obj().Pos()]; text != "" {
			doc = strings.TrimSpace(text) + "\n\n" + doc
		}
		w.WriteString("\n" + jsdoc(doc, ""))
		u := d.t.Underlying()
		if st, ok := u.(*types.Struct); ok && !g.special(d.t) {
			fmt.Fprintf(w, "export interface %s %s\n", d.name, g.structType(st, 0))
		} else {
			fmt.Fprintf(w, "export type %s = %s;\n", d.name, g.tsUnder(d.t, 0))
		}
	}
}

func (g *gen) writeEvents(w *bytes.Buffer, key string, m map[string]event) {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		fmt.Fprintf(w, "  %s: {};\n", key)
		return
	}
	fmt.Fprintf(w, "  %s: {\n", key)
	for _, n := range names {
		ev := m[n]
		// What the page sends: toServer data and toClient replies; it receives the others.
		sends := key == "toServer"
		data := "unknown"
		if ev.data != nil {
			data = g.payload(ev.data, sends, 2)
		}
		var reply string
		switch ev.replyKind {
		case replyType:
			reply = g.payload(ev.reply, !sends, 2)
		case replyNull:
			reply = "null"
		case replyVoid:
			reply = "void"
		default:
			reply = "unknown"
		}
		if strings.Contains(data+reply, "\n") {
			data, reply = g.eventType(ev.data, sends, "unknown"), g.eventType(ev.reply, !sends, reply)
			fmt.Fprintf(w, "    %s: {\n      data: %s;\n      reply: %s;\n    };\n", propName(n), data, reply)
			continue
		}
		fmt.Fprintf(w, "    %s: { data: %s; reply: %s };\n", propName(n), data, reply)
	}
	w.WriteString("  };\n")
}

// eventType is the TypeScript of t in a multi-line event entry, or def when t is nil.
func (g *gen) eventType(t types.Type, sent bool, def string) string {
	if t == nil {
		return def
	}
	return g.payload(t, sent, 3)
}

// byteSlice is []byte, the one payload type that travels as a binary message.
var byteSlice = types.NewSlice(types.Typ[types.Uint8])

// payload is the TypeScript of an event's data or reply t. A []byte travels as bytes (a
// binary message, README "Binary payloads"): the page sends it as any binary value the
// client takes and receives it as a Uint8Array. Any other type is its JSON.
func (g *gen) payload(t types.Type, sent bool, indent int) string {
	if types.Identical(types.Unalias(t), byteSlice) {
		if sent {
			return "ArrayBuffer | ArrayBufferView | Blob"
		}
		return "Uint8Array"
	}
	return g.ts(t, indent)
}

// special reports whether t has a fixed encoding that is not its structure.
func (g *gen) special(t types.Type) bool {
	_, ok := specialType(t)
	return ok
}

// specialType returns the TypeScript of types encoded otherwise than by their structure.
func specialType(t types.Type) (string, bool) {
	t = types.Unalias(t)
	if _, ok := t.(*types.Pointer); ok {
		return "", false // T | null, by T's encoding
	}
	if n, ok := t.(*types.Named); ok && n.Obj().Pkg() != nil {
		switch n.Obj().Pkg().Path() + "." + n.Obj().Name() {
		case "time.Time":
			return "string", true
		case "encoding/json.RawMessage":
			return "unknown", true
		case "encoding/json.Number":
			return "number", true
		}
	}
	switch {
	case hasMethod(t, "MarshalJSON") || hasMethod(t, "UnmarshalJSON"):
		return "unknown", true
	case hasMethod(t, "MarshalText") || hasMethod(t, "UnmarshalText"):
		return "string", true
	}
	return "", false
}

func hasMethod(t types.Type, name string) bool {
	if types.IsInterface(t) {
		return false
	}
	if _, ok := t.(*types.Pointer); !ok {
		t = types.NewPointer(t) // *T has T's methods too
	}
	obj, _, _ := types.LookupFieldOrMethod(t, true, nil, name)
	_, ok := obj.(*types.Func)
	return ok
}

// collect records the named types reachable from t.
func (g *gen) collect(t types.Type, pos token.Position, seen map[types.Type]bool) {
	t = types.Unalias(t)
	if seen[t] {
		return
	}
	seen[t] = true
	if _, ok := specialType(t); ok {
		return
	}
	switch t := t.(type) {
	case *types.Named:
		if t.Obj().Pkg() != nil { // not error
			key := types.TypeString(t, nil)
			if _, ok := g.named[key]; !ok {
				g.named[key] = &decl{t: t}
			}
		}
		g.collect(t.Underlying(), pos, seen)
	case *types.Pointer:
		g.collect(t.Elem(), pos, seen)
	case *types.Slice:
		g.collect(t.Elem(), pos, seen)
	case *types.Array:
		g.collect(t.Elem(), pos, seen)
	case *types.Map:
		g.collect(t.Elem(), pos, seen)
		if !validKey(t.Key()) {
			g.errorf(pos, "map key type %s cannot be encoded as JSON", t.Key())
		}
	case *types.Struct:
		for _, f := range g.fields(t) {
			g.collect(f.t, pos, seen)
		}
	case *types.Basic:
		if t.Info()&types.IsComplex != 0 || t.Kind() == types.UnsafePointer {
			g.errorf(pos, "type %s cannot be encoded as JSON", t)
		}
	case *types.Chan, *types.Signature:
		g.errorf(pos, "type %s cannot be encoded as JSON", t)
	}
}

func validKey(t types.Type) bool {
	if hasMethod(t, "MarshalText") {
		return true
	}
	b, ok := t.Underlying().(*types.Basic)
	return ok && b.Info()&(types.IsString|types.IsInteger) != 0
}

// assignNames gives every named type a unique TypeScript name.
func (g *gen) assignNames() {
	byName := map[string][]*decl{}
	for _, d := range g.named {
		n := baseName(d.t)
		byName[n] = append(byName[n], d)
	}
	used := map[string]bool{}
	for _, n := range reserved {
		used[n] = true
	}
	var names []string
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		ds := byName[n]
		slices.SortFunc(ds, func(a, b *decl) int {
			return cmp.Compare(types.TypeString(a.t, nil), types.TypeString(b.t, nil))
		})
		for _, d := range ds {
			name := n
			if len(ds) > 1 || used[name] {
				name = pkgName(d.t.Obj().Pkg()) + n
			}
			for i := 2; used[name]; i++ {
				name = fmt.Sprintf("%s%s%d", pkgName(d.t.Obj().Pkg()), n, i)
			}
			used[name] = true
			d.name = name
		}
	}
}

// pkgName is the name of p that prefixes its types' when names clash: the package name,
// the directory's for a main package.
func pkgName(p *types.Package) string {
	name := p.Name()
	if name == "main" {
		name = p.Path()[strings.LastIndex(p.Path(), "/")+1:]
	}
	return export(ident(name))
}

// reserved are the names a declaration does not take, to leave the generated file's own
// and the usual global ones (Record, Date, Symbol…) alone: a type named so gets its
// package's name in front.
var reserved = []string{
	"Events", "Record", "Partial", "Required", "Readonly", "Pick", "Omit",
	"Array", "Boolean", "Date", "Error", "Function", "JSON", "Map", "Math", "Number", "Object",
	"Promise", "RegExp", "Set", "String", "Symbol", "BigInt", "Event", "Element", "Node",
	"Blob", "File", "URL", "Request", "Response", "Headers", "Text", "Document", "Window",
}

// baseName is the TypeScript name of a named type before disambiguation: Page[Item] is PageItem.
func baseName(t *types.Named) string {
	var b strings.Builder
	b.WriteString(export(t.Obj().Name()))
	for i := range t.TypeArgs().Len() {
		b.WriteString(export(ident(types.TypeString(t.TypeArgs().At(i), func(*types.Package) string { return "" }))))
	}
	return b.String()
}

// ident keeps the letters and digits of s.
func ident(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' {
			if up {
				r = unicode.ToUpper(r)
			}
			b.WriteRune(r)
			up = false
		} else {
			up = true
		}
	}
	return b.String()
}

func export(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

func qualified(t *types.Named) string {
	return types.TypeString(t, nil)
}

// ts is the TypeScript of t as used in a declaration (named types by name).
func (g *gen) ts(t types.Type, indent int) string {
	t = types.Unalias(t)
	if s, ok := specialType(t); ok {
		return s
	}
	switch t := t.(type) {
	case *types.Named:
		if d, ok := g.named[types.TypeString(t, nil)]; ok {
			return d.name
		}
		return g.tsUnder(t, indent) // error
	}
	return g.tsUnder(t, indent)
}

// tsUnder is the TypeScript of t's structure.
func (g *gen) tsUnder(t types.Type, indent int) string {
	if s, ok := specialType(t); ok {
		return s
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		switch {
		case u.Info()&types.IsBoolean != 0:
			return "boolean"
		case u.Info()&types.IsNumeric != 0:
			return "number"
		case u.Info()&types.IsString != 0:
			return "string"
		}
		return "unknown"
	case *types.Pointer:
		return g.ts(u.Elem(), indent) + " | null"
	case *types.Slice:
		if isByte(u.Elem()) {
			return "string"
		}
		return arrayOf(g.ts(u.Elem(), indent))
	case *types.Array:
		return arrayOf(g.ts(u.Elem(), indent))
	case *types.Map:
		return "{ [key: string]: " + g.ts(u.Elem(), indent) + " }"
	case *types.Struct:
		return g.structType(u, indent)
	case *types.Interface:
		return "unknown"
	}
	return "unknown"
}

func isByte(t types.Type) bool {
	if hasMethod(t, "MarshalJSON") || hasMethod(t, "MarshalText") {
		return false
	}
	b, ok := t.Underlying().(*types.Basic)
	return ok && b.Kind() == types.Uint8
}

func arrayOf(s string) string {
	if strings.ContainsAny(s, " |") && !strings.HasPrefix(s, "{") {
		return "(" + s + ")[]"
	}
	return s + "[]"
}

// field is one JSON field of a struct.
type field struct {
	name     string
	t        types.Type
	pos      token.Pos // of the Go field
	optional bool
	str      bool // the ",string" option
	omitNil  bool // an unnamed pointer with omitempty or omitzero: never null
	index    []int
	tagged   bool
}

// structType renders st as an object type.
func (g *gen) structType(st *types.Struct, indent int) string {
	fs := g.fields(st)
	if len(fs) == 0 {
		return "Record<string, never>"
	}
	pad := strings.Repeat("  ", indent+1)
	var b strings.Builder
	b.WriteString("{\n")
	for _, f := range fs {
		t := f.t
		if f.omitNil {
			t = t.(*types.Pointer).Elem()
		}
		ts := g.ts(t, indent+1)
		if f.str {
			ts = stringOption(t, ts)
		}
		opt := ""
		if f.optional {
			opt = "?"
		}
		b.WriteString(jsdoc(g.docs[f.pos], pad))
		fmt.Fprintf(&b, "%s%s%s: %s;\n", pad, propName(f.name), opt, ts)
	}
	b.WriteString(strings.Repeat("  ", indent) + "}")
	return b.String()
}

// stringOption is the type of a field with the ",string" option: encoding/json quotes
// strings, numbers and booleans (and pointers to them); others are unchanged.
func stringOption(t types.Type, ts string) string {
	null := ""
	if p, ok := t.Underlying().(*types.Pointer); ok {
		t, null = p.Elem(), " | null"
	}
	if _, ok := specialType(t); ok {
		return ts
	}
	if b, ok := t.Underlying().(*types.Basic); ok && b.Info()&(types.IsBoolean|types.IsNumeric|types.IsString) != 0 {
		return "string" + null
	}
	return ts
}

// fields lists the JSON fields of st, as encoding/json's typeFields does: exported fields
// by tag name, untagged embedded structs' fields promoted, the shallowest (then tagged)
// field winning a name and ambiguous names dropped.
func (g *gen) fields(st *types.Struct) []field {
	type level struct {
		st       *types.Struct
		index    []int
		optional bool
	}
	next := []level{{st: st}}
	visited := map[*types.Struct]bool{}
	var out []field
	for len(next) > 0 {
		current := next
		next = nil
		var found []field
		for _, l := range current {
			if visited[l.st] {
				continue
			}
			visited[l.st] = true
			for i := range l.st.NumFields() {
				sf := l.st.Field(i)
				tag := reflect.StructTag(l.st.Tag(i)).Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				ft := sf.Type()
				if sf.Embedded() {
					t := ft
					if p, ok := t.Underlying().(*types.Pointer); ok {
						t = p.Elem()
					}
					if !sf.Exported() && !isStruct(t) {
						continue
					}
				} else if !sf.Exported() {
					continue
				}
				index := append(slices.Clip(l.index), i)
				optional := l.optional || hasOpt(opts, "omitempty") || hasOpt(opts, "omitzero")
				if name != "" || !sf.Embedded() || !isStruct(derefType(ft)) || g.special(ft) {
					if name == "" {
						name = sf.Name()
					}
					_, isPtr := ft.(*types.Pointer)
					found = append(found, field{
						name: name, t: ft, pos: sf.Pos(), optional: optional, str: hasOpt(opts, "string"),
						omitNil: isPtr && (hasOpt(opts, "omitempty") || hasOpt(opts, "omitzero")),
						index:   index, tagged: tag != "" && strings.Split(tag, ",")[0] != "",
					})
					continue
				}
				// Untagged embedded struct: its fields one level down.
				_, isPtr := ft.Underlying().(*types.Pointer)
				next = append(next, level{st: derefType(ft).Underlying().(*types.Struct), index: index, optional: l.optional || isPtr})
			}
		}
		// Names already taken at a shallower depth hide these.
		taken := map[string]bool{}
		for _, f := range out {
			taken[f.name] = true
		}
		byName := map[string][]field{}
		for _, f := range found {
			byName[f.name] = append(byName[f.name], f)
		}
		for _, f := range found {
			if taken[f.name] {
				continue
			}
			fs := byName[f.name]
			if len(fs) > 1 {
				var tagged []field
				for _, x := range fs {
					if x.tagged {
						tagged = append(tagged, x)
					}
				}
				if len(tagged) != 1 {
					taken[f.name] = true // ambiguous: dropped
					out = append(out, field{name: f.name, t: nil})
					continue
				}
				f = tagged[0]
			}
			taken[f.name] = true
			out = append(out, f)
		}
	}
	kept := out[:0]
	for _, f := range out {
		if f.t != nil {
			kept = append(kept, f)
		}
	}
	slices.SortStableFunc(kept, func(a, b field) int { return slices.Compare(a.index, b.index) })
	return slices.CompactFunc(kept, func(a, b field) bool { return a.name == b.name })
}

func derefType(t types.Type) types.Type {
	if p, ok := t.Underlying().(*types.Pointer); ok {
		return p.Elem()
	}
	return t
}

func isStruct(t types.Type) bool {
	_, ok := t.Underlying().(*types.Struct)
	return ok
}

func hasOpt(opts, name string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == name {
			return true
		}
	}
	return false
}

// propName is name as a TypeScript property name, quoted unless it is an identifier.
func propName(name string) string {
	ok := name != ""
	for i, r := range name {
		if !(r == '_' || r == '$' || unicode.IsLetter(r) || i > 0 && unicode.IsDigit(r)) || r > unicode.MaxASCII {
			ok = false
			break
		}
	}
	if ok {
		return name
	}
	return strconv.Quote(name)
}
