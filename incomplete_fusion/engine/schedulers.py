"""Step decay at fractions of the schedule (paper: x0.1 at 90 % and 95 %)."""
from typing import Sequence

from mmengine.optim.scheduler import MultiStepLR
from mmengine.optim.scheduler.param_scheduler import INF
from mmengine.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class RelativeMultiStepLR(MultiStepLR):
    """``MultiStepLR`` whose milestones are fractions of ``[begin, end)``.

    With absolute milestones, shortening a run (``--cfg-options
    train_cfg.max_iters=...``) silently keeps the old decay points; here they
    follow the schedule length. Leave ``end`` out of the config: the runner then
    sets it to the train loop's ``max_iters`` (or ``max_epochs``).

    Args:
        milestones: increasing fractions in (0, 1).
        gamma: multiplicative decay at each milestone.
    """

    def __init__(self, optimizer, milestones: Sequence[float] = (0.9, 0.95), gamma: float = 0.1,
                 begin: int = 0, end: int = INF, **kwargs):
        if end == INF:
            raise ValueError('RelativeMultiStepLR needs a finite `end`; omit it in the config '
                             'so that the runner sets it to the length of training')
        fractions = [float(f) for f in milestones]
        if any(not 0.0 < f < 1.0 for f in fractions) or fractions != sorted(fractions):
            raise ValueError(f'milestones must be increasing fractions in (0, 1), got {milestones}')
        self.milestone_fractions = tuple(fractions)
        span = end - begin
        absolute = [max(1, int(round(f * span))) for f in fractions]
        super().__init__(optimizer, milestones=absolute, gamma=gamma, begin=begin, end=end,
                         **kwargs)

    @classmethod
    def build_iter_from_epoch(cls, *args, milestones=(0.9, 0.95), begin=0, end=INF,
                              by_epoch=True, epoch_length=None, **kwargs):
        """Epoch-based config to iteration steps: fractions stay fractions."""
        assert by_epoch and epoch_length, 'needs by_epoch=True and a positive epoch_length'
        end = end if end == INF else int(end * epoch_length)
        return cls(*args, milestones=milestones, begin=int(begin * epoch_length), end=end,
                   by_epoch=False, **kwargs)
