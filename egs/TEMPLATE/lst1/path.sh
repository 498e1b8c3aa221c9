# Sourced by lst.sh from the recipe directory (egs/<corpus>/lst1). LST_ROOT overrides the
# repository root, e.g. when a test runs a copy of the recipe elsewhere.
MAIN_ROOT=${LST_ROOT:-$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.." && pwd)}
export MAIN_ROOT
if [ ! -f "${MAIN_ROOT}/tools/activate_python.sh" ]; then
  echo "path.sh: ${MAIN_ROOT}/tools/activate_python.sh not found: run 'bash ${MAIN_ROOT}/tools/setup.sh' first" >&2
  exit 1
fi
# shellcheck disable=SC1091
. "${MAIN_ROOT}/tools/activate_python.sh"
export PYTHONIOENCODING=UTF-8
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
# Where shared, read-only data lives (see ../shared/data/README.md)
export LST_SHARED=${LST_SHARED:-${MAIN_ROOT}/../shared}
