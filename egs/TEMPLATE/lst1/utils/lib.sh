#!/usr/bin/env bash
# Shared shell library of the recipe scripts (lst.sh, asr.sh, tts.sh and the local/ scripts):
# logging, options, stage control, input checks, timing, saved command lines and sharded jobs.
# Source it first, from the recipe directory:   . utils/lib.sh
#
#   log MSG                 timestamped line naming the calling script and line
#   opts_begin              every variable defined after this (and before parse_options.sh)
#                           is an option (see utils/parse_options.sh)
#   run_stage N             is stage N selected by --stage/--stop_stage/--skip_stages?
#   stage_begin N TITLE / stage_end N      log the stage and its wall time ("Stage N done in S s")
#   require PATH "stage N (what)"          stop unless PATH exists (and, when its directory has a
#                           completion marker .done.json, unless that marker holds); names the stage
#   save_command DIR        DIR/run.sh: the exact command line that made DIR (ESPnet's convention)
#   shard_run ...           split an input into --nj shards, run one job per shard through
#                           ${train_cmd} (cmd.sh), merge byte-identically to one job
#   recipe_path DIR KEY [opts]   a path computed by another lst1 recipe (its run.sh --print_paths)

# The command line of the script that sources this file (sourced without arguments, "$@" is
# the caller's), captured before parse_options.sh consumes it.
lst_command_line=$(printf '%q ' "$0" "$@")
lst_command_line=${lst_command_line% }
lst_command_dir=$(pwd)

log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}) $*"; }
die() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}) Error: $*" >&2; exit 1; }
min() { [ "$1" -lt "$2" ] && echo "$1" || echo "$2"; }

opts_begin() { __lst_vars_before=$(compgen -v); }
# parse_options "$@": the options after the defaults (utils/parse_options.sh); no positional arguments
parse_options() {
  . utils/parse_options.sh
  [ $# -eq 0 ] || die "unexpected arguments: $*"
}
# recipe_env: the recipe's environment (path.sh: python venv; cmd.sh: job dispatch), then log
# the command line
recipe_env() {
  # shellcheck disable=SC1091
  . ./path.sh
  if [ -f cmd.sh ]; then . ./cmd.sh; fi
  echo "$(date '+%Y-%m-%dT%H:%M:%S') (${0##*/}) ${lst_command_line}"
}

run_stage() {  # run_stage N: is stage N selected?
  [ "$1" -ge "${stage}" ] && [ "$1" -le "${stop_stage}" ] || return 1
  local s
  for s in ${skip_stages:-}; do [ "$s" = "$1" ] && return 1; done
  return 0
}

stage_begin() {  # stage_begin N "title": log it and start its clock
  __lst_stage_start=$(date +%s)
  echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}) Stage $1: $2"
}
stage_end() {  # stage_end N
  echo "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[1]##*/}) Stage $1 done in $(( $(date +%s) - __lst_stage_start )) s"
}

# require PATH "stage N (what)": PATH must exist; when the stage output directory holding it
# (PATH itself if a directory, else its parent) has a completion marker (.done.json, written by
# lst.stage_io), the marker must hold: every file it lists present with its recorded size.
require() {
  local path=$1 made_by=$2 dir n
  n=$(sed -n -E 's/^stages? ([0-9]+).*/\1/p' <<< "${made_by}")
  if [ ! -e "${path}" ]; then
    echo "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}) Error: ${path} not found;" \
      "it is made by ${made_by}. Run that stage first${n:+ (--stage ${n})}." >&2
    exit 1
  fi
  if [ -d "${path}" ]; then dir=${path}; else dir=$(dirname "${path}"); fi
  if [ -f "${dir}/.done.json" ]; then
    "${python:-python3}" -m lst.bin.check_stage "${dir}" --made_by "${made_by}" || exit 1
  fi
}

# save_command DIR: write DIR/run.sh, the command line that made DIR, re-runnable with more
# options appended (ESPnet writes the same into its exp dirs): bash DIR/run.sh --stage 9
save_command() {
  mkdir -p "$1"
  printf '#!/usr/bin/env bash\n# made on %s by\ncd %q && %s "$@"\n' "$(date '+%Y-%m-%dT%H:%M:%S')" \
    "${lst_command_dir}" "${lst_command_line}" > "$1/run.sh"
  chmod +x "$1/run.sh"
}

# ---- sharded jobs -----------------------------------------------------------------------
# shard_run [--sorted "FILES"] NJ SRC_DIR "SPLIT_FILES" "COPY_FILES" OUT_DIR NAME command args...
#   Runs `command args` over the utterances of SRC_DIR and leaves the result in OUT_DIR.
#   In the arguments, SHARD_IN stands for the input directory and SHARD_OUT for the output
#   directory of a job. NJ=1: one job, SHARD_IN=SRC_DIR, SHARD_OUT=OUT_DIR. NJ>1: the first of
#   SPLIT_FILES (a Kaldi map such as wav.scp or feats.scp) is cut into NJ contiguous pieces
#   (the other SPLIT_FILES are filtered to each piece's keys, COPY_FILES are copied) under
#   OUT_DIR.split<NJ>/in/JOB, ${train_cmd} runs job JOB on them into OUT_DIR.split<NJ>/out/JOB
#   and utils/shards.py merge concatenates the pieces in order (ark files too, with their scp
#   offsets moved), so OUT_DIR is byte for byte what one job writes. Logs:
#   OUT_DIR.log (one job) or OUT_DIR.split<NJ>/log/NAME.JOB.log. --sorted names outputs that
#   the command sorts by key (merged by key, not concatenated). A file of SPLIT_FILES with a
#   "/" is a path of its own (e.g. the text of another directory). NJ is capped at the number
#   of lines of the first SPLIT_FILE.
shard_run() {
  local sorted=""
  if [ "$1" = --sorted ]; then sorted=$2; shift 2; fi
  local nj=$1 src=$2 split_files=$3 copy_files=$4 out=$5 name=$6
  shift 6
  local cmd=("$@") args=() a work first n_lines
  first=${split_files%% *}
  [[ "${first}" == */* ]] || first=${src}/${first}
  n_lines=$(grep -c . "${first}" 2>/dev/null || true)
  [ "${n_lines:-0}" -ge 1 ] && nj=$(min "${nj}" "${n_lines}")
  if [ "${nj}" -le 1 ]; then
    local e
    for a in "${cmd[@]}"; do
      for e in ${split_files} ${copy_files}; do  # SHARD_IN/<name> of a file given with its own path
        [[ "${e}" == */* ]] && a=${a//SHARD_IN\/${e##*/}/${e}}
      done
      a=${a//SHARD_IN/${src}}; args+=("${a//SHARD_OUT/${out}}")
    done
    mkdir -p "$(dirname "${out}")"
    # shellcheck disable=SC2086
    ${train_cmd:-utils/run_local.sh} "${out}.log" "${args[@]}" || die "${name} failed; see ${out}.log"
    return 0
  fi
  work=${out}.split${nj}
  rm -rf "${work}/in" "${work}/out"
  "${python:-python3}" utils/shards.py split --src "${src}" --files "${split_files}" --copy "${copy_files}" \
    --nj "${nj}" --out "${work}/in"
  for a in "${cmd[@]}"; do a=${a//SHARD_IN/${work}/in/JOB}; args+=("${a//SHARD_OUT/${work}/out/JOB}"); done
  # shellcheck disable=SC2086
  ${train_cmd:-utils/run_local.sh} JOB=1:"${nj}" "${work}/log/${name}.JOB.log" "${args[@]}" \
    || die "${name} failed; see ${work}/log/${name}.*.log"
  "${python:-python3}" utils/shards.py merge --nj "${nj}" --shards "${work}/out" --out "${out}" --sorted "${sorted}"
  rm -rf "${work}/in" "${work}/out"
}

# ---- paths of another recipe ------------------------------------------------------------
# recipe_path DIR KEY [run.sh options]: the path KEY (km_dir, token_list, lst_exp, packed, ...)
# that DIR/run.sh computes for those options (lst.sh --print_paths true).
recipe_path() {
  local dir=$1 key=$2 value
  shift 2
  value=$(cd "${dir}" && ./run.sh "$@" --print_paths true | sed -n "s/^${key}=//p")
  eval "value=${value}"  # shell-quoted by print_paths
  [ -n "${value}" ] || die "${dir}/run.sh --print_paths true does not print ${key}"
  echo "${value}"
}

# print_paths VAR...: "VAR=value" lines (what --print_paths prints), the value shell-quoted
# (printf %q: a plain path as it is), so eval "$(./run.sh --print_paths true)" keeps a path with spaces
print_paths() { local v; for v in "$@"; do printf '%s=%q\n' "${v}" "${!v}"; done; }

# default job dispatch when a recipe has no cmd.sh (see egs/TEMPLATE/lst1/cmd.sh)
train_cmd=${train_cmd:-utils/run_local.sh}
decode_cmd=${decode_cmd:-utils/run_local.sh}

# data_prep_stage "OPTS" SET...: stage 1 of lst.sh and hubert.sh: local/data.sh OPTS (split
# into words), then lst.bin.validate_data_dir on data/SET for each SET (a bad directory stops
# the recipe with the file and line named)
data_prep_stage() {
  local opts=$1 dset
  shift
  # shellcheck disable=SC2086
  local/data.sh ${opts}
  for dset in "$@"; do
    "${python:-python3}" -m lst.bin.validate_data_dir "data/${dset}"
  done
}
