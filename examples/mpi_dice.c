/* examples/mpi_dice.c — batch Dice over MPI ranks: each rank holds a slice of the batch
   (whole samples), accumulates its statistics, the ranks exchange them, each finishes the
   loss of the whole batch and back-propagates its own slice.

       mpicc -O2 -I. examples/mpi_dice.c -o mpi_dice -lm -lpthread
       mpirun -np 4 ./mpi_dice            # prints the loss; --check compares (make test-mpi)

   The statistics are sums, so MPI_Allreduce(MPI_SUM) would do; but MPI does not promise the
   order in which it adds doubles (it may depend on the rank count and the algorithm it
   picks), so the bits could change from run to run. Here every rank gathers the others'
   statistics with MPI_Allgather and adds them in rank order: every rank gets the same bits,
   on every run, for a given number of ranks.

   --check: rank 0 gathers the gradient slices and compares them with (1) one process running
   the same slices with the statistics added in rank order: bit for bit; (2) one process on
   the whole batch (segloss_compute): its statistics add the chunks (driver.h) in one
   sequence where the ranks add per-rank subtotals, so the double sums differ in their last
   bits (at most ~1e-15 relative); the loss must then agree within 1e-12 relative and every
   gradient entry within 1e-6 of the largest (the Dice coefficients are rounded to float: a
   last-bit difference in a double sum can move one of them by 1 ulp, 6e-8 relative). Each
   rank uses segloss_set_threads(0): SEGLOSS_THREADS threads, default 1.

   --check also runs focal (a CE-family loss) with the one-pass pair: segloss_accumulate_labels
   (label counts only: no pass over the logits), the counts gathered and added in rank order,
   segloss_backward_loss (each rank's share of the loss, gathered and added in rank order), and
   holds the loss and the gradient to segloss_compute on the whole batch with the same bounds. */
#define SEGLOSS_IMPLEMENTATION
#include "segloss.h"
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 8, C = 4, S = 160 * 160 }; /* two chunks per sample (driver.h) */

static void make_batch(float *logits, uint8_t *labels)
{
    uint32_t x = 2024u;
    int64_t i;
    for (i = 0; i < (int64_t)N * C * S; i++) {
        x = x * 1664525u + 1013904223u;
        logits[i] = (float)(x >> 8) / 16777216.0f * 6.0f - 3.0f;
    }
    for (i = 0; i < (int64_t)N * S; i++) {
        x = x * 1664525u + 1013904223u;
        labels[i] = (x >> 24) % 23 == 0 ? 255 : (uint8_t)((x >> 10) % C);
    }
}

/* samples [first, first + count) of rank r out of k */
static void slice_of(int r, int k, int64_t *first, int64_t *count)
{
    *first = (int64_t)N * r / k;
    *count = (int64_t)N * (r + 1) / k - *first;
}

static segloss_input slice_input(const float *logits, const uint8_t *labels, int64_t first, int64_t count)
{
    segloss_input in;
    in.logits = logits + first * C * S;
    in.labels = labels + first * S;
    in.label_type = SEGLOSS_LABEL_U8;
    in.n = count;
    in.c = C;
    in.s = S;
    in.layout = SEGLOSS_NCHW;
    return in;
}

/* The two phases of rank r's slice, the statistics of all k ranks added in rank order. With
   all_stats NULL (one process) it computes every rank's statistics itself. */
static int dice_step(const segloss_config *cfg, const float *logits, const uint8_t *labels, int r, int k,
                     int mpi, double *loss, float *grad)
{
    const int64_t len = segloss_stats_len(cfg, N, C);
    double *mine = (double *)calloc((size_t)len, sizeof(double));
    double *all = (double *)calloc((size_t)(len * k), sizeof(double));
    double *sum = (double *)calloc((size_t)len, sizeof(double));
    segloss_stats st;
    segloss_result res;
    segloss_input in;
    int64_t first, count, i;
    int q, bad = 0;
    st.n = N;
    st.c = C;
    if (mpi) {
        slice_of(r, k, &first, &count);
        in = slice_input(logits, labels, first, count);
        st.sum = mine;
        bad |= segloss_accumulate(cfg, &in, first, &st) != SEGLOSS_OK;
        MPI_Allgather(mine, (int)len, MPI_DOUBLE, all, (int)len, MPI_DOUBLE, MPI_COMM_WORLD);
    } else {
        for (q = 0; q < k; q++) {
            slice_of(q, k, &first, &count);
            in = slice_input(logits, labels, first, count);
            st.sum = all + q * len;
            bad |= segloss_accumulate(cfg, &in, first, &st) != SEGLOSS_OK;
        }
    }
    for (q = 0; q < k; q++) /* rank order */
        for (i = 0; i < len; i++) sum[i] += all[q * len + i];
    st.sum = sum;
    bad |= segloss_finish(cfg, &st, &res) != SEGLOSS_OK;
    *loss = res.loss;
    for (q = mpi ? r : 0; q < (mpi ? r + 1 : k); q++) {
        slice_of(q, k, &first, &count);
        in = slice_input(logits, labels, first, count);
        bad |= segloss_backward(cfg, &in, first, &st, grad + (mpi ? 0 : first * C * S)) != SEGLOSS_OK;
    }
    free(mine);
    free(all);
    free(sum);
    return bad;
}

/* focal through segloss_accumulate_labels / segloss_backward_loss; returns the loss */
static int focal_one_pass(const float *logits, const uint8_t *labels, int r, int k, double *loss, float *grad)
{
    segloss_config cfg;
    int64_t len, first, count, i;
    double *mine, *all, *sum, part = 0.0, *parts;
    segloss_stats st;
    segloss_result res;
    segloss_input in;
    int q, bad = 0;
    segloss_config_init(&cfg, SEGLOSS_FOCAL);
    cfg.ignore_index = 255;
    cfg.use_class_weighting = 1; /* the weights need the whole batch's counts */
    len = segloss_stats_len(&cfg, N, C);
    mine = (double *)calloc((size_t)len, sizeof(double));
    all = (double *)calloc((size_t)(len * k), sizeof(double));
    sum = (double *)calloc((size_t)len, sizeof(double));
    parts = (double *)calloc((size_t)k, sizeof(double));
    slice_of(r, k, &first, &count);
    in = slice_input(logits, labels, first, count);
    st.n = N;
    st.c = C;
    st.sum = mine;
    bad |= segloss_accumulate_labels(&cfg, &in, first, &st) != SEGLOSS_OK;
    MPI_Allgather(mine, (int)len, MPI_DOUBLE, all, (int)len, MPI_DOUBLE, MPI_COMM_WORLD);
    for (q = 0; q < k; q++)
        for (i = 0; i < len; i++) sum[i] += all[q * len + i];
    st.sum = sum;
    bad |= segloss_finish(&cfg, &st, &res) != SEGLOSS_OK; /* the loss without the CE-family term: 0 */
    bad |= segloss_backward_loss(&cfg, &in, first, &st, grad, &part) != SEGLOSS_OK;
    MPI_Allgather(&part, 1, MPI_DOUBLE, parts, 1, MPI_DOUBLE, MPI_COMM_WORLD);
    *loss = res.loss;
    for (q = 0; q < k; q++) *loss += parts[q]; /* rank order */
    free(mine);
    free(all);
    free(sum);
    free(parts);
    return bad;
}

int main(int argc, char **argv)
{
    int rank, k, check = argc > 1 && !strcmp(argv[1], "--check");
    float *logits = (float *)malloc(sizeof(float) * N * C * S), *grad;
    uint8_t *labels = (uint8_t *)malloc((size_t)N * S);
    int64_t first, count;
    segloss_config cfg;
    double loss;
    int bad;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &k);
    make_batch(logits, labels); /* every rank makes the same batch; it keeps only its slice's part */
    segloss_set_threads(0);
    segloss_config_init(&cfg, SEGLOSS_DICE);
    cfg.ignore_index = 255;
    slice_of(rank, k, &first, &count);
    grad = (float *)malloc(sizeof(float) * (size_t)(count > 0 ? count : 1) * C * S);
    bad = dice_step(&cfg, logits, labels, rank, k, 1, &loss, grad);
    if (!check) {
        if (rank == 0) printf("batch Dice over %d ranks: %.17g\n", k, loss);
    } else {
        /* gather the gradient slices on rank 0 */
        float *whole = rank == 0 ? (float *)malloc(sizeof(float) * N * C * S) : NULL;
        int *counts = (int *)malloc(sizeof(int) * (size_t)k), *displs = (int *)malloc(sizeof(int) * (size_t)k), q;
        double *losses = rank == 0 ? (double *)malloc(sizeof(double) * (size_t)k) : NULL, focal_loss = 0.0;
        float *focal_whole = NULL;
        for (q = 0; q < k; q++) {
            int64_t f, c;
            slice_of(q, k, &f, &c);
            counts[q] = (int)(c * C * S);
            displs[q] = (int)(f * C * S);
        }
        MPI_Gatherv(grad, counts[rank], MPI_FLOAT, whole, counts, displs, MPI_FLOAT, 0, MPI_COMM_WORLD);
        MPI_Gather(&loss, 1, MPI_DOUBLE, losses, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
        {
            /* focal through the one-pass pair; its gradient gathered like Dice's */
            float *fgrad = (float *)malloc(sizeof(float) * (size_t)(count > 0 ? count : 1) * C * S);
            focal_whole = rank == 0 ? (float *)malloc(sizeof(float) * N * C * S) : NULL;
            bad |= focal_one_pass(logits, labels, rank, k, &focal_loss, fgrad);
            MPI_Gatherv(fgrad, counts[rank], MPI_FLOAT, focal_whole, counts, displs, MPI_FLOAT, 0, MPI_COMM_WORLD);
            free(fgrad);
        }
        MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
        if (rank == 0) {
            float *g1 = (float *)malloc(sizeof(float) * N * C * S), *g2 = (float *)malloc(sizeof(float) * N * C * S);
            double l1, gmax = 0.0, dmax = 0.0;
            segloss_input in = slice_input(logits, labels, 0, N);
            segloss_result r2;
            int64_t i, same = 1, sameloss = 1, passed = 0, failed = 0;
            bad |= dice_step(&cfg, logits, labels, 0, k, 0, &l1, g1);
            bad |= segloss_compute(&cfg, &in, g2, &r2) != SEGLOSS_OK;
            for (q = 0; q < k; q++) sameloss &= !memcmp(&losses[q], &l1, sizeof l1);
            same = !memcmp(whole, g1, sizeof(float) * N * C * S);
            for (i = 0; i < (int64_t)N * C * S; i++) {
                gmax = fmax(gmax, fabs(g2[i]));
                dmax = fmax(dmax, fabs((double)whole[i] - g2[i]));
            }
            printf("mpi_dice: %d ranks: loss %.17g; one process, same slices: %.17g; whole batch: %.17g\n", k, loss,
                   l1, r2.loss);
            printf("  every rank's loss and the gradient bit for bit as one process adding the same slices: %s\n",
                   sameloss && same ? "yes" : "NO");
            printf("  against the whole batch: loss %.3g relative, gradient %.3g of its largest entry\n",
                   fabs(loss - r2.loss) / fabs(r2.loss), dmax / gmax);
            if (!bad) passed++; else failed++, printf("FAIL: a call failed\n");
            if (sameloss && same) passed++; else failed++, printf("FAIL: not bit-identical to one process\n");
            if (fabs(loss - r2.loss) <= 1e-12 * fabs(r2.loss)) passed++; else failed++, printf("FAIL: loss bound\n");
            if (dmax <= 1e-6 * gmax) passed++; else failed++, printf("FAIL: gradient bound\n");
            free(g1);
            g1 = NULL;
            {
                /* focal, one pass: rank 0's loss and the gathered gradient against compute */
                segloss_config fc;
                segloss_result rf;
                double fl = focal_loss;
                segloss_config_init(&fc, SEGLOSS_FOCAL);
                fc.ignore_index = 255;
                fc.use_class_weighting = 1;
                bad |= segloss_compute(&fc, &in, g2, &rf) != SEGLOSS_OK;
                gmax = dmax = 0.0;
                for (i = 0; i < (int64_t)N * C * S; i++) {
                    gmax = fmax(gmax, fabs(g2[i]));
                    dmax = fmax(dmax, fabs((double)focal_whole[i] - g2[i]));
                }
                printf("  focal, one pass (accumulate_labels, backward_loss): %.17g; whole batch: %.17g; "
                       "loss %.3g relative, gradient %.3g of its largest entry\n", fl, rf.loss,
                       fabs(fl - rf.loss) / fabs(rf.loss), dmax / gmax);
                if (!bad && fabs(fl - rf.loss) <= 1e-12 * fabs(rf.loss)) passed++;
                else failed++, printf("FAIL: focal one-pass loss\n");
                if (dmax <= 1e-6 * gmax) passed++; else failed++, printf("FAIL: focal one-pass gradient\n");
            }
            printf("%lld passed, %lld failed\n", (long long)passed, (long long)failed);
            free(g2);
        }
        free(whole);
        free(focal_whole);
        free(counts);
        free(displs);
        free(losses);
    }
    free(logits);
    free(labels);
    free(grad);
    MPI_Finalize();
    return 0;
}
