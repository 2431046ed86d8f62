#!/usr/bin/env python3
"""Writes one kustomization per call of the built-in plugin tests of Kustomize
(plugin/builtin/*/*_test.go): the transformer or generator configuration, its input resources and
the files the test writes. Usage: KUSTOMIZE_GIT=<kustomize git dir> plugin_tests.py OUTDIR"""
import os, re, subprocess, sys, json, shutil
REPO=os.environ['KUSTOMIZE_GIT']
OUT=sys.argv[1]
files=subprocess.check_output(['git','-C',REPO,'ls-tree','-r','--name-only','HEAD','plugin/builtin']).decode().split()
files=[f for f in files if f.endswith('_test.go') and 'helm' not in f]
def tokens(s,i):
    # parse a Go expression arg list starting after '(' ; return list of args (raw text) and end index
    args=[];cur='';depth=0
    while i<len(s):
        c=s[i]
        if c=='`':
            j=s.index('`',i+1); cur+=s[i:j+1]; i=j+1; continue
        if c=='"':
            j=i+1
            while s[j]!='"':
                j+= 2 if s[j]=='\\' else 1
            cur+=s[i:j+1]; i=j+1; continue
        if c in '([{': depth+=1
        if c in ')]}':
            if depth==0:
                args.append(cur.strip()); return args,i+1
            depth-=1
        if c==',' and depth==0:
            args.append(cur.strip()); cur=''; i+=1; continue
        cur+=c; i+=1
    return None,i
def evalstr(e,consts):
    parts=[p.strip() for p in re.split(r'\+(?=(?:[^`]*`[^`]*`)*[^`]*$)',e)]
    out=''
    for p in parts:
        if p.startswith('`') and p.endswith('`'): out+=p[1:-1]
        elif p.startswith('"') and p.endswith('"'): out+=json.loads(p)
        elif p in consts: out+=consts[p]
        else: return None
    return out
shutil.rmtree(OUT,ignore_errors=True)
n=0;skipped=0
for f in files:
    src=subprocess.check_output(['git','-C',REPO,'show','HEAD:'+f]).decode()
    consts={}
    for m in re.finditer(r'(?m)^\s*(?:const|var)?\s*(\w+)\s*=\s*(`[^`]*`)',src):
        consts[m.group(1)]=m.group(2)[1:-1]
    funcs=re.split(r'(?m)^func ',src)
    for fn in funcs[1:]:
        name=re.match(r'(\w+)',fn).group(1)
        if not name.startswith('Test'): continue
        writes={}
        idx=0
        for m in re.finditer(r'th\.(WriteF|RunTransformerAndCheckResult|RunTransformerAndCheckError|LoadAndRunTransformer|LoadAndRunGenerator|ErrorFromLoadAndRunTransformer)\(',fn):
            args,_=tokens(fn,m.end())
            if args is None: continue
            kind=m.group(1)
            if kind=='WriteF':
                p=args[0]
                pm=re.match(r'filepath\.Join\(th\.GetRoot\(\),\s*"([^"]+)"\)',p)
                if pm: path=pm.group(1)
                elif p.startswith('"'): path=json.loads(p)
                else: continue
                c=evalstr(args[1],consts)
                if c is None: continue
                writes[path.lstrip('/')]=c
                continue
            cfg=evalstr(args[0],consts)
            inp=evalstr(args[1],consts) if len(args)>1 and kind!='LoadAndRunGenerator' else ''
            if cfg is None or inp is None: skipped+=1; continue
            idx+=1
            d=os.path.join(OUT,f'{name}-{idx}','fs')
            os.makedirs(d)
            for p,c in writes.items():
                os.makedirs(os.path.dirname(os.path.join(d,p)) or d,exist_ok=True)
                open(os.path.join(d,p),'w').write(c)
            cfg=re.sub(r'(path:\s*)/', r'\1', cfg)
            cfg=re.sub(r'(- )/(\w)', r'\1\2', cfg)
            open(os.path.join(d,'config.yaml'),'w').write(cfg)
            k='generators' if kind=='LoadAndRunGenerator' else 'transformers'
            kz=f'{k}:\n- config.yaml\n'
            if inp.strip():
                open(os.path.join(d,'input.yaml'),'w').write(inp)
                kz='resources:\n- input.yaml\n'+kz
            open(os.path.join(d,'kustomization.yaml'),'w').write(kz)
            n+=1
print(n,'cases',skipped,'skipped')
