#!/usr/bin/env python3
"""Random token soup for the lexer and parser (fixed seed): Go's errors, line numbers and
trees must be reproduced exactly. `python3 gen_fuzz_syntax.py [N] [SEED] > fuzz_syntax_cases.json`."""
import json, random, sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1500
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 777)
TOKS = ["{{", "}}", "{{", "}}", "{{- ", " -}}", "{{-", "-}}", " ", " ", "\n", "\t", ".", ".a", ".a.b", "$", "$x", "$y", ":=", "=", "|",
        "(", ")", '"s"', '"a\\nb"', '"bad\\q"', '"unterminated', "`r`", "`open", "'c'", "'\\n'", "'ab'", "1", "-1", "+2", "1.5", "1e3",
        "0x1F", "0b", "1_000", "1__0", "1i", "1+2i", "if", "else", "end", "range", "with", "define", "template", "block", "break",
        "continue", "nil", "true", "false", ",", "/*", "*/", "/* c */", "#", "-", "x", "printf", "len", "index", "and", "eq", "@", "é",
        "\u00a0", "{", "}", "%", ";", "..", "$.a", "(.a).b", "1.a", "\"s\".x", "nil.x"]

def soup():
    n = rng.randint(1, 14)
    return "".join(rng.choice(TOKS) for _ in range(n))

cases = []
for i in range(N):
    text = soup()
    if rng.random() < 0.5:
        # Mostly well-formed actions with random insides.
        text = "a{{" + soup().replace("{{", "").replace("}}", "") + "}}b" + (soup() if rng.random() < 0.3 else "")
    c = {"name": "syntax/%04d" % i, "text": text, "data": {"a": {"b": 1}, "s": "x"}}
    if rng.random() < 0.3:
        c["parse_only"] = True
    cases.append(c)
json.dump({"source": "random token soup from gen_fuzz_syntax.py", "cases": cases}, sys.stdout, indent=1, ensure_ascii=False)
