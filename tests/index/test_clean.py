from index.clean import clean_text, normalize
from tests.conftest import SAMPLE

BOILERPLATE = [
    "Other Topics of Interest",
    "IOC Admits 15 Russian",
    "The International Olympic Committee designated",
    "To suggest a correction",
    "highlight the text and press Ctrl + Enter",
]


class TestClean:
    def test_sample_boilerplate_removed_article_kept(self):
        raw = SAMPLE.read_text(encoding="utf-8")
        result = clean_text(raw)
        for line in BOILERPLATE:
            assert line not in result.text
        # Real article text, including section heads and the last paragraph, survives whole.
        for kept in [
            "- 'Political show' -",
            "Pashinyan has criticised Moscow for not intervening",
            "have warned their people not to fight in Ukraine alongside Moscow's forces.",
            "Vladimir Putin arrived in Kyrgyzstan Thursday",
        ]:
            assert kept in result.text
        assert len(result.removed) == 6

    def test_every_kept_line_is_from_the_raw_text(self):
        raw = SAMPLE.read_text(encoding="utf-8")
        for line in clean_text(raw).text.split("\n"):
            assert line in raw

    def test_paragraphs_separated_by_one_blank_line(self):
        text = clean_text("First para.\n\n\n\nSecond para.\n").text
        assert text == "First para.\n\nSecond para."

    def test_windows_line_endings_bom_and_controls(self):
        assert normalize("\ufeffa\r\nb\rc\x00d\x07") == "a\nb\ncd"

    def test_generic_footers(self):
        raw = "Real sentence here.\n\nShare this article\nFollow us on Twitter\nAdvertisement\n"
        assert clean_text(raw).text == "Real sentence here."

    def test_repeated_sentences_are_not_promo(self):
        raw = "Moscow rejects the allegations.\n\nMore text.\n\nMoscow rejects the allegations."
        assert clean_text(raw).text.count("Moscow rejects the allegations.") == 2
