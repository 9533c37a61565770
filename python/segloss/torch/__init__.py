"""segloss for PyTorch: SegLoss, an nn.Module taking the loss guide's keywords, and
segloss.torch.functional.

    from segloss.torch import SegLoss
    criterion = SegLoss(loss_type='focal_dice', focal_gamma=2.0, focal_weight=0.5,
                        dice_weight=0.5, dice_smooth=1.0, use_class_weighting=True)
    print(criterion)                 # the "Loss Configuration:" block
    loss = criterion(logits, target) # loss and dL/dlogits in one C call
    loss.backward()                  # hands the stored gradient over: no second pass

Inputs: logits float32 on the CPU, (N, C, *spatial) with C >= 2: (N, C, H, W), (N, C, D, H, W),
any number of spatial axes (none: (N, C)). Read in place when contiguous, or channels_last /
channels_last_3d (the library's NHWC path); any other strides are copied once (.contiguous()).
target: uint8, int32 or int64, (N, *spatial) or (N, 1, *spatial), read in place when
contiguous. With uint8 targets set ignore_index=255 (the default -100 never matches a uint8).
The loss is a float32 0-dim tensor, like torch.nn.functional.cross_entropy's.

Threads: each call sets the C library's pool to torch.get_num_threads() threads (read at
every call, so torch.set_num_threads applies at once) unless segloss.set_threads(k) fixed a
count; the results are the same bits for any count. The GIL is released during the call.

Autograd: when the logits require grad (and grad mode is on), forward computes the loss and
the gradient in one pass and keeps the gradient; backward returns it, multiplied by
grad_output only when grad_output is not 1 (in place: no second buffer). The gradient is
handed over, not copied, so a second backward through the same loss (retain_graph=True) raises
RuntimeError; create_graph (double backward) is not supported either.
"""
import ctypes
import threading
import weakref

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from .. import _ffi, _core
from .._config import Config
from .._core import Geometry, Loss, raise_status, _check_sizes

__all__ = ["SegLoss", "functional"]

_LABEL_TYPES = {torch.uint8: _ffi.LABEL_U8, torch.int32: _ffi.LABEL_I32, torch.int64: _ffi.LABEL_I64}


def _prepare(logits, target):
    """(logits as used, target as used, segloss_input, Geometry). Type and shape errors here."""
    if not isinstance(logits, torch.Tensor):
        raise TypeError("segloss: logits must be a torch.Tensor, got %s" % type(logits).__name__)
    if not isinstance(target, torch.Tensor):
        raise TypeError("segloss: target must be a torch.Tensor, got %s" % type(target).__name__)
    if logits.device.type != "cpu" or target.device.type != "cpu":
        raise TypeError("segloss: segloss computes on the CPU; logits are on %s, target on %s: pass .cpu() tensors"
                        % (logits.device, target.device))
    if logits.layout != torch.strided or target.layout != torch.strided:
        raise TypeError("segloss: logits and target must be dense (strided) tensors, got %s and %s"
                        % (logits.layout, target.layout))
    if logits.dtype != torch.float32:
        raise TypeError("segloss: logits must be float32, got %s; convert with logits.float()" % logits.dtype)
    lt = _LABEL_TYPES.get(target.dtype)
    if lt is None:
        raise TypeError("segloss: target must be uint8, int32 or int64 class indices, got %s; convert with "
                        "target.long()" % target.dtype)
    shape = logits.shape
    if len(shape) < 2:
        raise ValueError("segloss: logits must have shape (N, C, *spatial), got %s" % (tuple(shape),))
    n, c, spatial = shape[0], shape[1], tuple(shape[2:])
    _check_sizes(n, c, spatial, tuple(shape))
    # memory order: NCHW (contiguous), NHWC (channels_last / channels_last_3d), else one copy
    if logits.is_contiguous():
        layout = _ffi.NCHW
    elif (len(shape) == 4 and logits.is_contiguous(memory_format=torch.channels_last)) or \
            (len(shape) == 5 and logits.is_contiguous(memory_format=torch.channels_last_3d)):
        layout = _ffi.NHWC
    else:
        logits = logits.contiguous()
        layout = _ffi.NCHW
    tshape = target.shape
    if tshape[0:1] != shape[0:1] or tuple(tshape[1:]) != spatial:
        if len(tshape) == len(shape) and tshape[1] == 1 and tshape[0] == n and tuple(tshape[2:]) == spatial:
            target = target.squeeze(1)  # (N, 1, *spatial): a view
        else:
            raise ValueError("segloss: target has shape %s; logits of shape %s need a target of shape %s (or %s)"
                             % (tuple(tshape), tuple(shape), (n,) + spatial, (n, 1) + spatial))
    if not target.is_contiguous():
        target = target.contiguous()
    inp = _ffi.segloss_input(logits.data_ptr(), target.data_ptr(), lt, n, c, logits.numel() // (n * c) or 1, layout)
    return logits, target, inp, Geometry(n, c, spatial, layout)


def _follow_torch_threads():
    """torch.get_num_threads() threads for the C library's pool, unless segloss.set_threads
    fixed a count (the setting is process-wide and atomic; the bits do not depend on it)."""
    if _core._threads_explicit is None:
        k = torch.get_num_threads()
        if k != _ffi.lib.segloss_get_threads():
            _ffi.lib.segloss_set_threads(k)


def _call(cfg, logits, target, inp, geom, grad):
    """segloss_compute; segloss.Error on failure. Returns a segloss.Loss."""
    res = _ffi.segloss_result()
    _follow_torch_threads()
    st = _ffi.compute(cfg._ref, ctypes.byref(inp), grad.data_ptr() if grad is not None else None, ctypes.byref(res))
    if st != _ffi.OK:
        flat_t = target.reshape(-1)
        raise_status(st, res.bad_position, geom, cfg.ignore_index, lambda i: int(flat_t[i]),
                     lambda i: float(_memory_flat(logits, geom)[i]))
    return Loss.from_result(res)


def _memory_flat(x, geom):
    """x's elements in memory order (for naming a non-finite logit)."""
    if geom.layout == _ffi.NCHW:
        return x.reshape(-1)
    return x.movedim(1, -1).reshape(-1)  # channels_last: (N, *spatial, C) is contiguous


class GradientBuffers:
    """Gradient buffers kept between calls, so that their pages stay mapped.

    A fresh gradient tensor of 32 MiB costs more in page faults (the kernel maps and zeroes
    8192 pages on first write) than segloss_compute costs to fill it. So the buffers live in
    NumPy arrays held here (at most `keep`, 64-byte aligned), and each call hands out a tensor
    over one of them (torch.from_numpy of a fresh view). The tensor's storage holds that view;
    when the last tensor using the storage dies (the upstream backward has consumed it, or
    x.grad was reset), the view dies and the buffer is free again. A buffer still referenced
    anywhere (x.grad kept, a view of it kept) is never handed out twice.
    """

    def __init__(self, keep=2):
        self.keep = keep
        self._bufs = []  # [array, weakref to the view handed out last, or None]
        self._lock = threading.Lock()  # two threads must never both take one free buffer

    def get(self, logits, layout):
        with self._lock:
            return self._get(logits, layout)

    def _get(self, logits, layout):
        n, c = logits.shape[0], logits.shape[1]
        spatial = tuple(logits.shape[2:])
        shape = (n, c) + spatial if layout == _ffi.NCHW else (n,) + spatial + (c,)
        entry = None
        for e in self._bufs:
            if e[0].shape == shape and (e[1] is None or e[1]() is None):
                entry = e
                break
        if entry is None:
            if self.keep <= 0:
                return torch.empty_like(logits)
            if len(self._bufs) >= self.keep:  # replace a free buffer of another shape, if any
                free = [e for e in self._bufs if e[1] is None or e[1]() is None]
                if not free:
                    return torch.empty_like(logits)
                self._bufs.remove(free[0])
            entry = [_aligned_empty(shape), None]
            self._bufs.append(entry)
        view = entry[0].view()
        entry[1] = weakref.ref(view)
        t = torch.from_numpy(view)
        return t if layout == _ffi.NCHW else t.movedim(-1, 1)  # channels_last strides

    def clear(self):
        with self._lock:
            self._bufs = []

    def __reduce__(self):  # copies and pickles start empty (weak references do not copy)
        return (GradientBuffers, (self.keep,))


def _aligned_empty(shape):
    count = 1
    for d in shape:
        count *= d
    raw = np.empty(count + 16, dtype=np.float32)
    off = (-raw.ctypes.data % 64) // 4
    return raw[off:off + count].reshape(shape)


_shared_buffers = GradientBuffers()  # segloss.torch.functional's


class _SegLossFunction(torch.autograd.Function):
    """Loss and gradient in one C call; backward hands the gradient over."""

    @staticmethod
    def forward(ctx, logits, target, cfg, inp, geom, sink, buffers):
        grad = buffers.get(logits, geom.layout)  # same strides as the logits: NHWC in, NHWC out
        r = _call(cfg, logits, target, inp, geom, grad)
        ctx.grad = grad
        sink[0] = r
        return torch.tensor(float(r), dtype=logits.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        g = ctx.grad
        if g is None:
            raise RuntimeError("segloss: backward through this loss a second time: its gradient was handed to the "
                               "first backward without a copy. Compute the loss again instead of retain_graph=True.")
        ctx.grad = None  # the only reference left is the one returned: autograd may keep it as .grad, uncopied
        if grad_output is not None and float(grad_output) != 1.0:
            g.mul_(grad_output)
        return g, None, None, None, None, None, None


def seg_loss_with_config(cfg, logits, target, buffers=None):
    """The loss under cfg (a segloss.Config); (loss tensor, segloss.Loss with the terms)."""
    x, y, inp, geom = _prepare(logits, target)
    cfg.check_classes(geom.c)
    if x.requires_grad and torch.is_grad_enabled():
        sink = [None]
        loss = _SegLossFunction.apply(x, y, cfg, inp, geom, sink, buffers or _shared_buffers)
        return loss, sink[0]
    r = _call(cfg, x, y, inp, geom, None)
    return torch.tensor(float(r), dtype=x.dtype), r


class SegLoss(torch.nn.Module):
    """A segmentation loss with the loss guide's keyword arguments:

        SegLoss(loss_type='ce' | 'weighted_ce' | 'focal' | 'dice' | 'focal_dice' | 'tversky',
                focal_gamma=2.0, focal_weight=0.5, dice_weight=0.5, dice_smooth=1.0,
                tversky_alpha=0.7, tversky_beta=0.3, use_class_weighting=False,
                class_weights=None, ignore_index=-100, include_background=True,
                per_sample=False, reduction='mean', check_finite=False)

    (gamma, smooth, alpha and beta are accepted for focal_gamma, dice_smooth, tversky_alpha and
    tversky_beta; use_class_weighting defaults to True for 'weighted_ce'). Every keyword has the
    default of segloss_config_init for the loss type; see segloss.KEYWORDS and docs/python.md.

    forward(logits, target) -> 0-dim float32 tensor. logits: (N, C, *spatial) float32 CPU,
    C >= 2; target: (N, *spatial) or (N, 1, *spatial), uint8/int32/int64. The library's terms
    of the last call are in .last_result (a segloss.Loss: float(loss) in double precision,
    .ce_term, .dice_term, .valid).

    print(module) prints the "Loss Configuration:" block; repr() the keywords.
    One thread: see the segloss.torch module docstring.
    """

    def __init__(self, **kwargs):
        super().__init__()
        self.config = Config(**kwargs)
        self.last_result = None
        self.buffers = GradientBuffers()

    @classmethod
    def from_config(cls, text, class_weights=None):
        """A SegLoss from the guide's text, e.g. SegLoss.from_config("loss_type='focal',
        focal_gamma=2.0, use_class_weighting=True,") or a "Loss Configuration:" block
        (segloss_config_parse). A bad key or value raises segloss.Error naming it."""
        self = cls.__new__(cls)
        torch.nn.Module.__init__(self)
        self.config = Config.parse(text, class_weights)
        self.last_result = None
        self.buffers = GradientBuffers()
        return self

    @property
    def loss_type(self):
        return self.config.loss_type

    def forward(self, logits, target):
        loss, self.last_result = seg_loss_with_config(self.config, logits, target, self.buffers)
        return loss

    def format(self, weights=None):
        """The "Loss Configuration:" block; weights: class weights to show (e.g. the ones
        segloss.weights_for reports for a dataset)."""
        return self.config.format(weights)

    def extra_repr(self):
        return repr(self.config)[len("Config("):-1]

    def __str__(self):
        return str(self.config)


from . import functional  # noqa: E402  (segloss.torch.functional)
