"""The NumPy API: segloss.compute and the rest of the C API, over arrays (and CPU tensors)."""
import ctypes
import math

import numpy as np

from . import _ffi
from ._config import Config, as_config

_LABEL_TYPES = {np.dtype(np.uint8): _ffi.LABEL_U8, np.dtype(np.int32): _ffi.LABEL_I32,
                np.dtype(np.int64): _ffi.LABEL_I64}
_CE_FAMILY = ("ce", "weighted_ce", "focal")
_LAYOUTS = ("nchw", "nhwc")


# ---- the loss value -----------------------------------------------------------------------------
class Loss(float):
    """The loss (a float) with the rest of segloss_result: ce_term (the CE / weighted CE / focal
    term, before focal_weight), dice_term (the Dice or Tversky term, before dice_weight) and valid
    (positions whose label is not ignore_index)."""

    __slots__ = ("ce_term", "dice_term", "valid")

    def __new__(cls, loss, ce_term=math.nan, dice_term=math.nan, valid=0):
        self = super().__new__(cls, loss)
        self.ce_term = ce_term
        self.dice_term = dice_term
        self.valid = valid
        return self

    @classmethod
    def from_result(cls, r):
        return cls(r.loss, r.ce_term, r.dice_term, r.valid)

    def __repr__(self):
        return "Loss(%r, ce_term=%r, dice_term=%r, valid=%d)" % (float(self), self.ce_term, self.dice_term, self.valid)

    def __reduce__(self):
        return (Loss, (float(self), self.ce_term, self.dice_term, self.valid))


# ---- positions in error messages ---------------------------------------------------------------
def _dim_names(k):
    return {0: (), 1: ("s",), 2: ("h", "w"), 3: ("d", "h", "w")}.get(k, tuple("s%d" % i for i in range(k)))


class Geometry:
    """How a batch lies in memory, to name positions: n, c, the spatial shape, the memory layout
    (NCHW or NHWC) and whether the caller's shape puts the class axis last."""

    __slots__ = ("n", "c", "spatial", "layout", "class_last")

    def __init__(self, n, c, spatial, layout, class_last=False):
        self.n, self.c, self.spatial, self.layout, self.class_last = n, c, tuple(spatial), layout, class_last

    @property
    def s(self):
        return math.prod(self.spatial)

    def label_index(self, flat):
        n, s = divmod(int(flat), self.s)
        return (n,) + tuple(int(i) for i in np.unravel_index(s, self.spatial))

    def logit_index(self, flat):
        """Index in the caller's shape of the element at flat in memory."""
        S, C = self.s, self.c
        if self.layout == _ffi.NCHW:
            n, rem = divmod(int(flat), C * S)
            c, s = divmod(rem, S)
        else:
            n, rem = divmod(int(flat), S * C)
            s, c = divmod(rem, C)
        sp = tuple(int(i) for i in np.unravel_index(s, self.spatial))
        return (n,) + sp + (c,) if self.class_last else (n, c) + sp

    def name_label(self, idx):
        return "[%s]" % ", ".join("%s=%d" % kv for kv in zip(("n",) + _dim_names(len(self.spatial)), idx))

    def name_logit(self, idx):
        names = ("n",) + _dim_names(len(self.spatial))
        names = names + ("c",) if self.class_last else names[:1] + ("c",) + names[1:]
        return "[%s]" % ", ".join("%s=%d" % kv for kv in zip(names, idx))


def raise_status(status, bad_position, geom, ignore_index=None, label_at=None, logit_at=None, what=None,
                 cfg=None, inp=None, res=None, targets=False, weight_map=None):
    """segloss.Error for status, with the bad label or logit named by its index; otherwise, when
    the call's cfg and inp are given, in the library's words (segloss_error_message). targets:
    the labels were per-element targets (a bad one is named by its element's index).
    weight_map: the call's map as an ndarray, searched for the bad weight the library does not
    locate."""
    msg, pos = None, None
    bad_map = -1
    if status == _ffi.ERR_WEIGHTS and weight_map is not None and geom is not None:
        flat = weight_map.reshape(-1)
        bad = np.flatnonzero(~((flat >= 0) & (flat < np.inf)))
        bad_map = int(bad[0]) if bad.size else -1
    if bad_map >= 0:
        bad_position = bad_map
        pos = geom.label_index(bad_map)
        msg = ("weight_map %s at %s: every weight must be finite and >= 0"
               % (float(weight_map.reshape(-1)[bad_map]), geom.name_label(pos)))
    elif status == _ffi.ERR_LABEL and targets and geom is not None and bad_position >= 0:
        pos = geom.logit_index(bad_position)
        value = label_at(bad_position) if label_at else "?"
        msg = "target %s at %s is not in [0, 1]" % (value, geom.name_logit(pos))
    elif status == _ffi.ERR_LABEL and geom is not None and bad_position >= 0:
        pos = geom.label_index(bad_position)
        value = label_at(bad_position) if label_at else "?"
        msg = ("label %s at %s is outside [0, %d) and is not ignore_index (%s)"
               % (value, geom.name_label(pos), geom.c, ignore_index))
    elif status == _ffi.ERR_NONFINITE and geom is not None and bad_position >= 0:
        pos = geom.logit_index(bad_position)
        value = logit_at(bad_position) if logit_at else "?"
        msg = "non-finite logit %s at %s (check_finite=True)" % (value, geom.name_logit(pos))
    elif what:
        msg = "%s: %s" % (what, _ffi.status_string(status))
    elif cfg is not None and inp is not None:
        msg = _ffi.error_message(status, cfg, inp, res) or None
    raise _ffi.error(status, msg, bad_position, pos)


# ---- arrays -------------------------------------------------------------------------------------
def _array(x, what):
    """x as an ndarray without a copy: ndarrays, CPU tensors (detached), array-likes."""
    if isinstance(x, np.ndarray):
        return x
    mod = type(x).__module__ or ""
    if mod.startswith("torch"):
        if x.device.type != "cpu":
            raise TypeError("segloss: %s is on device %s; segloss computes on the CPU: pass %s.cpu()"
                            % (what, x.device, what))
        try:
            return x.detach().numpy()
        except (TypeError, RuntimeError) as e:
            raise TypeError("segloss: %s has dtype %s, which NumPy cannot view (%s)" % (what, x.dtype, e)) from None
    return np.asarray(x)


def _logits(logits, layout):
    """(array in memory order, memory layout, n, c, spatial, to_caller) for logits of shape
    (N, C, *spatial) ('nchw') or (N, *spatial, C) ('nhwc'). to_caller maps an array in memory
    order back to the caller's shape. Zero-copy when the memory is NCHW or NHWC, else one copy."""
    if layout not in _LAYOUTS:
        raise ValueError("segloss: layout must be 'nchw' (shape N, C, *spatial) or 'nhwc' (shape N, *spatial, C), "
                         "got %r" % (layout,))
    x = _array(logits, "logits")
    if x.dtype != np.float32:
        raise TypeError("segloss: logits must be float32, got %s; convert with .astype(np.float32)" % x.dtype)
    if x.ndim < 2:
        raise ValueError("segloss: logits must have shape (N, C, *spatial) ('nchw') or (N, *spatial, C) ('nhwc'), "
                         "got shape %s" % (x.shape,))
    class_last = layout == "nhwc"
    n = x.shape[0]
    c = x.shape[-1] if class_last else x.shape[1]
    spatial = x.shape[1:-1] if class_last else x.shape[2:]
    _check_sizes(n, c, spatial, x.shape)
    # the two memory orders, as views in "class-first" and "class-last" shape
    cf = np.moveaxis(x, -1, 1) if class_last else x          # (N, C, *sp)
    cl = x if class_last else np.moveaxis(x, 1, -1)          # (N, *sp, C)
    if cf.flags.c_contiguous:
        mem, lay = cf, _ffi.NCHW
    elif cl.flags.c_contiguous:
        mem, lay = cl, _ffi.NHWC
    else:
        mem, lay = np.ascontiguousarray(cf), _ffi.NCHW
    if lay == _ffi.NCHW:
        to_caller = (lambda a: np.moveaxis(a, 1, -1)) if class_last else (lambda a: a)
    else:
        to_caller = (lambda a: a) if class_last else (lambda a: np.moveaxis(a, -1, 1))
    return mem, lay, n, c, tuple(spatial), to_caller


def _check_sizes(n, c, spatial, shape):
    # C = 1 under the softmax is the library's SEGLOSS_ERR_PARAM, whose message names the sigmoid
    if n == 0 or c == 0 or 0 in spatial:
        raise ValueError("segloss: empty batch: logits shape %s" % (shape,))


def target_kind(dtype_name, shape, n, c, spatial, class_last, sigmoid, what="labels"):
    """How a target reaches C, from its dtype ('uint8', 'int32', 'int64', 'bool', 'float32', ...)
    and shape: 'labels' (class indices, (N, *spatial) or with a size-1 class axis) or a label
    type TARGET_U8 / TARGET_F32 (per-channel targets of the logits' shape). Raises TypeError /
    ValueError naming the fix."""
    shape = tuple(shape)
    spatial = tuple(spatial)
    full = (n,) + spatial + (c,) if class_last else (n, c) + spatial
    label_shapes = ((n,) + spatial, (n,) + spatial + (1,) if class_last else (n, 1) + spatial)
    if dtype_name in ("uint8", "int32", "int64", "bool") and shape in label_shapes:
        return "labels"
    if dtype_name not in ("uint8", "int32", "int64", "bool") and shape in label_shapes and \
            not (dtype_name == "float32" and shape == full):  # C = 1: (N, 1, *spatial) is both
        raise TypeError("segloss: %s of shape %s are class indices, which must be uint8, int32 or int64, got %s; "
                        "convert with .long() / .astype(np.int64) (float targets are per-channel: the logits' "
                        "shape %s, with activation='sigmoid')" % (what, shape, dtype_name, full))
    if dtype_name in ("float32", "uint8", "bool"):
        if shape != full:
            raise ValueError("segloss: %s of dtype %s have shape %s: %s targets need the logits' shape %s%s"
                             % (what, dtype_name, shape, "float" if dtype_name == "float32" else "per-channel",
                                full, "" if dtype_name == "float32" else
                                " (class indices: shape %s)" % (label_shapes[0],)))
        if not sigmoid:
            if dtype_name == "float32":
                raise ValueError("segloss: float %s of the logits' shape are per-channel (soft) targets, which "
                                 "segloss takes only with activation='sigmoid' (every channel its own binary "
                                 "problem, as F.binary_cross_entropy_with_logits). Under softmax (one class per "
                                 "position) pass class indices instead, e.g. target.argmax(1); soft-label "
                                 "cross entropy under softmax is not supported" % what)
            raise ValueError("segloss: %s of dtype %s and the logits' shape are per-channel masks, which segloss "
                             "takes only with activation='sigmoid'. Under softmax pass class indices of shape "
                             "%s instead (for one-hot masks: target.argmax(1))" % (what, dtype_name, label_shapes[0]))
        return _ffi.TARGET_F32 if dtype_name == "float32" else _ffi.TARGET_U8
    if dtype_name in ("int32", "int64") and shape == full:
        raise TypeError("segloss: %s of dtype %s and the logits' shape: per-channel masks must be uint8 or bool "
                        "(0/1) or float32 (in [0, 1]); convert with .to(torch.uint8) / .astype(np.uint8)"
                        % (what, dtype_name))
    if dtype_name in ("uint8", "int32", "int64", "bool"):
        raise ValueError("segloss: %s have shape %s; logits of that shape need class indices of shape %s (or %s)%s"
                         % (what, shape, label_shapes[0], label_shapes[1],
                            ", or with activation='sigmoid' per-channel targets of shape %s" % (full,)
                            if sigmoid else ""))
    raise TypeError("segloss: %s must be class indices (uint8, int32 or int64; convert with .long() / "
                    ".astype(np.int64)), or with activation='sigmoid' per-channel targets of the logits' shape "
                    "(float32, uint8 or bool), got %s" % (what, dtype_name))


def _targets(labels, n, c, spatial, class_last, layout, sigmoid):
    """Labels or per-channel targets for C: (array in C's order, label type). Targets are put in
    the logits' memory order (a copy when they are not in it); bool is viewed as uint8."""
    y = _array(labels, "labels")
    kind = target_kind(y.dtype.name, y.shape, n, c, spatial, class_last, sigmoid)
    if y.dtype == np.bool_:
        y = y.view(np.uint8)
    if kind == "labels":
        return _labels(y, n, spatial, class_last)
    cf = np.moveaxis(y, -1, 1) if class_last else y
    mem = cf if layout == _ffi.NCHW else np.moveaxis(cf, 1, -1)
    return np.ascontiguousarray(mem), kind


def _weight_map(wm, n, spatial, class_last):
    """weight_map (N, *spatial) (or with a size-1 class axis), float32, C-order (a copy
    otherwise), or None."""
    if wm is None:
        return None
    m = _array(wm, "weight_map")
    if m.dtype != np.float32:
        raise TypeError("segloss: weight_map must be float32, got %s; convert with .float() / .astype(np.float32)"
                        % m.dtype)
    want = (n,) + tuple(spatial)
    one = want + (1,) if class_last else (n, 1) + tuple(spatial)
    if m.shape == one:
        m = m.reshape(want) if m.flags.c_contiguous else np.squeeze(m, -1 if class_last else 1)
    if m.shape != want:
        raise ValueError("segloss: weight_map has shape %s; it holds one weight per position: shape %s"
                         % (m.shape, want))
    return np.ascontiguousarray(m)


def _labels(labels, n, spatial, class_last):
    """Labels (N, *spatial), or (N, 1, *spatial) / (N, *spatial, 1), uint8/int32/int64; C-order
    (a copy otherwise). Returns (array, label type)."""
    y = _array(labels, "labels")
    if y.dtype == np.bool_:
        y = y.view(np.uint8)
    lt = _LABEL_TYPES.get(y.dtype)
    if lt is None:
        raise TypeError("segloss: labels must be uint8, int32 or int64, got %s; convert with .astype(np.int64)"
                        % y.dtype)
    want = (n,) + tuple(spatial)
    if y.shape != want:
        one = (n, 1) + tuple(spatial) if not class_last else want + (1,)
        if y.shape == one:
            y = y.reshape(want) if y.flags.c_contiguous else y.squeeze(1 if not class_last else -1)
        else:
            raise ValueError("segloss: labels have shape %s; logits of that shape need labels of shape %s"
                             % (y.shape, want))
    if not y.flags.c_contiguous:
        y = np.ascontiguousarray(y)
    return y, lt


def _input(mem, lay, n, c, spatial, y, lt):
    inp = _ffi.segloss_input()
    inp.logits = mem.ctypes.data if mem is not None else None
    inp.labels = y.ctypes.data
    inp.label_type = lt
    inp.n, inp.c, inp.s = n, c, math.prod(spatial)
    inp.layout = lay
    return inp


def call_config(cfg, weight_map_ptr):
    """The segloss_config of one call: cfg's own, or with the call's weight map a copy that
    holds it (a Config is shared between calls and threads, and the map is the call's). The
    copy points to cfg's weight arrays, which cfg keeps alive."""
    if not weight_map_ptr:
        return cfg._c
    c = _ffi.segloss_config.from_buffer_copy(cfg._c)
    c.weight_map = weight_map_ptr
    return c


class _Batch:
    """Logits, labels (or targets) and the weight map checked and laid out for one call."""

    def __init__(self, logits, labels, layout="nchw", cfg=None, weight_map=None):
        self.mem, self.layout, self.n, self.c, self.spatial, self.to_caller = _logits(logits, layout)
        self.class_last = layout == "nhwc"
        sigmoid = cfg is not None and cfg.sigmoid
        self.labels, self.label_type = _targets(labels, self.n, self.c, self.spatial, self.class_last, self.layout,
                                                sigmoid)
        self.weight_map = _weight_map(weight_map, self.n, self.spatial, self.class_last)
        self.inp = _input(self.mem, self.layout, self.n, self.c, self.spatial, self.labels, self.label_type)
        self.cfg_c = call_config(cfg, self.weight_map.ctypes.data) if self.weight_map is not None else \
            (cfg._c if cfg is not None else None)
        self.geom = Geometry(self.n, self.c, self.spatial, self.layout, self.class_last)

    def grad_buffer(self, grad):
        """The gradient array in memory order: new (grad True), or the caller's (checked)."""
        if grad is True:
            return np.empty_like(self.mem)
        g = _array(grad, "grad")
        if not g.flags.writeable:
            raise ValueError("segloss: grad is read-only")
        if g.dtype != np.float32:
            raise TypeError("segloss: grad must be float32, got %s" % g.dtype)
        # the caller gives it in the logits' shape; in memory it must be laid out as the logits are
        if self.layout == _ffi.NCHW:
            m = np.moveaxis(g, -1, 1) if self.class_last else g
        else:
            m = g if self.class_last else np.moveaxis(g, 1, -1)
        if m.shape != self.mem.shape or not m.flags.c_contiguous:
            raise ValueError("segloss: grad must have the logits' shape and memory order (%s, %s), got shape %s "
                             "strides %s" % (self.mem.shape, "NCHW" if self.layout == _ffi.NCHW else "NHWC",
                                             g.shape, g.strides))
        return m

    def fail(self, status, result_or_pos, cfg, what=None):
        res = result_or_pos if hasattr(result_or_pos, "bad_position") else None
        bp = res.bad_position if res is not None else result_or_pos
        targets = self.label_type in (_ffi.TARGET_U8, _ffi.TARGET_F32)
        if status == _ffi.ERR_LABEL and bp < 0:  # the two-phase calls do not report the position
            bp = _first_bad_target(self.labels) if targets else _first_bad_label(self.labels, self.c, cfg.ignore_index)
        raise_status(status, bp, self.geom, cfg.ignore_index if cfg is not None else None,
                     lambda i: self.labels.reshape(-1)[i].item(), lambda i: float(self.mem.reshape(-1)[i]), what,
                     self.cfg_c, self.inp, res, targets, self.weight_map)


def _first_bad_target(y):
    flat = y.reshape(-1)
    bad = np.flatnonzero(~((flat >= 0) & (flat <= 1)))
    return int(bad[0]) if bad.size else -1


def _first_bad_label(y, c, ignore):
    flat = y.reshape(-1).astype(np.int64, copy=False)
    bad = np.flatnonzero(((flat < 0) | (flat >= c)) & (flat != ignore))
    return int(bad[0]) if bad.size else -1


# ---- segloss_compute ----------------------------------------------------------------------------
def unreduced_shape(cfg, n, c, spatial):
    """The shape of reduction='none''s terms (segloss_compute_unreduced), or None where they lie
    as the logits do (the sigmoid CE family: one term per element).
      ce, weighted_ce, focal    (N, *spatial) under softmax; the logits' shape under sigmoid
      dice, tversky             (N, |K|) per_sample, else (|K|,); K = the classes (channels)
                                in the mean: all, or 1..C-1 without include_background
      generalized_dice          (N,) per_sample, else (1,)"""
    t = cfg.loss_type
    if t in _CE_FAMILY:
        return None if cfg.sigmoid else (n,) + tuple(spatial)
    if t == "generalized_dice":
        return (n,) if cfg.per_sample else (1,)
    k = c if cfg.include_background else c - 1
    return (n, k) if cfg.per_sample else (k,)


def call_unreduced(cfg, cfg_c, inp, grad_ptr, n, c, spatial, mem_shape):
    """segloss_compute_unreduced under cfg (a Config) as cfg_c (its struct for this call):
    (status, result, terms as a float32 array of unreduced_shape, or in mem_shape (the logits'
    memory order) for per-element terms)."""
    if _ffi.compute_unreduced is None:
        raise _ffi.missing("segloss_compute_unreduced")
    shape = unreduced_shape(cfg, n, c, spatial) or tuple(mem_shape)
    want = math.prod(shape)
    res = _ffi.segloss_result()
    have = _ffi.lib.segloss_unreduced_len(ctypes.byref(cfg_c), ctypes.byref(inp))
    if have > 0 and have != want:
        raise RuntimeError("segloss: the library has %d unreduced terms for this call, the binding expects shape %s: "
                           "python/segloss does not match segloss.h" % (have, shape))
    terms = np.empty(shape, dtype=np.float32)
    st = _ffi.compute_unreduced(ctypes.byref(cfg_c), ctypes.byref(inp), grad_ptr, terms.ctypes.data,
                                ctypes.byref(res))
    return st, res, terms


def compute(logits, labels, config=None, *, grad=True, layout="nchw", weight_map=None, **kwargs):
    """Loss and dL/dlogits in one call (segloss_compute). Returns (loss, grad).

    logits: float32, shape (N, C, *spatial) (layout 'nchw', the default) or (N, *spatial, C)
      (layout 'nhwc'). Read in place when its memory is NCHW- or NHWC-contiguous (e.g. a
      transposed view of the other order), copied once otherwise.
    labels: class indices, uint8, int32 or int64 (bool as uint8), shape (N, *spatial) (or with
      a size-1 class axis); or, with activation='sigmoid', per-channel targets of the logits'
      shape: float32 in [0, 1] or uint8/bool 0/1 masks (put in the logits' memory order).
    weight_map: float32 (N, *spatial), one weight >= 0 per position, or None.
    config: a segloss.Config, a dict, configuration text, or the guide's keywords directly:
      compute(x, y, loss_type='focal', focal_gamma=2.0, use_class_weighting=True).
    grad: True (a new array, the logits' shape and memory order), False (loss only; grad is
      None), or a float32 array to write into (the logits' shape and memory order; the logits
      array itself computes in place).
    loss: a segloss.Loss, a float with .ce_term, .dice_term and .valid. With reduction='none'
      an ndarray of the unreduced terms instead (segloss.unreduced_shape), and grad the
      gradient of their sum.
    Errors: TypeError/ValueError for inputs segloss does not take; segloss.Error for what the
    library rejects (a bad label, with its position; non-finite logits with check_finite).
    One thread: the call runs on the calling thread (the GIL is released during it).
    """
    cfg = as_config(config, **kwargs)
    b = _Batch(logits, labels, layout, cfg, weight_map)
    cfg.check_classes(b.c)
    g = b.grad_buffer(grad) if grad is not False and grad is not None else None
    gp = g.ctypes.data if g is not None else None
    if cfg.reduction == "none":
        st, res, terms = call_unreduced(cfg, b.cfg_c, b.inp, gp, b.n, b.c, b.spatial, b.mem.shape)
        if st != _ffi.OK:
            b.fail(st, res, cfg)
        if cfg.loss_type in _CE_FAMILY and cfg.sigmoid:
            terms = b.to_caller(terms)
        return terms, (b.to_caller(g) if g is not None else None)
    res = _ffi.segloss_result()
    st = _ffi.compute(ctypes.byref(b.cfg_c), ctypes.byref(b.inp), gp, ctypes.byref(res))
    if st != _ffi.OK:
        b.fail(st, res, cfg)
    return Loss.from_result(res), (b.to_caller(g) if g is not None else None)


# ---- the two-phase API --------------------------------------------------------------------------
def stats_len(n, c, config=None, **kwargs):
    """Doubles of statistics a batch of n samples and c classes needs (segloss_stats_len)."""
    cfg = as_config(config, **kwargs)
    v = _ffi.lib.segloss_stats_len(cfg._ref, int(n), int(c))
    if v <= 0:
        raise ValueError("segloss: no statistics for n=%r, c=%r" % (n, c))
    return int(v)


class Stats:
    """The statistics of a whole batch (segloss_stats) for the two-phase API.

        st = segloss.Stats(N, C, loss_type='dice')     # zeroed; st.sum is a float64 array
        segloss.accumulate(st, logits_k, labels_k, first_sample=k0)     # every slice
        # add st.sum element-wise across processes, e.g. with torch.distributed:
        #   t = torch.from_numpy(st.sum); dist.all_reduce(t)   (same memory: no copy back)
        loss = segloss.finish(st)
        grad_k = segloss.backward(st, logits_k, labels_k, first_sample=k0)

    Slices are whole samples (first_sample is the slice's first sample in the batch). The
    configuration is fixed at construction and used by every phase.
    """

    def __init__(self, n, c, config=None, **kwargs):
        self.config = as_config(config, **kwargs)
        if self.config.reduction == "none":
            raise ValueError("segloss: the two-phase API reduces: reduction='none' is segloss.compute's")
        if int(c) < (1 if self.config.sigmoid else 2):
            raise ValueError("segloss: C = %r: give 2 or more classes (one channel needs activation='sigmoid')"
                             % (c,))
        self.config.check_classes(int(c))
        self.n, self.c = int(n), int(c)
        self.sum = np.zeros(stats_len(self.n, self.c, self.config), dtype=np.float64)

    def _c(self):
        if self.sum.dtype != np.float64 or not self.sum.flags.c_contiguous or self.sum.size != stats_len(
                self.n, self.c, self.config):
            raise ValueError("segloss: Stats.sum must stay a contiguous float64 array of %d values"
                             % stats_len(self.n, self.c, self.config))
        return _ffi.segloss_stats(self.n, self.c, self.sum.ctypes.data_as(_ffi.c_double_p))

    def zero(self):
        self.sum[...] = 0.0


def _slice(stats, logits, labels, first_sample, layout, weight_map):
    b = _Batch(logits, labels, layout, stats.config, weight_map)
    if b.c != stats.c:
        raise ValueError("segloss: the slice has C = %d classes, the statistics %d" % (b.c, stats.c))
    if not 0 <= int(first_sample) <= stats.n - b.n:
        raise ValueError("segloss: a slice of %d samples from sample %r does not fit a batch of %d"
                         % (b.n, first_sample, stats.n))
    return b


def accumulate(stats, logits, labels, first_sample=0, *, layout="nchw", weight_map=None):
    """Add one slice's statistics into stats.sum (segloss_accumulate); whole samples from
    first_sample; labels and weight_map as in compute. Nothing is added if the slice is rejected."""
    b = _slice(stats, logits, labels, first_sample, layout, weight_map)
    st = _ffi.lib.segloss_accumulate(ctypes.byref(b.cfg_c), ctypes.byref(b.inp), int(first_sample),
                                     ctypes.byref(stats._c()))
    if st != _ffi.OK:
        b.fail(st, -1, stats.config)


def finish(stats):
    """The loss of the whole batch from its (summed) statistics (segloss_finish)."""
    res = _ffi.segloss_result()
    st = _ffi.lib.segloss_finish(stats.config._ref, ctypes.byref(stats._c()), ctypes.byref(res))
    if st != _ffi.OK:
        raise_status(st, -1, None, what="segloss_finish")
    return Loss.from_result(res)


def backward(stats, logits, labels, first_sample=0, *, grad=True, layout="nchw", weight_map=None):
    """dL/dlogits of one slice from the whole batch's statistics (segloss_backward). grad: True
    (a new array) or an array to write into, as in compute. Returns the gradient."""
    b = _slice(stats, logits, labels, first_sample, layout, weight_map)
    g = b.grad_buffer(grad)
    st = _ffi.lib.segloss_backward(ctypes.byref(b.cfg_c), ctypes.byref(b.inp), int(first_sample),
                                   ctypes.byref(stats._c()), g.ctypes.data)
    if st != _ffi.OK:
        b.fail(st, -1, stats.config)
    return b.to_caller(g)


# ---- class weights ------------------------------------------------------------------------------
def _labels_only(labels, num_classes):
    y = _array(labels, "labels")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError("segloss: num_classes must be an integer >= 2, got %r" % (num_classes,))
    if y.ndim < 1 or y.size == 0:
        raise ValueError("segloss: labels must be a non-empty array (N, *spatial), got shape %s" % (y.shape,))
    lab, lt = _labels(y, y.shape[0], y.shape[1:], False)
    inp = _ffi.segloss_input()
    inp.logits = None
    inp.labels = lab.ctypes.data
    inp.label_type = lt
    inp.n, inp.c, inp.s = lab.shape[0], int(num_classes), max(1, math.prod(lab.shape[1:]))
    inp.layout = _ffi.NCHW
    geom = Geometry(inp.n, inp.c, lab.shape[1:], _ffi.NCHW)
    return lab, inp, geom


def label_histogram(labels, num_classes, ignore_index=-100, out=None):
    """Per-class label counts over positions whose label is not ignore_index
    (segloss_label_histogram). out: an int64 array of num_classes to add into (accumulate over a
    dataset); a new one otherwise. Returns the counts."""
    lab, inp, geom = _labels_only(labels, num_classes)
    counts = _int64_out(out, (inp.c,), "out")
    st = _ffi.lib.segloss_label_histogram(ctypes.byref(inp), int(ignore_index), counts.ctypes.data)
    if st != _ffi.OK:
        raise_status(st, _first_bad_label(lab, inp.c, int(ignore_index)), geom, int(ignore_index),
                     lambda i: int(lab.reshape(-1)[i]))
    return counts


def _int64_out(out, shape, what):
    if out is None:
        return np.zeros(shape, dtype=np.int64)
    if not isinstance(out, np.ndarray) or out.dtype != np.int64 or out.shape != shape or not out.flags.c_contiguous \
            or not out.flags.writeable:
        raise ValueError("segloss: %s must be a writeable C-contiguous int64 array of shape %s" % (what, shape))
    return out


def class_weights(counts, method="inverse"):
    """Class weights from label counts (segloss_class_weights); a class with count 0 gets 0.
    method: 'inverse' |V|/n_c (the default), 'median' median-frequency (Eigen & Fergus),
    'inv_sqrt' sqrt(|V|/n_c), 'effective' effective number of samples (Cui et al., b = 0.9999).
    Returns float32 weights, to pass as class_weights."""
    if method not in _ffi.WEIGHTINGS:
        raise ValueError("segloss: method must be one of %s, got %r" % (", ".join(_ffi.WEIGHTINGS), method))
    cnt = np.ascontiguousarray(_array(counts, "counts"), dtype=np.int64)
    if cnt.ndim != 1 or cnt.size == 0:
        raise ValueError("segloss: counts must be a 1-D array of C counts, got shape %s" % (cnt.shape,))
    w = np.empty(cnt.size, dtype=np.float32)
    st = _ffi.lib.segloss_class_weights(_ffi.WEIGHTINGS.index(method), cnt.ctypes.data, cnt.size, w.ctypes.data)
    if st != _ffi.OK:
        raise_status(st, -1, None, what="segloss_class_weights (counts must be >= 0)")
    return w


def weights_for(labels, num_classes, config=None, **kwargs):
    """The class weights segloss_compute would use for these labels and this configuration
    (segloss_weights_for): class_weights when given, the automatic |V|/n_c with
    use_class_weighting, else all 1 (always all 1 for dice and tversky)."""
    cfg = as_config(config, **kwargs)
    lab, inp, geom = _labels_only(labels, num_classes)
    cfg.check_classes(inp.c)
    w = np.empty(inp.c, dtype=np.float32)
    st = _ffi.lib.segloss_weights_for(cfg._ref, ctypes.byref(inp), w.ctypes.data)
    if st != _ffi.OK:
        raise_status(st, _first_bad_label(lab, inp.c, cfg.ignore_index), geom, cfg.ignore_index,
                     lambda i: int(lab.reshape(-1)[i]))
    return w


# ---- confusion, metrics -------------------------------------------------------------------------
def confusion(logits, labels, ignore_index=-100, out=None, *, layout="nchw"):
    """Confusion counts C x C over positions whose label is not ignore_index, prediction = argmax
    of the logits (ties: the lowest class); row = true class, column = predicted
    (segloss_confusion). out: a C x C int64 array to add into (accumulate over batches)."""
    b = _Batch(logits, labels, layout)
    conf = _int64_out(out, (b.c, b.c), "out")
    st = _ffi.lib.segloss_confusion(ctypes.byref(b.inp), int(ignore_index), conf.ctypes.data)
    if st != _ffi.OK:
        if st == _ffi.ERR_LABEL:
            raise_status(st, _first_bad_label(b.labels, b.c, int(ignore_index)), b.geom, int(ignore_index),
                         lambda i: int(b.labels.reshape(-1)[i]))
        raise_status(st, -1, None, what="segloss_confusion")
    return conf


_confusion = confusion  # (metrics() has a parameter of that name)


class Metrics:
    """Per-class metrics from a confusion matrix (segloss_metrics). Arrays over the classes:
    recall, precision, iou, dice (NaN where 0/0), tp, fp, fn; mean_iou over the classes whose IoU
    is not NaN; names; table: the per-class table with its balance flags
    (segloss_metrics_format). str(metrics) is the table."""

    def __init__(self, conf, names=None):
        conf = np.ascontiguousarray(_array(conf, "confusion"), dtype=np.int64)
        if conf.ndim != 2 or conf.shape[0] != conf.shape[1] or conf.shape[0] < 1:
            raise ValueError("segloss: confusion must be a square C x C array, got shape %s" % (conf.shape,))
        c = conf.shape[0]
        if names is not None:
            names = [str(s) for s in names]
            if len(names) != c:
                raise ValueError("segloss: %d names for %d classes" % (len(names), c))
        self.confusion = conf
        self.names = names
        self._m = (_ffi.segloss_class_metrics * c)()
        self.mean_iou = _ffi.lib.segloss_metrics(conf.ctypes.data, c, self._m)
        for f in ("recall", "precision", "iou", "dice"):
            setattr(self, f, np.array([getattr(m, f) for m in self._m], dtype=np.float64))
        for f in ("tp", "fp", "fn"):
            setattr(self, f, np.array([getattr(m, f) for m in self._m], dtype=np.int64))

    @property
    def table(self):
        c = len(self._m)
        names = None
        if self.names is not None:
            enc = [s.encode() for s in self.names]
            names = (ctypes.c_char_p * c)(*enc)
        need = _ffi.lib.segloss_metrics_format(self._m, c, names, None, 0)
        buf = ctypes.create_string_buffer(need + 1)
        _ffi.lib.segloss_metrics_format(self._m, c, names, buf, len(buf))
        return buf.value.decode()

    def __str__(self):
        return self.table.rstrip("\n")

    def __repr__(self):
        return "Metrics(mean_iou=%.4f, iou=%s)" % (self.mean_iou, np.array2string(self.iou, precision=4))


def metrics(confusion=None, names=None, *, logits=None, labels=None, ignore_index=-100, layout="nchw"):
    """Per-class recall, precision, IoU and Dice, mean IoU and the flagged table
    (segloss_metrics, segloss_metrics_format): from a confusion matrix (segloss.confusion), or
    from logits= and labels= directly. names: one per class ("class k" when None)."""
    if confusion is None:
        if logits is None or labels is None:
            raise TypeError("segloss: metrics needs a confusion matrix, or logits= and labels=")
        confusion = _confusion(logits, labels, ignore_index, layout=layout)
    return Metrics(confusion, names)


# ---- the advisor --------------------------------------------------------------------------------
class Advice:
    """segloss_advise's suggestion: config (a segloss.Config), reason (one line), and
    kwargs (config's keywords, to paste into SegLoss(**advice.kwargs))."""

    def __init__(self, config, reason):
        self.config, self.reason = config, reason

    @property
    def kwargs(self):
        return self.config.to_kwargs()

    def __repr__(self):
        return "Advice(%r, reason=%r)" % (self.config, self.reason)

    def __str__(self):
        return "%s\n%s" % (self.reason, self.config.format().rstrip("\n"))


def advise(counts=None, metrics=None, current=None, diverged=False):
    """The loss guide's decision tree and troubleshooting (segloss_advise). counts: per-class
    label counts (segloss.label_histogram) or None; metrics: a segloss.Metrics (or None);
    current: the configuration in use (Config, SegLoss, dict or text) or None; diverged: the loss
    went NaN or exploded. Returns a segloss.Advice."""
    c = 0
    cnt = None
    if counts is not None:
        cnt = np.ascontiguousarray(_array(counts, "counts"), dtype=np.int64)
        if cnt.ndim != 1:
            raise ValueError("segloss: counts must be 1-D")
        c = cnt.size
    mptr = None
    if metrics is not None:
        if not isinstance(metrics, Metrics):
            metrics = Metrics(metrics)  # a confusion matrix
        if c and len(metrics._m) != c:
            raise ValueError("segloss: %d counts but metrics of %d classes" % (c, len(metrics._m)))
        c = len(metrics._m)
        mptr = metrics._m
    cur = as_config(current)._ref if current is not None else None
    out = _ffi.segloss_advice()
    _ffi.lib.segloss_advise(cnt.ctypes.data if cnt is not None else None, mptr, c, cur, int(bool(diverged)),
                            ctypes.byref(out))
    return Advice(Config._from_c(out.config), out.reason.decode())


# ---- text, SIMD paths ---------------------------------------------------------------------------
def parse_config(text, class_weights=None):
    """Config.parse: a configuration from the guide's text (segloss_config_parse)."""
    return Config.parse(text, class_weights)


def format_config(config=None, weights=None, **kwargs):
    """The "Loss Configuration:" block (segloss_config_format) of a configuration or keywords;
    weights: class weights to show (default: class_weights when given)."""
    return as_config(config, **kwargs).format(weights)


def active_isa():
    """The SIMD path calls take now: 'avx512', 'avx2', 'sse2', 'neon' or 'scalar'."""
    return _ffi.lib.segloss_active_isa().decode()


def isa_names():
    """The SIMD paths compiled in, best first (some may not run on this CPU)."""
    return [_ffi.lib.segloss_isa_name(i).decode() for i in range(_ffi.lib.segloss_isa_count())]


def isa_supported(name):
    """Whether a path is compiled in and runnable on this CPU."""
    return bool(_ffi.lib.segloss_isa_supported(str(name).encode()))


def set_isa(name=None):
    """Force a SIMD path for every thread (None or 'auto': the best this CPU runs)."""
    st = _ffi.lib.segloss_set_isa(None if name is None else str(name).encode())
    if st != _ffi.OK:
        raise_status(st, -1, None, what="set_isa(%r); compiled in: %s" % (name, ", ".join(isa_names())))


# ---- threads ------------------------------------------------------------------------------------
# None: segloss.torch follows torch.get_num_threads() at every call; an int: set_threads was called.
_threads_explicit = None


def set_threads(k=None):
    """Threads of the C library's pool for every call (segloss_set_threads): k >= 1 threads, the
    calling one included; 0 = $SEGLOSS_THREADS (default 1). Results are the same bits for any
    count. None: back to the default, under which segloss.torch follows torch.get_num_threads()
    at each call and NumPy calls keep the library's setting."""
    global _threads_explicit
    if k is None:
        _threads_explicit = None
        return
    k = int(k)
    if k < 0:
        raise ValueError("segloss: set_threads(%d): give a count >= 1, or 0 for $SEGLOSS_THREADS" % k)
    _threads_explicit = k
    _ffi.lib.segloss_set_threads(k)


def get_threads():
    """The thread count calls use now (segloss_get_threads)."""
    return int(_ffi.lib.segloss_get_threads())
