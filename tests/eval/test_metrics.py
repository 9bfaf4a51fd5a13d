"""Every metric on small hand-made cases with known answers."""

import pytest

from eval import metrics as m


class TestAnswerMetrics:
    def test_normalisation_and_em(self):
        assert m.normalize_answer("The  Rome-Statute!") == "romestatute"
        assert m.exact_match("the 123 countries.", ["123 countries"]) == 1.0
        assert m.exact_match("", ["123"]) == 0.0
        assert m.exact_match("anything", []) == 0.0

    def test_token_f1(self):
        assert m.token_f1("Sadyr Japarov", ["Sadyr Japarov"]) == 1.0
        assert m.token_f1("Japarov", ["Sadyr Japarov"]) == pytest.approx(2 / 3)
        assert m.token_f1("", ["x"]) == 0.0
        assert m.token_f1("x b", ["zzz", "b c"]) == pytest.approx(0.5)
        assert m.token_f1("a b", ["b c"]) == pytest.approx(2 / 3)  # "a" is an article: dropped

    def test_contains_unicode(self):
        assert m.contains("Il a dit « très » bien", ["très bien"]) == 0.0
        assert m.contains("Il a dit très bien.", ["très bien"]) == 1.0
        assert m.contains("Putin met Japarov", [""]) == 0.0


class TestSpanMetrics:
    gold = [("a", 100, 150), ("a", 300, 340)]

    def test_retrieval(self):
        retrieved = [("b", 0, 500), ("a", 250, 400), ("a", 90, 160)]
        s = m.retrieval_scores(retrieved, self.gold, k=3)
        assert s == {"hit_at_1": 0.0, "hit_at_k": 1.0, "recall_at_k": 1.0, "mrr": 0.5}
        s = m.retrieval_scores(retrieved, self.gold, k=2)
        assert s["recall_at_k"] == 0.5
        assert m.retrieval_scores([], self.gold, k=3)["mrr"] == 0.0

    def test_partial_cover_does_not_count(self):
        s = m.retrieval_scores([("a", 120, 400)], self.gold, k=1)
        assert s["recall_at_k"] == 0.5  # covers the second span only

    def test_citations_overlap(self):
        cites = [("a", 95, 155), ("a", 149, 200), ("b", 100, 150)]
        s = m.citation_scores(cites, self.gold)
        # Only the first overlaps a gold span by half of the shorter span.
        assert s["citation_precision"] == pytest.approx(1 / 3)
        assert s["citation_recall"] == 0.5
        assert s["citation_hit"] == 1.0

    def test_no_citations(self):
        s = m.citation_scores([], self.gold)
        assert s["citation_precision"] is None and s["citation_recall"] == 0.0


class TestAbstention:
    def test_scores(self):
        abstained = [True, False, True, True]
        answerable = [False, False, True, False]
        s = m.abstention_scores(abstained, answerable)
        assert s["abstain_correct"] == pytest.approx(2 / 3)
        assert s["abstain_wrong"] == 1.0
        assert s["abstention_precision"] == pytest.approx(2 / 3)
        assert s["abstention_f1"] == pytest.approx(2 / 3)

    def test_empty_groups_are_zero_not_nan(self):
        s = m.abstention_scores([], [])
        assert s == {
            "abstain_correct": 0.0,
            "abstain_wrong": 0.0,
            "abstention_precision": 0.0,
            "abstention_recall": 0.0,
            "abstention_f1": 0.0,
        }

    def test_percentile_and_mean(self):
        assert m.percentile([3, 1, 2, 4], 50) == 2
        assert m.percentile([3, 1, 2, 4], 95) == 4
        assert m.percentile([], 95) == 0.0
        assert m.mean([None, 1.0, 0.0]) == 0.5
        assert m.mean([]) == 0.0


class TestTokenRecall:
    def test_fair_to_paraphrase_and_number_forms(self):
        from eval.metrics import contains, token_recall

        assert contains("children younger than 5", ["children under 5"]) == 0.0
        assert token_recall("children younger than 5", ["children under 5"]) == 2 / 3
        assert token_recall("five cities", ["5 city"]) == 1.0
        assert token_recall("the 4,100-seat Meridian Theatre", ["4,100"]) == 1.0
        assert token_recall("", ["anything"]) == 0.0
        assert token_recall("Japarov met him", ["Sadyr Japarov", "Japarov"]) == 1.0
        assert token_recall("between August 9 and August 24", ["Aug. 9 and Aug. 24"]) == 1.0
