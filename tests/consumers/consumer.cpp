// tests/consumers/consumer.cpp — the C++ counterpart of consumer.c: <segloss.h> from an install
// (or a checkout), the implementation in this file, compiled as C++11. The configuration comes
// from text; the pixel and the checks are consumer.c's: CE with logits (0, ln 3) and label 1 is
// ln(4/3), gradient (1/4, -1/4); a label 255 is refused with a message naming the fix.
#define SEGLOSS_IMPLEMENTATION
#include <segloss.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

int main() {
    std::vector<float> logits = {0.0f, static_cast<float>(std::log(3.0))}, grad(2, 7.0f);
    std::vector<int64_t> labels = {1};
    segloss_config cfg;
    char err[256] = "";
    if (segloss_config_parse("loss_type='ce', ignore_index=-100", &cfg, err, sizeof err) != SEGLOSS_OK) {
        std::printf("FAIL: config: %s\n", err);
        return 1;
    }
    segloss_input in;
    in.logits = logits.data();
    in.labels = labels.data();
    in.label_type = SEGLOSS_LABEL_I64;
    in.n = 1;
    in.c = 2;
    in.s = 1;
    in.layout = SEGLOSS_NHWC;
    segloss_result r;
    char msg[512];
    segloss_status st = segloss_compute(&cfg, &in, grad.data(), &r);
    if (st != SEGLOSS_OK) {
        std::printf("FAIL: %s\n", segloss_error_message(st, &cfg, &in, &r, msg, sizeof msg));
        return 1;
    }
    int fails = 0;
    const double want = std::log(4.0 / 3.0), loss = r.loss;
    if (!(std::fabs(loss - want) <= 1e-6 * want)) ++fails, std::printf("FAIL: loss %.9f, want %.9f\n", loss, want);
    if (!(std::fabs(grad[0] - 0.25) <= 1e-6 && std::fabs(grad[1] + 0.25) <= 1e-6))
        ++fails, std::printf("FAIL: grad (%.9f, %.9f), want (0.25, -0.25)\n", grad[0], grad[1]);

    labels[0] = 255;
    st = segloss_compute(&cfg, &in, grad.data(), &r);
    const std::string m = segloss_error_message(st, &cfg, &in, &r, msg, sizeof msg);
    if (st != SEGLOSS_ERR_LABEL || m.find("set ignore_index = 255") == std::string::npos)
        ++fails, std::printf("FAIL: label 255: status %d, message \"%s\"\n", static_cast<int>(st), m.c_str());

    std::printf("consumer-cpp: loss %.9f (ln(4/3) = %.9f), path %s, segloss %s: %s\n", loss, want,
                segloss_active_isa(), SEGLOSS_VERSION_STRING, fails ? "FAIL" : "ok");
    return fails != 0;
}
