/* demo.c — the six losses of the loss guide, trained on synthetic electron-microscopy images.

   What it does
     1. Generates 2-D "EM" images from a seed: background cytoplasm, ER (thin dark curvilinear
        sheets), mitochondria (rotated ellipses with cristae stripes) and nuclei (large round
        regions with a dark envelope), about 80/10/7/3 % of the pixels; blurred and noisy.
     2. Computes per-pixel features in C (Gaussian-smoothed intensity at sigma 1, 2, 4 and 8,
        gradient magnitude, differences of Gaussians, Hessian eigenvalues, local standard
        deviation), standardised over the training set.
     3. Trains a small MLP (features -> 32 ReLU -> 4 logits) with Adam on shuffled minibatches of
        pixels, once per loss of the guide, from the same initial weights and batch order. The
        loss and dL/dlogits come from segloss_compute; the demo backpropagates through the MLP.
     4. Prints each run's "Loss Configuration:" block, one line per epoch, the per-class table,
        then the guide's comparison table with measured numbers and the advisor's suggestion.
     5. Writes PNG pictures (data, predictions, curves) into the output folder.

   Usage: demo [--quick] [--epochs N] [--seed S] [--out DIR] [--config "loss_type='...', ..."]
               [--lr X] [--machine]
     --machine  also print RESULT/FINAL/CHANCE lines for scripts (tests/test_demo.sh).

   Build: make demo (see examples/demo.mk). C99; the only POSIX calls are mkdir and isatty. */
#define _POSIX_C_SOURCE 200809L

#define SEGLOSS_IMPLEMENTATION
#include "segloss.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "png.h"

#define NCLASS 4
enum { BG = 0, ER = 1, MITO = 2, NUC = 3 };
static const char *const class_names[NCLASS] = { "bg", "er", "mito", "nuc" };

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* The loss guide's configuration snippets, verbatim (comments included: the parser skips them). */
static const char *const guide_configs[] = {
    "loss_type='ce',\n",
    "loss_type='weighted_ce',\n"
    "use_class_weighting=True,  # Enables automatic class weight calculation\n",
    "loss_type='focal',\n"
    "focal_gamma=2.0,  # Standard value, increase for more focus on hard examples\n"
    "use_class_weighting=True,  # Optional: combine with class weights\n",
    "loss_type='dice',\n"
    "dice_smooth=1.0,  # Smoothing constant (Laplace smoothing)\n",
    "loss_type='focal_dice',\n"
    "focal_gamma=2.0,        # Focusing parameter\n"
    "focal_weight=0.5,       # Weight for focal component\n"
    "dice_weight=0.5,        # Weight for dice component\n"
    "dice_smooth=1.0,        # Dice smoothing\n"
    "use_class_weighting=True,  # Apply class weights to focal loss\n",
    "loss_type='tversky',\n"
    "tversky_alpha=0.7,  # Weight for False Positives\n"
    "tversky_beta=0.3,   # Weight for False Negatives\n"
    "dice_smooth=1.0,\n",
};
#define MAX_RUNS 6

/* ======================================================================================== */
/* Random numbers: splitmix64. The only state of the program lives in one of these structs.  */
/* ======================================================================================== */

typedef struct rng { uint64_t s; } rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rng_unif(rng *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }
static double rng_range(rng *r, double lo, double hi) { return lo + (hi - lo) * rng_unif(r); }
static int rng_int(rng *r, int n) { return (int)(rng_unif(r) * n); }
static double rng_normal(rng *r) /* Box-Muller, one value per call */
{
    double u1 = 1.0 - rng_unif(r), u2 = rng_unif(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "demo: out of memory\n");
        exit(1);
    }
    return p;
}

/* Print a block of text the library formatted, ending it with a newline if it lacks one: the
   library's formatters leave the last newline to the caller. */
static void print_block(const char *text)
{
    printf("%s", text);
    if (text[0] && text[strlen(text) - 1] != '\n') putchar('\n');
}

/* The segloss view of n samples of s pixels with NCLASS logits each and uint8 labels. Every
   call of the demo describes its data this way; only the logits, the shape and the layout vary.
   logits may be NULL where the library reads labels only. */
static segloss_input u8_input(const float *logits, const uint8_t *labels, int64_t n, int64_t s, segloss_layout layout)
{
    segloss_input in;
    memset(&in, 0, sizeof in);
    in.logits = logits;
    in.labels = labels;
    in.label_type = SEGLOSS_LABEL_U8;
    in.n = n;
    in.c = NCLASS;
    in.s = s;
    in.layout = layout;
    return in;
}

/* ======================================================================================== */
/* Synthetic EM images                                                                        */
/* ======================================================================================== */

typedef struct image {
    int w, h;
    float *x;       /* intensity, w*h                 */
    uint8_t *y;     /* class per pixel (ground truth) */
} image;

/* Smooth value noise in [-1, 1]: random values on a grid of the given cell size, smoothly
   (smoothstep) interpolated. */
static void value_noise(rng *r, float *out, int w, int h, int cell)
{
    int gw = w / cell + 2, gh = h / cell + 2, x, y, i;
    float *g = (float *)xmalloc(sizeof(float) * (size_t)(gw * gh));
    for (i = 0; i < gw * gh; i++) g[i] = (float)rng_range(r, -1.0, 1.0);
    for (y = 0; y < h; y++) {
        double fy = (double)y / cell, ty;
        int gy = (int)fy;
        ty = fy - gy;
        ty = ty * ty * (3 - 2 * ty);
        for (x = 0; x < w; x++) {
            double fx = (double)x / cell, tx, a, b;
            int gx = (int)fx;
            tx = fx - gx;
            tx = tx * tx * (3 - 2 * tx);
            a = g[gy * gw + gx] * (1 - tx) + g[gy * gw + gx + 1] * tx;
            b = g[(gy + 1) * gw + gx] * (1 - tx) + g[(gy + 1) * gw + gx + 1] * tx;
            out[y * w + x] = (float)(a * (1 - ty) + b * ty);
        }
    }
    free(g);
}

/* Separable Gaussian blur with mirrored borders; out may not alias in. */
static void gauss_blur(const float *in, float *out, int w, int h, double sigma)
{
    int rad = (int)ceil(3.0 * sigma), k, x, y;
    float *ker = (float *)xmalloc(sizeof(float) * (size_t)(2 * rad + 1));
    float *tmp = (float *)xmalloc(sizeof(float) * (size_t)(w * h));
    double sum = 0;
    for (k = -rad; k <= rad; k++) sum += ker[k + rad] = (float)exp(-0.5 * k * k / (sigma * sigma));
    for (k = 0; k <= 2 * rad; k++) ker[k] = (float)(ker[k] / sum);
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            float acc = 0;
            for (k = -rad; k <= rad; k++) {
                int xx = x + k;
                while (xx < 0 || xx >= w) xx = xx < 0 ? -xx - 1 : 2 * w - xx - 1;
                acc += ker[k + rad] * in[y * w + xx];
            }
            tmp[y * w + x] = acc;
        }
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            float acc = 0;
            for (k = -rad; k <= rad; k++) {
                int yy = y + k;
                while (yy < 0 || yy >= h) yy = yy < 0 ? -yy - 1 : 2 * h - yy - 1;
                acc += ker[k + rad] * tmp[yy * w + x];
            }
            out[y * w + x] = acc;
        }
    free(ker);
    free(tmp);
}

/* One image. Objects are drawn nuclei first, then mitochondria, then ER, each only onto
   background; every object also writes its own intensity pattern into "tone". */
static void make_image(rng *r, image *im, int w, int h)
{
    int n = w * h, i, k, x, y;
    float *coarse = (float *)xmalloc(sizeof(float) * (size_t)n);
    float *fine = (float *)xmalloc(sizeof(float) * (size_t)n);
    float *tone = (float *)xmalloc(sizeof(float) * (size_t)n);
    int n_nuc = 1 + (rng_unif(r) < 0.45), n_mito = 9 + rng_int(r, 6), n_er = 13 + rng_int(r, 4);

    im->w = w;
    im->h = h;
    im->x = (float *)xmalloc(sizeof(float) * (size_t)n);
    im->y = (uint8_t *)xmalloc((size_t)n);
    memset(im->y, BG, (size_t)n);
    value_noise(r, coarse, w, h, 16);
    value_noise(r, fine, w, h, 3);
    /* background cytoplasm: bright, slowly varying, a little grain */
    for (i = 0; i < n; i++) tone[i] = 0.60f + 0.06f * coarse[i] + 0.04f * fine[i];

    /* nuclei: large, slightly wobbly discs; chromatin texture; dark envelope at the rim */
    for (k = 0; k < n_nuc; k++) {
        double cx = rng_range(r, 0, w), cy = rng_range(r, 0, h), r0 = rng_range(r, 8.5, 13.0);
        double amp = rng_range(r, 0.04, 0.10), ph = rng_range(r, 0, 2 * M_PI);
        int lobes = 3 + rng_int(r, 3);
        for (y = (int)(cy - r0 * 1.2) - 1; y <= (int)(cy + r0 * 1.2) + 1; y++)
            for (x = (int)(cx - r0 * 1.2) - 1; x <= (int)(cx + r0 * 1.2) + 1; x++) {
                double dx = x - cx, dy = y - cy, d = sqrt(dx * dx + dy * dy);
                double rr = r0 * (1.0 + amp * sin(lobes * atan2(dy, dx) + ph));
                if (x < 0 || y < 0 || x >= w || y >= h || d >= rr || im->y[y * w + x] != BG) continue;
                i = y * w + x;
                im->y[i] = NUC;
                tone[i] = rr - d < 2.0 ? 0.36f : 0.52f + 0.10f * fine[i] + 0.03f * coarse[i];
            }
    }
    /* mitochondria: rotated ellipses, dark outer membrane, cristae stripes across the long axis */
    for (k = 0; k < n_mito; k++) {
        double cx = rng_range(r, 0, w), cy = rng_range(r, 0, h), ang = rng_range(r, 0, M_PI);
        double a = rng_range(r, 7.0, 12.0), b = rng_range(r, 3.0, 4.5), period = rng_range(r, 3.0, 4.5);
        double ca = cos(ang), sa = sin(ang), ph = rng_range(r, 0, 2 * M_PI);
        for (y = (int)(cy - a) - 1; y <= (int)(cy + a) + 1; y++)
            for (x = (int)(cx - a) - 1; x <= (int)(cx + a) + 1; x++) {
                double dx = x - cx, dy = y - cy, u = dx * ca + dy * sa, v = -dx * sa + dy * ca;
                double e = (u / a) * (u / a) + (v / b) * (v / b);
                if (x < 0 || y < 0 || x >= w || y >= h || e >= 1.0 || im->y[y * w + x] != BG) continue;
                i = y * w + x;
                im->y[i] = MITO;
                tone[i] = e > 0.6 ? 0.33f : (float)(0.45 + 0.11 * sin(2 * M_PI * u / period + ph));
            }
    }
    /* ER: smooth random curves (curvature does a damped random walk), 2-3 px thick */
    for (k = 0; k < n_er; k++) {
        double px = rng_range(r, 0, w), py = rng_range(r, 0, h), ang = rng_range(r, 0, 2 * M_PI), curv = 0;
        double rad = rng_range(r, 0.9, 1.4);
        int len = 50 + rng_int(r, 51), s;
        for (s = 0; s < len; s++) {
            curv = 0.9 * curv + 0.04 * rng_normal(r);
            ang += curv;
            px += cos(ang);
            py += sin(ang);
            for (y = (int)floor(py - rad); y <= (int)ceil(py + rad); y++)
                for (x = (int)floor(px - rad); x <= (int)ceil(px + rad); x++) {
                    if (x < 0 || y < 0 || x >= w || y >= h) continue;
                    if ((x - px) * (x - px) + (y - py) * (y - py) > rad * rad) continue;
                    i = y * w + x;
                    if (im->y[i] != BG) continue;
                    im->y[i] = ER;
                    tone[i] = 0.36f + 0.04f * fine[i];
                }
        }
    }
    /* microscope: blur, then noise */
    gauss_blur(tone, im->x, w, h, 1.0);
    for (i = 0; i < n; i++) im->x[i] += (float)(0.06 * rng_normal(r));
    free(coarse);
    free(fine);
    free(tone);
}

/* ======================================================================================== */
/* Per-pixel features                                                                         */
/* ======================================================================================== */

#define NFEAT 16
static const char *const feature_names[NFEAT] = {
    "I", "G1", "G2", "G4", "|grad G1|", "|grad G2|", "G1-G2", "G2-G4", "G4-G8",
    "hess1 l1", "hess1 l2", "hess2 l1", "hess2 l2", "std2", "std4", "std8"
};

static float mirror_at(const float *a, int w, int h, int x, int y)
{
    if (x < 0) x = -x - 1;
    if (x >= w) x = 2 * w - x - 1;
    if (y < 0) y = -y - 1;
    if (y >= h) y = 2 * h - y - 1;
    return a[y * w + x];
}

/* Hessian eigenvalues (l1 >= l2) of a smoothed image by central differences, times s2 (the
   scale normalisation sigma^2). Bright ridges give l2 << 0, dark ridges (membranes) l1 >> 0. */
static void hessian_eig(const float *g, int w, int h, int x, int y, double s2, float *l1, float *l2)
{
    double c = mirror_at(g, w, h, x, y);
    double dxx = mirror_at(g, w, h, x + 1, y) - 2 * c + mirror_at(g, w, h, x - 1, y);
    double dyy = mirror_at(g, w, h, x, y + 1) - 2 * c + mirror_at(g, w, h, x, y - 1);
    double dxy = 0.25 * (mirror_at(g, w, h, x + 1, y + 1) - mirror_at(g, w, h, x + 1, y - 1) -
                         mirror_at(g, w, h, x - 1, y + 1) + mirror_at(g, w, h, x - 1, y - 1));
    double m = 0.5 * (dxx + dyy), d = sqrt(0.25 * (dxx - dyy) * (dxx - dyy) + dxy * dxy);
    *l1 = (float)(s2 * (m + d));
    *l2 = (float)(s2 * (m - d));
}

static double grad_mag(const float *g, int w, int h, int x, int y)
{
    double gx = 0.5 * (mirror_at(g, w, h, x + 1, y) - mirror_at(g, w, h, x - 1, y));
    double gy = 0.5 * (mirror_at(g, w, h, x, y + 1) - mirror_at(g, w, h, x, y - 1));
    return sqrt(gx * gx + gy * gy);
}

/* Features of one image into feat[(pixel) * NFEAT + f] (not yet standardised). */
static void compute_features(const image *im, float *feat)
{
    int w = im->w, h = im->h, n = w * h, i, x, y;
    float *g1 = (float *)xmalloc(sizeof(float) * (size_t)n), *g2 = (float *)xmalloc(sizeof(float) * (size_t)n);
    float *g4 = (float *)xmalloc(sizeof(float) * (size_t)n), *sq = (float *)xmalloc(sizeof(float) * (size_t)n);
    float *m2 = (float *)xmalloc(sizeof(float) * (size_t)n), *m4 = (float *)xmalloc(sizeof(float) * (size_t)n);
    float *g8 = (float *)xmalloc(sizeof(float) * (size_t)n), *m8 = (float *)xmalloc(sizeof(float) * (size_t)n);
    gauss_blur(im->x, g1, w, h, 1.0);
    gauss_blur(im->x, g2, w, h, 2.0);
    gauss_blur(im->x, g4, w, h, 4.0);
    gauss_blur(im->x, g8, w, h, 8.0);
    for (i = 0; i < n; i++) sq[i] = im->x[i] * im->x[i];
    gauss_blur(sq, m2, w, h, 2.0);
    gauss_blur(sq, m4, w, h, 4.0);
    gauss_blur(sq, m8, w, h, 8.0);
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            float *f = feat + (size_t)(y * w + x) * NFEAT;
            double v2, v4, v8;
            i = y * w + x;
            f[0] = im->x[i];
            f[1] = g1[i];
            f[2] = g2[i];
            f[3] = g4[i];
            f[4] = (float)grad_mag(g1, w, h, x, y);
            f[5] = (float)(2.0 * grad_mag(g2, w, h, x, y));
            f[6] = g1[i] - g2[i];
            f[7] = g2[i] - g4[i];
            f[8] = g4[i] - g8[i];
            hessian_eig(g1, w, h, x, y, 1.0, &f[9], &f[10]);
            hessian_eig(g2, w, h, x, y, 4.0, &f[11], &f[12]);
            v2 = (double)m2[i] - (double)g2[i] * g2[i];
            v4 = (double)m4[i] - (double)g4[i] * g4[i];
            v8 = (double)m8[i] - (double)g8[i] * g8[i];
            f[13] = (float)sqrt(v2 > 0 ? v2 : 0);
            f[14] = (float)sqrt(v4 > 0 ? v4 : 0);
            f[15] = (float)sqrt(v8 > 0 ? v8 : 0);
        }
    free(g1);
    free(g2);
    free(g4);
    free(sq);
    free(m2);
    free(m4);
    free(g8);
    free(m8);
}

/* A set of images with their features (pixel-major, NFEAT per pixel) and labels, concatenated. */
typedef struct dataset {
    int count, w, h;
    image *im;
    float *feat;        /* count*w*h*NFEAT */
    uint8_t *labels;    /* count*w*h       */
    int64_t counts[NCLASS];
} dataset;

static void make_dataset(rng *r, dataset *ds, int count, int w, int h)
{
    int k, npix = w * h;
    segloss_input in;
    ds->count = count;
    ds->w = w;
    ds->h = h;
    ds->im = (image *)xmalloc(sizeof(image) * (size_t)count);
    ds->feat = (float *)xmalloc(sizeof(float) * (size_t)count * (size_t)npix * NFEAT);
    ds->labels = (uint8_t *)xmalloc((size_t)count * (size_t)npix);
    for (k = 0; k < count; k++) {
        make_image(r, &ds->im[k], w, h);
        compute_features(&ds->im[k], ds->feat + (size_t)k * (size_t)npix * NFEAT);
        memcpy(ds->labels + (size_t)k * (size_t)npix, ds->im[k].y, (size_t)npix);
    }
    /* the label histogram, by the library (logits are not needed for it) */
    memset(ds->counts, 0, sizeof ds->counts);
    in = u8_input(NULL, ds->labels, count, npix, SEGLOSS_NCHW);
    if (segloss_label_histogram(&in, -100, ds->counts) != SEGLOSS_OK) {
        fprintf(stderr, "demo: segloss_label_histogram failed\n");
        exit(1);
    }
}

static void free_dataset(dataset *ds)
{
    int k;
    for (k = 0; k < ds->count; k++) {
        free(ds->im[k].x);
        free(ds->im[k].y);
    }
    free(ds->im);
    free(ds->feat);
    free(ds->labels);
}

/* Standardise every feature with the training set's mean and standard deviation. */
static void standardise(dataset *train, dataset *val)
{
    size_t ntr = (size_t)train->count * (size_t)(train->w * train->h);
    size_t nva = (size_t)val->count * (size_t)(val->w * val->h), i;
    int f;
    for (f = 0; f < NFEAT; f++) {
        double s = 0, ss = 0, mean, sd;
        for (i = 0; i < ntr; i++) {
            double v = train->feat[i * NFEAT + (size_t)f];
            s += v;
            ss += v * v;
        }
        mean = s / (double)ntr;
        sd = sqrt(ss / (double)ntr - mean * mean);
        if (!(sd > 1e-12)) sd = 1.0;
        for (i = 0; i < ntr; i++) train->feat[i * NFEAT + (size_t)f] = (float)((train->feat[i * NFEAT + (size_t)f] - mean) / sd);
        for (i = 0; i < nva; i++) val->feat[i * NFEAT + (size_t)f] = (float)((val->feat[i * NFEAT + (size_t)f] - mean) / sd);
    }
}

/* ======================================================================================== */
/* The classifier: NFEAT -> HIDDEN (ReLU) -> NCLASS, trained by Adam                          */
/* ======================================================================================== */

#define HIDDEN 32
/* parameter layout in one array: W1[HIDDEN][NFEAT], b1[HIDDEN], W2[NCLASS][HIDDEN], b2[NCLASS] */
#define OFF_W1 0
#define OFF_B1 (OFF_W1 + HIDDEN * NFEAT)
#define OFF_W2 (OFF_B1 + HIDDEN)
#define OFF_B2 (OFF_W2 + NCLASS * HIDDEN)
#define NPARAM (OFF_B2 + NCLASS)

typedef struct mlp {
    float p[NPARAM];             /* parameters            */
    float g[NPARAM];             /* gradient of one step  */
    float m[NPARAM], v[NPARAM];  /* Adam moments          */
    long t;                      /* Adam step count       */
} mlp;

static void mlp_init(mlp *net, rng *r)
{
    int i;
    memset(net, 0, sizeof *net);
    for (i = 0; i < HIDDEN * NFEAT; i++) net->p[OFF_W1 + i] = (float)(rng_normal(r) * sqrt(2.0 / NFEAT));
    for (i = 0; i < NCLASS * HIDDEN; i++) net->p[OFF_W2 + i] = (float)(rng_normal(r) * sqrt(1.0 / HIDDEN));
}

/* Logits of nb pixels: x[nb][NFEAT] -> z[nb][NCLASS] (NHWC: pixel-major), hidden h[nb][HIDDEN]. */
static void mlp_forward(const mlp *net, const float *x, int nb, float *hid, float *z)
{
    const float *W1 = net->p + OFF_W1, *b1 = net->p + OFF_B1, *W2 = net->p + OFF_W2, *b2 = net->p + OFF_B2;
    int i, j, k;
    for (i = 0; i < nb; i++) {
        const float *xi = x + (size_t)i * NFEAT;
        float *hi = hid + (size_t)i * HIDDEN, *zi = z + (size_t)i * NCLASS;
        for (j = 0; j < HIDDEN; j++) {
            float a = b1[j];
            for (k = 0; k < NFEAT; k++) a += W1[j * NFEAT + k] * xi[k];
            hi[j] = a > 0 ? a : 0;
        }
        for (k = 0; k < NCLASS; k++) {
            float a = b2[k];
            for (j = 0; j < HIDDEN; j++) a += W2[k * HIDDEN + j] * hi[j];
            zi[k] = a;
        }
    }
}

/* net->g = gradient of the loss w.r.t. the parameters, from dz[nb][NCLASS] = dL/dlogits. */
static void mlp_backward(mlp *net, const float *x, const float *hid, const float *dz, int nb)
{
    float *gW1 = net->g + OFF_W1, *gb1 = net->g + OFF_B1, *gW2 = net->g + OFF_W2, *gb2 = net->g + OFF_B2;
    const float *W2 = net->p + OFF_W2;
    int i, j, k;
    memset(net->g, 0, sizeof net->g);
    for (i = 0; i < nb; i++) {
        const float *xi = x + (size_t)i * NFEAT, *hi = hid + (size_t)i * HIDDEN, *di = dz + (size_t)i * NCLASS;
        float dh[HIDDEN];
        for (k = 0; k < NCLASS; k++) {
            gb2[k] += di[k];
            for (j = 0; j < HIDDEN; j++) gW2[k * HIDDEN + j] += di[k] * hi[j];
        }
        for (j = 0; j < HIDDEN; j++) {
            float a = 0;
            if (hi[j] > 0)
                for (k = 0; k < NCLASS; k++) a += W2[k * HIDDEN + j] * di[k];
            dh[j] = a;
        }
        for (j = 0; j < HIDDEN; j++) {
            if (dh[j] == 0) continue;
            gb1[j] += dh[j];
            for (k = 0; k < NFEAT; k++) gW1[j * NFEAT + k] += dh[j] * xi[k];
        }
    }
}

static void adam_step(mlp *net, double lr)
{
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    double c1, c2;
    int i;
    net->t++;
    c1 = 1.0 - pow(b1, (double)net->t);
    c2 = 1.0 - pow(b2, (double)net->t);
    for (i = 0; i < NPARAM; i++) {
        double g = net->g[i];
        net->m[i] = (float)(b1 * net->m[i] + (1 - b1) * g);
        net->v[i] = (float)(b2 * net->v[i] + (1 - b2) * g * g);
        net->p[i] -= (float)(lr * (net->m[i] / c1) / (sqrt(net->v[i] / c2) + eps));
    }
}

/* ======================================================================================== */
/* One training run per loss                                                                  */
/* ======================================================================================== */

typedef struct run_result {
    segloss_config cfg;
    float weights[NCLASS];          /* inverse-frequency weights of the training set      */
    int weighted;                   /* the CE-family term uses them                       */
    int epochs;
    double *train_loss, *val_miou;  /* per epoch                                          */
    double train_seconds, loss_seconds;
    int64_t confusion[NCLASS * NCLASS];
    segloss_class_metrics metrics[NCLASS];
    double miou;                    /* after the last epoch                               */
    uint8_t *showcase_pred;         /* prediction for the pictured validation image       */
    int diverged;
} run_result;

typedef struct demo_opts {
    int quick, epochs, machine, tty;
    uint64_t seed;
    double lr;
    int batch;
    const char *out, *config;
    int ntrain, nval, size;  /* images per set and their side: fixed by --quick */
} demo_opts;

static double seconds_now(void) { return (double)clock() / (double)CLOCKS_PER_SEC; }

/* Confusion counts of the whole validation set (and the showcase image's prediction). */
static void evaluate(const mlp *net, const dataset *val, int showcase, int64_t *confusion, uint8_t *pred,
                     float *hid, float *z)
{
    int npix = val->w * val->h, k, i, c;
    memset(confusion, 0, sizeof(int64_t) * NCLASS * NCLASS);
    for (k = 0; k < val->count; k++) {
        segloss_input in;
        mlp_forward(net, val->feat + (size_t)k * (size_t)npix * NFEAT, npix, hid, z);
        in = u8_input(z, val->labels + (size_t)k * (size_t)npix, 1, npix, SEGLOSS_NHWC);
        if (segloss_confusion(&in, -100, confusion) != SEGLOSS_OK) {
            fprintf(stderr, "demo: segloss_confusion failed\n");
            exit(1);
        }
        if (k == showcase && pred) /* argmax, ties to the lowest class, as segloss_confusion */
            for (i = 0; i < npix; i++) {
                int best = 0;
                for (c = 1; c < NCLASS; c++)
                    if (z[i * NCLASS + c] > z[i * NCLASS + best]) best = c;
                pred[i] = (uint8_t)best;
            }
    }
}

static void print_bar(int done, int total, int width)
{
    int i, fill = total > 0 ? done * width / total : width;
    putchar('[');
    for (i = 0; i < width; i++) putchar(i < fill ? '#' : '.');
    putchar(']');
}

/* The buffers of one training run. They are sized once per run for the largest use (a
   minibatch or a whole validation image, whichever has more pixels) so that no epoch or batch
   allocates. */
typedef struct train_buffers {
    int32_t *perm;   /* training pixel order; reshuffled in place every epoch          */
    float *xb;       /* features of one minibatch, B*NFEAT                             */
    uint8_t *yb;     /* labels of one minibatch, B                                     */
    float *hid, *z;  /* hidden activations and logits, for a minibatch or an image     */
    float *dz;       /* dL/dlogits of one minibatch, B*NCLASS                          */
    mlp *net;
} train_buffers;

static void buffers_alloc(train_buffers *tb, int64_t ntrain, int B, int vpix)
{
    int maxpix = B > vpix ? B : vpix;
    int64_t i;
    tb->perm = (int32_t *)xmalloc(sizeof(int32_t) * (size_t)ntrain);
    tb->xb = (float *)xmalloc(sizeof(float) * (size_t)B * NFEAT);
    tb->yb = (uint8_t *)xmalloc((size_t)B);
    tb->hid = (float *)xmalloc(sizeof(float) * (size_t)maxpix * HIDDEN);
    tb->z = (float *)xmalloc(sizeof(float) * (size_t)maxpix * NCLASS);
    tb->dz = (float *)xmalloc(sizeof(float) * (size_t)B * NCLASS);
    tb->net = (mlp *)xmalloc(sizeof(mlp));
    /* Identity once; each epoch shuffles the previous epoch's order, not a fresh identity,
       so the batch order of epoch e depends on all shuffles before it. */
    for (i = 0; i < ntrain; i++) tb->perm[i] = (int32_t)i;
}

static void buffers_free(train_buffers *tb)
{
    free(tb->perm);
    free(tb->xb);
    free(tb->yb);
    free(tb->hid);
    free(tb->z);
    free(tb->dz);
    free(tb->net);
}

/* An empty result with room for the per-epoch curves and the showcase prediction. */
static void result_alloc(run_result *res, int epochs, int vpix)
{
    memset(res, 0, sizeof *res);
    res->epochs = epochs;
    res->train_loss = (double *)xmalloc(sizeof(double) * (size_t)epochs);
    res->val_miou = (double *)xmalloc(sizeof(double) * (size_t)epochs);
    res->showcase_pred = (uint8_t *)xmalloc((size_t)vpix);
}

/* Parse one configuration of the guide into res->cfg, attach class weights where it asks for
   them, and print its "Loss Configuration:" block (the weights shown are those segloss will
   actually use, so a reader sees what the run trains with). */
static void setup_loss(const char *config_text, const dataset *train, run_result *res)
{
    char err[256], text[1024];
    float shown[NCLASS];
    segloss_status st;
    segloss_input all;

    st = segloss_config_parse(config_text, &res->cfg, err, sizeof err);
    if (st != SEGLOSS_OK) {
        fprintf(stderr, "demo: bad configuration: %s (%s)\n", err, segloss_status_string(st));
        exit(2);
    }
    /* Class weights from the whole training set's label histogram (rather than from each
       minibatch): segloss_class_weights, then segloss_weights_for reports what a call uses. */
    all = u8_input(NULL, train->labels, train->count, train->w * train->h, SEGLOSS_NCHW);
    if (res->cfg.use_class_weighting) {
        segloss_class_weights(SEGLOSS_WEIGHT_INVERSE, train->counts, NCLASS, res->weights);
        res->cfg.class_weights = res->weights; /* lives in *res: valid for the whole run */
    }
    if (segloss_weights_for(&res->cfg, &all, shown) != SEGLOSS_OK) {
        fprintf(stderr, "demo: segloss_weights_for failed\n");
        exit(1);
    }
    res->weighted = res->cfg.class_weights != NULL && res->cfg.loss_type != SEGLOSS_DICE &&
                    res->cfg.loss_type != SEGLOSS_TVERSKY; /* Dice/Tversky take no class weights */
    segloss_config_format(&res->cfg, res->weighted ? shown : NULL, NCLASS, text, sizeof text);
    printf("\n=== %s ===\n", segloss_loss_name(res->cfg.loss_type));
    print_block(text);
}

/* Fisher-Yates shuffle of the training pixel order. */
static void shuffle_pixels(int32_t *perm, int64_t n, rng *r)
{
    int64_t i;
    for (i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(rng_unif(r) * (double)(i + 1));
        int32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* Copy the features and labels of the B pixels named by idx into one contiguous minibatch,
   the layout mlp_forward and segloss_compute read. */
static void gather_batch(const dataset *train, const int32_t *idx, int B, float *xb, uint8_t *yb)
{
    int i;
    for (i = 0; i < B; i++) {
        int64_t p = idx[i];
        memcpy(xb + (size_t)i * NFEAT, train->feat + (size_t)p * NFEAT, sizeof(float) * NFEAT);
        yb[i] = train->labels[p];
    }
}

/* One optimisation step on the minibatch in tb->xb/yb: forward, loss and dL/dlogits by
   segloss (timed on its own for the "loss %" column), backward, Adam. Returns the loss. */
static double train_step(train_buffers *tb, int B, double lr, run_result *res)
{
    segloss_input in;
    segloss_result out;
    segloss_status st;
    double tl;

    mlp_forward(tb->net, tb->xb, B, tb->hid, tb->z);
    /* one minibatch of pixels = one sample of B positions, channels-last */
    in = u8_input(tb->z, tb->yb, 1, B, SEGLOSS_NHWC);
    tl = seconds_now();
    st = segloss_compute(&res->cfg, &in, tb->dz, &out);
    res->loss_seconds += seconds_now() - tl;
    if (st != SEGLOSS_OK) {
        fprintf(stderr, "demo: segloss_compute: %s\n", segloss_status_string(st));
        exit(1);
    }
    if (!isfinite(out.loss)) res->diverged = 1; /* reported (FINAL line, "NaN" in the table); training goes on */
    mlp_backward(tb->net, tb->xb, tb->hid, tb->dz, B);
    adam_step(tb->net, lr);
    return out.loss;
}

/* One pass over the shuffled training pixels in full minibatches (the last partial batch is
   dropped, so every step sees B pixels). Returns the mean minibatch loss; the time, shuffle
   included and validation excluded, goes to res->train_seconds. */
static double train_epoch(const demo_opts *o, const dataset *train, train_buffers *tb, rng *r, run_result *res)
{
    int B = o->batch;
    int64_t ntrain = (int64_t)train->count * (train->w * train->h), nbatches = ntrain / B, b;
    double t0 = seconds_now(), sum_loss = 0;

    shuffle_pixels(tb->perm, ntrain, r);
    for (b = 0; b < nbatches; b++) {
        gather_batch(train, tb->perm + b * B, B, tb->xb, tb->yb);
        sum_loss += train_step(tb, B, o->lr, res);
    }
    res->train_seconds += seconds_now() - t0;
    return sum_loss / (double)nbatches;
}

/* Validation after an epoch: confusion counts, per-class metrics and mean IoU into res. The
   showcase prediction is kept only after the last epoch, the one the pictures show. */
static void validate_epoch(train_buffers *tb, const dataset *val, int showcase, int epoch, run_result *res)
{
    int last = epoch == res->epochs - 1;
    evaluate(tb->net, val, showcase, res->confusion, last ? res->showcase_pred : NULL, tb->hid, tb->z);
    res->miou = segloss_metrics(res->confusion, NCLASS, res->metrics);
    res->val_miou[epoch] = res->miou;
}

/* The progress line of one epoch. On a terminal it is redrawn in place (one line per run);
   into a file or pipe every epoch gets its own line, so logs keep the whole curve. */
static void print_epoch(const demo_opts *o, int epoch, const run_result *res)
{
    if (o->tty) {
        printf("\r  epoch %3d/%-3d ", epoch + 1, o->epochs);
        print_bar(epoch + 1, o->epochs, 30);
        printf(" loss %.4f  val mIoU %.3f", res->train_loss[epoch], res->miou);
        if (epoch == o->epochs - 1) putchar('\n');
        fflush(stdout);
    } else {
        printf("  epoch %3d/%-3d ", epoch + 1, o->epochs);
        print_bar(epoch + 1, o->epochs, 20);
        printf(" loss %.4f  val mIoU %.3f\n", res->train_loss[epoch], res->miou);
    }
    if (o->machine)
        printf("RESULT loss=%s epoch=%d train_loss=%.6f val_miou=%.6f\n", segloss_loss_name(res->cfg.loss_type),
               epoch + 1, res->train_loss[epoch], res->miou);
}

/* The end of a run: the library's per-class table, mean IoU and time, and the FINAL line. */
static void print_run_summary(const demo_opts *o, const run_result *res)
{
    char text[1024];
    int c;
    segloss_metrics_format(res->metrics, NCLASS, class_names, text, sizeof text);
    print_block(text);
    printf("  validation mean IoU %.3f   train %.1f s (%.1f s inside segloss_compute)\n", res->miou,
           res->train_seconds, res->loss_seconds);
    if (o->machine) {
        printf("FINAL loss=%s val_miou=%.6f", segloss_loss_name(res->cfg.loss_type), res->miou);
        for (c = 0; c < NCLASS; c++) printf(" iou_%s=%.6f", class_names[c], res->metrics[c].iou);
        printf(" diverged=%d\n", res->diverged);
    }
    fflush(stdout);
}

/* Train from scratch with one configuration. All runs use the same initial weights and the
   same minibatch order: they differ only in the loss. */
static void train_run(const demo_opts *o, const char *config_text, const dataset *train, const dataset *val,
                      int showcase, run_result *res)
{
    int64_t ntrain = (int64_t)train->count * (train->w * train->h);
    int vpix = val->w * val->h, epoch;
    train_buffers tb;
    rng r;

    result_alloc(res, o->epochs, vpix);
    setup_loss(config_text, train, res);
    buffers_alloc(&tb, ntrain, o->batch, vpix);
    /* Seeded alike for every run: mlp_init draws the initial weights from it, then each
       epoch its shuffle. */
    r.s = o->seed * 0x2545F4914F6CDD1Dull + 77;
    mlp_init(tb.net, &r);
    for (epoch = 0; epoch < o->epochs; epoch++) {
        res->train_loss[epoch] = train_epoch(o, train, &tb, &r, res);
        validate_epoch(&tb, val, showcase, epoch, res);
        print_epoch(o, epoch, res);
    }
    print_run_summary(o, res);
    buffers_free(&tb);
}

/* ======================================================================================== */
/* Summary measures                                                                           */
/* ======================================================================================== */

/* Largest recall - precision over classes (NaN-free ones) and how many classes the library's
   table flags as over-predicting (recall - precision > 0.2). */
static double over_prediction(const segloss_class_metrics *m, int *flagged)
{
    double worst = -1.0;
    int c;
    *flagged = 0;
    for (c = 0; c < NCLASS; c++) {
        double d = m[c].recall - m[c].precision;
        if (d != d) continue;
        if (d > worst) worst = d;
        if (d > 0.2) (*flagged)++;
    }
    return worst;
}

/* Standard deviation of the validation mIoU over the last k epochs; rises: epochs whose
   training loss rose more than 5 % over the previous epoch. */
static double stability(const run_result *r, int k, int *rises)
{
    int e, n = r->epochs < k ? r->epochs : k;
    double s = 0, ss = 0, mean;
    *rises = 0;
    for (e = 1; e < r->epochs; e++)
        if (r->train_loss[e] > 1.05 * r->train_loss[e - 1]) (*rises)++;
    for (e = r->epochs - n; e < r->epochs; e++) s += r->val_miou[e];
    mean = s / n;
    for (e = r->epochs - n; e < r->epochs; e++) ss += (r->val_miou[e] - mean) * (r->val_miou[e] - mean);
    return sqrt(ss / n);
}

/* The mean IoU of uninformed predictors on this validation set: all pixels "background", or a
   random class drawn with the class frequencies (expected IoU f/(2-f) per class). */
static double chance_miou(const int64_t *counts)
{
    int64_t total = 0;
    int c, present = 0, major = 0;
    double rnd = 0;
    for (c = 0; c < NCLASS; c++) {
        total += counts[c];
        if (counts[c] > counts[major]) major = c;
    }
    for (c = 0; c < NCLASS; c++)
        if (counts[c] > 0) {
            double f = (double)counts[c] / (double)total;
            present++;
            rnd += f / (2.0 - f);
        }
    rnd /= present;
    {
        double allmajor = (double)counts[major] / (double)total / present;
        return rnd > allmajor ? rnd : allmajor;
    }
}

static void print_fractions(const char *what, const dataset *ds)
{
    int64_t total = 0;
    int c;
    for (c = 0; c < NCLASS; c++) total += ds->counts[c];
    printf("  %-10s %2d images %dx%d: ", what, ds->count, ds->w, ds->h);
    for (c = 0; c < NCLASS; c++) printf(" %s %5.1f %%", class_names[c], 100.0 * (double)ds->counts[c] / (double)total);
    printf("\n");
}

/* ======================================================================================== */
/* Pictures                                                                                   */
/* ======================================================================================== */

static const pic_rgb class_colour[NCLASS] = { { 28, 28, 36 }, { 255, 196, 40 }, { 60, 200, 100 }, { 80, 130, 255 } };
static const pic_rgb run_colour[MAX_RUNS] = {
    { 230, 60, 50 }, { 250, 150, 30 }, { 40, 170, 80 }, { 50, 120, 230 }, { 160, 70, 200 }, { 20, 180, 190 }
};
static const pic_rgb white = { 255, 255, 255 }, black = { 0, 0, 0 }, grey = { 150, 150, 150 },
                     light = { 225, 225, 225 };

static void draw_gray(pic_canvas *cv, int x0, int y0, const image *im, int scale)
{
    int x, y;
    for (y = 0; y < im->h; y++)
        for (x = 0; x < im->w; x++) {
            double v = (im->x[y * im->w + x] - 0.15) / 0.65; /* the intensity range of the generator */
            unsigned char g = (unsigned char)(v < 0 ? 0 : v > 1 ? 255 : (int)(v * 255.0 + 0.5));
            pic_rgb c;
            c.r = c.g = c.b = g;
            pic_rect(cv, x0 + x * scale, y0 + y * scale, scale, scale, c);
        }
}

static void draw_labels(pic_canvas *cv, int x0, int y0, const uint8_t *lab, int w, int h, int scale)
{
    int x, y;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) pic_rect(cv, x0 + x * scale, y0 + y * scale, scale, scale, class_colour[lab[y * w + x]]);
}

static void draw_class_legend(pic_canvas *cv, int x, int y)
{
    int c;
    for (c = 0; c < NCLASS; c++) {
        pic_rect(cv, x, y, 10, 10, class_colour[c]);
        pic_text(cv, x + 14, y + 1, class_names[c], 2, black);
        x += 14 + pic_text_width(class_names[c], 2) + 16;
    }
}

static void save(const pic_canvas *cv, const char *dir, const char *name, const char *what)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (pic_write_png(cv, path)) printf("  %-16s %s\n", name, what);
    else fprintf(stderr, "demo: cannot write %s\n", path);
}

/* Training images over their ground truth. */
static void picture_data(const dataset *train, const char *dir)
{
    int k, n = train->count < 4 ? train->count : 4, s = 2, pw = train->w * s, ph = train->h * s, gap = 8;
    pic_canvas cv;
    if (!pic_init(&cv, gap + n * (pw + gap), 30 + 2 * (ph + gap) + 20, white)) return;
    pic_text(&cv, gap, 8, "TRAINING IMAGES AND GROUND TRUTH", 3, black);
    for (k = 0; k < n; k++) {
        draw_gray(&cv, gap + k * (pw + gap), 30, &train->im[k], s);
        draw_labels(&cv, gap + k * (pw + gap), 30 + ph + gap, train->im[k].y, train->w, train->h, s);
    }
    draw_class_legend(&cv, gap, 30 + 2 * (ph + gap) + 2);
    save(&cv, dir, "data.png", "4 training images (top) and their ground truth (bottom)");
    pic_free(&cv);
}

/* The showcase validation image: input, ground truth, one prediction per run. */
static void picture_predictions(const dataset *val, int showcase, const run_result *runs, int nruns,
                                const char *dir)
{
    int panels = 2 + nruns, cols = panels < 4 ? panels : 4, rows = (panels + cols - 1) / cols;
    int s = 2, pw = val->w * s, ph = val->h * s, gap = 8, title = 22, k;
    const image *im = &val->im[showcase];
    pic_canvas cv;
    if (!pic_init(&cv, gap + cols * (pw + gap), rows * (ph + title + gap) + 24, white)) return;
    for (k = 0; k < panels; k++) {
        int x = gap + (k % cols) * (pw + gap), y = (k / cols) * (ph + title + gap) + title;
        char t[64];
        if (k == 0) {
            snprintf(t, sizeof t, "INPUT");
            draw_gray(&cv, x, y, im, s);
        } else if (k == 1) {
            snprintf(t, sizeof t, "GROUND TRUTH");
            draw_labels(&cv, x, y, im->y, im->w, im->h, s);
        } else {
            const run_result *r = &runs[k - 2];
            snprintf(t, sizeof t, "%s  MIOU %.2f", segloss_loss_name(r->cfg.loss_type), r->miou);
            draw_labels(&cv, x, y, r->showcase_pred, im->w, im->h, s);
            pic_rect(&cv, x, y - title + 4, 10, 10, run_colour[(k - 2) % MAX_RUNS]);
            pic_text(&cv, x + 14, y - title + 4, t, 2, black);
            continue;
        }
        pic_text(&cv, x, y - title + 4, t, 2, black);
    }
    draw_class_legend(&cv, gap, rows * (ph + title + gap) + 4);
    save(&cv, dir, "predictions.png", "a validation image: input, ground truth, prediction per loss (titles: mIoU of the whole validation set)");
    pic_free(&cv);
}

/* A line plot of one per-epoch series per run (which: 0 training loss, 1 validation mIoU),
   y from ymin to ymax. */
static void plot_panel(pic_canvas *cv, int x0, int y0, int w, int h, const char *title, const run_result *runs,
                       int nruns, int which, double ymin, double ymax)
{
    int k, e, epochs = runs[0].epochs, i;
    char t[32];
    pic_text(cv, x0, y0 - 22, title, 2, black);
    for (i = 1; i <= 4; i++) { /* grid */
        int y = y0 + h - i * h / 4;
        pic_line(cv, x0, y, x0 + w, y, 1, light);
    }
    pic_line(cv, x0, y0, x0, y0 + h, 2, black);
    pic_line(cv, x0, y0 + h, x0 + w, y0 + h, 2, black);
    for (i = 0; i <= 4; i++) { /* y tick labels */
        snprintf(t, sizeof t, "%.2f", ymin + (ymax - ymin) * i / 4);
        pic_text(cv, x0 - 8 - pic_text_width(t, 2), y0 + h - i * h / 4 - 5, t, 2, black);
    }
    snprintf(t, sizeof t, "%d", epochs);
    pic_text(cv, x0 + w - pic_text_width(t, 2), y0 + h + 8, t, 2, black);
    pic_text(cv, x0, y0 + h + 8, "1", 2, black);
    pic_text(cv, x0 + w / 2 - pic_text_width("EPOCH", 2) / 2, y0 + h + 8, "EPOCH", 2, grey);
    for (k = 0; k < nruns; k++) {
        const double *v = which ? runs[k].val_miou : runs[k].train_loss;
        int px = 0, py = 0;
        for (e = 0; e < epochs; e++) {
            double f = (v[e] - ymin) / (ymax - ymin);
            int x = x0 + (epochs > 1 ? e * w / (epochs - 1) : w / 2);
            int y = y0 + h - (int)((f < 0 ? 0 : f > 1 ? 1 : f) * h + 0.5);
            if (e > 0) pic_line(cv, px, py, x, y, 2, run_colour[k % MAX_RUNS]);
            pic_rect(cv, x - 2, y - 2, 5, 5, run_colour[k % MAX_RUNS]); /* a marker per epoch */
            px = x;
            py = y;
        }
    }
}

static void picture_curves(const run_result *runs, int nruns, const char *dir)
{
    int pw = 440, ph = 300, left = 70, top = 40, k, e, x;
    double lmax = 0, mlo = 1, mhi = 0;
    pic_canvas cv;
    if (!pic_init(&cv, 2 * (left + pw) + 30, top + ph + 80, white)) return;
    for (k = 0; k < nruns; k++)
        for (e = 0; e < runs[k].epochs; e++) {
            double l = runs[k].train_loss[e], m = runs[k].val_miou[e];
            if (isfinite(l) && l > lmax) lmax = l;
            if (m == m && m < mlo) mlo = m;
            if (m == m && m > mhi) mhi = m;
        }
    lmax = lmax > 0 ? ceil(lmax * 10.0) / 10.0 : 1.0;
    mlo = floor(mlo * 10.0) / 10.0; /* the mIoU axis spans the measured range, in tenths */
    mhi = ceil(mhi * 10.0) / 10.0;
    if (!(mhi > mlo)) {
        mlo = 0;
        mhi = 1;
    }
    plot_panel(&cv, left, top, pw, ph, "TRAINING LOSS", runs, nruns, 0, 0.0, lmax);
    plot_panel(&cv, 2 * left + pw + 20, top, pw, ph, "VALIDATION MEAN IOU", runs, nruns, 1, mlo, mhi);
    x = left;
    for (k = 0; k < nruns; k++) { /* legend */
        const char *name = segloss_loss_name(runs[k].cfg.loss_type);
        pic_rect(&cv, x, top + ph + 40, 12, 12, run_colour[k % MAX_RUNS]);
        pic_text(&cv, x + 16, top + ph + 41, name, 2, black);
        x += 16 + pic_text_width(name, 2) + 24;
    }
    save(&cv, dir, "curves.png", "training loss and validation mean IoU per epoch, one line per loss");
    pic_free(&cv);
}

/* ======================================================================================== */
/* main: options, the set-up report, the comparison, the advice, the pictures                 */
/* ======================================================================================== */

static void usage(void)
{
    printf("usage: demo [--quick] [--epochs N] [--seed S] [--out DIR] [--config TEXT] [--lr X] [--machine]\n"
           "  --quick      small data and few epochs (the smoke test)\n"
           "  --config     one configuration in the guide's syntax, e.g.\n"
           "               \"loss_type='tversky', tversky_alpha=0.7, tversky_beta=0.3\"\n"
           "  --machine    also print RESULT/FINAL/CHANCE lines for scripts\n");
}

/* Options from the command line, with the defaults filled in. Returns -1 to go on, else the
   exit status (0 after --help, 2 for a bad option). */
static int parse_args(int argc, char **argv, demo_opts *o)
{
    int k;
    memset(o, 0, sizeof *o);
    o->seed = 2024;
    o->lr = 3e-3;
    o->batch = 2048;
    o->out = "examples/out";
    o->epochs = -1; /* "not given": its default depends on --quick, which may come later */
    for (k = 1; k < argc; k++) {
        const char *a = argv[k];
        int more = k + 1 < argc;
        if (!strcmp(a, "--quick")) o->quick = 1;
        else if (!strcmp(a, "--machine")) o->machine = 1;
        else if (!strcmp(a, "--epochs") && more) o->epochs = atoi(argv[++k]);
        else if (!strcmp(a, "--seed") && more) o->seed = strtoull(argv[++k], NULL, 10);
        else if (!strcmp(a, "--out") && more) o->out = argv[++k];
        else if (!strcmp(a, "--config") && more) o->config = argv[++k];
        else if (!strcmp(a, "--lr") && more) o->lr = atof(argv[++k]);
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 0;
        } else {
            fprintf(stderr, "demo: unknown or incomplete option '%s'\n", a);
            usage();
            return 2;
        }
    }
    return -1;
}

/* The sizes --quick chooses, then checks of the values, all before any work: a typo in
   --config should not cost minutes of data generation. Returns -1 to go on, else 2. */
static int finish_opts(demo_opts *o)
{
    o->ntrain = o->quick ? 4 : 16;
    o->nval = o->quick ? 2 : 6;
    o->size = 128;
    if (o->epochs < 0) o->epochs = o->quick ? 8 : 30;
    if (o->epochs < 1 || !(o->lr > 0)) {
        fprintf(stderr, "demo: --epochs must be >= 1 and --lr > 0\n");
        return 2;
    }
    o->tty = isatty(fileno(stdout));
    if (o->config) {
        segloss_config check;
        char err[256];
        segloss_status st = segloss_config_parse(o->config, &check, err, sizeof err);
        if (st != SEGLOSS_OK) {
            fprintf(stderr, "demo: bad --config: %s (%s)\n", err, segloss_status_string(st));
            return 2;
        }
    }
    return -1;
}

/* Training and validation sets from one random stream (validation is drawn after training,
   so both depend on the seed only), standardised with the training statistics. */
static void make_data(const demo_opts *o, dataset *train, dataset *val)
{
    rng r;
    r.s = o->seed;
    make_dataset(&r, train, o->ntrain, o->size, o->size);
    make_dataset(&r, val, o->nval, o->size, o->size);
    standardise(train, val);
}

/* The validation image to picture: the first one with every class, so the predictions
   picture shows each class at least once (image 0 if none has all). */
static int pick_showcase(const dataset *val)
{
    int k, c, i;
    for (k = 0; k < val->count; k++) {
        int64_t h[NCLASS] = { 0, 0, 0, 0 };
        int all = 1;
        for (i = 0; i < val->w * val->h; i++) h[val->im[k].y[i]]++;
        for (c = 0; c < NCLASS; c++) all &= h[c] > 0;
        if (all) return k;
    }
    return 0;
}

/* What the runs will see: class fractions against the guide's, features, model, the chance
   level a run must beat, and the advisor's first guess from the label counts alone. */
static void print_setup(const demo_opts *o, const dataset *train, const dataset *val)
{
    double chance;
    int k;
    segloss_advice adv;

    printf("\nData (classes bg / er / mito / nuc; the guide assumes 80 / 10 / 7 / 3 %%):\n");
    print_fractions("training", train);
    print_fractions("validation", val);
    printf("  features (%d per pixel, standardised):", NFEAT);
    for (k = 0; k < NFEAT; k++) printf("%s%s", k ? ", " : " ", feature_names[k]);
    printf("\n  model: MLP %d -> %d ReLU -> %d, Adam lr %g, minibatches of %d pixels, %d epochs\n", NFEAT, HIDDEN,
           NCLASS, o->lr, o->batch, o->epochs);
    chance = chance_miou(val->counts);
    printf("  chance level: validation mean IoU %.3f (all background, or random by class frequency)\n", chance);
    if (o->machine) printf("CHANCE val_miou=%.6f\n", chance);
    segloss_advise(train->counts, NULL, NCLASS, NULL, 0, &adv);
    printf("  advisor, from the label counts alone: '%s' (%s)\n", segloss_loss_name(adv.config.loss_type), adv.reason);
}

/* One row of the comparison table: the guide's columns, filled with this run's measurements. */
static void print_comparison_row(const run_result *run)
{
    int flagged, rises, c;
    double over = over_prediction(run->metrics, &flagged), sd = stability(run, 5, &rises);
    char cell[64];
    printf("| %-11s ", segloss_loss_name(run->cfg.loss_type));
    snprintf(cell, sizeof cell, "%.1f s (loss %2.0f%%)", run->train_seconds,
             100.0 * run->loss_seconds / (run->train_seconds > 0 ? run->train_seconds : 1));
    printf("| %-16s | %8.3f |", cell, run->miou);
    for (c = 0; c < NCLASS; c++) {
        double v = run->metrics[c].iou;
        if (v == v) printf(" %.2f", v);
        else printf("  n/a");
    }
    snprintf(cell, sizeof cell, "%+.2f (%d class%s)", over, flagged, flagged == 1 ? "" : "es");
    printf(" | %-17s ", cell);
    snprintf(cell, sizeof cell, "sd %.3f, %d rise%s%s", sd, rises, rises == 1 ? "" : "s", run->diverged ? ", NaN" : "");
    printf("| %-18s |\n", cell);
}

/* The guide's comparison table with measured numbers, and what each column means. */
static void print_comparison(const demo_opts *o, const run_result *runs, int nruns)
{
    int k;
    printf("\nPerformance comparison (measured: %d training / %d validation images of %dx%d, %d epochs, seed %llu)\n\n",
           o->ntrain, o->nval, o->size, o->size, o->epochs, (unsigned long long)o->seed);
    printf("| Loss Type   | Train time       | Mean IoU | IoU bg/er/mito/nuc  | Over-prediction   | Stability          |\n");
    printf("|-------------|------------------|----------|---------------------|-------------------|--------------------|\n");
    for (k = 0; k < nruns; k++) print_comparison_row(&runs[k]);
    printf("\n  Train time: CPU seconds of all training steps (features precomputed, validation excluded);\n"
           "              in parentheses the share spent inside segloss_compute.\n"
           "  Mean IoU:   validation mean IoU over bg, er, mito, nuc after the last epoch (argmax).\n"
           "  Over-prediction: largest recall - precision over the classes on validation; in parentheses\n"
           "              how many classes the library flags as over-predicting (recall - precision > 0.2).\n"
           "  Stability:  std of the validation mean IoU over the last 5 epochs; rises = epochs whose\n"
           "              mean training loss rose more than 5 %% over the previous epoch.\n");
}

/* The table's numbers at full precision, one SUMMARY line per run, for scripts (--machine). */
static void print_summary_lines(const run_result *runs, int nruns)
{
    int k;
    for (k = 0; k < nruns; k++) {
        int flagged, rises;
        double over = over_prediction(runs[k].metrics, &flagged), sd = stability(&runs[k], 5, &rises);
        printf("SUMMARY loss=%s val_miou=%.6f over=%.6f over_classes=%d miou_sd=%.6f rises=%d\n",
               segloss_loss_name(runs[k].cfg.loss_type), runs[k].miou, over, flagged, sd, rises);
    }
}

/* The run with the highest validation mean IoU; ties go to the earlier run. */
static int best_run(const run_result *runs, int nruns)
{
    int k, best = 0;
    for (k = 0; k < nruns; k++)
        if (runs[k].miou > runs[best].miou) best = k;
    return best;
}

/* The advisor's second opinion: given the best run's measured per-class metrics and its
   configuration, what to try next, printed in the guide's syntax. */
static void print_advice(const dataset *train, const run_result *best)
{
    char text[1024];
    segloss_advice adv;
    printf("\nBest on validation: '%s' (mean IoU %.3f).\n", segloss_loss_name(best->cfg.loss_type), best->miou);
    segloss_advise(train->counts, best->metrics, NCLASS, &best->cfg, best->diverged, &adv);
    printf("Advisor, given the label counts, the best run's per-class metrics and its configuration:\n  %s\n",
           adv.reason);
    segloss_config_format(&adv.config, NULL, NCLASS, text, sizeof text);
    printf("  suggested next:\n");
    print_block(text);
}

static void write_pictures(const demo_opts *o, const dataset *train, const dataset *val, int showcase,
                           const run_result *runs, int nruns)
{
    printf("\nPictures in %s/:\n", o->out);
    mkdir(o->out, 0777); /* an existing folder is fine */
    picture_data(train, o->out);
    picture_predictions(val, showcase, runs, nruns, o->out);
    picture_curves(runs, nruns, o->out);
}

static void free_runs(run_result *runs, int nruns)
{
    int k;
    for (k = 0; k < nruns; k++) {
        free(runs[k].train_loss);
        free(runs[k].val_miou);
        free(runs[k].showcase_pred);
    }
}

/* The demo in order: data, one training run per configuration (the guide's six, or the one
   of --config), the comparison, the advisor, the pictures. */
int main(int argc, char **argv)
{
    demo_opts o;
    dataset train, val;
    run_result runs[MAX_RUNS];
    int nruns, k, showcase, rc;
    double t_start = seconds_now();

    rc = parse_args(argc, argv, &o);
    if (rc < 0) rc = finish_opts(&o);
    if (rc >= 0) return rc;
    printf("segloss %s demo: six losses on synthetic EM images (SIMD path: %s, seed %llu)\n", SEGLOSS_VERSION_STRING,
           segloss_active_isa(), (unsigned long long)o.seed);

    make_data(&o, &train, &val);
    showcase = pick_showcase(&val);
    print_setup(&o, &train, &val);

    nruns = o.config ? 1 : MAX_RUNS;
    for (k = 0; k < nruns; k++) train_run(&o, o.config ? o.config : guide_configs[k], &train, &val, showcase, &runs[k]);

    print_comparison(&o, runs, nruns);
    if (o.machine) print_summary_lines(runs, nruns);
    print_advice(&train, &runs[best_run(runs, nruns)]);
    write_pictures(&o, &train, &val, showcase, runs, nruns);
    printf("\ntotal CPU time %.1f s\n", seconds_now() - t_start);

    free_runs(runs, nruns);
    free_dataset(&train);
    free_dataset(&val);
    return 0;
}
