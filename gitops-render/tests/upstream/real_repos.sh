#!/bin/bash
# Builds every kustomization under the given directories with kubectl kustomize and with OURS
# (the first argument) and prints the ones that differ. Usage: real_repos.sh OURS DIR...
# Outputs are compared as parsed YAML (PyYAML); with BYTES=1, byte for byte.
mkdir -p ${OUT:-/tmp/upstream-out}
# for each kustomization dir: kubectl vs ours
OURS=$1; shift
same=0; diff=0; both=0
for root in "$@"; do
for k in $(find $root \( -name kustomization.yaml -o -name kustomization.yml -o -name Kustomization \) | sort); do
  d=$(dirname $k)
  ko=$(timeout 60 kubectl kustomize $d 2>/tmp/upstream-kerr); krc=$?
  oo=$(timeout 60 $OURS $d 2>/tmp/upstream-oerr); orc=$?
  if [ $krc -ne 0 ] || [ $orc -ne 0 ]; then
    if [ $krc -ne 0 ] && [ $orc -ne 0 ]; then both=$((both+1)); else diff=$((diff+1)); echo "DIFF rc $d k=$krc o=$orc: $(grep -v Warning /tmp/upstream-kerr | head -c 250) || $(head -c 250 /tmp/upstream-oerr)"; fi
  elif [ -n "$BYTES" ]; then
    if [ "$ko" == "$oo" ]; then same=$((same+1)); else diff=$((diff+1)); n=$(echo $d | tr / _); printf '%s\n' "$ko" > ${OUT:-/tmp/upstream-out}/$n.k; printf '%s\n' "$oo" > ${OUT:-/tmp/upstream-out}/$n.o; echo "DIFF bytes $d"; fi
  elif python3 -c 'import sys,yaml; a=list(yaml.safe_load_all(open(sys.argv[1]))); b=list(yaml.safe_load_all(open(sys.argv[2]))); sys.exit(0 if a==b else 1)' <(printf '%s\n' "$ko") <(printf '%s\n' "$oo"); then same=$((same+1));
  else diff=$((diff+1)); n=$(echo $d | tr / _); printf '%s\n' "$ko" > ${OUT:-/tmp/upstream-out}/$n.k; printf '%s\n' "$oo" > ${OUT:-/tmp/upstream-out}/$n.o; echo "DIFF out $d"; fi
done; done
echo "same=$same diff=$diff bothfail=$both"
