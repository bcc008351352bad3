# agentpod pool run (see pool/script.rs). POSIX sh + busybox tools.
# argv: <scratch dir> <run id> <claude shell line> <section>...   (section: env:NAME or file:NAME)
# stdin: "<len of each section> <len of prompt>\n", the sections' bytes, the prompt's bytes.
# 1. Every process of earlier runs ends: all but pid 1, the exec wrapper that
#    started us and its watchdog, and our own session.
# 2. The scratch dir (/tmp) and the pod's $HOME are emptied; the run gets a
#    fresh $HOME and working dir under <scratch>/agentpod-run.
# 3. Sections become exported variables (credentials never in argv or the
#    pod spec) or input files; the prompt is claude's stdin.
# 4. After claude: the processes that carry this run's id in their environment
#    are killed and the run's dir removed (only its own: the pod may already
#    serve the next run, whose step 1 also ends whatever is left of this one);
#    then claude's exit status.
agentpod_fail() { echo "agentpod-pool: $*" >&2; exit 125; }
[ "$#" -ge 3 ] || agentpod_fail "usage: <scratch> <run id> <line> <section>..."
agentpod_scratch=$1
agentpod_id=$2
agentpod_line=$3
shift 3
agentpod_specs=$*
agentpod_parent=$PPID
IFS= read -r agentpod_stat < "/proc/$$/stat" || agentpod_fail "cannot read /proc/$$/stat"
agentpod_stat=${agentpod_stat##*) }
set -f
# shellcheck disable=SC2086
set -- $agentpod_stat
agentpod_sid=$4
agentpod_reap() {
  set +f
  for agentpod_d in /proc/[0-9]*; do
    agentpod_p=${agentpod_d#/proc/}
    case $agentpod_p in 1|"$$"|"$agentpod_parent") continue;; esac
    IFS= read -r agentpod_st < "$agentpod_d/stat" 2>/dev/null || continue
    agentpod_st=${agentpod_st##*) }
    # shellcheck disable=SC2086
    set -- $agentpod_st
    [ "$2" = "$agentpod_parent" ] && continue
    [ "$4" = "$agentpod_sid" ] && continue
    kill -KILL "$agentpod_p" 2>/dev/null
  done
  set -f
}
agentpod_reap_own() {
  set +f
  for agentpod_d in /proc/[0-9]*; do
    agentpod_p=${agentpod_d#/proc/}
    [ "$agentpod_p" = "$$" ] && continue
    if tr '\0' '\n' < "$agentpod_d/environ" 2>/dev/null | grep -qx "AGENTPOD_RUN=$agentpod_id"; then
      kill -KILL "$agentpod_p" 2>/dev/null
    fi
  done
  set -f
}
agentpod_wipe() {
  cd / || return
  set +f
  rm -rf "$agentpod_scratch"/* "$agentpod_scratch"/.[!.]* "$agentpod_scratch"/..?* 2>/dev/null
  case ${agentpod_home:-/} in
    /) ;;
    *) rm -rf "$agentpod_home"/* "$agentpod_home"/.[!.]* "$agentpod_home"/..?* 2>/dev/null;;
  esac
  set -f
}
agentpod_home=${HOME:-/}
agentpod_reap
agentpod_wipe
agentpod_run=$agentpod_scratch/agentpod-run-$agentpod_id
umask 077
mkdir -p "$agentpod_run/home" "$agentpod_run/work" "$agentpod_run/inputs" ||
  agentpod_fail "cannot create $agentpod_run; is $agentpod_scratch writable?"
IFS= read -r agentpod_header || agentpod_fail "no section header on stdin"
cat > "$agentpod_run/in" || agentpod_fail "cannot store the run's input"
# shellcheck disable=SC2086
set -- $agentpod_header
agentpod_at=1
for agentpod_spec in $agentpod_specs; do
  [ "$#" -ge 2 ] || agentpod_fail "bad section header"
  agentpod_n=$1
  shift
  case $agentpod_n in ''|*[!0-9]*) agentpod_fail "bad section header";; esac
  case $agentpod_spec in
    env:*)
      agentpod_v=$(tail -c "+$agentpod_at" "$agentpod_run/in" | head -c "$agentpod_n"; printf x)
      export "${agentpod_spec#env:}=${agentpod_v%x}"
      ;;
    file:*)
      tail -c "+$agentpod_at" "$agentpod_run/in" | head -c "$agentpod_n" \
        > "$agentpod_run/inputs/${agentpod_spec#file:}" || agentpod_fail "cannot write an input file"
      ;;
    *) agentpod_fail "bad section $agentpod_spec";;
  esac
  agentpod_at=$((agentpod_at + agentpod_n))
done
[ "$#" -eq 1 ] || agentpod_fail "bad section header"
tail -c "+$agentpod_at" "$agentpod_run/in" | head -c "$1" > "$agentpod_run/prompt" ||
  agentpod_fail "cannot store the prompt"
rm -f "$agentpod_run/in"
unset agentpod_v
export HOME="$agentpod_run/home" AGENTPOD_RUN="$agentpod_id"
cd "$agentpod_run/work" || agentpod_fail "cannot enter $agentpod_run/work"
sh -c "$agentpod_line" < "$agentpod_run/prompt"
agentpod_status=$?
cd / || exit "$agentpod_status"
agentpod_reap_own
rm -rf "$agentpod_run"
exit "$agentpod_status"
