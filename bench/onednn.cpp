// oneDNN peer: log-softmax forward + backward over the class axis (the CE forward + backward
// built on it), one thread, median CPU times, plus a memcpy of the same logits bytes.
//
//   onednn_peer N C H W nchw|nhwc [reps]     prints one line of JSON
//
// oneDNN 2.x (Debian libdnnl-dev 2.6): dnnl::logsoftmax_forward / logsoftmax_backward, axis 1 of
// an NCHW tensor whose memory format is nchw or nhwc. Debian builds oneDNN on OpenMP, whose
// thread count is read from the environment when the runtime loads, so the program re-executes
// itself with OMP_NUM_THREADS=1 if that is not already set.
#include <dnnl.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

#if DNNL_VERSION_MAJOR != 2
#error "written for oneDNN 2.x (logsoftmax_forward/backward with op descriptors)"
#endif

using namespace dnnl;

// Process CPU time (one thread): robust to other processes on a shared machine, as the
// segloss side and the PyTorch side are timed.
static double cpu_ms()
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

template <class F>
static double median_ms(F f, int reps)
{
    std::vector<double> t;
    f();  // warm-up (first execution also JIT-compiles / faults pages)
    for (int r = 0; r < reps; r++) {
        const double t0 = cpu_ms();
        f();
        t.push_back(cpu_ms() - t0);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

int main(int argc, char **argv)
{
    const char *omp = getenv("OMP_NUM_THREADS");
    if (!omp || strcmp(omp, "1")) {
        setenv("OMP_NUM_THREADS", "1", 1);
        execv("/proc/self/exe", argv);
        perror("execv");
        return 1;
    }
    if (argc < 6) {
        fprintf(stderr, "usage: %s N C H W nchw|nhwc [reps]\n", argv[0]);
        return 2;
    }
    const memory::dim N = atol(argv[1]), C = atol(argv[2]), H = atol(argv[3]), W = atol(argv[4]);
    const bool nhwc = !strcmp(argv[5], "nhwc");
    const int reps = argc > 6 ? std::max(1, atoi(argv[6])) : 7;
    const size_t count = (size_t)(N * C * H * W), bytes = count * sizeof(float);

    engine eng(engine::kind::cpu, 0);
    stream strm(eng);
    memory::desc md({N, C, H, W}, memory::data_type::f32, nhwc ? memory::format_tag::nhwc : memory::format_tag::nchw);

    std::vector<float> x(count), y(count), dy(count), dx(count), copy(count);
    unsigned s = 12345;
    for (size_t i = 0; i < count; i++) {  // ~N(0, 2)-ish: sum of uniforms, only the shape matters
        float u = 0;
        for (int k = 0; k < 4; k++) {
            s = s * 1664525u + 1013904223u;
            u += (float)(s >> 8) / 16777216.0f - 0.5f;
        }
        x[i] = u * 2.449f;
        dy[i] = (i % (size_t)C == 0) ? -1.0f / (float)(N * H * W) : 0.0f;
    }
    memory mx(md, eng, x.data()), my(md, eng, y.data()), mdy(md, eng, dy.data()), mdx(md, eng, dx.data());

    logsoftmax_forward::primitive_desc fpd(logsoftmax_forward::desc(prop_kind::forward_training, md, 1), eng);
    logsoftmax_forward fwd(fpd);
    logsoftmax_backward::primitive_desc bpd(logsoftmax_backward::desc(md, md, 1), eng, fpd);
    logsoftmax_backward bwd(bpd);

    auto run_fwd = [&] {
        fwd.execute(strm, {{DNNL_ARG_SRC, mx}, {DNNL_ARG_DST, my}});
        strm.wait();
    };
    auto run_bwd = [&] {
        bwd.execute(strm, {{DNNL_ARG_DST, my}, {DNNL_ARG_DIFF_DST, mdy}, {DNNL_ARG_DIFF_SRC, mdx}});
        strm.wait();
    };
    auto run_copy = [&] { memcpy(copy.data(), x.data(), bytes); };
    double tc = median_ms(run_copy, reps);
    double tf = median_ms(run_fwd, reps);
    double tb = median_ms(run_bwd, reps);
    double tcopy2 = median_ms(run_copy, reps);
    printf("{\"shape\": [%ld, %ld, %ld, %ld], \"layout\": \"%s\", \"threads_env\": \"%s\", "
           "\"fwd_impl\": \"%s\", \"bwd_impl\": \"%s\", \"fwd_ms\": %.6f, \"bwd_ms\": %.6f, "
           "\"memcpy_ms\": %.6f, \"reps\": %d, \"dnnl\": \"%d.%d.%d\"}\n",
           (long)N, (long)C, (long)H, (long)W, nhwc ? "nhwc" : "nchw", getenv("OMP_NUM_THREADS"),
           fpd.impl_info_str(), bpd.impl_info_str(), tf, tb, std::min(tc, tcopy2), reps, DNNL_VERSION_MAJOR,
           DNNL_VERSION_MINOR, DNNL_VERSION_PATCH);
    return 0;
}
