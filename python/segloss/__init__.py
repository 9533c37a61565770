"""segloss: segmentation losses with exact fused gradients (ce, weighted_ce, focal, dice,
focal_dice, tversky, generalized_dice; softmax or sigmoid), from the C library segloss.h, for
NumPy and PyTorch users.

    import segloss
    loss, grad = segloss.compute(logits, labels, loss_type='focal_dice', use_class_weighting=True)

    from segloss.torch import SegLoss                     # an nn.Module
    criterion = SegLoss(loss_type='focal', focal_gamma=2.0, use_class_weighting=True)
    loss = criterion(logits, target); loss.backward()

The keywords are the loss guide's (segloss.KEYWORDS); see docs/python.md.

Threads: segloss.torch runs each call on torch.get_num_threads() threads (read at every
call) unless segloss.set_threads(k) fixed a count; NumPy calls use the library's setting
(set_threads, else $SEGLOSS_THREADS, default 1). Results are the same bits for any count. The
GIL is released during the call, so calls from several Python threads run in parallel; all
functions are reentrant.

Errors: TypeError / ValueError for arguments segloss does not take (a CUDA tensor, float64
logits, mismatched shapes, float targets under the softmax, an unknown keyword); segloss.Error
(a ValueError) for what the library rejects (C = 1 under the softmax among them), in the
library's words and, for a bad label or a non-finite logit, with its position.

The shared library: _segloss.so beside this file (make python / make install-python), or the
file named by $SEGLOSS_LIBRARY. At import its version and the layout of every struct this
binding declares are checked against the library (segloss_abi_offset); a mismatch is an
ImportError naming the fields.
"""
from . import _ffi
from ._ffi import Error
from ._config import Config, KEYWORDS, ALIASES
from ._core import (
    Loss, Stats, Metrics, Advice, compute, stats_len, accumulate, finish, backward, label_histogram,
    class_weights, weights_for, confusion, metrics, advise, parse_config, format_config, active_isa,
    isa_names, isa_supported, set_isa, set_threads, get_threads, unreduced_shape,
)

LOSS_TYPES = _ffi.LOSS_NAMES
WEIGHTINGS = _ffi.WEIGHTINGS
LIBRARY = _ffi.path
_v = _ffi.lib.segloss_version()
__version__ = "%d.%d.%d" % (_v // 10000, _v // 100 % 100, _v % 100)
del _v

__all__ = [
    "Error", "Config", "KEYWORDS", "ALIASES", "LOSS_TYPES", "WEIGHTINGS", "Loss", "Stats", "Metrics", "Advice",
    "compute", "stats_len", "accumulate", "finish", "backward", "label_histogram", "class_weights", "weights_for",
    "confusion", "metrics", "advise", "parse_config", "format_config", "active_isa", "isa_names",
    "isa_supported", "set_isa", "set_threads", "get_threads", "unreduced_shape",
]
