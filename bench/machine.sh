# Sourced by the load benchmarks (run.sh, ab.sh, scale.sh, forms.sh): what of this
# machine's set-up changes their figures.
#
# With the kernel's autogroup on, the CPU is shared between sessions before it is
# shared between threads: all of PostgreSQL's backends, as one daemon's session, get
# the share of wrk and this server together, and the machine's other services get one
# each. On a saturated 2-core machine a PostgreSQL backend then waits up to 60 ms for
# its turn (`perf sched latency`), and every request batched on its statement waits
# with it: 40–500 ms stalls that wrk's p99 counts as the requests it could not send
# (bench/README.md, twelfth session). Throughput is the same either way.

# Prints, to stderr, whether autogroup is on; warns that p99 is not comparable if so.
scheduler_note() {
  local autogroup
  autogroup=$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo 0)
  if [ "$autogroup" = 1 ]; then
    echo "note: kernel.sched_autogroup_enabled = 1: p99 will show scheduler stalls; as root, sysctl -w kernel.sched_autogroup_enabled=0 (bench/README.md)" >&2
  else
    echo "note: kernel.sched_autogroup_enabled = 0" >&2
  fi
}
