#!/usr/bin/env python3
"""A strict check of Prometheus text exposition (format 0.0.4), for when
promtool is not installed; t_metrics.sh runs both when it is.

usage: promcheck.py FILE|URL [-o OUT] [NAME=VALUE ...]
  Checks FILE, or what GET URL answers with 200 (kept in OUT); then each
  NAME=VALUE (a series as written, labels and all,
  e.g. 'vigil_collector_connections{state="agent"}=1', or NAME>=VALUE)
  against the sample.  Prints what is wrong and exits 1; 0 when all is
  well.

Checked: every line is a comment, a sample or empty; HELP and TYPE come
once per family, TYPE before its first sample; families are not split;
metric and label names match the grammar; label values are quoted with
only \\\\, \\" and \\n escapes; values are floats (NaN, +Inf, -Inf too);
no series appears twice; counters end in _total; histograms have
cumulative buckets ending in le="+Inf", whose count equals _count, and a
_sum.
"""
import math
import re
import sys

NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*')
LABEL = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*')
TYPES = {'counter', 'gauge', 'histogram', 'summary', 'untyped'}
errors = []


def err(lineno, msg):
    errors.append(f'line {lineno}: {msg}')


def parse_value(s):
    if s in ('NaN', '+Inf', '-Inf', 'Inf'):
        return float(s.replace('Inf', 'inf'))
    if not re.fullmatch(r'[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?', s):
        raise ValueError(s)
    return float(s)


def parse_labels(s, lineno):
    """s starts after '{'; returns (labels tuple, rest after '}')."""
    labels, i = [], 0
    while True:
        if i < len(s) and s[i] == '}':
            return tuple(labels), s[i + 1:]
        m = LABEL.match(s, i)
        if not m:
            raise ValueError('bad label name')
        name = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            raise ValueError('expected =" after label name')
        i += 2
        val = []
        while True:
            if i >= len(s):
                raise ValueError('unterminated label value')
            c = s[i]
            if c == '\\':
                if i + 1 >= len(s) or s[i + 1] not in '\\"n':
                    raise ValueError('bad escape in label value')
                val.append({'\\': '\\', '"': '"', 'n': '\n'}[s[i + 1]])
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == '\n':
                raise ValueError('newline in label value')
            else:
                val.append(c)
                i += 1
        if name in (l[0] for l in labels):
            raise ValueError(f'label {name} twice')
        labels.append((name, ''.join(val)))
        if i < len(s) and s[i] == ',':
            i += 1
        elif i < len(s) and s[i] == '}':
            continue
        else:
            raise ValueError('expected , or } after label value')


def family_of(name, types):
    for suffix in ('_bucket', '_sum', '_count'):
        if name.endswith(suffix) and types.get(name[:-len(suffix)]) in ('histogram', 'summary'):
            return name[:-len(suffix)]
    return name


def check(text):
    types, helps, seen_fam, done_fam = {}, {}, set(), set()
    series, samples = set(), {}
    current = None
    if text and not text.endswith('\n'):
        err(0, 'the text does not end with a newline')
    for lineno, line in enumerate(text.split('\n')[:-1], 1):
        if not line.strip():
            continue
        if line.startswith('#'):
            parts = line.split(' ', 3)
            if len(parts) >= 3 and parts[1] in ('HELP', 'TYPE'):
                name = parts[2]
                if not NAME.fullmatch(name):
                    err(lineno, f'bad metric name {name!r}')
                if name in done_fam:
                    err(lineno, f'{name}: family split (seen before another family)')
                d = helps if parts[1] == 'HELP' else types
                if name in d:
                    err(lineno, f'{name}: second {parts[1]}')
                if parts[1] == 'TYPE':
                    if len(parts) != 4 or parts[3] not in TYPES:
                        err(lineno, f'{name}: bad TYPE line')
                    elif name in seen_fam:
                        err(lineno, f'{name}: TYPE after its samples')
                    else:
                        types[name] = parts[3]
                else:
                    if len(parts) != 4 or not parts[3]:
                        err(lineno, f'{name}: HELP without text')
                    elif re.search(r'\\[^\\n]', parts[3].replace('\\\\', '')):
                        err(lineno, f'{name}: bad escape in HELP')
                    helps[name] = parts[3] if len(parts) == 4 else ''
                if current != name and current is not None:
                    done_fam.add(current)
                current = name
            continue
        m = NAME.match(line)
        if not m:
            err(lineno, f'not a sample: {line!r}')
            continue
        name, rest = m.group(0), line[m.end():]
        labels = ()
        try:
            if rest.startswith('{'):
                labels, rest = parse_labels(rest[1:], lineno)
            if not rest.startswith(' '):
                raise ValueError('expected a space before the value')
            fields = rest.split()
            if len(fields) not in (1, 2):
                raise ValueError('expected a value and at most a timestamp')
            value = parse_value(fields[0])
            if len(fields) == 2 and not re.fullmatch(r'-?\d+', fields[1]):
                raise ValueError('bad timestamp')
        except ValueError as e:
            err(lineno, f'{name}: {e}')
            continue
        fam = family_of(name, types)
        if fam not in types:
            err(lineno, f'{name}: sample without a TYPE line before it')
        if fam in done_fam:
            err(lineno, f'{name}: family split')
        if current != fam and current is not None:
            done_fam.add(current)
        current = fam
        seen_fam.add(fam)
        key = (name, tuple(sorted(labels)))
        if key in series:
            err(lineno, f'{name}{dict(labels)}: series twice')
        series.add(key)
        samples[key] = value
        t = types.get(fam)
        if t == 'counter' and not name.endswith('_total'):
            err(lineno, f'{name}: a counter without _total')
        if t == 'counter' and (value < 0 or math.isnan(value)):
            err(lineno, f'{name}: a counter below zero')
        if t == 'histogram' and name == fam:
            err(lineno, f'{name}: a histogram sample without _bucket, _sum or _count')
        if t == 'histogram' and name.endswith('_bucket') and 'le' not in dict(labels):
            err(lineno, f'{name}: a bucket without le')
    for fam, t in types.items():
        if fam not in helps:
            err(0, f'{fam}: no HELP')
        if fam not in seen_fam:
            err(0, f'{fam}: no sample')
        if t != 'histogram':
            continue
        groups = {}
        for (name, labels), v in samples.items():
            if name == fam + '_bucket':
                rest = tuple(l for l in labels if l[0] != 'le')
                le = dict(labels)['le']
                groups.setdefault(rest, []).append((parse_value(le), v))
        for rest, buckets in groups.items():
            buckets.sort()
            counts = [v for _, v in buckets]
            if counts != sorted(counts):
                err(0, f'{fam}{dict(rest)}: buckets not cumulative')
            if not buckets or buckets[-1][0] != math.inf:
                err(0, f'{fam}{dict(rest)}: no le="+Inf" bucket')
                continue
            cnt = samples.get((fam + '_count', rest))
            if cnt is None or (fam + '_sum', rest) not in samples:
                err(0, f'{fam}{dict(rest)}: no _count or _sum')
            elif cnt != buckets[-1][1]:
                err(0, f'{fam}{dict(rest)}: _count {cnt} is not the +Inf bucket {buckets[-1][1]}')
    return samples


def series_key(spec):
    m = NAME.match(spec)
    name, rest = m.group(0), spec[m.end():]
    labels = ()
    if rest.startswith('{'):
        labels, rest = parse_labels(rest[1:], 0)
    return (name, tuple(sorted(labels))), rest


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    src, args = sys.argv[1], sys.argv[2:]
    if src.startswith('http://'):
        import urllib.request
        with urllib.request.urlopen(src, timeout=10) as r:
            if r.status != 200 or r.headers.get('Connection') != 'close':
                print(f'{src}: {r.status}, Connection: {r.headers.get("Connection")}')
                return 1
            if not r.headers.get('Content-Type', '').startswith('text/plain; version=0.0.4'):
                print(f'{src}: Content-Type {r.headers.get("Content-Type")}')
                return 1
            text = r.read().decode('utf-8')
        if args[:1] == ['-o']:
            with open(args[1], 'w', encoding='utf-8') as f:
                f.write(text)
            args = args[2:]
    else:
        with open(src, encoding='utf-8') as f:
            text = f.read()
    samples = check(text)
    for want in args:
        key, rest = series_key(want)
        op = '>=' if rest.startswith('>=') else '='
        v = float(rest[len(op):])
        got = samples.get(key)
        if got is None:
            errors.append(f'{want}: no such series')
        elif (op == '=' and got != v) or (op == '>=' and got < v):
            errors.append(f'{want}: the value is {got:g}')
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
