"""The section of a document between a begin and an end marker line, which the benchmark scripts
rewrite (docs/performance.md)."""
from pathlib import Path


class MarkerError(ValueError):
    pass


def _split(path, begin, end):
    path = Path(path)
    content = path.read_text() if path.is_file() else ""
    if content.count(begin) != 1 or content.count(end) != 1 or content.index(begin) > content.index(end):
        raise MarkerError(f"--write: {path} must contain the lines {begin} and {end}, once each and in this order")
    head, rest = content.split(begin)
    _, tail = rest.split(end)
    return head, tail


def check(path, begin, end):
    """Raises MarkerError unless `path` has the two markers once each, in order."""
    _split(path, begin, end)


def replace(path, begin, end, text):
    """Puts `text` between the markers of `path`, keeping everything else."""
    head, tail = _split(path, begin, end)
    Path(path).write_text(f"{head}{begin}\n{text}\n{end}{tail}")
