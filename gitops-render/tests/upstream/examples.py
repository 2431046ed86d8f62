#!/usr/bin/env python3
"""Writes the shell blocks of Kustomize's examples/*.md (those marked @testAgainstLatestRelease) as
scripts; run each with bash: its `kustomize build` compares kubectl and ours (see examples_prelude.sh).
Usage: KUSTOMIZE_GIT=<git dir> examples.py OUTDIR"""
import re, subprocess, sys, os
REPO=os.environ['KUSTOMIZE_GIT']; TAG='kustomize/v5.5.0'
files=[f for f in subprocess.check_output(['git','-C',REPO,'ls-tree','-r','--name-only',TAG,'examples']).decode().split() if f.endswith('.md') and '/zh/' not in f]
os.makedirs(sys.argv[1],exist_ok=True)
for f in files:
    md=subprocess.check_output(['git','-C',REPO,'show',f'{TAG}:{f}']).decode()
    blocks=re.findall(r'<!--\s*@(\w+)[^>]*@testAgainstLatestRelease[^>]*-->\s*\n\s*```[a-z]*\n(.*?)```',md,re.S)
    if not blocks: continue
    name=f.replace('/','_').replace('.md','')
    with open(f'{sys.argv[1]}/{name}.sh','w') as o:
        o.write(f'source {os.path.dirname(os.path.abspath(__file__))}/examples_prelude.sh\n')
        for bname,code in blocks:
            o.write(f'# --- {bname}\n{code}\n')
    print(name,len(blocks))
