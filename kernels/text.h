/* ---- kernels/text.h: loss names, configuration text, the "Loss Configuration:" printout ---- */
#ifndef SEGLOSS__TEXT_H
#define SEGLOSS__TEXT_H
#include "driver.h"

/* Configuration text (segloss_config_parse)
   ----------------------------------------
   Entries are   key=value   separated by commas and/or newlines; a trailing comma is fine and
   whitespace may appear anywhere between tokens. '#' starts a comment to the end of the line
   (outside quotes). Values may be quoted with '...' or "..." (no escapes) or bare.
       keys:       every segloss_config field by name (loss_type, focal_gamma, focal_weight,
                   dice_weight, dice_smooth, tversky_alpha, tversky_beta, use_class_weighting,
                   ignore_index, include_background, per_sample, reduction, check_finite) and
                   the loss guide's short names gamma, smooth, alpha, beta.
       booleans:   True False true false 1 0.      reduction: mean | sum.
       numbers:    strtod syntax, finite (parsed in the C locale's notation: '.' decimal point).
       ignore_index: a decimal 64-bit integer.
   loss_type is applied first wherever it appears: the result is segloss_config_init(cfg, type)
   (type 'ce' when absent) with the other keys applied on top. A key given twice (including a
   short name and its long name) is an error. class_weights cannot be given as text: pass a
   float array in code. The printout of segloss_config_format parses too: "Key words: value"
   lines (e.g. "  - Focal gamma: 2.0") and the "Loss Configuration:" title line are accepted,
   and "key: value" works for the field names as well. On any error *cfg is left untouched
   and err receives one line naming the key or the offending text. */

SEGLOSS__API const char *segloss_loss_name(segloss_loss_type loss_type)
{
    switch (loss_type) {
    case SEGLOSS_CE: return "ce";
    case SEGLOSS_WEIGHTED_CE: return "weighted_ce";
    case SEGLOSS_FOCAL: return "focal";
    case SEGLOSS_DICE: return "dice";
    case SEGLOSS_FOCAL_DICE: return "focal_dice";
    case SEGLOSS_TVERSKY: return "tversky";
    default: break;
    }
    return NULL;
}

SEGLOSS__API segloss_status segloss_loss_from_name(const char *name, segloss_loss_type *out)
{
    int i;
    if (!name || !out) return SEGLOSS_ERR_NULL;
    for (i = 0; i < SEGLOSS_LOSS_COUNT; i++) {
        const char *s = segloss_loss_name((segloss_loss_type)i);
        if (s && strcmp(s, name) == 0) {
            *out = (segloss_loss_type)i;
            return SEGLOSS_OK;
        }
    }
    return SEGLOSS_ERR_ENUM;
}

/* Field ids of the keys. */
enum {
    SEGLOSS__K_LOSS_TYPE = 0, SEGLOSS__K_FOCAL_GAMMA, SEGLOSS__K_FOCAL_WEIGHT, SEGLOSS__K_DICE_WEIGHT,
    SEGLOSS__K_DICE_SMOOTH, SEGLOSS__K_TVERSKY_ALPHA, SEGLOSS__K_TVERSKY_BETA,
    SEGLOSS__K_USE_CLASS_WEIGHTING, SEGLOSS__K_IGNORE_INDEX, SEGLOSS__K_INCLUDE_BACKGROUND,
    SEGLOSS__K_PER_SAMPLE, SEGLOSS__K_REDUCTION, SEGLOSS__K_CHECK_FINITE, SEGLOSS__K_CLASS_WEIGHTS,
    SEGLOSS__K_COUNT
};

typedef struct segloss__tx_key {
    const char *name;
    int field;
    int label;   /* 1: a printout label ("Focal gamma"), only valid before ':' */
} segloss__tx_key;

static const segloss__tx_key segloss__tx_keys[] = {
    { "loss_type", SEGLOSS__K_LOSS_TYPE, 0 },
    { "focal_gamma", SEGLOSS__K_FOCAL_GAMMA, 0 },
    { "focal_weight", SEGLOSS__K_FOCAL_WEIGHT, 0 },
    { "dice_weight", SEGLOSS__K_DICE_WEIGHT, 0 },
    { "dice_smooth", SEGLOSS__K_DICE_SMOOTH, 0 },
    { "tversky_alpha", SEGLOSS__K_TVERSKY_ALPHA, 0 },
    { "tversky_beta", SEGLOSS__K_TVERSKY_BETA, 0 },
    { "use_class_weighting", SEGLOSS__K_USE_CLASS_WEIGHTING, 0 },
    { "ignore_index", SEGLOSS__K_IGNORE_INDEX, 0 },
    { "include_background", SEGLOSS__K_INCLUDE_BACKGROUND, 0 },
    { "per_sample", SEGLOSS__K_PER_SAMPLE, 0 },
    { "reduction", SEGLOSS__K_REDUCTION, 0 },
    { "check_finite", SEGLOSS__K_CHECK_FINITE, 0 },
    { "class_weights", SEGLOSS__K_CLASS_WEIGHTS, 0 },
    /* the loss guide's short names */
    { "gamma", SEGLOSS__K_FOCAL_GAMMA, 0 },
    { "smooth", SEGLOSS__K_DICE_SMOOTH, 0 },
    { "alpha", SEGLOSS__K_TVERSKY_ALPHA, 0 },
    { "beta", SEGLOSS__K_TVERSKY_BETA, 0 },
    /* the labels of segloss_config_format's printout */
    { "Loss type", SEGLOSS__K_LOSS_TYPE, 1 },
    { "Focal gamma", SEGLOSS__K_FOCAL_GAMMA, 1 },
    { "Focal weight", SEGLOSS__K_FOCAL_WEIGHT, 1 },
    { "Dice weight", SEGLOSS__K_DICE_WEIGHT, 1 },
    { "Dice smooth", SEGLOSS__K_DICE_SMOOTH, 1 },
    { "Tversky alpha", SEGLOSS__K_TVERSKY_ALPHA, 1 },
    { "Tversky beta", SEGLOSS__K_TVERSKY_BETA, 1 },
    { "Class weights", SEGLOSS__K_CLASS_WEIGHTS, 1 }
};

typedef struct segloss__tx_entry {
    const char *key, *val;
    int key_len, val_len;
    int colon;   /* written "key: value" rather than "key=value" */
} segloss__tx_entry;

SEGLOSS__PRIVATE int segloss__tx_is_key_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_';
}

SEGLOSS__PRIVATE int segloss__tx_is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v';
}

/* Writes "what 'shown'what2" into err, shown cut to 40 bytes. */
SEGLOSS__PRIVATE void segloss__tx_err(char *err, size_t err_size, const char *what, const char *shown, int shown_len,
                            const char *what2)
{
    if (!err || err_size == 0) return;
    if (shown_len > 40) shown_len = 40;
    if (shown_len < 0) shown_len = 0;
    snprintf(err, err_size, "%s'%.*s'%s", what, shown_len, shown ? shown : "", what2);
}

/* Next entry: 1 found, 0 end of text, -1 syntax error (err written). */
SEGLOSS__PRIVATE int segloss__tx_next(const char **pp, segloss__tx_entry *e, char *err, size_t err_size)
{
    const char *p = *pp, *k;
    int n;
    for (;;) {
        while (segloss__tx_is_blank(*p) || *p == '\n' || *p == ',') p++;
        if (*p == '#') {
            while (*p && *p != '\n') p++;
            continue;
        }
        break;
    }
    if (!*p) {
        *pp = p;
        return 0;
    }
    if (*p == '-' && segloss__tx_is_blank(p[1])) { /* a printout bullet "  - Loss type: ce" */
        p++;
        while (segloss__tx_is_blank(*p)) p++;
    }
    if (!segloss__tx_is_key_char(*p)) {
        for (n = 0; p[n] && p[n] != '\n' && n < 20; n++) {}
        segloss__tx_err(err, err_size, "expected a key at ", p, n, "");
        return -1;
    }
    /* a key: an identifier, or words separated by single spaces (printout labels like "Focal gamma") */
    k = p;
    while (segloss__tx_is_key_char(*p) || (*p == ' ' && isalpha((unsigned char)p[1]) && p > k)) p++;
    e->key = k;
    e->key_len = (int)(p - k);
    while (segloss__tx_is_blank(*p)) p++;
    if (*p != '=' && *p != ':') {
        segloss__tx_err(err, err_size, "expected '=' after key ", e->key, e->key_len, "");
        return -1;
    }
    e->colon = *p == ':';
    p++;
    while (segloss__tx_is_blank(*p)) p++;
    if (*p == '\'' || *p == '"') {
        char q = *p++;
        e->val = p;
        while (*p && *p != q && *p != '\n') p++;
        if (*p != q) {
            segloss__tx_err(err, err_size, "unterminated quote in the value of key ", e->key, e->key_len, "");
            return -1;
        }
        e->val_len = (int)(p - e->val);
        p++;
    } else if (*p == '[' || *p == '(') {
        char close = *p == '[' ? ']' : ')';
        e->val = p;
        while (*p && *p != close && *p != '\n') p++;
        if (*p != close) {
            segloss__tx_err(err, err_size, "unterminated list in the value of key ", e->key, e->key_len, "");
            return -1;
        }
        p++;
        e->val_len = (int)(p - e->val);
    } else {
        e->val = p;
        while (*p && !segloss__tx_is_blank(*p) && *p != '\n' && *p != ',' && *p != '#') p++;
        e->val_len = (int)(p - e->val);
    }
    while (segloss__tx_is_blank(*p)) p++;
    if (*p && *p != ',' && *p != '\n' && *p != '#') {
        for (n = 0; p[n] && p[n] != '\n' && n < 20; n++) {}
        segloss__tx_err(err, err_size, "unexpected ", p, n, "");
        if (err && err_size) {
            size_t used = strlen(err);
            if (used < err_size)
                snprintf(err + used, err_size - used, " after the value of key '%.*s'",
                         e->key_len > 40 ? 40 : e->key_len, e->key);
        }
        return -1;
    }
    *pp = p;
    return 1;
}

SEGLOSS__PRIVATE int segloss__tx_eq(const char *s, int len, const char *lit)
{
    return (int)strlen(lit) == len && strncmp(s, lit, (size_t)len) == 0;
}

/* Value parsers: 1 ok, 0 bad. */
SEGLOSS__PRIVATE int segloss__tx_float(const char *s, int len, float *out)
{
    char tmp[64];
    char *end;
    double v;
    if (len <= 0 || len >= (int)sizeof tmp) return 0;
    memcpy(tmp, s, (size_t)len);
    tmp[len] = 0;
    if (isspace((unsigned char)tmp[0])) return 0;
    v = strtod(tmp, &end);
    if (end != tmp + len) return 0;
    if (!(v == v) || v > FLT_MAX || v < -FLT_MAX) return 0; /* NaN, inf, beyond float */
    *out = (float)v;
    return 1;
}

SEGLOSS__PRIVATE int segloss__tx_bool(const char *s, int len, int *out)
{
    if (segloss__tx_eq(s, len, "True") || segloss__tx_eq(s, len, "true") || segloss__tx_eq(s, len, "1")) {
        *out = 1;
        return 1;
    }
    if (segloss__tx_eq(s, len, "False") || segloss__tx_eq(s, len, "false") || segloss__tx_eq(s, len, "0")) {
        *out = 0;
        return 1;
    }
    return 0;
}

SEGLOSS__PRIVATE int segloss__tx_int64(const char *s, int len, int64_t *out)
{
    int i = 0, neg = 0;
    uint64_t v = 0, lim;
    if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i >= len) return 0;
    lim = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9') return 0;
        d = (unsigned)(s[i] - '0');
        if (v > (lim - d) / 10u) return 0;
        v = v * 10u + d;
    }
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return 1;
}

SEGLOSS__API segloss_status segloss_config_parse(const char *text, segloss_config *cfg, char *err, size_t err_size)
{
    segloss_config parsed, result;
    segloss_loss_type type = SEGLOSS_CE;
    segloss__tx_entry e;
    const char *p = text;
    unsigned seen = 0;
    int r;
    if (err && err_size) err[0] = 0;
    if (!text || !cfg) {
        if (err && err_size) snprintf(err, err_size, "%s", "NULL text or config");
        return SEGLOSS_ERR_NULL;
    }
    memset(&parsed, 0, sizeof parsed);
    while ((r = segloss__tx_next(&p, &e, err, err_size)) == 1) {
        const segloss__tx_key *key = NULL;
        size_t i;
        int ok = 1, f;
        float *fp = NULL;
        for (i = 0; i < sizeof segloss__tx_keys / sizeof segloss__tx_keys[0]; i++) {
            const segloss__tx_key *kk = &segloss__tx_keys[i];
            if ((!kk->label || e.colon) && segloss__tx_eq(e.key, e.key_len, kk->name)) {
                key = kk;
                break;
            }
        }
        if (!key) {
            if (e.colon && e.val_len == 0 && segloss__tx_eq(e.key, e.key_len, "Loss Configuration")) continue;
            segloss__tx_err(err, err_size, "unknown key ", e.key, e.key_len, "");
            return SEGLOSS_ERR_PARSE;
        }
        f = key->field;
        if (f == SEGLOSS__K_CLASS_WEIGHTS) {
            segloss__tx_err(err, err_size, "key ", e.key, e.key_len,
                            ": class weights must be passed as a float array in code (cfg.class_weights), not as text");
            return SEGLOSS_ERR_PARSE;
        }
        if (seen & (1u << f)) {
            segloss__tx_err(err, err_size, "duplicate key ", e.key, e.key_len, "");
            return SEGLOSS_ERR_PARSE;
        }
        seen |= 1u << f;
        switch (f) {
        case SEGLOSS__K_LOSS_TYPE: {
            char tmp[32];
            ok = e.val_len > 0 && e.val_len < (int)sizeof tmp;
            if (ok) {
                memcpy(tmp, e.val, (size_t)e.val_len);
                tmp[e.val_len] = 0;
                ok = segloss_loss_from_name(tmp, &type) == SEGLOSS_OK;
            }
            break;
        }
        case SEGLOSS__K_FOCAL_GAMMA: fp = &parsed.focal_gamma; break;
        case SEGLOSS__K_FOCAL_WEIGHT: fp = &parsed.focal_weight; break;
        case SEGLOSS__K_DICE_WEIGHT: fp = &parsed.dice_weight; break;
        case SEGLOSS__K_DICE_SMOOTH: fp = &parsed.dice_smooth; break;
        case SEGLOSS__K_TVERSKY_ALPHA: fp = &parsed.tversky_alpha; break;
        case SEGLOSS__K_TVERSKY_BETA: fp = &parsed.tversky_beta; break;
        case SEGLOSS__K_USE_CLASS_WEIGHTING: ok = segloss__tx_bool(e.val, e.val_len, &parsed.use_class_weighting); break;
        case SEGLOSS__K_INCLUDE_BACKGROUND: ok = segloss__tx_bool(e.val, e.val_len, &parsed.include_background); break;
        case SEGLOSS__K_PER_SAMPLE: ok = segloss__tx_bool(e.val, e.val_len, &parsed.per_sample); break;
        case SEGLOSS__K_CHECK_FINITE: ok = segloss__tx_bool(e.val, e.val_len, &parsed.check_finite); break;
        case SEGLOSS__K_IGNORE_INDEX: ok = segloss__tx_int64(e.val, e.val_len, &parsed.ignore_index); break;
        case SEGLOSS__K_REDUCTION:
            if (segloss__tx_eq(e.val, e.val_len, "mean")) parsed.reduction = SEGLOSS_MEAN;
            else if (segloss__tx_eq(e.val, e.val_len, "sum")) parsed.reduction = SEGLOSS_SUM;
            else ok = 0;
            break;
        default: ok = 0; break;
        }
        if (fp) ok = segloss__tx_float(e.val, e.val_len, fp);
        if (!ok) {
            if (err && err_size)
                snprintf(err, err_size, "bad value '%.*s' for key '%.*s'", e.val_len > 40 ? 40 : e.val_len, e.val,
                         e.key_len > 40 ? 40 : e.key_len, e.key);
            return SEGLOSS_ERR_PARSE;
        }
        if (fp && *fp < 0.0f) {
            if (err && err_size) /* "focal_gamma must be >= 0" */
                snprintf(err, err_size, "%.*s must be >= 0", e.key_len > 40 ? 40 : e.key_len, e.key);
            return SEGLOSS_ERR_PARSE;
        }
    }
    if (r < 0) return SEGLOSS_ERR_PARSE;

    segloss_config_init(&result, type);
    if (seen & (1u << SEGLOSS__K_FOCAL_GAMMA)) result.focal_gamma = parsed.focal_gamma;
    if (seen & (1u << SEGLOSS__K_FOCAL_WEIGHT)) result.focal_weight = parsed.focal_weight;
    if (seen & (1u << SEGLOSS__K_DICE_WEIGHT)) result.dice_weight = parsed.dice_weight;
    if (seen & (1u << SEGLOSS__K_DICE_SMOOTH)) result.dice_smooth = parsed.dice_smooth;
    if (seen & (1u << SEGLOSS__K_TVERSKY_ALPHA)) result.tversky_alpha = parsed.tversky_alpha;
    if (seen & (1u << SEGLOSS__K_TVERSKY_BETA)) result.tversky_beta = parsed.tversky_beta;
    if (seen & (1u << SEGLOSS__K_USE_CLASS_WEIGHTING)) result.use_class_weighting = parsed.use_class_weighting;
    if (seen & (1u << SEGLOSS__K_IGNORE_INDEX)) result.ignore_index = parsed.ignore_index;
    if (seen & (1u << SEGLOSS__K_INCLUDE_BACKGROUND)) result.include_background = parsed.include_background;
    if (seen & (1u << SEGLOSS__K_PER_SAMPLE)) result.per_sample = parsed.per_sample;
    if (seen & (1u << SEGLOSS__K_REDUCTION)) result.reduction = parsed.reduction;
    if (seen & (1u << SEGLOSS__K_CHECK_FINITE)) result.check_finite = parsed.check_finite;
    if (type == SEGLOSS_FOCAL_DICE && result.focal_weight == 0.0f && result.dice_weight == 0.0f) {
        if (err && err_size) snprintf(err, err_size, "%s", "focal_weight and dice_weight must not both be 0");
        return SEGLOSS_ERR_PARSE;
    }
    *cfg = result;
    return SEGLOSS_OK;
}

/* ---- printout ---- */

/* Output into a caller buffer with snprintf semantics (also used by metrics.h). */
typedef struct segloss__tx_out {
    char *buf;
    size_t size, len;
} segloss__tx_out;

SEGLOSS__PRIVATE void segloss__tx_puts(segloss__tx_out *o, const char *s)
{
    for (; *s; s++, o->len++)
        if (o->len + 1 < o->size) o->buf[o->len] = *s;
}

SEGLOSS__PRIVATE int segloss__tx_finish(segloss__tx_out *o)
{
    if (o->size > 0) o->buf[o->len < o->size ? o->len : o->size - 1] = 0;
    return o->len > (size_t)INT_MAX ? -1 : (int)o->len;
}

/* A parameter: one decimal when that reads back as the same float (2.0, 0.5, 1.0), else %g
   (0.25, 0.05), else "%.9g" so that the printout always parses back to the same value. */
SEGLOSS__PRIVATE void segloss__tx_param(char *tmp, size_t n, float v)
{
    snprintf(tmp, n, "%.1f", (double)v);
    if ((float)strtod(tmp, NULL) == v) return;
    snprintf(tmp, n, "%g", (double)v);
    if ((float)strtod(tmp, NULL) == v) return;
    snprintf(tmp, n, "%.9g", (double)v);
}

SEGLOSS__PRIVATE void segloss__tx_line(segloss__tx_out *o, const char *label, float v)
{
    char tmp[64];
    segloss__tx_param(tmp, sizeof tmp, v);
    segloss__tx_puts(o, "  - ");
    segloss__tx_puts(o, label);
    segloss__tx_puts(o, ": ");
    segloss__tx_puts(o, tmp);
    segloss__tx_puts(o, "\n");
}

/* Lines per loss type (each ends in '\n'):
       ce           Loss type [, Class weights]
       weighted_ce  Loss type [, Class weights]
       focal        Loss type, Focal gamma [, Class weights]
       dice         Loss type, Dice smooth
       focal_dice   Loss type, Focal gamma, Focal weight, Dice weight, Dice smooth [, Class weights]
       tversky      Loss type, Tversky alpha, Tversky beta, Dice smooth
   [Class weights] when weights != NULL ("%#.3g" each, space separated, in brackets); Dice and
   Tversky take no class weights, so none are printed for them. Returns -1 (and writes "" when
   size > 0) if cfg is NULL, the loss type unknown, or weights given with c <= 0. */
SEGLOSS__API int segloss_config_format(const segloss_config *cfg, const float *weights, int64_t c, char *buf,
                                       size_t size)
{
    segloss__tx_out o;
    const char *name;
    segloss_loss_type t;
    o.buf = buf;
    o.size = buf ? size : 0;
    o.len = 0;
    if (o.size > 0) buf[0] = 0;
    if (!cfg) return -1;
    t = cfg->loss_type;
    name = segloss_loss_name(t);
    if (!name) return -1;
    if (weights && (c <= 0 || c > (int64_t)(INT_MAX / 16))) return -1;
    segloss__tx_puts(&o, "Loss Configuration:\n  - Loss type: ");
    segloss__tx_puts(&o, name);
    segloss__tx_puts(&o, "\n");
    if (t == SEGLOSS_FOCAL || t == SEGLOSS_FOCAL_DICE) segloss__tx_line(&o, "Focal gamma", cfg->focal_gamma);
    if (t == SEGLOSS_FOCAL_DICE) {
        segloss__tx_line(&o, "Focal weight", cfg->focal_weight);
        segloss__tx_line(&o, "Dice weight", cfg->dice_weight);
    }
    if (t == SEGLOSS_TVERSKY) {
        segloss__tx_line(&o, "Tversky alpha", cfg->tversky_alpha);
        segloss__tx_line(&o, "Tversky beta", cfg->tversky_beta);
    }
    if (t == SEGLOSS_DICE || t == SEGLOSS_FOCAL_DICE || t == SEGLOSS_TVERSKY)
        segloss__tx_line(&o, "Dice smooth", cfg->dice_smooth);
    if (weights && t != SEGLOSS_DICE && t != SEGLOSS_TVERSKY) {
        int64_t k;
        char tmp[64];
        segloss__tx_puts(&o, "  - Class weights: [");
        for (k = 0; k < c; k++) {
            snprintf(tmp, sizeof tmp, k ? " %#.3g" : "%#.3g", (double)weights[k]);
            segloss__tx_puts(&o, tmp);
        }
        segloss__tx_puts(&o, "]\n");
    }
    return segloss__tx_finish(&o);
}

#endif /* SEGLOSS__TEXT_H */
