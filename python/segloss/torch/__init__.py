"""segloss for PyTorch: SegLoss, an nn.Module taking the loss guide's keywords, and
segloss.torch.functional.

    from segloss.torch import SegLoss
    criterion = SegLoss(loss_type='focal_dice', focal_gamma=2.0, focal_weight=0.5,
                        dice_weight=0.5, dice_smooth=1.0, use_class_weighting=True)
    print(criterion)                 # the "Loss Configuration:" block
    loss = criterion(logits, target) # loss and dL/dlogits in one C call
    loss.backward()                  # hands the stored gradient over: no second pass

Inputs: logits float32 on the CPU, (N, C, *spatial), C >= 2 under the softmax (C >= 1 with
activation='sigmoid'): (N, C, H, W), (N, C, D, H, W), any number of spatial axes (none:
(N, C)). Read in place when contiguous, or channels_last / channels_last_3d (the library's
NHWC path); any other strides are copied once (.contiguous()). target: class indices, uint8,
int32, int64 or bool, (N, *spatial) or (N, 1, *spatial), read in place when contiguous (with
uint8 targets set ignore_index=255: the default -100 never matches a uint8); or, with
activation='sigmoid', a target per channel of the logits' shape: float32 in [0, 1] or
uint8/bool masks, put in the logits' memory order. weight_map (forward's keyword): float32
(N, *spatial), one weight per position. The loss is a float32 0-dim tensor, like
torch.nn.functional.cross_entropy's; with reduction='none' the unreduced terms
(segloss.unreduced_shape), whose backward scales the gradient of their sum term by term
(exact; refused with NotImplementedError where it cannot be: softmax Dice/Tversky with an
upstream gradient that differs between classes).

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
from .._core import Geometry, Loss, raise_status, target_kind, unreduced_shape, call_unreduced, call_config, \
    _check_sizes, _CE_FAMILY

__all__ = ["SegLoss", "functional"]

_LABEL_TYPES = {torch.uint8: _ffi.LABEL_U8, torch.int32: _ffi.LABEL_I32, torch.int64: _ffi.LABEL_I64}


class _Prepared:
    """One call's tensors as they reach C: x (logits), y (labels or targets), wm (weight map or
    None), inp (segloss_input over them), geom, targets (per-element targets, not labels).
    Holding it keeps any copies alive for the call."""

    __slots__ = ("x", "y", "wm", "cfg_c", "inp", "geom", "targets")


def _prepare(cfg, logits, target, weight_map=None):
    """The tensors laid out for C (a _Prepared). Type and shape errors here."""
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
    shape = logits.shape
    if len(shape) < 2:
        raise ValueError("segloss: logits must have shape (N, C, *spatial), got %s" % (tuple(shape),))
    n, c, spatial = shape[0], shape[1], tuple(shape[2:])
    _check_sizes(n, c, spatial, tuple(shape))
    dtype_name = str(target.dtype).replace("torch.", "")
    kind = target_kind(dtype_name, tuple(target.shape), n, c, spatial, False, cfg.sigmoid, "target")
    if target.requires_grad and torch.is_grad_enabled():
        raise NotImplementedError("segloss: target requires grad, but segloss computes no gradient with respect to "
                                  "it (only dL/dlogits): pass target.detach()")
    # memory order: NCHW (contiguous), NHWC (channels_last / channels_last_3d), else one copy
    fmt = torch.channels_last if len(shape) == 4 else torch.channels_last_3d if len(shape) == 5 else None
    if logits.is_contiguous():
        layout = _ffi.NCHW
    elif fmt is not None and logits.is_contiguous(memory_format=fmt):
        layout = _ffi.NHWC
    else:
        logits = logits.contiguous()
        layout = _ffi.NCHW
    if target.dtype == torch.bool:
        target = target.view(torch.uint8)  # the same bytes, 0 or 1
    if kind == "labels":
        lt = _LABEL_TYPES[target.dtype]
        if target.dim() == len(shape):
            target = target.squeeze(1)  # (N, 1, *spatial): a view
        if not target.is_contiguous():
            target = target.contiguous()
    else:
        lt = kind  # per-element targets lie as the logits do
        mf = torch.contiguous_format if layout == _ffi.NCHW else fmt
        if not target.is_contiguous(memory_format=mf):
            target = target.contiguous(memory_format=mf)
    if weight_map is not None:
        weight_map = _weight_map_tensor(weight_map, n, spatial)
    p = _Prepared()
    p.x, p.y, p.wm = logits, target, weight_map
    p.cfg_c = call_config(cfg, weight_map.data_ptr() if weight_map is not None else None)
    p.inp = _ffi.segloss_input(logits.data_ptr(), target.data_ptr(), lt, n, c, logits.numel() // (n * c) or 1, layout)
    p.geom = Geometry(n, c, spatial, layout)
    p.targets = kind != "labels"
    return p


def _weight_map_tensor(wm, n, spatial):
    if not isinstance(wm, torch.Tensor):
        wm = torch.as_tensor(np.asarray(wm))
    if wm.device.type != "cpu" or wm.layout != torch.strided:
        raise TypeError("segloss: weight_map must be a dense CPU tensor, got %s on %s" % (wm.layout, wm.device))
    if wm.dtype != torch.float32:
        raise TypeError("segloss: weight_map must be float32, got %s; convert with weight_map.float()" % wm.dtype)
    if wm.requires_grad and torch.is_grad_enabled():
        raise NotImplementedError("segloss: weight_map requires grad, but segloss computes no gradient with respect "
                                  "to it (only dL/dlogits): pass weight_map.detach()")
    want = (n,) + spatial
    if tuple(wm.shape) == (n, 1) + spatial:
        wm = wm.squeeze(1)
    if tuple(wm.shape) != want:
        raise ValueError("segloss: weight_map has shape %s; it holds one weight per position: shape %s"
                         % (tuple(wm.shape), want))
    return wm.contiguous()


def _follow_torch_threads():
    """torch.get_num_threads() threads for the C library's pool, unless segloss.set_threads
    fixed a count (the setting is process-wide and atomic; the bits do not depend on it)."""
    if _core._threads_explicit is None:
        k = torch.get_num_threads()
        if k != _ffi.lib.segloss_get_threads():
            _ffi.lib.segloss_set_threads(k)


def _call(cfg, p, grad):
    """segloss_compute (segloss_compute_unreduced for reduction='none'); segloss.Error on
    failure. Returns (segloss.Loss, the unreduced terms as a tensor or None)."""
    _follow_torch_threads()
    gp = grad.data_ptr() if grad is not None else None
    terms = None
    if cfg.reduction == "none":
        g = p.geom
        mem_shape = (g.n, g.c) + g.spatial if g.layout == _ffi.NCHW else (g.n,) + g.spatial + (g.c,)
        st, res, arr = call_unreduced(cfg, p.cfg_c, p.inp, gp, g.n, g.c, g.spatial, mem_shape)
        if st == _ffi.OK:
            terms = torch.from_numpy(arr)
            if g.layout == _ffi.NHWC and cfg.loss_type in _CE_FAMILY and cfg.sigmoid:
                terms = terms.movedim(-1, 1)  # the logits' shape, their (channels_last) strides
    else:
        res = _ffi.segloss_result()
        st = _ffi.compute(ctypes.byref(p.cfg_c), ctypes.byref(p.inp), gp, ctypes.byref(res))
    if st != _ffi.OK:
        flat_t = _memory_flat(p.y, p.geom) if p.targets else p.y.reshape(-1)
        raise_status(st, res.bad_position, p.geom, cfg.ignore_index, lambda i: flat_t[i].item(),
                     lambda i: float(_memory_flat(p.x, p.geom)[i]), cfg=p.cfg_c, inp=p.inp, res=res,
                     targets=p.targets, weight_map=p.wm.numpy() if p.wm is not None else None)
    return Loss.from_result(res), terms


def _upstream_scale(cfg, geom, v):
    """For reduction='none': the factor, broadcastable to the logits' shape, by which the
    gradient of the terms' sum (what C computes, SEGLOSS_SUM) becomes the gradient of
    sum(v * terms). Exact because each term depends only on the logits it is scaled over: a
    position's channels (softmax CE family), one element (sigmoid CE family), one channel of
    one sample or of the batch (sigmoid Dice/Tversky), one sample or the batch (generalized
    Dice; softmax Dice/Tversky when v is the same for every class of a sample)."""
    n, c, spatial = geom.n, geom.c, geom.spatial
    ones = (1,) * len(spatial)
    t = cfg.loss_type
    if t in _CE_FAMILY:
        return v if cfg.sigmoid else v.unsqueeze(1)
    if t == "generalized_dice":
        return v.reshape((n,) + (1,) + ones) if cfg.per_sample else v.reshape(())
    # dice, tversky: v is (N, |K|) or (|K|,)
    if cfg.sigmoid:
        f = v.new_zeros((n, c) if cfg.per_sample else (c,))
        f[..., c - v.shape[-1]:] = v  # the channels in K are the last |K|
        return f.reshape(((n,) if cfg.per_sample else (1,)) + (c,) + ones)
    first = v[..., :1]
    if v.numel() and not bool((v == first).all()):
        raise NotImplementedError(
            "segloss: backward of %s with reduction='none' under softmax and an upstream gradient that differs "
            "between the classes of a %s: every class's term depends on every logit (through the softmax), and "
            "segloss computes one gradient per call. Reduce the terms with the same weight for every class "
            "(e.g. .mean() or .sum()), use reduction='mean'/'sum', or use activation='sigmoid'"
            % (t, "sample" if cfg.per_sample else "batch"))
    if cfg.per_sample:
        return first.reshape((n,) + (1,) + ones)
    return first.reshape(()) if first.numel() else v.new_zeros(())


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
    def forward(ctx, logits, cfg, p, sink, buffers):
        grad = buffers.get(logits, p.geom.layout)  # same strides as the logits: NHWC in, NHWC out
        r, terms = _call(cfg, p, grad)
        ctx.grad = grad
        ctx.cfg, ctx.geom = cfg, p.geom
        sink[0] = r
        return terms if terms is not None else torch.tensor(float(r), dtype=logits.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        g = ctx.grad
        if g is None:
            raise RuntimeError("segloss: backward through this loss a second time: its gradient was handed to the "
                               "first backward without a copy. Compute the loss again instead of retain_graph=True.")
        if ctx.cfg.reduction == "none":
            scale = _upstream_scale(ctx.cfg, ctx.geom, grad_output)  # may refuse: then g stays for no one
            ctx.grad = None
            return g.mul_(scale), None, None, None, None
        ctx.grad = None  # the only reference left is the one returned: autograd may keep it as .grad, uncopied
        if grad_output is not None and float(grad_output) != 1.0:
            g.mul_(grad_output)
        return g, None, None, None, None


def seg_loss_with_config(cfg, logits, target, buffers=None, weight_map=None):
    """The loss under cfg (a segloss.Config); (loss tensor, segloss.Loss with the terms). With
    reduction='none' the tensor holds the unreduced terms (segloss.unreduced_shape)."""
    p = _prepare(cfg, logits, target, weight_map)
    cfg.check_classes(p.geom.c)
    if p.x.requires_grad and torch.is_grad_enabled():
        sink = [None]
        loss = _SegLossFunction.apply(p.x, cfg, p, sink, buffers or _shared_buffers)
        return loss, sink[0]
    r, terms = _call(cfg, p, None)
    return (terms if terms is not None else torch.tensor(float(r), dtype=p.x.dtype)), r


class SegLoss(torch.nn.Module):
    """A segmentation loss with the loss guide's keyword arguments:

        SegLoss(loss_type='ce' | 'weighted_ce' | 'focal' | 'dice' | 'focal_dice' | 'tversky',
                focal_gamma=2.0, focal_weight=0.5, dice_weight=0.5, dice_smooth=1.0,
                tversky_alpha=0.7, tversky_beta=0.3, use_class_weighting=False,
                class_weights=None, ignore_index=-100, include_background=True,
                per_sample=False, reduction='mean', check_finite=False,
                activation='softmax', label_smoothing=0.0, pos_weight=None, focal_alpha=0.25)

    (gamma, smooth, alpha and beta are accepted for focal_gamma, dice_smooth, tversky_alpha and
    tversky_beta; use_class_weighting defaults to True for 'weighted_ce'). Every keyword has the
    default of segloss_config_init for the loss type; see segloss.KEYWORDS and docs/python.md.

    forward(logits, target, weight_map=None) -> 0-dim float32 tensor (reduction='none': the
    unreduced terms). logits: (N, C, *spatial) float32 CPU; target: class indices (N, *spatial)
    or (N, 1, *spatial), uint8/int32/int64/bool, or with activation='sigmoid' per-channel
    targets of the logits' shape (float32, uint8, bool); weight_map: float32 (N, *spatial) or
    None. See the segloss.torch module docstring. The library's terms of the last call are in .last_result (a segloss.Loss: float(loss) in double precision,
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

    def forward(self, logits, target, weight_map=None):
        loss, self.last_result = seg_loss_with_config(self.config, logits, target, self.buffers, weight_map)
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
