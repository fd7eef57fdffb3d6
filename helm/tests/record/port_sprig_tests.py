#!/usr/bin/env python3
"""Ports the templates of Sprig v3.3.0's own tests (every string literal holding an action in
its *_test.go files, from the Go module cache) into sprig_cases.json, after the hand-written
cases of sprig_hand_cases.json. Go with Sprig (main.go) records what each one renders; cases
of non-deterministic functions (dates, random, crypto generation, network) are left out.
Sprig is MIT-licensed (see ../data/LICENSE-sprig)."""
import json, os, re, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from port_go_tests import go_unquote  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
modcache = subprocess.check_output(['go', 'env', 'GOMODCACHE'], text=True).strip()
src = os.path.join(modcache, 'github.com', '!masterminds', 'sprig', 'v3@v3.3.0')
skip_files = {'crypto_test.go', 'date_test.go', 'network_test.go', 'example_test.go', 'functions_windows_test.go'}
nondet = re.compile(r'\b(now|date|dateInZone|dateModify|htmlDate|htmlDateInZone|ago|unixEpoch|duration|durationRound|toDate|mustToDate|mustDateModify|rand\w*|uuidv4|gen\w*|derivePassword|buildCustomCert|getHostByName|env|expandenv|shuffle|randInt|encryptAES|decryptAES|bcrypt|htpasswd)\b')
lit = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`')
cases, seen = [], set()
for f in sorted(os.listdir(src)):
    if not f.endswith('_test.go') or f in skip_files:
        continue
    text = open(os.path.join(src, f)).read()
    for m in lit.finditer(text):
        try:
            s = go_unquote(m.group(0))
        except Exception:
            continue
        if '{{' not in s or s in seen or nondet.search(s):
            continue
        seen.add(s)
        line = text.count('\n', 0, m.start()) + 1
        cases.append({'name': 'sprig-test/%s:%d' % (f, line), 'text': s})
hand = json.load(open(os.path.join(here, 'sprig_hand_cases.json')))
table = {'source': 'Sprig v3.3.0 *_test.go templates (MIT, see LICENSE-sprig) and sprig_hand_cases.json',
         'funcs': 'sprig', 'shared': hand['shared'], 'cases': hand['cases'] + cases}
json.dump(table, open(os.path.join(here, 'sprig_cases.json'), 'w'), indent=1, ensure_ascii=False)
print('sprig tests %d, hand %d' % (len(cases), len(hand['cases'])), file=sys.stderr)
