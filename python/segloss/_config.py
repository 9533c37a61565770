"""segloss.Config: the loss guide's keyword arguments <-> struct segloss_config."""
import ctypes
import difflib
import math
import numbers

from . import _ffi

# The keywords, in the order of struct segloss_config (and of the loss guide's snippets).
KEYWORDS = (
    "loss_type", "focal_gamma", "focal_weight", "dice_weight", "dice_smooth", "tversky_alpha",
    "tversky_beta", "use_class_weighting", "class_weights", "ignore_index", "include_background",
    "per_sample", "reduction", "check_finite", "activation", "label_smoothing", "pos_weight", "focal_alpha",
)
# The guide's short names (its "Recommended values" lists); segloss_config_parse accepts them too.
ALIASES = {"gamma": "focal_gamma", "smooth": "dice_smooth", "alpha": "tversky_alpha", "beta": "tversky_beta"}
FLOATS = ("focal_gamma", "focal_weight", "dice_weight", "dice_smooth", "tversky_alpha", "tversky_beta",
          "label_smoothing", "focal_alpha")
BOOLS = ("use_class_weighting", "include_background", "per_sample", "check_finite")
# 'none' is no segloss_reduction: the struct holds SEGLOSS_SUM (whose gradient, scaled per term,
# is the backward of the unreduced terms) and the call is segloss_compute_unreduced.
REDUCTIONS = ("mean", "sum", "none")

# Which parameters each loss reads (the lines of its "Loss Configuration:" block).
_USES = {
    "ce": (), "weighted_ce": (), "focal": ("focal_gamma",),
    "dice": ("dice_smooth",),
    "focal_dice": ("focal_gamma", "focal_weight", "dice_weight", "dice_smooth"),
    "tversky": ("tversky_alpha", "tversky_beta", "dice_smooth"),
    "generalized_dice": ("dice_smooth",),
}
_CE_TERM = ("ce", "weighted_ce", "focal", "focal_dice")
_DICE_TERM = ("dice", "focal_dice", "tversky", "generalized_dice")


def f32(v):
    """v rounded to float32, as the struct stores it."""
    return ctypes.c_float(v).value


def f32_repr(v):
    """The shortest decimal that reads back as the same float32 (0.7, not 0.699999988)."""
    if math.isinf(v) or math.isnan(v):
        return repr(v)
    for digits in range(1, 10):
        s = "%.*g" % (digits, v)
        if f32(float(s)) == v:
            break
    if "e" not in s and "." not in s:
        s += ".0"
    return s


def _unknown(key):
    close = difflib.get_close_matches(key, KEYWORDS + tuple(ALIASES), n=1)
    hint = " (did you mean %r?)" % close[0] if close else ""
    return TypeError("segloss: unknown keyword argument %r%s; the keywords are: %s"
                     % (key, hint, ", ".join(KEYWORDS)))


def _bool(key, v):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, numbers.Integral) and int(v) in (0, 1):
        return int(v)
    raise TypeError("segloss: %s must be True or False (or 1/0), got %r" % (key, v))


def _float(key, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError("segloss: %s must be a number, got %r" % (key, v))
    x = float(v)
    if not (0.0 <= x < math.inf) or math.isinf(f32(x)):
        raise ValueError("segloss: %s must be finite and >= 0 (a float32), got %r" % (key, v))
    return x


def _weights(v, key="class_weights"):
    """class_weights (or pos_weight) as a ctypes float array (C values, finite, >= 0), or None."""
    if v is None:
        return None
    if hasattr(v, "detach") and hasattr(v, "cpu"):  # a torch tensor
        v = v.detach().cpu().tolist()
    elif hasattr(v, "tolist"):  # a NumPy array
        v = v.tolist()
    if isinstance(v, (str, bytes)) or not hasattr(v, "__len__"):
        raise TypeError("segloss: %s must be a sequence of C numbers (list, tuple, array or tensor), "
                        "got %r" % (key, v))
    vals = []
    for w in v:
        if isinstance(w, bool) or not isinstance(w, numbers.Real):
            raise TypeError("segloss: %s must be numbers, got %r" % (key, w))
        x = float(w)
        if not (0.0 <= x < math.inf) or math.isinf(f32(x)):
            raise ValueError("segloss: %s must be finite and >= 0, got %r" % (key, w))
        vals.append(x)
    if len(vals) < 1:
        raise ValueError("segloss: %s is empty; give one weight per class" % key)
    return (ctypes.c_float * len(vals))(*vals)


class Config:
    """A loss configuration: the loss guide's keyword arguments, checked, as a segloss_config.

    Config(loss_type='focal_dice', focal_gamma=2.0, focal_weight=0.5, dice_weight=0.5,
           dice_smooth=1.0, use_class_weighting=True)
    Keywords not given take segloss_config_init's defaults for the loss type (the guide's):
    focal_gamma 2, focal_weight 0.5, dice_weight 0.5, dice_smooth 1, tversky_alpha 0.7,
    tversky_beta 0.3, use_class_weighting True for 'weighted_ce' (else False), class_weights None,
    ignore_index -100, include_background True, per_sample False, reduction 'mean',
    check_finite False, activation 'softmax', label_smoothing 0, pos_weight None,
    focal_alpha 0.25 (torchvision's; None: no alpha balancing). gamma, smooth, alpha and beta
    are accepted for focal_gamma, dice_smooth, tversky_alpha and tversky_beta. An unknown
    keyword or a value of the wrong type raises TypeError, a value out of its domain ValueError.
    reduction='none' gives the unreduced terms (segloss_compute_unreduced).
    """

    __slots__ = ("_c", "_weights", "_pos", "_none", "_ref")

    def __init__(self, **kwargs):
        kw = {}
        for key, v in kwargs.items():
            name = ALIASES.get(key, key)
            if name not in KEYWORDS:
                raise _unknown(key)
            if name in kw:
                raise TypeError("segloss: %s given twice (as %r and %r)"
                                % (name, next(k for k in kwargs if ALIASES.get(k, k) == name and k != key), key))
            kw[name] = v
        loss_type = kw.pop("loss_type", "ce")
        if not isinstance(loss_type, str):
            raise TypeError("segloss: loss_type must be a string, one of %s; got %r" % (", ".join(_ffi.LOSS_NAMES), loss_type))
        if loss_type not in _ffi.LOSS_NAMES:
            close = difflib.get_close_matches(loss_type, _ffi.LOSS_NAMES, n=1)
            raise ValueError("segloss: unknown loss_type %r%s; the losses are: %s"
                             % (loss_type, " (did you mean %r?)" % close[0] if close else "", ", ".join(_ffi.LOSS_NAMES)))
        c = _ffi.segloss_config()
        _ffi.lib.segloss_config_init(ctypes.byref(c), _ffi.LOSS_NAMES.index(loss_type))
        self._weights = None
        self._pos = None
        self._none = False
        for key, v in kw.items():
            if key == "label_smoothing":
                x = _float(key, v)
                if x > 1.0:
                    raise ValueError("segloss: label_smoothing must be in [0, 1], got %r" % (v,))
                c.label_smoothing = x
            elif key == "focal_alpha":
                c.focal_alpha = _alpha(v)
            elif key in FLOATS:
                setattr(c, key, _float(key, v))
            elif key in BOOLS:
                setattr(c, key, _bool(key, v))
            elif key == "ignore_index":
                if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                    raise TypeError("segloss: ignore_index must be an integer, got %r" % (v,))
                if not -2**63 <= int(v) < 2**63:
                    raise ValueError("segloss: ignore_index must fit in int64, got %r" % (v,))
                c.ignore_index = int(v)
            elif key == "reduction":
                if not isinstance(v, str) or v not in REDUCTIONS:
                    raise ValueError("segloss: reduction must be 'mean', 'sum' or 'none', got %r" % (v,))
                self._none = v == "none"
                c.reduction = _ffi.SUM if self._none else REDUCTIONS.index(v)
            elif key == "activation":
                if not isinstance(v, str) or v not in _ffi.ACTIVATIONS:
                    raise ValueError("segloss: activation must be 'softmax' (one class per position) or "
                                     "'sigmoid' (every channel its own binary problem), got %r" % (v,))
                c.activation = _ffi.ACTIVATIONS.index(v)
            elif key == "class_weights":
                self._weights = _weights(v)
            elif key == "pos_weight":
                self._pos = _weights(v, "pos_weight")
        if loss_type == "focal_dice" and c.focal_weight == 0.0 and c.dice_weight == 0.0:
            raise ValueError("segloss: focal_weight and dice_weight must not both be 0")
        if self._none and loss_type == "focal_dice":
            raise ValueError("segloss: focal_dice has no reduction='none': its focal terms (per position) and Dice "
                             "terms (per class) have different shapes; compute loss_type='focal' and "
                             "loss_type='dice' with reduction='none' separately")
        if "focal_alpha" in kw and c.activation != _ffi.SIGMOID and c.focal_alpha >= 0 and \
                c.focal_alpha != _ffi.FOCAL_ALPHA_DEFAULT:
            raise ValueError("segloss: focal_alpha is torchvision's sigmoid_focal_loss alpha: it needs "
                             "activation='sigmoid' (under softmax, alpha-balance the focal loss with class_weights)")
        if self._pos is not None and c.activation != _ffi.SIGMOID:
            raise ValueError("segloss: pos_weight weights the positives of a binary problem per channel: it needs "
                             "activation='sigmoid' (under softmax, weight classes with class_weights)")
        # what the library refuses with a bare SEGLOSS_ERR_PARAM, said with its fix
        focal = loss_type in ("focal", "focal_dice")
        if self._pos is not None and focal:
            raise ValueError("segloss: pos_weight does not apply to the sigmoid focal loss (torchvision's "
                             "sigmoid_focal_loss has none): balance it with focal_alpha or class_weights")
        if c.label_smoothing > 0 and c.activation == _ffi.SIGMOID:
            raise ValueError("segloss: label_smoothing is F.cross_entropy's, for the softmax; under the sigmoid "
                             "smooth the targets instead (t * (1 - eps) + eps / 2, float32 targets)")
        if c.label_smoothing > 0 and focal and c.focal_gamma != 0:
            raise ValueError("segloss: label_smoothing applies to the cross-entropy term; the focal term "
                             "(focal_gamma > 0) refuses it: use loss_type='ce' or focal_gamma=0")
        self._set(c)

    def _set(self, c):
        if self._weights is not None:
            c.class_weights = ctypes.cast(self._weights, _ffi.c_float_p)
        if self._pos is not None:
            c.pos_weight = ctypes.cast(self._pos, _ffi.c_float_p)
        if self._weights is not None and self._pos is not None and len(self._weights) != len(self._pos):
            raise ValueError("segloss: class_weights has %d entries, pos_weight %d: give one per channel in both"
                             % (len(self._weights), len(self._pos)))
        self._c = c
        self._ref = ctypes.byref(c)
        # the library's own check of the whole configuration (segloss_stats_len is 0 if invalid),
        # for as many classes as the weights hold (it may read that many)
        n_weights = len(self._weights) if self._weights is not None else \
            len(self._pos) if self._pos is not None else 2
        if _ffi.lib.segloss_stats_len(self._ref, 1, max(n_weights, 1 if c.activation == _ffi.SIGMOID else 2)) <= 0:
            raise ValueError("segloss: the library rejects this configuration: %s"
                             % _ffi.error_message(_ffi.ERR_PARAM, c))

    @classmethod
    def parse(cls, text, class_weights=None, pos_weight=None):
        """A configuration from text, through segloss_config_parse: the guide's snippets
        verbatim ("loss_type='focal', focal_gamma=2.0, use_class_weighting=True,", comments and
        newlines allowed) or a "Loss Configuration:" block. class_weights and pos_weight cannot
        be text; pass them here. A bad key or value raises segloss.Error (a ValueError) naming it."""
        if isinstance(text, bytes):
            text = text.decode()
        if not isinstance(text, str):
            raise TypeError("segloss: configuration text must be a string, got %r" % (text,))
        if "\0" in text:
            raise ValueError("segloss: configuration text contains a NUL character")
        c = _ffi.segloss_config()
        err = ctypes.create_string_buffer(256)
        st = _ffi.lib.segloss_config_parse(text.encode(), ctypes.byref(c), err, len(err))
        if st != _ffi.OK:
            raise _ffi.Error(st, "configuration text: " + err.value.decode(errors="replace"))
        self = cls.__new__(cls)
        self._weights = _weights(class_weights)
        self._pos = _weights(pos_weight, "pos_weight")
        self._none = False
        self._set(c)
        return self

    @classmethod
    def _from_c(cls, c):
        self = cls.__new__(cls)
        self._weights = None
        self._pos = None
        self._none = False
        c2 = _ffi.segloss_config()
        ctypes.pointer(c2)[0] = c
        c2.class_weights = None
        c2.pos_weight = None
        c2.weight_map = None
        self._set(c2)
        return self

    # ---- reading it back ----
    @property
    def loss_type(self):
        return _ffi.LOSS_NAMES[self._c.loss_type]

    @property
    def class_weights(self):
        return None if self._weights is None else tuple(self._weights)

    @property
    def pos_weight(self):
        return None if self._pos is None else tuple(self._pos)

    @property
    def sigmoid(self):
        return self._c.activation == _ffi.SIGMOID

    def __getattr__(self, name):  # focal_gamma, ..., the guide's keywords
        name = ALIASES.get(name, name)
        if name == "focal_alpha":
            return None if self._c.focal_alpha < 0 else self._c.focal_alpha
        if name == "activation":
            return _ffi.ACTIVATIONS[self._c.activation]
        if name in FLOATS:
            return getattr(self._c, name)
        if name in BOOLS:
            return bool(getattr(self._c, name))
        if name == "ignore_index":
            return self._c.ignore_index
        if name == "reduction":
            return "none" if self._none else REDUCTIONS[self._c.reduction]
        raise AttributeError(name)

    def to_kwargs(self, full=False):
        """The keywords that rebuild this configuration: Config(**cfg.to_kwargs()). Only the ones
        the loss reads and those that differ from the defaults, unless full."""
        out = {"loss_type": self.loss_type}
        defaults = _ffi.segloss_config()
        _ffi.lib.segloss_config_init(ctypes.byref(defaults), self._c.loss_type)
        t = self.loss_type
        uses = _USES[t] + (("focal_alpha",) if t == "focal" and self.sigmoid else ())
        for key in KEYWORDS[1:]:
            if key in ("class_weights", "pos_weight"):
                w = getattr(self, key)
                if w is not None or full:
                    out[key] = None if w is None else list(w)
                continue
            v = getattr(self, key)
            d = getattr(defaults, key)
            if key in BOOLS:
                d = bool(d)
            elif key == "reduction":
                d = REDUCTIONS[d]
            elif key == "activation":
                d = _ffi.ACTIVATIONS[d]
            elif key == "focal_alpha" and d < 0:
                d = None
            # shown: what differs from the default, the parameters the loss reads, and
            # use_class_weighting=True for a loss with a CE term (the guide writes it)
            shown = v != d or (key in FLOATS and key in uses) or \
                (key == "use_class_weighting" and v and t in _CE_TERM)
            if full or shown:
                out[key] = v
        return out

    def __repr__(self):
        def show(k, v):
            return f32_repr(v) if k in FLOATS and v is not None else "[%s]" % ", ".join(f32_repr(w) for w in v) \
                if k in ("class_weights", "pos_weight") and v is not None else repr(v)
        return "Config(%s)" % ", ".join("%s=%s" % (k, show(k, v)) for k, v in self.to_kwargs().items())

    def __eq__(self, other):
        return isinstance(other, Config) and self.to_kwargs(True) == other.to_kwargs(True)

    __hash__ = None

    def __reduce__(self):  # pickle / copy.deepcopy (the struct holds a pointer)
        return (_rebuild, (self.to_kwargs(True),))

    def format(self, weights=None):
        """The "Loss Configuration:" block (segloss_config_format). weights: the class weights to
        show (e.g. segloss.weights_for(...)); default: class_weights when given. Losses without a
        cross-entropy term (dice, tversky) show none."""
        if weights is None:
            weights = self._weights
        else:
            weights = _weights(weights)
        n = len(weights) if weights is not None else 0
        buf = ctypes.create_string_buffer(512 + 16 * n)
        need = _ffi.lib.segloss_config_format(self._ref, weights, n, buf, len(buf))
        if need < 0:
            raise ValueError("segloss: segloss_config_format refused this configuration")
        if need >= len(buf):
            buf = ctypes.create_string_buffer(need + 1)
            _ffi.lib.segloss_config_format(self._ref, weights, n, buf, len(buf))
        return buf.value.decode()

    def __str__(self):
        # printing a module must not raise: a library whose segloss_config_format does not know
        # this configuration (it refuses it) still shows the keywords
        try:
            return self.format().rstrip("\n")
        except ValueError:
            return repr(self)

    def check_classes(self, c):
        """ValueError unless class_weights and pos_weight (if any) have c entries."""
        if self._weights is not None and len(self._weights) != c and self.loss_type in _CE_TERM:
            raise ValueError("segloss: class_weights has %d entries but the logits have C = %d %s"
                             % (len(self._weights), c, "channels" if self.sigmoid else "classes"))
        if self._pos is not None and len(self._pos) != c:
            raise ValueError("segloss: pos_weight has %d entries but the logits have C = %d channels"
                             % (len(self._pos), c))


def _alpha(v):
    """focal_alpha: a number in [0, 1], or None / a negative number for no alpha balancing."""
    if v is None:
        return -1.0
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError("segloss: focal_alpha must be a number in [0, 1] or None, got %r" % (v,))
    x = float(v)
    if x < 0:
        return -1.0
    if not x <= 1.0:
        raise ValueError("segloss: focal_alpha must be in [0, 1] (None or < 0: no alpha balancing), got %r" % (v,))
    return x


def _rebuild(kwargs):
    return Config(**kwargs)


def as_config(config=None, **kwargs):
    """A Config from a Config, a dict of keywords, configuration text, or keywords."""
    if config is None:
        return Config(**kwargs)
    if kwargs:
        raise TypeError("segloss: give either a configuration or keywords, not both")
    if isinstance(config, Config):
        return config
    if isinstance(config, dict):
        return Config(**config)
    if isinstance(config, (str, bytes)):
        return Config.parse(config)
    cfg = getattr(config, "config", None)  # a segloss.torch.SegLoss
    if isinstance(cfg, Config):
        return cfg
    raise TypeError("segloss: expected a segloss.Config, a dict of keywords or configuration text, got %r"
                    % (config,))
