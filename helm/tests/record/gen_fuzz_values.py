#!/usr/bin/env python3
"""Random values through Go's formatting: printf with random verbs, flags, widths and
precisions, print/println, toYaml, toJson, toPrettyJson, quote, eq/lt on random pairs (fixed
seed). `python3 gen_fuzz_values.py [N] [SEED] > fuzz_values_cases.json`."""
import json, random, sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1200
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 4242)

WORDS = ["a", "hello", "x y", "", " ", "yes", "No", "on", "null", "~", "true", "1", "1.5", "0x1F", "1e3", "-", "- a", ":", "a: b",
         "#", "a #b", "@", "`", "'", '"', "\\", "\t", "\n", "a\nb", "a\nb\n", "\na", "é", "€", "😀", "\u2028", "\x7f", "<&>", "%v",
         "{{", "[a]", "{a}", "*a", "&a", "!a", "|", ">", "?", "a,b", "2001-12-14", "12:30:45", "0777", "+1", ".5", "=", "long " * 20]
FLOATS = [0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 2.5, 1e6, 1e7, 1e20, 1e21, 1e22, 1e-5, 1e-6, 1e-7, 123456789.0, 3.14159265358979,
          -273.15, 100000.0, 999999.9999, 0.000123, 1.7976931348623157e308, 5e-324, 12345678901234567890.0]
INTS = [0, 1, -1, 7, 42, 255, 256, 65535, -128, 1000000, 9007199254740993, -9223372036854775808, 9223372036854775807]

def scalar():
    r = rng.random()
    if r < 0.35:
        return rng.choice(WORDS)
    if r < 0.6:
        return rng.choice(FLOATS)
    if r < 0.75:
        t = rng.choice(["$int", "$int", "$int64", "$uint", "$uint8"])
        v = rng.choice(INTS)
        if t in ("$uint", "$uint8"):
            v = abs(v) % (256 if t == "$uint8" else 2**63)
        return {t: v}
    if r < 0.87:
        return rng.choice([True, False])
    return None

def value(d=0):
    r = rng.random()
    if d > 2 or r < 0.5:
        return scalar()
    if r < 0.75:
        if rng.random() < 0.2:
            return {"$slice": rng.choice(["string", "int", "float64", "bool"]), "items": []}
        return [value(d + 1) for _ in range(rng.randint(0, 4))]
    keys = rng.sample(["a", "b", "B", "_", "1", "10", "2", "a.b", "a b", "yes", "null", "Z", "é", ""], rng.randint(0, 5))
    return {k: value(d + 1) for k in keys}

FLAGS = ["", "", "", "-", "+", "#", " ", "0", "-0", "+0", "# ", "#0"]
VERBS = list("vvvvsdqxXfFeEgGtTcUob")

def verb():
    f = rng.choice(FLAGS)
    w = rng.choice(["", "", "", "1", "5", "12"])
    p = rng.choice(["", "", "", ".0", ".1", ".3", ".10", "."])
    return "%" + f + w + p + rng.choice(VERBS)

cases = []
for i in range(N):
    k = rng.random()
    if k < 0.4:
        n = rng.randint(1, 3)
        fmt = " ".join(verb() for _ in range(n))
        args = " ".join("(index .v %d)" % j for j in range(n))
        text = "{{printf %s %s}}" % (json.dumps(fmt), args)
        data = {"v": [value() for _ in range(n)]}
    elif k < 0.55:
        text = rng.choice(["{{print .v}}", "{{println .v .v}}", "{{.v}}", "{{print .v 1 \"s\" .v}}", "{{quote .v}}", "{{squote .v}}", "{{toString .v}}"])
        data = {"v": value()}
    elif k < 0.8:
        text = rng.choice(["{{toYaml .v}}", "x:\n  {{- toYaml .v | nindent 2}}", "{{toYaml (dict \"k\" .v)}}", "{{toYaml (list .v)}}"])
        data = {"v": value()}
    elif k < 0.9:
        text = rng.choice(["{{toJson .v}}", "{{toPrettyJson .v}}", "{{toRawJson .v}}"])
        data = {"v": value()}
    else:
        op = rng.choice(["eq", "ne", "lt", "le", "gt", "ge"])
        text = "{{%s (index .v 0) (index .v 1)}}" % op
        data = {"v": [scalar(), scalar()]}
    cases.append({"name": "fuzzv/%04d" % i, "text": text, "data": data})
json.dump({"source": "random values from gen_fuzz_values.py", "funcs": "helm", "cases": cases}, sys.stdout, indent=1, ensure_ascii=False)
