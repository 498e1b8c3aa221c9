#!/usr/bin/env bash
# Turns "--name value" / "--name=value" command-line options into shell variables (the
# Kaldi/ESPnet convention; this is our own implementation). Source it after the defaults:
#
#   . utils/lib.sh; opts_begin      # remember which variables exist before the defaults
#   stage=1                         # every variable defined from here on is an option
#   dedup=false                     # a comment after a default is its --help text
#   . utils/parse_options.sh
#
# * "--name value" sets a variable the script defined as an option (between opts_begin and
#   here; without opts_begin: any variable the script has defined); anything else is an error.
# * An option whose value is true or false is boolean: it accepts only true or false
#   (Kaldi's check), so a typo such as "--run_espnet flase" stops with a clear message.
# * "--config file" first sources a file of name=value lines.
# * "--help" prints ${help_message} and then EVERY option with its default and its comment,
#   generated from the variables (not a hand-kept list).
# Positional arguments stay in "$@".

# __lst_option_names: the options, one per line
if [ -n "${__lst_vars_before+set}" ]; then
  __lst_option_names=$(LC_ALL=C comm -13 <(printf '%s\n' "${__lst_vars_before}" | LC_ALL=C sort) \
                       <(compgen -v | LC_ALL=C sort) | grep -E '^[a-z][a-z0-9_]*$' | grep -v -x help_message || true)
else
  __lst_option_names=""
fi

__lst_is_option() {  # __lst_is_option NAME
  if [ -n "${__lst_vars_before+set}" ]; then
    [[ $'\n'"${__lst_option_names}"$'\n' == *$'\n'"$1"$'\n'* ]]
  else
    [ -n "${!1+set}" ]
  fi
}

__lst_print_help() {
  echo "${help_message:-Usage: $0 [options]}"
  [ -n "${__lst_option_names}" ] || return 0
  echo "Options, with their value in brackets (the default, or as set before --help):"
  local __lst_n __lst_files __lst_comment __lst_ordered
  __lst_files="${__lst_option_files:-} $0"
  # in the order the script defines them, then any other option
  # shellcheck disable=SC2086
  __lst_ordered=$( { grep -h -o -E '^[a-z][a-z0-9_]*=' ${__lst_files} 2>/dev/null | tr -d '=' ; printf '%s\n' "${__lst_option_names}"; } \
            | awk 'NF && !seen[$0]++' | grep -x -F -f <(printf '%s\n' "${__lst_option_names}") || true)
  while read -r __lst_n; do
    [ -n "${__lst_n}" ] || continue
    # the comment after "name=default" in the script (or a file of shared options) is the help text
    # shellcheck disable=SC2086
    __lst_comment=$(grep -h -m1 -E "^${__lst_n}=" ${__lst_files} 2>/dev/null | sed -n -E 's/.*[[:space:]]#[[:space:]]*(.*)$/\1/p' | head -1 || true)
    printf '  --%-24s [%s]%s\n' "${__lst_n}" "${!__lst_n}" "${__lst_comment:+  ${__lst_comment}}"
  done <<< "${__lst_ordered}"
}

__lst_positional=()
while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      __lst_print_help; exit 0 ;;
    --*=*)
      __lst_name=${1%%=*}; __lst_value=${1#*=}; shift ;;
    --*)
      if [ $# -lt 2 ]; then echo "$0: option $1 needs a value" >&2; exit 1; fi
      __lst_name=$1; __lst_value=$2; shift 2 ;;
    *)
      __lst_positional+=("$1"); shift; continue ;;
  esac
  __lst_name=${__lst_name#--}
  __lst_name=${__lst_name//-/_}
  if [ "${__lst_name}" = config ] && ! __lst_is_option config; then
    [ -f "${__lst_value}" ] || { echo "$0: config file ${__lst_value} not found" >&2; exit 1; }
    # shellcheck disable=SC1090
    . "${__lst_value}"
    continue
  fi
  if ! [[ "${__lst_name}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || ! __lst_is_option "${__lst_name}"; then
    echo "$0: unknown option --${__lst_name} (see $0 --help)" >&2
    exit 1
  fi
  __lst_old=${!__lst_name}
  if { [ "${__lst_old}" = true ] || [ "${__lst_old}" = false ]; } \
      && [ "${__lst_value}" != true ] && [ "${__lst_value}" != false ]; then
    echo "$0: --${__lst_name} is a boolean option: expected true or false, got '${__lst_value}'" >&2
    exit 1
  fi
  printf -v "${__lst_name}" '%s' "${__lst_value}"
done
set -- "${__lst_positional[@]+"${__lst_positional[@]}"}"
unset __lst_positional __lst_name __lst_value __lst_old
unset -f __lst_is_option __lst_print_help
