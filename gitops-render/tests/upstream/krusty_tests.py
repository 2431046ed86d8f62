#!/usr/bin/env python3
"""Writes one case per `th.Run`/`th.RunWithErr` of Kustomize's krusty tests (api/krusty/*_test.go)
in the layout of ../shared/kustomize-suite (fs/, BUILD), with kubectl's output as expected.yaml
(or EXPECT_ERROR when kubectl fails), so that run.sh scores `render` on them. Only tests whose
name is not in the suite are written (ONLY_NEW=0 for all). Files are the raw strings the test
writes (`th.WriteK/WriteF/WriteC`, literal or a package-level constant); tests with plugins,
Helm, remote URLs or non-default options are left out.
Usage: KUSTOMIZE_GIT=<git dir> [SUITE=../shared/kustomize-suite] krusty_tests.py OUTDIR"""
import json, os, re, shutil, subprocess, sys
REPO = os.environ['KUSTOMIZE_GIT']; REV = os.environ.get('REV', 'HEAD')
SUITE = os.environ.get('SUITE', os.path.join(os.path.dirname(__file__), '../../../../shared/kustomize-suite'))
out = sys.argv[1]; shutil.rmtree(out, ignore_errors=True); os.makedirs(out)
git = lambda *a: subprocess.check_output(['git', '--git-dir', REPO, *a]).decode()
files = [f for f in git('ls-tree', '--name-only', REV, 'api/krusty/').split() if f.endswith('_test.go')]
srcs = {f: git('show', f'{REV}:{f}') for f in files}
consts = {}
helpers = {}
for s in srcs.values():
    for m in re.finditer(r'(?m)^\s*(\w+)\s*=\s*`(.*?)`', s, re.S):
        consts[m.group(1)] = m.group(2)
    # Helpers that write files into the harness (`makeBase(th)`) are spliced where called.
    for m in re.finditer(r'(?ms)^func (\w+)\(th \*?kusttest_test\.Harness\) \{\n(.*?)^\}', s):
        helpers[m.group(1)] = m.group(2)
# th.WriteLegacyConfigs writes Kustomize's default field specs, one constant after another.
LEGACY = ''.join(
    re.search(r'%s\s*=\s*`(.*?)`' % n, ''.join(
        git('show', f'{REV}:{f}') for f in git('ls-tree', '--name-only', REV, 'api/internal/konfig/builtinpluginconsts/').split()
    ), re.S).group(1)
    for n in ['namePrefixFieldSpecs', 'nameSuffixFieldSpecs', 'commonLabelFieldSpecs', 'templateLabelFieldSpecs',
              'commonAnnotationFieldSpecs', 'namespaceFieldSpecs', 'varReferenceFieldSpecs',
              'nameReferenceFieldSpecs', 'imagesFieldSpecs', 'replicasFieldSpecs'])
known = set()
if os.environ.get('ONLY_NEW', '1') == '1':
    for c in os.listdir(os.path.join(SUITE, 'cases')):
        known.add(json.load(open(os.path.join(SUITE, 'cases', c, 'meta.json')))['test'].split('/')[0])
SKIP = re.compile(r'PluginsEnabled|Helm|helm|http://|https://|LoadRestrictions|github\.com/|AddGeneratorsAndTransformers|BuildGoPlugin|PrepExecPlugin|NewPluginTestEnv|MakeOptionsPluginsDisabled|EnableManagedbyLabel|AddManagedbyLabel|\.MkDir|SetupWithAddresses|AlphaPlugins|exec\.Command')
WRITE = re.compile(r'th\.Write([KFC])\(\s*("(?:[^"\\]|\\.)*"|filepath\.Join\([^)]*\))\s*,\s*(`[^`]*`|\w+)\s*\)', re.S)
RUN = re.compile(r'th\.(Run|RunWithErr)\(\s*"([^"]*)"\s*,\s*th\.MakeDefaultOptions\(\)\s*\)')
n = skipped = 0
for f, s in sorted(srcs.items()):
    for m in re.finditer(r'(?ms)^func (Test\w+)\(t \*testing\.T\) \{\n(.*?)^\}', s):
        name, body = m.group(1), m.group(2)
        if name in known: continue
        for h, hb in helpers.items():
            body = body.replace(f'{h}(th)', hb)
        body = re.sub(r'th\.WriteLegacyConfigs\(("[^"]*")\)', r'th.WriteF(\1, LEGACY_CONFIGS)', body)
        # The test's own constants (`const k = `...``) before the package's.
        local = {m.group(1): m.group(2) for m in re.finditer(r'(?m)^\s*(?:const\s+)?(\w+)\s*:?=\s*`(.*?)`', body, re.S)}
        if SKIP.search(body) or 't.Run(' in body or 'for _, ' in body:
            skipped += 1; continue
        events = sorted([(w.start(), 'w', w) for w in WRITE.finditer(body)] + [(r.start(), 'r', r) for r in RUN.finditer(body)], key=lambda e: e[0])
        fs = {}; k = 0; ok = True
        for _, typ, mm in events:
            if typ == 'w':
                kind, path, content = mm.groups()
                if path.startswith('filepath.Join'):
                    parts = re.findall(r'"([^"]*)"', path)
                    if len(parts) != path.count(',') + 1: ok = False; break
                    path = '/'.join(parts)
                else:
                    path = json.loads(path)
                if content.startswith('`'): content = content[1:-1]
                elif content == 'LEGACY_CONFIGS': content = LEGACY
                elif content in local: content = local[content]
                elif content in consts: content = consts[content]
                else: ok = False; break
                if kind in 'KC': path = path.rstrip('/') + '/kustomization.yaml'
                fs[os.path.normpath('/' + path).lstrip('/')] = content
            else:
                how, build = mm.groups()
                b = os.path.normpath('/' + build).lstrip('/') or '.'
                kfile = lambda n: os.path.normpath(os.path.join(b, n))
                # Files written by a helper function are not seen: such a case is left out.
                if not any(kfile(n) in fs for n in ('kustomization.yaml', 'kustomization.yml', 'Kustomization')):
                    skipped += 1; continue
                c = os.path.join(out, f'{name}-{k}' if k else name); k += 1
                os.makedirs(c, exist_ok=True)
                for p, text in fs.items():
                    os.makedirs(os.path.dirname(os.path.join(c, 'fs', p)), exist_ok=True)
                    open(os.path.join(c, 'fs', p), 'w').write(text)
                open(os.path.join(c, 'BUILD'), 'w').write(os.path.normpath(os.path.join('fs', b)) + '\n')
                json.dump({'test': name, 'file': f, 'build': b, 'go_expects_error': how == 'RunWithErr'}, open(os.path.join(c, 'meta.json'), 'w'))
                r = subprocess.run(['kubectl', 'kustomize', os.path.join(c, 'fs', b)], capture_output=True, text=True)
                if r.returncode == 0:
                    open(os.path.join(c, 'expected.yaml'), 'w').write(r.stdout)
                else:
                    open(os.path.join(c, 'EXPECT_ERROR'), 'w').write(r.stderr)
                n += 1
        if not ok: skipped += 1
print(f'{n} cases written, {skipped} tests left out', file=sys.stderr)
