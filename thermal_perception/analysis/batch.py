"""Many bags at once: finding the bags under folders, naming their outputs, and analysing them in
parallel processes or as Ray tasks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from thermal_perception.analysis.analyze import analyze_bag
from thermal_perception.analysis.bag_reading import STORAGE_SUFFIXES
from thermal_perception.analysis.bag_writing import atomic_write_text
from thermal_perception.analysis.options import STATUS_FAILED, AnalysisOptions, BagResult
from thermal_perception.analysis.read_stage import bag_name, is_bag


def _storage_bags(folder: Path, files: Iterable[str]) -> list[Path]:
    """Bags of a folder without metadata.yaml (a recording cut short, or exported storage
    files): the folder if it holds one storage file, else each file."""
    storage = sorted(folder / f for f in files if Path(f).suffix in STORAGE_SUFFIXES)
    return [folder] if len(storage) == 1 else storage


def find_bags(paths: Iterable[str | Path], exclude: str | Path | None = None) -> list[Path]:
    """Bags among ``paths``; a folder that is not a bag contributes the bags inside it
    (searched recursively, skipping ``exclude``, e.g. the output folder; a rosbag2 folder
    counts as one bag), or itself when it holds none but frame files (a recording)."""
    from thermal_perception.io.recording_bag import is_recording

    found: list[Path] = []
    skip = Path(exclude).resolve() if exclude is not None else None
    for p in map(Path, paths):
        if not p.exists():
            raise FileNotFoundError(f"{p} does not exist")
        if is_bag(p) or not p.is_dir():
            found.append(p)
            continue
        before = len(found)
        for root, dirs, files in os.walk(p):
            here = Path(root)
            if skip is not None and here.resolve().is_relative_to(skip):
                dirs[:] = []
                continue
            dirs.sort()
            if (here / "metadata.yaml").exists():
                found.append(here)
                dirs[:] = []
                continue
            found += _storage_bags(here, files)
            found += sorted(here / f for f in files if f.endswith(".bag"))
        if len(found) == before and is_recording(p):  # a folder of frames, no bags in it
            found.append(p)
    return found


def unique_names(bags: Sequence[Path]) -> list[str]:
    """Output folder names, with a suffix where two bags share a name."""
    names: list[str] = []
    for bag in bags:
        base = bag_name(bag)
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return names


def _job(bag: str, name: str, options: AnalysisOptions) -> BagResult:
    """One bag in a worker (process or Ray task); never raises."""
    try:
        return analyze_bag(bag, options, name)
    except BaseException as exc:
        return BagResult(bag=bag, out_dir=str(Path(options.out) / name), status=STATUS_FAILED,
                         errors=[f"{type(exc).__name__}: {exc}"])


def _run_ray(jobs: list[tuple[str, str, AnalysisOptions]], address: str, workers: int,
             done: Callable[[BagResult], None]) -> None:
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError("--ray needs the 'ray' package (pip install 'ray>=2.9')") from exc
    started_here = not ray.is_initialized()
    if started_here:
        if address == "local":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_job)
        pending = [task.remote(*job) for job in jobs]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            done(ray.get(ready[0]))
    finally:
        if started_here:
            ray.shutdown()


def analyze_many(paths: Iterable[str | Path], options: AnalysisOptions | None = None,
                 workers: int | None = None, ray_address: str | None = None) -> list[BagResult]:
    """Analyse bags (or folders of bags) in parallel: ``workers`` processes (default: the
    number of CPUs), or Ray tasks on ``ray_address`` ("local" starts a local Ray).

    Results are in the order of the bags found; ``options.out/batch_summary.json`` lists them.
    """
    options = options or AnalysisOptions()
    bags = find_bags(paths, exclude=options.out)
    if not bags:
        raise ValueError("no bags found")
    workers = max(1, min(workers or os.cpu_count() or 1, len(bags)))
    names = unique_names(bags)
    parallel = ray_address is not None or workers > 1
    job_options = replace(options, progress=False) if parallel else options
    jobs = [(str(bag), name, job_options) for bag, name in zip(bags, names, strict=True)]
    results: dict[str, BagResult] = {}
    with tqdm(total=len(jobs), desc="bags", unit="bag",
              disable=not options.progress or len(jobs) == 1) as bar:

        def done(result: BagResult) -> None:
            results[result.out_dir] = result
            bar.update(1)
            bar.set_postfix_str(f"{Path(result.bag).name}: {result.status}")

        if ray_address is not None:
            _run_ray(jobs, ray_address, workers, done)
        elif workers == 1:
            for job in jobs:
                done(_job(*job))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(_job, *job) for job in jobs]
                for future in as_completed(futures):
                    done(future.result())
    ordered = [results[str(Path(options.out) / name)] for name in names]
    Path(options.out).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(options.out) / "batch_summary.json",
                      json.dumps([r.to_json() for r in ordered], indent=2, default=str) + "\n")
    return ordered
