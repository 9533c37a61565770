/* ---- kernels/api.h: the public API (sections 2-6) and its semantics (section 7) -------- */
#ifndef SEGLOSS_H_INCLUDED
#define SEGLOSS_H_INCLUDED

/* The implementation needs C99 (it and SIMDe use it throughout: inline, declarations in for
   loops); as C89 it failed with 2,469 errors. Say why once instead, and drop the
   implementation so that this is the only error. The declarations alone compile as C89, so a
   C89 file may still include segloss.h without SEGLOSS_IMPLEMENTATION. MSVC's C compiler
   defines no __STDC_VERSION__ unless given /std:c11, yet compiles this C99. */
#if defined(SEGLOSS_IMPLEMENTATION) && !defined(__cplusplus) && !defined(_MSC_VER) && \
    (!defined(__STDC_VERSION__) || __STDC_VERSION__ < 199901L)
#error "segloss needs C99 or later (or C++) in the file that defines SEGLOSS_IMPLEMENTATION"
#undef SEGLOSS_IMPLEMENTATION
#endif

#include <stddef.h>
#include <stdint.h>

/* The one place that defines the version: SEGLOSS_VERSION_STRING, segloss.pc, the CMake
   package's version file and CMakeLists.txt's project() are derived from these three lines
   (tests/consumers/version.sh checks them and CHANGELOG.md against each other). */
#define SEGLOSS_VERSION_MAJOR 0
#define SEGLOSS_VERSION_MINOR 1
#define SEGLOSS_VERSION_PATCH 0
#define SEGLOSS_VERSION_NUMBER (SEGLOSS_VERSION_MAJOR * 10000 + SEGLOSS_VERSION_MINOR * 100 + SEGLOSS_VERSION_PATCH)
#define SEGLOSS__STR_(x) #x
#define SEGLOSS__STR(x) SEGLOSS__STR_(x)
#define SEGLOSS_VERSION_STRING \
    SEGLOSS__STR(SEGLOSS_VERSION_MAJOR) "." SEGLOSS__STR(SEGLOSS_VERSION_MINOR) "." SEGLOSS__STR(SEGLOSS_VERSION_PATCH)

#ifdef SEGLOSS_STATIC
#define SEGLOSSDEF static
#else
#define SEGLOSSDEF extern
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- 2. configuration, input, result, errors ------------------------------------------- */

typedef enum segloss_loss_type {
    SEGLOSS_CE = 0,          /* 'ce'          cross entropy                                  */
    SEGLOSS_WEIGHTED_CE,     /* 'weighted_ce' CE with (automatic inverse-frequency) weights  */
    SEGLOSS_FOCAL,           /* 'focal'       focal loss, gamma                              */
    SEGLOSS_DICE,            /* 'dice'        soft Dice, smooth                              */
    SEGLOSS_FOCAL_DICE,      /* 'focal_dice'  focal_weight*focal + dice_weight*dice          */
    SEGLOSS_TVERSKY,         /* 'tversky'     alpha on false positives, beta on false neg.   */
    SEGLOSS_GENERALIZED_DICE,/* 'generalized_dice' Dice with class weights 1/G_c^2 (MONAI)     */
    SEGLOSS_LOSS_MAX_ENUM = 0x7FFFFFFF /* any int is a value: C++ may pass garbage safely */
} segloss_loss_type;
#define SEGLOSS_LOSS_COUNT 7

/* What segloss_input.labels holds: one class index per position (LABEL_*), or a target per
   channel of the logits' shape and layout (TARGET_*: uint8 0/1 masks, float32 in [0, 1]). */
typedef enum segloss_label_type {
    SEGLOSS_LABEL_U8 = 0, SEGLOSS_LABEL_I32, SEGLOSS_LABEL_I64,
    SEGLOSS_TARGET_U8,       /* sigmoid: multilabel / region masks, 0 or 1 per element         */
    SEGLOSS_TARGET_F32,      /* sigmoid: soft targets in [0, 1]; softmax: class probabilities  */
    SEGLOSS_LABEL_MAX_ENUM = 0x7FFFFFFF
} segloss_label_type;
typedef enum segloss_activation {
    SEGLOSS_SOFTMAX = 0,     /* one class per position: p = softmax over the C channels        */
    SEGLOSS_SIGMOID,         /* every channel its own binary problem: p_c = sigmoid(z_c)        */
    SEGLOSS_ACTIVATION_MAX_ENUM = 0x7FFFFFFF
} segloss_activation;
typedef enum segloss_layout { SEGLOSS_NCHW = 0, SEGLOSS_NHWC, SEGLOSS_LAYOUT_MAX_ENUM = 0x7FFFFFFF } segloss_layout;
typedef enum segloss_reduction { SEGLOSS_MEAN = 0, SEGLOSS_SUM, SEGLOSS_REDUCTION_MAX_ENUM = 0x7FFFFFFF } segloss_reduction;

/* Field names are the loss guide's. Fill with segloss_config_init, then change what you need. */
typedef struct segloss_config {
    segloss_loss_type loss_type;
    float focal_gamma;          /* gamma >= 0; focal and focal_dice                        */
    float focal_weight;         /* focal_dice: weight of the focal term  (>= 0)             */
    float dice_weight;          /* focal_dice: weight of the Dice term   (>= 0, not both 0) */
    float dice_smooth;          /* s >= 0; dice, focal_dice, tversky                        */
    float tversky_alpha;        /* weight of false positives (>= 0)                         */
    float tversky_beta;         /* weight of false negatives (>= 0)                         */
    int use_class_weighting;    /* automatic inverse-frequency weights when class_weights==NULL */
    const float *class_weights; /* C weights (>= 0, finite) or NULL; CE-family terms only   */
    int64_t ignore_index;       /* label value that takes no part (default -100)            */
    int include_background;     /* 0: class 0 left out of the Dice/Tversky class mean       */
    int per_sample;             /* Dice/Tversky per sample, then averaged (MONAI default)   */
    segloss_reduction reduction;/* SEGLOSS_MEAN (default) or SEGLOSS_SUM                    */
    int check_finite;           /* 1: reject non-finite logits, reporting the first position */
    segloss_activation activation; /* SEGLOSS_SOFTMAX (default) or SEGLOSS_SIGMOID             */
    float label_smoothing;      /* softmax CE term: epsilon in [0, 1] (PyTorch's)           */
    const float *pos_weight;    /* sigmoid CE: C weights of the positives (>= 0) or NULL     */
    float focal_alpha;          /* sigmoid focal: torchvision's alpha in [0, 1]; < 0: none   */
    const float *weight_map;    /* a weight (>= 0, finite) per position of the call's input,
                                   at n*S + s as its labels (U-Net border weights), or NULL  */
} segloss_config;

/* Logits are float32 N x C x S (S = all spatial dims flattened).
   NCHW: element (n,c,s) at (n*C + c)*S + s.   NHWC: at (n*S + s)*C + c.
   Labels: one class per (n,s) at n*S + s, as uint8, int32 or int64; or (sigmoid) targets per
   element, at the logits' index. */
typedef struct segloss_input {
    const float *logits;
    const void *labels;
    segloss_label_type label_type;
    int64_t n, c, s;
    segloss_layout layout;
} segloss_input;

typedef struct segloss_result {
    double loss;            /* the configured loss                                           */
    double ce_term;         /* CE / weighted CE / focal term (unweighted by focal_weight)    */
    double dice_term;       /* Dice or Tversky term (unweighted by dice_weight)              */
    int64_t valid;          /* number of positions whose label is not ignore_index            */
    int64_t bad_position;   /* SEGLOSS_ERR_LABEL: first offending label, at n*S+s;
                               SEGLOSS_ERR_NONFINITE: first offending logit (element index);
                               otherwise -1                                                  */
} segloss_result;

typedef enum segloss_status {
    SEGLOSS_OK = 0,
    SEGLOSS_ERR_NULL,        /* a required pointer is NULL                                   */
    SEGLOSS_ERR_SHAPE,       /* n, c or s zero or negative, c > INT32_MAX, or logits of n*c*s
                                floats larger than any address space (2^57 bytes on 64-bit)  */
    SEGLOSS_ERR_ENUM,        /* unknown loss type, label type, layout or reduction           */
    SEGLOSS_ERR_PARAM,       /* a parameter is NaN, infinite or out of its domain            */
    SEGLOSS_ERR_WEIGHTS,     /* a class weight is negative or not finite                      */
    SEGLOSS_ERR_LABEL,       /* a label outside [0, C) that is not ignore_index               */
    SEGLOSS_ERR_NONFINITE,   /* check_finite: a logit is NaN or infinite                      */
    SEGLOSS_ERR_ALIAS,       /* grad overlaps logits without being exactly the same buffer    */
    SEGLOSS_ERR_STATS,       /* statistics buffer does not match the configuration / slice  */
    SEGLOSS_ERR_NOMEM,       /* scratch allocation failed                                     */
    SEGLOSS_ERR_ISA,         /* unknown SIMD path, or one this CPU cannot run                 */
    SEGLOSS_ERR_PARSE,       /* configuration text: unknown key or bad value                  */
    SEGLOSS_ERR_BUILD,       /* the implementation was compiled with flags that break its
                                arithmetic (fast-math): its self-test failed at first use     */
    SEGLOSS_STATUS_MAX_ENUM = 0x7FFFFFFF
} segloss_status;

SEGLOSSDEF void segloss_config_init(segloss_config *cfg, segloss_loss_type loss_type);
SEGLOSSDEF const char *segloss_status_string(segloss_status status);
/* The error of a call in words: what is wrong, where, and the likely fix, e.g.
       label 255 at sample 0, position 17 is not a class (C = 4 classes: 0..3) and not
       ignore_index (-100): if 255 marks pixels to ignore, set ignore_index = 255
   Pass the call's status and arguments; cfg, in and r may each be NULL (it then says what it
   can; without r it finds a bad label or logit again in in). Positions are those of `in` (for a
   two-phase slice, from the slice's start). Writes at most size bytes including the
   terminating 0 (truncating) and returns buf; buf NULL or size 0 writes nothing. */
SEGLOSSDEF char *segloss_error_message(segloss_status status, const segloss_config *cfg, const segloss_input *in,
                                       const segloss_result *r, char *buf, size_t size);
SEGLOSSDEF const char *segloss_loss_name(segloss_loss_type loss_type);      /* "focal_dice"; NULL if unknown */
SEGLOSSDEF segloss_status segloss_loss_from_name(const char *name, segloss_loss_type *out);
SEGLOSSDEF int segloss_version(void);                                        /* SEGLOSS_VERSION_NUMBER */
/* The layout this library was compiled with, for bindings that declare the structs themselves
   (python/segloss): the offset of `field` in struct `type` ("segloss_config", "focal_gamma"),
   its size when field is NULL, -1 for a name it does not know. A binding that finds a mismatch
   refuses to load rather than pass misplaced fields. */
SEGLOSSDEF int64_t segloss_abi_offset(const char *type, const char *field);

/* ---- 3. one call ----------------------------------------------------------------------- */

/* Loss of the whole batch and, when grad != NULL, dL/dlogits in the logits' layout.
   out is required. grad may be the logits buffer itself (in place); any other overlap is
   SEGLOSS_ERR_ALIAS. Everything is validated before anything is written: on error grad is
   untouched and *out only reports the error (loss, ce_term and dice_term NaN, valid 0,
   bad_position the offending position or -1); *out is untouched only when out itself or cfg
   or in is NULL. */
SEGLOSSDEF segloss_status segloss_compute(const segloss_config *cfg, const segloss_input *in,
                                          float *grad, segloss_result *out);

/* segloss_compute that also writes the loss's unreduced terms (PyTorch's and MONAI's
   reduction='none') into terms, segloss_unreduced_len(cfg, in) floats (0: cfg or in invalid):
     ce, weighted_ce, focal   the term of every position, w[y] m_i l_i at n*S + s (sigmoid: of
                              every element, w_c m_i l_ic at the logits' index); 0 where ignored
     dice, tversky            1 - D for every (sample, class in K) at n*|K| + k, per_sample or
                              not (per_sample = 0: |K| values, the batch's)
     generalized_dice         1 - GD of every sample (per_sample = 0: one value)
   focal_dice has no unreduced form (SEGLOSS_ERR_PARAM). grad and *out are as segloss_compute's
   (the gradient of the configured reduction). terms is written only on success. */
SEGLOSSDEF int64_t segloss_unreduced_len(const segloss_config *cfg, const segloss_input *in);
SEGLOSSDEF segloss_status segloss_compute_unreduced(const segloss_config *cfg, const segloss_input *in,
                                                    float *grad, float *terms, segloss_result *out);

/* ---- 4. two phases ---------------------------------------------------------------------
   Dice and Tversky need sums over the whole batch before any gradient exists. Split the batch
   into slices (whole samples, or for NHWC also a range of positions within one sample), then:
       segloss_stats st = { N, C, buf };    buf: segloss_stats_len(&cfg, N, C) doubles, zeroed
       segloss_accumulate(&cfg, &slice, first_sample, &st);        for every slice, any order
       (add buf element-wise across threads/machines, in a fixed order for fixed bits: e.g.
        MPI_Allgather, then add in rank order; MPI_Allreduce's order is not promised)
       segloss_finish(&cfg, &st, &result);                         loss of the whole batch
       segloss_backward(&cfg, &slice, first_sample, &st, grad);    gradient of each slice
   first_sample is the index in the batch of the slice's first sample. segloss_compute runs
   exactly these phases (it folds the CE-family loss into the backward pass: for CE and focal,
   and for focal_dice's focal term when it computes a gradient). */
typedef struct segloss_stats {
    int64_t n, c;           /* batch the statistics describe                               */
    double *sum;            /* segloss_stats_len(cfg, n, c) doubles: sums, so add them up   */
} segloss_stats;

SEGLOSSDEF int64_t segloss_stats_len(const segloss_config *cfg, int64_t n, int64_t c); /* 0 if invalid */
SEGLOSSDEF segloss_status segloss_accumulate(const segloss_config *cfg, const segloss_input *slice,
                                             int64_t first_sample, segloss_stats *stats);
/* Errors are reported in *out as by segloss_compute (untouched when cfg, stats or out is NULL). */
SEGLOSSDEF segloss_status segloss_finish(const segloss_config *cfg, const segloss_stats *stats,
                                         segloss_result *out);
SEGLOSSDEF segloss_status segloss_backward(const segloss_config *cfg, const segloss_input *slice,
                                           int64_t first_sample, const segloss_stats *stats, float *grad);

/* One pass over the logits for the CE family, as segloss_compute makes. Two calls pair up:
       segloss_accumulate_labels(&cfg, &slice, first_sample, &st);   for every slice
       (add buf across threads/machines as above)
       segloss_finish(&cfg, &st, &result);               the loss without the CE-family term
       double part = 0;
       segloss_backward_loss(&cfg, &slice, first_sample, &st, grad, &part);  every slice
       (add the parts across slices/machines: loss = result.loss + sum of parts)
   segloss_accumulate_labels gathers what the gradient needs before it exists, and no more:
   for ce, weighted_ce and focal only the per-class label counts (the labels are read, the
   logits are not); for focal_dice with focal_weight > 0 every statistic but the focal term;
   otherwise (dice, tversky, focal_dice with focal_weight 0) exactly segloss_accumulate's.
   segloss_finish on these statistics reports the loss without the CE-family term (ce_term 0;
   valid and dice_term as usual). segloss_backward_loss is segloss_backward that also adds
   into *loss the slice's share of focal_weight * the CE-family term (the whole loss for ce,
   weighted_ce and focal; 0 where segloss_accumulate_labels gathered the term itself): the
   shares of all slices add up to that term, normalised over the whole batch (the weights
   and sum_V w[y] come from the statistics). The CE-family term alone is sum / focal_weight.
   Use the two as a pair: with segloss_accumulate's statistics segloss_finish already reports
   the whole loss, and the parts must not be added to it. Sums in a fixed
   order give fixed bits: add the parts in slice order (segloss_compute adds them in chunk
   order, so its loss may differ in the last bits). loss NULL: SEGLOSS_ERR_NULL. */
SEGLOSSDEF segloss_status segloss_accumulate_labels(const segloss_config *cfg, const segloss_input *slice,
                                                    int64_t first_sample, segloss_stats *stats);
SEGLOSSDEF segloss_status segloss_backward_loss(const segloss_config *cfg, const segloss_input *slice,
                                                int64_t first_sample, const segloss_stats *stats, float *grad,
                                                double *loss);

/* ---- 5. class weights, text, printout, metrics, advice --------------------------------- */

typedef enum segloss_weighting {
    SEGLOSS_WEIGHT_INVERSE = 0,   /* |V| / n_c                           (the default)       */
    SEGLOSS_WEIGHT_MEDIAN,        /* median_k(f_k) / f_c                 (Eigen & Fergus 2015) */
    SEGLOSS_WEIGHT_INV_SQRT,      /* sqrt(|V| / n_c)                                          */
    SEGLOSS_WEIGHT_EFFECTIVE,     /* (1 - b) / (1 - b^n_c), b = 0.9999, mean-normalised (Cui 2019) */
    SEGLOSS_WEIGHT_MAX_ENUM = 0x7FFFFFFF
} segloss_weighting;

/* Count labels per class over valid positions, adding into counts[C] (accumulates across calls). */
SEGLOSSDEF segloss_status segloss_label_histogram(const segloss_input *in, int64_t ignore_index,
                                                  int64_t *counts);
/* Class weights from counts; a class with count 0 gets weight 0. */
SEGLOSSDEF segloss_status segloss_class_weights(segloss_weighting method, const int64_t *counts,
                                                int64_t c, float *weights);
/* The weights segloss_compute would use for this config and input (all 1 when unweighted). */
SEGLOSSDEF segloss_status segloss_weights_for(const segloss_config *cfg, const segloss_input *in,
                                              float *weights);

/* Parse the text users write: "loss_type='focal', focal_gamma=2.0, use_class_weighting=True,"
   Commas or newlines, optional quotes, True/False/1/0, '#' comments. Starts from the loss's
   defaults (segloss_config_init), then applies the keys. On error, err (if not NULL) receives a
   message naming the key or value. */
SEGLOSSDEF segloss_status segloss_config_parse(const char *text, segloss_config *cfg,
                                               char *err, size_t err_size);
/* The "Loss Configuration:" block. weights: C values or NULL (no weights line). Returns the
   length it needs (like snprintf); writes at most size bytes including the terminating 0. */
SEGLOSSDEF int segloss_config_format(const segloss_config *cfg, const float *weights, int64_t c,
                                     char *buf, size_t size);

/* Confusion counts over valid positions, prediction = argmax (ties: lowest class). Adds into
   confusion[C*C], row = true class, column = predicted (accumulates across calls). */
SEGLOSSDEF segloss_status segloss_confusion(const segloss_input *in, int64_t ignore_index,
                                            int64_t *confusion);

typedef struct segloss_class_metrics {
    double recall, precision, iou, dice;  /* NaN where 0/0                                    */
    int64_t tp, fp, fn;
} segloss_class_metrics;
/* Per-class metrics from confusion[C*C]; returns mean IoU over classes whose IoU is not NaN. */
SEGLOSSDEF double segloss_metrics(const int64_t *confusion, int64_t c, segloss_class_metrics *per_class);
/* The per-class table (Recall, Precision, IoU, flag). names: C strings or NULL ("class k"). */
SEGLOSSDEF int segloss_metrics_format(const segloss_class_metrics *m, int64_t c,
                                      const char *const *names, char *buf, size_t size);

typedef struct segloss_advice {
    segloss_config config;       /* suggested configuration (class_weights NULL)             */
    char reason[160];            /* one line: why                                             */
} segloss_advice;
/* The loss guide's decision tree and troubleshooting. counts: C label counts (NULL = unknown),
   metrics: C per-class metrics (NULL = none yet), current: the config in use (NULL = none),
   diverged: the loss went NaN or exploded. */
SEGLOSSDEF void segloss_advise(const int64_t *counts, const segloss_class_metrics *metrics, int64_t c,
                               const segloss_config *current, int diverged, segloss_advice *out);

/* ---- 6. SIMD paths, threads ------------------------------------------------------------ */

/* "avx512", "avx2", "sse2", "neon" or "scalar": the path calls take now. */
SEGLOSSDEF const char *segloss_active_isa(void);
/* Force a path by name (NULL or "auto": the best this CPU runs). Refuses one the CPU cannot
   run or that was not compiled in (SEGLOSS_ERR_ISA). The environment variable SEGLOSS_ISA
   does the same at first use. */
SEGLOSSDEF segloss_status segloss_set_isa(const char *name);
/* Whether a path is compiled in and runnable here. */
SEGLOSSDEF int segloss_isa_supported(const char *name);
/* The paths compiled in, best first: names 0 .. segloss_isa_count() - 1 (NULL past the end).
   Some may not run on this CPU: ask segloss_isa_supported. Tests and benchmarks loop over
   these rather than naming paths. */
SEGLOSSDEF int segloss_isa_count(void);
SEGLOSSDEF const char *segloss_isa_name(int i);

/* Threads (section 7, THREADS; docs/threads.md). Every entry point (segloss_compute, the
   two-phase calls, segloss_confusion, segloss_label_histogram) cuts its work into chunks fixed
   by the shape alone and adds their partial sums in chunk order: results are bit-identical
   for any thread count and any pool. Calls of fewer than SEGLOSS_PARALLEL_MIN positions
   (default 65536) run on the calling thread.
   segloss_set_threads(k): the built-in pool's size, the calling thread included (1 = none);
   0 = the environment variable SEGLOSS_THREADS, read at first use (unset: 1). Process-wide,
   safe to call at any time (a call in flight may take it up midway: same bits).
   segloss_get_threads(): the count calls use now.
   A parallel-for of the caller's own pool (OpenMP, TBB, PyTorch's intra-op pool, oneDNN's or
   XNNPACK's style): segloss_set_parallel_for(fn, ctx) makes every call that has more than one
   chunk call fn(ctx, task, task_ctx, count), which must run task(task_ctx, i) exactly once for
   every i in [0, count), on any threads, in any order, and return when all have returned. It
   takes precedence over segloss_set_threads; fn NULL restores the built-in pool. Without
   POSIX threads (Windows; SEGLOSS_NO_THREADS) there is no built-in pool, and set it before
   other threads make calls. */
typedef void (*segloss_parallel_for_fn)(void *ctx, void (*task)(void *task_ctx, int64_t i), void *task_ctx,
                                        int64_t count);
SEGLOSSDEF void segloss_set_threads(int k);
SEGLOSSDEF int segloss_get_threads(void);
SEGLOSSDEF void segloss_set_parallel_for(segloss_parallel_for_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
/* ======================================================================================== */
/* 7. SEMANTICS                                                                              */
/* ======================================================================================== */
/*
   SOFTMAX   p[c] = exp(z[c] - m) / sum_k exp(z[k] - m), m = max_k z[k]; exp of an unshifted
             logit is never formed. V = positions whose label != ignore_index; ignored positions
             take no part in any loss, statistic or metric, and get gradient 0.

   LOSSES    with weights w[c] (all 1 unless given or automatic), g = one-hot label (never formed),
             I_c = sum_V p[c] g[c], P_c = sum_V p[c], G_c = sum_V g[c], FP = P - I, FN = G - I:
       ce           sum_V -w[y] log p[y] / sum_V w[y]     (ce and weighted_ce are one formula;
       weighted_ce  the same, automatic weights on         they differ only in the default of
                                                           use_class_weighting)
       focal        sum_V -w[y] (1 - p[y])^gamma log p[y] / sum_V w[y]
       dice         1 - mean_{c in K} (2 I_c + s) / (P_c + G_c + s)
       focal_dice   focal_weight * focal + dice_weight * dice   (weights: focal term only)
       tversky      1 - mean_{c in K} (I_c + s) / (I_c + alpha FP_c + beta FN_c + s)
     K = all classes, or 1..C-1 when include_background = 0. Dice/Tversky sum over the whole
     batch ("batch Dice"); per_sample computes them per sample and averages over (n, c in K).
     SEGLOSS_SUM drops the divisions: sum_V w[y] term for the CE family, sum over (groups, K)
     of (1 - D) for Dice/Tversky. A Dice/Tversky ratio whose denominator is 0 (s = 0 and a
     class neither present nor predicted) counts as 1, with zero gradient; so does, with
     per_sample, a sample without valid positions (MONAI's convention). No valid position:
     loss 0, gradient 0, valid 0. Class weights do not apply to dice and tversky.

       generalized_dice  1 - (2 sum_{c in K} v_c I_c + s) / (sum_{c in K} v_c (P_c + G_c) + s),
                    v_c = 1 / G_c^2, and where G_c = 0, v_c = the largest finite v of the group
                    (0 if none): MONAI's GeneralizedDiceLoss(w_type='square', smooth_nr = s,
                    smooth_dr = s); per_sample: per sample, then the mean over samples.

   SIGMOID   (activation = SEGLOSS_SIGMOID) every channel is its own binary problem, p_c =
             sigmoid(z_c), an element = (position, channel). Targets t: integer labels (C = 1:
             t = label in {0, 1}; C >= 2: t_c = [label = c], one-vs-rest; ignore_index as
             above) or per-channel targets (SEGLOSS_TARGET_U8 0/1, SEGLOSS_TARGET_F32 in
             [0, 1]; every element valid). With softplus(x) = log(1 + e^x), formed stably:
       ce           sum_{V,c} w_c m_i l_ic / (C sum_V m_i),  l = pw_c t softplus(-z) + (1 - t)
                    softplus(z)   (PyTorch binary_cross_entropy_with_logits(pos_weight = pw))
       weighted_ce  ce with pw_c = (sum_V m_i (1 - t_ic)) / (sum_V m_i t_ic) (1 where no
                    positive) unless pos_weight is given: under the sigmoid use_class_weighting
                    (weighted_ce's default) makes pos_weight automatic, not class_weights
       focal        as ce with l = a_t u^gamma BCE(z, t), u = 1 - p_t = t (1 - p) + (1 - t) p,
                    a_t = alpha t + (1 - alpha)(1 - t) (1 when focal_alpha < 0): torchvision's
                    sigmoid_focal_loss; pos_weight does not apply
       dice, tversky, focal_dice, generalized_dice  the formulas above with p = sigmoid(z), g =
                    t, channel by channel (MONAI DiceLoss(sigmoid=True))
     SUM drops the division. Class weights w_c (class_weights, NULL = 1) weight channels' CE
     terms; the mean is over valid elements, as PyTorch's, not over the weights. valid counts
     positions (a TARGET_* input: all n*s).
     Softmax needs C >= 2: with one channel, use the sigmoid (SEGLOSS_ERR_PARAM says so).

   PROBABILITY TARGETS  (softmax, ce and weighted_ce, SEGLOSS_TARGET_F32 or _U8 per element):
             l_i = sum_c w_c t'_c (-log p_c), t' = (1 - eps) t + eps / C, and the mean is
             sum_i m_i l_i / sum_i m_i, over positions: F.cross_entropy(z, t, weight = w,
             label_smoothing = eps) with a probability target (no weights in the denominator,
             unlike class indices; without class weights and with targets summing to 1, a
             one-hot target gives the loss of its class index). Automatic weights: sum m / G_c.

   LABEL SMOOTHING  epsilon (softmax, CE-family term with gamma = 0): each position's CE term
             becomes (1 - eps) w[y] (-log p_y) + (eps / C) sum_c w[c] (-log p_c), over the same
             sum_V w[y] as before: F.cross_entropy(weight = w, ignore_index = i,
             label_smoothing = eps). Focal terms (gamma > 0) refuse eps > 0.

   WEIGHT MAP  m_i >= 0 per position (1 when weight_map is NULL), indexed as the labels of the
             call's input (for a two-phase slice: from the slice's start). Softmax CE family:
             sum_V m_i w[y] l_i / sum_V m_i w[y]. Sigmoid CE family: as above. Dice family:
             I_c = sum_V m_i p_c g_c, P_c = sum_V m_i p_c, G_c = sum_V m_i g_c (MONAI's masked
             Dice is the 0/1 map). A map of ones gives the same bits as no map. PyTorch's
             (F.cross_entropy(reduction='none') * m).mean() is SEGLOSS_SUM's loss / (N S).
             Automatic weights count m_i instead of 1 per position.

   DEFAULTS  (segloss_config_init, the loss guide's) gamma 2, focal_weight 0.5, dice_weight 0.5,
             smooth 1, alpha 0.7, beta 0.3, ignore_index -100 (use 255 with uint8 labels),
             include_background 1, per_sample 0, mean; use_class_weighting 1 for weighted_ce;
             softmax, label_smoothing 0, pos_weight NULL, focal_alpha 0.25 (torchvision's).
   AUTOMATIC WEIGHTS  w[c] = |V| / n_c over the valid labels of the call (of the whole batch
             in the two-phase API), 0 for a class with n_c = 0: 80/10/7/3 % gives
             [1.25 10.0 14.3 33.3]. segloss_weights_for returns them; segloss_class_weights
             computes them (and median-frequency, inverse-sqrt, effective-number) from counts
             accumulated over a dataset, to pass as class_weights.

   GRADIENTS are exact derivatives of the loss above w.r.t. the logits:
       CE family    dL/dz_k = w[y] ff (p_k - [k = y]) / sum_V w[y],
                    ff = q^gamma (1 + gamma p_y r), q = 1 - p_y = sum_{c != y} p_c (no
                    cancellation), r = -log(p_y) / q (-> 1 as q -> 0): finite for every
                    gamma >= 0; integral gamma <= 16 uses products, not pow. The label's
                    entry is formed as -w[y] ff q / sum_V w[y], never from p_y - 1.
       Dice/Tversky dL/dp_c(i) = A_c + B_c [y_i = c] from the batch sums, then through the
                    softmax: dL/dz_k = p_k (d_k - sum_j p_j d_j), d = dL/dp, formed without
                    the cancelling subtraction: with r the class of the largest logit and
                    D' = sum_j p_j (A_j - A_r) (so sum_j p_j d_j = A_r + D' + p_y B_y),
                        k != y   p_k ((A_k - A_r) + f - D' - p_y B_y)
                        k = y    p_y ((A_y - A_r) + q B_y - D') - f q
                    where f = w[y] ff / sum_V w[y] is focal_dice's CE term (0 for dice and
                    tversky). A_r - A_r is 0 and D', q are sums of small terms, so the cost
                    stays O(C) per position.
       Accuracy     each entry is a few roundings away from the numbers it is made of, of
                    size sigma_k = f |p_k - [k = y]| + min(p_k, 1 - p_k) (2 max_c |A_c| + |B_y|):
                    where the softmax is confident (p -> 1) the label's entry and the confident
                    class's keep their relative accuracy (within 1e-6 of float64 at
                    p >= 1 - 1e-6). An entry loses relative digits only where those numbers
                    cancel in exact arithmetic (e.g. A_k - A_r of two nearly equal float32
                    coefficients); its error then stays below 32 u sigma_k (u = 2^-24;
                    tests/unit/test_confident.cpp; measured at most 4 u sigma_k).

   PEERS     PyTorch F.cross_entropy(weight=w, ignore_index=-100, reduction='mean') = weighted_ce
             with class_weights = w (or ce). MONAI DiceLoss(softmax=True, to_onehot_y=True,
             include_background=b, smooth_nr=s, smooth_dr=s, batch=False) = dice with per_sample
             = 1, include_background = b; MONAI's 2I + s / (P + G + s) uses the same smoothing
             in numerator and denominator; MONAI's default smooth is 1e-5 (ours 1, the guide's).
             MONAI TverskyLoss(alpha=a, beta=b) = tversky (alpha on FP, beta on FN) with
             per_sample = 1. nnU-Net's 2-D default soft Dice is batch Dice (per_sample = 0),
             background excluded (include_background = 0), smooth 1e-5, combined with CE:
             focal_dice with focal_gamma 0, focal_weight 1, dice_weight 1 (nnU-Net's Dice term
             is -D rather than 1 - D: the same gradient, a constant offset in the loss).
             Focal: Lin et al. 2017 without alpha balancing; set class_weights for alpha.
             F.cross_entropy(weight=w, ignore_index=i, label_smoothing=e) = ce with class_weights
             w, label_smoothing e; (F.cross_entropy(..., reduction='none') * m).sum() /
             (m * w[y]).sum() = ce with weight_map m; reduction='none' = segloss_compute_unreduced.
             Sigmoid (activation = SEGLOSS_SIGMOID):
               F.binary_cross_entropy_with_logits(z, t, pos_weight=pw) = ce, pos_weight pw (C
                 values, as pw.view(1, C, 1, 1))
               torchvision.ops.sigmoid_focal_loss(z, t, alpha=a, gamma=g, reduction='mean') =
                 focal, focal_alpha a (negative: none), focal_gamma g
               MONAI DiceLoss(sigmoid=True, batch=b) / TverskyLoss(sigmoid=True) with smooth_nr
                 = smooth_dr = s = dice / tversky, per_sample = !b, dice_smooth s; targets as
                 one-hot (to_onehot_y) from labels, or TARGET_U8/F32 masks (MONAI's multilabel,
                 nnU-Net's regions: focal_dice, focal_gamma 0, focal_alpha -1 = BCE + Dice)
               MONAI GeneralizedDiceLoss(w_type='square', batch=b, sigmoid=True / softmax=True)
                 = generalized_dice (either activation), per_sample = !b
               smp DiceLoss(mode='binary'/'multilabel', smooth=s) = dice under the sigmoid,
                 per_sample 0, except that smp gives a class absent from the batch loss 0.

   NUMBERS   float32 arithmetic, sums in 16 float lanes flushed to double every block of at
             most 256 positions (loss terms enter the lanes scaled by 1/16, so finite terms never
             overflow); in the tests the loss is within 3e-7 relative of a float64 reference
             and the gradient within 7.4e-7 of its largest entry. exp,
             log and log1p are vectorised (max 1.01, 0.83 and 1.26 ULP over every float the
             kernels feed them; below exp's domain, e^x < 2^-126, it returns a number in
             (0, 2^-126], never 0). Paths: avx512, avx2, neon (and scalar, written with fmaf) run
             one sequence of fused operations and one summation order, so their losses and
             gradients are bit-identical, on x86 and on ARM alike; sse2 has no FMA and agrees
             within 2e-6. NaN logits give NaN out at their positions' terms (and so a NaN loss)
             and never crash or read out of bounds; a logit of -inf is a class that cannot
             occur (p < 2^-126); +inf gives NaN. check_finite = 1 rejects non-finite logits instead.
             These hold whatever flags the implementation file is compiled with: under gcc's
             fast-math flags it is compiled with IEEE arithmetic all the same; clang's
             -ffast-math/-Ofast are refused at compile time, and the clang modes no macro
             reveals (-fassociative-math) by a self-test at first use: every call that takes a
             configuration then returns SEGLOSS_ERR_BUILD.

   THREADS   All functions are reentrant: any threads may make any calls at once, on shared
             inputs (they are only read) and distinct outputs (grad, stats, result, counts).
             Two calls on one stats buffer (accumulate into it, or backward from it while
             another thread accumulates) must be ordered by the caller. The SIMD path and the
             thread count are resolved once on first use, safely when many threads make their
             first call at once; segloss_set_isa and segloss_set_threads change them for every
             thread, for calls that start afterwards. Inside a call, chunks of whole blocks of
             one sample (16384 positions for C <= 16; 2^18 logits, at least 256 positions,
             above) each sum into partial buffers of their own, added in chunk order: the
             loss, statistics and gradient are the same bits for every thread count, pool
             and scheduling, on each path (and the FMA paths agree with each other). The
             built-in pool serves one call at a time: a call that finds it busy runs on its
             own thread (same bits). segloss_set_parallel_for's fn is called from the calling
             thread of a call; it may be called by several threads at once. After fork() the
             child starts a fresh pool. Labels, counts and confusion matrices are exact
             integers: their chunking is free and needs no order.
*/
#endif /* SEGLOSS_H_INCLUDED */
