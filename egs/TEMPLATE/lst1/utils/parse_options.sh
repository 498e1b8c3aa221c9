#!/usr/bin/env bash
# Turns "--name value" / "--name=value" command-line options into shell variables, for any
# variable the calling script has already defined (the Kaldi/ESPnet convention; this is our
# own implementation). Source it after defining defaults:  . utils/parse_options.sh
# "--config file" first sources a file of name=value lines. "--help" prints ${help_message}.
# Positional arguments stay in "$@".
__lst_positional=()
while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      echo "${help_message:-No help available.}"; exit 0 ;;
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
  if [ "${__lst_name}" = config ]; then
    [ -f "${__lst_value}" ] || { echo "$0: config file ${__lst_value} not found" >&2; exit 1; }
    # shellcheck disable=SC1090
    . "${__lst_value}"
    continue
  fi
  if [ -z "${!__lst_name+set}" ]; then
    echo "$0: unknown option --${__lst_name} (see $0 --help)" >&2
    exit 1
  fi
  printf -v "${__lst_name}" '%s' "${__lst_value}"
done
set -- "${__lst_positional[@]+"${__lst_positional[@]}"}"
unset __lst_positional __lst_name __lst_value
