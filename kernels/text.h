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
                   ignore_index, include_background, per_sample, reduction, check_finite,
                   activation, label_smoothing, focal_alpha) and the loss guide's short names
                   gamma, smooth, alpha, beta (alpha is tversky_alpha: torchvision's focal
                   alpha is focal_alpha).
       booleans:   True False true false 1 0.      reduction: mean | sum.
       activation: softmax | sigmoid.
       numbers:    strtod syntax, finite (parsed in the C locale's notation: '.' decimal point);
                   parameters >= 0, label_smoothing in [0, 1], focal_alpha in [0, 1] or
                   negative (torchvision's -1) or None/none for no alpha.
       ignore_index: a decimal 64-bit integer.
   loss_type is applied first wherever it appears: the result is segloss_config_init(cfg, type)
   (type 'ce' when absent) with the other keys applied on top. A key given twice (including a
   short name and its long name) is an error. class_weights and pos_weight cannot be given as
   text: pass float arrays in code. A combination segloss_compute refuses whatever the input
   is fails here too: focal_dice with both weights 0, and label_smoothing > 0 with a softmax
   focal term of gamma > 0. The printout of segloss_config_format parses too: "Key words: value"
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
    case SEGLOSS_GENERALIZED_DICE: return "generalized_dice";
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

/* The value at *pp into e: quoted ('...' or "...", no escapes, within the line), a list kept
   whole with its brackets, commas and all (a printout's "Class weights: [...]" then reaches the
   key's own refusal instead of a syntax error), or a bare word. 1 ok, -1 error (err written). */
SEGLOSS__PRIVATE int segloss__tx_value(const char **pp, segloss__tx_entry *e, char *err, size_t err_size)
{
    const char *p = *pp;
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
    *pp = p;
    return 1;
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
    if (segloss__tx_value(&p, e, err, err_size) < 0) return -1;
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

/* Value parsers: 1 ok, 0 bad. Those of a whole field take void *out, as segloss__tx_fields holds them. */
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

SEGLOSS__PRIVATE int segloss__tx_bool(const char *s, int len, void *out)
{
    if (segloss__tx_eq(s, len, "True") || segloss__tx_eq(s, len, "true") || segloss__tx_eq(s, len, "1")) {
        *(int *)out = 1;
        return 1;
    }
    if (segloss__tx_eq(s, len, "False") || segloss__tx_eq(s, len, "false") || segloss__tx_eq(s, len, "0")) {
        *(int *)out = 0;
        return 1;
    }
    return 0;
}

SEGLOSS__PRIVATE int segloss__tx_int64(const char *s, int len, void *out)
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
        *(int64_t *)out = v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v;
    else
        *(int64_t *)out = (int64_t)v;
    return 1;
}

/* A parameter: a finite float, and >= 0 (-1: it parsed but is negative, which has its own message). */
SEGLOSS__PRIVATE int segloss__tx_nonneg(const char *s, int len, void *out)
{
    if (!segloss__tx_float(s, len, (float *)out)) return 0;
    return *(float *)out < 0.0f ? -1 : 1;
}

/* label_smoothing: a finite float in [0, 1] (-1: out of the range); -0 is stored as 0, the
   value the printout (which leaves 0 out) reads back. */
SEGLOSS__PRIVATE int segloss__tx_unit(const char *s, int len, void *out)
{
    if (!segloss__tx_float(s, len, (float *)out)) return 0;
    if (*(float *)out == 0.0f) *(float *)out = 0.0f;
    return *(float *)out >= 0.0f && *(float *)out <= 1.0f ? 1 : -1;
}

/* focal_alpha: [0, 1], or no alpha: any negative number (torchvision writes -1) or Python's
   None, stored as -1. -0 is not negative: it is alpha 0. */
SEGLOSS__PRIVATE int segloss__tx_alpha(const char *s, int len, void *out)
{
    if (segloss__tx_eq(s, len, "None") || segloss__tx_eq(s, len, "none")) {
        *(float *)out = -1.0f;
        return 1;
    }
    if (!segloss__tx_float(s, len, (float *)out)) return 0;
    return *(float *)out <= 1.0f ? 1 : -1;
}

SEGLOSS__PRIVATE int segloss__tx_activation(const char *s, int len, void *out)
{
    if (segloss__tx_eq(s, len, "softmax")) *(segloss_activation *)out = SEGLOSS_SOFTMAX;
    else if (segloss__tx_eq(s, len, "sigmoid")) *(segloss_activation *)out = SEGLOSS_SIGMOID;
    else return 0;
    return 1;
}

SEGLOSS__PRIVATE int segloss__tx_loss(const char *s, int len, void *out)
{
    char tmp[32];
    if (len <= 0 || len >= (int)sizeof tmp) return 0;
    memcpy(tmp, s, (size_t)len);
    tmp[len] = 0;
    return segloss_loss_from_name(tmp, (segloss_loss_type *)out) == SEGLOSS_OK;
}

SEGLOSS__PRIVATE int segloss__tx_reduction(const char *s, int len, void *out)
{
    if (segloss__tx_eq(s, len, "mean")) *(segloss_reduction *)out = SEGLOSS_MEAN;
    else if (segloss__tx_eq(s, len, "sum")) *(segloss_reduction *)out = SEGLOSS_SUM;
    else return 0;
    return 1;
}

/* One row per segloss_config field, with every spelling that names it, so that a short name and
   its long name are one key for the duplicate check (the row's bit in the parser's `seen`). */
typedef struct segloss__tx_field {
    const char *name, *short_name;
    const char *label;  /* segloss_config_format's printout label ("Focal gamma"): only as "label: value" */
    int (*parse)(const char *s, int len, void *out); /* 1 ok, 0 bad value, -1 out of range; NULL: not as text */
    size_t offset, size;
    const char *range;  /* what -1 means: "must be >= 0" when NULL */
    const char *valid;  /* appended to a bad value's message: the values there are (NULL: none) */
} segloss__tx_field;

#define SEGLOSS__TX_AT(f) offsetof(segloss_config, f), sizeof(((segloss_config *)0)->f)
static const segloss__tx_field segloss__tx_fields[] = {
    { "loss_type", NULL, "Loss type", segloss__tx_loss, SEGLOSS__TX_AT(loss_type), NULL,
      ": use 'ce', 'weighted_ce', 'focal', 'dice', 'focal_dice', 'tversky' or 'generalized_dice'" },
    { "focal_gamma", "gamma", "Focal gamma", segloss__tx_nonneg, SEGLOSS__TX_AT(focal_gamma), NULL, NULL },
    { "focal_weight", NULL, "Focal weight", segloss__tx_nonneg, SEGLOSS__TX_AT(focal_weight), NULL, NULL },
    { "dice_weight", NULL, "Dice weight", segloss__tx_nonneg, SEGLOSS__TX_AT(dice_weight), NULL, NULL },
    { "dice_smooth", "smooth", "Dice smooth", segloss__tx_nonneg, SEGLOSS__TX_AT(dice_smooth), NULL, NULL },
    { "tversky_alpha", "alpha", "Tversky alpha", segloss__tx_nonneg, SEGLOSS__TX_AT(tversky_alpha), NULL, NULL },
    { "tversky_beta", "beta", "Tversky beta", segloss__tx_nonneg, SEGLOSS__TX_AT(tversky_beta), NULL, NULL },
    { "use_class_weighting", NULL, NULL, segloss__tx_bool, SEGLOSS__TX_AT(use_class_weighting), NULL, NULL },
    { "ignore_index", NULL, NULL, segloss__tx_int64, SEGLOSS__TX_AT(ignore_index), NULL, NULL },
    { "include_background", NULL, "Include background", segloss__tx_bool, SEGLOSS__TX_AT(include_background), NULL,
      NULL },
    { "per_sample", NULL, "Per sample", segloss__tx_bool, SEGLOSS__TX_AT(per_sample), NULL, NULL },
    { "reduction", NULL, NULL, segloss__tx_reduction, SEGLOSS__TX_AT(reduction), NULL, NULL },
    { "check_finite", NULL, NULL, segloss__tx_bool, SEGLOSS__TX_AT(check_finite), NULL, NULL },
    { "activation", NULL, "Activation", segloss__tx_activation, SEGLOSS__TX_AT(activation), NULL,
      ": use 'softmax' or 'sigmoid'" },
    { "label_smoothing", NULL, "Label smoothing", segloss__tx_unit, SEGLOSS__TX_AT(label_smoothing),
      "must be in [0, 1]", NULL },
    { "focal_alpha", NULL, "Focal alpha", segloss__tx_alpha, SEGLOSS__TX_AT(focal_alpha),
      "must be in [0, 1], or -1 (None) for no alpha", NULL },
    /* known only to say why they are refused: the printout shows them, and text cannot carry
       the pointers */
    { "class_weights", NULL, "Class weights", NULL, SEGLOSS__TX_AT(class_weights), NULL, NULL },
    { "pos_weight", NULL, "Pos weight", NULL, SEGLOSS__TX_AT(pos_weight), NULL, NULL }
};
#define SEGLOSS__TX_FIELDS ((int)(sizeof segloss__tx_fields / sizeof segloss__tx_fields[0]))

/* The row e's key names, -1 if none. */
SEGLOSS__PRIVATE int segloss__tx_find(const segloss__tx_entry *e)
{
    int i;
    for (i = 0; i < SEGLOSS__TX_FIELDS; i++) {
        const segloss__tx_field *f = &segloss__tx_fields[i];
        if (segloss__tx_eq(e->key, e->key_len, f->name) ||
            (f->short_name && segloss__tx_eq(e->key, e->key_len, f->short_name)) ||
            (f->label && e->colon && segloss__tx_eq(e->key, e->key_len, f->label)))
            return i;
    }
    return -1;
}

/* One entry's value into its field of *parsed, marking the field in *seen: 1 done (or nothing
   to do), 0 error (err written). */
SEGLOSS__PRIVATE int segloss__tx_take(const segloss__tx_entry *e, segloss_config *parsed, unsigned *seen, char *err,
                                      size_t err_size)
{
    const int i = segloss__tx_find(e);
    const segloss__tx_field *f;
    int r;
    if (i < 0) {
        if (e->colon && e->val_len == 0 && segloss__tx_eq(e->key, e->key_len, "Loss Configuration"))
            return 1; /* the printout's title line */
        segloss__tx_err(err, err_size, "unknown key ", e->key, e->key_len, "");
        return 0;
    }
    f = &segloss__tx_fields[i];
    if (!f->parse) { /* "key 'Pos weight': pos weight must be passed as a float array in code (cfg.pos_weight)..." */
        char what[32];
        size_t k;
        for (k = 0; f->label[k] && k + 1 < sizeof what; k++) what[k] = (char)tolower((unsigned char)f->label[k]);
        what[k] = 0;
        segloss__tx_err(err, err_size, "key ", e->key, e->key_len, "");
        if (err && err_size) {
            size_t used = strlen(err);
            if (used < err_size)
                snprintf(err + used, err_size - used,
                         ": %s must be passed as a float array in code (cfg.%s), not as text", what, f->name);
        }
        return 0;
    }
    if (*seen & (1u << i)) {
        segloss__tx_err(err, err_size, "duplicate key ", e->key, e->key_len, "");
        return 0;
    }
    *seen |= 1u << i;
    r = f->parse(e->val, e->val_len, (char *)parsed + f->offset);
    if (r == 0 && err && err_size) /* "bad value 'relu' for key 'activation': use 'softmax' or 'sigmoid'" */
        snprintf(err, err_size, "bad value '%.*s' for key '%.*s'%s", e->val_len > 40 ? 40 : e->val_len, e->val,
                 e->key_len > 40 ? 40 : e->key_len, e->key, f->valid ? f->valid : "");
    if (r < 0 && err && err_size) /* "focal_gamma must be >= 0" */
        snprintf(err, err_size, "%.*s %s", e->key_len > 40 ? 40 : e->key_len, e->key,
                 f->range ? f->range : "must be >= 0");
    return r > 0;
}

SEGLOSS__API segloss_status segloss_config_parse(const char *text, segloss_config *cfg, char *err, size_t err_size)
{
    segloss_config parsed, result;
    segloss__tx_entry e;
    const char *p = text;
    unsigned seen = 0;
    int r, i;
    if (err && err_size) err[0] = 0;
    if (!text || !cfg) {
        if (err && err_size) snprintf(err, err_size, "%s", "NULL text or config");
        return SEGLOSS_ERR_NULL;
    }
    /* Values collect in parsed, to go on top of the defaults of whichever loss_type the text names
       (wherever it names it), and to leave *cfg untouched on an error. */
    memset(&parsed, 0, sizeof parsed);
    parsed.loss_type = SEGLOSS_CE;
    while ((r = segloss__tx_next(&p, &e, err, err_size)) == 1)
        if (!segloss__tx_take(&e, &parsed, &seen, err, err_size)) return SEGLOSS_ERR_PARSE;
    if (r < 0) return SEGLOSS_ERR_PARSE;

    segloss_config_init(&result, parsed.loss_type);
    for (i = 0; i < SEGLOSS__TX_FIELDS; i++) {
        const segloss__tx_field *f = &segloss__tx_fields[i];
        if (seen & (1u << i)) memcpy((char *)&result + f->offset, (const char *)&parsed + f->offset, f->size);
    }
    if (result.loss_type == SEGLOSS_FOCAL_DICE && result.focal_weight == 0.0f && result.dice_weight == 0.0f) {
        if (err && err_size) snprintf(err, err_size, "%s", "focal_weight and dice_weight must not both be 0");
        return SEGLOSS_ERR_PARSE;
    }
    if ((result.loss_type == SEGLOSS_FOCAL || result.loss_type == SEGLOSS_FOCAL_DICE) &&
        result.activation == SEGLOSS_SOFTMAX && result.focal_gamma > 0.0f && result.label_smoothing > 0.0f) {
        if (err && err_size)
            snprintf(err, err_size,
                     "label_smoothing %g needs focal_gamma 0 (a focal term refuses it): use loss_type 'ce' or "
                     "focal_gamma=0", (double)result.label_smoothing);
        return SEGLOSS_ERR_PARSE;
    }
    /* smoothing where nothing would be smoothed is refused, as segloss_compute refuses it */
    if (result.label_smoothing > 0.0f &&
        (result.activation == SEGLOSS_SIGMOID || result.loss_type == SEGLOSS_DICE ||
         result.loss_type == SEGLOSS_TVERSKY || result.loss_type == SEGLOSS_GENERALIZED_DICE)) {
        if (err && err_size)
            snprintf(err, err_size, "label_smoothing %g applies to the softmax cross entropy (ce, weighted_ce, "
                                    "focal_dice with focal_gamma 0), not to %s%s", (double)result.label_smoothing,
                     segloss_loss_name(result.loss_type), result.activation == SEGLOSS_SIGMOID ? " under the sigmoid" : "");
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

SEGLOSS__PRIVATE void segloss__tx_list(segloss__tx_out *o, const char *label, const float *v, int64_t c)
{
    int64_t k;
    char tmp[64];
    segloss__tx_puts(o, "  - ");
    segloss__tx_puts(o, label);
    segloss__tx_puts(o, ": [");
    for (k = 0; k < c; k++) {
        snprintf(tmp, sizeof tmp, k ? " %#.3g" : "%#.3g", (double)v[k]);
        segloss__tx_puts(o, tmp);
    }
    segloss__tx_puts(o, "]\n");
}

/* Lines per loss type (each ends in '\n'):
       ce           Loss type [, Activation] [, Label smoothing] [, Class weights] [, Pos weight]
       weighted_ce  Loss type [, Activation] [, Label smoothing] [, Class weights] [, Pos weight]
       focal        Loss type [, Activation], Focal gamma [, Focal alpha] [, Label smoothing] [, Class weights]
       dice         Loss type [, Activation], Dice smooth
       focal_dice   Loss type [, Activation], Focal gamma [, Focal alpha], Focal weight, Dice weight,
                    Dice smooth [, Label smoothing] [, Class weights]
       tversky      Loss type [, Activation], Tversky alpha, Tversky beta, Dice smooth
       generalized_dice  Loss type [, Activation], Dice smooth, Include background, Per sample
   Only what the loss reads is printed, and softmax, the default, goes without saying:
       Activation       "sigmoid", only for the sigmoid
       Focal alpha      sigmoid focal terms only (softmax focal has no alpha): the value, or
                        "none" when negative
       Label smoothing  softmax CE-family terms, when > 0 (a focal term with gamma > 0 refuses it)
       Include background, Per sample   "True"/"False" (the guide's booleans). generalized_dice
                        prints them because its weights 1/G_c^2 depend on both (with the
                        background in, the background dominates less than in dice, and per
                        sample the weights differ sample by sample); dice and tversky keep the
                        guide's block.
       Class weights    when weights != NULL ("%#.3g" each, space separated, in brackets); the
                        Dice family takes no class weights, so none are printed for it.
       Pos weight       cfg->pos_weight, c values as Class weights', for the sigmoid ce and
                        weighted_ce (the focal terms take no pos_weight).
   Returns -1 (and writes "" when size > 0) if cfg is NULL, the loss type unknown, or weights
   (or a pos_weight it prints) given with c <= 0. */
SEGLOSS__API int segloss_config_format(const segloss_config *cfg, const float *weights, int64_t c, char *buf,
                                       size_t size)
{
    segloss__tx_out o;
    const char *name;
    segloss_loss_type t;
    int sigmoid, focal, pos, ce_term;
    o.buf = buf;
    o.size = buf ? size : 0;
    o.len = 0;
    if (o.size > 0) buf[0] = 0;
    if (!cfg) return -1;
    t = cfg->loss_type;
    name = segloss_loss_name(t);
    if (!name) return -1;
    sigmoid = cfg->activation == SEGLOSS_SIGMOID;
    focal = t == SEGLOSS_FOCAL || t == SEGLOSS_FOCAL_DICE;
    pos = sigmoid && cfg->pos_weight && (t == SEGLOSS_CE || t == SEGLOSS_WEIGHTED_CE);
    if ((weights || pos) && (c <= 0 || c > (int64_t)(INT_MAX / 16))) return -1;
    segloss__tx_puts(&o, "Loss Configuration:\n  - Loss type: ");
    segloss__tx_puts(&o, name);
    segloss__tx_puts(&o, "\n");
    if (sigmoid) segloss__tx_puts(&o, "  - Activation: sigmoid\n");
    if (focal) segloss__tx_line(&o, "Focal gamma", cfg->focal_gamma);
    if (focal && sigmoid) {
        if (cfg->focal_alpha < 0.0f) segloss__tx_puts(&o, "  - Focal alpha: none\n");
        else segloss__tx_line(&o, "Focal alpha", cfg->focal_alpha);
    }
    if (t == SEGLOSS_FOCAL_DICE) {
        segloss__tx_line(&o, "Focal weight", cfg->focal_weight);
        segloss__tx_line(&o, "Dice weight", cfg->dice_weight);
    }
    if (t == SEGLOSS_TVERSKY) {
        segloss__tx_line(&o, "Tversky alpha", cfg->tversky_alpha);
        segloss__tx_line(&o, "Tversky beta", cfg->tversky_beta);
    }
    if (t == SEGLOSS_DICE || t == SEGLOSS_FOCAL_DICE || t == SEGLOSS_TVERSKY || t == SEGLOSS_GENERALIZED_DICE)
        segloss__tx_line(&o, "Dice smooth", cfg->dice_smooth);
    if (t == SEGLOSS_GENERALIZED_DICE) {
        segloss__tx_puts(&o, cfg->include_background ? "  - Include background: True\n"
                                                     : "  - Include background: False\n");
        segloss__tx_puts(&o, cfg->per_sample ? "  - Per sample: True\n" : "  - Per sample: False\n");
    }
    ce_term = t == SEGLOSS_CE || t == SEGLOSS_WEIGHTED_CE || focal;
    if (ce_term && !sigmoid && cfg->label_smoothing > 0.0f)
        segloss__tx_line(&o, "Label smoothing", cfg->label_smoothing);
    if (weights && ce_term) segloss__tx_list(&o, "Class weights", weights, c);
    if (pos) segloss__tx_list(&o, "Pos weight", cfg->pos_weight, c);
    return segloss__tx_finish(&o);
}

#endif /* SEGLOSS__TEXT_H */
