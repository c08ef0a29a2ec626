"""Store upkeep: ``gc`` removes what nothing references, ``fsck`` finds damage."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from modelshelf.core.errors import IntegrityError, ModelNotFoundError, StorageError
from modelshelf.core.store.backend import TMP_PREFIX, Backend
from modelshelf.core.store.blobs import BlobStore
from modelshelf.core.store.layout import MODELS, manifest_key, parse_version_file
from modelshelf.core.store.manifest import ModelVersion
from modelshelf.core.store.summaries import Summaries, SummaryBook, epoch

# Temporary objects younger than this may belong to a create in flight (locks, leases).
TMP_GRACE_SECONDS = 600


@dataclass
class GcReport:
    """What gc removed (or would remove, with ``dry_run``)."""

    removed_blobs: int = 0
    freed_bytes: int = 0
    removed_temporary: int = 0
    removed_evaluations: int = 0
    kept_blobs: int = 0
    repaired_summaries: int = 0
    dry_run: bool = False


@dataclass
class FsckReport:
    """What fsck found: damaged and missing blobs and the versions they hurt."""

    checked_blobs: int = 0
    checked_versions: int = 0
    damaged: dict[str, list[str]] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)
    bad_manifests: dict[str, str] = field(default_factory=dict)
    unreferenced_blobs: int = 0
    #: Versions the listing summaries miss or still show (``gc`` repairs them).
    stale_summaries: int = 0

    @property
    def ok(self) -> bool:
        return not (self.damaged or self.missing or self.bad_manifests)


def _manifest_keys(backend: Backend) -> list[str]:
    keys = []
    for entry in backend.list(MODELS, recursive=True):
        parsed = parse_version_file(entry.key.rsplit("/", 1)[-1])
        if parsed and parsed[1] == "json":
            keys.append(entry.key)
    return keys


def read_manifests(
    backend: Backend, workers: int
) -> tuple[dict[str, ModelVersion], dict[str, str]]:
    """Every manifest in the store by key, and the keys that could not be parsed."""
    keys = _manifest_keys(backend)
    good: dict[str, ModelVersion] = {}
    bad: dict[str, str] = {}

    def read(key: str) -> None:
        try:
            good[key] = ModelVersion.from_json(backend.read_bytes(key))
        except FileNotFoundError:
            pass  # deleted while we listed
        except Exception as exc:  # a damaged manifest is a finding, not a crash
            bad[key] = f"{type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(read, keys))
    return good, bad


def summaries_of(manifests: dict[str, ModelVersion]) -> Summaries:
    """What the listing summaries should say, from the manifests themselves."""
    out: Summaries = {}
    for m in manifests.values():
        out.setdefault(m.name, {})[m.version] = (epoch(m.created_at), tuple(m.tags), m.parent)
    return out


def _live(backend: Backend) -> Callable[[str, int], bool]:
    """Whether a version's manifest exists now (gc's view may be older than a save)."""
    return lambda name, version: backend.exists(manifest_key(name, version))


def collect_garbage(
    backend: Backend,
    blobs: BlobStore,
    workers: int,
    dry_run: bool,
    summaries: SummaryBook | None = None,
) -> GcReport:
    """Remove unreferenced blobs and stale temporaries, and repair the listing summaries.
    Call under the exclusive lock."""
    manifests, bad = read_manifests(backend, workers)
    report = GcReport(dry_run=dry_run)
    if bad:
        # A manifest we cannot read may reference anything: deleting blobs would be a guess.
        raise IntegrityError(
            "gc refused: some manifests cannot be read (" + ", ".join(sorted(bad)) + "); "
            "run `modelshelf fsck` and repair or remove them first"
        )
    referenced = {f.digest for m in manifests.values() for f in m.files}
    for digest, entry in blobs.list().items():
        if digest in referenced:
            report.kept_blobs += 1
            continue
        report.removed_blobs += 1
        report.freed_bytes += entry.size
        if not dry_run:
            blobs.remove(digest)
    cutoff = time.time() - TMP_GRACE_SECONDS
    for entry in backend.list(TMP_PREFIX, recursive=True):
        if entry.mtime is not None and entry.mtime < cutoff:
            report.removed_temporary += 1
            if not dry_run:
                backend.remove(entry.key)
    if summaries is not None:
        truth = summaries_of(manifests)
        if dry_run:
            report.repaired_summaries = _drift(summaries, truth)
        else:
            report.repaired_summaries = summaries.repair(truth, _live(backend))
    return report


def _drift(summaries: SummaryBook, truth: Summaries) -> int:
    """How many versions the summaries miss, show wrongly or still show."""
    try:
        shown = summaries.read_all()
    except StorageError:  # a damaged shard: count everything as behind (gc rewrites it)
        return max(1, sum(len(versions) for versions in truth.values()))
    keys = {(n, v) for n, vs in truth.items() for v in vs}
    seen = {(n, v) for n, vs in shown.items() for v in vs}
    wrong = sum(1 for n, v in keys & seen if shown[n][v] != truth[n][v])
    return len(keys ^ seen) + wrong


def check(
    backend: Backend, blobs: BlobStore, workers: int, summaries: SummaryBook | None = None
) -> FsckReport:
    """Re-hash every referenced blob, check every manifest and the listing summaries."""
    manifests, bad = read_manifests(backend, workers)
    users: dict[str, list[str]] = defaultdict(list)
    for manifest in manifests.values():
        for entry in manifest.files:
            if manifest.ref not in users[entry.digest]:
                users[entry.digest].append(manifest.ref)
    stored = blobs.list()
    report = FsckReport(checked_versions=len(manifests), bad_manifests=bad)
    report.unreferenced_blobs = len(set(stored) - set(users))
    for digest in sorted(set(users) - set(stored)):
        report.missing[digest] = sorted(users[digest])
    present = sorted(set(users) & set(stored))
    if summaries is not None:
        report.stale_summaries = _drift(summaries, summaries_of(manifests))

    def verify(digest: str) -> tuple[str, bool]:
        try:
            return digest, blobs.verify(digest)
        except ModelNotFoundError:
            return digest, False

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for digest, good in pool.map(verify, present):
            report.checked_blobs += 1
            if not good:
                report.damaged[digest] = sorted(users[digest])
    return report
