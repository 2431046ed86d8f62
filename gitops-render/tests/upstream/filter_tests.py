#!/usr/bin/env python3
"""Writes one kustomization per case of Kustomize's replacement and strategic-merge filter tests
(api/filters/{replacement,patchstrategicmerge}). Usage: KUSTOMIZE_GIT=<git dir> filter_tests.py OUTDIR"""
import re, subprocess, os, shutil, sys
REPO=os.environ['KUSTOMIZE_GIT']; TAG='kustomize/v5.5.0'
out=sys.argv[1]; shutil.rmtree(out, ignore_errors=True)
def cases(path, fields):
    src=subprocess.check_output(['git','-C',REPO,'show',f'{TAG}:{path}']).decode()
    # split on case headers: "name": {
    parts=re.split(r'\n\t\t"([^"]+)": \{\n', src)
    res=[]
    for i in range(1,len(parts),2):
        name=parts[i]; body=parts[i+1]
        d={}
        for f in fields:
            m=re.search(r'(?:^|\n)\t\t\t'+f+r':\s*(?:yaml\.MustParse\()?`(.*?)`', body, re.S)
            if m: d[f]=m.group(1)
        res.append((name,d))
    return res
n=0
for name,d in cases('api/filters/replacement/replacement_test.go',['input','replacements']):
    if 'input' not in d or 'replacements' not in d: continue
    n+=0; c=os.path.join(out,'rep-%03d-' % n + re.sub(r'[^A-Za-z0-9]+','-',name)); os.makedirs(c, exist_ok=True)
    open(c+'/input.yaml','w').write(d['input'])
    open(c+'/kustomization.yaml','w').write('resources:\n- input.yaml\n'+d['replacements'])
    n+=1
for name,d in cases('api/filters/patchstrategicmerge/patchstrategicmerge_test.go',['input','patch']):
    if 'input' not in d or 'patch' not in d: continue
    c=os.path.join(out,'smp-%03d-' % n + re.sub(r'[^A-Za-z0-9]+','-',name)); os.makedirs(c, exist_ok=True)
    open(c+'/input.yaml','w').write(d['input'])
    open(c+'/patch.yaml','w').write(d['patch'])
    open(c+'/kustomization.yaml','w').write('resources:\n- input.yaml\npatches:\n- path: patch.yaml\n  target:\n    name: ".*"\n')
    n+=1
print(n)
