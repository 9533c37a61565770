// tests/unit/test_modes.cpp — the modes of issue #17 (sigmoid activation, per-channel targets,
// weight maps, label smoothing, generalized Dice, unreduced terms) against the float64
// reference of reference_modes.hpp, on every SIMD path this CPU runs; the reference against
// finite differences and against values PyTorch computes; the identities that follow from
// segloss.h section 7; the two-phase API; and every new parameter's errors. The last test case
// prints the largest errors per mode and path.
#include "catch2/catch.hpp"
#include "../../segloss.h"
#include "reference_modes.hpp"

#include <cstdio>
#include <iostream>
#include <limits>
#include <map>
#include <set>

using ref::MapKind;
using ref::ModeProblem;
using ref::ModeSpec;

namespace {

// ---- tolerances: section 7 (NUMBERS) promises 3e-7 relative on the loss and 7.4e-7 of the
// ---- largest entry on the gradient; these leave a margin of 10 and 3 for the new modes.
const double kLossTol = 3e-6;   // ref::rel_err: relative, absolute below 0.1
const double kGradTol = 2e-6;   // ref::grad_err: of the largest entry (floor 0.1 grad_scale)
const double kTermTol = 3e-6;   // each unreduced term, of max(|term|, 0.1 max |terms|)
const double kFdTol = 1e-6;     // the reference's analytic gradient vs central differences

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

// ---- the largest errors seen, per path and mode, printed by "zz modes report" ---------------
struct MaxErr {
    double loss = 0, grad = 0, terms = 0;
    long cases = 0;
};
std::map<std::string, std::map<std::string, MaxErr>> &error_table() {
    static std::map<std::string, std::map<std::string, MaxErr>> t;
    return t;
}
double &worst_fd() {
    static double w = 0;
    return w;
}

// The mode's name in the report: activation, loss, and the new inputs that were in play.
std::string mode_key(const segloss_config &cfg, const ModeProblem &p) {
    std::string k = cfg.activation == SEGLOSS_SIGMOID ? "sigmoid " : "softmax ";
    k += ref::mode_loss_name(cfg.loss_type);
    if (ref::is_target_type(p.spec.label_type)) k += " +targets";
    if (!p.map.empty()) k += " +map";
    if (cfg.label_smoothing != 0) k += " +eps";
    return k;
}

// ---- SIMD paths ------------------------------------------------------------------------------
const std::vector<std::string> &runnable_isas() {
    static const std::vector<std::string> v = [] {
        std::vector<std::string> out;
        for (const std::string &isa : ref::all_isas()) {
            if (segloss_isa_supported(isa.c_str())) out.push_back(isa);
            else std::cout << "SKIP: " << isa << " not supported on this CPU (modes not checked on that path)\n";
        }
        return out;
    }();
    return v;
}
bool is_fma_path(const std::string &isa) { return isa != "sse2"; }

// Runs body(isa) with each runnable path forced in turn (no Catch2 sections: the reference of
// a case is computed once for all paths), then restores automatic selection.
template <class Body>
void on_each_isa(Body body) {
    for (const std::string &isa : runnable_isas()) {
        ref::IsaGuard guard(isa);
        REQUIRE(guard.status == SEGLOSS_OK);
        REQUIRE(std::string(segloss_active_isa()) == isa);
        body(isa);
    }
}

// ---- cases: a configuration with its weight arrays, and a problem ----------------------------
struct Case {
    segloss_config base;
    bool class_w = false, pos_w = false;  // explicit class weights / pos_weight for C channels
    ModeProblem p;
    std::vector<float> cw, pw;

    void materialise() {
        const int64_t C = p.spec.c;
        cw.clear();
        pw.clear();
        if (class_w) cw = ref::explicit_weights(C);
        if (pos_w)
            for (int64_t c = 0; c < C; ++c) pw.push_back(c == 1 && C > 2 ? 0.0f : 0.5f + 0.75f * static_cast<float>(c % 4));
    }
    segloss_config cfg() const {
        segloss_config c = base;
        c.ignore_index = p.spec.ignore_index;
        c.class_weights = cw.empty() ? nullptr : cw.data();
        c.pos_weight = pw.empty() ? nullptr : pw.data();
        return p.with_map(c);
    }
};

segloss_config init(segloss_loss_type t, segloss_activation act) {
    segloss_config c;
    segloss_config_init(&c, t);
    c.activation = act;
    return c;
}

struct Template {
    segloss_config cfg;
    bool class_w, pos_w;
};

// Sigmoid: every loss type, pos_weight given or automatic, class weights, focal alpha / gamma.
std::vector<Template> sigmoid_templates() {
    const segloss_activation A = SEGLOSS_SIGMOID;
    std::vector<Template> out;
    for (int cw = 0; cw < 2; ++cw)
        for (int pw = 0; pw < 2; ++pw) {
            segloss_config c = init(SEGLOSS_CE, A);
            c.use_class_weighting = 0;
            out.push_back({c, cw != 0, pw != 0});
            out.push_back({init(SEGLOSS_WEIGHTED_CE, A), cw != 0, pw != 0});
        }
    {  // the flag, not the loss type, switches the automatic pos_weight on
        segloss_config c = init(SEGLOSS_CE, A);
        c.use_class_weighting = 1;
        out.push_back({c, false, false});
        c = init(SEGLOSS_WEIGHTED_CE, A);
        c.use_class_weighting = 0;
        out.push_back({c, true, false});
    }
    const float focal[][2] = {{2.0f, 0.25f}, {0.0f, 0.25f}, {0.5f, -1.0f}, {3.0f, 0.8f}, {1.0f, 0.0f}, {2.0f, 1.0f}};
    int k = 0;
    for (const auto &f : focal) {
        segloss_config c = init(SEGLOSS_FOCAL, A);
        c.focal_gamma = f[0];
        c.focal_alpha = f[1];
        c.use_class_weighting = 0;
        out.push_back({c, (k++ % 2) == 1, false});
    }
    for (float sm : {0.0f, 1.0f, 1e-5f}) {
        segloss_config d = init(SEGLOSS_DICE, A);
        d.dice_smooth = sm;
        out.push_back({d, false, false});
        segloss_config g = init(SEGLOSS_GENERALIZED_DICE, A);
        g.dice_smooth = sm;
        out.push_back({g, false, false});
    }
    const float tv[][3] = {{0.7f, 0.3f, 1.0f}, {0.5f, 0.5f, 0.0f}, {0.2f, 0.9f, 1e-5f}};
    for (const auto &a : tv) {
        segloss_config c = init(SEGLOSS_TVERSKY, A);
        c.tversky_alpha = a[0];
        c.tversky_beta = a[1];
        c.dice_smooth = a[2];
        out.push_back({c, false, false});
    }
    const float fd[][4] = {{2.0f, 0.5f, 0.5f, 0.25f}, {0.0f, 1.0f, 1.0f, -1.0f}, {0.5f, 0.3f, 2.0f, 0.6f}};
    for (const auto &f : fd) {
        segloss_config c = init(SEGLOSS_FOCAL_DICE, A);
        c.focal_gamma = f[0];
        c.focal_weight = f[1];
        c.dice_weight = f[2];
        c.focal_alpha = f[3];
        c.use_class_weighting = 0;
        out.push_back({c, f[0] == 0.5f, false});
    }
    return out;
}

// Softmax: label smoothing over every weighting, focal (gamma 0 with smoothing, gamma > 0
// without), and the Dice family incl. generalized Dice; the problems carry weight maps.
std::vector<Template> softmax_templates() {
    const segloss_activation A = SEGLOSS_SOFTMAX;
    std::vector<Template> out;
    for (float eps : {0.0f, 0.1f, 0.5f, 1.0f}) {
        segloss_config c = init(SEGLOSS_CE, A);
        c.label_smoothing = eps;
        c.use_class_weighting = 0;
        out.push_back({c, false, false});
        out.push_back({c, true, false});
        segloss_config w = init(SEGLOSS_WEIGHTED_CE, A);
        w.label_smoothing = eps;
        out.push_back({w, false, false});
    }
    {
        segloss_config f = init(SEGLOSS_FOCAL, A);
        f.focal_gamma = 0.0f;
        f.label_smoothing = 0.2f;
        out.push_back({f, true, false});
        f.focal_gamma = 2.0f;
        f.label_smoothing = 0.0f;
        out.push_back({f, false, false});
        f.focal_gamma = 0.5f;
        f.use_class_weighting = 1;
        out.push_back({f, false, false});
    }
    for (float sm : {0.0f, 1.0f, 1e-5f}) {
        segloss_config d = init(SEGLOSS_DICE, A);
        d.dice_smooth = sm;
        out.push_back({d, false, false});
        segloss_config g = init(SEGLOSS_GENERALIZED_DICE, A);
        g.dice_smooth = sm;
        out.push_back({g, false, false});
    }
    {
        segloss_config t = init(SEGLOSS_TVERSKY, A);
        out.push_back({t, false, false});
        segloss_config fd = init(SEGLOSS_FOCAL_DICE, A);
        fd.focal_gamma = 0.0f;
        fd.label_smoothing = 0.1f;
        fd.focal_weight = 1.0f;
        fd.dice_weight = 1.0f;
        out.push_back({fd, true, false});
        fd.focal_gamma = 2.0f;
        fd.label_smoothing = 0.0f;
        fd.use_class_weighting = 1;
        out.push_back({fd, false, false});
    }
    return out;
}

template <class T>
T pick(std::mt19937 &rng, std::initializer_list<T> v) {
    return *(v.begin() + rng() % v.size());
}

// A random problem for the activation: N in {1,2,3}, C in {1 (sigmoid only),2,3,4,5,17}, S in
// {1,7,300,1000} (the large ones less often, to keep the qemu run short), both layouts, every
// label kind, ignored positions (sometimes an in-range ignore_index), every kind of map.
ModeSpec random_spec(std::mt19937 &rng, segloss_activation act) {
    ModeSpec s;
    s.activation = act;
    s.n = pick<int64_t>(rng, {1, 2, 3});
    s.c = act == SEGLOSS_SIGMOID ? pick<int64_t>(rng, {1, 1, 2, 3, 3, 4, 5, 17}) : pick<int64_t>(rng, {2, 3, 3, 4, 5, 17});
    s.s = pick<int64_t>(rng, {1, 7, 7, 7, 300, 300, 1000});
    if (s.c == 17 && s.s == 1000) s.s = 300;
    s.layout = pick(rng, {SEGLOSS_NCHW, SEGLOSS_NHWC});
    s.label_type = act == SEGLOSS_SIGMOID
                       ? pick(rng, {SEGLOSS_LABEL_U8, SEGLOSS_LABEL_I32, SEGLOSS_LABEL_I64, SEGLOSS_TARGET_U8,
                                    SEGLOSS_TARGET_F32, SEGLOSS_TARGET_F32})
                       : pick(rng, {SEGLOSS_LABEL_U8, SEGLOSS_LABEL_I32, SEGLOSS_LABEL_I64});
    if (!ref::is_target_type(s.label_type)) {
        s.p_ignore = pick(rng, {0.0, 0.15});
        s.ignore_index = s.label_type == SEGLOSS_LABEL_U8 ? 255 : -100;
        if (rng() % 6 == 0) s.ignore_index = 1;  // in range: ignores genuine labels
    }
    s.map = pick(rng, {MapKind::none, MapKind::random, MapKind::random, MapKind::ones, MapKind::zero_sample});
    if (s.map == MapKind::zero_sample && s.n == 1) s.map = MapKind::random;
    return s;
}

// Cases of a template: random problems, include_background / per_sample / reduction varied.
std::vector<Case> cases_of(std::mt19937 &rng, const std::vector<Template> &templates, segloss_activation act,
                           int per_template) {
    std::vector<Case> out;
    int k = 0;
    for (const Template &t : templates)
        for (int r = 0; r < per_template; ++r, ++k) {
            Case c;
            c.base = t.cfg;
            c.class_w = t.class_w;
            c.pos_w = t.pos_w;
            ModeSpec spec = random_spec(rng, act);
            const bool ce = t.cfg.loss_type == SEGLOSS_CE || t.cfg.loss_type == SEGLOSS_WEIGHTED_CE;
            if (act == SEGLOSS_SOFTMAX && ce && r % 3 == 1)  // probability targets
                spec.label_type = r % 2 ? SEGLOSS_TARGET_F32 : SEGLOSS_TARGET_U8;
            c.p = ref::make_mode_problem(rng, spec);
            c.base.include_background = (k / 2) % 2 == 0 ? 1 : 0;
            c.base.per_sample = k % 2;
            c.base.reduction = (k / 4) % 2 == 0 ? SEGLOSS_MEAN : SEGLOSS_SUM;
            if (c.p.spec.c == 1) c.base.include_background = 1;  // K would be empty
            c.materialise();
            out.push_back(c);
        }
    return out;
}

// ---- running the library ----------------------------------------------------------------------
struct UnredOut {
    segloss_status status = SEGLOSS_OK;
    segloss_result result{};
    std::vector<float> grad, terms;
    bool guard_ok = false;
};

const size_t kGuard = 64;  // floats after the terms that must stay untouched

// terms gets terms_len floats and a guard; o.terms holds the terms, o.guard_ok says whether
// the guard survived.
UnredOut run_unreduced(const segloss_config &cfg, const segloss_input &in, size_t terms_len) {
    UnredOut o;
    std::memset(&o.result, 0, sizeof o.result);
    o.grad.assign(static_cast<size_t>(in.n * in.c * in.s), 12345.0f);
    o.terms.assign(terms_len + kGuard, 12345.0f);
    o.status = segloss_compute_unreduced(&cfg, &in, o.grad.data(), o.terms.data(), &o.result);
    o.guard_ok = std::all_of(o.terms.begin() + static_cast<std::ptrdiff_t>(terms_len), o.terms.end(),
                             [](float v) { return v == 12345.0f; });
    o.terms.resize(terms_len);
    return o;
}

// The largest error of the terms, each relative to max(|want_i|, 0.1 max_j |want_j|).
double terms_err(const std::vector<float> &got, const std::vector<double> &want) {
    if (got.size() != want.size()) return INFINITY;
    const double floor = 0.1 * ref::max_abs(want);
    double e = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        const double d = std::fabs(static_cast<double>(got[i]) - want[i]);
        const double scale = std::max(std::fabs(want[i]), floor);
        const double r = scale > 0 ? d / scale : d;
        if (!(r <= e)) e = std::isnan(r) ? INFINITY : r;
    }
    return e;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }
bool same_bits(const std::vector<float> &a, const std::vector<float> &b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}
bool same_result_bits(const segloss_result &a, const segloss_result &b) {
    return same_bits(a.loss, b.loss) && same_bits(a.ce_term, b.ce_term) && same_bits(a.dice_term, b.dice_term) &&
           a.valid == b.valid;
}

// The central check: segloss_compute on the forced path against the reference.
void check_vs_reference(const std::string &isa, const segloss_config &cfg, const ModeProblem &p,
                        const ref::ModeOut &want) {
    const segloss_input in = p.input();
    INFO("isa " << isa << ": " << ref::describe_modes(cfg) << " | " << ref::describe_modes(p));
    const ref::LibOut got = ref::run_lib(cfg, in);
    REQUIRE(got.status == SEGLOSS_OK);
    const double loss_err = std::max(ref::rel_err(got.result.loss, want.loss),
                                     std::max(ref::rel_err(got.result.ce_term, want.ce_term),
                                              ref::rel_err(got.result.dice_term, want.dice_term)));
    const double grad_err = ref::grad_err(got.grad, want.grad, 0.1 * want.grad_scale);
    MaxErr &e = error_table()[isa][mode_key(cfg, p)];
    e.loss = std::max(e.loss, loss_err);
    e.grad = std::max(e.grad, grad_err);
    e.cases++;
    INFO("loss " << got.result.loss << " want " << want.loss << "; ce_term " << got.result.ce_term << " want "
                 << want.ce_term << "; dice_term " << got.result.dice_term << " want " << want.dice_term
                 << "; grad err " << grad_err);
    CHECK(loss_err <= kLossTol);
    CHECK(grad_err <= kGradTol);
    CHECK(got.result.valid == want.valid);
    CHECK(got.result.bad_position == -1);
    CHECK(ref::all_finite(got.grad));
}

void check_cases(const std::vector<Case> &cases) {
    for (const Case &c : cases) {
        const segloss_config cfg = c.cfg();
        const ref::ModeOut want = ref::ref_modes(cfg, c.p.input());
        on_each_isa([&](const std::string &isa) { check_vs_reference(isa, cfg, c.p, want); });
    }
}

std::mt19937 seeded(unsigned salt) { return std::mt19937(20250117u + salt); }

// The small problems of the finite-difference checks: N = 2, S = 5, C = 3 (and C = 1 under the
// sigmoid), ignored positions, maps with zeros, every label kind.
ModeProblem small_problem(std::mt19937 &rng, segloss_activation act, int k) {
    ModeSpec s;
    s.activation = act;
    s.n = 2;
    s.c = act == SEGLOSS_SIGMOID && k % 4 == 3 ? 1 : 3;
    s.s = 5;
    s.layout = k % 2 ? SEGLOSS_NHWC : SEGLOSS_NCHW;
    const segloss_label_type sig_kinds[] = {SEGLOSS_LABEL_I64, SEGLOSS_TARGET_U8, SEGLOSS_TARGET_F32,
                                            SEGLOSS_LABEL_U8, SEGLOSS_LABEL_I32};
    s.label_type = act == SEGLOSS_SIGMOID ? sig_kinds[k % 5] : static_cast<segloss_label_type>(k % 3);
    s.ignore_index = s.label_type == SEGLOSS_LABEL_U8 ? 255 : -100;
    s.p_ignore = ref::is_target_type(s.label_type) ? 0.0 : 0.2;
    const MapKind maps[] = {MapKind::none, MapKind::random, MapKind::zero_sample};
    s.map = maps[(k / 2) % 3];
    return ref::make_mode_problem(rng, s);
}

}  // namespace

// =============================================================================================
// The reference itself
// =============================================================================================

TEST_CASE("modes reference: analytic gradient matches central finite differences for every mode",
          "[modes][reference]") {
    std::mt19937 rng = seeded(1);
    int k = 0;
    for (segloss_activation act : {SEGLOSS_SIGMOID, SEGLOSS_SOFTMAX}) {
        const std::vector<Template> ts = act == SEGLOSS_SIGMOID ? sigmoid_templates() : softmax_templates();
        for (const Template &t : ts)
            for (int r = 0; r < 4; ++r, ++k) {
                Case c;
                c.base = t.cfg;
                c.class_w = t.class_w;
                c.pos_w = t.pos_w;
                c.p = small_problem(rng, act, k);
                if (act == SEGLOSS_SOFTMAX && r == 1 &&
                    (t.cfg.loss_type == SEGLOSS_CE || t.cfg.loss_type == SEGLOSS_WEIGHTED_CE)) {
                    ModeSpec ps = c.p.spec;
                    ps.label_type = k % 2 ? SEGLOSS_TARGET_F32 : SEGLOSS_TARGET_U8;
                    ps.p_ignore = 0.0;
                    c.p = ref::make_mode_problem(rng, ps);
                }
                c.base.include_background = c.p.spec.c == 1 ? 1 : (k / 3) % 2;
                c.base.per_sample = r % 2;
                c.base.reduction = r < 2 ? SEGLOSS_MEAN : SEGLOSS_SUM;
                c.materialise();
                const segloss_config cfg = c.cfg();
                const segloss_input in = c.p.input();
                const ref::ModeOut analytic = ref::ref_modes(cfg, in);
                const std::vector<double> fd = ref::ref_modes_fd_grad(cfg, in);
                const double e = ref::grad_err(fd, analytic.grad);
                worst_fd() = std::max(worst_fd(), e);
                INFO(ref::describe_modes(cfg) << " | " << ref::describe_modes(c.p) << " | err " << e);
                CHECK(e <= kFdTol);
                CHECK(std::isfinite(analytic.loss));
            }
    }
}

TEST_CASE("modes reference: softmax without map or smoothing equals reference.hpp", "[modes][reference]") {
    std::mt19937 rng = seeded(2);
    const segloss_loss_type types[] = {SEGLOSS_CE,         SEGLOSS_WEIGHTED_CE, SEGLOSS_FOCAL,
                                       SEGLOSS_DICE,       SEGLOSS_FOCAL_DICE,  SEGLOSS_TVERSKY};
    int k = 0;
    for (segloss_loss_type t : types)
        for (int r = 0; r < 8; ++r, ++k) {
            ModeSpec s = random_spec(rng, SEGLOSS_SOFTMAX);
            s.map = MapKind::none;
            s.s = std::min<int64_t>(s.s, 300);
            const ModeProblem p = ref::make_mode_problem(rng, s);
            segloss_config cfg = init(t, SEGLOSS_SOFTMAX);
            cfg.ignore_index = s.ignore_index;
            cfg.focal_gamma = r % 3 == 0 ? 0.5f : 2.0f;
            cfg.per_sample = r % 2;
            cfg.include_background = (r / 2) % 2;
            cfg.reduction = r < 4 ? SEGLOSS_MEAN : SEGLOSS_SUM;
            const std::vector<float> cw = ref::explicit_weights(s.c);
            if (r % 4 == 1) cfg.class_weights = cw.data();
            const segloss_input in = p.input();
            const ref::ModeOut a = ref::ref_modes(cfg, in);
            const ref::RefOut b = ref::ref_loss(cfg, in);
            INFO(ref::describe_modes(cfg) << " | " << ref::describe_modes(p));
            CHECK(ref::rel_err(a.loss, b.loss) <= 1e-12);
            CHECK(ref::rel_err(a.ce_term, b.ce_term) <= 1e-12);
            CHECK(ref::rel_err(a.dice_term, b.dice_term) <= 1e-12);
            CHECK(a.valid == b.valid);
            CHECK(ref::grad_err(a.grad, b.grad) <= 1e-12);
        }
}

// Values computed by PyTorch 1.13 in float64 on the inputs below (torch.autograd for the
// gradients): F.cross_entropy(weight, ignore_index, label_smoothing),
// F.binary_cross_entropy_with_logits(pos_weight), torchvision's sigmoid_focal_loss formula, and
// MONAI GeneralizedDiceLoss(w_type='square')'s formula (infinite weights -> the largest).
TEST_CASE("modes reference: values and gradients of the peers (PyTorch, float64)", "[modes][reference]") {
    // One sample, C = 3, S = 4 (NCHW), labels {2, 0, ignore, 1}.
    const float z[12] = {0.5f, -1.0f, 2.0f, 0.25f, 1.5f, 0.0f, -0.5f, 1.0f, -2.0f, 0.75f, 0.0f, 3.0f};
    const int64_t y[4] = {2, 0, -100, 1};
    segloss_input in;
    std::memset(&in, 0, sizeof in);
    in.logits = z;
    in.labels = y;
    in.label_type = SEGLOSS_LABEL_I64;
    in.n = 1;
    in.c = 3;
    in.s = 4;
    in.layout = SEGLOSS_NCHW;
    const float w[3] = {0.5f, 2.0f, 1.25f};

    SECTION("F.cross_entropy(weight=w, ignore_index=-100, label_smoothing=0.2)") {
        segloss_config cfg = init(SEGLOSS_CE, SEGLOSS_SOFTMAX);
        cfg.class_weights = w;
        cfg.label_smoothing = 0.2f;
        const ref::ModeOut o = ref::ref_modes(cfg, in);
        // torch: eps = 0.2 as float32 (0.20000000298023224), weights as float32
        CHECK(o.loss == Approx(2.4855143834212603).epsilon(1e-13));
        const double g[12] = {0.078821942195755126, -0.097257714348144925, 0, 0.017408712943662207, 0.20286720257110336, 0.014183132448660032,
                              0, -0.40655019736579318, -0.28168914476685852, 0.083074581899484898, 0, 0.38914148442213103};
        CHECK(ref::grad_err(o.grad, std::vector<double>(g, g + 12)) <= 1e-12);
    }
    SECTION("binary_cross_entropy_with_logits(pos_weight=w) on one-vs-rest targets") {
        segloss_config cfg = init(SEGLOSS_CE, SEGLOSS_SIGMOID);
        cfg.use_class_weighting = 0;
        cfg.pos_weight = w;
        const ref::ModeOut o = ref::ref_modes(cfg, in);
        CHECK(o.loss == Approx(1.3690943836543958).epsilon(1e-13));
        const double g[12] = {0.069162147911317168, -0.040614365479444713, 0, 0.062464055653977557, 0.0908416084659604, 0.055555555555555552,
                              0, -0.059764760304443353, -0.1223329274969281, 0.075464299908376997, 0, 0.10584156964693703};
        CHECK(ref::grad_err(o.grad, std::vector<double>(g, g + 12)) <= 1e-12);
    }
    SECTION("sigmoid_focal_loss(alpha=0.25, gamma=2, reduction='mean')") {
        segloss_config cfg = init(SEGLOSS_FOCAL, SEGLOSS_SIGMOID);
        cfg.use_class_weighting = 0;
        const ref::ModeOut o = ref::ref_modes(cfg, in);
        CHECK(o.loss == Approx(0.50260316343371925).epsilon(1e-13));
        const double g[12] = {0.043845985156215253, -0.021339853422203264, 0, 0.033853617750168936, 0.080118723955863336, 0.024857232928332192,
                              0, -0.0014605869438211281, -0.029908714734680049, 0.054148693770316982, 0, 0.093895823386240668};
        CHECK(ref::grad_err(o.grad, std::vector<double>(g, g + 12)) <= 1e-12);
    }
    SECTION("F.cross_entropy(weight=w, label_smoothing=0.2) with a probability target") {
        // per position (0.25, 0.5, 0.25), (0.5, 0.5, 0), (0, 1, 0), (1, 0, 0): the third column
        // of a target in NCHW order; not all sum to 1, which PyTorch does not require
        const float tp[12] = {0.25f, 0.5f, 0.0f, 1.0f, 0.5f, 0.5f, 1.0f, 0.0f, 0.25f, 0.0f, 0.0f, 0.0f};
        segloss_input pin = in;
        pin.labels = tp;
        pin.label_type = SEGLOSS_TARGET_F32;
        segloss_config cfg = init(SEGLOSS_CE, SEGLOSS_SOFTMAX);
        cfg.class_weights = w;
        cfg.label_smoothing = 0.2f;
        const ref::ModeOut o = ref::ref_modes(cfg, pin);
        CHECK(o.loss == Approx(2.4852282377378554).epsilon(1e-13));
        const double g[12] = {0.058763039376817108, -0.025344437454695085, 0.37156833758611302, -0.09967111618125471,
                              0.017010563404399395, -0.14366021704592399, -0.40214910419508998, -0.014995420500948289,
                              -0.075773602781216517, 0.16900465450061908, 0.030580766608976961, 0.11466653668220302};
        CHECK(ref::grad_err(o.grad, std::vector<double>(g, g + 12)) <= 1e-12);
    }
    SECTION("GeneralizedDiceLoss(softmax, w_type='square', smooth 1e-5, batch=True), class 1 absent") {
        const int64_t y2[4] = {2, 0, -100, 2};
        in.labels = y2;
        segloss_config cfg = init(SEGLOSS_GENERALIZED_DICE, SEGLOSS_SOFTMAX);
        cfg.dice_smooth = 1e-5f;
        const ref::ModeOut o = ref::ref_modes(cfg, in);
        CHECK(o.loss == Approx(0.8122551030506916).epsilon(1e-12));
        const double g[12] = {0.0010702931615412963, -0.05284194263096522, 0, 0.0083704959911068237, 0.0029093584521416873, 0.025017503987832906,
                              0, 0.017720340152229473, -0.0039796516136829793, 0.027824438643132315, 0, -0.02609083614333628};
        CHECK(ref::grad_err(o.grad, std::vector<double>(g, g + 12)) <= 1e-11);
    }
}

TEST_CASE("modes reference: unreduced terms add up to the SUM loss and have the documented length",
          "[modes][reference]") {
    std::mt19937 rng = seeded(3);
    for (segloss_activation act : {SEGLOSS_SIGMOID, SEGLOSS_SOFTMAX}) {
        std::vector<Case> cases =
            cases_of(rng, act == SEGLOSS_SIGMOID ? sigmoid_templates() : softmax_templates(), act, 1);
        for (Case &c : cases) {
            if (c.base.loss_type == SEGLOSS_FOCAL_DICE) continue;
            c.base.reduction = SEGLOSS_SUM;
            const segloss_config cfg = c.cfg();
            const ref::ModeOut o = ref::ref_modes(cfg, c.p.input(), false);
            INFO(ref::describe_modes(cfg) << " | " << ref::describe_modes(c.p));
            REQUIRE(static_cast<int64_t>(o.terms.size()) == ref::ref_unreduced_len(cfg, c.p.input()));
            double sum = 0;
            for (double t : o.terms) sum += t;
            CHECK(ref::rel_err(sum, o.loss) <= 1e-12);
        }
    }
}

// =============================================================================================
// The library against the reference, on every path
// =============================================================================================

TEST_CASE("library matches the modes reference: sigmoid, every loss, labels and targets, maps", "[modes][isa]") {
    std::mt19937 rng = seeded(10);
    check_cases(cases_of(rng, sigmoid_templates(), SEGLOSS_SIGMOID, 12));
}

TEST_CASE("library matches the modes reference: softmax with weight maps, label smoothing, generalized Dice",
          "[modes][isa]") {
    std::mt19937 rng = seeded(11);
    check_cases(cases_of(rng, softmax_templates(), SEGLOSS_SOFTMAX, 12));
}

TEST_CASE("segloss_compute_unreduced: terms match the reference; loss and gradient are segloss_compute's",
          "[modes][isa][unreduced]") {
    std::mt19937 rng = seeded(12);
    for (segloss_activation act : {SEGLOSS_SIGMOID, SEGLOSS_SOFTMAX}) {
        const std::vector<Case> cases =
            cases_of(rng, act == SEGLOSS_SIGMOID ? sigmoid_templates() : softmax_templates(), act, 4);
        for (const Case &c : cases) {
            if (c.base.loss_type == SEGLOSS_FOCAL_DICE) continue;
            const segloss_config cfg = c.cfg();
            const segloss_input in = c.p.input();
            const ref::ModeOut want = ref::ref_modes(cfg, in);
            on_each_isa([&](const std::string &isa) {
                INFO("isa " << isa << ": " << ref::describe_modes(cfg) << " | " << ref::describe_modes(c.p));
                const int64_t len = segloss_unreduced_len(&cfg, &in);
                CHECK(len == static_cast<int64_t>(want.terms.size()));
                const UnredOut got = run_unreduced(cfg, in, want.terms.size());
                REQUIRE(got.status == SEGLOSS_OK);
                CHECK(got.guard_ok);
                const double e = terms_err(got.terms, want.terms);
                MaxErr &m = error_table()[isa][mode_key(cfg, c.p)];
                m.terms = std::max(m.terms, e);
                INFO("terms err " << e);
                CHECK(e <= kTermTol);
                const ref::LibOut one = ref::run_lib(cfg, in);
                REQUIRE(one.status == SEGLOSS_OK);
                CHECK(same_result_bits(got.result, one.result));
                CHECK(same_bits(got.grad, one.grad));
            });
        }
    }
}

TEST_CASE("FMA paths (avx512, avx2, neon, scalar) give bit-identical losses and gradients in every mode",
          "[modes][isa][bits]") {
    std::vector<std::string> fma;
    for (const std::string &isa : runnable_isas())
        if (is_fma_path(isa)) fma.push_back(isa);
    if (fma.size() < 2) {
        WARN("fewer than two FMA paths run here: nothing to compare");
        return;
    }
    std::mt19937 rng = seeded(13);
    for (segloss_activation act : {SEGLOSS_SIGMOID, SEGLOSS_SOFTMAX}) {
        const std::vector<Case> cases =
            cases_of(rng, act == SEGLOSS_SIGMOID ? sigmoid_templates() : softmax_templates(), act, 4);
        for (const Case &c : cases) {
            const segloss_config cfg = c.cfg();
            const segloss_input in = c.p.input();
            ref::LibOut first;
            for (size_t i = 0; i < fma.size(); ++i) {
                ref::IsaGuard guard(fma[i]);
                REQUIRE(guard.status == SEGLOSS_OK);
                const ref::LibOut o = ref::run_lib(cfg, in);
                REQUIRE(o.status == SEGLOSS_OK);
                if (i == 0) {
                    first = o;
                    continue;
                }
                INFO(fma[i] << " vs " << fma[0] << ": " << ref::describe_modes(cfg) << " | "
                            << ref::describe_modes(c.p) << " | loss " << o.result.loss << " vs " << first.result.loss);
                CHECK(same_result_bits(o.result, first.result));
                CHECK(same_bits(o.grad, first.grad));
            }
        }
    }
}

// =============================================================================================
// Identities of section 7
// =============================================================================================

namespace {

// The sigmoid C = 1 problem as a softmax C = 2 one with logits [0, z] (NCHW).
ModeProblem as_two_class_softmax(const ModeProblem &sig) {
    ModeProblem o = sig;
    o.spec.activation = SEGLOSS_SOFTMAX;
    o.spec.c = 2;
    o.spec.layout = SEGLOSS_NCHW;
    const int64_t N = sig.spec.n, S = sig.spec.s;
    o.logits.assign(static_cast<size_t>(2 * N * S), 0.0f);
    for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s)
            o.logits[static_cast<size_t>((n * 2 + 1) * S + s)] = sig.logits[static_cast<size_t>(n * S + s)];
    return o;
}

void check_close(const ref::LibOut &a, const ref::LibOut &b, double loss_tol, double grad_tol) {
    REQUIRE(a.status == SEGLOSS_OK);
    REQUIRE(b.status == SEGLOSS_OK);
    INFO("loss " << a.result.loss << " vs " << b.result.loss);
    CHECK(ref::rel_err(a.result.loss, b.result.loss) <= loss_tol);
    CHECK(a.result.valid == b.result.valid);
    CHECK(ref::grad_err(a.grad, std::vector<double>(b.grad.begin(), b.grad.end())) <= grad_tol);
}

void check_identical(const ref::LibOut &a, const ref::LibOut &b) {
    REQUIRE(a.status == SEGLOSS_OK);
    REQUIRE(b.status == SEGLOSS_OK);
    INFO("loss " << a.result.loss << " vs " << b.result.loss << ", ce_term " << a.result.ce_term << " vs "
                 << b.result.ce_term << ", dice_term " << a.result.dice_term << " vs " << b.result.dice_term);
    CHECK(same_result_bits(a.result, b.result));
    CHECK(same_bits(a.grad, b.grad));
}

}  // namespace

TEST_CASE("sigmoid with C = 1 on z equals softmax with C = 2 on [0, z]", "[modes][isa][identity]") {
    std::mt19937 rng = seeded(20);
    for (int k = 0; k < 12; ++k) {
        ModeSpec s;
        s.activation = SEGLOSS_SIGMOID;
        s.n = 1 + k % 3;
        s.c = 1;
        s.s = k % 4 == 0 ? 300 : 23;
        s.label_type = static_cast<segloss_label_type>(k % 3);
        s.ignore_index = s.label_type == SEGLOSS_LABEL_U8 ? 255 : -100;
        s.p_ignore = k % 2 ? 0.15 : 0.0;
        s.map = k % 3 == 1 ? MapKind::random : MapKind::none;
        const ModeProblem sp = ref::make_mode_problem(rng, s);
        const ModeProblem mp = as_two_class_softmax(sp);
        const int64_t N = s.n, S = s.s;
        for (int variant = 0; variant < 8; ++variant) {
            segloss_config cs, cm;  // sigmoid, softmax
            const float pw1[1] = {2.5f}, cw2[2] = {1.0f, 2.5f};
            switch (variant) {
            case 0:
            case 1:  // ce, mean / sum
                cs = init(SEGLOSS_CE, SEGLOSS_SIGMOID);
                cm = init(SEGLOSS_CE, SEGLOSS_SOFTMAX);
                cs.use_class_weighting = cm.use_class_weighting = 0;
                cs.reduction = cm.reduction = variant ? SEGLOSS_SUM : SEGLOSS_MEAN;
                break;
            case 2:  // sum: pos_weight pw = class weights [1, pw]
                cs = init(SEGLOSS_CE, SEGLOSS_SIGMOID);
                cm = init(SEGLOSS_CE, SEGLOSS_SOFTMAX);
                cs.reduction = cm.reduction = SEGLOSS_SUM;
                cs.pos_weight = pw1;
                cm.class_weights = cw2;
                break;
            case 3:
            case 4:  // focal without alpha balancing = the softmax focal loss
                cs = init(SEGLOSS_FOCAL, SEGLOSS_SIGMOID);
                cm = init(SEGLOSS_FOCAL, SEGLOSS_SOFTMAX);
                cs.use_class_weighting = cm.use_class_weighting = 0;
                cs.focal_alpha = -1.0f;
                cs.focal_gamma = cm.focal_gamma = variant == 3 ? 2.0f : 0.5f;
                break;
            default:  // the overlap losses on channel 1 alone
                const segloss_loss_type t =
                    variant == 5 ? SEGLOSS_DICE : variant == 6 ? SEGLOSS_TVERSKY : SEGLOSS_GENERALIZED_DICE;
                cs = init(t, SEGLOSS_SIGMOID);
                cm = init(t, SEGLOSS_SOFTMAX);
                cs.include_background = 1;
                cm.include_background = 0;
                cs.per_sample = cm.per_sample = k % 2;
                cs.dice_smooth = cm.dice_smooth = k % 3 == 2 ? 0.0f : 1.0f;
                break;
            }
            cs.ignore_index = cm.ignore_index = s.ignore_index;
            cs = sp.with_map(cs);
            cm = mp.with_map(cm);
            INFO("variant " << variant << ": " << ref::describe_modes(cs) << " | " << ref::describe_modes(sp));
            const ref::LibOut a = ref::run_lib(cs, sp.input());
            const ref::LibOut b = ref::run_lib(cm, mp.input());
            REQUIRE(a.status == SEGLOSS_OK);
            REQUIRE(b.status == SEGLOSS_OK);
            INFO("sigmoid loss " << a.result.loss << " softmax loss " << b.result.loss);
            CHECK(ref::rel_err(a.result.loss, b.result.loss) <= 1e-6);
            CHECK(a.result.valid == b.result.valid);
            // dL/dz is softmax's channel 1, and channel 0 its negative.
            std::vector<double> ch1(static_cast<size_t>(N * S)), ch0(ch1.size());
            for (int64_t n = 0; n < N; ++n)
                for (int64_t ss = 0; ss < S; ++ss) {
                    ch0[n * S + ss] = -b.grad[static_cast<size_t>((n * 2) * S + ss)];
                    ch1[n * S + ss] = b.grad[static_cast<size_t>((n * 2 + 1) * S + ss)];
                }
            CHECK(ref::grad_err(a.grad, ch1) <= kGradTol);
            CHECK(ref::grad_err(a.grad, ch0) <= kGradTol);
        }
    }
}

TEST_CASE("label_smoothing 0 (and -0) is no smoothing, bit for bit", "[modes][isa][identity]") {
    std::mt19937 rng = seeded(21);
    on_each_isa([&](const std::string &isa) {
        for (segloss_loss_type t : {SEGLOSS_CE, SEGLOSS_WEIGHTED_CE, SEGLOSS_FOCAL, SEGLOSS_FOCAL_DICE})
            for (int k = 0; k < 4; ++k) {
                ModeSpec s = random_spec(rng, SEGLOSS_SOFTMAX);
                s.s = std::min<int64_t>(s.s, 300);
                s.map = k % 2 ? MapKind::random : MapKind::none;
                const ModeProblem p = ref::make_mode_problem(rng, s);
                segloss_config plain = init(t, SEGLOSS_SOFTMAX);  // label_smoothing left at its default
                plain.ignore_index = s.ignore_index;
                plain.reduction = k < 2 ? SEGLOSS_MEAN : SEGLOSS_SUM;
                plain = p.with_map(plain);
                segloss_config zero = plain, negzero = plain;
                zero.label_smoothing = 0.0f;
                negzero.label_smoothing = -0.0f;
                INFO(isa << ": " << ref::describe_modes(plain) << " | " << ref::describe_modes(p));
                const ref::LibOut a = ref::run_lib(plain, p.input());
                check_identical(a, ref::run_lib(zero, p.input()));
                check_identical(a, ref::run_lib(negzero, p.input()));
            }
    });
}

TEST_CASE("a weight map of ones gives the bits of no map, both activations, every loss", "[modes][isa][identity]") {
    std::mt19937 rng = seeded(22);
    const segloss_loss_type types[] = {SEGLOSS_CE,         SEGLOSS_WEIGHTED_CE, SEGLOSS_FOCAL,  SEGLOSS_DICE,
                                       SEGLOSS_FOCAL_DICE, SEGLOSS_TVERSKY,     SEGLOSS_GENERALIZED_DICE};
    on_each_isa([&](const std::string &isa) {
        for (segloss_activation act : {SEGLOSS_SIGMOID, SEGLOSS_SOFTMAX})
            for (segloss_loss_type t : types)
                for (int k = 0; k < 3; ++k) {
                    ModeSpec s = random_spec(rng, act);
                    s.map = MapKind::ones;
                    const ModeProblem with = ref::make_mode_problem(rng, s);
                    ModeProblem without = with;
                    without.map.clear();
                    segloss_config cfg = init(t, act);
                    cfg.ignore_index = s.ignore_index;
                    cfg.per_sample = k % 2;
                    cfg.include_background = s.c == 1 ? 1 : k / 2;
                    if (act == SEGLOSS_SOFTMAX && k == 1 && (t == SEGLOSS_CE || t == SEGLOSS_WEIGHTED_CE))
                        cfg.label_smoothing = 0.1f; // (refused where nothing would be smoothed)
                    INFO(isa << ": " << ref::describe_modes(cfg) << " | " << ref::describe_modes(with));
                    check_identical(ref::run_lib(with.with_map(cfg), with.input()), ref::run_lib(cfg, without.input()));
                }
    });
}

TEST_CASE("sigmoid: TARGET_U8 one-vs-rest masks equal the integer labels; TARGET_F32 of 0/1 equals TARGET_U8",
          "[modes][isa][identity]") {
    std::mt19937 rng = seeded(23);
    const segloss_loss_type types[] = {SEGLOSS_CE,         SEGLOSS_WEIGHTED_CE, SEGLOSS_FOCAL,  SEGLOSS_DICE,
                                       SEGLOSS_FOCAL_DICE, SEGLOSS_TVERSKY,     SEGLOSS_GENERALIZED_DICE};
    long identical = 0, total = 0;
    on_each_isa([&](const std::string &isa) {
        for (segloss_loss_type t : types)
            for (int k = 0; k < 3; ++k) {
                ModeSpec s = random_spec(rng, SEGLOSS_SIGMOID);
                s.label_type = static_cast<segloss_label_type>(k % 3);
                s.ignore_index = s.label_type == SEGLOSS_LABEL_U8 ? 255 : -100;
                s.p_ignore = 0.0;  // targets have no ignored positions
                const ModeProblem labels = ref::make_mode_problem(rng, s);
                const ModeProblem masks = labels.as_targets(SEGLOSS_TARGET_U8);
                const ModeProblem soft = labels.as_targets(SEGLOSS_TARGET_F32);
                segloss_config cfg = init(t, SEGLOSS_SIGMOID);
                cfg.ignore_index = s.ignore_index;
                cfg.per_sample = k % 2;
                cfg.include_background = s.c == 1 ? 1 : k / 2;
                cfg.reduction = k == 2 ? SEGLOSS_SUM : SEGLOSS_MEAN;
                cfg = labels.with_map(cfg);
                INFO(isa << ": " << ref::describe_modes(cfg) << " | " << ref::describe_modes(labels));
                const ref::LibOut a = ref::run_lib(cfg, labels.input());
                const ref::LibOut b = ref::run_lib(cfg, masks.input());
                check_close(a, b, 1e-7, 1e-7);
                ++total;
                if (same_result_bits(a.result, b.result) && same_bits(a.grad, b.grad)) ++identical;
                check_identical(b, ref::run_lib(cfg, soft.input()));
            }
    });
    std::cout << "sigmoid labels vs TARGET_U8: " << identical << " of " << total << " cases bit-identical\n";
}

TEST_CASE("softmax ce: one-hot probability targets give the loss of their class indices", "[modes][isa][identity]") {
    // Without class weights the two means coincide: sum m l / sum m (targets) and
    // sum m w[y] l / sum m w[y] (indices) with w = 1; smoothing mixes in eps / C alike.
    std::mt19937 rng = seeded(25);
    on_each_isa([&](const std::string &isa) {
        for (int k = 0; k < 8; ++k) {
            ModeSpec s = random_spec(rng, SEGLOSS_SOFTMAX);
            s.p_ignore = 0.0;
            s.ignore_index = -100;
            const ModeProblem labels = ref::make_mode_problem(rng, s);
            const ModeProblem probs = labels.as_targets(k % 2 ? SEGLOSS_TARGET_F32 : SEGLOSS_TARGET_U8);
            segloss_config cfg = init(SEGLOSS_CE, SEGLOSS_SOFTMAX);
            cfg.use_class_weighting = 0;
            cfg.label_smoothing = k % 4 < 2 ? 0.0f : 0.3f;
            cfg.reduction = k % 3 == 0 ? SEGLOSS_SUM : SEGLOSS_MEAN;
            cfg = labels.with_map(cfg);
            INFO(isa << ": " << ref::describe_modes(cfg) << " | " << ref::describe_modes(probs));
            check_close(ref::run_lib(cfg, probs.input()), ref::run_lib(cfg, labels.input()), 1e-6, kGradTol);
        }
    });
}

TEST_CASE("generalized Dice with one class: Dice when K has one class and s = 0; 1 - mean p_y when one class is present",
          "[modes][isa][identity]") {
    std::mt19937 rng = seeded(24);
    on_each_isa([&](const std::string &isa) {
        for (int k = 0; k < 8; ++k) {
            // K = {1}: softmax C = 2 without background, or sigmoid C = 1. With s = 0 the one
            // weight v_1 cancels: GD = 2 I / (P + G) = Dice.
            // (Only where class 1 is present in every group: an absent class gets v = 0, and
            // GD = 1 where Dice with s = 0 gives 0.)
            const segloss_activation act = k % 2 ? SEGLOSS_SIGMOID : SEGLOSS_SOFTMAX;
            ModeSpec s = random_spec(rng, act);
            s.c = act == SEGLOSS_SIGMOID ? 1 : 2;
            if (ref::is_target_type(s.label_type)) s.label_type = SEGLOSS_LABEL_I64;
            s.ignore_index = s.label_type == SEGLOSS_LABEL_U8 ? 255 : -100;
            ModeProblem p = ref::make_mode_problem(rng, s);
            std::vector<int64_t> y = p.y;
            for (int64_t n = 0; n < s.n; ++n) y[static_cast<size_t>(n * s.s)] = 1;
            p.set_labels(y);
            if (!p.map.empty())
                for (int64_t n = 0; n < s.n; ++n) p.map[static_cast<size_t>(n * s.s)] = 1.0f;
            segloss_config gd = init(SEGLOSS_GENERALIZED_DICE, act), dice = init(SEGLOSS_DICE, act);
            gd.ignore_index = dice.ignore_index = s.ignore_index;
            gd.dice_smooth = dice.dice_smooth = 0.0f;
            gd.include_background = dice.include_background = act == SEGLOSS_SIGMOID ? 1 : 0;
            gd.per_sample = dice.per_sample = (k / 2) % 2;
            gd.reduction = dice.reduction = k < 4 ? SEGLOSS_MEAN : SEGLOSS_SUM;
            gd = p.with_map(gd);
            dice = p.with_map(dice);
            INFO(isa << ": " << ref::describe_modes(gd) << " | " << ref::describe_modes(p));
            check_close(ref::run_lib(gd, p.input()), ref::run_lib(dice, p.input()), kLossTol, kGradTol);
        }
        for (int k = 0; k < 4; ++k) {
            // Softmax, all classes, s = 0, every valid label the same class: every class gets
            // that class's weight, sum_c P_c = sum_c G_c = sum_V m, so GD = sum_V m p_y / sum_V m.
            ModeSpec s = random_spec(rng, SEGLOSS_SOFTMAX);
            s.map = k % 2 ? MapKind::random : MapKind::none;
            ModeProblem p = ref::make_mode_problem(rng, s);
            const int64_t only = s.c - 1;
            std::vector<int64_t> y = p.y;
            for (auto &l : y)
                if (l != s.ignore_index) l = only;
            p.set_labels(y);
            segloss_config gd = init(SEGLOSS_GENERALIZED_DICE, SEGLOSS_SOFTMAX);
            gd.ignore_index = s.ignore_index;
            gd.dice_smooth = 0.0f;
            gd.include_background = 1;
            gd = p.with_map(gd);
            double num = 0, den = 0;
            for (int64_t n = 0; n < s.n; ++n)
                for (int64_t ss = 0; ss < s.s; ++ss) {
                    const int64_t pos = n * s.s + ss;
                    if (y[pos] == s.ignore_index) continue;
                    double mx = -INFINITY, sum = 0;
                    for (int64_t c = 0; c < s.c; ++c)
                        mx = std::max(mx, static_cast<double>(p.logits[ref::elem_index(s.layout, s.c, s.s, n, c, ss)]));
                    for (int64_t c = 0; c < s.c; ++c)
                        sum += std::exp(p.logits[ref::elem_index(s.layout, s.c, s.s, n, c, ss)] - mx);
                    const double py = std::exp(p.logits[ref::elem_index(s.layout, s.c, s.s, n, only, ss)] - mx) / sum;
                    const double m = p.map.empty() ? 1.0 : p.map[pos];
                    num += m * py;
                    den += m;
                }
            const double want = den > 0 ? 1.0 - num / den : 0.0;
            INFO(isa << ": " << ref::describe_modes(gd) << " | " << ref::describe_modes(p));
            const ref::LibOut o = ref::run_lib(gd, p.input());
            REQUIRE(o.status == SEGLOSS_OK);
            INFO("loss " << o.result.loss << " want " << want);
            CHECK(ref::rel_err(o.result.loss, want) <= kLossTol);
            CHECK(ref::rel_err(ref::ref_modes(gd, p.input(), false).loss, want) <= 1e-12);
        }
    });
}

// =============================================================================================
// Edge cases
// =============================================================================================

TEST_CASE("sigmoid with saturated logits (|z| up to 100): the reference's loss and a finite gradient",
          "[modes][isa][edge]") {
    // p rounds to 1 in float32 from z ~ 17 on: 1 - p must come from sigmoid(-z), and the focal
    // factor u^(gamma - 1) (gamma < 1) of an element predicted right must stay finite.
    std::mt19937 rng = seeded(40);
    const segloss_loss_type types[] = {SEGLOSS_CE, SEGLOSS_WEIGHTED_CE, SEGLOSS_FOCAL, SEGLOSS_DICE,
                                       SEGLOSS_GENERALIZED_DICE};
    for (segloss_loss_type t : types)
        for (int k = 0; k < 4; ++k) {
            ModeSpec s;
            s.activation = SEGLOSS_SIGMOID;
            s.n = 2;
            s.c = k % 2 ? 3 : 1;
            s.s = 40;
            s.layout = k / 2 ? SEGLOSS_NHWC : SEGLOSS_NCHW;
            s.label_type = k / 2 ? SEGLOSS_TARGET_U8 : SEGLOSS_LABEL_I32;
            s.logit_scale = 1.0;
            s.label_bias = k % 2 ? 40.0 : 100.0;  // every element confidently right
            ModeProblem p = ref::make_mode_problem(rng, s);
            for (size_t i = 0; i < p.logits.size(); i += 7) p.logits[i] = -p.logits[i];  // and some wrong
            segloss_config cfg = init(t, SEGLOSS_SIGMOID);
            cfg.ignore_index = s.ignore_index;
            cfg.focal_gamma = k % 2 ? 0.5f : 2.0f;
            const ref::ModeOut want = ref::ref_modes(cfg, p.input());
            on_each_isa([&](const std::string &isa) { check_vs_reference(isa, cfg, p, want); });
        }
}

TEST_CASE("no valid position, or a map of zeros: loss 0 and gradient 0", "[modes][isa][edge]") {
    std::mt19937 rng = seeded(41);
    const segloss_loss_type types[] = {SEGLOSS_CE,         SEGLOSS_WEIGHTED_CE, SEGLOSS_FOCAL,  SEGLOSS_DICE,
                                       SEGLOSS_FOCAL_DICE, SEGLOSS_TVERSKY,     SEGLOSS_GENERALIZED_DICE};
    for (segloss_activation act : {SEGLOSS_SIGMOID, SEGLOSS_SOFTMAX})
        for (segloss_loss_type t : types)
            for (int k = 0; k < 4; ++k) {
                ModeSpec s;
                s.activation = act;
                s.n = 2;
                s.c = 3;
                s.s = 9;
                s.map = MapKind::random;
                ModeProblem p = ref::make_mode_problem(rng, s);
                const bool all_ignored = k % 2 == 0;
                if (all_ignored) p.set_labels(std::vector<int64_t>(p.y.size(), s.ignore_index));
                else std::fill(p.map.begin(), p.map.end(), 0.0f);
                segloss_config cfg = init(t, act);
                cfg.ignore_index = s.ignore_index;
                cfg.per_sample = k / 2;
                cfg.dice_smooth = k / 2 ? 0.0f : 1.0f;
                if (act == SEGLOSS_SOFTMAX && (t == SEGLOSS_CE || t == SEGLOSS_WEIGHTED_CE)) cfg.label_smoothing = 0.3f;
                cfg = p.with_map(cfg);
                INFO(ref::describe_modes(cfg) << " | " << (all_ignored ? "all ignored" : "map of zeros"));
                const ref::ModeOut want = ref::ref_modes(cfg, p.input());
                REQUIRE(want.loss == 0.0);
                const ref::LibOut got = ref::run_lib(cfg, p.input());
                REQUIRE(got.status == SEGLOSS_OK);
                CHECK(got.result.loss == 0.0);
                CHECK(got.result.valid == (all_ignored ? 0 : s.n * s.s));
                CHECK(ref::max_abs(std::vector<double>(got.grad.begin(), got.grad.end())) == 0.0);
            }
}

// =============================================================================================
// Two phases
// =============================================================================================

namespace {

// Samples [first, first + n) of p as a slice: logits and labels or targets (the map: slice_config).
segloss_input sample_slice(const ModeProblem &p, int64_t first, int64_t n) {
    segloss_input in = p.input();
    const int64_t C = p.spec.c, S = p.spec.s;
    in.logits += first * C * S;
    const size_t size = p.spec.label_type == SEGLOSS_LABEL_U8 || p.spec.label_type == SEGLOSS_TARGET_U8 ? 1
                        : p.spec.label_type == SEGLOSS_LABEL_I64                                       ? 8
                                                                                                       : 4;
    const int64_t offset = ref::is_target_type(p.spec.label_type) ? first * C * S : first * S;
    in.labels = static_cast<const char *>(in.labels) + offset * static_cast<int64_t>(size);
    in.n = n;
    return in;
}

// cfg for the slice that starts at sample `first`: its map from the slice's start.
segloss_config slice_config(segloss_config cfg, const ModeProblem &p, int64_t first) {
    cfg.weight_map = p.map.empty() ? nullptr : p.map.data() + first * p.spec.s;
    return cfg;
}

}  // namespace

namespace {

// Two slices (sample 0, samples 1..N-1), accumulated in reverse order, finished, backward each:
// the one call's loss and gradient, and the reference's. Whole-sample slices keep every float
// block, so for the Dice family only double sums are reassociated (1e-9); the CE family's one
// call sums its term in the fused backward pass, the two phases per class (1e-6).
void check_two_phase(segloss_config cfg, const ModeProblem &p) {
    const int64_t N = p.spec.n, C = p.spec.c, S = p.spec.s;
    cfg = p.with_map(cfg);
    INFO(ref::describe_modes(cfg) << " | " << ref::describe_modes(p));
    const int64_t len = segloss_stats_len(&cfg, N, C);
    REQUIRE(len > 0);
    std::vector<double> buf(static_cast<size_t>(len), 0.0);
    segloss_stats st = {N, C, buf.data()};
    const segloss_input a = sample_slice(p, 0, 1), b = sample_slice(p, 1, N - 1);
    const segloss_config ca = slice_config(cfg, p, 0), cb = slice_config(cfg, p, 1);
    REQUIRE(segloss_accumulate(&cb, &b, 1, &st) == SEGLOSS_OK);
    REQUIRE(segloss_accumulate(&ca, &a, 0, &st) == SEGLOSS_OK);
    segloss_result r;
    REQUIRE(segloss_finish(&cfg, &st, &r) == SEGLOSS_OK);
    std::vector<float> grad(static_cast<size_t>(p.total()), 12345.0f);
    REQUIRE(segloss_backward(&ca, &a, 0, &st, grad.data()) == SEGLOSS_OK);
    REQUIRE(segloss_backward(&cb, &b, 1, &st, grad.data() + C * S) == SEGLOSS_OK);
    const ref::LibOut one = ref::run_lib(cfg, p.input());
    REQUIRE(one.status == SEGLOSS_OK);
    INFO("two-phase loss " << r.loss << " one call " << one.result.loss);
    const double tol = ref::is_dice_family(cfg.loss_type) && cfg.loss_type != SEGLOSS_FOCAL_DICE ? 1e-9 : 1e-6;
    CHECK(ref::rel_err(r.loss, one.result.loss) <= tol);
    CHECK(ref::rel_err(r.ce_term, one.result.ce_term) <= tol);
    CHECK(ref::rel_err(r.dice_term, one.result.dice_term) <= tol);
    CHECK(r.valid == one.result.valid);
    CHECK(ref::grad_err(grad, std::vector<double>(one.grad.begin(), one.grad.end())) <= 1e-6);
    const ref::ModeOut want = ref::ref_modes(cfg, p.input());
    CHECK(ref::rel_err(r.loss, want.loss) <= kLossTol);
    CHECK(ref::grad_err(grad, want.grad, 0.1 * want.grad_scale) <= kGradTol);
}

ModeProblem two_phase_problem(std::mt19937 &rng, segloss_activation act, int k, bool map) {
    ModeSpec s = random_spec(rng, act);
    s.n = 2 + k % 2;
    s.s = std::min<int64_t>(s.s, 300);
    if (map) s.map = MapKind::random;
    return ref::make_mode_problem(rng, s);
}

}  // namespace

TEST_CASE("two phases over two slices equal segloss_compute: sigmoid Dice, weight-map Dice", "[modes][twophase]") {
    std::mt19937 rng = seeded(30);
    for (int k = 0; k < 16; ++k) {
        const bool sig = k % 2 == 0;
        const ModeProblem p = two_phase_problem(rng, sig ? SEGLOSS_SIGMOID : SEGLOSS_SOFTMAX, k, !sig);
        const segloss_loss_type t = (k / 2) % 4 == 3 ? SEGLOSS_GENERALIZED_DICE : SEGLOSS_DICE;
        segloss_config cfg = init(t, sig ? SEGLOSS_SIGMOID : SEGLOSS_SOFTMAX);
        cfg.ignore_index = p.spec.ignore_index;
        cfg.per_sample = (k / 2) % 2;
        cfg.include_background = p.spec.c == 1 ? 1 : (k / 4) % 2;
        cfg.reduction = k % 3 == 0 ? SEGLOSS_SUM : SEGLOSS_MEAN;
        check_two_phase(cfg, p);
    }
}

TEST_CASE("two phases equal segloss_compute for the CE family: automatic pos_weight and class weights of the "
          "whole batch, maps, smoothing",
          "[modes][twophase]") {
    // The automatic weights count the whole batch's (weighted) labels, which no slice sees alone.
    std::mt19937 rng = seeded(31);
    for (int k = 0; k < 12; ++k) {
        const bool sig = k % 2 == 0;
        const ModeProblem p = two_phase_problem(rng, sig ? SEGLOSS_SIGMOID : SEGLOSS_SOFTMAX, k, k % 3 != 2);
        segloss_config cfg;
        if (sig) {
            cfg = init(k % 4 == 0 ? SEGLOSS_WEIGHTED_CE : SEGLOSS_FOCAL, SEGLOSS_SIGMOID);
        } else {
            cfg = init(k % 4 == 1 ? SEGLOSS_WEIGHTED_CE : SEGLOSS_FOCAL_DICE, SEGLOSS_SOFTMAX);
            cfg.focal_gamma = 0.0f;
            cfg.label_smoothing = 0.2f;
            cfg.use_class_weighting = 1;
        }
        cfg.ignore_index = p.spec.ignore_index;
        cfg.reduction = k % 3 == 0 ? SEGLOSS_SUM : SEGLOSS_MEAN;
        check_two_phase(cfg, p);
    }
}

// =============================================================================================
// Errors of the new fields: the status, and grad, terms and the result as api.h section 3 says
// =============================================================================================

namespace {

// A valid base for each error: N = 2, C = 3, S = 10, NCHW, integer labels and targets.
struct ErrBase {
    ModeProblem p;
    ErrBase() {
        std::mt19937 rng(1717);
        ModeSpec s;
        s.n = 2;
        s.c = 3;
        s.s = 10;
        s.activation = SEGLOSS_SIGMOID;
        p = ref::make_mode_problem(rng, s);
        p.map.assign(static_cast<size_t>(s.n * s.s), 1.5f);
    }
};

struct Canary {
    std::vector<float> grad, terms;
    segloss_result result;
    std::vector<unsigned char> bytes;
    explicit Canary(size_t n) : grad(n), terms(n + 16) {
        const uint32_t nan_bits = 0x7fc00badu;  // a NaN payload and a number, alternating
        for (size_t i = 0; i < grad.size(); ++i) {
            if (i % 2 == 0) std::memcpy(&grad[i], &nan_bits, 4);
            else grad[i] = 12345.0f;
        }
        for (size_t i = 0; i < terms.size(); ++i) terms[i] = -777.0f - static_cast<float>(i);
        std::memset(&result, 0xAB, sizeof result);
        bytes = snapshot();
    }
    std::vector<unsigned char> snapshot() const {
        std::vector<unsigned char> b(reinterpret_cast<const unsigned char *>(grad.data()),
                                     reinterpret_cast<const unsigned char *>(grad.data() + grad.size()));
        b.insert(b.end(), reinterpret_cast<const unsigned char *>(terms.data()),
                 reinterpret_cast<const unsigned char *>(terms.data() + terms.size()));
        return b;
    }
    bool outputs_untouched() const { return snapshot() == bytes; }
    bool reports_error() const {
        return std::isnan(result.loss) && std::isnan(result.ce_term) && std::isnan(result.dice_term) && result.valid == 0;
    }
};

enum class Calls { both, compute, unreduced };

// segloss_compute and/or segloss_compute_unreduced refuse (cfg, in) with a status in `allowed`,
// leave grad and terms untouched and report the error in *out; bad_position too when >= -1.
// focal_dice is checked with segloss_compute alone (its unreduced call is refused regardless).
void expect_error(std::initializer_list<segloss_status> allowed, const segloss_config &cfg, const segloss_input &in,
                  int64_t bad_position = -2, Calls calls = Calls::both) {
    if (cfg.loss_type == SEGLOSS_FOCAL_DICE && calls == Calls::both) calls = Calls::compute;
    const size_t n = static_cast<size_t>(in.n * in.c * in.s);
    for (int unred = 0; unred < 2; ++unred) {
        if ((unred && calls == Calls::compute) || (!unred && calls == Calls::unreduced)) continue;
        Canary k(n);
        const segloss_status st = unred ? segloss_compute_unreduced(&cfg, &in, k.grad.data(), k.terms.data(), &k.result)
                                        : segloss_compute(&cfg, &in, k.grad.data(), &k.result);
        INFO((unred ? "segloss_compute_unreduced" : "segloss_compute") << " returned " << st << " ("
             << segloss_status_string(st) << ")");
        CHECK(std::find(allowed.begin(), allowed.end(), st) != allowed.end());
        CHECK(st != SEGLOSS_OK);
        CHECK(k.outputs_untouched());
        CHECK(k.reports_error());
        if (bad_position >= -1) CHECK(k.result.bad_position == bad_position);
    }
}

// The same call must succeed once the one cause is removed.
void expect_ok(const segloss_config &cfg, const segloss_input &in) {
    segloss_result r;
    std::vector<float> grad(static_cast<size_t>(in.n * in.c * in.s));
    const segloss_status st = segloss_compute(&cfg, &in, grad.data(), &r);
    INFO("base call returned " << st << " (" << segloss_status_string(st) << ")");
    REQUIRE(st == SEGLOSS_OK);
}

}  // namespace

TEST_CASE("errors of the new fields leave grad and terms untouched", "[modes][errors]") {
    const ErrBase base;
    const ModeProblem &p = base.p;
    const segloss_input labels = p.input();
    const ModeProblem tp8 = p.as_targets(SEGLOSS_TARGET_U8), tpf = p.as_targets(SEGLOSS_TARGET_F32);
    const segloss_input t8 = tp8.input(), tf = tpf.input();
    const std::initializer_list<segloss_status> param = {SEGLOSS_ERR_PARAM};
    const std::initializer_list<segloss_status> weights_or_param = {SEGLOSS_ERR_WEIGHTS, SEGLOSS_ERR_PARAM};
    const std::initializer_list<segloss_status> target_errors = {SEGLOSS_ERR_LABEL, SEGLOSS_ERR_PARAM};

    SECTION("label_smoothing NaN, negative, above 1; > 0 with a focal gamma > 0") {
        for (segloss_loss_type t : {SEGLOSS_CE, SEGLOSS_WEIGHTED_CE, SEGLOSS_FOCAL, SEGLOSS_FOCAL_DICE}) {
            segloss_config cfg = init(t, SEGLOSS_SOFTMAX);
            cfg.focal_gamma = 0.0f;
            expect_ok(cfg, labels);
            for (float eps : {kNaN, -0.1f, -kInf, 1.0001f, kInf}) {
                segloss_config bad = cfg;
                bad.label_smoothing = eps;
                INFO(ref::describe_modes(bad));
                expect_error(param, bad, labels, -1);
            }
        }
        for (segloss_loss_type t : {SEGLOSS_FOCAL, SEGLOSS_FOCAL_DICE}) {
            segloss_config cfg = init(t, SEGLOSS_SOFTMAX);
            cfg.focal_gamma = 2.0f;
            cfg.label_smoothing = 0.1f;
            INFO(ref::describe_modes(cfg));
            expect_error(param, cfg, labels, -1);
        }
    }
    SECTION("weight_map negative, NaN, infinite (api.h names no status: WEIGHTS or PARAM)") {
        for (segloss_activation act : {SEGLOSS_SOFTMAX, SEGLOSS_SIGMOID})
            for (segloss_loss_type t : {SEGLOSS_CE, SEGLOSS_DICE, SEGLOSS_GENERALIZED_DICE}) {
                const segloss_config cfg = init(t, act);
                expect_ok(cfg, labels);
                for (float v : {-1.0f, -1e-30f, kNaN, kInf}) {
                    std::vector<float> map = p.map;
                    map[13] = v;
                    segloss_config bad = cfg;
                    bad.weight_map = map.data();
                    INFO(ref::describe_modes(bad) << " map[13] = " << v);
                    expect_error(weights_or_param, bad, labels);
                }
            }
    }
    SECTION("pos_weight negative or NaN (WEIGHTS or PARAM)") {
        for (segloss_loss_type t : {SEGLOSS_CE, SEGLOSS_WEIGHTED_CE}) {
            segloss_config cfg = init(t, SEGLOSS_SIGMOID);
            const float good[3] = {1.0f, 0.0f, 3.0f};
            cfg.pos_weight = good;
            expect_ok(cfg, labels);
            for (float v : {-0.5f, kNaN}) {
                const float bad_w[3] = {1.0f, v, 3.0f};
                segloss_config bad = cfg;
                bad.pos_weight = bad_w;
                INFO(ref::describe_modes(bad) << " pos_weight[1] = " << v);
                expect_error(weights_or_param, bad, labels);
            }
        }
    }
    SECTION("focal_alpha above 1 or NaN") {
        for (segloss_loss_type t : {SEGLOSS_FOCAL, SEGLOSS_FOCAL_DICE}) {
            segloss_config cfg = init(t, SEGLOSS_SIGMOID);
            expect_ok(cfg, labels);
            for (float a : {1.0001f, 2.0f, kNaN, kInf}) {
                segloss_config bad = cfg;
                bad.focal_alpha = a;
                INFO(ref::describe_modes(bad));
                expect_error(param, bad, labels, -1);
            }
        }
    }
    SECTION("TARGET_F32 outside [0, 1] or NaN; TARGET_U8 other than 0 and 1") {
        for (segloss_loss_type t : {SEGLOSS_CE, SEGLOSS_DICE}) {
            const segloss_config cfg = init(t, SEGLOSS_SIGMOID);
            expect_ok(cfg, t8);
            expect_ok(cfg, tf);
            for (float v : {-0.001f, 1.001f, kNaN, kInf}) {
                ModeProblem q = tpf;
                q.tf[37] = v;
                INFO(ref::describe_modes(cfg) << " target[37] = " << v);
                expect_error(target_errors, cfg, q.input());
            }
            for (int v : {2, 255}) {
                ModeProblem q = tp8;
                q.t8[41] = static_cast<uint8_t>(v);
                INFO(ref::describe_modes(cfg) << " mask[41] = " << v);
                expect_error(target_errors, cfg, q.input());
            }
        }
    }
    SECTION("softmax with C = 1 is SEGLOSS_ERR_PARAM") {
        ModeSpec s;
        s.n = 2;
        s.c = 1;
        s.s = 10;
        s.activation = SEGLOSS_SIGMOID;  // labels 0/1
        std::mt19937 rng(5);
        ModeProblem one = ref::make_mode_problem(rng, s);
        for (auto &l : one.y64) l = 0;  // valid for C = 1 under any reading
        for (segloss_loss_type t : {SEGLOSS_CE, SEGLOSS_DICE}) {
            segloss_config cfg = init(t, SEGLOSS_SIGMOID);
            expect_ok(cfg, one.input());
            cfg.activation = SEGLOSS_SOFTMAX;
            INFO(ref::describe_modes(cfg));
            expect_error(param, cfg, one.input());
        }
    }
    SECTION("an unknown activation is SEGLOSS_ERR_ENUM") {
        for (int a : {2, -1, 1000}) {
            segloss_config cfg = init(SEGLOSS_CE, SEGLOSS_SOFTMAX);
            cfg.activation = static_cast<segloss_activation>(a);
            INFO("activation " << a);
            expect_error({SEGLOSS_ERR_ENUM}, cfg, labels);
        }
    }
    SECTION("per-channel targets under the softmax are refused but for ce and weighted_ce") {
        for (const segloss_input *in : {&t8, &tf}) {
            for (segloss_loss_type t : {SEGLOSS_CE, SEGLOSS_WEIGHTED_CE}) expect_ok(init(t, SEGLOSS_SOFTMAX), *in);
            for (segloss_loss_type t : {SEGLOSS_FOCAL, SEGLOSS_DICE, SEGLOSS_FOCAL_DICE, SEGLOSS_TVERSKY,
                                        SEGLOSS_GENERALIZED_DICE}) {
                const segloss_config cfg = init(t, SEGLOSS_SOFTMAX);
                INFO(ref::label_kind_name(in->label_type) << " " << ref::describe_modes(cfg));
                expect_error({SEGLOSS_ERR_ENUM, SEGLOSS_ERR_PARAM, SEGLOSS_ERR_LABEL}, cfg, *in);
            }
        }
    }
    SECTION("sigmoid, C = 1: a label other than 0, 1 and ignore_index is SEGLOSS_ERR_LABEL at its position") {
        std::vector<int64_t> y(20, 1);
        y[3] = -100;  // ignored: skipped
        y[7] = 2;
        y[15] = 5;
        const std::vector<float> z(20, 0.5f);
        segloss_input in;
        std::memset(&in, 0, sizeof in);
        in.logits = z.data();
        in.labels = y.data();
        in.label_type = SEGLOSS_LABEL_I64;
        in.n = 2;
        in.c = 1;
        in.s = 10;
        for (segloss_loss_type t : {SEGLOSS_CE, SEGLOSS_DICE, SEGLOSS_GENERALIZED_DICE}) {
            const segloss_config cfg = init(t, SEGLOSS_SIGMOID);
            INFO(ref::describe_modes(cfg));
            expect_error({SEGLOSS_ERR_LABEL}, cfg, in, 7);
        }
        y[7] = 0;
        y[15] = 1;
        expect_ok(init(SEGLOSS_CE, SEGLOSS_SIGMOID), in);
    }
    SECTION("focal_dice has no unreduced form: SEGLOSS_ERR_PARAM") {
        for (segloss_activation act : {SEGLOSS_SOFTMAX, SEGLOSS_SIGMOID}) {
            const segloss_config cfg = init(SEGLOSS_FOCAL_DICE, act);
            expect_ok(cfg, labels);
            INFO(ref::describe_modes(cfg));
            expect_error(param, cfg, labels, -1, Calls::unreduced);
        }
    }
}

TEST_CASE("zz modes report: the largest errors per path and mode", "[modes][report]") {
    std::cout << "\n==== segloss modes vs the float64 reference (loss rel / grad of max / terms) ====\n";
    char line[200];
    for (const auto &isa : error_table()) {
        std::cout << "isa " << isa.first << "\n";
        for (const auto &m : isa.second) {
            std::snprintf(line, sizeof line, "  %-40s loss %.2e  grad %.2e  terms %.2e  (%ld cases)\n", m.first.c_str(),
                          m.second.loss, m.second.grad, m.second.terms, m.second.cases);
            std::cout << line;
        }
    }
    std::cout << "reference vs central differences: " << worst_fd() << "\n" << std::flush;
    SUCCEED("report printed");
}
