MIRROR=${KUSTOMIZE_GIT:?set KUSTOMIZE_GIT to a kustomize git dir}
# Helpers sourced by the scripts examples.py writes: curl reads Kustomize's own files from
# KUSTOMIZE_GIT instead of the network, and `kustomize build` runs kubectl kustomize and OURS and
# logs SAME, DIFF or BOTHFAIL to LOG.
TAG=kustomize/v5.5.0
OURS=${OURS:?set OURS to the render binary}
LOG=${LOG:-/tmp/upstream-examples.log}
SCRIPT_NAME=${SCRIPT_NAME:-x}
curl() {
  local out= url=
  while [ $# -gt 0 ]; do case $1 in -o) out=$2; shift 2;; -*) shift;; *) url=$1; shift;; esac; done
  local path=${url#https://raw.githubusercontent.com/kubernetes-sigs/kustomize/master/}
  if [[ $path == http* ]]; then echo "curl: $url not local" >&2; return 1; fi
  if [[ $path =~ \{([^}]*)\} ]]; then
    local alts=${BASH_REMATCH[1]} a
    IFS=, read -ra A <<< "$alts"
    for a in "${A[@]}"; do
      git -C $MIRROR show "$TAG:${path/\{$alts\}/$a}" > "${out//\#1/$a}"
    done
  elif [ -n "$out" ]; then git -C $MIRROR show "$TAG:$path" > "$out"
  else git -C $MIRROR show "$TAG:$path"; fi
}
kustomize() {
  if [ "$1" != build ]; then echo "SKIP $SCRIPT_NAME: kustomize $*" >> $LOG; return 0; fi
  shift
  local dir= kargs=() oargs=() skip=
  while [ $# -gt 0 ]; do
    case $1 in
      --load-restrictor|--load_restrictor) kargs+=(--load-restrictor "$2"); oargs+=(--load-restrictor none); shift 2;;
      --enable-alpha-plugins|--enable_alpha_plugins|--enable-exec|--network) skip=1; kargs+=("$1"); shift;;
      --enable-helm) kargs+=("$1"); oargs+=("$1"); shift;;
      --*) kargs+=("$1"); shift;;
      *) dir=$1; shift;;
    esac
  done
  [ -z "$dir" ] && dir=.
  local k o krc orc
  k=$(kubectl kustomize "${kargs[@]}" "$dir" 2>/tmp/upstream-kerr); krc=$?
  if [ -n "$skip" ]; then echo "SKIP $SCRIPT_NAME: plugins $dir" >> $LOG; printf '%s\n' "$k"; return $krc; fi
  o=$($OURS "${oargs[@]}" "$dir" 2>/tmp/upstream-oerr); orc=$?
  if [ $krc -ne 0 ] || [ $orc -ne 0 ]; then
    if [ $krc -ne 0 ] && [ $orc -ne 0 ]; then echo "BOTHFAIL $SCRIPT_NAME $dir" >> $LOG
    else echo "DIFF $SCRIPT_NAME $dir rc k=$krc o=$orc: $(head -c 300 /tmp/upstream-kerr) || $(head -c 300 /tmp/upstream-oerr)" >> $LOG; fi
  else
    if python3 -c 'import sys,yaml; a=list(yaml.safe_load_all(open(sys.argv[1]))); b=list(yaml.safe_load_all(open(sys.argv[2]))); sys.exit(0 if a==b else 1)' <(printf '%s\n' "$k") <(printf '%s\n' "$o"); then echo "SAME $SCRIPT_NAME $dir" >> $LOG
    else n=$(ls /tmp/upstream-diffs 2>/dev/null | wc -l); mkdir -p /tmp/upstream-diffs; printf '%s\n' "$k" > /tmp/upstream-diffs/$n.k; printf '%s\n' "$o" > /tmp/upstream-diffs/$n.o; echo "DIFF $SCRIPT_NAME $dir output differs (diffs/$n)" >> $LOG; fi
  fi
  printf '%s\n' "$k"
  return $krc
}
export -f curl kustomize 2>/dev/null
