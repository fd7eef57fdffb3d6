#!/usr/bin/env python3
"""Generates random templates and values (fixed seed, so the table is reproducible) for the
differential test against Go: `python3 gen_fuzz.py [N] [SEED] > fuzz_cases.json`, then
`go run . fuzz_cases.json ../data/fuzz.json`."""
import json, random, sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1500
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 20261204)

STRINGS = ["", "x", "hello world", "a\"b", "tab\there", "line1\nline2", "é€😀", "<&>", "yes", "1.0", "007",
           "  pad  ", "a: b", "- item", "null", "~", "%d", "{{x}}", "back\\slash", "UPPER lower", "a,b,c", "a-b_c d"]
FLOATS = [0.0, 1.0, -1.0, 0.5, 1e6, 1e21, 1e-7, 123456789.0, 3.14159, -0.25, 100000.0, 1e20, 2.5, 7.0]

def rand_scalar():
    r = rng.random()
    if r < 0.35:
        return rng.choice(STRINGS)
    if r < 0.65:
        return rng.choice(FLOATS)
    if r < 0.75:
        return rng.choice([True, False])
    if r < 0.82:
        return None
    if r < 0.92:
        return {"$int": rng.choice([0, 1, 2, -3, 42, 1000000])}
    return {"$int64": rng.choice([0, 5, -7])}

def rand_value(depth=0):
    r = rng.random()
    if depth > 2 or r < 0.55:
        return rand_scalar()
    if r < 0.75:
        return [rand_value(depth + 1) for _ in range(rng.randint(0, 3))]
    return {k: rand_value(depth + 1) for k in rng.sample(["a", "b", "c", "d", "x", "y", "Z", "1"], rng.randint(0, 4))}

def data():
    d = {k: rand_value(1) for k in ["a", "b", "c", "d"]}
    d["s"] = rng.choice(STRINGS)
    d["n"] = rng.choice(FLOATS)
    d["i"] = {"$int": rng.choice([0, 1, 3, -2])}
    d["l"] = [rand_scalar() for _ in range(rng.randint(0, 4))]
    d["m"] = {k: rand_scalar() for k in rng.sample(["p", "q", "r", "s", "t"], rng.randint(0, 4))}
    return d

FIELDS = [".a", ".b", ".c", ".d", ".s", ".n", ".i", ".l", ".m", ".m.p", ".m.q", ".a.x", ".b.a", ".missing", ".", "$", "$.s"]
CONSTS = ['"str"', '""', "1", "0", "-2", "1.5", "1e6", "true", "false", "'a'", "0x10", "`raw`", "nil"]
VERBS = ["v", "s", "d", "q", "x", "X", "f", "e", "g", "t", "T", "c", "U", "o", "b", "5.2f", "-8v", "08.3g", "+d", "#v", "#x", " x", "10s", ".3s", "*d", "[2]v", "%"]
UNARY = ["len", "not", "quote", "squote", "upper", "lower", "title", "trim", "toString", "toJson", "toYaml", "typeOf",
         "kindOf", "empty", "b64enc", "int", "int64", "float64", "first", "last", "toStrings", "sortAlpha", "nospace", "print", "println", "html", "js", "urlquery"]
BINARY = ["eq", "ne", "lt", "le", "gt", "ge", "and", "or", "default", "index", "contains", "hasPrefix", "add", "sub", "mul", "max", "min", "list", "dict", "coalesce", "ternary"]

def operand(depth):
    r = rng.random()
    if depth < 2 and r < 0.25:
        return "(" + pipeline(depth + 1) + ")"
    if r < 0.65:
        return rng.choice(FIELDS)
    return rng.choice(CONSTS)

def command(depth):
    r = rng.random()
    if r < 0.3:
        return operand(depth)
    if r < 0.5:
        return rng.choice(UNARY) + " " + operand(depth)
    if r < 0.8:
        return rng.choice(BINARY) + " " + operand(depth) + " " + operand(depth)
    fmt = " ".join("%" + rng.choice(VERBS) for _ in range(rng.randint(1, 3)))
    args = " ".join(operand(depth) for _ in range(rng.randint(0, 3)))
    return "printf " + json.dumps(fmt) + (" " + args if args else "")

def pipeline(depth=0):
    p = command(depth)
    for _ in range(rng.randint(0, 2) if depth < 2 else 0):
        p += " | " + rng.choice(UNARY + ["printf \"%v\"", "default \"d\"", "indent 2", "nindent 1", "trunc 3", "replace \"a\" \"b\""])
    return p

def trim(open_):
    if rng.random() < 0.2:
        return "{{- " if open_ else " -}}"
    return "{{" if open_ else "}}"

def block(depth=0):
    parts = []
    for _ in range(rng.randint(1, 3)):
        r = rng.random()
        if r < 0.25:
            parts.append(rng.choice(["x", " ", "\n", "  text  ", "a\n  b"]))
        elif r < 0.65 or depth > 1:
            parts.append(trim(True) + pipeline() + trim(False))
        elif r < 0.75:
            parts.append("{{if " + pipeline() + "}}" + block(depth + 1) + ("{{else}}" + block(depth + 1) if rng.random() < 0.5 else "") + "{{end}}")
        elif r < 0.85:
            parts.append("{{with " + pipeline() + "}}" + block(depth + 1) + "{{end}}")
        elif r < 0.95:
            v = rng.choice(["", "$v := ", "$k, $v := "])
            body = block(depth + 1) + ("{{$v}}" if v else "")
            parts.append("{{range " + v + rng.choice([".l", ".m", ".a", ".b", ".i", "(list 1 2)", ".s", ".missing"]) + "}}" + body + ("{{else}}E" if rng.random() < 0.3 else "") + "{{end}}")
        else:
            parts.append("{{$x := " + pipeline() + "}}{{$x}}")
    return "".join(parts)

cases = [{"name": "fuzz/%04d" % i, "text": block(), "data": data()} for i in range(N)]
json.dump({"source": "random templates and values from gen_fuzz.py", "funcs": "helm", "cases": cases}, sys.stdout, indent=1, ensure_ascii=False)
