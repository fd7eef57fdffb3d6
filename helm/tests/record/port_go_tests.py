#!/usr/bin/env python3
"""Ports the test tables of Go's text/template (exec_test.go, parse/parse_test.go) into
../data/text_template_cases.json, with the hand-written cases of hand_cases.json appended.
Only the template text, name and data of each case are taken (Go, through main.go, records
the expected output); cases whose data is a Go value this table cannot express are skipped.
The Go tests are BSD-licensed (see ../data/LICENSE-go)."""
import json, os, re, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
goroot = subprocess.check_output(["go", "env", "GOROOT"], text=True).strip()
src = os.path.join(goroot, "src", "text", "template")

def go_unquote(lit):
    if lit[0] == '`':
        return lit[1:-1].replace('\r', '')
    s = lit[1:-1]
    out = []
    i = 0
    simple = {'a': '\a', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v', '\\': '\\', '"': '"', "'": "'"}
    while i < len(s):
        c = s[i]
        if c != '\\':
            out.append(c); i += 1; continue
        e = s[i + 1]
        if e in simple:
            out.append(simple[e]); i += 2
        elif e == 'x':
            out.append(chr(int(s[i + 2:i + 4], 16))); i += 4
        elif e == 'u':
            out.append(chr(int(s[i + 2:i + 6], 16))); i += 6
        elif e == 'U':
            out.append(chr(int(s[i + 2:i + 10], 16))); i += 10
        elif e in '01234567':
            out.append(chr(int(s[i + 1:i + 4], 8))); i += 4
        else:
            raise ValueError(lit)
    return ''.join(out)

def split_entries(body):
    """Top-level {...} entries of a Go composite literal body, each split into elements."""
    entries, i, n = [], 0, len(body)
    while i < n:
        c = body[i]
        if c == '/' and body[i:i + 2] == '//':
            i = body.index('\n', i); continue
        if c == '{':
            depth, j, elems, cur = 1, i + 1, [], ''
            while depth:
                ch = body[j]
                if ch in '"`':
                    k = j + 1
                    while body[k] != ch:
                        k += 2 if (ch == '"' and body[k] == '\\') else 1
                    cur += body[j:k + 1]; j = k + 1; continue
                if ch == '\'':
                    k = j + 1
                    while body[k] != '\'':
                        k += 2 if body[k] == '\\' else 1
                    cur += body[j:k + 1]; j = k + 1; continue
                if ch in '{([':
                    depth += 1
                elif ch in '})]':
                    depth -= 1
                    if depth == 0:
                        break
                if ch == ',' and depth == 1:
                    elems.append(cur.strip()); cur = ''
                else:
                    cur += ch
                j += 1
            if cur.strip():
                elems.append(cur.strip())
            entries.append(elems)
            i = j + 1
        else:
            i += 1
    return entries

def literal(expr, consts):
    parts = [p.strip() for p in re.split(r'\s\+\s', expr)]
    out = ''
    for p in parts:
        if p and p[0] in '"`' and p[-1] == p[0]:
            out += go_unquote(p)
        elif p in consts:
            out += consts[p]
        else:
            return None
    return out

def block(text, start):
    i = text.index(start)
    j = text.index('\n}\n', i)
    return text[text.index('{', i) + 1:j + 1]

def main():
    exec_src = open(os.path.join(src, 'exec_test.go')).read()
    consts = {'bigInt': '0x7fffffff', 'bigUint': '0x80000000'}
    m = re.search(r'bigInt\s*=\s*fmt.Sprintf\("0x%x", int\(1<<uint\(reflect.TypeFor\[int\]\(\).Bits\(\)-1\)-1\)\)', exec_src)
    if m:
        consts['bigInt'] = '0x7fffffffffffffff'
        consts['bigUint'] = '0x8000000000000000'

    cases, skipped = [], 0
    data_map = {'tVal': {'$ref': 'tval'}, '&tVal': {'$ref': 'tval'}, 'nil': None}
    for e in split_entries(block(exec_src, 'var execTests = []execTest{')):
        if len(e) != 5:
            skipped += 1; continue
        name, tmpl = literal(e[0], consts), literal(e[1], consts)
        if name is None or tmpl is None:
            skipped += 1; continue
        d = e[3]
        if d in data_map:
            data = data_map[d]
        elif re.fullmatch(r'-?\d+', d):
            data = {'$int': int(d)}
        else:
            skipped += 1; continue
        c = {'name': 'exec/' + name, 'text': tmpl}
        if data is not None:
            c['data'] = data
        cases.append(c)
    # Comparisons (TestComparison): {{if EXPR}}true{{else}}false{{end}} over cmpStruct.
    for e in split_entries(block(exec_src, 'var cmpTests = []cmpTest{')):
        if len(e) != 3 or literal(e[0], consts) is None:
            skipped += 1; continue
        expr = literal(e[0], consts)
        cases.append({'name': 'cmp/' + expr, 'text': '{{if %s}}true{{else}}false{{end}}' % expr, 'data': {'$ref': 'cmp'}})

    # Template sets (TestMultiExecute): multiText1 and multiText2 parsed into "root", then the case.
    multi_src = open(os.path.join(src, 'multi_test.go')).read()
    def const_str(src_text, name):
        m = re.search(name + r' = (`[^`]*`)', src_text)
        return go_unquote(m.group(1))
    mt1, mt2 = const_str(multi_src, 'multiText1'), const_str(multi_src, 'multiText2')
    for e in split_entries(block(multi_src, 'var multiExecTests = []execTest{')):
        if len(e) != 5:
            skipped += 1; continue
        name, tmpl = literal(e[0], consts), literal(e[1], consts)
        if name is None or tmpl is None:
            skipped += 1; continue
        d = e[3]
        c = {'name': 'multi/' + name, 'tmpl_name': 'root', 'text': mt1, 'more': [{'name': 'root', 'text': mt2}, {'name': name, 'text': tmpl}], 'exec': name}
        if d in data_map:
            if data_map[d] is not None:
                c['data'] = data_map[d]
        elif d[0] == '"':
            c['data'] = go_unquote(d)
        else:
            skipped += 1; continue
        cases.append(c)
    n_exec = len(cases)

    parse_src = open(os.path.join(src, 'parse', 'parse_test.go')).read()
    for var, kind in (('var parseTests = []parseTest{', 'parse'), ('var errorTests = []parseTest{', 'parse-error')):
        for e in split_entries(block(parse_src, var)):
            if len(e) != 4:
                skipped += 1; continue
            name, tmpl = literal(e[0], consts), literal(e[1], consts)
            if name is None or tmpl is None:
                skipped += 1; continue
            cases.append({'name': kind + '/' + name, 'text': tmpl, 'parse_only': True})
    n_parse = len(cases) - n_exec

    hand = json.load(open(os.path.join(here, 'hand_cases.json')))
    cases.extend(hand['cases'])
    table = {'source': 'Go ' + subprocess.check_output(['go', 'env', 'GOVERSION'], text=True).strip()
             + ' src/text/template exec_test.go and parse/parse_test.go (BSD, see LICENSE-go), and hand_cases.json',
             'shared': hand['shared'], 'cases': cases}
    # Names must be unique: the Rust test reports by name.
    seen = {}
    for c in cases:
        if c['name'] in seen:
            seen[c['name']] += 1
            c['name'] += '#%d' % seen[c['name']]
        else:
            seen[c['name']] = 0
    out = os.path.join(here, '..', 'data', 'text_template_cases.json')
    json.dump(table, open(out, 'w'), indent=1, ensure_ascii=False)
    print('exec %d, parse %d, hand %d, skipped %d' % (n_exec, n_parse, len(hand['cases']), skipped), file=sys.stderr)


if __name__ == '__main__':
    main()
