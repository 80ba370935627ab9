"""The scene engine: every scene prediction, one scene or many, runs through :func:`run_scenes`.

Each :class:`SceneJob` is planned (:mod:`.plan`, unless it brings a plan), cut into
tiles (:mod:`.tiles`) and becomes a :class:`SceneRun` (its :class:`~.read.TileReader`
and merger, :mod:`.merge`); the tiles of all runs flow through one stream
(:mod:`.stream`: read ahead, batched, through ``model.test_step``) and every
finished strip of rows is written. Memory is bounded by one strip of a scene's
width. A job whose planning, reading, model call or merging fails leaves no output
and gets a ``failed`` :class:`SceneResult`; the others go on (``raise_errors``:
the first error is raised instead). See docs/user_guides/3_inference.md.
"""
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ...binding import bind
from ...datasets.geo_io import RasterGrid
from ...modalities import ModalitySet
from ..model import default_tile_size, model_modality_set, model_task
from .geotiff import STRIP_ROWS
from .merge import InstanceMerger, SemanticMerger
from .options import SceneOptions
from .plan import PathLike, ScenePlan, plan_scene
from .read import TileReader
from .stream import StreamStats, run_stream
from .tiles import Tile, plan_tiles

__all__ = ['SceneJob', 'SceneResult', 'SceneRun', 'run_scenes']

Rows = Union[None, Tuple[int, int], Callable[[int], Tuple[int, int]]]
REPORT_FIELDS = ('scene', 'status', 'path', 'missing', 'ignored', 'error', 'num_tiles',
                 'seconds', 'inputs', 'window')


@dataclass(frozen=True)
class SceneJob:
    """One scene to predict and where its outputs go.

    ``inputs``: modality name → GeoTIFF path (``None``/absent = missing), or a
    :class:`ScenePlan`. ``rows``: only output rows ``[a, b)`` (multiples of 16, or
    ``b`` = the grid height; semantic), or a function of the grid height giving them.
    ``check_values``: planning reads the files for the value check (see :func:`plan_scene`).
    """

    name: str
    inputs: Union[ScenePlan, Mapping[str, Optional[PathLike]]]
    out_path: PathLike
    scores_path: Optional[PathLike] = None
    geojson_path: Optional[PathLike] = None
    rows: Rows = None
    check_values: bool = True


@dataclass
class SceneResult:
    """What happened to one scene: ``status`` is ``done``, ``skipped`` (its output
    existed), ``empty`` (no rows in this rank's window) or ``failed`` (``error``).

    Time is split into ``seconds`` (planning to written outputs), of which
    ``model_seconds`` in ``model.test_step`` and ``read_wait_seconds`` waiting for tiles.
    """

    scene: str
    status: str = 'failed'
    path: Optional[str] = None
    error: Optional[str] = None
    inputs: Dict[str, Optional[str]] = field(default_factory=dict)
    task: Optional[str] = None
    grid: Optional[RasterGrid] = None
    reference_name: Optional[str] = None
    missing: Tuple[str, ...] = ()
    ignored: Tuple[str, ...] = ()
    num_tiles: int = 0
    num_tiles_run: int = 0
    seconds: float = 0.0
    model_seconds: float = 0.0
    read_wait_seconds: float = 0.0
    geojson_path: Optional[str] = None
    scores_path: Optional[str] = None
    num_instances: int = 0
    peak_buffer_bytes: int = 0
    window: Optional[Tuple[int, int, int]] = None  # rows [a, b) of height (a rank's share)

    @property
    def megapixels(self) -> float:
        return self.grid.height * self.grid.width / 1e6 if self.grid is not None else 0.0

    def report(self) -> dict:
        """The scene's entry of ``report.json`` (JSON types only)."""
        entry = {k: getattr(self, k) for k in REPORT_FIELDS}
        entry.update(missing=list(self.missing), ignored=list(self.ignored),
                     window=list(self.window) if self.window else None)
        return entry


class SceneRun:
    """The tiles of one planned scene, its reader and the merger writing its outputs.

    ``options`` must have ``tile_size`` and ``overlap`` resolved; ``rows``: as
    :attr:`SceneJob.rows`, resolved. Use as a context manager (the outputs appear
    only on a clean exit); tiles are read by :meth:`prepare` (thread-safe) and their
    predictions handed back **in tile order** (:meth:`add`/:meth:`skip`); every
    finished tile row is flushed to the outputs at once.
    """

    def __init__(self, model, plan: ScenePlan, job: SceneJob, options: SceneOptions,
                 rows: Optional[Tuple[int, int]], result: SceneResult):
        self.model, self.plan, self.result = model, plan, result
        self.task = model_task(model)
        grid = plan.grid
        tiles = plan_tiles(grid.height, grid.width, options.tile_size, options.overlap)
        row0, row1 = (0, grid.height) if rows is None else (int(rows[0]), int(rows[1]))
        if rows is not None:
            if row0 % STRIP_ROWS or (row1 % STRIP_ROWS and row1 != grid.height) or \
                    not 0 <= row0 < row1 <= grid.height:
                raise ValueError(f'rows must be multiples of {STRIP_ROWS} inside the grid '
                                 f'(height {grid.height}), got {rows}')
            tiles = [t for t in tiles if t.y0 < row1 and t.y0 + t.size > row0]
        self.tiles, self.rows = tiles, (row0, row1)
        # the first tile of the next tile row (or the end): flush up to there after a row
        self._next_y = {}
        for tile, following in zip(tiles, tiles[1:] + [None]):
            if following is None or following.row != tile.row:
                self._next_y[(tile.row, tile.col)] = following.y0 if following else row1
        bind(plan.modality_set, model)
        self.reader = TileReader.from_model(model, plan.modality_set)
        model.eval()
        args = (model, plan, options, job.out_path)
        if self.task == 'semantic':
            self.merger = SemanticMerger(*args, scores_path=job.scores_path, rows=(row0, row1),
                                         first_row=tiles[0].y0)
        else:
            self.merger = InstanceMerger(*args, geojson_path=job.geojson_path,
                                         rows=(row0, row1), first_row=tiles[0].y0)
        self.num_run = 0
        self.model_seconds = 0.0
        self.wait_seconds = 0.0

    @property
    def modality_set(self) -> ModalitySet:
        return self.plan.modality_set

    def __enter__(self) -> 'SceneRun':
        self.merger.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.merger.__exit__(*exc)

    def prepare(self, tile: Tile) -> Tuple[Optional[dict], np.ndarray]:
        """The packed model input of ``tile`` (``None`` if it has no data) and its
        valid-pixel mask. Thread-safe: files are opened per call."""
        chip = self.reader.read_tile(self.plan, tile)
        valid = chip.valid
        return (self.reader.pack(chip) if valid.any() else None), valid

    def add(self, tile: Tile, sample, valid: np.ndarray) -> None:
        """Merge the prediction of ``tile`` (tiles come back in order)."""
        self.merger.add(tile, sample, valid)
        self.num_run += 1
        self._done(tile)

    def skip(self, tile: Tile) -> None:
        """``tile`` had no data (nothing to merge)."""
        self._done(tile)

    def _done(self, tile: Tile) -> None:
        next_y = self._next_y.get((tile.row, tile.col))
        if next_y is not None:
            self.merger.flush(next_y)

    def finish(self, started: float) -> SceneResult:
        """Fill in :attr:`result` once the outputs are written."""
        merger, result = self.merger, self.result
        result.status, result.path, result.task = 'done', merger.out.path, self.task
        result.num_tiles, result.num_tiles_run = len(self.tiles), self.num_run
        result.seconds = time.perf_counter() - started
        result.model_seconds, result.read_wait_seconds = self.model_seconds, self.wait_seconds
        result.geojson_path, result.scores_path = merger.geojson_path, merger.scores_path
        result.num_instances, result.peak_buffer_bytes = merger.num_instances, merger.buffer_bytes
        return result


def _rows_of(job: SceneJob, height: int) -> Optional[Tuple[int, int]]:
    return job.rows(height) if callable(job.rows) else job.rows


def run_scenes(model, jobs: Sequence[SceneJob], options: SceneOptions,
               modality_set: Optional[ModalitySet] = None, progress: bool = False,
               raise_errors: bool = False, stats: Optional[StreamStats] = None
               ) -> List[SceneResult]:
    """Predict every job in one tile stream; one :class:`SceneResult` per job, in order.

    ``modality_set``: the set files are planned with (default: the model's); a job
    bringing a :class:`ScenePlan` keeps the plan's. ``progress``: a tqdm bar of tiles.
    ``stats``: filled in with the stream's totals (:class:`~.stream.StreamStats`).
    """
    modality_set = modality_set or model_modality_set(model)
    options = options.with_tile_size(default_tile_size(getattr(model, 'cfg', None)))
    results = [SceneResult(job.name, inputs={} if isinstance(job.inputs, ScenePlan) else
                           {k: (None if v is None else os.fspath(v))
                            for k, v in job.inputs.items()}) for job in jobs]
    started: Dict[SceneRun, float] = {}
    errors: List[BaseException] = []

    def runs():
        for job, result in zip(jobs, results):
            tic = time.perf_counter()
            try:
                if isinstance(job.inputs, ScenePlan):
                    plan = job.inputs
                    result.inputs = dict(plan.paths)
                else:
                    plan = plan_scene(job.inputs, modality_set, options.reference,
                                      options.extent, options.resolution,
                                      check_values=job.check_values)
                result.grid, result.reference_name = plan.grid, plan.reference_name
                result.missing, result.ignored = plan.missing, plan.ignored
                rows = _rows_of(job, plan.grid.height)
                if rows is not None:
                    result.window = (rows[0], rows[1], plan.grid.height)
                    if rows[0] == rows[1]:
                        result.status = 'empty'
                        continue
                run = SceneRun(model, plan, job, options, rows, result)
                started[run] = tic
            except Exception as exc:  # noqa: BLE001 - one bad scene must not stop the others
                if raise_errors:
                    raise
                result.error = f'{type(exc).__name__}: {exc}'
                continue
            for tile in run.tiles:
                yield run, tile

    def on_close(run: SceneRun, error: Optional[BaseException]) -> None:
        if error is None:
            run.finish(started[run])
            return
        errors.append(error)
        run.result.error = f'{type(error).__name__}: {error}'

    run_stream(model, runs(), options.batch_size, options.workers,
               mix_scenes=options.mix_scenes, on_close=on_close, progress=progress,
               stats=stats)
    if raise_errors and errors:
        raise errors[0]
    return results
