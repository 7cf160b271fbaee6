// Package headergen generates the Encode, Decode and fields methods of the
// header types in package header from their struct tags, which are the one
// schema of each header. The header package's gen.go runs it (go generate),
// and a test there checks that headers_gen.go is current.
package headergen

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Output is the name of the generated file.
const Output = "headers_gen.go"

type field struct {
	goName   string
	goType   string // string, int32, int64, bool, Opt[int32], Opt[int64]
	name, v2 string
	required bool
}

type header struct {
	name   string
	fields []field
	v2     bool
}

// Generate parses the non-test Go files of dir (except Output) and returns the
// formatted source of Output for every struct type with `header:"..."` tags.
func Generate(dir string) ([]byte, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	fset := token.NewFileSet()
	var hs []header
	var sources []string
	for _, path := range names {
		base := filepath.Base(path)
		if strings.HasSuffix(base, "_test.go") || base == Output {
			continue
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		found, err := headersOf(fset, f)
		if err != nil {
			return nil, err
		}
		if len(found) > 0 {
			sources = append(sources, base)
		}
		hs = append(hs, found...)
	}
	return render(hs, sources)
}

func headersOf(fset *token.FileSet, f *ast.File) ([]header, error) {
	var hs []header
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, spec := range gd.Specs {
			ts := spec.(*ast.TypeSpec)
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			h, ok, err := headerOf(ts.Name.Name, st)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", fset.Position(ts.Pos()), ts.Name.Name, err)
			}
			if ok {
				hs = append(hs, h)
			}
		}
	}
	return hs, nil
}

func headerOf(name string, st *ast.StructType) (header, bool, error) {
	h := header{name: name}
	seen := map[string]bool{}
	for i, fl := range st.Fields.List {
		tagText := ""
		if fl.Tag != nil {
			t, err := strconv.Unquote(fl.Tag.Value)
			if err != nil {
				return h, false, err
			}
			tagText = t
		}
		tag, ok := reflect.StructTag(tagText).Lookup("header")
		if !ok {
			if i == 0 {
				return h, false, nil // not a header type
			}
			return h, false, fmt.Errorf("field %d has no header tag", i)
		}
		if len(fl.Names) != 1 {
			return h, false, fmt.Errorf("field %d: declare one field per line", i)
		}
		f := field{goName: fl.Names[0].Name}
		switch t := fl.Type.(type) {
		case *ast.Ident:
			f.goType = t.Name
		case *ast.IndexExpr:
			if x, ok := t.X.(*ast.Ident); ok && x.Name == "Opt" {
				if arg, ok := t.Index.(*ast.Ident); ok {
					f.goType = "Opt[" + arg.Name + "]"
				}
			}
		}
		switch f.goType {
		case "string", "int32", "int64", "bool", "Opt[int32]", "Opt[int64]":
		default:
			return h, false, fmt.Errorf("field %s: unsupported type", f.goName)
		}
		parts := strings.Split(tag, ",")
		f.name = parts[0]
		for _, p := range parts[1:] {
			switch {
			case p == "required":
				f.required = true
			case strings.HasPrefix(p, "v2="):
				f.v2 = strings.TrimPrefix(p, "v2=")
			default:
				return h, false, fmt.Errorf("field %s: unknown tag option %q", f.goName, p)
			}
		}
		if !validName(f.name) || f.v2 != "" && !validName(f.v2) {
			return h, false, fmt.Errorf("field %s: bad wire name", f.goName)
		}
		if f.required && strings.HasPrefix(f.goType, "Opt[") {
			return h, false, fmt.Errorf("field %s: an Opt field cannot be required", f.goName)
		}
		if i == 0 {
			h.v2 = f.v2 != ""
		} else if h.v2 != (f.v2 != "") {
			return h, false, fmt.Errorf("field %s: either every field has a v2 name or none", f.goName)
		}
		for _, n := range []string{"1" + f.name, "2" + f.v2} {
			if n != "2" && seen[n] {
				return h, false, fmt.Errorf("field %s: duplicate wire name %q", f.goName, n[1:])
			}
			seen[n] = true
		}
		h.fields = append(h.fields, f)
	}
	if len(h.fields) == 0 {
		return h, false, nil
	}
	return h, true, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

var methods = map[string]string{
	"string": "str", "int32": "int32", "int64": "int64", "bool": "bool",
	"Opt[int32]": "optInt32", "Opt[int64]": "optInt64",
}

var kinds = map[string]string{
	"string": "KindString", "int32": "KindInt32", "int64": "KindInt64", "bool": "KindBool",
	"Opt[int32]": "KindInt32", "Opt[int64]": "KindInt64",
}

func render(hs []header, sources []string) ([]byte, error) {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("// Code generated by gen.go from the struct tags of %s; DO NOT EDIT.\n\n", strings.Join(sources, ", "))
	p("package header\n\nimport \"github.com/petrelmq/petrel/pkg/protocol\"\n\n")
	for _, h := range hs {
		lower := strings.ToLower(h.name[:1]) + h.name[1:]
		encode := func(v2 bool) {
			for _, f := range h.fields {
				n := f.name
				if v2 {
					n = f.v2
				}
				switch f.goType {
				case "string":
					p("\te.str(%q, h.%s, %v)\n", n, f.goName, f.required)
				default:
					p("\te.%s(%q, h.%s)\n", methods[f.goType], n, f.goName)
				}
			}
		}
		decode := func(v2 bool) {
			for _, f := range h.fields {
				n := f.name
				if v2 {
					n = f.v2
				}
				if strings.HasPrefix(f.goType, "Opt[") {
					p("\th.%s = d.%s(%q)\n", f.goName, methods[f.goType], n)
				} else {
					p("\th.%s = d.%s(%q, %v)\n", f.goName, methods[f.goType], n, f.required)
				}
			}
		}
		p("// Encode writes h into c.ExtFields; see Header.\n")
		p("func (h %s) Encode(c *protocol.Command) {\n", h.name)
		p("\te := newEncoder(c, %d)\n", len(h.fields))
		if h.v2 {
			p("\tif UsesV2Names(c.RequestCode()) {\n")
			encode(true)
			p("\treturn\n}\n")
		}
		encode(false)
		p("}\n\n")
		p("// Decode reads h from c.ExtFields; see Header.\n")
		p("func (h *%s) Decode(c *protocol.Command) error {\n", h.name)
		p("\td := decoder{ext: c.ExtFields}\n")
		if h.v2 {
			p("\tif UsesV2Names(c.RequestCode()) {\n")
			decode(true)
			p("\treturn d.err\n}\n")
		}
		decode(false)
		p("\treturn d.err\n}\n\n")
		p("func (%s) fields() []Field { return %sFields }\n\n", h.name, lower)
		p("var %sFields = []Field{\n", lower)
		for _, f := range h.fields {
			p("\t{Name: %q, ", f.name)
			if f.v2 != "" {
				p("V2: %q, ", f.v2)
			}
			p("Kind: %s", kinds[f.goType])
			if f.required {
				p(", Required: true")
			}
			if strings.HasPrefix(f.goType, "Opt[") {
				p(", Opt: true")
			}
			p("},\n")
		}
		p("}\n\n")
	}
	p("// allHeaders returns a new value of every header type, for tests.\n")
	p("func allHeaders() []Header {\n\treturn []Header{\n")
	for _, h := range hs {
		p("\t\tnew(%s),\n", h.name)
	}
	p("\t}\n}\n")
	return format.Source(b.Bytes())
}
