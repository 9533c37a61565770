/* ---- kernels/driver.h: validation, the phases over blocks, segloss_compute, two phases -- */
#ifndef SEGLOSS__DRIVER_H
#define SEGLOSS__DRIVER_H
#include "dispatch.h"
#include "threads.h"
/* ---- names, defaults, messages ---------------------------------------------------------- */

SEGLOSS__API int segloss_version(void) { return SEGLOSS_VERSION_NUMBER; }

#define SEGLOSS__FIELD(T, f) {#T, #f, (int64_t)offsetof(T, f)}
#define SEGLOSS__SIZE(T) {#T, NULL, (int64_t)sizeof(T)}
SEGLOSS__API int64_t segloss_abi_offset(const char *type, const char *field)
{
    static const struct { const char *type, *field; int64_t value; } layout[] = {
        SEGLOSS__SIZE(segloss_config), SEGLOSS__FIELD(segloss_config, loss_type),
        SEGLOSS__FIELD(segloss_config, focal_gamma), SEGLOSS__FIELD(segloss_config, focal_weight),
        SEGLOSS__FIELD(segloss_config, dice_weight), SEGLOSS__FIELD(segloss_config, dice_smooth),
        SEGLOSS__FIELD(segloss_config, tversky_alpha), SEGLOSS__FIELD(segloss_config, tversky_beta),
        SEGLOSS__FIELD(segloss_config, use_class_weighting), SEGLOSS__FIELD(segloss_config, class_weights),
        SEGLOSS__FIELD(segloss_config, ignore_index), SEGLOSS__FIELD(segloss_config, include_background),
        SEGLOSS__FIELD(segloss_config, per_sample), SEGLOSS__FIELD(segloss_config, reduction),
        SEGLOSS__FIELD(segloss_config, check_finite), SEGLOSS__FIELD(segloss_config, activation),
        SEGLOSS__FIELD(segloss_config, label_smoothing), SEGLOSS__FIELD(segloss_config, pos_weight),
        SEGLOSS__FIELD(segloss_config, focal_alpha), SEGLOSS__FIELD(segloss_config, weight_map),
        SEGLOSS__SIZE(segloss_input), SEGLOSS__FIELD(segloss_input, logits), SEGLOSS__FIELD(segloss_input, labels),
        SEGLOSS__FIELD(segloss_input, label_type), SEGLOSS__FIELD(segloss_input, n), SEGLOSS__FIELD(segloss_input, c),
        SEGLOSS__FIELD(segloss_input, s), SEGLOSS__FIELD(segloss_input, layout),
        SEGLOSS__SIZE(segloss_result), SEGLOSS__FIELD(segloss_result, loss), SEGLOSS__FIELD(segloss_result, ce_term),
        SEGLOSS__FIELD(segloss_result, dice_term), SEGLOSS__FIELD(segloss_result, valid),
        SEGLOSS__FIELD(segloss_result, bad_position),
        SEGLOSS__SIZE(segloss_stats), SEGLOSS__FIELD(segloss_stats, n), SEGLOSS__FIELD(segloss_stats, c),
        SEGLOSS__FIELD(segloss_stats, sum),
        SEGLOSS__SIZE(segloss_class_metrics), SEGLOSS__FIELD(segloss_class_metrics, recall),
        SEGLOSS__FIELD(segloss_class_metrics, precision), SEGLOSS__FIELD(segloss_class_metrics, iou),
        SEGLOSS__FIELD(segloss_class_metrics, dice), SEGLOSS__FIELD(segloss_class_metrics, tp),
        SEGLOSS__FIELD(segloss_class_metrics, fp), SEGLOSS__FIELD(segloss_class_metrics, fn),
        SEGLOSS__SIZE(segloss_advice), SEGLOSS__FIELD(segloss_advice, config), SEGLOSS__FIELD(segloss_advice, reason),
    };
    size_t i;
    if (!type) return -1;
    for (i = 0; i < sizeof(layout) / sizeof(layout[0]); i++)
        if (!strcmp(layout[i].type, type) &&
            (field ? layout[i].field && !strcmp(layout[i].field, field) : !layout[i].field))
            return layout[i].value;
    return -1;
}
#undef SEGLOSS__FIELD
#undef SEGLOSS__SIZE

SEGLOSS__API void segloss_config_init(segloss_config *cfg, segloss_loss_type loss_type)
{
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->loss_type = loss_type;
    cfg->focal_gamma = 2.0f;
    cfg->focal_weight = 0.5f;
    cfg->dice_weight = 0.5f;
    cfg->dice_smooth = 1.0f;
    cfg->tversky_alpha = 0.7f;
    cfg->tversky_beta = 0.3f;
    cfg->use_class_weighting = loss_type == SEGLOSS_WEIGHTED_CE;
    cfg->class_weights = NULL;
    cfg->ignore_index = -100;
    cfg->include_background = 1;
    cfg->per_sample = 0;
    cfg->reduction = SEGLOSS_MEAN;
    cfg->check_finite = 0;
    cfg->activation = SEGLOSS_SOFTMAX;
    cfg->label_smoothing = 0.0f;
    cfg->pos_weight = NULL;
    cfg->focal_alpha = 0.25f;
    cfg->weight_map = NULL;
}

SEGLOSS__API const char *segloss_status_string(segloss_status s)
{
    switch (s) {
    case SEGLOSS_OK: return "ok";
    case SEGLOSS_ERR_NULL: return "a required pointer is NULL";
    case SEGLOSS_ERR_SHAPE: return "bad shape: n, c and s must be positive (s = every spatial dimension flattened) and n*c*s floats must fit in memory";
    case SEGLOSS_ERR_ENUM: return "unknown loss type, label type, layout, reduction or activation (use the SEGLOSS_ enumerators)";
    case SEGLOSS_ERR_PARAM: return "bad parameter: gamma, smooth, alpha, beta and the combination weights must be finite and >= 0, and focal_weight and dice_weight not both 0; label_smoothing and focal_alpha in [0, 1]; the softmax needs c >= 2 and class indices (start from segloss_config_init)";
    case SEGLOSS_ERR_WEIGHTS: return "bad weight: class_weights and pos_weight must hold C values, and weight_map n*s values, finite and >= 0";
    case SEGLOSS_ERR_LABEL: return "label out of range (not in [0, C) and not ignore_index): uint8 labels with 255 for 'ignore' need ignore_index = 255 (see result.bad_position, segloss_error_message)";
    case SEGLOSS_ERR_NONFINITE: return "non-finite logit (NaN or infinite, rejected by check_finite = 1; see result.bad_position)";
    case SEGLOSS_ERR_ALIAS: return "grad overlaps logits: pass the same buffer for in-place, or disjoint buffers (or n*c*s is larger than the buffers)";
    case SEGLOSS_ERR_STATS: return "statistics do not match: stats n/c, first_sample or slice out of range (size stats with segloss_stats_len)";
    case SEGLOSS_ERR_NOMEM: return "out of memory";
    case SEGLOSS_ERR_ISA: return "SIMD path unknown, not compiled in, or not supported by this CPU (see segloss_isa_supported)";
    case SEGLOSS_ERR_PARSE: return "configuration text: unknown key or bad value (segloss_config_parse's err names it)";
    case SEGLOSS_ERR_BUILD: return "this build's float arithmetic is not IEEE: compile the file that defines SEGLOSS_IMPLEMENTATION without -ffast-math, -Ofast or -fassociative-math";
    default: break;
    }
    return "unknown status";
}

/* ---- validation: everything is checked before anything is written ------------------------ */

#define SEGLOSS__IS_CE_FAMILY(t) ((t) == SEGLOSS_CE || (t) == SEGLOSS_WEIGHTED_CE || (t) == SEGLOSS_FOCAL)
#define SEGLOSS__HAS_CE_TERM(t) (SEGLOSS__IS_CE_FAMILY(t) || (t) == SEGLOSS_FOCAL_DICE)
#define SEGLOSS__HAS_DICE_TERM(t) \
    ((t) == SEGLOSS_DICE || (t) == SEGLOSS_FOCAL_DICE || (t) == SEGLOSS_TVERSKY || (t) == SEGLOSS_GENERALIZED_DICE)
#define SEGLOSS__HAS_GAMMA(t) ((t) == SEGLOSS_FOCAL || (t) == SEGLOSS_FOCAL_DICE)
#define SEGLOSS__DENSE(lt) ((lt) == SEGLOSS_TARGET_U8 || (lt) == SEGLOSS_TARGET_F32)

SEGLOSS__PRIVATE int segloss__nonneg(float v) { return v >= 0.0f && v <= FLT_MAX; } /* false for NaN */

/* label_smoothing: in [0, 1], and > 0 only for a softmax CE-family term without focusing (where
   nothing would be smoothed, it is refused rather than ignored) */
SEGLOSS__PRIVATE int segloss__bad_smoothing(const segloss_config *cfg)
{
    const float e = cfg->label_smoothing;
    if (!(e >= 0.0f && e <= 1.0f)) return 1;
    return e > 0.0f && (cfg->activation == SEGLOSS_SIGMOID || !SEGLOSS__HAS_CE_TERM(cfg->loss_type) ||
                        (SEGLOSS__HAS_GAMMA(cfg->loss_type) && cfg->focal_gamma != 0.0f));
}
/* focal_alpha, where it applies (the sigmoid focal term): at most 1, not NaN (< 0: none) */
SEGLOSS__PRIVATE int segloss__bad_alpha(const segloss_config *cfg)
{
    return cfg->activation == SEGLOSS_SIGMOID && SEGLOSS__HAS_GAMMA(cfg->loss_type) && !(cfg->focal_alpha <= 1.0f);
}

SEGLOSS__PRIVATE segloss_status segloss__check_config(const segloss_config *cfg)
{
    segloss_loss_type t;
    if (!cfg) return SEGLOSS_ERR_NULL;
    if (!segloss__build_ok()) return SEGLOSS_ERR_BUILD;
    t = cfg->loss_type;
    if ((unsigned)t >= SEGLOSS_LOSS_COUNT || (unsigned)cfg->reduction > SEGLOSS_SUM) return SEGLOSS_ERR_ENUM;
    if ((t == SEGLOSS_FOCAL || t == SEGLOSS_FOCAL_DICE) && !segloss__nonneg(cfg->focal_gamma)) return SEGLOSS_ERR_PARAM;
    if (t == SEGLOSS_FOCAL_DICE &&
        (!segloss__nonneg(cfg->focal_weight) || !segloss__nonneg(cfg->dice_weight) ||
         (cfg->focal_weight == 0.0f && cfg->dice_weight == 0.0f)))
        return SEGLOSS_ERR_PARAM;
    if (SEGLOSS__HAS_DICE_TERM(t) && !segloss__nonneg(cfg->dice_smooth)) return SEGLOSS_ERR_PARAM;
    if (t == SEGLOSS_TVERSKY && (!segloss__nonneg(cfg->tversky_alpha) || !segloss__nonneg(cfg->tversky_beta)))
        return SEGLOSS_ERR_PARAM;
    if ((unsigned)cfg->activation > SEGLOSS_SIGMOID) return SEGLOSS_ERR_ENUM;
    if (segloss__bad_smoothing(cfg) || segloss__bad_alpha(cfg)) return SEGLOSS_ERR_PARAM;
    return SEGLOSS_OK;
}

/* The most bytes one buffer can span: 2^57 on 64-bit machines (x86-64 with 5-level paging has
   57-bit virtual addresses, aarch64 at most 52), else PTRDIFF_MAX, the largest object C allows.
   Logits of more bytes are a wrong shape, whatever the buffers: no such buffer exists. */
#define SEGLOSS__MAX_BYTES ((uint64_t)PTRDIFF_MAX >> 57 ? (uint64_t)1 << 57 : (uint64_t)PTRDIFF_MAX)

/* Bytes of the logits (and of a gradient) of a shape segloss__check_input accepted. */
SEGLOSS__PRIVATE uint64_t segloss__logit_bytes(const segloss_input *in)
{
    return (uint64_t)in->n * (uint64_t)in->c * (uint64_t)in->s * sizeof(float);
}

SEGLOSS__PRIVATE segloss_status segloss__check_input(const segloss_input *in)
{
    if (!in) return SEGLOSS_ERR_NULL;
    if ((unsigned)in->label_type > SEGLOSS_TARGET_F32 || (unsigned)in->layout > SEGLOSS_NHWC) return SEGLOSS_ERR_ENUM;
    if (in->n <= 0 || in->c <= 0 || in->s <= 0 || in->c > INT32_MAX) return SEGLOSS_ERR_SHAPE;
    /* n*s labels (int64 at most) and n*c*s floats within SEGLOSS__MAX_BYTES: no product
       overflows, here or later, and no shape claims more memory than can exist */
    if ((uint64_t)in->n > SEGLOSS__MAX_BYTES / sizeof(int64_t) / (uint64_t)in->s ||
        (uint64_t)(in->n * in->s) > SEGLOSS__MAX_BYTES / sizeof(float) / (uint64_t)in->c)
        return SEGLOSS_ERR_SHAPE;
    if (!in->logits || !in->labels) return SEGLOSS_ERR_NULL;
    /* nor logits that would run past the end of the address space from where they start */
    if (segloss__logit_bytes(in) > (uint64_t)(UINTPTR_MAX - (uintptr_t)in->logits)) return SEGLOSS_ERR_SHAPE;
    return SEGLOSS_OK;
}

/* What a configuration needs of C classes: valid class weights and pos_weight, and two or more
   classes for the softmax. The weight map and per-channel targets are checked with the labels. */
SEGLOSS__PRIVATE segloss_status segloss__check_weights(const segloss_config *cfg, int64_t c)
{
    const int sig = cfg->activation == SEGLOSS_SIGMOID;
    int64_t k;
    if (!sig && c == 1) return SEGLOSS_ERR_PARAM;
    if (cfg->class_weights && SEGLOSS__HAS_CE_TERM(cfg->loss_type))
        for (k = 0; k < c; k++)
            if (!segloss__nonneg(cfg->class_weights[k])) return SEGLOSS_ERR_WEIGHTS;
    if (cfg->pos_weight && sig && SEGLOSS__HAS_CE_TERM(cfg->loss_type)) {
        if (SEGLOSS__HAS_GAMMA(cfg->loss_type)) return SEGLOSS_ERR_PARAM; /* torchvision's focal has none */
        for (k = 0; k < c; k++)
            if (!segloss__nonneg(cfg->pos_weight[k])) return SEGLOSS_ERR_WEIGHTS;
    }
    return SEGLOSS_OK;
}
/* ... and of its input: per-channel targets under the softmax only for ce and weighted_ce
   (F.cross_entropy with probability targets) */
SEGLOSS__PRIVATE segloss_status segloss__check_fit(const segloss_config *cfg, const segloss_input *in)
{
    if (SEGLOSS__DENSE(in->label_type) && cfg->activation != SEGLOSS_SIGMOID &&
        cfg->loss_type != SEGLOSS_CE && cfg->loss_type != SEGLOSS_WEIGHTED_CE)
        return SEGLOSS_ERR_PARAM;
    return segloss__check_weights(cfg, in->c);
}

/* grad and the logits overlap (their byte ranges, as the shape gives them, share a byte) without
   being the same buffer. Compared by distance, which cannot wrap: the shape has been checked. */
SEGLOSS__PRIVATE segloss_status segloss__check_alias(const segloss_input *in, const float *grad)
{
    const uintptr_t a = (uintptr_t)in->logits, b = (uintptr_t)grad;
    const uint64_t dist = a < b ? (uint64_t)(b - a) : (uint64_t)(a - b);
    if (grad && grad != in->logits && dist < segloss__logit_bytes(in)) return SEGLOSS_ERR_ALIAS;
    return SEGLOSS_OK;
}

/* ---- labels ------------------------------------------------------------------------------ */

SEGLOSS__PRIVATE int64_t segloss__label(const segloss_input *in, int64_t i)
{
    switch (in->label_type) {
    case SEGLOSS_LABEL_U8: return ((const uint8_t *)in->labels)[i];
    case SEGLOSS_LABEL_I32: return ((const int32_t *)in->labels)[i];
    default: return ((const int64_t *)in->labels)[i];
    }
}

/* First label outside [0, C) that is not ignore_index, as a flat index n*S+s; -1 if none. */
#define SEGLOSS__BAD_LOOP(T)                                                                    \
    do {                                                                                        \
        const T *src = (const T *)in->labels;                                                   \
        for (i = 0; i < total; i++)                                                             \
            if ((uint64_t)(int64_t)src[i] >= (uint64_t)in->c && (int64_t)src[i] != ignore) return i; \
    } while (0)
SEGLOSS__PRIVATE int64_t segloss__bad_label(const segloss_input *in, int64_t ignore)
{
    int64_t i, total = in->n * in->s;
    switch (in->label_type) {
    case SEGLOSS_LABEL_U8: SEGLOSS__BAD_LOOP(uint8_t); break;
    case SEGLOSS_LABEL_I32: SEGLOSS__BAD_LOOP(int32_t); break;
    default: SEGLOSS__BAD_LOOP(int64_t); break;
    }
    return -1;
}

/* The first weight (position) or per-channel target (element) that segloss__scan_general
   rejects, or -1. */
SEGLOSS__PRIVATE int64_t segloss__bad_weight(const segloss_input *in, const float *map)
{
    int64_t i;
    for (i = 0; map && i < in->n * in->s; i++)
        if (!segloss__nonneg(map[i])) return i;
    return -1;
}
/* A per-channel target: in [0, 1] (NaN is not), and 0 or 1 for uint8 masks. */
SEGLOSS__PRIVATE int segloss__target_ok(float v, int u8) { return v >= 0.0f && v <= 1.0f && (!u8 || v == 0.0f || v == 1.0f); }
SEGLOSS__PRIVATE int64_t segloss__bad_target(const segloss_input *in)
{
    const int u8 = in->label_type == SEGLOSS_TARGET_U8;
    int64_t i;
    for (i = 0; SEGLOSS__DENSE(in->label_type) && i < in->n * in->c * in->s; i++) {
        const float v = u8 ? (float)((const uint8_t *)in->labels)[i] : ((const float *)in->labels)[i];
        if (!segloss__target_ok(v, u8)) return i;
    }
    return -1;
}

/* x is neither NaN nor infinite (a NaN compares false) */
SEGLOSS__PRIVATE int segloss__finite(float x) { return fabsf(x) <= FLT_MAX; }

/* First non-finite logit (element index) from `from` on; -1 if none. */
SEGLOSS__PRIVATE int64_t segloss__bad_logit(const segloss_input *in, int64_t from)
{
    int64_t i, total = in->n * in->c * in->s;
    for (i = from; i < total; i++)
        if (!segloss__finite(in->logits[i])) return i;
    return -1;
}

/* ---- errors in words: segloss_error_message --------------------------------------------- */

/* A message being written into buf[size]: appends while there is room, truncating. */
typedef struct segloss__msg {
    char *buf;
    size_t size, len;
} segloss__msg;

#if (defined(__GNUC__) || defined(__clang__)) && !defined(_WIN32)
__attribute__((format(printf, 2, 3)))
#endif
SEGLOSS__PRIVATE void segloss__say(segloss__msg *m, const char *fmt, ...)
{
    va_list ap;
    int k;
    if (m->len + 1 >= m->size) return;
    va_start(ap, fmt);
    k = vsnprintf(m->buf + m->len, m->size - m->len, fmt, ap);
    va_end(ap);
    if (k > 0) m->len += (size_t)k < m->size - m->len ? (size_t)k : m->size - m->len - 1;
}

/* in as segloss__check_input judges it, except that logits may be NULL (labels suffice). */
SEGLOSS__PRIVATE int segloss__msg_input_ok(const segloss_input *in)
{
    segloss_input t;
    if (!in) return 0;
    t = *in;
    if (!t.logits) t.logits = (const float *)(const void *)in; /* only tested for NULL */
    return segloss__check_input(&t) == SEGLOSS_OK;
}

/* "C = 4 classes: 0..3" */
SEGLOSS__PRIVATE void segloss__say_classes(segloss__msg *m, int64_t c)
{
    if (c == 1) segloss__say(m, "C = 1 class: 0");
    else segloss__say(m, "C = %lld classes: 0..%lld", (long long)c, (long long)(c - 1));
}

SEGLOSS__PRIVATE void segloss__say_label(segloss__msg *m, const segloss_config *cfg, const segloss_input *in,
                                         const segloss_result *r)
{
    const int64_t ignore = cfg ? cfg->ignore_index : -100;
    int64_t pos = r ? r->bad_position : -1, v;
    segloss_input two;
    if (segloss__msg_input_ok(in) && SEGLOSS__DENSE(in->label_type)) {
        if ((pos = segloss__bad_target(in)) < 0) {
            segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_LABEL));
            return;
        }
        segloss__say(m, "target %g at element %lld is not %s: per-channel targets (SEGLOSS_TARGET_%s) are the "
                        "logits' shape, one per (sample, class, position)",
                     in->label_type == SEGLOSS_TARGET_U8 ? (double)((const uint8_t *)in->labels)[pos]
                                                         : (double)((const float *)in->labels)[pos],
                     (long long)pos, in->label_type == SEGLOSS_TARGET_U8 ? "0 or 1" : "in [0, 1]",
                     in->label_type == SEGLOSS_TARGET_U8 ? "U8, 0 or 1" : "F32, in [0, 1]");
        return;
    }
    if (segloss__msg_input_ok(in) && in->c == 1 && cfg && cfg->activation == SEGLOSS_SIGMOID) {
        two = *in; /* one sigmoid channel: labels 0 and 1 */
        two.c = 2;
        in = &two;
    }
    if (!segloss__msg_input_ok(in)) {
        segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_LABEL));
        if (pos >= 0) segloss__say(m, " at position %lld (n*S + s)", (long long)pos);
        return;
    }
    if (pos >= in->n * in->s) pos = -1;
    if (pos >= 0) {
        v = segloss__label(in, pos);
        if ((uint64_t)v < (uint64_t)in->c || (cfg && v == ignore)) pos = -1; /* r is not this call's */
    }
    if (pos < 0 && cfg) pos = segloss__bad_label(in, ignore);
    if (pos < 0) {
        segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_LABEL));
        return;
    }
    v = segloss__label(in, pos);
    segloss__say(m, "label %lld at sample %lld, position %lld is not a class (", (long long)v,
                 (long long)(pos / in->s), (long long)(pos % in->s));
    segloss__say_classes(m, in->c);
    if (cfg) segloss__say(m, ") and not ignore_index (%lld): ", (long long)ignore);
    else segloss__say(m, ") nor ignore_index: ");
    if (v >= in->c && !(v == 255 && in->label_type == SEGLOSS_LABEL_U8))
        segloss__say(m, "if %lld marks pixels to ignore, set ignore_index = %lld; if it is a class, c must be at "
                        "least %lld", (long long)v, (long long)v, (long long)v + 1);
    else
        segloss__say(m, "if %lld marks pixels to ignore, set ignore_index = %lld", (long long)v, (long long)v);
}

SEGLOSS__PRIVATE void segloss__say_nonfinite(segloss__msg *m, const segloss_input *in, const segloss_result *r)
{
    int64_t pos = r ? r->bad_position : -1, n, c, s;
    if (!segloss__msg_input_ok(in) || !in->logits) {
        segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_NONFINITE));
        if (pos >= 0) segloss__say(m, " at element %lld of the logits", (long long)pos);
        return;
    }
    if (pos < 0 || pos >= in->n * in->c * in->s || segloss__finite(in->logits[pos])) pos = segloss__bad_logit(in, 0);
    if (pos < 0) {
        segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_NONFINITE));
        return;
    }
    if (in->layout == SEGLOSS_NHWC) {
        c = pos % in->c;
        s = pos / in->c % in->s;
        n = pos / in->c / in->s;
    } else {
        s = pos % in->s;
        c = pos / in->s % in->c;
        n = pos / in->s / in->c;
    }
    segloss__say(m, "logit %g at sample %lld, class %lld, position %lld (element %lld of the %s logits) is not "
                    "finite (check_finite = 1): it comes from before the loss (a diverging model: lower the "
                    "learning rate; or NaN/inf in the data)",
                 (double)in->logits[pos], (long long)n, (long long)c, (long long)s, (long long)pos,
                 in->layout == SEGLOSS_NHWC ? "NHWC" : "NCHW");
}

/* The parameters of the sigmoid, smoothing and targets: 1 when one of them is the error. */
SEGLOSS__PRIVATE int segloss__say_param_modes(segloss__msg *m, const segloss_config *cfg, const segloss_input *in)
{
    const int sig = cfg->activation == SEGLOSS_SIGMOID;
    const float e = cfg->label_smoothing;
    if (!(e >= 0.0f && e <= 1.0f))
        segloss__say(m, "label_smoothing = %g is out of its domain: it must be in [0, 1] (0, the default, is none)", (double)e);
    else if (e > 0.0f && sig)
        segloss__say(m, "label_smoothing = %g applies to the softmax: under the sigmoid give soft targets "
                        "(SEGLOSS_TARGET_F32) instead", (double)e);
    else if (segloss__bad_smoothing(cfg) && !SEGLOSS__HAS_CE_TERM(cfg->loss_type))
        segloss__say(m, "label_smoothing = %g with loss %s: smoothing applies to the cross-entropy term (ce, "
                        "weighted_ce, focal_dice with focal_gamma 0); set label_smoothing = 0", (double)e,
                     segloss_loss_name(cfg->loss_type));
    else if (segloss__bad_smoothing(cfg))
        segloss__say(m, "label_smoothing = %g with focal_gamma = %g: smoothing is defined for the cross entropy "
                        "(PyTorch's); set focal_gamma = 0 or label_smoothing = 0", (double)e, (double)cfg->focal_gamma);
    else if (segloss__bad_alpha(cfg))
        segloss__say(m, "focal_alpha = %g (sigmoid %s) is out of its domain: it must be in [0, 1], or negative for "
                        "none (torchvision's default is 0.25)", (double)cfg->focal_alpha, segloss_loss_name(cfg->loss_type));
    else if (sig && cfg->pos_weight && SEGLOSS__HAS_GAMMA(cfg->loss_type))
        segloss__say(m, "pos_weight does not apply to the sigmoid %s (torchvision's sigmoid_focal_loss has none): "
                        "use focal_alpha, or loss ce with pos_weight", segloss_loss_name(cfg->loss_type));
    else if (!sig && segloss__msg_input_ok(in) && in->c == 1)
        segloss__say(m, "c = 1 under the softmax: one class has p = 1 everywhere, so the loss is constant and its "
                        "gradient 0; for a binary problem with one logit channel set activation = SEGLOSS_SIGMOID "
                        "(activation='sigmoid'), or give two channels");
    else if (!sig && in && SEGLOSS__DENSE(in->label_type) && cfg->loss_type != SEGLOSS_CE &&
             cfg->loss_type != SEGLOSS_WEIGHTED_CE)
        segloss__say(m, "per-channel targets (label_type %s) under the softmax are probability targets of ce and "
                        "weighted_ce only (F.cross_entropy's); for %s give one class index per position, or set "
                        "activation = SEGLOSS_SIGMOID", in->label_type == SEGLOSS_TARGET_U8 ? "SEGLOSS_TARGET_U8" : "SEGLOSS_TARGET_F32",
                     segloss_loss_name(cfg->loss_type));
    else
        return 0;
    return 1;
}

/* The parameters segloss__check_config judges, in its order: name, value, default. */
SEGLOSS__PRIVATE void segloss__say_param(segloss__msg *m, const segloss_config *cfg, const segloss_input *in)
{
    const segloss_loss_type t = cfg ? cfg->loss_type : SEGLOSS_CE;
    const char *name = NULL;
    float v = 0.0f, def = 0.0f;
    if (cfg && (t == SEGLOSS_FOCAL || t == SEGLOSS_FOCAL_DICE) && !segloss__nonneg(cfg->focal_gamma))
        name = "focal_gamma", v = cfg->focal_gamma, def = 2.0f;
    else if (cfg && t == SEGLOSS_FOCAL_DICE && !segloss__nonneg(cfg->focal_weight))
        name = "focal_weight", v = cfg->focal_weight, def = 0.5f;
    else if (cfg && t == SEGLOSS_FOCAL_DICE && !segloss__nonneg(cfg->dice_weight))
        name = "dice_weight", v = cfg->dice_weight, def = 0.5f;
    else if (cfg && t == SEGLOSS_FOCAL_DICE && cfg->focal_weight == 0.0f && cfg->dice_weight == 0.0f) {
        segloss__say(m, "focal_weight = 0 and dice_weight = 0 (loss focal_dice): at least one of them must be > 0 "
                        "(the defaults are 0.5 and 0.5)");
        return;
    } else if (cfg && SEGLOSS__HAS_DICE_TERM(t) && !segloss__nonneg(cfg->dice_smooth))
        name = "dice_smooth", v = cfg->dice_smooth, def = 1.0f;
    else if (cfg && t == SEGLOSS_TVERSKY && !segloss__nonneg(cfg->tversky_alpha))
        name = "tversky_alpha", v = cfg->tversky_alpha, def = 0.7f;
    else if (cfg && t == SEGLOSS_TVERSKY && !segloss__nonneg(cfg->tversky_beta))
        name = "tversky_beta", v = cfg->tversky_beta, def = 0.3f;
    if (!name && cfg && segloss__say_param_modes(m, cfg, in)) return;
    if (!name && cfg && cfg->loss_type == SEGLOSS_FOCAL_DICE) {
        segloss__say(m, "focal_dice has no unreduced form (segloss_compute_unreduced): compute focal and dice "
                        "apart, or use segloss_compute");
        return;
    }
    if (!name) {
        segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_PARAM));
        return;
    }
    segloss__say(m, "%s = %g (loss %s) is out of its domain: it must be finite and >= 0 (the default is %g)", name,
                 (double)v, segloss_loss_name(t), (double)def);
}

SEGLOSS__PRIVATE void segloss__say_weights(segloss__msg *m, const segloss_config *cfg, const segloss_input *in)
{
    int64_t k;
    if (cfg && cfg->class_weights && segloss__msg_input_ok(in))
        for (k = 0; k < in->c; k++)
            if (!segloss__nonneg(cfg->class_weights[k])) {
                segloss__say(m, "class_weights[%lld] = %g is not a weight: class weights must be finite and >= 0 "
                                "(0 leaves the class out of the CE term); class_weights holds C = %lld values",
                             (long long)k, (double)cfg->class_weights[k], (long long)in->c);
                return;
            }
    if (cfg && cfg->pos_weight && cfg->activation == SEGLOSS_SIGMOID && segloss__msg_input_ok(in))
        for (k = 0; k < in->c; k++)
            if (!segloss__nonneg(cfg->pos_weight[k])) {
                segloss__say(m, "pos_weight[%lld] = %g is not a weight: it must be finite and >= 0 (PyTorch's "
                                "pos_weight: negatives / positives); pos_weight holds C = %lld values",
                             (long long)k, (double)cfg->pos_weight[k], (long long)in->c);
                return;
            }
    if (cfg && cfg->weight_map && segloss__msg_input_ok(in) && (k = segloss__bad_weight(in, cfg->weight_map)) >= 0) {
        segloss__say(m, "weight_map[%lld] = %g (sample %lld, position %lld) is not a weight: the weight map's values "
                        "must be finite and >= 0 (0 leaves the position out); it holds n*s = %lld values",
                     (long long)k, (double)cfg->weight_map[k], (long long)(k / in->s), (long long)(k % in->s),
                     (long long)(in->n * in->s));
        return;
    }
    segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_WEIGHTS));
}

SEGLOSS__PRIVATE void segloss__say_shape(segloss__msg *m, const segloss_input *in)
{
    static const char *const fix = "check n (samples), c (classes) and s (positions per sample: every spatial "
                                   "dimension flattened, H*W)";
    if (!in) {
        segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_SHAPE));
        return;
    }
    if (in->n <= 0) segloss__say(m, "n = %lld: the batch needs at least 1 sample", (long long)in->n);
    else if (in->c <= 0) segloss__say(m, "c = %lld: at least 1 class is needed", (long long)in->c);
    else if (in->s <= 0)
        segloss__say(m, "s = %lld: a sample needs at least 1 position (s is every spatial dimension flattened, H*W)",
                     (long long)in->s);
    else if (in->c > INT32_MAX) segloss__say(m, "c = %lld: at most %ld classes", (long long)in->c, (long)INT32_MAX);
    else if ((uint64_t)in->n > SEGLOSS__MAX_BYTES / sizeof(int64_t) / (uint64_t)in->s ||
             (uint64_t)(in->n * in->s) > SEGLOSS__MAX_BYTES / sizeof(float) / (uint64_t)in->c) /* as check_input */
        segloss__say(m, "n x c x s = %lld x %lld x %lld = %.3g logits, %.3g bytes: more than any address space "
                        "(%.3g bytes): %s", (long long)in->n, (long long)in->c, (long long)in->s,
                     (double)in->n * (double)in->c * (double)in->s, (double)in->n * (double)in->c * (double)in->s * 4.0,
                     (double)SEGLOSS__MAX_BYTES, fix);
    else if (in->logits)
        segloss__say(m, "n x c x s = %lld x %lld x %lld logits (%llu bytes) from %p would run past the end of the "
                        "address space: %s", (long long)in->n, (long long)in->c, (long long)in->s,
                     (unsigned long long)segloss__logit_bytes(in), (const void *)in->logits, fix);
    else segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_SHAPE));
}

SEGLOSS__PRIVATE void segloss__say_enum(segloss__msg *m, const segloss_config *cfg, const segloss_input *in)
{
    if (cfg && (unsigned)cfg->loss_type >= SEGLOSS_LOSS_COUNT)
        segloss__say(m, "loss_type = %d is not a loss: 0..6 are ce, weighted_ce, focal, dice, focal_dice, "
                        "tversky and generalized_dice (segloss_loss_from_name turns a name into one)", (int)cfg->loss_type);
    else if (cfg && (unsigned)cfg->reduction > SEGLOSS_SUM)
        segloss__say(m, "reduction = %d is neither SEGLOSS_MEAN (0) nor SEGLOSS_SUM (1)", (int)cfg->reduction);
    else if (cfg && (unsigned)cfg->activation > SEGLOSS_SIGMOID)
        segloss__say(m, "activation = %d is neither SEGLOSS_SOFTMAX (0) nor SEGLOSS_SIGMOID (1)", (int)cfg->activation);
    else if (in && (unsigned)in->label_type > SEGLOSS_TARGET_F32)
        segloss__say(m, "label_type = %d is not SEGLOSS_LABEL_U8 (0), SEGLOSS_LABEL_I32 (1), SEGLOSS_LABEL_I64 (2), "
                        "SEGLOSS_TARGET_U8 (3) or SEGLOSS_TARGET_F32 (4)", (int)in->label_type);
    else if (in && (unsigned)in->layout > SEGLOSS_NHWC)
        segloss__say(m, "layout = %d is neither SEGLOSS_NCHW (0) nor SEGLOSS_NHWC (1)", (int)in->layout);
    else segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_ENUM));
}

/* grad is not an argument: the message gives the logits' range, and where grad may lie. */
SEGLOSS__PRIVATE void segloss__say_alias(segloss__msg *m, const segloss_input *in)
{
    unsigned long long a, bytes;
    if (!segloss__msg_input_ok(in) || !in->logits) {
        segloss__say(m, "%s", segloss_status_string(SEGLOSS_ERR_ALIAS));
        return;
    }
    a = (unsigned long long)(uintptr_t)in->logits;
    bytes = (unsigned long long)segloss__logit_bytes(in);
    segloss__say(m, "grad overlaps the logits at [0x%llx, 0x%llx) (n x c x s = %lld x %lld x %lld floats, %llu "
                    "bytes): pass grad = logits for in place, or a gradient of %llu bytes that starts at or after "
                    "0x%llx or ends at or before 0x%llx; if grad is a buffer of its own, n*c*s is larger than the "
                    "buffers: check n, c and s",
                 a, a + bytes, (long long)in->n, (long long)in->c, (long long)in->s, bytes, bytes, a + bytes, a);
}

SEGLOSS__PRIVATE void segloss__say_null(segloss__msg *m, const segloss_input *in)
{
    if (in && !in->logits) segloss__say(m, "in->logits is NULL: the logits are required (n*c*s floats)");
    else if (in && !in->labels) segloss__say(m, "in->labels is NULL: the labels are required (n*s of label_type)");
    else
        segloss__say(m, "%s: cfg, in or the result; in the two-phase calls also stats, stats->sum or grad",
                     segloss_status_string(SEGLOSS_ERR_NULL));
}

SEGLOSS__PRIVATE void segloss__say_isa(segloss__msg *m)
{
    int i;
    segloss__say(m, "%s: compiled in:", segloss_status_string(SEGLOSS_ERR_ISA));
    for (i = 0; i < segloss_isa_count(); i++)
        segloss__say(m, "%s %s%s", i ? "," : "", segloss_isa_name(i),
                     segloss_isa_supported(segloss_isa_name(i)) ? "" : " (not on this CPU)");
}

SEGLOSS__API char *segloss_error_message(segloss_status st, const segloss_config *cfg, const segloss_input *in,
                                         const segloss_result *r, char *buf, size_t size)
{
    segloss__msg m;
    if (!buf || !size) return buf;
    m.buf = buf;
    m.size = size;
    m.len = 0;
    buf[0] = '\0';
    switch (st) {
    case SEGLOSS_ERR_NULL: segloss__say_null(&m, in); break;
    case SEGLOSS_ERR_SHAPE: segloss__say_shape(&m, in); break;
    case SEGLOSS_ERR_ENUM: segloss__say_enum(&m, cfg, in); break;
    case SEGLOSS_ERR_PARAM: segloss__say_param(&m, cfg, in); break;
    case SEGLOSS_ERR_WEIGHTS: segloss__say_weights(&m, cfg, in); break;
    case SEGLOSS_ERR_LABEL: segloss__say_label(&m, cfg, in, r); break;
    case SEGLOSS_ERR_NONFINITE: segloss__say_nonfinite(&m, in, r); break;
    case SEGLOSS_ERR_ALIAS: segloss__say_alias(&m, in); break;
    case SEGLOSS_ERR_ISA: segloss__say_isa(&m); break;
    default:
        segloss__say(&m, "%s", segloss_status_string(st));
        if ((unsigned)st > SEGLOSS_ERR_BUILD) segloss__say(&m, " %d", (int)st);
        break;
    }
    return buf;
}

/* ---- statistics layout: per group g, 4 arrays of C doubles: G, L, I, P; after the groups, 3
   doubles: the number of valid positions, the sum of their weights (weight map; else 1 each),
   and that sum for positions with per-channel targets under the softmax (their CE's mean is
   over positions, as PyTorch's with probability targets).
   A group is a sample when per_sample applies to a Dice/Tversky term, else the whole batch.
   G: label counts, each label counted with its position's weight (sigmoid with C = 1: label 1's),
   or per-channel targets' weighted sums. L: the CE-family term's sums per class (of the label's
   class; sigmoid: of each channel; softmax targets: m t_c (-log p_c)). The sigmoid BCE (no Dice term) keeps its positive part
   t softplus(-z) apart, in I, so that pos_weight can scale it after the sums are known.
   With label smoothing, C more doubles after those two: sum_V m (-log p_c) per class. */

#define SEGLOSS__ST_N 0
#define SEGLOSS__ST_L 1
#define SEGLOSS__ST_I 2
#define SEGLOSS__ST_P 3
#define SEGLOSS__ST_TAIL 3 /* valid positions, sum of their weights, and that sum again for
                             softmax per-channel targets (PyTorch's mean over positions) */

/* ---- what a (valid) configuration asks of the passes, worked out once per call ------------- */

typedef struct segloss__plan {
    int ce;          /* a CE-family term: ce, weighted_ce, focal, and focal_dice's focal term  */
    int ce_only;     /* nothing else (ce, weighted_ce, focal): label counts, then one pass     */
    int dice;        /* a Dice or Tversky term                                                 */
    int tversky;
    int per_sample;  /* the Dice/Tversky term per sample: one statistics group per sample      */
    int mean;        /* SEGLOSS_MEAN                                                            */
    int gdl;         /* generalized Dice                                                        */
    int focal;       /* the CE-family term is focal (focal, focal_dice), whatever gamma         */
    int sig;         /* the sigmoid activation                                                  */
    float gamma;     /* focal gamma; 0 for cross entropy                                        */
    float eps;       /* label smoothing                                                         */
    double fw, dw;   /* focal_dice's weights of its two terms; 1 for every other loss           */
} segloss__plan;

SEGLOSS__PRIVATE segloss__plan segloss__plan_for(const segloss_config *cfg)
{
    const segloss_loss_type t = cfg->loss_type;
    segloss__plan p;
    p.ce_only = SEGLOSS__IS_CE_FAMILY(t);
    p.ce = SEGLOSS__HAS_CE_TERM(t);
    p.dice = SEGLOSS__HAS_DICE_TERM(t);
    p.tversky = t == SEGLOSS_TVERSKY;
    p.gdl = t == SEGLOSS_GENERALIZED_DICE;
    p.focal = SEGLOSS__HAS_GAMMA(t);
    p.sig = cfg->activation == SEGLOSS_SIGMOID;
    p.eps = cfg->label_smoothing;
    p.per_sample = cfg->per_sample && p.dice;
    p.mean = cfg->reduction == SEGLOSS_MEAN;
    p.gamma = t == SEGLOSS_FOCAL || t == SEGLOSS_FOCAL_DICE ? cfg->focal_gamma : 0.0f;
    p.fw = t == SEGLOSS_FOCAL_DICE ? cfg->focal_weight : 1.0;
    p.dw = t == SEGLOSS_FOCAL_DICE ? cfg->dice_weight : 1.0;
    return p;
}

/* Statistics groups for n samples, and the group of a slice's first sample (-1: the batch). */
SEGLOSS__PRIVATE int64_t segloss__groups(const segloss__plan *p, int64_t n) { return p->per_sample ? n : 1; }
/* the doubles after the groups' arrays */
SEGLOSS__PRIVATE int64_t segloss__extra(const segloss__plan *p, int64_t c) { return SEGLOSS__ST_TAIL + (p->eps > 0.0f ? c : 0); }
SEGLOSS__PRIVATE int64_t segloss__group0(const segloss__plan *p, int64_t first) { return p->per_sample ? first : -1; }

SEGLOSS__API int64_t segloss_stats_len(const segloss_config *cfg, int64_t n, int64_t c)
{
    segloss__plan p;
    int64_t g;
    if (segloss__check_config(cfg) != SEGLOSS_OK || n <= 0 || c <= 0 || c > INT32_MAX) return 0;
    p = segloss__plan_for(cfg);
    g = segloss__groups(&p, n);
    if (g > INT64_MAX / 8 / c) return 0;
    return g * 4 * c + segloss__extra(&p, c);
}

/* ---- the block runner: feeds a kernel one block of one sample at a time ------------------- */

typedef struct segloss__job {
    const segloss_input *in;
    int64_t ignore;
    segloss__kernel_fn fn;
    int ce;               /* the loss has a CE-family term                                     */
    float gamma;
    double *stats;        /* stats kernel: the group's arrays are at stats + g * 4C           */
    int64_t group0;       /* group of the slice's first sample (per-sample groups), or -1     */
    float *grad;          /* grad kernel                                                      */
    const float *wcoef;   /* grad: CE-family coefficient per class                            */
    const float *A, *B;   /* grad: Dice/Tversky coefficients, G x C (NULL: none)              */
    double *loss;         /* grad: add the weighted CE-family loss here (NULL: not wanted)    */
    int stream;           /* grad: non-temporal stores (NCHW planes; NHWC rows, see run)       */
    int sig;              /* the sigmoid kernel: its CE coefficients sk (4C), focal alpha      */
    int gamma_term;       /* sigmoid: the CE-family term is the focal term (else BCE)         */
    const float *sk;
    float alpha;
    int dice;             /* sigmoid stats: a Dice-family term (I and P wanted)               */
    float *each;          /* grad pass: the unreduced terms (NULL: not wanted)                 */
    const float *map;     /* the weight map (NULL: none)                                      */
    float each_scale;     /* softmax unreduced terms: the weights' normalisation, undone       */
    float eps;            /* label smoothing: grad with sw (C floats), stats into stats_s      */
    const float *sw;
    double *stats_s;
} segloss__job;

/* Positions per block for C classes: SEGLOSS__BLOCK, fewer when C > 16 so that a block's
   class planes fit SEGLOSS__TBUF floats (a multiple of 16 while that leaves 16 or more). */
SEGLOSS__PRIVATE int segloss__block_len(int64_t C)
{
    return C <= SEGLOSS__TBUF / SEGLOSS__BLOCK ? SEGLOSS__BLOCK
         : C <= SEGLOSS__TBUF / SEGLOSS__LANES ? (int)(SEGLOSS__TBUF / C) & ~(SEGLOSS__LANES - 1)
         : C <= SEGLOSS__TBUF ? (int)(SEGLOSS__TBUF / C) : 1;
}

/* Whether the logits (and as many gradient bytes) are at least SEGLOSS_STREAM_BYTES: past the
   caches, where the gradient is streamed and many planes are prefetched. */
SEGLOSS__PRIVATE int segloss__past_caches(const segloss_input *in)
{
    return (uint64_t)in->n * (uint64_t)in->c * (uint64_t)in->s * sizeof(float) >= (uint64_t)SEGLOSS_STREAM_BYTES;
}

/* Whether NCHW class planes S floats apart crowd the cache sets: with 64-byte lines and 4 KiB
   per way (64 sets: x86 and most ARM L1s), more than 4 of the C classes' lines of a position in
   one set. S a multiple of 1024 (every power-of-two image from 32x32 up) puts all C in one set:
   past its ways each class's line is evicted before its next use (the second read of phase 1,
   the next store of a gradient written position by position). */
SEGLOSS__PRIVATE int segloss__planes_alias(int64_t S, int C)
{
    int count[64] = {0}, c, worst = 0;
    for (c = 0; c < C; c++) {
        const int set = (int)((((uint64_t)c * (uint64_t)S) >> 4) & 63); /* (c * S * 4 / 64) mod 64 */
        if (++count[set] > worst) worst = count[set];
    }
    return worst > 4;
}

/* ---- chunks: the unit of work of every thread ----------------------------------------------
   A chunk is a run of whole blocks of one sample: SEGLOSS__CHUNK positions when C <= 16, else
   enough blocks for 2^18 logits (at least 256 positions), by the shape alone. Each chunk sums
   into partial buffers of its own (starting from 0), and the partials are added into the
   statistics in chunk order (sample by sample, position order within one): the same bits for
   any number of threads, any pool and any order of running. */
#define SEGLOSS__CHUNK 16384
SEGLOSS__PRIVATE int64_t segloss__chunk_len(int64_t C)
{
    const int64_t B = segloss__block_len(C);
    int64_t want = C <= 16 ? SEGLOSS__CHUNK : (int64_t)(1 << 18) / C;
    if (want < 256) want = 256;
    return (want + B - 1) / B * B;
}

typedef struct segloss__chunking {
    int64_t len, per_sample, count; /* positions per chunk, chunks per sample, chunks        */
    int64_t samples;                /* > 1: a chunk is this many whole samples (small S)     */
} segloss__chunking;

/* Chunks of len positions; with multi, samples shorter than half a chunk are grouped, whole,
   into chunks of about len positions (allowed where the chunk's sums are one group's). */
SEGLOSS__PRIVATE segloss__chunking segloss__chunks(const segloss_input *in, int64_t len, int multi)
{
    segloss__chunking k;
    k.len = len;
    k.samples = multi && in->s <= len / 2 ? len / in->s : 1;
    k.per_sample = (in->s + len - 1) / len;
    k.count = k.samples > 1 ? (in->n + k.samples - 1) / k.samples : k.per_sample * in->n;
    return k;
}

/* Chunk i: samples [*n0, *n1), positions [*s0, *s1) of each. */
SEGLOSS__PRIVATE void segloss__chunk_at(const segloss__chunking *k, const segloss_input *in, int64_t i, int64_t *n0,
                                        int64_t *n1, int64_t *s0, int64_t *s1)
{
    if (k->samples > 1) {
        *n0 = i * k->samples;
        *n1 = *n0 + k->samples < in->n ? *n0 + k->samples : in->n;
        *s0 = 0;
        *s1 = in->s;
    } else {
        *n0 = i / k->per_sample;
        *n1 = *n0 + 1;
        *s0 = i % k->per_sample * k->len;
        *s1 = *s0 + k->len < in->s ? *s0 + k->len : in->s;
    }
}

/* Per-channel targets of positions [pos, pos + np) (pos = n*S + s) as class planes of stride B
   in tt, pointed to by *t (NCHW float32 planes are used in place). rows: a scratch block. */
SEGLOSS__PRIVATE const float *segloss__target_planes(const segloss_input *in, int64_t n, int64_t s, int np, int B,
                                                     float *tt, float *rows, int64_t *ts)
{
    const int64_t C = in->c, S = in->s, pos = n * S + s;
    const int u8 = in->label_type == SEGLOSS_TARGET_U8;
    int64_t c, i;
    if (in->layout == SEGLOSS_NCHW) {
        const int64_t base = n * C * S + s;
        if (!u8) {
            *ts = S;
            return (const float *)in->labels + base;
        }
        for (c = 0; c < C; c++)
            for (i = 0; i < np; i++) tt[c * B + i] = (float)((const uint8_t *)in->labels)[base + c * S + i];
    } else {
        const float *src = (const float *)in->labels + pos * C;
        if (u8) {
            for (i = 0; i < np * C; i++) rows[i] = (float)((const uint8_t *)in->labels)[pos * C + i];
            src = rows;
        }
        segloss__table()->transpose(src, tt, B, np, (int)C, SEGLOSS__TO_PLANES);
    }
    *ts = B;
    return tt;
}

/* Run j's kernel over positions [s_begin, s_end) of sample n (s_begin a multiple of the block
   length), summing into sums (L, I, P: 3C doubles) and *loss. */
SEGLOSS__PRIVATE void segloss__run_range(const segloss__job *j, int64_t n, int64_t s_begin, int64_t s_end,
                                         double *sums, double *loss)
{
    const segloss_input *in = j->in;
    const int C = (int)in->c;
    const int64_t S = in->s;
    const int nhwc = in->layout == SEGLOSS_NHWC;
    const int dense = SEGLOSS__DENSE(in->label_type);
    /* A block's class planes fit the stack buffers (SEGLOSS__TBUF floats): NHWC blocks are
       transposed into them, and the kernels keep their exponentials there. Beyond
       SEGLOSS__TBUF classes one position is one block; in NHWC it is read in place: its classes
       are contiguous, so they are already a class-planar block of one position (stride 1). */
    const int direct = nhwc && C > SEGLOSS__TBUF;
    /* NHWC rows of 2 or 4 classes fill whole lines in order: the transposes stream them */
    const int rows_nt = C == 2 || C == 4;
    const int B = segloss__block_len(C);
    const segloss__isa_table *t = segloss__table();
    float zt[SEGLOSS__TBUF], gt[SEGLOSS__TBUF];
    float tt[SEGLOSS__TBUF]; /* per-channel targets as class planes (uint8 rows go through gt) */
    int32_t y[SEGLOSS__BLOCK];
    segloss__args a;
    /* More than 16 classes (blocks shorter than SEGLOSS__BLOCK) of NCHW logits past the caches:
       a block reads a short run of each of C planes, more streams than the hardware
       prefetchers follow, so phase 1 prefetches the next block's lines itself. */
    const int prefetch = !nhwc && B < SEGLOSS__BLOCK && segloss__past_caches(in);
    const int64_t g = j->group0 < 0 ? 0 : j->group0 + n;
    int64_t s0;
    memset(&a, 0, sizeof a);
    a.c = C;
    a.ce = j->ce;
    a.gamma = j->gamma;
    a.gamma_int = j->gamma >= 1.0f && j->gamma <= 16.0f && j->gamma == floorf(j->gamma) ? (int)j->gamma : 0;
    a.y = y;
    a.w = j->wcoef;
    a.loss = loss;
    a.stream = j->stream && !nhwc;
    a.alias = !nhwc && segloss__planes_alias(S, C);
    a.sk = j->sk;
    a.alpha = j->alpha;
    a.focal = j->sig && j->gamma_term;
    a.dice = j->dice;
    a.each_scale = j->each_scale;
    a.eps = j->eps;
    if (j->sw) { /* sw[c] = -(eps / C) w_c: the normalised weights' sum back from it */
        int c;
        a.sw = j->sw;
        a.eps_c = j->eps / (float)C;
        for (c = 0; c < C; c++) a.eps_sum += j->wcoef[c];
        a.eps_w = a.eps_c * a.eps_sum;
    }
    if (sums && j->stats_s) a.sum_s = sums + 3 * C;
    if (sums) {
        a.sum_l = sums;
        a.sum_i = sums + C;
        a.sum_p = sums + 2 * C;
        a.sum_lp = sums + C; /* the sigmoid BCE's positive part, where no Dice term wants I */
    }
    a.A = j->A ? j->A + g * C : NULL;
    a.B = j->B ? j->B + g * C : NULL;
    for (s0 = s_begin; s0 < s_end; s0 += B) {
        const int np = (int)(s_end - s0 < B ? s_end - s0 : B);
        const int64_t pos = n * S + s0;
        if (!dense) {
            t->labels(in, j->ignore, pos, np, y, NULL, 0, 0); /* checked by the caller's scan */
        } else {
            int i;
            for (i = 0; i < SEGLOSS__BLOCK; i++) y[i] = i < np ? 0 : -1;
            a.t = segloss__target_planes(in, n, s0, np, B, tt, gt, &a.ts);
        }
        a.m = j->map ? j->map + pos : NULL;
        a.npos = np;
        a.prefetch = prefetch && s0 + 2 * B <= S ? B : 0; /* (within the plane) */
        if (!nhwc) {
            a.z = in->logits + n * C * S + s0;
            a.g = j->grad ? j->grad + n * C * S + s0 : NULL;
            a.zs = a.gs = S;
            a.each = j->each ? j->each + n * C * S + s0 : NULL;
            a.es = S;
        } else if (direct) {
            a.z = in->logits + pos * C;
            a.g = j->grad ? j->grad + pos * C : NULL;
            a.zs = a.gs = 1;
            a.each = j->each ? j->each + pos * C : NULL;
            a.es = 1;
        } else {
            t->transpose(in->logits + pos * C, zt, B, np, C, SEGLOSS__TO_PLANES);
            a.z = zt;
            a.g = j->grad ? gt : NULL;
            a.zs = a.gs = B;
            a.each = j->each ? zt : NULL; /* the sigmoid's terms over its logits: each read first */
            a.es = B;
        }
        if (!j->sig && j->each) a.each = j->each + pos; /* softmax: one term per position */
        j->fn(&a);
        if (nhwc && !direct && j->each && j->sig) t->transpose(zt, j->each + pos * C, B, np, C, SEGLOSS__TO_ROWS);
        if (nhwc && !direct && j->grad) {
            if (j->stream && rows_nt && !((uintptr_t)(j->grad + pos * C) & 15)) {
                t->transpose(gt, j->grad + pos * C, B, np, C, SEGLOSS__TO_ROWS_NT);
            } else if (j->stream) { /* rows in zt, free again, then around the caches */
                t->transpose(gt, zt, B, np, C, SEGLOSS__TO_ROWS);
                segloss__stream_copy(j->grad + pos * C, zt, (int64_t)np * C);
            } else {
                t->transpose(gt, j->grad + pos * C, B, np, C, SEGLOSS__TO_ROWS);
            }
        }
    }
    /* non-temporal stores are ordered by their own thread's fence, before the pool's lock
       hands the chunk back */
    if (j->stream) segloss__sfence();
}

typedef struct segloss__run_ctx {
    const segloss__job *j;
    segloss__chunking k;
    double *part;  /* per chunk: width doubles (3C sums, then the loss when wanted)           */
    int64_t width;
} segloss__run_ctx;

SEGLOSS__PRIVATE void segloss__run_task(void *ctx, int64_t i)
{
    const segloss__run_ctx *r = (const segloss__run_ctx *)ctx;
    double *part = r->part ? r->part + i * r->width : NULL;
    const int64_t C = r->j->in->c;
    int64_t n, n0, n1, s0, s1;
    segloss__chunk_at(&r->k, r->j->in, i, &n0, &n1, &s0, &s1);
    for (n = n0; n < n1; n++)
        segloss__run_range(r->j, n, s0, s1, r->j->stats ? part : NULL,
                           r->j->loss ? part + (r->j->stats ? (r->j->stats_s ? 4 : 3) * C : 0) : NULL);
}

/* Run j over every chunk (threads: threads.h), then add the chunks' sums into j->stats and
   j->loss in chunk order. SEGLOSS_ERR_NOMEM when the partial sums find no memory (nothing is
   written then). */
SEGLOSS__PRIVATE segloss_status segloss__run(const segloss__job *j)
{
    const segloss_input *in = j->in;
    const int64_t C = in->c;
    segloss__run_ctx r;
    int64_t i, c;
    r.j = j;
    /* whole samples per chunk only where a chunk's sums belong to one group */
    r.k = segloss__chunks(in, segloss__chunk_len(C), !(j->stats && j->group0 >= 0));
    r.width = (j->stats ? (j->stats_s ? 4 : 3) * C : 0) + (j->loss ? 1 : 0);
    r.part = NULL;
    if (r.width) {
        const size_t bytes = (size_t)(r.k.count * r.width) * sizeof(double);
        if (!(r.part = (double *)SEGLOSS_MALLOC(bytes))) return SEGLOSS_ERR_NOMEM;
        memset(r.part, 0, bytes);
    }
    segloss__parallel_for(segloss__run_task, &r, r.k.count, in->n * in->s);
    for (i = 0; i < r.k.count && r.width; i++) {
        const double *part = r.part + i * r.width;
        if (j->stats) {
            const int64_t g = j->group0 < 0 ? 0 : j->group0 + i / r.k.per_sample;
            double *st = j->stats + g * 4 * C;
            for (c = 0; c < C; c++) {
                st[SEGLOSS__ST_L * C + c] += part[c];
                st[SEGLOSS__ST_I * C + c] += part[C + c];
                st[SEGLOSS__ST_P * C + c] += part[2 * C + c];
            }
        }
        if (j->stats_s)
            for (c = 0; c < C; c++) j->stats_s[c] += part[3 * C + c];
        if (j->loss) *j->loss += part[r.width - 1];
    }
    SEGLOSS_FREE(r.part);
    return SEGLOSS_OK;
}

/* ---- label scan: validation and counts, in chunks of whole blocks -------------------------- */

/* Count (or only check) the labels of positions [s_begin, s_end) of sample n into cnt (C
   doubles with classes, else 1: the labels not ignored). Returns 1 on a bad label. The kernel
   counts few classes; up to SEGLOSS__HIST, four interleaved integer histograms do: one counter
   per class would make every increment wait for the previous one. */
SEGLOSS__PRIVATE int segloss__scan_range(const segloss_input *in, int64_t ignore, int64_t n, int64_t s_begin,
                                         int64_t s_end, double *cnt, int classes)
{
    const int64_t C = in->c;
    const segloss__isa_table *t = segloss__table();
    const int vcount = !classes || C <= SEGLOSS__VCOUNT;
    uint32_t hist[4][SEGLOSS__HIST];
    int64_t vc[SEGLOSS__VCOUNT] = {0}, s;
    int k, c;
    if (cnt && !vcount && C <= SEGLOSS__HIST) memset(hist, 0, sizeof hist); /* each flush below clears it again */
    for (s = s_begin; s < s_end; s += SEGLOSS__BLOCK) {
        int32_t y[SEGLOSS__BLOCK];
        const int len = (int)(s_end - s < SEGLOSS__BLOCK ? s_end - s : SEGLOSS__BLOCK);
        int i;
        if (t->labels(in, ignore, n * in->s + s, len, y, cnt && vcount ? vc : NULL, classes, 1)) return 1;
        if (!cnt || vcount) continue;
        if (C <= SEGLOSS__HIST) {
            for (i = 0; i < len; i++) hist[i & 3][y[i] & (SEGLOSS__HIST - 1)] += y[i] >= 0;
            if (((s - s_begin) / SEGLOSS__BLOCK) % (1 << 20) == (1 << 20) - 1 || s + len == s_end) { /* no overflow */
                for (k = 0; k < 4; k++)
                    for (c = 0; c < C; c++) cnt[c] += hist[k][c];
                memset(hist, 0, sizeof hist);
            }
        } else {
            for (i = 0; i < len; i++)
                if (y[i] >= 0) cnt[y[i]] += 1.0;
        }
    }
    for (c = 0; cnt && vcount && c < (classes ? C : 1); c++) cnt[c] += (double)vc[c];
    return 0;
}

/* The scan with a weight map, per-channel targets, or under the sigmoid: validates the labels (sigmoid with C = 1:
   0, 1 or ignore_index), the weight map's weights (finite, >= 0) and per-channel targets (0/1, or in
   [0, 1]), and adds G (C doubles: each label's class, or each channel's target, times its
   position's weight), then the count of valid positions, the sum of their weights, and that
   sum again where per-channel targets meet the softmax. Returns
   0, or which check failed: 1 a label, 2 a weight, 3 a target. */
SEGLOSS__PRIVATE int segloss__scan_general(const segloss_input *in, int64_t ignore, int sig, const float *map, int64_t n,
                                           int64_t s_begin, int64_t s_end, double *cnt)
{
    const int64_t C = in->c, S = in->s;
    const int dense = SEGLOSS__DENSE(in->label_type), u8 = in->label_type == SEGLOSS_TARGET_U8;
    const int one = sig && C == 1 && !dense; /* one channel of 0/1 labels */
    /* weighted sums in four interleaved partials (position i into i & 3), added in a fixed
       order after each block: one running sum per class would make every add wait for the
       one before (most positions are one class) */
    const int split = !dense && C <= SEGLOSS__HIST;
    double part[4][SEGLOSS__HIST], msum[4];
    segloss_input lin = *in;
    int64_t s, c;
    if (one) lin.c = 2;
    for (s = s_begin; s < s_end; s += SEGLOSS__BLOCK) {
        int32_t y[SEGLOSS__BLOCK];
        const int len = (int)(s_end - s < SEGLOSS__BLOCK ? s_end - s : SEGLOSS__BLOCK);
        const int64_t pos = n * S + s;
        int i, k, bad = 0, valid = 0;
        if (!dense && segloss__table()->labels(&lin, ignore, pos, len, y, NULL, 0, 1)) return 1;
        for (i = 0; map && i < len; i++) bad |= !segloss__nonneg(map[pos + i]); /* every position, ignored too */
        if (bad) return 2;
        memset(msum, 0, sizeof msum);
        if (split) memset(part, 0, sizeof part);
        for (i = 0; i < len; i++) {
            const double m = map ? (double)map[pos + i] : 1.0;
            if (!dense) {
                if (y[i] < 0) continue;
                if (one) { if (y[i] == 1) part[i & 3][0] += m; }
                else if (split) part[i & 3][y[i]] += m;
                else cnt[y[i]] += m;
            } else {
                for (c = 0; c < C; c++) {
                    const int64_t e = in->layout == SEGLOSS_NCHW ? (n * C + c) * S + s + i : (pos + i) * C + c;
                    const float v = u8 ? (float)((const uint8_t *)in->labels)[e] : ((const float *)in->labels)[e];
                    if (!segloss__target_ok(v, u8)) return 3;
                    cnt[c] = fma(m, v, cnt[c]); /* explicit: contraction may differ between machines */
                }
            }
            valid++;
            msum[i & 3] += m;
        }
        for (k = 0; k < 4; k++) {
            for (c = 0; split && c < C; c++) cnt[c] += part[k][c];
            cnt[C + 1] += msum[k];
            if (dense && !sig) cnt[C + 2] += msum[k];
        }
        cnt[C] += (double)valid;
    }
    return 0;
}

typedef struct segloss__scan_ctx {
    const segloss_input *in;
    int64_t ignore;
    segloss__chunking k;
    double *part;          /* per chunk: the bad flag, then the counts (width - 1)             */
    int64_t width;
    int classes;
    int general;           /* segloss__scan_general (a weight map, or the sigmoid)            */
    int sig;
    const float *map;
} segloss__scan_ctx;

SEGLOSS__PRIVATE void segloss__scan_task(void *ctx, int64_t i)
{
    const segloss__scan_ctx *r = (const segloss__scan_ctx *)ctx;
    double *part = r->part + i * r->width;
    int64_t n, n0, n1, s0, s1;
    segloss__chunk_at(&r->k, r->in, i, &n0, &n1, &s0, &s1);
    for (n = n0; n < n1 && part[0] == 0.0; n++)
        part[0] = r->general ? segloss__scan_general(r->in, r->ignore, r->sig, r->map, n, s0, s1, part + 1)
                             : segloss__scan_range(r->in, r->ignore, n, s0, s1, r->width > 1 ? part + 1 : NULL, r->classes);
}

/* Validate every label of a slice with the vector kernel and, with st, add the per-class
   counts to each group's count array (classes), or only the count of labels not ignored, in
   class 0's slot (!classes: all that a CE-family loss without class weights needs), and into
   tail (when not NULL) the count of valid positions and the sum of their weights. With a
   weight map or the sigmoid, segloss__scan_general does it (G as the layout describes). On a
   bad label, weight or target, *bad = its flat position and the status says which. The
   counts are integers below 2^53: exact in any order; weighted sums are added in chunk order. */
SEGLOSS__PRIVATE segloss_status segloss__scan_labels(const segloss_input *in, int64_t ignore, int sig, const float *map,
                                                     int64_t group0, double *st, double *tail, int classes, int64_t *bad)
{
    const int64_t C = in->c;
    const int general = sig || map != NULL || SEGLOSS__DENSE(in->label_type);
    const int64_t per = general ? C + 3 : st || tail ? (classes || !st ? C : 1) : 0;
    /* a chunk's counts cost no more than an eighth of its labels' work */
    const int64_t want = 8 * per > (1 << 16) ? 8 * per : (1 << 16);
    segloss__scan_ctx r;
    int64_t i, c;
    r.in = in;
    r.ignore = ignore;
    r.k = segloss__chunks(in, (want + SEGLOSS__BLOCK - 1) / SEGLOSS__BLOCK * SEGLOSS__BLOCK, !st || group0 < 0);
    r.width = 1 + per;
    r.classes = general || classes || !st;
    r.general = general;
    r.sig = sig;
    r.map = map;
    if (!(r.part = (double *)SEGLOSS_MALLOC((size_t)(r.k.count * r.width) * sizeof(double)))) return SEGLOSS_ERR_NOMEM;
    memset(r.part, 0, (size_t)(r.k.count * r.width) * sizeof(double));
    segloss__parallel_for(segloss__scan_task, &r, r.k.count, in->n * in->s);
    for (i = 0; i < r.k.count; i++)
        if (r.part[i * r.width] != 0.0) {
            const int what = (int)r.part[i * r.width];
            SEGLOSS_FREE(r.part);
            if (what == 2) { *bad = segloss__bad_weight(in, map); return SEGLOSS_ERR_WEIGHTS; }
            if (what == 3) { *bad = segloss__bad_target(in); return SEGLOSS_ERR_LABEL; }
            if (sig && C == 1) { /* labels 0 and 1 */
                segloss_input two = *in;
                two.c = 2;
                *bad = segloss__bad_label(&two, ignore);
            } else {
                *bad = segloss__bad_label(in, ignore);
            }
            return SEGLOSS_ERR_LABEL;
        }
    for (i = 0; i < r.k.count && per; i++) {
        const double *part = r.part + i * r.width + 1;
        const int64_t g = group0 < 0 ? 0 : group0 + i / r.k.per_sample;
        const int64_t nc = general || r.classes ? C : 1;
        double valid = 0.0;
        if (st)
            for (c = 0; c < nc; c++) st[g * 4 * C + c] += part[c];
        if (!tail) continue;
        if (general) {
            tail[0] += part[C];
            tail[1] += part[C + 1];
            tail[2] += part[C + 2];
        } else {
            for (c = 0; c < nc; c++) valid += part[c];
            tail[0] += valid;
            tail[1] += valid;
        }
    }
    SEGLOSS_FREE(r.part);
    return SEGLOSS_OK;
}

/* ---- check_finite: the first non-finite logit, on the threads ------------------------------ */

#define SEGLOSS__FINITE_CHUNK ((int64_t)1 << 18) /* logits per chunk */
typedef struct segloss__finite_ctx {
    const float *z;
    int64_t total;
    unsigned char *flag; /* per chunk: a non-finite logit in it */
} segloss__finite_ctx;

SEGLOSS__PRIVATE void segloss__finite_task(void *ctx, int64_t i)
{
    const segloss__finite_ctx *r = (const segloss__finite_ctx *)ctx;
    const int64_t b = i * SEGLOSS__FINITE_CHUNK;
    const int64_t e = b + SEGLOSS__FINITE_CHUNK < r->total ? b + SEGLOSS__FINITE_CHUNK : r->total;
    int64_t k;
    unsigned char any = 0;
    for (k = b; k < e; k++) any |= !segloss__finite(r->z[k]);
    r->flag[i] = any;
}

/* segloss__bad_logit's answer (the first non-finite logit, or -1): chunks flag themselves on
   the threads, then the first flagged chunk is searched. Without memory for the flags: serial. */
SEGLOSS__PRIVATE int64_t segloss__bad_logit_threads(const segloss_input *in)
{
    segloss__finite_ctx r;
    int64_t count, i;
    r.z = in->logits;
    r.total = in->n * in->c * in->s;
    count = (r.total + SEGLOSS__FINITE_CHUNK - 1) / SEGLOSS__FINITE_CHUNK;
    if (count < 2 || !(r.flag = (unsigned char *)SEGLOSS_MALLOC((size_t)count))) return segloss__bad_logit(in, 0);
    segloss__parallel_for(segloss__finite_task, &r, count, in->n * in->s);
    for (i = 0; i < count && !r.flag[i]; i++) {}
    SEGLOSS_FREE(r.flag);
    return i == count ? -1 : segloss__bad_logit(in, i * SEGLOSS__FINITE_CHUNK);
}

/* ---- phase 1: accumulate ------------------------------------------------------------------ */

/* What segloss__accumulate sums. COUNTS: the labels only, per class only where class weights
   need it (what the CE family needs before a fused backward). STATS: every statistic.
   STATS_NO_CE: all but the CE-family term's sums, which a fused backward adds up instead
   (focal_dice: its gradient pass computes the focal log anyway). */
enum { SEGLOSS__COUNTS, SEGLOSS__STATS, SEGLOSS__STATS_NO_CE, SEGLOSS__LABELS /* COUNTS, every class */ };

/* Validate a slice, then add its statistics into st (groups from group0, or group 0) and
   tail (the layout's two doubles after the groups). */
SEGLOSS__PRIVATE segloss_status segloss__accumulate(const segloss_config *cfg, const segloss__plan *p,
                                                    const segloss_input *in, int64_t group0, double *st, double *tail,
                                                    int what, int64_t *bad)
{
    const int classes = what != SEGLOSS__COUNTS || cfg->class_weights || cfg->use_class_weighting;
    if (what == SEGLOSS__LABELS) what = SEGLOSS__COUNTS;
    segloss_status status = segloss__scan_labels(in, cfg->ignore_index, p->sig, cfg->weight_map, group0, st, tail, classes, bad);
    if (status != SEGLOSS_OK) return status;
    if (cfg->check_finite && (*bad = segloss__bad_logit_threads(in)) >= 0) return SEGLOSS_ERR_NONFINITE;
    if (what != SEGLOSS__COUNTS) {
        segloss__job j;
        memset(&j, 0, sizeof j);
        j.in = in;
        j.ignore = cfg->ignore_index;
        j.fn = p->sig ? segloss__table()->sigmoid
             : SEGLOSS__DENSE(in->label_type) ? segloss__table()->soft_targets : segloss__table()->stats;
        j.eps = p->eps;
        j.ce = what == SEGLOSS__STATS && p->ce;
        j.gamma = p->gamma;
        j.stats = st;
        j.group0 = group0;
        j.sig = p->sig;
        j.gamma_term = p->focal;
        j.alpha = cfg->focal_alpha;
        j.dice = p->dice;
        j.map = cfg->weight_map;
        if (j.ce && p->eps > 0.0f && !SEGLOSS__DENSE(in->label_type)) j.stats_s = tail + SEGLOSS__ST_TAIL;
        return segloss__run(&j);
    }
    return SEGLOSS_OK;
}

/* ---- phase 2: finish ------------------------------------------------------------------------
   Products that meet a sum are explicit fma(): a compiler that contracts a*b+c on one
   machine and not on another would otherwise break bit-identical results across machines.
   From summed statistics: the loss, and the gradient coefficients
     wcoef[c]   softmax CE-family term: dL/dz_k += wcoef[y] * ff * (p_k - [k = y])
     sk[4C]     sigmoid CE-family term (sigmoid_kernels.h): per class the coefficients of the
                negative and positive parts in the gradient and loss, then in the unreduced terms
     A, B[g,c]  Dice family:            dL/dp_c(i) = A[g,c] + B[g,c] * g_c(i)
   and with each, the Dice family's unreduced terms. */

typedef struct segloss__terms {
    double loss, ce, dice;
    int64_t valid;
} segloss__terms;

typedef struct segloss__coefs {
    float *wcoef, *sk, *A, *B; /* each NULL: not wanted (A and B: no Dice-family term)        */
    float *each;               /* the Dice family's unreduced terms (NULL: not wanted)         */
    float each_scale;          /* the softmax CE family's sum_V m w[y] (mean), or 1            */
} segloss__coefs;

/* The softmax CE-family term and wcoef. total: the sum of the valid positions' weights. */
SEGLOSS__PRIVATE double segloss__finish_softmax_ce(const segloss_config *cfg, const segloss__plan *p, const double *st,
                                                   int64_t groups, int64_t C, double total, float *wcoef, float *scale,
                                                   float *sw)
{
    double wsum = 0.0, num = 0.0;
    int64_t g, c;
    const double *smooth = st + groups * 4 * C + SEGLOSS__ST_TAIL; /* with eps > 0 */
    const double soft = st[groups * 4 * C + 2]; /* per-channel targets: sum_V m */
    const double eps = soft > 0.0 ? 0.0 : p->eps; /* (smoothing is in their L already) */
    for (c = 0; c < C; c++) {
        double nc = 0.0, lc = 0.0, w = 1.0;
        for (g = 0; g < groups; g++) {
            nc += st[(g * 4 + SEGLOSS__ST_N) * C + c];
            lc += st[(g * 4 + SEGLOSS__ST_L) * C + c];
        }
        if (eps > 0.0) lc = fma(1.0 - eps, lc, eps / (double)C * smooth[c]);
        if (cfg->class_weights) w = cfg->class_weights[c];
        else if (cfg->use_class_weighting) w = nc > 0.0 ? total / nc : 0.0;
        if (wcoef) wcoef[c] = (float)w; /* scaled below */
        wsum = fma(w, nc, wsum);
        num = fma(w, lc, num);
    }
    if (soft > 0.0) wsum = soft; /* F.cross_entropy's mean with probability targets: over positions */
    if (wcoef)
        for (c = 0; c < C; c++)
            wcoef[c] = (float)(p->mean ? (wsum > 0.0 ? p->fw * wcoef[c] / wsum : 0.0) : p->fw * wcoef[c]);
    if (scale) *scale = (float)(p->mean ? wsum / p->fw : 1.0 / p->fw);
    if (sw && eps > 0.0)
        for (c = 0; c < C; c++) sw[c] = (float)(-eps / (double)C * wcoef[c]);
    return p->mean ? (wsum > 0.0 ? num / wsum : 0.0) : num;
}

/* The sigmoid CE-family term and sk. total: the sum of the valid positions' weights; the mean
   is over C of every valid position's elements. */
SEGLOSS__PRIVATE double segloss__finish_sigmoid_ce(const segloss_config *cfg, const segloss__plan *p, const double *st,
                                                   int64_t groups, int64_t C, double total, float *sk)
{
    const double norm = p->mean ? (total > 0.0 ? 1.0 / ((double)C * total) : 0.0) : 1.0;
    double num = 0.0;
    int64_t g, c;
    for (c = 0; c < C; c++) {
        double G = 0.0, ln = 0.0, lp = 0.0, pw = 1.0;
        const double w = cfg->class_weights ? cfg->class_weights[c] : 1.0;
        for (g = 0; g < groups; g++) {
            G += st[(g * 4 + SEGLOSS__ST_N) * C + c];
            ln += st[(g * 4 + SEGLOSS__ST_L) * C + c];
            if (!p->focal) lp += st[(g * 4 + SEGLOSS__ST_I) * C + c];
        }
        if (!p->focal) {
            if (cfg->pos_weight) pw = cfg->pos_weight[c];
            else if (cfg->use_class_weighting) pw = G > 0.0 ? (total - G) / G : 1.0;
        }
        num = fma(w, fma(pw, lp, ln), num);
        if (sk) {
            sk[c] = (float)(p->fw * w * norm);
            sk[C + c] = (float)(p->fw * w * pw * norm);
            sk[2 * C + c] = (float)w;
            sk[3 * C + c] = (float)(w * pw);
        }
    }
    return num * norm;
}

/* The generalized Dice of one group (MONAI's GeneralizedDiceLoss): its loss 1 - GD, and the
   coefficients A, B of its classes in K, for k groups in the mean (1 for SUM). */
SEGLOSS__PRIVATE double segloss__finish_gdl(const segloss_config *cfg, const double *gs, int64_t C, int64_t c0,
                                            double k, double dw, float *A, float *B)
{
    const double s = cfg->dice_smooth;
    double vmax = 0.0, nu = s, de = s;
    int64_t c;
    for (c = c0; c < C; c++) {
        const double G = gs[c];
        if (G > 0.0 && 1.0 / (G * G) > vmax) vmax = 1.0 / (G * G);
    }
    for (c = c0; c < C; c++) { /* the sums first: A and B need both */
        const double G = gs[c], v = G > 0.0 ? 1.0 / (G * G) : vmax;
        nu = fma(2.0 * v, gs[SEGLOSS__ST_I * C + c], nu);
        de = fma(v, gs[SEGLOSS__ST_P * C + c] + G, de);
    }
    for (c = 0; c < C && A; c++) {
        const double G = gs[c], v = G > 0.0 ? 1.0 / (G * G) : vmax;
        A[c] = B[c] = 0.0f;
        if (c >= c0 && de > 0.0) {
            A[c] = (float)(dw * v * nu / (k * de * de));
            B[c] = (float)(-dw * 2.0 * v / (k * de));
        }
    }
    return de > 0.0 ? 1.0 - nu / de : 0.0; /* 0/0: nothing to find and nothing found */
}

SEGLOSS__PRIVATE void segloss__finish(const segloss_config *cfg, const segloss__plan *p, const double *st,
                                      int64_t groups, int64_t C, segloss__terms *out, segloss__coefs *k)
{
    const int mean = p->mean;
    const double fw = p->fw, dw = p->dw;
    const double *tail = st + groups * 4 * C;
    int64_t g, c;
    out->valid = (int64_t)tail[0];
    out->ce = out->dice = 0.0;
    if (p->ce && p->sig) out->ce = segloss__finish_sigmoid_ce(cfg, p, st, groups, C, tail[1], k ? k->sk : NULL);
    else if (p->ce) out->ce = segloss__finish_softmax_ce(cfg, p, st, groups, C, tail[1], k ? k->wcoef : NULL,
                                                       k ? &k->each_scale : NULL, k ? k->sk : NULL);
    if (k && k->wcoef && !(p->ce && !p->sig))
        for (c = 0; c < C; c++) k->wcoef[c] = 0.0f;
    if (p->dice) {
        const int64_t c0 = cfg->include_background ? 0 : 1, nk = C - c0;
        const double kk = mean ? (double)(p->gdl ? groups : groups * nk) : 1.0;
        const double s = cfg->dice_smooth;
        const int tv = p->tversky;
        const double al = tv ? cfg->tversky_alpha : 0.5, be = tv ? cfg->tversky_beta : 0.5;
        float *A = k ? k->A : NULL, *B = k ? k->B : NULL, *each = k ? k->each : NULL;
        double sum = 0.0;
        for (g = 0; g < groups; g++) {
            const double *gs = st + g * 4 * C;
            if (p->gdl) {
                const double l = segloss__finish_gdl(cfg, gs, C, c0, kk, dw, A ? A + g * C : NULL, B ? B + g * C : NULL);
                sum += l;
                if (each) each[g] = (float)l;
                continue;
            }
            for (c = 0; c < C; c++) {
                double si = gs[SEGLOSS__ST_I * C + c], sp = gs[SEGLOSS__ST_P * C + c], sg = gs[c];
                double numr, den, a = 0.0, b = 0.0, l = 0.0;
                if (c >= c0) {
                    /* Dice: D = (2I + s)/(P + G + s); Tversky: T = (I + s)/(I + al FP + be FN + s) */
                    numr = tv ? si + s : fma(2.0, si, s);
                    den = tv ? fma(1.0 - al - be, si, fma(al, sp, fma(be, sg, s))) : sp + sg + s;
                    if (den > 0.0) {
                        l = 1.0 - numr / den;
                        if (tv) {
                            a = dw * al * numr / (kk * den * den);
                            b = -dw * fma(al + be - 1.0, numr, den) / (kk * den * den);
                        } else {
                            a = dw * numr / (kk * den * den);
                            b = -dw * 2.0 / (kk * den);
                        }
                    } /* 0/0: nothing to find and nothing found, a perfect score (D = 1) */
                    sum += l;
                    if (each) each[g * nk + c - c0] = (float)l;
                }
                if (A) { A[g * C + c] = (float)a; B[g * C + c] = (float)b; }
            }
        }
        out->dice = nk > 0 ? (mean ? sum / kk : sum) : 0.0;
    }
    out->loss = p->ce && p->dice ? fma(fw, out->ce, dw * out->dice) : p->dice ? out->dice : out->ce;
}

SEGLOSS__PRIVATE void segloss__report(segloss_result *out, const segloss__terms *t, segloss_status st, int64_t bad)
{
    if (st != SEGLOSS_OK) {
        out->loss = out->ce_term = out->dice_term = NAN;
        out->valid = 0;
        out->bad_position = bad;
        return;
    }
    out->loss = t->loss;
    out->ce_term = t->ce;
    out->dice_term = t->dice;
    out->valid = t->valid;
    out->bad_position = -1;
}

/* ---- phase 3: backward -------------------------------------------------------------------- */

SEGLOSS__PRIVATE segloss_status segloss__backward(const segloss_config *cfg, const segloss__plan *p, const segloss_input *in,
                                                  int64_t group0, const segloss__coefs *k, float *grad, double *loss,
                                                  float *each)
{
    segloss__job j;
    memset(&j, 0, sizeof j);
    j.in = in;
    j.ignore = cfg->ignore_index;
    j.fn = p->sig ? segloss__table()->sigmoid
         : SEGLOSS__DENSE(in->label_type) ? segloss__table()->soft_targets : segloss__table()->grad;
    j.ce = p->ce;
    j.gamma = p->gamma;
    j.group0 = group0;
    j.grad = grad;
    j.wcoef = k->wcoef;
    j.A = p->dice ? k->A : NULL;
    j.B = p->dice ? k->B : NULL;
    j.loss = loss;
    j.stream = segloss__past_caches(in);
    j.sig = p->sig;
    j.gamma_term = p->focal;
    j.sk = k->sk;
    j.alpha = cfg->focal_alpha;
    j.each = each;
    j.each_scale = k->each_scale;
    j.map = cfg->weight_map;
    j.eps = p->eps;
    if (!p->sig && SEGLOSS__DENSE(in->label_type)) j.sk = k->wcoef; /* the soft-target kernel's weights */
    else if (!p->sig && p->ce && p->eps > 0.0f) j.sw = k->sk;
    return segloss__run(&j); /* each chunk fences its own streamed stores */
}

/* The CE-family term goes to backward (segloss_backward_loss) wherever backward computes it:
   ce, weighted_ce and focal always, focal_dice when focal_weight > 0 (segloss_compute with
   a gradient; without one only the CE family's backward pass runs). */
SEGLOSS__PRIVATE int segloss__ce_in_backward(const segloss__plan *p) { return p->ce_only || (p->ce && p->dice && p->fw > 0.0); }

/* Scratch for one call: statistics (len doubles, zeroed), then the coefficients: wcoef[C],
   sk[4C], A and B[G x C], and room for the Dice family's unreduced terms (G x C at most). */
SEGLOSS__PRIVATE double *segloss__scratch(int64_t stats_len, int64_t C, int64_t groups, segloss__coefs *k)
{
    size_t bytes = (size_t)stats_len * sizeof(double) + (size_t)(5 * C + 3 * groups * C) * sizeof(float);
    double *st = (double *)SEGLOSS_MALLOC(bytes);
    if (!st) return NULL;
    memset(st, 0, (size_t)stats_len * sizeof(double));
    k->wcoef = (float *)(st + stats_len);
    k->sk = k->wcoef + C;
    k->A = k->sk + 4 * C;
    k->B = k->A + groups * C;
    k->each = NULL;
    k->each_scale = 1.0f;
    return st;
}

/* ---- the API ----------------------------------------------------------------------------- */

SEGLOSS__API int64_t segloss_unreduced_len(const segloss_config *cfg, const segloss_input *in)
{
    segloss__plan p;
    if (!cfg || !in || segloss__check_config(cfg) != SEGLOSS_OK || segloss__check_input(in) != SEGLOSS_OK ||
        cfg->loss_type == SEGLOSS_FOCAL_DICE)
        return 0;
    p = segloss__plan_for(cfg);
    if (p.ce_only) return p.sig ? in->n * in->c * in->s : in->n * in->s;
    if (p.gdl) return segloss__groups(&p, in->n);
    return in->c - (cfg->include_background ? 0 : 1) > 0 ? segloss__groups(&p, in->n) * (in->c - (cfg->include_background ? 0 : 1)) : 0;
}

SEGLOSS__PRIVATE segloss_status segloss__compute(const segloss_config *cfg, const segloss_input *in, float *grad,
                                                 float *terms, segloss_result *out)
{
    segloss_status st;
    segloss__plan p;
    segloss__terms t;
    segloss__coefs k;
    int64_t groups, len, bad = -1;
    int ce_in_backward;
    double *stats, ce = 0.0;
    memset(&t, 0, sizeof t);
    if (!cfg || !in || !out) return SEGLOSS_ERR_NULL;
    if ((st = segloss__check_config(cfg)) != SEGLOSS_OK || (st = segloss__check_input(in)) != SEGLOSS_OK ||
        (st = segloss__check_fit(cfg, in)) != SEGLOSS_OK || (st = segloss__check_alias(in, grad)) != SEGLOSS_OK) {
        segloss__report(out, &t, st, -1);
        return st;
    }
    p = segloss__plan_for(cfg);
    /* The CE-family term is summed by the backward pass wherever that pass runs anyway: for CE
       and focal always (one pass over the logits, with the gradient or for the loss alone), for
       focal_dice with a gradient (its focal log is computed there anyway), so the statistics
       pass skips it. The CE family needs only the label counts before that pass. */
    ce_in_backward = segloss__ce_in_backward(&p) && (grad || p.ce_only);
    groups = segloss__groups(&p, in->n);
    len = groups * 4 * in->c + segloss__extra(&p, in->c);
    if (!(stats = segloss__scratch(len, in->c, groups, &k))) {
        segloss__report(out, &t, SEGLOSS_ERR_NOMEM, -1);
        return SEGLOSS_ERR_NOMEM;
    }
    /* the Dice family's unreduced terms come from the statistics: into scratch, copied on success */
    if (terms && p.dice) k.each = (float *)(k.B + groups * in->c);
    st = segloss__accumulate(cfg, &p, in, segloss__group0(&p, 0), stats, stats + groups * 4 * in->c,
                             p.ce_only ? SEGLOSS__COUNTS : ce_in_backward ? SEGLOSS__STATS_NO_CE : SEGLOSS__STATS, &bad);
    if (st == SEGLOSS_OK) {
        segloss__finish(cfg, &p, stats, groups, in->c, &t, &k);
        if (grad || p.ce_only)
            st = segloss__backward(cfg, &p, in, segloss__group0(&p, 0), &k, grad, ce_in_backward ? &ce : NULL,
                                   p.ce_only ? terms : NULL);
        if (st == SEGLOSS_OK && ce_in_backward) { /* fw is in the coefficients: the pass summed fw * the term */
            t.ce = ce / p.fw;
            t.loss = fma(p.dw, t.dice, ce);
        }
        if (st == SEGLOSS_OK && terms && k.each) memcpy(terms, k.each, (size_t)segloss_unreduced_len(cfg, in) * sizeof(float));
    }
    SEGLOSS_FREE(stats);
    segloss__report(out, &t, st, bad);
    return st;
}

SEGLOSS__API segloss_status segloss_compute(const segloss_config *cfg, const segloss_input *in, float *grad,
                                            segloss_result *out)
{
    return segloss__compute(cfg, in, grad, NULL, out);
}

SEGLOSS__API segloss_status segloss_compute_unreduced(const segloss_config *cfg, const segloss_input *in, float *grad,
                                                      float *terms, segloss_result *out)
{
    segloss_status st = SEGLOSS_OK;
    if (!cfg || !in || !out) return SEGLOSS_ERR_NULL;
    if (!terms) st = SEGLOSS_ERR_NULL;
    else if (segloss__check_config(cfg) == SEGLOSS_OK && cfg->loss_type == SEGLOSS_FOCAL_DICE) st = SEGLOSS_ERR_PARAM;
    if (st != SEGLOSS_OK) {
        segloss__terms t;
        memset(&t, 0, sizeof t);
        segloss__report(out, &t, st, -1);
        return st;
    }
    return segloss__compute(cfg, in, grad, terms, out);
}

SEGLOSS__PRIVATE segloss_status segloss__check_slice(const segloss_config *cfg, const segloss_input *slice,
                                                     int64_t first, const segloss_stats *stats)
{
    segloss_status st;
    if ((st = segloss__check_config(cfg)) != SEGLOSS_OK || (st = segloss__check_input(slice)) != SEGLOSS_OK)
        return st;
    if (!stats || !stats->sum) return SEGLOSS_ERR_NULL;
    if (stats->c != slice->c || stats->n <= 0 || first < 0 || first > stats->n - slice->n) return SEGLOSS_ERR_STATS;
    return segloss__check_fit(cfg, slice);
}

SEGLOSS__PRIVATE segloss_status segloss__accumulate_api(const segloss_config *cfg, const segloss_input *slice,
                                                        int64_t first_sample, segloss_stats *stats, int labels_only);

SEGLOSS__API segloss_status segloss_accumulate(const segloss_config *cfg, const segloss_input *slice,
                                               int64_t first_sample, segloss_stats *stats)
{
    return segloss__accumulate_api(cfg, slice, first_sample, stats, 0);
}

SEGLOSS__API segloss_status segloss_accumulate_labels(const segloss_config *cfg, const segloss_input *slice,
                                                      int64_t first_sample, segloss_stats *stats)
{
    return segloss__accumulate_api(cfg, slice, first_sample, stats, 1);
}

SEGLOSS__PRIVATE segloss_status segloss__accumulate_api(const segloss_config *cfg, const segloss_input *slice,
                                                        int64_t first_sample, segloss_stats *stats, int labels_only)
{
    segloss_status st = segloss__check_slice(cfg, slice, first_sample, stats);
    segloss__plan p;
    segloss__coefs k;
    int64_t groups, len, i, bad;
    double *tmp;
    if (st != SEGLOSS_OK) return st;
    p = segloss__plan_for(cfg);
    /* into scratch first, so that an error leaves the caller's sums untouched */
    groups = segloss__groups(&p, slice->n);
    len = groups * 4 * slice->c;
    if (!(tmp = segloss__scratch(len + segloss__extra(&p, slice->c), slice->c, 0, &k))) return SEGLOSS_ERR_NOMEM;
    st = segloss__accumulate(cfg, &p, slice, segloss__group0(&p, 0), tmp, tmp + len,
                             !labels_only || !segloss__ce_in_backward(&p) ? SEGLOSS__STATS
                             : p.ce_only ? SEGLOSS__LABELS : SEGLOSS__STATS_NO_CE, &bad);
    if (st == SEGLOSS_OK) {
        double *dst = stats->sum + (p.per_sample ? first_sample * 4 * slice->c : 0);
        double *tail = stats->sum + segloss__groups(&p, stats->n) * 4 * slice->c;
        for (i = 0; i < len; i++) dst[i] += tmp[i];
        for (i = 0; i < segloss__extra(&p, slice->c); i++) tail[i] += tmp[len + i];
    }
    SEGLOSS_FREE(tmp);
    return st;
}

SEGLOSS__API segloss_status segloss_finish(const segloss_config *cfg, const segloss_stats *stats, segloss_result *out)
{
    segloss_status st;
    segloss__plan p;
    segloss__terms terms;
    if (!cfg || !stats || !out) return SEGLOSS_ERR_NULL;
    st = segloss__check_config(cfg);
    if (st == SEGLOSS_OK && !stats->sum) st = SEGLOSS_ERR_NULL;
    if (st == SEGLOSS_OK && (stats->n <= 0 || stats->c <= 0 || stats->c > INT32_MAX)) st = SEGLOSS_ERR_STATS;
    if (st == SEGLOSS_OK) st = segloss__check_weights(cfg, stats->c);
    if (st != SEGLOSS_OK) {
        segloss__report(out, &terms, st, -1);
        return st;
    }
    p = segloss__plan_for(cfg);
    segloss__finish(cfg, &p, stats->sum, segloss__groups(&p, stats->n), stats->c, &terms, NULL);
    segloss__report(out, &terms, SEGLOSS_OK, -1);
    return SEGLOSS_OK;
}

SEGLOSS__PRIVATE segloss_status segloss__backward_api(const segloss_config *cfg, const segloss_input *slice,
                                                     int64_t first_sample, const segloss_stats *stats, float *grad,
                                                     double *loss);

SEGLOSS__API segloss_status segloss_backward(const segloss_config *cfg, const segloss_input *slice,
                                             int64_t first_sample, const segloss_stats *stats, float *grad)
{
    return segloss__backward_api(cfg, slice, first_sample, stats, grad, NULL);
}

SEGLOSS__API segloss_status segloss_backward_loss(const segloss_config *cfg, const segloss_input *slice,
                                                  int64_t first_sample, const segloss_stats *stats, float *grad,
                                                  double *loss)
{
    if (!loss) return SEGLOSS_ERR_NULL;
    return segloss__backward_api(cfg, slice, first_sample, stats, grad, loss);
}

SEGLOSS__PRIVATE segloss_status segloss__backward_api(const segloss_config *cfg, const segloss_input *slice,
                                                     int64_t first_sample, const segloss_stats *stats, float *grad,
                                                     double *loss)
{
    segloss_status st = segloss__check_slice(cfg, slice, first_sample, stats);
    segloss__plan p;
    segloss__terms terms;
    segloss__coefs k;
    int64_t groups, bad;
    double *scratch;
    if (st == SEGLOSS_OK && !grad) st = SEGLOSS_ERR_NULL;
    if (st == SEGLOSS_OK) st = segloss__check_alias(slice, grad);
    if (st != SEGLOSS_OK) return st;
    p = segloss__plan_for(cfg);
    st = segloss__scan_labels(slice, cfg->ignore_index, p.sig, cfg->weight_map, -1, NULL, NULL, 0, &bad);
    if (st != SEGLOSS_OK) return st;
    groups = segloss__groups(&p, stats->n);
    if (!(scratch = segloss__scratch(0, stats->c, groups, &k))) return SEGLOSS_ERR_NOMEM;
    segloss__finish(cfg, &p, stats->sum, groups, stats->c, &terms, &k);
    {
        /* backward_loss: the slice's share of fw * the CE-family term, where backward sums it */
        double part = 0.0;
        const int want = loss && segloss__ce_in_backward(&p);
        st = segloss__backward(cfg, &p, slice, segloss__group0(&p, first_sample), &k, grad, want ? &part : NULL, NULL);
        if (st == SEGLOSS_OK && want) *loss += part;
    }
    SEGLOSS_FREE(scratch);
    return st;
}

#endif /* SEGLOSS__DRIVER_H */
