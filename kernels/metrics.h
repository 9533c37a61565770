/* ---- kernels/metrics.h: label counts, class weights, confusion, metrics, the advisor ---- */
#ifndef SEGLOSS__METRICS_H
#define SEGLOSS__METRICS_H
#include "driver.h"
#include "text.h"

/* The core's checks (driver.h), so shapes, enums and labels are judged exactly as segloss_compute
   judges them; in->logits is only required when need_logits. Nothing is written before this. */
SEGLOSS__PRIVATE segloss_status segloss__mx_check(const segloss_input *in, int need_logits, int64_t ignore_index)
{
    segloss_input tmp;
    segloss_status st;
    int64_t bad;
    if (!in) return SEGLOSS_ERR_NULL;
    tmp = *in;
    if (!need_logits && !tmp.logits) tmp.logits = (const float *)(const void *)in; /* only tested for NULL */
    if ((st = segloss__check_input(&tmp)) != SEGLOSS_OK) return st;
    if (SEGLOSS__DENSE(tmp.label_type)) return SEGLOSS_ERR_PARAM; /* class indices only */
    return segloss__scan_labels(&tmp, ignore_index, 0, NULL, -1, NULL, NULL, 0, &bad);
}

/* Labels only: in->logits may be NULL. One threaded pass (driver.h's label scan) validates
   and counts, into exact double counts (integers below 2^53), then adds them to counts. */
SEGLOSS__API segloss_status segloss_label_histogram(const segloss_input *in, int64_t ignore_index, int64_t *counts)
{
    segloss_input tmp;
    segloss_status st;
    double *cnt;
    int64_t c, bad;
    if (!counts) return SEGLOSS_ERR_NULL;
    if (!in) return SEGLOSS_ERR_NULL;
    tmp = *in;
    if (!tmp.logits) tmp.logits = (const float *)(const void *)in; /* only tested for NULL */
    if ((st = segloss__check_input(&tmp)) != SEGLOSS_OK) return st;
    if (SEGLOSS__DENSE(tmp.label_type)) return SEGLOSS_ERR_PARAM; /* class indices only */
    /* C doubles and 4C for the scan's group layout: its counts go to the first C */
    if (!(cnt = (double *)SEGLOSS_MALLOC((size_t)in->c * sizeof(double)))) return SEGLOSS_ERR_NOMEM;
    memset(cnt, 0, (size_t)in->c * sizeof(double));
    st = segloss__scan_labels(&tmp, ignore_index, 0, NULL, -1, cnt, NULL, 1, &bad);
    if (st == SEGLOSS_OK)
        for (c = 0; c < in->c; c++) counts[c] += (int64_t)cnt[c];
    SEGLOSS_FREE(cnt);
    return st;
}

/* Smallest present count v with at least k+1 present counts <= v (k-th smallest, 0-based):
   a bisection over the values, exact, no scratch memory, 64 passes at most. */
SEGLOSS__PRIVATE int64_t segloss__mx_kth(const int64_t *counts, int64_t c, int64_t k, int64_t lo, int64_t hi)
{
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2, j, le = 0;
        for (j = 0; j < c; j++)
            if (counts[j] > 0 && counts[j] <= mid) le++;
        if (le >= k + 1) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

/* Class weights from counts (section 5 of the API). With V = sum of counts, m = number of
   classes with n_c > 0, and weight 0 for every class with n_c = 0:
       INVERSE    V / n_c
       MEDIAN     median_k(f_k) / f_c,  f = n / V, median over present classes (the mean of the
                  two middle values when m is even) = median_k(n_k) / n_c
       INV_SQRT   sqrt(V / n_c)
       EFFECTIVE  (1 - b) / (1 - b^n_c), b = 0.9999, scaled so the weights sum to m
   Computed in double, stored as float. Errors: NULL, c <= 0, unknown method, a negative count. */
SEGLOSS__API segloss_status segloss_class_weights(segloss_weighting method, const int64_t *counts, int64_t c,
                                                  float *weights)
{
    int64_t k, m = 0, lo = INT64_MAX, hi = 0;
    double total = 0.0, med = 0.0, sum = 0.0;
    if (!counts || !weights) return SEGLOSS_ERR_NULL;
    if (c <= 0) return SEGLOSS_ERR_SHAPE;
    if ((int)method < (int)SEGLOSS_WEIGHT_INVERSE || (int)method > (int)SEGLOSS_WEIGHT_EFFECTIVE)
        return SEGLOSS_ERR_ENUM;
    for (k = 0; k < c; k++) {
        if (counts[k] < 0) return SEGLOSS_ERR_PARAM;
        if (counts[k] > 0) {
            m++;
            total += (double)counts[k];
            if (counts[k] < lo) lo = counts[k];
            if (counts[k] > hi) hi = counts[k];
        }
    }
    if (method == SEGLOSS_WEIGHT_MEDIAN && m > 0)
        med = 0.5 * ((double)segloss__mx_kth(counts, c, (m - 1) / 2, lo, hi) +
                     (double)segloss__mx_kth(counts, c, m / 2, lo, hi));
    if (method == SEGLOSS_WEIGHT_EFFECTIVE)
        for (k = 0; k < c; k++)
            if (counts[k] > 0) sum += 1e-4 / -expm1((double)counts[k] * log1p(-1e-4));
    for (k = 0; k < c; k++) {
        double n = (double)counts[k], w = 0.0;
        if (counts[k] > 0) {
            switch (method) {
            case SEGLOSS_WEIGHT_INVERSE: w = total / n; break;
            case SEGLOSS_WEIGHT_MEDIAN: w = med / n; break;
            case SEGLOSS_WEIGHT_INV_SQRT: w = sqrt(total / n); break;
            case SEGLOSS_WEIGHT_EFFECTIVE: w = 1e-4 / -expm1(n * log1p(-1e-4)) * (double)m / sum; break;
            default: break;
            }
        }
        weights[k] = (float)w;
    }
    return SEGLOSS_OK;
}

/* The weights segloss_compute uses. Losses with a CE-family term (ce, weighted_ce, focal,
   focal_dice): cfg->class_weights when given; else, with use_class_weighting, INVERSE weights
   (float)(|V| / n_c) over this input's valid labels (0 for an absent class), as the core
   computes them; else all 1. dice and tversky take no class weights: all 1. The config,
   the input (in->logits may be NULL) and given weights are validated as segloss_compute does.
   No allocation: classes are counted in blocks of 256 per pass over the labels. */
SEGLOSS__API segloss_status segloss_weights_for(const segloss_config *cfg, const segloss_input *in, float *weights)
{
    segloss_status st;
    int64_t k, c;
    if (!cfg || !weights) return SEGLOSS_ERR_NULL;
    if ((st = segloss__check_config(cfg)) != SEGLOSS_OK) return st;
    if ((st = segloss__mx_check(in, 0, cfg->ignore_index)) != SEGLOSS_OK) return st;
    if ((st = segloss__check_weights(cfg, in->c)) != SEGLOSS_OK) return st;
    c = in->c;
    if (!SEGLOSS__HAS_CE_TERM(cfg->loss_type)) {
        for (k = 0; k < c; k++) weights[k] = 1.0f;
    } else if (cfg->class_weights) {
        memcpy(weights, cfg->class_weights, (size_t)c * sizeof(float));
    } else if (cfg->use_class_weighting) {
        int64_t ns = in->n * in->s, total = 0, i, b;
        for (i = 0; i < ns; i++)
            if (segloss__label(in, i) != cfg->ignore_index) total++;
        for (b = 0; b < c; b += 256) {
            int64_t cnt[256];
            int64_t nb = c - b < 256 ? c - b : 256;
            memset(cnt, 0, sizeof cnt);
            for (i = 0; i < ns; i++) {
                int64_t l = segloss__label(in, i);
                if (l != cfg->ignore_index && l >= b && l < b + nb) cnt[l - b]++;
            }
            for (k = 0; k < nb; k++)
                weights[b + k] = cnt[k] > 0 ? (float)((double)total / (double)cnt[k]) : 0.0f;
        }
    } else {
        for (k = 0; k < c; k++) weights[k] = 1.0f;
    }
    return SEGLOSS_OK;
}

/* Confusion counts, prediction = argmax over classes with ties to the lowest class. A NaN logit
   is never greater than anything, so the argmax is taken over the non-NaN logits of the
   position (class 0 if all are NaN); +inf and -inf compare as usual. check_finite does not
   apply here: metrics never fail on logits. */
/* Positions [s_begin, s_end) of sample n into conf[C*C]. */
SEGLOSS__PRIVATE void segloss__confusion_range(const segloss_input *in, int64_t ignore_index, int64_t n,
                                               int64_t s_begin, int64_t s_end, int64_t *conf)
{
    const segloss__isa_table *t = segloss__table();
    const int64_t C = in->c, S = in->s;
    const int B = segloss__block_len(C);
    int64_t s0;
    for (s0 = s_begin; s0 < s_end; s0 += B) {
        /* a block's labels (-1 where ignored; checked before) and its argmax, read from the
           class planes (NCHW), transposed ones (NHWC) or, beyond the buffer, row by row */
        float zt[SEGLOSS__TBUF], pred[SEGLOSS__BLOCK];
        int32_t y[SEGLOSS__BLOCK];
        const int len = (int)(s_end - s0 < B ? s_end - s0 : B);
        const float *rows = in->logits + (n * S + s0) * C;
        int j;
        t->labels(in, ignore_index, n * S + s0, len, y, NULL, 0, 0);
        if (in->layout == SEGLOSS_NCHW) {
            t->argmax(in->logits + n * C * S + s0, S, len, (int)C, pred);
        } else if (C <= SEGLOSS__TBUF) {
            t->transpose(rows, zt, B, len, (int)C, SEGLOSS__TO_PLANES);
            t->argmax(zt, B, len, (int)C, pred);
        } else {
            t->argmax(rows, 1, 1, (int)C, pred); /* len is 1 */
        }
        for (j = 0; j < len; j++)
            if (y[j] >= 0) conf[y[j] * C + (int64_t)pred[j]]++;
    }
}

typedef struct segloss__confusion_ctx {
    const segloss_input *in;
    int64_t ignore;
    segloss__chunking k;
    int64_t *part; /* C*C counts per chunk */
} segloss__confusion_ctx;

SEGLOSS__PRIVATE void segloss__confusion_task(void *ctx, int64_t i)
{
    const segloss__confusion_ctx *r = (const segloss__confusion_ctx *)ctx;
    int64_t n, n0, n1, s0, s1;
    segloss__chunk_at(&r->k, r->in, i, &n0, &n1, &s0, &s1);
    for (n = n0; n < n1; n++) segloss__confusion_range(r->in, r->ignore, n, s0, s1, r->part + i * r->in->c * r->in->c);
}

/* Chunks of whole blocks, each counting into a C x C matrix of its own (at least 8 C^2
   positions a chunk, so that the matrices cost less than the work), added afterwards: counts
   are exact, so any chunking gives the same matrix. */
SEGLOSS__API segloss_status segloss_confusion(const segloss_input *in, int64_t ignore_index, int64_t *confusion)
{
    segloss_status st;
    segloss__confusion_ctx r;
    int64_t C, want, B, i, k;
    if (!confusion) return SEGLOSS_ERR_NULL;
    st = segloss__mx_check(in, 1, ignore_index);
    if (st != SEGLOSS_OK) return st;
    C = in->c;
    if (C > (1 << 24)) return SEGLOSS_ERR_SHAPE; /* C*C counts would not fit memory anyway */
    B = segloss__block_len(C);
    want = 8 * C * C > SEGLOSS__CHUNK ? 8 * C * C : SEGLOSS__CHUNK;
    r.in = in;
    r.ignore = ignore_index;
    r.k = segloss__chunks(in, (want + B - 1) / B * B, 1);
    if (r.k.count == 1) { /* straight into the caller's matrix */
        for (i = 0; i < in->n; i++) segloss__confusion_range(in, ignore_index, i, 0, in->s, confusion);
        return SEGLOSS_OK;
    }
    if (!(r.part = (int64_t *)SEGLOSS_MALLOC((size_t)(r.k.count * C * C) * sizeof(int64_t)))) return SEGLOSS_ERR_NOMEM;
    memset(r.part, 0, (size_t)(r.k.count * C * C) * sizeof(int64_t));
    segloss__parallel_for(segloss__confusion_task, &r, r.k.count, in->n * in->s);
    for (i = 0; i < r.k.count; i++)
        for (k = 0; k < C * C; k++) confusion[k] += r.part[i * C * C + k];
    SEGLOSS_FREE(r.part);
    return SEGLOSS_OK;
}

SEGLOSS__PRIVATE double segloss__mx_ratio(int64_t num, int64_t den)
{
    return den > 0 ? (double)num / (double)den : (double)NAN;
}

/* Recall TP/(TP+FN), precision TP/(TP+FP), IoU TP/(TP+FP+FN), Dice 2TP/(2TP+FP+FN); 0/0 is
   NaN. per_class may be NULL. Returns the mean IoU over classes whose IoU is not NaN (NaN if
   none, or if confusion is NULL or c <= 0). */
SEGLOSS__API double segloss_metrics(const int64_t *confusion, int64_t c, segloss_class_metrics *per_class)
{
    int64_t k, j, used = 0;
    double sum = 0.0;
    if (!confusion || c <= 0) return (double)NAN;
    for (k = 0; k < c; k++) {
        int64_t tp = confusion[k * c + k], row = 0, col = 0, fp, fn;
        double iou;
        for (j = 0; j < c; j++) {
            row += confusion[k * c + j];
            col += confusion[j * c + k];
        }
        fn = row - tp;
        fp = col - tp;
        iou = segloss__mx_ratio(tp, tp + fp + fn);
        if (iou == iou) {
            sum += iou;
            used++;
        }
        if (per_class) {
            per_class[k].tp = tp;
            per_class[k].fp = fp;
            per_class[k].fn = fn;
            per_class[k].recall = segloss__mx_ratio(tp, tp + fn);
            per_class[k].precision = segloss__mx_ratio(tp, tp + fp);
            per_class[k].iou = iou;
            per_class[k].dice = segloss__mx_ratio(2 * tp, 2 * tp + fp + fn);
        }
    }
    return used ? sum / (double)used : (double)NAN;
}

/* Flag of one class: 1 over-predicting (recall - precision > 0.2), -1 under-predicting
   (precision - recall > 0.2), 0 balanced, 2 unknown (recall or precision NaN). */
SEGLOSS__PRIVATE int segloss__mx_flag(const segloss_class_metrics *m)
{
    if (!(m->recall == m->recall) || !(m->precision == m->precision)) return 2;
    if (m->recall - m->precision > 0.2) return 1;
    if (m->precision - m->recall > 0.2) return -1;
    return 0;
}

SEGLOSS__PRIVATE void segloss__mx_num(char *tmp, size_t n, int width, double v)
{
    if (v == v) snprintf(tmp, n, "%*.2f", width, v);
    else snprintf(tmp, n, "%*s", width, "n/a");
}

/* The table (every line ends in '\n'):
       Class    Val Recall  Val Precision  Val IoU
       ------------------------------------------------
       bg            0.95        0.92        0.88  Good balance
       mito          0.91        0.45        0.42  Over-predicting (high recall, low precision)
   The name column is 8 wide (wider if a name needs it); values "%.2f" in columns of 10, 12, 12;
   NaN prints "n/a", and a row whose recall or precision is NaN gets no flag. names NULL (or a
   NULL entry): "class k". Returns the length needed like snprintf, -1 if m is NULL or c <= 0. */
SEGLOSS__API int segloss_metrics_format(const segloss_class_metrics *m, int64_t c, const char *const *names,
                                        char *buf, size_t size)
{
    segloss__tx_out o;
    int64_t k;
    int w = 8, i;
    char tmp[96], nm[32];
    o.buf = buf;
    o.size = buf ? size : 0;
    o.len = 0;
    if (o.size > 0) buf[0] = 0;
    if (!m || c <= 0 || c > (int64_t)(INT_MAX / 128)) return -1;
    for (k = 0; k < c; k++) {
        size_t len;
        if (names && names[k]) len = strlen(names[k]);
        else len = (size_t)snprintf(nm, sizeof nm, "class %lld", (long long)k);
        if (len + 1 > (size_t)w && len < 64) w = (int)len + 1;
    }
    snprintf(tmp, sizeof tmp, "%-*s", w + 1, "Class");
    segloss__tx_puts(&o, tmp);
    segloss__tx_puts(&o, "Val Recall  Val Precision  Val IoU\n");
    for (i = 0; i < w + 40; i++) segloss__tx_puts(&o, "-");
    segloss__tx_puts(&o, "\n");
    for (k = 0; k < c; k++) {
        const char *name = names && names[k] ? names[k] : NULL;
        int f = segloss__mx_flag(&m[k]);
        if (!name) {
            snprintf(nm, sizeof nm, "class %lld", (long long)k);
            name = nm;
        }
        segloss__tx_puts(&o, name);
        for (i = (int)strlen(name); i < w; i++) segloss__tx_puts(&o, " ");
        segloss__mx_num(tmp, sizeof tmp, 10, m[k].recall);
        segloss__tx_puts(&o, tmp);
        segloss__mx_num(tmp, sizeof tmp, 12, m[k].precision);
        segloss__tx_puts(&o, tmp);
        segloss__mx_num(tmp, sizeof tmp, 12, m[k].iou);
        segloss__tx_puts(&o, tmp);
        if (f == 1) segloss__tx_puts(&o, "  Over-predicting (high recall, low precision)");
        else if (f == -1) segloss__tx_puts(&o, "  Under-predicting (low recall, high precision)");
        else if (f == 0) segloss__tx_puts(&o, "  Good balance");
        segloss__tx_puts(&o, "\n");
    }
    return segloss__tx_finish(&o);
}

/* The advisor: the loss guide's decision tree and troubleshooting, deterministic.
   Thresholds: imbalance = largest / smallest count among present classes >= 3; over-predicting
   class = recall - precision > 0.2 (under: precision - recall > 0.2), the class with the
   largest gap, over-prediction first; low IoU = mean IoU (non-NaN classes) < 0.5.
   First matching rule wins:
    1. diverged: keep the loss type (current's; else what rules 6-8 pick), dice_smooth raised
       to 10; reason: lower the learning rate (e.g. 1e-4) and raise dice_smooth.
    2. metrics show an over-predicting class:
         current focal / focal_dice with gamma < 5: focal_gamma to the next of 2, 3, 5;
         current focal / focal_dice with gamma >= 5: tversky alpha 0.7 beta 0.3;
         current tversky: tversky_alpha to the next of 0.7, 0.8, 0.9 (beta = 1 - alpha);
           at 0.9 already: keep, check the labels;
         current dice: focal_dice (adds the focal term), use_class_weighting;
         otherwise (ce, weighted_ce, none): focal gamma 2 with use_class_weighting.
    3. metrics show an under-predicting class: tversky alpha 0.3 beta 0.7 (current tversky:
       tversky_beta to the next of 0.7, 0.8, 0.9, alpha = 1 - beta; at 0.9: keep).
    4. balanced but mean IoU < 0.5: focal_dice with use_class_weighting; current focal_dice:
       focal_weight 0.3, dice_weight 0.7; already there: keep, check labels/capacity/epochs.
    5. balanced, mean IoU >= 0.5, a current config: keep it.
    6. counts known, no imbalance (ratio < 3 or fewer than 2 present classes): ce.
    7. counts show imbalance: current NULL or ce: weighted_ce baseline; else keep current.
    8. nothing known: keep current, or ce.
   The suggestion keeps current's ignore_index, include_background, per_sample, reduction and
   check_finite, and the parameters both loss types share (gamma and focal_alpha; smooth);
   class_weights and pos_weight NULL (the advice cannot own arrays).

   Binary problems: c == 1 (one sigmoid channel: softmax over one logit is 1 everywhere, a
   constant loss), or a current config with activation sigmoid (every channel its own binary
   problem). Every suggestion then has activation sigmoid and label_smoothing 0 (smoothing is
   the softmax CE term's), and a focal term it newly suggests balances by focal_alpha (0.25,
   torchvision's) instead of use_class_weighting. Rule 1 as above, then:
    1b. c == 1 with a softmax current config: the same loss with the sigmoid.
    2-5 as above (for c == 1, "class 0" is the foreground channel: its metrics are the
       foreground's, from predictions p > 0.5).
    6-8 read the foreground fraction f instead of the largest/smallest ratio:
       f = the rarest side of any channel, min over channels k of min(n_k, V - n_k) / V with
       V = sum of counts: counts from segloss_label_histogram over integer labels (one class
       per position), so n_k / V is channel k's positive fraction (one-vs-rest) and, for a
       one-channel model, c = 2 counts [background, foreground] give f = the foreground's.
         f >= 0.25 (or one class only): 'ce', plain BCE;
         0.01 <= f < 0.25: current NULL or ce: 'weighted_ce' (automatic pos_weight
           (1 - f) / f), the reason naming sigmoid 'focal' (alpha 0.25, gamma 2) as the
           alternative; else keep current;
         f < 0.01 (tiny): current dice, focal_dice, tversky or generalized_dice: keep; else
           'focal_dice' (focal alpha 0.25 gamma 2 + Dice, which sees the overlap).
       c == 1: counts holds one entry, and one count gives no fraction (is it the positives,
       as a one-vs-rest count of label 1, or the label-0 count of a histogram of class 0?
       either way V is unknown): it is not read, and rule 8 says so (keep current, or 'ce').
       Per-channel targets (multi-label) may count a position in several channels: V is then
       larger than the positions and f a lower bound (the advice errs towards rare). */

#define SEGLOSS__ADV_SMOOTHED(t) \
    ((t) == SEGLOSS_DICE || (t) == SEGLOSS_FOCAL_DICE || (t) == SEGLOSS_TVERSKY || (t) == SEGLOSS_GENERALIZED_DICE)

SEGLOSS__PRIVATE void segloss__adv_base(segloss_config *out, segloss_loss_type t, const segloss_config *cur)
{
    if (cur && cur->loss_type == t) {
        *out = *cur;
    } else {
        segloss_config_init(out, t);
        if (cur) {
            segloss_loss_type ct = cur->loss_type;
            out->ignore_index = cur->ignore_index;
            out->include_background = cur->include_background;
            out->per_sample = cur->per_sample;
            out->reduction = cur->reduction;
            out->check_finite = cur->check_finite;
            out->activation = cur->activation;
            if ((ct == SEGLOSS_FOCAL || ct == SEGLOSS_FOCAL_DICE) && (t == SEGLOSS_FOCAL || t == SEGLOSS_FOCAL_DICE)) {
                out->focal_gamma = cur->focal_gamma;
                out->focal_alpha = cur->focal_alpha;
            }
            if (SEGLOSS__ADV_SMOOTHED(ct) && SEGLOSS__ADV_SMOOTHED(t)) out->dice_smooth = cur->dice_smooth;
        }
    }
    out->class_weights = NULL;
    out->pos_weight = NULL;
}

/* Tversky already in use and class cls still over-predicted (raise alpha) or under-predicted
   (raise beta): step the raised weight 0.7 -> 0.8 -> 0.9, the other one 1 minus it; past 0.9,
   keep the configuration and point at the labels. */
SEGLOSS__PRIVATE void segloss__adv_tversky_step(segloss_config *o, const segloss_config *cur, int over_side,
                                                int64_t cls, const segloss_class_metrics *m, char *why,
                                                size_t why_size)
{
    const char *side = over_side ? "over" : "under", *name = over_side ? "alpha" : "beta";
    const float w = over_side ? cur->tversky_alpha : cur->tversky_beta;
    segloss__adv_base(o, SEGLOSS_TVERSKY, cur);
    if (w < 0.9f - 1e-6f) {
        const float nw = w < 0.7f - 1e-6f ? 0.7f : w < 0.8f - 1e-6f ? 0.8f : 0.9f;
        const float rest = nw == 0.7f ? 0.3f : nw == 0.8f ? 0.2f : 0.1f;
        o->tversky_alpha = over_side ? nw : rest;
        o->tversky_beta = over_side ? rest : nw;
        snprintf(why, why_size,
                 "class %lld %s-predicted with tversky %s %g (recall %.2f vs precision %.2f): "
                 "raise tversky_%s to %g, %s %g", (long long)cls, side, name, (double)w, m->recall,
                 m->precision, name, (double)nw, over_side ? "beta" : "alpha", (double)rest);
    } else {
        snprintf(why, why_size,
                 "class %lld %s-predicted even with tversky %s %g (recall %.2f vs precision %.2f): "
                 "check label quality", (long long)cls, side, name, (double)w, m->recall, m->precision);
    }
}


/* What the rules read, taken from the inputs once. */
typedef struct segloss__adv_facts {
    const segloss_config *cur;             /* the config in use; NULL when none or of an unknown loss type */
    const segloss_class_metrics *metrics;
    int diverged;
    int64_t over, under; /* the class most over- / under-predicted (first of equal gaps), -1 if none */
    int64_t used;        /* classes whose IoU is not NaN, and their mean IoU */
    double miou;
    int64_t present;     /* classes with a count > 0, and the largest / smallest of those counts */
    double ratio;
    int binary;          /* c == 1 or a sigmoid current config: the sigmoid rules */
    int64_t c;
    double fg;           /* binary: the foreground fraction f (see above); -1 when unknown */
} segloss__adv_facts;

SEGLOSS__PRIVATE void segloss__adv_read(const int64_t *counts, const segloss_class_metrics *metrics, int64_t c,
                                        const segloss_config *current, int diverged, segloss__adv_facts *f)
{
    int64_t k, lo = INT64_MAX, hi = 0;
    double gap_over = 0.0, gap_under = 0.0;
    memset(f, 0, sizeof *f);
    f->cur = current && segloss_loss_name(current->loss_type) ? current : NULL;
    f->metrics = metrics;
    f->diverged = diverged;
    f->over = f->under = -1;
    for (k = 0; metrics && k < c; k++) {
        const int flag = segloss__mx_flag(&metrics[k]);
        const double d = metrics[k].recall - metrics[k].precision;
        if (flag == 1 && d > gap_over) {
            gap_over = d;
            f->over = k;
        }
        if (flag == -1 && -d > gap_under) {
            gap_under = -d;
            f->under = k;
        }
        if (metrics[k].iou == metrics[k].iou) {
            f->miou += metrics[k].iou;
            f->used++;
        }
    }
    if (f->used) f->miou /= (double)f->used;
    for (k = 0; counts && k < c; k++)
        if (counts[k] > 0) {
            f->present++;
            if (counts[k] < lo) lo = counts[k];
            if (counts[k] > hi) hi = counts[k];
        }
    if (f->present) f->ratio = (double)hi / (double)lo;
    f->c = c;
    f->binary = c == 1 || (f->cur && f->cur->activation == SEGLOSS_SIGMOID);
    f->fg = -1.0;
    if (f->binary && counts && c >= 2) {
        double total = 0.0;
        for (k = 0; k < c; k++)
            if (counts[k] > 0) total += (double)counts[k];
        for (k = 0; k < c; k++)
            if (counts[k] > 0 && (double)counts[k] < total) {
                const double p = (double)counts[k] / total, side = p < 0.5 ? p : 1.0 - p;
                if (f->fg < 0.0 || side < f->fg) f->fg = side;
            }
    }
}

/* A rule: when it applies, writes the suggestion into o and the reason into why and returns 1;
   else returns 0 and writes nothing. Each rule is tried only when the ones before it (in the
   order of the tables below) did not apply, and relies on that. */
typedef int (*segloss__adv_rule)(const segloss__adv_facts *f, segloss_config *o, char *why, size_t why_size);

SEGLOSS__PRIVATE int segloss__adv_first(const segloss__adv_rule *rules, size_t n, const segloss__adv_facts *f,
                                        segloss_config *o, char *why, size_t why_size)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (rules[i](f, o, why, why_size)) return 1;
    return 0;
}

SEGLOSS__PRIVATE int segloss__adv_uses(const segloss__adv_facts *f, segloss_loss_type t)
{
    return f->cur && f->cur->loss_type == t;
}

SEGLOSS__PRIVATE int segloss__adv_low_iou(const segloss__adv_facts *f)
{
    return f->used && f->miou < 0.5;
}

/* Rules 6-8 as one rule: it always applies. Rule 1 uses it too. */
SEGLOSS__PRIVATE int segloss__adv_by_counts(const segloss__adv_facts *f, segloss_config *o, char *why,
                                            size_t why_size);

/* 1. The loss diverged: whatever the metrics say, the step is too large for this loss. */
SEGLOSS__PRIVATE int segloss__adv_diverged(const segloss__adv_facts *f, segloss_config *o, char *why, size_t why_size)
{
    if (!f->diverged) return 0;
    if (f->cur) segloss__adv_base(o, f->cur->loss_type, f->cur);
    else segloss__adv_by_counts(f, o, why, why_size); /* its reason is replaced below */
    if (!(o->dice_smooth >= 10.0f)) o->dice_smooth = 10.0f;
    snprintf(why, why_size,
             "loss diverged: lower the learning rate (e.g. 1e-4) and raise dice_smooth to %g; keep '%s'",
             (double)o->dice_smooth, segloss_loss_name(o->loss_type));
    return 1;
}

SEGLOSS__PRIVATE int segloss__adv_focal(const segloss__adv_facts *f)
{
    return segloss__adv_uses(f, SEGLOSS_FOCAL) || segloss__adv_uses(f, SEGLOSS_FOCAL_DICE);
}

/* 2a. A class over-predicted with focal loss in use: down-weight the easy pixels more. */
SEGLOSS__PRIVATE int segloss__adv_over_gamma(const segloss__adv_facts *f, segloss_config *o, char *why,
                                             size_t why_size)
{
    const segloss_class_metrics *m;
    float g, ng;
    if (f->over < 0 || !segloss__adv_focal(f) || !(f->cur->focal_gamma < 5.0f)) return 0;
    m = &f->metrics[f->over];
    g = f->cur->focal_gamma;
    ng = g < 2.0f ? 2.0f : g < 3.0f ? 3.0f : 5.0f;
    segloss__adv_base(o, f->cur->loss_type, f->cur);
    o->focal_gamma = ng;
    snprintf(why, why_size,
             "class %lld still over-predicted with focal_gamma %g (recall %.2f vs precision %.2f): "
             "raise focal_gamma to %g", (long long)f->over, (double)g, m->recall, m->precision, (double)ng);
    return 1;
}

/* 2b. ... with gamma at 5 or more (or NaN): a larger gamma no longer helps; penalise false
   positives directly. */
SEGLOSS__PRIVATE int segloss__adv_over_gamma_spent(const segloss__adv_facts *f, segloss_config *o, char *why,
                                                   size_t why_size)
{
    const segloss_class_metrics *m;
    if (f->over < 0 || !segloss__adv_focal(f)) return 0;
    m = &f->metrics[f->over];
    segloss__adv_base(o, SEGLOSS_TVERSKY, f->cur);
    o->tversky_alpha = 0.7f;
    o->tversky_beta = 0.3f;
    snprintf(why, why_size,
             "class %lld still over-predicted with focal_gamma %g (recall %.2f vs precision %.2f): "
             "tversky alpha 0.7 beta 0.3 penalises false positives", (long long)f->over,
             (double)f->cur->focal_gamma, m->recall, m->precision);
    return 1;
}

/* 2c. ... with tversky in use: raise alpha. */
SEGLOSS__PRIVATE int segloss__adv_over_tversky(const segloss__adv_facts *f, segloss_config *o, char *why,
                                               size_t why_size)
{
    if (f->over < 0 || !segloss__adv_uses(f, SEGLOSS_TVERSKY)) return 0;
    segloss__adv_tversky_step(o, f->cur, 1, f->over, &f->metrics[f->over], why, why_size);
    return 1;
}

/* 2d. ... with dice in use: Dice alone does not tell easy background from hard; add focal. */
SEGLOSS__PRIVATE int segloss__adv_over_dice(const segloss__adv_facts *f, segloss_config *o, char *why,
                                            size_t why_size)
{
    const segloss_class_metrics *m;
    if (f->over < 0 || !segloss__adv_uses(f, SEGLOSS_DICE)) return 0;
    m = &f->metrics[f->over];
    segloss__adv_base(o, SEGLOSS_FOCAL_DICE, f->cur);
    o->use_class_weighting = 1;
    snprintf(why, why_size,
             "class %lld over-predicted with dice (recall %.2f vs precision %.2f): focal_dice adds focal "
             "loss, which down-weights easy background", (long long)f->over, m->recall, m->precision);
    return 1;
}

/* 2e. ... with ce, weighted_ce or no config: focal loss. */
SEGLOSS__PRIVATE int segloss__adv_over(const segloss__adv_facts *f, segloss_config *o, char *why, size_t why_size)
{
    const segloss_class_metrics *m;
    if (f->over < 0) return 0;
    m = &f->metrics[f->over];
    segloss__adv_base(o, SEGLOSS_FOCAL, f->cur);
    o->focal_gamma = 2.0f;
    o->use_class_weighting = 1;
    snprintf(why, why_size,
             "class %lld over-predicted: recall %.2f vs precision %.2f; focal loss (gamma 2) down-weights "
             "easy background", (long long)f->over, m->recall, m->precision);
    return 1;
}

/* 3a. A class under-predicted (and none over-predicted) with tversky in use: raise beta. */
SEGLOSS__PRIVATE int segloss__adv_under_tversky(const segloss__adv_facts *f, segloss_config *o, char *why,
                                                size_t why_size)
{
    if (f->under < 0 || !segloss__adv_uses(f, SEGLOSS_TVERSKY)) return 0;
    segloss__adv_tversky_step(o, f->cur, 0, f->under, &f->metrics[f->under], why, why_size);
    return 1;
}

/* 3b. ... otherwise: tversky weighted against false negatives. */
SEGLOSS__PRIVATE int segloss__adv_under(const segloss__adv_facts *f, segloss_config *o, char *why, size_t why_size)
{
    const segloss_class_metrics *m;
    if (f->under < 0) return 0;
    m = &f->metrics[f->under];
    segloss__adv_base(o, SEGLOSS_TVERSKY, f->cur);
    o->tversky_alpha = 0.3f;
    o->tversky_beta = 0.7f;
    snprintf(why, why_size,
             "class %lld under-predicted: recall %.2f vs precision %.2f; tversky alpha 0.3 beta 0.7 "
             "penalises false negatives", (long long)f->under, m->recall, m->precision);
    return 1;
}

/* 4a. Classes balanced but mean IoU low with focal_dice in use: give the overlap term more weight. */
SEGLOSS__PRIVATE int segloss__adv_low_iou_reweight(const segloss__adv_facts *f, segloss_config *o, char *why,
                                                   size_t why_size)
{
    if (!segloss__adv_low_iou(f) || !segloss__adv_uses(f, SEGLOSS_FOCAL_DICE)) return 0;
    if (!(f->cur->focal_weight > 0.3f + 1e-6f || f->cur->dice_weight < 0.7f - 1e-6f)) return 0;
    segloss__adv_base(o, SEGLOSS_FOCAL_DICE, f->cur);
    o->focal_weight = 0.3f;
    o->dice_weight = 0.7f;
    snprintf(why, why_size,
             "mean IoU %.2f < 0.5 despite focal_dice, classes balanced: shift weight to Dice "
             "(focal_weight 0.3, dice_weight 0.7)", f->miou);
    return 1;
}

/* 4b. ... weights at 0.3/0.7 already: the loss is not what holds the model back. */
SEGLOSS__PRIVATE int segloss__adv_low_iou_spent(const segloss__adv_facts *f, segloss_config *o, char *why,
                                                size_t why_size)
{
    if (!segloss__adv_low_iou(f) || !segloss__adv_uses(f, SEGLOSS_FOCAL_DICE)) return 0;
    segloss__adv_base(o, SEGLOSS_FOCAL_DICE, f->cur);
    snprintf(why, why_size,
             "mean IoU %.2f < 0.5 despite focal_dice 0.3/0.7: check label quality, raise model "
             "capacity, train longer", f->miou);
    return 1;
}

/* 4c. ... with another loss: optimise the overlap itself. */
SEGLOSS__PRIVATE int segloss__adv_low_iou_other(const segloss__adv_facts *f, segloss_config *o, char *why,
                                                size_t why_size)
{
    if (!segloss__adv_low_iou(f)) return 0;
    segloss__adv_base(o, SEGLOSS_FOCAL_DICE, f->cur);
    o->use_class_weighting = 1;
    snprintf(why, why_size,
             "classes balanced but mean IoU %.2f < 0.5: focal_dice optimises overlap directly", f->miou);
    return 1;
}

/* 5. Metrics balanced and mean IoU >= 0.5: the config in use works. */
SEGLOSS__PRIVATE int segloss__adv_good(const segloss__adv_facts *f, segloss_config *o, char *why, size_t why_size)
{
    if (!f->used || !f->cur) return 0;
    segloss__adv_base(o, f->cur->loss_type, f->cur);
    snprintf(why, why_size, "per-class metrics balanced and mean IoU %.2f >= 0.5: keep '%s'", f->miou,
             segloss_loss_name(f->cur->loss_type));
    return 1;
}

/* 6. No metrics to go by; counts balanced (or one class present): plain cross entropy. */
SEGLOSS__PRIVATE int segloss__adv_balanced(const segloss__adv_facts *f, segloss_config *o, char *why,
                                           size_t why_size)
{
    if (f->present == 0 || !(f->present < 2 || f->ratio < 3.0)) return 0;
    segloss__adv_base(o, SEGLOSS_CE, f->cur);
    snprintf(why, why_size,
             "classes balanced (largest/smallest frequency %.1f < 3): plain cross entropy 'ce'", f->ratio);
    return 1;
}

/* 7a. Counts imbalanced, with ce or no config: weighted cross entropy as the baseline. */
SEGLOSS__PRIVATE int segloss__adv_imbalance(const segloss__adv_facts *f, segloss_config *o, char *why,
                                            size_t why_size)
{
    if (f->present == 0 || (f->cur && f->cur->loss_type != SEGLOSS_CE)) return 0;
    segloss__adv_base(o, SEGLOSS_WEIGHTED_CE, f->cur);
    o->use_class_weighting = 1;
    snprintf(why, why_size,
             "class imbalance (largest/smallest frequency %.1f): 'weighted_ce' baseline, then check "
             "per-class recall and precision", f->ratio);
    return 1;
}

/* 7b. ... with another loss, chosen for the imbalance already: keep it until metrics say otherwise. */
SEGLOSS__PRIVATE int segloss__adv_imbalance_keep(const segloss__adv_facts *f, segloss_config *o, char *why,
                                                 size_t why_size)
{
    if (f->present == 0) return 0;
    segloss__adv_base(o, f->cur->loss_type, f->cur);
    snprintf(why, why_size,
             "class imbalance (largest/smallest frequency %.1f), no metrics yet: keep '%s', then check "
             "per-class recall and precision", f->ratio, segloss_loss_name(f->cur->loss_type));
    return 1;
}

/* 8a. Nothing known (no counts, no metrics): keep the config in use. */
SEGLOSS__PRIVATE int segloss__adv_unknown_keep(const segloss__adv_facts *f, segloss_config *o, char *why,
                                               size_t why_size)
{
    if (!f->cur) return 0;
    segloss__adv_base(o, f->cur->loss_type, f->cur);
    snprintf(why, why_size, "no class counts or metrics: keep '%s'", segloss_loss_name(f->cur->loss_type));
    return 1;
}

/* 8b. ... and none in use: the baseline. */
SEGLOSS__PRIVATE int segloss__adv_unknown(const segloss__adv_facts *f, segloss_config *o, char *why, size_t why_size)
{
    segloss__adv_base(o, SEGLOSS_CE, f->cur);
    snprintf(why, why_size, "%s", "no class counts or metrics: start with 'ce' as a baseline");
    return 1;
}

static const segloss__adv_rule segloss__adv_count_rules[] = {
    segloss__adv_balanced, segloss__adv_imbalance, segloss__adv_imbalance_keep, segloss__adv_unknown_keep,
    segloss__adv_unknown
};

/* ---- binary problems (see above): the sigmoid is set afterwards, in segloss__advise ---- */

SEGLOSS__PRIVATE int segloss__adv_dice_family(segloss_loss_type t)
{
    return t == SEGLOSS_DICE || t == SEGLOSS_FOCAL_DICE || t == SEGLOSS_TVERSKY || t == SEGLOSS_GENERALIZED_DICE;
}

/* 1b. One channel under softmax: the loss is constant, nothing else matters until it is fixed. */
SEGLOSS__PRIVATE int segloss__adv_bin_softmax(const segloss__adv_facts *f, segloss_config *o, char *why,
                                              size_t why_size)
{
    if (f->c != 1 || !f->cur || f->cur->activation == SEGLOSS_SIGMOID) return 0;
    segloss__adv_base(o, f->cur->loss_type, f->cur);
    snprintf(why, why_size,
             "one channel (C = 1) under softmax: p = 1 everywhere, the loss is constant; set "
             "activation='sigmoid' and keep '%s'", segloss_loss_name(f->cur->loss_type));
    return 1;
}

/* 6. Foreground not rare (or one class only): plain BCE. */
SEGLOSS__PRIVATE int segloss__adv_bin_balanced(const segloss__adv_facts *f, segloss_config *o, char *why,
                                               size_t why_size)
{
    if (f->present == 0 || f->c < 2 || (f->fg >= 0.0 && f->fg < 0.25)) return 0;
    segloss__adv_base(o, SEGLOSS_CE, f->cur);
    if (f->fg < 0.0)
        snprintf(why, why_size, "%s",
                 "binary, only one class in the counts: plain BCE, 'ce' with activation='sigmoid'");
    else
        snprintf(why, why_size,
                 "binary, foreground balanced (rarest side %.1f%% of positions >= 25%%): plain BCE, 'ce' with "
                 "activation='sigmoid'", 100.0 * f->fg);
    return 1;
}

/* 7t. Tiny foreground: BCE and focal see almost only background; Dice sees the overlap. */
SEGLOSS__PRIVATE int segloss__adv_bin_tiny(const segloss__adv_facts *f, segloss_config *o, char *why,
                                           size_t why_size)
{
    if (!(f->fg >= 0.0 && f->fg < 0.01)) return 0;
    if (f->cur && segloss__adv_dice_family(f->cur->loss_type)) {
        segloss__adv_base(o, f->cur->loss_type, f->cur);
        snprintf(why, why_size,
                 "tiny foreground (%.2f%% of positions), no metrics yet: keep sigmoid '%s', then check recall "
                 "and precision", 100.0 * f->fg, segloss_loss_name(f->cur->loss_type));
        return 1;
    }
    segloss__adv_base(o, SEGLOSS_FOCAL_DICE, f->cur);
    snprintf(why, why_size,
             "tiny foreground (%.2f%% of positions): sigmoid 'focal_dice' (focal alpha 0.25 gamma 2 + Dice) "
             "optimises the overlap that BCE drowns", 100.0 * f->fg);
    return 1;
}

/* 7a. Rare foreground with ce or no config: BCE weighted by pos_weight = negatives / positives. */
SEGLOSS__PRIVATE int segloss__adv_bin_rare(const segloss__adv_facts *f, segloss_config *o, char *why,
                                           size_t why_size)
{
    if (!(f->fg >= 0.0) || (f->cur && f->cur->loss_type != SEGLOSS_CE)) return 0;
    segloss__adv_base(o, SEGLOSS_WEIGHTED_CE, f->cur);
    o->use_class_weighting = 1;
    snprintf(why, why_size,
             "rare foreground (%.1f%% of positions): 'weighted_ce' with activation='sigmoid' (automatic "
             "pos_weight %.1f), or sigmoid 'focal' (alpha 0.25, gamma 2)", 100.0 * f->fg, (1.0 - f->fg) / f->fg);
    return 1;
}

/* 7b. ... with another loss, chosen for the imbalance already: keep it until metrics say otherwise. */
SEGLOSS__PRIVATE int segloss__adv_bin_rare_keep(const segloss__adv_facts *f, segloss_config *o, char *why,
                                                size_t why_size)
{
    if (!(f->fg >= 0.0)) return 0;
    segloss__adv_base(o, f->cur->loss_type, f->cur);
    snprintf(why, why_size,
             "rare foreground (%.1f%% of positions), no metrics yet: keep sigmoid '%s', then check recall and "
             "precision", 100.0 * f->fg, segloss_loss_name(f->cur->loss_type));
    return 1;
}

/* 8. No fraction to go by (no counts, or c == 1's single count): keep the config in use, or BCE. */
SEGLOSS__PRIVATE int segloss__adv_bin_unknown(const segloss__adv_facts *f, segloss_config *o, char *why,
                                              size_t why_size)
{
    const char *what = f->present && f->c == 1 ? "one count gives no foreground fraction (pass c = 2: background, "
                                                 "foreground)"
                                               : "no class counts or metrics";
    if (f->cur) {
        segloss__adv_base(o, f->cur->loss_type, f->cur);
        snprintf(why, why_size, "binary, %s: keep sigmoid '%s'", what, segloss_loss_name(f->cur->loss_type));
    } else {
        segloss__adv_base(o, SEGLOSS_CE, f->cur);
        snprintf(why, why_size, "binary, %s: start with BCE, 'ce' with activation='sigmoid'", what);
    }
    return 1;
}

static const segloss__adv_rule segloss__adv_bin_count_rules[] = {
    segloss__adv_bin_balanced, segloss__adv_bin_tiny, segloss__adv_bin_rare, segloss__adv_bin_rare_keep,
    segloss__adv_bin_unknown
};

SEGLOSS__PRIVATE int segloss__adv_by_counts(const segloss__adv_facts *f, segloss_config *o, char *why,
                                            size_t why_size)
{
    if (f->binary)
        return segloss__adv_first(segloss__adv_bin_count_rules,
                                  sizeof segloss__adv_bin_count_rules / sizeof(segloss__adv_rule), f, o, why, why_size);
    return segloss__adv_first(segloss__adv_count_rules, sizeof segloss__adv_count_rules / sizeof(segloss__adv_rule),
                              f, o, why, why_size);
}

/* The guide's order: divergence first, then what the metrics show (over-prediction before
   under-prediction before low IoU), and the class counts only when there are no metrics. */
static const segloss__adv_rule segloss__adv_rules[] = {
    segloss__adv_diverged, segloss__adv_bin_softmax,
    segloss__adv_over_gamma, segloss__adv_over_gamma_spent, segloss__adv_over_tversky, segloss__adv_over_dice,
    segloss__adv_over,
    segloss__adv_under_tversky, segloss__adv_under,
    segloss__adv_low_iou_reweight, segloss__adv_low_iou_spent, segloss__adv_low_iou_other,
    segloss__adv_good,
    segloss__adv_by_counts
};

/* Writes the reason into why. */
SEGLOSS__PRIVATE void segloss__advise(const int64_t *counts, const segloss_class_metrics *metrics, int64_t c,
                                      const segloss_config *current, int diverged, segloss_advice *out, char *why,
                                      size_t why_size)
{
    segloss__adv_facts f;
    segloss__adv_read(counts, metrics, c, current, diverged, &f);
    segloss__adv_first(segloss__adv_rules, sizeof segloss__adv_rules / sizeof(segloss__adv_rule), &f, &out->config,
                       why, why_size);
    if (f.binary) {
        segloss_config *o = &out->config;
        const int was_focal = f.cur && (f.cur->loss_type == SEGLOSS_FOCAL || f.cur->loss_type == SEGLOSS_FOCAL_DICE);
        const int fresh_focal = (o->loss_type == SEGLOSS_FOCAL || o->loss_type == SEGLOSS_FOCAL_DICE) && !was_focal;
        o->activation = SEGLOSS_SIGMOID;
        o->label_smoothing = 0.0f;
        if (fresh_focal) {
            o->focal_alpha = 0.25f;
            o->use_class_weighting = 0;
        }
    } else {
        out->config.activation = SEGLOSS_SOFTMAX; /* whatever a current config of another value held */
    }
}

SEGLOSS__API void segloss_advise(const int64_t *counts, const segloss_class_metrics *metrics, int64_t c,
                                 const segloss_config *current, int diverged, segloss_advice *out)
{
    char line[1024]; /* larger than any reason can be: no truncation warnings; cut to 159 below */
    size_t len;
    if (!out) return;
    memset(out, 0, sizeof *out);
    line[0] = 0;
    segloss__advise(counts, metrics, c, current, diverged, out, line, sizeof line);
    len = strlen(line);
    if (len > sizeof out->reason - 1) len = sizeof out->reason - 1;
    memcpy(out->reason, line, len);
    out->reason[len] = 0;
}

#endif /* SEGLOSS__METRICS_H */
