#!/usr/bin/env python3
"""Builds every CASES/<name>/fs (or CASES/<name>) with kubectl kustomize and with OURS and reports
the ones whose parsed output or exit status differ. Usage: CASES=DIR compare_cases.py OURS"""
import os, subprocess, sys, yaml
OURS=sys.argv[1]; base=os.environ.get('CASES', '/tmp/upstream/cases')
only=sys.argv[2:] 
def load(s):
    try: return list(yaml.safe_load_all(s))
    except Exception as e: return ('unparsable',str(e))
diff=0;tot=0
for c in sorted(os.listdir(base)):
    if only and c not in only: continue
    if not os.path.isdir(os.path.join(base,c)): continue
    d=os.path.join(base,c,'fs')
    if not os.path.isdir(d): d=os.path.join(base,c)
    tot+=1
    k=subprocess.run(['kubectl','kustomize',d],capture_output=True,text=True)
    o=subprocess.run([OURS,d],capture_output=True,text=True)
    if k.returncode!=0 or o.returncode!=0:
        if (k.returncode!=0)!=(o.returncode!=0):
            diff+=1; print(f'DIFF {c}: kubectl rc={k.returncode} ours rc={o.returncode}\n  k: {k.stderr.strip()[:300]}\n  o: {o.stderr.strip()[:300]}')
        else:
            print(f'bothfail {c}\n  k: {k.stderr.strip()[:200]}\n  o: {o.stderr.strip()[:200]}')
        continue
    if load(k.stdout)!=load(o.stdout):
        diff+=1; print(f'DIFF {c}: output differs')
        open(f'{base}/{c}.kubectl','w').write(k.stdout); open(f'{base}/{c}.ours','w').write(o.stdout)
print(f'{tot} cases, {diff} differ')
