package main

// The template functions of Helm v4 (pkg/engine/funcs.go and the late-bound ones of
// pkg/engine/engine.go), restated here so that recordings need no Helm module: Sprig without
// env/expandenv, Helm's YAML/JSON functions, include, tpl, required, fail, lookup.

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"
)

const recursionMaxNums = 1000

func warnWrap(warn string) string { return "HELM_ERR_START" + warn + "HELM_ERR_END" }

func helmFuncMap() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	extra := template.FuncMap{
		"toYaml": func(v any) string {
			data, err := yaml.Marshal(v)
			if err != nil {
				return ""
			}
			return strings.TrimSuffix(string(data), "\n")
		},
		"mustToYaml": func(v any) string {
			data, err := yaml.Marshal(v)
			if err != nil {
				panic(err)
			}
			return strings.TrimSuffix(string(data), "\n")
		},
		"fromYaml": func(str string) map[string]any {
			m := map[string]any{}
			if err := yaml.Unmarshal([]byte(str), &m); err != nil {
				m["Error"] = err.Error()
			}
			return m
		},
		"fromYamlArray": func(str string) []any {
			a := []any{}
			if err := yaml.Unmarshal([]byte(str), &a); err != nil {
				a = []any{err.Error()}
			}
			return a
		},
		"toJson": func(v any) string {
			data, err := json.Marshal(v)
			if err != nil {
				return ""
			}
			return string(data)
		},
		"mustToJson": func(v any) string {
			data, err := json.Marshal(v)
			if err != nil {
				panic(err)
			}
			return string(data)
		},
		"fromJson": func(str string) map[string]any {
			m := make(map[string]any)
			if err := json.Unmarshal([]byte(str), &m); err != nil {
				m["Error"] = err.Error()
			}
			return m
		},
		"fromJsonArray": func(str string) []any {
			a := []any{}
			if err := json.Unmarshal([]byte(str), &a); err != nil {
				a = []any{err.Error()}
			}
			return a
		},
		"include":  func(string, any) string { return "not implemented" },
		"tpl":      func(string, any) any { return "not implemented" },
		"required": func(string, any) (any, error) { return "not implemented", nil },
		"lookup": func(string, string, string, string) (map[string]any, error) {
			return map[string]any{}, nil
		},
	}
	maps.Copy(f, extra)
	return f
}

func includeFun(t *template.Template, includedNames map[string]int) func(string, any) (string, error) {
	return func(name string, data any) (string, error) {
		var buf strings.Builder
		if v, ok := includedNames[name]; ok {
			if v > recursionMaxNums {
				return "", fmt.Errorf("rendering template has a nested reference name: %s: %w", name, errors.New("unable to execute template"))
			}
			includedNames[name]++
		} else {
			includedNames[name] = 1
		}
		err := t.ExecuteTemplate(&buf, name, data)
		includedNames[name]--
		return buf.String(), err
	}
}

func tplFun(parent *template.Template, includedNames map[string]int, strict bool) func(string, any) (string, error) {
	return func(tpl string, vals any) (string, error) {
		t, err := parent.Clone()
		if err != nil {
			return "", fmt.Errorf("cannot clone template: %w", err)
		}
		if strict {
			t.Option("missingkey=error")
		} else {
			t.Option("missingkey=zero")
		}
		t.Funcs(template.FuncMap{
			"include": includeFun(t, includedNames),
			"tpl":     tplFun(t, includedNames, strict),
		})
		t, err = t.New(parent.Name()).Parse(tpl)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %w", tpl, err)
		}
		var buf strings.Builder
		if err := t.Execute(&buf, vals); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %w", tpl, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
}

// addHelmLateBound installs include, tpl, required and fail on t, as Engine.initFunMap does.
func addHelmLateBound(t *template.Template) {
	includedNames := make(map[string]int)
	t.Funcs(template.FuncMap{
		"include": includeFun(t, includedNames),
		"tpl":     tplFun(t, includedNames, false),
		"required": func(warn string, val any) (any, error) {
			if val == nil {
				return val, errors.New(warnWrap(warn))
			} else if _, ok := val.(string); ok {
				if val == "" {
					return val, errors.New(warnWrap(warn))
				}
			}
			return val, nil
		},
		"fail": func(msg string) (string, error) {
			return "", errors.New(warnWrap(msg))
		},
		"getHostByName": func(_ string) string { return "" },
	})
}
