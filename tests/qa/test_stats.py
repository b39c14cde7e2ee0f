"""apps.qa.stats against published worked examples, and the properties pages rely on."""

from __future__ import annotations

import math

import pytest

from apps.qa import stats

# Cohen (1960) as in most textbooks (Wikipedia, "Cohen's kappa", first example): 50 proposals,
# two readers: yes/yes 20, yes/no 5, no/yes 10, no/no 15. po = 0.70, pe = 0.50, kappa = 0.40.
COHEN_A = ["yes"] * 25 + ["no"] * 25
COHEN_B = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15

# Fleiss (1971) as worked on Wikipedia ("Fleiss' kappa"): 10 subjects, 14 raters, 5 categories.
FLEISS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: four observers,
# twelve units, missing answers; nominal alpha = 0.743, interval 0.849, ratio 0.797.
_: None = None
KRIPPENDORFF = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
    [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _],
]


def test_cohen_kappa_reproduces_the_textbook_two_rater_table():
    assert stats.percent_agreement(COHEN_A, COHEN_B) == pytest.approx(0.70)
    assert stats.cohen_kappa(COHEN_A, COHEN_B) == pytest.approx(0.40)


def test_cohen_kappa_is_one_for_perfect_agreement_and_below_zero_for_systematic_disagreement():
    assert stats.cohen_kappa(["a", "b", "a"], ["a", "b", "a"]) == pytest.approx(1.0)
    assert stats.cohen_kappa(["a", "b", "a", "b"], ["b", "a", "b", "a"]) == pytest.approx(-1.0)


def test_cohen_kappa_is_undefined_when_both_raters_used_one_label_throughout():
    assert math.isnan(stats.cohen_kappa(["MET"] * 5, ["MET"] * 5))


def test_cohen_kappa_refuses_raters_of_different_lengths():
    with pytest.raises(ValueError):
        stats.cohen_kappa(["a"], ["a", "b"])


def test_fleiss_kappa_reproduces_the_ten_subjects_fourteen_raters_example():
    assert stats.fleiss_kappa(FLEISS) == pytest.approx(0.210, abs=0.0005)


def test_fleiss_kappa_refuses_subjects_with_different_numbers_of_raters():
    with pytest.raises(ValueError):
        stats.fleiss_kappa([[2, 0], [1, 2]])


def test_fleiss_kappa_of_two_raters_equals_scotts_pi_on_a_clear_case():
    # Two raters agree on 3 of 4 binary items; Fleiss' kappa with two raters is Scott's pi:
    # po = 0.75, category shares 5/8 and 3/8, pe = 0.53125, pi = 0.4667.
    counts = [[2, 0], [0, 2], [2, 0], [1, 1]]
    assert stats.fleiss_kappa(counts) == pytest.approx((0.75 - 0.53125) / (1 - 0.53125))


@pytest.mark.parametrize(
    ("level", "expected"), [("nominal", 0.743), ("interval", 0.849), ("ratio", 0.797)]
)
def test_krippendorff_alpha_reproduces_the_reliability_data_example(level, expected):
    assert stats.krippendorff_alpha(KRIPPENDORFF, level=level) == pytest.approx(expected, abs=5e-4)


def test_krippendorff_alpha_takes_labels_and_missing_answers():
    coded = [[{1: "MET", 2: "NOT_MET", 3: "NA", 4: "X", 5: "Y"}.get(v) for v in row]
             for row in KRIPPENDORFF]  # fmt: skip
    assert stats.krippendorff_alpha(coded) == pytest.approx(0.743, abs=5e-4)


def test_krippendorff_alpha_is_undefined_with_one_value_only():
    assert math.isnan(stats.krippendorff_alpha([["MET", "MET"], ["MET", None]]))


def test_wilson_interval_matches_newcombes_reference_values():
    # Newcombe (1998), Statistics in Medicine 17:857-872, table II: 81/263 -> 0.2553 to 0.3662,
    # 15/148 -> 0.0624 to 0.1605, 0/20 -> 0 to 0.1611.
    assert stats.wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert stats.wilson_interval(15, 148) == pytest.approx((0.0624, 0.1605), abs=1e-4)
    assert stats.wilson_interval(0, 20) == pytest.approx((0.0, 0.1611), abs=1e-4)


def test_wilson_interval_widens_with_confidence_and_is_nan_without_data():
    narrow = stats.wilson_interval(8, 10, confidence=0.80)
    wide = stats.wilson_interval(8, 10, confidence=0.99)
    assert wide[0] < narrow[0] and wide[1] > narrow[1]
    assert all(math.isnan(v) for v in stats.wilson_interval(0, 0))


def test_bootstrap_interval_of_a_mean_covers_it_and_is_repeatable():
    values = [float(v) for v in range(1, 41)]
    low, high = stats.bootstrap_interval(values, lambda xs: sum(xs) / len(xs))
    assert low < 20.5 < high
    assert high - low == pytest.approx(2 * 1.96 * (11.54 / math.sqrt(40)), rel=0.15)
    assert stats.bootstrap_interval(values, lambda xs: sum(xs) / len(xs)) == (low, high)
    assert stats.bootstrap_interval(values, lambda xs: sum(xs) / len(xs), seed=1) != (low, high)


def test_bootstrap_interval_skips_resamples_where_the_statistic_is_undefined():
    pairs = [("MET", "MET")] * 19 + [("NOT_MET", "NOT_MET")]
    low, high = stats.bootstrap_interval(
        pairs, lambda ps: stats.cohen_kappa([a for a, _ in ps], [b for _, b in ps])
    )
    assert (low, high) == (1.0, 1.0)


def test_pair_agreement_reports_kappa_with_an_interval_and_percent_agreement():
    pairs = list(zip(COHEN_A, COHEN_B, strict=True))
    result = stats.pair_agreement(pairs)
    assert result.n == 50 and not result.few
    assert result.agreement == pytest.approx(0.70)
    assert result.kappa == pytest.approx(0.40)
    assert result.low < 0.40 < result.high
    # The multinomial bootstrap agrees with resampling pairs one by one.
    slow = stats.bootstrap_interval(
        pairs, lambda ps: stats.cohen_kappa([a for a, _ in ps], [b for _, b in ps])
    )
    assert result.low == pytest.approx(slow[0], abs=0.05)
    assert result.high == pytest.approx(slow[1], abs=0.05)


def test_pair_agreement_warns_below_twenty_pairs_and_handles_no_pairs():
    assert stats.pair_agreement([("MET", "MET")] * 19).few
    assert not stats.pair_agreement([("MET", "MET")] * 20).few
    empty = stats.pair_agreement([])
    assert (empty.n, empty.kappa, empty.agreement, empty.few) == (0, None, None, True)


def test_pair_agreement_gives_no_kappa_when_everyone_always_said_the_same():
    result = stats.pair_agreement([("MET", "MET")] * 30)
    assert result.agreement == 1.0 and result.kappa is None


def test_confusion_counts_each_pair_of_labels():
    assert stats.confusion([("MET", "MET"), ("MET", "NOT_MET"), ("MET", "MET")]) == {
        ("MET", "MET"): 2,
        ("MET", "NOT_MET"): 1,
    }


def test_mean_interval_uses_students_t():
    # Five values 1..5: mean 3, sd 1.5811, t(0.975, 4) = 2.776 -> 3 +/- 1.963.
    assert stats.mean_interval([1, 2, 3, 4, 5]) == pytest.approx((1.037, 4.963), abs=2e-3)
    assert all(math.isnan(v) for v in stats.mean_interval([7.0]))


@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [(0.975, 1, 12.7062), (0.975, 2, 4.3027), (0.975, 3, 3.1824), (0.975, 4, 2.7764),
     (0.975, 5, 2.5706), (0.975, 10, 2.2281), (0.975, 30, 2.0423), (0.995, 5, 4.0321),
     (0.95, 7, 1.8946), (0.025, 9, -2.2622)],
)  # fmt: skip
def test_t_quantile_matches_the_tables(p, df, expected):
    assert stats.t_quantile(p, df) == pytest.approx(expected, abs=1e-4)


def test_t_cdf_is_the_distribution_function():
    assert stats.t_cdf(0, 5) == pytest.approx(0.5)
    assert stats.t_cdf(2.5706, 5) == pytest.approx(0.975, abs=1e-5)
    assert stats.t_cdf(-2.5706, 5) == pytest.approx(0.025, abs=1e-5)
    assert stats.t_cdf(1.0, 1) == pytest.approx(0.75)


def test_reviews_needed_for_a_mean_and_a_rate():
    # z = 1.96, sd 15 points, +/- 5 points -> (1.96 * 15 / 5)^2 = 34.6 -> 35.
    assert stats.reviews_needed(5, 15) == 35
    assert stats.reviews_needed(50, 1) == 2
    # +/- 10 points at p = 0.5 -> 1.96^2 * 0.25 / 0.01 = 96.04 -> 97.
    assert stats.reviews_needed_rate(0.10) == 97
    with pytest.raises(ValueError):
        stats.reviews_needed(0, 15)


def test_rate_difference_interval_matches_newcombes_worked_example():
    # Newcombe (1998b), Statistics in Medicine 17:873-890, table II example (a): 56/70 vs
    # 48/80, difference 0.2000, method 10 interval 0.0524 to 0.3339.
    difference, low, high = stats.rate_difference_interval((48, 80), (56, 70))
    assert difference == pytest.approx(0.2)
    assert (low, high) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    # Example (b): 9/10 vs 3/10: 0.6000, 0.1705 to 0.8090.
    assert stats.rate_difference_interval((3, 10), (9, 10))[1:] == pytest.approx(
        (0.1705, 0.8090), abs=1e-4
    )
    assert all(math.isnan(v) for v in stats.rate_difference_interval((0, 0), (1, 2)))


def test_mean_difference_interval_is_welchs_from_sums():
    before = [70.0, 75.0, 80.0, 72.0, 78.0]
    after = [80.0, 85.0, 90.0, 84.0]

    def sums(xs):
        return len(xs), sum(xs), sum(x * x for x in xs)

    difference, low, high = stats.mean_difference_interval(sums(before), sums(after))
    # By hand: means 75 and 84.75, variances 17 and 16.9167, se^2 = 3.4 + 4.2292 = 7.6292,
    # Welch df = 7.6292^2 / (3.4^2/4 + 4.2292^2/3) = 6.63 -> 6, t(0.975, 6) = 2.4469.
    assert difference == pytest.approx(9.75)
    assert (low, high) == pytest.approx((9.75 - 2.4469 * 2.7621, 9.75 + 2.4469 * 2.7621), abs=1e-3)
    assert all(math.isnan(v) for v in stats.mean_difference_interval((1, 5.0, 25.0), sums(after)))


@pytest.mark.parametrize("p", [0.6, 0.9, 0.95, 0.975, 0.995, 0.9995])
def test_t_quantile_for_many_degrees_of_freedom_matches_the_exact_distribution(p):
    """Above T_SERIES_MAX_DF the quantile is an expansion, not bisection on the exact
    distribution function: both agree where they meet, and the expansion is what the exact
    function inverts to."""
    df = stats.T_SERIES_MAX_DF + 1
    expanded = stats.t_quantile(p, df)
    assert stats.t_cdf(expanded, df) == pytest.approx(p, abs=1e-10)
    assert stats.t_quantile(p, stats.T_SERIES_MAX_DF) > expanded  # fewer df: wider
    assert stats.t_quantile(1 - p, df) == -expanded


def test_t_quantile_of_a_huge_sample_is_quick_and_near_the_normal():
    assert stats.t_quantile(0.975, 1_000_000) == pytest.approx(1.959966, abs=1e-6)
