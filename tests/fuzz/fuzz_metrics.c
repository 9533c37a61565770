/* tests/fuzz/fuzz_metrics.c — libFuzzer target: segloss_label_histogram, segloss_confusion,
   segloss_metrics, segloss_metrics_format, segloss_class_weights, segloss_weights_for and
   segloss_advise on random shapes, labels (ignored, out of range) and logits (NaN, +-inf).
   Input: a 6-byte header (label type, layout, N, C (1-200), S, ignore/flags), then one byte per label,
   then one byte per logit; when the bytes run out a generator seeded by the input continues.
   Oracle (abort() on violation):
     - never a crash or sanitizer report; every buffer is malloc'd to its exact size;
     - on error (SEGLOSS_ERR_LABEL when a label is out of range) counts/confusion untouched;
     - on success: histogram sums to the number of valid labels; confusion sums to it too, row
       sums equal the histogram, and each position's prediction is recomputed here (argmax
       over non-NaN logits, lowest class on ties, class 0 if all NaN) and must match;
     - metrics: tp/fp/fn consistent with the matrix, every ratio in [0, 1] or NaN, mean IoU
       in [0, 1] or NaN; metrics_format has snprintf semantics for sizes 0, 1, len, len+1;
     - class_weights: finite and >= 0, 0 exactly for absent classes, for the four methods;
     - weights_for (weighted_ce): equal to (float)(|V| / n_c) from the histogram;
     - advise: a config segloss_compute accepts (valid enum, params), NUL-terminated reason. */
#include "../../segloss.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(c) do { if (!(c)) { fprintf(stderr, "fuzz_metrics: check failed: %s (line %d)\n", #c, __LINE__); abort(); } } while (0)

typedef struct { const uint8_t *p; size_t n, i; uint32_t seed; } reader;
static unsigned next(reader *r)
{
    if (r->i < r->n) return r->p[r->i++];
    r->seed = r->seed * 1664525u + 1013904223u;
    return r->seed >> 24;
}

static int in01(double v) { return v != v || (v >= 0.0 && v <= 1.0); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader rd;
    segloss_input in;
    int64_t N, C, S, T, NS, i, k, ignore, valid = 0;
    int lt, bad_labels, want_bad = 0;
    float *z;
    void *y;
    int64_t *counts, *conf, *rowsum;
    segloss_class_metrics *m;
    segloss_status st;
    uint32_t h = 2166136261u;
    if (size < 6) return 0;
    for (i = 0; i < (int64_t)size; i++) h = (h ^ data[i]) * 16777619u;
    rd.p = data; rd.n = size; rd.i = 0; rd.seed = h;
    lt = (int)(next(&rd) % 3);
    in.layout = (segloss_layout)(next(&rd) & 1);
    N = 1 + next(&rd) % 4;
    C = 1 + next(&rd) % 64;
    if (C > 60) C = 61 + next(&rd) % 140; /* up to 200 classes, now and then */
    S = 1 + next(&rd) % 200;
    k = next(&rd);
    bad_labels = (k & 3) == 0;
    ignore = lt == 0 ? ((k >> 2) & 1 ? 255 : (int64_t)((k >> 3) % C)) : ((k >> 2) & 1 ? -100 : -1);
    if ((k >> 4) == 15) ignore = lt == 0 ? 256 + ((k >> 2) & 3) : ((int64_t)1 << 32) + ((k >> 2) & 3); /* unrepresentable */
    T = N * C * S;
    NS = N * S;
    z = (float *)malloc((size_t)T * sizeof(float));
    y = malloc((size_t)NS * (lt == 0 ? 1 : lt == 1 ? 4 : 8));
    for (i = 0; i < NS; i++) {
        unsigned b = next(&rd);
        int64_t v = b < 20 ? ignore : b < 24 && bad_labels ? (b == 20 ? C : b == 21 ? -1 : b == 22 ? 255 : INT64_MAX)
                  : (int64_t)(((unsigned)b * 7919u + (unsigned)i) % (unsigned)C);
        if (lt == 0) { ((uint8_t *)y)[i] = (uint8_t)v; v = (uint8_t)v; }
        else if (lt == 1) { ((int32_t *)y)[i] = (int32_t)v; v = (int32_t)v; }
        else ((int64_t *)y)[i] = v;
        if (v != ignore && (v < 0 || v >= C)) want_bad = 1;
        else if (v != ignore) valid++;
    }
    for (i = 0; i < T; i++) {
        unsigned b = next(&rd);
        z[i] = b == 255 ? NAN : b == 254 ? INFINITY : b == 253 ? -INFINITY : b == 252 ? -NAN : ((float)b - 126.0f) / 16.0f;
    }
    in.logits = z; in.labels = y; in.label_type = (segloss_label_type)lt;
    in.n = N; in.c = C; in.s = S;

    counts = (int64_t *)malloc((size_t)C * sizeof(int64_t));
    conf = (int64_t *)malloc((size_t)(C * C) * sizeof(int64_t));
    rowsum = (int64_t *)calloc((size_t)C, sizeof(int64_t));
    m = (segloss_class_metrics *)malloc((size_t)C * sizeof *m);
    memset(counts, 0, (size_t)C * sizeof(int64_t));
    memset(conf, 0, (size_t)(C * C) * sizeof(int64_t));

    st = segloss_label_histogram(&in, ignore, counts);
    REQUIRE(st == (want_bad ? SEGLOSS_ERR_LABEL : SEGLOSS_OK));
    st = segloss_confusion(&in, ignore, conf);
    REQUIRE(st == (want_bad ? SEGLOSS_ERR_LABEL : SEGLOSS_OK));
    if (want_bad) {
        for (k = 0; k < C; k++) REQUIRE(counts[k] == 0);
        for (k = 0; k < C * C; k++) REQUIRE(conf[k] == 0);
    } else {
        int64_t tot = 0, n, s;
        for (k = 0; k < C; k++) tot += counts[k];
        REQUIRE(tot == valid);
        /* recompute every prediction */
        for (n = 0; n < N; n++)
            for (s = 0; s < S; s++) {
                int64_t lab = lt == 0 ? ((uint8_t *)y)[n * S + s] : lt == 1 ? ((int32_t *)y)[n * S + s] : ((int64_t *)y)[n * S + s];
                int64_t best = -1, c;
                float bv = 0;
                if (lab == ignore) continue;
                for (c = 0; c < C; c++) {
                    float v = in.layout == SEGLOSS_NCHW ? z[(n * C + c) * S + s] : z[(n * S + s) * C + c];
                    if (v == v && (best < 0 || v > bv)) { bv = v; best = c; }
                }
                rowsum[lab]++;
                conf[lab * C + (best < 0 ? 0 : best)]--; /* subtract what we expect */
            }
        for (k = 0; k < C * C; k++) REQUIRE(conf[k] == 0); /* exactly the expected matrix */
        st = segloss_confusion(&in, ignore, conf);           /* again, for the metrics */
        REQUIRE(st == SEGLOSS_OK);
        for (k = 0; k < C; k++) REQUIRE(rowsum[k] == counts[k]);
    }
    {   /* metrics on whatever the matrix holds (all zero after an error: every ratio NaN) */
        double miou = segloss_metrics(conf, C, m);
        int len, j;
        REQUIRE(in01(miou));
        for (k = 0; k < C; k++) {
            int64_t row = 0, col = 0;
            for (j = 0; j < C; j++) { row += conf[k * C + j]; col += conf[j * C + k]; }
            REQUIRE(m[k].tp == conf[k * C + k] && m[k].fn == row - m[k].tp && m[k].fp == col - m[k].tp);
            REQUIRE(in01(m[k].recall) && in01(m[k].precision) && in01(m[k].iou) && in01(m[k].dice));
        }
        len = segloss_metrics_format(m, C, NULL, NULL, 0);
        REQUIRE(len > 0);
        {
            size_t sizes[4];
            sizes[0] = 1; sizes[1] = 2; sizes[2] = (size_t)len; sizes[3] = (size_t)len + 1;
            for (j = 0; j < 4; j++) {
                char *b = (char *)malloc(sizes[j]);
                REQUIRE(segloss_metrics_format(m, C, NULL, b, sizes[j]) == len);
                REQUIRE(strlen(b) == (sizes[j] - 1 < (size_t)len ? sizes[j] - 1 : (size_t)len));
                free(b);
            }
        }
        {   /* names: some NULL, some long */
            const char **names = (const char **)malloc((size_t)C * sizeof(char *));
            static const char *pool[4] = { NULL, "bg", "", "a-very-long-class-name-that-widens-the-column-beyond-eight" };
            char *b;
            for (k = 0; k < C; k++) names[k] = pool[(k + (int64_t)size) & 3];
            len = segloss_metrics_format(m, C, names, NULL, 0);
            b = (char *)malloc((size_t)len + 1);
            REQUIRE(segloss_metrics_format(m, C, names, b, (size_t)len + 1) == len && strlen(b) == (size_t)len);
            free(b);
            free((void *)names);
        }
    }
    {   /* class weights from the histogram (zeros after an error) and weights_for */
        float *w = (float *)malloc((size_t)C * sizeof(float)), *w2 = (float *)malloc((size_t)C * sizeof(float));
        int meth;
        segloss_config cfg;
        for (meth = 0; meth < 4; meth++) {
            REQUIRE(segloss_class_weights((segloss_weighting)meth, counts, C, w) == SEGLOSS_OK);
            for (k = 0; k < C; k++) {
                REQUIRE(w[k] >= 0.0f && w[k] <= 3.4028234663852886e38f);
                if (counts[k] == 0) REQUIRE(w[k] == 0.0f);
            }
        }
        segloss_config_init(&cfg, SEGLOSS_WEIGHTED_CE);
        cfg.ignore_index = ignore;
        st = segloss_weights_for(&cfg, &in, w2);
        /* the labels are read first; then one class under the softmax is refused (the sigmoid's problem) */
        REQUIRE(st == (want_bad ? SEGLOSS_ERR_LABEL : C == 1 ? SEGLOSS_ERR_PARAM : SEGLOSS_OK));
        if (!want_bad && C > 1)
            for (k = 0; k < C; k++)
                REQUIRE(w2[k] == (counts[k] > 0 ? (float)((double)valid / (double)counts[k]) : 0.0f));
        {   /* advice from these counts and metrics, with and without a current config */
            segloss_advice adv;
            segloss_config cur;
            segloss_input one;
            segloss_result r;
            float z1[2] = { 0.5f, -0.5f };
            uint8_t y1 = 1;
            int t;
            for (t = -1; t < SEGLOSS_LOSS_COUNT + 1; t++) {
                segloss_config_init(&cur, (segloss_loss_type)(t < 0 ? 0 : t));
                if (t == SEGLOSS_LOSS_COUNT) cur.loss_type = (segloss_loss_type)77;
                cur.focal_gamma = (float)(size % 7);
                cur.tversky_alpha = (float)(size % 11) / 10.0f;
                cur.tversky_beta = 1.0f - cur.tversky_alpha;
                segloss_advise((size & 1) ? counts : NULL, (size & 2) ? m : NULL, C, t < 0 ? NULL : &cur,
                               (int)((size >> 2) & 1) && t == 2, &adv);
                REQUIRE(memchr(adv.reason, 0, sizeof adv.reason) != NULL && adv.reason[0] != 0);
                REQUIRE(adv.config.class_weights == NULL);
                one.logits = z1; one.labels = &y1; one.label_type = SEGLOSS_LABEL_U8;
                one.n = 1; one.c = 2; one.s = 1; one.layout = SEGLOSS_NHWC;
                adv.config.ignore_index = -100;
                REQUIRE(segloss_compute(&adv.config, &one, NULL, &r) == SEGLOSS_OK);
            }
        }
        free(w);
        free(w2);
    }
    free(z); free(y); free(counts); free(conf); free(rowsum); free(m);
    return 0;
}
