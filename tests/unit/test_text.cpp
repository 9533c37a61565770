// Configuration text, printout, class weights, confusion, metrics and the advisor.
#include "catch2/catch.hpp"
#include "../../segloss.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace {

segloss_config make(segloss_loss_type t)
{
    segloss_config c;
    segloss_config_init(&c, t);
    return c;
}

// Field-by-field (no memcmp: padding).
bool same(const segloss_config &a, const segloss_config &b)
{
    return a.loss_type == b.loss_type && a.focal_gamma == b.focal_gamma && a.focal_weight == b.focal_weight &&
           a.dice_weight == b.dice_weight && a.dice_smooth == b.dice_smooth && a.tversky_alpha == b.tversky_alpha &&
           a.tversky_beta == b.tversky_beta && a.use_class_weighting == b.use_class_weighting &&
           a.class_weights == b.class_weights && a.ignore_index == b.ignore_index &&
           a.include_background == b.include_background && a.per_sample == b.per_sample &&
           a.reduction == b.reduction && a.check_finite == b.check_finite && a.activation == b.activation &&
           a.label_smoothing == b.label_smoothing && a.pos_weight == b.pos_weight &&
           std::memcmp(&a.focal_alpha, &b.focal_alpha, sizeof a.focal_alpha) == 0; // -0 is alpha 0, not none
}

segloss_status parse(const char *text, segloss_config *cfg, std::string *err = NULL)
{
    char buf[256];
    segloss_status st = segloss_config_parse(text, cfg, buf, sizeof buf);
    if (err) *err = buf;
    return st;
}

segloss_config parse_ok(const char *text)
{
    segloss_config cfg;
    std::string err;
    INFO(text);
    segloss_status st = parse(text, &cfg, &err);
    INFO(err);
    REQUIRE(st == SEGLOSS_OK);
    return cfg;
}

// Parsing must fail, leave cfg byte-identical, and the message must contain `want`.
void parse_fails(const char *text, const char *want)
{
    segloss_config cfg, before;
    std::memset(&cfg, 0x5A, sizeof cfg);
    std::memcpy(&before, &cfg, sizeof cfg);
    std::string err;
    INFO("text: " << text);
    segloss_status st = parse(text, &cfg, &err);
    INFO("err: " << err);
    CHECK(st == SEGLOSS_ERR_PARSE);
    CHECK(err.find(want) != std::string::npos);
    CHECK(std::memcmp(&cfg, &before, sizeof cfg) == 0);
}

std::string format(const segloss_config &cfg, const float *w, int64_t c)
{
    int n = segloss_config_format(&cfg, w, c, NULL, 0);
    REQUIRE(n >= 0);
    std::vector<char> buf((size_t)n + 1);
    REQUIRE(segloss_config_format(&cfg, w, c, &buf[0], buf.size()) == n);
    return std::string(&buf[0]);
}

std::string table(const segloss_class_metrics *m, int64_t c, const char *const *names)
{
    int n = segloss_metrics_format(m, c, names, NULL, 0);
    REQUIRE(n >= 0);
    std::vector<char> buf((size_t)n + 1);
    REQUIRE(segloss_metrics_format(m, c, names, &buf[0], buf.size()) == n);
    return std::string(&buf[0]);
}

segloss_class_metrics cm(double recall, double precision, double iou)
{
    segloss_class_metrics m;
    m.recall = recall;
    m.precision = precision;
    m.iou = iou;
    m.dice = 2 * iou / (1 + iou);
    m.tp = m.fp = m.fn = 0;
    return m;
}

segloss_input input(const float *z, const void *y, segloss_label_type lt, int64_t n, int64_t c, int64_t s,
                    segloss_layout layout)
{
    segloss_input in;
    in.logits = z;
    in.labels = y;
    in.label_type = lt;
    in.n = n;
    in.c = c;
    in.s = s;
    in.layout = layout;
    return in;
}

} // namespace

// ---- the loss guide's snippets -------------------------------------------------------------

TEST_CASE("text: every snippet of the loss guide parses", "[text]")
{
    SECTION("1. cross entropy")
    {
        segloss_config c = parse_ok("loss_type='ce',\n");
        CHECK(same(c, make(SEGLOSS_CE)));
    }
    SECTION("2. weighted cross entropy")
    {
        segloss_config c = parse_ok("loss_type='weighted_ce',\n"
                                    "use_class_weighting=True,  # Enables automatic class weight calculation\n");
        segloss_config want = make(SEGLOSS_WEIGHTED_CE);
        want.use_class_weighting = 1;
        CHECK(same(c, want));
    }
    SECTION("3. focal")
    {
        segloss_config c = parse_ok("loss_type='focal',\n"
                                    "focal_gamma=2.0,  # Standard value, increase for more focus on hard examples\n"
                                    "use_class_weighting=True,  # Optional: combine with class weights\n");
        segloss_config want = make(SEGLOSS_FOCAL);
        want.focal_gamma = 2.0f;
        want.use_class_weighting = 1;
        CHECK(same(c, want));
    }
    SECTION("4. dice")
    {
        segloss_config c = parse_ok("loss_type='dice',\n"
                                    "dice_smooth=1.0,  # Smoothing constant (Laplace smoothing)\n");
        CHECK(same(c, make(SEGLOSS_DICE)));
    }
    SECTION("5. focal + dice, and its example configuration")
    {
        segloss_config want = make(SEGLOSS_FOCAL_DICE);
        want.use_class_weighting = 1;
        CHECK(same(parse_ok("loss_type='focal_dice',\n"
                            "focal_gamma=2.0,        # Focusing parameter\n"
                            "focal_weight=0.5,       # Weight for focal component\n"
                            "dice_weight=0.5,        # Weight for dice component\n"
                            "dice_smooth=1.0,        # Dice smoothing\n"
                            "use_class_weighting=True,  # Apply class weights to focal loss\n"),
                   want));
        CHECK(same(parse_ok("loss_type='focal_dice',\nfocal_gamma=2.0,\nfocal_weight=0.5,\ndice_weight=0.5,\n"
                            "dice_smooth=1.0,\nuse_class_weighting=True,\n"),
                   want));
        // the same configuration on one line, as segloss_config_parse's comment writes it
        CHECK(same(parse_ok("loss_type='focal_dice', focal_gamma=2.0, focal_weight=0.5, dice_weight=0.5, "
                            "dice_smooth=1.0, use_class_weighting=True,"),
                   want));
        CHECK(want.focal_gamma == 2.0f);
        CHECK(want.focal_weight == 0.5f);
        CHECK(want.dice_weight == 0.5f);
        CHECK(want.dice_smooth == 1.0f);
    }
    SECTION("6. tversky, and its example configuration")
    {
        segloss_config want = make(SEGLOSS_TVERSKY);
        want.tversky_alpha = 0.7f;
        want.tversky_beta = 0.3f;
        want.dice_smooth = 1.0f;
        CHECK(same(parse_ok("loss_type='tversky',\n"
                            "tversky_alpha=0.7,  # Weight for False Positives\n"
                            "tversky_beta=0.3,   # Weight for False Negatives\n"
                            "dice_smooth=1.0,\n"),
                   want));
        CHECK(same(parse_ok("loss_type='tversky',\n"
                            "tversky_alpha=0.7,  # Penalize FP more\n"
                            "tversky_beta=0.3,   # Penalize FN less\n"
                            "dice_smooth=1.0,\n"),
                   want));
    }
    SECTION("example: start with focal loss")
    {
        segloss_config c = parse_ok("loss_type='focal',\nfocal_gamma=2.0,\nuse_class_weighting=True,\n");
        CHECK(c.loss_type == SEGLOSS_FOCAL);
        CHECK(c.focal_gamma == 2.0f);
        CHECK(c.use_class_weighting == 1);
    }
    SECTION("inline settings from the prose: short names gamma, smooth, alpha, beta")
    {
        CHECK(parse_ok("gamma=0.0").focal_gamma == 0.0f);
        CHECK(parse_ok("gamma=2.0").focal_gamma == 2.0f);
        CHECK(parse_ok("gamma=3.0").focal_gamma == 3.0f);
        CHECK(parse_ok("gamma=5.0").focal_gamma == 5.0f);
        CHECK(parse_ok("focal_gamma=3.0").focal_gamma == 3.0f);
        CHECK(parse_ok("focal_gamma=5.0").focal_gamma == 5.0f);
        CHECK(parse_ok("smooth=1.0").dice_smooth == 1.0f);
        CHECK(parse_ok("smooth=0.1").dice_smooth == 0.1f);
        CHECK(parse_ok("smooth=10.0").dice_smooth == 10.0f);
        CHECK(parse_ok("dice_smooth=10.0").dice_smooth == 10.0f);
        segloss_config c = parse_ok("focal_weight=0.3, dice_weight=0.7");
        CHECK(c.focal_weight == 0.3f);
        CHECK(c.dice_weight == 0.7f);
        c = parse_ok("focal_weight=0.7, dice_weight=0.3");
        CHECK(c.focal_weight == 0.7f);
        CHECK(c.dice_weight == 0.3f);
        c = parse_ok("focal_weight=0.5, dice_weight=0.5");
        CHECK(c.focal_weight == 0.5f);
        const float ab[4][2] = { { 0.5f, 0.5f }, { 0.7f, 0.3f }, { 0.3f, 0.7f }, { 1.0f, 1.0f } };
        const char *txt[4] = { "alpha=0.5, beta=0.5", "alpha=0.7, beta=0.3", "alpha=0.3, beta=0.7",
                               "alpha=1.0, beta=1.0" };
        for (int i = 0; i < 4; i++) {
            c = parse_ok(txt[i]);
            CHECK(c.tversky_alpha == ab[i][0]);
            CHECK(c.tversky_beta == ab[i][1]);
        }
        CHECK(parse_ok("loss_type='focal_dice'").loss_type == SEGLOSS_FOCAL_DICE);
        CHECK(parse_ok("loss_type='focal'").loss_type == SEGLOSS_FOCAL);
    }
    SECTION("training settings from the troubleshooting prose are not loss keys")
    {
        parse_fails("learning_rate=1e-4", "unknown key 'learning_rate'");
        parse_fails("BASE_CHANNELS=256", "unknown key 'BASE_CHANNELS'");
        parse_fails("epochs=2000", "unknown key 'epochs'");
    }
}

TEST_CASE("text: syntax freedoms", "[text]")
{
    SECTION("quotes, whitespace, separators, comments, CRLF")
    {
        segloss_config want = make(SEGLOSS_FOCAL);
        want.focal_gamma = 3.0f;
        const char *forms[] = {
            "loss_type='focal', focal_gamma=3",
            "loss_type=\"focal\", focal_gamma=3.0",
            "loss_type=focal\nfocal_gamma=3.",
            "  loss_type = 'focal' ,\t focal_gamma = '3.0' ,, ",
            "# a comment first\nloss_type='focal' # comment after a value\r\nfocal_gamma=3e0,\r\n",
            "focal_gamma=3, loss_type='focal'", // loss_type applies first wherever it is
            "loss_type: focal\nfocal_gamma: 3.0\n",
        };
        for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) CHECK(same(parse_ok(forms[i]), want));
    }
    SECTION("empty text, only comments: ce defaults")
    {
        CHECK(same(parse_ok(""), make(SEGLOSS_CE)));
        CHECK(same(parse_ok("  # nothing here\n\n,"), make(SEGLOSS_CE)));
    }
    SECTION("booleans and the other fields")
    {
        const char *t[] = { "True", "true", "1" }, *f[] = { "False", "false", "0" };
        for (int i = 0; i < 3; i++) {
            std::string on = std::string("use_class_weighting=") + t[i] + ", include_background=" + f[i] +
                             ", per_sample=" + t[i] + ", check_finite=" + t[i];
            segloss_config c = parse_ok(on.c_str());
            CHECK(c.use_class_weighting == 1);
            CHECK(c.include_background == 0);
            CHECK(c.per_sample == 1);
            CHECK(c.check_finite == 1);
        }
        segloss_config c = parse_ok("ignore_index=255, reduction='sum'");
        CHECK(c.ignore_index == 255);
        CHECK(c.reduction == SEGLOSS_SUM);
        c = parse_ok("ignore_index=-100, reduction=mean");
        CHECK(c.ignore_index == -100);
        CHECK(c.reduction == SEGLOSS_MEAN);
        CHECK(parse_ok("ignore_index=-9223372036854775808").ignore_index == INT64_MIN);
        CHECK(parse_ok("ignore_index=9223372036854775807").ignore_index == INT64_MAX);
        // defaults of the loss type survive keys that do not touch them
        c = parse_ok("loss_type='weighted_ce', ignore_index=255");
        CHECK(c.use_class_weighting == make(SEGLOSS_WEIGHTED_CE).use_class_weighting);
    }
}

TEST_CASE("text: errors name the key and leave the config untouched", "[text]")
{
    parse_fails("loss_type='focal', foo=1", "unknown key 'foo'");
    parse_fails("focal_gamma=abc", "bad value 'abc' for key 'focal_gamma'");
    parse_fails("focal_gamma=2.0x", "bad value '2.0x' for key 'focal_gamma'");
    parse_fails("focal_gamma=", "bad value '' for key 'focal_gamma'");
    parse_fails("focal_gamma=nan", "focal_gamma");
    parse_fails("focal_gamma=inf", "focal_gamma");
    parse_fails("focal_gamma=1e40", "focal_gamma");
    parse_fails("focal_gamma=-1", "focal_gamma must be >= 0");
    parse_fails("gamma=-0.5", "gamma must be >= 0");
    parse_fails("dice_smooth=-1", "dice_smooth must be >= 0");
    parse_fails("tversky_alpha=-0.1", "tversky_alpha must be >= 0");
    parse_fails("beta=-2", "beta must be >= 0");
    parse_fails("focal_weight=-1", "focal_weight must be >= 0");
    parse_fails("loss_type='focal_dice', focal_weight=0, dice_weight=0", "focal_weight and dice_weight");
    parse_fails("loss_type='focall'", "bad value 'focall' for key 'loss_type'");
    parse_fails("loss_type='FOCAL'", "bad value 'FOCAL' for key 'loss_type'");
    parse_fails("use_class_weighting=yes", "bad value 'yes' for key 'use_class_weighting'");
    parse_fails("per_sample=2", "bad value '2' for key 'per_sample'");
    parse_fails("reduction='none'", "bad value 'none' for key 'reduction'");
    parse_fails("ignore_index=1.5", "bad value '1.5' for key 'ignore_index'");
    parse_fails("ignore_index=9223372036854775808", "key 'ignore_index'");
    parse_fails("class_weights=[1.0, 2.0]", "class_weights");
    parse_fails("class_weights=[1.0, 2.0]", "array");
    parse_fails("gamma=2, focal_gamma=3", "duplicate key 'focal_gamma'");
    parse_fails("loss_type='ce', loss_type='dice'", "duplicate key 'loss_type'");
    parse_fails("focal_gamma=2.0 dice_smooth=1.0", "after the value of key 'focal_gamma'");
    parse_fails("focal_gamma 2.0", "expected '=' after key 'focal_gamma'");
    parse_fails("loss_type='ce", "unterminated quote in the value of key 'loss_type'");
    parse_fails("=2", "expected a key");
    parse_fails("Focal gamma=2", "unknown key 'Focal gamma'"); // printout labels need ':'

    SECTION("message buffer: NULL, tiny, always terminated; NULL arguments")
    {
        segloss_config cfg = make(SEGLOSS_DICE), before = cfg;
        CHECK(segloss_config_parse("foo=1", &cfg, NULL, 0) == SEGLOSS_ERR_PARSE);
        char small[8];
        std::memset(small, 'x', sizeof small);
        CHECK(segloss_config_parse("foo=1", &cfg, small, sizeof small) == SEGLOSS_ERR_PARSE);
        CHECK(std::string(small) == "unknown");
        CHECK(same(cfg, before));
        CHECK(segloss_config_parse(NULL, &cfg, NULL, 0) == SEGLOSS_ERR_NULL);
        CHECK(segloss_config_parse("ce", NULL, NULL, 0) == SEGLOSS_ERR_NULL);
        char ok[16] = "stale";
        CHECK(segloss_config_parse("gamma=1", &cfg, ok, sizeof ok) == SEGLOSS_OK);
        CHECK(ok[0] == 0);
    }
}

TEST_CASE("text: loss names", "[text]")
{
    const char *names[] = { "ce", "weighted_ce", "focal", "dice", "focal_dice", "tversky", "generalized_dice" };
    REQUIRE(sizeof names / sizeof names[0] == SEGLOSS_LOSS_COUNT);
    for (int i = 0; i < SEGLOSS_LOSS_COUNT; i++) {
        segloss_loss_type t;
        CHECK(std::string(segloss_loss_name((segloss_loss_type)i)) == names[i]);
        REQUIRE(segloss_loss_from_name(names[i], &t) == SEGLOSS_OK);
        CHECK(t == (segloss_loss_type)i);
    }
    segloss_loss_type t = SEGLOSS_DICE;
    CHECK(segloss_loss_name((segloss_loss_type)SEGLOSS_LOSS_COUNT) == NULL);
    CHECK(segloss_loss_from_name("bce", &t) != SEGLOSS_OK);
    CHECK(t == SEGLOSS_DICE);
    CHECK(segloss_loss_from_name(NULL, &t) == SEGLOSS_ERR_NULL);
}

// ---- printout ---------------------------------------------------------------------------

TEST_CASE("format: the guide's block for 80/10/7/3 %", "[text]")
{
    const int64_t counts[4] = { 800, 100, 70, 30 };
    float w[4];
    REQUIRE(segloss_class_weights(SEGLOSS_WEIGHT_INVERSE, counts, 4, w) == SEGLOSS_OK);
    segloss_config cfg = make(SEGLOSS_FOCAL_DICE);
    cfg.use_class_weighting = 1;
    CHECK(format(cfg, w, 4) == "Loss Configuration:\n"
                               "  - Loss type: focal_dice\n"
                               "  - Focal gamma: 2.0\n"
                               "  - Focal weight: 0.5\n"
                               "  - Dice weight: 0.5\n"
                               "  - Dice smooth: 1.0\n"
                               "  - Class weights: [1.25 10.0 14.3 33.3]\n");
}

TEST_CASE("format: lines per loss type", "[text]")
{
    const float w[4] = { 1.25f, 10.0f, 14.2857f, 33.333f };
    const char *head = "Loss Configuration:\n  - Loss type: ";
    const std::string wl = "  - Class weights: [1.25 10.0 14.3 33.3]\n";
    segloss_config c = make(SEGLOSS_CE);
    CHECK(format(c, NULL, 0) == std::string(head) + "ce\n");
    CHECK(format(c, w, 4) == std::string(head) + "ce\n" + wl);
    c = make(SEGLOSS_WEIGHTED_CE);
    CHECK(format(c, NULL, 0) == std::string(head) + "weighted_ce\n");
    CHECK(format(c, w, 4) == std::string(head) + "weighted_ce\n" + wl);
    c = make(SEGLOSS_FOCAL);
    CHECK(format(c, NULL, 0) == std::string(head) + "focal\n  - Focal gamma: 2.0\n");
    c.focal_gamma = 0.25f;
    CHECK(format(c, w, 4) == std::string(head) + "focal\n  - Focal gamma: 0.25\n" + wl);
    c = make(SEGLOSS_DICE);
    CHECK(format(c, w, 4) == std::string(head) + "dice\n  - Dice smooth: 1.0\n"); // Dice takes no weights
    c.dice_smooth = 0.05f;
    CHECK(format(c, NULL, 0) == std::string(head) + "dice\n  - Dice smooth: 0.05\n");
    c = make(SEGLOSS_FOCAL_DICE);
    CHECK(format(c, NULL, 0) == std::string(head) +
                                    "focal_dice\n  - Focal gamma: 2.0\n  - Focal weight: 0.5\n"
                                    "  - Dice weight: 0.5\n  - Dice smooth: 1.0\n");
    c = make(SEGLOSS_TVERSKY);
    c.tversky_alpha = 0.7f;
    c.tversky_beta = 0.3f;
    c.dice_smooth = 1.0f;
    CHECK(format(c, w, 4) == std::string(head) +
                                 "tversky\n  - Tversky alpha: 0.7\n  - Tversky beta: 0.3\n  - Dice smooth: 1.0\n");
    c.dice_smooth = 10.0f;
    c.tversky_alpha = 1.0f / 3.0f; // not exact at %g: printed so that it reads back the same
    std::string s = format(c, NULL, 0);
    CHECK(s.find("  - Dice smooth: 10.0\n") != std::string::npos);
    CHECK(s.find("  - Tversky alpha: 0.333333343\n") != std::string::npos);
    const float odd[3] = { 0.0f, 1.0f, 1234.5f };
    c = make(SEGLOSS_CE);
    CHECK(format(c, odd, 3) == std::string(head) + "ce\n  - Class weights: [0.00 1.00 1.23e+03]\n");
}

TEST_CASE("format: snprintf contract", "[text]")
{
    segloss_config c = make(SEGLOSS_FOCAL_DICE);
    const std::string full = format(c, NULL, 0);
    char buf[32];
    std::memset(buf, '#', sizeof buf);
    int n = segloss_config_format(&c, NULL, 0, buf, 10);
    CHECK(n == (int)full.size());
    CHECK(std::string(buf) == full.substr(0, 9));
    for (size_t i = 10; i < sizeof buf; i++) CHECK(buf[i] == '#');
    std::memset(buf, '#', sizeof buf);
    CHECK(segloss_config_format(&c, NULL, 0, buf, 1) == n);
    CHECK(buf[0] == 0);
    CHECK(buf[1] == '#');
    std::memset(buf, '#', sizeof buf);
    CHECK(segloss_config_format(&c, NULL, 0, buf, 0) == n);
    CHECK(buf[0] == '#');
    CHECK(segloss_config_format(NULL, NULL, 0, buf, sizeof buf) == -1);
    CHECK(buf[0] == 0);
    float w = 1.0f;
    CHECK(segloss_config_format(&c, &w, 0, buf, sizeof buf) == -1);
    segloss_config bad = c;
    bad.loss_type = (segloss_loss_type)7; // in the enum's value range (C++), not a loss
    CHECK(segloss_config_format(&bad, NULL, 0, buf, sizeof buf) == -1);
}

TEST_CASE("format then parse gives the configuration back", "[text]")
{
    segloss_config cs[SEGLOSS_LOSS_COUNT];
    for (int i = 0; i < SEGLOSS_LOSS_COUNT; i++) cs[i] = make((segloss_loss_type)i);
    cs[SEGLOSS_GENERALIZED_DICE].dice_smooth = 1e-5f;
    cs[SEGLOSS_GENERALIZED_DICE].include_background = 0;
    cs[SEGLOSS_GENERALIZED_DICE].per_sample = 1;
    cs[SEGLOSS_FOCAL].focal_gamma = 0.3f;
    cs[SEGLOSS_DICE].dice_smooth = 1.0f / 3.0f;
    cs[SEGLOSS_FOCAL_DICE].focal_gamma = 5.0f;
    cs[SEGLOSS_FOCAL_DICE].focal_weight = 0.3f;
    cs[SEGLOSS_FOCAL_DICE].dice_weight = 0.7f;
    cs[SEGLOSS_FOCAL_DICE].dice_smooth = 1e-5f;
    cs[SEGLOSS_TVERSKY].tversky_alpha = 0.3f;
    cs[SEGLOSS_TVERSKY].tversky_beta = 0.7f;
    cs[SEGLOSS_TVERSKY].dice_smooth = 10.0f;
    for (int i = 0; i < SEGLOSS_LOSS_COUNT; i++) {
        std::string s = format(cs[i], NULL, 0);
        INFO(s);
        CHECK(same(parse_ok(s.c_str()), cs[i]));
    }
    // weights are not part of a configuration text
    const float w[2] = { 1.0f, 2.0f };
    parse_fails(format(cs[SEGLOSS_FOCAL], w, 2).c_str(), "Class weights");
}

// ---- issue #17: the sigmoid, label smoothing, focal alpha, pos_weight, generalized Dice ------

TEST_CASE("text: activation, label_smoothing, focal_alpha", "[text]")
{
    SECTION("activation: softmax (the default) or sigmoid, quoted or bare, or as the printout's label")
    {
        CHECK(make(SEGLOSS_CE).activation == SEGLOSS_SOFTMAX);
        CHECK(parse_ok("activation='sigmoid'").activation == SEGLOSS_SIGMOID);
        CHECK(parse_ok("activation=\"sigmoid\"").activation == SEGLOSS_SIGMOID);
        CHECK(parse_ok("activation=sigmoid").activation == SEGLOSS_SIGMOID);
        CHECK(parse_ok("Activation: sigmoid").activation == SEGLOSS_SIGMOID);
        CHECK(parse_ok("activation='softmax'").activation == SEGLOSS_SOFTMAX);
        segloss_config want = make(SEGLOSS_WEIGHTED_CE);
        want.activation = SEGLOSS_SIGMOID;
        CHECK(same(parse_ok("activation='sigmoid', loss_type='weighted_ce'"), want)); // loss_type still first
    }
    SECTION("label_smoothing in [0, 1]")
    {
        CHECK(make(SEGLOSS_CE).label_smoothing == 0.0f);
        CHECK(parse_ok("label_smoothing=0.1").label_smoothing == 0.1f);
        CHECK(parse_ok("label_smoothing=0").label_smoothing == 0.0f);
        CHECK(parse_ok("label_smoothing=1.0").label_smoothing == 1.0f);
        CHECK(parse_ok("Label smoothing: 0.05").label_smoothing == 0.05f);
        // a CE-family term with gamma 0 takes it; so does the sigmoid (its CE has no softmax term to smooth)
        CHECK(parse_ok("loss_type='focal', focal_gamma=0, label_smoothing=0.1").label_smoothing == 0.1f);
        // where nothing would be smoothed it is refused, as segloss_compute refuses it
        parse_fails("loss_type='dice', label_smoothing=0.1", "not to dice");
        parse_fails("loss_type='focal', activation='sigmoid', label_smoothing=0.1", "under the sigmoid");
        CHECK(std::signbit(parse_ok("label_smoothing=-0.0").label_smoothing) == 0); // stored as +0: the printout's 0
    }
    SECTION("focal_alpha: [0, 1], negative or None for none")
    {
        CHECK(make(SEGLOSS_FOCAL).focal_alpha == 0.25f);
        CHECK(parse_ok("focal_alpha=0.5").focal_alpha == 0.5f);
        CHECK(parse_ok("focal_alpha=0").focal_alpha == 0.0f);
        CHECK(parse_ok("focal_alpha=1").focal_alpha == 1.0f);
        CHECK(parse_ok("focal_alpha=-1").focal_alpha == -1.0f);
        CHECK(parse_ok("focal_alpha=-0.5").focal_alpha == -0.5f); // any negative: none
        CHECK(parse_ok("focal_alpha=None").focal_alpha == -1.0f);
        CHECK(parse_ok("focal_alpha='none'").focal_alpha == -1.0f);
        CHECK(parse_ok("Focal alpha: none").focal_alpha == -1.0f);
        float z = parse_ok("focal_alpha=-0.0").focal_alpha; // not negative: alpha 0
        CHECK(z == 0.0f);
        CHECK(!(z < 0.0f));
        // alpha is tversky_alpha's short name: torchvision's alpha is focal_alpha
        segloss_config c = parse_ok("alpha=0.25");
        CHECK(c.tversky_alpha == 0.25f);
        CHECK(c.focal_alpha == 0.25f);
        c = parse_ok("loss_type='tversky', alpha=0.9, focal_alpha=-1");
        CHECK(c.tversky_alpha == 0.9f);
        CHECK(c.focal_alpha == -1.0f);
    }
    SECTION("a binary setup the way a PyTorch user writes it (torchvision's sigmoid_focal_loss)")
    {
        segloss_config c = parse_ok("loss_type='focal',\n"
                                    "activation='sigmoid',  # BCE-style, one channel\n"
                                    "focal_gamma=2.0,\n"
                                    "focal_alpha=0.25,  # torchvision's default\n"
                                    "reduction='mean',\n");
        segloss_config want = make(SEGLOSS_FOCAL);
        want.activation = SEGLOSS_SIGMOID;
        CHECK(same(c, want));
        c = parse_ok("loss_type='ce', label_smoothing=0.1, ignore_index=255,  # F.cross_entropy's keywords\n");
        CHECK(c.label_smoothing == 0.1f);
        CHECK(c.ignore_index == 255);
        c = parse_ok("loss_type='generalized_dice', smooth=1e-5, include_background=False, per_sample=True");
        CHECK(c.loss_type == SEGLOSS_GENERALIZED_DICE);
        CHECK(c.dice_smooth == 1e-5f);
        CHECK(c.include_background == 0);
        CHECK(c.per_sample == 1);
    }
}

TEST_CASE("text: errors of the new keys name the key and the value", "[text]")
{
    parse_fails("activation='relu'", "bad value 'relu' for key 'activation': use 'softmax' or 'sigmoid'");
    parse_fails("activation='Sigmoid'", "bad value 'Sigmoid' for key 'activation'");
    parse_fails("activation=1", "bad value '1' for key 'activation'");
    parse_fails("activation=", "bad value '' for key 'activation'");
    parse_fails("activation='sigmoid', activation='softmax'", "duplicate key 'activation'");
    parse_fails("Activation: sigmoid\nactivation=sigmoid", "duplicate key 'activation'");
    parse_fails("label_smoothing=1.5", "label_smoothing must be in [0, 1]");
    parse_fails("label_smoothing=-0.1", "label_smoothing must be in [0, 1]");
    parse_fails("label_smoothing=nan", "bad value 'nan' for key 'label_smoothing'");
    parse_fails("label_smoothing=0.1.", "bad value '0.1.' for key 'label_smoothing'");
    parse_fails("focal_alpha=1.5", "focal_alpha must be in [0, 1], or -1 (None) for no alpha");
    parse_fails("focal_alpha=inf", "bad value 'inf' for key 'focal_alpha'");
    parse_fails("focal_alpha=-inf", "bad value '-inf' for key 'focal_alpha'");
    parse_fails("focal_alpha=NULL", "bad value 'NULL' for key 'focal_alpha'");
    parse_fails("pos_weight=[3.0]", "key 'pos_weight': pos weight must be passed as a float array in code "
                                    "(cfg.pos_weight), not as text");
    parse_fails("pos_weight=torch.tensor([3.0, 1.0])", "cfg.pos_weight");
    parse_fails("Pos weight: [2.00 3.00]", "key 'Pos weight'");
    parse_fails("loss_type='generalized_dce'", "use 'ce', 'weighted_ce', 'focal', 'dice', 'focal_dice', 'tversky' or "
                                               "'generalized_dice'");
    // a softmax focal term refuses label smoothing (segloss_compute does): caught here
    parse_fails("loss_type='focal', label_smoothing=0.1", "label_smoothing 0.1 needs focal_gamma 0");
    parse_fails("loss_type='focal_dice', gamma=0.5, label_smoothing=0.2", "label_smoothing 0.2 needs focal_gamma 0");
    parse_fails("Include background: maybe", "bad value 'maybe' for key 'Include background'");
}

TEST_CASE("format: the sigmoid, focal alpha, label smoothing, pos weight, generalized Dice", "[text]")
{
    const char *head = "Loss Configuration:\n  - Loss type: ";
    const float pw[2] = { 3.0f, 0.5f };
    const float w[2] = { 1.0f, 2.0f };
    SECTION("softmax goes without saying; the sigmoid gets a line after the loss type")
    {
        segloss_config c = make(SEGLOSS_CE);
        c.activation = SEGLOSS_SIGMOID;
        CHECK(format(c, NULL, 0) == std::string(head) + "ce\n  - Activation: sigmoid\n");
        c = make(SEGLOSS_DICE);
        c.activation = SEGLOSS_SIGMOID;
        CHECK(format(c, NULL, 0) == std::string(head) + "dice\n  - Activation: sigmoid\n  - Dice smooth: 1.0\n");
        c = make(SEGLOSS_TVERSKY);
        c.activation = SEGLOSS_SIGMOID;
        c.focal_alpha = 0.5f; // tversky has no focal term: no alpha line
        CHECK(format(c, NULL, 0) == std::string(head) +
                                        "tversky\n  - Activation: sigmoid\n  - Tversky alpha: 0.7\n"
                                        "  - Tversky beta: 0.3\n  - Dice smooth: 1.0\n");
    }
    SECTION("focal alpha: sigmoid focal terms only; 'none' when negative")
    {
        segloss_config c = make(SEGLOSS_FOCAL);
        CHECK(format(c, NULL, 0) == std::string(head) + "focal\n  - Focal gamma: 2.0\n"); // softmax: no alpha
        c.activation = SEGLOSS_SIGMOID;
        CHECK(format(c, NULL, 0) == std::string(head) +
                                        "focal\n  - Activation: sigmoid\n  - Focal gamma: 2.0\n  - Focal alpha: 0.25\n");
        c.focal_alpha = -1.0f;
        CHECK(format(c, w, 2) == std::string(head) +
                                     "focal\n  - Activation: sigmoid\n  - Focal gamma: 2.0\n  - Focal alpha: none\n"
                                     "  - Class weights: [1.00 2.00]\n");
        c = make(SEGLOSS_FOCAL_DICE);
        c.activation = SEGLOSS_SIGMOID;
        c.focal_alpha = 0.75f;
        c.pos_weight = pw; // the focal term takes no pos_weight: no line
        CHECK(format(c, NULL, 2) == std::string(head) +
                                        "focal_dice\n  - Activation: sigmoid\n  - Focal gamma: 2.0\n"
                                        "  - Focal alpha: 0.75\n  - Focal weight: 0.5\n  - Dice weight: 0.5\n"
                                        "  - Dice smooth: 1.0\n");
    }
    SECTION("label smoothing: softmax CE-family terms, when > 0")
    {
        segloss_config c = make(SEGLOSS_CE);
        c.label_smoothing = 0.1f;
        CHECK(format(c, w, 2) == std::string(head) + "ce\n  - Label smoothing: 0.1\n  - Class weights: [1.00 2.00]\n");
        c.loss_type = SEGLOSS_WEIGHTED_CE;
        CHECK(format(c, NULL, 0) == std::string(head) + "weighted_ce\n  - Label smoothing: 0.1\n");
        c = make(SEGLOSS_FOCAL);
        c.focal_gamma = 0.0f;
        c.label_smoothing = 0.2f;
        CHECK(format(c, NULL, 0) == std::string(head) + "focal\n  - Focal gamma: 0.0\n  - Label smoothing: 0.2\n");
        c = make(SEGLOSS_DICE);
        c.label_smoothing = 0.1f; // no CE term
        CHECK(format(c, NULL, 0) == std::string(head) + "dice\n  - Dice smooth: 1.0\n");
        c = make(SEGLOSS_CE);
        c.label_smoothing = 0.1f;
        c.activation = SEGLOSS_SIGMOID; // the sigmoid's BCE does not smooth
        CHECK(format(c, NULL, 0) == std::string(head) + "ce\n  - Activation: sigmoid\n");
    }
    SECTION("pos weight: sigmoid ce and weighted_ce, c values as class weights'")
    {
        segloss_config c = make(SEGLOSS_CE);
        c.pos_weight = pw;
        CHECK(format(c, NULL, 2) == std::string(head) + "ce\n"); // softmax: no pos_weight
        c.activation = SEGLOSS_SIGMOID;
        CHECK(format(c, NULL, 2) == std::string(head) + "ce\n  - Activation: sigmoid\n  - Pos weight: [3.00 0.500]\n");
        c.loss_type = SEGLOSS_WEIGHTED_CE;
        CHECK(format(c, w, 2) == std::string(head) +
                                     "weighted_ce\n  - Activation: sigmoid\n  - Class weights: [1.00 2.00]\n"
                                     "  - Pos weight: [3.00 0.500]\n");
        char buf[8] = "x";
        CHECK(segloss_config_format(&c, NULL, 0, buf, sizeof buf) == -1); // c values, c <= 0
        CHECK(buf[0] == 0);
        c.loss_type = SEGLOSS_FOCAL;
        CHECK(segloss_config_format(&c, NULL, 0, buf, sizeof buf) > 0); // not printed: c not needed
    }
    SECTION("generalized_dice: smooth, include_background, per_sample")
    {
        segloss_config c = make(SEGLOSS_GENERALIZED_DICE);
        CHECK(format(c, w, 2) == std::string(head) +
                                     "generalized_dice\n  - Dice smooth: 1.0\n  - Include background: True\n"
                                     "  - Per sample: False\n"); // no class weights
        c.dice_smooth = 1e-5f;
        c.include_background = 0;
        c.per_sample = 1;
        c.activation = SEGLOSS_SIGMOID;
        CHECK(format(c, NULL, 0) == std::string(head) +
                                        "generalized_dice\n  - Activation: sigmoid\n  - Dice smooth: 1e-05\n"
                                        "  - Include background: False\n  - Per sample: True\n");
    }
}

TEST_CASE("format then parse: the new fields come back", "[text]")
{
    std::vector<segloss_config> cs;
    segloss_config c = make(SEGLOSS_CE);
    c.activation = SEGLOSS_SIGMOID;
    cs.push_back(c);
    c = make(SEGLOSS_CE);
    c.label_smoothing = 0.1f;
    cs.push_back(c);
    c = make(SEGLOSS_WEIGHTED_CE);
    c.label_smoothing = 1.0f / 3.0f;
    cs.push_back(c);
    c = make(SEGLOSS_FOCAL);
    c.activation = SEGLOSS_SIGMOID;
    c.focal_alpha = 0.3f;
    cs.push_back(c);
    c.focal_alpha = -1.0f;
    cs.push_back(c);
    c.focal_alpha = 0.0f;
    cs.push_back(c);
    c = make(SEGLOSS_FOCAL);
    c.focal_gamma = 0.0f;
    c.label_smoothing = 0.05f;
    cs.push_back(c);
    c = make(SEGLOSS_FOCAL_DICE);
    c.activation = SEGLOSS_SIGMOID;
    c.focal_alpha = 0.6f;
    c.focal_weight = 1.0f;
    c.dice_weight = 1.0f;
    cs.push_back(c);
    c = make(SEGLOSS_GENERALIZED_DICE);
    c.include_background = 0;
    c.per_sample = 1;
    c.dice_smooth = 1e-5f;
    cs.push_back(c);
    c.activation = SEGLOSS_SIGMOID;
    c.include_background = 1;
    c.per_sample = 0;
    cs.push_back(c);
    for (size_t i = 0; i < cs.size(); i++) {
        std::string s = format(cs[i], NULL, 0);
        INFO(s);
        CHECK(same(parse_ok(s.c_str()), cs[i]));
    }
    // pos_weight, like class weights, is not part of a configuration text
    const float pw[1] = { 4.0f };
    c = make(SEGLOSS_CE);
    c.activation = SEGLOSS_SIGMOID;
    c.pos_weight = pw;
    parse_fails(format(c, NULL, 1).c_str(), "Pos weight");
}

// ---- label counts and class weights -----------------------------------------------------

TEST_CASE("histogram: counts, ignore_index, label types, errors write nothing", "[metrics]")
{
    const uint8_t y8[6] = { 0, 2, 255, 2, 1, 2 };
    int64_t counts[3] = { 0, 0, 0 };
    segloss_input in = input(NULL, y8, SEGLOSS_LABEL_U8, 2, 3, 3, SEGLOSS_NCHW);
    REQUIRE(segloss_label_histogram(&in, 255, counts) == SEGLOSS_OK);
    CHECK(counts[0] == 1);
    CHECK(counts[1] == 1);
    CHECK(counts[2] == 3);
    REQUIRE(segloss_label_histogram(&in, 255, counts) == SEGLOSS_OK); // accumulates
    CHECK(counts[2] == 6);

    const int32_t y32[4] = { -100, 1, 1, 0 };
    const int64_t y64[4] = { -100, 1, 1, 0 };
    int64_t a[2] = { 0, 0 }, b[2] = { 0, 0 };
    segloss_input i32 = input(NULL, y32, SEGLOSS_LABEL_I32, 1, 2, 4, SEGLOSS_NHWC);
    segloss_input i64 = input(NULL, y64, SEGLOSS_LABEL_I64, 1, 2, 4, SEGLOSS_NHWC);
    REQUIRE(segloss_label_histogram(&i32, -100, a) == SEGLOSS_OK);
    REQUIRE(segloss_label_histogram(&i64, -100, b) == SEGLOSS_OK);
    CHECK((a[0] == 1 && a[1] == 2 && b[0] == 1 && b[1] == 2));

    int64_t canary[3] = { 7, 7, 7 };
    CHECK(segloss_label_histogram(&in, -100, canary) == SEGLOSS_ERR_LABEL); // 255 is a bad label now
    const int32_t bad[4] = { 0, 1, -1, 0 };
    segloss_input ib = input(NULL, bad, SEGLOSS_LABEL_I32, 1, 3, 4, SEGLOSS_NCHW);
    CHECK(segloss_label_histogram(&ib, -100, canary) == SEGLOSS_ERR_LABEL);
    CHECK((canary[0] == 7 && canary[1] == 7 && canary[2] == 7));
    CHECK(segloss_label_histogram(NULL, -100, canary) == SEGLOSS_ERR_NULL);
    CHECK(segloss_label_histogram(&in, 255, NULL) == SEGLOSS_ERR_NULL);
    segloss_input shape = in;
    shape.s = 0;
    CHECK(segloss_label_histogram(&shape, 255, canary) == SEGLOSS_ERR_SHAPE);
    shape = in;
    shape.n = INT64_MAX / 2;
    CHECK(segloss_label_histogram(&shape, 255, canary) == SEGLOSS_ERR_SHAPE);
    shape = in;
    shape.label_type = (segloss_label_type)5;
    CHECK(segloss_label_histogram(&shape, 255, canary) == SEGLOSS_ERR_ENUM);
    shape.label_type = SEGLOSS_TARGET_U8; // per-channel targets have no class to count
    CHECK(segloss_label_histogram(&shape, 255, canary) == SEGLOSS_ERR_PARAM);
    CHECK((canary[0] == 7 && canary[1] == 7 && canary[2] == 7));
}

TEST_CASE("class weights: the four methods on hand-computed counts", "[metrics]")
{
    const int64_t counts[4] = { 800, 100, 70, 30 };
    float w[4];
    REQUIRE(segloss_class_weights(SEGLOSS_WEIGHT_INVERSE, counts, 4, w) == SEGLOSS_OK);
    CHECK(w[0] == 1.25f);
    CHECK(w[1] == 10.0f);
    CHECK(w[2] == Approx(1000.0 / 70));
    CHECK(w[3] == Approx(1000.0 / 30));

    // median of the counts {30, 70, 100, 800} = 85: weight = 85 / n_c
    REQUIRE(segloss_class_weights(SEGLOSS_WEIGHT_MEDIAN, counts, 4, w) == SEGLOSS_OK);
    CHECK(w[0] == Approx(85.0 / 800));
    CHECK(w[1] == Approx(0.85));
    CHECK(w[2] == Approx(85.0 / 70));
    CHECK(w[3] == Approx(85.0 / 30));
    const int64_t odd[5] = { 10, 0, 30, 20, 0 }; // present {10, 20, 30}: median 20, absent -> 0
    float w5[5];
    REQUIRE(segloss_class_weights(SEGLOSS_WEIGHT_MEDIAN, odd, 5, w5) == SEGLOSS_OK);
    CHECK(w5[0] == 2.0f);
    CHECK(w5[1] == 0.0f);
    CHECK(w5[2] == Approx(2.0 / 3));
    CHECK(w5[3] == 1.0f);
    CHECK(w5[4] == 0.0f);

    REQUIRE(segloss_class_weights(SEGLOSS_WEIGHT_INV_SQRT, counts, 4, w) == SEGLOSS_OK);
    CHECK(w[0] == Approx(std::sqrt(1.25)));
    CHECK(w[1] == Approx(std::sqrt(10.0)));
    CHECK(w[3] == Approx(std::sqrt(1000.0 / 30)));

    // effective number: E(1) = 1, E(n) = (1 - b^n) / (1 - b); weights 1/E, scaled to sum to 2
    const int64_t eff[3] = { 1, 0, 10000 };
    float w3[3];
    REQUIRE(segloss_class_weights(SEGLOSS_WEIGHT_EFFECTIVE, eff, 3, w3) == SEGLOSS_OK);
    double e2 = (1.0 - std::pow(0.9999, 10000.0)) / 1e-4; // 6321.4 effective samples
    CHECK(e2 == Approx(6321.389).epsilon(1e-5));
    double r1 = 1.0, r2 = 1.0 / e2, s = r1 + r2;
    CHECK(w3[0] == Approx(2 * r1 / s));
    CHECK(w3[1] == 0.0f);
    CHECK(w3[2] == Approx(2 * r2 / s));
    CHECK(w3[0] + w3[2] == Approx(2.0));
    const int64_t two[2] = { 5, 5 };
    float w2[2];
    REQUIRE(segloss_class_weights(SEGLOSS_WEIGHT_EFFECTIVE, two, 2, w2) == SEGLOSS_OK);
    CHECK(w2[0] == Approx(1.0));
    CHECK(w2[1] == Approx(1.0));

    SECTION("no class present: all 0; errors write nothing")
    {
        const int64_t zero[3] = { 0, 0, 0 };
        float z[3] = { 9, 9, 9 };
        for (int m = 0; m < 4; m++) {
            REQUIRE(segloss_class_weights((segloss_weighting)m, zero, 3, z) == SEGLOSS_OK);
            CHECK((z[0] == 0.0f && z[1] == 0.0f && z[2] == 0.0f));
        }
        float c[2] = { 9, 9 };
        const int64_t neg[2] = { 5, -1 };
        CHECK(segloss_class_weights(SEGLOSS_WEIGHT_INVERSE, neg, 2, c) == SEGLOSS_ERR_PARAM);
        CHECK(segloss_class_weights(SEGLOSS_WEIGHT_INVERSE, two, 0, c) == SEGLOSS_ERR_SHAPE);
        CHECK(segloss_class_weights(SEGLOSS_WEIGHT_INVERSE, NULL, 2, c) == SEGLOSS_ERR_NULL);
        CHECK(segloss_class_weights(SEGLOSS_WEIGHT_INVERSE, two, 2, NULL) == SEGLOSS_ERR_NULL);
        CHECK((c[0] == 9.0f && c[1] == 9.0f));
    }
}

TEST_CASE("weights_for: the weights segloss_compute uses", "[metrics]")
{
    // 10 positions: 6 x class 0, 3 x class 1, 1 ignored, class 2 absent
    const uint8_t y[10] = { 0, 0, 1, 0, 255, 1, 0, 0, 1, 0 };
    segloss_input in = input(NULL, y, SEGLOSS_LABEL_U8, 1, 3, 10, SEGLOSS_NCHW);
    float w[3];
    segloss_config c = make(SEGLOSS_FOCAL_DICE);
    c.ignore_index = 255;
    c.use_class_weighting = 1;
    REQUIRE(segloss_weights_for(&c, &in, w) == SEGLOSS_OK);
    CHECK(w[0] == Approx(9.0 / 6));
    CHECK(w[1] == 3.0f);
    CHECK(w[2] == 0.0f);
    segloss_config wce = make(SEGLOSS_WEIGHTED_CE);
    wce.ignore_index = 255;
    REQUIRE(segloss_weights_for(&wce, &in, w) == SEGLOSS_OK);
    CHECK(w[1] == (wce.use_class_weighting ? 3.0f : 1.0f));
    const segloss_loss_type unweighted[2] = { SEGLOSS_DICE, SEGLOSS_TVERSKY };
    for (int i = 0; i < 2; i++) { // no CE-family term: all 1 even with use_class_weighting
        segloss_config d = make(unweighted[i]);
        d.ignore_index = 255;
        d.use_class_weighting = 1;
        REQUIRE(segloss_weights_for(&d, &in, w) == SEGLOSS_OK);
        CHECK((w[0] == 1.0f && w[1] == 1.0f && w[2] == 1.0f));
    }
    segloss_config ce = make(SEGLOSS_CE);
    ce.ignore_index = 255;
    REQUIRE(segloss_weights_for(&ce, &in, w) == SEGLOSS_OK);
    CHECK((w[0] == 1.0f && w[1] == 1.0f && w[2] == 1.0f));
    const float given[3] = { 0.5f, 2.0f, 0.0f };
    ce.class_weights = given;
    REQUIRE(segloss_weights_for(&ce, &in, w) == SEGLOSS_OK);
    CHECK((w[0] == 0.5f && w[1] == 2.0f && w[2] == 0.0f));

    float canary[3] = { 7, 7, 7 };
    const float neg[3] = { 1.0f, -1.0f, 1.0f };
    ce.class_weights = neg;
    CHECK(segloss_weights_for(&ce, &in, canary) == SEGLOSS_ERR_WEIGHTS);
    c.ignore_index = -100; // 255 is now a label error
    CHECK(segloss_weights_for(&c, &in, canary) == SEGLOSS_ERR_LABEL);
    CHECK(segloss_weights_for(NULL, &in, canary) == SEGLOSS_ERR_NULL);
    CHECK((canary[0] == 7.0f && canary[1] == 7.0f && canary[2] == 7.0f));

    SECTION("more than 256 classes (counted in blocks)")
    {
        std::vector<int32_t> yy;
        for (int k = 0; k < 600; k++)
            for (int r = 0; r <= k % 3; r++) yy.push_back(k);
        segloss_input big = input(NULL, &yy[0], SEGLOSS_LABEL_I32, 1, 601, (int64_t)yy.size(), SEGLOSS_NHWC);
        std::vector<float> ww(601);
        segloss_config cw = make(SEGLOSS_FOCAL);
        cw.use_class_weighting = 1;
        REQUIRE(segloss_weights_for(&cw, &big, &ww[0]) == SEGLOSS_OK);
        for (int k = 0; k < 600; k++) CHECK(ww[k] == (float)((double)yy.size() / (k % 3 + 1)));
        CHECK(ww[600] == 0.0f);
    }
}

// ---- confusion and metrics ----------------------------------------------------------------

TEST_CASE("confusion: NCHW and NHWC, ties, ignore_index, NaN, errors", "[metrics]")
{
    // N=2, C=3, S=3: zp[n][s] = logits of classes 0..2 at position (n, s).
    const float zp[2][3][3] = {
        { { 0.f, 1.f, 3.f },      // argmax 2
          { 1.f, 5.f, 5.f },      // tie 1 and 2 -> 1
          { 9.f, 9.f, 9.f } },    // ignored
        { { 4.f, 4.f, 4.f },      // all equal -> 0
          { NAN, 3.f, 1.f },      // NaN never greater -> argmax of {3, 1} = 1
          { NAN, NAN, NAN } },    // all NaN -> 0
    };
    const int64_t y[6] = { 2, 0, -100, 1, 1, 2 };
    float nchw[18], nhwc[18];
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 3; c++)
            for (int s = 0; s < 3; s++) {
                nchw[(n * 3 + c) * 3 + s] = zp[n][s][c];
                nhwc[(n * 3 + s) * 3 + c] = zp[n][s][c];
            }
    // (true, pred): (2,2) (0,1) (1,0) (1,1) (2,0)
    const int64_t want[9] = { 0, 1, 0, 1, 1, 0, 1, 0, 1 };
    segloss_input a = input(nchw, y, SEGLOSS_LABEL_I64, 2, 3, 3, SEGLOSS_NCHW);
    segloss_input b = input(nhwc, y, SEGLOSS_LABEL_I64, 2, 3, 3, SEGLOSS_NHWC);
    int64_t ca[9] = { 0 }, cb[9] = { 0 };
    REQUIRE(segloss_confusion(&a, -100, ca) == SEGLOSS_OK);
    REQUIRE(segloss_confusion(&b, -100, cb) == SEGLOSS_OK);
    for (int i = 0; i < 9; i++) {
        CHECK(ca[i] == want[i]);
        CHECK(cb[i] == want[i]);
    }
    REQUIRE(segloss_confusion(&a, -100, ca) == SEGLOSS_OK); // accumulates
    for (int i = 0; i < 9; i++) CHECK(ca[i] == 2 * want[i]);

    int64_t canary[9];
    for (int i = 0; i < 9; i++) canary[i] = 42;
    const int64_t bad[6] = { 2, 0, -100, 1, 3, 2 };
    a.labels = bad;
    b.labels = bad;
    CHECK(segloss_confusion(&a, -100, canary) == SEGLOSS_ERR_LABEL);
    CHECK(segloss_confusion(&b, -100, canary) == SEGLOSS_ERR_LABEL);
    a.labels = y;
    CHECK(segloss_confusion(&a, 7, canary) == SEGLOSS_ERR_LABEL); // -100 is a label error now
    a.logits = NULL;
    CHECK(segloss_confusion(&a, -100, canary) == SEGLOSS_ERR_NULL);
    b.label_type = (segloss_label_type)5;
    b.labels = y;
    CHECK(segloss_confusion(&b, -100, canary) == SEGLOSS_ERR_ENUM);
    b.label_type = SEGLOSS_TARGET_F32;
    CHECK(segloss_confusion(&b, -100, canary) == SEGLOSS_ERR_PARAM);
    for (int i = 0; i < 9; i++) CHECK(canary[i] == 42);

    SECTION("NCHW with more positions than one block, uint8 labels")
    {
        const int S = 700, C = 2;
        std::vector<float> zz((size_t)(C * S));
        std::vector<uint8_t> yy((size_t)S);
        for (int s = 0; s < S; s++) {
            zz[s] = (float)(s % 5);       // class 0
            zz[S + s] = (float)(s % 7);   // class 1
            yy[s] = (uint8_t)(s % 11 == 0 ? 255 : s % 2);
        }
        int64_t got[4] = { 0, 0, 0, 0 }, ref[4] = { 0, 0, 0, 0 };
        for (int s = 0; s < S; s++)
            if (yy[s] != 255) ref[yy[s] * 2 + (zz[S + s] > zz[s] ? 1 : 0)]++;
        segloss_input in = input(&zz[0], &yy[0], SEGLOSS_LABEL_U8, 1, C, S, SEGLOSS_NCHW);
        REQUIRE(segloss_confusion(&in, 255, got) == SEGLOSS_OK);
        for (int i = 0; i < 4; i++) CHECK(got[i] == ref[i]);
    }
}

TEST_CASE("metrics: hand-computed confusion, NaN rules", "[metrics]")
{
    // rows = true, cols = predicted
    //          p0  p1  p2  p3
    // t0       50   5   0   5
    // t1       10  20   0   0
    // t2        0   0   0   0     class 2: never present, never predicted -> all NaN
    // t3        0   0   0   0     class 3: never present, predicted 5 times -> recall NaN, IoU 0
    const int64_t conf[16] = { 50, 5, 0, 5, 10, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    segloss_class_metrics m[4];
    double miou = segloss_metrics(conf, 4, m);
    CHECK(m[0].tp == 50);
    CHECK(m[0].fn == 10);
    CHECK(m[0].fp == 10);
    CHECK(m[0].recall == Approx(50.0 / 60));
    CHECK(m[0].precision == Approx(50.0 / 60));
    CHECK(m[0].iou == Approx(50.0 / 70));
    CHECK(m[0].dice == Approx(100.0 / 120));
    CHECK(m[1].recall == Approx(20.0 / 30));
    CHECK(m[1].precision == Approx(20.0 / 25));
    CHECK(m[1].iou == Approx(20.0 / 35));
    CHECK(m[1].dice == Approx(40.0 / 55));
    CHECK(std::isnan(m[2].recall));
    CHECK(std::isnan(m[2].precision));
    CHECK(std::isnan(m[2].iou));
    CHECK(std::isnan(m[2].dice));
    CHECK(std::isnan(m[3].recall));
    CHECK(m[3].precision == 0.0);
    CHECK(m[3].iou == 0.0);
    CHECK(m[3].fp == 5);
    CHECK(miou == Approx((50.0 / 70 + 20.0 / 35 + 0.0) / 3)); // class 2 left out
    CHECK(segloss_metrics(conf, 4, NULL) == miou);
    const int64_t zero[4] = { 0, 0, 0, 0 };
    CHECK(std::isnan(segloss_metrics(zero, 2, m)));
    CHECK(std::isnan(segloss_metrics(NULL, 2, m)));
}

TEST_CASE("metrics table: the guide's rows and flags", "[metrics]")
{
    const segloss_class_metrics m[6] = { cm(0.95, 0.92, 0.88), cm(0.82, 0.79, 0.68), cm(0.91, 0.45, 0.42),
                                         cm(0.67, 0.71, 0.52), cm(0.40, 0.85, 0.37), cm(NAN, 0.0, 0.0) };
    const char *names[6] = { "bg", "er", "mito", "nuc", "golgi", NULL };
    CHECK(table(m, 6, names) == "Class    Val Recall  Val Precision  Val IoU\n"
                                "------------------------------------------------\n"
                                "bg            0.95        0.92        0.88  Good balance\n"
                                "er            0.82        0.79        0.68  Good balance\n"
                                "mito          0.91        0.45        0.42  Over-predicting (high recall, low precision)\n"
                                "nuc           0.67        0.71        0.52  Good balance\n"
                                "golgi         0.40        0.85        0.37  Under-predicting (low recall, high precision)\n"
                                "class 5        n/a        0.00        0.00\n");
    const segloss_class_metrics two[2] = { cm(0.5, 0.5, 0.3), cm(NAN, NAN, NAN) };
    CHECK(table(two, 2, NULL) == "Class    Val Recall  Val Precision  Val IoU\n"
                                 "------------------------------------------------\n"
                                 "class 0       0.50        0.50        0.30  Good balance\n"
                                 "class 1        n/a         n/a         n/a\n");
    const char *longname[1] = { "endoplasmic" }; // the name column widens
    CHECK(table(two, 1, longname) == "Class        Val Recall  Val Precision  Val IoU\n"
                                     "----------------------------------------------------\n"
                                     "endoplasmic       0.50        0.50        0.30  Good balance\n");
    char small[12];
    std::memset(small, '#', sizeof small);
    int n = segloss_metrics_format(two, 2, NULL, small, 6);
    CHECK(n == (int)table(two, 2, NULL).size());
    CHECK(std::string(small) == "Class");
    CHECK(small[6] == '#');
    CHECK(segloss_metrics_format(NULL, 2, NULL, small, sizeof small) == -1);
    CHECK(small[0] == 0);
}

// ---- the advisor: one test per rule ------------------------------------------------------

namespace {

const int64_t kImbalanced[4] = { 800, 100, 70, 30 };
const int64_t kBalanced[3] = { 100, 120, 90 };

segloss_advice advise(const int64_t *counts, const segloss_class_metrics *m, int64_t c, const segloss_config *cur,
                      int diverged = 0)
{
    segloss_advice a;
    std::memset(&a, 0x5A, sizeof a);
    segloss_advise(counts, m, c, cur, diverged, &a);
    INFO(a.reason);
    std::string r(a.reason);
    CHECK(!r.empty());
    CHECK(r.size() < 160);
    CHECK(r.find('\n') == std::string::npos);
    CHECK(a.config.class_weights == NULL);
    return a;
}

bool has(const segloss_advice &a, const char *s)
{
    return std::string(a.reason).find(s) != std::string::npos;
}

// Over-predicting class 3 (recall 0.91 vs precision 0.45), the rest balanced.
void over_metrics(segloss_class_metrics m[4])
{
    m[0] = cm(0.95, 0.92, 0.88);
    m[1] = cm(0.82, 0.79, 0.68);
    m[2] = cm(0.67, 0.71, 0.52);
    m[3] = cm(0.91, 0.45, 0.42);
}

} // namespace

TEST_CASE("advise 1: diverged keeps the loss, raises dice_smooth, says lower the learning rate", "[advise]")
{
    segloss_config cur = make(SEGLOSS_FOCAL_DICE);
    cur.ignore_index = 255;
    segloss_advice a = advise(kImbalanced, NULL, 4, &cur, 1);
    CHECK(a.config.loss_type == SEGLOSS_FOCAL_DICE);
    CHECK(a.config.dice_smooth == 10.0f);
    CHECK(a.config.ignore_index == 255);
    CHECK(has(a, "learning rate (e.g. 1e-4)"));
    CHECK(has(a, "dice_smooth"));
    cur.dice_smooth = 20.0f; // never lowered
    CHECK(advise(NULL, NULL, 0, &cur, 1).config.dice_smooth == 20.0f);
    a = advise(kImbalanced, NULL, 4, NULL, 1); // no current: the counts' choice
    CHECK(a.config.loss_type == SEGLOSS_WEIGHTED_CE);
    CHECK(a.config.dice_smooth == 10.0f);
}

TEST_CASE("advise 2: over-predicting class", "[advise]")
{
    segloss_class_metrics m[4];
    over_metrics(m);
    SECTION("from weighted_ce or nothing: focal gamma 2 with class weighting")
    {
        segloss_config cur = make(SEGLOSS_WEIGHTED_CE);
        segloss_advice a = advise(kImbalanced, m, 4, &cur);
        CHECK(a.config.loss_type == SEGLOSS_FOCAL);
        CHECK(a.config.focal_gamma == 2.0f);
        CHECK(a.config.use_class_weighting == 1);
        CHECK(has(a, "class 3 over-predicted: recall 0.91 vs precision 0.45"));
        CHECK(advise(NULL, m, 4, NULL).config.loss_type == SEGLOSS_FOCAL);
    }
    SECTION("focal not helping: gamma 2 -> 3 -> 5 -> tversky 0.7 / 0.3")
    {
        segloss_config cur = make(SEGLOSS_FOCAL);
        cur.focal_gamma = 2.0f;
        cur.use_class_weighting = 1;
        segloss_advice a = advise(kImbalanced, m, 4, &cur);
        CHECK(a.config.loss_type == SEGLOSS_FOCAL);
        CHECK(a.config.focal_gamma == 3.0f);
        CHECK(a.config.use_class_weighting == 1);
        CHECK(has(a, "raise focal_gamma to 3"));
        cur.focal_gamma = 3.0f;
        CHECK(advise(kImbalanced, m, 4, &cur).config.focal_gamma == 5.0f);
        cur.focal_gamma = 5.0f;
        a = advise(kImbalanced, m, 4, &cur);
        CHECK(a.config.loss_type == SEGLOSS_TVERSKY);
        CHECK(a.config.tversky_alpha == 0.7f);
        CHECK(a.config.tversky_beta == 0.3f);
        CHECK(has(a, "tversky alpha 0.7 beta 0.3"));
        segloss_config fd = make(SEGLOSS_FOCAL_DICE);
        a = advise(kImbalanced, m, 4, &fd);
        CHECK(a.config.loss_type == SEGLOSS_FOCAL_DICE);
        CHECK(a.config.focal_gamma == 3.0f);
    }
    SECTION("already tversky: alpha 0.7 -> 0.8, at 0.9 keep and check the labels")
    {
        segloss_config cur = make(SEGLOSS_TVERSKY);
        cur.tversky_alpha = 0.7f;
        cur.tversky_beta = 0.3f;
        segloss_advice a = advise(kImbalanced, m, 4, &cur);
        CHECK(a.config.loss_type == SEGLOSS_TVERSKY);
        CHECK(a.config.tversky_alpha == 0.8f);
        CHECK(a.config.tversky_beta == 0.2f);
        cur.tversky_alpha = 0.9f;
        cur.tversky_beta = 0.1f;
        a = advise(kImbalanced, m, 4, &cur);
        CHECK(same(a.config, cur));
        CHECK(has(a, "check label quality"));
    }
    SECTION("from dice: focal_dice")
    {
        segloss_config cur = make(SEGLOSS_DICE);
        cur.dice_smooth = 10.0f;
        segloss_advice a = advise(kImbalanced, m, 4, &cur);
        CHECK(a.config.loss_type == SEGLOSS_FOCAL_DICE);
        CHECK(a.config.dice_smooth == 10.0f);
        CHECK(a.config.use_class_weighting == 1);
    }
    SECTION("over-prediction wins over under-prediction and low IoU")
    {
        m[0] = cm(0.40, 0.99, 0.40);
        CHECK(advise(kImbalanced, m, 4, NULL).config.loss_type == SEGLOSS_FOCAL);
    }
}

TEST_CASE("advise 3: under-predicting class: tversky alpha 0.3 beta 0.7", "[advise]")
{
    segloss_class_metrics m[3] = { cm(0.95, 0.92, 0.88), cm(0.40, 0.85, 0.37), cm(0.80, 0.75, 0.6) };
    segloss_config cur = make(SEGLOSS_FOCAL);
    segloss_advice a = advise(kBalanced, m, 3, &cur);
    CHECK(a.config.loss_type == SEGLOSS_TVERSKY);
    CHECK(a.config.tversky_alpha == 0.3f);
    CHECK(a.config.tversky_beta == 0.7f);
    CHECK(has(a, "class 1 under-predicted: recall 0.40 vs precision 0.85"));
    cur = a.config;
    a = advise(kBalanced, m, 3, &cur);
    CHECK(a.config.tversky_beta == 0.8f);
    CHECK(a.config.tversky_alpha == 0.2f);
}

TEST_CASE("advise 4: balanced but low IoU: focal_dice, then more Dice weight", "[advise]")
{
    segloss_class_metrics m[3] = { cm(0.60, 0.55, 0.45), cm(0.50, 0.45, 0.30), cm(0.40, 0.45, 0.25) };
    segloss_config cur = make(SEGLOSS_FOCAL);
    cur.focal_gamma = 3.0f;
    segloss_advice a = advise(kImbalanced, m, 3, &cur);
    CHECK(a.config.loss_type == SEGLOSS_FOCAL_DICE);
    CHECK(a.config.focal_gamma == 3.0f); // carried over
    CHECK(a.config.use_class_weighting == 1);
    CHECK(has(a, "mean IoU 0.33 < 0.5"));
    cur = a.config;
    a = advise(kImbalanced, m, 3, &cur);
    CHECK(a.config.loss_type == SEGLOSS_FOCAL_DICE);
    CHECK(a.config.focal_weight == 0.3f);
    CHECK(a.config.dice_weight == 0.7f);
    cur = a.config;
    a = advise(kImbalanced, m, 3, &cur);
    CHECK(same(a.config, cur));
    CHECK(has(a, "check label quality"));
}

TEST_CASE("advise 5: balanced and mean IoU >= 0.5: keep the configuration", "[advise]")
{
    segloss_class_metrics m[4];
    over_metrics(m);
    m[3] = cm(0.60, 0.70, 0.50);
    segloss_config cur = make(SEGLOSS_FOCAL_DICE);
    cur.per_sample = 1;
    segloss_advice a = advise(kImbalanced, m, 4, &cur);
    CHECK(same(a.config, cur));
    CHECK(has(a, "keep 'focal_dice'"));
}

TEST_CASE("advise 6-8: from class counts alone", "[advise]")
{
    segloss_advice a = advise(kBalanced, NULL, 3, NULL);
    CHECK(same(a.config, make(SEGLOSS_CE)));
    CHECK(has(a, "balanced"));
    segloss_config cur = make(SEGLOSS_FOCAL);
    CHECK(advise(kBalanced, NULL, 3, &cur).config.loss_type == SEGLOSS_CE);

    a = advise(kImbalanced, NULL, 4, NULL);
    CHECK(a.config.loss_type == SEGLOSS_WEIGHTED_CE);
    CHECK(a.config.use_class_weighting == 1);
    CHECK(has(a, "26.7"));
    segloss_config ce = make(SEGLOSS_CE);
    CHECK(advise(kImbalanced, NULL, 4, &ce).config.loss_type == SEGLOSS_WEIGHTED_CE);
    a = advise(kImbalanced, NULL, 4, &cur);
    CHECK(same(a.config, cur));

    a = advise(NULL, NULL, 0, NULL);
    CHECK(same(a.config, make(SEGLOSS_CE)));
    a = advise(NULL, NULL, 4, &cur);
    CHECK(same(a.config, cur));
    segloss_advise(NULL, NULL, 0, NULL, 0, NULL); // no crash
}

// ---- the advisor on binary problems: c == 1, or a sigmoid configuration in use ----------

namespace {

segloss_config sigmoid(segloss_loss_type t)
{
    segloss_config c = make(t);
    c.activation = SEGLOSS_SIGMOID;
    return c;
}

} // namespace

TEST_CASE("advise binary: one channel is always the sigmoid", "[advise]")
{
    SECTION("nothing known: BCE")
    {
        segloss_advice a = advise(NULL, NULL, 1, NULL);
        CHECK(same(a.config, sigmoid(SEGLOSS_CE)));
        CHECK(has(a, "BCE, 'ce' with activation='sigmoid'"));
    }
    SECTION("one count gives no fraction, whatever it counts: it is not read")
    {
        const int64_t one[1] = { 500 }, none[1] = { 0 };
        segloss_advice a = advise(one, NULL, 1, NULL);
        CHECK(same(a.config, sigmoid(SEGLOSS_CE)));
        CHECK(has(a, "one count gives no foreground fraction (pass c = 2"));
        CHECK(same(advise(none, NULL, 1, NULL).config, sigmoid(SEGLOSS_CE)));
        segloss_config cur = sigmoid(SEGLOSS_FOCAL);
        a = advise(one, NULL, 1, &cur);
        CHECK(same(a.config, cur));
        CHECK(has(a, "keep sigmoid 'focal'"));
    }
    SECTION("a softmax config with one channel: constant loss, switch to the sigmoid first")
    {
        segloss_config cur = make(SEGLOSS_CE);
        cur.label_smoothing = 0.1f;
        segloss_class_metrics m[1] = { cm(0.9, 0.3, 0.3) };
        segloss_advice a = advise(NULL, m, 1, &cur);
        CHECK(same(a.config, sigmoid(SEGLOSS_CE))); // and no label smoothing
        CHECK(has(a, "under softmax"));
        CHECK(has(a, "activation='sigmoid' and keep 'ce'"));
        cur = make(SEGLOSS_DICE);
        a = advise(NULL, NULL, 1, &cur);
        CHECK(same(a.config, sigmoid(SEGLOSS_DICE)));
        a = advise(NULL, NULL, 1, &cur, 1); // diverged still comes first, with the sigmoid
        CHECK(a.config.activation == SEGLOSS_SIGMOID);
        CHECK(a.config.dice_smooth == 10.0f);
        CHECK(has(a, "loss diverged"));
    }
    SECTION("metrics of the foreground channel")
    {
        segloss_class_metrics over[1] = { cm(0.91, 0.45, 0.42) }, under[1] = { cm(0.40, 0.85, 0.37) },
                              low[1] = { cm(0.45, 0.50, 0.30) }, good[1] = { cm(0.85, 0.80, 0.70) };
        segloss_config cur = sigmoid(SEGLOSS_CE);
        segloss_advice a = advise(NULL, over, 1, &cur);
        segloss_config want = sigmoid(SEGLOSS_FOCAL); // alpha 0.25 gamma 2, alpha balances
        CHECK(same(a.config, want));
        CHECK(a.config.focal_alpha == 0.25f);
        CHECK(a.config.use_class_weighting == 0);
        cur = sigmoid(SEGLOSS_FOCAL);
        cur.focal_alpha = 0.5f;
        a = advise(NULL, over, 1, &cur); // raise gamma, keep its alpha
        CHECK(a.config.focal_gamma == 3.0f);
        CHECK(a.config.focal_alpha == 0.5f);
        CHECK(a.config.activation == SEGLOSS_SIGMOID);
        a = advise(NULL, under, 1, NULL);
        CHECK(a.config.loss_type == SEGLOSS_TVERSKY);
        CHECK(a.config.tversky_beta == 0.7f);
        CHECK(a.config.activation == SEGLOSS_SIGMOID);
        a = advise(NULL, low, 1, NULL);
        CHECK(a.config.loss_type == SEGLOSS_FOCAL_DICE);
        CHECK(a.config.activation == SEGLOSS_SIGMOID);
        CHECK(a.config.focal_alpha == 0.25f);
        CHECK(a.config.use_class_weighting == 0);
        cur = sigmoid(SEGLOSS_GENERALIZED_DICE);
        a = advise(NULL, good, 1, &cur);
        CHECK(same(a.config, cur));
        CHECK(has(a, "keep 'generalized_dice'"));
    }
}

TEST_CASE("advise binary: the foreground fraction from counts", "[advise]")
{
    const int64_t balanced[2] = { 600, 400 }, rare[2] = { 950, 50 }, tiny[2] = { 9980, 20 },
                  only_bg[2] = { 1000, 0 };
    segloss_config ce = sigmoid(SEGLOSS_CE);
    SECTION("balanced: BCE")
    {
        segloss_advice a = advise(balanced, NULL, 2, &ce);
        CHECK(same(a.config, ce));
        CHECK(has(a, "rarest side 40.0% of positions"));
        segloss_config dice = sigmoid(SEGLOSS_DICE);
        CHECK(same(advise(balanced, NULL, 2, &dice).config, ce));
        a = advise(only_bg, NULL, 2, &ce);
        CHECK(same(a.config, ce));
        CHECK(has(a, "only one class"));
    }
    SECTION("rare: weighted_ce (automatic pos_weight) or sigmoid focal; another loss is kept")
    {
        segloss_advice a = advise(rare, NULL, 2, &ce);
        CHECK(same(a.config, sigmoid(SEGLOSS_WEIGHTED_CE)));
        CHECK(a.config.use_class_weighting == 1);
        CHECK(has(a, "rare foreground (5.0% of positions)"));
        CHECK(has(a, "automatic pos_weight 19.0"));
        CHECK(has(a, "sigmoid 'focal' (alpha 0.25, gamma 2)"));
        segloss_config focal = sigmoid(SEGLOSS_FOCAL);
        focal.focal_alpha = -1.0f;
        a = advise(rare, NULL, 2, &focal);
        CHECK(same(a.config, focal));
        CHECK(has(a, "keep sigmoid 'focal'"));
        // the same counts with no sigmoid in use are a two-class softmax problem, as before
        a = advise(rare, NULL, 2, NULL);
        CHECK(a.config.loss_type == SEGLOSS_WEIGHTED_CE);
        CHECK(a.config.activation == SEGLOSS_SOFTMAX);
        CHECK(has(a, "largest/smallest frequency 19.0"));
    }
    SECTION("tiny (< 1%): focal_dice with the sigmoid; a Dice-family loss is kept")
    {
        segloss_advice a = advise(tiny, NULL, 2, &ce);
        segloss_config want = sigmoid(SEGLOSS_FOCAL_DICE);
        CHECK(same(a.config, want));
        CHECK(has(a, "tiny foreground (0.20% of positions)"));
        const segloss_loss_type keep[4] = { SEGLOSS_DICE, SEGLOSS_FOCAL_DICE, SEGLOSS_TVERSKY,
                                            SEGLOSS_GENERALIZED_DICE };
        for (int i = 0; i < 4; i++) {
            segloss_config cur = sigmoid(keep[i]);
            cur.dice_smooth = 1e-5f;
            a = advise(tiny, NULL, 2, &cur);
            CHECK(same(a.config, cur));
            CHECK(has(a, "keep sigmoid"));
        }
        segloss_config w = sigmoid(SEGLOSS_WEIGHTED_CE); // from a CE loss: focal_dice, ignore_index carried
        w.ignore_index = 255;
        a = advise(tiny, NULL, 2, &w);
        CHECK(a.config.loss_type == SEGLOSS_FOCAL_DICE);
        CHECK(a.config.ignore_index == 255);
        CHECK(a.config.use_class_weighting == 0);
    }
    SECTION("multi-label channels: the rarest side of any channel")
    {
        segloss_advice a = advise(kImbalanced, NULL, 4, &ce); // 80/10/7/3 %: the 3 % channel
        CHECK(a.config.loss_type == SEGLOSS_WEIGHTED_CE);
        CHECK(a.config.activation == SEGLOSS_SIGMOID);
        CHECK(has(a, "3.0% of positions"));
        const int64_t mostly_fg[3] = { 5, 990, 5 }; // channel 1's negatives are the rare side
        a = advise(mostly_fg, NULL, 3, &ce);
        CHECK(has(a, "tiny foreground (0.50% of positions)"));
    }
    SECTION("pos_weight and class_weights never travel in the advice")
    {
        const float pw[2] = { 2.0f, 3.0f };
        segloss_config cur = sigmoid(SEGLOSS_CE);
        cur.pos_weight = pw;
        cur.class_weights = pw;
        segloss_advice a = advise(balanced, NULL, 2, &cur);
        CHECK(a.config.pos_weight == NULL);
        CHECK(a.config.class_weights == NULL);
    }
}

TEST_CASE("advise: never a softmax config for one channel, reasons fit", "[advise]")
{
    const int64_t counts[2][2] = { { 1, 999999 }, { 5, 5 } };
    // (one more than k reaches: with c = 2 the advisor reads m[0] and m[1])
    segloss_class_metrics ms[5] = { cm(0.9, 0.3, 0.3), cm(0.3, 0.9, 0.3), cm(0.4, 0.45, 0.3), cm(0.8, 0.8, 0.7),
                                    cm(0.5, 0.5, 0.4) };
    for (int t = -1; t < SEGLOSS_LOSS_COUNT; t++)
        for (int act = 0; act < 2; act++)
            for (int k = 0; k < 5; k++)
                for (int div = 0; div < 2; div++)
                    for (int ci = 0; ci < 2; ci++) {
                        segloss_config cur = make(t < 0 ? SEGLOSS_CE : (segloss_loss_type)t);
                        cur.activation = act ? SEGLOSS_SIGMOID : SEGLOSS_SOFTMAX;
                        const segloss_class_metrics *m = k < 4 ? &ms[k] : NULL;
                        segloss_advice a = advise(ci ? counts[0] : NULL, m, 1, t < 0 ? NULL : &cur, div);
                        CHECK(a.config.activation == SEGLOSS_SIGMOID);
                        CHECK(a.config.label_smoothing == 0.0f);
                        char err[128];
                        std::string s = format(a.config, NULL, 0);
                        segloss_config back;
                        CHECK(segloss_config_parse(s.c_str(), &back, err, sizeof err) == SEGLOSS_OK);
                        // the binary count rules with c = 2 too
                        a = advise(counts[ci], m, 2, &cur, div);
                        CHECK(a.config.activation == cur.activation);
                    }
    segloss_config odd = make(SEGLOSS_FOCAL);
    odd.activation = (segloss_activation)7; // not an activation: read as softmax, and the advice is valid
    CHECK(advise(kImbalanced, NULL, 4, &odd).config.activation == SEGLOSS_SOFTMAX);
}
