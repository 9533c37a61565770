"""The C library through ctypes: loading, the struct declarations, the layout check, errors.

Everything here mirrors section 2-6 of segloss.h. The structs are declared by hand, so at import
every declared field's offset and every struct's size is compared with what the library reports
(segloss_abi_offset); a library built from a segloss.h with another layout is refused with an
ImportError naming the fields, instead of being handed misplaced values.
"""
import ctypes
import os

# The binding was written against this version of segloss.h (SEGLOSS_VERSION_NUMBER
# = major*10000 + minor*100 + patch). A library with another major or minor version is refused.
BINDING_VERSION = (0, 1, 0)

LIBRARY_ENV = "SEGLOSS_LIBRARY"
LIBRARY_NAME = "_segloss.so"

c_int64_p = ctypes.POINTER(ctypes.c_int64)
c_float_p = ctypes.POINTER(ctypes.c_float)
c_double_p = ctypes.POINTER(ctypes.c_double)


# ---- the structs (section 2, 4, 5 of segloss.h) ----------------------------------------------
# C enums are int-sized (every enum has a 0x7FFFFFFF member, and the ABI check confirms sizes).
class segloss_config(ctypes.Structure):
    _fields_ = [
        ("loss_type", ctypes.c_int),
        ("focal_gamma", ctypes.c_float),
        ("focal_weight", ctypes.c_float),
        ("dice_weight", ctypes.c_float),
        ("dice_smooth", ctypes.c_float),
        ("tversky_alpha", ctypes.c_float),
        ("tversky_beta", ctypes.c_float),
        ("use_class_weighting", ctypes.c_int),
        ("class_weights", c_float_p),
        ("ignore_index", ctypes.c_int64),
        ("include_background", ctypes.c_int),
        ("per_sample", ctypes.c_int),
        ("reduction", ctypes.c_int),
        ("check_finite", ctypes.c_int),
        ("activation", ctypes.c_int),
        ("label_smoothing", ctypes.c_float),
        ("pos_weight", c_float_p),
        ("focal_alpha", ctypes.c_float),
        ("weight_map", ctypes.c_void_p),
    ]


class segloss_input(ctypes.Structure):
    _fields_ = [
        ("logits", ctypes.c_void_p),
        ("labels", ctypes.c_void_p),
        ("label_type", ctypes.c_int),
        ("n", ctypes.c_int64),
        ("c", ctypes.c_int64),
        ("s", ctypes.c_int64),
        ("layout", ctypes.c_int),
    ]


class segloss_result(ctypes.Structure):
    _fields_ = [
        ("loss", ctypes.c_double),
        ("ce_term", ctypes.c_double),
        ("dice_term", ctypes.c_double),
        ("valid", ctypes.c_int64),
        ("bad_position", ctypes.c_int64),
    ]


class segloss_stats(ctypes.Structure):
    _fields_ = [
        ("n", ctypes.c_int64),
        ("c", ctypes.c_int64),
        ("sum", c_double_p),
    ]


class segloss_class_metrics(ctypes.Structure):
    _fields_ = [
        ("recall", ctypes.c_double),
        ("precision", ctypes.c_double),
        ("iou", ctypes.c_double),
        ("dice", ctypes.c_double),
        ("tp", ctypes.c_int64),
        ("fp", ctypes.c_int64),
        ("fn", ctypes.c_int64),
    ]


class segloss_advice(ctypes.Structure):
    _fields_ = [
        ("config", segloss_config),
        ("reason", ctypes.c_char * 160),
    ]


STRUCTS = (segloss_config, segloss_input, segloss_result, segloss_stats, segloss_class_metrics, segloss_advice)

# ---- enums --------------------------------------------------------------------------------------
LOSS_NAMES = ("ce", "weighted_ce", "focal", "dice", "focal_dice", "tversky",
              "generalized_dice")  # segloss_loss_type order
LABEL_U8, LABEL_I32, LABEL_I64, TARGET_U8, TARGET_F32 = 0, 1, 2, 3, 4
ACTIVATIONS = ("softmax", "sigmoid")  # segloss_activation order
SOFTMAX, SIGMOID = 0, 1
FOCAL_ALPHA_DEFAULT = ctypes.c_float(0.25).value  # segloss_config_init's
NCHW, NHWC = 0, 1
MEAN, SUM = 0, 1
WEIGHTINGS = ("inverse", "median", "inv_sqrt", "effective")  # segloss_weighting order

STATUS_NAMES = (
    "SEGLOSS_OK", "SEGLOSS_ERR_NULL", "SEGLOSS_ERR_SHAPE", "SEGLOSS_ERR_ENUM", "SEGLOSS_ERR_PARAM",
    "SEGLOSS_ERR_WEIGHTS", "SEGLOSS_ERR_LABEL", "SEGLOSS_ERR_NONFINITE", "SEGLOSS_ERR_ALIAS",
    "SEGLOSS_ERR_STATS", "SEGLOSS_ERR_NOMEM", "SEGLOSS_ERR_ISA", "SEGLOSS_ERR_PARSE", "SEGLOSS_ERR_BUILD",
)
OK, ERR_NULL, ERR_SHAPE, ERR_ENUM, ERR_PARAM, ERR_WEIGHTS, ERR_LABEL, ERR_NONFINITE, ERR_ALIAS, \
    ERR_STATS, ERR_NOMEM, ERR_ISA, ERR_PARSE, ERR_BUILD = range(len(STATUS_NAMES))


def library_path():
    """The shared library this package loads: $SEGLOSS_LIBRARY, else _segloss.so beside it."""
    return os.environ.get(LIBRARY_ENV) or os.path.join(os.path.dirname(os.path.abspath(__file__)), LIBRARY_NAME)


def declared_layout(structs=STRUCTS):
    """{(type, field): offset} for every declared field and {(type, None): size} per struct."""
    out = {}
    for st in structs:
        name = st.__name__
        out[(name, None)] = ctypes.sizeof(st)
        for field, _ in st._fields_:
            out[(name, field)] = getattr(st, field).offset
    return out


def abi_mismatches(abi_offset, layout):
    """The (type, field, declared, library) tuples where layout disagrees with abi_offset."""
    bad = []
    for (tname, field), ours in layout.items():
        theirs = abi_offset(tname.encode(), field.encode() if field is not None else None)
        if theirs != ours:
            bad.append((tname, field, ours, theirs))
    return bad


def check_abi(abi_offset, path="the library", structs=STRUCTS):
    """Raise ImportError naming every field whose offset (or struct whose size) differs."""
    bad = abi_mismatches(abi_offset, declared_layout(structs))
    if bad:
        what = ", ".join(
            "%s%s (binding %d, library %s)"
            % (t, "." + f if f else " size", ours, "unknown" if theirs == -1 else theirs)
            for t, f, ours, theirs in bad
        )
        raise ImportError(
            "segloss: %s was built from a segloss.h whose struct layout differs from this binding's: %s. "
            "Rebuild it from the segloss.h of this package (make python) or update python/segloss/_ffi.py."
            % (path, what)
        )


def check_version(number, path="the library"):
    major, minor = number // 10000, number // 100 % 100
    if (major, minor) != BINDING_VERSION[:2]:
        raise ImportError(
            "segloss: %s is version %d.%d.%d, this binding needs %d.%d.x: rebuild it (make python)"
            % (path, major, minor, number % 100, BINDING_VERSION[0], BINDING_VERSION[1])
        )


def _load():
    path = library_path()
    if not os.path.exists(path):
        raise ImportError(
            "segloss: the shared library %s is not there. In the repository run `make python` "
            "(it builds python/segloss/_segloss.so from segloss.h), or `make install-python`; "
            "or point %s at a library built from segloss.h." % (path, LIBRARY_ENV)
        )
    lib = ctypes.CDLL(path)  # CDLL releases the GIL around every call
    # First the version and the layout, before any other symbol is touched.
    lib.segloss_version.argtypes = []
    lib.segloss_version.restype = ctypes.c_int
    check_version(lib.segloss_version(), path)
    lib.segloss_abi_offset.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.segloss_abi_offset.restype = ctypes.c_int64
    check_abi(lib.segloss_abi_offset, path)
    return lib, path


lib, path = _load()

P = ctypes.POINTER
_SIGNATURES = {
    "segloss_config_init": (None, [P(segloss_config), ctypes.c_int]),
    "segloss_status_string": (ctypes.c_char_p, [ctypes.c_int]),
    "segloss_loss_name": (ctypes.c_char_p, [ctypes.c_int]),
    "segloss_compute": (ctypes.c_int, [P(segloss_config), P(segloss_input), ctypes.c_void_p, P(segloss_result)]),
    "segloss_error_message": (ctypes.c_char_p, [ctypes.c_int, P(segloss_config), P(segloss_input),
                                                P(segloss_result), ctypes.c_char_p, ctypes.c_size_t]),
    "segloss_stats_len": (ctypes.c_int64, [P(segloss_config), ctypes.c_int64, ctypes.c_int64]),
    "segloss_accumulate": (ctypes.c_int, [P(segloss_config), P(segloss_input), ctypes.c_int64, P(segloss_stats)]),
    "segloss_finish": (ctypes.c_int, [P(segloss_config), P(segloss_stats), P(segloss_result)]),
    "segloss_backward": (ctypes.c_int, [P(segloss_config), P(segloss_input), ctypes.c_int64, P(segloss_stats),
                                        ctypes.c_void_p]),
    "segloss_label_histogram": (ctypes.c_int, [P(segloss_input), ctypes.c_int64, ctypes.c_void_p]),
    "segloss_class_weights": (ctypes.c_int, [ctypes.c_int, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p]),
    "segloss_weights_for": (ctypes.c_int, [P(segloss_config), P(segloss_input), ctypes.c_void_p]),
    "segloss_config_parse": (ctypes.c_int, [ctypes.c_char_p, P(segloss_config), ctypes.c_char_p, ctypes.c_size_t]),
    "segloss_config_format": (ctypes.c_int, [P(segloss_config), ctypes.c_void_p, ctypes.c_int64, ctypes.c_char_p,
                                             ctypes.c_size_t]),
    "segloss_confusion": (ctypes.c_int, [P(segloss_input), ctypes.c_int64, ctypes.c_void_p]),
    "segloss_metrics": (ctypes.c_double, [ctypes.c_void_p, ctypes.c_int64, P(segloss_class_metrics)]),
    "segloss_metrics_format": (ctypes.c_int, [P(segloss_class_metrics), ctypes.c_int64, ctypes.c_void_p,
                                              ctypes.c_char_p, ctypes.c_size_t]),
    "segloss_advise": (None, [ctypes.c_void_p, P(segloss_class_metrics), ctypes.c_int64, P(segloss_config),
                              ctypes.c_int, P(segloss_advice)]),
    "segloss_active_isa": (ctypes.c_char_p, []),
    "segloss_set_isa": (ctypes.c_int, [ctypes.c_char_p]),
    "segloss_isa_supported": (ctypes.c_int, [ctypes.c_char_p]),
    "segloss_isa_count": (ctypes.c_int, []),
    "segloss_isa_name": (ctypes.c_char_p, [ctypes.c_int]),
    "segloss_set_threads": (None, [ctypes.c_int]),
    "segloss_get_threads": (ctypes.c_int, []),
}
# reduction='none' only: a library without them still serves every other call, and a call
# that needs them says what is missing (see missing()).
_OPTIONAL = {
    "segloss_unreduced_len": (ctypes.c_int64, [P(segloss_config), P(segloss_input)]),
    "segloss_compute_unreduced": (ctypes.c_int, [P(segloss_config), P(segloss_input), ctypes.c_void_p,
                                                 ctypes.c_void_p, P(segloss_result)]),
}
for _name, (_res, _args) in list(_SIGNATURES.items()) + list(_OPTIONAL.items()):
    _fn = getattr(lib, _name, None)
    if _fn is None and _name in _OPTIONAL:
        continue
    _fn = getattr(lib, _name)
    _fn.restype = _res
    _fn.argtypes = _args
del _name, _res, _args, _fn


def missing(name):
    """NotImplementedError for a symbol this library does not export (an older segloss.h)."""
    return NotImplementedError("segloss: %s does not export %s: rebuild it from this package's segloss.h "
                               "(make python)" % (path, name))

# The call the torch and NumPy paths make: a module attribute, so that tests can wrap it to see
# the pointers that reach C (the no-copy checks).
compute = lib.segloss_compute
compute_unreduced = getattr(lib, "segloss_compute_unreduced", None)


# ---- errors -------------------------------------------------------------------------------------
class Error(ValueError):
    """A status other than SEGLOSS_OK from the C library.

    Attributes: status (int), status_name ('SEGLOSS_ERR_LABEL'), reason (the library's status
    text), bad_position (segloss_result.bad_position: a flat label index n*S+s for a bad label, a
    flat element index of the logits buffer for a non-finite logit, else -1), position (that
    index decoded to the tensor's own indices, e.g. (n, h, w) for a label, (n, c, h, w) for a
    logit; None when there is none). A ValueError: every status but SEGLOSS_ERR_NOMEM reports a
    bad argument; SEGLOSS_ERR_NOMEM raises segloss.Error.OutOfMemory, a MemoryError as well.
    """

    def __init__(self, status, message=None, bad_position=-1, position=None):
        self.status = int(status)
        self.status_name = STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else "status %d" % status
        self.reason = status_string(status)
        self.bad_position = int(bad_position)
        self.position = position
        text = "segloss: %s (%s)" % (self.reason, self.status_name)
        if message:
            text = "segloss: %s (%s)" % (message, self.status_name)
        super().__init__(text)


class _OutOfMemory(Error, MemoryError):
    """SEGLOSS_ERR_NOMEM: the library could not allocate its scratch memory."""


Error.OutOfMemory = _OutOfMemory


def error(status, message=None, bad_position=-1, position=None):
    """The exception for a status: Error, or Error.OutOfMemory for SEGLOSS_ERR_NOMEM."""
    cls = _OutOfMemory if status == ERR_NOMEM else Error
    return cls(status, message, bad_position, position)


def error_message(status, cfg=None, inp=None, res=None):
    """The library's own words for a failed call (segloss_error_message): what is wrong and the
    likely fix. cfg, inp and res are ctypes structs or None."""
    buf = ctypes.create_string_buffer(512)
    ref = (lambda x: ctypes.byref(x) if x is not None else None)
    lib.segloss_error_message(int(status), ref(cfg), ref(inp), ref(res), buf, len(buf))
    return buf.value.decode(errors="replace")


def status_string(status):
    s = lib.segloss_status_string(int(status))
    return s.decode() if s else "unknown status"
