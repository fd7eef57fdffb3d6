//! Go's `fmt` formatting (`Sprint`, `Sprintln`, `Sprintf`) and the `strconv` quoting and float
//! formatting it rests on, ported from Go's `fmt/print.go` and `fmt/format.go`.
//!
//! Templates print every value through `fmt.Fprint`, and `printf` is `fmt.Sprintf`, so the
//! output of a chart depends on these rules: `%v` of a float64 1000000 is `1e+06`, a map prints
//! as `map[a:1 b:[x y]]`, nil as `<nil>`, a wrong verb as `%!d(string=x)`.

use crate::value::Value;

/// `fmt.Sprint`: operands in `%v`, a space between two operands when neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut p = Printer::default();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::String(_));
        if i > 0 && !is_string && !prev_string {
            p.buf.push(' ');
        }
        p.print_arg(a, 'v');
        prev_string = is_string;
    }
    p.buf
}

/// `fmt.Sprintln`: operands in `%v` separated by spaces, then a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut p = Printer::default();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            p.buf.push(' ');
        }
        p.print_arg(a, 'v');
    }
    p.buf.push('\n');
    p.buf
}

/// `fmt.Sprintf`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut p = Printer::default();
    p.do_printf(format, args);
    p.buf
}

#[derive(Default, Clone, Copy)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

#[derive(Default)]
struct Printer {
    buf: String,
    f: Flags,
    erroring: bool,
}

const LDIGITS: &[u8; 17] = b"0123456789abcdefx";
const UDIGITS: &[u8; 17] = b"0123456789ABCDEFX";

/// Parses a decimal number at `s[start..end]`, as fmt's `parsenum`.
fn parsenum(s: &[u8], start: usize, end: usize) -> (Option<usize>, usize) {
    if start >= end {
        return (None, end);
    }
    let mut num: usize = 0;
    let mut i = start;
    let mut found = false;
    while i < end && s[i].is_ascii_digit() {
        if num > 1_000_000 {
            return (None, end); // tooLarge
        }
        num = num * 10 + (s[i] - b'0') as usize;
        found = true;
        i += 1;
    }
    (if found { Some(num) } else { None }, i)
}

impl Printer {
    fn do_printf(&mut self, format: &str, a: &[Value]) {
        let fb = format.as_bytes();
        let end = fb.len();
        let mut arg_num = 0usize;
        let mut after_index;
        let mut reordered = false;
        let mut i = 0;
        'format: while i < end {
            let mut good_arg_num = true;
            let lasti = i;
            while i < end && fb[i] != b'%' {
                i += 1;
            }
            if i > lasti {
                self.buf.push_str(&format[lasti..i]);
            }
            if i >= end {
                break;
            }
            i += 1;
            self.f = Flags::default();
            // Flags, and the fast path for a simple verb.
            while i < end {
                let c = fb[i];
                match c {
                    b'#' => self.f.sharp = true,
                    b'0' => self.f.zero = true,
                    b'+' => self.f.plus = true,
                    b'-' => self.f.minus = true,
                    b' ' => self.f.space = true,
                    _ => {
                        if c.is_ascii_lowercase() && arg_num < a.len() {
                            if c == b'v' || c == b'w' {
                                self.f.sharp_v = self.f.sharp;
                                self.f.sharp = false;
                                self.f.plus_v = self.f.plus;
                                self.f.plus = false;
                            }
                            self.print_arg(&a[arg_num], c as char);
                            arg_num += 1;
                            i += 1;
                            continue 'format;
                        }
                        break;
                    }
                }
                i += 1;
            }
            // Argument index, width.
            (arg_num, i, after_index) = self.arg_number(
                arg_num,
                format,
                i,
                a.len(),
                &mut reordered,
                &mut good_arg_num,
            );
            if i < end && fb[i] == b'*' {
                i += 1;
                let (n, ok, na) = int_from_arg(a, arg_num);
                arg_num = na;
                if !ok {
                    self.buf.push_str("%!(BADWIDTH)");
                    self.f.wid = None;
                } else if n < 0 {
                    self.f.wid = Some(n.unsigned_abs() as usize);
                    self.f.minus = true;
                    self.f.zero = false;
                } else {
                    self.f.wid = Some(n as usize);
                }
                after_index = false;
            } else {
                let (w, ni) = parsenum(fb, i, end);
                self.f.wid = w;
                i = ni;
                if after_index && w.is_some() {
                    good_arg_num = false;
                }
            }
            // Precision.
            if i + 1 < end && fb[i] == b'.' {
                i += 1;
                if after_index {
                    good_arg_num = false;
                }
                (arg_num, i, after_index) = self.arg_number(
                    arg_num,
                    format,
                    i,
                    a.len(),
                    &mut reordered,
                    &mut good_arg_num,
                );
                if i < end && fb[i] == b'*' {
                    i += 1;
                    let (n, ok, na) = int_from_arg(a, arg_num);
                    arg_num = na;
                    self.f.prec = if ok && n >= 0 { Some(n as usize) } else { None };
                    if !ok || n < 0 {
                        self.buf.push_str("%!(BADPREC)");
                    }
                    after_index = false;
                } else {
                    let (p, ni) = parsenum(fb, i, end);
                    i = ni;
                    self.f.prec = Some(p.unwrap_or(0));
                }
            }
            if !after_index {
                (arg_num, i, _) = self.arg_number(
                    arg_num,
                    format,
                    i,
                    a.len(),
                    &mut reordered,
                    &mut good_arg_num,
                );
            }
            if i >= end {
                self.buf.push_str("%!(NOVERB)");
                break;
            }
            let verb = format[i..].chars().next().unwrap_or('?');
            i += verb.len_utf8();
            if verb == '%' {
                self.buf.push('%');
            } else if !good_arg_num {
                self.buf.push_str("%!");
                self.buf.push(verb);
                self.buf.push_str("(BADINDEX)");
            } else if arg_num >= a.len() {
                self.buf.push_str("%!");
                self.buf.push(verb);
                self.buf.push_str("(MISSING)");
            } else {
                if verb == 'v' || verb == 'w' {
                    self.f.sharp_v = self.f.sharp;
                    self.f.sharp = false;
                    self.f.plus_v = self.f.plus;
                    self.f.plus = false;
                }
                self.print_arg(&a[arg_num], verb);
                arg_num += 1;
            }
        }
        if !reordered && arg_num < a.len() {
            self.f = Flags::default();
            self.buf.push_str("%!(EXTRA ");
            for (i, arg) in a[arg_num..].iter().enumerate() {
                if i > 0 {
                    self.buf.push_str(", ");
                }
                if arg.is_nil() {
                    self.buf.push_str("<nil>");
                } else {
                    self.buf.push_str(&arg.type_name());
                    self.buf.push('=');
                    self.print_arg(arg, 'v');
                }
            }
            self.buf.push(')');
        }
    }

    #[allow(clippy::too_many_arguments)] // reason: a direct port of fmt's argNumber
    fn arg_number(
        &mut self,
        arg_num: usize,
        format: &str,
        i: usize,
        num_args: usize,
        reordered: &mut bool,
        good: &mut bool,
    ) -> (usize, usize, bool) {
        let fb = format.as_bytes();
        if fb.len() <= i || fb[i] != b'[' {
            return (arg_num, i, false);
        }
        *reordered = true;
        // parseArgNumber
        let rest = &fb[i..];
        let (index, wid, ok) = 'parse: {
            if rest.len() < 3 {
                break 'parse (0usize, 1usize, false);
            }
            for j in 1..rest.len() {
                if rest[j] == b']' {
                    let (w, newi) = parsenum(rest, 1, j);
                    match w {
                        Some(w) if newi == j && w >= 1 => break 'parse (w - 1, j + 1, true),
                        Some(0) if newi == j => break 'parse (usize::MAX, j + 1, true),
                        _ => break 'parse (0, j + 1, false),
                    }
                }
            }
            (0, 1, false)
        };
        if ok && index < num_args {
            return (index, i + wid, true);
        }
        *good = false;
        (arg_num, i + wid, ok)
    }

    // ---- padding ----

    fn write_padding(&mut self, n: usize) {
        let c = if self.f.zero && !self.f.minus {
            '0'
        } else {
            ' '
        };
        for _ in 0..n {
            self.buf.push(c);
        }
    }

    fn pad(&mut self, s: &str) {
        let Some(wid) = self.f.wid.filter(|w| *w != 0) else {
            self.buf.push_str(s);
            return;
        };
        let width = wid.saturating_sub(s.chars().count());
        if !self.f.minus {
            self.write_padding(width);
            self.buf.push_str(s);
        } else {
            self.buf.push_str(s);
            self.write_padding(width);
        }
    }

    // ---- arguments ----

    fn bad_verb(&mut self, verb: char, arg: &Value) {
        self.erroring = true;
        self.buf.push_str("%!");
        self.buf.push(verb);
        self.buf.push('(');
        if arg.is_nil() {
            self.buf.push_str("<nil>");
        } else {
            self.buf.push_str(&arg.type_name());
            self.buf.push('=');
            self.print_arg(arg, 'v');
        }
        self.buf.push(')');
        self.erroring = false;
    }

    fn print_arg(&mut self, arg: &Value, verb: char) {
        if arg.is_nil() {
            match verb {
                'T' | 'v' => self.pad("<nil>"),
                _ => self.bad_verb(verb, arg),
            }
            return;
        }
        if verb == 'T' {
            let t = arg.type_name();
            self.fmt_s(&t);
            return;
        }
        if verb == 'p' {
            self.fmt_pointer(arg, verb);
            return;
        }
        self.print_value(arg, verb, 0);
    }

    fn fmt_pointer(&mut self, arg: &Value, verb: char) {
        match arg {
            Value::Map(_)
            | Value::Slice(_)
            | Value::Func(_)
            | Value::Object(_)
            | Value::Bytes(_) => {
                // Addresses are not reproducible; print a fixed one.
                self.pad("0xc000010000")
            }
            _ => self.bad_verb(verb, arg),
        }
    }

    fn handle_methods(&mut self, v: &Value, verb: char) -> bool {
        if self.erroring {
            return false;
        }
        if let Value::Object(o) = v
            && let Some(s) = o.stringer()
        {
            if self.f.sharp_v {
                return false;
            }
            if matches!(verb, 'v' | 's' | 'x' | 'X' | 'q') {
                self.fmt_string(&s, verb);
                return true;
            }
        }
        false
    }

    fn print_value(&mut self, value: &Value, verb: char, depth: usize) {
        if self.handle_methods(value, verb) {
            return;
        }
        match value {
            Value::Nil => {
                // At depth > 0 a nil is an element of an interface container: Go prints the
                // interface as <nil> whatever the verb.
                if self.f.sharp_v {
                    self.buf.push_str("interface {}(nil)");
                } else if depth == 0 {
                    self.print_arg(value, verb)
                } else {
                    self.buf.push_str("<nil>");
                }
            }
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad(if *b { "true" } else { "false" }),
                _ => self.bad_verb(verb, value),
            },
            Value::Int(i) | Value::Int64(i) => self.fmt_integer_verb(*i as u64, true, verb, value),
            Value::Uint(u) => self.fmt_integer_verb(*u, false, verb, value),
            Value::Uint8(u) => self.fmt_integer_verb(*u as u64, false, verb, value),
            Value::Float64(f) => self.fmt_float_verb(*f, verb, value),
            Value::Complex(r, i) => match verb {
                'v' | 'b' | 'g' | 'G' | 'x' | 'X' | 'f' | 'F' | 'e' | 'E' => {
                    let old_plus = self.f.plus;
                    self.buf.push('(');
                    self.fmt_float_verb(*r, verb, value);
                    self.f.plus = true;
                    self.fmt_float_verb(*i, verb, value);
                    self.buf.push_str("i)");
                    self.f.plus = old_plus;
                }
                _ => self.bad_verb(verb, value),
            },
            Value::String(s) => self.fmt_string_verb(s, verb, value),
            Value::Bytes(b) => self.fmt_bytes(b, verb, value),
            Value::Slice(s) => {
                if matches!(verb, 's' | 'q' | 'x' | 'X') && s.elem == crate::value::Type::Uint8 {
                    let bytes: Vec<u8> = s
                        .items
                        .iter()
                        .map(|v| match v {
                            Value::Uint8(b) => *b,
                            _ => 0,
                        })
                        .collect();
                    self.fmt_bytes(&bytes, verb, value);
                    return;
                }
                if self.f.sharp_v {
                    self.buf.push_str(&value.type_name());
                    if s.nil {
                        self.buf.push_str("(nil)");
                        return;
                    }
                    self.buf.push('{');
                    for (i, it) in s.items.iter().enumerate() {
                        if i > 0 {
                            self.buf.push_str(", ");
                        }
                        self.print_value(it, verb, depth + 1);
                    }
                    self.buf.push('}');
                } else {
                    self.buf.push('[');
                    for (i, it) in s.items.iter().enumerate() {
                        if i > 0 {
                            self.buf.push(' ');
                        }
                        self.print_value(it, verb, depth + 1);
                    }
                    self.buf.push(']');
                }
            }
            Value::Map(m) => {
                let m = m.borrow().clone();
                if self.f.sharp_v {
                    self.buf.push_str(&value.type_name());
                    self.buf.push('{');
                } else {
                    self.buf.push_str("map[");
                }
                for (i, (k, v)) in m.entries.iter().enumerate() {
                    if i > 0 {
                        if self.f.sharp_v {
                            self.buf.push_str(", ");
                        } else {
                            self.buf.push(' ');
                        }
                    }
                    self.print_value(&Value::from(k.as_str()), verb, depth + 1);
                    self.buf.push(':');
                    self.print_value(v, verb, depth + 1);
                }
                self.buf.push(if self.f.sharp_v { '}' } else { ']' });
            }
            Value::Func(_) => {
                if depth == 0 && verb == 'v' {
                    self.pad("0xc000010000")
                } else {
                    self.bad_verb(verb, value)
                }
            }
            Value::Object(o) => {
                if depth == 0 && o.is_pointer() {
                    self.buf.push('&');
                }
                if self.f.sharp_v {
                    self.buf.push_str(o.type_name().trim_start_matches('*'));
                }
                self.buf.push('{');
                for (i, v) in o.fields().iter().enumerate() {
                    if i > 0 {
                        self.buf.push_str(if self.f.sharp_v { ", " } else { " " });
                    }
                    self.print_value(v, verb, depth + 1);
                }
                self.buf.push('}');
            }
        }
    }

    fn fmt_integer_verb(&mut self, u: u64, signed: bool, verb: char, value: &Value) {
        match verb {
            'v' => {
                if self.f.sharp_v && !signed {
                    let sharp = self.f.sharp;
                    self.f.sharp = true;
                    self.fmt_integer(u, 16, false, 'v', LDIGITS);
                    self.f.sharp = sharp;
                } else {
                    self.fmt_integer(u, 10, signed, verb, LDIGITS)
                }
            }
            'd' => self.fmt_integer(u, 10, signed, verb, LDIGITS),
            'b' => self.fmt_integer(u, 2, signed, verb, LDIGITS),
            'o' | 'O' => self.fmt_integer(u, 8, signed, verb, LDIGITS),
            'x' => self.fmt_integer(u, 16, signed, verb, LDIGITS),
            'X' => self.fmt_integer(u, 16, signed, verb, UDIGITS),
            'c' => {
                let r = char::from_u32(u as u32)
                    .filter(|_| u <= 0x10FFFF)
                    .unwrap_or('\u{FFFD}');
                self.pad(&r.to_string())
            }
            'q' => {
                let r = char::from_u32(u as u32)
                    .filter(|_| u <= 0x10FFFF)
                    .unwrap_or('\u{FFFD}');
                let q = quote_rune(r, self.f.plus);
                self.pad(&q)
            }
            'U' => self.fmt_unicode(u),
            _ => self.bad_verb(verb, value),
        }
    }

    fn fmt_unicode(&mut self, u: u64) {
        let mut prec = 4usize;
        if let Some(p) = self.f.prec
            && p > 4
        {
            prec = p;
        }
        let hex = format!("{u:X}");
        let mut s = String::from("U+");
        for _ in hex.len()..prec {
            s.push('0');
        }
        s.push_str(&hex);
        if self.f.sharp
            && let Some(c) = char::from_u32(u as u32)
            && is_print(c)
        {
            s.push_str(" '");
            s.push(c);
            s.push('\'');
        }
        let old = self.f.zero;
        self.f.zero = false;
        self.pad(&s);
        self.f.zero = old;
    }

    fn fmt_integer(&mut self, u: u64, base: u64, signed: bool, verb: char, digits: &[u8; 17]) {
        let negative = signed && (u as i64) < 0;
        let mut u = if negative {
            (u as i64).unsigned_abs()
        } else {
            u
        };
        let mut prec = 0usize;
        if let Some(p) = self.f.prec {
            prec = p;
            if p == 0 && u == 0 {
                let old = self.f.zero;
                self.f.zero = false;
                self.write_padding(self.f.wid.unwrap_or(0));
                self.f.zero = old;
                return;
            }
        } else if self.f.zero
            && !self.f.minus
            && let Some(w) = self.f.wid
        {
            prec = w;
            if negative || self.f.plus || self.f.space {
                prec = prec.saturating_sub(1);
            }
        }
        let mut buf: Vec<u8> = Vec::with_capacity(24);
        loop {
            buf.push(digits[(u % base) as usize]);
            u /= base;
            if u == 0 {
                break;
            }
        }
        while buf.len() < prec {
            buf.push(b'0');
        }
        if self.f.sharp {
            match base {
                2 => buf.extend_from_slice(b"b0"),
                8 if buf.last() != Some(&b'0') => buf.push(b'0'),
                16 => {
                    buf.push(digits[16]);
                    buf.push(b'0');
                }
                _ => {}
            }
        }
        if verb == 'O' {
            buf.extend_from_slice(b"o0");
        }
        if negative {
            buf.push(b'-');
        } else if self.f.plus {
            buf.push(b'+');
        } else if self.f.space {
            buf.push(b' ');
        }
        buf.reverse();
        let s = String::from_utf8(buf).unwrap_or_default();
        let old = self.f.zero;
        self.f.zero = false;
        self.pad(&s);
        self.f.zero = old;
    }

    fn fmt_float_verb(&mut self, v: f64, verb: char, value: &Value) {
        match verb {
            'v' => self.fmt_float(v, 'g', -1),
            'b' | 'g' | 'G' | 'x' | 'X' => self.fmt_float(v, verb, -1),
            'f' | 'e' | 'E' => self.fmt_float(v, verb, 6),
            'F' => self.fmt_float(v, 'f', 6),
            _ => self.bad_verb(verb, value),
        }
    }

    fn fmt_float(&mut self, v: f64, verb: char, prec: i64) {
        let prec = self.f.prec.map(|p| p as i64).unwrap_or(prec);
        let mut num: Vec<u8> = format_float(v, verb, prec).into_bytes();
        if num[0] == b'-' || num[0] == b'+' {
            // keep the sign
        } else {
            num.insert(0, b'+');
        }
        if self.f.space && num[0] == b'+' && !self.f.plus {
            num[0] = b' ';
        }
        if num[1] == b'I' || num[1] == b'N' {
            let old = self.f.zero;
            self.f.zero = false;
            if num[1] == b'N' && !self.f.space && !self.f.plus {
                num.remove(0);
            }
            let s = String::from_utf8(num).unwrap_or_default();
            self.pad(&s);
            self.f.zero = old;
            return;
        }
        if self.f.sharp && verb != 'b' {
            let mut digits: i64 = 0;
            if matches!(verb, 'v' | 'g' | 'G' | 'x') {
                digits = prec;
                if digits == -1 {
                    digits = 6;
                }
            }
            let mut tail: Vec<u8> = Vec::new();
            let mut has_dot = false;
            let mut saw_nonzero = false;
            let mut i = 1;
            while i < num.len() {
                match num[i] {
                    b'.' => has_dot = true,
                    b'p' | b'P' => {
                        tail.extend_from_slice(&num[i..]);
                        num.truncate(i);
                        break;
                    }
                    b'e' | b'E' if verb != 'x' && verb != 'X' => {
                        tail.extend_from_slice(&num[i..]);
                        num.truncate(i);
                        break;
                    }
                    c => {
                        if c != b'0' {
                            saw_nonzero = true;
                        }
                        if saw_nonzero {
                            digits -= 1;
                        }
                    }
                }
                i += 1;
            }
            if !has_dot {
                if num.len() == 2 && num[1] == b'0' {
                    digits -= 1;
                }
                num.push(b'.');
            }
            while digits > 0 {
                num.push(b'0');
                digits -= 1;
            }
            num.extend_from_slice(&tail);
        }
        let s = String::from_utf8(num).unwrap_or_default();
        if self.f.plus || !s.starts_with('+') {
            if self.f.zero
                && !self.f.minus
                && let Some(w) = self.f.wid
                && w > s.len()
            {
                self.buf.push_str(&s[..1]);
                self.write_padding(w - s.len());
                self.buf.push_str(&s[1..]);
                return;
            }
            self.pad(&s);
            return;
        }
        self.pad(&s[1..]);
    }

    fn fmt_string_verb(&mut self, s: &str, verb: char, value: &Value) {
        match verb {
            'v' | 's' | 'x' | 'X' | 'q' => self.fmt_string(s, verb),
            _ => self.bad_verb(verb, value),
        }
    }

    fn fmt_string(&mut self, s: &str, verb: char) {
        match verb {
            'v' => {
                if self.f.sharp_v {
                    self.fmt_q(s)
                } else {
                    self.fmt_s(s)
                }
            }
            's' => self.fmt_s(s),
            'x' => self.fmt_sbx(s.as_bytes(), LDIGITS),
            'X' => self.fmt_sbx(s.as_bytes(), UDIGITS),
            'q' => self.fmt_q(s),
            _ => {}
        }
    }

    fn truncate<'a>(&self, s: &'a str) -> &'a str {
        if let Some(p) = self.f.prec
            && let Some((i, _)) = s.char_indices().nth(p)
        {
            return &s[..i];
        }
        s
    }

    fn fmt_s(&mut self, s: &str) {
        let s = self.truncate(s);
        self.pad(s);
    }

    fn fmt_q(&mut self, s: &str) {
        let s = self.truncate(s);
        if self.f.sharp && can_backquote(s) {
            let q = format!("`{s}`");
            self.pad(&q);
            return;
        }
        let q = quote_with(s, '"', self.f.plus);
        self.pad(&q);
    }

    fn fmt_sbx(&mut self, b: &[u8], digits: &[u8; 17]) {
        let mut length = b.len();
        if let Some(p) = self.f.prec
            && p < length
        {
            length = p;
        }
        let mut width = 2 * length;
        if width > 0 {
            if self.f.space {
                if self.f.sharp {
                    width *= 2;
                }
                width += length - 1;
            } else if self.f.sharp {
                width += 2;
            }
        } else {
            if let Some(w) = self.f.wid {
                self.write_padding(w);
            }
            return;
        }
        let wid = self.f.wid.unwrap_or(0);
        if wid > width && !self.f.minus {
            self.write_padding(wid - width);
        }
        if self.f.sharp {
            self.buf.push('0');
            self.buf.push(digits[16] as char);
        }
        for (i, c) in b[..length].iter().enumerate() {
            if self.f.space && i > 0 {
                self.buf.push(' ');
                if self.f.sharp {
                    self.buf.push('0');
                    self.buf.push(digits[16] as char);
                }
            }
            self.buf.push(digits[(c >> 4) as usize] as char);
            self.buf.push(digits[(c & 0xF) as usize] as char);
        }
        if wid > width && self.f.minus {
            self.write_padding(wid - width);
        }
    }

    fn fmt_bytes(&mut self, b: &[u8], verb: char, value: &Value) {
        match verb {
            'v' | 'd' => {
                if self.f.sharp_v {
                    self.buf.push_str("[]byte{");
                    for (i, c) in b.iter().enumerate() {
                        if i > 0 {
                            self.buf.push_str(", ");
                        }
                        let sharp = self.f.sharp;
                        self.f.sharp = true;
                        self.fmt_integer(*c as u64, 16, false, 'v', LDIGITS);
                        self.f.sharp = sharp;
                    }
                    self.buf.push('}');
                } else {
                    self.buf.push('[');
                    for (i, c) in b.iter().enumerate() {
                        if i > 0 {
                            self.buf.push(' ');
                        }
                        self.fmt_integer(*c as u64, 10, false, verb, LDIGITS);
                    }
                    self.buf.push(']');
                }
            }
            's' => {
                let s = String::from_utf8_lossy(b).into_owned();
                self.fmt_s(&s)
            }
            'x' => self.fmt_sbx(b, LDIGITS),
            'X' => self.fmt_sbx(b, UDIGITS),
            'q' => {
                let s = String::from_utf8_lossy(b).into_owned();
                self.fmt_q(&s)
            }
            _ => {
                // printValue of the []byte as a slice of uint8.
                self.buf.push('[');
                for (i, c) in b.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(' ');
                    }
                    self.fmt_integer_verb(*c as u64, false, verb, &Value::Uint8(*c));
                }
                self.buf.push(']');
                let _ = value;
            }
        }
    }
}

fn int_from_arg(a: &[Value], arg_num: usize) -> (i64, bool, usize) {
    if arg_num < a.len() {
        let (n, ok) = match &a[arg_num] {
            Value::Int(i) | Value::Int64(i) => (*i, true),
            Value::Uint(u) if *u <= i64::MAX as u64 => (*u as i64, true),
            Value::Uint8(u) => (*u as i64, true),
            _ => (0, false),
        };
        if !(-1_000_000..=1_000_000).contains(&n) {
            return (0, false, arg_num + 1);
        }
        return (n, ok, arg_num + 1);
    }
    (0, false, arg_num)
}

// ---- strconv ----

/// Go's conversion of a float64 to int64 on amd64: out of range (and NaN) gives the "integer
/// indefinite" value, `math.MinInt64`.
pub fn go_f64_to_i64(f: f64) -> i64 {
    if f.is_nan() || !(-9.223372036854776e18..9.223372036854776e18).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// Go's `unicode.IsPrint`, closely enough for template text: letters, marks, numbers,
/// punctuation, symbols and the ASCII space.
pub fn is_print(c: char) -> bool {
    let u = c as u32;
    if u < 0x20 || u == 0x7f || (0x80..0xa0).contains(&u) {
        return false;
    }
    if u < 0x7f {
        return true;
    }
    if c.is_whitespace() || c.is_control() {
        return false;
    }
    !matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E
        | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF
        | 0xF0000..=0x10FFFF | 0xFFFE | 0xFFFF)
}

/// `strconv.Quote` (or `QuoteToASCII` when `ascii`).
pub fn quote(s: &str) -> String {
    quote_with(s, '"', false)
}

fn quote_with(s: &str, q: char, ascii: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        append_escaped_rune(&mut out, c, q, ascii);
    }
    out.push(q);
    out
}

fn append_escaped_rune(out: &mut String, c: char, q: char, ascii: bool) {
    if c == q || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if ascii {
        if (c as u32) < 0x80 && is_print(c) {
            out.push(c);
            return;
        }
    } else if is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        _ => {
            let u = c as u32;
            if u < 0x20 || u == 0x7f {
                out.push_str(&format!("\\x{u:02x}"));
            } else if u < 0x10000 {
                out.push_str(&format!("\\u{u:04x}"));
            } else {
                out.push_str(&format!("\\U{u:08x}"));
            }
        }
    }
}

/// `strconv.QuoteRune` (or `QuoteRuneToASCII`).
pub fn quote_rune(c: char, ascii: bool) -> String {
    let mut out = String::from("'");
    append_escaped_rune(&mut out, c, '\'', ascii);
    out.push('\'');
    out
}

/// `strconv.CanBackquote`.
pub fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !(c < ' ' || c == '\x7f')))
}

/// The decimal digits of |v| and the position of the decimal point (Go's `decimalSlice`).
struct Digits {
    d: Vec<u8>,
    dp: i64,
}

/// Digits of |v|: shortest round-trip (`n` None) or rounded to `n` significant digits.
fn digits(v: f64, n: Option<usize>) -> Digits {
    if v == 0.0 {
        return Digits {
            d: Vec::new(),
            dp: 0,
        };
    }
    let s = match n {
        None => format!("{:e}", v.abs()),
        Some(n) => format!("{:.*e}", n.saturating_sub(1), v.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(|b| b.is_ascii_digit()).collect();
    // Go's decimal digits carry no trailing zeros (formats pad them back where they belong).
    while d.len() > 1 && d.last() == Some(&b'0') {
        d.pop();
    }
    Digits { d, dp: exp + 1 }
}

/// Digits of |v| rounded to `prec` digits after the decimal point.
fn digits_fixed(v: f64, prec: usize) -> Digits {
    let s = format!("{:.*}", prec, v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let mut d: Vec<u8> = Vec::new();
    d.extend(int.bytes());
    d.extend(frac.bytes());
    let mut dp = int.len() as i64;
    // Strip leading zeros (moving the point).
    let lead = d.iter().take_while(|b| **b == b'0').count();
    d.drain(..lead);
    dp -= lead as i64;
    while d.last() == Some(&b'0') {
        d.pop();
    }
    if d.is_empty() {
        dp = 0;
    }
    Digits { d, dp }
}

/// `strconv.FormatFloat(v, fmt, prec, 64)` for the formats `e E f g G` (`x X b` fall back to
/// `%e`-like output).
pub fn format_float(v: f64, fmt: char, prec: i64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".to_string()
        } else {
            "-Inf".to_string()
        };
    }
    let neg = v.is_sign_negative();
    let shortest = prec < 0;
    let fmt = match fmt {
        'e' | 'E' | 'f' | 'g' | 'G' => fmt,
        'x' | 'X' | 'b' => return format_hex_float(v, fmt, prec),
        _ => return format!("%{fmt}"),
    };
    let (digs, prec) = if shortest {
        let d = digits(v, None);
        let nd = if v == 0.0 { 0 } else { d.d.len() as i64 };
        let p = match fmt {
            'e' | 'E' => (nd - 1).max(0),
            'f' => (nd - d.dp).max(0),
            _ => nd,
        };
        (d, p)
    } else {
        match fmt {
            'e' | 'E' => (digits(v, Some(prec as usize + 1)), prec),
            'f' => (digits_fixed(v, prec as usize), prec),
            _ => {
                let p = if prec == 0 { 1 } else { prec };
                (digits(v, Some(p as usize)), p)
            }
        }
    };
    let mut digs = digs;
    if v == 0.0 {
        digs.d.clear();
        digs.dp = 0;
    }
    let mut out = String::new();
    format_digits(&mut out, shortest, neg, &digs, prec, fmt);
    out
}

fn format_digits(out: &mut String, shortest: bool, neg: bool, digs: &Digits, prec: i64, fmt: char) {
    let nd = digs.d.len() as i64;
    match fmt {
        'e' | 'E' => fmt_e(out, neg, digs, prec, fmt),
        'f' => fmt_f(out, neg, digs, prec),
        _ => {
            let mut prec = prec;
            let mut eprec = prec;
            if eprec > nd && nd >= digs.dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = digs.dp - 1;
            if exp < -4 || exp >= eprec {
                if prec > nd {
                    prec = nd;
                }
                let e = if fmt == 'g' { 'e' } else { 'E' };
                fmt_e(out, neg, digs, prec - 1, e);
                return;
            }
            if prec > digs.dp {
                prec = nd;
            }
            fmt_f(out, neg, digs, (prec - digs.dp).max(0));
        }
    }
}

fn fmt_e(out: &mut String, neg: bool, d: &Digits, prec: i64, fmt: char) {
    if neg {
        out.push('-');
    }
    let nd = d.d.len() as i64;
    out.push(if nd != 0 { d.d[0] as char } else { '0' });
    if prec > 0 {
        out.push('.');
        let mut i = 1i64;
        let m = nd.min(prec + 1);
        if i < m {
            for b in &d.d[i as usize..m as usize] {
                out.push(*b as char);
            }
            i = m;
        }
        while i <= prec {
            out.push('0');
            i += 1;
        }
    }
    out.push(fmt);
    let mut exp = d.dp - 1;
    if nd == 0 {
        exp = 0;
    }
    if exp < 0 {
        out.push('-');
        exp = -exp;
    } else {
        out.push('+');
    }
    if exp < 10 {
        out.push('0');
    }
    out.push_str(&exp.to_string());
}

fn fmt_f(out: &mut String, neg: bool, d: &Digits, prec: i64) {
    if neg {
        out.push('-');
    }
    let nd = d.d.len() as i64;
    if d.dp > 0 {
        let m = nd.min(d.dp);
        for b in &d.d[..m as usize] {
            out.push(*b as char);
        }
        for _ in m..d.dp {
            out.push('0');
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec {
            let j = d.dp + i;
            out.push(if 0 <= j && j < nd {
                d.d[j as usize] as char
            } else {
                '0'
            });
        }
    }
}

/// `%x` / `%b` of a float64 (rare in charts): Go's hexadecimal mantissa-exponent form.
fn format_hex_float(v: f64, fmt: char, prec: i64) -> String {
    let bits = v.to_bits();
    let neg = bits >> 63 != 0;
    let exp_bits = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    let mut exp = exp_bits - 1023 - 52;
    if exp_bits == 0 {
        exp += 1;
    } else {
        mant |= 1u64 << 52;
    }
    if fmt == 'b' {
        return format!(
            "{}{}p{}{}",
            if neg { "-" } else { "" },
            mant,
            if exp >= 0 { "+" } else { "" },
            exp
        );
    }
    // Hexadecimal: normalise mantissa to 1.xxx (shift so the leading bit is bit 60).
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if mant == 0 {
        exp = 0;
    }
    let mut m = mant;
    if m != 0 {
        while m & (1u64 << 60) == 0 {
            m <<= 1;
            exp -= 1;
        }
        exp += 60;
    }
    let lower = fmt == 'x';
    let digs = if lower { LDIGITS } else { UDIGITS };
    let mut frac = m & ((1u64 << 60) - 1);
    let mut lead = m >> 60;
    if (0..15).contains(&prec) {
        let shift = 60 - prec * 4;
        let extra = frac & ((1u64 << shift) - 1);
        frac >>= shift;
        let half = 1u64 << (shift - 1);
        if extra > half || (extra == half && frac & 1 == 1) {
            frac += 1;
        }
        if frac >> (prec * 4) != 0 {
            lead += 1;
            frac &= (1u64 << (prec * 4)) - 1;
        }
        if lead > 1 {
            lead = 1;
            exp += 1;
        }
        out.push_str(if lower { "0x" } else { "0X" });
        out.push(digs[lead as usize] as char);
        if prec > 0 {
            out.push('.');
            for i in (0..prec).rev() {
                out.push(digs[((frac >> (i * 4)) & 0xf) as usize] as char);
            }
        }
    } else {
        out.push_str(if lower { "0x" } else { "0X" });
        out.push(digs[lead as usize] as char);
        let mut f = frac;
        if f != 0 {
            out.push('.');
            while f != 0 {
                out.push(digs[((f >> 56) & 0xf) as usize] as char);
                f = (f << 4) & ((1u64 << 60) - 1);
            }
        }
    }
    out.push(if lower { 'p' } else { 'P' });
    out.push(if exp >= 0 { '+' } else { '-' });
    let e = exp.abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Type, dict};

    fn f(fmt: &str, args: &[Value]) -> String {
        sprintf(fmt, args)
    }

    #[test]
    fn floats_print_as_go_does() {
        assert_eq!(sprint(&[Value::Float64(1_000_000.0)]), "1e+06");
        assert_eq!(sprint(&[Value::Float64(100_000.0)]), "100000");
        assert_eq!(sprint(&[Value::Float64(1.5)]), "1.5");
        assert_eq!(sprint(&[Value::Float64(0.0001)]), "0.0001");
        assert_eq!(sprint(&[Value::Float64(0.00001)]), "1e-05");
        assert_eq!(sprint(&[Value::Float64(123456789.0)]), "1.23456789e+08");
        assert_eq!(f("%f", &[Value::Float64(1.23456)]), "1.234560");
        assert_eq!(f("%.2f", &[Value::Float64(2.675)]), "2.67");
        assert_eq!(f("%e", &[Value::Float64(1234.5678)]), "1.234568e+03");
        assert_eq!(f("%g", &[Value::Float64(1e21)]), "1e+21");
        assert_eq!(f("%.3g", &[Value::Float64(1234.5678)]), "1.23e+03");
        assert_eq!(
            f(
                "%8.3f|%-8.3f|%08.3f",
                &[
                    Value::Float64(-3.5),
                    Value::Float64(3.5),
                    Value::Float64(-3.5)
                ]
            ),
            "  -3.500|3.500   |-003.500"
        );
        assert_eq!(f("%v", &[Value::Float64(-0.0)]), "-0");
        assert_eq!(f("%#g", &[Value::Float64(1.0)]), "1.00000");
    }

    #[test]
    fn collections_print_as_go_does() {
        let m = dict([
            ("b", Value::list(vec!["x".into(), "y".into()])),
            ("a", Value::Float64(1.0)),
        ]);
        assert_eq!(sprint(std::slice::from_ref(&m)), "map[a:1 b:[x y]]");
        assert_eq!(
            sprint(&[Value::list(vec![Value::Nil, Value::Int(2)])]),
            "[<nil> 2]"
        );
        assert_eq!(
            f("%d", &[Value::list(vec![Value::Int(1), "x".into()])]),
            "[1 %!d(string=x)]"
        );
        assert_eq!(
            f(
                "%q",
                &[Value::typed_slice(
                    Type::String,
                    vec!["a".into(), "b".into()]
                )]
            ),
            "[\"a\" \"b\"]"
        );
        assert_eq!(f("%T", &[m]), "map[string]interface {}");
    }

    #[test]
    fn bad_verbs_and_arguments_are_reported_as_go_does() {
        assert_eq!(f("%d", &["x".into()]), "%!d(string=x)");
        assert_eq!(f("%d", &[Value::Nil]), "%!d(<nil>)");
        assert_eq!(f("%d %d", &[Value::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(f("%d", &[Value::Int(1), Value::Int(2)]), "1%!(EXTRA int=2)");
        assert_eq!(f("%", &[]), "%!(NOVERB)");
        assert_eq!(f("%[2]d %[1]d", &[Value::Int(1), Value::Int(2)]), "2 1");
        assert_eq!(f("%[3]d", &[Value::Int(1)]), "%!d(BADINDEX)");
        assert_eq!(f("%t %v", &[Value::Bool(true), Value::Nil]), "true <nil>");
        assert_eq!(f("%s", &[Value::Float64(1.0)]), "%!s(float64=1)");
    }

    #[test]
    fn integers_and_strings_follow_flags() {
        assert_eq!(
            f(
                "%5d|%-5d|%05d|%+d|%x|%X|%#x|%o|%b|%c|%q|%U",
                &[
                    Value::Int(42),
                    Value::Int(42),
                    Value::Int(-42),
                    Value::Int(42),
                    Value::Int(255),
                    Value::Int(255),
                    Value::Int(255),
                    Value::Int(8),
                    Value::Int(5),
                    Value::Int(65),
                    Value::Int(65),
                    Value::Int(0x1F600)
                ]
            ),
            "   42|42   |-0042|+42|ff|FF|0xff|10|101|A|'A'|U+1F600"
        );
        assert_eq!(
            f(
                "%q|%x|% x|%.2s|%5s|%-5s|%#q",
                &[
                    "a\"b\n".into(),
                    "hi".into(),
                    "hi".into(),
                    "héllo".into(),
                    "ab".into(),
                    "ab".into(),
                    "a`b".into()
                ]
            ),
            "\"a\\\"b\\n\"|6869|68 69|hé|   ab|ab   |\"a`b\""
        );
        assert_eq!(f("%.0d|%6.2d", &[Value::Int(0), Value::Int(3)]), "|    03");
    }
}
