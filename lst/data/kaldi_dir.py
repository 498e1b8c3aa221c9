"""Reading and validating kaldi-style data dirs (wav.scp, text, utt2spk, spk2utt).

Every reader names the file and line of a bad entry, so a broken corpus stops with a
message a user can act on instead of a stack trace later in training.
"""
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, Tuple


class DataDirError(ValueError):
    pass


MAX_NAME_BYTES = 200  # file systems allow 255 bytes per name; leave room for suffixes


def utt_file_name(utt: str) -> str:
    """A file name (no directory part) for an utterance id, injective over ids.

    ``%`` and ``/`` are percent-escaped (``a/b`` -> ``a%2Fb``, ``a_b`` stays), so two ids can
    never share a file; an id whose escaped name is longer than the file system allows is
    shortened to a prefix plus the sha1 of the full id.
    """
    name = utt.replace("%", "%25").replace("/", "%2F")
    if name in (".", ".."):
        name = name.replace(".", "%2E")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        import hashlib

        digest = hashlib.sha1(utt.encode("utf-8")).hexdigest()
        head = name.encode("utf-8")[: MAX_NAME_BYTES - 42].decode("utf-8", "ignore")
        name = f"{head}%{digest}"
    return name


def check_unique_file_names(ids, where: str) -> None:
    """Refuse ids whose file names would collide (a guard: :func:`utt_file_name` is injective
    up to a sha1 collision of over-long ids)."""
    seen = {}
    for utt in ids:
        key = utt_file_name(utt)
        if key in seen:
            raise DataDirError(f"{where}: utterance ids {seen[key]!r} and {utt!r} map to the same file name "
                               f"{key!r}; rename one")
        seen[key] = utt


def read_kaldi_map(path, allow_empty_value: bool = False) -> "OrderedDict[str, str]":
    """``key value...`` lines -> ordered dict. Errors name file:line (non-UTF-8, duplicates)."""
    path = Path(path)
    if not path.exists():
        raise DataDirError(f"{path} not found")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataDirError(f"{path}: cannot be read ({e.strerror or type(e).__name__})") from None
    out: "OrderedDict[str, str]" = OrderedDict()
    for lineno, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataDirError(f"{path}:{lineno}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
        parts = text.strip().split(maxsplit=1)
        key = parts[0]
        value = parts[1] if len(parts) > 1 else ""
        if not value and not allow_empty_value:
            raise DataDirError(f"{path}:{lineno}: utterance {key} has an empty value")
        if key in out:
            raise DataDirError(f"{path}:{lineno}: duplicate utterance id {key}")
        out[key] = value
    return out


def read_units(path, n_units: int):
    """units file -> {utt: [int]}, checking every id against the k-means size."""
    units = {}
    for utt, value in read_kaldi_map(path, allow_empty_value=True).items():
        try:
            seq = [int(u) for u in value.split()]
        except ValueError:
            raise DataDirError(f"{path}: utterance {utt} has a non-integer unit") from None
        bad = [u for u in seq if not 0 <= u < n_units]
        if bad:
            raise DataDirError(f"{path}: utterance {utt} has unit ids {bad[:5]} outside [0, {n_units})")
        units[utt] = seq
    return units


def check_same_ids(a_name: str, a: Dict, b_name: str, b: Dict) -> List[str]:
    """Problems (as messages) where two files do not list the same utterance ids."""
    problems = []
    only_a = [k for k in a if k not in b]
    only_b = [k for k in b if k not in a]
    if only_a:
        problems.append(f"{len(only_a)} ids in {a_name} but not in {b_name}, e.g. {only_a[:3]}")
    if only_b:
        problems.append(f"{len(only_b)} ids in {b_name} but not in {a_name}, e.g. {only_b[:3]}")
    return problems


def validate_data_dir(data_dir) -> Dict[str, int]:
    """Checks a kaldi dir; raises DataDirError listing every problem found. Returns counts."""
    d = Path(data_dir)
    for name in ("wav.scp", "text", "utt2spk"):
        if not (d / name).exists():
            raise DataDirError(f"{d / name} not found (a kaldi data dir needs wav.scp, text, utt2spk)")
    wav = read_kaldi_map(d / "wav.scp")
    text = read_kaldi_map(d / "text", allow_empty_value=True)
    utt2spk = read_kaldi_map(d / "utt2spk")
    problems = []
    if not wav:
        problems.append(f"{d / 'wav.scp'}: no utterances (empty file)")
    empty = [k for k, v in text.items() if not v.strip()]
    if empty:
        problems.append(f"{d / 'text'}: {len(empty)} empty transcripts, e.g. {empty[:3]}")
    problems += check_same_ids(str(d / "wav.scp"), wav, str(d / "text"), text)
    problems += check_same_ids(str(d / "wav.scp"), wav, str(d / "utt2spk"), utt2spk)
    for name, mapping in (("wav.scp", wav), ("text", text), ("utt2spk", utt2spk)):
        if list(mapping) != sorted(mapping):
            problems.append(f"{d / name} is not sorted by utterance id (kaldi convention: LC_ALL=C sort)")
    if (d / "spk2utt").exists():
        spk2utt = read_kaldi_map(d / "spk2utt")
        listed = {u: s for s, us in spk2utt.items() for u in us.split()}
        mismatched = [u for u, s in utt2spk.items() if listed.get(u) != s]
        if mismatched:
            problems.append(f"{d / 'spk2utt'} disagrees with utt2spk for {len(mismatched)} ids, e.g. {mismatched[:3]}")
    if problems:
        raise DataDirError(f"{d} is not a valid data dir:\n  " + "\n  ".join(problems))
    return {"utterances": len(wav), "speakers": len(set(utt2spk.values()))}


def write_data_dir(out, utts: Iterable[Tuple[str, str, object, str]]) -> None:
    """Writes a kaldi dir (wav.scp, text, utt2spk, spk2utt) from ``(utt, spk, wav path, words)``
    tuples, sorted by utterance id (the kaldi rule; ids are ASCII, so this is LC_ALL=C order)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spk2utt = defaultdict(list)
    with open(out / "wav.scp", "w") as wav, open(out / "text", "w") as text, \
            open(out / "utt2spk", "w") as u2s:
        for utt, spk, path, words in sorted(utts, key=lambda u: u[0]):
            wav.write(f"{utt} {path}\n")
            text.write(f"{utt} {words}\n")
            u2s.write(f"{utt} {spk}\n")
            spk2utt[spk].append(utt)
    with open(out / "spk2utt", "w") as s2u:
        for spk in sorted(spk2utt):
            s2u.write(f"{spk} {' '.join(spk2utt[spk])}\n")
