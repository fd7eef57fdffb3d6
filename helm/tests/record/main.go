// Command record runs a table of templates through Go's text/template and records the output
// or the error of each, for helm-rs's conformance test (helm/tests/conformance.rs).
//
//	cd helm/tests/record && go run . ../data/text_template_cases.json ../data/text_template.json
//
// Values in the table's JSON use a small typed encoding so that Go types survive JSON:
// numbers are float64 (as in Helm values); {"$int": 3}, {"$int64": 3}, {"$uint": 3},
// {"$uint8": 3}; {"$slice": "int", "items": [...]} for []int (elem types int, int64, uint,
// uint8, float64, string, bool, any); {"$map": "int", "entries": {...}} for map[string]int;
// {"$bytes": "text"} for []byte; {"$nilslice": true} for a nil []interface{}; {"$func": "name"}
// for one of the test functions below; {"$ref": "name"} for a shared value of the table.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

type namedText struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

type testCase struct {
	Name string `json:"name"`
	// The name of the template Text is parsed as (default: Name).
	TmplName string          `json:"tmpl_name,omitempty"`
	Text     string          `json:"text"`
	Data     json.RawMessage `json:"data,omitempty"`
	Options  []string        `json:"options,omitempty"`
	// More templates parsed into the same set after Text (multi-template cases).
	More []namedText `json:"more,omitempty"`
	// Execute this template of the set instead of Name.
	Exec string `json:"exec,omitempty"`
	// Only parse; record the tree's String().
	ParseOnly bool `json:"parse_only,omitempty"`
	// Delimiters.
	Delims []string `json:"delims,omitempty"`
	// Recorded by this program.
	Output *string `json:"output,omitempty"`
	Error  *string `json:"error,omitempty"`
	Tree   *string `json:"tree,omitempty"`
}

type table struct {
	Source string `json:"source"`
	// "sprig": the functions of Sprig v3.3.0 (sprig.TxtFuncMap) instead of the test functions.
	Funcs  string                     `json:"funcs,omitempty"`
	Shared map[string]json.RawMessage `json:"shared,omitempty"`
	Cases  []testCase                 `json:"cases"`
	Oracle string                     `json:"oracle,omitempty"`
}

var testFuncs = template.FuncMap{
	"zeroArgs":  func() string { return "zeroArgs" },
	"oneArg":    func(a string) string { return "oneArg=" + a },
	"twoArgs":   func(a, b string) string { return "twoArgs=" + a + b },
	"dddArg":    func(a int, b ...string) string { return fmt.Sprint(a, b) },
	"echo":      func(a any) any { return a },
	"typeOf":    func(a any) string { return fmt.Sprintf("%T", a) },
	"add":       func(a, b int) int { return a + b },
	"errFunc":   func() (string, error) { return "", errors.New("my error") },
	"die":       func() bool { panic("die") },
	"returnInt": func() int { return 7 },
	"nilf":      func() any { return nil },
	"toFloat":   func(i int) float64 { return float64(i) },
	"makemap": func(args ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(args); i += 2 {
			m[args[i]] = args[i+1]
		}
		return m
	},
	"mapOfThree": func() any { return map[string]int{"three": 3} },
	"strs":       func(s ...string) []string { return s },
	"list":       func(s ...any) []any { return s },
}

var dataFuncs = map[string]any{
	"BinaryFunc":      func(a, b string) string { return fmt.Sprintf("[%s=%s]", a, b) },
	"VariadicFunc":    func(s ...string) string { return fmt.Sprint("<", strings.Join(s, "+"), ">") },
	"VariadicFuncInt": func(a int, s ...string) string { return fmt.Sprint(a, "=<", strings.Join(s, "+"), ">") },
	"ErrFunc":         func() (string, error) { return "bla", nil },
	"ErrorFunc":       func() (string, error) { return "", errors.New("erroozle") },
	"PanicFunc":       func() string { panic("test panic") },
}

func decode(raw json.RawMessage, shared map[string]json.RawMessage) (any, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return convert(v, shared)
}

func num(v any) json.Number { n, _ := v.(json.Number); return n }

func convertElem(typ string, v any, shared map[string]json.RawMessage) (any, error) {
	switch typ {
	case "int":
		i, err := num(v).Int64()
		return int(i), err
	case "int64":
		return num(v).Int64()
	case "uint":
		i, err := num(v).Int64()
		return uint(i), err
	case "uint8":
		i, err := num(v).Int64()
		return uint8(i), err
	case "float64":
		return num(v).Float64()
	case "string":
		s, _ := v.(string)
		return s, nil
	case "bool":
		b, _ := v.(bool)
		return b, nil
	}
	return convert(v, shared)
}

func convert(v any, shared map[string]json.RawMessage) (any, error) {
	switch x := v.(type) {
	case json.Number:
		return x.Float64()
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c, err := convert(e, shared)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case map[string]any:
		if n, ok := x["$int"]; ok {
			i, err := num(n).Int64()
			return int(i), err
		}
		if n, ok := x["$int64"]; ok {
			return num(n).Int64()
		}
		if n, ok := x["$uint"]; ok {
			i, err := num(n).Int64()
			return uint(i), err
		}
		if n, ok := x["$uint8"]; ok {
			i, err := num(n).Int64()
			return uint8(i), err
		}
		if s, ok := x["$bytes"]; ok {
			return []byte(s.(string)), nil
		}
		if _, ok := x["$nilslice"]; ok {
			return []any(nil), nil
		}
		if f, ok := x["$func"]; ok {
			fn, ok := dataFuncs[f.(string)]
			if !ok {
				fn, ok = testFuncs[f.(string)]
			}
			if !ok {
				return nil, fmt.Errorf("unknown func %v", f)
			}
			return fn, nil
		}
		if r, ok := x["$ref"]; ok {
			return decode(shared[r.(string)], shared)
		}
		if t, ok := x["$slice"]; ok {
			items, _ := x["items"].([]any)
			return typedSlice(t.(string), items, shared)
		}
		if t, ok := x["$map"]; ok {
			entries, _ := x["entries"].(map[string]any)
			return typedMap(t.(string), entries, shared)
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, err := convert(e, shared)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	}
	return v, nil
}

func typedSlice(t string, items []any, shared map[string]json.RawMessage) (any, error) {
	conv := func(i int) (any, error) { return convertElem(t, items[i], shared) }
	switch t {
	case "int":
		out := make([]int, len(items))
		for i := range items {
			v, err := conv(i)
			if err != nil {
				return nil, err
			}
			out[i] = v.(int)
		}
		return out, nil
	case "int64":
		out := make([]int64, len(items))
		for i := range items {
			v, _ := conv(i)
			out[i] = v.(int64)
		}
		return out, nil
	case "float64":
		out := make([]float64, len(items))
		for i := range items {
			v, _ := conv(i)
			out[i] = v.(float64)
		}
		return out, nil
	case "string":
		out := make([]string, len(items))
		for i := range items {
			v, _ := conv(i)
			out[i] = v.(string)
		}
		return out, nil
	case "bool":
		out := make([]bool, len(items))
		for i := range items {
			v, _ := conv(i)
			out[i] = v.(bool)
		}
		return out, nil
	}
	out := make([]any, len(items))
	for i := range items {
		v, err := conv(i)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func typedMap(t string, entries map[string]any, shared map[string]json.RawMessage) (any, error) {
	switch t {
	case "int":
		out := map[string]int{}
		for k, e := range entries {
			v, err := convertElem(t, e, shared)
			if err != nil {
				return nil, err
			}
			out[k] = v.(int)
		}
		return out, nil
	case "string":
		out := map[string]string{}
		for k, e := range entries {
			out[k], _ = e.(string)
		}
		return out, nil
	}
	out := map[string]any{}
	for k, e := range entries {
		v, err := convert(e, shared)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

func str(s string) *string { return &s }

// helmMode: the table uses Helm's functions; include/tpl/required/fail are bound per template.
var helmMode bool

func run(c *testCase, shared map[string]json.RawMessage, funcs template.FuncMap) {
	defer func() {
		if r := recover(); r != nil {
			c.Error = str(fmt.Sprintf("panic: %v", r))
		}
	}()
	name := c.Name
	if c.TmplName != "" {
		name = c.TmplName
	}
	t := template.New(name).Funcs(funcs)
	if helmMode {
		addHelmLateBound(t)
	}
	if len(c.Delims) == 2 {
		t.Delims(c.Delims[0], c.Delims[1])
	}
	for _, o := range c.Options {
		t.Option(o)
	}
	if _, err := t.Parse(c.Text); err != nil {
		c.Error = str(err.Error())
		return
	}
	for _, m := range c.More {
		if _, err := t.New(m.Name).Parse(m.Text); err != nil {
			c.Error = str(err.Error())
			return
		}
	}
	if c.ParseOnly {
		if t.Tree != nil && t.Tree.Root != nil {
			c.Tree = str(t.Tree.Root.String())
		}
		names := []string{}
		for _, x := range t.Templates() {
			names = append(names, x.Name())
		}
		sort.Strings(names)
		_ = names
		return
	}
	var data any
	if len(c.Data) > 0 {
		var err error
		data, err = decode(c.Data, shared)
		if err != nil {
			c.Error = str("bad data: " + err.Error())
			return
		}
	}
	var buf bytes.Buffer
	var err error
	if c.Exec != "" {
		err = t.ExecuteTemplate(&buf, c.Exec, data)
	} else {
		err = t.Execute(&buf, data)
	}
	if err != nil {
		c.Error = str(err.Error())
		return
	}
	c.Output = str(buf.String())
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: record CASES.json OUT.json")
		os.Exit(2)
	}
	in, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	var tab table
	if err := json.Unmarshal(in, &tab); err != nil {
		panic(err)
	}
	funcs := testFuncs
	if tab.Funcs == "helm" {
		funcs = helmFuncMap()
		helmMode = true
		tab.Oracle = "helm v4 engine functions (sprig v3.3.0, sigs.k8s.io/yaml v1.6.0), "
	}
	if tab.Funcs == "sprig" {
		funcs = sprig.TxtFuncMap()
		tab.Oracle = "sprig v3.3.0, "
	}
	for i := range tab.Cases {
		c := &tab.Cases[i]
		c.Output, c.Error, c.Tree = nil, nil, nil
		run(c, tab.Shared, funcs)
	}
	tab.Oracle += "go text/template (" + goVersion() + ")"
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(tab); err != nil {
		panic(err)
	}
	if err := os.WriteFile(os.Args[2], out.Bytes(), 0o644); err != nil {
		panic(err)
	}
}
