"""utils/parse_options.sh: boolean options take only true/false, unknown options are refused,
and --help lists every option of lst.sh, asr.sh and tts.sh with its default."""
import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT

UTILS = REPO_ROOT / "egs" / "TEMPLATE" / "lst1" / "utils"


def script(tmp_path: Path, body: str) -> Path:
    """A recipe-like script in tmp_path with utils/ linked, defaults then parse_options."""
    (tmp_path / "utils").symlink_to(UTILS)
    s = tmp_path / "s.sh"
    s.write_text("#!/usr/bin/env bash\nset -euo pipefail\n. utils/lib.sh\nopts_begin\n" + body
                 + '\nhelp_message="Usage: s.sh [options]"\nparse_options "$@"\n'
                 'echo "flag=${flag} name=${name} n=${n}"\n')
    s.chmod(0o755)
    return s


def run(cwd, *args):
    proc = subprocess.run(["bash", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=900)
    return proc.returncode, proc.stdout, proc.stderr


DEFAULTS = 'flag=true             # a boolean\nname="a b"             # a string\nn=3\n'


def test_boolean_option_rejects_other_values(tmp_path):
    s = script(tmp_path, DEFAULTS)
    rc, out, err = run(tmp_path, s, "--flag", "flase")
    assert rc == 1 and out == ""
    assert "--flag is a boolean option: expected true or false, got 'flase'" in err
    rc, out, _ = run(tmp_path, s, "--flag", "false", "--name=x y", "--n", "7")
    assert rc == 0 and out.strip() == "flag=false name=x y n=7"
    # a non-boolean option takes any value, including true/false
    rc, out, _ = run(tmp_path, s, "--name", "true", "--n", "false")
    assert rc == 0 and out.strip() == "flag=true name=true n=false"


def test_unknown_options_and_positional_arguments_are_refused(tmp_path):
    s = script(tmp_path, DEFAULTS)
    for args, msg in ((["--nme", "x"], "unknown option --nme"),
                      (["--PATH", "/x"], "unknown option --PATH"),  # defined, but not an option
                      (["--n"], "option --n needs a value"),
                      (["extra"], "unexpected arguments: extra")):
        rc, out, err = run(tmp_path, s, *args)
        assert rc == 1 and msg in err, (args, err)


def test_config_file_sets_options(tmp_path):
    s = script(tmp_path, DEFAULTS)
    (tmp_path / "opts.conf").write_text("n=11\nflag=false\n")
    rc, out, _ = run(tmp_path, s, "--config", "opts.conf", "--name", "z")
    assert rc == 0 and out.strip() == "flag=false name=z n=11"


def test_help_lists_every_option_with_default_and_comment(tmp_path):
    s = script(tmp_path, DEFAULTS)
    rc, out, _ = run(tmp_path, s, "--help")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == "Usage: s.sh [options]"
    assert "  --flag                     [true]  a boolean" in lines
    assert "  --name                     [a b]  a string" in lines
    assert "  --n                        [3]" in lines
    assert [ln.split()[0] for ln in lines if ln.startswith("  --")] == ["--flag", "--name", "--n"]  # script order


def defined_options(path: Path):
    """Names assigned between opts_begin and parse_options (and in the shared option files sourced there)."""
    text = path.read_text()
    block = text[text.index("\nopts_begin\n"):text.index("\nparse_options ")]
    names = re.findall(r"^([a-z][a-z0-9_]*)=", block, flags=re.M)
    for src in re.findall(r'^\. "\$\{scripts\}/([a-z_]+\.sh)"', block, flags=re.M):
        names += re.findall(r"^([a-z][a-z0-9_]*)=", (path.parent / "scripts" / src).read_text()
                            if (path.parent / "scripts" / src).exists()
                            else (path.parent.parent / "asr1" / "scripts" / src).read_text(), flags=re.M)
    return [n for n in names if n != "help_message"]


@pytest.mark.parametrize("recipe,tool", [("lst1", "lst.sh"), ("asr1", "asr.sh"), ("tts1", "tts.sh")])
def test_recipe_help_lists_every_option(recipe, tool):
    template = REPO_ROOT / "egs" / "TEMPLATE" / recipe / tool
    expected = defined_options(template)
    assert len(expected) >= 25, expected  # lst.sh 32, asr.sh 33, tts.sh 35 today
    rc, out, err = run(REPO_ROOT / "egs" / "mini_an4" / recipe, "run.sh", "--help")
    assert rc == 0, err
    listed = re.findall(r"^  --([a-z0-9_]+) +\[", out, flags=re.M)
    assert sorted(listed) == sorted(set(expected))
    # run.sh's own settings show as the values (e.g. mini_an4 uses 32 clusters)
    if tool == "lst.sh":
        assert re.search(r"^  --n_clusters +\[32\]  k-means codebook size K$", out, flags=re.M)


def test_recipe_refuses_a_misspelt_boolean():
    # the example: "--run_espnet flase" used to run and silently skip ESPnet's stages
    rc, out, err = run(REPO_ROOT / "egs" / "mini_an4" / "asr1", "run.sh", "--run_espnet", "flase", "--stage", "99")
    assert rc == 1
    assert "--run_espnet is a boolean option: expected true or false, got 'flase'" in err


@pytest.mark.parametrize("recipe,tool", [("rocstories/lst1", "run.sh"), ("storycloze/lst1", "local/data.sh")])
def test_wrapper_help_lists_every_option(recipe, tool):
    # recipe scripts with options of their own (not only lst.sh's) list them all too
    path = REPO_ROOT / "egs" / recipe / tool
    expected = defined_options(path)
    assert len(expected) >= 7, expected
    rc, out, err = run(path.parents[len(Path(tool).parts) - 1], tool, "--help")
    assert rc == 0, err
    assert sorted(re.findall(r"^  --([a-z0-9_]+) +\[", out, flags=re.M)) == sorted(expected)
