"""lst.compat: placeholders exist only inside ``espnet_placeholders``, a real install wins,
using a placeholder raises a clear ImportError, and importing lst changes no import lookups.

Every check that imports lst or touches sys.meta_path runs in a fresh interpreter, so what
the test process has already imported cannot hide a leak.
"""
import json
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO_ROOT
from lst.compat import PLACEHOLDER_REASONS


def run_python(code: str, extra_path=None) -> str:
    """Run ``code`` in a fresh interpreter (repo on sys.path); return its stdout."""
    paths = [str(p) for p in (extra_path or [])] + [str(REPO_ROOT)]
    prelude = f"import sys; sys.path[:0] = {paths!r}\n"
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True,
                          text=True, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


SPECS = """
import importlib.util, json
def spec_of(name):
    spec = importlib.util.find_spec(name)
    return None if spec is None else [spec.origin, type(spec.loader).__name__]
"""


def test_importing_every_lst_module_leaves_no_placeholder():
    names = sorted(PLACEHOLDER_REASONS)
    without_lst = json.loads(run_python(SPECS + f"print(json.dumps({{n: spec_of(n) for n in {names!r}}}))"))
    with_lst = json.loads(run_python(SPECS + textwrap.dedent(f"""
        import pkgutil, importlib, lst
        modules = [m.name for m in pkgutil.walk_packages(lst.__path__, "lst.")]
        for name in modules:
            importlib.import_module(name)
        from lst.compat import PlaceholderModule, _PlaceholderFinder
        assert not [f for f in sys.meta_path if isinstance(f, _PlaceholderFinder)], sys.meta_path
        leaked = [k for k, m in sys.modules.items() if isinstance(m, PlaceholderModule)]
        assert not leaked, leaked
        assert len(modules) > 50, modules
        print(json.dumps({{n: spec_of(n) for n in {names!r}}}))
    """)))
    assert with_lst == without_lst


def test_placeholder_only_inside_the_block_and_its_use_is_a_clear_error():
    out = run_python("""
        import importlib.util
        from lst.compat import espnet_placeholders
        assert importlib.util.find_spec("torchaudio") is None
        with espnet_placeholders(["torchaudio"]) as used:
            import torchaudio
            from torchaudio.functional import rtf_evd
            assert importlib.util.find_spec("torchaudio") is not None
        assert used == ["torchaudio"], used
        assert importlib.util.find_spec("torchaudio") is None and "torchaudio" not in sys.modules
        try:
            import torchaudio  # noqa: F811
            raise SystemExit("import torchaudio succeeded after the block")
        except ModuleNotFoundError:
            pass
        try:
            rtf_evd(None)
            raise SystemExit("calling a placeholder did not raise")
        except ImportError as e:
            print(e)
    """)
    assert out.startswith("torchaudio.functional.rtf_evd: torchaudio is not installed")
    assert "CUDA builds" in out  # says why


def test_real_install_wins(tmp_path):
    pkg = tmp_path / "torchaudio"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("MARK = 'real'\n")
    out = run_python("""
        from lst.compat import espnet_placeholders
        with espnet_placeholders(["torchaudio"]) as used:
            import torchaudio
        print(torchaudio.MARK, used, sys.modules["torchaudio"] is torchaudio)
    """, extra_path=[tmp_path])
    assert out == "real [] True"


def test_installed_but_broken_package_is_replaced_inside_the_block_only(tmp_path):
    pkg = tmp_path / "torchaudio"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise OSError('libtorchaudio.so: undefined symbol (a CUDA build)')\n")
    out = run_python("""
        import importlib.util
        from lst.compat import PlaceholderModule, espnet_placeholders
        with espnet_placeholders(["torchaudio"]) as used:
            import torchaudio
            assert isinstance(torchaudio, PlaceholderModule)
        spec = importlib.util.find_spec("torchaudio")
        print(used, "torchaudio" in sys.modules, spec.origin.endswith("torchaudio/__init__.py"))
    """, extra_path=[tmp_path])
    assert out == "['torchaudio'] False True"


def test_an_import_that_does_not_need_the_package_fakes_nothing():
    out = run_python("""
        from lst.compat import espnet_placeholders
        with espnet_placeholders(["torchaudio", "g2p_en"]) as used:
            import json
        print(used)
    """)
    assert out == "[]"


def test_only_listed_packages_may_be_faked():
    from lst.compat import espnet_placeholders

    with pytest.raises(ValueError, match="no placeholder is allowed for \\['numpy'\\]"):
        with espnet_placeholders(["numpy"]):
            pass


def test_espnet_asr_decoder_imports_with_the_declared_placeholders_only():
    """The ESPnet ASR baseline's decoder (the widest espnet import lst makes) needs exactly
    the declared placeholders; everything else it imports is really installed."""
    out = run_python("""
        import importlib.util
        from lst.compat import ASR_INFERENCE_PLACEHOLDERS, espnet_placeholders
        with espnet_placeholders(ASR_INFERENCE_PLACEHOLDERS) as used:
            import espnet2.bin.asr_inference  # noqa: F401
            import espnet2.tasks.asr  # noqa: F401
        print(sorted(used), [n for n in used if importlib.util.find_spec(n) is not None])
    """)
    assert out == "['ci_sdr', 'g2p_en', 'torchaudio'] []"


def test_espnet_decoder_timing_counts_calls_and_restores_the_class(tmp_path):
    """``--timing_out`` of lst.bin.espnet_{asr,mt}_inference: every decoded utterance is counted
    (with its audio seconds for ASR), the decoder class is restored even when decoding fails,
    and without --timing_out nothing is patched."""
    import json

    import numpy as np

    from lst.downstream.espnet_timing import pop_option, timed_calls

    class Decoder:
        def __call__(self, x):
            if x is None:
                raise RuntimeError("bad input")
            return len(x)

    original = Decoder.__call__
    out = tmp_path / "t" / "timing.json"
    with timed_calls(Decoder, str(out), audio_seconds=lambda x, **_: len(x) / 16000.0):
        assert Decoder()(np.zeros(8000)) == 8000 and Decoder()(x=np.zeros(16000)) == 16000  # ESPnet passes keywords
    stats = json.loads(out.read_text())
    assert stats["n_calls"] == 2 and stats["audio_seconds"] == 1.5 and stats["rtf"] >= 0
    assert Decoder.__call__ is original
    with pytest.raises(RuntimeError):
        with timed_calls(Decoder, str(tmp_path / "m.json")):
            Decoder()(None)
    assert Decoder.__call__ is original and json.loads((tmp_path / "m.json").read_text())["n_calls"] == 1
    with timed_calls(Decoder, None):
        assert Decoder.__call__ is original
    assert pop_option(["--a", "1", "--timing_out=x.json", "--b"], "--timing_out") == ("x.json", ["--a", "1", "--b"])
