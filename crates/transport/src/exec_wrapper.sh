# agentpod exec wrapper (see exec.rs). POSIX sh; needs head, tail, wc, mktemp,
# setsid, kill, sleep and rm. Everything the caller sends arrives on stdin:
#   "<argc> <len of arg 1> ... <len of arg argc> <len of stdin>\n"
#   then the arguments' bytes, then the command's stdin bytes.
# The URL of the exec request therefore never carries the caller's data.
agentpod_fail() { echo "agentpod-exec: $*" >&2; exit 125; }
IFS= read -r agentpod_header || agentpod_fail "no request header on stdin"
set -f
set -- $agentpod_header
[ "$#" -ge 3 ] || agentpod_fail "bad request header"
for agentpod_n in "$@"; do
  case $agentpod_n in ''|*[!0-9]*) agentpod_fail "bad request header";; esac
done
agentpod_argc=$1
shift
[ "$agentpod_argc" -ge 1 ] && [ "$#" -eq $((agentpod_argc + 1)) ] || agentpod_fail "bad request header"
agentpod_total=0
for agentpod_n in "$@"; do agentpod_total=$((agentpod_total + agentpod_n)); done
agentpod_lens=$*
agentpod_dir=$(umask 077 && mktemp -d "${TMPDIR:-/tmp}/agentpod-exec.XXXXXX") ||
  agentpod_fail "cannot create a temp dir; is ${TMPDIR:-/tmp} writable?"
agentpod_abort() { rm -rf "$agentpod_dir"; agentpod_fail "$@"; }
head -c "$agentpod_total" > "$agentpod_dir/in" || agentpod_abort "cannot store the request"
[ "$(wc -c < "$agentpod_dir/in")" -eq "$agentpod_total" ] || agentpod_abort "the request ended early"
set --
agentpod_at=1
agentpod_left=$agentpod_argc
for agentpod_n in $agentpod_lens; do
  if [ "$agentpod_left" -eq 0 ]; then
    tail -c "+$agentpod_at" "$agentpod_dir/in" > "$agentpod_dir/stdin" || agentpod_abort "cannot store stdin"
  else
    # The trailing x keeps trailing newlines, which $(...) would strip.
    agentpod_arg=$(tail -c "+$agentpod_at" "$agentpod_dir/in" | head -c "$agentpod_n"; printf x)
    set -- "$@" "${agentpod_arg%x}"
    agentpod_left=$((agentpod_left - 1))
  fi
  agentpod_at=$((agentpod_at + agentpod_n))
done
rm -f "$agentpod_dir/in"
# The command gets its own session and process group. A watchdog keeps reading
# the (idle) stdin channel: when the session ends early (timeout, caller gone),
# it reaches EOF and the watchdog ends the group, TERM then KILL.
# `kill -TERM -<pgid>` is the one spelling dash, bash and busybox all accept
# (dash reads `-s TERM -<pgid>` as options, busybox refuses `--`).
exec 3<&0
setsid "$@" < "$agentpod_dir/stdin" 3<&- &
agentpod_child=$!
{ while IFS= read -r _; do :; done; kill -TERM "-$agentpod_child" 2>/dev/null; sleep 2; kill -KILL "-$agentpod_child" 2>/dev/null; } <&3 &
agentpod_watchdog=$!
exec 3<&-
wait "$agentpod_child"
agentpod_status=$?
kill "$agentpod_watchdog" 2>/dev/null
# Whatever the command left in its group (background children, daemons that
# hold stdout open) ends with it: TERM, up to 2 s to go, then KILL.
if kill -TERM "-$agentpod_child" 2>/dev/null; then
  agentpod_waited=0
  while [ "$agentpod_waited" -lt 20 ] && kill -0 "-$agentpod_child" 2>/dev/null; do
    if sleep 0.1 2>/dev/null; then
      agentpod_waited=$((agentpod_waited + 1))
    else
      sleep 1
      agentpod_waited=$((agentpod_waited + 10))
    fi
  done
  kill -KILL "-$agentpod_child" 2>/dev/null
fi
rm -rf "$agentpod_dir"
exit "$agentpod_status"
