/* tests/fuzz/fuzz_compute.c — libFuzzer target: segloss_compute and the two-phase API on every
   SIMD path this CPU runs, against the scalar path.
   Input: a 16-byte header (see decode()) choosing loss, options, label type, layout, N, C, S,
   the SIMD path and the grad buffer mode; then one byte per label and one per logit. When
   the bytes run out a generator seeded by a hash of the input continues, so small inputs
   still drive batches of up to 4 x 300 x 300.
   Oracle (abort() on violation, so libFuzzer keeps the input):
     1. never a crash or an ASan/UBSan report (every buffer is malloc'd to its exact size);
     2. the status is the one the contract implies (config, input, weights, alias, labels,
        check_finite — in that order), with bad_position the first offending position;
     3. on error: grad (canary-filled, or the logits for in place) untouched byte for byte,
        loss/ce/dice NaN, valid 0; a partial overlap of grad and logits is SEGLOSS_ERR_ALIAS;
     4. on OK: valid = number of non-ignored labels; ignored positions' gradients are exactly
        0; and if every logit at a valid position is finite with |x| <= 1e4 (and parameters
        are not extreme, see moderate()), the loss and every gradient entry are finite;
     5. the chosen path vs scalar: avx2/avx512/neon bit-identical (loss and gradient) when all
        logits are finite; sse2 within 1e-4 relative on the loss (moderate inputs);
     6. in place (grad == logits) and misaligned buffers give the same bits as the scalar
        run into a separate buffer (same path); loss-only (grad NULL) agrees with the loss of
        the gradient run;
     7. segloss_accumulate on two slices (two groups of samples, or for NHWC two ranges of
        positions of one sample) + segloss_finish + segloss_backward per slice agree with
        segloss_compute (1e-5 relative/absolute, moderate inputs). */
#include "../../segloss.h"
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(c) do { if (!(c)) { fprintf(stderr, "fuzz_compute: check failed: %s (line %d) isa %s\n", #c, __LINE__, g_isa); \
    abort(); } } while (0)

static const char *g_isa = "?";

typedef struct { const uint8_t *p; size_t n, i; uint32_t seed; } reader;
static unsigned nextb(reader *r)
{
    if (r->i < r->n) return r->p[r->i++];
    r->seed = r->seed * 1664525u + 1013904223u;
    return r->seed >> 24;
}
static unsigned next16(reader *r) { unsigned a = nextb(r); return a | nextb(r) << 8; }
static float rawf(reader *r)
{
    uint32_t u = nextb(r) | nextb(r) << 8 | nextb(r) << 16 | (uint32_t)nextb(r) << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static const float gammas[16] = { 0.0f, 0.5f, 1.0f, 2.0f, 3.0f, 5.0f, 16.0f, 17.0f, 1.5f, 0.25f, 100.0f, 1e4f, 1e30f, FLT_MAX, 1e-30f, 2.5f };
static const float smooths[8] = { 1.0f, 0.0f, 1e-5f, 1e-30f, 100.0f, 1e30f, 0.5f, FLT_MAX };
static const float ab[8] = { 0.7f, 0.3f, 0.0f, 1.0f, 0.5f, 5.0f, 1e-30f, 1e30f };
static const float cw[8] = { 1.0f, 0.0f, 0.5f, 10.0f, 1e-30f, 1e30f, 3.0f, 0.125f };
static const float specials[16] = { NAN, INFINITY, -INFINITY, 1e38f, -1e38f, 1e-40f, -1e-40f, 1e4f,
                                    -1e4f, 1e30f, -1e30f, 0.0f, -0.0f, FLT_MAX, -FLT_MAX, 1e-45f };
static const float scales[8] = { 1.0f, 4.0f, 16.0f, 100.0f, 1000.0f, 1e4f, 0.01f, 1e30f };

typedef struct {
    segloss_config cfg;
    int lt, layout, n, c, s, isa, gmode, bad_param;
    int64_t ignore;
    float *weights;
} job;

static int moderate_param(float v) { return v == 0.0f || (v >= 1e-6f && v <= 1e6f); }
static int moderate(const job *j)
{
    int k;
    const segloss_config *c = &j->cfg;
    if (!moderate_param(c->dice_smooth) || !moderate_param(c->tversky_alpha) || !moderate_param(c->tversky_beta) ||
        !moderate_param(c->focal_weight) || !moderate_param(c->dice_weight))
        return 0;
    if (j->weights)
        for (k = 0; k < j->c; k++)
            if (!moderate_param(j->weights[k])) return 0;
    return 1;
}

static int64_t label_at(const void *y, int lt, int64_t i)
{
    return lt == 0 ? ((const uint8_t *)y)[i] : lt == 1 ? ((const int32_t *)y)[i] : ((const int64_t *)y)[i];
}

/* The status the contract implies (api.h 3, 7; validation order of segloss_compute). */
static segloss_status expected(const job *j, const float *z, const void *y, int overlap, int64_t *bad)
{
    const segloss_config *c = &j->cfg;
    segloss_loss_type t = c->loss_type;
    int64_t i, T = (int64_t)j->n * j->c * j->s;
    int nonneg_ok;
#define NN(v) ((v) >= 0.0f && (v) <= FLT_MAX)
    *bad = -1;
    if ((unsigned)t >= SEGLOSS_LOSS_COUNT || (unsigned)c->reduction > SEGLOSS_SUM) return SEGLOSS_ERR_ENUM;
    nonneg_ok = 1;
    if ((t == SEGLOSS_FOCAL || t == SEGLOSS_FOCAL_DICE) && !NN(c->focal_gamma)) nonneg_ok = 0;
    if (t == SEGLOSS_FOCAL_DICE && (!NN(c->focal_weight) || !NN(c->dice_weight) || (c->focal_weight == 0 && c->dice_weight == 0))) nonneg_ok = 0;
    if ((t == SEGLOSS_DICE || t == SEGLOSS_FOCAL_DICE || t == SEGLOSS_TVERSKY) && !NN(c->dice_smooth)) nonneg_ok = 0;
    if (t == SEGLOSS_TVERSKY && (!NN(c->tversky_alpha) || !NN(c->tversky_beta))) nonneg_ok = 0;
    if (!nonneg_ok) return SEGLOSS_ERR_PARAM;
    if (c->class_weights && t != SEGLOSS_DICE && t != SEGLOSS_TVERSKY)
        for (i = 0; i < j->c; i++)
            if (!NN(c->class_weights[i])) return SEGLOSS_ERR_WEIGHTS;
    if (overlap) return SEGLOSS_ERR_ALIAS;
    for (i = 0; i < (int64_t)j->n * j->s; i++) {
        int64_t v = label_at(y, j->lt, i);
        if (v != c->ignore_index && (v < 0 || v >= j->c)) { *bad = i; return SEGLOSS_ERR_LABEL; }
    }
    if (c->check_finite)
        for (i = 0; i < T; i++)
            if (!(fabsf(z[i]) <= FLT_MAX)) { *bad = i; return SEGLOSS_ERR_NONFINITE; }
    return SEGLOSS_OK;
#undef NN
}

static float *zat(float *z, const job *j, int64_t n, int64_t c, int64_t s)
{
    return j->layout == SEGLOSS_NCHW ? z + (n * j->c + c) * j->s + s : z + (n * j->s + s) * j->c + c;
}

static int close_rel(double a, double b, double rel, double abs_)
{
    return fabs(a - b) <= rel * fmax(fabs(a), fabs(b)) + abs_;
}

/* The path of header slot k (0..4): the compiled-in paths from scalar up (on x86: scalar,
   sse2, avx2, avx512), then a name that is not compiled in, which segloss_set_isa must refuse. */
static const char *path_of_slot(int k)
{
    const int n = segloss_isa_count();
    return k < n ? segloss_isa_name(n - 1 - k) : "not-compiled-in";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader rd;
    job j;
    unsigned b, flags, flags2, special_rate, ignore_rate, bad_rate;
    int64_t T, NS, i, valid = 0, bad_pos_exp;
    float scale, *z, *g_ref, *g, *buf = NULL, *zin;
    void *y;
    int all_finite = 1, all_moderate = 1, isa_ok, overlap = 0, k;
    segloss_input in;
    segloss_result r_ref, r;
    segloss_status st_ref, st, st_exp;
    uint32_t h = 2166136261u;
    size_t gbytes;
    if (size < 16) return 0;
    for (i = 0; i < (int64_t)size; i++) h = (h ^ data[i]) * 16777619u;
    rd.p = data; rd.n = size; rd.i = 0; rd.seed = h;

    /* ---- decode the header ---- */
    memset(&j, 0, sizeof j);
    b = nextb(&rd);
    segloss_config_init(&j.cfg, (segloss_loss_type)(b % SEGLOSS_LOSS_COUNT));
    if (b >= 252) j.cfg.loss_type = (segloss_loss_type)(b == 255 ? -1 : SEGLOSS_LOSS_COUNT); /* bad enum, rarely */
    flags = nextb(&rd);
    j.cfg.per_sample = flags & 1;
    j.cfg.include_background = !((flags >> 1) & 1);
    j.cfg.reduction = (segloss_reduction)((flags >> 2) & 1);
    j.cfg.check_finite = ((flags >> 3) & 7) == 0;
    j.cfg.use_class_weighting = (flags >> 6) & 1;
    b = nextb(&rd);
    j.cfg.focal_gamma = gammas[b & 15];
    if ((b >> 4) == 15) j.cfg.focal_gamma = fabsf(rawf(&rd)); /* any float, may be inf/NaN */
    b = nextb(&rd);
    j.cfg.dice_smooth = smooths[b & 7];
    j.cfg.tversky_alpha = ab[(b >> 3) & 7];
    j.cfg.tversky_beta = ab[(nextb(&rd)) & 7];
    b = nextb(&rd);
    j.cfg.focal_weight = (float)(b & 3) * 0.5f;
    j.cfg.dice_weight = (float)((b >> 2) & 3) * 0.5f;
    j.bad_param = (b >> 4) == 15; /* rarely: one parameter made invalid */
    if (j.bad_param) {
        static const float badv[4] = { NAN, -1.0f, INFINITY, -1e-45f };
        float v = badv[(b >> 2) & 3];
        switch (b & 3) {
        case 0: j.cfg.focal_gamma = v; break;
        case 1: j.cfg.dice_smooth = v; break;
        case 2: j.cfg.tversky_alpha = v; break;
        default: j.cfg.focal_weight = v; break;
        }
    }
    flags2 = nextb(&rd);
    j.lt = (int)(flags2 % 3);
    j.layout = (int)((flags2 >> 2) & 1);
    j.n = 1 + (int)((flags2 >> 3) & 3);
    j.isa = (int)(flags2 >> 5) % 5; /* a slot: see path_of_slot */
    b = nextb(&rd);
    j.c = b < 240 ? 1 + (int)(b % 40) : 1 + (int)(next16(&rd) % 300);
    j.s = 1 + (int)(next16(&rd) % 300);
    b = nextb(&rd);
    j.gmode = (int)(b % 6);        /* 0 NULL, 1 buffer, 2 in place, 3 misaligned, 4 overlap, 5 buffer */
    if ((b >> 3) & 1) { /* class weights */
        j.weights = (float *)malloc((size_t)j.c * sizeof(float));
        for (k = 0; k < j.c; k++) {
            unsigned wb = nextb(&rd);
            j.weights[k] = cw[wb & 7];
            if (wb == 255) j.weights[k] = (wb & 8) ? NAN : -1.0f; /* rarely invalid */
            if (wb == 254) j.weights[k] = -INFINITY;
        }
        j.cfg.class_weights = j.weights;
    }
    b = nextb(&rd);
    scale = scales[b & 7];
    special_rate = (b >> 3) & 31;   /* specials per 256 generated logits */
    b = nextb(&rd);
    ignore_rate = b & 63;
    bad_rate = (b >> 6) == 3 ? 1 + ((b >> 2) & 3) : 0; /* out-of-range labels, sometimes */
    b = nextb(&rd);
    j.ignore = j.lt == 0 ? ((b & 3) == 0 ? 0 : (b & 3) == 1 ? -100 : 255)
             : ((b & 3) == 0 ? -1 : (b & 3) == 1 ? INT32_MIN : (b & 3) == 2 ? (int64_t)j.c : -100);
    if ((b >> 2) == 63) /* now and then one no label type can hold: 2^32 + k, 256 + k */
        j.ignore = j.lt == 0 ? 256 + (b & 3) : ((int64_t)1 << 32) + (b & 3);
    j.cfg.ignore_index = j.ignore;

    T = (int64_t)j.n * j.c * j.s;
    NS = (int64_t)j.n * j.s;
    gbytes = (size_t)T * sizeof(float);

    /* ---- labels and logits ---- */
    y = malloc((size_t)NS * (j.lt == 0 ? 1 : j.lt == 1 ? 4 : 8) + 1);
    for (i = 0; i < NS; i++) {
        unsigned lb = nextb(&rd);
        int64_t v;
        if (lb < ignore_rate) v = j.ignore;
        else if (lb >= 256 - bad_rate) {
            static const int64_t outs[4] = { -1, 0, 255, INT64_MIN };
            v = lb == 255 ? j.c : outs[lb & 3];
            if (v == 0) v = j.c + 1;
        } else v = (int64_t)((lb * 2654435761u + (unsigned)i) % (unsigned)j.c);
        if (j.lt == 0) ((uint8_t *)y)[i] = (uint8_t)v;
        else if (j.lt == 1) ((int32_t *)y)[i] = (int32_t)v;
        else ((int64_t *)y)[i] = v;
    }
    z = (float *)malloc(gbytes);
    for (i = 0; i < T; i++) {
        unsigned zb = nextb(&rd);
        if (zb < special_rate) z[i] = specials[nextb(&rd) & 15];
        else z[i] = ((float)zb - 127.5f) / 128.0f * scale * (float)(1 + (nextb(&rd) & 3));
    }
    {   /* what the finiteness oracle needs: logits at valid positions */
        int64_t n, s, c;
        for (n = 0; n < j.n; n++)
            for (s = 0; s < j.s; s++) {
                int64_t v = label_at(y, j.lt, n * j.s + s);
                int is_valid = v != j.ignore;
                if (is_valid && v >= 0 && v < j.c) valid++;
                for (c = 0; c < j.c; c++) {
                    float x = *zat(z, &j, n, c, s);
                    if (!(fabsf(x) <= FLT_MAX)) all_finite = 0;
                    if (is_valid && !(fabsf(x) <= 1e4f)) all_moderate = 0;
                }
            }
    }
    in.logits = z; in.labels = y; in.label_type = (segloss_label_type)j.lt;
    in.n = j.n; in.c = j.c; in.s = j.s; in.layout = (segloss_layout)j.layout;

    /* ---- reference: scalar path, separate buffer ---- */
    g_isa = "scalar";
    REQUIRE(segloss_set_isa("scalar") == SEGLOSS_OK);
    g_ref = (float *)malloc(gbytes);
    memset(g_ref, 0xA5, gbytes);
    st_ref = segloss_compute(&j.cfg, &in, g_ref, &r_ref);
    st_exp = expected(&j, z, y, 0, &bad_pos_exp);
    REQUIRE(st_ref == st_exp);
    if (st_ref != SEGLOSS_OK) {
        for (i = 0; i < (int64_t)gbytes; i++) REQUIRE(((unsigned char *)g_ref)[i] == 0xA5);
        REQUIRE(r_ref.loss != r_ref.loss && r_ref.ce_term != r_ref.ce_term && r_ref.dice_term != r_ref.dice_term);
        REQUIRE(r_ref.valid == 0 && r_ref.bad_position == bad_pos_exp);
    } else {
        int64_t n, s, c;
        REQUIRE(r_ref.valid == valid && r_ref.bad_position == -1);
        for (n = 0; n < j.n; n++)
            for (s = 0; s < j.s; s++)
                if (label_at(y, j.lt, n * j.s + s) == j.ignore)
                    for (c = 0; c < j.c; c++) {
                        float gv = *zat(g_ref, &j, n, c, s);
                        REQUIRE(gv == 0.0f);
                    }
        if (all_moderate && moderate(&j)) {
            REQUIRE(isfinite(r_ref.loss) && isfinite(r_ref.ce_term) && isfinite(r_ref.dice_term));
            for (i = 0; i < T; i++) REQUIRE(isfinite(g_ref[i]));
        }
    }

    /* ---- the chosen path, with the chosen grad buffer ---- */
    isa_ok = segloss_isa_supported(path_of_slot(j.isa));
    if (!isa_ok) { /* not compiled in, or not runnable here: refused, and the run stays on scalar */
        REQUIRE(segloss_set_isa(path_of_slot(j.isa)) == SEGLOSS_ERR_ISA);
        j.isa = 0;
    }
    g_isa = path_of_slot(j.isa);
    REQUIRE(segloss_set_isa(g_isa) == SEGLOSS_OK);
    zin = z;
    g = NULL;
    switch (j.gmode) {
    case 0: break;
    case 2: /* in place: a copy of the logits is the grad */
        buf = (float *)malloc(gbytes);
        memcpy(buf, z, gbytes);
        zin = g = buf;
        break;
    case 3: /* misaligned logits and grad (4 bytes past malloc's alignment) */
        buf = (float *)malloc(2 * gbytes + 2 * sizeof(float));
        zin = buf + 1;
        memcpy(zin, z, gbytes);
        g = buf + 2 + T;
        memset(g, 0xA5, gbytes);
        break;
    case 4: { /* partial overlap: grad starts inside the logits, or ends inside them */
        int64_t off = (int64_t)(h >> 8) % (2 * T - 1) - (T - 1); /* in [-(T-1), T-1] */
        if (off == 0) off = 1;
        buf = (float *)malloc(3 * gbytes);
        memset(buf, 0xA5, 3 * gbytes);
        zin = buf + T;
        memcpy(zin, z, gbytes);
        g = buf + T + off;
        overlap = off < T && -off < T; /* T == 1: off = 1 is adjacent, not overlapping */
        break;
    }
    default:
        buf = (float *)malloc(gbytes);
        memset(buf, 0xA5, gbytes);
        g = buf;
        break;
    }
    in.logits = zin;
    st = segloss_compute(&j.cfg, &in, g, &r);
    st_exp = expected(&j, z, y, overlap, &bad_pos_exp);
    REQUIRE(st == st_exp);
    if (st != SEGLOSS_OK) {
        REQUIRE(r.loss != r.loss && r.valid == 0 && r.bad_position == bad_pos_exp);
        if (j.gmode == 4) {
            for (i = 0; i < 3 * T; i++)
                if (i < T || i >= 2 * T) REQUIRE(((uint32_t *)(void *)buf)[i] == 0xA5A5A5A5u);
            REQUIRE(memcmp(zin, z, gbytes) == 0);
        } else if (j.gmode == 2) {
            REQUIRE(memcmp(g, z, gbytes) == 0);
        } else if (g) {
            for (i = 0; i < (int64_t)gbytes; i++) REQUIRE(((unsigned char *)g)[i] == 0xA5);
        }
        if (j.gmode == 3) REQUIRE(memcmp(zin, z, gbytes) == 0);
    } else {
        REQUIRE(r.valid == r_ref.valid);
        if (all_finite) {
            int fma_path = strcmp(g_isa, "sse2") != 0;
            if (fma_path) {
                REQUIRE(memcmp(&r.loss, &r_ref.loss, sizeof r.loss) == 0 || (r.loss != r.loss && r_ref.loss != r_ref.loss) ||
                        (j.gmode == 0 && close_rel(r.loss, r_ref.loss, 1e-5, 1e-9)));
                if (g) REQUIRE(memcmp(g, g_ref, gbytes) == 0);
            } else if (all_moderate && moderate(&j) && isfinite(r_ref.loss)) {
                REQUIRE(close_rel(r.loss, r_ref.loss, 1e-4, 1e-6));
            }
        }
        if (j.gmode == 0 && !strcmp(g_isa, "scalar") && all_moderate && moderate(&j))
            REQUIRE(close_rel(r.loss, r_ref.loss, 1e-5, 1e-6)); /* loss-only vs the gradient run */
        if (j.gmode == 3) REQUIRE(memcmp(zin, z, gbytes) == 0);
    }

    /* ---- two phases on two slices vs one call (same path) ---- */
    if (st_ref == SEGLOSS_OK) {
        segloss_stats stats;
        segloss_input a, bsl;
        segloss_result rf;
        float *g2 = (float *)malloc(gbytes), *g1 = (float *)malloc(gbytes);
        int64_t len = segloss_stats_len(&j.cfg, j.n, j.c), first_b, pos_off = 0, elem_off = 0;
        int split_pos = j.n == 1;
        segloss_result rc;
        REQUIRE(len > 0);
        in.logits = z; /* zin may have been overwritten in place */
        REQUIRE(segloss_compute(&j.cfg, &in, g1, &rc) == SEGLOSS_OK);
        stats.n = j.n; stats.c = j.c;
        stats.sum = (double *)calloc((size_t)len, sizeof(double));
        a = in; bsl = in;
        if (split_pos && j.layout == SEGLOSS_NHWC && j.s > 1) {
            /* one sample, two ranges of positions */
            int64_t cut = 1 + (int64_t)(h % (uint32_t)(j.s - 1));
            a.s = cut; bsl.s = j.s - cut;
            pos_off = cut; elem_off = cut * j.c;
            first_b = 0;
        } else if (j.n > 1) {
            int64_t cut = 1 + (int64_t)(h % (uint32_t)(j.n - 1));
            a.n = cut; bsl.n = j.n - cut;
            pos_off = cut * j.s; elem_off = cut * j.c * j.s;
            first_b = cut;
        } else {
            bsl.n = 0; first_b = 0; /* nothing to split */
        }
        bsl.logits = z + elem_off;
        bsl.labels = (const char *)y + pos_off * (j.lt == 0 ? 1 : j.lt == 1 ? 4 : 8);
        REQUIRE(segloss_accumulate(&j.cfg, &a, 0, &stats) == SEGLOSS_OK);
        if (bsl.n > 0) REQUIRE(segloss_accumulate(&j.cfg, &bsl, first_b, &stats) == SEGLOSS_OK);
        REQUIRE(segloss_finish(&j.cfg, &stats, &rf) == SEGLOSS_OK);
        REQUIRE(rf.valid == rc.valid);
        memset(g2, 0xA5, gbytes);
        REQUIRE(segloss_backward(&j.cfg, &a, 0, &stats, g2) == SEGLOSS_OK);
        if (bsl.n > 0) REQUIRE(segloss_backward(&j.cfg, &bsl, first_b, &stats, g2 + elem_off) == SEGLOSS_OK);
        if (all_finite && all_moderate && moderate(&j)) {
            double gmax = 0;
            REQUIRE(isfinite(rf.loss));
            REQUIRE(close_rel(rf.loss, rc.loss, 1e-5, 1e-5));
            for (i = 0; i < T; i++) gmax = fmax(gmax, fabs(g1[i]));
            for (i = 0; i < T; i++) REQUIRE(isfinite(g2[i]) && fabs(g2[i] - g1[i]) <= 1e-5 * gmax + 1e-30);
        }
        free(stats.sum);
        free(g1);
        free(g2);
    }
    segloss_set_isa(NULL);
    free(j.weights);
    free(buf);
    free(g_ref);
    free(z);
    free(y);
    return 0;
}
