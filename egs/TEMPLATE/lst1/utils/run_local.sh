#!/usr/bin/env bash
# Local job runner with the Kaldi/ESPnet run.pl interface (our own small implementation):
#
#   utils/run_local.sh [options] [JOB=1:N] LOG command args...
#
# Runs `command args` once, or N times with every "JOB" in LOG and the arguments replaced by
# the job number (1..N), at most --max_jobs_run at a time on this machine. Each job's stdout
# and stderr go to its LOG (its directory is made), framed by the command line, start time,
# wall time and exit code, as run.pl writes them. Exits 1 if any job failed, naming the failed
# logs and printing the end of the first one. Options that schedulers take (--mem 4G,
# --num_threads 2, --gpu 1, --time 60) are accepted and ignored, so one $train_cmd line in
# cmd.sh can switch between this runner, slurm.pl and utils/submitit_run.py.
set -uo pipefail

max_jobs_run=""
while [ $# -gt 0 ]; do
  case "$1" in
    --max_jobs_run|--max-jobs-run) max_jobs_run=$2; shift 2 ;;
    --mem|--num_threads|--num-threads|--gpu|--time|--config|--partition) shift 2 ;;
    --*) echo "$0: unknown option $1" >&2; exit 1 ;;
    *) break ;;
  esac
done
jobvar=""; first=1; last=1
if [[ $# -gt 0 && "$1" =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+):([0-9]+)$ ]]; then
  jobvar=${BASH_REMATCH[1]}; first=${BASH_REMATCH[2]}; last=${BASH_REMATCH[3]}
  shift
  [ "${first}" -le "${last}" ] || { echo "$0: empty job range $first:$last" >&2; exit 1; }
fi
[ $# -ge 2 ] || { echo "usage: $0 [--max_jobs_run N] [JOB=1:N] LOG command args..." >&2; exit 1; }
log_pattern=$1; shift
[ -n "${max_jobs_run}" ] || max_jobs_run=$(( last - first + 1 ))

rc_dir=$(mktemp -d)
trap 'rm -rf "${rc_dir}"' EXIT

run_job() {  # run_job N: one job, its output in its log, its exit code in rc_dir/N
  local n=$1 logf=${log_pattern} args=() a t0 rc
  if [ -n "${jobvar}" ]; then
    logf=${logf//${jobvar}/${n}}
    for a in "${cmd[@]}"; do args+=("${a//${jobvar}/${n}}"); done
  else
    args=("${cmd[@]}")
  fi
  mkdir -p "$(dirname "${logf}")"
  t0=$(date +%s)
  {
    echo "# $(printf '%q ' "${args[@]}")"
    echo "# Started at $(date)"
    "${args[@]}"
    rc=$?
    echo "# Accounting: time=$(( $(date +%s) - t0 )) threads=1"
    echo "# Ended (code ${rc}) at $(date)"
    echo "${rc}" > "${rc_dir}/${n}"
  } > "${logf}" 2>&1 < /dev/null
}

cmd=("$@")
running=0
for (( n = first; n <= last; n++ )); do
  if [ "${running}" -ge "${max_jobs_run}" ]; then wait -n; running=$(( running - 1 )); fi
  run_job "${n}" &
  running=$(( running + 1 ))
done
wait

failed=()
for (( n = first; n <= last; n++ )); do
  rc=$(cat "${rc_dir}/${n}" 2>/dev/null || echo "killed")
  [ "${rc}" = 0 ] || failed+=("${n}")
done
if [ ${#failed[@]} -gt 0 ]; then
  first_log=${log_pattern}
  [ -n "${jobvar}" ] && first_log=${log_pattern//${jobvar}/${failed[0]}}
  echo "$0: ${#failed[@]} / $(( last - first + 1 )) failed (job ${failed[*]}); log: ${first_log}" >&2
  echo "---- end of ${first_log} ----" >&2
  tail -n 15 "${first_log}" >&2
  exit 1
fi
exit 0
